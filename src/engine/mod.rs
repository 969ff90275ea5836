//! The discrete-event engine: a clock and a queue of future events, nothing
//! more. It knows no servers, requests or metrics; the event type `E` is the
//! caller's (a plain enum dispatched by `match`).
//!
//! Rules it guarantees:
//! - time is integer nanoseconds ([`SimTime`]) and never goes backwards;
//! - events are ordered by (time, sequence number): two events at the same
//!   instant pop in the order they were scheduled (FIFO), so runs are exact
//!   and reproducible;
//! - an event scheduled with [`Engine::schedule_first_at`] pops before every
//!   ordinary event at its instant (FIFO among such events), so a caller can
//!   observe the state just before that instant's changes;
//! - timers scheduled with [`Engine::schedule_timer`] can be cancelled in
//!   O(1). Cancellation is lazy: the entry stays in the queue and is dropped
//!   when it reaches the front, recognised by a generation counter. This is
//!   the cheap path for client timeouts, which are set for every attempt and
//!   usually cancelled. So that dead entries cannot pile up (a 1 s timeout
//!   at 10 million requests a second left 10 million of them, 477 MB), the
//!   timer heap is rebuilt without them whenever they are more than half of
//!   it: memory stays within twice the live timers, and each rebuild costs
//!   O(1) per cancellation it clears;
//! - timers scheduled with [`Engine::schedule_timer_in`] after a fixed delay
//!   (a client's timeout, a deadline, a zero-delay retry) go into a FIFO
//!   lane for that delay: timers of one delay fall due in the order they
//!   were set, so the lane is sorted by construction and scheduling,
//!   cancelling and popping are O(1), with no sifting and sequential memory
//!   access however many are pending. The first [`MAX_LANES`] distinct
//!   delays get a lane; timers of any other delay go into the heap. Order
//!   is unchanged: every event, whatever holds it, pops by (time, sequence).

mod heap;

use heap::{Keyed, MinHeap};

use crate::time::{SimDuration, SimTime};

/// Handle of a cancellable timer. The slot is stored plus one in a
/// `NonZeroU32`, so `Option<TimerId>` costs no more than a `TimerId`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerId {
    slot_plus_one: std::num::NonZeroU32,
    generation: u32,
}

impl TimerId {
    fn new(slot: u32, generation: u32) -> Self {
        TimerId { slot_plus_one: std::num::NonZeroU32::new(slot + 1).expect("slot + 1 > 0"), generation }
    }

    fn slot(self) -> u32 {
        self.slot_plus_one.get() - 1
    }
}

/// A timer's place in the event order, reserved by
/// [`Engine::reserve_timer_in`] and not yet set.
#[derive(Clone, Copy, Debug)]
pub struct TimerKey {
    key: u128,
    delay: SimDuration,
}

/// One scheduled event. `key` packs (time << 64 | order) so a single
/// integer comparison orders the queue; `order` is the sequence number,
/// with [`ORDINARY`] set except for events scheduled first at their instant.
#[derive(Clone, Copy)]
struct Entry<E> {
    key: u128,
    event: E,
}

/// A cancellable event: the entry plus the timer slot and generation it
/// was scheduled under. Timers live in their own heap so that ordinary
/// entries stay small (key + event) and fast to move.
#[derive(Clone, Copy)]
struct TimerEntry<E> {
    key: u128,
    slot: u32,
    generation: u32,
    event: E,
}

impl<E: Copy> Keyed for Entry<E> {
    #[inline(always)]
    fn key(&self) -> u128 {
        self.key
    }
}

impl<E: Copy> Keyed for TimerEntry<E> {
    #[inline(always)]
    fn key(&self) -> u128 {
        self.key
    }
}

/// The timers of one fixed delay, in the order they were set (and so in
/// key order: now never decreases and sequence numbers grow).
struct TimerLane<E> {
    delay: SimDuration,
    entries: std::collections::VecDeque<TimerEntry<E>>,
}

/// Distinct delays given a FIFO lane; a scenario's fixed timeouts are few,
/// and every lane is looked at on each pop.
pub const MAX_LANES: usize = 8;

/// Which heap holds the event most recently handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Head {
    Queue,
    Timers,
}

/// Set in the key of every ordinary event, so that events scheduled first
/// at an instant (without it) sort before them. Sequence numbers stay below
/// 2^63.
const ORDINARY: u128 = 1 << 63;

#[inline]
fn time_of(key: u128) -> SimTime {
    SimTime((key >> 64) as u64)
}

/// Clock + future-event list.
///
/// Performance note: the event handed out by [`Engine::next_until`] stays at
/// the top of its heap until the caller schedules the next event, which then
/// overwrites it in place (one sift-down instead of a pop and a push; most
/// handlers schedule exactly one follow-up). The order of events is the same
/// as with plain pop and push because keys are unique.
pub struct Engine<E> {
    now: SimTime,
    queue: MinHeap<Entry<E>>,
    timers: MinHeap<TimerEntry<E>>,
    /// FIFO lanes of timers set with a fixed delay, and their total length.
    lanes: Vec<TimerLane<E>>,
    lane_entries: usize,
    /// The delivered event still physically at the top of a heap, if any.
    delivered_head: Option<Head>,
    next_seq: u64,
    /// Current generation of each timer slot; an entry whose generation
    /// differs was cancelled (or already fired) and is skipped.
    timer_generations: Vec<u32>,
    free_timer_slots: Vec<u32>,
    /// Cancelled entries still in the timer heap or a lane.
    cancelled_timers: usize,
    delivered: u64,
}

/// Below this many entries the timer heap is never rebuilt: dead entries
/// cost little there, and a rebuild would run too often to pay off.
const COMPACT_TIMERS_FROM: usize = 4096;

impl<E: Copy> Default for Engine<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Copy> Engine<E> {
    pub fn new() -> Self {
        Engine {
            now: SimTime::ZERO,
            queue: MinHeap::with_capacity(1024),
            timers: MinHeap::with_capacity(0),
            lanes: Vec::new(),
            lane_entries: 0,
            delivered_head: None,
            next_seq: 0,
            timer_generations: Vec::new(),
            free_timer_slots: Vec::new(),
            cancelled_timers: 0,
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

    /// Entries waiting, including cancelled timers not yet dropped.
    pub fn pending(&self) -> usize {
        self.queue.len() + self.timers.len() + self.lane_entries - self.delivered_head.is_some() as usize
    }

    /// Removes the already-delivered head, if it is still in a heap.
    #[inline]
    fn drop_delivered_head(&mut self) {
        match self.delivered_head.take() {
            Some(Head::Queue) => self.queue.remove_top(),
            Some(Head::Timers) => self.timers.remove_top(),
            None => {}
        }
    }

    #[inline]
    fn key_for(&mut self, at: SimTime) -> u128 {
        self.first_key_for(at) | ORDINARY
    }

    /// The key of an event that pops before the ordinary ones at `at`.
    #[inline]
    fn first_key_for(&mut self, at: SimTime) -> u128 {
        debug_assert!(at >= self.now, "event scheduled in the past");
        let at = at.max(self.now);
        let key = ((at.0 as u128) << 64) | self.next_seq as u128;
        self.next_seq += 1;
        key
    }

    /// Schedules `event` at absolute time `at` (not before now).
    // Always inlined: it is on every request's path, and with many call
    // sites the compiler stopped inlining it (+4% instructions per request).
    #[inline(always)]
    pub fn schedule_at(&mut self, at: SimTime, event: E) {
        let key = self.key_for(at);
        self.push_entry(Entry { key, event });
    }

    /// Schedules `event` at `at`, before every ordinary event at that
    /// instant (those already scheduled included). An event due now still
    /// pops after the events already handed out, never in the past.
    pub fn schedule_first_at(&mut self, at: SimTime, event: E) {
        let key = self.first_key_for(at);
        self.push_entry(Entry { key, event });
    }

    #[inline(always)]
    fn push_entry(&mut self, entry: Entry<E>) {
        if self.delivered_head == Some(Head::Queue) {
            self.delivered_head = None;
            // Overwrite the delivered head and restore the heap order.
            self.queue.replace_top(entry);
        } else {
            self.queue.push(entry);
        }
    }

    /// Schedules `event` after `delay` from now.
    #[inline]
    pub fn schedule_in(&mut self, delay: SimDuration, event: E) {
        let at = self.now + delay;
        self.schedule_at(at, event);
    }

    /// A free timer slot and its current generation.
    #[inline]
    fn timer_slot(&mut self) -> (u32, u32) {
        let slot = match self.free_timer_slots.pop() {
            Some(slot) => slot,
            None => {
                self.timer_generations.push(0);
                (self.timer_generations.len() - 1) as u32
            }
        };
        (slot, self.timer_generations[slot as usize])
    }

    /// Schedules a cancellable `event` at `at`; keep the handle to cancel it.
    #[inline]
    pub fn schedule_timer(&mut self, at: SimTime, event: E) -> TimerId {
        let (slot, generation) = self.timer_slot();
        let key = self.key_for(at);
        self.push_timer(TimerEntry { key, slot, generation, event });
        TimerId::new(slot, generation)
    }

    /// Schedules a cancellable `event` `delay` from now, in the FIFO lane of
    /// that delay (see the module notes): the cheap path for timers whose
    /// delay repeats, such as timeouts. Pops exactly when and in the order
    /// [`Engine::schedule_timer`] at now + `delay` would.
    // Always inlined: once per attempt with a timeout, and the compiler kept
    // it out of line (about 40 instructions a request with the call).
    #[inline(always)]
    pub fn schedule_timer_in(&mut self, delay: SimDuration, event: E) -> TimerId {
        let (slot, generation) = self.timer_slot();
        let key = self.key_for(self.now + delay);
        let entry = TimerEntry { key, slot, generation, event };
        match self.lanes.iter().position(|l| l.delay == delay) {
            Some(i) => {
                self.lanes[i].entries.push_back(entry);
                self.lane_entries += 1;
            }
            None => self.schedule_without_lane(delay, entry),
        }
        TimerId::new(slot, generation)
    }

    /// Takes a timer's place in the order `delay` from now without setting
    /// it: [`Engine::schedule_reserved`] sets it later at that place, or it
    /// is never set and nothing is left behind. For a timer that is often
    /// not needed (an attempt's timeout when the node refuses it at once),
    /// where setting and cancelling it would leave a cancelled entry.
    #[inline(always)]
    pub fn reserve_timer_in(&mut self, delay: SimDuration) -> TimerKey {
        TimerKey { key: self.key_for(self.now + delay), delay }
    }

    /// Sets a timer at the place `reserved` took (the clock may not have
    /// moved since). It pops exactly where [`Engine::schedule_timer_in`]
    /// called at reservation would have put it.
    #[inline(always)]
    pub fn schedule_reserved(&mut self, reserved: TimerKey, event: E) -> TimerId {
        debug_assert_eq!(time_of(reserved.key), self.now + reserved.delay, "reserved at another instant");
        let (slot, generation) = self.timer_slot();
        let entry = TimerEntry { key: reserved.key, slot, generation, event };
        match self.lanes.iter().position(|l| l.delay == reserved.delay) {
            // A lane stays in key order: behind a later timer of the same
            // delay (set since the reservation) the entry goes to the heap.
            Some(i) if self.lanes[i].entries.back().is_none_or(|last| last.key < reserved.key) => {
                self.lanes[i].entries.push_back(entry);
                self.lane_entries += 1;
            }
            Some(_) => self.push_timer(entry),
            None => self.schedule_without_lane(reserved.delay, entry),
        }
        TimerId::new(slot, generation)
    }

    /// A delay with no lane yet: a new lane while there is room, else the
    /// timer heap.
    #[cold]
    fn schedule_without_lane(&mut self, delay: SimDuration, entry: TimerEntry<E>) {
        if self.lanes.len() < MAX_LANES {
            self.lanes.push(TimerLane { delay, entries: std::collections::VecDeque::from([entry]) });
            self.lane_entries += 1;
        } else {
            self.push_timer(entry);
        }
    }

    #[inline]
    fn push_timer(&mut self, entry: TimerEntry<E>) {
        if self.delivered_head == Some(Head::Timers) {
            self.delivered_head = None;
            self.timers.replace_top(entry);
        } else {
            self.timers.push(entry);
        }
    }

    /// Cancels a timer. Returns false if it already fired or was cancelled.
    #[inline]
    pub fn cancel(&mut self, timer: TimerId) -> bool {
        let slot = timer.slot();
        let current = &mut self.timer_generations[slot as usize];
        if *current != timer.generation {
            return false;
        }
        *current = current.wrapping_add(1);
        self.free_timer_slots.push(slot);
        self.cancelled_timers += 1;
        let held = self.timers.len() + self.lane_entries;
        if 2 * self.cancelled_timers > held && held >= COMPACT_TIMERS_FROM {
            self.compact_timers();
        }
        true
    }

    /// Rebuilds the timer heap and lanes with their live entries only. The
    /// order events pop in does not change: keys are unique, and a lane
    /// keeps its order.
    #[cold]
    fn compact_timers(&mut self) {
        let generations = &self.timer_generations;
        let live = |e: &TimerEntry<E>| generations[e.slot as usize] == e.generation;
        // The delivered head has fired (its generation moved on), so it goes
        // too and is no longer there to overwrite.
        self.timers.retain(live);
        for lane in &mut self.lanes {
            lane.entries.retain(live);
        }
        self.lane_entries = self.lanes.iter().map(|l| l.entries.len()).sum();
        if self.delivered_head == Some(Head::Timers) {
            self.delivered_head = None;
        }
        self.cancelled_timers = 0;
    }

    /// The lane whose front is the earliest live timer, if it is before
    /// `bound` (the heaps' earliest key), and its key; the cancelled entries
    /// met at the lanes' fronts are dropped on the way. A front at or after
    /// the bound is not looked at: whether it is live matters only once it
    /// is the earliest (most fronts are timeouts seconds ahead).
    #[inline]
    fn earliest_lane(&mut self, queue_key: Option<u128>, timer_key: Option<u128>) -> Option<(usize, u128)> {
        let bound = queue_key.unwrap_or(u128::MAX).min(timer_key.unwrap_or(u128::MAX));
        let mut best: Option<(usize, u128)> = None;
        for (i, lane) in self.lanes.iter_mut().enumerate() {
            while let Some(front) = lane.entries.front() {
                if front.key >= bound {
                    break;
                }
                if self.timer_generations[front.slot as usize] == front.generation {
                    if best.is_none_or(|(_, key)| front.key < key) {
                        best = Some((i, front.key));
                    }
                    break;
                }
                lane.entries.pop_front();
                self.lane_entries -= 1;
                self.cancelled_timers -= 1;
            }
        }
        best
    }

    /// Hands out the next live event if it is due at or before `horizon`,
    /// advancing the clock to its time. Returns `None` (and leaves the event
    /// queued) once the next event lies beyond the horizon.
    #[inline]
    pub fn next_until(&mut self, horizon: SimTime) -> Option<(SimTime, E)> {
        self.drop_delivered_head();
        loop {
            let queue_key = self.queue.peek().map(|e| e.key);
            let timer_key = self.timers.peek().map(|e| e.key);
            // A lane's front first, when it is the earliest of all.
            if !self.lanes.is_empty()
                && let Some((lane, key)) = self.earliest_lane(queue_key, timer_key)
            {
                let at = time_of(key);
                if at > horizon {
                    return None;
                }
                let head = self.lanes[lane].entries.pop_front().expect("a front");
                self.lane_entries -= 1;
                let current = &mut self.timer_generations[head.slot as usize];
                *current = current.wrapping_add(1);
                self.free_timer_slots.push(head.slot);
                self.now = at;
                self.delivered += 1;
                return Some((at, head.event));
            }
            let from_timers = match (queue_key, timer_key) {
                (None, None) => return None,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some(q), Some(t)) => t < q,
            };
            if !from_timers {
                let head = self.queue.peek().expect("peeked");
                let at = time_of(head.key);
                if at > horizon {
                    return None;
                }
                let event = head.event;
                self.delivered_head = Some(Head::Queue);
                self.now = at;
                self.delivered += 1;
                return Some((at, event));
            }
            let head = self.timers.peek().expect("peeked");
            let at = time_of(head.key);
            if at > horizon {
                return None;
            }
            let (slot, generation, event) = (head.slot, head.generation, head.event);
            let current = &mut self.timer_generations[slot as usize];
            if *current != generation {
                self.timers.remove_top(); // cancelled: drop it and look again
                self.cancelled_timers -= 1;
                continue;
            }
            *current = current.wrapping_add(1);
            self.free_timer_slots.push(slot);
            self.delivered_head = Some(Head::Timers);
            self.now = at;
            self.delivered += 1;
            return Some((at, event));
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
        self.drop_delivered_head();
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
    fn first_events_pop_before_ordinary_ones_at_their_instant() {
        let mut e = Engine::new();
        e.schedule_at(SimTime(5), 1);
        e.schedule_timer(SimTime(5), 2);
        e.schedule_at(SimTime(4), 0);
        e.schedule_first_at(SimTime(5), 3);
        e.schedule_first_at(SimTime(5), 4);
        e.schedule_first_at(SimTime(6), 5);
        assert_eq!(drain(&mut e, 10), vec![(4, 0), (5, 3), (5, 4), (5, 1), (5, 2), (6, 5)]);
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
        assert_eq!(a.slot(), b.slot());
        assert_eq!(std::mem::size_of::<Option<TimerId>>(), 8);
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
    fn timers_and_plain_events_share_fifo_ties() {
        let mut e = Engine::new();
        e.schedule_at(SimTime(5), 1);
        e.schedule_timer(SimTime(5), 2);
        e.schedule_at(SimTime(5), 3);
        let t = e.schedule_timer(SimTime(5), 4);
        e.schedule_timer(SimTime(5), 5);
        e.cancel(t);
        assert_eq!(drain(&mut e, 10), vec![(5, 1), (5, 2), (5, 3), (5, 5)]);
        assert_eq!(e.pending(), 0);
    }

    #[test]
    fn pending_counts_what_is_still_queued() {
        let mut e: Engine<u32> = Engine::new();
        e.schedule_at(SimTime(1), 1);
        e.schedule_at(SimTime(2), 2);
        assert_eq!(e.pending(), 2);
        assert_eq!(e.next_until(SimTime(10)), Some((SimTime(1), 1)));
        assert_eq!(e.pending(), 1);
        e.schedule_at(SimTime(3), 3); // overwrites the delivered head in place
        assert_eq!(e.pending(), 2);
        assert_eq!(drain(&mut e, 10), vec![(2, 2), (3, 3)]);
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

    /// A client-timeout workload: every event is a request that arms a long
    /// timer and cancels it at its next step, as answered requests do.
    #[test]
    fn cancelled_timers_do_not_pile_up() {
        let mut e: Engine<u32> = Engine::new();
        let mut armed: Option<TimerId> = None;
        e.schedule_at(SimTime(0), 0);
        let mut requests = 0u32;
        let mut most_pending = 0;
        e.run_until(SimTime(200_000), &mut (), |_, eng, now, ev| {
            if ev == 0 {
                if let Some(t) = armed.take() {
                    eng.cancel(t);
                }
                armed = Some(eng.schedule_timer(now + SimDuration(1_000_000), 1));
                requests += 1;
                eng.schedule_in(SimDuration(1), 0);
            }
            most_pending = most_pending.max(eng.pending());
        });
        assert_eq!(requests, 200_001);
        // Without compaction every one of the 200,000 timers would wait for
        // its (far) deadline; with it, at most twice the threshold.
        assert!(most_pending <= 2 * COMPACT_TIMERS_FROM + 2, "{most_pending} entries pending");
    }

    /// Compaction drops dead entries only: what pops, and in which order,
    /// is what pops without it (checked against a sorted list of the live
    /// timers), also when a handler cancels while a timer is being handled.
    #[test]
    fn compaction_keeps_the_order_of_live_timers() {
        let mut e: Engine<u32> = Engine::new();
        let mut x: u64 = 99;
        let mut rand = move || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            x >> 33
        };
        let mut ids = Vec::new();
        let mut live = Vec::new();
        for i in 0..20_000u32 {
            let at = rand() % 1_000_000;
            ids.push((e.schedule_timer(SimTime(at), i), at, i));
        }
        for (id, at, i) in ids {
            if rand() % 4 == 0 {
                live.push((at, i));
            } else {
                assert!(e.cancel(id));
            }
        }
        live.sort(); // equal times pop in scheduling order, which is i's order
        let mut seen = Vec::new();
        let mut more: Vec<TimerId> = Vec::new();
        e.run_until(SimTime(2_000_000), &mut seen, |seen, eng, at, ev| {
            seen.push((at.0, ev));
            // While the first timers are handled, arm and cancel enough new
            // ones to trigger compactions with a timer as the delivered head.
            if seen.len() <= 3 {
                for k in 0..10_000 {
                    more.push(eng.schedule_timer(SimTime(1_500_000 + k), 1_000_000 + k as u32));
                }
                for id in more.drain(..) {
                    assert!(eng.cancel(id));
                }
            }
        });
        assert_eq!(seen, live.iter().map(|&(at, i)| (at, i)).collect::<Vec<_>>());
    }

    /// How [`workload`] sets its delayed timers.
    #[derive(Clone, Copy, PartialEq)]
    enum Delayed {
        /// `schedule_timer` at now + delay: the heap.
        Heap,
        /// `schedule_timer_in`: the lanes.
        Lanes,
        /// Lanes, with some timers reserved first and set after a later
        /// timer of the same delay (or never set, where the others set and
        /// cancel at once).
        Reserved,
    }

    /// One random workload: plain events, timers at random times, timers
    /// after a delay from a set (more delays than lanes, zero included),
    /// cancellations now and from inside handlers. `mode` says how the
    /// delayed timers are set.
    fn workload(mode: Delayed) -> (Vec<(u64, u32)>, usize) {
        let mut e: Engine<u32> = Engine::new();
        let mut x: u64 = 7;
        let mut rand = move || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            x >> 33
        };
        let delays: Vec<u64> = (0..MAX_LANES as u64 + 4).map(|k| k * k * 1_000).collect();
        for i in 0..2_000u32 {
            e.schedule_at(SimTime(rand() % 50_000), i);
        }
        struct State {
            armed: Vec<TimerId>,
            seen: Vec<(u64, u32)>,
            rand: Box<dyn FnMut() -> u64>,
        }
        let mut st = State { armed: Vec::new(), seen: Vec::new(), rand: Box::new(rand) };
        let mut next = 10_000u32;
        e.run_until(SimTime(10_000_000), &mut st, |st, eng, at, ev| {
            st.seen.push((at.0, ev));
            if ev >= 100_000 {
                return; // a timer firing: schedule nothing, so the run ends
            }
            for _ in 0..3 {
                next += 1;
                let r = (st.rand)();
                let id = match r % 3 {
                    0 => eng.schedule_timer(SimTime(at.0 + (r >> 4) % 40_000), 100_000 + next),
                    _ => {
                        let d = SimDuration(delays[((r >> 4) % delays.len() as u64) as usize]);
                        let set = |eng: &mut Engine<u32>, ev: u32| match mode {
                            Delayed::Heap => eng.schedule_timer(at + d, ev),
                            Delayed::Lanes | Delayed::Reserved => eng.schedule_timer_in(d, ev),
                        };
                        match (r >> 20) % 8 {
                            // A pair: the first set after the second in Reserved.
                            0 => {
                                next += 2;
                                let (a, b) = (100_000 + next - 1, 100_000 + next);
                                if mode == Delayed::Reserved {
                                    let place = eng.reserve_timer_in(d);
                                    st.armed.push(set(eng, b));
                                    eng.schedule_reserved(place, a)
                                } else {
                                    let first = set(eng, a);
                                    st.armed.push(set(eng, b));
                                    first
                                }
                            }
                            // Not needed after all: reserved and never set.
                            1 => {
                                if mode == Delayed::Reserved {
                                    eng.reserve_timer_in(d);
                                } else {
                                    let id = set(eng, 100_000 + next);
                                    assert!(eng.cancel(id));
                                }
                                continue;
                            }
                            _ => set(eng, 100_000 + next),
                        }
                    }
                };
                st.armed.push(id);
            }
            // Cancel about half of what was armed, some long after.
            while st.armed.len() > 6 {
                let k = ((st.rand)() % st.armed.len() as u64) as usize;
                let id = st.armed.swap_remove(k);
                if (st.rand)() % 2 == 0 {
                    eng.cancel(id);
                }
            }
        });
        let lanes_used = e.lanes.len();
        (st.seen, lanes_used)
    }

    #[test]
    fn timer_lanes_pop_exactly_as_the_heap_would() {
        let (with_heap, none) = workload(Delayed::Heap);
        let (with_lanes, lanes) = workload(Delayed::Lanes);
        let (with_reserved, _) = workload(Delayed::Reserved);
        assert_eq!(none, 0);
        assert_eq!(lanes, MAX_LANES, "every lane used, and delays beyond them went to the heap");
        assert!(with_heap.len() > 5_000, "a real workload: {} events", with_heap.len());
        assert!(with_heap.iter().any(|(_, ev)| *ev >= 100_000), "timers fired");
        assert_eq!(with_heap, with_lanes);
        assert_eq!(with_heap, with_reserved, "reserved timers pop where they were reserved");
    }

    #[test]
    fn cancelled_lane_timers_do_not_pile_up() {
        // A million timeouts of one delay, each cancelled at once (an
        // attempt rejected on arrival): the lane stays within twice the live.
        let mut e: Engine<u32> = Engine::new();
        let mut kept = Vec::new();
        for i in 0..1_000_000u32 {
            let id = e.schedule_timer_in(SimDuration(1_000_000_000), i);
            if i % 1000 == 0 {
                kept.push(i);
            } else {
                assert!(e.cancel(id));
            }
            assert!(e.pending() <= 2 * (kept.len() + 1) + COMPACT_TIMERS_FROM, "{} pending", e.pending());
        }
        let seen: Vec<u32> = drain(&mut e, 2_000_000_000).into_iter().map(|(_, ev)| ev).collect();
        assert_eq!(seen, kept);
        assert_eq!(e.pending(), 0);
    }
}
