//! Parsers for the value types users write by hand: durations (`500ms`,
//! `3s`, `2m`, `1h`), byte sizes (`512K`, `256M`, `1G`, powers of 1024) and
//! signal names (`SIGTERM`, `TERM`, `SIGRTMIN+3`, `15`).
//!
//! Pure functions shared by the command line and the config file, so both
//! accept exactly the same spellings and reject them with the same words.

use std::time::Duration;

/// The message for a bare integer where a duration is wanted (`3000`,
/// from PM2's milliseconds, or `3`): what to write instead. A multiple of
/// 1000 is read as milliseconds and offered both ways, a number under 100
/// as seconds, any other as milliseconds.
pub fn bare_duration(n: i128) -> String {
    let write = match n {
        ..0 => {
            return format!(
                "invalid duration {n}: a duration is a string like \"3s\", never negative"
            );
        }
        0 => "write \"0s\"".to_string(),
        _ if n % 1000 == 0 => format!("write \"{}s\" or \"{n}ms\"", n / 1000),
        1..100 => format!("write \"{n}s\""),
        _ => format!("write \"{n}ms\""),
    };
    format!("invalid duration {n}: missing unit (ms, s, m or h): {write}")
}

/// Parses `500ms`, `3s`, `2m`, `1h` (a whole number and one unit).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    if number.is_empty() {
        return Err(format!(
            "invalid duration {text:?}: expected a number and a unit, like 500ms, 3s, 2m or 1h"
        ));
    }
    let n: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: number too large"))?;
    let millis_per_unit = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "" => {
            return Err(format!(
                "invalid duration {text:?}: missing unit (ms, s, m or h), e.g. \"{n}s\""
            ));
        }
        _ => {
            return Err(format!(
                "invalid duration {text:?}: unknown unit {unit:?} (use ms, s, m or h)"
            ));
        }
    };
    n.checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("invalid duration {text:?}: too large"))
}

/// Formats a duration the way `parse_duration` reads it back, rounding down
/// to the largest unit that keeps it exact.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0s".to_string()
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1_000) {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

/// How long something has lasted, for people: `340ms`, `2.1s`, `45s`,
/// `5m3s`, `2h10m`, `3d4h`. Tenths of a second below a minute, when there
/// are any; whole units above. Run lengths in event lines and uptimes in
/// `tend status` both use it.
pub fn format_elapsed(d: Duration) -> String {
    let ms = d.as_millis();
    let s = d.as_secs();
    match ms {
        0 => "0s".to_string(),
        1..1_000 => format!("{ms}ms"),
        1_000..60_000 if (ms % 1_000) / 100 == 0 => format!("{s}s"),
        1_000..60_000 => format!("{s}.{}s", (ms % 1_000) / 100),
        60_000..3_600_000 => format!("{}m{}s", s / 60, s % 60),
        3_600_000..86_400_000 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

/// Parses `512K`, `256M`, `1G`, `2T` or a plain count of bytes with `B`;
/// `KB`/`KiB` spellings are accepted as the same powers of 1024.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    if number.is_empty() {
        return Err(format!(
            "invalid size {text:?}: expected a number and a unit, like 512K, 256M or 1G"
        ));
    }
    let n: u64 = number
        .parse()
        .map_err(|_| format!("invalid size {text:?}: number too large"))?;
    let shift = match unit.to_ascii_uppercase().as_str() {
        "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        "" => {
            return Err(format!(
                "invalid size {text:?}: missing unit (K, M or G), e.g. \"{n}M\""
            ));
        }
        _ => {
            return Err(format!(
                "invalid size {text:?}: unknown unit {unit:?} (use K, M, G or T)"
            ));
        }
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("invalid size {text:?}: too large"))
}

/// Parses a CPU limit, a percent of one core (`"50%"`, `"150%"` for 1.5
/// cores, `"12.5%"`), into microseconds of CPU per 100 ms, cpu.max's
/// quota over its default period. 1% (1 ms per 100 ms) is the least the
/// kernel takes.
pub fn parse_cpu(text: &str) -> Result<u32, String> {
    let bad = |why: &str| format!("invalid CPU limit {text:?}: {why}");
    let number = text
        .strip_suffix('%')
        .ok_or_else(|| bad("expected a percent of one core, like \"50%\" or \"150%\""))?;
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !(frac.is_empty() || digits(frac) && frac.len() <= 3) {
        return Err(bad("expected a number of percent with at most 3 decimals"));
    }
    let whole: u64 = whole.parse().map_err(|_| bad("too large"))?;
    let frac: u64 = format!("{frac:0<3}").parse().unwrap_or(0);
    let quota = whole.saturating_mul(1000).saturating_add(frac);
    match quota {
        0..1000 => Err(bad(
            "at least 1% (the kernel's least quota is 1 ms per 100 ms)",
        )),
        // A thousand cores.
        1000..=100_000_000 => Ok(quota as u32),
        _ => Err(bad("more than 100000% (1000 cores)")),
    }
}

/// A CPU limit as `parse_cpu` reads it: 50000 is `50%`.
pub fn format_cpu(quota: u32) -> String {
    match quota % 1000 {
        0 => format!("{}%", quota / 1000),
        frac => format!(
            "{}.{}%",
            quota / 1000,
            format!("{frac:03}").trim_end_matches('0')
        ),
    }
}

/// Formats bytes with the largest unit that keeps one decimal meaningful.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")];
    for (scale, unit) in UNITS {
        if bytes >= scale {
            let whole = bytes / scale;
            let tenth = (bytes % scale) * 10 / scale;
            return if tenth == 0 {
                format!("{whole}{unit}")
            } else {
                format!("{whole}.{tenth}{unit}")
            };
        }
    }
    format!("{bytes}B")
}

const SIGNAL_NAMES: [(&str, libc::c_int); 31] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// The first real-time signal as glibc programs, systemd and podman number
/// it (`SIGRTMIN+3` is 37 for all of them). The kernel's first is 32; the C
/// libraries keep a few for themselves, musl one more than glibc, so
/// `SIGRTMIN` would shift every name under musl.
pub const SIGRTMIN: libc::c_int = 34;
/// The last signal on Linux.
pub const SIGRTMAX: libc::c_int = 64;

/// Parses `SIGTERM`, `TERM`, `sigterm`, `SIGRTMIN+3`, `SIGRTMAX-1` or `15`.
pub fn parse_signal(text: &str) -> Result<libc::c_int, String> {
    let invalid = || {
        format!("invalid signal {text:?}: expected a name like SIGTERM, SIGRTMIN+3, or a number")
    };
    if let Ok(n) = text.parse::<libc::c_int>() {
        return if (1..=SIGRTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(invalid())
        };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    // `SIG32`: how signal_name spells a number with no name (found by fuzzing).
    if let Ok(n) = name.parse::<libc::c_int>()
        && name.bytes().all(|b| b.is_ascii_digit())
    {
        return if (1..=SIGRTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(invalid())
        };
    }
    if let Some(&(_, n)) = SIGNAL_NAMES.iter().find(|(known, _)| *known == name) {
        return Ok(n);
    }
    let (base, rest, sign) = if let Some(rest) = name.strip_prefix("RTMIN") {
        (SIGRTMIN, rest, 1)
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        (SIGRTMAX, rest, -1)
    } else {
        return Err(invalid());
    };
    let offset: libc::c_int = match (sign, rest) {
        (_, "") => 0,
        (1, r) => r
            .strip_prefix('+')
            .and_then(|r| r.parse().ok())
            .ok_or_else(invalid)?,
        (_, r) => r
            .strip_prefix('-')
            .and_then(|r| r.parse().ok())
            .ok_or_else(invalid)?,
    };
    let n = base + sign * offset;
    if (SIGRTMIN..=SIGRTMAX).contains(&n) {
        Ok(n)
    } else {
        Err(invalid())
    }
}

/// The conventional name of a signal: `SIGTERM`, `SIGRTMIN+3`, or `SIG64`.
pub fn signal_name(sig: libc::c_int) -> String {
    if let Some((name, _)) = SIGNAL_NAMES.iter().find(|(_, n)| *n == sig) {
        return format!("SIG{name}");
    }
    let (min, max) = (SIGRTMIN, SIGRTMAX);
    if (min..=max).contains(&sig) {
        return if sig == min {
            "SIGRTMIN".to_string()
        } else if sig == max {
            "SIGRTMAX".to_string()
        } else {
            format!("SIGRTMIN+{}", sig - min)
        };
    }
    format!("SIG{sig}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_limits_are_percents_of_one_core() {
        assert_eq!(parse_cpu("50%"), Ok(50_000));
        assert_eq!(parse_cpu("150%"), Ok(150_000));
        assert_eq!(parse_cpu("12.5%"), Ok(12_500));
        assert_eq!(parse_cpu("1%"), Ok(1_000));
        for bad in [
            "50", "0%", "0.5%", "%", "-5%", "1.2345%", "x%", "100001%", "1e3%",
        ] {
            assert!(parse_cpu(bad).is_err(), "{bad}");
        }
        assert!(parse_cpu("0.5%").unwrap_err().contains("at least 1%"));
        for q in [1_000, 12_500, 50_000, 150_000, 12_345] {
            assert_eq!(parse_cpu(&format_cpu(q)), Ok(q));
        }
        assert_eq!(format_cpu(12_500), "12.5%");
    }

    use super::*;

    #[test]
    fn a_bare_integer_duration_says_what_to_write() {
        let cases = [
            (
                3000,
                "invalid duration 3000: missing unit (ms, s, m or h): write \"3s\" or \"3000ms\"",
            ),
            (
                3,
                "invalid duration 3: missing unit (ms, s, m or h): write \"3s\"",
            ),
            (
                0,
                "invalid duration 0: missing unit (ms, s, m or h): write \"0s\"",
            ),
            (
                500,
                "invalid duration 500: missing unit (ms, s, m or h): write \"500ms\"",
            ),
            (
                1600,
                "invalid duration 1600: missing unit (ms, s, m or h): write \"1600ms\"",
            ),
            (
                -5,
                "invalid duration -5: a duration is a string like \"3s\", never negative",
            ),
        ];
        for (n, want) in cases {
            assert_eq!(bare_duration(n), want);
        }
    }

    #[test]
    fn elapsed() {
        let ms = Duration::from_millis;
        assert_eq!(format_elapsed(ms(0)), "0s");
        assert_eq!(format_elapsed(ms(340)), "340ms");
        assert_eq!(format_elapsed(ms(2_100)), "2.1s");
        assert_eq!(format_elapsed(ms(45_000)), "45s");
        assert_eq!(format_elapsed(ms(45_090)), "45s");
        assert_eq!(format_elapsed(ms(303_000)), "5m3s");
        assert_eq!(format_elapsed(ms(3_720_000)), "1h2m");
        assert_eq!(format_elapsed(ms(7_800_000)), "2h10m");
        assert_eq!(format_elapsed(ms(273_600_000)), "3d4h");
    }

    #[test]
    fn durations() {
        let ok = [
            ("0s", 0),
            ("500ms", 500),
            ("3s", 3_000),
            ("2m", 120_000),
            ("1h", 3_600_000),
        ];
        for (text, ms) in ok {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
            assert_eq!(
                parse_duration(&format_duration(Duration::from_millis(ms))),
                Ok(Duration::from_millis(ms))
            );
        }
        let bad = [
            ("", "expected a number"),
            ("3", "missing unit"),
            ("3 s", "unknown unit"),
            ("3sec", "unknown unit"),
            ("-1s", "expected a number"),
            ("1.5s", "unknown unit"),
            ("99999999999999999999s", "number too large"),
            ("9999999999999999h", "too large"),
        ];
        for (text, why) in bad {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn sizes() {
        let ok = [
            ("512K", 512 << 10),
            ("256M", 256 << 20),
            ("1G", 1 << 30),
            ("1g", 1 << 30),
            ("64MiB", 64 << 20),
            ("100B", 100),
        ];
        for (text, bytes) in ok {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for (text, why) in [
            ("256", "missing unit"),
            ("M", "expected a number"),
            ("1Q", "unknown unit"),
        ] {
            let err = parse_size(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
        assert_eq!(format_size(301 << 20), "301M");
        assert_eq!(format_size(1536), "1.5K");
        assert_eq!(format_size(12), "12B");
    }

    #[test]
    fn signals() {
        let ok = [
            ("SIGTERM", libc::SIGTERM),
            ("TERM", libc::SIGTERM),
            ("sigint", libc::SIGINT),
            ("9", libc::SIGKILL),
            ("SIGRTMIN", SIGRTMIN),
            ("SIGRTMIN+3", SIGRTMIN + 3),
            ("SIGRTMAX-1", SIGRTMAX - 1),
            ("SIGPWR", libc::SIGPWR),
            ("SIG32", 32),
            ("33", 33),
        ];
        for (text, n) in ok {
            assert_eq!(parse_signal(text), Ok(n), "{text}");
            assert_eq!(parse_signal(&signal_name(n)), Ok(n), "{text} round trip");
        }
        for bad in [
            "",
            "SIGFOO",
            "0",
            "65",
            "SIGRTMIN+99",
            "SIGRTMIN-1",
            "RTMAX+1",
            "SIG65",
            "SIG+5",
        ] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }
}
