//! The postmortem report of an output folder: `report.html` (one
//! self-contained page: inline CSS with a system font stack, the folder's
//! SVG charts inlined, no scripts and nothing fetched) and `report.md`
//! (Markdown linking the folder's PNG charts). Like the charts, it is read
//! back from the finished files only (summary.json, events.csv, sweep.json,
//! points.csv, summary.csv, plan.csv, *.svg), so `faultline report DIR`
//! gives the same report as `--report` did at the end of the run (except
//! the story, when the folder records none and only `--report` knows the
//! scenario file).
//!
//! [`read`] gathers a folder into a [`Postmortem`] (plain text and numbers);
//! [`html`](html::html) and [`markdown`](markdown::markdown) only lay it out.

mod html;
mod markdown;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::plot::data::Table as CsvTable;
use crate::plot::{PlotError, PlotOptions};
use crate::report::folder::Kind;

pub use html::html;
pub use markdown::markdown;

/// The file names the report writes.
pub const REPORT_FILES: [&str; 2] = ["report.html", "report.md"];

/// Rows of events.csv shown before the table is cut (the rest stay in the file).
pub const EVENT_ROWS_SHOWN: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "{}: not a faultline output folder (expected summary.json from `run`, sweep.json from `sweep` or plan.csv from `plan`)",
        .0.display()
    )]
    NotOutput(PathBuf),
    #[error("{}: a sweep shard; merge the shards with `faultline merge` and report on the merged folder", .0.display())]
    Shard(PathBuf),
    #[error("{}: {}", .0.display(), .1)]
    Malformed(PathBuf, String),
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error("writing the report to {}: {}", .0.display(), .1)]
    Write(PathBuf, std::io::Error),
}

/// How to make the report.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// The scenario file the result came from, read for its story when the
    /// folder records none (`--report` passes the file it ran).
    pub scenario_file: Option<PathBuf>,
    /// Draw the charts first when the folder has none (`faultline report`);
    /// `--report --no-charts` leaves them out.
    pub draw_missing_charts: bool,
}

/// One cell of a table: its text and, for numbers, the exact value it shows
/// (the HTML carries it as `data-value`, so a reader can check it).
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub text: String,
    pub value: Option<f64>,
}

impl Cell {
    fn text(text: impl Into<String>) -> Cell {
        Cell { text: text.into(), value: None }
    }

    fn number(text: impl Into<String>, value: f64) -> Cell {
        Cell { text: text.into(), value: Some(value) }
    }
}

/// A table row; `key` names it (a metric name, a point number).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub key: String,
    pub cells: Vec<Cell>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
}

/// A chart of the folder.
#[derive(Debug, Clone)]
pub struct Chart {
    /// The file stem: `herd`, `sweep-p99`, ...
    pub name: String,
    pub caption: String,
    /// The SVG ready to inline, or `None` when it was not safe to (it holds
    /// scripts or links): the page then links the PNG instead.
    pub svg: Option<String>,
    /// `NAME.png` when the folder has it.
    pub png: Option<String>,
}

/// The first rows of events.csv and how many more there are.
#[derive(Debug, Clone, Default)]
pub struct Events {
    /// time, service, node, event, detail.
    pub rows: Vec<[String; 5]>,
    pub more: u64,
}

/// Everything the report shows, as text and numbers.
#[derive(Debug, Clone)]
pub struct Postmortem {
    pub kind: Kind,
    pub scenario: String,
    /// Label and value: the scenario file, its digest, the version, seeds, runs.
    pub facts: Vec<(String, String)>,
    pub story: Option<String>,
    /// The headline figures of a run or a batch.
    pub summary: Option<Table>,
    /// A sweep: one row per point with its headline metrics.
    pub points: Option<Table>,
    /// A plan: one row per candidate tried.
    pub plan: Option<Table>,
    pub charts: Vec<Chart>,
    /// The event log of a single run; `None` elsewhere (see `events_note`).
    pub events: Option<Events>,
    pub events_note: String,
}

impl Postmortem {
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Run => "single run",
            Kind::Batch => "Monte Carlo batch",
            Kind::Sweep => "parameter sweep",
            Kind::Shard => "sweep shard",
            Kind::Plan => "capacity plan",
        }
    }
}

/// Reads the folder (drawing its charts first when it has none and
/// `opts.draw_missing_charts`), writes `report.html` and `report.md` into
/// it atomically, and returns their paths. A folder that is not faultline
/// output is refused before anything is written.
pub fn write(dir: &Path, opts: &ReportOptions) -> Result<Vec<PathBuf>, ReportError> {
    let report = read(dir, opts)?;
    let files = [("report.html", html(&report).into_bytes()), ("report.md", markdown(&report).into_bytes())];
    crate::report::write_files(dir, &files).map_err(|e| ReportError::Write(dir.to_path_buf(), e))?;
    Ok(REPORT_FILES.iter().map(|f| dir.join(f)).collect())
}

/// Which kind of result the folder holds.
fn detect(dir: &Path) -> Result<Kind, ReportError> {
    if !dir.is_dir() {
        return Err(ReportError::NotOutput(dir.to_path_buf()));
    }
    let has = |f: &str| dir.join(f).is_file();
    if has("plan.csv") {
        return Ok(Kind::Plan);
    }
    if has("sweep.json") {
        return Ok(Kind::Sweep);
    }
    if has("shard.json") {
        return Err(ReportError::Shard(dir.to_path_buf()));
    }
    if !has("summary.json") {
        // Some output files but no summary: an unfinished or damaged result.
        if ["timeseries.csv", "runs.csv", "events.csv"].iter().any(|f| has(f)) {
            return Err(PlotError::Missing(dir.join("summary.json")).into());
        }
        return Err(ReportError::NotOutput(dir.to_path_buf()));
    }
    Ok(if has("runs.csv") { Kind::Batch } else { Kind::Run })
}

/// Gathers the folder into a [`Postmortem`].
pub fn read(dir: &Path, opts: &ReportOptions) -> Result<Postmortem, ReportError> {
    let kind = detect(dir)?;
    // Read the data first, so a damaged folder fails before any chart is drawn.
    let mut report = match kind {
        Kind::Run => read_run(dir)?,
        Kind::Batch => read_batch(dir)?,
        Kind::Sweep => read_sweep(dir)?,
        Kind::Plan => read_plan(dir)?,
        Kind::Shard => return Err(ReportError::Shard(dir.to_path_buf())),
    };
    if report.story.is_none()
        && let Some(path) = &opts.scenario_file
    {
        report.story = story_of_file(path);
    }
    if report.story.is_none()
        && let Some(path) = report.facts.iter().find(|(label, _)| label == "scenario file").map(|(_, v)| v.clone())
    {
        report.story = story_of_file(Path::new(&path));
    }
    if opts.draw_missing_charts && chart_stems(dir).is_empty() {
        crate::plot::render(dir, &PlotOptions::default())?;
    }
    report.charts = read_charts(dir);
    Ok(report)
}

fn read_json(path: &Path) -> Result<Value, ReportError> {
    let bytes = fs::read(path).map_err(|e| ReportError::Malformed(path.to_path_buf(), e.to_string()))?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| ReportError::Malformed(path.to_path_buf(), e.to_string()))?;
    if !value.is_object() {
        return Err(ReportError::Malformed(path.to_path_buf(), "not a JSON object".into()));
    }
    Ok(value)
}

fn text_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// The facts every kind shares, from a summary.json or sweep.json; fields
/// an older faultline did not record are said to be so.
fn common_facts(v: &Value) -> Vec<(String, String)> {
    let or_not = |key: &str| text_field(v, key).unwrap_or_else(|| "not recorded".into());
    vec![
        ("scenario file".into(), or_not("scenario_file")),
        ("scenario digest".into(), or_not("scenario_digest")),
        ("faultline version".into(), or_not("faultline_version")),
    ]
}

/// The opening `#` comment of a scenario file, `# ` stripped.
pub fn story_of_file(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    story_of_text(&text)
}

/// The story of a TOML text as the scenario loader reads it
/// ([`crate::model::origin::story`]); `None` when it opens with no comment.
pub fn story_of_text(text: &str) -> Option<String> {
    let story = crate::model::origin::story(text);
    let story = story.trim();
    (!story.is_empty()).then(|| story.to_string())
}

// ---------------------------------------------------------------- a single run

fn read_run(dir: &Path) -> Result<Postmortem, ReportError> {
    let path = dir.join("summary.json");
    let v = read_json(&path)?;
    let scenario = text_field(&v, "scenario").unwrap_or_else(|| "(unnamed scenario)".into());
    let mut facts = common_facts(&v);
    let seed = v.get("seed").and_then(Value::as_u64);
    let run = v.get("run").and_then(Value::as_u64).unwrap_or(0);
    facts.push(("seed".into(), seed.map_or("not recorded".into(), |s| format!("{s} (run {run})"))));
    facts.push(("runs".into(), "1".into()));
    if let Some(d) = v.get("duration_s").and_then(Value::as_f64) {
        facts.push(("simulated".into(), duration_text(d)));
    }
    let events_path = dir.join("events.csv");
    let (events, events_note) = if events_path.is_file() {
        (Some(read_events(&events_path)?), String::new())
    } else {
        (None, "This folder has no events.csv.".to_string())
    };
    Ok(Postmortem {
        kind: Kind::Run,
        scenario,
        facts,
        story: text_field(&v, "story"),
        summary: Some(run_summary(&v)),
        points: None,
        plan: None,
        charts: Vec::new(),
        events,
        events_note,
    })
}

/// The headline table of a single run's summary.json.
fn run_summary(v: &Value) -> Table {
    let f = |key: &str| v.get(key).and_then(Value::as_f64);
    let mut rows = Vec::new();
    let mut row = |key: &str, label: &str, cell: Cell| {
        rows.push(Row { key: key.into(), cells: vec![Cell::text(label), cell] });
    };
    match f("offered") {
        Some(n) => {
            let rate = f("offered_rps").map_or(String::new(), |r| format!(" ({r:.1}/s)"));
            row("offered", "offered requests", Cell::number(format!("{}{rate}", count_text(n)), n))
        }
        None => row("offered", "offered requests", Cell::text("not recorded")),
    }
    row("success_fraction", "success fraction", optional(f("success_fraction"), pct_text));
    let latency = |q: &str| v.get("latency_ms").and_then(|l| l.get(q)).and_then(Value::as_f64);
    row("latency_p50_ms", "latency p50", optional(latency("p50"), ms_text));
    row("latency_p99_ms", "latency p99", optional(latency("p99"), ms_text));
    let recovery = v.get("recovery");
    let rto = recovery.and_then(|r| r.get("rto_s")).and_then(Value::as_f64);
    let disrupted = recovery.and_then(|r| r.get("disrupted_at_s")).and_then(Value::as_f64);
    let rto_cell = match (rto, disrupted) {
        (Some(t), _) => Cell::number(duration_text(t), t),
        (None, Some(t)) => Cell::text(format!("not restored by the end (disrupted at {})", duration_text(t))),
        (None, None) => Cell::text("no disruption"),
    };
    row("rto_s", "RTO (time to restore the SLO)", rto_cell);
    // The worst failover's data loss, over every database.
    let failovers: Vec<&Value> = v
        .get("databases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|db| db.get("failovers").and_then(Value::as_array).into_iter().flatten())
        .collect();
    let rpo = failovers.iter().filter_map(|fo| fo.get("rpo_s").and_then(Value::as_f64)).reduce(f64::max);
    let rpo_cell = match rpo {
        Some(t) => Cell::number(duration_text(t), t),
        None if v.get("databases").and_then(Value::as_array).is_some_and(|d| !d.is_empty()) => {
            Cell::text("no failover")
        }
        None => Cell::text("no database"),
    };
    row("rpo_s", "RPO (data lost at failover)", rpo_cell);
    let cascade = v.get("cascade");
    let cascade_cell = match cascade.and_then(|c| c.get("happened")).and_then(Value::as_bool) {
        Some(true) => {
            let at = cascade.and_then(|c| c.get("at_s")).and_then(Value::as_f64);
            let service = cascade.and_then(|c| c.get("service")).and_then(Value::as_str).unwrap_or("?");
            Cell::number(
                format!("yes: more than half of {service} down at {}", at.map_or("?".into(), duration_text)),
                1.0,
            )
        }
        Some(false) => Cell::number("no", 0.0),
        None => Cell::text("not recorded"),
    };
    row("cascade", "cascade", cascade_cell);
    let status = recovery.and_then(|r| r.get("status")).and_then(Value::as_str).unwrap_or("not recorded");
    let status_text = match status {
        "recovered" => "yes: the SLO was restored",
        "locked_in" => "no: in breach at the end of the run",
        "never_met" => "no: the SLO was never met",
        "undisturbed" => "not disrupted",
        other => other,
    };
    row("recovered", "recovered", Cell::text(status_text));
    Table { columns: vec!["metric".into(), "value".into()], rows }
}

fn optional(v: Option<f64>, format: fn(f64) -> String) -> Cell {
    match v {
        Some(x) => Cell::number(format(x), x),
        None => Cell::text("-"),
    }
}

// ---------------------------------------------------------------- a batch

/// A headline metric: its name in the files, its label, how to print it.
type Headline = (&'static str, &'static str, fn(f64) -> String);

/// A metric's statistics across runs from summary.json.
#[derive(Debug, Clone, Copy)]
struct Describe {
    n: f64,
    mean: f64,
    ci95_low: f64,
    ci95_high: f64,
    p5: f64,
    p95: f64,
}

/// A metric of a batch's `metrics`, which is an array of [name, stats]
/// pairs or (newer files) an object keyed by name.
fn batch_metric(v: &Value, name: &str) -> Option<Describe> {
    let metrics = v.get("metrics")?;
    let stats = match metrics {
        Value::Object(map) => map.get(name)?,
        Value::Array(pairs) => pairs.iter().find(|p| p.get(0).and_then(Value::as_str) == Some(name))?.get(1)?,
        _ => return None,
    };
    let g = |k: &str| stats.get(k).and_then(Value::as_f64);
    Some(Describe {
        n: g("n")?,
        mean: g("mean")?,
        ci95_low: g("ci95_low")?,
        ci95_high: g("ci95_high")?,
        p5: g("p5").unwrap_or(f64::NAN),
        p95: g("p95").unwrap_or(f64::NAN),
    })
}

fn read_batch(dir: &Path) -> Result<Postmortem, ReportError> {
    let path = dir.join("summary.json");
    let v = read_json(&path)?;
    let scenario = text_field(&v, "scenario").unwrap_or_else(|| "(unnamed scenario)".into());
    let mut facts = common_facts(&v);
    let runs = v.get("runs_finished").or_else(|| v.get("runs")).and_then(Value::as_u64);
    let seed = v.get("seed").and_then(Value::as_u64);
    facts.push((
        "seeds".into(),
        match (seed, runs) {
            (Some(s), Some(n)) if n > 0 => {
                format!("base seed {s}; run i draws from the streams of ({s}, i), i = 0..{}", n - 1)
            }
            (Some(s), _) => format!("base seed {s}"),
            _ => "not recorded".into(),
        },
    ));
    let requested = v.get("runs_requested").and_then(Value::as_u64);
    let partial = v.get("partial").and_then(Value::as_bool).unwrap_or(false);
    facts.push((
        "runs".into(),
        match (runs, requested) {
            (Some(n), Some(r)) if partial || r != n => format!("{n} of {r} requested (partial: interrupted)"),
            (Some(n), _) => n.to_string(),
            _ => "not recorded".into(),
        },
    ));
    let mut rows = Vec::new();
    let metric_row = |key: &str, label: &str, format: fn(f64) -> String| -> Option<Row> {
        let d = batch_metric(&v, key)?;
        Some(Row {
            key: key.into(),
            cells: vec![
                Cell::text(label),
                Cell::number(format(d.mean), d.mean),
                Cell::text(format!("[{}, {}]", format(d.ci95_low), format(d.ci95_high))),
                Cell::text(if d.p5.is_finite() && d.p95.is_finite() {
                    format!("{} – {}", format(d.p5), format(d.p95))
                } else {
                    "-".into()
                }),
                Cell::number(count_text(d.n), d.n),
            ],
        })
    };
    let headline: [Headline; 6] = [
        ("offered", "offered requests", count_text),
        ("success_fraction", "success fraction", pct_text),
        ("latency_p50_ms", "latency p50", ms_text),
        ("latency_p99_ms", "latency p99", ms_text),
        ("rto_s", "RTO (time to restore the SLO)", duration_text),
        ("rpo_s", "RPO (data lost at failover)", duration_text),
    ];
    for (key, label, format) in headline {
        match metric_row(key, label, format) {
            Some(row) => rows.push(row),
            None => rows.push(Row {
                key: key.into(),
                cells: vec![
                    Cell::text(label),
                    Cell::text(match key {
                        "rto_s" => "no run recovered from a disruption",
                        "rpo_s" => "no run lost data",
                        _ => "not recorded",
                    }),
                    Cell::text(""),
                    Cell::text(""),
                    Cell::text("0"),
                ],
            }),
        }
    }
    for (key, label) in [("cascade", "P(cascade)"), ("recovered", "P(recovered | disrupted)")] {
        let Some(p) = v.get(key) else { continue };
        let g = |k: &str| p.get(k).and_then(Value::as_f64);
        if let (Some(share), Some(low), Some(high), Some(n)) = (g("p"), g("ci95_low"), g("ci95_high"), g("n")) {
            let successes = g("successes").unwrap_or(share * n);
            rows.push(Row {
                key: format!("p_{key}"),
                cells: vec![
                    Cell::text(label),
                    Cell::number(format!("{} ({}/{})", prob_text(share), count_text(successes), count_text(n)), share),
                    Cell::text(format!("[{}, {}] (Wilson)", prob_text(low), prob_text(high))),
                    Cell::text("-"),
                    Cell::number(count_text(n), n),
                ],
            });
        }
    }
    let summary = Table {
        columns: ["metric", "mean", "95% interval", "p5 – p95 across runs", "runs"].map(String::from).to_vec(),
        rows,
    };
    Ok(Postmortem {
        kind: Kind::Batch,
        scenario,
        facts,
        story: text_field(&v, "story"),
        summary: Some(summary),
        points: None,
        plan: None,
        charts: Vec::new(),
        events: None,
        events_note: "A batch keeps no event log. Replay one run with its event log: \
                      `faultline run SCENARIO --seed <seed> --run <run>` (the seed and run columns of runs.csv)."
            .into(),
    })
}

// ---------------------------------------------------------------- a sweep

/// The sweep metrics shown per point, with how to print them.
const SWEEP_METRICS: [Headline; 5] = [
    ("success_fraction", "success", pct_text),
    ("latency_p99_ms", "p99 latency", ms_text),
    ("rto_s", "RTO", duration_text),
    ("p_cascade", "P(cascade)", prob_text),
    ("p_recovered", "P(recovered)", prob_text),
];

fn read_sweep(dir: &Path) -> Result<Postmortem, ReportError> {
    let v = read_json(&dir.join("sweep.json"))?;
    let scenario = text_field(&v, "scenario").unwrap_or_else(|| "(unnamed scenario)".into());
    let mut facts = common_facts(&v);
    let runs = v.get("runs").and_then(Value::as_u64);
    let points_json = v.get("points").and_then(Value::as_array).cloned().unwrap_or_default();
    let seed = v.get("seed").and_then(Value::as_u64);
    facts.push(("seeds".into(), seed.map_or("not recorded".into(), |s| format!("base seed {s} at every point"))));
    facts.push((
        "runs".into(),
        match runs {
            Some(n) => format!("{} points x {n} runs = {}", points_json.len(), points_json.len() as u64 * n),
            None => "not recorded".into(),
        },
    ));
    let parameters: Vec<String> = v
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("path").and_then(Value::as_str).map(str::to_string))
        .collect();
    facts.push(("swept".into(), if parameters.is_empty() { "nothing".into() } else { parameters.join(", ") }));
    // summary.csv: one row per (point, metric) with the mean and interval.
    let summary = CsvTable::read(&dir.join("summary.csv"))?;
    let point = summary.required("point")?;
    let metric = summary.text("metric")?;
    let mean = summary.numbers("mean")?;
    let low = summary.numbers("ci95_low")?;
    let high = summary.numbers("ci95_high")?;
    let mut columns = vec!["point".to_string()];
    columns.extend(parameters.iter().cloned());
    columns.extend(SWEEP_METRICS.iter().map(|(_, label, _)| format!("{label} (95% interval)")));
    let mut rows = Vec::new();
    for (k, p) in points_json.iter().enumerate() {
        let mut cells = vec![Cell::number((k + 1).to_string(), (k + 1) as f64)];
        let values = p.get("values").and_then(Value::as_array).cloned().unwrap_or_default();
        for i in 0..parameters.len() {
            cells.push(Cell::text(values.get(i).and_then(Value::as_str).unwrap_or("?")));
        }
        for (name, _, format) in SWEEP_METRICS {
            let at = (0..metric.len()).find(|&i| point[i] as usize == k && metric[i] == name);
            cells.push(match at.and_then(|i| mean[i].map(|m| (m, low[i], high[i]))) {
                Some((m, Some(l), Some(h))) => Cell::number(format!("{} [{}, {}]", format(m), format(l), format(h)), m),
                Some((m, _, _)) => Cell::number(format(m), m),
                None => Cell::text("-"),
            });
        }
        rows.push(Row { key: k.to_string(), cells });
    }
    Ok(Postmortem {
        kind: Kind::Sweep,
        scenario,
        facts,
        story: text_field(&v, "story"),
        summary: None,
        points: Some(Table { columns, rows }),
        plan: None,
        charts: Vec::new(),
        events: None,
        events_note: "A sweep keeps no event log; each point's batch is in points/<k>/.".into(),
    })
}

// ---------------------------------------------------------------- a plan

fn read_plan(dir: &Path) -> Result<Postmortem, ReportError> {
    let plan = CsvTable::read(&dir.join("plan.csv"))?;
    let scenario = plan.text("scenario")?.first().cloned().unwrap_or_else(|| "(unnamed scenario)".into());
    let vary = plan.text("vary")?;
    let nodes = plan.text("nodes")?;
    let rate = plan.numbers("rate_rps")?;
    let utilization = plan.numbers("utilization")?;
    let survivors = plan.numbers("survivors_utilization")?;
    let runs = plan.required("runs")?;
    let p = plan.numbers("p_slo_met")?;
    let low = plan.numbers("ci95_low")?;
    let high = plan.numbers("ci95_high")?;
    let verdict = plan.text("verdict")?;
    let success = plan.numbers("mean_success")?;
    let p99 = plan.numbers("mean_p99_ms")?;
    let recommended = plan.text("recommended")?;
    let confidence = plan.numbers("confidence")?.first().copied().flatten();
    let num_cell =
        |x: Option<f64>, format: fn(f64) -> String| x.map_or(Cell::text("-"), |x| Cell::number(format(x), x));
    let rows = (0..plan.rows.len())
        .map(|i| Row {
            key: i.to_string(),
            cells: vec![
                Cell::text(&nodes[i]),
                num_cell(rate[i], |r| format!("{r:.1}/s")),
                Cell::number(count_text(runs[i]), runs[i]),
                match (p[i], low[i], high[i]) {
                    (Some(p), Some(l), Some(h)) => {
                        Cell::number(format!("{} [{}, {}]", prob_text(p), prob_text(l), prob_text(h)), p)
                    }
                    (p, _, _) => num_cell(p, prob_text),
                },
                Cell::text(&verdict[i]),
                num_cell(success[i], pct_text),
                num_cell(p99[i], ms_text),
                num_cell(utilization[i], pct_text),
                num_cell(survivors[i], pct_text),
                Cell::text(if recommended[i] == "1" { "recommended" } else { "" }),
            ],
        })
        .collect();
    let columns = [
        "nodes",
        "rate",
        "runs",
        "P(SLO met) [95% CI]",
        "verdict",
        "mean success",
        "mean p99",
        "utilization",
        "after the loss",
        "",
    ]
    .map(String::from)
    .to_vec();
    let total_runs: f64 = runs.iter().sum();
    let facts = vec![
        ("scenario file".into(), "not recorded".into()),
        ("scenario digest".into(), "not recorded".into()),
        ("faultline version".into(), "not recorded".into()),
        ("seeds".into(), "not recorded in plan.csv".into()),
        ("runs".into(), format!("{} over {} candidates", count_text(total_runs), plan.rows.len())),
        ("varied".into(), vary.first().cloned().unwrap_or_default()),
        ("confidence".into(), confidence.map_or("not recorded".into(), prob_text)),
    ];
    Ok(Postmortem {
        kind: Kind::Plan,
        scenario,
        facts,
        story: None,
        summary: None,
        points: None,
        plan: Some(Table { columns, rows }),
        charts: Vec::new(),
        events: None,
        events_note: "A plan keeps no event log.".into(),
    })
}

// ---------------------------------------------------------------- events

/// The first [`EVENT_ROWS_SHOWN`] rows of events.csv, counting the rest
/// without holding them.
fn read_events(path: &Path) -> Result<Events, ReportError> {
    let bad = |e: csv::Error| ReportError::Malformed(path.to_path_buf(), e.to_string());
    let mut reader = csv::Reader::from_path(path).map_err(bad)?;
    let headers = reader.headers().map_err(bad)?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| ReportError::Malformed(path.to_path_buf(), format!("no column `{name}`")))
    };
    let at = [column("t_s")?, column("service")?, column("node")?, column("event")?, column("detail")?];
    let mut events = Events::default();
    for record in reader.records() {
        let record = record.map_err(bad)?;
        if events.rows.len() == EVENT_ROWS_SHOWN {
            events.more += 1;
            continue;
        }
        let cell = |i: usize| record.get(at[i]).unwrap_or("").to_string();
        let time = cell(0).parse::<f64>().map_or_else(|_| cell(0), duration_text);
        events.rows.push([time, cell(1), cell(2), cell(3), cell(4)]);
    }
    Ok(events)
}

// ---------------------------------------------------------------- charts

/// The order charts appear in, and what to look at in each. Names not here
/// (a chart newer than this table) get [`generic_caption`].
const CAPTIONS: [(&str, &str); 21] = [
    (
        "herd",
        "Offered load with retries stacked against capacity: look for where the stack rises above the capacity line; that gap is the overload the survivors must absorb.",
    ),
    ("timeline", "Each node's state over time: look for the first crash and how the other nodes follow it."),
    ("latency", "p50 and p99 latency with the SLO: look for where p99 crosses the SLO line and whether it comes back."),
    ("node-traffic", "Requests each node serves: look for the nodes that take a dead peer's share."),
    ("queues", "Queue length per node: look for queues that grow without draining, a node past its capacity."),
    ("cache", "Cache hit ratio: look for the drop (a flush or expiry) and the misses it sends to the backend."),
    ("memory", "Memory per node against its limit: look for a steady climb that ends in a crash."),
    (
        "throttled",
        "Requests refused by throttling and rate limits: look for when the defence starts refusing, and how much.",
    ),
    (
        "lost-writes",
        "Writes lost at failover: look for acknowledged writes that had not reached the replica when the primary died.",
    ),
    ("classes", "Success by request class: look for which classes are given up first."),
    ("layers", "Attempts per service: look for a layer taking more attempts than the clients sent (amplification)."),
    (
        "bands",
        "Means across runs with p5–p95 bands: look at the band's width; a wide band means the outcome depends on luck.",
    ),
    (
        "rto",
        "Recovery time across runs with the objective: look for runs past the objective, and censored runs that never recovered.",
    ),
    ("rpo", "Data lost across runs with the objective: look for runs that lost more than the objective allows."),
    (
        "sweep-success",
        "Success fraction against the swept parameter, with 95% intervals: look for the knee where it falls.",
    ),
    ("sweep-p99", "p99 latency against the swept parameter, with 95% intervals: look for where it leaves the SLO."),
    (
        "sweep-rto",
        "Recovery time against the swept parameter: look for the setting past which runs stop recovering in time.",
    ),
    (
        "sweep-cascade",
        "P(cascade) against the swept parameter, with 95% intervals: look for the smallest setting where it reaches 0.",
    ),
    (
        "heatmap-cascade",
        "P(cascade) over two parameters: look for the boundary between the safe and the cascading cells.",
    ),
    ("dr", "Disaster-recovery strategies side by side: look at what each buys in RTO and RPO."),
    (
        "plan",
        "P(SLO met) per candidate against the confidence line: look for the first candidate whose whole interval clears it (the recommendation).",
    ),
];

/// The caption of a chart by its name.
pub fn caption(name: &str) -> String {
    if let Some((_, text)) = CAPTIONS.iter().find(|(n, _)| *n == name) {
        return text.to_string();
    }
    if let Some(metric) = name.strip_prefix("sweep-") {
        return format!(
            "{metric} against the swept parameter, with 95% intervals: look for where it turns as the parameter grows."
        );
    }
    generic_caption(name)
}

fn generic_caption(name: &str) -> String {
    format!("The {name} chart of this folder.")
}

/// The stems of the folder's `*.svg` files, in [`CAPTIONS`] order, then by name.
fn chart_stems(dir: &Path) -> Vec<String> {
    let mut stems: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".svg")).map(str::to_string))
        .filter(|s| !s.starts_with('.'))
        .collect();
    let rank = |s: &str| {
        CAPTIONS
            .iter()
            .position(|(n, _)| *n == s)
            .or_else(|| {
                s.starts_with("sweep-").then(|| CAPTIONS.iter().position(|(n, _)| *n == "sweep-cascade").unwrap())
            })
            .unwrap_or(CAPTIONS.len())
    };
    stems.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    stems
}

fn read_charts(dir: &Path) -> Vec<Chart> {
    chart_stems(dir)
        .into_iter()
        .map(|name| {
            let svg = fs::read_to_string(dir.join(format!("{name}.svg"))).ok().and_then(|s| inline_svg(&s));
            let png = format!("{name}.png");
            let png = dir.join(&png).is_file().then_some(png);
            Chart { caption: caption(&name), name, svg, png }
        })
        .collect()
}

/// An SVG file made ready to sit inside the page: the XML prolog dropped, a
/// viewBox added from width/height when missing (so it scales), the root's
/// fixed size left to the CSS. `None` when the file holds anything active
/// (scripts, event handlers, links, embedded HTML), which the page must not run.
pub fn inline_svg(svg: &str) -> Option<String> {
    let lower = svg.to_ascii_lowercase();
    let active =
        ["<script", "<foreignobject", "javascript:", "href", "<iframe", "<object", "<embed", "@import", "url("];
    if active.iter().any(|a| lower.contains(a)) || has_event_handler(&lower) {
        return None;
    }
    let start = lower.find("<svg")?;
    let end = start + lower[start..].find('>')?;
    let open = &svg[start..end];
    let attr = |name: &str| -> Option<String> {
        let at = open.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(open[at..at + open[at..].find('"')?].to_string())
    };
    let mut tag = "<svg".to_string();
    if attr("viewBox").is_none() {
        let number = |s: Option<String>| s.and_then(|s| s.trim_end_matches("px").parse::<f64>().ok());
        let (w, h) = (number(attr("width"))?, number(attr("height"))?);
        tag.push_str(&format!(" viewBox=\"0 0 {w} {h}\""));
    }
    // Keep the other attributes but width, height and the namespace (an
    // inline SVG in HTML needs none, and the page then names no URL at all).
    let rest = &open[4..];
    let mut kept = String::new();
    let mut i = 0;
    let bytes = rest.as_bytes();
    while i < bytes.len() {
        // An attribute: ` name="value"`.
        let Some(eq) = rest[i..].find("=\"") else { break };
        let name = rest[i..i + eq].trim();
        let value_start = i + eq + 2;
        let Some(close) = rest[value_start..].find('"') else { break };
        let value = &rest[value_start..value_start + close];
        if !["width", "height", "xmlns"].contains(&name) && !name.is_empty() {
            kept.push_str(&format!(" {name}=\"{value}\""));
        }
        i = value_start + close + 1;
    }
    tag.push_str(&kept);
    tag.push_str(" role=\"img\"");
    let body = &svg[end..];
    Some(format!("{tag}{}", body.trim_end()))
}

/// Whether an (already lower-cased) SVG has an `on...=` attribute.
fn has_event_handler(lower: &str) -> bool {
    let bytes = lower.as_bytes();
    lower.match_indices(" on").any(|(i, _)| {
        let rest = &bytes[i + 3..];
        let letters = rest.iter().take_while(|b| b.is_ascii_lowercase()).count();
        letters > 0 && rest.get(letters) == Some(&b'=')
    })
}

// ---------------------------------------------------------------- numbers as text

/// A duration in seconds as people read it: "350 ms", "12.5s", "1m 35s",
/// "2h 05m 00s".
pub fn duration_text(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "-".into();
    }
    let sign = if seconds < 0.0 { "-" } else { "" };
    let s = seconds.abs();
    if (s * 1e6).round() < 1e6 {
        if s == 0.0 {
            return "0s".into();
        }
        // Three significant digits: "833 ms", "12.5 ms", "1.25 ms".
        let ms = s * 1e3;
        let digits = if ms >= 99.95 {
            0
        } else if ms >= 9.995 {
            1
        } else {
            2
        };
        return format!("{sign}{} ms", trim(&format!("{ms:.digits$}")));
    }
    if (s * 100.0).round() < 6000.0 {
        return format!("{sign}{}s", trim(&format!("{s:.2}")));
    }
    // Round to the millisecond first so 59.9996 s does not print "0m 60s".
    let ms = (s * 1e3).round() as u64;
    let (h, m, sec_ms) = (ms / 3_600_000, ms / 60_000 % 60, ms % 60_000);
    let secs = if sec_ms % 1000 == 0 {
        format!("{:02}s", sec_ms / 1000)
    } else {
        format!("{:02}.{}s", sec_ms / 1000, format!("{:03}", sec_ms % 1000).trim_end_matches('0'))
    };
    if h > 0 { format!("{sign}{h}h {m:02}m {secs}") } else { format!("{sign}{m}m {secs}") }
}

/// Trailing zeros (and a bare point) cut from a decimal text.
fn trim(text: &str) -> String {
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text.to_string() }
}

/// A latency in milliseconds: "0.412 ms", "42.1 ms", "995 ms", "12.3s".
pub fn ms_text(ms: f64) -> String {
    if !ms.is_finite() {
        "-".into()
    } else if ms >= 10_000.0 {
        duration_text(ms / 1e3)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 1.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.3} ms")
    }
}

/// A fraction as a percentage with the digits that matter near 0 and 1.
pub fn pct_text(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x == 0.0 || x == 1.0 {
        format!("{:.0}%", x * 100.0)
    } else if !(0.001..=0.999).contains(&x) {
        format!("{:.3}%", x * 100.0)
    } else {
        format!("{:.2}%", x * 100.0)
    }
}

/// A probability with three decimals.
pub fn prob_text(p: f64) -> String {
    if p.is_finite() { format!("{p:.3}") } else { "-".into() }
}

/// A count with thousands separators: "504,711"; a non-integer mean keeps one decimal.
pub fn count_text(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let rounded = (x * 10.0).round() / 10.0;
    let whole = rounded.trunc().abs() as u64;
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if x < 0.0 && rounded != 0.0 { "-" } else { "" };
    let frac = (rounded.fract().abs() * 10.0).round() as u64;
    if frac == 0 { format!("{sign}{grouped}") } else { format!("{sign}{grouped}.{frac}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration_text(95.0), "1m 35s");
        assert_eq!(duration_text(60.0), "1m 00s");
        assert_eq!(duration_text(60.25), "1m 00.25s");
        assert_eq!(duration_text(7500.0), "2h 05m 00s");
        assert_eq!(duration_text(12.5), "12.5s");
        assert_eq!(duration_text(0.35), "350 ms");
        assert_eq!(duration_text(0.833111772), "833 ms");
        assert_eq!(duration_text(0.0125), "12.5 ms");
        assert_eq!(duration_text(59.9996), "1m 00s");
        assert_eq!(duration_text(0.0), "0s");
        assert_eq!(duration_text(0.9999999), "1s");
    }

    #[test]
    fn counts_and_fractions() {
        assert_eq!(count_text(504711.0), "504,711");
        assert_eq!(count_text(503944.45), "503,944.5");
        assert_eq!(count_text(12.0), "12");
        assert_eq!(pct_text(0.19954), "19.95%");
        assert_eq!(pct_text(0.999123), "99.912%");
        assert_eq!(pct_text(1.0), "100%");
        assert_eq!(ms_text(994.83), "995 ms");
    }

    #[test]
    fn the_story_is_the_opening_comment() {
        let text = "# Line one.\n#\n#   - indented\nversion = 1\n# not the story\n";
        assert_eq!(story_of_text(text).as_deref(), Some("Line one.\n\n  - indented"));
        assert_eq!(story_of_text("version = 1\n"), None);
    }

    #[test]
    fn svgs_get_a_view_box_and_lose_their_fixed_size() {
        let s = inline_svg("<?xml version=\"1.0\"?>\n<svg width=\"1200\" height=\"800\" xmlns=\"http://www.w3.org/2000/svg\"><rect/></svg>\n")
            .unwrap();
        assert!(s.starts_with("<svg viewBox=\"0 0 1200 800\" role=\"img\">"), "{s}");
        assert!(!s.contains("http"));
        assert!(inline_svg("<svg viewBox=\"0 0 1 1\"><script>alert(1)</script></svg>").is_none());
        assert!(inline_svg("<svg viewBox=\"0 0 1 1\"><rect onload=\"x()\"/></svg>").is_none());
        assert!(inline_svg("<svg viewBox=\"0 0 1 1\"><image href=\"https://x/y.png\"/></svg>").is_none());
    }

    #[test]
    fn unknown_charts_get_a_generic_caption() {
        assert!(caption("herd").contains("capacity"));
        assert!(caption("lost-writes").contains("failover"));
        assert!(caption("sweep-amplification").starts_with("amplification against"));
        assert_eq!(caption("zebra"), "The zebra chart of this folder.");
    }
}
