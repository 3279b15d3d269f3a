//! The local time zone, for `cron_restart`: UTC offsets as a pure function
//! of Unix time. tend is a static musl binary with no time zone code of its
//! own to lean on, so it reads the TZif files itself (RFC 8536: version 1
//! with 32-bit transition times, versions 2 and later with 64-bit ones and
//! a POSIX TZ string in the footer for times after the last transition) and
//! evaluates POSIX TZ strings (`CET-1CEST,M3.5.0,M10.5.0/3`; the `Mm.w.d`,
//! `Jn` and `n` rules). Leap-second records (the `right/` zones) are
//! skipped: tend counts POSIX time, as the kernel does.
//!
//! Which zone (`local`): `TZ` as glibc reads it (`:NAME`, `NAME` under
//! /usr/share/zoneinfo, an absolute path, else a POSIX TZ string; empty is
//! UTC), else /etc/localtime, else UTC. Whatever cannot be read or parsed
//! falls back to UTC with a warning for the caller to log.

use std::path::Path;

/// Where named zones are.
const ZONEINFO: &str = "/usr/share/zoneinfo";

/// A time zone: UTC offsets in seconds east of Greenwich by Unix time.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    /// Transition times, ascending, and the offset that begins at each.
    transitions: Vec<(i64, i32)>,
    /// The offset before the first transition (and everywhere when there
    /// is none and no rule).
    initial: i32,
    /// The footer's rule, for times after the last transition.
    rule: Option<Rule>,
}

/// A POSIX TZ string: a fixed offset, or standard time with a daylight
/// saving time between two yearly dates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    Fixed(i32),
    Dst {
        std: i32,
        dst: i32,
        /// When DST begins and ends, each as a date and the local time of
        /// day (seconds, may be negative or past 24 h) of the change.
        start: (Date, i32),
        end: (Date, i32),
    },
}

/// A yearly date of a POSIX rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Date {
    /// `Jn`: day 1..=365, February 29 never counted.
    Julian(u16),
    /// `n`: day 0..=365, February 29 counted.
    Zero(u16),
    /// `Mm.w.d`: day `d` (0 Sunday) of week `w` (1..=5, 5 the last) of month `m`.
    Month(u8, u8, u8),
}

impl Zone {
    /// Coordinated Universal Time.
    pub fn utc() -> Zone {
        Zone::fixed(0)
    }

    fn fixed(offset: i32) -> Zone {
        Zone {
            transitions: Vec::new(),
            initial: offset,
            rule: None,
        }
    }

    /// The UTC offset in seconds (east positive) at Unix time `t`.
    pub fn offset_at(&self, t: i64) -> i32 {
        let after = self.transitions.partition_point(|&(at, _)| at <= t);
        match (after, self.rule) {
            // No table (a POSIX TZ string, a slim file): the rule alone.
            (_, Some(rule)) if self.transitions.is_empty() => rule.offset_at(t),
            (0, _) => self.initial,
            (n, Some(rule)) if n == self.transitions.len() => rule.offset_at(t),
            (n, _) => self.transitions[n - 1].1,
        }
    }

    /// A zone from the bytes of a TZif file.
    pub fn from_tzif(data: &[u8]) -> Result<Zone, String> {
        let first = Header::read(data)?;
        let (header, body, wide) = match first.version {
            0 => (first, &data[HEADER..], false),
            _ => {
                let rest = data.get(HEADER + first.block_len(4)..).ok_or(TRUNCATED)?;
                (Header::read(rest)?, &rest[HEADER..], true)
            }
        };
        let size = if wide { 8 } else { 4 };
        let mut r = Reader(body);
        let times = r.take(header.timecnt * size)?;
        let indices = r.take(header.timecnt)?;
        let infos = r.take(header.typecnt * 6)?;
        r.take(header.charcnt + header.leapcnt * (size + 4))?;
        r.take(header.isstdcnt + header.isutcnt)?;
        if header.typecnt == 0 {
            return Err("no local time types".into());
        }
        let offset_of = |i: usize| -> Result<i32, String> {
            let info = infos
                .get(i * 6..i * 6 + 4)
                .ok_or("a time type index is out of range")?;
            Ok(i32::from_be_bytes([info[0], info[1], info[2], info[3]]))
        };
        let mut transitions = Vec::with_capacity(header.timecnt);
        for (k, &index) in indices.iter().enumerate() {
            let at = match wide {
                true => i64::from_be_bytes(array(&times[k * 8..k * 8 + 8])),
                false => i64::from(i32::from_be_bytes(array(&times[k * 4..k * 4 + 4]))),
            };
            transitions.push((at, offset_of(usize::from(index))?));
        }
        if transitions.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err("transition times are not ascending".into());
        }
        let rule = match wide {
            true => footer(r.0)?,
            false => None,
        };
        Ok(Zone {
            transitions,
            initial: offset_of(0)?,
            rule,
        })
    }

    /// A zone from a POSIX TZ string.
    pub fn from_posix(text: &str) -> Result<Zone, String> {
        Ok(Zone {
            transitions: Vec::new(),
            initial: 0,
            rule: Some(Rule::parse(text)?),
        })
    }

    /// The local zone: `TZ`, else /etc/localtime, else UTC; with a warning
    /// when what was asked for could not be used.
    pub fn local() -> (Zone, Option<String>) {
        Zone::from_env(std::env::var_os("TZ").map(|v| v.to_string_lossy().into_owned()))
    }

    /// `local` with `TZ`'s value given.
    pub fn from_env(tz: Option<String>) -> (Zone, Option<String>) {
        let Some(tz) = tz else {
            return match std::fs::read("/etc/localtime") {
                Ok(data) => match Zone::from_tzif(&data) {
                    Ok(zone) => (zone, None),
                    Err(e) => (Zone::utc(), Some(format!("/etc/localtime: {e}; using UTC"))),
                },
                // No /etc/localtime (a container): UTC, as libc does.
                Err(_) => (Zone::utc(), None),
            };
        };
        let name = tz.strip_prefix(':').unwrap_or(&tz);
        if name.is_empty() {
            return (Zone::utc(), None);
        }
        let path = match name.starts_with('/') {
            true => Path::new(name).to_path_buf(),
            false => Path::new(ZONEINFO).join(name),
        };
        let read = match name.contains("..") {
            true => Err("a name with \"..\" is not looked up".to_string()),
            false => std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display())),
        };
        let from_file = read.and_then(|data| {
            Zone::from_tzif(&data).map_err(|e| format!("{}: {e}", path.display()))
        });
        match from_file {
            Ok(zone) => (zone, None),
            Err(file_error) if tz.starts_with(':') || name.starts_with('/') => (
                Zone::utc(),
                Some(format!("TZ={tz}: {file_error}; using UTC")),
            ),
            Err(file_error) => match Zone::from_posix(name) {
                Ok(zone) => (zone, None),
                Err(e) => (
                    Zone::utc(),
                    Some(format!(
                        "TZ={tz}: neither a zone ({file_error}) nor a POSIX TZ string ({e}); using UTC"
                    )),
                ),
            },
        }
    }
}

/// Unix time `t` as local time in `zone`: `2026-12-07 03:00:00 +01:00`.
pub fn format_local(zone: &Zone, t: i64) -> String {
    let offset = zone.offset_at(t);
    let local = t + i64::from(offset);
    let (y, mo, d) = civil(local.div_euclid(86_400));
    let secs = local.rem_euclid(86_400);
    let sign = if offset < 0 { '-' } else { '+' };
    let off = offset.unsigned_abs() / 60;
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02} {sign}{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        off / 60,
        off % 60
    )
}

/// The size of a TZif header.
const HEADER: usize = 44;
const TRUNCATED: &str = "truncated file";

/// The counts of a TZif header.
struct Header {
    version: u8,
    isutcnt: usize,
    isstdcnt: usize,
    leapcnt: usize,
    timecnt: usize,
    typecnt: usize,
    charcnt: usize,
}

impl Header {
    fn read(data: &[u8]) -> Result<Header, String> {
        let h = data.get(..HEADER).ok_or(TRUNCATED)?;
        if &h[..4] != b"TZif" {
            return Err("not a TZif file".into());
        }
        let count = |i: usize| u32::from_be_bytes(array(&h[20 + 4 * i..24 + 4 * i])) as usize;
        Ok(Header {
            version: h[4],
            isutcnt: count(0),
            isstdcnt: count(1),
            leapcnt: count(2),
            timecnt: count(3),
            typecnt: count(4),
            charcnt: count(5),
        })
    }

    /// The length of the data block after this header, with `size`-byte times.
    fn block_len(&self, size: usize) -> usize {
        self.timecnt * (size + 1)
            + self.typecnt * 6
            + self.charcnt
            + self.leapcnt * (size + 4)
            + self.isstdcnt
            + self.isutcnt
    }
}

/// Reads a byte slice front to back, failing past its end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.0.len() {
            return Err(TRUNCATED.into());
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut a = [0; N];
    a.copy_from_slice(bytes);
    a
}

/// The rule in a version 2+ footer, `\nTZ\n`; None when it is empty.
fn footer(rest: &[u8]) -> Result<Option<Rule>, String> {
    let text = std::str::from_utf8(rest).map_err(|_| "the footer is not text")?;
    let Some(tz) = text.strip_prefix('\n').and_then(|t| t.split('\n').next()) else {
        return Ok(None);
    };
    match tz.is_empty() {
        true => Ok(None),
        false => Rule::parse(tz)
            .map(Some)
            .map_err(|e| format!("footer {tz:?}: {e}")),
    }
}

impl Rule {
    /// Parses a POSIX TZ string: `STDoffset[DST[offset][,start[/time],end[/time]]]`.
    pub fn parse(text: &str) -> Result<Rule, String> {
        let mut p = Posix(text.as_bytes());
        p.name()?;
        // POSIX offsets are west of Greenwich: UTC-5 is written 5.
        let std = -p.time()?;
        if p.0.is_empty() {
            return Ok(Rule::Fixed(std));
        }
        p.name()?;
        let dst = match p.0.first() {
            Some(b',') | None => std + 3600,
            Some(_) => -p.time()?,
        };
        // No rule: the US rules, as glibc assumes.
        let (start, end) = match p.0.is_empty() {
            true => ((Date::Month(3, 2, 0), 7200), (Date::Month(11, 1, 0), 7200)),
            false => {
                p.eat(b',')?;
                let start = p.change()?;
                p.eat(b',')?;
                (start, p.change()?)
            }
        };
        if !p.0.is_empty() {
            return Err(format!("unexpected {:?}", String::from_utf8_lossy(p.0)));
        }
        Ok(Rule::Dst {
            std,
            dst,
            start,
            end,
        })
    }

    /// The offset this rule gives at Unix time `t`.
    pub fn offset_at(self, t: i64) -> i32 {
        let (std, dst, start, end) = match self {
            Rule::Fixed(offset) => return offset,
            Rule::Dst {
                std,
                dst,
                start,
                end,
            } => (std, dst, start, end),
        };
        let (year, _, _) = civil(t.saturating_add(i64::from(std)).div_euclid(86_400));
        // The changes happen at local time: DST begins at a standard time,
        // ends at a daylight time.
        let begins = |y: i64| day_of(y, start.0) * 86_400 + i64::from(start.1 - std);
        let ends = |y: i64| day_of(y, end.0) * 86_400 + i64::from(end.1 - dst);
        let (b, e) = (begins(year), ends(year));
        let in_dst = match b < e {
            true => b <= t && t < e,
            // Southern hemisphere: DST spans the new year.
            false => t < e || t >= b,
        };
        match in_dst {
            true => dst,
            false => std,
        }
    }
}

/// A cursor over a POSIX TZ string.
struct Posix<'a>(&'a [u8]);

impl Posix<'_> {
    /// Takes `c`, which must come next.
    fn eat(&mut self, c: u8) -> Result<(), String> {
        match self.0.split_first() {
            Some((&first, rest)) if first == c => {
                self.0 = rest;
                Ok(())
            }
            _ => Err(format!("expected {:?}", char::from(c))),
        }
    }

    /// A zone abbreviation: three or more letters, or `<...>`.
    fn name(&mut self) -> Result<(), String> {
        let len = match self.0.first() {
            Some(b'<') => match self.0.iter().position(|&c| c == b'>') {
                Some(close) => close + 1,
                None => return Err("a '<' without its '>'".into()),
            },
            _ => self
                .0
                .iter()
                .take_while(|c| c.is_ascii_alphabetic())
                .count(),
        };
        if len < 3 {
            return Err("expected a zone abbreviation of three letters or more".into());
        }
        self.0 = &self.0[len..];
        Ok(())
    }

    fn number(&mut self) -> Result<i32, String> {
        let digits = self.0.iter().take_while(|c| c.is_ascii_digit()).count();
        let text = std::str::from_utf8(&self.0[..digits]).unwrap_or("");
        self.0 = &self.0[digits..];
        match text.parse::<i32>() {
            Ok(n) if digits <= 3 => Ok(n),
            _ => Err("expected a number".into()),
        }
    }

    /// `[+-]hh[:mm[:ss]]` in seconds.
    fn time(&mut self) -> Result<i32, String> {
        let sign = match self.0.first() {
            Some(b'-') => -1,
            Some(b'+') => 1,
            _ => 0,
        };
        if sign != 0 {
            self.0 = &self.0[1..];
        }
        let mut secs = self.number()? * 3600;
        for unit in [60, 1] {
            if self.0.first() != Some(&b':') {
                break;
            }
            self.0 = &self.0[1..];
            secs += self.number()? * unit;
        }
        if secs > 167 * 3600 {
            return Err("a time past 167 hours".into());
        }
        Ok(if sign < 0 { -secs } else { secs })
    }

    /// `date[/time]`, the time 02:00 when left out.
    fn change(&mut self) -> Result<(Date, i32), String> {
        let date = match self.0.first() {
            Some(b'M') => {
                self.0 = &self.0[1..];
                let m = self.number()?;
                self.eat(b'.')?;
                let w = self.number()?;
                self.eat(b'.')?;
                let d = self.number()?;
                if !(1..=12).contains(&m) || !(1..=5).contains(&w) || !(0..=6).contains(&d) {
                    return Err(format!("M{m}.{w}.{d} is out of range"));
                }
                Date::Month(m as u8, w as u8, d as u8)
            }
            Some(b'J') => {
                self.0 = &self.0[1..];
                match self.number()? {
                    n @ 1..=365 => Date::Julian(n as u16),
                    n => return Err(format!("J{n} is out of range")),
                }
            }
            _ => match self.number()? {
                n @ 0..=365 => Date::Zero(n as u16),
                n => return Err(format!("day {n} is out of range")),
            },
        };
        let time = match self.0.first() {
            Some(b'/') => {
                self.0 = &self.0[1..];
                self.time()?
            }
            _ => 7200,
        };
        Ok((date, time))
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub fn days(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01: (year, month 1..=12, day 1..=31).
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day of the week of a day since 1970-01-01, 0 Sunday (that day was
/// a Thursday).
pub fn weekday(days: i64) -> u32 {
    (days + 4).rem_euclid(7) as u32
}

pub fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// The number of days in a month.
pub fn month_len(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The day (since 1970-01-01) a rule's date falls on in `year`.
fn day_of(year: i64, date: Date) -> i64 {
    let jan1 = days(year, 1, 1);
    match date {
        Date::Zero(n) => jan1 + i64::from(n),
        Date::Julian(n) => {
            let n = i64::from(n);
            jan1 + n - 1 + i64::from(is_leap(year) && n >= 60)
        }
        Date::Month(m, w, d) => {
            let (m, w, d) = (u32::from(m), i64::from(w), i64::from(d));
            let first = days(year, m, 1);
            let to_d = (d - i64::from(weekday(first))).rem_euclid(7);
            let mut day = first + to_d + (w - 1) * 7;
            let last = first + i64::from(month_len(year, m)) - 1;
            while day > last {
                day -= 7;
            }
            day
        }
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Unix time of a UTC date and time.
    pub fn utc(y: i64, mo: u32, d: u32, h: i64, mi: i64) -> i64 {
        days(y, mo, d) * 86_400 + h * 3600 + mi * 60
    }

    /// A real zone from /usr/share/zoneinfo; None (the test skips) without it.
    pub fn real(name: &str) -> Option<Zone> {
        let data = std::fs::read(Path::new(ZONEINFO).join(name)).ok()?;
        Some(Zone::from_tzif(&data).expect("a valid TZif file"))
    }

    #[test]
    fn dates_round_trip() {
        for d in [-800_000, -1, 0, 1, 59, 10_957, 11_016, 19_000, 2_932_896] {
            let (y, m, day) = civil(d);
            assert_eq!(days(y, m, day), d);
        }
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(days(2000, 3, 1), 11_017);
        assert_eq!(weekday(days(2026, 3, 29)), 0, "a Sunday");
        assert_eq!(month_len(2100, 2), 28);
        assert_eq!(month_len(2000, 2), 29);
    }

    #[test]
    fn posix_rules() {
        let berlin = Rule::parse("CET-1CEST,M3.5.0,M10.5.0/3").expect("valid");
        // 2026: DST from March 29 01:00 UTC to October 25 01:00 UTC.
        assert_eq!(berlin.offset_at(utc(2026, 3, 29, 0, 59)), 3600);
        assert_eq!(berlin.offset_at(utc(2026, 3, 29, 1, 0)), 7200);
        assert_eq!(berlin.offset_at(utc(2026, 10, 25, 0, 59)), 7200);
        assert_eq!(berlin.offset_at(utc(2026, 10, 25, 1, 0)), 3600);
        let ny = Rule::parse("EST5EDT,M3.2.0,M11.1.0").expect("valid");
        assert_eq!(ny.offset_at(utc(2026, 3, 8, 6, 59)), -5 * 3600);
        assert_eq!(ny.offset_at(utc(2026, 3, 8, 7, 0)), -4 * 3600);
        assert_eq!(ny.offset_at(utc(2026, 11, 1, 5, 59)), -4 * 3600);
        assert_eq!(ny.offset_at(utc(2026, 11, 1, 6, 0)), -5 * 3600);
        assert_eq!(Rule::parse("EST5EDT"), Ok(ny), "the US rules by default");
        // Southern hemisphere: DST across the new year.
        let sydney = Rule::parse("AEST-10AEDT,M10.1.0,M4.1.0/3").expect("valid");
        assert_eq!(sydney.offset_at(utc(2026, 1, 15, 0, 0)), 11 * 3600);
        assert_eq!(sydney.offset_at(utc(2026, 6, 15, 0, 0)), 10 * 3600);
        assert_eq!(sydney.offset_at(utc(2026, 12, 15, 0, 0)), 11 * 3600);
        assert_eq!(Rule::parse("<+0530>-5:30"), Ok(Rule::Fixed(19_800)));
        assert_eq!(Rule::parse("UTC0"), Ok(Rule::Fixed(0)));
        let j = Rule::parse("AAA3BBB,J60/0,300").expect("valid");
        let Rule::Dst { start, end, .. } = j else {
            panic!("{j:?}")
        };
        assert_eq!(day_of(2024, start.0), days(2024, 3, 1), "J60 skips Feb 29");
        assert_eq!(day_of(2024, end.0), days(2024, 10, 27));
        for bad in [
            "",
            "A1",
            "CET",
            "CET-1CEST,M13.1.0,M1.1.0",
            "CET-1CEST,M3.5.0",
        ] {
            assert!(Rule::parse(bad).is_err(), "{bad}");
        }
    }

    /// Builds a TZif file: `version` 1 or 2 (then both blocks and a footer).
    fn tzif(version: u8, transitions: &[(i64, u8)], offsets: &[i32], footer: &str) -> Vec<u8> {
        let header = |v: u8| {
            let mut h = b"TZif".to_vec();
            h.push(v);
            h.extend([0; 15]);
            for n in [0, 0, 0, transitions.len(), offsets.len(), 4] {
                h.extend((n as u32).to_be_bytes());
            }
            h
        };
        let block = |wide: bool| {
            let mut b = Vec::new();
            for &(at, _) in transitions {
                match wide {
                    true => b.extend(at.to_be_bytes()),
                    false => b.extend((at as i32).to_be_bytes()),
                }
            }
            b.extend(transitions.iter().map(|&(_, i)| i));
            for &o in offsets {
                b.extend(o.to_be_bytes());
                b.extend([0, 0]);
            }
            b.extend(b"AB\0\0");
            b
        };
        let v = if version == 1 { 0 } else { b'0' + version };
        let mut data = header(v);
        data.extend(block(false));
        if version >= 2 {
            data.extend(header(v));
            data.extend(block(true));
            data.extend(format!("\n{footer}\n").bytes());
        }
        data
    }

    #[test]
    fn hand_built_tzif_files() {
        let (a, b) = (utc(2000, 1, 1, 0, 0), utc(2000, 7, 1, 0, 0));
        let v1 = Zone::from_tzif(&tzif(1, &[(a, 1), (b, 0)], &[0, 3600], "")).expect("valid");
        assert_eq!(v1.offset_at(a - 1), 0, "before the first: type 0");
        assert_eq!(v1.offset_at(a), 3600);
        assert_eq!(v1.offset_at(b), 0);
        assert_eq!(
            v1.offset_at(b + 10 * 365 * 86_400),
            0,
            "v1: the last one stays"
        );
        // Version 2: 64-bit times, and the footer after the last transition.
        let v2 = tzif(
            2,
            &[(a, 1), (b, 0)],
            &[0, 3600],
            "CET-1CEST,M3.5.0,M10.5.0/3",
        );
        let v2 = Zone::from_tzif(&v2).expect("valid");
        assert_eq!(v2.offset_at(a), 3600);
        assert_eq!(v2.offset_at(utc(2026, 7, 1, 0, 0)), 7200, "footer rule");
        assert_eq!(v2.offset_at(utc(2026, 1, 1, 0, 0)), 3600, "footer rule");
        let empty = Zone::from_tzif(&tzif(3, &[], &[-3600], "")).expect("valid");
        assert_eq!(empty.offset_at(0), -3600);
        for bad in [
            b"TZif".to_vec(),
            b"NOPE0000000000000000000000000000000000000000".to_vec(),
            tzif(2, &[(a, 5)], &[0], ""),
            tzif(2, &[(b, 0), (a, 0)], &[0], ""),
            tzif(2, &[], &[0], "CET-1CEST,M3.5.0"),
        ] {
            assert!(Zone::from_tzif(&bad).is_err(), "{bad:?}");
        }
        let mut cut = tzif(2, &[(a, 1)], &[0, 3600], "");
        cut.truncate(cut.len() - 20);
        assert!(Zone::from_tzif(&cut).is_err());
    }

    #[test]
    fn real_zones() {
        let (Some(berlin), Some(ny)) = (real("Europe/Berlin"), real("America/New_York")) else {
            eprintln!("skipped: no /usr/share/zoneinfo");
            return;
        };
        assert_eq!(berlin.offset_at(utc(2026, 3, 29, 0, 59)), 3600);
        assert_eq!(berlin.offset_at(utc(2026, 3, 29, 1, 0)), 7200);
        assert_eq!(berlin.offset_at(utc(1990, 7, 1, 0, 0)), 7200);
        assert_eq!(
            berlin.offset_at(utc(2200, 7, 1, 0, 0)),
            7200,
            "past the table"
        );
        assert_eq!(
            berlin.offset_at(utc(2200, 1, 1, 0, 0)),
            3600,
            "past the table"
        );
        assert_eq!(ny.offset_at(utc(2026, 11, 1, 5, 59)), -4 * 3600);
        assert_eq!(ny.offset_at(utc(2026, 11, 1, 6, 0)), -5 * 3600);
        assert_eq!(
            ny.offset_at(utc(1880, 1, 1, 0, 0)),
            -17_762,
            "local mean time"
        );
        if let Some(utc_zone) = real("UTC") {
            assert_eq!(utc_zone.offset_at(0), 0);
        }
    }

    #[test]
    fn local_time_text() {
        let ist = Zone::from_posix("IST-5:30").expect("valid");
        assert_eq!(
            format_local(&ist, utc(2026, 12, 6, 21, 30)),
            "2026-12-07 03:00:00 +05:30"
        );
        let ny = Zone::from_posix("EST5EDT").expect("valid");
        assert_eq!(format_local(&ny, 0), "1969-12-31 19:00:00 -05:00");
    }

    #[test]
    fn which_zone() {
        let utc_zone = |tz: &str| Zone::from_env(Some(tz.into()));
        assert_eq!(utc_zone("").0, Zone::utc());
        assert_eq!(utc_zone(":").0, Zone::utc());
        let (posix, warning) = utc_zone("XYZ-3");
        assert_eq!((posix.offset_at(0), warning), (3 * 3600, None));
        let (fallback, warning) = utc_zone("Nowhere/Special");
        assert_eq!(fallback, Zone::utc());
        assert!(warning.is_some_and(|w| w.contains("using UTC")));
        let (fallback, warning) = utc_zone(":/nonexistent/zone");
        assert_eq!(fallback, Zone::utc());
        assert!(warning.is_some_and(|w| w.contains("/nonexistent/zone")));
        if real("Europe/Berlin").is_none() {
            return;
        }
        for tz in [
            "Europe/Berlin",
            ":Europe/Berlin",
            "/usr/share/zoneinfo/Europe/Berlin",
        ] {
            let (zone, warning) = utc_zone(tz);
            assert_eq!(warning, None, "{tz}");
            assert_eq!(zone.offset_at(utc(2026, 7, 1, 0, 0)), 7200, "{tz}");
        }
    }
}
