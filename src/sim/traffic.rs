//! Traffic beyond the sources' Poisson arrivals: requests at given instants
//! (bursts, a trace's replayed timestamps), admitted through the same client
//! path as Poisson arrivals, and the events.csv rows of traffic changes
//! (schedule steps, ramps, bursts, a trace's start and end).
//!
//! Both are few and known in advance, so each is an event at its instant:
//! one chain of events walks the scheduled requests in time order, and a
//! timeline row is a timer of its own. No Poisson arrival pays for them.

use super::{Event, World};
use crate::model::{Scenario, TrafficSource};
use crate::time::SimTime;

pub(super) struct TrafficPlan {
    /// Requests at given instants, every source's, in time order.
    scheduled: Vec<Scheduled>,
    /// Timeline rows other than bursts', in time order.
    marks: Vec<Mark>,
}

struct Scheduled {
    at: SimTime,
    source: u32,
    requests: u32,
    /// A burst (logged as one), rather than a replayed arrival.
    burst: bool,
}

struct Mark {
    at: SimTime,
    source: u32,
    event: &'static str,
    detail: String,
}

fn rate(per_sec: f64) -> String {
    format!("{per_sec}/s")
}

/// The timeline rows of a source's schedule changes: one per step boundary
/// (a ramp's start and its end included), none for a trace's many rows.
fn schedule_marks(t: &TrafficSource, source: u32, marks: &mut Vec<Mark>) {
    let steps = &t.rate.steps;
    for (i, step) in steps.iter().enumerate() {
        let previous = i.checked_sub(1).map(|p| &steps[p]);
        let mut parts = Vec::new();
        match previous {
            Some(p) if p.ramp => parts.push(format!("ramp end at {}", rate(step.per_sec))),
            Some(p) if p.per_sec != step.per_sec => {
                parts.push(format!("rate {} -> {}", rate(p.per_sec), rate(step.per_sec)))
            }
            _ => {}
        }
        if step.ramp {
            let next = &steps[i + 1];
            parts.push(format!(
                "ramp start: {} -> {} over {}",
                rate(step.per_sec),
                rate(next.per_sec),
                next.from - step.from
            ));
        }
        if !parts.is_empty() {
            marks.push(Mark { at: step.from, source, event: "traffic-change", detail: parts.join("; ") });
        }
    }
}

impl TrafficPlan {
    /// `None` when no source has bursts, a trace or schedule changes.
    pub(super) fn new(scenario: &Scenario) -> Option<Box<TrafficPlan>> {
        let mut scheduled = Vec::new();
        let mut marks = Vec::new();
        for (i, t) in scenario.traffic.iter().enumerate() {
            let source = i as u32;
            scheduled.extend(t.bursts.iter().map(|b| Scheduled {
                at: b.at,
                source,
                requests: b.requests,
                burst: true,
            }));
            scheduled.extend(t.replay.iter().map(|&at| Scheduled { at, source, requests: 1, burst: false }));
            match &t.trace {
                None => schedule_marks(t, source, &mut marks),
                Some(trace) => {
                    let (start, end) = if trace.timestamps {
                        let n = t.replay.len();
                        (
                            format!("{}: {n} recorded arrivals", trace.file),
                            format!("{}: last recorded arrival", trace.file),
                        )
                    } else {
                        let last = t.rate.steps.last().map_or(0.0, |s| s.per_sec);
                        let classes = match trace.classes {
                            0 => String::new(),
                            1 => " of 1 class".to_string(),
                            n => format!(" of {n} classes"),
                        };
                        (
                            format!("{}: {} rows{classes}", trace.file, trace.rows),
                            format!("{}: last row, {} holds until the end", trace.file, rate(last)),
                        )
                    };
                    marks.push(Mark { at: trace.first, source, event: "trace-start", detail: start });
                    marks.push(Mark { at: trace.last, source, event: "trace-end", detail: end });
                }
            }
        }
        if scheduled.is_empty() && marks.is_empty() {
            return None;
        }
        // Stable: at one instant, sources in order, each source's in its order.
        scheduled.sort_by_key(|s| s.at);
        marks.sort_by_key(|m| m.at);
        Some(Box::new(TrafficPlan { scheduled, marks }))
    }
}

impl World<'_> {
    /// Schedules the first requests at given instants and every timeline row.
    pub(super) fn start_traffic_plan(&mut self) {
        let Some(plan) = self.traffic.as_ref() else { return };
        let horizon = self.horizon;
        let first = plan.scheduled.first().map(|s| s.at).filter(|at| *at < horizon);
        let marks: Vec<SimTime> = plan.marks.iter().map(|m| m.at).collect();
        if let Some(at) = first {
            self.engine.schedule_at(at, Event::Scheduled { index: 0 });
        }
        for (i, at) in marks.into_iter().enumerate().filter(|(_, at)| *at < horizon) {
            self.engine.schedule_at(at, Event::TrafficMark { index: i as u32 });
        }
    }

    /// The requests at given instant `index` arrive, then the next instant's are scheduled.
    pub(super) fn on_scheduled(&mut self, now: SimTime, index: u32) {
        let plan = self.traffic.as_ref().expect("scheduled requests have a plan");
        let s = &plan.scheduled[index as usize];
        let (source, requests, burst) = (s.source as usize, s.requests, s.burst);
        let next = plan.scheduled.get(index as usize + 1).map(|n| n.at).filter(|at| *at < self.horizon);
        if let Some(at) = next {
            self.engine.schedule_at(at, Event::Scheduled { index: index + 1 });
        }
        if burst {
            let name = self.sources[source].name.clone();
            self.recorder.log(now, &name, None, "traffic-burst", format!("{requests} requests"));
        }
        for _ in 0..requests {
            self.admit(now, source);
        }
    }

    pub(super) fn on_traffic_mark(&mut self, now: SimTime, index: u32) {
        let plan = self.traffic.as_ref().expect("timeline rows have a plan");
        let m = &plan.marks[index as usize];
        let (event, detail) = (m.event, m.detail.clone());
        let name = self.sources[m.source as usize].name.clone();
        self.recorder.log(now, &name, None, event, detail);
    }
}
