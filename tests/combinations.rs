//! Feature interactions: many combinations of faults, defences, scaling and
//! restarts run briefly; each must finish without a panic and pass the
//! simulator's conservation check (every request answered exactly once),
//! and the same combination must give the same result twice.

use faultline::{Scenario, run};

/// Deterministic pseudo-random choices (SplitMix64).
struct Pick(u64);

impl Pick {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn one<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[(self.next() % options.len() as u64) as usize]
    }
}

fn combination(seed: u64) -> String {
    let mut p = Pick(seed);
    let policy = p.one(&["round-robin", "random", "least-outstanding", "power-of-two"]);
    let client = p.one(&[
        "",
        "retry = { max_attempts = 3 }",
        "retry = { max_attempts = 4, backoff = \"none\", budget = { kind = \"ratio\", ratio = 0.1 } }",
        "retry = { max_attempts = 3, jitter = \"decorrelated\", budget = { kind = \"token-bucket\" } }\ndeadline = \"1500ms\"",
        "circuit_breaker = { window = 20, minimum_calls = 10, open_duration = \"5s\", half_open_calls = 3 }",
        "throttling = { window = \"20s\" }\nretry = { max_attempts = 2 }",
    ]);
    let balancer = p.one(&[
        "",
        "health_check = { interval = \"2s\", unhealthy_threshold = 2 }",
        "health_check = { interval = \"2s\", timeout = \"500ms\", kind = \"deep\" }",
        "outlier_detection = { consecutive_errors = 3, base_ejection_time = \"5s\" }",
        "health_check = { interval = \"3s\" }\noutlier_detection = { max_ejection_percent = 50 }\npanic_threshold = 0.0",
    ]);
    let service = p.one(&[
        "",
        "overload_crash = { utilization = 0.9, sustained = \"5s\" }\nrestart = { delay = \"3s\" }",
        "queue_timeout = \"200ms\"\nqueue_order = \"adaptive-lifo\"",
        "memory = { limit_mb = 600, baseline_mb = 100, per_request_mb = 5, leak_per_request_mb = 0.05, leak_mb_per_s = 1 }\npredictive_restart = { interval = \"5s\", window = \"30s\", horizon = \"1m\" }",
        "memory = { limit_mb = 300, per_request_mb = 10, leak_mb_per_s = 2 }\nliveness = { interval = \"3s\", kind = \"deep\", timeout = \"500ms\" }",
        "autoscaling = { target = 0.5, min = 1, max = 6, provisioning = \"5s\", warmup = \"5s\", scale_down_stabilization = \"20s\", evaluation_period = \"5s\" }",
        "slowdown = { by = \"queue\", factor = 0.5 }\nconfig_drift = { per_hour = 30 }",
        "database = { name = \"db\", write_ratio = 0.3, pool = 3 }",
        "database = { name = \"db\", write_ratio = 0.5, pool = 2 }\noverload_crash = { utilization = 0.9, sustained = \"5s\" }",
        "rate_limit = { rate = \"150/s\", burst = 30 }",
        "rate_limit = { rate = \"120/s\" }\ndatabase = { name = \"db\", write_ratio = 0.3, pool = 3 }",
    ]);
    let database = p.one(&["async", "sync"]);
    let fault = p.one(&[
        "",
        "kind = \"crash\"\nnodes = [0]\nduration = \"20s\"",
        "kind = \"crash\"\ncount = 2",
        "kind = \"slow\"\nnodes = \"all\"\nfactor = 4.0\nduration = \"30s\"",
        "kind = \"errors\"\nnodes = [1]\nfraction = 0.7",
        "kind = \"capacity\"\nnodes = \"all\"\nworkers = 1\nduration = \"30s\"",
        "kind = \"latency\"\nnodes = [0]\ndelay = \"300ms\"",
        "kind = \"random-crashes\"\nnodes = \"all\"\nmtbf = \"20s\"\nmttr = \"5s\"",
        "kind = \"rolling-restart\"\ninterval = \"10s\"",
        "kind = \"crash\"\nnodes = [0]\nduration = \"40s\"\nDB",
        "kind = \"slow\"\nnodes = \"all\"\nfactor = 10.0\nduration = \"20s\"\nDB",
    ]);
    let rate = p.one(&["150/s", "300/s", "450/s"]);
    let fault_table = if fault.is_empty() {
        String::new()
    } else if let Some(db_fault) = fault.strip_suffix("\nDB") {
        format!("[[faults]]\nservice = \"db\"\nat = \"20s\"\n{db_fault}\n")
    } else {
        format!("[[faults]]\nservice = \"app\"\nat = \"20s\"\n{fault}\n")
    };
    format!(
        r#"version = 1
[simulation]
duration = "2m"
warmup = "5s"
seed = {seed}
[traffic.web]
rate = "{rate}"
timeout = "1s"
target = "lb"
{client}
[balancers.lb]
service = "app"
policy = "{policy}"
{balancer}
[services.app]
nodes = 3
workers = 4
queue_capacity = 50
service_time = {{ distribution = "lognormal", mean = "20ms", cv = 1.5 }}
{service}
[databases.db]
replicas = 1
workers = 4
queue_capacity = 20
read_time = {{ distribution = "exponential", mean = "3ms" }}
write_time = {{ distribution = "exponential", mean = "6ms" }}
replication = "{database}"
lag = "300ms"
failover_detection = "3s"
failover_promotion = "5s"
{fault_table}"#
    )
}

#[test]
fn feature_combinations_conserve_requests_and_are_deterministic() {
    let mut ran = 0;
    for seed in 0..400u64 {
        let text = combination(seed);
        let scenario = Scenario::from_toml(&text, "<combination>", Some("combination"))
            .unwrap_or_else(|e| panic!("combination {seed} is invalid: {e}\n{text}"));
        let first = run(&scenario, 0).unwrap_or_else(|e| panic!("combination {seed}: {e}\n{text}"));
        let c = &first.summary.conservation;
        assert_eq!(c.arrivals, c.completed + c.failed + c.in_flight, "combination {seed}");
        assert!(first.summary.offered > 0, "combination {seed}");
        if seed % 10 == 0 {
            let second = run(&scenario, 0).unwrap();
            assert_eq!(first, second, "combination {seed} is not deterministic");
        }
        ran += 1;
    }
    assert_eq!(ran, 400);
}

#[test]
fn disaster_recovery_combinations_conserve_requests() {
    for (i, strategy) in ["active-active", "warm-standby", "pilot-light", "backup-restore"].iter().enumerate() {
        for (j, outage) in ["duration = \"3m\"", ""].iter().enumerate() {
            for (k, extra) in ["", "retry = { max_attempts = 3 }", "deadline = \"1s\"\nretry = { max_attempts = 2 }"]
                .iter()
                .enumerate()
            {
                let seed = (i * 100 + j * 10 + k) as u64;
                let text = format!(
                    r#"version = 1
[simulation]
duration = "8m"
seed = {seed}
[traffic.users]
rate = "200/s"
timeout = "1s"
target = "lb-a"
{extra}
[balancers.lb-a]
service = "api-a"
health_check = {{ interval = "5s" }}
[balancers.lb-b]
service = "api-b"
[services.api-a]
region = "a"
nodes = 3
workers = 4
service_time = {{ distribution = "exponential", mean = "20ms" }}
database = {{ name = "db", write_ratio = 0.2, pool = 4 }}
[services.api-b]
region = "b"
nodes = 3
workers = 4
service_time = {{ distribution = "exponential", mean = "20ms" }}
[databases.db]
region = "a"
replicas = 1
read_time = {{ distribution = "exponential", mean = "3ms" }}
write_time = {{ distribution = "exponential", mean = "5ms" }}
[disaster_recovery]
strategy = "{strategy}"
primary = "lb-a"
standby = "lb-b"
detection = "20s"
dns_ttl = "10s"
scale_up = "30s"
provisioning = "1m"
data_gb = 10
[[faults]]
kind = "region-outage"
region = "a"
at = "1m"
{outage}
"#
                );
                let scenario = Scenario::from_toml(&text, "<dr>", Some("dr")).unwrap_or_else(|e| panic!("{e}\n{text}"));
                let r = run(&scenario, 0).unwrap_or_else(|e| panic!("{strategy} {j} {k}: {e}"));
                let c = &r.summary.conservation;
                assert_eq!(c.arrivals, c.completed + c.failed + c.in_flight);
                let dr = r.summary.disaster_recovery.as_ref().expect("the disaster happened");
                assert!(dr.traffic_shifted_at_s.is_some(), "{strategy}");
                assert!(r.bins.last().unwrap().completed > 150, "{strategy} {j} {k}: the standby serves at the end");
            }
        }
    }
}

/// A three-tier service graph with random call shapes, defences, caches,
/// a serverless tier and faults on any tier.
fn graph_combination(seed: u64) -> String {
    let mut p = Pick(seed);
    let client = p.one(&[
        "",
        "retry = { max_attempts = 3 }",
        "retry = { max_attempts = 2 }\ndeadline = \"800ms\"",
        "circuit_breaker = { window = 20, minimum_calls = 10, open_duration = \"5s\" }",
    ]);
    let front_calls = p.one(&[
        "{ target = \"mid\" }",
        "{ target = \"mid\", timeout = \"300ms\", retry = { max_attempts = 3 }, bulkhead = 6 }",
        "{ target = \"mid-lb\", timeout = \"200ms\", retry = { max_attempts = 2, budget = { kind = \"ratio\" } } }",
        "{ parallel = [{ target = \"mid\" }, { target = \"side\", timeout = \"100ms\" }, { target = \"store\" }], wait_for = 2 }",
        "{ target = \"mid\", classes = [\"buy\"], bulkhead = 3 },\n  { target = \"side\", classes = [\"browse\"], timeout = \"150ms\" }",
        "{ target = \"side\" },\n  { parallel = [{ target = \"mid\", retry = { max_attempts = 2 } }, { target = \"store\" }], wait_for = 1 }",
        "{ target = \"db\", write_ratio = 0.3, timeout = \"200ms\", retry = { max_attempts = 2 } },\n  { target = \"mid\" }",
    ]);
    let mid = p.one(&[
        "",
        "calls = [{ target = \"store\", timeout = \"100ms\", retry = { max_attempts = 3 } }]",
        "calls = [{ target = \"db\", write_ratio = 0.5 }]",
        "serverless = { concurrency = 20, cold_start = \"200ms\", idle_timeout = \"20s\", scaling = { rate = \"5/s\", burst = 10 } }",
        "rate_limit = { rate = \"80/s\", burst = 10 }\ncalls = [{ target = \"store\" }]",
        "overload_crash = { utilization = 0.9, sustained = \"5s\" }\nrestart = { delay = \"3s\" }",
    ]);
    let store_cache = p.one(&[
        "",
        "cache = { keys = 2000, ttl = \"10s\" }",
        "cache = { keys = 500, zipf = 1.0, ttl = \"30s\", capacity = 100, coalescing = true }",
        "cache = { keys = 1000, ttl = \"20s\", start = \"cold\", coalescing = true }",
    ]);
    let db_cache = p.one(&["", "cache = { keys = 1000, ttl = \"5s\", coalescing = true }"]);
    let fault = p.one(&[
        "",
        "service = \"mid\"\nkind = \"crash\"\nnodes = [0]\nduration = \"20s\"",
        "service = \"mid\"\nkind = \"latency\"\nnodes = \"all\"\ndelay = \"500ms\"\nduration = \"20s\"",
        "service = \"store\"\nkind = \"errors\"\nnodes = \"all\"\nfraction = 0.8\nduration = \"20s\"",
        "service = \"store\"\nkind = \"random-crashes\"\nnodes = \"all\"\nmtbf = \"10s\"\nmttr = \"3s\"",
        "service = \"side\"\nkind = \"slow\"\nnodes = \"all\"\nfactor = 20.0",
        "service = \"db\"\nkind = \"crash\"\nnodes = [0]",
        "service = \"front\"\nkind = \"crash\"\nnodes = [1]\nduration = \"10s\"",
        "STORE-FLUSH",
    ]);
    let fault_table = match fault {
        "" => String::new(),
        // A flush needs a cache; without one, crash the store instead.
        "STORE-FLUSH" if !store_cache.is_empty() => {
            "[[faults]]\nservice = \"store\"\nkind = \"cache-flush\"\nat = \"30s\"\n".to_string()
        }
        "STORE-FLUSH" => {
            "[[faults]]\nservice = \"store\"\nkind = \"crash\"\nnodes = \"all\"\nat = \"30s\"\nduration = \"5s\"\n"
                .to_string()
        }
        f => format!("[[faults]]\nat = \"20s\"\n{f}\n"),
    };
    let mid_nodes = if mid.starts_with("serverless") { "" } else { "nodes = 2\nworkers = 4" };
    let rate = p.one(&["100/s", "250/s"]);
    format!(
        r#"version = 1
[simulation]
duration = "90s"
warmup = "5s"
seed = {seed}
[traffic.web]
rate = "{rate}"
timeout = "1s"
target = "front"
classes = {{ browse = 3, buy = 1 }}
{client}
[balancers.mid-lb]
service = "mid"
policy = "least-outstanding"
outlier_detection = {{ consecutive_errors = 3 }}
[services.front]
nodes = 2
workers = 16
service_time = {{ distribution = "exponential", mean = "2ms" }}
calls = [
  {front_calls}
]
[services.mid]
{mid_nodes}
service_time = {{ distribution = "exponential", mean = "10ms" }}
{mid}
[services.side]
workers = 8
service_time = {{ distribution = "exponential", mean = "5ms" }}
[services.store]
nodes = 2
workers = 8
queue_capacity = 30
service_time = {{ distribution = "exponential", mean = "8ms" }}
{store_cache}
[databases.db]
replicas = 1
workers = 8
read_time = {{ distribution = "exponential", mean = "3ms" }}
write_time = {{ distribution = "exponential", mean = "6ms" }}
failover_detection = "3s"
failover_promotion = "5s"
{db_cache}
{fault_table}"#
    )
}

#[test]
fn service_graph_combinations_conserve_requests_and_calls_and_are_deterministic() {
    let count: u64 = std::env::var("FAULTLINE_GRAPH_COMBINATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    for seed in 0..count {
        let text = graph_combination(seed);
        let scenario = Scenario::from_toml(&text, "<graph>", Some("graph"))
            .unwrap_or_else(|e| panic!("graph combination {seed} is invalid: {e}\n{text}"));
        // `run` checks request and call conservation and errs on a breach.
        let first = run(&scenario, 0).unwrap_or_else(|e| panic!("graph combination {seed}: {e}\n{text}"));
        let c = &first.summary.conservation;
        assert_eq!(c.arrivals, c.completed + c.failed + c.in_flight, "graph combination {seed}");
        assert!(first.summary.offered > 0, "graph combination {seed}");
        if seed % 10 == 0 {
            assert_eq!(first, run(&scenario, 0).unwrap(), "graph combination {seed} is not deterministic");
        }
    }
}
