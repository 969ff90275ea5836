//! The class of a request from a source whose trace gives each request
//! class its own rate (a `class` column). The source's arrivals are one
//! Poisson process at the summed rate; the superposition of independent
//! non-homogeneous Poisson processes is exactly that, with each arrival at
//! t of class k with probability rate_k(t) / Σ rate(t). Drawing the class
//! at the arrival's instant therefore replays every class's own rate, for
//! constant and linear rows alike.

use rand::RngExt;

use crate::model::RateSchedule;
use crate::rng::SimRng;
use crate::time::SimTime;

/// The class of a request arriving at `at`: class k of `rates` with
/// probability rate_k(at) / Σ rate(at). When every rate is 0 there (a burst
/// outside the trace's rows), by `shares` (cumulative, ending at 1).
/// One uniform draw from `rng` either way.
pub fn draw(rates: &[(u16, RateSchedule)], shares: &[(u16, f64)], at: SimTime, rng: &mut SimRng) -> u16 {
    let u = rng.random::<f64>();
    let total: f64 = rates.iter().map(|(_, r)| r.at(at).max(0.0)).sum();
    if total > 0.0 {
        let target = u * total;
        let mut cumulative = 0.0;
        for (class, r) in rates {
            let rate = r.at(at).max(0.0);
            cumulative += rate;
            if target < cumulative {
                return *class;
            }
        }
        // Rounding left `target` at the sum: the last class with a rate.
        if let Some((class, _)) = rates.iter().rev().find(|(_, r)| r.at(at) > 0.0) {
            return *class;
        }
    }
    shares.iter().find(|&&(_, cumulative)| u < cumulative).or(shares.last()).map_or(rates[0].0, |s| s.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RateStep;
    use crate::rng::{StreamKind, stream};
    use crate::time::NANOS_PER_SEC;

    fn at(secs: u64) -> SimTime {
        SimTime(secs * NANOS_PER_SEC)
    }

    #[test]
    fn classes_are_drawn_by_their_rates_at_the_instant() {
        // Class 0: 100/s then 0 from 10 s; class 1: 0 until 10 s, then a
        // ramp 0 -> 300/s over [10, 20) s; class 2 is constant 100/s.
        let rates = vec![
            (
                0,
                RateSchedule {
                    steps: vec![
                        RateStep { from: SimTime::ZERO, per_sec: 100.0, ramp: false },
                        RateStep { from: at(10), per_sec: 0.0, ramp: false },
                    ],
                },
            ),
            (
                1,
                RateSchedule {
                    steps: vec![
                        RateStep { from: SimTime::ZERO, per_sec: 0.0, ramp: false },
                        RateStep { from: at(10), per_sec: 0.0, ramp: true },
                        RateStep { from: at(20), per_sec: 300.0, ramp: false },
                    ],
                },
            ),
            (2, RateSchedule::constant(100.0)),
        ];
        let shares = [(0, 0.5), (1, 0.75), (2, 1.0)];
        let mut rng = stream(1, 0, StreamKind::Classes, 0);
        let mut count = |t: SimTime| {
            let mut n = [0u32; 3];
            for _ in 0..40_000 {
                n[draw(&rates, &shares, t, &mut rng) as usize] += 1;
            }
            n
        };
        // At 5 s: half and half; at 15 s (class 1 at 150/s): 0, 60%, 40%.
        // Binomial sd over 40,000 draws is at most 100: allow 5 sd.
        let n = count(at(5));
        assert_eq!(n[1], 0);
        assert!((n[0] as f64 - 20_000.0).abs() < 500.0, "{n:?}");
        let n = count(at(15));
        assert_eq!(n[0], 0);
        assert!((n[1] as f64 - 24_000.0).abs() < 500.0, "{n:?}");
        // Every rate 0 (class 2 aside): never class 0 or 1 from the rates.
        let only_two = &rates[..2];
        let n = {
            let mut n = [0u32; 3];
            for _ in 0..40_000 {
                // At 10 s: class 0 stopped, class 1's ramp starts at 0.
                n[draw(only_two, &shares[..2], at(10), &mut rng) as usize] += 1;
            }
            n
        };
        // Falls back to the shares: 0.5 for class 0, the rest class 1.
        assert!((n[0] as f64 - 20_000.0).abs() < 500.0, "{n:?}");
    }
}
