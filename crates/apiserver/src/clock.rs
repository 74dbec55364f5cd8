//! The API server's one source of wall-clock time (creation and deletion timestamps, ages),
//! kept in one place so the simulation clock can replace it.

/// The current time.
pub fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}
