//! The Kafka handler adapter, driven with AWS-shaped events (no broker): one transaction per
//! record with its marker, duplicates skipped, poison records dead-lettered through the outbox,
//! transient failures reported for retry, arrival order irrelevant to the read model.

use crate::support::*;
use chrono::{Duration, Utc, Weekday};
use contract::{AppointmentConfirmed, AppointmentCreated, Record, ScheduleAppointment};
use domain::{AppointmentId, AppointmentType, EventId, SagaId};
use messaging::{handle_batch, Deadline, FunctionContext};
use project_appointments::ProjectAppointmentsFn;
use schedule_appointment::ScheduleAppointmentFn;
use serde_json::json;
use sqlx::PgPool;

async fn context(pool: &PgPool) -> FunctionContext {
    store::demo::seed(pool, Utc::now().date_naive())
        .await
        .expect("seed");
    FunctionContext::new(pool.clone(), testkit::registry().await, None)
}

fn schedule_command(patient: u128, hh_mm: &str) -> ScheduleAppointment {
    let start = domain::values::parse_start_time(
        &local(next(Weekday::Wed), hh_mm),
        chrono_tz::America::Los_Angeles,
    )
    .expect("time");
    ScheduleAppointment {
        event_id: EventId::new(),
        occurred_at: Utc::now(),
        appointment_id: AppointmentId::new(),
        saga_id: SagaId::new(),
        clinic_id: clinic_id(BAYVIEW),
        patient_id: patient_id(patient),
        provider_id: None,
        scheduled_for: start,
        r#type: AppointmentType::Routine,
        notes: None,
    }
}

async fn count_where(pool: &PgPool, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(pool).await.expect("count");
    n
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_command_delivered_twice_books_once_and_emits_once(pool: PgPool) {
    let ctx = context(&pool).await;
    let command = schedule_command(3, "10:00");
    let bytes = ctx.registry.encode(&command).await.expect("encode");
    let topic = ScheduleAppointment::TOPIC;
    // Twice in one batch, then again in a later batch (a redelivery after a lost commit).
    let first = handle_batch(
        &ctx,
        &ScheduleAppointmentFn,
        kafka_event(&[(topic, 0, 7, bytes.clone()), (topic, 0, 8, bytes.clone())]),
        Deadline::NONE,
    )
    .await;
    let again = handle_batch(
        &ctx,
        &ScheduleAppointmentFn,
        kafka_event(&[(topic, 0, 7, bytes)]),
        Deadline::NONE,
    )
    .await;
    assert!(
        first.is_success() && again.is_success(),
        "{first:?} {again:?}"
    );
    assert_eq!(
        count_where(&pool, "SELECT count(*) FROM appointments").await,
        1
    );
    assert_eq!(
        count_where(
            &pool,
            "SELECT count(*) FROM outbox WHERE event_type = 'AppointmentCreated'"
        )
        .await,
        1
    );
    let (causation,): (serde_json::Value,) =
        sqlx::query_as("SELECT headers->'causation_id' FROM outbox")
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!(
        causation,
        json!(command.event_id.to_string()),
        "the event names the command that caused it"
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn poison_records_are_dead_lettered_with_a_reason_and_the_batch_moves_on(pool: PgPool) {
    let ctx = context(&pool).await;
    let topic = ScheduleAppointment::TOPIC;
    let valid = ctx
        .registry
        .encode(&schedule_command(4, "11:00"))
        .await
        .expect("encode");
    let mut unknown_version = valid.clone();
    unknown_version[2..18].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let mut closed_clinic_day = schedule_command(5, "11:00");
    closed_clinic_day.scheduled_for = Utc::now() - Duration::days(1);
    let impossible = ctx
        .registry
        .encode(&closed_clinic_day)
        .await
        .expect("encode");
    let event = kafka_event(&[
        (topic, 0, 1, b"garbage bytes".to_vec()),
        (topic, 0, 2, unknown_version),
        (topic, 0, 3, impossible),
        (topic, 0, 4, valid),
    ]);

    let response = handle_batch(&ctx, &ScheduleAppointmentFn, event.clone(), Deadline::NONE).await;
    assert!(response.is_success(), "poison is not retried: {response:?}");
    assert_eq!(
        count_where(&pool, "SELECT count(*) FROM appointments").await,
        1,
        "the valid record is processed"
    );
    let dead: Vec<(String, String, String, Vec<u8>)> = sqlx::query_as(
        "SELECT topic, headers->>'dlq_source_offset', headers->>'dlq_reason', payload FROM outbox
         WHERE event_type = 'DeadLetter' ORDER BY (headers->>'dlq_source_offset')::int",
    )
    .fetch_all(&pool)
    .await
    .expect("dead letters");
    assert_eq!(dead.len(), 3);
    assert!(dead
        .iter()
        .all(|(t, ..)| t == "appointments.commands.schedule.dlq"));
    assert_eq!(dead[0].1, "1");
    assert_eq!(dead[0].3, b"garbage bytes", "the original bytes are kept");
    assert!(
        dead[1].2.to_lowercase().contains("schema version"),
        "{}",
        dead[1].2
    );
    assert!(dead[2].2.contains("past"), "{}", dead[2].2);

    // Redelivering the same batch dead-letters nothing twice and books nothing twice.
    assert!(
        handle_batch(&ctx, &ScheduleAppointmentFn, event, Deadline::NONE)
            .await
            .is_success()
    );
    assert_eq!(
        count_where(
            &pool,
            "SELECT count(*) FROM outbox WHERE event_type = 'DeadLetter'"
        )
        .await,
        3
    );
    assert_eq!(
        count_where(&pool, "SELECT count(*) FROM appointments").await,
        1
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_transient_failure_reports_the_record_and_the_rest_of_its_partition(pool: PgPool) {
    let ctx = context(&pool).await;
    let topic = ScheduleAppointment::TOPIC;
    let a = ctx
        .registry
        .encode(&schedule_command(3, "09:00"))
        .await
        .expect("encode");
    let b = ctx
        .registry
        .encode(&schedule_command(4, "09:30"))
        .await
        .expect("encode");
    let c = ctx
        .registry
        .encode(&schedule_command(5, "10:30"))
        .await
        .expect("encode");
    // The second appointment insert hits a serialization failure (retryable, SQLSTATE 40001).
    sqlx::raw_sql(&format!(
        "CREATE FUNCTION flaky() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.patient_id = '{}' THEN RAISE EXCEPTION 'try again' USING ERRCODE = '40001'; END IF; RETURN NEW; END $$;
         CREATE TRIGGER flaky BEFORE INSERT ON appointments FOR EACH ROW EXECUTE FUNCTION flaky();",
        patient_id(4)
    ))
    .execute(&pool)
    .await
    .expect("trigger");

    let response = handle_batch(
        &ctx,
        &ScheduleAppointmentFn,
        kafka_event(&[(topic, 1, 10, a), (topic, 1, 11, b), (topic, 1, 12, c)]),
        Deadline::NONE,
    )
    .await;

    let failed: Vec<(String, i64)> = response
        .batch_item_failures
        .iter()
        .map(|f| {
            (
                f.item_identifier.partition.clone(),
                f.item_identifier.offset,
            )
        })
        .collect();
    assert_eq!(
        failed,
        [(format!("{topic}-1"), 11), (format!("{topic}-1"), 12)]
    );
    assert_eq!(
        count_where(&pool, "SELECT count(*) FROM appointments").await,
        1,
        "only the record before the failure"
    );
    assert_eq!(
        count_where(
            &pool,
            "SELECT count(*) FROM outbox WHERE event_type = 'DeadLetter'"
        )
        .await,
        0
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_confirmed_event_before_its_created_event_ends_in_the_right_row(pool: PgPool) {
    let ctx = context(&pool).await;
    let (appointment_id, saga_id) = (AppointmentId::new(), SagaId::new());
    let clinic = store::demo::clinics().into_iter().next().expect("clinic");
    let created = AppointmentCreated {
        occurred_at: Utc::now() - Duration::seconds(5),
        ..appointment_created(appointment_id, saga_id, BAYVIEW)
    };
    let confirmed = AppointmentConfirmed {
        event_id: EventId::new(),
        occurred_at: Utc::now(),
        appointment_id,
        appointment_version: 3,
        saga_id,
    };
    let confirmed_bytes = ctx.registry.encode(&confirmed).await.expect("encode");
    let created_bytes = ctx.registry.encode(&created).await.expect("encode");

    for event in [
        kafka_event(&[(AppointmentConfirmed::TOPIC, 0, 0, confirmed_bytes)]),
        kafka_event(&[(AppointmentCreated::TOPIC, 2, 0, created_bytes)]),
    ] {
        assert!(
            handle_batch(&ctx, &ProjectAppointmentsFn, event, Deadline::NONE)
                .await
                .is_success()
        );
    }
    let row = store::read_model::get_summary(&pool, appointment_id)
        .await
        .expect("query")
        .expect("row");
    assert_eq!((row.status.as_str(), row.version), ("CONFIRMED", 3));
    assert_eq!(row.clinic_name.as_deref(), Some(clinic.name.as_str()));
    assert_eq!(row.patient_name.as_deref(), Some("Chloe Lee"));
    // Avro timestamp-millis keeps milliseconds.
    assert_eq!(
        row.scheduled_for.map(|t| t.timestamp_millis()),
        Some(created.scheduled_for.timestamp_millis())
    );
}

/// A function with an outside call: each record takes [`SlowCall::TAKES`], and it declares
/// twice that as its [`KafkaFunction::RECORD_TIME`]. Notes when each record started.
struct SlowCall {
    started: std::sync::Mutex<Vec<(EventId, tokio::time::Instant)>>,
}

impl SlowCall {
    const TAKES: std::time::Duration = std::time::Duration::from_millis(200);
}

#[async_trait::async_trait]
impl messaging::KafkaFunction for SlowCall {
    const NAME: &'static str = "test-slow-call";
    const EXTERNAL_EFFECTS: bool = true;
    const RECORD_TIME: std::time::Duration = std::time::Duration::from_millis(400);
    type Input = ScheduleAppointment;

    async fn effect(
        &self,
        _: &FunctionContext,
        input: &ScheduleAppointment,
    ) -> Result<(), messaging::HandlerError> {
        self.started
            .lock()
            .expect("started")
            .push((input.event_id, tokio::time::Instant::now()));
        tokio::time::sleep(Self::TAKES).await;
        Ok(())
    }

    async fn apply(
        &self,
        _: &FunctionContext,
        _: &mut sqlx::PgConnection,
        _: ScheduleAppointment,
    ) -> Result<(), messaging::HandlerError> {
        Ok(())
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_function_with_outside_calls_starts_no_record_it_cannot_finish_before_its_deadline(
    pool: PgPool,
) {
    use messaging::KafkaFunction;
    let ctx = context(&pool).await;
    let topic = ScheduleAppointment::TOPIC;
    let mut records = Vec::new();
    for offset in 0..10 {
        let command = schedule_command(3, "10:00");
        let bytes = ctx.registry.encode(&command).await.expect("encode");
        records.push((command.event_id, (topic, 0, offset, bytes)));
    }
    let event = kafka_event(&records.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>());
    // One key: the records run one after the other, 2 s in all, against 1.3 s left.
    let function = SlowCall {
        started: Default::default(),
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(1300);
    let response = handle_batch(&ctx, &function, event.clone(), Deadline::at(deadline)).await;
    let answered = tokio::time::Instant::now();

    let started = function.started.lock().expect("started").clone();
    assert!(!started.is_empty(), "the first records fit");
    for (_, at) in &started {
        assert!(
            deadline.saturating_duration_since(*at) >= SlowCall::RECORD_TIME,
            "a record started with less than its RECORD_TIME left"
        );
    }
    assert!(
        answered <= deadline,
        "the invocation answered after its deadline"
    );
    // The records applied are the first ones, and every other one is handed back.
    let applied: Vec<EventId> = started.iter().map(|(id, _)| *id).collect();
    let expected: Vec<EventId> = records[..applied.len()].iter().map(|(id, _)| *id).collect();
    assert_eq!(applied, expected);
    let handed_back: Vec<i64> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.offset)
        .collect();
    assert_eq!(
        handed_back,
        (applied.len() as i64..10).collect::<Vec<_>>(),
        "the records not started come back, in order"
    );
    assert!(!handed_back.is_empty(), "2 s of work cannot fit in 1.3 s");

    // The next invocation, with time enough, takes the rest; the first ones are duplicates.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let response = handle_batch(&ctx, &function, event, Deadline::at(deadline)).await;
    assert!(response.is_success(), "{response:?}");
    assert_eq!(
        function.started.lock().expect("started").len(),
        10,
        "each record applied once"
    );
}
