//! Chart axes with ticks chosen here rather than by plotters: the axis end
//! is always labelled, whole-number axes (nodes, replicas, retries) get only
//! whole-number ticks, categories sit at their own ticks with their names,
//! and a y axis can be logarithmic or in "nines" (−log10(1 − success)), so
//! 99.86% and 99.91% success are visibly apart. An [`Axis`] is a plotters
//! coordinate over f64 values, so series are drawn with the data's own
//! values whatever the scale.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, KeyPointWeight, Ranged};

use super::style::number_label;

/// How values map to positions along an axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    Linear,
    /// log10 of the value (positive values only).
    Log,
    /// −log10(1 − value) of a success fraction: 0.9 → 1, 0.99 → 2, ...
    Nines,
}

/// The y range and scale a user asked for (`plot --y-min/--y-max/--log-y`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct YOptions {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub log: bool,
}

impl YOptions {
    /// Whether the chart's own y axis is kept.
    pub fn is_default(&self) -> bool {
        *self == YOptions::default()
    }

    /// Checks what can be checked before any chart is drawn.
    pub fn validate(&self) -> Result<(), String> {
        for (flag, v) in [("--y-min", self.min), ("--y-max", self.max)] {
            if let Some(v) = v {
                if !v.is_finite() {
                    return Err(format!("{flag} {v}: not a finite number"));
                }
                if self.log && v <= 0.0 {
                    return Err(format!("{flag} {v}: a log axis (--log-y) needs positive values"));
                }
            }
        }
        if let (Some(lo), Some(hi)) = (self.min, self.max)
            && lo >= hi
        {
            return Err(format!("--y-min {lo} is not below --y-max {hi}"));
        }
        Ok(())
    }

    /// The y axis of a chart whose own choice is `auto` over `range`:
    /// the user's bounds replace the chart's, and --log-y replaces its
    /// scale. Without --y-min a log axis starts three decades below its
    /// top (a chart's own range usually starts at 0).
    pub fn apply(&self, range: Range<f64>, auto: Scale) -> Result<Axis, String> {
        if self.is_default() {
            return Ok(Axis::nice(range.start, range.end, auto));
        }
        let scale = if self.log { Scale::Log } else { auto };
        // An end the user left open is the chart's own, rounded to a tick.
        let own = Axis::nice(range.start, range.end, auto);
        let mut hi = self.max.unwrap_or(if auto == Scale::Linear { own.hi } else { range.end });
        let mut lo = self.min.unwrap_or(range.start);
        if scale == Scale::Log {
            if hi <= 0.0 {
                hi = 1.0;
            }
            if self.max.is_none() {
                // The chart's own top, rounded up to a power of ten.
                hi = 10f64.powf((hi.log10() - 1e-9).ceil());
            }
            if lo <= 0.0 || self.min.is_none() && lo < hi / 1e3 {
                lo = hi / 1e3;
            }
        }
        if lo >= hi {
            return Err(match (self.min, self.max) {
                (Some(lo), None) => format!("--y-min {lo} is above the chart's top ({})", number_label(hi)),
                (None, Some(hi)) => format!("--y-max {hi} is below the chart's bottom ({})", number_label(lo)),
                _ => format!("the y range {lo}..{hi} is empty"),
            });
        }
        // A range the user gave is kept exactly, its ends labelled.
        Ok(Axis::exact(lo, hi, scale))
    }
}

/// A seconds axis shown in the unit that keeps its labels short.
pub fn time_unit(span_s: f64) -> (f64, &'static str) {
    if span_s > 3.0 * 3600.0 {
        (3600.0, "h")
    } else if span_s > 600.0 {
        (60.0, "min")
    } else {
        (1.0, "s")
    }
}

#[derive(Debug, Clone)]
pub struct Axis {
    lo: f64,
    hi: f64,
    scale: Scale,
    /// Labelled ticks (bold grid lines), in data values.
    ticks: Vec<f64>,
    /// Unlabelled grid lines between them.
    minor: Vec<f64>,
    /// Names of the categories at 0, 1, ... (a categorical axis).
    names: Option<Vec<String>>,
    /// Labels show value / unit (60 for minutes).
    unit: f64,
    /// Decimals of a nines axis's percentages.
    decimals: usize,
}

/// A "nice" step (1, 2 or 5 × 10^k) giving at most about `count` steps.
fn nice_step(span: f64, count: f64) -> f64 {
    let raw = (span / count).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(10.0 * magnitude)
}

/// Multiples of `step` within [lo, hi] (with a little slack for rounding).
fn multiples(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last.max(first - 1)).map(|k| k as f64 * step).collect()
}

/// Ticks of a positive log range: each 10^k, with 2× and 5× when the range
/// spans few decades, and plain linear steps inside one decade.
fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let decade = |k: i32, ms: &[f64]| ms.iter().map(move |m| m * 10f64.powi(k)).collect::<Vec<_>>();
    let within = |v: &f64| *v >= lo * (1.0 - 1e-9) && *v <= hi * (1.0 + 1e-9);
    let all = |ms: &[f64]| (a..=b).flat_map(|k| decade(k, ms)).filter(within).collect::<Vec<_>>();
    let decades = all(&[1.0]);
    let minor = all(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    if decades.len() >= 3 {
        return (decades, minor);
    }
    let ticks = all(&[1.0, 2.0, 5.0]);
    if ticks.len() >= 3 {
        return (ticks, minor);
    }
    let step = nice_step(hi - lo, 6.0);
    (multiples(lo, hi, step), multiples(lo, hi, step / 5.0))
}

impl Axis {
    /// An axis over the data's range, widened to the nearest ticks so both
    /// ends are labelled.
    pub fn nice(lo: f64, hi: f64, scale: Scale) -> Axis {
        let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 0.5, lo + 0.5) };
        match scale {
            Scale::Linear => {
                // The tightest widening to 4–10 round steps.
                let magnitude = 10f64.powf(((hi - lo) / 10.0).log10().floor());
                let widened = [1.0, 2.0, 2.5, 5.0, 10.0, 20.0]
                    .iter()
                    .map(|m| m * magnitude)
                    .map(|step| ((lo / step + 1e-9).floor() * step, (hi / step - 1e-9).ceil() * step, step))
                    .filter(|(a, b, step)| (4.0..=10.5).contains(&((b - a) / step)))
                    .min_by(|x, y| (x.1 - x.0).total_cmp(&(y.1 - y.0)).then(y.2.total_cmp(&x.2)));
                match widened {
                    Some((lo, hi, step)) => Axis::build(lo, hi, scale, 1.0, false, Some(step), true),
                    None => Axis::exact(lo, hi, scale),
                }
            }
            Scale::Log => {
                let lo = if lo > 0.0 { lo } else { hi / 1e3 };
                let (lo, hi) = (10f64.powf(lo.log10().floor()), 10f64.powf(hi.log10().ceil()));
                Axis::exact(lo, hi, scale)
            }
            Scale::Nines => {
                // In failure fractions (1 − success), a log range; the top
                // stops at six nines when some value is a perfect 1.
                let fail_hi = (1.0 - lo).clamp(1e-6, 1.0);
                let fail_lo = (1.0 - hi).clamp(1e-6, fail_hi / 1.5);
                let (fail_lo, fail_hi) = (round_125(fail_lo, f64::floor), round_125(fail_hi, f64::ceil).min(1.0));
                Axis::exact(1.0 - fail_hi, 1.0 - fail_lo, scale)
            }
        }
    }

    /// An axis over exactly [lo, hi]: its ticks, and the end value
    /// labelled even when it is not a round number.
    pub fn exact(lo: f64, hi: f64, scale: Scale) -> Axis {
        Axis::build(lo, hi, scale, 1.0, false, None, true)
    }

    /// An axis over exactly [lo, hi] labelled at round ticks only: the top
    /// of a time chart is headroom above the data (for the RTO bar), and
    /// its odd value ("508.48") would be noise as a label.
    pub fn with_headroom(lo: f64, hi: f64) -> Axis {
        Axis::build(lo, hi, Scale::Linear, 1.0, false, None, false)
    }

    /// A linear axis over [lo, hi] with ticks only on whole numbers.
    pub fn integers(lo: f64, hi: f64) -> Axis {
        Axis::build(lo, hi, Scale::Linear, 1.0, true, None, true)
    }

    /// A linear seconds axis over [0, hi] labelled in `unit` seconds (60
    /// for minutes), widened to a whole tick of that unit.
    pub fn time(hi: f64, unit: f64) -> Axis {
        let step = nice_step(hi / unit, 8.0) * unit;
        let hi = (hi / step - 1e-9).ceil().max(1.0) * step;
        Axis::build(0.0, hi, Scale::Linear, unit, false, Some(step), true)
    }

    /// A time axis over exactly [lo, hi] seconds, ticks at round
    /// multiples of `unit` seconds (60 for minutes) labelled in that unit.
    pub fn seconds(lo: f64, hi: f64, unit: f64) -> Axis {
        let step = nice_step((hi - lo) / unit, 8.0) * unit;
        Axis::build(lo, hi, Scale::Linear, unit, false, Some(step), true)
    }

    /// Categories at 0, 1, ..., n − 1, each tick labelled with its name.
    pub fn categories(names: &[String]) -> Axis {
        let n = names.len().max(1) as f64;
        let ticks: Vec<f64> = (0..names.len()).map(|i| i as f64).collect();
        Axis {
            lo: -0.5,
            hi: n - 0.5,
            scale: Scale::Linear,
            minor: ticks.clone(),
            ticks,
            names: Some(names.to_vec()),
            unit: 1.0,
            decimals: 0,
        }
    }

    fn build(lo: f64, hi: f64, scale: Scale, unit: f64, integer: bool, step: Option<f64>, label_end: bool) -> Axis {
        let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 0.5, lo + 0.5) };
        let (mut ticks, minor, decimals) = match scale {
            Scale::Linear => {
                let mut step = step.unwrap_or_else(|| nice_step((hi - lo) / unit, 8.0) * unit);
                if integer {
                    step = step.max(1.0).round();
                }
                let minor = if integer && step == 1.0 { Vec::new() } else { multiples(lo, hi, step / 5.0) };
                (multiples(lo, hi, step), minor, 0)
            }
            Scale::Log => {
                let (ticks, minor) = log_ticks(lo.max(f64::MIN_POSITIVE), hi);
                (ticks, minor, 0)
            }
            Scale::Nines => {
                let (f_lo, f_hi) = ((1.0 - hi).max(1e-12), (1.0 - lo).max(2e-12));
                let (fails, minor) = log_ticks(f_lo, f_hi);
                let ticks: Vec<f64> = fails.iter().rev().map(|f| 1.0 - f).collect();
                let minor = minor.iter().rev().map(|f| 1.0 - f).collect();
                (ticks, minor, 0)
            }
        };
        // The axis end is labelled, replacing a tick too close to it.
        let position = |v: f64| (place(scale, v) - place(scale, lo)) / (place(scale, hi) - place(scale, lo));
        if label_end && ticks.last().is_none_or(|t| (hi - t).abs() > 1e-9 * hi.abs().max(1.0)) {
            if ticks.last().is_some_and(|t| 1.0 - position(*t) < 0.04) {
                ticks.pop();
            }
            // An integer axis ends on a whole number only.
            if !integer || hi.fract() == 0.0 {
                ticks.push(hi);
            }
        }
        let mut axis = Axis { lo, hi, scale, ticks, minor, names: None, unit, decimals };
        if scale == Scale::Nines {
            axis.decimals = nines_decimals(&axis.ticks);
        }
        axis
    }

    /// The same axis labelled in percent (values are shares of 1).
    pub fn in_percent(mut self) -> Axis {
        if self.scale != Scale::Nines {
            self.unit = 0.01;
        }
        self
    }

    /// The same axis labelled in `unit`s of its values (60: seconds shown
    /// as minutes).
    pub fn in_unit(mut self, unit: f64) -> Axis {
        if self.scale != Scale::Nines {
            self.unit = unit;
        }
        self
    }

    pub fn label(&self, v: f64) -> String {
        if let Some(names) = &self.names {
            let i = v.round();
            return if (v - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).map(|n| super::style::clip(n, super::style::NAME_CHARS)).unwrap_or_default()
            } else {
                String::new()
            };
        }
        match self.scale {
            Scale::Nines => format!("{:.*}%", self.decimals, v * 100.0),
            _ => number_label(v / self.unit),
        }
    }

    pub fn scale(&self) -> Scale {
        self.scale
    }

    /// Where a value sits between the ends, 0 at the bottom and 1 at the
    /// top (for placing things a fraction of the way up).
    pub fn position(&self, v: f64) -> f64 {
        let (a, b, x) = (self.place(self.lo), self.place(self.hi), self.place(v));
        (x - a) / (b - a)
    }

    /// The value a fraction `p` of the way from the bottom to the top.
    pub fn at(&self, p: f64) -> f64 {
        let (a, b) = (self.place(self.lo), self.place(self.hi));
        let x = a + (b - a) * p;
        match self.scale {
            Scale::Linear => x,
            Scale::Log => 10f64.powf(x),
            Scale::Nines => 1.0 - 10f64.powf(-x),
        }
    }

    fn place(&self, v: f64) -> f64 {
        place(self.scale, v)
    }

    /// The same axis with `pad` more room at each end, ticks unchanged (so
    /// the first and last data values stay the labelled ends).
    pub fn padded(mut self, pad: f64) -> Axis {
        self.lo -= pad;
        self.hi += pad;
        self
    }
}

/// A value's place on the scale's linear line.
fn place(scale: Scale, v: f64) -> f64 {
    match scale {
        Scale::Linear => v,
        Scale::Log => v.max(1e-300).log10(),
        Scale::Nines => -(1.0 - v).max(1e-12).log10(),
    }
}

/// `v` rounded (down with floor, up with ceil) to 1, 2 or 5 × 10^k.
fn round_125(v: f64, round: fn(f64) -> f64) -> f64 {
    let k = v.log10().floor();
    let candidates = [1.0, 2.0, 5.0, 10.0].map(|m| m * 10f64.powf(k));
    let pick = |c: &f64| if round(0.5) == 0.0 { *c <= v * (1.0 + 1e-9) } else { *c >= v * (1.0 - 1e-9) };
    if round(0.5) == 0.0 {
        candidates.iter().copied().filter(pick).fold(candidates[0], f64::max)
    } else {
        candidates.iter().copied().find(pick).unwrap_or(candidates[3])
    }
}

/// The fewest decimals of percentages that tell every tick apart.
fn nines_decimals(ticks: &[f64]) -> usize {
    (0..=8)
        .find(|&d| {
            let labels: Vec<String> = ticks.iter().map(|t| format!("{:.*}", d, t * 100.0)).collect();
            // ... and from 100% unless a tick is a perfect 1.
            let hundred = format!("{:.*}", d, 100.0);
            labels.windows(2).all(|w| w[0] != w[1])
                && ticks.iter().zip(&labels).all(|(t, l)| *t >= 1.0 || *l != hundred)
        })
        .unwrap_or(8)
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let (a, b) = (self.place(self.lo), self.place(self.hi));
        let share = (self.place(*value) - a) / (b - a);
        let pixel = limit.0 as f64 + share * (limit.1 - limit.0) as f64;
        // Far-off values (log of 0, a perfect 1 in nines) stay representable;
        // plotters pins them to the edge of the plot.
        pixel.clamp(-1e6, 1e6).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        match hint.weight() {
            KeyPointWeight::Bold => self.ticks.clone(),
            KeyPointWeight::Any => {
                let mut all = self.ticks.clone();
                all.extend(self.minor.iter().copied().filter(|m| *m >= self.lo && *m <= self.hi));
                if all.len() > hint.max_num_points() {
                    return self.ticks.clone();
                }
                all
            }
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(a: &Axis) -> Vec<String> {
        a.ticks.iter().map(|t| a.label(*t)).collect()
    }

    #[test]
    fn the_end_of_an_axis_is_labelled() {
        let a = Axis::exact(0.0, 1360.0, Scale::Linear);
        assert_eq!(labels(&a).last().unwrap(), "1360");
        let a = Axis::nice(0.0, 0.97, Scale::Linear);
        assert_eq!(labels(&a).last().unwrap(), "1");
    }

    #[test]
    fn headroom_is_not_labelled() {
        // A time chart's top is 1.12 × its data: round ticks only.
        let a = Axis::with_headroom(0.0, 508.48);
        assert_eq!(labels(&a), ["0", "100", "200", "300", "400", "500"]);
    }

    #[test]
    fn integer_axes_have_whole_ticks() {
        let a = Axis::integers(1.8, 6.2);
        assert!(a.ticks.iter().all(|t| t.fract() == 0.0), "{:?}", a.ticks);
        assert_eq!(labels(&a), ["2", "3", "4", "5", "6"]);
    }

    #[test]
    fn nines_tell_close_successes_apart() {
        let a = Axis::nice(0.9986, 0.9991, Scale::Nines);
        let (p, q) = (a.position(0.9986), a.position(0.9991));
        assert!(q - p > 0.2, "{p} {q}");
        let l = labels(&a);
        assert!(l.windows(2).all(|w| w[0] != w[1]), "{l:?}");
    }

    #[test]
    fn log_axes_label_powers_of_ten() {
        let a = Axis::nice(3.0, 4000.0, Scale::Log);
        assert_eq!(labels(&a), ["1", "10", "100", "1000", "10000"]);
    }
}
