//! Charts of a single run that tell the story of one modelled feature, each
//! drawn only when the run has something to show: `node-traffic` (requests
//! served per node: a load-balancer sinkhole), `queues` (queue depth per
//! service with the wasted work of late responses), `cache` (hit ratio and
//! the misses that reach the backing service), `memory` (each node's
//! memory against its limit, with the OOM kills), `throttled` (requests
//! refused by client throttling, rate limits and serverless pools) and
//! `lost-writes` (a database's acknowledged writes, those not yet
//! replicated and those lost at a failover; or a region's data lost at a
//! disaster). They read the output folder like the other charts: the
//! columns of nodes.csv and timeseries.csv, and summary.json.

use std::collections::HashMap;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::data::{Event, Table};
use super::style::{self, Mark, number_label, series};
use super::{Chart, DrawResult, PlotError, Window, chart_with_axes, with_legend_column};

/// Most per-node lines drawn; the other nodes are drawn as one band (their
/// range) with their mean, so a large fleet stays legible.
const TOP_NODES: usize = 6;

/// Most fault lines drawn (more would overprint).
const MAX_FAULT_LINES: usize = 50;

/// Bins of uneven traffic before `node-traffic` is drawn (one could be a
/// burst of chance).
const UNEVEN_BINS: usize = 3;

/// Most per-service lines on the queue chart.
const MAX_SERVICES: usize = 8;

/// One node's series from nodes.csv.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeStory {
    pub service: String,
    pub node: u32,
    pub bins: Vec<NodeBin>,
    pub memory_limit_mb: Option<f64>,
}

/// One node in one bin (a row of nodes.csv).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeBin {
    pub t0: f64,
    pub t1: f64,
    /// Attempts the node answered per second: served, injected errors
    /// (with an `errors` fault) and rejections.
    pub answered_rps: f64,
    /// Of those, the ones answered with an injected error.
    pub errors_rps: f64,
    pub queue: f64,
    /// Workers available over the bin (workers × up fraction).
    pub up_workers: f64,
    pub memory_mb: Option<f64>,
}

/// A database failover from summary.json.
#[derive(Debug, Clone, PartialEq)]
pub struct Failover {
    pub database: String,
    pub failed_at: f64,
    pub promoted_at: Option<f64>,
    pub lost_writes: u64,
    pub rpo_s: f64,
}

/// A regional disaster from summary.json.
#[derive(Debug, Clone, PartialEq)]
pub struct Disaster {
    pub strategy: String,
    pub at: f64,
    pub rpo_s: f64,
}

/// Per bin of timeseries.csv: the columns these charts use.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoryBin {
    pub t0: f64,
    pub t1: f64,
    pub completed: f64,
    pub late: f64,
    pub throttled: f64,
    pub rate_limited: f64,
    pub db_writes: f64,
    /// With caches: (hits, misses, hit ratio).
    pub cache: Option<(f64, f64, Option<f64>)>,
    /// With databases: (writes lost, not yet replicated at the bin's end).
    pub db: Option<(f64, f64)>,
    /// With serverless pools: refusals.
    pub serverless_throttled: Option<f64>,
}

/// A service's name and, per bin, (start, end, requests waiting).
pub type ServiceQueue = (String, Vec<(f64, f64, f64)>);

/// Points of a line or polygon.
type Points = Vec<(f64, f64)>;

/// What the story charts read from a run's folder.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoryData {
    pub nodes: Vec<NodeStory>,
    pub bins: Vec<StoryBin>,
    pub failovers: Vec<Failover>,
    pub disaster: Option<Disaster>,
    /// Per cache: (service, hit ratio over the measured window).
    pub caches: Vec<(String, f64)>,
    /// nodes.csv counts injected error answers (the run has an `errors` fault).
    pub node_errors: bool,
}

impl StoryData {
    pub fn read(dir: &Path, summary: &serde_json::Value) -> Result<StoryData, PlotError> {
        let nd = Table::read(&dir.join("nodes.csv"))?;
        let (t0, t1, service, node, served, queue) = (
            nd.required("t_start_s")?,
            nd.required("t_end_s")?,
            nd.text("service")?,
            nd.required("node")?,
            nd.required("served")?,
            nd.required("queue_len_avg")?,
        );
        let (workers, up, rejected) = (nd.required("workers")?, nd.required("up_fraction")?, nd.required("rejected")?);
        let errors = if nd.has("errors") { nd.required("errors")? } else { vec![0.0; nd.rows.len()] };
        let (memory, limit) = if nd.has("memory_mb") {
            (nd.numbers("memory_mb")?, nd.numbers("memory_limit_mb")?)
        } else {
            (vec![None; nd.rows.len()], vec![None; nd.rows.len()])
        };
        let mut nodes: Vec<NodeStory> = Vec::new();
        let mut index: HashMap<(&str, u32), usize> = HashMap::new();
        for i in 0..nd.rows.len() {
            let (svc, n) = (service[i].as_str(), node[i] as u32);
            let at = *index.entry((svc, n)).or_insert_with(|| {
                nodes.push(NodeStory {
                    service: svc.to_string(),
                    node: n,
                    bins: Vec::new(),
                    memory_limit_mb: limit[i],
                });
                nodes.len() - 1
            });
            let width = t1[i] - t0[i];
            let per_sec = |x: f64| if width > 0.0 { x / width } else { 0.0 };
            nodes[at].bins.push(NodeBin {
                t0: t0[i],
                t1: t1[i],
                answered_rps: per_sec(served[i] + errors[i] + rejected[i]),
                errors_rps: per_sec(errors[i]),
                queue: queue[i],
                up_workers: workers[i] * up[i],
                memory_mb: memory[i],
            });
        }
        let ts = Table::read(&dir.join("timeseries.csv"))?;
        let column = |name: &str| -> Result<Option<Vec<Option<f64>>>, PlotError> {
            if ts.has(name) { ts.numbers(name).map(Some) } else { Ok(None) }
        };
        let (t0, t1) = (ts.required("t_start_s")?, ts.required("t_end_s")?);
        let (completed, late, throttled, limited, writes) = (
            ts.required("completed")?,
            ts.required("late_responses")?,
            ts.required("failed_throttled")?,
            ts.required("failed_rate_limited")?,
            ts.required("db_writes")?,
        );
        let (hits, misses, ratio) = (column("cache_hits")?, column("cache_misses")?, column("cache_hit_ratio")?);
        let (lost, unreplicated) = (column("db_writes_lost")?, column("db_unreplicated")?);
        let refused = column("serverless_throttled")?;
        let cell = |c: &Option<Vec<Option<f64>>>, i: usize| c.as_ref().map(|v| v[i].unwrap_or(0.0));
        let bins = (0..ts.rows.len())
            .map(|i| StoryBin {
                t0: t0[i],
                t1: t1[i],
                completed: completed[i],
                late: late[i],
                throttled: throttled[i],
                rate_limited: limited[i],
                db_writes: writes[i],
                cache: match (&hits, &misses, &ratio) {
                    (Some(h), Some(m), Some(r)) => Some((h[i].unwrap_or(0.0), m[i].unwrap_or(0.0), r[i])),
                    _ => None,
                },
                db: cell(&lost, i).zip(cell(&unreplicated, i)),
                serverless_throttled: cell(&refused, i),
            })
            .collect();
        let failovers = summary["databases"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|db| {
                let name = db["database"].as_str().unwrap_or("database").to_string();
                db["failovers"].as_array().into_iter().flatten().filter_map(move |f| {
                    Some(Failover {
                        database: name.clone(),
                        failed_at: f["primary_failed_at_s"].as_f64()?,
                        promoted_at: f["promoted_at_s"].as_f64(),
                        lost_writes: f["lost_writes"].as_u64().unwrap_or(0),
                        rpo_s: f["rpo_s"].as_f64().unwrap_or(0.0),
                    })
                })
            })
            .collect();
        let dr = &summary["disaster_recovery"];
        let disaster = dr["disaster_at_s"].as_f64().map(|at| Disaster {
            strategy: dr["strategy"].as_str().unwrap_or("").to_string(),
            at,
            rpo_s: dr["rpo_s"].as_f64().unwrap_or(0.0),
        });
        let caches = summary["caches"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| (c["service"].as_str().unwrap_or("").to_string(), c["hit_ratio"].as_f64().unwrap_or(0.0)))
            .collect();
        Ok(StoryData { nodes, bins, failovers, disaster, caches, node_errors: nd.has("errors") })
    }

    /// Some node drew far more than its share of its service's attempts
    /// for [`UNEVEN_BINS`] bins: more than twice the share its workers
    /// (while up) would give it, and by more than 10 attempts a bin, which
    /// chance alone does not give at the counts where it matters.
    pub fn traffic_is_uneven(&self) -> bool {
        let mut services: HashMap<&str, Vec<&NodeStory>> = HashMap::new();
        for n in &self.nodes {
            services.entry(&n.service).or_default().push(n);
        }
        services.values().filter(|nodes| nodes.len() >= 2).any(|nodes| {
            let bins = nodes.iter().map(|n| n.bins.len()).min().unwrap_or(0);
            let uneven = (0..bins).filter(|&b| {
                let total: f64 = nodes.iter().map(|n| n.bins[b].answered_rps).sum();
                let workers: f64 = nodes.iter().map(|n| n.bins[b].up_workers).sum();
                let width = nodes[0].bins[b].t1 - nodes[0].bins[b].t0;
                workers > 0.0
                    && nodes.iter().any(|n| {
                        let share = total * n.bins[b].up_workers / workers;
                        n.bins[b].answered_rps > 2.0 * share && (n.bins[b].answered_rps - share) * width > 10.0
                    })
            });
            uneven.count() >= UNEVEN_BINS
        })
    }

    /// Queues built up (some service's waiting requests reached twice its
    /// workers up in a bin), or more than 0.1% of the answers came back
    /// after their clients had given up.
    pub fn has_queues(&self) -> bool {
        let late: f64 = self.bins.iter().map(|b| b.late).sum();
        let completed: f64 = self.bins.iter().map(|b| b.completed).sum();
        let mut workers: HashMap<&str, Vec<f64>> = HashMap::new();
        for n in &self.nodes {
            let w = workers.entry(&n.service).or_insert_with(|| vec![0.0; n.bins.len()]);
            for (sum, b) in w.iter_mut().zip(&n.bins) {
                *sum += b.up_workers;
            }
        }
        late > 0.001 * completed.max(1.0)
            || self.service_queues().iter().any(|(service, q)| {
                let w = &workers[service.as_str()];
                q.iter().zip(w).any(|((_, _, waiting), w)| *w > 0.0 && *waiting >= 2.0 * w)
            })
    }

    pub fn has_cache(&self) -> bool {
        self.bins.iter().any(|b| b.cache.is_some_and(|c| c.0 + c.1 > 0.0))
    }

    pub fn has_memory(&self) -> bool {
        self.nodes.iter().any(|n| n.memory_limit_mb.is_some())
    }

    pub fn has_throttling(&self) -> bool {
        self.bins.iter().any(|b| b.throttled + b.rate_limited + b.serverless_throttled.unwrap_or(0.0) > 0.0)
    }

    pub fn has_lost_writes(&self) -> bool {
        self.disaster.is_some() || self.bins.iter().any(|b| b.db.is_some() && b.db_writes > 0.0)
    }

    /// Per service, in order of appearance: per bin (start, end, requests
    /// waiting summed over its nodes).
    pub fn service_queues(&self) -> Vec<ServiceQueue> {
        let mut out: Vec<ServiceQueue> = Vec::new();
        for n in &self.nodes {
            let at = match out.iter().position(|(s, _)| *s == n.service) {
                Some(at) => at,
                None => {
                    out.push((n.service.clone(), n.bins.iter().map(|b| (b.t0, b.t1, 0.0)).collect()));
                    out.len() - 1
                }
            };
            for (sum, b) in out[at].1.iter_mut().zip(&n.bins) {
                sum.2 += b.queue;
            }
        }
        out
    }
}

/// The story charts this run has something to show for, in drawing order.
pub(crate) fn charts_for(s: &StoryData) -> Vec<Chart> {
    let mut charts = Vec::new();
    // A node answering with errors is the sinkhole's suspect, even when
    // outlier detection ejects it before it draws much.
    let errors_on_a_fleet = s.node_errors && s.nodes.len() >= 2;
    if errors_on_a_fleet || s.traffic_is_uneven() {
        charts.push(Chart::NodeTraffic);
    }
    if s.has_queues() {
        charts.push(Chart::Queues);
    }
    if s.has_cache() {
        charts.push(Chart::Cache);
    }
    if s.has_memory() {
        charts.push(Chart::Memory);
    }
    if s.has_throttling() {
        charts.push(Chart::Throttled);
    }
    if s.has_lost_writes() {
        charts.push(Chart::LostWrites);
    }
    charts
}

/// A series per bin in the window, at the bin's midpoint.
fn midpoints<T>(
    bins: &[T],
    win: &Window,
    bounds: impl Fn(&T) -> (f64, f64),
    value: impl Fn(&T) -> f64,
) -> Vec<(f64, f64)> {
    bins.iter()
        .filter(|b| {
            let (t0, t1) = bounds(b);
            win.holds_bin(t0, t1)
        })
        .map(|b| {
            let (t0, t1) = bounds(b);
            ((t0 + t1) / 2.0, value(b))
        })
        .collect()
}

fn node_name(n: &NodeStory) -> String {
    format!("{}/{}", style::clip(&n.service, style::NAME_CHARS), n.node)
}

/// The nodes drawn as their own lines: all when they fit, else the
/// [`TOP_NODES`] with the highest `score`; the rest go into the band.
fn top_nodes(nodes: &[NodeStory], score: impl Fn(&NodeStory) -> f64) -> (Vec<&NodeStory>, Vec<&NodeStory>) {
    if nodes.len() <= TOP_NODES + 1 {
        return (nodes.iter().collect(), Vec::new());
    }
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by(|a, b| score(&nodes[*b]).total_cmp(&score(&nodes[*a])).then(a.cmp(b)));
    let (top, rest) = order.split_at(TOP_NODES);
    let mut top: Vec<usize> = top.to_vec();
    top.sort_unstable();
    (top.iter().map(|&i| &nodes[i]).collect(), rest.iter().map(|&i| &nodes[i]).collect())
}

/// The nodes not drawn as lines, as a band from their lowest to highest
/// value per bin with their mean: (band polygon, mean line).
fn others_band(others: &[&NodeStory], win: &Window, value: impl Fn(&NodeBin) -> Option<f64>) -> (Points, Points) {
    let Some(first) = others.first() else { return (Vec::new(), Vec::new()) };
    let (mut low, mut high, mut mean) = (Vec::new(), Vec::new(), Vec::new());
    for (b, bin) in first.bins.iter().enumerate() {
        if !win.holds_bin(bin.t0, bin.t1) {
            continue;
        }
        let values: Vec<f64> = others.iter().filter_map(|n| n.bins.get(b).and_then(&value)).collect();
        if values.is_empty() {
            continue;
        }
        let mid = (bin.t0 + bin.t1) / 2.0;
        low.push((mid, values.iter().copied().fold(f64::INFINITY, f64::min)));
        high.push((mid, values.iter().copied().fold(f64::NEG_INFINITY, f64::max)));
        mean.push((mid, values.iter().sum::<f64>() / values.len() as f64));
    }
    high.extend(low.into_iter().rev());
    (high, mean)
}

/// Requests served per second by each node: a node that fails fast behind
/// a least-outstanding balancer draws most of the traffic.
pub fn node_traffic<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &StoryData,
    events: &[Event],
    win: &Window,
    title: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (plot, side) = with_legend_column(root);
    let peak =
        |n: &NodeStory| n.bins.iter().filter(|b| win.holds_bin(b.t0, b.t1)).map(|b| b.answered_rps).fold(0.0, f64::max);
    let top = s.nodes.iter().map(peak).fold(1.0, f64::max) * 1.1;
    let mut chart = chart_with_axes(
        &plot,
        title,
        (win.from..win.to, 0.0..top),
        (true, "attempts answered per second, per node"),
        &win.y,
    )?;
    let (drawn, others) = top_nodes(&s.nodes, peak);
    let mut entries = Vec::new();
    if !others.is_empty() {
        let (band, mean) = others_band(&others, win, |b| Some(b.answered_rps));
        chart.draw_series(std::iter::once(Polygon::new(band, style::LIGHT_GREY.filled())))?;
        chart.draw_series(LineSeries::new(mean, style::BLACK.stroke_width(1)))?;
        entries.push((format!("{} other nodes: range", others.len()), Mark::Fill(style::LIGHT_GREY)));
        entries.push((format!("{} other nodes: mean", others.len()), Mark::Line(style::BLACK)));
    }
    for (i, n) in drawn.iter().enumerate() {
        let colour = series::CYCLE[i % series::CYCLE.len()];
        chart.draw_series(LineSeries::new(
            midpoints(&n.bins, win, |b| (b.t0, b.t1), |b| b.answered_rps),
            colour.stroke_width(2),
        ))?;
        // How much of a node's traffic it answered with errors: a sinkhole.
        let answered: f64 = n.bins.iter().map(|b| b.answered_rps * (b.t1 - b.t0)).sum();
        let errors: f64 = n.bins.iter().map(|b| b.errors_rps * (b.t1 - b.t0)).sum();
        let label = if errors > 0.0 {
            let share = number_label((100.0 * errors / answered).round());
            format!("{}: {} error answers ({share}% of its attempts)", node_name(n), number_label(errors.round()))
        } else {
            node_name(n)
        };
        entries.push((label, Mark::Line(colour)));
    }
    fault_lines(&mut chart, events, win, top, &mut entries)?;
    if !others.is_empty() {
        entries.push((format!("lines: the {TOP_NODES} busiest nodes at their peak"), Mark::Dot(style::WHITE_ISH)));
    }
    style::legend(&side, &entries)?;
    Ok(())
}

/// Dashed vertical lines at the faults, as on the herd chart.
fn fault_lines<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<super::axis::Axis, super::axis::Axis>>,
    events: &[Event],
    win: &Window,
    top: f64,
    entries: &mut Vec<(String, Mark)>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let faults: Vec<f64> = events
        .iter()
        .filter(|e| e.event == "fault-start" && e.t >= win.from && e.t <= win.to)
        .map(|e| e.t)
        .take(MAX_FAULT_LINES)
        .collect();
    for t in &faults {
        chart.draw_series(DashedLineSeries::new(vec![(*t, 0.0), (*t, top)], 8, 6, style::BLACK.stroke_width(1)))?;
    }
    if !faults.is_empty() {
        entries.push(("fault injected".to_string(), Mark::Dashed(style::BLACK)));
    }
    Ok(())
}

/// Queue depth per service (requests waiting, summed over its nodes) above
/// the wasted work: responses that came back after their clients had
/// given up, per second.
pub fn queues<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &StoryData,
    events: &[Event],
    win: &Window,
    title: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (plot, side) = with_legend_column(root);
    let (upper, lower) = plot.split_vertically((0.6 * super::HEIGHT as f64) as i32);
    let queues = s.service_queues();
    let top =
        queues.iter().flat_map(|(_, q)| q.iter().filter(|b| win.holds_bin(b.0, b.1)).map(|b| b.2)).fold(1.0, f64::max)
            * 1.1;
    let mut chart = chart_with_axes(
        &upper,
        title,
        (win.from..win.to, 0.0..top),
        (false, "requests waiting (per service)"),
        &win.y,
    )?;
    let mut entries = Vec::new();
    for (i, (service, q)) in queues.iter().take(MAX_SERVICES).enumerate() {
        let colour = series::CYCLE[i % series::CYCLE.len()];
        chart.draw_series(LineSeries::new(midpoints(q, win, |b| (b.0, b.1), |b| b.2), colour.stroke_width(2)))?;
        entries.push((format!("{} queue", style::clip(service, style::NAME_CHARS)), Mark::Line(colour)));
    }
    if queues.len() > MAX_SERVICES {
        entries.push((format!("{} more services not drawn", queues.len() - MAX_SERVICES), Mark::Dot(style::WHITE_ISH)));
    }
    fault_lines(&mut chart, events, win, top, &mut entries)?;
    let rate = |b: &StoryBin| if b.t1 > b.t0 { b.late / (b.t1 - b.t0) } else { 0.0 };
    let late_top = s.bins.iter().filter(|b| win.holds_bin(b.t0, b.t1)).map(rate).fold(1.0, f64::max) * 1.1;
    let mut wasted =
        chart_with_axes(&lower, "", (win.from..win.to, 0.0..late_top), (true, "late responses per second"), &win.y)?;
    let colour = style::VERMILLION;
    let steps: Vec<(f64, f64)> = s
        .bins
        .iter()
        .filter(|b| b.t1 > win.from && b.t0 < win.to)
        .flat_map(|b| [(b.t0.max(win.from), rate(b)), (b.t1.min(win.to), rate(b))])
        .collect();
    wasted.draw_series(AreaSeries::new(steps, 0.0, style::tint(colour, 0.4).filled()).border_style(colour))?;
    let late: f64 = s.bins.iter().map(|b| b.late).sum();
    let label = if late > 0.0 {
        format!("late responses: {} answers after the client gave up (wasted work)", number_label(late))
    } else {
        "late responses: none reached a client that had given up".to_string()
    };
    entries.push((label, Mark::Fill(style::tint(colour, 0.4))));
    style::legend(&side, &entries)?;
    Ok(())
}

/// The cache's hit ratio per bin above the lookups per second split into
/// hits and misses: after a flush, every miss is a read of the backing
/// service.
pub fn cache<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &StoryData,
    events: &[Event],
    win: &Window,
    title: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (plot, side) = with_legend_column(root);
    let (upper, lower) = plot.split_vertically((0.5 * super::HEIGHT as f64) as i32);
    let mut ratio =
        chart_with_axes(&upper, title, (win.from..win.to, 0.0..105.0), (false, "cache hit ratio [%]"), &win.y)?;
    let points: Vec<Option<(f64, f64)>> = s
        .bins
        .iter()
        .filter(|b| win.holds_bin(b.t0, b.t1))
        .map(|b| b.cache.and_then(|c| c.2).map(|r| ((b.t0 + b.t1) / 2.0, 100.0 * r)))
        .collect();
    for segment in points.split(Option::is_none).filter(|p| !p.is_empty()) {
        ratio.draw_series(LineSeries::new(segment.iter().flatten().copied(), style::BLUE.stroke_width(2)))?;
    }
    let mut entries = vec![("hit ratio per bin".to_string(), Mark::Line(style::BLUE))];
    for (service, r) in s.caches.iter().take(4) {
        entries.push((
            format!(
                "{} cache: {}% over the run",
                style::clip(service, style::NAME_CHARS),
                number_label((r * 1000.0).round() / 10.0)
            ),
            Mark::Dot(style::WHITE_ISH),
        ));
    }
    fault_lines(&mut ratio, events, win, 105.0, &mut entries)?;
    let per_sec = |b: &StoryBin, v: f64| if b.t1 > b.t0 { v / (b.t1 - b.t0) } else { 0.0 };
    let lookups = |b: &StoryBin| b.cache.map_or(0.0, |c| per_sec(b, c.0 + c.1));
    let misses = |b: &StoryBin| b.cache.map_or(0.0, |c| per_sec(b, c.1));
    let top = s.bins.iter().filter(|b| win.holds_bin(b.t0, b.t1)).map(lookups).fold(1.0, f64::max) * 1.1;
    let mut load =
        chart_with_axes(&lower, "", (win.from..win.to, 0.0..top), (true, "cache lookups per second"), &win.y)?;
    let steps = |value: &dyn Fn(&StoryBin) -> f64| -> Vec<(f64, f64)> {
        s.bins
            .iter()
            .filter(|b| b.t1 > win.from && b.t0 < win.to)
            .flat_map(|b| [(b.t0.max(win.from), value(b)), (b.t1.min(win.to), value(b))])
            .collect()
    };
    let (hit_colour, miss_colour) = (style::tint(style::BLUISH_GREEN, 0.45), style::tint(style::VERMILLION, 0.3));
    load.draw_series(AreaSeries::new(steps(&lookups), 0.0, hit_colour.filled()))?;
    load.draw_series(AreaSeries::new(steps(&misses), 0.0, miss_colour.filled()))?;
    entries.push(("hits (answered by the cache)".to_string(), Mark::Fill(hit_colour)));
    entries.push(("misses (reads of the service behind)".to_string(), Mark::Fill(miss_colour)));
    style::legend(&side, &entries)?;
    Ok(())
}

/// Most services drawn as their own panel on the memory chart (small
/// multiples); with more, one panel holds every node.
const MEMORY_PANELS: usize = 4;

/// Each node's memory at every bin's end against its limit, with the OOM
/// kills and predictive restarts: a leak climbs until the kernel (or a
/// predictive restart) resets it. One panel per service (up to
/// [`MEMORY_PANELS`]), so services handled differently sit side by side.
pub fn memory<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &StoryData,
    events: &[Event],
    win: &Window,
    title: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (plot, side) = with_legend_column(root);
    let modelled: Vec<NodeStory> = s.nodes.iter().filter(|n| n.memory_limit_mb.is_some()).cloned().collect();
    let mut services: Vec<&str> = Vec::new();
    for n in &modelled {
        if !services.contains(&n.service.as_str()) {
            services.push(&n.service);
        }
    }
    let groups: Vec<Option<&str>> =
        if services.len() <= MEMORY_PANELS { services.iter().map(|s| Some(*s)).collect() } else { vec![None] };
    let peak = |n: &NodeStory| {
        n.bins.iter().filter(|b| win.holds_bin(b.t0, b.t1)).filter_map(|b| b.memory_mb).fold(0.0, f64::max)
    };
    let limits_all: Vec<f64> = modelled.iter().filter_map(|n| n.memory_limit_mb).collect();
    let top = modelled.iter().map(peak).chain(limits_all.iter().copied()).fold(1.0, f64::max) * 1.12;
    // The caption sits over the first panel; the others share its height.
    let caption_px = 40;
    let (caption, panels_area) = plot.split_vertically(caption_px);
    caption.draw(&Text::new(
        style::clip(title, style::TEXT_CHARS),
        (((super::WIDTH as i32 - 240) / 2 - 170).max(10), 8),
        style::title_style(),
    ))?;
    let panels = panels_area.split_evenly((groups.len(), 1));
    let mut entries = Vec::new();
    let mut colours_used = 0;
    let mut band_drawn = false;
    let (mut ooms_total, mut restarts_total) = (0, 0);
    let mut limits_drawn: Vec<f64> = Vec::new();
    for (k, (group, area)) in groups.iter().zip(panels.iter()).enumerate() {
        let nodes: Vec<NodeStory> = modelled.iter().filter(|n| group.is_none_or(|g| n.service == g)).cloned().collect();
        let last = k + 1 == groups.len();
        let y_desc = match group {
            Some(g) => format!("{} [MB]", style::clip(g, style::NAME_CHARS)),
            None => "memory per node [MB]".to_string(),
        };
        let mut chart = chart_with_axes(area, "", (win.from..win.to, 0.0..top), (last, &y_desc), &win.y)?;
        let (drawn, others) = top_nodes(&nodes, peak);
        if !others.is_empty() {
            let (band, mean) = others_band(&others, win, |b| b.memory_mb);
            chart.draw_series(std::iter::once(Polygon::new(band, style::LIGHT_GREY.filled())))?;
            chart.draw_series(LineSeries::new(mean, style::BLACK.stroke_width(1)))?;
            band_drawn = true;
        }
        for (i, n) in drawn.iter().enumerate() {
            let colour = series::CYCLE[i % series::CYCLE.len()];
            colours_used = colours_used.max(i + 1);
            let points: Vec<Option<(f64, f64)>> =
                n.bins.iter().filter(|b| win.holds_bin(b.t0, b.t1)).map(|b| b.memory_mb.map(|m| (b.t1, m))).collect();
            // A node that is down has no memory: the line breaks there.
            for segment in points.split(Option::is_none).filter(|p| !p.is_empty()) {
                chart.draw_series(LineSeries::new(segment.iter().flatten().copied(), colour.stroke_width(2)))?;
            }
            if groups.len() > 1 || group.is_some() {
                // Colours are per node index in every panel.
            } else {
                entries.push((node_name(n), Mark::Line(colour)));
            }
        }
        let mut limits: Vec<f64> = nodes.iter().filter_map(|n| n.memory_limit_mb).collect();
        limits.sort_by(f64::total_cmp);
        limits.dedup();
        for limit in &limits {
            chart.draw_series(DashedLineSeries::new(
                vec![(win.from, *limit), (win.to, *limit)],
                10,
                6,
                series::OBJECTIVE.stroke_width(2),
            ))?;
            if !limits_drawn.contains(limit) {
                limits_drawn.push(*limit);
            }
        }
        let limit = limits.first().copied().unwrap_or(top);
        let mine = |e: &&Event| group.is_none_or(|g| e.service == g) && e.t >= win.from && e.t <= win.to;
        let ooms: Vec<(f64, f64)> = events
            .iter()
            .filter(|e| e.event == "crash" && e.detail.starts_with("oom"))
            .filter(mine)
            .map(|e| (e.t, limit * 1.05))
            .collect();
        ooms_total += ooms.len();
        chart.draw_series(ooms.iter().map(|p| Cross::new(*p, 6, style::VERMILLION.stroke_width(2))))?;
        let restarts: Vec<(f64, f64)> = events
            .iter()
            .filter(|e| e.event == "drain" && e.detail.starts_with("predictive"))
            .filter(mine)
            .map(|e| (e.t, limit * 1.05))
            .collect();
        restarts_total += restarts.len();
        chart.draw_series(restarts.iter().map(|p| TriangleMarker::new(*p, 6, style::BLUE.filled())))?;
    }
    if groups.len() > 1 || groups.first().is_some_and(Option::is_some) {
        for i in 0..colours_used {
            entries.push((format!("node {i}"), Mark::Line(series::CYCLE[i % series::CYCLE.len()])));
        }
    }
    if band_drawn {
        entries.push(("other nodes: range".to_string(), Mark::Fill(style::LIGHT_GREY)));
        entries.push(("other nodes: mean".to_string(), Mark::Line(style::BLACK)));
    }
    for limit in limits_drawn {
        entries.push((format!("limit {} MB (OOM kill)", number_label(limit)), Mark::Dashed(series::OBJECTIVE)));
    }
    if ooms_total > 0 {
        entries.push((format!("OOM kill ({ooms_total})"), Mark::Cross(style::VERMILLION)));
    }
    if restarts_total > 0 {
        entries.push((format!("predictive restart ({restarts_total})"), Mark::Triangle(style::BLUE)));
    }
    entries.push(("memory at each bin's end; gaps: node down".to_string(), Mark::Dot(style::WHITE_ISH)));
    style::legend(&side, &entries)?;
    Ok(())
}

/// Requests refused before any work per second: by the clients' adaptive
/// throttling, by services' rate limits, by serverless pools at their
/// concurrency limit or scaling rate.
pub fn throttled<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &StoryData,
    events: &[Event],
    win: &Window,
    title: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (plot, side) = with_legend_column(root);
    let per_sec = |b: &StoryBin, v: f64| if b.t1 > b.t0 { v / (b.t1 - b.t0) } else { 0.0 };
    type Pick = fn(&StoryBin) -> f64;
    let kinds: [(&str, Pick, RGBColor); 3] = [
        ("throttled by the client", |b| b.throttled, style::ORANGE),
        ("rate-limited by the service", |b| b.rate_limited, style::REDDISH_PURPLE),
        (
            "serverless pool at its limit (counted as rejected)",
            |b| b.serverless_throttled.unwrap_or(0.0),
            style::VERMILLION,
        ),
    ];
    let top = s
        .bins
        .iter()
        .filter(|b| win.holds_bin(b.t0, b.t1))
        .flat_map(|b| kinds.iter().map(move |k| per_sec(b, (k.1)(b))))
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart =
        chart_with_axes(&plot, title, (win.from..win.to, 0.0..top), (true, "requests refused per second"), &win.y)?;
    let mut entries = Vec::new();
    for (label, pick, colour) in kinds {
        if !s.bins.iter().any(|b| pick(b) > 0.0) {
            continue;
        }
        let steps: Vec<(f64, f64)> = s
            .bins
            .iter()
            .filter(|b| b.t1 > win.from && b.t0 < win.to)
            .flat_map(|b| [(b.t0.max(win.from), per_sec(b, pick(b))), (b.t1.min(win.to), per_sec(b, pick(b)))])
            .collect();
        chart.draw_series(LineSeries::new(steps, colour.stroke_width(2)))?;
        let total: f64 = s.bins.iter().map(pick).sum();
        entries.push((format!("{label}: {} attempts", number_label(total)), Mark::Line(colour)));
    }
    fault_lines(&mut chart, events, win, top, &mut entries)?;
    style::legend(&side, &entries)?;
    Ok(())
}

/// Databases: acknowledged writes per second above the writes at risk (not
/// yet on a replica at each bin's end) and those lost when a primary
/// failed, with the failover window. Regions: the requests served per
/// second with the span before the disaster whose data the standby never
/// got (the RPO).
pub fn lost_writes<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &StoryData,
    win: &Window,
    title: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (plot, side) = with_legend_column(root);
    let per_sec = |b: &StoryBin, v: f64| if b.t1 > b.t0 { v / (b.t1 - b.t0) } else { 0.0 };
    let steps = |value: &dyn Fn(&StoryBin) -> f64| -> Vec<(f64, f64)> {
        s.bins
            .iter()
            .filter(|b| b.t1 > win.from && b.t0 < win.to)
            .flat_map(|b| [(b.t0.max(win.from), value(b)), (b.t1.min(win.to), value(b))])
            .collect()
    };
    let mut entries = Vec::new();
    let has_db = s.bins.iter().any(|b| b.db.is_some());
    let (upper, lower) = if has_db {
        let (u, l) = plot.split_vertically((0.5 * super::HEIGHT as f64) as i32);
        (u, Some(l))
    } else {
        (plot.clone(), None)
    };
    let rate: Box<dyn Fn(&StoryBin) -> f64> =
        if has_db { Box::new(|b| per_sec(b, b.db_writes)) } else { Box::new(|b| per_sec(b, b.completed)) };
    let top = s.bins.iter().filter(|b| win.holds_bin(b.t0, b.t1)).map(&rate).fold(1.0, f64::max) * 1.15;
    let y_desc = if has_db { "writes acknowledged per second" } else { "requests served per second" };
    let x_desc = !has_db;
    let mut chart = chart_with_axes(&upper, title, (win.from..win.to, 0.0..top), (x_desc, y_desc), &win.y)?;
    // Shaded spans: failover windows (writes fail) and lost-data windows.
    // A span of under a second is drawn at least 1/150 of the window wide,
    // so an RPO of 0.8 s stays visible on a 10-minute chart.
    let narrowest = (win.to - win.from) / 150.0;
    let shade = |from: f64, to: f64| (from.min(to - narrowest).max(win.from), to.min(win.to));
    for f in &s.failovers {
        let (a, b) = shade(f.failed_at, f.promoted_at.unwrap_or(win.to));
        if b > a {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(a, 0.0), (b, top)],
                style::tint(style::YELLOW, 0.5).filled(),
            )))?;
        }
        let (a, b) = shade(f.failed_at - f.rpo_s, f.failed_at);
        if b > a {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(a, 0.0), (b, top)],
                style::tint(series::RPO, 0.4).filled(),
            )))?;
        }
    }
    if let Some(d) = &s.disaster {
        let (a, b) = shade(d.at - d.rpo_s, d.at);
        if b > a {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(a, 0.0), (b, top)],
                style::tint(series::RPO, 0.4).filled(),
            )))?;
        }
        chart.draw_series(DashedLineSeries::new(vec![(d.at, 0.0), (d.at, top)], 8, 6, style::BLACK.stroke_width(1)))?;
    }
    let line_colour = if has_db { style::BLUE } else { series::GOODPUT };
    chart.draw_series(LineSeries::new(steps(&*rate), line_colour.stroke_width(2)))?;
    entries.push((y_desc.to_string(), Mark::Line(line_colour)));
    for f in s.failovers.iter().take(4) {
        let promoted = f.promoted_at.map_or("not promoted before the end".to_string(), |p| {
            format!("promoted after {} s", number_label(((p - f.failed_at) * 10.0).round() / 10.0))
        });
        entries.push((
            format!(
                "{}: primary lost at {} s, {promoted}",
                style::clip(&f.database, style::NAME_CHARS),
                number_label(f.failed_at)
            ),
            Mark::Fill(style::tint(style::YELLOW, 0.5)),
        ));
        entries.push((
            format!("{} writes lost, RPO {} s", f.lost_writes, number_label((f.rpo_s * 1000.0).round() / 1000.0)),
            Mark::Fill(style::tint(series::RPO, 0.4)),
        ));
    }
    if let Some(d) = &s.disaster {
        entries.push((format!("region lost at {} s ({})", number_label(d.at), d.strategy), Mark::Dashed(style::BLACK)));
        entries.push((
            format!("data lost: the last {} s before it (RPO)", number_label((d.rpo_s * 10.0).round() / 10.0)),
            Mark::Fill(style::tint(series::RPO, 0.4)),
        ));
    }
    if let Some(lower) = lower {
        let risk = |b: &StoryBin| b.db.map_or(0.0, |d| d.1);
        let lost = |b: &StoryBin| b.db.map_or(0.0, |d| d.0);
        let top = s.bins.iter().filter(|b| win.holds_bin(b.t0, b.t1)).map(|b| risk(b).max(lost(b))).fold(1.0, f64::max)
            * 1.15;
        let mut counts = chart_with_axes(&lower, "", (win.from..win.to, 0.0..top), (true, "writes"), &win.y)?;
        counts.draw_series(LineSeries::new(steps(&risk), style::ORANGE.stroke_width(2)))?;
        counts.draw_series(
            s.bins
                .iter()
                .filter(|b| lost(b) > 0.0 && win.holds_bin(b.t0, b.t1))
                .map(|b| Rectangle::new([(b.t0, 0.0), (b.t1.max(b.t0 + narrowest), lost(b))], series::RPO.filled())),
        )?;
        entries.push((
            "not yet on a replica at the bin's end (lost if the primary failed then)".to_string(),
            Mark::Line(style::ORANGE),
        ));
        entries.push(("lost at a primary failure".to_string(), Mark::Fill(series::RPO)));
    }
    style::legend(&side, &entries)?;
    Ok(())
}
