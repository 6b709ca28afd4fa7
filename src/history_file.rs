//! Each account's consumption history on disk,
//! `state_dir/history/<account>.json`, so that a restart keeps the rate,
//! the daily and weekly profile and each package's last usage.
//!
//! Written atomically after every successful poll. A missing file means an
//! empty history; an unreadable one is moved aside with one error line and
//! the history starts empty. Neither ever stops the daemon.

use crate::store::{JsonFile, Layout, OpenProblem};
use cdnquota_core::history::{PoolHistory, VERSION};
use chrono::{DateTime, TimeDelta, Utc};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One account's history file.
pub struct HistoryFile {
    file: JsonFile<PoolHistory>,
    // When a failed save was last logged: once an hour, not every poll.
    complained_at: Mutex<Option<DateTime<Utc>>>,
}

fn history_path(state_dir: &Path, account: &str) -> PathBuf {
    state_dir.join("history").join(format!("{account}.json"))
}

impl HistoryFile {
    /// Opens `state_dir/history/<account>.json` and reads what it holds.
    pub fn open(state_dir: &Path, account: &str, now: DateTime<Utc>) -> (HistoryFile, PoolHistory) {
        let opened = JsonFile::<PoolHistory>::open(history_path(state_dir, account), Layout::Compact, now);
        let path = opened.file.path().display().to_string();
        let history = match (opened.value, opened.problem) {
            (Some(h), _) if h.version == VERSION => h,
            (Some(h), _) => {
                tracing::error!(
                    account,
                    "the consumption history {path} has format version {}, not {VERSION}; starting with none",
                    h.version
                );
                PoolHistory::new()
            }
            (None, None) => PoolHistory::new(),
            (None, Some(problem)) => {
                let what = match problem {
                    OpenProblem::MovedAside { aside, why } => {
                        format!("is unreadable ({why}); moved it to {}", aside.display())
                    }
                    OpenProblem::NoFolder(why) | OpenProblem::Stuck(why) => format!("cannot be used: {why}"),
                };
                tracing::error!(
                    account,
                    "the consumption history {path} {what}; the forecast starts with no history"
                );
                PoolHistory::new()
            }
        };
        let file = HistoryFile {
            file: opened.file,
            complained_at: Mutex::new(None),
        };
        (file, history)
    }

    /// Reads `account`'s history without touching anything (for `check`,
    /// beside a running daemon): `None` when missing or unreadable.
    pub fn read(state_dir: &Path, account: &str) -> Option<PoolHistory> {
        JsonFile::<PoolHistory>::new(history_path(state_dir, account), Layout::Compact)
            .load()
            .ok()
            .flatten()
            .filter(|h| h.version == VERSION)
    }

    /// Writes `history` atomically; a failure is logged at most hourly.
    pub fn save(&self, history: &PoolHistory, now: DateTime<Utc>) {
        let result = self.file.save(history);
        let mut complained = self.complained_at.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(_) => *complained = None,
            Err(e) if complained.is_none_or(|t| now - t >= TimeDelta::hours(1)) => {
                tracing::error!(
                    "cannot save the consumption history {}: {e}; a restart will forecast from less history",
                    self.path().display()
                );
                *complained = Some(now);
            }
            Err(_) => {}
        }
    }

    /// The file's path, for messages.
    pub fn path(&self) -> &Path {
        self.file.path()
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
        assert_eq!(h, PoolHistory::new());
        h.record(&Snapshot {
            taken_at: now,
            packages: vec![package("p", 100, 10, "2026-01-01 00:00:00", "2027-01-01 00:00:00")],
        });
        file.save(&h, now);
        let (_, again) = HistoryFile::open(dir.path(), "main", now);
        assert_eq!(again, h);

        std::fs::write(file.path(), b"{\"recent\": [tru").unwrap();
        let (_, empty) = HistoryFile::open(dir.path(), "main", now);
        assert_eq!(empty, PoolHistory::new());
        assert!(dir.path().join("history/main.json.corrupt-20260601T000000Z").exists());
    }
}
