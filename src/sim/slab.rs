//! A slab of reusable records (requests, attempts) addressed by `u32` ids.
//! Free slots form a list threaded through the slots themselves, so taking
//! and returning a slot is a couple of loads and stores, and the slab only
//! grows to the most records ever alive at once.

use std::ops::{Index, IndexMut};

/// End of the free list.
pub const NO_SLOT: u32 = u32::MAX;

/// A record that can sit in a [`Slab`].
pub trait Slot {
    fn is_live(&self) -> bool;
    /// Marks the slot free, remembering the next free slot.
    fn release(&mut self, next_free: u32);
    fn next_free(&self) -> u32;
}

pub struct Slab<T> {
    items: Vec<T>,
    free: u32,
}

impl<T: Slot> Slab<T> {
    pub fn new() -> Self {
        Slab { items: Vec::with_capacity(1024), free: NO_SLOT }
    }

    /// Stores `item` (which must be live) and returns its id.
    #[inline(always)]
    pub fn insert(&mut self, item: T) -> u32 {
        let id = self.free;
        if id == NO_SLOT {
            self.items.push(item);
            return (self.items.len() - 1) as u32;
        }
        let slot = &mut self.items[id as usize];
        self.free = slot.next_free();
        *slot = item;
        id
    }

    #[inline(always)]
    pub fn remove(&mut self, id: u32) {
        let slot = &mut self.items[id as usize];
        debug_assert!(slot.is_live(), "slot freed twice");
        slot.release(self.free);
        self.free = id;
    }

    /// All slots, live or free (the caller filters on liveness).
    pub fn slots(&self) -> &[T] {
        &self.items
    }
}

impl<T> Index<u32> for Slab<T> {
    type Output = T;
    #[inline(always)]
    fn index(&self, id: u32) -> &T {
        &self.items[id as usize]
    }
}

impl<T> IndexMut<u32> for Slab<T> {
    #[inline(always)]
    fn index_mut(&mut self, id: u32) -> &mut T {
        &mut self.items[id as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    struct Item {
        value: u32,
        live: bool,
        next: u32,
    }

    impl Slot for Item {
        fn is_live(&self) -> bool {
            self.live
        }
        fn release(&mut self, next_free: u32) {
            self.live = false;
            self.next = next_free;
        }
        fn next_free(&self) -> u32 {
            self.next
        }
    }

    fn item(value: u32) -> Item {
        Item { value, live: true, next: NO_SLOT }
    }

    #[test]
    fn reuses_freed_slots_last_in_first_out() {
        let mut s = Slab::new();
        let a = s.insert(item(1));
        let b = s.insert(item(2));
        let c = s.insert(item(3));
        s.remove(a);
        s.remove(c);
        assert_eq!(s.insert(item(4)), c);
        assert_eq!(s.insert(item(5)), a);
        assert_eq!(s.insert(item(6)), 3, "no free slot left: grows");
        assert_eq!(s[b].value, 2);
        assert_eq!(s.slots().iter().filter(|i| i.live).count(), 4);
    }
}
