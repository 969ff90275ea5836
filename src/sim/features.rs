//! Samples the modelled features at every bin end for the story charts
//! (see `metrics::FeatureBins`): cache hits and misses, node memory, lost
//! and unreplicated database writes, serverless refusals, each node's
//! injected error answers. Counters are read as running totals and
//! differenced per bin, so nothing is added to the per-request path (the
//! error count is kept in the branch of an injected error, taken only
//! under an `errors` fault); a scenario without these features has no gauge.

use super::World;
use crate::metrics::FeatureBins;
use crate::model::FaultKind;
use crate::time::SimTime;

/// Running totals at the last bin end, and the samples so far.
pub(super) struct FeatureGauge {
    has_cache: bool,
    has_memory: bool,
    has_db: bool,
    has_serverless: bool,
    /// (hits, misses, writes lost, throttled) at the previous bin end.
    last: (u64, u64, u64, u64),
    /// With an `errors` fault: each node's error answers, whole run, and at
    /// the previous bin end.
    pub(super) errors: Vec<u64>,
    last_errors: Vec<u64>,
    /// Bins recorded so far.
    pub(super) sampled: usize,
    pub(super) bins: FeatureBins,
}

impl World<'_> {
    /// A gauge when the scenario has any of the sampled features.
    pub(super) fn feature_gauge(&self) -> Option<Box<FeatureGauge>> {
        let has_cache = self.services.iter().any(|s| s.cache.is_some());
        let has_memory = self.scenario.services.iter().any(|s| s.memory.is_some());
        let has_db = self.services.iter().any(|s| s.db.is_some());
        let has_serverless = self.services.iter().any(|s| s.pool.is_some());
        let has_errors = self.scenario.faults.iter().any(|f| matches!(f.kind, FaultKind::Errors { .. }));
        if !(has_cache || has_memory || has_db || has_serverless || has_errors) {
            return None;
        }
        let mut bins = FeatureBins { errors_modelled: has_errors, ..FeatureBins::default() };
        let errors = if has_errors { vec![0; self.nodes.len()] } else { Vec::new() };
        if has_memory {
            bins.memory_limit_mb = self
                .extra
                .iter()
                .map(|x| self.scenario.services[x.service].memory.as_ref().map(|m| m.limit_mb))
                .collect();
        }
        Some(Box::new(FeatureGauge {
            has_cache,
            has_memory,
            has_db,
            has_serverless,
            last: (0, 0, 0, 0),
            last_errors: errors.clone(),
            errors,
            sampled: 0,
            bins,
        }))
    }

    /// Records the bin ending at `now` (called once per bin, at its end).
    pub(super) fn sample_features(&mut self, now: SimTime) {
        let Some(mut gauge) = self.features.take() else { return };
        let (mut hits, mut misses, mut lost, mut throttled) = (0, 0, 0, 0);
        let mut unreplicated = 0;
        for s in &mut self.services {
            if let Some(c) = &s.cache {
                let (h, m) = c.hits_and_misses();
                hits += h;
                misses += m;
            }
            if let Some(db) = s.db.as_mut() {
                lost += db.writes_lost();
                unreplicated += db.unreplicated_at(now);
            }
            if let Some(p) = &s.pool {
                throttled += p.throttled();
            }
        }
        let (h0, m0, l0, t0) = gauge.last;
        gauge.last = (hits, misses, lost, throttled);
        gauge.sampled += 1;
        let b = &mut gauge.bins;
        if gauge.has_cache {
            b.cache.push((hits - h0, misses - m0));
        }
        if gauge.has_db {
            b.db.push((lost - l0, unreplicated));
        }
        if gauge.has_serverless {
            b.serverless_throttled.push(throttled - t0);
        }
        if b.errors_modelled {
            b.node_errors.extend(gauge.errors.iter().zip(&gauge.last_errors).map(|(now, then)| now - then));
            gauge.last_errors.clone_from(&gauge.errors);
        }
        if gauge.has_memory {
            for node in 0..self.nodes.len() {
                let modelled = b.memory_limit_mb[node].is_some();
                b.memory_mb.push((modelled && self.nodes[node].is_up()).then(|| self.memory_mb(now, node)));
            }
        }
        self.features = Some(gauge);
    }
}
