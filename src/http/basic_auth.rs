//! Basic auth against the web config's bcrypt hashes, and the handler that
//! puts every endpoint behind the web config (login, then headers).
//!
//! bcrypt is slow on purpose (about 70 ms at cost 10), and Prometheus sends
//! the same credentials every scrape, so verified answers are cached as the
//! exporter-toolkit does: keyed by a SHA-256 of user, hash and password, so
//! that no password is kept in memory. bcrypt runs on a blocking thread,
//! one at a time: the daemon's runtime has one thread, which must keep
//! answering `/healthz` while a wrong password is checked.

use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Answers cached at most: past this an arbitrary one is dropped, so a
/// stream of made-up passwords cannot grow the cache without bound.
const CACHE_SIZE: usize = 100;

/// A valid bcrypt hash (cost 10) of a password nobody has, checked for
/// unknown users, so that an unknown user costs the same time as a known
/// one with a wrong password and user names cannot be probed by timing.
const NOBODY: &str = "$2b$10$hinYah5yGcH5ZcWuAYV7EOvqcbF8FBGY39nwaCizz3FAjDUs6Eb42";

/// The users a web config lets in, with their bcrypt hashes.
#[derive(Clone)]
pub struct Users(Arc<BTreeMap<String, String>>);

impl Users {
    /// From user name to bcrypt hash, checked by the caller.
    pub fn new(users: BTreeMap<String, String>) -> Users {
        Users(Arc::new(users))
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Checks credentials, remembering the answers.
pub struct Authenticator {
    cache: Mutex<HashMap<[u8; 32], bool>>,
    /// One bcrypt at a time, as the toolkit does.
    bcrypt: tokio::sync::Semaphore,
}

impl Default for Authenticator {
    fn default() -> Self {
        Authenticator {
            cache: Mutex::new(HashMap::new()),
            bcrypt: tokio::sync::Semaphore::new(1),
        }
    }
}

/// `user:password` from an `Authorization: Basic ...` header.
fn credentials(header: Option<&str>) -> Option<(String, String)> {
    let value = header?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn cache_key(user: &str, hash: &str, password: &str) -> [u8; 32] {
    let mut digest = Sha256::new();
    // Lengths first: no two different triples hash the same bytes.
    for part in [user, hash, password] {
        digest.update((part.len() as u64).to_le_bytes());
        digest.update(part.as_bytes());
    }
    digest.finalize().into()
}

impl Authenticator {
    /// Whether the `Authorization` header names one of `users` with the
    /// right password.
    pub async fn verify(&self, users: &Users, header: Option<&str>) -> bool {
        let Some((user, password)) = credentials(header) else {
            return false;
        };
        let hash = users.0.get(&user).cloned();
        let key = cache_key(&user, hash.as_deref().unwrap_or(NOBODY), &password);
        if let Some(ok) = self.cached(&key) {
            return ok;
        }
        let Ok(_permit) = self.bcrypt.acquire().await else {
            return false;
        };
        // Another request may have checked the same while this one waited.
        if let Some(ok) = self.cached(&key) {
            return ok;
        }
        let known = hash.is_some();
        let checked = hash.unwrap_or_else(|| NOBODY.to_string());
        let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &checked).unwrap_or(false))
            .await
            .unwrap_or(false);
        let ok = known && matches;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_SIZE
            && let Some(old) = cache.keys().next().copied()
        {
            cache.remove(&old);
        }
        cache.insert(key, ok);
        ok
    }

    fn cached(&self, key: &[u8; 32]) -> Option<bool> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    fn users() -> Users {
        // Cost 4, the lowest: the test is about the answers, not the cost.
        let hash = bcrypt::hash_with_salt("right", 4, [7u8; 16])
            .expect("hash")
            .format_for_version(bcrypt::Version::TwoB);
        Users::new(BTreeMap::from([("alice".to_string(), hash)]))
    }

    #[tokio::test]
    async fn the_right_password_passes_and_others_do_not() {
        let auth = Authenticator::default();
        let users = users();
        assert!(auth.verify(&users, Some(&basic("alice", "right"))).await);
        assert!(!auth.verify(&users, Some(&basic("alice", "wrong"))).await);
        assert!(!auth.verify(&users, Some(&basic("bob", "right"))).await);
        assert!(!auth.verify(&users, Some("Bearer abc")).await);
        assert!(!auth.verify(&users, Some("Basic !!!")).await);
        assert!(!auth.verify(&users, None).await);
        // Answered again from the cache, the same way.
        assert!(auth.verify(&users, Some(&basic("alice", "right"))).await);
        assert!(!auth.verify(&users, Some(&basic("alice", "wrong"))).await);
    }

    #[tokio::test]
    async fn the_cache_stays_bounded_and_keeps_no_password() {
        let auth = Authenticator::default();
        let users = users();
        for n in 0..(CACHE_SIZE + 20) {
            assert!(!auth.verify(&users, Some(&basic("alice", &format!("guess{n}")))).await);
        }
        let cache = auth.cache.lock().unwrap();
        assert_eq!(cache.len(), CACHE_SIZE);
        assert!(cache.keys().all(|k| !k.windows(5).any(|w| w == b"guess")));
    }

    #[test]
    fn the_password_may_hold_a_colon() {
        assert_eq!(
            credentials(Some(&basic("alice", "a:b"))),
            Some(("alice".to_string(), "a:b".to_string()))
        );
    }
}
