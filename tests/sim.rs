//! Behaviour of whole runs through the library API: request conservation
//! under overload and timeouts, rate schedules, balancing policies, warm-up
//! exclusion and the static capacity analysis.

use faultline::{Scenario, analysis, run};

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text, "<test>", Some("test")).expect("valid test scenario")
}

const OVERLOADED: &str = r#"
version = 1
[simulation]
duration = "2m"
warmup = "10s"
seed = 5
[traffic.web]
rate = "500/s"
timeout = "200ms"
target = "lb"
[balancers.lb]
policy = "least-outstanding"
service = "app"
[services.app]
nodes = 2
workers = 4
queue_capacity = 20
service_time = { distribution = "exponential", mean = "20ms" }
"#;

#[test]
fn conservation_holds_under_overload_with_timeouts_and_rejections() {
    // 500 req/s against 400 req/s of capacity: queues fill, requests time
    // out while queued and are still served later, and arrivals are rejected.
    for seed in 1..=5 {
        let mut s = scenario(OVERLOADED);
        s.simulation.seed = seed;
        let r = run(&s, 0).expect("conservation holds");
        let c = &r.summary.conservation;
        assert_eq!(c.arrivals, c.completed + c.failed + c.in_flight);
        assert!(r.summary.failed.rejected > 0, "seed {seed}: expected rejections");
        assert!(r.summary.failed.timeout > 0, "seed {seed}: expected timeouts");
        assert!(r.summary.late_responses > 0, "seed {seed}: timed-out requests are still served");
        assert!(r.summary.services[0].utilization > 0.97, "saturated: {}", r.summary.services[0].utilization);
        // Per-bin counts add up to the whole-run counts.
        let offered: u64 = r.bins.iter().map(|b| b.offered).sum();
        let completed: u64 = r.bins.iter().map(|b| b.completed).sum();
        let failed: u64 = r.bins.iter().map(|b| b.failed.iter().sum::<u64>()).sum();
        assert_eq!((offered, completed, failed), (c.arrivals, c.completed, c.failed));
        assert_eq!(r.bins.last().unwrap().in_flight, c.in_flight);
        assert!(r.node_bins.iter().all(|n| n.queue_len_avg >= 0.0 && n.queue_len_avg <= 20.0));
        assert!(r.node_bins.iter().all(|n| n.busy_workers_avg >= 0.0 && n.busy_workers_avg <= 4.0 + 1e-9));
    }
}

#[test]
fn latency_never_exceeds_the_client_timeout() {
    let r = run(&scenario(OVERLOADED), 0).unwrap();
    let max_ms = r.summary.latency_ms.max.unwrap();
    // HDR reports the middle of the bucket: allow its 0.1% resolution.
    assert!(max_ms <= 200.0 * 1.001, "a completed request took {max_ms} ms, beyond its 200 ms timeout");
}

#[test]
fn rate_schedule_steps_show_in_the_time_series() {
    let s = scenario(
        r#"
version = 1
[simulation]
duration = "30s"
bin = "10s"
[traffic.web]
schedule = [ { from = "0s", rate = "100/s" }, { from = "10s", rate = "0/s" }, { from = "20s", rate = "1000/s" } ]
target = "app"
[services.app]
nodes = 1
workers = 64
queue_capacity = "unbounded"
service_time = { distribution = "constant", value = "1ms" }
"#,
    );
    let r = run(&s, 0).unwrap();
    let offered: Vec<u64> = r.bins.iter().map(|b| b.offered).collect();
    assert_eq!(offered.len(), 3);
    // Poisson counts: 4 standard deviations.
    assert!((offered[0] as f64 - 1000.0).abs() < 4.0 * 1000f64.sqrt(), "{offered:?}");
    assert_eq!(offered[1], 0);
    assert!((offered[2] as f64 - 10000.0).abs() < 4.0 * 10000f64.sqrt(), "{offered:?}");
}

#[test]
fn every_policy_spreads_identical_nodes_evenly() {
    for policy in ["round-robin", "random", "least-outstanding", "power-of-two"] {
        let text = OVERLOADED
            .replace("least-outstanding", policy)
            .replace("500/s", "300/s")
            .replace("duration = \"2m\"", "duration = \"10m\"");
        let r = run(&scenario(&text), 0).unwrap();
        let u: Vec<f64> = r.summary.nodes.iter().map(|n| n.utilization).collect();
        // 75% offered utilization; each node's share is within a few percent.
        for x in &u {
            assert!((x - 0.75).abs() < 0.03, "{policy}: utilizations {u:?}");
        }
    }
}

#[test]
fn load_aware_policies_cut_the_tail() {
    // At 90% load, routing to the least-loaded node beats blind spreading.
    let p99 = |policy: &str| {
        let text = OVERLOADED
            .replace("least-outstanding", policy)
            .replace("500/s", "360/s")
            .replace("timeout = \"200ms\"", "timeout = \"none\"")
            .replace("queue_capacity = 20", "queue_capacity = \"unbounded\"")
            .replace("duration = \"2m\"", "duration = \"20m\"");
        run(&scenario(&text), 0).unwrap().summary.latency_ms.p99.unwrap()
    };
    let (random, p2c, least) = (p99("random"), p99("power-of-two"), p99("least-outstanding"));
    assert!(p2c < random && least < random, "p99 random {random}, p2c {p2c}, least {least}");
}

#[test]
fn warmup_is_excluded_from_the_summary_only() {
    let text = OVERLOADED.replace("warmup = \"10s\"", "warmup = \"60s\"");
    let r = run(&scenario(&text), 0).unwrap();
    let after: u64 = r.bins.iter().filter(|b| b.start.0 >= 60_000_000_000).map(|b| b.offered).sum();
    assert_eq!(r.summary.offered, after);
    assert!(r.summary.conservation.arrivals > after);
    assert!((r.summary.measured_window_s - 60.0).abs() < 1e-9);
}

#[test]
fn runs_are_reproducible_and_run_indices_independent() {
    let s = scenario(OVERLOADED);
    let a = run(&s, 3).unwrap();
    let b = run(&s, 3).unwrap();
    let c = run(&s, 4).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.summary, c.summary);
}

#[test]
fn capacity_analysis_scales_survivor_load() {
    let s = scenario(&OVERLOADED.replace("nodes = 2", "nodes = 4"));
    let caps = analysis::capacity(&s);
    let app = &caps[0];
    // 4 nodes x 4 workers / 20 ms = 800 req/s; 500 req/s offered.
    assert!((app.capacity_rps - 800.0).abs() < 1e-9);
    assert!((app.utilization - 0.625).abs() < 1e-12);
    let expected = [(1, 0.625 * 4.0 / 3.0), (2, 1.25), (3, 2.5)];
    for ((k, u), (ek, eu)) in app.after_losing.iter().zip(expected) {
        assert_eq!(*k, ek);
        assert!((u - eu).abs() < 1e-12);
    }
    assert_eq!(app.breaking_point(), Some(2));
}
