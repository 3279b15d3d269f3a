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
