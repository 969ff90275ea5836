//! Metrics of one run, streamed as the run goes so memory does not grow with
//! simulated duration: counters, HDR histograms (bounded relative error) for
//! latency and wait, a fixed-width time series of bins, and the log of
//! notable events (crashes, ejections, restarts, faults). Node busy and
//! queue integrals are kept by the nodes themselves and read at bin ends.
//!
//! Two views:
//! - per bin (time series): everything that happened in [start, end),
//!   warm-up included so charts show it; node gauges are time-averaged over
//!   the bin, not sampled; latency quantiles are exact up to 4096
//!   completions in a bin and within 1% beyond;
//! - per run (summary): only requests that arrived after the warm-up, and
//!   node integrals over [warm-up, horizon).

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::components::node::NodeTotals;
use crate::model::{CAUSES, FailureCause, Slo};
use crate::time::{SimDuration, SimTime};

mod events;
mod features;
mod quick_histogram;
mod recovery;

pub use events::EventLog;
pub use features::FeatureBins;

pub use recovery::{BreachEpisode, RecoveryStatus, RecoverySummary, RtoBreakdown};

/// Latency histograms cover 1 ns .. 1 h and grow beyond on demand; three
/// significant digits bound the relative error of any quantile by 0.1%.
const RUN_SIGFIG: u8 = 3;
/// A bin keeps up to this many latencies exactly; beyond, it spills into a
/// histogram with two significant digits (1% error) so memory stays bounded
/// however dense the bin.
const BIN_EXACT_SAMPLES: usize = 4096;
const BIN_SIGFIG: u8 = 2;
const HOUR_NS: u64 = 3_600_000_000_000;

fn histogram<T: hdrhistogram::Counter>(low: u64, sigfig: u8) -> Histogram<T> {
    let mut h = Histogram::new_with_bounds(low, HOUR_NS, sigfig).expect("valid histogram bounds");
    h.auto(true);
    h
}

/// A run-wide latency histogram, with the hot path's fast front.
fn run_histogram() -> quick_histogram::QuickHistogram {
    quick_histogram::QuickHistogram::new(histogram(1, RUN_SIGFIG), 1, HOUR_NS, RUN_SIGFIG)
}

/// Identity of a node in outputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeLabel {
    pub service: String,
    /// 0-based index within its service.
    pub index: u32,
    pub workers: u32,
}

/// One row of the time series.
#[derive(Debug, Clone, PartialEq)]
pub struct BinRow {
    pub start: SimTime,
    pub end: SimTime,
    /// Requests that arrived (first attempts) in the bin.
    pub offered: u64,
    /// Retry attempts sent in the bin.
    pub retries: u64,
    /// Requests answered successfully in the bin.
    pub completed: u64,
    /// Requests that failed for good in the bin, by the cause of the last
    /// attempt, indexed by `FailureCause as usize` (the order of [`FailureCause::ALL`]).
    pub failed: [u64; CAUSES],
    /// Responses that came back after the client had given up (wasted work).
    pub late_responses: u64,
    /// Client-side outstanding requests at the end of the bin (sampled).
    pub in_flight: u64,
    /// Writes acknowledged by databases in the bin.
    pub db_writes: u64,
    /// Of the requests that arrived in the bin, those that succeeded and
    /// those that failed for good, whenever they settled (the goodput SLI's
    /// cohort: see `recovery`).
    pub arrived_ok: u64,
    pub arrived_failed: u64,
    pub latency_p50: Option<SimDuration>,
    pub latency_p99: Option<SimDuration>,
    pub fleet: FleetSnapshot,
}

/// The state of the nodes at one instant (sampled at the end of each bin).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FleetSnapshot {
    /// Nodes whose process is up.
    pub up: u32,
    /// Up nodes that a balancer's health checks currently mark unhealthy.
    pub unhealthy: u32,
    /// Up nodes that a balancer's outlier detection currently ejects.
    pub ejected: u32,
    /// Nodes whose process is down (crashed, restarting).
    pub down: u32,
    /// Requests per second the up nodes could complete at their current
    /// workers and service-time degradation.
    pub capacity_rps: f64,
}

/// The scenario's SLO, as the output files state it (charts draw it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct SloSummary {
    pub goodput: f64,
    pub latency_p99_ms: Option<f64>,
    pub window_s: f64,
    pub hold_s: f64,
    pub rto_objective_s: Option<f64>,
    pub rpo_objective_s: Option<f64>,
}

impl SloSummary {
    pub fn of(slo: &crate::model::Slo) -> SloSummary {
        SloSummary {
            goodput: slo.goodput,
            latency_p99_ms: slo.latency_p99.map(|d| d.as_millis_f64()),
            window_s: slo.window.as_secs_f64(),
            hold_s: slo.hold.as_secs_f64(),
            rto_objective_s: slo.rto_objective.map(|d| d.as_secs_f64()),
            rpo_objective_s: slo.rpo_objective.map(|d| d.as_secs_f64()),
        }
    }
}

/// One line of `events.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    pub t: SimTime,
    pub service: String,
    /// Node index in its service; `None` for service-wide events.
    pub node: Option<u32>,
    pub event: &'static str,
    pub detail: String,
}

/// One node in one bin; gauges are time averages over the bin.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeBinRow {
    pub bin: u32,
    pub node: u32,
    pub queue_len_avg: f64,
    pub busy_workers_avg: f64,
    /// Fraction of the bin the node's process was up.
    pub up_fraction: f64,
    /// Requests whose service finished on this node in the bin.
    pub served: u64,
    pub rejected: u64,
}

/// One request class in one bin: requests of the class that arrived,
/// succeeded and failed for good in the bin.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassBinRow {
    pub bin: u32,
    /// Index in the scenario's classes (and `RunSummary::classes`).
    pub class: u16,
    pub offered: u64,
    pub completed: u64,
    pub failed: u64,
}

/// One service in one bin, with calls between services: attempts sent to
/// it (clients' and callers', retries included).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceBinRow {
    pub bin: u32,
    /// Index in the scenario's services (and `RunSummary::services`).
    pub service: u16,
    pub attempts: u64,
}

/// Latency quantiles [ms].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quantiles {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeSummary {
    pub service: String,
    pub node: u32,
    /// Busy worker-time over available worker-time (usable workers while
    /// up, so a capacity fault shrinks the denominator).
    pub utilization: f64,
    /// Fraction of the measured window the node was up.
    pub up_fraction: f64,
    pub mean_busy_workers: f64,
    /// Usable workers while up, averaged over the measured window (down
    /// time counts 0): the denominator of `utilization`.
    pub mean_available_workers: f64,
    pub mean_queue_len: f64,
    pub served: u64,
    pub rejected: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrafficSummary {
    pub source: String,
    pub offered: u64,
    pub completed: u64,
    pub failed: u64,
    pub success_fraction: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSummary {
    pub service: String,
    pub nodes: u32,
    pub workers_per_node: u32,
    pub utilization: f64,
    /// Attempts sent to the service in the measured window: clients' and
    /// other services' calls, first tries and retries (probes excluded).
    pub attempts: u64,
    /// `attempts` per request offered by the clients: how retries at every
    /// layer above multiply the load on this one.
    pub amplification: f64,
}

/// A look-aside cache, over the measured window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheSummary {
    /// The service the cache is in front of.
    pub service: String,
    pub lookups: u64,
    pub hits: u64,
    /// Misses, coalesced ones included.
    pub misses: u64,
    /// Misses that waited for another caller's fetch of the same key.
    pub coalesced: u64,
    pub hit_ratio: f64,
    pub flushes: u64,
    /// Entries held at the end of the run.
    pub entries: u32,
}

/// A serverless pool, over the measured window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerlessSummary {
    pub service: String,
    /// Requests that had to start a new instance.
    pub cold_starts: u64,
    /// Requests served by an idle instance.
    pub warm_starts: u64,
    /// Requests refused at the concurrency limit or the scaling rate
    /// (counted as `rejected` failures).
    pub throttled: u64,
    /// Idle instances reclaimed after the idle timeout.
    pub reclaimed: u64,
    /// Most instances alive at once, over the whole run.
    pub peak_instances: u32,
    pub instances_at_end: u32,
}

/// One request class, over the measured window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassSummary {
    pub class: String,
    pub offered: u64,
    pub completed: u64,
    pub failed: FailedByCause,
    pub success_fraction: f64,
    /// Client-seen response time of the class's successful requests [ms].
    pub latency_ms: Quantiles,
}

/// The calls of one step of one service to another, over the measured
/// window (by when each call or attempt started and ended).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallSummary {
    pub caller: String,
    /// The index of the step in the caller's `calls`.
    pub step: u32,
    pub callee: String,
    /// Calls started (bulkhead refusals included).
    pub calls: u64,
    /// Attempts sent: first tries and retries.
    pub attempts: u64,
    pub succeeded: u64,
    /// Failed for good (after retries), bulkhead refusals included.
    pub failed: u64,
    /// Refused at once because the caller's bulkhead was full.
    pub bulkhead_refused: u64,
    /// Over after the caller had stopped waiting (its node crashed, or a
    /// parallel step was decided without this call).
    pub abandoned: u64,
    /// attempts / calls.
    pub attempts_per_call: f64,
}

/// Whole-run request accounting, warm-up included: arrivals must equal
/// completed + failed + in flight.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conservation {
    pub arrivals: u64,
    pub completed: u64,
    pub failed: u64,
    pub in_flight: u64,
}

/// Per-run results over the measured window (after warm-up).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub measured_window_s: f64,
    /// Requests that arrived in the measured window.
    pub offered: u64,
    pub completed: u64,
    /// Requests failed for good, by cause of the last attempt.
    pub failed: FailedByCause,
    pub late_responses: u64,
    /// Retry attempts sent in the measured window.
    pub retries: u64,
    /// Attempts per request: (first attempts + retries) / first attempts.
    pub retry_amplification: f64,
    /// The highest per-bin amplification after the warm-up.
    pub peak_retry_amplification: f64,
    pub offered_rps: f64,
    /// Successful responses per second.
    pub throughput_rps: f64,
    pub success_fraction: f64,
    pub rejection_fraction: f64,
    pub timeout_fraction: f64,
    /// Client-seen response time of successful requests [ms].
    pub latency_ms: Quantiles,
    pub mean_response_ms: Option<f64>,
    /// Time from arrival at a node to the start of service [ms], over
    /// requests whose service started.
    pub mean_wait_ms: Option<f64>,
    pub wait_ms: Quantiles,
    /// Fraction of started requests that had to wait (wait > 0).
    pub p_wait: Option<f64>,
    /// Per traffic source, over the measured window.
    pub traffic: Vec<TrafficSummary>,
    /// Per request class (empty when no source has classes).
    pub classes: Vec<ClassSummary>,
    pub services: Vec<ServiceSummary>,
    /// Per call between services (empty without `calls`).
    pub calls: Vec<CallSummary>,
    /// Per look-aside cache.
    pub caches: Vec<CacheSummary>,
    /// Per serverless pool.
    pub serverless: Vec<ServerlessSummary>,
    pub nodes: Vec<NodeSummary>,
    /// Every crash, in time order.
    pub node_deaths: Vec<NodeDeath>,
    /// Per database: writes, losses and failovers.
    pub databases: Vec<DatabaseSummary>,
    /// The regional disaster and its recovery, if one happened.
    pub disaster_recovery: Option<DrSummary>,
    pub cascade: CascadeSummary,
    pub recovery: RecoverySummary,
    pub conservation: Conservation,
    pub events: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FailedByCause {
    pub timeout: u64,
    pub rejected: u64,
    pub reset: u64,
    pub error: u64,
    pub shed: u64,
    pub deadline: u64,
    pub circuit_open: u64,
    pub throttled: u64,
    pub rate_limited: u64,
    pub bulkhead: u64,
}

impl FailedByCause {
    fn from_counts(c: &[u64; CAUSES]) -> Self {
        FailedByCause {
            timeout: c[0],
            rejected: c[1],
            reset: c[2],
            error: c[3],
            shed: c[4],
            deadline: c[5],
            circuit_open: c[6],
            throttled: c[7],
            rate_limited: c[8],
            bulkhead: c[9],
        }
    }

    pub fn total(&self) -> u64 {
        self.timeout
            + self.rejected
            + self.reset
            + self.error
            + self.shed
            + self.deadline
            + self.circuit_open
            + self.throttled
            + self.rate_limited
            + self.bulkhead
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrSummary {
    pub strategy: String,
    pub disaster_at_s: f64,
    pub detected_at_s: Option<f64>,
    pub traffic_shifted_at_s: Option<f64>,
    pub standby_ready_at_s: Option<f64>,
    /// Age, at the disaster, of the newest data the standby region holds.
    pub rpo_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatabaseSummary {
    pub database: String,
    pub writes_acked: u64,
    /// Acknowledged writes that had not reached a replica when the primary
    /// failed, and so were lost at failover.
    pub writes_lost: u64,
    pub failovers: Vec<FailoverSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailoverSummary {
    pub primary_failed_at_s: f64,
    /// When a replica took over; `null` if none did before the run ended.
    pub promoted_at_s: Option<f64>,
    pub lost_writes: u64,
    /// Age, at the failure, of the newest write the replicas had.
    pub rpo_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeDeath {
    pub t_s: f64,
    pub service: String,
    pub node: u32,
    pub cause: String,
}

/// A cascade: more than half of a service's nodes down at the same time.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CascadeSummary {
    pub happened: bool,
    /// First time more than half of some service's nodes were down.
    pub at_s: Option<f64>,
    pub service: Option<String>,
    /// Most nodes of any one service down at once.
    pub max_nodes_down: u32,
}

/// Everything one run produces.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub scenario: String,
    pub run_index: u64,
    /// The base seed the run's streams were derived from.
    pub seed: u64,
    pub duration: SimDuration,
    pub warmup: SimDuration,
    pub bin: SimDuration,
    pub nodes: Vec<NodeLabel>,
    pub slo: SloSummary,
    pub summary: RunSummary,
    pub bins: Vec<BinRow>,
    pub node_bins: Vec<NodeBinRow>,
    /// Per (bin, request class), bins first; empty without classes.
    pub class_bins: Vec<ClassBinRow>,
    /// Per (bin, service), bins first; empty without calls between services.
    pub service_bins: Vec<ServiceBinRow>,
    /// Per-bin samples of caches, memory, databases and serverless pools
    /// (each empty without its feature).
    pub features: FeatureBins,
    pub events: Vec<LoggedEvent>,
}

/// Latencies of the current bin, for its p50 and p99.
struct BinLatency {
    samples: Vec<u64>,
    spill: Histogram<u32>,
    spilled: bool,
}

/// Up to this many largest samples are kept by a scan for a bin's p99.
const TOP_SCAN: usize = 8;

/// The least of the `m` largest values (1 <= m <= min(len, TOP_SCAN)): the
/// value at index len - m in sorted order, without reordering.
fn least_of_largest(values: &[u64], m: usize) -> u64 {
    debug_assert!((1..=TOP_SCAN.min(values.len())).contains(&m));
    // `top[..m]` ascending: the m largest seen so far.
    let mut top = [0u64; TOP_SCAN];
    top[..m].copy_from_slice(&values[..m]);
    top[..m].sort_unstable();
    for &x in &values[m..] {
        if x > top[0] {
            // Drop the least, insert x in order.
            let mut i = 0;
            while i + 1 < m && top[i + 1] < x {
                top[i] = top[i + 1];
                i += 1;
            }
            top[i] = x;
        }
    }
    top[0]
}

impl BinLatency {
    fn new() -> Self {
        BinLatency { samples: Vec::with_capacity(256), spill: histogram(1_000, BIN_SIGFIG), spilled: false }
    }

    #[inline]
    fn record(&mut self, ns: u64) {
        if self.samples.len() < BIN_EXACT_SAMPLES {
            self.samples.push(ns);
        } else {
            self.spill.saturating_record(ns);
            self.spilled = true;
        }
    }

    /// (p50, p99): exact nearest-rank quantiles while the bin is small,
    /// histogram quantiles (1% error) once it spilled.
    fn quantiles(&mut self) -> (Option<SimDuration>, Option<SimDuration>) {
        if self.spilled {
            for &x in &self.samples {
                self.spill.saturating_record(x);
            }
            let q = |q: f64| Some(SimDuration(self.spill.median_equivalent(self.spill.value_at_quantile(q))));
            return (q(0.5), q(0.99));
        }
        let n = self.samples.len();
        if n == 0 {
            return (None, None);
        }
        let rank = |q: f64| ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
        let (k50, k99) = (rank(0.5), rank(0.99));
        // The p99 is the least of the n - k99 largest samples: with a few of
        // them (bins below 800 samples), one pass keeping them is cheaper
        // than a second selection.
        let above_p99 = n - k99;
        let p99 = if above_p99 <= TOP_SCAN { Some(least_of_largest(&self.samples, above_p99)) } else { None };
        let (_, &mut p50, above) = self.samples.select_nth_unstable(k50);
        // Otherwise it is among the samples the p50's selection left above it.
        let p99 = p99.unwrap_or_else(|| if k99 == k50 { p50 } else { *above.select_nth_unstable(k99 - k50 - 1).1 });
        (Some(SimDuration(p50)), Some(SimDuration(p99)))
    }

    fn clear(&mut self) {
        self.samples.clear();
        if self.spilled {
            self.spill.reset();
            self.spilled = false;
        }
    }
}

/// Per-node counters, with snapshots of the node's integrals and counters
/// at the start of the bin and at the end of the warm-up.
#[derive(Debug, Clone, Default)]
struct NodeGauge {
    served: u64,
    rejected: u64,
    bin_start: (NodeTotals, u64, u64),
    warm_start: (NodeTotals, u64, u64),
}

/// One request class's counts over the measured window.
struct ClassCounts {
    offered: u64,
    completed: u64,
    failed: [u64; CAUSES],
    latency: quick_histogram::QuickHistogram,
}

#[derive(Debug, Clone, Default)]
struct Counts {
    db_writes: u64,
    offered: u64,
    retries: u64,
    completed: u64,
    failed: [u64; CAUSES],
    late_responses: u64,
}

/// Streams a run's observations into bins and summary statistics.
pub struct Recorder {
    warmup_end: SimTime,
    bin_width: SimDuration,
    measuring: bool,
    bin_start: SimTime,
    bin: Counts,
    bin_latency: BinLatency,
    bins: Vec<BinRow>,
    node_bins: Vec<NodeBinRow>,
    gauges: Vec<NodeGauge>,
    measured: Counts,
    latency: quick_histogram::QuickHistogram,
    wait: quick_histogram::QuickHistogram,
    sum_latency_ns: u128,
    sum_wait_ns: u128,
    started: u64,
    waited: u64,
    total_arrivals: u64,
    total_completed: u64,
    total_failed: u64,
    /// Where event rows go, the rows kept (with [`EventLog::Keep`]) and
    /// what the summary needs from them.
    event_log: EventLog,
    events: Vec<LoggedEvent>,
    event_digest: events::EventDigest,
    /// Per traffic source, over the measured window: (offered, completed, failed).
    per_source: Vec<[u64; 3]>,
    source_names: Vec<String>,
    class_names: Vec<String>,
    /// With a single source its counts are the totals: not kept twice.
    several_sources: bool,
    per_class: Vec<ClassCounts>,
    /// Per class, the current bin's (offered, completed, failed).
    class_bin: Vec<[u64; 3]>,
    class_bins: Vec<ClassBinRow>,
    /// Per arrival bin: requests that succeeded, and that failed, so far.
    cohorts: Vec<[u64; 2]>,
    slo: Slo,
}

impl Recorder {
    pub fn new(node_count: usize, warmup: SimDuration, bin_width: SimDuration, horizon: SimTime) -> Self {
        let expected_bins = (horizon.0 / bin_width.0.max(1) + 1) as usize;
        Recorder {
            warmup_end: SimTime::ZERO + warmup,
            bin_width,
            measuring: warmup.is_zero(),
            bin_start: SimTime::ZERO,
            bin: Counts::default(),
            bin_latency: BinLatency::new(),
            bins: Vec::with_capacity(expected_bins.min(1 << 20)),
            node_bins: Vec::with_capacity((expected_bins * node_count).min(1 << 22)),
            gauges: vec![NodeGauge::default(); node_count],
            measured: Counts::default(),
            latency: run_histogram(),
            wait: run_histogram(),
            sum_latency_ns: 0,
            sum_wait_ns: 0,
            started: 0,
            waited: 0,
            total_arrivals: 0,
            total_completed: 0,
            total_failed: 0,
            event_log: EventLog::Keep,
            events: Vec::new(),
            event_digest: events::EventDigest::default(),
            per_source: Vec::new(),
            source_names: Vec::new(),
            class_names: Vec::new(),
            several_sources: false,
            per_class: Vec::new(),
            class_bin: Vec::new(),
            class_bins: Vec::new(),
            cohorts: vec![[0; 2]; expected_bins.min(1 << 20)],
            slo: Slo::default(),
        }
    }

    /// Counts a settled request against the bin it arrived in.
    #[inline(always)]
    fn settle(&mut self, arrival: SimTime, ok: bool) {
        // Most requests settle in the bin they arrived in: no division then.
        let bin = match arrival >= self.bin_start {
            true => self.bins.len(),
            false => (arrival.0 / self.bin_width.0.max(1)) as usize,
        };
        if bin >= self.cohorts.len() {
            self.grow_cohorts(bin);
        }
        self.cohorts[bin][!ok as usize] += 1;
    }

    /// Once a bin: room for the cohort of bin `bin`.
    #[cold]
    fn grow_cohorts(&mut self, bin: usize) {
        self.cohorts.resize(bin + 1, [0; 2]);
    }

    /// Chooses where event rows go (kept in memory unless told otherwise).
    pub fn set_event_log(&mut self, log: EventLog) {
        self.event_log = log;
    }

    /// Adds a line to the event log.
    pub fn log(&mut self, t: SimTime, service: &str, node: Option<u32>, event: &'static str, detail: String) {
        let e = LoggedEvent { t, service: service.to_string(), node, event, detail };
        self.event_digest.add(&e);
        match &mut self.event_log {
            EventLog::Keep => self.events.push(e),
            EventLog::Discard => {}
            EventLog::Stream(write) => write(&e),
        }
    }

    /// When the next bin ends.
    pub fn bin_end(&self) -> SimTime {
        self.bin_start + self.bin_width
    }

    /// The warm-up is over: summary statistics are being collected.
    pub fn measuring(&self) -> bool {
        self.measuring
    }

    pub fn warmup_end(&self) -> SimTime {
        self.warmup_end
    }

    #[inline]
    fn is_measured(&self, arrival: SimTime) -> bool {
        arrival >= self.warmup_end
    }

    /// Client-side requests outstanding now.
    pub fn in_flight(&self) -> u64 {
        self.total_arrivals - self.total_completed - self.total_failed
    }

    #[inline]
    pub fn arrival(&mut self, now: SimTime, source: usize) {
        self.total_arrivals += 1;
        self.bin.offered += 1;
        if self.is_measured(now) {
            self.measured.offered += 1;
            if self.several_sources {
                self.per_source[source][0] += 1;
            }
        }
    }

    /// The service-level objective RTO is measured against.
    pub fn set_slo(&mut self, slo: Slo) {
        self.slo = slo;
    }

    /// Names the traffic sources, for per-source summaries.
    pub fn set_sources(&mut self, names: &[String]) {
        self.per_source = vec![[0; 3]; names.len()];
        self.several_sources = names.len() > 1;
        self.source_names = names.to_vec();
    }

    /// Request classes, for per-class summaries.
    pub fn set_classes(&mut self, names: &[String]) {
        self.class_names = names.to_vec();
        self.class_bin = vec![[0; 3]; names.len()];
        self.per_class = (0..names.len())
            .map(|_| ClassCounts { offered: 0, completed: 0, failed: [0; CAUSES], latency: run_histogram() })
            .collect();
    }

    /// A request of `class` arrived.
    pub fn class_arrival(&mut self, now: SimTime, class: u16) {
        self.class_bin[class as usize][0] += 1;
        if self.is_measured(now) {
            self.per_class[class as usize].offered += 1;
        }
    }

    /// A request of `class` that arrived at `arrival` succeeded.
    pub fn class_completed(&mut self, now: SimTime, arrival: SimTime, class: u16) {
        self.class_bin[class as usize][1] += 1;
        if self.is_measured(arrival) {
            let c = &mut self.per_class[class as usize];
            c.completed += 1;
            c.latency.record(now.0 - arrival.0);
        }
    }

    /// A request of `class` that arrived at `arrival` failed for good.
    pub fn class_failed(&mut self, _now: SimTime, arrival: SimTime, cause: FailureCause, class: u16) {
        self.class_bin[class as usize][2] += 1;
        if self.is_measured(arrival) {
            self.per_class[class as usize].failed[cause as usize] += 1;
        }
    }

    /// A request started service at `now` after arriving at the node at `arrival`.
    #[inline]
    pub fn service_started(&mut self, now: SimTime, arrival: SimTime) {
        if self.is_measured(arrival) {
            let wait = now.0 - arrival.0;
            self.started += 1;
            // Zero waits (the common case below saturation) are counted and
            // added to the histogram in one go at the end.
            if wait > 0 {
                self.waited += 1;
                self.sum_wait_ns += wait as u128;
                self.wait.record(wait);
            }
        }
    }

    /// A client received a successful response.
    #[inline]
    pub fn completed(&mut self, now: SimTime, arrival: SimTime, source: usize) {
        self.completed_after(SimDuration(now.0 - arrival.0), arrival, source);
    }

    /// A client received a successful response `latency` after sending its
    /// request (which reached the simulation at `arrival`: later, for a
    /// request already queued at t = 0).
    #[inline(always)]
    pub fn completed_after(&mut self, latency: SimDuration, arrival: SimTime, source: usize) {
        let latency = latency.0;
        self.total_completed += 1;
        self.bin.completed += 1;
        self.settle(arrival, true);
        self.bin_latency.record(latency);
        if self.is_measured(arrival) {
            self.measured.completed += 1;
            if self.several_sources {
                self.per_source[source][1] += 1;
            }
            self.sum_latency_ns += latency as u128;
            self.latency.record(latency);
        }
    }

    /// A request failed for good; `cause` is its last attempt's.
    pub fn failed(&mut self, arrival: SimTime, cause: FailureCause, source: usize) {
        self.total_failed += 1;
        self.bin.failed[cause as usize] += 1;
        self.settle(arrival, false);
        if self.is_measured(arrival) {
            self.measured.failed[cause as usize] += 1;
            if self.several_sources {
                self.per_source[source][2] += 1;
            }
        }
    }

    /// A database acknowledged a write.
    pub fn db_write(&mut self, _now: SimTime) {
        self.bin.db_writes += 1;
    }

    /// A retry attempt was sent.
    #[inline]
    pub fn retry(&mut self, now: SimTime) {
        self.bin.retries += 1;
        if self.is_measured(now) {
            self.measured.retries += 1;
        }
    }

    /// A node turned an attempt away (queue full).
    pub fn node_rejected(&mut self, node: usize) {
        self.gauges[node].rejected += 1;
    }

    /// A node finished a request (for the client or not).
    #[inline]
    pub fn served(&mut self, node: usize) {
        self.gauges[node].served += 1;
    }

    /// A response arrived after its client had already timed out.
    pub fn late_response(&mut self, arrival: SimTime) {
        self.bin.late_responses += 1;
        if self.is_measured(arrival) {
            self.measured.late_responses += 1;
        }
    }

    /// The warm-up ends now: node integrals for the summary start here.
    /// `areas` holds each node's (busy, queue) integrals up to now.
    pub fn end_warmup(&mut self, areas: &[NodeTotals]) {
        for (g, a) in self.gauges.iter_mut().zip(areas) {
            g.warm_start = (*a, g.served, g.rejected);
        }
        self.measuring = true;
    }

    /// Closes the current bin at `now` and opens the next. `areas` holds
    /// each node's (busy, queue) integrals up to now.
    pub fn close_bin(&mut self, now: SimTime, areas: &[NodeTotals], fleet: FleetSnapshot) {
        let width = now.0 - self.bin_start.0;
        let bin_index = self.bins.len() as u32;
        let (latency_p50, latency_p99) = self.bin_latency.quantiles();
        let in_flight = self.in_flight();
        let bin = std::mem::take(&mut self.bin);
        self.bins.push(BinRow {
            start: self.bin_start,
            end: now,
            offered: bin.offered,
            retries: bin.retries,
            completed: bin.completed,
            failed: bin.failed,
            late_responses: bin.late_responses,
            in_flight,
            db_writes: bin.db_writes,
            // Filled in by `finish`, once the bin's requests have settled.
            arrived_ok: 0,
            arrived_failed: 0,
            latency_p50,
            latency_p99,
            fleet,
        });
        for (i, (g, a)) in self.gauges.iter_mut().zip(areas).enumerate() {
            let (t0, served0, rejected0) = g.bin_start;
            let avg = |area: u128, start: u128| if width == 0 { 0.0 } else { (area - start) as f64 / width as f64 };
            self.node_bins.push(NodeBinRow {
                bin: bin_index,
                node: i as u32,
                queue_len_avg: avg(a.queued, t0.queued),
                busy_workers_avg: avg(a.busy, t0.busy),
                up_fraction: avg(a.up, t0.up),
                served: g.served - served0,
                rejected: g.rejected - rejected0,
            });
            g.bin_start = (*a, g.served, g.rejected);
        }
        for (class, counts) in self.class_bin.iter_mut().enumerate() {
            let [offered, completed, failed] = std::mem::take(counts);
            self.class_bins.push(ClassBinRow { bin: bin_index, class: class as u16, offered, completed, failed });
        }
        self.bin_latency.clear();
        self.bin_start = now;
    }

    /// How many bins `finish` at `horizon` leaves (it may close a last one).
    pub fn bins_after_finish(&self, horizon: SimTime) -> usize {
        self.bins.len() + usize::from(horizon > self.bin_start || self.bins.is_empty())
    }

    /// Closes the last (possibly partial) bin at the horizon and computes
    /// the summary. `nodes` labels the nodes in order; `areas` and `fleet`
    /// are their state at the horizon.
    pub fn finish(
        mut self,
        horizon: SimTime,
        nodes: &[NodeLabel],
        areas: &[NodeTotals],
        fleet: FleetSnapshot,
        events: u64,
    ) -> (RunSummary, Vec<BinRow>, Vec<NodeBinRow>, Vec<ClassBinRow>, Vec<LoggedEvent>) {
        if horizon > self.bin_start || self.bins.is_empty() {
            self.close_bin(horizon, areas, fleet);
        }
        if !self.measuring {
            self.end_warmup(areas);
        }
        for (bin, cohort) in self.bins.iter_mut().zip(&self.cohorts) {
            [bin.arrived_ok, bin.arrived_failed] = *cohort;
        }
        let window_ns = horizon.0.saturating_sub(self.warmup_end.0);
        let window_s = window_ns as f64 / 1e9;
        let per_window =
            |area: u128, start: u128| if window_ns == 0 { 0.0 } else { (area - start) as f64 / window_ns as f64 };

        let mut node_summaries = Vec::with_capacity(nodes.len());
        // Utilization is busy worker-time over available worker-time (the
        // workers usable while up), so a node that was down, not yet
        // provisioned or cut by a capacity fault is not diluted.
        let mut available_worker_time: Vec<f64> = Vec::with_capacity(nodes.len());
        for ((g, label), a) in self.gauges.iter().zip(nodes).zip(areas) {
            let (t0, served0, rejected0) = g.warm_start;
            let busy = per_window(a.busy, t0.busy);
            let up = per_window(a.up, t0.up);
            let available = per_window(a.available, t0.available);
            available_worker_time.push(available);
            node_summaries.push(NodeSummary {
                service: label.service.clone(),
                node: label.index,
                utilization: if available > 0.0 { busy / available } else { 0.0 },
                up_fraction: up,
                mean_busy_workers: busy,
                mean_available_workers: available,
                mean_queue_len: per_window(a.queued, t0.queued),
                served: g.served - served0,
                rejected: g.rejected - rejected0,
            });
        }
        let mut services: Vec<ServiceSummary> = Vec::new();
        let mut service_up_time: Vec<f64> = Vec::new();
        for ((n, label), up) in node_summaries.iter().zip(nodes).zip(&available_worker_time) {
            match services.last_mut() {
                Some(s) if s.service == label.service => {
                    s.nodes += 1;
                    s.utilization += n.mean_busy_workers;
                    *service_up_time.last_mut().expect("pushed with the service") += up;
                }
                _ => {
                    services.push(ServiceSummary {
                        service: label.service.clone(),
                        nodes: 1,
                        workers_per_node: label.workers,
                        utilization: n.mean_busy_workers,
                        attempts: 0,
                        amplification: 0.0,
                    });
                    service_up_time.push(*up);
                }
            }
        }
        for (s, up) in services.iter_mut().zip(&service_up_time) {
            s.utilization = if *up > 0.0 { s.utilization / up } else { 0.0 };
        }

        let measured_bins = self.bins.iter().filter(|b| b.start >= self.warmup_end && b.offered > 0);
        let peak_retry_amplification =
            measured_bins.map(|b| (b.offered + b.retries) as f64 / b.offered as f64).fold(1.0, f64::max);
        let node_deaths = std::mem::take(&mut self.event_digest.node_deaths);
        let cascade = self.event_digest.cascade(nodes);
        let recovery =
            recovery::recovery_summary(self.event_digest.first_disruption, &self.bins, self.warmup_end, &self.slo);
        // The episodes join the event log in time order (after events at the
        // same instant); a streamed log gets them to merge in.
        for e in recovery::episode_events(&recovery) {
            let at = self.events.partition_point(|x| x.t <= e.t);
            self.events.insert(at, e);
        }

        let zero_waits = self.started - self.waited;
        if zero_waits > 0 {
            self.wait.record_n(0, zero_waits);
        }
        if !self.several_sources
            && let Some(only) = self.per_source.first_mut()
        {
            let m = &self.measured;
            *only = [m.offered, m.completed, m.failed.iter().sum()];
        }
        let m = &self.measured;
        let fraction = |x: u64| if m.offered == 0 { 0.0 } else { x as f64 / m.offered as f64 };
        let mean_ms = |sum: u128, n: u64| (n > 0).then(|| sum as f64 / n as f64 / 1e6);
        let failed = FailedByCause::from_counts(&m.failed);
        let summary = RunSummary {
            measured_window_s: window_s,
            offered: m.offered,
            completed: m.completed,
            late_responses: m.late_responses,
            retries: m.retries,
            retry_amplification: if m.offered == 0 { 1.0 } else { (m.offered + m.retries) as f64 / m.offered as f64 },
            peak_retry_amplification,
            offered_rps: if window_s > 0.0 { m.offered as f64 / window_s } else { 0.0 },
            throughput_rps: if window_s > 0.0 { m.completed as f64 / window_s } else { 0.0 },
            success_fraction: fraction(m.completed),
            rejection_fraction: fraction(failed.rejected),
            timeout_fraction: fraction(failed.timeout),
            failed,
            latency_ms: quantiles_ms(self.latency.histogram()),
            mean_response_ms: mean_ms(self.sum_latency_ns, m.completed),
            mean_wait_ms: mean_ms(self.sum_wait_ns, self.started),
            wait_ms: quantiles_ms(self.wait.histogram()),
            p_wait: (self.started > 0).then(|| self.waited as f64 / self.started as f64),
            traffic: self
                .source_names
                .iter()
                .zip(&self.per_source)
                .map(|(name, c)| TrafficSummary {
                    source: name.clone(),
                    offered: c[0],
                    completed: c[1],
                    failed: c[2],
                    success_fraction: if c[0] == 0 { 0.0 } else { c[1] as f64 / c[0] as f64 },
                })
                .collect(),
            classes: self
                .class_names
                .iter()
                .zip(&mut self.per_class)
                .map(|(name, c)| ClassSummary {
                    class: name.clone(),
                    offered: c.offered,
                    completed: c.completed,
                    failed: FailedByCause::from_counts(&c.failed),
                    success_fraction: if c.offered == 0 { 0.0 } else { c.completed as f64 / c.offered as f64 },
                    latency_ms: quantiles_ms(c.latency.histogram()),
                })
                .collect(),
            services,
            calls: Vec::new(),
            caches: Vec::new(),
            serverless: Vec::new(),
            nodes: node_summaries,
            node_deaths,
            databases: Vec::new(),
            disaster_recovery: None,
            cascade,
            recovery,
            conservation: Conservation {
                arrivals: self.total_arrivals,
                completed: self.total_completed,
                failed: self.total_failed,
                in_flight: self.in_flight(),
            },
            events,
        };
        (summary, self.bins, self.node_bins, self.class_bins, self.events)
    }
}

fn quantiles_ms(h: &Histogram<u64>) -> Quantiles {
    // The middle of the quantile's bucket halves the worst-case error of its edge.
    let q = |q: f64| (!h.is_empty()).then(|| h.median_equivalent(h.value_at_quantile(q)) as f64 / 1e6);
    Quantiles {
        p50: q(0.5),
        p90: q(0.9),
        p99: q(0.99),
        p999: q(0.999),
        max: (!h.is_empty()).then(|| h.max() as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    /// The scan's p99 value equals the sorted samples' value, duplicates
    /// and every order included.
    #[test]
    fn least_of_largest_is_the_sorted_value() {
        let mut state = 11u64;
        for round in 0..2000 {
            let len = 1 + round % 300;
            let mut values: Vec<u64> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (state >> 33) % (1 + round as u64 % 50)
                })
                .collect();
            match round % 3 {
                1 => values.sort_unstable(),
                2 => values.sort_unstable_by(|a, b| b.cmp(a)),
                _ => {}
            }
            let mut sorted = values.clone();
            sorted.sort_unstable();
            for m in 1..=super::TOP_SCAN.min(len) {
                assert_eq!(super::least_of_largest(&values, m), sorted[len - m], "round {round}, m {m}");
            }
        }
    }
}
