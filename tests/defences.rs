//! Client- and server-side defences in whole runs: circuit breaker,
//! adaptive throttling, queue-timeout shedding, LIFO under overload,
//! slowdown under load, OOM kills from a memory leak, and a partner's rate
//! limit.

use faultline::metrics::RunRecord;
use faultline::{Scenario, run};

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text, "<test>", Some("test")).expect("valid test scenario")
}

fn served(r: &RunRecord) -> u64 {
    r.summary.nodes.iter().map(|n| n.served).sum()
}

/// 200 req/s to 2 nodes that answer every request with an error from 30 s
/// to 90 s, then recover. `client` adds lines to the [traffic.web] table.
fn failing_backend(client: &str) -> Scenario {
    failing_backend_for("3m", client)
}

fn failing_backend_for(duration: &str, client: &str) -> Scenario {
    scenario(&format!(
        r#"
version = 1
[simulation]
duration = "{duration}"
[traffic.web]
rate = "200/s"
target = "app"
{client}
[services.app]
nodes = 2
workers = 8
service_time = {{ distribution = "exponential", mean = "10ms" }}
[[faults]]
kind = "errors"
service = "app"
nodes = "all"
fraction = 1.0
at = "30s"
duration = "60s"
"#
    ))
}

#[test]
fn circuit_breaker_opens_probes_and_closes_again() {
    let r = run(
        &failing_backend(
            "circuit_breaker = { failure_rate_threshold = 0.5, window = 50, minimum_calls = 20, open_duration = \"10s\", half_open_calls = 5 }",
        ),
        0,
    )
    .unwrap();
    let states: Vec<&str> =
        r.events.iter().filter(|e| e.event == "breaker").map(|e| e.detail.rsplit(' ').next().unwrap()).collect();
    assert_eq!(states.first(), Some(&"open"), "{states:?}");
    assert!(states.windows(2).any(|w| w == ["open", "half-open"]));
    assert!(states.windows(2).any(|w| w == ["half-open", "open"]), "trials while the backend is still failing");
    assert_eq!(states.last(), Some(&"closed"), "closes once the backend recovers: {states:?}");
    assert!(r.summary.failed.circuit_open > 5_000);
    // While open, attempts do not reach the backend: it sees only the
    // half-open trials (5 every 10 s), not the 200 req/s.
    let failed_error_during: u64 = r.bins[35..85].iter().map(|b| b.failed[3]).sum();
    assert!(failed_error_during < 200, "only trial calls reach the failing backend: {failed_error_during}");
    // After recovery everything succeeds again.
    assert!(r.bins[100..].iter().all(|b| b.completed + 5 >= b.offered));
}

#[test]
fn adaptive_throttling_sheds_locally_when_the_backend_refuses() {
    let plain = run(&failing_backend_for("10m", ""), 0).unwrap();
    let throttled = run(&failing_backend_for("10m", "throttling = { k = 2.0, window = \"30s\" }"), 0).unwrap();
    assert!(throttled.summary.failed.throttled > 5_000);
    // Far fewer attempts hit the failing backend.
    assert!(throttled.summary.failed.error < plain.summary.failed.error / 2);
    // After the backend recovers (90 s), the few attempts let through are
    // accepted and the pass rate grows exponentially, (2·accepts + 1) /
    // (requests + 1) per attempt: full traffic returns a few windows later.
    let late = &throttled.bins[300..];
    assert!(late.iter().all(|b| b.completed as f64 >= 0.95 * b.offered as f64 - 5.0));
    let just_after = &throttled.bins[95..100];
    assert!(just_after.iter().all(|b| b.completed < b.offered / 2), "recovery is gradual, not instant");
}

fn overloaded(extra: &str) -> Scenario {
    // 500 req/s offered to 400 req/s of capacity, clients waiting 300 ms.
    scenario(&format!(
        r#"
version = 1
[simulation]
duration = "2m"
warmup = "20s"
[traffic.web]
rate = "500/s"
timeout = "300ms"
target = "app"
[services.app]
nodes = 1
workers = 8
queue_capacity = 1000
service_time = {{ distribution = "exponential", mean = "20ms" }}
{extra}
"#
    ))
}

#[test]
fn queue_timeout_sheds_stale_requests() {
    let r = run(&overloaded("queue_timeout = \"100ms\""), 0).unwrap();
    assert!(r.summary.failed.shed > 1_000);
    let p99_wait = r.summary.wait_ms.p99.unwrap();
    assert!(p99_wait <= 100.0 * 1.001, "served requests waited at most the queue timeout: {p99_wait}");
    // Shedding stale work turns the overload into goodput at capacity.
    let fifo = run(&overloaded(""), 0).unwrap();
    assert!(r.summary.throughput_rps > 350.0, "{}", r.summary.throughput_rps);
    assert!(
        fifo.summary.throughput_rps < 100.0,
        "plain FIFO serves only stale requests: {}",
        fifo.summary.throughput_rps
    );
}

#[test]
fn lifo_under_overload_serves_fresh_requests() {
    let fifo = run(&overloaded(""), 0).unwrap();
    let lifo = run(&overloaded("queue_order = \"adaptive-lifo\"\nlifo_threshold = 16"), 0).unwrap();
    assert!(
        lifo.summary.throughput_rps > 3.0 * fifo.summary.throughput_rps,
        "adaptive LIFO {} vs FIFO {}",
        lifo.summary.throughput_rps,
        fifo.summary.throughput_rps
    );
}

#[test]
fn slowdown_under_load_raises_latency_and_utilization() {
    let text = |extra: &str| {
        format!(
            r#"
version = 1
[simulation]
duration = "5m"
warmup = "30s"
[traffic.web]
rate = "250/s"
target = "app"
[services.app]
workers = 8
queue_capacity = "unbounded"
service_time = {{ distribution = "exponential", mean = "20ms" }}
{extra}
"#
        )
    };
    let plain = run(&scenario(&text("")), 0).unwrap();
    let contended =
        run(&scenario(&text("slowdown = { by = \"concurrency\", factor = 0.5, exponent = 2 }")), 0).unwrap();
    let (u0, u1) = (plain.summary.services[0].utilization, contended.summary.services[0].utilization);
    assert!((u0 - 0.625).abs() < 0.02, "{u0}");
    assert!(u1 > u0 + 0.05, "contention makes the same load cost more: {u0} -> {u1}");
    assert!(contended.summary.mean_response_ms.unwrap() > 1.2 * plain.summary.mean_response_ms.unwrap());
}

#[test]
fn a_memory_leak_ends_in_oom_kills_and_restarts() {
    let r = run(
        &scenario(
            r#"
version = 1
[simulation]
duration = "10m"
[traffic.web]
rate = "100/s"
target = "app"
[services.app]
workers = 4
service_time = { distribution = "exponential", mean = "10ms" }
memory = { limit_mb = 1024, baseline_mb = 256, per_request_mb = 1, leak_per_request_mb = 0.05 }
restart = { delay = "5s", crash_loop_backoff = false }
"#,
        ),
        0,
    )
    .unwrap();
    let ooms: Vec<f64> = r.summary.node_deaths.iter().filter(|d| d.cause.starts_with("oom")).map(|d| d.t_s).collect();
    // ~768 MB of headroom / (0.05 MB x 100 req/s) = ~154 s to the first kill,
    // then ~159 s per cycle (5 s down + 154 s up): 3 kills in 10 minutes.
    assert_eq!(ooms.len(), 3, "{ooms:?}");
    assert!((ooms[0] - 153.6).abs() < 10.0, "{ooms:?}");
    // Requests sent while the node is down (3 x 5 s at 100 req/s) are
    // refused, plus the few in flight at each kill (Poisson: 4 sd ~ 155).
    let reset = r.summary.failed.reset as f64;
    assert!((reset - 1500.0).abs() < 200.0, "{reset}");
    assert!(served(&r) > 50_000);
}

#[test]
fn predictive_restarts_fail_fewer_requests_than_oom_kills() {
    let s = Scenario::from_file(std::path::Path::new("models/memory-leak.toml")).unwrap();
    for seed in 1..=3 {
        let mut s = s.clone();
        s.simulation.seed = seed;
        let r = run(&s, 0).unwrap();
        let by = |name: &str| r.summary.traffic.iter().find(|t| t.source == name).unwrap().clone();
        let (reactive, predictive) = (by("to-reactive"), by("to-predictive"));
        assert!(
            predictive.failed * 10 < reactive.failed,
            "seed {seed}: predictive failed {} vs reactive {}",
            predictive.failed,
            reactive.failed
        );
        assert!(r.summary.node_deaths.iter().all(|d| d.service == "reactive"), "predictive nodes never OOM");
        assert!(r.events.iter().any(|e| e.event == "stopped" && e.service == "predictive"));
    }
}

#[test]
fn memory_leaking_with_time_is_killed_on_schedule() {
    // 512 MB of headroom at 1 MB/s: the OOM kill comes at 512 s (memory is
    // checked every second), then every 512 s + restart after that.
    let r = run(
        &scenario(
            r#"
version = 1
[simulation]
duration = "15m"
[traffic.web]
rate = "10/s"
target = "app"
[services.app]
workers = 4
service_time = { distribution = "exponential", mean = "10ms" }
memory = { limit_mb = 1024, baseline_mb = 512, leak_mb_per_s = 1.0 }
restart = { delay = "10s", crash_loop_backoff = false }
"#,
        ),
        0,
    )
    .unwrap();
    let times: Vec<f64> = r.summary.node_deaths.iter().map(|d| d.t_s).collect();
    assert_eq!(times.len(), 1, "{times:?}");
    assert!((times[0] - 512.0).abs() <= 1.0, "{times:?}");
}

#[test]
fn deep_liveness_probes_restart_a_hung_node() {
    let r = run(
        &scenario(
            r#"
version = 1
[simulation]
duration = "5m"
[traffic.web]
rate = "100/s"
timeout = "1s"
target = "app"
[services.app]
nodes = 2
workers = 4
service_time = { distribution = "exponential", mean = "10ms" }
liveness = { interval = "10s", timeout = "1s", failure_threshold = 3, kind = "deep" }
[[faults]]
kind = "slow"
service = "app"
nodes = [1]
factor = 500.0
at = "60s"
duration = "60s"
"#,
        ),
        0,
    )
    .unwrap();
    let deaths = &r.summary.node_deaths;
    assert!(!deaths.is_empty());
    assert!(deaths.iter().all(|d| d.node == 1 && d.cause.starts_with("liveness")), "{deaths:?}");
    // Three failed probes, 10 s apart, after the node hung at 60 s.
    assert!(deaths[0].t_s >= 80.0 && deaths[0].t_s <= 92.0, "{deaths:?}");
    assert!(deaths.iter().all(|d| d.t_s < 150.0), "once the fault is over the node stays up: {deaths:?}");
}

/// 150 req/s against a partner whose quota is 100/s (burst 20).
fn rate_limited_partner(client_extra: &str) -> Scenario {
    scenario(&format!(
        r#"version = 1
[simulation]
duration = "5m"
warmup = "10s"
seed = 3
bin = "1s"
[traffic.web]
rate = "150/s"
target = "partner"
{client_extra}
[services.partner]
nodes = 2
workers = 16
service_time = {{ distribution = "exponential", mean = "20ms" }}
rate_limit = {{ rate = "100/s", burst = 20 }}
"#
    ))
}

#[test]
fn a_rate_limit_caps_throughput_and_fails_the_excess_as_its_own_cause() {
    let r = run(&rate_limited_partner(""), 0).unwrap();
    let s = &r.summary;
    let measured = s.measured_window_s;
    // A token bucket passes at most rate x time + burst; with 150/s offered
    // it is never idle, so throughput sits at the quota.
    assert!(s.completed as f64 <= 100.0 * measured + 20.0 + 1.0, "{} completed in {measured}s", s.completed);
    assert!(s.throughput_rps > 98.0 && s.throughput_rps <= 100.5, "throughput {}", s.throughput_rps);
    assert_eq!(s.failed.total(), s.failed.rate_limited, "every failure is rate_limited: {:?}", s.failed);
    let share = s.failed.rate_limited as f64 / s.offered as f64;
    assert!((share - 1.0 / 3.0).abs() < 0.02, "a third over the quota: {share}");
    // Same seed, same result.
    assert_eq!(run(&rate_limited_partner(""), 0).unwrap().summary, r.summary);
}

#[test]
fn retrying_rate_limited_calls_amplifies_load_but_not_goodput() {
    let retry =
        "retry = { max_attempts = 3, backoff = \"exponential\", base = \"100ms\", cap = \"1s\", jitter = \"full\" }";
    let r = run(&rate_limited_partner(retry), 0).unwrap();
    let s = &r.summary;
    assert!(s.retry_amplification > 1.3, "retries of rate-limited calls: amplification {}", s.retry_amplification);
    assert!(s.throughput_rps <= 100.5, "the quota still caps goodput: {}", s.throughput_rps);
    // Retrying only timeouts leaves rate-limited calls failed at once.
    let timeouts_only = "retry = { max_attempts = 3, retry_on = [\"timeout\"] }";
    let t = run(&rate_limited_partner(timeouts_only), 0).unwrap();
    assert!(t.summary.retry_amplification < 1.001, "{}", t.summary.retry_amplification);
}
