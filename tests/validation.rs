//! Statistical validation against queueing theory: every case of
//! `tests/data/queueing-cases.json` (a copy of `shared/validation/cases.json`,
//! the `public` cases: M/M/1, M/M/c, M/M/c/c, M/M/c/K, M/D/1, M/G/1) is
//! simulated through the real scenario loader and engine as R independent
//! replications with fixed seeds. Each metric's 99.9% confidence interval
//! (Student t over the replications) must contain the analytic value.
//!
//! The run lengths are chosen so that the interval on the mean wait is
//! narrower than ±2% of it wherever that is affordable; for those cases the
//! test also proves it would catch a 2% systematic bias (see
//! `two_percent_bias_in_mean_wait_is_caught`).

use faultline::Scenario;
use faultline::metrics::RunSummary;
use rayon::prelude::*;
use serde_json::Value;

/// Independent replications per case (run indices 0..R of one base seed).
const REPLICATIONS: usize = 20;
/// Student t quantile for a two-sided 99.9% interval with R - 1 = 19 degrees
/// of freedom. With ~40 checks at this level, a correct simulator fails one
/// by chance with probability ~4% per seed set; the seeds are fixed, so a
/// pass is reproducible and a failure is a real signal.
const T_999_DF19: f64 = 3.8834;
const BASE_SEED: u64 = 20_261_126;

struct Case {
    id: String,
    model: String,
    lam: f64,
    c: u64,
    k: Option<u64>,
    scv: f64,
    analytic: Value,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string("tests/data/queueing-cases.json").expect("cases file");
    let json: Value = serde_json::from_str(&text).expect("cases parse");
    json["cases"]
        .as_array()
        .expect("cases array")
        .iter()
        .map(|c| Case {
            id: c["id"].as_str().unwrap().to_string(),
            model: c["model"].as_str().unwrap().to_string(),
            lam: c["lam"].as_f64().unwrap(),
            c: c["c"].as_u64().unwrap(),
            k: c["K"].as_u64(),
            scv: c["scv"].as_f64().unwrap_or(1.0),
            analytic: c["analytic"].clone(),
        })
        .collect()
}

/// Customers per replication: enough for a tight interval, scaled by how
/// slowly each case's estimators converge (heavier load, heavier tails).
fn customers_per_replication(case: &Case) -> f64 {
    match case.id.as_str() {
        "pub-mm1-r050" => 1.0e6,
        "pub-mm1-r090" => 5.0e6,
        "pub-mm4-r070" => 1.0e6,
        "pub-mm4-r095" => 5.0e6,
        "pub-mm8-8-a6" => 0.5e6,
        "pub-mm2-5-r075" => 0.5e6,
        "pub-md1-r080" => 1.0e6,
        "pub-mg1-scv4-r070" => 5.0e6,
        _ => 1.0e6,
    }
}

/// The case as a scenario file, in units where the mean service time is 1 s.
fn scenario_text(case: &Case) -> String {
    let customers = customers_per_replication(case);
    let duration_s = (customers / case.lam).ceil();
    let warmup_s = (duration_s * 0.02).ceil();
    let queue = match (case.model.as_str(), case.k) {
        ("mmcc", _) => "0".to_string(),
        ("mmck", Some(k)) => (k - case.c).to_string(),
        _ => "\"unbounded\"".to_string(),
    };
    let service = if case.model == "mg1" {
        if case.scv == 0.0 {
            "{ distribution = \"constant\", value = \"1s\" }".to_string()
        } else {
            format!("{{ distribution = \"lognormal\", mean = \"1s\", cv = {} }}", case.scv.sqrt())
        }
    } else {
        "{ distribution = \"exponential\", mean = \"1s\" }".to_string()
    };
    format!(
        r#"version = 1
[simulation]
duration = "{duration_s}s"
warmup = "{warmup_s}s"
seed = {BASE_SEED}
bin = "1h"

[traffic.arrivals]
rate = "{lam}/s"
target = "station"

[services.station]
workers = {c}
queue_capacity = {queue}
service_time = {service}
"#,
        lam = case.lam,
        c = case.c,
    )
}

fn replicate(case: &Case) -> Vec<RunSummary> {
    let scenario = Scenario::from_toml(&scenario_text(case), &case.id, Some(&case.id)).expect("case scenario is valid");
    (0..REPLICATIONS as u64)
        .into_par_iter()
        .map(|run| faultline::run(&scenario, run).expect("run succeeds").summary)
        .collect()
}

/// Mean and 99.9% half-width of a metric over the replications.
fn interval(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, T_999_DF19 * (var / n).sqrt())
}

struct Check {
    case: String,
    metric: &'static str,
    analytic: f64,
    mean: f64,
    half_width: f64,
}

impl Check {
    fn passes(&self) -> bool {
        (self.mean - self.analytic).abs() <= self.half_width
    }
}

/// Simulated metric (seconds for times, since 1/mu = 1 s) by analytic key.
fn simulated(key: &str, s: &RunSummary) -> Option<f64> {
    let secs = |ms: Option<f64>| ms.map(|v| v / 1e3);
    match key {
        "Wq" => secs(s.mean_wait_ms),
        "W" => secs(s.mean_response_ms),
        "P_wait" | "P_wait_accepted" => s.p_wait,
        "P_block" => Some(s.rejection_fraction),
        "utilization" => Some(s.nodes[0].utilization),
        "Wq_p99" => secs(s.wait_ms.p99),
        "W_p99" => secs(s.latency_ms.p99),
        _ => None,
    }
}

const METRICS: [&str; 8] = ["Wq", "W", "P_wait", "P_wait_accepted", "P_block", "utilization", "Wq_p99", "W_p99"];

fn checks_for(case: &Case, runs: &[RunSummary]) -> Vec<Check> {
    let mut out = Vec::new();
    for metric in METRICS {
        let Some(analytic) = case.analytic[metric].as_f64() else { continue };
        let xs: Vec<f64> = runs.iter().map(|s| simulated(metric, s).expect("metric present")).collect();
        let (mean, half_width) = interval(&xs);
        out.push(Check { case: case.id.clone(), metric, analytic, mean, half_width });
    }
    out
}

fn all_checks() -> &'static Vec<(Check, bool)> {
    use std::sync::OnceLock;
    static CHECKS: OnceLock<Vec<(Check, bool)>> = OnceLock::new();
    CHECKS.get_or_init(|| {
        let mut out = Vec::new();
        for case in cases() {
            let runs = replicate(&case);
            for check in checks_for(&case, &runs) {
                let ok = check.passes();
                out.push((check, ok));
            }
        }
        if std::env::var_os("FAULTLINE_VALIDATION_REPORT").is_some() {
            for (c, ok) in &out {
                eprintln!(
                    "{:<20} {:<16} analytic {:>10.5}  sim {:>10.5} ± {:<9.5} ({:>6.2}%)  {}",
                    c.case,
                    c.metric,
                    c.analytic,
                    c.mean,
                    c.half_width,
                    if c.analytic != 0.0 { 100.0 * c.half_width / c.analytic } else { 0.0 },
                    if *ok { "ok" } else { "FAIL" }
                );
            }
        }
        out
    })
}

#[test]
fn simulated_metrics_agree_with_queueing_theory() {
    let failures: Vec<String> = all_checks()
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(c, _)| {
            format!(
                "{} {}: analytic {} outside simulated {:.5} ± {:.5}",
                c.case, c.metric, c.analytic, c.mean, c.half_width
            )
        })
        .collect();
    assert!(failures.is_empty(), "{} checks failed:\n{}", failures.len(), failures.join("\n"));
    assert!(all_checks().len() >= 30, "expected a check per metric and case");
}

/// Every case with a non-zero mean wait: the run lengths above make each
/// one's interval narrow enough to catch a 2% bias.
const BIAS_SENSITIVE_CASES: [&str; 7] = [
    "pub-mm1-r050",
    "pub-mm1-r090",
    "pub-mm4-r070",
    "pub-mm4-r095",
    "pub-mm2-5-r075",
    "pub-md1-r080",
    "pub-mg1-scv4-r070",
];

#[test]
fn two_percent_bias_in_mean_wait_is_caught() {
    for id in BIAS_SENSITIVE_CASES {
        let (c, _) = all_checks()
            .iter()
            .find(|(c, _)| c.case == id && c.metric == "Wq")
            .unwrap_or_else(|| panic!("no Wq check for {id}"));
        // A simulator whose mean wait were 2% off would have produced an
        // interval around 1.02·Wq (or 0.98·Wq); it must exclude the truth.
        for factor in [0.98, 1.02] {
            let biased = Check { mean: c.mean * factor, ..Check { case: c.case.clone(), ..*c } };
            assert!(
                !biased.passes(),
                "{id}: a {factor} bias in the mean wait would pass (half-width {:.3}% of Wq)",
                100.0 * c.half_width / c.analytic
            );
        }
    }
}

#[test]
fn vendored_cases_match_shared_copy() {
    // The copy under tests/data keeps the suite self-contained; when the
    // shared folder is beside the checkout, it must not have drifted.
    let shared = std::path::Path::new("../shared/validation/cases.json");
    if let Ok(original) = std::fs::read_to_string(shared) {
        let ours = std::fs::read_to_string("tests/data/queueing-cases.json").unwrap();
        assert_eq!(original, ours, "tests/data/queueing-cases.json differs from ../shared/validation/cases.json");
    }
}
