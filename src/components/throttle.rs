//! Client-side adaptive throttling from the Google SRE book ("Handling
//! Overload"): each client counts, over a sliding window, the attempts it
//! wanted to send (requests) and those the backend accepted (accepts), and
//! rejects a new attempt locally with probability
//! max(0, (requests − k·accepts) / (requests + 1)). With k = 2 the client
//! keeps sending up to twice what the backend accepts.

use rand::RngExt;

use super::window::TimeWindow;
use crate::model::ThrottleSpec;
use crate::rng::SimRng;
use crate::time::SimTime;

#[derive(Debug, Clone)]
pub struct Throttle {
    k: f64,
    /// Counter 0: requests; counter 1: accepts.
    counts: TimeWindow,
}

impl Throttle {
    pub fn new(spec: &ThrottleSpec) -> Self {
        Throttle { k: spec.k, counts: TimeWindow::new(spec.window) }
    }

    /// The probability of rejecting an attempt now.
    pub fn rejection_probability(&self, now: SimTime) -> f64 {
        let [requests, accepts] = self.counts.totals(now);
        ((requests as f64 - self.k * accepts as f64) / (requests as f64 + 1.0)).max(0.0)
    }

    /// The client wants to send an attempt: counts it, and says whether to
    /// reject it locally instead.
    pub fn reject(&mut self, now: SimTime, rng: &mut SimRng) -> bool {
        let p = self.rejection_probability(now);
        self.counts.add(now, 0, 1);
        p > 0.0 && rng.random::<f64>() < p
    }

    /// The backend accepted (answered successfully) an attempt.
    pub fn accepted(&mut self, now: SimTime) {
        self.counts.add(now, 1, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{StreamKind, stream};
    use crate::time::SimDuration;

    #[test]
    fn rejects_nothing_while_the_backend_accepts() {
        let spec = ThrottleSpec { k: 2.0, window: SimDuration::from_secs(120) };
        let mut t = Throttle::new(&spec);
        let mut rng = stream(1, 0, StreamKind::Retry, 9);
        let now = SimTime(SimDuration::from_secs(5).0);
        for _ in 0..1000 {
            assert!(!t.reject(now, &mut rng));
            t.accepted(now);
        }
    }

    #[test]
    fn follows_the_sre_formula_when_the_backend_refuses() {
        let spec = ThrottleSpec { k: 2.0, window: SimDuration::from_secs(120) };
        let mut t = Throttle::new(&spec);
        let now = SimTime(SimDuration::from_secs(5).0);
        // 100 requests, 10 accepted: p = (100 - 20) / 101.
        for i in 0..100 {
            t.counts.add(now, 0, 1);
            if i < 10 {
                t.accepted(now);
            }
        }
        assert!((t.rejection_probability(now) - 80.0 / 101.0).abs() < 1e-12);
        // The empirical rejection rate matches p (binomial, 4 sd).
        let mut rng = stream(1, 0, StreamKind::Retry, 9);
        let p = t.rejection_probability(now);
        let n = 20_000;
        let mut rejected = 0;
        for _ in 0..n {
            let mut probe = t.clone();
            rejected += probe.reject(now, &mut rng) as u32;
        }
        let rate = rejected as f64 / n as f64;
        assert!((rate - p).abs() < 4.0 * (p * (1.0 - p) / n as f64).sqrt(), "{rate} vs {p}");
    }
}
