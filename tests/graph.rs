//! Service graphs in whole runs: retries multiplying across layers,
//! parallel calls waiting for all or the first k (against order
//! statistics), bulkheads isolating request classes from a hung
//! dependency, request class mixes, a partner's rate limit seen through a
//! caller, and conservation and determinism across the graph.

use faultline::metrics::{ClassSummary, RunRecord};
use faultline::{Scenario, run};

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text, "<test>", Some("test")).expect("valid test scenario")
}

fn model(name: &str) -> String {
    std::fs::read_to_string(format!("{}/models/{name}", env!("CARGO_MANIFEST_DIR"))).expect("model file")
}

fn class<'a>(r: &'a RunRecord, name: &str) -> &'a ClassSummary {
    r.summary.classes.iter().find(|c| c.class == name).expect("class in summary")
}

/// Client -> a -> b -> c, each layer allowing 4 attempts, and c failing
/// every request (`bottom` is the fault). Arrivals stop at 40 s of 60 s,
/// so every request has finished by the end.
fn three_layers(bottom: &str) -> Scenario {
    let retry = r#"{ max_attempts = 4, backoff = "constant", base = "1ms", jitter = "none" }"#;
    scenario(&format!(
        r#"version = 1
[simulation]
duration = "60s"
seed = 5
[traffic.web]
schedule = [{{ from = "0s", rate = "5/s" }}, {{ from = "40s", rate = "0/s" }}]
target = "a"
retry = {retry}
[services.a]
workers = 100
service_time = {{ distribution = "constant", value = "1ms" }}
calls = [{{ target = "b", retry = {retry} }}]
[services.b]
workers = 100
service_time = {{ distribution = "constant", value = "1ms" }}
calls = [{{ target = "c", retry = {retry} }}]
[services.c]
workers = 100
service_time = {{ distribution = "constant", value = "1ms" }}
[[faults]]
service = "c"
nodes = "all"
at = "0s"
{bottom}
"#
    ))
}

#[test]
fn retries_at_three_layers_multiply_to_64_attempts_at_the_bottom() {
    for bottom in [
        r#"kind = "errors"
fraction = 1.0"#,
        r#"kind = "crash""#,
    ] {
        let r = run(&three_layers(bottom), 0).unwrap();
        let s = &r.summary;
        assert!(s.offered > 150, "{}", s.offered);
        assert_eq!(s.completed, 0, "{bottom}");
        assert_eq!(s.failed.total(), s.offered, "every request finished, and failed: {bottom}");
        let attempts: Vec<u64> = s.services.iter().map(|x| x.attempts).collect();
        assert_eq!(attempts, vec![4 * s.offered, 16 * s.offered, 64 * s.offered], "{bottom}");
        let amplification: Vec<f64> = s.services.iter().map(|x| x.amplification).collect();
        assert_eq!(amplification, vec![4.0, 16.0, 64.0], "{bottom}");
        for call in &s.calls {
            assert_eq!(call.attempts_per_call, 4.0, "{call:?}");
            assert_eq!(call.failed, call.calls, "{call:?}");
        }
        // The client sees the bottom's failure: an error, or a refused connection.
        let cause = if bottom.contains("errors") { s.failed.error } else { s.failed.reset };
        assert_eq!(cause, s.offered, "{bottom}: {:?}", s.failed);
    }
}

/// A front end (1 ms) that calls three backends at once, each answering in
/// exponential(30 ms) with workers to spare, and waits for `wait_for`.
fn fan_out(wait_for: u32) -> Scenario {
    let backend = |name: &str| {
        format!(
            "[services.{name}]\nworkers = 1000\nqueue_capacity = 0\nservice_time = {{ distribution = \"exponential\", mean = \"30ms\" }}\n"
        )
    };
    scenario(&format!(
        r#"version = 1
[simulation]
duration = "10m"
warmup = "10s"
seed = 9
[traffic.web]
rate = "100/s"
target = "front"
[services.front]
workers = 1000
queue_capacity = 0
service_time = {{ distribution = "constant", value = "1ms" }}
calls = [{{ parallel = [{{ target = "b1" }}, {{ target = "b2" }}, {{ target = "b3" }}], wait_for = {wait_for} }}]
{}{}{}"#,
        backend("b1"),
        backend("b2"),
        backend("b3")
    ))
}

#[test]
fn parallel_calls_wait_for_the_kth_answer() {
    // The k-th smallest of 3 exponentials of mean θ: mean θ·Σ_{i<k} 1/(3−i),
    // variance θ²·Σ_{i<k} 1/(3−i)².
    let theta = 30.0;
    for (k, mean, var) in [
        (1u32, theta / 3.0, theta * theta / 9.0),
        (2, theta * (1.0 / 3.0 + 1.0 / 2.0), theta * theta * (1.0 / 9.0 + 1.0 / 4.0)),
        (3, theta * (1.0 / 3.0 + 1.0 / 2.0 + 1.0), theta * theta * (1.0 / 9.0 + 1.0 / 4.0 + 1.0)),
    ] {
        let r = run(&fan_out(k), 0).unwrap();
        let s = &r.summary;
        assert_eq!(s.completed, s.offered - s.conservation.in_flight.min(s.offered), "k={k}");
        let n = s.completed as f64;
        let expected = 1.0 + mean; // the front end's own 1 ms first
        let got = s.mean_response_ms.unwrap();
        let tolerance = 4.0 * (var / n).sqrt();
        assert!((got - expected).abs() < tolerance, "k={k}: mean {got:.3} ms, expected {expected:.3} ± {tolerance:.3}");
        // Each call is abandoned when k others answered first: with 3
        // exchangeable calls, probability (3 − k)/3.
        for call in &s.calls {
            let p = (3 - k) as f64 / 3.0;
            let observed = call.abandoned as f64 / call.calls as f64;
            let sd = (p * (1.0 - p) / call.calls as f64).sqrt();
            assert!((observed - p).abs() <= 4.0 * sd + 1e-3, "k={k}: {call:?}");
        }
    }
}

#[test]
fn bulkheads_keep_classes_away_from_a_hung_dependency() {
    let with = model("microservices.toml");
    // The same model with every `, bulkhead = N` taken out.
    let mut without = with.clone();
    while let Some(at) = without.find(", bulkhead = ") {
        let digits = without[at + 13..].chars().take_while(char::is_ascii_digit).count();
        without.replace_range(at..at + 13 + digits, "");
    }
    assert!(with.contains(", bulkhead = ") && !without.contains(", bulkhead = "));
    let monolith = model("monolith.toml");
    for seed in [1u64, 2, 3] {
        let load = |text: &str| {
            let mut sc = Scenario::from_toml(text, "<model>", Some("m")).unwrap();
            sc.simulation.seed = seed;
            run(&sc, 0).unwrap()
        };
        let r = load(&with);
        for name in ["search", "profile"] {
            let c = class(&r, name);
            assert!(c.success_fraction >= 0.99, "seed {seed}, bulkheads: {c:?}");
        }
        assert!(class(&r, "payment").success_fraction < 0.8, "the payment class does fail");
        assert!(r.summary.failed.bulkhead > 0);
        for (what, r) in [("no bulkheads", load(&without)), ("monolith", load(&monolith))] {
            for name in ["search", "profile"] {
                let c = class(&r, name);
                assert!(c.success_fraction < 0.9, "seed {seed}, {what}: {name} should drop: {c:?}");
            }
        }
    }
}

#[test]
fn request_classes_follow_their_weights_and_paths() {
    let r = run(
        &scenario(
            r#"version = 1
[simulation]
duration = "5m"
seed = 2
[traffic.web]
rate = "200/s"
target = "front"
classes = { read = 7, write = 2, admin = 1 }
[services.front]
workers = 64
service_time = { distribution = "exponential", mean = "1ms" }
calls = [
  { target = "store", classes = ["write"] },
  { target = "audit", classes = ["write", "admin"] },
]
[services.store]
workers = 64
service_time = { distribution = "exponential", mean = "5ms" }
[services.audit]
workers = 64
service_time = { distribution = "exponential", mean = "5ms" }
"#,
        ),
        0,
    )
    .unwrap();
    let s = &r.summary;
    let total: u64 = s.classes.iter().map(|c| c.offered).sum();
    assert_eq!(total, s.offered);
    for (name, p) in [("read", 0.7), ("write", 0.2), ("admin", 0.1)] {
        let observed = class(&r, name).offered as f64 / total as f64;
        let sd = (p * (1.0f64 - p) / total as f64).sqrt();
        assert!((observed - p).abs() < 4.0 * sd, "{name}: {observed} vs {p}");
    }
    // Only writes reach the store; writes and admin calls reach the audit log.
    let calls = |callee: &str| s.calls.iter().find(|c| c.callee == callee).unwrap().calls;
    let started_after = |name: &str| class(&r, name).offered;
    let near = |a: u64, b: u64| a.abs_diff(b) <= 20; // requests straddling the end
    assert!(near(calls("store"), started_after("write")), "{} vs {}", calls("store"), started_after("write"));
    assert!(near(calls("audit"), started_after("write") + started_after("admin")));
    // Reads skip both calls and are faster.
    assert!(class(&r, "read").latency_ms.p50.unwrap() < class(&r, "write").latency_ms.p50.unwrap());
}

#[test]
fn a_partners_quota_reaches_the_client_as_rate_limited() {
    let r = run(
        &scenario(
            r#"version = 1
[simulation]
duration = "2m"
seed = 4
[traffic.web]
rate = "150/s"
target = "shop"
[services.shop]
workers = 64
service_time = { distribution = "exponential", mean = "2ms" }
calls = [{ target = "partner", timeout = "1s" }]
[services.partner]
workers = 64
service_time = { distribution = "exponential", mean = "20ms" }
rate_limit = { rate = "100/s", burst = 20 }
"#,
        ),
        0,
    )
    .unwrap();
    let s = &r.summary;
    assert_eq!(s.failed.total(), s.failed.rate_limited, "{:?}", s.failed);
    let share = s.failed.rate_limited as f64 / s.offered as f64;
    assert!((share - 1.0 / 3.0).abs() < 0.02, "a third of the calls exceed the quota: {share}");
}

/// Everything at once: classes, a parallel first-k step, retries with a
/// budget, timeouts, bulkheads, and a middle layer that crashes at random.
fn tangled() -> Scenario {
    scenario(
        r#"version = 1
[simulation]
duration = "3m"
warmup = "10s"
seed = 21
bin = "1s"
[traffic.web]
rate = "300/s"
timeout = "800ms"
target = "edge"
retry = { max_attempts = 3, budget = { kind = "ratio", ratio = 0.2 } }
classes = { browse = 5, buy = 1 }
[balancers.mid-lb]
service = "mid"
policy = "least-outstanding"
outlier_detection = { consecutive_errors = 5 }
[services.edge]
nodes = 2
workers = 32
service_time = { distribution = "exponential", mean = "2ms" }
calls = [
  { target = "mid-lb", timeout = "300ms", retry = { max_attempts = 3 }, bulkhead = 12 },
  { parallel = [{ target = "x" }, { target = "y", timeout = "100ms" }, { target = "z" }], wait_for = 2, classes = ["buy"] },
]
[services.mid]
nodes = 3
workers = 8
service_time = { distribution = "lognormal", mean = "12ms", cv = 1.5 }
calls = [{ target = "x", timeout = "200ms", retry = { max_attempts = 2 } }]
[services.x]
nodes = 2
workers = 16
service_time = { distribution = "exponential", mean = "5ms" }
[services.y]
workers = 8
service_time = { distribution = "exponential", mean = "40ms" }
[services.z]
workers = 8
service_time = { distribution = "exponential", mean = "10ms" }
[[faults]]
kind = "random-crashes"
service = "mid"
nodes = "all"
mtbf = "30s"
mttr = "5s"
at = "20s"
"#,
    )
}

#[test]
fn the_graph_conserves_requests_and_calls_and_is_deterministic() {
    let sc = tangled();
    for i in 0..3 {
        // `run` checks request and call conservation itself and errs on a breach.
        let r = run(&sc, i).unwrap_or_else(|e| panic!("run {i}: {e}"));
        let s = &r.summary;
        assert!(!r.summary.node_deaths.is_empty(), "run {i}: the middle layer crashed");
        assert!(s.calls.iter().any(|c| c.abandoned > 0), "run {i}: first-k and crashes abandon calls");
        assert!(s.calls.iter().any(|c| c.attempts > c.calls), "run {i}: calls were retried");
        let c = &s.conservation;
        assert_eq!(c.arrivals, c.completed + c.failed + c.in_flight);
        assert_eq!(run(&sc, i).unwrap(), r, "run {i} repeats exactly");
    }
}

/// 1000 calls/s through a look-aside cache of `keys` uniform keys with a
/// 60 s TTL, flushed at 5 min; `extra` adds lines to the cache table.
fn cached_store(seed: u64, cache: &str, backend: &str) -> Scenario {
    scenario(&format!(
        r#"version = 1
[simulation]
duration = "6m"
warmup = "3m"
seed = {seed}
bin = "1s"
[traffic.web]
rate = "1000/s"
target = "front"
[services.front]
workers = 2000
queue_capacity = 0
service_time = {{ distribution = "constant", value = "1ms" }}
calls = [{{ target = "store" }}]
[services.store]
workers = 2000
queue_capacity = 0
service_time = {backend}
cache = {cache}
[[faults]]
kind = "cache-flush"
service = "store"
at = "5m"
"#
    ))
}

/// Requests the store served in each 1 s bin.
fn store_load(r: &RunRecord) -> Vec<u64> {
    let store = r.nodes.iter().position(|n| n.service == "store").unwrap() as u32;
    r.node_bins.iter().filter(|b| b.node == store).map(|b| b.served).collect()
}

#[test]
fn a_cache_flush_multiplies_the_backing_load_by_one_over_the_miss_ratio() {
    // Uniform keys: each of K keys is asked for at λ/K; an entry serves
    // λT/K hits per fetch on average, so the hit ratio is h = x/(1+x) with
    // x = λT/K = 3: h = 0.75 and the store sees λ(1 − h) = 250/s. Right
    // after a flush every key misses until fetched again: over the next Δ
    // the store sees the distinct keys asked for, K(1 − e^(−λΔ/K)) ≈ λΔ.
    let (lambda, keys, ttl) = (1000.0f64, 20000.0f64, 60.0f64);
    let x = lambda * ttl / keys;
    let h = x / (1.0 + x);
    let backend = r#"{ distribution = "exponential", mean = "5ms" }"#;
    let (mut pre, mut first, mut first3, mut settled) = (0u64, 0u64, 0u64, 0u64);
    let seeds = [1u64, 2, 3, 4, 5];
    for &seed in &seeds {
        let r = run(&cached_store(seed, r#"{ keys = 20000, ttl = "60s" }"#, backend), 0).unwrap();
        let load = store_load(&r);
        pre += load[180..300].iter().sum::<u64>();
        first += load[300];
        first3 += load[300..303].iter().sum::<u64>();
        settled += load[340..350].iter().sum::<u64>();
        assert_eq!(r.summary.failed.total(), 0, "no failures");
    }
    let n = seeds.len() as f64;
    // Counts are close to Poisson: tolerance 4 standard deviations.
    let near = |got: u64, expected: f64, what: &str| {
        let tol = 4.0 * expected.sqrt();
        assert!((got as f64 - expected).abs() < tol, "{what}: {got} vs {expected:.0} ± {tol:.0}");
    };
    let pre_rate = lambda * (1.0 - h);
    near(pre, pre_rate * 120.0 * n, "steady load before the flush");
    near(first3, keys * (1.0 - (-lambda * 3.0 / keys).exp()) * n, "load in the 3 s after the flush");
    // "About 1/(1 − h)": the first second after the flush against the steady rate.
    let ratio = (first as f64 / n) / (pre as f64 / 120.0 / n);
    assert!((ratio * (1.0 - h) - 1.0).abs() < 0.1, "spike {ratio:.2}x vs 1/(1 - h) = {:.2}", 1.0 / (1.0 - h));
    // Warmed again 40-50 s later: most keys fetched since, not yet expired.
    assert!((settled as f64 / 10.0) < pre as f64 / 120.0, "{settled} over 10 s vs {pre} over 120 s");
}

#[test]
fn coalescing_turns_a_stampede_on_hot_keys_into_one_fetch_per_key() {
    // 1000 keys by Zipf popularity and a slow store (1 s): after the
    // flush, hot keys are asked for many times while their fetch is out.
    let backend = r#"{ distribution = "constant", value = "1s" }"#;
    let plain = run(&cached_store(1, r#"{ keys = 1000, zipf = 1.1, ttl = "60s" }"#, backend), 0).unwrap();
    let coalesced =
        run(&cached_store(1, r#"{ keys = 1000, zipf = 1.1, ttl = "60s", coalescing = true }"#, backend), 0).unwrap();
    // Fetches sent in the 2 s after the flush, answered 1 s later.
    let burst = |r: &RunRecord| store_load(r)[301..303].iter().sum::<u64>();
    let (a, b) = (burst(&plain), burst(&coalesced));
    assert!(b <= 1000, "at most one fetch per key: {b}");
    assert!((b as f64) < 0.5 * a as f64, "coalescing {b} vs {a} without");
    // Every miss fetches, unless it joined a fetch under way.
    for r in [&plain, &coalesced] {
        let cache = &r.summary.caches[0];
        let store = r.summary.services.iter().find(|s| s.service == "store").unwrap();
        assert!(store.attempts.abs_diff(cache.misses - cache.coalesced) <= 2, "{cache:?} vs {}", store.attempts);
    }
    assert!(coalesced.summary.caches[0].coalesced > 0);
    assert_eq!(plain.summary.caches[0].coalesced, 0);
    for r in [&plain, &coalesced] {
        assert_eq!(r.summary.failed.total(), 0, "waiters share the fetch's answer");
    }
}

#[test]
fn batches_report_per_class_and_per_service_metrics() {
    let sc = Scenario::from_toml(&model("microservices.toml"), "<model>", Some("m")).unwrap();
    let batch = faultline::monte_carlo::run_batch(&sc, 2, 2).unwrap();
    let metric = |name: &str| {
        batch.summary.metrics.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}")).1.mean
    };
    assert!(metric("class.search.success_fraction") >= 0.99);
    assert!(metric("class.payment.success_fraction") < 0.8);
    assert!((metric("service.search.amplification") - 0.6).abs() < 0.01);
    let runs = String::from_utf8(faultline::report::batch_runs_csv(&batch)).unwrap();
    let header = runs.lines().next().unwrap();
    assert!(header.ends_with("service.search.amplification,rto_censored_s"), "{header}");
    assert_eq!(runs.lines().nth(1).unwrap().split(',').count(), header.split(',').count());
}

#[test]
fn the_steady_hit_ratio_matches_the_ttl_cache_model() {
    // Poisson calls with keys drawn independently make each key's requests
    // Poisson, so the hit ratio of a TTL cache is Σ p_k·x_k/(1 + x_k), x_k =
    // rate·p_k·TTL: what `faultline check` computes.
    let text = r#"version = 1
[simulation]
duration = "6m"
warmup = "1m"
seed = 8
[traffic.web]
rate = "500/s"
target = "front"
[services.front]
workers = 1000
queue_capacity = 0
service_time = { distribution = "constant", value = "1ms" }
calls = [{ target = "store" }]
[services.store]
workers = 1000
queue_capacity = 0
service_time = { distribution = "exponential", mean = "5ms" }
cache = { keys = 10000, zipf = 0.8, ttl = "30s" }
"#;
    let sc = scenario(text);
    let expected = faultline::analysis::cache_hit_ratio(sc.services[1].cache.as_ref().unwrap(), 500.0);
    let ratios: Vec<f64> = (0..6).map(|i| run(&sc, i).unwrap().summary.caches[0].hit_ratio).collect();
    let n = ratios.len() as f64;
    let mean = ratios.iter().sum::<f64>() / n;
    let sd = (ratios.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    // 99.9% t interval over 6 runs (t = 6.87 at 5 degrees of freedom).
    let half = 6.87 * sd / n.sqrt();
    assert!((mean - expected).abs() < half, "hit ratio {mean:.4} vs model {expected:.4} ± {half:.4}");
    assert!(expected > 0.5 && expected < 0.95, "a ratio that tells the model apart: {expected}");
}

#[test]
fn calls_to_a_database_write_to_the_primary_and_read_through_its_cache() {
    // 400 calls/s, 20% writes; the primary crashes at 90 s and a replica
    // is promoted 30 s later (10 s detection + 20 s promotion).
    let r = run(
        &scenario(
            r#"version = 1
[simulation]
duration = "3m"
seed = 4
bin = "1s"
[traffic.web]
rate = "400/s"
target = "app"
timeout = "2s"
[services.app]
nodes = 2
workers = 32
service_time = { distribution = "exponential", mean = "2ms" }
calls = [{ target = "db", write_ratio = 0.2, timeout = "1s" }]
[databases.db]
replicas = 2
workers = 16
read_time = { distribution = "exponential", mean = "5ms" }
write_time = { distribution = "exponential", mean = "10ms" }
cache = { keys = 5000, ttl = "30s" }
[[faults]]
kind = "crash"
service = "db"
nodes = [0]
at = "90s"
"#,
        ),
        0,
    )
    .unwrap();
    let s = &r.summary;
    let calls = s.calls[0].calls as f64;
    let cache = &s.caches[0];
    let db = &s.databases[0];
    let within = |got: f64, p: f64, n: f64, what: &str| {
        let tol = 4.0 * (n * p * (1.0 - p)).sqrt();
        assert!((got - n * p).abs() < tol, "{what}: {got} vs {:.0} ± {tol:.0}", n * p);
    };
    // Reads go through the cache; writes bypass it and are acknowledged by
    // the primary, except the ones that failed during the failover.
    within(cache.lookups as f64, 0.8, calls, "reads");
    within((db.writes_acked + s.failed.reset) as f64, 0.2, calls, "writes");
    // Only writes fail, for the 30 s without a primary: 400/s × 20% × 30 s.
    let expected = 400.0 * 0.2 * 30.0;
    assert!((s.failed.reset as f64 - expected).abs() < 4.0 * expected.sqrt(), "{:?}", s.failed);
    assert_eq!(s.failed.total(), s.failed.reset);
    assert_eq!(db.failovers.len(), 1);
}

#[test]
fn a_bulkhead_never_lets_more_calls_out_than_its_limit() {
    // One caller node with a bulkhead of 5 in front of a dependency that
    // never answers (no timeout): 5 calls hang, every later one is refused.
    let r = run(
        &scenario(
            r#"version = 1
[simulation]
duration = "1m"
seed = 3
[traffic.web]
rate = "50/s"
target = "front"
[services.front]
workers = 1000
queue_capacity = 0
service_time = { distribution = "constant", value = "1ms" }
calls = [{ target = "hung", bulkhead = 5 }]
[services.hung]
workers = 1000
service_time = { distribution = "constant", value = "1h" }
"#,
        ),
        0,
    )
    .unwrap();
    let call = &r.summary.calls[0];
    assert_eq!(call.attempts, 5, "{call:?}");
    assert_eq!(call.bulkhead_refused, call.calls - 5, "{call:?}");
    assert_eq!(r.summary.failed.bulkhead, r.summary.offered - 5);
    assert_eq!(r.summary.conservation.in_flight, 5);
}

/// A warm cache holding 750 of 1000 uniform keys (so h = 3/4) in front of a
/// store that answers every fetch with an error; clients try 3 times.
fn cached_failing_store(seed: u64) -> Scenario {
    scenario(&format!(
        r#"version = 1
[simulation]
duration = "2m"
warmup = "0s"
seed = {seed}
bin = "1s"
[traffic.web]
rate = "1000/s"
target = "front"
retry = {{ max_attempts = 3, retry_on = ["error"], backoff = "constant", base = "10ms" }}
[services.front]
workers = 2000
queue_capacity = 0
service_time = {{ distribution = "constant", value = "1ms" }}
calls = [{{ target = "store" }}]
[services.store]
workers = 2000
queue_capacity = 0
service_time = {{ distribution = "constant", value = "1ms" }}
cache = {{ keys = 1000, capacity = 750, ttl = "10h" }}
[[faults]]
kind = "errors"
service = "store"
nodes = "all"
fraction = 1.0
at = "0s"
"#
    ))
}

#[test]
fn a_retried_miss_asks_for_the_same_key_and_misses_again() {
    // The key belongs to the client request: a request whose key is cached
    // succeeds at once, one whose key is not misses on every attempt (the
    // store never fills it). So success is the hit ratio h, not the
    // 1 − (1 − h)^3 = 0.984 of retries that each draw a fresh key.
    for seed in 1..=3 {
        let r = run(&cached_failing_store(seed), 0).unwrap();
        let s = &r.summary;
        let cache = &s.caches[0];
        let failed = s.offered - s.completed;
        eprintln!("seed {seed}: success {:.4}, {failed} failed, {cache:?}", s.success_fraction);
        // Entries expire uniformly over the 10 h TTL: over 2 min h falls
        // from 0.75 by at most 0.75 x 2/600, 0.0025 (0.00125 on average).
        let h = 0.75 * (1.0 - 0.5 * 2.0 / 600.0);
        let sd = (h * (1.0 - h) / s.offered as f64).sqrt();
        assert!((s.success_fraction - h).abs() < 4.0 * sd + 0.00125, "seed {seed}: {} vs {h}", s.success_fraction);
        // Every success hit once; every failed request missed 3 times
        // (bar the few still retrying when the run ends: at 1000/s, those
        // of the last ~30 ms).
        assert_eq!(cache.hits, s.completed, "seed {seed}");
        assert!(cache.misses <= 3 * failed && 3 * failed - cache.misses <= 100, "seed {seed}: {}", cache.misses);
    }
}

#[test]
fn calls_and_their_outcomes_are_counted_over_the_same_window() {
    // With a warm-up, a call started before its end and answered after it
    // belongs to neither window's outcomes but its own: every call's
    // outcomes fit within its calls (the rest were in flight at the end).
    let s = scenario(&model("microservices.toml"));
    assert!(!s.simulation.warmup.is_zero(), "the model has a warm-up");
    for seed in 0..3 {
        let r = run(&s, seed).unwrap();
        for c in &r.summary.calls {
            let outcomes = c.succeeded + c.failed + c.abandoned;
            assert!(
                outcomes <= c.calls,
                "run {seed}, {} -> {}: {outcomes} outcomes of {} calls",
                c.caller,
                c.callee,
                c.calls
            );
            assert!(c.attempts >= c.calls - c.bulkhead_refused, "run {seed}: {c:?}");
        }
    }
}

/// web -> front -> back, `back` 20 times slower (fault `slow`) from 20 s
/// to 40 s: its answers take ~200 ms but all succeed. `front`'s call
/// breaker counts calls over 100 ms as slow.
fn slow_dependency(breaker: &str) -> Scenario {
    scenario(&format!(
        r#"version = 1
[simulation]
duration = "80s"
seed = 11
[traffic.web]
rate = "50/s"
target = "front"
[services.front]
nodes = 2
workers = 200
service_time = {{ distribution = "constant", value = "1ms" }}
calls = [{{ target = "back", circuit_breaker = {breaker} }}]
[services.back]
nodes = 2
workers = 200
service_time = {{ distribution = "exponential", mean = "10ms" }}
[[faults]]
kind = "slow"
service = "back"
nodes = "all"
factor = 20
at = "20s"
duration = "20s"
"#
    ))
}

#[test]
fn slow_calls_open_a_call_breaker_that_fails_fast_until_the_callee_recovers() {
    let count = r#"{ slow_call_duration = "100ms", slow_call_rate_threshold = 0.5, window = 20, minimum_calls = 10, open_duration = "5s", half_open_calls = 5 }"#;
    let time = r#"{ window_type = "time", window = 2, slow_call_duration = "100ms", slow_call_rate_threshold = 0.5, minimum_calls = 10, open_duration = "5s", half_open_calls = 5 }"#;
    for breaker in [count, time] {
        let r = run(&slow_dependency(breaker), 0).unwrap();
        let f = &r.summary.failed;
        // No call failed: the breaker opened on slow calls alone, and every
        // failure is the breaker failing fast.
        assert!(f.circuit_open > 0, "{breaker}: {f:?}");
        assert_eq!(f.total(), f.circuit_open, "{breaker}: only circuit_open: {f:?}");
        let opened = |e: &&faultline::metrics::LoggedEvent| e.event == "breaker" && e.detail.ends_with(" open");
        let first_open = r.events.iter().find(opened).expect("the breaker opened").t.as_secs_f64();
        assert!((20.0..22.0).contains(&first_open), "{breaker}: opened at {first_open}");
        assert!(r.events.iter().all(|e| e.service == "front" || e.event != "breaker"), "the caller's breaker");
        // Before the fault and once the callee recovered (the breaker closed
        // after a half-open trial), every request succeeds.
        for b in r.bins.iter().filter(|b| b.start.as_secs_f64() < 20.0 || b.start.as_secs_f64() >= 50.0) {
            assert_eq!(b.failed.iter().sum::<u64>(), 0, "{breaker}: bin at {:?}", b.start);
        }
        let closed = r.events.iter().filter(|e| e.event == "breaker" && e.detail.ends_with(" closed")).count();
        assert!(closed >= 2, "both front nodes' breakers close again: {closed}");
        // While open, requests fail at once instead of waiting 200 ms.
        let during: Vec<_> = r.bins.iter().filter(|b| (25.0..40.0).contains(&b.start.as_secs_f64())).collect();
        let failed: u64 = during.iter().map(|b| b.failed.iter().sum::<u64>()).sum();
        let answered: u64 = during.iter().map(|b| b.completed).sum::<u64>() + failed;
        assert!(failed as f64 > 0.5 * answered as f64, "{breaker}: mostly failing fast: {failed} of {answered}");
    }
    // Without the breaker the same run has no failures at all: slow is not failed.
    let plain = slow_dependency("{ slow_call_rate_threshold = 1.0 }");
    assert_eq!(run(&plain, 0).unwrap().summary.failed.total(), 0);
}
