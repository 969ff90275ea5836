//! One server node: a pool of workers and a bounded FIFO queue, whether its
//! process is up, what faults currently degrade it, and the time integrals
//! of its busy workers and queue length. A node only tracks which attempts
//! it holds; the simulation decides what admission, completion and crashes
//! mean for clients and metrics.

use crate::model::QueueOrder;
use crate::ring::Ring;
use crate::time::SimTime;

/// What happened to an attempt offered to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A worker was free: service starts now.
    Started,
    /// All workers busy: the attempt waits in the queue.
    Queued,
    /// Workers busy and queue full (or no queue): turned away.
    Rejected,
    /// The process is down: the connection is refused.
    Down,
}

/// Fault effects currently applied to a node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Degradation {
    /// Service times are multiplied by this.
    pub slowdown: f64,
    /// Added to every service time [ns].
    pub extra_ns: u64,
    /// Probability that an attempt is answered at once with an error.
    pub error_fraction: f64,
}

impl Default for Degradation {
    fn default() -> Self {
        Degradation { slowdown: 1.0, extra_ns: 0, error_fraction: 0.0 }
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    /// Workers the node is built with.
    workers: u32,
    /// Workers usable now (fewer during a capacity fault).
    usable_workers: u32,
    busy: u32,
    /// Waiting attempts by id; `None` capacity = unbounded.
    queue: Ring<u32>,
    queue_capacity: Option<u32>,
    order: QueueOrder,
    up: bool,
    /// Bumped at every crash, so events scheduled before it can be told apart.
    incarnation: u32,
    pub degradation: Degradation,
    last_change: SimTime,
    /// ∫ busy dt and ∫ queued dt since t = 0 [ns · attempts].
    busy_area: u128,
    queue_area: u128,
    /// Time the process has been up since t = 0 [ns].
    up_time: u128,
    /// ∫ usable workers dt while up since t = 0 [ns · workers].
    available_area: u128,
    /// When `up_time` and `available_area` were last brought up to date.
    state_since: SimTime,
}

/// A node's time integrals up to some instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeTotals {
    /// ∫ busy workers dt [ns].
    pub busy: u128,
    /// ∫ queue length dt [ns].
    pub queued: u128,
    /// Time up [ns].
    pub up: u128,
    /// ∫ usable workers dt while up [ns]: the worker-time utilization is
    /// measured against (a capacity fault shrinks it).
    pub available: u128,
}

impl Node {
    pub fn new(workers: u32, queue_capacity: Option<u32>) -> Self {
        Self::with_order(workers, queue_capacity, QueueOrder::Fifo)
    }

    pub fn with_order(workers: u32, queue_capacity: Option<u32>, order: QueueOrder) -> Self {
        Node {
            workers,
            usable_workers: workers,
            busy: 0,
            queue: Ring::default(),
            queue_capacity,
            order,
            up: true,
            incarnation: 0,
            degradation: Degradation::default(),
            last_change: SimTime::ZERO,
            busy_area: 0,
            queue_area: 0,
            up_time: 0,
            available_area: 0,
            state_since: SimTime::ZERO,
        }
    }

    /// Accumulates the busy and queue integrals up to `now`; call before
    /// any change of either (every request: kept to two products).
    #[inline]
    fn integrate(&mut self, now: SimTime) {
        let dt = (now.0 - self.last_change.0) as u128;
        self.busy_area += self.busy as u128 * dt;
        self.queue_area += self.queue.len() as u128 * dt;
        self.last_change = now;
    }

    /// Accumulates the up and available-worker integrals up to `now`; call
    /// before `up` or the usable workers change (rare: crashes, restarts,
    /// capacity faults), and when reading them.
    fn integrate_state(&mut self, now: SimTime) {
        let dt = (now.0 - self.state_since.0) as u128;
        if self.up {
            self.up_time += dt;
            self.available_area += self.usable_workers as u128 * dt;
        }
        self.state_since = now;
    }

    /// (∫ busy dt, ∫ queued dt) from the start until `now`.
    pub fn areas(&mut self, now: SimTime) -> (u128, u128) {
        let t = self.totals(now);
        (t.busy, t.queued)
    }

    /// All integrals from the start until `now`.
    pub fn totals(&mut self, now: SimTime) -> NodeTotals {
        self.integrate(now);
        self.integrate_state(now);
        NodeTotals { busy: self.busy_area, queued: self.queue_area, up: self.up_time, available: self.available_area }
    }

    /// Offers attempt `id` to the node.
    // Always inlined: on every request's path, and the compiler stopped
    // inlining it when the queue's push grew (+38 instructions a request).
    #[inline(always)]
    pub fn admit(&mut self, id: u32, now: SimTime) -> Admission {
        if !self.up {
            return Admission::Down;
        }
        if self.busy < self.usable_workers {
            self.integrate(now);
            self.busy += 1;
            Admission::Started
        } else if self.queue_capacity.is_none_or(|cap| (self.queue.len() as u32) < cap) {
            self.integrate(now);
            self.queue.push_back(id);
            Admission::Queued
        } else {
            Admission::Rejected
        }
    }

    /// The waiting attempt a free worker takes, by the queue order.
    #[inline(always)]
    fn pop_next(&mut self) -> Option<u32> {
        match self.order {
            QueueOrder::Fifo => self.queue.pop_front(),
            QueueOrder::Lifo => self.queue.pop_back(),
            QueueOrder::AdaptiveLifo { threshold } if self.queue.len() >= threshold as usize => self.queue.pop_back(),
            QueueOrder::AdaptiveLifo { .. } => self.queue.pop_front(),
        }
    }

    /// A worker finished (or dropped) its attempt. Returns the queued
    /// attempt it takes next, if any; otherwise the worker goes idle.
    #[inline(always)]
    pub fn finish(&mut self, now: SimTime) -> Option<u32> {
        debug_assert!(self.busy > 0, "finish on an idle node");
        self.integrate(now);
        if self.busy <= self.usable_workers
            && let Some(next) = self.pop_next()
        {
            return Some(next);
        }
        self.busy -= 1;
        None
    }

    /// Changes the usable workers; returns queued attempts that start now.
    pub fn set_usable_workers(&mut self, workers: u32, now: SimTime) -> Vec<u32> {
        self.integrate(now);
        self.integrate_state(now);
        self.usable_workers = workers.min(self.workers);
        let mut started = Vec::new();
        while self.up && self.busy < self.usable_workers {
            let Some(next) = self.pop_next() else { break };
            self.busy += 1;
            started.push(next);
        }
        started
    }

    /// The process dies: everything it held is lost. Returns the queued
    /// attempts (the caller knows which were in service).
    pub fn crash(&mut self, now: SimTime) -> Vec<u32> {
        self.integrate(now);
        self.integrate_state(now);
        self.up = false;
        self.busy = 0;
        self.incarnation = self.incarnation.wrapping_add(1);
        self.queue.take_all()
    }

    /// The process is running again, empty.
    pub fn start(&mut self, now: SimTime) {
        self.integrate(now);
        self.integrate_state(now);
        self.up = true;
    }

    /// Removes a queued attempt (e.g. shed); false if it was not queued.
    pub fn remove_queued(&mut self, id: u32, now: SimTime) -> bool {
        let position = self.queue.iter().position(|q| q == id);
        match position {
            Some(i) => {
                self.integrate(now);
                self.queue.remove(i);
                true
            }
            None => false,
        }
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    /// Whether [`Node::admit`] would take an attempt now (up, with a free
    /// worker or queue room).
    #[inline(always)]
    pub fn would_admit(&self) -> bool {
        self.up
            && (self.busy < self.usable_workers
                || self.queue_capacity.is_none_or(|cap| (self.queue.len() as u32) < cap))
    }

    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    pub fn workers(&self) -> u32 {
        self.workers
    }

    pub fn usable_workers(&self) -> u32 {
        self.usable_workers
    }

    #[inline]
    pub fn busy(&self) -> u32 {
        self.busy
    }

    #[inline]
    pub fn queued(&self) -> u32 {
        self.queue.len() as u32
    }

    /// Attempts held: in service plus waiting (what a balancer counts).
    #[inline]
    pub fn outstanding(&self) -> u32 {
        self.busy + self.queue.len() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: SimTime = SimTime::ZERO;

    #[test]
    fn fills_workers_then_queue_then_rejects() {
        let mut n = Node::new(2, Some(1));
        assert_eq!(n.admit(1, T), Admission::Started);
        assert_eq!(n.admit(2, T), Admission::Started);
        assert_eq!(n.admit(3, T), Admission::Queued);
        assert_eq!(n.admit(4, T), Admission::Rejected);
        assert_eq!((n.busy(), n.queued(), n.outstanding()), (2, 1, 3));
        assert_eq!(n.finish(T), Some(3));
        assert_eq!(n.finish(T), None);
        assert_eq!(n.finish(T), None);
        assert_eq!(n.busy(), 0);
    }

    #[test]
    fn zero_capacity_means_no_queue_and_none_means_unbounded() {
        let mut lossy = Node::new(1, Some(0));
        assert_eq!(lossy.admit(1, T), Admission::Started);
        assert_eq!(lossy.admit(2, T), Admission::Rejected);
        let mut open = Node::new(1, None);
        open.admit(0, T);
        for id in 1..10_000 {
            assert_eq!(open.admit(id, T), Admission::Queued);
        }
    }

    #[test]
    fn queue_is_first_in_first_out() {
        let mut n = Node::new(1, None);
        n.admit(0, T);
        for id in 1..5 {
            n.admit(id, T);
        }
        let order: Vec<u32> = std::iter::from_fn(|| n.finish(T)).collect();
        assert_eq!(order, vec![1, 2, 3, 4]);
    }

    #[test]
    fn lifo_and_adaptive_lifo_orders() {
        let mut lifo = Node::with_order(1, None, QueueOrder::Lifo);
        for id in 0..4 {
            lifo.admit(id, T);
        }
        let order: Vec<u32> = std::iter::from_fn(|| lifo.finish(T)).collect();
        assert_eq!(order, vec![3, 2, 1]);
        let mut adaptive = Node::with_order(1, None, QueueOrder::AdaptiveLifo { threshold: 3 });
        for id in 0..5 {
            adaptive.admit(id, T);
        }
        // Queue [1, 2, 3, 4]: long, so newest first; then [1, 2, 3]: still 3; then FIFO.
        let order: Vec<u32> = std::iter::from_fn(|| adaptive.finish(T)).collect();
        assert_eq!(order, vec![4, 3, 1, 2]);
    }

    #[test]
    fn a_crash_empties_the_node_and_refuses_until_started() {
        let mut n = Node::new(1, None);
        n.admit(0, T);
        n.admit(1, T);
        n.admit(2, T);
        assert_eq!(n.crash(T), vec![1, 2]);
        assert_eq!((n.busy(), n.queued()), (0, 0));
        assert_eq!(n.admit(3, T), Admission::Down);
        n.start(T);
        assert_eq!(n.admit(3, T), Admission::Started);
        assert_eq!(n.incarnation(), 1);
    }

    #[test]
    fn fewer_workers_hold_back_the_queue_until_restored() {
        let mut n = Node::new(2, None);
        n.admit(0, T);
        n.admit(1, T);
        n.admit(2, T);
        n.admit(3, T);
        assert!(n.set_usable_workers(1, T).is_empty());
        assert_eq!(n.finish(T), None, "busy 2 > 1 usable: the worker idles");
        assert_eq!(n.finish(T), Some(2), "busy 1 = 1 usable: takes the next");
        assert_eq!(n.set_usable_workers(2, T), vec![3]);
        assert_eq!(n.busy(), 2);
    }

    #[test]
    fn integrals_accumulate_busy_and_queue_time() {
        let mut n = Node::new(1, None);
        n.admit(0, SimTime(0));
        n.admit(1, SimTime(10));
        n.finish(SimTime(30));
        n.finish(SimTime(40));
        // busy 1 from 0 to 40; queue 1 from 10 to 30.
        assert_eq!(n.areas(SimTime(50)), (40, 20));
    }
}
