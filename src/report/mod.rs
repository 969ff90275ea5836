//! Output files of a run: pure serialisers from a finished [`RunRecord`] to
//! bytes (CSV, JSON, the terminal summary), and the one place that writes
//! files, atomically (temp file + rename).

use std::fs;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

mod batch;
mod events;
pub mod folder;
mod plan;
pub mod postmortem;

pub use batch::*;
pub use events::EventsCsv;
pub use plan::*;

use crate::metrics::{RunRecord, RunSummary};
use crate::time::SimTime;

/// Exact decimal seconds from nanoseconds, without float noise: "1.5", "60".
pub fn secs_text(ns: u64) -> String {
    let whole = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    if frac == 0 {
        whole.to_string()
    } else {
        let text = format!("{whole}.{frac:09}");
        text.trim_end_matches('0').to_string()
    }
}

/// Fixed-precision float for CSV cells; empty when there is no value.
pub(crate) fn num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => {
            let text = format!("{x:.6}");
            let text = text.trim_end_matches('0').trim_end_matches('.');
            if text == "-0" { "0".to_string() } else { text.to_string() }
        }
        _ => String::new(),
    }
}

pub(crate) fn csv_bytes(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).expect("writing to memory");
    for row in rows {
        w.write_record(&row).expect("writing to memory");
    }
    w.into_inner().expect("flushing to memory")
}

pub const TIMESERIES_COLUMNS: [&str; 33] = [
    "run",
    "seed",
    "bin",
    "t_start_s",
    "t_end_s",
    "warmup",
    "offered",
    "retries",
    "completed",
    "failed_timeout",
    "failed_rejected",
    "failed_reset",
    "failed_error",
    "failed_shed",
    "failed_deadline",
    "failed_circuit_open",
    "failed_throttled",
    "failed_rate_limited",
    "failed_bulkhead",
    "late_responses",
    "in_flight",
    "offered_rps",
    "attempts_rps",
    "goodput_rps",
    "latency_p50_ms",
    "latency_p99_ms",
    "nodes_up",
    "nodes_unhealthy",
    "nodes_ejected",
    "nodes_down",
    "capacity_rps",
    "retry_amplification",
    "db_writes",
];

/// `timeseries.csv`: one row per bin.
pub fn timeseries_csv(r: &RunRecord) -> Vec<u8> {
    let warmup_end = SimTime::ZERO + r.warmup;
    let rows = r.bins.iter().enumerate().map(|(i, b)| {
        let width = (b.end - b.start).as_secs_f64();
        let per_sec = |x: u64| num((width > 0.0).then(|| x as f64 / width));
        let mut row = vec![
            r.run_index.to_string(),
            r.seed.to_string(),
            i.to_string(),
            secs_text(b.start.0),
            secs_text(b.end.0),
            ((b.start < warmup_end) as u8).to_string(),
            b.offered.to_string(),
            b.retries.to_string(),
            b.completed.to_string(),
        ];
        row.extend(b.failed.iter().map(|f| f.to_string()));
        row.extend([
            b.late_responses.to_string(),
            b.in_flight.to_string(),
            per_sec(b.offered),
            per_sec(b.offered + b.retries),
            per_sec(b.completed),
            num(b.latency_p50.map(|d| d.as_millis_f64())),
            num(b.latency_p99.map(|d| d.as_millis_f64())),
            b.fleet.up.to_string(),
            b.fleet.unhealthy.to_string(),
            b.fleet.ejected.to_string(),
            b.fleet.down.to_string(),
            num(Some(b.fleet.capacity_rps)),
            num((b.offered > 0).then(|| (b.offered + b.retries) as f64 / b.offered as f64)),
            b.db_writes.to_string(),
        ]);
        row.extend(feature_cells(&r.features, i, width));
        row
    });
    let mut header = TIMESERIES_COLUMNS.to_vec();
    header.extend(feature_columns(&r.features));
    csv_bytes(&header, rows)
}

/// `timeseries.csv` columns after [`TIMESERIES_COLUMNS`], each only when
/// the scenario has its feature (so other scenarios' files do not change).
pub const CACHE_COLUMNS: [&str; 3] = ["cache_hits", "cache_misses", "cache_hit_ratio"];
pub const DB_COLUMNS: [&str; 2] = ["db_writes_lost", "db_unreplicated"];
pub const SERVERLESS_COLUMNS: [&str; 2] = ["serverless_throttled", "serverless_throttled_rps"];

fn feature_columns(f: &crate::metrics::FeatureBins) -> Vec<&'static str> {
    let mut columns = Vec::new();
    if f.has_cache() {
        columns.extend(CACHE_COLUMNS);
    }
    if f.has_db() {
        columns.extend(DB_COLUMNS);
    }
    if f.has_serverless() {
        columns.extend(SERVERLESS_COLUMNS);
    }
    columns
}

fn feature_cells(f: &crate::metrics::FeatureBins, bin: usize, width: f64) -> Vec<String> {
    let mut cells = Vec::new();
    if let Some(&(hits, misses)) = f.cache.get(bin) {
        let lookups = hits + misses;
        cells.extend([hits.to_string(), misses.to_string(), num((lookups > 0).then(|| hits as f64 / lookups as f64))]);
    }
    if let Some(&(lost, unreplicated)) = f.db.get(bin) {
        cells.extend([lost.to_string(), unreplicated.to_string()]);
    }
    if let Some(&throttled) = f.serverless_throttled.get(bin) {
        cells.extend([throttled.to_string(), num((width > 0.0).then(|| throttled as f64 / width))]);
    }
    cells
}

/// `nodes.csv` column after [`NODES_COLUMNS`] with an `errors` fault.
pub const ERRORS_COLUMN: &str = "errors";

/// `nodes.csv` columns after those when a service models memory.
pub const MEMORY_COLUMNS: [&str; 2] = ["memory_mb", "memory_limit_mb"];

pub const EVENTS_COLUMNS: [&str; 7] = ["run", "seed", "t_s", "service", "node", "event", "detail"];

/// `events.csv`: one row per notable event, in time order.
pub fn events_csv(r: &RunRecord) -> Vec<u8> {
    csv_bytes(&EVENTS_COLUMNS, r.events.iter().map(|e| event_row(r.run_index, r.seed, e)))
}

/// One row of `events.csv`.
fn event_row(run: u64, seed: u64, e: &crate::metrics::LoggedEvent) -> Vec<String> {
    vec![
        run.to_string(),
        seed.to_string(),
        secs_text(e.t.0),
        e.service.clone(),
        e.node.map_or(String::new(), |n| n.to_string()),
        e.event.to_string(),
        e.detail.clone(),
    ]
}

pub const NODES_COLUMNS: [&str; 14] = [
    "run",
    "seed",
    "bin",
    "t_start_s",
    "t_end_s",
    "service",
    "node",
    "workers",
    "queue_len_avg",
    "busy_workers_avg",
    "utilization",
    "up_fraction",
    "served",
    "rejected",
];

/// `nodes.csv`: one row per (bin, node); gauges time-averaged over the bin.
pub fn nodes_csv(r: &RunRecord) -> Vec<u8> {
    let rows = r.node_bins.iter().map(|n| {
        let label = &r.nodes[n.node as usize];
        let mut row = bin_prefix(r, n.bin);
        row.extend([
            label.service.clone(),
            label.index.to_string(),
            label.workers.to_string(),
            num(Some(n.queue_len_avg)),
            num(Some(n.busy_workers_avg)),
            num(Some(n.busy_workers_avg / label.workers as f64)),
            num(Some(n.up_fraction)),
            n.served.to_string(),
            n.rejected.to_string(),
        ]);
        let at = n.bin as usize * r.nodes.len() + n.node as usize;
        if r.features.has_node_errors() {
            row.push(r.features.node_errors.get(at).map_or(String::new(), |e| e.to_string()));
        }
        if r.features.has_memory() {
            row.extend([
                num(r.features.memory_mb.get(at).copied().flatten()),
                num(r.features.memory_limit_mb[n.node as usize]),
            ]);
        }
        row
    });
    let mut header = NODES_COLUMNS.to_vec();
    if r.features.has_node_errors() {
        header.push(ERRORS_COLUMN);
    }
    if r.features.has_memory() {
        header.extend(MEMORY_COLUMNS);
    }
    csv_bytes(&header, rows)
}

#[derive(Serialize)]
struct SummaryFile<'a> {
    faultline_version: &'a str,
    scenario: &'a str,
    #[serde(flatten)]
    origin: &'a crate::model::Origin,
    run: u64,
    seed: u64,
    duration_s: f64,
    warmup_s: f64,
    bin_s: f64,
    slo: &'a crate::metrics::SloSummary,
    definitions: Definitions,
    #[serde(flatten)]
    summary: &'a RunSummary,
}

/// What the derived figures mean, stated in the file itself.
#[derive(Serialize)]
struct Definitions {
    utilization: &'static str,
    capacity_rps: &'static str,
}

const DEFINITIONS: Definitions = Definitions {
    utilization: "busy worker-time / available worker-time (workers usable while up: a capacity fault shrinks it)",
    capacity_rps: "client requests per second the system could serve for the offered mix at the bin's end: \
                   the smallest, over the services the mix reaches, of the service's rate (usable workers in \
                   rotation / mean service time) over its attempts per client request",
};

/// `summary.json`: the per-run statistics of a run of a scenario from `origin`.
pub fn summary_json(r: &RunRecord, origin: &crate::model::Origin) -> Vec<u8> {
    let file = SummaryFile {
        faultline_version: env!("CARGO_PKG_VERSION"),
        scenario: &r.scenario,
        origin,
        run: r.run_index,
        seed: r.seed,
        duration_s: r.duration.as_secs_f64(),
        warmup_s: r.warmup.as_secs_f64(),
        bin_s: r.bin.as_secs_f64(),
        slo: &r.slo,
        definitions: DEFINITIONS,
        summary: &r.summary,
    };
    let mut bytes = serde_json::to_vec_pretty(&file).expect("summary serialises");
    bytes.push(b'\n');
    bytes
}

/// The output files of one run of a scenario from `origin`, by file name.
pub fn run_files(r: &RunRecord, origin: &crate::model::Origin) -> Vec<(&'static str, Vec<u8>)> {
    let mut files =
        vec![("timeseries.csv", timeseries_csv(r)), ("nodes.csv", nodes_csv(r)), ("events.csv", events_csv(r))];
    if !r.class_bins.is_empty() {
        files.push(("classes.csv", classes_csv(r)));
    }
    if !r.service_bins.is_empty() {
        files.push(("services.csv", services_csv(r)));
    }
    files.push(("summary.json", summary_json(r, origin)));
    files
}

pub const CLASSES_COLUMNS: [&str; 11] = [
    "run",
    "seed",
    "bin",
    "t_start_s",
    "t_end_s",
    "class",
    "offered",
    "completed",
    "failed",
    "goodput_rps",
    "success_fraction",
];

pub const SERVICES_COLUMNS: [&str; 9] =
    ["run", "seed", "bin", "t_start_s", "t_end_s", "service", "attempts", "attempts_rps", "amplification"];

/// The columns every per-bin row starts with: run, seed, bin and its bounds.
fn bin_prefix(r: &RunRecord, bin: u32) -> Vec<String> {
    let b = &r.bins[bin as usize];
    vec![r.run_index.to_string(), r.seed.to_string(), bin.to_string(), secs_text(b.start.0), secs_text(b.end.0)]
}

/// `services.csv`: one row per (bin, service), with calls between services.
pub fn services_csv(r: &RunRecord) -> Vec<u8> {
    let rows = r.service_bins.iter().map(|x| {
        let bin = &r.bins[x.bin as usize];
        let width = (bin.end - bin.start).as_secs_f64();
        let mut row = bin_prefix(r, x.bin);
        row.extend([
            r.summary.services[x.service as usize].service.clone(),
            x.attempts.to_string(),
            num((width > 0.0).then(|| x.attempts as f64 / width)),
            num((bin.offered > 0).then(|| x.attempts as f64 / bin.offered as f64)),
        ]);
        row
    });
    csv_bytes(&SERVICES_COLUMNS, rows)
}

/// `classes.csv`: one row per (bin, request class).
pub fn classes_csv(r: &RunRecord) -> Vec<u8> {
    let rows = r.class_bins.iter().map(|c| {
        let bin = &r.bins[c.bin as usize];
        let width = (bin.end - bin.start).as_secs_f64();
        let finished = c.completed + c.failed;
        let mut row = bin_prefix(r, c.bin);
        row.extend([
            r.summary.classes[c.class as usize].class.clone(),
            c.offered.to_string(),
            c.completed.to_string(),
            c.failed.to_string(),
            num((width > 0.0).then(|| c.completed as f64 / width)),
            num((finished > 0).then(|| c.completed as f64 / finished as f64)),
        ]);
        row
    });
    csv_bytes(&CLASSES_COLUMNS, rows)
}

/// Writes each file into `dir` (created if needed) via a temporary file and
/// a rename, so a reader never sees a half-written file under the real name.
pub fn write_files(dir: &Path, files: &[(&str, Vec<u8>)]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    for (name, bytes) in files {
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let result = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, dir.join(name))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
    }
    Ok(())
}

fn ms(v: Option<f64>) -> String {
    match v {
        Some(x) if x >= 100.0 => format!("{x:.0} ms"),
        Some(x) if x >= 1.0 => format!("{x:.1} ms"),
        Some(x) => format!("{x:.3} ms"),
        None => "-".to_string(),
    }
}

fn pct(x: f64) -> String {
    if x == 0.0 {
        "0%".to_string()
    } else if x < 0.001 {
        format!("{:.3}%", x * 100.0)
    } else {
        format!("{:.1}%", x * 100.0)
    }
}

/// The compact human summary `faultline run` prints.
pub fn summary_text(r: &RunRecord) -> String {
    let s = &r.summary;
    let mut out = String::new();
    out.push_str(&format!(
        "{}: run {} seed {}, {} simulated ({} warm-up excluded), {} events\n",
        r.scenario, r.run_index, r.seed, r.duration, r.warmup, s.events
    ));
    let f = &s.failed;
    let failures: Vec<String> = [
        ("timed out", f.timeout),
        ("rejected", f.rejected),
        ("reset", f.reset),
        ("errors", f.error),
        ("shed", f.shed),
        ("past deadline", f.deadline),
        ("refused by the circuit breaker", f.circuit_open),
        ("throttled", f.throttled),
        ("rate-limited", f.rate_limited),
        ("refused by a full bulkhead", f.bulkhead),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(what, n)| format!("{n} {what}"))
    .collect();
    out.push_str(&format!(
        "  requests   {} offered ({:.1}/s): {} ok ({}), {} failed{}\n",
        s.offered,
        s.offered_rps,
        s.completed,
        pct(s.success_fraction),
        f.total(),
        if failures.is_empty() { String::new() } else { format!(" ({})", failures.join(", ")) }
    ));
    out.push_str(&format!("  throughput {:.1}/s\n", s.throughput_rps));
    if s.traffic.len() > 1 {
        for t in &s.traffic {
            out.push_str(&format!(
                "  client {:<12} {} offered: {} ok ({}), {} failed\n",
                t.source,
                t.offered,
                t.completed,
                pct(t.success_fraction),
                t.failed
            ));
        }
    }
    for c in &s.classes {
        out.push_str(&format!(
            "  class {:<13} {} offered: {} ok ({}), {} failed, p99 {}\n",
            c.class,
            c.offered,
            c.completed,
            pct(c.success_fraction),
            c.failed.total(),
            ms(c.latency_ms.p99)
        ));
    }
    if s.retries > 0 {
        out.push_str(&format!(
            "  retries    {} (amplification {:.2}x overall, {:.2}x at peak)\n",
            s.retries, s.retry_amplification, s.peak_retry_amplification
        ));
    }
    let l = &s.latency_ms;
    out.push_str(&format!(
        "  latency    p50 {}  p90 {}  p99 {}  p99.9 {}  mean {}\n",
        ms(l.p50),
        ms(l.p90),
        ms(l.p99),
        ms(l.p999),
        ms(s.mean_response_ms)
    ));
    out.push_str(&format!(
        "  queueing   mean wait {}  p99 wait {}  P(wait > 0) {}\n",
        ms(s.mean_wait_ms),
        ms(s.wait_ms.p99),
        s.p_wait.map_or("-".to_string(), pct)
    ));
    for svc in &s.services {
        let per_node: Vec<String> = s
            .nodes
            .iter()
            .filter(|n| n.service == svc.service)
            .map(|n| format!("{:.0}%", n.utilization * 100.0))
            .collect();
        // With calls between services, say how many attempts each one gets per request.
        let load =
            if s.calls.is_empty() { String::new() } else { format!(", {:.2} attempts per request", svc.amplification) };
        out.push_str(&format!(
            "  {:<10} utilization {} over {} nodes x {} workers (per node: {}){load}\n",
            svc.service,
            pct(svc.utilization),
            svc.nodes,
            svc.workers_per_node,
            per_node.join(" ")
        ));
    }
    for c in &s.caches {
        out.push_str(&format!(
            "  cache      in front of {}: {} hits of {} lookups ({}){}{}\n",
            c.service,
            c.hits,
            c.lookups,
            pct(c.hit_ratio),
            if c.coalesced > 0 { format!(", {} misses coalesced", c.coalesced) } else { String::new() },
            match c.flushes {
                0 => String::new(),
                1 => ", flushed once".to_string(),
                n => format!(", flushed {n} times"),
            }
        ));
    }
    for p in &s.serverless {
        out.push_str(&format!(
            "  serverless {}: {} cold starts, {} warm, {} throttled, peak {} instances ({} at the end)\n",
            p.service, p.cold_starts, p.warm_starts, p.throttled, p.peak_instances, p.instances_at_end
        ));
    }
    for c in &s.calls {
        let bulkhead = if c.bulkhead_refused > 0 {
            format!(", {} refused by the bulkhead", c.bulkhead_refused)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  call       {} -> {}: {} calls, {:.2} attempts each, {} failed{bulkhead}\n",
            c.caller, c.callee, c.calls, c.attempts_per_call, c.failed
        ));
    }
    for db in &s.databases {
        let failovers: Vec<String> = db
            .failovers
            .iter()
            .map(|f| match f.promoted_at_s {
                Some(p) => format!(
                    "primary lost at {:.1}s, promoted at {p:.1}s, {} writes lost, RPO {:.3}s",
                    f.primary_failed_at_s, f.lost_writes, f.rpo_s
                ),
                None => format!(
                    "primary lost at {:.1}s, no promotion, {} writes lost",
                    f.primary_failed_at_s, f.lost_writes
                ),
            })
            .collect();
        out.push_str(&format!(
            "  database   {}: {} writes acknowledged, {} lost{}\n",
            db.database,
            db.writes_acked,
            db.writes_lost,
            if failovers.is_empty() { String::new() } else { format!(" ({})", failovers.join("; ")) }
        ));
    }
    if !s.node_deaths.is_empty() {
        let deaths: Vec<String> =
            s.node_deaths.iter().take(8).map(|d| format!("{}[{}] at {:.1}s", d.service, d.node, d.t_s)).collect();
        let more = s.node_deaths.len().saturating_sub(8);
        out.push_str(&format!(
            "  crashes    {}{}\n",
            deaths.join(", "),
            if more > 0 { format!(" and {more} more") } else { String::new() }
        ));
    }
    if s.cascade.happened {
        out.push_str(&format!(
            "  CASCADE    more than half of {} down at {:.1}s (at most {} nodes down at once)\n",
            s.cascade.service.as_deref().unwrap_or("?"),
            s.cascade.at_s.unwrap_or(0.0),
            s.cascade.max_nodes_down
        ));
    }
    let rec = &s.recovery;
    let episodes = match rec.episodes.len() {
        0 | 1 => String::new(),
        n => format!(" after {n} breach episodes"),
    };
    match (rec.status, rec.disrupted_at_s) {
        (crate::metrics::RecoveryStatus::NeverMet, Some(t)) => out.push_str(&format!(
            "  recovery   the SLO was never met (in breach from {t:.1}s to the end, with no fault or crash)\n"
        )),
        (_, Some(t_d)) => {
            let objective = match (rec.rto_objective_s, rec.rto_met) {
                (Some(o), Some(true)) => format!(" (objective {o:.0}s: met)"),
                (Some(o), _) => format!(" (objective {o:.0}s: MISSED)"),
                _ => String::new(),
            };
            match rec.rto_s {
                Some(t) => out.push_str(&format!(
                    "  recovery   disrupted at {t_d:.1}s, SLO restored {t:.1}s later (RTO){episodes}{objective}\n"
                )),
                None => out.push_str(&format!(
                    "  recovery   disrupted at {t_d:.1}s, in breach at the end of the run (RTO censored){episodes}{objective}\n"
                )),
            }
        }
        _ => {}
    }
    if s.late_responses > 0 {
        out.push_str(&format!("  wasted     {} responses arrived after their client gave up\n", s.late_responses));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_print_exactly() {
        assert_eq!(secs_text(0), "0");
        assert_eq!(secs_text(1_500_000_000), "1.5");
        assert_eq!(secs_text(300_000_000), "0.3");
        assert_eq!(secs_text(60_000_000_000), "60");
        assert_eq!(secs_text(1), "0.000000001");
    }

    #[test]
    fn numbers_are_trimmed() {
        assert_eq!(num(Some(0.5)), "0.5");
        assert_eq!(num(Some(2.0)), "2");
        assert_eq!(num(None), "");
        assert_eq!(num(Some(f64::NAN)), "");
    }
}
