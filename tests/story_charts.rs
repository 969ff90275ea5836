//! Story charts (issue 15): `node-traffic`, `queues`, `cache`, `memory`,
//! `throttled` and `lost-writes` are drawn for the models whose story they
//! tell and not for others; the per-bin columns they read (cache hits and
//! misses, node memory, node error answers, lost and unreplicated writes,
//! serverless refusals) appear only when the scenario has the feature and
//! agree with the summary and the scenario's parameters.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const STORY: [&str; 6] = ["node-traffic", "queues", "cache", "memory", "throttled", "lost-writes"];

/// Each model run once (shortened where the story allows), by name.
fn runs() -> &'static HashMap<&'static str, PathBuf> {
    static RUNS: OnceLock<HashMap<&'static str, PathBuf>> = OnceLock::new();
    RUNS.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("faultline-story-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let models: [(&str, &[&str]); 9] = [
            ("lb-sinkhole", &["--duration", "3m"]),
            ("retry-storm", &["--duration", "2m"]),
            ("cache-stampede", &["--duration", "5m"]),
            ("memory-leak", &["--duration", "12m"]),
            ("serverless-burst", &[]),
            ("database-failover", &["--duration", "4m"]),
            ("region-failover", &["--duration", "15m"]),
            ("three-node-lb", &[]),
            ("mm1", &["--duration", "20m"]),
        ];
        let mut out = HashMap::new();
        for (model, extra) in models {
            let dir = base.join(model);
            let file = format!("models/{model}.toml");
            let mut args = vec!["run", file.as_str(), "--out", dir.to_str().unwrap(), "-q"];
            args.extend_from_slice(extra);
            let o = Command::new(env!("CARGO_BIN_EXE_faultline")).args(&args).output().expect("faultline starts");
            assert_eq!(o.status.code(), Some(0), "{model}: {}", String::from_utf8_lossy(&o.stderr));
            out.insert(model, dir);
        }
        out
    })
}

fn dir(model: &str) -> &'static Path {
    &runs()[model]
}

/// A CSV file as a header and rows of cells.
fn table(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r.records().map(|x| x.unwrap().iter().map(String::from).collect()).collect();
    (header, rows)
}

fn column(path: &Path, name: &str) -> Vec<f64> {
    let (header, rows) = table(path);
    let i = header.iter().position(|h| h == name).unwrap_or_else(|| panic!("{}: no {name}", path.display()));
    rows.iter().map(|r| r[i].parse().unwrap_or(f64::NAN)).collect()
}

fn summary(model: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir(model).join("summary.json")).unwrap()).unwrap()
}

#[test]
fn each_story_chart_is_drawn_for_the_model_that_needs_it_and_no_other() {
    let expected: [(&str, &[&str]); 9] = [
        ("lb-sinkhole", &["node-traffic"]),
        ("retry-storm", &["queues"]),
        ("cache-stampede", &["cache", "queues"]),
        ("memory-leak", &["memory"]),
        ("serverless-burst", &["throttled"]),
        ("database-failover", &["lost-writes"]),
        ("region-failover", &["lost-writes", "queues"]),
        ("three-node-lb", &[]),
        ("mm1", &["queues"]),
    ];
    for (model, charts) in expected {
        for chart in STORY {
            let drawn = dir(model).join(format!("{chart}.png")).is_file();
            assert_eq!(drawn, charts.contains(&chart), "{model}: {chart}.png drawn = {drawn}");
            assert_eq!(dir(model).join(format!("{chart}.svg")).is_file(), drawn, "{model}: {chart}.svg");
        }
    }
    // Titles follow "<scenario>: <what>".
    let svg = std::fs::read_to_string(dir("memory-leak").join("memory.svg")).unwrap();
    assert!(svg.contains("memory-leak: memory per node"), "memory title");
    assert!(svg.contains("limit 2048 MB"), "the OOM limit is drawn");
    let svg = std::fs::read_to_string(dir("lb-sinkhole").join("node-traffic.svg")).unwrap();
    assert!(svg.contains("app/2: "), "the failing node's error answers are named");
}

#[test]
fn the_new_columns_appear_only_with_their_feature() {
    let header = |model: &str, file: &str| table(&dir(model).join(file)).0;
    let base_ts: Vec<String> = faultline::report::TIMESERIES_COLUMNS.iter().map(|c| c.to_string()).collect();
    let base_nodes: Vec<String> = faultline::report::NODES_COLUMNS.iter().map(|c| c.to_string()).collect();
    let with = |base: &[String], extra: &[&str]| -> Vec<String> {
        base.iter().cloned().chain(extra.iter().map(|c| c.to_string())).collect()
    };
    for model in ["three-node-lb", "mm1", "retry-storm", "region-failover"] {
        assert_eq!(header(model, "timeseries.csv"), base_ts, "{model}");
        assert_eq!(header(model, "nodes.csv"), base_nodes, "{model}");
    }
    assert_eq!(header("cache-stampede", "timeseries.csv"), with(&base_ts, &faultline::report::CACHE_COLUMNS));
    assert_eq!(header("cache-stampede", "nodes.csv"), base_nodes);
    assert_eq!(header("database-failover", "timeseries.csv"), with(&base_ts, &faultline::report::DB_COLUMNS));
    assert_eq!(header("serverless-burst", "timeseries.csv"), with(&base_ts, &faultline::report::SERVERLESS_COLUMNS));
    assert_eq!(header("memory-leak", "timeseries.csv"), base_ts);
    assert_eq!(header("memory-leak", "nodes.csv"), with(&base_nodes, &faultline::report::MEMORY_COLUMNS));
    assert_eq!(header("lb-sinkhole", "nodes.csv"), with(&base_nodes, &[faultline::report::ERRORS_COLUMN]));
}

#[test]
fn cache_hit_ratio_is_hits_over_lookups_and_sums_to_the_summary() {
    let ts = dir("cache-stampede").join("timeseries.csv");
    let (hits, misses, ratio, start) = (
        column(&ts, "cache_hits"),
        column(&ts, "cache_misses"),
        column(&ts, "cache_hit_ratio"),
        column(&ts, "t_start_s"),
    );
    for i in 0..hits.len() {
        assert!((0.0..=1.0).contains(&ratio[i]), "bin {i}: ratio {}", ratio[i]);
        assert!((ratio[i] - hits[i] / (hits[i] + misses[i])).abs() < 1e-6, "bin {i}");
    }
    // The flush at 3 min empties the cache: the bin after it mostly misses.
    let flushed = start.iter().position(|t| *t == 180.0).unwrap();
    assert!(ratio[flushed] < 0.2 && ratio[flushed - 1] > 0.85, "{} then {}", ratio[flushed - 1], ratio[flushed]);
    // The summary counts lookups after the 1-minute warm-up.
    let cache = &summary("cache-stampede")["caches"][0];
    let measured = |v: &[f64]| -> f64 { v.iter().zip(&start).filter(|(_, t)| **t >= 60.0).map(|(x, _)| x).sum() };
    assert_eq!(measured(&hits), cache["hits"].as_f64().unwrap());
    assert_eq!(measured(&misses), cache["misses"].as_f64().unwrap());
}

#[test]
fn memory_column_follows_the_leak_until_the_oom_kill() {
    // reactive: 512 MB + 0.2 MB/s of uptime + 0.05 MB per request served
    // + 2 MB per request held, killed at 2048 MB.
    let nodes = dir("memory-leak").join("nodes.csv");
    let (header, rows) = table(&nodes);
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let events = std::fs::read_to_string(dir("memory-leak").join("events.csv")).unwrap();
    let first_oom = events
        .lines()
        .find(|l| l.contains(",reactive,0,crash,oom"))
        .map(|l| l.split(',').nth(2).unwrap().parse::<f64>().unwrap())
        .expect("reactive node 0 is OOM-killed");
    let mut served = 0.0;
    let mut last_before = 0.0;
    for r in rows.iter().filter(|r| r[at("service")] == "reactive" && r[at("node")] == "0") {
        let end: f64 = r[at("t_end_s")].parse().unwrap();
        served += r[at("served")].parse::<f64>().unwrap();
        assert_eq!(r[at("memory_limit_mb")], "2048");
        if end > first_oom {
            break;
        }
        let memory: f64 = r[at("memory_mb")].parse().unwrap();
        let leak = 512.0 + 0.2 * end + 0.05 * served;
        // What is held (2 MB a request) comes on top of the leak: the node
        // has 8 workers and no queue limit, so allow 50 requests.
        assert!(memory >= leak - 1e-6 && memory <= leak + 100.0, "t = {end}: {memory} MB, leak {leak} MB");
        last_before = memory;
    }
    // Leak rate × time to the kill: the last sample is within one bin's
    // growth (0.2 MB/s + 0.05 MB × ~50/s, plus what is held) of the limit.
    assert!(last_before < 2048.0 && last_before > 2048.0 - 110.0, "last sample before the kill: {last_before} MB");
    let leak_rate = (2048.0 - 512.0) / first_oom;
    assert!((2.4..3.0).contains(&leak_rate), "{leak_rate} MB/s");
    // A node without a memory model would have empty cells; every node
    // here has one, and a node that is down has none.
    let empty = rows.iter().filter(|r| r[at("memory_mb")].is_empty()).count();
    let down = rows.iter().filter(|r| r[at("up_fraction")] != "1").count();
    assert!(empty > 0 && empty <= down, "{empty} empty cells, {down} rows not up all bin");
}

#[test]
fn node_traffic_adds_up_and_names_the_sinkhole() {
    // One server, no timeouts: every request served is answered once.
    let served: f64 = column(&dir("mm1").join("nodes.csv"), "served").iter().sum();
    let completed: f64 = column(&dir("mm1").join("timeseries.csv"), "completed").iter().sum();
    assert_eq!(served, completed);
    // lb-sinkhole: only node 2 answers with errors, and only from 60 s.
    let nodes = dir("lb-sinkhole").join("nodes.csv");
    let (header, rows) = table(&nodes);
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    for r in &rows {
        let errors: f64 = r[at("errors")].parse().unwrap();
        let start: f64 = r[at("t_start_s")].parse().unwrap();
        if r[at("node")] != "2" || start < 60.0 {
            assert_eq!(errors, 0.0, "{r:?}");
        }
    }
    let at_60 = rows.iter().find(|r| r[at("node")] == "2" && r[at("t_start_s")] == "60").unwrap();
    assert!(at_60[at("errors")].parse::<f64>().unwrap() >= 5.0, "outlier detection needs 5 errors: {at_60:?}");
}

#[test]
fn lost_writes_and_refusals_match_the_summary() {
    let ts = dir("database-failover").join("timeseries.csv");
    let (lost, risk, start) = (column(&ts, "db_writes_lost"), column(&ts, "db_unreplicated"), column(&ts, "t_start_s"));
    let s = summary("database-failover");
    let db = &s["databases"][0];
    assert_eq!(lost.iter().sum::<f64>(), db["writes_lost"].as_f64().unwrap());
    let failed_at = db["failovers"][0]["primary_failed_at_s"].as_f64().unwrap();
    let bin = start.iter().rposition(|t| *t <= failed_at).unwrap();
    assert_eq!(lost[bin], db["writes_lost"].as_f64().unwrap(), "lost in the bin of the failure");
    assert!(lost[bin] > 0.0);
    // Before the failure ~90 writes/s replicate ~0.5 s late: some are always at risk.
    assert!(risk[..bin].iter().skip(5).all(|r| *r > 0.0), "writes at risk before the failure");

    let ts = dir("serverless-burst").join("timeseries.csv");
    let (refused, start) = (column(&ts, "serverless_throttled"), column(&ts, "t_start_s"));
    let warm = summary("serverless-burst")["warmup_s"].as_f64().unwrap();
    let measured: f64 = refused.iter().zip(&start).filter(|(_, t)| **t >= warm).map(|(x, _)| x).sum();
    assert_eq!(measured, summary("serverless-burst")["serverless"][0]["throttled"].as_f64().unwrap());
    assert!(measured > 0.0);
}

#[test]
fn plot_only_names_the_story_charts() {
    let d = dir("memory-leak");
    let o = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["plot", d.to_str().unwrap(), "--chart", "cache"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("memory") && !err.contains("cache,"), "{err}");
}
