//! Capacity and the per-bin gauges: utilization against the workers a
//! capacity fault leaves, gauges sampled just before a bin's end (a change
//! at the end instant belongs to the next bin), and `capacity_rps` as the
//! rate the system can serve the offered mix: the bottleneck of a service
//! graph, a cached callee's capacity over its fetch ratio, a serverless
//! pool's concurrency over its mean duration with cold starts, and a
//! disaster-recovery standby only once traffic goes to it.

use std::path::Path;

use faultline::metrics::{BinRow, RunRecord};
use faultline::{Scenario, run};

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text, "<test>", Some("test")).expect("valid test scenario")
}

fn model_without_faults(name: &str) -> Scenario {
    let mut s = Scenario::from_file(Path::new(&format!("models/{name}.toml"))).expect("model loads");
    s.faults.clear();
    s
}

/// Bins lying entirely within [from, to) seconds.
fn bins_within(r: &RunRecord, from: f64, to: f64) -> Vec<&BinRow> {
    r.bins.iter().filter(|b| b.start.as_secs_f64() >= from && b.end.as_secs_f64() <= to).collect()
}

fn assert_close(got: f64, want: f64, what: &str) {
    assert!((got - want).abs() <= 1e-9 * want.max(1.0), "{what}: capacity {got}, want {want}");
}

#[test]
fn utilization_is_measured_against_the_workers_a_capacity_fault_leaves() {
    // 8 workers cut to 2 at 1 s; 100 req/s of 40 ms against 50 req/s left:
    // the 2 workers stay busy, so the node is saturated.
    let s = scenario(
        r#"
version = 1
[simulation]
duration = "60s"
warmup = "5s"
seed = 1
[traffic.web]
rate = "100/s"
timeout = "1s"
target = "app"
[services.app]
nodes = 1
workers = 8
queue_capacity = 50
service_time = { distribution = "constant", value = "40ms" }
[[faults]]
kind = "capacity"
service = "app"
nodes = [0]
workers = 2
at = "1s"
"#,
    );
    let r = run(&s, 0).unwrap();
    let node = &r.summary.nodes[0];
    assert!((node.mean_available_workers - 2.0).abs() < 1e-9, "available {}", node.mean_available_workers);
    assert!(node.utilization > 0.99 && node.utilization <= 1.0 + 1e-9, "utilization {}", node.utilization);
    assert!((r.summary.services[0].utilization - node.utilization).abs() < 1e-12);
}

#[test]
fn a_crash_at_a_bin_end_shows_in_the_next_bin_only() {
    let s = scenario(
        r#"
version = 1
[simulation]
duration = "10s"
seed = 1
bin = "1s"
[traffic.web]
rate = "100/s"
timeout = "1s"
target = "app"
[services.app]
nodes = 3
workers = 8
service_time = { distribution = "exponential", mean = "10ms" }
[[faults]]
kind = "crash"
service = "app"
nodes = [0]
at = "5s"
duration = "2s"
"#,
    );
    let r = run(&s, 0).unwrap();
    let per_node = 8.0 / 0.010;
    let (before, during, after) = (&r.bins[4], &r.bins[5], &r.bins[7]);
    assert_eq!((before.start.as_secs_f64(), before.end.as_secs_f64()), (4.0, 5.0));
    assert_eq!((before.fleet.up, before.fleet.down), (3, 0), "bin [4, 5)");
    assert_close(before.fleet.capacity_rps, 3.0 * per_node, "bin [4, 5)");
    assert_eq!((during.fleet.up, during.fleet.down), (2, 1), "bin [5, 6)");
    assert_close(during.fleet.capacity_rps, 2.0 * per_node, "bin [5, 6)");
    // Back at 7 s: the bin [6, 7) still shows it down, [7, 8) up.
    assert_eq!(r.bins[6].fleet.down, 1, "bin [6, 7)");
    assert_eq!((after.fleet.up, after.fleet.down), (3, 0), "bin [7, 8)");
}

#[test]
fn a_service_graph_has_its_bottleneck_capacity_in_every_bin() {
    // gateway (2 x 64 workers, 2 ms) calls search for 60% of requests
    // (2 x 32, 10 ms), profile for 30% (2 x 16, 8 ms), payments for 10%
    // (2 x 20, 5 ms), which calls the provider (2 x 200, 100 ms).
    let s = model_without_faults("microservices");
    let want = [2.0 * 64.0 / 0.002, 2.0 * 32.0 / 0.010 / 0.6, 2.0 * 16.0 / 0.008 / 0.3, 2.0 * 20.0 / 0.005 / 0.1]
        .into_iter()
        .chain([2.0 * 200.0 / 0.100 / 0.1])
        .fold(f64::INFINITY, f64::min);
    let r = run(&s, 0).unwrap();
    for b in &r.bins {
        assert_close(b.fleet.capacity_rps, want, &format!("bin at {}", b.start.as_secs_f64()));
    }
}

#[test]
fn a_cached_callee_counts_at_its_capacity_over_its_fetch_ratio() {
    // The catalog (2 x 16 workers, 25 ms) behind a cache: every bin's
    // capacity is 1280 req/s over the share of lookups that fetched. Each
    // api request makes one lookup and each fetch one catalog attempt (no
    // retries far below saturation), so capacity × fetches = 1280 × lookups
    // up to the few calls that straddle a bin's end (api's 2 ms and the
    // lookup's 1 ms at 2000 req/s: ~6 lookups and ~0.2 fetches a bin).
    let s = model_without_faults("cache-stampede");
    let catalog = 2.0 * 16.0 / 0.025;
    let r = run(&s, 0).unwrap();
    let attempts = |bin: usize, service: u16| {
        r.service_bins.iter().find(|x| x.bin as usize == bin && x.service == service).expect("a row").attempts as f64
    };
    for (i, b) in r.bins.iter().enumerate().filter(|(_, b)| b.start.as_secs_f64() >= 60.0) {
        let goodput = b.completed as f64 / (b.end - b.start).as_secs_f64();
        assert!(goodput <= b.fleet.capacity_rps, "bin {i}: goodput {goodput} above capacity");
        let (lookups, fetches) = (attempts(i, 0), attempts(i, 1));
        let fetches_implied = catalog / b.fleet.capacity_rps * lookups;
        assert!(
            (fetches_implied - fetches).abs() <= 3.0,
            "bin {i}: {fetches} fetches, capacity implies {fetches_implied}"
        );
    }
}

#[test]
fn a_serverless_pool_counts_its_concurrency_over_its_mean_duration_with_cold_starts() {
    // 50 provisioned instances serve 20 req/s warm; a burst to 2000 req/s
    // at 30 s needs cold starts (1.5 s each) up to the limit of 200.
    let s = scenario(
        r#"
version = 1
[simulation]
duration = "60s"
seed = 3
bin = "1s"
[traffic.web]
schedule = [
  { from = "0s", rate = "20/s" },
  { from = "30s", rate = "2000/s" },
]
timeout = "10s"
target = "fn"
[services.fn]
service_time = { distribution = "constant", value = "300ms" }
[services.fn.serverless]
concurrency = 200
provisioned = 50
cold_start = { distribution = "constant", value = "1500ms" }
idle_timeout = "10m"
scaling = { rate = "100/s", burst = 1000 }
"#,
    );
    let r = run(&s, 0).unwrap();
    assert!(r.summary.serverless[0].cold_starts > 0);
    let warm = 200.0 / 0.3;
    for b in bins_within(&r, 0.0, 30.0) {
        assert_close(b.fleet.capacity_rps, warm, &format!("warm bin at {}", b.start.as_secs_f64()));
    }
    // The first burst bin starts 150 instances cold among ~2000 requests.
    let first = &r.bins[30];
    assert!(first.fleet.capacity_rps < 0.95 * warm, "burst bin: capacity {}", first.fleet.capacity_rps);
    for b in bins_within(&r, 30.0, 60.0) {
        assert!(b.fleet.capacity_rps >= 200.0 / (0.3 + 1.5) - 1e-9, "bin at {}", b.start.as_secs_f64());
        assert!(b.fleet.capacity_rps <= warm + 1e-9, "bin at {}", b.start.as_secs_f64());
    }
}

#[test]
fn a_standby_region_counts_only_once_traffic_shifts_to_it() {
    // Warm standby: the west region runs 1 node of 4 before the disaster
    // and scales up 2 min after detection; clients follow one TTL after it.
    let s = Scenario::from_file(Path::new("models/region-failover.toml")).expect("model loads");
    let r = run(&s, 0).unwrap();
    let dr = r.summary.disaster_recovery.as_ref().expect("a disaster");
    let shifted = dr.traffic_shifted_at_s.expect("traffic shifted");
    let ready = dr.standby_ready_at_s.expect("standby ready");
    let region = 4.0 * 8.0 / 0.040;
    for b in bins_within(&r, 0.0, dr.disaster_at_s) {
        assert_close(b.fleet.capacity_rps, region, &format!("bin at {} before the disaster", b.start.as_secs_f64()));
    }
    for b in bins_within(&r, dr.disaster_at_s, shifted) {
        assert_close(b.fleet.capacity_rps, 0.0, &format!("bin at {} before the shift", b.start.as_secs_f64()));
    }
    for b in bins_within(&r, shifted.max(ready), s.simulation.duration.as_secs_f64()) {
        assert_close(b.fleet.capacity_rps, region, &format!("bin at {} after the shift", b.start.as_secs_f64()));
    }
}
