//! A fuzzing harness for the unit tests, on stable Rust: seeded random
//! inputs, one fresh generator per round so any failure replays alone.
//!
//! `cargo test` runs each target for a short smoke. Longer runs:
//! `TEND_FUZZ_SECS=600 cargo test --release fuzz_ -- --nocapture` (the
//! count of executions is printed). A failing round prints its seed;
//! `TEND_FUZZ_SEED=S TEND_FUZZ_ROUNDS=1` replays it.

use std::time::{Duration, Instant};

/// xorshift64*: fast, and good enough to pick mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // splitmix64 of the seed: neighbouring seeds give unrelated streams.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T: ?Sized>(&mut self, from: &[&'a T]) -> &'a T {
        from[self.below(from.len())]
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Prints how to replay the round in flight when it panics.
struct Replay<'a> {
    name: &'a str,
    seed: u64,
}

impl Drop for Replay<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "fuzz {}: failed; replay with TEND_FUZZ_SEED={} TEND_FUZZ_ROUNDS=1",
                self.name, self.seed
            );
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// Runs `one` on fresh generators: `smoke` rounds, or TEND_FUZZ_ROUNDS, or
/// for TEND_FUZZ_SECS seconds. Fails when one input takes over `slow`.
pub fn run(name: &str, smoke: u64, slow: Duration, mut one: impl FnMut(&mut Rng)) {
    let secs = env_u64("TEND_FUZZ_SECS");
    let rounds =
        env_u64("TEND_FUZZ_ROUNDS").unwrap_or(if secs.is_some() { u64::MAX } else { smoke });
    let base = env_u64("TEND_FUZZ_SEED").unwrap_or(if secs.is_some() {
        // Long runs explore; smokes repeat the same inputs every time.
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    } else {
        1
    });
    let started = Instant::now();
    let until = secs.map(|s| started + Duration::from_secs(s));
    let (mut done, mut slowest) = (0u64, Duration::ZERO);
    while done < rounds && until.is_none_or(|t| Instant::now() < t) {
        let seed = base.wrapping_add(done);
        let replay = Replay { name, seed };
        let at = Instant::now();
        one(&mut Rng::new(seed));
        let took = at.elapsed();
        assert!(took < slow, "fuzz {name}: one input took {took:?}");
        slowest = slowest.max(took);
        drop(replay);
        done += 1;
    }
    println!(
        "fuzz {name}: {done} executions in {:.1} s, slowest input {:.2} ms, seeds {base}..{}",
        started.elapsed().as_secs_f64(),
        slowest.as_secs_f64() * 1e3,
        base.wrapping_add(done),
    );
}

/// Fuzz targets for the small parsers every bad input goes through: units
/// (durations, sizes, signals), the command line, /proc/PID/stat,
/// sd_notify messages and HTTP status lines.
#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::time::Duration;

    use super::*;
    use crate::{cli, cron, notify, probe, procfs, tz, units};

    /// Random text from pieces that matter to these parsers.
    fn text(rng: &mut Rng, pieces: &[&str]) -> String {
        let mut s = String::new();
        for _ in 0..rng.below(6) {
            match rng.below(4) {
                0 => s.push(char::from(b' ' + rng.below(95) as u8)),
                1 => s.push_str(rng.pick(&["é", "\0", "\n", "\r", ")", "(", "\u{7f}"])),
                _ => s.push_str(rng.pick(pieces)),
            }
        }
        s
    }

    #[test]
    fn fuzz_units() {
        let pieces = [
            "1",
            "0",
            "99999999999999999999",
            "ms",
            "s",
            "m",
            "h",
            "K",
            "M",
            "G",
            "T",
            "B",
            "KiB",
            ".",
            "-",
            "+",
            "SIG",
            "RTMIN",
            "RTMAX",
            "TERM",
            "sig",
            "64",
            "1e3",
        ];
        run("units", 20_000, Duration::from_secs(1), |rng| {
            let t = text(rng, &pieces);
            match units::parse_duration(&t) {
                Ok(d) => assert_eq!(units::parse_duration(&units::format_duration(d)), Ok(d)),
                Err(e) => assert!(e.contains(&format!("{t:?}")), "{e}"),
            }
            if let Err(e) = units::parse_size(&t) {
                assert!(!e.is_empty());
            }
            match units::parse_signal(&t) {
                Ok(n) => assert_eq!(units::parse_signal(&units::signal_name(n)), Ok(n)),
                Err(e) => assert!(e.contains(&format!("{t:?}")), "{e}"),
            }
        });
    }

    #[test]
    fn fuzz_command_line() {
        let words = [
            "-c",
            "--config",
            "--",
            "status",
            "--json",
            "--check",
            "stop",
            "start",
            "restart",
            "reload",
            "check",
            "--restart",
            "always",
            "--restart-delay",
            "3s",
            "--max-restarts",
            "-1",
            "x",
            "",
            "-",
            "--help",
            "-h",
            "--version",
            "poweroff",
            "/bin/true",
        ];
        run("command-line", 20_000, Duration::from_secs(1), |rng| {
            let args: Vec<OsString> = (0..rng.below(6))
                .map(|_| OsString::from(rng.pick(&words)))
                .collect();
            if let Err(e) = cli::parse(args) {
                assert!(!e.is_empty());
            }
        });
    }

    #[test]
    fn fuzz_proc_notify_http() {
        let stat = "42 (sh) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 12345 2000000 300 18446744073709551615";
        let pieces = [
            " ",
            "(",
            ")",
            ") (",
            "42",
            "-1",
            "18446744073709551616",
            "READY=1",
            "=",
            "\n",
            "HTTP/1.1 ",
            "200",
            "503",
            " OK",
            "\r\n",
            "x",
        ];
        run("proc-notify-http", 20_000, Duration::from_secs(1), |rng| {
            let mut line = stat.to_string();
            let at = rng.below(line.len() + 1);
            line.insert_str(at, &text(rng, &pieces));
            if rng.chance(2) {
                let cut = rng.below(line.len() + 1);
                let cut = (0..=cut).rev().find(|&i| line.is_char_boundary(i));
                line.truncate(cut.unwrap_or(0));
            }
            let _ = procfs::parse_stat(&line);
            let msg = text(rng, &pieces);
            for (k, _) in notify::parse(&msg) {
                assert!(!k.contains('\n'));
            }
            let _ = probe::http_verdict(msg.as_bytes());
        });
    }

    #[test]
    fn fuzz_cron_and_tz() {
        let fields = [
            "*", "*/15", "1-30/5", "5/15", "0", "7", "59", "60", "31", "2", "mon-fri", "SUN",
            "jan,Dec", "5-1", "*/0", "1,,2", "-", "/", ",", "feb", "29", "30", "@daily",
        ];
        let tz_pieces = [
            "CET",
            "-1",
            "CEST",
            ",M3.5.0",
            ",M10.5.0/3",
            "EST5EDT",
            "<+0530>",
            "-5:30",
            ",J60",
            ",300",
            "/-1",
            "/167",
            "M13.1.0",
            ":",
            "UTC0",
        ];
        let zones = [
            tz::Zone::utc(),
            tz::Zone::from_posix("CET-1CEST,M3.5.0,M10.5.0/3").expect("valid"),
            tz::Zone::from_posix("AEST-10AEDT,M10.1.0,M4.1.0/3").expect("valid"),
        ];
        run("cron-tz", 5_000, Duration::from_secs(1), |rng| {
            let n = if rng.chance(8) { rng.below(8) } else { 5 };
            let words: Vec<&str> = (0..n).map(|_| rng.pick(&fields)).collect();
            let expr = words.join(" ");
            let now = (rng.next() % 8_000_000_000) as i64;
            match cron::Schedule::parse(&expr) {
                Ok(s) => {
                    for zone in &zones {
                        let Some(next) = s.next_after(zone, now) else {
                            panic!("{expr}: no match after {now}")
                        };
                        assert!(next > now && next % 60 == 0, "{expr}: {next}");
                        assert!(next - now <= 146_097 * 86_400 + 86_400, "{expr}");
                    }
                }
                Err(e) => assert!(e.offset <= expr.len() && !e.message.is_empty()),
            }
            let posix = text(rng, &tz_pieces);
            if let Ok(zone) = tz::Zone::from_posix(&posix) {
                let off = zone.offset_at(now);
                assert!(off.abs() <= 2 * 168 * 3600, "{posix}: {off}");
            }
        });
    }
}
