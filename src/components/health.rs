//! Active health checking of one node as one balancer sees it: consecutive
//! passes and failures against thresholds (the rule of Envoy's and
//! Kubernetes' health checks). Nodes start healthy.

use crate::model::HealthCheckSpec;

#[derive(Debug, Clone)]
pub struct HealthState {
    healthy: bool,
    passes: u32,
    failures: u32,
}

impl Default for HealthState {
    fn default() -> Self {
        HealthState { healthy: true, passes: 0, failures: 0 }
    }
}

impl HealthState {
    /// A node that must pass `healthy_threshold` checks before it serves
    /// (a freshly restarted process, like a pod that is not Ready yet).
    pub fn unproven() -> Self {
        HealthState { healthy: false, passes: 0, failures: 0 }
    }

    pub fn healthy(&self) -> bool {
        self.healthy
    }

    /// Records one check result; returns the new state if it changed.
    pub fn record(&mut self, passed: bool, spec: &HealthCheckSpec) -> Option<bool> {
        if passed {
            self.passes += 1;
            self.failures = 0;
            if !self.healthy && self.passes >= spec.healthy_threshold {
                self.healthy = true;
                return Some(true);
            }
        } else {
            self.failures += 1;
            self.passes = 0;
            if self.healthy && self.failures >= spec.unhealthy_threshold {
                self.healthy = false;
                return Some(false);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;

    #[test]
    fn thresholds_flip_the_state() {
        let spec = HealthCheckSpec {
            interval: SimDuration::from_secs(5),
            timeout: SimDuration::from_secs(1),
            unhealthy_threshold: 3,
            healthy_threshold: 2,
            deep: false,
        };
        let mut h = HealthState::default();
        assert_eq!(h.record(false, &spec), None);
        assert_eq!(h.record(false, &spec), None);
        assert_eq!(h.record(true, &spec), None, "a pass resets the failure count");
        assert_eq!(h.record(false, &spec), None);
        assert_eq!(h.record(false, &spec), None);
        assert_eq!(h.record(false, &spec), Some(false));
        assert!(!h.healthy());
        assert_eq!(h.record(true, &spec), None);
        assert_eq!(h.record(true, &spec), Some(true));
    }
}
