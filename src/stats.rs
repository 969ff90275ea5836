//! Statistics across runs: Student-t confidence intervals, percentiles,
//! Wilson score intervals for proportions, Fisher's exact test for a rise
//! between two proportions, and the Kaplan–Meier median for durations with
//! censored observations.

/// Two-sided 95% Student-t quantile t(0.975, df).
pub fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => T[df - 1],
        // Cornish–Fisher expansion around the normal quantile: exact to 1e-3 beyond 30.
        _ => {
            let z: f64 = 1.959_964;
            let d = df as f64;
            z + (z.powi(3) + z) / (4.0 * d) + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
        }
    }
}

/// Summary of a sample: mean, standard deviation, 95% CI of the mean and
/// the 5th, 50th and 95th percentiles.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Describe {
    pub n: usize,
    pub mean: f64,
    pub sd: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
    pub p5: f64,
    pub p50: f64,
    pub p95: f64,
}

/// Describes `xs` (NaN-free); `None` when empty.
pub fn describe(xs: &[f64]) -> Option<Describe> {
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    let sd = if n > 1 { (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() } else { 0.0 };
    let half = if n > 1 { t975(n - 1) * sd / (n as f64).sqrt() } else { f64::NAN };
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(Describe {
        n,
        mean,
        sd,
        ci95_low: mean - half,
        ci95_high: mean + half,
        p5: percentile(&sorted, 0.05),
        p50: percentile(&sorted, 0.50),
        p95: percentile(&sorted, 0.95),
    })
}

/// Linear-interpolation percentile of sorted data (the "R-7" definition of
/// numpy and pandas).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// A proportion with its 95% Wilson score interval.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Proportion {
    pub successes: u64,
    pub n: u64,
    pub p: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
}

pub fn wilson(successes: u64, n: u64) -> Proportion {
    if n == 0 {
        return Proportion { successes, n, p: f64::NAN, ci95_low: f64::NAN, ci95_high: f64::NAN };
    }
    let z: f64 = 1.959_964;
    let (k, n_f) = (successes as f64, n as f64);
    let p = k / n_f;
    let denom = 1.0 + z * z / n_f;
    let centre = (p + z * z / (2.0 * n_f)) / denom;
    let half = z * (p * (1.0 - p) / n_f + z * z / (4.0 * n_f * n_f)).sqrt() / denom;
    Proportion { successes, n, p, ci95_low: (centre - half).max(0.0), ci95_high: (centre + half).min(1.0) }
}

/// One-sided p-value of Fisher's exact test that proportion b (`b_hits` of
/// `b_n`) is higher than proportion a (`a_hits` of `a_n`): the chance,
/// given the margins, of b holding `b_hits` or more of all the hits. Exact
/// at the handful of runs a sequential test stops at, where the normal
/// approximation is not to be trusted.
pub fn fisher_rise_p(a_hits: u64, a_n: u64, b_hits: u64, b_n: u64) -> f64 {
    let hits = a_hits + b_hits;
    let total = a_n + b_n;
    // Hypergeometric P(X = x): x of the hits fall in b's b_n draws.
    let ln_choose = |n: u64, k: u64| ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k);
    let ln_p = |x: u64| ln_choose(b_n, x) + ln_choose(a_n, hits - x) - ln_choose(total, hits);
    let highest = hits.min(b_n);
    (b_hits..=highest).filter(|&x| hits - x <= a_n).map(|x| ln_p(x).exp()).sum::<f64>().min(1.0)
}

/// ln(n!) by summation (n is a count of runs, at most thousands).
fn ln_factorial(n: u64) -> f64 {
    (2..=n).map(|k| (k as f64).ln()).sum()
}

/// Kaplan–Meier estimate of the median of durations some of which are
/// censored (`None`: still running when observation stopped at
/// `censored_at`). Returns `None` if the survival curve never drops to 0.5.
pub fn kaplan_meier_median(observations: &[(f64, bool)]) -> Option<f64> {
    // (time, event happened) — false means censored at that time.
    let mut obs = observations.to_vec();
    // Events before censorings at equal times, the usual convention.
    obs.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut at_risk = obs.len() as f64;
    let mut survival = 1.0;
    let mut i = 0;
    while i < obs.len() {
        let t = obs[i].0;
        let (mut events, mut leaving) = (0.0, 0.0);
        while i < obs.len() && obs[i].0 == t {
            if obs[i].1 {
                events += 1.0;
            }
            leaving += 1.0;
            i += 1;
        }
        if events > 0.0 {
            survival *= 1.0 - events / at_risk;
            if survival <= 0.5 {
                return Some(t);
            }
        }
        at_risk -= leaving;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles() {
        assert_eq!(t975(19), 2.093);
        assert!((t975(60) - 2.000).abs() < 1e-3, "{}", t975(60));
        assert!((t975(120) - 1.980).abs() < 1e-3, "{}", t975(120));
    }

    #[test]
    fn describe_known_sample() {
        let d = describe(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(d.mean, 5.0);
        assert!((d.sd - 2.138_089_935).abs() < 1e-9);
        assert!((d.ci95_high - d.mean - 2.365 * d.sd / 8f64.sqrt()).abs() < 1e-12);
        assert_eq!(d.p50, 4.5);
        assert!((d.p5 - 2.7).abs() < 1e-12, "numpy.percentile(x, 5) = 2.7: {}", d.p5);
    }

    #[test]
    fn wilson_known_values() {
        // Wilson (1927) / Newcombe (1998) example: 81 of 263.
        let w = wilson(81, 263);
        assert!((w.ci95_low - 0.2553).abs() < 5e-4 && (w.ci95_high - 0.3662).abs() < 5e-4, "{w:?}");
        // 0 of 10: [0, 0.2775].
        let w = wilson(0, 10);
        assert_eq!(w.ci95_low, 0.0);
        assert!((w.ci95_high - 0.2775).abs() < 5e-4, "{w:?}");
        let w = wilson(10, 10);
        assert!((w.ci95_low - 0.7225).abs() < 5e-4 && (w.ci95_high - 1.0).abs() < 1e-12, "{w:?}");
    }

    #[test]
    fn fisher_known_values() {
        // 0 of 25 against 5 of 25: C(25,5) / C(50,5) = 53130 / 2118760.
        assert!((fisher_rise_p(0, 25, 5, 25) - 53130.0 / 2118760.0).abs() < 1e-12);
        // No hits at all, or b not higher: nothing to see.
        assert_eq!(fisher_rise_p(0, 25, 0, 25), 1.0);
        assert!(fisher_rise_p(5, 25, 0, 25) > 0.99);
        // R: fisher.test(matrix(c(3, 1, 1, 3), 2), alternative = "greater") gives 0.2429.
        assert!((fisher_rise_p(1, 4, 3, 4) - 0.242_857).abs() < 1e-5, "{}", fisher_rise_p(1, 4, 3, 4));
    }

    #[test]
    fn kaplan_meier_known_values() {
        // No censoring: the empirical median (first time survival <= 0.5).
        let plain: Vec<(f64, bool)> = [3.0, 1.0, 4.0, 2.0].iter().map(|&t| (t, true)).collect();
        assert_eq!(kaplan_meier_median(&plain), Some(2.0));
        // Classic example (Kaplan & Meier 1958 style): 6, 6, 6, 6+, 7, 9+, 10, 10+, 11+, 13, 16:
        // S(6) = 8/11, S(7) = 8/11 x 6/7 = 0.623, S(10) = 0.623 x 4/5 = 0.499 -> median 10.
        let data = [
            (6.0, true),
            (6.0, true),
            (6.0, true),
            (6.0, false),
            (7.0, true),
            (9.0, false),
            (10.0, true),
            (10.0, false),
            (11.0, false),
            (13.0, true),
            (16.0, true),
        ];
        assert_eq!(kaplan_meier_median(&data), Some(10.0));
        // Mostly censored: the curve never reaches one half.
        assert_eq!(kaplan_meier_median(&[(1.0, true), (2.0, false), (3.0, false)]), None);
    }
}
