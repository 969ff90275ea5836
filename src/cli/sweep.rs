//! The `sweep` and `merge` subcommands: argument parsing and terminal
//! output around [`faultline::sweep`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, anyhow, bail};

use faultline::model::ScenarioSource;
use faultline::model::overrides::Override;
use faultline::monte_carlo::{Batch, Controls};
use faultline::report;
use faultline::report::folder::{self, Kind};
use faultline::sweep::{self, Outcome, PointEvent, Shard, Sweep, grid};

use super::exec;

#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// Scenario file (TOML).
    scenario: PathBuf,
    /// A parameter and its values, PATH=VALUES. PATH names a scenario key
    /// the way error messages do (services.app.nodes, traffic.web.rate,
    /// faults[0].at); VALUES is a comma-separated list whose items are a
    /// value, an inclusive integer range 3..10, or start:stop:step with an
    /// optional unit shared by all three (200:600:50, 0.1:0.5:0.1,
    /// 100ms:900ms:100ms). Repeat --set for the cross product (the first
    /// varies slowest).
    #[arg(long = "set", value_name = "PATH=VALUES")]
    sets: Vec<String>,
    /// Replications per point; run i of every point uses the same seed
    /// (common random numbers).
    #[arg(long, value_name = "N", default_value_t = 100)]
    runs: u64,
    /// Base seed (overrides `simulation.seed`).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Simulated duration of every run (overrides `simulation.duration`).
    #[arg(long, value_name = "D")]
    duration: Option<String>,
    /// Output folder [default: output/<scenario name>-sweep/].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Continue an interrupted sweep in the same folder: finished points
    /// (or, with --shard, finished parts) are kept, the rest are run.
    #[arg(long)]
    resume: bool,
    /// Run only shard I of N (0-based) of the (point, run) work, e.g. from a
    /// cluster array job; combine the shards' folders with `faultline merge`.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    #[command(flatten)]
    exec: exec::ExecArgs,
}

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The --out folders of every shard of one sweep.
    #[arg(required = true, value_name = "SHARD_DIR")]
    shards: Vec<PathBuf>,
    /// Output folder [default: output/<scenario name>-sweep/].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Do not draw the sweep charts.
    #[arg(long)]
    no_charts: bool,
    /// Also write the postmortem report.html and report.md of the merged
    /// sweep (as `faultline report DIR` does).
    #[arg(long)]
    report: bool,
    /// Replace another kind of result (a run, batch, shard or plan) in the
    /// output folder: its faultline files are removed, other files kept.
    #[arg(long)]
    force: bool,
    /// Print nothing on success.
    #[arg(long, short)]
    quiet: bool,
}

fn point_label(manifest: &sweep::Manifest, values: &[String]) -> String {
    if values.is_empty() {
        return "(no parameters)".to_string();
    }
    manifest.parameters.iter().zip(values).map(|(p, v)| format!("{}={v}", p.path)).collect::<Vec<_>>().join(" ")
}

/// One line per finished point: success, p99 and P(cascade) with CIs.
fn point_line(manifest: &sweep::Manifest, point: &sweep::PointSpec, batch: &Batch) -> String {
    let s = &batch.summary;
    let metric = |name: &str| s.metrics.iter().find(|(m, _)| m == name).map(|(_, d)| d);
    let mut line = format!(
        "point {:>w$}/{}  {}:",
        point.point + 1,
        manifest.points.len(),
        point_label(manifest, &point.values),
        w = manifest.points.len().to_string().len()
    );
    if let Some(d) = metric("success_fraction") {
        line.push_str(&format!(
            "  success {:.3}% [{:.3}, {:.3}]",
            d.mean * 100.0,
            d.ci95_low * 100.0,
            d.ci95_high * 100.0
        ));
    }
    if let Some(d) = metric("latency_p99_ms") {
        line.push_str(&format!("  p99 {:.1} ms", d.mean));
    }
    let c = &s.cascade;
    line.push_str(&format!("  P(cascade) {:.2} [{:.2}, {:.2}]", c.p, c.ci95_low, c.ci95_high));
    line
}

pub fn sweep(args: SweepArgs) -> Result<ExitCode> {
    if args.exec.report && args.shard.is_some() {
        bail!("--report: a shard has no report of its own; `faultline report` the merged folder");
    }
    let source = ScenarioSource::read(&args.scenario)?;
    let mut fixed = Vec::new();
    if let Some(seed) = args.seed {
        fixed.push(Override { path: "simulation.seed".into(), value: seed.to_string() });
    }
    if let Some(d) = &args.duration {
        fixed.push(Override { path: "simulation.duration".into(), value: d.clone() });
    }
    let parameters =
        args.sets.iter().map(|s| grid::parse_set(s).map_err(|e| anyhow!("--set {e}"))).collect::<Result<Vec<_>>>()?;
    let sweep = Sweep::new(&source.text, &source.label, source.stem.as_deref(), &fixed, parameters, args.runs)?;
    let m = &sweep.manifest;
    let threads = exec::threads(args.exec.threads)?;
    let out = args.out.clone().unwrap_or_else(|| Path::new("output").join(format!("{}-sweep", m.scenario)));
    let work: Vec<(usize, u64)> = match args.shard {
        Some(shard) => {
            sweep::share(m.points.len(), m.runs, shard).into_iter().map(|(k, r)| (k, r.end - r.start)).collect()
        }
        None => (0..m.points.len()).map(|k| (k, m.runs)).collect(),
    };
    let scenarios: Vec<_> = work.iter().map(|(k, _)| &sweep.scenarios[*k]).collect();
    exec::guard(&scenarios, m.runs, threads, args.exec.force, args.exec.quiet)?;
    let kind = if args.shard.is_some() { Kind::Shard } else { Kind::Sweep };
    folder::claim(&out, kind, args.exec.force, args.resume).map_err(anyhow::Error::msg)?;
    let total: u64 = work.iter().map(|(_, n)| n).sum();
    let bar = exec::progress_bar(total, args.exec.quiet);
    exec::catch_interrupt();
    let on_run = || bar.inc(1);
    let mut controls = Controls::new(threads).map_err(|e| anyhow!(e))?;
    controls.stop = Some(&exec::INTERRUPTED);
    controls.on_run_done = Some(&on_run);
    let quiet = args.exec.quiet;
    let mut on_point = |event: PointEvent| match event {
        PointEvent::Skipped { point } => {
            bar.inc(work.iter().find(|(k, _)| *k == point.point).map_or(0, |(_, n)| *n));
            if !quiet {
                bar.suspend(|| {
                    println!("point {}  {}: done earlier (resumed)", point.point + 1, point_label(m, &point.values))
                });
            }
        }
        PointEvent::Finished { point, runs, batch } => {
            if quiet {
                return;
            }
            let line = match batch {
                Some(b) => point_line(m, point, b),
                None => format!(
                    "point {}  {}: runs {}..{} done",
                    point.point + 1,
                    point_label(m, &point.values),
                    runs.start,
                    runs.end
                ),
            };
            bar.suspend(|| println!("{line}"));
        }
    };
    let outcome = match args.shard {
        Some(shard) => sweep::run_shard(&sweep, shard, &out, args.resume, &controls, &mut on_point)?,
        None => sweep::run(&sweep, &out, args.resume, &controls, &mut on_point)?,
    };
    bar.finish_and_clear();
    match outcome {
        Outcome::Interrupted { points_done } => {
            eprintln!(
                "interrupted after {points_done} of {} {}: finished results are in {}; \
                 run the same command with --resume to continue",
                work.len(),
                if args.shard.is_some() { "parts" } else { "points" },
                out.display()
            );
            Ok(ExitCode::from(exec::EXIT_INTERRUPTED))
        }
        Outcome::Complete => {
            let charts = if args.shard.is_none() {
                super::charts(&out, args.exec.no_charts)? + &super::report_files(&out, &args.exec, &args.scenario)?
            } else {
                String::new()
            };
            if !args.exec.quiet {
                match args.shard {
                    Some(shard) => println!(
                        "shard {}/{}: {} runs of {} point(s) in {}/parts; when every shard is done: \
                         faultline merge <every shard's folder> --out DIR",
                        shard.index,
                        shard.count,
                        total,
                        work.len(),
                        out.display()
                    ),
                    None => println!(
                        "{} points x {} runs: wrote {}/{{sweep.json, points.csv, runs.csv, summary.csv, timeseries.csv}}, \
                         points/*/{charts}",
                        m.points.len(),
                        m.runs,
                        out.display()
                    ),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn merge(args: MergeArgs) -> Result<ExitCode> {
    // The default folder needs the scenario name, from the first shard.
    let out = match &args.out {
        Some(out) => out.clone(),
        None => {
            let name = sweep::shard_manifest(&args.shards[0])?.scenario;
            Path::new("output").join(format!("{name}-sweep"))
        }
    };
    let quiet = args.quiet;
    let mut points = 0;
    sweep::merge(&args.shards, &out, args.force, &mut |event| {
        if let PointEvent::Finished { .. } = event {
            points += 1;
        }
    })?;
    let charts = super::charts(&out, args.no_charts)?;
    let report = if args.report {
        // The shards record the scenario file; the report's story comes from there.
        let opts = report::postmortem::ReportOptions { scenario_file: None, draw_missing_charts: !args.no_charts };
        report::postmortem::write(&out, &opts)?;
        " and report.html, report.md"
    } else {
        ""
    };
    if !quiet {
        println!(
            "merged {} shards: {points} points into {}/{{sweep.json, points.csv, runs.csv, summary.csv, timeseries.csv}}, \
             points/*/{charts}{report}",
            args.shards.len(),
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
