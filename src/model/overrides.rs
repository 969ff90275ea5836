//! Command-line overrides of scenario values (`--set PATH=VALUE`): a path
//! into the scenario file's tables and arrays, written the way error
//! messages print it (`services.app.nodes`, `faults[0].at`,
//! `traffic.web.schedule[1].rate`), and one value. Overrides are applied to
//! the parsed TOML document before validation, so an overridden scenario is
//! validated exactly like a file that says the same thing.

use super::error::KeySegment;
use super::{Scenario, ScenarioError};

/// One `PATH=VALUE` override.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// The path as the user wrote it.
    pub path: String,
    /// The value as text (it is typed against the document when applied).
    pub value: String,
}

impl std::fmt::Display for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.path, self.value)
    }
}

/// Parses `services.app.nodes` or `faults[0].at` into segments; keys are
/// letters, digits, `-` and `_` (the characters of names in a scenario).
pub fn parse_key_path(text: &str) -> Result<Vec<KeySegment>, String> {
    let bad = |why: &str| {
        format!("path \"{text}\" {why}; write keys separated by dots, e.g. services.app.nodes or faults[0].at")
    };
    let mut segments = Vec::new();
    for part in text.split('.') {
        let (key, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if key.is_empty() {
            return Err(bad("has an empty key"));
        }
        if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(bad(&format!("has a key \"{key}\" with characters other than letters, digits, '-' and '_'")));
        }
        segments.push(KeySegment::Key(key.to_string()));
        while !rest.is_empty() {
            let Some(inside) = rest.strip_prefix('[').and_then(|r| r.split_once(']')) else {
                return Err(bad("has a malformed [index]"));
            };
            let index =
                inside.0.parse().map_err(|_| bad(&format!("has an index \"[{}]\" that is not a number", inside.0)))?;
            segments.push(KeySegment::Index(index));
            rest = inside.1;
        }
    }
    Ok(segments)
}

/// Types `text` for the document: the existing value's type when it is a
/// string (durations, rates, names stay strings), else the literal's own
/// type: integer, float, boolean, or string.
fn typed_value(text: &str, existing: Option<&toml::Value>) -> toml::Value {
    if let Some(toml::Value::String(_)) = existing {
        return toml::Value::String(text.to_string());
    }
    if let Ok(i) = text.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    let numeric = !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c));
    if numeric && let Ok(x) = text.parse::<f64>() {
        return toml::Value::Float(x);
    }
    match text {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(text.to_string()),
    }
}

/// Sets one value in the document. Missing tables along the path are
/// created (validation then says whether they make sense); array entries
/// must exist.
pub fn apply(doc: &mut toml::Table, o: &Override) -> Result<(), String> {
    let path = parse_key_path(&o.path)?;
    let mut here = String::new();
    let mut slot: Option<&mut toml::Value> = None;
    let mut table: Option<&mut toml::Table> = Some(doc);
    for (i, seg) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        let next: &mut toml::Value = match (seg, table.take(), slot.take()) {
            (KeySegment::Key(k), Some(t), _) => {
                if !t.contains_key(k) {
                    if last {
                        let value = typed_value(&o.value, None);
                        t.insert(k.clone(), value);
                        return Ok(());
                    }
                    t.insert(k.clone(), toml::Value::Table(toml::Table::new()));
                }
                t.get_mut(k).expect("inserted above")
            }
            (KeySegment::Index(n), _, Some(toml::Value::Array(items))) => {
                let len = items.len();
                items.get_mut(*n).ok_or_else(|| format!("{here} has {len} entries, so [{n}] does not exist"))?
            }
            (KeySegment::Index(_), _, _) => return Err(format!("{here} is not an array")),
            (KeySegment::Key(k), None, _) => return Err(format!("{here} is a single value, it has no key \"{k}\"")),
        };
        match seg {
            KeySegment::Key(k) if here.is_empty() => here.push_str(k),
            KeySegment::Key(k) => here.push_str(&format!(".{k}")),
            KeySegment::Index(n) => here.push_str(&format!("[{n}]")),
        }
        if last {
            if matches!(next, toml::Value::Table(_) | toml::Value::Array(_)) {
                return Err(format!(
                    "{here} holds a table or array; --set sets single values (address a key inside it)"
                ));
            }
            *next = typed_value(&o.value, Some(next));
            return Ok(());
        }
        match next {
            toml::Value::Table(t) => table = Some(t),
            other => slot = Some(other),
        }
    }
    Ok(())
}

/// Scenario text as a TOML document, for applying overrides to.
pub fn parse_document(text: &str) -> Result<toml::Table, String> {
    text.parse().map_err(|e: toml::de::Error| e.message().to_string())
}

/// The document with the overrides applied, as TOML text.
pub fn apply_all(mut doc: toml::Table, overrides: &[Override]) -> Result<String, String> {
    for o in overrides {
        apply(&mut doc, o).map_err(|e| format!("--set {o}: {e}"))?;
    }
    toml::to_string(&doc).map_err(|e| e.to_string())
}

impl Scenario {
    /// Validates scenario `text` (from `file`) with `overrides` applied.
    /// Errors name the file and the overrides; positions refer to the
    /// original file only when there are no overrides.
    pub fn from_toml_with(
        text: &str,
        file: &str,
        default_name: Option<&str>,
        overrides: &[Override],
    ) -> Result<Scenario, ScenarioError> {
        if overrides.is_empty() {
            return Scenario::from_toml(text, file, default_name);
        }
        // The file itself first, so its own mistakes keep their line numbers.
        Scenario::from_toml(text, file, default_name)?;
        let doc = parse_document(text).map_err(|message| ScenarioError {
            file: file.to_string(),
            position: None,
            key: String::new(),
            message,
        })?;
        let mut scenario = Scenario::from_document_with(doc, file, default_name, overrides)?;
        // The file as read, not the edited document: the overrides are recorded on their own.
        scenario.origin = super::Origin::of(text, file);
        Ok(scenario)
    }

    /// Validates a parsed scenario document (of a file already known to be
    /// valid) with `overrides` applied; errors name the file and overrides.
    /// Its [`Scenario::origin`] is that of the edited document: a caller
    /// with the file's bytes sets it to the file's.
    pub fn from_document_with(
        doc: toml::Table,
        file: &str,
        default_name: Option<&str>,
        overrides: &[Override],
    ) -> Result<Scenario, ScenarioError> {
        let label = if overrides.is_empty() {
            file.to_string()
        } else {
            format!("{file} with {}", overrides.iter().map(|o| format!("--set {o}")).collect::<Vec<_>>().join(" "))
        };
        let edited = apply_all(doc, overrides).map_err(|message| ScenarioError {
            file: label.clone(),
            position: None,
            key: String::new(),
            message,
        })?;
        Scenario::from_toml_in(&edited, &label, super::scenario_dir(file), default_name)
            .map_err(|e| ScenarioError { position: None, ..e })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
version = 1
[simulation]
duration = "1m"
seed = 3
[traffic.web]
rate = "100/s"
target = "app"
[services.app]
nodes = 3
workers = 4
service_time = { distribution = "exponential", mean = "10ms" }
[[faults]]
kind = "crash"
at = "10s"
service = "app"
nodes = [0]
"#;

    fn set(path: &str, value: &str) -> Override {
        Override { path: path.into(), value: value.into() }
    }

    fn with(overrides: &[Override]) -> Result<Scenario, ScenarioError> {
        Scenario::from_toml_with(BASE, "base.toml", Some("base"), overrides)
    }

    #[test]
    fn paths_parse_like_error_messages_print_them() {
        assert_eq!(
            parse_key_path("traffic.web.schedule[1].rate").unwrap(),
            vec![
                KeySegment::Key("traffic".into()),
                KeySegment::Key("web".into()),
                KeySegment::Key("schedule".into()),
                KeySegment::Index(1),
                KeySegment::Key("rate".into()),
            ]
        );
        for bad in ["", "a..b", "a[x]", "a[1", "a.b c", ".a"] {
            assert!(parse_key_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn overrides_change_exactly_what_they_name() {
        let base = with(&[]).unwrap();
        let s = with(&[set("services.app.nodes", "5"), set("traffic.web.rate", "250")]).unwrap();
        assert_eq!(s.services[0].nodes, 5);
        assert_eq!(s.traffic[0].rate.steps[0].per_sec, 250.0);
        assert_eq!(s.simulation, base.simulation);
        let s = with(&[set("simulation.duration", "90s"), set("faults[0].at", "20s")]).unwrap();
        assert_eq!(s.simulation.duration.as_secs_f64(), 90.0);
        assert_eq!(s.faults[0].at.0, 20_000_000_000);
        // A missing optional key is created.
        let s = with(&[set("services.app.queue_capacity", "7")]).unwrap();
        assert_eq!(s.services[0].queue_capacity, Some(7));
    }

    #[test]
    fn bad_overrides_are_one_clear_line() {
        let text = |o: &[Override]| with(o).unwrap_err().to_string();
        let e = text(&[set("services.app.nodes", "0")]);
        assert!(e.starts_with("base.toml with --set services.app.nodes=0: services.app.nodes: "), "{e}");
        let e = text(&[set("services.app.nodez", "3")]);
        assert!(e.contains("unknown field `nodez`"), "{e}");
        let e = text(&[set("faults[3].at", "1s")]);
        assert!(e.contains("faults has 1 entries, so [3] does not exist"), "{e}");
        let e = text(&[set("services.app", "3")]);
        assert!(e.contains("holds a table"), "{e}");
        let e = text(&[set("simulation.duration", "5")]);
        assert!(e.contains("has no unit"), "{e}");
        assert!(!e.contains('\n'));
    }
}
