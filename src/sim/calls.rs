//! Calls between services: after its own work, a node serving a request
//! runs its service's call steps in order (one call, or parallel calls of
//! which the first k must succeed), each call with its own timeout, retry
//! policy and bulkhead, while the node's worker waits. A step that can no
//! longer succeed fails the request at this node with the cause of the call
//! that failed it.
//!
//! A call step may have a circuit breaker: one per caller node, as
//! resilience4j's instances live in each process (a node's breaker sees
//! only its own calls, and a restarted node starts with a closed one). It
//! guards each attempt; an open breaker fails the call at once as
//! `circuit_open`, not retried.
//!
//! A call outlives its caller lazily: when the caller's attempt is gone (its
//! node crashed) or the step was decided without it (first-k), the call is
//! not chased; it carries the step's token, and when its answer or its
//! retry timer comes back and the token no longer matches, it is counted as
//! abandoned and freed. Its attempts keep the callee busy meanwhile, as they
//! would in a real system.

use rand::RngExt;

use super::cache::Lookup;
use super::{Attempt, Event, NO_SLOT, Owner, SimError, World, counts_against_node};
use crate::components::breaker::{BreakerState, CircuitBreaker};
use crate::components::retry::Retrier;
use crate::engine::TimerId;
use crate::metrics::{CallSummary, RunSummary};
use crate::model::{BreakerSpec, FailureCause, classes_include};
use crate::time::{SimDuration, SimTime};

/// A request with no class (its source has none).
pub(super) const NO_CLASS: u16 = u16::MAX;

/// One call step of a service, with its calls' edges in `World::edges`.
pub(super) struct StepRt {
    pub(super) classes: Option<u64>,
    pub(super) first_edge: u32,
    pub(super) calls: u16,
    pub(super) wait_for: u16,
}

/// Counts of one edge (caller step → callee), whole run.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct EdgeCounts {
    /// Calls started (a bulkhead refusal included).
    pub(super) calls: u64,
    /// Attempts sent: first tries and retries.
    pub(super) attempts: u64,
    pub(super) succeeded: u64,
    /// Failed for good: retries exhausted or not allowed, or refused by the bulkhead.
    pub(super) failed: u64,
    pub(super) bulkhead: u64,
    /// Answered (or given up) after the caller stopped waiting.
    pub(super) abandoned: u64,
}

impl EdgeCounts {
    /// Counts how a call ended.
    fn count_outcome(&mut self, orphaned: bool, ok: bool) {
        match (orphaned, ok) {
            (true, _) => self.abandoned += 1,
            (false, true) => self.succeeded += 1,
            (false, false) => self.failed += 1,
        }
    }
}

/// A call from one service to another, as the world runs it.
pub(super) struct Edge {
    pub(super) caller: usize,
    pub(super) callee: usize,
    pub(super) step: u32,
    /// Index into `World::balancers`.
    pub(super) balancer: usize,
    pub(super) timeout: Option<SimDuration>,
    pub(super) retry: Retrier,
    pub(super) bulkhead: Option<u32>,
    /// A call to a database: this share are writes (to the primary), the
    /// rest reads (from a replica); 0 for a service.
    pub(super) write_ratio: f64,
    /// Calls in flight per caller node (service-local index), for the bulkhead.
    pub(super) in_flight: Vec<u32>,
    /// The step's circuit breaker, and one per caller node (service-local
    /// index; empty without a breaker).
    pub(super) breaker: Option<BreakerSpec>,
    pub(super) breakers: Vec<CircuitBreaker>,
    pub(super) counts: EdgeCounts,
    /// `counts` when the warm-up ended.
    pub(super) warm: EdgeCounts,
}

/// Attempts per service and bin (`services.csv`).
pub(super) struct GraphGauge {
    /// All attempts per service (`World::service_attempts`) at the
    /// previous bin end, and the per-bin rows.
    last_attempts: Vec<u64>,
    pub(super) service_bins: Vec<crate::metrics::ServiceBinRow>,
}

impl GraphGauge {
    pub(super) fn new(services: usize) -> Self {
        GraphGauge { last_attempts: vec![0; services], service_bins: Vec::new() }
    }

    /// Attempts per service in the bin that ends.
    pub(super) fn close_bin(&mut self, attempts: &[u64]) {
        let bin = (self.service_bins.len() / attempts.len().max(1)) as u32;
        for (s, (now, last)) in attempts.iter().zip(&mut self.last_attempts).enumerate() {
            self.service_bins.push(crate::metrics::ServiceBinRow { bin, service: s as u16, attempts: now - *last });
            *last = *now;
        }
    }
}

/// A call from start to its final answer, across its attempts.
#[derive(Debug, Clone, Copy)]
pub(super) struct CallRec {
    /// The caller's attempt, and the token of the step that made the call.
    pub(super) parent: u32,
    pub(super) token: u32,
    pub(super) edge: u32,
    pub(super) class: u16,
    pub(super) attempts: u32,
    pub(super) attempt: Option<u32>,
    pub(super) retry: Option<TimerId>,
    pub(super) last_backoff: Option<SimDuration>,
    /// The caller's node and its incarnation, for the bulkhead.
    pub(super) caller_node: u32,
    pub(super) caller_incarnation: u32,
    /// A write to a database (reads and calls to services: false).
    pub(super) write: bool,
    /// Started before the warm-up ended: its later attempts and outcome
    /// are added to the edge's warm-up counts too, so they are not measured.
    pub(super) before_warmup: bool,
    /// The cache key this call fetches after a miss (`NO_SLOT` otherwise).
    pub(super) key: u32,
    /// The client request's key seed, from the caller's attempt: the
    /// lookup's key is a function of it and the edge.
    pub(super) key_seed: u32,
    /// Coalescing: the first call waiting on this one's fetch, and the
    /// next call waiting on the same fetch.
    pub(super) waiters: u32,
    pub(super) next_waiter: u32,
    pub(super) live: bool,
    pub(super) next_free: u32,
}

impl World<'_> {
    /// The node finished its own work on `attempt`: run its call steps from
    /// the first, then its database query, then answer.
    pub(super) fn after_own_work(&mut self, now: SimTime, node: usize, attempt: u32) {
        self.next_step(now, node, attempt, 0);
    }

    /// Starts the first step at or after `from` that applies to the
    /// attempt's class; with none left, goes on to the database or answers.
    fn next_step(&mut self, now: SimTime, node: usize, attempt: u32, from: usize) {
        let service = self.extra[node].service;
        let class = self.attempts[attempt].class;
        let steps = &self.services[service].steps;
        let class = (class != NO_CLASS).then_some(class as usize);
        let next = (from..steps.len()).find(|&s| classes_include(steps[s].classes, class));
        match next {
            Some(s) => self.start_step(now, node, attempt, s),
            None if self.extra[node].uses_db => self.start_db_phase(now, node, attempt),
            None => self.finish_at_node(now, node, attempt),
        }
    }

    fn start_step(&mut self, now: SimTime, node: usize, attempt: u32, step: usize) {
        self.call_tokens += 1;
        let token = self.call_tokens;
        let a = &mut self.attempts[attempt];
        a.step = step as u16;
        a.calls_ok = 0;
        a.calls_failed = 0;
        a.token = token;
        let class = a.class;
        let s = &self.services[self.extra[node].service].steps[step];
        let (first, count) = (s.first_edge as usize, s.calls as usize);
        for edge in first..first + count {
            self.start_call(now, node, attempt, token, edge, class);
            // A call can settle the step at once (a full bulkhead, no node
            // to send to); then the remaining calls are not made.
            if !self.waiting_on(attempt, token) {
                break;
            }
        }
    }

    /// Whether `attempt` still waits on the step with `token`.
    #[inline]
    fn waiting_on(&self, attempt: u32, token: u32) -> bool {
        let a = &self.attempts[attempt];
        a.live && a.token == token
    }

    fn start_call(&mut self, now: SimTime, node: usize, parent: u32, token: u32, edge: usize, class: u16) {
        let local = self.extra[node].local as usize;
        let e = &mut self.edges[edge];
        e.counts.calls += 1;
        if let Some(limit) = e.bulkhead {
            if e.in_flight[local] >= limit {
                e.counts.failed += 1;
                e.counts.bulkhead += 1;
                self.step_progress(now, parent, false, FailureCause::Bulkhead);
                return;
            }
            e.in_flight[local] += 1;
        }
        e.retry.budget.on_request(now);
        let write = e.write_ratio > 0.0 && self.db_rng.random::<f64>() < e.write_ratio;
        let key_seed = self.attempts[parent].key;
        let call = self.calls.insert(CallRec {
            parent,
            token,
            edge: edge as u32,
            class,
            attempts: 0,
            attempt: None,
            retry: None,
            last_backoff: None,
            caller_node: node as u32,
            caller_incarnation: self.nodes[node].incarnation(),
            write,
            before_warmup: !self.recorder.measuring(),
            key: NO_SLOT,
            key_seed,
            waiters: NO_SLOT,
            next_waiter: NO_SLOT,
            live: true,
            next_free: NO_SLOT,
        });
        // A look-aside cache serves reads; writes go to the store.
        match self.services[self.edges[edge].callee].cache.as_ref() {
            Some(cache) if !write => {
                let lookup = cache.lookup_time();
                self.engine.schedule_at(now + lookup, Event::CacheLookup { call });
            }
            _ => self.send_call_attempt(now, call),
        }
    }

    /// The cache answered `call`'s lookup: a hit ends the call; a miss
    /// fetches from the service, or waits for a fetch of the same key.
    pub(super) fn on_cache_lookup(&mut self, now: SimTime, call: u32) {
        if self.call_orphaned(call) {
            self.end_call(now, call, false, FailureCause::Reset);
            return;
        }
        let c = &self.calls[call];
        let (edge, key_seed) = (c.edge, c.key_seed);
        let callee = self.edges[edge as usize].callee;
        let cache = self.services[callee].cache.as_mut().expect("a cached callee");
        match cache.lookup(now, call, key_seed, edge) {
            (Lookup::Hit, _) => self.end_call(now, call, true, FailureCause::Error),
            (Lookup::Miss, key) => {
                self.calls[call].key = key;
                self.send_call_attempt(now, call);
            }
            (Lookup::Joined { leader }, _) => {
                let first = self.calls[leader].waiters;
                self.calls[call].next_waiter = first;
                self.calls[leader].waiters = call;
            }
        }
    }

    /// Drops every entry of the service's cache.
    pub(super) fn flush_cache(&mut self, now: SimTime, service: usize) {
        let Some(cache) = self.services[service].cache.as_mut() else { return };
        let dropped = cache.flush();
        self.log_service(now, service, "cache-flush", format!("{dropped} entries dropped"));
    }

    fn send_call_attempt(&mut self, now: SimTime, call: u32) {
        if let Some(local) = self.call_breaker(call)
            && !self.breaker_permits(now, call, local)
        {
            self.end_call(now, call, false, FailureCause::CircuitOpen);
            return;
        }
        let c = &mut self.calls[call];
        c.attempts += 1;
        let (edge, class) = (c.edge as usize, c.class);
        let e = &mut self.edges[edge];
        e.counts.attempts += 1;
        self.service_attempts[e.callee] += 1;
        if c.before_warmup && self.recorder.measuring() {
            // The call's window is its start's: leave this attempt out too.
            e.warm.attempts += 1;
            self.warm_service_attempts[e.callee] += 1;
        }
        let (balancer, timeout, callee) = (e.balancer, e.timeout, e.callee);
        let node = if self.services[callee].db.is_some() {
            Some(self.db_target(callee, self.calls[call].write))
        } else {
            self.route(balancer)
        };
        match node {
            Some(node) => {
                let write = self.calls[call].write;
                self.launch_attempt(now, node, Owner::Call { call, write }, timeout, class);
            }
            // No node in rotation: the connection fails at once.
            None => {
                self.call_breaker_learns(now, call, true, SimDuration::ZERO);
                self.retry_or_end_call(now, call, FailureCause::Reset);
            }
        }
    }

    /// The caller node's breaker for `call` (its service-local index), if
    /// the step has breakers and the node is still the process that made
    /// the call (a restart replaced the breaker).
    #[inline]
    fn call_breaker(&self, call: u32) -> Option<usize> {
        let c = &self.calls[call];
        if self.edges[c.edge as usize].breakers.is_empty() {
            return None;
        }
        let node = c.caller_node as usize;
        (self.nodes[node].incarnation() == c.caller_incarnation).then(|| self.extra[node].local as usize)
    }

    /// Asks the caller node's breaker to let `call`'s next attempt out.
    fn breaker_permits(&mut self, now: SimTime, call: u32, local: usize) -> bool {
        let edge = self.calls[call].edge as usize;
        let (permitted, change) = self.edges[edge].breakers[local].try_acquire(now);
        if let Some(state) = change {
            self.log_call_breaker(now, call, state);
        }
        permitted
    }

    /// Feeds the outcome of `call`'s attempt, which took `took`, to the
    /// caller node's breaker.
    fn call_breaker_learns(&mut self, now: SimTime, call: u32, failed: bool, took: SimDuration) {
        let Some(local) = self.call_breaker(call) else { return };
        let edge = self.calls[call].edge as usize;
        if let Some(state) = self.edges[edge].breakers[local].on_result(now, failed, took) {
            self.log_call_breaker(now, call, state);
        }
    }

    fn log_call_breaker(&mut self, now: SimTime, call: u32, state: BreakerState) {
        let c = &self.calls[call];
        let e = &self.edges[c.edge as usize];
        let detail = format!("call to {}: circuit breaker {}", self.services[e.callee].name, state.name());
        self.log(now, c.caller_node as usize, "breaker", detail);
    }

    pub(super) fn on_call_retry(&mut self, now: SimTime, call: u32) {
        self.calls[call].retry = None;
        if !self.call_wanted(call) {
            self.end_call(now, call, false, FailureCause::Reset);
            return;
        }
        self.send_call_attempt(now, call);
    }

    /// The caller no longer waits for this call.
    #[inline]
    fn call_orphaned(&self, call: u32) -> bool {
        let c = &self.calls[call];
        !self.waiting_on(c.parent, c.token)
    }

    /// Someone still waits for the call's answer: its caller, or calls
    /// coalesced onto its fetch.
    fn call_wanted(&self, call: u32) -> bool {
        !self.call_orphaned(call) || self.calls[call].waiters != NO_SLOT
    }

    /// A call's attempt succeeded (the callee answered).
    pub(super) fn call_success(&mut self, now: SimTime, attempt: u32) {
        let a = &self.attempts[attempt];
        let (timer, node, owner, sent) = (a.timeout, a.node as usize, a.owner, a.sent);
        if let Some(timer) = timer {
            self.engine.cancel(timer);
        }
        let Owner::Call { call, .. } = owner else { unreachable!("not a call") };
        self.calls[call].attempt = None;
        self.call_breaker_learns(now, call, false, now.since(sent));
        if self.calls[call].write {
            self.record_write(now, node);
        }
        let e = &mut self.edges[self.calls[call].edge as usize];
        e.retry.budget.on_success();
        let balancer = e.balancer;
        self.record_outcome(now, balancer, node, false);
        self.end_call(now, call, true, FailureCause::Error);
    }

    /// A call's attempt (a copy: the slot may be freed) failed with `cause`.
    pub(super) fn call_attempt_failed(&mut self, now: SimTime, a: &Attempt, cause: FailureCause) {
        // A timeout that fired cleared itself (`on_attempt_timeout`); a
        // timeout cause can also come from a call further down.
        if let Some(timer) = a.timeout {
            self.engine.cancel(timer);
        }
        let Owner::Call { call, .. } = a.owner else { unreachable!("not a call") };
        self.calls[call].attempt = None;
        if counts_against_node(cause) {
            self.call_breaker_learns(now, call, true, now.since(a.sent));
            let balancer = self.edges[self.calls[call].edge as usize].balancer;
            self.record_outcome(now, balancer, a.node as usize, true);
        }
        self.retry_or_end_call(now, call, cause);
    }

    /// After a failed attempt: back off and retry if the call's policy and
    /// budget allow and someone still waits for it; otherwise the call is over.
    fn retry_or_end_call(&mut self, now: SimTime, call: u32, cause: FailureCause) {
        if self.call_wanted(call) {
            let c = self.calls[call];
            let retry = &mut self.edges[c.edge as usize].retry;
            if let Some(delay) = retry.next_delay(now, c.attempts, c.last_backoff, cause) {
                let timer = if retry.delays_repeat() {
                    debug_assert_eq!(now, self.engine.now());
                    self.engine.schedule_timer_in(delay, Event::CallRetry { call })
                } else {
                    self.engine.schedule_timer(now + delay, Event::CallRetry { call })
                };
                let c = &mut self.calls[call];
                c.retry = Some(timer);
                c.last_backoff = Some(delay);
                return;
            }
        }
        self.end_call(now, call, false, cause);
    }

    /// The call is over: free it and its bulkhead slot, and tell the caller.
    fn end_call(&mut self, now: SimTime, call: u32, ok: bool, cause: FailureCause) {
        debug_assert!(self.calls[call].live, "call {call} ended twice");
        let orphaned = self.call_orphaned(call);
        let c = self.calls[call];
        self.calls.remove(call);
        let caller = c.caller_node as usize;
        let e = &mut self.edges[c.edge as usize];
        // A crash reset the caller's bulkhead; calls from before it do not count.
        if e.bulkhead.is_some() && self.nodes[caller].incarnation() == c.caller_incarnation {
            let slot = &mut e.in_flight[self.extra[caller].local as usize];
            *slot = slot.saturating_sub(1);
        }
        let callee = e.callee;
        // Outcomes count in the window the call started in, as the call
        // itself does: a call from the warm-up that ends later is left out.
        e.counts.count_outcome(orphaned, ok);
        if c.before_warmup && self.recorder.measuring() {
            e.warm.count_outcome(orphaned, ok);
        }
        if c.key != NO_SLOT {
            let cache = self.services[callee].cache.as_mut().expect("a cached callee");
            cache.fetched(now, c.key, call, ok);
        }
        if !orphaned {
            self.step_progress(now, c.parent, ok, cause);
        }
        // Calls that waited for this fetch share its answer.
        let mut waiter = c.waiters;
        while waiter != NO_SLOT {
            let next = self.calls[waiter].next_waiter;
            self.end_call(now, waiter, ok, cause);
            waiter = next;
        }
    }

    /// One call of the parent's current step is over: the step succeeds
    /// once `wait_for` calls did, fails once that is out of reach.
    fn step_progress(&mut self, now: SimTime, parent: u32, ok: bool, cause: FailureCause) {
        let a = &mut self.attempts[parent];
        let node = a.node as usize;
        if ok {
            a.calls_ok += 1;
        } else {
            a.calls_failed += 1;
        }
        let (done_ok, done_failed, step) = (a.calls_ok, a.calls_failed, a.step as usize);
        let s = &self.services[self.extra[node].service].steps[step];
        if done_ok >= s.wait_for {
            self.attempts[parent].token = 0; // calls still out are abandoned
            self.next_step(now, node, parent, step + 1);
        } else if done_failed > s.calls - s.wait_for {
            self.attempts[parent].token = 0;
            self.fail_at_node(now, node, parent, cause);
        }
    }

    /// The node crashed: its bulkheads start empty and its breakers closed
    /// with the new process.
    pub(super) fn reset_call_defences(&mut self, node: usize) {
        let (service, local) = (self.extra[node].service, self.extra[node].local as usize);
        for e in self.edges.iter_mut().filter(|e| e.caller == service) {
            if e.bulkhead.is_some() {
                e.in_flight[local] = 0;
            }
            if let Some(spec) = &e.breaker {
                e.breakers[local] = CircuitBreaker::new(spec.clone());
            }
        }
    }

    /// Every call started is over (succeeded, failed, abandoned) or still
    /// alive, by an independent count of the live call records.
    pub(super) fn check_calls_conserved(&self, run_index: u64) -> Result<(), SimError> {
        let mut live = vec![0u64; self.edges.len()];
        for c in self.calls.slots().iter().filter(|c| c.live) {
            live[c.edge as usize] += 1;
        }
        for (e, in_flight) in self.edges.iter().zip(live) {
            let n = e.counts;
            if n.calls != n.succeeded + n.failed + n.abandoned + in_flight {
                let detail = format!(
                    "calls from {} to {}: {} started != {} succeeded + {} failed + {} abandoned + {in_flight} in flight",
                    self.services[e.caller].name,
                    self.services[e.callee].name,
                    n.calls,
                    n.succeeded,
                    n.failed,
                    n.abandoned
                );
                return Err(SimError::CallConservation {
                    scenario: self.scenario.name.clone(),
                    run_index,
                    seed: self.scenario.simulation.seed,
                    detail,
                });
            }
        }
        Ok(())
    }

    /// Attempts per service, and per-call counts, over the measured window.
    pub(super) fn graph_counts(&self) -> (Vec<u64>, Vec<CallSummary>) {
        let attempts = self.service_attempts.iter().zip(&self.warm_service_attempts).map(|(n, w)| n - w).collect();
        let calls = self
            .edges
            .iter()
            .map(|e| {
                let (n, w) = (e.counts, e.warm);
                let calls = n.calls - w.calls;
                let attempts = n.attempts - w.attempts;
                CallSummary {
                    caller: self.services[e.caller].name.clone(),
                    step: e.step,
                    callee: self.services[e.callee].name.clone(),
                    calls,
                    attempts,
                    succeeded: n.succeeded - w.succeeded,
                    failed: n.failed - w.failed,
                    bulkhead_refused: n.bulkhead - w.bulkhead,
                    abandoned: n.abandoned - w.abandoned,
                    attempts_per_call: if calls == 0 { 0.0 } else { attempts as f64 / calls as f64 },
                }
            })
            .collect();
        (attempts, calls)
    }
}

/// Puts the graph's counts into the summary: attempts and amplification
/// per service (services are in the same order there), and the calls.
pub(super) fn fill_graph_summary(summary: &mut RunSummary, service_attempts: &[u64], calls: Vec<CallSummary>) {
    let offered = summary.offered;
    for (out, &attempts) in summary.services.iter_mut().zip(service_attempts) {
        out.attempts = attempts;
        out.amplification = if offered == 0 { 0.0 } else { attempts as f64 / offered as f64 };
    }
    summary.calls = calls;
}
