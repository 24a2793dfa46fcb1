//! A calendar date (UTC), for the `until:` of an ignore in mxdrift.yaml,
//! the `ignored_until` of a finding and the date in backup file names.
//! Only what those need: no time zones, no time of day.

use serde::Serialize;

/// A calendar date, enough to compare ignore expiry with today (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CivilDate {
    pub year: i64,
    pub month: u32,
    pub day: u32,
}

impl CivilDate {
    pub fn parse(s: &str) -> Option<CivilDate> {
        let mut parts = s.trim().splitn(3, '-');
        let year: i64 = parts.next()?.parse().ok()?;
        let month: u32 = parts.next()?.parse().ok()?;
        let day: u32 = parts.next()?.parse().ok()?;
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (1..=days_in_month)
            .contains(&day)
            .then_some(CivilDate { year, month, day })
    }

    /// The UTC date of a Unix timestamp (days-from-civil inverse, H. Hinnant).
    pub fn from_unix(secs: u64) -> CivilDate {
        let z = (secs / 86_400) as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        CivilDate { year, month, day }
    }

    /// Days since 1970-01-01 (negative before): `b.days() - a.days()` is
    /// the number of days from `a` to `b` (days-from-civil, H. Hinnant).
    pub fn days(self) -> i64 {
        let month = i64::from(self.month);
        let year = if month <= 2 { self.year - 1 } else { self.year };
        let era = year.div_euclid(400);
        let yoe = year.rem_euclid(400);
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    pub fn today() -> CivilDate {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        CivilDate::from_unix(secs)
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS UTC` (when caches expire, in
/// `resolver-view-differs`).
pub fn utc_timestamp(secs: u64) -> String {
    let within = secs % 86_400;
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        CivilDate::from_unix(secs),
        within / 3600,
        within % 3600 / 60,
        within % 60
    )
}

/// As in the config file and the JSON report: `YYYY-MM-DD`.
impl Serialize for CivilDate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl std::fmt::Display for CivilDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_is_the_inverse_of_from_unix() {
        for secs in [0u64, 86_399, 951_782_400, 1_795_000_000, 4_102_444_800] {
            let date = CivilDate::from_unix(secs);
            assert_eq!(date.days(), (secs / 86_400) as i64, "{date}");
        }
        let a = CivilDate::parse("2026-11-23").unwrap();
        let b = CivilDate::parse("2027-03-01").unwrap();
        assert_eq!(b.days() - a.days(), 98);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(CivilDate::from_unix(0).to_string(), "1970-01-01");
        assert_eq!(
            CivilDate::from_unix(1_795_398_400).to_string(),
            "2026-11-23"
        );
        assert_eq!(CivilDate::from_unix(951_782_400).to_string(), "2000-02-29");
        assert!(CivilDate::parse("2026-11-23").unwrap() < CivilDate::parse("2027-01-01").unwrap());
        assert_eq!(
            utc_timestamp(1_795_392_000 + 3661),
            "2026-11-23 01:01:01 UTC"
        );
    }
}
