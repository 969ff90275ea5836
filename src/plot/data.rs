//! Reads an output folder back into plain data for the charts: a single
//! run (timeseries.csv, events.csv, nodes.csv, summary.json), a batch
//! (timeseries.csv with bands, runs.csv, summary.json) or a sweep
//! (sweep.json, summary.csv). Columns are found by name, so the charts
//! depend only on the documented file formats.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::PlotError;
use crate::metrics::SloSummary;

/// A CSV file as columns by header name.
pub struct Table {
    path: PathBuf,
    columns: HashMap<String, usize>,
    pub rows: Vec<csv::StringRecord>,
}

impl Table {
    pub fn read(path: &Path) -> Result<Table, PlotError> {
        if !path.is_file() {
            return Err(PlotError::Missing(path.to_path_buf()));
        }
        let bad = |e: csv::Error| PlotError::Malformed(path.to_path_buf(), e.to_string());
        let mut reader = csv::Reader::from_path(path).map_err(bad)?;
        let columns = reader.headers().map_err(bad)?.iter().enumerate().map(|(i, h)| (h.to_string(), i)).collect();
        let rows = reader.records().collect::<Result<Vec<_>, _>>().map_err(bad)?;
        Ok(Table { path: path.to_path_buf(), columns, rows })
    }

    fn index(&self, column: &str) -> Result<usize, PlotError> {
        self.columns
            .get(column)
            .copied()
            .ok_or_else(|| PlotError::Malformed(self.path.clone(), format!("no column `{column}`")))
    }

    pub fn has(&self, column: &str) -> bool {
        self.columns.contains_key(column)
    }

    /// A numeric column; empty cells are `None`.
    pub fn numbers(&self, column: &str) -> Result<Vec<Option<f64>>, PlotError> {
        let i = self.index(column)?;
        self.rows
            .iter()
            .map(|r| {
                let cell = r.get(i).unwrap_or("");
                if cell.is_empty() {
                    return Ok(None);
                }
                cell.parse().map(Some).map_err(|_| {
                    PlotError::Malformed(self.path.clone(), format!("`{column}` holds \"{cell}\", not a number"))
                })
            })
            .collect()
    }

    /// A numeric column where every cell must be filled.
    pub fn required(&self, column: &str) -> Result<Vec<f64>, PlotError> {
        let values = self.numbers(column)?;
        values
            .into_iter()
            .map(|v| v.ok_or_else(|| PlotError::Malformed(self.path.clone(), format!("`{column}` has an empty cell"))))
            .collect()
    }

    pub fn text(&self, column: &str) -> Result<Vec<String>, PlotError> {
        let i = self.index(column)?;
        Ok(self.rows.iter().map(|r| r.get(i).unwrap_or("").to_string()).collect())
    }
}

fn read_json(path: &Path) -> Result<serde_json::Value, PlotError> {
    if !path.is_file() {
        return Err(PlotError::Missing(path.to_path_buf()));
    }
    let bytes = std::fs::read(path).map_err(|e| PlotError::Malformed(path.to_path_buf(), e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| PlotError::Malformed(path.to_path_buf(), e.to_string()))
}

fn slo_of(summary: &serde_json::Value) -> SloSummary {
    serde_json::from_value(summary["slo"].clone()).unwrap_or_default()
}

/// One bin of a single run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunBin {
    pub t0: f64,
    pub t1: f64,
    pub offered_rps: f64,
    pub attempts_rps: f64,
    pub goodput_rps: f64,
    pub capacity_rps: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub t: f64,
    pub service: String,
    pub node: Option<u32>,
    pub event: String,
    pub detail: String,
}

/// One node's per-bin gauges.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSeries {
    pub service: String,
    pub node: u32,
    /// (bin start, utilization while up, queue length, up fraction).
    pub bins: Vec<(f64, f64, f64, f64)>,
}

/// One request class's success over time (from classes.csv).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassSeries {
    pub class: String,
    /// (bin start, bin end, success fraction of the requests that finished
    /// in the bin; `None` when none did).
    pub bins: Vec<(f64, f64, Option<f64>)>,
}

/// One service's attempts over time (from services.csv), and its
/// attempts per client request over the run (summary.json).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSeries {
    pub service: String,
    pub amplification: Option<f64>,
    /// (bin start, bin end, attempts per second).
    pub bins: Vec<(f64, f64, f64)>,
}

/// The run's recovery as `summary.json` `recovery` records it: the report
/// derived it from the bins and the SLO (src/metrics/recovery.rs), so the
/// charts shade what the run measured instead of judging the SLO again.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovery {
    pub disrupted_at_s: Option<f64>,
    /// The last restoration; `None` when the run ends in breach or was
    /// never disrupted.
    pub recovered_at_s: Option<f64>,
    pub rto_s: Option<f64>,
    pub censored: bool,
    /// Breach episodes: (start, restoration; `None` when the run ends in it).
    pub episodes: Vec<(f64, Option<f64>)>,
}

impl Recovery {
    fn of(summary: &serde_json::Value) -> Recovery {
        let r = &summary["recovery"];
        let episodes = r["episodes"]
            .as_array()
            .map(|list| list.iter().filter_map(|e| Some((e["start_s"].as_f64()?, e["end_s"].as_f64()))).collect())
            .unwrap_or_default();
        Recovery {
            disrupted_at_s: r["disrupted_at_s"].as_f64(),
            recovered_at_s: r["recovered_at_s"].as_f64(),
            rto_s: r["rto_s"].as_f64(),
            censored: r["censored"].as_bool().unwrap_or(false),
            episodes,
        }
    }
}

pub struct RunData {
    pub scenario: String,
    pub run: u64,
    pub seed: u64,
    pub duration_s: f64,
    /// The warm-up at the start of the run, not judged against the SLO.
    pub warmup_s: f64,
    pub recovery: Recovery,
    pub slo: SloSummary,
    pub bins: Vec<RunBin>,
    pub events: Vec<Event>,
    pub nodes: Vec<NodeSeries>,
    /// Services call each other: capacity is the bottleneck for the mix.
    pub graph: bool,
    /// Per request class, when the run has classes.
    pub classes: Vec<ClassSeries>,
    /// Per service, when services call each other.
    pub services: Vec<ServiceSeries>,
    /// What the story charts (node traffic, queues, cache, memory,
    /// throttling, lost writes) read.
    pub story: Box<super::story_charts::StoryData>,
}

impl RunData {
    pub fn read(dir: &Path) -> Result<RunData, PlotError> {
        let summary = read_json(&dir.join("summary.json"))?;
        let ts = Table::read(&dir.join("timeseries.csv"))?;
        let (t0, t1) = (ts.required("t_start_s")?, ts.required("t_end_s")?);
        let (offered, attempts, goodput, capacity) = (
            ts.required("offered_rps")?,
            ts.required("attempts_rps")?,
            ts.required("goodput_rps")?,
            ts.required("capacity_rps")?,
        );
        let (p50, p99) = (ts.numbers("latency_p50_ms")?, ts.numbers("latency_p99_ms")?);
        let bins = (0..ts.rows.len())
            .map(|i| RunBin {
                t0: t0[i],
                t1: t1[i],
                offered_rps: offered[i],
                attempts_rps: attempts[i],
                goodput_rps: goodput[i],
                capacity_rps: capacity[i],
                p50_ms: p50[i],
                p99_ms: p99[i],
            })
            .collect();
        let ev = Table::read(&dir.join("events.csv"))?;
        let (t, service, node, event, detail) =
            (ev.required("t_s")?, ev.text("service")?, ev.numbers("node")?, ev.text("event")?, ev.text("detail")?);
        let events = (0..ev.rows.len())
            .map(|i| Event {
                t: t[i],
                service: service[i].clone(),
                node: node[i].map(|n| n as u32),
                event: event[i].clone(),
                detail: detail[i].clone(),
            })
            .collect();
        let nd = Table::read(&dir.join("nodes.csv"))?;
        let (start, service, node, util, queue, up) = (
            nd.required("t_start_s")?,
            nd.text("service")?,
            nd.required("node")?,
            nd.required("utilization")?,
            nd.required("queue_len_avg")?,
            nd.required("up_fraction")?,
        );
        // Nodes in order of first appearance; rows are bin-major.
        let mut nodes: Vec<NodeSeries> = Vec::new();
        let mut index: HashMap<(&str, u32), usize> = HashMap::new();
        for i in 0..nd.rows.len() {
            let (svc, n) = (service[i].as_str(), node[i] as u32);
            let at = *index.entry((svc, n)).or_insert_with(|| {
                nodes.push(NodeSeries { service: svc.to_string(), node: n, bins: Vec::new() });
                nodes.len() - 1
            });
            nodes[at].bins.push((start[i], util[i], queue[i], up[i]));
        }
        Ok(RunData {
            scenario: summary["scenario"].as_str().unwrap_or("scenario").to_string(),
            run: summary["run"].as_u64().unwrap_or(0),
            seed: summary["seed"].as_u64().unwrap_or(0),
            duration_s: summary["duration_s"].as_f64().unwrap_or(0.0),
            warmup_s: summary["warmup_s"].as_f64().unwrap_or(0.0),
            recovery: Recovery::of(&summary),
            slo: slo_of(&summary),
            bins,
            events,
            nodes,
            graph: summary["calls"].as_array().is_some_and(|c| !c.is_empty()),
            classes: read_classes(dir)?,
            services: read_services(dir, &summary)?,
            story: Box::new(super::story_charts::StoryData::read(dir, &summary)?),
        })
    }
}

/// services.csv, when services call each other (absent otherwise).
fn read_services(dir: &Path, summary: &serde_json::Value) -> Result<Vec<ServiceSeries>, PlotError> {
    let path = dir.join("services.csv");
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let table = Table::read(&path)?;
    let (t0, t1, service, rate) = (
        table.required("t_start_s")?,
        table.required("t_end_s")?,
        table.text("service")?,
        table.required("attempts_rps")?,
    );
    let amplification =
        |name: &str| summary["services"].as_array()?.iter().find(|s| s["service"] == name)?["amplification"].as_f64();
    let mut out: Vec<ServiceSeries> = Vec::new();
    for i in 0..table.rows.len() {
        let at = match out.iter().position(|s| s.service == service[i]) {
            Some(at) => at,
            None => {
                out.push(ServiceSeries {
                    service: service[i].clone(),
                    amplification: amplification(&service[i]),
                    bins: Vec::new(),
                });
                out.len() - 1
            }
        };
        out[at].bins.push((t0[i], t1[i], rate[i]));
    }
    Ok(out)
}

/// classes.csv, when the run has request classes (it has none otherwise).
fn read_classes(dir: &Path) -> Result<Vec<ClassSeries>, PlotError> {
    let path = dir.join("classes.csv");
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let table = Table::read(&path)?;
    let (t0, t1, class, success) = (
        table.required("t_start_s")?,
        table.required("t_end_s")?,
        table.text("class")?,
        table.numbers("success_fraction")?,
    );
    let mut out: Vec<ClassSeries> = Vec::new();
    for i in 0..table.rows.len() {
        let at = match out.iter().position(|c| c.class == class[i]) {
            Some(at) => at,
            None => {
                out.push(ClassSeries { class: class[i].clone(), bins: Vec::new() });
                out.len() - 1
            }
        };
        out[at].bins.push((t0[i], t1[i], success[i]));
    }
    Ok(out)
}

/// A mean and p5–p95 band of one metric in one bin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub mean: f64,
    pub p5: f64,
    pub p95: f64,
}

pub struct BandBin {
    pub t0: f64,
    pub t1: f64,
    pub offered: Option<Band>,
    pub goodput: Option<Band>,
    pub capacity: Option<Band>,
    pub p99: Option<Band>,
}

pub struct BatchData {
    pub scenario: String,
    pub runs: u64,
    pub seed: u64,
    pub slo: SloSummary,
    pub bands: Vec<BandBin>,
    /// Disrupted runs: (time to recovery or to the end of the run, recovered).
    pub rto: Vec<(f64, bool)>,
    pub rpo: Vec<f64>,
}

impl BatchData {
    pub fn read(dir: &Path) -> Result<BatchData, PlotError> {
        let summary = read_json(&dir.join("summary.json"))?;
        let ts = Table::read(&dir.join("timeseries.csv"))?;
        let band = |m: &str| -> Result<Vec<Option<Band>>, PlotError> {
            let (mean, p5, p95) =
                (ts.numbers(&format!("{m}_mean"))?, ts.numbers(&format!("{m}_p5"))?, ts.numbers(&format!("{m}_p95"))?);
            Ok((0..mean.len())
                .map(|i| match (mean[i], p5[i], p95[i]) {
                    (Some(mean), Some(p5), Some(p95)) => Some(Band { mean, p5, p95 }),
                    _ => None,
                })
                .collect())
        };
        let (t0, t1) = (ts.required("t_start_s")?, ts.required("t_end_s")?);
        let (offered, goodput, capacity, p99) =
            (band("offered_rps")?, band("goodput_rps")?, band("capacity_rps")?, band("latency_p99_ms")?);
        let bands = (0..t0.len())
            .map(|i| BandBin {
                t0: t0[i],
                t1: t1[i],
                offered: offered[i],
                goodput: goodput[i],
                capacity: capacity[i],
                p99: p99[i],
            })
            .collect();
        let runs = Table::read(&dir.join("runs.csv"))?;
        let (disrupted, recovered, rto, censored, rpo) = (
            runs.required("disrupted")?,
            runs.required("recovered")?,
            runs.numbers("rto_s")?,
            runs.numbers("rto_censored_s")?,
            runs.numbers("rpo_s")?,
        );
        let rto = (0..disrupted.len())
            .filter(|&i| disrupted[i] > 0.0)
            .filter_map(
                |i| if recovered[i] > 0.0 { rto[i].map(|t| (t, true)) } else { censored[i].map(|t| (t, false)) },
            )
            .collect();
        Ok(BatchData {
            scenario: summary["scenario"].as_str().unwrap_or("scenario").to_string(),
            runs: summary["runs"].as_u64().unwrap_or(0),
            seed: summary["seed"].as_u64().unwrap_or(0),
            slo: slo_of(&summary),
            bands,
            rto,
            rpo: rpo.into_iter().flatten().collect(),
        })
    }
}

/// A capacity plan's candidates (plan.csv).
pub struct PlanData {
    pub scenario: String,
    /// "nodes" or "rate".
    pub vary: String,
    pub confidence: f64,
    /// (value, P(SLO met), CI low, CI high, recommended).
    pub candidates: Vec<(f64, f64, f64, f64, bool)>,
}

impl PlanData {
    pub fn read(dir: &Path) -> Result<PlanData, PlotError> {
        let t = Table::read(&dir.join("plan.csv"))?;
        let (value, p, low, high, rec, conf) = (
            t.required("value")?,
            t.required("p_slo_met")?,
            t.required("ci95_low")?,
            t.required("ci95_high")?,
            t.required("recommended")?,
            t.required("confidence")?,
        );
        let scenario = t.text("scenario")?.first().cloned().unwrap_or_default();
        let vary = t.text("vary")?.first().cloned().unwrap_or_default();
        Ok(PlanData {
            scenario,
            vary,
            confidence: conf.first().copied().unwrap_or(0.95),
            candidates: (0..value.len()).map(|i| (value[i], p[i], low[i], high[i], rec[i] > 0.0)).collect(),
        })
    }
}

/// One (point, metric) row of a sweep's summary.csv.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepStat {
    pub point: usize,
    pub metric: String,
    pub mean: f64,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

pub struct SweepData {
    pub scenario: String,
    pub runs: u64,
    pub parameters: Vec<crate::sweep::Parameter>,
    /// Per point, its values in parameter order.
    pub points: Vec<Vec<String>>,
    pub stats: Vec<SweepStat>,
    pub slo: SloSummary,
}

impl SweepData {
    pub fn read(dir: &Path) -> Result<SweepData, PlotError> {
        let manifest_path = dir.join("sweep.json");
        let manifest: crate::sweep::Manifest = serde_json::from_value(read_json(&manifest_path)?)
            .map_err(|e| PlotError::Malformed(manifest_path.clone(), e.to_string()))?;
        let table = Table::read(&dir.join("summary.csv"))?;
        let (point, metric, mean, low, high) = (
            table.required("point")?,
            table.text("metric")?,
            table.numbers("mean")?,
            table.numbers("ci95_low")?,
            table.numbers("ci95_high")?,
        );
        let stats = (0..point.len())
            .filter_map(|i| {
                mean[i].map(|m| SweepStat {
                    point: point[i] as usize,
                    metric: metric[i].clone(),
                    mean: m,
                    low: low[i],
                    high: high[i],
                })
            })
            .collect();
        // The SLO of the first point (objectives rarely vary in a sweep).
        let slo = manifest
            .points
            .first()
            .and_then(|p| read_json(&dir.join(&p.dir).join("summary.json")).ok())
            .map(|s| slo_of(&s))
            .unwrap_or_default();
        Ok(SweepData {
            scenario: manifest.scenario,
            runs: manifest.runs,
            parameters: manifest.parameters,
            points: manifest.points.into_iter().map(|p| p.values).collect(),
            stats,
            slo,
        })
    }

    pub fn stat(&self, point: usize, metric: &str) -> Option<&SweepStat> {
        self.stats.iter().find(|s| s.point == point && s.metric == metric)
    }
}
