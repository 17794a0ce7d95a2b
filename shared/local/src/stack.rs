//! The local pipeline: topics from the one list, every Kafka trigger of template.yaml run by
//! the event-source-mapping runtime with the in-process invoker, the LISTEN/NOTIFY outbox
//! relay (which wakes the runtime's dozing mappings when it has seen records reach the
//! broker), and the saga sweeper and the retention purge on timers (the cloud's schedules). Used by `clinic-local up`
//! and by the end-to-end tests, so both run the same thing.

use crate::functions::InProcessInvoker;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The SAM template at the workspace root: the single source of truth for the triggers.
pub fn template_path() -> PathBuf {
    crate::moto::workspace_root().join("template.yaml")
}

/// A running pipeline; `stop` ends it gracefully (dropping it abandons in-flight batches
/// uncommitted, which is what a crash does).
pub struct Pipeline {
    pub runtime: Arc<esm::Runtime>,
    background: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").finish_non_exhaustive()
    }
}

/// How often the relay sweeps even without a NOTIFY (a safety net, e.g. after a reconnect).
const RELAY_SWEEP: Duration = Duration::from_secs(1);

/// How often the saga sweeper runs locally (the cloud schedule runs it every minute).
const SAGA_SWEEP: Duration = Duration::from_secs(5);

/// How often the retention purge runs locally (the cloud schedule runs it every hour).
const PURGE: Duration = Duration::from_secs(3600);

/// How the runtime reaches the functions.
#[derive(Debug, Clone, Default)]
pub enum Invocation {
    /// Every function linked into this binary (the default).
    #[default]
    InProcess,
    /// The Lambda Invoke API at this base URL (e.g. `cargo lambda watch` on :9000).
    Http(String),
}

/// Creates the topics, then starts the runtime, the relay, the sweeper and the purge (with
/// `purge-expired`'s settings from the environment).
/// `functions.ctx.publisher` must be set.
pub async fn start_pipeline(
    functions: InProcessInvoker,
    bootstrap: &str,
    template: &Path,
    partitions: i32,
    invocation: &Invocation,
    options: esm::RuntimeOptions,
) -> anyhow::Result<Pipeline> {
    let retention = purge_expired::retention_from_env(&messaging::config::Env::process())?;
    let ctx = functions.ctx.clone();
    let deadlines = functions.deadlines;
    let publisher = ctx
        .publisher
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the local pipeline needs a publisher"))?;
    esm::ensure_topics(bootstrap, &messaging::topics::all_topics(), partitions).await?;
    let mappings = esm::mappings_from_template(template)?;
    let invoker: Arc<dyn esm::Invoker> = match invocation {
        Invocation::InProcess => Arc::new(functions),
        Invocation::Http(base_url) => Arc::new(esm::HttpInvoker::new(base_url)?),
    };
    let runtime = Arc::new(esm::Runtime::start(mappings, bootstrap, invoker, options)?);
    let (stop, stopped) = watch::channel(false);
    let until_stopped = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let relay_stopped = until_stopped(stopped.clone());
    let relay = {
        let runtime = runtime.clone();
        tokio::spawn(async move {
            publisher
                .run_relay(RELAY_SWEEP, || runtime.wake(), relay_stopped)
                .await;
        })
    };
    let pool = ctx.pool.clone();
    let sweeper = every(SAGA_SWEEP, until_stopped(stopped.clone()), move || {
        let ctx = ctx.clone();
        async move {
            if let Err(e) = saga_sweeper::sweep(&ctx, &deadlines, chrono::Utc::now()).await {
                tracing::warn!(error = %e, "saga sweep failed; retrying at the next tick");
            }
        }
    });
    let purge = every(PURGE, until_stopped(stopped), move || {
        let pool = pool.clone();
        async move {
            let now = chrono::Utc::now();
            match store::retention::purge(&pool, retention, now).await {
                Ok(purged) => tracing::debug!(?purged, "expired rows purged"),
                Err(e) => tracing::warn!(error = %e, "purge failed; retrying at the next tick"),
            }
        }
    });
    Ok(Pipeline {
        runtime,
        background: vec![relay, sweeper, purge],
        stop,
    })
}

/// Runs `job` every `period`, the first time at once, until `stopped` resolves: a cloud
/// schedule, locally.
fn every<F, Job>(
    period: Duration,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
    mut job: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Job + Send + 'static,
    Job: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let runs = async {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                job().await;
            }
        };
        tokio::select! {
            () = runs => {}
            () = stopped => {}
        }
    })
}

impl Pipeline {
    pub async fn stop(mut self) {
        self.runtime.shutdown().await;
        let _ = self.stop.send(true);
        for task in self.background.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        for task in &self.background {
            task.abort();
        }
    }
}
