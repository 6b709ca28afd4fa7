//! The daemon's durable state in `state_dir`: the alert lifecycle, the mail
//! outbox and when each account last polled well.
//!
//! Written atomically (temp file, fsync, rename, fsync of the directory) so
//! a crash leaves the old state or the new one, never half of one. A file
//! that cannot be read is moved aside and reported, and the daemon starts
//! afresh rather than crash-looping. Nothing secret is stored here.

use crate::notify::outbox::OutboxMail;
use cdnquota_core::alerts::Lifecycle;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
pub struct StateFile {
    path: PathBuf,
    // What the file holds now, as last written or read: a save that would
    // write the same bytes is skipped (most polls change nothing).
    written: Mutex<Option<Vec<u8>>>,
    // Set when the file exists but could not be read nor moved aside: it is
    // never overwritten, since it may hold state worth more than ours.
    refused: Option<String>,
}

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
        let path = dir.join(FILE_NAME);
        let file = |written: Option<Vec<u8>>, refused: Option<String>| StateFile {
            path: path.clone(),
            written: Mutex::new(written),
            refused,
        };
        if let Err(e) = fs::create_dir_all(dir) {
            let why = format!(
                "cannot create state_dir {}: {e}; create it writable for the daemon or set state_dir",
                dir.display()
            );
            return Opened {
                file: file(None, None),
                state: fresh(),
                moved_aside: None,
                unsaved: Some(why),
            };
        }
        remove_stale_temp_files(&path);
        let unreadable = match fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<State>(&bytes) {
                Ok(state) => {
                    return Opened {
                        file: file(Some(bytes), None),
                        state,
                        moved_aside: None,
                        unsaved: None,
                    };
                }
                Err(e) => e.to_string(),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Opened {
                    file: file(None, None),
                    state: fresh(),
                    moved_aside: None,
                    unsaved: None,
                };
            }
            Err(e) => e.to_string(),
        };
        let aside = dir.join(format!("{FILE_NAME}.corrupt-{}", now.format("%Y%m%dT%H%M%SZ")));
        match fs::rename(&path, &aside) {
            Ok(()) => Opened {
                file: file(None, None),
                state: fresh(),
                moved_aside: Some((aside, unreadable)),
                unsaved: None,
            },
            Err(r) => {
                let why = format!(
                    "{} is unreadable ({unreadable}) and cannot be moved aside ({r}): move or delete it",
                    path.display()
                );
                Opened {
                    file: file(None, Some(why.clone())),
                    state: fresh(),
                    moved_aside: None,
                    unsaved: Some(why),
                }
            }
        }
    }

    /// Writes `state` atomically unless the file already holds exactly it;
    /// `Ok(true)` when it wrote.
    pub fn save(&self, state: &State) -> std::io::Result<bool> {
        if let Some(why) = &self.refused {
            return Err(std::io::Error::other(why.clone()));
        }
        let bytes = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if written.as_deref() == Some(bytes.as_slice()) {
            return Ok(false);
        }
        write_atomically(&self.path, &bytes)?;
        *written = Some(bytes);
        Ok(true)
    }

    /// The file's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Replaces `path` with `bytes` so that a crash leaves the old content or
/// the new, never a mix: temp file, fsync, rename, fsync of the directory.
/// The temp file's name is unique to this write, so two writers (a daemon
/// and `cdnquota order`, or a misconfigured second daemon) never share one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(
        ".{name}.{}.{:08x}{TEMP_SUFFIX}",
        std::process::id(),
        crate::random::random_u64() as u32
    ));
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    File::open(dir)?.sync_all()
}

const TEMP_SUFFIX: &str = ".tmp";

/// Removes temp files a crash left beside `path`. Called only by the
/// daemon holding the state directory's lock, so no writer is cut short.
pub fn remove_stale_temp_files(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let prefix = format!(".{name}.");
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(n) = file_name.to_str() else { continue };
        if n.starts_with(&prefix) && n.ends_with(TEMP_SUFFIX) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use cdnquota_core::testing::at;

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
