//! A length of time as `slipway.yaml` writes it (`90s`, `15m`, `2h`, `1d`): a batch's grace and
//! maximum runtime, a log rule's grouping period. Imports nothing of supervision's.

use std::fmt;

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

/// A length of time written `90s`, `15m`, `2h` or `1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Period(SignedDuration);

impl Period {
    pub const fn from_secs(secs: i64) -> Period {
        Period(SignedDuration::from_secs(secs))
    }

    pub fn parse(s: &str) -> Result<Period, String> {
        let bad = || {
            format!("`{s}` is not a duration; write a whole number and a unit: 90s, 15m, 2h or 1d")
        };
        let s_trim = s.trim();
        let unit_at = s_trim
            .char_indices()
            .last()
            .map(|(i, _)| i)
            .ok_or_else(bad)?;
        let (number, unit) = s_trim.split_at(unit_at);
        let number: i64 = number.parse().map_err(|_| bad())?;
        if number < 0 {
            return Err(bad());
        }
        let seconds_per = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        // Bounded to a year: beyond that the value is a typo, and the product cannot overflow.
        let seconds = number
            .checked_mul(seconds_per)
            .filter(|s| *s <= 366 * 86_400);
        seconds
            .map(|s| Period(SignedDuration::from_secs(s)))
            .ok_or_else(|| format!("`{s}` is longer than a year; write at most 366d"))
    }

    pub fn duration(self) -> SignedDuration {
        self.0
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.as_secs();
        match s {
            0 => write!(f, "0s"),
            s if s % 86_400 == 0 => write!(f, "{}d", s / 86_400),
            s if s % 3600 == 0 => write!(f, "{}h", s / 3600),
            s if s % 60 == 0 => write!(f, "{}m", s / 60),
            s => write!(f, "{s}s"),
        }
    }
}

impl Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Period::parse(&s).map_err(serde::de::Error::custom)
    }
}
