//! The benchmark's own local stack: a fresh tansu, moto, a fresh database on the PostgreSQL
//! server, the API served over HTTP on a free 127.0.0.1 port, and the pipeline of functions as
//! `clinic-local up` runs it (started when a scenario asks for it). Bench data: clinics open
//! around the clock with many providers and insured patients, so that bookings spread over
//! distinct (provider, slot) pairs and every saga runs its whole happy path; the
//! double-booking constraint is not what is measured.

use anyhow::Context;
use chrono::{Duration, NaiveTime, Utc, Weekday};
use domain::clinic::{ClinicCalendar, OpeningHours};
use domain::saga::SagaDeadlines;
use domain::{ClinicId, PatientId, ProviderId};
use local::auth::{DemoAgent, LocalIssuer};
use local::functions::InProcessInvoker;
use local::stack::{start_pipeline, template_path, Invocation, Pipeline};
use local::tansu::TansuBroker;
use messaging::{FunctionContext, Publisher};
use send_confirmation::{ensure_sender_identity, SendConfirmationFn, DEFAULT_SENDER};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use store::catalog::{Clinic, InsurancePolicy, Patient, Provider};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

pub const CLINICS: u128 = 16;
pub const PROVIDERS_PER_CLINIC: u128 = 16;
pub const PATIENTS: u128 = 500;
/// Half-hour starts per day: 00:00 … 23:00 (a 30-minute ROUTINE exam must end by 23:59).
const STARTS_PER_DAY: u64 = 47;

fn bench_id(prefix: u128, n: u128) -> Uuid {
    Uuid::from_u128((prefix << 120) + 0x0000_0000_0000_4000_8000_0000_0000_0000 + n)
}

fn clinic_id(n: u128) -> ClinicId {
    ClinicId(bench_id(0xbc, n))
}

fn provider_id(n: u128) -> ProviderId {
    ProviderId(bench_id(0xbd, n))
}

fn patient_id(n: u128) -> PatientId {
    PatientId(bench_id(0xbe, n))
}

fn bench_clinics() -> Vec<Clinic> {
    let all_day = |weekday| OpeningHours {
        weekday,
        opens: NaiveTime::MIN,
        closes: NaiveTime::from_hms_opt(23, 59, 0).unwrap_or(NaiveTime::MIN),
    };
    use Weekday::*;
    (0..CLINICS)
        .map(|c| Clinic {
            id: clinic_id(c),
            name: format!("Bench Clinic {c}"),
            calendar: ClinicCalendar {
                time_zone: chrono_tz::UTC,
                hours: [Mon, Tue, Wed, Thu, Fri, Sat, Sun].map(all_day).to_vec(),
            },
            providers: (0..PROVIDERS_PER_CLINIC)
                .map(|p| Provider {
                    id: provider_id(c * PROVIDERS_PER_CLINIC + p),
                    name: format!("Dr. Bench {c}-{p}"),
                })
                .collect(),
        })
        .collect()
}

fn bench_patients() -> Vec<Patient> {
    let today = Utc::now().date_naive();
    (0..PATIENTS)
        .map(|n| Patient {
            id: patient_id(n),
            name: format!("Bench Patient {n}"),
            email: format!("bench.patient{n}@example.com"),
            phone: None,
            insurance: Some(InsurancePolicy {
                payer: "VSP".to_owned(),
                member_id: format!("B{n:07}"),
                valid_from: Some(today - Duration::days(365)),
                valid_to: Some(today + Duration::days(3 * 365)),
                vision_coverage: true,
            }),
            home_clinic: None,
        })
        .collect()
}

/// Hands out distinct (provider, start) pairs: provider-major, so consecutive bookings go to
/// different providers, clinics and partitions.
#[derive(Debug, Default)]
pub struct Slots {
    next: AtomicU64,
}

impl Slots {
    /// The body of the next booking request: a ROUTINE exam of an insured patient.
    pub fn next_booking(&self) -> Value {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let providers = (CLINICS * PROVIDERS_PER_CLINIC) as u64;
        let provider = u128::from(i % providers);
        let k = i / providers;
        let day = Utc::now().date_naive() + Duration::days(1 + (k / STARTS_PER_DAY) as i64);
        let start =
            day.and_time(NaiveTime::MIN) + Duration::minutes(30 * (k % STARTS_PER_DAY) as i64);
        json!({
            "clinicId": clinic_id(provider / PROVIDERS_PER_CLINIC).to_string(),
            "providerId": provider_id(provider).to_string(),
            "patientId": patient_id(u128::from(i) % PATIENTS).to_string(),
            "dateTime": format!("{}Z", start.format("%Y-%m-%dT%H:%M:%S")),
            "type": "ROUTINE",
        })
    }
}

/// When each appointment reached a terminal status in the read model, as seen by a LISTEN on
/// a bench-only trigger: notifications are delivered at commit, so the time is when the row
/// became visible.
#[derive(Debug, Default)]
pub struct Terminal {
    seen: Mutex<HashMap<Uuid, (Instant, String)>>,
    changed: Notify,
}

impl Terminal {
    pub fn get(&self, id: &Uuid) -> Option<(Instant, String)> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Waits until every one of `ids` is terminal, or `timeout` passes; returns how many are.
    pub async fn wait_all(&self, ids: &[Uuid], timeout: std::time::Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            let done = ids.iter().filter(|id| self.get(id).is_some()).count();
            if done == ids.len() || Instant::now() >= deadline {
                return done;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }
}

const TERMINAL_TRIGGER: &str = "
CREATE OR REPLACE FUNCTION bench_terminal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IN ('CONFIRMED', 'CANCELLED') AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status) THEN
        PERFORM pg_notify('bench_terminal', NEW.appointment_id::text || ' ' || NEW.status);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER bench_terminal AFTER INSERT OR UPDATE ON appointment_summary
    FOR EACH ROW EXECUTE FUNCTION bench_terminal();";

pub struct BenchStack {
    pub pipeline: Option<Pipeline>,
    pub functions: InProcessInvoker,
    pub pool: PgPool,
    pub database_url: String,
    admin_url: String,
    database: String,
    pub api_url: String,
    pub token: String,
    pub slots: Slots,
    pub terminal: Arc<Terminal>,
    /// Partitions per topic.
    pub partitions: i32,
    tasks: Vec<JoinHandle<()>>,
    pub moto: testkit::Moto,
    pub tansu: TansuBroker,
}

impl std::fmt::Debug for BenchStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchStack")
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

/// `url` with its database name replaced by `database`.
fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let mut parsed = url::Url::parse(url).context("DATABASE_URL")?;
    parsed.set_path(database);
    Ok(parsed.to_string())
}

impl BenchStack {
    /// Starts tansu (data and log in `broker_dir`, emptied first), moto, a fresh database
    /// `clinic_bench_<pid>` (migrated, bench data, the terminal trigger) and the API.
    /// `pool_size`: the one pool the API and functions share, as `clinic-local up` has.
    pub async fn start(
        admin_url: &str,
        pool_size: u32,
        partitions: i32,
        broker_dir: &Path,
    ) -> anyhow::Result<BenchStack> {
        let _ = std::fs::remove_dir_all(broker_dir);
        let tansu =
            TansuBroker::start(testkit::free_port()?, broker_dir).map_err(anyhow::Error::msg)?;
        let moto = testkit::Moto::try_start().map_err(anyhow::Error::msg)?;
        let database = format!("clinic_bench_{}", std::process::id());
        let database_url = with_database(admin_url, &database)?;
        local::prepare_database(&database_url).await?;
        let pool = store::connect(
            &database_url,
            store::PoolSettings {
                max_connections: pool_size,
                ..Default::default()
            },
        )
        .await?;
        let mut tx = pool.begin().await?;
        for clinic in bench_clinics() {
            store::catalog::insert_clinic(&mut tx, &clinic).await?;
        }
        for patient in bench_patients() {
            store::catalog::insert_patient(&mut tx, &patient).await?;
        }
        sqlx::raw_sql(TERMINAL_TRIGGER).execute(&mut *tx).await?;
        tx.commit().await?;

        let aws = local::moto::sdk_config(&moto.endpoint).await;
        let registry = contract::SchemaRegistry::new(
            aws_sdk_glue::Client::new(&aws),
            contract::DEFAULT_REGISTRY_NAME,
        );
        registry.register_all().await?;
        let ses = aws_sdk_sesv2::Client::new(&aws);
        ensure_sender_identity(&ses, DEFAULT_SENDER).await?;
        let publisher = Publisher::new(
            pool.clone(),
            &messaging::KafkaConfig::plaintext(&tansu.bootstrap),
        )?;
        esm::ensure_topics(
            &tansu.bootstrap,
            &messaging::topics::all_topics(),
            partitions,
        )
        .await?;
        let functions = InProcessInvoker {
            ctx: FunctionContext::new(pool.clone(), registry.clone(), Some(publisher.clone())),
            deadlines: SagaDeadlines::default(),
            send_confirmation: SendConfirmationFn::new(ses, DEFAULT_SENDER.to_owned()),
        };

        let issuer = LocalIssuer::generate("https://bench.local")?;
        let agent = DemoAgent {
            agent_id: "bench-agent".to_owned(),
            name: "Bench Agent".to_owned(),
            role: "SUPERVISOR",
            clinic_ids: (0..CLINICS).map(clinic_id).collect(),
        };
        let token = issuer.token_for(&agent)?;
        let app = api::app(api::AppState {
            pool: pool.clone(),
            registry,
            publisher: Some(publisher),
            auth: Arc::new(issuer.verifier()?),
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let api_url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });

        let terminal = Arc::new(Terminal::default());
        let mut listener = sqlx::postgres::PgListener::connect(&database_url).await?;
        listener.listen("bench_terminal").await?;
        let seen = terminal.clone();
        let observer = tokio::spawn(async move {
            while let Ok(n) = listener.recv().await {
                let at = Instant::now();
                let mut parts = n.payload().split(' ');
                if let (Some(Ok(id)), Some(status)) =
                    (parts.next().map(Uuid::parse_str), parts.next())
                {
                    seen.seen
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .entry(id)
                        .or_insert((at, status.to_owned()));
                    seen.changed.notify_waiters();
                }
            }
        });

        Ok(BenchStack {
            pipeline: None,
            functions,
            pool,
            database_url,
            admin_url: admin_url.to_owned(),
            database,
            api_url,
            token,
            slots: Slots::default(),
            terminal,
            partitions,
            tasks: vec![server, observer],
            moto,
            tansu,
        })
    }

    /// Starts every Kafka-triggered function of template.yaml, the relay and the sweeper.
    pub async fn start_pipeline(&mut self, options: esm::RuntimeOptions) -> anyhow::Result<()> {
        self.pipeline = Some(
            start_pipeline(
                self.functions.clone(),
                &self.tansu.bootstrap,
                &template_path(),
                self.partitions,
                &Invocation::InProcess,
                options,
            )
            .await?,
        );
        Ok(())
    }

    pub fn runtime(&self) -> anyhow::Result<Arc<esm::Runtime>> {
        Ok(self
            .pipeline
            .as_ref()
            .context("the pipeline is not running")?
            .runtime
            .clone())
    }

    /// The server's committed transactions so far (all databases; the bench is alone on it).
    pub async fn commits(&self) -> anyhow::Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT sum(xact_commit)::bigint FROM pg_stat_database")
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    /// Stops everything and drops the bench database.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pipeline) = self.pipeline.take() {
            pipeline.stop().await;
        }
        for task in &self.tasks {
            task.abort();
        }
        self.pool.close().await;
        let admin = store::connect(&self.admin_url, store::PoolSettings::default()).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.database
        ))
        .execute(&admin)
        .await?;
        Ok(())
    }
}

/// CPU seconds the broker with its data in `broker_dir` has used so far.
pub fn broker_cpu_seconds(broker_dir: &Path) -> anyhow::Result<f64> {
    let pid = std::fs::read_to_string(broker_dir.join("tansu.pid"))?;
    Ok(process_cpu_seconds(pid.trim())?.0)
}

/// CPU seconds process `pid` ("self" for this one) has used so far (user + system), and its
/// command name, from /proc; the kernel counts in USER_HZ, 100 per second on Linux. Its
/// reaped children's time is included, so a parent (PostgreSQL's postmaster) keeps what its
/// exited backends used.
fn process_cpu_seconds(pid: &str) -> anyhow::Result<(f64, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let (head, after) = stat.rsplit_once(')').context("no command in /proc stat")?;
    let name = head.split_once('(').map_or("", |(_, name)| name).to_owned();
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields.get(i).context("short /proc stat")?.parse::<f64>()?)
    };
    // utime, stime, cutime and cstime are fields 14 to 17; `fields[0]` is field 3.
    Ok((
        (ticks(11)? + ticks(12)? + ticks(13)? + ticks(14)?) / 100.0,
        name,
    ))
}

/// Where the machine's CPU went so far, in CPU seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSample {
    /// Every core's busy time (/proc/stat: all but idle and iowait).
    pub machine: f64,
    pub broker: f64,
    /// Every `postgres` process (the server's backends and its postmaster).
    pub database: f64,
    /// This process: the API, the pipeline's functions and runtime, the load generator.
    pub bench: f64,
}

impl CpuSample {
    pub fn now(broker_dir: &Path) -> anyhow::Result<CpuSample> {
        let stat = std::fs::read_to_string("/proc/stat")?;
        let cpu = stat.lines().next().context("empty /proc/stat")?;
        let ticks: Vec<f64> = cpu
            .split_whitespace()
            .skip(1)
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        // user nice system idle iowait irq softirq steal ...
        let busy: f64 =
            ticks.iter().sum::<f64>() - ticks.get(3).unwrap_or(&0.0) - ticks.get(4).unwrap_or(&0.0);
        let mut database = 0.0;
        for entry in std::fs::read_dir("/proc")?.flatten() {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            // A process may end between the listing and the read.
            if let Ok((seconds, name)) = process_cpu_seconds(&pid) {
                if name == "postgres" {
                    database += seconds;
                }
            }
        }
        Ok(CpuSample {
            machine: busy / 100.0,
            broker: broker_cpu_seconds(broker_dir)?,
            database,
            bench: process_cpu_seconds("self")?.0,
        })
    }

    /// Average cores each used between `earlier` and this sample, `seconds` apart.
    pub fn cores_since(&self, earlier: &CpuSample, seconds: f64) -> crate::report::CpuCores {
        let per = |now: f64, then: f64| (now - then) / seconds;
        crate::report::CpuCores {
            available: std::thread::available_parallelism().map_or(0, usize::from),
            busy: per(self.machine, earlier.machine),
            broker: per(self.broker, earlier.broker),
            database: per(self.database, earlier.database),
            bench: per(self.bench, earlier.bench),
        }
    }
}

/// The broker's CPU use in cores over the next 5 s (with the consumers idle: what their
/// fetches alone cost it).
pub async fn broker_idle_cores(broker_dir: &Path) -> anyhow::Result<f64> {
    let (from, cpu) = (Instant::now(), broker_cpu_seconds(broker_dir)?);
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    Ok((broker_cpu_seconds(broker_dir)? - cpu) / from.elapsed().as_secs_f64())
}

/// One hop of the sagas as the database saw it: records of `event_type` consumed by
/// `consumer`, in milliseconds. `publish` is from the writer's transaction start (the outbox
/// row's `created_at`, so the function's own work, its commit and the wait for the publisher
/// lock are in it) to the broker's acknowledgement (`published_at`); `deliver` from there to
/// the consumer's transaction start (its `processed_messages.processed_at`): the fetch, the
/// runtime's batching and the wait for the partition's previous batch and for a connection.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct HopTime {
    pub event_type: String,
    pub consumer: String,
    pub records: i64,
    pub publish_p50_ms: f64,
    pub publish_p99_ms: f64,
    pub deliver_p50_ms: f64,
    pub deliver_p99_ms: f64,
}

/// The hops of every outbox row written between `from` and `to` (the database's clock), in the
/// order the sagas take them.
pub async fn hop_times(
    pool: &PgPool,
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
) -> anyhow::Result<Vec<HopTime>> {
    Ok(sqlx::query_as(
        "SELECT o.event_type, p.consumer, count(*) AS records,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM o.published_at - o.created_at)) * 1000 AS publish_p50_ms,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM o.published_at - o.created_at)) * 1000 AS publish_p99_ms,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM p.processed_at - o.published_at)) * 1000 AS deliver_p50_ms,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM p.processed_at - o.published_at)) * 1000 AS deliver_p99_ms
         FROM outbox o JOIN processed_messages p ON p.event_id = o.event_id
         WHERE o.created_at BETWEEN $1 AND $2 AND o.published_at IS NOT NULL
         GROUP BY o.event_type, p.consumer
         ORDER BY min(o.id), p.consumer",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?)
}

/// The database's clock.
pub async fn database_now(pool: &PgPool) -> anyhow::Result<chrono::DateTime<Utc>> {
    let (now,): (chrono::DateTime<Utc>,) = sqlx::query_as("SELECT now()").fetch_one(pool).await?;
    Ok(now)
}

/// What the database sessions of the pipeline and the API were doing, sampled from
/// `pg_stat_activity` every 50 ms: for each kind of activity, how many sessions were in it on
/// average (session-seconds per second). A sampling profile of where the sagas' time goes on
/// the database side of our code. A transaction open between statements (our code running,
/// an outside call, a wait for a second connection) is told apart by the statement it ran
/// last, which names the step it is in.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SessionProfile {
    pub samples: u64,
    /// Kind of activity → average sessions in it, most first.
    pub kinds: Vec<(String, f64)>,
}

/// Classifies each session of the bench database until `stop` turns true.
pub async fn profile_sessions(
    database_url: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<SessionProfile> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&database_url).await?;
    let mut counts: HashMap<String, u64> = HashMap::new();
    let mut samples = 0;
    while !*stop.borrow() {
        let kinds: Vec<(String,)> = sqlx::query_as(
            "SELECT CASE
                 WHEN wait_event_type = 'Lock' AND wait_event = 'advisory' THEN 'waiting for the publisher lock'
                 WHEN wait_event_type = 'Lock' THEN 'waiting for a row or table lock'
                 WHEN wait_event LIKE 'WAL%' THEN 'writing or flushing WAL (commits)'
                 WHEN state = 'idle in transaction' AND query LIKE 'SELECT id, topic, record_key%'
                     THEN 'publisher round open: sending to the broker, waiting for its acks'
                 WHEN state = 'idle in transaction'
                     THEN 'transaction open between statements, after: '
                          || left(regexp_replace(query, '\\s+', ' ', 'g'), 90)
                 WHEN state = 'active' THEN 'running SQL'
                 ELSE state END
             FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND state IS NOT NULL AND state <> 'idle'",
        )
        .fetch_all(&mut conn)
        .await?;
        samples += 1;
        for (kind,) in kinds {
            *counts.entry(kind).or_default() += 1;
        }
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
        }
    }
    let mut kinds: Vec<(String, f64)> = counts
        .into_iter()
        .map(|(kind, n)| (kind, n as f64 / samples.max(1) as f64))
        .collect();
    kinds.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(SessionProfile { samples, kinds })
}
