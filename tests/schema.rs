//! The JSON Schemas in docs/schema/ against real outputs (issue 15): runs of
//! models with every optional part (calls, classes, caches, serverless
//! pools, databases, a regional disaster), batches, a sweep, its shards
//! and their merge, and a plan; every JSON file they write must match its
//! schema, and outputs mutated as faultline never writes them (a key
//! missing, a wrong type, an unknown key) must not. Also the provenance
//! fields: the digest is `sha256sum`'s, the story the opening comment, and
//! an interrupted batch says it is partial.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("faultline runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-schema-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs faultline with `args` and `--out dir -q --no-charts`, requiring
/// exit code `code`.
fn write(dir: &Path, args: &[&str], code: i32) {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--out", dir.to_str().unwrap(), "-q", "--no-charts"]);
    let out = faultline(&all);
    assert_eq!(out.status.code(), Some(code), "{all:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The schemas of docs/schema/, compiled (boon checks each against the
/// draft 2020-12 meta-schema as it compiles it).
struct Schemas {
    schemas: boon::Schemas,
    index: Vec<(&'static str, boon::SchemaIndex)>,
}

const SCHEMAS: [&str; 6] = ["summary-run", "summary-batch", "sweep", "point", "shard", "part"];

impl Schemas {
    fn load() -> Schemas {
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        let index = SCHEMAS
            .iter()
            .map(|name| {
                let path = format!("{}/docs/schema/{name}.schema.json", env!("CARGO_MANIFEST_DIR"));
                let i = compiler.compile(&path, &mut schemas).unwrap_or_else(|e| panic!("{path}: {e:#}"));
                (*name, i)
            })
            .collect();
        Schemas { schemas, index }
    }

    /// The validation error of `value` against schema `name`, if any.
    fn errors(&self, name: &str, value: &Value) -> Option<String> {
        let (_, i) = self.index.iter().find(|(n, _)| *n == name).expect("a schema of that name");
        self.schemas.validate(value, *i).err().map(|e| format!("{e}"))
    }

    fn assert_valid(&self, name: &str, value: &Value, what: &str) {
        if let Some(e) = self.errors(name, value) {
            panic!("{what} does not match {name}.schema.json: {e}");
        }
    }
}

/// Which schema a JSON file faultline wrote follows, by its name and folder.
fn schema_of(path: &Path) -> &'static str {
    let name = path.file_name().unwrap().to_str().unwrap();
    let dir = path.parent().unwrap();
    match name {
        "summary.json" if dir.join("runs.csv").is_file() => "summary-batch",
        "summary.json" => "summary-run",
        "sweep.json" => "sweep",
        "point.json" => "point",
        "shard.json" => "shard",
        _ if dir.file_name().is_some_and(|d| d == "parts") => "part",
        _ => panic!("{}: a JSON output without a schema in docs/schema/", path.display()),
    }
}

/// Every .json file under `dir`.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(json_files(&path));
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn every_json_output_matches_its_schema() {
    let schemas = Schemas::load();
    let root = scratch("outputs");
    let at = |name: &str| root.join(name);
    // Single runs whose summaries hold every optional part between them.
    let models = [
        "mm1",
        "microservices",
        "cache-stampede",
        "serverless-burst",
        "trace-classes",
        "database-failover",
        "region-failover",
        "memory-leak",
        "mid-incident",
    ];
    for m in models {
        write(&at(m), &["run", &format!("models/{m}.toml")], 0);
    }
    write(&at("mm1-set"), &["run", "models/mm1.toml", "--set", "services.server.workers=2", "--seed", "9"], 0);
    write(&at("mm1-batch"), &["run", "models/mm1.toml", "--runs", "6", "--duration", "5m"], 0);
    write(&at("db-batch"), &["run", "models/database-failover.toml", "--runs", "4", "--duration", "4m"], 0);
    write(&at("classes-batch"), &["run", "models/trace-classes.toml", "--runs", "3"], 0);
    write(&at("region-batch"), &["run", "models/region-failover.toml", "--runs", "3"], 0);
    let sweep = ["sweep", "models/three-node-cascade.toml", "--set", "services.app.nodes=3..4", "--runs", "3"];
    let sweep = [&sweep[..], &["--duration", "2m"]].concat();
    write(&at("sweep"), &sweep, 0);
    for shard in ["0/2", "1/2"] {
        write(&at(&format!("shard-{}", &shard[..1])), &[&sweep[..], &["--shard", shard]].concat(), 0);
    }
    let (s0, s1) = (at("shard-0"), at("shard-1"));
    write(&at("merged"), &["merge", s0.to_str().unwrap(), s1.to_str().unwrap()], 0);
    // A plan writes plan.csv and no JSON; were it to write some, it would need a schema.
    let plan = ["plan", "models/mm1.toml", "--service", "server", "--lose", "0", "--max-runs", "25"];
    write(&at("plan"), &[&plan[..], &["--duration", "3m", "--max-nodes", "4"]].concat(), 1);

    let mut seen: Vec<&str> = Vec::new();
    let mut optional: Vec<&str> = Vec::new();
    let files = json_files(&root);
    for path in &files {
        let schema = schema_of(path);
        let value = read(path);
        schemas.assert_valid(schema, &value, &path.display().to_string());
        seen.push(schema);
        if schema == "summary-run" {
            let present = |key: &str| value[key].as_array().is_some_and(|a| !a.is_empty());
            for key in ["calls", "classes", "caches", "serverless", "databases", "node_deaths"] {
                if present(key) {
                    optional.push(key);
                }
            }
            if value["disaster_recovery"].is_object() {
                optional.push("disaster_recovery");
            }
            if value["recovery"]["rto_breakdown"].is_object() {
                optional.push("rto_breakdown");
            }
        }
        if schema == "summary-batch" && value["rto_within_objective"].is_object() {
            optional.push("rto_within_objective");
        }
    }
    for schema in SCHEMAS {
        assert!(seen.contains(&schema), "no output checked against {schema}.schema.json");
    }
    // The optional parts were there to be checked, not only null or empty.
    for key in [
        "calls",
        "classes",
        "caches",
        "serverless",
        "databases",
        "node_deaths",
        "disaster_recovery",
        "rto_breakdown",
        "rto_within_objective",
    ] {
        assert!(optional.contains(&key), "no output had a {key} to check");
    }
    assert!(json_files(&at("plan")).is_empty(), "the plan folder holds no JSON");
    let _ = std::fs::remove_dir_all(root);
}

/// A run's and a batch's summary.json, for mutating.
fn samples() -> (Value, Value, Value) {
    let root = scratch("samples");
    write(&root.join("run"), &["run", "models/database-failover.toml"], 0);
    write(&root.join("batch"), &["run", "models/mm1.toml", "--runs", "3", "--duration", "5m"], 0);
    let sweep = ["sweep", "models/mm1.toml", "--set", "traffic.clients.rate=8,9", "--runs", "2", "--duration", "3m"];
    write(&root.join("sweep"), &sweep, 0);
    let values = (
        read(&root.join("run/summary.json")),
        read(&root.join("batch/summary.json")),
        read(&root.join("sweep/sweep.json")),
    );
    let _ = std::fs::remove_dir_all(root);
    values
}

#[test]
fn the_schemas_reject_what_faultline_does_not_write() {
    let schemas = Schemas::load();
    let (run, batch, sweep) = samples();
    schemas.assert_valid("summary-run", &run, "the run sample");
    schemas.assert_valid("summary-batch", &batch, "the batch sample");
    schemas.assert_valid("sweep", &sweep, "the sweep sample");
    type Mutation = (&'static str, &'static str, fn(&mut Value));
    let mutations: [Mutation; 14] = [
        ("summary-run", "a missing required key", |v| {
            v.as_object_mut().unwrap().remove("scenario_digest");
        }),
        ("summary-run", "a count as text", |v| v["offered"] = Value::from("12")),
        ("summary-run", "an unknown top-level key", |v| v["offred"] = Value::from(1)),
        ("summary-run", "an unknown key in a nested object", |v| v["recovery"]["rto"] = Value::from(1.0)),
        ("summary-run", "a digest without its sha256: prefix", |v| {
            let hex = v["scenario_digest"].as_str().unwrap()[7..].to_string();
            v["scenario_digest"] = Value::from(hex)
        }),
        ("summary-run", "an unknown recovery status", |v| v["recovery"]["status"] = Value::from("fine")),
        ("summary-run", "a fraction above 1", |v| v["success_fraction"] = Value::from(1.5)),
        ("summary-run", "a database without its failovers", |v| {
            v["databases"][0].as_object_mut().unwrap().remove("failovers");
        }),
        ("summary-batch", "metrics as the old array of pairs", |v| {
            let pairs: Vec<Value> = v["metrics"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, d)| Value::Array(vec![Value::from(k.clone()), d.clone()]))
                .collect();
            v["metrics"] = Value::Array(pairs)
        }),
        ("summary-batch", "a metric with an unknown statistic", |v| v["metrics"]["offered"]["p99"] = Value::from(1.0)),
        ("summary-batch", "partial as text", |v| v["partial"] = Value::from("false")),
        ("summary-batch", "no runs_requested", |v| {
            v.as_object_mut().unwrap().remove("runs_requested");
        }),
        ("sweep", "a point folder outside points/", |v| v["points"][0]["dir"] = Value::from("../elsewhere")),
        ("sweep", "no story", |v| {
            v.as_object_mut().unwrap().remove("story");
        }),
    ];
    for (schema, what, mutate) in mutations {
        let mut value = match schema {
            "summary-run" => run.clone(),
            "summary-batch" => batch.clone(),
            _ => sweep.clone(),
        };
        mutate(&mut value);
        assert!(schemas.errors(schema, &value).is_some(), "{schema}.schema.json accepts {what}");
    }
}

/// `sha256sum FILE`'s hex digest.
fn sha256sum(file: &str) -> String {
    let out = Command::new("sha256sum").arg(file).output().expect("sha256sum runs");
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

#[test]
fn summaries_name_the_file_its_digest_and_its_story() {
    let root = scratch("provenance");
    let file = "models/database-failover.toml";
    // Overrides change the run, not the digest: it is of the file as read.
    write(&root.join("run"), &["run", file, "--duration", "3m", "--seed", "4"], 0);
    write(&root.join("batch"), &["run", file, "--runs", "3", "--duration", "3m"], 0);
    write(
        &root.join("sweep"),
        &["sweep", file, "--set", "services.api.nodes=3,4", "--runs", "2", "--duration", "3m"],
        0,
    );
    let text = std::fs::read_to_string(file).unwrap();
    let story: Vec<&str> = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').strip_prefix(' ').unwrap_or(l.trim_start_matches('#')))
        .collect();
    assert!(story.len() > 3, "the model has an opening comment");
    let digest = format!("sha256:{}", sha256sum(file));
    for path in ["run/summary.json", "batch/summary.json", "sweep/sweep.json", "sweep/points/0/summary.json"] {
        let v = read(&root.join(path));
        assert_eq!(v["faultline_version"], env!("CARGO_PKG_VERSION"), "{path}");
        assert_eq!(v["scenario_file"], file, "{path}");
        assert_eq!(v["scenario_digest"], digest.as_str(), "{path}");
        assert_eq!(v["story"], story.join("\n"), "{path}");
    }
    // A complete batch: every requested run finished.
    let batch = read(&root.join("batch/summary.json"));
    assert_eq!(
        (&batch["runs_requested"], &batch["runs_finished"], &batch["partial"]),
        (&3.into(), &3.into(), &false.into())
    );
    // The metrics are keyed by name, in the order of runs.csv's columns.
    let header = std::fs::read_to_string(root.join("batch/runs.csv")).unwrap().lines().next().unwrap().to_string();
    let columns: Vec<&str> = header.split(',').skip(7).filter(|c| *c != "rto_censored_s").collect();
    let summary = std::fs::read_to_string(root.join("batch/summary.json")).unwrap();
    let positions: Vec<usize> = columns
        .iter()
        .filter(|c| batch["metrics"].get(**c).is_some())
        .map(|c| summary.find(&format!("\n    \"{c}\": {{")).unwrap_or_else(|| panic!("metric {c} not keyed")))
        .collect();
    assert!(positions.len() >= 18, "{} metrics keyed", positions.len());
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "metrics in runs.csv order");
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn an_interrupted_batch_is_partial_and_matches_the_schema() {
    let schemas = Schemas::load();
    let dir = scratch("interrupted");
    let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["run", "models/mm1.toml", "--runs", "2000", "--duration", "10m", "--threads", "2", "-q", "--no-charts"])
        .args(["--out", dir.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first runs to reach runs.csv's temporary file, then Ctrl-C.
    let started = std::time::Instant::now();
    let wrote_rows = || {
        std::fs::read_dir(&dir).ok().into_iter().flatten().flatten().any(|e| {
            e.file_name().to_string_lossy().starts_with(".runs.csv.tmp") && e.metadata().is_ok_and(|m| m.len() > 4096)
        })
    };
    while !wrote_rows() && started.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = read(&dir.join("summary.json"));
    schemas.assert_valid("summary-batch", &summary, "the interrupted batch's summary.json");
    let rows = std::fs::read_to_string(dir.join("runs.csv")).unwrap().lines().count() as u64 - 1;
    assert!(rows > 0 && rows < 2000, "{rows} runs finished");
    assert_eq!(summary["partial"], true);
    assert_eq!(summary["runs_requested"], 2000);
    assert_eq!(summary["runs_finished"], rows);
    assert_eq!(summary["metrics"]["offered"]["n"], rows);
    let _ = std::fs::remove_dir_all(dir);
}

/// Every file under `dir`, relative path -> bytes, sorted.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push((path.strip_prefix(root).unwrap().display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn shards_that_name_the_file_by_other_paths_are_one_sweep() {
    // The path is recorded but is not what makes a sweep: the digest is.
    let root = scratch("paths");
    let grid = ["--set", "traffic.clients.rate=8,9", "--runs", "2", "--duration", "3m"];
    let sweep = |file: &'static str| [&["sweep", file][..], &grid[..]].concat();
    write(&root.join("whole"), &sweep("models/mm1.toml"), 0);
    write(&root.join("shard-0"), &[&sweep("models/mm1.toml")[..], &["--shard", "0/2"]].concat(), 0);
    write(&root.join("shard-1"), &[&sweep("./models/mm1.toml")[..], &["--shard", "1/2"]].concat(), 0);
    let (s0, s1) = (root.join("shard-0"), root.join("shard-1"));
    write(&root.join("merged"), &["merge", s0.to_str().unwrap(), s1.to_str().unwrap()], 0);
    assert!(tree(&root.join("whole")) == tree(&root.join("merged")), "the merge equals the unsharded sweep");
    // A resume by another path finds the finished points.
    let out = faultline(
        &[
            &sweep("./models/mm1.toml")[..],
            &["--resume", "--no-charts", "--out", root.join("merged").to_str().unwrap()],
        ]
        .concat(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.matches("done earlier (resumed)").count(), 2, "{stdout}");
    assert_eq!(read(&root.join("merged/sweep.json"))["scenario_file"], "./models/mm1.toml");
    let _ = std::fs::remove_dir_all(root);
}
