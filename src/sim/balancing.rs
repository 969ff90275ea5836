//! Balancers: routing each attempt among the nodes a balancer trusts,
//! active health checks (shallow or deep), passive outlier ejection, and the
//! panic threshold below which health is ignored; and keeping
//! least-outstanding trees in step with the nodes' outstanding counts.

use super::{Event, Owner, World};
use crate::components::health::HealthState;
use crate::time::SimTime;

impl World<'_> {
    /// The node (global index) that balancer `b` sends the next attempt to,
    /// or `None` when the service has no node in rotation at all.
    #[inline(always)]
    pub(super) fn route(&mut self, b: usize) -> Option<usize> {
        let bs = &mut self.balancers[b];
        let first = bs.first_node;
        match bs.members.len() {
            1 => return Some(first + bs.members[0] as usize),
            0 => return None,
            _ => {}
        }
        let nodes = &self.nodes[first..first + bs.slots];
        let candidates = if bs.panic { &bs.members } else { &bs.candidates };
        Some(first + bs.balancer.pick(candidates, nodes, &mut bs.rng) as usize)
    }

    /// A service's nodes joined or left rotation (scaling, draining): every
    /// balancer in front of it rebuilds its member list.
    pub(super) fn refresh_membership(&mut self, now: SimTime, service: usize) {
        let first = self.services[service].first_node;
        for b in 0..self.balancers.len() {
            if self.balancers[b].service != service {
                continue;
            }
            let slots = self.balancers[b].slots;
            self.balancers[b].members = (0..slots as u32)
                .filter(|&i| {
                    let x = &self.extra[first + i as usize];
                    x.present && x.draining.is_none() && !x.restarting && !x.provisioning && !x.stuck
                })
                .collect();
            self.refresh_candidates(now, b);
        }
    }

    /// Rebuilds balancer `b`'s routing set after a health, ejection or
    /// membership change.
    pub(super) fn refresh_candidates(&mut self, now: SimTime, b: usize) {
        let bs = &mut self.balancers[b];
        let n = bs.members.len();
        bs.candidates = bs
            .members
            .iter()
            .copied()
            .filter(|&i| {
                bs.health[i as usize].healthy() && !bs.outlier.as_ref().is_some_and(|o| o.is_ejected(i as usize))
            })
            .collect();
        // Envoy: below the panic threshold (or with nobody left), route to all.
        let panic = bs.candidates.is_empty() || (bs.candidates.len() as f64) < bs.panic_threshold * n as f64;
        if bs.balancer.tracks_loads() {
            let set = if panic { &bs.members } else { &bs.candidates };
            bs.balancer.routing_set_changed(set, &self.nodes[bs.first_node..bs.first_node + bs.slots]);
        }
        if panic != bs.panic {
            bs.panic = panic;
            let (service, detail) =
                (bs.service, format!("balancer {}: {} of {n} nodes available", bs.name, bs.candidates.len()));
            self.log_service(now, service, if panic { "panic-on" } else { "panic-off" }, detail);
        }
    }

    /// `node`'s outstanding count changed (an attempt admitted or finished,
    /// a crash or stop): balancers with a tree over its service learn it.
    #[inline(always)]
    pub(super) fn load_changed(&mut self, node: usize) {
        if self.extra[node].tracked {
            self.update_trees(node);
        }
    }

    #[inline(never)]
    fn update_trees(&mut self, node: usize) {
        let (service, local) = (self.extra[node].service, self.extra[node].local);
        let outstanding = self.nodes[node].outstanding();
        for bs in self.balancers.iter_mut().filter(|bs| bs.service == service) {
            bs.balancer.load_changed(local, outstanding);
        }
    }

    /// An attempt routed by balancer `b` to `node` ended; feeds outlier detection.
    #[inline(always)]
    pub(super) fn record_outcome(&mut self, now: SimTime, b: usize, node: usize, failed: bool) {
        if self.balancers[b].outlier.is_some() {
            self.record_outcome_outlier(now, b, node, failed);
        }
    }

    #[inline(never)]
    fn record_outcome_outlier(&mut self, now: SimTime, b: usize, node: usize, failed: bool) {
        let bs = &mut self.balancers[b];
        let Some(outlier) = bs.outlier.as_mut() else { return };
        let local = node - self.services[bs.service].first_node;
        if let Some(time) = outlier.record(local, failed, now) {
            let name = bs.name.clone();
            self.log(now, node, "ejected", format!("balancer {name}: for {time}"));
            self.engine.schedule_at(now + time, Event::EjectionEnd { balancer: b as u32, node: local as u32 });
            self.refresh_candidates(now, b);
        }
    }

    pub(super) fn on_ejection_end(&mut self, now: SimTime, b: usize, local: usize) {
        if let Some(o) = self.balancers[b].outlier.as_mut() {
            o.return_node(local, now);
        }
        let node = self.services[self.balancers[b].service].first_node + local;
        let name = self.balancers[b].name.clone();
        self.log(now, node, "returned", format!("balancer {name}: ejection over"));
        self.refresh_candidates(now, b);
    }

    pub(super) fn on_health_check(&mut self, now: SimTime, b: usize) {
        let spec = self.balancers[b].health_check.clone().expect("checks only for balancers with health_check");
        let first = self.services[self.balancers[b].service].first_node;
        for local in 0..self.balancers[b].slots {
            let node = first + local;
            if !self.extra[node].present {
                continue;
            }
            if !spec.deep {
                let up = self.nodes[node].is_up() && !(self.partitioned && self.check_cut(b, node));
                self.probe_result(now, b, node, up);
                continue;
            }
            // A deep check is a real request through the node's queue and workers.
            self.launch_attempt(
                now,
                node,
                Owner::Probe { balancer: b as u32 },
                Some(spec.timeout),
                super::calls::NO_CLASS,
            );
        }
        self.engine.schedule_at(now + spec.interval, Event::HealthCheck { balancer: b as u32 });
    }

    /// One health-check result of balancer `b` for `node`.
    pub(super) fn probe_result(&mut self, now: SimTime, b: usize, node: usize, passed: bool) {
        let first = self.services[self.balancers[b].service].first_node;
        let local = node - first;
        let bs = &mut self.balancers[b];
        let spec = bs.health_check.as_ref().expect("probe results only with health checks");
        if let Some(healthy) = bs.health[local].record(passed, spec) {
            let detail = format!("balancer {}: health checks {}", bs.name, if healthy { "pass" } else { "fail" });
            self.log(now, node, if healthy { "healthy" } else { "unhealthy" }, detail);
            self.refresh_candidates(now, b);
        }
    }

    /// A node went down: nothing to do for balancers until they notice
    /// (health checks, or errors through outlier detection).
    pub(super) fn node_went_down(&mut self, _now: SimTime, _node: usize) {}

    /// A node's process started again: a balancer that health-checks it
    /// readmits it only after `healthy_threshold` passing checks, like a
    /// restarted pod that is not Ready until its readiness probe passes.
    pub(super) fn node_came_up(&mut self, now: SimTime, node: usize) {
        let (service, local) = (self.extra[node].service, self.extra[node].local as usize);
        for b in 0..self.balancers.len() {
            let bs = &mut self.balancers[b];
            if bs.service == service && bs.health_check.is_some() && bs.health[local].healthy() {
                bs.health[local] = HealthState::unproven();
                self.refresh_candidates(now, b);
            }
        }
    }
}
