//! The interpreter: runs a container's argv (a shell script, a utility, an image program)
//! step by step as timed output, waits, memory and port changes, against a small virtual
//! file system. Loops are lazy: the machine only works out what happens next.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use super::catalog::{ImageDef, Listener, LogLine, Program, ProgramDef, Userland, Wrapper};
use super::shell::{self, Node, ParseError, Part, RedirectTarget, Word};

/// The most bytes a file keeps (older content is dropped), so endless appends stay bounded.
const FILE_CAP: usize = 64 * 1024;
/// Steps a command substitution, pipeline stage or exec may take before it is cut off.
const SYNC_STEP_CAP: usize = 20_000;
/// Steps without a wait after which a busy loop is charged 10 ms of simulated time.
const BUSY_STEPS: u32 = 1_000;

/// A step of the machine, as the process sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// A complete line to stdout (`false`) or stderr (`true`).
    Line(String, bool),
    /// Simulated time passes.
    Wait(Duration),
    /// Memory use changes to this many bytes.
    Mem(u64),
    /// The process starts listening on these ports.
    Listen(Vec<Listener>),
    /// The process exits.
    Exit(i32),
    /// The process runs on silently forever.
    Forever,
}

/// The virtual file system: files and directories by absolute path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Fs {
    files: BTreeMap<String, Arc<str>>,
    dirs: BTreeSet<String>,
}

/// The directories every image has (kept out of each process's own set to stay small).
const BASE_DIRS: [&str; 23] = [
    "/",
    "/bin",
    "/dev",
    "/etc",
    "/home",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/usr/bin",
    "/usr/local",
    "/usr/local/bin",
    "/usr/sbin",
    "/var",
    "/var/log",
    "/var/run",
    "/var/tmp",
];

impl Fs {
    /// Whether `path` is a directory.
    pub(crate) fn is_dir(&self, path: &str) -> bool {
        BASE_DIRS.contains(&path) || self.dirs.contains(path)
    }

    fn parent_exists(&self, path: &str) -> bool {
        let parent = match path.rfind('/') {
            Some(0) => "/",
            Some(i) => &path[..i],
            None => "/",
        };
        self.is_dir(parent)
    }

    fn write(&mut self, path: &str, text: &str, append: bool) {
        let mut content = match self.files.get(path) {
            Some(old) if append => {
                let mut c = String::with_capacity(old.len() + text.len());
                c.push_str(old);
                c.push_str(text);
                c
            }
            _ => text.to_string(),
        };
        if content.len() > FILE_CAP {
            let mut cut = content.len() - FILE_CAP;
            while !content.is_char_boundary(cut) {
                cut += 1;
            }
            content.drain(..cut);
        }
        self.put(path, content.into());
    }

    /// Sets a file's content, sharing it (a mounted volume's file is the same text in every
    /// container that mounts it, and the CA in every pod of the cluster).
    fn put(&mut self, path: &str, content: Arc<str>) {
        match self.files.get_mut(path) {
            Some(file) => *file = content,
            None => {
                self.files.insert(path.to_string(), content);
            }
        }
    }

    /// A file's content (`Err` says why not, as `ENOENT`/`EISDIR`).
    pub(crate) fn read(&self, path: &str) -> Result<&str, FsError> {
        if self.is_dir(path) {
            return Err(FsError::IsDir);
        }
        self.files.get(path).map(|s| &**s).ok_or(FsError::NotFound)
    }
}

/// Why a file operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FsError {
    NotFound,
    IsDir,
}

/// Which shell is interpreting (decides error wording).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShellKind {
    /// BusyBox ash.
    Ash,
    /// Debian's dash.
    Dash,
    /// GNU bash.
    Bash,
}

impl ShellKind {
    fn not_found(self, cmd: &str) -> String {
        match self {
            ShellKind::Ash => format!("sh: {cmd}: not found"),
            ShellKind::Dash => format!("sh: 1: {cmd}: not found"),
            ShellKind::Bash => format!("bash: line 1: {cmd}: command not found"),
        }
    }

    fn syntax_error(self, detail: &str) -> String {
        match self {
            ShellKind::Ash => format!("sh: syntax error: {detail}"),
            ShellKind::Dash => format!("sh: 1: Syntax error: {detail}"),
            ShellKind::Bash => format!("bash: -c: line 1: syntax error: {detail}"),
        }
    }
}

/// Where a stream of a running command goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sink {
    /// The container's stdout/stderr (or the capture, in capture mode).
    Log(bool),
    /// Appended to a file.
    File(String),
    /// `/dev/null`.
    Null,
}

/// Something a running program does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// Raw output text (utilities; may hold partial lines).
    Text(String, bool),
    /// A whole log line of a program, with `{time:FORMAT}` placeholders.
    Tpl(String, bool),
    Wait(Duration),
    Mem(u64),
    Listen(Vec<Listener>),
    /// An entrypoint wrapper `exec`s this argv (wrapper name, its exec line).
    Exec(Vec<String>, String, Option<u32>),
}

/// A program running in the foreground.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) queue: VecDeque<Item>,
    pub(crate) every: Option<(Duration, Vec<LogLine>)>,
    /// With `every`: the local time at which it exits.
    pub(crate) exit_at: Option<Duration>,
    /// `Some(code)`: exits when the queue is done; `None`: runs forever.
    pub(crate) end: Option<i32>,
    pub(crate) local: Duration,
    /// `None`: ignores SIGTERM.
    pub(crate) on_term: Option<(Duration, i32)>,
}

impl Run {
    pub(crate) fn done(code: i32) -> Run {
        Run {
            queue: VecDeque::new(),
            every: None,
            exit_at: None,
            end: Some(code),
            local: Duration::ZERO,
            on_term: None,
        }
    }

    pub(crate) fn out(mut self, text: impl Into<String>) -> Run {
        self.queue.push_back(Item::Text(text.into(), false));
        self
    }

    pub(crate) fn err(mut self, text: impl Into<String>) -> Run {
        self.queue.push_back(Item::Text(text.into(), true));
        self
    }

    pub(crate) fn forever() -> Run {
        Run {
            end: None,
            ..Run::done(0)
        }
    }

    pub(crate) fn push_logs(&mut self, logs: &[LogLine]) {
        for l in logs {
            if !l.after.is_zero() {
                self.queue.push_back(Item::Wait(l.after));
            }
            self.queue.push_back(Item::Tpl(l.line.clone(), l.stderr));
        }
    }

    /// A static program's run.
    pub(crate) fn program(p: &Program) -> Run {
        let mut run = Run::forever();
        run.on_term = p.on_term;
        if !p.listen.is_empty() {
            run.queue.push_back(Item::Listen(p.listen.clone()));
        }
        if let Some(m) = p.memory {
            run.queue.push_back(Item::Mem(m));
        }
        run.push_logs(&p.logs);
        let logs_time: Duration = p.logs.iter().map(|l| l.after).sum();
        match (&p.every, p.exit) {
            (Some(every), exit) => {
                run.every = Some(every.clone());
                run.exit_at = exit.map(|(after, _)| after.max(logs_time));
                run.end = exit.map(|(_, code)| code);
            }
            (None, Some((after, code))) => {
                if after > logs_time {
                    run.queue.push_back(Item::Wait(after - logs_time));
                }
                run.end = Some(code);
            }
            (None, None) => {}
        }
        run
    }

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                if let Item::Wait(d) = item {
                    self.local += d;
                }
                return Some(item);
            }
            let (interval, logs) = self.every.as_ref()?;
            let (interval, logs) = (*interval, logs.clone());
            if let Some(at) = self.exit_at
                && self.local + interval >= at
            {
                self.every = None;
                if at > self.local {
                    self.queue.push_back(Item::Wait(at - self.local));
                }
                continue;
            }
            self.queue
                .push_back(Item::Wait(interval.max(Duration::from_millis(1))));
            self.push_logs(&logs);
        }
    }
}

/// The shell's variables and options.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shell {
    /// Shared with the container's environment until the shell sets or unsets one.
    vars: Arc<BTreeMap<String, String>>,
    /// `$0`, `$1`, ...
    positional: Vec<String>,
    errexit: bool,
    kind: ShellKind,
    cwd: String,
    /// The action of `trap '...' TERM`, if set.
    term_trap: Option<String>,
}

/// A frame of the machine's continuation stack.
#[derive(Debug, Clone)]
enum Frame {
    /// A utility started as the container's process, run when the machine first steps (so
    /// files the runtime mounts after start are there for it).
    Util(&'static str, Vec<String>, Sink, Sink),
    Node(Arc<Node>),
    Seq(Arc<Node>, usize),
    ErrExit,
    And(Arc<Node>),
    Or(Arc<Node>),
    Not,
    WhileCond(Arc<Node>),
    WhileBody(Arc<Node>),
    For {
        var: String,
        items: Vec<String>,
        idx: usize,
        body: Arc<Node>,
    },
    If(Arc<Node>, usize),
    Fg {
        run: Run,
        out: Sink,
        err: Sink,
    },
    /// The end of a nested shell: restores the outer shell's state.
    Scope(Box<Shell>),
    /// A program started with `&`: what it does at once (output, ports, memory) happens;
    /// from its first wait on it runs on unobserved.
    Bg {
        run: Run,
        out: Sink,
        err: Sink,
    },
}

/// Where output goes when the machine runs synchronously (`$(...)`, pipelines, exec).
#[derive(Debug, Clone, Default)]
struct Capture {
    out: String,
    err: String,
    /// Stderr goes into `out` too (exec results).
    combined: bool,
}

/// How the process reacts to SIGTERM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Term {
    /// Ignores it.
    Ignores,
    /// Exits this long after it, with this code.
    Exits(Duration, i32),
}

/// Why a program could not be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotFound;

/// What a name resolves to in the image.
enum Resolved {
    Shell(ShellKind),
    Util(&'static str),
    Program(ProgramDef),
}

/// Utilities every image with a userland has (as BusyBox applets or GNU tools).
const UTILS: [&str; 42] = [
    "sleep", "echo", "printf", "cat", "touch", "rm", "mkdir", "date", "true", "false", "test", "[",
    "env", "printenv", "hostname", "nslookup", "wget", "tail", "head", "tee", "grep", "wc", "ls",
    "uname", "id", "whoami", "pwd", "seq", "kill", "yes", "basename", "dirname", "cp", "mv",
    "chmod", "chown", "ln", "ps", "dd", "md5sum", "sync", "nc",
];

/// Shell builtins (never looked up on PATH).
const SHELL_BUILTINS: [&str; 18] = [
    ":", "break", "continue", "exit", "export", "cd", "set", "trap", "exec", "read", "wait",
    "unset", "shift", "source", ".", "return", "ulimit", "umask",
];

/// The interpreter for one container process.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    image: Arc<ImageDef>,
    stack: Vec<Frame>,
    shell: Shell,
    status: i32,
    pub(crate) fs: Fs,
    lines: VecDeque<(String, bool)>,
    partial: [String; 2],
    capture: Option<Capture>,
    /// The wall-clock time at the machine's current point (for `date` and log templates).
    pub(crate) now: jiff::Timestamp,
    finished: Option<i32>,
    /// A shell is PID 1 (so SIGTERM is ignored) until it `exec`s.
    shell_pid1: bool,
    busy: u32,
    env: Arc<BTreeMap<String, String>>,
    /// The length of the latest wait (bounds when a trapped SIGTERM is handled).
    last_wait: Duration,
    /// Commands installed by the package manager (`apk add curl`).
    installed: BTreeSet<String>,
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn format_time(now: jiff::Timestamp, fmt: &str) -> String {
    let zoned = now.to_zoned(jiff::tz::TimeZone::UTC);
    // `%e` is the space-padded day of the month, as C's strftime prints it.
    let fmt = fmt.replace("%e", &format!("{:>2}", zoned.day()));
    let fmt = fmt.as_str();
    jiff::fmt::strtime::format(fmt, &zoned).unwrap_or_else(|_| fmt.to_string())
}

/// Replaces `{time:FORMAT}` placeholders with the time.
fn template(line: &str, now: jiff::Timestamp) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("{time:") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 6..];
        match after.find('}') {
            Some(end) => {
                out.push_str(&format_time(now, &after[..end]));
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses a sleep operand as BusyBox does: `5`, `0.5`, `5s`, `2m`, `1h`, `1d`, `infinity`.
pub(crate) fn sleep_duration(arg: &str) -> Option<Option<Duration>> {
    if arg == "infinity" || arg == "inf" {
        return Some(None);
    }
    let (num, factor) = match arg.char_indices().last() {
        Some((i, 's')) => (&arg[..i], 1.0),
        Some((i, 'm')) => (&arg[..i], 60.0),
        Some((i, 'h')) => (&arg[..i], 3600.0),
        Some((i, 'd')) => (&arg[..i], 86400.0),
        _ => (arg, 1.0),
    };
    let v: f64 = num.parse().ok()?;
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(v * factor).ok())
}

/// Interprets backslash escapes (`echo -e`, `printf`).
fn unescape(s: &str) -> (String, bool) {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('a') => out.push('\x07'),
            Some('e') => out.push('\x1b'),
            Some('c') => return (out, true),
            Some('0') => {}
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    (out, false)
}

/// `printf FORMAT ARGS...`.
fn printf(format: &str, args: &[String]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    loop {
        let mut consumed = false;
        let mut chars = format.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    let mut esc = String::from('\\');
                    if let Some(n) = chars.next() {
                        esc.push(n);
                    }
                    out.push_str(&unescape(&esc).0);
                }
                '%' => {
                    let mut spec = String::new();
                    while let Some(&n) = chars.peek() {
                        if n.is_ascii_digit() || n == '-' || n == '.' || n == '+' || n == ' ' {
                            spec.push(n);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    let Some(conv) = chars.next() else {
                        out.push('%');
                        break;
                    };
                    if conv == '%' {
                        out.push('%');
                        continue;
                    }
                    consumed = true;
                    let arg = args.next().cloned().unwrap_or_default();
                    let left = spec.starts_with('-');
                    let width: usize = spec
                        .trim_start_matches(['-', '+', ' '])
                        .split('.')
                        .next()
                        .and_then(|w| w.parse().ok())
                        .unwrap_or(0);
                    let text = match conv {
                        'd' | 'i' => arg.trim().parse::<i64>().unwrap_or(0).to_string(),
                        'x' => format!("{:x}", arg.trim().parse::<i64>().unwrap_or(0)),
                        'f' => {
                            let prec = spec
                                .split_once('.')
                                .and_then(|(_, p)| p.parse().ok())
                                .unwrap_or(6);
                            format!("{:.*}", prec, arg.trim().parse::<f64>().unwrap_or(0.0))
                        }
                        'c' => arg.chars().next().map(String::from).unwrap_or_default(),
                        'b' => unescape(&arg).0,
                        _ => arg,
                    };
                    if left {
                        out.push_str(&format!("{text:<width$}"));
                    } else {
                        out.push_str(&format!("{text:>width$}"));
                    }
                }
                c => out.push(c),
            }
        }
        if !consumed || args.len() == 0 {
            break;
        }
    }
    out
}

/// A tiny arithmetic evaluator for `$((...))`.
struct Arith<'a> {
    toks: Vec<String>,
    pos: usize,
    vars: &'a BTreeMap<String, String>,
}

impl Arith<'_> {
    fn eval(expr: &str, vars: &BTreeMap<String, String>) -> Option<i64> {
        let mut toks = Vec::new();
        let b = expr.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c.is_ascii_whitespace() {
                i += 1;
            } else if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' {
                let s = i;
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                toks.push(expr[s..i].trim_start_matches('$').to_string());
            } else {
                let two = expr.get(i..i + 2).unwrap_or("");
                if ["==", "!=", "<=", ">=", "&&", "||"].contains(&two) {
                    toks.push(two.to_string());
                    i += 2;
                } else {
                    toks.push((c as char).to_string());
                    i += 1;
                }
            }
        }
        let mut a = Arith { toks, pos: 0, vars };
        let v = a.binary(0)?;
        (a.pos == a.toks.len()).then_some(v)
    }

    fn prec(op: &str) -> Option<u8> {
        Some(match op {
            "||" => 1,
            "&&" => 2,
            "==" | "!=" => 3,
            "<" | ">" | "<=" | ">=" => 4,
            "+" | "-" => 5,
            "*" | "/" | "%" => 6,
            _ => return None,
        })
    }

    fn binary(&mut self, min: u8) -> Option<i64> {
        let mut left = self.unary()?;
        while let Some(op) = self.toks.get(self.pos).cloned() {
            let Some(p) = Arith::prec(&op) else { break };
            if p <= min && min > 0 || p < min {
                break;
            }
            self.pos += 1;
            let right = self.binary(p + 1)?;
            left = match op.as_str() {
                "+" => left.wrapping_add(right),
                "-" => left.wrapping_sub(right),
                "*" => left.wrapping_mul(right),
                "/" => left.checked_div(right)?,
                "%" => left.checked_rem(right)?,
                "<" => (left < right) as i64,
                ">" => (left > right) as i64,
                "<=" => (left <= right) as i64,
                ">=" => (left >= right) as i64,
                "==" => (left == right) as i64,
                "!=" => (left != right) as i64,
                "&&" => (left != 0 && right != 0) as i64,
                "||" => (left != 0 || right != 0) as i64,
                _ => return None,
            };
        }
        Some(left)
    }

    fn unary(&mut self) -> Option<i64> {
        let tok = self.toks.get(self.pos)?.clone();
        self.pos += 1;
        match tok.as_str() {
            "-" => Some(self.unary()?.wrapping_neg()),
            "+" => self.unary(),
            "!" => Some((self.unary()? == 0) as i64),
            "(" => {
                let v = self.binary(0)?;
                (self.toks.get(self.pos).map(|s| s.as_str()) == Some(")")).then_some(())?;
                self.pos += 1;
                Some(v)
            }
            t if t.bytes().all(|b| b.is_ascii_digit()) => t.parse().ok(),
            name => Some(
                self.vars
                    .get(name)
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0),
            ),
        }
    }
}

impl Machine {
    /// A machine for `image`, with the container's environment.
    pub(crate) fn new(
        image: Arc<ImageDef>,
        env: BTreeMap<String, String>,
        now: jiff::Timestamp,
    ) -> Machine {
        let kind = match image.userland {
            Userland::Gnu => ShellKind::Dash,
            _ => ShellKind::Ash,
        };
        let env = Arc::new(env);
        Machine {
            shell: Shell {
                vars: env.clone(),
                positional: vec!["sh".into()],
                errexit: false,
                kind,
                cwd: "/".into(),
                term_trap: None,
            },
            image,
            stack: Vec::new(),
            status: 0,
            fs: Fs::default(),
            lines: VecDeque::new(),
            partial: [String::new(), String::new()],
            capture: None,
            now,
            finished: None,
            shell_pid1: false,
            busy: 0,
            env,
            last_wait: Duration::ZERO,
            installed: BTreeSet::new(),
        }
    }

    /// How the foreground process reacts to SIGTERM (`None`: ignores it).
    pub(crate) fn on_term(&self) -> Term {
        if self.shell_pid1 {
            // A shell with `trap '... exit N' TERM` runs the action once the foreground
            // command has finished; without one, PID 1 ignores the signal.
            let action = self.shell.term_trap.as_deref().unwrap_or("");
            let words: Vec<&str> = action
                .split(|c: char| c.is_whitespace() || c == ';')
                .filter(|w| !w.is_empty())
                .collect();
            // The foreground command's end is bounded by the length of the current wait.
            return match words.iter().position(|w| *w == "exit") {
                Some(i) => Term::Exits(
                    self.last_wait,
                    words
                        .get(i + 1)
                        .and_then(|c| c.parse::<i32>().ok())
                        .unwrap_or(0),
                ),
                None => Term::Ignores,
            };
        }
        match self
            .stack
            .iter()
            .find(|f| matches!(f, Frame::Fg { .. } | Frame::Util(..)))
        {
            Some(Frame::Fg { run, .. }) => match run.on_term {
                Some((after, code)) => Term::Exits(after, code),
                None => Term::Ignores,
            },
            // Utilities have no SIGTERM handler; as PID 1 they ignore it.
            Some(Frame::Util(..)) => Term::Ignores,
            _ => Term::Exits(Duration::ZERO, 0),
        }
    }

    fn resolve(&self, name: &str) -> Option<Resolved> {
        let programs = &self.image.programs;
        if let Some(p) = programs.get(name).or_else(|| programs.get(basename(name))) {
            return Some(Resolved::Program(p.clone()));
        }
        let base = basename(name);
        if self.image.userland == Userland::None {
            return None;
        }
        if self.installed.contains(base) {
            return Some(match base {
                "curl" => Resolved::Program(ProgramDef::Builtin("curl".into())),
                "python3" | "python" => Resolved::Program(ProgramDef::Builtin("python".into())),
                "node" | "nodejs" => Resolved::Program(ProgramDef::Builtin("node".into())),
                "bash" => Resolved::Shell(ShellKind::Bash),
                _ => Resolved::Util("installed"),
            });
        }
        match base {
            "apk" if self.image.userland == Userland::Busybox => Some(Resolved::Util("apk")),
            "apt-get" | "apt" if self.image.userland == Userland::Gnu => {
                Some(Resolved::Util("apt-get"))
            }
            "yum" | "dnf" | "microdnf" if self.image.userland == Userland::Gnu => {
                Some(Resolved::Util("yum"))
            }
            "sh" => Some(Resolved::Shell(match self.image.userland {
                Userland::Gnu => ShellKind::Dash,
                _ => ShellKind::Ash,
            })),
            "ash" if self.image.userland == Userland::Busybox => {
                Some(Resolved::Shell(ShellKind::Ash))
            }
            "bash" if self.image.bash => Some(Resolved::Shell(ShellKind::Bash)),
            "busybox" if self.image.userland == Userland::Busybox => {
                Some(Resolved::Util("busybox"))
            }
            _ => UTILS
                .iter()
                .find(|u| **u == base)
                .map(|u| Resolved::Util(u)),
        }
    }

    /// Starts the container's argv as PID 1. `Err` when argv[0] does not exist.
    pub(crate) fn start(&mut self, argv: &[String]) -> Result<(), NotFound> {
        self.launch(argv, Sink::Log(false), Sink::Log(true), None, true)
    }

    fn abs(&self, path: &str) -> String {
        let joined = if path.starts_with('/') {
            path.to_string()
        } else if self.shell.cwd == "/" {
            format!("/{path}")
        } else {
            format!("{}/{path}", self.shell.cwd)
        };
        let mut parts: Vec<&str> = Vec::new();
        for p in joined.split('/') {
            match p {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                p => parts.push(p),
            }
        }
        format!("/{}", parts.join("/"))
    }

    /// Runs `argv` in the foreground (`pid1`: as the container's process, or `exec`).
    fn launch(
        &mut self,
        argv: &[String],
        out: Sink,
        err: Sink,
        stdin: Option<String>,
        pid1: bool,
    ) -> Result<(), NotFound> {
        let Some(name) = argv.first() else {
            self.status = 0;
            return Ok(());
        };
        let resolved = self.resolve(name).ok_or(NotFound)?;
        if pid1 {
            self.shell_pid1 = false;
        }
        let args = &argv[1..];
        let run = match resolved {
            Resolved::Shell(kind) => {
                self.start_shell(kind, name, args, out, err, pid1);
                return Ok(());
            }
            Resolved::Util(u) if pid1 && stdin.is_none() => {
                self.stack.push(Frame::Util(u, args.to_vec(), out, err));
                return Ok(());
            }
            Resolved::Util(u) => self.util(u, args, stdin),
            Resolved::Program(ProgramDef::Static {
                default,
                subcommands,
            }) => {
                let p = args
                    .first()
                    .and_then(|a| subcommands.get(a))
                    .unwrap_or(&default);
                Run::program(p)
            }
            Resolved::Program(ProgramDef::Wrapper(w)) => self.wrapper(&w, name, args),
            Resolved::Program(ProgramDef::Builtin(b)) => {
                super::programs::builtin(&b, args, &self.shell.vars)
            }
        };
        self.stack.push(Frame::Fg { run, out, err });
        Ok(())
    }

    fn wrapper(&self, w: &Wrapper, name: &str, args: &[String]) -> Run {
        let mut args = args.to_vec();
        if args.is_empty() {
            return Run::done(0);
        }
        if args[0].starts_with('-') || (w.prepend_unknown && self.resolve(&args[0]).is_none()) {
            let mut full = w.prepend.clone();
            full.extend(args);
            args = full;
        }
        let mut run = Run::done(0);
        if w.for_programs.iter().any(|p| p == basename(&args[0])) {
            if let Some((vars, logs, code)) = &w.require_env
                && !vars
                    .iter()
                    .any(|v| self.shell.vars.get(v).is_some_and(|x| !x.is_empty()))
            {
                run.push_logs(logs);
                run.end = Some(*code);
                return run;
            }
            run.push_logs(&w.logs);
        }
        run.queue
            .push_back(Item::Exec(args, name.to_string(), w.exec_line));
        run
    }

    fn start_shell(
        &mut self,
        kind: ShellKind,
        name: &str,
        args: &[String],
        out: Sink,
        err: Sink,
        pid1: bool,
    ) {
        let mut errexit = false;
        let mut want_c = false;
        let mut i = 0;
        while let Some(a) = args.get(i) {
            if a.len() < 2 || !(a.starts_with('-') || a.starts_with('+')) {
                break;
            }
            i += 1;
            if a == "--" {
                break;
            }
            for c in a[1..].chars() {
                match c {
                    'c' => want_c = true,
                    'e' => errexit = a.starts_with('-'),
                    'o' => i += 1,
                    _ => {}
                }
            }
        }
        let mut rest: Vec<String> = args[i.min(args.len())..].to_vec();
        let script = if want_c && !rest.is_empty() {
            Some(rest.remove(0))
        } else {
            None
        };
        let label = if kind == ShellKind::Bash {
            "bash"
        } else {
            "sh"
        };
        let script = match (script, want_c) {
            (Some(s), _) => s,
            (None, true) => {
                let msg = match kind {
                    ShellKind::Bash => "bash: -c: option requires an argument\n".to_string(),
                    ShellKind::Dash => "sh: 0: -c requires an argument\n".to_string(),
                    ShellKind::Ash => "sh: -c requires an argument\n".to_string(),
                };
                self.stack.push(Frame::Fg {
                    run: Run::done(2).err(msg),
                    out,
                    err,
                });
                return;
            }
            (None, false) => match rest.first().cloned() {
                // Without a tty, a shell with no script reads an empty stdin and exits 0.
                None => {
                    self.stack.push(Frame::Fg {
                        run: Run::done(0),
                        out,
                        err,
                    });
                    return;
                }
                Some(file) => match self.fs.read(&self.abs(&file)) {
                    Ok(text) => text.to_string(),
                    Err(_) => {
                        let (msg, code) = match kind {
                            ShellKind::Ash => (
                                format!("sh: can't open '{file}': No such file or directory\n"),
                                2,
                            ),
                            ShellKind::Dash => {
                                (format!("sh: 0: cannot open {file}: No such file\n"), 2)
                            }
                            ShellKind::Bash => {
                                (format!("bash: {file}: No such file or directory\n"), 127)
                            }
                        };
                        self.stack.push(Frame::Fg {
                            run: Run::done(code).err(msg),
                            out,
                            err,
                        });
                        return;
                    }
                },
            },
        };
        let node = match shell::parse(&script) {
            Ok(node) => node,
            Err(e) => {
                let msg = match e {
                    ParseError::Syntax(detail) => kind.syntax_error(&detail),
                    ParseError::Unsupported(what) => {
                        format!("{label}: skiff does not simulate {what} (script not run)")
                    }
                };
                self.stack.push(Frame::Fg {
                    run: Run::done(2).err(format!("{msg}\n")),
                    out,
                    err,
                });
                return;
            }
        };
        // `sh -c 'cmd args'` with one external command: the shell execs it.
        if let Node::Simple {
            assigns,
            words,
            redirects,
        } = &*node
            && assigns.is_empty()
            && redirects.is_empty()
            && !words.is_empty()
            && words
                .iter()
                .flatten()
                .all(|p| matches!(p, Part::Lit(..) | Part::Var(..)))
            && out == Sink::Log(false)
        {
            let saved = self.shell.clone();
            self.shell.positional = std::iter::once(name.to_string())
                .chain(rest.clone())
                .collect();
            let argv: Vec<String> = words.iter().flat_map(|w| self.expand(w)).collect();
            self.shell = saved;
            if let Some(first) = argv.first()
                && !SHELL_BUILTINS.contains(&first.as_str())
                && !matches!(
                    first.as_str(),
                    "echo" | "printf" | "true" | "false" | "test" | "["
                )
                && self.resolve(first).is_some()
            {
                return self.launch(&argv, out, err, None, pid1).unwrap_or_default();
            }
        }
        if pid1 {
            self.shell_pid1 = true;
        }
        let outer = std::mem::replace(
            &mut self.shell,
            Shell {
                vars: self.env.clone(),
                positional: std::iter::once(if rest.is_empty() {
                    label.to_string()
                } else {
                    rest[0].clone()
                })
                .chain(rest.iter().skip(1).cloned())
                .collect(),
                errexit,
                kind,
                cwd: "/".into(),
                term_trap: None,
            },
        );
        if !pid1 {
            // A nested shell sees the outer shell's variables as its environment.
            self.shell.vars = outer.vars.clone();
        }
        self.stack.push(Frame::Scope(Box::new(outer)));
        self.stack.push(Frame::Node(node));
        let _ = name;
    }

    // -----------------------------------------------------------------------------------
    // Expansion.

    fn var(&self, name: &str) -> Option<String> {
        match name {
            "?" => Some(self.status.to_string()),
            "$" => Some("1".into()),
            "#" => Some(self.shell.positional.len().saturating_sub(1).to_string()),
            "@" | "*" => {
                Some(self.shell.positional[1.min(self.shell.positional.len())..].join(" "))
            }
            n if n.bytes().all(|b| b.is_ascii_digit()) => {
                let i: usize = n.parse().ok()?;
                self.shell.positional.get(i).cloned()
            }
            "RANDOM" => Some(((self.now.as_nanosecond() / 1000) % 32768).to_string()),
            "PWD" => Some(self.shell.cwd.clone()),
            _ => self.shell.vars.get(name).cloned(),
        }
    }

    /// Expands a word into fields.
    fn expand(&mut self, word: &Word) -> Vec<String> {
        let mut fields: Vec<String> = Vec::new();
        let mut cur = String::new();
        let mut has = false;
        for part in word {
            // "$@": each positional parameter is a field of its own.
            if let Part::Var(name, None, true) = part
                && name == "@"
            {
                let args: Vec<String> = self.shell.positional.iter().skip(1).cloned().collect();
                for (k, arg) in args.into_iter().enumerate() {
                    if k > 0 {
                        fields.push(std::mem::take(&mut cur));
                    }
                    cur.push_str(&arg);
                    has = true;
                }
                continue;
            }
            let (text, quoted) = match part {
                Part::Lit(s, q) => (s.clone(), *q),
                Part::Var(name, default, q) => {
                    let v = self.var(name).filter(|v| !v.is_empty());
                    let v = match (v, default) {
                        (Some(v), _) => v,
                        (None, Some(d)) => self.expand(d).join(" "),
                        (None, None) => String::new(),
                    };
                    (v, *q)
                }
                Part::Subst(src, q) => (self.substitute(src), *q),
                Part::Arith(expr) => {
                    let expanded = self.expand_str(expr);
                    (
                        Arith::eval(&expanded, &self.shell.vars)
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "0".into()),
                        false,
                    )
                }
            };
            let literal = matches!(part, Part::Lit(..));
            if quoted || literal {
                cur.push_str(&text);
                has = true;
            } else {
                // Field splitting of an unquoted expansion.
                let starts_ws = text.starts_with(char::is_whitespace);
                let ends_ws = text.ends_with(char::is_whitespace);
                let mut pieces = text.split_whitespace().peekable();
                if starts_ws && has {
                    fields.push(std::mem::take(&mut cur));
                    has = false;
                }
                while let Some(p) = pieces.next() {
                    cur.push_str(p);
                    has = true;
                    if pieces.peek().is_some() {
                        fields.push(std::mem::take(&mut cur));
                    }
                }
                if ends_ws && has {
                    fields.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
        }
        if has {
            fields.push(cur);
        }
        fields
    }

    /// Expands `$X` inside an arithmetic expression's text.
    fn expand_str(&mut self, text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' {
                let mut name = String::new();
                if chars.peek() == Some(&'{') {
                    chars.next();
                    for n in chars.by_ref() {
                        if n == '}' {
                            break;
                        }
                        name.push(n);
                    }
                } else {
                    while let Some(&n) = chars.peek() {
                        if n.is_ascii_alphanumeric() || n == '_' {
                            name.push(n);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
                out.push_str(&self.var(&name).unwrap_or_default());
            } else {
                out.push(c);
            }
        }
        out
    }

    /// Runs a script synchronously (time does not pass) and returns what it wrote.
    fn run_sync(&mut self, script_or_argv: SyncInput, combined: bool) -> (Capture, i32) {
        let mut sub = Machine {
            image: self.image.clone(),
            stack: Vec::new(),
            shell: self.shell.clone(),
            status: self.status,
            fs: std::mem::take(&mut self.fs),
            lines: VecDeque::new(),
            partial: [String::new(), String::new()],
            capture: Some(Capture {
                combined,
                ..Capture::default()
            }),
            now: self.now,
            finished: None,
            shell_pid1: false,
            busy: 0,
            env: self.env.clone(),
            last_wait: Duration::ZERO,
            installed: BTreeSet::new(),
        };
        let started = match script_or_argv {
            SyncInput::Script(src) => match shell::parse(&src) {
                Ok(node) => {
                    sub.stack.push(Frame::Node(node));
                    Ok(())
                }
                Err(ParseError::Syntax(d)) => {
                    let msg = self.shell.kind.syntax_error(&d);
                    sub.write(&Sink::Log(true), &format!("{msg}\n"));
                    sub.status = 2;
                    Ok(())
                }
                Err(ParseError::Unsupported(what)) => {
                    sub.write(
                        &Sink::Log(true),
                        &format!("sh: skiff does not simulate {what}\n"),
                    );
                    sub.status = 2;
                    Ok(())
                }
            },
            SyncInput::Argv(argv, stdin) => {
                sub.launch(&argv, Sink::Log(false), Sink::Log(true), stdin, false)
            }
        };
        let code = match started {
            Err(NotFound) => 127,
            Ok(()) => {
                let mut code = sub.status;
                for _ in 0..SYNC_STEP_CAP {
                    match sub.step() {
                        Step::Exit(c) => {
                            code = c;
                            break;
                        }
                        Step::Forever => break,
                        _ => {}
                    }
                }
                code
            }
        };
        self.fs = std::mem::take(&mut sub.fs);
        self.installed = std::mem::take(&mut sub.installed);
        (sub.capture.unwrap_or_default(), code)
    }

    fn substitute(&mut self, src: &str) -> String {
        let (cap, code) = self.run_sync(SyncInput::Script(src.to_string()), false);
        if !cap.err.is_empty() {
            self.write(&Sink::Log(true), &cap.err);
        }
        self.status = code;
        cap.out.trim_end_matches('\n').to_string()
    }

    // -----------------------------------------------------------------------------------
    // Output.

    fn write(&mut self, sink: &Sink, text: &str) {
        match sink {
            Sink::Null => {}
            Sink::File(path) => {
                let path = path.clone();
                self.fs.write(&path, text, true);
            }
            Sink::Log(stderr) => {
                if let Some(cap) = &mut self.capture {
                    if *stderr && !cap.combined {
                        cap.err.push_str(text);
                    } else {
                        cap.out.push_str(text);
                    }
                    return;
                }
                let buf = &mut self.partial[*stderr as usize];
                buf.push_str(text);
                while let Some(i) = buf.find('\n') {
                    let line: String = buf.drain(..=i).collect();
                    self.lines
                        .push_back((line.trim_end_matches('\n').to_string(), *stderr));
                }
            }
        }
    }

    /// Opens a redirect target: `Err` is the shell's complaint.
    fn open(&mut self, path: &str, append: bool) -> Result<Sink, String> {
        match path {
            "/dev/null" => return Ok(Sink::Null),
            "/dev/stdout" | "/proc/1/fd/1" | "/proc/self/fd/1" => return Ok(Sink::Log(false)),
            "/dev/stderr" | "/proc/1/fd/2" | "/proc/self/fd/2" => return Ok(Sink::Log(true)),
            _ => {}
        }
        let abs = self.abs(path);
        if self.fs.is_dir(&abs) {
            return Err(match self.shell.kind {
                ShellKind::Ash => format!("sh: can't create {path}: Is a directory"),
                ShellKind::Dash => format!("sh: 1: cannot create {path}: Is a directory"),
                ShellKind::Bash => format!("bash: line 1: {path}: Is a directory"),
            });
        }
        if !self.fs.parent_exists(&abs) {
            return Err(match self.shell.kind {
                ShellKind::Ash => format!("sh: can't create {path}: nonexistent directory"),
                ShellKind::Dash => {
                    format!("sh: 1: cannot create {path}: Directory nonexistent")
                }
                ShellKind::Bash => format!("bash: line 1: {path}: No such file or directory"),
            });
        }
        self.fs.write(&abs, "", append);
        Ok(Sink::File(abs))
    }

    // -----------------------------------------------------------------------------------
    // Stepping.

    /// What happens next.
    pub(crate) fn step(&mut self) -> Step {
        loop {
            if let Some((line, stderr)) = self.lines.pop_front() {
                return Step::Line(line, stderr);
            }
            if let Some(code) = self.finished {
                return Step::Exit(code);
            }
            self.busy += 1;
            if self.busy > BUSY_STEPS {
                self.busy = 0;
                return Step::Wait(Duration::from_millis(10));
            }
            let Some(frame) = self.stack.pop() else {
                for stderr in [false, true] {
                    let rest = std::mem::take(&mut self.partial[stderr as usize]);
                    if !rest.is_empty() {
                        self.lines.push_back((rest, stderr));
                    }
                }
                self.finished = Some(self.status);
                continue;
            };
            match frame {
                Frame::Fg { mut run, out, err } => match run.next() {
                    None => {
                        if let Some(code) = run.end {
                            self.status = code;
                        } else {
                            self.stack.push(Frame::Fg { run, out, err });
                            return Step::Forever;
                        }
                    }
                    Some(item) => {
                        let step = match item {
                            Item::Text(text, stderr) => {
                                self.write(if stderr { &err } else { &out }, &text);
                                None
                            }
                            Item::Tpl(line, stderr) => {
                                let line = template(&line, self.now);
                                self.write(if stderr { &err } else { &out }, &format!("{line}\n"));
                                None
                            }
                            Item::Wait(d) => {
                                self.busy = 0;
                                self.last_wait = d;
                                Some(Step::Wait(d))
                            }
                            Item::Mem(m) => Some(Step::Mem(m)),
                            Item::Listen(l) => Some(Step::Listen(l)),
                            Item::Exec(argv, wrapper, line) => {
                                let pid1 = self.stack.is_empty();
                                if self
                                    .launch(&argv, out.clone(), err.clone(), None, pid1)
                                    .is_err()
                                {
                                    // The script runs as `$0`: found on PATH, that is its
                                    // full path.
                                    let path = if wrapper.contains('/') {
                                        wrapper.clone()
                                    } else {
                                        format!("/usr/local/bin/{wrapper}")
                                    };
                                    let cmd = &argv[0];
                                    let msg = match (line, self.busybox()) {
                                        (Some(l), true) => {
                                            format!("{path}: exec: line {l}: {cmd}: not found\n")
                                        }
                                        (Some(l), false) => {
                                            format!("{path}: {l}: exec: {cmd}: not found\n")
                                        }
                                        (None, _) => format!("{path}: exec: {cmd}: not found\n"),
                                    };
                                    self.write(&err, &msg);
                                    self.status = 127;
                                }
                                continue;
                            }
                        };
                        self.stack.push(Frame::Fg { run, out, err });
                        if let Some(step) = step {
                            return step;
                        }
                    }
                },
                Frame::Util(name, args, out, err) => {
                    let run = self.util(name, &args, None);
                    self.stack.push(Frame::Fg { run, out, err });
                }
                Frame::Bg { mut run, out, err } => match run.next() {
                    Some(Item::Text(text, stderr)) => {
                        self.write(if stderr { &err } else { &out }, &text);
                        self.stack.push(Frame::Bg { run, out, err });
                    }
                    Some(Item::Tpl(line, stderr)) => {
                        let line = template(&line, self.now);
                        self.write(if stderr { &err } else { &out }, &format!("{line}\n"));
                        self.stack.push(Frame::Bg { run, out, err });
                    }
                    Some(Item::Listen(l)) => {
                        self.stack.push(Frame::Bg { run, out, err });
                        return Step::Listen(l);
                    }
                    Some(Item::Mem(m)) => {
                        self.stack.push(Frame::Bg { run, out, err });
                        return Step::Mem(m);
                    }
                    Some(Item::Wait(_) | Item::Exec(..)) | None => self.status = 0,
                },
                Frame::Node(node) => self.exec_node(node),
                Frame::Seq(node, idx) => {
                    if let Node::Seq(items) = &*node
                        && let Some(item) = items.get(idx)
                    {
                        let item = item.clone();
                        if idx + 1 < items.len() {
                            self.stack.push(Frame::Seq(node.clone(), idx + 1));
                        }
                        if self.shell.errexit
                            && matches!(&*item, Node::Simple { .. } | Node::Pipeline(_))
                        {
                            self.stack.push(Frame::ErrExit);
                        }
                        self.stack.push(Frame::Node(item));
                    }
                }
                Frame::ErrExit => {
                    if self.status != 0 {
                        self.exit(self.status);
                    }
                }
                Frame::And(right) => {
                    if self.status == 0 {
                        self.stack.push(Frame::Node(right));
                    }
                }
                Frame::Or(right) => {
                    if self.status != 0 {
                        self.stack.push(Frame::Node(right));
                    }
                }
                Frame::Not => self.status = (self.status == 0) as i32,
                Frame::WhileCond(node) => {
                    if let Node::While { body, until, .. } = &*node {
                        if (self.status == 0) != *until {
                            let body = body.clone();
                            self.stack.push(Frame::WhileBody(node.clone()));
                            self.stack.push(Frame::Node(body));
                        } else {
                            self.status = 0;
                        }
                    }
                }
                Frame::WhileBody(node) => {
                    if let Node::While { cond, .. } = &*node {
                        let cond = cond.clone();
                        self.stack.push(Frame::WhileCond(node.clone()));
                        self.stack.push(Frame::Node(cond));
                    }
                }
                Frame::For {
                    var,
                    items,
                    idx,
                    body,
                } => {
                    if let Some(item) = items.get(idx) {
                        Arc::make_mut(&mut self.shell.vars).insert(var.clone(), item.clone());
                        self.stack.push(Frame::For {
                            var,
                            items,
                            idx: idx + 1,
                            body: body.clone(),
                        });
                        self.stack.push(Frame::Node(body));
                    }
                }
                Frame::If(node, idx) => {
                    if let Node::If {
                        branches,
                        otherwise,
                    } = &*node
                    {
                        if self.status == 0 {
                            self.stack.push(Frame::Node(branches[idx].1.clone()));
                        } else if let Some((cond, _)) = branches.get(idx + 1) {
                            let cond = cond.clone();
                            self.stack.push(Frame::If(node.clone(), idx + 1));
                            self.stack.push(Frame::Node(cond));
                        } else if let Some(other) = otherwise {
                            self.stack.push(Frame::Node(other.clone()));
                        } else {
                            self.status = 0;
                        }
                    }
                }
                Frame::Scope(outer) => {
                    self.shell = *outer;
                }
            }
        }
    }

    /// `exit N`: unwinds to the enclosing shell's end.
    fn exit(&mut self, code: i32) {
        self.status = code;
        while let Some(frame) = self.stack.pop() {
            if let Frame::Scope(outer) = frame {
                self.shell = *outer;
                return;
            }
        }
    }

    fn exec_node(&mut self, node: Arc<Node>) {
        match &*node {
            Node::Seq(_) => self.stack.push(Frame::Seq(node.clone(), 0)),
            Node::And(l, r) => {
                self.stack.push(Frame::And(r.clone()));
                self.stack.push(Frame::Node(l.clone()));
            }
            Node::Or(l, r) => {
                self.stack.push(Frame::Or(r.clone()));
                self.stack.push(Frame::Node(l.clone()));
            }
            Node::Not(inner) => {
                self.stack.push(Frame::Not);
                self.stack.push(Frame::Node(inner.clone()));
            }
            Node::Background(inner) => {
                self.status = 0;
                // Only a simple command naming a program or utility runs in the background;
                // a backgrounded loop or list is not simulated (it is skipped).
                if let Node::Simple { words, .. } = &**inner {
                    let argv: Vec<String> = words.iter().flat_map(|w| self.expand(w)).collect();
                    let run = match argv.first().and_then(|a| self.resolve(a)) {
                        Some(Resolved::Util(u)) => Some(self.util(u, &argv[1..], None)),
                        Some(Resolved::Program(ProgramDef::Static {
                            default,
                            subcommands,
                        })) => Some(Run::program(
                            argv.get(1)
                                .and_then(|a| subcommands.get(a))
                                .unwrap_or(&default),
                        )),
                        Some(Resolved::Program(ProgramDef::Builtin(b))) => {
                            Some(super::programs::builtin(&b, &argv[1..], &self.shell.vars))
                        }
                        Some(Resolved::Program(ProgramDef::Wrapper(_)) | Resolved::Shell(_)) => {
                            None
                        }
                        None => {
                            if let Some(cmd) = argv.first() {
                                let msg = format!("{}\n", self.shell.kind.not_found(cmd));
                                self.write(&Sink::Log(true), &msg);
                            }
                            None
                        }
                    };
                    if let Some(run) = run {
                        self.stack.push(Frame::Bg {
                            run,
                            out: Sink::Log(false),
                            err: Sink::Log(true),
                        });
                    }
                }
            }
            Node::While { cond, .. } => {
                self.stack.push(Frame::WhileCond(node.clone()));
                self.stack.push(Frame::Node(cond.clone()));
            }
            Node::For { var, items, body } => {
                let items: Vec<String> = items.iter().flat_map(|w| self.expand(w)).collect();
                self.status = 0;
                self.stack.push(Frame::For {
                    var: var.clone(),
                    items,
                    idx: 0,
                    body: body.clone(),
                });
            }
            Node::If { branches, .. } => {
                let cond = branches[0].0.clone();
                self.stack.push(Frame::If(node.clone(), 0));
                self.stack.push(Frame::Node(cond));
            }
            Node::Pipeline(cmds) => {
                let mut stdin: Option<String> = None;
                let last = cmds.len() - 1;
                for (i, cmd) in cmds.iter().enumerate() {
                    let Node::Simple { words, .. } = &**cmd else {
                        // Compound commands inside pipelines run unpiped.
                        if i == last {
                            self.stack.push(Frame::Node(cmd.clone()));
                        }
                        continue;
                    };
                    let argv: Vec<String> = words.iter().flat_map(|w| self.expand(w)).collect();
                    if i == last {
                        self.simple_argv(cmd, argv, stdin.take());
                    } else {
                        let (cap, _) = self.run_sync(SyncInput::Argv(argv, stdin.take()), false);
                        if !cap.err.is_empty() {
                            self.write(&Sink::Log(true), &cap.err);
                        }
                        stdin = Some(cap.out);
                    }
                }
            }
            Node::Simple { words, .. } => {
                let argv: Vec<String> = words.iter().flat_map(|w| self.expand(w)).collect();
                self.simple_argv(&node, argv, None);
            }
        }
    }

    fn simple_argv(&mut self, node: &Node, argv: Vec<String>, stdin: Option<String>) {
        let Node::Simple {
            assigns, redirects, ..
        } = node
        else {
            return;
        };
        for (name, word) in assigns {
            let value = self.expand(word).join(" ");
            Arc::make_mut(&mut self.shell.vars).insert(name.clone(), value);
        }
        if argv.is_empty() && !assigns.is_empty() && redirects.is_empty() {
            // A bare assignment keeps the status of its last substitution.
            return;
        }
        let mut out = Sink::Log(false);
        let mut err = Sink::Log(true);
        let mut stdin = stdin;
        for r in redirects {
            let target = match &r.target {
                RedirectTarget::Dup(1) => Ok(out.clone()),
                RedirectTarget::Dup(2) => Ok(err.clone()),
                RedirectTarget::Dup(_) => Ok(Sink::Null),
                RedirectTarget::HereDoc(word) => {
                    stdin = Some(self.expand(word).concat());
                    continue;
                }
                RedirectTarget::File(word, append) => {
                    let path = self.expand(word).join(" ");
                    if r.fd == 0 {
                        match self.fs.read(&self.abs(&path)) {
                            Ok(text) => {
                                stdin = Some(text.to_string());
                                continue;
                            }
                            Err(_) => Err(match self.shell.kind {
                                ShellKind::Ash => format!("sh: can't open {path}: no such file"),
                                ShellKind::Dash => {
                                    format!("sh: 1: cannot open {path}: No such file")
                                }
                                ShellKind::Bash => {
                                    format!("bash: line 1: {path}: No such file or directory")
                                }
                            }),
                        }
                    } else {
                        self.open(&path, *append)
                    }
                }
            };
            match target {
                Ok(sink) if r.fd == 2 => err = sink,
                Ok(sink) => out = sink,
                Err(msg) => {
                    self.write(&Sink::Log(true), &format!("{msg}\n"));
                    self.status = if self.shell.kind == ShellKind::Bash {
                        1
                    } else {
                        2
                    };
                    return;
                }
            }
        }
        let Some(cmd) = argv.first() else {
            self.status = 0;
            return;
        };
        let args = &argv[1..];
        match cmd.as_str() {
            "trap" => {
                if let Some((action, signals)) = args.split_first() {
                    let term = signals
                        .iter()
                        .any(|s| matches!(s.as_str(), "TERM" | "SIGTERM" | "15"));
                    if term {
                        self.shell.term_trap = (action != "-").then(|| action.clone());
                    }
                }
                self.status = 0;
            }
            ":" | "cd" | "wait" | "ulimit" | "umask" | "return" | "source" | "." => {
                if cmd == "cd" {
                    let target = self.abs(args.first().map(|s| s.as_str()).unwrap_or("/root"));
                    if self.fs.is_dir(&target) {
                        self.shell.cwd = target;
                    } else {
                        let msg = format!(
                            "sh: cd: can't cd to {}: No such file or directory\n",
                            args[0]
                        );
                        self.write(&err, &msg);
                        self.status = 2;
                        return;
                    }
                }
                self.status = 0;
            }
            "break" | "continue" => {
                // Unwind to the innermost loop (within this shell).
                let depth = self.stack.iter().rposition(|f| {
                    matches!(f, Frame::WhileBody(_) | Frame::For { .. } | Frame::Scope(_))
                });
                if let Some((i, Frame::WhileBody(_) | Frame::For { .. })) =
                    depth.map(|i| (i, &self.stack[i]))
                {
                    let keep = if cmd == "break" { i } else { i + 1 };
                    self.stack.truncate(keep);
                }
                self.status = 0;
            }
            "exit" => {
                let code = args
                    .first()
                    .map(|a| a.parse::<i32>().map(|c| c & 0xff).unwrap_or(2))
                    .unwrap_or(self.status);
                self.exit(code);
            }
            "export" | "readonly" | "local" => {
                for a in args {
                    if let Some((k, v)) = a.split_once('=') {
                        Arc::make_mut(&mut self.shell.vars).insert(k.to_string(), v.to_string());
                    }
                }
                self.status = 0;
            }
            "unset" => {
                for a in args {
                    Arc::make_mut(&mut self.shell.vars).remove(a);
                }
                self.status = 0;
            }
            "shift" => {
                let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1);
                for _ in 0..n.min(self.shell.positional.len().saturating_sub(1)) {
                    self.shell.positional.remove(1);
                }
                self.status = 0;
            }
            "set" => {
                for a in args {
                    if let Some(flags) = a.strip_prefix('-') {
                        if flags.contains('e') {
                            self.shell.errexit = true;
                        }
                    } else if let Some(flags) = a.strip_prefix('+')
                        && flags.contains('e')
                    {
                        self.shell.errexit = false;
                    }
                }
                self.status = 0;
            }
            "read" => {
                let line = stdin
                    .as_deref()
                    .and_then(|s| s.lines().next())
                    .map(str::to_string);
                match line {
                    Some(line) => {
                        if let Some(var) = args.iter().find(|a| !a.starts_with('-')) {
                            Arc::make_mut(&mut self.shell.vars).insert(var.clone(), line);
                        }
                        self.status = 0;
                    }
                    None => self.status = 1,
                }
            }
            "exec" => {
                if args.is_empty() {
                    self.status = 0;
                    return;
                }
                if self.resolve(&args[0]).is_none() {
                    let msg = match self.shell.kind {
                        ShellKind::Ash => format!("sh: exec: line 1: {}: not found\n", args[0]),
                        ShellKind::Dash => format!("sh: 1: exec: {}: not found\n", args[0]),
                        ShellKind::Bash => format!("bash: line 1: exec: {}: not found\n", args[0]),
                    };
                    self.write(&err, &msg);
                    self.exit(127);
                    return;
                }
                // The shell is replaced: nothing after `exec` runs. The top-level shell's
                // scope is the bottom frame; a nested shell's scope is higher up.
                while let Some(frame) = self.stack.last() {
                    if matches!(frame, Frame::Scope(_)) {
                        break;
                    }
                    self.stack.pop();
                }
                let pid1 = self.shell_pid1 && self.stack.len() <= 1;
                let _ = self.launch(args, out, err, stdin, pid1);
            }
            "echo" | "printf" | "true" | "false" | "test" | "[" | "kill" | "pwd" => {
                let run = self.util(cmd, args, stdin);
                self.stack.push(Frame::Fg { run, out, err });
            }
            _ => {
                if self.launch(&argv, out, err.clone(), stdin, false).is_err() {
                    let msg = format!("{}\n", self.shell.kind.not_found(cmd));
                    self.write(&err, &msg);
                    self.status = 127;
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Utilities.

    fn busybox(&self) -> bool {
        self.image.userland != Userland::Gnu
    }

    fn util(&mut self, name: &str, args: &[String], stdin: Option<String>) -> Run {
        let bb = self.busybox();
        match name {
            "busybox" => match args.first() {
                Some(applet) if UTILS.contains(&applet.as_str()) => self.util(
                    UTILS
                        .iter()
                        .find(|u| *u == applet)
                        .copied()
                        .unwrap_or("true"),
                    &args[1..],
                    stdin,
                ),
                Some(applet) => Run::done(127).err(format!("{applet}: applet not found\n")),
                None => Run::done(0)
                    .out("BusyBox v1.37.0 (2024-09-26 21:31:42 UTC) multi-call binary.\n"),
            },
            "true" => Run::done(0),
            "false" => Run::done(1),
            "sleep" => {
                let Some(arg) = args.first() else {
                    return Run::done(1).err(if bb {
                        "sleep: missing operand\n".to_string()
                    } else {
                        "sleep: missing operand\nTry 'sleep --help' for more information.\n".into()
                    });
                };
                let mut total = Duration::ZERO;
                for a in args {
                    match sleep_duration(a) {
                        Some(Some(d)) => total += d,
                        Some(None) => return Run::forever(),
                        None => {
                            return Run::done(1).err(if bb {
                                format!("sleep: invalid number '{a}'\n")
                            } else {
                                format!("sleep: invalid time interval '{a}'\nTry 'sleep --help' for more information.\n")
                            });
                        }
                    }
                }
                let _ = arg;
                let mut run = Run::done(0);
                run.queue.push_back(Item::Wait(total));
                run
            }
            "echo" => {
                let mut newline = true;
                let mut escapes = !bb && self.shell.kind == ShellKind::Dash;
                let mut i = 0;
                while let Some(a) = args.get(i) {
                    if a.len() > 1
                        && a.starts_with('-')
                        && a[1..].chars().all(|c| matches!(c, 'n' | 'e' | 'E'))
                    {
                        for c in a[1..].chars() {
                            match c {
                                'n' => newline = false,
                                'e' => escapes = true,
                                _ => escapes = false,
                            }
                        }
                        i += 1;
                    } else {
                        break;
                    }
                }
                let mut text = args[i..].join(" ");
                if escapes {
                    let (t, stop) = unescape(&text);
                    text = t;
                    if stop {
                        newline = false;
                    }
                }
                if newline {
                    text.push('\n');
                }
                Run::done(0).out(text)
            }
            "printf" => match args.first() {
                Some(fmt) => Run::done(0).out(printf(fmt, &args[1..])),
                None => Run::done(1).err("printf: usage: printf format [arguments]\n"),
            },
            "date" => {
                let mut fmt = "%a %b %e %H:%M:%S UTC %Y".to_string();
                for a in args {
                    if let Some(f) = a.strip_prefix('+') {
                        fmt = f.to_string();
                    } else if a == "-Iseconds" || a == "-Is" {
                        fmt = "%Y-%m-%dT%H:%M:%S+00:00".into();
                    } else if a == "-I" {
                        fmt = "%Y-%m-%d".into();
                    } else if a == "-R" {
                        fmt = "%a, %d %b %Y %H:%M:%S +0000".into();
                    }
                }
                Run::done(0).out(format!("{}\n", format_time(self.now, &fmt)))
            }
            "cat" => {
                let files: Vec<&String> = args
                    .iter()
                    .filter(|a| !a.starts_with('-') || *a == "-")
                    .collect();
                if files.is_empty() {
                    return Run::done(0).out(stdin.unwrap_or_default());
                }
                let mut run = Run::done(0);
                for f in files {
                    if f == "-" {
                        run = run.out(stdin.clone().unwrap_or_default());
                        continue;
                    }
                    match self.fs.read(&self.abs(f)) {
                        Ok(text) => run = run.out(text.to_string()),
                        Err(e) => {
                            run.end = Some(1);
                            run = run.err(match (e, bb) {
                                (FsError::NotFound, true) => {
                                    format!("cat: can't open '{f}': No such file or directory\n")
                                }
                                (FsError::IsDir, true) => {
                                    "cat: read error: Is a directory\n".into()
                                }
                                (FsError::NotFound, false) => {
                                    format!("cat: {f}: No such file or directory\n")
                                }
                                (FsError::IsDir, false) => format!("cat: {f}: Is a directory\n"),
                            });
                        }
                    }
                }
                run
            }
            "touch" => {
                let mut run = Run::done(0);
                for f in args.iter().filter(|a| !a.starts_with('-')) {
                    let abs = self.abs(f);
                    if self.fs.is_dir(&abs) || self.fs.files.contains_key(&abs) {
                        continue;
                    }
                    if !self.fs.parent_exists(&abs) {
                        run.end = Some(1);
                        run = run.err(if bb {
                            format!("touch: {f}: No such file or directory\n")
                        } else {
                            format!("touch: cannot touch '{f}': No such file or directory\n")
                        });
                        continue;
                    }
                    self.fs.write(&abs, "", true);
                }
                run
            }
            "rm" => {
                let force = args.iter().any(|a| a.starts_with('-') && a.contains('f'));
                let recursive = args
                    .iter()
                    .any(|a| a.starts_with('-') && (a.contains('r') || a.contains('R')));
                let mut run = Run::done(0);
                for f in args.iter().filter(|a| !a.starts_with('-')) {
                    let abs = self.abs(f);
                    if self.fs.files.remove(&abs).is_some() {
                        continue;
                    }
                    if self.fs.is_dir(&abs) {
                        if recursive {
                            let prefix = format!("{abs}/");
                            self.fs
                                .dirs
                                .retain(|d| d != &abs && !d.starts_with(&prefix));
                            self.fs.files.retain(|p, _| !p.starts_with(&prefix));
                        } else {
                            run.end = Some(1);
                            run = run.err(if bb {
                                format!("rm: '{f}' is a directory\n")
                            } else {
                                format!("rm: cannot remove '{f}': Is a directory\n")
                            });
                        }
                        continue;
                    }
                    if !force {
                        run.end = Some(1);
                        run = run.err(if bb {
                            format!("rm: can't remove '{f}': No such file or directory\n")
                        } else {
                            format!("rm: cannot remove '{f}': No such file or directory\n")
                        });
                    }
                }
                run
            }
            "mkdir" => {
                let parents = args.iter().any(|a| a.starts_with('-') && a.contains('p'));
                let mut run = Run::done(0);
                for d in args.iter().filter(|a| !a.starts_with('-')) {
                    let abs = self.abs(d);
                    if parents {
                        let mut path = String::new();
                        for part in abs.split('/').filter(|p| !p.is_empty()) {
                            path.push('/');
                            path.push_str(part);
                            self.fs.dirs.insert(path.clone());
                        }
                    } else if self.fs.is_dir(&abs) {
                        run.end = Some(1);
                        run = run.err(if bb {
                            format!("mkdir: can't create directory '{d}': File exists\n")
                        } else {
                            format!("mkdir: cannot create directory '{d}': File exists\n")
                        });
                    } else if !self.fs.parent_exists(&abs) {
                        run.end = Some(1);
                        run = run.err(if bb {
                            format!(
                                "mkdir: can't create directory '{d}': No such file or directory\n"
                            )
                        } else {
                            format!(
                                "mkdir: cannot create directory '{d}': No such file or directory\n"
                            )
                        });
                    } else {
                        self.fs.dirs.insert(abs);
                    }
                }
                run
            }
            "test" | "[" => {
                let mut args = args.to_vec();
                if name == "[" {
                    if args.last().map(|s| s.as_str()) != Some("]") {
                        return Run::done(2).err("sh: missing ]\n");
                    }
                    args.pop();
                }
                Run::done(if self.test(&args) { 0 } else { 1 })
            }
            "env" | "printenv" => {
                if name == "printenv" && !args.is_empty() {
                    let mut run = Run::done(0);
                    for a in args {
                        match self.shell.vars.get(a) {
                            Some(v) => run = run.out(format!("{v}\n")),
                            None => run.end = Some(1),
                        }
                    }
                    return run;
                }
                if name == "env" && args.iter().any(|a| !a.contains('=') && !a.starts_with('-')) {
                    let mut argv: Vec<String> = Vec::new();
                    for a in args {
                        if let Some((k, v)) = a.split_once('=')
                            && argv.is_empty()
                        {
                            Arc::make_mut(&mut self.shell.vars).insert(k.into(), v.into());
                        } else if !a.starts_with('-') || !argv.is_empty() {
                            argv.push(a.clone());
                        }
                    }
                    return match self.resolve(&argv[0]) {
                        Some(Resolved::Util(u)) => self.util(u, &argv[1..], stdin),
                        _ => Run::done(127).err(format!(
                            "env: can't execute '{}': No such file or directory\n",
                            argv[0]
                        )),
                    };
                }
                let text: String = self
                    .shell
                    .vars
                    .iter()
                    .filter(|(k, _)| self.env.contains_key(*k))
                    .map(|(k, v)| format!("{k}={v}\n"))
                    .collect();
                Run::done(0).out(text)
            }
            "hostname" => Run::done(0).out(format!(
                "{}\n",
                self.shell
                    .vars
                    .get("HOSTNAME")
                    .cloned()
                    .unwrap_or_else(|| "localhost".into())
            )),
            "uname" => Run::done(0).out(if args.iter().any(|a| a == "-a") {
                "Linux localhost 6.1.0 #1 SMP x86_64 GNU/Linux\n".to_string()
            } else {
                "Linux\n".into()
            }),
            "id" => Run::done(0).out("uid=0(root) gid=0(root) groups=0(root)\n"),
            "whoami" => Run::done(0).out("root\n"),
            "pwd" => Run::done(0).out(format!("{}\n", self.shell.cwd)),
            "basename" => Run::done(0).out(format!(
                "{}\n",
                args.first().map(|a| basename(a)).unwrap_or("")
            )),
            "dirname" => Run::done(0).out(format!(
                "{}\n",
                args.first()
                    .map(|a| match a.rfind('/') {
                        Some(0) => "/".to_string(),
                        Some(i) => a[..i].to_string(),
                        None => ".".into(),
                    })
                    .unwrap_or_default()
            )),
            "seq" => {
                let nums: Vec<i64> = args.iter().filter_map(|a| a.parse().ok()).collect();
                let (first, last) = match nums.as_slice() {
                    [last] => (1, *last),
                    [first, last, ..] => (*first, *last),
                    _ => (1, 0),
                };
                let text: String = (first..=last.min(first + 10_000))
                    .map(|n| format!("{n}\n"))
                    .collect();
                Run::done(0).out(text)
            }
            "ls" => {
                let dir = self.abs(
                    args.iter()
                        .find(|a| !a.starts_with('-'))
                        .map(|s| s.as_str())
                        .unwrap_or("."),
                );
                if self.fs.files.contains_key(&dir) {
                    return Run::done(0).out(format!("{dir}\n"));
                }
                if !self.fs.is_dir(&dir) {
                    return Run::done(if bb { 1 } else { 2 }).err(if bb {
                        format!("ls: {dir}: No such file or directory\n")
                    } else {
                        format!("ls: cannot access '{dir}': No such file or directory\n")
                    });
                }
                let prefix = if dir == "/" {
                    "/".to_string()
                } else {
                    format!("{dir}/")
                };
                let mut names: BTreeSet<&str> = BTreeSet::new();
                for p in self
                    .fs
                    .files
                    .keys()
                    .map(|s| s.as_str())
                    .chain(self.fs.dirs.iter().map(|s| s.as_str()))
                    .chain(BASE_DIRS)
                {
                    if let Some(rest) = p.strip_prefix(&prefix)
                        && !rest.is_empty()
                        && !rest.contains('/')
                    {
                        names.insert(rest);
                    }
                }
                let text: String = names.iter().map(|n| format!("{n}\n")).collect();
                Run::done(0).out(text)
            }
            "tail" | "head" => {
                let follow = args.iter().any(|a| a == "-f" || a == "-F");
                let mut n = 10usize;
                let mut file = None;
                let mut it = args.iter();
                while let Some(a) = it.next() {
                    if a == "-n" {
                        n = it
                            .next()
                            .and_then(|v| v.trim_start_matches('+').parse().ok())
                            .unwrap_or(10);
                    } else if let Some(v) = a.strip_prefix("-n") {
                        n = v.parse().unwrap_or(10);
                    } else if !a.starts_with('-') {
                        file = Some(a.clone());
                    }
                }
                let text = match &file {
                    Some(f) => match self.fs.read(&self.abs(f)) {
                        Ok(t) => t.to_string(),
                        Err(_) if follow => String::new(),
                        Err(_) => {
                            return Run::done(1).err(if bb {
                                format!("{name}: can't open '{f}': No such file or directory\n")
                            } else {
                                format!("{name}: cannot open '{f}' for reading: No such file or directory\n")
                            });
                        }
                    },
                    None => stdin.unwrap_or_default(),
                };
                let lines: Vec<&str> = text.lines().collect();
                let chosen = if name == "head" {
                    &lines[..n.min(lines.len())]
                } else {
                    &lines[lines.len().saturating_sub(n)..]
                };
                let out: String = chosen.iter().map(|l| format!("{l}\n")).collect();
                if follow && name == "tail" {
                    // Following a file another container writes is not simulated: the
                    // current content is printed, then it waits forever.
                    let mut run = Run::forever().out(out);
                    run.on_term = None;
                    return run;
                }
                Run::done(0).out(out)
            }
            "tee" => {
                let text = stdin.unwrap_or_default();
                let append = args.iter().any(|a| a == "-a");
                for f in args.iter().filter(|a| !a.starts_with('-')) {
                    let abs = self.abs(f);
                    if self.fs.parent_exists(&abs) {
                        self.fs.write(&abs, &text, append);
                    }
                }
                Run::done(0).out(text)
            }
            "grep" => {
                let pattern = args
                    .iter()
                    .find(|a| !a.starts_with('-'))
                    .cloned()
                    .unwrap_or_default();
                let quiet = args.iter().any(|a| a == "-q");
                let rest: Vec<&String> = args
                    .iter()
                    .filter(|a| !a.starts_with('-'))
                    .skip(1)
                    .collect();
                let text = match rest.first() {
                    Some(f) => match self.fs.read(&self.abs(f)) {
                        Ok(t) => t.to_string(),
                        Err(_) => {
                            return Run::done(2)
                                .err(format!("grep: {f}: No such file or directory\n"));
                        }
                    },
                    None => stdin.unwrap_or_default(),
                };
                let matched: String = text
                    .lines()
                    .filter(|l| l.contains(pattern.as_str()))
                    .map(|l| format!("{l}\n"))
                    .collect();
                let code = if matched.is_empty() { 1 } else { 0 };
                if quiet {
                    Run::done(code)
                } else {
                    Run::done(code).out(matched)
                }
            }
            "wc" => {
                let text = match args.iter().find(|a| !a.starts_with('-')) {
                    Some(f) => self.fs.read(&self.abs(f)).unwrap_or("").to_string(),
                    None => stdin.unwrap_or_default(),
                };
                let n = if args.iter().any(|a| a == "-c") {
                    text.len()
                } else if args.iter().any(|a| a == "-w") {
                    text.split_whitespace().count()
                } else {
                    text.lines().count()
                };
                Run::done(0).out(format!("{n}\n"))
            }
            "cp" | "mv" => {
                let paths: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
                let [src, dst] = paths.as_slice() else {
                    return Run::done(1).err(format!("{name}: missing file operand\n"));
                };
                let (src, mut dst) = (self.abs(src), self.abs(dst));
                let Ok(text) = self.fs.read(&src).map(str::to_string) else {
                    return Run::done(1).err(format!(
                        "{name}: can't stat '{}': No such file or directory\n",
                        paths[0]
                    ));
                };
                if self.fs.is_dir(&dst) {
                    dst = format!("{}/{}", dst.trim_end_matches('/'), basename(&src));
                }
                self.fs.write(&dst, &text, false);
                if name == "mv" {
                    self.fs.files.remove(&src);
                }
                Run::done(0)
            }
            "yes" => {
                // An endless stream of lines: printed lazily, 100 per simulated second.
                let word = if args.is_empty() {
                    "y".to_string()
                } else {
                    args.join(" ")
                };
                let mut run = Run::forever();
                run.every = Some((
                    Duration::from_millis(10),
                    vec![LogLine {
                        line: word,
                        stderr: false,
                        after: Duration::ZERO,
                    }],
                ));
                run
            }
            "installed" => Run::done(0),
            "apk" | "apt-get" | "yum" => self.package_manager(name, args),
            "nslookup" | "wget" | "nc" => {
                // In-container networking is not simulated: lookups and fetches succeed
                // without output (init containers waiting on `until nslookup svc` go on).
                Run::done(0)
            }
            "ps" => Run::done(0).out("PID   USER     TIME  COMMAND\n    1 root      0:00 sh\n"),
            "kill" | "chmod" | "chown" | "ln" | "sync" | "dd" | "md5sum" => Run::done(0),
            _ => Run::done(0),
        }
    }

    /// `apk`, `apt-get` and `yum`: installs succeed after a while (packages are not really
    /// fetched); installed commands then exist (`curl`, `bash`, `python3`, `nodejs` behave as
    /// those programs, others run and exit 0).
    fn package_manager(&mut self, name: &str, args: &[String]) -> Run {
        let words: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
        let sub = words.first().map(|s| s.as_str()).unwrap_or("");
        let packages: Vec<String> = words.iter().skip(1).map(|s| s.to_string()).collect();
        let yes = args.iter().any(|a| {
            a == "--yes"
                || a == "--assume-yes"
                || (a.starts_with('-') && !a.starts_with("--") && a.contains('y'))
        });
        let mut run = Run::done(0);
        let wait =
            |run: &mut Run, secs: u64| run.queue.push_back(Item::Wait(Duration::from_secs(secs)));
        match (name, sub) {
            ("apk", "add") => {
                run = run
                    .out("fetch https://dl-cdn.alpinelinux.org/alpine/v3.21/main/x86_64/APKINDEX.tar.gz\n")
                    .out("fetch https://dl-cdn.alpinelinux.org/alpine/v3.21/community/x86_64/APKINDEX.tar.gz\n");
                wait(&mut run, 2);
                let n = packages.len();
                for (i, p) in packages.iter().enumerate() {
                    run = run.out(format!("({}/{n}) Installing {p}\n", i + 1));
                }
                run = run.out(format!("OK: {} MiB in {} packages\n", 8 + 2 * n, 15 + n));
            }
            ("apk", "update") => {
                run = run
                    .out("fetch https://dl-cdn.alpinelinux.org/alpine/v3.21/main/x86_64/APKINDEX.tar.gz\n")
                    .out("fetch https://dl-cdn.alpinelinux.org/alpine/v3.21/community/x86_64/APKINDEX.tar.gz\n");
                wait(&mut run, 1);
                run = run.out("v3.21.3-1-g0a1b2c3d4e5 [https://dl-cdn.alpinelinux.org/alpine/v3.21/main]\nOK: 25259 distinct packages available\n");
            }
            ("apt-get", "update") => {
                run = run.out("Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]\nGet:2 http://deb.debian.org/debian bookworm-updates InRelease [55.4 kB]\nGet:3 http://deb.debian.org/debian-security bookworm-security InRelease [48.0 kB]\n");
                wait(&mut run, 3);
                run = run.out("Fetched 9256 kB in 1s (7020 kB/s)\nReading package lists...\n");
            }
            ("apt-get", "install") => {
                run = run.out("Reading package lists...\nBuilding dependency tree...\nReading state information...\n");
                if !yes {
                    run = run.out(format!(
                        "The following NEW packages will be installed:\n  {}\nDo you want to continue? [Y/n] Abort.\n",
                        packages.join(" ")
                    ));
                    run.end = Some(1);
                    return run;
                }
                wait(&mut run, 4);
                for p in &packages {
                    run = run.out(format!("Setting up {p} ...\n"));
                }
            }
            ("yum", "install") => {
                wait(&mut run, 4);
                for p in &packages {
                    run = run.out(format!("  Installing       : {p}\n"));
                }
                run = run.out("Complete!\n");
            }
            _ => {}
        }
        if matches!(sub, "add" | "install") {
            let exits = name != "apt-get" || yes;
            if exits {
                for p in packages {
                    let command = match p.as_str() {
                        "py3-pip" | "python3-pip" => "pip".to_string(),
                        "nodejs" => "node".to_string(),
                        "bind-tools" | "dnsutils" => "dig".to_string(),
                        other => other.to_string(),
                    };
                    self.installed.insert(command);
                }
            }
        }
        run
    }

    fn test(&self, args: &[String]) -> bool {
        match args {
            [] => false,
            [a] => !a.is_empty(),
            [not, rest @ ..] if not == "!" => !self.test(rest),
            [op, path] => {
                let abs = self.abs(path);
                match op.as_str() {
                    "-f" => self.fs.files.contains_key(&abs),
                    "-d" => self.fs.is_dir(&abs),
                    "-e" | "-r" | "-w" | "-x" => {
                        self.fs.files.contains_key(&abs) || self.fs.is_dir(&abs)
                    }
                    "-s" => self.fs.files.get(&abs).is_some_and(|c| !c.is_empty()),
                    "-z" => path.is_empty(),
                    "-n" => !path.is_empty(),
                    _ => false,
                }
            }
            [l, op, r] => {
                let num = |s: &str| s.trim().parse::<i64>().unwrap_or(0);
                match op.as_str() {
                    "=" | "==" => l == r,
                    "!=" => l != r,
                    "-eq" => num(l) == num(r),
                    "-ne" => num(l) != num(r),
                    "-lt" => num(l) < num(r),
                    "-le" => num(l) <= num(r),
                    "-gt" => num(l) > num(r),
                    "-ge" => num(l) >= num(r),
                    _ => false,
                }
            }
            [a, and_or, rest @ ..] if and_or == "-a" || and_or == "-o" => {
                let left = self.test(std::slice::from_ref(a));
                if and_or == "-a" {
                    left && self.test(rest)
                } else {
                    left || self.test(rest)
                }
            }
            _ => false,
        }
    }

    /// Puts a file (and its parent directories) into the file system.
    pub(crate) fn add_file(&mut self, path: &str, content: Arc<str>) {
        let abs = self.abs(path);
        let mut dir = String::new();
        let parts: Vec<&str> = abs.split('/').filter(|p| !p.is_empty()).collect();
        for part in parts.iter().take(parts.len().saturating_sub(1)) {
            dir.push('/');
            dir.push_str(part);
            self.fs.dirs.insert(dir.clone());
        }
        self.fs.put(&abs, content);
    }

    /// Runs a command in the container synchronously (exec probes): `None` when the
    /// executable does not exist.
    pub(crate) fn exec(&mut self, argv: &[String]) -> Option<(i32, String)> {
        self.resolve(argv.first()?)?;
        let (cap, code) = self.run_sync(SyncInput::Argv(argv.to_vec(), None), true);
        Some((code, cap.out))
    }
}

/// What [`Machine::run_sync`] runs.
enum SyncInput {
    Script(String),
    Argv(Vec<String>, Option<String>),
}
