//! The queue on disk, `state_dir/alertmanager.json`, beside the alert
//! state, in a [`JsonFile`]: written atomically and only when a state in
//! it changed, never for fresh
//! annotations alone. An unreadable file is moved aside and reported; the
//! queue then starts from the alert lifecycle, which names every firing
//! alert, so at worst a resolution no Alertmanager had yet is left to
//! Alertmanager's own timeout.

use super::queue::Queue;
use crate::store::{JsonFile, Layout, OpenProblem};
use chrono::{DateTime, Utc};
use std::path::Path;

/// The queue file's name in `state_dir`.
pub const FILE_NAME: &str = "alertmanager.json";
const VERSION: u32 = 1;

/// The queue file.
pub struct QueueFile(JsonFile<Queue>);

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
        let opened = JsonFile::open(dir.join(FILE_NAME), Layout::Pretty, now);
        let path = opened.file.path().display().to_string();
        let problem = opened.problem.map(|problem| match problem {
            OpenProblem::MovedAside { aside, why } => format!(
                "the Alertmanager queue {path} was unreadable ({why}); moved it to {} and rebuilt the queue from the alert state",
                aside.display()
            ),
            OpenProblem::NoFolder(why) | OpenProblem::Stuck(why) => format!("the Alertmanager queue cannot be kept: {why}"),
        });
        OpenedQueue {
            file: QueueFile(opened.file),
            queue: opened.value.unwrap_or_else(|| Queue {
                version: VERSION,
                ..Queue::default()
            }),
            problem,
        }
    }

    /// Writes `queue` atomically unless the file holds exactly it already;
    /// `Ok(true)` when it wrote.
    pub fn save(&mut self, queue: &Queue) -> Result<bool, String> {
        self.0
            .save(queue)
            .map_err(|e| format!("cannot save the Alertmanager queue to {}: {e}", self.0.path().display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::alertmanager::payload::AmAlert;
    use cdnquota_core::testing::at;
    use std::collections::BTreeMap;
    use std::fs;

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
