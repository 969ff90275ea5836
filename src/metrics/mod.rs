//! Metrics of one run, streamed as the run goes so memory does not grow with
//! simulated duration: counters, HDR histograms (bounded relative error) for
//! latency and wait, time integrals of each node's busy workers and queue
//! length, and a fixed-width time series of bins.
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

use crate::time::{SimDuration, SimTime};

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
    /// Successful responses received by clients in the bin.
    pub completed: u64,
    pub failed_timeout: u64,
    pub failed_rejected: u64,
    /// Responses that came back after the client had given up (wasted work).
    pub late_responses: u64,
    /// Client-side outstanding requests at the end of the bin (sampled).
    pub in_flight: u64,
    pub latency_p50: Option<SimDuration>,
    pub latency_p99: Option<SimDuration>,
}

/// One node in one bin; gauges are time averages over the bin.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeBinRow {
    pub bin: u32,
    pub node: u32,
    pub queue_len_avg: f64,
    pub busy_workers_avg: f64,
    /// Requests whose service finished on this node in the bin.
    pub served: u64,
    pub rejected: u64,
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
    pub utilization: f64,
    pub mean_busy_workers: f64,
    pub mean_queue_len: f64,
    pub served: u64,
    pub rejected: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSummary {
    pub service: String,
    pub nodes: u32,
    pub workers_per_node: u32,
    pub utilization: f64,
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
    pub failed_timeout: u64,
    pub failed_rejected: u64,
    pub late_responses: u64,
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
    pub services: Vec<ServiceSummary>,
    pub nodes: Vec<NodeSummary>,
    pub conservation: Conservation,
    pub events: u64,
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
    pub summary: RunSummary,
    pub bins: Vec<BinRow>,
    pub node_bins: Vec<NodeBinRow>,
}

/// Latencies of the current bin, for its p50 and p99.
struct BinLatency {
    samples: Vec<u64>,
    spill: Histogram<u32>,
    spilled: bool,
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
        let mut rank = |q: f64| {
            let k = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
            Some(SimDuration(*self.samples.select_nth_unstable(k).1))
        };
        (rank(0.5), rank(0.99))
    }

    fn clear(&mut self) {
        self.samples.clear();
        if self.spilled {
            self.spill.reset();
            self.spilled = false;
        }
    }
}

#[derive(Debug, Clone, Default)]
struct NodeGauge {
    last_change: u64,
    busy: u32,
    queued: u32,
    /// ∫ busy dt and ∫ queued dt since t = 0 [ns · requests].
    busy_area: u128,
    queue_area: u128,
    served: u64,
    rejected: u64,
    /// Snapshots of the above at the start of the current bin and at warm-up end.
    bin_start: (u128, u128, u64, u64),
    warm_start: (u128, u128, u64, u64),
}

impl NodeGauge {
    #[inline]
    fn advance(&mut self, now: u64) {
        let dt = (now - self.last_change) as u128;
        self.busy_area += self.busy as u128 * dt;
        self.queue_area += self.queued as u128 * dt;
        self.last_change = now;
    }

    fn snapshot(&self) -> (u128, u128, u64, u64) {
        (self.busy_area, self.queue_area, self.served, self.rejected)
    }
}

#[derive(Debug, Clone, Default)]
struct Counts {
    offered: u64,
    completed: u64,
    failed_timeout: u64,
    failed_rejected: u64,
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
    latency: Histogram<u64>,
    wait: Histogram<u64>,
    sum_latency_ns: u128,
    sum_wait_ns: u128,
    started: u64,
    waited: u64,
    total_arrivals: u64,
    total_completed: u64,
    total_failed: u64,
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
            latency: histogram(1, RUN_SIGFIG),
            wait: histogram(1, RUN_SIGFIG),
            sum_latency_ns: 0,
            sum_wait_ns: 0,
            started: 0,
            waited: 0,
            total_arrivals: 0,
            total_completed: 0,
            total_failed: 0,
        }
    }

    /// When the next bin ends.
    pub fn bin_end(&self) -> SimTime {
        self.bin_start + self.bin_width
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
    pub fn arrival(&mut self, now: SimTime) {
        self.total_arrivals += 1;
        self.bin.offered += 1;
        if self.is_measured(now) {
            self.measured.offered += 1;
        }
    }

    /// A request started service at `now` after arriving at the node at `arrival`.
    #[inline]
    pub fn service_started(&mut self, now: SimTime, arrival: SimTime) {
        if self.is_measured(arrival) {
            let wait = now.0 - arrival.0;
            self.started += 1;
            self.waited += (wait > 0) as u64;
            self.sum_wait_ns += wait as u128;
            self.wait.saturating_record(wait);
        }
    }

    /// A client received a successful response.
    #[inline]
    pub fn completed(&mut self, now: SimTime, arrival: SimTime) {
        let latency = now.0 - arrival.0;
        self.total_completed += 1;
        self.bin.completed += 1;
        self.bin_latency.record(latency);
        if self.is_measured(arrival) {
            self.measured.completed += 1;
            self.sum_latency_ns += latency as u128;
            self.latency.saturating_record(latency);
        }
    }

    /// The client gave up waiting.
    pub fn timed_out(&mut self, arrival: SimTime) {
        self.total_failed += 1;
        self.bin.failed_timeout += 1;
        if self.is_measured(arrival) {
            self.measured.failed_timeout += 1;
        }
    }

    /// The node turned the request away.
    pub fn rejected(&mut self, arrival: SimTime, node: usize) {
        self.total_failed += 1;
        self.bin.failed_rejected += 1;
        self.gauges[node].rejected += 1;
        if self.is_measured(arrival) {
            self.measured.failed_rejected += 1;
        }
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

    /// A node's busy-worker or queue count changed at `now` (call after the change).
    #[inline]
    pub fn node_changed(&mut self, node: usize, now: SimTime, busy: u32, queued: u32) {
        let g = &mut self.gauges[node];
        g.advance(now.0);
        g.busy = busy;
        g.queued = queued;
    }

    /// The warm-up ends now: node integrals for the summary start here.
    pub fn end_warmup(&mut self, now: SimTime) {
        for g in &mut self.gauges {
            g.advance(now.0);
            g.warm_start = g.snapshot();
        }
        self.measuring = true;
    }

    /// Closes the current bin at `now` and opens the next.
    pub fn close_bin(&mut self, now: SimTime) {
        let width = now.0 - self.bin_start.0;
        let bin_index = self.bins.len() as u32;
        let (latency_p50, latency_p99) = self.bin_latency.quantiles();
        let in_flight = self.in_flight();
        self.bins.push(BinRow {
            start: self.bin_start,
            end: now,
            offered: self.bin.offered,
            completed: self.bin.completed,
            failed_timeout: self.bin.failed_timeout,
            failed_rejected: self.bin.failed_rejected,
            late_responses: self.bin.late_responses,
            in_flight,
            latency_p50,
            latency_p99,
        });
        for (i, g) in self.gauges.iter_mut().enumerate() {
            g.advance(now.0);
            let (busy0, queue0, served0, rejected0) = g.bin_start;
            let avg = |area: u128, start: u128| if width == 0 { 0.0 } else { (area - start) as f64 / width as f64 };
            self.node_bins.push(NodeBinRow {
                bin: bin_index,
                node: i as u32,
                queue_len_avg: avg(g.queue_area, queue0),
                busy_workers_avg: avg(g.busy_area, busy0),
                served: g.served - served0,
                rejected: g.rejected - rejected0,
            });
            g.bin_start = g.snapshot();
        }
        self.bin = Counts::default();
        self.bin_latency.clear();
        self.bin_start = now;
    }

    /// Closes the last (possibly partial) bin at the horizon and computes the
    /// summary. `nodes` labels the gauges in order.
    pub fn finish(
        mut self,
        horizon: SimTime,
        nodes: &[NodeLabel],
        events: u64,
    ) -> (RunSummary, Vec<BinRow>, Vec<NodeBinRow>) {
        if horizon > self.bin_start || self.bins.is_empty() {
            self.close_bin(horizon);
        }
        if !self.measuring {
            self.end_warmup(horizon);
        }
        let window_ns = horizon.0.saturating_sub(self.warmup_end.0);
        let window_s = window_ns as f64 / 1e9;
        let per_window =
            |area: u128, start: u128| if window_ns == 0 { 0.0 } else { (area - start) as f64 / window_ns as f64 };

        let mut node_summaries = Vec::with_capacity(nodes.len());
        for (g, label) in self.gauges.iter().zip(nodes) {
            let (busy0, queue0, served0, rejected0) = g.warm_start;
            let busy = per_window(g.busy_area, busy0);
            node_summaries.push(NodeSummary {
                service: label.service.clone(),
                node: label.index,
                utilization: busy / label.workers as f64,
                mean_busy_workers: busy,
                mean_queue_len: per_window(g.queue_area, queue0),
                served: g.served - served0,
                rejected: g.rejected - rejected0,
            });
        }
        let mut services: Vec<ServiceSummary> = Vec::new();
        for (n, label) in node_summaries.iter().zip(nodes) {
            match services.last_mut() {
                Some(s) if s.service == label.service => {
                    s.nodes += 1;
                    s.utilization += n.mean_busy_workers;
                }
                _ => services.push(ServiceSummary {
                    service: label.service.clone(),
                    nodes: 1,
                    workers_per_node: label.workers,
                    utilization: n.mean_busy_workers,
                }),
            }
        }
        for s in &mut services {
            s.utilization /= (s.nodes * s.workers_per_node) as f64;
        }

        let m = &self.measured;
        let fraction = |x: u64| if m.offered == 0 { 0.0 } else { x as f64 / m.offered as f64 };
        let mean_ms = |sum: u128, n: u64| (n > 0).then(|| sum as f64 / n as f64 / 1e6);
        let summary = RunSummary {
            measured_window_s: window_s,
            offered: m.offered,
            completed: m.completed,
            failed_timeout: m.failed_timeout,
            failed_rejected: m.failed_rejected,
            late_responses: m.late_responses,
            offered_rps: if window_s > 0.0 { m.offered as f64 / window_s } else { 0.0 },
            throughput_rps: if window_s > 0.0 { m.completed as f64 / window_s } else { 0.0 },
            success_fraction: fraction(m.completed),
            rejection_fraction: fraction(m.failed_rejected),
            timeout_fraction: fraction(m.failed_timeout),
            latency_ms: quantiles_ms(&self.latency),
            mean_response_ms: mean_ms(self.sum_latency_ns, m.completed),
            mean_wait_ms: mean_ms(self.sum_wait_ns, self.started),
            wait_ms: quantiles_ms(&self.wait),
            p_wait: (self.started > 0).then(|| self.waited as f64 / self.started as f64),
            services,
            nodes: node_summaries,
            conservation: Conservation {
                arrivals: self.total_arrivals,
                completed: self.total_completed,
                failed: self.total_failed,
                in_flight: self.in_flight(),
            },
            events,
        };
        (summary, self.bins, self.node_bins)
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
