//! Charts for postmortems and capacity reviews, drawn with plotters from the
//! files of an output folder (never from simulation state), so `faultline
//! plot DIR` re-renders exactly what `run`, `run --runs` and `sweep` wrote.
//! Every chart is written as PNG and SVG, 1200x800.
//!
//! A single run gets `herd` (offered load with retries stacked against
//! capacity, goodput and event markers), `timeline` (each node's state) and
//! `latency` (p50/p99 with the SLO); a batch gets `bands` (means with p5–p95
//! bands) and, when runs were disrupted or lost data, `rto` and `rpo`
//! (distributions across runs with the objective); a sweep gets one
//! `sweep-<metric>` chart per headline metric against its first parameter,
//! `heatmap-cascade` for two numeric parameters, and `dr` when it sweeps the
//! disaster-recovery strategy.

pub mod data;
mod style;

mod batch_charts;
mod run_charts;
mod sweep_charts;

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use data::{BatchData, RunData, SweepData};

pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 800;

pub(crate) type DrawResult = Result<(), Box<dyn std::error::Error>>;

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("{}: missing; the folder holds no complete faultline output to chart", .0.display())]
    Missing(PathBuf),
    #[error("{}: {}", .0.display(), .1)]
    Malformed(PathBuf, String),
    #[error(
        "{}: not a faultline output folder (expected summary.json with timeseries.csv from `run`, or sweep.json from `sweep`)",
        .0.display()
    )]
    NotOutput(PathBuf),
    #[error("{}: cannot draw: {}", .0.display(), .1)]
    Draw(PathBuf, String),
    #[error("no chart named \"{0}\" for this folder; it has: {1}")]
    NoSuchChart(String, String),
    #[error("--from/--to: {0}")]
    Window(String),
}

/// What to draw and how.
#[derive(Debug, Clone, Default)]
pub struct PlotOptions {
    /// Only this chart (by file stem, e.g. "herd").
    pub only: Option<String>,
    /// Time window [s] of the time-series charts.
    pub from: Option<f64>,
    pub to: Option<f64>,
    /// Replaces the scenario name at the start of every title.
    pub title: Option<String>,
}

/// The charts of one output folder, with the data they read.
enum Folder {
    Run(RunData),
    Batch(BatchData),
    Sweep(SweepData),
    Plan(data::PlanData),
}

/// One chart to render.
pub(crate) enum Chart {
    Herd,
    Timeline,
    Latency,
    Classes,
    Layers,
    Bands,
    Rto,
    Rpo,
    SweepMetric(&'static str),
    Heatmap,
    Dr,
    Plan,
}

impl Chart {
    fn name(&self) -> String {
        match self {
            Chart::Herd => "herd".into(),
            Chart::Timeline => "timeline".into(),
            Chart::Latency => "latency".into(),
            Chart::Classes => "classes".into(),
            Chart::Layers => "layers".into(),
            Chart::Bands => "bands".into(),
            Chart::Rto => "rto".into(),
            Chart::Rpo => "rpo".into(),
            Chart::SweepMetric(m) => format!("sweep-{}", sweep_charts::short_name(m)),
            Chart::Heatmap => "heatmap-cascade".into(),
            Chart::Dr => "dr".into(),
            Chart::Plan => "plan".into(),
        }
    }
}

fn detect(dir: &Path) -> Result<Folder, PlotError> {
    if !dir.is_dir() {
        return Err(PlotError::NotOutput(dir.to_path_buf()));
    }
    if dir.join("plan.csv").is_file() {
        return Ok(Folder::Plan(data::PlanData::read(dir)?));
    }
    if dir.join("sweep.json").is_file() {
        return Ok(Folder::Sweep(SweepData::read(dir)?));
    }
    if !dir.join("summary.json").is_file() {
        // A folder with some output files but no summary is partial.
        for f in ["timeseries.csv", "runs.csv", "events.csv"] {
            if dir.join(f).is_file() {
                return Err(PlotError::Missing(dir.join("summary.json")));
            }
        }
        return Err(PlotError::NotOutput(dir.to_path_buf()));
    }
    if dir.join("runs.csv").is_file() {
        Ok(Folder::Batch(BatchData::read(dir)?))
    } else {
        Ok(Folder::Run(RunData::read(dir)?))
    }
}

/// The time window [from, to) for time-series charts.
pub(crate) struct Window {
    pub from: f64,
    pub to: f64,
}

impl Window {
    /// Whether a bin [t0, t1) is drawn: its midpoint is in the window.
    pub fn holds_bin(&self, t0: f64, t1: f64) -> bool {
        let mid = (t0 + t1) / 2.0;
        mid >= self.from && mid <= self.to
    }
}

fn window(opts: &PlotOptions, end: f64) -> Result<Window, PlotError> {
    let from = opts.from.unwrap_or(0.0);
    if from >= end {
        return Err(PlotError::Window(format!("--from {from}s is after the end of the data ({end}s)")));
    }
    let to = opts.to.unwrap_or(end);
    if !(from >= 0.0 && to > from) {
        return Err(PlotError::Window(format!("the window {from}s..{to}s is empty")));
    }
    Ok(Window { from, to: to.min(end) })
}

/// Renders the folder's charts (or the one named) as PNG and SVG into it;
/// returns the files written.
pub fn render(dir: &Path, opts: &PlotOptions) -> Result<Vec<PathBuf>, PlotError> {
    style::register_fonts();
    let folder = detect(dir)?;
    let charts: Vec<Chart> = match &folder {
        Folder::Run(r) => {
            let mut c = vec![Chart::Herd, Chart::Timeline, Chart::Latency];
            if !r.classes.is_empty() {
                c.push(Chart::Classes);
            }
            if !r.services.is_empty() {
                c.push(Chart::Layers);
            }
            c
        }
        Folder::Batch(b) => {
            let mut c = vec![Chart::Bands];
            if !b.rto.is_empty() {
                c.push(Chart::Rto);
            }
            if !b.rpo.is_empty() {
                c.push(Chart::Rpo);
            }
            c
        }
        Folder::Sweep(s) => sweep_charts::charts_for(s),
        Folder::Plan(_) => vec![Chart::Plan],
    };
    let charts: Vec<Chart> = match &opts.only {
        None => charts,
        Some(name) => {
            let names: Vec<String> = charts.iter().map(Chart::name).collect();
            let Some(at) = names.iter().position(|n| n == name) else {
                return Err(PlotError::NoSuchChart(name.clone(), names.join(", ")));
            };
            charts.into_iter().skip(at).take(1).collect()
        }
    };
    let end = match &folder {
        Folder::Run(r) => r.bins.last().map_or(0.0, |b| b.t1),
        Folder::Batch(b) => b.bands.last().map_or(0.0, |b| b.t1),
        Folder::Sweep(_) | Folder::Plan(_) => f64::INFINITY,
    };
    let win = window(opts, end)?;
    let mut written = Vec::new();
    for chart in &charts {
        let name = chart.name();
        let fail = |e: String| PlotError::Draw(dir.join(format!("{name}.svg")), e);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
            draw(&folder, chart, &root, &win, opts).map_err(|e| fail(e.to_string()))?;
            root.present().map_err(|e| fail(e.to_string()))?;
        }
        let png = style::rasterize(&svg).map_err(fail)?;
        let (png_name, svg_name) = (format!("{name}.png"), format!("{name}.svg"));
        let files = [(png_name.as_str(), png), (svg_name.as_str(), svg.into_bytes())];
        crate::report::write_files(dir, &files).map_err(|e| fail(e.to_string()))?;
        written.extend([dir.join(&png_name), dir.join(&svg_name)]);
    }
    Ok(written)
}

fn draw<DB: DrawingBackend>(
    folder: &Folder,
    chart: &Chart,
    root: &DrawingArea<DB, Shift>,
    win: &Window,
    opts: &PlotOptions,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let title = |scenario: &str, what: &str| {
        format!("{}: {what}", style::clip(opts.title.as_deref().unwrap_or(scenario), style::NAME_CHARS))
    };
    match (folder, chart) {
        (Folder::Run(r), Chart::Herd) => {
            run_charts::herd(root, r, win, &title(&r.scenario, "offered load vs capacity"))
        }
        (Folder::Run(r), Chart::Timeline) => run_charts::timeline(root, r, win, &title(&r.scenario, "node states")),
        (Folder::Run(r), Chart::Latency) => run_charts::latency(root, r, win, &title(&r.scenario, "latency")),
        (Folder::Run(r), Chart::Layers) => run_charts::layers(root, r, win, &title(&r.scenario, "attempts by service")),
        (Folder::Run(r), Chart::Classes) => {
            run_charts::classes(root, r, win, &title(&r.scenario, "success by request class"))
        }
        (Folder::Batch(b), Chart::Bands) => {
            batch_charts::bands(root, b, win, &title(&b.scenario, &format!("load across {} runs", b.runs)))
        }
        (Folder::Batch(b), Chart::Rto) => {
            batch_charts::rto(root, b, &title(&b.scenario, "recovery time (RTO) across runs"))
        }
        (Folder::Batch(b), Chart::Rpo) => {
            batch_charts::rpo(root, b, &title(&b.scenario, "data loss (RPO) across runs"))
        }
        (Folder::Sweep(s), chart) => sweep_charts::draw(root, s, chart, &|what| title(&s.scenario, what)),
        (Folder::Plan(p), Chart::Plan) => {
            let what = if p.vary == "rate" { "P(SLO met) vs load" } else { "P(SLO met) vs nodes" };
            sweep_charts::plan(root, p, &title(&p.scenario, what))
        }
        _ => Err("this chart does not apply to this folder".into()),
    }
}

/// A chart with the shared look: title, margins, axis descriptions, number
/// labels and a light grid, over f64 ranges. Texts are clipped
/// ([`style::clip`]) before plotters measures them.
#[allow(dead_code)] // the shared look for charts without a time axis
pub(crate) fn chart_with_axes<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    (x, y): (std::ops::Range<f64>, std::ops::Range<f64>),
    (x_desc, y_desc): (&str, &str),
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(area)
        .caption(style::clip(title, style::TEXT_CHARS), style::title_style())
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(90)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc(style::clip(x_desc, style::TEXT_CHARS))
        .y_desc(style::clip(y_desc, style::TEXT_CHARS))
        .axis_desc_style(style::label_style())
        .label_style(style::small_style())
        .x_label_formatter(&|v| style::number_label(*v))
        .y_label_formatter(&|v| style::number_label(*v))
        .light_line_style(style::LIGHT_GREY.mix(0.5))
        .draw()?;
    Ok(chart)
}

/// Splits the root into the plot (left) and the legend column (right).
pub(crate) fn with_legend_column<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
) -> (DrawingArea<DB, Shift>, DrawingArea<DB, Shift>) {
    root.split_horizontally(WIDTH as i32 - 240)
}
