//! The scheduling queue, as upstream's `PriorityQueue`: activeQ ordered by priority then
//! enqueue time, backoffQ (1 s doubling to 10 s per attempt), and the unschedulable pods,
//! which cluster events move back and which are flushed after 5 minutes regardless.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::node_info::PodInfo;

/// First back-off after a failed attempt (simulated time).
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Longest back-off (simulated time).
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Unschedulable pods are retried after this long even without a relevant event.
pub const UNSCHEDULABLE_TIMEOUT: Duration = Duration::from_secs(300);

/// A pod waiting in (or popped from) the queue.
#[derive(Debug, Clone)]
pub struct QueuedPod {
    /// The pod.
    pub info: Arc<PodInfo>,
    /// When it last entered the queue (ordering within a priority).
    pub timestamp: Instant,
    /// Scheduling attempts so far.
    pub attempts: u32,
    /// The scheduling cycle it was popped in.
    pub cycle: u64,
    seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    Active,
    Backoff(Instant),
    Unschedulable(Instant),
}

struct ActiveKey {
    priority: i32,
    timestamp: Instant,
    seq: u64,
    uid: String,
}

impl PartialEq for ActiveKey {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for ActiveKey {}
impl PartialOrd for ActiveKey {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for ActiveKey {
    // Max-heap: higher priority first, then earlier timestamp, then earlier sequence.
    fn cmp(&self, o: &Self) -> Ordering {
        self.priority
            .cmp(&o.priority)
            .then_with(|| o.timestamp.cmp(&self.timestamp))
            .then_with(|| o.seq.cmp(&self.seq))
    }
}

/// The queue. Times are real `Instant`s; durations are simulated and converted with the
/// clock given at construction.
pub struct SchedulingQueue {
    pods: HashMap<String, (QueuedPod, Where)>,
    active: BinaryHeap<ActiveKey>,
    backoff: BinaryHeap<Reverse<(Instant, u64, String)>>,
    /// The uids of the unschedulable pods (so events do not walk every queued pod).
    unschedulable: std::collections::HashSet<String>,
    seq: u64,
    scheduling_cycle: u64,
    move_request_cycle: u64,
    clock: api::clock::Clock,
}

impl SchedulingQueue {
    /// An empty queue.
    pub fn new(clock: api::clock::Clock) -> SchedulingQueue {
        SchedulingQueue {
            pods: HashMap::new(),
            active: BinaryHeap::new(),
            backoff: BinaryHeap::new(),
            unschedulable: Default::default(),
            seq: 0,
            scheduling_cycle: 0,
            move_request_cycle: 0,
            clock,
        }
    }

    fn take(&mut self, uid: &str) -> Option<(QueuedPod, Where)> {
        self.unschedulable.remove(uid);
        self.pods.remove(uid)
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn push_active(&mut self, mut qp: QueuedPod, now: Instant) {
        qp.timestamp = now;
        qp.seq = self.next_seq();
        self.active.push(ActiveKey {
            priority: qp.info.priority,
            timestamp: qp.timestamp,
            seq: qp.seq,
            uid: qp.info.uid.clone(),
        });
        self.pods.insert(qp.info.uid.clone(), (qp, Where::Active));
    }

    /// The back-off after `attempts` failed attempts: 1 s doubling, capped at 10 s.
    pub fn backoff_duration(attempts: u32) -> Duration {
        let mut d = INITIAL_BACKOFF;
        for _ in 1..attempts {
            d *= 2;
            if d >= MAX_BACKOFF {
                return MAX_BACKOFF;
            }
        }
        d.min(MAX_BACKOFF)
    }

    fn push_backoff_or_active(&mut self, mut qp: QueuedPod, since: Instant, now: Instant) {
        let expiry = since + self.clock.real(Self::backoff_duration(qp.attempts.max(1)));
        if qp.attempts == 0 || expiry <= now {
            self.push_active(qp, now);
            return;
        }
        qp.seq = self.next_seq();
        self.backoff
            .push(Reverse((expiry, qp.seq, qp.info.uid.clone())));
        self.pods
            .insert(qp.info.uid.clone(), (qp, Where::Backoff(expiry)));
    }

    /// Adds a new pending pod to activeQ, or updates a queued one. An update that could make
    /// the pod schedulable (`relevant`) moves an unschedulable pod to backoffQ/activeQ.
    pub fn add_or_update(&mut self, info: Arc<PodInfo>, relevant: bool, now: Instant) {
        match self.pods.get_mut(&info.uid) {
            Some((qp, place)) => {
                let old_priority = qp.info.priority;
                qp.info = info;
                if let (Where::Unschedulable(since), true) = (*place, relevant) {
                    let qp = qp.clone();
                    self.take(&qp.info.uid);
                    self.push_backoff_or_active(qp, since, now);
                } else if *place == Where::Active && qp.info.priority != old_priority {
                    // Re-key by pushing a new entry; the old one is skipped when popped.
                    let qp = qp.clone();
                    self.push_active(qp, now);
                }
            }
            None => {
                let qp = QueuedPod {
                    info,
                    timestamp: now,
                    attempts: 0,
                    cycle: 0,
                    seq: 0,
                };
                self.push_active(qp, now);
            }
        }
    }

    /// Removes a pod (deleted, bound elsewhere, or no longer ours).
    pub fn delete(&mut self, uid: &str) {
        self.take(uid);
    }

    /// The queued version of a pod.
    pub fn get(&self, uid: &str) -> Option<&Arc<PodInfo>> {
        self.pods.get(uid).map(|(qp, _)| &qp.info)
    }

    /// The uids of every queued pod.
    pub fn uids(&self) -> impl Iterator<Item = &String> {
        self.pods.keys()
    }

    /// Whether the pod is queued anywhere.
    pub fn contains(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    /// Pops the highest-priority active pod, starting a scheduling cycle.
    pub fn pop(&mut self) -> Option<QueuedPod> {
        while let Some(k) = self.active.pop() {
            let current = matches!(
                self.pods.get(&k.uid),
                Some((qp, Where::Active)) if qp.seq == k.seq
            );
            if !current {
                continue;
            }
            let (mut qp, _) = self.take(&k.uid)?;
            self.scheduling_cycle += 1;
            qp.attempts += 1;
            qp.cycle = self.scheduling_cycle;
            return Some(qp);
        }
        None
    }

    /// Puts back a pod whose attempt failed as unschedulable: to backoffQ if a move request
    /// came after its cycle began, else to the unschedulable pods.
    pub fn add_unschedulable(&mut self, mut qp: QueuedPod, now: Instant) {
        if self.pods.contains_key(&qp.info.uid) {
            return;
        }
        if self.move_request_cycle >= qp.cycle {
            self.push_backoff_or_active(qp, now, now);
        } else {
            qp.timestamp = now;
            self.unschedulable.insert(qp.info.uid.clone());
            self.pods
                .insert(qp.info.uid.clone(), (qp, Where::Unschedulable(now)));
        }
    }

    /// Puts back a pod whose attempt hit an error (or whose binding failed): backoffQ.
    pub fn add_backoff(&mut self, qp: QueuedPod, now: Instant) {
        if self.pods.contains_key(&qp.info.uid) {
            return;
        }
        self.push_backoff_or_active(qp, now, now);
    }

    /// A cluster event that may make unschedulable pods schedulable: moves them all to
    /// backoffQ (or activeQ if their back-off is over).
    pub fn move_all_to_active_or_backoff(&mut self, now: Instant) {
        let uids: Vec<String> = self.unschedulable.drain().collect();
        for uid in uids {
            if let Some((qp, Where::Unschedulable(since))) = self.take(&uid) {
                self.push_backoff_or_active(qp, since, now);
            }
        }
        self.move_request_cycle = self.scheduling_cycle;
    }

    /// Moves pods whose back-off ended to activeQ, and pods unschedulable for 5 minutes.
    pub fn flush(&mut self, now: Instant) {
        while let Some(Reverse((expiry, seq, uid))) = self.backoff.peek().cloned() {
            if expiry > now {
                break;
            }
            self.backoff.pop();
            let current =
                matches!(self.pods.get(&uid), Some((qp, Where::Backoff(_))) if qp.seq == seq);
            if current && let Some((qp, _)) = self.take(&uid) {
                self.push_active(qp, now);
            }
        }
        let timeout = self.clock.real(UNSCHEDULABLE_TIMEOUT);
        let stale: Vec<String> = self
            .unschedulable
            .iter()
            .filter(|u| {
                matches!(self.pods.get(*u), Some((_, Where::Unschedulable(since))) if now.duration_since(*since) >= timeout)
            })
            .cloned()
            .collect();
        for uid in stale {
            if let Some((qp, _)) = self.take(&uid) {
                self.push_active(qp, now);
            }
        }
    }

    /// How many pods are in activeQ.
    pub fn active_len(&self) -> usize {
        self.pods
            .values()
            .filter(|(_, w)| *w == Where::Active)
            .count()
    }

    /// Whether activeQ has a pod to pop.
    pub fn has_active(&self) -> bool {
        !self.active.is_empty()
    }

    /// How many pods are unschedulable.
    pub fn unschedulable_len(&self) -> usize {
        self.unschedulable.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::PodBuilder;

    fn pod(name: &str, prio: i32) -> Arc<PodInfo> {
        Arc::new(PodBuilder::new(name).priority(prio).build())
    }

    fn names(q: &mut SchedulingQueue) -> Vec<String> {
        std::iter::from_fn(|| q.pop())
            .map(|p| p.info.name.clone())
            .collect()
    }

    #[test]
    fn active_queue_orders_by_priority_then_time() {
        let mut q = SchedulingQueue::new(api::clock::Clock::REAL_TIME);
        let t0 = Instant::now();
        q.add_or_update(pod("low-early", 0), false, t0);
        q.add_or_update(pod("high", 100), false, t0 + Duration::from_millis(1));
        q.add_or_update(pod("low-late", 0), false, t0 + Duration::from_millis(2));
        q.add_or_update(pod("mid", 50), false, t0 + Duration::from_millis(3));
        assert_eq!(
            names(&mut q),
            vec!["high", "mid", "low-early", "low-late"],
            "case priority then timestamp"
        );
    }

    #[test]
    fn backoff_doubles_from_one_second_to_ten() {
        let cases = [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (9, 10)];
        for (attempts, secs) in cases {
            assert_eq!(
                SchedulingQueue::backoff_duration(attempts),
                Duration::from_secs(secs),
                "case attempts {attempts}"
            );
        }
    }

    #[test]
    fn unschedulable_pods_move_on_events_and_wait_out_backoff() {
        let mut q = SchedulingQueue::new(api::clock::Clock::REAL_TIME);
        let t0 = Instant::now();
        q.add_or_update(pod("p", 0), false, t0);
        let qp = q.pop().expect("case popped");
        q.add_unschedulable(qp, t0);
        assert_eq!(q.unschedulable_len(), 1, "case parked as unschedulable");
        q.flush(t0 + Duration::from_secs(60));
        assert!(
            q.pop().is_none(),
            "case no retry without an event before 5 minutes"
        );
        q.move_all_to_active_or_backoff(t0 + Duration::from_millis(100));
        assert!(q.pop().is_none(), "case still backing off after 100ms");
        q.flush(t0 + Duration::from_millis(1100));
        assert_eq!(
            q.pop().map(|p| p.attempts),
            Some(2),
            "case retried after 1s back-off"
        );
    }

    #[test]
    fn unschedulable_pods_are_flushed_after_five_minutes() {
        let mut q = SchedulingQueue::new(api::clock::Clock::REAL_TIME);
        let t0 = Instant::now();
        q.add_or_update(pod("p", 0), false, t0);
        let qp = q.pop().expect("case popped");
        q.add_unschedulable(qp, t0);
        q.flush(t0 + Duration::from_secs(299));
        assert!(q.pop().is_none(), "case not before 5 minutes");
        q.flush(t0 + Duration::from_secs(300));
        assert!(q.pop().is_some(), "case flushed at 5 minutes");
    }

    #[test]
    fn a_move_request_during_the_cycle_sends_the_pod_to_backoff() {
        let mut q = SchedulingQueue::new(api::clock::Clock::REAL_TIME);
        let t0 = Instant::now();
        q.add_or_update(pod("p", 0), false, t0);
        let qp = q.pop().expect("case popped");
        q.move_all_to_active_or_backoff(t0);
        q.add_unschedulable(qp, t0);
        assert_eq!(q.unschedulable_len(), 0, "case not parked");
        q.flush(t0 + Duration::from_secs(1));
        assert!(q.pop().is_some(), "case retried after back-off");
    }

    #[test]
    fn deleted_pods_are_not_popped() {
        let mut q = SchedulingQueue::new(api::clock::Clock::REAL_TIME);
        let t0 = Instant::now();
        q.add_or_update(pod("a", 0), false, t0);
        q.add_or_update(pod("b", 0), false, t0);
        q.delete("uid-a");
        assert_eq!(names(&mut q), vec!["b"], "case deleted pod skipped");
    }
}
