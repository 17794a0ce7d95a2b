//! The compose setup's init hook (localstack/init/init-aws.sh), run as it is against a moto
//! server, a tansu broker and the PostgreSQL server: afterwards the database is migrated, the
//! registry holds every schema, the SES sender exists, every topic exists, and the database
//! secret leads a function back to the database. Twice, since the hook must be idempotent.

use aws_sdk_secretsmanager::Client as Secrets;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::process::Command;
use std::time::Duration;

const SECRET: &str = "clinic-scheduling/hook-test";

fn run_hook(moto: &str, database_url: &str, bootstrap: &str) {
    let hook = testkit::workspace_root().join("localstack/init/init-aws.sh");
    let output = Command::new("sh")
        .arg(&hook)
        .env("CLINIC_LOCAL", env!("CARGO_BIN_EXE_clinic-local"))
        .env("AWS_ENDPOINT_URL", moto)
        .env("AWS_REGION", local::moto::REGION)
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("DATABASE_URL", database_url)
        .env("DATABASE_SECRET_NAME", SECRET)
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
        .env("KAFKA_PARTITIONS", "2")
        .env("RUST_LOG", "warn")
        .output()
        .expect("sh runs the hook");
    assert!(
        output.status.success(),
        "hook failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn the_init_hook_prepares_database_registry_email_topics_and_secret() {
    let moto = testkit::Moto::start();
    let tansu = testkit::Tansu::start();
    let server = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test server");
    let database = format!("clinic_hook_{}", uuid::Uuid::new_v4().simple());
    let mut database_url = url::Url::parse(&server).expect("DATABASE_URL is a URL");
    database_url.set_path(&database);

    run_hook(&moto.endpoint, database_url.as_str(), &tansu.bootstrap);
    run_hook(&moto.endpoint, database_url.as_str(), &tansu.bootstrap);

    let aws = local::moto::sdk_config(&moto.endpoint).await;
    // The registry: every schema findable by its definition.
    let registry = contract::SchemaRegistry::new(
        aws_sdk_glue::Client::new(&aws),
        contract::DEFAULT_REGISTRY_NAME,
    );
    for record in contract::ALL_RECORDS {
        registry
            .version_id(record.name)
            .await
            .unwrap_or_else(|e| panic!("{} is not registered: {e}", record.name));
    }
    // The sender identity.
    let identities = aws_sdk_sesv2::Client::new(&aws)
        .list_email_identities()
        .send()
        .await
        .expect("list identities");
    assert!(identities
        .email_identities()
        .iter()
        .any(|i| i.identity_name() == Some(send_confirmation::DEFAULT_SENDER)));
    // Every topic with the asked-for partitions.
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &tansu.bootstrap)
        .create()
        .expect("client");
    let metadata =
        tokio::task::spawn_blocking(move || consumer.fetch_metadata(None, Duration::from_secs(10)))
            .await
            .expect("metadata task")
            .expect("metadata");
    for topic in messaging::topics::all_topics() {
        let found = metadata.topics().iter().find(|t| t.name() == topic);
        assert_eq!(found.map(|t| t.partitions().len()), Some(2), "{topic}");
    }
    // The secret brings a function (which knows only the secret) back to the migrated database.
    let url = messaging::database::database_url_from_secret(
        &Secrets::new(&aws),
        SECRET,
        &messaging::database::Target::default(),
    )
    .await
    .expect("the secret resolves");
    let pool = store::connect(&url, store::PoolSettings::default())
        .await
        .expect("connects with the secret's credentials");
    let (name, migrated): (String, i64) = sqlx::query_as(
        "SELECT current_database(), (SELECT count(*) FROM _sqlx_migrations WHERE success)",
    )
    .fetch_one(&pool)
    .await
    .expect("query");
    assert_eq!(name, database);
    assert_eq!(
        migrated,
        i64::try_from(store::MIGRATOR.iter().count()).expect("few")
    );
    pool.close().await;
    let admin = store::connect(&server, store::PoolSettings::default())
        .await
        .expect("server");
    sqlx::query(&format!("DROP DATABASE {database} WITH (FORCE)"))
        .execute(&admin)
        .await
        .expect("drop the hook's database");
}
