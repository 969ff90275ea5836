//! The nodes: admitting and serving attempts, injected faults, crashes
//! (by fault, at random, or from sustained overload), and restarts with
//! crash-loop back-off.

use rand::RngExt;
use rand::seq::index::sample;

use super::{AttemptState, Drain, Event, FaultState, Owner, World};
use crate::components::autoscaler::PodCounts;
use crate::components::distribution::DurationSampler;
use crate::components::node::{Admission, Degradation};
use crate::model::partition::PartitionMode;
use crate::model::{AutoscaleMetric, FailureCause, FaultKind, NodeSelection};
use crate::time::{SimDuration, SimTime};

impl World<'_> {
    /// Hands `attempt` to `node`.
    #[inline(always)]
    pub(super) fn offer(&mut self, now: SimTime, node: usize, attempt: u32) {
        // A rate-limited service refuses client attempts beyond its quota
        // before any node sees them (health probes are not counted).
        // (One flag first, so scenarios without limits pay a single branch.)
        if self.rate_limited_services
            && let Some(bucket) = self.services[self.extra[node].service].rate_limit.as_mut()
            && self.attempts[attempt].owner.is_work()
            && !bucket.try_take(now)
        {
            self.node_failed_attempt(now, attempt, FailureCause::RateLimited);
            return;
        }
        if self.serverless_services && self.services[self.extra[node].service].pool.is_some() {
            self.offer_to_pool(now, node, attempt);
            return;
        }
        let fraction = self.nodes[node].degradation.error_fraction;
        if fraction > 0.0 && self.nodes[node].is_up() && self.error_rng.random::<f64>() < fraction {
            self.count_error_answer(node);
            self.node_failed_attempt(now, attempt, FailureCause::Error);
            return;
        }
        match self.nodes[node].admit(attempt, now) {
            Admission::Started => {
                self.load_changed(node);
                self.start_service(now, node, attempt);
                self.check_memory(now, node);
            }
            Admission::Queued => {
                self.load_changed(node);
                self.check_memory(now, node);
            }
            Admission::Rejected => {
                self.recorder.node_rejected(node);
                self.node_failed_attempt(now, attempt, FailureCause::Rejected);
            }
            Admission::Down => self.node_failed_attempt(now, attempt, FailureCause::Reset),
        }
    }

    /// Hands `attempt` to a serverless pool's node: it needs an instance
    /// first (warm, or cold and started now), or it is throttled.
    #[inline(never)]
    fn offer_to_pool(&mut self, now: SimTime, node: usize, attempt: u32) {
        let fraction = self.nodes[node].degradation.error_fraction;
        if fraction > 0.0 && self.nodes[node].is_up() && self.error_rng.random::<f64>() < fraction {
            self.count_error_answer(node);
            self.node_failed_attempt(now, attempt, FailureCause::Error);
            return;
        }
        if !self.nodes[node].is_up() {
            self.node_failed_attempt(now, attempt, FailureCause::Reset);
            return;
        }
        let service = self.extra[node].service;
        let pool = self.services[service].pool.as_mut().expect("a serverless service");
        let Some(cold) = pool.acquire(now) else {
            self.recorder.node_rejected(node);
            self.node_failed_attempt(now, attempt, FailureCause::Rejected);
            return;
        };
        self.attempts[attempt].cold_start = cold;
        match self.nodes[node].admit(attempt, now) {
            Admission::Started => {
                self.load_changed(node);
                self.start_service(now, node, attempt);
            }
            // Fewer usable workers than instances (a capacity fault): no room.
            _ => {
                self.services[service].pool.as_mut().expect("a serverless service").give_back(now);
                self.recorder.node_rejected(node);
                self.node_failed_attempt(now, attempt, FailureCause::Rejected);
            }
        }
    }

    // Always inlined, for the same reason as `schedule_next_arrival`.
    #[inline(always)]
    fn start_service(&mut self, now: SimTime, node: usize, attempt: u32) {
        let a = &mut self.attempts[attempt];
        if a.state == AttemptState::Queued {
            a.state = AttemptState::InService;
        }
        let owner = a.owner;
        if owner.is_client() {
            self.recorder.service_started(now, a.sent);
        }
        let mut service = match owner {
            Owner::DbCall { write: true, .. } => self.write_time(node),
            // The attempt says whether it writes: its call may be over and
            // its slot reused by the time an abandoned attempt is served.
            Owner::Call { write: true, .. } => self.write_time(node),
            _ => {
                let x = &mut self.extra[node];
                x.sampler.sample(&mut x.rng)
            }
        };
        if self.extra[node].adjusted {
            service = self.adjust_service_time(now, node, service);
            if self.attempts[attempt].cold_start {
                let service_index = self.extra[node].service;
                let pool = self.services[service_index].pool.as_mut().expect("cold starts only in pools");
                service = service + pool.cold_start_time();
            }
        }
        let incarnation = self.nodes[node].incarnation();
        self.engine.schedule_at(now + service, Event::ServiceDone { node: node as u32, attempt, incarnation });
    }

    /// Applies fault degradation and slowdown under load to a sampled
    /// service time.
    #[inline(never)]
    fn adjust_service_time(&mut self, now: SimTime, node: usize, mut service: SimDuration) -> SimDuration {
        if let Some(until) = self.extra[node].warming_until {
            if now < until {
                let slowdown = self.scenario.services[self.extra[node].service]
                    .autoscaling
                    .as_ref()
                    .map_or(1.0, |a| a.warmup_slowdown);
                service = SimDuration((service.0 as f64 * slowdown) as u64);
            } else {
                self.extra[node].warming_until = None;
                self.recompute_adjusted(node);
            }
        }
        let d = &self.nodes[node].degradation;
        if d.slowdown != 1.0 || d.extra_ns != 0 {
            service = SimDuration((service.0 as f64 * d.slowdown) as u64 + d.extra_ns);
        }
        if let Some(sd) = &self.scenario.services[self.extra[node].service].slowdown {
            // Contention: slower the more loaded the node is as the work
            // starts (a database instance counts its busy connection slots).
            let n = &self.nodes[node];
            let load = if sd.by_queue { n.queued() } else { n.busy() } as f64 / n.workers() as f64;
            service = SimDuration((service.0 as f64 * sd.factor_at(load)) as u64);
        }
        service
    }

    #[inline(always)]
    pub(super) fn on_service_done(&mut self, now: SimTime, node: usize, attempt: u32, incarnation: u32) {
        if incarnation != self.nodes[node].incarnation() {
            return; // the node crashed meanwhile; the attempt was failed then
        }
        self.recorder.served(node);
        let owner = self.attempts[attempt].owner;
        if let Owner::DbCall { .. } = owner {
            self.attempts.remove(attempt);
            self.release_worker(now, node);
            self.db_query_done(now, node, owner, true);
            return;
        }
        if self.extra[node].more_work && owner.is_work() {
            // Calls, then the database query; the worker waits for the answers.
            self.after_own_work(now, node, attempt);
            return;
        }
        self.finish_at_node(now, node, attempt);
    }

    /// A worker of `node` is done with its attempt: it takes the next one;
    /// leaks and drains are accounted for.
    #[inline(always)]
    pub(super) fn release_worker(&mut self, now: SimTime, node: usize) {
        if self.serverless_services
            && let Some(pool) = self.services[self.extra[node].service].pool.as_mut()
        {
            pool.release(now);
        }
        let next = self.nodes[node].finish(now);
        self.load_changed(node);
        self.take_next(now, node, next);
        if self.extra[node].has_memory {
            let x = &mut self.extra[node];
            x.leaked_mb += self.scenario.services[x.service].memory.as_ref().map_or(0.0, |m| m.leak_per_request_mb);
            self.check_memory(now, node);
        }
        if self.extra[node].draining.is_some() && self.nodes[node].outstanding() == 0 {
            self.finish_drain(now, node);
        }
    }

    /// The result of a health check or liveness probe.
    pub(super) fn check_result(&mut self, now: SimTime, owner: Owner, node: usize, passed: bool) {
        match owner {
            Owner::Probe { balancer } => self.probe_result(now, balancer as usize, node, passed),
            Owner::Liveness => self.liveness_result(now, node, passed),
            Owner::Client { .. } | Owner::Single { .. } | Owner::DbCall { .. } | Owner::Call { .. } => {
                unreachable!("not a check")
            }
        }
    }

    /// A worker of `node` picked `next` from the queue: serve it, unless it
    /// waited past the service's queue timeout, in which case it is shed and
    /// the worker picks again.
    #[inline(always)]
    fn take_next(&mut self, now: SimTime, node: usize, mut next: Option<u32>) {
        while let Some(id) = next {
            if let Some(limit) = self.extra[node].queue_timeout
                && now.since(self.attempts[id].sent) + self.waited_before_start(id) > limit
            {
                self.node_failed_attempt(now, id, FailureCause::Shed);
                next = self.nodes[node].finish(now);
                self.load_changed(node);
                continue;
            }
            self.start_service(now, node, id);
            return;
        }
    }

    /// A node answered an attempt with an injected error (for nodes.csv).
    #[cold]
    fn count_error_answer(&mut self, node: usize) {
        if let Some(f) = self.features.as_mut()
            && let Some(count) = f.errors.get_mut(node)
        {
            *count += 1;
        }
    }

    /// OOM kill when the node's memory reaches its limit.
    #[inline(always)]
    fn check_memory(&mut self, now: SimTime, node: usize) {
        if self.extra[node].has_memory {
            self.check_memory_limit(now, node);
        }
    }

    /// The node's memory now [MB] (0 without a memory model).
    pub(super) fn memory_mb(&self, now: SimTime, node: usize) -> f64 {
        let x = &self.extra[node];
        let Some(m) = &self.scenario.services[x.service].memory else { return 0.0 };
        m.baseline_mb
            + m.per_request_mb * self.nodes[node].outstanding() as f64
            + x.leaked_mb
            + m.leak_mb_per_s * now.since(x.up_since).as_secs_f64()
    }

    #[inline(never)]
    fn check_memory_limit(&mut self, now: SimTime, node: usize) {
        if !self.nodes[node].is_up() {
            return;
        }
        let used = self.memory_mb(now, node);
        let Some(m) = &self.scenario.services[self.extra[node].service].memory else { return };
        if used >= m.limit_mb {
            let detail = format!("oom: {used:.0} MB of {:.0} MB", m.limit_mb);
            self.crash(now, node, &detail);
            self.schedule_restart(now, node);
        }
    }

    /// The node could not serve `attempt` (error, rejection, reset); the
    /// attempt is over and freed.
    #[cold]
    #[inline(never)]
    pub(super) fn node_failed_attempt(&mut self, now: SimTime, attempt: u32, mut cause: FailureCause) {
        // The failure is an answer too: a partition may lose or reset it.
        if self.partitioned
            && let Some(mode) = self.response_cut(attempt)
        {
            match mode {
                PartitionMode::Reset => cause = FailureCause::Reset,
                PartitionMode::BlackHole => {
                    let a = self.attempts[attempt];
                    if a.db_phase {
                        self.abandon_db_phase(attempt, &a);
                        self.attempts[attempt].db_phase = false;
                    }
                    self.attempts[attempt].state = AttemptState::Lost;
                    return;
                }
            }
        }
        // Free first: what follows can crash this very node (a failed
        // liveness probe), and the crash must not find the attempt again.
        let a = self.attempts[attempt];
        self.attempts.remove(attempt);
        if a.db_phase {
            self.abandon_db_phase(attempt, &a);
        }
        match (a.state, a.owner) {
            (_, Owner::DbCall { .. }) => self.db_query_done(now, a.node as usize, a.owner, false),
            (AttemptState::Abandoned, _) => {}
            (_, Owner::Client { .. } | Owner::Single { .. }) => self.client_attempt_failed(now, &a, cause),
            (_, Owner::Call { .. }) => self.call_attempt_failed(now, &a, cause),
            (_, Owner::Probe { .. } | Owner::Liveness) => {
                if let Some(timer) = a.timeout {
                    self.engine.cancel(timer);
                }
                self.check_result(now, a.owner, a.node as usize, false);
            }
        }
    }

    /// `attempt` is gone while querying its database: its query, if in
    /// flight, no longer has anyone to answer; if it waited for a
    /// connection, it stops waiting.
    fn abandon_db_phase(&mut self, attempt: u32, a: &super::Attempt) {
        if a.db_call != super::NO_SLOT {
            if let Owner::DbCall { write, .. } = self.attempts[a.db_call].owner {
                self.attempts[a.db_call].owner = Owner::DbCall { parent: super::NO_SLOT, write };
            }
        } else {
            let waiters = &mut self.extra[a.node as usize].pool_waiters;
            if let Some(i) = waiters.iter().position(|&w| w == attempt) {
                waiters.remove(i);
            }
        }
    }

    /// The node's process dies: every attempt it holds fails with a reset.
    pub(super) fn crash(&mut self, now: SimTime, node: usize, cause: &str) {
        if !self.nodes[node].is_up() {
            return;
        }
        self.nodes[node].crash(now);
        self.load_changed(node);
        self.extra[node].hot_since = None;
        if let Some(drain) = self.extra[node].draining.take() {
            if drain == Drain::Remove {
                self.extra[node].present = false; // it was leaving anyway
            }
            let service = self.extra[node].service;
            self.refresh_membership(now, service);
        }
        self.log(now, node, "crash", cause.to_string());
        let held: Vec<u32> = (0..self.attempts.slots().len() as u32)
            .filter(|&i| {
                let a = &self.attempts[i];
                // A black-holed attempt is in the network, not at the node.
                a.live && a.node as usize == node && a.state != AttemptState::Lost
            })
            .collect();
        for attempt in held {
            if self.attempts[attempt].live {
                self.node_failed_attempt(now, attempt, FailureCause::Reset);
            }
        }
        // A restarted process opens a fresh connection pool.
        let service = self.extra[node].service;
        if let Some(u) = &self.scenario.services[service].uses_database {
            self.extra[node].pool_free = u.pool;
            self.extra[node].pool_waiters.clear();
        }
        self.reset_call_defences(node);
        if let Some(pool) = self.services[service].pool.as_mut() {
            pool.stop();
        }
        self.db_node_crashed(now, node);
        self.node_went_down(now, node);
    }

    /// Schedules the restart of a node that crashed on its own (overload):
    /// crash-loop back-off, then the start-up delay.
    pub(super) fn schedule_restart(&mut self, now: SimTime, node: usize) {
        let x = &mut self.extra[node];
        let spec = &self.scenario.services[x.service].restart;
        let backoff = x.crash_loop.on_crash(now, spec);
        let startup = DurationSampler::new(&spec.delay).sample(&mut self.restart_rng);
        let incarnation = self.nodes[node].incarnation();
        let at = now + backoff + startup;
        self.log(now, node, "restart-scheduled", format!("back-off {backoff} + start-up {startup}"));
        self.engine.schedule_at(at, Event::Restart { node: node as u32, incarnation });
    }

    pub(super) fn on_restart(&mut self, now: SimTime, node: usize, incarnation: u32) {
        let x = &self.extra[node];
        let gone = x.held_down > 0 || !x.present || x.stuck;
        if self.nodes[node].is_up() || self.nodes[node].incarnation() != incarnation || gone {
            return;
        }
        self.bring_up(now, node, "restarted");
    }

    fn bring_up(&mut self, now: SimTime, node: usize, why: &str) {
        let service = self.extra[node].service;
        if let Some(drift) = &self.scenario.services[service].config_drift {
            // The longer since the last deploy, the likelier the drifted
            // configuration keeps the process from joining.
            let d = drift.per_hour * now.since(self.services[service].last_deploy).as_secs_f64() / 3600.0;
            let p_fail = 1.0 - (-d).exp();
            if p_fail > 0.0 && self.drift_rng.random::<f64>() < p_fail {
                self.extra[node].stuck = true;
                self.extra[node].restarting = false;
                self.log(
                    now,
                    node,
                    "join-failed",
                    format!("configuration drift {d:.2}: P(fail) {:.0}%", p_fail * 100.0),
                );
                self.refresh_membership(now, service);
                return;
            }
        }
        self.nodes[node].start(now);
        if let Some(pool) = self.services[service].pool.as_mut() {
            pool.start(now);
        }
        self.extra[node].crash_loop.on_up(now);
        self.extra[node].leaked_mb = 0.0;
        self.extra[node].up_since = now;
        self.extra[node].restarting = false;
        let service = self.extra[node].service;
        self.refresh_membership(now, service);
        self.extra[node].liveness_failures = 0;
        self.extra[node].memory_samples.clear();
        let (busy, queued) = self.nodes[node].areas(now);
        self.extra[node].last_busy_area = busy;
        self.extra[node].last_queue_area = queued;
        self.log(now, node, "up", why.to_string());
        self.node_came_up(now, node);
    }

    // ---- overload watchdog

    pub(super) fn on_overload_tick(&mut self, now: SimTime, service: usize) {
        let spec = self.scenario.services[service].overload_crash.clone().expect("tick only with overload_crash");
        let capacity = self.scenario.services[service].queue_capacity;
        let first = self.services[service].first_node;
        for node in first..first + self.services[service].nodes {
            let (busy, queued) = self.nodes[node].areas(now);
            let x = &mut self.extra[node];
            let (busy_in_window, queued_in_window) = (busy - x.last_busy_area, queued - x.last_queue_area);
            x.last_busy_area = busy;
            x.last_queue_area = queued;
            let usable = self.nodes[node].usable_workers();
            if !self.nodes[node].is_up() || usable == 0 {
                x.hot_since = None;
                continue;
            }
            let window_ns = spec.window.0 as f64;
            let utilization = busy_in_window as f64 / (window_ns * usable as f64);
            let queue_hot = match (spec.queue_fill, capacity) {
                (Some(fill), Some(cap)) => queued_in_window as f64 / window_ns >= fill * cap as f64,
                _ => false,
            };
            let busy_hot = spec.utilization.filter(|&limit| utilization >= limit);
            if busy_hot.is_some() || queue_hot {
                let since = *x.hot_since.get_or_insert(SimTime(now.0 - spec.window.0));
                if now.since(since) >= spec.sustained {
                    let what = if let Some(limit) = busy_hot {
                        format!("utilization >= {:.0}%", limit * 100.0)
                    } else {
                        format!("queue >= {:.0}% full", spec.queue_fill.unwrap_or(1.0) * 100.0)
                    };
                    let detail = format!("overload: {what} for {}", now.since(since));
                    self.crash(now, node, &detail);
                    self.schedule_restart(now, node);
                }
            } else {
                x.hot_since = None;
            }
        }
        self.engine.schedule_at(now + spec.window, Event::OverloadTick { service: service as u32 });
    }

    // ---- memory monitor, predictive restarts, liveness

    /// How often memory is accounted for a service: the predictive
    /// monitor's interval, else every second when memory leaks with time.
    pub(super) fn memory_tick_interval(&self, service: usize) -> Option<SimDuration> {
        let s = &self.scenario.services[service];
        match (&s.predictive_restart, &s.memory) {
            (Some(p), _) => Some(p.interval),
            (None, Some(m)) if m.leak_mb_per_s > 0.0 => Some(SimDuration::from_secs(1)),
            _ => None,
        }
    }

    pub(super) fn on_memory_tick(&mut self, now: SimTime, service: usize) {
        let first = self.services[service].first_node;
        let predictive = self.scenario.services[service].predictive_restart.clone();
        let limit = self.scenario.services[service].memory.as_ref().map_or(f64::INFINITY, |m| m.limit_mb);
        for node in first..first + self.services[service].nodes {
            if !self.extra[node].present || !self.nodes[node].is_up() {
                continue;
            }
            self.check_memory(now, node);
            let Some(p) = &predictive else { continue };
            if !self.nodes[node].is_up() || self.extra[node].draining.is_some() {
                continue;
            }
            let (t, mb) = (now.as_secs_f64(), self.memory_mb(now, node));
            let samples = &mut self.extra[node].memory_samples;
            samples.push_back((t, mb));
            while samples.front().is_some_and(|(t0, _)| t - t0 > p.window.as_secs_f64()) {
                samples.pop_front();
            }
            // One predictive restart per service at a time (a disruption
            // budget of one), so a fleet leaking in step is not drained at once.
            let busy_restarting = (first..first + self.services[service].nodes)
                .any(|n| self.extra[n].draining.is_some() || self.extra[n].restarting);
            if let Some(seconds) = time_to_limit(&self.extra[node].memory_samples, limit)
                && seconds < p.horizon.as_secs_f64()
                && !busy_restarting
            {
                self.log(now, node, "drain", format!("predictive restart: memory limit expected in {seconds:.0}s"));
                self.start_drain(now, node, Drain::Restart);
            }
        }
        if let Some(every) = self.memory_tick_interval(service) {
            self.engine.schedule_at(now + every, Event::MemoryTick { service: service as u32 });
        }
    }

    /// Takes a node out of rotation; it finishes what it holds, then is
    /// removed or restarted.
    pub(super) fn start_drain(&mut self, now: SimTime, node: usize, why: Drain) {
        self.extra[node].draining = Some(why);
        let service = self.extra[node].service;
        self.refresh_membership(now, service);
        if self.nodes[node].outstanding() == 0 {
            self.finish_drain(now, node);
        }
    }

    /// A draining node is empty: stop it gracefully (nothing is reset).
    fn finish_drain(&mut self, now: SimTime, node: usize) {
        let Some(why) = self.extra[node].draining.take() else { return };
        self.nodes[node].crash(now); // holds nothing: a clean stop
        self.load_changed(node);
        let service = self.extra[node].service;
        match why {
            Drain::Restart => {
                self.extra[node].restarting = true;
                self.log(now, node, "stopped", "drained for a restart".to_string());
                let spec = &self.scenario.services[service].restart;
                let startup = DurationSampler::new(&spec.delay).sample(&mut self.restart_rng);
                let incarnation = self.nodes[node].incarnation();
                self.engine.schedule_at(now + startup, Event::Restart { node: node as u32, incarnation });
            }
            Drain::Remove => {
                self.extra[node].present = false;
                self.log(now, node, "removed", "scaled in".to_string());
            }
        }
        self.refresh_membership(now, service);
    }

    pub(super) fn on_liveness_tick(&mut self, now: SimTime, service: usize) {
        let spec = self.scenario.services[service].liveness.clone().expect("ticks only with liveness");
        let first = self.services[service].first_node;
        for node in first..first + self.services[service].nodes {
            if !self.extra[node].present || !self.nodes[node].is_up() {
                continue;
            }
            if spec.deep {
                self.launch_attempt(now, node, Owner::Liveness, Some(spec.timeout), super::calls::NO_CLASS);
            } else {
                self.liveness_result(now, node, true);
            }
        }
        self.engine.schedule_at(now + spec.interval, Event::LivenessTick { service: service as u32 });
    }

    fn liveness_result(&mut self, now: SimTime, node: usize, passed: bool) {
        if !self.nodes[node].is_up() {
            return;
        }
        let threshold = self.scenario.services[self.extra[node].service]
            .liveness
            .as_ref()
            .map_or(u32::MAX, |l| l.failure_threshold);
        let x = &mut self.extra[node];
        if passed {
            x.liveness_failures = 0;
            return;
        }
        x.liveness_failures += 1;
        if x.liveness_failures >= threshold {
            x.liveness_failures = 0;
            self.crash(now, node, &format!("liveness: {threshold} failed probes"));
            self.schedule_restart(now, node);
        }
    }

    // ---- operations

    /// Step `step` of a rolling restart: restart the next node, then wait.
    pub(super) fn on_rolling_step(&mut self, now: SimTime, fault: usize, step: usize) {
        let FaultKind::RollingRestart { interval } = self.scenario.faults[fault].kind else { return };
        let Some(&node) = self.faults[fault].nodes.get(step) else { return };
        let node = node as usize;
        if self.extra[node].present && self.nodes[node].is_up() && self.extra[node].draining.is_none() {
            self.log(now, node, "drain", "rolling restart".to_string());
            self.start_drain(now, node, Drain::Restart);
        }
        if step + 1 < self.faults[fault].nodes.len() {
            self.engine
                .schedule_at(now + interval, Event::RollingStep { fault: fault as u32, step: (step + 1) as u32 });
        }
    }

    // ---- autoscaling

    /// One HPA evaluation. The service's pods, grouped as the HPA does
    /// (see `components::autoscaler`): a node provisioning, warming up, or
    /// up for less than the whole evaluation window is unready (the HPA
    /// sets aside pods that are pending or whose metric window started
    /// before they became ready); a node that is down reports no metric
    /// (missing); a draining node is being deleted and not counted at all.
    pub(super) fn on_scale_tick(&mut self, now: SimTime, service: usize) {
        let spec = self.scenario.services[service].autoscaling.clone().expect("ticks only with autoscaling");
        let first = self.services[service].first_node;
        let slots = self.services[service].nodes;
        let window_start = SimTime(now.0.saturating_sub(spec.evaluation_period.0));
        let (mut current, mut ready, mut unready, mut missing) = (0u32, 0u32, 0u32, 0u32);
        let (mut busy_sum, mut held_sum, mut workers_sum) = (0u128, 0u128, 0u64);
        for node in first..first + slots {
            let (busy, queued) = self.nodes[node].areas(now);
            let up = self.nodes[node].is_up();
            let x = &mut self.extra[node];
            let (busy0, queued0) = std::mem::replace(&mut x.scale_areas, (busy, queued));
            let warming = x.warming_until.is_some_and(|t| now < t);
            let ready_now = x.present && up && !x.provisioning && !x.restarting && !warming;
            let whole_window = std::mem::replace(&mut x.scale_ready, ready_now) && x.up_since <= window_start;
            if !x.present || x.draining.is_some() {
                continue;
            }
            current += 1;
            if ready_now && whole_window {
                ready += 1;
                busy_sum += busy - busy0;
                held_sum += (busy - busy0) + (queued - queued0);
                workers_sum += self.nodes[node].usable_workers() as u64;
            } else if up || x.provisioning {
                unready += 1;
            } else {
                missing += 1;
            }
        }
        let period = spec.evaluation_period.0 as f64;
        let metric = match spec.metric {
            AutoscaleMetric::Utilization if workers_sum > 0 => busy_sum as f64 / (period * workers_sum as f64),
            AutoscaleMetric::InFlight if ready > 0 => held_sum as f64 / period / ready as f64,
            _ => 0.0,
        };
        let pods = PodCounts { current, ready, ready_metric: metric, unready, missing };
        let decision = self.services[service].autoscaler.as_mut().and_then(|a| a.evaluate(now, &pods));
        if let Some(want) = decision {
            let detail = format!(
                "from {current} to {want} nodes ({} {metric:.2} vs target {})",
                spec.metric.name(),
                spec.target
            );
            if want > current {
                self.log_service(now, service, "scale-out", detail);
                self.scale_out(now, service, want - current, &spec);
            } else {
                self.log_service(now, service, "scale-in", detail);
                self.scale_in(now, service, current - want);
            }
        }
        self.engine.schedule_at(now + spec.evaluation_period, Event::ScaleTick { service: service as u32 });
    }

    fn scale_out(&mut self, now: SimTime, service: usize, mut count: u32, spec: &crate::model::AutoscalingSpec) {
        let first = self.services[service].first_node;
        let provisioning = DurationSampler::new(&spec.provisioning);
        for node in first..first + self.services[service].nodes {
            if count == 0 {
                break;
            }
            if self.extra[node].present {
                continue;
            }
            count -= 1;
            let x = &mut self.extra[node];
            x.present = true;
            x.provisioning = true;
            let ready = now + provisioning.sample(&mut self.restart_rng);
            self.engine.schedule_at(ready, Event::Provisioned { node: node as u32 });
        }
    }

    /// Removes `count` nodes: ones still provisioning first (cancelled), then
    /// the highest-numbered running ones, drained before they go.
    fn scale_in(&mut self, now: SimTime, service: usize, mut count: u32) {
        let first = self.services[service].first_node;
        let slots: Vec<usize> = (first..first + self.services[service].nodes).rev().collect();
        for &node in &slots {
            let x = &mut self.extra[node];
            if count > 0 && x.present && x.provisioning {
                x.present = false;
                x.provisioning = false;
                count -= 1;
                self.log(now, node, "removed", "scale-in before it started".to_string());
            }
        }
        for &node in &slots {
            let x = &self.extra[node];
            if count > 0 && x.present && x.draining.is_none() && !x.provisioning {
                count -= 1;
                self.log(now, node, "drain", "scale-in".to_string());
                self.start_drain(now, node, Drain::Remove);
            }
        }
    }

    pub(super) fn on_provisioned(&mut self, now: SimTime, node: usize) {
        let x = &mut self.extra[node];
        if !x.present || !x.provisioning {
            return; // cancelled by a scale-in
        }
        x.provisioning = false;
        let mut why = "provisioned".to_string();
        if let Some(spec) = self.scenario.services[x.service].autoscaling.as_ref()
            && !spec.warmup.is_zero()
        {
            x.warming_until = Some(now + spec.warmup);
            // The timeline chart reads the warm-up from this detail.
            why = format!("provisioned; warming up for {}", spec.warmup);
        }
        self.bring_up(now, node, &why);
        self.recompute_adjusted(node);
    }

    // ---- faults

    pub(super) fn on_fault_start(&mut self, now: SimTime, fault: usize) {
        let spec = &self.scenario.faults[fault];
        if let FaultKind::Partition { .. } = spec.kind {
            if let Some(d) = spec.duration {
                self.engine.schedule_at(now + d, Event::FaultEnd { fault: fault as u32 });
            }
            self.start_partition(now, fault);
            return;
        }
        let service = &self.services[spec.service];
        let first = service.first_node as u32;
        let nodes: Vec<u32> = match (&spec.kind, &spec.nodes) {
            (FaultKind::RegionOutage { region }, _) => (0..self.nodes.len() as u32)
                .filter(|&n| self.scenario.services[self.extra[n as usize].service].region == *region)
                .collect(),
            (_, NodeSelection::All) => (first..first + service.nodes as u32).collect(),
            (_, NodeSelection::List(list)) => list.iter().map(|i| first + i).collect(),
            (_, NodeSelection::Random(k)) => {
                let mut chosen: Vec<u32> = sample(&mut self.fault_rng, service.nodes, *k as usize)
                    .into_iter()
                    .map(|i| first + i as u32)
                    .collect();
                chosen.sort_unstable();
                chosen
            }
        };
        let end = spec.duration.map_or(self.horizon, |d| now + d);
        let locals: Vec<String> = nodes.iter().map(|&n| self.extra[n as usize].local.to_string()).collect();
        let until = match (&spec.kind, spec.duration) {
            (FaultKind::RollingRestart { interval }, _) => format!("one every {interval}"),
            (FaultKind::Redeploy | FaultKind::CacheFlush, _) => String::new(),
            (_, None) => "until the end of the run".to_string(),
            (_, Some(d)) => format!("for {d}"),
        };
        let detail = match &spec.kind {
            FaultKind::RegionOutage { region } => format!("region-outage of {region} {until}"),
            FaultKind::CacheFlush => "cache-flush: every entry dropped".to_string(),
            _ => format!("{} on nodes [{}] {until}", spec.kind.name(), locals.join(", ")).trim_end().to_string(),
        };
        self.log_service(now, spec.service, "fault-start", detail);
        self.faults[fault] = FaultState { nodes: nodes.clone(), end };
        if spec.duration.is_some() {
            self.engine.schedule_at(end, Event::FaultEnd { fault: fault as u32 });
        }
        match &spec.kind {
            FaultKind::Crash | FaultKind::RegionOutage { .. } => {
                let cause = if spec.kind == FaultKind::Crash { "fault: crash" } else { "fault: region outage" };
                for &n in &nodes {
                    self.extra[n as usize].held_down += 1;
                    self.crash(now, n as usize, cause);
                }
                if let FaultKind::RegionOutage { region } = &spec.kind {
                    self.region_lost(now, &region.clone());
                }
            }
            FaultKind::RollingRestart { .. } => {
                self.engine.schedule_at(now, Event::RollingStep { fault: fault as u32, step: 0 });
            }
            FaultKind::CacheFlush => self.flush_cache(now, spec.service),
            FaultKind::Redeploy => {
                let service = spec.service;
                self.services[service].last_deploy = now;
                for n in nodes {
                    let n = n as usize;
                    if std::mem::take(&mut self.extra[n].stuck) {
                        self.bring_up(now, n, "redeployed");
                    }
                }
            }
            FaultKind::RandomCrashes { mtbf, .. } => {
                let mtbf = DurationSampler::new(mtbf);
                for &n in &nodes {
                    let at = now + mtbf.sample(&mut self.fault_rng);
                    if at < end {
                        self.engine.schedule_at(at, Event::RandomCrash { fault: fault as u32, node: n });
                    }
                }
            }
            _ => {
                for &n in &nodes {
                    self.extra[n as usize].active_faults.push(fault as u32);
                    self.apply_degradation(now, n as usize);
                }
            }
        }
    }

    pub(super) fn on_fault_end(&mut self, now: SimTime, fault: usize) {
        let spec = &self.scenario.faults[fault];
        if let FaultKind::Partition { .. } = spec.kind {
            self.end_partition(now, fault);
            return;
        }
        self.log_service(now, spec.service, "fault-end", spec.kind.name().to_string());
        let nodes = self.faults[fault].nodes.clone();
        match spec.kind {
            FaultKind::Crash | FaultKind::RegionOutage { .. } => {
                for n in nodes {
                    let x = &mut self.extra[n as usize];
                    x.held_down -= 1;
                    if x.held_down == 0 && !self.nodes[n as usize].is_up() {
                        self.bring_up(now, n as usize, "fault over");
                    }
                }
            }
            // Repairs in flight finish on their own; operations are instants.
            FaultKind::RandomCrashes { .. }
            | FaultKind::RollingRestart { .. }
            | FaultKind::Redeploy
            | FaultKind::CacheFlush => {}
            _ => {
                for n in nodes {
                    self.extra[n as usize].active_faults.retain(|&f| f as usize != fault);
                    self.apply_degradation(now, n as usize);
                }
            }
        }
    }

    pub(super) fn on_random_crash(&mut self, now: SimTime, fault: usize, node: usize) {
        if let FaultKind::RandomCrashes { mttr, .. } = &self.scenario.faults[fault].kind {
            let repair = DurationSampler::new(mttr).sample(&mut self.fault_rng);
            self.extra[node].held_down += 1;
            self.crash(now, node, "fault: random failure");
            self.engine.schedule_at(now + repair, Event::RandomRepair { fault: fault as u32, node: node as u32 });
        }
    }

    pub(super) fn on_random_repair(&mut self, now: SimTime, fault: usize, node: usize) {
        let x = &mut self.extra[node];
        x.held_down -= 1;
        if x.held_down == 0 && !self.nodes[node].is_up() {
            self.bring_up(now, node, "repaired");
        }
        if let FaultKind::RandomCrashes { mtbf, .. } = &self.scenario.faults[fault].kind {
            let at = now + DurationSampler::new(mtbf).sample(&mut self.fault_rng);
            if at < self.faults[fault].end {
                self.engine.schedule_at(at, Event::RandomCrash { fault: fault as u32, node: node as u32 });
            }
        }
    }

    /// Whether sampled service times of the node need adjusting.
    fn recompute_adjusted(&mut self, node: usize) {
        let x = &self.extra[node];
        let slowdown = self.scenario.services[x.service].slowdown.is_some()
            || self.scenario.services[x.service].serverless.is_some();
        self.extra[node].adjusted =
            self.nodes[node].degradation != Degradation::default() || slowdown || x.warming_until.is_some();
    }

    /// Recomputes a node's degradation from the faults active on it.
    fn apply_degradation(&mut self, now: SimTime, node: usize) {
        let mut d = Degradation::default();
        let mut workers = self.nodes[node].workers();
        for &f in &self.extra[node].active_faults {
            match self.scenario.faults[f as usize].kind {
                FaultKind::Slow { factor } => d.slowdown *= factor,
                FaultKind::Latency { delay } => d.extra_ns += delay.0,
                FaultKind::Errors { fraction } => d.error_fraction = 1.0 - (1.0 - d.error_fraction) * (1.0 - fraction),
                FaultKind::Capacity { workers: w } => workers = workers.min(w),
                FaultKind::Crash
                | FaultKind::RandomCrashes { .. }
                | FaultKind::RollingRestart { .. }
                | FaultKind::Redeploy
                | FaultKind::CacheFlush
                | FaultKind::RegionOutage { .. }
                | FaultKind::Partition { .. } => {}
            }
        }
        self.nodes[node].degradation = d;
        self.recompute_adjusted(node);
        if workers != self.nodes[node].usable_workers() {
            for next in self.nodes[node].set_usable_workers(workers, now) {
                self.take_next(now, node, Some(next));
            }
        }
    }
}

/// Seconds until a least-squares line through `samples` (time [s], memory
/// [MB]) reaches `limit`, from the last sample; `None` if memory is not
/// growing or there are fewer than three samples.
fn time_to_limit(samples: &std::collections::VecDeque<(f64, f64)>, limit: f64) -> Option<f64> {
    let n = samples.len() as f64;
    if samples.len() < 3 {
        return None;
    }
    let (st, sm) = samples.iter().fold((0.0, 0.0), |(a, b), (t, m)| (a + t, b + m));
    let (mt, mm) = (st / n, sm / n);
    let (mut cov, mut var) = (0.0, 0.0);
    for (t, m) in samples {
        cov += (t - mt) * (m - mm);
        var += (t - mt) * (t - mt);
    }
    if var == 0.0 {
        return None;
    }
    let slope = cov / var;
    if slope <= 0.0 {
        return None;
    }
    let (t_last, _) = *samples.back().expect("three samples");
    let fitted_now = mm + slope * (t_last - mt);
    Some(((limit - fitted_now) / slope).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::time_to_limit;
    use std::collections::VecDeque;

    #[test]
    fn trend_predicts_when_memory_hits_the_limit() {
        // 2 MB/s from 100 MB: at t = 10 s memory is 120 MB; 1000 MB is 440 s away.
        let samples: VecDeque<(f64, f64)> = (0..=10).map(|t| (t as f64, 100.0 + 2.0 * t as f64)).collect();
        let eta = time_to_limit(&samples, 1000.0).unwrap();
        assert!((eta - 440.0).abs() < 1e-9, "{eta}");
        let flat: VecDeque<(f64, f64)> = (0..10).map(|t| (t as f64, 500.0)).collect();
        assert_eq!(time_to_limit(&flat, 1000.0), None);
        let few: VecDeque<(f64, f64)> = [(0.0, 1.0), (1.0, 2.0)].into_iter().collect();
        assert_eq!(time_to_limit(&few, 1000.0), None);
    }
}
