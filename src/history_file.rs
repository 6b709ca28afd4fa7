//! Each pool's consumption history on disk, so that a restart keeps the
//! rate, the daily and weekly profile and each package's last usage:
//! `state_dir/history/<account>.json` for the mainland traffic pool (where
//! the whole account's history lived before pools) and
//! `state_dir/history/<account>@<pool>.json` for the others, e.g.
//! `main@europe.json`, `main@https_global.json` (`@` is never in a name).
//!
//! Written atomically after every successful poll. A missing file means an
//! empty history; an unreadable one is moved aside with one error line and
//! that pool's history starts empty, the other pools' untouched. Neither
//! ever stops the daemon.

use crate::store::{JsonFile, Layout, OpenProblem};
use cdnquota_core::history::{PoolHistory, VERSION};
use cdnquota_core::model::{PoolKey, Region, Resource};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One pool's history file.
pub struct HistoryFile {
    file: JsonFile<PoolHistory>,
    // When a failed save was last logged: once an hour, not every poll.
    complained_at: Mutex<Option<DateTime<Utc>>>,
}

fn history_path(state_dir: &Path, account: &str, pool: PoolKey) -> PathBuf {
    let name = if pool == PoolKey::MAINLAND_TRAFFIC {
        format!("{account}.json")
    } else {
        format!("{account}@{}.json", pool.slug())
    };
    state_dir.join("history").join(name)
}

/// The pool a history file name is of, for `account`.
fn pool_of_file(account: &str, file_name: &str) -> Option<PoolKey> {
    let stem = file_name.strip_suffix(".json")?;
    if stem == account {
        return Some(PoolKey::MAINLAND_TRAFFIC);
    }
    let slug = stem.strip_prefix(account)?.strip_prefix('@')?;
    let (resource, region) = match slug.strip_prefix("https_") {
        Some(region) => (Resource::HttpsRequests, region),
        None => (Resource::Traffic, slug),
    };
    let region = Region::from_name(region)?;
    Some(PoolKey { resource, region })
}

/// The pools of `account` with a history file in `state_dir`.
fn pools_on_disk(state_dir: &Path, account: &str) -> Vec<PoolKey> {
    let Ok(entries) = std::fs::read_dir(state_dir.join("history")) else {
        return Vec::new();
    };
    let mut pools: Vec<PoolKey> = entries
        .flatten()
        .filter_map(|e| pool_of_file(account, e.file_name().to_str()?))
        .collect();
    pools.sort();
    pools
}

/// Every pool history of one account, each in its own file.
pub struct AccountHistories {
    state_dir: PathBuf,
    account: String,
    files: BTreeMap<PoolKey, HistoryFile>,
    /// The histories, by pool.
    pub pools: BTreeMap<PoolKey, PoolHistory>,
}

impl AccountHistories {
    /// Opens the history file of every pool `account` has on disk. Where
    /// `regions_were_mixed` (an API 3.0 account, whose history before pools
    /// added every region's traffic together), a history from before pools
    /// is not the mainland pool's: it is set aside and the pool starts anew,
    /// its billed hours read again from billing data.
    pub fn open(state_dir: &Path, account: &str, regions_were_mixed: bool, now: DateTime<Utc>) -> Self {
        let mut files = BTreeMap::new();
        let mut pools = BTreeMap::new();
        for pool in pools_on_disk(state_dir, account) {
            let (file, mut history) = HistoryFile::open(state_dir, account, pool, now);
            if !history.per_pool && regions_were_mixed {
                tracing::info!(
                    account,
                    "the consumption history {} is from before pools and adds every billing region together; the mainland pool's history starts anew from billing data",
                    file.path().display()
                );
                history = PoolHistory::new();
            }
            history.per_pool = true;
            files.insert(pool, file);
            pools.insert(pool, history);
        }
        AccountHistories {
            state_dir: state_dir.to_path_buf(),
            account: account.to_string(),
            files,
            pools,
        }
    }

    /// Reads every pool history of `account` without touching anything.
    pub fn read(state_dir: &Path, account: &str) -> BTreeMap<PoolKey, PoolHistory> {
        pools_on_disk(state_dir, account)
            .into_iter()
            .filter_map(|pool| Some((pool, HistoryFile::read(state_dir, account, pool)?)))
            .collect()
    }

    /// Saves every pool's history, opening the file of a pool seen for the
    /// first time.
    pub fn save(&mut self, now: DateTime<Utc>) {
        for (pool, history) in &self.pools {
            let file = self
                .files
                .entry(*pool)
                .or_insert_with(|| HistoryFile::open(&self.state_dir, &self.account, *pool, now).0);
            file.save(history, now);
        }
    }
}

impl HistoryFile {
    /// Opens `pool`'s history file of `account` and reads what it holds.
    pub fn open(state_dir: &Path, account: &str, pool: PoolKey, now: DateTime<Utc>) -> (HistoryFile, PoolHistory) {
        let opened = JsonFile::<PoolHistory>::open(history_path(state_dir, account, pool), Layout::Compact, now);
        let path = opened.file.path().display().to_string();
        let history = match (opened.value, opened.problem) {
            (Some(h), _) if h.version == VERSION => h,
            (Some(h), _) => {
                tracing::error!(
                    account,
                    pool = %pool,
                    "the consumption history {path} has format version {}, not {VERSION}; this pool starts with none",
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
                    pool = %pool,
                    "the consumption history {path} {what}; this pool's forecast starts with no history, the other pools keep theirs"
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

    /// Reads `pool`'s history without touching anything (for `check`,
    /// beside a running daemon): `None` when missing or unreadable.
    pub fn read(state_dir: &Path, account: &str, pool: PoolKey) -> Option<PoolHistory> {
        JsonFile::<PoolHistory>::new(history_path(state_dir, account, pool), Layout::Compact)
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
    use cdnquota_core::model::{BillingCycle, Snapshot};
    use cdnquota_core::testing::{at, package};

    #[test]
    fn a_saved_history_is_read_back_and_a_corrupt_one_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let now = at("2026-06-01 00:00:00");
        let mainland = PoolKey::MAINLAND_TRAFFIC;
        let (file, mut h) = HistoryFile::open(dir.path(), "main", mainland, now);
        assert_eq!(h, PoolHistory::new());
        h.record(
            &Snapshot {
                taken_at: now,
                packages: vec![package("p", 100, 10, "2026-01-01 00:00:00", "2027-01-01 00:00:00")],
            },
            BillingCycle::Hour,
        );
        file.save(&h, now);
        let (_, again) = HistoryFile::open(dir.path(), "main", mainland, now);
        assert_eq!(again, h);

        std::fs::write(file.path(), b"{\"recent\": [tru").unwrap();
        let (_, empty) = HistoryFile::open(dir.path(), "main", mainland, now);
        assert_eq!(empty, PoolHistory::new());
        assert!(dir.path().join("history/main.json.corrupt-20260601T000000Z").exists());
    }

    #[test]
    fn each_pool_has_its_file_and_a_corrupt_one_costs_only_its_pool() {
        let dir = tempfile::tempdir().unwrap();
        let now = at("2026-06-01 00:00:00");
        let europe = PoolKey {
            resource: Resource::Traffic,
            region: Region::Europe,
        };
        let https = PoolKey {
            resource: Resource::HttpsRequests,
            region: Region::Global,
        };
        let mut all = AccountHistories::open(dir.path(), "main", true, now);
        assert!(all.pools.is_empty());
        for pool in [PoolKey::MAINLAND_TRAFFIC, europe, https] {
            let mut h = PoolHistory::new();
            h.last_remaining = Some(7);
            all.pools.insert(pool, h);
        }
        all.save(now);
        let files = |d: &Path| {
            let mut names: Vec<String> = std::fs::read_dir(d.join("history"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        assert_eq!(
            files(dir.path()),
            ["main.json", "main@europe.json", "main@https_global.json"]
        );
        // Another account's files are not this one's.
        std::fs::write(dir.path().join("history/mainer@europe.json"), b"{}").unwrap();
        std::fs::write(dir.path().join("history/main@europe.json"), b"not json").unwrap();
        let again = AccountHistories::open(dir.path(), "main", true, now);
        assert_eq!(again.pools.len(), 3);
        assert_eq!(again.pools[&europe], PoolHistory::new());
        assert_eq!(again.pools[&PoolKey::MAINLAND_TRAFFIC].last_remaining, Some(7));
        assert_eq!(again.pools[&https].last_remaining, Some(7));
        assert_eq!(AccountHistories::read(dir.path(), "main").len(), 2);
    }

    #[test]
    fn a_history_from_before_pools_is_kept_for_v2_and_set_aside_for_v3() {
        let dir = tempfile::tempdir().unwrap();
        let now = at("2026-06-01 00:00:00");
        std::fs::create_dir_all(dir.path().join("history")).unwrap();
        let mut old = PoolHistory::new();
        old.per_pool = false;
        old.last_remaining = Some(7);
        let json = serde_json::to_string(&old).unwrap().replace(",\"per_pool\":false", "");
        assert!(!json.contains("per_pool"), "{json}");
        std::fs::write(dir.path().join("history/main.json"), &json).unwrap();
        // v2 listed mainland packages only: its history was mainland's.
        let v2 = AccountHistories::open(dir.path(), "main", false, now);
        assert_eq!(v2.pools[&PoolKey::MAINLAND_TRAFFIC].last_remaining, Some(7));
        let v3 = AccountHistories::open(dir.path(), "main", true, now);
        assert_eq!(v3.pools[&PoolKey::MAINLAND_TRAFFIC].last_remaining, None);
    }
}
