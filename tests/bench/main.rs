//! The benchmark (`scripts/bench.sh`, or `cargo bench -p clinic-tests --bench pipeline -- …`):
//! starts its own stack (tansu, moto, a fresh database, the API over HTTP, the pipeline), measures
//! the baselines (pgbench, a bare rdkafka consumer, the SES stand-in) and the product in the same
//! run, and writes `results.json` and `results.md` (the table for BENCHMARKS.md) to `--out`.
//! Benchmarks are not tests: nothing here asserts a time.
//!
//! Scenarios, in order:
//! 1. pgbench: one saga step's transaction shape, and the booking transaction;
//! 2. SendEmail rate of the SES stand-in;
//! 3. consume rate: a bare rdkafka consumer and the local ESM runtime on one topic, on a broker
//!    of its own (what a broker holds weighs on its reads: these records must not weigh on the
//!    saga scenarios); then tansu's header lookup: one bare consumer reading the same records
//!    with and without the index `local::tansu` adds, on a broker of its own too;
//! 4. the bare-client chain ([`chain`]), on a broker of its own: the sagas' drain and latency
//!    with only the Kafka client, the baseline of scenarios 7 and 8;
//! 5. every function's Lambda binary: init through the Runtime API, RSS, sizes;
//! 6. `POST /api/v1/appointments` closed loop, the pipeline stopped (after a warm-up);
//! 7. the pipeline started: the sagas of those bookings drained (throughput, commits per saga);
//! 8. open loop at a low and at the target booking rate: latency booking → CONFIRMED, and where
//!    a saga's time goes per hop (from the database's timestamps);
//! 9. every projection rebuilt from its topics.

mod baselines;
mod chain;
mod lambda;
mod load;
mod report;
mod stack;

use clap::Parser;
use local::tansu::TansuBroker;
use std::path::PathBuf;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Parser, Debug)]
#[command(
    about = "Benchmarks of the scheduling back office against baselines measured in the same run"
)]
struct Args {
    /// Where results.json and results.md go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Bookings drained by the pipeline in the throughput scenario.
    #[arg(long, default_value_t = 2000)]
    sagas: usize,
    /// Booking requests in flight in the closed-loop scenario (and pgbench clients).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Bookings per second in the latency scenario (the target's rate).
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// A second, lower rate for the latency scenario, run first: the latency when the pipeline
    /// keeps up.
    #[arg(long, default_value_t = 20.0)]
    low_rate: f64,
    #[arg(long, default_value_t = 20)]
    rate_seconds: u64,
    #[arg(long, default_value_t = 10)]
    pgbench_seconds: u32,
    #[arg(long, default_value_t = 20_000)]
    consume_records: usize,
    /// Partitions per topic (`clinic-local up`: KAFKA_PARTITIONS).
    #[arg(long, default_value_t = 3)]
    partitions: i32,
    /// Connections in the pool the API and the functions share (`clinic-local up`: 20).
    #[arg(long, default_value_t = 20)]
    pool_size: u32,
    /// Directory of the functions' native release binaries; without it the Lambda scenario
    /// is skipped.
    #[arg(long)]
    lambda_bin_dir: Option<PathBuf>,
    /// The ESM consumers' fetch.wait.max.ms (see esm::RuntimeOptions::fetch_wait_max).
    #[arg(long)]
    fetch_wait_ms: Option<u64>,
    /// Cold starts per function.
    #[arg(long, default_value_t = 5)]
    lambda_runs: usize,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Records the header-lookup scenario reads: without the index every record's lookup scans the
/// headers of all of them, so the read grows with the square of this.
const HEADER_LOOKUP_RECORDS: usize = 5_000;

/// Bookings made before the measured closed loop (and drained with it).
const WARM_UP: usize = 200;

/// How long the bench waits for the pipeline to work off what the open loops left.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// `out/name`, emptied: a broker of a scenario starts with nothing an earlier run left.
fn fresh_dir(out: &std::path::Path, name: &str) -> PathBuf {
    let dir = out.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Waits until no mapping has lag (measurements the busy broker answers late are retried).
async fn wait_idle(runtime: &esm::Runtime, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let functions: std::collections::BTreeSet<String> =
        runtime.status().into_iter().map(|m| m.function).collect();
    while Instant::now() < deadline {
        let mut lag = 0;
        for function in &functions {
            lag += runtime.lag(function).await.unwrap_or(i64::MAX / 64);
        }
        if lag == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    false
}

/// Waits until every mapping dozes (esm::RuntimeOptions::doze_after): the pipeline at rest.
async fn wait_dozing(runtime: &esm::Runtime, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if runtime.status().iter().all(|m| m.dozing) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// How long a projection rebuild may take to catch up before the bench reports it failed.
const REBUILD_TIMEOUT: Duration = Duration::from_secs(180);

fn say(message: &str) {
    eprintln!("==> {message}");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let mut args = Args::parse();
    // `cargo bench` runs this from tests/, not from where the command was typed: relative
    // paths are the workspace root's, as scripts/bench.sh and the README write them.
    let root = testkit::workspace_root();
    args.out = root.join(&args.out);
    args.lambda_bin_dir = args.lambda_bin_dir.map(|dir| root.join(dir));
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".to_owned());
    let machine = report::Machine::read();
    say(&format!(
        "machine: {} ({} cores, {:.0} GiB)",
        machine.cpu, machine.cores, machine.memory_gib
    ));
    let broker_dir = args.out.join("broker");
    say(&format!("starting the bench stack (tansu with its data and log in {}, moto, a fresh database, the API)", broker_dir.display()));
    let mut stack =
        stack::BenchStack::start(&admin_url, args.pool_size, args.partitions, &broker_dir).await?;
    let results = run(&args, &mut stack, machine, &broker_dir).await;
    say("stopping the bench stack");
    stack.stop().await?;
    let results = results?;
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(
        args.out.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    let markdown = results.markdown();
    std::fs::write(args.out.join("results.md"), &markdown)?;
    println!("{markdown}");
    say(&format!("figures written to {}", args.out.display()));
    Ok(())
}

/// Bookings at `rate` for `duration` with the pipeline running; latency from each request's
/// scheduled send to CONFIRMED visible in the read model (waiting up to 90 s after).
async fn open_loop_at(
    stack: &stack::BenchStack,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<report::OpenLoop> {
    let from = stack::database_now(&stack.pool).await?;
    let booked = load::open_loop(stack, rate, duration).await?;
    let ids = load::accepted(&booked)?;
    let done = stack.terminal.wait_all(&ids, Duration::from_secs(90)).await;
    let hops = stack::hop_times(&stack.pool, from, stack::database_now(&stack.pool).await?).await?;
    let confirmed_latency: Vec<Duration> = booked
        .iter()
        .filter_map(|b| {
            let (at, status) = stack.terminal.get(&b.appointment_id?)?;
            (status == "CONFIRMED").then(|| at - b.scheduled)
        })
        .collect();
    Ok(report::OpenLoop {
        rate,
        seconds: duration.as_secs(),
        api_latency: load::Percentiles::of(booked.iter().map(load::Booked::latency).collect()),
        confirmed_latency: load::Percentiles::of(confirmed_latency),
        not_terminal: ids.len() - done,
        hops,
    })
}

async fn run(
    args: &Args,
    stack: &mut stack::BenchStack,
    machine: report::Machine,
    broker_dir: &std::path::Path,
) -> anyhow::Result<report::Results> {
    let clients = u32::try_from(args.concurrency)?;
    // Idle mappings doze after 30 s (off by default: see esm::DOZE_OFF), so the idle figure
    // is what a dozing pipeline costs the broker.
    let mut options = esm::RuntimeOptions {
        doze_after: Duration::from_secs(30),
        ..esm::RuntimeOptions::default()
    };
    if let Some(ms) = args.fetch_wait_ms {
        options.fetch_wait_max = Duration::from_millis(ms);
    }
    let fetch_wait = options.fetch_wait_max;
    say(&format!(
        "pgbench: step and booking transactions, {clients} clients, {} s each",
        args.pgbench_seconds
    ));
    let pgbench = baselines::pgbench_baselines(stack, clients, args.pgbench_seconds).await?;
    say(&format!(
        "  step {:.0} TPS, booking {:.0} TPS",
        pgbench.step.tps, pgbench.booking.tps
    ));

    say("SES stand-in: 500 SendEmail calls, 8 in flight");
    let ses = baselines::ses_rate(stack, 500, 8).await?;
    say(&format!("  {:.0}/s", ses.per_second));

    say(&format!(
        "consume rate: {} records on a broker of its own, bare rdkafka then the ESM runtime",
        args.consume_records
    ));
    let consume = {
        let broker = TansuBroker::start(
            testkit::free_port()?,
            &fresh_dir(&args.out, "broker-consume"),
        )
        .map_err(anyhow::Error::msg)?;
        baselines::consume_rates(
            &broker.bootstrap,
            args.partitions,
            args.consume_records,
            500,
            options.clone(),
        )
        .await?
    };
    say(&format!(
        "  produce {:.0}/s; consume: bare {:.0}/s, ESM {:.0}/s",
        consume.produce_per_second, consume.bare_per_second, consume.esm_per_second
    ));

    say(&format!(
        "header lookup: {HEADER_LOOKUP_RECORDS} records on a broker of its own, a bare consumer with and without tansu's header index"
    ));
    let (header_lookup, header_lookup_error) = {
        let broker = TansuBroker::start(
            testkit::free_port()?,
            &fresh_dir(&args.out, "broker-headers"),
        )
        .map_err(anyhow::Error::msg)?;
        match baselines::header_lookup(
            &broker,
            args.partitions,
            HEADER_LOOKUP_RECORDS,
            500,
            fetch_wait,
        )
        .await
        {
            Ok(h) => {
                say(&format!(
                    "  {:.0} records/s indexed, {:.0}/s without the index",
                    h.indexed_per_second, h.unindexed_per_second
                ));
                (Some(h), None)
            }
            Err(e) => {
                say(&format!("  FAILED: {e:#}"));
                (None, Some(format!("{e:#}")))
            }
        }
    };

    let groups = esm::mappings_from_template(&local::stack::template_path())?.len();
    say(&format!(
        "bare-client chain on a broker of its own: {} hops, {groups} consumer groups, {} chains drained, then {:.0}/s for {} s",
        chain::HOPS, args.sagas + WARM_UP, args.low_rate, args.rate_seconds
    ));
    let (chain, chain_error) = {
        let dir = fresh_dir(&args.out, "broker-chain");
        let broker = TansuBroker::start(testkit::free_port()?, &dir).map_err(anyhow::Error::msg)?;
        let figures = chain::measure(
            &broker.bootstrap,
            &dir,
            args.partitions,
            groups,
            args.sagas + WARM_UP,
            args.low_rate,
            args.rate_seconds,
            fetch_wait,
        )
        .await;
        match figures {
            Ok(c) => {
                say(&format!(
                    "  {:.0} chains/s steady ({:.0}/s overall); at {:.0}/s p50 {:.0} ms, p99 {:.0} ms; broker {:.2} cores idle",
                    c.drain_per_second, c.overall_per_second, c.rate, c.latency.p50_ms, c.latency.p99_ms, c.broker_idle_cores
                ));
                (Some(c), None)
            }
            Err(e) => {
                say(&format!("  FAILED: {e:#}"));
                (None, Some(format!("{e:#}")))
            }
        }
    };

    let (lambda, lambda_error) = match &args.lambda_bin_dir {
        Some(dir) => {
            say(&format!(
                "Lambda binaries in {}: {} cold starts each",
                dir.display(),
                args.lambda_runs
            ));
            esm::ensure_topics(&stack.tansu.bootstrap, &["AWSKafkaTopic.dlq".to_owned()], 1)
                .await?;
            let env = lambda::FunctionEnv {
                database_url: stack.database_url.clone(),
                aws_endpoint: stack.moto.endpoint.clone(),
                kafka_bootstrap: stack.tansu.bootstrap.clone(),
            };
            // A failing scenario is reported, and the others still run.
            match lambda::measure(dir, &env, args.lambda_runs).await {
                Ok(figures) => {
                    for f in &figures {
                        say(&format!(
                            "  {}: init {:.1} ms, RSS {:.1} MiB, {:.1} MiB",
                            f.function, f.init_ms, f.peak_rss_mib, f.binary_mib
                        ));
                    }
                    (figures, None)
                }
                Err(e) => {
                    say(&format!("  FAILED: {e:#}"));
                    (Vec::new(), Some(format!("{e:#}")))
                }
            }
        }
        None => {
            say("Lambda binaries: skipped (no --lambda-bin-dir)");
            (Vec::new(), None)
        }
    };

    say(&format!(
        "API closed loop: warm-up, then {} bookings, {} in flight (pipeline stopped)",
        args.sagas, args.concurrency
    ));
    let warm_up = load::closed_loop(stack, WARM_UP, args.concurrency).await?;
    let mut ids = load::accepted(&warm_up)?;
    let started = Instant::now();
    let booked = load::closed_loop(stack, args.sagas, args.concurrency).await?;
    let elapsed = started.elapsed().as_secs_f64();
    ids.extend(load::accepted(&booked)?);
    let api = report::ApiFigures {
        concurrency: args.concurrency,
        requests: booked.len(),
        per_second: booked.len() as f64 / elapsed,
        latency: load::Percentiles::of(booked.iter().map(load::Booked::latency).collect()),
    };
    say(&format!(
        "  {:.0}/s, p50 {:.1} ms, p99 {:.1} ms",
        api.per_second, api.latency.p50_ms, api.latency.p99_ms
    ));

    say(&format!(
        "saga throughput: the pipeline drains {} sagas",
        ids.len()
    ));
    let (stop_profile, profiling) = tokio::sync::watch::channel(false);
    let profiler = tokio::spawn(stack::profile_sessions(
        stack.database_url.clone(),
        profiling,
    ));
    let commits_before = stack.commits().await?;
    let cpu_before = stack::CpuSample::now(broker_dir)?;
    let pipeline_started = Instant::now();
    stack.start_pipeline(options.clone()).await?;
    let done = stack
        .terminal
        .wait_all(&ids, Duration::from_secs(900))
        .await;
    anyhow::ensure!(
        done == ids.len(),
        "only {done} of {} sagas ended",
        ids.len()
    );
    let commits = stack.commits().await? - commits_before;
    let _ = stop_profile.send(true);
    let sessions = profiler.await??;
    let cpu = stack::CpuSample::now(broker_dir)?
        .cores_since(&cpu_before, pipeline_started.elapsed().as_secs_f64());
    let drained = Instant::now();
    let dozing = wait_dozing(&*stack.runtime()?, IDLE_TIMEOUT).await;
    let dozed_after_seconds = drained.elapsed().as_secs_f64();
    anyhow::ensure!(
        dozing,
        "the mappings did not all doze within {IDLE_TIMEOUT:?} of the drain"
    );
    let broker_idle_cores = stack::broker_idle_cores(broker_dir).await?;
    let ends: Vec<Instant> = ids
        .iter()
        .filter_map(|id| stack.terminal.get(id))
        .map(|(at, _)| at)
        .collect();
    let (sagas_per_second, overall_per_second) =
        load::drain_rates(ends, pipeline_started, ids.len());
    let confirmed = ids
        .iter()
        .filter(|id| {
            stack
                .terminal
                .get(id)
                .is_some_and(|(_, s)| s == "CONFIRMED")
        })
        .count();
    let processed: u64 = stack
        .runtime()?
        .status()
        .iter()
        .map(|m| m.processed_records)
        .sum();
    let sagas = report::SagaThroughput {
        sagas: ids.len(),
        confirmed,
        sagas_per_second,
        overall_per_second,
        steps_per_saga: 1.0 + processed as f64 / ids.len() as f64,
        commits_per_saga: commits as f64 / ids.len() as f64,
        cpu,
        broker_idle_cores,
        dozed_after_seconds,
        sessions,
    };
    say(&format!(
        "  {:.0} sagas/s steady ({:.0}/s overall), {:.1} steps and {:.1} commits per saga, {} CONFIRMED; broker {:.2} cores draining, {:.2} idle",
        sagas.sagas_per_second, sagas.overall_per_second, sagas.steps_per_saga, sagas.commits_per_saga, confirmed,
        sagas.cpu.broker, sagas.broker_idle_cores
    ));

    let mut open_loop = Vec::new();
    for rate in [args.low_rate, args.rate] {
        say(&format!(
            "open loop: {rate:.0} bookings/s for {} s, pipeline running",
            args.rate_seconds
        ));
        let figures = open_loop_at(stack, rate, Duration::from_secs(args.rate_seconds)).await?;
        say(&format!(
            "  booking → CONFIRMED p50 {:.0} ms, p99 {:.0} ms ({} not confirmed); API p50 {:.1} ms, p99 {:.1} ms",
            figures.confirmed_latency.p50_ms,
            figures.confirmed_latency.p99_ms,
            figures.not_terminal,
            figures.api_latency.p50_ms,
            figures.api_latency.p99_ms
        ));
        open_loop.push(figures);
    }

    let runtime = stack.runtime()?;
    say("waiting for the pipeline to catch up before the rebuilds");
    let idle = wait_idle(&runtime, IDLE_TIMEOUT).await;
    sqlx::query("DROP TRIGGER bench_terminal ON appointment_summary")
        .execute(&stack.pool)
        .await?;
    let mut rebuild = Vec::new();
    for projection in store::projections::PROJECTIONS.into_iter().filter(|_| idle) {
        let figures = match local::rebuild::rebuild_within(
            &runtime,
            &stack.pool,
            projection.function,
            REBUILD_TIMEOUT,
        )
        .await
        {
            Ok(r) => report::Rebuild {
                function: r.function,
                error: None,
                records: r.replayed_records,
                seconds: r.seconds,
                replay_seconds: r.replay_seconds,
                replay_per_second: r.replayed_records as f64 / r.replay_seconds.max(0.05),
            },
            Err(e) => report::Rebuild {
                function: projection.function.to_owned(),
                error: Some(e.to_string()),
                records: 0,
                seconds: 0.0,
                replay_seconds: 0.0,
                replay_per_second: 0.0,
            },
        };
        say(&format!(
            "  {}: {} records, {:.0}/s in replay ({:.1} s in all){}",
            figures.function,
            figures.records,
            figures.replay_per_second,
            figures.seconds,
            figures
                .error
                .as_deref()
                .map_or(String::new(), |e| format!("; FAILED: {e}"))
        ));
        rebuild.push(figures);
    }

    if !idle {
        say(&format!(
            "  the pipeline still had lag after {} s: rebuilds skipped",
            IDLE_TIMEOUT.as_secs()
        ));
    }
    Ok(report::Results {
        machine,
        settings: report::Settings {
            partitions: args.partitions,
            pool_size: args.pool_size,
            fetch_wait_ms: u64::try_from(fetch_wait.as_millis())?,
        },
        pgbench,
        consume,
        header_lookup,
        header_lookup_error,
        ses,
        api,
        sagas,
        open_loop,
        rebuild,
        chain,
        chain_error,
        lambda,
        lambda_error,
    })
}
