//! The postmortem report opened in a real browser: headless Chromium loads
//! report.html of a run and of a batch, takes a screenshot, and the test
//! checks the page rendered (enough non-white pixels, several colours, the
//! charts' colours present), logged nothing to the console and requested
//! nothing over the network. A self-check feeds the same checks a blank
//! page, a page that throws, a page that fetches an image and a report with
//! its charts stripped, and requires each to fail, so the checks can fail.
//!
//! Chromium is the Debian package `chromium`; when /usr/bin/chromium is
//! missing the test runs .ci/install-chromium (apt-get, as root on CI) and
//! skips, saying so, only if that fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use resvg::tiny_skia::Pixmap;

const CHROMIUM: &str = "/usr/bin/chromium";
/// A first launch on a fresh machine builds its font cache (seen: 17 s).
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(90);
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 3000;

fn faultline(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("faultline runs");
    assert!(out.status.success(), "faultline {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("report-browser-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Chromium's path, installing it when missing; `None` (printed) when it
/// cannot be had.
fn chromium() -> Option<PathBuf> {
    if Path::new(CHROMIUM).is_file() {
        return Some(CHROMIUM.into());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/install-chromium");
    eprintln!("{CHROMIUM} is missing: running {}", script.display());
    let started = Instant::now();
    let status = Command::new("bash").arg(&script).stdin(Stdio::null()).status();
    eprintln!("install took {:.0?}: {status:?}", started.elapsed());
    if Path::new(CHROMIUM).is_file() {
        return Some(CHROMIUM.into());
    }
    println!("SKIPPED report_browser: Chromium is not installed and {} could not install it", script.display());
    None
}

/// What a page did in the browser.
struct Page {
    screenshot: Pixmap,
    /// Console messages (Chromium logs them to stderr as `...:CONSOLE...`).
    console: Vec<String>,
    /// URLs the browser requested for the page (from its net log).
    requests: Vec<String>,
}

/// Opens `html` in headless Chromium with a fresh profile and a hard timeout.
fn open(chromium: &Path, html: &Path, work: &Path) -> Page {
    let profile = work.join("profile");
    let _ = std::fs::remove_dir_all(&profile);
    let shot = work.join(format!("{}.png", html.file_stem().unwrap().to_string_lossy()));
    let netlog = work.join("netlog.json");
    let stderr_path = work.join("chromium.stderr");
    let _ = std::fs::remove_file(&shot);
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--log-net-log={}", netlog.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
        .arg(format!("file://{}", html.canonicalize().unwrap().display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("chromium starts");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium on {}: {status}", html.display());
            break;
        }
        if started.elapsed() > LAUNCH_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium on {} did not finish within {LAUNCH_TIMEOUT:?}", html.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("chromium rendered {} in {:.1?}: {}", html.display(), started.elapsed(), shot.display());
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let console = stderr.lines().filter(|l| l.contains(":CONSOLE")).map(str::to_string).collect();
    let log = std::fs::read_to_string(&netlog).unwrap_or_default();
    let requests = page_requests(&log);
    let bytes = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot {}: {e}", shot.display()));
    Page { screenshot: Pixmap::decode_png(&bytes).expect("a PNG screenshot"), console, requests }
}

/// The URLs in a net log, less Chromium's own service calls (time, update
/// and account checks that a fresh profile makes whatever the page).
fn page_requests(netlog: &str) -> Vec<String> {
    let browser_own = ["google.com/", "googleapis.com/", "gstatic.com/"];
    let mut urls: Vec<String> = netlog
        .split("\"url\":\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|url| url.starts_with("http") || url.starts_with("ws"))
        .filter(|url| {
            let host_and_path = url.split("://").nth(1).unwrap_or("");
            let host = host_and_path.split('/').next().unwrap_or("");
            !browser_own.iter().any(|own| format!("{host}/").ends_with(own))
        })
        .map(str::to_string)
        .collect();
    urls.sort();
    urls.dedup();
    urls
}

/// Whether an opaque pixel is colourful (chart ink), not white, grey or black text.
fn colourful(r: u8, g: u8, b: u8) -> bool {
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    max as i32 - min as i32 > 40
}

/// How many columns and rows of the screenshot hold a colourful pixel: a
/// chart's lines and areas spread over both, where a coloured border or a
/// bullet stays in a few columns.
fn ink_spread(shot: &Pixmap) -> (usize, usize) {
    let width = shot.width() as usize;
    let mut columns = vec![false; width];
    let mut rows = vec![false; shot.height() as usize];
    for (i, p) in shot.pixels().iter().enumerate() {
        if colourful(p.red(), p.green(), p.blue()) {
            columns[i % width] = true;
            rows[i / width] = true;
        }
    }
    (columns.iter().filter(|&&c| c).count(), rows.iter().filter(|&&r| r).count())
}

/// Every problem with a page, empty when it rendered cleanly.
fn problems(page: &Page) -> Vec<String> {
    let mut problems = Vec::new();
    let pixels = page.screenshot.pixels();
    let total = pixels.len() as f64;
    let mut non_white = 0usize;
    let mut ink = 0usize;
    let mut colours = std::collections::HashSet::new();
    for p in pixels {
        let (r, g, b) = (p.red(), p.green(), p.blue());
        if r < 245 || g < 245 || b < 245 {
            non_white += 1;
        }
        if colourful(r, g, b) {
            ink += 1;
        }
        colours.insert((r >> 4, g >> 4, b >> 4));
    }
    if (non_white as f64) < 0.03 * total {
        problems.push(format!("blank: only {:.2}% of the pixels are not white", 100.0 * non_white as f64 / total));
    }
    if colours.len() < 12 {
        problems.push(format!("only {} colours", colours.len()));
    }
    // The charts are the only colourful things on the page (text is black
    // and grey): a page whose charts did not render has almost no colour,
    // and what little it has (the story's border) is in no band of its own.
    let (columns, rows) = ink_spread(&page.screenshot);
    eprintln!(
        "  {:.2}% not white, {} colours, {:.3}% colourful over {columns} columns and {rows} rows",
        100.0 * non_white as f64 / total,
        colours.len(),
        100.0 * ink as f64 / total
    );
    if (ink as f64) < 0.002 * total || columns < 400 || rows < 300 {
        problems.push(format!(
            "no charts: {:.3}% colourful pixels over {columns} columns and {rows} rows",
            100.0 * ink as f64 / total
        ));
    }
    if !page.console.is_empty() {
        problems.push(format!("console messages: {}", page.console.join(" / ")));
    }
    if !page.requests.is_empty() {
        problems.push(format!("network requests: {}", page.requests.join(", ")));
    }
    problems
}

/// Attributes and rules through which an HTML page would fetch something.
fn fetching_markup(html: &str) -> Vec<&'static str> {
    let lower = html.to_ascii_lowercase();
    ["src=", "href=", "srcset=", "url(", "@import", "<link", "<script", "<iframe", "<object", "<embed"]
        .into_iter()
        .filter(|m| lower.contains(m))
        .collect()
}

#[test]
fn reports_render_in_chromium_without_errors_or_network() {
    let Some(chromium) = chromium() else { return };
    let work = temp_dir("pages");
    let run = work.join("run");
    let batch = work.join("batch");
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/three-node-cascade.toml");
    faultline(&["run", model, "--out", run.to_str().unwrap(), "--report", "-q"]);
    faultline(&["run", model, "--runs", "8", "--out", batch.to_str().unwrap(), "--report", "-q"]);

    // Self-check first: each broken page must fail the checks.
    let broken = work.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    let blank = broken.join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body></body></html>").unwrap();
    let throws = broken.join("throws.html");
    let report_html = std::fs::read_to_string(run.join("report.html")).unwrap();
    // Without the report's Content-Security-Policy, so the script runs and throws.
    let without_csp: String = report_html.lines().filter(|l| !l.contains("Content-Security-Policy")).collect();
    std::fs::write(&throws, without_csp.replace("</body>", "<script>throw new Error('deliberate');</script></body>"))
        .unwrap();
    let fetches = broken.join("fetches.html");
    std::fs::write(
        &fetches,
        "<!DOCTYPE html><html><body><h1>x</h1><img src=\"http://127.0.0.1:9/chart.png\"></body></html>",
    )
    .unwrap();
    let no_charts = broken.join("no-charts.html");
    let stripped = strip_svgs(&report_html);
    std::fs::write(&no_charts, &stripped).unwrap();
    let cases: [(&Path, &str); 4] =
        [(&blank, "blank"), (&throws, "console messages"), (&fetches, "network requests"), (&no_charts, "no charts")];
    for (page, expected) in cases {
        let found = problems(&open(&chromium, page, &broken));
        assert!(
            found.iter().any(|p| p.starts_with(expected)),
            "{}: the checks should report \"{expected}\", got {found:?}",
            page.display()
        );
    }
    assert!(!fetching_markup(&std::fs::read_to_string(&fetches).unwrap()).is_empty());

    for dir in [&run, &batch] {
        let html_path = dir.join("report.html");
        let html = std::fs::read_to_string(&html_path).unwrap();
        assert_eq!(fetching_markup(&html), Vec::<&str>::new(), "{}", html_path.display());
        let page = open(&chromium, &html_path, dir);
        let found = problems(&page);
        assert!(found.is_empty(), "{}: {found:?}", html_path.display());
    }
    // The screenshots stay for a look with FAULTLINE_KEEP_SCREENSHOTS=1.
    if std::env::var_os("FAULTLINE_KEEP_SCREENSHOTS").is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
}

/// The page with every inline `<svg>...</svg>` cut out.
fn strip_svgs(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("</svg>").map_or(rest.len(), |e| start + e + "</svg>".len());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}
