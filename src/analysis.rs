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

/// Erlang C: the probability that an arrival waits in an M/M/c queue with
/// offered load `a` = λ/μ (1 when `a` >= c: the queue is unstable).
pub fn erlang_c(c: u32, a: f64) -> f64 {
    if a >= c as f64 {
        return 1.0;
    }
    // Erlang B by its stable recursion, then C from B.
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (k as f64 + a * b);
    }
    c as f64 * b / (c as f64 - a * (1.0 - b))
}

/// The q-quantile of the response time (wait + service) of an M/M/c queue
/// with arrival rate `lambda` and service rate `mu` per server, in seconds;
/// infinite when the queue is unstable. P(T > t) = (1−C)·e^(−μt) + C·P(W' +
/// S > t), with W' ~ Exp(cμ − λ) and S ~ Exp(μ) independent.
pub fn mmc_response_quantile(c: u32, lambda: f64, mu: f64, q: f64) -> f64 {
    let theta = c as f64 * mu - lambda;
    if theta <= 0.0 || mu <= 0.0 {
        return f64::INFINITY;
    }
    let wait = erlang_c(c, lambda / mu);
    let tail = |t: f64| {
        let sum_tail = if (theta - mu).abs() < 1e-9 * mu {
            (1.0 + mu * t) * (-mu * t).exp()
        } else {
            (theta * (-mu * t).exp() - mu * (-theta * t).exp()) / (theta - mu)
        };
        (1.0 - wait) * (-mu * t).exp() + wait * sum_tail
    };
    let target = 1.0 - q;
    let (mut lo, mut hi) = (0.0, 1.0 / mu);
    while tail(hi) > target {
        hi *= 2.0;
    }
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if tail(mid) > target { lo = mid } else { hi = mid }
    }
    hi
}

/// The analytic starting point of a capacity plan for one service.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeEstimate {
    /// Fewest nodes whose survivors, after losing `lose`, stay at or below
    /// `safe_utilization`.
    pub for_loss: u32,
    /// Fewest nodes whose survivors meet the p99 target by Erlang C (each
    /// node an M/M/c queue of its workers fed an equal share), if a target
    /// was given.
    pub for_latency: Option<u32>,
}

impl NodeEstimate {
    pub fn nodes(&self) -> u32 {
        self.for_loss.max(self.for_latency.unwrap_or(0))
    }
}

/// Utilization the survivors of a loss may run at, by default: the usual
/// planning headroom for queueing delay and variability.
pub const SAFE_UTILIZATION: f64 = 0.85;

pub fn estimate_nodes(c: &ServiceCapacity, lose: u32, p99_s: Option<f64>, safe_utilization: f64) -> NodeEstimate {
    let per_node = if c.mean_service_s > 0.0 { c.workers as f64 / c.mean_service_s } else { f64::INFINITY };
    let lambda = c.peak_offered_rps;
    let survivors_needed = (lambda / (per_node * safe_utilization)).ceil().max(1.0) as u32;
    let for_loss = lose + survivors_needed;
    let for_latency = p99_s.map(|target| {
        let mu = 1.0 / c.mean_service_s;
        let mut survivors = 1u32;
        while survivors < 100_000 && mmc_response_quantile(c.workers, lambda / survivors as f64, mu, 0.99) > target {
            survivors += 1;
        }
        lose + survivors
    });
    NodeEstimate { for_loss, for_latency }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_c_known_values() {
        // c = 1: P(wait) = ρ.
        assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
        // A textbook case: c = 2, a = 1 -> C = 1/3.
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        // c = 4, a = 3.6 (the mmc model), from ../shared/validation/erlang.py:
        // P_wait = 0.787753, W_p99 = 12.1932 (mu = 1).
        assert!((erlang_c(4, 3.6) - 0.787753).abs() < 1e-6, "{}", erlang_c(4, 3.6));
        assert!((mmc_response_quantile(4, 3.6, 1.0, 0.99) - 12.1932).abs() < 1e-3);
        assert_eq!(erlang_c(3, 3.0), 1.0);
    }

    #[test]
    fn mm1_response_quantile_is_exponential() {
        // M/M/1: T ~ Exp(μ − λ), p99 = ln(100)/(μ − λ).
        let p99 = mmc_response_quantile(1, 6.0, 10.0, 0.99);
        assert!((p99 - 100f64.ln() / 4.0).abs() < 1e-9, "{p99}");
        assert!(mmc_response_quantile(2, 20.0, 10.0, 0.99).is_infinite());
        // More servers at the same load never slow the quantile.
        assert!(mmc_response_quantile(3, 20.0, 10.0, 0.99) > mmc_response_quantile(4, 20.0, 10.0, 0.99));
    }
}
