//! Sweep grids: `--set PATH=VALUES` parsed into a parameter and its values,
//! and the cross product of several parameters into points.
//!
//! VALUES is a comma-separated list of items; an item is a single value
//! (`3`, `0.25`, `250ms`, `warm-standby`), an inclusive integer range
//! (`3..10`), or `start:stop:step` from start up to stop (`200:600:50`,
//! `0.1:0.5:0.1`, `100ms:1000ms:100ms`). Steps are computed in decimal, so
//! `0.1:0.5:0.1` gives 0.1, 0.2, 0.3, 0.4, 0.5 exactly as written; a unit
//! suffix shared by start, stop and step is kept on every value.

/// Most values one `--set` may expand to.
pub const MAX_VALUES: usize = 100_000;

/// One swept parameter: a scenario path and its values as text.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Parameter {
    pub path: String,
    pub values: Vec<String>,
}

/// An exact decimal: `mantissa` / 10^`scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Decimal {
    mantissa: i128,
    scale: u32,
}

impl Decimal {
    fn parse(text: &str) -> Option<Decimal> {
        let (sign, digits) = match text.strip_prefix('-') {
            Some(rest) => (-1, rest),
            None => (1, text.strip_prefix('+').unwrap_or(text)),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() && frac.is_empty() || !all_digits(whole) || !all_digits(frac) || frac.len() > 12 {
            return None;
        }
        let mantissa: i128 = format!("{whole}{frac}").parse().ok()?;
        Some(Decimal { mantissa: sign * mantissa, scale: frac.len() as u32 })
    }

    fn rescale(self, scale: u32) -> i128 {
        self.mantissa * 10i128.pow(scale - self.scale)
    }

    /// Plain decimal text without trailing zeros: "0.3", "250", "-1.25".
    fn text(mantissa: i128, scale: u32) -> String {
        let digits = format!("{:0>width$}", mantissa.unsigned_abs(), width = scale as usize + 1);
        let (whole, frac) = digits.split_at(digits.len() - scale as usize);
        let frac = frac.trim_end_matches('0');
        let sign = if mantissa < 0 { "-" } else { "" };
        if frac.is_empty() { format!("{sign}{whole}") } else { format!("{sign}{whole}.{frac}") }
    }
}

/// Splits "250ms" into ("250", "ms") and "0.5" into ("0.5", "").
fn number_and_unit(text: &str) -> (&str, &str) {
    let end = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && (c == '-' || c == '+'))))
        .map_or(text.len(), |(i, _)| i);
    text.split_at(end)
}

/// Whether `text` starts like a number (a digit, or a sign and a digit).
fn starts_numeric(text: &str) -> bool {
    let t = text.trim().trim_start_matches(['-', '+']);
    t.starts_with(|c: char| c.is_ascii_digit())
}

fn expand_item(item: &str, out: &mut Vec<String>) -> Result<(), String> {
    // `a..b` is a range only when it starts like one: "../x" is a value
    // (a path, say), for the scenario's validation to judge.
    if let Some((a, b)) = item.split_once("..")
        && starts_numeric(a)
    {
        let (Ok(a), Ok(b)) = (a.trim().parse::<i64>(), b.trim().parse::<i64>()) else {
            return Err(format!(
                "\"{item}\": a..b takes whole numbers (both ends included); use start:stop:step for decimals or units"
            ));
        };
        if a > b {
            return Err(format!("\"{item}\": the range is empty ({a} > {b})"));
        }
        if (b - a) as u64 >= MAX_VALUES as u64 {
            return Err(format!("\"{item}\": more than {MAX_VALUES} values"));
        }
        out.extend((a..=b).map(|v| v.to_string()));
        return Ok(());
    }
    let parts: Vec<&str> = item.split(':').map(str::trim).collect();
    if parts.len() == 1 {
        if item.is_empty() {
            return Err("an empty value (two commas in a row, or a trailing comma)".to_string());
        }
        out.push(item.to_string());
        return Ok(());
    }
    let usage = "start:stop:step, e.g. 200:600:50, 0.1:0.5:0.1 or 100ms:1000ms:100ms";
    if parts.len() != 3 {
        return Err(format!("\"{item}\": expected {usage}"));
    }
    let split: Vec<(&str, &str)> = parts.iter().map(|p| number_and_unit(p)).collect();
    let unit = split[0].1;
    if split.iter().any(|(_, u)| *u != unit) {
        return Err(format!("\"{item}\": start, stop and step must have the same unit"));
    }
    let nums: Option<Vec<Decimal>> = split.iter().map(|(n, _)| Decimal::parse(n)).collect();
    let Some(nums) = nums else {
        return Err(format!("\"{item}\": start, stop and step must be plain decimal numbers: {usage}"));
    };
    let scale = nums.iter().map(|d| d.scale).max().unwrap_or(0);
    let [start, stop, step] = [nums[0].rescale(scale), nums[1].rescale(scale), nums[2].rescale(scale)];
    if step <= 0 {
        return Err(format!("\"{item}\": the step must be > 0"));
    }
    if start > stop {
        return Err(format!("\"{item}\": start is above stop"));
    }
    let count = (stop - start) / step + 1;
    if count > MAX_VALUES as i128 {
        return Err(format!("\"{item}\": more than {MAX_VALUES} values"));
    }
    out.extend((0..count).map(|k| format!("{}{unit}", Decimal::text(start + k * step, scale))));
    Ok(())
}

/// Parses one `--set PATH=VALUES` argument.
pub fn parse_set(arg: &str) -> Result<Parameter, String> {
    let Some((path, values)) = arg.split_once('=') else {
        return Err(format!("\"{arg}\": expected PATH=VALUES, e.g. services.app.nodes=3..10"));
    };
    let path = path.trim();
    crate::model::overrides::parse_key_path(path)?;
    let mut out = Vec::new();
    for item in values.split(',') {
        expand_item(item.trim(), &mut out).map_err(|e| format!("{path}: {e}"))?;
        if out.len() > MAX_VALUES {
            return Err(format!("{path}: more than {MAX_VALUES} values"));
        }
    }
    Ok(Parameter { path: path.to_string(), values: out })
}

/// Every combination of the parameters' values, the first parameter
/// varying slowest (nested loops in `--set` order).
pub fn points(params: &[Parameter]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = vec![Vec::new()];
    for p in params {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                p.values.iter().map(move |v| {
                    let mut point = prefix.clone();
                    point.push(v.clone());
                    point
                })
            })
            .collect();
    }
    out
}

/// Number of points without building them (saturating).
pub fn point_count(params: &[Parameter]) -> u64 {
    params.iter().fold(1u64, |n, p| n.saturating_mul(p.values.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(arg: &str) -> Vec<String> {
        parse_set(arg).unwrap().values
    }

    #[test]
    fn ranges_lists_and_steps() {
        assert_eq!(values("services.app.nodes=3..6"), ["3", "4", "5", "6"]);
        assert_eq!(values("traffic.web.rate=200:600:100"), ["200", "300", "400", "500", "600"]);
        assert_eq!(values("a.b=1,2,4"), ["1", "2", "4"]);
        assert_eq!(values("a.b=1, 5..6 ,9"), ["1", "5", "6", "9"]);
        assert_eq!(values("disaster_recovery.strategy=pilot-light"), ["pilot-light"]);
        assert_eq!(values("a.t=100ms:300ms:100ms"), ["100ms", "200ms", "300ms"]);
        assert_eq!(values("a.r=200/s:300/s:50/s"), ["200/s", "250/s", "300/s"]);
        // Stop is included only when a step lands on it.
        assert_eq!(values("a.b=0:10:4"), ["0", "4", "8"]);
        // Not a range: a value for validation to judge.
        assert_eq!(values("name=../../etc"), ["../../etc"]);
    }

    #[test]
    fn decimal_steps_print_cleanly() {
        assert_eq!(values("a.b=0.1:0.5:0.1"), ["0.1", "0.2", "0.3", "0.4", "0.5"]);
        assert_eq!(values("a.b=1:2:0.25"), ["1", "1.25", "1.5", "1.75", "2"]);
        assert_eq!(values("a.b=-0.2:0.2:0.1"), ["-0.2", "-0.1", "0", "0.1", "0.2"]);
        assert_eq!(values("a.b=0.7:0.95:0.05"), ["0.7", "0.75", "0.8", "0.85", "0.9", "0.95"]);
    }

    #[test]
    fn bad_sets_say_why() {
        for (arg, needle) in [
            ("nodes", "expected PATH=VALUES"),
            ("a.b=5..3", "empty"),
            ("a.b=1.5..3", "whole numbers"),
            ("a.b=1:5", "start:stop:step"),
            ("a.b=1:5:0", "step must be > 0"),
            ("a.b=1ms:5s:1ms", "same unit"),
            ("a.b=1,,2", "empty value"),
            ("a.b=0:1000000:1", "more than"),
            ("a..b=1", "empty key"),
        ] {
            let e = parse_set(arg).unwrap_err();
            assert!(e.contains(needle), "{arg}: {e}");
        }
    }

    #[test]
    fn cross_product_in_set_order() {
        let a = Parameter { path: "a".into(), values: vec!["1".into(), "2".into()] };
        let b = Parameter { path: "b".into(), values: vec!["x".into(), "y".into(), "z".into()] };
        let p = points(&[a.clone(), b.clone()]);
        assert_eq!(p.len(), 6);
        assert_eq!(p[0], ["1", "x"]);
        assert_eq!(p[1], ["1", "y"]);
        assert_eq!(p[5], ["2", "z"]);
        assert_eq!(point_count(&[a, b]), 6);
        assert_eq!(points(&[]), vec![Vec::<String>::new()]);
    }
}
