//! The simulated world: owns the engine, the components and the recorder,
//! and turns component outcomes into scheduled events. One call to
//! [`run`] is one replication, a pure function of (scenario, run index).

use crate::components::arrivals::PoissonArrivals;
use crate::components::balancer::Balancer;
use crate::components::node::{Admission, Node};
use crate::components::distribution::DurationSampler;
use crate::engine::{Engine, TimerId};
use crate::metrics::{NodeLabel, Recorder, RunRecord};
use crate::model::{Scenario, Target};
use crate::rng::{SimRng, StreamKind, stream};
use crate::time::{SimDuration, SimTime};

/// Something went wrong inside the simulator itself (a bug, not bad input).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(
        "request conservation violated in scenario {scenario}, run {run_index}, seed {seed}: \
         {arrivals} arrivals != {completed} completed + {failed} failed + {in_flight} in flight \
         (this is a faultline bug; please report it with the scenario and seed)"
    )]
    Conservation {
        scenario: String,
        run_index: u64,
        seed: u64,
        arrivals: u64,
        completed: u64,
        failed: u64,
        in_flight: u64,
    },
}

/// The events of the world. Ids index the `Vec`s of [`World`].
#[derive(Debug, Clone, Copy)]
enum Event {
    /// The next request from traffic source `source` arrives.
    Arrival { source: u32 },
    /// Node `node` finishes serving request `request`.
    ServiceDone { node: u32, request: u32 },
    /// The client of `request` gives up.
    ClientTimeout { request: u32 },
    /// The current metrics bin ends.
    BinEnd,
    /// The warm-up ends; summary statistics start.
    WarmupEnd,
}

/// A request from the moment it arrives until both its client has an answer
/// and its node (if any) is done with it.
#[derive(Debug, Clone, Copy)]
struct Request {
    arrival: SimTime,
    timeout: Option<TimerId>,
    /// The client gave up; the node may still be working on it.
    abandoned: bool,
    live: bool,
}

struct Source {
    arrivals: PoissonArrivals,
    rng: SimRng,
    timeout: Option<SimDuration>,
    /// Balancer index, or `None` for straight-to-service round robin.
    balancer: usize,
}

/// Nodes of one service occupy `first_node .. first_node + nodes` in `World::nodes`.
struct ServiceNodes {
    first_node: usize,
    nodes: usize,
}

struct RoutedBalancer {
    balancer: Balancer,
    service: usize,
    rng: SimRng,
}

struct World {
    engine: Engine<Event>,
    sources: Vec<Source>,
    balancers: Vec<RoutedBalancer>,
    services: Vec<ServiceNodes>,
    nodes: Vec<Node>,
    samplers: Vec<DurationSampler>,
    /// Service-time stream per node.
    node_rngs: Vec<SimRng>,
    requests: Vec<Request>,
    free_requests: Vec<u32>,
    recorder: Recorder,
}

/// Runs replication `run_index` of `scenario` from its base seed.
pub fn run(scenario: &Scenario, run_index: u64) -> Result<RunRecord, SimError> {
    let sim = &scenario.simulation;
    let seed = sim.seed;
    let horizon = SimTime::ZERO + sim.duration;

    let mut nodes = Vec::new();
    let mut samplers = Vec::new();
    let mut node_rngs = Vec::new();
    let mut services = Vec::new();
    let mut labels = Vec::new();
    for service in &scenario.services {
        services.push(ServiceNodes { first_node: nodes.len(), nodes: service.nodes as usize });
        for i in 0..service.nodes {
            let global = nodes.len() as u64;
            nodes.push(Node::new(service.workers, service.queue_capacity));
            samplers.push(DurationSampler::new(&service.service_time));
            node_rngs.push(stream(seed, run_index, StreamKind::ServiceTime, global));
            labels.push(NodeLabel { service: service.name.clone(), index: i, workers: service.workers });
        }
    }
    // Balancers from the scenario, then one implicit round-robin balancer per
    // service for sources that target a service directly.
    let mut balancers: Vec<RoutedBalancer> = scenario
        .balancers
        .iter()
        .enumerate()
        .map(|(i, b)| RoutedBalancer {
            balancer: Balancer::new(b.policy),
            service: b.service,
            rng: stream(seed, run_index, StreamKind::Balancer, i as u64),
        })
        .collect();
    let implicit_base = balancers.len();
    for (s, _) in scenario.services.iter().enumerate() {
        balancers.push(RoutedBalancer {
            balancer: Balancer::new(crate::model::BalancePolicy::RoundRobin),
            service: s,
            rng: stream(seed, run_index, StreamKind::Balancer, (implicit_base + s) as u64),
        });
    }
    let sources: Vec<Source> = scenario
        .traffic
        .iter()
        .enumerate()
        .map(|(i, t)| Source {
            arrivals: PoissonArrivals::new(&t.rate),
            rng: stream(seed, run_index, StreamKind::Arrivals, i as u64),
            timeout: t.timeout,
            balancer: match t.target {
                Target::Balancer(b) => b,
                Target::Service(s) => implicit_base + s,
            },
        })
        .collect();

    let node_count = nodes.len();
    let mut world = World {
        engine: Engine::new(),
        sources,
        balancers,
        services,
        nodes,
        samplers,
        node_rngs,
        requests: Vec::with_capacity(1024),
        free_requests: Vec::with_capacity(1024),
        recorder: Recorder::new(node_count, sim.warmup, sim.bin, horizon),
    };
    world.start();
    while let Some((now, event)) = world.engine.next_until(horizon) {
        world.handle(now, event);
    }
    world.engine.advance_to(horizon);

    // Conservation: count outstanding requests independently of the counters.
    let in_flight_counted = world.requests.iter().filter(|r| r.live && !r.abandoned).count() as u64;
    let events = world.engine.delivered();
    let (mut summary, bins, node_bins) = world.recorder.finish(horizon, &labels, events);
    let c = &summary.conservation;
    if !conserved(c, in_flight_counted) {
        return Err(SimError::Conservation {
            scenario: scenario.name.clone(),
            run_index,
            seed,
            arrivals: c.arrivals,
            completed: c.completed,
            failed: c.failed,
            in_flight: in_flight_counted,
        });
    }
    summary.conservation.in_flight = in_flight_counted;
    Ok(RunRecord {
        scenario: scenario.name.clone(),
        run_index,
        seed,
        duration: sim.duration,
        warmup: sim.warmup,
        bin: sim.bin,
        nodes: labels,
        summary,
        bins,
        node_bins,
    })
}

/// Every arrival is accounted for exactly once: completed, failed, or still
/// in flight by an independent count of the outstanding requests.
fn conserved(c: &crate::metrics::Conservation, in_flight_counted: u64) -> bool {
    c.arrivals == c.completed + c.failed + in_flight_counted && c.in_flight == in_flight_counted
}

impl World {
    fn start(&mut self) {
        for i in 0..self.sources.len() {
            self.schedule_next_arrival(i, SimTime::ZERO);
        }
        let bin_end = self.recorder.bin_end();
        self.engine.schedule_at(bin_end, Event::BinEnd);
        let warmup_end = self.recorder.warmup_end();
        if warmup_end > SimTime::ZERO {
            self.engine.schedule_at(warmup_end, Event::WarmupEnd);
        }
    }

    #[inline]
    fn handle(&mut self, now: SimTime, event: Event) {
        match event {
            Event::Arrival { source } => self.on_arrival(now, source as usize),
            Event::ServiceDone { node, request } => self.on_service_done(now, node as usize, request),
            Event::ClientTimeout { request } => self.on_timeout(request),
            Event::BinEnd => {
                self.recorder.close_bin(now);
                let next = self.recorder.bin_end();
                self.engine.schedule_at(next, Event::BinEnd);
            }
            Event::WarmupEnd => self.recorder.end_warmup(now),
        }
    }

    #[inline]
    fn schedule_next_arrival(&mut self, source: usize, now: SimTime) {
        let s = &mut self.sources[source];
        if let Some(at) = s.arrivals.next_after(now, &mut s.rng) {
            self.engine.schedule_at(at, Event::Arrival { source: source as u32 });
        }
    }

    #[inline]
    fn on_arrival(&mut self, now: SimTime, source: usize) {
        self.schedule_next_arrival(source, now);
        self.recorder.arrival(now);
        let id = self.new_request(now);
        if let Some(timeout) = self.sources[source].timeout {
            let timer = self.engine.schedule_timer(now + timeout, Event::ClientTimeout { request: id });
            self.requests[id as usize].timeout = Some(timer);
        }
        let node = self.route(self.sources[source].balancer);
        self.offer(now, node, id);
    }

    /// Picks the node for a request sent through balancer `b`.
    #[inline]
    fn route(&mut self, b: usize) -> usize {
        let rb = &mut self.balancers[b];
        let span = &self.services[rb.service];
        let nodes = &self.nodes[span.first_node..span.first_node + span.nodes];
        span.first_node + rb.balancer.pick(nodes, &mut rb.rng)
    }

    #[inline]
    fn offer(&mut self, now: SimTime, node: usize, id: u32) {
        match self.nodes[node].admit(id) {
            Admission::Started => {
                self.recorder.service_started(now, now);
                self.start_service(now, node, id);
            }
            Admission::Queued => {}
            Admission::Rejected => {
                let arrival = self.requests[id as usize].arrival;
                self.recorder.rejected(arrival, node);
                self.answer_client(id);
                self.free_request(id);
                return;
            }
        }
        let n = &self.nodes[node];
        self.recorder.node_changed(node, now, n.busy(), n.queued());
    }

    #[inline]
    fn start_service(&mut self, now: SimTime, node: usize, id: u32) {
        let service = self.samplers[node].sample(&mut self.node_rngs[node]);
        self.engine.schedule_at(now + service, Event::ServiceDone { node: node as u32, request: id });
    }

    #[inline]
    fn on_service_done(&mut self, now: SimTime, node: usize, id: u32) {
        self.recorder.served(node);
        let request = self.requests[id as usize];
        if request.abandoned {
            self.recorder.late_response(request.arrival);
        } else {
            self.recorder.completed(now, request.arrival);
            self.answer_client(id);
        }
        self.free_request(id);
        if let Some(next) = self.nodes[node].finish() {
            let arrival = self.requests[next as usize].arrival;
            self.recorder.service_started(now, arrival);
            self.start_service(now, node, next);
        }
        let n = &self.nodes[node];
        self.recorder.node_changed(node, now, n.busy(), n.queued());
    }

    fn on_timeout(&mut self, id: u32) {
        let request = &mut self.requests[id as usize];
        debug_assert!(request.live && !request.abandoned);
        request.abandoned = true;
        request.timeout = None;
        let arrival = request.arrival;
        self.recorder.timed_out(arrival);
    }

    /// The client got its answer: its timeout no longer matters.
    #[inline]
    fn answer_client(&mut self, id: u32) {
        if let Some(timer) = self.requests[id as usize].timeout.take() {
            self.engine.cancel(timer);
        }
    }

    #[inline]
    fn new_request(&mut self, now: SimTime) -> u32 {
        let request = Request { arrival: now, timeout: None, abandoned: false, live: true };
        match self.free_requests.pop() {
            Some(id) => {
                self.requests[id as usize] = request;
                id
            }
            None => {
                self.requests.push(request);
                (self.requests.len() - 1) as u32
            }
        }
    }

    #[inline]
    fn free_request(&mut self, id: u32) {
        self.requests[id as usize].live = false;
        self.free_requests.push(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Conservation;

    #[test]
    fn conservation_check_catches_lost_and_double_counted_requests() {
        let ok = Conservation { arrivals: 10, completed: 6, failed: 3, in_flight: 1 };
        assert!(conserved(&ok, 1));
        // A request that vanished from the slab but was never counted.
        assert!(!conserved(&ok, 0));
        // A request counted as done (completed or failed) while still outstanding.
        let double = Conservation { arrivals: 10, completed: 7, failed: 3, in_flight: 0 };
        assert!(!conserved(&double, 1));
    }
}
