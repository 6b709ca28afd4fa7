//! The order ledger on disk, `state_dir/orders.json`, guarded by an
//! exclusive lock on `orders.lock` so the daemon and `cdnquota order` never
//! write it at once.
//!
//! Unlike the alert state, an unreadable ledger is never moved aside and
//! replaced: forgetting an interrupted order could buy a second one. It
//! stays an error, and no order is placed until a person repairs it.

use crate::store::{JsonFile, Layout, LoadError};
use cdnquota_core::ledger::Ledger;
use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// Why the ledger could not be had. Neither says anything about an order:
/// it is the ledger that is out of reach, and the message says why.
#[derive(Debug, Clone, PartialEq)]
pub enum LedgerError {
    /// The lock or the file could not be opened or read: out of file
    /// descriptors, a read-only or missing state_dir, permissions.
    Unavailable(String),
    /// The file is there but is not a ledger: a person must repair it.
    Unreadable(String),
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerError::Unavailable(m) | LedgerError::Unreadable(m) => f.write_str(m),
        }
    }
}

/// The ledger file of one state directory.
#[derive(Clone)]
pub struct LedgerFile {
    path: PathBuf,
    lock_path: PathBuf,
}

/// The ledger, read under the lock; the lock is released when dropped.
pub struct LedgerGuard {
    _lock: File,
    file: JsonFile<Ledger>,
    /// The orders.
    pub ledger: Ledger,
}

impl LedgerFile {
    /// The ledger in `state_dir`.
    pub fn new(state_dir: &Path) -> LedgerFile {
        LedgerFile {
            path: state_dir.join("orders.json"),
            lock_path: state_dir.join("orders.lock"),
        }
    }

    /// The ledger's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn unavailable(&self, what: &str, path: &Path, e: std::io::Error) -> LedgerError {
        LedgerError::Unavailable(format!(
            "the order ledger is out of reach: cannot {what} {}: {e}; no order can be placed until this is fixed",
            path.display()
        ))
    }

    fn open_lock(&self) -> Result<File, LedgerError> {
        if let Some(dir) = self.lock_path.parent() {
            fs::create_dir_all(dir).map_err(|e| self.unavailable("create", dir, e))?;
        }
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(|e| self.unavailable("open", &self.lock_path, e))
    }

    /// Waits for the lock, then reads the ledger.
    pub fn lock(&self) -> Result<LedgerGuard, LedgerError> {
        let lock = self.open_lock()?;
        lock.lock().map_err(|e| self.unavailable("lock", &self.lock_path, e))?;
        self.read(lock)
    }

    /// Takes the lock if it is free (`Ok(None)` when another process holds it).
    pub fn try_lock(&self) -> Result<Option<LedgerGuard>, LedgerError> {
        let lock = self.open_lock()?;
        match lock.try_lock() {
            Ok(()) => self.read(lock).map(Some),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(self.unavailable("lock", &self.lock_path, e)),
        }
    }

    fn read(&self, lock: File) -> Result<LedgerGuard, LedgerError> {
        let file = JsonFile::new(self.path.clone(), Layout::Pretty);
        let ledger = match file.load() {
            Ok(ledger) => ledger.unwrap_or_default(),
            Err(LoadError::Corrupt(e)) => {
                return Err(LedgerError::Unreadable(format!(
                    "the order ledger {} is unreadable ({e}): no order is placed until it is repaired; it records what was bought",
                    self.path.display()
                )));
            }
            Err(LoadError::Unreadable(e)) => return Err(self.unavailable("read", &self.path, e)),
        };
        Ok(LedgerGuard {
            _lock: lock,
            file,
            ledger,
        })
    }
}

impl LedgerGuard {
    /// Writes the ledger atomically and durably.
    pub fn save(&self) -> Result<(), String> {
        self.file
            .save(&self.ledger)
            .map(|_| ())
            .map_err(|e| format!("cannot write the order ledger {}: {e}", self.file.path().display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdnquota_core::ledger::{LedgerEntry, OrderState};
    use cdnquota_core::testing::at;

    #[test]
    fn saves_loads_and_excludes_a_second_holder() {
        let dir = tempfile::tempdir().unwrap();
        let file = LedgerFile::new(dir.path());
        let mut guard = file.lock().unwrap();
        assert!(guard.ledger.entries.is_empty());
        guard.ledger.entries.push(LedgerEntry {
            id: "ord-1".into(),
            account: "main".into(),
            unit_gb: 100,
            number: 1,
            by_hand: true,
            reason: "r".into(),
            intent_at: at("2026-06-01 00:00:00"),
            known_packages: vec![],
            notified: false,
            state: OrderState::Intent,
        });
        guard.save().unwrap();
        assert!(file.try_lock().unwrap().is_none(), "a second holder got the lock");
        drop(guard);
        let again = file.try_lock().unwrap().expect("free after drop");
        assert_eq!(again.ledger.entries[0].state, OrderState::Intent);
    }

    #[test]
    fn an_unreadable_ledger_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("orders.json"), b"{not json").unwrap();
        let err = LedgerFile::new(dir.path()).lock().err().unwrap();
        assert!(matches!(err, LedgerError::Unreadable(_)), "{err:?}");
        assert!(
            err.to_string().contains("no order is placed until it is repaired"),
            "{err}"
        );
        assert_eq!(fs::read(dir.path().join("orders.json")).unwrap(), b"{not json");
    }

    #[test]
    fn a_ledger_out_of_reach_says_so_and_claims_no_order() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"").unwrap();
        let err = LedgerFile::new(&blocker.join("state")).try_lock().err().unwrap();
        assert!(matches!(err, LedgerError::Unavailable(_)), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("out of reach") && !text.contains("interrupted"), "{text}");
    }
}
