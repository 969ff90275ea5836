//! Passive outlier ejection for the nodes behind one balancer, after Envoy's
//! `outlier_detection`: a node that fails `consecutive_errors` attempts in a
//! row is ejected for base_ejection_time x (times ejected), capped at
//! max_ejection_time; at most max_ejection_percent of the nodes are ejected
//! at once, but one node may always be. The ejection multiplier decays by
//! one for every 10 s (Envoy's default `interval`) a node spends un-ejected.

use crate::model::OutlierSpec;
use crate::time::{SimDuration, SimTime};

/// Envoy's default outlier-detection sweep interval.
const DECAY_INTERVAL: SimDuration = SimDuration(10_000_000_000);

#[derive(Debug, Clone)]
pub struct OutlierDetector {
    spec: OutlierSpec,
    consecutive: Vec<u32>,
    ejected: Vec<bool>,
    multiplier: Vec<u32>,
    returned_at: Vec<SimTime>,
    ejected_count: usize,
}

impl OutlierDetector {
    pub fn new(spec: OutlierSpec, nodes: usize) -> Self {
        OutlierDetector {
            spec,
            consecutive: vec![0; nodes],
            ejected: vec![false; nodes],
            multiplier: vec![0; nodes],
            returned_at: vec![SimTime::ZERO; nodes],
            ejected_count: 0,
        }
    }

    pub fn is_ejected(&self, node: usize) -> bool {
        self.ejected[node]
    }

    pub fn ejected_count(&self) -> usize {
        self.ejected_count
    }

    fn may_eject_another(&self) -> bool {
        let n = self.ejected.len() as f64;
        self.ejected_count == 0 || (self.ejected_count + 1) as f64 <= self.spec.max_ejection_percent / 100.0 * n
    }

    /// Records an attempt's outcome on `node`. Returns the ejection time if
    /// this failure ejects the node.
    pub fn record(&mut self, node: usize, failed: bool, now: SimTime) -> Option<SimDuration> {
        if !failed {
            self.consecutive[node] = 0;
            return None;
        }
        self.consecutive[node] += 1;
        if self.ejected[node] || self.consecutive[node] < self.spec.consecutive_errors || !self.may_eject_another() {
            return None;
        }
        let decay = (now.since(self.returned_at[node]).0 / DECAY_INTERVAL.0) as u32;
        let multiplier = self.multiplier[node].saturating_sub(decay) + 1;
        self.multiplier[node] = multiplier;
        self.ejected[node] = true;
        self.ejected_count += 1;
        self.consecutive[node] = 0;
        let time = SimDuration(self.spec.base_ejection_time.0.saturating_mul(multiplier as u64));
        Some(time.min(self.spec.max_ejection_time))
    }

    /// The node's ejection time is over.
    pub fn return_node(&mut self, node: usize, now: SimTime) {
        if self.ejected[node] {
            self.ejected[node] = false;
            self.ejected_count -= 1;
            self.returned_at[node] = now;
            self.consecutive[node] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(percent: f64) -> OutlierSpec {
        OutlierSpec {
            consecutive_errors: 5,
            base_ejection_time: SimDuration::from_secs(30),
            max_ejection_time: SimDuration::from_secs(300),
            max_ejection_percent: percent,
        }
    }

    #[test]
    fn five_consecutive_errors_eject_and_a_success_resets_the_count() {
        let mut d = OutlierDetector::new(spec(50.0), 4);
        let t = SimTime::ZERO;
        for _ in 0..4 {
            assert_eq!(d.record(0, true, t), None);
        }
        assert_eq!(d.record(0, false, t), None);
        for _ in 0..4 {
            assert_eq!(d.record(0, true, t), None);
        }
        assert_eq!(d.record(0, true, t), Some(SimDuration::from_secs(30)));
        assert!(d.is_ejected(0));
    }

    #[test]
    fn ejection_time_grows_with_times_ejected_and_is_capped() {
        let mut d = OutlierDetector::new(spec(100.0), 2);
        let mut t = SimTime::ZERO;
        let mut times = Vec::new();
        for _ in 0..12 {
            let eject = (0..5).filter_map(|_| d.record(0, true, t)).next().unwrap();
            times.push(eject.as_secs_f64());
            t = t + eject;
            d.return_node(0, t); // fails again right away: no time to decay
        }
        assert_eq!(&times[..4], &[30.0, 60.0, 90.0, 120.0]);
        assert_eq!(*times.last().unwrap(), 300.0, "capped at max_ejection_time");
        // A long healthy spell decays the multiplier back to 1.
        let later = t + SimDuration::from_secs(3600);
        let eject = (0..5).filter_map(|_| d.record(0, true, later)).next().unwrap();
        assert_eq!(eject, SimDuration::from_secs(30));
    }

    #[test]
    fn ten_percent_of_ten_nodes_ejects_one_at_most() {
        let mut d = OutlierDetector::new(spec(10.0), 10);
        let t = SimTime::ZERO;
        for round in 0..20 {
            for node in 0..10 {
                d.record(node, true, t);
            }
            assert!(d.ejected_count() <= 1, "round {round}: {} ejected", d.ejected_count());
        }
        assert_eq!(d.ejected_count(), 1);
    }

    #[test]
    fn one_node_may_always_be_ejected() {
        let mut d = OutlierDetector::new(spec(10.0), 3); // 10% of 3 is 0.3 nodes
        let t = SimTime::ZERO;
        let ejected = (0..5).filter_map(|_| d.record(1, true, t)).count();
        assert_eq!(ejected, 1);
        assert!((0..5).filter_map(|_| d.record(2, true, t)).next().is_none());
    }
}
