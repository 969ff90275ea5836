//! Scenario files: TOML text -> [`raw`] serde structs -> a validated
//! [`Scenario`] whose cross-references are resolved to indices and whose
//! values are in engine units (ns, requests per second).
//!
//! Everything a user can get wrong is reported here as a [`ScenarioError`]
//! naming the file, line:column, key path and problem; nothing downstream
//! needs to re-check user input.

pub mod error;
pub mod initial;
pub mod origin;
pub mod overrides;
pub mod partition;
pub mod raw;
pub mod trace;
mod validate;

pub use validate::is_folder_name;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

pub use error::ScenarioError;
pub use initial::{CacheStart, FailoverPhase, InitialFailover, InitialService, InitialState};
pub use origin::Origin;

use crate::time::{SimDuration, SimTime};

/// The scenario-file format version this build reads.
pub const FORMAT_VERSION: i64 = 1;

/// A scenario file's text, read with the same checks and messages as
/// [`Scenario::from_file`], for callers that edit it before validation.
pub struct ScenarioSource {
    pub text: String,
    /// The path as the user wrote it, for messages.
    pub label: String,
    /// The file stem: the scenario's name when the file has no `name`.
    pub stem: Option<String>,
}

/// The folder of scenario file `file` (the current one for a bare name).
pub fn scenario_dir(file: &str) -> &Path {
    Path::new(file).parent().unwrap_or(Path::new(""))
}

/// The largest scenario file read: far above any hand-written scenario
/// (the examples are a few KiB).
pub const MAX_SCENARIO_BYTES: u64 = 16 << 20;

impl ScenarioSource {
    pub fn read(path: &Path) -> Result<ScenarioSource, ScenarioError> {
        let label = path.display().to_string();
        let whole_file =
            |message: String| ScenarioError { file: label.clone(), position: None, key: String::new(), message };
        let meta = std::fs::metadata(path).map_err(|e| {
            whole_file(if e.kind() == std::io::ErrorKind::NotFound {
                "no such file".to_string()
            } else {
                format!("cannot read: {e}")
            })
        })?;
        if meta.is_dir() {
            return Err(whole_file("is a directory, expected a scenario .toml file".to_string()));
        }
        // Read at most one byte past the limit, so a file like /dev/zero (or
        // a huge one) is refused instead of read until memory runs out.
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_SCENARIO_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| whole_file(format!("cannot read: {e}")))?;
        if bytes.len() as u64 > MAX_SCENARIO_BYTES {
            return Err(whole_file(format!(
                "is larger than {} MiB, too large for a scenario file",
                MAX_SCENARIO_BYTES >> 20
            )));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| whole_file("is not UTF-8 text, so not a TOML scenario file".to_string()))?;
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        Ok(ScenarioSource { text, label, stem })
    }
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Names the output folder; from `name`, else the file stem.
    pub name: String,
    pub description: Option<String>,
    pub simulation: Simulation,
    pub traffic: Vec<TrafficSource>,
    /// Request classes over all sources, in name order.
    pub classes: Vec<String>,
    pub balancers: Vec<Balancer>,
    pub services: Vec<Service>,
    pub faults: Vec<Fault>,
    pub slo: Slo,
    pub disaster_recovery: Option<DrSpec>,
    /// The state at t = 0 (`[initial]`); empty: an idle system.
    pub initial: InitialState,
    /// The file, its digest and its story, for the output files; no part
    /// of the simulation reads it.
    pub origin: Origin,
}

/// Disaster recovery between two regions: when the primary balancer's
/// region goes down, the outage is detected after `detection`, the standby
/// is made ready according to the strategy, and clients follow the DNS
/// change `dns_ttl` after the detection.
#[derive(Debug, Clone, PartialEq)]
pub struct DrSpec {
    pub strategy: DrStrategy,
    /// Balancer indices.
    pub primary: usize,
    pub standby: usize,
    pub detection: SimDuration,
    pub dns_ttl: SimDuration,
    /// Active/active: share of the primary's clients served by the standby region.
    pub active_share: f64,
    /// Warm standby: nodes of the standby service running before the disaster.
    pub standby_nodes: u32,
    /// Warm standby: time to scale the running copy up to full size.
    pub scale_up: Distribution,
    /// Pilot light and backup & restore: time to provision compute.
    pub provisioning: Distribution,
    /// Replicated tiers: how data reaches the standby region.
    pub synchronous: bool,
    pub lag: Distribution,
    /// Backup & restore: backups every `backup_interval`; restoring takes
    /// data_gb / restore_gb_per_min minutes.
    pub backup_interval: SimDuration,
    pub restore: SimDuration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrStrategy {
    /// Both regions serve all the time; the survivor takes everything.
    ActiveActive,
    /// A scaled-down copy runs; it scales up after the failover.
    WarmStandby,
    /// Data is replicated; compute is provisioned on failover.
    PilotLight,
    /// Only backups exist: restore the data, then provision compute.
    BackupRestore,
}

impl DrStrategy {
    pub fn name(self) -> &'static str {
        match self {
            DrStrategy::ActiveActive => "active-active",
            DrStrategy::WarmStandby => "warm-standby",
            DrStrategy::PilotLight => "pilot-light",
            DrStrategy::BackupRestore => "backup-restore",
        }
    }
}

/// The service-level objective recovery is judged by: per SLI `window`,
/// at least `goodput` of the offered requests succeed (and, if set, the
/// p99 latency stays within `latency_p99`); restored means the SLO held for
/// `hold`. `rto_objective` is the recovery time the design promises,
/// `rpo_objective` the data loss.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    pub goodput: f64,
    pub latency_p99: Option<SimDuration>,
    pub window: SimDuration,
    pub hold: SimDuration,
    pub rto_objective: Option<SimDuration>,
    /// The data-loss window the design promises (charts draw it).
    pub rpo_objective: Option<SimDuration>,
}

impl Default for Slo {
    fn default() -> Self {
        Slo {
            goodput: 0.95,
            latency_p99: None,
            window: SimDuration::from_secs(10),
            hold: SimDuration::from_secs(60),
            rto_objective: None,
            rpo_objective: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// Simulated time to run [ns].
    pub duration: SimDuration,
    /// Initial span excluded from the per-run statistics [ns].
    pub warmup: SimDuration,
    pub seed: u64,
    /// Width of one time-series bin [ns].
    pub bin: SimDuration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrafficSource {
    pub name: String,
    /// The arrival rate of an open-loop (Poisson) source. For a closed-loop
    /// source, a constant bound on what it can offer (its peak users over
    /// the mean think time), so that estimates of work stay upper bounds;
    /// its requests come from `closed_loop`, never from this rate.
    pub rate: RateSchedule,
    /// A closed-loop source: users who wait for each request to end, then think.
    pub closed_loop: Option<ClosedLoop>,
    /// Each attempt's client timeout; `None` waits forever.
    pub timeout: Option<SimDuration>,
    /// Total time budget of a request across all its attempts and backoffs.
    pub deadline: Option<SimDuration>,
    pub target: Target,
    pub retry: Option<RetrySpec>,
    pub circuit_breaker: Option<BreakerSpec>,
    pub throttling: Option<ThrottleSpec>,
    /// Request classes as (index in `Scenario::classes`, probability);
    /// empty when the source's requests have no class. For a trace with a
    /// `class` column: each class's share of the traffic over the run (for
    /// estimates; requests draw their class from `class_rates`).
    pub class_mix: Vec<(u16, f64)>,
    /// A trace with a `class` column: each class's own rate, in the same
    /// order as `class_mix`, `rate` being their sum. A request arriving at
    /// t is of class k with probability rate_k(t) / rate(t). Empty otherwise.
    pub class_rates: Vec<(u16, RateSchedule)>,
    /// Burst occurrences, every recurrence expanded, in time order.
    pub bursts: Vec<Burst>,
    /// A trace's exact arrival instants (`trace_mode = "timestamps"`), sorted.
    pub replay: Vec<SimTime>,
    pub trace: Option<TraceInfo>,
}

impl TrafficSource {
    /// Requests at given instants (bursts, replayed timestamps) before `horizon`.
    pub fn scheduled_requests(&self, horizon: SimTime) -> f64 {
        let bursts: u64 = self.bursts.iter().filter(|b| b.at < horizon).map(|b| b.requests as u64).sum();
        (bursts + self.replay.partition_point(|t| *t < horizon) as u64) as f64
    }

    /// Time-averaged offered rate over [0, horizon): the rate's mean plus
    /// bursts and replayed arrivals spread over the run.
    pub fn mean_rate(&self, horizon: SimTime) -> f64 {
        let extra = if horizon.0 == 0 { 0.0 } else { self.scheduled_requests(horizon) / horizon.as_secs_f64() };
        self.rate.mean(horizon) + extra
    }

    /// Peak offered rate before `horizon`, as a time series with `bin`-wide
    /// bins would show it: the rate's peak plus, for the busiest bin, its
    /// burst and replayed requests spread over the bin.
    pub fn peak_rate(&self, horizon: SimTime, bin: SimDuration) -> f64 {
        let peak = self.rate.peak(horizon);
        if self.bursts.is_empty() && self.replay.is_empty() {
            return peak;
        }
        let width = bin.0.max(1);
        let mut per_bin: BTreeMap<u64, u64> = BTreeMap::new();
        for b in self.bursts.iter().filter(|b| b.at < horizon) {
            *per_bin.entry(b.at.0 / width).or_default() += b.requests as u64;
        }
        for t in self.replay.iter().filter(|t| **t < horizon) {
            *per_bin.entry(t.0 / width).or_default() += 1;
        }
        let busiest = per_bin.values().copied().max().unwrap_or(0);
        peak + busiest as f64 / SimDuration(width).as_secs_f64()
    }
}

/// A circuit breaker (a client's or a call's) with resilience4j semantics:
/// a sliding window (the last `window` attempts, or the attempts of the
/// last `window` seconds); when at least `minimum_calls` are in it and the
/// failure rate or the slow-call rate reaches its threshold, the breaker
/// opens and refuses attempts for `open_duration`; then it lets
/// `half_open_calls` trial attempts through and closes if both their rates
/// are below the thresholds, or opens again.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerSpec {
    /// Fraction of failed attempts that opens the breaker.
    pub failure_rate_threshold: f64,
    pub window_type: BreakerWindow,
    /// Attempts (count-based) or seconds (time-based) in the window.
    pub window: u32,
    pub minimum_calls: u32,
    pub open_duration: SimDuration,
    pub half_open_calls: u32,
    /// Fraction of slow attempts that opens the breaker.
    pub slow_call_rate_threshold: f64,
    /// An attempt that takes longer than this is slow.
    pub slow_call_duration: SimDuration,
}

impl BreakerSpec {
    /// resilience4j's `CircuitBreakerConfig` defaults: failureRateThreshold
    /// 50, slidingWindowType COUNT_BASED, slidingWindowSize 100,
    /// minimumNumberOfCalls 100, waitDurationInOpenState 60 s,
    /// permittedNumberOfCallsInHalfOpenState 10, slowCallRateThreshold 100,
    /// slowCallDurationThreshold 60 s.
    pub fn resilience4j_defaults() -> Self {
        BreakerSpec {
            failure_rate_threshold: 0.5,
            window_type: BreakerWindow::Count,
            window: 100,
            minimum_calls: 100,
            open_duration: SimDuration::from_secs(60),
            half_open_calls: 10,
            slow_call_rate_threshold: 1.0,
            slow_call_duration: SimDuration::from_secs(60),
        }
    }
}

/// How a breaker's sliding window is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerWindow {
    /// The last `window` attempts.
    Count,
    /// The attempts of the last `window` seconds, in 1 s buckets.
    Time,
}

/// Client-side adaptive throttling from the Google SRE book ("Handling
/// Overload"): reject an attempt locally with probability
/// max(0, (requests − k·accepts) / (requests + 1)) over the last `window`.
#[derive(Debug, Clone, PartialEq)]
pub struct ThrottleSpec {
    pub k: f64,
    pub window: SimDuration,
}

/// Why an attempt failed, as the client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureCause {
    /// The attempt's client timeout fired.
    Timeout,
    /// The node's queue was full.
    Rejected,
    /// The connection failed: the node was down or crashed with the request.
    Reset,
    /// The node answered with an (injected) error.
    Error,
    /// The node dropped the request (server-side load shedding).
    Shed,
    /// The request's total deadline ran out.
    Deadline,
    /// The client's circuit breaker was open.
    CircuitOpen,
    /// The client's adaptive throttling rejected the attempt locally.
    Throttled,
    /// The service's rate limit (a partner's quota) had no token left.
    RateLimited,
    /// The caller's bulkhead for the dependency was full: the call was
    /// refused without being sent.
    Bulkhead,
}

/// Number of failure causes (the length of per-cause tallies).
pub const CAUSES: usize = FailureCause::ALL.len();

impl FailureCause {
    pub const ALL: [FailureCause; 10] = [
        FailureCause::Timeout,
        FailureCause::Rejected,
        FailureCause::Reset,
        FailureCause::Error,
        FailureCause::Shed,
        FailureCause::Deadline,
        FailureCause::CircuitOpen,
        FailureCause::Throttled,
        FailureCause::RateLimited,
        FailureCause::Bulkhead,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FailureCause::Timeout => "timeout",
            FailureCause::Rejected => "rejected",
            FailureCause::Reset => "reset",
            FailureCause::Error => "error",
            FailureCause::Shed => "shed",
            FailureCause::Deadline => "deadline",
            FailureCause::CircuitOpen => "circuit_open",
            FailureCause::Throttled => "throttled",
            FailureCause::RateLimited => "rate_limited",
            FailureCause::Bulkhead => "bulkhead",
        }
    }

    /// Bit for sets of causes.
    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A service-wide token bucket: `per_sec` tokens a second, holding at most
/// `burst`; each attempt takes one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitSpec {
    pub per_sec: f64,
    pub burst: u32,
}

/// A client's retry policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySpec {
    /// Total attempts including the first.
    pub max_attempts: u32,
    /// Bit set of [`FailureCause::bit`] that are retried.
    pub retry_on: u16,
    pub backoff: Backoff,
    pub base: SimDuration,
    pub cap: SimDuration,
    pub jitter: Jitter,
    pub budget: Option<BudgetSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// Retry at once.
    None,
    /// Wait `base` before each retry.
    Constant,
    /// Wait min(cap, base·2^n) before retry n (n from 0).
    Exponential,
}

/// Randomisation of backoff delays, after "Exponential Backoff and Jitter"
/// (AWS Architecture Blog, 2015).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    None,
    /// uniform(0, b)
    Full,
    /// b/2 + uniform(0, b/2)
    Equal,
    /// min(cap, uniform(base, 3·previous))
    Decorrelated,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BudgetSpec {
    /// Retries may be at most `ratio` of requests over a sliding `window`,
    /// plus `min_per_second` · window.
    Ratio { ratio: f64, window: SimDuration, min_per_second: f64 },
    /// A bucket of `capacity` tokens, full at the start; a retry costs
    /// `cost`, a success deposits `deposit`; no retry without enough tokens.
    TokenBucket { capacity: f64, cost: f64, deposit: f64 },
}

/// Piecewise arrival rate: `steps[i]` holds from its start until the next
/// step's start, constant, or (`ramp`) changing linearly to the next step's
/// rate. The first step starts at 0; the last one is constant. Rates in
/// requests/s.
#[derive(Debug, Clone, PartialEq)]
pub struct RateSchedule {
    pub steps: Vec<RateStep>,
}

/// A closed-loop source: `population` users (piecewise constant in time),
/// each sending one request, waiting for it to end (success, failure for
/// good, or giving up), then thinking for a `think_time` draw before the
/// next. New users start thinking when they join; users above the
/// population retire when their request in flight ends, or when their
/// think time ends, so no request is ever dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedLoop {
    /// (from, users) steps, the first from 0, in strictly increasing time.
    pub population: Vec<PopulationStep>,
    pub think_time: Distribution,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PopulationStep {
    pub from: SimTime,
    pub users: u32,
}

impl ClosedLoop {
    /// The most users at any time before `horizon`.
    pub fn peak_users(&self, horizon: SimTime) -> u32 {
        self.population.iter().filter(|s| s.from < horizon).map(|s| s.users).max().unwrap_or(0)
    }

    /// Time-averaged users over [0, horizon).
    pub fn mean_users(&self, horizon: SimTime) -> f64 {
        if horizon.0 == 0 {
            return self.population[0].users as f64;
        }
        let mut total = 0.0;
        for (i, step) in self.population.iter().enumerate() {
            let end = self.population.get(i + 1).map_or(horizon, |n| n.from).min(horizon);
            if end > step.from {
                total += step.users as f64 * (end - step.from).as_secs_f64();
            }
        }
        total / horizon.as_secs_f64()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStep {
    pub from: SimTime,
    pub per_sec: f64,
    /// The rate goes linearly from `per_sec` to the next step's rate.
    pub ramp: bool,
}

impl RateSchedule {
    pub fn constant(per_sec: f64) -> Self {
        RateSchedule { steps: vec![RateStep { from: SimTime::ZERO, per_sec, ramp: false }] }
    }

    /// Whether some step ramps (the arrivals then take the general path).
    pub fn has_ramps(&self) -> bool {
        self.steps.iter().any(|s| s.ramp)
    }

    /// The rate at `t` within step `i` (which must hold at `t`).
    fn rate_in_step(&self, i: usize, t: SimTime) -> f64 {
        let step = &self.steps[i];
        match self.steps.get(i + 1) {
            Some(next) if step.ramp && next.from > step.from => {
                let f = (t.0.saturating_sub(step.from.0)) as f64 / (next.from.0 - step.from.0) as f64;
                step.per_sec + (next.per_sec - step.per_sec) * f.min(1.0)
            }
            _ => step.per_sec,
        }
    }

    /// The rate in force at `t` (a step starting at `t` included).
    pub fn at(&self, t: SimTime) -> f64 {
        let i = self.steps.partition_point(|s| s.from <= t).saturating_sub(1);
        self.rate_in_step(i, t)
    }

    /// The rate in force just before `t` (the first step's at 0).
    pub fn before(&self, t: SimTime) -> f64 {
        let i = self.steps.iter().take_while(|s| s.from < t).count().saturating_sub(1);
        self.rate_in_step(i, t)
    }

    /// Highest rate at any time before `horizon`.
    pub fn peak(&self, horizon: SimTime) -> f64 {
        let mut peak = 0.0f64;
        for (i, step) in self.steps.iter().enumerate().filter(|(_, s)| s.from < horizon) {
            // A linear step peaks at one of its ends.
            let end = self.steps.get(i + 1).map_or(horizon, |n| n.from).min(horizon);
            peak = peak.max(step.per_sec).max(self.rate_in_step(i, end));
        }
        peak
    }

    /// Expected arrivals in [a, b): the integral of the rate.
    pub fn integral(&self, a: SimTime, b: SimTime) -> f64 {
        let mut total = 0.0;
        for (i, step) in self.steps.iter().enumerate() {
            let end = self.steps.get(i + 1).map_or(b, |n| n.from).min(b);
            let start = step.from.max(a);
            if end > start {
                // Exact for constant and linear steps alike (trapezoid).
                let mean = (self.rate_in_step(i, start) + self.rate_in_step(i, end)) / 2.0;
                total += mean * (end - start).as_secs_f64();
            }
        }
        total
    }

    /// Time-averaged rate over [0, horizon).
    pub fn mean(&self, horizon: SimTime) -> f64 {
        if horizon.0 == 0 {
            return self.steps[0].per_sec;
        }
        self.integral(SimTime::ZERO, horizon) / horizon.as_secs_f64()
    }
}

/// Requests that arrive at given instants, on top of a source's rate: one
/// burst occurrence, or one recorded arrival of a trace replayed exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Burst {
    pub at: SimTime,
    pub requests: u32,
}

/// Where a source's traffic was recorded: a trace replayed from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceInfo {
    /// The trace file as the scenario names it.
    pub file: String,
    /// Replays exact arrival timestamps (`replay`) rather than rates.
    pub timestamps: bool,
    /// The first and last row's time.
    pub first: SimTime,
    pub last: SimTime,
    /// Rows (or recorded arrivals) in the file.
    pub rows: usize,
    /// Request classes named by a `class` column (0 without one).
    pub classes: usize,
}

/// Where a traffic source sends its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Balancer(usize),
    /// Straight to a service; with several nodes, spread round-robin.
    Service(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Balancer {
    pub name: String,
    pub policy: BalancePolicy,
    /// How least-outstanding chooses among equally loaded nodes.
    pub tie_break: TieBreak,
    /// Per node (service-local index) from the first; nodes past the list
    /// weigh 1. Empty: every node weighs 1.
    pub weights: Vec<u32>,
    pub service: usize,
    /// Below this fraction of available (healthy, not ejected) nodes, route
    /// to all nodes regardless of health; 0 disables.
    pub panic_threshold: f64,
    pub health_check: Option<HealthCheckSpec>,
    pub outlier_detection: Option<OutlierSpec>,
}

/// Active health checking of every node behind a balancer.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheckSpec {
    pub interval: SimDuration,
    pub timeout: SimDuration,
    /// Consecutive failures that mark a healthy node unhealthy.
    pub unhealthy_threshold: u32,
    /// Consecutive passes that mark an unhealthy node healthy.
    pub healthy_threshold: u32,
    /// Deep: the check is a real request through the node's queue and
    /// workers; shallow: it only asks whether the process is up.
    pub deep: bool,
}

/// Passive outlier ejection, after Envoy's `outlier_detection`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutlierSpec {
    pub consecutive_errors: u32,
    pub base_ejection_time: SimDuration,
    pub max_ejection_time: SimDuration,
    /// Percent of the nodes that may be ejected at once (at least one may).
    pub max_ejection_percent: f64,
}

/// Least-outstanding among equally loaded nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TieBreak {
    /// The first tied node at or after a cursor that moves by one per pick.
    Rotate,
    /// A tied node drawn uniformly (the balancer's random stream).
    Random,
    /// The tied node with the lowest index.
    First,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalancePolicy {
    RoundRobin,
    Random,
    LeastOutstanding,
    PowerOfTwo,
}

impl BalancePolicy {
    pub fn name(self) -> &'static str {
        match self {
            BalancePolicy::RoundRobin => "round-robin",
            BalancePolicy::Random => "random",
            BalancePolicy::LeastOutstanding => "least-outstanding",
            BalancePolicy::PowerOfTwo => "power-of-two",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub nodes: u32,
    /// Requests one node serves at once.
    pub workers: u32,
    /// Requests one node holds waiting; `None` = unbounded.
    pub queue_capacity: Option<u32>,
    pub service_time: Distribution,
    pub overload_crash: Option<OverloadCrashSpec>,
    pub restart: RestartSpec,
    /// Requests that waited longer than this in the queue are dropped when
    /// a worker would take them (server-side load shedding).
    pub queue_timeout: Option<SimDuration>,
    pub queue_order: QueueOrder,
    pub slowdown: Option<SlowdownSpec>,
    pub memory: Option<MemorySpec>,
    pub liveness: Option<LivenessSpec>,
    pub predictive_restart: Option<PredictiveSpec>,
    /// With autoscaling, `nodes` is the initial count and the service has
    /// `autoscaling.max` node slots.
    pub autoscaling: Option<AutoscalingSpec>,
    pub config_drift: Option<DriftSpec>,
    /// This service calls a database once per request.
    pub uses_database: Option<DbUse>,
    /// This "service" is a database: node 0 starts as the primary, the
    /// others are read replicas. `service_time` is the read time.
    pub database: Option<DatabaseSpec>,
    /// A token bucket in front of the whole service (a partner API's
    /// quota): attempts beyond it fail at once as `rate_limited`.
    pub rate_limit: Option<RateLimitSpec>,
    /// The region the service's nodes run in.
    pub region: String,
    /// What a node does for a request after its own work (and before its
    /// database query): calls to other services, step by step.
    pub calls: Vec<CallStep>,
    /// A look-aside cache in front of the service: callers look a key up
    /// first and call the service only on a miss.
    pub cache: Option<CacheSpec>,
    /// The service is a serverless pool (its one "node" has a worker per
    /// possible instance and no queue).
    pub serverless: Option<ServerlessSpec>,
}

/// A serverless function (AWS Lambda semantics): each instance serves one
/// request at a time. A request takes the most recently used idle
/// instance; with none idle, a new instance starts (a cold start adds its
/// start-up time to the request) if the pool is below `concurrency` and the
/// scaling rate allows; otherwise the request is throttled (`rejected`).
/// Instances idle for `idle_timeout` are reclaimed; `provisioned` instances
/// are started before traffic and never reclaimed.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerlessSpec {
    pub concurrency: u32,
    pub cold_start: Distribution,
    pub idle_timeout: SimDuration,
    /// New instances: a token bucket of `burst` refilled at `per_sec`.
    pub scaling: RateLimitSpec,
    pub provisioned: u32,
}

/// A look-aside cache (memcached, Redis) shared by every caller of a
/// service. Each call asks for one of `keys` keys, drawn by Zipf popularity
/// (`zipf` 0 is uniform); an entry lives `ttl` from when it was fetched; at
/// most `capacity` entries are held, least recently used evicted first.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheSpec {
    pub keys: u32,
    pub zipf: f64,
    pub ttl: SimDuration,
    pub capacity: u32,
    /// The cache's own round trip, paid by hits and misses alike.
    pub lookup: SimDuration,
    /// Concurrent misses for one key wait for a single fetch.
    pub coalescing: bool,
    /// Start with every entry the capacity holds (expiries spread over one
    /// TTL), rather than empty.
    pub warm: bool,
}

/// One step of the calls a service makes for a request: one call, or
/// several in parallel of which `wait_for` must succeed (the rest are
/// abandoned then). Steps run in order while the node's worker waits; a
/// step that can no longer succeed fails the request at this service with
/// the cause of the call that failed last.
#[derive(Debug, Clone, PartialEq)]
pub struct CallStep {
    /// Request classes the step runs for, as bits by index in
    /// `Scenario::classes`; `None` runs it for every request.
    pub classes: Option<u64>,
    pub calls: Vec<Call>,
    pub wait_for: u32,
}

/// Whether a step limited to `classes` (bits by class index; `None`: every
/// request) runs for a request of `class` (`None`: a request without one).
#[inline]
pub fn classes_include(classes: Option<u64>, class: Option<usize>) -> bool {
    match (classes, class) {
        (None, _) => true,
        (Some(bits), Some(class)) => bits & (1 << class) != 0,
        (Some(_), None) => false,
    }
}

/// A call from one service to another, with its own timeout, retries and
/// bulkhead.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub target: Target,
    /// The service the call reaches.
    pub service: usize,
    /// Each attempt's timeout; `None` waits forever.
    pub timeout: Option<SimDuration>,
    pub retry: Option<RetrySpec>,
    /// Most calls a caller node has in flight to this dependency at once
    /// (retries and backoff included); beyond, calls fail at once as
    /// `bulkhead`.
    pub bulkhead: Option<u32>,
    /// A call to a database: this fraction are writes (to the primary),
    /// the rest reads (from a replica). 0 for a service.
    pub write_ratio: f64,
    /// One breaker per caller node (a process's resilience4j instance).
    pub circuit_breaker: Option<BreakerSpec>,
}

/// How a service uses a database (by index in `Scenario::services`).
#[derive(Debug, Clone, PartialEq)]
pub struct DbUse {
    pub database: usize,
    /// Fraction of requests whose query is a write (to the primary); the
    /// rest read from a replica.
    pub write_ratio: f64,
    /// Connections per node: queries beyond wait for a free connection.
    pub pool: u32,
}

/// A replicated database.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseSpec {
    pub write_time: Distribution,
    /// Synchronous: a write is acknowledged only once a replica has it
    /// (the primary's worker waits for the lag); asynchronous: at once,
    /// replicated `lag` later (in commit order).
    pub synchronous: bool,
    pub lag: Distribution,
    /// From the primary's crash to the start of the failover.
    pub failover_detection: SimDuration,
    /// From then until a replica serves as the new primary.
    pub failover_promotion: SimDuration,
}

/// Configuration drift: since the service's last deploy its nodes drift
/// from a clean configuration by `per_hour` units an hour; a node that
/// (re)starts with drift d fails to join with probability 1 − e^(−d), and
/// stays down until a redeploy.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftSpec {
    pub per_hour: f64,
}

impl Service {
    /// Node slots the service needs: its most nodes at any time.
    pub fn slots(&self) -> u32 {
        self.autoscaling.as_ref().map_or(self.nodes, |a| a.max)
    }
}

/// Target tracking with Kubernetes HPA arithmetic (see
/// `components::autoscaler`).
#[derive(Debug, Clone, PartialEq)]
pub struct AutoscalingSpec {
    pub metric: AutoscaleMetric,
    /// Utilization fraction, or in-flight requests per node.
    pub target: f64,
    pub tolerance: f64,
    pub min: u32,
    pub max: u32,
    pub evaluation_period: SimDuration,
    /// Time from the decision until a new node runs.
    pub provisioning: Distribution,
    /// After starting, a node serves but is not counted in the metric, and
    /// its service times are multiplied by `warmup_slowdown` (cold caches).
    pub warmup: SimDuration,
    pub warmup_slowdown: f64,
    /// Least time between two scaling actions.
    pub cooldown: SimDuration,
    pub scale_down_stabilization: SimDuration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoscaleMetric {
    /// Busy workers / workers, averaged over the evaluation period.
    Utilization,
    /// Requests held (queued + in service) per node, time-averaged.
    InFlight,
}

impl AutoscaleMetric {
    pub fn name(self) -> &'static str {
        match self {
            AutoscaleMetric::Utilization => "utilization",
            AutoscaleMetric::InFlight => "in-flight",
        }
    }
}

/// Kubernetes-style liveness probes: every `interval` each node is probed;
/// after `failure_threshold` consecutive failures it is killed and
/// restarted (with the crash-loop back-off). A deep probe is a real request
/// through the node's queue that must answer within `timeout`; a shallow
/// one only checks that the process runs.
#[derive(Debug, Clone, PartialEq)]
pub struct LivenessSpec {
    pub interval: SimDuration,
    pub timeout: SimDuration,
    pub failure_threshold: u32,
    pub deep: bool,
}

/// Predictive restarts: every `interval` a monitor fits a straight line to
/// each node's memory over the last `window`; a node predicted to reach its
/// memory limit within `horizon` is drained and restarted before the OOM.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictiveSpec {
    pub interval: SimDuration,
    pub window: SimDuration,
    pub horizon: SimDuration,
}

/// Which waiting request a free worker takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueOrder {
    Fifo,
    Lifo,
    /// FIFO while the queue is short, LIFO once it holds `threshold` or more
    /// (Facebook's adaptive LIFO: under overload, serve the freshest
    /// requests, whose clients are still waiting).
    AdaptiveLifo {
        threshold: u32,
    },
}

/// Service time grows with load: multiplied by the load factor g(x) of
/// `shape`, where x is busy workers / workers (`Concurrency`) or queued
/// requests / workers (`Queue`) of the node (for a database: of the
/// instance, its connection slots) when the request starts.
#[derive(Debug, Clone, PartialEq)]
pub struct SlowdownSpec {
    pub by_queue: bool,
    pub shape: SlowdownShape,
    pub factor: f64,
    /// The power of a polynomial shape (1 for the others).
    pub exponent: f64,
}

/// How the service time grows with the load x.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowdownShape {
    /// 1 + factor · x
    Linear,
    /// 1 + factor · x^exponent
    Polynomial,
    /// e^(factor · x)
    Exponential,
}

/// The largest `factor` of an exponential slowdown: e^50 ≈ 5·10^21 keeps
/// the factor finite at full concurrency.
pub const MAX_EXPONENTIAL_FACTOR: f64 = 50.0;

impl SlowdownSpec {
    /// The load factor g(x): service time at load x over the unloaded one.
    /// Never inlined: it runs only for nodes with a slowdown, and keeping
    /// it out of the simulation's code leaves the hot path's code as it was.
    #[inline(never)]
    pub fn factor_at(&self, x: f64) -> f64 {
        match self.shape {
            SlowdownShape::Linear => 1.0 + self.factor * x,
            SlowdownShape::Polynomial => 1.0 + self.factor * x.powf(self.exponent),
            SlowdownShape::Exponential => (self.factor * x).exp(),
        }
    }
}

/// Memory of a node [MB]: baseline + per_request x requests held + leaked,
/// where every served request leaks `leak_per_request` and every second up
/// leaks `leak_per_s`. Reaching `limit` kills the node (OOM) and it
/// restarts empty.
#[derive(Debug, Clone, PartialEq)]
pub struct MemorySpec {
    pub limit_mb: f64,
    pub baseline_mb: f64,
    pub per_request_mb: f64,
    pub leak_per_request_mb: f64,
    pub leak_mb_per_s: f64,
}

/// A node crashes when, in every `window` for `sustained`, it was hot: its
/// time-averaged utilization reached `utilization`, or its time-averaged
/// queue length reached `queue_fill` of the queue capacity. Only the
/// conditions given apply (either one, or both); with neither given the
/// rule is utilization 0.95.
#[derive(Debug, Clone, PartialEq)]
pub struct OverloadCrashSpec {
    pub utilization: Option<f64>,
    pub queue_fill: Option<f64>,
    pub window: SimDuration,
    pub sustained: SimDuration,
}

/// How a crashed node comes back: after the crash-loop backoff (if on) plus
/// a start-up delay drawn from `delay`.
#[derive(Debug, Clone, PartialEq)]
pub struct RestartSpec {
    pub delay: Distribution,
    pub crash_loop_backoff: bool,
    pub backoff_initial: SimDuration,
    pub backoff_max: SimDuration,
    pub backoff_reset_after: SimDuration,
}

/// An injected fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub kind: FaultKind,
    pub service: usize,
    pub nodes: NodeSelection,
    pub at: SimTime,
    /// `None`: lasts until the end of the run.
    pub duration: Option<SimDuration>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeSelection {
    All,
    List(Vec<u32>),
    /// k distinct nodes drawn at random (from the faults' own stream).
    Random(u32),
}

#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// The nodes go down; they start again when the fault ends.
    Crash,
    /// Service times multiplied by `factor` (a gray failure).
    Slow { factor: f64 },
    /// A `fraction` of requests answered at once with an error.
    Errors { fraction: f64 },
    /// Each node keeps only `workers` workers (e.g. a CPU spike).
    Capacity { workers: u32 },
    /// `delay` added to every service time.
    Latency { delay: SimDuration },
    /// Each node fails after times drawn from `mtbf` and is repaired after
    /// times drawn from `mttr`, for the fault's duration.
    RandomCrashes { mtbf: Distribution, mttr: Distribution },
    /// An operation: the nodes are drained and restarted one after another,
    /// `interval` apart (each must join again, see configuration drift).
    RollingRestart { interval: SimDuration },
    /// An operation: the service's configuration is deployed afresh, which
    /// resets its drift and restarts nodes that failed to join.
    Redeploy,
    /// Every node of every service and database in `region` goes down.
    RegionOutage { region: String },
    /// An operation: the service's cache loses every entry.
    CacheFlush,
    /// The network between `from` and `to` drops packets in `direction`
    /// (see `partition`); the nodes stay up.
    Partition {
        from: partition::PartitionSide,
        to: partition::PartitionSide,
        mode: partition::PartitionMode,
        direction: partition::PartitionDirection,
    },
}

impl FaultKind {
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Slow { .. } => "slow",
            FaultKind::Errors { .. } => "errors",
            FaultKind::Capacity { .. } => "capacity",
            FaultKind::Latency { .. } => "latency",
            FaultKind::RandomCrashes { .. } => "random-crashes",
            FaultKind::RollingRestart { .. } => "rolling-restart",
            FaultKind::Redeploy => "redeploy",
            FaultKind::RegionOutage { .. } => "region-outage",
            FaultKind::CacheFlush => "cache-flush",
            FaultKind::Partition { .. } => "partition",
        }
    }
}

/// A service-time distribution with validated parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    Exponential {
        mean: SimDuration,
    },
    Constant {
        value: SimDuration,
    },
    Uniform {
        min: SimDuration,
        max: SimDuration,
    },
    /// ln(S / 1 s) ~ Normal(mu, sigma).
    LogNormal {
        mu: f64,
        sigma: f64,
    },
    /// Gamma with `shape` k and `scale` θ [s]; Erlang-k when k is an integer.
    Gamma {
        shape: f64,
        scale_secs: f64,
    },
}

impl Distribution {
    /// Mean service time [s].
    pub fn mean_secs(&self) -> f64 {
        match *self {
            Distribution::Exponential { mean } => mean.as_secs_f64(),
            Distribution::Constant { value } => value.as_secs_f64(),
            Distribution::Uniform { min, max } => (min.as_secs_f64() + max.as_secs_f64()) / 2.0,
            Distribution::LogNormal { mu, sigma } => (mu + sigma * sigma / 2.0).exp(),
            Distribution::Gamma { shape, scale_secs } => shape * scale_secs,
        }
    }

    /// Squared coefficient of variation (variance / mean²).
    pub fn scv(&self) -> f64 {
        match *self {
            Distribution::Exponential { .. } => 1.0,
            Distribution::Constant { .. } => 0.0,
            Distribution::Uniform { min, max } => {
                let (a, b) = (min.as_secs_f64(), max.as_secs_f64());
                let mean = (a + b) / 2.0;
                if mean == 0.0 { 0.0 } else { (b - a).powi(2) / 12.0 / (mean * mean) }
            }
            Distribution::LogNormal { sigma, .. } => (sigma * sigma).exp() - 1.0,
            Distribution::Gamma { shape, .. } => 1.0 / shape,
        }
    }

    /// Short human description, e.g. "lognormal(mean 20ms, cv 2)".
    pub fn describe(&self) -> String {
        let mean = SimDuration::from_secs_f64(self.mean_secs());
        match *self {
            Distribution::Exponential { .. } => format!("exponential(mean {mean})"),
            Distribution::Constant { value } => format!("constant({value})"),
            Distribution::Uniform { min, max } => format!("uniform({min}..{max})"),
            Distribution::LogNormal { .. } => format!("lognormal(mean {mean}, cv {:.3})", self.scv().sqrt()),
            Distribution::Gamma { shape, .. } => format!("gamma(mean {mean}, shape {shape})"),
        }
    }
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn from_file(path: &Path) -> Result<Scenario, ScenarioError> {
        let source = ScenarioSource::read(path)?;
        Scenario::from_toml(&source.text, &source.label, source.stem.as_deref())
    }

    /// Parses and validates scenario text. `file` labels error messages;
    /// `default_name` is used when the file has no `name` key.
    pub fn from_toml(text: &str, file: &str, default_name: Option<&str>) -> Result<Scenario, ScenarioError> {
        Scenario::from_toml_in(text, file, scenario_dir(file), default_name)
    }

    /// Like [`Scenario::from_toml`], with files the scenario names (traces)
    /// read relative to `dir` rather than to `file`'s folder.
    pub fn from_toml_in(
        text: &str,
        file: &str,
        dir: &Path,
        default_name: Option<&str>,
    ) -> Result<Scenario, ScenarioError> {
        let mut scenario = validate::parse_and_validate(text, file, dir, default_name)?;
        scenario.origin = Origin::of(text, file);
        Ok(scenario)
    }

    /// Index of a service by name.
    pub fn service_index(&self, name: &str) -> Option<usize> {
        self.services.iter().position(|s| s.name == name)
    }

    /// Total nodes over all services.
    pub fn total_nodes(&self) -> usize {
        self.services.iter().map(|s| s.nodes as usize).sum()
    }

    /// The service each traffic source's requests end up at.
    pub fn target_service(&self, target: Target) -> usize {
        match target {
            Target::Service(s) => s,
            Target::Balancer(b) => self.balancers[b].service,
        }
    }
}
