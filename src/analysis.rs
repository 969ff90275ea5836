//! Static capacity analysis (`faultline check`): offered load against the
//! capacity of each service from the scenario alone, no simulation. For N
//! nodes at utilization u, losing k leaves the survivors at u·N/(N−k) if
//! the balancer spreads the same traffic over them.
//!
//! With calls between services, load flows down the call graph (each call
//! step passes on the share of its caller's load whose class it applies
//! to; retries and cache hits are ignored), and a caller's worker is held
//! for its own work plus the calls it waits for, so its capacity is
//! N·c / (mean holding time). A cache in front of a service passes on only
//! its misses, at the steady hit ratio of a TTL cache under Poisson
//! requests (its capacity bound ignored, so an optimistic ratio).
//!
//! A slowdown under load (see [`SlowdownCapacity`]) multiplies the own
//! work S by g(x), x the load a request sees as it starts, so a node's
//! throughput at busy-worker fraction u is X(u) = c·u / (S·g(x) + W), W the
//! time waiting for calls: by concurrency the capacity is the largest X(u),
//! by queue it is the unslowed one, falling as a queue builds.
//!
//! A closed-loop source (N users, mean think time Z) offers no fixed rate:
//! its throughput X obeys the asymptotic bounds X <= N/(D+Z) (no queueing
//! anywhere, D the mean time a request holds its target) and X <= the
//! target's capacity 1/Dmax. Its offered load here is the first bound; a
//! service it alone pushes past capacity saturates (the queue holds at most
//! the N users) rather than grows without bound.

use crate::model::{Scenario, Service, SlowdownShape, SlowdownSpec};
use crate::time::SimTime;

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceCapacity {
    pub service: String,
    pub nodes: u32,
    pub workers: u32,
    /// Requests one node holds waiting (`None`: unbounded).
    pub queue_capacity: Option<u32>,
    pub mean_service_s: f64,
    /// Mean time a worker is held per request: its own work plus waiting
    /// for its calls (each at the callee's holding time; a parallel step at
    /// the k-th shortest of its calls'), without queueing anywhere.
    pub mean_holding_s: f64,
    /// With a cache in front: its steady hit ratio at the offered load
    /// (the offered load below is what misses).
    pub cache_hit_ratio: Option<f64>,
    /// Time-averaged offered rate over the run [req/s].
    pub mean_offered_rps: f64,
    /// Highest scheduled rate [req/s]; utilization figures use this.
    pub peak_offered_rps: f64,
    /// Requests per second all nodes can complete: N·c / E[holding], or
    /// with a slowdown by concurrency the most they can (see `slowdown`).
    pub capacity_rps: f64,
    /// N·c / E[holding] without any slowdown under load.
    pub nominal_capacity_rps: f64,
    /// With a slowdown under load: what it does to capacity.
    pub slowdown: Option<SlowdownCapacity>,
    /// peak offered / capacity with every node up (capacity with slowdown).
    pub utilization: f64,
    /// (k nodes lost, survivors' utilization) for k = 1 .. N−1.
    pub after_losing: Vec<(u32, f64)>,
    /// With a bounded queue: the fraction of arrivals refused in steady
    /// state at the (mean, peak) offered rate, each node an M/M/c/K queue
    /// fed an equal share.
    pub blocking: Option<(f64, f64)>,
    /// The share of the peak offered load that comes from closed-loop
    /// sources (0 without any): that part cannot outgrow the capacity.
    pub closed_loop_share: f64,
}

/// What `faultline check` says about one closed-loop source.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedLoopBound {
    pub source: String,
    pub service: String,
    pub peak_users: u32,
    pub mean_users: f64,
    pub think_s: f64,
    /// D: mean time a request holds its target, without queueing [s].
    pub demand_s: f64,
    /// The target's capacity 1/Dmax [req/s].
    pub capacity_rps: f64,
}

impl ClosedLoopBound {
    /// N/(D+Z) at the peak population: the throughput without queueing.
    pub fn unqueued_rps(&self) -> f64 {
        self.peak_users as f64 / (self.demand_s + self.think_s)
    }

    /// The asymptotic bound X <= min(N/(D+Z), 1/Dmax).
    pub fn throughput_bound_rps(&self) -> f64 {
        self.unqueued_rps().min(self.capacity_rps)
    }

    /// N* = (D+Z)/Dmax: the population past which the target saturates.
    pub fn saturation_users(&self) -> f64 {
        (self.demand_s + self.think_s) * self.capacity_rps
    }

    /// The lower bound on the mean response time at the peak population:
    /// R >= max(D, N/Xmax − Z), from R = N/X − Z.
    pub fn response_bound_s(&self) -> f64 {
        self.demand_s.max(self.peak_users as f64 / self.capacity_rps - self.think_s)
    }
}

impl ServiceCapacity {
    /// Whether queues grow without bound at the peak: utilization at or
    /// above 100% with an unbounded queue. A bounded queue is stable at any
    /// load; it refuses the excess instead (see `blocking`).
    /// A closed loop's part of the load saturates instead: only the
    /// open-loop part counts.
    pub fn unstable(&self) -> bool {
        self.open_utilization() >= 1.0 && self.blocking.is_none()
    }

    /// Utilization from the open-loop sources alone.
    pub fn open_utilization(&self) -> f64 {
        self.utilization * (1.0 - self.closed_loop_share)
    }

    /// Smallest number of lost nodes that pushes the survivors past 100%,
    /// or `None` if only losing all of them does.
    pub fn breaking_point(&self) -> Option<u32> {
        if self.utilization >= 1.0 {
            return Some(0);
        }
        self.after_losing.iter().find(|(_, u)| *u >= 1.0).map(|(k, _)| *k)
    }
}

/// Services in an order where every caller comes before its callees
/// (calls form no cycle: validation refuses them).
fn callers_first(scenario: &Scenario) -> Vec<usize> {
    fn visit(scenario: &Scenario, s: usize, seen: &mut [bool], out: &mut Vec<usize>) {
        seen[s] = true;
        for call in scenario.services[s].calls.iter().flat_map(|step| &step.calls) {
            if !seen[call.service] {
                visit(scenario, call.service, seen, out);
            }
        }
        out.push(s);
    }
    let mut seen = vec![false; scenario.services.len()];
    let mut out = Vec::new();
    for s in 0..scenario.services.len() {
        if !seen[s] {
            visit(scenario, s, &mut seen, &mut out);
        }
    }
    out.reverse();
    out
}

/// Steady hit ratio of a look-aside cache with TTL `ttl` (from each fetch)
/// for `rate` calls a second over its keys: a key asked for at λ_k is
/// fetched, then hit λ_k·T times on average before it expires, so its hit
/// ratio is λ_k·T / (1 + λ_k·T); weighted by the keys' popularity.
pub fn cache_hit_ratio(cache: &crate::model::CacheSpec, rate: f64) -> f64 {
    let t = cache.ttl.as_secs_f64();
    let keys = cache.keys as usize;
    if cache.zipf == 0.0 {
        let x = rate * t / keys as f64;
        return x / (1.0 + x);
    }
    let weights: Vec<f64> = (1..=keys).map(|k| (k as f64).powf(-cache.zipf)).collect();
    let total: f64 = weights.iter().sum();
    weights
        .iter()
        .map(|w| {
            let p = w / total;
            let x = rate * p * t;
            p * x / (1.0 + x)
        })
        .sum()
}

/// Per service and request class (the last index: no class), the (mean,
/// peak) offered rate, passed down the call graph; and per service the
/// hit ratio of its cache at that load (0 without one).
/// `closed` replaces a source's (mean, peak) rate where it is `Some`.
fn offered_by_class(
    scenario: &Scenario,
    horizon: SimTime,
    order: &[usize],
    closed: &[Option<(f64, f64)>],
) -> (Vec<Vec<(f64, f64)>>, Vec<f64>) {
    let none = scenario.classes.len();
    let mut load = vec![vec![(0.0, 0.0); none + 1]; scenario.services.len()];
    // Load arriving through calls, which a cache in front of the service filters.
    let mut called = load.clone();
    let mut hit = vec![0.0; scenario.services.len()];
    for (i, t) in scenario.traffic.iter().enumerate() {
        let s = scenario.target_service(t.target);
        let (mean, peak) =
            closed[i].unwrap_or_else(|| (t.mean_rate(horizon), t.peak_rate(horizon, scenario.simulation.bin)));
        if t.class_mix.is_empty() {
            load[s][none].0 += mean;
            load[s][none].1 += peak;
        }
        for (k, &(class, p)) in t.class_mix.iter().enumerate() {
            load[s][class as usize].0 += mean * p;
            // A class trace: each class peaks at its own rate's peak (not at
            // its share of the sum's), plus its share of bursts.
            let class_peak = match t.class_rates.get(k) {
                Some((_, rate)) => rate.peak(horizon) + (peak - t.rate.peak(horizon)).max(0.0) * p,
                None => peak * p,
            };
            load[s][class as usize].1 += class_peak;
        }
    }
    for &s in order {
        // Every caller of `s` came before it: its called load is complete.
        if let Some(cache) = &scenario.services[s].cache {
            hit[s] = cache_hit_ratio(cache, called[s].iter().map(|l| l.0).sum());
        }
        for k in 0..=none {
            load[s][k].0 += called[s][k].0 * (1.0 - hit[s]);
            load[s][k].1 += called[s][k].1 * (1.0 - hit[s]);
        }
        for step in &scenario.services[s].calls {
            for k in (0..=none).filter(|&k| step_applies(step, k, none)) {
                let (mean, peak) = load[s][k];
                for call in &step.calls {
                    called[call.service][k].0 += mean;
                    called[call.service][k].1 += peak;
                }
            }
        }
    }
    (load, hit)
}

fn step_applies(step: &crate::model::CallStep, class: usize, none: usize) -> bool {
    crate::model::classes_include(step.classes, (class != none).then_some(class))
}

/// Mean worker holding time per service: own work, plus each step's
/// calls for the share of the load the step applies to.
fn holding_times(scenario: &Scenario, order: &[usize], load: &[Vec<(f64, f64)>], hit: &[f64]) -> Vec<f64> {
    let none = scenario.classes.len();
    let mut hold = vec![0.0; scenario.services.len()];
    // Callees first: a caller's holding time includes theirs.
    for &s in order.iter().rev() {
        let service = &scenario.services[s];
        let total: f64 = load[s].iter().map(|l| l.0).sum();
        let mut h = service.service_time.mean_secs();
        for step in &service.calls {
            let share = if total > 0.0 {
                (0..=none).filter(|&k| step_applies(step, k, none)).map(|k| load[s][k].0).sum::<f64>() / total
            } else {
                1.0
            };
            // A cached call takes the lookup, and the callee's time on a miss.
            let call_time = |c: &crate::model::Call| match &scenario.services[c.service].cache {
                Some(cache) => cache.lookup.as_secs_f64() + (1.0 - hit[c.service]) * hold[c.service],
                None => hold[c.service],
            };
            let mut times: Vec<f64> = step.calls.iter().map(call_time).collect();
            times.sort_by(f64::total_cmp);
            h += share * times[step.wait_for as usize - 1];
        }
        hold[s] = h;
    }
    hold
}

/// Per source, the (mean, peak) rate a closed loop offers at most,
/// N/(D+Z) (`None` for open-loop sources); and the holding times.
fn closed_loop_rates(scenario: &Scenario, horizon: SimTime, order: &[usize]) -> (Vec<Option<(f64, f64)>>, Vec<f64>) {
    // The holding times depend on the load only through class shares, so
    // one pass at the sources' nominal rates (N/Z for a closed loop) gives D.
    let nominal = vec![None; scenario.traffic.len()];
    let (load, hit) = offered_by_class(scenario, horizon, order, &nominal);
    let hold = holding_times(scenario, order, &load, &hit);
    let rates = scenario
        .traffic
        .iter()
        .map(|t| {
            t.closed_loop.as_ref().map(|c| {
                let cycle = hold[scenario.target_service(t.target)] + c.think_time.mean_secs();
                (c.mean_users(horizon) / cycle, c.peak_users(horizon) as f64 / cycle)
            })
        })
        .collect();
    (rates, hold)
}

/// The bounds on each closed-loop source's throughput.
pub fn closed_loops(scenario: &Scenario) -> Vec<ClosedLoopBound> {
    let horizon = SimTime::ZERO + scenario.simulation.duration;
    let order = callers_first(scenario);
    let (_, hold) = closed_loop_rates(scenario, horizon, &order);
    scenario
        .traffic
        .iter()
        .filter_map(|t| {
            let c = t.closed_loop.as_ref()?;
            let s = scenario.target_service(t.target);
            let service = &scenario.services[s];
            let slots = service.nodes as f64 * service.workers as f64;
            Some(ClosedLoopBound {
                source: t.name.clone(),
                service: service.name.clone(),
                peak_users: c.peak_users(horizon),
                mean_users: c.mean_users(horizon),
                think_s: c.think_time.mean_secs(),
                demand_s: hold[s],
                capacity_rps: if hold[s] > 0.0 { slots / hold[s] } else { f64::INFINITY },
            })
        })
        .collect()
}

pub fn capacity(scenario: &Scenario) -> Vec<ServiceCapacity> {
    let horizon = SimTime::ZERO + scenario.simulation.duration;
    let order = callers_first(scenario);
    let (closed, _) = closed_loop_rates(scenario, horizon, &order);
    let (load, hit) = offered_by_class(scenario, horizon, &order, &closed);
    let hold = holding_times(scenario, &order, &load, &hit);
    // The open-loop part alone, for the closed loops' share of each load.
    let open_load = if closed.iter().any(Option::is_some) {
        let zero: Vec<Option<(f64, f64)>> = closed.iter().map(|c| c.map(|_| (0.0, 0.0))).collect();
        Some(offered_by_class(scenario, horizon, &order, &zero).0)
    } else {
        None
    };
    scenario
        .services
        .iter()
        .enumerate()
        .map(|(s, service)| {
            let mean: f64 = load[s].iter().map(|l| l.0).sum();
            let peak: f64 = load[s].iter().map(|l| l.1).sum();
            let mean_service_s = service.service_time.mean_secs();
            let mean_holding_s = hold[s];
            let slots = service.nodes as f64 * service.workers as f64;
            let nominal_capacity_rps = if mean_holding_s > 0.0 { slots / mean_holding_s } else { f64::INFINITY };
            let n = service.nodes;
            let slowdown =
                service.slowdown.as_ref().map(|sd| SlowdownCapacity::new(sd, service, mean_holding_s, peak / n as f64));
            let capacity_rps = slowdown.as_ref().map_or(nominal_capacity_rps, |sd| sd.per_node_max_rps * n as f64);
            let utilization = if capacity_rps.is_finite() { peak / capacity_rps } else { 0.0 };
            let after_losing = (1..n).map(|k| (k, utilization * n as f64 / (n - k) as f64)).collect();
            let blocking = service.queue_capacity.map(|k| {
                let at = |rate: f64| {
                    let per_node = rate / n.max(1) as f64;
                    // With a slowdown, a worker is held as long as at the
                    // operating point, or at full load past collapse.
                    let holding = slowdown.as_ref().map_or(mean_holding_s, |sd| sd.holding_at(per_node));
                    mmck_blocking(service.workers, k, per_node * holding)
                };
                (at(mean), at(peak))
            });
            let closed_loop_share = match &open_load {
                Some(open) if peak > 0.0 => 1.0 - open[s].iter().map(|l| l.1).sum::<f64>() / peak,
                _ => 0.0,
            };
            ServiceCapacity {
                closed_loop_share,
                blocking,
                cache_hit_ratio: service.cache.as_ref().map(|_| hit[s]),
                service: service.name.clone(),
                nodes: n,
                workers: service.workers,
                queue_capacity: service.queue_capacity,
                mean_service_s,
                mean_holding_s,
                mean_offered_rps: mean,
                peak_offered_rps: peak,
                capacity_rps,
                nominal_capacity_rps,
                slowdown,
                utilization,
                after_losing,
            }
        })
        .collect()
}

/// A slowdown under load in the capacity analysis, per node: c workers,
/// own work S (slowed by the load factor g), W waiting for calls (not
/// slowed), so a worker is held h(x) = S·g(x) + W.
///
/// By concurrency x is the busy-worker fraction a request sees as it
/// starts, itself included: at time-averaged utilization u that is
/// x = min(1, u + 1/c) (arrivals see time averages; one that queues
/// starts when a worker frees, all busy). By Little's law the node then
/// completes X(u) = c·u / h(x) a second. Its capacity is the largest X(u)
/// over u in [0, 1], reached at `peak_utilization`; an offered rate λ
/// settles at the smallest u with X(u) = λ (the stable fixed point of
/// u = λ·h(x)/c). Past the peak, more load serves less: a rate above the
/// maximum has no fixed point and the node collapses to X(1), and one
/// just below it is metastable (a burst past the peak may not come back).
///
/// By queue x is waiting requests / workers, 0 while a worker is free, so
/// the unslowed M/M/c capacity stands while there is no queue; a queue of q
/// per node cuts it to c / h(q/c). `collapse_queue` is the q at which that
/// equals the offered rate: a burst that queues that many does not drain.
#[derive(Debug, Clone, PartialEq)]
pub struct SlowdownCapacity {
    pub spec: SlowdownSpec,
    workers: u32,
    own_s: f64,
    wait_s: f64,
    /// Most requests per second one node completes with the slowdown.
    pub per_node_max_rps: f64,
    /// By concurrency: the busy-worker fraction where throughput peaks.
    pub peak_utilization: f64,
    /// At the peak offered rate per node: (utilization, slowed own service
    /// time [s]) at the stable fixed point, `None` if there is none (by
    /// concurrency: it collapses). By queue: the empty-queue figures.
    pub at_peak: Option<(f64, f64)>,
    /// By queue: waiting requests per node from which capacity falls below
    /// the peak offered rate (0 if it already is); `None` if no queue does.
    pub collapse_queue: Option<f64>,
}

/// Grid points over u in [0, 1] for the capacity maximum, before refining.
const SLOWDOWN_GRID: usize = 2000;

impl SlowdownCapacity {
    fn new(spec: &SlowdownSpec, service: &Service, holding_s: f64, rate_per_node: f64) -> SlowdownCapacity {
        let own_s = service.service_time.mean_secs();
        let mut sc = SlowdownCapacity {
            spec: spec.clone(),
            workers: service.workers,
            own_s,
            wait_s: (holding_s - own_s).max(0.0),
            per_node_max_rps: 0.0,
            peak_utilization: 1.0,
            at_peak: None,
            collapse_queue: None,
        };
        let c = service.workers as f64;
        if spec.by_queue {
            sc.per_node_max_rps = sc.throughput(1.0, 0.0);
            sc.at_peak = (rate_per_node < sc.per_node_max_rps).then(|| (rate_per_node * holding_s / c, own_s));
            sc.collapse_queue = sc.queue_where_capacity_is(rate_per_node);
            return sc;
        }
        // The largest X(u): a grid, then golden-section search around its
        // best point (X is smooth; the grid guards against a local bump).
        let x = |u: f64| sc.throughput(u, sc.concurrency_load(u));
        let best = (0..=SLOWDOWN_GRID).map(|i| i as f64 / SLOWDOWN_GRID as f64).max_by(|a, b| x(*a).total_cmp(&x(*b)));
        let best = best.unwrap_or(1.0);
        let step = 1.0 / SLOWDOWN_GRID as f64;
        let (mut lo, mut hi) = ((best - step).max(0.0), (best + step).min(1.0));
        let phi = (5f64.sqrt() - 1.0) / 2.0;
        for _ in 0..60 {
            let (m1, m2) = (hi - phi * (hi - lo), lo + phi * (hi - lo));
            if x(m1) < x(m2) { lo = m1 } else { hi = m2 }
        }
        let u_peak = if x((lo + hi) / 2.0) >= x(best) { (lo + hi) / 2.0 } else { best };
        let max_rps = x(u_peak);
        sc.peak_utilization = u_peak;
        sc.per_node_max_rps = max_rps;
        sc.at_peak = sc.fixed_point(rate_per_node).map(|u| (u, own_s * spec.factor_at(sc.concurrency_load(u))));
        sc
    }

    /// By concurrency, the load a starting request sees at utilization u.
    fn concurrency_load(&self, u: f64) -> f64 {
        (u + 1.0 / self.workers as f64).min(1.0)
    }

    /// Requests per second one node completes at utilization u when
    /// requests start at load x.
    fn throughput(&self, u: f64, x: f64) -> f64 {
        let holding = self.own_s * self.spec.factor_at(x) + self.wait_s;
        if holding > 0.0 { self.workers as f64 * u / holding } else { f64::INFINITY }
    }

    /// By concurrency: the stable utilization at `rate` per node, the
    /// smallest u with X(u) = rate (X rises up to the peak), if any.
    fn fixed_point(&self, rate: f64) -> Option<f64> {
        let x = |u: f64| self.throughput(u, self.concurrency_load(u));
        if rate > self.per_node_max_rps {
            return None;
        }
        let (mut lo, mut hi) = (0.0, self.peak_utilization);
        for _ in 0..100 {
            let mid = (lo + hi) / 2.0;
            if x(mid) < rate { lo = mid } else { hi = mid }
        }
        Some(hi)
    }

    /// By queue: the waiting requests per node at which capacity c / h(q/c)
    /// falls to `rate` (0 if it is already below; `None` if never: g has
    /// no factor, or the rate is 0).
    fn queue_where_capacity_is(&self, rate: f64) -> Option<f64> {
        if rate <= 0.0 || self.spec.factor == 0.0 || self.own_s <= 0.0 {
            return None;
        }
        let c = self.workers as f64;
        // g(q/c) = (c/rate − W) / S, inverted per shape.
        let g = (c / rate - self.wait_s) / self.own_s;
        if g <= 1.0 {
            return Some(0.0);
        }
        let (f, k) = (self.spec.factor, self.spec.exponent);
        let x = match self.spec.shape {
            SlowdownShape::Linear => (g - 1.0) / f,
            SlowdownShape::Polynomial => ((g - 1.0) / f).powf(1.0 / k),
            SlowdownShape::Exponential => g.ln() / f,
        };
        Some(x * c)
    }

    /// By queue: one node's capacity with `queued` requests waiting.
    pub fn capacity_with_queue(&self, queued: f64) -> f64 {
        self.throughput(1.0, queued / self.workers as f64)
    }

    /// Mean time a worker is held at `rate` per node: at the stable point,
    /// or at full load without one (by queue: the empty-queue time).
    pub fn holding_at(&self, rate: f64) -> f64 {
        let x = if self.spec.by_queue { 0.0 } else { self.fixed_point(rate).map_or(1.0, |u| self.concurrency_load(u)) };
        self.own_s * self.spec.factor_at(x) + self.wait_s
    }

    /// The load factor in words, e.g. "e^(4·x)".
    pub fn formula(&self) -> String {
        let (f, k) = (self.spec.factor, self.spec.exponent);
        match self.spec.shape {
            SlowdownShape::Linear => format!("linear 1 + {f}·x"),
            SlowdownShape::Polynomial => format!("polynomial 1 + {f}·x^{k}"),
            SlowdownShape::Exponential => format!("exponential e^({f}·x)"),
        }
    }
}

/// Erlang C: the probability that an arrival waits in an M/M/c queue with
/// offered load `a` = λ/μ (1 when `a` >= c: the queue is unstable).
pub fn erlang_c(c: u32, a: f64) -> f64 {
    if a >= c as f64 {
        return 1.0;
    }
    let b = erlang_b(c, a);
    c as f64 * b / (c as f64 - a * (1.0 - b))
}

/// Erlang B: the probability that an arrival finds all `c` servers busy in
/// an M/G/c/c loss system with offered load `a`, by the stable recursion
/// B(0) = 1, B(k) = a·B(k−1) / (k + a·B(k−1)).
pub fn erlang_b(c: u32, a: f64) -> f64 {
    (1..=c).fold(1.0, |b, k| a * b / (k as f64 + a * b))
}

/// The blocking probability of an M/M/c/K queue (c servers, `queue` places
/// waiting, K = c + queue) with offered load `a` = λ/μ: the steady-state
/// probability that all K places are taken, which by PASTA is the fraction
/// of arrivals refused. p_n ∝ a^n/n! for n <= c and ∝ a^c/c!·(a/c)^(n−c)
/// above (Kleinrock, Queueing Systems I, §3.6), summed in logarithms so any
/// load and queue length stay finite. With no queue it is Erlang B, which
/// holds for any service-time distribution; with a queue it assumes
/// exponential service times.
pub fn mmck_blocking(c: u32, queue: u32, a: f64) -> f64 {
    if a <= 0.0 {
        return 0.0;
    }
    if queue == 0 {
        return erlang_b(c, a);
    }
    let (c, k) = (c.max(1) as u64, c as u64 + queue as u64);
    // ln p_n up to the common normalisation, from p_n = p_{n−1}·a/min(n, c).
    let mut log_terms = Vec::with_capacity(k as usize + 1);
    let mut log_p = 0.0;
    log_terms.push(log_p);
    for n in 1..=k {
        log_p += a.ln() - (n.min(c) as f64).ln();
        log_terms.push(log_p);
    }
    let max = log_terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = log_terms.iter().map(|l| (l - max).exp()).sum();
    (log_p - max).exp() / total
}

/// The q-quantile of the response time (wait + service) of an M/M/c queue
/// with arrival rate `lambda` and service rate `mu` per server, in seconds;
/// infinite when the queue is unstable. P(T > t) = (1−C)·e^(−μt) + C·P(W' +
/// S > t), with W' ~ Exp(cμ − λ) and S ~ Exp(μ) independent.
pub fn mmc_response_quantile(c: u32, lambda: f64, mu: f64, q: f64) -> f64 {
    let theta = c as f64 * mu - lambda;
    if theta <= 0.0 || mu <= 0.0 {
        return f64::INFINITY;
    }
    let wait = erlang_c(c, lambda / mu);
    let tail = |t: f64| {
        let sum_tail = if (theta - mu).abs() < 1e-9 * mu {
            (1.0 + mu * t) * (-mu * t).exp()
        } else {
            (theta * (-mu * t).exp() - mu * (-theta * t).exp()) / (theta - mu)
        };
        (1.0 - wait) * (-mu * t).exp() + wait * sum_tail
    };
    let target = 1.0 - q;
    let (mut lo, mut hi) = (0.0, 1.0 / mu);
    while tail(hi) > target {
        hi *= 2.0;
    }
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if tail(mid) > target { lo = mid } else { hi = mid }
    }
    hi
}

/// The analytic starting point of a capacity plan for one service.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeEstimate {
    /// Fewest nodes whose survivors, after losing `lose`, stay at or below
    /// `safe_utilization`.
    pub for_loss: u32,
    /// Fewest nodes whose survivors meet the p99 target by Erlang C (each
    /// node an M/M/c queue of its workers fed an equal share), if a target
    /// was given.
    pub for_latency: Option<u32>,
}

impl NodeEstimate {
    pub fn nodes(&self) -> u32 {
        self.for_loss.max(self.for_latency.unwrap_or(0))
    }
}

/// The largest node count an estimate states: the most nodes a scenario may
/// give a service (the latency search stops there too).
pub const MAX_ESTIMATE: u32 = 100_000;

/// Utilization the survivors of a loss may run at, by default: the usual
/// planning headroom for queueing delay and variability.
pub const SAFE_UTILIZATION: f64 = 0.85;

pub fn estimate_nodes(c: &ServiceCapacity, lose: u32, p99_s: Option<f64>, safe_utilization: f64) -> NodeEstimate {
    // A worker is held for the request's own work and its calls; with a
    // slowdown a node serves at most its effective capacity.
    let per_node = c.capacity_rps / c.nodes.max(1) as f64;
    let lambda = c.peak_offered_rps;
    // `as u32` saturates, so an absurd rate (1e308/s) gives u32::MAX, which
    // the estimate line prints as more than MAX_ESTIMATE; the addition must
    // saturate too, or it wraps to a small, false count.
    let survivors_needed = (lambda / (per_node * safe_utilization)).ceil().max(1.0) as u32;
    let for_loss = lose.saturating_add(survivors_needed);
    let for_latency = p99_s.map(|target| {
        // With a slowdown, each survivor count at its own slowed holding time.
        let mu = |rate: f64| 1.0 / c.slowdown.as_ref().map_or(c.mean_holding_s, |sd| sd.holding_at(rate));
        let p99 = |survivors: u32| {
            let rate = lambda / survivors as f64;
            mmc_response_quantile(c.workers, rate, mu(rate), 0.99)
        };
        let mut survivors = 1u32;
        while survivors < MAX_ESTIMATE && p99(survivors) > target {
            survivors += 1;
        }
        lose + survivors
    });
    NodeEstimate { for_loss, for_latency }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_c_known_values() {
        // c = 1: P(wait) = ρ.
        assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
        // A textbook case: c = 2, a = 1 -> C = 1/3.
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        // c = 4, a = 3.6 (the mmc model), from ../shared/validation/erlang.py:
        // P_wait = 0.787753, W_p99 = 12.1932 (mu = 1).
        assert!((erlang_c(4, 3.6) - 0.787753).abs() < 1e-6, "{}", erlang_c(4, 3.6));
        assert!((mmc_response_quantile(4, 3.6, 1.0, 0.99) - 12.1932).abs() < 1e-3);
        assert_eq!(erlang_c(3, 3.0), 1.0);
    }

    #[test]
    fn mmck_blocking_known_values() {
        // M/M/1/K: P_K = (1−ρ)ρ^K / (1−ρ^(K+1)); K = 1 + 4 places, ρ = 0.8.
        let rho: f64 = 0.8;
        let expected = (1.0 - rho) * rho.powi(5) / (1.0 - rho.powi(6));
        assert!((mmck_blocking(1, 4, rho) - expected).abs() < 1e-12, "{}", mmck_blocking(1, 4, rho));
        // At ρ = 1 the K + 1 = 11 states are equally likely.
        assert!((mmck_blocking(1, 9, 1.0) - 1.0 / 11.0).abs() < 1e-12);
        // Far above capacity nearly the excess is refused: 1 − 1/ρ.
        assert!((mmck_blocking(4, 1000, 8.0) - 0.5).abs() < 1e-9);
        // No queue: Erlang B (c = 2, a = 1: 1/5).
        assert!((mmck_blocking(2, 0, 1.0) - 0.2).abs() < 1e-12);
        // Huge loads and queues stay finite.
        assert!(mmck_blocking(64, 100_000, 1e6).is_finite());
    }

    #[test]
    fn mm1_response_quantile_is_exponential() {
        // M/M/1: T ~ Exp(μ − λ), p99 = ln(100)/(μ − λ).
        let p99 = mmc_response_quantile(1, 6.0, 10.0, 0.99);
        assert!((p99 - 100f64.ln() / 4.0).abs() < 1e-9, "{p99}");
        assert!(mmc_response_quantile(2, 20.0, 10.0, 0.99).is_infinite());
        // More servers at the same load never slow the quantile.
        assert!(mmc_response_quantile(3, 20.0, 10.0, 0.99) > mmc_response_quantile(4, 20.0, 10.0, 0.99));
    }
}
