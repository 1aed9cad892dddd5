//! Asterisk's timestamp format (`2026-11-28T09:58:19.327+0000`, no colon in the offset): a fast
//! parser, a formatter, and serde helpers that keep the wire format on serialization.

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use serde::{Deserializer, Serializer};

/// The format Asterisk writes (`ast_tvfmt` with `%FT%T.%q%z`), which we also write back.
pub const ARI_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3f%z";

/// Parses an Asterisk timestamp to UTC.
///
/// The fixed 28-byte form `YYYY-MM-DDTHH:MM:SS.mmm±hhmm` takes a hand-written fast path (it is
/// in every event, usually several times); anything else (more or fewer fraction digits, an
/// offset with a colon, `Z`) goes through chrono.
pub fn parse_ari_time(s: &str) -> Option<DateTime<Utc>> {
    fast_parse(s.as_bytes()).or_else(|| {
        DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
            .or_else(|_| DateTime::parse_from_rfc3339(s))
            .ok()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// Formats a UTC time the way Asterisk does (`+0000` offset, milliseconds).
pub fn format_ari_time(t: &DateTime<Utc>) -> String {
    t.format(ARI_TIME_FORMAT).to_string()
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn fast_parse(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() != 28
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
    {
        return None;
    }
    let year = i32::try_from(digits(&b[0..4])?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, digits(&b[5..7])?, digits(&b[8..10])?)?;
    let naive = date.and_hms_milli_opt(
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
        digits(&b[20..23])?,
    )?;
    let sign: i32 = match b[23] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let off_h = i32::try_from(digits(&b[24..26])?).ok()?;
    let off_m = i32::try_from(digits(&b[26..28])?).ok()?;
    let offset = FixedOffset::east_opt(sign * (off_h * 3600 + off_m * 60))?;
    let local = offset.from_local_datetime(&naive).single()?;
    Some(local.with_timezone(&Utc))
}

/// Serde helper for a required Asterisk timestamp: `#[serde(with = "crate::ari_time")]`.
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&t.format(ARI_TIME_FORMAT))
}

/// Serde helper for a required Asterisk timestamp: `#[serde(with = "crate::ari_time")]`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = DateTime<Utc>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an Asterisk timestamp like 2026-11-28T09:58:19.327+0000")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            parse_ari_time(v).ok_or_else(|| {
                E::custom(format_args!(
                    "invalid Asterisk timestamp {v:?}, expected like 2026-11-28T09:58:19.327+0000"
                ))
            })
        }
    }
    d.deserialize_str(V)
}

/// Serde helper for an optional Asterisk timestamp: `#[serde(with = "crate::ari_time::option")]`.
pub mod option {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `Some` as an Asterisk timestamp and `None` as `null`.
    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    /// Reads an optional Asterisk timestamp.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct W(#[serde(with = "super")] DateTime<Utc>);
        Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_asterisk_format_fast_and_slow() {
        let t = parse_ari_time("2026-11-28T09:58:19.327+0000").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-28T09:58:19.327+00:00");
        let kyiv = parse_ari_time("2026-11-28T11:58:19.327+0200").unwrap();
        assert_eq!(kyiv, t);
        let neg = parse_ari_time("2026-11-28T05:28:19.327-0430").unwrap();
        assert_eq!(neg, t);
        // Slow path: micro-seconds and a colon in the offset.
        let slow = parse_ari_time("2026-11-28T09:58:19.327000+00:00").unwrap();
        assert_eq!(slow, t);
        assert!(parse_ari_time("2026-13-28T09:58:19.327+0000").is_none());
        assert!(parse_ari_time("yesterday").is_none());
    }

    #[test]
    fn formats_like_asterisk() {
        let t = parse_ari_time("2026-11-28T11:58:19.327+0200").unwrap();
        assert_eq!(format_ari_time(&t), "2026-11-28T09:58:19.327+0000");
    }
}
