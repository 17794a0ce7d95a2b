//! `clinic-local`: runs the scheduling back office on one machine.
//!
//! `up` starts everything (the tansu broker and its topics, moto unless `AWS_ENDPOINT_URL`
//! names another endpoint, migrations, schema registration, demo data, every Kafka-triggered
//! function behind the local event-source-mapping runtime, the outbox relay, the API and the
//! built dashboard on 127.0.0.1) and stops it all on Ctrl-C. The other
//! subcommands are the individual, idempotent set-up steps; `create-topics` and `init-aws` are
//! also the cloud deploy steps (docs/deploy.md).

use anyhow::Context;
use clap::{Parser, Subcommand};
use contract::SchemaRegistry;
use local::moto::MotoServer;
use local::tansu::TansuBroker;
use std::net::SocketAddr;

#[derive(Parser, Debug)]
#[command(
    name = "clinic-local",
    about = "Run the optometry scheduling back office locally"
)]
struct Cli {
    /// PostgreSQL database (created if missing). Without it, the secret DATABASE_SECRET_ARN
    /// (with DATABASE_HOST, DATABASE_NAME, DATABASE_SSLMODE) as the functions read it in the
    /// cloud; without both, the local server's clinic_scheduling.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Glue Schema Registry name.
    #[arg(long, env = "SCHEMA_REGISTRY_NAME", default_value = contract::DEFAULT_REGISTRY_NAME)]
    registry_name: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the whole local system and serve the API until Ctrl-C.
    Up(UpArgs),
    /// Create the database if missing and apply migrations.
    Migrate,
    /// Register every schema in schemas/ with the registry (idempotent).
    RegisterSchemas,
    /// Load the demo clinics, providers and patients (once).
    Seed,
    /// Rebuild projections on the running stack (`up`): each one's mappings are paused, its
    /// tables emptied, its consumer groups rewound to the earliest offsets, and its topics
    /// replayed; returns when caught up.
    Rebuild(RebuildArgs),
    /// Create every topic and its dead-letter topic (idempotent): Kafka admin over PLAINTEXT,
    /// or MSK's topic API with `--msk-cluster-arn` (IAM; default AWS credentials).
    CreateTopics(CreateTopicsArgs),
    /// Create the Glue registry and schemas, the SES sender identity and the database secret
    /// (idempotent) wherever the AWS configuration points (`AWS_ENDPOINT_URL` for moto or
    /// LocalStack).
    InitAws {
        /// Secrets Manager secret that receives the database credentials (from --database-url).
        #[arg(long, env = "DATABASE_SECRET_NAME", default_value = DATABASE_SECRET_NAME)]
        database_secret_name: String,
    },
}

#[derive(clap::Args, Debug)]
struct UpArgs {
    /// API port on 127.0.0.1.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    port: u16,
    /// Port for the moto server this command starts (when AWS_ENDPOINT_URL is not set).
    #[arg(long, env = "MOTO_PORT", default_value_t = 5055)]
    moto_port: u16,
    /// Port for the tansu Kafka broker this command starts.
    #[arg(long, env = "KAFKA_PORT", default_value_t = 9092)]
    kafka_port: u16,
    /// Partitions per topic for topics created locally.
    #[arg(long, env = "KAFKA_PARTITIONS", default_value_t = 3)]
    partitions: i32,
    /// Invoke the functions through the Lambda Invoke API at this URL (e.g. `cargo lambda
    /// watch` on http://127.0.0.1:9000) instead of in process.
    #[arg(long, env = "LAMBDA_INVOKE_URL")]
    invoke_url: Option<String>,
    /// Where the broker keeps its data (survives restarts).
    #[arg(long, env = "LOCAL_DATA_DIR", default_value = ".local")]
    data_dir: std::path::PathBuf,
}

#[derive(clap::Args, Debug)]
struct RebuildArgs {
    /// Functions whose projection to rebuild (project-appointments, project-metrics,
    /// project-calls); none: all of them.
    functions: Vec<String>,
    /// The port the running stack's API listens on.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    port: u16,
    /// How long each projection may take to catch up before the rebuild fails, naming the
    /// lag left (the projection goes on catching up).
    #[arg(long, env = "REBUILD_TIMEOUT_SECONDS", default_value_t = local::rebuild::DEFAULT_CATCH_UP_TIMEOUT.as_secs())]
    timeout_seconds: u64,
}

#[derive(clap::Args, Debug)]
struct CreateTopicsArgs {
    #[arg(
        long,
        env = "KAFKA_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:9092"
    )]
    bootstrap_servers: String,
    #[arg(long, env = "MSK_CLUSTER_ARN")]
    msk_cluster_arn: Option<String>,
    #[arg(long, default_value_t = local::topics::CLOUD.partitions)]
    partitions: i32,
    #[arg(long, default_value_t = local::topics::CLOUD.replication_factor)]
    replication_factor: i32,
    #[arg(long, default_value_t = local::topics::CLOUD_RETENTION_MS)]
    retention_ms: i64,
}

/// The secret `init-aws` (and `up`) write the database credentials to.
const DATABASE_SECRET_NAME: &str = "clinic-scheduling/database";

fn aws_init(
    env: &messaging::config::Env,
    registry_name: &str,
    database_url: &str,
    database_secret_name: &str,
) -> local::aws_init::AwsInit {
    local::aws_init::AwsInit {
        registry_name: registry_name.to_owned(),
        sender: send_confirmation::sender_from_env(env),
        database_secret_name: database_secret_name.to_owned(),
        database_url: database_url.to_owned(),
    }
}

async fn init_aws(
    aws: &aws_config::SdkConfig,
    init: &local::aws_init::AwsInit,
) -> anyhow::Result<SchemaRegistry> {
    let done = local::aws_init::init_aws(aws, init).await?;
    step(&format!(
        "{} schemas registered in '{}', SES sender identity {} ready, database secret {}",
        done.schemas, init.registry_name, init.sender, done.database_secret_arn
    ));
    Ok(done.registry)
}

fn step(message: &str) {
    eprintln!("==> {message}");
}

async fn register(registry: SchemaRegistry) -> anyhow::Result<SchemaRegistry> {
    let registry_name = registry.registry_name().to_owned();
    let versions = registry
        .register_all()
        .await
        .context("registering schemas")?;
    step(&format!(
        "{} schemas registered in '{registry_name}'",
        versions.len()
    ));
    Ok(registry)
}

async fn seed(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    let loaded = store::demo::seed(pool, chrono::Utc::now().date_naive()).await?;
    step(if loaded {
        "demo data loaded"
    } else {
        "demo data already present"
    });
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut cli = Cli::parse();
    let env = messaging::config::Env::process();
    let database_url = match cli.database_url.take() {
        Some(url) => url,
        None if env.get("DATABASE_SECRET_ARN").is_some() => {
            messaging::database::DatabaseSource::from_env(&env)?
                .url()
                .await?
        }
        None => "postgres://postgres@127.0.0.1:5432/clinic_scheduling".to_owned(),
    };
    match cli.command {
        Command::Migrate => {
            local::prepare_database(&database_url).await?;
            step("database migrated");
        }
        Command::RegisterSchemas => {
            register(SchemaRegistry::from_env(&cli.registry_name).await).await?;
        }
        Command::Seed => {
            let pool = local::prepare_database(&database_url).await?;
            seed(&pool).await?;
        }
        Command::Rebuild(args) => rebuild(args).await?,
        Command::CreateTopics(args) => create_topics(args).await?,
        Command::InitAws {
            ref database_secret_name,
        } => {
            let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            let init = aws_init(
                &env,
                &cli.registry_name,
                &database_url,
                database_secret_name,
            );
            init_aws(&aws, &init).await?;
        }
        Command::Up(args) => up(args, &env, &cli.registry_name, &database_url).await?,
    }
    Ok(())
}

/// Rebuilds projections on the running stack, one after the other.
async fn rebuild(args: RebuildArgs) -> anyhow::Result<()> {
    let RebuildArgs {
        functions,
        port,
        timeout_seconds,
    } = args;
    let functions = if functions.is_empty() {
        store::projections::PROJECTIONS
            .map(|p| p.function.to_owned())
            .to_vec()
    } else {
        functions
    };
    let client = reqwest::Client::new();
    for function in functions {
        step(&format!("rebuilding {function}"));
        let url = format!(
            "http://127.0.0.1:{port}/_local/projections/{function}/rebuild?timeoutSeconds={timeout_seconds}"
        );
        let response = client
            .post(&url)
            .header(local::guard::LOCAL_HEADER, "1")
            .send()
            .await
            .with_context(|| format!("is the stack running? POST {url}"))?;
        let status = response.status();
        let body = response.text().await?;
        anyhow::ensure!(status.is_success(), "{function}: {status}: {body}");
        step(&format!("{function} rebuilt: {body}"));
    }
    Ok(())
}

async fn create_topics(args: CreateTopicsArgs) -> anyhow::Result<()> {
    let CreateTopicsArgs {
        ref bootstrap_servers,
        ref msk_cluster_arn,
        partitions,
        replication_factor,
        retention_ms,
    } = args;
    let target = match msk_cluster_arn {
        Some(cluster_arn) => local::topics::TopicTarget::Msk {
            cluster_arn: cluster_arn.clone(),
        },
        None => local::topics::TopicTarget::Kafka {
            bootstrap: bootstrap_servers.clone(),
        },
    };
    let settings = local::topics::TopicSettings {
        partitions,
        replication_factor,
        retention_ms: Some(retention_ms),
    };
    let topics = local::topics::create_topics(&target, &settings).await?;
    step(&format!(
        "{} topics ready ({partitions} partitions, replication {replication_factor}, retention {retention_ms} ms)",
        topics.len()
    ));
    Ok(())
}

/// Starts the whole local system and serves the API until Ctrl-C.
async fn up(
    args: UpArgs,
    env: &messaging::config::Env,
    registry_name: &str,
    database_url: &str,
) -> anyhow::Result<()> {
    let UpArgs {
        port,
        moto_port,
        kafka_port,
        partitions,
        invoke_url,
        data_dir,
    } = args;
    step(&format!(
        "starting tansu (Kafka API) on 127.0.0.1:{kafka_port}, data in {}",
        data_dir.display()
    ));
    let tansu =
        TansuBroker::start(kafka_port, &data_dir.join("tansu")).map_err(anyhow::Error::msg)?;
    // Keep moto alive for as long as the API runs; dropping it stops the server.
    let (_moto, aws) = if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        step(&format!(
            "starting moto (Glue registry, SES, Secrets Manager) on 127.0.0.1:{moto_port}"
        ));
        let moto = MotoServer::start(moto_port).map_err(anyhow::Error::msg)?;
        let aws = moto.sdk_config().await;
        (Some(moto), aws)
    } else {
        let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        (None, aws)
    };
    step("preparing PostgreSQL");
    let pool = local::prepare_database(database_url).await?;
    seed(&pool).await?;
    let init = aws_init(env, registry_name, database_url, DATABASE_SECRET_NAME);
    let registry = init_aws(&aws, &init).await?;
    let ses = aws_sdk_sesv2::Client::new(&aws);
    let sender = init.sender;
    let publisher = messaging::Publisher::new(
        pool.clone(),
        &messaging::KafkaConfig::plaintext(&tansu.bootstrap),
    )?;
    let functions = local::functions::InProcessInvoker {
        ctx: messaging::FunctionContext::new(
            pool.clone(),
            registry.clone(),
            Some(publisher.clone()),
        ),
        deadlines: messaging::config::saga_deadlines(env)?,
        send_confirmation: send_confirmation::SendConfirmationFn::new(ses, sender),
    };
    step("creating topics and starting every Kafka-triggered function of template.yaml, the outbox relay and the saga sweeper");
    let pipeline = local::stack::start_pipeline(
        functions,
        &tansu.bootstrap,
        &local::stack::template_path(),
        partitions,
        &invoke_url.map_or(
            local::stack::Invocation::InProcess,
            local::stack::Invocation::Http,
        ),
        esm::RuntimeOptions::default(),
    )
    .await?;
    let issuer = std::sync::Arc::new(local::auth::LocalIssuer::load_or_generate(
        &format!("http://127.0.0.1:{port}/_local/auth"),
        &data_dir.join("auth"),
    )?);
    step(&format!(
        "sign-in: GET http://127.0.0.1:{port}/_local/auth/agents, POST http://127.0.0.1:{port}/_local/auth/token {{\"agentId\": ...}} with the header X-Clinic-Local: 1"
    ));
    let pool_for_rebuild = pool.clone();
    let app = local::dashboard::with_dashboard(
        api::app(api::AppState {
            pool,
            registry,
            publisher: Some(publisher),
            auth: std::sync::Arc::new(issuer.verifier()?),
        })
        .merge(local::guard::guarded(
            axum::Router::new()
                .nest("/_local/auth", local::auth::router(issuer))
                .nest("/_local/esm", esm::status_router(pipeline.runtime.clone()))
                .nest(
                    "/_local/projections",
                    local::rebuild::router(pipeline.runtime.clone(), pool_for_rebuild),
                ),
        )),
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    step(&format!("ready: dashboard http://{addr}/, API http://{addr}/api/v1, OpenAPI http://{addr}/api/v1/openapi.json, event-source mappings http://{addr}/_local/esm/status; `clinic-local rebuild` rebuilds projections; Ctrl-C stops"));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    step("stopping the event-source mappings, the relay and the sweeper");
    pipeline.stop().await;
    drop(tansu);
    step("stopped");
    Ok(())
}
