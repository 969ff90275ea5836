//! `events.csv` written as a run goes: rows reach the file as they are
//! logged, so a run with millions of events holds none of them in memory.
//! Rows the run adds only when it ends (breach episodes, judged over the
//! whole run) are merged in time order when the file is finished. Until
//! then the rows sit in a hidden file, removed if the run fails: the folder
//! gets a complete events.csv or none.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use super::{CsvCells, EVENTS_COLUMNS, event_row};
use crate::metrics::LoggedEvent;

pub struct EventsCsv {
    dir: PathBuf,
    rows: PathBuf,
    run: u64,
    seed: u64,
    /// Keeps the first write error, reported by `finish`.
    writer: Option<CsvCells<BufWriter<File>>>,
    finished: bool,
}

impl EventsCsv {
    /// Starts the rows of run `run` (base seed `seed`) in `dir`.
    pub fn create(dir: &Path, run: u64, seed: u64) -> std::io::Result<EventsCsv> {
        fs::create_dir_all(dir)?;
        let rows = dir.join(format!(".events.csv.rows-{}", std::process::id()));
        let mut writer = CsvCells::new(BufWriter::new(File::create(&rows)?));
        writer.record(EVENTS_COLUMNS);
        Ok(EventsCsv { dir: dir.to_path_buf(), rows, run, seed, writer: Some(writer), finished: false })
    }

    /// Appends a row (rows come in time order).
    pub fn write(&mut self, e: &LoggedEvent) {
        if let Some(w) = &mut self.writer {
            event_row(w, self.run, self.seed, e);
        }
    }

    /// Merges `closing` (in time order; each after the rows of its instant)
    /// into the rows and gives the file its real name.
    pub fn finish(mut self, closing: &[LoggedEvent]) -> std::io::Result<()> {
        let writer = self.writer.take().expect("an EventsCsv is finished once");
        let file = writer.into_inner()?.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        let target = self.dir.join("events.csv");
        if closing.is_empty() {
            fs::rename(&self.rows, &target)?;
        } else {
            let merged = self.dir.join(format!(".events.csv.tmp-{}", std::process::id()));
            let result = self.merge(closing, &merged).and_then(|()| fs::rename(&merged, &target));
            if result.is_err() {
                let _ = fs::remove_file(&merged);
            }
            result?;
            let _ = fs::remove_file(&self.rows);
        }
        self.finished = true;
        Ok(())
    }

    fn merge(&self, closing: &[LoggedEvent], to: &Path) -> std::io::Result<()> {
        let mut reader = csv::Reader::from_reader(BufReader::new(File::open(&self.rows)?));
        let mut out = CsvCells::new(BufWriter::new(File::create(to)?));
        out.record(EVENTS_COLUMNS);
        let t_column = EVENTS_COLUMNS.iter().position(|c| *c == "t_s").expect("events.csv has t_s");
        let mut pending = closing.iter().peekable();
        let mut record = csv::ByteRecord::new();
        while reader.read_byte_record(&mut record)? {
            let t = record.get(t_column).and_then(ns_of_secs_text).ok_or_else(|| {
                std::io::Error::other(format!("{}: a row's t_s does not read back", self.rows.display()))
            })?;
            while let Some(e) = pending.next_if(|e| e.t.0 < t) {
                event_row(&mut out, self.run, self.seed, e);
            }
            out.record(&record);
        }
        for e in pending {
            event_row(&mut out, self.run, self.seed, e);
        }
        let file = out.into_inner()?.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    }
}

impl Drop for EventsCsv {
    fn drop(&mut self) {
        // Not finished (the run failed, or an early return): no partial file stays.
        if !self.finished {
            self.writer = None;
            let _ = fs::remove_file(&self.rows);
        }
    }
}

/// Nanoseconds of a time written by [`super::secs_text`] ("12", "0.5",
/// "3.000000001"): exact, unlike a parse through f64.
fn ns_of_secs_text(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?;
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_ns: u64 = if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse().ok()? };
    whole.parse::<u64>().ok()?.checked_mul(1_000_000_000)?.checked_add(frac_ns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimTime;

    #[test]
    fn times_read_back_exactly() {
        for ns in [0, 1, 500_000_000, 3_000_000_001, 59_999_999_999, u64::MAX / 2] {
            assert_eq!(ns_of_secs_text(super::super::secs_text(ns).as_bytes()), Some(ns));
        }
        assert_eq!(ns_of_secs_text(b"1.0000000001"), None);
        assert_eq!(ns_of_secs_text(b"x"), None);
    }

    fn event(t: u64, event: &'static str) -> LoggedEvent {
        LoggedEvent {
            t: SimTime(t),
            service: "app,1".into(),
            node: Some(0),
            event,
            detail: "a \"quoted\" detail".into(),
        }
    }

    /// `events.csv` of run 3 (seed 7) written at once.
    fn events_bytes(events: &[LoggedEvent]) -> Vec<u8> {
        crate::report::csv_table(&EVENTS_COLUMNS, |cells| events.iter().for_each(|e| event_row(cells, 3, 7, e)))
    }

    /// The streamed file is byte for byte what the in-memory writer makes.
    #[test]
    fn a_streamed_file_equals_the_file_written_at_once() {
        let dir = std::env::temp_dir().join(format!("faultline-events-{}", std::process::id()));
        let rows = [event(0, "crash"), event(5, "up"), event(5, "crash"), event(9, "up")];
        let closing = [event(1, "slo-breach"), event(5, "slo-restored"), event(20, "slo-breach")];
        let mut all = rows.to_vec();
        for e in &closing {
            let at = all.partition_point(|x| x.t <= e.t);
            all.insert(at, e.clone());
        }
        let want = events_bytes(&all);
        for closing in [&closing[..], &[]] {
            let mut stream = EventsCsv::create(&dir, 3, 7).unwrap();
            rows.iter().for_each(|e| stream.write(e));
            stream.finish(closing).unwrap();
            let got = fs::read(dir.join("events.csv")).unwrap();
            if closing.is_empty() {
                let plain = events_bytes(&rows);
                assert_eq!(got, plain);
            } else {
                assert_eq!(got, want);
            }
            let left: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert_eq!(left, vec![std::ffi::OsString::from("events.csv")], "no hidden file stays");
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unfinished_stream_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("faultline-events-drop-{}", std::process::id()));
        let mut stream = EventsCsv::create(&dir, 0, 1).unwrap();
        stream.write(&event(1, "crash"));
        drop(stream);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        let _ = fs::remove_dir_all(&dir);
    }
}
