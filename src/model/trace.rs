//! Recorded traffic: reads a trace CSV (`[traffic.NAME] trace = "file.csv"`)
//! into per-interval rates or exact arrival instants. Errors carry the
//! CSV line they are about; validation turns them into a scenario error
//! naming the scenario file, the `trace` key and the trace file.
//!
//! The first non-blank line is the header; blank lines are skipped and
//! columns other than the ones read are ignored. Times are seconds (`90`,
//! `1.5`) or durations (`"90s"`, `1m30s`); rates are requests per second or
//! rates with a unit (`300/s`, `18000/m`). A rates trace may name each
//! row's request class (`time,rate,class`): each class is then its own
//! series of rows, sorted by time within the class.

use std::io::Read;
use std::path::Path;

use super::raw::parse_rate;
use crate::time::{NANOS_PER_SEC, SimDuration, SimTime, parse_duration};

/// The largest trace file read (a million rows of timestamps is ~15 MB).
pub const MAX_TRACE_BYTES: u64 = 256 << 20;

/// A problem with a trace, at a CSV line (1-based) when there is one.
#[derive(Debug, PartialEq)]
pub struct TraceError {
    pub line: Option<usize>,
    pub message: String,
}

fn at_line(line: usize, message: impl Into<String>) -> TraceError {
    TraceError { line: Some(line), message: message.into() }
}

fn whole_file(message: impl Into<String>) -> TraceError {
    TraceError { line: None, message: message.into() }
}

/// One row of a rates trace: the rate from `from` until the next row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceRow {
    pub from: SimTime,
    pub per_sec: f64,
    pub line: usize,
}

/// Reads the file at `path` (already resolved against the scenario's folder).
pub fn read(path: &Path) -> Result<String, TraceError> {
    let file = std::fs::File::open(path).map_err(|e| {
        whole_file(if e.kind() == std::io::ErrorKind::NotFound {
            "no such file".to_string()
        } else {
            format!("cannot read: {e}")
        })
    })?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(whole_file("is a directory, expected a CSV file"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_TRACE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| whole_file(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_TRACE_BYTES {
        return Err(whole_file(format!("is larger than {} MiB", MAX_TRACE_BYTES >> 20)));
    }
    String::from_utf8(bytes).map_err(|_| whole_file("is not UTF-8 text"))
}

/// The header's columns and the data lines (1-based line, fields).
struct Table<'a> {
    columns: Vec<&'a str>,
    rows: Vec<(usize, Vec<&'a str>)>,
}

fn split(text: &str) -> Result<Table<'_>, TraceError> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(whole_file("is empty; expected a header line such as `time,rate`"));
    };
    let columns: Vec<&str> = header.split(',').map(|c| c.trim().trim_matches('"')).collect();
    let mut rows = Vec::new();
    for (line, l) in lines {
        let fields: Vec<&str> = l.split(',').map(|f| f.trim().trim_matches('"')).collect();
        if fields.len() != columns.len() {
            // With a `class` column, a row one field short most likely has no class.
            let hint = if columns.contains(&"class") && fields.len() + 1 == columns.len() {
                "; every row names its class (rows with and without a class cannot mix)"
            } else {
                ""
            };
            return Err(at_line(
                line,
                format!(
                    "{} fields, but the header has {} columns ({}){hint}",
                    fields.len(),
                    columns.len(),
                    columns.join(",")
                ),
            ));
        }
        rows.push((line, fields));
    }
    if rows.is_empty() {
        return Err(whole_file("has a header but no rows"));
    }
    Ok(Table { columns, rows })
}

fn column(table: &Table, name: &str, example: &str) -> Result<usize, TraceError> {
    table.columns.iter().position(|c| *c == name).ok_or_else(|| {
        at_line(
            1,
            format!("no `{name}` column (the header is `{}`; expected e.g. `{example}`)", table.columns.join(",")),
        )
    })
}

/// A time: seconds as a plain number, or a duration with a unit.
fn parse_time(field: &str, line: usize) -> Result<SimTime, TraceError> {
    if let Ok(secs) = field.parse::<f64>() {
        if !secs.is_finite() {
            return Err(at_line(line, format!("time \"{field}\" is not a finite number")));
        }
        if secs < 0.0 {
            return Err(at_line(line, format!("time {field} is negative")));
        }
        if secs > (u64::MAX / NANOS_PER_SEC) as f64 {
            return Err(at_line(line, format!("time {field} is too large")));
        }
        return Ok(SimTime((secs * NANOS_PER_SEC as f64).round() as u64));
    }
    parse_duration(field)
        .map(|d| SimTime(d.0))
        .map_err(|e| at_line(line, format!("malformed time \"{field}\": {e} (or seconds as a number)")))
}

/// One request class's rows in a rates trace with a `class` column.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassRows {
    pub class: String,
    /// Strictly increasing in time; never empty.
    pub rows: Vec<TraceRow>,
}

/// A rates trace: one rate per row, or (with a `class` column) one rate
/// per row and class, each class's rows being its own series.
#[derive(Debug, Clone, PartialEq)]
pub enum RatesTrace {
    Total(Vec<TraceRow>),
    /// Classes in the order of their first row.
    ByClass(Vec<ClassRows>),
}

impl RatesTrace {
    /// The earliest and latest row's time.
    pub fn span(&self) -> (SimTime, SimTime) {
        match self {
            RatesTrace::Total(rows) => (rows[0].from, rows[rows.len() - 1].from),
            RatesTrace::ByClass(classes) => (
                classes.iter().map(|c| c.rows[0].from).min().expect("a class"),
                classes.iter().map(|c| c.rows[c.rows.len() - 1].from).max().expect("a class"),
            ),
        }
    }

    pub fn row_count(&self) -> usize {
        match self {
            RatesTrace::Total(rows) => rows.len(),
            RatesTrace::ByClass(classes) => classes.iter().map(|c| c.rows.len()).sum(),
        }
    }
}

/// A rates trace: rows strictly increasing in time (per class, with a
/// `class` column: rows of different classes may interleave in any order),
/// rates >= 0, not all 0.
pub fn parse_rates(text: &str) -> Result<RatesTrace, TraceError> {
    let table = split(text)?;
    let example = "time,rate";
    let (t, r) = (column(&table, "time", example)?, column(&table, "rate", example)?);
    let class_column = table.columns.iter().position(|c| *c == "class");
    let mut classes: Vec<ClassRows> = Vec::new();
    // Rows of the trace without a class column: its one series.
    let mut total: Vec<TraceRow> = Vec::with_capacity(if class_column.is_none() { table.rows.len() } else { 0 });
    for (line, fields) in &table.rows {
        let from = parse_time(fields[t], *line)?;
        let per_sec = parse_rate(fields[r]).map_err(|e| at_line(*line, e))?;
        let (series, whose) = match class_column {
            None => (&mut total, String::new()),
            Some(c) => {
                let name = fields[c];
                if name.is_empty() {
                    return Err(at_line(
                        *line,
                        "no class; the header has a `class` column, so every row names its class (rows with and without a class cannot mix)",
                    ));
                }
                if !name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_') {
                    return Err(at_line(
                        *line,
                        format!("class name \"{name}\" may use only letters, digits, '-' and '_'"),
                    ));
                }
                let i = match classes.iter().position(|k| k.class == name) {
                    Some(i) => i,
                    None => {
                        classes.push(ClassRows { class: name.to_string(), rows: Vec::new() });
                        classes.len() - 1
                    }
                };
                (&mut classes[i].rows, format!(" `{name}`"))
            }
        };
        if let Some(prev) = series.last()
            && from <= prev.from
        {
            let sorted = if whose.is_empty() {
                "rows must be sorted by time"
            } else {
                "each class's rows must be sorted by time"
            };
            return Err(at_line(
                *line,
                format!(
                    "time {} is not after the previous{whose} row's ({}, line {}); {sorted}",
                    fields[t],
                    SimDuration(prev.from.0),
                    prev.line
                ),
            ));
        }
        series.push(TraceRow { from, per_sec, line: *line });
    }
    let all_zero = match class_column {
        None => total.iter().all(|row| row.per_sec == 0.0),
        Some(_) => classes.iter().all(|c| c.rows.iter().all(|row| row.per_sec == 0.0)),
    };
    if all_zero {
        return Err(whole_file("every row has rate 0; no request would ever arrive"));
    }
    Ok(match class_column {
        None => RatesTrace::Total(total),
        Some(_) => RatesTrace::ByClass(classes),
    })
}

/// A timestamps trace: one arrival per row, in non-decreasing time order.
pub fn parse_timestamps(text: &str) -> Result<Vec<SimTime>, TraceError> {
    let table = split(text)?;
    let t = column(&table, "time", "time")?;
    let mut out: Vec<SimTime> = Vec::with_capacity(table.rows.len());
    let mut prev_line = 0;
    for (line, fields) in &table.rows {
        let at = parse_time(fields[t], *line)?;
        if let Some(&prev) = out.last()
            && at < prev
        {
            return Err(at_line(
                *line,
                format!(
                    "time {} is before the previous row's ({}, line {prev_line}); rows must be sorted by time",
                    fields[t],
                    SimDuration(prev.0)
                ),
            ));
        }
        out.push(at);
        prev_line = *line;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_seconds_durations_and_rate_units() {
        let RatesTrace::Total(rows) = parse_rates("time,rate\n0,100\n\n30s,6000/m\n1m30s, 0\n").unwrap() else {
            panic!("no class column")
        };
        let got: Vec<(u64, f64, usize)> = rows.iter().map(|r| (r.from.0 / NANOS_PER_SEC, r.per_sec, r.line)).collect();
        assert_eq!(got, [(0, 100.0, 2), (30, 100.0, 4), (90, 0.0, 5)]);
    }

    #[test]
    fn a_class_column_gives_each_class_its_own_series() {
        // Grouped by class, so not sorted overall: each class's rows are.
        let trace = parse_rates("time,rate,class\n0,100,search\n60,50,search\n30,10,pay\n90,0,pay\n").unwrap();
        let RatesTrace::ByClass(classes) = &trace else { panic!("a class column") };
        type Series<'a> = (&'a str, Vec<(u64, f64, usize)>);
        let got: Vec<Series> = classes
            .iter()
            .map(|c| (c.class.as_str(), c.rows.iter().map(|r| (r.from.0 / NANOS_PER_SEC, r.per_sec, r.line)).collect()))
            .collect();
        assert_eq!(got, [("search", vec![(0, 100.0, 2), (60, 50.0, 3)]), ("pay", vec![(30, 10.0, 4), (90, 0.0, 5)])]);
        assert_eq!(trace.span(), (SimTime::ZERO, SimTime(90 * NANOS_PER_SEC)));
        assert_eq!(trace.row_count(), 4);
        assert!(parse_rates("time,rate,class\n0,0,a\n5,0,b\n").unwrap_err().message.contains("every row has rate 0"));
    }

    #[test]
    fn errors_name_their_line() {
        let line = |text: &str| parse_rates(text).unwrap_err().line;
        assert_eq!(line("time,rate\n0,1\n20,2\n10,3\n"), Some(4));
        assert_eq!(line("time,rate\n0,1\n10,-3\n"), Some(3));
        assert_eq!(line("time,rate\n0,1\n-10,3\n"), Some(3));
        assert_eq!(line("time,rate\n0,fast\n"), Some(2));
        assert_eq!(line("time,rate\n0,1,2\n"), Some(2));
        assert_eq!(line("when,rate\n0,1\n"), Some(1));
        assert_eq!(parse_rates("").unwrap_err().line, None);
        // With a class column: sorted per class, every row with a class.
        assert_eq!(line("time,rate,class\n0,1,a\n0,2,b\n10,1,a\n5,1,a\n"), Some(5));
        assert_eq!(line("time,rate,class\n0,1,a\n10,2\n"), Some(3));
        assert_eq!(line("time,rate,class\n0,1,a\n10,2,\n"), Some(3));
        assert_eq!(line("time,rate,class\n0,1,a\n10,-2,b\n"), Some(3));
        assert_eq!(line("time,rate,class\n0,1,a\n10,2,a b\n"), Some(3));
        assert_eq!(parse_timestamps("time\n1\n0.5\n").unwrap_err().line, Some(3));
        assert_eq!(
            parse_timestamps("time\n1\n1\n2s\n").unwrap(),
            [SimTime(1_000_000_000); 2].into_iter().chain([SimTime(2_000_000_000)]).collect::<Vec<_>>()
        );
    }
}
