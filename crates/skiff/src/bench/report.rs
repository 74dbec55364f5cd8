//! The figures of one `skiff bench` run: their rows and targets, the machine they ran on, the
//! printed table and the JSON document.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::Size;

/// A target of issue 6.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// The figure should be at most this.
    AtMost(f64),
    /// The figure should be at least this.
    AtLeast(f64),
}

impl Target {
    /// Whether `value` meets the target.
    pub fn held(self, value: f64) -> bool {
        match self {
            Target::AtMost(t) => value <= t,
            Target::AtLeast(t) => value >= t,
        }
    }

    fn show(self, unit: &str) -> String {
        match self {
            Target::AtMost(t) => format!("≤ {} {unit}", fmt_num(t)),
            Target::AtLeast(t) => format!("≥ {} {unit}", fmt_num(t)),
        }
    }
}

/// One row of the table and one key of the JSON.
#[derive(Debug, Clone)]
pub struct Figure {
    /// The scenario it belongs to.
    pub scenario: &'static str,
    /// What is measured.
    pub figure: &'static str,
    /// Its JSON key.
    pub key: &'static str,
    /// The unit of `value`.
    pub unit: &'static str,
    /// Issue 6's target, if it sets one.
    pub target: Option<Target>,
    /// The measured value (`None`: not measured).
    pub value: Option<f64>,
    /// A remark printed under the table (how it was measured, why it is missing).
    pub note: Option<String>,
    /// Whether the value is a count (written as a JSON integer).
    pub integer: bool,
    /// Left out by `--only`.
    pub skipped: bool,
}

/// The rows of a run in print order: (scenario, figure, key, unit, target, integer).
const ROWS: &[(&str, &str, &str, &str, Option<Target>, bool)] = &[
    (
        "boot",
        "spawn → /readyz OK and nodes Ready, fresh data dir (median)",
        "bootMs",
        "ms",
        Some(Target::AtMost(300.0)),
        false,
    ),
    (
        "boot",
        "the same, restarting on the data dir (median)",
        "bootWarmMs",
        "ms",
        None,
        false,
    ),
    (
        "idle memory",
        "RSS of the booted default cluster (2 nodes)",
        "idleRssMiB",
        "MiB",
        Some(Target::AtMost(60.0)),
        false,
    ),
    (
        "create",
        "ConfigMaps created/s, 64 clients, durable SQLite",
        "createPerSec",
        "/s",
        Some(Target::AtLeast(5000.0)),
        false,
    ),
    (
        "create",
        "the same pattern against etcd",
        "etcdCreatePerSec",
        "/s",
        None,
        false,
    ),
    (
        "watch fan-out",
        "watchers on one namespace",
        "watchFanoutWatchers",
        "",
        None,
        true,
    ),
    (
        "watch fan-out",
        "write acknowledged → watcher receives it, p99",
        "watchFanoutP99Ms",
        "ms",
        Some(Target::AtMost(10.0)),
        false,
    ),
    (
        "pod startup",
        "create → Running seen by watch, p50",
        "podStartupP50Ms",
        "ms",
        None,
        false,
    ),
    (
        "pod startup",
        "create → Running seen by watch, p99",
        "podStartupP99Ms",
        "ms",
        Some(Target::AtMost(50.0)),
        false,
    ),
    ("large list", "pods listed", "listPods", "", None, true),
    (
        "large list",
        "list all, paged by 500",
        "listPagedMs",
        "ms",
        None,
        false,
    ),
    (
        "large list",
        "list all, unpaged",
        "listUnpagedMs",
        "ms",
        None,
        false,
    ),
    ("scheduling", "nodes", "scheduleNodes", "", None, true),
    ("scheduling", "pods", "schedulePods", "", None, true),
    (
        "scheduling",
        "pods bound/s (first create → last bind)",
        "schedulePodsPerSec",
        "/s",
        Some(Target::AtLeast(3000.0)),
        false,
    ),
    ("scale", "nodes", "scaleNodes", "", None, true),
    ("scale", "pods Running", "scalePods", "", None, true),
    (
        "scale",
        "RSS with every pod Running",
        "scaleRssMiB",
        "MiB",
        Some(Target::AtMost(2048.0)),
        false,
    ),
];

/// The figures of one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The size run.
    pub size: Size,
    /// Every row, in print order.
    pub figures: Vec<Figure>,
    /// Scenarios that failed, with their error.
    pub errors: Vec<String>,
    /// The scenarios `--only` named (empty: all ran).
    pub only: Vec<&'static str>,
}

impl Report {
    /// Every row of issue 6, none measured yet.
    pub fn new(size: Size) -> Report {
        let figures = ROWS
            .iter()
            .map(|&(scenario, figure, key, unit, target, integer)| Figure {
                scenario,
                figure,
                key,
                unit,
                target,
                value: None,
                note: None,
                integer,
                skipped: false,
            })
            .collect();
        Report {
            size,
            figures,
            errors: Vec::new(),
            only: Vec::new(),
        }
    }

    fn row(&mut self, key: &str) -> &mut Figure {
        match self.figures.iter().position(|f| f.key == key) {
            Some(i) => &mut self.figures[i],
            // Keys are literals of this crate; an unknown one is a bug caught by the smoke test.
            None => panic!("skiff bench: no figure {key:?}"),
        }
    }

    /// Records a measured value.
    ///
    /// Each figure is also printed to stderr as it is measured, so a long run stopped before
    /// its table keeps what it measured.
    pub fn set(&mut self, key: &str, value: f64) {
        let row = self.row(key);
        row.value = Some(value);
        eprintln!(
            "    {} {}: {value:.1} {}",
            row.scenario, row.figure, row.unit
        );
    }

    /// Marks a figure as left out by `--only`.
    pub fn skip(&mut self, key: &str) {
        self.row(key).skipped = true;
    }

    /// Attaches a remark to a figure.
    pub fn note(&mut self, key: &str, note: impl Into<String>) {
        self.row(key).note = Some(note.into());
    }

    /// The value of a figure.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|f| f.key == key)
            .and_then(|f| f.value)
    }

    /// The table, with the targets and whether they held, then the notes.
    pub fn table(&self) -> String {
        let head = ["scenario", "figure", "value", "unit", "target", "held?"];
        let rows: Vec<[String; 6]> = self
            .figures
            .iter()
            .map(|f| {
                [
                    f.scenario.to_string(),
                    f.figure.to_string(),
                    f.value.map(fmt_num).unwrap_or_else(|| "—".into()),
                    f.unit.to_string(),
                    f.target
                        .map(|t| t.show(f.unit))
                        .unwrap_or_else(|| "—".into()),
                    match (f.target, f.value) {
                        (Some(t), Some(v)) if t.held(v) => "yes".into(),
                        (Some(_), Some(_)) => "NO".into(),
                        (Some(_), None) if f.skipped => "not run".into(),
                        (Some(_), None) => "not measured".into(),
                        (None, _) => String::new(),
                    },
                ]
            })
            .collect();
        let mut width = head.map(|h| h.chars().count());
        for r in &rows {
            for (w, c) in width.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            let mut l = String::new();
            for (i, (c, w)) in cells.iter().zip(width).enumerate() {
                let pad = w - c.chars().count();
                // Right-align the value column.
                if i == 2 {
                    let _ = write!(l, "{}{c}  ", " ".repeat(pad));
                } else {
                    let _ = write!(l, "{c}{}  ", " ".repeat(pad));
                }
            }
            out.push_str(l.trim_end());
            out.push('\n');
        };
        line(&head.map(String::from));
        line(&width.map(|w| "-".repeat(w)));
        for r in &rows {
            line(r);
        }
        let notes: Vec<_> = self
            .figures
            .iter()
            .filter_map(|f| f.note.as_ref().map(|n| (f.key, n)))
            .collect();
        if !notes.is_empty() {
            out.push('\n');
            for (key, n) in notes {
                let _ = writeln!(out, "  {key}: {n}");
            }
        }
        let m = Machine::read();
        let _ = writeln!(
            out,
            "\nmachine: {} cores, {} MiB, {}; size {}; bench driver built {}",
            m.cores,
            m.memory_mib,
            m.cpu_model,
            self.size.name(),
            build_profile()
        );
        for e in &self.errors {
            let _ = writeln!(out, "FAILED {e}");
        }
        out
    }

    /// The JSON document: every key (null when not measured), `machine`, `size`, the build
    /// profile, targets held, notes and errors.
    pub fn json(&self) -> Value {
        let mut doc = Map::new();
        for f in &self.figures {
            let v = match f.value {
                Some(v) if f.integer => json!(v.round() as u64),
                Some(v) => json!((v * 100.0).round() / 100.0),
                None => Value::Null,
            };
            doc.insert(f.key.to_string(), v);
        }
        let m = Machine::read();
        doc.insert(
            "machine".into(),
            json!({"cores": m.cores, "memoryMiB": m.memory_mib, "cpuModel": m.cpu_model}),
        );
        doc.insert("size".into(), json!(self.size.name()));
        doc.insert("only".into(), json!(self.only));
        doc.insert("build".into(), json!(build_profile()));
        let held: Map<String, Value> = self
            .figures
            .iter()
            .filter_map(|f| Some((f.key.to_string(), json!(f.target?.held(f.value?)))))
            .collect();
        doc.insert("targetsHeld".into(), Value::Object(held));
        let notes: Map<String, Value> = self
            .figures
            .iter()
            .filter_map(|f| Some((f.key.to_string(), json!(f.note.clone()?))))
            .collect();
        doc.insert("notes".into(), Value::Object(notes));
        doc.insert("errors".into(), json!(self.errors));
        Value::Object(doc)
    }
}

/// The machine a run measured.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Online CPUs.
    pub cores: usize,
    /// `MemTotal` in MiB.
    pub memory_mib: u64,
    /// The first `model name` of /proc/cpuinfo.
    pub cpu_model: String,
}

impl Machine {
    /// Reads /proc/cpuinfo and /proc/meminfo (unknown fields stay 0 or empty).
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or_else(|_| {
                cpuinfo
                    .lines()
                    .filter(|l| l.starts_with("processor"))
                    .count()
            });
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default();
        let memory_mib = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib / 1024)
            .unwrap_or(0);
        Machine {
            cores,
            memory_mib,
            cpu_model,
        }
    }
}

/// `debug` or `release`: how this binary was compiled.
pub fn build_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// An error with its causes, `: `-separated.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(c) = source {
        s.push_str(&format!(": {c}"));
        source = c.source();
    }
    s
}

/// Percentile `p` (0–100) of `samples` (nearest rank); 0 for none.
pub fn percentile(samples: &mut [f64], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

/// The median of `samples`.
pub fn median(samples: &mut [f64]) -> f64 {
    percentile(samples, 50.0)
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_takes_the_nearest_rank() {
        let cases: &[(&str, &[f64], f64, f64)] = &[
            ("empty", &[], 99.0, 0.0),
            ("one", &[7.0], 99.0, 7.0),
            ("p50 of four", &[4.0, 1.0, 3.0, 2.0], 50.0, 2.0),
            ("p99 of a hundred", &[1.0; 100], 99.0, 1.0),
        ];
        for (name, samples, p, want) in cases {
            let mut s = samples.to_vec();
            assert_eq!(percentile(&mut s, *p), *want, "{name}");
        }
    }

    #[test]
    fn json_has_every_key_and_null_for_unmeasured_figures() {
        let mut r = Report::new(Size::Smoke);
        r.set("bootMs", 12.345);
        r.set("scaleNodes", 50.0);
        let j = r.json();
        assert_eq!(j["bootMs"], json!(12.35));
        assert_eq!(j["scaleNodes"], json!(50));
        assert!(j["etcdCreatePerSec"].is_null());
        assert_eq!(j["size"], json!("smoke"));
        assert!(j["machine"]["cores"].is_u64());
        assert_eq!(j["targetsHeld"]["bootMs"], json!(true));
    }
}
