//! Target-tracking autoscaling that follows the Kubernetes Horizontal Pod
//! Autoscaler: the replica calculation (tolerance, not-yet-ready and
//! missing pods), the scale-down stabilisation window, the default scale-up
//! policy, clamped to [min, max]. An optional cooldown spaces scaling
//! actions (not an HPA feature; off by default).
//!
//! Sources: the algorithm details in
//! <https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#algorithm-details>,
//! `GetResourceReplicas` / `calcPlainMetricReplicas` / `groupPods` in
//! `pkg/controller/podautoscaler/replica_calculator.go`, and
//! `stabilizeRecommendationWithBehaviors` /
//! `calculateScaleUpLimitWithScalingRules` in
//! `pkg/controller/podautoscaler/horizontal.go` (kubernetes/kubernetes).

use std::collections::VecDeque;

use crate::model::{AutoscaleMetric, AutoscalingSpec};
use crate::time::{SimDuration, SimTime};

/// What one evaluation knows about the service's pods (nodes), grouped as
/// the HPA's `groupPods` does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PodCounts {
    /// Replicas the autoscaler manages now (the HPA's current replicas):
    /// every pod below, whatever its state.
    pub current: u32,
    /// Ready pods with a full metric window, and the mean of their metric.
    pub ready: u32,
    pub ready_metric: f64,
    /// Pods not yet ready: pending (provisioning), or ready for less than
    /// one metric window (warming up, just restarted).
    pub unready: u32,
    /// Pods with no metric sample (a process that is down).
    pub missing: u32,
}

/// The HPA's replica recommendation from the per-pod facts, before
/// stabilisation, policies and [min, max]. `missing_on_scale_down` is the
/// metric a pod without a sample is assumed to report when the ready pods
/// say scale down: the HPA uses max(100%, target) for a utilization target
/// and the target itself for a per-pod value (in-flight).
///
/// 1. ratio = mean metric of the ready pods / target; with no ready pod
///    there is nothing to scale on (the HPA reports an error and keeps the
///    replicas).
/// 2. With no missing pods and no unready pods on a scale-up: within the
///    tolerance keep `current`, else ceil(ratio × ready).
/// 3. Otherwise recompute the ratio with missing pods at 0% on a scale-up
///    (`missing_on_scale_down` on a scale-down) and, on a scale-up only,
///    unready pods at 0% (on a scale-down they are set aside). If the new
///    ratio is within the tolerance or reverses the direction, keep
///    `current`; else ceil(new ratio × pods in the recomputation), unless
///    that moves against the direction.
pub fn hpa_replicas(pods: &PodCounts, target: f64, tolerance: f64, missing_on_scale_down: f64) -> u32 {
    if pods.ready == 0 {
        return pods.current;
    }
    let ratio = pods.ready_metric / target;
    let scale_up_with_unready = pods.unready > 0 && ratio > 1.0;
    if !scale_up_with_unready && pods.missing == 0 {
        if (1.0 - ratio).abs() <= tolerance {
            return pods.current;
        }
        return (ratio * pods.ready as f64).ceil() as u32;
    }
    let mut total = pods.ready_metric * pods.ready as f64;
    let mut count = pods.ready;
    if ratio < 1.0 {
        total += missing_on_scale_down * pods.missing as f64;
        count += pods.missing;
    } else if ratio > 1.0 {
        count += pods.missing; // at 0%
    }
    if scale_up_with_unready {
        count += pods.unready; // at 0%
    }
    let new_ratio = total / count as f64 / target;
    if (1.0 - new_ratio).abs() <= tolerance || (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0) {
        return pods.current;
    }
    let new = (new_ratio * count as f64).ceil() as u32;
    if (new_ratio < 1.0 && new > pods.current) || (new_ratio > 1.0 && new < pods.current) {
        return pods.current;
    }
    new
}

/// The HPA's default scale-up policies (`behavior.scaleUp`): within any
/// 15 s, add at most the larger of 4 pods and 100% of the replicas at the
/// start of that period.
const SCALE_UP_PERIOD: SimDuration = SimDuration(15_000_000_000);
const SCALE_UP_PODS: i64 = 4;
const SCALE_UP_PERCENT: i64 = 100;

#[derive(Debug, Clone)]
pub struct Autoscaler {
    spec: AutoscalingSpec,
    /// (time, recommendation) over the stabilisation window.
    recommendations: VecDeque<(SimTime, u32)>,
    /// (time, replicas added or removed) over the last scale-up period.
    scale_events: VecDeque<(SimTime, i64)>,
    last_action: Option<SimTime>,
}

impl Autoscaler {
    pub fn new(spec: AutoscalingSpec) -> Self {
        Autoscaler { spec, recommendations: VecDeque::new(), scale_events: VecDeque::new(), last_action: None }
    }

    pub fn spec(&self) -> &AutoscalingSpec {
        &self.spec
    }

    /// One evaluation of the service's pods. Returns the new node count if
    /// the service should scale now.
    pub fn evaluate(&mut self, now: SimTime, pods: &PodCounts) -> Option<u32> {
        let s = &self.spec;
        let current = pods.current;
        let missing_on_scale_down = match s.metric {
            AutoscaleMetric::Utilization => s.target.max(1.0),
            AutoscaleMetric::InFlight => s.target,
        };
        let desired = hpa_replicas(pods, s.target, s.tolerance, missing_on_scale_down).clamp(s.min, s.max);
        // The HPA keeps recommendations strictly younger than the window.
        while self.recommendations.front().is_some_and(|(t, _)| now.since(*t) >= s.scale_down_stabilization) {
            self.recommendations.pop_front();
        }
        self.recommendations.push_back((now, desired));
        let stable_down = self.recommendations.iter().map(|(_, d)| *d).max().unwrap_or(desired);
        while self.scale_events.front().is_some_and(|(t, _)| now.since(*t) >= SCALE_UP_PERIOD) {
            self.scale_events.pop_front();
        }
        let next = if desired > current {
            let period_start = current as i64 - self.scale_events.iter().map(|(_, d)| d).sum::<i64>();
            let limit = (period_start + SCALE_UP_PODS).max(period_start * (100 + SCALE_UP_PERCENT) / 100);
            desired.min(limit.max(current as i64) as u32)
        } else if stable_down < current {
            stable_down
        } else {
            return None;
        };
        if next == current {
            return None;
        }
        if let Some(last) = self.last_action
            && now.since(last) < s.cooldown
        {
            return None;
        }
        self.last_action = Some(now);
        self.scale_events.push_back((now, next as i64 - current as i64));
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Distribution;

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

    /// `current` pods, all ready, averaging `metric`.
    fn ready(current: u32, metric: f64) -> PodCounts {
        PodCounts { current, ready: current, ready_metric: metric, unready: 0, missing: 0 }
    }

    /// `current` pods of which `ready` average `metric` and `unready` are
    /// not yet ready.
    fn starting(current: u32, ready: u32, metric: f64, unready: u32) -> PodCounts {
        PodCounts { current, ready, ready_metric: metric, unready, missing: 0 }
    }

    fn replicas(pods: PodCounts, target: f64) -> u32 {
        hpa_replicas(&pods, target, 0.1, target.max(1.0))
    }

    #[test]
    fn hpa_arithmetic_with_every_pod_ready() {
        // The documentation: 200m against a 100m target doubles the
        // replicas, 50m halves them.
        assert_eq!(replicas(ready(3, 200.0), 100.0), 6);
        assert_eq!(replicas(ready(4, 50.0), 100.0), 2);
        assert_eq!(replicas(ready(50, 0.90), 0.75), 60, "ceil(50 x 0.90 / 0.75)");
        assert_eq!(replicas(ready(50, 0.80), 0.75), 50, "ratio 1.067 is within the 10% tolerance");
        assert_eq!(replicas(ready(50, 0.70), 0.75), 50, "ratio 0.933 too");
        assert_eq!(replicas(ready(4, 0.30), 0.75), 2);
        assert_eq!(replicas(ready(3, 0.76), 0.75), 3);
        assert_eq!(replicas(PodCounts { ready: 0, ..ready(3, 0.0) }, 0.75), 3, "no metrics: no change");
    }

    /// Worked examples from replica_calculator_test.go (1 CPU requested per
    /// pod, levels in millicores).
    #[test]
    fn pods_still_starting_count_as_idle_on_a_scale_up() {
        // TestReplicaCalcScaleUpUnreadyLessScale: levels 300 (unready), 500,
        // 700 at a 30% target: the ready pods say 60% -> ceil(2 x 2) = 4 (not
        // + the unready one = 5); with it at 0% the ratio is 40/30 -> 4.
        assert_eq!(replicas(starting(3, 2, 0.6, 1), 0.3), 4);
        // TestReplicaCalcScaleUpUnreadyNoScale: 400 ready, 500 and 700
        // unready: 40% -> but with the unready at 0% only 13% -> no action.
        assert_eq!(replicas(starting(3, 1, 0.4, 2), 0.3), 3);
        // Two saturated nodes already asked for two more that are still
        // provisioning: 2 x 100% + 2 x 0% over 4 = 50% < 60% reverses the
        // direction -> keep 4 (counting the two again gave 4 + 2 = 6).
        assert_eq!(replicas(starting(4, 2, 1.0, 2), 0.6), 4);
    }

    #[test]
    fn pods_still_starting_are_set_aside_on_a_scale_down() {
        // TestReplicaCalcScaleDownIgnoresUnreadyPods: levels 100, 300, 500
        // ready and 250, 250 unready at a 50% target: 30% -> ceil(0.6 x 3) = 2.
        assert_eq!(replicas(starting(5, 3, 0.3, 2), 0.5), 2);
    }

    #[test]
    fn pods_without_metrics() {
        let missing =
            |current, ready, metric, missing| PodCounts { current, ready, ready_metric: metric, unready: 0, missing };
        // Scale-up: the missing pod counts 0%: (2 x 100% + 0) / 3 = 66.7%
        // against 50% -> ceil(1.33 x 3) = 4.
        assert_eq!(replicas(missing(3, 2, 1.0, 1), 0.5), 4);
        // Scale-down: the missing pod counts 100%: (3 x 10% + 100%) / 4 =
        // 32.5% against 50% -> ceil(0.65 x 4) = 3, not ceil(0.2 x 3) = 1.
        assert_eq!(replicas(missing(4, 3, 0.1, 1), 0.5), 3);
        // ... and enough of them reverse the direction: no action.
        assert_eq!(replicas(missing(4, 2, 0.2, 2), 0.5), 4);
    }

    #[test]
    fn scales_up_at_once_within_limits() {
        let mut a = Autoscaler::new(spec());
        assert_eq!(a.evaluate(t(0), &ready(50, 0.9)), Some(60));
        let mut capped = Autoscaler::new(AutoscalingSpec { max: 55, ..spec() });
        assert_eq!(capped.evaluate(t(0), &ready(50, 0.9)), Some(55));
    }

    #[test]
    fn scale_up_follows_the_default_policy() {
        let spec = AutoscalingSpec { metric: AutoscaleMetric::InFlight, target: 1.0, ..spec() };
        let mut a = Autoscaler::new(spec);
        // 2 nodes want 8: at most max(2 + 4, 2 x 2) = 6 per 15 s.
        assert_eq!(a.evaluate(t(0), &ready(2, 4.0)), Some(6));
        // 5 s later the period still started at 2 nodes.
        assert_eq!(a.evaluate(t(5), &ready(6, 4.0)), None);
        // A new period: 6 nodes may double.
        assert_eq!(a.evaluate(t(15), &ready(6, 4.0)), Some(12));
    }

    #[test]
    fn scale_down_waits_for_the_stabilisation_window() {
        let mut a = Autoscaler::new(spec());
        // Busy at first (recommendation 10), then idle: recommendations drop
        // to 2, but the window holds the 10 while it is younger than 300 s.
        assert_eq!(a.evaluate(t(0), &ready(10, 0.75)), None);
        for s in (15..300).step_by(15) {
            assert_eq!(a.evaluate(t(s), &ready(10, 0.15)), None, "held at {s} s");
        }
        assert_eq!(a.evaluate(t(300), &ready(10, 0.15)), Some(2), "the busy sample left the window");
    }

    #[test]
    fn cooldown_spaces_actions() {
        let mut a = Autoscaler::new(AutoscalingSpec { cooldown: SimDuration::from_secs(60), ..spec() });
        assert_eq!(a.evaluate(t(0), &ready(4, 1.5)), Some(8));
        assert_eq!(a.evaluate(t(30), &ready(8, 1.5)), None, "in cooldown");
        assert_eq!(a.evaluate(t(60), &ready(8, 1.5)), Some(16));
    }
}
