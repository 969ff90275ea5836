//! Monte Carlo batches: N independent replications of a scenario, run in
//! parallel with rayon and folded into a [`Partial`] (per-metric values and
//! counts for the summary, plus per-bin band aggregates) as they finish.
//! Runs are started in run order and their rows are folded, and handed to
//! the caller (who streams them to runs.csv), in run order through a small
//! reorder buffer; the bands merge exactly and independently of order
//! (integer sums, multiset sketches). So a batch gives the same bytes
//! whatever the thread count, and the rows and bands of disjoint run sets
//! (sweep shards) fold into exactly the unsharded result. No run's time
//! series or row is kept: what grows with N is one f64 per run and metric
//! (exact quantiles need every value) and the RTO observations.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::metrics::EventLog;
use crate::metrics::{RecoveryStatus, RunRecord, SloSummary};
use crate::model::{Origin, Scenario};
use crate::sim::{SimError, run_logging};
use crate::stats::{Describe, Proportion, describe, kaplan_meier_median, wilson};

mod sketch;

pub use sketch::Sketch;

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

/// Scalar metrics a scenario adds after [`RUN_METRICS`], named by dotted
/// paths: per request class its success and p99, per service its
/// attempts per request (with calls between services), per cache its hit
/// ratio, per serverless pool its cold starts and throttled requests.
pub fn scenario_metric_names(scenario: &Scenario) -> Vec<String> {
    let mut names = Vec::new();
    for c in &scenario.classes {
        names.push(format!("class.{c}.success_fraction"));
        names.push(format!("class.{c}.latency_p99_ms"));
    }
    if scenario.services.iter().any(|s| !s.calls.is_empty()) {
        names.extend(scenario.services.iter().map(|s| format!("service.{}.amplification", s.name)));
    }
    for s in scenario.services.iter().filter(|s| s.cache.is_some()) {
        names.push(format!("cache.{}.hit_ratio", s.name));
    }
    for s in scenario.services.iter().filter(|s| s.serverless.is_some()) {
        names.push(format!("serverless.{}.cold_starts", s.name));
        names.push(format!("serverless.{}.throttled", s.name));
    }
    names
}

/// The values of [`scenario_metric_names`], in the same order, from a run.
fn scenario_metric_values(s: &crate::metrics::RunSummary) -> Vec<Option<f64>> {
    let mut values = Vec::new();
    for c in &s.classes {
        values.push(Some(c.success_fraction));
        values.push(c.latency_ms.p99);
    }
    if !s.calls.is_empty() {
        values.extend(s.services.iter().map(|x| Some(x.amplification)));
    }
    values.extend(s.caches.iter().map(|c| Some(c.hit_ratio)));
    for p in &s.serverless {
        values.push(Some(p.cold_starts as f64));
        values.push(Some(p.throttled as f64));
    }
    values
}

/// Per-bin series with bands, in output order.
pub const BAND_METRICS: [&str; 6] =
    ["offered_rps", "attempts_rps", "goodput_rps", "latency_p99_ms", "capacity_rps", "nodes_up"];

/// One run's scalars (`None` where the run has no finite value, e.g. no RTO).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    pub run: u64,
    pub values: Vec<Option<f64>>,
    pub cascade: bool,
    /// How the run ended against the SLO (disrupted, recovered, ...).
    pub status: RecoveryStatus,
    /// Breach episodes (relapses make more than one).
    pub episodes: u32,
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
    pub values: Vec<(u64, f64, f64, f64)>,
}

/// Band sums are kept in fixed point (2^-32 resolution) so that adding runs
/// in any order or grouping gives the same bits.
const SUM_SCALE: f64 = 4_294_967_296.0;

/// One bin and metric across runs: how many runs had a value, their sum and
/// a quantile sketch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BandCell {
    pub n: u64,
    #[serde(with = "i128_text")]
    pub sum: i128,
    pub sketch: Sketch,
}

impl BandCell {
    fn add(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        self.n += 1;
        self.sum += (v * SUM_SCALE).round() as i128;
        self.sketch.add(v);
    }

    /// Folds `other` in; a count or sum that would overflow (only a
    /// tampered part can hold one) is refused rather than wrapped.
    fn merge(&mut self, other: &BandCell) -> Result<(), String> {
        let (Some(n), Some(sum)) = (self.n.checked_add(other.n), self.sum.checked_add(other.sum)) else {
            return Err("a band's run count or sum overflows when the parts are added".into());
        };
        // The sketch counts equal n (checked by `Bands::check`), so they fit too.
        self.n = n;
        self.sum = sum;
        self.sketch.merge(&other.sketch);
        Ok(())
    }

    /// Whether a cell read from a file can come from at most `runs` runs:
    /// n within the runs, the sketch holding n values, and the mean inside
    /// the range of the sketch's values.
    fn check(&self, runs: u64) -> Result<(), String> {
        if self.n > runs {
            return Err(format!("n = {} but the part holds {runs} runs", self.n));
        }
        let shape = self.sketch.check()?;
        if shape.count != self.n {
            return Err(format!("n = {} but its sketch holds {} values", self.n, shape.count));
        }
        if self.n == 0 {
            return if self.sum == 0 { Ok(()) } else { Err("no values but a nonzero sum".into()) };
        }
        // Each value enters the sum rounded to 2^-32, so the mean may stray
        // from the values' range by that much; allow a little more.
        let mean = self.mean();
        let slack = 1e-9 * (1.0 + shape.low.abs().min(1e300).max(shape.high.abs().min(1e300)));
        if !(mean >= shape.low - slack && mean <= shape.high + slack) {
            return Err(format!(
                "mean {mean} is outside its values' range [{}, {}] (n = {})",
                shape.low, shape.high, self.n
            ));
        }
        Ok(())
    }

    fn mean(&self) -> f64 {
        if self.n == 0 { f64::NAN } else { self.sum as f64 / SUM_SCALE / self.n as f64 }
    }
}

/// JSON numbers cannot hold an i128 portably; store it as decimal text.
mod i128_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Per-bin band aggregates: bin bounds [s] and one cell per [`BAND_METRICS`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bands {
    pub bins: Vec<(f64, f64)>,
    pub cells: Vec<[BandCell; 6]>,
}

impl Bands {
    fn add(&mut self, r: &RunRecord) {
        for (i, b) in r.bins.iter().enumerate() {
            if i >= self.bins.len() {
                self.bins.push((b.start.as_secs_f64(), b.end.as_secs_f64()));
                self.cells.push(Default::default());
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
            for (cell, v) in self.cells[i].iter_mut().zip(values) {
                if let Some(v) = v {
                    cell.add(v);
                }
            }
        }
    }

    pub fn merge(&mut self, other: &Bands) -> Result<(), String> {
        if other.bins.is_empty() {
            return Ok(());
        }
        if self.bins.is_empty() {
            *self = other.clone();
            return Ok(());
        }
        if self.bins != other.bins {
            return Err(format!(
                "the runs have different time bins ({} vs {}): they come from different scenarios or durations",
                self.bins.len(),
                other.bins.len()
            ));
        }
        for (mine, theirs) in self.cells.iter_mut().zip(&other.cells) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                a.merge(b)?;
            }
        }
        Ok(())
    }

    /// Whether band aggregates read from a file (a shard's part) can be
    /// those of `runs` runs of one scenario: one cell row per bin, bins in
    /// time order, every run counted in every bin's offered rate (it always
    /// has one) and no cell counting more runs than there are.
    pub fn check(&self, runs: u64) -> Result<(), String> {
        if self.bins.len() != self.cells.len() {
            return Err(format!("bands: {} bins but {} rows of cells", self.bins.len(), self.cells.len()));
        }
        if runs > 0 && self.bins.is_empty() {
            return Err(format!("bands: no bins for {runs} runs"));
        }
        let mut previous_end = 0.0;
        for (i, ((start, end), cells)) in self.bins.iter().zip(&self.cells).enumerate() {
            if !(start.is_finite() && end.is_finite() && *start >= previous_end && start < end) {
                return Err(format!("bands: bin {i} [{start}, {end}] is not after the previous bin"));
            }
            previous_end = *end;
            if cells[0].n != runs {
                return Err(format!(
                    "bands: bin {i} offered_rps: n = {} but the part holds {runs} runs (each run has a value)",
                    cells[0].n
                ));
            }
            for (cell, metric) in cells.iter().zip(BAND_METRICS) {
                cell.check(runs).map_err(|e| format!("bands: bin {i} {metric}: {e}"))?;
            }
        }
        Ok(())
    }

    fn rows(&self) -> Vec<BandRow> {
        self.bins
            .iter()
            .zip(&self.cells)
            .enumerate()
            .map(|(i, ((start, end), cells))| BandRow {
                bin: i,
                t_start_s: *start,
                t_end_s: *end,
                values: cells
                    .iter()
                    .map(|c| (c.n, c.mean(), c.sketch.percentile(0.05), c.sketch.percentile(0.95)))
                    .collect(),
            })
            .collect()
    }
}

/// What the summary needs from runs folded in run order: each metric's
/// values in run order (exact means and quantiles need them all; 8 bytes
/// per run and metric), counts by flag and status, and the RTO
/// observations for Kaplan–Meier. Rows themselves are not kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub runs: u64,
    /// Per metric of [`BatchInfo::metric_names`]: the runs' finite values.
    values: Vec<Vec<f64>>,
    cascades: u64,
    disrupted: u64,
    recovered: u64,
    locked_in: u64,
    never_met: u64,
    /// Among disrupted runs of a scenario with an RTO objective: (met, judged).
    rto_met: (u64, u64),
    rto_observed: Vec<(f64, bool)>,
}

impl Tally {
    /// Folds in the next run's row; rows must come in run order so that
    /// sums over the values add up in the same order every time.
    fn add(&mut self, row: &RunRow) {
        self.runs += 1;
        if self.values.len() < row.values.len() {
            self.values.resize(row.values.len(), Vec::new());
        }
        for (values, v) in self.values.iter_mut().zip(&row.values) {
            if let Some(v) = v {
                values.push(*v);
            }
        }
        self.cascades += row.cascade as u64;
        self.disrupted += row.status.disrupted() as u64;
        match row.status {
            RecoveryStatus::Recovered => self.recovered += 1,
            RecoveryStatus::LockedIn => self.locked_in += 1,
            RecoveryStatus::NeverMet => self.never_met += 1,
            RecoveryStatus::Undisrupted => {}
        }
        if row.status.disrupted()
            && let Some(met) = row.rto_met
        {
            self.rto_met.0 += met as u64;
            self.rto_met.1 += 1;
        }
        self.rto_observed.extend(row.rto_observed);
    }

    /// Bytes held on the heap: what grows with the number of runs.
    pub fn heap_bytes(&self) -> usize {
        self.values.iter().map(|v| v.capacity() * 8 + std::mem::size_of::<Vec<f64>>()).sum::<usize>()
            + self.rto_observed.capacity() * std::mem::size_of::<(f64, bool)>()
    }
}

/// What some runs of a batch leave behind once their rows have gone to
/// runs.csv: the summary's tally and the band aggregates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Partial {
    pub tally: Tally,
    pub bands: Bands,
}

impl Partial {
    /// Folds in the next run's row (in run order), e.g. from a shard's part.
    pub fn add_row(&mut self, row: &RunRow) {
        self.tally.add(row);
    }
}

impl RunRow {
    /// Whether a row read from a file (a shard's part) has one value per
    /// metric of `metrics` and a usable RTO observation.
    pub fn check(&self, metrics: usize) -> Result<(), String> {
        if self.values.len() != metrics {
            return Err(format!("run {}: {} values but {metrics} metric_names", self.run, self.values.len()));
        }
        if self.values.iter().flatten().any(|v| !v.is_finite()) {
            return Err(format!("run {}: a value is not a finite number", self.run));
        }
        if let Some((t, _)) = self.rto_observed {
            if !(t.is_finite() && t >= 0.0) {
                return Err(format!("run {}: rto_observed time {t} is not a duration", self.run));
            }
            if !self.status.disrupted() {
                return Err(format!("run {}: an RTO observation on a run that was not disrupted", self.run));
            }
        }
        Ok(())
    }
}

/// What the summary needs to know about the scenario besides the runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchInfo {
    pub scenario: String,
    pub seed: u64,
    pub slo: SloSummary,
    /// Every per-run metric: [`RUN_METRICS`], then the scenario's own.
    pub metric_names: Vec<String>,
}

impl BatchInfo {
    pub fn of(scenario: &Scenario) -> BatchInfo {
        BatchInfo {
            scenario: scenario.name.clone(),
            seed: scenario.simulation.seed,
            slo: SloSummary::of(&scenario.slo),
            metric_names: RUN_METRICS.iter().map(|m| m.to_string()).chain(scenario_metric_names(scenario)).collect(),
        }
    }

    /// Whether the metric names read from a file are ones a scenario gives:
    /// [`RUN_METRICS`] first, each name once.
    pub fn check(&self) -> Result<(), String> {
        let names = &self.metric_names;
        if names.len() < RUN_METRICS.len() || names.iter().zip(RUN_METRICS).any(|(a, b)| a != b) {
            return Err(format!(
                "metric_names: {} names that do not start with the {} standard metrics",
                names.len(),
                RUN_METRICS.len()
            ));
        }
        if let Some((i, name)) = names.iter().enumerate().find(|(i, n)| names[..*i].contains(n)) {
            return Err(format!("metric_names: \"{name}\" is listed twice (again at {i})"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchSummary {
    pub faultline_version: String,
    pub scenario: String,
    /// The scenario file as given, its SHA-256 and its opening comment.
    #[serde(flatten)]
    pub origin: Origin,
    pub seed: u64,
    /// The runs the statistics cover (= `runs_finished`).
    pub runs: u64,
    /// The runs asked for (`--runs`).
    pub runs_requested: u64,
    /// The runs that finished: fewer than requested when interrupted.
    pub runs_finished: u64,
    /// Whether the batch stopped (Ctrl-C) before every requested run finished.
    pub partial: bool,
    pub slo: SloSummary,
    /// The columns of runs.csv after its flags: every per-run metric.
    #[serde(skip)]
    pub metric_names: Vec<String>,
    /// Per metric of `metric_names` with at least one value, in that order;
    /// written as an object keyed by the metric's name.
    #[serde(serialize_with = "metrics_object")]
    pub metrics: Vec<(String, Describe)>,
    pub cascade: Proportion,
    /// Among disrupted runs: the SLO was restored before the end.
    pub recovered: Proportion,
    /// Among disrupted runs of a scenario with an RTO objective.
    pub rto_within_objective: Option<Proportion>,
    /// Among all runs: disrupted, and the run ends in breach of the SLO.
    pub locked_in: Proportion,
    /// Among all runs: no trigger, and the SLO was not met from the start
    /// to the end (a stable but lossy system is not a metastable failure).
    pub never_met: Proportion,
    pub rto_censored: u64,
    /// Kaplan–Meier median RTO [s] (censored runs included as such).
    pub rto_km_median_s: Option<f64>,
}

/// The metrics as a JSON object in the order they are defined (a map
/// serialised entry by entry keeps its order; no map type re-sorts it).
fn metrics_object<S: serde::Serializer>(metrics: &[(String, Describe)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(metrics.iter().map(|(name, d)| (name, d)))
}

pub struct Batch {
    /// The per-run rows when the caller kept them ([`run_batch`]); the CLI
    /// streams them to runs.csv as runs finish and leaves this empty.
    pub rows: Vec<RunRow>,
    pub bands: Vec<BandRow>,
    pub summary: BatchSummary,
}

/// How a batch runs: its thread pool, an optional stop flag (checked before
/// each run starts) and an optional callback after each finished run.
pub struct Controls<'a> {
    pool: rayon::ThreadPool,
    pub stop: Option<&'a AtomicBool>,
    pub on_run_done: Option<&'a dyn Fn()>,
}

impl<'a> Controls<'a> {
    pub fn new(threads: usize) -> Result<Controls<'a>, String> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build()
            .map_err(|e| format!("cannot start {threads} worker threads: {e}"))?;
        Ok(Controls { pool, stop: None, on_run_done: None })
    }
}

fn row_of(r: &RunRecord) -> RunRow {
    let s = &r.summary;
    let rec = &s.recovery;
    let horizon = r.duration.as_secs_f64();
    let mut values = vec![
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
    values.extend(scenario_metric_values(s));
    RunRow {
        run: r.run_index,
        values: values.into_iter().map(|v| v.filter(|x| x.is_finite())).collect(),
        cascade: s.cascade.happened,
        status: rec.status,
        episodes: rec.episodes.len() as u32,
        rto_met: rec.rto_met,
        rto_observed: rec.disrupted_at_s.filter(|_| rec.status.disrupted()).map(|d| match rec.rto_s {
            Some(rto) => (rto, true),
            None => (horizon - d, false),
        }),
    }
}

/// How far ahead of the oldest unfinished run a worker may start one, per
/// thread: this bounds the reorder buffer (rows waiting for an earlier run).
const RUNS_AHEAD_PER_THREAD: u64 = 32;

/// Runs replications `runs` of `scenario` and folds them into a partial,
/// handing each run's row to `on_row` in run order. The flag says whether
/// every run finished (false when stopped; the runs folded are then a
/// prefix of `runs`).
///
/// Workers take run indices in order, simulate them and hand each record
/// over a bounded channel to this thread, which adds it to the bands, drops
/// it, and folds the rows in run order through a reorder buffer: at most
/// about twice the thread count of records, and a window of rows, exist at
/// once, and folding overlaps simulation.
pub fn run_range(
    scenario: &Scenario,
    runs: Range<u64>,
    controls: &Controls,
    on_row: &mut dyn FnMut(&RunRow),
) -> Result<(Partial, bool), SimError> {
    let threads = controls.pool.current_num_threads();
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Result<RunRecord, SimError>>(threads);
    // Set when a run fails, so the others stop starting.
    let failed = AtomicBool::new(false);
    // The next run to start, and the next run to fold (all before it are folded).
    let next_start = AtomicU64::new(runs.start);
    let next_fold = AtomicU64::new(runs.start);
    let ahead = RUNS_AHEAD_PER_THREAD * threads as u64;
    let mut partial = Partial::default();
    let mut waiting: BTreeMap<u64, RunRow> = BTreeMap::new();
    let mut first_error: Option<SimError> = None;
    // The workers see only the pool and the flags (the callback need not be Sync).
    let (pool, stop, failed, end) = (&controls.pool, controls.stop, &failed, runs.end);
    let (next_start, next_fold_shared) = (&next_start, &next_fold);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            pool.install(|| {
                (0..threads).into_par_iter().for_each_with(sender, |sender, _| {
                    loop {
                        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) || failed.load(Ordering::Relaxed) {
                            return;
                        }
                        let i = next_start.fetch_add(1, Ordering::Relaxed);
                        if i >= end {
                            return;
                        }
                        // The run being waited for has started (indices are taken in
                        // order) and is not waiting itself, so this ends.
                        while i >= next_fold_shared.load(Ordering::Acquire) + ahead {
                            if failed.load(Ordering::Relaxed) {
                                return;
                            }
                            std::thread::sleep(std::time::Duration::from_millis(1));
                        }
                        // A batch writes no run's events: only the summary's digest of them is kept.
                        let record = run_logging(scenario, i, EventLog::Discard);
                        if record.is_err() {
                            failed.store(true, Ordering::Relaxed);
                        }
                        // The receiver outlives the workers; a send cannot fail.
                        let _ = sender.send(record);
                    }
                })
            })
        });
        let mut next = runs.start;
        for record in receiver {
            match record {
                Ok(record) => {
                    partial.bands.add(&record);
                    waiting.insert(record.run_index, row_of(&record));
                    drop(record);
                    while let Some(row) = waiting.remove(&next) {
                        partial.tally.add(&row);
                        on_row(&row);
                        next += 1;
                    }
                    next_fold.store(next, Ordering::Release);
                    if let Some(done) = controls.on_run_done {
                        done();
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    let complete = partial.tally.runs == runs.end - runs.start;
    Ok((partial, complete))
}

/// Runs replications 0..runs of `scenario` on `threads` threads, keeping
/// every row in memory (for tests and small batches).
pub fn run_batch(scenario: &Scenario, runs: u64, threads: usize) -> Result<Batch, SimError> {
    let controls = Controls::new(threads).expect("a thread pool");
    let mut rows = Vec::new();
    let (partial, _) = run_range(scenario, 0..runs, &controls, &mut |row| rows.push(row.clone()))?;
    let mut batch = finish(&BatchInfo::of(scenario), &scenario.origin, runs, partial);
    batch.rows = rows;
    Ok(batch)
}

/// The batch results from the partial holding its finished runs, of the
/// `runs_requested` asked for (fewer finished: an interrupted batch), of a
/// scenario from `origin`.
pub fn finish(info: &BatchInfo, origin: &Origin, runs_requested: u64, partial: Partial) -> Batch {
    let summary = summarize(info, origin, runs_requested, &partial.tally);
    Batch { bands: partial.bands.rows(), rows: Vec::new(), summary }
}

fn summarize(info: &BatchInfo, origin: &Origin, runs_requested: u64, tally: &Tally) -> BatchSummary {
    let metrics = info
        .metric_names
        .iter()
        .enumerate()
        .filter_map(|(m, name)| {
            let xs = tally.values.get(m).map_or(&[][..], |v| &v[..]);
            describe(xs).map(|d| (name.to_string(), d))
        })
        .collect();
    let n = tally.runs;
    let (met, judged) = tally.rto_met;
    let censored = tally.rto_observed.iter().filter(|(_, event)| !event).count() as u64;
    BatchSummary {
        faultline_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: info.scenario.clone(),
        origin: origin.clone(),
        seed: info.seed,
        runs: n,
        runs_requested,
        runs_finished: n,
        partial: n < runs_requested,
        slo: info.slo.clone(),
        metric_names: info.metric_names.clone(),
        metrics,
        cascade: wilson(tally.cascades, n),
        recovered: wilson(tally.recovered, tally.disrupted),
        rto_within_objective: (judged > 0).then(|| wilson(met, judged)),
        locked_in: wilson(tally.locked_in, n),
        never_met: wilson(tally.never_met, n),
        rto_censored: censored,
        rto_km_median_s: kaplan_meier_median(&tally.rto_observed),
    }
}

/// A rough cost of one run, from the scenario alone: enough to refuse a
/// batch that would take days or not fit in memory, not a prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunCost {
    /// Requests offered, counting every allowed retry of a client with retries.
    pub requests: f64,
    /// CPU seconds on one core of a current laptop.
    pub seconds: f64,
    /// Bytes of one finished run's record (time series and node rows).
    pub record_bytes: f64,
}

/// Measured on the models: ~100–150 ns per request through one service.
const SECONDS_PER_REQUEST: f64 = 150e-9;

pub fn estimate(scenario: &Scenario) -> RunCost {
    let sim = &scenario.simulation;
    let horizon = crate::time::SimTime(sim.duration.0);
    let seconds = sim.duration.as_secs_f64();
    let requests: f64 = scenario
        .traffic
        .iter()
        .map(|t| {
            let attempts = t.retry.as_ref().map_or(1.0, |r| r.max_attempts.max(1) as f64);
            // Poisson arrivals, bursts and replayed trace requests alike.
            t.mean_rate(horizon) * seconds * attempts
        })
        .sum();
    // An `[initial]` backlog is held all at once from t = 0.
    let backlog: f64 = scenario.initial.services.iter().map(|s| s.backlog as f64).sum();
    let requests = requests + backlog;
    let bins = sim.duration.0.div_ceil(sim.bin.0.max(1)) as f64;
    let slots: f64 = scenario.services.iter().map(|s| s.slots() as f64).sum();
    let (timer_events, crashes) = periodic_events(scenario);
    let record_bytes = bins * std::mem::size_of::<crate::metrics::BinRow>() as f64
        + bins * slots * std::mem::size_of::<crate::metrics::NodeBinRow>() as f64
        + crashes * BYTES_PER_NODE_DEATH
        + backlog * BYTES_PER_BACKLOG_REQUEST
        + 1e6;
    let seconds = requests * SECONDS_PER_REQUEST + timer_events * SECONDS_PER_TIMER + bins * slots * 1e-7 + bins * 1e-6;
    RunCost { requests, seconds, record_bytes }
}

/// A timer's event and its handling (a probe, a crash and its restart).
const SECONDS_PER_TIMER: f64 = 300e-9;
/// A crash in summary.json's node deaths: the entry, its strings, and its
/// JSON text while the file is written.
const BYTES_PER_NODE_DEATH: f64 = 250.0;
/// A request of an `[initial]` backlog, held from t = 0: its request and
/// attempt records, queue entry and timers (10 million measured 2.4 GB).
const BYTES_PER_BACKLOG_REQUEST: f64 = 240.0;

/// Events of the timers that fire for the whole run (health checks,
/// liveness probes, predictive restarts, autoscaler evaluations) and of
/// random crashes, with the crashes alone: the work the requests do not
/// account for. 2,000 nodes crashing every 100 ms for ten minutes are 18
/// million events.
fn periodic_events(scenario: &Scenario) -> (f64, f64) {
    let seconds = scenario.simulation.duration.as_secs_f64();
    let per_second = |period: crate::time::SimDuration| if period.0 == 0 { 0.0 } else { 1.0 / period.as_secs_f64() };
    let mut timers = 0.0;
    for s in &scenario.services {
        let nodes = s.slots() as f64;
        let mut per_node = 0.0;
        if let Some(l) = &s.liveness {
            per_node += per_second(l.interval);
        }
        if let Some(p) = &s.predictive_restart {
            per_node += per_second(p.interval);
        }
        timers += nodes * per_node * seconds;
        if let Some(a) = &s.autoscaling {
            timers += per_second(a.evaluation_period) * seconds;
        }
    }
    for b in &scenario.balancers {
        if let Some(h) = &b.health_check {
            timers += scenario.services[b.service].slots() as f64 * per_second(h.interval) * seconds;
        }
    }
    let mut crashes = 0.0;
    for f in &scenario.faults {
        if let crate::model::FaultKind::RandomCrashes { mtbf, mttr } = &f.kind {
            let nodes = match &f.nodes {
                crate::model::NodeSelection::All => scenario.services[f.service].slots() as f64,
                crate::model::NodeSelection::List(list) => list.len() as f64,
                crate::model::NodeSelection::Random(k) => *k as f64,
            };
            let lasts = f.duration.map_or(seconds, |d| d.as_secs_f64()).min(seconds);
            let cycle = mtbf.mean_secs() + mttr.mean_secs();
            if cycle > 0.0 {
                crashes += nodes * lasts / cycle;
            }
        }
    }
    // A crash cycle is a failure, a repair and the restart's steps.
    (timers + 4.0 * crashes, crashes)
}

/// Peak bytes of a batch of `runs` on `threads` threads: records in flight,
/// band aggregates (worst case: every sketch full), the reorder buffer of
/// rows, and per run one f64 per metric and an RTO observation.
pub fn batch_bytes(scenario: &Scenario, runs: u64, threads: usize) -> f64 {
    let cost = estimate(scenario);
    let bins = scenario.simulation.duration.0.div_ceil(scenario.simulation.bin.0.max(1)) as f64;
    let band_bytes =
        bins * BAND_METRICS.len() as f64 * (std::mem::size_of::<BandCell>() + 16 * sketch::EXACT_LIMIT) as f64;
    let metrics = (RUN_METRICS.len() + scenario_metric_names(scenario).len()) as f64;
    let row_bytes = std::mem::size_of::<RunRow>() as f64 + 16.0 * metrics;
    let buffer_rows = (RUNS_AHEAD_PER_THREAD * threads as u64).min(runs) as f64;
    let per_run = 8.0 * metrics + std::mem::size_of::<(f64, bool)>() as f64;
    let records_in_flight = ((2 * threads + 2) as u64).min(runs) as f64;
    records_in_flight * cost.record_bytes + band_bytes + buffer_rows * row_bytes + runs as f64 * per_run
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Scenario {
        let text = r#"version = 1
[simulation]
duration = "2s"
warmup = "0s"
seed = 3
bin = "1s"
[traffic.clients]
rate = "9/s"
target = "server"
[services.server]
queue_capacity = "unbounded"
service_time = { distribution = "exponential", mean = "100ms" }
"#;
        Scenario::from_toml(text, "<tiny>", Some("tiny")).unwrap()
    }

    /// Folds `runs` on `threads` threads; returns the partial and the runs
    /// in the order their rows were handed over.
    fn fold(runs: Range<u64>, threads: usize) -> (Partial, Vec<u64>) {
        let controls = Controls::new(threads).unwrap();
        let mut order = Vec::new();
        let (partial, complete) = run_range(&tiny(), runs, &controls, &mut |row| order.push(row.run)).unwrap();
        assert!(complete);
        (partial, order)
    }

    #[test]
    fn a_batch_keeps_one_value_per_run_and_metric_and_no_rows() {
        let metrics = BatchInfo::of(&tiny()).metric_names.len();
        // What the summary needs exactly: one f64 per run and metric, and an
        // RTO observation per disrupted run; a row would be ~400 bytes.
        let needed = |runs: usize| runs * (metrics * 8 + std::mem::size_of::<(f64, bool)>());
        for runs in [100u64, 800] {
            let (partial, order) = fold(0..runs, 2);
            assert_eq!(order, (0..runs).collect::<Vec<_>>(), "rows are handed over in run order");
            let held = partial.tally.heap_bytes();
            // Vec growth may double the capacity over the length.
            assert!(held <= 2 * needed(runs as usize) + 4096, "{runs} runs hold {held} bytes");
        }
    }

    #[test]
    fn threads_and_splits_fold_to_the_same_state() {
        let (one, _) = fold(0..120, 1);
        let (two, _) = fold(0..120, 2);
        assert_eq!(one, two);
        // A split at run 50, folded as `merge` folds shard parts.
        let controls = Controls::new(2).unwrap();
        let mut whole = Partial::default();
        for range in [0..50, 50..120] {
            let mut rows = Vec::new();
            let (part, _) = run_range(&tiny(), range, &controls, &mut |row| rows.push(row.clone())).unwrap();
            whole.bands.merge(&part.bands).unwrap();
            rows.iter().for_each(|row| whole.add_row(row));
        }
        assert_eq!(whole, one);
        let info = BatchInfo::of(&tiny());
        let origin = tiny().origin;
        let (a, b) = (finish(&info, &origin, 120, one), finish(&info, &origin, 120, whole));
        assert_eq!(crate::report::batch_files(&a), crate::report::batch_files(&b));
    }
}
