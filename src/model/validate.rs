//! Turns scenario text into a validated [`Scenario`]: TOML syntax, then the
//! serde shape (unknown keys, wrong types, malformed units), then ranges and
//! cross-references. Every failure becomes one [`ScenarioError`] located at
//! the offending key.

use std::collections::BTreeMap;

use toml::Spanned;
use toml::de::DeTable;

use super::error::{ScenarioError, line_col, locate, parse_path};
use super::raw::{self, DistributionKind, QueueCapacity, RawDistribution, RawPolicy, RawScenario};
use super::*;

/// The smallest bin the time series accepts: finer bins cost memory without
/// telling a human anything.
const MAX_BINS: u64 = 10_000_000;

/// Standard normal quantile at 0.99, for lognormal-from-p99.
const Z99: f64 = 2.326_347_874_040_841;

struct Ctx<'a> {
    file: &'a str,
    source: &'a str,
    root: &'a Spanned<DeTable<'a>>,
}

impl Ctx<'_> {
    /// An error at `path` (dotted, with [i] for array items).
    fn err(&self, path: &str, message: impl Into<String>) -> ScenarioError {
        let position = locate(self.root, &parse_path(path)).map(|span| line_col(self.source, span.start));
        ScenarioError { file: self.file.to_string(), position, key: path.to_string(), message: message.into() }
    }
}

pub(super) fn parse_and_validate(
    text: &str,
    file: &str,
    default_name: Option<&str>,
) -> Result<Scenario, ScenarioError> {
    if text.trim().is_empty() {
        return Err(ScenarioError {
            file: file.to_string(),
            position: None,
            key: String::new(),
            message: "the file is empty; a scenario needs `version = 1`, a [simulation] table, traffic and a service"
                .to_string(),
        });
    }
    let root = DeTable::parse(text).map_err(|e| ScenarioError {
        file: file.to_string(),
        position: e.span().map(|s| line_col(text, s.start)),
        key: String::new(),
        message: format!("not valid TOML: {}", e.message()),
    })?;
    let deserializer = toml::de::Deserializer::from(root.clone());
    let raw: RawScenario = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let key = if path == "." { String::new() } else { path };
        let position = inner.span().or_else(|| locate(&root, &parse_path(&key))).map(|s| line_col(text, s.start));
        ScenarioError { file: file.to_string(), position, key, message: inner.message().to_string() }
    })?;
    let ctx = Ctx { file, source: text, root: &root };
    validate(&ctx, raw, default_name)
}

fn check_name(ctx: &Ctx, path: &str, name: &str) -> Result<(), ScenarioError> {
    let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok { Ok(()) } else { Err(ctx.err(path, format!("name \"{name}\" may use only letters, digits, '-' and '_'"))) }
}

fn validate(ctx: &Ctx, raw: RawScenario, default_name: Option<&str>) -> Result<Scenario, ScenarioError> {
    match raw.version {
        None => return Err(ctx.err("version", format!("missing; start the file with `version = {FORMAT_VERSION}`"))),
        Some(FORMAT_VERSION) => {}
        Some(v) => {
            return Err(ctx.err(
                "version",
                format!("scenario format version {v} is not supported; this faultline reads version {FORMAT_VERSION}"),
            ));
        }
    }

    let name = match (&raw.name, default_name) {
        (Some(n), _) => {
            let n = n.trim();
            let ok = !n.is_empty()
                && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && !n.starts_with('.');
            if !ok {
                return Err(ctx.err(
                    "name",
                    format!("\"{n}\" names the output folder, so it may use only letters, digits, '-', '_' and '.'"),
                ));
            }
            n.to_string()
        }
        (None, Some(stem)) => stem.to_string(),
        (None, None) => "scenario".to_string(),
    };

    let simulation = validate_simulation(ctx, raw.simulation)?;

    if raw.services.is_empty() {
        return Err(ctx.err("services", "no services defined; add at least one [services.NAME] table"));
    }
    let mut services = Vec::new();
    for (sname, rs) in &raw.services {
        check_name(ctx, &format!("services.{sname}"), sname)?;
        services.push(validate_service(ctx, sname, rs)?);
    }
    let service_index: BTreeMap<&str, usize> = raw.services.keys().enumerate().map(|(i, k)| (k.as_str(), i)).collect();

    let mut balancers = Vec::new();
    for (bname, rb) in &raw.balancers {
        let path = format!("balancers.{bname}");
        check_name(ctx, &path, bname)?;
        if service_index.contains_key(bname.as_str()) {
            return Err(ctx.err(&path, format!("\"{bname}\" is also a service name; targets must be unambiguous")));
        }
        let Some(target) = &rb.service else {
            return Err(ctx.err(&path, "missing `service`: the name of the service this balancer spreads over"));
        };
        let Some(&service) = service_index.get(target.as_str()) else {
            return Err(ctx.err(
                &format!("{path}.service"),
                format!("no service named \"{target}\" (defined: {})", list(raw.services.keys())),
            ));
        };
        let policy = match rb.policy.unwrap_or(RawPolicy::RoundRobin) {
            RawPolicy::RoundRobin => BalancePolicy::RoundRobin,
            RawPolicy::Random => BalancePolicy::Random,
            RawPolicy::LeastOutstanding => BalancePolicy::LeastOutstanding,
            RawPolicy::PowerOfTwo => BalancePolicy::PowerOfTwo,
        };
        balancers.push(Balancer { name: bname.clone(), policy, service });
    }
    let balancer_index: BTreeMap<&str, usize> =
        raw.balancers.keys().enumerate().map(|(i, k)| (k.as_str(), i)).collect();

    if raw.traffic.is_empty() {
        return Err(ctx.err("traffic", "no traffic defined; add a [traffic.NAME] table with a rate and a target"));
    }
    let mut traffic = Vec::new();
    for (tname, rt) in &raw.traffic {
        let path = format!("traffic.{tname}");
        check_name(ctx, &path, tname)?;
        let rate = match (&rt.rate, &rt.schedule) {
            (Some(_), Some(_)) => {
                return Err(ctx.err(&format!("{path}.schedule"), "give either `rate` or `schedule`, not both"));
            }
            (None, None) => {
                return Err(ctx.err(&path, "missing `rate` (e.g. rate = \"450/s\") or `schedule`"));
            }
            (Some(rate), None) => {
                if rate.0 <= 0.0 {
                    return Err(ctx.err(&format!("{path}.rate"), format!("must be > 0, got {}", rate.0)));
                }
                RateSchedule::constant(rate.0)
            }
            (None, Some(steps)) => validate_schedule(ctx, &path, steps)?,
        };
        let timeout = match rt.timeout {
            Some(raw::Timeout(Some(d))) if d.is_zero() => {
                return Err(ctx.err(&format!("{path}.timeout"), "must be > 0 (use \"none\" for no timeout)"));
            }
            Some(raw::Timeout(t)) => t,
            None => None,
        };
        let Some(target_name) = &rt.target else {
            return Err(ctx.err(&path, "missing `target`: the balancer or service that receives the requests"));
        };
        let target = if let Some(&b) = balancer_index.get(target_name.as_str()) {
            Target::Balancer(b)
        } else if let Some(&s) = service_index.get(target_name.as_str()) {
            Target::Service(s)
        } else {
            let known: Vec<&String> = raw.balancers.keys().chain(raw.services.keys()).collect();
            return Err(ctx.err(
                &format!("{path}.target"),
                format!("no balancer or service named \"{target_name}\" (defined: {})", list(known)),
            ));
        };
        traffic.push(TrafficSource { name: tname.clone(), rate, timeout, target });
    }

    Ok(Scenario { name, description: raw.description.clone(), simulation, traffic, balancers, services })
}

fn list<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.into_iter().map(|s| s.as_str()).collect();
    if names.is_empty() { "none".to_string() } else { names.join(", ") }
}

fn validate_simulation(ctx: &Ctx, raw: Option<raw::RawSimulation>) -> Result<Simulation, ScenarioError> {
    let Some(raw) = raw else {
        return Err(ctx.err("simulation", "missing [simulation] table with at least `duration`"));
    };
    let Some(duration) = raw.duration else {
        return Err(ctx.err("simulation.duration", "missing; how long to simulate, e.g. duration = \"10m\""));
    };
    let duration = duration.0;
    if duration.is_zero() {
        return Err(ctx.err("simulation.duration", "must be > 0"));
    }
    let warmup = raw.warmup.map_or(SimDuration::ZERO, |d| d.0);
    if warmup >= duration {
        return Err(
            ctx.err("simulation.warmup", format!("warm-up {warmup} must be shorter than the duration {duration}"))
        );
    }
    let bin = raw.bin.map_or(SimDuration::from_secs(1), |d| d.0);
    if bin.is_zero() {
        return Err(ctx.err("simulation.bin", "must be > 0"));
    }
    if duration.0 / bin.0 > MAX_BINS {
        return Err(ctx.err(
            "simulation.bin",
            format!("{bin} bins over {duration} would make more than {MAX_BINS} rows; use a wider bin"),
        ));
    }
    Ok(Simulation { duration, warmup, seed: raw.seed.unwrap_or(1), bin })
}

fn validate_schedule(ctx: &Ctx, path: &str, steps: &[raw::RawRateStep]) -> Result<RateSchedule, ScenarioError> {
    if steps.is_empty() {
        return Err(ctx.err(&format!("{path}.schedule"), "is empty; list at least one { from = \"0s\", rate = ... }"));
    }
    let mut out = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let from = SimTime(step.from.0.0);
        if i == 0 && from != SimTime::ZERO {
            return Err(ctx.err(&format!("{path}.schedule[0].from"), "the first step must start at \"0s\""));
        }
        if let Some(prev) = out.last().map(|s: &RateStep| s.from)
            && from <= prev
        {
            return Err(
                ctx.err(&format!("{path}.schedule[{i}].from"), "steps must be in strictly increasing order of `from`")
            );
        }
        out.push(RateStep { from, per_sec: step.rate.0 });
    }
    if out.iter().all(|s| s.per_sec == 0.0) {
        return Err(ctx.err(&format!("{path}.schedule"), "every step has rate 0; no request would ever arrive"));
    }
    Ok(RateSchedule { steps: out })
}

fn positive_u32(ctx: &Ctx, path: &str, value: Option<i64>, default: u32, what: &str) -> Result<u32, ScenarioError> {
    let Some(v) = value else { return Ok(default) };
    if v < 1 {
        return Err(ctx.err(path, format!("must be >= 1 {what}, got {v}")));
    }
    u32::try_from(v).map_err(|_| ctx.err(path, format!("{v} is too large")))
}

fn validate_service(ctx: &Ctx, name: &str, raw: &raw::RawService) -> Result<Service, ScenarioError> {
    let path = format!("services.{name}");
    let nodes = positive_u32(ctx, &format!("{path}.nodes"), raw.nodes, 1, "(nodes in the service)")?;
    let workers = positive_u32(ctx, &format!("{path}.workers"), raw.workers, 1, "(requests a node serves at once)")?;
    let queue_capacity = match raw.queue_capacity {
        None => Some(DEFAULT_QUEUE_CAPACITY),
        Some(QueueCapacity::Unbounded) => None,
        Some(QueueCapacity::Bounded(n)) if n < 0 => {
            return Err(ctx.err(&format!("{path}.queue_capacity"), format!("must be >= 0 (0 = no queue), got {n}")));
        }
        Some(QueueCapacity::Bounded(n)) => Some(
            u32::try_from(n).map_err(|_| ctx.err(&format!("{path}.queue_capacity"), "too large; use \"unbounded\""))?,
        ),
    };
    let Some(dist) = &raw.service_time else {
        return Err(ctx.err(
            &path,
            "missing `service_time`, e.g. service_time = { distribution = \"exponential\", mean = \"20ms\" }",
        ));
    };
    let service_time = validate_distribution(ctx, &format!("{path}.service_time"), dist)?;
    Ok(Service { name: name.to_string(), nodes, workers, queue_capacity, service_time })
}

/// Default per-node queue: Tomcat's `acceptCount` (100), a common bound on
/// requests waiting for a worker thread.
pub const DEFAULT_QUEUE_CAPACITY: u32 = 100;

fn validate_distribution(ctx: &Ctx, path: &str, raw: &RawDistribution) -> Result<ServiceTime, ScenarioError> {
    use DistributionKind as K;
    let Some(kind) = raw.distribution else {
        return Err(
            ctx.err(path, "missing `distribution`: one of exponential, constant, uniform, lognormal, gamma, erlang")
        );
    };
    let kind_name = match kind {
        K::Exponential => "exponential",
        K::Constant => "constant",
        K::Uniform => "uniform",
        K::Lognormal => "lognormal",
        K::Gamma => "gamma",
        K::Erlang => "erlang",
    };
    let allowed: &[&str] = match kind {
        K::Exponential => &["mean"],
        K::Constant => &["value"],
        K::Uniform => &["min", "max"],
        K::Lognormal => &["mean", "p99", "cv"],
        K::Gamma => &["mean", "shape", "cv"],
        K::Erlang => &["mean", "k"],
    };
    let present = [
        ("mean", raw.mean.is_some()),
        ("value", raw.value.is_some()),
        ("min", raw.min.is_some()),
        ("max", raw.max.is_some()),
        ("p99", raw.p99.is_some()),
        ("cv", raw.cv.is_some()),
        ("shape", raw.shape.is_some()),
        ("k", raw.k.is_some()),
    ];
    for (key, is_set) in present {
        if is_set && !allowed.contains(&key) {
            return Err(ctx.err(
                &format!("{path}.{key}"),
                format!("`{key}` is not a parameter of a {kind_name} distribution (it takes: {})", allowed.join(", ")),
            ));
        }
    }
    let required = |key: &str, v: Option<raw::Duration>| -> Result<raw::Duration, ScenarioError> {
        v.ok_or_else(|| ctx.err(path, format!("a {kind_name} distribution needs `{key}`")))
    };
    let positive = |key: &str, d: raw::Duration| -> Result<f64, ScenarioError> {
        if d.0.is_zero() { Err(ctx.err(&format!("{path}.{key}"), "must be > 0")) } else { Ok(d.0.as_secs_f64()) }
    };
    let finite_positive = |key: &str, v: f64| -> Result<f64, ScenarioError> {
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(ctx.err(&format!("{path}.{key}"), format!("must be a number > 0, got {v}")))
        }
    };
    Ok(match kind {
        K::Exponential => {
            let mean = required("mean", raw.mean)?;
            positive("mean", mean)?;
            ServiceTime::Exponential { mean: mean.0 }
        }
        K::Constant => ServiceTime::Constant { value: required("value", raw.value)?.0 },
        K::Uniform => {
            let (min, max) = (required("min", raw.min)?, required("max", raw.max)?);
            if max.0 < min.0 {
                return Err(ctx.err(&format!("{path}.max"), format!("max {} is below min {}", max.0, min.0)));
            }
            ServiceTime::Uniform { min: min.0, max: max.0 }
        }
        K::Lognormal => {
            let m = positive("mean", required("mean", raw.mean)?)?;
            let sigma = match (raw.p99, raw.cv) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(
                        ctx.err(path, "a lognormal distribution needs exactly one of `p99` or `cv` besides `mean`")
                    );
                }
                (None, Some(cv)) => (1.0 + finite_positive("cv", cv)?.powi(2)).ln().sqrt(),
                (Some(p99), None) => {
                    let p = positive("p99", p99)?;
                    // mean = exp(mu + s²/2), p99 = exp(mu + z s)  =>  s²/2 - z s + ln(p99/mean) = 0,
                    // whose smaller root is the sigma with that mean and p99.
                    let r = (p / m).ln();
                    if r <= 0.0 {
                        return Err(ctx.err(&format!("{path}.p99"), "must be above the mean for a lognormal"));
                    }
                    if r > Z99 * Z99 / 2.0 {
                        return Err(ctx.err(
                            &format!("{path}.p99"),
                            format!(
                                "a lognormal's p99 can be at most {:.2} x its mean; use `cv` for heavier tails",
                                (Z99 * Z99 / 2.0).exp()
                            ),
                        ));
                    }
                    Z99 - (Z99 * Z99 - 2.0 * r).sqrt()
                }
            };
            ServiceTime::LogNormal { mu: m.ln() - sigma * sigma / 2.0, sigma }
        }
        K::Gamma => {
            let m = positive("mean", required("mean", raw.mean)?)?;
            let shape = match (raw.shape, raw.cv) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(
                        ctx.err(path, "a gamma distribution needs exactly one of `shape` or `cv` besides `mean`")
                    );
                }
                (Some(k), None) => finite_positive("shape", k)?,
                (None, Some(cv)) => 1.0 / finite_positive("cv", cv)?.powi(2),
            };
            ServiceTime::Gamma { shape, scale_secs: m / shape }
        }
        K::Erlang => {
            let m = positive("mean", required("mean", raw.mean)?)?;
            let Some(k) = raw.k else {
                return Err(ctx.err(path, "an erlang distribution needs `k`, the number of phases"));
            };
            if !(1..=1000).contains(&k) {
                return Err(ctx.err(&format!("{path}.k"), format!("must be an integer from 1 to 1000, got {k}")));
            }
            ServiceTime::Gamma { shape: k as f64, scale_secs: m / k as f64 }
        }
    })
}
