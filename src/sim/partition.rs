//! Network partitions while the run goes: which partition faults are
//! active, and what they do to an attempt crossing the cut (see
//! `model::partition` for which links a partition cuts).
//!
//! A black-holed attempt is `AttemptState::Lost`: its request or answer
//! was dropped, no node holds it, and only its client's timeout (or the
//! request's deadline) ends it; without either it waits until the run
//! ends and counts as in flight, like any other unanswered request. A
//! reset fails the attempt at once with `reset`. The nodes themselves
//! stay up: liveness probes are node-local and never cross a cut.
//!
//! All of this runs only in scenarios with a partition fault: the hot
//! path pays one test of `World::partitioned`.

use super::{AttemptState, Owner, World};
use crate::model::partition::{Link, LinkOrigin, PartitionMode, Topology, cuts};
use crate::model::{FailureCause, FaultKind};
use crate::time::SimTime;

impl World<'_> {
    /// A partition fault starts: attempts across it are cut from now on.
    pub(super) fn start_partition(&mut self, now: SimTime, fault: usize) {
        self.active_partitions.push(fault as u32);
        let detail = self.describe_partition(fault);
        let spec = &self.scenario.faults[fault];
        let until = match spec.duration {
            None => "until the end of the run".to_string(),
            Some(d) => format!("for {d}"),
        };
        self.log_service(now, spec.service, "partition-start", format!("{detail} {until}"));
    }

    pub(super) fn end_partition(&mut self, now: SimTime, fault: usize) {
        self.active_partitions.retain(|&f| f as usize != fault);
        let detail = self.describe_partition(fault);
        self.log_service(now, self.scenario.faults[fault].service, "partition-end", detail);
    }

    /// E.g. "service gateway / service payments: black-hole, both directions".
    fn describe_partition(&self, fault: usize) -> String {
        let FaultKind::Partition { from, to, mode, direction } = &self.scenario.faults[fault].kind else {
            unreachable!("a partition fault")
        };
        let directions = match direction {
            crate::model::partition::PartitionDirection::Both => "both directions".to_string(),
            d => format!("{} only", d.name()),
        };
        format!("{} / {}: {}, {directions}", from.describe(self.scenario), to.describe(self.scenario), mode.name())
    }

    /// The mode of the first active partition that cuts the link's
    /// requests (`request`) or its answers.
    fn cut_mode(&self, link: &Link, request: bool) -> Option<PartitionMode> {
        let t = Topology { services: &self.scenario.services, balancers: &self.scenario.balancers };
        self.active_partitions.iter().find_map(|&f| match &self.scenario.faults[f as usize].kind {
            FaultKind::Partition { from, to, mode, direction } => {
                cuts(from, to, *direction, link, request, t).then_some(*mode)
            }
            _ => None,
        })
    }

    /// The link an attempt of `owner` to `node` travels, or `None` for
    /// what never crosses the network (liveness probes, database queries).
    fn link_of(&self, owner: Owner, node: usize) -> Option<Link> {
        let service = self.extra[node].service;
        let model_balancer = |b: usize| (b < self.scenario.balancers.len()).then_some(b);
        let (origin, balancer) = match owner {
            Owner::Single { source } => (LinkOrigin::Traffic(source as usize), self.client_balancer(source, service)),
            Owner::Client { request } => {
                let source = self.requests[request].source;
                (LinkOrigin::Traffic(source as usize), self.client_balancer(source, service))
            }
            Owner::Call { call, .. } => {
                let e = &self.edges[self.calls[call].edge as usize];
                (LinkOrigin::Service(e.caller), model_balancer(e.balancer))
            }
            Owner::Probe { balancer } => (LinkOrigin::Balancer(balancer as usize), Some(balancer as usize)),
            Owner::Liveness | Owner::DbCall { .. } => return None,
        };
        Some(Link { origin, balancer, service })
    }

    /// The scenario balancer a source's attempt to `service` went through:
    /// its own, or the other region's under active/active recovery
    /// (`None` for a source that targets the service directly).
    fn client_balancer(&self, source: u32, service: usize) -> Option<usize> {
        let s = &self.sources[source as usize];
        let b = match s.split {
            Some((other, _)) if self.balancers[s.balancer].service != service => other,
            _ => s.balancer,
        };
        (b < self.scenario.balancers.len()).then_some(b)
    }

    /// A new attempt is about to reach its node: if a partition cuts its
    /// request, it is lost (black hole) or refused (reset) instead, and
    /// `true` says the node never sees it.
    #[cold]
    #[inline(never)]
    pub(super) fn request_cut(&mut self, now: SimTime, attempt: u32) -> bool {
        let a = self.attempts[attempt];
        let Some(link) = self.link_of(a.owner, a.node as usize) else { return false };
        match self.cut_mode(&link, true) {
            None => false,
            Some(PartitionMode::BlackHole) => {
                self.attempts[attempt].state = AttemptState::Lost;
                true
            }
            Some(PartitionMode::Reset) => {
                // Connection refused: over before it reached the node.
                self.attempts.remove(attempt);
                match a.owner {
                    Owner::Client { .. } | Owner::Single { .. } => {
                        self.client_attempt_failed(now, &a, FailureCause::Reset)
                    }
                    Owner::Call { .. } => self.call_attempt_failed(now, &a, FailureCause::Reset),
                    Owner::Probe { .. } => {
                        if let Some(timer) = a.timeout {
                            self.engine.cancel(timer);
                        }
                        self.check_result(now, a.owner, a.node as usize, false);
                    }
                    Owner::Liveness | Owner::DbCall { .. } => unreachable!("never cut"),
                }
                true
            }
        }
    }

    /// Whether a partition cuts the answer the node is about to send for
    /// `attempt` (whose client still waits), and how.
    #[cold]
    #[inline(never)]
    pub(super) fn response_cut(&self, attempt: u32) -> Option<PartitionMode> {
        let a = &self.attempts[attempt];
        if a.state == AttemptState::Abandoned {
            return None;
        }
        let link = self.link_of(a.owner, a.node as usize)?;
        self.cut_mode(&link, false)
    }

    /// A black-holed attempt's client stopped waiting: no node will ever
    /// free it, so this does.
    #[cold]
    #[inline(never)]
    pub(super) fn free_lost(&mut self, attempt: u32) {
        self.attempts.remove(attempt);
    }

    /// The node is about to answer `attempt` with a success: `true` when a
    /// partition cuts the answer, which is then lost or reset on its way
    /// back (the work was done for nothing).
    #[cold]
    #[inline(never)]
    pub(super) fn cut_success_answer(&mut self, now: SimTime, node: usize, attempt: u32) -> bool {
        if self.response_cut(attempt).is_none() {
            return false;
        }
        self.fail_at_node(now, node, attempt, FailureCause::Reset);
        true
    }

    /// The node is about to answer `attempt` with a failure: the cause the
    /// client gets (`reset` across a reset), or `None` when a black hole
    /// swallowed the answer (the client waits on; the worker is free).
    #[cold]
    #[inline(never)]
    pub(super) fn cut_failure_answer(
        &mut self,
        now: SimTime,
        node: usize,
        attempt: u32,
        cause: FailureCause,
    ) -> Option<FailureCause> {
        match self.response_cut(attempt) {
            None => Some(cause),
            Some(PartitionMode::Reset) => Some(FailureCause::Reset),
            Some(PartitionMode::BlackHole) => {
                self.attempts[attempt].state = AttemptState::Lost;
                self.release_worker(now, node);
                None
            }
        }
    }

    /// A shallow health check of `node` by balancer `b` crosses the
    /// network too: a cut either way fails it.
    #[cold]
    #[inline(never)]
    pub(super) fn check_cut(&self, b: usize, node: usize) -> bool {
        let link = Link { origin: LinkOrigin::Balancer(b), balancer: Some(b), service: self.extra[node].service };
        self.cut_mode(&link, true).is_some() || self.cut_mode(&link, false).is_some()
    }
}
