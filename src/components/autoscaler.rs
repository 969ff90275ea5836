//! Target-tracking autoscaling with the Kubernetes Horizontal Pod
//! Autoscaler's arithmetic: desired = ceil(current × metric / target), no
//! action while metric / target is within the tolerance (10%), clamped to
//! [min, max]. Scale-up acts at once; scale-down follows the highest
//! recommendation of the last stabilisation window (300 s by default), so a
//! dip does not remove nodes that the next spike needs. An optional cooldown
//! spaces scaling actions.

use std::collections::VecDeque;

use crate::model::AutoscalingSpec;
use crate::time::SimTime;

/// HPA's replica calculation for `current` replicas whose average metric is
/// `metric` against `target`.
pub fn hpa_desired(current: u32, metric: f64, target: f64, tolerance: f64) -> u32 {
    let ratio = metric / target;
    if (ratio - 1.0).abs() <= tolerance {
        return current;
    }
    (current as f64 * ratio).ceil() as u32
}

#[derive(Debug, Clone)]
pub struct Autoscaler {
    spec: AutoscalingSpec,
    /// (time, recommendation) over the stabilisation window.
    recommendations: VecDeque<(SimTime, u32)>,
    last_action: Option<SimTime>,
}

impl Autoscaler {
    pub fn new(spec: AutoscalingSpec) -> Self {
        Autoscaler { spec, recommendations: VecDeque::new(), last_action: None }
    }

    pub fn spec(&self) -> &AutoscalingSpec {
        &self.spec
    }

    /// One evaluation: `current` nodes in the service, of which `counted`
    /// (ready, not warming) averaged `metric`. Returns the new node count if
    /// the service should scale now.
    pub fn evaluate(&mut self, now: SimTime, current: u32, counted: u32, metric: f64) -> Option<u32> {
        let s = &self.spec;
        let raw = if counted == 0 {
            current
        } else {
            // Scale from the nodes that reported; nodes still starting keep their place.
            hpa_desired(counted, metric, s.target, s.tolerance) + (current - counted)
        };
        let desired = raw.clamp(s.min, s.max);
        self.recommendations.push_back((now, desired));
        while self.recommendations.front().is_some_and(|(t, _)| now.since(*t) > s.scale_down_stabilization) {
            self.recommendations.pop_front();
        }
        let stable_down = self.recommendations.iter().map(|(_, d)| *d).max().unwrap_or(desired);
        let next = if desired > current {
            desired
        } else if stable_down < current {
            stable_down
        } else {
            return None;
        };
        if let Some(last) = self.last_action
            && now.since(last) < s.cooldown
        {
            return None;
        }
        self.last_action = Some(now);
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AutoscaleMetric, Distribution};
    use crate::time::SimDuration;

    fn spec() -> AutoscalingSpec {
        AutoscalingSpec {
            metric: AutoscaleMetric::Utilization,
            target: 0.75,
            tolerance: 0.1,
            min: 1,
            max: 100,
            evaluation_period: SimDuration::from_secs(15),
            provisioning: Distribution::Constant { value: SimDuration::from_secs(30) },
            warmup: SimDuration::from_secs(30),
            warmup_slowdown: 1.0,
            cooldown: SimDuration::ZERO,
            scale_down_stabilization: SimDuration::from_secs(300),
        }
    }

    fn t(s: u64) -> SimTime {
        SimTime(s * 1_000_000_000)
    }

    #[test]
    fn hpa_arithmetic() {
        assert_eq!(hpa_desired(50, 0.90, 0.75, 0.1), 60, "the Kubernetes docs' example");
        assert_eq!(hpa_desired(50, 0.80, 0.75, 0.1), 50, "ratio 1.067 is within the 10% tolerance");
        assert_eq!(hpa_desired(50, 0.70, 0.75, 0.1), 50, "ratio 0.933 too");
        assert_eq!(hpa_desired(4, 0.30, 0.75, 0.1), 2);
        assert_eq!(hpa_desired(3, 0.76, 0.75, 0.1), 3);
    }

    #[test]
    fn scales_up_at_once_within_limits() {
        let mut a = Autoscaler::new(spec());
        assert_eq!(a.evaluate(t(0), 50, 50, 0.9), Some(60));
        let mut capped = Autoscaler::new(AutoscalingSpec { max: 55, ..spec() });
        assert_eq!(capped.evaluate(t(0), 50, 50, 0.9), Some(55));
    }

    #[test]
    fn scale_down_waits_for_the_stabilisation_window() {
        let mut a = Autoscaler::new(spec());
        // Busy at first (recommendation 10), then idle: recommendations drop
        // to 2, but the window still holds the 10 for 300 s.
        assert_eq!(a.evaluate(t(0), 10, 10, 0.75), None);
        for s in (15..=300).step_by(15) {
            assert_eq!(a.evaluate(t(s), 10, 10, 0.15), None, "held at {s} s");
        }
        assert_eq!(a.evaluate(t(315), 10, 10, 0.15), Some(2), "the busy sample left the window");
    }

    #[test]
    fn cooldown_spaces_actions() {
        let mut a = Autoscaler::new(AutoscalingSpec { cooldown: SimDuration::from_secs(60), ..spec() });
        assert_eq!(a.evaluate(t(0), 4, 4, 1.5), Some(8));
        assert_eq!(a.evaluate(t(30), 8, 8, 1.5), None, "in cooldown");
        assert_eq!(a.evaluate(t(60), 8, 8, 1.5), Some(16));
    }

    #[test]
    fn nodes_still_starting_are_not_counted_twice() {
        let mut a = Autoscaler::new(spec());
        // 6 nodes, 2 of them warming: 4 report 1.5 x target -> 6, plus the
        // 2 warming = 8 (not ceil(6 x 1.5) = 9).
        assert_eq!(a.evaluate(t(0), 6, 4, 1.125), Some(8));
    }
}
