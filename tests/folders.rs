//! Output folders through the binary (issue 13 items 9 and 11): a command
//! leaves a reused folder holding only its own complete result (another
//! kind of result is refused unless --force; its own kind's old files, such
//! as a larger sweep's extra points or charts, are removed; unknown files
//! are kept), and `run --set ... --seed S --run I` replays run I of a sweep
//! point exactly as its runs.csv row reports it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("faultline starts")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-folders-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn ok(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

const MODEL: &str = "models/three-node-lb.toml";

#[test]
fn a_batch_refuses_a_runs_folder_unless_forced_and_then_keeps_unknown_files() {
    let dir = scratch("run-then-batch");
    let d = dir.to_str().unwrap();
    ok(&faultline(&["run", MODEL, "--duration", "60s", "--out", d, "-q"]));
    assert!(dir.join("herd.png").is_file() && dir.join("events.csv").is_file(), "{:?}", names(&dir));
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let before = names(&dir);

    let out = faultline(&["run", MODEL, "--duration", "60s", "--runs", "3", "--out", d, "--no-charts", "-q"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(d) && stderr.contains("events.csv") && stderr.contains("--force"), "{stderr}");
    assert_eq!(names(&dir), before, "a refused command changes nothing");

    ok(&faultline(&["run", MODEL, "--duration", "60s", "--runs", "3", "--out", d, "--force", "-q"]));
    let after = names(&dir);
    for stale in ["events.csv", "nodes.csv", "herd.png", "herd.svg", "timeline.png", "latency.svg"] {
        assert!(!after.contains(&stale.to_string()), "{stale} of the run is left beside the batch: {after:?}");
    }
    for mine in ["runs.csv", "summary.csv", "timeseries.csv", "summary.json", "bands.png", "notes.txt"] {
        assert!(after.contains(&mine.to_string()), "{mine} missing: {after:?}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_smaller_sweep_leaves_only_its_own_points_and_charts() {
    let dir = scratch("sweeps");
    let d = dir.to_str().unwrap();
    let common = ["--runs", "2", "--duration", "60s", "--out", d, "-q"];
    let mut larger = vec!["sweep", MODEL, "--set", "services.app.nodes=3,4", "--set", "services.app.workers=4,8"];
    larger.extend(common);
    ok(&faultline(&larger));
    assert!(dir.join("heatmap-cascade.png").is_file(), "two numeric parameters draw a heatmap");
    assert_eq!(names(&dir.join("points")).len(), 4);
    std::fs::write(dir.join("points").join("README"), "mine").unwrap();

    let mut smaller = vec!["sweep", MODEL, "--set", "services.app.nodes=3,4"];
    smaller.extend(common);
    ok(&faultline(&smaller));
    assert!(!dir.join("heatmap-cascade.png").exists(), "the old heatmap stays: {:?}", names(&dir));
    assert_eq!(names(&dir.join("points")), ["0", "1", "README"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn merge_out_replaces_an_older_sweeps_points() {
    let (old, merged) = (scratch("merge-old"), scratch("merge-shard"));
    let o = old.to_str().unwrap();
    ok(&faultline(&[
        "sweep",
        MODEL,
        "--set",
        "services.app.nodes=2,3,4",
        "--runs",
        "2",
        "--duration",
        "60s",
        "--out",
        o,
        "--no-charts",
        "-q",
    ]));
    assert_eq!(names(&old.join("points")), ["0", "1", "2"]);
    let shards: Vec<PathBuf> = (0..2).map(|i| merged.join(i.to_string())).collect();
    for (i, shard) in shards.iter().enumerate() {
        let index = format!("{i}/2");
        ok(&faultline(&[
            "sweep",
            MODEL,
            "--set",
            "services.app.nodes=3,4",
            "--runs",
            "2",
            "--duration",
            "60s",
            "--shard",
            &index,
            "--out",
            shard.to_str().unwrap(),
            "-q",
        ]));
    }
    let shard_args = [shards[0].to_str().unwrap(), shards[1].to_str().unwrap()];
    ok(&faultline(&["merge", shard_args[0], shard_args[1], "--out", o, "--no-charts", "-q"]));
    assert_eq!(names(&old.join("points")), ["0", "1"], "the old sweep's points/2 is left behind");
    let points = std::fs::read_to_string(old.join("points.csv")).unwrap();
    assert_eq!(points.lines().count(), 3);

    // A shard's folder is another kind of result: merge refuses it without --force.
    let out = faultline(&["merge", shard_args[0], shard_args[1], "--out", shard_args[1], "-q"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(old);
    let _ = std::fs::remove_dir_all(merged);
}

#[test]
fn a_sweep_points_run_replays_alone_with_run_set() {
    let (sweep, single) = (scratch("replay-sweep"), scratch("replay-point"));
    ok(&faultline(&[
        "sweep",
        "models/retry-storm.toml",
        "--set",
        "traffic.clients.retry.max_attempts=1,4",
        "--runs",
        "4",
        "--seed",
        "11",
        "--duration",
        "2m",
        "--out",
        sweep.to_str().unwrap(),
        "--no-charts",
        "-q",
    ]));
    let table = std::fs::read_to_string(sweep.join("runs.csv")).unwrap();
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // Point 1 (four attempts), run 2.
    let row = rows.iter().find(|r| r[column("point")] == "1" && r[column("run")] == "2").unwrap();
    let value = row[column("traffic.clients.retry.max_attempts")];
    let set = format!("traffic.clients.retry.max_attempts={value}");
    let (seed, run) = (row[column("seed")], row[column("run")]);
    let out = faultline(&[
        "run",
        "models/retry-storm.toml",
        "--set",
        &set,
        "--duration",
        "2m",
        "--seed",
        seed,
        "--run",
        run,
        "--out",
        single.to_str().unwrap(),
        "--no-charts",
        "-q",
    ]);
    ok(&out);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(single.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["offered"].as_u64().unwrap().to_string(), row[column("offered")]);
    assert_eq!(summary["completed"].as_u64().unwrap().to_string(), row[column("completed")]);
    assert_eq!(summary["recovery"]["status"].as_str().unwrap(), row[column("status")]);
    assert_eq!(summary["recovery"]["episodes"].as_array().unwrap().len().to_string(), row[column("episodes")]);
    // The point matters: the same run of point 0 (one attempt) differs.
    let other = rows.iter().find(|r| r[column("point")] == "0" && r[column("run")] == "2").unwrap();
    assert_ne!(other[column("completed")], row[column("completed")]);

    // One value only, and the same validation as sweep --set.
    let bad = faultline(&["run", "models/retry-storm.toml", "--set", "traffic.clients.retry.max_attempts=1,4"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("one value"));
    let bad = faultline(&["run", "models/retry-storm.toml", "--set", "traffic.nobody.rate=5/s"]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&bad.stderr).lines().count(), 1);
    let _ = std::fs::remove_dir_all(sweep);
    let _ = std::fs::remove_dir_all(single);
}

/// A run into a folder holding another kind of result (a batch, a sweep)
/// is refused before it simulates, with the folder unchanged; forced, it
/// leaves one complete result of its own and none of the other's files,
/// and a plain run after a service-graph run does not keep (or chart) the
/// graph's services.csv.
#[test]
fn a_run_into_another_kind_of_result_is_refused_or_replaces_it_whole() {
    let graph = concat!(env!("CARGO_MANIFEST_DIR"), "/models/microservices.toml");
    let dir = scratch("other-kinds");
    let d = dir.to_str().unwrap();
    let run_files = ["timeseries.csv", "nodes.csv", "events.csv", "summary.json", "herd.png", "timeline.png"];
    let makers: [&[&str]; 2] = [
        &["run", MODEL, "--duration", "60s", "--runs", "3", "--out", d, "-q"],
        &["sweep", MODEL, "--duration", "60s", "--set", "services.app.nodes=3,4", "--runs", "2", "--out", d, "-q"],
    ];
    for make in makers {
        let _ = std::fs::remove_dir_all(&dir);
        ok(&faultline(make));
        let before = names(&dir);
        let out = faultline(&["run", MODEL, "--duration", "60s", "--out", d, "-q"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("--force"), "{stderr}");
        assert_eq!(names(&dir), before, "a refused run changes nothing");

        ok(&faultline(&["run", MODEL, "--duration", "60s", "--out", d, "--force", "-q"]));
        let after = names(&dir);
        for mine in run_files {
            assert!(after.contains(&mine.to_string()), "{mine} missing after {make:?}: {after:?}");
        }
        for stale in ["runs.csv", "summary.csv", "sweep.json", "points", "bands.png"] {
            assert!(!after.contains(&stale.to_string()), "{stale} left beside the run after {make:?}: {after:?}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    ok(&faultline(&["run", graph, "--duration", "60s", "--out", d, "-q"]));
    assert!(dir.join("services.csv").is_file(), "{:?}", names(&dir));
    ok(&faultline(&["run", MODEL, "--duration", "60s", "--out", d, "-q"]));
    let after = names(&dir);
    assert!(!after.contains(&"services.csv".to_string()), "the graph's services.csv stays: {after:?}");
    let _ = std::fs::remove_dir_all(dir);
}
