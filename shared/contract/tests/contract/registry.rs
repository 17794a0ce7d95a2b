//! The registry client against a real moto server: idempotent registration, framed round
//! trips, caching, and which failures a retry can fix.

use crate::samples::*;
use contract::*;
use domain::ids::*;
use domain::AppointmentType;
use std::collections::BTreeSet;
use testkit::{glue_client, Moto};
use uuid::Uuid;

async fn registry(moto: &Moto, name: &str) -> SchemaRegistry {
    SchemaRegistry::new(glue_client(&moto.endpoint).await, name)
}

async fn latest_version_number(moto: &Moto, registry: &str, schema: &str) -> i64 {
    let client = glue_client(&moto.endpoint).await;
    let out = client
        .get_schema()
        .schema_id(
            aws_sdk_glue::types::SchemaId::builder()
                .registry_name(registry)
                .schema_name(schema)
                .build(),
        )
        .send()
        .await
        .expect("get_schema");
    out.latest_schema_version().expect("latest version")
}

#[tokio::test]
async fn register_all_is_idempotent() {
    let moto = Moto::start();
    let reg = registry(&moto, "idempotent").await;

    let first = reg.register_all().await.expect("first registration");
    let names: BTreeSet<&str> = first.keys().copied().collect();
    let all: BTreeSet<&str> = ALL_RECORDS.iter().map(|r| r.name).collect();
    assert_eq!(names, all);
    let distinct: BTreeSet<Uuid> = first.values().copied().collect();
    assert_eq!(
        distinct.len(),
        ALL_RECORDS.len(),
        "each record has its own version"
    );

    // A second run, from a fresh client as a second deployment would do.
    let again = registry(&moto, "idempotent").await;
    let second = again.register_all().await.expect("second registration");
    assert_eq!(first, second);
    // One CreateRegistry (already exists) and one lookup per record: nothing created.
    assert_eq!(again.registry_calls(), 1 + ALL_RECORDS.len() as u64);
    for info in ALL_RECORDS {
        assert_eq!(
            latest_version_number(&moto, "idempotent", info.name).await,
            1,
            "{}",
            info.name
        );
    }
}

#[tokio::test]
async fn a_changed_schema_is_registered_as_a_new_version() {
    let moto = Moto::start();
    let client = glue_client(&moto.endpoint).await;
    client
        .create_registry()
        .registry_name("evolving")
        .send()
        .await
        .expect("create registry");
    // An older HourlyCount already registered (without its docs, say).
    let older = HourlyCount::INFO.schema().canonical_form();
    let old_id = client
        .create_schema()
        .registry_id(
            aws_sdk_glue::types::RegistryId::builder()
                .registry_name("evolving")
                .build(),
        )
        .schema_name("HourlyCount")
        .data_format(aws_sdk_glue::types::DataFormat::Avro)
        .compatibility(aws_sdk_glue::types::Compatibility::Backward)
        .schema_definition(&older)
        .send()
        .await
        .expect("create older schema")
        .schema_version_id()
        .expect("id")
        .parse::<Uuid>()
        .expect("uuid");

    let reg = registry(&moto, "evolving").await;
    let ids = reg.register_all().await.expect("register");
    let new_id = ids["HourlyCount"];
    assert_ne!(new_id, old_id);
    assert_eq!(
        latest_version_number(&moto, "evolving", "HourlyCount").await,
        2
    );
    let stored = client
        .get_schema_version()
        .schema_version_id(new_id.to_string())
        .send()
        .await
        .expect("get version");
    assert_eq!(
        stored.schema_definition(),
        Some(HourlyCount::INFO.schema_source)
    );

    // A record framed with the old version still decodes, through its own writer schema.
    let h = hourly_count(12);
    let datum = encode_datum(&h).expect("encode");
    let framed = frame(old_id, &datum);
    let fresh = registry(&moto, "evolving").await;
    assert_eq!(
        fresh.decode::<HourlyCount>(&framed).await.expect("decode"),
        h
    );
}

#[tokio::test]
async fn records_round_trip_through_the_registry_and_carry_their_version() {
    let moto = Moto::start();
    let reg = registry(&moto, "round-trip").await;
    let ids = reg.register_all().await.expect("register");

    let created = created(AppointmentType::Emergency, Some("flashes and floaters"));
    let bytes = reg.encode(&created).await.expect("encode");
    let (version, _) = unframe(&bytes).expect("framed");
    assert_eq!(version, ids["AppointmentCreated"]);
    assert_eq!(
        reg.decode::<AppointmentCreated>(&bytes)
            .await
            .expect("decode"),
        created
    );

    let ended = call_ended(CallOutcome::Cancelled, Some(AppointmentId::new()));
    let bytes = reg.encode(&ended).await.expect("encode");
    assert_eq!(
        reg.decode::<CallEnded>(&bytes).await.expect("decode"),
        ended
    );

    // Bytes of one record type offered as another: refused, permanently.
    let err = reg
        .decode::<CallStarted>(&bytes)
        .await
        .expect_err("wrong record");
    assert!(
        matches!(err, DecodeError::Datum(ContractError::WrongRecord { .. })),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn once_warm_no_record_costs_a_registry_call() {
    let moto = Moto::start();
    registry(&moto, "warm")
        .await
        .register_all()
        .await
        .expect("register");

    // Producer and consumer are separate processes with their own caches.
    let producer = registry(&moto, "warm").await;
    let consumer = registry(&moto, "warm").await;
    let first = producer.encode(&confirmation_sent()).await.expect("encode");
    assert_eq!(
        producer.registry_calls(),
        1,
        "the first encode looks the version up"
    );
    consumer
        .decode::<ConfirmationSent>(&first)
        .await
        .expect("decode");
    assert_eq!(
        consumer.registry_calls(),
        1,
        "the first decode fetches the writer schema"
    );

    let (producer_calls, consumer_calls) = (producer.registry_calls(), consumer.registry_calls());
    for i in 0..1000 {
        let record = confirmation_sent();
        let bytes = producer.encode(&record).await.expect("encode");
        let back: ConfirmationSent = consumer.decode(&bytes).await.expect("decode");
        assert_eq!(back, record, "record {i}");
    }
    assert_eq!(producer.registry_calls(), producer_calls);
    assert_eq!(consumer.registry_calls(), consumer_calls);

    // Clones share the cache.
    let clone = producer.clone();
    clone.encode(&confirmation_sent()).await.expect("encode");
    assert_eq!(producer.registry_calls(), producer_calls);
}

#[tokio::test]
async fn an_unknown_schema_version_is_permanent() {
    let moto = Moto::start();
    let reg = registry(&moto, "unknown-version").await;
    reg.register_all().await.expect("register");
    let unknown = Uuid::new_v4();
    let framed = frame(
        unknown,
        &encode_datum(&send_confirmation()).expect("encode"),
    );
    let err = reg
        .decode::<SendConfirmation>(&framed)
        .await
        .expect_err("unknown version");
    assert!(
        matches!(err, DecodeError::UnknownSchemaVersion(id) if id == unknown),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert!(err.to_string().contains(&unknown.to_string()), "{err}");
}

#[tokio::test]
async fn a_record_with_the_nil_event_id_is_impossible_and_permanent() {
    let moto = Moto::start();
    let reg = registry(&moto, "nil-event-id").await;
    reg.register_all().await.expect("register");
    let mut record = send_confirmation();
    record.event_id = EventId(Uuid::nil());
    let framed = reg.encode(&record).await.expect("schema-valid");
    let err = reg
        .decode::<SendConfirmation>(&framed)
        .await
        .expect_err("impossible");
    assert!(
        matches!(
            err,
            DecodeError::Impossible(Impossible {
                field: "event_id",
                ..
            })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("nil UUID"), "{err}");
    assert!(!err.is_retryable());
    record.event_id = EventId::new();
    let valid = reg.encode(&record).await.expect("encode");
    assert_eq!(
        reg.decode::<SendConfirmation>(&valid)
            .await
            .expect("decode"),
        record
    );
}

#[tokio::test]
async fn a_bad_frame_is_permanent_and_costs_no_registry_call() {
    let moto = Moto::start();
    let reg = registry(&moto, "bad-frame").await;
    let mut framed = frame(Uuid::new_v4(), b"\x02");
    framed[1] = 5;
    let err = reg
        .decode::<ConfirmAppointment>(&framed)
        .await
        .expect_err("compressed");
    assert!(
        matches!(
            err,
            DecodeError::Frame(FrameError::UnsupportedCompression(5))
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(reg.registry_calls(), 0);
}

#[tokio::test]
async fn encoding_before_registration_is_retryable() {
    let moto = Moto::start();
    let reg = registry(&moto, "not-yet").await;
    let err = reg
        .encode(&confirm())
        .await
        .expect_err("nothing registered");
    assert!(
        matches!(
            err,
            EncodeError::Registry(RegistryError::NotRegistered {
                name: "ConfirmAppointment",
                ..
            })
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn an_unreachable_registry_is_retryable() {
    let port = testkit::free_port().expect("port");
    let reg = SchemaRegistry::new(
        glue_client(&format!("http://127.0.0.1:{port}")).await,
        "dead",
    );
    let framed = frame(Uuid::new_v4(), &encode_datum(&confirm()).expect("encode"));
    let err = reg
        .decode::<ConfirmAppointment>(&framed)
        .await
        .expect_err("nobody listens");
    assert!(matches!(err, DecodeError::Registry(_)), "{err:?}");
    assert!(err.is_retryable(), "{err:?}");

    let err = reg.encode(&confirm()).await.expect_err("nobody listens");
    assert!(err.is_retryable(), "{err:?}");
    let err = reg.register_all().await.expect_err("nobody listens");
    assert!(err.is_retryable(), "{err:?}");
}
