//! The lock that gives one daemon a state directory: two daemons sharing
//! one would send every alert twice and could both order.

use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// The lock file that gives one daemon a state directory.
pub const LOCK_FILE_NAME: &str = "daemon.lock";

/// An exclusive hold on a state directory, released when dropped.
#[derive(Debug)]
pub struct StateDirLock {
    _file: File,
}

/// Why a state directory could not be locked.
#[derive(Debug)]
pub enum StateDirLockError {
    /// Another process holds it: two daemons must not share state.
    Held(PathBuf),
    /// The lock file could not be opened or locked (e.g. a read-only dir).
    Unavailable(String),
}

impl fmt::Display for StateDirLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateDirLockError::Held(path) => write!(
                f,
                "another cdnquota daemon is using this state_dir (it holds {}): give each daemon its own state_dir, or stop the other one",
                path.display()
            ),
            StateDirLockError::Unavailable(why) => f.write_str(why),
        }
    }
}

impl StateDirLock {
    /// Takes `dir/daemon.lock` without waiting.
    pub fn acquire(dir: &Path) -> Result<StateDirLock, StateDirLockError> {
        let path = dir.join(LOCK_FILE_NAME);
        let unavailable =
            |e: std::io::Error| StateDirLockError::Unavailable(format!("cannot lock {}: {e}", path.display()));
        fs::create_dir_all(dir).map_err(unavailable)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .or_else(|_| File::open(&path))
            .map_err(unavailable)?;
        match file.try_lock() {
            Ok(()) => Ok(StateDirLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(StateDirLockError::Held(path)),
            Err(TryLockError::Error(e)) => Err(unavailable(e)),
        }
    }
}
