//! Capacity planning (issue 7): the recommended node count for a p99 target
//! matches Erlang C, the safe load after losing one of N nodes is close to
//! (N−1)/N, a looser target never needs more nodes, and the command's exit
//! codes and files. Issue 13: a fleet whose SLO is broken by the requests
//! lost before detection, not by capacity, stops the search and says so.

use std::process::Command;

use faultline::Scenario;
use faultline::monte_carlo::Controls;
use faultline::plan::{self, PlanSpec, Vary};

/// N single-worker nodes behind a random balancer: each node is an M/M/1
/// queue fed λ/N (Poisson thinning), 10 min per run.
fn mm1_fleet(nodes: u32) -> Scenario {
    let text = format!(
        r#"version = 1
[simulation]
duration = "10m"
warmup = "30s"
seed = 11
bin = "10s"
[traffic.web]
rate = "40/s"
target = "lb"
[balancers.lb]
policy = "random"
service = "app"
[services.app]
nodes = {nodes}
workers = 1
queue_capacity = "unbounded"
service_time = {{ distribution = "exponential", mean = "100ms" }}
"#
    );
    Scenario::from_toml(&text, "<mm1-fleet>", Some("mm1-fleet")).unwrap()
}

fn spec(vary: Vary, lose: u32, availability: f64, p99_s: Option<f64>) -> PlanSpec {
    PlanSpec { service: 0, lose, availability, p99_s, confidence: 0.95, vary, max_nodes: 30, max_runs: 200, round: 25 }
}

/// Erlang C for c = 1 in closed form, independently of the code under
/// test: the response time of M/M/1 is Exp(μ − λ), so p99 = ln(100)/(μ − λ).
fn erlang_answer(lambda: f64, mu: f64, target_s: f64) -> u32 {
    (1..1000u32).find(|&n| mu > lambda / n as f64 && 100f64.ln() / (mu - lambda / n as f64) <= target_s).unwrap()
}

#[test]
fn p99_target_recommends_the_erlang_c_node_count() {
    let controls = Controls::new(2).unwrap();
    for target in [2.0, 1.0, 0.7] {
        let expected = erlang_answer(40.0, 10.0, target);
        let result =
            plan::plan(&mm1_fleet(4), &spec(Vary::Nodes, 0, 0.9, Some(target)), &controls, &mut |_| {}).unwrap();
        let got = result.recommendation.as_ref().expect("a recommendation").nodes;
        // The Erlang answer's long-run p99 and how far below the target it is.
        let p99 = 100f64.ln() / (10.0 - 40.0 / expected as f64);
        let margin = (target - p99) / target;
        // Exactly Erlang C, or one node more where the statistics cannot
        // tell: a run's p99 (from ~24,000 requests) scatters by a few % around
        // the long-run value, so within 3% of the target P(run meets it) is
        // well below 0.95 although the long-run p99 meets it.
        eprintln!(
            "p99 <= {target}s: Erlang C {expected} nodes (p99 {p99:.3}s, margin {:.1}%), plan {got}",
            margin * 100.0
        );
        assert!(
            got == expected || (got == expected + 1 && margin < 0.03),
            "p99 <= {target}s: recommended {got} nodes, Erlang C says {expected} (margin {:.1}%)",
            margin * 100.0
        );
    }
    // The first two targets have room (8% and 31%): they must match exactly.
}

#[test]
fn a_looser_target_never_needs_more_nodes() {
    let controls = Controls::new(2).unwrap();
    let mut previous = u32::MAX;
    for target in [0.6, 0.8, 1.0, 1.5, 3.0] {
        let result =
            plan::plan(&mm1_fleet(4), &spec(Vary::Nodes, 0, 0.9, Some(target)), &controls, &mut |_| {}).unwrap();
        let nodes = result.recommendation.expect("a recommendation").nodes;
        assert!(nodes <= previous, "p99 <= {target}s needs {nodes} nodes, a stricter target needed {previous}");
        previous = nodes;
    }
    // And a stricter availability target never needs fewer.
    let mut previous = 0;
    for availability in [0.9, 0.99, 0.999] {
        let s = spec(Vary::Nodes, 1, availability, Some(1.5));
        let nodes = plan::plan(&failover_fleet(4), &s, &controls, &mut |_| {}).unwrap().recommendation.unwrap().nodes;
        assert!(nodes >= previous, "availability {availability}: {nodes} nodes, a looser target needed {previous}");
        previous = nodes;
    }
}

/// N nodes of 4 workers behind a health-checked round-robin balancer, so a
/// lost node stops receiving traffic within about a second.
fn failover_fleet(nodes: u32) -> Scenario {
    fleet(
        nodes,
        "round-robin",
        r#"{ interval = "1s", timeout = "200ms", unhealthy_threshold = 1, healthy_threshold = 1, kind = "shallow" }"#,
    )
}

/// N nodes of 4 workers (40 req/s each) taking 100 req/s behind a balancer
/// with `policy` and `health_check`.
fn fleet(nodes: u32, policy: &str, health_check: &str) -> Scenario {
    let text = format!(
        r#"version = 1
[simulation]
duration = "5m"
warmup = "10s"
seed = 5
bin = "5s"
[traffic.web]
rate = "100/s"
target = "lb"
[balancers.lb]
policy = "{policy}"
service = "app"
health_check = {health_check}
[services.app]
nodes = {nodes}
workers = 4
queue_capacity = 200
service_time = {{ distribution = "exponential", mean = "100ms" }}
"#
    );
    Scenario::from_toml(&text, "<fleet>", Some("fleet")).unwrap()
}

#[test]
fn losing_one_of_n_leaves_a_safe_utilization_near_n_minus_1_over_n() {
    let controls = Controls::new(2).unwrap();
    for n in 3..=6u32 {
        let result = plan::plan(&failover_fleet(n), &spec(Vary::Rate, 1, 0.99, None), &controls, &mut |_| {}).unwrap();
        let r = result.recommendation.expect("a safe rate");
        let expected = (n - 1) as f64 / n as f64;
        eprintln!("{n} nodes: safe utilization {:.3} (N-1)/N = {expected:.3}", r.utilization);
        // Resolution: the bisection stops within 1% of the rate, and a
        // queue of 200 per node absorbs a slight overload for part of a
        // 5-minute run; both push the answer a few % around (N−1)/N.
        assert!(
            (r.utilization - expected).abs() <= 0.05 * expected,
            "{n} nodes: {:.3} vs {expected:.3}",
            r.utilization
        );
    }
}

#[test]
fn plan_command_exit_codes_and_files() {
    let out_dir = std::env::temp_dir().join(format!("faultline-plan-{}", std::process::id()));
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().unwrap();
    // At 5 min a lost node's 10 s before detection costs 4 nodes ~0.44% of
    // requests: 99.6% needs a fifth node to dilute it, though 4 have the
    // capacity (the 3 survivors alone meet the SLO), and the plan says so.
    let out = run(&[
        "plan",
        "models/three-node-cascade.toml",
        "--service",
        "app",
        "--lose",
        "1",
        "--duration",
        "5m",
        "--slo-availability",
        "99.6",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("analytic estimate:") && stdout.contains("recommendation: 5 nodes"), "{stdout}");
    assert!(stdout.contains("note: 4 nodes have the capacity (3 nodes without the loss meet the SLO"), "{stdout}");
    assert!(stdout.contains("after 2 failed checks every 5s"), "{stdout}");
    let csv = std::fs::read_to_string(out_dir.join("plan.csv")).unwrap();
    assert!(csv.starts_with("scenario,vary,value,nodes,"), "{csv}");
    assert_eq!(csv.lines().filter(|l| l.ends_with(",1")).count(), 1, "one recommended row: {csv}");
    assert!(out_dir.join("plan.png").exists() && out_dir.join("plan.svg").exists());
    // No answer within the limits: exit 1, and the best found is printed.
    let out = run(&[
        "plan",
        "models/three-node-cascade.toml",
        "--service",
        "app",
        "--lose",
        "1",
        "--duration",
        "5m",
        "--max-nodes",
        "3",
        "--no-charts",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no recommendation within the limits (best found:"));
    // Bad input: exit 2, one line.
    for (args, needle) in [
        (vec!["plan", "models/three-node-cascade.toml", "--service", "nope"], "no service \"nope\""),
        (vec!["plan", "models/three-node-cascade.toml", "--service", "app", "--confidence", "1.5"], "--confidence"),
        (vec!["plan", "models/three-node-cascade.toml", "--service", "app", "--slo-p99", "fast"], "--slo-p99"),
        (vec!["plan", "models/serverless-burst.toml", "--service", "resize", "--lose", "1"], "is serverless"),
        (vec!["plan", "models/serverless-burst.toml", "--service", "resize", "--lose", "0"], "is serverless"),
    ] {
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle) && stderr.trim_end().lines().count() == 1, "{args:?}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(out_dir);
}

/// The fleet behind a least-outstanding balancer that checks every 5 s
/// and needs 2 failures: a crashed node answers at once with an error, so
/// it looks empty and draws traffic until it leaves rotation.
fn least_outstanding_fleet(nodes: u32) -> Scenario {
    fleet(
        nodes,
        "least-outstanding",
        r#"{ interval = "5s", timeout = "1s", unhealthy_threshold = 2, healthy_threshold = 1, kind = "shallow" }"#,
    )
}

#[test]
fn an_slo_bounded_by_detection_time_stops_the_search_and_says_so() {
    let controls = Controls::new(2).unwrap();
    let s = spec(Vary::Nodes, 1, 0.999, None);
    let result = plan::plan(&least_outstanding_fleet(4), &s, &controls, &mut |_| {}).unwrap();
    let tried: Vec<(u32, f64, f64)> =
        result.candidates.iter().map(|c| (c.nodes, c.slo_met.p, c.mean_success)).collect();
    eprintln!("tried (nodes, P(SLO met), mean success): {tried:?}");
    // Capacity is not the problem: the estimate (survivors at <= 85%) fails
    // only on the requests lost before detection, and so does one node more.
    assert!(result.recommendation.is_none(), "recommended {:?}: {tried:?}", result.recommendation);
    assert_eq!(result.candidates.len(), 2, "the search stops at the first node that brings no significant rise");
    let bound = result.transition_bound.as_ref().expect("the walk stopped on a transition bound");
    assert_eq!(bound.nodes, result.candidates[1].nodes);
    assert!(bound.survivors_slo_met.ci95_low > s.confidence, "survivors alone pass: {bound:?}");
    // More nodes do raise success, by diluting the transition, which is why
    // a rule on the success fraction never stopped.
    assert!(result.candidates[1].mean_success > result.candidates[0].mean_success, "{tried:?}");
}

#[test]
fn an_unusable_output_folder_is_refused_before_the_search() {
    let file = std::env::temp_dir().join(format!("faultline-plan-file-{}", std::process::id()));
    std::fs::write(&file, "not a folder").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["plan", "models/three-node-cascade.toml", "--service", "app", "--lose", "1", "--duration", "2m"])
        .args(["--out", file.to_str().unwrap()])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(file.to_str().unwrap()) && stderr.trim_end().lines().count() == 1, "{stderr}");
    // No candidate was simulated (the old code ran the whole search first).
    assert!(!stdout.contains("P(SLO met)"), "{stdout}");
    let _ = std::fs::remove_file(file);
}
