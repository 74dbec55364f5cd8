//! A `skiff up` child process for the benchmark: spawned on a temporary data directory and
//! loopback port 0, ready once it prints its ready line and kubeconfig, measured through
//! `/proc/<pid>/status`, and stopped with SIGTERM (SIGKILL if it lingers, or on drop).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::BenchError;

/// How long `skiff up` may take to print its ready line (a 5,000-node cluster included).
const READY_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a SIGTERMed skiff may take to exit before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of the child's stderr is kept for error messages.
const STDERR_TAIL: usize = 8 * 1024;

/// A running `skiff up` process and its data directory (removed when dropped).
pub struct SkiffProcess {
    child: Child,
    pid: u32,
    /// The admin kubeconfig the process wrote.
    pub kubeconfig: PathBuf,
    /// Spawn → ready line.
    pub to_ready_line: Duration,
    dir: Option<tempfile::TempDir>,
}

impl SkiffProcess {
    /// Spawns `bin up --data-dir <dir> --listen 127.0.0.1:0 <args>` and waits for its ready
    /// line. With `dir` the data directory is reused (a restart); otherwise a fresh temporary
    /// directory is made and removed with the process.
    pub async fn start(
        bin: &Path,
        args: &[String],
        dir: Option<tempfile::TempDir>,
    ) -> Result<SkiffProcess, BenchError> {
        let dir = match dir {
            Some(d) => d,
            None => tempfile::Builder::new()
                .prefix("skiff-bench-")
                .tempdir()
                .map_err(|source| BenchError::Io {
                    what: "creating a temporary data directory".into(),
                    source,
                })?,
        };
        let started = Instant::now();
        let mut child = Command::new(bin)
            .arg("up")
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--listen", "127.0.0.1:0", "--log", "warn"])
            .args(args)
            .env_remove("SKIFF_DATA_DIR")
            .env_remove("SKIFF_LISTEN")
            .env_remove("SKIFF_LOG")
            .env_remove("SKIFF_NODES")
            .env_remove("SKIFF_SPEED")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| BenchError::Spawn {
                bin: bin.to_path_buf(),
                source,
            })?;
        let pid = child.id().unwrap_or(0);
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(err) = child.stderr.take() {
            let tail = stderr.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(err).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut t) = tail.lock() {
                        t.push_str(&line);
                        t.push('\n');
                        if t.len() > 2 * STDERR_TAIL {
                            let cut = t.len() - STDERR_TAIL;
                            let cut = (cut..t.len()).find(|&i| t.is_char_boundary(i)).unwrap_or(0);
                            t.drain(..cut);
                        }
                    }
                }
            });
        }
        let Some(out) = child.stdout.take() else {
            return Err(BenchError::NotReady {
                why: "its stdout is not piped".into(),
                stderr: String::new(),
            });
        };
        let mut lines = BufReader::new(out).lines();
        let tail = |s: &Arc<Mutex<String>>| s.lock().map(|t| t.clone()).unwrap_or_default();
        let kubeconfig = loop {
            let line = match tokio::time::timeout(READY_TIMEOUT, lines.next_line()).await {
                Ok(Ok(Some(line))) => line,
                Ok(_) => {
                    // Give the stderr reader a moment to catch the reason.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    return Err(BenchError::NotReady {
                        why: "it exited before printing its kubeconfig".into(),
                        stderr: tail(&stderr),
                    });
                }
                Err(_) => {
                    return Err(BenchError::NotReady {
                        why: format!("no ready line within {READY_TIMEOUT:?}"),
                        stderr: tail(&stderr),
                    });
                }
            };
            if let Some(path) = line.trim().strip_prefix("export KUBECONFIG=") {
                break PathBuf::from(path.trim());
            }
        };
        let to_ready_line = started.elapsed();
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(SkiffProcess {
            child,
            pid,
            kubeconfig,
            to_ready_line,
            dir: Some(dir),
        })
    }

    /// A kube-rs client from the process's kubeconfig (HTTPS, client certificate).
    pub async fn client(&self) -> Result<kube::Client, BenchError> {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).map_err(|source| {
            BenchError::Kubeconfig {
                path: self.kubeconfig.clone(),
                source,
            }
        })?;
        let config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|source| BenchError::Kubeconfig {
                    path: self.kubeconfig.clone(),
                    source,
                })?;
        kube::Client::try_from(config).map_err(|source| BenchError::Kube {
            what: "building a client".into(),
            source,
        })
    }

    /// `n` clients, each with its own connection.
    pub async fn clients(&self, n: usize) -> Result<Vec<kube::Client>, BenchError> {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.client().await?);
        }
        Ok(v)
    }

    /// Resident set size in MiB (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_mib(&self) -> Result<f64, BenchError> {
        let path = format!("/proc/{}/status", self.pid);
        let status = std::fs::read_to_string(&path).map_err(|source| BenchError::Io {
            what: format!("reading {path}"),
            source,
        })?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kib| kib / 1024.0)
            .ok_or_else(|| BenchError::Io {
                what: format!("{path} has no VmRSS line"),
                source: std::io::Error::from(std::io::ErrorKind::InvalidData),
            })
    }

    /// SIGTERMs the process, waits for it (SIGKILL after a while) and returns its data
    /// directory so that a restart can reuse it.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        if self.pid > 0 {
            // SAFETY: kill(2) on our own child, which has not been reaped yet.
            unsafe {
                libc::kill(self.pid as i32, libc::SIGTERM);
            }
        }
        if tokio::time::timeout(STOP_TIMEOUT, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        self.dir.take()
    }
}
