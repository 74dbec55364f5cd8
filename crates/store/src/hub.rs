//! Machinery shared by the in-tree backends: the watch hub (a broadcast of committed events plus
//! history replay, lag recovery and de-duplication) and the read-revision rules.
//!
//! A backend owns one [`Hub`] and publishes every committed event to it, in revision order, with
//! no gaps. A watch subscribes first, then replays the backend's [`History`] after `from`, then
//! follows the live broadcast, skipping anything at or below the last revision it has accounted
//! for. When the broadcast overflows (`Lagged`), the watch re-reads history from that revision,
//! so a slow watcher loses nothing; if that history has been compacted it ends with `Compacted`.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::{Error, Event, Result, Revision, WatchStream};

/// How many events one history read returns at most.
pub(crate) const HISTORY_PAGE: usize = 1000;

/// Events read from a backend's history, and how far that read got.
pub(crate) struct HistoryPage {
    /// Events under the prefix, oldest first.
    pub events: Vec<Event>,
    /// Every event under the prefix at or below this revision (and after the read's start)
    /// is in `events`: the current revision when the read reached it, else the last revision
    /// the read covered.
    pub revision: Revision,
    /// The read stopped before the current revision (a full page, or the backend bounds how
    /// much of its log one read scans): more history may follow `revision`.
    pub more: bool,
}

/// A backend's event history, as a watch needs it.
#[async_trait::async_trait]
pub(crate) trait History: Send + Sync + 'static {
    /// Up to `limit` events under `prefix` with revision `> after`, oldest first.
    /// `Compacted` when `after` is older than the compacted revision.
    async fn history(&self, prefix: &str, after: Revision, limit: usize) -> Result<HistoryPage>;

    /// The store's current revision.
    async fn current_revision(&self) -> Result<Revision>;
}

/// Fan-out of committed events to every watch.
pub(crate) struct Hub {
    tx: broadcast::Sender<Arc<Event>>,
}

impl Hub {
    /// A hub whose watchers may fall `capacity` events behind before they re-read history.
    pub(crate) fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self { tx }
    }

    /// Publish one committed event. Callers publish in strictly increasing revision order.
    pub(crate) fn publish(&self, event: Arc<Event>) {
        // `send` only fails when nobody is watching, which is fine.
        let _ = self.tx.send(event);
    }

    /// A watch of `prefix` delivering every event with revision `> from` (`from <= 0`: from now).
    /// Returns `Compacted` right away when the first history read cannot be served.
    pub(crate) async fn watch(
        &self,
        history: Arc<dyn History>,
        prefix: &str,
        from: Revision,
    ) -> Result<WatchStream> {
        // Subscribe before reading anything: every event committed after the history read below
        // is then guaranteed to arrive through `rx`.
        let rx = self.tx.subscribe();
        let mut state = WatchState {
            rx,
            history,
            prefix: prefix.to_owned(),
            pending: VecDeque::new(),
            watermark: from,
            needs_history: false,
            done: false,
        };
        if from <= 0 {
            state.watermark = state.history.current_revision().await?;
        } else {
            let page = state
                .history
                .history(&state.prefix, from, HISTORY_PAGE)
                .await?;
            state.absorb(page);
        }
        let stream = futures::stream::unfold(state, |mut state| async move {
            let item = state.next().await?;
            Some((item, state))
        });
        Ok(stream.boxed())
    }
}

/// One watch's progress.
struct WatchState {
    rx: broadcast::Receiver<Arc<Event>>,
    history: Arc<dyn History>,
    prefix: String,
    /// History events read but not yet delivered.
    pending: VecDeque<Event>,
    /// Every matching event at or below this revision has been delivered or queued in `pending`.
    watermark: Revision,
    /// History after `watermark` still has to be read before following the broadcast.
    needs_history: bool,
    /// The stream has ended (after an error or when the store closed).
    done: bool,
}

impl WatchState {
    /// Queue a page of history and move the watermark past it.
    fn absorb(&mut self, page: HistoryPage) {
        if let Some(last) = page.events.last() {
            self.watermark = self.watermark.max(last.revision());
        }
        self.watermark = self.watermark.max(page.revision);
        // With more to come, read it before following the broadcast.
        self.needs_history = page.more;
        self.pending.extend(page.events);
    }

    /// The next event (or the error that ends the watch); `None` once the watch has ended.
    async fn next(&mut self) -> Option<Result<Event>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            if self.done {
                return None;
            }
            if self.needs_history {
                match self
                    .history
                    .history(&self.prefix, self.watermark, HISTORY_PAGE)
                    .await
                {
                    Ok(page) => self.absorb(page),
                    Err(error) => {
                        self.done = true;
                        return Some(Err(error));
                    }
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(event) => {
                    if event.revision() <= self.watermark {
                        continue;
                    }
                    // The broadcast carries every revision in order, so everything up to this
                    // one is now accounted for, whether or not it matches the prefix.
                    self.watermark = event.revision();
                    if event.kv.key.starts_with(&self.prefix) {
                        return Some(Ok(Event::clone(&event)));
                    }
                }
                Err(RecvError::Lagged(skipped)) => {
                    tracing::debug!(prefix = %self.prefix, skipped, "watch lagged; re-reading history");
                    self.needs_history = true;
                }
                Err(RecvError::Closed) => {
                    self.done = true;
                    return Some(Err(Error::Closed));
                }
            }
        }
    }
}

/// The revision a read at `requested` is served at, given the store's `current` and `compacted`
/// revisions: `requested <= 0` means `current` (as in etcd); older than `compacted` answers
/// `Compacted`, newer than `current` answers `FutureRevision`.
pub(crate) fn read_revision(
    requested: Revision,
    current: Revision,
    compacted: Revision,
) -> Result<Revision> {
    if requested <= 0 {
        return Ok(current);
    }
    if requested > current {
        return Err(Error::FutureRevision { requested, current });
    }
    if requested < compacted {
        return Err(Error::Compacted {
            requested,
            compacted,
        });
    }
    Ok(requested)
}

/// `Compacted` when a watch or history read after `after` needs events the store has dropped.
pub(crate) fn check_history(after: Revision, compacted: Revision) -> Result<()> {
    if after < compacted {
        return Err(Error::Compacted {
            requested: after,
            compacted,
        });
    }
    Ok(())
}
