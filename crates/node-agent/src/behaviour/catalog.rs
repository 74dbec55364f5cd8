//! The image catalog's YAML format (documented in the parent module) and its compiled form.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

/// The whole document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CatalogFile {
    pub(crate) images: Vec<ImageSpec>,
}

/// Which userland an image ships: decides the shell, the utilities and their error wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Userland {
    /// BusyBox: `sh` is ash, `cat: can't open 'x': No such file or directory`.
    #[default]
    Busybox,
    /// GNU coreutils with dash as `sh` (Debian, Ubuntu): `sh: 1: foo: not found`.
    Gnu,
    /// No shell and no utilities (distroless, `pause`): only the image's programs exist.
    None,
}

/// One image repository.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ImageSpec {
    pub(crate) repository: String,
    pub(crate) tags: Vec<TagEntry>,
    pub(crate) size: String,
    #[serde(default)]
    pub(crate) entrypoint: Vec<String>,
    #[serde(default)]
    pub(crate) cmd: Vec<String>,
    #[serde(default)]
    pub(crate) env: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) userland: Userland,
    /// Whether `bash` exists (default: true for `gnu`, false otherwise).
    #[serde(default)]
    pub(crate) bash: Option<bool>,
    #[serde(default)]
    pub(crate) programs: BTreeMap<String, ProgramSpec>,
}

/// A tag name, or a group of tags that differ from the repository's defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum TagEntry {
    Name(String),
    Group(TagGroup),
}

/// Tags sharing a size and userland (e.g. the `-alpine` variants).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct TagGroup {
    pub(crate) names: Vec<String>,
    #[serde(default)]
    pub(crate) size: Option<String>,
    #[serde(default)]
    pub(crate) userland: Option<Userland>,
    #[serde(default)]
    pub(crate) bash: Option<bool>,
}

/// What a program in the image does.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ProgramSpec {
    /// A program skiff implements in code because its behaviour depends on its arguments
    /// (`stress`, `agnhost`, `python`, `node`, `http-echo`, `curl`, `aws`, `liveness-server`).
    #[serde(default)]
    pub(crate) builtin: Option<String>,
    /// An entrypoint script that prints, checks the environment and `exec`s its arguments.
    #[serde(default)]
    pub(crate) wrapper: Option<WrapperSpec>,
    /// Behaviour per first argument (`go version`).
    #[serde(default)]
    pub(crate) subcommands: BTreeMap<String, Behaviour>,
    /// The behaviour (when not a builtin or wrapper, or no subcommand matched): the fields
    /// of [`Behaviour`].
    #[serde(default)]
    pub(crate) logs: Vec<LogSpec>,
    #[serde(default)]
    pub(crate) every: Option<Every>,
    #[serde(default)]
    pub(crate) memory: Option<String>,
    #[serde(default)]
    pub(crate) listen: Vec<ListenSpec>,
    #[serde(default)]
    pub(crate) exit: Option<ExitSpec>,
    #[serde(default)]
    pub(crate) on_term: Option<OnTermSpec>,
}

impl ProgramSpec {
    fn behaviour(&self) -> Behaviour {
        Behaviour {
            logs: self.logs.clone(),
            every: self.every.clone(),
            memory: self.memory.clone(),
            listen: self.listen.clone(),
            exit: self.exit.clone(),
            on_term: self.on_term.clone(),
        }
    }
}

/// An entrypoint script such as the official images' `docker-entrypoint.sh`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct WrapperSpec {
    /// Its own output and checks apply when the first argument is one of these programs.
    #[serde(default, rename = "for")]
    pub(crate) for_programs: Vec<String>,
    /// Put in front of the arguments when the first one starts with `-` (or, with
    /// `prependUnknown`, is not a program of the image).
    #[serde(default)]
    pub(crate) prepend: Vec<String>,
    #[serde(default)]
    pub(crate) prepend_unknown: bool,
    /// Lines it prints before `exec`.
    #[serde(default)]
    pub(crate) logs: Vec<LogSpec>,
    /// An environment check (POSTGRES_PASSWORD).
    #[serde(default)]
    pub(crate) require_env: Option<RequireEnv>,
    /// The script line of its `exec "$@"`, for `/docker-entrypoint.sh: exec: line 47: foo:
    /// not found`.
    #[serde(default)]
    pub(crate) exec_line: Option<u32>,
}

/// Fails unless one of the variables is set and non-empty.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RequireEnv {
    pub(crate) any_of: Vec<String>,
    pub(crate) logs: Vec<LogSpec>,
    pub(crate) exit_code: i32,
}

/// A log line: a string (stdout, at once) or the long form.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum LogSpec {
    Line(String),
    Full {
        line: String,
        #[serde(default)]
        stderr: bool,
        #[serde(default)]
        after: Option<String>,
    },
}

/// Static behaviour of a program.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Behaviour {
    #[serde(default)]
    pub(crate) logs: Vec<LogSpec>,
    #[serde(default)]
    pub(crate) every: Option<Every>,
    #[serde(default)]
    pub(crate) memory: Option<String>,
    #[serde(default)]
    pub(crate) listen: Vec<ListenSpec>,
    #[serde(default)]
    pub(crate) exit: Option<ExitSpec>,
    #[serde(default)]
    pub(crate) on_term: Option<OnTermSpec>,
}

/// Lines printed again and again.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Every {
    pub(crate) interval: String,
    pub(crate) logs: Vec<LogSpec>,
}

/// A listening port.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ListenSpec {
    pub(crate) port: u16,
    /// HTTP answers per path; absent for a port that does not speak HTTP.
    #[serde(default)]
    pub(crate) http: Option<BTreeMap<String, AnswerSpec>>,
    /// The status for paths not listed (default 404).
    #[serde(default)]
    pub(crate) other_paths: Option<u16>,
}

/// A status, or statuses over time since start.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum AnswerSpec {
    Status(u16),
    Timed(Vec<TimedAnswer>),
}

/// `{until: 10s, status: 200}`; the last entry has no `until`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TimedAnswer {
    #[serde(default)]
    pub(crate) until: Option<String>,
    pub(crate) status: u16,
}

/// Exits on its own.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExitSpec {
    #[serde(default)]
    pub(crate) after: Option<String>,
    pub(crate) code: i32,
}

/// `ignore`, or how fast and with what code SIGTERM ends it.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum OnTermSpec {
    Word(String),
    Exits {
        #[serde(default)]
        after: Option<String>,
        #[serde(default)]
        code: i32,
    },
}

// ---------------------------------------------------------------------------------------
// Compiled form.

/// A log line ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogLine {
    pub(crate) line: String,
    pub(crate) stderr: bool,
    pub(crate) after: Duration,
}

/// A compiled HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    Status(u16),
    /// (until, status) pairs; `None` = from then on.
    Timed(Vec<(Option<Duration>, u16)>),
}

impl Answer {
    pub(crate) fn at(&self, elapsed: Duration) -> u16 {
        match self {
            Answer::Status(s) => *s,
            Answer::Timed(steps) => steps
                .iter()
                .find(|(until, _)| until.is_none_or(|u| elapsed <= u))
                .or(steps.last())
                .map(|(_, s)| *s)
                .unwrap_or(200),
        }
    }
}

/// A compiled listening port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listener {
    pub(crate) port: u16,
    /// `None`: not HTTP.
    pub(crate) http: Option<BTreeMap<String, Answer>>,
    pub(crate) other_paths: u16,
}

/// A compiled static behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Program {
    pub(crate) logs: Vec<LogLine>,
    pub(crate) every: Option<(Duration, Vec<LogLine>)>,
    pub(crate) memory: Option<u64>,
    pub(crate) listen: Vec<Listener>,
    pub(crate) exit: Option<(Duration, i32)>,
    /// `None`: ignores SIGTERM.
    pub(crate) on_term: Option<(Duration, i32)>,
}

/// A compiled entrypoint wrapper.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Wrapper {
    pub(crate) for_programs: Vec<String>,
    pub(crate) prepend: Vec<String>,
    pub(crate) prepend_unknown: bool,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) require_env: Option<(Vec<String>, Vec<LogLine>, i32)>,
    pub(crate) exec_line: Option<u32>,
}

/// What a named program of an image is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProgramDef {
    Static {
        default: Program,
        subcommands: BTreeMap<String, Program>,
    },
    Builtin(String),
    Wrapper(Wrapper),
}

/// One tag's image, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageDef {
    pub(crate) size: u64,
    pub(crate) entrypoint: Vec<String>,
    pub(crate) cmd: Vec<String>,
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) userland: Userland,
    pub(crate) bash: bool,
    pub(crate) programs: Arc<BTreeMap<String, ProgramDef>>,
}

/// The builtin program names `builtin:` accepts.
pub(crate) const BUILTINS: [&str; 9] = [
    "stress",
    "agnhost",
    "python",
    "node",
    "http-echo",
    "curl",
    "aws",
    "liveness-server",
    "perl",
];

/// Parses `10s`, `500ms`, `1m`, `2h`, `1m30s`, `1.5s`, or a bare number of seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(format!("invalid duration {s:?}"));
    }
    if let Ok(secs) = t.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|_| format!("invalid duration {s:?}"));
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("invalid duration {s:?}: missing unit"))?;
        let value: f64 = rest[..num_end]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            unit => return Err(format!("invalid duration {s:?}: unknown unit {unit:?}")),
        };
        total += value * factor;
        rest = &rest[unit_end..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| format!("invalid duration {s:?}"))
}

/// Parses a byte size: `72MB`, `250M`, `100Mi`, `1.5GiB`, `4096`.
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let value: f64 = t[..split]
        .parse()
        .map_err(|_| format!("invalid size {s:?}"))?;
    let factor: f64 = match &t[split..] {
        "" | "B" => 1.0,
        "k" | "kB" | "KB" => 1e3,
        "M" | "MB" => 1e6,
        "G" | "GB" => 1e9,
        "Ki" | "KiB" => 1024.0,
        "Mi" | "MiB" => 1024.0 * 1024.0,
        "Gi" | "GiB" => 1024.0 * 1024.0 * 1024.0,
        unit => return Err(format!("invalid size {s:?}: unknown unit {unit:?}")),
    };
    Ok((value * factor).round() as u64)
}

fn log_lines(specs: &[LogSpec]) -> Result<Vec<LogLine>, String> {
    specs
        .iter()
        .map(|s| {
            Ok(match s {
                LogSpec::Line(line) => LogLine {
                    line: line.clone(),
                    stderr: false,
                    after: Duration::ZERO,
                },
                LogSpec::Full {
                    line,
                    stderr,
                    after,
                } => LogLine {
                    line: line.clone(),
                    stderr: *stderr,
                    after: after
                        .as_deref()
                        .map(parse_duration)
                        .transpose()?
                        .unwrap_or_default(),
                },
            })
        })
        .collect()
}

fn compile_behaviour(b: &Behaviour) -> Result<Program, String> {
    let listen = b
        .listen
        .iter()
        .map(|l| {
            let http = l
                .http
                .as_ref()
                .map(|paths| {
                    paths
                        .iter()
                        .map(|(path, a)| {
                            let answer = match a {
                                AnswerSpec::Status(s) => Answer::Status(*s),
                                AnswerSpec::Timed(steps) => Answer::Timed(
                                    steps
                                        .iter()
                                        .map(|t| {
                                            Ok((
                                                t.until
                                                    .as_deref()
                                                    .map(parse_duration)
                                                    .transpose()?,
                                                t.status,
                                            ))
                                        })
                                        .collect::<Result<_, String>>()?,
                                ),
                            };
                            Ok((path.clone(), answer))
                        })
                        .collect::<Result<BTreeMap<_, _>, String>>()
                })
                .transpose()?;
            Ok(Listener {
                port: l.port,
                http,
                other_paths: l.other_paths.unwrap_or(404),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let on_term = match &b.on_term {
        None => Some((Duration::from_millis(100), 0)),
        Some(OnTermSpec::Word(w)) if w == "ignore" => None,
        Some(OnTermSpec::Word(w)) => {
            return Err(format!(
                "onTerm must be \"ignore\" or {{after, code}}, not {w:?}"
            ));
        }
        Some(OnTermSpec::Exits { after, code }) => Some((
            after
                .as_deref()
                .map(parse_duration)
                .transpose()?
                .unwrap_or_default(),
            *code,
        )),
    };
    Ok(Program {
        logs: log_lines(&b.logs)?,
        every: b
            .every
            .as_ref()
            .map(|e| Ok::<_, String>((parse_duration(&e.interval)?, log_lines(&e.logs)?)))
            .transpose()?,
        memory: b.memory.as_deref().map(parse_size).transpose()?,
        listen,
        exit: b
            .exit
            .as_ref()
            .map(|e| {
                Ok::<_, String>((
                    e.after
                        .as_deref()
                        .map(parse_duration)
                        .transpose()?
                        .unwrap_or_default(),
                    e.code,
                ))
            })
            .transpose()?,
        on_term,
    })
}

fn compile_program(name: &str, spec: &ProgramSpec) -> Result<ProgramDef, String> {
    if let Some(builtin) = &spec.builtin {
        if !BUILTINS.contains(&builtin.as_str()) {
            return Err(format!(
                "program {name:?}: unknown builtin {builtin:?} (known: {})",
                BUILTINS.join(", ")
            ));
        }
        return Ok(ProgramDef::Builtin(builtin.clone()));
    }
    if let Some(w) = &spec.wrapper {
        return Ok(ProgramDef::Wrapper(Wrapper {
            for_programs: w.for_programs.clone(),
            prepend: w.prepend.clone(),
            prepend_unknown: w.prepend_unknown,
            logs: log_lines(&w.logs)?,
            require_env: w
                .require_env
                .as_ref()
                .map(|r| Ok::<_, String>((r.any_of.clone(), log_lines(&r.logs)?, r.exit_code)))
                .transpose()?,
            exec_line: w.exec_line,
        }));
    }
    Ok(ProgramDef::Static {
        default: compile_behaviour(&spec.behaviour())?,
        subcommands: spec
            .subcommands
            .iter()
            .map(|(k, b)| Ok((k.clone(), compile_behaviour(b)?)))
            .collect::<Result<_, String>>()?,
    })
}

/// Compiles one repository's spec into its tags' image definitions.
pub(crate) fn compile_image(spec: &ImageSpec) -> Result<Vec<(String, ImageDef)>, String> {
    let ctx = |e: String| format!("image {:?}: {e}", spec.repository);
    let size = parse_size(&spec.size).map_err(ctx)?;
    let programs = Arc::new(
        spec.programs
            .iter()
            .map(|(name, p)| Ok((name.clone(), compile_program(name, p)?)))
            .collect::<Result<BTreeMap<_, _>, String>>()
            .map_err(ctx)?,
    );
    let base = ImageDef {
        size,
        entrypoint: spec.entrypoint.clone(),
        cmd: spec.cmd.clone(),
        env: spec.env.clone(),
        userland: spec.userland,
        bash: spec.bash.unwrap_or(spec.userland == Userland::Gnu),
        programs,
    };
    let mut out = Vec::new();
    for entry in &spec.tags {
        match entry {
            TagEntry::Name(name) => out.push((name.clone(), base.clone())),
            TagEntry::Group(g) => {
                let mut def = base.clone();
                if let Some(s) = &g.size {
                    def.size = parse_size(s).map_err(ctx)?;
                }
                if let Some(u) = g.userland {
                    def.userland = u;
                    def.bash = u == Userland::Gnu;
                }
                if let Some(b) = g.bash {
                    def.bash = b;
                }
                for name in &g.names {
                    out.push((name.clone(), def.clone()));
                }
            }
        }
    }
    if out.is_empty() {
        return Err(ctx("no tags".into()));
    }
    Ok(out)
}
