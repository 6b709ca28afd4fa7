//! The daemon's durable state in `state_dir`: the alert lifecycle, the mail
//! outbox and when each account last polled well.
//!
//! Written atomically (temp file, fsync, rename, fsync of the directory) so
//! a crash leaves the old state or the new one, never half of one. A file
//! that cannot be read is moved aside and reported, and the daemon starts
//! afresh rather than crash-looping. Nothing secret is stored here.

use crate::core::alerts::Lifecycle;
use crate::notify::outbox::OutboxMail;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
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
    /// When each account last polled successfully.
    #[serde(default)]
    pub last_success: BTreeMap<String, DateTime<Utc>>,
}

/// The state file on disk.
pub struct StateFile {
    path: PathBuf,
}

/// What opening the state file found.
pub struct Opened {
    /// The file, for saving.
    pub file: StateFile,
    /// The state it held (empty when new or unreadable).
    pub state: State,
    /// Where an unreadable file was moved, and why it was unreadable.
    pub moved_aside: Option<(PathBuf, String)>,
}

impl StateFile {
    /// Opens `dir/state.json`, creating `dir` if needed. An unreadable file
    /// is renamed `state.json.corrupt-<time>` and an empty state returned.
    pub fn open(dir: &Path, now: DateTime<Utc>) -> Result<Opened, String> {
        fs::create_dir_all(dir).map_err(|e| {
            format!(
                "cannot create state_dir {}: {e}; create it writable for the daemon or set state_dir",
                dir.display()
            )
        })?;
        let path = dir.join(FILE_NAME);
        let file = StateFile { path: path.clone() };
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Opened {
                    file,
                    state: State {
                        version: VERSION,
                        ..State::default()
                    },
                    moved_aside: None,
                });
            }
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        match serde_json::from_slice::<State>(&text) {
            Ok(state) => Ok(Opened {
                file,
                state,
                moved_aside: None,
            }),
            Err(e) => {
                let aside = dir.join(format!("{FILE_NAME}.corrupt-{}", now.format("%Y%m%dT%H%M%SZ")));
                fs::rename(&path, &aside)
                    .map_err(|r| format!("{} is unreadable ({e}) and cannot be moved aside: {r}", path.display()))?;
                Ok(Opened {
                    file,
                    state: State {
                        version: VERSION,
                        ..State::default()
                    },
                    moved_aside: Some((aside, e.to_string())),
                })
            }
        }
    }

    /// Writes `state` atomically.
    pub fn save(&self, state: &State) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
        write_atomically(&self.path, &bytes)
    }

    /// The file's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Replaces `path` with `bytes` so that a crash leaves the old content or
/// the new, never a mix: temp file, fsync, rename, fsync of the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::testing::at;

    #[test]
    fn round_trips_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let opened = StateFile::open(&dir.path().join("sub"), at("2026-06-01 00:00:00")).unwrap();
        assert_eq!(
            opened.state,
            State {
                version: VERSION,
                ..State::default()
            }
        );
        let mut state = opened.state;
        state.last_success.insert("main".into(), at("2026-06-01 00:00:00"));
        opened.file.save(&state).unwrap();
        let again = StateFile::open(&dir.path().join("sub"), at("2026-06-01 00:00:00")).unwrap();
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
        let opened = StateFile::open(dir.path(), at("2026-06-01 12:00:00")).unwrap();
        let (aside, why) = opened.moved_aside.unwrap();
        assert_eq!(aside.file_name().unwrap(), "state.json.corrupt-20260601T120000Z");
        assert!(!why.is_empty());
        assert_eq!(fs::read(&aside).unwrap(), b"{\"alerts\": [trunc");
        assert!(opened.state.outbox.is_empty());
        assert!(!dir.path().join(FILE_NAME).exists());
    }

    #[test]
    fn an_unusable_state_dir_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"").unwrap();
        let err = StateFile::open(&blocker.join("state"), at("2026-06-01 00:00:00"))
            .err()
            .unwrap();
        assert!(
            err.contains("cannot create state_dir") && err.contains("set state_dir"),
            "{err}"
        );
    }
}
