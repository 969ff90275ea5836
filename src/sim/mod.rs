//! The simulated world: owns the engine, the components and the recorder,
//! and turns component outcomes into scheduled events. One call to [`run`]
//! is one replication, a pure function of (scenario, run index).
//!
//! The world is split by concern: `clients` (requests, attempts, timeouts,
//! retries), `fleet` (nodes: service, crashes, restarts, faults, overload)
//! and `balancing` (routing, health checks, outlier ejection).

mod balancing;
mod cache;
mod calls;
mod capacity;
mod clients;
mod closed_loop;
mod database;
mod dr;
mod features;
mod fleet;
mod initial;
mod partition;
mod serverless;
mod slab;
mod traffic;

use crate::components::arrivals::PoissonArrivals;
use crate::components::autoscaler::Autoscaler;
use crate::components::balancer::Balancer;
use crate::components::breaker::CircuitBreaker;
use crate::components::distribution::DurationSampler;
use crate::components::health::HealthState;
use crate::components::node::{Node, NodeTotals};
use crate::components::outlier::OutlierDetector;
use crate::components::restart::CrashLoop;
use crate::components::retry::Retrier;
use crate::components::throttle::Throttle;
use crate::engine::{Engine, TimerId};
use crate::metrics::{Conservation, EventLog, FleetSnapshot, NodeLabel, Recorder, RunRecord};
use crate::model::{FailureCause, Scenario, Target};
use crate::rng::{SimRng, StreamKind, stream, stream_seed};
use crate::time::{SimDuration, SimTime};
use slab::{NO_SLOT, Slab, Slot};

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
    #[error(
        "call conservation violated in scenario {scenario}, run {run_index}, seed {seed}: {detail} \
         (this is a faultline bug; please report it with the scenario and seed)"
    )]
    CallConservation { scenario: String, run_index: u64, seed: u64, detail: String },
}

/// The events of the world. Ids index the `Vec`s of [`World`].
#[derive(Debug, Clone, Copy)]
enum Event {
    /// The next request from traffic source `source` arrives.
    Arrival {
        source: u32,
    },
    /// A user of closed-loop source `source` is done thinking.
    ThinkEnd {
        source: u32,
    },
    /// Closed-loop source `source`'s population becomes its step `step`'s.
    PopulationChange {
        source: u32,
        step: u32,
    },
    /// Node `node` finishes serving `attempt`, if it has not crashed since
    /// (`incarnation` tells).
    ServiceDone {
        node: u32,
        attempt: u32,
        incarnation: u32,
    },
    /// The client stops waiting for `attempt`.
    AttemptTimeout {
        attempt: u32,
    },
    /// `request`'s total deadline is over.
    Deadline {
        request: u32,
    },
    /// `request` sends its next attempt after backing off.
    Retry {
        request: u32,
    },
    /// Service-to-service `call` sends its next attempt after backing off.
    CallRetry {
        call: u32,
    },
    /// `call` has looked its key up in the callee's cache.
    CacheLookup {
        call: u32,
    },
    /// The current metrics bin ends.
    BinEnd,
    /// The warm-up ends; summary statistics start.
    WarmupEnd,
    FaultStart {
        fault: u32,
    },
    FaultEnd {
        fault: u32,
    },
    /// A random-crashes fault strikes `node`, or repairs it.
    RandomCrash {
        fault: u32,
        node: u32,
    },
    RandomRepair {
        fault: u32,
        node: u32,
    },
    /// A crashed node's process is back, if it has not crashed again since.
    Restart {
        node: u32,
        incarnation: u32,
    },
    /// Balancer `balancer` checks the health of every node.
    HealthCheck {
        balancer: u32,
    },
    /// An ejected node's ejection time is over.
    EjectionEnd {
        balancer: u32,
        node: u32,
    },
    /// Overload watchdog tick for `service`.
    OverloadTick {
        service: u32,
    },
    /// Memory accounting (time-based leaks, predictive monitor) for `service`.
    MemoryTick {
        service: u32,
    },
    /// Liveness probes of `service`'s nodes.
    LivenessTick {
        service: u32,
    },
    /// The autoscaler of `service` evaluates.
    ScaleTick {
        service: u32,
    },
    /// A scaled-out node finished provisioning.
    Provisioned {
        node: u32,
    },
    /// The next node of a rolling restart.
    RollingStep {
        fault: u32,
        step: u32,
    },
    /// A database's failover: detection over (start) or promotion done.
    FailoverStart {
        service: u32,
    },
    FailoverDone {
        service: u32,
    },
    /// The disaster is detected: the standby region is made ready.
    DrDetected,
    /// Clients follow the DNS change to the standby region.
    DrShift,
    /// The requests at given instant `index` of the traffic plan arrive.
    Scheduled {
        index: u32,
    },
    /// Timeline row `index` of the traffic plan (a schedule change...).
    TrafficMark {
        index: u32,
    },
}

/// Who is waiting for an attempt's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Client {
        request: u32,
    },
    /// A single-shot request (no retries, no deadline) from `source`: the
    /// attempt is the whole request, and `sent` is its arrival.
    Single {
        source: u32,
    },
    /// A deep liveness probe of the node.
    Liveness,
    /// A database query made while serving attempt `parent` (`NO_SLOT`
    /// once the parent is gone).
    DbCall {
        parent: u32,
        write: bool,
    },
    /// A deep health check of balancer `balancer`.
    Probe {
        balancer: u32,
    },
    /// An attempt of a call from another service (`write`: to a database).
    Call {
        call: u32,
        write: bool,
    },
}

impl Owner {
    /// Client traffic (a request's attempt), as opposed to checks and queries.
    fn is_client(self) -> bool {
        matches!(self, Owner::Client { .. } | Owner::Single { .. })
    }

    /// Real work for a request: a client's attempt or a call from another
    /// service (these make calls, query databases and meet rate limits).
    fn is_work(self) -> bool {
        matches!(self, Owner::Client { .. } | Owner::Single { .. } | Owner::Call { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttemptState {
    Queued,
    InService,
    /// The client gave up; the node may still be working on it.
    Abandoned,
    /// A partition black-holed its request or its answer: no node holds
    /// it, and only its timeout or deadline ends it (see `partition`).
    Lost,
}

/// One try at a node.
#[derive(Debug, Clone, Copy)]
struct Attempt {
    owner: Owner,
    node: u32,
    /// When it reached the node.
    sent: SimTime,
    timeout: Option<TimerId>,
    state: AttemptState,
    live: bool,
    /// Next free slot while this one is free (an intrusive free list).
    next_free: u32,
    /// The node's own work is done and it queries its database (waiting
    /// for a connection or for the answer).
    db_phase: bool,
    /// The database query in flight, if any (`NO_SLOT` otherwise).
    db_call: u32,
    /// The request's class (`calls::NO_CLASS` without one).
    class: u16,
    /// A serverless instance was started for it: its service time
    /// includes the cold start.
    cold_start: bool,
    /// Its timeout is reserved but not set yet: it is set once the node
    /// has taken the attempt (see `launch_attempt`).
    timeout_pending: bool,
    /// The call step the node is on, and its calls that succeeded and
    /// failed so far; `token` names the step's calls (0: none pending).
    step: u16,
    calls_ok: u16,
    calls_failed: u16,
    token: u32,
    /// The client request's key seed, carried to the calls it makes so
    /// every cache lookup on its behalf asks for the same key (0 without
    /// caches; see `World::request_key`).
    key: u32,
}

/// A client request from arrival until it succeeds or fails for good.
#[derive(Debug, Clone, Copy)]
struct Request {
    arrival: SimTime,
    source: u32,
    attempts: u32,
    /// The attempt in flight, if any.
    attempt: Option<u32>,
    deadline: Option<TimerId>,
    /// A scheduled retry, if the request is backing off.
    retry: Option<TimerId>,
    last_backoff: Option<SimDuration>,
    class: u16,
    /// Its key seed: every attempt and call of the request looks up the
    /// same keys, so a retry of a miss misses again.
    key: u32,
    /// How long it had waited before t = 0 (queued in `[initial]`; zero
    /// for every request that arrives during the run).
    age: SimDuration,
    live: bool,
    /// Next free slot while this one is free (an intrusive free list).
    next_free: u32,
}

struct Source {
    arrivals: PoissonArrivals,
    rng: SimRng,
    timeout: Option<SimDuration>,
    deadline: Option<SimDuration>,
    /// Index into `World::balancers` (an implicit one for service targets).
    balancer: usize,
    retry: Retrier,
    /// Boxed, like the other rarely used parts, to keep the hot fields of a
    /// source on few cache lines.
    breaker: Option<Box<CircuitBreaker>>,
    throttle: Option<Box<Throttle>>,
    throttle_rng: SimRng,
    /// No retries and no deadline: one attempt is the whole request.
    single_shot: bool,
    /// A circuit breaker or throttling may refuse attempts.
    defended: bool,
    /// Active/active disaster recovery: (the other region's balancer, the
    /// share of this source's traffic it gets) until a failover.
    split: Option<(usize, f64)>,
    /// The service the source's requests reach (for event logs).
    service: usize,
    name: String,
    /// Request classes as (class, cumulative probability); empty without.
    class_mix: Vec<(u16, f64)>,
    /// The classes come from a trace's per-class rates
    /// (`TrafficSource::class_rates`), `class_mix` being only their fallback.
    class_by_rates: bool,
    class_rng: SimRng,
    /// Requests given a key seed so far (with caches only).
    keyed: u64,
    /// A closed-loop source's users (its `arrivals` never arrive).
    closed: Option<Box<closed_loop::Users>>,
}

/// Nodes of one service occupy `first_node .. first_node + nodes` in `World::nodes`.
struct ServiceState {
    name: String,
    first_node: usize,
    /// Node slots (the autoscaling maximum, else the node count).
    nodes: usize,
    autoscaler: Option<Autoscaler>,
    /// When the service's configuration was last deployed (drift is measured from here).
    last_deploy: SimTime,
    /// This service is a database.
    db: Option<Box<database::DbState>>,
    /// The service's rate limit, shared by its nodes.
    rate_limit: Option<crate::components::rate_limit::TokenBucket>,
    /// The service's call steps.
    steps: Vec<calls::StepRt>,
    /// The look-aside cache in front of the service.
    cache: Option<Box<cache::CacheState>>,
    /// The service is a serverless pool.
    pool: Option<Box<serverless::Pool>>,
}

struct BalancerState {
    name: String,
    balancer: Balancer,
    service: usize,
    /// The service's first node in `World::nodes`, and its node slots.
    first_node: usize,
    slots: usize,
    rng: SimRng,
    panic_threshold: f64,
    health_check: Option<crate::model::HealthCheckSpec>,
    /// Per node of the service: active health-check view.
    health: Vec<HealthState>,
    outlier: Option<OutlierDetector>,
    /// Nodes (service-local) the balancer currently routes to.
    candidates: Vec<u32>,
    /// Nodes (service-local) that belong in rotation: provisioned and not
    /// draining. Routing in panic mode uses all of them.
    members: Vec<u32>,
    panic: bool,
}

/// Per-node state the world keeps beside the [`Node`] component.
/// `repr(C)` keeps the fields read for every request (first) together on
/// the first cache lines.
#[repr(C)]
struct NodeExtra {
    sampler: DurationSampler,
    rng: SimRng,
    /// Service times need adjusting (a degradation fault or slowdown).
    adjusted: bool,
    /// The node's service queries a database for every request.
    uses_db: bool,
    /// After its own work, a request has more to do (calls, a database query).
    more_work: bool,
    /// A least-outstanding balancer's tree follows this node's outstanding count.
    tracked: bool,
    queue_timeout: Option<SimDuration>,
    /// The service has a memory model (checked on every request).
    has_memory: bool,
    /// Taken out of rotation to finish its work, then removed or restarted.
    draining: Option<Drain>,
    service: usize,
    local: u32,
    crash_loop: CrashLoop,
    /// Faults currently holding the node down; it cannot restart before 0.
    held_down: u32,
    /// Degradation faults active on the node, by fault index.
    active_faults: Vec<u32>,
    /// Overload watchdog: busy integral at the last tick, and since when
    /// every window has been hot.
    last_busy_area: u128,
    last_queue_area: u128,
    hot_since: Option<SimTime>,
    /// Memory leaked by served requests since the last start [MB].
    leaked_mb: f64,
    /// When the process last started (time-based leaks count from here).
    up_since: SimTime,
    /// Consecutive failed liveness probes.
    liveness_failures: u32,
    /// Stopped for a predictive restart and not up yet.
    restarting: bool,
    /// Recent (time [s], memory [MB]) samples for the predictive monitor.
    memory_samples: std::collections::VecDeque<(f64, f64)>,
    /// The node exists (is provisioned); autoscaled services have absent slots.
    present: bool,
    /// Scaled out and not running yet.
    provisioning: bool,
    /// Freshly started: not counted by the autoscaler, possibly slower.
    warming_until: Option<SimTime>,
    /// (busy, queue) integrals at the autoscaler's last evaluation.
    scale_areas: (u128, u128),
    /// Ready (up, not starting, not warming) at the autoscaler's last
    /// evaluation: its metric covers a whole window only if it still is.
    scale_ready: bool,
    /// Failed to join after a (re)start because of configuration drift;
    /// stays down until a redeploy.
    stuck: bool,
    /// Database connections free, and attempts waiting for one.
    pool_free: u32,
    pool_waiters: std::collections::VecDeque<u32>,
    /// Write-time sampler of a database instance.
    write_sampler: Option<DurationSampler>,
}

/// Why a node is draining, and so what happens when it is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drain {
    /// Scale-in: the node is removed.
    Remove,
    /// Predictive restart: the node restarts before it would fail.
    Restart,
}

struct FaultState {
    /// Global node indices the fault hits (chosen at its start).
    nodes: Vec<u32>,
    end: SimTime,
}

struct World<'s> {
    scenario: &'s Scenario,
    engine: Engine<Event>,
    sources: Vec<Source>,
    balancers: Vec<BalancerState>,
    services: Vec<ServiceState>,
    nodes: Vec<Node>,
    extra: Vec<NodeExtra>,
    faults: Vec<FaultState>,
    fault_rng: SimRng,
    error_rng: SimRng,
    drift_rng: SimRng,
    db_rng: SimRng,
    dr_rng: SimRng,
    dr: Option<dr::DrState>,
    restart_rng: SimRng,
    /// With caches: the run's salt for request key seeds.
    key_salt: Option<u64>,
    requests: Slab<Request>,
    attempts: Slab<Attempt>,
    calls: Slab<calls::CallRec>,
    /// Every call of every service's steps.
    edges: Vec<calls::Edge>,
    /// The last step token handed out.
    call_tokens: u32,
    /// Client and call attempts sent to each service, whole run, and at the warm-up's end.
    service_attempts: Vec<u64>,
    warm_service_attempts: Vec<u64>,
    recorder: Recorder,
    horizon: SimTime,
    /// Some service has a rate limit.
    rate_limited_services: bool,
    /// Some service is a serverless pool.
    serverless_services: bool,
    /// The scenario has a partition fault: attempts check the active ones.
    partitioned: bool,
    /// Some balancer keeps a tree over its nodes' loads (see `load_changed`).
    load_trees: bool,
    /// Partition faults in force now, by fault index.
    active_partitions: Vec<u32>,
    /// With calls between services: attempts per service and bin.
    graph: Option<Box<calls::GraphGauge>>,
    /// Attempts queued at t = 0 (`[initial]`), with their owner and how
    /// long they had waited before t = 0 (for queue-timeout shedding).
    /// Empty without an initial backlog.
    backlog_wait: std::collections::HashMap<u32, (Owner, SimDuration)>,
    /// Counts the capacity's per-bin ratios start from.
    capacity: capacity::CapacityGauge,
    /// Bursts, replayed timestamps and traffic timeline rows, if any.
    traffic: Option<Box<traffic::TrafficPlan>>,
    /// With caches, memory, databases or serverless pools: their per-bin samples.
    features: Option<Box<features::FeatureGauge>>,
}

/// Runs replication `run_index` of `scenario` from its base seed, keeping
/// its event log in the record.
pub fn run(scenario: &Scenario, run_index: u64) -> Result<RunRecord, SimError> {
    run_logging(scenario, run_index, EventLog::Keep)
}

/// Runs replication `run_index` of `scenario`, its event rows going to
/// `log`. The rest of the record, the summary included, does not depend on
/// where they go.
pub fn run_logging(scenario: &Scenario, run_index: u64, log: EventLog) -> Result<RunRecord, SimError> {
    let sim = &scenario.simulation;
    let seed = sim.seed;
    let horizon = SimTime::ZERO + sim.duration;
    let mut world = World::new(scenario, run_index, horizon);
    world.recorder.set_event_log(log);
    world.start(run_index);
    while let Some((now, event)) = world.engine.next_until(horizon) {
        world.handle(now, event);
    }
    world.engine.advance_to(horizon);
    #[cfg(debug_assertions)]
    world.check_links();

    // Conservation: count outstanding requests independently of the
    // counters: request records, plus single-shot attempts whose client
    // still waits.
    let single_shot_waiting = world
        .attempts
        .slots()
        .iter()
        .filter(|a| a.live && matches!(a.owner, Owner::Single { .. }) && a.state != AttemptState::Abandoned)
        .count();
    let in_flight_counted = (world.requests.slots().iter().filter(|r| r.live).count() + single_shot_waiting) as u64;
    let events = world.engine.delivered();
    let labels: Vec<NodeLabel> = world
        .extra
        .iter()
        .zip(&world.nodes)
        .map(|(x, n)| NodeLabel {
            service: world.services[x.service].name.clone(),
            index: x.local,
            workers: n.workers(),
        })
        .collect();
    let areas = world.node_areas(horizon);
    let fleet = world.fleet_snapshot();
    world.check_calls_conserved(run_index)?;
    let (service_attempts, calls) = world.graph_counts();
    let caches: Vec<_> = world.services.iter().filter_map(|s| s.cache.as_ref().map(|c| c.summary(&s.name))).collect();
    let pools: Vec<_> = world.services.iter().filter_map(|s| s.pool.as_ref().map(|p| p.summary(&s.name))).collect();
    // The recorder closes a last, partial bin at the horizon.
    let bin_count = world.recorder.bins_after_finish(horizon);
    while world.features.as_ref().is_some_and(|f| f.sampled < bin_count) {
        world.sample_features(horizon);
    }
    let (mut summary, bins, node_bins, class_bins, log) =
        world.recorder.finish(horizon, &labels, &areas, fleet, events);
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
    calls::fill_graph_summary(&mut summary, &service_attempts, calls);
    summary.caches = caches;
    summary.serverless = pools;
    summary.databases = world.services.iter().filter_map(|s| s.db.as_ref().map(|db| db.summary(&s.name))).collect();
    summary.disaster_recovery = world.dr.as_ref().and_then(|d| d.summary.clone());
    summary.recovery.rto_breakdown = rto_breakdown(scenario, &summary);
    Ok(RunRecord {
        scenario: scenario.name.clone(),
        run_index,
        seed,
        duration: sim.duration,
        warmup: sim.warmup,
        bin: sim.bin,
        nodes: labels,
        slo: crate::metrics::SloSummary::of(&scenario.slo),
        summary,
        node_bins,
        class_bins,
        service_bins: match world.graph.as_mut() {
            Some(graph) => {
                // The recorder closed a last, partial bin at the horizon.
                let services = world.service_attempts.len();
                while graph.service_bins.len() < bins.len() * services {
                    graph.close_bin(&world.service_attempts);
                }
                std::mem::take(&mut graph.service_bins)
            }
            None => Vec::new(),
        },
        features: world.features.take().map(|f| f.bins).unwrap_or_default(),
        bins,
        events: log,
    })
}

/// Splits the RTO when the disruption was a database primary failure:
/// detection and promotion come from the database's settings, catch-up is
/// the rest.
fn rto_breakdown(scenario: &Scenario, summary: &crate::metrics::RunSummary) -> Option<crate::metrics::RtoBreakdown> {
    let rec = &summary.recovery;
    let (disrupted, rto) = (rec.disrupted_at_s?, rec.rto_s?);
    if let Some(d) = &summary.disaster_recovery
        && (d.disaster_at_s - disrupted).abs() < 1e-9
    {
        let detected = d.detected_at_s? - d.disaster_at_s;
        let serving = d.traffic_shifted_at_s?.max(d.standby_ready_at_s?) - d.disaster_at_s;
        return Some(crate::metrics::RtoBreakdown {
            detection_s: detected,
            failover_s: serving - detected,
            catch_up_s: (rto - serving).max(0.0),
        });
    }
    for db in &summary.databases {
        let Some(f) = db.failovers.first() else { continue };
        if (f.primary_failed_at_s - disrupted).abs() > 1e-9 {
            continue;
        }
        let spec = scenario.services.iter().find(|s| s.name == db.database)?.database.as_ref()?;
        let promoted = f.promoted_at_s? - f.primary_failed_at_s;
        let detection = spec.failover_detection.as_secs_f64().min(promoted);
        return Some(crate::metrics::RtoBreakdown {
            detection_s: detection,
            failover_s: promoted - detection,
            catch_up_s: (rto - promoted).max(0.0),
        });
    }
    None
}

/// Every arrival is accounted for exactly once: completed, failed, or still
/// in flight by an independent count of the outstanding requests.
fn conserved(c: &Conservation, in_flight_counted: u64) -> bool {
    c.arrivals == c.completed + c.failed + in_flight_counted && c.in_flight == in_flight_counted
}

impl<'s> World<'s> {
    fn new(scenario: &'s Scenario, run_index: u64, horizon: SimTime) -> Self {
        let seed = scenario.simulation.seed;
        let mut nodes = Vec::new();
        let mut extra = Vec::new();
        let mut services = Vec::new();
        for (s, service) in scenario.services.iter().enumerate() {
            services.push(ServiceState {
                name: service.name.clone(),
                first_node: nodes.len(),
                nodes: service.slots() as usize,
                autoscaler: service.autoscaling.clone().map(Autoscaler::new),
                last_deploy: SimTime::ZERO,
                db: service.database.as_ref().map(|d| Box::new(database::DbState::new(d, nodes.len()))),
                rate_limit: service.rate_limit.as_ref().map(crate::components::rate_limit::TokenBucket::new),
                steps: Vec::new(),
                cache: service.cache.as_ref().map(|c| {
                    let filled = initial::cache_keys_filled(scenario, s, c);
                    Box::new(cache::CacheState::new(c, stream(seed, run_index, StreamKind::Cache, s as u64), filled))
                }),
                pool: service.serverless.as_ref().map(|p| {
                    Box::new(serverless::Pool::new(p, stream(seed, run_index, StreamKind::ColdStart, s as u64)))
                }),
            });
            for i in 0..service.slots() {
                let global = nodes.len() as u64;
                nodes.push(Node::with_order(service.workers, service.queue_capacity, service.queue_order));
                extra.push(NodeExtra {
                    service: s,
                    local: i,
                    sampler: DurationSampler::new(&service.service_time),
                    rng: stream(seed, run_index, StreamKind::ServiceTime, global),
                    crash_loop: CrashLoop::default(),
                    held_down: 0,
                    active_faults: Vec::new(),
                    last_busy_area: 0,
                    last_queue_area: 0,
                    hot_since: None,
                    queue_timeout: service.queue_timeout,
                    has_memory: service.memory.is_some(),
                    leaked_mb: 0.0,
                    up_since: SimTime::ZERO,
                    liveness_failures: 0,
                    restarting: false,
                    memory_samples: std::collections::VecDeque::new(),
                    // Serverless: cold starts lengthen some service times.
                    adjusted: service.slowdown.is_some() || service.serverless.is_some(),
                    present: i < service.nodes,
                    draining: None,
                    provisioning: false,
                    warming_until: None,
                    scale_areas: (0, 0),
                    scale_ready: i < service.nodes,
                    stuck: false,
                    pool_free: service.uses_database.as_ref().map_or(0, |u| u.pool),
                    pool_waiters: std::collections::VecDeque::new(),
                    write_sampler: service.database.as_ref().map(|d| DurationSampler::new(&d.write_time)),
                    uses_db: service.uses_database.is_some(),
                    more_work: service.uses_database.is_some() || !service.calls.is_empty(),
                    tracked: false,
                });
                if i >= service.nodes {
                    // An empty autoscaling slot: no process until provisioned.
                    let last = nodes.len() - 1;
                    nodes[last].crash(SimTime::ZERO);
                }
            }
        }
        // Balancers from the scenario, then one implicit round-robin balancer
        // per service for sources that target a service directly.
        let mut balancers = Vec::new();
        let implicit = scenario.services.iter().enumerate().map(|(s, _)| crate::model::Balancer {
            name: scenario.services[s].name.clone(),
            policy: crate::model::BalancePolicy::RoundRobin,
            tie_break: crate::model::TieBreak::Rotate,
            weights: Vec::new(),
            service: s,
            panic_threshold: 0.0,
            health_check: None,
            outlier_detection: None,
        });
        for (i, b) in scenario.balancers.iter().cloned().chain(implicit).enumerate() {
            let n = services[b.service].nodes;
            balancers.push(BalancerState {
                name: b.name.clone(),
                balancer: Balancer::with(b.policy, b.tie_break, &b.weights, n),
                service: b.service,
                first_node: services[b.service].first_node,
                slots: n,
                rng: stream(seed, run_index, StreamKind::Balancer, i as u64),
                panic_threshold: b.panic_threshold,
                health_check: b.health_check.clone(),
                health: vec![HealthState::default(); n],
                outlier: b.outlier_detection.clone().map(|o| OutlierDetector::new(o, n)),
                candidates: (0..n as u32).collect(),
                members: (0..n as u32).collect(),
                panic: false,
            });
            let bs = balancers.last_mut().expect("just pushed");
            if bs.balancer.tracks_loads() {
                let first = bs.first_node;
                bs.balancer.routing_set_changed(&bs.candidates, &nodes[first..first + n]);
                extra[first..first + n].iter_mut().for_each(|x: &mut NodeExtra| x.tracked = true);
            }
        }
        let load_trees = extra.iter().any(|x: &NodeExtra| x.tracked);
        let implicit_base = scenario.balancers.len();
        let sources = scenario
            .traffic
            .iter()
            .enumerate()
            .map(|(i, t)| Source {
                arrivals: match t.closed_loop {
                    Some(_) => PoissonArrivals::never(),
                    None => PoissonArrivals::new(&t.rate),
                },
                rng: stream(seed, run_index, StreamKind::Arrivals, i as u64),
                timeout: t.timeout,
                deadline: t.deadline,
                balancer: match t.target {
                    Target::Balancer(b) => b,
                    Target::Service(s) => implicit_base + s,
                },
                retry: Retrier::new(t.retry.as_ref(), stream(seed, run_index, StreamKind::Retry, i as u64)),
                single_shot: t.retry.is_none() && t.deadline.is_none(),
                defended: t.circuit_breaker.is_some() || t.throttling.is_some(),
                split: scenario.disaster_recovery.as_ref().and_then(|d| {
                    let balancer = match t.target {
                        Target::Balancer(b) => b,
                        Target::Service(s) => implicit_base + s,
                    };
                    (d.strategy == crate::model::DrStrategy::ActiveActive && balancer == d.primary)
                        .then_some((d.standby, d.active_share))
                }),
                breaker: t.circuit_breaker.clone().map(|b| Box::new(CircuitBreaker::new(b))),
                throttle: t.throttling.as_ref().map(|t| Box::new(Throttle::new(t))),
                throttle_rng: stream(seed, run_index, StreamKind::Throttle, i as u64),
                service: scenario.target_service(t.target),
                name: t.name.clone(),
                class_mix: t
                    .class_mix
                    .iter()
                    .scan(0.0, |cumulative, &(class, p)| {
                        *cumulative += p;
                        Some((class, *cumulative))
                    })
                    .collect(),
                class_by_rates: !t.class_rates.is_empty(),
                class_rng: stream(seed, run_index, StreamKind::Classes, i as u64),
                keyed: 0,
                closed: t.closed_loop.as_ref().map(|c| {
                    Box::new(closed_loop::Users::new(c, stream(seed, run_index, StreamKind::ThinkTime, i as u64)))
                }),
            })
            .collect();
        let mut edges = Vec::new();
        for (s, service) in scenario.services.iter().enumerate() {
            for (i, step) in service.calls.iter().enumerate() {
                services[s].steps.push(calls::StepRt {
                    classes: step.classes,
                    first_edge: edges.len() as u32,
                    calls: step.calls.len() as u16,
                    wait_for: step.wait_for as u16,
                });
                for call in &step.calls {
                    edges.push(calls::Edge {
                        caller: s,
                        callee: call.service,
                        step: i as u32,
                        balancer: match call.target {
                            Target::Balancer(b) => b,
                            Target::Service(x) => implicit_base + x,
                        },
                        timeout: call.timeout,
                        retry: Retrier::new(
                            call.retry.as_ref(),
                            stream(seed, run_index, StreamKind::CallRetry, edges.len() as u64),
                        ),
                        bulkhead: call.bulkhead,
                        write_ratio: call.write_ratio,
                        in_flight: vec![0; services[s].nodes],
                        breaker: call.circuit_breaker.clone(),
                        breakers: match &call.circuit_breaker {
                            Some(spec) => vec![CircuitBreaker::new(spec.clone()); services[s].nodes],
                            None => Vec::new(),
                        },
                        counts: calls::EdgeCounts::default(),
                        warm: calls::EdgeCounts::default(),
                    });
                }
            }
        }
        let faults = scenario.faults.iter().map(|_| FaultState { nodes: Vec::new(), end: horizon }).collect();
        let node_count = nodes.len();
        let mut dr_rng = stream(seed, run_index, StreamKind::Disaster, 0);
        let dr = scenario.disaster_recovery.as_ref().map(|spec| dr::DrState::new(spec, &mut dr_rng));
        // The standby service starts with only the nodes its strategy keeps running.
        if let Some(spec) = &scenario.disaster_recovery {
            let standby = &services[scenario.balancers[spec.standby].service];
            let running = dr::DrState::standby_running(spec, standby.nodes as u32) as usize;
            for node in standby.first_node + running..standby.first_node + standby.nodes {
                extra[node].present = false;
                nodes[node].crash(SimTime::ZERO);
            }
        }
        let mut recorder = Recorder::new(node_count, scenario.simulation.warmup, scenario.simulation.bin, horizon);
        let source_names: Vec<String> = scenario.traffic.iter().map(|t| t.name.clone()).collect();
        recorder.set_sources(&source_names);
        recorder.set_classes(&scenario.classes);
        recorder.set_slo(scenario.slo.clone());
        World {
            scenario,
            engine: Engine::new(),
            sources,
            balancers,
            services,
            nodes,
            extra,
            faults,
            fault_rng: stream(seed, run_index, StreamKind::Faults, 0),
            error_rng: stream(seed, run_index, StreamKind::Errors, 0),
            drift_rng: stream(seed, run_index, StreamKind::Drift, 0),
            db_rng: stream(seed, run_index, StreamKind::Database, 0),
            dr_rng,
            dr,
            restart_rng: stream(seed, run_index, StreamKind::Restart, 0),
            // Index u32::MAX + 1 lies outside the per-cache streams' indices.
            key_salt: scenario
                .services
                .iter()
                .any(|s| s.cache.is_some())
                .then(|| stream_seed(seed, run_index, StreamKind::Cache, 1 << 32)),
            requests: Slab::new(),
            attempts: Slab::new(),
            calls: Slab::new(),
            edges,
            call_tokens: 0,
            service_attempts: vec![0; scenario.services.len()],
            warm_service_attempts: vec![0; scenario.services.len()],
            recorder,
            horizon,
            rate_limited_services: scenario.services.iter().any(|s| s.rate_limit.is_some()),
            serverless_services: scenario.services.iter().any(|s| s.serverless.is_some()),
            load_trees,
            partitioned: scenario.faults.iter().any(|f| matches!(f.kind, crate::model::FaultKind::Partition { .. })),
            active_partitions: Vec::new(),
            graph: scenario
                .services
                .iter()
                .any(|s| !s.calls.is_empty())
                .then(|| Box::new(calls::GraphGauge::new(scenario.services.len()))),
            capacity: capacity::CapacityGauge::new(scenario),
            backlog_wait: std::collections::HashMap::new(),
            traffic: traffic::TrafficPlan::new(scenario),
            features: None,
        }
    }

    fn start(&mut self, run_index: u64) {
        self.features = self.feature_gauge();
        for i in 0..self.sources.len() {
            self.schedule_next_arrival(i, SimTime::ZERO);
            self.start_users(i);
        }
        self.start_traffic_plan();
        self.schedule_bin_end();
        let warmup_end = self.recorder.warmup_end();
        if warmup_end > SimTime::ZERO {
            self.engine.schedule_at(warmup_end, Event::WarmupEnd);
        }
        for (i, fault) in self.scenario.faults.iter().enumerate() {
            self.engine.schedule_at(fault.at, Event::FaultStart { fault: i as u32 });
        }
        for b in 0..self.balancers.len() {
            if let Some(hc) = &self.balancers[b].health_check {
                let first = SimTime::ZERO + hc.interval;
                self.engine.schedule_at(first, Event::HealthCheck { balancer: b as u32 });
            }
        }
        for s in 0..self.services.len() {
            if let Some(o) = &self.scenario.services[s].overload_crash {
                let first = SimTime::ZERO + o.window;
                self.engine.schedule_at(first, Event::OverloadTick { service: s as u32 });
            }
            if let Some(every) = self.memory_tick_interval(s) {
                self.engine.schedule_at(SimTime::ZERO + every, Event::MemoryTick { service: s as u32 });
            }
            if let Some(l) = &self.scenario.services[s].liveness {
                self.engine.schedule_at(SimTime::ZERO + l.interval, Event::LivenessTick { service: s as u32 });
            }
            if let Some(a) = &self.scenario.services[s].autoscaling {
                let first = SimTime::ZERO + a.evaluation_period;
                self.engine.schedule_at(first, Event::ScaleTick { service: s as u32 });
            }
            self.refresh_membership(SimTime::ZERO, s);
        }
        if !self.scenario.initial.is_empty() {
            self.apply_initial_state(run_index);
        }
    }

    #[inline(always)]
    fn handle(&mut self, now: SimTime, event: Event) {
        match event {
            Event::Arrival { source } => self.on_arrival(now, source as usize),
            Event::ThinkEnd { source } => self.on_think_end(now, source as usize),
            Event::PopulationChange { source, step } => self.on_population_change(now, source as usize, step as usize),
            Event::ServiceDone { node, attempt, incarnation } => {
                self.on_service_done(now, node as usize, attempt, incarnation)
            }
            Event::AttemptTimeout { attempt } => self.on_attempt_timeout(now, attempt),
            Event::Deadline { request } => self.on_deadline(now, request),
            Event::Retry { request } => self.on_retry(now, request),
            Event::CallRetry { call } => self.on_call_retry(now, call),
            Event::CacheLookup { call } => self.on_cache_lookup(now, call),
            Event::BinEnd => {
                let areas = self.node_areas(now);
                let fleet = self.fleet_snapshot();
                self.recorder.close_bin(now, &areas, fleet);
                if let Some(graph) = self.graph.as_mut() {
                    graph.close_bin(&self.service_attempts);
                }
                if self.features.is_some() {
                    self.sample_features(now);
                }
                self.schedule_bin_end();
            }
            Event::WarmupEnd => {
                let areas = self.node_areas(now);
                self.recorder.end_warmup(&areas);
                self.warm_service_attempts.clone_from(&self.service_attempts);
                for e in &mut self.edges {
                    e.warm = e.counts;
                }
                for s in &mut self.services {
                    if let Some(c) = s.cache.as_mut() {
                        c.end_warmup();
                    }
                    if let Some(p) = s.pool.as_mut() {
                        p.end_warmup();
                    }
                }
            }
            Event::FaultStart { fault } => self.on_fault_start(now, fault as usize),
            Event::FaultEnd { fault } => self.on_fault_end(now, fault as usize),
            Event::RandomCrash { fault, node } => self.on_random_crash(now, fault as usize, node as usize),
            Event::RandomRepair { fault, node } => self.on_random_repair(now, fault as usize, node as usize),
            Event::Restart { node, incarnation } => self.on_restart(now, node as usize, incarnation),
            Event::HealthCheck { balancer } => self.on_health_check(now, balancer as usize),
            Event::EjectionEnd { balancer, node } => self.on_ejection_end(now, balancer as usize, node as usize),
            Event::OverloadTick { service } => self.on_overload_tick(now, service as usize),
            Event::MemoryTick { service } => self.on_memory_tick(now, service as usize),
            Event::LivenessTick { service } => self.on_liveness_tick(now, service as usize),
            Event::ScaleTick { service } => self.on_scale_tick(now, service as usize),
            Event::Provisioned { node } => self.on_provisioned(now, node as usize),
            Event::RollingStep { fault, step } => self.on_rolling_step(now, fault as usize, step as usize),
            Event::FailoverStart { service } => self.on_failover_start(now, service as usize),
            Event::FailoverDone { service } => self.on_failover_done(now, service as usize),
            Event::DrDetected => self.on_dr_detected(now),
            Event::DrShift => self.on_dr_shift(now),
            Event::Scheduled { index } => self.on_scheduled(now, index),
            Event::TrafficMark { index } => self.on_traffic_mark(now, index),
        }
    }

    /// Schedules the end of the current bin. It comes before the other
    /// events at that instant, so a bin [a, b) holds what happened in it and
    /// its gauges (nodes up, capacity…) are the state just before b: a crash
    /// at b shows in the next bin. The run's last bin, ending at the
    /// horizon, closes after every event of the run instead.
    fn schedule_bin_end(&mut self) {
        let bin_end = self.recorder.bin_end();
        if bin_end < self.horizon {
            self.engine.schedule_first_at(bin_end, Event::BinEnd);
        } else {
            self.engine.schedule_at(bin_end, Event::BinEnd);
        }
    }

    /// Each node's (busy, queue) integrals up to `now`.
    fn node_areas(&mut self, now: SimTime) -> Vec<NodeTotals> {
        self.nodes.iter_mut().map(|n| n.totals(now)).collect()
    }

    /// The fleet now: nodes up, down, unhealthy and ejected, and the
    /// capacity for the request mix (see `capacity`).
    fn fleet_snapshot(&mut self) -> FleetSnapshot {
        let mut snap = FleetSnapshot::default();
        // Per service: attempts a second its nodes in rotation could complete.
        let mut rate = vec![0.0f64; self.services.len()];
        let cold_start_secs: Vec<f64> = (0..self.services.len()).map(|s| self.cold_start_share_secs(s)).collect();
        for (node, x) in self.nodes.iter().zip(&self.extra) {
            if !x.present {
                continue;
            }
            if !node.is_up() {
                snap.down += 1;
                continue;
            }
            snap.up += 1;
            let local = x.local as usize;
            let mut routed_around = false;
            for b in self.balancers.iter().filter(|b| b.service == x.service) {
                let unhealthy = !b.health[local].healthy();
                let ejected = b.outlier.as_ref().is_some_and(|o| o.is_ejected(local));
                snap.unhealthy += unhealthy as u32;
                snap.ejected += ejected as u32;
                routed_around |= !b.panic && (unhealthy || ejected);
            }
            if !routed_around {
                let mean_s = self.scenario.services[x.service].service_time.mean_secs() * node.degradation.slowdown
                    + node.degradation.extra_ns as f64 / 1e9
                    + cold_start_secs[x.service];
                if mean_s > 0.0 {
                    rate[x.service] += node.usable_workers() as f64 / mean_s * (1.0 - node.degradation.error_fraction);
                }
            }
        }
        snap.capacity_rps = self.capacity_rps(&rate);
        snap
    }

    fn log(&mut self, now: SimTime, node: usize, event: &'static str, detail: String) {
        let x = &self.extra[node];
        let service = self.services[x.service].name.clone();
        self.recorder.log(now, &service, Some(x.local), event, detail);
    }

    fn log_service(&mut self, now: SimTime, service: usize, event: &'static str, detail: String) {
        let name = self.services[service].name.clone();
        self.recorder.log(now, &name, None, event, detail);
    }

    /// Debug builds: requests and their attempts point at each other.
    #[cfg(debug_assertions)]
    fn check_links(&self) {
        for (id, r) in self.requests.slots().iter().enumerate() {
            if let (true, Some(a)) = (r.live, r.attempt) {
                let at = &self.attempts[a];
                assert!(at.live && at.owner == Owner::Client { request: id as u32 }, "request {id} -> attempt {a}");
                assert!(at.state != AttemptState::Abandoned, "request {id} waits on an abandoned attempt");
            }
        }
        for (id, a) in self.attempts.slots().iter().enumerate() {
            if let (true, Owner::Client { request }) = (a.live, a.owner)
                && a.state != AttemptState::Abandoned
            {
                let r = &self.requests[request];
                assert!(r.live && r.attempt == Some(id as u32), "attempt {id} -> request {request}");
            }
        }
    }

    /// The key seed of a new client request from `source`: a pure function
    /// of the run, the source and the request's number, so the keys do not
    /// draw from any other stream and request n asks for the same keys at
    /// every point of a sweep. 0 when nothing is cached.
    #[inline(always)]
    fn request_key(&mut self, source: usize) -> u32 {
        if self.key_salt.is_none() {
            return 0; // nothing cached: one test per request, not a call
        }
        self.next_request_key(source)
    }

    fn next_request_key(&mut self, source: usize) -> u32 {
        let Some(salt) = self.key_salt else { return 0 };
        let s = &mut self.sources[source];
        s.keyed += 1;
        stream_seed(salt, source as u64, StreamKind::Cache, s.keyed) as u32
    }

    /// Creates an attempt of `owner` at `node`, arms its timeout, and hands
    /// it to the node.
    #[inline(always)]
    fn launch_attempt(
        &mut self,
        now: SimTime,
        node: usize,
        owner: Owner,
        timeout: Option<SimDuration>,
        class: u16,
    ) -> u32 {
        let key = match owner {
            Owner::Client { request } => self.requests[request].key,
            Owner::Call { call, .. } => self.calls[call].key_seed,
            Owner::Single { source } => self.request_key(source as usize),
            _ => 0,
        };
        let id = self.attempts.insert(Attempt {
            owner,
            node: node as u32,
            sent: now,
            timeout: None,
            state: AttemptState::Queued,
            live: true,
            next_free: NO_SLOT,
            db_phase: false,
            db_call: NO_SLOT,
            class,
            cold_start: false,
            timeout_pending: false,
            step: 0,
            calls_ok: 0,
            calls_failed: 0,
            token: 0,
            key,
        });
        // Every attempt of a source or edge has the same timeout: its lane.
        // When the node will take the attempt (nearly always, in a calm
        // run), its timer is set now. Otherwise only its place in the order
        // is taken, and the timer is set only if the attempt is still out
        // there after the node has seen it: a node that refuses at once
        // (down, full) would leave a cancelled timer behind, much of a
        // collapsed run's cost per failed attempt.
        debug_assert!(timeout.is_none() || now == self.engine.now());
        let mut reserved = None;
        if let Some(timeout) = timeout {
            if self.nodes[node].would_admit() {
                let timer = self.engine.schedule_timer_in(timeout, Event::AttemptTimeout { attempt: id });
                self.attempts[id].timeout = Some(timer);
            } else {
                reserved = Some(self.engine.reserve_timer_in(timeout));
                self.attempts[id].timeout_pending = true;
            }
        }
        // The request knows its attempt before the node sees it: the node may
        // fail it at once, and the failure path clears this again.
        match owner {
            Owner::Client { request } => self.requests[request].attempt = Some(id),
            Owner::Call { call, .. } => self.calls[call].attempt = Some(id),
            _ => {}
        }
        // (One flag first: scenarios without partitions pay a single branch.)
        if !(self.partitioned && self.request_cut(now, id)) {
            self.offer(now, node, id);
        }
        if let Some(reserved) = reserved {
            self.set_reserved_timeout(id, reserved);
        }
        id
    }

    /// Sets the reserved timeout of attempt `id` if it is still pending:
    /// still pending means still this attempt (a failed one is freed, and
    /// an attempt launched meanwhile into its slot has set its own timer).
    #[cold]
    #[inline(never)]
    fn set_reserved_timeout(&mut self, id: u32, reserved: crate::engine::TimerKey) {
        let a = &self.attempts[id];
        if a.live && a.timeout_pending {
            let timer = self.engine.schedule_reserved(reserved, Event::AttemptTimeout { attempt: id });
            let a = &mut self.attempts[id];
            a.timeout = Some(timer);
            a.timeout_pending = false;
        }
    }
}

/// Requests and attempts carry `live` and `next_free` for their slabs.
macro_rules! slab_slot {
    ($t:ty) => {
        impl Slot for $t {
            fn is_live(&self) -> bool {
                self.live
            }
            fn release(&mut self, next_free: u32) {
                self.live = false;
                self.next_free = next_free;
            }
            fn next_free(&self) -> u32 {
                self.next_free
            }
        }
    };
}
slab_slot!(Request);
slab_slot!(Attempt);
slab_slot!(calls::CallRec);

/// Whether a failure cause is the backend's doing (and so counts for
/// outlier detection and circuit breakers), rather than the client's own
/// (deadline, breaker, throttling). Envoy counts 5xx, resets and timeouts
/// alike when it does not split local and external errors.
fn counts_against_node(cause: FailureCause) -> bool {
    !matches!(cause, FailureCause::Deadline | FailureCause::CircuitOpen | FailureCause::Throttled)
}

#[cfg(test)]
mod tests {
    use super::*;

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
