//! Shared helpers for the process-level tests: start the real `skiff` binary as a child
//! process, wait for its ready line, signal it, and always kill it at the end (even when an
//! assertion fails) through the `Drop` of [`Skiff`].

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// How long `skiff up` may take to print its ready line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a signalled or failing skiff may take to exit.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// What `skiff up` reported when it became ready.
#[derive(Debug, Clone)]
pub struct Ready {
    /// The `https://host:port` URL from the `skiff is ready:` line.
    pub server_url: String,
    /// The path from the `export KUBECONFIG=...` line.
    pub kubeconfig: PathBuf,
}

/// A `skiff up` child process. Dropping it SIGKILLs the process if it has not exited.
pub struct Skiff {
    child: Child,
    pid: i32,
    data_dir: PathBuf,
    stdout_lines: mpsc::UnboundedReceiver<String>,
    stdout_log: Arc<Mutex<String>>,
    stderr_log: Arc<Mutex<String>>,
    exited: Option<ExitStatus>,
}

impl Skiff {
    /// Spawns `skiff up --data-dir DIR --listen 127.0.0.1:0 --store sqlite` (does not wait).
    pub fn spawn(data_dir: &Path) -> Skiff {
        Self::spawn_with(data_dir, &["--listen", "127.0.0.1:0", "--store", "sqlite"])
    }

    /// Spawns `skiff up --data-dir DIR` followed by `args` (does not wait).
    pub fn spawn_with(data_dir: &Path, args: &[&str]) -> Skiff {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_skiff"));
        cmd.arg("up")
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .env_remove("SKIFF_DATA_DIR")
            .env_remove("SKIFF_LISTEN")
            .env_remove("SKIFF_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawning the skiff binary");
        let pid = child.id().expect("a freshly spawned child has a pid") as i32;

        let (tx, stdout_lines) = mpsc::unbounded_channel();
        let stdout_log = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let log = stdout_log.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut l) = log.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
                let _ = tx.send(line);
            }
        });

        let stderr_log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let log = stderr_log.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut l) = log.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });

        Skiff {
            child,
            pid,
            data_dir: data_dir.to_path_buf(),
            stdout_lines,
            stdout_log,
            stderr_log,
            exited: None,
        }
    }

    /// Spawns skiff on `data_dir` (loopback, port 0, SQLite) and waits until it is ready.
    pub async fn start(data_dir: &Path) -> (Skiff, Ready) {
        let mut s = Self::spawn(data_dir);
        let ready = s.ready().await;
        (s, ready)
    }

    /// The process id.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The data directory it was started on.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr_log
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Everything the process wrote to stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout_log
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Waits for the `skiff is ready:` line and the `export KUBECONFIG=` line after it.
    /// Panics (naming the suspected bug) if the process exits first or takes too long.
    pub async fn ready(&mut self) -> Ready {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        let mut server_url: Option<String> = None;
        loop {
            let line = match tokio::time::timeout_at(deadline, self.stdout_lines.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => {
                    // stdout closed: the process is exiting without having become ready.
                    let status = tokio::time::timeout(EXIT_TIMEOUT, self.child.wait()).await;
                    if let Ok(Ok(st)) = &status {
                        self.exited = Some(*st);
                    }
                    panic!(
                        "skiff closed stdout before printing the ready line and `export KUBECONFIG=` \
                         (startup failed?); exit status: {status:?}\nstdout:\n{}\nstderr:\n{}",
                        self.stdout(),
                        self.stderr()
                    );
                }
                Err(_) => panic!(
                    "skiff did not print `skiff is ready:` followed by `export KUBECONFIG=` within \
                     {READY_TIMEOUT:?} (startup hangs: store open, bootstrap or listener?)\nstdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                ),
            };
            if let Some(rest) = line.strip_prefix("skiff is ready:") {
                let url = rest
                    .split_whitespace()
                    .find(|w| w.starts_with("https://"))
                    .unwrap_or_else(|| panic!("the ready line names no https:// URL: {line:?}"));
                server_url = Some(url.to_string());
                continue;
            }
            if let Some(url) = &server_url
                && let Some(path) = line.trim().strip_prefix("export KUBECONFIG=")
            {
                let kubeconfig = PathBuf::from(path.trim());
                assert!(
                    kubeconfig.is_file(),
                    "the ready output names KUBECONFIG={} but no such file exists (kubeconfig written after \
                     reporting ready?)",
                    kubeconfig.display()
                );
                return Ready {
                    server_url: url.clone(),
                    kubeconfig,
                };
            }
        }
    }

    /// Sends `sig` to the process.
    pub fn signal(&self, sig: libc::c_int) {
        if self.exited.is_some() {
            return;
        }
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet.
        let rc = unsafe { libc::kill(self.pid, sig) };
        assert_eq!(
            rc,
            0,
            "kill({}, {sig}) failed: {}",
            self.pid,
            std::io::Error::last_os_error()
        );
    }

    /// Waits for the process to exit; panics with `suspected` if it does not within `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration, suspected: &str) -> ExitStatus {
        if let Some(st) = self.exited {
            return st;
        }
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(st)) => {
                self.exited = Some(st);
                // Let the pipe readers drain what the process wrote last.
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while self.stdout_lines.recv().await.is_some() {}
                })
                .await;
                st
            }
            Ok(Err(e)) => panic!("waiting for skiff (pid {}): {e}", self.pid),
            Err(_) => panic!(
                "skiff (pid {}) did not exit within {timeout:?}: {suspected}\nstderr:\n{}",
                self.pid,
                self.stderr()
            ),
        }
    }

    /// SIGKILLs the process and waits for it to be gone.
    pub async fn kill9(&mut self) -> ExitStatus {
        self.signal(libc::SIGKILL);
        self.wait_exit(
            EXIT_TIMEOUT,
            "SIGKILL did not end the process (cannot happen unless the pid is wrong)",
        )
        .await
    }

    /// SIGTERMs the process and asserts it exits with status 0.
    pub async fn stop(&mut self) {
        self.signal(libc::SIGTERM);
        let st = self
            .wait_exit(
                EXIT_TIMEOUT,
                "SIGTERM does not stop skiff (shutdown waits forever on a task or connection?)",
            )
            .await;
        assert_eq!(
            st.code(),
            Some(0),
            "SIGTERM must stop skiff with exit code 0, got {st:?}\nstderr:\n{}",
            self.stderr()
        );
        let stderr = self.stderr();
        assert!(
            !stderr.contains("panicked"),
            "skiff panicked while stopping:\n{stderr}"
        );
    }
}

impl Drop for Skiff {
    fn drop(&mut self) {
        if self.exited.is_none() {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet
            // (tokio reaps it only after this Child is dropped or waited on).
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
            }
            let _ = self.child.start_kill();
        }
    }
}

/// A kube-rs client built from the kubeconfig skiff wrote (real HTTPS, client certificate).
pub async fn client(kubeconfig: &Path) -> kube::Client {
    testkit::client_from_kubeconfig(kubeconfig)
        .await
        .unwrap_or_else(|e| panic!("building a client from {}: {e:#}", kubeconfig.display()))
}

/// Waits on `fut`, failing with a message naming the suspected bug.
pub async fn within<T>(
    timeout: Duration,
    suspected: &str,
    fut: impl std::future::Future<Output = T>,
) -> T {
    match tokio::time::timeout(timeout, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {timeout:?}: {suspected}"),
    }
}

pub use skiff::ops::node_ready;

/// Parses a resourceVersion as the integer skiff uses, naming the object on failure.
pub fn rv_number(what: &str, rv: Option<&String>) -> u64 {
    let rv = rv.unwrap_or_else(|| panic!("{what} has no resourceVersion"));
    rv.parse()
        .unwrap_or_else(|_| panic!("{what} has a non-numeric resourceVersion {rv:?}"))
}

/// Polls `check` until it returns `Some`, failing after `patience` with `what`, also when a
/// single check is still running then (the bound is a hang guard, not a timing target).
pub async fn wait_for<T, F, Fut>(what: &str, patience: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        // The deadline bounds each check too, so a hung request fails with `what`.
        match tokio::time::timeout_at(deadline, check()).await {
            Ok(Some(v)) => return v,
            Ok(None) => {}
            Err(_) => panic!("timed out waiting for: {what}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
