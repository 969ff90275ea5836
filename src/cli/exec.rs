//! What batches and sweeps share on the command line: the progress bar on
//! stderr, Ctrl-C handling (stop starting runs, keep finished results) and
//! the guard that refuses absurdly large requests before anything starts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use faultline::model::Scenario;
use faultline::monte_carlo;

/// Options shared by the commands that run batches (`run`, `sweep`, `plan`).
#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// Worker threads [default: all cores].
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
    /// Run even when the estimate says the work would take more than a day
    /// or more memory than the machine has; and replace another kind of
    /// result in the output folder (its faultline files are removed, other
    /// files kept).
    #[arg(long)]
    pub force: bool,
    /// Do not draw the charts.
    #[arg(long)]
    pub no_charts: bool,
    /// Also write the postmortem report.html and report.md into the output
    /// folder (as `faultline report DIR` does).
    #[arg(long)]
    pub report: bool,
    /// Print nothing but errors (files are still written; no progress bar).
    #[arg(long, short)]
    pub quiet: bool,
}

/// Set by the first Ctrl-C; a second one quits at once.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Exit code after an interruption (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Installs the Ctrl-C handler (once per process).
pub fn catch_interrupt() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(EXIT_INTERRUPTED as i32);
        }
        eprintln!(
            "\ninterrupted: finishing the runs in progress and keeping finished results (Ctrl-C again to quit now)"
        );
    });
}

/// A bar of `total` runs on stderr; hidden when stderr is not a terminal
/// or with `quiet`.
pub fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    let target = if quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:32}] {pos}/{len} runs  {rate}  ETA {eta}  {msg}")
            .expect("a valid template")
            .with_key("rate", |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.1} runs/s", state.per_sec());
            })
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Refuses, unless `force`, work estimated at more than a day of wall time
/// or more memory than the machine has; prints the estimate when the work
/// looks long enough to want one.
pub fn guard(scenarios: &[&Scenario], runs: u64, threads: usize, force: bool, quiet: bool) -> Result<()> {
    let mut cpu_seconds = 0.0;
    let mut requests = 0.0;
    let mut peak_bytes: f64 = 0.0;
    for s in scenarios {
        let cost = monte_carlo::estimate(s);
        cpu_seconds += cost.seconds * runs as f64;
        requests += cost.requests * runs as f64;
        peak_bytes = peak_bytes.max(monte_carlo::batch_bytes(s, runs, threads));
    }
    let wall = cpu_seconds / threads.max(1) as f64;
    let wall_text = faultline::time::format_rough_secs(wall);
    let memory = physical_memory();
    if !force {
        let advice = "use fewer runs or points, a shorter --duration or a wider bin, or shards (sweep --shard); \
                      pass --force to run it anyway";
        if wall > 86_400.0 {
            bail!(
                "this would take roughly {wall_text} on {threads} thread(s) ({:.2e} simulated requests); {advice}",
                requests
            );
        }
        if let Some(memory) = memory
            && peak_bytes > 0.8 * memory
        {
            bail!(
                "this needs roughly {:.1} GiB of memory and this process may use {:.1} GiB; {advice}",
                peak_bytes / GIB,
                memory / GIB
            );
        }
    }
    if !quiet && wall > 60.0 {
        eprintln!("estimated roughly {wall_text} on {threads} thread(s); Ctrl-C stops and keeps finished results");
    }
    Ok(())
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The memory this process may use: the machine's (/proc/meminfo), or less
/// where a container's cgroup or an address-space limit (`ulimit -v`) caps
/// it, since that is where an allocation fails first.
fn physical_memory() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut bytes = kib * 1024.0;
    // cgroup v2 says "max" when unlimited.
    if let Some(limit) =
        std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok().and_then(|t| t.trim().parse::<f64>().ok())
    {
        bytes = bytes.min(limit);
    }
    // "Max address space  <soft>  <hard>  bytes", "unlimited" when unset.
    if let Some(limit) = std::fs::read_to_string("/proc/self/limits").ok().and_then(|t| {
        let line = t.lines().find(|l| l.starts_with("Max address space"))?.to_string();
        line.split_whitespace().nth(3)?.parse::<f64>().ok()
    }) {
        bytes = bytes.min(limit);
    }
    Some(bytes)
}

/// Worker threads: the user's choice or every core.
pub fn threads(requested: Option<usize>) -> Result<usize> {
    match requested {
        Some(0) => bail!("--threads: must be at least 1"),
        Some(t) if t > 1024 => bail!("--threads: {t} is more than 1024"),
        Some(t) => Ok(t),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}
