//! Closed-loop traffic (`users`, `population`, `think_time`) against the
//! theory of closed queueing networks, on one exponential server (1 node,
//! 1 worker, unbounded queue) with exponential think times: the
//! machine-repairman model M/M/1//N, whose exact throughput is the
//! finite-source formula, and the interactive response-time law
//! R = N/X − Z. Plus a population that changes (throughput follows, and
//! each change is an event row) and conservation (every request answered
//! once, never more than N in flight).
//!
//! Each statistical check uses R independent replications with fixed seeds
//! and a 99.9% Student t interval, like tests/validation.rs.

use faultline::Scenario;
use faultline::metrics::RunRecord;
use rayon::prelude::*;

const REPLICATIONS: u64 = 20;
/// Two-sided 99.9% Student t quantile, 19 degrees of freedom.
const T_999_DF19: f64 = 3.8834;

/// One server (mean service `service_ms`) behind `traffic` (the lines of
/// a `[traffic.users]` table), for `duration_s` seconds.
fn scenario(traffic: &str, service_ms: f64, duration_s: u64, warmup_s: u64) -> Scenario {
    let text = format!(
        r#"version = 1

[simulation]
duration = "{duration_s}s"
warmup = "{warmup_s}s"
seed = 20261203
bin = "10s"

[traffic.users]
target = "server"
{traffic}

[services.server]
nodes = 1
workers = 1
queue_capacity = "unbounded"
service_time = {{ distribution = "exponential", mean = "{service_ms}ms" }}
"#
    );
    Scenario::from_toml(&text, "closed-loop-test", None).expect("valid closed-loop scenario")
}

fn replicate(s: &Scenario) -> Vec<RunRecord> {
    (0..REPLICATIONS).into_par_iter().map(|run| faultline::run(s, run).expect("run succeeds")).collect()
}

/// Mean and 99.9% half-width over the replications.
fn interval(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, T_999_DF19 * (var / n).sqrt())
}

/// Exact throughput of M/M/1//N (machine repairman): with r = S/Z,
/// p0 = [Σ_{k=0..N} N!/(N−k)! r^k]^−1 and X = (1 − p0)/S.
fn machine_repairman_throughput(users: u32, service_s: f64, think_s: f64) -> f64 {
    let r = service_s / think_s;
    let (mut term, mut sum) = (1.0, 1.0);
    for k in 1..=users {
        term *= (users - k + 1) as f64 * r;
        sum += term;
    }
    (1.0 - 1.0 / sum) / service_s
}

/// Successful responses per second, and the mean response time [s].
fn throughput_and_response(r: &RunRecord) -> (f64, f64) {
    let s = &r.summary;
    assert_eq!(s.failed.total(), 0, "every request succeeds here");
    (s.throughput_rps, s.mean_response_ms.expect("responses") / 1e3)
}

#[test]
fn throughput_and_response_time_match_the_machine_repairman_model() {
    let (service_s, think_s) = (0.1, 1.0);
    for users in [5u32, 10] {
        let traffic = format!("users = {users}\nthink_time = {{ distribution = \"exponential\", mean = \"1s\" }}");
        let runs = replicate(&scenario(&traffic, service_s * 1e3, 20_000, 200));
        let (xs, rs): (Vec<f64>, Vec<f64>) = runs.iter().map(throughput_and_response).unzip();
        let exact_x = machine_repairman_throughput(users, service_s, think_s);
        let exact_r = users as f64 / exact_x - think_s;
        let (x, hx) = interval(&xs);
        let (r, hr) = interval(&rs);
        assert!((x - exact_x).abs() <= hx, "N = {users}: throughput {x:.4} ± {hx:.4} req/s, exact {exact_x:.4}");
        assert!((r - exact_r).abs() <= hr, "N = {users}: response time {r:.4} ± {hr:.4} s, exact {exact_r:.4}");
        // Utilization of the server is X·S.
        let us: Vec<f64> = runs.iter().map(|r| r.summary.nodes[0].utilization).collect();
        let (u, hu) = interval(&us);
        assert!((u - exact_x * service_s).abs() <= hu, "N = {users}: utilization {u:.4} ± {hu:.4}");
    }
}

#[test]
fn response_time_obeys_the_interactive_response_time_law() {
    // Any think-time distribution: the law R = N/X − Z holds regardless.
    let think_s = 1.0;
    for (users, think) in [(5u32, "{ distribution = \"exponential\", mean = \"1s\" }"), (10, "\"1s\"")] {
        let traffic = format!("users = {users}\nthink_time = {think}");
        let runs = replicate(&scenario(&traffic, 100.0, 5_000, 100));
        let (rs, law): (Vec<f64>, Vec<f64>) = runs
            .iter()
            .map(|run| {
                let (x, r) = throughput_and_response(run);
                (r, users as f64 / x - think_s)
            })
            .unzip();
        let (r, hr) = interval(&rs);
        let (l, hl) = interval(&law);
        assert!((r - l).abs() <= hr + hl, "N = {users}: R = {r:.4} ± {hr:.4} s but N/X − Z = {l:.4} ± {hl:.4} s");
    }
}

#[test]
fn throughput_follows_a_population_that_rises_and_falls() {
    // 2 users, then 20 from 1000 s, then 2 again from 2000 s; a fast server
    // (10 ms) so that 20 users are far from saturating it.
    let traffic = r#"population = [{ from = "0s", users = 2 }, { from = "1000s", users = 20 }, { from = "2000s", users = 2 }]
think_time = { distribution = "exponential", mean = "1s" }"#;
    let runs = replicate(&scenario(traffic, 10.0, 3_000, 0));
    // Bins away from the changes (the population settles within seconds).
    let rate_in = |run: &RunRecord, from_s: u64, to_s: u64| {
        let bins: Vec<_> = run
            .bins
            .iter()
            .filter(|b| b.start.0 >= from_s * 1_000_000_000 && b.end.0 <= to_s * 1_000_000_000)
            .collect();
        let done: u64 = bins.iter().map(|b| b.completed).sum();
        done as f64 / (bins.len() as f64 * 10.0)
    };
    for (users, from_s, to_s) in [(2u32, 50, 1000), (20, 1050, 2000), (2, 2050, 3000)] {
        let xs: Vec<f64> = runs.iter().map(|r| rate_in(r, from_s, to_s)).collect();
        let (x, hx) = interval(&xs);
        let exact = machine_repairman_throughput(users, 0.01, 1.0);
        assert!(
            (x - exact).abs() <= hx,
            "{users} users in {from_s}..{to_s} s: {x:.3} ± {hx:.3} req/s, exact {exact:.3}"
        );
    }
    // Each change is one event row, named after the source.
    let changes: Vec<(u64, &str)> = runs[0]
        .events
        .iter()
        .filter(|e| e.event == "traffic-change")
        .map(|e| {
            assert_eq!(e.service, "users");
            (e.t.0 / 1_000_000_000, e.detail.as_str())
        })
        .collect();
    assert_eq!(changes, [(1000, "users 2 -> 20"), (2000, "users 20 -> 2")]);
}

#[test]
fn every_request_is_answered_once_and_never_more_than_n_are_in_flight() {
    // A slow server, client timeouts, retries and a deadline: requests end
    // in every way a closed-loop user can see, and users retire mid-run.
    let traffic = r#"population = [{ from = "0s", users = 8 }, { from = "300s", users = 3 }, { from = "600s", users = 12 }]
think_time = { distribution = "uniform", min = "100ms", max = "900ms" }
timeout = "300ms"
deadline = "1s"
retry = { max_attempts = 3, base = "50ms" }"#;
    for run in replicate(&scenario(traffic, 150.0, 900, 0)) {
        let most = |t: u64| match t {
            t if t < 300 => 8,
            t if t < 600 => 8, // users above 3 retire only when their request ends
            _ => 12,
        };
        for b in &run.bins {
            let end_s = b.end.0 / 1_000_000_000;
            assert!(b.in_flight <= most(end_s), "bin ending {end_s} s: {} requests in flight", b.in_flight);
        }
        // After the fall, within a deadline every user above 3 has retired.
        for b in run.bins.iter().filter(|b| (320..600).contains(&(b.end.0 / 1_000_000_000))) {
            assert!(
                b.in_flight <= 3,
                "bin ending {} s: {} in flight with 3 users",
                b.end.0 / 1_000_000_000,
                b.in_flight
            );
        }
        let s = &run.summary;
        let failed: u64 = s.failed.total();
        assert!(s.offered > 0 && failed > 0, "the timeouts fail some requests");
        assert!(s.completed + failed <= s.offered, "answered at most once");
        assert!(s.offered - s.completed - failed <= 12, "at most N unanswered at the end");
    }
}

#[test]
fn users_can_be_overridden_like_any_integer_key() {
    use faultline::model::overrides::Override;
    let text = "version = 1\n[simulation]\nduration = \"1m\"\n[traffic.users]\nusers = 5\n\
                think_time = \"1s\"\ntarget = \"server\"\n[services.server]\n\
                service_time = { distribution = \"exponential\", mean = \"100ms\" }\n";
    let set = |value: &str| [Override { path: "traffic.users.users".into(), value: value.into() }];
    let s = Scenario::from_toml_with(text, "t.toml", None, &set("50")).expect("50 users");
    assert_eq!(s.traffic[0].closed_loop.as_ref().unwrap().population[0].users, 50);
    let err = Scenario::from_toml_with(text, "t.toml", None, &set("0")).unwrap_err().to_string();
    assert!(err.contains("traffic.users.users: must be an integer >= 1, got 0"), "{err}");
}

#[test]
fn check_gives_closed_loop_bounds_and_calls_saturation_no_overload() {
    let dir = std::env::temp_dir().join(format!("faultline-closed-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // 50 users, Z = 1 s, D = 100 ms on one worker: N/(D+Z) = 45.5 > 1/Dmax = 10.
    let path = dir.join("saturated.toml");
    std::fs::write(
        &path,
        "version = 1\n[simulation]\nduration = \"1m\"\n[traffic.users]\nusers = 50\n\
         think_time = { distribution = \"exponential\", mean = \"1s\" }\ntarget = \"server\"\n\
         [services.server]\nqueue_capacity = \"unbounded\"\n\
         service_time = { distribution = \"exponential\", mean = \"100ms\" }\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline")).arg("check").arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("closed loop, 50 users"), "{text}");
    assert!(text.contains("X <= min(N/(D+Z), 1/Dmax) = min(45.5, 10.0) = 10.0 req/s"), "{text}");
    // N* = (D+Z)/Dmax = 11 users; R >= N·Dmax − Z = 5 − 1 = 4 s.
    assert!(text.contains("N* = (D+Z)/Dmax = 11.0 users; at N = 50 the mean response time is at least 4s"), "{text}");
    assert!(text.contains("saturated by closed-loop users"), "{text}");
    assert!(!text.contains("OVERLOADED"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}
