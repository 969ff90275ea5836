//! `merge` trusts nothing in its parts (issue 20): a small sharded sweep is
//! made once, then copies of a shard are tampered with (values shortened or
//! extended, metric names dropped, a band count set to 2^64−1, a number
//! edited, a shard duplicated) and every merge must be refused in one line
//! naming the file, with exit code 2 and nothing written into --out. The
//! shape tampers also rewrite the part's digest in shard.json, as a
//! deliberate tamperer would, so that the shape checks themselves are what
//! refuses them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use faultline::sweep::fnv1a;
use serde_json::Value;

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("faultline starts")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-merge-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn ok(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Two points of five runs in two shards: shard 0 holds point 0, shard 1
/// point 1 (parts/1.json).
const SWEEP: [&str; 8] =
    ["sweep", "models/three-node-cascade.toml", "--set", "services.app.nodes=3..4", "--runs", "5", "--duration", "2m"];

/// The two shard folders, made once for every test in this file.
fn shards() -> &'static [PathBuf; 2] {
    static SHARDS: OnceLock<[PathBuf; 2]> = OnceLock::new();
    SHARDS.get_or_init(|| {
        let dirs = [scratch("shard0"), scratch("shard1")];
        for (i, dir) in dirs.iter().enumerate() {
            let shard = format!("{i}/2");
            let mut args = SWEEP.to_vec();
            args.extend(["--shard", &shard, "--out", dir.to_str().unwrap(), "-q"]);
            ok(&faultline(&args));
        }
        dirs
    })
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// A copy of shard 1 whose part is edited by `edit`; with `redigest` the
/// digest in shard.json is updated to the edited bytes.
fn tampered(name: &str, redigest: bool, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let dir = scratch(name);
    copy_dir(&shards()[1], &dir);
    let part = dir.join("parts/1.json");
    let mut json: Value = serde_json::from_slice(&std::fs::read(&part).unwrap()).unwrap();
    edit(&mut json);
    let bytes = serde_json::to_vec(&json).unwrap();
    std::fs::write(&part, &bytes).unwrap();
    if redigest {
        let header_path = dir.join("shard.json");
        let mut header: Value = serde_json::from_slice(&std::fs::read(&header_path).unwrap()).unwrap();
        // (Shards of older versions record no digests.)
        if let Some(digest) = header.get_mut("parts").and_then(|p| p.get_mut(0)) {
            digest["fnv1a"] = Value::String(fnv1a(&bytes));
        }
        std::fs::write(&header_path, serde_json::to_vec_pretty(&header).unwrap()).unwrap();
    }
    dir
}

/// Merges `dirs` into a fresh folder and asserts a one-line refusal with
/// exit code 2 containing `needle` and `file`, and nothing written.
fn refused(name: &str, dirs: &[&Path], file: &Path, needle: &str) {
    let out_dir = scratch(&format!("{name}-out"));
    let mut args = vec!["merge"];
    args.extend(dirs.iter().map(|d| d.to_str().unwrap()));
    args.extend(["--out", out_dir.to_str().unwrap(), "--no-charts"]);
    let out = faultline(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{name}: one line: {stderr}");
    assert!(stderr.contains(&file.display().to_string()), "{name}: names {}: {stderr}", file.display());
    assert!(stderr.contains(needle), "{name}: says {needle:?}: {stderr}");
    assert!(!out_dir.exists(), "{name}: nothing may be written into --out");
    let _ = std::fs::remove_dir_all(&out_dir);
}

fn refused_part(name: &str, dir: &Path, needle: &str) {
    refused(name, &[&shards()[0], dir], &dir.join("parts/1.json"), needle);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_untampered_merge_equals_the_unsharded_sweep() {
    let whole = scratch("whole");
    let mut args = SWEEP.to_vec();
    args.extend(["--out", whole.to_str().unwrap(), "-q", "--no-charts"]);
    ok(&faultline(&args));
    let merged = scratch("merged");
    let [a, b] = shards();
    ok(&faultline(&["merge", b.to_str().unwrap(), a.to_str().unwrap(), "--out", merged.to_str().unwrap(), "-q"]));
    for file in ["sweep.json", "points.csv", "runs.csv", "summary.csv", "timeseries.csv", "points/1/summary.json"] {
        assert!(std::fs::read(whole.join(file)).unwrap() == std::fs::read(merged.join(file)).unwrap(), "{file}");
    }
    // --report on merge writes the sweep's report, as `faultline report` does.
    let reported = scratch("reported");
    ok(&faultline(&[
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        reported.to_str().unwrap(),
        "-q",
        "--report",
    ]));
    let html = std::fs::read_to_string(reported.join("report.html")).expect("merge --report writes report.html");
    assert!(html.contains("sweep-success"), "the report shows the sweep's charts");
    assert!(reported.join("report.md").is_file());
    ok(&faultline(&["report", reported.to_str().unwrap(), "-q"]));
    assert_eq!(std::fs::read_to_string(reported.join("report.html")).unwrap(), html, "same page as faultline report");
    let _ = std::fs::remove_dir_all(reported);
    let _ = std::fs::remove_dir_all(whole);
    let _ = std::fs::remove_dir_all(merged);
}

#[test]
fn a_shortened_values_array_is_refused() {
    let dir = tampered("short", true, |p| {
        p["rows"][0]["values"].as_array_mut().unwrap().pop();
    });
    refused_part("short", &dir, "run 0: 19 values but 20 metric_names");
}

#[test]
fn extra_values_are_refused() {
    let dir = tampered("extra", true, |p| {
        for row in p["rows"].as_array_mut().unwrap() {
            row["values"].as_array_mut().unwrap().push(Value::from(1.0));
        }
    });
    refused_part("extra", &dir, "run 0: 21 values but 20 metric_names");
}

#[test]
fn fewer_metric_names_are_refused() {
    let dir = tampered("names", true, |p| {
        p["info"]["metric_names"].as_array_mut().unwrap().pop();
    });
    refused_part("names", &dir, "metric_names: 19 names");
}

#[test]
fn a_band_count_of_two_to_the_64_is_refused() {
    for metric in [0, 2] {
        let name = format!("n{metric}");
        let dir = tampered(&name, true, |p| {
            p["bands"]["cells"][0][metric]["n"] = Value::from(u64::MAX);
        });
        refused_part(&name, &dir, "n = 18446744073709551615 but the part holds 5 runs");
    }
}

#[test]
fn a_band_mean_outside_its_values_is_refused() {
    let dir = tampered("mean", true, |p| {
        let cell = &mut p["bands"]["cells"][0][2];
        let sum: i128 = cell["sum"].as_str().unwrap().parse().unwrap();
        cell["sum"] = Value::String((sum * 100 + 1).to_string());
    });
    refused_part("mean", &dir, "is outside its values' range");
}

#[test]
fn an_edited_number_fails_the_digest() {
    // A plausible edit (a success fraction), digest left alone.
    let dir = tampered("edited", false, |p| {
        p["rows"][2]["values"][2] = Value::from(0.5);
    });
    refused_part("edited", &dir, "its content was changed after the shard wrote it");
}

#[test]
fn a_duplicate_shard_is_refused() {
    let [a, b] = shards();
    let copy = scratch("duplicate");
    copy_dir(b, &copy);
    refused("duplicate", &[a, b, &copy], &copy.join("shard.json"), "is shard 1/2 again");
    refused("twice", &[a, b, b], &b.join("shard.json"), "named twice");
    let _ = std::fs::remove_dir_all(copy);
}

#[test]
fn a_tampered_shard_json_is_refused() {
    let [a, b] = shards();
    // A point folder outside the output folder would be written to.
    let copy = scratch("escape");
    copy_dir(b, &copy);
    let path = copy.join("shard.json");
    let mut header: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    header["sweep"]["points"][1]["dir"] = Value::String("../../escaped".into());
    std::fs::write(&path, serde_json::to_vec(&header).unwrap()).unwrap();
    refused("escape", &[a, &copy], &path, "point 1 is not the grid's point 1");
    // An index past the count used to index out of bounds.
    header["sweep"]["points"][1]["dir"] = Value::String("points/1".into());
    header["shard"]["index"] = Value::from(7);
    std::fs::write(&path, serde_json::to_vec(&header).unwrap()).unwrap();
    refused("index", &[a, &copy], &path, "shard 7/2: the index must be below the count");
    let _ = std::fs::remove_dir_all(copy);
}

#[test]
fn resume_runs_a_changed_part_again() {
    // The edited part no longer matches its digest, so --resume does not
    // trust it as finished: it runs it again, and the merge then succeeds.
    let dir = tampered("rerun", false, |p| {
        p["rows"][2]["values"][2] = Value::from(0.5);
    });
    let original = std::fs::read(shards()[1].join("parts/1.json")).unwrap();
    assert!(std::fs::read(dir.join("parts/1.json")).unwrap() != original);
    let mut args = SWEEP.to_vec();
    args.extend(["--shard", "1/2", "--resume", "--out", dir.to_str().unwrap(), "-q"]);
    ok(&faultline(&args));
    assert!(std::fs::read(dir.join("parts/1.json")).unwrap() == original, "the part is written afresh");
    let out_dir = scratch("rerun-out");
    ok(&faultline(&[
        "merge",
        shards()[0].to_str().unwrap(),
        dir.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "-q",
        "--no-charts",
    ]));
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(out_dir);
}
