//! `report.html`: a [`Postmortem`] laid out as one self-contained page. It
//! runs no script and names no URL: the style is inline with a system font
//! stack, the charts are inline SVG, and every text from the folder's files
//! is escaped.

use super::{Postmortem, Table};

/// The page's style: readable on screen and on paper, no web fonts.
const STYLE: &str = "
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'Noto Sans',
       'Liberation Sans', 'DejaVu Sans', sans-serif; color: #1d2330; background: #ffffff;
       max-width: 1180px; margin: 0 auto; padding: 24px 32px 64px; line-height: 1.45; }
h1 { font-size: 1.8rem; margin: 0.2em 0 0.1em; }
h2 { font-size: 1.3rem; margin-top: 2em; border-bottom: 2px solid #d8dde8; padding-bottom: 0.2em; }
.kind { color: #5a6475; margin: 0 0 1em; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.2em 1.2em; margin: 0; }
dl.facts dt { color: #5a6475; }
dl.facts dd { margin: 0; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
pre.story { white-space: pre-wrap; background: #f4f6fa; border-left: 4px solid #3d6fd6;
            padding: 0.8em 1em; font: inherit; margin: 0; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; font-size: 0.95rem; }
th, td { text-align: left; padding: 0.3em 0.6em; border-bottom: 1px solid #e3e7ef; vertical-align: top; }
th { background: #eef1f7; }
tbody tr:nth-child(even) { background: #fafbfd; }
td.detail { overflow-wrap: anywhere; }
figure { margin: 1.5em 0; }
figure svg { display: block; width: 100%; height: auto; max-width: 100%; border: 1px solid #e3e7ef; }
figcaption { margin-top: 0.4em; color: #39414f; }
figcaption b { font-family: ui-monospace, 'DejaVu Sans Mono', monospace; font-weight: 600; }
.note { color: #5a6475; }
.more { font-weight: 600; margin-top: 0.5em; }
footer { margin-top: 3em; color: #8a93a3; font-size: 0.85rem; }
";

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The whole page.
pub fn html(r: &Postmortem) -> String {
    let mut out = String::new();
    let title = format!("{}: postmortem", r.scenario);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // Nothing may be fetched, even if some text slipped a URL in.
    out.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n",
    );
    out.push_str(&format!("<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n", escape(&title)));
    out.push_str(&format!("<h1>{}</h1>\n", escape(&r.scenario)));
    out.push_str(&format!("<p class=\"kind\">Postmortem of a {}</p>\n", r.kind_name()));

    out.push_str("<section id=\"facts\">\n<dl class=\"facts\">\n");
    for (label, value) in &r.facts {
        out.push_str(&format!("<dt>{}</dt><dd>{}</dd>\n", escape(label), escape(value)));
    }
    out.push_str("</dl>\n</section>\n");

    out.push_str("<section id=\"story\">\n<h2>The story</h2>\n");
    match &r.story {
        Some(story) => out.push_str(&format!("<pre class=\"story\">{}</pre>\n", escape(story))),
        None => out.push_str("<p class=\"note\">Story: not recorded (the scenario's opening comment).</p>\n"),
    }
    out.push_str("</section>\n");

    if let Some(t) = &r.summary {
        out.push_str("<section id=\"summary\">\n<h2>Summary</h2>\n");
        table(&mut out, t, "summary");
        out.push_str("</section>\n");
    }
    if let Some(t) = &r.points {
        out.push_str("<section id=\"points\">\n<h2>Sweep points</h2>\n");
        out.push_str("<p class=\"note\">Means across each point's runs, with 95% intervals.</p>\n");
        table(&mut out, t, "points");
        out.push_str("</section>\n");
    }
    if let Some(t) = &r.plan {
        out.push_str("<section id=\"plan\">\n<h2>Plan</h2>\n");
        out.push_str("<p class=\"note\">The candidates in the order tried.</p>\n");
        table(&mut out, t, "plan");
        out.push_str("</section>\n");
    }

    out.push_str("<section id=\"charts\">\n<h2>Charts</h2>\n");
    if r.charts.is_empty() {
        out.push_str("<p class=\"note\">No charts in this folder.</p>\n");
    }
    for c in &r.charts {
        out.push_str(&format!("<figure id=\"chart-{}\" data-chart=\"{}\">\n", escape(&c.name), escape(&c.name)));
        match (&c.svg, &c.png) {
            (Some(svg), _) => {
                out.push_str(svg);
                out.push('\n');
            }
            (None, Some(png)) => out.push_str(&format!(
                "<p class=\"note\">Not inlined (the SVG holds active content): see {} in this folder.</p>\n",
                escape(png)
            )),
            (None, None) => out.push_str("<p class=\"note\">Not inlined (the SVG holds active content).</p>\n"),
        }
        out.push_str(&format!(
            "<figcaption><b>{}</b>: {}</figcaption>\n</figure>\n",
            escape(&c.name),
            escape(&c.caption)
        ));
    }
    out.push_str("</section>\n");

    out.push_str("<section id=\"timeline\">\n<h2>Event timeline</h2>\n");
    match &r.events {
        Some(e) if e.rows.is_empty() => out.push_str("<p class=\"note\">events.csv has no events.</p>\n"),
        Some(e) => {
            out.push_str("<table class=\"events\">\n<thead><tr><th>time</th><th>service</th><th>node</th><th>event</th><th>detail</th></tr></thead>\n<tbody>\n");
            for row in &e.rows {
                out.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"detail\">{}</td></tr>\n",
                    escape(&row[0]),
                    escape(&row[1]),
                    escape(&row[2]),
                    escape(&row[3]),
                    escape(&row[4])
                ));
            }
            out.push_str("</tbody>\n</table>\n");
            if e.more > 0 {
                out.push_str(&format!("<p class=\"more\">{} more rows in events.csv</p>\n", e.more));
            }
        }
        None => out.push_str(&format!("<p class=\"note\">{}</p>\n", escape(&r.events_note))),
    }
    out.push_str("</section>\n");
    out.push_str(&format!(
        "<footer>Written by faultline {} from the files of this folder; <code>faultline report DIR</code> writes it again.</footer>\n",
        env!("CARGO_PKG_VERSION")
    ));
    out.push_str("</body>\n</html>\n");
    out
}

/// A table with each row's key and each number's exact value as data attributes.
fn table(out: &mut String, t: &Table, class: &str) {
    out.push_str(&format!("<table class=\"{class}\">\n<thead><tr>"));
    for c in &t.columns {
        out.push_str(&format!("<th>{}</th>", escape(c)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &t.rows {
        out.push_str(&format!("<tr data-key=\"{}\">", escape(&row.key)));
        for cell in &row.cells {
            match cell.value {
                Some(v) => out.push_str(&format!("<td data-value=\"{v}\">{}</td>", escape(&cell.text))),
                None => out.push_str(&format!("<td>{}</td>", escape(&cell.text))),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("<b>\"a\" & 'b'</b>"), "&lt;b&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/b&gt;");
    }
}
