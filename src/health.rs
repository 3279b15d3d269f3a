//! Health checks, the pure half: what a check is (`HealthSpec`) and what
//! the results mean (`Tracker`), with Docker's and Kubernetes' semantics.
//! The first probe runs one interval after the start; failures before the
//! first success do not count until `start_period` has passed; `retries`
//! consecutive failures make the app unhealthy.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How an app is probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A command that exits 0 when healthy.
    Exec(Vec<OsString>),
    /// A TCP connect that succeeds.
    Tcp(SocketAddr),
    /// An HTTP/1.1 GET answered with 2xx or 3xx.
    Http {
        addr: SocketAddr,
        host: String,
        path: String,
    },
}

/// One app's health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSpec {
    pub probe: Probe,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
}

/// What the checks say of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// No check has passed yet.
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    /// The name `tend status` shows.
    pub fn name(self) -> &'static str {
        match self {
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

/// The health of one run of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    pub health: Health,
    failures: u32,
    started: Instant,
    ever_passed: bool,
}

impl Tracker {
    /// A run that started at `started`.
    pub fn new(started: Instant) -> Tracker {
        Tracker {
            health: Health::Starting,
            failures: 0,
            started,
            ever_passed: false,
        }
    }

    /// Records one probe result; returns the new health when it changed.
    pub fn record(&mut self, passed: bool, now: Instant, spec: &HealthSpec) -> Option<Health> {
        let before = self.health;
        if passed {
            self.failures = 0;
            self.ever_passed = true;
            self.health = Health::Healthy;
        } else if self.ever_passed
            || now.saturating_duration_since(self.started) >= spec.start_period
        {
            self.failures += 1;
            if self.failures >= spec.retries.max(1) {
                self.health = Health::Unhealthy;
            }
        }
        (self.health != before).then_some(self.health)
    }
}

/// Parses `http://HOST:PORT/PATH` (HOST an IP address or `localhost`).
pub fn parse_http(url: &str) -> Result<(SocketAddr, String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("invalid url {url:?}: only http:// is supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let with_port = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addr = parse_addr(&with_port).map_err(|e| format!("invalid url {url:?}: {e}"))?;
    Ok((addr, authority.to_string(), path.to_string()))
}

/// Parses `IP:PORT` or `localhost:PORT`. tend is static and does no DNS.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    if let Some(port) = text.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("invalid port in {text:?}"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| {
        format!("invalid address {text:?}: expected IP:PORT such as 127.0.0.1:3000 (no DNS names but localhost)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn spec(retries: u32, start_period: Duration) -> HealthSpec {
        HealthSpec {
            probe: Probe::Tcp(parse_addr("127.0.0.1:1").unwrap()),
            interval: S,
            timeout: S,
            retries,
            start_period,
        }
    }

    #[test]
    fn consecutive_failures_make_it_unhealthy_and_a_pass_resets() {
        let t0 = Instant::now();
        let s = spec(3, Duration::ZERO);
        let mut t = Tracker::new(t0);
        assert_eq!(t.record(true, t0 + S, &s), Some(Health::Healthy));
        assert_eq!(t.record(false, t0 + 2 * S, &s), None);
        assert_eq!(t.record(false, t0 + 3 * S, &s), None);
        assert_eq!(
            t.record(true, t0 + 4 * S, &s),
            None,
            "a pass resets the count"
        );
        assert_eq!(t.record(false, t0 + 5 * S, &s), None);
        assert_eq!(t.record(false, t0 + 6 * S, &s), None);
        assert_eq!(t.record(false, t0 + 7 * S, &s), Some(Health::Unhealthy));
    }

    #[test]
    fn start_period_forgives_early_failures() {
        let t0 = Instant::now();
        let s = spec(1, 10 * S);
        let mut t = Tracker::new(t0);
        for i in 1..10 {
            assert_eq!(
                t.record(false, t0 + i * S, &s),
                None,
                "{i}s: within start_period"
            );
        }
        assert_eq!(t.health, Health::Starting);
        assert_eq!(t.record(false, t0 + 10 * S, &s), Some(Health::Unhealthy));

        // Once a check passed, the start period no longer shields failures.
        let mut t = Tracker::new(t0);
        t.record(true, t0 + S, &s);
        assert_eq!(t.record(false, t0 + 2 * S, &s), Some(Health::Unhealthy));
    }

    #[test]
    fn urls_and_addresses() {
        let (addr, host, path) = parse_http("http://127.0.0.1:3000/health?x=1").unwrap();
        assert_eq!(
            (addr.to_string().as_str(), host.as_str(), path.as_str()),
            ("127.0.0.1:3000", "127.0.0.1:3000", "/health?x=1")
        );
        let (addr, _, path) = parse_http("http://localhost").unwrap();
        assert_eq!(
            (addr.to_string().as_str(), path.as_str()),
            ("127.0.0.1:80", "/")
        );
        let (addr, _, _) = parse_http("http://[::1]:8080/").unwrap();
        assert_eq!(addr.to_string(), "[::1]:8080");
        assert!(
            parse_http("https://x/")
                .unwrap_err()
                .contains("only http://")
        );
        assert!(
            parse_http("http://example.com/")
                .unwrap_err()
                .contains("no DNS")
        );
        assert!(parse_addr("127.0.0.1").is_err());
        assert_eq!(
            parse_addr("localhost:5432").unwrap().to_string(),
            "127.0.0.1:5432"
        );
    }
}
