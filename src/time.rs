//! Simulated time: [`SimTime`] (an instant) and [`SimDuration`] (a span), both
//! integer nanoseconds in a `u64` (enough for 584 years of simulated time),
//! plus the parser for the human duration strings of scenario files
//! ("250ms", "1.5s", "2m", "1m30s").
//!
//! Integer time makes event order exact and runs reproducible bit for bit;
//! floating-point seconds appear only at the edges (sampling, reporting).

use std::fmt;
use std::ops::{Add, Sub};

/// Nanoseconds per second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// An instant of simulated time [ns since the start of the run].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

/// A span of simulated time [ns].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(pub u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// This instant in seconds since the start.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }

    /// The span from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(0);

    pub fn from_secs_f64(secs: f64) -> SimDuration {
        SimDuration(secs_to_nanos(secs))
    }

    pub const fn from_millis(ms: u64) -> SimDuration {
        SimDuration(ms * 1_000_000)
    }

    pub const fn from_secs(s: u64) -> SimDuration {
        SimDuration(s * NANOS_PER_SEC)
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }

    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

/// Converts seconds to nanoseconds, rounding to nearest and saturating
/// (a sampled service time of 10^12 s must not wrap around to a tiny one).
pub fn secs_to_nanos(secs: f64) -> u64 {
    let ns = secs * NANOS_PER_SEC as f64 + 0.5;
    if ns >= u64::MAX as f64 {
        u64::MAX
    } else if ns > 0.0 {
        ns as u64
    } else {
        0
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    /// Saturates at [`SimTime::MAX`], which the engine treats as "never".
    fn add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}

impl Sub<SimTime> for SimTime {
    type Output = SimDuration;
    fn sub(self, earlier: SimTime) -> SimDuration {
        self.since(earlier)
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, o: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(o.0))
    }
}

impl fmt::Display for SimDuration {
    /// Shortest exact human form: "250ms", "1.5s", "2m", "1h30m".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(*self))
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={}", SimDuration(self.0))
    }
}

/// Units accepted in duration strings, longest suffix first so "ms" is not
/// read as "m" followed by garbage.
const UNITS: [(&str, u64); 7] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("h", 3600 * NANOS_PER_SEC),
];

/// Parses a duration such as "250ms", "1.5s", "2m", "1m30s", "1h", "0s".
///
/// A duration is one or more `<number><unit>` parts with units ns, us (or
/// µs), ms, s, m, h. A bare number is refused: "30" could mean seconds or
/// milliseconds, and guessing wrong silently is worse than asking.
pub fn parse_duration(text: &str) -> Result<SimDuration, String> {
    let s = text.trim();
    let hint =
        "expected a number with a unit, e.g. \"250ms\", \"1.5s\", \"2m\" or \"1m30s\" (units: ns, us, ms, s, m, h)";
    if s.is_empty() {
        return Err(format!("empty duration: {hint}"));
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() {
            if rest.starts_with('-') {
                return Err(format!("duration \"{text}\" is negative"));
            }
            return Err(format!("malformed duration \"{text}\": {hint}"));
        }
        let value: f64 = num.parse().map_err(|_| format!("malformed duration \"{text}\": {hint}"))?;
        let unit_len = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, tail) = after.split_at(unit_len);
        let scale = UNITS.iter().find(|(name, _)| *name == unit.trim()).map(|(_, scale)| *scale);
        let Some(scale) = scale else {
            return Err(if unit.is_empty() {
                format!("duration \"{text}\" has no unit: {hint}")
            } else {
                format!("duration \"{text}\" has unknown unit \"{}\": {hint}", unit.trim())
            });
        };
        let ns = value * scale as f64;
        if !ns.is_finite() || ns > u64::MAX as f64 {
            return Err(format!("duration \"{text}\" is too large"));
        }
        total += ns.round() as u128;
        rest = tail;
    }
    u64::try_from(total).map(SimDuration).map_err(|_| format!("duration \"{text}\" is too large"))
}

/// Formats a duration in the largest unit that keeps it short and exact
/// enough to read: "250ms", "1.5s", "2m", "90m".
pub fn format_duration(d: SimDuration) -> String {
    let ns = d.0;
    if ns == 0 {
        return "0s".to_string();
    }
    // Integer arithmetic, so the text is the exact value: 59.999999999 s
    // must not print as "60s".
    let pick = |scale: u64, unit: &str| -> String {
        let (whole, frac) = (ns / scale, ns % scale);
        if frac == 0 {
            return format!("{whole}{unit}");
        }
        let digits = scale.ilog10() as usize;
        let frac = format!("{frac:0digits$}");
        format!("{whole}.{}{unit}", frac.trim_end_matches('0'))
    };
    if ns >= 60 * NANOS_PER_SEC && ns.is_multiple_of(NANOS_PER_SEC) {
        // Whole seconds of a minute or more: "2m", "1m20s", "1h30m".
        let secs = ns / NANOS_PER_SEC;
        let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
        let mut out = String::new();
        for (value, unit) in [(h, "h"), (m, "m"), (s, "s")] {
            if value > 0 {
                out.push_str(&format!("{value}{unit}"));
            }
        }
        out
    } else if ns >= NANOS_PER_SEC {
        pick(NANOS_PER_SEC, "s")
    } else if ns >= 1_000_000 {
        pick(1_000_000, "ms")
    } else if ns >= 1_000 {
        pick(1_000, "us")
    } else {
        format!("{ns}ns")
    }
}

/// A rough length of wall time, as an estimate is: about two digits in the
/// largest unit that fits ("45s", "12.5m", "3.2h", "469d", "1.3 years"), so
/// a long estimate reads as what it is rather than as "40500000s".
pub fn format_rough_secs(secs: f64) -> String {
    const YEAR: f64 = 365.25 * 86_400.0;
    // Also catches infinity and NaN from a runaway estimate.
    if secs.is_nan() || secs >= 1e6 * YEAR {
        return "more than a million years".to_string();
    }
    let units = [(YEAR, " years"), (86_400.0, "d"), (3600.0, "h"), (60.0, "m"), (1.0, "s")];
    let (scale, unit) = units.into_iter().find(|&(scale, _)| secs >= scale).unwrap_or((1.0, "s"));
    let v = secs / scale;
    let text = if v >= 100.0 { format!("{v:.0}") } else { format!("{v:.1}") };
    format!("{}{unit}", text.trim_end_matches(".0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("250ms").unwrap(), SimDuration(250_000_000));
        assert_eq!(parse_duration("1.5s").unwrap(), SimDuration(1_500_000_000));
        assert_eq!(parse_duration("2m").unwrap(), SimDuration(120 * NANOS_PER_SEC));
        assert_eq!(parse_duration("1m30s").unwrap(), SimDuration(90 * NANOS_PER_SEC));
        assert_eq!(parse_duration("1h").unwrap(), SimDuration(3600 * NANOS_PER_SEC));
        assert_eq!(parse_duration("10us").unwrap(), SimDuration(10_000));
        assert_eq!(parse_duration("7ns").unwrap(), SimDuration(7));
        assert_eq!(parse_duration("0s").unwrap(), SimDuration(0));
    }

    #[test]
    fn refuses_malformed() {
        for bad in ["", "30", "10 sec", "-1s", "s", "1.2.3s", "5x", "1e3s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn rough_durations_use_human_units() {
        // The old estimate printed a 40.5-million-second run as "40500000s".
        assert_eq!(format_rough_secs(40_500_000.0), "1.3 years");
        assert_eq!(format_rough_secs(40_500_000.0 / 2.0), "234d");
        assert_eq!(format_rough_secs(45.0), "45s");
        assert_eq!(format_rough_secs(750.0), "12.5m");
        assert_eq!(format_rough_secs(0.2), "0.2s");
        assert_eq!(format_rough_secs(f64::INFINITY), "more than a million years");
    }

    #[test]
    fn formats_round_trip() {
        for text in ["250ms", "1.5s", "2m", "90m", "10us", "7ns", "2h", "1m20s", "3h5m7s"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d, "{text}");
        }
        assert_eq!(format_duration(SimDuration::from_millis(250)), "250ms");
        assert_eq!(format_duration(SimDuration::from_secs(120)), "2m");
        assert_eq!(format_duration(SimDuration::from_secs(80)), "1m20s");
        assert_eq!(format_duration(SimDuration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(SimDuration::from_millis(1500)), "1.5s");
        // Not rounded to another value: the old code printed "60s" and "1.235ms".
        assert_eq!(format_duration(SimDuration(59_999_999_999)), "59.999999999s");
        assert_eq!(format_duration(SimDuration(1_234_500)), "1.2345ms");
        assert_eq!(format_duration(SimDuration(999_999)), "999.999us");
    }
}
