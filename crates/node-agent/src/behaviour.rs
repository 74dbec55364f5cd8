//! What a container does, as data: the image catalog (which images and tags exist, how big
//! they are, what their entrypoint does) and the simulated process a container runs (its
//! command and args interpreted for the shell forms tutorials use).
//!
//! The kubelet runtime ([`crate`]) drives a [`Process`]: it asks [`Process::next`] what
//! happens next and after how much simulated time, sleeps that long on the clock, and applies
//! it; probes call [`Process::exec`], [`Process::http_get`] and [`Process::tcp_open`].
//!
//! INTERFACE SKELETON: the bodies below are placeholders so the runtime compiles; the image
//! behaviour branch replaces them (and this paragraph) with the real catalog and interpreter.

use std::collections::BTreeMap;
use std::time::Duration;

/// Why an image cannot be pulled, as the container runtime says it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PullError {
    /// The full message for the `Failed` event and `ErrImagePull` state, e.g.
    /// `failed to pull and unpack image "docker.io/library/nginx:doesnotexist": failed to
    /// resolve reference ...: not found` (the runtime prefixes `Failed to pull image "...": `
    /// and `rpc error: code = NotFound desc = ` as the kubelet does).
    pub message: String,
    /// The gRPC code word the runtime reports (`NotFound`, `Unknown`).
    pub code: String,
}

/// A resolvable image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The normalised reference, e.g. `docker.io/library/nginx:1.27`.
    pub reference: String,
    /// The image id digest, `sha256:<64 hex>`.
    pub digest: String,
    /// Compressed size in bytes (shown in the `Pulled` event and in `node.status.images`).
    pub size_bytes: u64,
    /// How long a pull takes in simulated time.
    pub pull_duration: Duration,
}

/// Why a container could not be started (`StartError`/`RunContainerError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StartError {
    /// The exit code the container reports (128 for exec failures).
    pub exit_code: i32,
    /// The message, e.g. `exec: "foo": executable file not found in $PATH`.
    pub message: String,
}

/// The catalog of images the simulated registry holds.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    _entries: BTreeMap<String, ()>,
}

impl Catalog {
    /// The images skiff knows out of the box.
    pub fn builtin() -> Catalog {
        Catalog::default()
    }

    /// Adds (or replaces) images from a YAML document of the catalog format.
    pub fn extend_from_yaml(&mut self, _yaml: &str) -> Result<(), String> {
        Err("the image catalog format is not implemented yet".into())
    }

    /// Resolves an image reference as a registry would.
    pub fn resolve(&self, image: &str) -> Result<ImageInfo, PullError> {
        Ok(ImageInfo {
            reference: image.to_string(),
            digest: format!("sha256:{:064x}", 0),
            size_bytes: 0,
            pull_duration: Duration::ZERO,
        })
    }
}

/// What the container is asked to run: the pieces of its spec that matter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launch {
    /// `command` (replaces the image's entrypoint when non-empty).
    pub command: Vec<String>,
    /// `args` (replaces the image's cmd when non-empty).
    pub args: Vec<String>,
    /// Environment variables (`env` with literal values).
    pub env: BTreeMap<String, String>,
    /// Per-pod behaviour overrides from the pod's annotations (format defined by the catalog).
    pub overrides: BTreeMap<String, String>,
}

/// What happens next in a running process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessEvent {
    /// A line written to stdout (`false`) or stderr (`true`).
    Log {
        /// The line without its newline.
        line: String,
        /// Whether it went to stderr.
        stderr: bool,
    },
    /// The process's memory use changed to this many bytes (the runtime OOM-kills it when
    /// this exceeds the container's memory limit).
    Memory(u64),
    /// The process exited with this code.
    Exit(i32),
}

/// An HTTP probe's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpAnswer {
    /// The status code.
    Status(u16),
    /// Nothing listens on the port: `connect: connection refused`.
    Refused,
}

/// The result of running a command in the container (exec probes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecResult {
    /// Exit code (0 = probe success).
    pub exit_code: i32,
    /// Combined output, e.g. `cat: can't open '/tmp/healthy': No such file or directory`.
    pub output: String,
}

/// How the process reacts to SIGTERM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTerm {
    /// Exits after this much simulated time, with this code.
    Exits(Duration, i32),
    /// Ignores it (a shell running as PID 1): only SIGKILL at the end of the grace period
    /// stops it (exit code 137).
    Ignores,
}

/// A simulated container process.
#[derive(Debug, Clone)]
pub struct Process {
    started: bool,
}

impl Process {
    /// Starts the container's process: the image's entrypoint/cmd, overridden by the spec.
    pub fn start(_image: &ImageInfo, _launch: &Launch) -> Result<Process, StartError> {
        Ok(Process { started: false })
    }

    /// What happens next and after how much simulated time from the previous event;
    /// `None` when the process runs on silently forever.
    pub fn next(&mut self) -> Option<(Duration, ProcessEvent)> {
        if self.started {
            None
        } else {
            self.started = true;
            None
        }
    }

    /// Current memory use in bytes.
    pub fn memory_bytes(&self) -> u64 {
        0
    }

    /// Runs a command in the container (exec probe, `kubectl exec` later), with the file
    /// system as the process has left it so far.
    pub fn exec(&mut self, _command: &[String]) -> ExecResult {
        ExecResult {
            exit_code: 0,
            output: String::new(),
        }
    }

    /// An HTTP GET to the container on `port` at `path`, `elapsed` simulated time after it
    /// started.
    pub fn http_get(&self, _port: u16, _path: &str, _elapsed: Duration) -> HttpAnswer {
        HttpAnswer::Refused
    }

    /// Whether a TCP connection to `port` succeeds.
    pub fn tcp_open(&self, _port: u16) -> bool {
        false
    }

    /// How the process reacts to SIGTERM.
    pub fn on_term(&self) -> OnTerm {
        OnTerm::Exits(Duration::ZERO, 0)
    }
}
