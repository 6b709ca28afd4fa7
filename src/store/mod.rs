//! Every durable file of the daemon, through one type: [`JsonFile`], a JSON
//! document in `state_dir` (the alert state, each account's history, the
//! Alertmanager queue, the order ledger).
//!
//! - Written atomically ([`atomic`]): a crash leaves the old content or the
//!   new, never half of one; temp files a crash left are removed at open.
//! - A save that would write the bytes the file already holds is skipped:
//!   most polls change nothing.
//! - [`JsonFile::open`] never fails: a file that cannot be read is moved
//!   aside and reported, and its owner starts afresh instead of
//!   crash-looping; one that cannot even be moved is never overwritten, as
//!   it may hold more than we do. The ledger, which must never forget an
//!   order, uses [`JsonFile::load`] instead, where unreadable stays an error.
//! - [`lock`]: the lock that gives one daemon its state directory.
//!
//! Nothing secret is stored in any of them.

pub mod atomic;
pub mod lock;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How a file's JSON is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Indented, for files a person may read (state, queue, ledger).
    Pretty,
    /// One line, for files written every poll (history).
    Compact,
}

/// A durable JSON file holding one `T`.
pub struct JsonFile<T> {
    path: PathBuf,
    layout: Layout,
    // What the file holds now, as last written or read.
    written: Mutex<Option<Vec<u8>>>,
    // Why the file must never be written: it is unreadable and in the way.
    refused: Option<String>,
    _holds: PhantomData<fn() -> T>,
}

/// Why a file could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// It could not be read (permissions, a directory in its place, ...).
    Unreadable(std::io::Error),
    /// It was read but is not what it should be.
    Corrupt(serde_json::Error),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Unreadable(e) => write!(f, "{e}"),
            LoadError::Corrupt(e) => write!(f, "{e}"),
        }
    }
}

/// What went wrong when a file was opened; the owner started afresh.
#[derive(Debug, Clone, PartialEq)]
pub enum OpenProblem {
    /// The file's folder could not be created; saving will fail.
    NoFolder(String),
    /// The file was unreadable (`why`) and was moved to `aside`.
    MovedAside {
        /// Where it went.
        aside: PathBuf,
        /// Why it could not be read.
        why: String,
    },
    /// The file is unreadable and could not be moved aside: it is kept and
    /// never written; the message says what to do.
    Stuck(String),
}

/// What [`JsonFile::open`] found.
pub struct Opened<T> {
    /// The file, for saving.
    pub file: JsonFile<T>,
    /// What it held; `None` when it was missing or unreadable.
    pub value: Option<T>,
    /// What went wrong, if anything.
    pub problem: Option<OpenProblem>,
}

impl<T: Serialize + DeserializeOwned> JsonFile<T> {
    /// The file at `path`, not read yet.
    pub fn new(path: PathBuf, layout: Layout) -> JsonFile<T> {
        JsonFile {
            path,
            layout,
            written: Mutex::new(None),
            refused: None,
            _holds: PhantomData,
        }
    }

    /// Opens the file, creating its folder and removing temp files a crash
    /// left; an unreadable file is moved to `<name>.corrupt-<now>`. The
    /// caller holds the state directory's lock, so no writer is cut short.
    pub fn open(path: PathBuf, layout: Layout, now: DateTime<Utc>) -> Opened<T> {
        let mut file = JsonFile::new(path, layout);
        let dir = file.path.parent().unwrap_or(Path::new(".")).to_path_buf();
        if let Err(e) = std::fs::create_dir_all(&dir) {
            let why = format!(
                "cannot create state_dir {}: {e}; create it writable for the daemon or set state_dir",
                dir.display()
            );
            return Opened {
                file,
                value: None,
                problem: Some(OpenProblem::NoFolder(why)),
            };
        }
        atomic::remove_stale_temp_files(&file.path);
        let why = match file.load() {
            Ok(value) => {
                return Opened {
                    file,
                    value,
                    problem: None,
                };
            }
            Err(e) => e.to_string(),
        };
        let name = file.path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let aside = dir.join(format!("{name}.corrupt-{}", now.format("%Y%m%dT%H%M%SZ")));
        let problem = match std::fs::rename(&file.path, &aside) {
            Ok(()) => OpenProblem::MovedAside { aside, why },
            Err(r) => {
                let stuck = format!(
                    "{} is unreadable ({why}) and cannot be moved aside ({r}): move or delete it",
                    file.path.display()
                );
                file.refused = Some(stuck.clone());
                OpenProblem::Stuck(stuck)
            }
        };
        Opened {
            file,
            value: None,
            problem: Some(problem),
        }
    }

    /// Reads the file: `Ok(None)` when it does not exist.
    pub fn load(&self) -> Result<Option<T>, LoadError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LoadError::Unreadable(e)),
        };
        let value = serde_json::from_slice(&bytes).map_err(LoadError::Corrupt)?;
        *self.written.lock().unwrap_or_else(|p| p.into_inner()) = Some(bytes);
        Ok(Some(value))
    }

    /// Writes `value` atomically unless the file already holds exactly it;
    /// `Ok(true)` when it wrote.
    pub fn save(&self, value: &T) -> std::io::Result<bool> {
        if let Some(why) = &self.refused {
            return Err(std::io::Error::other(why.clone()));
        }
        let bytes = match self.layout {
            Layout::Pretty => serde_json::to_vec_pretty(value),
            Layout::Compact => serde_json::to_vec(value),
        }
        .map_err(std::io::Error::other)?;
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if written.as_deref() == Some(bytes.as_slice()) {
            return Ok(false);
        }
        atomic::write_atomically(&self.path, &bytes)?;
        *written = Some(bytes);
        Ok(true)
    }

    /// The file's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
