//! The simulation's one clock.
//!
//! Timestamps written into objects are always wall-clock time, so `kubectl get` ages and
//! event times read correctly. What the clock scales is *simulated durations*: back-offs,
//! probe periods, heartbeats, grace periods, image pulls, a container's "sleep 30". At speed
//! N every simulated duration takes 1/N of its real time, so `skiff up --speed 10` shows a
//! five-minute CrashLoopBackOff cap after thirty real seconds. Components sleep with
//! [`Clock::real`] of the simulated duration and measure elapsed simulated time with
//! [`Clock::elapsed_since`].

use std::time::Duration;

/// A clock with a speed factor. Cheap to copy; every component gets the same one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clock {
    speed: f64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::REAL_TIME
    }
}

impl Clock {
    /// Simulated time runs at the speed of real time.
    pub const REAL_TIME: Clock = Clock { speed: 1.0 };

    /// A clock running `speed` times faster than real time. Speeds that are not finite and
    /// positive are refused.
    pub fn with_speed(speed: f64) -> Result<Clock, String> {
        if speed.is_finite() && speed > 0.0 {
            Ok(Clock { speed })
        } else {
            Err(format!("speed must be a positive number, not {speed}"))
        }
    }

    /// The speed factor.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// The current wall-clock time, for timestamps written into objects.
    pub fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }

    /// How long to really wait for `simulated` to pass.
    pub fn real(&self, simulated: Duration) -> Duration {
        simulated.div_f64(self.speed)
    }

    /// How much simulated time `real` wall-clock time is worth.
    pub fn simulated(&self, real: Duration) -> Duration {
        real.mul_f64(self.speed)
    }

    /// Simulated time elapsed since the wall-clock timestamp `then` (zero if `then` is in
    /// the future).
    pub fn elapsed_since(&self, then: jiff::Timestamp) -> Duration {
        let real = self.now().duration_since(then);
        if real.is_negative() {
            return Duration::ZERO;
        }
        self.simulated(Duration::try_from(real).unwrap_or(Duration::ZERO))
    }

    /// The wall-clock time at which `simulated` will have passed from `from`.
    pub fn after(&self, from: jiff::Timestamp, simulated: Duration) -> jiff::Timestamp {
        let real = self.real(simulated);
        from.checked_add(jiff::SignedDuration::try_from(real).unwrap_or(jiff::SignedDuration::MAX))
            .unwrap_or(jiff::Timestamp::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_scales_durations_both_ways() {
        let c = Clock::with_speed(10.0).unwrap();
        assert_eq!(c.real(Duration::from_secs(300)), Duration::from_secs(30));
        assert_eq!(c.simulated(Duration::from_secs(3)), Duration::from_secs(30));
        assert_eq!(
            Clock::REAL_TIME.real(Duration::from_secs(7)),
            Duration::from_secs(7)
        );
    }

    #[test]
    fn bad_speeds_are_refused() {
        for s in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Clock::with_speed(s).is_err(), "{s}");
        }
    }

    #[test]
    fn elapsed_since_is_scaled_and_never_negative() {
        let c = Clock::with_speed(60.0).unwrap();
        let past = c.now() - jiff::SignedDuration::from_secs(2);
        let e = c.elapsed_since(past);
        assert!(e >= Duration::from_secs(120), "{e:?}");
        let future = c.now() + jiff::SignedDuration::from_secs(60);
        assert_eq!(c.elapsed_since(future), Duration::ZERO);
        let at = c.after(past, Duration::from_secs(60));
        assert_eq!(at, past + jiff::SignedDuration::from_secs(1));
    }
}
