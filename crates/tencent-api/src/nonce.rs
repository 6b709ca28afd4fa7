//! Random values for the `Nonce` parameter and retry jitter. Neither needs
//! cryptographic strength, only values that do not repeat, so the standard
//! library's randomly keyed SipHash is enough and saves a crate.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn random_u64() -> u64 {
    // A fresh random key per call, and a counter so two calls never hash alike.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// A random positive integer that fits a signed 32-bit field, as the v2 API
/// wants for `Nonce`.
pub fn nonce() -> u32 {
    (random_u64() % (i32::MAX as u64)) as u32 + 1
}

/// A random number in `[0, 1)`.
pub fn jitter() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn nonces_are_positive_and_rarely_repeat() {
        // 10 000 draws from 2^31 values collide about 2% of the time (the
        // birthday bound); three or more collisions would mean a bad source.
        let seen: HashSet<u32> = (0..10_000).map(|_| nonce()).collect();
        assert!(seen.len() >= 9_998, "{} distinct of 10000", seen.len());
        assert!(seen.iter().all(|n| *n >= 1 && *n <= i32::MAX as u32));
        assert!((0..1000).map(|_| jitter()).all(|x| (0.0..1.0).contains(&x)));
    }
}
