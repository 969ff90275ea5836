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

    /// The node (an index into `nodes`) that gets the next attempt, chosen
    /// among `candidates` (indices into `nodes`, not empty).
    #[inline]
    pub fn pick(&mut self, candidates: &[u32], nodes: &[Node], rng: &mut SimRng) -> u32 {
        let n = candidates.len();
        debug_assert!(n > 0);
        if n == 1 {
            return candidates[0];
        }
        let load = |i: usize| nodes[candidates[i] as usize].outstanding();
        let chosen = match self.policy {
            BalancePolicy::RoundRobin => {
                let i = self.cursor % n;
                self.cursor = i + 1;
                i
            }
            BalancePolicy::Random => rng.random_range(0..n),
            BalancePolicy::LeastOutstanding => {
                let start = self.cursor % n;
                self.cursor = start + 1;
                let mut best = start;
                let mut best_load = load(start);
                for k in 1..n {
                    let i = (start + k) % n;
                    let l = load(i);
                    if l < best_load {
                        best = i;
                        best_load = l;
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
                if load(b) < load(a) { b } else { a }
            }
        };
        candidates[chosen]
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
                    n.admit(id, crate::time::SimTime::ZERO);
                }
                n
            })
            .collect()
    }

    fn all(nodes: &[Node]) -> Vec<u32> {
        (0..nodes.len() as u32).collect()
    }

    #[test]
    fn round_robin_cycles() {
        let nodes = nodes_with_load(&[0, 0, 0]);
        let mut b = Balancer::new(BalancePolicy::RoundRobin);
        let mut rng = stream(1, 0, StreamKind::Balancer, 0);
        let picks: Vec<usize> = (0..7).map(|_| b.pick(&all(&nodes), &nodes, &mut rng) as usize).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn least_outstanding_picks_the_emptiest_and_rotates_ties() {
        let mut b = Balancer::new(BalancePolicy::LeastOutstanding);
        let mut rng = stream(1, 0, StreamKind::Balancer, 0);
        assert_eq!(
            {
                let n = nodes_with_load(&[5, 1, 3]);
                b.pick(&all(&n), &n, &mut rng)
            },
            1
        );
        let even = nodes_with_load(&[2, 2, 2]);
        let picks: Vec<usize> = (0..3).map(|_| b.pick(&all(&even), &even, &mut rng) as usize).collect();
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
            assert_eq!(b.pick(&all(&nodes), &nodes, &mut rng) as usize, 1);
        }
    }

    #[test]
    fn only_candidates_are_picked() {
        let nodes = nodes_with_load(&[0, 0, 0, 0]);
        let mut rng = stream(1, 0, StreamKind::Balancer, 0);
        for policy in [
            BalancePolicy::RoundRobin,
            BalancePolicy::Random,
            BalancePolicy::LeastOutstanding,
            BalancePolicy::PowerOfTwo,
        ] {
            let mut b = Balancer::new(policy);
            for _ in 0..100 {
                let picked = b.pick(&[1, 3], &nodes, &mut rng);
                assert!(picked == 1 || picked == 3, "{policy:?} picked {picked}");
            }
        }
    }

    #[test]
    fn random_spreads_evenly() {
        let mut b = Balancer::new(BalancePolicy::Random);
        let mut rng = stream(1, 0, StreamKind::Balancer, 0);
        let nodes = nodes_with_load(&[0, 0, 0, 0]);
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[b.pick(&all(&nodes), &nodes, &mut rng) as usize] += 1;
        }
        // Binomial sd = sqrt(40000 * 0.25 * 0.75) ~ 87; allow 5 sd.
        assert!(counts.iter().all(|&c| (c as i64 - 10_000).abs() < 435), "{counts:?}");
    }
}
