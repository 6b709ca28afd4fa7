//! Each account's consumption history on disk,
//! `state_dir/history/<account>.json`, so that a restart keeps the rate,
//! the daily and weekly profile and each package's last usage.
//!
//! Written atomically after every successful poll. A missing file means an
//! empty history; an unreadable one is moved aside with one error line and
//! the history starts empty. Neither ever stops the daemon.

use crate::state::write_atomically;
use cdnquota_core::history::{AccountHistory, VERSION};
use chrono::{DateTime, TimeDelta, Utc};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One account's history file.
pub struct HistoryFile {
    path: PathBuf,
    // When a failed save was last logged: once an hour, not every poll.
    complained_at: Mutex<Option<DateTime<Utc>>>,
}

impl HistoryFile {
    /// Opens `state_dir/history/<account>.json` and reads what it holds.
    pub fn open(state_dir: &Path, account: &str, now: DateTime<Utc>) -> (HistoryFile, AccountHistory) {
        let dir = state_dir.join("history");
        let path = dir.join(format!("{account}.json"));
        let file = HistoryFile {
            path: path.clone(),
            complained_at: Mutex::new(None),
        };
        // The daemon holds the state_dir lock: no other writer is cut short.
        crate::state::remove_stale_temp_files(&path);
        let history = match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => AccountHistory::new(),
            Err(e) => {
                tracing::error!(
                    account,
                    "cannot read the consumption history {}: {e}; starting with none",
                    path.display()
                );
                AccountHistory::new()
            }
            Ok(bytes) => match serde_json::from_slice::<AccountHistory>(&bytes) {
                Ok(h) if h.version == VERSION => h,
                Ok(h) => {
                    tracing::error!(
                        account,
                        "the consumption history {} has format version {}, not {VERSION}; starting with none",
                        path.display(),
                        h.version
                    );
                    AccountHistory::new()
                }
                Err(e) => {
                    let aside = dir.join(format!("{account}.json.corrupt-{}", now.format("%Y%m%dT%H%M%SZ")));
                    let moved = std::fs::rename(&path, &aside).map_or_else(
                        |r| format!("it could not be moved aside ({r})"),
                        |()| format!("moved it to {}", aside.display()),
                    );
                    tracing::error!(
                        account,
                        "the consumption history {} is unreadable ({e}); {moved}; the forecast starts with no history",
                        path.display()
                    );
                    AccountHistory::new()
                }
            },
        };
        (file, history)
    }

    /// Reads `account`'s history without touching anything (for `check`,
    /// beside a running daemon): `None` when missing or unreadable.
    pub fn read(state_dir: &Path, account: &str) -> Option<AccountHistory> {
        let bytes = std::fs::read(state_dir.join("history").join(format!("{account}.json"))).ok()?;
        serde_json::from_slice::<AccountHistory>(&bytes)
            .ok()
            .filter(|h| h.version == VERSION)
    }

    /// Writes `history` atomically; a failure is logged at most hourly.
    pub fn save(&self, history: &AccountHistory, now: DateTime<Utc>) {
        let result = serde_json::to_vec(history)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                if let Some(dir) = self.path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                write_atomically(&self.path, &bytes)
            });
        let mut complained = self.complained_at.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(()) => *complained = None,
            Err(e) if complained.is_none_or(|t| now - t >= TimeDelta::hours(1)) => {
                tracing::error!(
                    "cannot save the consumption history {}: {e}; a restart will forecast from less history",
                    self.path.display()
                );
                *complained = Some(now);
            }
            Err(_) => {}
        }
    }

    /// The file's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdnquota_core::model::Snapshot;
    use cdnquota_core::testing::{at, package};

    #[test]
    fn a_saved_history_is_read_back_and_a_corrupt_one_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let now = at("2026-06-01 00:00:00");
        let (file, mut h) = HistoryFile::open(dir.path(), "main", now);
        assert_eq!(h, AccountHistory::new());
        h.record(&Snapshot {
            taken_at: now,
            packages: vec![package("p", 100, 10, "2026-01-01 00:00:00", "2027-01-01 00:00:00")],
        });
        file.save(&h, now);
        let (_, again) = HistoryFile::open(dir.path(), "main", now);
        assert_eq!(again, h);

        std::fs::write(file.path(), b"{\"recent\": [tru").unwrap();
        let (_, empty) = HistoryFile::open(dir.path(), "main", now);
        assert_eq!(empty, AccountHistory::new());
        assert!(dir.path().join("history/main.json.corrupt-20260601T000000Z").exists());
    }
}
