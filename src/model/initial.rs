//! The state a scenario starts from (`[initial]`), so a postmortem can
//! replay an incident from what was observed rather than from a quiet
//! system: requests already queued (with their age), nodes down or
//! restarting, caches cold or part-filled, a database mid-failover. Empty
//! by default: a scenario without `[initial]` starts idle, as it always did.

use super::Distribution;
use crate::time::SimDuration;

/// Everything `[initial]` says, by service (databases included, as they
/// are services in the scenario's list).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InitialState {
    /// In service-index order; a service not named has no entry.
    pub services: Vec<InitialService>,
}

impl InitialState {
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }
}

/// `[initial.services.NAME]` or `[initial.databases.NAME]`.
#[derive(Debug, Clone, PartialEq)]
pub struct InitialService {
    /// Index into `Scenario::services`.
    pub service: usize,
    /// Requests already queued at t = 0, spread round-robin over the
    /// service's nodes that are up.
    pub backlog: u32,
    /// How long each queued request has waited already.
    pub backlog_age: Distribution,
    /// The traffic source the queued requests came from: its timeouts,
    /// deadline and retries apply to them.
    pub source: usize,
    /// Nodes (service-local) down at t = 0; they restart by the service's
    /// restart rule as if they had just crashed.
    pub down: Vec<u32>,
    /// Nodes (service-local) restarting at t = 0, up after `restart_in`.
    pub restarting: Vec<u32>,
    pub restart_in: SimDuration,
    /// How the service's cache starts (`None`: as its `start` says).
    pub cache: Option<CacheStart>,
    /// A database whose primary has failed and is failing over.
    pub failover: Option<InitialFailover>,
}

/// How full a cache is at t = 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CacheStart {
    Cold,
    Warm,
    /// Holds the most popular keys whose popularity adds up to this hit
    /// ratio (the expected share of lookups that hit at t = 0).
    HitRatio(f64),
}

/// A failover under way at t = 0: the phase it is in and the time that
/// phase has left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InitialFailover {
    pub phase: FailoverPhase,
    pub remaining: SimDuration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverPhase {
    /// The primary is down and not yet noticed (failover detection).
    Detecting,
    /// Detected: a replica is being promoted.
    Promoting,
}

impl FailoverPhase {
    pub fn name(self) -> &'static str {
        match self {
            FailoverPhase::Detecting => "detecting",
            FailoverPhase::Promoting => "promoting",
        }
    }
}

/// Keys (0 the most popular) a cache of `keys` keys with Zipf exponent
/// `zipf` (0: uniform) must hold for lookups to hit with probability at
/// least `hit_ratio`, and the hit ratio the first `capacity` keys give.
pub fn keys_for_hit_ratio(keys: u32, zipf: f64, capacity: u32, hit_ratio: f64) -> (u32, f64) {
    let weight = |k: u32| (k as f64 + 1.0).powf(-zipf);
    let total: f64 = (0..keys).map(weight).sum();
    let mut covered = 0.0;
    let mut needed = None;
    for k in 0..capacity.min(keys) {
        if needed.is_none() && covered / total >= hit_ratio {
            needed = Some(k);
        }
        covered += weight(k);
    }
    let reachable = covered / total;
    let needed = needed.unwrap_or(capacity.min(keys));
    (needed, reachable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_popularity_needs_the_same_share_of_keys() {
        assert_eq!(keys_for_hit_ratio(1000, 0.0, 1000, 0.6), (600, 1.0));
        let (_, reachable) = keys_for_hit_ratio(1000, 0.0, 250, 0.6);
        assert!((reachable - 0.25).abs() < 1e-12);
    }

    #[test]
    fn zipf_popularity_fills_the_head_first() {
        // Zipf(1) over 4 keys: weights 1, 1/2, 1/3, 1/4 (total 25/12).
        let (needed, _) = keys_for_hit_ratio(4, 1.0, 4, 0.7);
        assert_eq!(needed, 2, "1.5 / (25/12) = 0.72 >= 0.7");
        assert_eq!(keys_for_hit_ratio(4, 1.0, 4, 0.0).0, 0);
    }
}
