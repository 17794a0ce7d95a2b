//! Retention: the purge deletes what is past its period and keeps the rest, an unpublished
//! outbox row above all.

use chrono::{Duration, Utc};
use sqlx::PgPool;
use store::retention::{purge, Purged, Retention};

async fn outbox_row(pool: &PgPool, key: &str, topic: &str, published_days_ago: Option<i64>) {
    let published = published_days_ago.map(|days| Utc::now() - Duration::days(days));
    sqlx::query(
        "INSERT INTO outbox (event_id, topic, record_key, event_type, payload, headers, created_at, published_at)
         VALUES ($1, $2, $3, 'Test', '\\x00', '{}', now() - interval '30 days', $4)",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(topic)
    .bind(key)
    .bind(published)
    .execute(pool)
    .await
    .expect("outbox row");
}

async fn left(pool: &PgPool, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sql).fetch_all(pool).await.expect("rows")
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_purge_deletes_what_is_due_and_keeps_the_rest(pool: PgPool) {
    outbox_row(
        &pool,
        "published-long-ago",
        "appointments.events.created",
        Some(8),
    )
    .await;
    outbox_row(
        &pool,
        "dead-letter-long-ago",
        "appointments.events.created.dlq",
        Some(30),
    )
    .await;
    outbox_row(
        &pool,
        "published-yesterday",
        "appointments.events.created",
        Some(1),
    )
    .await;
    outbox_row(
        &pool,
        "never-published",
        "appointments.events.created",
        None,
    )
    .await;
    for (consumer, days) in [("old", 9), ("recent", 1)] {
        sqlx::query(
            "INSERT INTO processed_messages (consumer, event_id, processed_at)
             VALUES ($1, $2, now() - make_interval(days => $3))",
        )
        .bind(consumer)
        .bind(uuid::Uuid::new_v4())
        .bind(days)
        .execute(&pool)
        .await
        .expect("marker");
    }
    for (key, hours) in [("expired", 25), ("live", 1)] {
        sqlx::query(
            "INSERT INTO booking_requests (agent_id, idempotency_key, request_hash, appointment_id, saga_id, created_at)
             VALUES ('agent', $1, '\\x00', $2, $2, now() - make_interval(hours => $3))",
        )
        .bind(key)
        .bind(uuid::Uuid::new_v4())
        .bind(hours)
        .execute(&pool)
        .await
        .expect("key");
    }

    let purged = purge(&pool, Retention::default(), Utc::now())
        .await
        .expect("purge");
    assert_eq!(
        purged,
        Purged {
            outbox: 2,
            processed_messages: 1,
            booking_requests: 1
        }
    );
    assert_eq!(
        left(&pool, "SELECT record_key FROM outbox ORDER BY record_key").await,
        vec!["never-published", "published-yesterday"]
    );
    assert_eq!(
        left(&pool, "SELECT consumer FROM processed_messages").await,
        vec!["recent"]
    );
    assert_eq!(
        left(&pool, "SELECT idempotency_key FROM booking_requests").await,
        vec!["live"]
    );
    // Nothing more is due: a second purge deletes nothing.
    assert_eq!(
        purge(&pool, Retention::default(), Utc::now())
            .await
            .expect("purge"),
        Purged::default()
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_backlog_larger_than_one_slice_is_purged_whole(pool: PgPool) {
    let rows = store::retention::SLICE + 10;
    sqlx::query(
        "INSERT INTO outbox (event_id, topic, record_key, event_type, payload, headers, published_at)
         SELECT gen_random_uuid(), 't', 'k' || n, 'Test', '\\x00', '{}', now() - interval '10 days'
           FROM generate_series(1, $1) AS n",
    )
    .bind(rows)
    .execute(&pool)
    .await
    .expect("rows");
    let purged = purge(&pool, Retention::default(), Utc::now())
        .await
        .expect("purge");
    assert_eq!(purged.outbox, rows as u64);
}
