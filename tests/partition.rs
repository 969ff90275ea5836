//! Network partitions (`kind = "partition"`): black holes that hold
//! attempts until their timeout, resets that fail them at once, one-way
//! cuts that lose only the answers, health checks across the cut, calls
//! between services, regions, and every request answered once throughout.
//!
//! The cut runs from 10 s to 20 s; bins are 1 s, so bin k is [k s, k+1 s).

use faultline::metrics::RunRecord;
use faultline::model::FailureCause;
use faultline::{Scenario, run};

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text, "<test>", Some("test")).expect("valid test scenario")
}

/// Per bin: failures of `cause` (counted when the request failed).
fn failed(r: &RunRecord, cause: FailureCause) -> Vec<u64> {
    r.bins.iter().map(|b| b.failed[cause as usize]).collect()
}

fn offered(r: &RunRecord) -> Vec<u64> {
    r.bins.iter().map(|b| b.offered).collect()
}

fn completed(r: &RunRecord) -> Vec<u64> {
    r.bins.iter().map(|b| b.completed).collect()
}

/// Per bin: requests served by the nodes of `service`.
fn served(r: &RunRecord, service: &str) -> Vec<u64> {
    let nodes: Vec<u32> =
        r.nodes.iter().enumerate().filter(|(_, n)| n.service == service).map(|(i, _)| i as u32).collect();
    let mut out = vec![0; r.bins.len()];
    for row in r.node_bins.iter().filter(|row| nodes.contains(&row.node)) {
        out[row.bin as usize] += row.served;
    }
    out
}

fn events<'a>(r: &'a RunRecord, event: &str) -> Vec<&'a faultline::metrics::LoggedEvent> {
    r.events.iter().filter(|e| e.event == event).collect()
}

/// Every request answered once: arrivals = completed + failed + in flight
/// (the simulator checks it too, and fails the run otherwise).
fn assert_conserved(r: &RunRecord) {
    let c = &r.summary.conservation;
    assert_eq!(c.arrivals, c.completed + c.failed + c.in_flight, "{c:?}");
}

/// The nodes stayed up: nothing crashed or restarted.
fn assert_no_crash(r: &RunRecord) {
    for what in ["crash", "restart-scheduled", "stopped"] {
        assert!(events(r, what).is_empty(), "{what}: {:?}", events(r, what));
    }
}

/// Clients (`users`, single attempts, a 2 s timeout) reach `web` (2 nodes)
/// through balancer `lb`; `partition` is the fault's keys, `lb_extra` and
/// `web_extra` more keys of the balancer and the service.
fn client_and_web(partition: &str, lb_extra: &str, web_extra: &str) -> Scenario {
    scenario(&format!(
        r#"version = 1
[simulation]
duration = "40s"
seed = 3
bin = "1s"
[traffic.users]
rate = "50/s"
timeout = "2s"
target = "lb"
[balancers.lb]
service = "web"
{lb_extra}
[services.web]
nodes = 2
workers = 8
service_time = {{ distribution = "constant", value = "10ms" }}
{web_extra}
[[faults]]
kind = "partition"
at = "10s"
duration = "10s"
{partition}
"#
    ))
}

#[test]
fn a_black_hole_holds_every_attempt_for_exactly_its_timeout() {
    let r = run(
        &client_and_web(
            r#"from = "users"
to = "web"
mode = "black-hole""#,
            "",
            "",
        ),
        0,
    )
    .unwrap();
    let (timeouts, offered, completed) = (failed(&r, FailureCause::Timeout), offered(&r), completed(&r));
    // Each request arriving in the cut fails 2 s later, to the bin.
    for k in 10..20 {
        assert_eq!(timeouts[k + 2], offered[k], "bin {}: {timeouts:?} vs {offered:?}", k + 2);
    }
    // Nothing fails before the first timeout can fire, nor after the last.
    assert_eq!(timeouts[10], 0, "{timeouts:?}");
    assert!(timeouts[22..].iter().all(|&n| n == 0), "{timeouts:?}");
    // A request served at 9.99 s has its answer lost at 10 s: a few may.
    assert!(timeouts[11] <= 8, "{timeouts:?}");
    assert!(completed[10..20].iter().all(|&n| n == 0), "{completed:?}");
    // No other cause: the nodes never saw the requests.
    assert_eq!(r.summary.failed.total(), r.summary.failed.timeout);
    // The callee did no work in the cut (a bin-10 answer was in progress).
    let web = served(&r, "web");
    assert!(web[11..20].iter().all(|&n| n == 0), "{web:?}");
    assert!(web[10] <= 16, "{web:?}");
    assert!(web[21..].iter().all(|&n| n > 30), "{web:?}");
    // After the cut, success at once.
    assert!(completed[20] > 30 && completed[25..].iter().all(|&n| n > 30), "{completed:?}");
    assert_eq!(timeouts[22..], vec![0; timeouts.len() - 22][..]);
    assert_no_crash(&r);
    assert_conserved(&r);
    let starts = events(&r, "partition-start");
    assert_eq!(starts.len(), 1);
    assert_eq!(starts[0].t.as_secs_f64(), 10.0);
    assert!(starts[0].detail.contains("traffic users / service web: black-hole, both directions"), "{starts:?}");
    let ends = events(&r, "partition-end");
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].t.as_secs_f64(), 20.0);
}

#[test]
fn a_reset_fails_every_attempt_at_once() {
    let r = run(
        &client_and_web(
            r#"from = "users"
to = "lb"
mode = "reset""#,
            "",
            "",
        ),
        0,
    )
    .unwrap();
    let (resets, offered) = (failed(&r, FailureCause::Reset), offered(&r));
    // Refused as it is sent: in the bin it arrived in.
    for k in 11..20 {
        assert_eq!(resets[k], offered[k], "bin {k}: {resets:?} vs {offered:?}");
    }
    assert!(resets[20..].iter().all(|&n| n == 0), "{resets:?}");
    assert_eq!(r.summary.failed.timeout, 0, "{:?}", r.summary.failed);
    let web = served(&r, "web");
    assert!(web[11..20].iter().all(|&n| n == 0), "{web:?}");
    assert_no_crash(&r);
    assert_conserved(&r);
}

#[test]
fn a_one_way_cut_of_the_answers_wastes_the_callees_work() {
    // Backward: packets from web to users are dropped.
    let r = run(
        &client_and_web(
            r#"from = "users"
to = "web"
direction = "backward""#,
            "",
            "",
        ),
        0,
    )
    .unwrap();
    let (timeouts, offered, completed) = (failed(&r, FailureCause::Timeout), offered(&r), completed(&r));
    for k in 10..20 {
        assert_eq!(timeouts[k + 2], offered[k], "bin {}: {timeouts:?} vs {offered:?}", k + 2);
    }
    assert!(completed[10..20].iter().all(|&n| n == 0), "{completed:?}");
    // The nodes did the work: every request of the cut was served.
    let web = served(&r, "web");
    let served_in_cut: u64 = web[10..20].iter().sum();
    let offered_in_cut: u64 = offered[10..20].iter().sum();
    assert!(served_in_cut + 16 >= offered_in_cut && served_in_cut <= offered_in_cut + 16, "{web:?} vs {offered:?}");
    // The same cut named the other way round, forward.
    let reversed = run(
        &client_and_web(
            r#"from = "web"
to = "users"
direction = "forward""#,
            "",
            "",
        ),
        0,
    )
    .unwrap();
    assert_eq!(reversed.summary, r.summary);
    // Cutting only the requests instead: no work done.
    let forward = run(
        &client_and_web(
            r#"from = "users"
to = "web"
direction = "forward""#,
            "",
            "",
        ),
        0,
    )
    .unwrap();
    assert!(served(&forward, "web")[11..20].iter().all(|&n| n == 0));
    assert_eq!(failed(&forward, FailureCause::Timeout)[12..22], offered[10..20]);
    assert_conserved(&r);
    assert_no_crash(&r);
}

/// Deep liveness probes, failing a node after two misses.
const LIVENESS: &str = r#"liveness = { interval = "1s", timeout = "500ms", failure_threshold = 2, kind = "deep" }"#;

#[test]
fn health_checks_across_the_cut_fail_and_pass_again_after() {
    for kind in ["shallow", "deep"] {
        let checks = format!(
            r#"health_check = {{ interval = "1s", timeout = "500ms", unhealthy_threshold = 2, healthy_threshold = 2, kind = "{kind}" }}"#
        );
        let r = run(
            &client_and_web(
                r#"from = "lb"
to = "web""#,
                &checks,
                LIVENESS,
            ),
            0,
        )
        .unwrap();
        let unhealthy = events(&r, "unhealthy");
        let healthy = events(&r, "healthy");
        assert_eq!(unhealthy.len(), 2, "{kind}: {unhealthy:?}");
        assert!(unhealthy.iter().all(|e| (10.0..13.0).contains(&e.t.as_secs_f64())), "{kind}: {unhealthy:?}");
        assert_eq!(healthy.len(), 2, "{kind}: {healthy:?}");
        assert!(healthy.iter().all(|e| (20.0..24.0).contains(&e.t.as_secs_f64())), "{kind}: {healthy:?}");
        // Liveness probes are the kubelet's, on the node: they pass, and
        // nothing is restarted.
        assert_no_crash(&r);
        // Client traffic through the balancer is cut too.
        let completed = completed(&r);
        assert!(completed[11..20].iter().all(|&n| n == 0), "{kind}: {completed:?}");
        assert!(completed[25..].iter().all(|&n| n > 30), "{kind}: {completed:?}");
        assert_conserved(&r);
    }
    // A cut between the clients and the balancer leaves its checks alone.
    let checks = r#"health_check = { interval = "1s", unhealthy_threshold = 2, healthy_threshold = 2 }"#;
    let r = run(
        &client_and_web(
            r#"from = "users"
to = "lb""#,
            checks,
            "",
        ),
        0,
    )
    .unwrap();
    assert!(events(&r, "unhealthy").is_empty());
}

/// gateway -> payments (black-holed from 10 s to 20 s), with `call` the
/// call's extra keys; clients without a timeout, so every failure is the
/// call's.
fn gateway_and_payments(call: &str, partition: &str) -> Scenario {
    scenario(&format!(
        r#"version = 1
[simulation]
duration = "40s"
seed = 4
bin = "1s"
[traffic.users]
rate = "50/s"
target = "gateway"
[services.gateway]
nodes = 2
workers = 32
service_time = {{ distribution = "constant", value = "2ms" }}
calls = [{{ target = "payments"{call} }}]
[services.payments]
region = "west"
nodes = 2
workers = 8
service_time = {{ distribution = "constant", value = "10ms" }}
[[faults]]
kind = "partition"
at = "10s"
duration = "10s"
{partition}
"#
    ))
}

#[test]
fn a_black_holed_call_times_out_and_fails_the_request() {
    let r = run(
        &gateway_and_payments(
            r#", timeout = "500ms""#,
            r#"from = "gateway"
to = "payments""#,
        ),
        0,
    )
    .unwrap();
    let (timeouts, offered, completed) = (failed(&r, FailureCause::Timeout), offered(&r), completed(&r));
    assert!(completed[11..20].iter().all(|&n| n == 0), "{completed:?}");
    let pay = served(&r, "payments");
    assert!(pay[11..20].iter().all(|&n| n == 0), "{pay:?}");
    // Every request of the cut fails with the call's timeout, half a second on.
    let in_cut: u64 = offered[10..20].iter().sum();
    let failed_then: u64 = timeouts[10..21].iter().sum();
    assert!(failed_then >= in_cut && failed_then <= in_cut + offered[9], "{failed_then} vs {in_cut}");
    assert_eq!(timeouts[10], timeouts[10].min(offered[9] + offered[10]));
    assert!(timeouts[21..].iter().all(|&n| n == 0), "{timeouts:?}");
    assert!(completed[22..].iter().all(|&n| n > 30), "{completed:?}");
    let call = &r.summary.calls[0];
    assert!(call.failed >= in_cut, "{call:?}");
    // (Calls are conserved too: the simulator checks it and fails the run otherwise.)
    assert_conserved(&r);
    assert_no_crash(&r);

    // Without a call timeout the black hole keeps the gateway's workers
    // for good: every worker and queue slot (2 x (32 + 100)) holds a
    // request that hangs until the run ends, the rest are rejected, and
    // the gateway stays down after the cut though no node ever crashed.
    let hung = run(
        &gateway_and_payments(
            "",
            r#"from = "gateway"
to = "payments""#,
        ),
        0,
    )
    .unwrap();
    let c = &hung.summary.conservation;
    assert_eq!(c.in_flight, 2 * (32 + 100), "{c:?}");
    assert_eq!(hung.summary.failed.total(), hung.summary.failed.rejected, "{:?}", hung.summary.failed);
    let hung_done: Vec<u64> = hung.bins.iter().map(|b| b.completed).collect();
    assert!(hung_done[12..].iter().all(|&n| n == 0), "{hung_done:?}");
    assert_no_crash(&hung);
    assert_conserved(&hung);
}

#[test]
fn a_region_partition_cuts_calls_between_regions() {
    // gateway runs in the default region ("main"), payments in "west".
    let r = run(
        &gateway_and_payments(
            r#", timeout = "500ms""#,
            r#"from = "region:main"
to = "region:west"
mode = "reset""#,
        ),
        0,
    );
    let r = match r {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let (resets, offered) = (failed(&r, FailureCause::Reset), offered(&r));
    // Refused as the call is made, after the gateway's own 2 ms: a request
    // arriving in the last 2 ms of a bin fails in the next.
    for k in 11..20 {
        assert!(resets[k].abs_diff(offered[k]) <= 3, "bin {k}: {resets:?} vs {offered:?}");
    }
    let in_cut: u64 = offered[10..20].iter().sum();
    let reset_then: u64 = resets[10..21].iter().sum();
    assert!(reset_then >= in_cut && reset_then <= in_cut + 3, "{reset_then} vs {in_cut}");
    assert!(resets[21..].iter().all(|&n| n == 0), "{resets:?}");
    assert!(served(&r, "payments")[11..20].iter().all(|&n| n == 0));
    assert_eq!(r.summary.failed.timeout, 0);
    assert_conserved(&r);
    // Clients belong to no region: their requests to the gateway get through.
    assert!(r.summary.services[0].attempts >= r.summary.offered);
}

#[test]
fn retries_and_deadlines_across_a_black_hole_answer_every_request_once() {
    let r = run(
        &scenario(
            r#"version = 1
[simulation]
duration = "40s"
seed = 9
[traffic.users]
rate = "50/s"
timeout = "300ms"
deadline = "1s"
retry = { max_attempts = 5, backoff = "constant", base = "50ms", jitter = "none" }
target = "web"
[services.web]
nodes = 2
workers = 8
service_time = { distribution = "constant", value = "10ms" }
[[faults]]
kind = "partition"
from = "users"
to = "web"
at = "10s"
"#,
        ),
        0,
    )
    .unwrap();
    // A permanent cut: every request from 10 s on runs out of time.
    let s = &r.summary;
    assert!(s.failed.deadline + s.failed.timeout > 0);
    assert_eq!(s.failed.total(), s.failed.deadline + s.failed.timeout, "{:?}", s.failed);
    assert!(s.completed > 0);
    assert_conserved(&r);
    assert_no_crash(&r);
}
