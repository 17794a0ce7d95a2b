//! Avro binary datum encoding and decoding of contract records, with writer→reader schema resolution.
//!
//! Errors here never carry apache-avro's own messages: those quote the offending values,
//! which may be patient data. They name the record and the step that failed instead.

use apache_avro::schema::Schema;
use std::io::{self, Read};
use std::sync::Once;

use crate::record::Record;

/// Largest single allocation the Avro decoder may make while reading a datum.
///
/// apache-avro trusts length prefixes up to 512 MiB by default, so one corrupt record could
/// exhaust a small Lambda. Kafka's default maximum message is 1 MB; 16 MiB leaves room.
pub const MAX_AVRO_ALLOCATION_BYTES: usize = 16 * 1024 * 1024;

/// Why a record could not be encoded or decoded. None of these get better with a retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    #[error("{record}: the value cannot be serialised to Avro")]
    Serialize { record: &'static str },
    #[error("{record}: the value does not match the committed schema")]
    SchemaMismatch { record: &'static str },
    #[error("{record}: the writer schema describes record {writer}, not {record}")]
    WrongRecord {
        record: &'static str,
        writer: String,
    },
    #[error("{record}: the datum is truncated or corrupt for its writer schema")]
    Malformed { record: &'static str },
    #[error("{record}: {count} bytes left over after the datum")]
    TrailingBytes { record: &'static str, count: usize },
    #[error("{record}: the writer schema cannot be resolved to the current schema")]
    Resolution { record: &'static str },
    #[error("{record}: the resolved datum does not fit the Rust type")]
    Deserialize { record: &'static str },
}

/// Encodes `record` as an Avro binary datum (no framing), validated against `T::schema()`.
pub fn encode_datum<T: Record>(record: &T) -> Result<Vec<u8>, ContractError> {
    let value =
        apache_avro::to_value(record).map_err(|_| ContractError::Serialize { record: T::NAME })?;
    apache_avro::to_avro_datum(T::schema(), value)
        .map_err(|_| ContractError::SchemaMismatch { record: T::NAME })
}

/// Decodes a datum written with `writer_schema` into the current `T`.
///
/// The writer schema may be an older (or newer) version of `T`'s schema: Avro schema resolution
/// fills fields the writer did not know with their defaults and drops fields the reader does
/// not know. The whole input must be one datum.
pub fn decode_datum<T: Record>(datum: &[u8], writer_schema: &Schema) -> Result<T, ContractError> {
    limit_avro_allocations();
    check_record_name::<T>(writer_schema)?;
    let mut reader = StrictSlice { rest: datum };
    let written = apache_avro::from_avro_datum(writer_schema, &mut reader, None)
        .map_err(|_| ContractError::Malformed { record: T::NAME })?;
    if !reader.rest.is_empty() {
        return Err(ContractError::TrailingBytes {
            record: T::NAME,
            count: reader.rest.len(),
        });
    }
    let resolved = written
        .resolve(T::schema())
        .map_err(|_| ContractError::Resolution { record: T::NAME })?;
    apache_avro::from_value::<T>(&resolved)
        .map_err(|_| ContractError::Deserialize { record: T::NAME })
}

/// Avro resolution matches fields by name only, so a different record with similar fields
/// could "decode"; the record name is the contract's guard against a record on the wrong topic.
fn check_record_name<T: Record>(writer_schema: &Schema) -> Result<(), ContractError> {
    match writer_schema {
        Schema::Record(r) if r.name.name == T::NAME => Ok(()),
        Schema::Record(r) => Err(ContractError::WrongRecord {
            record: T::NAME,
            writer: r.name.name.clone(),
        }),
        other => Err(ContractError::WrongRecord {
            record: T::NAME,
            writer: format!(
                "a non-record schema ({:?})",
                apache_avro::schema::SchemaKind::from(other)
            ),
        }),
    }
}

/// A reader over the datum that reports running out as an error rather than end-of-file.
///
/// apache-avro 0.21 decodes end-of-file where a union index should be as `null`, so a datum
/// cut off just before a trailing optional field would silently decode with that field empty.
/// A well-formed datum is never read past its end, so this changes nothing else.
struct StrictSlice<'a> {
    rest: &'a [u8],
}

impl Read for StrictSlice<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.rest.is_empty() && !buf.is_empty() {
            return Err(io::Error::other("the datum ended early"));
        }
        let n = buf.len().min(self.rest.len());
        let (head, tail) = self.rest.split_at(n);
        buf[..n].copy_from_slice(head);
        self.rest = tail;
        Ok(n)
    }
}

fn limit_avro_allocations() {
    static LIMIT: Once = Once::new();
    // First caller wins (apache-avro keeps the value in a OnceLock); if the host process
    // already chose a limit, that one stays.
    LIMIT.call_once(|| {
        apache_avro::util::max_allocation_bytes(MAX_AVRO_ALLOCATION_BYTES);
    });
}
