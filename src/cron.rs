//! `cron_restart`: five-field cron expressions and the next minute that
//! matches one, in a time zone (`tz`). Pure: no clock, no files; times are
//! Unix seconds.
//!
//! The fields are minute, hour, day of month, month, day of week, each `*`
//! or a list of values and ranges, with steps (`*/15`, `1-30/5`, `5/15`
//! from 5 to the end); month names jan..dec and day names sun..sat in any
//! case; 0 and 7 are both Sunday; `@hourly`, `@daily` (`@midnight`),
//! `@weekly`, `@monthly`, `@yearly` (`@annually`) stand for their
//! expressions. As in Vixie cron, when both day fields are restricted (do
//! not begin with `*`) a day matches if either matches.
//!
//! Local time is not monotonic: a minute that a spring-forward gap skips
//! does not happen that day and is skipped; a minute that a fall-back
//! repeats fires at its first occurrence only.

use crate::tz::{self, Zone};

/// A parsed expression: each field a bit set of the values it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The expression as written, for `tend describe` and log lines.
    pub text: String,
    minutes: u64,
    hours: u64,
    /// Bits 1..=31.
    days: u64,
    /// Bits 1..=12.
    months: u64,
    /// Bits 0..=6, Sunday 0.
    weekdays: u64,
    /// The day fields begin with `*`: see the module's comment.
    days_star: bool,
    weekdays_star: bool,
}

/// A problem in an expression, with the byte offset of the field it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub offset: usize,
    pub message: String,
}

/// One field's name, range and value names.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    },
    // 7 is Sunday too, folded into 0 once parsed.
    Field {
        name: "day-of-week",
        min: 0,
        max: 7,
        names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    },
];

/// How many days ahead a match is looked for: the Gregorian calendar's
/// whole cycle of 400 years. Every expression that parses matches within
/// it (February 29 on a Sunday may be 40 years away); the common ones
/// match within a day or a year, and the scan stops at the first match.
const HORIZON_DAYS: i64 = 146_097;

impl Schedule {
    /// Parses an expression; an error names the field and the value.
    pub fn parse(text: &str) -> Result<Schedule, Error> {
        let expanded = match text.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            t if t.starts_with('@') => {
                return Err(Error {
                    offset: text.len() - text.trim_start().len(),
                    message: format!(
                        "unknown {t:?}: expected five fields or @hourly, @daily, @weekly, \
                         @monthly, @yearly"
                    ),
                });
            }
            _ => text,
        };
        // Offsets into what was written, not into a macro's expansion.
        let at = |offset: usize| match std::ptr::eq(expanded, text) {
            true => offset,
            false => 0,
        };
        let words: Vec<(usize, &str)> = expanded
            .split_ascii_whitespace()
            .map(|w| (w.as_ptr() as usize - expanded.as_ptr() as usize, w))
            .collect();
        if words.len() != 5 {
            let seconds = match words.len() {
                6 => " (tend has no seconds field)",
                _ => "",
            };
            return Err(Error {
                offset: 0,
                message: format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week), \
                     found {}{seconds}",
                    words.len()
                ),
            });
        }
        let mut sets = [0u64; 5];
        for (k, (field, &(offset, word))) in FIELDS.iter().zip(&words).enumerate() {
            sets[k] = field.parse(word).map_err(|message| Error {
                offset: at(offset),
                message: format!("{}: {message}", field.name),
            })?;
        }
        // Sunday as 7 is Sunday as 0.
        let weekdays = (sets[4] | sets[4] >> 7) & 0x7f;
        let schedule = Schedule {
            text: text.trim().to_string(),
            minutes: sets[0],
            hours: sets[1],
            days: sets[2],
            months: sets[3],
            weekdays,
            days_star: words[2].1.starts_with('*'),
            weekdays_star: words[4].1.starts_with('*'),
        };
        // "0 0 30 2 *" would never fire: say so now, not never.
        if !schedule.days_star && schedule.weekdays_star {
            let longest = (1..=12)
                .filter(|m| schedule.months & 1 << m != 0)
                .map(|m| tz::month_len(2000, m))
                .max()
                .unwrap_or(31);
            if schedule.days.trailing_zeros() > longest {
                return Err(Error {
                    offset: at(words[2].0),
                    message: format!(
                        "day-of-month: {:?} never happens in month {:?}",
                        words[2].1, words[3].1
                    ),
                });
            }
        }
        Ok(schedule)
    }

    /// Whether the day `days` (since 1970-01-01) matches.
    fn day_matches(&self, days: i64) -> bool {
        let (_, month, day) = tz::civil(days);
        if self.months & 1 << month == 0 {
            return false;
        }
        let by_date = self.days & 1 << day != 0;
        let by_weekday = self.weekdays & 1 << tz::weekday(days) != 0;
        match (self.days_star, self.weekdays_star) {
            (false, false) => by_date || by_weekday,
            _ => by_date && by_weekday,
        }
    }

    /// The next time after `now` (Unix seconds) that this schedule fires
    /// in `zone`: the start of a matching local minute, at its first
    /// occurrence when a fall-back repeats it, never in a spring-forward
    /// gap. None only when nothing matches within 400 years.
    pub fn next_after(&self, zone: &Zone, now: i64) -> Option<i64> {
        let local = now + i64::from(zone.offset_at(now));
        let today = local.div_euclid(86_400);
        let this_minute = local - local.rem_euclid(60);
        for day in today..today + HORIZON_DAYS {
            if !self.day_matches(day) {
                continue;
            }
            for hour in bits(self.hours) {
                for minute in bits(self.minutes) {
                    let wall = day * 86_400 + i64::from(hour * 3600 + minute * 60);
                    if wall < this_minute {
                        continue;
                    }
                    if let Some(t) = first_occurrence(zone, wall)
                        && t > now
                    {
                        return Some(t);
                    }
                }
            }
        }
        None
    }
}

/// The earliest Unix time whose local time in `zone` is `wall` (local
/// seconds since 1970-01-01); None in a gap.
fn first_occurrence(zone: &Zone, wall: i64) -> Option<i64> {
    // Offsets in force a day either side cover any change near `wall`
    // (offsets are within ±26 h, changes months apart).
    let near = [wall - 86_400, wall + 86_400].map(|t| zone.offset_at(t));
    let mut candidates = [near[0], near[1], 0, 0];
    candidates[2] = zone.offset_at(wall - i64::from(near[0]));
    candidates[3] = zone.offset_at(wall - i64::from(near[1]));
    candidates
        .iter()
        .map(|&offset| wall - i64::from(offset))
        .filter(|&t| t + i64::from(zone.offset_at(t)) == wall)
        .min()
}

/// The values set in `set`, ascending.
fn bits(set: u64) -> impl Iterator<Item = u32> {
    (0..64).filter(move |b| set & 1 << b != 0)
}

impl Field {
    /// A field: a comma-separated list of `*`, `N`, `N-M`, each with an
    /// optional `/STEP`.
    fn parse(&self, word: &str) -> Result<u64, String> {
        let mut set = 0;
        for item in word.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((range, step)) => match step.parse::<u32>() {
                    Ok(s) if s > 0 => (range, Some(s)),
                    _ => return Err(format!("invalid step {step:?} in {item:?}")),
                },
                None => (item, None),
            };
            let (lo, hi) = match range.split_once('-') {
                _ if range == "*" => (self.min, self.max),
                Some((lo, hi)) => {
                    let (lo, hi) = (self.value(lo, item)?, self.value(hi, item)?);
                    if lo > hi {
                        return Err(format!("range {item:?} goes backwards"));
                    }
                    (lo, hi)
                }
                // `5/15`: from 5 to the end, every 15.
                None if step.is_some() => (self.value(range, item)?, self.max),
                None => {
                    let v = self.value(range, item)?;
                    (v, v)
                }
            };
            for v in (lo..=hi).step_by(step.unwrap_or(1) as usize) {
                set |= 1 << v;
            }
        }
        Ok(set)
    }

    /// One value: a number in range, or a name.
    fn value(&self, text: &str, item: &str) -> Result<u32, String> {
        let lower = text.to_ascii_lowercase();
        if let Some(i) = self.names.iter().position(|n| *n == lower) {
            return Ok(i as u32 + if self.min == 1 { 1 } else { 0 });
        }
        let names = match self.names {
            [] => String::new(),
            n => format!(" or {}..{}", n[0], n[n.len() - 1]),
        };
        match text.parse::<u32>() {
            Ok(v) if (self.min..=self.max).contains(&v) => Ok(v),
            _ => Err(format!(
                "invalid value {text:?}{} (expected {}-{}{names})",
                match item == text {
                    true => String::new(),
                    false => format!(" in {item:?}"),
                },
                self.min,
                self.max
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tz::tests::{real, utc as at};

    fn next(expr: &str, zone: &Zone, now: i64) -> i64 {
        Schedule::parse(expr)
            .expect("valid")
            .next_after(zone, now)
            .expect("a match")
    }

    fn set(values: &[u32]) -> u64 {
        values.iter().fold(0, |s, v| s | 1 << v)
    }

    #[test]
    fn fields() {
        let s = Schedule::parse("*/15 9-17/4 1,15 JAN-mar,Dec mon-FRI").expect("valid");
        assert_eq!(s.minutes, set(&[0, 15, 30, 45]));
        assert_eq!(s.hours, set(&[9, 13, 17]));
        assert_eq!(s.days, set(&[1, 15]));
        assert_eq!(s.months, set(&[1, 2, 3, 12]));
        assert_eq!(s.weekdays, set(&[1, 2, 3, 4, 5]));
        assert!(!s.days_star && !s.weekdays_star);
        let s = Schedule::parse("5/20 0 * * 7").expect("valid");
        assert_eq!(s.minutes, set(&[5, 25, 45]));
        assert_eq!(s.weekdays, set(&[0]), "7 is Sunday");
        let s = Schedule::parse("0 0 * * 5-7").expect("valid");
        assert_eq!(s.weekdays, set(&[0, 5, 6]));
        let s = Schedule::parse("1-30/5 * */2 * *").expect("valid");
        assert_eq!(s.minutes, set(&[1, 6, 11, 16, 21, 26]));
        assert!(s.days_star, "*/2 counts as *, as in Vixie cron");
        assert_eq!(Schedule::parse("@daily").map(|s| s.minutes), Ok(set(&[0])));
        assert_eq!(
            Schedule::parse(" 0 3 * * * ").expect("valid").text,
            "0 3 * * *"
        );
    }

    #[test]
    fn errors_name_the_field_and_the_value() {
        let cases = [
            (
                "0 3 * *",
                0,
                "expected 5 fields (minute hour day-of-month month day-of-week), found 4",
            ),
            ("0 0 3 * * *", 0, "found 6 (tend has no seconds field)"),
            (
                "60 * * * *",
                0,
                "minute: invalid value \"60\" (expected 0-59)",
            ),
            (
                "0 24 * * *",
                2,
                "hour: invalid value \"24\" (expected 0-23)",
            ),
            (
                "0 0 0 * *",
                4,
                "day-of-month: invalid value \"0\" (expected 1-31)",
            ),
            (
                "0 0 * foo *",
                6,
                "month: invalid value \"foo\" (expected 1-12 or jan..dec)",
            ),
            (
                "0 0 * * mon-fry",
                8,
                "day-of-week: invalid value \"fry\" in \"mon-fry\" (expected 0-7 or sun..sat)",
            ),
            (
                "0 0 * * 5-1",
                8,
                "day-of-week: range \"5-1\" goes backwards",
            ),
            ("*/0 * * * *", 0, "minute: invalid step \"0\" in \"*/0\""),
            ("1,,2 * * * *", 0, "minute: invalid value \"\""),
            (
                "0 0 30 2 *",
                4,
                "day-of-month: \"30\" never happens in month \"2\"",
            ),
            ("@reboot", 0, "unknown \"@reboot\""),
        ];
        for (expr, offset, want) in cases {
            let e = Schedule::parse(expr).expect_err(expr);
            assert_eq!(e.offset, offset, "{expr}: {e:?}");
            assert!(e.message.contains(want), "{expr}: {}", e.message);
        }
        // Both day fields restricted: Feb 30 never, but Mondays do.
        assert!(Schedule::parse("0 0 30 2 mon").is_ok());
    }

    #[test]
    fn next_match_in_utc() {
        let utc = Zone::utc();
        let now = at(2026, 12, 6, 6, 43) + 17;
        assert_eq!(next("* * * * *", &utc, now), at(2026, 12, 6, 6, 44));
        assert_eq!(
            next("* * * * *", &utc, at(2026, 12, 6, 6, 44)),
            at(2026, 12, 6, 6, 45)
        );
        assert_eq!(next("0 3 * * *", &utc, now), at(2026, 12, 7, 3, 0));
        assert_eq!(next("*/15 * * * *", &utc, now), at(2026, 12, 6, 6, 45));
        assert_eq!(next("0 0 1 1 *", &utc, now), at(2027, 1, 1, 0, 0));
        assert_eq!(next("0 0 29 2 *", &utc, now), at(2028, 2, 29, 0, 0));
        assert_eq!(
            next("0 0 29 2 *", &utc, at(2096, 3, 1, 0, 0)),
            at(2104, 2, 29, 0, 0)
        );
        // February 29 on a Sunday: 2032, then 2060, then past 2100 (not a
        // leap year): 2128.
        assert_eq!(next("0 0 29 2 */7", &utc, now), at(2032, 2, 29, 0, 0));
        assert_eq!(
            next("0 0 29 2 */7", &utc, at(2088, 3, 1, 0, 0)),
            at(2128, 2, 29, 0, 0)
        );
        // 2026-12-06 is a Sunday.
        assert_eq!(next("30 8 * * mon", &utc, now), at(2026, 12, 7, 8, 30));
        assert_eq!(next("0 12 * * 0", &utc, now), at(2026, 12, 6, 12, 0));
        // Either day field: the 10th, or a Friday (the 11th) first.
        assert_eq!(
            next("0 0 10 * fri", &utc, at(2026, 12, 9, 0, 0)),
            at(2026, 12, 10, 0, 0)
        );
        assert_eq!(
            next("0 0 10 * fri", &utc, at(2026, 12, 10, 0, 0)),
            at(2026, 12, 11, 0, 0)
        );
        // `*/2` counts as unrestricted: both must match, an odd day and a
        // Saturday (the 12th is even).
        assert_eq!(next("0 0 */2 * sat", &utc, now), at(2026, 12, 19, 0, 0));
        assert_eq!(
            next("0 0 * * *", &utc, i64::from(i32::MAX)),
            at(2038, 1, 20, 0, 0)
        );
    }

    #[test]
    fn fixed_offset_zones() {
        let kolkata = Zone::from_posix("IST-5:30").expect("valid");
        // 03:00 in Kolkata is 21:30 UTC the day before.
        assert_eq!(
            next("0 3 * * *", &kolkata, at(2026, 12, 6, 0, 0)),
            at(2026, 12, 6, 21, 30)
        );
    }

    #[test]
    fn a_minute_in_the_spring_gap_is_skipped() {
        // Europe/Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC).
        let zones = [
            real("Europe/Berlin"),
            Zone::from_posix("CET-1CEST,M3.5.0,M10.5.0/3").ok(),
        ];
        for zone in zones.iter().flatten() {
            let before = at(2026, 3, 28, 12, 0);
            // 02:30 does not exist on the 29th: the 30th at 02:30 CEST.
            let day_before = at(2026, 3, 28, 0, 0);
            assert_eq!(next("30 2 * * *", zone, day_before), at(2026, 3, 28, 1, 30));
            assert_eq!(
                next("30 2 * * *", zone, at(2026, 3, 28, 2, 0)),
                at(2026, 3, 30, 0, 30)
            );
            // Every minute: 01:59 CET, then 03:00 CEST, one minute later.
            let last = at(2026, 3, 29, 0, 59);
            assert_eq!(next("* * * * *", zone, last - 30), last);
            assert_eq!(next("* * * * *", zone, last), last + 60);
            assert_eq!(next("0 3 * * *", zone, before), at(2026, 3, 29, 1, 0));
        }
    }

    #[test]
    fn a_minute_repeated_in_the_fall_fires_once() {
        // America/New_York, 2026-11-01: 02:00 EDT becomes 01:00 EST (06:00 UTC).
        let zones = [
            real("America/New_York"),
            Zone::from_posix("EST5EDT,M3.2.0,M11.1.0").ok(),
        ];
        for zone in zones.iter().flatten() {
            let first = at(2026, 11, 1, 5, 30); // 01:30 EDT
            assert_eq!(next("30 1 * * *", zone, at(2026, 11, 1, 0, 0)), first);
            // Not again at 01:30 EST an hour later: the next day.
            assert_eq!(next("30 1 * * *", zone, first), at(2026, 11, 2, 6, 30));
            // Started during the repeated hour: no run for a minute that
            // already happened.
            assert_eq!(
                next("30 1 * * *", zone, at(2026, 11, 1, 6, 10)),
                at(2026, 11, 2, 6, 30)
            );
            // Every minute: 01:59 EDT, then 02:00 EST, an hour later.
            let last = at(2026, 11, 1, 5, 59);
            assert_eq!(next("* * * * *", zone, last), at(2026, 11, 1, 7, 0));
            // Every 15 minutes: the repeated hour's quarters are not run again.
            assert_eq!(
                next("*/15 * * * *", zone, at(2026, 11, 1, 5, 50)),
                at(2026, 11, 1, 7, 0)
            );
        }
    }

    #[test]
    fn berlin_in_the_fall_and_new_york_in_the_spring() {
        if let Some(berlin) = real("Europe/Berlin") {
            // 2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC).
            let first = at(2026, 10, 25, 0, 30); // 02:30 CEST
            assert_eq!(next("30 2 * * *", &berlin, at(2026, 10, 24, 12, 0)), first);
            assert_eq!(next("30 2 * * *", &berlin, first), at(2026, 10, 26, 1, 30));
        }
        if let Some(ny) = real("America/New_York") {
            // 2026-03-08: 02:00 EST becomes 03:00 EDT (07:00 UTC).
            assert_eq!(
                next("15 2 * * *", &ny, at(2026, 3, 7, 12, 0)),
                at(2026, 3, 9, 6, 15)
            );
        }
    }
}
