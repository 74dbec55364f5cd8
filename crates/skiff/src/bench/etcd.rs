//! Throwaway `etcd` processes on free loopback ports (one member or a cluster), killed and
//! their data directories removed when dropped: the benchmark's etcd comparison runs on one,
//! and the etcd tests use them (through `testkit::etcd`). Without the `etcd` binary, `start`
//! prints why and answers `None`.

use std::process::{Child, Command, Stdio};

/// A running single-member `etcd`.
pub struct TestEtcd {
    cluster: TestEtcdCluster,
}

impl TestEtcd {
    /// Starts etcd, or `None` (after printing why) when the `etcd` binary is not installed.
    pub fn start() -> Option<TestEtcd> {
        TestEtcdCluster::start(1).map(|cluster| TestEtcd { cluster })
    }

    /// `host:port` of its client endpoint.
    pub fn endpoint(&self) -> &str {
        &self.cluster.endpoints()[0]
    }

    /// Its log so far (for failure messages).
    pub fn log(&self) -> String {
        self.cluster.logs()
    }
}

/// A throwaway etcd cluster of several members on loopback ports.
pub struct TestEtcdCluster {
    members: Vec<Option<Child>>,
    endpoints: Vec<String>,
    dir: tempfile::TempDir,
}

impl Drop for TestEtcdCluster {
    fn drop(&mut self) {
        for child in self.members.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl TestEtcdCluster {
    /// Starts `n` members, or `None` (after printing why) without the `etcd` binary.
    pub fn start(n: usize) -> Option<TestEtcdCluster> {
        if !Command::new("etcd")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            println!("skipping: the etcd binary is not installed (apt-get install etcd-server)");
            return None;
        }
        let dir = tempfile::tempdir().ok()?;
        let free_port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
        };
        let ports: Vec<(u16, u16)> = (0..n)
            .map(|_| Some((free_port().ok()?, free_port().ok()?)))
            .collect::<Option<_>>()?;
        let initial: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect();
        let initial = initial.join(",");
        let mut members = Vec::new();
        let mut endpoints = Vec::new();
        for (i, (client, peer)) in ports.iter().enumerate() {
            let client_url = format!("http://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let log = std::fs::File::create(dir.path().join(format!("m{i}.log"))).ok()?;
            let child = Command::new("etcd")
                .args(["--name", &format!("m{i}"), "--data-dir"])
                .arg(dir.path().join(format!("m{i}")))
                .args(["--listen-client-urls", &client_url])
                .args(["--advertise-client-urls", &client_url])
                .args(["--listen-peer-urls", &peer_url])
                .args(["--initial-advertise-peer-urls", &peer_url])
                .args(["--initial-cluster", &initial])
                .args(["--initial-cluster-state", "new"])
                .args(["--logger", "zap", "--log-level", "warn"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().ok()?)
                .stderr(log)
                .spawn()
                .ok()?;
            members.push(Some(child));
            endpoints.push(format!("127.0.0.1:{client}"));
        }
        // Ready once every member accepts connections (a single member serves at once; a
        // cluster once its members found each other).
        for (client, _) in &ports {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", *client)).is_err()
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        Some(TestEtcdCluster {
            members,
            endpoints,
            dir,
        })
    }

    /// `host:port` of every member's client endpoint.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Kills member `i` (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        if let Some(Some(child)) = self.members.get_mut(i) {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(slot) = self.members.get_mut(i) {
            *slot = None;
        }
    }

    /// The members' logs (for failure messages).
    pub fn logs(&self) -> String {
        (0..self.endpoints.len())
            .map(|i| {
                std::fs::read_to_string(self.dir.path().join(format!("m{i}.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}
