//! Serverless pools in whole runs: cold starts in the first burst and not
//! in a warm (provisioned) pool, idle timeouts, the scaling rate, and the
//! concurrency limit as an Erlang loss system.

use faultline::metrics::RunRecord;
use faultline::{Scenario, run};

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text, "<test>", Some("test")).expect("valid test scenario")
}

/// Silence, then 100 req/s of 20 ms requests from 60 s to `stop`, silence
/// again, and another burst at `again`; cold starts take exactly 500 ms.
fn bursts(pool: &str, stop: &str, again: &str) -> RunRecord {
    let sc = scenario(&format!(
        r#"version = 1
[simulation]
duration = "5m"
seed = 1
bin = "1s"
[traffic.web]
schedule = [
  {{ from = "0s", rate = "0/s" }},
  {{ from = "60s", rate = "100/s" }},
  {{ from = "{stop}", rate = "0/s" }},
  {{ from = "{again}", rate = "100/s" }},
]
target = "fn"
[services.fn]
service_time = {{ distribution = "constant", value = "20ms" }}
serverless = {{ concurrency = 200, cold_start = {{ distribution = "constant", value = "500ms" }}, {pool} }}
"#
    ));
    run(&sc, 0).unwrap()
}

fn p50_ms(r: &RunRecord, bin: usize) -> f64 {
    r.bins[bin].latency_p50.expect("requests completed in the bin").as_millis_f64()
}

#[test]
fn the_first_burst_pays_the_cold_start_and_a_warm_pool_does_not() {
    let cold = bursts(r#"idle_timeout = "10m""#, "4m", "4m30s");
    // The first requests each start an instance: 500 ms + 20 ms.
    assert_eq!(p50_ms(&cold, 60), 520.0);
    // A second later enough instances are warm: 20 ms.
    assert_eq!(p50_ms(&cold, 62), 20.0);
    let p = &cold.summary.serverless[0];
    // ~100/s x 0.52 s of instances were needed before the first came free.
    assert!((40..=70).contains(&p.cold_starts), "{p:?}");
    assert_eq!(p.throttled, 0);
    // Provisioned instances are warm before the burst.
    let warm = bursts(r#"idle_timeout = "10m", provisioned = 100"#, "4m", "4m30s");
    assert_eq!(p50_ms(&warm, 60), 20.0);
    assert_eq!(warm.summary.serverless[0].cold_starts, 0);
    let worst = warm.bins.iter().filter_map(|b| b.latency_p99).max().unwrap();
    assert_eq!(worst.as_millis_f64(), 20.0, "no request of a warm pool waits for a start");
}

#[test]
fn instances_idle_past_the_timeout_are_reclaimed_and_start_cold_again() {
    // Quiet from 2 min to 4 min: 2 min of idleness.
    let reclaimed = bursts(r#"idle_timeout = "1m""#, "2m", "4m");
    assert_eq!(p50_ms(&reclaimed, 240), 520.0, "the second burst is cold again");
    assert!(reclaimed.summary.serverless[0].reclaimed >= 40);
    let kept = bursts(r#"idle_timeout = "3m""#, "2m", "4m");
    assert_eq!(p50_ms(&kept, 240), 20.0, "instances idle less than the timeout are still warm");
}

#[test]
fn the_scaling_rate_throttles_a_burst_until_the_pool_has_grown() {
    // 200 req/s of 100 ms needs ~20 instances; the platform starts 5 at
    // once and then 1 a second, so the pool throttles for ~15 s.
    let sc = scenario(
        r#"version = 1
[simulation]
duration = "2m"
seed = 2
bin = "1s"
[traffic.web]
rate = "200/s"
target = "fn"
[services.fn]
service_time = { distribution = "exponential", mean = "100ms" }
serverless = { concurrency = 1000, cold_start = { distribution = "constant", value = "100ms" }, scaling = { rate = "1/s", burst = 5 } }
"#,
    );
    let r = run(&sc, 0).unwrap();
    let rejected = |from: usize, to: usize| r.bins[from..to].iter().map(|b| b.failed[1]).sum::<u64>();
    assert!(rejected(0, 5) > 500, "throttled at first: {}", rejected(0, 5));
    assert_eq!(rejected(60, 120), 0, "a grown pool throttles nothing");
    let p = &r.summary.serverless[0];
    assert_eq!(p.throttled, r.summary.failed.rejected, "throttling is the only failure");
    // Instances grew at the scaling rate: 5 at once, then about one a second.
    assert!(p.peak_instances >= 20 && p.peak_instances <= 5 + 60, "{p:?}");
}

#[test]
fn a_pool_at_its_concurrency_limit_is_an_erlang_loss_system() {
    // Warm and free to scale, a pool of at most c instances with no queue is
    // M/G/c/c: the throttled fraction is Erlang B(c, λ·S), whatever the
    // service-time distribution.
    let (c, lambda, mean_s) = (20u32, 180.0, 0.1);
    let expected = faultline::analysis::erlang_b(c, lambda * mean_s);
    let text = format!(
        r#"version = 1
[simulation]
duration = "20m"
warmup = "1m"
seed = 30
[traffic.web]
rate = "{lambda}/s"
target = "fn"
[services.fn]
service_time = {{ distribution = "lognormal", mean = "100ms", cv = 1.5 }}
serverless = {{ concurrency = {c}, cold_start = {{ distribution = "constant", value = "1us" }}, idle_timeout = "1h", scaling = {{ rate = "1000/s", burst = 1000 }} }}
"#
    );
    let sc = scenario(&text);
    let fractions: Vec<f64> = (0..8)
        .map(|i| {
            let s = run(&sc, i).unwrap().summary;
            s.failed.rejected as f64 / s.offered as f64
        })
        .collect();
    let n = fractions.len() as f64;
    let mean = fractions.iter().sum::<f64>() / n;
    let sd = (fractions.iter().map(|f| (f - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    // 99.9% t interval over 8 independent runs (t = 5.41 at 7 degrees of freedom).
    let half = 5.41 * sd / n.sqrt();
    assert!((mean - expected).abs() < half, "throttled {mean:.5} vs Erlang B {expected:.5} ± {half:.5}");
}
