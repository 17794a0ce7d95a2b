//! Supervises a moto server, the local stand-in for AWS (Glue Schema Registry, SES v2,
//! Secrets Manager): spawn on 127.0.0.1, wait until it answers, kill it on drop.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a freshly spawned moto server may take to answer.
const START_DEADLINE: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Seed for moto's id generator (any constant works; it must never change).
const SEED: u64 = 20_261_122;

/// Region and credentials moto accepts; nothing secret (moto checks neither).
pub const REGION: &str = "us-east-1";

/// A running moto server; killed when dropped.
#[derive(Debug)]
pub struct MotoServer {
    /// Base URL, e.g. `http://127.0.0.1:5055`.
    pub endpoint: String,
    child: Child,
    lifeline: Option<ChildStdin>,
    log_path: PathBuf,
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `$MOTO_SERVER`, else `<workspace>/.venv/bin/moto_server` if present, else `moto_server` on PATH.
fn moto_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let venv = workspace_root().join(".venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("moto_server")
}

impl MotoServer {
    /// Starts moto on 127.0.0.1:`port` and waits until it answers.
    pub fn start(port: u16) -> Result<MotoServer, String> {
        let binary = moto_binary();
        let log_path = std::env::temp_dir().join(format!("moto-{port}-{}.log", std::process::id()));
        let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let log_err = log.try_clone().map_err(|e| e.to_string())?;
        // A small shell keeps moto tied to us: it waits on a pipe we hold and kills moto when
        // the pipe closes, which happens when we drop the server or our process dies (even by
        // SIGKILL), so no moto outlives the stack or a test binary.
        let mut child = Command::new("sh")
            .args([
                "-c",
                r#""$0" -H 127.0.0.1 -p "$1" & m=$!; read _; kill $m; wait $m"#,
            ])
            .arg(&binary)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            // Moto logs every request; a file (unlike a pipe nobody reads) never fills up.
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let lifeline = child.stdin.take();
        let mut moto = MotoServer {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
            lifeline,
            log_path,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                return Err(format!(
                    "{} exited with {status}: {}",
                    binary.display(),
                    moto.log_tail()
                ));
            }
            if http_ok(addr, "GET", "/moto-api/data.json") {
                // Seed moto's random generator: the same registrations then get the same
                // schema version ids after every restart, so records already in Kafka (framed
                // with those ids) still decode. moto keeps no state across restarts.
                if !http_ok(addr, "POST", &format!("/moto-api/seed?a={SEED}")) {
                    return Err(format!("moto on {addr} refused to be seeded"));
                }
                return Ok(moto);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "moto did not answer on {addr} within {START_DEADLINE:?}: {}",
                    moto.log_tail()
                ));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// An AWS SDK configuration aimed at this server (region us-east-1, dummy credentials).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config(&self.endpoint).await
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let start = text.len().saturating_sub(2000);
        text.get(start..).unwrap_or_default().to_owned()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        drop(self.lifeline.take());
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log_path);
    }
}

/// An AWS SDK configuration for a local endpoint speaking the AWS APIs (moto, LocalStack).
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_glue::config::Credentials::new(
            "local", "local", None, None, "moto",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// True when `METHOD path` on `addr` answers with HTTP status 200.
fn http_ok(addr: SocketAddr, method: &str, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request =
        format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    if stream.read_exact(&mut head).is_err() {
        return false;
    }
    head.starts_with(b"HTTP/1.") && &head[8..] == b" 200"
}
