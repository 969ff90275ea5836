//! End-to-end tests of the `faultline` binary: bad scenario files give one
//! clear line and exit 2 with no output written; every model in `models/`
//! passes `check` and `run`; the same scenario and seed give identical bytes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("faultline starts")
}

/// A fresh, empty scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A scratch folder holding scenario `file` with `text`: (folder, file).
fn scenario_file(name: &str, file: &str, text: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(name);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `faultline run` and `faultline check` on a bad input and checks the
/// contract: exit code 2, exactly one line on stderr equal to `expected`,
/// nothing on stdout, and no output folder created.
fn assert_rejected(scenario: &str, expected: &str) {
    for sub in ["run", "check"] {
        let out_dir = scratch(&format!("bad-{}", Path::new(scenario).file_name().unwrap().to_string_lossy()));
        let out = if sub == "run" {
            faultline(&["run", scenario, "--out", out_dir.to_str().unwrap()])
        } else {
            faultline(&["check", scenario])
        };
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{sub} {scenario}: exit code; stderr: {err}");
        assert_eq!(err.lines().count(), 1, "{sub} {scenario}: want one line, got:\n{err}");
        assert_eq!(err.trim_end(), expected, "{sub} {scenario}");
        assert!(out.stdout.is_empty(), "{sub} {scenario}: printed to stdout");
        assert!(!err.contains("panicked"), "{sub} {scenario}: panic");
        assert!(!out_dir.exists(), "{sub} {scenario}: created {}", out_dir.display());
    }
}

#[test]
fn bad_scenarios_fail_with_one_clear_line() {
    let mut cases = 0;
    let mut entries: Vec<_> = std::fs::read_dir("tests/bad").unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            let expected_file = path.with_extension("expected");
            let expected = std::fs::read_to_string(&expected_file)
                .unwrap_or_else(|_| panic!("{} has no {}", path.display(), expected_file.display()));
            assert_rejected(path.to_str().unwrap(), expected.trim_end());
            cases += 1;
        }
    }
    assert!(cases >= 14, "only {cases} bad scenario files found");
}

#[test]
fn every_bad_message_names_the_file_and_a_key() {
    // The messages above are compared exactly; this guards the shape that
    // users rely on when the messages are edited.
    for entry in std::fs::read_dir("tests/bad").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "expected") {
            let text = std::fs::read_to_string(&path).unwrap();
            let toml = path.with_extension("toml");
            assert!(text.starts_with(&format!("error: {}", toml.display())), "{}: {text}", path.display());
        }
    }
}

#[test]
fn missing_file_and_directory_are_refused() {
    assert_rejected("tests/bad/no-such-file.toml", "error: tests/bad/no-such-file.toml: no such file");
    assert_rejected(
        "tests/bad/a-directory.toml",
        "error: tests/bad/a-directory.toml: is a directory, expected a scenario .toml file",
    );
}

#[test]
fn an_endless_scenario_file_is_refused_in_one_line() {
    // The old code read /dev/zero until memory ran out.
    assert_rejected("/dev/zero", "error: /dev/zero: is larger than 16 MiB, too large for a scenario file");
}

#[test]
fn check_never_states_a_false_node_count_for_an_absurd_rate() {
    let dir = scratch("absurd-rate");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("absurd.toml");
    std::fs::write(
        &path,
        "version = 1\n[simulation]\nduration = \"5m\"\n[traffic.web]\nrate = \"1e9/s\"\ntarget = \"app\"\n\
         [services.app]\nnodes = 2\nworkers = 1\nservice_time = { distribution = \"exponential\", mean = \"1h\" }\n",
    )
    .unwrap();
    let out = faultline(&["check", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    // 3.6e12 busy workers: the old code printed "analytic estimate: 0 nodes"
    // (lose + u32::MAX wrapped).
    assert!(text.contains("analytic estimate: more than 100000 nodes"), "{text}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_command_line_values_exit_2() {
    let out = faultline(&["run", "models/mm1.toml", "--duration", "ten minutes", "--out", "/nonexistent/x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("error: --duration: "), "{}", stderr(&out));
    let out = faultline(&["run", "models/mm1.toml", "--seed", "-3"]);
    assert_eq!(out.status.code(), Some(2));
    let out = faultline(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

fn models() -> Vec<PathBuf> {
    let mut models: Vec<PathBuf> = std::fs::read_dir("models")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    models.sort();
    assert!(models.len() >= 3, "models/ should hold mm1, mmc and three-node-lb");
    models
}

#[test]
fn every_model_passes_check_and_run() {
    for model in models() {
        let m = model.to_str().unwrap();
        let out = faultline(&["check", m]);
        assert_eq!(out.status.code(), Some(0), "check {m}: {}", stderr(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("valid scenario"));

        let dir = scratch(&format!("model-{}", model.file_stem().unwrap().to_string_lossy()));
        let out = faultline(&["run", m, "--out", dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "run {m}: {}", stderr(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("throughput") && stdout.contains("latency"), "{stdout}");
        for file in ["timeseries.csv", "nodes.csv", "summary.json"] {
            let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|_| panic!("{m}: {file} missing"));
            assert!(bytes.len() > 100, "{m}: {file} nearly empty");
        }
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{m}: temporary files left: {leftovers:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn same_scenario_and_seed_give_identical_bytes() {
    let a = scratch("det-a");
    let b = scratch("det-b");
    let c = scratch("det-c");
    for dir in [&a, &b] {
        let out =
            faultline(&["run", "models/three-node-lb.toml", "--duration", "2m", "--out", dir.to_str().unwrap(), "-q"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let out = faultline(&[
        "run",
        "models/three-node-lb.toml",
        "--duration",
        "2m",
        "--seed",
        "7",
        "--out",
        c.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(out.status.code(), Some(0));
    for file in ["timeseries.csv", "nodes.csv", "summary.json"] {
        let x = std::fs::read(a.join(file)).unwrap();
        let y = std::fs::read(b.join(file)).unwrap();
        let z = std::fs::read(c.join(file)).unwrap();
        assert!(x == y, "{file} differs between two runs with the same seed");
        assert!(x != z, "{file} identical for a different seed: the seed is not used");
    }
    for dir in [a, b, c] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn default_output_folder_is_named_after_the_scenario() {
    let work = scratch("default-out");
    std::fs::create_dir_all(&work).unwrap();
    let model = std::fs::canonicalize("models/mm1.toml").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["run", model.to_str().unwrap(), "--duration", "5m", "-q"])
        .current_dir(&work)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(work.join("output/mm1/summary.json").is_file());
    // A batch of the same scenario goes beside it, not over it.
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["run", model.to_str().unwrap(), "--duration", "3m", "--runs", "3", "-q"])
        .current_dir(&work)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(work.join("output/mm1-batch/runs.csv").is_file());
    assert!(work.join("output/mm1/events.csv").is_file(), "the run's result is untouched");
    let _ = std::fs::remove_dir_all(work);
}

#[test]
fn outputs_have_the_documented_columns() {
    let dir = scratch("columns");
    let out =
        faultline(&["run", "models/three-node-lb.toml", "--duration", "1m", "--out", dir.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0));
    let ts = std::fs::read_to_string(dir.join("timeseries.csv")).unwrap();
    assert_eq!(ts.lines().next().unwrap(), faultline::report::TIMESERIES_COLUMNS.join(","));
    assert_eq!(ts.lines().count(), 1 + 60, "one row per 1 s bin over 1 minute");
    let nodes = std::fs::read_to_string(dir.join("nodes.csv")).unwrap();
    assert_eq!(nodes.lines().next().unwrap(), faultline::report::NODES_COLUMNS.join(","));
    assert_eq!(nodes.lines().count(), 1 + 60 * 3, "one row per bin and node");
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    for key in [
        "throughput_rps",
        "latency_ms",
        "mean_wait_ms",
        "p_wait",
        "rejection_fraction",
        "services",
        "nodes",
        "conservation",
    ] {
        assert!(summary.get(key).is_some(), "summary.json lacks {key}");
    }
    let c = &summary["conservation"];
    let (arr, ok, failed, inflight) = (
        c["arrivals"].as_u64().unwrap(),
        c["completed"].as_u64().unwrap(),
        c["failed"].as_u64().unwrap(),
        c["in_flight"].as_u64().unwrap(),
    );
    assert_eq!(arr, ok + failed + inflight);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn check_calls_a_bounded_queue_above_capacity_stable_and_reports_its_blocking() {
    let dir = scratch("loss-system");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, rate: &str, queue: u32| {
        let path = dir.join(name);
        let text = format!(
            "version = 1\n[simulation]\nduration = \"5m\"\n[traffic.web]\nrate = \"{rate}\"\ntarget = \"app\"\n[services.app]\nnodes = 1\nworkers = 4\n\
             queue_capacity = {queue}\nservice_time = {{ distribution = \"exponential\", mean = \"20ms\" }}\n"
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    // M/M/4/4 at a = 4 erlangs: Erlang B(4, 4) = 32/103 = 31.07%.
    let loss = write("loss.toml", "200/s", 0);
    let out = faultline(&["check", loss.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("blocking      31.07% of arrivals refused"), "{text}");
    assert!(text.contains("stable above capacity") && !text.contains("OVERLOADED"), "{text}");
    assert_eq!(out.status.code(), Some(1), "the blocking breaks the 95% goodput SLO: {text}");
    // Half the load: Erlang B(4, 2) = 2/21 = 9.52%.
    let lightly = write("light.toml", "100/s", 0);
    let out = faultline(&["check", lightly.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("blocking      9.52%"), "{text}");
    // An unbounded queue above capacity is still overloaded.
    let unbounded = dir.join("unbounded.toml");
    std::fs::write(
        &unbounded,
        std::fs::read_to_string(&loss).unwrap().replace("queue_capacity = 0\n", "queue_capacity = \"unbounded\"\n"),
    )
    .unwrap();
    let out = faultline(&["check", unbounded.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("OVERLOADED"));
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn any_run_of_a_batch_replays_alone_from_its_runs_csv_row() {
    let (batch, single) = (scratch("replay-batch"), scratch("replay-single"));
    let model = "models/retry-storm.toml";
    let out = faultline(&["run", model, "--runs", "4", "--out", batch.to_str().unwrap(), "--no-charts", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table = std::fs::read_to_string(batch.join("runs.csv")).unwrap();
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let row: Vec<&str> = lines.find(|l| l.starts_with("3,")).unwrap().split(',').collect();
    let (seed, run) = (row[column("seed")], row[column("run")]);
    let out =
        faultline(&["run", model, "--seed", seed, "--run", run, "--out", single.to_str().unwrap(), "--no-charts"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("run 3 seed {seed}")));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(single.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["offered"].as_u64().unwrap().to_string(), row[column("offered")]);
    assert_eq!(summary["completed"].as_u64().unwrap().to_string(), row[column("completed")]);
    assert_eq!(summary["recovery"]["status"].as_str().unwrap(), row[column("status")]);
    assert_eq!(summary["recovery"]["episodes"].as_array().unwrap().len().to_string(), row[column("episodes")]);
    // Run 3 is not run 0: the replay is not the batch's first run again.
    let first: Vec<&str> = table.lines().nth(1).unwrap().split(',').collect();
    assert_ne!(first[column("offered")], row[column("offered")]);
}

/// Runs `scenario` under `ulimit -v kib` and checks it was refused in one
/// line with exit code 2; returns that line.
fn refused_under_memory_limit(scenario: &std::path::Path, out_dir: &std::path::Path, kib: u64) -> String {
    let script = format!(
        "ulimit -v {kib} && exec {} run {} --out {} --no-charts",
        env!("CARGO_BIN_EXE_faultline"),
        scenario.display(),
        out_dir.display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().expect("sh starts");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

/// Memory the work really needs is refused before starting where the
/// process may not have it (here an address-space limit, as a container's
/// would be): random crashes every 100 ms on 2,000 nodes for ten minutes
/// keep 6 million node deaths (1.6 GB measured, 1.5 GiB estimated).
#[test]
fn work_that_needs_more_memory_than_the_process_may_use_is_refused_before_it_starts() {
    let (dir, scenario) = scenario_file(
        "memory-guard",
        "crashes.toml",
        r#"version = 1
[simulation]
duration = "600s"
warmup = "0s"
[traffic.web]
rate = "10/s"
target = "app"
[services.app]
nodes = 2000
queue_capacity = 10
service_time = { distribution = "exponential", mean = "1ms" }
[[faults]]
kind = "random-crashes"
service = "app"
nodes = "all"
at = "0s"
mtbf = "100ms"
mttr = "100ms"
"#,
    );
    let out_dir = dir.join("out");
    let err = refused_under_memory_limit(&scenario, &out_dir, 1_000_000);
    assert!(err.contains("needs roughly 1.") && err.contains("GiB of memory") && err.contains("--force"), "{err}");
    assert!(!out_dir.exists(), "a refused run writes nothing");
    let _ = std::fs::remove_dir_all(dir);
}

/// An `[initial]` backlog is held all at once from t = 0: ten million queued
/// requests take about 2.4 GB, and the guard counts them (it did not).
#[test]
fn an_initial_backlog_too_large_for_the_process_memory_is_refused_before_it_starts() {
    let (dir, scenario) = scenario_file(
        "memory-guard-backlog",
        "backlog.toml",
        r#"version = 1
[simulation]
duration = "30s"
[traffic.web]
rate = "10/s"
timeout = "1s"
target = "app"
[services.app]
nodes = 2
workers = 4
queue_capacity = "unbounded"
service_time = { distribution = "exponential", mean = "10ms" }
[initial.services.app]
backlog = 10000000
"#,
    );
    let out_dir = dir.join("out");
    let err = refused_under_memory_limit(&scenario, &out_dir, 1_500_000);
    assert!(err.contains("GiB of memory") && err.contains("--force"), "{err}");
    assert!(!out_dir.exists(), "a refused run writes nothing");
    let _ = std::fs::remove_dir_all(dir);
}

/// `check` on a large fleet lists the first losses and then only where the
/// verdict changes, not one line per node (it printed 1,999 lines for 2,000).
#[test]
fn check_on_a_large_fleet_stays_short() {
    let (dir, scenario) = scenario_file(
        "check-large-fleet",
        "fleet.toml",
        r#"version = 1
[simulation]
duration = "60s"
[traffic.web]
rate = "1000/s"
target = "app"
[services.app]
nodes = 2000
service_time = { distribution = "exponential", mean = "1s" }
"#,
    );
    let out = faultline(&["check", scenario.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let losses: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("lose ")).collect();
    assert!(losses.len() <= 12, "{} loss lines", losses.len());
    // Utilization 50%: hot from losing 824 (1000/1176 = 85.03%), over capacity from 1000.
    for k in ["lose 1 node ", "lose 8 nodes", "lose 824 nodes", "lose 1000 nodes", "lose 1999 nodes"] {
        assert!(losses.iter().any(|l| l.contains(k)), "no `{k}` line in {losses:?}");
    }
    assert!(losses.iter().find(|l| l.contains("lose 1000 nodes")).unwrap().contains("OVER CAPACITY"));
    let _ = std::fs::remove_dir_all(dir);
}
