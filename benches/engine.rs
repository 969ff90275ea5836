//! Engine throughput benchmark (`cargo bench --bench engine`): an M/M/4
//! queue at rho = 0.9 (lambda 3.6/s, mean service 1 s, the same model as
//! `shared/reference`) run through the real scenario loader, engine and
//! metrics (HDR histograms, 1-minute bins, per-node integrals). Reports the
//! median over several runs of requests/s and events/s of simulation time,
//! excluding scenario parsing and output writing.
//!
//! Variants: `plain` (no client timeout, like the reference's `limit`),
//! `timeouts` (a 10 s client timeout scheduled for every request and almost
//! always cancelled, like `limit_generic`), and `graph` (the same M/M/4
//! behind a front service that calls it with a 10 s call timeout: what a
//! call between services costs per request), and `lo3` / `lo3000`: a
//! least-outstanding balancer over 3 or 3,000 single-worker nodes at
//! rho = 0.9 (what a least-outstanding pick costs as the fleet grows).
//!
//! Options after `--`: `--customers N` per run (default 3,000,000),
//! `--runs R` (default 7), `--variant plain|timeouts|graph|lo3|lo3000|both|all`
//! (`both`: plain and timeouts, as `benches/compare.sh` runs it), or
//! `--scenario FILE` to run a scenario file instead of a variant (what
//! `benches/callgrind.sh` uses for the models and its own scenarios: this
//! binary has debug info, so callgrind can attribute costs to source files).

use std::time::Instant;

use faultline::Scenario;

/// `nodes` single-worker nodes behind a least-outstanding balancer, rho 0.9.
fn least_outstanding(customers: u64, nodes: u64) -> Scenario {
    let rate = 0.9 * nodes as f64;
    let duration_s = (customers as f64 / rate).ceil() as u64;
    let text = format!(
        r#"version = 1
[simulation]
duration = "{duration_s}s"
seed = 42
bin = "1m"
[traffic.clients]
rate = "{rate}/s"
target = "lb"
[balancers.lb]
service = "pool"
policy = "least-outstanding"
[services.pool]
nodes = {nodes}
workers = 1
queue_capacity = "unbounded"
service_time = {{ distribution = "exponential", mean = "1s" }}
"#
    );
    Scenario::from_toml(&text, "bench", Some("lo")).expect("bench scenario")
}

fn scenario(customers: u64, variant: &str) -> Scenario {
    match variant {
        "lo3" => return least_outstanding(customers, 3),
        "lo3000" => return least_outstanding(customers, 3000),
        _ => {}
    }
    let duration_s = (customers as f64 / 3.6).ceil() as u64;
    let (timeout, target, front) = match variant {
        "timeouts" => ("10s", "pool", ""),
        "graph" => (
            "none",
            "front",
            "[services.front]\nworkers = 64\nqueue_capacity = \"unbounded\"\n\
             service_time = { distribution = \"exponential\", mean = \"10ms\" }\n\
             calls = [{ target = \"pool\", timeout = \"10s\" }]\n",
        ),
        _ => ("none", "pool", ""),
    };
    let text = format!(
        r#"version = 1
[simulation]
duration = "{duration_s}s"
seed = 42
bin = "1m"
[traffic.clients]
rate = "3.6/s"
timeout = "{timeout}"
target = "{target}"
{front}
[services.pool]
workers = 4
queue_capacity = "unbounded"
service_time = {{ distribution = "exponential", mean = "1s" }}
"#
    );
    Scenario::from_toml(&text, "bench", Some("mm4-rho09")).expect("bench scenario")
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    let n = xs.len();
    if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 }
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Runs `s` `runs` times and prints one JSON line of medians.
fn bench(name: &str, s: &Scenario, customers: u64, runs: usize) {
    let mut rps = Vec::new();
    let mut eps = Vec::new();
    let mut wait = 0.0;
    for run in 0..runs {
        let start = Instant::now();
        let record = faultline::run(s, run as u64).expect("bench run");
        let secs = start.elapsed().as_secs_f64();
        let c = &record.summary.conservation;
        rps.push(c.arrivals as f64 / secs);
        eps.push(record.summary.events as f64 / secs);
        wait = record.summary.mean_wait_ms.unwrap_or(f64::NAN) / 1e3;
    }
    println!(
        "{{\"bench\":\"{name}\",\"customers_per_run\":{customers},\"runs\":{runs},\
         \"median_requests_per_sec\":{:.0},\"median_events_per_sec\":{:.0},\"last_mean_wait_s\":{wait:.4},\"erlang_c_wait_s\":1.9694}}",
        median(rps),
        median(eps)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let customers: u64 = arg(&args, "--customers", 3_000_000);
    let runs: usize = arg(&args, "--runs", 7);
    let variant: String = arg(&args, "--variant", "both".to_string());
    let file: String = arg(&args, "--scenario", String::new());
    if !file.is_empty() {
        let s = Scenario::from_file(std::path::Path::new(&file)).expect("scenario file");
        bench(&format!("file:{file}"), &s, customers, runs);
        return;
    }
    for name in ["plain", "timeouts", "graph", "lo3", "lo3000"] {
        let chosen =
            variant == name || variant == "all" || (variant == "both" && (name == "plain" || name == "timeouts"));
        if chosen {
            bench(&format!("mm4_rho09_{name}"), &scenario(customers, name), customers, runs);
        }
    }
}
