//! Load-balancing policies: given the nodes behind a balancer, pick one.
//! Policies see only each node's outstanding-request count, as a proxy does.

use rand::RngExt;

use crate::model::BalancePolicy;
use crate::rng::SimRng;

use super::node::Node;

#[derive(Debug, Clone)]
pub struct Balancer {
    policy: BalancePolicy,
    /// Next node for round-robin; scan start for least-outstanding, so ties
    /// rotate instead of always landing on the first node.
    cursor: usize,
}

impl Balancer {
    pub fn new(policy: BalancePolicy) -> Self {
        Balancer { policy, cursor: 0 }
    }

    /// Index (into `nodes`) of the node that gets the next request.
    #[inline]
    pub fn pick(&mut self, nodes: &[Node], rng: &mut SimRng) -> usize {
        let n = nodes.len();
        debug_assert!(n > 0);
        if n == 1 {
            return 0;
        }
        match self.policy {
            BalancePolicy::RoundRobin => {
                let i = self.cursor;
                self.cursor = if i + 1 == n { 0 } else { i + 1 };
                i
            }
            BalancePolicy::Random => rng.random_range(0..n),
            BalancePolicy::LeastOutstanding => {
                let start = self.cursor;
                self.cursor = if start + 1 == n { 0 } else { start + 1 };
                let mut best = start;
                let mut best_load = nodes[start].outstanding();
                for k in 1..n {
                    let i = (start + k) % n;
                    let load = nodes[i].outstanding();
                    if load < best_load {
                        best = i;
                        best_load = load;
                    }
                }
                best
            }
            BalancePolicy::PowerOfTwo => {
                // Two distinct random nodes; the less loaded wins, the first on a tie.
                let a = rng.random_range(0..n);
                let mut b = rng.random_range(0..n - 1);
                if b >= a {
                    b += 1;
                }
                if nodes[b].outstanding() < nodes[a].outstanding() { b } else { a }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{StreamKind, stream};

    fn nodes_with_load(loads: &[u32]) -> Vec<Node> {
        loads
            .iter()
            .map(|&l| {
                let mut n = Node::new(100, None);
                for id in 0..l {
                    n.admit(id);
                }
                n
            })
            .collect()
    }

    #[test]
    fn round_robin_cycles() {
        let nodes = nodes_with_load(&[0, 0, 0]);
        let mut b = Balancer::new(BalancePolicy::RoundRobin);
        let mut rng = stream(1, 0, StreamKind::Balancer, 0);
        let picks: Vec<usize> = (0..7).map(|_| b.pick(&nodes, &mut rng)).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn least_outstanding_picks_the_emptiest_and_rotates_ties() {
        let mut b = Balancer::new(BalancePolicy::LeastOutstanding);
        let mut rng = stream(1, 0, StreamKind::Balancer, 0);
        assert_eq!(b.pick(&nodes_with_load(&[5, 1, 3]), &mut rng), 1);
        let even = nodes_with_load(&[2, 2, 2]);
        let picks: Vec<usize> = (0..3).map(|_| b.pick(&even, &mut rng)).collect();
        let mut sorted = picks.clone();
        sorted.sort();
        assert_eq!(sorted, vec![0, 1, 2], "ties rotate: {picks:?}");
    }

    #[test]
    fn power_of_two_never_picks_the_most_loaded_of_two() {
        let mut b = Balancer::new(BalancePolicy::PowerOfTwo);
        let mut rng = stream(1, 0, StreamKind::Balancer, 0);
        let nodes = nodes_with_load(&[9, 0]);
        for _ in 0..100 {
            assert_eq!(b.pick(&nodes, &mut rng), 1);
        }
    }

    #[test]
    fn random_spreads_evenly() {
        let mut b = Balancer::new(BalancePolicy::Random);
        let mut rng = stream(1, 0, StreamKind::Balancer, 0);
        let nodes = nodes_with_load(&[0, 0, 0, 0]);
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[b.pick(&nodes, &mut rng)] += 1;
        }
        // Binomial sd = sqrt(40000 * 0.25 * 0.75) ~ 87; allow 5 sd.
        assert!(counts.iter().all(|&c| (c as i64 - 10_000).abs() < 435), "{counts:?}");
    }
}
