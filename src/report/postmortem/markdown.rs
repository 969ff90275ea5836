//! `report.md`: a [`Postmortem`] as Markdown, with the folder's PNG charts
//! linked by relative name (they sit beside the file). Text from the
//! folder's files is escaped so it cannot become markup.

use super::{Postmortem, Table};

/// Escapes text for a Markdown paragraph or table cell: ASCII punctuation
/// that could start markup gets a backslash, and a newline becomes a space
/// (a cell is one line).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' | '&' | '{' | '}' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

pub fn markdown(r: &Postmortem) -> String {
    let mut out = format!("# {}: postmortem\n\nPostmortem of a {}.\n\n", escape(&r.scenario), r.kind_name());
    for (label, value) in &r.facts {
        out.push_str(&format!("- **{}**: {}\n", escape(label), escape(value)));
    }
    out.push_str("\n## The story\n\n");
    match &r.story {
        Some(story) => {
            // A fence longer than any run of backticks in the story.
            let longest = story.split(|c| c != '`').map(str::len).max().unwrap_or(0);
            let fence = "`".repeat(longest.max(2) + 1);
            out.push_str(&format!("{fence}text\n{story}\n{fence}\n"));
        }
        None => out.push_str("Story: not recorded (the scenario's opening comment).\n"),
    }
    if let Some(t) = &r.summary {
        out.push_str("\n## Summary\n\n");
        table(&mut out, t);
    }
    if let Some(t) = &r.points {
        out.push_str("\n## Sweep points\n\nMeans across each point's runs, with 95% intervals.\n\n");
        table(&mut out, t);
    }
    if let Some(t) = &r.plan {
        out.push_str("\n## Plan\n\nThe candidates in the order tried.\n\n");
        table(&mut out, t);
    }
    out.push_str("\n## Charts\n\n");
    if r.charts.is_empty() {
        out.push_str("No charts in this folder.\n");
    }
    for c in &r.charts {
        match &c.png {
            Some(png) => out.push_str(&format!("![{}]({})\n\n", escape(&c.name), link(png))),
            None => out.push_str(&format!("({}.png is missing)\n\n", escape(&c.name))),
        }
        out.push_str(&format!("**{}**: {}\n\n", escape(&c.name), escape(&c.caption)));
    }
    out.push_str("## Event timeline\n\n");
    match &r.events {
        Some(e) if e.rows.is_empty() => out.push_str("events.csv has no events.\n"),
        Some(e) => {
            out.push_str("| time | service | node | event | detail |\n| --- | --- | --- | --- | --- |\n");
            for row in &e.rows {
                let cells: Vec<String> = row.iter().map(|c| escape(c)).collect();
                out.push_str(&format!("| {} |\n", cells.join(" | ")));
            }
            if e.more > 0 {
                out.push_str(&format!("\n{} more rows in events.csv\n", e.more));
            }
        }
        // The note is faultline's own text, with Markdown code spans meant.
        None => out.push_str(&format!("{}\n", r.events_note)),
    }
    out.push_str(&format!(
        "\n---\nWritten by faultline {} from the files of this folder; `faultline report DIR` writes it again.\n",
        env!("CARGO_PKG_VERSION")
    ));
    out
}

/// A file name as a link target: spaces and parentheses percent-encoded.
fn link(name: &str) -> String {
    name.replace('%', "%25").replace(' ', "%20").replace('(', "%28").replace(')', "%29")
}

fn table(out: &mut String, t: &Table) {
    let header: Vec<String> = t.columns.iter().map(|c| escape(c)).collect();
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    out.push_str(&format!("|{}\n", " --- |".repeat(t.columns.len())));
    for row in &t.rows {
        let cells: Vec<String> = row.cells.iter().map(|c| escape(&c.text)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a|b <i>*x*</i>\nc"), "a\\|b \\<i\\>\\*x\\*\\</i\\> c");
    }
}
