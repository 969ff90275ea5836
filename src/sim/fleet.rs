//! The nodes: admitting and serving attempts, injected faults, crashes
//! (by fault, at random, or from sustained overload), and restarts with
//! crash-loop back-off.

use rand::RngExt;
use rand::seq::index::sample;

use super::{AttemptState, Event, FaultState, Owner, World};
use crate::components::node::{Admission, Degradation};
use crate::model::{FailureCause, FaultKind, NodeSelection};
use crate::time::{SimDuration, SimTime};

impl World<'_> {
    /// Hands `attempt` to `node`.
    #[inline(always)]
    pub(super) fn offer(&mut self, now: SimTime, node: usize, attempt: u32) {
        let fraction = self.nodes[node].degradation.error_fraction;
        if fraction > 0.0 && self.nodes[node].is_up() && self.error_rng.random::<f64>() < fraction {
            self.node_failed_attempt(now, attempt, FailureCause::Error);
            return;
        }
        match self.nodes[node].admit(attempt, now) {
            Admission::Started => {
                self.start_service(now, node, attempt);
                self.check_memory(now, node);
            }
            Admission::Queued => self.check_memory(now, node),
            Admission::Rejected => {
                self.recorder.node_rejected(node);
                self.node_failed_attempt(now, attempt, FailureCause::Rejected);
            }
            Admission::Down => self.node_failed_attempt(now, attempt, FailureCause::Reset),
        }
    }

    #[inline]
    fn start_service(&mut self, now: SimTime, node: usize, attempt: u32) {
        let a = &mut self.attempts[attempt];
        if a.state == AttemptState::Queued {
            a.state = AttemptState::InService;
        }
        if !matches!(a.owner, Owner::Probe { .. }) {
            self.recorder.service_started(now, a.sent);
        }
        let x = &mut self.extra[node];
        let mut service = x.sampler.sample(&mut x.rng);
        if self.extra[node].adjusted {
            service = self.adjust_service_time(node, service);
        }
        let incarnation = self.nodes[node].incarnation();
        self.engine.schedule_at(now + service, Event::ServiceDone { node: node as u32, attempt, incarnation });
    }

    /// Applies fault degradation and slowdown under load to a sampled
    /// service time.
    #[inline(never)]
    fn adjust_service_time(&self, node: usize, mut service: SimDuration) -> SimDuration {
        let d = &self.nodes[node].degradation;
        if d.slowdown != 1.0 || d.extra_ns != 0 {
            service = SimDuration((service.0 as f64 * d.slowdown) as u64 + d.extra_ns);
        }
        if let Some(sd) = &self.extra[node].slowdown {
            // Contention: slower the more loaded the node is as the work starts.
            let n = &self.nodes[node];
            let load = if sd.by_queue { n.queued() } else { n.busy() } as f64 / n.workers() as f64;
            service = SimDuration((service.0 as f64 * (1.0 + sd.factor * load.powf(sd.exponent))) as u64);
        }
        service
    }

    #[inline]
    pub(super) fn on_service_done(&mut self, now: SimTime, node: usize, attempt: u32, incarnation: u32) {
        if incarnation != self.nodes[node].incarnation() {
            return; // the node crashed meanwhile; the attempt was failed then
        }
        self.recorder.served(node);
        let a = self.attempts[attempt];
        match (a.state, a.owner) {
            (AttemptState::Abandoned, _) => {
                if !matches!(a.owner, Owner::Probe { .. }) {
                    self.recorder.late_response(a.sent);
                }
            }
            (_, Owner::Client { .. } | Owner::Single { .. }) => self.client_success(now, attempt),
            (_, Owner::Probe { balancer }) => {
                if let Some(timer) = a.timeout {
                    self.engine.cancel(timer);
                }
                self.probe_result(now, balancer as usize, node, true);
            }
        }
        self.free_attempt(attempt);
        let next = self.nodes[node].finish(now);
        self.take_next(now, node, next);
        if self.extra[node].memory.is_some() {
            let x = &mut self.extra[node];
            x.leaked_mb += x.memory.as_ref().map_or(0.0, |m| m.leak_per_request_mb);
            self.check_memory(now, node);
        }
    }

    /// A worker of `node` picked `next` from the queue: serve it, unless it
    /// waited past the service's queue timeout, in which case it is shed and
    /// the worker picks again.
    #[inline(always)]
    fn take_next(&mut self, now: SimTime, node: usize, mut next: Option<u32>) {
        while let Some(id) = next {
            if let Some(limit) = self.extra[node].queue_timeout
                && now.since(self.attempts[id].sent) > limit
            {
                self.node_failed_attempt(now, id, FailureCause::Shed);
                next = self.nodes[node].finish(now);
                continue;
            }
            self.start_service(now, node, id);
            return;
        }
    }

    /// OOM kill when the node's memory reaches its limit.
    #[inline(always)]
    fn check_memory(&mut self, now: SimTime, node: usize) {
        if self.extra[node].memory.is_some() {
            self.check_memory_limit(now, node);
        }
    }

    #[inline(never)]
    fn check_memory_limit(&mut self, now: SimTime, node: usize) {
        let x = &self.extra[node];
        let Some(m) = &x.memory else { return };
        let used = m.baseline_mb + m.per_request_mb * self.nodes[node].outstanding() as f64 + x.leaked_mb;
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
    pub(super) fn node_failed_attempt(&mut self, now: SimTime, attempt: u32, cause: FailureCause) {
        let a = self.attempts[attempt];
        match (a.state, a.owner) {
            (AttemptState::Abandoned, _) => {}
            (_, Owner::Client { .. } | Owner::Single { .. }) => self.client_attempt_failed(now, attempt, cause),
            (_, Owner::Probe { balancer }) => {
                if let Some(timer) = a.timeout {
                    self.engine.cancel(timer);
                }
                self.probe_result(now, balancer as usize, a.node as usize, false);
            }
        }
        self.free_attempt(attempt);
    }

    /// The node's process dies: every attempt it holds fails with a reset.
    pub(super) fn crash(&mut self, now: SimTime, node: usize, cause: &str) {
        if !self.nodes[node].is_up() {
            return;
        }
        self.nodes[node].crash(now);
        self.extra[node].hot_since = None;
        self.log(now, node, "crash", cause.to_string());
        let held: Vec<u32> = (0..self.attempts.slots().len() as u32)
            .filter(|&i| {
                let a = &self.attempts[i];
                a.live && a.node as usize == node
            })
            .collect();
        for attempt in held {
            self.node_failed_attempt(now, attempt, FailureCause::Reset);
        }
        self.node_went_down(now, node);
    }

    /// Schedules the restart of a node that crashed on its own (overload):
    /// crash-loop back-off, then the start-up delay.
    fn schedule_restart(&mut self, now: SimTime, node: usize) {
        let x = &mut self.extra[node];
        let spec = &self.services[x.service].restart;
        let backoff = x.crash_loop.on_crash(now, spec);
        let startup = crate::components::distribution::DurationSampler::new(&spec.delay).sample(&mut self.restart_rng);
        let incarnation = self.nodes[node].incarnation();
        let at = now + backoff + startup;
        self.log(now, node, "restart-scheduled", format!("back-off {backoff} + start-up {startup}"));
        self.engine.schedule_at(at, Event::Restart { node: node as u32, incarnation });
    }

    pub(super) fn on_restart(&mut self, now: SimTime, node: usize, incarnation: u32) {
        if self.nodes[node].is_up() || self.nodes[node].incarnation() != incarnation || self.extra[node].held_down > 0 {
            return;
        }
        self.bring_up(now, node, "restarted");
    }

    fn bring_up(&mut self, now: SimTime, node: usize, why: &str) {
        self.nodes[node].start(now);
        self.extra[node].crash_loop.on_up(now);
        self.extra[node].leaked_mb = 0.0;
        let (busy, queued) = self.nodes[node].areas(now);
        self.extra[node].last_busy_area = busy;
        self.extra[node].last_queue_area = queued;
        self.log(now, node, "up", why.to_string());
        self.node_came_up(now, node);
    }

    // ---- overload watchdog

    pub(super) fn on_overload_tick(&mut self, now: SimTime, service: usize) {
        let spec = self.services[service].overload.clone().expect("tick only for services with overload_crash");
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
            if utilization >= spec.utilization || queue_hot {
                let since = *x.hot_since.get_or_insert(SimTime(now.0 - spec.window.0));
                if now.since(since) >= spec.sustained {
                    let what = if utilization >= spec.utilization {
                        format!("utilization >= {:.0}%", spec.utilization * 100.0)
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

    // ---- faults

    pub(super) fn on_fault_start(&mut self, now: SimTime, fault: usize) {
        let spec = &self.scenario.faults[fault];
        let service = &self.services[spec.service];
        let first = service.first_node as u32;
        let nodes: Vec<u32> = match &spec.nodes {
            NodeSelection::All => (first..first + service.nodes as u32).collect(),
            NodeSelection::List(list) => list.iter().map(|i| first + i).collect(),
            NodeSelection::Random(k) => {
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
        let until = spec.duration.map_or("until the end of the run".to_string(), |d| format!("for {d}"));
        let detail = format!("{} on nodes [{}] {until}", spec.kind.name(), locals.join(", "));
        self.log_service(now, spec.service, "fault-start", detail);
        self.faults[fault] = FaultState { nodes: nodes.clone(), end };
        if spec.duration.is_some() {
            self.engine.schedule_at(end, Event::FaultEnd { fault: fault as u32 });
        }
        match &spec.kind {
            FaultKind::Crash => {
                for &n in &nodes {
                    self.extra[n as usize].held_down += 1;
                    self.crash(now, n as usize, "fault: crash");
                }
            }
            FaultKind::RandomCrashes { mtbf, .. } => {
                let mtbf = crate::components::distribution::DurationSampler::new(mtbf);
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
        self.log_service(now, spec.service, "fault-end", spec.kind.name().to_string());
        let nodes = self.faults[fault].nodes.clone();
        match spec.kind {
            FaultKind::Crash => {
                for n in nodes {
                    let x = &mut self.extra[n as usize];
                    x.held_down -= 1;
                    if x.held_down == 0 && !self.nodes[n as usize].is_up() {
                        self.bring_up(now, n as usize, "fault over");
                    }
                }
            }
            FaultKind::RandomCrashes { .. } => {} // repairs in flight finish on their own
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
            let repair = crate::components::distribution::DurationSampler::new(mttr).sample(&mut self.fault_rng);
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
            let at = now + crate::components::distribution::DurationSampler::new(mtbf).sample(&mut self.fault_rng);
            if at < self.faults[fault].end {
                self.engine.schedule_at(at, Event::RandomCrash { fault: fault as u32, node: node as u32 });
            }
        }
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
                FaultKind::Crash | FaultKind::RandomCrashes { .. } => {}
            }
        }
        self.nodes[node].degradation = d;
        self.extra[node].adjusted = d != Degradation::default() || self.extra[node].slowdown.is_some();
        if workers != self.nodes[node].usable_workers() {
            for next in self.nodes[node].set_usable_workers(workers, now) {
                self.take_next(now, node, Some(next));
            }
        }
    }
}
