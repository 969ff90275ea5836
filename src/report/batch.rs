//! Output files of a Monte Carlo batch: runs.csv, summary.csv, summary.json
//! and timeseries.csv with per-bin bands, plus the text summary.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::{CsvCells, csv_bytes, csv_table, num};

/// The header of `runs.csv`: run, seed, flags, every metric, censoring.
fn runs_csv_header(metric_names: &[String]) -> Vec<&str> {
    let mut header = vec!["run", "seed", "cascade", "disrupted", "recovered", "status", "episodes"];
    header.extend(metric_names.iter().map(String::as_str));
    // For Kaplan–Meier curves: how long a never-recovered run was watched.
    header.push("rto_censored_s");
    header
}

/// One row of `runs.csv`.
fn runs_csv_row(cells: &mut CsvCells<impl std::io::Write>, seed: u64, r: &crate::monte_carlo::RunRow) {
    cells.int(r.run);
    cells.int(seed);
    cells.int(r.cascade as u8);
    cells.int(r.status.disrupted() as u8);
    cells.int((r.status == crate::metrics::RecoveryStatus::Recovered) as u8);
    cells.text(r.status.name());
    cells.int(r.episodes);
    for &v in &r.values {
        cells.num(v);
    }
    cells.num(r.rto_observed.filter(|(_, recovered)| !recovered).map(|(t, _)| t));
    cells.end_row();
}

/// `runs.csv`: one row per run, with its seed and every scalar metric, from
/// a batch that kept its rows ([`crate::monte_carlo::run_batch`]).
pub fn batch_runs_csv(b: &crate::monte_carlo::Batch) -> Vec<u8> {
    let seed = b.summary.seed;
    csv_table(&runs_csv_header(&b.summary.metric_names), |cells| {
        b.rows.iter().for_each(|r| runs_csv_row(cells, seed, r));
    })
}

/// `runs.csv` written row by row as runs finish, under a temporary name that
/// [`RunsCsv::finish`] renames: a batch's rows are never all in memory, and
/// an error or an early return (the value dropped) leaves no partial file.
pub struct RunsCsv {
    path: PathBuf,
    tmp: PathBuf,
    seed: u64,
    /// Keeps the first write error, reported by `finish`.
    writer: Option<CsvCells<BufWriter<File>>>,
    renamed: bool,
}

impl RunsCsv {
    /// Starts `dir/runs.csv` (creating `dir`) with its header.
    pub fn create(dir: &Path, info: &crate::monte_carlo::BatchInfo) -> std::io::Result<RunsCsv> {
        fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".runs.csv.tmp-{}", std::process::id()));
        let mut writer = CsvCells::new(BufWriter::new(File::create(&tmp)?));
        writer.record(runs_csv_header(&info.metric_names));
        Ok(RunsCsv { path: dir.join("runs.csv"), tmp, seed: info.seed, writer: Some(writer), renamed: false })
    }

    /// Appends a run's row (rows come in run order).
    pub fn write(&mut self, row: &crate::monte_carlo::RunRow) {
        if let Some(w) = &mut self.writer {
            runs_csv_row(w, self.seed, row);
        }
    }

    /// Flushes the file and gives it its real name.
    pub fn finish(mut self) -> std::io::Result<()> {
        let writer = self.writer.take().expect("a RunsCsv is finished once");
        let file = writer.into_inner()?.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&self.tmp, &self.path)?;
        self.renamed = true;
        Ok(())
    }
}

impl Drop for RunsCsv {
    fn drop(&mut self) {
        // Not finished (an error or an early return): no partial file stays.
        if !self.renamed {
            self.writer = None;
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

pub const BATCH_SUMMARY_COLUMNS: [&str; 9] = ["metric", "n", "mean", "sd", "ci95_low", "ci95_high", "p5", "p50", "p95"];

/// `summary.csv`: one row per metric across runs (tidy), then one per
/// proportion (mean = the proportion, CI = Wilson).
pub fn batch_summary_csv(b: &crate::monte_carlo::Batch) -> Vec<u8> {
    let s = &b.summary;
    let mut rows: Vec<Vec<String>> = s
        .metrics
        .iter()
        .map(|(name, d)| {
            vec![
                name.clone(),
                d.n.to_string(),
                num(Some(d.mean)),
                num(Some(d.sd)),
                num(Some(d.ci95_low)),
                num(Some(d.ci95_high)),
                num(Some(d.p5)),
                num(Some(d.p50)),
                num(Some(d.p95)),
            ]
        })
        .collect();
    let mut proportions = vec![
        ("p_cascade", &s.cascade),
        ("p_recovered", &s.recovered),
        ("p_locked_in", &s.locked_in),
        ("p_never_met", &s.never_met),
    ];
    if let Some(p) = &s.rto_within_objective {
        proportions.push(("p_rto_within_objective", p));
    }
    for (name, p) in proportions {
        rows.push(vec![
            name.to_string(),
            p.n.to_string(),
            num(Some(p.p)),
            String::new(),
            num(Some(p.ci95_low)),
            num(Some(p.ci95_high)),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    csv_bytes(&BATCH_SUMMARY_COLUMNS, rows.into_iter())
}

/// `summary.json` of a batch.
pub fn batch_summary_json(b: &crate::monte_carlo::Batch) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(&b.summary).expect("summary serialises");
    bytes.push(b'\n');
    bytes
}

/// `timeseries.csv` of a batch: per bin, each metric's mean and p5–p95 band.
pub fn batch_timeseries_csv(b: &crate::monte_carlo::Batch) -> Vec<u8> {
    let mut header: Vec<String> = vec!["bin".into(), "t_start_s".into(), "t_end_s".into(), "runs".into()];
    for m in crate::monte_carlo::BAND_METRICS {
        header.extend([format!("{m}_mean"), format!("{m}_p5"), format!("{m}_p95")]);
    }
    let header_refs: Vec<&str> = header.iter().map(|s| s.as_str()).collect();
    csv_table(&header_refs, |cells| {
        for band in &b.bands {
            cells.int(band.bin);
            cells.num(Some(band.t_start_s));
            cells.num(Some(band.t_end_s));
            cells.int(band.values[0].0);
            for &(n, mean, p5, p95) in &band.values {
                let has = n > 0;
                cells.num(has.then_some(mean));
                cells.num(has.then_some(p5));
                cells.num(has.then_some(p95));
            }
            cells.end_row();
        }
    })
}

/// The output files of a batch besides runs.csv (which [`RunsCsv`] streams
/// as the runs finish), by name.
pub fn batch_files(b: &crate::monte_carlo::Batch) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("summary.csv", batch_summary_csv(b)),
        ("timeseries.csv", batch_timeseries_csv(b)),
        ("summary.json", batch_summary_json(b)),
    ]
}

/// The text summary of a batch.
pub fn batch_summary_text(b: &crate::monte_carlo::Batch) -> String {
    let s = &b.summary;
    let mut out = format!("{}: {} runs from seed {}\n", s.scenario, s.runs, s.seed);
    let width = s.metrics.iter().map(|(name, _)| name.len()).max().unwrap_or(0).max(22);
    for (name, d) in &s.metrics {
        if [
            "success_fraction",
            "throughput_rps",
            "latency_p99_ms",
            "mean_wait_ms",
            "rto_s",
            "rpo_s",
            "retry_amplification",
        ]
        .contains(&name.as_str())
            || name.ends_with(".success_fraction")
            || name.ends_with(".amplification")
            || name.ends_with(".hit_ratio")
            || name.ends_with(".throttled")
        {
            out.push_str(&format!(
                "  {name:<width$} mean {:>10.3}  95% CI [{:.3}, {:.3}]  p5 {:.3}  p50 {:.3}  p95 {:.3}\n",
                d.mean, d.ci95_low, d.ci95_high, d.p5, d.p50, d.p95
            ));
        }
    }
    let p = |name: &str, p: &crate::stats::Proportion| {
        format!(
            "  {name:<width$} {}/{} = {:.3}  95% CI [{:.3}, {:.3}]\n",
            p.successes, p.n, p.p, p.ci95_low, p.ci95_high
        )
    };
    out.push_str(&p("P(cascade)", &s.cascade));
    if s.recovered.n > 0 {
        out.push_str(&p("P(recovered)", &s.recovered));
        out.push_str(&format!(
            "  {:<width$} {} runs; Kaplan–Meier median {}\n",
            "RTO censored",
            s.rto_censored,
            s.rto_km_median_s.map_or("not reached".to_string(), |m| format!("{m:.1}s"))
        ));
    }
    if let Some(o) = &s.rto_within_objective {
        out.push_str(&p("P(RTO <= objective)", o));
    }
    if s.locked_in.successes > 0 {
        out.push_str(&p("P(ends in breach)", &s.locked_in));
    }
    if s.never_met.successes > 0 {
        out.push_str(&p("P(SLO never met)", &s.never_met));
    }
    out
}
