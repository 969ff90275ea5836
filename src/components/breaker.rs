//! A circuit breaker with resilience4j's semantics (`CircuitBreakerConfig`):
//! - CLOSED: attempts pass; their outcomes go into a sliding window, either
//!   the last `window` calls (count-based) or the calls of the last `window`
//!   seconds (time-based, aggregated in 1 s buckets as resilience4j's
//!   `SlidingTimeWindowMetrics` does). Once at least `minimum_calls` are in
//!   the window and the failure rate reaches `failure_rate_threshold`, or the
//!   slow-call rate reaches `slow_call_rate_threshold`, the breaker OPENS.
//!   A call slower than `slow_call_duration` is slow; a slow success counts
//!   as slow only, a slow failure as both slow and failed.
//! - OPEN: attempts are refused at once for `open_duration`; the next
//!   attempt after that moves the breaker to HALF_OPEN (resilience4j with
//!   `automaticTransitionFromOpenToHalfOpenEnabled = false`).
//! - HALF_OPEN: `half_open_calls` trial attempts pass (more are refused,
//!   with no time limit: `maxWaitDurationInHalfOpenState = 0`); when all
//!   their outcomes are in, a failure or slow-call rate at or above its
//!   threshold OPENS the breaker again, else it CLOSES with a fresh window.

use std::collections::VecDeque;

use crate::model::{BreakerSpec, BreakerWindow};
use crate::time::{SimDuration, SimTime};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BreakerState {
    Closed,
    Open { until: SimTime },
    HalfOpen { permitted: u32, calls: u32, failures: u32, slow: u32 },
}

impl BreakerState {
    pub fn name(&self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open { .. } => "open",
            BreakerState::HalfOpen { .. } => "half-open",
        }
    }
}

/// Calls, failed calls and slow calls: a window's totals or one bucket's.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Tally {
    calls: u32,
    failures: u32,
    slow: u32,
}

impl Tally {
    fn add(&mut self, failed: bool, slow: bool) {
        self.calls += 1;
        self.failures += failed as u32;
        self.slow += slow as u32;
    }

    fn remove(&mut self, other: Tally) {
        self.calls -= other.calls;
        self.failures -= other.failures;
        self.slow -= other.slow;
    }
}

/// The CLOSED state's sliding window.
#[derive(Debug, Clone)]
enum Window {
    /// The last `size` outcomes, newest last: (failed, slow).
    Count { size: usize, outcomes: VecDeque<(bool, bool)> },
    /// One bucket per second of the last `buckets.len()` seconds, as an
    /// epoch ring: the bucket of second `s` is `buckets[s % len]`, valid
    /// while its `second` is `s`. `latest` is the newest second recorded.
    Time { buckets: Vec<(u64, Tally)>, latest: u64 },
}

#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    spec: BreakerSpec,
    state: BreakerState,
    window: Window,
    /// What the window holds.
    total: Tally,
}

impl CircuitBreaker {
    pub fn new(spec: BreakerSpec) -> Self {
        let window = match spec.window_type {
            BreakerWindow::Count => {
                let size = spec.window as usize;
                Window::Count { size, outcomes: VecDeque::with_capacity(size) }
            }
            BreakerWindow::Time => {
                Window::Time { buckets: vec![(0, Tally::default()); spec.window as usize], latest: 0 }
            }
        };
        CircuitBreaker { spec, state: BreakerState::Closed, window, total: Tally::default() }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Asks to send an attempt now. Returns (permitted, new state if it changed).
    pub fn try_acquire(&mut self, now: SimTime) -> (bool, Option<BreakerState>) {
        match self.state {
            BreakerState::Closed => (true, None),
            BreakerState::Open { until } if now < until => (false, None),
            BreakerState::Open { .. } => {
                self.state = BreakerState::HalfOpen { permitted: 1, calls: 0, failures: 0, slow: 0 };
                (true, Some(self.state))
            }
            BreakerState::HalfOpen { permitted, calls, failures, slow } => {
                if permitted < self.spec.half_open_calls {
                    self.state = BreakerState::HalfOpen { permitted: permitted + 1, calls, failures, slow };
                    (true, None)
                } else {
                    (false, None)
                }
            }
        }
    }

    /// Records the outcome of a permitted attempt that took `took`.
    /// Returns the new state if it changed.
    pub fn on_result(&mut self, now: SimTime, failed: bool, took: SimDuration) -> Option<BreakerState> {
        // resilience4j: slow when the duration exceeds the threshold.
        let slow = took > self.spec.slow_call_duration;
        match self.state {
            BreakerState::Closed => {
                self.record(now, failed, slow);
                if self.total.calls >= self.spec.minimum_calls && self.over_a_threshold(self.total) {
                    self.open(now);
                    return Some(self.state);
                }
                None
            }
            // Late outcomes of attempts sent before the breaker opened.
            BreakerState::Open { .. } => None,
            BreakerState::HalfOpen { permitted, calls, failures, slow: slow_calls } => {
                let mut trial = Tally { calls, failures, slow: slow_calls };
                trial.add(failed, slow);
                if trial.calls < self.spec.half_open_calls {
                    self.state = BreakerState::HalfOpen {
                        permitted,
                        calls: trial.calls,
                        failures: trial.failures,
                        slow: trial.slow,
                    };
                    return None;
                }
                if self.over_a_threshold(trial) {
                    self.open(now);
                } else {
                    self.state = BreakerState::Closed;
                    self.clear_window();
                }
                Some(self.state)
            }
        }
    }

    /// The failure rate or the slow-call rate is at or above its threshold.
    fn over_a_threshold(&self, t: Tally) -> bool {
        let calls = t.calls as f64;
        t.failures as f64 >= self.spec.failure_rate_threshold * calls
            || t.slow as f64 >= self.spec.slow_call_rate_threshold * calls
    }

    /// Adds an outcome to the CLOSED window, dropping what falls out of it.
    fn record(&mut self, now: SimTime, failed: bool, slow: bool) {
        match &mut self.window {
            Window::Count { size, outcomes } => {
                if outcomes.len() == *size
                    && let Some((old_failed, old_slow)) = outcomes.pop_front()
                {
                    self.total.remove(Tally { calls: 1, failures: old_failed as u32, slow: old_slow as u32 });
                }
                outcomes.push_back((failed, slow));
            }
            Window::Time { buckets, latest } => {
                let second = now.0 / 1_000_000_000;
                let len = buckets.len() as u64;
                // Seconds since the newest bucket: their buckets (at most the
                // whole ring) now hold calls older than the window; empty them.
                let stale = second.saturating_sub(*latest).min(len);
                for s in second + 1 - stale..=second {
                    let bucket = &mut buckets[(s % len) as usize];
                    self.total.remove(bucket.1);
                    *bucket = (s, Tally::default());
                }
                *latest = (*latest).max(second);
                buckets[(second % len) as usize].1.add(failed, slow);
            }
        }
        self.total.add(failed, slow);
    }

    fn clear_window(&mut self) {
        match &mut self.window {
            Window::Count { outcomes, .. } => outcomes.clear(),
            Window::Time { buckets, .. } => buckets.iter_mut().for_each(|b| b.1 = Tally::default()),
        }
        self.total = Tally::default();
    }

    fn open(&mut self, now: SimTime) {
        self.state = BreakerState::Open { until: now + self.spec.open_duration };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> BreakerSpec {
        BreakerSpec {
            failure_rate_threshold: 0.5,
            window: 10,
            minimum_calls: 5,
            open_duration: SimDuration::from_secs(60),
            half_open_calls: 3,
            window_type: BreakerWindow::Count,
            slow_call_rate_threshold: 1.0,
            slow_call_duration: SimDuration::from_secs(60),
        }
    }

    /// A call well under the slow-call duration.
    const FAST: SimDuration = SimDuration::from_millis(10);

    fn t(s: u64) -> SimTime {
        SimTime(s * 1_000_000_000)
    }

    #[test]
    fn stays_closed_below_minimum_calls_even_if_all_fail() {
        let mut b = CircuitBreaker::new(spec());
        for _ in 0..4 {
            assert!(b.try_acquire(t(0)).0);
            assert_eq!(b.on_result(t(0), true, FAST), None);
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn closed_to_open_at_the_failure_rate_threshold() {
        let mut b = CircuitBreaker::new(spec());
        // 3 successes, then failures: opens when failures/calls >= 50% with >= 5 calls.
        for _ in 0..3 {
            b.on_result(t(0), false, FAST);
        }
        assert_eq!(b.on_result(t(0), true, FAST), None); // 1/4
        assert_eq!(b.on_result(t(0), true, FAST), None); // 2/5 = 40%
        assert_eq!(b.on_result(t(1), true, FAST), Some(BreakerState::Open { until: t(61) })); // 3/6
    }

    #[test]
    fn the_window_forgets_old_outcomes() {
        let mut b = CircuitBreaker::new(spec());
        for _ in 0..2 {
            b.on_result(t(0), true, FAST);
        }
        for _ in 0..10 {
            assert_eq!(b.on_result(t(0), false, FAST), None);
        }
        // The two failures have left the 10-call window; 4 new ones are 40%
        // (with the old two still counted, the third new one would open it).
        for _ in 0..4 {
            assert_eq!(b.on_result(t(0), true, FAST), None);
        }
        assert_eq!(b.on_result(t(0), true, FAST), Some(BreakerState::Open { until: t(60) }));
    }

    #[test]
    fn open_refuses_until_the_wait_is_over_then_half_opens() {
        let mut b = CircuitBreaker::new(spec());
        for _ in 0..5 {
            b.on_result(t(0), true, FAST);
        }
        assert_eq!(b.try_acquire(t(30)), (false, None));
        assert_eq!(b.on_result(t(30), false, FAST), None, "late outcomes are ignored while open");
        let (ok, change) = b.try_acquire(t(60));
        assert!(ok);
        assert_eq!(change, Some(BreakerState::HalfOpen { permitted: 1, calls: 0, failures: 0, slow: 0 }));
        assert!(b.try_acquire(t(60)).0 && b.try_acquire(t(60)).0, "three trial calls in all");
        assert_eq!(b.try_acquire(t(60)), (false, None), "a fourth is refused");
    }

    #[test]
    fn half_open_closes_on_successful_trials() {
        let mut b = CircuitBreaker::new(spec());
        for _ in 0..5 {
            b.on_result(t(0), true, FAST);
        }
        for _ in 0..3 {
            b.try_acquire(t(61));
        }
        assert_eq!(b.on_result(t(61), false, FAST), None);
        assert_eq!(b.on_result(t(61), true, FAST), None);
        assert_eq!(b.on_result(t(62), false, FAST), Some(BreakerState::Closed), "1 of 3 failed: 33% < 50%");
        for _ in 0..4 {
            assert_eq!(b.on_result(t(62), true, FAST), None, "a fresh window needs minimum calls again");
        }
    }

    #[test]
    fn half_open_reopens_on_failing_trials() {
        let mut b = CircuitBreaker::new(spec());
        for _ in 0..5 {
            b.on_result(t(0), true, FAST);
        }
        for _ in 0..3 {
            b.try_acquire(t(61));
        }
        b.on_result(t(61), true, FAST);
        b.on_result(t(61), false, FAST);
        assert_eq!(b.on_result(t(62), true, FAST), Some(BreakerState::Open { until: t(122) }), "2 of 3 failed");
    }

    fn time_spec() -> BreakerSpec {
        BreakerSpec { window_type: BreakerWindow::Time, window: 10, minimum_calls: 4, ..spec() }
    }

    fn at_ms(ms: u64) -> SimTime {
        SimTime(ms * 1_000_000)
    }

    #[test]
    fn the_defaults_are_resilience4js() {
        let d = BreakerSpec::resilience4j_defaults();
        assert_eq!(d.failure_rate_threshold, 0.5);
        assert_eq!(d.window_type, BreakerWindow::Count);
        assert_eq!((d.window, d.minimum_calls, d.half_open_calls), (100, 100, 10));
        assert_eq!(d.open_duration, SimDuration::from_secs(60));
        assert_eq!(d.slow_call_rate_threshold, 1.0);
        assert_eq!(d.slow_call_duration, SimDuration::from_secs(60));
        // 99 failures are below minimumNumberOfCalls; the 100th opens it.
        let mut b = CircuitBreaker::new(d);
        for _ in 0..99 {
            assert_eq!(b.on_result(t(0), true, FAST), None);
        }
        assert!(matches!(b.on_result(t(0), true, FAST), Some(BreakerState::Open { .. })));
    }

    #[test]
    fn time_based_calls_older_than_the_window_drop_out() {
        let mut b = CircuitBreaker::new(time_spec());
        // Three failures at 0 s: below the 4 minimum calls.
        for _ in 0..3 {
            assert_eq!(b.on_result(t(0), true, FAST), None);
        }
        // At 10 s the window is seconds 1..=10: the failures are gone, and a
        // success is one call of four needed.
        assert_eq!(b.on_result(t(10), false, FAST), None);
        for _ in 0..2 {
            assert_eq!(b.on_result(t(10), true, FAST), None);
        }
        // 2 failures of 3 calls: still below the minimum; a 4th call makes
        // the rate count (3/4 >= 50%). Had the 0 s failures stayed, the
        // breaker would have opened at the first call at 10 s.
        assert_eq!(b.on_result(t(10), true, FAST), Some(BreakerState::Open { until: t(70) }));
    }

    #[test]
    fn time_based_calls_inside_the_window_count() {
        let mut b = CircuitBreaker::new(time_spec());
        for second in [0, 3, 6] {
            assert_eq!(b.on_result(t(second), true, FAST), None);
        }
        // 9.999 s: the 0 s call is still in the 10 s window (seconds 0..=9).
        assert!(matches!(b.on_result(at_ms(9_999), false, FAST), Some(BreakerState::Open { .. })));
    }

    #[test]
    fn time_based_window_skips_a_long_gap() {
        let mut b = CircuitBreaker::new(time_spec());
        for _ in 0..3 {
            b.on_result(t(5), true, FAST);
        }
        // Far past every bucket: the ring is emptied at once.
        for _ in 0..3 {
            assert_eq!(b.on_result(t(1_000), false, FAST), None);
        }
        assert_eq!(b.on_result(t(1_000), false, FAST), None, "4 successes");
    }

    #[test]
    fn slow_successes_open_the_breaker_without_failures() {
        let slow = SimDuration::from_secs(2);
        let mut b = CircuitBreaker::new(BreakerSpec {
            slow_call_rate_threshold: 0.6,
            slow_call_duration: SimDuration::from_secs(1),
            ..spec()
        });
        for _ in 0..2 {
            b.on_result(t(0), false, FAST);
        }
        // Exactly the slow duration is not slow (resilience4j: greater than).
        assert_eq!(b.on_result(t(0), false, SimDuration::from_secs(1)), None);
        assert_eq!(b.on_result(t(0), false, slow), None); // 1 slow of 4
        assert_eq!(b.on_result(t(0), false, slow), None); // 2 of 5
        assert_eq!(b.on_result(t(0), false, slow), None); // 3 of 6
        assert_eq!(b.on_result(t(0), false, slow), None); // 4 of 7 = 57%
        assert_eq!(b.on_result(t(1), false, slow), Some(BreakerState::Open { until: t(61) }), "5 of 8");
    }

    #[test]
    fn a_slow_failure_counts_as_failed_and_slow() {
        let slow = SimDuration::from_secs(2);
        let slow_spec = BreakerSpec { slow_call_duration: SimDuration::from_secs(1), ..spec() };
        // Failure threshold 50%, slow 100%: 5 slow failures open on both counts.
        let mut b = CircuitBreaker::new(BreakerSpec { failure_rate_threshold: 1.0, ..slow_spec.clone() });
        for _ in 0..4 {
            assert_eq!(b.on_result(t(0), true, slow), None);
        }
        assert!(matches!(b.on_result(t(0), true, slow), Some(BreakerState::Open { .. })), "100% slow");
        let mut b = CircuitBreaker::new(slow_spec);
        for _ in 0..4 {
            assert_eq!(b.on_result(t(0), true, FAST), None);
        }
        assert!(matches!(b.on_result(t(0), false, slow), Some(BreakerState::Open { .. })), "4 of 5 failed");
    }

    #[test]
    fn half_open_reopens_on_slow_trials() {
        let slow = SimDuration::from_secs(2);
        let mut b = CircuitBreaker::new(BreakerSpec {
            slow_call_rate_threshold: 0.5,
            slow_call_duration: SimDuration::from_secs(1),
            ..spec()
        });
        for _ in 0..5 {
            b.on_result(t(0), true, FAST);
        }
        for _ in 0..3 {
            b.try_acquire(t(61));
        }
        b.on_result(t(61), false, slow);
        b.on_result(t(61), false, FAST);
        assert_eq!(b.on_result(t(62), false, slow), Some(BreakerState::Open { until: t(122) }), "2 of 3 slow");
    }
}
