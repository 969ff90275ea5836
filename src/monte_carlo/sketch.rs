//! A mergeable quantile sketch for the per-bin bands across runs (p5–p95 of
//! goodput in second 312 over 1,000 runs, say). It is exact while it has seen
//! at most [`EXACT_LIMIT`] distinct values and then switches to log-spaced
//! buckets with at most 1% relative error. Its state is a function of the
//! multiset of values added, whatever their order or grouping, so batches
//! split over threads or shards merge to exactly the same bytes.

use serde::{Deserialize, Serialize};

/// Distinct values kept exactly before switching to buckets.
pub const EXACT_LIMIT: usize = 64;
/// Bucket k holds (γ^(k−1), γ^k]; its representative 2γ^k/(γ+1) is within
/// (γ−1)/(γ+1) ≈ 0.99% of every value in it.
const GAMMA: f64 = 1.02;
/// Keys below this (values under ~1e-17) share one bucket.
const MIN_KEY: i32 = -2000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Sketch {
    /// Sorted distinct values with their counts.
    Exact(Vec<(f64, u64)>),
    /// Values <= 0 are counted in `zeros` (and read back as 0); the rest by
    /// sorted bucket key.
    Buckets { zeros: u64, buckets: Vec<(i32, u64)> },
}

/// What [`Sketch::check`] finds: how many values, and bounds on them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub count: u64,
    pub low: f64,
    pub high: f64,
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch::Exact(Vec::new())
    }
}

fn key_of(v: f64) -> i32 {
    ((v.ln() / GAMMA.ln()).ceil() as i32).max(MIN_KEY)
}

fn representative(key: i32) -> f64 {
    2.0 * GAMMA.powi(key) / (GAMMA + 1.0)
}

/// Adds `count` to `key` in a sorted (key, count) list.
fn add_sorted<K: PartialOrd + Copy>(list: &mut Vec<(K, u64)>, key: K, count: u64) {
    let at = list.partition_point(|(k, _)| *k < key);
    match list.get_mut(at) {
        Some((k, c)) if *k == key => *c += count,
        _ => list.insert(at, (key, count)),
    }
}

impl Sketch {
    /// Adds a finite value (non-finite values are ignored).
    pub fn add(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        // -0.0 and 0.0 are the same value.
        let v = if v == 0.0 { 0.0 } else { v };
        match self {
            Sketch::Exact(values) => {
                add_sorted(values, v, 1);
                if values.len() > EXACT_LIMIT {
                    self.switch_to_buckets();
                }
            }
            Sketch::Buckets { zeros, buckets } => {
                if v <= 0.0 {
                    *zeros += 1;
                } else {
                    add_sorted(buckets, key_of(v), 1);
                }
            }
        }
    }

    /// Folds `other` in; the result equals adding its values one by one.
    pub fn merge(&mut self, other: &Sketch) {
        match other {
            Sketch::Exact(values) => {
                for &(v, c) in values {
                    match self {
                        Sketch::Exact(mine) => add_sorted(mine, v, c),
                        Sketch::Buckets { zeros, .. } if v <= 0.0 => *zeros += c,
                        Sketch::Buckets { buckets, .. } => add_sorted(buckets, key_of(v), c),
                    }
                }
                if matches!(self, Sketch::Exact(mine) if mine.len() > EXACT_LIMIT) {
                    self.switch_to_buckets();
                }
            }
            Sketch::Buckets { zeros, buckets } => {
                self.switch_to_buckets();
                let Sketch::Buckets { zeros: my_zeros, buckets: mine } = self else { unreachable!() };
                *my_zeros += zeros;
                for &(k, c) in buckets {
                    add_sorted(mine, k, c);
                }
            }
        }
    }

    fn switch_to_buckets(&mut self) {
        if let Sketch::Exact(values) = self {
            let mut zeros = 0;
            let mut buckets = Vec::new();
            for &(v, c) in values.iter() {
                if v <= 0.0 {
                    zeros += c;
                } else {
                    add_sorted(&mut buckets, key_of(v), c);
                }
            }
            *self = Sketch::Buckets { zeros, buckets };
        }
    }

    /// Whether a sketch read from a file is one [`Sketch::add`] and
    /// [`Sketch::merge`] can build: sorted distinct entries with positive
    /// counts (and few enough in exact mode). Gives its count and bounds on
    /// its values; a count that overflows is refused.
    pub fn check(&self) -> Result<Shape, String> {
        let overflow = || "the sketch's counts overflow".to_string();
        match self {
            Sketch::Exact(values) => {
                if values.len() > EXACT_LIMIT {
                    return Err(format!("an exact sketch of {} values (at most {EXACT_LIMIT})", values.len()));
                }
                let sorted = values.windows(2).all(|w| w[0].0 < w[1].0);
                if !sorted || values.iter().any(|(v, c)| !v.is_finite() || *c == 0) {
                    return Err("the sketch's values are not sorted, distinct, finite and counted".into());
                }
                let count = values.iter().try_fold(0u64, |n, (_, c)| n.checked_add(*c)).ok_or_else(overflow)?;
                let (low, high) = match (values.first(), values.last()) {
                    (Some(a), Some(b)) => (a.0, b.0),
                    _ => (0.0, 0.0),
                };
                Ok(Shape { count, low, high })
            }
            Sketch::Buckets { zeros, buckets } => {
                let sorted = buckets.windows(2).all(|w| w[0].0 < w[1].0);
                if !sorted || buckets.iter().any(|(k, c)| *k < MIN_KEY || *c == 0) {
                    return Err("the sketch's buckets are not sorted, distinct and counted".into());
                }
                let count = buckets.iter().try_fold(*zeros, |n, (_, c)| n.checked_add(*c)).ok_or_else(overflow)?;
                // Bucket k holds (γ^(k−1), γ^k]; a bucket of slack on each
                // side absorbs the rounding of `key_of`. Zeros may stand
                // for negative values, so they bound nothing below.
                let low = match (zeros, buckets.first()) {
                    (0, Some((k, _))) if *k > MIN_KEY => GAMMA.powi(k - 2),
                    (0, _) => 0.0,
                    _ => f64::NEG_INFINITY,
                };
                let high = buckets.last().map_or(0.0, |(k, _)| GAMMA.powi(k.saturating_add(1)));
                Ok(Shape { count, low, high })
            }
        }
    }

    pub fn count(&self) -> u64 {
        match self {
            Sketch::Exact(values) => values.iter().map(|(_, c)| c).sum(),
            Sketch::Buckets { zeros, buckets } => zeros + buckets.iter().map(|(_, c)| c).sum::<u64>(),
        }
    }

    /// The value of rank `rank` (0-based) in sorted order.
    fn value_at(&self, rank: u64) -> f64 {
        let mut seen = 0;
        match self {
            Sketch::Exact(values) => {
                for &(v, c) in values {
                    seen += c;
                    if rank < seen {
                        return v;
                    }
                }
            }
            Sketch::Buckets { zeros, buckets } => {
                seen = *zeros;
                if rank < seen {
                    return 0.0;
                }
                for &(k, c) in buckets {
                    seen += c;
                    if rank < seen {
                        return representative(k);
                    }
                }
            }
        }
        f64::NAN
    }

    /// Linear-interpolation percentile (R-7, as [`crate::stats::percentile`]).
    pub fn percentile(&self, q: f64) -> f64 {
        let n = self.count();
        if n == 0 {
            return f64::NAN;
        }
        let pos = q * (n - 1) as f64;
        let (lo, hi) = (pos.floor() as u64, pos.ceil() as u64);
        let (a, b) = (self.value_at(lo), self.value_at(hi));
        a + (b - a) * (pos - lo as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::percentile;

    fn sketch_of(values: &[f64]) -> Sketch {
        let mut s = Sketch::default();
        for &v in values {
            s.add(v);
        }
        s
    }

    #[test]
    fn exact_while_few_distinct_values() {
        let values: Vec<f64> = (0..1000).map(|i| (i % 7) as f64).collect();
        let s = sketch_of(&values);
        assert!(matches!(s, Sketch::Exact(_)));
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for q in [0.05, 0.5, 0.95] {
            assert_eq!(s.percentile(q), percentile(&sorted, q));
        }
    }

    #[test]
    fn buckets_stay_within_one_percent() {
        let values: Vec<f64> = (1..=5000).map(|i| 0.37 * i as f64 + (i % 3) as f64 * 0.01).collect();
        let s = sketch_of(&values);
        assert!(matches!(s, Sketch::Buckets { .. }));
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for q in [0.05, 0.25, 0.5, 0.95] {
            let (got, want) = (s.percentile(q), percentile(&sorted, q));
            assert!((got - want).abs() <= 0.0101 * want, "q {q}: {got} vs {want}");
        }
    }

    #[test]
    fn check_accepts_what_add_builds_and_refuses_the_rest() {
        let exact = sketch_of(&[3.0, 1.0, 2.0, 2.0]);
        assert_eq!(exact.check(), Ok(Shape { count: 4, low: 1.0, high: 3.0 }));
        let buckets = sketch_of(&(1..=500).map(|i| i as f64).collect::<Vec<_>>());
        let shape = buckets.check().unwrap();
        assert_eq!(shape.count, 500);
        assert!(shape.low <= 1.0 && shape.high >= 500.0, "{shape:?}");
        for bad in [
            Sketch::Exact(vec![(2.0, 1), (1.0, 1)]),
            Sketch::Exact(vec![(1.0, 0)]),
            Sketch::Exact(vec![(1.0, u64::MAX), (2.0, 1)]),
            Sketch::Buckets { zeros: 1, buckets: vec![(5, 1), (5, 1)] },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn zeros_survive_bucketing() {
        let mut values = vec![0.0; 300];
        values.extend((1..=200).map(|i| i as f64));
        let s = sketch_of(&values);
        assert_eq!(s.percentile(0.05), 0.0);
        assert_eq!(s.count(), 500);
    }

    #[test]
    fn merging_equals_adding_in_any_grouping() {
        let values: Vec<f64> = (0..700).map(|i| ((i * 7919) % 1013) as f64 / 10.0).collect();
        let whole = sketch_of(&values);
        for split in [1, 30, 64, 65, 350, 699] {
            let (a, b) = values.split_at(split);
            let mut left = sketch_of(a);
            left.merge(&sketch_of(b));
            assert_eq!(left, whole, "split at {split}");
            let mut right = sketch_of(b);
            right.merge(&sketch_of(a));
            assert_eq!(right, whole, "split at {split}, other order");
        }
        // Three small exact parts whose union is over the limit.
        let parts: Vec<Sketch> = values[..90].chunks(30).map(sketch_of).collect();
        let mut merged = Sketch::default();
        for p in &parts {
            merged.merge(p);
        }
        assert_eq!(merged, sketch_of(&values[..90]));
    }
}
