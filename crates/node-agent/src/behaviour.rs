//! What a container does, as data: the image catalog (which images and tags exist, how big
//! they are, what their entrypoint does) and the simulated process a container runs (its
//! command and args interpreted for the shell forms tutorials use).
//!
//! The kubelet runtime ([`crate`]) drives a [`Process`]: it asks [`Process::next`] what
//! happens next and after how much simulated time, sleeps that long on the clock, and applies
//! it; probes call [`Process::exec`], [`Process::http_get`] and [`Process::tcp_open`].
//!
//! # Driving a process
//!
//! ```text
//! let info = catalog.resolve(&container.image)?;            // PullError → ErrImagePull
//! let mut p = Process::start(&info, &launch)?                // StartError → StartError
//!     .with_clock(clock, started_at);                        // wall time for `date`, logs
//! p.add_file("/etc/config/app.conf", value.clone());         // mounted volumes (Arc<str>)
//! let mut mem = p.memory_bytes();                            // check against the limit
//! while let Some((delay, event)) = p.next() {                // None: runs on silently
//!     sleep(clock.real(delay)).await;
//!     apply(event);                                          // Log / Memory / Exit
//! }
//! ```
//!
//! [`Process::next`] must be called again only once the previous event's time has come:
//! the file system [`Process::exec`] sees and the ports [`Process::tcp_open`] sees are the
//! ones as of the last event returned. When the file system or the open ports change at a
//! moment where nothing is printed (`touch /tmp/healthy; sleep 30; rm -f /tmp/healthy;
//! sleep 600`), `next` returns a [`ProcessEvent::Memory`] repeating the current value at that
//! moment, so the runtime wakes up then. Loops are interpreted lazily; a loop that neither
//! sleeps nor prints is charged 10 ms of simulated time per thousand interpreter steps and,
//! after some million steps without an event, counts as running silently forever.
//!
//! # What a process does
//!
//! The argv is Docker's: `command` replaces the image's entrypoint (and then its cmd is
//! dropped), `args` replaces its cmd; `$(VAR)` in both is expanded from the container's
//! `env` as the kubelet does (`$$` escapes). `argv[0]` is looked up in the image: the image's
//! own programs (from the catalog), the shell (`sh`, plus `bash` in Debian-style images,
//! `ash` in BusyBox ones) and the common utilities (`sleep`, `echo`, `printf`, `cat`,
//! `touch`, `rm`, `mkdir`, `date`, `test`/`[`, `env`, `tail`, `head`, `grep`, `wc`, `tee`,
//! `ls`, `seq`, `hostname`, ...), which images without a userland (`pause`, `http-echo`)
//! lack, and the package manager (`apk` on Alpine/BusyBox images, `apt-get`/`apt` and
//! `yum`/`dnf` on the others): installs take a moment and succeed without fetching, and the
//! installed commands then exist (`curl`, `bash`, `python3`, `nodejs` behave as those
//! programs; others run and exit 0); `apt-get install` without `-y` aborts as it does
//! without a terminal. A name that does not exist fails the start with containerd's message and exit code
//! 128.
//!
//! Shell scripts (`sh -c`, `bash -ec`, a script file written earlier) are interpreted:
//! quoting, `$VAR`, `${VAR}`, `${VAR:-default}`, `$?`, `$1`, `$(...)` and backticks,
//! `$((i+1))`, redirects (`>`, `>>`, `<`, `2>&1`, `&>`, `/dev/null`, `/proc/1/fd/1`), `;`,
//! `&&`, `||`, `!`, pipes (earlier stages run to completion first), here-documents
//! (`<<EOF`, `<<'EOF'`, `<<-EOF`), `if`/`elif`/`else`,
//! `while`/`until`, `for`, `break`, `continue`, `{ }`/`( )`, `exit`, `exec`, `export`,
//! `set -e`, `cd`, `read`.
//! Error texts follow the image's userland: BusyBox (`sh: foo: not found`, `cat: can't open
//! '/x': No such file or directory`) or Debian's dash and coreutils (`sh: 1: foo: not
//! found`, `cat: /x: No such file or directory`); bash says `bash: line 1: foo: command not
//! found`. A shell running as PID 1 ignores SIGTERM (only SIGKILL ends it); so does any
//! PID 1 without a handler (`sleep`, `stress`, `python`, `node`). `sh -c 'cmd args'` with a
//! single command execs it, as bash and BusyBox do.
//!
//! Not simulated, and said so: `case` and shell functions make the shell
//! print `sh: skiff does not simulate case statements (script not run)` and exit 2; of
//! `trap` only `trap '... exit N' TERM` matters (the shell exits N once its foreground
//! command finishes, so `trap 'exit 0' TERM; sleep 3600` still waits for SIGKILL); `cmd &` starts a program or utility whose immediate effects
//! (output, ports, memory) happen and which then runs on unobserved (a backgrounded loop or
//! list is skipped); time does not pass inside `$(...)`, pipes and exec probes. Networking from inside a container is not
//! simulated: `nslookup`, `wget`, `nc` and `curl URL` succeed without output (so an init
//! container's `until nslookup mydb; do sleep 2; done` finishes at once); the database
//! images' own clients answer as a healthy server would (`redis-cli ping` prints `PONG`,
//! `pg_isready` and `mysqladmin ping` succeed), whether or not the server has started. `tail -f` prints
//! the file and then waits forever (volumes shared between containers are not simulated).
//! Files keep their last 64 KiB.
//!
//! # Per-pod overrides
//!
//! The runtime passes the pod's annotations with prefix `sim.skiff.dev/` in
//! [`Launch::overrides`] (with or without the prefix). An unknown key or a bad value fails
//! the start with a [`StartError`] naming it.
//!
//! | annotation | value | effect |
//! |---|---|---|
//! | `sim.skiff.dev/exit-after` | duration (`30s`, `2m`, `1h30m`) | the process exits this long after it starts, whatever it runs |
//! | `sim.skiff.dev/exit-code` | integer | the code it exits with (at `exit-after`, or when it ends on its own) |
//! | `sim.skiff.dev/memory` | size (`300Mi`, `1Gi`, `250M`) | its memory use, from the start and throughout |
//! | `sim.skiff.dev/ready-after` | duration | its ports accept connections only after this long (a slow start: HTTP and TCP probes are refused before) |
//! | `sim.skiff.dev/on-term` | `ignore`, or `<duration>[,<code>]` | how it reacts to SIGTERM (`5s,0`: exits 0 five seconds after it) |
//!
//! # The catalog format
//!
//! The built-in catalog is `crates/node-agent/data/images.yaml`; [`Catalog::extend_from_yaml`]
//! takes documents of the same format (a repository given again replaces the earlier one).
//!
//! ```yaml
//! images:
//!   - repository: docker.io/library/nginx   # normalised or short (`nginx`)
//!     size: 59MB                  # compressed; B, kB, MB, GB, KiB, MiB, GiB
//!     tags:                       # names, or groups that differ in size or userland
//!       - latest
//!       - "1.27.3"
//!       - names: [alpine, 1.27-alpine]
//!         size: 20MB
//!         userland: busybox
//!     userland: gnu               # busybox (default) | gnu (dash + coreutils + bash) | none
//!     bash: true                  # optional: whether bash exists (default: gnu only)
//!     entrypoint: [/docker-entrypoint.sh]
//!     cmd: [nginx, -g, daemon off;]
//!     env: {NGINX_VERSION: 1.27.3}
//!     programs:                   # by path or file name, looked up for argv[0]
//!       /docker-entrypoint.sh:
//!         wrapper:                # prints, checks env, then execs its arguments
//!           for: [nginx]          # its own lines and checks only when $1 is one of these
//!           prepend: [nginx]      # put in front of arguments starting with '-'
//!           prependUnknown: false # ... or of a first argument that is no program
//!           execLine: 47          # `/docker-entrypoint.sh: exec: line 47: foo: not found`
//!           logs: ["/docker-entrypoint.sh: Configuration complete; ready for start up"]
//!           requireEnv:           # fails unless one of these is set and non-empty
//!             anyOf: [POSTGRES_PASSWORD]
//!             logs: [{line: "Error: ...", stderr: true}]
//!             exitCode: 1
//!       nginx:
//!         memory: 8MiB
//!         logs:                   # at start; {line, stderr, after} for the long form
//!           - "{time:%Y/%m/%d %H:%M:%S} [notice] 1#1: start worker processes"
//!         every: {interval: 60s, logs: ["still here"]}   # optional periodic lines
//!         listen:
//!           - port: 80
//!             http:               # status per path; otherPaths (default 404) for the rest
//!               /: 200
//!               /healthz: [{until: 10s, status: 200}, {status: 500}]
//!             otherPaths: 404
//!           - port: 6379          # no `http`: TCP only (HTTP probes are refused)
//!         exit: {after: 5s, code: 1}    # absent: runs until stopped
//!         onTerm: {after: 100ms, code: 0}   # or `ignore`; default exits 0 after 100ms
//!         subcommands:            # behaviour by first argument (`go version`)
//!           version: {logs: ["go version go1.23.4 linux/amd64"], exit: {code: 0}}
//!       /usr/local/bin/stress:
//!         builtin: stress         # argument-driven programs written in code: stress,
//!                                 # agnhost, python, node, http-echo, curl, aws,
//!                                 # liveness-server
//! ```
//!
//! `{time:FORMAT}` in a log line is the wall-clock time it is printed (strftime, UTC).
//! A tag's digest is the sha256 of its normalised reference; a pull takes 300 ms plus one
//! second per 50 MB.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

mod catalog;
mod machine;
mod programs;
mod reference;
mod shell;
#[cfg(test)]
mod tests;

use catalog::{ImageDef, Listener};
use machine::{Fs, Machine, Step};

/// The built-in catalog document.
const BUILTIN_YAML: &str = include_str!("../data/images.yaml");

/// The resolver address in DNS failure messages (the VPC resolver of eksctl's default
/// `192.168.0.0/16` VPC).
const DNS_RESOLVER: &str = "192.168.0.2:53";

/// Registries that answer "not found" for repositories they do not hold (any other unknown
/// host fails its DNS lookup).
const KNOWN_REGISTRIES: [&str; 9] = [
    "docker.io",
    "registry.k8s.io",
    "k8s.gcr.io",
    "gcr.io",
    "public.ecr.aws",
    "quay.io",
    "ghcr.io",
    "mcr.microsoft.com",
    "registry.gitlab.com",
];

/// The region whose name the catalog lists Amazon ECR repositories under.
const ECR_CATALOG_REGION: &str = "us-west-2";

/// An ECR repository (`<account>.dkr.ecr.<region>.amazonaws.com/<path>`) as the catalog lists
/// it: EKS replicates its images (the add-ons') to every region's registry, so one entry
/// serves them all. `None` for other repositories.
fn ecr_home_region(repo: &str) -> Option<String> {
    let (host, path) = repo.split_once('/')?;
    let (account, rest) = host.split_once(".dkr.ecr.")?;
    let region = rest.strip_suffix(".amazonaws.com")?;
    (region != ECR_CATALOG_REGION && !account.is_empty())
        .then(|| format!("{account}.dkr.ecr.{ECR_CATALOG_REGION}.amazonaws.com/{path}"))
}

/// Why an image cannot be pulled, as the container runtime says it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PullError {
    /// The full message for the `Failed` event and `ErrImagePull` state, e.g.
    /// `failed to pull and unpack image "docker.io/library/nginx:doesnotexist": failed to
    /// resolve reference ...: not found` (the runtime prefixes `Failed to pull image "...": `
    /// and `rpc error: code = NotFound desc = ` as the kubelet does).
    ///
    /// With code `InvalidImageName` the image name itself is malformed and the message is
    /// the kubelet's own, complete (`Failed to apply default image tag "Nginx": couldn't
    /// parse image name "Nginx": invalid reference format: repository name (library/Nginx)
    /// must be lowercase`): the kubelet reports it as waiting reason `InvalidImageName`
    /// with an `InspectFailed` warning event, without a pull.
    pub message: String,
    /// The gRPC code word the runtime reports (`NotFound`, `Unknown`), or `InvalidImageName`.
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
    /// What the image runs (filled by [`Catalog::resolve`]; when left default,
    /// [`Process::start`] looks the reference up in the built-in catalog).
    pub definition: ImageDefinition,
}

/// The catalog's description of what an image runs (opaque; from [`Catalog::resolve`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageDefinition(Option<Arc<ImageDef>>);

/// Why a container could not be started (`StartError`/`RunContainerError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StartError {
    /// The exit code the container reports (128 for exec failures).
    pub exit_code: i32,
    /// The message, e.g. `exec: "foo": executable file not found in $PATH`.
    pub message: String,
}

/// The catalog of images the simulated registry holds. Cheap to clone (shared until
/// extended).
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Repository (`docker.io/library/nginx`) → tag → definition.
    repos: Arc<BTreeMap<String, BTreeMap<String, Arc<ImageDef>>>>,
}

/// `sha256:` + the hex sha256 of `text`.
fn digest_of(text: &str) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(text.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl Catalog {
    /// The images skiff knows out of the box (`crates/node-agent/data/images.yaml`).
    pub fn builtin() -> Catalog {
        static BUILTIN: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                let mut c = Catalog::default();
                if let Err(e) = c.extend_from_yaml(BUILTIN_YAML) {
                    // The embedded file is checked by a unit test; an error here is a bug.
                    tracing::error!("the built-in image catalog is invalid: {e}");
                }
                c
            })
            .clone()
    }

    /// Adds (or replaces) images from a YAML document of the catalog format.
    pub fn extend_from_yaml(&mut self, yaml: &str) -> Result<(), String> {
        let file: catalog::CatalogFile =
            serde_saphyr::from_str(yaml).map_err(|e| format!("invalid image catalog: {e}"))?;
        let mut added = BTreeMap::new();
        for spec in &file.images {
            let repo = reference::parse(&spec.repository)
                .map_err(|e| format!("image {:?}: {e}", spec.repository))?;
            let name = repo.repository();
            let tags = catalog::compile_image(spec)?;
            let mut by_tag = BTreeMap::new();
            for (tag, def) in tags {
                reference::parse(&format!("{name}:{tag}"))
                    .map_err(|e| format!("image {name:?}: tag {tag:?}: {e}"))?;
                by_tag.insert(tag, Arc::new(def));
            }
            added.insert(name, by_tag);
        }
        Arc::make_mut(&mut self.repos).extend(added);
        Ok(())
    }

    /// Resolves an image reference as a registry would.
    pub fn resolve(&self, image: &str) -> Result<ImageInfo, PullError> {
        let parsed = reference::parse(image).map_err(|detail| PullError {
            message: format!(
                "Failed to apply default image tag \"{image}\": couldn't parse image name \"{image}\": {detail}"
            ),
            code: "InvalidImageName".into(),
        })?;
        let full = parsed.to_string();
        let repo = parsed.repository();
        let not_found = || PullError {
            message: format!(
                "failed to pull and unpack image \"{full}\": failed to resolve reference \"{full}\": {full}: not found"
            ),
            code: "NotFound".into(),
        };
        let tags = self
            .repos
            .get(&repo)
            .or_else(|| self.repos.get(&ecr_home_region(&repo)?));
        let Some(tags) = tags else {
            let prefix = format!(
                "failed to pull and unpack image \"{full}\": failed to resolve reference \"{full}\""
            );
            let known_host = KNOWN_REGISTRIES.contains(&parsed.domain.as_str())
                || parsed.domain.ends_with(".amazonaws.com")
                || self
                    .repos
                    .keys()
                    .any(|r| r.split('/').next() == Some(parsed.domain.as_str()));
            if parsed.domain == "docker.io" {
                return Err(PullError {
                    message: format!(
                        "{prefix}: pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed"
                    ),
                    code: "Unknown".into(),
                });
            }
            if known_host {
                return Err(not_found());
            }
            let object = parsed
                .digest
                .clone()
                .or(parsed.tag.clone())
                .unwrap_or_default();
            let url = format!(
                "https://{}/v2/{}/manifests/{object}",
                parsed.domain, parsed.path
            );
            let host = parsed.domain.split(':').next().unwrap_or_default();
            let dial = if host == "localhost" || host == "127.0.0.1" {
                let port = parsed.domain.split(':').nth(1).unwrap_or("443");
                format!("dial tcp 127.0.0.1:{port}: connect: connection refused")
            } else {
                format!("dial tcp: lookup {host} on {DNS_RESOLVER}: no such host")
            };
            return Err(PullError {
                message: format!("{prefix}: failed to do request: Head \"{url}\": {dial}"),
                code: "Unknown".into(),
            });
        };
        let def = match (&parsed.tag, &parsed.digest) {
            (Some(tag), _) => tags.get(tag).ok_or_else(not_found)?,
            (None, Some(digest)) => tags
                .iter()
                .find(|(tag, _)| &digest_of(&format!("{repo}:{tag}")) == digest)
                .map(|(_, def)| def)
                .ok_or_else(not_found)?,
            (None, None) => return Err(not_found()),
        };
        let digest = match (&parsed.tag, &parsed.digest) {
            (_, Some(d)) => d.clone(),
            (Some(tag), None) => digest_of(&format!("{repo}:{tag}")),
            (None, None) => digest_of(&full),
        };
        let pull_ms = 300 + def.size / 50_000;
        Ok(ImageInfo {
            reference: full,
            digest,
            size_bytes: def.size,
            pull_duration: Duration::from_millis(pull_ms),
            definition: ImageDefinition(Some(def.clone())),
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
    /// this exceeds the container's memory limit). It may repeat the current value: that
    /// marks a moment when the file system or open ports changed (see the module docs).
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

/// The per-pod overrides, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Overrides {
    exit_after: Option<Duration>,
    exit_code: Option<i32>,
    memory: Option<u64>,
    ready_after: Option<Duration>,
    on_term: Option<OnTerm>,
}

/// The annotation prefix of per-pod overrides.
pub const OVERRIDE_PREFIX: &str = "sim.skiff.dev/";

impl Overrides {
    fn parse(raw: &BTreeMap<String, String>) -> Result<Overrides, String> {
        let mut o = Overrides::default();
        for (key, value) in raw {
            let name = key.strip_prefix(OVERRIDE_PREFIX).unwrap_or(key);
            let bad =
                |e: String| format!("invalid annotation {OVERRIDE_PREFIX}{name}: {value:?}: {e}");
            match name {
                "exit-after" => o.exit_after = Some(catalog::parse_duration(value).map_err(bad)?),
                "exit-code" => {
                    o.exit_code = Some(
                        value
                            .trim()
                            .parse::<i32>()
                            .map_err(|e| bad(e.to_string()))?,
                    )
                }
                "memory" => o.memory = Some(catalog::parse_size(value).map_err(bad)?),
                "ready-after" => o.ready_after = Some(catalog::parse_duration(value).map_err(bad)?),
                "on-term" => {
                    o.on_term = Some(if value.trim() == "ignore" {
                        OnTerm::Ignores
                    } else {
                        let (d, code) = match value.split_once(',') {
                            Some((d, c)) => {
                                (d, c.trim().parse::<i32>().map_err(|e| bad(e.to_string()))?)
                            }
                            None => (value.as_str(), 0),
                        };
                        OnTerm::Exits(catalog::parse_duration(d).map_err(bad)?, code)
                    })
                }
                other => {
                    return Err(format!(
                        "unknown annotation {OVERRIDE_PREFIX}{other} (known: exit-after, exit-code, memory, ready-after, on-term)"
                    ));
                }
            }
        }
        Ok(o)
    }
}

/// Steps [`Process::next`] may take without producing an event before the process counts
/// as running silently forever.
const SILENT_STEP_CAP: usize = 1_000;

/// The memory of a process whose program does not say (a shell, a utility).
const DEFAULT_MEMORY: u64 = 1 << 20;

/// A simulated container process.
#[derive(Debug, Clone)]
pub struct Process {
    machine: Machine,
    overrides: Overrides,
    /// Simulated time the interpreter has reached.
    ahead: Duration,
    /// Simulated time of the last event returned.
    returned: Duration,
    /// A wait split by a tick, still to pass.
    carry: Option<Duration>,
    /// The file system as of `returned`, while the interpreter has run ahead of it.
    visible: Option<Fs>,
    /// The SIGTERM reaction as of `returned`, while the interpreter has run ahead of it.
    visible_on_term: Option<machine::Term>,
    /// Memory as of `returned`, and as of `ahead`.
    memory: u64,
    memory_ahead: u64,
    /// Ports and since when (simulated time since start) they listen.
    listeners: Vec<(Listener, Duration)>,
    /// Moments the runtime must wake up for (ready-after).
    timers: Vec<Duration>,
    /// Whether the initial memory override still has to be reported.
    report_memory: bool,
    finished: bool,
    clock: api::clock::Clock,
    started_at: jiff::Timestamp,
}

/// Expands `$(VAR)` from `env` as the kubelet does for command and args (`$$` escapes;
/// unknown references stay as written).
fn expand_kubelet(s: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
            && env.contains_key(&inner[..end])
        {
            out.push_str(&env[&inner[..end]]);
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The OCI runtime's message for an argv[0] that does not exist.
fn exec_not_found(name: &str) -> String {
    if name.contains('/') {
        format!("exec: \"{name}\": stat {name}: no such file or directory")
    } else {
        format!("exec: \"{name}\": executable file not found in $PATH")
    }
}

impl Process {
    /// Starts the container's process: the image's entrypoint/cmd, overridden by the spec.
    pub fn start(image: &ImageInfo, launch: &Launch) -> Result<Process, StartError> {
        let def = match &image.definition.0 {
            Some(def) => def.clone(),
            None => match Catalog::builtin().resolve(&image.reference) {
                Ok(ImageInfo {
                    definition: ImageDefinition(Some(def)),
                    ..
                }) => def,
                _ => Arc::new(ImageDef {
                    size: image.size_bytes,
                    entrypoint: Vec::new(),
                    cmd: vec!["sh".into()],
                    env: BTreeMap::new(),
                    userland: catalog::Userland::Busybox,
                    bash: false,
                    programs: Arc::default(),
                }),
            },
        };
        let overrides = Overrides::parse(&launch.overrides).map_err(|message| StartError {
            exit_code: 128,
            message,
        })?;
        let expand = |v: &Vec<String>| -> Vec<String> {
            v.iter().map(|a| expand_kubelet(a, &launch.env)).collect()
        };
        let argv: Vec<String> = if !launch.command.is_empty() {
            expand(&launch.command)
                .into_iter()
                .chain(expand(&launch.args))
                .collect()
        } else if !launch.args.is_empty() {
            def.entrypoint
                .iter()
                .cloned()
                .chain(expand(&launch.args))
                .collect()
        } else {
            def.entrypoint.iter().chain(&def.cmd).cloned().collect()
        };
        if argv.is_empty() {
            return Err(StartError {
                exit_code: 128,
                message: "failed to generate container spec: failed to generate spec: no command specified".into(),
            });
        }
        let mut env = BTreeMap::from([
            (
                "PATH".to_string(),
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            ),
            ("HOME".to_string(), "/root".to_string()),
        ]);
        env.extend(def.env.clone());
        env.extend(launch.env.clone());
        let clock = api::clock::Clock::REAL_TIME;
        let started_at = jiff::Timestamp::now();
        let mut machine = Machine::new(def, env, started_at);
        machine.start(&argv).map_err(|_| StartError {
            exit_code: 128,
            message: format!(
                "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: {}: unknown",
                exec_not_found(&argv[0])
            ),
        })?;
        let memory = overrides.memory.unwrap_or(DEFAULT_MEMORY);
        let timers = overrides.ready_after.into_iter().collect();
        Ok(Process {
            machine,
            report_memory: overrides.memory.is_some(),
            overrides,
            ahead: Duration::ZERO,
            returned: Duration::ZERO,
            carry: None,
            visible: None,
            visible_on_term: None,
            memory,
            memory_ahead: memory,
            listeners: Vec::new(),
            timers,
            finished: false,
            clock,
            started_at,
        })
    }

    /// Sets the clock and the wall-clock time the container started, so `date`, `$(date)`
    /// and log timestamps read as the moment they are printed. Without it, the process
    /// assumes real-time speed from the moment [`Process::start`] was called.
    pub fn with_clock(mut self, clock: api::clock::Clock, started_at: jiff::Timestamp) -> Process {
        self.clock = clock;
        self.started_at = started_at;
        self.machine.now = self.wall(self.ahead);
        self
    }

    fn wall(&self, at: Duration) -> jiff::Timestamp {
        self.clock.after(self.started_at, at)
    }

    /// Whether something changed after `returned` that the runtime must wake up for.
    fn dirty(&self) -> bool {
        self.ahead > self.returned
            && (self.visible.as_ref().is_some_and(|v| *v != self.machine.fs)
                || self
                    .listeners
                    .iter()
                    .any(|(_, since)| *since > self.returned))
    }

    fn emit(&mut self, event: ProcessEvent) -> Option<(Duration, ProcessEvent)> {
        let delay = self.ahead - self.returned;
        self.returned = self.ahead;
        if let ProcessEvent::Exit(_) = event {
            self.finished = true;
        }
        Some((delay, event))
    }

    fn exit_code(&self, natural: i32) -> i32 {
        self.overrides.exit_code.unwrap_or(natural)
    }

    /// Lets `d` of simulated time pass; returns an event when something must be reported
    /// within it (the exit-after deadline, a timer, or changes before it).
    fn pass(&mut self, d: Duration) -> Option<ProcessEvent> {
        if self.dirty() {
            self.carry = Some(d);
            return Some(ProcessEvent::Memory(self.memory_ahead));
        }
        if self.ahead == self.returned && self.visible.is_none() {
            self.visible = Some(self.machine.fs.clone());
            self.visible_on_term = Some(self.machine.on_term());
        }
        let target = self.ahead.saturating_add(d);
        if let Some(deadline) = self.overrides.exit_after
            && target >= deadline
        {
            self.ahead = self.ahead.max(deadline);
            return Some(ProcessEvent::Exit(self.exit_code(0)));
        }
        if let Some(pos) = self
            .timers
            .iter()
            .position(|t| *t > self.ahead && *t < target)
        {
            let t = self.timers.remove(pos);
            self.carry = Some(target - t);
            self.ahead = t;
            return Some(ProcessEvent::Memory(self.memory_ahead));
        }
        self.ahead = target;
        self.machine.now = self.wall(self.ahead);
        None
    }

    /// What happens next and after how much simulated time from the previous event;
    /// `None` when the process runs on silently forever.
    #[allow(clippy::should_implement_trait)] // the runtime's interface, not an iterator
    pub fn next(&mut self) -> Option<(Duration, ProcessEvent)> {
        if self.finished {
            return None;
        }
        // The runtime has reached the last event: everything up to it is visible now.
        self.visible = None;
        self.visible_on_term = None;
        self.memory = self.memory_ahead;
        self.timers.retain(|t| *t > self.returned);
        if self.report_memory {
            self.report_memory = false;
            return self.emit(ProcessEvent::Memory(self.memory_ahead));
        }
        if let Some(d) = self.carry.take()
            && let Some(event) = self.pass(d)
        {
            return self.emit(event);
        }
        for _ in 0..SILENT_STEP_CAP {
            self.machine.now = self.wall(self.ahead);
            match self.machine.step() {
                Step::Line(line, stderr) => return self.emit(ProcessEvent::Log { line, stderr }),
                Step::Mem(m) => {
                    if self.overrides.memory.is_none() && m != self.memory_ahead {
                        self.memory_ahead = m;
                        return self.emit(ProcessEvent::Memory(m));
                    }
                }
                Step::Listen(ls) => {
                    for l in ls {
                        self.listeners.push((l, self.ahead));
                    }
                }
                Step::Wait(d) => {
                    if let Some(event) = self.pass(d) {
                        return self.emit(event);
                    }
                }
                Step::Exit(code) => {
                    let code = self.exit_code(code);
                    return self.emit(ProcessEvent::Exit(code));
                }
                Step::Forever => return self.forever(),
            }
        }
        self.forever()
    }

    /// The process runs on without events of its own: report pending changes, timers and
    /// the exit-after deadline, then nothing.
    fn forever(&mut self) -> Option<(Duration, ProcessEvent)> {
        if self.dirty() {
            return self.emit(ProcessEvent::Memory(self.memory_ahead));
        }
        if let Some(&t) = self.timers.iter().filter(|t| **t > self.ahead).min() {
            self.timers.retain(|x| *x != t);
            self.ahead = t;
            return self.emit(ProcessEvent::Memory(self.memory_ahead));
        }
        if let Some(deadline) = self.overrides.exit_after {
            self.ahead = self.ahead.max(deadline);
            let code = self.exit_code(0);
            return self.emit(ProcessEvent::Exit(code));
        }
        None
    }

    /// Puts a file into the container's file system (parent directories are created), as a
    /// mounted volume provides it: ConfigMap and Secret keys, the service account token and
    /// namespace under `/var/run/secrets/kubernetes.io/serviceaccount/`. Call it after
    /// [`Process::start`] and before the first [`Process::next`] so the process sees the
    /// file from its start; later calls change the file from then on.
    pub fn add_file(&mut self, path: &str, content: Arc<str>) {
        self.machine.add_file(path, content.clone());
        if let Some(visible) = &mut self.visible {
            let mut m = Machine::new(
                Arc::new(ImageDef {
                    size: 0,
                    entrypoint: Vec::new(),
                    cmd: Vec::new(),
                    env: BTreeMap::new(),
                    userland: catalog::Userland::Busybox,
                    bash: false,
                    programs: Arc::default(),
                }),
                BTreeMap::new(),
                self.started_at,
            );
            m.fs = std::mem::take(visible);
            m.add_file(path, content);
            *visible = std::mem::take(&mut m.fs);
        }
    }

    /// Current memory use in bytes.
    pub fn memory_bytes(&self) -> u64 {
        self.memory
    }

    /// Runs a command in the container (exec probe, `kubectl exec` later), with the file
    /// system as the process has left it so far.
    pub fn exec(&mut self, command: &[String]) -> ExecResult {
        let Some(name) = command.first() else {
            return ExecResult {
                exit_code: 126,
                output: "OCI runtime exec failed: exec failed: unable to start container process: exec: \"\": executable file not found in $PATH: unknown".into(),
            };
        };
        let saved_now = self.machine.now;
        self.machine.now = self.wall(self.returned);
        let result = match self.visible.take() {
            None => self.machine.exec(command),
            Some(visible) => {
                // Run against the visible state, then apply the same to the state the
                // interpreter has run ahead to.
                let ahead = std::mem::replace(&mut self.machine.fs, visible.clone());
                let result = self.machine.exec(command);
                let after = std::mem::replace(&mut self.machine.fs, ahead);
                if after != visible {
                    let _ = self.machine.exec(command);
                }
                self.visible = Some(after);
                result
            }
        };
        self.machine.now = saved_now;
        match result {
            Some((exit_code, output)) => ExecResult { exit_code, output },
            None => ExecResult {
                exit_code: 126,
                output: format!(
                    "OCI runtime exec failed: exec failed: unable to start container process: {}: unknown",
                    exec_not_found(name)
                ),
            },
        }
    }

    /// An HTTP GET to the container on `port` at `path`, `elapsed` simulated time after it
    /// started.
    pub fn http_get(&self, port: u16, path: &str, elapsed: Duration) -> HttpAnswer {
        if self.finished && elapsed >= self.returned {
            return HttpAnswer::Refused;
        }
        if self.overrides.ready_after.is_some_and(|r| elapsed < r) {
            return HttpAnswer::Refused;
        }
        let path = path.split(['?', '#']).next().unwrap_or("/");
        let path = if path.is_empty() { "/" } else { path };
        let listener = self
            .listeners
            .iter()
            .rev()
            .find(|(l, since)| l.port == port && *since <= elapsed);
        match listener.and_then(|(l, _)| l.http.as_ref().map(|h| (l, h))) {
            None => HttpAnswer::Refused,
            Some((l, routes)) => HttpAnswer::Status(
                routes
                    .get(path)
                    .map(|a| a.at(elapsed))
                    .unwrap_or(l.other_paths),
            ),
        }
    }

    /// Whether a TCP connection to `port` succeeds.
    pub fn tcp_open(&self, port: u16) -> bool {
        !self.finished
            && self
                .overrides
                .ready_after
                .is_none_or(|r| self.returned >= r)
            && self
                .listeners
                .iter()
                .any(|(l, since)| l.port == port && *since <= self.returned)
    }

    /// How the process reacts to SIGTERM.
    pub fn on_term(&self) -> OnTerm {
        if let Some(o) = self.overrides.on_term {
            return o;
        }
        match self
            .visible_on_term
            .unwrap_or_else(|| self.machine.on_term())
        {
            machine::Term::Ignores => OnTerm::Ignores,
            machine::Term::Exits(after, code) => OnTerm::Exits(after, code),
        }
    }
}
