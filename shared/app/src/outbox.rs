//! The one [`Outbox`]: the only place where what the domain decided (an appointment event, a
//! saga action, an eligibility answer, a call, a sent email) becomes a contract record, is
//! encoded (Glue-framed Avro with its Kafka headers) and is appended to the `outbox` table in
//! the caller's transaction. `store::outbox` holds the SQL; the publisher (messaging crate)
//! delivers committed rows.
//!
//! No schema-registry call happens under a row lock: a use case that locks a row first calls
//! [`Outbox::prepare`] with the records it may write (a cold registry call takes up to 20 s),
//! so the encoding after the lock is CPU work on cached schemas. A record whose content is
//! known before any lock (a booking) is encoded before it.

use crate::{Cause, Error};
use chrono::{DateTime, Utc};
use contract::{
    AppointmentCancelled, AppointmentCompleted, AppointmentConfirmed, AppointmentCreated,
    CancelAppointment, ConfirmAppointment, ConfirmationSent, HourlyCount, InsuranceFailed,
    InsuranceVerified, Record, RecordHeaders, SchemaRegistry, SendConfirmation, VerifyInsurance,
};
use domain::appointment::{AppointmentEvent, Booking, CommandKind};
use domain::insurance::Eligibility;
use domain::saga::{Saga, SagaAction};
use domain::{AppointmentId, ClinicId, EventId, SagaId};
use sqlx::PgConnection;
use store::catalog::{Clinic, Patient, Provider};
use store::outbox::OutboxRecord;

/// Encodes records with the schema registry and appends them to the outbox.
#[derive(Debug, Clone, Copy)]
pub struct Outbox<'a> {
    registry: &'a SchemaRegistry,
}

impl<'a> Outbox<'a> {
    pub fn new(registry: &'a SchemaRegistry) -> Self {
        Self { registry }
    }

    /// Looks up the schemas of the records named `names`, so that encoding them later (under a
    /// row lock) makes no registry call.
    pub async fn prepare<'n>(&self, names: impl IntoIterator<Item = &'n str>) -> Result<(), Error> {
        for name in names {
            self.registry.version_id(name).await?;
        }
        Ok(())
    }

    /// `record` encoded with its registered schema version, ready to append. `causation` is the
    /// input record that caused it (None for records started by an API call).
    pub async fn encode<T: Record>(
        &self,
        record: &T,
        causation: Option<EventId>,
    ) -> Result<OutboxRecord, Error> {
        let payload = self.registry.encode(record).await?;
        let headers = RecordHeaders::for_record(record, causation, None)
            .to_kafka_headers()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        Ok(OutboxRecord {
            event_id: record.event_id(),
            topic: T::TOPIC.to_owned(),
            key: record.key(),
            event_type: T::NAME.to_owned(),
            payload,
            headers,
        })
    }

    /// Encodes `record` and appends it inside `tx`.
    pub async fn append<T: Record>(
        &self,
        tx: &mut PgConnection,
        record: &T,
        causation: Option<EventId>,
    ) -> Result<(), Error> {
        let encoded = self.encode(record, causation).await?;
        Ok(store::outbox::append(tx, &[encoded]).await?)
    }

    /// The record an appointment event is published as, when it has one. InsuranceVerified has
    /// no topic of its own: the saga's SendConfirmation carries that step, so the state change
    /// alone is stored.
    pub async fn append_appointment_event(
        &self,
        tx: &mut PgConnection,
        saga_id: SagaId,
        appointment_id: AppointmentId,
        event: &AppointmentEvent,
        causation: Option<EventId>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let event_id = EventId::new();
        match event {
            AppointmentEvent::Confirmed { version } => {
                let record = AppointmentConfirmed {
                    event_id,
                    occurred_at: now,
                    appointment_id,
                    appointment_version: *version,
                    saga_id,
                };
                self.append(tx, &record, causation).await
            }
            AppointmentEvent::Cancelled { reason, version } => {
                let record = AppointmentCancelled {
                    event_id,
                    occurred_at: now,
                    appointment_id,
                    appointment_version: *version,
                    saga_id,
                    reason: reason.as_str().to_owned(),
                };
                self.append(tx, &record, causation).await
            }
            AppointmentEvent::Completed { version } => {
                let record = AppointmentCompleted {
                    event_id,
                    occurred_at: now,
                    appointment_id,
                    appointment_version: *version,
                    saga_id,
                };
                self.append(tx, &record, causation).await
            }
            // A new appointment is published by the booking, which knows the names that go
            // with it ([`Outbox::appointment_created`]).
            AppointmentEvent::Created { .. } | AppointmentEvent::InsuranceVerified { .. } => Ok(()),
        }
    }

    /// The record [`Outbox::append_appointment_event`] writes for the events of a command of
    /// `kind`, for [`Outbox::prepare`]; none for a command whose events have no topic.
    pub fn change_record(kind: CommandKind) -> Option<&'static str> {
        match kind {
            CommandKind::Confirm => Some(AppointmentConfirmed::NAME),
            CommandKind::Cancel => Some(AppointmentCancelled::NAME),
            CommandKind::Complete => Some(AppointmentCompleted::NAME),
            CommandKind::Schedule | CommandKind::MarkInsuranceVerified => None,
        }
    }

    /// A new appointment's AppointmentCreated, encoded before the booking takes any lock.
    pub async fn appointment_created(
        &self,
        booking: &Booking,
        version: i32,
        (clinic, provider, patient): (&Clinic, &Provider, &Patient),
        causation: Option<EventId>,
        now: DateTime<Utc>,
    ) -> Result<OutboxRecord, Error> {
        let record = AppointmentCreated {
            event_id: EventId::new(),
            occurred_at: now,
            appointment_id: booking.appointment_id,
            appointment_version: version,
            saga_id: booking.saga_id,
            clinic_id: clinic.id,
            clinic_name: clinic.name.clone(),
            provider_id: provider.id,
            provider_name: provider.name.clone(),
            patient_id: patient.id,
            patient_name: patient.name.clone(),
            patient_email: patient.email.clone(),
            scheduled_for: booking.scheduled_for,
            duration_minutes: booking.kind.duration_minutes() as i32,
            r#type: booking.kind,
            notes: booking.notes.as_ref().map(|n| n.as_str().to_owned()),
        };
        self.encode(&record, causation).await
    }

    /// The command a saga action sends, for `saga` (after its move); VerifyInsurance needs the
    /// appointment's booking, the others do not read it. Its event id is derived from (saga, version, command), so a step retried after
    /// a crash sends the same id again and the outbox keeps one.
    pub async fn saga_command(
        &self,
        saga: &Saga,
        action: &SagaAction,
        booking: Option<&Booking>,
        Cause { causation, now }: Cause,
    ) -> Result<OutboxRecord, Error> {
        let (appointment_id, saga_id) = (saga.appointment_id, saga.saga_id);
        let event_id = saga_command_id(saga, action);
        match action {
            SagaAction::VerifyInsurance => {
                let booking = booking.ok_or(Error::NotFound("appointment"))?;
                let command = VerifyInsurance {
                    event_id,
                    occurred_at: now,
                    appointment_id,
                    saga_id,
                    patient_id: booking.patient_id,
                    clinic_id: booking.clinic_id,
                    scheduled_for: booking.scheduled_for,
                    r#type: booking.kind,
                };
                self.encode(&command, causation).await
            }
            SagaAction::SendConfirmation => {
                let command = SendConfirmation {
                    event_id,
                    occurred_at: now,
                    appointment_id,
                    saga_id,
                };
                self.encode(&command, causation).await
            }
            SagaAction::ConfirmAppointment => {
                let command = ConfirmAppointment {
                    event_id,
                    occurred_at: now,
                    appointment_id,
                    saga_id,
                };
                self.encode(&command, causation).await
            }
            SagaAction::CancelAppointment { reason } => {
                let command = CancelAppointment {
                    event_id,
                    occurred_at: now,
                    appointment_id,
                    saga_id,
                    reason: reason.as_str().to_owned(),
                    requested_by: CancelAppointment::REQUESTED_BY_SAGA.to_owned(),
                };
                self.encode(&command, causation).await
            }
        }
    }

    /// verify-insurance's answer to `command`: InsuranceVerified or InsuranceFailed.
    pub async fn append_eligibility(
        &self,
        tx: &mut PgConnection,
        command: &VerifyInsurance,
        eligibility: Eligibility,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let (event_id, causation) = (EventId::new(), Some(command.event_id));
        let (appointment_id, saga_id) = (command.appointment_id, command.saga_id);
        match eligibility {
            Eligibility::Eligible { payer } => {
                let record = InsuranceVerified {
                    event_id,
                    occurred_at: now,
                    appointment_id,
                    saga_id,
                    payer,
                };
                self.append(tx, &record, causation).await
            }
            Eligibility::Ineligible { reason } => {
                let record = InsuranceFailed {
                    event_id,
                    occurred_at: now,
                    appointment_id,
                    saga_id,
                    reason,
                };
                self.append(tx, &record, causation).await
            }
        }
    }

    /// The HourlyCount for `clinic_id`'s hour `window_start` reaching `count`, caused at `at`.
    /// Deterministic: its event id comes from the window and the count, so a rebuild that
    /// re-decides the same count writes the same record and the outbox keeps one.
    pub fn hourly_count(
        clinic_id: ClinicId,
        window_start: DateTime<Utc>,
        count: i64,
        at: DateTime<Utc>,
    ) -> HourlyCount {
        let name = format!(
            "hourly-count/{clinic_id}/{}/{count}",
            window_start.timestamp_millis()
        );
        HourlyCount {
            event_id: EventId(uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_URL,
                name.as_bytes(),
            )),
            occurred_at: at,
            clinic_id,
            window_start,
            count,
        }
    }

    /// ConfirmationSent for `command`, with SES's message id.
    pub async fn append_confirmation_sent(
        &self,
        tx: &mut PgConnection,
        command: &SendConfirmation,
        message_id: String,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let record = ConfirmationSent {
            event_id: EventId::new(),
            occurred_at: now,
            appointment_id: command.appointment_id,
            saga_id: command.saga_id,
            message_id,
        };
        self.append(tx, &record, Some(command.event_id)).await
    }
}

/// The event id of the command `action` sent by `saga` at its version: the same for a step
/// retried after a crash, so the outbox keeps one; another for each step and command.
fn saga_command_id(saga: &Saga, action: &SagaAction) -> EventId {
    let key = format!("{}/{}", saga.version, action.name());
    EventId(uuid::Uuid::new_v5(&saga.saga_id.0, key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::saga::SagaStep;
    use domain::values::CancelReason;

    fn saga(version: i32) -> Saga {
        Saga {
            saga_id: SagaId(uuid::Uuid::from_u128(7)),
            appointment_id: AppointmentId(uuid::Uuid::from_u128(8)),
            step: SagaStep::InsuranceVerification,
            version,
            deadline: None,
        }
    }

    #[test]
    fn a_retried_step_sends_the_same_command_id_and_every_other_step_a_new_one() {
        let verify = SagaAction::VerifyInsurance;
        assert_eq!(
            saga_command_id(&saga(1), &verify),
            saga_command_id(&saga(1), &verify)
        );
        assert_ne!(
            saga_command_id(&saga(1), &verify),
            saga_command_id(&saga(2), &verify)
        );
        let cancel = SagaAction::CancelAppointment {
            reason: CancelReason::parse("Insurance verification failed").expect("reason"),
        };
        assert_ne!(
            saga_command_id(&saga(2), &verify),
            saga_command_id(&saga(2), &cancel)
        );
        let other_saga = Saga {
            saga_id: SagaId(uuid::Uuid::from_u128(9)),
            ..saga(1)
        };
        assert_ne!(
            saga_command_id(&saga(1), &verify),
            saga_command_id(&other_saga, &verify)
        );
    }

    #[test]
    fn an_hour_reaching_a_count_again_is_the_same_record_and_any_other_count_a_new_one() {
        let clinic = ClinicId(uuid::Uuid::from_u128(3));
        let hour = DateTime::parse_from_rfc3339("2026-12-07T15:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let first = Outbox::hourly_count(clinic, hour, 4, hour);
        let rebuilt = Outbox::hourly_count(clinic, hour, 4, hour + chrono::Duration::minutes(9));
        assert_eq!(first.event_id, rebuilt.event_id);
        assert_eq!((first.count, first.window_start), (4, hour));
        let next = Outbox::hourly_count(clinic, hour, 5, hour);
        assert_ne!(first.event_id, next.event_id);
        let next_hour = Outbox::hourly_count(clinic, hour + chrono::Duration::hours(1), 4, hour);
        assert_ne!(first.event_id, next_hour.event_id);
        let other_clinic = Outbox::hourly_count(ClinicId(uuid::Uuid::from_u128(4)), hour, 4, hour);
        assert_ne!(first.event_id, other_clinic.event_id);
    }
}
