//! The state at t = 0 from `[initial]`: nodes down or restarting (crashed
//! through the fleet's usual path, so they restart by the usual rules), a
//! database failing over, caches filled to a level, and requests already
//! queued with their age. Applied once, before the first event; a scenario
//! without `[initial]` never comes here.

use rand::SeedableRng;

use super::calls::NO_CLASS;
use super::slab::NO_SLOT;
use super::{Event, Owner, Request, World};
use crate::components::distribution::DurationSampler;
use crate::model::initial::keys_for_hit_ratio;
use crate::model::{CacheSpec, CacheStart, FailoverPhase, FailureCause, InitialFailover, InitialService, Scenario};
use crate::rng::{SimRng, StreamKind, stream_seed};
use crate::time::{SimDuration, SimTime};

/// How many of its most popular keys the cache of service `service`
/// holds at t = 0: `[initial]`'s `cache` or `cache_hit_ratio`, else its
/// own `start` (warm: as many as it holds).
pub(super) fn cache_keys_filled(scenario: &Scenario, service: usize, spec: &CacheSpec) -> u32 {
    let start = scenario.initial.services.iter().find(|i| i.service == service).and_then(|i| i.cache);
    match start {
        None if spec.warm => spec.capacity,
        None | Some(CacheStart::Cold) => 0,
        Some(CacheStart::Warm) => spec.capacity,
        Some(CacheStart::HitRatio(h)) => keys_for_hit_ratio(spec.keys, spec.zipf, spec.capacity, h).0,
    }
}

impl World<'_> {
    /// Sets up `[initial]`: node states first, so the backlog goes only to
    /// nodes that are up.
    pub(super) fn apply_initial_state(&mut self, run_index: u64) {
        let now = SimTime::ZERO;
        let scenario = self.scenario;
        for init in &scenario.initial.services {
            let s = init.service;
            let first = self.services[s].first_node;
            if let Some(start) = init.cache {
                let detail = match start {
                    CacheStart::Cold => "cache starts cold (empty)".to_string(),
                    CacheStart::Warm => "cache starts warm (full)".to_string(),
                    CacheStart::HitRatio(h) => format!("cache starts filled to a hit ratio of {h}"),
                };
                self.log_service(now, s, "initial-cache", detail);
            }
            if let Some(failover) = init.failover {
                self.initial_failover(s, failover);
            }
            for &n in &init.down {
                let node = first + n as usize;
                self.crash(now, node, "initial state: down");
                self.schedule_restart(now, node);
                self.seen_down_by_health_checks(node);
            }
            for &n in &init.restarting {
                let node = first + n as usize;
                self.crash(now, node, "initial state: restarting");
                // Out of rotation until up, as a node stopped for a predictive restart.
                self.extra[node].restarting = true;
                self.refresh_membership(now, s);
                self.seen_down_by_health_checks(node);
                let incarnation = self.nodes[node].incarnation();
                self.log(now, node, "restart-scheduled", format!("initial state: up in {}", init.restart_in));
                self.engine.schedule_at(now + init.restart_in, Event::Restart { node: node as u32, incarnation });
            }
        }
        // One stream for every backlog's ages, used only here.
        let seed = stream_seed(scenario.simulation.seed, run_index, StreamKind::Initial, 0);
        let mut ages = SimRng::seed_from_u64(seed);
        for init in scenario.initial.services.iter().filter(|i| i.backlog > 0) {
            self.queue_backlog(init, &mut ages);
        }
    }

    /// A node down since before t = 0: balancers that health-check it have
    /// seen it fail already, and readmit it only after passing checks.
    fn seen_down_by_health_checks(&mut self, node: usize) {
        let (service, local) = (self.extra[node].service, self.extra[node].local as usize);
        for b in 0..self.balancers.len() {
            let bs = &mut self.balancers[b];
            if bs.service == service && bs.health_check.is_some() {
                bs.health[local] = crate::components::health::HealthState::unproven();
                self.refresh_candidates(SimTime::ZERO, b);
            }
        }
    }

    /// The primary failed before t = 0 and the failover has `remaining`
    /// left of its current phase; the failed primary restarts by the
    /// service's restart rule.
    fn initial_failover(&mut self, service: usize, f: InitialFailover) {
        let now = SimTime::ZERO;
        let db = self.services[service].db.as_mut().expect("validated: a database");
        let (detection, promotion) = db.failover_times();
        let ago = match f.phase {
            FailoverPhase::Detecting => SimDuration(detection.0 - f.remaining.0),
            FailoverPhase::Promoting => SimDuration(detection.0 + promotion.0 - f.remaining.0),
        };
        db.failing_over_since(ago);
        let primary = db.primary;
        // Failing over already, so the crash does not start another failover.
        self.crash(now, primary, &format!("initial state: primary failed {ago} before t = 0"));
        self.schedule_restart(now, primary);
        self.log(
            now,
            primary,
            "primary-lost",
            format!("initial state: failover {}, {} left", f.phase.name(), f.remaining),
        );
        let event = match f.phase {
            FailoverPhase::Detecting => Event::FailoverStart { service: service as u32 },
            FailoverPhase::Promoting => Event::FailoverDone { service: service as u32 },
        };
        self.engine.schedule_at(now + f.remaining, event);
    }

    /// Queues `init.backlog` requests of its source, each already `age`
    /// old: they count as arrivals at t = 0, go round-robin to the nodes
    /// that are up (past the balancer and the client's breaker, which saw
    /// them before t = 0), and their first attempt's timeout and the
    /// deadline are what is left of them after the age.
    fn queue_backlog(&mut self, init: &InitialService, ages: &mut SimRng) {
        let now = SimTime::ZERO;
        let (service, source) = (init.service, init.source);
        let first = self.services[service].first_node;
        let up: Vec<usize> = (first..first + self.services[service].nodes)
            .filter(|&n| self.extra[n].present && self.nodes[n].is_up())
            .collect();
        let name = self.sources[source].name.clone();
        self.log_service(
            now,
            service,
            "initial-backlog",
            format!("{} requests from {name} queued over {} nodes", init.backlog, up.len()),
        );
        let age_sampler = DurationSampler::new(&init.backlog_age);
        let (timeout, deadline) = (self.sources[source].timeout, self.sources[source].deadline);
        let left = |limit: SimDuration, age: SimDuration| SimDuration(limit.0.saturating_sub(age.0));
        for i in 0..init.backlog as usize {
            let age = age_sampler.sample(ages);
            self.recorder.arrival(now, source);
            let class = self.draw_class(source, now);
            if class != NO_CLASS {
                self.recorder.class_arrival(now, class);
            }
            let key = self.request_key(source);
            let request = self.requests.insert(Request {
                arrival: now,
                source: source as u32,
                attempts: 1,
                attempt: None,
                deadline: None,
                retry: None,
                last_backoff: None,
                class,
                key,
                age,
                live: true,
                next_free: NO_SLOT,
            });
            self.sources[source].retry.budget.on_request(now);
            if let Some(d) = deadline {
                let timer = self.engine.schedule_timer(now + left(d, age), Event::Deadline { request });
                self.requests[request].deadline = Some(timer);
            }
            let Some(&node) = up.get(i % up.len().max(1)) else {
                self.retry_or_fail(now, request, FailureCause::Reset);
                continue;
            };
            self.service_attempts[service] += 1;
            let owner = Owner::Client { request };
            let attempt = self.launch_attempt(now, node, owner, timeout.map(|t| left(t, age)), class);
            self.backlog_wait.insert(attempt, (owner, age));
        }
    }

    /// How long `attempt` had waited in its queue before t = 0 (zero but
    /// for the first attempt of a request queued in `[initial]`).
    #[inline]
    pub(super) fn waited_before_start(&self, attempt: u32) -> SimDuration {
        if self.backlog_wait.is_empty() {
            return SimDuration::ZERO;
        }
        let a = &self.attempts[attempt];
        match self.backlog_wait.get(&attempt) {
            // The slot may have been reused since; a backlog attempt was sent at t = 0.
            Some(&(owner, age)) if owner == a.owner && a.sent == SimTime::ZERO => age,
            _ => SimDuration::ZERO,
        }
    }
}
