//! One server node: a pool of identical workers and a bounded FIFO queue.
//! A node only tracks which requests it holds; the simulation decides what
//! admission and completion mean for clients and metrics.

use std::collections::VecDeque;

/// What happened to a request offered to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A worker was free: service starts now.
    Started,
    /// All workers busy: the request waits in the queue.
    Queued,
    /// Workers busy and queue full (or no queue): turned away.
    Rejected,
}

#[derive(Debug, Clone)]
pub struct Node {
    workers: u32,
    busy: u32,
    /// Waiting requests by id; `None` capacity = unbounded.
    queue: VecDeque<u32>,
    queue_capacity: Option<u32>,
}

impl Node {
    pub fn new(workers: u32, queue_capacity: Option<u32>) -> Self {
        Node { workers, busy: 0, queue: VecDeque::new(), queue_capacity }
    }

    /// Offers request `id` to the node.
    #[inline]
    pub fn admit(&mut self, id: u32) -> Admission {
        if self.busy < self.workers {
            self.busy += 1;
            Admission::Started
        } else if self.queue_capacity.is_none_or(|cap| (self.queue.len() as u32) < cap) {
            self.queue.push_back(id);
            Admission::Queued
        } else {
            Admission::Rejected
        }
    }

    /// A worker finished its request. Returns the queued request it takes
    /// next (FIFO), if any; otherwise the worker goes idle.
    #[inline]
    pub fn finish(&mut self) -> Option<u32> {
        debug_assert!(self.busy > 0, "finish on an idle node");
        let next = self.queue.pop_front();
        if next.is_none() {
            self.busy -= 1;
        }
        next
    }

    pub fn workers(&self) -> u32 {
        self.workers
    }

    #[inline]
    pub fn busy(&self) -> u32 {
        self.busy
    }

    #[inline]
    pub fn queued(&self) -> u32 {
        self.queue.len() as u32
    }

    /// Requests held: in service plus waiting (what a balancer counts).
    #[inline]
    pub fn outstanding(&self) -> u32 {
        self.busy + self.queue.len() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_workers_then_queue_then_rejects() {
        let mut n = Node::new(2, Some(1));
        assert_eq!(n.admit(1), Admission::Started);
        assert_eq!(n.admit(2), Admission::Started);
        assert_eq!(n.admit(3), Admission::Queued);
        assert_eq!(n.admit(4), Admission::Rejected);
        assert_eq!((n.busy(), n.queued(), n.outstanding()), (2, 1, 3));
        assert_eq!(n.finish(), Some(3));
        assert_eq!(n.finish(), None);
        assert_eq!(n.finish(), None);
        assert_eq!(n.busy(), 0);
    }

    #[test]
    fn zero_capacity_means_no_queue_and_none_means_unbounded() {
        let mut lossy = Node::new(1, Some(0));
        assert_eq!(lossy.admit(1), Admission::Started);
        assert_eq!(lossy.admit(2), Admission::Rejected);
        let mut open = Node::new(1, None);
        open.admit(0);
        for id in 1..10_000 {
            assert_eq!(open.admit(id), Admission::Queued);
        }
    }

    #[test]
    fn queue_is_first_in_first_out() {
        let mut n = Node::new(1, None);
        n.admit(0);
        for id in 1..5 {
            n.admit(id);
        }
        let order: Vec<u32> = std::iter::from_fn(|| n.finish()).collect();
        assert_eq!(order, vec![1, 2, 3, 4]);
    }
}
