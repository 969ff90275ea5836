//! `faultline report DIR` and `--report`: the postmortem report.html and
//! report.md of a run, a batch, a sweep and a plan. Checks that every
//! section is there, that the summary figures are exactly those of
//! summary.json, that text from the files is escaped, that long event logs
//! are cut, that both shapes of a batch's `metrics` are read, and that a
//! folder which is not faultline output is refused (exit 2, nothing written).
//! The page in a real browser: tests/report_browser.rs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/three-node-cascade.toml");

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("faultline runs")
}

fn ok(args: &[&str]) {
    let out = faultline(args);
    assert!(out.status.success(), "faultline {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A fresh folder under the target directory, removed when the test passes.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

fn temp_dir(name: &str) -> TempDir {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    TempDir(dir)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&read(path)).unwrap()
}

/// The `data-value` of the first numeric cell of the summary row `key`.
fn summary_value(html: &str, key: &str) -> Option<f64> {
    let at = html.find(&format!("<tr data-key=\"{key}\">"))?;
    let row = &html[at..at + html[at..].find("</tr>")?];
    let v = row.split("data-value=\"").nth(1)?;
    v[..v.find('"')?].parse().ok()
}

fn assert_sections(html: &str, md: &str, sections: &[&str]) {
    for id in sections {
        assert!(html.contains(&format!("<section id=\"{id}\">")), "report.html lacks the {id} section");
    }
    for heading in ["## The story", "## Charts", "## Event timeline"] {
        assert!(md.contains(heading), "report.md lacks {heading}");
    }
}

#[test]
fn run_report_has_every_section_and_the_summary_figures() {
    let dir = temp_dir("run");
    ok(&["run", MODEL, "--out", dir.to_str().unwrap(), "-q", "--report"]);
    let (html, md) = (read(&dir.join("report.html")), read(&dir.join("report.md")));
    assert_sections(&html, &md, &["facts", "story", "summary", "charts", "timeline"]);
    // The story: the scenario's opening comment (from the file --report ran).
    assert!(html.contains("Three nodes, one dies, the survivors overheat"), "no story");
    assert!(md.contains("Three nodes, one dies, the survivors overheat"));
    for fact in ["scenario digest", "faultline version", "seed", "runs"] {
        assert!(html.contains(&format!("<dt>{fact}</dt>")), "no {fact}");
    }
    // Every chart of the folder, inline, with its caption; report.md links the PNGs.
    for chart in ["herd", "timeline", "latency"] {
        assert!(html.contains(&format!("<figure id=\"chart-{chart}\"")), "no {chart} figure");
        assert!(md.contains(&format!("![{chart}]({chart}.png)")), "report.md does not link {chart}.png");
    }
    // Every chart the folder holds (the story charts such as `queues` too) is inlined once.
    let svgs = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "svg"))
        .count();
    assert!(svgs >= 3);
    assert_eq!(html.matches("<svg viewBox=").count(), svgs);
    assert!(html.contains("look for"), "captions say what to look at");
    // Figures exactly as in summary.json.
    let s = json(&dir.join("summary.json"));
    assert_eq!(summary_value(&html, "offered"), s["offered"].as_f64());
    assert_eq!(summary_value(&html, "success_fraction"), s["success_fraction"].as_f64());
    assert_eq!(summary_value(&html, "latency_p50_ms"), s["latency_ms"]["p50"].as_f64());
    assert_eq!(summary_value(&html, "latency_p99_ms"), s["latency_ms"]["p99"].as_f64());
    assert_eq!(summary_value(&html, "cascade"), Some(1.0), "the cascade model cascades");
    assert!(html.contains("1m 35s"), "the cascade time (95 s) in readable units");
    // The timeline: every row of events.csv (this log is short).
    let events = read(&dir.join("events.csv")).lines().count() - 1;
    let table = &html[html.find("<table class=\"events\">").unwrap()..];
    assert_eq!(table[..table.find("</table>").unwrap()].matches("<tr><td>").count(), events);
    assert!(html.contains("<td>fault-start</td>"));
    // Self-contained: no script, no stylesheet or font fetched.
    for fetch in ["<script", "src=", "href=", "<link", "url(", "@import", "@font-face"] {
        assert!(!html.contains(fetch), "report.html holds {fetch}");
    }
}

#[test]
fn batch_report_shows_intervals_equal_to_summary_json_in_both_metric_shapes() {
    let dir = temp_dir("batch");
    ok(&["run", MODEL, "--runs", "6", "--out", dir.to_str().unwrap(), "-q", "--report"]);
    let (html, md) = (read(&dir.join("report.html")), read(&dir.join("report.md")));
    assert_sections(&html, &md, &["facts", "story", "summary", "charts", "timeline"]);
    assert!(html.contains("95% interval"));
    assert!(html.contains("A batch keeps no event log"));
    let s = json(&dir.join("summary.json"));
    let metric = |name: &str| -> Value {
        match &s["metrics"] {
            Value::Array(pairs) => pairs.iter().find(|p| p[0] == name).map(|p| p[1].clone()).unwrap(),
            Value::Object(map) => map[name].clone(),
            _ => panic!("metrics is neither an array nor an object"),
        }
    };
    let check = |html: &str| {
        for name in ["offered", "success_fraction", "latency_p50_ms", "latency_p99_ms"] {
            assert_eq!(summary_value(html, name), metric(name)["mean"].as_f64(), "{name}");
        }
        assert_eq!(summary_value(html, "p_cascade"), s["cascade"]["p"].as_f64());
        assert_eq!(summary_value(html, "p_recovered"), s["recovered"]["p"].as_f64());
        // The interval as printed.
        let low = metric("success_fraction")["ci95_low"].as_f64().unwrap();
        assert!(html.contains(&format!("[{:.2}%,", low * 100.0)), "the success interval's low end");
    };
    check(&html);
    // A summary.json whose metrics are an object keyed by name reads the same.
    let mut keyed = s.clone();
    if let Value::Array(pairs) = &s["metrics"] {
        let map: serde_json::Map<String, Value> =
            pairs.iter().map(|p| (p[0].as_str().unwrap().to_string(), p[1].clone())).collect();
        keyed["metrics"] = Value::Object(map);
    }
    keyed["story"] = Value::String("Recorded story.".into());
    keyed["scenario_digest"] = Value::String("sha256:abc123".into());
    std::fs::write(dir.join("summary.json"), serde_json::to_vec_pretty(&keyed).unwrap()).unwrap();
    ok(&["report", dir.to_str().unwrap(), "-q"]);
    let html = read(&dir.join("report.html"));
    check(&html);
    assert!(html.contains("Recorded story."), "the recorded story comes first");
    assert!(html.contains("<dd>sha256:abc123</dd>"));
}

#[test]
fn sweep_and_plan_reports_have_their_tables() {
    let sweep = temp_dir("sweep");
    ok(&[
        "sweep",
        MODEL,
        "--set",
        "services.app.nodes=3,5",
        "--runs",
        "4",
        "--duration",
        "5m",
        "--out",
        sweep.to_str().unwrap(),
        "-q",
        "--report",
    ]);
    let (html, md) = (read(&sweep.join("report.html")), read(&sweep.join("report.md")));
    assert_sections(&html, &md, &["facts", "story", "points", "charts", "timeline"]);
    assert_eq!(html.matches("<tr data-key=").count(), 2, "one row per point");
    assert!(html.contains("<th>services.app.nodes</th>"));
    assert!(html.contains("<figure id=\"chart-sweep-cascade\""));
    assert!(md.contains("| point | services.app.nodes |"));

    // A plan capped at the fleet it starts from: quick, no recommendation (exit 1).
    let plan = temp_dir("plan");
    let out = faultline(&[
        "plan",
        MODEL,
        "--service",
        "app",
        "--lose",
        "1",
        "--duration",
        "5m",
        "--max-nodes",
        "3",
        "--out",
        plan.to_str().unwrap(),
        "-q",
        "--report",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let html = read(&plan.join("report.html"));
    let rows = read(&plan.join("plan.csv")).lines().count() - 1;
    assert!(html.contains("<section id=\"plan\">"));
    let table = &html[html.find("<table class=\"plan\">").unwrap()..];
    assert_eq!(table[..table.find("</table>").unwrap()].matches("<tr data-key=").count(), rows);
    assert!(html.contains("<figure id=\"chart-plan\""));
    assert!(html.contains("Three nodes, one dies"), "the story from the scenario file plan ran");
}

#[test]
fn text_from_the_files_is_escaped_and_long_logs_are_cut() {
    let dir = temp_dir("escape");
    ok(&["run", MODEL, "--out", dir.to_str().unwrap(), "-q", "--no-charts"]);
    let mut s = json(&dir.join("summary.json"));
    s["scenario"] = Value::String("<script>alert(\"x\")</script> & |pipe|".into());
    s["story"] = Value::String("A <b>bold</b> claim & a ``` fence".into());
    std::fs::write(dir.join("summary.json"), serde_json::to_vec_pretty(&s).unwrap()).unwrap();
    let mut events = String::from("run,seed,t_s,service,node,event,detail\n");
    events.push_str("0,7,1.5,<img src=x>,0,crash,\"a | b <i>it</i>\"\n");
    for i in 0..1000 {
        events.push_str(&format!("0,7,{},app,1,restart,again {i}\n", 2 + i));
    }
    std::fs::write(dir.join("events.csv"), events).unwrap();
    ok(&["report", dir.to_str().unwrap(), "-q"]);
    let (html, md) = (read(&dir.join("report.html")), read(&dir.join("report.md")));
    assert!(!html.contains("<script>alert"), "a scenario name became markup");
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; |pipe|"));
    assert!(html.contains("A &lt;b&gt;bold&lt;/b&gt; claim &amp; a ``` fence"));
    assert!(html.contains("<td>&lt;img src=x&gt;</td>") && !html.contains("<img"));
    assert!(md.contains("\\<script\\>alert(\"x\")\\</script\\> \\& \\|pipe\\|"));
    assert!(md.contains("| a \\| b \\<i\\>it\\</i\\> |"), "a table cell's pipe is escaped");
    assert!(md.contains("````text\nA <b>bold</b> claim & a ``` fence\n````"), "the story's fence is longer");
    // 1001 events: the first 300 shown, the rest counted.
    assert_eq!(html.matches("<td>restart</td>").count(), 299);
    assert!(html.contains("701 more rows in events.csv"));
    assert!(md.contains("701 more rows in events.csv"));
    assert!(html.contains("<td>1.5s</td>"));
    // --no-charts left none: `report` drew them.
    assert!(dir.join("herd.svg").is_file());
    assert!(html.contains("<figure id=\"chart-herd\""));
}

#[test]
fn a_folder_that_is_not_faultline_output_is_refused_and_nothing_is_written() {
    let dir = temp_dir("bad");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "hello").unwrap();
    let out = faultline(&["report", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("not a faultline output folder"), "{stderr}");
    // Output files without their summary: an unfinished result.
    std::fs::write(dir.join("timeseries.csv"), "bin\n0\n").unwrap();
    let out = faultline(&["report", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("summary.json: missing"));
    // A damaged summary.json.
    std::fs::write(dir.join("summary.json"), "{ not json").unwrap();
    let out = faultline(&["report", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let out = faultline(&["report", dir.join("no-such-folder").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    for f in ["report.html", "report.md"] {
        assert!(!dir.join(f).exists(), "{f} written for a bad folder");
    }
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 3, "only the files the test wrote: {names:?}");
}

#[test]
fn a_new_result_removes_the_old_report() {
    let dir = temp_dir("stale");
    ok(&["run", MODEL, "--out", dir.to_str().unwrap(), "-q", "--report", "--no-charts"]);
    assert!(dir.join("report.html").is_file() && dir.join("report.md").is_file());
    assert!(!dir.join("herd.svg").exists(), "--report --no-charts draws no charts");
    assert!(read(&dir.join("report.html")).contains("No charts in this folder."));
    ok(&["run", MODEL, "--out", dir.to_str().unwrap(), "-q", "--no-charts"]);
    assert!(!dir.join("report.html").exists(), "a report of the replaced result stayed");
    assert!(!dir.join("report.md").exists());
}
