//! Serverless pools: instances that serve one request each, created on
//! demand up to a concurrency limit at a bounded scaling rate, paying a
//! cold start when new, reclaimed after an idle timeout. The pool's service
//! has one node with a worker per possible instance and no queue; the pool
//! decides which requests get an instance (and whether it is cold), and the
//! node serves them.

use std::collections::VecDeque;

use crate::components::distribution::DurationSampler;
use crate::components::rate_limit::TokenBucket;
use crate::metrics::ServerlessSummary;
use crate::model::ServerlessSpec;
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};

#[derive(Debug, Clone, Copy, Default)]
struct PoolCounts {
    cold_starts: u64,
    warm_starts: u64,
    throttled: u64,
    reclaimed: u64,
}

pub(super) struct Pool {
    spec: ServerlessSpec,
    cold_start: DurationSampler,
    rng: SimRng,
    /// When each idle instance went idle, oldest first: requests take the
    /// most recently used (the back), the timeout reclaims from the front.
    idle: VecDeque<SimTime>,
    /// Instances alive: serving (or starting) plus idle.
    instances: u32,
    peak: u32,
    scaling: TokenBucket,
    counts: PoolCounts,
    warm: PoolCounts,
}

impl Pool {
    pub(super) fn new(spec: &ServerlessSpec, rng: SimRng) -> Self {
        let mut pool = Pool {
            spec: spec.clone(),
            cold_start: DurationSampler::new(&spec.cold_start),
            rng,
            idle: VecDeque::new(),
            instances: 0,
            peak: 0,
            scaling: TokenBucket::new(&spec.scaling),
            counts: PoolCounts::default(),
            warm: PoolCounts::default(),
        };
        pool.start(SimTime::ZERO);
        pool
    }

    /// The pool (re)starts with its provisioned instances, warm and idle.
    pub(super) fn start(&mut self, now: SimTime) {
        self.idle = std::iter::repeat_n(now, self.spec.provisioned as usize).collect();
        self.instances = self.spec.provisioned;
        self.peak = self.peak.max(self.instances);
    }

    /// Every instance is gone (the pool's node went down).
    pub(super) fn stop(&mut self) {
        self.idle.clear();
        self.instances = 0;
    }

    /// An instance for a request: `Some(cold)` with whether it is new, or
    /// `None` when the request is throttled (at the concurrency limit, or
    /// out of scaling tokens).
    pub(super) fn acquire(&mut self, now: SimTime) -> Option<bool> {
        self.reclaim(now);
        if self.idle.pop_back().is_some() {
            self.counts.warm_starts += 1;
            return Some(false);
        }
        if self.instances < self.spec.concurrency && self.scaling.try_take(now) {
            self.instances += 1;
            self.peak = self.peak.max(self.instances);
            self.counts.cold_starts += 1;
            return Some(true);
        }
        self.counts.throttled += 1;
        None
    }

    /// An instance acquired at `now` was not used after all: it is idle.
    pub(super) fn give_back(&mut self, now: SimTime) {
        self.idle.push_back(now);
    }

    /// An instance finished its request.
    pub(super) fn release(&mut self, now: SimTime) {
        self.idle.push_back(now);
    }

    /// Idle instances past the timeout are reclaimed (never below the
    /// provisioned ones).
    fn reclaim(&mut self, now: SimTime) {
        while let Some(&since) = self.idle.front() {
            if self.instances <= self.spec.provisioned || now.since(since) < self.spec.idle_timeout {
                break;
            }
            self.idle.pop_front();
            self.instances -= 1;
            self.counts.reclaimed += 1;
        }
    }

    pub(super) fn cold_start_time(&mut self) -> SimDuration {
        self.cold_start.sample(&mut self.rng)
    }

    pub(super) fn end_warmup(&mut self) {
        self.warm = self.counts;
    }

    /// (cold starts, warm starts) so far, whole run.
    pub(super) fn starts(&self) -> (u64, u64) {
        (self.counts.cold_starts, self.counts.warm_starts)
    }

    /// Mean start-up time of a new instance [s].
    pub(super) fn mean_cold_start_secs(&self) -> f64 {
        self.spec.cold_start.mean_secs()
    }

    /// Requests refused so far, whole run.
    pub(super) fn throttled(&self) -> u64 {
        self.counts.throttled
    }

    pub(super) fn summary(&self, service: &str) -> ServerlessSummary {
        let (n, w) = (self.counts, self.warm);
        ServerlessSummary {
            service: service.to_string(),
            cold_starts: n.cold_starts - w.cold_starts,
            warm_starts: n.warm_starts - w.warm_starts,
            throttled: n.throttled - w.throttled,
            reclaimed: n.reclaimed - w.reclaimed,
            peak_instances: self.peak,
            instances_at_end: self.instances,
        }
    }
}
