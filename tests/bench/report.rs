//! The benchmark's figures: JSON (everything measured) and a markdown table (each figure, the
//! baseline measured in the same run, the ratio, and the target), written to the output
//! directory for BENCHMARKS.md.

use crate::baselines::{ConsumeRates, HeaderLookup, PgbenchBaselines, SesRate};
use crate::chain::ChainFigures;
use crate::lambda::LambdaFigures;
use crate::load::Percentiles;
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub commit: String,
    pub date: String,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_default();
        let memory_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let commit = std::process::Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib: memory_kib / (1024.0 * 1024.0),
            commit,
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }
}

/// The knobs this run used.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub partitions: i32,
    pub pool_size: u32,
    pub fetch_wait_ms: u64,
}

/// Bookings made with the pipeline stopped, then drained by it.
#[derive(Debug, Clone, Serialize)]
pub struct SagaThroughput {
    pub sagas: usize,
    pub confirmed: usize,
    /// Steady state: completions between the 10th and 90th percentile completion time.
    pub sagas_per_second: f64,
    /// All sagas over the time from starting the pipeline to the last completion (includes
    /// the consumers joining their groups).
    pub overall_per_second: f64,
    /// Records the functions processed per saga (each a unit of work with its own
    /// transaction when committed one by one), plus the booking itself.
    pub steps_per_saga: f64,
    /// Database commits per saga, measured (pg_stat_database).
    pub commits_per_saga: f64,
    /// Where the machine's CPU went while draining, in cores.
    pub cpu: CpuCores,
    /// The broker's CPU use over 5 s with the pipeline idle, once every mapping dozes: what an
    /// idle pipeline costs it (heartbeats, probes, lag measurements).
    pub broker_idle_cores: f64,
    /// How long after the drain every mapping dozed.
    pub dozed_after_seconds: f64,
    /// What the database sessions were doing during the drain.
    pub sessions: crate::stack::SessionProfile,
}

/// Average cores in use over a stretch of time.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CpuCores {
    /// The cores this machine has.
    pub available: usize,
    /// Every process on the machine.
    pub busy: f64,
    /// The broker (tansu's storage is one task).
    pub broker: f64,
    /// PostgreSQL.
    pub database: f64,
    /// The bench process: the API, the functions, the runtime, the relay, the load.
    pub bench: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiFigures {
    pub concurrency: usize,
    pub requests: usize,
    pub per_second: f64,
    pub latency: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpenLoop {
    pub rate: f64,
    pub seconds: u64,
    /// The booking request itself.
    pub api_latency: Percentiles,
    /// Request sent → CONFIRMED visible in the read model.
    pub confirmed_latency: Percentiles,
    pub not_terminal: usize,
    /// Where the sagas' time went, hop by hop.
    pub hops: Vec<crate::stack::HopTime>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rebuild {
    pub function: String,
    /// Why the rebuild failed, if it did.
    pub error: Option<String>,
    pub records: u64,
    pub seconds: f64,
    pub replay_seconds: f64,
    pub replay_per_second: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub machine: Machine,
    pub settings: Settings,
    pub pgbench: PgbenchBaselines,
    pub consume: ConsumeRates,
    /// A bare consumer with and without tansu's header index, unless it failed.
    pub header_lookup: Option<HeaderLookup>,
    pub header_lookup_error: Option<String>,
    pub ses: SesRate,
    pub api: ApiFigures,
    pub sagas: SagaThroughput,
    pub open_loop: Vec<OpenLoop>,
    pub rebuild: Vec<Rebuild>,
    /// The bare-client chain (the sagas' baseline), unless it failed (`chain_error`).
    pub chain: Option<ChainFigures>,
    pub chain_error: Option<String>,
    pub lambda: Vec<LambdaFigures>,
    /// Why the Lambda scenario failed, if it did (the other scenarios still ran).
    pub lambda_error: Option<String>,
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}

impl Results {
    /// The PostgreSQL commit limit for sagas: pgbench's step TPS over the steps one saga takes.
    pub fn saga_commit_limit(&self) -> f64 {
        self.pgbench.step.tps / self.sagas.steps_per_saga
    }

    pub fn markdown(&self) -> String {
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Run {} at commit `{}` on {} ({} cores, {:.0} GiB).\n",
            m.date, m.commit, m.cpu, m.cores, m.memory_gib
        );
        let _ = writeln!(
            out,
            "Settings: {} partitions per topic, a pool of {} database connections, ESM fetch.wait.max.ms {}.\n",
            self.settings.partitions, self.settings.pool_size, self.settings.fetch_wait_ms
        );
        let _ = writeln!(
            out,
            "| figure | measured | baseline (same run) | ratio | target | |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        let s = &self.sagas;
        let limit = self.saga_commit_limit();
        let chain = self.chain.as_ref();
        let ratio = |measured: f64, baseline: Option<f64>| {
            baseline.map_or("—".to_owned(), |b| format!("{:.2}", measured / b))
        };
        let _ = writeln!(
            out,
            "| sagas completed (booking → CONFIRMED in the read model), steady state | {:.0}/s ({} sagas, {:.0}/s overall) | bare-client chain, {}: {} | {} | ≥ 0.5 × chain | {} |",
            s.sagas_per_second, s.sagas, s.overall_per_second,
            chain.map_or(String::new(), |c| format!("{} hops, {} groups", c.hops, c.groups)),
            chain.map_or("failed".to_owned(), |c| format!("{:.0} chains/s ({:.0}/s overall)", c.drain_per_second, c.overall_per_second)),
            ratio(s.sagas_per_second, chain.map(|c| c.drain_per_second)),
            verdict(chain.is_some_and(|c| s.sagas_per_second >= 0.5 * c.drain_per_second))
        );
        let _ = writeln!(
            out,
            "| sagas/s against the PostgreSQL commit limit (context) | {:.0}/s | pgbench {:.0} TPS ÷ {:.1} step transactions per saga: {:.0}/s | {:.2} | — | |",
            s.sagas_per_second, self.pgbench.step.tps, s.steps_per_saga, limit, s.sagas_per_second / limit
        );
        for o in &self.open_loop {
            // The chain ran at the low rate only: the p50 ratio is for that rate.
            let same_rate = chain.filter(|c| (c.rate - o.rate).abs() < f64::EPSILON);
            let _ = writeln!(
                out,
                "| latency booking → CONFIRMED at {:.0} bookings/s | p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} confirmed, {} not terminal 90 s after the last booking) | {} | {} | {} | {} |",
                o.rate, o.confirmed_latency.p50_ms, o.confirmed_latency.p90_ms, o.confirmed_latency.p99_ms,
                o.confirmed_latency.max_ms, o.confirmed_latency.count, o.not_terminal,
                same_rate.map_or(String::new(), |c| format!("chain p50 {:.0} ms, p99 {:.0} ms", c.latency.p50_ms, c.latency.p99_ms)),
                same_rate.map_or("—".to_owned(), |c| format!("{:.2}", o.confirmed_latency.p50_ms / c.latency.p50_ms)),
                if same_rate.is_some() { "p50 ≤ 2 × chain" } else { "sustained: nothing left behind" },
                match same_rate {
                    Some(c) => verdict(o.not_terminal == 0 && o.confirmed_latency.p50_ms <= 2.0 * c.latency.p50_ms),
                    None => verdict(o.not_terminal == 0),
                }
            );
        }
        let _ = writeln!(
            out,
            "| broker CPU, pipeline idle (every mapping dozing, {:.1} s after the drain) | {:.2} cores | bare-client chain's groups idle (polling): {} | — | ≤ 0.1 core | {} |",
            s.dozed_after_seconds,
            s.broker_idle_cores,
            chain.map_or("failed".to_owned(), |c| format!("{:.2} cores", c.broker_idle_cores)),
            verdict(s.broker_idle_cores <= 0.1)
        );
        let a = &self.api;
        let _ = writeln!(
            out,
            "| `POST /api/v1/appointments`, closed loop ({} in flight) | {:.0}/s (p50 {:.1} ms, p99 {:.1} ms) | pgbench, the booking transaction, {} clients: {:.0} TPS | {:.2} | ≥ 0.7 × pgbench | {} |",
            a.concurrency, a.per_second, a.latency.p50_ms, a.latency.p99_ms,
            self.pgbench.booking.clients, self.pgbench.booking.tps,
            a.per_second / self.pgbench.booking.tps,
            verdict(a.per_second >= 0.7 * self.pgbench.booking.tps)
        );
        for o in &self.open_loop {
            let _ = writeln!(
                out,
                "| `POST /api/v1/appointments` at {:.0}/s (open loop) | p50 {:.1} ms, p99 {:.1} ms | | | reported | |",
                o.rate, o.api_latency.p50_ms, o.api_latency.p99_ms
            );
        }
        for r in &self.rebuild {
            if let Some(error) = &r.error {
                let _ = writeln!(
                    out,
                    "| rebuild `{}` | failed: {} | | | ≥ 0.3 × consume | **missed** |",
                    r.function,
                    error.replace('|', "/")
                );
                continue;
            }
            let whole = r.records as f64 / r.seconds.max(0.05);
            let _ = writeln!(
                out,
                "| rebuild `{}`, whole (pause, reset, rewind, rejoin, replay) | {:.0} records/s ({} records in {:.1} s; {:.0}/s in the replay alone) | the runtime's own consume rate: {:.0} records/s | {:.3} | ≥ 0.3 × consume | {} |",
                r.function, whole, r.records, r.seconds, r.replay_per_second,
                self.consume.esm_per_second, whole / self.consume.esm_per_second,
                verdict(whole >= 0.3 * self.consume.esm_per_second)
            );
        }
        let c = &self.consume;
        let _ = writeln!(
            out,
            "| local ESM runtime consume rate (batches of {}) | {:.0} records/s | bare rdkafka consumer, commit per {}: {:.0} records/s | {:.2} | ≥ 0.8 × bare | {} |",
            c.batch_size, c.esm_per_second, c.batch_size, c.bare_per_second,
            c.esm_per_second / c.bare_per_second,
            verdict(c.esm_per_second >= 0.8 * c.bare_per_second)
        );
        let _ = writeln!(
            out,
            "\nContext: the broker takes {:.0} records/s from one producer (acks=all) and gives {:.0}/s to one consumer; {:.1} database commits per saga; the broker (tansu) used {:.2} cores while draining and {:.2} cores with the pipeline idle; the SES stand-in (moto) answers {:.0} SendEmail/s at {} in flight; {} of {} drained sagas CONFIRMED.\n",
            c.produce_per_second, c.bare_per_second, s.commits_per_saga, s.cpu.broker, s.broker_idle_cores, self.ses.per_second, self.ses.concurrency, s.confirmed, s.sagas
        );
        let _ = writeln!(
            out,
            "Where the CPU went during the drain (average cores of {} available): the whole machine {:.2}; the broker {:.2}, PostgreSQL {:.2}, the bench process (API, functions, runtime, relay, load) {:.2}, everything else {:.2}.\n",
            s.cpu.available, s.cpu.busy, s.cpu.broker, s.cpu.database, s.cpu.bench,
            s.cpu.busy - s.cpu.broker - s.cpu.database - s.cpu.bench
        );
        match (&self.header_lookup, &self.header_lookup_error) {
            (Some(h), _) => {
                let _ = writeln!(
                    out,
                    "tansu's header lookup: a bare consumer reads {} records of {} headers each at {:.0} records/s with the index `local::tansu` adds, {:.0}/s on the same data without it (tansu 0.6 as shipped): {:.1}× faster.\n",
                    h.records, h.headers_per_record, h.indexed_per_second, h.unindexed_per_second,
                    h.indexed_per_second / h.unindexed_per_second
                );
            }
            (None, Some(error)) => {
                let _ = writeln!(out, "tansu's header lookup **failed**: {error}\n");
            }
            (None, None) => {}
        }
        if let Some(error) = &self.chain_error {
            let _ = writeln!(out, "The bare-client chain **failed**: {error}\n");
        }
        let _ = writeln!(
            out,
            "Database sessions during the drain ({} samples of `pg_stat_activity`, every 50 ms; average sessions in each state):\n",
            s.sessions.samples
        );
        let _ = writeln!(out, "| sessions doing | on average |");
        let _ = writeln!(out, "|---|---|");
        for (kind, sessions) in &s.sessions.kinds {
            let _ = writeln!(out, "| {kind} | {sessions:.2} |");
        }
        let _ = writeln!(out);
        if let Some(o) = self.open_loop.first().filter(|o| !o.hops.is_empty()) {
            let _ = writeln!(
                out,
                "Where a saga's time goes at {:.0} bookings/s, hop by hop (the database's timestamps; publish = the writer's transaction start → published, so the function's work and commit are in it; deliver = published → the consumer's transaction start: broker, fetch wait, runtime):\n",
                o.rate
            );
            let _ = writeln!(
                out,
                "| record | consumer | records | publish p50 / p99 | deliver p50 / p99 |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|");
            for h in &o.hops {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.0} / {:.0} ms | {:.0} / {:.0} ms |",
                    h.event_type,
                    h.consumer,
                    h.records,
                    h.publish_p50_ms,
                    h.publish_p99_ms,
                    h.deliver_p50_ms,
                    h.deliver_p99_ms
                );
            }
            if let Some(c) = chain {
                let _ = writeln!(
                    out,
                    "\nThe bare-client chain at the same rate: {:.0} ms a hop at p50 ({:.0} ms over {} hops).\n",
                    c.latency.p50_ms / c.hops as f64, c.latency.p50_ms, c.hops
                );
            }
        }
        if let Some(error) = &self.lambda_error {
            let _ = writeln!(out, "The Lambda scenario **failed**: {error}\n");
        }
        if !self.lambda.is_empty() {
            let _ = writeln!(out, "| function | init (median) | invoke | peak RSS | binary (x86_64, stripped) | zip (arm64) | |");
            let _ = writeln!(out, "|---|---|---|---|---|---|---|");
            for l in &self.lambda {
                let zip = l
                    .arm64_zip_mib
                    .map_or("not built".to_owned(), |z| format!("{z:.1} MiB"));
                let met = l.init_ms <= 20.0 && l.arm64_zip_mib.is_none_or(|z| z <= 6.0);
                let _ = writeln!(
                    out,
                    "| {} | {:.1} ms | {:.1} ms | {:.1} MiB | {:.1} MiB | {} | {} |",
                    l.function,
                    l.init_ms,
                    l.invoke_ms,
                    l.peak_rss_mib,
                    l.binary_mib,
                    zip,
                    verdict(met)
                );
            }
            let _ = writeln!(out, "\nTargets per function: init ≤ 20 ms, zip ≤ 6 MB.");
        }
        out
    }
}
