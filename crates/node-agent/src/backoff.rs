//! The kubelet's back-off arithmetic (client-go `flowcontrol.Backoff`): container restarts
//! and image pulls start at 10 s, double per failure up to 5 min, and forget their history
//! after twice the cap without a new failure.

use std::time::Duration;

/// Where a back-off starts.
pub const INITIAL: Duration = Duration::from_secs(10);
/// Where it stops doubling.
pub const MAX: Duration = Duration::from_secs(300);

/// One key's back-off state, in simulated time measured from an arbitrary origin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backoff {
    entry: Option<Entry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    backoff: Duration,
    last_update: Duration,
}

impl Backoff {
    /// Records a failure that happened at `event`, acted on at `now` (client-go's
    /// `Next(id, eventTime)`): the first, or the first whose event comes more than 2×cap
    /// after the last update, starts at [`INITIAL`]; later ones double up to [`MAX`].
    /// The update is stamped `now`, so a container that ran 10 quiet minutes since its last
    /// restart starts over at 10 s.
    pub fn next(&mut self, event: Duration, now: Duration) {
        let backoff = match self.entry {
            Some(e) if !expired(event, e.last_update) => (e.backoff * 2).min(MAX),
            _ => INITIAL,
        };
        self.entry = Some(Entry {
            backoff,
            last_update: now,
        });
    }

    /// Whether an event at `event` (e.g. the container's finish time) is still inside the
    /// back-off window at `now`.
    pub fn in_backoff_since(&self, event: Duration, now: Duration) -> bool {
        match self.entry {
            Some(e) if !expired(event, e.last_update) => now.saturating_sub(event) < e.backoff,
            _ => false,
        }
    }

    /// The current back-off duration (zero before any failure).
    pub fn current(&self) -> Duration {
        self.entry.map_or(Duration::ZERO, |e| e.backoff)
    }

    /// When the window opened by `event` closes.
    pub fn until(&self, event: Duration) -> Duration {
        event + self.current()
    }
}

fn expired(now: Duration, last_update: Duration) -> bool {
    now.saturating_sub(last_update) > MAX * 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn doubles_from_ten_seconds_to_five_minutes() {
        let mut b = Backoff::default();
        let mut seen = Vec::new();
        for i in 0..8 {
            b.next(s(i), s(i));
            seen.push(b.current().as_secs());
        }
        assert_eq!(seen, vec![10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn resets_after_ten_quiet_minutes() {
        let mut b = Backoff::default();
        for i in 0..4 {
            b.next(s(i), s(i));
        }
        assert_eq!(b.current(), s(80));
        // Restarted at 3 s, crashed again after 10 min 1 s of running.
        b.next(s(3 + 601), s(3 + 610));
        assert_eq!(b.current(), INITIAL);
    }

    #[test]
    fn window_is_measured_from_the_event() {
        let cases = [
            ("no failure yet", None, 0, 5, false),
            ("inside", Some(100), 100, 105, true),
            ("closed", Some(100), 100, 111, false),
            ("stale entry", Some(0), 700, 701, false),
        ];
        for (name, failed_at, event, now, want) in cases {
            let mut b = Backoff::default();
            if let Some(t) = failed_at {
                b.next(s(t), s(t));
            }
            assert_eq!(b.in_backoff_since(s(event), s(now)), want, "{name}");
        }
    }
}
