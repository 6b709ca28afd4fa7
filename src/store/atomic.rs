//! Writing a file so that a crash leaves the old content or the new, never a
//! mix, and cleaning up after a crash that came mid-write.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

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
