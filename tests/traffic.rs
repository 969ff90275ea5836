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

/// Per class, the requests offered in each `[from, to)` window (seconds),
/// read from the run's classes.csv: (class, counts per window).
fn class_counts(r: &faultline::metrics::RunRecord, windows: &[(f64, f64)]) -> Vec<(String, Vec<f64>)> {
    let csv = String::from_utf8(faultline::report::classes_csv(r)).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let (start, class, offered) = (col("t_start_s"), col("class"), col("offered"));
    let mut out: Vec<(String, Vec<f64>)> = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let t: f64 = f[start].parse().unwrap();
        let i = match out.iter().position(|(c, _)| c == f[class]) {
            Some(i) => i,
            None => {
                out.push((f[class].to_string(), vec![0.0; windows.len()]));
                out.len() - 1
            }
        };
        for (n, w) in out[i].1.iter_mut().zip(windows) {
            if t >= w.0 && t < w.1 {
                *n += f[offered].parse::<f64>().unwrap();
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Runs `s` over seeds 1..=6 and checks each class's offered requests per
/// window against `expected` (class, per-window integral of its rate).
fn assert_class_counts(s: &Scenario, windows: &[(f64, f64)], expected: &[(&str, Vec<f64>)]) {
    for seed in 1..=6 {
        let mut s = s.clone();
        s.simulation.seed = seed;
        let r = run(&s, 0).unwrap();
        let got = class_counts(&r, windows);
        let names: Vec<&str> = got.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(names, expected.iter().map(|(c, _)| *c).collect::<Vec<_>>(), "seed {seed}");
        for ((class, counts), (_, want)) in got.iter().zip(expected) {
            for ((n, e), w) in counts.iter().zip(want).zip(windows) {
                if *e == 0.0 {
                    assert_eq!(*n, 0.0, "seed {seed}: class {class} in {w:?}");
                } else {
                    assert_poisson(*n, *e, &format!("seed {seed}: class {class} in {w:?}"));
                }
            }
        }
        // Every request has a class, and is answered once.
        let c = &r.summary.conservation;
        assert_eq!(c.arrivals, c.completed + c.failed + c.in_flight);
        let by_class: u64 = r.summary.classes.iter().map(|k| k.offered).sum();
        assert_eq!(by_class, c.arrivals, "seed {seed}");
    }
}

#[test]
fn a_class_trace_replays_each_class_at_its_own_rate() {
    // Rows grouped by class (not sorted overall). The mix changes between
    // intervals: search dominates [0, 20), payment [20, 40), admin joins at
    // 30 s, so drawing every request from one fixed mix (the run's average
    // shares, 1:3:3) misses search in [0, 20) (8,000 vs ~4,300) by far more
    // than 4 sd (~90).
    let csv =
        "time,rate,class\n0,400,search\n20,100,search\n40,400,search\n0,100,payment\n20,400,payment\n30s,200/s,admin\n";
    let dir = trace_dir("classes", csv);
    let s = from_dir(&dir, &with_traffic(r#"trace = "trace.csv""#));
    assert_eq!(s.classes, ["admin", "payment", "search"]);
    let t = &s.traffic[0];
    // The source's rate is the classes' sum.
    let rates: Vec<(u64, f64)> = t.rate.steps.iter().map(|x| (x.from.0 / 1_000_000_000, x.per_sec)).collect();
    assert_eq!(rates, [(0, 500.0), (20, 500.0), (30, 700.0), (40, 1000.0)]);
    let windows = [(0.0, 20.0), (20.0, 30.0), (30.0, 40.0), (40.0, 60.0)];
    assert_class_counts(
        &s,
        &windows,
        &[
            ("admin", vec![0.0, 0.0, 2000.0, 4000.0]),
            ("payment", vec![2000.0, 4000.0, 4000.0, 8000.0]),
            ("search", vec![8000.0, 1000.0, 1000.0, 8000.0]),
        ],
    );
    let r = run(&s, 0).unwrap();
    let start = r.events.iter().find(|e| e.event == "trace-start").unwrap();
    assert_eq!(start.detail, "trace.csv: 6 rows of 3 classes");
    // `check` shares each class's load by its part of the run's traffic.
    let shares: Vec<(u16, f64)> = t.class_mix.clone();
    assert_eq!(shares.len(), 3);
    assert!((shares[0].1 - 1.0 / 7.0).abs() < 1e-12 && (shares[2].1 - 3.0 / 7.0).abs() < 1e-12, "{shares:?}");
}

#[test]
fn a_linear_class_trace_follows_each_class_ramp() {
    // search ramps 0 -> 600/s over [0, 30) and holds; payment holds 300/s;
    // admin starts at 15 s (a jump in the middle of search's ramp) and
    // falls linearly to 0 at 45 s.
    let csv = "time,rate,class\n0,0,search\n0,300,payment\n15,200,admin\n30,600,search\n45,0,admin\n";
    let dir = trace_dir("classes-linear", csv);
    let s = from_dir(&dir, &with_traffic("trace = \"trace.csv\"\ntrace_shape = \"linear\""));
    let windows = [(0.0, 15.0), (15.0, 30.0), (30.0, 45.0), (45.0, 60.0)];
    let expected = [
        ("admin", vec![0.0, 2250.0, 750.0, 0.0]),
        ("payment", vec![4500.0, 4500.0, 4500.0, 4500.0]),
        ("search", vec![2250.0, 6750.0, 9000.0, 9000.0]),
    ];
    // The summed rate integrates to the classes' totals, window by window.
    let t = &s.traffic[0];
    for (k, w) in windows.iter().enumerate() {
        let at = |x: f64| faultline::time::SimTime((x * 1e9) as u64);
        let want: f64 = expected.iter().map(|(_, e)| e[k]).sum();
        assert!((t.rate.integral(at(w.0), at(w.1)) - want).abs() < 1e-3, "{w:?}");
    }
    assert_class_counts(&s, &windows, &expected);
}

#[test]
fn class_trace_classes_reach_calls_and_must_be_known() {
    let csv = "time,rate,class\n0,100,search\n0,50,buy\n";
    let dir = trace_dir("classes-calls", csv);
    let scenario = |classes: &str, other: &str| {
        format!(
            r#"
version = 1
[simulation]
duration = "10s"
[traffic.web]
trace = "trace.csv"
target = "front"
{other}
[services.front]
workers = 64
service_time = {{ distribution = "exponential", mean = "1ms" }}
calls = [{{ target = "pay", classes = [{classes}] }}]
[services.pay]
workers = 64
service_time = {{ distribution = "exponential", mean = "1ms" }}
"#
        )
    };
    let path = dir.join("scenario.toml");
    let load = |classes: &str, other: &str| {
        std::fs::write(&path, scenario(classes, other)).unwrap();
        Scenario::from_file(&path)
    };
    // The trace's classes are the scenario's: calls may name them.
    let s = load(r#""buy""#, "").expect("calls may name a trace's classes");
    let r = run(&s, 0).unwrap();
    // Only buy requests call pay: a third of the front's.
    let pay = r.summary.calls.iter().find(|c| c.callee == "pay").map(|c| c.attempts as f64).unwrap();
    assert_poisson(pay, 500.0, "calls to pay");
    // Calls naming a class no source sends are refused, as before.
    let e = load(r#""payment""#, "").unwrap_err().to_string();
    assert!(e.contains("no request class \"payment\" (defined: buy, search)"), "{e}");
    // Where other sources declare classes, a trace keeps to them: the
    // first row of a class they do not declare is named.
    let other = "[traffic.bots]\nrate = \"10/s\"\ntarget = \"front\"\nclasses = { search = 1, purchase = 1 }";
    let e = load(r#""search""#, other).unwrap_err().to_string();
    assert!(
        e.contains(
            "trace.csv: line 3: class \"buy\" is not one of the request classes the sources' `classes` declare (purchase, search)"
        ),
        "{e}"
    );
    // And a source gives its classes by a table or by its trace, not both.
    let e = load(r#""buy""#, "").map(|_| ()).and_then(|_| {
        std::fs::write(
            &path,
            scenario(r#""buy""#, "").replace("target = \"front\"\n", "target = \"front\"\nclasses = { buy = 1 }\n"),
        )
        .unwrap();
        Scenario::from_file(&path).map(|_| ())
    });
    assert!(e.unwrap_err().to_string().contains("traffic.web.classes: the trace's `class` column"));
}
