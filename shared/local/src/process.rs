//! One way to run a local server (moto, tansu): tied to us, logged to a file, polled until ready.
//!
//! A small shell starts the server and waits on a pipe we hold; when the pipe closes (we stop
//! the server, or our process dies, even by SIGKILL) it kills the server. So no server outlives
//! the stack or a test binary. The shell also writes the server's pid for crash simulations.
//! It runs in its own process group, so a Ctrl-C in the terminal reaches only us: we stop our
//! clients first and the servers last, and no client sees its broker vanish while closing.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A running server process.
#[derive(Debug)]
pub struct TiedProcess {
    name: String,
    child: Child,
    lifeline: Option<ChildStdin>,
    log_path: PathBuf,
    pid_path: PathBuf,
}

impl TiedProcess {
    /// Runs `program args…` in `cwd`, appending its output to `log_path` (a file never blocks
    /// the server the way an unread pipe would).
    pub fn spawn(
        program: &Path,
        args: &[String],
        cwd: &Path,
        log_path: &Path,
    ) -> Result<TiedProcess, String> {
        let name = program.file_name().map_or_else(
            || program.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .map_err(|e| format!("{}: {e}", log_path.display()))?;
        let log_err = log.try_clone().map_err(|e| e.to_string())?;
        let pid_path = log_path.with_extension("pid");
        let _ = std::fs::remove_file(&pid_path);
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"p="$1"; shift; "$0" "$@" & m=$!; echo $m > "$p"; read _; kill $m; wait $m"#)
            .arg(program)
            .arg(&pid_path)
            .args(args)
            .current_dir(cwd)
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        let lifeline = child.stdin.take();
        Ok(TiedProcess {
            name,
            child,
            lifeline,
            log_path: log_path.to_owned(),
            pid_path,
        })
    }

    /// Polls `ready` until it holds; fails with the log's tail if the process exits first or
    /// `deadline` passes.
    pub fn wait_until(
        &mut self,
        deadline: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), String> {
        let until = Instant::now() + deadline;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited with {status}: {}",
                    self.name,
                    self.log_tail()
                ));
            }
            if ready() {
                return Ok(());
            }
            if Instant::now() >= until {
                return Err(format!(
                    "{} was not ready within {deadline:?}: {}",
                    self.name,
                    self.log_tail()
                ));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// SIGKILLs the server at once, as a crash would, then reaps the shell.
    pub fn kill(&mut self) {
        match std::fs::read_to_string(&self.pid_path) {
            Ok(pid) => {
                let status = Command::new("kill").args(["-9", pid.trim()]).status();
                if !matches!(status, Ok(s) if s.success()) {
                    tracing::warn!(server = %self.name, pid = pid.trim(), ?status, "kill -9 failed");
                }
            }
            Err(e) => tracing::warn!(server = %self.name, "no pid file: {e}"),
        }
        self.stop();
    }

    /// Closes the lifeline (the shell then stops the server) and waits.
    pub fn stop(&mut self) {
        drop(self.lifeline.take());
        let _ = self.child.wait();
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let mut start = text.len().saturating_sub(2000);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text[start..].to_owned()
    }
}

impl Drop for TiedProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process_group(pid: &str) -> String {
        let out = Command::new("ps")
            .args(["-o", "pgid=", "-p", pid])
            .output()
            .expect("ps");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A terminal's Ctrl-C goes to the foreground process group: the server is not in ours,
    /// so it outlives the signal until we stop it; and stopping it still ends it.
    #[test]
    fn the_server_is_outside_our_process_group_and_stops_with_us() {
        let dir = std::env::temp_dir().join(format!("tied-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let log = dir.join("sleep.log");
        let mut server =
            TiedProcess::spawn(Path::new("sleep"), &["30".into()], &dir, &log).expect("spawn");
        let pid_path = log.with_extension("pid");
        server
            .wait_until(Duration::from_secs(5), || {
                std::fs::read_to_string(&pid_path).is_ok_and(|pid| pid.ends_with('\n'))
            })
            .expect("pid written");
        let pid = std::fs::read_to_string(&pid_path).expect("pid");
        let ours = process_group(&std::process::id().to_string());
        let its = process_group(pid.trim());
        assert!(!its.is_empty(), "the server runs");
        assert_ne!(its, ours, "the server shares our process group");
        server.stop();
        assert_eq!(process_group(pid.trim()), "", "the server outlived stop()");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
