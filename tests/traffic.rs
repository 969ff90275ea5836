//! Traffic shapes beyond a constant Poisson rate, through whole runs: bursts
//! (exact counts at their instants, through the same client path), linear
//! ramps (counts follow the rate's integral, half by half), traces replayed
//! as rates (per-interval counts) or as exact timestamps, the events.csv
//! rows of traffic changes, and what `check` and the estimate count.

use std::path::PathBuf;

use faultline::model::Scenario;
use faultline::{analysis, monte_carlo, run};

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text, "<test>", Some("test")).expect("valid test scenario")
}

/// A scenario with `traffic` as its source's keys; the service is ample
/// (4 x 16 workers at 5 ms: 12,800 req/s), so the counts are the arrivals'.
fn with_traffic(traffic: &str) -> String {
    format!(
        r#"
version = 1
[simulation]
duration = "60s"
seed = 3
[traffic.web]
{traffic}
timeout = "1s"
retry = {{ max_attempts = 2 }}
target = "app"
[services.app]
nodes = 4
workers = 16
service_time = {{ distribution = "exponential", mean = "5ms" }}
"#
    )
}

/// A trace file in a scratch folder, and the scenario path next to it.
fn trace_dir(name: &str, csv: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-traffic-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("trace.csv"), csv).unwrap();
    dir
}

fn from_dir(dir: &std::path::Path, text: &str) -> Scenario {
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    Scenario::from_file(&path).expect("valid scenario")
}

#[test]
fn bursts_add_exactly_their_requests_at_their_instants() {
    let plain = scenario(&with_traffic(r#"rate = "100/s""#));
    let bursty = scenario(&with_traffic(
        r#"rate = "100/s"
bursts = [{ at = "10s", requests = 500 }, { at = "20s", requests = 200, every = "5s", until = "40s" }]"#,
    ));
    for seed in 1..=4 {
        let (mut a, mut b) = (plain.clone(), bursty.clone());
        a.simulation.seed = seed;
        b.simulation.seed = seed;
        let (ra, rb) = (run(&a, 0).unwrap(), run(&b, 0).unwrap());
        // The arrival stream is the same: the difference is the bursts alone.
        assert_eq!(rb.summary.conservation.arrivals - ra.summary.conservation.arrivals, 500 + 5 * 200);
        for (bin, (x, y)) in ra.bins.iter().zip(&rb.bins).enumerate() {
            let extra = match bin {
                10 => 500,
                20 | 25 | 30 | 35 | 40 => 200,
                _ => 0,
            };
            assert_eq!(y.offered - x.offered, extra, "seed {seed} bin {bin}");
        }
        let c = &rb.summary.conservation;
        assert_eq!(c.arrivals, c.completed + c.failed + c.in_flight);
        let bursts: Vec<(f64, &str)> = rb
            .events
            .iter()
            .filter(|e| e.event == "traffic-burst")
            .map(|e| (e.t.as_secs_f64(), e.detail.as_str()))
            .collect();
        assert_eq!(bursts[0], (10.0, "500 requests"));
        assert_eq!(bursts.len(), 6);
    }
}

#[test]
fn bursts_alone_are_a_source() {
    let s = scenario(&with_traffic(r#"bursts = [{ at = "1s", requests = 300, every = "10s" }]"#));
    let r = run(&s, 0).unwrap();
    // 1s, 11s, ..., 51s.
    assert_eq!(r.summary.conservation.arrivals, 6 * 300);
    assert_eq!(r.bins[11].offered, 300);
    assert_eq!(r.bins[12].offered, 0);
}

/// Arrivals in [from, to) seconds, from the 1 s bins.
fn offered(r: &faultline::metrics::RunRecord, from: usize, to: usize) -> f64 {
    r.bins[from..to].iter().map(|b| b.offered).sum::<u64>() as f64
}

fn assert_poisson(n: f64, expected: f64, what: &str) {
    // 4 sd of a Poisson count, over a fixed seed set.
    assert!((n - expected).abs() <= 4.0 * expected.sqrt(), "{what}: {n} arrivals, expected {expected}");
}

#[test]
fn a_ramp_follows_its_linear_rate_half_by_half() {
    // 200/s -> 1000/s over [10s, 50s): 10 s at 200/s, then halves of the
    // ramp (200 -> 600, 600 -> 1000) with 8,000 and 16,000 expected arrivals. A
    // step at either end's rate (or the mean) misses a half by > 4 sd.
    let s = scenario(&with_traffic(
        r#"schedule = [{ from = "0s", rate = "200/s" }, { from = "10s", rate = "200/s", ramp = true }, { from = "50s", rate = "1000/s" }]"#,
    ));
    for seed in 1..=6 {
        let mut s = s.clone();
        s.simulation.seed = seed;
        let r = run(&s, 0).unwrap();
        assert_poisson(offered(&r, 0, 10), 2000.0, "before the ramp");
        assert_poisson(offered(&r, 10, 30), 8000.0, "first half");
        assert_poisson(offered(&r, 30, 50), 16_000.0, "second half");
        assert_poisson(offered(&r, 50, 60), 10_000.0, "after");
        let changes: Vec<&str> =
            r.events.iter().filter(|e| e.event == "traffic-change").map(|e| e.detail.as_str()).collect();
        assert_eq!(changes, ["ramp start: 200/s -> 1000/s over 40s", "ramp end at 1000/s"]);
    }
}

#[test]
fn a_rates_trace_replays_each_interval() {
    // Intervals of 5, 15, 10 and 30 s (not uniform); the last row holds.
    let dir = trace_dir("rates", "time,rate\n5,100\n10s,800/s\n25,0\n35,300\n");
    let s = from_dir(&dir, &with_traffic(r#"trace = "trace.csv""#));
    for seed in 1..=6 {
        let mut s = s.clone();
        s.simulation.seed = seed;
        let r = run(&s, 0).unwrap();
        assert_eq!(offered(&r, 0, 5), 0.0, "nothing before the first row");
        assert_poisson(offered(&r, 5, 10), 500.0, "row 1");
        assert_poisson(offered(&r, 10, 25), 12_000.0, "row 2");
        assert_eq!(offered(&r, 25, 35), 0.0, "a zero row");
        assert_poisson(offered(&r, 35, 60), 7500.0, "the last row holds to the end");
        let trace: Vec<(&str, f64)> =
            r.events.iter().filter(|e| e.event.starts_with("trace-")).map(|e| (e.event, e.t.as_secs_f64())).collect();
        assert_eq!(trace, [("trace-start", 5.0), ("trace-end", 35.0)]);
    }
    // Linear: 100 -> 800 over [5, 10): 2,250 expected; 800 -> 0 over [10, 25): 6,000.
    let s = from_dir(&dir, &with_traffic("trace = \"trace.csv\"\ntrace_shape = \"linear\""));
    let r = run(&s, 0).unwrap();
    assert_poisson(offered(&r, 5, 10), 2250.0, "linear row 1");
    assert_poisson(offered(&r, 10, 25), 6000.0, "linear row 2");
    assert_poisson(offered(&r, 10, 15), 3333.3333, "linear row 2, first third");
}

#[test]
fn a_timestamps_trace_replays_every_arrival_exactly() {
    let mut csv = String::from("time\n");
    let mut expected = vec![0u64; 60];
    for i in 0..3000u64 {
        // Clustered, with repeats: 7 ms steps, folded into [0, 59s).
        let t = (i * i * 7) % 59_000;
        csv.push_str(&format!("{}.{:03}\n", t / 1000, t % 1000));
        expected[(t / 1000) as usize] += 1;
    }
    // Sorted, as the trace requires.
    let mut lines: Vec<&str> = csv.lines().skip(1).collect();
    lines.sort_by(|a, b| a.parse::<f64>().unwrap().total_cmp(&b.parse::<f64>().unwrap()));
    let csv = format!("time\n{}\n", lines.join("\n"));
    let dir = trace_dir("timestamps", &csv);
    let s = from_dir(&dir, &with_traffic("trace = \"trace.csv\"\ntrace_mode = \"timestamps\""));
    let r = run(&s, 0).unwrap();
    let got: Vec<u64> = r.bins.iter().map(|b| b.offered).collect();
    assert_eq!(got, expected);
    let c = &r.summary.conservation;
    assert_eq!(c.arrivals, c.completed + c.failed + c.in_flight);
    // Check and the estimate count the replayed requests.
    let t = &s.traffic[0];
    assert_eq!(t.mean_rate(faultline::time::SimTime(60_000_000_000)), 50.0);
    assert!(monte_carlo::estimate(&s).requests >= 3000.0);
}

#[test]
fn check_and_the_estimate_count_bursts_and_ramps() {
    let s = scenario(&with_traffic(
        r#"schedule = [{ from = "0s", rate = "100/s", ramp = true }, { from = "60s", rate = "300/s" }]
bursts = [{ at = "30s", requests = 600 }]"#,
    ));
    let t = &s.traffic[0];
    let horizon = faultline::time::SimTime(60_000_000_000);
    // The ramp averages 200/s; the burst adds 600 over 60 s.
    assert!((t.mean_rate(horizon) - 210.0).abs() < 1e-9, "{}", t.mean_rate(horizon));
    // Peak: the ramp's top plus the burst over one 1 s bin.
    assert!((t.peak_rate(horizon, s.simulation.bin) - 900.0).abs() < 1e-6);
    // 2 attempts per request at most: (200 + 10) req/s x 60 s x 2.
    assert!((monte_carlo::estimate(&s).requests - 210.0 * 60.0 * 2.0).abs() < 1e-6);
    let c = &analysis::capacity(&s)[0];
    assert!((c.mean_offered_rps - 210.0).abs() < 1e-9 && (c.peak_offered_rps - 900.0).abs() < 1e-6, "{c:?}");
}
