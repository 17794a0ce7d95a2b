//! The message contract every function shares: one Avro record per command and event, its
//! topic and key, the Glue Schema Registry wire format, Kafka metadata headers, and the
//! registry client that encodes and decodes records.
//!
//! The schemas in `schemas/*.avsc` are the source of truth; the Rust types mirror them field
//! for field (the tests hold the two together) and schema changes must stay backward
//! compatible with every committed version.

pub mod appointments;
pub mod calls;
pub mod commands;
pub mod compat;
pub mod datum;
pub mod frame;
pub mod headers;
pub mod insurance;
pub mod lambda;
pub mod metrics;
pub mod notifications;
pub mod record;
pub mod registry;
pub mod validate;
mod wire;

pub use appointments::{
    AppointmentCancelled, AppointmentCompleted, AppointmentConfirmed, AppointmentCreated,
};
pub use calls::{CallEnded, CallOutcome, CallStarted};
pub use commands::{
    CancelAppointment, CompleteAppointment, ConfirmAppointment, ScheduleAppointment,
};
pub use compat::check_backward_compatible;
pub use datum::{decode_datum, encode_datum, ContractError};
pub use frame::{frame, unframe, FrameError};
pub use headers::{HeaderError, RecordHeaders};
pub use insurance::{InsuranceFailed, InsuranceVerified, VerifyInsurance};
pub use metrics::HourlyCount;
pub use notifications::{ConfirmationSent, SendConfirmation};
pub use record::{record_for_topic, record_info, Record, RecordInfo, ALL_RECORDS};
pub use registry::{DecodeError, EncodeError, RegistryError, SchemaRegistry};
pub use validate::Impossible;

/// The Glue Schema Registry holding this product's schemas, unless `SCHEMA_REGISTRY_NAME` says otherwise.
pub const DEFAULT_REGISTRY_NAME: &str = "clinic-scheduling";
