//! The queue on disk, `state_dir/alertmanager.json`, beside the alert
//! state: written atomically (temp file, fsync, rename, fsync of the
//! directory) and only when a state in it changed, never for fresh
//! annotations alone. An unreadable file is moved aside and reported; the
//! queue then starts from the alert lifecycle, which names every firing
//! alert, so at worst a resolution no Alertmanager had yet is left to
//! Alertmanager's own timeout.

use super::queue::Queue;
use crate::state::{remove_stale_temp_files, write_atomically};
use chrono::{DateTime, Utc};
use std::fs;
use std::path::{Path, PathBuf};

/// The queue file's name in `state_dir`.
pub const FILE_NAME: &str = "alertmanager.json";
const VERSION: u32 = 1;

/// The queue file.
pub struct QueueFile {
    path: PathBuf,
    // What the file holds, as last written or read: an equal save is skipped.
    written: Option<Vec<u8>>,
    // Why the file must not be written (it is unreadable and in the way).
    refused: Option<String>,
}

/// What opening the file found.
pub struct OpenedQueue {
    /// The file, for saving.
    pub file: QueueFile,
    /// The queue it held (empty when new or unreadable).
    pub queue: Queue,
    /// What went wrong, for the log: the file was unreadable, moved aside or not.
    pub problem: Option<String>,
}

impl QueueFile {
    /// Opens `dir/alertmanager.json`. Never fails: a problem is reported
    /// and the queue starts empty.
    pub fn open(dir: &Path, now: DateTime<Utc>) -> OpenedQueue {
        let path = dir.join(FILE_NAME);
        let fresh = Queue {
            version: VERSION,
            ..Queue::default()
        };
        let file = |written, refused| QueueFile {
            path: path.clone(),
            written,
            refused,
        };
        remove_stale_temp_files(&path);
        let unreadable = match fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Queue>(&bytes) {
                Ok(queue) => {
                    return OpenedQueue {
                        file: file(Some(bytes), None),
                        queue,
                        problem: None,
                    };
                }
                Err(e) => e.to_string(),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return OpenedQueue {
                    file: file(None, None),
                    queue: fresh,
                    problem: None,
                };
            }
            Err(e) => e.to_string(),
        };
        let aside = dir.join(format!("{FILE_NAME}.corrupt-{}", now.format("%Y%m%dT%H%M%SZ")));
        match fs::rename(&path, &aside) {
            Ok(()) => OpenedQueue {
                file: file(None, None),
                queue: fresh,
                problem: Some(format!(
                    "the Alertmanager queue {} was unreadable ({unreadable}); moved it to {} and rebuilt the queue from the alert state",
                    path.display(),
                    aside.display()
                )),
            },
            Err(r) => {
                let why = format!(
                    "the Alertmanager queue {} is unreadable ({unreadable}) and cannot be moved aside ({r}): move or delete it",
                    path.display()
                );
                OpenedQueue {
                    file: file(None, Some(why.clone())),
                    queue: fresh,
                    problem: Some(why),
                }
            }
        }
    }

    /// Writes `queue` atomically unless the file holds exactly it already;
    /// `Ok(true)` when it wrote.
    pub fn save(&mut self, queue: &Queue) -> Result<bool, String> {
        if let Some(why) = &self.refused {
            return Err(why.clone());
        }
        let bytes = serde_json::to_vec_pretty(queue).map_err(|e| e.to_string())?;
        if self.written.as_deref() == Some(bytes.as_slice()) {
            return Ok(false);
        }
        write_atomically(&self.path, &bytes)
            .map_err(|e| format!("cannot save the Alertmanager queue to {}: {e}", self.path.display()))?;
        self.written = Some(bytes);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alertmanager::payload::AmAlert;
    use cdnquota_core::testing::at;
    use std::collections::BTreeMap;

    #[test]
    fn saves_only_changes_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let now = at("2026-06-01 00:00:00");
        let mut opened = QueueFile::open(dir.path(), now);
        assert!(opened.problem.is_none() && opened.queue.alerts.is_empty());
        let alert = AmAlert {
            account: "main".into(),
            labels: BTreeMap::from([("alertname".to_string(), "PoolLow".to_string())]),
            annotations: BTreeMap::new(),
            starts_at: now,
            resolved_at: None,
        };
        opened.queue.observe("main", vec![alert], now);
        assert!(opened.file.save(&opened.queue).unwrap());
        assert!(!opened.file.save(&opened.queue).unwrap(), "unchanged: not written");
        let again = QueueFile::open(dir.path(), now);
        assert_eq!(again.queue, opened.queue);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(FILE_NAME)], "no temp file left");
    }

    #[test]
    fn an_unreadable_file_is_moved_aside_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE_NAME), b"{\"alerts\": [tru").unwrap();
        let mut opened = QueueFile::open(dir.path(), at("2026-06-01 12:00:00"));
        let problem = opened.problem.clone().unwrap();
        assert!(
            problem.contains("moved it to") && problem.contains("corrupt-20260601T120000Z"),
            "{problem}"
        );
        assert!(opened.queue.alerts.is_empty());
        assert!(opened.file.save(&opened.queue).unwrap());
    }
}
