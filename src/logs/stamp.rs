//! The time on every log line: UTC with milliseconds,
//! `2026-12-02T19:00:00.123Z`, one fixed width so that lines of different
//! files merge in time order by comparing bytes.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::tz::civil;

/// Bytes in a stamp.
pub const LEN: usize = 24;

/// One formatted time.
pub type Stamp = [u8; LEN];

/// The time now.
pub fn now() -> Stamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format(since.as_secs() as i64, since.subsec_millis())
}

/// `secs` since the epoch and `millis` as a stamp.
pub fn format(secs: i64, millis: u32) -> Stamp {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil(days);
    let mut out = *b"0000-00-00T00:00:00.000Z";
    put(&mut out[0..4], y.clamp(0, 9999) as u32);
    put(&mut out[5..7], m);
    put(&mut out[8..10], d);
    put(&mut out[11..13], (rem / 3600) as u32);
    put(&mut out[14..16], (rem / 60 % 60) as u32);
    put(&mut out[17..19], (rem % 60) as u32);
    put(&mut out[20..23], millis.min(999));
    out
}

/// Writes `n` as decimal digits filling `dst`, zero-padded.
fn put(dst: &mut [u8], mut n: u32) {
    for b in dst.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(secs: i64, millis: u32) -> String {
        String::from_utf8(format(secs, millis).to_vec()).unwrap()
    }

    #[test]
    fn known_instants() {
        assert_eq!(text(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(text(951_782_400, 7), "2000-02-29T00:00:00.007Z");
        assert_eq!(text(1_796_238_000, 123), "2026-12-02T19:00:00.123Z");
        assert_eq!(text(4_107_542_399, 999), "2100-02-28T23:59:59.999Z");
        assert_eq!(text(-1, 0), "1969-12-31T23:59:59.000Z");
    }

    #[test]
    fn agrees_with_date_for_every_day_of_a_few_centuries() {
        // Day by day from 1900 to 2300: the date increases by exactly one.
        let mut prev = civil(-25_567);
        assert_eq!(prev, (1900, 1, 1));
        for day in -25_566..120_000 {
            let (y, m, d) = civil(day);
            let next_day = (y, m, d) == (prev.0, prev.1, prev.2 + 1);
            let next_month =
                d == 1 && ((y, m) == (prev.0, prev.1 + 1) || (y, m) == (prev.0 + 1, 1));
            assert!(next_day || next_month, "{prev:?} -> {:?}", (y, m, d));
            prev = (y, m, d);
        }
    }

    #[test]
    fn now_is_well_formed() {
        let s = now();
        assert_eq!(s[4], b'-');
        assert_eq!(s[10], b'T');
        assert_eq!(s[23], b'Z');
        assert!(&s[..4] >= b"2024".as_slice());
    }
}
