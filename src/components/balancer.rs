//! Load-balancing policies: given the nodes behind a balancer, pick one.
//! Policies see only each node's outstanding-request count, as a proxy
//! does, and optional per-node weights.
//!
//! Least-outstanding over a large service keeps a min tree of its routing
//! set (`LeastTree`), updated on every change of a node's count, so a pick
//! costs O(log N) instead of a scan of every node; it picks exactly what
//! the scan would. Small services (fewer than [`TREE_FROM`] node slots)
//! scan, which is cheaper there.

use rand::RngExt;

use crate::model::{BalancePolicy, TieBreak};
use crate::rng::SimRng;

use super::node::Node;

/// Node slots from which least-outstanding keeps a tree instead of scanning.
pub const TREE_FROM: usize = 32;

#[derive(Debug, Clone)]
pub struct Balancer {
    policy: BalancePolicy,
    tie_break: TieBreak,
    /// Next node for round-robin; scan start for least-outstanding, so ties
    /// rotate instead of always landing on the first node.
    cursor: usize,
    /// Per node (service-local index); empty when every node weighs 1.
    weights: Vec<u32>,
    /// Smooth weighted round-robin's current weight per node (nginx).
    current: Vec<i64>,
    /// Least-outstanding's min tree over the routing set, for large services.
    tree: Option<LoadTree>,
}

/// A node's least-outstanding key: (outstanding + 1) / weight, Envoy's
/// weighted least request with `active_request_bias` 1 (the lowest key
/// wins). Unweighted, the order is that of the outstanding counts.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Key {
    load: u32,
    weight: u32,
}

impl Key {
    fn of(outstanding: u32, weight: u32) -> Self {
        Key { load: outstanding.saturating_add(1), weight }
    }
}

/// What a tree slot holds: a key with an order, and the key of a leaf past
/// the routing set, which loses to every node.
trait TreeKey: Copy + std::fmt::Debug {
    const EMPTY: Self;
    fn less(self, other: Self) -> bool;
}

impl TreeKey for Key {
    const EMPTY: Key = Key { load: u32::MAX, weight: 1 };

    #[inline(always)]
    fn less(self, other: Key) -> bool {
        (self.load as u64) * (other.weight as u64) < (other.load as u64) * (self.weight as u64)
    }
}

/// An unweighted tree holds the load alone (outstanding + 1): the same
/// order as a [`Key`] of weight 1, without the two multiplications, in half
/// the memory (at 3,000 nodes the tree is a fifth of a request's cost).
impl TreeKey for u32 {
    const EMPTY: u32 = u32::MAX;

    #[inline(always)]
    fn less(self, other: u32) -> bool {
        self < other
    }
}

/// The tree of an unweighted or a weighted routing set.
#[derive(Debug, Clone)]
enum LoadTree {
    Loads(LeastTree<u32>),
    Weighted(LeastTree<Key>),
}

impl Balancer {
    pub fn new(policy: BalancePolicy) -> Self {
        Balancer {
            policy,
            tie_break: TieBreak::Rotate,
            cursor: 0,
            weights: Vec::new(),
            current: Vec::new(),
            tree: None,
        }
    }

    /// A balancer over `slots` nodes; `weights` name nodes from the first
    /// (the rest weigh 1).
    pub fn with(policy: BalancePolicy, tie_break: TieBreak, weights: &[u32], slots: usize) -> Self {
        let mut b = Balancer::new(policy);
        b.tie_break = tie_break;
        if !weights.is_empty() {
            b.weights = (0..slots).map(|i| weights.get(i).copied().unwrap_or(1)).collect();
            b.current = vec![0; slots];
        }
        if policy == BalancePolicy::LeastOutstanding && slots >= TREE_FROM {
            let count_ties = tie_break == TieBreak::Random;
            b.tree = Some(if b.weights.is_empty() {
                LoadTree::Loads(LeastTree::new(slots, count_ties))
            } else {
                LoadTree::Weighted(LeastTree::new(slots, count_ties))
            });
        }
        b
    }

    /// Whether the balancer keeps a tree that needs every load change.
    pub fn tracks_loads(&self) -> bool {
        self.tree.is_some()
    }

    #[inline]
    fn weight(&self, local: u32) -> u32 {
        if self.weights.is_empty() { 1 } else { self.weights[local as usize] }
    }

    /// The routing set changed (health, ejection, membership, panic):
    /// `set` is what `pick` will be given from now on.
    pub fn routing_set_changed(&mut self, set: &[u32], nodes: &[Node]) {
        let outstanding = |l: u32| nodes[l as usize].outstanding();
        match self.tree.as_mut() {
            Some(LoadTree::Loads(tree)) => tree.rebuild(set.iter().map(|&l| (l, outstanding(l).saturating_add(1)))),
            Some(LoadTree::Weighted(tree)) => {
                let weights = &self.weights;
                tree.rebuild(set.iter().map(|&l| (l, Key::of(outstanding(l), weights[l as usize]))))
            }
            None => {}
        }
    }

    /// Node `local`'s outstanding count changed.
    #[inline]
    pub fn load_changed(&mut self, local: u32, outstanding: u32) {
        match self.tree.as_mut() {
            Some(LoadTree::Loads(tree)) => tree.set(local, outstanding.saturating_add(1)),
            Some(LoadTree::Weighted(tree)) => tree.set(local, Key::of(outstanding, self.weights[local as usize])),
            None => {}
        }
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
            BalancePolicy::RoundRobin if self.weights.is_empty() => self.advance_cursor(n),
            BalancePolicy::RoundRobin => self.smooth_weighted(candidates),
            BalancePolicy::Random if self.weights.is_empty() => rng.random_range(0..n),
            BalancePolicy::Random => self.weighted_draw(candidates, None, rng),
            BalancePolicy::LeastOutstanding if self.tree.is_some() => self.tree_pick(n, rng),
            BalancePolicy::LeastOutstanding if self.weights.is_empty() && self.tie_break == TieBreak::Rotate => {
                let start = self.advance_cursor(n);
                let mut best = start;
                let mut best_load = load(start);
                let mut i = start;
                for _ in 1..n {
                    // The next candidate after i, wrapping: no division per node.
                    i = if i + 1 == n { 0 } else { i + 1 };
                    let l = load(i);
                    if l < best_load {
                        best = i;
                        best_load = l;
                    }
                }
                best
            }
            BalancePolicy::LeastOutstanding => self.scan(candidates, nodes, rng),
            BalancePolicy::PowerOfTwo if self.weights.is_empty() => {
                // Two distinct random nodes; the less loaded wins, the first on a tie.
                let a = rng.random_range(0..n);
                let mut b = rng.random_range(0..n - 1);
                if b >= a {
                    b += 1;
                }
                if load(b) < load(a) { b } else { a }
            }
            BalancePolicy::PowerOfTwo => {
                // Two distinct nodes drawn by weight; the lower key wins.
                let a = self.weighted_draw(candidates, None, rng);
                let b = self.weighted_draw(candidates, Some(a), rng);
                let key = |i: usize| Key::of(load(i), self.weight(candidates[i]));
                if key(b).less(key(a)) { b } else { a }
            }
        };
        candidates[chosen]
    }

    /// The cursor's position among `n` candidates, then one past it.
    #[inline]
    fn advance_cursor(&mut self, n: usize) -> usize {
        let i = wrap(self.cursor, n);
        self.cursor = i + 1;
        i
    }

    /// nginx's smooth weighted round-robin: every candidate gains its
    /// weight, the highest (the first on a tie) is picked and loses the
    /// total. Weights 5, 1, 1 give a a b a c a a, not a a a a a b c.
    fn smooth_weighted(&mut self, candidates: &[u32]) -> usize {
        let mut total = 0i64;
        let mut best = 0;
        for (i, &l) in candidates.iter().enumerate() {
            let w = self.weights[l as usize] as i64;
            total += w;
            self.current[l as usize] += w;
            if self.current[l as usize] > self.current[candidates[best] as usize] {
                best = i;
            }
        }
        self.current[candidates[best] as usize] -= total;
        best
    }

    /// A candidate drawn with probability proportional to its weight,
    /// leaving out position `except`.
    fn weighted_draw(&self, candidates: &[u32], except: Option<usize>, rng: &mut SimRng) -> usize {
        let w = |i: usize| if Some(i) == except { 0 } else { self.weights[candidates[i] as usize] as u64 };
        let total: u64 = (0..candidates.len()).map(w).sum();
        let mut u = rng.random_range(0..total);
        for i in 0..candidates.len() {
            if u < w(i) {
                return i;
            }
            u -= w(i);
        }
        unreachable!("a draw below the total weight")
    }

    /// Least-outstanding by a scan, with weights and any tie-break: the
    /// reference the tree agrees with.
    fn scan(&mut self, candidates: &[u32], nodes: &[Node], rng: &mut SimRng) -> usize {
        let n = candidates.len();
        let start = match self.tie_break {
            TieBreak::Rotate => self.advance_cursor(n),
            TieBreak::First | TieBreak::Random => 0,
        };
        let key = |i: usize| Key::of(nodes[candidates[i] as usize].outstanding(), self.weight(candidates[i]));
        let (mut best, mut best_key, mut ties) = (start, key(start), 1u32);
        let mut i = start;
        for _ in 1..n {
            i = if i + 1 == n { 0 } else { i + 1 };
            let ki = key(i);
            if ki.less(best_key) {
                (best, best_key, ties) = (i, ki, 1);
            } else if !best_key.less(ki) {
                ties += 1;
            }
        }
        if self.tie_break != TieBreak::Random || ties == 1 {
            return best;
        }
        let mut k = rng.random_range(0..ties);
        for i in 0..n {
            if !best_key.less(key(i)) {
                if k == 0 {
                    return i;
                }
                k -= 1;
            }
        }
        unreachable!("the tie drawn is among the candidates")
    }

    fn tree_pick(&mut self, n: usize, rng: &mut SimRng) -> usize {
        match self.tree.as_ref().expect("a tree") {
            LoadTree::Loads(tree) => tree.pick(self.tie_break, &mut self.cursor, n, rng),
            LoadTree::Weighted(tree) => tree.pick(self.tie_break, &mut self.cursor, n, rng),
        }
    }
}

/// `cursor % n` without a division in the common cases: the cursor is one
/// past the last pick, so it is below `n` or equal to it (wrap to 0) unless
/// the routing set shrank since, which takes the remainder as before.
#[inline]
fn wrap(cursor: usize, n: usize) -> usize {
    if cursor < n {
        cursor
    } else if cursor == n {
        0
    } else {
        cursor % n
    }
}

/// A segment tree over the positions of the routing set: each slot holds
/// the least key below it. Leaf `i` is the routing set's `i`-th node;
/// `position` maps a node to its leaf.
///
/// Most changes do not reach the root: when a slot's least key comes out
/// the same as before, no slot above it changes either, so an update stops
/// there. At rho 0.9 over 3,000 nodes a load change climbs a few levels,
/// not all twelve. The Random tie-break needs, per slot, how many leaves
/// share its least key; those counts change with every leaf's change, so
/// only a tree that keeps them (`ties` not empty) climbs to the root.
#[derive(Debug, Clone)]
struct LeastTree<K> {
    /// Leaves: a power of two at least the routing set's size.
    size: usize,
    /// The routing set's size.
    len: usize,
    /// Slot 1 is the root; slot v's children are 2v and 2v + 1.
    keys: Vec<K>,
    /// Per slot, the leaves below it holding its key; empty unless counted.
    ties: Vec<u32>,
    /// Per node (service-local index): its leaf, or `NOT_ROUTED`.
    position: Vec<u32>,
}

const NOT_ROUTED: u32 = u32::MAX;

/// The lower of two keys, the left one on a tie.
#[inline(always)]
fn least<K: TreeKey>(a: K, b: K) -> K {
    if b.less(a) { b } else { a }
}

impl<K: TreeKey> LeastTree<K> {
    fn new(nodes: usize, count_ties: bool) -> Self {
        let size = nodes.next_power_of_two();
        LeastTree {
            size,
            len: 0,
            keys: vec![K::EMPTY; 2 * size],
            ties: if count_ties { vec![0; 2 * size] } else { Vec::new() },
            position: vec![NOT_ROUTED; nodes],
        }
    }

    fn rebuild(&mut self, set: impl Iterator<Item = (u32, K)>) {
        self.position.iter_mut().for_each(|p| *p = NOT_ROUTED);
        self.keys.iter_mut().for_each(|k| *k = K::EMPTY);
        self.ties.iter_mut().for_each(|t| *t = 0);
        self.len = 0;
        for (local, key) in set {
            self.position[local as usize] = self.len as u32;
            self.keys[self.size + self.len] = key;
            if !self.ties.is_empty() {
                self.ties[self.size + self.len] = 1;
            }
            self.len += 1;
        }
        for v in (1..self.size).rev() {
            self.merge(v);
        }
    }

    /// Recomputes slot `v` from its children.
    #[inline]
    fn merge(&mut self, v: usize) {
        let (a, b) = (self.keys[2 * v], self.keys[2 * v + 1]);
        self.keys[v] = least(a, b);
        if !self.ties.is_empty() {
            let (ta, tb) = (self.ties[2 * v], self.ties[2 * v + 1]);
            self.ties[v] = if a.less(b) {
                ta
            } else if b.less(a) {
                tb
            } else {
                ta + tb
            };
        }
    }

    #[inline]
    fn set(&mut self, local: u32, key: K) {
        let leaf = self.position[local as usize];
        if leaf == NOT_ROUTED {
            return;
        }
        let mut v = self.size + leaf as usize;
        self.keys[v] = key;
        if !self.ties.is_empty() {
            while v > 1 {
                v /= 2;
                self.merge(v);
            }
            return;
        }
        while v > 1 {
            v /= 2;
            let fresh = least(self.key(2 * v), self.key(2 * v + 1));
            let old = self.key(v);
            if !fresh.less(old) && !old.less(fresh) {
                break; // the same least key: nothing above changes
            }
            self.keys[v] = fresh;
        }
    }

    /// Slot `v`'s key. Every slot the climbs and descents visit lies in
    /// 1..2 * size (a parent of a slot, a child of an inner slot, or the
    /// next slot after a left child), where `keys` has an entry; at 3,000
    /// nodes the bounds checks were a quarter of the tree's instructions.
    #[inline(always)]
    fn key(&self, v: usize) -> K {
        debug_assert!(v < self.keys.len());
        // SAFETY: callers pass slots below 2 * size = keys.len(), as above.
        unsafe { *self.keys.get_unchecked(v) }
    }

    /// The first leaf at or after `start` holding the least key: from the
    /// leaf, step right to the next subtree (climbing while at a right
    /// child) until one holds the least key, then down its leftmost such
    /// path. Ties are usually near, so this rarely climbs far.
    fn first_tie_from(&self, start: usize) -> Option<usize> {
        if start >= self.size {
            return None;
        }
        let least = self.keys[1];
        let mut v = self.size + start;
        while least.less(self.key(v)) {
            v >>= v.trailing_ones(); // up while at a right child
            if v == 0 {
                return None; // climbed out of the root's right edge
            }
            v += 1;
        }
        while v < self.size {
            v *= 2;
            if least.less(self.key(v)) {
                v += 1;
            }
        }
        Some(v - self.size)
    }

    /// The leaf that gets the next attempt among the routing set's `n`
    /// nodes, moving the rotating `cursor` on.
    fn pick(&self, tie_break: TieBreak, cursor: &mut usize, n: usize, rng: &mut SimRng) -> usize {
        debug_assert_eq!(self.len, n, "the tree covers the routing set");
        match tie_break {
            TieBreak::Rotate => {
                let start = wrap(*cursor, n);
                *cursor = start + 1;
                self.first_tie_from(start).or_else(|| self.first_tie_from(0)).expect("a minimum")
            }
            TieBreak::First => self.first_tie_from(0).expect("a minimum"),
            TieBreak::Random => {
                let ties = self.least_ties();
                self.kth_tie(if ties > 1 { rng.random_range(0..ties) } else { 0 })
            }
        }
    }

    /// The leaves holding the least key (counted trees only).
    fn least_ties(&self) -> u32 {
        self.ties[1]
    }

    /// The `k`-th leaf (from 0, in order) holding the least key (counted
    /// trees only).
    fn kth_tie(&self, mut k: u32) -> usize {
        let least = self.keys[1];
        let mut v = 1;
        while v < self.size {
            let (left, left_ties) = (self.keys[2 * v], self.ties[2 * v]);
            if !least.less(left) && k < left_ties {
                v *= 2;
            } else {
                if !least.less(left) {
                    k -= left_ties;
                }
                v = 2 * v + 1;
            }
        }
        v - self.size
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
    fn wrap_is_the_remainder() {
        for n in 1..20 {
            for cursor in 0..100 {
                assert_eq!(wrap(cursor, n), cursor % n, "cursor {cursor}, n {n}");
            }
        }
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

    fn set_load(nodes: &mut [Node], local: usize, load: u32) {
        let mut fresh = Node::new(100, None);
        for id in 0..load {
            fresh.admit(id, crate::time::SimTime::ZERO);
        }
        nodes[local] = fresh;
    }

    #[test]
    fn first_always_picks_the_lowest_index_among_ties() {
        for slots in [5, 40] {
            let mut loads = vec![3; slots];
            loads[2] = 1;
            loads[4] = 1;
            let nodes = nodes_with_load(&loads);
            let mut b = Balancer::with(BalancePolicy::LeastOutstanding, TieBreak::First, &[], slots);
            b.routing_set_changed(&all(&nodes), &nodes);
            let mut rng = stream(1, 0, StreamKind::Balancer, 0);
            for _ in 0..10 {
                assert_eq!(b.pick(&all(&nodes), &nodes, &mut rng), 2, "{slots} slots");
            }
        }
    }

    #[test]
    fn rotate_cycles_through_ties() {
        for slots in [4, 64] {
            let nodes = nodes_with_load(&vec![0; slots]);
            let mut b = Balancer::with(BalancePolicy::LeastOutstanding, TieBreak::Rotate, &[], slots);
            b.routing_set_changed(&all(&nodes), &nodes);
            let mut rng = stream(1, 0, StreamKind::Balancer, 0);
            let picks: Vec<u32> = (0..2 * slots).map(|_| b.pick(&all(&nodes), &nodes, &mut rng)).collect();
            let expected: Vec<u32> = (0..2 * slots as u32).map(|i| i % slots as u32).collect();
            assert_eq!(picks, expected);
        }
    }

    #[test]
    fn random_tie_break_spreads_evenly_over_the_ties() {
        for slots in [6, 48] {
            let mut loads = vec![5; slots];
            for l in [1, 3, 4, 5] {
                loads[l] = 0;
            }
            let nodes = nodes_with_load(&loads);
            let mut b = Balancer::with(BalancePolicy::LeastOutstanding, TieBreak::Random, &[], slots);
            b.routing_set_changed(&all(&nodes), &nodes);
            let mut rng = stream(1, 0, StreamKind::Balancer, 0);
            let mut counts = vec![0u32; slots];
            for _ in 0..40_000 {
                counts[b.pick(&all(&nodes), &nodes, &mut rng) as usize] += 1;
            }
            // Only the four tied nodes, each ~10,000 (binomial sd ~87; 5 sd).
            for (i, &c) in counts.iter().enumerate() {
                if [1, 3, 4, 5].contains(&i) {
                    assert!((c as i64 - 10_000).abs() < 435, "{slots} slots: {counts:?}");
                } else {
                    assert_eq!(c, 0, "{slots} slots: node {i} is not tied");
                }
            }
        }
    }

    /// Picks with weights 3, 1, 1 over idle nodes (each pick's load is
    /// dropped again at once, so the nodes stay idle): shares 3/5, 1/5, 1/5.
    #[test]
    fn weights_give_proportional_shares() {
        let nodes = nodes_with_load(&[0, 0, 0]);
        for policy in [BalancePolicy::RoundRobin, BalancePolicy::Random, BalancePolicy::PowerOfTwo] {
            let mut b = Balancer::with(policy, TieBreak::Rotate, &[3, 1, 1], 3);
            let mut rng = stream(2, 0, StreamKind::Balancer, 0);
            let mut counts = [0u32; 3];
            for _ in 0..50_000 {
                counts[b.pick(&all(&nodes), &nodes, &mut rng) as usize] += 1;
            }
            match policy {
                // Smooth weighted round-robin is exact per cycle of 5.
                BalancePolicy::RoundRobin => assert_eq!(counts, [30_000, 10_000, 10_000]),
                // Random: binomial sd = sqrt(50000 * 0.6 * 0.4) ~ 110; 5 sd.
                BalancePolicy::Random => {
                    assert!((counts[0] as i64 - 30_000).abs() < 550, "{counts:?}");
                    assert!((counts[1] as i64 - 10_000).abs() < 450, "{counts:?}");
                }
                // Power of two over idle nodes: pairs drawn by weight, and
                // node 0's key 1/3 beats 1/1, so it wins whenever drawn:
                // 3/5 + 2 * 1/5 * 3/4 = 0.9; node 1 only as the first of
                // (1, 2): 1/5 * 1/4 = 0.05. Binomial sd ~67 and ~49; 5 sd.
                _ => {
                    assert!((counts[0] as i64 - 45_000).abs() < 335, "{policy:?}: {counts:?}");
                    assert!((counts[1] as i64 - 2_500).abs() < 245, "{policy:?}: {counts:?}");
                }
            }
        }
        // Smooth: 3, 1, 1 interleaves (nginx), never three in a row at the start.
        let mut b = Balancer::with(BalancePolicy::RoundRobin, TieBreak::Rotate, &[3, 1, 1], 3);
        let mut rng = stream(2, 0, StreamKind::Balancer, 0);
        let picks: Vec<u32> = (0..5).map(|_| b.pick(&all(&nodes), &nodes, &mut rng)).collect();
        assert_eq!(picks, vec![0, 1, 0, 2, 0]);
    }

    #[test]
    fn weighted_least_outstanding_follows_load_per_weight() {
        // (outstanding + 1) / weight: 5/4 beats 2/1 and 3/2.
        let nodes = nodes_with_load(&[1, 2, 4]);
        for slots in [3, 40] {
            let mut nodes = nodes.clone();
            nodes.resize_with(slots, || Node::new(100, None));
            let cands = [0, 1, 2];
            let mut b = Balancer::with(BalancePolicy::LeastOutstanding, TieBreak::First, &[1, 2, 4], slots);
            b.routing_set_changed(&cands, &nodes);
            let mut rng = stream(1, 0, StreamKind::Balancer, 0);
            assert_eq!(b.pick(&cands, &nodes, &mut rng), 2, "{slots} slots");
        }
    }

    /// The tree's picks equal a brute-force scan's (the code the tree
    /// replaces) over random loads, routing sets and weights.
    #[test]
    fn the_tree_picks_what_a_scan_picks() {
        let mut rng = stream(7, 0, StreamKind::Balancer, 0);
        for round in 0..200 {
            let slots = rng.random_range(TREE_FROM..200);
            let weights: Vec<u32> =
                if round % 2 == 0 { Vec::new() } else { (0..slots).map(|_| rng.random_range(1..5)).collect() };
            let tie_break = [TieBreak::Rotate, TieBreak::First, TieBreak::Random][round % 6 / 2];
            let mut nodes = nodes_with_load(&(0..slots).map(|_| rng.random_range(0..4)).collect::<Vec<_>>());
            let set: Vec<u32> = (0..slots as u32).filter(|_| rng.random::<f64>() < 0.7).collect();
            if set.len() < 2 {
                continue;
            }
            let mut fast = Balancer::with(BalancePolicy::LeastOutstanding, tie_break, &weights, slots);
            // The reference: a scan (below TREE_FROM slots no tree is kept).
            let mut slow = Balancer::with(BalancePolicy::LeastOutstanding, tie_break, &weights, TREE_FROM - 1);
            slow.weights = fast.weights.clone();
            slow.tree = None;
            fast.routing_set_changed(&set, &nodes);
            // Each its own copy of one stream: a Random tie-break draws alike.
            let mut draw_fast = stream(8, round as u64, StreamKind::Balancer, 0);
            let mut draw_slow = stream(8, round as u64, StreamKind::Balancer, 0);
            for _ in 0..300 {
                // Change a random node's load, as admissions and completions do.
                let local = rng.random_range(0..slots);
                let load = rng.random_range(0..4);
                set_load(&mut nodes, local, load);
                fast.load_changed(local as u32, load);
                let (a, b) = (fast.pick(&set, &nodes, &mut draw_fast), slow.pick(&set, &nodes, &mut draw_slow));
                assert_eq!(a, b, "round {round}: tree {a}, scan {b}");
            }
        }
    }

    #[test]
    fn the_tree_keeps_up_with_routing_set_changes() {
        let slots = 50;
        let nodes = nodes_with_load(&(0..slots as u32).map(|i| 10 + i).collect::<Vec<_>>());
        let mut b = Balancer::with(BalancePolicy::LeastOutstanding, TieBreak::Rotate, &[], slots);
        b.routing_set_changed(&all(&nodes), &nodes);
        let mut rng = stream(1, 0, StreamKind::Balancer, 0);
        assert_eq!(b.pick(&all(&nodes), &nodes, &mut rng), 0);
        // Node 0 leaves the set (ejected): its load changes no longer matter.
        let set: Vec<u32> = (1..slots as u32).collect();
        b.routing_set_changed(&set, &nodes);
        b.load_changed(0, 0);
        assert_eq!(b.pick(&set, &nodes, &mut rng), 1);
    }
}
