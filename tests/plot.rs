//! Charts (issue 6): every chart renders from a small output folder to PNG
//! and SVG with its title, axis labels and legend; `faultline plot` redraws
//! a run's, a batch's and a sweep's folder with no simulation; empty or
//! partial folders give one clear line, not a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("faultline starts")
}

fn ok(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The three kinds of output folder, made once for all tests.
struct Fixtures {
    run: PathBuf,
    batch: PathBuf,
    sweep: PathBuf,
    dr: PathBuf,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("faultline-plot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let f = Fixtures {
            run: base.join("run"),
            batch: base.join("batch"),
            sweep: base.join("sweep"),
            dr: base.join("dr"),
        };
        let s = |p: &Path| p.to_str().unwrap().to_string();
        // The cascade with a p99 objective, for the SLO line.
        std::fs::create_dir_all(&base).unwrap();
        let scenario = base.join("three-node-cascade.toml");
        let text = std::fs::read_to_string("models/three-node-cascade.toml").unwrap();
        std::fs::write(&scenario, format!("{text}\n[slo]\nlatency_p99 = \"500ms\"\n")).unwrap();
        ok(&faultline(&["run", &s(&scenario), "--duration", "4m", "--out", &s(&f.run), "-q"]));
        ok(&faultline(&["run", "models/database-failover.toml", "--runs", "12", "--out", &s(&f.batch), "-q"]));
        ok(&faultline(&[
            "sweep",
            "models/three-node-cascade.toml",
            "--set",
            "services.app.nodes=3..4",
            "--set",
            "traffic.web.rate=300,500",
            "--runs",
            "6",
            "--duration",
            "3m",
            "--out",
            &s(&f.sweep),
            "-q",
        ]));
        ok(&faultline(&[
            "sweep",
            "models/region-failover.toml",
            "--set",
            "disaster_recovery.strategy=active-active,warm-standby,pilot-light,backup-restore",
            "--runs",
            "3",
            "--out",
            &s(&f.dr),
            "-q",
        ]));
        f
    })
}

/// Checks `NAME.svg` holds every string and `NAME.png` is a 1200x800
/// picture with ink on it.
fn check_chart(dir: &Path, name: &str, texts: &[&str]) {
    let svg = std::fs::read_to_string(dir.join(format!("{name}.svg")))
        .unwrap_or_else(|e| panic!("{}/{name}.svg: {e}", dir.display()));
    for t in texts {
        assert!(svg.contains(t), "{name}.svg lacks \"{t}\"");
    }
    let png = std::fs::read(dir.join(format!("{name}.png"))).unwrap();
    let pixmap = resvg::tiny_skia::Pixmap::decode_png(&png).expect("a PNG");
    assert_eq!((pixmap.width(), pixmap.height()), (1200, 800), "{name}.png size");
    let pixels = pixmap.pixels();
    let ink = pixels.iter().filter(|p| p.red() < 200 || p.green() < 200 || p.blue() < 200).count();
    let share = ink as f64 / pixels.len() as f64;
    assert!(share > 0.01, "{name}.png is nearly blank ({:.3}% ink)", share * 100.0);
    // Text is drawn: the title row holds dark pixels.
    let title_row_ink = (10..40)
        .flat_map(|y| (300..900).map(move |x| (x, y)))
        .filter(|&(x, y)| pixmap.pixel(x, y).is_some_and(|p| p.red() < 100 && p.green() < 100 && p.blue() < 100))
        .count();
    assert!(title_row_ink > 100, "{name}.png has no title text ({title_row_ink} dark pixels)");
}

#[test]
fn a_run_writes_herd_timeline_and_latency() {
    let f = fixtures();
    check_chart(
        &f.run,
        "herd",
        &[
            "three-node-cascade: offered load vs capacity",
            "time [s]",
            "requests per second",
            "first attempts",
            "capacity",
            "goodput",
            "node crash",
            "fault injected",
        ],
    );
    check_chart(
        &f.run,
        "timeline",
        &["three-node-cascade: node states", "app/0", "app/2", "utilization [%]", "down", "restarting"],
    );
    check_chart(
        &f.run,
        "latency",
        &[
            "three-node-cascade: latency",
            "latency of successful requests [ms]",
            "p50 per bin",
            "p99 per bin",
            "SLO p99 500 ms",
        ],
    );
}

#[test]
fn a_batch_writes_bands_rto_and_rpo() {
    let f = fixtures();
    check_chart(
        &f.batch,
        "bands",
        &["database-failover: load across 12 runs", "time [s]", "goodput: mean", "goodput: p5–p95", "offered: mean"],
    );
    check_chart(
        &f.batch,
        "rto",
        &["recovery time (RTO) across runs", "time from disruption to restored SLO [s]", "recovered:"],
    );
    check_chart(&f.batch, "rpo", &["data loss (RPO) across runs", "data-loss window (RPO) [s]"]);
}

#[test]
fn a_sweep_writes_metric_heatmap_and_dr_charts() {
    let f = fixtures();
    check_chart(
        &f.sweep,
        "sweep-success",
        &["success fraction vs services.app.nodes", "services.app.nodes", "rate=300", "rate=500", "(mean, 95% CI)"],
    );
    check_chart(&f.sweep, "sweep-cascade", &["P(cascade) vs services.app.nodes"]);
    check_chart(
        &f.sweep,
        "heatmap-cascade",
        &["three-node-cascade: P(cascade)", "traffic.web.rate", "services.app.nodes", "P(cascade) = 1.00"],
    );
    check_chart(
        &f.dr,
        "dr",
        &["RTO and RPO per disaster-recovery tier", "active-active", "backup-restore", "RTO [", "RPO ["],
    );
}

#[test]
fn plot_redraws_each_kind_of_folder_without_simulating() {
    let f = fixtures();
    for (dir, chart) in [(&f.run, "herd"), (&f.batch, "rto"), (&f.sweep, "heatmap-cascade")] {
        let before = std::fs::read(dir.join(format!("{chart}.svg"))).unwrap();
        std::fs::remove_file(dir.join(format!("{chart}.svg"))).unwrap();
        ok(&faultline(&["plot", dir.to_str().unwrap(), "-q"]));
        let after = std::fs::read(dir.join(format!("{chart}.svg"))).unwrap();
        assert!(before == after, "{}: plot draws the same {chart} the command drew", dir.display());
    }
    // One chart, a window and a title.
    let copy = f.run.parent().unwrap().join("run-copy");
    std::fs::create_dir_all(&copy).unwrap();
    for file in ["timeseries.csv", "events.csv", "nodes.csv", "summary.json"] {
        std::fs::copy(f.run.join(file), copy.join(file)).unwrap();
    }
    let out = faultline(&[
        "plot",
        copy.to_str().unwrap(),
        "--chart",
        "latency",
        "--from",
        "1m",
        "--to",
        "150",
        "--title",
        "Postmortem 42",
    ]);
    ok(&out);
    // A customised chart goes beside the folder's own, named by the options.
    let svg = std::fs::read_to_string(copy.join("latency.from60s-to150s-titled.svg")).unwrap();
    assert!(svg.contains("Postmortem 42: latency"));
    assert!(!copy.join("latency.svg").exists() && !copy.join("herd.svg").exists(), "--chart draws only that chart");
}

#[test]
fn empty_or_partial_folders_fail_in_one_clear_line() {
    let f = fixtures();
    let base = f.run.parent().unwrap();
    let empty = base.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let partial = base.join("partial");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::copy(f.run.join("summary.json"), partial.join("summary.json")).unwrap();
    std::fs::copy(f.run.join("timeseries.csv"), partial.join("timeseries.csv")).unwrap();
    let no_summary = base.join("no-summary");
    std::fs::create_dir_all(&no_summary).unwrap();
    std::fs::copy(f.run.join("timeseries.csv"), no_summary.join("timeseries.csv")).unwrap();
    let broken = base.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    for file in ["events.csv", "nodes.csv", "summary.json"] {
        std::fs::copy(f.run.join(file), broken.join(file)).unwrap();
    }
    std::fs::write(broken.join("timeseries.csv"), "bin,t_start_s\n0,zero\n").unwrap();
    let run = f.run.to_str().unwrap();
    for (args, needle) in [
        (vec!["plot", empty.to_str().unwrap()], "not a faultline output folder"),
        (vec!["plot", "/nonexistent/folder"], "not a faultline output folder"),
        (vec!["plot", partial.to_str().unwrap()], "events.csv: missing"),
        (vec!["plot", no_summary.to_str().unwrap()], "summary.json: missing"),
        (vec!["plot", broken.to_str().unwrap()], "timeseries.csv: `t_start_s` holds \"zero\", not a number"),
        (
            vec!["plot", run, "--chart", "bands"],
            "no chart named \"bands\" for this folder; it has: herd, timeline, latency",
        ),
        (vec!["plot", run, "--from", "10m"], "--from 600s is after the end of the data"),
    ] {
        let out = faultline(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
}

#[test]
fn no_charts_writes_none() {
    let dir = std::env::temp_dir().join(format!("faultline-nocharts-{}", std::process::id()));
    ok(&faultline(&["run", "models/mm1.toml", "--out", dir.to_str().unwrap(), "--no-charts", "-q"]));
    assert!(dir.join("summary.json").exists());
    assert!(!dir.join("herd.png").exists() && !dir.join("herd.svg").exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_run_with_request_classes_charts_their_success() {
    let dir = std::env::temp_dir().join(format!("faultline-plot-classes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    ok(&faultline(&["run", "models/monolith.toml", "--out", dir.to_str().unwrap(), "-q"]));
    assert!(dir.join("classes.csv").is_file());
    check_chart(
        &dir,
        "classes",
        &[
            "monolith: success by request class",
            "requests finishing in the bin that succeeded [%, nines scale]",
            "payment",
            "profile",
            "search",
            "nines scale",
            "warm-up 10s (not judged)",
            "SLO breached",
        ],
    );
    // A service graph's capacity is labelled as the bottleneck's.
    check_chart(&dir, "herd", &["capacity (bottleneck for"]);
    assert!(dir.join("services.csv").is_file());
    check_chart(
        &dir,
        "layers",
        &["monolith: attempts by service", "attempts per second", "monolith (1 per request)", "payment-provider ("],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sweep_of_a_scenario_with_classes_charts_each_class() {
    let dir = std::env::temp_dir().join(format!("faultline-plot-sweep-classes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.to_str().unwrap();
    let set = "services.gateway.calls[2].bulkhead=2,32";
    ok(&faultline(&["sweep", "models/microservices.toml", "--set", set, "--runs", "2", "--out", out, "-q"]));
    check_chart(
        &dir,
        "sweep-classes",
        &["success fraction by class vs services.gateway.calls[2].bulkhead", "payment", "profile", "search"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every chart file in `dir`, with its size.
fn chart_files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut files: Vec<(PathBuf, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "svg" || x == "png"))
        .map(|p| {
            let size = std::fs::metadata(&p).unwrap().len();
            (p, size)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no charts", dir.display());
    files
}

/// A small scenario of `nodes` nodes of one service named `service`, with
/// two nodes crashing at 2 s: quick to simulate, so the charts' cost shows.
fn fleet_scenario(path: &Path, service: &str, nodes: u32) {
    let text = format!(
        r#"version = 1
name = "bounds"
[simulation]
duration = "5s"
warmup = "0s"
seed = 1
bin = "1s"
[traffic.web]
rate = "10/s"
target = "{service}"
[services.{service}]
nodes = {nodes}
workers = 1
service_time = {{ distribution = "exponential", mean = "10ms" }}
[[faults]]
kind = "crash"
service = "{service}"
nodes = [0, {last}]
at = "2s"
"#,
        last = nodes - 1
    );
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_100000_character_service_name_is_clipped_on_every_chart() {
    let base = std::env::temp_dir().join(format!("faultline-plot-long-name-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    // Service names have no length limit (only the scenario's, 200).
    let name = "s".repeat(100_000);
    let scenario = base.join("long.toml");
    fleet_scenario(&scenario, &name, 2);
    let (run, sweep) = (base.join("run"), base.join("sweep"));
    let s = |p: &Path| p.to_str().unwrap().to_string();
    ok(&faultline(&["run", &s(&scenario), "--out", &s(&run), "-q"]));
    // A long --title, and a sweep whose parameter path holds the name.
    ok(&faultline(&["plot", &s(&run), "--title", &"t".repeat(100_000), "--chart", "herd", "--in-place", "-q"]));
    let set = format!("services.{name}.nodes=2,3");
    ok(&faultline(&["sweep", &s(&scenario), "--set", &set, "--runs", "2", "--out", &s(&sweep), "-q"]));
    for dir in [&run, &sweep] {
        for (file, size) in chart_files(dir) {
            assert!(size < 500_000, "{}: {size} bytes", file.display());
            if file.extension().is_some_and(|x| x == "svg") {
                let svg = std::fs::read_to_string(&file).unwrap();
                for long in ["s".repeat(100), "t".repeat(100)] {
                    assert!(!svg.contains(&long), "{}: a name drawn unclipped", file.display());
                }
            }
        }
    }
    // The clipped name is still shown, marked as cut.
    check_chart(&run, "timeline", &["sssss…/0", "node states"]);
    check_chart(&run, "herd", &["ttttt…: offered load vs capacity"]);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_100000_node_fleet_draws_a_bounded_summarised_timeline() {
    let base = std::env::temp_dir().join(format!("faultline-plot-fleet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let scenario = base.join("fleet.toml");
    fleet_scenario(&scenario, "app", 100_000);
    let run = base.join("run");
    ok(&faultline(&["run", scenario.to_str().unwrap(), "--out", run.to_str().unwrap(), "-q"]));
    for (file, size) in chart_files(&run) {
        assert!(size < 2_000_000, "{}: {size} bytes", file.display());
    }
    // Groups of consecutive nodes, said on the axis; both crashes show.
    check_chart(&run, "timeline", &["100000 nodes in 30 groups", "app/0–3333", "app/96686–99999", "down"]);
    let svg = std::fs::read_to_string(run.join("timeline.svg")).unwrap();
    assert!(svg.matches("<rect").count() < 200, "one bar per state change of a group, not per node");
    // The data stays complete: a row per node and bin.
    let rows = std::fs::read_to_string(run.join("nodes.csv")).unwrap().lines().count();
    assert_eq!(rows, 1 + 100_000 * 5);
    let _ = std::fs::remove_dir_all(&base);
}

/// The text labels of an SVG chart (what `<text>` elements hold).
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| t.split_once('>'))
        .map(|(_, rest)| rest.split("</text>").next().unwrap_or("").trim().to_string())
        .collect()
}

#[test]
fn sweep_axes_label_their_ends_whole_numbers_and_categories() {
    let f = fixtures();
    // services.app.nodes = 3..4: ticks on whole nodes only, the last labelled.
    let svg = std::fs::read_to_string(f.sweep.join("sweep-cascade.svg")).unwrap();
    let texts = svg_texts(&svg);
    assert!(texts.iter().any(|t| t == "4"), "the last node count is labelled: {texts:?}");
    assert!(!texts.iter().any(|t| t == "3.5" || t == "3.2"), "no fractional node ticks: {texts:?}");
    // A DR sweep: tiers are categories, every one named (the last too), and
    // no line joins them.
    let svg = std::fs::read_to_string(f.dr.join("sweep-success.svg")).unwrap();
    let texts = svg_texts(&svg);
    for tier in ["active-active", "warm-standby", "pilot-light", "backup-restore"] {
        assert!(texts.iter().any(|t| t == tier), "{tier} labelled: {texts:?}");
    }
    // A line of the series colour through three or more points joins tiers.
    let joining = svg
        .lines()
        .filter(|l| l.contains("<polyline") && l.contains("stroke=\"#0072B2\""))
        .filter(|l| l.split("points=\"").nth(1).is_some_and(|p| p.split_whitespace().count() >= 3))
        .count();
    assert_eq!(joining, 0, "no line joins the DR tiers");
    // RTO in minutes once it runs past ten (a backup restore takes ~20).
    check_chart(&f.dr, "dr", &["RTO [min] (mean, 95% CI)", "RTO objective 5 min"]);
}

#[test]
fn a_nines_axis_tells_close_successes_apart() {
    use faultline::plot::axis::{Axis, Scale};
    let axis = Axis::nice(0.9986, 0.9991, Scale::Nines);
    let gap = axis.position(0.9991) - axis.position(0.9986);
    assert!(gap > 0.2, "99.86% and 99.91% are {gap} of the axis apart");
    // On a linear 0..1 axis they would be 0.0005 apart.
    let linear = Axis::nice(0.0, 1.0, Scale::Linear);
    assert!(linear.position(0.9991) - linear.position(0.9986) < 0.001);
}

/// A copy of the run fixture's data files, without charts.
fn run_copy(name: &str) -> PathBuf {
    let f = fixtures();
    let copy = f.run.parent().unwrap().join(name);
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir_all(&copy).unwrap();
    for file in ["timeseries.csv", "events.csv", "nodes.csv", "summary.json", "herd.png", "herd.svg"] {
        std::fs::copy(f.run.join(file), copy.join(file)).unwrap();
    }
    copy
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn plot_out_writes_exactly_that_file() {
    let dir = run_copy("run-out");
    let before = listing(&dir);
    let out = dir.parent().unwrap().join("out-only");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let file = out.join("my-latency.svg");
    ok(&faultline(&["plot", dir.to_str().unwrap(), "--chart", "latency", "--out", file.to_str().unwrap(), "-q"]));
    assert_eq!(listing(&out), ["my-latency.svg"]);
    assert_eq!(listing(&dir), before, "the folder is untouched");
    assert!(std::fs::read_to_string(&file).unwrap().contains("three-node-cascade: latency"));
}

#[test]
fn plot_format_svg_writes_no_png() {
    let dir = run_copy("run-svg");
    std::fs::remove_file(dir.join("herd.png")).unwrap();
    ok(&faultline(&["plot", dir.to_str().unwrap(), "--format", "svg", "-q"]));
    let names = listing(&dir);
    assert!(names.contains(&"latency.svg".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.ends_with(".png")), "{names:?}");
}

#[test]
fn a_customised_redraw_keeps_the_folders_own_charts() {
    let dir = run_copy("run-custom");
    let herd = std::fs::read(dir.join("herd.png")).unwrap();
    let d = dir.to_str().unwrap();
    ok(&faultline(&["plot", d, "--from", "60", "--to", "2m", "--y-max", "2000", "--log-y", "-q"]));
    assert_eq!(std::fs::read(dir.join("herd.png")).unwrap(), herd, "herd.png byte-identical");
    let custom = dir.join("herd.from60s-to120s-ymax2000-logy.svg");
    let svg = std::fs::read_to_string(&custom).unwrap_or_else(|e| panic!("{}: {e}", custom.display()));
    let texts = svg_texts(&svg);
    for label in ["10", "100", "1000", "2000"] {
        assert!(texts.iter().any(|t| t == label), "log axis labels {label}: {texts:?}");
    }
    // --in-place replaces the folder's own.
    ok(&faultline(&["plot", d, "--chart", "herd", "--y-max", "2000", "--in-place", "-q"]));
    assert_ne!(std::fs::read(dir.join("herd.png")).unwrap(), herd);
}

#[test]
fn bad_plot_options_fail_in_one_line_and_write_nothing() {
    let dir = run_copy("run-bad");
    let before = listing(&dir);
    let d = dir.to_str().unwrap();
    let out_png = dir.parent().unwrap().join("nowhere.png");
    let o = out_png.to_str().unwrap();
    for (args, needle) in [
        (vec!["plot", d, "--out", o], "--out"),
        (vec!["plot", d, "--chart", "herd", "--out", "chart.txt"], "name a .png or .svg file"),
        (vec!["plot", d, "--chart", "herd", "--out", o, "--format", "svg"], "extension is its format"),
        (vec!["plot", d, "--format", "jpg"], "--format jpg"),
        (vec!["plot", d, "--log-y", "--y-min", "0"], "needs positive values"),
        (vec!["plot", d, "--y-min", "5", "--y-max", "1"], "is not below --y-max"),
        (vec!["plot", d, "--y-max", "lots"], "--y-max lots: not a number"),
        (vec!["plot", d, "--chart", "timeline", "--log-y"], "no numeric y axis"),
        (vec!["plot", d, "--chart", "herd", "--y-min", "1e9"], "--y-min"),
    ] {
        let out = faultline(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert_eq!(listing(&dir), before, "{args:?} wrote nothing");
        assert!(!out_png.exists());
    }
}

/// The SVG text of a chart.
fn svg(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{name}.svg"))).unwrap()
}

#[test]
fn event_labels_name_the_service_merge_simultaneous_crashes_and_mark_traffic() {
    let base = std::env::temp_dir().join(format!("faultline-plot-story-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let scenario = base.join("fleet.toml");
    fleet_scenario(&scenario, "app", 3);
    let (fleet, autoscale, region) = (base.join("fleet"), base.join("autoscale"), base.join("region"));
    let s = |p: &Path| p.to_str().unwrap().to_string();
    ok(&faultline(&["run", &s(&scenario), "--out", &s(&fleet), "-q"]));
    // Two nodes crash at one instant: one label, not two on top of each other.
    let herd = svg(&fleet, "herd");
    assert!(herd.contains("app[0], app[2] crashed"), "one merged crash label");
    assert!(!herd.contains(">app[0] crashed<") && !herd.contains(">app[2] crashed<"));
    // A schedule's traffic changes, scale-in apart from scale-out, the RTO.
    ok(&faultline(&["run", "models/autoscale-step.toml", "--out", &s(&autoscale), "-q"]));
    check_chart(
        &autoscale,
        "herd",
        &[
            "web rate 200/s → 800/s",
            "traffic change",
            "▼ app 7→2 nodes",
            "scale-in ▼",
            "SLO restored (RTO 1m30s)",
            "SLO breached",
            "time [s]",
        ],
    );
    // A 45-minute run: the fault names the region, the axis is in minutes.
    ok(&faultline(&["run", "models/region-failover.toml", "--out", &s(&region), "-q"]));
    check_chart(&region, "herd", &["region east outage", "api-east: 4 nodes crashed", "RTO 3m", "time [min]"]);
    for chart in ["timeline", "latency"] {
        assert!(svg(&region, chart).contains("time [min]"), "{chart} in minutes");
        assert!(!svg(&region, chart).contains("time [s]"), "{chart} in minutes");
    }
    let _ = std::fs::remove_dir_all(&base);
}
