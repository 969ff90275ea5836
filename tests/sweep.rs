//! Parameter sweeps (issue 5): shards merged equal the unsharded sweep byte
//! for byte, an interrupted and resumed sweep equals an uninterrupted one
//! (through the library's stop flag and through a real Ctrl-C), batches keep
//! their finished runs on Ctrl-C, and bad sweeps fail cleanly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use faultline::model::ScenarioSource;
use faultline::monte_carlo::Controls;
use faultline::sweep::{self, Outcome, PointEvent, Sweep, grid};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("faultline starts")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-sweep-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Every file under `dir`, relative path -> bytes, sorted.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn assert_same_tree(a: &Path, b: &Path) {
    let (ta, tb) = (tree(a), tree(b));
    let names = |t: &[(String, Vec<u8>)]| t.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&ta), names(&tb), "{} and {} hold different files", a.display(), b.display());
    for ((name, x), (_, y)) in ta.iter().zip(&tb) {
        assert!(x == y, "{name} differs between {} and {}", a.display(), b.display());
    }
}

fn ok(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Two points of 90 runs: over 64 distinct values per bin, so the band
/// sketches leave their exact mode, and three shards split inside points.
const GRID: [&str; 10] = [
    "models/three-node-cascade.toml",
    "--set",
    "services.app.nodes=3,4",
    "--runs",
    "90",
    "--duration",
    "90s",
    "--set",
    "services.app.workers=8",
    "-q",
];

#[test]
fn three_shards_merged_equal_the_unsharded_sweep() {
    let whole = scratch("whole");
    let mut args: Vec<&str> = vec!["sweep"];
    args.extend(GRID);
    let whole_s = whole.to_str().unwrap();
    args.extend(["--out", whole_s, "--threads", "2"]);
    ok(&faultline(&args));
    let shards: Vec<PathBuf> = (0..3).map(|i| scratch(&format!("shard{i}"))).collect();
    for (i, dir) in shards.iter().enumerate() {
        let mut args: Vec<&str> = vec!["sweep"];
        args.extend(GRID);
        let shard = format!("{i}/3");
        args.extend(["--out", dir.to_str().unwrap(), "--shard", &shard, "--threads", "1"]);
        ok(&faultline(&args));
        assert!(!dir.join("runs.csv").exists(), "a shard writes parts, not the tables");
    }
    let merged = scratch("merged");
    // Shards may be named in any order.
    ok(&faultline(&[
        "merge",
        shards[2].to_str().unwrap(),
        shards[0].to_str().unwrap(),
        shards[1].to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
        "-q",
    ]));
    assert_same_tree(&whole, &merged);
    let runs = std::fs::read_to_string(whole.join("runs.csv")).unwrap();
    assert_eq!(runs.lines().count(), 1 + 2 * 90, "one row per (point, run)");
    assert!(runs.starts_with("point,services.app.nodes,services.app.workers,run,seed,"), "{}", &runs[..80]);
    let summary = std::fs::read_to_string(whole.join("summary.csv")).unwrap();
    assert!(summary.lines().any(|l| l.starts_with("1,4,8,success_fraction,90,")), "tidy rows per (point, metric)");

    // Merge refuses an incomplete or mixed set of shards.
    let out = faultline(&["merge", shards[0].to_str().unwrap(), shards[1].to_str().unwrap(), "--out", "/tmp/x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard 2/3 missing"));
    // An unfinished shard: merge names the missing part and writes nothing.
    std::fs::remove_file(shards[1].join("parts/1.json")).unwrap();
    let fresh = scratch("merged-unfinished");
    let out = faultline(&[
        "merge",
        shards[0].to_str().unwrap(),
        shards[1].to_str().unwrap(),
        shards[2].to_str().unwrap(),
        "--out",
        fresh.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("parts/1.json: missing; that shard has not finished point 1"), "{stderr}");
    assert!(!fresh.exists(), "nothing is written when a part is missing");
    for dir in shards.iter().chain([&whole, &merged]) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn small_sweep(runs: u64) -> Sweep {
    let source = ScenarioSource::read(Path::new("models/retry-storm-defended.toml")).unwrap();
    let fixed = [faultline::model::overrides::Override { path: "simulation.duration".into(), value: "40s".into() }];
    let params = vec![grid::parse_set("traffic.clients.retry.max_attempts=1..3").unwrap()];
    Sweep::new(&source.text, &source.label, source.stem.as_deref(), &fixed, params, runs).unwrap()
}

#[test]
fn an_interrupted_sweep_resumes_to_the_same_files() {
    let s = small_sweep(12);
    assert_eq!(s.manifest.points.len(), 3);
    let controls = Controls::new(2).unwrap();
    let whole = scratch("resume-whole");
    assert_eq!(sweep::run(&s, &whole, false, &controls, &mut |_| {}).unwrap(), Outcome::Complete);

    // Stop (as Ctrl-C does) once the first point is written.
    let stop = AtomicBool::new(false);
    let mut controls = Controls::new(2).unwrap();
    controls.stop = Some(&stop);
    let parted = scratch("resume-parted");
    let outcome = sweep::run(&s, &parted, false, &controls, &mut |e| {
        if let PointEvent::Finished { .. } = e {
            stop.store(true, Ordering::Relaxed);
        }
    })
    .unwrap();
    assert_eq!(outcome, Outcome::Interrupted { points_done: 1 });
    assert!(parted.join("points/0/point.json").exists() && !parted.join("points/1/point.json").exists());
    assert!(!parted.join("runs.csv").exists(), "no sweep tables until every point is done");

    stop.store(false, Ordering::Relaxed);
    let mut skipped = 0;
    let outcome = sweep::run(&s, &parted, true, &controls, &mut |e| {
        if let PointEvent::Skipped { .. } = e {
            skipped += 1;
        }
    })
    .unwrap();
    assert_eq!((outcome, skipped), (Outcome::Complete, 1));
    assert_same_tree(&whole, &parted);

    // A resume with other settings is refused, not mixed in.
    let other = small_sweep(13);
    let err = sweep::run(&other, &parted, true, &controls, &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("holds a different sweep"), "{err}");
    let _ = std::fs::remove_dir_all(whole);
    let _ = std::fs::remove_dir_all(parted);
}

#[test]
fn ctrl_c_keeps_finished_points_and_resume_completes_them() {
    let args = [
        "sweep",
        "models/three-node-cascade.toml",
        "--set",
        "traffic.web.rate=300:550:50",
        "--runs",
        "40",
        "--duration",
        "5m",
        "--threads",
        "2",
    ];
    let whole = scratch("sigint-whole");
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--out", whole.to_str().unwrap(), "-q"]);
    ok(&faultline(&full));

    let parted = scratch("sigint-parted");
    let mut first: Vec<&str> = args.to_vec();
    first.extend(["--out", parted.to_str().unwrap()]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(&first)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first finished point, then press Ctrl-C.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert!(line.starts_with("point 1/6"), "{line}");
    let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    assert!(parted.join("points/0/point.json").exists());
    assert!(!parted.join("points/5/point.json").exists(), "the sweep stopped early");

    let mut again: Vec<&str> = args.to_vec();
    again.extend(["--out", parted.to_str().unwrap(), "--resume", "-q"]);
    ok(&faultline(&again));
    assert_same_tree(&whole, &parted);
    let _ = std::fs::remove_dir_all(whole);
    let _ = std::fs::remove_dir_all(parted);
}

#[test]
fn ctrl_c_in_a_batch_keeps_the_finished_runs() {
    let dir = scratch("batch-sigint");
    let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["run", "models/three-node-cascade.toml", "--runs", "5000", "--threads", "2", "-q"])
        .args(["--out", dir.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let rows = std::fs::read_to_string(dir.join("runs.csv")).unwrap().lines().count() - 1;
    assert!(rows > 0 && rows < 5000, "{rows} runs kept");
    assert!(stderr.contains(&format!("{rows} of 5000 runs finished")), "{stderr}");
    // The summary says it covers only the finished runs, and is partial.
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["runs"], rows as u64);
    assert_eq!(summary["runs_finished"], rows as u64);
    assert_eq!(summary["runs_requested"], 5000);
    assert_eq!(summary["partial"], true);
    assert_eq!(summary["metrics"]["offered"]["n"], rows as u64, "every finished run has an offered count");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_sweeps_fail_in_one_line_and_write_nothing() {
    let out_dir = scratch("bad");
    for (set, needle) in [
        ("services.app.nodes=0..2", "services.app.nodes=0: services.app.nodes: must be >= 1"),
        ("services.app.nodez=3", "unknown field `nodez`"),
        ("services.app.nodes=1:3", "expected start:stop:step"),
        ("faults[4].at=10s", "faults has 1 entries"),
        ("traffic.web.rate=100:50:10", "start is above stop"),
        // A path is a value, refused by the name's own rule (it used to be
        // called a malformed range).
        ("name=../../etc", "name=../../etc: name: \"../../etc\" names the output folder, so it may use only"),
        // Used to pass validation and then panic (exit 101) in the run: the
        // cv squares to infinity. The valid first point must not be written either.
        (
            "services.app.service_time.cv=1,1e155",
            "services.app.service_time.cv=1e155: services.app.service_time.cv: must be a number from 0.001 to 100",
        ),
    ] {
        let out =
            faultline(&["sweep", "models/three-node-cascade.toml", "--set", set, "--out", out_dir.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{set}: {stderr}");
        assert!(stderr.contains(needle), "{set}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{set}: {stderr}");
        assert!(!out_dir.exists(), "{set}: nothing may be written");
    }
    // Refused as absurd unless forced.
    let out = faultline(&[
        "run",
        "models/three-node-cascade.toml",
        "--runs",
        "100000000",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert!(!out_dir.exists());
}

#[test]
fn a_damaged_point_file_on_resume_is_named() {
    let out_dir = scratch("damaged");
    let out = out_dir.to_str().unwrap();
    let sweep = |extra: &[&str]| {
        let mut args =
            vec!["sweep", "models/three-node-cascade.toml", "--set", "services.app.nodes=3..4", "--runs", "2"];
        args.extend(["--duration", "2m", "--out", out, "-q"]);
        args.extend(extra);
        faultline(&args)
    };
    assert_eq!(sweep(&[]).status.code(), Some(0));
    // Point 0's runs.csv loses its columns; point 1 must run again.
    std::fs::write(out_dir.join("points/0/runs.csv"), "garbage\n1\n").unwrap();
    std::fs::remove_file(out_dir.join("points/1/point.json")).unwrap();
    let again = sweep(&["--resume"]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("points/0/runs.csv"), "the damaged file is named: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    let _ = std::fs::remove_dir_all(out_dir);
}
