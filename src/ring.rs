//! A first-in first-out ring buffer of `Copy` values (capacity a power of
//! two) whose per-event operations inline: a node's waiting attempts.
//! std's `VecDeque` did the same job, but its `pop_front` stayed an
//! out-of-line call on every request and it wraps with a branch where this
//! masks. (Tried for the engine's timer lanes too, with a cached earliest
//! front: that cost about 65 instructions a customer on M/M/4 through
//! changed inlining of the event loop, so the lanes keep `VecDeque`.)

#[derive(Debug, Clone)]
pub struct Ring<T> {
    /// The slots; their count is the capacity (0, or a power of two).
    slots: Vec<T>,
    head: usize,
    len: usize,
}

impl<T> Default for Ring<T> {
    fn default() -> Self {
        Ring { slots: Vec::new(), head: 0, len: 0 }
    }
}

impl<T: Copy> Ring<T> {
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline(always)]
    fn slot(&self, k: usize) -> usize {
        (self.head + k) & (self.slots.len() - 1)
    }

    #[inline(always)]
    pub fn push_back(&mut self, value: T) {
        if self.len == self.slots.len() {
            self.grow(value);
        }
        let i = self.slot(self.len);
        self.slots[i] = value;
        self.len += 1;
    }

    /// Twice the room (8 at first), the values moved to the front in order;
    /// `filler` fills the new slots (any value: they are never read).
    #[cold]
    fn grow(&mut self, filler: T) {
        let capacity = (2 * self.slots.len()).max(8);
        let mut slots: Vec<T> = self.iter().collect();
        slots.resize(capacity, filler);
        self.slots = slots;
        self.head = 0;
    }

    #[inline(always)]
    pub fn front(&self) -> Option<&T> {
        if self.len == 0 { None } else { Some(&self.slots[self.head]) }
    }

    #[inline(always)]
    pub fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let value = self.slots[self.head];
        self.head = self.slot(1);
        self.len -= 1;
        Some(value)
    }

    #[inline]
    pub fn pop_back(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        Some(self.slots[self.slot(self.len)])
    }

    /// The values, front first.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        (0..self.len).map(|k| self.slots[self.slot(k)])
    }

    /// Empties the ring, handing back its values front first.
    pub fn take_all(&mut self) -> Vec<T> {
        let values = self.iter().collect();
        (self.head, self.len) = (0, 0);
        values
    }

    /// Removes the `k`-th value from the front; the ones behind it move up.
    pub fn remove(&mut self, k: usize) {
        for j in k..self.len - 1 {
            let (to, from) = (self.slot(j), self.slot(j + 1));
            self.slots[to] = self.slots[from];
        }
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ring does what a VecDeque does, through growth and wrap-around.
    #[test]
    fn ring_matches_a_vecdeque() {
        let (mut ring, mut model) = (Ring::default(), std::collections::VecDeque::new());
        let mut state = 5u64;
        for round in 0..50_000u32 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            match (state >> 33) % 11 {
                0..=4 => {
                    ring.push_back(round);
                    model.push_back(round);
                }
                5 | 6 => assert_eq!(ring.pop_front(), model.pop_front(), "round {round}"),
                7 => assert_eq!(ring.pop_back(), model.pop_back(), "round {round}"),
                8 if !model.is_empty() => {
                    let k = (state >> 40) as usize % model.len();
                    ring.remove(k);
                    model.remove(k);
                }
                _ if round % 5000 == 9 => assert_eq!(ring.take_all(), model.drain(..).collect::<Vec<_>>()),
                _ => {}
            }
            assert_eq!(ring.len(), model.len());
            assert_eq!(ring.is_empty(), model.is_empty());
            assert_eq!(ring.front(), model.front(), "round {round}");
            assert!(ring.iter().eq(model.iter().copied()), "round {round}");
        }
    }
}
