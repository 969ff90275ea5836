//! The system's capacity in client requests per second (`capacity_rps`),
//! derived from the model's parameters and the current state, never from
//! what was served: the rate at which the system could serve the offered
//! mix of requests now.
//!
//! Each service can complete `rate` attempts a second: the sum over its up
//! nodes in rotation (not routed around by health checks or ejection) of
//! usable workers / mean service time (slowdown and added latency
//! included, error answers excluded); for a serverless pool the mean
//! duration includes the cold starts' share (observed since the last
//! sample). A client request brings each service `visits` attempts: the
//! sources' current traffic split (their rates now, plus bursts and
//! replayed trace arrivals averaged over the run; a disaster-recovery standby counts only
//! once traffic goes to it), the request classes' mix and the steps they
//! run, one attempt per call (retries excluded), times the share of cache
//! lookups that reach a cached callee (its fetch ratio since the last
//! sample, the run's so far when the bin had no lookup, 1 before any), and
//! one query per request to a database a service uses. The capacity is the
//! smallest rate / visits: the bottleneck for the mix.
//!
//! Mean service time is the node's own work: time a worker waits on its
//! calls is not counted, so a caller's own figure is optimistic; the
//! callee's own figure then bounds it.

use super::World;
use super::calls::NO_CLASS;
use crate::model::classes_include;

/// Calls nest at most this deep (validation rejects cycles; this only
/// bounds the walk).
const MAX_DEPTH: u32 = 32;

/// Counts at the previous sample, for per-bin ratios.
#[derive(Default)]
pub(super) struct CapacityGauge {
    /// Per service with a cache: (lookups, fetches) at the last sample.
    cache_counts: Vec<(u64, u64)>,
    /// Per serverless service: (cold, warm) starts at the last sample.
    pool_starts: Vec<(u64, u64)>,
    /// Per source: its requests at given instants (bursts, replayed
    /// arrivals) a second, averaged over the run.
    scheduled_rates: Vec<f64>,
}

impl CapacityGauge {
    pub(super) fn new(scenario: &crate::model::Scenario) -> Self {
        let services = scenario.services.len();
        let horizon = crate::time::SimTime::ZERO + scenario.simulation.duration;
        let secs = scenario.simulation.duration.as_secs_f64().max(1e-9);
        let scheduled_rates = scenario.traffic.iter().map(|t| t.scheduled_requests(horizon) / secs).collect();
        CapacityGauge { cache_counts: vec![(0, 0); services], pool_starts: vec![(0, 0); services], scheduled_rates }
    }
}

/// The share `part / whole` of the counts since the last sample, else of
/// the whole run, else `fallback`.
fn recent_share(now: (u64, u64), last: (u64, u64), fallback: f64) -> f64 {
    let (whole, part) = (now.0 - last.0, now.1 - last.1);
    if whole > 0 {
        part as f64 / whole as f64
    } else if now.0 > 0 {
        now.1 as f64 / now.0 as f64
    } else {
        fallback
    }
}

impl World<'_> {
    /// Capacity in client requests per second now (see the module doc);
    /// `rate` holds each service's attempts per second.
    pub(super) fn capacity_rps(&mut self, rate: &[f64]) -> f64 {
        let visits = self.visits_per_request();
        let mut capacity = f64::INFINITY;
        for (r, v) in rate.iter().zip(&visits) {
            if *v > 0.0 {
                capacity = capacity.min(r / v);
            }
        }
        if capacity.is_finite() { capacity } else { 0.0 }
    }

    /// Mean service time of a serverless pool's requests [s] beyond its
    /// own work: the cold starts' share times their mean duration.
    pub(super) fn cold_start_share_secs(&mut self, service: usize) -> f64 {
        let Some(pool) = self.services[service].pool.as_ref() else { return 0.0 };
        let (cold, warm) = pool.starts();
        let now = (cold + warm, cold);
        let last = std::mem::replace(&mut self.capacity.pool_starts[service], now);
        recent_share(now, last, 0.0) * pool.mean_cold_start_secs()
    }

    /// Attempts (first tries) each service receives per client request.
    fn visits_per_request(&mut self) -> Vec<f64> {
        let services = self.services.len();
        // Per service: share of lookups that reach it (1 without a cache).
        let mut reach = vec![1.0; services];
        for (s, reach) in reach.iter_mut().enumerate() {
            if let Some(cache) = self.services[s].cache.as_ref() {
                let now = cache.lookups_and_fetches();
                let last = std::mem::replace(&mut self.capacity.cache_counts[s], now);
                *reach = recent_share(now, last, 1.0);
            }
        }
        // The sources' shares of the traffic now (just before the sample).
        let now = self.engine.now();
        let rates: Vec<f64> = (self.scenario.traffic.iter().zip(&self.capacity.scheduled_rates))
            .map(|(t, scheduled)| t.rate.before(now) + scheduled)
            .collect();
        let total: f64 = rates.iter().sum();
        let mut visits = vec![0.0; services];
        for (i, source) in self.sources.iter().enumerate() {
            let share = if total > 0.0 { rates[i] / total } else { 1.0 / rates.len() as f64 };
            let mut targets = vec![(source.balancer, 1.0)];
            if let Some((other, split)) = source.split {
                targets = vec![(source.balancer, 1.0 - split), (other, split)];
            }
            let t = &self.scenario.traffic[i];
            // A class trace's mix is the classes' rates now, while there is traffic.
            let now_mix: Vec<(u16, f64)>;
            let mut mix = &t.class_mix;
            let class_total: f64 = t.class_rates.iter().map(|(_, r)| r.before(now)).sum();
            if class_total > 0.0 {
                now_mix = t.class_rates.iter().map(|(class, r)| (*class, r.before(now) / class_total)).collect();
                mix = &now_mix;
            }
            for (balancer, part) in targets {
                let service = self.balancers[balancer].service;
                if mix.is_empty() {
                    self.visit(&mut visits, &reach, service, NO_CLASS, share * part, 0);
                }
                for &(class, p) in mix {
                    self.visit(&mut visits, &reach, service, class, share * part * p, 0);
                }
            }
        }
        visits
    }

    /// Adds `amount` attempts of class `class` at `service`, and what its
    /// steps and database query bring the services below it.
    fn visit(&self, visits: &mut [f64], reach: &[f64], service: usize, class: u16, amount: f64, depth: u32) {
        visits[service] += amount;
        if depth >= MAX_DEPTH || amount == 0.0 {
            return;
        }
        let spec = &self.scenario.services[service];
        for step in &spec.calls {
            if classes_include(step.classes, (class != NO_CLASS).then_some(class as usize)) {
                for call in &step.calls {
                    self.visit(visits, reach, call.service, class, amount * reach[call.service], depth + 1);
                }
            }
        }
        if let Some(db) = &spec.uses_database {
            self.visit(visits, reach, db.database, class, amount, depth + 1);
        }
    }
}
