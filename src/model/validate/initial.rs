//! Validation of `[initial]`, the state at t = 0: names resolve to
//! services, databases and traffic sources; node indices are in range and
//! not listed twice; ages, remaining times and hit ratios are possible.

use super::super::initial::{CacheStart, FailoverPhase, InitialFailover, InitialService, InitialState};
use super::super::raw::{self, RawCacheStart, RawInitial};
use super::super::{Distribution, Service, TrafficSource};
use super::{Ctx, list, validate_delay};
use crate::model::ScenarioError;
use crate::time::SimDuration;

/// Most requests `backlog` may queue at t = 0 (each is a request record).
const MAX_BACKLOG: i64 = 10_000_000;

/// What the section's validation needs from the rest of the scenario.
pub(in crate::model) struct Known<'a> {
    pub services: &'a [Service],
    /// Names of the regular services, then of the databases, in list order.
    pub service_names: Vec<&'a String>,
    pub database_names: Vec<&'a String>,
    pub traffic: &'a [TrafficSource],
    /// Each source's target service.
    pub traffic_service: Vec<usize>,
}

pub(in crate::model) fn validate_initial(
    ctx: &Ctx,
    raw: Option<&RawInitial>,
    known: &Known,
) -> Result<InitialState, ScenarioError> {
    let Some(raw) = raw else { return Ok(InitialState::default()) };
    let mut out = Vec::new();
    for (name, r) in &raw.services {
        let path = format!("initial.services.{name}");
        let Some(service) = known.service_names.iter().position(|n| *n == name) else {
            return Err(ctx.err(
                &path,
                format!("no service named \"{name}\" (defined: {})", list(known.service_names.iter().copied())),
            ));
        };
        let nodes = NodeStates::validate(ctx, &path, service, known, &r.down, &r.restarting, r.restart_in)?;
        let cache = cache_start(ctx, &path, &known.services[service], r.cache, r.cache_hit_ratio)?;
        let backlog = match r.backlog {
            None => 0,
            Some(n) if (0..=MAX_BACKLOG).contains(&n) => n as u32,
            Some(n) => {
                return Err(
                    ctx.err(&format!("{path}.backlog"), format!("must be from 0 to {MAX_BACKLOG} requests, got {n}"))
                );
            }
        };
        let backlog_age = match &r.backlog_age {
            None => Distribution::Constant { value: SimDuration::ZERO },
            Some(spec) => validate_delay(ctx, &format!("{path}.backlog_age"), spec, false)?,
        };
        let source = backlog_source(ctx, &path, name, service, r.source.as_deref(), known, backlog > 0)?;
        if backlog > 0 && nodes.down.len() + nodes.restarting.len() >= known.services[service].nodes as usize {
            return Err(ctx.err(&format!("{path}.backlog"), "every node is down at t = 0, so none holds a queue"));
        }
        out.push(InitialService {
            service,
            backlog,
            backlog_age,
            source,
            down: nodes.down,
            restarting: nodes.restarting,
            restart_in: nodes.restart_in,
            cache,
            failover: None,
        });
    }
    let regular = known.service_names.len();
    for (name, r) in &raw.databases {
        let path = format!("initial.databases.{name}");
        let Some(d) = known.database_names.iter().position(|n| *n == name) else {
            return Err(ctx.err(
                &path,
                format!("no database named \"{name}\" (defined: {})", list(known.database_names.iter().copied())),
            ));
        };
        let service = regular + d;
        let nodes = NodeStates::validate(ctx, &path, service, known, &r.down, &r.restarting, r.restart_in)?;
        let cache = cache_start(ctx, &path, &known.services[service], r.cache, r.cache_hit_ratio)?;
        let spec = known.services[service].database.as_ref().expect("a database");
        let failover = match (r.failover, r.failover_remaining) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(ctx.err(
                    &format!("{path}.failover_remaining"),
                    "needs `failover` (\"detecting\" or \"promoting\"): the phase whose time is left",
                ));
            }
            (Some(phase), remaining) => {
                let (phase, whole, key) = match phase {
                    raw::RawFailoverPhase::Detecting => {
                        (FailoverPhase::Detecting, spec.failover_detection, "failover_detection")
                    }
                    raw::RawFailoverPhase::Promoting => {
                        (FailoverPhase::Promoting, spec.failover_promotion, "failover_promotion")
                    }
                };
                let remaining = remaining.map_or(whole, |d| d.0);
                if remaining > whole {
                    return Err(ctx.err(
                        &format!("{path}.failover_remaining"),
                        format!("{remaining} is longer than the whole phase ({key} = {whole})"),
                    ));
                }
                if nodes.down.contains(&0) || nodes.restarting.contains(&0) {
                    return Err(ctx.err(
                        &path,
                        "instance 0 is the failed primary during a failover; list only replicas in down and restarting",
                    ));
                }
                Some(InitialFailover { phase, remaining })
            }
        };
        out.push(InitialService {
            service,
            backlog: 0,
            backlog_age: Distribution::Constant { value: SimDuration::ZERO },
            source: 0,
            down: nodes.down,
            restarting: nodes.restarting,
            restart_in: nodes.restart_in,
            cache,
            failover,
        });
    }
    out.sort_by_key(|s| s.service);
    Ok(InitialState { services: out })
}

/// `down`, `restarting` and `restart_in` of one service.
struct NodeStates {
    down: Vec<u32>,
    restarting: Vec<u32>,
    restart_in: SimDuration,
}

impl NodeStates {
    fn validate(
        ctx: &Ctx,
        path: &str,
        service: usize,
        known: &Known,
        down: &Option<Vec<i64>>,
        restarting: &Option<Vec<i64>>,
        restart_in: Option<raw::Duration>,
    ) -> Result<NodeStates, ScenarioError> {
        // Nodes that exist at t = 0 (an autoscaled service's `nodes`).
        let nodes = known.services[service].nodes;
        let mut seen = Vec::new();
        let mut indices = |key: &str, list: &Option<Vec<i64>>| -> Result<Vec<u32>, ScenarioError> {
            let mut out = Vec::new();
            for (i, &n) in list.iter().flatten().enumerate() {
                let p = format!("{path}.{key}[{i}]");
                if !(0..nodes as i64).contains(&n) {
                    return Err(
                        ctx.err(&p, format!("node {n} does not exist: the service has nodes 0 to {}", nodes - 1))
                    );
                }
                if seen.contains(&n) {
                    return Err(ctx.err(&p, format!("node {n} is listed twice")));
                }
                seen.push(n);
                out.push(n as u32);
            }
            Ok(out)
        };
        let down = indices("down", down)?;
        let restarting = indices("restarting", restarting)?;
        let restart_in = match (restart_in, restarting.is_empty()) {
            (Some(_), true) => {
                return Err(
                    ctx.err(&format!("{path}.restart_in"), "no node is `restarting`, so nothing restarts in it")
                );
            }
            (None, false) => {
                return Err(ctx.err(
                    path,
                    "`restarting` needs `restart_in`: how long until those nodes are up, e.g. restart_in = \"20s\"",
                ));
            }
            (Some(d), false) => d.0,
            (None, true) => SimDuration::ZERO,
        };
        Ok(NodeStates { down, restarting, restart_in })
    }
}

fn cache_start(
    ctx: &Ctx,
    path: &str,
    service: &Service,
    start: Option<RawCacheStart>,
    hit_ratio: Option<f64>,
) -> Result<Option<CacheStart>, ScenarioError> {
    if start.is_none() && hit_ratio.is_none() {
        return Ok(None);
    }
    let key = if start.is_some() { "cache" } else { "cache_hit_ratio" };
    let Some(cache) = &service.cache else {
        return Err(ctx.err(&format!("{path}.{key}"), format!("{} has no cache", service.name)));
    };
    match (start, hit_ratio) {
        (Some(_), Some(_)) => {
            Err(ctx.err(&format!("{path}.cache_hit_ratio"), "give either `cache` or `cache_hit_ratio`, not both"))
        }
        (Some(RawCacheStart::Cold), None) => Ok(Some(CacheStart::Cold)),
        (Some(RawCacheStart::Warm), None) => Ok(Some(CacheStart::Warm)),
        (None, Some(h)) => {
            let p = format!("{path}.cache_hit_ratio");
            if !(h.is_finite() && (0.0..=1.0).contains(&h)) {
                return Err(ctx.err(&p, format!("must be a fraction from 0 to 1, got {h}")));
            }
            let (_, reachable) = super::super::initial::keys_for_hit_ratio(cache.keys, cache.zipf, cache.capacity, h);
            if h > reachable + 1e-12 {
                return Err(ctx.err(
                    &p,
                    format!(
                        "{h} is more than the cache's capacity can give: its {} most popular keys hit {reachable:.3}",
                        cache.capacity
                    ),
                ));
            }
            Ok(Some(CacheStart::HitRatio(h)))
        }
        (None, None) => unreachable!("returned above"),
    }
}

/// The traffic source a backlog belongs to: the one named, else the only
/// source whose requests reach the service.
fn backlog_source(
    ctx: &Ctx,
    path: &str,
    name: &str,
    service: usize,
    named: Option<&str>,
    known: &Known,
    needed: bool,
) -> Result<usize, ScenarioError> {
    let reaching: Vec<usize> = (0..known.traffic.len()).filter(|&t| known.traffic_service[t] == service).collect();
    if let Some(source) = named {
        let p = format!("{path}.source");
        let Some(t) = known.traffic.iter().position(|t| t.name == source) else {
            let names: Vec<&String> = known.traffic.iter().map(|t| &t.name).collect();
            return Err(ctx.err(&p, format!("no traffic source named \"{source}\" (defined: {})", list(names))));
        };
        if !reaching.contains(&t) {
            return Err(ctx.err(&p, format!("traffic source {source} does not send its requests to {name}")));
        }
        return Ok(t);
    }
    if !needed {
        return Ok(0);
    }
    match reaching.as_slice() {
        [only] => Ok(*only),
        [] => Err(ctx.err(
            &format!("{path}.backlog"),
            format!("no traffic source sends requests to {name}, so nothing can wait for the backlog"),
        )),
        _ => {
            let names: Vec<&String> = reaching.iter().map(|&t| &known.traffic[t].name).collect();
            Err(ctx.err(
                path,
                format!(
                    "several traffic sources reach {name} ({}): say whose the backlog is with source = \"...\"",
                    list(names)
                ),
            ))
        }
    }
}
