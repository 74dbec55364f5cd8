//! Cron schedules as the CronJob controller reads them (`robfig/cron/v3` `ParseStandard`):
//! five fields (minute, hour, day of month, month, day of week) with lists, ranges, steps and
//! names, the descriptors `@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight`,
//! `@hourly` and `@every <duration>`, an optional `TZ=`/`CRON_TZ=` prefix, and the next
//! activation after a time in the schedule's time zone.

use std::time::Duration;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// Why a schedule could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(String);

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    kind: Kind,
    tz: TimeZone,
}

#[derive(Debug, Clone)]
enum Kind {
    Spec(Fields),
    Every(Duration),
}

/// The bit robfig sets when a field was `*` or `?` (it changes how day fields combine).
const STAR: u64 = 1 << 63;

#[derive(Debug, Clone, Copy)]
struct Fields {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
}

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

fn value(s: &str, b: &Bounds) -> Result<u32, ScheduleError> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = b.names.iter().position(|n| *n == lower) {
        return Ok(u32::try_from(i).unwrap_or(0) + b.min);
    }
    s.parse::<u32>()
        .map_err(|_| ScheduleError(format!("failed to parse int from {s}")))
}

/// One comma-separated part: `*`, `?`, `a`, `a-b`, each optionally `/step`.
fn range(expr: &str, b: &Bounds) -> Result<u64, ScheduleError> {
    let (range, step) = match expr.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (expr, None),
    };
    let mut extra = 0;
    let (start, mut end, single) = if range == "*" || range == "?" {
        extra = STAR;
        (b.min, b.max, false)
    } else if let Some((lo, hi)) = range.split_once('-') {
        (value(lo, b)?, value(hi, b)?, false)
    } else {
        let v = value(range, b)?;
        (v, v, true)
    };
    let step = match step {
        None => 1,
        Some(s) => {
            let step = s
                .parse::<u32>()
                .map_err(|_| ScheduleError(format!("failed to parse int from {s}")))?;
            if single {
                end = b.max;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
    };
    if start < b.min {
        return Err(ScheduleError(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        )));
    }
    if end > b.max {
        return Err(ScheduleError(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        )));
    }
    if start > end {
        return Err(ScheduleError(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        )));
    }
    if step == 0 {
        return Err(ScheduleError(format!(
            "step of range should be a positive number: {expr}"
        )));
    }
    let mut bits = extra;
    let mut i = start;
    while i <= end {
        bits |= 1 << i;
        i += step;
    }
    Ok(bits)
}

fn field(expr: &str, b: &Bounds) -> Result<u64, ScheduleError> {
    expr.split(',')
        .try_fold(0, |acc, part| Ok(acc | range(part, b)?))
}

fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * factor;
    }
    Some(Duration::from_secs_f64(total))
}

/// Parses a schedule; `time_zone` is the CronJob's `spec.timeZone` (UTC when absent).
pub fn parse(spec: &str, time_zone: Option<&str>) -> Result<Schedule, ScheduleError> {
    let mut spec = spec.trim();
    let mut tz_name = time_zone.map(str::to_string);
    if let Some(rest) = spec
        .strip_prefix("TZ=")
        .or_else(|| spec.strip_prefix("CRON_TZ="))
    {
        let (name, after) = rest.split_once(char::is_whitespace).ok_or_else(|| {
            ScheduleError(format!("provided bad location {rest}: missing schedule"))
        })?;
        tz_name = Some(name.to_string());
        spec = after.trim();
    }
    let tz = match tz_name.as_deref() {
        None | Some("") | Some("UTC") => TimeZone::UTC,
        Some(name) => TimeZone::get(name)
            .map_err(|e| ScheduleError(format!("provided bad location {name}: {e}")))?,
    };
    if spec.is_empty() {
        return Err(ScheduleError("empty spec string".into()));
    }
    let fields_text = match spec {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ if spec.starts_with("@every ") => {
            let d = parse_go_duration(spec["@every ".len()..].trim())
                .ok_or_else(|| ScheduleError(format!("failed to parse duration {spec}")))?;
            return Ok(Schedule {
                kind: Kind::Every(d.max(Duration::from_secs(1))),
                tz,
            });
        }
        _ if spec.starts_with('@') => {
            return Err(ScheduleError(format!("unrecognized descriptor: {spec}")));
        }
        other => other,
    };
    let parts: Vec<&str> = fields_text.split_whitespace().collect();
    if parts.len() != 5 {
        return Err(ScheduleError(format!(
            "expected exactly 5 fields, found {}: {spec}",
            parts.len()
        )));
    }
    Ok(Schedule {
        kind: Kind::Spec(Fields {
            minute: field(parts[0], &MINUTES)?,
            hour: field(parts[1], &HOURS)?,
            dom: field(parts[2], &DOM)?,
            month: field(parts[3], &MONTHS)?,
            dow: field(parts[4], &DOW)?,
        }),
        tz,
    })
}

fn has(bits: u64, n: i8) -> bool {
    u32::try_from(n).is_ok_and(|n| bits & (1 << n) != 0)
}

fn day_matches(f: &Fields, t: DateTime) -> bool {
    let dom = has(f.dom, t.day());
    let dow = has(f.dow, t.weekday().to_sunday_zero_offset());
    if f.dom & STAR != 0 || f.dow & STAR != 0 {
        dom && dow
    } else {
        dom || dow
    }
}

impl Schedule {
    /// The first activation strictly after `after` (robfig's `SpecSchedule.Next`), or `None`
    /// if there is none within five years.
    pub fn next(&self, after: Timestamp) -> Option<Timestamp> {
        let f = match &self.kind {
            Kind::Every(d) => {
                // Round to the second, as robfig's ConstantDelaySchedule.
                let secs = after.as_second();
                let next = secs.checked_add(i64::try_from(d.as_secs()).ok()?)?;
                return Timestamp::from_second(next).ok();
            }
            Kind::Spec(f) => *f,
        };
        let local = self.tz.to_datetime(after);
        // The next whole minute after `after`.
        let mut t = local
            .with()
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .ok()?
            .checked_add(1.minute())
            .ok()?;
        let year_limit = t.year() + 5;
        'wrap: loop {
            if t.year() > year_limit {
                return None;
            }
            let mut added = false;
            while !has(f.month, t.month()) {
                if !added {
                    added = true;
                    t = jiff::civil::date(t.year(), t.month(), 1).at(0, 0, 0, 0);
                }
                t = t.checked_add(1.month()).ok()?;
                if t.month() == 1 {
                    continue 'wrap;
                }
            }
            while !day_matches(&f, t) {
                if !added {
                    added = true;
                    t = t.date().at(0, 0, 0, 0);
                }
                t = t.checked_add(1.day()).ok()?;
                if t.day() == 1 {
                    continue 'wrap;
                }
            }
            while !has(f.hour, t.hour()) {
                if !added {
                    added = true;
                    t = t.date().at(t.hour(), 0, 0, 0);
                }
                t = t.checked_add(1.hour()).ok()?;
                if t.hour() == 0 {
                    continue 'wrap;
                }
            }
            while !has(f.minute, t.minute()) {
                if !added {
                    added = true;
                    t = t.date().at(t.hour(), t.minute(), 0, 0);
                }
                t = t.checked_add(1.minute()).ok()?;
                if t.minute() == 0 {
                    continue 'wrap;
                }
            }
            let at = self.tz.to_timestamp(t).ok()?;
            // A wall-clock time skipped by a DST change lands later; never go backwards.
            return (at > after).then_some(at).or_else(|| self.next(at));
        }
    }

    /// The time zone the schedule runs in.
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn next_activations_follow_robfig_semantics() {
        let cases = [
            (
                "every minute",
                "* * * * *",
                None,
                "2026-01-01T10:00:30Z",
                "2026-01-01T10:01:00Z",
            ),
            (
                "exactly on a minute goes to the next",
                "* * * * *",
                None,
                "2026-01-01T10:00:00Z",
                "2026-01-01T10:01:00Z",
            ),
            (
                "every five minutes",
                "*/5 * * * *",
                None,
                "2026-01-01T10:03:00Z",
                "2026-01-01T10:05:00Z",
            ),
            (
                "hourly descriptor",
                "@hourly",
                None,
                "2026-01-01T10:03:00Z",
                "2026-01-01T11:00:00Z",
            ),
            (
                "daily wraps the day",
                "30 2 * * *",
                None,
                "2026-01-01T03:00:00Z",
                "2026-01-02T02:30:00Z",
            ),
            (
                "month wraps the year",
                "0 0 1 1 *",
                None,
                "2026-03-01T00:00:00Z",
                "2027-01-01T00:00:00Z",
            ),
            (
                "names for days",
                "0 9 * * MON-FRI",
                None,
                "2026-01-03T00:00:00Z",
                "2026-01-05T09:00:00Z",
            ),
            (
                "restricted dom and dow combine with OR",
                "0 0 13 * FRI",
                None,
                "2026-01-01T00:00:00Z",
                "2026-01-02T00:00:00Z",
            ),
            (
                "a star dow makes dom alone decide",
                "0 0 13 * *",
                None,
                "2026-01-01T00:00:00Z",
                "2026-01-13T00:00:00Z",
            ),
            (
                "lists and ranges",
                "5,10-12 * * * *",
                None,
                "2026-01-01T10:06:00Z",
                "2026-01-01T10:10:00Z",
            ),
            (
                "a single value with a step runs to the max",
                "50/5 * * * *",
                None,
                "2026-01-01T10:56:00Z",
                "2026-01-01T11:50:00Z",
            ),
            (
                "time zone field",
                "0 9 * * *",
                Some("Europe/Berlin"),
                "2026-01-01T00:00:00Z",
                "2026-01-01T08:00:00Z",
            ),
            (
                "CRON_TZ prefix",
                "CRON_TZ=America/New_York 0 9 * * *",
                None,
                "2026-07-01T00:00:00Z",
                "2026-07-01T13:00:00Z",
            ),
            (
                "every duration",
                "@every 90s",
                None,
                "2026-01-01T10:00:00Z",
                "2026-01-01T10:01:30Z",
            ),
        ];
        for (case, spec, tz, after, want) in cases {
            let s = parse(spec, tz).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(s.next(ts(after)), Some(ts(want)), "{case}");
        }
    }

    #[test]
    fn bad_schedules_are_refused() {
        let cases = [
            ("too few fields", "* * * *"),
            ("minute out of range", "60 * * * *"),
            ("dow 7 is out of range as in robfig", "0 0 * * 7"),
            ("backwards range", "5-1 * * * *"),
            ("zero step", "*/0 * * * *"),
            ("unknown descriptor", "@sometimes"),
            ("not a number", "x * * * *"),
            ("empty", ""),
        ];
        for (case, spec) in cases {
            assert!(parse(spec, None).is_err(), "{case}");
        }
        assert!(
            parse("* * * * *", Some("Mars/Olympus")).is_err(),
            "unknown zone"
        );
    }

    #[test]
    fn impossible_dates_have_no_next_time() {
        let s = parse("0 0 30 2 *", None).expect("parse");
        assert_eq!(s.next(ts("2026-01-01T00:00:00Z")), None);
    }
}
