//! The discrete-event engine: a clock and a queue of future events, nothing
//! more. It knows no servers, requests or metrics; the event type `E` is the
//! caller's (a plain enum dispatched by `match`).
//!
//! Rules it guarantees:
//! - time is integer nanoseconds ([`SimTime`]) and never goes backwards;
//! - events are ordered by (time, sequence number): two events at the same
//!   instant pop in the order they were scheduled (FIFO), so runs are exact
//!   and reproducible;
//! - timers scheduled with [`Engine::schedule_timer`] can be cancelled in
//!   O(1). Cancellation is lazy: the entry stays in the queue and is dropped
//!   when it reaches the front, recognised by a generation counter. This is
//!   the cheap path for client timeouts, which are set for every attempt and
//!   usually cancelled.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::time::{SimDuration, SimTime};

/// Handle of a cancellable timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerId {
    slot: u32,
    generation: u32,
}

/// Marks queue entries that are not timers.
const NO_TIMER: u32 = u32::MAX;

/// One scheduled event. `key` packs (time << 64 | sequence) so a single
/// integer comparison orders the queue.
struct Entry<E> {
    key: u128,
    timer_slot: u32,
    timer_generation: u32,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    /// Reversed: `BinaryHeap` is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.cmp(&self.key)
    }
}

/// Clock + future-event list.
pub struct Engine<E> {
    now: SimTime,
    queue: BinaryHeap<Entry<E>>,
    next_seq: u64,
    /// Current generation of each timer slot; an entry whose generation
    /// differs was cancelled (or already fired) and is skipped.
    timer_generations: Vec<u32>,
    free_timer_slots: Vec<u32>,
    delivered: u64,
}

impl<E> Default for Engine<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Engine<E> {
    pub fn new() -> Self {
        Engine {
            now: SimTime::ZERO,
            queue: BinaryHeap::with_capacity(1024),
            next_seq: 0,
            timer_generations: Vec::new(),
            free_timer_slots: Vec::new(),
            delivered: 0,
        }
    }

    /// The current simulated time.
    #[inline]
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Events delivered so far (cancelled timers not counted).
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Entries waiting in the queue, including cancelled timers not yet dropped.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    #[inline]
    fn push(&mut self, at: SimTime, timer_slot: u32, timer_generation: u32, event: E) {
        debug_assert!(at >= self.now, "event scheduled in the past");
        let at = at.max(self.now);
        let key = ((at.0 as u128) << 64) | self.next_seq as u128;
        self.next_seq += 1;
        self.queue.push(Entry { key, timer_slot, timer_generation, event });
    }

    /// Schedules `event` at absolute time `at` (not before now).
    #[inline]
    pub fn schedule_at(&mut self, at: SimTime, event: E) {
        self.push(at, NO_TIMER, 0, event);
    }

    /// Schedules `event` after `delay` from now.
    #[inline]
    pub fn schedule_in(&mut self, delay: SimDuration, event: E) {
        let at = self.now + delay;
        self.push(at, NO_TIMER, 0, event);
    }

    /// Schedules a cancellable `event` at `at`; keep the handle to cancel it.
    #[inline]
    pub fn schedule_timer(&mut self, at: SimTime, event: E) -> TimerId {
        let slot = match self.free_timer_slots.pop() {
            Some(slot) => slot,
            None => {
                self.timer_generations.push(0);
                (self.timer_generations.len() - 1) as u32
            }
        };
        let generation = self.timer_generations[slot as usize];
        self.push(at, slot, generation, event);
        TimerId { slot, generation }
    }

    /// Cancels a timer. Returns false if it already fired or was cancelled.
    #[inline]
    pub fn cancel(&mut self, timer: TimerId) -> bool {
        let current = &mut self.timer_generations[timer.slot as usize];
        if *current != timer.generation {
            return false;
        }
        *current = current.wrapping_add(1);
        self.free_timer_slots.push(timer.slot);
        true
    }

    /// Removes and returns the next live event if it is due at or before
    /// `horizon`, advancing the clock to its time. Returns `None` (and leaves
    /// the event queued) once the next event lies beyond the horizon.
    #[inline]
    pub fn next_until(&mut self, horizon: SimTime) -> Option<(SimTime, E)> {
        loop {
            let head = self.queue.peek()?;
            let at = SimTime((head.key >> 64) as u64);
            if at > horizon {
                return None;
            }
            let entry = self.queue.pop().expect("peeked entry exists");
            if entry.timer_slot != NO_TIMER {
                let current = &mut self.timer_generations[entry.timer_slot as usize];
                if *current != entry.timer_generation {
                    continue; // cancelled
                }
                *current = current.wrapping_add(1);
                self.free_timer_slots.push(entry.timer_slot);
            }
            self.now = at;
            self.delivered += 1;
            return Some((at, entry.event));
        }
    }

    /// Delivers every event due at or before `horizon` to `handle`, which may
    /// schedule more; then sets the clock to `horizon`.
    pub fn run_until<C>(
        &mut self,
        horizon: SimTime,
        context: &mut C,
        mut handle: impl FnMut(&mut C, &mut Engine<E>, SimTime, E),
    ) {
        while let Some((at, event)) = self.next_until(horizon) {
            handle(context, self, at, event);
        }
        self.advance_to(horizon);
    }

    /// Moves the clock forward to `t` without delivering anything (used at
    /// the horizon). Never moves it backwards.
    pub fn advance_to(&mut self, t: SimTime) {
        if t > self.now {
            self.now = t;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(engine: &mut Engine<u32>, horizon: u64) -> Vec<(u64, u32)> {
        let mut seen = Vec::new();
        engine.run_until(SimTime(horizon), &mut seen, |seen, _, at, ev| seen.push((at.0, ev)));
        seen
    }

    #[test]
    fn pops_in_time_order() {
        let mut e = Engine::new();
        for (t, ev) in [(30, 3), (10, 1), (20, 2), (5, 0)] {
            e.schedule_at(SimTime(t), ev);
        }
        assert_eq!(drain(&mut e, 100), vec![(5, 0), (10, 1), (20, 2), (30, 3)]);
        assert_eq!(e.now(), SimTime(100));
    }

    #[test]
    fn equal_times_pop_first_in_first_out() {
        let mut e = Engine::new();
        for ev in 0..50 {
            e.schedule_at(SimTime(7), ev);
        }
        e.schedule_at(SimTime(3), 99);
        let got: Vec<u32> = drain(&mut e, 10).into_iter().map(|(_, ev)| ev).collect();
        let mut want = vec![99];
        want.extend(0..50);
        assert_eq!(got, want);
    }

    #[test]
    fn events_scheduled_while_handling_keep_fifo_ties() {
        let mut e: Engine<u32> = Engine::new();
        e.schedule_at(SimTime(1), 0);
        e.schedule_at(SimTime(5), 1);
        let mut order = Vec::new();
        e.run_until(SimTime(10), &mut order, |order, eng, at, ev| {
            order.push(ev);
            if ev == 0 {
                // Same instant as event 1, but scheduled later: pops after it.
                eng.schedule_at(SimTime(5), 2);
                eng.schedule_in(SimDuration(0), 3); // now, before both
            }
            assert!(eng.now() == at);
        });
        assert_eq!(order, vec![0, 3, 1, 2]);
    }

    #[test]
    fn horizon_leaves_later_events_queued() {
        let mut e = Engine::new();
        e.schedule_at(SimTime(10), 1);
        e.schedule_at(SimTime(20), 2);
        assert_eq!(drain(&mut e, 10), vec![(10, 1)]);
        assert_eq!(e.now(), SimTime(10));
        assert_eq!(drain(&mut e, 30), vec![(20, 2)]);
    }

    #[test]
    fn cancelled_timers_never_fire() {
        let mut e = Engine::new();
        let a = e.schedule_timer(SimTime(10), 1);
        let b = e.schedule_timer(SimTime(20), 2);
        e.schedule_at(SimTime(15), 3);
        assert!(e.cancel(a));
        assert!(!e.cancel(a), "second cancel is a no-op");
        assert_eq!(drain(&mut e, 100), vec![(15, 3), (20, 2)]);
        assert!(!e.cancel(b), "a fired timer cannot be cancelled");
        assert_eq!(e.delivered(), 2);
    }

    #[test]
    fn reused_timer_slots_do_not_confuse_generations() {
        let mut e = Engine::new();
        let a = e.schedule_timer(SimTime(10), 1);
        e.cancel(a);
        // Takes a's slot with a new generation; a's stale entry must stay dead.
        let b = e.schedule_timer(SimTime(12), 2);
        assert_eq!(a.slot, b.slot);
        assert!(!e.cancel(a), "stale handle must not cancel the new timer");
        assert_eq!(drain(&mut e, 100), vec![(12, 2)]);
    }

    #[test]
    fn cancel_from_inside_a_handler() {
        let mut e: Engine<u32> = Engine::new();
        let timeout = e.schedule_timer(SimTime(50), 9);
        e.schedule_at(SimTime(40), 1);
        let mut seen = Vec::new();
        e.run_until(SimTime(100), &mut seen, |seen, eng, _, ev| {
            seen.push(ev);
            if ev == 1 {
                assert!(eng.cancel(timeout));
            }
        });
        assert_eq!(seen, vec![1]);
    }

    #[test]
    fn time_never_goes_backwards() {
        let mut e = Engine::new();
        let mut x: u64 = 12345;
        for i in 0..1000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            e.schedule_at(SimTime(x >> 40), i);
        }
        let seen = drain(&mut e, u64::MAX);
        assert_eq!(seen.len(), 1000);
        assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0));
    }
}
