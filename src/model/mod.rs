//! Scenario files: TOML text -> [`raw`] serde structs -> a validated
//! [`Scenario`] whose cross-references are resolved to indices and whose
//! values are in engine units (ns, requests per second).
//!
//! Everything a user can get wrong is reported here as a [`ScenarioError`]
//! naming the file, line:column, key path and problem; nothing downstream
//! needs to re-check user input.

pub mod error;
pub mod raw;
mod validate;

use std::path::Path;

pub use error::ScenarioError;

use crate::time::{SimDuration, SimTime};

/// The scenario-file format version this build reads.
pub const FORMAT_VERSION: i64 = 1;

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Names the output folder; from `name`, else the file stem.
    pub name: String,
    pub description: Option<String>,
    pub simulation: Simulation,
    pub traffic: Vec<TrafficSource>,
    pub balancers: Vec<Balancer>,
    pub services: Vec<Service>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// Simulated time to run [ns].
    pub duration: SimDuration,
    /// Initial span excluded from the per-run statistics [ns].
    pub warmup: SimDuration,
    pub seed: u64,
    /// Width of one time-series bin [ns].
    pub bin: SimDuration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrafficSource {
    pub name: String,
    pub rate: RateSchedule,
    /// Client gives up after this long; `None` waits forever.
    pub timeout: Option<SimDuration>,
    pub target: Target,
}

/// Piecewise-constant arrival rate: `steps[i]` holds from its start until the
/// next step's start. The first step starts at 0. Rates in requests/s.
#[derive(Debug, Clone, PartialEq)]
pub struct RateSchedule {
    pub steps: Vec<RateStep>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStep {
    pub from: SimTime,
    pub per_sec: f64,
}

impl RateSchedule {
    pub fn constant(per_sec: f64) -> Self {
        RateSchedule { steps: vec![RateStep { from: SimTime::ZERO, per_sec }] }
    }

    /// Highest rate at any time before `horizon`.
    pub fn peak(&self, horizon: SimTime) -> f64 {
        self.steps.iter().filter(|s| s.from < horizon).map(|s| s.per_sec).fold(0.0, f64::max)
    }

    /// Time-averaged rate over [0, horizon).
    pub fn mean(&self, horizon: SimTime) -> f64 {
        if horizon.0 == 0 {
            return self.steps[0].per_sec;
        }
        let mut total = 0.0;
        for (i, step) in self.steps.iter().enumerate() {
            let end = self.steps.get(i + 1).map_or(horizon, |n| n.from).min(horizon);
            if end > step.from {
                total += step.per_sec * (end - step.from).as_secs_f64();
            }
        }
        total / horizon.as_secs_f64()
    }
}

/// Where a traffic source sends its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Balancer(usize),
    /// Straight to a service; with several nodes, spread round-robin.
    Service(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Balancer {
    pub name: String,
    pub policy: BalancePolicy,
    pub service: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalancePolicy {
    RoundRobin,
    Random,
    LeastOutstanding,
    PowerOfTwo,
}

impl BalancePolicy {
    pub fn name(self) -> &'static str {
        match self {
            BalancePolicy::RoundRobin => "round-robin",
            BalancePolicy::Random => "random",
            BalancePolicy::LeastOutstanding => "least-outstanding",
            BalancePolicy::PowerOfTwo => "power-of-two",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub nodes: u32,
    /// Requests one node serves at once.
    pub workers: u32,
    /// Requests one node holds waiting; `None` = unbounded.
    pub queue_capacity: Option<u32>,
    pub service_time: ServiceTime,
}

/// A service-time distribution with validated parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceTime {
    Exponential {
        mean: SimDuration,
    },
    Constant {
        value: SimDuration,
    },
    Uniform {
        min: SimDuration,
        max: SimDuration,
    },
    /// ln(S / 1 s) ~ Normal(mu, sigma).
    LogNormal {
        mu: f64,
        sigma: f64,
    },
    /// Gamma with `shape` k and `scale` θ [s]; Erlang-k when k is an integer.
    Gamma {
        shape: f64,
        scale_secs: f64,
    },
}

impl ServiceTime {
    /// Mean service time [s].
    pub fn mean_secs(&self) -> f64 {
        match *self {
            ServiceTime::Exponential { mean } => mean.as_secs_f64(),
            ServiceTime::Constant { value } => value.as_secs_f64(),
            ServiceTime::Uniform { min, max } => (min.as_secs_f64() + max.as_secs_f64()) / 2.0,
            ServiceTime::LogNormal { mu, sigma } => (mu + sigma * sigma / 2.0).exp(),
            ServiceTime::Gamma { shape, scale_secs } => shape * scale_secs,
        }
    }

    /// Squared coefficient of variation (variance / mean²).
    pub fn scv(&self) -> f64 {
        match *self {
            ServiceTime::Exponential { .. } => 1.0,
            ServiceTime::Constant { .. } => 0.0,
            ServiceTime::Uniform { min, max } => {
                let (a, b) = (min.as_secs_f64(), max.as_secs_f64());
                let mean = (a + b) / 2.0;
                if mean == 0.0 { 0.0 } else { (b - a).powi(2) / 12.0 / (mean * mean) }
            }
            ServiceTime::LogNormal { sigma, .. } => (sigma * sigma).exp() - 1.0,
            ServiceTime::Gamma { shape, .. } => 1.0 / shape,
        }
    }

    /// Short human description, e.g. "lognormal(mean 20ms, cv 2)".
    pub fn describe(&self) -> String {
        let mean = SimDuration::from_secs_f64(self.mean_secs());
        match *self {
            ServiceTime::Exponential { .. } => format!("exponential(mean {mean})"),
            ServiceTime::Constant { value } => format!("constant({value})"),
            ServiceTime::Uniform { min, max } => format!("uniform({min}..{max})"),
            ServiceTime::LogNormal { .. } => format!("lognormal(mean {mean}, cv {:.3})", self.scv().sqrt()),
            ServiceTime::Gamma { shape, .. } => format!("gamma(mean {mean}, shape {shape})"),
        }
    }
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn from_file(path: &Path) -> Result<Scenario, ScenarioError> {
        let label = path.display().to_string();
        let whole_file =
            |message: String| ScenarioError { file: label.clone(), position: None, key: String::new(), message };
        let meta = std::fs::metadata(path).map_err(|e| {
            whole_file(if e.kind() == std::io::ErrorKind::NotFound {
                "no such file".to_string()
            } else {
                format!("cannot read: {e}")
            })
        })?;
        if meta.is_dir() {
            return Err(whole_file("is a directory, expected a scenario .toml file".to_string()));
        }
        let bytes = std::fs::read(path).map_err(|e| whole_file(format!("cannot read: {e}")))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| whole_file("is not UTF-8 text, so not a TOML scenario file".to_string()))?;
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        Scenario::from_toml(&text, &label, stem.as_deref())
    }

    /// Parses and validates scenario text. `file` labels error messages;
    /// `default_name` is used when the file has no `name` key.
    pub fn from_toml(text: &str, file: &str, default_name: Option<&str>) -> Result<Scenario, ScenarioError> {
        validate::parse_and_validate(text, file, default_name)
    }

    /// Index of a service by name.
    pub fn service_index(&self, name: &str) -> Option<usize> {
        self.services.iter().position(|s| s.name == name)
    }

    /// Total nodes over all services.
    pub fn total_nodes(&self) -> usize {
        self.services.iter().map(|s| s.nodes as usize).sum()
    }

    /// The service each traffic source's requests end up at.
    pub fn target_service(&self, target: Target) -> usize {
        match target {
            Target::Service(s) => s,
            Target::Balancer(b) => self.balancers[b].service,
        }
    }
}
