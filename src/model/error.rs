//! Scenario errors: one line naming the file, the position (line:column when
//! the parser knows it), the key path and the problem, e.g.
//! `models/x.toml:12:11: services.app.workers: must be >= 1, got 0`.

use std::fmt;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A problem with a scenario file. Always the user's to fix, never a panic.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioError {
    /// The file as the user named it (or a label such as "<string>").
    pub file: String,
    /// 1-based line and column, where known.
    pub position: Option<(usize, usize)>,
    /// Dotted key path, e.g. `services.app.workers`; empty for whole-file problems.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        // Keep it to one line whatever the underlying parser said.
        let message = self.message.split_whitespace().collect::<Vec<_>>().join(" ");
        write!(f, ": {message}")
    }
}

impl std::error::Error for ScenarioError {}

/// 1-based (line, column) of a byte offset in `source` (column in characters).
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..floor_char_boundary(source, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq)]
pub enum KeySegment {
    Key(String),
    Index(usize),
}

/// Renders a key path the way users write it: `traffic.web.schedule[1].rate`.
pub fn render_path(path: &[KeySegment]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            KeySegment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            KeySegment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Parses a rendered path back into segments (for errors that only have text).
pub fn parse_path(text: &str) -> Vec<KeySegment> {
    let mut segs = Vec::new();
    for part in text.split('.') {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            if open > 0 {
                segs.push(KeySegment::Key(rest[..open].to_string()));
            }
            rest = &rest[open..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let close = stripped.find(']').unwrap_or(stripped.len());
                if let Ok(i) = stripped[..close].parse() {
                    segs.push(KeySegment::Index(i));
                }
                rest = stripped.get(close + 1..).unwrap_or("");
            }
        } else if !rest.is_empty() && rest != "?" {
            segs.push(KeySegment::Key(rest.to_string()));
        }
    }
    segs
}

/// The byte span of the deepest element of `path` present in the document:
/// the value when the whole path exists, else the closest existing parent.
pub fn locate(root: &Spanned<DeTable<'_>>, path: &[KeySegment]) -> Option<std::ops::Range<usize>> {
    let mut span: Option<std::ops::Range<usize>> = None;
    let mut table: Option<&DeTable<'_>> = Some(root.get_ref());
    let mut value: Option<&DeValue<'_>> = None;
    for seg in path {
        let next: Option<&Spanned<DeValue<'_>>> = match (seg, table, value) {
            (KeySegment::Key(k), Some(t), _) => {
                t.iter().find(|(key, _)| key.get_ref().as_ref() == k.as_str()).map(|(_, v)| v)
            }
            (KeySegment::Index(i), _, Some(DeValue::Array(items))) => items.get(*i),
            _ => None,
        };
        let Some(next) = next else { break };
        span = Some(next.span());
        value = Some(next.get_ref());
        table = match next.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => None,
        };
    }
    span
}
