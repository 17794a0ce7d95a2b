//! Supervises a tansu broker, the local Kafka: spawn it on 127.0.0.1 with its sqlite storage in a
//! data directory, wait until it serves metadata, kill it on drop; `kill` and `restart` for
//! fault tests (the data survives both).

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use std::fs::OpenOptions;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a freshly spawned broker may take to serve metadata.
const START_DEADLINE: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
const LOG_FILE: &str = "tansu.log";
const PID_FILE: &str = "tansu.pid";

/// A running tansu broker; stopped when dropped.
#[derive(Debug)]
pub struct TansuBroker {
    /// `127.0.0.1:<port>`, for `bootstrap.servers`.
    pub bootstrap: String,
    port: u16,
    data_dir: PathBuf,
    child: Child,
    lifeline: Option<ChildStdin>,
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
        let binary = tansu_binary();
        let log_path = data_dir.join(LOG_FILE);
        // Append: after a restart the earlier run's log is still worth reading.
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("{}: {e}", log_path.display()))?;
        let log_err = log.try_clone().map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(data_dir.join(PID_FILE));
        let url = format!("tcp://127.0.0.1:{port}");
        // A small shell keeps tansu tied to us: it waits on a pipe we hold and kills tansu when
        // the pipe closes, which happens when we drop the broker or our process dies (even by
        // SIGKILL). It also writes tansu's pid, so `kill` can SIGKILL tansu itself. The working
        // directory is the data directory because tansu resolves `sqlite://tansu.db` against
        // it (an absolute sqlite path gets mangled).
        let mut child = Command::new("sh")
            .args([
                "-c",
                r#""$0" broker --listener-url "$1" --advertised-listener-url "$1" --storage-engine sqlite://tansu.db & m=$!; echo $m > "$2"; read _; kill $m; wait $m"#,
            ])
            .arg(&binary)
            .arg(&url)
            .arg(PID_FILE)
            .current_dir(&data_dir)
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let lifeline = child.stdin.take();
        let mut broker = TansuBroker {
            bootstrap: format!("127.0.0.1:{port}"),
            port,
            data_dir,
            child,
            lifeline,
        };
        broker.wait_until_ready(&binary)?;
        Ok(broker)
    }

    fn wait_until_ready(&mut self, binary: &Path) -> Result<(), String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + START_DEADLINE;
        let mut client: Option<BaseConsumer> = None;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited with {status}: {}",
                    binary.display(),
                    self.log_tail()
                ));
            }
            // The port first, so the rdkafka client is created once and does not spend its
            // reconnect backoff on a broker that is still starting.
            if client.is_none()
                && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            {
                client = Some(
                    ClientConfig::new()
                        .set("bootstrap.servers", &self.bootstrap)
                        .create()
                        .map_err(|e| format!("rdkafka client: {e}"))?,
                );
            }
            if let Some(client) = &client {
                if client
                    .fetch_metadata(None, Duration::from_millis(500))
                    .is_ok()
                {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "tansu did not serve metadata on {addr} within {START_DEADLINE:?}: {}",
                    self.log_tail()
                ));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// SIGKILLs the broker at once, as a crash would (no clean shutdown).
    pub fn kill(&mut self) {
        let pid_path = self.data_dir.join(PID_FILE);
        match std::fs::read_to_string(&pid_path) {
            Ok(pid) => {
                let status = Command::new("kill").args(["-9", pid.trim()]).status();
                if !matches!(status, Ok(s) if s.success()) {
                    tracing::warn!(pid = pid.trim(), ?status, "kill -9 of tansu failed");
                }
            }
            Err(e) => tracing::warn!(path = %pid_path.display(), "no tansu pid file: {e}"),
        }
        self.stop();
    }

    /// Starts the broker again on the same port and data directory (stopping it first if it
    /// still runs). Everything it had stored is still there.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        let data_dir = self.data_dir.clone();
        *self = TansuBroker::start(self.port, &data_dir)?;
        Ok(())
    }

    /// Closes the lifeline (the shell then stops tansu, if it still runs) and waits.
    fn stop(&mut self) {
        drop(self.lifeline.take());
        let _ = self.child.wait();
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.data_dir.join(LOG_FILE)).unwrap_or_default();
        let mut start = text.len().saturating_sub(2000);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text[start..].to_owned()
    }
}

impl Drop for TansuBroker {
    fn drop(&mut self) {
        self.stop();
    }
}
