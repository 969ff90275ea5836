//! The scenario file exactly as written: serde structs that mirror the TOML,
//! with human units (durations, rates) parsed on the way in and unknown keys
//! refused. Cross-references and ranges are checked later, in `validate`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::time::{SimDuration, parse_duration};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub version: Option<i64>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub simulation: Option<RawSimulation>,
    #[serde(default)]
    pub traffic: BTreeMap<String, RawTraffic>,
    #[serde(default)]
    pub balancers: BTreeMap<String, RawBalancer>,
    #[serde(default)]
    pub services: BTreeMap<String, RawService>,
    #[serde(default)]
    pub databases: BTreeMap<String, RawDatabase>,
    #[serde(default)]
    pub faults: Vec<RawFault>,
    pub slo: Option<RawSlo>,
    pub disaster_recovery: Option<RawDr>,
    pub initial: Option<RawInitial>,
}

/// `[initial]`: the state at t = 0, by service and database.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInitial {
    #[serde(default)]
    pub services: BTreeMap<String, RawInitialService>,
    #[serde(default)]
    pub databases: BTreeMap<String, RawInitialDatabase>,
}

/// `[initial.services.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInitialService {
    pub backlog: Option<i64>,
    pub backlog_age: Option<DelaySpec>,
    pub source: Option<String>,
    pub down: Option<Vec<i64>>,
    pub restarting: Option<Vec<i64>>,
    pub restart_in: Option<Duration>,
    pub cache: Option<RawCacheStart>,
    pub cache_hit_ratio: Option<f64>,
}

/// `[initial.databases.NAME]`: no backlog (clients do not call databases
/// directly), but a failover may be under way.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInitialDatabase {
    pub down: Option<Vec<i64>>,
    pub restarting: Option<Vec<i64>>,
    pub restart_in: Option<Duration>,
    pub cache: Option<RawCacheStart>,
    pub cache_hit_ratio: Option<f64>,
    pub failover: Option<RawFailoverPhase>,
    pub failover_remaining: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawFailoverPhase {
    Detecting,
    Promoting,
}

/// `[disaster_recovery]`: how a standby region takes over.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDr {
    pub strategy: Option<RawDrStrategy>,
    pub primary: Option<String>,
    pub standby: Option<String>,
    pub detection: Option<Duration>,
    pub dns_ttl: Option<Duration>,
    pub active_share: Option<f64>,
    pub standby_nodes: Option<i64>,
    pub scale_up: Option<DelaySpec>,
    pub provisioning: Option<DelaySpec>,
    pub replication: Option<RawReplication>,
    pub lag: Option<DelaySpec>,
    pub backup_interval: Option<Duration>,
    pub data_gb: Option<f64>,
    pub restore_gb_per_min: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawDrStrategy {
    ActiveActive,
    WarmStandby,
    PilotLight,
    BackupRestore,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlo {
    pub goodput: Option<f64>,
    pub latency_p99: Option<Duration>,
    pub window: Option<Duration>,
    pub hold: Option<Duration>,
    pub rto_objective: Option<Duration>,
    pub rpo_objective: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSimulation {
    pub duration: Option<Duration>,
    pub warmup: Option<Duration>,
    pub seed: Option<u64>,
    pub bin: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTraffic {
    pub rate: Option<Rate>,
    pub schedule: Option<Vec<RawRateStep>>,
    /// Closed loop: a fixed number of users, each sending its next request
    /// a think time after its last one ended.
    pub users: Option<i64>,
    /// Closed loop with a population that changes: `[{ from = "0s", users = 10 }, ...]`.
    pub population: Option<Vec<RawPopulationStep>>,
    pub think_time: Option<DelaySpec>,
    pub timeout: Option<Timeout>,
    pub deadline: Option<Timeout>,
    pub target: Option<String>,
    pub retry: Option<RawRetry>,
    pub circuit_breaker: Option<RawCircuitBreaker>,
    pub throttling: Option<RawThrottling>,
    /// Request classes and their weights: `{ search = 6, payment = 1 }`.
    pub classes: Option<BTreeMap<String, f64>>,
    /// Requests at one instant, once or recurring, on top of the rate.
    pub bursts: Option<Vec<RawBurst>>,
    /// A CSV file of recorded traffic, relative to the scenario file.
    pub trace: Option<String>,
    pub trace_mode: Option<RawTraceMode>,
    pub trace_shape: Option<RawTraceShape>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBurst {
    pub at: Option<Duration>,
    pub requests: Option<i64>,
    pub every: Option<Duration>,
    pub until: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawTraceMode {
    /// Rows of (time, rate): the rate of each interval.
    Rates,
    /// One row per request: its arrival time.
    Timestamps,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawTraceShape {
    /// Each row's rate holds until the next row.
    Step,
    /// The rate goes linearly from each row's to the next's.
    Linear,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCircuitBreaker {
    pub failure_rate_threshold: Option<f64>,
    pub window: Option<i64>,
    pub minimum_calls: Option<i64>,
    pub open_duration: Option<Duration>,
    pub half_open_calls: Option<i64>,
    pub window_type: Option<RawBreakerWindow>,
    pub slow_call_rate_threshold: Option<f64>,
    pub slow_call_duration: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawBreakerWindow {
    Count,
    Time,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThrottling {
    pub k: Option<f64>,
    pub window: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    pub max_attempts: Option<i64>,
    pub retry_on: Option<Vec<RawFailureCause>>,
    pub backoff: Option<RawBackoff>,
    pub base: Option<Duration>,
    pub cap: Option<Duration>,
    pub jitter: Option<RawJitter>,
    pub budget: Option<RawBudget>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawFailureCause {
    Timeout,
    Rejected,
    Reset,
    Error,
    Shed,
    #[serde(rename = "rate_limited")]
    RateLimited,
    Bulkhead,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawBackoff {
    None,
    Constant,
    Exponential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawJitter {
    None,
    Full,
    Equal,
    Decorrelated,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBudget {
    pub kind: Option<RawBudgetKind>,
    pub ratio: Option<f64>,
    pub window: Option<Duration>,
    pub min_per_second: Option<f64>,
    pub capacity: Option<f64>,
    pub cost: Option<f64>,
    pub deposit: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawBudgetKind {
    Ratio,
    TokenBucket,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateStep {
    pub from: Duration,
    pub rate: Rate,
    /// The rate changes linearly from this step's to the next step's.
    pub ramp: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPopulationStep {
    pub from: Duration,
    pub users: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBalancer {
    pub policy: Option<RawPolicy>,
    pub tie_break: Option<RawTieBreak>,
    pub weights: Option<Vec<i64>>,
    pub service: Option<String>,
    pub panic_threshold: Option<f64>,
    pub health_check: Option<RawHealthCheck>,
    pub outlier_detection: Option<RawOutlierDetection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealthCheck {
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub unhealthy_threshold: Option<i64>,
    pub healthy_threshold: Option<i64>,
    pub kind: Option<RawCheckKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawCheckKind {
    Shallow,
    Deep,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutlierDetection {
    pub consecutive_errors: Option<i64>,
    pub base_ejection_time: Option<Duration>,
    pub max_ejection_time: Option<Duration>,
    pub max_ejection_percent: Option<f64>,
}

/// One `[[faults]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub kind: Option<RawFaultKind>,
    pub service: Option<String>,
    pub nodes: Option<RawNodeSet>,
    pub count: Option<i64>,
    pub at: Option<Duration>,
    pub duration: Option<Duration>,
    pub factor: Option<f64>,
    pub fraction: Option<f64>,
    pub workers: Option<i64>,
    pub delay: Option<Duration>,
    pub mtbf: Option<DelaySpec>,
    pub mttr: Option<DelaySpec>,
    pub interval: Option<Duration>,
    pub region: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub mode: Option<RawPartitionMode>,
    pub direction: Option<RawPartitionDirection>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawPartitionMode {
    BlackHole,
    Reset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawPartitionDirection {
    Both,
    Forward,
    Backward,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawFaultKind {
    Crash,
    Slow,
    Errors,
    Capacity,
    Latency,
    RandomCrashes,
    RollingRestart,
    Redeploy,
    RegionOutage,
    CacheFlush,
    Partition,
}

/// `nodes = [0, 2]` or `nodes = "all"`.
#[derive(Debug, Clone, PartialEq)]
pub enum RawNodeSet {
    All,
    List(Vec<i64>),
}

impl<'de> Deserialize<'de> for RawNodeSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawNodeSet;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of node indices such as [0, 2], or \"all\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RawNodeSet, E> {
                if s.trim() == "all" {
                    Ok(RawNodeSet::All)
                } else {
                    Err(E::custom(format!("expected a list of node indices such as [0, 2], or \"all\", got \"{s}\"")))
                }
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<RawNodeSet, E> {
                Ok(RawNodeSet::List(vec![n]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawNodeSet, A::Error> {
                let mut out = Vec::new();
                while let Some(n) = seq.next_element::<i64>()? {
                    out.push(n);
                }
                Ok(RawNodeSet::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A random delay: a duration string (whose meaning the key documents:
/// constant, or the mean of an exponential) or a distribution table.
#[derive(Debug)]
pub enum DelaySpec {
    Duration(SimDuration),
    Table(RawDistribution),
}

impl<'de> Deserialize<'de> for DelaySpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DelaySpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as \"30s\" or a table such as { distribution = \"uniform\", min = \"10s\", max = \"30s\" }")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<DelaySpec, E> {
                DurationVisitor { allow_none: false }.visit_str(s).map(|d| DelaySpec::Duration(d.expect("no none")))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<DelaySpec, E> {
                DurationVisitor { allow_none: false }.visit_i64(n).map(|d| DelaySpec::Duration(d.expect("no none")))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<DelaySpec, E> {
                DurationVisitor { allow_none: false }.visit_f64(n).map(|d| DelaySpec::Duration(d.expect("no none")))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<DelaySpec, A::Error> {
                RawDistribution::deserialize(de::value::MapAccessDeserializer::new(map)).map(DelaySpec::Table)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawTieBreak {
    Rotate,
    Random,
    First,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawPolicy {
    RoundRobin,
    Random,
    LeastOutstanding,
    PowerOfTwo,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub nodes: Option<i64>,
    pub workers: Option<i64>,
    pub queue_capacity: Option<QueueCapacity>,
    pub service_time: Option<RawDistribution>,
    pub overload_crash: Option<RawOverloadCrash>,
    pub restart: Option<RawRestart>,
    pub queue_timeout: Option<Timeout>,
    pub queue_order: Option<RawQueueOrder>,
    pub lifo_threshold: Option<i64>,
    pub slowdown: Option<RawSlowdown>,
    pub memory: Option<RawMemory>,
    pub liveness: Option<RawLiveness>,
    pub predictive_restart: Option<RawPredictive>,
    pub autoscaling: Option<RawAutoscaling>,
    pub config_drift: Option<RawDrift>,
    pub database: Option<RawDbUse>,
    pub region: Option<String>,
    pub rate_limit: Option<RawRateLimit>,
    pub calls: Option<Vec<RawCall>>,
    pub cache: Option<RawCache>,
    pub serverless: Option<RawServerless>,
}

/// `serverless = { ... }`: the service is a pool of single-request
/// instances created on demand.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServerless {
    pub concurrency: Option<i64>,
    pub cold_start: Option<DelaySpec>,
    pub idle_timeout: Option<Duration>,
    pub scaling: Option<RawRateLimit>,
    pub provisioned: Option<i64>,
}

/// `[services.NAME.cache]`: a look-aside cache its callers consult first.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    pub keys: Option<i64>,
    pub zipf: Option<f64>,
    pub ttl: Option<Duration>,
    pub capacity: Option<i64>,
    pub lookup: Option<Duration>,
    pub coalescing: Option<bool>,
    pub start: Option<RawCacheStart>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawCacheStart {
    Warm,
    Cold,
}

/// One step of `calls`: a call to `target`, or `parallel` calls of which
/// `wait_for` must succeed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCall {
    pub target: Option<String>,
    pub parallel: Option<Vec<RawCall>>,
    pub wait_for: Option<i64>,
    pub classes: Option<Vec<String>>,
    pub timeout: Option<Timeout>,
    pub retry: Option<RawRetry>,
    pub bulkhead: Option<i64>,
    pub write_ratio: Option<f64>,
    pub circuit_breaker: Option<RawCircuitBreaker>,
}

/// A service's rate limit: `rate` tokens per second, `burst` at most.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    pub rate: Option<Rate>,
    pub burst: Option<i64>,
}

/// A service's use of a database: each request makes one query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDbUse {
    pub name: Option<String>,
    pub write_ratio: Option<f64>,
    pub pool: Option<i64>,
}

/// `[databases.NAME]`: a primary and read replicas.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    pub replicas: Option<i64>,
    pub workers: Option<i64>,
    pub queue_capacity: Option<QueueCapacity>,
    pub read_time: Option<RawDistribution>,
    pub write_time: Option<RawDistribution>,
    pub replication: Option<RawReplication>,
    pub lag: Option<DelaySpec>,
    pub failover_detection: Option<Duration>,
    pub failover_promotion: Option<Duration>,
    pub region: Option<String>,
    pub cache: Option<RawCache>,
    pub slowdown: Option<RawSlowdown>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawReplication {
    Async,
    Sync,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDrift {
    pub per_hour: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAutoscaling {
    pub metric: Option<RawAutoscaleMetric>,
    pub target: Option<f64>,
    pub tolerance: Option<f64>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub evaluation_period: Option<Duration>,
    pub provisioning: Option<DelaySpec>,
    pub warmup: Option<Duration>,
    pub warmup_slowdown: Option<f64>,
    pub cooldown: Option<Duration>,
    pub scale_down_stabilization: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawAutoscaleMetric {
    Utilization,
    InFlight,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLiveness {
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub failure_threshold: Option<i64>,
    pub kind: Option<RawCheckKind>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPredictive {
    pub interval: Option<Duration>,
    pub window: Option<Duration>,
    pub horizon: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawQueueOrder {
    Fifo,
    Lifo,
    AdaptiveLifo,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlowdown {
    pub by: Option<RawSlowdownBy>,
    pub shape: Option<RawSlowdownShape>,
    pub factor: Option<f64>,
    pub exponent: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawSlowdownBy {
    Concurrency,
    Queue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawSlowdownShape {
    Linear,
    Polynomial,
    Exponential,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMemory {
    pub limit_mb: Option<f64>,
    pub baseline_mb: Option<f64>,
    pub per_request_mb: Option<f64>,
    pub leak_per_request_mb: Option<f64>,
    pub leak_mb_per_s: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOverloadCrash {
    pub utilization: Option<f64>,
    pub queue_fill: Option<f64>,
    pub window: Option<Duration>,
    pub sustained: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRestart {
    pub delay: Option<DelaySpec>,
    pub crash_loop_backoff: Option<bool>,
    pub backoff_initial: Option<Duration>,
    pub backoff_max: Option<Duration>,
    pub backoff_reset_after: Option<Duration>,
}

/// A service-time distribution: `distribution = "..."` plus its parameters.
/// One flat struct rather than a tagged enum so that errors keep their exact
/// key path and position; `validate` checks which keys each kind takes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDistribution {
    pub distribution: Option<DistributionKind>,
    pub mean: Option<Duration>,
    pub value: Option<Duration>,
    pub min: Option<Duration>,
    pub max: Option<Duration>,
    pub p99: Option<Duration>,
    pub cv: Option<f64>,
    pub shape: Option<f64>,
    pub k: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DistributionKind {
    Exponential,
    Constant,
    Uniform,
    Lognormal,
    Gamma,
    Erlang,
}

/// A duration written as "250ms", "1.5s", "2m", "1m30s".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Duration(pub SimDuration);

/// Reads a duration string; with `allow_none`, also the word "none".
struct DurationVisitor {
    allow_none: bool,
}

impl Visitor<'_> for DurationVisitor {
    type Value = Option<SimDuration>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration string such as \"250ms\", \"1.5s\" or \"2m\"")?;
        if self.allow_none { f.write_str(", or \"none\"") } else { Ok(()) }
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        if self.allow_none && s.trim() == "none" {
            return Ok(None);
        }
        parse_duration(s).map(Some).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
        self.visit_f64(n as f64)
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
        Err(E::custom(format!("duration {n} has no unit: write it as a string, e.g. \"{n}s\" or \"{n}ms\"")))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let parsed = d.deserialize_any(DurationVisitor { allow_none: false })?;
        Ok(Duration(parsed.expect("none is not allowed here")))
    }
}

/// A rate in requests per second: "450/s", "27000/m", "10/h", or a bare
/// number meaning per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate(pub f64);

/// Parses a rate string; the result is in events per second.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let hint = "expected a rate such as \"450/s\", \"27000/m\" or \"10/h\", or a number of requests per second";
    let s = text.trim();
    let (number, per) = match s.split_once('/') {
        Some((n, unit)) => (n.trim(), unit.trim()),
        None => (s, "s"),
    };
    let seconds = match per {
        "s" => 1.0,
        "ms" => 1e-3,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("rate \"{text}\" has unknown unit \"/{per}\": {hint}")),
    };
    let value: f64 = number.parse().map_err(|_| format!("malformed rate \"{text}\": {hint}"))?;
    check_rate(value / seconds, text)
}

/// The highest rate a scenario may state, per second: above any real
/// system's traffic, and low enough that the analysis of a scenario stays
/// finite (a rate of 1e308/s made `check` print infinities and NaN).
pub const MAX_RATE: f64 = 1e9;

fn check_rate(per_sec: f64, text: &str) -> Result<f64, String> {
    if !per_sec.is_finite() {
        Err(format!("rate {text} is not a finite number"))
    } else if per_sec < 0.0 {
        Err(format!("rate {text} is negative; a rate must be >= 0"))
    } else if per_sec > MAX_RATE {
        Err(format!("rate {text} is above the maximum of {MAX_RATE:e}/s"))
    } else {
        Ok(per_sec)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a rate such as \"450/s\" or a number of requests per second")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Rate, E> {
                parse_rate(s).map(Rate).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Rate, E> {
                check_rate(n as f64, &n.to_string()).map(Rate).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Rate, E> {
                check_rate(n as f64, &n.to_string()).map(Rate).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Rate, E> {
                check_rate(n, &n.to_string()).map(Rate).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A client timeout: a duration, or "none" for a client that waits forever.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeout(pub Option<SimDuration>);

impl<'de> Deserialize<'de> for Timeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurationVisitor { allow_none: true }).map(Timeout)
    }
}

/// Queue capacity per node: a count (0 = no queue), or "unbounded".
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QueueCapacity {
    Bounded(i64),
    Unbounded,
}

impl<'de> Deserialize<'de> for QueueCapacity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = QueueCapacity;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of queued requests (0 = no queue) or \"unbounded\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<QueueCapacity, E> {
                if s.trim() == "unbounded" {
                    Ok(QueueCapacity::Unbounded)
                } else {
                    Err(E::custom(format!(
                        "expected a number of queued requests (0 = no queue) or \"unbounded\", got \"{s}\""
                    )))
                }
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<QueueCapacity, E> {
                Ok(QueueCapacity::Bounded(n))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<QueueCapacity, E> {
                Ok(QueueCapacity::Bounded(n.min(i64::MAX as u64) as i64))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("450/s").unwrap(), 450.0);
        assert_eq!(parse_rate("27000/m").unwrap(), 450.0);
        assert_eq!(parse_rate("3600/h").unwrap(), 1.0);
        assert_eq!(parse_rate("2.5").unwrap(), 2.5);
        assert!(parse_rate("-3/s").is_err());
        assert!(parse_rate("450/day").is_err());
        assert!(parse_rate("fast").is_err());
    }
}
