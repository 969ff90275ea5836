//! Monte Carlo batches: N independent replications of a scenario, run in
//! parallel with rayon and aggregated as they finish, in run order, so the
//! results are identical whatever the thread count and memory stays flat
//! however many runs there are (runs are processed in chunks; per-bin bands
//! keep a bounded, deterministic reservoir per bin).

use rand::RngExt;
use rayon::prelude::*;

use crate::metrics::RunRecord;
use crate::model::Scenario;
use crate::rng::{SimRng, StreamKind, stream};
use crate::sim::{SimError, run};
use crate::stats::{Describe, Proportion, describe, kaplan_meier_median, percentile, wilson};

/// Runs simulated at once before they are folded into the aggregate.
const CHUNK: u64 = 64;
/// Values kept per bin and metric for the p5–p95 bands.
const RESERVOIR: usize = 256;

/// Scalar metrics kept per run, in output order.
pub const RUN_METRICS: [&str; 20] = [
    "offered",
    "completed",
    "success_fraction",
    "throughput_rps",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "latency_p999_ms",
    "mean_response_ms",
    "mean_wait_ms",
    "p_wait",
    "rejection_fraction",
    "timeout_fraction",
    "retry_amplification",
    "peak_retry_amplification",
    "late_responses",
    "node_deaths",
    "writes_lost",
    "rto_s",
    "rpo_s",
];

/// Per-bin series with bands, in output order.
pub const BAND_METRICS: [&str; 6] =
    ["offered_rps", "attempts_rps", "goodput_rps", "latency_p99_ms", "capacity_rps", "nodes_up"];

/// One run's scalars (`None` where the run has no value, e.g. no RTO).
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub run: u64,
    pub values: Vec<Option<f64>>,
    pub cascade: bool,
    pub disrupted: bool,
    pub recovered: bool,
    pub rto_met: Option<bool>,
    /// For Kaplan–Meier: time from disruption to restoration, or to the end
    /// of the run when censored.
    pub rto_observed: Option<(f64, bool)>,
}

/// A per-bin band across runs.
#[derive(Debug, Clone, PartialEq)]
pub struct BandRow {
    pub bin: usize,
    pub t_start_s: f64,
    pub t_end_s: f64,
    /// Per metric of [`BAND_METRICS`]: (runs with a value, mean, p5, p95).
    pub values: Vec<(usize, f64, f64, f64)>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BatchSummary {
    pub scenario: String,
    pub seed: u64,
    pub runs: u64,
    /// Per metric of [`RUN_METRICS`] with at least one value.
    pub metrics: Vec<(String, Describe)>,
    pub cascade: Proportion,
    /// Among disrupted runs: the SLO was restored before the end.
    pub recovered: Proportion,
    /// Among disrupted runs of a scenario with an RTO objective.
    pub rto_within_objective: Option<Proportion>,
    /// Disrupted without an injected fault and never recovered: the system
    /// stayed in its bad state (metastable lock-in).
    pub locked_in: Proportion,
    pub rto_censored: u64,
    /// Kaplan–Meier median RTO [s] (censored runs included as such).
    pub rto_km_median_s: Option<f64>,
}

pub struct Batch {
    pub rows: Vec<RunRow>,
    pub bands: Vec<BandRow>,
    pub summary: BatchSummary,
}

/// Folds runs into bands; a reservoir per bin and metric keeps memory flat.
struct BandAggregator {
    bins: Vec<(f64, f64)>,
    sums: Vec<[f64; 6]>,
    counts: Vec<[usize; 6]>,
    reservoirs: Vec<[Vec<f64>; 6]>,
    rng: SimRng,
}

impl BandAggregator {
    fn add(&mut self, r: &RunRecord) {
        for (i, b) in r.bins.iter().enumerate() {
            if i >= self.bins.len() {
                self.bins.push((b.start.as_secs_f64(), b.end.as_secs_f64()));
                self.sums.push([0.0; 6]);
                self.counts.push([0; 6]);
                self.reservoirs.push(Default::default());
            }
            let width = (b.end - b.start).as_secs_f64().max(1e-12);
            let values = [
                Some(b.offered as f64 / width),
                Some((b.offered + b.retries) as f64 / width),
                Some(b.completed as f64 / width),
                b.latency_p99.map(|d| d.as_millis_f64()),
                Some(b.fleet.capacity_rps),
                Some(b.fleet.up as f64),
            ];
            for (m, v) in values.iter().enumerate() {
                let Some(v) = v else { continue };
                self.sums[i][m] += v;
                self.counts[i][m] += 1;
                let seen = self.counts[i][m];
                let reservoir = &mut self.reservoirs[i][m];
                if reservoir.len() < RESERVOIR {
                    reservoir.push(*v);
                } else {
                    // Algorithm R: keep each value with probability K / seen.
                    let j = self.rng.random_range(0..seen);
                    if j < RESERVOIR {
                        reservoir[j] = *v;
                    }
                }
            }
        }
    }

    fn finish(self) -> Vec<BandRow> {
        let mut out = Vec::with_capacity(self.bins.len());
        for (i, (start, end)) in self.bins.iter().enumerate() {
            let values = (0..BAND_METRICS.len())
                .map(|m| {
                    let n = self.counts[i][m];
                    let mut sample = self.reservoirs[i][m].clone();
                    sample.sort_by(f64::total_cmp);
                    let mean = if n > 0 { self.sums[i][m] / n as f64 } else { f64::NAN };
                    (n, mean, percentile(&sample, 0.05), percentile(&sample, 0.95))
                })
                .collect();
            out.push(BandRow { bin: i, t_start_s: *start, t_end_s: *end, values });
        }
        out
    }
}

fn row_of(r: &RunRecord) -> RunRow {
    let s = &r.summary;
    let rec = &s.recovery;
    let horizon = r.duration.as_secs_f64();
    let values = vec![
        Some(s.offered as f64),
        Some(s.completed as f64),
        Some(s.success_fraction),
        Some(s.throughput_rps),
        s.latency_ms.p50,
        s.latency_ms.p90,
        s.latency_ms.p99,
        s.latency_ms.p999,
        s.mean_response_ms,
        s.mean_wait_ms,
        s.p_wait,
        Some(s.rejection_fraction),
        Some(s.timeout_fraction),
        Some(s.retry_amplification),
        Some(s.peak_retry_amplification),
        Some(s.late_responses as f64),
        Some(s.node_deaths.len() as f64),
        Some(s.databases.iter().map(|d| d.writes_lost as f64).sum()),
        rec.rto_s,
        s.disaster_recovery
            .as_ref()
            .map(|d| d.rpo_s)
            .or_else(|| s.databases.iter().flat_map(|d| d.failovers.first()).map(|f| f.rpo_s).next()),
    ];
    RunRow {
        run: r.run_index,
        values,
        cascade: s.cascade.happened,
        disrupted: rec.disrupted_at_s.is_some(),
        recovered: rec.disrupted_at_s.is_some() && !rec.censored,
        rto_met: rec.rto_met,
        rto_observed: rec.disrupted_at_s.map(|d| match rec.rto_s {
            Some(rto) => (rto, true),
            None => (horizon - d, false),
        }),
    }
}

/// Runs replications 0..runs of `scenario` on `threads` threads.
pub fn run_batch(scenario: &Scenario, runs: u64, threads: usize) -> Result<Batch, SimError> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build().expect("a thread pool");
    let mut rows = Vec::with_capacity(runs as usize);
    let mut bands = BandAggregator {
        bins: Vec::new(),
        sums: Vec::new(),
        counts: Vec::new(),
        reservoirs: Vec::new(),
        rng: stream(scenario.simulation.seed, 0, StreamKind::Aggregation, 0),
    };
    let mut start = 0;
    while start < runs {
        let end = (start + CHUNK).min(runs);
        let chunk: Vec<Result<RunRecord, SimError>> =
            pool.install(|| (start..end).into_par_iter().map(|i| run(scenario, i)).collect());
        for record in chunk {
            let record = record?;
            bands.add(&record);
            rows.push(row_of(&record));
        }
        start = end;
    }
    let summary = summarize(scenario, &rows);
    Ok(Batch { rows, bands: bands.finish(), summary })
}

fn summarize(scenario: &Scenario, rows: &[RunRow]) -> BatchSummary {
    let metrics = RUN_METRICS
        .iter()
        .enumerate()
        .filter_map(|(m, name)| {
            let xs: Vec<f64> = rows.iter().filter_map(|r| r.values[m]).filter(|x| x.is_finite()).collect();
            describe(&xs).map(|d| (name.to_string(), d))
        })
        .collect();
    let n = rows.len() as u64;
    let disrupted = rows.iter().filter(|r| r.disrupted).count() as u64;
    let recovered = rows.iter().filter(|r| r.recovered).count() as u64;
    let with_objective: Vec<bool> = rows.iter().filter(|r| r.disrupted).filter_map(|r| r.rto_met).collect();
    let observed: Vec<(f64, bool)> = rows.iter().filter_map(|r| r.rto_observed).collect();
    let censored = observed.iter().filter(|(_, event)| !event).count() as u64;
    let locked = if scenario.faults.is_empty() { disrupted - recovered } else { 0 };
    BatchSummary {
        scenario: scenario.name.clone(),
        seed: scenario.simulation.seed,
        runs: n,
        metrics,
        cascade: wilson(rows.iter().filter(|r| r.cascade).count() as u64, n),
        recovered: wilson(recovered, disrupted),
        rto_within_objective: (!with_objective.is_empty())
            .then(|| wilson(with_objective.iter().filter(|&&m| m).count() as u64, with_objective.len() as u64)),
        locked_in: wilson(locked, n),
        rto_censored: censored,
        rto_km_median_s: kaplan_meier_median(&observed),
    }
}
