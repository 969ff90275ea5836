//! Poisson arrivals with a piecewise rate. Within a constant step the gaps
//! are exponential; a gap that would cross into the next step is discarded
//! and redrawn from the step boundary at the new rate, which is exact for a
//! Poisson process because it is memoryless. Within a linear step (a ramp)
//! the next arrival inverts the integrated rate, which is quadratic: exact
//! for the non-homogeneous process, with one exponential draw per try.

use rand_distr::{Distribution, Exp1};

use crate::model::RateSchedule;
use crate::rng::SimRng;
use crate::time::{NANOS_PER_SEC, SimTime};

#[derive(Debug, Clone)]
pub struct PoissonArrivals {
    /// (start [ns], mean gap [ns]; infinite for a zero rate).
    steps: Vec<(SimTime, f64)>,
    /// Per step with ramps, (rate at its start, slope) in per-ns units;
    /// empty without ramps, so that step schedules keep their fast path.
    ramps: Vec<Option<(f64, f64)>>,
    /// The mean gap [ns] of a constant non-zero rate (one step, no ramp):
    /// the common case, which skips the step lookup (see `next_after`).
    constant_gap: Option<f64>,
}

impl PoissonArrivals {
    pub fn new(schedule: &RateSchedule) -> Self {
        let steps = schedule
            .steps
            .iter()
            .map(|s| (s.from, if s.per_sec > 0.0 { NANOS_PER_SEC as f64 / s.per_sec } else { f64::INFINITY }))
            .collect();
        let mut ramps = Vec::new();
        if schedule.has_ramps() {
            let per_ns = |per_sec: f64| per_sec / NANOS_PER_SEC as f64;
            ramps = (schedule.steps.iter().zip(schedule.steps.iter().skip(1).map(Some).chain([None])))
                .map(|(s, next)| match next {
                    Some(n) if s.ramp => {
                        let slope = (per_ns(n.per_sec) - per_ns(s.per_sec)) / (n.from.0 - s.from.0) as f64;
                        Some((per_ns(s.per_sec), slope))
                    }
                    _ => None,
                })
                .collect();
        }
        PoissonArrivals::with_steps(steps, ramps)
    }

    fn with_steps(steps: Vec<(SimTime, f64)>, ramps: Vec<Option<(f64, f64)>>) -> Self {
        let constant_gap = match steps.as_slice() {
            [(_, mean_gap)] if mean_gap.is_finite() => Some(*mean_gap),
            _ => None,
        };
        PoissonArrivals { steps, ramps, constant_gap }
    }

    /// Arrivals that never come (a closed-loop source sends on its own).
    pub fn never() -> Self {
        PoissonArrivals::with_steps(vec![(SimTime::ZERO, f64::INFINITY)], Vec::new())
    }

    /// The first arrival strictly after `now`, or `None` if the rate stays
    /// zero from here on.
    ///
    /// Always inlined, with a constant rate first: once per arrival, and a
    /// call with the step walk cost about as much as the exponential draw
    /// itself. The draw and the rounding are those of `next_after_stepped`,
    /// so either path gives the same instant from the same random stream.
    #[inline(always)]
    pub fn next_after(&self, now: SimTime, rng: &mut SimRng) -> Option<SimTime> {
        match self.constant_gap {
            Some(mean_gap) => {
                let e: f64 = Exp1.sample(rng);
                Some(SimTime(now.0.saturating_add(gap_ns(e * mean_gap))))
            }
            None => self.next_after_stepped(now, rng),
        }
    }

    /// `next_after` for a schedule of steps (or a zero rate).
    #[inline(never)]
    fn next_after_stepped(&self, now: SimTime, rng: &mut SimRng) -> Option<SimTime> {
        let mut step = match self.steps.len() {
            1 => 0,
            _ if !self.ramps.is_empty() => return self.next_after_ramped(now, rng),
            _ => self.steps.partition_point(|(from, _)| *from <= now).saturating_sub(1),
        };
        let mut from = now;
        loop {
            let (_, mean_gap) = self.steps[step];
            let boundary = self.steps.get(step + 1).map(|(t, _)| *t);
            if mean_gap.is_finite() {
                let e: f64 = Exp1.sample(rng);
                let at = SimTime(from.0.saturating_add(gap_ns(e * mean_gap)));
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

    /// `next_after` for a schedule with ramps; constant steps as there.
    #[cold]
    #[inline(never)]
    fn next_after_ramped(&self, now: SimTime, rng: &mut SimRng) -> Option<SimTime> {
        let mut step = self.steps.partition_point(|(from, _)| *from <= now).saturating_sub(1);
        let mut from = now;
        loop {
            let (start, mean_gap) = self.steps[step];
            let boundary = self.steps.get(step + 1).map(|(t, _)| *t);
            // Nanoseconds from `from` to the next arrival, if within the step.
            let gap = match self.ramps[step] {
                None if mean_gap.is_finite() => {
                    let e: f64 = Exp1.sample(rng);
                    Some(e * mean_gap)
                }
                None => None,
                Some((rate0, slope)) => {
                    // Rate r(x) = a + slope·x at x ns after `from`; the
                    // integral a·x + slope·x²/2 reaches E ~ Exp(1) at
                    // x = 2E / (a + sqrt(a² + 2·slope·E)), the stable root.
                    // No real root: the rate falls to 0 first (then the
                    // step ends with no arrival).
                    let a = rate0 + slope * (from.0 - start.0) as f64;
                    let e: f64 = Exp1.sample(rng);
                    let disc = a * a + 2.0 * slope * e;
                    let x = 2.0 * e / (a + disc.max(0.0).sqrt());
                    (disc >= 0.0 && x.is_finite()).then_some(x)
                }
            };
            if let Some(gap) = gap {
                let at = SimTime(from.0.saturating_add(gap_ns(gap)));
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

/// A gap of `ns` nanoseconds rounded to whole ones, at least 1 so that time
/// always moves forward.
#[inline(always)]
fn gap_ns(ns: f64) -> u64 {
    ((ns + 0.5) as u64).max(1)
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
                RateStep { from: SimTime::ZERO, per_sec: 100.0, ramp: false },
                RateStep { from: SimTime(100 * NANOS_PER_SEC), per_sec: 0.0, ramp: false },
                RateStep { from: SimTime(200 * NANOS_PER_SEC), per_sec: 1000.0, ramp: false },
            ],
        };
        // Poisson counts: sd = sqrt(mean); allow 4 sd.
        let a = count(&s, 0, 100) as f64;
        assert!((a - 10_000.0).abs() < 400.0, "{a}");
        assert_eq!(count(&s, 100, 200), 0);
        let c = count(&s, 200, 300) as f64;
        assert!((c - 100_000.0).abs() < 1_265.0, "{c}");
    }

    /// Arrivals of seeds 1..=8 in each `[from, to)` window (seconds).
    fn counts_per_seed(schedule: &RateSchedule, windows: &[(f64, f64)]) -> Vec<Vec<u64>> {
        let arrivals = PoissonArrivals::new(schedule);
        let end = windows.iter().map(|w| w.1).fold(0.0, f64::max);
        (1..=8)
            .map(|seed| {
                let mut rng = stream(seed, 0, StreamKind::Arrivals, 0);
                let mut counts = vec![0; windows.len()];
                let mut t = SimTime::ZERO;
                while let Some(next) = arrivals.next_after(t, &mut rng) {
                    let secs = next.as_secs_f64();
                    if secs >= end {
                        break;
                    }
                    for (c, w) in counts.iter_mut().zip(windows) {
                        *c += u64::from(secs >= w.0 && secs < w.1);
                    }
                    t = next;
                }
                counts
            })
            .collect()
    }

    fn at(secs: u64) -> SimTime {
        SimTime(secs * NANOS_PER_SEC)
    }

    /// Every seed's count in every window is within 4 sd of the integral of
    /// the rate over the window (a Poisson count: sd = sqrt(mean)).
    fn assert_counts_follow_the_integral(schedule: &RateSchedule, windows: &[(f64, f64)]) {
        for counts in counts_per_seed(schedule, windows) {
            for (n, w) in counts.iter().zip(windows) {
                let from = SimTime::ZERO + crate::time::SimDuration::from_secs_f64(w.0);
                let to = SimTime::ZERO + crate::time::SimDuration::from_secs_f64(w.1);
                let expected = schedule.integral(from, to);
                let tolerance = 4.0 * expected.sqrt();
                assert!((*n as f64 - expected).abs() <= tolerance, "window {w:?}: {n} arrivals, expected {expected}");
            }
        }
    }

    #[test]
    fn a_ramp_follows_its_linear_rate() {
        // 0 -> 2000/s over [0, 100s), then constant: 25,000 arrivals in the
        // ramp's first half and 75,000 in its second; a step at either
        // rate, or at the mean, misses one half by far more than 4 sd.
        let s = RateSchedule {
            steps: vec![
                RateStep { from: SimTime::ZERO, per_sec: 0.0, ramp: true },
                RateStep { from: at(100), per_sec: 2000.0, ramp: false },
            ],
        };
        assert_eq!(s.integral(SimTime::ZERO, at(50)), 25_000.0);
        let quarters = [(0.0, 25.0), (25.0, 50.0), (50.0, 75.0), (75.0, 100.0), (100.0, 110.0)];
        assert_counts_follow_the_integral(&s, &quarters);
    }

    #[test]
    fn a_falling_ramp_between_steps_follows_its_rate() {
        let s = RateSchedule {
            steps: vec![
                RateStep { from: SimTime::ZERO, per_sec: 300.0, ramp: false },
                RateStep { from: at(10), per_sec: 900.0, ramp: true },
                RateStep { from: at(70), per_sec: 100.0, ramp: true },
                RateStep { from: at(80), per_sec: 0.0, ramp: false },
            ],
        };
        let windows = [(0.0, 10.0), (10.0, 40.0), (40.0, 70.0), (70.0, 75.0), (75.0, 80.0), (80.0, 200.0)];
        assert_counts_follow_the_integral(&s, &windows);
        assert_eq!(s.integral(at(80), at(200)), 0.0);
        assert_eq!(s.peak(at(200)), 900.0);
        assert_eq!(s.before(at(40)), 500.0);
    }

    #[test]
    fn zero_rate_forever_ends_arrivals() {
        let s = RateSchedule {
            steps: vec![
                RateStep { from: SimTime::ZERO, per_sec: 10.0, ramp: false },
                RateStep { from: SimTime(NANOS_PER_SEC), per_sec: 0.0, ramp: false },
            ],
        };
        let arrivals = PoissonArrivals::new(&s);
        let mut rng = stream(3, 0, StreamKind::Arrivals, 0);
        assert_eq!(arrivals.next_after(SimTime(2 * NANOS_PER_SEC), &mut rng), None);
    }
}
