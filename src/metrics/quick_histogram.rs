//! A fast front for the run's HDR latency histograms: the hot path counts
//! each value into a plain array laid out as the HDR histogram's own
//! buckets (a shift, a leading-zero count and an increment), and the counts
//! are poured into the histogram once, when the run's quantiles are read.
//!
//! Why: `Histogram::saturating_record` costs ~50 instructions (resizing
//! checks, generic counter casts), ~10% of a plain M/M/4 run's instructions
//! for its two histograms. Every value of an HDR bucket is equivalent for
//! the histogram (quantiles, max and mean come from the bucket, not the
//! value), so recording each bucket's lowest value `count` times gives the
//! very same answers: the outputs stay byte-identical. Values past the
//! array's range (beyond the histogram's initial bound) go straight to the
//! histogram, which grows for them.

use hdrhistogram::Histogram;

pub(crate) struct QuickHistogram {
    counts: Vec<u64>,
    /// Counted in `counts` and not yet in `histogram`.
    pending: bool,
    unit_magnitude: u32,
    sub_half_magnitude: u32,
    sub_half: u64,
    sub_mask: u64,
    leading_zero_base: u32,
    /// Values up to this are counted in `counts`.
    high: u64,
    histogram: Histogram<u64>,
}

impl QuickHistogram {
    /// In front of a histogram made with `new_with_bounds(low, high, sigfig)`
    /// (the same three numbers: they fix its bucket layout).
    pub fn new(histogram: Histogram<u64>, low: u64, high: u64, sigfig: u8) -> Self {
        // The layout as hdrhistogram computes it (Histogram::new_with_bounds).
        let largest_single_unit = 2 * 10u64.pow(u32::from(sigfig));
        let unit_magnitude = 63 - low.max(1).leading_zeros();
        let sub_count_magnitude = 64 - (largest_single_unit - 1).leading_zeros();
        let sub_half_magnitude = sub_count_magnitude.max(1) - 1;
        let sub_count = 1u64 << (sub_half_magnitude + 1);
        let mut quick = QuickHistogram {
            counts: Vec::new(),
            pending: false,
            unit_magnitude,
            sub_half_magnitude,
            sub_half: sub_count / 2,
            sub_mask: (sub_count - 1) << unit_magnitude,
            leading_zero_base: 64 - unit_magnitude - sub_count_magnitude,
            high,
            histogram,
        };
        quick.counts = vec![0; quick.index(high) + 1];
        quick
    }

    #[inline(always)]
    fn index(&self, value: u64) -> usize {
        let bucket = self.leading_zero_base - (value | self.sub_mask).leading_zeros();
        let sub = value >> (bucket + self.unit_magnitude);
        (((bucket as u64 + 1) << self.sub_half_magnitude) + sub - self.sub_half) as usize
    }

    /// The lowest value of the bucket at `index`.
    fn value_at(&self, index: usize) -> u64 {
        let mut bucket = (index as i64 >> self.sub_half_magnitude) - 1;
        let mut sub = (index as u64 & (self.sub_half - 1)) + self.sub_half;
        if bucket < 0 {
            sub -= self.sub_half;
            bucket = 0;
        }
        sub << (bucket as u32 + self.unit_magnitude)
    }

    #[inline(always)]
    pub fn record(&mut self, value: u64) {
        if value <= self.high {
            let i = self.index(value);
            self.counts[i] += 1;
            self.pending = true;
        } else {
            self.histogram.saturating_record(value);
        }
    }

    /// Records `value` `count` times, straight into the histogram.
    pub fn record_n(&mut self, value: u64, count: u64) {
        self.histogram.saturating_record_n(value, count);
    }

    /// The histogram with every count recorded so far.
    pub fn histogram(&mut self) -> &Histogram<u64> {
        if self.pending {
            for i in 0..self.counts.len() {
                let count = std::mem::take(&mut self.counts[i]);
                if count > 0 {
                    let value = self.value_at(i);
                    self.histogram.saturating_record_n(value, count);
                }
            }
            self.pending = false;
        }
        &self.histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(low: u64, high: u64, sigfig: u8) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(low, high, sigfig).unwrap();
        h.auto(true);
        h
    }

    /// Every answer the metrics read equals the plain histogram's, for
    /// values across the whole range, at its edges and past its bound.
    #[test]
    fn answers_equal_the_plain_histograms() {
        let high = 3_600_000_000_000u64;
        for (low, sigfig) in [(1, 3), (1, 2), (1_000, 2), (1, 1)] {
            let mut plain = fresh(low, high, sigfig);
            let mut quick = QuickHistogram::new(fresh(low, high, sigfig), low, high, sigfig);
            let mut x: u64 = 12345;
            let mut values: Vec<u64> = vec![0, 1, 2, 3, 1023, 1024, 2047, 2048, 4095, 4096, high - 1, high, high + 1];
            values.extend((0..64).map(|k| 1u64 << k).filter(|v| *v < high * 4));
            for _ in 0..200_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                // Log-uniform over 1 ns .. ~2 h, so every bucket is met.
                let bits = (x >> 58) as u32 % 43;
                values.push((x >> 13) & ((1u64 << bits) - 1).max(1));
            }
            for &v in &values {
                plain.saturating_record(v);
                quick.record(v);
            }
            quick.record_n(0, 17);
            plain.saturating_record_n(0, 17);
            let q = quick.histogram();
            assert_eq!(q.len(), plain.len());
            assert_eq!(q.max(), plain.max());
            assert_eq!(q.min(), plain.min());
            assert_eq!(q.mean().to_bits(), plain.mean().to_bits());
            for quantile in [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0] {
                let (a, b) = (q.value_at_quantile(quantile), plain.value_at_quantile(quantile));
                assert_eq!(a, b, "low {low} sigfig {sigfig} quantile {quantile}");
                assert_eq!(q.median_equivalent(a), plain.median_equivalent(b));
            }
        }
    }
}
