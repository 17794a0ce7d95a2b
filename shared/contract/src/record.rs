//! The `Record` trait every command and event implements, and the list of all records.

use apache_avro::Schema;
use domain::ids::{EventId, SagaId};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::appointments::{
    AppointmentCancelled, AppointmentCompleted, AppointmentConfirmed, AppointmentCreated,
};
use crate::calls::{CallEnded, CallStarted};
use crate::commands::{
    CancelAppointment, CompleteAppointment, ConfirmAppointment, ScheduleAppointment,
};
use crate::insurance::{InsuranceFailed, InsuranceVerified, VerifyInsurance};
use crate::metrics::HourlyCount;
use crate::notifications::{ConfirmationSent, SendConfirmation};
use crate::validate::Impossible;

/// A record of the contract: one Avro schema (`schemas/<NAME>.avsc`), one topic.
pub trait Record: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Record (and schema) name, e.g. `"AppointmentCreated"`.
    const NAME: &'static str;
    /// The topic this record is published on.
    const TOPIC: &'static str;
    /// Name, topic and schema text together (also listed in [`ALL_RECORDS`]).
    const INFO: RecordInfo;

    /// The committed schema, parsed once per process.
    fn schema() -> &'static Schema;
    /// The Kafka key: the appointment, call or clinic the record is about.
    fn key(&self) -> String;
    /// The record's unique id (the consumers' idempotency key).
    fn event_id(&self) -> EventId;
    /// The booking saga the record belongs to, if any.
    fn saga_id(&self) -> Option<SagaId>;
    /// Checks what the schema cannot say: no nil ids, no absurd times, no empty required
    /// texts, versions from 1 (see [`crate::validate`]). Every decoded record passes through it.
    fn validate(&self) -> Result<(), Impossible>;
}

/// A record's name, topic and committed schema text, without its Rust type.
#[derive(Debug, Clone, Copy)]
pub struct RecordInfo {
    pub name: &'static str,
    pub topic: &'static str,
    /// The exact text of `schemas/<name>.avsc`; registered verbatim in the schema registry.
    pub schema_source: &'static str,
    pub(crate) schema: fn() -> &'static Schema,
}

impl RecordInfo {
    /// The parsed committed schema (parsed once per process), same as [`Record::schema`].
    pub fn schema(&self) -> &'static Schema {
        (self.schema)()
    }

    /// Parses `schema_source` afresh, reporting a parse error instead of panicking.
    pub fn parse_schema(&self) -> Result<Schema, apache_avro::Error> {
        Schema::parse_str(self.schema_source)
    }
}

/// Every record of the contract, in a stable order (commands, then events by producer).
pub const ALL_RECORDS: &[RecordInfo] = &[
    ScheduleAppointment::INFO,
    CancelAppointment::INFO,
    ConfirmAppointment::INFO,
    CompleteAppointment::INFO,
    AppointmentCreated::INFO,
    AppointmentConfirmed::INFO,
    AppointmentCancelled::INFO,
    AppointmentCompleted::INFO,
    VerifyInsurance::INFO,
    InsuranceVerified::INFO,
    InsuranceFailed::INFO,
    SendConfirmation::INFO,
    ConfirmationSent::INFO,
    CallStarted::INFO,
    CallEnded::INFO,
    HourlyCount::INFO,
];

/// The record with this name, if the contract has one.
pub fn record_info(name: &str) -> Option<&'static RecordInfo> {
    ALL_RECORDS.iter().find(|r| r.name == name)
}

/// The record published on this topic, if any.
pub fn record_for_topic(topic: &str) -> Option<&'static RecordInfo> {
    ALL_RECORDS.iter().find(|r| r.topic == topic)
}

/// Implements [`Record`] for a struct whose schema is `schemas/<Type>.avsc`.
///
/// `key` and `saga` are closures over `&Self`, written at the call site; `check` adds the
/// record's own field checks to those every record gets (`event_id`, `occurred_at`).
macro_rules! impl_record {
    ($ty:ident, topic: $topic:literal, key: $key:expr, saga: $saga:expr, check: $check:expr $(,)?) => {
        impl $crate::record::Record for $ty {
            const NAME: &'static str = stringify!($ty);
            const TOPIC: &'static str = $topic;
            const INFO: $crate::record::RecordInfo = $crate::record::RecordInfo {
                name: stringify!($ty),
                topic: $topic,
                schema_source: include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../schemas/",
                    stringify!($ty),
                    ".avsc"
                )),
                schema: <$ty as $crate::record::Record>::schema,
            };

            fn schema() -> &'static ::apache_avro::Schema {
                static SCHEMA: ::std::sync::LazyLock<::apache_avro::Schema> =
                    ::std::sync::LazyLock::new(|| {
                        // The file is part of this crate's source; the `schemas_parse` test
                        // proves it parses, so a failure here is a build defect, not input.
                        ::apache_avro::Schema::parse_str(
                            <$ty as $crate::record::Record>::INFO.schema_source,
                        )
                        .expect(concat!(
                            "schemas/",
                            stringify!($ty),
                            ".avsc must parse"
                        ))
                    });
                &SCHEMA
            }

            fn key(&self) -> String {
                let key: fn(&$ty) -> String = $key;
                key(self)
            }

            fn event_id(&self) -> ::domain::ids::EventId {
                self.event_id
            }

            fn saga_id(&self) -> Option<::domain::ids::SagaId> {
                let saga: fn(&$ty) -> Option<::domain::ids::SagaId> = $saga;
                saga(self)
            }

            fn validate(&self) -> Result<(), $crate::validate::Impossible> {
                let check: fn(&$ty, &mut $crate::validate::Checks) = $check;
                let mut checks = $crate::validate::Checks::new(stringify!($ty));
                checks
                    .id("event_id", self.event_id)
                    .instant("occurred_at", self.occurred_at);
                check(self, &mut checks);
                checks.finish()
            }
        }
    };
}
pub(crate) use impl_record;
