//! Container logs as the kubelet keeps them: per container the lines of its recent instances
//! (each rotated by size as the kubelet's container log manager does), which instance `kubectl logs` and `--previous` read (the
//! kubelet's `validateContainerLogStatus`), and the query options (`tailLines`, `sinceTime`,
//! `timestamps`, `limitBytes`, `follow`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use api::kubelet::{LogError, LogRequest, LogStream};

/// The size at which an instance's log file is rotated (`containerLogMaxSize`, 10 MiB by
/// default), counted as the CRI log file holds it (`<RFC 3339 time> stdout F <text>\n` per
/// line). After a rotation `kubectl logs` reads only the new file, so the lines before it are
/// dropped (the rotated, compressed files are not kept here: nothing reads them). So a
/// container holds at most `MAX_INSTANCES` × 10 MiB of text (30 MiB); simulated processes
/// log little unless told to, which keeps the common case small.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;
/// Instances kept per container (current, previous, and one being replaced).
const MAX_INSTANCES: usize = 3;

/// One logged line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When it was written (wall clock).
    pub time: jiff::Timestamp,
    /// The text without its newline.
    pub text: String,
}

#[derive(Debug, Default)]
struct Instance {
    container_id: String,
    lines: VecDeque<LogLine>,
    /// Sequence number of `lines[0]`.
    first_seq: u64,
    /// Size of the current log file in the CRI format.
    bytes: usize,
    ended: bool,
}

impl Instance {
    fn next_seq(&self) -> u64 {
        self.first_seq + self.lines.len() as u64
    }
}

/// What the kubelet's status says of a container, for choosing the instance to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum View {
    /// Waiting with this reason (`ContainerCreating`, `ErrImagePull`, `CrashLoopBackOff`).
    Waiting(String),
    /// Running as this container id.
    Running(String),
    /// Terminated as this container id (empty when it never started).
    Terminated(String),
    /// Not known yet.
    #[default]
    Unknown,
}

#[derive(Debug, Default)]
struct ContainerLogs {
    view: View,
    last_terminated: Option<String>,
    instances: VecDeque<Instance>,
}

/// The pod's containers' logs by container name: a list, as a pod has a few containers (a
/// map's first node would reserve room for eleven).
#[derive(Debug, Default)]
struct State {
    containers: Vec<(String, ContainerLogs)>,
}

impl State {
    fn get(&self, container: &str) -> Option<&ContainerLogs> {
        self.containers
            .iter()
            .find(|(n, _)| n == container)
            .map(|(_, c)| c)
    }

    fn get_mut(&mut self, container: &str) -> Option<&mut ContainerLogs> {
        self.containers
            .iter_mut()
            .find(|(n, _)| n == container)
            .map(|(_, c)| c)
    }

    fn entry(&mut self, container: &str) -> &mut ContainerLogs {
        let i = match self.containers.iter().position(|(n, _)| n == container) {
            Some(i) => i,
            None => {
                self.containers.reserve_exact(1);
                self.containers
                    .push((container.to_string(), ContainerLogs::default()));
                self.containers.len() - 1
            }
        };
        &mut self.containers[i].1
    }
}

/// The logs of one pod's containers, shared between its worker and the log connection.
#[derive(Debug)]
pub struct PodLogs {
    /// The pod's name (for error messages).
    pub pod: String,
    state: Mutex<State>,
    changed: tokio::sync::watch::Sender<u64>,
    /// Where an instance's log rotates ([`MAX_BYTES`]).
    max_bytes: usize,
}

impl PodLogs {
    /// Empty logs for pod `pod`.
    pub fn new(pod: &str) -> Arc<PodLogs> {
        Self::with_max_bytes(pod, MAX_BYTES)
    }

    fn with_max_bytes(pod: &str, max_bytes: usize) -> Arc<PodLogs> {
        Arc::new(PodLogs {
            pod: pod.to_string(),
            state: Mutex::new(State::default()),
            changed: tokio::sync::watch::channel(0).0,
            max_bytes,
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// Records what the status says of `container` (its state and `lastState.terminated`).
    pub fn set_view(&self, container: &str, view: View, last_terminated: Option<String>) {
        self.with(|s| {
            let c = s.entry(container);
            c.view = view;
            c.last_terminated = last_terminated;
        });
        self.bump();
    }

    /// A new instance of `container` starts logging as `container_id`.
    pub fn start_instance(&self, container: &str, container_id: &str) {
        self.with(|s| {
            let c = s.entry(container);
            c.instances.reserve_exact(1);
            c.instances.push_back(Instance {
                container_id: container_id.to_string(),
                ..Instance::default()
            });
            while c.instances.len() > MAX_INSTANCES {
                c.instances.pop_front();
            }
        });
        self.bump();
    }

    /// Appends a line to the instance `container_id` of `container`.
    /// When the instance's file would exceed the rotation size, it is rotated first: the
    /// lines before are dropped.
    pub fn append(&self, container: &str, container_id: &str, line: LogLine) {
        // `<time> stdout F <text>\n`.
        let size = rfc3339_nanos(line.time).len() + " stdout F ".len() + line.text.len() + 1;
        let max = self.max_bytes;
        self.with(|s| {
            if let Some(i) = instance_mut(s, container, container_id) {
                if i.bytes + size > max && !i.lines.is_empty() {
                    i.first_seq += i.lines.len() as u64;
                    i.lines.clear();
                    i.bytes = 0;
                }
                i.bytes += size;
                i.lines.push_back(line);
            }
        });
        self.bump();
    }

    /// The instance `container_id` stopped: followers get the rest and end.
    pub fn end_instance(&self, container: &str, container_id: &str) {
        self.with(|s| {
            if let Some(i) = instance_mut(s, container, container_id) {
                i.ended = true;
            }
        });
        self.bump();
    }

    /// Ends every instance (the pod is gone).
    pub fn end_all(&self) {
        self.with(|s| {
            for (_, c) in &mut s.containers {
                for i in &mut c.instances {
                    i.ended = true;
                }
            }
        });
        self.bump();
    }

    /// The container id a request reads, or the kubelet's refusal, word for word.
    pub fn select(&self, container: &str, previous: bool) -> Result<String, String> {
        let pod = &self.pod;
        self.with(|s| {
            let Some(c) = s.get(container) else {
                return Err(format!(
                    "container {container:?} in pod {pod:?} is waiting to start: ContainerCreating"
                ));
            };
            choose(&c.view, c.last_terminated.as_deref(), previous).map_err(|e| {
                e.replace("{c}", &format!("{container:?}"))
                    .replace("{p}", &format!("{pod:?}"))
            })
        })
    }

    /// The last `n` lines of an instance, each with its newline.
    pub fn tail_text(&self, container: &str, id: &str, n: usize) -> String {
        let (lines, _, _) = self.read_from(container, id, 0);
        let skip = lines.len().saturating_sub(n);
        String::from_utf8_lossy(&render(&lines[skip..], false)).into_owned()
    }

    /// Lines of an instance from sequence `from`: the lines, the next sequence, whether it
    /// has ended.
    fn read_from(&self, container: &str, id: &str, from: u64) -> (Vec<LogLine>, u64, bool) {
        self.with(|s| match instance_mut(s, container, id) {
            Some(i) => {
                let start = from.max(i.first_seq);
                let skip = (start - i.first_seq) as usize;
                let lines: Vec<LogLine> = i.lines.iter().skip(skip).cloned().collect();
                (lines, i.next_seq(), i.ended)
            }
            None => (Vec::new(), from, true),
        })
    }

    /// Serves a log request against these logs.
    pub fn open(
        self: &Arc<Self>,
        req: &LogRequest,
        now: jiff::Timestamp,
    ) -> Result<LogStream, LogError> {
        let id = self
            .select(&req.container, req.previous)
            .map_err(LogError::BadRequest)?;
        let (lines, next, ended) = self.read_from(&req.container, &id, 0);
        let since = since_of(req, now);
        let first = filter_lines(lines, since, req.tail_lines);
        let mut limit = req.limit_bytes.filter(|l| *l > 0).map(|l| l as usize);
        let mut chunk = render(&first, req.timestamps);
        truncate(&mut chunk, &mut limit);
        let follow = req.follow && !ended && limit != Some(0);
        let logs = self.clone();
        let container = req.container.clone();
        let timestamps = req.timestamps;
        let rx = self.changed.subscribe();
        let first_chunk = futures::stream::iter((!chunk.is_empty()).then_some(Ok(chunk)));
        if !follow {
            return Ok(Box::pin(first_chunk));
        }
        let rest = futures::stream::unfold(
            (next, limit, false, rx),
            move |(mut pos, mut limit, done, mut rx_local)| {
                let logs = logs.clone();
                let container = container.clone();
                let id = id.clone();
                async move {
                    if done {
                        return None;
                    }
                    loop {
                        rx_local.borrow_and_update();
                        let (lines, next, ended) = logs.read_from(&container, &id, pos);
                        pos = next;
                        if !lines.is_empty() {
                            let mut chunk = render(&lines, timestamps);
                            truncate(&mut chunk, &mut limit);
                            let stop = ended || limit == Some(0);
                            return Some((Ok(chunk), (pos, limit, stop, rx_local)));
                        }
                        if ended {
                            return None;
                        }
                        if rx_local.changed().await.is_err() {
                            return None;
                        }
                    }
                }
            },
        );
        Ok(Box::pin(futures::StreamExt::chain(first_chunk, rest)))
    }
}

fn instance_mut<'a>(s: &'a mut State, container: &str, id: &str) -> Option<&'a mut Instance> {
    s.get_mut(container)?
        .instances
        .iter_mut()
        .rev()
        .find(|i| i.container_id == id)
}

/// The kubelet's choice of instance (`validateContainerLogStatus`); `{c}`/`{p}` in errors
/// stand for the quoted container and pod names.
pub fn choose(
    view: &View,
    last_terminated: Option<&str>,
    previous: bool,
) -> Result<String, String> {
    let last = last_terminated.filter(|id| !id.is_empty());
    if previous {
        return last
            .map(str::to_string)
            .ok_or_else(|| "previous terminated container {c} in pod {p} not found".to_string());
    }
    match view {
        View::Running(id) => Ok(id.clone()),
        View::Terminated(id) if !id.is_empty() => Ok(id.clone()),
        View::Terminated(_) => last
            .map(str::to_string)
            .ok_or_else(|| "container {c} in pod {p} is terminated".to_string()),
        _ if last.is_some() => Ok(last.unwrap_or_default().to_string()),
        View::Waiting(reason) => Err(match reason.as_str() {
            "ErrImagePull" => {
                "container {c} in pod {p} is waiting to start: image can't be pulled".to_string()
            }
            "ImagePullBackOff" => {
                "container {c} in pod {p} is waiting to start: trying and failing to pull image"
                    .to_string()
            }
            r => format!("container {{c}} in pod {{p}} is waiting to start: {r}"),
        }),
        View::Unknown => {
            Err("container {c} in pod {p} is waiting to start: ContainerCreating".to_string())
        }
    }
}

fn since_of(req: &LogRequest, now: jiff::Timestamp) -> Option<jiff::Timestamp> {
    if let Some(t) = req.since_time {
        return Some(t);
    }
    req.since_seconds
        .map(|s| now - jiff::SignedDuration::from_secs(s.max(0)))
}

/// Applies `sinceTime` then `tailLines`.
pub fn filter_lines(
    lines: Vec<LogLine>,
    since: Option<jiff::Timestamp>,
    tail: Option<i64>,
) -> Vec<LogLine> {
    let mut lines: Vec<LogLine> = match since {
        Some(t) => lines.into_iter().filter(|l| l.time >= t).collect(),
        None => lines,
    };
    if let Some(n) = tail.filter(|n| *n >= 0) {
        let n = n as usize;
        if lines.len() > n {
            lines.drain(..lines.len() - n);
        }
    }
    lines
}

/// Lines as bytes, with containerd's RFC 3339 nanosecond timestamp and a space if asked.
pub fn render(lines: &[LogLine], timestamps: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        if timestamps {
            out.extend_from_slice(rfc3339_nanos(l.time).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(l.text.as_bytes());
        out.push(b'\n');
    }
    out
}

/// Go's `time.RFC3339Nano` in UTC: fraction without trailing zeros, `Z`.
pub fn rfc3339_nanos(t: jiff::Timestamp) -> String {
    let secs = t.as_second();
    let nanos = t.subsec_nanosecond();
    let whole = jiff::Timestamp::from_second(secs).unwrap_or(t);
    let base = whole.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos == 0 {
        format!("{base}Z")
    } else {
        let frac = format!("{nanos:09}");
        format!("{base}.{}Z", frac.trim_end_matches('0'))
    }
}

fn truncate(chunk: &mut Vec<u8>, limit: &mut Option<usize>) {
    if let Some(l) = limit {
        if chunk.len() > *l {
            chunk.truncate(*l);
        }
        *l -= chunk.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sec: i64, text: &str) -> LogLine {
        LogLine {
            time: jiff::Timestamp::from_second(1_700_000_000 + sec).unwrap(),
            text: text.into(),
        }
    }

    #[test]
    fn instance_choice_follows_the_kubelet() {
        let w = |r: &str| View::Waiting(r.into());
        let cases: Vec<(&str, View, Option<&str>, bool, Result<&str, &str>)> = vec![
            ("running", View::Running("a".into()), None, false, Ok("a")),
            (
                "creating",
                w("ContainerCreating"),
                None,
                false,
                Err("container {c} in pod {p} is waiting to start: ContainerCreating"),
            ),
            (
                "pull backoff",
                w("ImagePullBackOff"),
                None,
                false,
                Err(
                    "container {c} in pod {p} is waiting to start: trying and failing to pull image",
                ),
            ),
            (
                "pull error",
                w("ErrImagePull"),
                None,
                false,
                Err("container {c} in pod {p} is waiting to start: image can't be pulled"),
            ),
            (
                "crash loop reads the last instance",
                w("CrashLoopBackOff"),
                Some("b"),
                false,
                Ok("b"),
            ),
            (
                "previous",
                View::Running("c".into()),
                Some("b"),
                true,
                Ok("b"),
            ),
            (
                "no previous",
                View::Running("c".into()),
                None,
                true,
                Err("previous terminated container {c} in pod {p} not found"),
            ),
            (
                "terminated",
                View::Terminated("d".into()),
                None,
                false,
                Ok("d"),
            ),
        ];
        for (name, view, last, previous, want) in cases {
            let got = choose(&view, last, previous);
            assert_eq!(got.as_deref().map_err(String::as_str), want, "{name}");
        }
    }

    #[test]
    fn queries_filter_and_render() {
        let lines = vec![line(0, "a"), line(10, "b"), line(20, "c")];
        let cases = [
            ("all", None, None, "a\nb\nc\n"),
            ("tail 2", None, Some(2), "b\nc\n"),
            ("tail 0", None, Some(0), ""),
            ("since", Some(10), None, "b\nc\n"),
            ("since and tail", Some(10), Some(1), "c\n"),
        ];
        for (name, since, tail, want) in cases {
            let since = since.map(|s| line(s, "").time);
            let got = render(&filter_lines(lines.clone(), since, tail), false);
            assert_eq!(String::from_utf8(got).unwrap(), want, "{name}");
        }
        let t = jiff::Timestamp::new(1_700_000_000, 120_000_000).unwrap();
        assert_eq!(rfc3339_nanos(t), "2023-11-14T22:13:20.12Z");
        let stamped = render(&[line(0, "x")], true);
        assert_eq!(
            String::from_utf8(stamped).unwrap(),
            "2023-11-14T22:13:20Z x\n"
        );
    }

    #[tokio::test]
    async fn rotation_drops_the_old_file_and_follow_ends_with_the_instance() {
        // Each line below is `1970-01-01T00:00:00Z stdout F <n>\n`, 31 bytes plus its text:
        // lines 0..=9 fill 320 bytes, `10` (33 bytes) starts a new file.
        let logs = PodLogs::with_max_bytes("p", 340);
        logs.start_instance("c", "id1");
        logs.set_view("c", View::Running("id1".into()), None);
        let t0 = -1_700_000_000i64;
        for i in 0..12 {
            logs.append("c", "id1", line(t0, &i.to_string()));
        }
        let whole = |logs: &Arc<PodLogs>| {
            let (lines, _, _) = logs.read_from("c", "id1", 0);
            lines.into_iter().map(|l| l.text).collect::<Vec<_>>()
        };
        assert_eq!(
            whole(&logs),
            vec!["10", "11"],
            "the rotated file is not read"
        );
        for i in 12..(12 + 8) {
            logs.append("c", "id1", line(t0, &i.to_string()));
        }
        let req = LogRequest {
            container: "c".into(),
            tail_lines: Some(1),
            limit_bytes: None,
            follow: true,
            ..LogRequest::default()
        };
        let mut stream = logs.open(&req, jiff::Timestamp::now()).unwrap();
        use futures::StreamExt;
        let first = stream.next().await.unwrap().unwrap();
        assert_eq!(first, b"19\n".to_vec());
        logs.append("c", "id1", line(99_999, "late"));
        let second = stream.next().await.unwrap().unwrap();
        assert_eq!(second, b"late\n".to_vec());
        logs.end_instance("c", "id1");
        assert!(stream.next().await.is_none());
        let all = logs
            .open(
                &LogRequest {
                    container: "c".into(),
                    limit_bytes: Some(3),
                    ..LogRequest::default()
                },
                jiff::Timestamp::now(),
            )
            .unwrap();
        let got: Vec<_> = all.collect().await;
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].as_ref().unwrap(),
            &b"lat".to_vec(),
            "the late line rotated the file again"
        );
    }
}
