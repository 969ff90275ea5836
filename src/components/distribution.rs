//! Sampling durations (service times, restart delays, times between
//! failures) from a validated [`Distribution`].

use rand::RngExt;
use rand_distr::{Distribution as _, Exp1, Gamma, LogNormal};

use crate::model::Distribution;
use crate::rng::SimRng;
use crate::time::{SimDuration, secs_to_nanos};

/// A ready-to-draw service-time distribution.
#[derive(Debug, Clone)]
pub enum DurationSampler {
    Exponential { mean_ns: f64 },
    Constant(SimDuration),
    Uniform { min_ns: f64, span_ns: f64 },
    LogNormal(LogNormal<f64>),
    Gamma(Gamma<f64>),
}

impl DurationSampler {
    pub fn new(spec: &Distribution) -> Self {
        match *spec {
            Distribution::Exponential { mean } => DurationSampler::Exponential { mean_ns: mean.0 as f64 },
            Distribution::Constant { value } => DurationSampler::Constant(value),
            Distribution::Uniform { min, max } => {
                DurationSampler::Uniform { min_ns: min.0 as f64, span_ns: (max.0 - min.0) as f64 }
            }
            Distribution::LogNormal { mu, sigma } => {
                DurationSampler::LogNormal(LogNormal::new(mu, sigma).expect("validated lognormal parameters"))
            }
            Distribution::Gamma { shape, scale_secs } => {
                DurationSampler::Gamma(Gamma::new(shape, scale_secs).expect("validated gamma parameters"))
            }
        }
    }

    #[inline(always)]
    pub fn sample(&self, rng: &mut SimRng) -> SimDuration {
        match self {
            DurationSampler::Exponential { mean_ns } => {
                let e: f64 = Exp1.sample(rng);
                SimDuration((e * mean_ns + 0.5) as u64)
            }
            DurationSampler::Constant(d) => *d,
            DurationSampler::Uniform { min_ns, span_ns } => {
                let u: f64 = rng.random();
                SimDuration((min_ns + u * span_ns + 0.5) as u64)
            }
            DurationSampler::LogNormal(d) => SimDuration(secs_to_nanos(d.sample(rng))),
            DurationSampler::Gamma(d) => SimDuration(secs_to_nanos(d.sample(rng))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{StreamKind, stream};

    fn moments(spec: Distribution, n: usize) -> (f64, f64) {
        let s = DurationSampler::new(&spec);
        let mut rng = stream(7, 0, StreamKind::ServiceTime, 0);
        let xs: Vec<f64> = (0..n).map(|_| s.sample(&mut rng).as_secs_f64()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
        (mean, var / (mean * mean))
    }

    #[test]
    fn sample_moments_match_the_spec() {
        let specs = [
            Distribution::Exponential { mean: SimDuration::from_millis(20) },
            Distribution::Uniform { min: SimDuration::from_millis(10), max: SimDuration::from_millis(30) },
            Distribution::LogNormal { mu: (0.02f64).ln() - 2f64.ln() / 2.0, sigma: 2f64.ln().sqrt() },
            Distribution::Gamma { shape: 4.0, scale_secs: 0.005 },
        ];
        for spec in specs {
            let (mean, scv) = moments(spec.clone(), 400_000);
            // 400k samples: the mean's relative standard error is sqrt(scv/n) <= 0.16%.
            assert!((mean / spec.mean_secs() - 1.0).abs() < 0.01, "{spec:?}: mean {mean}");
            assert!((scv - spec.scv()).abs() < 0.05 * spec.scv().max(0.1), "{spec:?}: scv {scv}");
        }
        let constant = DurationSampler::new(&Distribution::Constant { value: SimDuration::from_millis(5) });
        let mut rng = stream(7, 0, StreamKind::ServiceTime, 0);
        assert!((0..10).all(|_| constant.sample(&mut rng) == SimDuration::from_millis(5)));
    }
}
