//! Starting from an observed state (`[initial]`): a queue started with k
//! customers drains as M/M/1 theory says; a backlog older than the client
//! timeout times out at once; nodes down or restarting at t = 0 come back
//! by the restart rules; caches start cold, warm or at a hit ratio; a
//! database mid-failover takes writes only once the promotion is over.
//! `run` checks request conservation on every replication.

use faultline::metrics::RunRecord;
use faultline::model::FailureCause;
use faultline::{Scenario, run};
use rayon::prelude::*;

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text, "<test>", Some("test")).expect("valid test scenario")
}

/// Normal quantile for two-sided 99.9% intervals.
const Z: f64 = 3.29;

/// When the single node of `r` is first idle: the first bin in which it
/// was busy less than all the time. Up to then it was busy throughout, so
/// the moment lies in [bin start, bin start + busy time of that bin].
fn first_empty(r: &RunRecord) -> Option<(f64, f64)> {
    let width = r.bin.as_secs_f64();
    r.node_bins.iter().find(|b| b.busy_workers_avg < 1.0 - 1e-12).map(|b| {
        let start = b.bin as f64 * width;
        (start, start + b.busy_workers_avg * width)
    })
}

/// M/M/1 started with k customers: the time until it first empties is a
/// busy period started by k customers, with mean k / (μ − λ) and variance
/// k (1 + ρ) / (μ² (1 − ρ)³).
#[test]
fn mm1_started_with_k_customers_empties_after_k_over_mu_minus_lambda() {
    for (lambda, mu, k) in [(2.0, 10.0, 100u32), (8.0, 10.0, 20)] {
        let s = scenario(&format!(
            r#"
version = 1
[simulation]
duration = "3m"
seed = 1
bin = "10ms"
[traffic.clients]
rate = "{lambda}/s"
target = "server"
[services.server]
nodes = 1
workers = 1
queue_capacity = "unbounded"
service_time = {{ distribution = "exponential", mean = "{}ms" }}
[initial.services.server]
backlog = {k}
"#,
            1000.0 / mu
        ));
        let runs = 600u64;
        let times: Vec<(f64, f64)> = (0..runs)
            .into_par_iter()
            .map(|i| first_empty(&run(&s, i).expect("conserved")).expect("the queue empties within the run"))
            .collect();
        let n = runs as f64;
        let (low, high): (Vec<f64>, Vec<f64>) = times.into_iter().unzip();
        let mean_low = low.iter().sum::<f64>() / n;
        let mean_high = high.iter().sum::<f64>() / n;
        let var = low.iter().map(|t| (t - mean_low).powi(2)).sum::<f64>() / (n - 1.0);
        let half_width = Z * (var / n).sqrt();
        let rho = lambda / mu;
        let expected = k as f64 / (mu - lambda);
        let expected_var = k as f64 * (1.0 + rho) / (mu * mu * (1.0 - rho).powi(3));
        assert!(
            mean_low - half_width <= expected && expected <= mean_high + half_width,
            "λ={lambda} μ={mu} k={k}: E[T0] = {expected:.3} s, measured in [{mean_low:.3}, {mean_high:.3}] ± {half_width:.3}"
        );
        // The spread too: the sample variance of n draws is within ~Z
        // standard errors (kurtosis-sized) of the theory; a loose sanity
        // check that the backlog is k customers, not a few.
        assert!(
            (var / expected_var - 1.0).abs() < 0.35,
            "λ={lambda} μ={mu} k={k}: Var[T0] = {expected_var:.3}, measured {var:.3}"
        );
    }
}

/// Requests queued for longer than the client waits have all timed out by
/// t = 0: each fails once with `timeout`, none succeeds; the nodes still
/// serve them (late responses).
#[test]
fn a_backlog_older_than_the_timeout_times_out_at_once() {
    let s = scenario(
        r#"
version = 1
[simulation]
duration = "20s"
seed = 3
bin = "100ms"
[traffic.web]
rate = "1/s"
timeout = "1s"
target = "app"
[services.app]
nodes = 2
workers = 1
queue_capacity = "unbounded"
service_time = { distribution = "constant", value = "10ms" }
[initial.services.app]
backlog = 300
backlog_age = { distribution = "uniform", min = "1s", max = "3s" }
"#,
    );
    for i in 0..5 {
        let r = run(&s, i).expect("conserved");
        let first = &r.bins[0];
        assert!(first.offered >= 300, "the backlog counts as offered at t = 0");
        assert_eq!(first.failed[FailureCause::Timeout as usize], 300, "every queued request times out at t = 0");
        assert_eq!(first.completed, 0);
        let total_timeouts: u64 = r.bins.iter().map(|b| b.failed[FailureCause::Timeout as usize]).sum();
        let c = &r.summary.conservation;
        assert_eq!(c.arrivals, c.completed + c.failed + c.in_flight);
        assert!(total_timeouts >= 300);
        // The nodes still work through every request that timed out (the
        // backlog, and arrivals queued behind it): each comes back late.
        let late: u64 = r.bins.iter().map(|b| b.late_responses).sum();
        assert_eq!(late, total_timeouts);
        let t0: Vec<_> = r.events.iter().filter(|e| e.t.0 == 0).map(|e| e.event).collect();
        assert!(t0.contains(&"initial-backlog"), "t = 0 rows: {t0:?}");
    }
}

/// The age counts toward the queue timeout: with 1.5 s gone of a 2 s
/// queue timeout, a node serving 100 ms at a time starts the requests it
/// reaches by 0.5 s and sheds the rest; latencies include the age.
#[test]
fn a_backlog_age_counts_toward_queue_timeout_and_latency() {
    let s = scenario(
        r#"
version = 1
[simulation]
duration = "5s"
seed = 3
bin = "1s"
[traffic.web]
rate = "0.001/s"
target = "app"
[services.app]
nodes = 1
workers = 1
queue_capacity = "unbounded"
queue_timeout = "2s"
service_time = { distribution = "constant", value = "100ms" }
[initial.services.app]
backlog = 20
backlog_age = "1.5s"
"#,
    );
    let r = run(&s, 0).expect("conserved");
    let shed: u64 = r.bins.iter().map(|b| b.failed[FailureCause::Shed as usize]).sum();
    let ok: u64 = r.bins.iter().map(|b| b.completed).sum();
    // Started at 0, 0.1, ..., 0.5 s (waited 1.5 to 2.0 s); shed at 0.6 s.
    assert_eq!((ok, shed), (6, 14));
    // Latencies 1.6 s to 2.1 s: the first completes 100 ms after t = 0.
    let max = r.summary.latency_ms.max.expect("latencies");
    assert!((max - 2100.0).abs() < 5.0, "max latency {max} ms");
}

/// Down at t = 0: restarts by the service's restart rule (crash-loop
/// back-off 10 s + start-up 5 s); restarting: up after `restart_in`.
#[test]
fn nodes_down_or_restarting_at_t0_come_back_by_the_restart_rules() {
    let s = scenario(
        r#"
version = 1
[simulation]
duration = "30s"
seed = 2
bin = "1s"
[traffic.web]
rate = "50/s"
target = "app"
[services.app]
nodes = 3
workers = 4
service_time = { distribution = "exponential", mean = "10ms" }
restart = { delay = "5s", backoff_initial = "10s" }
[initial.services.app]
down = [0]
restarting = [2]
restart_in = "7s"
"#,
    );
    let r = run(&s, 0).expect("conserved");
    let rows = |node: u32, event: &str| -> Vec<f64> {
        r.events.iter().filter(|e| e.node == Some(node) && e.event == event).map(|e| e.t.as_secs_f64()).collect()
    };
    assert_eq!(rows(0, "crash"), vec![0.0]);
    assert_eq!(rows(0, "up"), vec![15.0], "back-off 10 s + start-up 5 s");
    assert_eq!(rows(2, "crash"), vec![0.0]);
    assert_eq!(rows(2, "up"), vec![7.0]);
    assert!(rows(1, "crash").is_empty());
    // The restarting node is out of rotation: nothing is reset on it.
    let up_frac =
        |node: u32, bin: u32| r.node_bins.iter().find(|b| b.node == node && b.bin == bin).unwrap().up_fraction;
    assert_eq!((up_frac(0, 3), up_frac(2, 3), up_frac(1, 3)), (0.0, 0.0, 1.0));
    assert_eq!((up_frac(0, 20), up_frac(2, 10)), (1.0, 1.0));
    assert_eq!(r.bins[3].fleet.down, 2);
}

/// The hit ratio over the first second: cold starts low, warm near 1, and
/// `cache_hit_ratio = 0.6` at 0.6 (plus at most what the first second's
/// misses fill: each adds at most the popularity of the most popular key
/// not held).
#[test]
fn caches_start_cold_warm_or_at_a_hit_ratio() {
    let keys = 100_000u32;
    let make = |start: &str| {
        scenario(&format!(
            r#"
version = 1
[simulation]
duration = "1s"
seed = 4
bin = "1s"
[traffic.web]
rate = "200/s"
target = "api"
[services.api]
nodes = 2
workers = 8
service_time = {{ distribution = "constant", value = "1ms" }}
calls = [{{ target = "catalog" }}]
[services.catalog]
nodes = 2
workers = 8
service_time = {{ distribution = "constant", value = "5ms" }}
cache = {{ keys = {keys}, zipf = 1.0, ttl = "1h" }}
[initial.services.catalog]
{start}
"#
        ))
    };
    let runs = 40u64;
    let ratio = |s: &Scenario| -> (f64, f64, f64) {
        let per_run: Vec<(u64, u64)> = (0..runs)
            .into_par_iter()
            .map(|i| {
                let c = &run(s, i).expect("conserved").summary.caches[0];
                (c.hits, c.lookups)
            })
            .collect();
        let (hits, lookups): (u64, u64) = per_run.iter().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        let p = hits as f64 / lookups as f64;
        (p, Z * (p * (1.0 - p) / lookups as f64).sqrt(), lookups as f64 / runs as f64)
    };
    let (cold, _, _) = ratio(&make("cache = \"cold\""));
    let (warm, _, _) = ratio(&make("cache = \"warm\""));
    let (part, tol, lookups_per_run) = ratio(&make("cache_hit_ratio = 0.6"));
    // Zipf(1) over the keys: the filled head reaches 0.6 and the next key's
    // popularity bounds how much each miss can add.
    let total: f64 = (1..=keys).map(|k| 1.0 / k as f64).sum();
    let (mut covered, mut filled) = (0.0, 0u32);
    while covered / total < 0.6 {
        filled += 1;
        covered += 1.0 / filled as f64;
    }
    let start = covered / total;
    let next = 1.0 / (filled as f64 + 1.0) / total;
    let drift = next * lookups_per_run / 2.0;
    assert!(
        start - tol <= part && part <= start + drift + tol,
        "hit ratio {part:.4}, expected {start:.4} (+ up to {drift:.4}) ± {tol:.4}"
    );
    assert!(warm > 0.99, "warm {warm}");
    assert!(cold < 0.45, "cold {cold}");
}

/// A database whose primary failed before t = 0: `promoting` with 5 s
/// left takes its first write at 5 s, `detecting` with 3 s left then a
/// 6 s promotion at 9 s; reads go on meanwhile.
#[test]
fn a_database_mid_failover_takes_writes_only_after_the_promotion() {
    for (phase, remaining, promoted) in [("promoting", "5s", 5.0), ("detecting", "3s", 9.0)] {
        let s = scenario(&format!(
            r#"
version = 1
[simulation]
duration = "15s"
seed = 6
bin = "500ms"
[traffic.api]
rate = "200/s"
timeout = "2s"
target = "api"
[services.api]
nodes = 2
workers = 16
service_time = {{ distribution = "exponential", mean = "5ms" }}
database = {{ name = "orders", write_ratio = 0.3, pool = 10 }}
[databases.orders]
replicas = 2
read_time = {{ distribution = "exponential", mean = "2ms" }}
write_time = {{ distribution = "exponential", mean = "4ms" }}
failover_detection = "10s"
failover_promotion = "6s"
[initial.databases.orders]
failover = "{phase}"
failover_remaining = "{remaining}"
"#
        ));
        let r = run(&s, 0).expect("conserved");
        let first_write = r.bins.iter().find(|b| b.db_writes > 0).map(|b| b.start.as_secs_f64());
        assert_eq!(first_write, Some(promoted), "{phase}: first bin with a write");
        let f = &r.summary.databases[0].failovers[0];
        assert_eq!(f.promoted_at_s, Some(promoted));
        assert!(f.primary_failed_at_s < 0.0, "failed before t = 0: {}", f.primary_failed_at_s);
        let before = &r.bins[1];
        assert!(before.completed > 0, "{phase}: reads succeed during the failover");
        assert!(before.failed[FailureCause::Error as usize] > 0, "{phase}: writes fail during the failover");
    }
}

/// No `[initial]`: the same scenario as before, field for field.
#[test]
fn an_empty_initial_section_changes_nothing() {
    let base = r#"
version = 1
[simulation]
duration = "20s"
seed = 9
[traffic.web]
rate = "300/s"
timeout = "500ms"
target = "app"
[services.app]
nodes = 2
workers = 4
service_time = { distribution = "exponential", mean = "20ms" }
"#;
    let with = format!("{base}[initial.services.app]\n");
    let (a, b) = (run(&scenario(base), 0).unwrap(), run(&scenario(&with), 0).unwrap());
    assert_eq!(a.summary, b.summary);
    assert_eq!(a.bins, b.bins);
}
