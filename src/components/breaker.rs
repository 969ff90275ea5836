//! A circuit breaker with resilience4j's semantics (count-based sliding
//! window):
//! - CLOSED: attempts pass; the outcomes of the last `window` attempts are
//!   kept; once at least `minimum_calls` are recorded and the failure rate
//!   reaches `failure_rate_threshold`, the breaker OPENS.
//! - OPEN: attempts are refused at once for `open_duration`; the next
//!   attempt after that moves the breaker to HALF_OPEN.
//! - HALF_OPEN: `half_open_calls` trial attempts pass (more are refused);
//!   when all their outcomes are in, a failure rate at or above the
//!   threshold OPENS the breaker again, else it CLOSES with a fresh window.

use std::collections::VecDeque;

use crate::model::BreakerSpec;
use crate::time::SimTime;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BreakerState {
    Closed,
    Open { until: SimTime },
    HalfOpen { permitted: u32, calls: u32, failures: u32 },
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

#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    spec: BreakerSpec,
    state: BreakerState,
    /// Outcomes in CLOSED state, newest last; true = failed.
    outcomes: VecDeque<bool>,
    failures: u32,
}

impl CircuitBreaker {
    pub fn new(spec: BreakerSpec) -> Self {
        let capacity = spec.window as usize;
        CircuitBreaker { spec, state: BreakerState::Closed, outcomes: VecDeque::with_capacity(capacity), failures: 0 }
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
                self.state = BreakerState::HalfOpen { permitted: 1, calls: 0, failures: 0 };
                (true, Some(self.state))
            }
            BreakerState::HalfOpen { permitted, calls, failures } => {
                if permitted < self.spec.half_open_calls {
                    self.state = BreakerState::HalfOpen { permitted: permitted + 1, calls, failures };
                    (true, None)
                } else {
                    (false, None)
                }
            }
        }
    }

    /// Records the outcome of a permitted attempt. Returns the new state if
    /// it changed.
    pub fn on_result(&mut self, now: SimTime, failed: bool) -> Option<BreakerState> {
        let threshold = self.spec.failure_rate_threshold;
        match self.state {
            BreakerState::Closed => {
                if self.outcomes.len() == self.spec.window as usize
                    && let Some(old) = self.outcomes.pop_front()
                {
                    self.failures -= old as u32;
                }
                self.outcomes.push_back(failed);
                self.failures += failed as u32;
                let calls = self.outcomes.len() as u32;
                if calls >= self.spec.minimum_calls && self.failures as f64 >= threshold * calls as f64 {
                    self.open(now);
                    return Some(self.state);
                }
                None
            }
            // Late outcomes of attempts sent before the breaker opened.
            BreakerState::Open { .. } => None,
            BreakerState::HalfOpen { permitted, calls, failures } => {
                let (calls, failures) = (calls + 1, failures + failed as u32);
                if calls < self.spec.half_open_calls {
                    self.state = BreakerState::HalfOpen { permitted, calls, failures };
                    return None;
                }
                if failures as f64 >= threshold * calls as f64 {
                    self.open(now);
                } else {
                    self.state = BreakerState::Closed;
                    self.outcomes.clear();
                    self.failures = 0;
                }
                Some(self.state)
            }
        }
    }

    fn open(&mut self, now: SimTime) {
        self.state = BreakerState::Open { until: now + self.spec.open_duration };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;

    fn spec() -> BreakerSpec {
        BreakerSpec {
            failure_rate_threshold: 0.5,
            window: 10,
            minimum_calls: 5,
            open_duration: SimDuration::from_secs(60),
            half_open_calls: 3,
        }
    }

    fn t(s: u64) -> SimTime {
        SimTime(s * 1_000_000_000)
    }

    #[test]
    fn stays_closed_below_minimum_calls_even_if_all_fail() {
        let mut b = CircuitBreaker::new(spec());
        for _ in 0..4 {
            assert!(b.try_acquire(t(0)).0);
            assert_eq!(b.on_result(t(0), true), None);
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn closed_to_open_at_the_failure_rate_threshold() {
        let mut b = CircuitBreaker::new(spec());
        // 3 successes, then failures: opens when failures/calls >= 50% with >= 5 calls.
        for _ in 0..3 {
            b.on_result(t(0), false);
        }
        assert_eq!(b.on_result(t(0), true), None); // 1/4
        assert_eq!(b.on_result(t(0), true), None); // 2/5 = 40%
        assert_eq!(b.on_result(t(1), true), Some(BreakerState::Open { until: t(61) })); // 3/6
    }

    #[test]
    fn the_window_forgets_old_outcomes() {
        let mut b = CircuitBreaker::new(spec());
        for _ in 0..2 {
            b.on_result(t(0), true);
        }
        for _ in 0..10 {
            assert_eq!(b.on_result(t(0), false), None);
        }
        // The two failures have left the 10-call window; 4 new ones are 40%
        // (with the old two still counted, the third new one would open it).
        for _ in 0..4 {
            assert_eq!(b.on_result(t(0), true), None);
        }
        assert_eq!(b.on_result(t(0), true), Some(BreakerState::Open { until: t(60) }));
    }

    #[test]
    fn open_refuses_until_the_wait_is_over_then_half_opens() {
        let mut b = CircuitBreaker::new(spec());
        for _ in 0..5 {
            b.on_result(t(0), true);
        }
        assert_eq!(b.try_acquire(t(30)), (false, None));
        assert_eq!(b.on_result(t(30), false), None, "late outcomes are ignored while open");
        let (ok, change) = b.try_acquire(t(60));
        assert!(ok);
        assert_eq!(change, Some(BreakerState::HalfOpen { permitted: 1, calls: 0, failures: 0 }));
        assert!(b.try_acquire(t(60)).0 && b.try_acquire(t(60)).0, "three trial calls in all");
        assert_eq!(b.try_acquire(t(60)), (false, None), "a fourth is refused");
    }

    #[test]
    fn half_open_closes_on_successful_trials() {
        let mut b = CircuitBreaker::new(spec());
        for _ in 0..5 {
            b.on_result(t(0), true);
        }
        for _ in 0..3 {
            b.try_acquire(t(61));
        }
        assert_eq!(b.on_result(t(61), false), None);
        assert_eq!(b.on_result(t(61), true), None);
        assert_eq!(b.on_result(t(62), false), Some(BreakerState::Closed), "1 of 3 failed: 33% < 50%");
        for _ in 0..4 {
            assert_eq!(b.on_result(t(62), true), None, "a fresh window needs minimum calls again");
        }
    }

    #[test]
    fn half_open_reopens_on_failing_trials() {
        let mut b = CircuitBreaker::new(spec());
        for _ in 0..5 {
            b.on_result(t(0), true);
        }
        for _ in 0..3 {
            b.try_acquire(t(61));
        }
        b.on_result(t(61), true);
        b.on_result(t(61), false);
        assert_eq!(b.on_result(t(62), true), Some(BreakerState::Open { until: t(122) }), "2 of 3 failed");
    }
}
