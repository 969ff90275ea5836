//! Clients: request arrivals, attempts and their timeouts, retries with
//! backoff under a budget, and deadlines. A request is answered once: it
//! completes, or fails for good with the cause of its last attempt.
//!
//! A source without retries or a deadline makes exactly one attempt per
//! request; such a "single-shot" request lives only as its attempt (owner
//! [`Owner::Single`]), which spares the request record on the hot path.

use rand::RngExt;

use super::calls::NO_CLASS;
use super::{Attempt, AttemptState, Event, Owner, Request, World, counts_against_node};
use crate::components::breaker::BreakerState;
use crate::model::FailureCause;
use crate::time::SimTime;

impl World<'_> {
    // Always inlined: once per request, and the compiler stopped inlining
    // it as the world grew (a call frame per arrival).
    #[inline(always)]
    pub(super) fn schedule_next_arrival(&mut self, source: usize, now: SimTime) {
        let s = &mut self.sources[source];
        if let Some(at) = s.arrivals.next_after(now, &mut s.rng) {
            self.engine.schedule_at(at, Event::Arrival { source: source as u32 });
        }
    }

    #[inline]
    pub(super) fn on_arrival(&mut self, now: SimTime, source: usize) {
        self.schedule_next_arrival(source, now);
        self.admit(now, source);
    }

    /// A new request from `source` arrives: a Poisson arrival, or one at a
    /// given instant (a burst's, a replayed trace's).
    #[inline(always)]
    pub(super) fn admit(&mut self, now: SimTime, source: usize) {
        self.recorder.arrival(now, source);
        let class = self.draw_class(source, now);
        if class != NO_CLASS {
            self.recorder.class_arrival(now, class);
        }
        if self.sources[source].single_shot {
            if self.sources[source].defended
                && let Some(cause) = self.client_refuses(now, source)
            {
                self.request_failed(now, now, cause, source, class);
                return;
            }
            if self.dispatch(now, source, Owner::Single { source: source as u32 }, class).is_none() {
                self.request_failed(now, now, FailureCause::Reset, source, class);
            }
            return;
        }
        let key = self.request_key(source);
        let id = self.requests.insert(Request {
            arrival: now,
            source: source as u32,
            attempts: 0,
            attempt: None,
            deadline: None,
            retry: None,
            last_backoff: None,
            class,
            key,
            age: crate::time::SimDuration::ZERO,
            live: true,
            next_free: super::slab::NO_SLOT,
        });
        let s = &mut self.sources[source];
        s.retry.budget.on_request(now);
        if let Some(deadline) = s.deadline {
            debug_assert_eq!(now, self.engine.now());
            let timer = self.engine.schedule_timer_in(deadline, Event::Deadline { request: id });
            self.requests[id].deadline = Some(timer);
        }
        self.send_attempt(now, id);
    }

    /// Sends the request's next attempt through its balancer, unless the
    /// client's circuit breaker or adaptive throttling refuses it.
    #[inline]
    fn send_attempt(&mut self, now: SimTime, request: u32) {
        let r = &mut self.requests[request];
        r.attempts += 1;
        let source = r.source as usize;
        if self.sources[source].defended
            && let Some(cause) = self.client_refuses(now, source)
        {
            self.retry_or_fail(now, request, cause);
            return;
        }
        let class = self.requests[request].class;
        if self.dispatch(now, source, Owner::Client { request }, class).is_none() {
            self.retry_or_fail(now, request, FailureCause::Reset);
        }
    }

    /// Routes a new attempt for `owner` through the source's balancer,
    /// arms its timeout and hands it to the chosen node. `None` when the
    /// service has no node in rotation (the connection fails at once).
    #[inline(always)]
    fn dispatch(&mut self, now: SimTime, source: usize, owner: Owner, class: u16) -> Option<u32> {
        let mut balancer = self.sources[source].balancer;
        // Active/active: a share of the primary's traffic goes to the other region.
        if let Some((other, share)) = self.sources[source].split
            && self.dr_rng.random::<f64>() < share
        {
            balancer = other;
        }
        let service = self.balancers[balancer].service;
        self.service_attempts[service] += 1;
        let node = self.route(balancer)?;
        let timeout = self.sources[source].timeout;
        Some(self.launch_attempt(now, node, owner, timeout, class))
    }

    /// The class of a request arriving at `now`, drawn from the source's
    /// mix, or its trace's per-class rates then (`NO_CLASS` without classes).
    // Always inlined (the compiler kept it out of line): a scenario without
    // classes pays one test per request, not a call.
    #[inline(always)]
    pub(super) fn draw_class(&mut self, source: usize, now: SimTime) -> u16 {
        if self.sources[source].class_mix.is_empty() {
            return NO_CLASS;
        }
        self.draw_class_from_mix(source, now)
    }

    fn draw_class_from_mix(&mut self, source: usize, now: SimTime) -> u16 {
        let s = &mut self.sources[source];
        if s.class_by_rates {
            let rates = &self.scenario.traffic[source].class_rates;
            return crate::components::class_rates::draw(rates, &s.class_mix, now, &mut s.class_rng);
        }
        let u = s.class_rng.random::<f64>();
        s.class_mix.iter().find(|&&(_, cumulative)| u < cumulative).unwrap_or(s.class_mix.last().expect("a class")).0
    }

    /// A request that arrived at `arrival` failed for good.
    #[inline]
    fn request_failed(&mut self, now: SimTime, arrival: SimTime, cause: FailureCause, source: usize, class: u16) {
        self.recorder.failed(arrival, cause, source);
        if class != NO_CLASS {
            self.recorder.class_failed(now, arrival, cause, class);
        }
        if self.sources[source].closed.is_some() {
            self.user_request_ended(now, source);
        }
    }

    /// Whether the client's own defences refuse to send an attempt now.
    #[inline]
    fn client_refuses(&mut self, now: SimTime, source: usize) -> Option<FailureCause> {
        let s = &mut self.sources[source];
        if let Some(breaker) = s.breaker.as_mut() {
            let (permitted, change) = breaker.try_acquire(now);
            if let Some(state) = change {
                self.log_breaker(now, source, state);
            }
            if !permitted {
                return Some(FailureCause::CircuitOpen);
            }
        }
        let s = &mut self.sources[source];
        if let Some(throttle) = s.throttle.as_mut()
            && throttle.reject(now, &mut s.throttle_rng)
        {
            return Some(FailureCause::Throttled);
        }
        None
    }

    fn log_breaker(&mut self, now: SimTime, source: usize, state: BreakerState) {
        let s = &self.sources[source];
        let detail = format!("client {}: circuit breaker {}", s.name, state.name());
        let service = s.service;
        self.log_service(now, service, "breaker", detail);
    }

    /// Feeds an attempt's outcome (sent at `sent`) to the client's breaker and throttle.
    #[inline]
    fn client_defences_learn(&mut self, now: SimTime, source: usize, failed: bool, sent: SimTime) {
        let s = &mut self.sources[source];
        if let Some(throttle) = s.throttle.as_mut()
            && !failed
        {
            throttle.accepted(now);
        }
        if let Some(breaker) = s.breaker.as_mut()
            && let Some(state) = breaker.on_result(now, failed, now.since(sent))
        {
            self.log_breaker(now, source, state);
        }
    }

    pub(super) fn on_retry(&mut self, now: SimTime, request: u32) {
        self.requests[request].retry = None;
        self.recorder.retry(now);
        self.send_attempt(now, request);
    }

    /// The client of `attempt` got a successful answer.
    #[inline(always)]
    pub(super) fn client_success(&mut self, now: SimTime, attempt: u32) {
        let a = &self.attempts[attempt];
        let (attempt_timer, node, owner, sent, class) = (a.timeout, a.node as usize, a.owner, a.sent, a.class);
        if let Some(timer) = attempt_timer {
            self.engine.cancel(timer);
        }
        let (source, arrival) = match owner {
            Owner::Single { source } => {
                self.recorder.completed(now, sent, source as usize);
                (source as usize, sent)
            }
            Owner::Client { request } => {
                let r = &self.requests[request];
                let (deadline, arrival, source, age) = (r.deadline, r.arrival, r.source as usize, r.age);
                if let Some(timer) = deadline {
                    self.engine.cancel(timer);
                }
                if age.is_zero() {
                    self.recorder.completed(now, arrival, source);
                } else {
                    // Queued before t = 0: its latency counts its wait before then.
                    self.recorder.completed_after(now.since(arrival) + age, arrival, source);
                }
                self.sources[source].retry.budget.on_success();
                self.requests.remove(request);
                (source, arrival)
            }
            Owner::Probe { .. } | Owner::Liveness | Owner::DbCall { .. } | Owner::Call { .. } => {
                unreachable!("not a client")
            }
        };
        if class != NO_CLASS {
            self.recorder.class_completed(now, arrival, class);
        }
        if self.sources[source].defended {
            self.client_defences_learn(now, source, false, sent);
        }
        let balancer = self.sources[source].balancer;
        self.record_outcome(now, balancer, node, false);
        if self.sources[source].closed.is_some() {
            self.user_request_ended(now, source);
        }
    }

    /// An attempt (a copy of it: the slot may already be freed) failed with
    /// `cause` while its client was still waiting.
    #[cold]
    #[inline(never)]
    pub(super) fn client_attempt_failed(&mut self, now: SimTime, a: &Attempt, cause: FailureCause) {
        // A timeout that fired cleared itself (`on_attempt_timeout`); a
        // timeout cause can also come from a call further down.
        if let Some(timer) = a.timeout {
            self.engine.cancel(timer);
        }
        let source = match a.owner {
            Owner::Single { source } => source as usize,
            Owner::Client { request } => self.requests[request].source as usize,
            Owner::Probe { .. } | Owner::Liveness | Owner::DbCall { .. } | Owner::Call { .. } => {
                unreachable!("not a client")
            }
        };
        if counts_against_node(cause) {
            self.client_defences_learn(now, source, true, a.sent);
            let balancer = self.sources[source].balancer;
            self.record_outcome(now, balancer, a.node as usize, true);
        }
        match a.owner {
            Owner::Client { request } => {
                self.requests[request].attempt = None;
                self.retry_or_fail(now, request, cause);
            }
            _ => self.request_failed(now, a.sent, cause, source, a.class),
        }
    }

    /// After a failed attempt: back off and retry if the policy, the
    /// budget and the deadline allow; otherwise the request fails.
    pub(super) fn retry_or_fail(&mut self, now: SimTime, request: u32, cause: FailureCause) {
        // The fields used, not a copy of the whole request.
        let r = &self.requests[request];
        let (source, attempts, last_backoff) = (r.source as usize, r.attempts, r.last_backoff);
        let retry = &mut self.sources[source].retry;
        if let Some(delay) = retry.next_delay(now, attempts, last_backoff, cause) {
            let timer = if retry.delays_repeat() {
                debug_assert_eq!(now, self.engine.now());
                self.engine.schedule_timer_in(delay, Event::Retry { request })
            } else {
                self.engine.schedule_timer(now + delay, Event::Retry { request })
            };
            let r = &mut self.requests[request];
            r.retry = Some(timer);
            r.last_backoff = Some(delay);
            return;
        }
        self.fail_request(now, request, cause);
    }

    fn fail_request(&mut self, now: SimTime, request: u32, cause: FailureCause) {
        let r = self.requests[request];
        if let Some(timer) = r.deadline {
            self.engine.cancel(timer);
        }
        self.request_failed(now, r.arrival, cause, r.source as usize, r.class);
        self.requests.remove(request);
    }

    pub(super) fn on_attempt_timeout(&mut self, now: SimTime, attempt: u32) {
        let a = &mut self.attempts[attempt];
        debug_assert!(a.live && a.state != AttemptState::Abandoned);
        a.timeout = None;
        let lost = a.state == AttemptState::Lost;
        a.state = AttemptState::Abandoned;
        let copy = *a;
        if lost {
            self.free_lost(attempt);
        }
        match copy.owner {
            Owner::Client { .. } | Owner::Single { .. } => {
                self.client_attempt_failed(now, &copy, FailureCause::Timeout)
            }
            Owner::Probe { .. } | Owner::Liveness => {
                let (owner, node) = (copy.owner, copy.node as usize);
                self.check_result(now, owner, node, false);
            }
            Owner::Call { .. } => self.call_attempt_failed(now, &copy, FailureCause::Timeout),
            Owner::DbCall { .. } => unreachable!("queries have no client timeout"),
        }
    }

    pub(super) fn on_deadline(&mut self, now: SimTime, request: u32) {
        let r = &mut self.requests[request];
        r.deadline = None;
        if let Some(timer) = r.retry.take() {
            self.engine.cancel(timer);
        }
        if let Some(attempt) = r.attempt.take() {
            let a = &mut self.attempts[attempt];
            let lost = a.state == AttemptState::Lost;
            a.state = AttemptState::Abandoned;
            if let Some(timer) = a.timeout.take() {
                self.engine.cancel(timer);
            }
            if lost {
                // Black-holed by a partition: no node will ever free it.
                self.attempts.remove(attempt);
            }
        }
        self.fail_request(now, request, FailureCause::Deadline);
    }
}
