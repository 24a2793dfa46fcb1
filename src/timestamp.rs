//! A moment in UTC as the JSON report writes it (`server.audited_at`):
//! RFC 3339 with whole seconds and `Z`, `2026-11-30T17:32:01Z`. `fleet`
//! reads it back to tell fresh reports from stale ones and the newest of
//! two reports of one server.
//!
//! Only that one form is read: every report mxdrift writes has it, and an
//! offset or fraction would mean the file was edited or is not a report.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::civil_date::CivilDate;

/// Seconds since the Unix epoch, UTC (before 1970 is not a report time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn from_system(time: SystemTime) -> Timestamp {
        Timestamp(time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }

    pub fn now() -> Timestamp {
        Timestamp::from_system(SystemTime::now())
    }

    /// How long before `now` this was (zero for a time in the future).
    pub fn age_at(self, now: Timestamp) -> Duration {
        Duration::from_secs(now.0.saturating_sub(self.0))
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Timestamp> {
        const SHAPE: &[u8; 20] = b"dddd-dd-ddTdd:dd:ddZ";
        let bytes = text.as_bytes();
        let fits = bytes.len() == SHAPE.len()
            && bytes.iter().zip(SHAPE).all(|(b, shape)| match shape {
                b'd' => b.is_ascii_digit(),
                other => b == other,
            });
        if !fits {
            return None;
        }
        let date = CivilDate::parse(text.get(..10)?)?;
        if date.year < 1970 {
            return None;
        }
        let field = |range: std::ops::Range<usize>, max: u64| -> Option<u64> {
            text.get(range)?.parse().ok().filter(|n| *n <= max)
        };
        let (hour, minute, second) = (field(11..13, 23)?, field(14..16, 59)?, field(17..19, 59)?);
        let days = days_from_civil(date);
        Some(Timestamp(
            days * 86_400 + hour * 3600 + minute * 60 + second,
        ))
    }
}

/// Days since 1970-01-01 of a date on or after it (H. Hinnant's algorithm,
/// the inverse of [`CivilDate::from_unix`]).
fn days_from_civil(date: CivilDate) -> u64 {
    let year = date.year - i64::from(date.month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(date.month);
    let doy =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(date.day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    u64::try_from(era * 146_097 + doe - 719_468).unwrap_or(0)
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let date = CivilDate::from_unix(self.0);
        let seconds = self.0 % 86_400;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            date.year,
            date.month,
            date.day,
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An age for people: `3 d 4 h`, `5 h 12 min`, `40 s`.
pub fn human_age(age: Duration) -> String {
    let s = age.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 if (s / 60).is_multiple_of(60) => format!("{} h", s / 3600),
        3600..86_400 => format!("{} h {} min", s / 3600, s / 60 % 60),
        _ if (s / 3600).is_multiple_of(24) => format!("{} d", s / 86_400),
        _ => format!("{} d {} h", s / 86_400, s / 3600 % 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_matches_known_instants() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(1_795_392_000).to_string(), "2026-11-23T00:00:00Z");
        assert_eq!(
            Timestamp::parse("2026-11-30T17:32:01Z"),
            Some(Timestamp(1_796_059_921))
        );
        for t in [
            0,
            59,
            951_782_400,
            1_709_164_799,
            1_796_059_921,
            4_102_444_800,
        ] {
            let text = Timestamp(t).to_string();
            assert_eq!(Timestamp::parse(&text), Some(Timestamp(t)), "{text}");
        }
    }

    #[test]
    fn only_the_one_form_is_read() {
        for bad in [
            "",
            "2026-11-30",
            "2026-11-30T17:32:01",
            "2026-11-30T17:32:01+01:00",
            "2026-11-30T17:32:01.5Z",
            "2026-11-30 17:32:01Z",
            "2026-11-31T17:32:01Z",
            "2026-11-30T24:00:00Z",
            "2026-11-30T17:60:00Z",
            "1969-12-31T23:59:59Z",
            "2026-11-30T1+:32:01Z",
            "+026-11-30T17:32:01Z",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn ages_read_as_people_say_them() {
        assert_eq!(human_age(Duration::from_secs(40)), "40 s");
        assert_eq!(human_age(Duration::from_secs(3 * 3600 + 120)), "3 h 2 min");
        assert_eq!(human_age(Duration::from_secs(2 * 86_400 + 3600)), "2 d 1 h");
        assert_eq!(human_age(Duration::from_secs(2 * 86_400)), "2 d");
        assert_eq!(human_age(Duration::from_secs(7200)), "2 h");
        assert_eq!(Timestamp(10).age_at(Timestamp(5)), Duration::ZERO);
    }
}
