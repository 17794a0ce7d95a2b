//! Kafka header metadata repeated on every record: ids for deduplication, tracing and causality.

use domain::ids::{EventId, SagaId};
use uuid::Uuid;

use crate::record::Record;

pub const EVENT_ID: &str = "event_id";
pub const EVENT_TYPE: &str = "event_type";
pub const CORRELATION_ID: &str = "correlation_id";
pub const CAUSATION_ID: &str = "causation_id";
pub const TRACEPARENT: &str = "traceparent";

/// The headers of a dead-letter record, the same from both writers: the handler adapter (a
/// record it can never apply: undecodable, impossible, refused) and the event-source-mapping
/// runtime (a record the function kept failing on). A dead-letter record is the original key,
/// value and headers, plus these. docs/how-it-works.md ("Dead letters") documents them.
pub mod dead_letter {
    /// Why the record was given up on (at most 1 KiB, never patient data).
    pub const REASON: &str = "dlq_reason";
    /// The function that gave up on it.
    pub const FUNCTION: &str = "dlq_function";
    pub const SOURCE_TOPIC: &str = "dlq_source_topic";
    pub const SOURCE_PARTITION: &str = "dlq_source_partition";
    pub const SOURCE_OFFSET: &str = "dlq_source_offset";
    /// How many times the function was invoked with the record: 1 + retries from the runtime;
    /// 1 from the adapter, which gives up at once on a record no retry can fix.
    pub const ATTEMPTS: &str = "dlq_attempts";
    /// The reason is cut to this many bytes.
    pub const MAX_REASON_BYTES: usize = 1024;

    /// At most [`MAX_REASON_BYTES`] of `text`, cut at a character boundary.
    pub fn reason(text: &str) -> &str {
        let mut end = text.len().min(MAX_REASON_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        &text[..end]
    }
}

/// The metadata headers of one record. Values travel as UTF-8 text (UUIDs hyphenated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeaders {
    pub event_id: EventId,
    /// The record name, e.g. `"AppointmentCreated"` ([`Record::NAME`]).
    pub event_type: String,
    /// The booking saga (`saga_id`), for records that belong to one.
    pub correlation_id: Option<SagaId>,
    /// The event that caused this record, if it was caused by one.
    pub causation_id: Option<EventId>,
    /// W3C trace context, passed through unchanged.
    pub traceparent: Option<String>,
}

/// A header that is missing or unreadable. Header values are not quoted: they are input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("required header `{0}` is missing")]
    Missing(&'static str),
    #[error("header `{0}` is not UTF-8")]
    NotUtf8(&'static str),
    #[error("header `{0}` is not a UUID")]
    NotUuid(&'static str),
}

impl RecordHeaders {
    /// Headers for `record`, caused by `causation_id` (e.g. the input record's event id).
    pub fn for_record<T: Record>(
        record: &T,
        causation_id: Option<EventId>,
        traceparent: Option<String>,
    ) -> Self {
        RecordHeaders {
            event_id: record.event_id(),
            event_type: T::NAME.to_owned(),
            correlation_id: record.saga_id(),
            causation_id,
            traceparent,
        }
    }

    /// The headers in Kafka form; optional ones are left out when absent.
    pub fn to_kafka_headers(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::with_capacity(5);
        out.push((EVENT_ID.to_owned(), uuid_bytes(self.event_id.0)));
        out.push((EVENT_TYPE.to_owned(), self.event_type.as_bytes().to_vec()));
        if let Some(saga) = self.correlation_id {
            out.push((CORRELATION_ID.to_owned(), uuid_bytes(saga.0)));
        }
        if let Some(cause) = self.causation_id {
            out.push((CAUSATION_ID.to_owned(), uuid_bytes(cause.0)));
        }
        if let Some(trace) = &self.traceparent {
            out.push((TRACEPARENT.to_owned(), trace.as_bytes().to_vec()));
        }
        out
    }

    /// Reads the headers back. Unknown headers are ignored; when a header repeats, the last
    /// one wins (as with Kafka's `lastHeader`).
    pub fn from_kafka_headers(headers: &[(String, Vec<u8>)]) -> Result<Self, HeaderError> {
        let text = |name: &'static str| -> Result<Option<&str>, HeaderError> {
            headers
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| std::str::from_utf8(v).map_err(|_| HeaderError::NotUtf8(name)))
                .transpose()
        };
        let uuid = |name: &'static str| -> Result<Option<Uuid>, HeaderError> {
            text(name)?
                .map(|s| Uuid::parse_str(s).map_err(|_| HeaderError::NotUuid(name)))
                .transpose()
        };
        Ok(RecordHeaders {
            event_id: EventId(uuid(EVENT_ID)?.ok_or(HeaderError::Missing(EVENT_ID))?),
            event_type: text(EVENT_TYPE)?
                .ok_or(HeaderError::Missing(EVENT_TYPE))?
                .to_owned(),
            correlation_id: uuid(CORRELATION_ID)?.map(SagaId),
            causation_id: uuid(CAUSATION_ID)?.map(EventId),
            traceparent: text(TRACEPARENT)?.map(str::to_owned),
        })
    }
}

fn uuid_bytes(id: Uuid) -> Vec<u8> {
    id.hyphenated().to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::{CallEnded, CallOutcome};
    use crate::insurance::InsuranceFailed;
    use chrono::{TimeZone, Utc};
    use domain::ids::{AppointmentId, CallId, ClinicId};

    fn full() -> RecordHeaders {
        RecordHeaders {
            event_id: EventId::new(),
            event_type: "AppointmentCreated".into(),
            correlation_id: Some(SagaId::new()),
            causation_id: Some(EventId::new()),
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        }
    }

    fn value<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }

    #[test]
    fn all_headers_round_trip_under_their_exact_names() {
        let h = full();
        let kafka = h.to_kafka_headers();
        let names: Vec<&str> = kafka.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "event_id",
                "event_type",
                "correlation_id",
                "causation_id",
                "traceparent"
            ]
        );
        assert_eq!(
            value(&kafka, "event_id"),
            Some(h.event_id.to_string().as_bytes())
        );
        assert_eq!(
            value(&kafka, "event_type"),
            Some(&b"AppointmentCreated"[..])
        );
        assert_eq!(RecordHeaders::from_kafka_headers(&kafka), Ok(h));
    }

    #[test]
    fn absent_optional_headers_are_left_out_and_read_back_as_none() {
        let h = RecordHeaders {
            correlation_id: None,
            causation_id: None,
            traceparent: None,
            ..full()
        };
        let kafka = h.to_kafka_headers();
        assert_eq!(kafka.len(), 2);
        assert_eq!(RecordHeaders::from_kafka_headers(&kafka), Ok(h));
    }

    #[test]
    fn headers_for_a_record_take_its_id_name_and_saga() {
        let failed = InsuranceFailed {
            event_id: EventId::new(),
            occurred_at: Utc
                .with_ymd_and_hms(2025, 5, 2, 10, 0, 0)
                .single()
                .expect("valid time"),
            appointment_id: AppointmentId::new(),
            saga_id: SagaId::new(),
            reason: "policy expired".into(),
        };
        let cause = EventId::new();
        let h = RecordHeaders::for_record(&failed, Some(cause), None);
        assert_eq!(h.event_id, failed.event_id);
        assert_eq!(h.event_type, "InsuranceFailed");
        assert_eq!(h.correlation_id, Some(failed.saga_id));
        assert_eq!(h.causation_id, Some(cause));

        let ended = CallEnded {
            event_id: EventId::new(),
            occurred_at: Utc
                .with_ymd_and_hms(2025, 5, 2, 10, 5, 0)
                .single()
                .expect("valid time"),
            call_id: CallId::new(),
            clinic_id: ClinicId::new(),
            agent_id: "agent-17".into(),
            outcome: CallOutcome::Information,
            appointment_id: None,
        };
        let h = RecordHeaders::for_record(&ended, None, None);
        assert_eq!(h.event_type, "CallEnded");
        assert_eq!(h.correlation_id, None);
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        let kafka = full().to_kafka_headers();
        let without = |name: &str| -> Vec<(String, Vec<u8>)> {
            kafka.iter().filter(|(k, _)| k != name).cloned().collect()
        };
        assert_eq!(
            RecordHeaders::from_kafka_headers(&without("event_id")),
            Err(HeaderError::Missing("event_id"))
        );
        assert_eq!(
            RecordHeaders::from_kafka_headers(&without("event_type")),
            Err(HeaderError::Missing("event_type"))
        );

        let mut bad_uuid = without("causation_id");
        bad_uuid.push(("causation_id".into(), b"not-a-uuid".to_vec()));
        let err = RecordHeaders::from_kafka_headers(&bad_uuid).expect_err("bad uuid");
        assert_eq!(err, HeaderError::NotUuid("causation_id"));
        assert!(!err.to_string().contains("not-a-uuid"));

        let mut bad_utf8 = without("traceparent");
        bad_utf8.push(("traceparent".into(), vec![0xff, 0xfe]));
        assert_eq!(
            RecordHeaders::from_kafka_headers(&bad_utf8),
            Err(HeaderError::NotUtf8("traceparent"))
        );
    }

    #[test]
    fn the_last_of_repeated_headers_wins_and_unknown_ones_are_ignored() {
        let h = full();
        let later = EventId::new();
        let mut kafka = h.to_kafka_headers();
        kafka.push(("x-retry-count".into(), b"2".to_vec()));
        kafka.push(("event_id".into(), later.to_string().into_bytes()));
        let read = RecordHeaders::from_kafka_headers(&kafka).expect("headers");
        assert_eq!(read.event_id, later);
        assert_eq!(read.event_type, h.event_type);
    }
}
