//! A deduplicating work queue of object uids in the manner of client-go's workqueue: an item
//! queued twice before it is taken is processed once, no item is processed by two workers at
//! once, and failing items come back after a per-item exponential back-off.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// First retry delay of a failing item.
const BASE_DELAY: Duration = Duration::from_millis(500);
/// Longest retry delay of a failing item.
const MAX_DELAY: Duration = Duration::from_secs(120);

/// The queue. Share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct WorkQueue {
    state: Mutex<State>,
    notify: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Items waiting to be taken, in order.
    queue: VecDeque<String>,
    /// Items waiting to be taken or re-added while being processed.
    dirty: HashSet<String>,
    /// Items a worker holds.
    processing: HashSet<String>,
    /// Consecutive failures per item.
    failures: HashMap<String, u32>,
}

impl WorkQueue {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `uid` unless it is already waiting; an item being processed is queued again
    /// when its worker calls [`WorkQueue::done`].
    pub fn add(&self, uid: String) {
        let mut state = self.state();
        if !state.dirty.insert(uid.clone()) {
            return;
        }
        if !state.processing.contains(&uid) {
            state.queue.push_back(uid);
            drop(state);
            self.notify.notify_one();
        }
    }

    /// Queues every uid of `uids`.
    pub fn add_all(&self, uids: impl IntoIterator<Item = String>) {
        for uid in uids {
            self.add(uid);
        }
    }

    /// Takes the next item, waiting for one; `None` once `shutdown` is cancelled.
    pub async fn next(&self, shutdown: &CancellationToken) -> Option<String> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if shutdown.is_cancelled() {
                return None;
            }
            {
                let mut state = self.state();
                if let Some(uid) = state.queue.pop_front() {
                    state.dirty.remove(&uid);
                    state.processing.insert(uid.clone());
                    return Some(uid);
                }
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = shutdown.cancelled() => return None,
            }
        }
    }

    /// Marks `uid` as no longer processed; requeues it if it was added meanwhile.
    pub fn done(&self, uid: &str) {
        let mut state = self.state();
        state.processing.remove(uid);
        if state.dirty.contains(uid) {
            state.queue.push_back(uid.to_string());
            drop(state);
            self.notify.notify_one();
        }
    }

    /// Resets the failure count of `uid` after a success.
    pub fn forget(&self, uid: &str) {
        self.state().failures.remove(uid);
    }

    /// Records a failure of `uid` and returns how long to wait before retrying it.
    pub fn failure_delay(&self, uid: &str) -> Duration {
        let mut state = self.state();
        let failures = state.failures.entry(uid.to_string()).or_insert(0);
        let delay = backoff(*failures);
        *failures = failures.saturating_add(1);
        delay
    }

    /// Items waiting to be taken.
    pub fn len(&self) -> usize {
        self.state().queue.len()
    }
}

/// `BASE_DELAY * 2^failures`, capped at `MAX_DELAY`.
fn backoff(failures: u32) -> Duration {
    let factor = 1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX);
    BASE_DELAY.saturating_mul(factor).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_item_added_twice_is_taken_once() {
        let queue = WorkQueue::default();
        let token = CancellationToken::new();
        queue.add("a".into());
        queue.add("a".into());
        queue.add("b".into());
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.next(&token).await.as_deref(), Some("a"));
        assert_eq!(queue.next(&token).await.as_deref(), Some("b"));
        assert_eq!(queue.len(), 0);
    }

    #[tokio::test]
    async fn an_item_added_while_processing_comes_back_after_done() {
        let queue = WorkQueue::default();
        let token = CancellationToken::new();
        queue.add("a".into());
        let taken = queue.next(&token).await;
        assert_eq!(taken.as_deref(), Some("a"));
        queue.add("a".into());
        assert_eq!(
            queue.len(),
            0,
            "an item being processed is not handed to a second worker"
        );
        queue.done("a");
        assert_eq!(queue.len(), 1, "it is queued again once its worker is done");
        assert_eq!(queue.next(&token).await.as_deref(), Some("a"));
        queue.done("a");
        assert_eq!(queue.len(), 0, "done without a re-add does not requeue");
    }

    #[tokio::test]
    async fn a_waiting_worker_wakes_on_add_and_stops_on_shutdown() {
        let queue = std::sync::Arc::new(WorkQueue::default());
        let token = CancellationToken::new();
        let waiter = {
            let queue = queue.clone();
            let token = token.clone();
            tokio::spawn(async move { queue.next(&token).await })
        };
        tokio::task::yield_now().await;
        queue.add("a".into());
        let got = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert!(
            matches!(got, Ok(Ok(Some(ref uid))) if uid == "a"),
            "worker did not wake on add: {got:?}"
        );

        let stopper = {
            let queue = queue.clone();
            let token = token.clone();
            tokio::spawn(async move { queue.next(&token).await })
        };
        token.cancel();
        let got = tokio::time::timeout(Duration::from_secs(5), stopper).await;
        assert!(
            matches!(got, Ok(Ok(None))),
            "worker did not stop on shutdown: {got:?}"
        );
    }

    #[test]
    fn failure_delays_double_and_cap() {
        let queue = WorkQueue::default();
        let delays: Vec<Duration> = (0..12).map(|_| queue.failure_delay("a")).collect();
        assert_eq!(
            delays[0],
            Duration::from_millis(500),
            "first retry waits the base delay"
        );
        assert_eq!(delays[1], Duration::from_secs(1), "second retry doubles it");
        assert_eq!(delays[11], MAX_DELAY, "delays are capped");
        queue.forget("a");
        assert_eq!(
            queue.failure_delay("a"),
            BASE_DELAY,
            "forget resets the back-off"
        );
        assert_eq!(
            backoff(u32::MAX),
            MAX_DELAY,
            "huge failure counts do not overflow"
        );
    }
}
