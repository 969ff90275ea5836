//! A sliding time window of two counters (e.g. requests and retries, or
//! requests and accepts), kept in ten slots so that old counts fall out as
//! time moves on without storing individual events.

use crate::time::{SimDuration, SimTime};

const SLOTS: usize = 10;

#[derive(Debug, Clone)]
pub struct TimeWindow {
    slot_ns: u64,
    /// (slot index, counts) per ring position; index u64::MAX = empty.
    slots: [(u64, [u64; 2]); SLOTS],
}

impl TimeWindow {
    pub fn new(window: SimDuration) -> Self {
        TimeWindow { slot_ns: (window.0 / SLOTS as u64).max(1), slots: [(u64::MAX, [0; 2]); SLOTS] }
    }

    /// Adds to counter `which` (0 or 1) at time `now`.
    #[inline]
    pub fn add(&mut self, now: SimTime, which: usize, n: u64) {
        let index = now.0 / self.slot_ns;
        let slot = &mut self.slots[(index % SLOTS as u64) as usize];
        if slot.0 != index {
            *slot = (index, [0; 2]);
        }
        slot.1[which] += n;
    }

    /// Both counters summed over the window ending at `now` (the current
    /// slot and the nine before it).
    pub fn totals(&self, now: SimTime) -> [u64; 2] {
        let index = now.0 / self.slot_ns;
        let oldest = index.saturating_sub(SLOTS as u64 - 1);
        let mut out = [0; 2];
        for (i, counts) in &self.slots {
            if *i != u64::MAX && *i >= oldest && *i <= index {
                out[0] += counts[0];
                out[1] += counts[1];
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_slide_out_of_the_window() {
        let mut w = TimeWindow::new(SimDuration::from_secs(10));
        let t = |s: u64| SimTime(s * 1_000_000_000);
        w.add(t(0), 0, 5);
        w.add(t(3), 1, 2);
        assert_eq!(w.totals(t(9)), [5, 2]);
        assert_eq!(w.totals(t(10)), [0, 2], "the slot of t = 0 s has left the window");
        assert_eq!(w.totals(t(13)), [0, 0]);
        w.add(t(20), 0, 1); // reuses the ring position of t = 0 s
        assert_eq!(w.totals(t(20)), [1, 0]);
    }
}
