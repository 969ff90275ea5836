//! Poisson arrivals with a piecewise-constant rate. Within a step the gaps
//! are exponential; a gap that would cross into the next step is discarded
//! and redrawn from the step boundary at the new rate, which is exact for a
//! Poisson process because it is memoryless.

use rand_distr::{Distribution, Exp1};

use crate::model::RateSchedule;
use crate::rng::SimRng;
use crate::time::{NANOS_PER_SEC, SimTime};

#[derive(Debug, Clone)]
pub struct PoissonArrivals {
    /// (start [ns], mean gap [ns]; infinite for a zero rate).
    steps: Vec<(SimTime, f64)>,
}

impl PoissonArrivals {
    pub fn new(schedule: &RateSchedule) -> Self {
        let steps = schedule
            .steps
            .iter()
            .map(|s| (s.from, if s.per_sec > 0.0 { NANOS_PER_SEC as f64 / s.per_sec } else { f64::INFINITY }))
            .collect();
        PoissonArrivals { steps }
    }

    /// Arrivals that never come (a closed-loop source sends on its own).
    pub fn never() -> Self {
        PoissonArrivals { steps: vec![(SimTime::ZERO, f64::INFINITY)] }
    }

    /// The first arrival strictly after `now`, or `None` if the rate stays
    /// zero from here on.
    #[inline]
    pub fn next_after(&self, now: SimTime, rng: &mut SimRng) -> Option<SimTime> {
        let mut step = match self.steps.len() {
            1 => 0,
            _ => self.steps.partition_point(|(from, _)| *from <= now).saturating_sub(1),
        };
        let mut from = now;
        loop {
            let (_, mean_gap) = self.steps[step];
            let boundary = self.steps.get(step + 1).map(|(t, _)| *t);
            if mean_gap.is_finite() {
                let e: f64 = Exp1.sample(rng);
                // At least 1 ns so that time always moves forward.
                let gap = ((e * mean_gap + 0.5) as u64).max(1);
                let at = SimTime(from.0.saturating_add(gap));
                match boundary {
                    Some(b) if at >= b => {}
                    _ => return Some(at),
                }
            }
            let b = boundary?;
            from = b;
            step += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RateStep;
    use crate::rng::{StreamKind, stream};

    fn count(schedule: &RateSchedule, from: u64, to: u64) -> usize {
        let arrivals = PoissonArrivals::new(schedule);
        let mut rng = stream(3, 0, StreamKind::Arrivals, 0);
        let mut t = SimTime::ZERO;
        let mut n = 0;
        while let Some(next) = arrivals.next_after(t, &mut rng) {
            if next.0 >= to * NANOS_PER_SEC {
                break;
            }
            if next.0 >= from * NANOS_PER_SEC {
                n += 1;
            }
            t = next;
        }
        n
    }

    #[test]
    fn step_schedule_gives_each_step_its_rate() {
        let s = RateSchedule {
            steps: vec![
                RateStep { from: SimTime::ZERO, per_sec: 100.0 },
                RateStep { from: SimTime(100 * NANOS_PER_SEC), per_sec: 0.0 },
                RateStep { from: SimTime(200 * NANOS_PER_SEC), per_sec: 1000.0 },
            ],
        };
        // Poisson counts: sd = sqrt(mean); allow 4 sd.
        let a = count(&s, 0, 100) as f64;
        assert!((a - 10_000.0).abs() < 400.0, "{a}");
        assert_eq!(count(&s, 100, 200), 0);
        let c = count(&s, 200, 300) as f64;
        assert!((c - 100_000.0).abs() < 1_265.0, "{c}");
    }

    #[test]
    fn zero_rate_forever_ends_arrivals() {
        let s = RateSchedule {
            steps: vec![
                RateStep { from: SimTime::ZERO, per_sec: 10.0 },
                RateStep { from: SimTime(NANOS_PER_SEC), per_sec: 0.0 },
            ],
        };
        let arrivals = PoissonArrivals::new(&s);
        let mut rng = stream(3, 0, StreamKind::Arrivals, 0);
        assert_eq!(arrivals.next_after(SimTime(2 * NANOS_PER_SEC), &mut rng), None);
    }
}
