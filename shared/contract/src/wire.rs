//! Serde adapters that pin the Avro wire form of ids (UUID strings) and timestamps (epoch millis).
//!
//! apache-avro's serde bridge is not human-readable by default, so a bare `Uuid` would be
//! written as 16 raw bytes, which does not match `{"type":"string","logicalType":"uuid"}`.
//! These adapters make the wire form explicit and independent of that global setting.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use uuid::Uuid;

/// A UUID that is always serialised as its hyphenated lower-case string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UuidStr(pub(crate) Uuid);

impl Serialize for UuidStr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = Uuid::encode_buffer();
        serializer.serialize_str(self.0.hyphenated().encode_lower(&mut buf))
    }
}

impl<'de> Deserialize<'de> for UuidStr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(UuidVisitor)
    }
}

struct UuidVisitor;

impl Visitor<'_> for UuidVisitor {
    type Value = UuidStr;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a UUID string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<UuidStr, E> {
        // The message deliberately leaves out the input: it may be any field's content.
        Uuid::parse_str(v)
            .map(UuidStr)
            .map_err(|_| E::custom("expected a UUID string"))
    }
}

/// `#[serde(with = "crate::wire::id")]` for any id newtype convertible to and from `Uuid`.
pub(crate) mod id {
    use super::UuidStr;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use uuid::Uuid;

    pub(crate) fn serialize<T, S>(id: &T, serializer: S) -> Result<S::Ok, S::Error>
    where
        T: Copy + Into<Uuid>,
        S: Serializer,
    {
        UuidStr((*id).into()).serialize(serializer)
    }

    pub(crate) fn deserialize<'de, T, D>(deserializer: D) -> Result<T, D::Error>
    where
        T: From<Uuid>,
        D: Deserializer<'de>,
    {
        UuidStr::deserialize(deserializer).map(|u| T::from(u.0))
    }
}

/// `#[serde(with = "crate::wire::opt_id")]` for an optional id (`["null", uuid]` union).
pub(crate) mod opt_id {
    use super::UuidStr;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use uuid::Uuid;

    pub(crate) fn serialize<T, S>(id: &Option<T>, serializer: S) -> Result<S::Ok, S::Error>
    where
        T: Copy + Into<Uuid>,
        S: Serializer,
    {
        id.map(|id| UuidStr(id.into())).serialize(serializer)
    }

    pub(crate) fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        T: From<Uuid>,
        D: Deserializer<'de>,
    {
        Option::<UuidStr>::deserialize(deserializer).map(|o| o.map(|u| T::from(u.0)))
    }
}

/// `#[serde(with = "crate::wire::millis")]`: `timestamp-millis`; sub-millisecond precision is dropped.
pub(crate) use chrono::serde::ts_milliseconds as millis;
