//! A PostgreSQL cluster of a test's own (initdb into a temporary directory, a free port,
//! trust auth, 127.0.0.1 only), for tests that restart the database: the machine's shared
//! server must never be restarted under other tests. Stopped and removed when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A dedicated PostgreSQL cluster.
#[derive(Debug)]
pub struct Postgres {
    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub url: String,
    bin: PathBuf,
    data: PathBuf,
    /// The server options (port, socket directory, settings), for every start.
    options: String,
    _dir: tempfile::TempDir,
}

/// The newest installed server's binaries (Debian: /usr/lib/postgresql/<version>/bin).
fn server_bin() -> Result<PathBuf, String> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("no PostgreSQL server installed: {e}"))?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("pg_ctl").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| "no pg_ctl under /usr/lib/postgresql".to_owned())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

impl Postgres {
    /// Creates and starts the cluster. Panics with the server's log on failure.
    pub fn start() -> Postgres {
        Self::try_start().unwrap_or_else(|e| panic!("cannot start a PostgreSQL cluster: {e}"))
    }

    pub fn try_start() -> Result<Postgres, String> {
        let bin = server_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("pg-cluster-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        if is_root() {
            // The server refuses to run as root: the cluster belongs to the postgres user.
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .map_err(|e| e.to_string())?;
            if !status.success() {
                return Err("cannot hand the cluster directory to the postgres user".to_owned());
            }
        }
        let port = crate::free_port().map_err(|e| e.to_string())?;
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=200",
            dir.path().display()
        );
        let cluster = Postgres {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            bin,
            data,
            options,
            _dir: dir,
        };
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data.to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            ],
        )?;
        cluster.start_again()?;
        Ok(cluster)
    }

    fn socket_dir(&self) -> &Path {
        self.data.parent().unwrap_or(&self.data)
    }

    /// Runs one of the server's programs, as the postgres user when we are root.
    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let program = self.bin.join(program);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let output = command
            .args(args)
            .current_dir(self.socket_dir())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            let log =
                std::fs::read_to_string(self.socket_dir().join("server.log")).unwrap_or_default();
            Err(format!(
                "{} {args:?} failed: {}{}\n{log}",
                program.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let data = self.data.to_string_lossy().into_owned();
        let log = self
            .socket_dir()
            .join("server.log")
            .to_string_lossy()
            .into_owned();
        let mut all = vec!["-D", &data, "-l", &log, "-w", "-t", "60"];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all)
    }

    /// Restarts the server (fast shutdown: open connections are cut, as in a failover), and
    /// waits until it accepts connections again.
    pub fn restart(&self) -> Result<(), String> {
        self.pg_ctl(&["-m", "fast", "restart"])
    }

    /// Stops the server (fast shutdown: open connections are cut) and waits until it is down;
    /// connections are refused until [`Postgres::start_again`].
    pub fn stop(&self) -> Result<(), String> {
        self.pg_ctl(&["-m", "fast", "stop"])
    }

    /// Starts the (stopped) server on its port and waits until it accepts connections.
    pub fn start_again(&self) -> Result<(), String> {
        self.pg_ctl(&["-o", &self.options, "start"])
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["-m", "immediate", "stop"]);
    }
}
