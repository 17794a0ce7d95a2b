//! Supervises a tansu broker, the local Kafka: spawn it on 127.0.0.1 with its sqlite storage in a
//! data directory, wait until it serves metadata, add the index its schema lacks
//! ([`HEADER_INDEX`]), kill it on drop; `kill` and `restart` for fault tests (the data survives
//! both).

use crate::process::TiedProcess;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a freshly spawned broker may take to serve metadata.
const START_DEADLINE: Duration = Duration::from_secs(30);
const LOG_FILE: &str = "tansu.log";
/// tansu's sqlite file, in the data directory.
const DB_FILE: &str = "tansu.db";

/// The index tansu 0.6's sqlite schema lacks. Its `header` table (every record header the broker
/// stores) has no index, and a fetch reads each record's headers with a query SQLite can answer
/// only by scanning that whole table (`EXPLAIN QUERY PLAN`: `SCAN h`). So every record fetched
/// costs a pass over every header ever stored, and as the engine serves all storage requests
/// from one task, produce requests queue behind those fetches: the broker slows down in
/// proportion to what it holds (our records carry five headers each; the bench's "header
/// lookup" scenario measures a fetch with and without this index on the same data). With it,
/// each lookup is a search. Added once the broker has created its tables, before any client
/// connects; it stays in the file across restarts.
pub const HEADER_INDEX: &str = "header_topition_offset_id";

/// A running tansu broker; stopped when dropped.
#[derive(Debug)]
pub struct TansuBroker {
    /// `127.0.0.1:<port>`, for `bootstrap.servers`.
    pub bootstrap: String,
    port: u16,
    data_dir: PathBuf,
    process: TiedProcess,
}

/// `$TANSU`, else `tansu` on PATH, else `~/.cargo/bin/tansu`.
fn tansu_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TANSU") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("tansu"))
            .find(|candidate| candidate.is_file())
    });
    if let Some(path) = on_path {
        return path;
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cargo/bin/tansu")
}

impl TansuBroker {
    /// Starts tansu on 127.0.0.1:`port` with its data (sqlite) in `data_dir`, created if
    /// missing, and waits until it serves metadata.
    pub fn start(port: u16, data_dir: &Path) -> Result<TansuBroker, String> {
        std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", data_dir.display()))?;
        let url = format!("tcp://127.0.0.1:{port}");
        // The working directory is the data directory: tansu resolves `sqlite://tansu.db`
        // against it (an absolute sqlite path gets mangled). The log is appended, so after a
        // restart the earlier run's log is still there to read.
        let args: Vec<String> = [
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
            &format!("sqlite://{DB_FILE}"),
        ]
        .map(str::to_owned)
        .to_vec();
        let mut process =
            TiedProcess::spawn(&tansu_binary(), &args, &data_dir, &data_dir.join(LOG_FILE))?;
        let bootstrap = format!("127.0.0.1:{port}");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut client: Option<BaseConsumer> = None;
        process.wait_until(START_DEADLINE, || {
            // The port first, so the rdkafka client is created once and does not spend its
            // reconnect backoff on a broker that is still starting.
            if client.is_none()
                && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            {
                client = ClientConfig::new()
                    .set("bootstrap.servers", &bootstrap)
                    .create()
                    .ok();
            }
            client
                .as_ref()
                .is_some_and(|c| c.fetch_metadata(None, Duration::from_millis(500)).is_ok())
        })?;
        index_headers(&data_dir.join(DB_FILE))?;
        Ok(TansuBroker {
            bootstrap,
            port,
            data_dir,
            process,
        })
    }

    /// A connection to tansu's sqlite file, beside the broker's own ([`open_database`]).
    pub fn database(&self) -> rusqlite::Result<rusqlite::Connection> {
        open_database(&self.data_dir.join(DB_FILE))
    }

    /// The end of the broker's log (its last 2,000 bytes), for a report.
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    /// SIGKILLs the broker at once, as a crash would (no clean shutdown).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts the broker again on the same port and data directory (stopping it first if it
    /// still runs). Everything it had stored is still there.
    pub fn restart(&mut self) -> Result<(), String> {
        self.process.stop();
        let data_dir = self.data_dir.clone();
        *self = TansuBroker::start(self.port, &data_dir)?;
        Ok(())
    }
}

/// Opens tansu's sqlite file `db`. The broker holds the file too: a write waits up to 10 s for
/// its lock rather than fail.
fn open_database(db: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let connection = rusqlite::Connection::open(db)?;
    connection.busy_timeout(Duration::from_secs(10))?;
    Ok(connection)
}

/// Adds [`HEADER_INDEX`] to the broker's sqlite file (nothing when it is there already).
fn index_headers(db: &Path) -> Result<(), String> {
    open_database(db)
        .and_then(|connection| {
            connection.execute_batch(&format!(
                "CREATE INDEX IF NOT EXISTS {HEADER_INDEX} ON header (topition, offset_id)"
            ))
        })
        .map_err(|e| format!("indexing {}: {e}", db.display()))
}
