//! Restart policy as pure functions of times and counts: whether an ended
//! run restarts, after which delay, and when a crash loop must give up.

use std::time::Duration;

use crate::reaper::Status;

/// When an app is started again after it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    Always,
    OnFailure,
    Never,
}

impl Restart {
    const ALL: [Restart; 3] = [Restart::Always, Restart::OnFailure, Restart::Never];

    /// The spelling shared by `--restart`, `restart = ...` and describe.
    pub fn name(self) -> &'static str {
        match self {
            Restart::Always => "always",
            Restart::OnFailure => "on-failure",
            Restart::Never => "never",
        }
    }

    /// Parses `name`'s spelling.
    pub fn parse(text: &str) -> Result<Self, String> {
        match Restart::ALL.into_iter().find(|r| r.name() == text) {
            Some(r) => Ok(r),
            None => Err(format!(
                "invalid restart policy {text:?}: expected always, on-failure or never"
            )),
        }
    }

    /// Whether a run that ended with `status` (None: it could not even be
    /// started) is restarted. A failure is a non-zero exit, a death by a
    /// signal tend did not send to stop it, or a failed start.
    pub fn wants_restart(self, status: Option<Status>) -> bool {
        match self {
            Restart::Always => true,
            Restart::OnFailure => !status.is_some_and(Status::success),
            Restart::Never => false,
        }
    }
}

/// Restart counting (DESIGN.md "Restart counting"): a run that lasted at
/// least `min_uptime` is stable, a shorter one unstable. The count is of
/// restarts in a row after unstable runs; a stable run sets it to 0. It
/// alone gives the delay: `base` after a stable run and for the first
/// restart in a row, then doubled for each further one, up to `cap`. The
/// cap only bounds the delay: however long it is, only min_uptime decides
/// whether a run was stable (being merely started proves nothing:
/// Horust#318).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Streak {
    in_a_row: u32,
}

/// What follows a run that ended and is to be restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Restart after `delay`; `in_a_row` restarts in a row so far (0 after
    /// a stable run).
    Restart { delay: Duration, in_a_row: u32 },
    /// `max_restarts` restarts in a row were made and this run was
    /// unstable too: give up.
    Fail,
}

/// The restart knobs of one app, as `Streak` needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub base: Duration,
    pub cap: Duration,
    pub min_uptime: Duration,
    pub max_restarts: u32,
}

impl Streak {
    /// Restarts in a row after unstable runs so far.
    pub fn in_a_row(&self) -> u32 {
        self.in_a_row
    }

    /// A run of length `run` ended (`unstable`: it could not even be
    /// started, whatever its length): counts it and says what follows.
    /// After `Fail` the count stays where it was: the app is down.
    pub fn after_run(&mut self, run: Duration, unstable: bool, limits: Limits) -> Verdict {
        if !unstable && run >= limits.min_uptime {
            self.in_a_row = 0;
            return Verdict::Restart {
                delay: limits.base,
                in_a_row: 0,
            };
        }
        if self.in_a_row >= limits.max_restarts {
            return Verdict::Fail;
        }
        self.in_a_row += 1;
        Verdict::Restart {
            delay: delay(self.in_a_row, limits.base, limits.cap),
            in_a_row: self.in_a_row,
        }
    }
}

/// The delay before restart number `in_a_row` of a streak: `base` for the
/// first (and after a stable run, 0), doubled for each further one, never
/// above `cap` (nor below `base`: a cap under the first delay is refused
/// by the config, and wrapper mode raises it).
pub fn delay(in_a_row: u32, base: Duration, cap: Duration) -> Duration {
    let doublings = in_a_row.saturating_sub(1);
    let factor = 1u32.checked_shl(doublings).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(cap.max(base))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn restart_policies() {
        let cases = [
            (Restart::Always, Some(Status::Exited(0)), true),
            (Restart::Always, Some(Status::Exited(1)), true),
            (Restart::Always, None, true),
            (Restart::OnFailure, Some(Status::Exited(0)), false),
            (Restart::OnFailure, Some(Status::Exited(2)), true),
            (Restart::OnFailure, Some(Status::Signaled(9)), true),
            (Restart::OnFailure, None, true),
            (Restart::Never, Some(Status::Exited(1)), false),
            (Restart::Never, None, false),
        ];
        for (policy, status, want) in cases {
            assert_eq!(policy.wants_restart(status), want, "{policy:?} {status:?}");
        }
    }

    const LIMITS: Limits = Limits {
        base: S,
        cap: Duration::from_secs(8),
        min_uptime: Duration::from_secs(30),
        max_restarts: 10,
    };

    /// The delays of `runs` in order, or "fail" where the streak gave up.
    fn delays(limits: Limits, runs: &[(Duration, bool)]) -> Vec<String> {
        let mut streak = Streak::default();
        runs.iter()
            .map(
                |&(run, unstable)| match streak.after_run(run, unstable, limits) {
                    Verdict::Restart { delay, in_a_row } => {
                        format!("{}ms/{in_a_row}", delay.as_millis())
                    }
                    Verdict::Fail => "fail".into(),
                },
            )
            .collect()
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_only_min_uptime_resets_it() {
        let short = (Duration::from_millis(100), false);
        let got = delays(LIMITS, &[short; 6]);
        assert_eq!(
            got,
            [
                "1000ms/1", "2000ms/2", "4000ms/3", "8000ms/4", "8000ms/5", "8000ms/6"
            ]
        );
        // A run longer than the cap but under min_uptime is still unstable
        // (the old rule reset the doubling there); min_uptime exactly is
        // stable, and the next unstable run starts from base again.
        let long_but_unstable = (9 * S, false);
        let stable = (30 * S, false);
        let got = delays(
            LIMITS,
            &[short, short, long_but_unstable, stable, short, short],
        );
        assert_eq!(
            got,
            [
                "1000ms/1", "2000ms/2", "4000ms/3", "1000ms/0", "1000ms/1", "2000ms/2"
            ]
        );
        // Equal base and cap: no backoff at all; zero base stays zero.
        let flat = Limits { cap: S, ..LIMITS };
        assert_eq!(
            delays(flat, &[short; 3]),
            ["1000ms/1", "1000ms/2", "1000ms/3"]
        );
        assert_eq!(delay(5, Duration::ZERO, Duration::ZERO), Duration::ZERO);
        // Doubling never overflows, however long the streak.
        assert_eq!(delay(u32::MAX, S, 30 * S), 30 * S);
        assert_eq!(delay(40, Duration::MAX / 2, Duration::MAX), Duration::MAX);
    }

    #[test]
    fn max_restarts_in_a_row_then_fail() {
        // PM2's values: an app that dies at once runs 11 times.
        let pm2 = Limits {
            base: 3 * S,
            cap: 30 * S,
            min_uptime: 30 * S,
            max_restarts: 10,
        };
        let got = delays(pm2, &[(Duration::ZERO, false); 11]);
        assert_eq!(
            got,
            [
                "3000ms/1",
                "6000ms/2",
                "12000ms/3",
                "24000ms/4",
                "30000ms/5",
                "30000ms/6",
                "30000ms/7",
                "30000ms/8",
                "30000ms/9",
                "30000ms/10",
                "fail"
            ]
        );
        // A stable run anywhere starts the count again.
        let limits = Limits {
            max_restarts: 2,
            ..LIMITS
        };
        let (short, stable) = ((S, false), (31 * S, false));
        assert_eq!(
            delays(limits, &[short, short, stable, short, short, short]),
            [
                "1000ms/1", "2000ms/2", "1000ms/0", "1000ms/1", "2000ms/2", "fail"
            ]
        );
        // Stable runs alone never fail, even with max_restarts = 0.
        let none = Limits {
            max_restarts: 0,
            ..LIMITS
        };
        assert_eq!(delays(none, &[stable; 3]), ["1000ms/0"; 3]);
        assert_eq!(delays(none, &[short]), ["fail"]);
        // A start that failed is unstable whatever min_uptime says.
        let zero = Limits {
            min_uptime: Duration::ZERO,
            max_restarts: 1,
            ..LIMITS
        };
        assert_eq!(
            delays(
                zero,
                &[
                    (Duration::ZERO, false),
                    (Duration::ZERO, true),
                    (Duration::ZERO, true)
                ]
            ),
            ["1000ms/0", "1000ms/1", "fail"]
        );
    }
}
