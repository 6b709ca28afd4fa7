//! Recording the daemon's own polls for `cdnquota backtest` (`record_polls
//! = true`): `state_dir/polls/<account>.jsonl`, one record per successful
//! poll in the format backtest reads. Packages that expired more than 30
//! days before a poll are left out, and the file starts afresh (the old one
//! kept as `.1`) past 64 MiB, so recording never fills the disk.

use cdnquota_core::model::Snapshot;
use chrono::{FixedOffset, TimeDelta};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tencent_cdn_api::record::to_record;
use tencent_cdn_api::settings::ApiVersion;

/// The size past which a recording is rotated.
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// One account's recording.
pub struct PollRecorder {
    path: PathBuf,
    api: ApiVersion,
    offset: FixedOffset,
    failed: Mutex<bool>,
}

impl PollRecorder {
    /// Records `account`'s polls under `state_dir`.
    pub fn new(state_dir: &Path, account: &str, api: ApiVersion, offset: FixedOffset) -> Self {
        PollRecorder {
            path: state_dir.join("polls").join(format!("{account}.jsonl")),
            api,
            offset,
            failed: Mutex::new(false),
        }
    }

    /// The recording's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `snapshot`; a failure is logged once until it works again.
    pub fn append(&self, snapshot: &Snapshot) {
        let line = to_record(snapshot, self.api, self.offset, TimeDelta::days(30));
        let result = (|| {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            if std::fs::metadata(&self.path).is_ok_and(|m| m.len() > MAX_BYTES) {
                std::fs::rename(&self.path, self.path.with_extension("jsonl.1"))?;
            }
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
            f.write_all(format!("{line}\n").as_bytes())
        })();
        let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(()) => *failed = false,
            Err(e) if !*failed => {
                tracing::error!(
                    "cannot record the poll to {}: {e}; record_polls goes on trying",
                    self.path.display()
                );
                *failed = true;
            }
            Err(_) => {}
        }
    }
}
