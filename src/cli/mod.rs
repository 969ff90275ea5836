//! Command-line interface: clap definitions and the subcommands `run`,
//! `check`, `sweep` and `merge`. Binary-only, so the library never depends
//! on clap.

mod exec;
mod plan;
mod sweep;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};

use faultline::analysis;
use faultline::model::overrides::Override;
use faultline::model::{Scenario, ScenarioSource};
use faultline::report;
use faultline::time::{SimDuration, parse_duration};

/// Simulate cascading server failures from a TOML scenario file.
#[derive(Parser, Debug)]
#[command(name = "faultline", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate a scenario once and write its results
    ///
    /// Prints a compact summary and writes timeseries.csv, nodes.csv and
    /// summary.json into output/<scenario name>/ (or --out). Exit code 0 on
    /// success, 2 on a bad scenario or option (nothing is written then).
    Run(RunArgs),
    /// Validate a scenario and print a static capacity analysis
    ///
    /// Per service: offered load, capacity, utilization (at the peak of the
    /// rate schedule), and the utilization the survivors would see after
    /// losing 1, 2, ... nodes (u·N/(N−k)). Exit code 0 if valid and every
    /// service's average load is below its capacity with all nodes up, 1 if
    /// a service is over capacity on average, 2 on a bad scenario.
    Check(CheckArgs),
    /// Run a Monte Carlo batch at every point of a parameter grid
    ///
    /// Each --set PATH=VALUES adds a parameter; the points are the cross
    /// product. Every point's batch files are written to points/<k>/ as soon
    /// as it finishes, and the tables points.csv, runs.csv, summary.csv and
    /// timeseries.csv (one row per point and run / metric / bin) at the end.
    /// Exit code 0 when done, 130 when interrupted (finished points are
    /// kept; --resume continues), 2 on bad input.
    Sweep(sweep::SweepArgs),
    /// Combine the output folders of every shard of a sweep
    ///
    /// Writes exactly the files the sweep would have written unsharded.
    Merge(sweep::MergeArgs),
    /// Find the smallest safe fleet, or the largest safe load, under N−k failures
    ///
    /// Each candidate is a sequential Monte Carlo test of P(SLO met) that
    /// stops when its Wilson interval is decisively above or below
    /// --confidence. Prints the candidates and the recommendation; writes
    /// plan.csv and plan.png/.svg. Exit code 0 with a recommendation, 1
    /// when none exists within the limits, 2 on bad input.
    Plan(plan::PlanArgs),
    /// Re-render the charts of an output folder from its files
    ///
    /// Works on the folder of a single run, a batch (run --runs), a sweep or
    /// a plan, without simulating anything. Writes NAME.png and NAME.svg
    /// into the folder; a redraw with --from, --to, --title or a y option
    /// goes to NAME.<options>.png/.svg beside them (the folder's own charts
    /// stay) unless --in-place, or to the one file --out names. Exit code 0
    /// on success, 2 (one line, nothing written) when the folder holds no
    /// complete output, the chart does not exist or an option is bad.
    Plot(PlotArgs),
    /// Write a postmortem report of an output folder
    ///
    /// Writes report.html (one self-contained page: the story, the summary
    /// with 95% intervals for batches, every chart inline with a caption,
    /// the event timeline, a sweep's points or a plan's candidates) and
    /// report.md (the same in Markdown, linking the PNG charts) into the
    /// folder of a run, a batch, a sweep or a plan, from its files only.
    /// Draws the charts first if the folder has none. Exit code 0 on
    /// success, 2 when the folder holds no complete output.
    Report(ReportArgs),
}

#[derive(clap::Args, Debug)]
struct ReportArgs {
    /// An output folder of `run`, `run --runs`, `sweep` or `plan`.
    dir: PathBuf,
    /// Print nothing on success.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
struct PlotArgs {
    /// An output folder of `run`, `run --runs`, `sweep` or `plan`.
    dir: PathBuf,
    /// Only this chart: herd, timeline, latency, layers, classes,
    /// node-traffic, queues, cache, memory, throttled, lost-writes (a run);
    /// bands, rto, rpo (a batch); sweep-<metric>, sweep-classes,
    /// heatmap-cascade, dr (a sweep); plan (a plan).
    #[arg(long, value_name = "NAME")]
    chart: Option<String>,
    /// Start of the time window of time-series charts, e.g. 60s or 2m.
    #[arg(long, value_name = "T")]
    from: Option<String>,
    /// End of the time window of time-series charts.
    #[arg(long, value_name = "T")]
    to: Option<String>,
    /// Title to use instead of the scenario name.
    #[arg(long, value_name = "TEXT")]
    title: Option<String>,
    /// Bottom of the y axis, in the chart's units (shares of 1 for success
    /// and percentages shown as %; seconds for RTO/RPO).
    #[arg(long, value_name = "Y", allow_hyphen_values = true)]
    y_min: Option<String>,
    /// Top of the y axis.
    #[arg(long, value_name = "Y", allow_hyphen_values = true)]
    y_max: Option<String>,
    /// Logarithmic y axis (labels at 1, 10, 100, ...); needs a positive range.
    #[arg(long)]
    log_y: bool,
    /// Write only this format: png or svg [default: both].
    #[arg(long, value_name = "F")]
    format: Option<String>,
    /// Write the one chart (--chart, unless the folder has one) to FILE,
    /// .png or .svg, and nothing else.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Let a customised redraw (--from/--to/--title/--y-*) replace the
    /// folder's own NAME.png/.svg instead of writing NAME.<options>.png/.svg.
    #[arg(long)]
    in_place: bool,
    /// Print nothing on success.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Scenario file (TOML), e.g. models/three-node-lb.toml.
    scenario: PathBuf,
    /// Base seed of the random streams (overrides `simulation.seed`). The
    /// same scenario and seed give byte-identical output.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Output folder [default: output/<scenario name>/]. Created if missing;
    /// an earlier result of the same kind (run or batch) there is replaced,
    /// another kind is refused unless --force.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Sets a scenario key, PATH=VALUE, as `sweep --set` does but with one
    /// value: with --seed and --run, replays a run of a sweep point.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    sets: Vec<String>,
    /// Simulated duration (overrides `simulation.duration`), e.g. "10m", "90s".
    #[arg(long, value_name = "D")]
    duration: Option<String>,
    /// Independent replications to run (a Monte Carlo batch). Run i draws
    /// from streams seeded by (seed, i), so results do not depend on the
    /// thread count. With more than one run the outputs are runs.csv,
    /// summary.csv, summary.json and timeseries.csv with bands.
    #[arg(long, value_name = "N", default_value_t = 1)]
    runs: u64,
    /// Replays run I of a batch alone, with its event log and charts: row I
    /// of runs.csv is `faultline run SCENARIO --seed <seed> --run <run>`.
    #[arg(long = "run", value_name = "I", default_value_t = 0, conflicts_with = "runs")]
    run_index: u64,
    #[command(flatten)]
    exec: exec::ExecArgs,
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// Scenario file (TOML).
    scenario: PathBuf,
}

pub fn main() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(args),
        Command::Check(args) => check(args),
        Command::Sweep(args) => sweep::sweep(args),
        Command::Merge(args) => sweep::merge(args),
        Command::Plot(args) => plot(args),
        Command::Plan(args) => plan::plan(args),
        Command::Report(args) => postmortem(args),
    }
}

fn load(path: &Path) -> Result<Scenario> {
    Ok(Scenario::from_file(path)?)
}

/// The scenario with the `--set PATH=VALUE` overrides applied (validated as
/// `sweep --set` validates them, one value each).
fn load_with_sets(path: &Path, sets: &[String]) -> Result<Scenario> {
    if sets.is_empty() {
        return load(path);
    }
    let mut overrides: Vec<Override> = Vec::new();
    for set in sets {
        let p = faultline::sweep::grid::parse_set(set).map_err(|e| anyhow::anyhow!("--set {e}"))?;
        if p.values.len() != 1 {
            bail!("--set {}: give one value (sweep takes a list)", p.path);
        }
        if overrides.iter().any(|o| o.path == p.path) {
            bail!("--set {}: the path is set twice", p.path);
        }
        overrides.push(Override { path: p.path, value: p.values[0].clone() });
    }
    let source = ScenarioSource::read(path)?;
    Ok(Scenario::from_toml_with(&source.text, &source.label, source.stem.as_deref(), &overrides)?)
}

fn run(args: RunArgs) -> Result<ExitCode> {
    let mut scenario = load_with_sets(&args.scenario, &args.sets)?;
    if let Some(seed) = args.seed {
        scenario.simulation.seed = seed;
    }
    if let Some(text) = &args.duration {
        let d = parse_duration(text).map_err(|e| anyhow::anyhow!("--duration: {e}"))?;
        apply_duration(&mut scenario, d)?;
    }
    // A batch has its own default folder, as sweeps and plans do, so a run
    // and a batch of the same scenario do not claim one folder.
    let default_folder = match args.runs {
        1 => scenario.name.clone(),
        _ => format!("{}-batch", scenario.name),
    };
    let dir = args.out.clone().unwrap_or_else(|| Path::new("output").join(default_folder));
    if args.runs == 0 {
        bail!("--runs: must be at least 1");
    }
    let threads = exec::threads(args.exec.threads)?;
    exec::guard(&[&scenario], args.runs, threads, args.exec.force, args.exec.quiet)?;
    let kind = if args.runs > 1 { report::folder::Kind::Batch } else { report::folder::Kind::Run };
    report::folder::claim(&dir, kind, args.exec.force, false).map_err(anyhow::Error::msg)?;
    if args.runs > 1 {
        let bar = exec::progress_bar(args.runs, args.exec.quiet);
        exec::catch_interrupt();
        let on_run = || bar.inc(1);
        let mut controls = faultline::monte_carlo::Controls::new(threads).map_err(|e| anyhow::anyhow!(e))?;
        controls.stop = Some(&exec::INTERRUPTED);
        controls.on_run_done = Some(&on_run);
        let info = faultline::monte_carlo::BatchInfo::of(&scenario);
        let written = |e| anyhow::Error::new(e).context(format!("writing results to {}", dir.display()));
        let mut runs_csv = report::RunsCsv::create(&dir, &info).map_err(written)?;
        let (partial, complete) =
            faultline::monte_carlo::run_range(&scenario, 0..args.runs, &controls, &mut |row| runs_csv.write(row))?;
        bar.finish_and_clear();
        let batch = faultline::monte_carlo::finish(&info, &scenario.origin, args.runs, partial);
        runs_csv.finish().map_err(written)?;
        report::write_files(&dir, &report::batch_files(&batch)).map_err(written)?;
        let charts = charts(&dir, args.exec.no_charts)?;
        let charts = charts + &report_files(&dir, &args.exec, &args.scenario)?;
        if !args.exec.quiet {
            print!("{}", report::batch_summary_text(&batch));
            println!("  wrote      {}/{{runs.csv, summary.csv, timeseries.csv, summary.json}}{charts}", dir.display());
        }
        if !complete {
            eprintln!(
                "interrupted: {} of {} runs finished; the files hold those runs (see the run column of runs.csv)",
                batch.summary.runs, args.runs
            );
            return Ok(ExitCode::from(exec::EXIT_INTERRUPTED));
        }
        return Ok(ExitCode::SUCCESS);
    }
    // events.csv streams to the folder as the run goes, so a run with
    // millions of events does not hold them in memory.
    let written = |e| anyhow::Error::new(e).context(format!("writing results to {}", dir.display()));
    let events = report::EventsCsv::create(&dir, args.run_index, scenario.simulation.seed).map_err(written)?;
    let events = std::sync::Arc::new(std::sync::Mutex::new(events));
    let sink = std::sync::Arc::clone(&events);
    let log = faultline::metrics::EventLog::Stream(Box::new(move |e| {
        sink.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).write(e)
    }));
    let record = faultline::sim::run_logging(&scenario, args.run_index, log)?;
    let events = std::sync::Arc::into_inner(events).expect("the run has ended and dropped its sink");
    let events = events.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut files = report::run_files(&record, &scenario.origin);
    let names: Vec<&str> = files.iter().map(|(name, _)| *name).collect();
    files.retain(|(name, _)| *name != "events.csv");
    events.finish(&record.events).map_err(written)?;
    report::write_files(&dir, &files).map_err(written)?;
    let charts = charts(&dir, args.exec.no_charts)?;
    let charts = charts + &report_files(&dir, &args.exec, &args.scenario)?;
    if !args.exec.quiet {
        print!("{}", report::summary_text(&record));
        println!("  wrote      {}/{{{}}}{charts}", dir.display(), names.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// Draws the charts of a finished output folder; returns the text for the
/// "wrote" line.
pub(crate) fn charts(dir: &Path, skip: bool) -> Result<String> {
    if skip {
        return Ok(String::new());
    }
    let files = faultline::plot::render(dir, &faultline::plot::PlotOptions::default())?;
    Ok(chart_list(&files))
}

/// Writes the postmortem report when `--report` asked for it; returns the
/// text for the "wrote" line. The scenario file it ran is the story's
/// fallback when the folder's files record none.
pub(crate) fn report_files(dir: &Path, exec: &exec::ExecArgs, scenario: &Path) -> Result<String> {
    if !exec.report {
        return Ok(String::new());
    }
    let opts = report::postmortem::ReportOptions {
        scenario_file: Some(scenario.to_path_buf()),
        draw_missing_charts: !exec.no_charts,
    };
    report::postmortem::write(dir, &opts)?;
    Ok(" and report.html, report.md".to_string())
}

fn postmortem(args: ReportArgs) -> Result<ExitCode> {
    let opts = report::postmortem::ReportOptions { scenario_file: None, draw_missing_charts: true };
    let files = report::postmortem::write(&args.dir, &opts)?;
    if !args.quiet {
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        println!("wrote {}", names.join(" and "));
    }
    Ok(ExitCode::SUCCESS)
}

fn chart_list(files: &[PathBuf]) -> String {
    let mut names: Vec<String> =
        files.iter().filter_map(|f| f.file_stem().map(|s| s.to_string_lossy().into_owned())).collect();
    names.dedup();
    if names.is_empty() { String::new() } else { format!(" and charts {{{}}}.png/.svg", names.join(", ")) }
}

/// A time for --from/--to: seconds ("90") or a duration ("1m30s").
fn seconds(flag: &str, text: &str) -> Result<f64> {
    if let Ok(s) = text.trim().parse::<f64>()
        && s.is_finite()
        && s >= 0.0
    {
        return Ok(s);
    }
    parse_duration(text).map(|d| d.as_secs_f64()).map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}

/// A number for --y-min/--y-max.
fn y_value(flag: &str, text: &str) -> Result<f64> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => bail!("{flag} {text}: not a number"),
    }
}

fn plot(args: PlotArgs) -> Result<ExitCode> {
    use faultline::plot::Format;
    let format = match args.format.as_deref() {
        None => None,
        Some("png") => Some(Format::Png),
        Some("svg") => Some(Format::Svg),
        Some(other) => bail!("--format {other}: use png or svg (without --format both are written)"),
    };
    let opts = faultline::plot::PlotOptions {
        only: args.chart.clone(),
        from: args.from.as_deref().map(|t| seconds("--from", t)).transpose()?,
        to: args.to.as_deref().map(|t| seconds("--to", t)).transpose()?,
        title: args.title.clone(),
        y: faultline::plot::axis::YOptions {
            min: args.y_min.as_deref().map(|t| y_value("--y-min", t)).transpose()?,
            max: args.y_max.as_deref().map(|t| y_value("--y-max", t)).transpose()?,
            log: args.log_y,
        },
        format,
        out: args.out.clone(),
        in_place: args.in_place,
    };
    let files = faultline::plot::render(&args.dir, &opts)?;
    if !args.quiet {
        if files.is_empty() {
            println!("{}: no charts apply to this folder", args.dir.display());
        } else {
            // All files of one call go to one folder (the DIR or --out's).
            let folder = files[0].parent().map_or(String::new(), |p| p.display().to_string());
            let names: Vec<String> =
                files.iter().filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned())).collect();
            match names.as_slice() {
                [one] => println!("wrote {folder}/{one}"),
                _ => println!("wrote {folder}/{{{}}}", names.join(", ")),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn apply_duration(scenario: &mut Scenario, d: SimDuration) -> Result<()> {
    let sim = &scenario.simulation;
    if d.is_zero() {
        bail!("--duration: must be > 0");
    }
    if sim.warmup >= d {
        bail!("--duration: {d} is not longer than the scenario's warm-up ({})", sim.warmup);
    }
    let bins = d.0.div_ceil(sim.bin.0);
    if bins > 10_000_000 {
        bail!("--duration: {d} at {} bins would make more than 10 million rows", sim.bin);
    }
    let slots: u64 = scenario.services.iter().map(|s| s.slots() as u64).sum();
    if bins * slots > 20_000_000 {
        bail!(
            "--duration: {d} would make {bins} bins x {slots} nodes, more than 20 million node rows; use a wider bin"
        );
    }
    let sim = &mut scenario.simulation;
    sim.duration = d;
    Ok(())
}

fn check(args: CheckArgs) -> Result<ExitCode> {
    let scenario = load(&args.scenario)?;
    let caps = analysis::capacity(&scenario);
    println!(
        "{}: valid scenario, {} simulated, seed {}",
        scenario.name, scenario.simulation.duration, scenario.simulation.seed
    );
    let mut overloaded = false;
    let mut slo_broken = false;
    for b in analysis::closed_loops(&scenario) {
        print_closed_loop(&b);
    }
    for c in &caps {
        println!();
        println!(
            "service {}: {} nodes x {} workers, mean service time {}",
            c.service,
            c.nodes,
            c.workers,
            SimDuration::from_secs_f64(c.mean_service_s)
        );
        if c.mean_holding_s > c.mean_service_s * (1.0 + 1e-9) {
            println!(
                "  calls         a worker is held {} per request on average (own work + waiting for calls)",
                SimDuration::from_secs_f64(c.mean_holding_s)
            );
        }
        if let Some(service) = scenario.services.iter().find(|s| s.name == c.service)
            && let Some(a) = &service.autoscaling
        {
            let per_node = c.capacity_rps / c.nodes as f64;
            println!(
                "  autoscaling   {}..{} nodes (target {} {}): up to {:.1} req/s at max",
                a.min,
                a.max,
                a.metric.name(),
                a.target,
                per_node * a.max as f64
            );
        }
        if let Some(h) = c.cache_hit_ratio {
            println!("  cache         steady hit ratio {:.1}% (TTL model); the load below is the misses", h * 100.0);
        }
        if c.peak_offered_rps == 0.0 {
            println!("  no traffic reaches this service");
            continue;
        }
        let load = if (c.peak_offered_rps - c.mean_offered_rps).abs() > 1e-9 {
            format!("{:.1} req/s at peak ({:.1} req/s on average)", c.peak_offered_rps, c.mean_offered_rps)
        } else {
            format!("{:.1} req/s", c.peak_offered_rps)
        };
        if c.closed_loop_share > 0.0 {
            println!("  offered load  at most {load} (closed-loop users: N/(D+Z), before any queueing)");
        } else {
            println!("  offered load  {load}");
        }
        println!("  capacity      {:.1} req/s ({:.1} per node)", c.capacity_rps, c.capacity_rps / c.nodes as f64);
        if let Some(sd) = &c.slowdown {
            print_slowdown(c, sd);
        }
        println!("  utilization   {:.1}%{}", c.utilization * 100.0, flag(c.utilization));
        // Every loss up to eight nodes; past that, only where the verdict
        // changes (first hot, first over capacity) and the last, so a
        // 2,000-node service does not print 1,999 lines.
        let first_with = |limit: f64| c.after_losing.iter().find(|(_, u)| *u >= limit).map(|(k, _)| *k);
        let (first_hot, first_over) = (first_with(0.85), first_with(1.0));
        let last = c.after_losing.last().map(|(k, _)| *k);
        let mut skipped = false;
        for (k, u) in &c.after_losing {
            if *k > 8 && Some(*k) != first_hot && Some(*k) != first_over && Some(*k) != last {
                skipped = true;
                continue;
            }
            if std::mem::take(&mut skipped) {
                println!("  ...");
            }
            println!("  lose {k} node{}   survivors at {:.1}%{}", if *k == 1 { " " } else { "s" }, u * 100.0, flag(*u));
        }
        // An autoscaled service is overloaded only if even its maximum is.
        let max_nodes = scenario
            .services
            .iter()
            .find(|s| s.name == c.service)
            .and_then(|s| s.autoscaling.as_ref())
            .map_or(c.nodes, |a| a.max);
        let mean_utilization = c.mean_offered_rps / (c.capacity_rps / c.nodes as f64 * max_nodes as f64);
        // A bounded queue's blocking, where it shows at two decimals.
        if let Some((mean_blocked, peak_blocked)) = c.blocking.filter(|b| b.1 >= 5e-5) {
            let peak = if (peak_blocked - mean_blocked).abs() > 1e-9 {
                format!(" ({:.2}% at the peak rate)", peak_blocked * 100.0)
            } else {
                String::new()
            };
            println!(
                "  blocking      {:.2}% of arrivals refused{peak} (bounded queue: M/M/c/K per node, steady state)",
                mean_blocked * 100.0
            );
            if mean_blocked > 1.0 - scenario.slo.goodput {
                slo_broken = true;
                println!(
                    "  => the blocking alone breaks the SLO (goodput {:.1}%): more workers or a longer queue",
                    scenario.slo.goodput * 100.0
                );
            }
        }
        match c.breaking_point() {
            Some(0) if c.blocking.is_some() => {
                println!("  => stable above capacity: the bounded queue refuses the excess instead of growing")
            }
            Some(0) if c.open_utilization() < 1.0 => println!(
                "  => saturated by closed-loop users: throughput caps at capacity and response times grow \
                 (R = N/X - Z); the queue holds at most the users"
            ),
            Some(0) if mean_utilization >= 1.0 => {
                overloaded = true;
                println!("  => OVERLOADED with every node up: queues grow without bound");
            }
            Some(0) => println!(
                "  => the peak exceeds capacity with every node up (average load {:.1}%): queues grow during the peak",
                mean_utilization * 100.0
            ),
            Some(k) => println!("  => survives losing {} node(s); losing {k} pushes the survivors past 100%", k - 1),
            None => println!("  => survives losing any {} of {} nodes", c.nodes - 1, c.nodes),
        }
        // The analytic start of `faultline plan` for losing one node.
        let p99 = scenario.slo.latency_p99.map(|d| d.as_secs_f64());
        let estimate = analysis::estimate_nodes(c, 1, p99, analysis::SAFE_UTILIZATION);
        println!(
            "  plan          {}; `faultline plan {} --service {} --lose 1` checks it by simulation",
            plan::estimate_line(&estimate, 1),
            args.scenario.display(),
            c.service
        );
    }
    Ok(if overloaded || slo_broken { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// What a slowdown under load does to a service's capacity in `check`
/// (see `analysis::SlowdownCapacity`).
fn print_slowdown(c: &analysis::ServiceCapacity, sd: &analysis::SlowdownCapacity) {
    let per_node = c.peak_offered_rps / c.nodes as f64;
    let nominal = c.nominal_capacity_rps / c.nodes as f64;
    if !sd.spec.by_queue {
        println!(
            "  slowdown      {} by concurrency (x = busy workers / workers): without it {:.1} req/s ({:.1} per node); \
             throughput peaks at {:.1}% busy workers, past which more load serves less",
            sd.formula(),
            c.nominal_capacity_rps,
            nominal,
            sd.peak_utilization * 100.0
        );
        match sd.at_peak {
            Some((u, service_s)) => println!(
                "  at the peak   stable at {:.1}% busy workers, service time {:.1} ms (x{:.2}){}",
                u * 100.0,
                service_s * 1e3,
                service_s / c.mean_service_s,
                if per_node >= 0.85 * sd.per_node_max_rps {
                    "; metastable: a burst past the peak may not come back"
                } else {
                    ""
                }
            ),
            None => println!(
                "  at the peak   no stable point: collapses ({:.1} req/s per node offered, at most {:.1} served; \
                 at full load {:.1})",
                per_node,
                sd.per_node_max_rps,
                sd.capacity_with_queue(c.workers as f64)
            ),
        }
        return;
    }
    println!(
        "  slowdown      {} by queue (x = waiting requests / workers): none while a worker is free, \
         so the capacity above holds without a queue; it falls as the queue grows",
        sd.formula()
    );
    let queue = c.queue_capacity;
    match sd.collapse_queue {
        Some(q) if q <= 0.0 => {
            println!("  queue         already over capacity: the queue grows and slows every request")
        }
        Some(q) if queue.is_none_or(|k| q <= k as f64) => println!(
            "  queue         from {:.0} waiting per node capacity falls below the offered {:.1} req/s per node: \
             a burst that queues that many does not drain (metastable){}",
            q.ceil(),
            per_node,
            queue.map_or(String::new(), |k| format!(
                "; with the queue full ({k}) {:.1} req/s per node",
                sd.capacity_with_queue(k as f64)
            ))
        ),
        Some(_) => println!(
            "  queue         even a full queue ({}) leaves {:.1} req/s per node, above the offered load",
            queue.unwrap_or_default(),
            queue.map_or(per_node, |k| sd.capacity_with_queue(k as f64))
        ),
        None => println!("  queue         no queue length slows it below the offered load"),
    }
}

/// A closed-loop source's throughput bounds (operational laws: the
/// interactive response-time law and the asymptotic bounds).
fn print_closed_loop(b: &analysis::ClosedLoopBound) {
    println!();
    let users = if (b.mean_users - b.peak_users as f64).abs() > 1e-9 {
        format!("{} users at peak ({:.1} on average)", b.peak_users, b.mean_users)
    } else {
        format!("{} users", b.peak_users)
    };
    println!(
        "traffic {}: closed loop, {users}, mean think time Z = {}; no fixed rate: each user waits for its request",
        b.source,
        SimDuration::from_secs_f64(b.think_s)
    );
    println!(
        "  throughput    X <= min(N/(D+Z), 1/Dmax) = min({:.1}, {:.1}) = {:.1} req/s (D = {} at {} without queueing; 1/Dmax its capacity)",
        b.unqueued_rps(),
        b.capacity_rps,
        b.throughput_bound_rps(),
        SimDuration::from_secs_f64(b.demand_s),
        b.service
    );
    println!(
        "  saturation    N* = (D+Z)/Dmax = {:.1} users; at N = {} the mean response time is at least {}",
        b.saturation_users(),
        b.peak_users,
        SimDuration::from_secs_f64(b.response_bound_s())
    );
}

fn flag(u: f64) -> &'static str {
    if u >= 1.0 {
        "  OVER CAPACITY"
    } else if u >= 0.85 {
        "  (hot)"
    } else {
        ""
    }
}
