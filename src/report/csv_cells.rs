//! CSV rows written cell by cell without a heap allocation per cell: the
//! output files have one row per bin (and per node, service or class), so a
//! `String` per cell and std's exact `{:.6}` float formatting were most of
//! what writing a run's files cost. [`CsvCells`] formats integers, times and
//! floats into stack buffers and hands the bytes to the `csv` writer (which
//! still does the quoting). The text of every cell is exactly what the
//! `to_string()` / [`super::secs_text`] / `format!("{x:.6}")`-and-trim cells
//! wrote before, so output files keep their bytes; the unit tests compare
//! the fast float path with std on many values.

use std::fmt::Write as _;
use std::io;

/// A CSV writer taking typed cells. The first write error is kept and
/// returned by [`CsvCells::into_inner`]; later writes are skipped.
///
/// It writes what `csv::Writer` with its defaults wrote (the unit tests
/// compare the two): cells separated by commas, rows ended by `\n`, a text
/// cell quoted when it holds a comma, a quote, `\r` or `\n` (quotes
/// doubled), a row of one empty cell as `""`, and an error for a row whose
/// cell count differs from the first row's. Numeric cells never need
/// quotes, so they are copied without the per-byte scan; the `csv` writer's
/// per-field bookkeeping was half of what writing a row cost.
pub(crate) struct CsvCells<W: io::Write> {
    out: W,
    /// Rows not yet handed to `out`.
    buf: Vec<u8>,
    /// Where the current row starts in `buf`, and its cells so far.
    row_start: usize,
    row_cells: u64,
    /// The first row's cell count, which every row must have.
    first_row_cells: Option<u64>,
    error: Option<io::Error>,
    /// std's text of the rare float too large for [`micro_units`], reused.
    spill: String,
}

/// What `buf` may hold before it is handed to the writer.
const FLUSH_AT: usize = 1 << 16;

impl<W: io::Write> CsvCells<W> {
    pub(crate) fn new(w: W) -> CsvCells<W> {
        CsvCells {
            out: w,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            row_start: 0,
            row_cells: 0,
            first_row_cells: None,
            error: None,
            spill: String::new(),
        }
    }

    /// A whole record of text cells (the header).
    pub(crate) fn record<I: AsRef<[u8]>>(&mut self, cells: impl IntoIterator<Item = I>) {
        for cell in cells {
            self.quoted(cell.as_ref());
        }
        self.end_row();
    }

    /// Starts a cell: the separator after the row's previous one.
    #[inline]
    fn separate(&mut self) {
        if self.row_cells > 0 {
            self.buf.push(b',');
        }
        self.row_cells += 1;
    }

    /// A cell that needs no quotes (digits, '.', '-').
    #[inline]
    fn bytes(&mut self, cell: &[u8]) {
        self.separate();
        self.buf.extend_from_slice(cell);
    }

    /// A text cell, quoted when it must be.
    fn quoted(&mut self, cell: &[u8]) {
        self.separate();
        if !cell.iter().any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
            self.buf.extend_from_slice(cell);
            return;
        }
        self.buf.push(b'"');
        for &b in cell {
            if b == b'"' {
                self.buf.push(b'"');
            }
            self.buf.push(b);
        }
        self.buf.push(b'"');
    }

    /// Text as is ("" for none), quoted when it must be.
    pub(crate) fn text(&mut self, s: &str) {
        self.quoted(s.as_bytes());
    }

    /// An integer, as `to_string()` writes it.
    pub(crate) fn int(&mut self, v: impl itoa::Integer) {
        let mut buf = itoa::Buffer::new();
        let text = buf.format(v);
        self.bytes(text.as_bytes());
    }

    /// An integer, or an empty cell.
    pub(crate) fn opt_int(&mut self, v: Option<impl itoa::Integer>) {
        match v {
            Some(v) => self.int(v),
            None => self.bytes(b""),
        }
    }

    /// Seconds from nanoseconds, as [`super::secs_text`] writes them.
    pub(crate) fn secs(&mut self, ns: u64) {
        let mut buf = [0u8; 32];
        let text = secs_bytes(ns, &mut buf);
        self.bytes(text);
    }

    /// A float to six decimals, as [`super::num`] writes it; empty when
    /// there is no (finite) value.
    pub(crate) fn num(&mut self, v: Option<f64>) {
        let Some(x) = v.filter(|x| x.is_finite()) else {
            return self.bytes(b"");
        };
        let mut buf = [0u8; 48];
        match micro_units(x) {
            Some(micros) => {
                let text = fixed6_bytes(x.is_sign_negative(), micros, &mut buf);
                self.bytes(text);
            }
            None => {
                let mut spill = std::mem::take(&mut self.spill);
                spill.clear();
                write!(spill, "{x:.6}").expect("writing to a String");
                self.bytes(trim_fixed6(&spill).as_bytes());
                self.spill = spill;
            }
        }
    }

    /// Ends the current row.
    pub(crate) fn end_row(&mut self) {
        // An empty row, or one empty cell, is written as one quoted empty
        // cell, so the line is not blank.
        if self.row_cells == 0 || (self.row_cells == 1 && self.buf.len() == self.row_start) {
            self.buf.extend_from_slice(b"\"\"");
            self.row_cells = 1;
        }
        self.buf.push(b'\n');
        match self.first_row_cells {
            None => self.first_row_cells = Some(self.row_cells),
            Some(expected) if expected != self.row_cells && self.error.is_none() => {
                self.error = Some(io::Error::other(format!(
                    "CSV: found record with {} fields, but the previous record has {expected} fields",
                    self.row_cells
                )));
            }
            Some(_) => {}
        }
        self.row_cells = 0;
        if self.buf.len() >= FLUSH_AT {
            self.hand_over();
        }
        self.row_start = self.buf.len();
    }

    /// Hands the finished rows to the writer.
    fn hand_over(&mut self) {
        if self.error.is_none()
            && let Err(e) = self.out.write_all(&self.buf)
        {
            self.error = Some(e);
        }
        self.buf.clear();
    }

    /// Flushes and returns the inner writer, or the first error.
    pub(crate) fn into_inner(mut self) -> io::Result<W> {
        self.hand_over();
        if let Some(e) = self.error {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The text [`CsvCells::num`] writes, as a String (for the small tables
/// still built as rows of Strings).
pub(crate) fn num_string(v: Option<f64>) -> String {
    let Some(x) = v.filter(|x| x.is_finite()) else {
        return String::new();
    };
    let mut buf = [0u8; 48];
    match micro_units(x) {
        Some(micros) => String::from_utf8_lossy(fixed6_bytes(x.is_sign_negative(), micros, &mut buf)).into_owned(),
        None => trim_fixed6(&format!("{x:.6}")).to_string(),
    }
}

/// `format!("{x:.6}")` with trailing zeros and a bare point trimmed, "-0" as
/// "0": the reference the fast path must match.
pub(crate) fn trim_fixed6(text: &str) -> &str {
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0" } else { text }
}

/// |x| in millionths, rounded as std's `{:.6}` rounds (to nearest, exact
/// ties to even), when that fits in a u64 (|x| below about 1.8e13);
/// computed exactly from the float's bits, x = m·2^e, as m·10^6 / 2^-e.
fn micro_units(x: f64) -> Option<u64> {
    let bits = x.abs().to_bits();
    let biased = (bits >> 52) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    let (m, e) = if biased == 0 { (fraction, -1074) } else { (fraction | (1u64 << 52), biased - 1075) };
    if e > 0 {
        return None;
    }
    let scaled = m as u128 * 1_000_000;
    let shift = (-e) as u32;
    let rounded = if shift == 0 {
        scaled
    } else if shift >= 100 {
        0 // scaled < 2^73, so the value is below 2^-27: rounds to 0
    } else {
        let q = scaled >> shift;
        let rest = scaled - (q << shift);
        let half = 1u128 << (shift - 1);
        if rest > half || (rest == half && q & 1 == 1) { q + 1 } else { q }
    };
    u64::try_from(rounded).ok()
}

/// The text of a number `micros` millionths (negative if `negative`), trimmed
/// like [`trim_fixed6`]; written right to left into `buf`.
fn fixed6_bytes(negative: bool, micros: u64, buf: &mut [u8; 48]) -> &[u8] {
    let at = fixed_point(micros, 6, buf);
    if negative && micros != 0 {
        buf[at - 1] = b'-';
        return &buf[at - 1..];
    }
    &buf[at..]
}

/// Seconds from nanoseconds, exact: "1.5", "60", "0.000000001".
pub(crate) fn secs_bytes(ns: u64, buf: &mut [u8; 32]) -> &[u8] {
    let at = fixed_point(ns, 9, buf);
    &buf[at..]
}

/// Writes `units` (of 10^-`decimals`) as a decimal with its trailing zeros
/// and a bare point trimmed ("1.5", "60"), right-aligned at the end of
/// `buf`; returns where the text starts.
fn fixed_point(units: u64, decimals: u32, buf: &mut [u8]) -> usize {
    let scale = 10u64.pow(decimals);
    let mut at = buf.len();
    let mut fraction = units % scale;
    if fraction != 0 {
        let mut digits = decimals;
        while fraction.is_multiple_of(10) {
            fraction /= 10;
            digits -= 1;
        }
        for _ in 0..digits {
            at -= 1;
            buf[at] = b'0' + (fraction % 10) as u8;
            fraction /= 10;
        }
        at -= 1;
        buf[at] = b'.';
    }
    let mut whole = units / scale;
    loop {
        at -= 1;
        buf[at] = b'0' + (whole % 10) as u8;
        whole /= 10;
        if whole == 0 {
            break;
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cell text std gives (the code before this module).
    fn std_num(x: f64) -> String {
        if x.is_finite() { trim_fixed6(&format!("{x:.6}")).to_string() } else { String::new() }
    }

    fn fast_num(x: f64) -> String {
        let mut cells = CsvCells::new(Vec::new());
        cells.num(Some(x));
        cells.int(0u8); // a lone empty cell would be quoted
        cells.end_row();
        let bytes = cells.into_inner().unwrap();
        String::from_utf8(bytes).unwrap().trim_end().trim_end_matches(",0").to_string()
    }

    fn check(x: f64) {
        assert_eq!(fast_num(x), std_num(x), "{x:e} (bits {:#x})", x.to_bits());
    }

    #[test]
    fn floats_match_std() {
        let special = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            1e-6,
            5e-7,
            4.9999999e-7,
            5.0000001e-7,
            -5e-7,
            -4e-7,
            1.5e-6,
            2.5e-6,
            0.1,
            0.2,
            0.3,
            1.0 / 3.0,
            2.0 / 3.0,
            123456.789,
            1e12,
            1.8e13,
            1.9e13,
            9007199254740991.0,
            9007199254740992.0,
            1e20,
            1e300,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            f64::EPSILON,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for x in special {
            check(x);
        }
        // Integers, and exact ties at the seventh decimal (k / 2^7 ...).
        for k in -2000i64..2000 {
            check(k as f64);
            check(k as f64 * 1e6);
            for p in 1..=12 {
                check(k as f64 / (1u64 << p) as f64);
                check(k as f64 / (1u64 << p) as f64 * 1e-5);
            }
        }
        // Halves of millionths and their neighbours.
        for k in 0..20_000u64 {
            let x = (k as f64 + 0.5) / 1e6;
            check(x);
            check(f64::from_bits(x.to_bits() + 1));
            check(f64::from_bits(x.to_bits() - 1));
            check(-x);
        }
        // Random bit patterns, and random values at the scales the files hold.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            check(f64::from_bits(next()));
            let unit = (next() >> 11) as f64 / (1u64 << 53) as f64;
            let scale = 10f64.powi((next() % 30) as i32 - 12);
            check(unit * scale);
            check(-unit * scale);
            check((next() % 100_000_000) as f64 / 1e3);
        }
    }

    #[test]
    fn seconds_match_the_old_text() {
        fn old(ns: u64) -> String {
            let whole = ns / 1_000_000_000;
            let frac = ns % 1_000_000_000;
            if frac == 0 { whole.to_string() } else { format!("{whole}.{frac:09}").trim_end_matches('0').to_string() }
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for i in 0..100_000u64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for ns in [i, i * 1_000_000, i * 60_000_000_000, state, state % 10_000_000_000_000, u64::MAX - i] {
                let mut buf = [0u8; 32];
                assert_eq!(secs_bytes(ns, &mut buf), old(ns).as_bytes(), "{ns}");
            }
        }
    }

    #[test]
    fn cells_are_quoted_as_csv_quotes_them() {
        let mut cells = CsvCells::new(Vec::new());
        cells.record(["a", "b", "c", "d"]);
        cells.text("x,y");
        cells.text("say \"hi\"");
        cells.int(7u32);
        cells.opt_int(None::<u64>);
        cells.end_row();
        cells.text("");
        cells.num(Some(-0.0));
        cells.num(None);
        cells.secs(1_500_000_000);
        cells.end_row();
        let mut plain = csv::Writer::from_writer(Vec::new());
        plain.write_record(["a", "b", "c", "d"]).unwrap();
        plain.write_record(["x,y", "say \"hi\"", "7", ""]).unwrap();
        plain.write_record(["", "0", "", "1.5"]).unwrap();
        assert_eq!(cells.into_inner().unwrap(), plain.into_inner().unwrap());
    }

    /// Every awkward text the csv crate quotes, one-cell and empty rows,
    /// and a long table (past the hand-over size) come out byte for byte.
    #[test]
    fn tricky_cells_and_long_tables_match_the_csv_crate() {
        let texts = ["", " ", "a", "a,b", "\"", "\"\"", "x\ny", "x\ry", "\r\n", "tab\there", "é,ü", "'", "#c", "a\\b"];
        let mut cells = CsvCells::new(Vec::new());
        let mut plain = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
        for t in texts {
            cells.record([t]);
            plain.write_record([t]).unwrap();
        }
        let mut ours = cells.into_inner().unwrap();
        let mut theirs = plain.into_inner().unwrap();
        let mut cells = CsvCells::new(Vec::new());
        let mut plain = csv::Writer::from_writer(Vec::new());
        for i in 0..20_000u64 {
            let t = texts[i as usize % texts.len()];
            cells.text(t);
            cells.int(i);
            cells.num(Some(i as f64 / 7.0));
            cells.text("");
            cells.end_row();
            let num = num_string(Some(i as f64 / 7.0));
            plain.write_record([t, &i.to_string(), &num, ""]).unwrap();
        }
        ours.extend(cells.into_inner().unwrap());
        theirs.extend(plain.into_inner().unwrap());
        assert!(ours.len() > 2 * FLUSH_AT);
        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
    }

    /// A row with another cell count than the first is an error, as the csv
    /// crate made it; an empty record is one empty cell.
    #[test]
    fn unequal_rows_are_an_error_and_empty_records_one_cell() {
        let mut cells = CsvCells::new(Vec::new());
        cells.record(["a", "b"]);
        cells.int(1u8);
        cells.end_row();
        assert!(cells.into_inner().is_err());
        let mut cells = CsvCells::new(Vec::new());
        cells.record(Vec::<&str>::new());
        let mut plain = csv::Writer::from_writer(Vec::new());
        plain.write_record(Vec::<&str>::new()).unwrap();
        assert_eq!(cells.into_inner().unwrap(), plain.into_inner().unwrap());
    }
}
