//! Load-dependent latency (`slowdown`): the shapes are applied to service
//! times as specified, on services and databases; `check` reports the
//! capacity a slowdown leaves (computed here independently, by a grid over
//! the utilization) and simulation confirms where a node collapses.

use std::process::Command;

use faultline::{Scenario, analysis, run};

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text, "<test>", Some("test")).expect("valid test scenario")
}

/// One node, `workers` workers and no queue, at `rate`, with `slowdown`.
fn loss_node(workers: u32, rate: &str, duration: &str, service_time: &str, slowdown: &str) -> String {
    format!(
        r#"
version = 1
[simulation]
duration = "{duration}"
seed = 11
[traffic.web]
rate = "{rate}"
target = "lb"
[balancers.lb]
service = "app"
[services.app]
nodes = 1
workers = {workers}
queue_capacity = 0
service_time = {service_time}
slowdown = {slowdown}
"#
    )
}

#[test]
fn one_worker_always_serves_at_full_load() {
    // One worker, no queue: every request starts with the worker busy with
    // itself (x = 1), so its mean service time is S·g(1), whatever the shape.
    let e = std::f64::consts::E;
    let cases = [
        (r#"{ by = "concurrency", factor = 1.5 }"#, 2.5),
        (r#"{ by = "concurrency", shape = "linear", factor = 1.5 }"#, 2.5),
        (r#"{ by = "concurrency", shape = "polynomial", factor = 3, exponent = 2 }"#, 4.0),
        (r#"{ by = "concurrency", factor = 3, exponent = 0.5 }"#, 4.0),
        (r#"{ by = "concurrency", shape = "exponential", factor = 2 }"#, e * e),
    ];
    for (slowdown, g1) in cases {
        let exp = r#"{ distribution = "exponential", mean = "10ms" }"#;
        let r = run(&scenario(&loss_node(1, "20/s", "1h", exp, slowdown)), 0).unwrap();
        let n = r.summary.completed as f64;
        let measured = r.summary.mean_response_ms.unwrap();
        let expected = 10.0 * g1;
        // Exponential service: the standard error of the mean is mean / √n.
        let tolerance = 4.0 * expected / n.sqrt();
        assert!(n > 10_000.0, "{slowdown}: only {n} completed");
        assert!(
            (measured - expected).abs() < tolerance,
            "{slowdown}: mean service {measured:.3} ms, expected {expected:.3} ± {tolerance:.3}"
        );
    }
}

#[test]
fn two_workers_at_low_load_serve_at_half_load() {
    // Two workers at a trickle of load: a request almost always starts
    // alone, at x = 1/2, which tells the shapes apart (they agree at x = 1).
    // Constant service: each response is S·g(1/2), or S·g(1) for the few
    // (λ·S·g ≈ 0.1%) that find the other worker busy.
    let g_half = [
        (r#"{ by = "concurrency", factor = 3 }"#, 2.5),
        (r#"{ by = "concurrency", shape = "polynomial", factor = 3, exponent = 3 }"#, 1.375),
        (r#"{ by = "concurrency", shape = "exponential", factor = 3 }"#, 1.5f64.exp()),
    ];
    for (slowdown, g) in g_half {
        let constant = r#"{ distribution = "constant", value = "10ms" }"#;
        let r = run(&scenario(&loss_node(2, "0.02/s", "10h", constant, slowdown)), 0).unwrap();
        assert!(r.summary.completed > 500, "{slowdown}: only {} completed", r.summary.completed);
        let measured = r.summary.mean_response_ms.unwrap();
        let expected = 10.0 * g;
        assert!(
            (measured - expected).abs() < 0.01 * expected,
            "{slowdown}: mean service {measured:.4} ms, expected {expected:.4}"
        );
    }
}

#[test]
fn queue_slowdown_is_none_without_a_queue() {
    // by = "queue": a request that starts at once sees no queue, so a loss
    // node (no queue at all) is never slowed.
    let exp = r#"{ distribution = "exponential", mean = "10ms" }"#;
    let slowdown = r#"{ by = "queue", shape = "exponential", factor = 5 }"#;
    let r = run(&scenario(&loss_node(1, "20/s", "30m", exp, slowdown)), 0).unwrap();
    let n = r.summary.completed as f64;
    let measured = r.summary.mean_response_ms.unwrap();
    assert!((measured - 10.0).abs() < 4.0 * 10.0 / n.sqrt(), "mean service {measured:.3} ms, expected 10");
}

#[test]
fn database_slowdown_slows_queries_by_busy_connection_slots() {
    // A database instance with one worker (connection slot) and no queue,
    // queried by a single one-worker node: each query starts with the slot
    // busy with itself, u = 1, so it takes read/write time × e^2.
    let text = r#"
version = 1
[simulation]
duration = "1h"
seed = 3
[traffic.web]
rate = "5/s"
target = "lb"
[balancers.lb]
service = "app"
[services.app]
nodes = 1
workers = 1
queue_capacity = 0
service_time = { distribution = "constant", value = "1ms" }
database = { name = "db", pool = 1, write_ratio = 0.3 }
[databases.db]
replicas = 0
workers = 1
queue_capacity = 0
read_time = { distribution = "exponential", mean = "10ms" }
write_time = { distribution = "exponential", mean = "10ms" }
slowdown = { by = "concurrency", shape = "exponential", factor = 2 }
"#;
    let s = scenario(text);
    let r = run(&s, 0).unwrap();
    let n = r.summary.completed as f64;
    let query = 10.0 * 2f64.exp();
    let measured = r.summary.mean_response_ms.unwrap() - 1.0;
    let tolerance = 4.0 * query / n.sqrt();
    assert!(n > 5_000.0, "only {n} completed");
    assert!((measured - query).abs() < tolerance, "mean query {measured:.3} ms, expected {query:.3} ± {tolerance:.3}");
    // check: one slot always at u = 1 serves 1 / (S·e^2) queries a second.
    let caps = analysis::capacity(&s);
    let db = caps.iter().find(|c| c.service == "db").unwrap();
    let expected = 1.0 / (0.010 * 2f64.exp());
    assert!((db.capacity_rps - expected).abs() < 1e-3 * expected, "db capacity {} vs {expected}", db.capacity_rps);
    assert!((db.nominal_capacity_rps - 100.0).abs() < 1e-6, "nominal {}", db.nominal_capacity_rps);
}

/// 64 workers of 73.988 ms mean: 865 req/s per node without slowdown; with
/// e^(4x) they serve far less.
fn collapsing_node(nodes: u32, rate: f64, seed: u64) -> String {
    format!(
        r#"
version = 1
[simulation]
duration = "5m"
warmup = "30s"
seed = {seed}
[traffic.web]
rate = "{rate}/s"
target = "lb"
[balancers.lb]
service = "app"
[services.app]
nodes = {nodes}
workers = 64
queue_capacity = 100
service_time = {{ distribution = "exponential", mean = "73.988ms" }}
slowdown = {{ by = "concurrency", shape = "exponential", factor = 4 }}
"#
    )
}

/// The most one node serves, by brute force: X(u) = c·u / (S·g(x)) on a
/// fine grid of u, with x = min(1, u + 1/c) the load a starting request
/// sees (itself included), g(x) = e^(4x). Returns (max, argmax).
fn grid_capacity(c: f64, s: f64) -> (f64, f64) {
    let steps = 200_000;
    (0..=steps)
        .map(|i| i as f64 / steps as f64)
        .map(|u| (c * u / (s * (4.0 * (u + 1.0 / c).min(1.0)).exp()), u))
        .fold((0.0, 0.0), |best, p| if p.0 > best.0 { p } else { best })
}

#[test]
fn check_reports_the_capacity_a_slowdown_leaves() {
    let (max, u_peak) = grid_capacity(64.0, 0.073988);
    assert!((70.0..80.0).contains(&max), "the test's own figure: {max}");
    let caps = analysis::capacity(&scenario(&collapsing_node(2, 170.0, 1)));
    let c = &caps[0];
    assert!((c.nominal_capacity_rps - 2.0 * 865.0).abs() < 1.0, "nominal {}", c.nominal_capacity_rps);
    assert!((c.capacity_rps - 2.0 * max).abs() < 1e-4 * max, "capacity {} vs {}", c.capacity_rps, 2.0 * max);
    let sd = c.slowdown.as_ref().unwrap();
    assert!((sd.peak_utilization - u_peak).abs() < 1e-3, "peak at {} vs {u_peak}", sd.peak_utilization);
    // 85 req/s per node is above the peak: no stable point.
    assert!(sd.at_peak.is_none(), "{:?}", sd.at_peak);
    assert!(c.utilization > 1.0);
    // Losing a node of two leaves one at twice the load.
    assert!((c.after_losing[0].1 - 170.0 / max).abs() < 1e-3);

    // Below the peak: the stable point solves X(u) = λ on the rising side.
    let caps = analysis::capacity(&scenario(&collapsing_node(1, 50.0, 1)));
    let (u, service_s) = caps[0].slowdown.as_ref().unwrap().at_peak.unwrap();
    let x = (u + 1.0 / 64.0).min(1.0);
    assert!(u < u_peak);
    assert!((64.0 * u / (0.073988 * (4.0 * x).exp()) - 50.0).abs() < 1e-6, "u = {u}");
    assert!((service_s - 0.073988 * (4.0 * x).exp()).abs() < 1e-9);

    // The command line says so.
    let dir = std::env::temp_dir().join(format!("faultline-slowdown-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("collapse.toml");
    std::fs::write(&path, collapsing_node(2, 170.0, 1)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline")).args(["check", path.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("capacity      {:.1} req/s ({:.1} per node)", 2.0 * max, max)), "{text}");
    assert!(text.contains("no stable point: collapses"), "{text}");
    assert!(text.contains("without it 1730.0 req/s"), "{text}");
    assert!(text.contains("OVER CAPACITY"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn simulation_collapses_above_the_effective_capacity_and_not_below() {
    // One node: at 80% of the analytic peak it settles near the stable
    // point; at 105% it collapses to every worker busy. (Between, it is
    // metastable: random bursts past the peak can tip it over, which
    // `check` flags from 85% of the peak.)
    let (max, u_peak) = grid_capacity(64.0, 0.073988);
    for seed in 1..=5 {
        let below = run(&scenario(&collapsing_node(1, 0.8 * max, seed)), 0).unwrap();
        let u = below.summary.services[0].utilization;
        assert!(u < u_peak, "seed {seed}: {:.1}/s collapsed (utilization {u:.3})", 0.8 * max);
        assert!(below.summary.success_fraction > 0.999, "seed {seed}: {}", below.summary.success_fraction);
        let above = run(&scenario(&collapsing_node(1, 1.05 * max, seed)), 0).unwrap();
        let u = above.summary.services[0].utilization;
        assert!(u > 0.9, "seed {seed}: {:.1}/s stayed up (utilization {u:.3})", 1.05 * max);
        assert!(above.summary.success_fraction < 0.5, "seed {seed}: {}", above.summary.success_fraction);
    }
}
