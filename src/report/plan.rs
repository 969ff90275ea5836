//! Output of a capacity plan: plan.csv (one row per candidate tried) and
//! the table `faultline plan` prints.

use super::{csv_bytes, num};
use crate::plan::{Candidate, PlanResult, Vary};

pub const PLAN_COLUMNS: [&str; 17] = [
    "scenario",
    "vary",
    "value",
    "nodes",
    "rate_rps",
    "utilization",
    "survivors_utilization",
    "runs",
    "slo_met",
    "p_slo_met",
    "ci95_low",
    "ci95_high",
    "confidence",
    "verdict",
    "mean_success",
    "mean_p99_ms",
    "recommended",
];

fn vary_name(v: Vary) -> &'static str {
    match v {
        Vary::Nodes => "nodes",
        Vary::Rate => "rate",
    }
}

/// `plan.csv`: the candidates in the order tried.
pub fn plan_csv(r: &PlanResult, confidence: f64) -> Vec<u8> {
    let rows = r.candidates.iter().map(|c| {
        let recommended = r.recommendation.as_ref() == Some(c);
        vec![
            r.scenario.clone(),
            vary_name(r.vary).to_string(),
            num(Some(c.value)),
            c.nodes.to_string(),
            num(Some(c.rate_rps)),
            num(Some(c.utilization)),
            num(Some(c.survivors_utilization)),
            c.slo_met.n.to_string(),
            c.slo_met.successes.to_string(),
            num(Some(c.slo_met.p)),
            num(Some(c.slo_met.ci95_low)),
            num(Some(c.slo_met.ci95_high)),
            num(Some(confidence)),
            c.verdict.name().to_string(),
            num(Some(c.mean_success)),
            num(c.mean_p99_ms),
            (recommended as u8).to_string(),
        ]
    });
    csv_bytes(&PLAN_COLUMNS, rows)
}

/// One candidate as a row of the table `faultline plan` prints.
pub fn plan_table_row(c: &Candidate, vary: Vary) -> String {
    let value = match vary {
        Vary::Nodes => format!("{:>7}", c.nodes),
        Vary::Rate => format!("{:>9.1}", c.rate_rps),
    };
    format!(
        "  {value}  {:>5}  {:>10.3}  [{:.3}, {:.3}]  {:<9}  {:>8.3}%  {:>9}  {:>6.1}%  {:>6.1}%\n",
        c.slo_met.n,
        c.slo_met.p,
        c.slo_met.ci95_low,
        c.slo_met.ci95_high,
        c.verdict.name(),
        c.mean_success * 100.0,
        c.mean_p99_ms.map_or("-".to_string(), |p| format!("{p:.1}")),
        c.utilization * 100.0,
        c.survivors_utilization * 100.0,
    )
}

/// The header of that table.
pub fn plan_table_header(vary: Vary) -> String {
    let head = match vary {
        Vary::Nodes => "  nodes",
        Vary::Rate => "rate [/s]",
    };
    format!("  {head}   runs  P(SLO met)  95% CI          verdict     success   p99 [ms]    util.  after loss\n")
}
