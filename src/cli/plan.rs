//! The `plan` subcommand: argument parsing and terminal output around
//! [`faultline::plan`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};

use faultline::analysis;
use faultline::monte_carlo::Controls;
use faultline::plan::{self, PlanSpec, Vary};
use faultline::report;
use faultline::time::{SimDuration, parse_duration};

use super::exec;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum VaryArg {
    /// The smallest node count that meets the SLO.
    Nodes,
    /// The largest load (all traffic scaled together) that meets the SLO.
    Rate,
}

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// Scenario file (TOML).
    scenario: PathBuf,
    /// The service to size.
    #[arg(long, value_name = "NAME")]
    service: String,
    /// Nodes of the service to lose: they crash for good 5% into the
    /// measured window, replacing the scenario's faults. 0 keeps the
    /// scenario's own faults (which may be a zone or region outage).
    #[arg(long, value_name = "K", default_value_t = 0)]
    lose: u32,
    /// Availability target [%]: a run meets the SLO when at least this share
    /// of its requests succeed.
    #[arg(long, value_name = "PCT", default_value_t = 99.9)]
    slo_availability: f64,
    /// p99 latency target, e.g. 250ms: a run's p99 must stay within it.
    #[arg(long, value_name = "D")]
    slo_p99: Option<String>,
    /// Required probability that a run meets the SLO.
    #[arg(long, value_name = "P", default_value_t = 0.95)]
    confidence: f64,
    /// What to search over.
    #[arg(long, value_enum, default_value = "nodes")]
    vary: VaryArg,
    /// Largest node count to try.
    #[arg(long, value_name = "M", default_value_t = 64)]
    max_nodes: u32,
    /// Most runs per candidate (the sequential test usually stops earlier).
    #[arg(long, value_name = "N", default_value_t = 200)]
    max_runs: u64,
    /// Base seed (overrides `simulation.seed`).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Simulated duration of every run (overrides `simulation.duration`).
    #[arg(long, value_name = "D")]
    duration: Option<String>,
    /// Output folder [default: output/<scenario name>-plan/].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[command(flatten)]
    exec: exec::ExecArgs,
}

pub fn plan(args: PlanArgs) -> Result<ExitCode> {
    let mut scenario = faultline::Scenario::from_file(&args.scenario)?;
    if let Some(seed) = args.seed {
        scenario.simulation.seed = seed;
    }
    if let Some(text) = &args.duration {
        let d = parse_duration(text).map_err(|e| anyhow!("--duration: {e}"))?;
        super::apply_duration(&mut scenario, d)?;
    }
    let Some(service) = scenario.services.iter().position(|s| s.name == args.service) else {
        let names: Vec<&str> = scenario.services.iter().map(|s| s.name.as_str()).collect();
        bail!(
            "--service: no service \"{}\" in {} (it has: {})",
            args.service,
            args.scenario.display(),
            names.join(", ")
        );
    };
    let vary = match args.vary {
        VaryArg::Nodes => Vary::Nodes,
        VaryArg::Rate => Vary::Rate,
    };
    if scenario.services[service].serverless.is_some() {
        if matches!(vary, Vary::Nodes) {
            bail!(
                "--vary nodes: service \"{0}\" is serverless and sizes itself; plan its load with --vary rate --lose 0, or sweep services.{0}.serverless.concurrency",
                args.service
            );
        }
        if args.lose > 0 {
            bail!("--lose: service \"{}\" is serverless and has no nodes to lose; use --lose 0", args.service);
        }
    }
    if scenario.services[service].autoscaling.is_some() && matches!(vary, Vary::Nodes) {
        bail!("--vary nodes: service \"{}\" autoscales; plan a fixed-size service, or --vary rate", args.service);
    }
    if !(args.slo_availability > 0.0 && args.slo_availability <= 100.0) {
        bail!("--slo-availability: {} is not a percentage in (0, 100]", args.slo_availability);
    }
    if !(args.confidence > 0.0 && args.confidence < 1.0) {
        bail!("--confidence: {} is not a probability in (0, 1)", args.confidence);
    }
    if args.max_runs < 10 {
        bail!("--max-runs: at least 10 runs per candidate");
    }
    let nodes = scenario.services[service].nodes;
    if args.lose > 0 && matches!(vary, Vary::Rate) && args.lose >= nodes {
        bail!("--lose {}: the service has only {nodes} nodes", args.lose);
    }
    if args.max_nodes <= args.lose {
        bail!("--max-nodes: must be more than --lose ({})", args.lose);
    }
    let p99_s = args
        .slo_p99
        .as_deref()
        .map(|t| parse_duration(t).map(|d| d.as_secs_f64()).map_err(|e| anyhow!("--slo-p99: {e}")))
        .transpose()?;
    let threads = exec::threads(args.exec.threads)?;
    // One candidate at the most runs; the search tries a handful.
    exec::guard(&[&scenario], args.max_runs, threads, args.exec.force, args.exec.quiet)?;
    let spec = PlanSpec {
        service,
        lose: args.lose,
        availability: args.slo_availability / 100.0,
        p99_s,
        confidence: args.confidence,
        vary,
        max_nodes: args.max_nodes,
        max_runs: args.max_runs,
        round: 25,
    };
    let cap = &analysis::capacity(&scenario)[service];
    let estimate = analysis::estimate_nodes(cap, args.lose, p99_s, analysis::SAFE_UTILIZATION);
    if !args.exec.quiet {
        let failure = if args.lose > 0 {
            format!("losing {} node(s) at {}", args.lose, plan::failure_time(&scenario))
        } else if scenario.faults.is_empty() {
            "no failure".to_string()
        } else {
            format!("the scenario's {} fault(s)", scenario.faults.len())
        };
        println!(
            "{}: plan for service {} under {failure}; SLO: availability {}%{}, met with probability {}",
            scenario.name,
            args.service,
            args.slo_availability,
            args.slo_p99.as_deref().map_or(String::new(), |p| format!(", p99 <= {p}")),
            args.confidence
        );
        println!("  {}", estimate_line(&estimate, args.lose));
    }
    // The folder is claimed before the search, which can take long.
    let out = args.out.clone().unwrap_or_else(|| Path::new("output").join(format!("{}-plan", scenario.name)));
    report::folder::claim(&out, report::folder::Kind::Plan, args.exec.force, false).map_err(anyhow::Error::msg)?;
    let controls = Controls::new(threads).map_err(|e| anyhow!(e))?;
    let quiet = args.exec.quiet;
    if !quiet {
        print!("{}", report::plan_table_header(vary));
    }
    let result = plan::plan(&scenario, &spec, &controls, &mut |c| {
        if !quiet {
            print!("{}", report::plan_table_row(c, vary));
        }
    })?;
    report::write_files(&out, &[("plan.csv", report::plan_csv(&result, args.confidence))])
        .with_context(|| format!("writing results to {}", out.display()))?;
    let charts = super::charts(&out, args.exec.no_charts)?;
    let charts = charts + &super::report_files(&out, &args.exec, &args.scenario)?;
    let fixed = result.runs_fixed(args.max_runs);
    if !args.exec.quiet {
        match &result.recommendation {
            Some(r) => match vary {
                Vary::Nodes => println!(
                    "recommendation: {} nodes (P(SLO met) {:.3}, 95% CI [{:.3}, {:.3}]); utilization {:.1}% with all up, \
                     {:.1}% after losing {} (headroom {:.1}%)",
                    r.nodes,
                    r.slo_met.p,
                    r.slo_met.ci95_low,
                    r.slo_met.ci95_high,
                    r.utilization * 100.0,
                    r.survivors_utilization * 100.0,
                    args.lose,
                    (1.0 - r.survivors_utilization) * 100.0
                ),
                Vary::Rate => println!(
                    "recommendation: at most {:.1} req/s on {} nodes ({:.2}x today's {:.1} req/s); utilization {:.1}% \
                     with all up, {:.1}% after losing {}",
                    r.rate_rps,
                    r.nodes,
                    r.rate_rps / cap.peak_offered_rps.max(1e-12),
                    cap.peak_offered_rps,
                    r.utilization * 100.0,
                    r.survivors_utilization * 100.0,
                    args.lose
                ),
            },
            None if let Some(t) = &result.transition_bound => {
                let n = result.candidates.len();
                let (before, last) = (&result.candidates[n - 2], &result.candidates[n - 1]);
                println!(
                    "no recommendation: {} nodes did not significantly raise P(SLO met) over {} (one-sided Fisher \
                     test at 5%), and capacity is not what fails, so the search stopped",
                    last.nodes, before.nodes
                );
                println!(
                    "  the SLO is bounded by the transition, not capacity: {} meet it (P {:.3}), but {} fail it; \
                     more nodes only dilute the requests lost before the failure is routed around (success \
                     {:.3}% -> {:.3}% for a node more). {}",
                    survivors_phrase(t.nodes, args.lose),
                    t.survivors_slo_met.p,
                    failure_phrase(t.nodes, args.lose),
                    before.mean_success * 100.0,
                    last.mean_success * 100.0,
                    detection(&scenario, service)
                );
            }
            None => {
                let best = result.best().map_or(String::new(), |b| match vary {
                    Vary::Nodes => format!(" (best found: {} nodes, P(SLO met) {:.3})", b.nodes, b.slo_met.p),
                    Vary::Rate => format!(" (best found: {:.1} req/s, P(SLO met) {:.3})", b.rate_rps, b.slo_met.p),
                });
                println!("no recommendation within the limits{best}");
                if let Some(b) = result.best() {
                    println!(
                        "  the best candidate's runs averaged {:.3}% success against the {}% target{}",
                        b.mean_success * 100.0,
                        args.slo_availability,
                        if matches!(vary, Vary::Rate) {
                            "; lowering the load did not help, so the loss itself breaks the SLO \
                             (e.g. requests failed before the balancer noticed)"
                        } else {
                            "; more nodes kept raising P(SLO met) or capacity kept failing, up to --max-nodes"
                        }
                    );
                }
            }
        }
        if let (Some(r), Some(t)) = (&result.recommendation, &result.transition_bound) {
            println!(
                "  note: {} nodes have the capacity ({} meet the SLO, P {:.3}); node {} only dilutes the requests \
                 lost before the failure is routed around. {}",
                t.nodes,
                survivors_phrase(t.nodes, args.lose),
                t.survivors_slo_met.p,
                r.nodes,
                detection(&scenario, service)
            );
        }
        println!(
            "sequential test: {} runs, against {fixed} for a fixed {} runs per candidate ({:.0}% saved)",
            result.runs_used,
            args.max_runs,
            100.0 * (1.0 - result.runs_used as f64 / fixed.max(1) as f64)
        );
        println!("wrote {}/plan.csv{charts}", out.display());
    }
    Ok(if result.recommendation.is_some() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The fleet a transition check ran: the survivors without the loss, or
/// (`--lose 0`) the fleet without the scenario's faults.
fn survivors_phrase(nodes: u32, lose: u32) -> String {
    match lose {
        0 => format!("{nodes} nodes without the scenario's faults"),
        _ => format!("{} nodes without the loss", nodes - lose),
    }
}

fn failure_phrase(nodes: u32, lose: u32) -> String {
    match lose {
        0 => format!("{nodes} nodes under the faults"),
        _ => format!("{nodes} nodes losing {lose}"),
    }
}

/// How long a lost node keeps receiving traffic, from the balancers in
/// front of `service`: the lever that shortens the transition.
fn detection(scenario: &faultline::Scenario, service: usize) -> String {
    let mut parts = Vec::new();
    for b in scenario.balancers.iter().filter(|b| b.service == service) {
        match &b.health_check {
            Some(h) => parts.push(format!(
                "balancer {} removes a lost node after {} failed checks every {} (up to {} plus the {} check \
                 timeout); shorten that",
                b.name,
                h.unhealthy_threshold,
                h.interval,
                SimDuration(h.interval.0 * h.unhealthy_threshold as u64),
                h.timeout
            )),
            None if b.outlier_detection.is_some() => {
                parts.push(format!("balancer {} removes a lost node only by outlier ejection", b.name))
            }
            None => parts.push(format!("balancer {} has no health checks, so it never removes a lost node", b.name)),
        }
    }
    if parts.is_empty() {
        return "Nothing health-checks the service, so lost nodes are never removed; put a balancer with health \
                checks in front of it."
            .to_string();
    }
    format!("Detection: {}.", parts.join("; "))
}

/// The analytic estimate as one line (also printed by `check`).
pub fn estimate_line(e: &analysis::NodeEstimate, lose: u32) -> String {
    // Beyond the most nodes a service may have, the count says nothing true.
    let count = |n: u32| {
        if n > analysis::MAX_ESTIMATE { format!("more than {}", analysis::MAX_ESTIMATE) } else { n.to_string() }
    };
    let mut text = format!(
        "analytic estimate: {} nodes (survivors of losing {lose} at <= {:.0}%: {}",
        count(e.nodes()),
        analysis::SAFE_UTILIZATION * 100.0,
        count(e.for_loss)
    );
    if let Some(l) = e.for_latency {
        text.push_str(&format!("; p99 target by Erlang C: {}", count(l)));
    }
    text.push(')');
    text
}
