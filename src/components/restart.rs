//! Crash-loop back-off of one node, like Kubernetes restarts a failing
//! container: wait `backoff_initial` before the first restart, double for
//! each crash after, up to `backoff_max`; a node that stays up for
//! `backoff_reset_after` starts again from the initial back-off.

use crate::model::RestartSpec;
use crate::time::{SimDuration, SimTime};

#[derive(Debug, Clone, Default)]
pub struct CrashLoop {
    crashes_in_a_row: u32,
    up_since: Option<SimTime>,
}

impl CrashLoop {
    /// The node crashed at `now`: how long to wait before restarting it.
    pub fn on_crash(&mut self, now: SimTime, spec: &RestartSpec) -> SimDuration {
        if let Some(up) = self.up_since.take()
            && now.since(up) >= spec.backoff_reset_after
        {
            self.crashes_in_a_row = 0;
        }
        if !spec.crash_loop_backoff {
            return SimDuration::ZERO;
        }
        let doubling = 2u64.saturating_pow(self.crashes_in_a_row.min(40));
        self.crashes_in_a_row += 1;
        SimDuration(spec.backoff_initial.0.saturating_mul(doubling)).min(spec.backoff_max)
    }

    /// The node is up (again) from `now`.
    pub fn on_up(&mut self, now: SimTime) {
        self.up_since = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Distribution;

    fn spec() -> RestartSpec {
        RestartSpec {
            delay: Distribution::Constant { value: SimDuration::ZERO },
            crash_loop_backoff: true,
            backoff_initial: SimDuration::from_secs(10),
            backoff_max: SimDuration::from_secs(300),
            backoff_reset_after: SimDuration::from_secs(600),
        }
    }

    #[test]
    fn doubles_to_the_cap_and_resets_after_a_long_run() {
        let s = spec();
        let mut c = CrashLoop::default();
        let mut t = SimTime::ZERO;
        let mut waits = Vec::new();
        for _ in 0..7 {
            c.on_up(t);
            t = t + SimDuration::from_secs(60); // crashes a minute after each start
            let w = c.on_crash(t, &s);
            waits.push(w.as_secs_f64());
            t = t + w;
        }
        assert_eq!(waits, vec![10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]);
        c.on_up(t);
        let w = c.on_crash(t + SimDuration::from_secs(600), &s);
        assert_eq!(w, SimDuration::from_secs(10), "ten minutes up resets the back-off");
    }
}
