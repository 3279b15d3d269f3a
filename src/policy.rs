//! Restart policy as pure functions of times and counts: whether an ended
//! run restarts, after which delay, and when a crash loop must give up.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::reaper::Status;

/// When an app is started again after it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    Always,
    OnFailure,
    Never,
}

impl Restart {
    /// Parses the spelling shared by `--restart` and `restart = ...`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "always" => Ok(Restart::Always),
            "on-failure" => Ok(Restart::OnFailure),
            "never" => Ok(Restart::Never),
            _ => Err(format!(
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

/// The delay before the next start. The first restart waits `base`; each
/// further one after a short run doubles it up to `cap`. A run that lasted
/// longer than `cap` proves the app can stay up, and resets the doubling
/// (being merely started proves nothing: Horust#318).
pub fn next_delay(
    previous: Option<Duration>,
    run: Duration,
    base: Duration,
    cap: Duration,
) -> Duration {
    match previous {
        Some(prev) if run <= cap => prev.saturating_mul(2).clamp(base, cap.max(base)),
        _ => base,
    }
}

/// The restarts made within the last `window`, to stop a crash loop.
#[derive(Debug, Default, Clone)]
pub struct RestartWindow {
    times: VecDeque<Instant>,
}

impl RestartWindow {
    /// Forgets restarts older than `window` and returns how many remain.
    pub fn count(&mut self, now: Instant, window: Duration) -> u32 {
        while let Some(&t) = self.times.front() {
            if now.saturating_duration_since(t) >= window {
                self.times.pop_front();
            } else {
                break;
            }
        }
        self.times.len() as u32
    }

    /// True when one more restart now would exceed `max` within `window`.
    pub fn exhausted(&mut self, now: Instant, window: Duration, max: u32) -> bool {
        self.count(now, window) >= max
    }

    /// Records a restart at `now`.
    pub fn record(&mut self, now: Instant) {
        self.times.push_back(now);
    }
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

    #[test]
    fn backoff_doubles_to_the_cap_and_resets_after_a_long_run() {
        let (base, cap) = (S, 8 * S);
        let short = Duration::from_millis(100);
        let mut delay = None;
        let mut seen = Vec::new();
        for _ in 0..6 {
            let d = next_delay(delay, short, base, cap);
            seen.push(d.as_secs());
            delay = Some(d);
        }
        assert_eq!(seen, [1, 2, 4, 8, 8, 8]);
        // A run of exactly the cap is still short; longer resets.
        assert_eq!(next_delay(delay, cap, base, cap), cap);
        assert_eq!(
            next_delay(delay, cap + Duration::from_millis(1), base, cap),
            base
        );
        // Equal base and cap: no backoff at all; zero base stays zero.
        assert_eq!(next_delay(Some(3 * S), short, 3 * S, 3 * S), 3 * S);
        assert_eq!(
            next_delay(Some(Duration::ZERO), short, Duration::ZERO, Duration::ZERO),
            Duration::ZERO
        );
    }

    #[test]
    fn restart_window_counts_only_recent_restarts() {
        let t0 = Instant::now();
        let mut w = RestartWindow::default();
        for i in 0..3 {
            assert!(!w.exhausted(t0 + i * S, 60 * S, 3));
            w.record(t0 + i * S);
        }
        assert!(
            w.exhausted(t0 + 3 * S, 60 * S, 3),
            "a 4th restart within 60s is one too many"
        );
        assert_eq!(
            w.count(t0 + 60 * S, 60 * S),
            2,
            "the first one has left the window"
        );
        assert!(!w.exhausted(t0 + 60 * S, 60 * S, 3));
        assert!(
            w.exhausted(t0, 60 * S, 0),
            "max_restarts = 0: never restart"
        );
    }
}
