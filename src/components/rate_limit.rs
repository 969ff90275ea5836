//! A service's rate limit: a token bucket refilled at a steady rate (a
//! partner API's quota). Deterministic: no randomness, only the clock.

use crate::model::RateLimitSpec;
use crate::time::SimTime;

/// Tokens are counted in exact integers (pico-tokens: a token is 10^12)
/// and the rate in milli-tokens per second, so refills never lose a token
/// to rounding however the arrivals fall.
pub struct TokenBucket {
    /// Milli-tokens per second = pico-tokens per nanosecond.
    rate_milli: u128,
    burst: u128,
    tokens: u128,
    last: SimTime,
}

const TOKEN: u128 = 1_000_000_000_000;

impl TokenBucket {
    /// A full bucket.
    pub fn new(spec: &RateLimitSpec) -> Self {
        let burst = spec.burst as u128 * TOKEN;
        TokenBucket { rate_milli: (spec.per_sec * 1000.0).round() as u128, burst, tokens: burst, last: SimTime::ZERO }
    }

    /// Takes a token if one is left at `now`.
    pub fn try_take(&mut self, now: SimTime) -> bool {
        let elapsed = now.0.saturating_sub(self.last.0) as u128;
        self.tokens = (self.tokens + elapsed * self.rate_milli).min(self.burst);
        self.last = now;
        if self.tokens >= TOKEN {
            self.tokens -= TOKEN;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate() {
        let mut b = TokenBucket::new(&RateLimitSpec { per_sec: 10.0, burst: 5 });
        let t0 = SimTime(1_000_000_000);
        // A full bucket lets a burst of 5 through at once, then nothing.
        assert_eq!((0..8).filter(|_| b.try_take(t0)).count(), 5);
        // Over the next 10 s, 100 arrivals every 10 ms: 10 per second pass.
        let passed = (1..=1000).filter(|i| b.try_take(SimTime(t0.0 + i * 10_000_000))).count();
        assert_eq!(passed, 100);
    }
}
