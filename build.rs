//! Records what `cdnquota_build_info` reports and cannot learn at run time:
//! the git commit the binary was built from and the compiler's version.

use std::path::Path;
use std::process::Command;

fn main() {
    // A build from a source archive has no git: the packager may say which
    // commit it is, else the metric says "unknown" rather than guess.
    println!("cargo:rerun-if-env-changed=CDNQUOTA_REVISION");
    let revision = std::env::var("CDNQUOTA_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .or_else(git_revision)
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=CDNQUOTA_REVISION={}", revision.trim());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let version = run(&rustc, &["--version"])
        // "rustc 1.91.0 (f8297e351 2025-10-28)": the version word is what
        // a dashboard compares.
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=CDNQUOTA_RUSTC={version}");
}

fn run(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok().map(|s| s.trim().to_string())
}

fn git_revision() -> Option<String> {
    let revision = run("git", &["rev-parse", "HEAD"])?;
    // Built again when the commit changes: HEAD moves on a checkout, the
    // branch's ref on a commit. Only files that exist are named, since a
    // missing one would rebuild the crate every time.
    let mut watched = vec![run("git", &["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = run("git", &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(run("git", &["rev-parse", "--git-path", &branch]));
    }
    watched.push(run("git", &["rev-parse", "--git-path", "packed-refs"]));
    for path in watched.into_iter().flatten() {
        if Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    Some(revision)
}
