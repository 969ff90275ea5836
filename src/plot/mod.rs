//! Charts for postmortems and capacity reviews, drawn with plotters from the
//! files of an output folder (never from simulation state), so `faultline
//! plot DIR` re-renders exactly what `run`, `run --runs` and `sweep` wrote.
//! Every chart is written as PNG and SVG, 1200x800; `faultline plot` can
//! write one format, one chart to a file of its own (`--out`), and redraw
//! with a time window, a title or a y range and log scale, which go to
//! files named after the options unless asked to replace the folder's own
//! charts.
//!
//! A single run gets `herd` (offered load with retries stacked against
//! capacity, goodput and event markers), `timeline` (each node's state) and
//! `latency` (p50/p99 with the SLO); a batch gets `bands` (means with p5–p95
//! bands) and, when runs were disrupted or lost data, `rto` and `rpo`
//! (distributions across runs with the objective); a sweep gets one
//! `sweep-<metric>` chart per headline metric against its first parameter,
//! `heatmap-cascade` for two numeric parameters, and `dr` when it sweeps the
//! disaster-recovery strategy.

pub mod axis;
pub mod data;
mod style;

mod batch_charts;
mod run_charts;
mod story_charts;
mod sweep_charts;

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
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
    /// A bad combination of `plot` options; the text names the flag.
    #[error("{0}")]
    Option(String),
}

/// Which files of a chart are written.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Format {
    #[default]
    Both,
    Png,
    Svg,
}

impl Format {
    fn extensions(self) -> &'static [&'static str] {
        match self {
            Format::Both => &["png", "svg"],
            Format::Png => &["png"],
            Format::Svg => &["svg"],
        }
    }
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
    /// The y range and scale of every chart with a numeric y axis.
    pub y: axis::YOptions,
    /// Which files to write; `None` is both, or what `out` names.
    pub format: Option<Format>,
    /// Write the one chart to this file (.png or .svg) instead of the folder.
    pub out: Option<PathBuf>,
    /// Customised charts replace the folder's own (`NAME.png`) instead of
    /// going to `NAME.<options>.png`.
    pub in_place: bool,
}

impl PlotOptions {
    /// Whether the charts differ from the ones the folder's command drew.
    fn customised(&self) -> bool {
        self.from.is_some() || self.to.is_some() || self.title.is_some() || !self.y.is_default()
    }

    /// The part of a customised chart's file name after its own name, from
    /// the options, e.g. "from60s-to150s-ymax2000-logy".
    fn suffix(&self) -> String {
        let mut parts = Vec::new();
        let n = style::number_label;
        if let Some(v) = self.from {
            parts.push(format!("from{}s", n(v)));
        }
        if let Some(v) = self.to {
            parts.push(format!("to{}s", n(v)));
        }
        if let Some(v) = self.y.min {
            parts.push(format!("ymin{}", n(v)));
        }
        if let Some(v) = self.y.max {
            parts.push(format!("ymax{}", n(v)));
        }
        if self.y.log {
            parts.push("logy".into());
        }
        if self.title.is_some() {
            parts.push("titled".into());
        }
        parts.join("-")
    }
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
    NodeTraffic,
    Queues,
    Cache,
    Memory,
    Throttled,
    LostWrites,
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
            Chart::NodeTraffic => "node-traffic".into(),
            Chart::Queues => "queues".into(),
            Chart::Cache => "cache".into(),
            Chart::Memory => "memory".into(),
            Chart::Throttled => "throttled".into(),
            Chart::LostWrites => "lost-writes".into(),
        }
    }

    /// Whether the chart's y axis is a quantity (so --y-min/--y-max/--log-y
    /// apply); the timeline's rows and the heatmap's cells are not.
    fn has_numeric_y(&self) -> bool {
        !matches!(self, Chart::Timeline | Chart::Heatmap)
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
    /// The y range and scale asked for, applied by [`chart_with_axes`].
    pub y: axis::YOptions,
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
    Ok(Window { from, to: to.min(end), y: opts.y.clone() })
}

/// Renders the folder's charts (or the one named) as PNG and SVG into it;
/// returns the files written. Every chart is drawn before any file is
/// written, so a failure leaves the folder as it was.
pub fn render(dir: &Path, opts: &PlotOptions) -> Result<Vec<PathBuf>, PlotError> {
    style::register_fonts();
    opts.y.validate().map_err(PlotError::Option)?;
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
            c.extend(story_charts::charts_for(&r.story));
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
    let names: Vec<String> = charts.iter().map(Chart::name).collect();
    let mut charts: Vec<Chart> = match &opts.only {
        None => charts,
        Some(name) => {
            let Some(at) = names.iter().position(|n| n == name) else {
                return Err(PlotError::NoSuchChart(name.clone(), names.join(", ")));
            };
            charts.into_iter().skip(at).take(1).collect()
        }
    };
    if !opts.y.is_default() {
        if let [only] = charts.as_slice()
            && !only.has_numeric_y()
        {
            return Err(PlotError::Option(format!(
                "--y-min/--y-max/--log-y: the {} chart has no numeric y axis",
                only.name()
            )));
        }
        // Charts only the y options would change are left out.
        if opts.from.is_none() && opts.to.is_none() && opts.title.is_none() {
            charts.retain(Chart::has_numeric_y);
        }
    }
    let destinations = destinations(dir, opts, &charts, &names)?;
    let end = match &folder {
        Folder::Run(r) => r.bins.last().map_or(0.0, |b| b.t1),
        Folder::Batch(b) => b.bands.last().map_or(0.0, |b| b.t1),
        Folder::Sweep(_) | Folder::Plan(_) => f64::INFINITY,
    };
    let win = window(opts, end)?;
    // (folder, file name, bytes) of every file, drawn before any is written.
    let mut files: Vec<(PathBuf, String, Vec<u8>)> = Vec::new();
    for (chart, (target, names)) in charts.iter().zip(destinations) {
        let first = target.join(&names[0]);
        let fail = |e: String| PlotError::Draw(first.clone(), e);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
            draw(&folder, chart, &root, &win, opts).map_err(|e| fail(e.to_string()))?;
            root.present().map_err(|e| fail(e.to_string()))?;
        }
        for name in names {
            let bytes = if is_png(&name) { style::rasterize(&svg).map_err(fail)? } else { svg.clone().into_bytes() };
            files.push((target.clone(), name, bytes));
        }
    }
    let mut written = Vec::new();
    for (target, name, bytes) in files {
        crate::report::write_files(&target, &[(name.as_str(), bytes)])
            .map_err(|e| PlotError::Draw(target.join(&name), e.to_string()))?;
        written.push(target.join(name));
    }
    Ok(written)
}

fn is_png(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".png")
}

/// Where each chart goes: its folder and file names. The folder's own
/// charts (`NAME.png`) are replaced only by a plain redraw or with
/// `in_place`; a customised redraw goes to `NAME.<options>.png`, and `out`
/// names the one file to write.
fn destinations(
    dir: &Path,
    opts: &PlotOptions,
    charts: &[Chart],
    names: &[String],
) -> Result<Vec<(PathBuf, Vec<String>)>, PlotError> {
    let format = opts.format.unwrap_or_default();
    let Some(out) = &opts.out else {
        let custom = opts.customised() && !opts.in_place;
        return Ok(charts
            .iter()
            .map(|c| {
                let stem = if custom { format!("{}.{}", c.name(), opts.suffix()) } else { c.name() };
                (dir.to_path_buf(), format.extensions().iter().map(|e| format!("{stem}.{e}")).collect())
            })
            .collect());
    };
    let shown = out.display();
    if opts.in_place {
        return Err(PlotError::Option(format!("--out {shown} and --in-place: choose one")));
    }
    if charts.len() != 1 {
        return Err(PlotError::Option(format!(
            "--out {shown}: writes one chart; name it with --chart (this folder has: {})",
            names.join(", ")
        )));
    }
    let file = out.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let lower = file.to_ascii_lowercase();
    let ext = match () {
        _ if lower.ends_with(".png") && lower.len() > 4 => "png",
        _ if lower.ends_with(".svg") && lower.len() > 4 => "svg",
        _ => {
            return Err(PlotError::Option(format!(
                "--out {shown}: name a .png or .svg file (its extension is the format)"
            )));
        }
    };
    if format != Format::Both && format.extensions()[0] != ext {
        return Err(PlotError::Option(format!(
            "--out {shown} and --format {}: the file's extension is its format",
            format.extensions()[0]
        )));
    }
    if out.is_dir() {
        return Err(PlotError::Option(format!("--out {shown}: is a folder; name a file")));
    }
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Ok(vec![(parent.to_path_buf(), vec![file])])
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
        (Folder::Run(r), Chart::NodeTraffic) => story_charts::node_traffic(
            root,
            &r.story,
            &r.events,
            win,
            &title(&r.scenario, "attempts answered per node"),
        ),
        (Folder::Run(r), Chart::Queues) => {
            story_charts::queues(root, &r.story, &r.events, win, &title(&r.scenario, "queues and late responses"))
        }
        (Folder::Run(r), Chart::Cache) => {
            story_charts::cache(root, &r.story, &r.events, win, &title(&r.scenario, "cache hit ratio"))
        }
        (Folder::Run(r), Chart::Memory) => {
            story_charts::memory(root, &r.story, &r.events, win, &title(&r.scenario, "memory per node"))
        }
        (Folder::Run(r), Chart::Throttled) => story_charts::throttled(
            root,
            &r.story,
            &r.events,
            win,
            &title(&r.scenario, "throttled and rate-limited requests"),
        ),
        (Folder::Run(r), Chart::LostWrites) => {
            let what = if r.story.bins.iter().any(|b| b.db.is_some()) {
                "lost writes"
            } else {
                "data lost at the region outage (RPO)"
            };
            story_charts::lost_writes(root, &r.story, win, &title(&r.scenario, what))
        }
        (Folder::Batch(b), Chart::Bands) => {
            batch_charts::bands(root, b, win, &title(&b.scenario, &format!("load across {} runs", b.runs)))
        }
        (Folder::Batch(b), Chart::Rto) => {
            batch_charts::rto(root, b, &opts.y, &title(&b.scenario, "recovery time (RTO) across runs"))
        }
        (Folder::Batch(b), Chart::Rpo) => {
            batch_charts::rpo(root, b, &opts.y, &title(&b.scenario, "data loss (RPO) across runs"))
        }
        (Folder::Sweep(s), chart) => sweep_charts::draw(root, s, chart, &opts.y, &|what| title(&s.scenario, what)),
        (Folder::Plan(p), Chart::Plan) => {
            let what = if p.vary == "rate" { "P(SLO met) vs load" } else { "P(SLO met) vs nodes" };
            sweep_charts::plan(root, p, &opts.y, &title(&p.scenario, what))
        }
        _ => Err("this chart does not apply to this folder".into()),
    }
}

/// The coordinates of every chart drawn with [`chart_with_axes`].
pub(crate) type Plot2d = Cartesian2d<axis::Axis, axis::Axis>;

/// A time chart with the shared look: title, margins, axis descriptions,
/// number labels and a light grid; x is time in seconds (its end labelled,
/// in minutes or hours for a long window), y an f64 range.
/// The y axis is the chart's `y` range widened to round ticks, or what the
/// user asked for (`y_options`: --y-min/--y-max/--log-y). Texts are
/// clipped ([`style::clip`]) before plotters measures them.
pub(crate) fn chart_with_axes<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    (x, y): (std::ops::Range<f64>, std::ops::Range<f64>),
    (time_desc, y_desc): (bool, &str),
    y_options: &axis::YOptions,
) -> Result<ChartContext<'a, DB, Plot2d>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    // Time stays in seconds in the coordinates; a long window is labelled
    // in minutes or hours, as the run charts are.
    let unit = style::TimeAxis::for_span(x.end - x.start);
    let x_axis = axis::Axis::seconds(x.start, x.end, unit.seconds_per_unit);
    let y_axis = y_options.apply(y, axis::Scale::Linear)?;
    let x_desc = if time_desc { unit.desc() } else { String::new() };
    axes_chart(area, title, (x_axis, y_axis), (&x_desc, y_desc))
}

/// A chart over the given axes, with the shared look and their labels.
pub(crate) fn axes_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    (x, y): (axis::Axis, axis::Axis),
    (x_desc, y_desc): (&str, &str),
) -> Result<ChartContext<'a, DB, Plot2d>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let (x_labels, y_labels) = (x.clone(), y.clone());
    let mut chart = ChartBuilder::on(area)
        .caption(style::clip(title, style::TEXT_CHARS), style::title_style())
        .margin(20)
        .x_label_area_size(60)
        .y_label_area_size(100)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc(style::clip(x_desc, style::TEXT_CHARS))
        .y_desc(style::clip(y_desc, style::TEXT_CHARS))
        .axis_desc_style(style::label_style())
        .label_style(style::small_style())
        .x_labels(100)
        .y_labels(100)
        .x_label_formatter(&|v| x_labels.label(*v))
        .y_label_formatter(&|v| y_labels.label(*v))
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
