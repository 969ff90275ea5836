//! Which files each kind of result (a run, a batch, a sweep, a sweep shard,
//! a plan) consists of, so that a command leaves its output folder holding
//! only its own complete result: it refuses a folder holding another kind
//! of result unless forced (then removes that result's files), and removes
//! the files of an earlier result of its own kind before writing, so none
//! it does not rewrite (a smaller sweep's extra points, an old chart) stays
//! behind. Files faultline does not write are never removed.

use std::fs;
use std::io;
use std::path::Path;

/// The kind of result a command writes into its output folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `run` (one run).
    Run,
    /// `run --runs N` (a Monte Carlo batch).
    Batch,
    /// `sweep`, or `merge` of its shards.
    Sweep,
    /// `sweep --shard I/N`.
    Shard,
    /// `plan`.
    Plan,
}

const KINDS: [Kind; 5] = [Kind::Run, Kind::Batch, Kind::Sweep, Kind::Shard, Kind::Plan];

/// The files of a batch, which is also each sweep point's folder.
const BATCH_FILES: [&str; 4] = ["runs.csv", "summary.csv", "timeseries.csv", "summary.json"];

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Run => "a run (`faultline run`)",
            Kind::Batch => "a batch (`faultline run --runs`)",
            Kind::Sweep => "a sweep (`faultline sweep` or `merge`)",
            Kind::Shard => "a sweep shard (`faultline sweep --shard`)",
            Kind::Plan => "a plan (`faultline plan`)",
        }
    }

    /// The data files this kind writes at the top of its folder.
    fn files(self) -> &'static [&'static str] {
        match self {
            Kind::Run => &["timeseries.csv", "nodes.csv", "events.csv", "classes.csv", "services.csv", "summary.json"],
            Kind::Batch => &BATCH_FILES,
            Kind::Sweep => &["sweep.json", "points.csv", "runs.csv", "summary.csv", "timeseries.csv"],
            Kind::Shard => &["shard.json"],
            Kind::Plan => &["plan.csv"],
        }
    }

    /// Whether `stem.png` / `stem.svg` is one of this kind's charts.
    fn is_chart(self, stem: &str) -> bool {
        match self {
            Kind::Run => ["herd", "timeline", "latency", "classes", "layers"].contains(&stem),
            Kind::Batch => ["bands", "rto", "rpo"].contains(&stem),
            Kind::Sweep => stem.starts_with("sweep-") || stem == "heatmap-cascade" || stem == "dr",
            Kind::Shard => false,
            Kind::Plan => stem == "plan",
        }
    }

    /// The file whose presence says a folder holds this kind of result.
    fn marker(self, dir: &Path) -> Option<&'static str> {
        let has = |f: &str| dir.join(f).is_file();
        match self {
            Kind::Run => ["events.csv", "nodes.csv"].into_iter().find(|f| has(f)),
            Kind::Batch => (has("runs.csv") && !has("sweep.json")).then_some("runs.csv"),
            Kind::Sweep => has("sweep.json").then_some("sweep.json"),
            Kind::Shard => has("shard.json").then_some("shard.json"),
            Kind::Plan => has("plan.csv").then_some("plan.csv"),
        }
    }
}

/// Makes `dir` ready for a result of `kind`. A folder holding another kind
/// of result is refused unless `force`, which removes that result's files.
/// An earlier result of the same kind is removed too, unless `keep_own`
/// (`--resume` continues it). Only files faultline writes are removed.
pub fn claim(dir: &Path, kind: Kind, force: bool, keep_own: bool) -> Result<(), String> {
    // Create the folder and prove it writable now, before any simulating:
    // a long run must not end in an output folder that cannot take it.
    let unusable = |e: io::Error| format!("{}: cannot write results there: {e}", dir.display());
    if !dir.is_dir() {
        fs::create_dir_all(dir).map_err(unusable)?;
    }
    let probe = dir.join(format!(".faultline-probe-{}", std::process::id()));
    fs::File::create(&probe).map_err(unusable)?;
    let _ = fs::remove_file(&probe);
    let others: Vec<(Kind, &str)> =
        KINDS.iter().filter(|&&k| k != kind).filter_map(|&k| k.marker(dir).map(|m| (k, m))).collect();
    if let Some((other, marker)) = others.first()
        && !force
    {
        return Err(format!(
            "{}: holds {} ({marker}), not {}; use another --out, or pass --force to replace it \
             (only faultline's own files are removed)",
            dir.display(),
            other.describe(),
            kind.describe()
        ));
    }
    let failed = |e: io::Error| format!("{}: cannot clear the old result: {e}", dir.display());
    for &other in &KINDS {
        let clear = if other == kind { !keep_own } else { force };
        if clear {
            remove_result(dir, other).map_err(failed)?;
        }
    }
    Ok(())
}

/// Removes the files of a `kind` result from `dir`, and nothing else.
fn remove_result(dir: &Path, kind: Kind) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        if path.is_file() && owns(kind, name) {
            remove_file(&path)?;
        }
    }
    match kind {
        // points/<k>/ holds a batch's files and its marker.
        Kind::Sweep => remove_numbered(&dir.join("points"), |sub| {
            for entry in fs::read_dir(sub)? {
                let entry = entry?;
                let name = entry.file_name();
                let name = name.to_str().unwrap_or("");
                if entry.path().is_file() && (name == "point.json" || owns(Kind::Batch, name)) {
                    remove_file(&entry.path())?;
                }
            }
            remove_if_empty(sub)
        }),
        // parts/<k>.json: a shard's runs of point k.
        Kind::Shard => {
            let parts = dir.join("parts");
            if parts.is_dir() {
                for entry in fs::read_dir(&parts)? {
                    let entry = entry?;
                    let name = entry.file_name();
                    let stem = name.to_str().unwrap_or("").strip_suffix(".json").unwrap_or("");
                    if !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit()) {
                        remove_file(&entry.path())?;
                    }
                }
                remove_if_empty(&parts)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Whether `name` at the top of a folder is one of `kind`'s files.
fn owns(kind: Kind, name: &str) -> bool {
    // A temporary file left by a killed writer: `.runs.csv.tmp-<pid>`.
    if let Some((inner, _)) = name.strip_prefix('.').and_then(|rest| rest.split_once(".tmp-")) {
        return owns(kind, inner);
    }
    // The report describes whichever result is there, so it goes with it.
    if kind.files().contains(&name) || super::postmortem::REPORT_FILES.contains(&name) {
        return true;
    }
    let stem = name.strip_suffix(".png").or_else(|| name.strip_suffix(".svg"));
    stem.is_some_and(|s| kind.is_chart(s))
}

/// Applies `clear` to each all-digit subfolder of `dir`, then removes `dir`
/// if that left it empty.
fn remove_numbered(dir: &Path, clear: impl Fn(&Path) -> io::Result<()>) -> io::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let numbered = name.to_str().is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if numbered && entry.path().is_dir() {
            clear(&entry.path())?;
        }
    }
    remove_if_empty(dir)
}

fn remove_file(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn remove_if_empty(dir: &Path) -> io::Result<()> {
    if fs::read_dir(dir)?.next().is_none() {
        fs::remove_dir(dir)?;
    }
    Ok(())
}
