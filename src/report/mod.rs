//! Output files of a run: pure serialisers from a finished [`RunRecord`] to
//! bytes (CSV, JSON, the terminal summary), and the one place that writes
//! files, atomically (temp file + rename).

use std::fs;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

mod batch;
mod csv_cells;
mod events;
pub mod folder;
mod plan;
pub mod postmortem;

pub use batch::*;
pub use events::EventsCsv;
pub use plan::*;

use crate::metrics::{RunRecord, RunSummary};
use crate::time::SimTime;
pub(crate) use csv_cells::CsvCells;

/// Exact decimal seconds from nanoseconds, without float noise: "1.5", "60".
pub fn secs_text(ns: u64) -> String {
    let mut buf = [0u8; 32];
    String::from_utf8_lossy(csv_cells::secs_bytes(ns, &mut buf)).into_owned()
}

/// Fixed-precision float for CSV cells (six decimals, trailing zeros
/// trimmed, "-0" as "0"); empty when there is no value.
pub(crate) fn num(v: Option<f64>) -> String {
    csv_cells::num_string(v)
}

/// A small table (a header and rows of Strings) as CSV bytes.
pub(crate) fn csv_bytes(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Vec<u8> {
    csv_table(header, |cells| {
        for row in rows {
            cells.record(&row);
        }
    })
}

/// A table as CSV bytes: the header, then the rows `fill` writes.
pub(crate) fn csv_table(header: &[&str], fill: impl FnOnce(&mut CsvCells<Vec<u8>>)) -> Vec<u8> {
    let mut cells = CsvCells::new(Vec::new());
    cells.record(header);
    fill(&mut cells);
    cells.into_inner().expect("writing to memory")
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
    let mut header = TIMESERIES_COLUMNS.to_vec();
    header.extend(feature_columns(&r.features));
    csv_table(&header, |cells| {
        for (i, b) in r.bins.iter().enumerate() {
            let width = (b.end - b.start).as_secs_f64();
            let per_sec = |x: u64| (width > 0.0).then(|| x as f64 / width);
            cells.int(r.run_index);
            cells.int(r.seed);
            cells.int(i);
            cells.secs(b.start.0);
            cells.secs(b.end.0);
            cells.int((b.start < warmup_end) as u8);
            cells.int(b.offered);
            cells.int(b.retries);
            cells.int(b.completed);
            for &f in &b.failed {
                cells.int(f);
            }
            cells.int(b.late_responses);
            cells.int(b.in_flight);
            cells.num(per_sec(b.offered));
            cells.num(per_sec(b.offered + b.retries));
            cells.num(per_sec(b.completed));
            cells.num(b.latency_p50.map(|d| d.as_millis_f64()));
            cells.num(b.latency_p99.map(|d| d.as_millis_f64()));
            cells.int(b.fleet.up);
            cells.int(b.fleet.unhealthy);
            cells.int(b.fleet.ejected);
            cells.int(b.fleet.down);
            cells.num(Some(b.fleet.capacity_rps));
            cells.num((b.offered > 0).then(|| (b.offered + b.retries) as f64 / b.offered as f64));
            cells.int(b.db_writes);
            feature_cells(cells, &r.features, i, width);
            cells.end_row();
        }
    })
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

fn feature_cells(cells: &mut CsvCells<Vec<u8>>, f: &crate::metrics::FeatureBins, bin: usize, width: f64) {
    if let Some(&(hits, misses)) = f.cache.get(bin) {
        let lookups = hits + misses;
        cells.int(hits);
        cells.int(misses);
        cells.num((lookups > 0).then(|| hits as f64 / lookups as f64));
    }
    if let Some(&(lost, unreplicated)) = f.db.get(bin) {
        cells.int(lost);
        cells.int(unreplicated);
    }
    if let Some(&throttled) = f.serverless_throttled.get(bin) {
        cells.int(throttled);
        cells.num((width > 0.0).then(|| throttled as f64 / width));
    }
}

/// `nodes.csv` column after [`NODES_COLUMNS`] with an `errors` fault.
pub const ERRORS_COLUMN: &str = "errors";

/// `nodes.csv` columns after those when a service models memory.
pub const MEMORY_COLUMNS: [&str; 2] = ["memory_mb", "memory_limit_mb"];

pub const EVENTS_COLUMNS: [&str; 7] = ["run", "seed", "t_s", "service", "node", "event", "detail"];

/// `events.csv`: one row per notable event, in time order.
pub fn events_csv(r: &RunRecord) -> Vec<u8> {
    csv_table(&EVENTS_COLUMNS, |cells| {
        for e in &r.events {
            event_row(cells, r.run_index, r.seed, e);
        }
    })
}

/// One row of `events.csv`.
fn event_row(cells: &mut CsvCells<impl Write>, run: u64, seed: u64, e: &crate::metrics::LoggedEvent) {
    cells.int(run);
    cells.int(seed);
    cells.secs(e.t.0);
    cells.text(&e.service);
    cells.opt_int(e.node);
    cells.text(e.event);
    cells.text(&e.detail);
    cells.end_row();
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
    let mut header = NODES_COLUMNS.to_vec();
    if r.features.has_node_errors() {
        header.push(ERRORS_COLUMN);
    }
    if r.features.has_memory() {
        header.extend(MEMORY_COLUMNS);
    }
    csv_table(&header, |cells| {
        for n in &r.node_bins {
            let label = &r.nodes[n.node as usize];
            bin_prefix(cells, r, n.bin);
            cells.text(&label.service);
            cells.int(label.index);
            cells.int(label.workers);
            cells.num(Some(n.queue_len_avg));
            cells.num(Some(n.busy_workers_avg));
            cells.num(Some(n.busy_workers_avg / label.workers as f64));
            cells.num(Some(n.up_fraction));
            cells.int(n.served);
            cells.int(n.rejected);
            let at = n.bin as usize * r.nodes.len() + n.node as usize;
            if r.features.has_node_errors() {
                cells.opt_int(r.features.node_errors.get(at).copied());
            }
            if r.features.has_memory() {
                cells.num(r.features.memory_mb.get(at).copied().flatten());
                cells.num(r.features.memory_limit_mb[n.node as usize]);
            }
            cells.end_row();
        }
    })
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
fn bin_prefix(cells: &mut CsvCells<Vec<u8>>, r: &RunRecord, bin: u32) {
    let b = &r.bins[bin as usize];
    cells.int(r.run_index);
    cells.int(r.seed);
    cells.int(bin);
    cells.secs(b.start.0);
    cells.secs(b.end.0);
}

/// `services.csv`: one row per (bin, service), with calls between services.
pub fn services_csv(r: &RunRecord) -> Vec<u8> {
    csv_table(&SERVICES_COLUMNS, |cells| {
        for x in &r.service_bins {
            let bin = &r.bins[x.bin as usize];
            let width = (bin.end - bin.start).as_secs_f64();
            bin_prefix(cells, r, x.bin);
            cells.text(&r.summary.services[x.service as usize].service);
            cells.int(x.attempts);
            cells.num((width > 0.0).then(|| x.attempts as f64 / width));
            cells.num((bin.offered > 0).then(|| x.attempts as f64 / bin.offered as f64));
            cells.end_row();
        }
    })
}

/// `classes.csv`: one row per (bin, request class).
pub fn classes_csv(r: &RunRecord) -> Vec<u8> {
    csv_table(&CLASSES_COLUMNS, |cells| {
        for c in &r.class_bins {
            let bin = &r.bins[c.bin as usize];
            let width = (bin.end - bin.start).as_secs_f64();
            let finished = c.completed + c.failed;
            bin_prefix(cells, r, c.bin);
            cells.text(&r.summary.classes[c.class as usize].class);
            cells.int(c.offered);
            cells.int(c.completed);
            cells.int(c.failed);
            cells.num((width > 0.0).then(|| c.completed as f64 / width));
            cells.num((finished > 0).then(|| c.completed as f64 / finished as f64));
            cells.end_row();
        }
    })
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
