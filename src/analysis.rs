//! Static capacity analysis (`faultline check`): offered load against the
//! capacity of each service from the scenario alone, no simulation. For N
//! nodes at utilization u, losing k leaves the survivors at u·N/(N−k) if
//! the balancer spreads the same traffic over them.

use crate::model::Scenario;
use crate::time::SimTime;

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceCapacity {
    pub service: String,
    pub nodes: u32,
    pub workers: u32,
    pub mean_service_s: f64,
    /// Time-averaged offered rate over the run [req/s].
    pub mean_offered_rps: f64,
    /// Highest scheduled rate [req/s]; utilization figures use this.
    pub peak_offered_rps: f64,
    /// Requests per second all nodes can complete: N·c / E[S].
    pub capacity_rps: f64,
    /// peak offered / capacity with every node up.
    pub utilization: f64,
    /// (k nodes lost, survivors' utilization) for k = 1 .. N−1.
    pub after_losing: Vec<(u32, f64)>,
}

impl ServiceCapacity {
    /// Smallest number of lost nodes that pushes the survivors past 100%,
    /// or `None` if only losing all of them does.
    pub fn breaking_point(&self) -> Option<u32> {
        if self.utilization >= 1.0 {
            return Some(0);
        }
        self.after_losing.iter().find(|(_, u)| *u >= 1.0).map(|(k, _)| *k)
    }
}

pub fn capacity(scenario: &Scenario) -> Vec<ServiceCapacity> {
    let horizon = SimTime::ZERO + scenario.simulation.duration;
    scenario
        .services
        .iter()
        .enumerate()
        .map(|(s, service)| {
            let feeding = scenario.traffic.iter().filter(|t| scenario.target_service(t.target) == s);
            let (mut mean, mut peak) = (0.0, 0.0);
            for t in feeding {
                mean += t.rate.mean(horizon);
                peak += t.rate.peak(horizon);
            }
            let mean_service_s = service.service_time.mean_secs();
            let slots = service.nodes as f64 * service.workers as f64;
            let capacity_rps = if mean_service_s > 0.0 { slots / mean_service_s } else { f64::INFINITY };
            let utilization = if capacity_rps.is_finite() { peak / capacity_rps } else { 0.0 };
            let n = service.nodes;
            let after_losing = (1..n).map(|k| (k, utilization * n as f64 / (n - k) as f64)).collect();
            ServiceCapacity {
                service: service.name.clone(),
                nodes: n,
                workers: service.workers,
                mean_service_s,
                mean_offered_rps: mean,
                peak_offered_rps: peak,
                capacity_rps,
                utilization,
                after_losing,
            }
        })
        .collect()
}
