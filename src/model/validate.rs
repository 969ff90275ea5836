//! Turns scenario text into a validated [`Scenario`]: TOML syntax, then the
//! serde shape (unknown keys, wrong types, malformed units), then ranges and
//! cross-references. Every failure becomes one [`ScenarioError`] located at
//! the offending key.

use std::collections::BTreeMap;
use std::path::Path;

use toml::Spanned;
use toml::de::DeTable;

use super::error::{ScenarioError, line_col, locate, parse_path};
use super::partition::{PartitionDirection, PartitionMode, PartitionSide};
use super::raw::{self, DistributionKind, QueueCapacity, RawDistribution, RawPolicy, RawScenario};
use super::*;

mod initial;

/// The smallest bin the time series accepts: finer bins cost memory without
/// telling a human anything.
const MAX_BINS: u64 = 10_000_000;

/// Standard normal quantile at 0.99, for lognormal-from-p99.
const Z99: f64 = 2.326_347_874_040_841;

struct Ctx<'a> {
    file: &'a str,
    source: &'a str,
    root: &'a Spanned<DeTable<'a>>,
    /// The scenario file's folder: trace files are relative to it.
    dir: &'a Path,
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
    dir: &Path,
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
    let ctx = Ctx { file, source: text, root: &root, dir };
    validate(&ctx, raw, default_name)
}

/// Longest scenario `name`: it becomes a folder name.
pub const MAX_NAME_LEN: usize = 200;

/// Whether a scenario name can name its output folder: letters, digits,
/// '-', '_' and '.', not empty and not hidden (nor "." or "..").
pub fn is_folder_name(n: &str) -> bool {
    !n.is_empty() && !n.starts_with('.') && n.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
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
            if !is_folder_name(n) {
                return Err(ctx.err(
                    "name",
                    format!("\"{n}\" names the output folder, so it may use only letters, digits, '-', '_' and '.'"),
                ));
            }
            // A path component is at most 255 bytes; the folder's suffixes
            // ("-batch", "-sweep", "-plan") and a temporary prefix need room.
            if n.len() > MAX_NAME_LEN {
                return Err(ctx.err(
                    "name",
                    format!("{} characters: it names the output folder, so at most {MAX_NAME_LEN}", n.chars().count()),
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

    // Databases follow the services in the same list, so faults, restarts
    // and outputs treat their instances like nodes.
    let regular_services = services.len();
    for (dname, rd) in &raw.databases {
        let path = format!("databases.{dname}");
        check_name(ctx, &path, dname)?;
        if service_index.contains_key(dname.as_str()) {
            return Err(ctx.err(&path, format!("\"{dname}\" is also a service name")));
        }
        services.push(validate_database(ctx, &path, dname, rd)?);
    }
    for (i, (sname, rs)) in raw.services.iter().enumerate() {
        let Some(use_db) = &rs.database else { continue };
        let path = format!("services.{sname}.database");
        let Some(name) = &use_db.name else {
            return Err(ctx.err(&path, "missing `name`: the database this service queries"));
        };
        let Some(d) = raw.databases.keys().position(|k| k == name) else {
            return Err(ctx.err(
                &format!("{path}.name"),
                format!("no database named \"{name}\" (defined: {})", list(raw.databases.keys())),
            ));
        };
        if services[regular_services + d].cache.is_some() {
            return Err(ctx.err(
                &format!("{path}.name"),
                format!(
                    "database {name} has a cache, which serves calls: query it with calls = [{{ target = \"{name}\", write_ratio = 0.1 }}]"
                ),
            ));
        }
        services[i].uses_database = Some(DbUse {
            database: regular_services + d,
            write_ratio: fraction(ctx, &format!("{path}.write_ratio"), use_db.write_ratio, 0.1)?,
            pool: count_at_least(ctx, &format!("{path}.pool"), use_db.pool, 10, 1)?,
        });
    }

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
        let panic_threshold = match rb.panic_threshold {
            None => DEFAULT_PANIC_THRESHOLD,
            Some(p) if (0.0..=1.0).contains(&p) => p,
            Some(p) => {
                return Err(
                    ctx.err(&format!("{path}.panic_threshold"), format!("must be a fraction from 0 to 1, got {p}"))
                );
            }
        };
        let health_check = match &rb.health_check {
            None => None,
            Some(h) => Some(validate_health_check(ctx, &format!("{path}.health_check"), h)?),
        };
        let outlier_detection = match &rb.outlier_detection {
            None => None,
            Some(o) => Some(validate_outlier(ctx, &format!("{path}.outlier_detection"), o)?),
        };
        let tie_break = match rb.tie_break {
            None | Some(raw::RawTieBreak::Rotate) => TieBreak::Rotate,
            Some(_) if policy != BalancePolicy::LeastOutstanding => {
                return Err(ctx.err(&format!("{path}.tie_break"), "only the least-outstanding policy breaks ties"));
            }
            Some(raw::RawTieBreak::Random) => TieBreak::Random,
            Some(raw::RawTieBreak::First) => TieBreak::First,
        };
        let mut weights = Vec::new();
        for (i, &w) in rb.weights.iter().flatten().enumerate() {
            if !(1..=1_000_000).contains(&w) {
                return Err(ctx.err(
                    &format!("{path}.weights[{i}]"),
                    format!("must be a whole number from 1 to 1000000, got {w}"),
                ));
            }
            weights.push(w as u32);
        }
        balancers.push(Balancer {
            name: bname.clone(),
            policy,
            tie_break,
            weights,
            service,
            panic_threshold,
            health_check,
            outlier_detection,
        });
    }
    let balancer_index: BTreeMap<&str, usize> =
        raw.balancers.keys().enumerate().map(|(i, k)| (k.as_str(), i)).collect();

    if raw.traffic.is_empty() {
        return Err(ctx.err("traffic", "no traffic defined; add a [traffic.NAME] table with a rate and a target"));
    }
    let targets = Targets {
        services: &service_index,
        balancers: &balancer_index,
        databases: &raw.databases,
        balancer_names: &raw.balancers,
        service_names: &raw.services,
    };
    // Rates traces are read before the sources are validated, since a
    // `class` column adds request classes; a problem with one is reported
    // where its source's trace is validated, in the usual order.
    let rates_traces: BTreeMap<&str, Result<super::trace::RatesTrace, ScenarioError>> = raw
        .traffic
        .iter()
        .filter(|(_, rt)| rt.trace_mode != Some(raw::RawTraceMode::Timestamps))
        .filter_map(|(tname, rt)| {
            let file = rt.trace.as_ref()?;
            Some((tname.as_str(), read_rates_trace(ctx, &format!("traffic.{tname}"), file)))
        })
        .collect();
    // Classes that sources declare with `classes` tables: where there are
    // some, a class trace keeps to them (a name outside them is most likely
    // a typo, and would quietly become a class of its own). Calls'
    // `classes` are checked the other way: each must be a class some source
    // sends, by a table or a trace.
    let declared: std::collections::BTreeSet<String> =
        raw.traffic.values().flat_map(|t| t.classes.iter().flat_map(|c| c.keys().cloned())).collect();
    // Request classes: every name any source uses, in name order.
    let classes: Vec<String> = raw
        .traffic
        .values()
        .flat_map(|t| t.classes.iter().flat_map(|c| c.keys().cloned()))
        .chain(rates_traces.values().flat_map(|t| match t {
            Ok(super::trace::RatesTrace::ByClass(by_class)) => by_class.iter().map(|c| c.class.clone()).collect(),
            _ => Vec::new(),
        }))
        .collect::<std::collections::BTreeSet<String>>()
        .into_iter()
        .collect();
    if classes.len() > MAX_CLASSES {
        return Err(
            ctx.err("traffic", format!("{} request classes; at most {MAX_CLASSES} are supported", classes.len()))
        );
    }
    let mut traffic = Vec::new();
    for (tname, rt) in &raw.traffic {
        let path = format!("traffic.{tname}");
        check_name(ctx, &path, tname)?;
        let closed_loop = validate_closed_loop(ctx, &path, rt)?;
        let bursts = match &rt.bursts {
            None => Vec::new(),
            Some(b) => validate_bursts(ctx, &format!("{path}.bursts"), b, simulation.duration)?,
        };
        if rt.trace.is_none() {
            if rt.trace_mode.is_some() {
                return Err(ctx.err(&format!("{path}.trace_mode"), "applies to a `trace`, and there is none"));
            }
            if rt.trace_shape.is_some() {
                return Err(ctx.err(&format!("{path}.trace_shape"), "applies to a `trace`, and there is none"));
            }
        }
        let (mut replay, mut trace, mut class_rates) = (Vec::new(), None, Vec::new());
        if rt.trace.is_some() && (rt.rate.is_some() || rt.schedule.is_some()) {
            return Err(ctx.err(&format!("{path}.trace"), "give one of `rate`, `schedule` and `trace`, not several"));
        }
        let rate = match (&rt.rate, &rt.schedule, &rt.trace) {
            (None, None, None) if let Some(c) = &closed_loop => {
                let most = c.population.iter().map(|s| s.users).max().unwrap_or(1);
                RateSchedule::constant(most as f64 / c.think_time.mean_secs())
            }
            (Some(_), Some(_), _) => {
                return Err(ctx.err(&format!("{path}.schedule"), "give either `rate` or `schedule`, not both"));
            }
            (None, None, None) if !bursts.is_empty() => RateSchedule::constant(0.0),
            (None, None, None) => {
                return Err(ctx.err(
                    &path,
                    "missing `rate` (e.g. rate = \"450/s\"), `schedule`, `trace`, `bursts`, or `users` with `think_time` (a closed loop)",
                ));
            }
            (Some(rate), None, None) => {
                if rate.0 <= 0.0 {
                    return Err(ctx.err(&format!("{path}.rate"), format!("must be > 0, got {}", rate.0)));
                }
                RateSchedule::constant(rate.0)
            }
            (None, Some(steps), None) => validate_schedule(ctx, &path, steps)?,
            (None, None, Some(file)) => {
                let known = Known { classes: &classes, declared: &declared };
                let parsed = rates_traces.get(tname.as_str());
                let replayed = validate_trace(ctx, &path, file, rt, parsed, &known, simulation.duration)?;
                replay = replayed.times;
                trace = Some(replayed.info);
                class_rates = replayed.class_rates;
                replayed.rate
            }
            (_, _, Some(_)) => unreachable!("a trace with a rate or schedule is refused above"),
        };
        let timeout = optional_duration(ctx, &format!("{path}.timeout"), rt.timeout, "timeout")?;
        let Some(target_name) = &rt.target else {
            return Err(ctx.err(&path, "missing `target`: the balancer or service that receives the requests"));
        };
        let target = targets.resolve(ctx, &format!("{path}.target"), target_name)?;
        let deadline = optional_duration(ctx, &format!("{path}.deadline"), rt.deadline, "deadline")?;
        let retry = match &rt.retry {
            None => None,
            Some(r) => Some(validate_retry(ctx, &format!("{path}.retry"), r)?),
        };
        let circuit_breaker = match &rt.circuit_breaker {
            None => None,
            Some(b) => Some(validate_breaker(ctx, &format!("{path}.circuit_breaker"), b)?),
        };
        let throttling = match &rt.throttling {
            None => None,
            Some(t) => {
                let p = format!("{path}.throttling");
                let k = t.k.unwrap_or(2.0);
                if !(k.is_finite() && k >= 1.0) {
                    return Err(ctx.err(&format!("{p}.k"), format!("must be a number >= 1, got {k}")));
                }
                let window = positive_duration(ctx, &format!("{p}.window"), t.window, SimDuration::from_secs(120))?;
                Some(ThrottleSpec { k, window })
            }
        };
        let class_mix = match &rt.classes {
            None => Vec::new(),
            Some(weights) => validate_class_mix(ctx, &format!("{path}.classes"), weights, &classes)?,
        };
        let class_mix =
            if class_rates.is_empty() { class_mix } else { class_shares(&class_rates, &rate, simulation.duration) };
        traffic.push(TrafficSource {
            class_mix,
            class_rates,
            name: tname.clone(),
            rate,
            closed_loop,
            timeout,
            deadline,
            target,
            retry,
            circuit_breaker,
            throttling,
            bursts,
            replay,
            trace,
        });
    }

    let mut all_calls = Vec::with_capacity(raw.services.len());
    for (sname, rs) in &raw.services {
        let steps = match &rs.calls {
            None => Vec::new(),
            Some(steps) => {
                validate_calls(ctx, &format!("services.{sname}.calls"), steps, &targets, &classes, &balancers)?
            }
        };
        all_calls.push(steps);
    }
    for (service, steps) in all_calls.into_iter().enumerate() {
        services[service].calls = steps;
    }
    check_call_cycles(ctx, &services)?;

    let mut faults = Vec::new();
    for (i, rf) in raw.faults.iter().enumerate() {
        let path = format!("faults[{i}]");
        faults.push(if rf.kind == Some(raw::RawFaultKind::Partition) {
            validate_partition(ctx, &path, rf, &traffic, &balancers, &services, &simulation)?
        } else {
            validate_fault(ctx, &path, rf, &services, &simulation)?
        });
    }

    // nodes.csv holds a row per bin and node: keep it to a size a laptop holds.
    let slots: u64 = services.iter().map(|s| s.slots() as u64).sum();
    let bins = simulation.duration.0.div_ceil(simulation.bin.0);
    if slots * bins > MAX_NODE_ROWS {
        return Err(ctx.err(
            "simulation.bin",
            format!(
                "{bins} bins x {slots} nodes would make more than {MAX_NODE_ROWS} node rows; use a wider bin or a shorter duration"
            ),
        ));
    }

    let slo = match &raw.slo {
        None => Slo::default(),
        Some(r) => {
            let d = Slo::default();
            Slo {
                goodput: fraction(ctx, "slo.goodput", r.goodput, d.goodput)?,
                latency_p99: r.latency_p99.map(|x| x.0),
                window: positive_duration(ctx, "slo.window", r.window, d.window)?,
                hold: r.hold.map_or(d.hold, |x| x.0),
                rto_objective: r.rto_objective.map(|x| x.0),
                rpo_objective: r.rpo_objective.map(|x| x.0),
            }
        }
    };

    let disaster_recovery = match &raw.disaster_recovery {
        None => None,
        Some(d) => Some(validate_dr(ctx, d, &balancers, &services)?),
    };

    // Weights name nodes from the first: no more than the service can have.
    for b in &balancers {
        let slots = services[b.service].slots() as usize;
        if b.weights.len() > slots {
            let at = format!("balancers.{}.weights", b.name);
            let msg = format!("{} weights for a service of at most {slots} nodes", b.weights.len());
            return Err(ctx.err(&at, msg));
        }
    }

    let known = initial::Known {
        services: &services,
        service_names: raw.services.keys().collect(),
        database_names: raw.databases.keys().collect(),
        traffic: &traffic,
        traffic_service: traffic
            .iter()
            .map(|t| match t.target {
                Target::Service(s) => s,
                Target::Balancer(b) => balancers[b].service,
            })
            .collect(),
    };
    let initial = initial::validate_initial(ctx, raw.initial.as_ref(), &known)?;

    let scenario = Scenario {
        initial,
        name,
        description: raw.description.clone(),
        simulation,
        traffic,
        classes,
        balancers,
        services,
        faults,
        slo,
        disaster_recovery,
        // Set by the caller, who has the file's bytes.
        origin: Default::default(),
    };
    check_partitions_cut(ctx, &scenario)?;
    Ok(scenario)
}

/// A partition must cut some link of the scenario (requests or responses),
/// or it is a mistake: a source and a service it never sends to, say.
fn check_partitions_cut(ctx: &Ctx, scenario: &Scenario) -> Result<(), ScenarioError> {
    use crate::model::partition::{PartitionDirection, Topology, cuts, links};
    let links = links(scenario);
    let t = Topology { services: &scenario.services, balancers: &scenario.balancers };
    for (i, fault) in scenario.faults.iter().enumerate() {
        let FaultKind::Partition { from, to, .. } = &fault.kind else { continue };
        let cut = links.iter().any(|l| cuts(from, to, PartitionDirection::Both, l, true, t));
        if !cut {
            return Err(ctx.err(
                &format!("faults[{i}].to"),
                format!(
                    "no request goes between {} and {}, so the partition would cut nothing \
                     (it cuts clients' requests to the balancer or service they target, calls \
                     between services, and balancers' health checks)",
                    from.describe(scenario),
                    to.describe(scenario)
                ),
            ));
        }
    }
    Ok(())
}

/// Resolves one side of a partition: `region:NAME`, a name with a kind
/// prefix (`traffic:`, `balancer:`, `service:`, `database:`), or a bare name
/// that names exactly one traffic source, balancer, service or database.
fn partition_side(
    ctx: &Ctx,
    path: &str,
    name: &str,
    traffic: &[TrafficSource],
    balancers: &[Balancer],
    services: &[Service],
) -> Result<PartitionSide, ScenarioError> {
    let find_traffic = |n: &str| traffic.iter().position(|t| t.name == n).map(PartitionSide::Traffic);
    let find_balancer = |n: &str| balancers.iter().position(|b| b.name == n).map(PartitionSide::Balancer);
    let find_service = |n: &str| services.iter().position(|s| s.name == n).map(PartitionSide::Service);
    if let Some((prefix, rest)) = name.split_once(':') {
        let (found, what) = match prefix {
            "region" => {
                if services.iter().any(|s| s.region == rest) {
                    return Ok(PartitionSide::Region(rest.to_string()));
                }
                let mut regions: Vec<&String> = services.iter().map(|s| &s.region).collect();
                regions.sort();
                regions.dedup();
                return Err(
                    ctx.err(path, format!("no service or database in region \"{rest}\" (regions: {})", list(regions)))
                );
            }
            "traffic" => (find_traffic(rest), "traffic source"),
            "balancer" => (find_balancer(rest), "balancer"),
            "service" | "database" => (find_service(rest), "service or database"),
            _ => {
                return Err(ctx.err(
                    path,
                    format!(
                        "unknown prefix \"{prefix}:\"; write region:NAME, traffic:NAME, balancer:NAME, \
                         service:NAME or database:NAME (or a bare name)"
                    ),
                ));
            }
        };
        return found.ok_or_else(|| ctx.err(path, format!("no {what} named \"{rest}\"")));
    }
    let found: Vec<(PartitionSide, &str)> = [
        (find_traffic(name), "traffic source"),
        (find_balancer(name), "balancer"),
        (find_service(name), "service or database"),
    ]
    .into_iter()
    .filter_map(|(side, what)| side.map(|s| (s, what)))
    .collect();
    match found.len() {
        1 => Ok(found.into_iter().next().expect("one").0),
        0 => {
            let known: Vec<&String> = traffic
                .iter()
                .map(|t| &t.name)
                .chain(balancers.iter().map(|b| &b.name))
                .chain(services.iter().map(|s| &s.name))
                .collect();
            Err(ctx.err(
                path,
                format!(
                    "no traffic source, balancer, service or database named \"{name}\" \
                     (defined: {}; a region is region:NAME)",
                    list(known)
                ),
            ))
        }
        _ => {
            let kinds: Vec<&str> = found.iter().map(|(_, what)| *what).collect();
            Err(ctx.err(
                path,
                format!(
                    "\"{name}\" names a {}; say which with a prefix, e.g. traffic:{name} or service:{name}",
                    kinds.join(" and a ")
                ),
            ))
        }
    }
}

/// The first of a fault's optional keys that is given but not among
/// `takes`: region outages and partitions name no service or nodes, and
/// take none of the other kinds' parameters.
fn foreign_fault_key(raw: &raw::RawFault, takes: &[&str]) -> Option<&'static str> {
    [
        ("service", raw.service.is_some()),
        ("nodes", raw.nodes.is_some()),
        ("count", raw.count.is_some()),
        ("factor", raw.factor.is_some()),
        ("fraction", raw.fraction.is_some()),
        ("workers", raw.workers.is_some()),
        ("delay", raw.delay.is_some()),
        ("mtbf", raw.mtbf.is_some()),
        ("mttr", raw.mttr.is_some()),
        ("interval", raw.interval.is_some()),
        ("region", raw.region.is_some()),
        ("from", raw.from.is_some()),
        ("to", raw.to.is_some()),
        ("mode", raw.mode.is_some()),
        ("direction", raw.direction.is_some()),
    ]
    .into_iter()
    .find(|&(key, given)| given && !takes.contains(&key))
    .map(|(key, _)| key)
}

/// A `partition` fault: two sides, a mode (default black-hole: packets
/// are dropped, the quiet and worse failure) and a direction (default
/// both).
fn validate_partition(
    ctx: &Ctx,
    path: &str,
    raw: &raw::RawFault,
    traffic: &[TrafficSource],
    balancers: &[Balancer],
    services: &[Service],
    simulation: &Simulation,
) -> Result<Fault, ScenarioError> {
    if let Some(key) = foreign_fault_key(raw, &["from", "to", "mode", "direction"]) {
        return Err(ctx.err(
            &format!("{path}.{key}"),
            format!("`{key}` does not apply to a partition (it takes: from, to, mode, direction)"),
        ));
    }
    let (Some(from_name), Some(to_name)) = (&raw.from, &raw.to) else {
        let missing = if raw.from.is_none() { "from" } else { "to" };
        return Err(ctx.err(
            path,
            format!(
                "missing `{missing}`: a partition needs both sides, e.g. from = \"gateway\", to = \"payments\" \
                 (a traffic source, balancer, service, database or region:NAME)"
            ),
        ));
    };
    let from = partition_side(ctx, &format!("{path}.from"), from_name, traffic, balancers, services)?;
    let to = partition_side(ctx, &format!("{path}.to"), to_name, traffic, balancers, services)?;
    if from == to {
        return Err(ctx.err(&format!("{path}.to"), "is the same as `from`; a partition separates two different sides"));
    }
    let mode = match raw.mode.unwrap_or(raw::RawPartitionMode::BlackHole) {
        raw::RawPartitionMode::BlackHole => PartitionMode::BlackHole,
        raw::RawPartitionMode::Reset => PartitionMode::Reset,
    };
    let direction = match raw.direction.unwrap_or(raw::RawPartitionDirection::Both) {
        raw::RawPartitionDirection::Both => PartitionDirection::Both,
        raw::RawPartitionDirection::Forward => PartitionDirection::Forward,
        raw::RawPartitionDirection::Backward => PartitionDirection::Backward,
    };
    let (at, duration) =
        fault_timing(ctx, path, raw, simulation, "when the network splits, e.g. at = \"60s\"", "partition")?;
    // The service whose rows in events.csv carry the partition: the `to` side's.
    let service_of = |side: &PartitionSide| match side {
        PartitionSide::Service(s) => *s,
        PartitionSide::Balancer(b) => balancers[*b].service,
        PartitionSide::Traffic(t) => match traffic[*t].target {
            Target::Balancer(b) => balancers[b].service,
            Target::Service(s) => s,
        },
        PartitionSide::Region(r) => services.iter().position(|s| &s.region == r).expect("a region in use"),
    };
    Ok(Fault {
        kind: FaultKind::Partition { from, to: to.clone(), mode, direction },
        service: service_of(&to),
        nodes: NodeSelection::All,
        at: SimTime(at.0.0),
        duration,
    })
}

/// Request classes are bits of a `u64`.
const MAX_CLASSES: usize = 64;

/// A source's class weights as probabilities, by class index.
fn validate_class_mix(
    ctx: &Ctx,
    path: &str,
    weights: &BTreeMap<String, f64>,
    classes: &[String],
) -> Result<Vec<(u16, f64)>, ScenarioError> {
    if weights.is_empty() {
        return Err(ctx.err(path, "is empty; give each class a weight, e.g. { search = 6, payment = 1 }"));
    }
    let mut total = 0.0;
    for (name, &w) in weights {
        check_name(ctx, &format!("{path}.{name}"), name)?;
        if !(w.is_finite() && w > 0.0) {
            return Err(ctx.err(&format!("{path}.{name}"), format!("a class weight must be > 0, got {w}")));
        }
        total += w;
    }
    Ok(weights
        .iter()
        .map(|(name, &w)| {
            let index = classes.iter().position(|c| c == name).expect("every class name was collected");
            (index as u16, w / total)
        })
        .collect())
}

/// What traffic and calls may target: balancers and services by name.
struct Targets<'a> {
    services: &'a BTreeMap<&'a str, usize>,
    balancers: &'a BTreeMap<&'a str, usize>,
    databases: &'a BTreeMap<String, raw::RawDatabase>,
    balancer_names: &'a BTreeMap<String, raw::RawBalancer>,
    service_names: &'a BTreeMap<String, raw::RawService>,
}

impl Targets<'_> {
    /// A balancer, else a service, named `name` (`path` is its key).
    fn resolve(&self, ctx: &Ctx, path: &str, name: &str) -> Result<Target, ScenarioError> {
        if let Some(&b) = self.balancers.get(name) {
            Ok(Target::Balancer(b))
        } else if let Some(&s) = self.services.get(name) {
            Ok(Target::Service(s))
        } else {
            let known: Vec<&String> = self.balancer_names.keys().chain(self.service_names.keys()).collect();
            Err(ctx.err(path, format!("no balancer or service named \"{name}\" (defined: {})", list(known))))
        }
    }
}

/// A duration that may be `"none"` (`None`) but not zero.
fn optional_duration(
    ctx: &Ctx,
    path: &str,
    value: Option<raw::Timeout>,
    what: &str,
) -> Result<Option<SimDuration>, ScenarioError> {
    match value {
        Some(raw::Timeout(Some(d))) if d.is_zero() => {
            Err(ctx.err(path, format!("must be > 0 (use \"none\" for no {what})")))
        }
        Some(raw::Timeout(t)) => Ok(t),
        None => Ok(None),
    }
}

fn validate_calls(
    ctx: &Ctx,
    path: &str,
    steps: &[raw::RawCall],
    targets: &Targets,
    classes: &[String],
    balancers: &[Balancer],
) -> Result<Vec<CallStep>, ScenarioError> {
    let mut out = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let path = format!("{path}[{i}]");
        let class_bits = match &step.classes {
            None => None,
            Some(names) => {
                let mut bits = 0u64;
                for (j, name) in names.iter().enumerate() {
                    let Some(c) = classes.iter().position(|c| c == name) else {
                        let known = if classes.is_empty() {
                            "no source has `classes` or a trace with a `class` column".to_string()
                        } else {
                            format!("defined: {}", list(classes))
                        };
                        return Err(
                            ctx.err(&format!("{path}.classes[{j}]"), format!("no request class \"{name}\" ({known})"))
                        );
                    };
                    bits |= 1 << c;
                }
                Some(bits)
            }
        };
        let (calls, wait_for) = match (&step.target, &step.parallel) {
            (Some(_), Some(_)) => {
                return Err(ctx.err(&format!("{path}.parallel"), "give either `target` or `parallel`, not both"));
            }
            (None, None) => {
                return Err(ctx.err(
                    &path,
                    "missing `target` (the service or balancer called) or `parallel` (a list of calls made at once)",
                ));
            }
            (Some(_), None) => {
                if step.wait_for.is_some() {
                    return Err(
                        ctx.err(&format!("{path}.wait_for"), "only a `parallel` step waits for some of its calls")
                    );
                }
                (vec![validate_call(ctx, &path, step, targets, balancers)?], 1)
            }
            (None, Some(parallel)) => {
                if parallel.is_empty() {
                    return Err(ctx.err(&format!("{path}.parallel"), "is empty; list the calls made at once"));
                }
                for key in [
                    ("timeout", step.timeout.is_some()),
                    ("retry", step.retry.is_some()),
                    ("bulkhead", step.bulkhead.is_some()),
                    ("write_ratio", step.write_ratio.is_some()),
                    ("circuit_breaker", step.circuit_breaker.is_some()),
                ] {
                    if key.1 {
                        return Err(ctx.err(
                            &format!("{path}.{}", key.0),
                            format!("`{}` belongs to each call inside `parallel`", key.0),
                        ));
                    }
                }
                let mut calls = Vec::with_capacity(parallel.len());
                for (j, call) in parallel.iter().enumerate() {
                    let cpath = format!("{path}.parallel[{j}]");
                    if call.parallel.is_some() || call.wait_for.is_some() || call.classes.is_some() {
                        return Err(ctx.err(
                            &cpath,
                            "a call inside `parallel` takes only target, timeout, retry, bulkhead and circuit_breaker",
                        ));
                    }
                    calls.push(validate_call(ctx, &cpath, call, targets, balancers)?);
                }
                let n = calls.len() as i64;
                let wait_for = match step.wait_for {
                    None => n,
                    Some(k) if (1..=n).contains(&k) => k,
                    Some(k) => {
                        return Err(ctx.err(
                            &format!("{path}.wait_for"),
                            format!("must be from 1 to the {n} parallel calls, got {k}"),
                        ));
                    }
                };
                (calls, wait_for as u32)
            }
        };
        out.push(CallStep { classes: class_bits, calls, wait_for });
    }
    Ok(out)
}

fn validate_call(
    ctx: &Ctx,
    path: &str,
    raw: &raw::RawCall,
    targets: &Targets,
    balancers: &[Balancer],
) -> Result<Call, ScenarioError> {
    let Some(name) = &raw.target else {
        return Err(ctx.err(path, "missing `target`: the service or balancer called"));
    };
    // Databases follow the services in the scenario's list.
    let database = targets.databases.keys().position(|d| d == name).map(|d| targets.services.len() + d);
    let (target, service) = match database {
        Some(d) => (Target::Service(d), d),
        None => match targets.resolve(ctx, &format!("{path}.target"), name)? {
            Target::Balancer(b) => (Target::Balancer(b), balancers[b].service),
            Target::Service(s) => (Target::Service(s), s),
        },
    };
    let write_ratio = match (database, raw.write_ratio) {
        (None, Some(_)) => {
            return Err(ctx.err(&format!("{path}.write_ratio"), "only a call to a database has a `write_ratio`"));
        }
        (None, None) => 0.0,
        (Some(_), w) => fraction(ctx, &format!("{path}.write_ratio"), w, 0.1)?,
    };
    let timeout = optional_duration(ctx, &format!("{path}.timeout"), raw.timeout, "timeout")?;
    let retry = match &raw.retry {
        None => None,
        Some(r) => Some(validate_retry(ctx, &format!("{path}.retry"), r)?),
    };
    let bulkhead = match raw.bulkhead {
        None => None,
        Some(_) => Some(count_at_least(ctx, &format!("{path}.bulkhead"), raw.bulkhead, 1, 1)?),
    };
    let circuit_breaker = match &raw.circuit_breaker {
        None => None,
        Some(b) => Some(validate_breaker(ctx, &format!("{path}.circuit_breaker"), b)?),
    };
    Ok(Call { target, service, timeout, retry, bulkhead, write_ratio, circuit_breaker })
}

/// Calls must not loop back: a request would call itself without end.
fn check_call_cycles(ctx: &Ctx, services: &[Service]) -> Result<(), ScenarioError> {
    // Depth-first search with colours: 0 unvisited, 1 on the stack, 2 done.
    fn visit(
        ctx: &Ctx,
        services: &[Service],
        s: usize,
        colour: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Result<(), ScenarioError> {
        colour[s] = 1;
        stack.push(s);
        for (i, step) in services[s].calls.iter().enumerate() {
            for (j, call) in step.calls.iter().enumerate() {
                let t = call.service;
                if colour[t] == 1 {
                    let start = stack.iter().position(|&x| x == t).expect("on the stack");
                    let names: Vec<&str> =
                        stack[start..].iter().chain([&t]).map(|&x| services[x].name.as_str()).collect();
                    let key = if step.calls.len() == 1 {
                        format!("services.{}.calls[{i}].target", services[s].name)
                    } else {
                        format!("services.{}.calls[{i}].parallel[{j}].target", services[s].name)
                    };
                    return Err(ctx.err(
                        &key,
                        format!("the calls make a cycle ({}); a request would call itself forever", names.join(" -> ")),
                    ));
                }
                if colour[t] == 0 {
                    visit(ctx, services, t, colour, stack)?;
                }
            }
        }
        stack.pop();
        colour[s] = 2;
        Ok(())
    }
    let mut colour = vec![0u8; services.len()];
    for s in 0..services.len() {
        if colour[s] == 0 {
            visit(ctx, services, s, &mut colour, &mut Vec::new())?;
        }
    }
    Ok(())
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

/// At most this many users in a closed-loop source: each thinking user is a
/// pending event, so the population bounds the simulation's memory.
const MAX_USERS: i64 = 1_000_000;

/// A closed-loop source's `users` or `population` and its `think_time`;
/// `None` for an open-loop source (neither key, nor `think_time`).
fn validate_closed_loop(ctx: &Ctx, path: &str, rt: &raw::RawTraffic) -> Result<Option<ClosedLoop>, ScenarioError> {
    let users_of = |key: &str, v: i64, min: i64| -> Result<u32, ScenarioError> {
        if v < min {
            return Err(ctx.err(key, format!("must be an integer >= {min}, got {v}")));
        }
        if v > MAX_USERS {
            return Err(ctx.err(key, format!("{v} users; at most {MAX_USERS} are supported")));
        }
        Ok(v as u32)
    };
    let population = match (rt.users, &rt.population) {
        (None, None) => {
            if rt.think_time.is_some() {
                return Err(ctx.err(
                    &format!("{path}.think_time"),
                    "is for a closed loop; give `users` (or `population`) with it",
                ));
            }
            return Ok(None);
        }
        (Some(_), Some(_)) => {
            return Err(ctx.err(&format!("{path}.population"), "give either `users` or `population`, not both"));
        }
        (Some(n), None) => {
            vec![PopulationStep { from: SimTime::ZERO, users: users_of(&format!("{path}.users"), n, 1)? }]
        }
        (None, Some(steps)) => {
            if steps.is_empty() {
                return Err(ctx
                    .err(&format!("{path}.population"), "is empty; list at least one { from = \"0s\", users = ... }"));
            }
            let mut out: Vec<PopulationStep> = Vec::with_capacity(steps.len());
            for (i, step) in steps.iter().enumerate() {
                let from = SimTime(step.from.0.0);
                if i == 0 && from != SimTime::ZERO {
                    return Err(ctx.err(&format!("{path}.population[0].from"), "the first step must start at \"0s\""));
                }
                if let Some(prev) = out.last().map(|s| s.from)
                    && from <= prev
                {
                    return Err(ctx.err(
                        &format!("{path}.population[{i}].from"),
                        "steps must be in strictly increasing order of `from`",
                    ));
                }
                out.push(PopulationStep {
                    from,
                    users: users_of(&format!("{path}.population[{i}].users"), step.users, 0)?,
                });
            }
            if out.iter().all(|s| s.users == 0) {
                return Err(
                    ctx.err(&format!("{path}.population"), "every step has 0 users; no request would ever be sent")
                );
            }
            out
        }
    };
    let key = if rt.users.is_some() { "users" } else { "population" };
    let open_loop_keys = [
        ("rate", rt.rate.is_some()),
        ("schedule", rt.schedule.is_some()),
        ("trace", rt.trace.is_some()),
        ("bursts", rt.bursts.is_some()),
    ];
    if let Some((open, _)) = open_loop_keys.iter().find(|(_, given)| *given) {
        return Err(ctx.err(
            &format!("{path}.{key}"),
            format!("a closed loop (`{key}`) takes no `{open}`: its users send when they are done thinking"),
        ));
    }
    let Some(think) = &rt.think_time else {
        return Err(ctx.err(
            path,
            format!(
                "missing `think_time` for the closed loop (`{key}`), e.g. think_time = {{ distribution = \"exponential\", mean = \"1s\" }}"
            ),
        ));
    };
    let think_path = format!("{path}.think_time");
    let think_time = validate_delay(ctx, &think_path, think, false)?;
    // A user who never thinks would send again at the same instant when a
    // request fails at once (no node in rotation): time would stand still.
    if think_time.mean_secs().is_nan() || think_time.mean_secs() <= 0.0 {
        return Err(ctx.err(&think_path, "must have a mean > 0 (users who never think would not let time move)"));
    }
    Ok(Some(ClosedLoop { population, think_time }))
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
        let ramp = step.ramp.unwrap_or(false);
        if ramp && i + 1 == steps.len() {
            return Err(ctx.err(
                &format!("{path}.schedule[{i}].ramp"),
                "the last step cannot ramp: there is no next step whose rate to ramp to",
            ));
        }
        out.push(RateStep { from, per_sec: step.rate.0, ramp });
    }
    if out.iter().all(|s| s.per_sec == 0.0) {
        return Err(ctx.err(&format!("{path}.schedule"), "every step has rate 0; no request would ever arrive"));
    }
    Ok(RateSchedule { steps: out })
}

/// Most burst occurrences a source may expand to (each is one event).
const MAX_BURST_OCCURRENCES: u64 = 1_000_000;

/// Bursts, every recurrence expanded up to `until` (inclusive) or the end
/// of the run, in time order.
fn validate_bursts(
    ctx: &Ctx,
    path: &str,
    bursts: &[raw::RawBurst],
    duration: SimDuration,
) -> Result<Vec<Burst>, ScenarioError> {
    let mut out = Vec::new();
    for (i, b) in bursts.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let Some(at) = b.at else {
            return Err(ctx.err(&p, "missing `at`: when the burst's requests arrive, e.g. at = \"60s\""));
        };
        let at = SimTime(at.0.0);
        let requests = match b.requests {
            None => return Err(ctx.err(&p, "missing `requests`: how many arrive at once, e.g. requests = 500")),
            Some(n) if !(1..=10_000_000).contains(&n) => {
                return Err(ctx.err(&format!("{p}.requests"), format!("must be between 1 and 10000000, got {n}")));
            }
            Some(n) => n as u32,
        };
        let every = positive_duration(ctx, &format!("{p}.every"), b.every, SimDuration::ZERO)?;
        let until = match (b.until, every.is_zero()) {
            (Some(_), true) => {
                return Err(ctx.err(&format!("{p}.until"), "applies to a recurring burst; add `every`"));
            }
            (Some(u), false) if SimTime(u.0.0) < at => {
                return Err(ctx.err(&format!("{p}.until"), format!("{} is before the burst's `at` ({at})", u.0)));
            }
            (Some(u), false) => SimTime(u.0.0),
            // Recurs until the run ends.
            (None, _) => SimTime(duration.0.saturating_sub(1)),
        };
        if every.is_zero() {
            out.push(Burst { at, requests });
            continue;
        }
        let occurrences = until.0.saturating_sub(at.0) / every.0 + 1;
        if occurrences > MAX_BURST_OCCURRENCES {
            return Err(ctx.err(
                &format!("{p}.every"),
                format!("{occurrences} occurrences; at most {MAX_BURST_OCCURRENCES}, use a longer `every`"),
            ));
        }
        out.extend((0..occurrences).map(|k| Burst { at: SimTime(at.0 + k * every.0), requests }));
    }
    // Stable: bursts at the same instant keep the file's order.
    out.sort_by_key(|b| b.at);
    Ok(out)
}

/// Request classes, for checking a trace's `class` column.
struct Known<'a> {
    /// The scenario's request classes (`Scenario::classes`).
    classes: &'a [String],
    /// The names sources' `classes` tables declare.
    declared: &'a std::collections::BTreeSet<String>,
}

/// What a source replays from its trace file.
struct Replayed {
    /// The rate (zero for exact timestamps; with a `class` column, the sum
    /// of the classes' rates).
    rate: RateSchedule,
    /// Exact arrival instants (timestamps mode).
    times: Vec<SimTime>,
    info: TraceInfo,
    /// Each class's own rate (a `class` column), in class order.
    class_rates: Vec<(u16, RateSchedule)>,
}

/// An error about the trace file `file` of the source at `path`, at its line.
fn trace_error(ctx: &Ctx, path: &str, file: &str, e: super::trace::TraceError) -> ScenarioError {
    let at = e.line.map_or(String::new(), |l| format!(" line {l}:"));
    ctx.err(&format!("{path}.trace"), format!("trace {}:{at} {}", ctx.dir.join(file).display(), e.message))
}

/// Reads and parses the rates trace `file` of the source at `path`.
fn read_rates_trace(ctx: &Ctx, path: &str, file: &str) -> Result<super::trace::RatesTrace, ScenarioError> {
    let text = super::trace::read(&ctx.dir.join(file)).map_err(|e| trace_error(ctx, path, file, e))?;
    super::trace::parse_rates(&text).map_err(|e| trace_error(ctx, path, file, e))
}

/// A source's trace file: the rate schedule it replays (zero for exact
/// timestamps), the replayed arrival instants, per-class rates, and what
/// to log. `parsed` is the rates trace read beforehand (none in timestamps mode).
fn validate_trace(
    ctx: &Ctx,
    path: &str,
    file: &str,
    rt: &raw::RawTraffic,
    parsed: Option<&Result<super::trace::RatesTrace, ScenarioError>>,
    known: &Known,
    duration: SimDuration,
) -> Result<Replayed, ScenarioError> {
    let fail = |e: super::trace::TraceError| trace_error(ctx, path, file, e);
    let timestamps = rt.trace_mode == Some(raw::RawTraceMode::Timestamps);
    if timestamps {
        let text = super::trace::read(&ctx.dir.join(file)).map_err(fail)?;
        if rt.trace_shape.is_some() {
            return Err(ctx.err(&format!("{path}.trace_shape"), "applies to a rates trace, not to timestamps"));
        }
        let times = super::trace::parse_timestamps(&text).map_err(fail)?;
        let (first, last, rows) = (times[0], times[times.len() - 1], times.len());
        let info = TraceInfo { file: file.to_string(), timestamps, first, last, rows, classes: 0 };
        return Ok(Replayed { rate: RateSchedule::constant(0.0), times, info, class_rates: Vec::new() });
    }
    let trace = match parsed.expect("every rates trace was read") {
        Ok(trace) => trace,
        Err(e) => return Err(e.clone()),
    };
    let linear = rt.trace_shape == Some(raw::RawTraceShape::Linear);
    let (first, last) = trace.span();
    let mut info = TraceInfo { file: file.to_string(), timestamps, first, last, rows: trace.row_count(), classes: 0 };
    let by_class = match trace {
        super::trace::RatesTrace::Total(rows) => {
            let rate = trace_schedule(rows, linear);
            return Ok(Replayed { rate, times: Vec::new(), info, class_rates: Vec::new() });
        }
        super::trace::RatesTrace::ByClass(by_class) => by_class,
    };
    if rt.classes.is_some() {
        return Err(ctx.err(
            &format!("{path}.classes"),
            "the trace's `class` column gives this source's classes and their rates; drop `classes` (or the column)",
        ));
    }
    // Classes in file order: the first unknown one is the earliest row's.
    if !known.declared.is_empty()
        && let Some(c) = by_class.iter().find(|c| !known.declared.contains(&c.class))
    {
        return Err(fail(super::trace::TraceError {
            line: Some(c.rows[0].line),
            message: format!(
                "class \"{}\" is not one of the request classes the sources' `classes` declare ({})",
                c.class,
                list(known.declared)
            ),
        }));
    }
    let mut class_rates: Vec<(u16, RateSchedule)> = by_class
        .iter()
        .map(|c| {
            let index = known.classes.iter().position(|k| *k == c.class).expect("every trace class was collected");
            (index as u16, trace_schedule(&c.rows, linear))
        })
        .collect();
    class_rates.sort_by_key(|(class, _)| *class);
    info.classes = class_rates.len();
    let schedules: Vec<&RateSchedule> = class_rates.iter().map(|(_, s)| s).collect();
    let rate = summed_schedule(&schedules);
    debug_assert!(rate.integral(SimTime::ZERO, SimTime(duration.0)).is_finite());
    Ok(Replayed { rate, times: Vec::new(), info, class_rates })
}

/// The rate a series of trace rows gives: 0 before the first row, each
/// row's rate until the next (or, `linear`, changing linearly to the
/// next's), the last row's until the run ends.
fn trace_schedule(rows: &[super::trace::TraceRow], linear: bool) -> RateSchedule {
    let mut steps = Vec::with_capacity(rows.len() + 1);
    // Before the first row nothing was recorded: no traffic.
    if rows[0].from > SimTime::ZERO {
        steps.push(RateStep { from: SimTime::ZERO, per_sec: 0.0, ramp: false });
    }
    for (i, row) in rows.iter().enumerate() {
        // The last row's rate holds until the run ends.
        steps.push(RateStep { from: row.from, per_sec: row.per_sec, ramp: linear && i + 1 < rows.len() });
    }
    RateSchedule { steps }
}

/// The sum of several rates, each piecewise constant or linear: a step at
/// every instant where one of them has a step, ramping where one of them
/// ramps (a sum of linear pieces is linear). A ramp ends at the next step's
/// rate, so where a rate jumps at the end of a ramp (a class whose rows
/// start there) the sum's ramp ends 1 ns early and holds its value for that
/// nanosecond: exact to the simulator's clock.
fn summed_schedule(rates: &[&RateSchedule]) -> RateSchedule {
    let mut starts: Vec<SimTime> = rates.iter().flat_map(|r| r.steps.iter().map(|s| s.from)).collect();
    starts.sort_unstable();
    starts.dedup();
    let total = |t: SimTime| rates.iter().map(|r| r.at(t)).sum::<f64>();
    let ramps_at =
        |t: SimTime| rates.iter().any(|r| r.steps[r.steps.partition_point(|s| s.from <= t).saturating_sub(1)].ramp);
    let jumps_at = |t: SimTime| {
        rates.iter().any(|r| {
            let i = r.steps.partition_point(|s| s.from < t);
            i > 0
                && r.steps
                    .get(i)
                    .is_some_and(|s| s.from == t && !r.steps[i - 1].ramp && r.steps[i - 1].per_sec != s.per_sec)
        })
    };
    let mut steps = Vec::with_capacity(starts.len());
    for (k, &from) in starts.iter().enumerate() {
        let ramp = ramps_at(from);
        steps.push(RateStep { from, per_sec: total(from), ramp });
        if let Some(&next) = starts.get(k + 1)
            && ramp
            && jumps_at(next)
        {
            let end = SimTime(next.0 - 1);
            if end > from {
                steps.push(RateStep { from: end, per_sec: total(end), ramp: false });
            } else {
                steps.last_mut().expect("just pushed").ramp = false;
            }
        }
    }
    RateSchedule { steps }
}

/// Each class's share of a class trace's traffic over the run (for
/// estimates, and for requests that arrive while every class's rate is 0,
/// such as a burst before the trace's first row). A trace whose traffic
/// starts after the run ends shares as it would over its rows, else as its
/// last rows' rates (which hold from then on).
fn class_shares(class_rates: &[(u16, RateSchedule)], total: &RateSchedule, duration: SimDuration) -> Vec<(u16, f64)> {
    let last = total.steps.last().expect("a step").from;
    let horizon = SimTime(duration.0.max(last.0));
    // Rates are finite and >= 0: a sum that is not positive is 0.
    let mut weights: Vec<f64> = class_rates.iter().map(|(_, r)| r.integral(SimTime::ZERO, horizon)).collect();
    if weights.iter().sum::<f64>() <= 0.0 {
        weights = class_rates.iter().map(|(_, r)| r.at(last)).collect();
    }
    if weights.iter().sum::<f64>() <= 0.0 {
        weights = vec![1.0; class_rates.len()];
    }
    let sum: f64 = weights.iter().sum();
    class_rates.iter().zip(weights).map(|((class, _), w)| (*class, w / sum)).collect()
}

/// A service's region: `region = "NAME"`, "main" by default.
fn region_of(ctx: &Ctx, path: &str, region: &Option<String>) -> Result<String, ScenarioError> {
    match region {
        None => Ok("main".to_string()),
        Some(r) => {
            check_name(ctx, &format!("{path}.region"), r)?;
            Ok(r.clone())
        }
    }
}

/// Most (bin, node) rows a run may produce.
const MAX_NODE_ROWS: u64 = 20_000_000;

/// Largest node and worker counts: far beyond any real fleet, small enough
/// that a typo cannot exhaust memory.
const MAX_COUNT: i64 = 100_000;

fn positive_u32(ctx: &Ctx, path: &str, value: Option<i64>, default: u32, what: &str) -> Result<u32, ScenarioError> {
    let Some(v) = value else { return Ok(default) };
    if v < 1 {
        return Err(ctx.err(path, format!("must be >= 1 {what}, got {v}")));
    }
    if v > MAX_COUNT {
        return Err(ctx.err(path, format!("must be at most {MAX_COUNT}, got {v}")));
    }
    Ok(v as u32)
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
    // A serverless pool sizes itself: one "node" with a worker per possible instance, no queue.
    let serverless = match &raw.serverless {
        None => None,
        Some(spec) => {
            let sized = [
                ("nodes", raw.nodes.is_some()),
                ("workers", raw.workers.is_some()),
                ("queue_capacity", raw.queue_capacity.is_some()),
                ("autoscaling", raw.autoscaling.is_some()),
            ];
            if let Some((key, _)) = sized.iter().find(|(_, set)| *set) {
                return Err(ctx.err(
                    &format!("{path}.{key}"),
                    format!("a serverless service sizes itself (serverless.concurrency); remove `{key}`"),
                ));
            }
            Some(validate_serverless(ctx, &format!("{path}.serverless"), spec)?)
        }
    };
    let (nodes, workers, queue_capacity) = match &serverless {
        Some(s) => (1, s.concurrency, Some(0)),
        None => (nodes, workers, queue_capacity),
    };
    let Some(dist) = &raw.service_time else {
        return Err(ctx.err(
            &path,
            "missing `service_time`, e.g. service_time = { distribution = \"exponential\", mean = \"20ms\" }",
        ));
    };
    let service_time = validate_distribution(ctx, &format!("{path}.service_time"), dist)?;
    let overload_crash = match &raw.overload_crash {
        None => None,
        Some(o) => {
            let p = format!("{path}.overload_crash");
            // A queue-only rule must stay queue-only: the utilization
            // default applies only when no condition is given.
            let utilization = if o.queue_fill.is_some() { o.utilization } else { Some(o.utilization.unwrap_or(0.95)) };
            if let Some(utilization) = utilization
                && !(utilization > 0.0 && utilization <= 1.0)
            {
                return Err(ctx.err(
                    &format!("{p}.utilization"),
                    format!("must be a fraction above 0 and at most 1, got {utilization}"),
                ));
            }
            let window = period(ctx, &format!("{p}.window"), o.window, SimDuration::from_secs(1))?;
            let sustained = positive_duration(ctx, &format!("{p}.sustained"), o.sustained, SimDuration::from_secs(30))?;
            if sustained < window {
                return Err(ctx.err(&format!("{p}.sustained"), format!("must be at least one window ({window})")));
            }
            let queue_fill = match o.queue_fill {
                None => None,
                Some(f) if f > 0.0 && f <= 1.0 => {
                    if queue_capacity.is_none_or(|c| c == 0) {
                        return Err(ctx.err(&format!("{p}.queue_fill"), "needs a bounded, non-zero queue_capacity"));
                    }
                    Some(f)
                }
                Some(f) => {
                    return Err(ctx.err(
                        &format!("{p}.queue_fill"),
                        format!("must be a fraction above 0 and at most 1, got {f}"),
                    ));
                }
            };
            Some(OverloadCrashSpec { utilization, queue_fill, window, sustained })
        }
    };
    let restart = validate_restart(ctx, &format!("{path}.restart"), raw.restart.as_ref())?;
    let queue_timeout = match raw.queue_timeout {
        Some(raw::Timeout(Some(d))) if d.is_zero() => {
            return Err(ctx.err(&format!("{path}.queue_timeout"), "must be > 0 (use \"none\" to never shed)"));
        }
        Some(raw::Timeout(t)) => t,
        None => None,
    };
    let queue_order = match raw.queue_order.unwrap_or(raw::RawQueueOrder::Fifo) {
        raw::RawQueueOrder::Fifo | raw::RawQueueOrder::Lifo if raw.lifo_threshold.is_some() => {
            return Err(ctx.err(&format!("{path}.lifo_threshold"), "applies only with queue_order = \"adaptive-lifo\""));
        }
        raw::RawQueueOrder::Fifo => QueueOrder::Fifo,
        raw::RawQueueOrder::Lifo => QueueOrder::Lifo,
        raw::RawQueueOrder::AdaptiveLifo => QueueOrder::AdaptiveLifo {
            threshold: count_at_least(ctx, &format!("{path}.lifo_threshold"), raw.lifo_threshold, workers, 1)?,
        },
    };
    let slowdown = match &raw.slowdown {
        None => None,
        Some(sd) => Some(validate_slowdown(ctx, &format!("{path}.slowdown"), sd)?),
    };
    let memory = match &raw.memory {
        None => None,
        Some(m) => {
            let p = format!("{path}.memory");
            let mb = |key: &str, v: Option<f64>, default: f64| -> Result<f64, ScenarioError> {
                match v {
                    None => Ok(default),
                    Some(x) if x.is_finite() && x >= 0.0 => Ok(x),
                    Some(x) => Err(ctx.err(&format!("{p}.{key}"), format!("must be a number of MB >= 0, got {x}"))),
                }
            };
            let limit_mb = m
                .limit_mb
                .ok_or_else(|| ctx.err(&p, "missing `limit_mb`: the memory at which the node is OOM-killed"))?;
            let limit_mb = mb("limit_mb", Some(limit_mb), 0.0)?;
            let baseline_mb = mb("baseline_mb", m.baseline_mb, 0.0)?;
            if baseline_mb >= limit_mb {
                return Err(ctx.err(&format!("{p}.baseline_mb"), format!("must be below limit_mb ({limit_mb})")));
            }
            Some(MemorySpec {
                limit_mb,
                baseline_mb,
                per_request_mb: mb("per_request_mb", m.per_request_mb, 0.0)?,
                leak_per_request_mb: mb("leak_per_request_mb", m.leak_per_request_mb, 0.0)?,
                leak_mb_per_s: mb("leak_mb_per_s", m.leak_mb_per_s, 0.0)?,
            })
        }
    };
    // Liveness defaults: a Kubernetes liveness probe (period 10 s, timeout
    // 1 s, failure threshold 3).
    let liveness = match &raw.liveness {
        None => None,
        Some(l) => {
            let p = format!("{path}.liveness");
            let interval = period(ctx, &format!("{p}.interval"), l.interval, SimDuration::from_secs(10))?;
            let timeout = positive_duration(ctx, &format!("{p}.timeout"), l.timeout, SimDuration::from_secs(1))?;
            if timeout > interval {
                return Err(ctx.err(&format!("{p}.timeout"), format!("must not exceed the interval ({interval})")));
            }
            Some(LivenessSpec {
                interval,
                timeout,
                failure_threshold: count_at_least(ctx, &format!("{p}.failure_threshold"), l.failure_threshold, 3, 1)?,
                deep: l.kind == Some(raw::RawCheckKind::Deep),
            })
        }
    };
    let predictive_restart = match &raw.predictive_restart {
        None => None,
        Some(pr) => {
            let p = format!("{path}.predictive_restart");
            if memory.is_none() {
                return Err(ctx.err(&p, "needs a `memory` table: the monitor predicts when memory reaches its limit"));
            }
            let interval = period(ctx, &format!("{p}.interval"), pr.interval, SimDuration::from_secs(10))?;
            let window = positive_duration(ctx, &format!("{p}.window"), pr.window, SimDuration::from_secs(120))?;
            if window < SimDuration(interval.0 * 3) {
                return Err(
                    ctx.err(&format!("{p}.window"), format!("must cover at least three samples (3 x {interval})"))
                );
            }
            let horizon = positive_duration(ctx, &format!("{p}.horizon"), pr.horizon, SimDuration::from_secs(300))?;
            Some(PredictiveSpec { interval, window, horizon })
        }
    };
    let config_drift = match &raw.config_drift {
        None => None,
        Some(d) => {
            let per_hour = d.per_hour.unwrap_or(0.0);
            if !(per_hour.is_finite() && per_hour >= 0.0) {
                return Err(
                    ctx.err(&format!("{path}.config_drift.per_hour"), format!("must be a number >= 0, got {per_hour}"))
                );
            }
            Some(DriftSpec { per_hour })
        }
    };
    let autoscaling = match &raw.autoscaling {
        None => None,
        Some(a) => Some(validate_autoscaling(ctx, &format!("{path}.autoscaling"), a, nodes)?),
    };
    Ok(Service {
        name: name.to_string(),
        nodes,
        workers,
        queue_capacity,
        service_time,
        overload_crash,
        restart,
        queue_timeout,
        queue_order,
        slowdown,
        memory,
        liveness,
        predictive_restart,
        autoscaling,
        config_drift,
        uses_database: None,
        database: None,
        region: region_of(ctx, &path, &raw.region)?,
        rate_limit: match &raw.rate_limit {
            None => None,
            Some(r) => Some(validate_rate_limit(ctx, &format!("{path}.rate_limit"), r)?),
        },
        calls: Vec::new(),
        cache: match &raw.cache {
            None => None,
            Some(c) => Some(validate_cache(ctx, &format!("{path}.cache"), c)?),
        },
        serverless,
    })
}

/// Serverless defaults follow AWS Lambda: 1000 concurrent executions per
/// region, scaling by 1000 instances every 10 s, idle instances reclaimed
/// after about 10 minutes.
fn validate_serverless(ctx: &Ctx, path: &str, raw: &raw::RawServerless) -> Result<ServerlessSpec, ScenarioError> {
    let concurrency = count_at_least(ctx, &format!("{path}.concurrency"), raw.concurrency, 1000, 1)?;
    if concurrency > 100_000 {
        return Err(ctx.err(&format!("{path}.concurrency"), format!("must be at most 100000, got {concurrency}")));
    }
    let Some(cold) = &raw.cold_start else {
        return Err(ctx.err(
            path,
            "missing `cold_start`: a new instance's start-up time, e.g. cold_start = \"800ms\" or { distribution = \"lognormal\", mean = \"800ms\", cv = 0.5 }",
        ));
    };
    // A plain duration is a constant start-up time.
    let cold_start = validate_delay(ctx, &format!("{path}.cold_start"), cold, false)?;
    let idle_timeout =
        positive_duration(ctx, &format!("{path}.idle_timeout"), raw.idle_timeout, SimDuration::from_secs(600))?;
    let scaling = match &raw.scaling {
        None => RateLimitSpec { per_sec: 100.0, burst: 1000 },
        Some(s) => validate_rate_limit(ctx, &format!("{path}.scaling"), s)?,
    };
    let provisioned = count_at_least(ctx, &format!("{path}.provisioned"), raw.provisioned, 0, 0)?;
    if provisioned > concurrency {
        return Err(ctx.err(
            &format!("{path}.provisioned"),
            format!("must be at most the concurrency ({concurrency}), got {provisioned}"),
        ));
    }
    Ok(ServerlessSpec { concurrency, cold_start, idle_timeout, scaling, provisioned })
}

/// Largest cache key space: the cache keeps 16 bytes per key and run.
const MAX_CACHE_KEYS: i64 = 10_000_000;

fn validate_cache(ctx: &Ctx, path: &str, raw: &raw::RawCache) -> Result<CacheSpec, ScenarioError> {
    let keys = match raw.keys {
        None => return Err(ctx.err(path, "missing `keys`: how many distinct keys callers ask for, e.g. keys = 100000")),
        Some(k) if !(1..=MAX_CACHE_KEYS).contains(&k) => {
            return Err(ctx.err(&format!("{path}.keys"), format!("must be from 1 to {MAX_CACHE_KEYS}, got {k}")));
        }
        Some(k) => k as u32,
    };
    let Some(ttl) = raw.ttl else {
        return Err(ctx.err(path, "missing `ttl`: how long a fetched entry stays valid, e.g. ttl = \"60s\""));
    };
    let ttl = positive_duration(ctx, &format!("{path}.ttl"), Some(ttl), SimDuration::ZERO)?;
    let zipf = raw.zipf.unwrap_or(0.0);
    if !(zipf.is_finite() && (0.0..=10.0).contains(&zipf)) {
        return Err(ctx.err(&format!("{path}.zipf"), format!("must be from 0 (uniform) to 10, got {zipf}")));
    }
    let capacity = count_at_least(ctx, &format!("{path}.capacity"), raw.capacity, keys, 1)?.min(keys);
    Ok(CacheSpec {
        keys,
        zipf,
        ttl,
        capacity,
        lookup: raw.lookup.map_or(SimDuration::from_millis(1), |d| d.0),
        coalescing: raw.coalescing.unwrap_or(false),
        warm: raw.start != Some(raw::RawCacheStart::Cold),
    })
}

fn validate_rate_limit(ctx: &Ctx, path: &str, r: &raw::RawRateLimit) -> Result<RateLimitSpec, ScenarioError> {
    let Some(rate) = r.rate else {
        return Err(ctx.err(path, "missing `rate`, e.g. rate_limit = { rate = \"100/s\", burst = 20 }".to_string()));
    };
    if rate.0 <= 0.0 {
        return Err(ctx.err(&format!("{path}.rate"), format!("must be > 0, got {}", rate.0)));
    }
    // One second of tokens by default.
    let default_burst = rate.0.ceil().clamp(1.0, u32::MAX as f64) as u32;
    let burst = count_at_least(ctx, &format!("{path}.burst"), r.burst, default_burst, 1)?;
    Ok(RateLimitSpec { per_sec: rate.0, burst })
}

/// Envoy's `healthy_panic_threshold` default: 50%.
pub const DEFAULT_PANIC_THRESHOLD: f64 = 0.5;

fn positive_duration(
    ctx: &Ctx,
    path: &str,
    value: Option<raw::Duration>,
    default: SimDuration,
) -> Result<SimDuration, ScenarioError> {
    match value {
        None => Ok(default),
        Some(d) if d.0.is_zero() => Err(ctx.err(path, "must be > 0")),
        Some(d) => Ok(d.0),
    }
}

/// The shortest period a periodic timer accepts (probe intervals, the
/// autoscaler's evaluation period, the overload window, random crashes'
/// mean times). Each period is an event per node or service for the whole
/// run, so a period of 1 ns makes a 5 s run take hours; real probes and
/// autoscalers run every second or slower (Kubernetes' periodSeconds is at
/// least 1 s), and 100 ms leaves room for fast load-balancer checks.
pub const MIN_PERIOD: SimDuration = SimDuration(100_000_000);

/// A [`positive_duration`] that is also at least [`MIN_PERIOD`].
fn period(
    ctx: &Ctx,
    path: &str,
    value: Option<raw::Duration>,
    default: SimDuration,
) -> Result<SimDuration, ScenarioError> {
    let d = positive_duration(ctx, path, value, default)?;
    if d < MIN_PERIOD {
        return Err(ctx.err(path, format!("must be at least {MIN_PERIOD}, got {d}")));
    }
    Ok(d)
}

/// A delay (a mean, or a distribution table) whose mean is at least
/// [`MIN_PERIOD`]: random crashes fail and repair each node over and over, so
/// their mean times are periods too.
fn mean_period(ctx: &Ctx, path: &str, spec: &raw::DelaySpec) -> Result<Distribution, ScenarioError> {
    let dist = validate_delay(ctx, path, spec, true)?;
    // A lognormal's mean comes back through exp(ln(..)): allow its rounding.
    if dist.mean_secs() < MIN_PERIOD.as_secs_f64() * (1.0 - 1e-9) {
        return Err(ctx.err(
            path,
            format!("the mean must be at least {MIN_PERIOD}, got {}", SimDuration::from_secs_f64(dist.mean_secs())),
        ));
    }
    Ok(dist)
}

fn count_at_least(ctx: &Ctx, path: &str, value: Option<i64>, default: u32, min: i64) -> Result<u32, ScenarioError> {
    match value {
        None => Ok(default),
        Some(v) if v < min => Err(ctx.err(path, format!("must be >= {min}, got {v}"))),
        Some(v) => u32::try_from(v).map_err(|_| ctx.err(path, format!("{v} is too large"))),
    }
}

fn fraction(ctx: &Ctx, path: &str, value: Option<f64>, default: f64) -> Result<f64, ScenarioError> {
    match value {
        None => Ok(default),
        Some(v) if (0.0..=1.0).contains(&v) => Ok(v),
        Some(v) => Err(ctx.err(path, format!("must be a fraction from 0 to 1, got {v}"))),
    }
}

/// Restart defaults: Kubernetes' container restart back-off (10 s doubling
/// to 5 min, reset after 10 min of running) and a 10 s start-up delay.
fn validate_restart(ctx: &Ctx, path: &str, raw: Option<&raw::RawRestart>) -> Result<RestartSpec, ScenarioError> {
    let default_delay = Distribution::Constant { value: SimDuration::from_secs(10) };
    let Some(raw) = raw else {
        return Ok(RestartSpec {
            delay: default_delay,
            crash_loop_backoff: true,
            backoff_initial: SimDuration::from_secs(10),
            backoff_max: SimDuration::from_secs(300),
            backoff_reset_after: SimDuration::from_secs(600),
        });
    };
    let delay = match &raw.delay {
        None => default_delay,
        Some(spec) => validate_delay(ctx, &format!("{path}.delay"), spec, false)?,
    };
    let backoff_initial =
        positive_duration(ctx, &format!("{path}.backoff_initial"), raw.backoff_initial, SimDuration::from_secs(10))?;
    let backoff_max =
        positive_duration(ctx, &format!("{path}.backoff_max"), raw.backoff_max, SimDuration::from_secs(300))?;
    if backoff_max < backoff_initial {
        return Err(ctx.err(&format!("{path}.backoff_max"), "must be at least backoff_initial"));
    }
    let backoff_reset_after = positive_duration(
        ctx,
        &format!("{path}.backoff_reset_after"),
        raw.backoff_reset_after,
        SimDuration::from_secs(600),
    )?;
    Ok(RestartSpec {
        delay,
        crash_loop_backoff: raw.crash_loop_backoff.unwrap_or(true),
        backoff_initial,
        backoff_max,
        backoff_reset_after,
    })
}

/// A delay given as a duration (constant, or with `exponential_mean` the
/// mean of an exponential) or as a distribution table.
fn validate_delay(
    ctx: &Ctx,
    path: &str,
    spec: &raw::DelaySpec,
    exponential_mean: bool,
) -> Result<Distribution, ScenarioError> {
    match spec {
        raw::DelaySpec::Duration(d) if exponential_mean => {
            if d.is_zero() {
                return Err(ctx.err(path, "must be > 0"));
            }
            Ok(Distribution::Exponential { mean: *d })
        }
        raw::DelaySpec::Duration(d) => Ok(Distribution::Constant { value: *d }),
        raw::DelaySpec::Table(t) => validate_distribution(ctx, path, t),
    }
}

/// Health-check defaults: a Kubernetes readiness probe (period 10 s,
/// timeout 1 s, failure threshold 3, success threshold 1), shallow.
fn validate_health_check(ctx: &Ctx, path: &str, raw: &raw::RawHealthCheck) -> Result<HealthCheckSpec, ScenarioError> {
    let interval = period(ctx, &format!("{path}.interval"), raw.interval, SimDuration::from_secs(10))?;
    let timeout = positive_duration(ctx, &format!("{path}.timeout"), raw.timeout, SimDuration::from_secs(1))?;
    if timeout > interval {
        return Err(ctx.err(&format!("{path}.timeout"), format!("must not exceed the interval ({interval})")));
    }
    Ok(HealthCheckSpec {
        interval,
        timeout,
        unhealthy_threshold: count_at_least(
            ctx,
            &format!("{path}.unhealthy_threshold"),
            raw.unhealthy_threshold,
            3,
            1,
        )?,
        healthy_threshold: count_at_least(ctx, &format!("{path}.healthy_threshold"), raw.healthy_threshold, 1, 1)?,
        deep: raw.kind == Some(raw::RawCheckKind::Deep),
    })
}

/// Outlier-detection defaults: Envoy's (consecutive_5xx 5, base ejection
/// time 30 s, max ejection time 300 s, max ejection percent 10).
fn validate_outlier(ctx: &Ctx, path: &str, raw: &raw::RawOutlierDetection) -> Result<OutlierSpec, ScenarioError> {
    let base = positive_duration(
        ctx,
        &format!("{path}.base_ejection_time"),
        raw.base_ejection_time,
        SimDuration::from_secs(30),
    )?;
    let max = positive_duration(
        ctx,
        &format!("{path}.max_ejection_time"),
        raw.max_ejection_time,
        SimDuration::from_secs(300),
    )?;
    if max < base {
        return Err(ctx.err(&format!("{path}.max_ejection_time"), "must be at least base_ejection_time"));
    }
    let percent = raw.max_ejection_percent.unwrap_or(10.0);
    if !(0.0..=100.0).contains(&percent) {
        return Err(ctx.err(&format!("{path}.max_ejection_percent"), format!("must be from 0 to 100, got {percent}")));
    }
    Ok(OutlierSpec {
        consecutive_errors: count_at_least(ctx, &format!("{path}.consecutive_errors"), raw.consecutive_errors, 5, 1)?,
        base_ejection_time: base,
        max_ejection_time: max,
        max_ejection_percent: percent,
    })
}

/// A slowdown under load. Without `shape`, `exponent` 1 (the default)
/// is linear and any other polynomial, as before shapes existed; a linear
/// or exponential shape takes no exponent, a polynomial one needs it.
fn validate_slowdown(ctx: &Ctx, p: &str, sd: &raw::RawSlowdown) -> Result<SlowdownSpec, ScenarioError> {
    let factor =
        sd.factor.ok_or_else(|| ctx.err(p, "missing `factor`: how much slower at full load (1 = twice as slow)"))?;
    if !(factor.is_finite() && factor >= 0.0) {
        return Err(ctx.err(&format!("{p}.factor"), format!("must be a number >= 0, got {factor}")));
    }
    if let Some(exponent) = sd.exponent
        && !(exponent.is_finite() && exponent > 0.0)
    {
        return Err(ctx.err(&format!("{p}.exponent"), format!("must be a number > 0, got {exponent}")));
    }
    let shape = match (sd.shape, sd.exponent) {
        (None, None) => SlowdownShape::Linear,
        (None, Some(1.0)) => SlowdownShape::Linear,
        (None, Some(_)) => SlowdownShape::Polynomial,
        (Some(raw::RawSlowdownShape::Polynomial), Some(_)) => SlowdownShape::Polynomial,
        (Some(raw::RawSlowdownShape::Polynomial), None) => {
            return Err(ctx.err(p, "missing `exponent`: a polynomial slowdown is 1 + factor · x^exponent"));
        }
        (Some(raw::RawSlowdownShape::Linear), None) => SlowdownShape::Linear,
        (Some(raw::RawSlowdownShape::Exponential), None) => SlowdownShape::Exponential,
        (Some(shape), Some(_)) => {
            let name = if shape == raw::RawSlowdownShape::Linear { "a linear" } else { "an exponential" };
            return Err(ctx.err(
                &format!("{p}.exponent"),
                format!("applies only with shape = \"polynomial\" ({name} slowdown has none)"),
            ));
        }
    };
    if shape == SlowdownShape::Exponential && factor > MAX_EXPONENTIAL_FACTOR {
        return Err(ctx.err(
            &format!("{p}.factor"),
            format!(
                "an exponential slowdown e^(factor · x) takes a factor from 0 to {MAX_EXPONENTIAL_FACTOR}, got {factor}"
            ),
        ));
    }
    Ok(SlowdownSpec {
        by_queue: sd.by == Some(raw::RawSlowdownBy::Queue),
        shape,
        factor,
        exponent: if shape == SlowdownShape::Polynomial { sd.exponent.unwrap_or(1.0) } else { 1.0 },
    })
}

/// Database defaults: 1 replica, 16 workers per instance, 100 queued
/// queries, asynchronous replication with a 100 ms mean (exponential) lag,
/// failover detected after 10 s and promoted after 20 s more.
fn validate_database(ctx: &Ctx, path: &str, name: &str, raw: &raw::RawDatabase) -> Result<Service, ScenarioError> {
    let replicas = match raw.replicas {
        None => 1,
        Some(r) if (0..=100).contains(&r) => r as u32,
        Some(r) => return Err(ctx.err(&format!("{path}.replicas"), format!("must be from 0 to 100, got {r}"))),
    };
    let workers = positive_u32(ctx, &format!("{path}.workers"), raw.workers, 16, "(queries an instance runs at once)")?;
    let queue_capacity = match raw.queue_capacity {
        None => Some(100),
        Some(QueueCapacity::Unbounded) => None,
        Some(QueueCapacity::Bounded(n)) if n < 0 => {
            return Err(ctx.err(&format!("{path}.queue_capacity"), format!("must be >= 0, got {n}")));
        }
        Some(QueueCapacity::Bounded(n)) => Some(n.min(u32::MAX as i64) as u32),
    };
    let Some(read) = &raw.read_time else {
        return Err(
            ctx.err(path, "missing `read_time`, e.g. read_time = { distribution = \"exponential\", mean = \"5ms\" }")
        );
    };
    let Some(write) = &raw.write_time else {
        return Err(ctx
            .err(path, "missing `write_time`, e.g. write_time = { distribution = \"exponential\", mean = \"10ms\" }"));
    };
    let read_time = validate_distribution(ctx, &format!("{path}.read_time"), read)?;
    let write_time = validate_distribution(ctx, &format!("{path}.write_time"), write)?;
    let lag = match &raw.lag {
        None => Distribution::Exponential { mean: SimDuration::from_millis(100) },
        Some(spec) => validate_delay(ctx, &format!("{path}.lag"), spec, false)?,
    };
    let synchronous = raw.replication == Some(raw::RawReplication::Sync);
    if synchronous && replicas == 0 {
        return Err(ctx.err(&format!("{path}.replication"), "synchronous replication needs at least one replica"));
    }
    let database = DatabaseSpec {
        write_time,
        synchronous,
        lag,
        failover_detection: raw.failover_detection.map_or(SimDuration::from_secs(10), |d| d.0),
        failover_promotion: raw.failover_promotion.map_or(SimDuration::from_secs(20), |d| d.0),
    };
    Ok(Service {
        name: name.to_string(),
        nodes: 1 + replicas,
        workers,
        queue_capacity,
        service_time: read_time,
        overload_crash: None,
        restart: validate_restart(ctx, &format!("{path}.restart"), None)?,
        queue_timeout: None,
        queue_order: QueueOrder::Fifo,
        slowdown: match &raw.slowdown {
            None => None,
            Some(sd) => Some(validate_slowdown(ctx, &format!("{path}.slowdown"), sd)?),
        },
        memory: None,
        liveness: None,
        predictive_restart: None,
        autoscaling: None,
        config_drift: None,
        uses_database: None,
        database: Some(database),
        rate_limit: None,
        calls: Vec::new(),
        cache: match &raw.cache {
            None => None,
            Some(c) => Some(validate_cache(ctx, &format!("{path}.cache"), c)?),
        },
        serverless: None,
        region: region_of(ctx, path, &raw.region)?,
    })
}

/// Autoscaling defaults: the Kubernetes HPA's (tolerance 10%, sync period
/// 15 s, scale-down stabilisation 300 s, no cooldown, min 1), a 30 s
/// provisioning delay and a 30 s warm-up (the HPA's initial readiness delay).
fn validate_autoscaling(
    ctx: &Ctx,
    path: &str,
    raw: &raw::RawAutoscaling,
    nodes: u32,
) -> Result<AutoscalingSpec, ScenarioError> {
    let metric = match raw.metric.unwrap_or(raw::RawAutoscaleMetric::Utilization) {
        raw::RawAutoscaleMetric::Utilization => AutoscaleMetric::Utilization,
        raw::RawAutoscaleMetric::InFlight => AutoscaleMetric::InFlight,
    };
    let Some(target) = raw.target else {
        return Err(
            ctx.err(path, "missing `target`: the utilization (e.g. 0.6) or in-flight requests per node to hold")
        );
    };
    let target_ok = target.is_finite() && target > 0.0 && (metric == AutoscaleMetric::InFlight || target <= 1.0);
    if !target_ok {
        return Err(ctx
            .err(&format!("{path}.target"), format!("must be above 0 (and at most 1 for utilization), got {target}")));
    }
    let tolerance = fraction(ctx, &format!("{path}.tolerance"), raw.tolerance, 0.1)?;
    let min = count_at_least(ctx, &format!("{path}.min"), raw.min, 1, 1)?;
    let Some(max) = raw.max else {
        return Err(ctx.err(path, "missing `max`: the most nodes the service may scale to"));
    };
    let max = count_at_least(ctx, &format!("{path}.max"), Some(max), 1, 1)?;
    if max > 10_000 {
        return Err(ctx.err(&format!("{path}.max"), format!("must be at most 10000, got {max}")));
    }
    if !(min <= nodes && nodes <= max) {
        return Err(ctx.err(
            &format!("{path}.max"),
            format!("the service starts with {nodes} nodes, which must lie within min {min} and max {max}"),
        ));
    }
    let provisioning = match &raw.provisioning {
        None => Distribution::Constant { value: SimDuration::from_secs(30) },
        Some(spec) => validate_delay(ctx, &format!("{path}.provisioning"), spec, false)?,
    };
    let warmup_slowdown = raw.warmup_slowdown.unwrap_or(1.0);
    if !(warmup_slowdown.is_finite() && warmup_slowdown >= 1.0) {
        return Err(
            ctx.err(&format!("{path}.warmup_slowdown"), format!("must be a number >= 1, got {warmup_slowdown}"))
        );
    }
    Ok(AutoscalingSpec {
        metric,
        target,
        tolerance,
        min,
        max,
        evaluation_period: period(
            ctx,
            &format!("{path}.evaluation_period"),
            raw.evaluation_period,
            SimDuration::from_secs(15),
        )?,
        provisioning,
        warmup: raw.warmup.map_or(SimDuration::from_secs(30), |d| d.0),
        warmup_slowdown,
        cooldown: raw.cooldown.map_or(SimDuration::ZERO, |d| d.0),
        scale_down_stabilization: raw.scale_down_stabilization.map_or(SimDuration::from_secs(300), |d| d.0),
    })
}

/// Circuit-breaker defaults: resilience4j's (`BreakerSpec::resilience4j_defaults`).
/// A time-based window is `window` seconds, its minimum calls at most 100.
fn validate_breaker(ctx: &Ctx, path: &str, raw: &raw::RawCircuitBreaker) -> Result<BreakerSpec, ScenarioError> {
    let d = BreakerSpec::resilience4j_defaults();
    let threshold = raw.failure_rate_threshold.unwrap_or(d.failure_rate_threshold);
    if !(threshold > 0.0 && threshold <= 1.0) {
        return Err(ctx.err(
            &format!("{path}.failure_rate_threshold"),
            format!("must be a fraction above 0 and at most 1, got {threshold}"),
        ));
    }
    let slow_threshold = raw.slow_call_rate_threshold.unwrap_or(d.slow_call_rate_threshold);
    if !(slow_threshold > 0.0 && slow_threshold <= 1.0) {
        return Err(ctx.err(
            &format!("{path}.slow_call_rate_threshold"),
            format!("must be a fraction above 0 and at most 1, got {slow_threshold}"),
        ));
    }
    let window_type = match raw.window_type {
        None | Some(raw::RawBreakerWindow::Count) => BreakerWindow::Count,
        Some(raw::RawBreakerWindow::Time) => BreakerWindow::Time,
    };
    let (window, minimum_calls) = match window_type {
        BreakerWindow::Count => {
            let window = count_at_least(ctx, &format!("{path}.window"), raw.window, d.window, 1)?;
            let minimum_default = window.min(d.minimum_calls);
            let minimum_calls =
                count_at_least(ctx, &format!("{path}.minimum_calls"), raw.minimum_calls, minimum_default, 1)?;
            if minimum_calls > window {
                return Err(
                    ctx.err(&format!("{path}.minimum_calls"), format!("must not exceed the window ({window} calls)"))
                );
            }
            (window, minimum_calls)
        }
        // Seconds: resilience4j's time-based window may hold any number of calls.
        BreakerWindow::Time => {
            if raw.window.is_some_and(|w| w > 3600) {
                return Err(ctx.err(
                    &format!("{path}.window"),
                    "a time-based window is in whole seconds, at most 3600".to_string(),
                ));
            }
            let window = count_at_least(ctx, &format!("{path}.window"), raw.window, d.window, 1)?;
            let minimum_calls =
                count_at_least(ctx, &format!("{path}.minimum_calls"), raw.minimum_calls, d.minimum_calls, 1)?;
            (window, minimum_calls)
        }
    };
    Ok(BreakerSpec {
        failure_rate_threshold: threshold,
        window_type,
        window,
        minimum_calls,
        open_duration: positive_duration(ctx, &format!("{path}.open_duration"), raw.open_duration, d.open_duration)?,
        half_open_calls: count_at_least(
            ctx,
            &format!("{path}.half_open_calls"),
            raw.half_open_calls,
            d.half_open_calls,
            1,
        )?,
        slow_call_rate_threshold: slow_threshold,
        slow_call_duration: positive_duration(
            ctx,
            &format!("{path}.slow_call_duration"),
            raw.slow_call_duration,
            d.slow_call_duration,
        )?,
    })
}

/// Retry defaults: 3 attempts (AWS SDK standard mode), every server-side
/// failure retried, exponential backoff from 25 ms capped at 250 ms with
/// full jitter (Envoy's retry back-off: base_interval 25 ms, max 10 x base).
fn validate_retry(ctx: &Ctx, path: &str, raw: &raw::RawRetry) -> Result<RetrySpec, ScenarioError> {
    use raw::{RawBackoff, RawFailureCause as C, RawJitter};
    let max_attempts = count_at_least(ctx, &format!("{path}.max_attempts"), raw.max_attempts, 3, 1)?;
    if max_attempts > 100 {
        return Err(ctx.err(&format!("{path}.max_attempts"), format!("must be at most 100, got {max_attempts}")));
    }
    let retry_on = match &raw.retry_on {
        None => [
            FailureCause::Timeout,
            FailureCause::Rejected,
            FailureCause::Reset,
            FailureCause::Error,
            FailureCause::Shed,
            FailureCause::RateLimited,
        ]
        .iter()
        .fold(0, |acc, c| acc | c.bit()),
        Some(list) => list.iter().fold(0u16, |acc, c| {
            acc | match c {
                C::Timeout => FailureCause::Timeout,
                C::Rejected => FailureCause::Rejected,
                C::Reset => FailureCause::Reset,
                C::Error => FailureCause::Error,
                C::Shed => FailureCause::Shed,
                C::RateLimited => FailureCause::RateLimited,
                C::Bulkhead => FailureCause::Bulkhead,
            }
            .bit()
        }),
    };
    let base = positive_duration(ctx, &format!("{path}.base"), raw.base, SimDuration::from_millis(25))?;
    let cap = positive_duration(ctx, &format!("{path}.cap"), raw.cap, SimDuration(base.0.saturating_mul(10)))?;
    if cap < base {
        return Err(ctx.err(&format!("{path}.cap"), format!("must be at least base ({base})")));
    }
    let backoff = match raw.backoff.unwrap_or(RawBackoff::Exponential) {
        RawBackoff::None => Backoff::None,
        RawBackoff::Constant => Backoff::Constant,
        RawBackoff::Exponential => Backoff::Exponential,
    };
    let jitter = match raw.jitter.unwrap_or(RawJitter::Full) {
        RawJitter::None => Jitter::None,
        RawJitter::Full => Jitter::Full,
        RawJitter::Equal => Jitter::Equal,
        RawJitter::Decorrelated => Jitter::Decorrelated,
    };
    let budget = match &raw.budget {
        None => None,
        Some(b) => Some(validate_budget(ctx, &format!("{path}.budget"), b)?),
    };
    Ok(RetrySpec { max_attempts, retry_on, backoff, base, cap, jitter, budget })
}

/// Budget defaults: ratio 10% (Google SRE book, "Handling Overload") over a
/// 10 s window with no minimum (Finagle's RetryBudget uses a 10 s TTL);
/// token bucket 500 tokens, cost 5 per retry, 1 back per success (the AWS
/// SDKs' standard retry quota).
fn validate_budget(ctx: &Ctx, path: &str, raw: &raw::RawBudget) -> Result<BudgetSpec, ScenarioError> {
    use raw::RawBudgetKind as K;
    let Some(kind) = raw.kind else {
        return Err(ctx.err(path, "missing `kind`: \"ratio\" or \"token-bucket\""));
    };
    let non_negative = |key: &str, v: Option<f64>, default: f64| -> Result<f64, ScenarioError> {
        match v {
            None => Ok(default),
            Some(x) if x.is_finite() && x >= 0.0 => Ok(x),
            Some(x) => Err(ctx.err(&format!("{path}.{key}"), format!("must be a number >= 0, got {x}"))),
        }
    };
    let foreign: &[(&str, bool)] = match kind {
        K::Ratio => {
            &[("capacity", raw.capacity.is_some()), ("cost", raw.cost.is_some()), ("deposit", raw.deposit.is_some())]
        }
        K::TokenBucket => &[
            ("ratio", raw.ratio.is_some()),
            ("window", raw.window.is_some()),
            ("min_per_second", raw.min_per_second.is_some()),
        ],
    };
    if let Some((key, _)) = foreign.iter().find(|(_, set)| *set) {
        return Err(ctx.err(
            &format!("{path}.{key}"),
            format!("`{key}` does not apply to a {} budget", if kind == K::Ratio { "ratio" } else { "token-bucket" }),
        ));
    }
    Ok(match kind {
        K::Ratio => BudgetSpec::Ratio {
            ratio: non_negative("ratio", raw.ratio, 0.1)?,
            window: positive_duration(ctx, &format!("{path}.window"), raw.window, SimDuration::from_secs(10))?,
            min_per_second: non_negative("min_per_second", raw.min_per_second, 0.0)?,
        },
        K::TokenBucket => {
            let capacity = non_negative("capacity", raw.capacity, 500.0)?;
            let cost = non_negative("cost", raw.cost, 5.0)?;
            if cost == 0.0 {
                return Err(ctx.err(&format!("{path}.cost"), "must be > 0"));
            }
            BudgetSpec::TokenBucket { capacity, cost, deposit: non_negative("deposit", raw.deposit, 1.0)? }
        }
    })
}

/// A fault's start (`at`, before the end of the run) and optional
/// duration (> 0; permanent when left out). `at_hint` explains `at`,
/// `what` names the fault in messages.
fn fault_timing(
    ctx: &Ctx,
    path: &str,
    raw: &raw::RawFault,
    simulation: &Simulation,
    at_hint: &str,
    what: &str,
) -> Result<(raw::Duration, Option<SimDuration>), ScenarioError> {
    let Some(at) = raw.at else {
        return Err(ctx.err(path, format!("missing `at`: {at_hint}")));
    };
    if at.0 >= simulation.duration {
        return Err(ctx.err(
            &format!("{path}.at"),
            format!("{} is not before the end of the run ({})", at.0, simulation.duration),
        ));
    }
    match raw.duration {
        Some(d) if d.0.is_zero() => {
            Err(ctx.err(&format!("{path}.duration"), format!("must be > 0 (leave it out for a permanent {what})")))
        }
        d => Ok((at, d.map(|d| d.0))),
    }
}

fn validate_region_outage(
    ctx: &Ctx,
    path: &str,
    raw: &raw::RawFault,
    services: &[Service],
    simulation: &Simulation,
) -> Result<Fault, ScenarioError> {
    let Some(region) = &raw.region else {
        return Err(ctx.err(path, "a region-outage needs `region`: the region that goes down"));
    };
    let Some(service) = services.iter().position(|s| &s.region == region) else {
        let mut regions: Vec<&String> = services.iter().map(|s| &s.region).collect();
        regions.dedup();
        return Err(ctx.err(
            &format!("{path}.region"),
            format!("no service or database in region \"{region}\" (regions: {})", list(regions)),
        ));
    };
    if let Some(key) = foreign_fault_key(raw, &["region"]) {
        return Err(
            ctx.err(&format!("{path}.{key}"), format!("`{key}` does not apply to a region-outage (it takes: region)"))
        );
    }
    let (at, duration) =
        fault_timing(ctx, path, raw, simulation, "when the region goes down, e.g. at = \"10m\"", "outage")?;
    Ok(Fault {
        kind: FaultKind::RegionOutage { region: region.clone() },
        service,
        nodes: NodeSelection::All,
        at: SimTime(at.0.0),
        duration,
    })
}

/// Disaster-recovery defaults: detection 60 s, DNS TTL 60 s, half the
/// traffic in each region for active/active, one warm standby node scaling
/// up in 2 min, 10 min to provision compute from scratch, asynchronous replication with
/// a 1 s mean (exponential) lag, hourly backups, 100 GB restored at 10 GB a
/// minute.
fn validate_dr(
    ctx: &Ctx,
    raw: &raw::RawDr,
    balancers: &[Balancer],
    services: &[Service],
) -> Result<DrSpec, ScenarioError> {
    use raw::RawDrStrategy as S;
    let path = "disaster_recovery";
    let Some(strategy) = raw.strategy else {
        return Err(ctx.err(path, "missing `strategy`: active-active, warm-standby, pilot-light or backup-restore"));
    };
    let balancer = |key: &str, name: &Option<String>| -> Result<usize, ScenarioError> {
        let Some(name) = name else {
            return Err(ctx.err(path, format!("missing `{key}`: the balancer of the {key} region")));
        };
        balancers.iter().position(|b| &b.name == name).ok_or_else(|| {
            ctx.err(
                &format!("{path}.{key}"),
                format!("no balancer named \"{name}\" (defined: {})", list(balancers.iter().map(|b| &b.name))),
            )
        })
    };
    let primary = balancer("primary", &raw.primary)?;
    let standby = balancer("standby", &raw.standby)?;
    let (ps, ss) = (&services[balancers[primary].service], &services[balancers[standby].service]);
    if ps.region == ss.region {
        return Err(ctx.err(
            &format!("{path}.standby"),
            format!("the standby's service must be in another region than the primary's (both in \"{}\")", ps.region),
        ));
    }
    if ss.autoscaling.is_some() {
        return Err(ctx.err(&format!("{path}.standby"), "the standby service cannot also autoscale"));
    }
    let standby_nodes = match raw.standby_nodes {
        None => 1.min(ss.nodes),
        Some(n) if n >= 0 && n <= ss.nodes as i64 => n as u32,
        Some(n) => {
            return Err(ctx.err(
                &format!("{path}.standby_nodes"),
                format!("must be from 0 to {} (the standby service's nodes), got {n}", ss.nodes),
            ));
        }
    };
    let scale_up = match &raw.scale_up {
        None => Distribution::Constant { value: SimDuration::from_secs(120) },
        Some(spec) => validate_delay(ctx, &format!("{path}.scale_up"), spec, false)?,
    };
    let provisioning = match &raw.provisioning {
        None => Distribution::Constant { value: SimDuration::from_secs(600) },
        Some(spec) => validate_delay(ctx, &format!("{path}.provisioning"), spec, false)?,
    };
    let lag = match &raw.lag {
        None => Distribution::Exponential { mean: SimDuration::from_secs(1) },
        Some(spec) => validate_delay(ctx, &format!("{path}.lag"), spec, false)?,
    };
    let data_gb = raw.data_gb.unwrap_or(100.0);
    let rate = raw.restore_gb_per_min.unwrap_or(10.0);
    if !(data_gb.is_finite() && data_gb >= 0.0) {
        return Err(ctx.err(&format!("{path}.data_gb"), format!("must be a number >= 0, got {data_gb}")));
    }
    if !(rate.is_finite() && rate > 0.0) {
        return Err(ctx.err(&format!("{path}.restore_gb_per_min"), format!("must be a number > 0, got {rate}")));
    }
    Ok(DrSpec {
        strategy: match strategy {
            S::ActiveActive => DrStrategy::ActiveActive,
            S::WarmStandby => DrStrategy::WarmStandby,
            S::PilotLight => DrStrategy::PilotLight,
            S::BackupRestore => DrStrategy::BackupRestore,
        },
        primary,
        standby,
        detection: raw.detection.map_or(SimDuration::from_secs(60), |d| d.0),
        dns_ttl: raw.dns_ttl.map_or(SimDuration::from_secs(60), |d| d.0),
        active_share: fraction(ctx, &format!("{path}.active_share"), raw.active_share, 0.5)?,
        standby_nodes,
        scale_up,
        provisioning,
        synchronous: raw.replication == Some(raw::RawReplication::Sync),
        lag,
        backup_interval: positive_duration(
            ctx,
            &format!("{path}.backup_interval"),
            raw.backup_interval,
            SimDuration::from_secs(3600),
        )?,
        restore: SimDuration::from_secs_f64(data_gb / rate * 60.0),
    })
}

fn validate_fault(
    ctx: &Ctx,
    path: &str,
    raw: &raw::RawFault,
    services: &[Service],
    simulation: &Simulation,
) -> Result<Fault, ScenarioError> {
    use raw::RawFaultKind as K;
    let Some(kind) = raw.kind else {
        return Err(ctx.err(
            path,
            "missing `kind`: crash, slow, errors, capacity, latency, random-crashes, rolling-restart, redeploy, region-outage, cache-flush or partition",
        ));
    };
    if kind == K::RegionOutage {
        return validate_region_outage(ctx, path, raw, services, simulation);
    }
    if raw.region.is_some() {
        return Err(ctx.err(&format!("{path}.region"), "`region` applies only to a region-outage fault"));
    }
    let Some(service_name) = &raw.service else {
        return Err(ctx.err(path, "missing `service`: the service whose nodes the fault hits"));
    };
    let Some(service) = services.iter().position(|s| &s.name == service_name) else {
        return Err(ctx.err(
            &format!("{path}.service"),
            format!(
                "no service or database named \"{service_name}\" (defined: {})",
                list(services.iter().map(|s| &s.name))
            ),
        ));
    };
    let node_count = services[service].slots();
    let operation = matches!(kind, K::RollingRestart | K::Redeploy | K::CacheFlush);
    if kind == K::CacheFlush && services[service].cache.is_none() {
        return Err(ctx.err(
            &format!("{path}.service"),
            format!("service {service_name} has no cache to flush; give it a [services.{service_name}.cache] table"),
        ));
    }
    let nodes = match (&raw.nodes, raw.count) {
        // Operations act on the whole service unless told otherwise.
        (None, None) if operation => NodeSelection::All,
        (Some(_), Some(_)) => return Err(ctx.err(&format!("{path}.count"), "give either `nodes` or `count`, not both")),
        (None, None) => {
            return Err(ctx.err(path, "say which nodes: nodes = [0, 2], nodes = \"all\" or count = 2 (random nodes)"));
        }
        (Some(raw::RawNodeSet::All), None) => NodeSelection::All,
        (Some(raw::RawNodeSet::List(list)), None) => {
            if list.is_empty() {
                return Err(ctx.err(&format!("{path}.nodes"), "is empty"));
            }
            let mut out = Vec::new();
            for &n in list {
                if n < 0 || n >= node_count as i64 {
                    return Err(ctx.err(
                        &format!("{path}.nodes"),
                        format!("node {n} does not exist: service {service_name} has nodes 0 to {}", node_count - 1),
                    ));
                }
                if !out.contains(&(n as u32)) {
                    out.push(n as u32);
                }
            }
            NodeSelection::List(out)
        }
        (None, Some(k)) => {
            if k < 1 || k > node_count as i64 {
                return Err(ctx.err(
                    &format!("{path}.count"),
                    format!("must be from 1 to {node_count} (the service's nodes), got {k}"),
                ));
            }
            NodeSelection::Random(k as u32)
        }
    };
    let (at, duration) = fault_timing(ctx, path, raw, simulation, "when the fault starts, e.g. at = \"60s\"", "fault")?;
    // Parameters belong to one kind each; refuse the others so a typo'd kind is caught.
    let params: [(&str, bool, &[K]); 11] = [
        ("from", raw.from.is_some(), &[K::Partition]),
        ("to", raw.to.is_some(), &[K::Partition]),
        ("mode", raw.mode.is_some(), &[K::Partition]),
        ("direction", raw.direction.is_some(), &[K::Partition]),
        ("interval", raw.interval.is_some(), &[K::RollingRestart]),
        ("factor", raw.factor.is_some(), &[K::Slow]),
        ("fraction", raw.fraction.is_some(), &[K::Errors]),
        ("workers", raw.workers.is_some(), &[K::Capacity]),
        ("delay", raw.delay.is_some(), &[K::Latency]),
        ("mtbf", raw.mtbf.is_some(), &[K::RandomCrashes]),
        ("mttr", raw.mttr.is_some(), &[K::RandomCrashes]),
    ];
    let kind_name = match kind {
        K::Crash => "crash",
        K::Slow => "slow",
        K::Errors => "errors",
        K::Capacity => "capacity",
        K::Latency => "latency",
        K::RandomCrashes => "random-crashes",
        K::RollingRestart => "rolling-restart",
        K::Redeploy => "redeploy",
        K::RegionOutage => "region-outage",
        K::CacheFlush => "cache-flush",
        K::Partition => "partition",
    };
    let takes: Vec<&str> = params.iter().filter(|(_, _, kinds)| kinds.contains(&kind)).map(|(k, _, _)| *k).collect();
    for (key, set, kinds) in params {
        if set && !kinds.contains(&kind) {
            let takes =
                if takes.is_empty() { "no parameters".to_string() } else { format!("it takes: {}", takes.join(", ")) };
            return Err(
                ctx.err(&format!("{path}.{key}"), format!("`{key}` does not apply to a {kind_name} fault ({takes})"))
            );
        }
    }
    let need = |key: &str| ctx.err(path, format!("this kind of fault needs `{key}`"));
    let kind = match kind {
        K::Crash => FaultKind::Crash,
        K::Slow => {
            let factor = raw.factor.ok_or_else(|| need("factor"))?;
            if !(factor.is_finite() && factor > 0.0) {
                return Err(ctx.err(&format!("{path}.factor"), format!("must be a number > 0, got {factor}")));
            }
            FaultKind::Slow { factor }
        }
        K::Errors => FaultKind::Errors {
            fraction: fraction(
                ctx,
                &format!("{path}.fraction"),
                Some(raw.fraction.ok_or_else(|| need("fraction"))?),
                0.0,
            )?,
        },
        K::Capacity => {
            let w = raw.workers.ok_or_else(|| need("workers"))?;
            if w < 0 || w > services[service].workers as i64 {
                return Err(ctx.err(
                    &format!("{path}.workers"),
                    format!("workers left per node must be from 0 to {}, got {w}", services[service].workers),
                ));
            }
            FaultKind::Capacity { workers: w as u32 }
        }
        K::Latency => FaultKind::Latency { delay: raw.delay.ok_or_else(|| need("delay"))?.0 },
        K::RollingRestart => FaultKind::RollingRestart {
            interval: positive_duration(ctx, &format!("{path}.interval"), raw.interval, SimDuration::from_secs(60))?,
        },
        K::Redeploy => FaultKind::Redeploy,
        K::CacheFlush => FaultKind::CacheFlush,
        K::RegionOutage | K::Partition => unreachable!("handled above"),
        K::RandomCrashes => FaultKind::RandomCrashes {
            mtbf: mean_period(ctx, &format!("{path}.mtbf"), raw.mtbf.as_ref().ok_or_else(|| need("mtbf"))?)?,
            mttr: mean_period(ctx, &format!("{path}.mttr"), raw.mttr.as_ref().ok_or_else(|| need("mttr"))?)?,
        },
    };
    Ok(Fault { kind, service, nodes, at: SimTime(at.0.0), duration })
}

/// Default per-node queue: Tomcat's `acceptCount` (100), a common bound on
/// requests waiting for a worker thread.
pub const DEFAULT_QUEUE_CAPACITY: u32 = 100;

/// The coefficients of variation a lognormal or gamma distribution accepts.
pub const CV_RANGE: (f64, f64) = (0.001, 100.0);
/// The gamma shapes accepted: the same distributions as [`CV_RANGE`]
/// (shape = 1/cv²).
pub const GAMMA_SHAPE_RANGE: (f64, f64) = (0.0001, 1e6);

fn validate_distribution(ctx: &Ctx, path: &str, raw: &RawDistribution) -> Result<Distribution, ScenarioError> {
    let dist = distribution_parameters(ctx, path, raw)?;
    // The simulation builds these same rand_distr objects and expects them to
    // exist, so a parameter the ranges above let through but rand_distr
    // refuses is caught here rather than as a panic mid-run.
    let built = match dist {
        Distribution::LogNormal { mu, sigma } => {
            rand_distr::LogNormal::new(mu, sigma).map(|_| ()).map_err(|e| e.to_string())
        }
        Distribution::Gamma { shape, scale_secs } => {
            rand_distr::Gamma::new(shape, scale_secs).map(|_| ()).map_err(|e| e.to_string())
        }
        _ => Ok(()),
    };
    built.map_err(|why| ctx.err(path, format!("parameters that cannot be sampled: {why}")))?;
    Ok(dist)
}

fn distribution_parameters(ctx: &Ctx, path: &str, raw: &RawDistribution) -> Result<Distribution, ScenarioError> {
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
    // cv and shape are bounded so that every accepted distribution can be
    // built and sampled (a cv of 1e155 squares to infinity; a gamma shape of
    // 1e308 leaves a scale of 0), with a range wide enough for any real
    // service: cv 0.001 is nearly constant, cv 100 is a tail 100x the mean.
    // `{v:?}` prints 1e155 rather than its 156 digits.
    let in_range = |key: &str, v: f64, (lo, hi): (f64, f64)| -> Result<f64, ScenarioError> {
        if v.is_finite() && (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(ctx.err(&format!("{path}.{key}"), format!("must be a number from {lo} to {hi}, got {v:?}")))
        }
    };
    Ok(match kind {
        K::Exponential => {
            let mean = required("mean", raw.mean)?;
            positive("mean", mean)?;
            Distribution::Exponential { mean: mean.0 }
        }
        K::Constant => Distribution::Constant { value: required("value", raw.value)?.0 },
        K::Uniform => {
            let (min, max) = (required("min", raw.min)?, required("max", raw.max)?);
            if max.0 < min.0 {
                return Err(ctx.err(&format!("{path}.max"), format!("max {} is below min {}", max.0, min.0)));
            }
            Distribution::Uniform { min: min.0, max: max.0 }
        }
        K::Lognormal => {
            let m = positive("mean", required("mean", raw.mean)?)?;
            let sigma = match (raw.p99, raw.cv) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(
                        ctx.err(path, "a lognormal distribution needs exactly one of `p99` or `cv` besides `mean`")
                    );
                }
                (None, Some(cv)) => (1.0 + in_range("cv", cv, CV_RANGE)?.powi(2)).ln().sqrt(),
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
            Distribution::LogNormal { mu: m.ln() - sigma * sigma / 2.0, sigma }
        }
        K::Gamma => {
            let m = positive("mean", required("mean", raw.mean)?)?;
            let shape = match (raw.shape, raw.cv) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(
                        ctx.err(path, "a gamma distribution needs exactly one of `shape` or `cv` besides `mean`")
                    );
                }
                (Some(k), None) => in_range("shape", k, GAMMA_SHAPE_RANGE)?,
                (None, Some(cv)) => 1.0 / in_range("cv", cv, CV_RANGE)?.powi(2),
            };
            Distribution::Gamma { shape, scale_secs: m / shape }
        }
        K::Erlang => {
            let m = positive("mean", required("mean", raw.mean)?)?;
            let Some(k) = raw.k else {
                return Err(ctx.err(path, "an erlang distribution needs `k`, the number of phases"));
            };
            if !(1..=1000).contains(&k) {
                return Err(ctx.err(&format!("{path}.k"), format!("must be an integer from 1 to 1000, got {k}")));
            }
            Distribution::Gamma { shape: k as f64, scale_secs: m / k as f64 }
        }
    })
}
