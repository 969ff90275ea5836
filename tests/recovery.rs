//! Recovery and redundancy (issue 4, first part): autoscaling with HPA
//! arithmetic in whole runs.

use faultline::metrics::RecoveryStatus;
use faultline::{Scenario, run};

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text, "<test>", Some("test")).expect("valid test scenario")
}

const STEP_LOAD: &str = r#"
version = 1
[simulation]
duration = "20m"
bin = "5s"
[traffic.web]
schedule = [ { from = "0s", rate = "200/s" }, { from = "3m", rate = "800/s" }, { from = "10m", rate = "200/s" } ]
timeout = "2s"
target = "lb"
[balancers.lb]
service = "app"
policy = "least-outstanding"
[services.app]
nodes = 2
workers = 8
queue_capacity = 100
service_time = { distribution = "exponential", mean = "40ms" }
autoscaling = { target = 0.6, min = 2, max = 12, provisioning = "45s", warmup = "30s", warmup_slowdown = 1.5 }
"#;

#[test]
fn autoscaling_follows_a_load_step_out_and_back_in() {
    let r = run(&scenario(STEP_LOAD), 0).unwrap();
    let up_at = |t: f64| r.bins.iter().find(|b| b.start.as_secs_f64() >= t).unwrap().fleet.up;
    assert_eq!(up_at(170.0), 2, "two nodes carry 200 req/s at 62%");
    assert_eq!(up_at(420.0), 7, "800 req/s at a 60% target needs 800 / 120 = 6.7 -> 7 nodes (57%)");
    assert_eq!(up_at(1190.0), 2, "back to the minimum after the load drops");
    // Capacity arrives only after provisioning: the first scale-out at
    // ~195 s brings nodes up 45 s later.
    let first_out = r.events.iter().find(|e| e.event == "scale-out").unwrap().t.as_secs_f64();
    let first_up =
        r.events.iter().find(|e| e.event == "up" && e.detail.starts_with("provisioned")).unwrap().t.as_secs_f64();
    assert!((first_up - first_out - 45.0).abs() < 1e-6, "{first_out} -> {first_up}");
    // The load dropped at 600 s; the scale-in to the minimum waits for the
    // 300 s stabilisation window after the last high recommendation.
    let to_min = r.events.iter().find(|e| e.event == "scale-in" && e.detail.contains("to 2 nodes")).unwrap();
    assert!(to_min.t.as_secs_f64() >= 900.0, "scale-in to 2 at {}", to_min.t.as_secs_f64());
    // Utilization counts worker-time while up: the absent slots and the
    // nodes' short lives do not dilute it to nothing.
    let u = r.summary.services[0].utilization;
    assert!((0.25..0.75).contains(&u), "service utilization {u}");
    assert!(r.summary.nodes[6].up_fraction < 0.5, "the 7th slot lived only during the peak");
    assert_eq!(r.summary.nodes[7].up_fraction, 0.0, "no 8th node: the ones starting were not counted twice");
    // Once scaled out, clients are served again.
    let late: Vec<_> = r.bins.iter().filter(|b| b.start.as_secs_f64() >= 300.0).collect();
    assert!(late.iter().all(|b| b.completed as f64 >= 0.95 * b.offered as f64));
}

#[test]
fn without_autoscaling_the_step_overloads_two_nodes() {
    let fixed = STEP_LOAD.replace(
        "autoscaling = { target = 0.6, min = 2, max = 12, provisioning = \"45s\", warmup = \"30s\", warmup_slowdown = 1.5 }",
        "",
    );
    let r = run(&scenario(&fixed), 0).unwrap();
    let scaled = run(&scenario(STEP_LOAD), 0).unwrap();
    assert!(r.summary.success_fraction < 0.8, "{}", r.summary.success_fraction);
    assert!(scaled.summary.success_fraction > 0.9, "{}", scaled.summary.success_fraction);
}

fn drift_model(per_hour: f64, seed: u64) -> Scenario {
    let mut s = Scenario::from_file(std::path::Path::new("models/config-drift.toml")).unwrap();
    s.services[0].config_drift.as_mut().unwrap().per_hour = per_hour;
    s.simulation.seed = seed;
    s
}

#[test]
fn drift_turns_a_rolling_restart_into_an_outage_until_the_redeploy() {
    for seed in 1..=3 {
        let drifted = run(&drift_model(1.0, seed), 0).unwrap();
        let stuck = drifted.events.iter().filter(|e| e.event == "join-failed").count();
        assert!(stuck >= 2, "seed {seed}: only {stuck} failed joins");
        assert!(drifted.summary.cascade.happened, "seed {seed}");
        // Back only after the redeploy at 2 h 40 m.
        let recovered = drifted.summary.recovery.recovered_at_s.expect("the redeploy restores service");
        assert!(recovered >= 9600.0, "seed {seed}: recovered at {recovered}");

        let clean = run(&drift_model(0.0, seed), 0).unwrap();
        assert!(!clean.events.iter().any(|e| e.event == "join-failed"), "seed {seed}");
        assert!(!clean.summary.cascade.happened, "seed {seed}");
        assert!(clean.summary.success_fraction > 0.999, "seed {seed}: {}", clean.summary.success_fraction);
    }
}

/// Nodes that crash for `outage` and come back: the SLO-based RTO.
fn outage(duration: &str, outage: &str, slo: &str) -> Scenario {
    scenario(&format!(
        r#"
version = 1
[simulation]
duration = "{duration}"
[slo]
{slo}
[traffic.web]
rate = "200/s"
target = "app"
[services.app]
nodes = 2
workers = 8
service_time = {{ distribution = "exponential", mean = "20ms" }}
[[faults]]
kind = "crash"
service = "app"
nodes = "all"
at = "60s"
duration = "{outage}"
"#
    ))
}

#[test]
fn rto_measures_the_outage_and_censors_runs_that_never_recover() {
    let r = run(&outage("10m", "2m", "goodput = 0.95\nwindow = \"10s\"\nhold = \"60s\"\nrto_objective = \"5m\""), 0)
        .unwrap();
    let rec = &r.summary.recovery;
    assert_eq!(rec.disrupted_at_s, Some(60.0));
    // Back at 180 s: restoration is where service came back, within one
    // 1 s bin, not where a trailing window has slid past the outage.
    let rto = rec.rto_s.unwrap();
    assert!((120.0..=121.0).contains(&rto), "{rto}");
    assert_eq!(rec.rto_met, Some(true));
    assert!(!rec.censored);
    assert_eq!(rec.status, RecoveryStatus::Recovered);
    assert_eq!(rec.episodes.len(), 1);

    // The same outage outlasting the run: censored, RTO null, objective missed.
    let r = run(&outage("5m", "10m", "rto_objective = \"5m\""), 0).unwrap();
    let rec = &r.summary.recovery;
    assert!(rec.censored);
    assert_eq!(rec.rto_s, None);
    assert_eq!(rec.rto_met, Some(false));
    assert_eq!(rec.status, RecoveryStatus::LockedIn);

    // Recovering too close to the end to hold the SLO for the hold period is censored too.
    let r = run(&outage("5m", "3m30s", "hold = \"60s\""), 0).unwrap();
    assert!(r.summary.recovery.censored, "restored at 270 s, hold ends after the run");
}

#[test]
fn rto_does_not_depend_on_the_sli_window() {
    // A 60 s outage of every node: the mechanics say RTO = 60 s.
    for window in ["1s", "10s", "30s", "60s"] {
        let slo = format!("goodput = 0.95\nwindow = \"{window}\"\nhold = \"60s\"");
        let r = run(&outage("10m", "60s", &slo), 0).unwrap();
        let rto = r.summary.recovery.rto_s.unwrap();
        assert!((60.0..=61.0).contains(&rto), "window {window}: RTO {rto}");
        let episode = &r.summary.recovery.episodes[0];
        assert!((60.0..=61.0).contains(&episode.start_s), "window {window}: breach from {}", episode.start_s);
    }
}

/// Two outages: 60–90 s, then from 250 s to the end of the run.
const RELAPSE: &str = r#"
version = 1
[simulation]
duration = "5m"
[slo]
goodput = 0.95
window = "10s"
hold = "60s"
[traffic.web]
rate = "200/s"
target = "app"
[services.app]
nodes = 2
workers = 8
service_time = { distribution = "exponential", mean = "20ms" }
[[faults]]
kind = "crash"
service = "app"
nodes = "all"
at = "60s"
duration = "30s"
[[faults]]
kind = "crash"
service = "app"
nodes = "all"
at = "250s"
duration = "10m"
"#;

#[test]
fn a_run_that_relapses_and_ends_in_breach_is_not_recovered() {
    let r = run(&scenario(RELAPSE), 0).unwrap();
    let rec = &r.summary.recovery;
    assert_eq!(rec.status, RecoveryStatus::LockedIn, "goodput is 0 for the last 50 s: {rec:?}");
    assert!(rec.censored && rec.recovered_at_s.is_none() && rec.rto_s.is_none(), "{rec:?}");
    assert_eq!(rec.episodes.len(), 2, "{rec:?}");
    let (first, second) = (&rec.episodes[0], &rec.episodes[1]);
    assert!((60.0..=61.0).contains(&first.start_s), "{first:?}");
    assert!((30.0..=31.0).contains(&first.rto_s.unwrap()), "{first:?}");
    assert!((250.0..=251.0).contains(&second.start_s) && second.end_s.is_none(), "{second:?}");
    // events.csv carries the episodes.
    let logged: Vec<&str> = r.events.iter().filter(|e| e.event.starts_with("slo-")).map(|e| e.event).collect();
    assert_eq!(logged, ["slo-breach", "slo-restored", "slo-breach"]);
    // A batch of it counts the run as locked in, never as recovered.
    let b = faultline::monte_carlo::run_batch(&scenario(RELAPSE), 2, 1).unwrap();
    assert_eq!(b.summary.recovered.successes, 0);
    assert_eq!(b.summary.locked_in.successes, 2);
    assert!(b.rows.iter().all(|row| row.episodes == 2));
}

/// A timeout-and-retry system (capacity 640/s, 3 attempts, no backoff): a
/// spike to 900/s collapses it, a quiet spell at 150/s (450 attempts/s at
/// most) brings it back, and then 640/s (rho ~ 1) collapses it again at a
/// random moment, or not before the end: relapses and recoveries.
const NEAR_SATURATION: &str = r#"
version = 1
[simulation]
duration = "10m"
seed = 1
[traffic.clients]
schedule = [ { from = "0s", rate = "600/s" }, { from = "2m", rate = "900/s" }, { from = "2m15s", rate = "150/s" }, { from = "3m30s", rate = "640/s" } ]
timeout = "1s"
target = "lb"
[traffic.clients.retry]
max_attempts = 3
retry_on = ["timeout", "rejected"]
backoff = "none"
[balancers.lb]
policy = "least-outstanding"
service = "api"
[services.api]
nodes = 4
workers = 8
queue_capacity = 200
service_time = { distribution = "exponential", mean = "50ms" }
"#;

#[test]
fn near_saturation_no_run_that_ends_in_breach_counts_as_recovered() {
    let s = scenario(NEAR_SATURATION);
    let window = 10; // bins of the default 10 s SLI window (1 s bins)
    let (mut relapses, mut recoveries) = (0, 0);
    for i in 0..40 {
        let r = run(&s, i).unwrap();
        let rec = &r.summary.recovery;
        // The SLI by arrival cohort: of the requests that arrived in the
        // window, the share that succeeded; those of the last window still
        // unanswered at the end are not judged yet.
        let end = r.bins.last().unwrap().end.as_secs_f64();
        let goodput_ok = |bins: &[faultline::metrics::BinRow]| {
            let (judged, good) = bins.iter().fold((0, 0), |(j, g), b| {
                let settled = b.end.as_secs_f64() <= end - window as f64;
                (j + if settled { b.offered } else { b.arrived_ok + b.arrived_failed }, g + b.arrived_ok)
            });
            good as f64 >= 0.95 * judged as f64
        };
        let last = &r.bins[r.bins.len() - window..];
        if !goodput_ok(last) {
            assert_eq!(rec.status, RecoveryStatus::LockedIn, "run {i} ends in breach: {rec:?}");
        }
        if let Some(t) = rec.recovered_at_s {
            // Every window from the restoration on meets the SLO.
            let from = r.bins.iter().position(|b| b.start.as_secs_f64() >= t).unwrap();
            for at in from..r.bins.len() {
                let lo = from.max((at + 1).saturating_sub(window));
                assert!(goodput_ok(&r.bins[lo..=at]), "run {i}: recovered at {t} s but breached at bin {at}");
            }
        }
        relapses += (rec.episodes.len() > 1) as u32;
        recoveries += (rec.status == RecoveryStatus::Recovered) as u32;
    }
    assert!(relapses > 0 && recoveries > 0, "the seed set must hold relapses and recoveries to test");
}

#[test]
fn a_stable_queue_near_saturation_is_not_in_breach() {
    // models/mm1.toml: M/M/1 at rho = 0.9 for an hour, nothing fails. Its
    // answers lag their arrivals by ~1 s, so completions per bin against
    // arrivals per bin swing far below 95% in a 10 s window: that is not
    // a breach, since every request succeeds.
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/models/mm1.toml")).unwrap();
    let s = Scenario::from_toml(&text, "mm1.toml", Some("mm1")).unwrap();
    for i in 0..3 {
        let r = run(&s, i).unwrap();
        let rec = &r.summary.recovery;
        assert_eq!(r.summary.offered, r.summary.completed + r.bins.last().unwrap().in_flight, "nothing fails");
        assert_eq!(rec.status, RecoveryStatus::Undisrupted, "run {i}: {rec:?}");
        assert!(rec.episodes.is_empty(), "run {i}: {:?}", rec.episodes);
    }
}

#[test]
fn a_stable_loss_system_never_met_the_slo_and_is_not_locked_in() {
    // M/M/4/4 at a = 4 erlangs: Erlang B = 31% blocked in every window.
    let text = r#"
version = 1
[simulation]
duration = "5m"
[traffic.web]
rate = "200/s"
target = "app"
[services.app]
nodes = 1
workers = 4
queue_capacity = 0
service_time = { distribution = "exponential", mean = "20ms" }
"#;
    let b = faultline::monte_carlo::run_batch(&scenario(text), 4, 1).unwrap();
    assert_eq!(b.summary.locked_in.successes, 0, "{:?}", b.summary.locked_in);
    assert_eq!(b.summary.never_met.successes, 4, "{:?}", b.summary.never_met);
    assert_eq!(b.summary.recovered.n, 0, "nothing was disrupted");
    assert!(b.rows.iter().all(|r| r.status == RecoveryStatus::NeverMet && !r.status.disrupted()));
}

fn with_database(replication: &str) -> Scenario {
    scenario(&format!(
        r#"
version = 1
[simulation]
duration = "5m"
[traffic.web]
rate = "300/s"
timeout = "2s"
target = "app"
[services.app]
nodes = 3
workers = 16
service_time = {{ distribution = "exponential", mean = "10ms" }}
database = {{ name = "db", write_ratio = 0.3, pool = 10 }}
[databases.db]
replicas = 2
workers = 16
read_time = {{ distribution = "exponential", mean = "5ms" }}
write_time = {{ distribution = "exponential", mean = "10ms" }}
replication = "{replication}"
lag = {{ distribution = "constant", value = "2s" }}
failover_detection = "10s"
failover_promotion = "20s"
[[faults]]
kind = "crash"
service = "db"
nodes = [0]
at = "60s"
duration = "2m"
"#
    ))
}

#[test]
fn async_failover_loses_exactly_the_writes_not_yet_replicated() {
    let r = run(&with_database("async"), 0).unwrap();
    let db = &r.summary.databases[0];
    assert_eq!(db.failovers.len(), 1);
    let f = &db.failovers[0];
    assert_eq!(f.primary_failed_at_s, 60.0);
    assert_eq!(f.promoted_at_s, Some(90.0), "detection 10 s + promotion 20 s");
    // Independent tally: with a constant 2 s lag, the writes acknowledged in
    // the two seconds before the crash (bins [58, 59) and [59, 60)) had not
    // reached a replica.
    let tally: u64 = r.bins[58..60].iter().map(|b| b.db_writes).sum();
    assert!(tally > 100, "about 180 writes per second: {tally}");
    assert_eq!(f.lost_writes, tally);
    assert_eq!(db.writes_lost, tally);
    // RPO: the newest durable write is just over 2 s old.
    assert!((2.0..2.05).contains(&f.rpo_s), "{}", f.rpo_s);
    // Writes fail while there is no primary; reads keep working.
    let during: u64 = r.bins[62..88].iter().map(|b| b.failed[3]).sum();
    let offered: u64 = r.bins[62..88].iter().map(|b| b.offered).sum();
    let failed_fraction = during as f64 / offered as f64;
    assert!((0.25..0.35).contains(&failed_fraction), "writes (30%) fail during failover: {failed_fraction}");
    assert!(r.bins[95..].iter().all(|b| b.failed.iter().sum::<u64>() == 0), "the new primary takes writes");
    // RTO = detection + promotion + catch-up (the SLI window sliding past the failures).
    let rto = r.summary.recovery.rto_s.unwrap();
    let parts = r.summary.recovery.rto_breakdown.clone().expect("a database failover has known parts");
    assert_eq!((parts.detection_s, parts.failover_s), (10.0, 20.0));
    assert!((parts.detection_s + parts.failover_s + parts.catch_up_s - rto).abs() < 1e-9);
    assert!(parts.catch_up_s <= 11.0, "{parts:?}");
}

#[test]
fn synchronous_replication_loses_nothing() {
    let r = run(&with_database("sync"), 0).unwrap();
    let f = &r.summary.databases[0].failovers[0];
    assert_eq!(f.lost_writes, 0);
    assert_eq!(f.rpo_s, 0.0);
    // Each write now waits for the replica: slower, but acknowledged ones survive.
    let async_run = run(&with_database("async"), 0).unwrap();
    assert!(r.summary.latency_ms.p99.unwrap() > async_run.summary.latency_ms.p99.unwrap());
}

fn region_failover(strategy: &str, seed: u64) -> Scenario {
    let mut s = Scenario::from_file(std::path::Path::new("models/region-failover.toml")).unwrap();
    let dr = s.disaster_recovery.as_mut().unwrap();
    dr.strategy = match strategy {
        "active-active" => faultline::model::DrStrategy::ActiveActive,
        "warm-standby" => faultline::model::DrStrategy::WarmStandby,
        "pilot-light" => faultline::model::DrStrategy::PilotLight,
        _ => faultline::model::DrStrategy::BackupRestore,
    };
    s.simulation.seed = seed;
    s
}

#[test]
fn dr_tiers_order_by_rto() {
    let tiers = ["active-active", "warm-standby", "pilot-light", "backup-restore"];
    let mean_rto: Vec<f64> = tiers
        .iter()
        .map(|tier| {
            let rtos: Vec<f64> = (1..=4)
                .map(|seed| run(&region_failover(tier, seed), 0).unwrap().summary.recovery.rto_s.expect("recovers"))
                .collect();
            rtos.iter().sum::<f64>() / rtos.len() as f64
        })
        .collect();
    assert!(mean_rto.windows(2).all(|w| w[0] < w[1]), "mean RTO by tier {tiers:?}: {mean_rto:?}");
    // Each is its documented mechanics, within one 5 s bin: detection 60 s
    // + DNS TTL 60 s; + the scale-up 2 minutes after detection; provisioning
    // 10 minutes after detection; + a 10 minute restore before it.
    for (rto, mechanics) in mean_rto.iter().zip([120.0, 180.0, 660.0, 1260.0]) {
        assert!((mechanics..=mechanics + 5.0).contains(rto), "{mean_rto:?}");
    }
}

/// Mean and 99.9% half-width (normal approximation, n >= 30).
fn mean_ci(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, 3.29 * (var / n).sqrt())
}

#[test]
fn dr_rpo_is_zero_synchronous_the_lag_asynchronous_and_half_the_backup_interval() {
    let rpo = |tier: &str, seed: u64, edit: &dyn Fn(&mut Scenario)| {
        let mut s = region_failover(tier, seed);
        s.simulation.duration = faultline::time::SimDuration::from_secs(11 * 60); // the RPO is fixed at the disaster
        edit(&mut s);
        run(&s, 0).unwrap().summary.disaster_recovery.unwrap().rpo_s
    };
    let sync = |s: &mut Scenario| s.disaster_recovery.as_mut().unwrap().synchronous = true;
    assert_eq!(rpo("pilot-light", 1, &sync), 0.0);
    // Asynchronous with an exponential lag of mean 2 s.
    let exp_lag = |s: &mut Scenario| {
        s.disaster_recovery.as_mut().unwrap().lag =
            faultline::model::Distribution::Exponential { mean: faultline::time::SimDuration::from_secs(2) }
    };
    let lags: Vec<f64> = (1..=60).map(|seed| rpo("warm-standby", seed, &exp_lag)).collect();
    let (mean, hw) = mean_ci(&lags);
    assert!((mean - 2.0).abs() <= hw, "async RPO {mean} ± {hw} vs lag 2 s");
    // Hourly backups at a random phase: uniform over the hour, mean 1800 s.
    let backups: Vec<f64> = (1..=60).map(|seed| rpo("backup-restore", seed, &|_| {})).collect();
    let (mean, hw) = mean_ci(&backups);
    assert!((mean - 1800.0).abs() <= hw, "backup RPO {mean} ± {hw} vs 1800 s");
    assert!(backups.iter().all(|&r| (0.0..3600.0).contains(&r)));
}
