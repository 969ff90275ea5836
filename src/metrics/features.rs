//! Per-bin samples of the features a scenario models, for the charts that
//! tell their stories: cache hits and misses, each node's memory, a
//! database's lost and not-yet-replicated writes, a serverless pool's
//! refusals. They are taken at bin ends by the simulation layer (never per
//! request), and each is empty when the scenario lacks its feature, so the
//! output files of other scenarios do not change.

/// The samples of one run; every per-bin vector has one entry per bin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeatureBins {
    /// With look-aside caches: per bin, (hits, misses) of all caches
    /// together, by when the lookup happened.
    pub cache: Vec<(u64, u64)>,
    /// With a memory model: per bin, each node's memory [MB] at the bin's
    /// end (`None` for a node without one or not up), bins first.
    pub memory_mb: Vec<Option<f64>>,
    /// With a memory model: each node's limit [MB] (`None` without one).
    pub memory_limit_mb: Vec<Option<f64>>,
    /// With databases: per bin, (acknowledged writes lost when a primary
    /// failed in the bin, acknowledged writes not yet on a replica at the
    /// bin's end), all databases together.
    pub db: Vec<(u64, u64)>,
    /// With serverless pools: per bin, requests the pools refused at the
    /// concurrency limit or the scaling rate (they count as `rejected`).
    pub serverless_throttled: Vec<u64>,
    /// With an `errors` fault: per bin, each node's attempts answered with
    /// an injected error (not `served`), bins first.
    pub node_errors: Vec<u64>,
    pub errors_modelled: bool,
}

impl FeatureBins {
    pub fn has_cache(&self) -> bool {
        !self.cache.is_empty()
    }
    pub fn has_memory(&self) -> bool {
        !self.memory_limit_mb.is_empty()
    }
    pub fn has_db(&self) -> bool {
        !self.db.is_empty()
    }
    pub fn has_node_errors(&self) -> bool {
        self.errors_modelled
    }
    pub fn has_serverless(&self) -> bool {
        !self.serverless_throttled.is_empty()
    }
}
