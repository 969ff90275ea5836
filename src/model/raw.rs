//! The scenario file exactly as written: serde structs that mirror the TOML,
//! with human units (durations, rates) parsed on the way in and unknown keys
//! refused. Cross-references and ranges are checked later, in `validate`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::time::{SimDuration, parse_duration};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub version: Option<i64>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub simulation: Option<RawSimulation>,
    #[serde(default)]
    pub traffic: BTreeMap<String, RawTraffic>,
    #[serde(default)]
    pub balancers: BTreeMap<String, RawBalancer>,
    #[serde(default)]
    pub services: BTreeMap<String, RawService>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSimulation {
    pub duration: Option<Duration>,
    pub warmup: Option<Duration>,
    pub seed: Option<u64>,
    pub bin: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTraffic {
    pub rate: Option<Rate>,
    pub schedule: Option<Vec<RawRateStep>>,
    pub timeout: Option<Timeout>,
    pub target: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateStep {
    pub from: Duration,
    pub rate: Rate,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBalancer {
    pub policy: Option<RawPolicy>,
    pub service: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawPolicy {
    RoundRobin,
    Random,
    LeastOutstanding,
    PowerOfTwo,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub nodes: Option<i64>,
    pub workers: Option<i64>,
    pub queue_capacity: Option<QueueCapacity>,
    pub service_time: Option<RawDistribution>,
}

/// A service-time distribution: `distribution = "..."` plus its parameters.
/// One flat struct rather than a tagged enum so that errors keep their exact
/// key path and position; `validate` checks which keys each kind takes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDistribution {
    pub distribution: Option<DistributionKind>,
    pub mean: Option<Duration>,
    pub value: Option<Duration>,
    pub min: Option<Duration>,
    pub max: Option<Duration>,
    pub p99: Option<Duration>,
    pub cv: Option<f64>,
    pub shape: Option<f64>,
    pub k: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DistributionKind {
    Exponential,
    Constant,
    Uniform,
    Lognormal,
    Gamma,
    Erlang,
}

/// A duration written as "250ms", "1.5s", "2m", "1m30s".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Duration(pub SimDuration);

/// Reads a duration string; with `allow_none`, also the word "none".
struct DurationVisitor {
    allow_none: bool,
}

impl Visitor<'_> for DurationVisitor {
    type Value = Option<SimDuration>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration string such as \"250ms\", \"1.5s\" or \"2m\"")?;
        if self.allow_none { f.write_str(", or \"none\"") } else { Ok(()) }
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        if self.allow_none && s.trim() == "none" {
            return Ok(None);
        }
        parse_duration(s).map(Some).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
        self.visit_f64(n as f64)
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
        Err(E::custom(format!("duration {n} has no unit: write it as a string, e.g. \"{n}s\" or \"{n}ms\"")))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let parsed = d.deserialize_any(DurationVisitor { allow_none: false })?;
        Ok(Duration(parsed.expect("none is not allowed here")))
    }
}

/// A rate in requests per second: "450/s", "27000/m", "10/h", or a bare
/// number meaning per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate(pub f64);

/// Parses a rate string; the result is in events per second.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let hint = "expected a rate such as \"450/s\", \"27000/m\" or \"10/h\", or a number of requests per second";
    let s = text.trim();
    let (number, per) = match s.split_once('/') {
        Some((n, unit)) => (n.trim(), unit.trim()),
        None => (s, "s"),
    };
    let seconds = match per {
        "s" => 1.0,
        "ms" => 1e-3,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("rate \"{text}\" has unknown unit \"/{per}\": {hint}")),
    };
    let value: f64 = number.parse().map_err(|_| format!("malformed rate \"{text}\": {hint}"))?;
    check_rate(value / seconds, text)
}

fn check_rate(per_sec: f64, text: &str) -> Result<f64, String> {
    if !per_sec.is_finite() {
        Err(format!("rate {text} is not a finite number"))
    } else if per_sec < 0.0 {
        Err(format!("rate {text} is negative; a rate must be >= 0"))
    } else {
        Ok(per_sec)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a rate such as \"450/s\" or a number of requests per second")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Rate, E> {
                parse_rate(s).map(Rate).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Rate, E> {
                check_rate(n as f64, &n.to_string()).map(Rate).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Rate, E> {
                check_rate(n as f64, &n.to_string()).map(Rate).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Rate, E> {
                check_rate(n, &n.to_string()).map(Rate).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A client timeout: a duration, or "none" for a client that waits forever.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeout(pub Option<SimDuration>);

impl<'de> Deserialize<'de> for Timeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurationVisitor { allow_none: true }).map(Timeout)
    }
}

/// Queue capacity per node: a count (0 = no queue), or "unbounded".
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QueueCapacity {
    Bounded(i64),
    Unbounded,
}

impl<'de> Deserialize<'de> for QueueCapacity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = QueueCapacity;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of queued requests (0 = no queue) or \"unbounded\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<QueueCapacity, E> {
                if s.trim() == "unbounded" {
                    Ok(QueueCapacity::Unbounded)
                } else {
                    Err(E::custom(format!(
                        "expected a number of queued requests (0 = no queue) or \"unbounded\", got \"{s}\""
                    )))
                }
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<QueueCapacity, E> {
                Ok(QueueCapacity::Bounded(n))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<QueueCapacity, E> {
                Ok(QueueCapacity::Bounded(n.min(i64::MAX as u64) as i64))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("450/s").unwrap(), 450.0);
        assert_eq!(parse_rate("27000/m").unwrap(), 450.0);
        assert_eq!(parse_rate("3600/h").unwrap(), 1.0);
        assert_eq!(parse_rate("2.5").unwrap(), 2.5);
        assert!(parse_rate("-3/s").is_err());
        assert!(parse_rate("450/day").is_err());
        assert!(parse_rate("fast").is_err());
    }
}
