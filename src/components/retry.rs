//! Client retry policy: which failures are retried, how long to back off
//! (constant or exponential, with the jitter formulas of "Exponential
//! Backoff and Jitter", AWS Architecture Blog, 2015), and retry budgets that
//! cap retries as a share of traffic (ratio over a sliding window, as in the
//! Google SRE book and Finagle) or by a token bucket (the AWS SDKs' retry
//! quota).

use rand::RngExt;

use super::window::TimeWindow;
use crate::model::{Backoff, BudgetSpec, FailureCause, Jitter, RetrySpec};
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};

/// Backoff delays for one request's retries.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    spec: RetrySpec,
}

impl RetryPolicy {
    pub fn new(spec: RetrySpec) -> Self {
        RetryPolicy { spec }
    }

    pub fn spec(&self) -> &RetrySpec {
        &self.spec
    }

    /// Whether a request that has made `attempts_made` attempts and whose
    /// last one failed with `cause` may try again (budget aside).
    pub fn allows(&self, attempts_made: u32, cause: FailureCause) -> bool {
        attempts_made < self.spec.max_attempts && self.spec.retry_on & cause.bit() != 0
    }

    /// Delay before retry number `retry` (0 for the first retry).
    /// `previous` is the delay used before the previous retry (for
    /// decorrelated jitter; pass `None` for the first retry).
    pub fn delay(&self, retry: u32, previous: Option<SimDuration>, rng: &mut SimRng) -> SimDuration {
        let base = self.spec.base.0 as f64;
        let cap = self.spec.cap.0 as f64;
        let b = match self.spec.backoff {
            Backoff::None => return SimDuration::ZERO,
            Backoff::Constant => base,
            Backoff::Exponential => (base * 2f64.powi(retry.min(62) as i32)).min(cap),
        };
        let u: f64 = rng.random();
        let ns = match self.spec.jitter {
            Jitter::None => b,
            Jitter::Full => u * b,
            Jitter::Equal => b / 2.0 + u * b / 2.0,
            Jitter::Decorrelated => {
                // sleep = min(cap, random_between(base, previous * 3)), previous starting at base.
                let prev = previous.map_or(base, |d| d.0 as f64);
                let hi = (prev * 3.0).max(base);
                (base + u * (hi - base)).min(cap)
            }
        };
        SimDuration(ns.round() as u64)
    }
}

/// What decides a caller's retries: its policy (none: no retries), its
/// budget and the random stream of its jitter. Clients and calls between
/// services each have one.
#[derive(Debug, Clone)]
pub struct Retrier {
    policy: Option<RetryPolicy>,
    pub budget: RetryBudget,
    rng: SimRng,
}

impl Retrier {
    pub fn new(spec: Option<&RetrySpec>, rng: SimRng) -> Self {
        Retrier {
            policy: spec.cloned().map(RetryPolicy::new),
            budget: RetryBudget::new(spec.and_then(|r| r.budget.as_ref())),
            rng,
        }
    }

    /// After `attempts_made` attempts, the last failing with `cause`: the
    /// backoff before the next one, if the policy allows a retry and the
    /// budget has room now (which spends from it); `previous` is the last
    /// backoff used.
    pub fn next_delay(
        &mut self,
        now: SimTime,
        attempts_made: u32,
        previous: Option<SimDuration>,
        cause: FailureCause,
    ) -> Option<SimDuration> {
        let policy = self.policy.as_ref()?;
        if !policy.allows(attempts_made, cause) || !self.budget.try_retry(now) {
            return None;
        }
        Some(policy.delay(attempts_made - 1, previous, &mut self.rng))
    }

    /// Whether the backoffs come from a few fixed values (no backoff, or
    /// no jitter), so their timers can share the engine's FIFO lanes;
    /// jittered backoffs are all different and go to its heap.
    pub fn delays_repeat(&self) -> bool {
        self.policy.as_ref().is_some_and(|p| p.spec.backoff == Backoff::None || p.spec.jitter == Jitter::None)
    }
}

/// A retry budget's state.
#[derive(Debug, Clone)]
pub enum RetryBudget {
    Unlimited,
    /// Boxed: its window is large and most clients have no budget.
    Ratio(Box<RatioBudget>),
    TokenBucket {
        tokens: f64,
        capacity: f64,
        cost: f64,
        deposit: f64,
    },
}

impl RetryBudget {
    pub fn new(spec: Option<&BudgetSpec>) -> Self {
        match spec {
            None => RetryBudget::Unlimited,
            Some(BudgetSpec::Ratio { ratio, window, min_per_second }) => {
                RetryBudget::Ratio(Box::new(RatioBudget::new(*ratio, *window, *min_per_second)))
            }
            Some(BudgetSpec::TokenBucket { capacity, cost, deposit }) => {
                RetryBudget::TokenBucket { tokens: *capacity, capacity: *capacity, cost: *cost, deposit: *deposit }
            }
        }
    }

    /// A new request (first attempt) was sent.
    #[inline]
    pub fn on_request(&mut self, now: SimTime) {
        if let RetryBudget::Ratio(r) = self {
            r.add(now, 1, 0);
        }
    }

    /// An attempt succeeded.
    #[inline]
    pub fn on_success(&mut self) {
        if let RetryBudget::TokenBucket { tokens, capacity, deposit, .. } = self {
            *tokens = (*tokens + *deposit).min(*capacity);
        }
    }

    /// Asks to retry now; spends from the budget if allowed.
    pub fn try_retry(&mut self, now: SimTime) -> bool {
        match self {
            RetryBudget::Unlimited => true,
            RetryBudget::Ratio(r) => {
                let (requests, retries) = r.totals(now);
                let allowed = r.ratio * requests as f64 + r.min_per_window;
                if (retries as f64) < allowed {
                    r.add(now, 0, 1);
                    true
                } else {
                    false
                }
            }
            RetryBudget::TokenBucket { tokens, cost, .. } => {
                if *tokens >= *cost {
                    *tokens -= *cost;
                    true
                } else {
                    false
                }
            }
        }
    }
}

/// Requests and retries over a sliding window.
#[derive(Debug, Clone)]
pub struct RatioBudget {
    ratio: f64,
    min_per_window: f64,
    /// Counter 0: requests; counter 1: retries.
    counts: TimeWindow,
}

impl RatioBudget {
    fn new(ratio: f64, window: SimDuration, min_per_second: f64) -> Self {
        RatioBudget { ratio, min_per_window: min_per_second * window.as_secs_f64(), counts: TimeWindow::new(window) }
    }

    fn add(&mut self, now: SimTime, requests: u64, retries: u64) {
        if requests > 0 {
            self.counts.add(now, 0, requests);
        }
        if retries > 0 {
            self.counts.add(now, 1, retries);
        }
    }

    fn totals(&self, now: SimTime) -> (u64, u64) {
        let [requests, retries] = self.counts.totals(now);
        (requests, retries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{StreamKind, stream};

    fn policy(backoff: Backoff, jitter: Jitter) -> RetryPolicy {
        RetryPolicy::new(RetrySpec {
            max_attempts: 5,
            retry_on: FailureCause::Timeout.bit() | FailureCause::Reset.bit(),
            backoff,
            base: SimDuration::from_millis(100),
            cap: SimDuration::from_millis(1000),
            jitter,
            budget: None,
        })
    }

    fn draws(p: &RetryPolicy, retry: u32, previous: Option<SimDuration>, n: usize) -> Vec<f64> {
        let mut rng = stream(11, 0, StreamKind::Retry, 0);
        (0..n).map(|_| p.delay(retry, previous, &mut rng).as_millis_f64()).collect()
    }

    /// Kolmogorov–Smirnov distance between a sample and a uniform(lo, hi).
    fn ks_uniform(mut xs: Vec<f64>, lo: f64, hi: f64) -> f64 {
        xs.sort_by(f64::total_cmp);
        let n = xs.len() as f64;
        xs.iter()
            .enumerate()
            .map(|(i, x)| {
                let f = ((x - lo) / (hi - lo)).clamp(0.0, 1.0);
                (f - i as f64 / n).abs().max((f - (i + 1) as f64 / n).abs())
            })
            .fold(0.0, f64::max)
    }

    // 20,000 draws: the KS critical value at the 0.1% level is 1.95/sqrt(n) = 0.0138.
    const N: usize = 20_000;
    const KS_CRIT: f64 = 0.0138;

    #[test]
    fn no_jitter_is_the_plain_schedule() {
        let p = policy(Backoff::Exponential, Jitter::None);
        let got: Vec<f64> = (0..6).map(|r| draws(&p, r, None, 1)[0]).collect();
        assert_eq!(got, vec![100.0, 200.0, 400.0, 800.0, 1000.0, 1000.0], "doubling, capped");
        let c = policy(Backoff::Constant, Jitter::None);
        assert_eq!(draws(&c, 4, None, 1)[0], 100.0);
        let none = policy(Backoff::None, Jitter::Full);
        assert_eq!(draws(&none, 3, None, 1)[0], 0.0);
    }

    #[test]
    fn full_jitter_is_uniform_from_zero_to_the_backoff() {
        let p = policy(Backoff::Exponential, Jitter::Full);
        let xs = draws(&p, 2, None, N); // b = 400 ms
        assert!(xs.iter().all(|&x| (0.0..=400.0).contains(&x)));
        assert!(ks_uniform(xs, 0.0, 400.0) < KS_CRIT);
    }

    #[test]
    fn equal_jitter_is_uniform_over_the_upper_half() {
        let p = policy(Backoff::Exponential, Jitter::Equal);
        let xs = draws(&p, 3, None, N); // b = 800 ms
        assert!(xs.iter().all(|&x| (400.0..=800.0).contains(&x)));
        assert!(ks_uniform(xs, 400.0, 800.0) < KS_CRIT);
    }

    #[test]
    fn decorrelated_jitter_is_uniform_from_base_to_three_times_previous_capped() {
        let p = policy(Backoff::Exponential, Jitter::Decorrelated);
        // previous 200 ms: uniform(100, 600).
        let xs = draws(&p, 1, Some(SimDuration::from_millis(200)), N);
        assert!(ks_uniform(xs, 100.0, 600.0) < KS_CRIT);
        // previous 500 ms: uniform(100, 1500) capped at 1000, so P(x = 1000) = 500/1400.
        let xs = draws(&p, 1, Some(SimDuration::from_millis(500)), N);
        let at_cap = xs.iter().filter(|&&x| x == 1000.0).count() as f64 / N as f64;
        assert!((at_cap - 500.0 / 1400.0).abs() < 4.0 * (0.357 * 0.643 / N as f64).sqrt(), "{at_cap}");
        let below: Vec<f64> = xs.into_iter().filter(|&x| x < 1000.0).collect();
        assert!(ks_uniform(below, 100.0, 1000.0) < 2.0 * KS_CRIT);
        // first retry: previous = base, so uniform(100, 300).
        let xs = draws(&p, 0, None, N);
        assert!(ks_uniform(xs, 100.0, 300.0) < KS_CRIT);
    }

    #[test]
    fn only_listed_causes_are_retried_up_to_max_attempts() {
        let p = policy(Backoff::Constant, Jitter::None);
        assert!(p.allows(1, FailureCause::Timeout));
        assert!(p.allows(4, FailureCause::Reset));
        assert!(!p.allows(5, FailureCause::Reset), "5 attempts made of 5");
        assert!(!p.allows(1, FailureCause::Rejected), "not in retry_on");
    }

    #[test]
    fn ratio_budget_allows_ratio_of_requests_in_the_window() {
        let spec = BudgetSpec::Ratio { ratio: 0.1, window: SimDuration::from_secs(10), min_per_second: 0.0 };
        let mut b = RetryBudget::new(Some(&spec));
        let t = SimTime(SimDuration::from_secs(1).0);
        for _ in 0..100 {
            b.on_request(t);
        }
        let granted = (0..50).filter(|_| b.try_retry(t)).count();
        assert_eq!(granted, 10);
        // Ten seconds later the window has slid past those requests.
        let later = SimTime(SimDuration::from_secs(12).0);
        assert!(!b.try_retry(later));
        b.on_request(later);
        for _ in 0..9 {
            b.on_request(later);
        }
        assert!(b.try_retry(later));
        assert!(!b.try_retry(later));
    }

    #[test]
    fn token_bucket_spends_and_refills() {
        let spec = BudgetSpec::TokenBucket { capacity: 10.0, cost: 5.0, deposit: 1.0 };
        let mut b = RetryBudget::new(Some(&spec));
        let t = SimTime::ZERO;
        assert!(b.try_retry(t));
        assert!(b.try_retry(t));
        assert!(!b.try_retry(t), "bucket empty");
        for _ in 0..5 {
            b.on_success();
        }
        assert!(b.try_retry(t));
        for _ in 0..100 {
            b.on_success();
        }
        assert!(b.try_retry(t) && b.try_retry(t) && !b.try_retry(t), "capped at capacity");
    }
}
