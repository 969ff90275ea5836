//! Look-aside caches in front of services: keys drawn by Zipf popularity,
//! entries valid for a TTL from their fetch, least-recently-used eviction
//! at capacity, flushes, and optional request coalescing (concurrent misses
//! for one key wait for a single fetch). The world asks the cache on every
//! call to the service and calls the service only on a miss.

use std::collections::HashMap;

use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};

use super::slab::NO_SLOT;
use crate::metrics::CacheSummary;
use crate::model::CacheSpec;
use crate::rng::{SimRng, StreamKind, stream_seed};
use crate::time::{SimDuration, SimTime};

/// Counts of one cache, whole run.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CacheCounts {
    lookups: u64,
    hits: u64,
    misses: u64,
    coalesced: u64,
    flushes: u64,
}

/// What a lookup found.
pub(super) enum Lookup {
    Hit,
    /// Not cached: fetch it.
    Miss,
    /// Not cached, but a fetch of the key is under way by this call.
    Joined {
        leader: u32,
    },
}

/// Least-recently-used order over keys, as a doubly linked list in arrays.
struct Lru {
    prev: Vec<u32>,
    next: Vec<u32>,
    /// Most and least recently used.
    head: u32,
    tail: u32,
}

impl Lru {
    fn new(keys: usize) -> Self {
        Lru { prev: vec![NO_SLOT; keys], next: vec![NO_SLOT; keys], head: NO_SLOT, tail: NO_SLOT }
    }

    fn unlink(&mut self, key: u32) {
        let (p, n) = (self.prev[key as usize], self.next[key as usize]);
        if p == NO_SLOT {
            self.head = n
        } else {
            self.next[p as usize] = n
        }
        if n == NO_SLOT { self.tail = p } else { self.prev[n as usize] = p }
    }

    fn push_front(&mut self, key: u32) {
        self.prev[key as usize] = NO_SLOT;
        self.next[key as usize] = self.head;
        if self.head == NO_SLOT {
            self.tail = key
        } else {
            self.prev[self.head as usize] = key
        }
        self.head = key;
    }

    fn clear(&mut self) {
        self.prev.fill(NO_SLOT);
        self.next.fill(NO_SLOT);
        self.head = NO_SLOT;
        self.tail = NO_SLOT;
    }
}

pub(super) struct CacheState {
    spec: CacheSpec,
    /// Per key: when its entry expires [ns]; 0 when it holds none. An
    /// expired entry keeps its place until refreshed or evicted (lazy
    /// expiry, as memcached does).
    expires: Vec<u64>,
    held: u32,
    /// Only when the capacity is below the key space.
    lru: Option<Lru>,
    zipf: Option<Zipf<f64>>,
    rng: SimRng,
    /// Salt of this cache's keys in this run (see `lookup`).
    key_salt: u64,
    /// Coalescing: the call fetching each key.
    fetching: HashMap<u32, u32>,
    counts: CacheCounts,
    warm: CacheCounts,
}

impl CacheState {
    /// A cache holding its `filled` most popular keys (see
    /// `initial::cache_keys_filled`).
    pub(super) fn new(spec: &CacheSpec, rng: SimRng, filled: u32) -> Self {
        let keys = spec.keys as usize;
        let mut cache = CacheState {
            spec: spec.clone(),
            expires: vec![0; keys],
            held: 0,
            lru: (spec.capacity < spec.keys).then(|| Lru::new(keys)),
            zipf: (spec.zipf > 0.0).then(|| Zipf::new(spec.keys as f64, spec.zipf).expect("validated Zipf parameters")),
            rng,
            key_salt: 0,
            fetching: HashMap::new(),
            counts: CacheCounts::default(),
            warm: CacheCounts::default(),
        };
        if filled > 0 {
            // The most popular keys, expiring uniformly over one TTL as in
            // a cache that has run for a while.
            let ttl = spec.ttl.0 as f64;
            for key in (0..filled.min(spec.capacity)).rev() {
                let left = (cache.rng.random::<f64>() * ttl) as u64;
                cache.insert(key, SimTime(left.max(1)));
            }
        }
        cache.key_salt = cache.rng.random();
        cache
    }

    pub(super) fn lookup_time(&self) -> SimDuration {
        self.spec.lookup
    }

    /// Looks up the key that the client request with `key_seed` asks for
    /// over `edge`, drawn by popularity; on a miss `key` names it for the
    /// fill. The key is a function of (run, seed, edge), so every retry of
    /// the request, at any level, asks for the same key: a retried miss
    /// misses again until the key is fetched.
    pub(super) fn lookup(&mut self, now: SimTime, call: u32, key_seed: u32, edge: u32) -> (Lookup, u32) {
        let mut draw =
            SimRng::seed_from_u64(stream_seed(self.key_salt, key_seed as u64, StreamKind::Cache, edge as u64));
        let key = match &self.zipf {
            Some(z) => (z.sample(&mut draw) as u32).clamp(1, self.spec.keys) - 1,
            None => draw.random_range(0..self.spec.keys),
        };
        self.counts.lookups += 1;
        if self.expires[key as usize] > now.0 {
            self.counts.hits += 1;
            if let Some(lru) = self.lru.as_mut() {
                lru.unlink(key);
                lru.push_front(key);
            }
            return (Lookup::Hit, key);
        }
        self.counts.misses += 1;
        if self.spec.coalescing {
            if let Some(&leader) = self.fetching.get(&key) {
                self.counts.coalesced += 1;
                return (Lookup::Joined { leader }, key);
            }
            self.fetching.insert(key, call);
        }
        (Lookup::Miss, key)
    }

    /// The fetch of `key` by `call` is over: cache the answer if it
    /// succeeded, and stop coalescing on it.
    pub(super) fn fetched(&mut self, now: SimTime, key: u32, call: u32, ok: bool) {
        if self.spec.coalescing && self.fetching.get(&key) == Some(&call) {
            self.fetching.remove(&key);
        }
        if ok {
            self.insert(key, now + self.spec.ttl);
        }
    }

    fn insert(&mut self, key: u32, expires: SimTime) {
        let fresh = self.expires[key as usize] == 0;
        self.expires[key as usize] = expires.0.max(1);
        if fresh {
            self.held += 1;
        }
        if let Some(lru) = self.lru.as_mut() {
            if !fresh {
                lru.unlink(key);
            }
            lru.push_front(key);
            if self.held > self.spec.capacity {
                let victim = lru.tail;
                lru.unlink(victim);
                self.expires[victim as usize] = 0;
                self.held -= 1;
            }
        }
    }

    /// Every entry is dropped (fetches under way still fill theirs).
    pub(super) fn flush(&mut self) -> u32 {
        let dropped = self.held;
        self.expires.fill(0);
        self.held = 0;
        if let Some(lru) = self.lru.as_mut() {
            lru.clear();
        }
        self.counts.flushes += 1;
        dropped
    }

    pub(super) fn end_warmup(&mut self) {
        self.warm = self.counts;
    }

    /// (lookups, fetches) so far, whole run: fetches are the misses that
    /// call the service (a coalesced miss waits on another's fetch).
    pub(super) fn lookups_and_fetches(&self) -> (u64, u64) {
        (self.counts.lookups, self.counts.misses - self.counts.coalesced)
    }

    /// (hits, misses) so far, whole run (coalesced misses included).
    pub(super) fn hits_and_misses(&self) -> (u64, u64) {
        (self.counts.hits, self.counts.misses)
    }

    pub(super) fn summary(&self, service: &str) -> CacheSummary {
        let (n, w) = (self.counts, self.warm);
        let lookups = n.lookups - w.lookups;
        let hits = n.hits - w.hits;
        CacheSummary {
            service: service.to_string(),
            lookups,
            hits,
            misses: n.misses - w.misses,
            coalesced: n.coalesced - w.coalesced,
            hit_ratio: if lookups == 0 { 0.0 } else { hits as f64 / lookups as f64 },
            flushes: n.flushes - w.flushes,
            entries: self.held,
        }
    }
}
