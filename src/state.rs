//! The daemon's durable state in `state_dir`: the alert lifecycle, the mail
//! outbox and when each account last polled well.
//!
//! Kept in a [`JsonFile`]: written atomically, an unreadable file moved
//! aside and reported, and the daemon starting afresh rather than
//! crash-looping. Nothing secret is stored here.

use crate::alerting::email::outbox::OutboxMail;
use crate::store::{JsonFile, Layout, OpenProblem};
use cdnquota_core::alerts::Lifecycle;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The state file's name in `state_dir`.
pub const FILE_NAME: &str = "state.json";
const VERSION: u32 = 1;

/// Everything that must survive a restart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The format version.
    #[serde(default)]
    pub version: u32,
    /// Pending and firing alerts.
    #[serde(default)]
    pub alerts: Lifecycle,
    /// Mail not yet delivered.
    #[serde(default)]
    pub outbox: Vec<OutboxMail>,
    /// When each account last polled successfully, to within half of
    /// `poll_failure_after` (a restart needs no more, and a finer value would
    /// rewrite the file after every poll).
    #[serde(default)]
    pub last_success: BTreeMap<String, DateTime<Utc>>,
}

/// The state file on disk.
pub struct StateFile(JsonFile<State>);

/// What opening the state file found.
pub struct Opened {
    /// The file, for saving.
    pub file: StateFile,
    /// The state it held (empty when new or unreadable).
    pub state: State,
    /// Where an unreadable file was moved, and why it was unreadable.
    pub moved_aside: Option<(PathBuf, String)>,
    /// Why the state will not be saved, when it cannot be.
    pub unsaved: Option<String>,
}

fn fresh() -> State {
    State {
        version: VERSION,
        ..State::default()
    }
}

impl StateFile {
    /// Opens `dir/state.json`, creating `dir` if needed. Never fails: an
    /// unreadable file is renamed `state.json.corrupt-<time>` and an empty
    /// state returned; when even that is impossible (a read-only directory,
    /// a directory in the file's place) the daemon runs from memory and
    /// `unsaved` says why, rather than refusing to watch the pool.
    pub fn open(dir: &Path, now: DateTime<Utc>) -> Opened {
        let opened = JsonFile::open(dir.join(FILE_NAME), Layout::Pretty, now);
        let (moved_aside, unsaved) = match opened.problem {
            None => (None, None),
            Some(OpenProblem::MovedAside { aside, why }) => (Some((aside, why)), None),
            Some(OpenProblem::NoFolder(why) | OpenProblem::Stuck(why)) => (None, Some(why)),
        };
        Opened {
            file: StateFile(opened.file),
            state: opened.value.unwrap_or_else(fresh),
            moved_aside,
            unsaved,
        }
    }

    /// Writes `state` atomically unless the file already holds exactly it;
    /// `Ok(true)` when it wrote.
    pub fn save(&self, state: &State) -> std::io::Result<bool> {
        self.0.save(state)
    }

    /// The file's path, for messages.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::lock::StateDirLock;
    use cdnquota_core::testing::at;
    use std::fs;

    #[test]
    fn round_trips_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let opened = StateFile::open(&dir.path().join("sub"), at("2026-06-01 00:00:00"));
        assert_eq!(
            opened.state,
            State {
                version: VERSION,
                ..State::default()
            }
        );
        let mut state = opened.state;
        state.last_success.insert("main".into(), at("2026-06-01 00:00:00"));
        assert!(opened.file.save(&state).unwrap(), "the first save writes");
        assert!(
            !opened.file.save(&state).unwrap(),
            "the same state is not written again"
        );
        let again = StateFile::open(&dir.path().join("sub"), at("2026-06-01 00:00:00"));
        assert!(!again.file.save(&state).unwrap(), "what was read counts as written");
        assert_eq!(again.state, state);
        let names: Vec<_> = fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(FILE_NAME)]);
    }

    #[test]
    fn a_corrupt_file_is_moved_aside_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE_NAME), b"{\"alerts\": [trunc").unwrap();
        let opened = StateFile::open(dir.path(), at("2026-06-01 12:00:00"));
        let (aside, why) = opened.moved_aside.unwrap();
        assert_eq!(aside.file_name().unwrap(), "state.json.corrupt-20260601T120000Z");
        assert!(!why.is_empty());
        assert_eq!(fs::read(&aside).unwrap(), b"{\"alerts\": [trunc");
        assert!(opened.state.outbox.is_empty());
        assert!(!dir.path().join(FILE_NAME).exists());
    }

    #[test]
    fn an_unusable_state_dir_means_running_from_memory_not_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"").unwrap();
        let opened = StateFile::open(&blocker.join("state"), at("2026-06-01 00:00:00"));
        let why = opened.unsaved.expect("says the state is not saved");
        assert!(
            why.contains("cannot create state_dir") && why.contains("set state_dir"),
            "{why}"
        );
        assert!(opened.file.save(&opened.state).is_err());
    }

    #[test]
    fn a_directory_in_place_of_the_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(FILE_NAME)).unwrap();
        let opened = StateFile::open(dir.path(), at("2026-06-01 00:00:00"));
        assert!(opened.moved_aside.is_some() && opened.unsaved.is_none());
        assert!(opened.file.save(&opened.state).unwrap());
    }

    #[test]
    fn an_unreadable_file_that_cannot_be_moved_aside_is_kept_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE_NAME), b"{trunc").unwrap();
        // A non-empty directory where the aside name goes makes the rename fail.
        let aside = dir.path().join("state.json.corrupt-20260601T000000Z");
        fs::create_dir(&aside).unwrap();
        fs::write(aside.join("x"), b"").unwrap();
        let opened = StateFile::open(dir.path(), at("2026-06-01 00:00:00"));
        let why = opened.unsaved.expect("says the state is not saved");
        assert!(why.contains("cannot be moved aside"), "{why}");
        assert!(opened.file.save(&opened.state).is_err());
        assert_eq!(fs::read(dir.path().join(FILE_NAME)).unwrap(), b"{trunc");
    }

    #[test]
    fn a_second_holder_of_the_state_dir_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateDirLock::acquire(dir.path()).unwrap();
        let second = StateDirLock::acquire(dir.path()).unwrap_err();
        assert!(second.to_string().contains("another cdnquota daemon"), "{second}");
        drop(first);
        StateDirLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn temp_files_are_unique_and_stale_ones_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".state.json.1.deadbeef.tmp");
        fs::write(&stale, b"half").unwrap();
        let opened = StateFile::open(dir.path(), at("2026-06-01 00:00:00"));
        assert!(!stale.exists());
        assert!(opened.file.save(&opened.state).unwrap());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(FILE_NAME)]);
    }
}
