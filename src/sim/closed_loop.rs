//! Closed-loop traffic sources: a population of users, each sending one
//! request, waiting for it to end (success, failure for good, or giving up
//! through a timeout or deadline), then thinking before the next. The load
//! such a source offers regulates itself: when the service slows down, the
//! users wait longer and send less.
//!
//! A user who joins (at the start, or when the population rises) starts by
//! thinking. When the population falls, users above it retire at their next
//! decision point: when their request ends, or when their think time ends;
//! a request in flight is never dropped.

use super::{Event, World};
use crate::components::distribution::DurationSampler;
use crate::model::ClosedLoop;
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};

/// The users of one closed-loop source.
pub(super) struct Users {
    /// (from, users) steps of the population.
    population: Vec<(SimTime, u32)>,
    /// How many users there should be now.
    wanted: u32,
    /// How many users exist (thinking or waiting for a request), including
    /// those above `wanted` who retire at their next decision point.
    active: u32,
    think: DurationSampler,
    rng: SimRng,
}

impl Users {
    pub(super) fn new(spec: &ClosedLoop, rng: SimRng) -> Self {
        Users {
            population: spec.population.iter().map(|s| (s.from, s.users)).collect(),
            wanted: 0,
            active: 0,
            think: DurationSampler::new(&spec.think_time),
            rng,
        }
    }

    /// A think time, at least 1 ns so that time always moves forward.
    fn think_time(&mut self) -> SimDuration {
        SimDuration(self.think.sample(&mut self.rng).0.max(1))
    }

    /// Whether a user at a decision point retires (one too many).
    fn retires(&mut self) -> bool {
        let retire = self.active > self.wanted;
        if retire {
            self.active -= 1;
        }
        retire
    }
}

impl World<'_> {
    /// Starts the first population step's users and schedules the changes.
    pub(super) fn start_users(&mut self, source: usize) {
        let Some(users) = self.sources[source].closed.as_ref() else {
            return;
        };
        let changes: Vec<SimTime> = users.population.iter().map(|&(from, _)| from).collect();
        for (step, from) in changes.into_iter().enumerate() {
            if step == 0 {
                self.on_population_change(SimTime::ZERO, source, 0);
            } else {
                self.engine.schedule_at(from, Event::PopulationChange { source: source as u32, step: step as u32 });
            }
        }
    }

    /// The population becomes step `step`'s: new users start thinking;
    /// users above it retire when they next can.
    pub(super) fn on_population_change(&mut self, now: SimTime, source: usize, step: usize) {
        let s = &mut self.sources[source];
        let users = s.closed.as_mut().expect("a closed-loop source");
        let (before, after) = (users.wanted, users.population[step].1);
        users.wanted = after;
        let joining = after.saturating_sub(users.active);
        users.active += joining;
        let thinks: Vec<SimDuration> = (0..joining).map(|_| users.think_time()).collect();
        for think in thinks {
            self.engine.schedule_at(now + think, Event::ThinkEnd { source: source as u32 });
        }
        if step > 0 {
            let name = self.sources[source].name.clone();
            self.recorder.log(now, &name, None, "traffic-change", format!("users {before} -> {after}"));
        }
    }

    /// A user is done thinking: it sends its next request, or retires.
    pub(super) fn on_think_end(&mut self, now: SimTime, source: usize) {
        let users = self.sources[source].closed.as_mut().expect("a closed-loop source");
        if !users.retires() {
            self.on_arrival(now, source);
        }
    }

    /// A closed-loop user's request ended (whatever the outcome): the user
    /// thinks, then sends again, unless it retires.
    #[cold]
    #[inline(never)]
    pub(super) fn user_request_ended(&mut self, now: SimTime, source: usize) {
        let users = self.sources[source].closed.as_mut().expect("a closed-loop source");
        if users.retires() {
            return;
        }
        let think = users.think_time();
        self.engine.schedule_at(now + think, Event::ThinkEnd { source: source as u32 });
    }
}
