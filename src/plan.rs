//! Capacity planning (`faultline plan`): the smallest fleet, or the largest
//! load, at which a service still meets its SLO after losing k nodes (or
//! the scenario's own faults), with stated confidence.
//!
//! A run meets the SLO when its success fraction reaches the availability
//! target and, if one is given, its p99 latency stays within the p99 target.
//! Each candidate (a node count, or a load multiplier) is a sequential Monte
//! Carlo test: runs are added in rounds and the test stops as soon as the
//! 95% Wilson interval of P(SLO met) lies wholly above the confidence
//! target (pass) or wholly below it (fail); a candidate still undecided at
//! the run limit counts as not safe. The search starts from the analytic
//! estimate (Erlang C for the latency target, u·N/(N−k) for the loss) and
//! relies on the answer being monotone: more nodes, or less load, never
//! hurt. Run i of every candidate uses the same seeds (common random
//! numbers), so neighbouring candidates differ by their settings, not luck.
//!
//! Walking up from a failing estimate, the search stops early when a node
//! more brings no significant rise in P(SLO met) (one-sided Fisher exact
//! test at 5% against the candidate before) although capacity is not what
//! fails: the survivors alone, N − k nodes that never saw the loss, meet
//! the SLO. Then the requests lost in the transition (sent to the lost
//! nodes before the balancer noticed) break the SLO, and more nodes only
//! dilute them by 1/N; the plan says so instead of recommending a fleet
//! sized to hide the detection time.

use crate::analysis::{self, NodeEstimate};
use crate::model::{Fault, FaultKind, NodeSelection, Scenario};
use crate::monte_carlo::{self, Controls, RunRow};
use crate::sim::SimError;
use crate::stats::{Proportion, fisher_rise_p, wilson};
use crate::time::{SimDuration, SimTime};

/// What is varied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Vary {
    Nodes,
    Rate,
}

/// The question.
#[derive(Debug, Clone)]
pub struct PlanSpec {
    pub service: usize,
    /// Nodes of the service lost (crashed for good) early in each run; 0
    /// keeps the scenario's own faults instead.
    pub lose: u32,
    /// Success fraction a run must reach, e.g. 0.999.
    pub availability: f64,
    /// p99 latency a run must stay within [s].
    pub p99_s: Option<f64>,
    /// Required P(SLO met), e.g. 0.95.
    pub confidence: f64,
    pub vary: Vary,
    pub max_nodes: u32,
    /// Runs per candidate at most.
    pub max_runs: u64,
    /// Runs added per round of the sequential test.
    pub round: u64,
}

/// Outcome of a candidate's sequential test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Pass,
    Fail,
    /// The interval still straddles the target at the run limit.
    Undecided,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Undecided => "undecided",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Node count (vary nodes) or the service's peak offered rate [req/s]
    /// (vary rate).
    pub value: f64,
    pub nodes: u32,
    pub rate_rps: f64,
    /// Peak offered load over capacity with every node up.
    pub utilization: f64,
    /// The same after losing `lose` nodes.
    pub survivors_utilization: f64,
    pub slo_met: Proportion,
    pub verdict: Verdict,
    pub mean_success: f64,
    /// Mean across runs of the run's p99 [ms] (runs with a p99).
    pub mean_p99_ms: Option<f64>,
}

pub struct PlanResult {
    pub scenario: String,
    pub vary: Vary,
    pub estimate: NodeEstimate,
    /// In the order tried.
    pub candidates: Vec<Candidate>,
    /// The smallest passing node count, or the largest passing rate.
    pub recommendation: Option<Candidate>,
    /// A failing node count at which capacity sufficed: its survivors
    /// alone met the SLO, so the transition broke it (see the module docs).
    /// Without a recommendation, the walk up stopped there: the node brought
    /// no significant rise in P(SLO met).
    pub transition_bound: Option<TransitionBound>,
    pub runs_used: u64,
}

/// A node count that fails the SLO only because of the transition.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionBound {
    pub nodes: u32,
    /// P(SLO met) of the N − k survivors run without the loss.
    pub survivors_slo_met: Proportion,
}

impl PlanResult {
    /// Runs a fixed-size design would have used: `max_runs` per candidate.
    pub fn runs_fixed(&self, max_runs: u64) -> u64 {
        self.candidates.len() as u64 * max_runs
    }

    /// The candidate with the highest P(SLO met) (when none passed).
    pub fn best(&self) -> Option<&Candidate> {
        self.candidates.iter().max_by(|a, b| a.slo_met.p.total_cmp(&b.slo_met.p))
    }
}

/// When the lost nodes fail: 5% into the measured window, so nearly all of
/// each run shows the fleet after the loss, including the transition.
pub fn failure_time(scenario: &Scenario) -> SimTime {
    let sim = &scenario.simulation;
    let measured = sim.duration.0.saturating_sub(sim.warmup.0);
    SimTime(sim.warmup.0 + measured / 20)
}

/// The scenario of one candidate.
fn variant(base: &Scenario, spec: &PlanSpec, nodes: u32, rate_factor: f64) -> Scenario {
    let mut s = base.clone();
    s.services[spec.service].nodes = nodes;
    for t in &mut s.traffic {
        for step in &mut t.rate.steps {
            step.per_sec *= rate_factor;
        }
        // A closed loop's load scales with its users (a whole number of them).
        if let Some(c) = t.closed_loop.as_mut()
            && rate_factor != 1.0
        {
            for step in &mut c.population {
                // At least one user where there were some: a step scaled to
                // no one would stop the traffic rather than lighten it.
                let scaled = (step.users as f64 * rate_factor).round() as u32;
                step.users = if step.users > 0 { scaled.max(1) } else { 0 };
            }
        }
        // Bursts scale with the load; replayed timestamps cannot.
        for burst in &mut t.bursts {
            burst.requests = (burst.requests as f64 * rate_factor).round().max(1.0) as u32;
        }
    }
    if spec.lose > 0 {
        s.faults = vec![Fault {
            kind: FaultKind::Crash,
            service: spec.service,
            nodes: NodeSelection::List((0..spec.lose).collect()),
            at: failure_time(base),
            duration: None::<SimDuration>,
        }];
    }
    s
}

fn slo_met(spec: &PlanSpec, row: &RunRow) -> bool {
    let success = row.values[SUCCESS].unwrap_or(0.0);
    let latency_ok = match spec.p99_s {
        None => true,
        Some(target) => row.values[P99].is_some_and(|ms| ms <= target * 1000.0),
    };
    success >= spec.availability && latency_ok
}

/// Significance of the one-sided test that a node more raised P(SLO met).
const RISE_ALPHA: f64 = 0.05;

const SUCCESS: usize = 2;
const P99: usize = 6;

/// Runs one candidate's sequential test.
fn evaluate(
    scenario: &Scenario,
    spec: &PlanSpec,
    controls: &Controls,
    runs_used: &mut u64,
) -> Result<(Proportion, Verdict, f64, Option<f64>), SimError> {
    debug_assert_eq!(monte_carlo::RUN_METRICS[SUCCESS], "success_fraction");
    debug_assert_eq!(monte_carlo::RUN_METRICS[P99], "latency_p99_ms");
    let mut rows: Vec<RunRow> = Vec::new();
    loop {
        let start = rows.len() as u64;
        let end = (start + spec.round).min(spec.max_runs);
        let (_, finished) = monte_carlo::run_range(scenario, start..end, controls, &mut |row| rows.push(row.clone()))?;
        *runs_used += rows.len() as u64 - start;
        let met = rows.iter().filter(|r| slo_met(spec, r)).count() as u64;
        let p = wilson(met, rows.len() as u64);
        let verdict = if p.ci95_low > spec.confidence {
            Some(Verdict::Pass)
        } else if p.ci95_high < spec.confidence {
            Some(Verdict::Fail)
        } else if end >= spec.max_runs || !finished {
            Some(Verdict::Undecided)
        } else {
            None
        };
        if let Some(v) = verdict {
            let n = rows.len().max(1) as f64;
            let success = rows.iter().map(|r| r.values[SUCCESS].unwrap_or(0.0)).sum::<f64>() / n;
            let p99s: Vec<f64> = rows.iter().filter_map(|r| r.values[P99]).collect();
            let p99 = (!p99s.is_empty()).then(|| p99s.iter().sum::<f64>() / p99s.len() as f64);
            return Ok((p, v, success, p99));
        }
    }
}

/// Offered load, capacity figures of the service in a scenario.
fn loads(s: &Scenario, spec: &PlanSpec) -> (f64, f64, f64) {
    let cap = &analysis::capacity(s)[spec.service];
    let n = cap.nodes as f64;
    let survivors = (n - spec.lose as f64).max(0.0);
    let after = if survivors > 0.0 { cap.utilization * n / survivors } else { f64::INFINITY };
    (cap.peak_offered_rps, cap.utilization, after)
}

/// Searches for the answer.
pub fn plan(
    base: &Scenario,
    spec: &PlanSpec,
    controls: &Controls,
    on_candidate: &mut dyn FnMut(&Candidate),
) -> Result<PlanResult, SimError> {
    let cap = &analysis::capacity(base)[spec.service];
    let estimate = analysis::estimate_nodes(cap, spec.lose, spec.p99_s, analysis::SAFE_UTILIZATION);
    let mut runs_used = 0;
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut transition_bound = None;
    let mut try_one = |nodes: u32,
                       factor: f64,
                       candidates: &mut Vec<Candidate>,
                       runs_used: &mut u64|
     -> Result<Candidate, SimError> {
        let s = variant(base, spec, nodes, factor);
        let (slo, verdict, success, p99) = evaluate(&s, spec, controls, runs_used)?;
        let (rate, utilization, after) = loads(&s, spec);
        let c = Candidate {
            value: match spec.vary {
                Vary::Nodes => nodes as f64,
                Vary::Rate => rate,
            },
            nodes,
            rate_rps: rate,
            utilization,
            survivors_utilization: after,
            slo_met: slo,
            verdict,
            mean_success: success,
            mean_p99_ms: p99,
        };
        on_candidate(&c);
        candidates.push(c.clone());
        Ok(c)
    };
    let recommendation = match spec.vary {
        Vary::Nodes => {
            let lowest = (spec.lose + 1).max(min_nodes(base, spec));
            let start = estimate.nodes().clamp(lowest, spec.max_nodes.max(lowest));
            let first = try_one(start, 1.0, &mut candidates, &mut runs_used)?;
            if first.verdict == Verdict::Pass {
                // Walk down while it still passes.
                let mut best = first;
                let mut n = start;
                while n > lowest {
                    n -= 1;
                    let c = try_one(n, 1.0, &mut candidates, &mut runs_used)?;
                    if c.verdict != Verdict::Pass {
                        break;
                    }
                    best = c;
                }
                Some(best)
            } else {
                let mut found = None;
                let mut previous = first;
                while previous.nodes < spec.max_nodes {
                    let c = try_one(previous.nodes + 1, 1.0, &mut candidates, &mut runs_used)?;
                    if c.verdict == Verdict::Pass {
                        found = Some(c);
                        break;
                    }
                    let (a, b) = (&previous.slo_met, &c.slo_met);
                    let rose = fisher_rise_p(a.successes, a.n, b.successes, b.n) < RISE_ALPHA;
                    if !rose {
                        // No significant rise: stop unless capacity is still
                        // what fails (then more nodes are the cure).
                        let bound = survivors_check(base, spec, c.nodes, controls, &mut runs_used)?;
                        if bound.is_some() {
                            transition_bound = bound;
                            break;
                        }
                    }
                    previous = c;
                }
                found
            }
        }
        Vary::Rate => {
            // Start where the survivors would sit at the safe utilization.
            let nodes = base.services[spec.service].nodes;
            let survivors = nodes.saturating_sub(spec.lose).max(1) as f64;
            let per_node = cap.workers as f64 / cap.mean_holding_s.max(1e-12);
            let target_rate = survivors * per_node * analysis::SAFE_UTILIZATION;
            let start = if cap.peak_offered_rps > 0.0 { target_rate / cap.peak_offered_rps } else { 1.0 };
            let mut pass: Option<(f64, Candidate)> = None;
            let mut fail: Option<f64> = None;
            let mut f = start;
            // Bracket: step by 15% until one side passes and the other fails.
            for _ in 0..40 {
                let c = try_one(nodes, f, &mut candidates, &mut runs_used)?;
                if c.verdict == Verdict::Pass {
                    pass = Some((f, c));
                    if fail.is_some() {
                        break;
                    }
                    f *= 1.15;
                } else {
                    fail = Some(f);
                    if pass.is_some() {
                        break;
                    }
                    // A tenth of the estimate still fails: the loss itself
                    // breaks the SLO (detection time, say), not the load.
                    if f < start / 10.0 {
                        break;
                    }
                    f /= 1.15;
                }
            }
            // Bisect to 1% of the rate.
            if let (Some((mut lo, mut best)), Some(mut hi)) = (pass.clone(), fail) {
                while hi / lo > 1.01 {
                    let mid = (lo * hi).sqrt();
                    let c = try_one(nodes, mid, &mut candidates, &mut runs_used)?;
                    if c.verdict == Verdict::Pass {
                        lo = mid;
                        best = c;
                    } else {
                        hi = mid;
                    }
                }
                Some(best)
            } else {
                pass.map(|p| p.1)
            }
        }
    };
    // The node count that failed just below the answer: did its survivors
    // have the capacity (so the last node only dilutes the transition)?
    if let Some(found) = &recommendation
        && spec.vary == Vary::Nodes
        && candidates.iter().any(|c| c.nodes + 1 == found.nodes && c.verdict != Verdict::Pass)
    {
        transition_bound = survivors_check(base, spec, found.nodes - 1, controls, &mut runs_used)?;
    }
    Ok(PlanResult {
        scenario: base.name.clone(),
        vary: spec.vary,
        estimate,
        candidates,
        recommendation,
        transition_bound,
        runs_used,
    })
}

/// Runs the `nodes − lose` survivors without the loss (with `lose` 0: the
/// fleet without the scenario's faults): if they meet the SLO, `nodes` had
/// the capacity and only the transition failed it. A scenario without
/// faults has no transition to blame.
fn survivors_check(
    base: &Scenario,
    spec: &PlanSpec,
    nodes: u32,
    controls: &Controls,
    runs_used: &mut u64,
) -> Result<Option<TransitionBound>, SimError> {
    let survivors = nodes.saturating_sub(spec.lose);
    if survivors == 0 || (spec.lose == 0 && base.faults.is_empty()) {
        return Ok(None);
    }
    let mut s = variant(base, spec, survivors, 1.0);
    s.faults.clear();
    let (slo, verdict, _, _) = evaluate(&s, spec, controls, runs_used)?;
    Ok((verdict == Verdict::Pass).then_some(TransitionBound { nodes, survivors_slo_met: slo }))
}

/// Nodes the scenario's own faults need to exist (they name node indices).
fn min_nodes(base: &Scenario, spec: &PlanSpec) -> u32 {
    if spec.lose > 0 {
        return 1;
    }
    base.faults
        .iter()
        .filter(|f| f.service == spec.service)
        .map(|f| match &f.nodes {
            NodeSelection::List(list) => list.iter().max().map_or(1, |m| m + 1),
            NodeSelection::Random(k) => *k,
            NodeSelection::All => 1,
        })
        .max()
        .unwrap_or(1)
}
