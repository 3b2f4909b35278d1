//! The wall clock as tokenmint reads and writes it: Unix seconds, and RFC
//! 3339 timestamps for the `tokenmint-activate-at:` key marker, `keygen
//! --activate-at` and `check-config` — whole seconds, written in UTC
//! (`2026-12-01T10:00:00Z`), read with any offset and an optional fraction
//! (dropped). Dates before 1970 are refused. The calendar is the `time`
//! crate's.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "9999-12-31T23:59:59Z".into())
}

/// Seconds since the Unix epoch; `None` for anything that is not an RFC
/// 3339 `date-time` at or after 1970-01-01T00:00:00Z.
pub fn parse(s: &str) -> Option<u64> {
    // RFC 3339 §5.6 allows a space for the `T`; `time` reads only `T`/`t`.
    let normalised;
    let s = match s.as_bytes().get(10) {
        Some(b' ') => {
            normalised = format!("{}T{}", &s[..10], &s[11..]);
            normalised.as_str()
        }
        _ => s,
    };
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_round_trip() {
        for (text, unix) in [
            ("1970-01-01T00:00:00Z", 0),
            ("2000-02-29T12:34:56Z", 951_827_696),
            ("2026-12-01T10:00:00Z", 1_796_119_200),
            ("2100-03-01T00:00:00Z", 4_107_542_400),
        ] {
            assert_eq!(parse(text), Some(unix), "{text}");
            assert_eq!(format(unix), text);
        }
    }

    #[test]
    fn offsets_and_fractions_are_read() {
        assert_eq!(
            parse("2026-12-01T11:00:00+01:00"),
            parse("2026-12-01T10:00:00Z")
        );
        assert_eq!(
            parse("2026-12-01T09:30:00-00:30"),
            parse("2026-12-01T10:00:00Z")
        );
        assert_eq!(
            parse("2026-12-01T10:00:00.999Z"),
            parse("2026-12-01T10:00:00Z")
        );
        assert_eq!(parse("2026-12-01t10:00:00z"), parse("2026-12-01T10:00:00Z"));
    }

    #[test]
    fn malformed_or_impossible_times_are_refused() {
        for bad in [
            "",
            "2026-12-01",
            "2026-12-01T10:00:00",
            "2026-13-01T10:00:00Z",
            "2026-02-29T10:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T10:00:00+0100",
            "2026-12-01T10:00:00.Z",
            "1969-12-31T23:59:59Z",
            "+026-12-01T10:00:00Z",
            "2026-12-01T10:00:00Z trailing",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
