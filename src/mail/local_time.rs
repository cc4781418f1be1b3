//! Times in messages as their reader's clock shows them (seed 003: "language and timezone"): a
//! person whose SCIM `timezone` is an IANA name such as `Europe/Berlin` reads
//! `2026-12-21 10:12 CET` where everyone else reads `2026-12-21 09:12 UTC`. The time zone
//! database is built into the binary, so the host's `/usr/share/zoneinfo` does not matter.

use time::OffsetDateTime;

/// `at` to the minute, in `timezone` when it names a zone the database knows, else in UTC.
pub fn minute(at: OffsetDateTime, timezone: Option<&str>) -> String {
    match zoned(at, timezone) {
        Some(local) => local.strftime("%Y-%m-%d %H:%M %Z").to_string(),
        None => utc(at, true),
    }
}

/// The day of `at` (`2026-12-21`), in `timezone` as [`minute`] takes it.
pub fn day(at: OffsetDateTime, timezone: Option<&str>) -> String {
    match zoned(at, timezone) {
        Some(local) => local.strftime("%Y-%m-%d").to_string(),
        None => utc(at, false),
    }
}

fn zoned(at: OffsetDateTime, timezone: Option<&str>) -> Option<jiff::ZonedDateTime> {
    let zone = jiff::tz::TimeZone::get(timezone?.trim()).ok()?;
    let instant = jiff::Timestamp::from_second(at.unix_timestamp()).ok()?;
    Some(instant.to_zoned_datetime(zone))
}

fn utc(at: OffsetDateTime, minutes: bool) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let day = format!("{}-{:02}-{:02}", at.year(), u8::from(at.month()), at.day());
    if minutes {
        format!("{day} {:02}:{:02} UTC", at.hour(), at.minute())
    } else {
        day
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_zone_shows_local_time_and_anything_else_utc() {
        // 2026-12-21 09:12:30 UTC
        let at = OffsetDateTime::from_unix_timestamp(1_797_844_350).unwrap();
        assert_eq!(minute(at, None), "2026-12-21 09:12 UTC");
        assert_eq!(minute(at, Some("Europe/Berlin")), "2026-12-21 10:12 CET");
        assert_eq!(
            minute(at, Some("America/Los_Angeles")),
            "2026-12-21 01:12 PST"
        );
        assert_eq!(day(at, Some("Pacific/Auckland")), "2026-12-21");
        assert_eq!(day(at, Some("Pacific/Honolulu")), "2026-12-20");
        for unknown in ["Mars/Olympus", "", "  ", "../../etc/passwd"] {
            assert_eq!(
                minute(at, Some(unknown)),
                "2026-12-21 09:12 UTC",
                "{unknown:?}"
            );
        }
    }
}
