//! HPA autoscaling in whole runs (issue 13): through a load step the fleet
//! grows to the node count the Kubernetes algorithm settles at and no
//! further, because nodes still starting count as idle (scale-up) instead
//! of being added again on top of the recommendation.

use faultline::{Scenario, run};

/// Four nodes of 8 workers at 40 ms (200 req/s each) carry `before`, then
/// `after` from 2 min to 10 min; HPA on utilization with a 60% target.
/// `fault` is extra scenario text.
fn step(before: u32, after: u32, fault: &str, seed: u64) -> Scenario {
    let text = format!(
        r#"
version = 1
[simulation]
duration = "12m"
bin = "5s"
seed = {seed}
[traffic.web]
schedule = [ {{ from = "0s", rate = "{before}/s" }}, {{ from = "2m", rate = "{after}/s" }}, {{ from = "10m", rate = "{before}/s" }} ]
timeout = "2s"
target = "lb"
[balancers.lb]
service = "app"
policy = "least-outstanding"
[services.app]
nodes = 4
workers = 8
queue_capacity = 100
service_time = {{ distribution = "exponential", mean = "40ms" }}
autoscaling = {{ target = 0.6, min = 2, max = 20, provisioning = "45s", warmup = "30s", warmup_slowdown = 1.5 }}
{fault}
"#
    );
    Scenario::from_toml(&text, "<test>", Some("test")).expect("valid test scenario")
}

const NODE_RPS: f64 = 200.0;
const TARGET: f64 = 0.6;
const TOLERANCE: f64 = 0.1;

/// The node counts at which the HPA takes no action for `rate`, when the
/// first `slow` nodes complete only `slow_rps` each: utilization / target
/// within the tolerance.
fn steady_counts(rate: f64, slow: u32, slow_rps: f64) -> Vec<u32> {
    (1..=20)
        .filter(|&n| {
            let capacity = slow.min(n) as f64 * slow_rps + n.saturating_sub(slow) as f64 * NODE_RPS;
            (rate / capacity / TARGET - 1.0).abs() <= TOLERANCE
        })
        .collect()
}

/// The most nodes the service had asked for (scale-out targets) and had up.
fn peaks(s: &Scenario) -> (u32, u32) {
    let r = run(s, 0).unwrap();
    let asked = r
        .events
        .iter()
        .filter(|e| e.event == "scale-out")
        .map(|e| {
            let to = e.detail.split(" to ").nth(1).expect("'from N to M nodes'");
            to.split(' ').next().unwrap().parse::<u32>().unwrap()
        })
        .max()
        .unwrap_or(0);
    let up = r.bins.iter().map(|b| b.fleet.up).max().unwrap();
    (asked, up)
}

#[test]
fn a_load_step_scales_to_the_need_and_no_further() {
    // 700 req/s needs 700 / (200 x 60%) = 5.8 nodes: 6 is the only count
    // the HPA holds (58%, within 10% of the target), and the four busy
    // nodes ask for ceil(4 x 87.5% / 60%) = 6 at once. While the two new
    // ones start, counting them as idle gives 4 x 87.5% / 6 = 58%: no
    // further action. (Adding them again on top, the old arithmetic asked
    // 6 + 2 = 8 and went on to 13.)
    assert_eq!(steady_counts(700.0, 0, 0.0), vec![6]);
    for seed in 1..=3 {
        let (asked, up) = peaks(&step(300, 700, "", seed));
        assert_eq!((asked, up), (6, 6), "seed {seed}: peak asked and up");
    }
}

#[test]
fn under_a_capacity_fault_the_step_scales_to_the_need_and_no_further() {
    // Two of the four original nodes keep 4 workers (100 req/s): 700 req/s
    // saturates the 600 req/s the four
    // give: 100% -> ceil(4 x 100% / 60%) = 7. Seven nodes (1200 req/s,
    // 58%) is the only count the HPA holds. Before the step, 300 req/s
    // reads 50%: ceil(4 x 50% / 60%) = 4, no action. (The old arithmetic
    // went to 8.)
    let fault = r#"
[[faults]]
kind = "capacity"
service = "app"
nodes = [0, 1]
workers = 4
at = "30s"
duration = "1h"
"#;
    assert_eq!(steady_counts(700.0, 2, 100.0), vec![7]);
    for seed in 1..=3 {
        let (asked, up) = peaks(&step(300, 700, fault, seed));
        assert_eq!((asked, up), (7, 7), "seed {seed}: peak asked and up");
    }
}
