//! Monte Carlo batches (issue 5, first part): thread-count independence and
//! the aggregate statistics.

use std::process::Command;

fn faultline(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("faultline starts")
}

#[test]
fn one_and_two_threads_give_identical_bytes() {
    let base = std::env::temp_dir().join(format!("faultline-batch-{}", std::process::id()));
    let (one, two) = (base.join("one"), base.join("two"));
    for (dir, threads) in [(&one, "1"), (&two, "2")] {
        let out = faultline(&[
            "run",
            "models/retry-storm-defended.toml",
            "--runs",
            "80",
            "--threads",
            threads,
            "--duration",
            "2m",
            "--out",
            dir.to_str().unwrap(),
            "-q",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    for file in ["runs.csv", "summary.csv", "timeseries.csv", "summary.json"] {
        let a = std::fs::read(one.join(file)).unwrap();
        let b = std::fs::read(two.join(file)).unwrap();
        assert!(a == b, "{file} differs between 1 and 2 threads");
        assert!(a.len() > 200, "{file} is nearly empty");
    }
    let runs = std::fs::read_to_string(one.join("runs.csv")).unwrap();
    assert_eq!(runs.lines().count(), 81, "a header and one row per run");
    let _ = std::fs::remove_dir_all(base);
}

#[test]
fn batch_summary_matches_its_runs() {
    let s = faultline::Scenario::from_file(std::path::Path::new("models/mm1.toml")).unwrap();
    let mut s = s.clone();
    s.simulation.duration = faultline::time::SimDuration::from_secs(600);
    let batch = faultline::monte_carlo::run_batch(&s, 30, 2).unwrap();
    let waits: Vec<f64> = (0..30).map(|i| faultline::run(&s, i).unwrap().summary.mean_wait_ms.unwrap()).collect();
    let (_, d) = batch.summary.metrics.iter().find(|(m, _)| m == "mean_wait_ms").unwrap();
    let mean = waits.iter().sum::<f64>() / 30.0;
    assert!((d.mean - mean).abs() < 1e-9, "the batch aggregates exactly the single runs");
    assert_eq!(d.n, 30);
    assert!(d.ci95_low < d.mean && d.mean < d.ci95_high);
}

#[test]
fn batch_confidence_intervals_cover_the_analytic_mean_wait() {
    // M/M/1 at rho = 0.5, mean service 1 s: Wq = 1 s. 200 independent
    // batches (base seeds 1..=200) of 10 runs of ~10,000 customers each.
    let text = |seed: u64| {
        format!(
            r#"version = 1
[simulation]
duration = "20000s"
warmup = "200s"
seed = {seed}
bin = "1h"
[traffic.arrivals]
rate = "0.5/s"
target = "station"
[services.station]
queue_capacity = "unbounded"
service_time = {{ distribution = "exponential", mean = "1s" }}
"#
        )
    };
    let mut covered = 0;
    for seed in 1..=200u64 {
        let s = faultline::Scenario::from_toml(&text(seed), "<mm1>", Some("mm1")).unwrap();
        let batch = faultline::monte_carlo::run_batch(&s, 10, 2).unwrap();
        let (_, d) = batch.summary.metrics.iter().find(|(m, _)| m == "mean_wait_ms").unwrap();
        if d.ci95_low <= 1000.0 && 1000.0 <= d.ci95_high {
            covered += 1;
        }
    }
    eprintln!("coverage: {covered} of 200");
    // Nominal 95%: the binomial sd over 200 batches is 1.5 points.
    assert!((180..=198).contains(&covered), "the 95% CI covered Wq in {covered} of 200 batches");
}
