//! Parameter sweeps: a grid of scenario variants (points), each a Monte
//! Carlo batch, run one point after another with each point's files written
//! as soon as it finishes; resumable, and shardable across machines.
//!
//! Layout of a sweep's output folder:
//!
//! ```text
//! sweep.json               the sweep: scenario, seed, runs, parameters, points
//! points.csv               one row per point: its parameter values
//! runs.csv                 one row per (point, run)
//! summary.csv              one row per (point, metric), with CIs
//! timeseries.csv           one row per (point, bin), with bands
//! points/<k>/              point k's batch files, and point.json last (the
//!                          marker `--resume` trusts)
//! ```
//!
//! A shard (`--shard I/N`) takes a contiguous slice of the (point, run)
//! work list and writes `parts/<k>.json` (rows and band aggregates of its
//! runs of point k) and `shard.json` (the sweep, and a digest of each
//! finished part). `merge` checks every part against its digest and its
//! shapes before writing anything, then folds the parts of all N shards
//! into exactly the files of the unsharded sweep: the aggregates
//! merge exactly (see [`crate::monte_carlo`]) and both paths write through
//! the same functions.
//!
//! Common random numbers: run i of every point draws from streams seeded by
//! (seed, i), so differences between points are not blurred by different
//! luck.

pub mod grid;

use std::fs;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::overrides::Override;
use crate::model::{Scenario, ScenarioError};
use crate::monte_carlo::{self, Bands, BatchInfo, Controls, Partial, RunRow};
use crate::report;
use crate::sim::SimError;

pub use grid::Parameter;

/// Everything that can stop a sweep or a merge.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SweepError + '_ {
    move |source| SweepError::Io { path: path.to_path_buf(), source }
}

/// The sweep as written to `sweep.json`: everything that determines its
/// results, and besides only the scenario file's path as given (no
/// threads or shards), so the same sweep gives the same file however it
/// ran. Two manifests are of the same sweep when they differ at most in
/// that path ([`Manifest::same_sweep`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub faultline_version: String,
    pub scenario: String,
    /// The scenario file's path as given on the command line.
    pub scenario_file: String,
    /// `sha256:` and the hex SHA-256 of the scenario file's bytes as read
    /// (before the overrides, which `fixed` and the parameters record).
    pub scenario_digest: String,
    /// The scenario's opening comment.
    pub story: String,
    pub seed: u64,
    pub runs: u64,
    /// Overrides applied to every point (`--seed`, `--duration`).
    pub fixed: Vec<String>,
    pub parameters: Vec<Parameter>,
    pub points: Vec<PointSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointSpec {
    pub point: usize,
    /// Folder under the sweep's output folder, e.g. "points/07".
    pub dir: String,
    pub values: Vec<String>,
}

/// Most points in one sweep.
pub const MAX_POINTS: u64 = 100_000;

/// A validated sweep: the manifest and each point's scenario.
pub struct Sweep {
    pub manifest: Manifest,
    pub scenarios: Vec<Scenario>,
}

/// FNV-1a 64 of `bytes` as 16 hex digits: the sweep digest of a point's
/// marker and the digests of shard parts.
pub fn fnv1a(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Sweep {
    /// Builds and validates every point of a sweep of scenario `text`.
    pub fn new(
        text: &str,
        file: &str,
        default_name: Option<&str>,
        fixed: &[Override],
        parameters: Vec<Parameter>,
        runs: u64,
    ) -> Result<Sweep, SweepError> {
        let base = Scenario::from_toml_with(text, file, default_name, fixed)?;
        for (i, p) in parameters.iter().enumerate() {
            if parameters[..i].iter().any(|q| q.path == p.path) || fixed.iter().any(|o| o.path == p.path) {
                return Err(SweepError::Invalid(format!("--set {}: the path is set twice", p.path)));
            }
        }
        if runs == 0 {
            return Err(SweepError::Invalid("--runs: must be at least 1".into()));
        }
        let count = grid::point_count(&parameters);
        // Every point is validated up front and kept as a scenario.
        if count > MAX_POINTS {
            return Err(SweepError::Invalid(format!(
                "the grid has {count} points; at most {MAX_POINTS} are supported (split it into several sweeps)"
            )));
        }
        // The file parses (it validated above); each point edits a copy.
        let doc = crate::model::overrides::parse_document(text).map_err(SweepError::Invalid)?;
        let width = count.saturating_sub(1).to_string().len();
        let mut points = Vec::new();
        let mut scenarios = Vec::new();
        for (k, values) in grid::points(&parameters).into_iter().enumerate() {
            let mut overrides = fixed.to_vec();
            overrides.extend(
                parameters.iter().zip(&values).map(|(p, v)| Override { path: p.path.clone(), value: v.clone() }),
            );
            let mut scenario = Scenario::from_document_with(doc.clone(), file, default_name, &overrides)?;
            scenario.origin = base.origin.clone();
            scenarios.push(scenario);
            points.push(PointSpec { point: k, dir: format!("points/{k:0width$}"), values });
        }
        let manifest = Manifest {
            faultline_version: env!("CARGO_PKG_VERSION").to_string(),
            scenario: base.name.clone(),
            scenario_file: base.origin.scenario_file.clone(),
            scenario_digest: base.origin.scenario_digest.clone(),
            story: base.origin.story.clone(),
            seed: base.simulation.seed,
            runs,
            fixed: fixed.iter().map(|o| o.to_string()).collect(),
            parameters,
            points,
        };
        Ok(Sweep { manifest, scenarios })
    }
}

impl Manifest {
    /// Where the sweep's scenario came from, for the points' summaries.
    pub fn origin(&self) -> crate::model::Origin {
        crate::model::Origin {
            scenario_file: self.scenario_file.clone(),
            scenario_digest: self.scenario_digest.clone(),
            story: self.story.clone(),
        }
    }

    /// The manifest without the scenario file's path: what makes two runs
    /// of a command the same sweep, whatever path each named the same file by.
    fn identity(&self) -> Manifest {
        Manifest { scenario_file: String::new(), ..self.clone() }
    }

    /// Whether `other` is the same sweep (see [`Manifest::identity`]).
    pub fn same_sweep(&self, other: &Manifest) -> bool {
        self.identity() == other.identity()
    }
}

/// `--shard I/N`: shard `index` (0-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(text: &str) -> Result<Shard, String> {
        let usage = "expected I/N with 0 <= I < N, e.g. 0/4 for the first of four shards";
        let (i, n) = text.split_once('/').ok_or_else(|| format!("\"{text}\": {usage}"))?;
        let (Ok(index), Ok(count)) = (i.trim().parse::<u64>(), n.trim().parse::<u64>()) else {
            return Err(format!("\"{text}\": {usage}"));
        };
        if count == 0 || index >= count {
            return Err(format!("\"{text}\": {usage}"));
        }
        Ok(Shard { index, count })
    }
}

/// The (point, runs) work of a shard: a contiguous slice of the list of
/// every (point, run) pair, point-major, so each shard holds about the same
/// number of runs and touches few points.
pub fn share(points: usize, runs: u64, shard: Shard) -> Vec<(usize, Range<u64>)> {
    let total = points as u128 * runs as u128;
    let from = total * shard.index as u128 / shard.count as u128;
    let to = total * (shard.index + 1) as u128 / shard.count as u128;
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let point = (at / runs as u128) as usize;
        let first = (at % runs as u128) as u64;
        let end = (to - point as u128 * runs as u128).min(runs as u128) as u64;
        out.push((point, first..end));
        at = point as u128 * runs as u128 + end as u128;
    }
    out
}

/// What happened to a point, for progress output.
pub enum PointEvent<'a> {
    /// Finished earlier (found by `--resume`).
    Skipped { point: &'a PointSpec },
    /// Finished now; `batch` is set for whole points (not shard parts).
    Finished { point: &'a PointSpec, runs: Range<u64>, batch: Option<&'a monte_carlo::Batch> },
}

/// How a sweep ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    Complete,
    /// Stopped by the stop flag; finished points are on disk.
    Interrupted {
        points_done: usize,
    },
}

fn json_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("plain data serialises");
    bytes.push(b'\n');
    bytes
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, SweepError> {
    let bytes = fs::read(path).map_err(io_error(path))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| SweepError::Invalid(format!("{}: not a faultline file ({e})", path.display())))
}

#[derive(Serialize)]
struct PointFile<'a> {
    point: usize,
    parameters: Vec<PointValue<'a>>,
    runs: u64,
    /// Digest of the sweep manifest: a resumed sweep reuses a point only
    /// when the sweep is the same.
    sweep: String,
}

#[derive(Serialize)]
struct PointValue<'a> {
    path: &'a str,
    value: &'a str,
}

fn point_marker(manifest: &Manifest, point: &PointSpec) -> Vec<u8> {
    json_bytes(&PointFile {
        point: point.point,
        parameters: manifest
            .parameters
            .iter()
            .zip(&point.values)
            .map(|(p, v)| PointValue { path: &p.path, value: v })
            .collect(),
        runs: manifest.runs,
        sweep: fnv1a(&json_bytes(&manifest.identity())),
    })
}

const POINT_FILES: [&str; 4] = ["runs.csv", "summary.csv", "timeseries.csv", "summary.json"];

fn point_is_done(out: &Path, manifest: &Manifest, point: &PointSpec) -> bool {
    let dir = out.join(&point.dir);
    fs::read(dir.join("point.json")).is_ok_and(|b| b == point_marker(manifest, point))
        && POINT_FILES.iter().all(|f| dir.join(f).is_file())
}

/// Writes a finished point's batch files (runs.csv is already there), then
/// its marker.
fn write_point(
    out: &Path,
    manifest: &Manifest,
    point: &PointSpec,
    batch: &monte_carlo::Batch,
) -> Result<(), SweepError> {
    let dir = out.join(&point.dir);
    // write_files writes in order, so the marker lands after the rest.
    let mut files = report::batch_files(batch);
    files.push(("point.json", point_marker(manifest, point)));
    report::write_files(&dir, &files).map_err(io_error(&dir))
}

/// Prepares the output folder: with `resume`, an existing manifest must be
/// this sweep's; without, a previous sweep's points are cleared.
fn prepare(out: &Path, manifest: &Manifest, resume: bool) -> Result<(), SweepError> {
    let path = out.join("sweep.json");
    let same = |existing: &[u8]| serde_json::from_slice::<Manifest>(existing).is_ok_and(|m| m.same_sweep(manifest));
    match fs::read(&path) {
        Ok(existing) if resume && !same(&existing) => {
            return Err(SweepError::Invalid(format!(
                "{}: holds a different sweep (scenario, seed, runs, parameters or shard differ); \
                 run without --resume to start over",
                path.display()
            )));
        }
        Ok(_) if !resume => {
            let points = out.join("points");
            if points.is_dir() {
                fs::remove_dir_all(&points).map_err(io_error(&points))?;
            }
        }
        _ => {}
    }
    report::write_files(out, &[("sweep.json", json_bytes(manifest))]).map_err(io_error(out))
}

/// Runs a whole sweep into `out`.
pub fn run(
    sweep: &Sweep,
    out: &Path,
    resume: bool,
    controls: &Controls,
    on_point: &mut dyn FnMut(PointEvent),
) -> Result<Outcome, SweepError> {
    let m = &sweep.manifest;
    prepare(out, m, resume)?;
    for (point, scenario) in m.points.iter().zip(&sweep.scenarios) {
        if resume && point_is_done(out, m, point) {
            on_point(PointEvent::Skipped { point });
            continue;
        }
        let info = BatchInfo::of(scenario);
        let dir = out.join(&point.dir);
        let mut runs_csv = report::RunsCsv::create(&dir, &info).map_err(io_error(&dir))?;
        let (partial, complete) =
            monte_carlo::run_range(scenario, 0..m.runs, controls, &mut |row| runs_csv.write(row))?;
        if !complete {
            return Ok(Outcome::Interrupted { points_done: point.point });
        }
        runs_csv.finish().map_err(io_error(&dir))?;
        let batch = monte_carlo::finish(&info, &m.origin(), m.runs, partial);
        write_point(out, m, point, &batch)?;
        on_point(PointEvent::Finished { point, runs: 0..m.runs, batch: Some(&batch) });
    }
    write_combined(out, m)?;
    Ok(Outcome::Complete)
}

/// `shard.json`: which shard of which sweep a folder holds, and the
/// digest of each finished part file, so that `merge` refuses a part whose
/// bytes were changed after the shard wrote it.
#[derive(Serialize, Deserialize)]
struct ShardFile {
    shard: Shard,
    sweep: Manifest,
    /// One per finished part, by point; a part without one is unfinished.
    /// (Absent from files of older versions: their parts are rerun by
    /// `--resume` and refused by `merge`.)
    #[serde(default)]
    parts: Vec<PartDigest>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PartDigest {
    point: usize,
    /// FNV-1a 64 of the part file's bytes.
    fnv1a: String,
}

impl ShardFile {
    fn digest_of(&self, point: usize) -> Option<&str> {
        self.parts.iter().find(|d| d.point == point).map(|d| d.fnv1a.as_str())
    }

    /// Records a part's digest, keeping the list in point order.
    fn record(&mut self, point: usize, fnv1a: String) {
        self.parts.retain(|d| d.point != point);
        let at = self.parts.partition_point(|d| d.point < point);
        self.parts.insert(at, PartDigest { point, fnv1a });
    }
}

/// A shard's runs of one point: their rows (in run order) and bands.
#[derive(Serialize, Deserialize)]
struct PartFile {
    point: usize,
    runs: Range<u64>,
    info: BatchInfo,
    rows: Vec<RunRow>,
    bands: Bands,
}

fn part_name(point: &PointSpec) -> String {
    format!("{}.json", point.dir.trim_start_matches("points/"))
}

fn part_path(out: &Path, point: &PointSpec) -> PathBuf {
    out.join("parts").join(part_name(point))
}

/// Prepares a shard's folder and gives the shard.json to continue from:
/// with `resume`, an existing one must be this shard of this sweep and its
/// part digests are kept; without, earlier parts are cleared.
fn prepare_shard(out: &Path, shard: Shard, m: &Manifest, resume: bool) -> Result<ShardFile, SweepError> {
    let path = out.join("shard.json");
    let mut header = ShardFile { shard, sweep: m.clone(), parts: Vec::new() };
    if path.is_file() {
        if resume {
            match read_json::<ShardFile>(&path) {
                Ok(old) if old.shard == shard && old.sweep.same_sweep(m) => header.parts = old.parts,
                _ => {
                    return Err(SweepError::Invalid(format!(
                        "{}: holds a different sweep (scenario, seed, runs, parameters or shard differ); \
                         run without --resume to start over",
                        path.display()
                    )));
                }
            }
        } else {
            let parts = out.join("parts");
            if parts.is_dir() {
                fs::remove_dir_all(&parts).map_err(io_error(&parts))?;
            }
        }
    }
    report::write_files(out, &[("shard.json", json_bytes(&header))]).map_err(io_error(out))?;
    Ok(header)
}

/// Runs one shard's share of a sweep into `out`.
pub fn run_shard(
    sweep: &Sweep,
    shard: Shard,
    out: &Path,
    resume: bool,
    controls: &Controls,
    on_point: &mut dyn FnMut(PointEvent),
) -> Result<Outcome, SweepError> {
    let m = &sweep.manifest;
    let mut header = prepare_shard(out, shard, m, resume)?;
    let mut done = 0;
    for (k, runs) in share(m.points.len(), m.runs, shard) {
        let point = &m.points[k];
        let path = part_path(out, point);
        // A part is finished when its bytes are the ones shard.json records.
        let finished = header.digest_of(k).is_some_and(|d| fs::read(&path).is_ok_and(|b| fnv1a(&b) == d));
        if resume && finished {
            on_point(PointEvent::Skipped { point });
            done += 1;
            continue;
        }
        let scenario = &sweep.scenarios[k];
        let mut rows = Vec::new();
        let (partial, complete) =
            monte_carlo::run_range(scenario, runs.clone(), controls, &mut |row| rows.push(row.clone()))?;
        if !complete {
            return Ok(Outcome::Interrupted { points_done: done });
        }
        let part = PartFile { point: k, runs: runs.clone(), info: BatchInfo::of(scenario), rows, bands: partial.bands };
        let bytes = serde_json::to_vec(&part).expect("plain data serialises");
        // The part first, then its digest: a shard killed in between has a
        // part without a digest, which `--resume` runs again.
        header.record(k, fnv1a(&bytes));
        let dir = out.join("parts");
        report::write_files(&dir, &[(&part_name(point), bytes)]).map_err(io_error(&dir))?;
        report::write_files(out, &[("shard.json", json_bytes(&header))]).map_err(io_error(out))?;
        on_point(PointEvent::Finished { point, runs, batch: None });
        done += 1;
    }
    Ok(Outcome::Complete)
}

fn read_shard_file(dir: &Path) -> Result<ShardFile, SweepError> {
    let path = dir.join("shard.json");
    if !path.is_file() {
        return Err(SweepError::Invalid(format!(
            "{}: no shard.json; is this the --out folder of a sweep --shard run?",
            dir.display()
        )));
    }
    let header: ShardFile = read_json(&path)?;
    check_header(&header).map_err(|e| SweepError::Invalid(format!("{}: {e}", path.display())))?;
    Ok(header)
}

/// Whether a shard.json read from disk describes a sweep this version
/// could have written: the shard within its count, and the points exactly
/// the grid of the parameters (point folders are paths `merge` writes to,
/// so they must be the ones faultline names).
fn check_header(h: &ShardFile) -> Result<(), String> {
    let m = &h.sweep;
    if h.shard.count == 0 || h.shard.index >= h.shard.count {
        return Err(format!("shard {}/{}: the index must be below the count", h.shard.index, h.shard.count));
    }
    if m.runs == 0 {
        return Err("runs: must be at least 1".into());
    }
    if !crate::model::is_folder_name(&m.scenario) {
        return Err(format!("scenario \"{}\" is not a scenario name", m.scenario));
    }
    let count = grid::point_count(&m.parameters);
    if count == 0 || count > MAX_POINTS || count != m.points.len() as u64 {
        return Err(format!("{} points but the parameters make a grid of {count}", m.points.len()));
    }
    let width = count.saturating_sub(1).to_string().len();
    for (k, (p, values)) in m.points.iter().zip(grid::points(&m.parameters)).enumerate() {
        if p.point != k || p.values != values || p.dir != format!("points/{k:0width$}") {
            return Err(format!("point {k} is not the grid's point {k}"));
        }
    }
    let work: Vec<usize> = share(m.points.len(), m.runs, h.shard).into_iter().map(|(k, _)| k).collect();
    for (i, d) in h.parts.iter().enumerate() {
        if !work.contains(&d.point) || h.parts[..i].iter().any(|e| e.point == d.point) {
            return Err(format!("parts: a digest for point {} that this shard does not hold once", d.point));
        }
    }
    Ok(())
}

/// The sweep a shard's output folder belongs to.
pub fn shard_manifest(dir: &Path) -> Result<Manifest, SweepError> {
    Ok(read_shard_file(dir)?.sweep)
}

/// Reads shard `dir`'s part of `point` (runs `runs`) and checks it against
/// shard.json's digest and against what a shard could have written. Errors
/// name the part file.
fn load_part(dir: &Path, header: &ShardFile, point: &PointSpec, runs: &Range<u64>) -> Result<PartFile, SweepError> {
    let path = part_path(dir, point);
    let bad = |e: String| SweepError::Invalid(format!("{}: {e}", path.display()));
    let bytes = match fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(bad(format!(
                "missing; that shard has not finished point {} (rerun it with --resume)",
                point.point
            )));
        }
        other => other.map_err(io_error(&path))?,
    };
    let Some(recorded) = header.digest_of(point.point) else {
        return Err(bad(format!(
            "no digest for it in {}; that shard has not finished point {} (rerun it with --resume)",
            dir.join("shard.json").display(),
            point.point
        )));
    };
    let digest = fnv1a(&bytes);
    if digest != recorded {
        return Err(bad(format!(
            "its content was changed after the shard wrote it (digest {digest}, shard.json records {recorded})"
        )));
    }
    let part: PartFile = serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a faultline part file ({e})")))?;
    check_part(&part, point, runs).map_err(bad)?;
    Ok(part)
}

/// Whether a part holds runs `runs` of `point` in the shapes faultline
/// writes: a row per run in run order, a value per metric in each row,
/// and band aggregates of exactly those runs.
fn check_part(part: &PartFile, point: &PointSpec, runs: &Range<u64>) -> Result<(), String> {
    let in_order = part.rows.iter().zip(runs.clone()).all(|(row, i)| row.run == i);
    if part.point != point.point || part.runs != *runs || part.rows.len() as u64 != runs.end - runs.start || !in_order {
        return Err(format!("does not hold runs {runs:?} of point {}", point.point));
    }
    part.info.check()?;
    let metrics = part.info.metric_names.len();
    part.rows.iter().try_for_each(|row| row.check(metrics))?;
    part.bands.check(part.rows.len() as u64)
}

/// Combines the outputs of shards 0..N of one sweep into `out`: exactly the
/// files the unsharded sweep writes. Every shard.json and part is read and
/// checked before anything is written, so a refused merge leaves `out` as
/// it was. An earlier sweep in `out` is replaced; another kind of result
/// there is refused unless `force` (see [`report::folder`]).
pub fn merge(
    shard_dirs: &[PathBuf],
    out: &Path,
    force: bool,
    on_point: &mut dyn FnMut(PointEvent),
) -> Result<(), SweepError> {
    let invalid = |s: String| SweepError::Invalid(s);
    let Some(first_dir) = shard_dirs.first() else {
        return Err(invalid("name the shard output folders to merge".into()));
    };
    let headers = shard_dirs.iter().map(|d| read_shard_file(d)).collect::<Result<Vec<_>, _>>()?;
    let m = headers[0].sweep.clone();
    let count = headers[0].shard.count;
    let same = |a: &Path, b: &Path| a.canonicalize().ok().is_some_and(|a| b.canonicalize().ok() == Some(a));
    // Shard index -> its folder and shard.json (a map: the count is read
    // from a file and may be absurd).
    let mut by_index: std::collections::BTreeMap<u64, (&PathBuf, &ShardFile)> = Default::default();
    for (i, (dir, s)) in shard_dirs.iter().zip(&headers).enumerate() {
        let path = dir.join("shard.json");
        if let Some(earlier) = shard_dirs[..i].iter().find(|d| same(d, dir)) {
            return Err(invalid(format!("{}: named twice (as {})", path.display(), earlier.display())));
        }
        if !s.sweep.same_sweep(&m) {
            return Err(invalid(format!(
                "{}: comes from a different sweep than {} (scenario, seed, runs, parameters or faultline version differ)",
                path.display(),
                first_dir.join("shard.json").display()
            )));
        }
        if s.shard.count != count {
            return Err(invalid(format!(
                "{}: is shard {}/{} but {} is one of {count}",
                path.display(),
                s.shard.index,
                s.shard.count,
                first_dir.join("shard.json").display()
            )));
        }
        if let Some((other, _)) = by_index.insert(s.shard.index, (dir, s)) {
            return Err(invalid(format!(
                "{}: is shard {}/{count} again, as {} is: a duplicate shard",
                path.display(),
                s.shard.index,
                other.join("shard.json").display()
            )));
        }
    }
    if by_index.len() as u64 != count {
        // Name the first few missing shards (the count may be huge).
        let missing: Vec<String> =
            (0..count).filter(|i| !by_index.contains_key(i)).take(5).map(|i| format!("{i}/{count}")).collect();
        let more = if count - (by_index.len() as u64) > missing.len() as u64 { " and more" } else { "" };
        return Err(invalid(format!("shard {}{more} missing: name every shard's output folder", missing.join(", "))));
    }
    if let Some(dir) = shard_dirs.iter().find(|d| same(d, out)) {
        return Err(invalid(format!("--out: {} is a shard's folder; merge into another folder", dir.display())));
    }
    // Which shards hold which points, in run order (shard i holds the runs
    // before shard i+1's).
    let mut parts_of: Vec<Vec<(&PathBuf, &ShardFile, Range<u64>)>> = vec![Vec::new(); m.points.len()];
    for (&i, &(dir, header)) in &by_index {
        for (k, runs) in share(m.points.len(), m.runs, Shard { index: i, count }) {
            parts_of[k].push((dir, header, runs));
        }
    }
    // First pass: every part is read, checked and folded (then dropped, so
    // only one point's aggregates are in memory), and nothing is written.
    for (point, parts) in m.points.iter().zip(&parts_of) {
        fold_point(point, parts, &mut |_| {})?;
    }
    // Second pass: the same parts again (their digests are checked again,
    // so a part changed meanwhile is still refused), now written.
    report::folder::claim(out, report::folder::Kind::Sweep, force, false).map_err(invalid)?;
    report::write_files(out, &[("sweep.json", json_bytes(&m))]).map_err(io_error(out))?;
    for (point, parts) in m.points.iter().zip(&parts_of) {
        let point_dir = out.join(&point.dir);
        let mut runs_csv = None;
        let mut failed = None;
        let (info, all) = fold_point(point, parts, &mut |(info, row)| {
            if runs_csv.is_none() && failed.is_none() {
                match report::RunsCsv::create(&point_dir, info) {
                    Ok(w) => runs_csv = Some(w),
                    Err(e) => failed = Some(e),
                }
            }
            if let Some(w) = runs_csv.as_mut() {
                w.write(row);
            }
        })?;
        if let Some(e) = failed {
            return Err(SweepError::Io { path: point_dir, source: e });
        }
        // fold_point saw at least one row: every point has at least one run.
        if let Some(w) = runs_csv {
            w.finish().map_err(io_error(&point_dir))?;
        }
        let batch = monte_carlo::finish(&info, &m.origin(), m.runs, all);
        write_point(out, &m, point, &batch)?;
        on_point(PointEvent::Finished { point, runs: 0..m.runs, batch: Some(&batch) });
    }
    write_combined(out, &m)
}

/// Loads and checks the parts of one point, in run order, and folds them as
/// the unsharded batch folds its runs, handing each row to `on_row`.
fn fold_point(
    point: &PointSpec,
    parts: &[(&PathBuf, &ShardFile, Range<u64>)],
    on_row: &mut dyn FnMut((&BatchInfo, &RunRow)),
) -> Result<(BatchInfo, Partial), SweepError> {
    let mut all = Partial::default();
    let mut first: Option<(BatchInfo, PathBuf)> = None;
    for (dir, header, runs) in parts {
        let part = load_part(dir, header, point, runs)?;
        let path = part_path(dir, point);
        let bad = |e: String| SweepError::Invalid(format!("{}: {e}", path.display()));
        match &first {
            Some((info, first_path)) if *info != part.info => {
                return Err(bad(format!(
                    "its scenario (name, seed, SLO or metrics) differs from that of {}",
                    first_path.display()
                )));
            }
            Some(_) => {}
            None => first = Some((part.info.clone(), path.clone())),
        }
        all.bands.merge(&part.bands).map_err(bad)?;
        for row in &part.rows {
            all.add_row(row);
            on_row((&part.info, row));
        }
    }
    let Some((info, _)) = first else {
        return Err(SweepError::Invalid(format!("point {}: no shard holds its runs", point.point)));
    };
    Ok((info, all))
}

/// Writes the sweep-level tables from the per-point files: each row of a
/// point's file, prefixed with the point and its parameter values.
fn write_combined(out: &Path, m: &Manifest) -> Result<(), SweepError> {
    let prefix_header: Vec<String> =
        std::iter::once("point".to_string()).chain(m.parameters.iter().map(|p| p.path.clone())).collect();
    let prefix =
        |p: &PointSpec| -> Vec<String> { std::iter::once(p.point.to_string()).chain(p.values.clone()).collect() };
    write_csv_streaming(out, "points.csv", |w| {
        let mut header = prefix_header.clone();
        header.extend(["runs".to_string(), "dir".to_string()]);
        w.write_record(&header)?;
        for p in &m.points {
            let mut row = prefix(p);
            row.extend([m.runs.to_string(), p.dir.clone()]);
            w.write_record(&row)?;
        }
        Ok(())
    })?;
    for file in ["runs.csv", "summary.csv", "timeseries.csv"] {
        write_csv_streaming(out, file, |w| {
            let mut first_header: Option<(csv::StringRecord, std::path::PathBuf)> = None;
            for p in &m.points {
                let path = out.join(&p.dir).join(file);
                // Errors name the point's file they were read from.
                let bad_input = |e: csv::Error| Bad::Input(format!("{}: {e}", path.display()));
                let mut reader = csv::Reader::from_path(&path).map_err(bad_input)?;
                let header = reader.headers().map_err(bad_input)?.clone();
                match &first_header {
                    None => {
                        let mut combined = prefix_header.clone();
                        combined.extend(header.iter().map(str::to_string));
                        w.write_record(&combined)?;
                        first_header = Some((header, path.clone()));
                    }
                    Some((first, first_path)) if *first != header => {
                        return Err(Bad::Input(format!(
                            "{} and {} have different columns: one is damaged (delete its point's folder and \
                             --resume to run the point again)",
                            first_path.display(),
                            path.display()
                        )));
                    }
                    Some(_) => {}
                }
                let head = prefix(p);
                for record in reader.records() {
                    let record = record.map_err(bad_input)?;
                    w.write_record(head.iter().map(String::as_str).chain(record.iter()))?;
                }
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// What went wrong filling a combined table: writing it, or reading one
/// of the files it is made of (named in the message).
enum Bad {
    Output(csv::Error),
    Input(String),
}

impl From<csv::Error> for Bad {
    fn from(e: csv::Error) -> Self {
        Bad::Output(e)
    }
}

/// Writes a CSV file through a temporary file and a rename, row by row (a
/// sweep's tables can be larger than memory should hold).
fn write_csv_streaming(
    out: &Path,
    name: &str,
    fill: impl FnOnce(&mut csv::Writer<std::io::BufWriter<fs::File>>) -> Result<(), Bad>,
) -> Result<(), SweepError> {
    let path = out.join(name);
    let tmp = out.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> Result<(), SweepError> {
        let file = fs::File::create(&tmp).map_err(io_error(&tmp))?;
        let mut w = csv::Writer::from_writer(std::io::BufWriter::new(file));
        fill(&mut w).map_err(|e| match e {
            Bad::Output(e) => SweepError::Invalid(format!("{}: {e}", path.display())),
            Bad::Input(message) => SweepError::Invalid(message),
        })?;
        let mut inner = w.into_inner().map_err(|e| SweepError::Io { path: tmp.clone(), source: e.into_error() })?;
        inner.flush().map_err(io_error(&tmp))?;
        inner.get_ref().sync_all().map_err(io_error(&tmp))?;
        fs::rename(&tmp, &path).map_err(io_error(&path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_run_once() {
        for (points, runs, count) in [(1, 10, 3), (7, 13, 4), (3, 2, 9), (5, 100, 1)] {
            let mut seen = vec![vec![0u32; runs as usize]; points];
            for index in 0..count {
                for (k, r) in share(points, runs, Shard { index, count }) {
                    assert!(!r.is_empty());
                    for i in r {
                        seen[k][i as usize] += 1;
                    }
                }
            }
            assert!(seen.iter().flatten().all(|&n| n == 1), "{points} x {runs} over {count}");
        }
    }

    #[test]
    fn shard_syntax() {
        assert_eq!("2/5".parse::<Shard>(), Ok(Shard { index: 2, count: 5 }));
        for bad in ["5/5", "1", "a/b", "0/0", "-1/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
