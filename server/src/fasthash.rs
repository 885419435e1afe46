//! The hash maps of the hot path.
//!
//! std's SipHash showed as the server's single biggest symbol in the burst profile (≈ 7 %): every
//! message is looked up by (sender, client_id) several times, and every delivery reads and moves
//! a room cursor. aHash is several times faster and still keyed with a random seed per map, so
//! client-chosen keys (client ids, room ids) cannot be crafted to collide.

use std::collections::HashMap;

pub type FastMap<K, V> = HashMap<K, V, ahash::RandomState>;

/// A set with the same hasher as [`FastMap`].
pub type FastSet<T> = std::collections::HashSet<T, ahash::RandomState>;
