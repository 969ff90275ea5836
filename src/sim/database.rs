//! Databases: services query them once per request through a per-node
//! connection pool; writes go to the primary, reads to a replica; the
//! primary replicates asynchronously (lagging, in commit order) or
//! synchronously; when it fails, a replica is promoted after detection and
//! promotion, and acknowledged writes it had not received are lost.

use std::collections::VecDeque;

use rand::RngExt;

use super::{AttemptState, Event, NO_SLOT, Owner, World};
use crate::components::distribution::DurationSampler;
use crate::metrics::{DatabaseSummary, FailoverSummary};
use crate::model::{DatabaseSpec, FailureCause};
use crate::time::{SimDuration, SimTime};

/// Replication and failover state of one database.
pub(super) struct DbState {
    spec: DatabaseSpec,
    lag: DurationSampler,
    /// Global node index of the current primary.
    pub(super) primary: usize,
    first_node: usize,
    /// Acknowledged writes not yet on a replica: (acknowledged, replicated)
    /// in commit order, with non-decreasing replication times.
    unreplicated: VecDeque<(SimTime, SimTime)>,
    /// When the newest write known to be on a replica was acknowledged.
    newest_durable: Option<SimTime>,
    last_replicated: SimTime,
    read_cursor: usize,
    writes_acked: u64,
    writes_lost: u64,
    failovers: Vec<FailoverSummary>,
    failing_over: bool,
}

impl DbState {
    pub(super) fn new(spec: &DatabaseSpec, first_node: usize) -> Self {
        DbState {
            spec: spec.clone(),
            lag: DurationSampler::new(&spec.lag),
            primary: first_node,
            first_node,
            unreplicated: VecDeque::new(),
            newest_durable: None,
            last_replicated: SimTime::ZERO,
            read_cursor: 0,
            writes_acked: 0,
            writes_lost: 0,
            failovers: Vec::new(),
            failing_over: false,
        }
    }

    pub(super) fn summary(&self, name: &str) -> DatabaseSummary {
        DatabaseSummary {
            database: name.to_string(),
            writes_acked: self.writes_acked,
            writes_lost: self.writes_lost,
            failovers: self.failovers.clone(),
        }
    }

    /// The primary failed `ago` before t = 0 and the failover is under
    /// way (`[initial]`): nothing was written in the run, so none is lost.
    pub(super) fn failing_over_since(&mut self, ago: SimDuration) {
        self.failing_over = true;
        self.failovers.push(FailoverSummary {
            primary_failed_at_s: -ago.as_secs_f64(),
            promoted_at_s: None,
            lost_writes: 0,
            rpo_s: 0.0,
        });
    }

    pub(super) fn failover_times(&self) -> (SimDuration, SimDuration) {
        (self.spec.failover_detection, self.spec.failover_promotion)
    }

    /// Acknowledged writes lost at failovers so far.
    pub(super) fn writes_lost(&self) -> u64 {
        self.writes_lost
    }

    /// Acknowledged writes not on a replica at `now`: what a primary
    /// failure now would lose. (Forgetting the replicated ones early
    /// changes nothing: every later use settles up to its own time first.)
    pub(super) fn unreplicated_at(&mut self, now: SimTime) -> u64 {
        self.settle(now);
        self.unreplicated.len() as u64
    }

    /// Forgets writes that have reached a replica by `now`.
    fn settle(&mut self, now: SimTime) {
        while let Some(&(acked, replicated)) = self.unreplicated.front() {
            if replicated > now {
                break;
            }
            self.newest_durable = Some(acked);
            self.unreplicated.pop_front();
        }
    }
}

impl World<'_> {
    /// The node finished its own work on `attempt`; now it queries the
    /// database, through a pooled connection.
    pub(super) fn start_db_phase(&mut self, now: SimTime, node: usize, attempt: u32) {
        self.attempts[attempt].db_phase = true;
        let x = &mut self.extra[node];
        if x.pool_free > 0 {
            x.pool_free -= 1;
            self.send_db_query(now, node, attempt);
        } else {
            x.pool_waiters.push_back(attempt);
        }
    }

    /// Sends `parent`'s query (it holds a connection of `node`'s pool).
    fn send_db_query(&mut self, now: SimTime, node: usize, parent: u32) {
        let use_db = self.scenario.services[self.extra[node].service].uses_database.clone().expect("a database user");
        let write = self.db_rng.random::<f64>() < use_db.write_ratio;
        let target = self.db_target(use_db.database, write);
        let class = self.attempts[parent].class;
        let call = self.launch_attempt(now, target, Owner::DbCall { parent, write }, None, class);
        // The query may have failed at once (and cleared this already).
        if self.attempts[call].live
            && matches!(self.attempts[call].owner, Owner::DbCall { parent: p, .. } if p == parent)
        {
            self.attempts[parent].db_call = call;
        }
    }

    /// Writes go to the primary; reads rotate over the replicas that are up
    /// (the primary when none is).
    pub(super) fn db_target(&mut self, service: usize, write: bool) -> usize {
        let (first, count) = (self.services[service].first_node, self.services[service].nodes);
        let db = self.services[service].db.as_mut().expect("a database");
        if write {
            return db.primary;
        }
        for _ in 0..count {
            db.read_cursor = (db.read_cursor + 1) % count;
            let node = first + db.read_cursor;
            if node != db.primary && self.nodes[node].is_up() {
                return node;
            }
        }
        db.primary
    }

    /// A query finished at a database node (`ok`) or failed there.
    pub(super) fn db_query_done(&mut self, now: SimTime, db_node: usize, owner: Owner, ok: bool) {
        let Owner::DbCall { parent, write } = owner else { unreachable!("not a query") };
        if ok && write {
            self.record_write(now, db_node);
        }
        if parent == NO_SLOT {
            return; // its request's node crashed meanwhile
        }
        self.attempts[parent].db_call = NO_SLOT;
        let node = self.attempts[parent].node as usize;
        // Hand the connection to the next waiter, or back to the pool.
        match self.extra[node].pool_waiters.pop_front() {
            Some(next) => self.send_db_query(now, node, next),
            None => self.extra[node].pool_free += 1,
        }
        if ok {
            self.finish_at_node(now, node, parent);
        } else {
            // The service answers its client with an error.
            self.fail_at_node(now, node, parent, FailureCause::Error);
        }
    }

    /// Sampled time of a write at a database node: the write itself, plus
    /// waiting for a replica when replication is synchronous.
    pub(super) fn write_time(&mut self, node: usize) -> SimDuration {
        let x = &mut self.extra[node];
        let mut t = x.write_sampler.as_ref().expect("a database node").sample(&mut x.rng);
        let service = x.service;
        if let Some(db) = self.services[service].db.as_mut()
            && db.spec.synchronous
        {
            t = t + db.lag.sample(&mut self.db_rng);
        }
        t
    }

    pub(super) fn record_write(&mut self, now: SimTime, db_node: usize) {
        let service = self.extra[db_node].service;
        let db = self.services[service].db.as_mut().expect("a database");
        if db_node != db.primary {
            return; // a write that reached a demoted primary is not acknowledged
        }
        db.writes_acked += 1;
        self.recorder.db_write(now);
        if db.spec.synchronous {
            db.newest_durable = Some(now); // acknowledged only once replicated
            return;
        }
        db.settle(now);
        // Replicas apply in commit order: never before the previous write.
        let replicated = (now + db.lag.sample(&mut self.db_rng)).max(db.last_replicated);
        db.last_replicated = replicated;
        db.unreplicated.push_back((now, replicated));
    }

    /// A database node crashed: if it was the primary, count the writes
    /// lost and start the failover clock.
    pub(super) fn db_node_crashed(&mut self, now: SimTime, node: usize) {
        let service = self.extra[node].service;
        let Some(db) = self.services[service].db.as_mut() else { return };
        if node != db.primary || db.failing_over {
            return;
        }
        db.settle(now);
        let lost = db.unreplicated.len() as u64;
        let rpo = match (lost, db.newest_durable) {
            (0, _) => 0.0,
            (_, Some(durable)) => now.since(durable).as_secs_f64(),
            (_, None) => now.as_secs_f64(),
        };
        db.writes_lost += lost;
        db.unreplicated.clear();
        db.failing_over = true;
        db.failovers.push(FailoverSummary {
            primary_failed_at_s: now.as_secs_f64(),
            promoted_at_s: None,
            lost_writes: lost,
            rpo_s: rpo,
        });
        let detection = db.spec.failover_detection;
        self.log(now, node, "primary-lost", format!("{lost} acknowledged writes not replicated, RPO {rpo:.3}s"));
        self.engine.schedule_at(now + detection, Event::FailoverStart { service: service as u32 });
    }

    pub(super) fn on_failover_start(&mut self, now: SimTime, service: usize) {
        let db = self.services[service].db.as_ref().expect("a database");
        let promotion = db.spec.failover_promotion;
        self.log_service(now, service, "failover-start", "primary failure detected".to_string());
        self.engine.schedule_at(now + promotion, Event::FailoverDone { service: service as u32 });
    }

    pub(super) fn on_failover_done(&mut self, now: SimTime, service: usize) {
        let (first, count) = (self.services[service].first_node, self.services[service].nodes);
        let old = self.services[service].db.as_ref().expect("a database").primary;
        let db_failing = self.services[service].db.as_ref().is_some_and(|d| d.failing_over);
        if !db_failing {
            return;
        }
        let promoted = if self.nodes[old].is_up() {
            Some(old) // the old primary came back first and kept its role
        } else {
            (first..first + count).find(|&n| n != old && self.nodes[n].is_up())
        };
        let db = self.services[service].db.as_mut().expect("a database");
        let Some(new) = promoted else {
            // No replica to promote: retry when one may be back.
            let promotion = db.spec.failover_promotion;
            self.engine.schedule_at(now + promotion, Event::FailoverDone { service: service as u32 });
            return;
        };
        db.primary = new;
        db.failing_over = false;
        db.last_replicated = now;
        if let Some(f) = db.failovers.last_mut() {
            f.promoted_at_s = Some(now.as_secs_f64());
        }
        let local = new - db.first_node;
        self.log_service(now, service, "promoted", format!("instance {local} is the primary"));
    }

    /// A node finished its work on `attempt` successfully (after its
    /// database query, if any): answer, free, and take the next.
    #[inline(always)]
    pub(super) fn finish_at_node(&mut self, now: SimTime, node: usize, attempt: u32) {
        // (One flag first: scenarios without partitions pay a single branch.
        // Before the copy below, which would otherwise live across the call.)
        if self.partitioned && self.cut_success_answer(now, node, attempt) {
            return;
        }
        // The fields used, not a copy of the whole attempt.
        let (state, owner) = (self.attempts[attempt].state, self.attempts[attempt].owner);
        match (state, owner) {
            (AttemptState::Abandoned, owner) => {
                if owner.is_client() {
                    self.recorder.late_response(self.attempts[attempt].sent);
                }
            }
            (_, Owner::Client { .. } | Owner::Single { .. }) => self.client_success(now, attempt),
            (_, Owner::Call { .. }) => self.call_success(now, attempt),
            (_, Owner::Probe { .. } | Owner::Liveness) => {
                if let Some(timer) = self.attempts[attempt].timeout {
                    self.engine.cancel(timer);
                }
                self.check_result(now, owner, node, true);
            }
            (_, Owner::DbCall { .. }) => unreachable!("queries finish in db_query_done"),
        }
        self.attempts.remove(attempt);
        self.release_worker(now, node);
    }

    /// A node's attempt failed after it had started (a call or its database
    /// query failed): answer with `cause`, free, and take the next.
    pub(super) fn fail_at_node(&mut self, now: SimTime, node: usize, attempt: u32, mut cause: FailureCause) {
        if self.partitioned {
            match self.cut_failure_answer(now, node, attempt, cause) {
                Some(answer) => cause = answer,
                None => return,
            }
        }
        let a = self.attempts[attempt];
        self.attempts.remove(attempt);
        match (a.state, a.owner) {
            (AttemptState::Abandoned, _) => {}
            (_, Owner::Client { .. } | Owner::Single { .. }) => self.client_attempt_failed(now, &a, cause),
            (_, Owner::Call { .. }) => self.call_attempt_failed(now, &a, cause),
            _ => {}
        }
        self.release_worker(now, node);
    }
}
