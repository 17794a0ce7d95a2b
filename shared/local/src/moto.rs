//! Supervises a moto server, the local stand-in for AWS (Glue Schema Registry, SES v2,
//! Secrets Manager): spawn on 127.0.0.1, wait until it answers, kill it on drop.

use crate::process::TiedProcess;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a freshly spawned moto server may take to answer.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// Seed for moto's id generator (any constant works; it must never change).
const SEED: u64 = 20_261_122;

/// Region and credentials moto accepts; nothing secret (moto checks neither).
pub const REGION: &str = "us-east-1";

/// A running moto server; killed when dropped.
#[derive(Debug)]
pub struct MotoServer {
    /// Base URL, e.g. `http://127.0.0.1:5055`.
    pub endpoint: String,
    _process: TiedProcess,
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
        let log_path = std::env::temp_dir().join(format!("moto-{port}-{}.log", std::process::id()));
        let args = [
            "-H".to_owned(),
            "127.0.0.1".to_owned(),
            "-p".to_owned(),
            port.to_string(),
        ];
        let mut process =
            TiedProcess::spawn(&moto_binary(), &args, &std::env::temp_dir(), &log_path)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        process.wait_until(START_DEADLINE, || {
            http_ok(addr, "GET", "/moto-api/data.json")
        })?;
        // Seed moto's random generator: the same registrations then get the same schema
        // version ids after every restart, so records already in Kafka (framed with those ids)
        // still decode. moto keeps no state across restarts.
        if !http_ok(addr, "POST", &format!("/moto-api/seed?a={SEED}")) {
            return Err(format!("moto on {addr} refused to be seeded"));
        }
        Ok(MotoServer {
            endpoint: format!("http://127.0.0.1:{port}"),
            _process: process,
            log_path,
        })
    }

    /// An AWS SDK configuration aimed at this server (region us-east-1, dummy credentials).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config(&self.endpoint).await
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log_path);
        let _ = std::fs::remove_file(self.log_path.with_extension("pid"));
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
