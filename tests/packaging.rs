//! The binary that packaging builds (`cargo deb`, `default-features =
//! false`) has no simulator: no `demo` and no `simulator` command, and the
//! help does not offer them. The build is the packaging one, without the
//! default `demo` feature, in a target folder of its own so that the other
//! tests keep their binary.

use std::path::Path;
use std::process::Command;

#[test]
fn the_packaged_binary_has_no_simulator_or_demo() {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("packaged");
    let built = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "build",
            "--quiet",
            "--locked",
            "--no-default-features",
            "--bin",
            "cdnquota",
        ])
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("cargo runs");
    assert!(built.success(), "the packaging build failed");
    let binary = target.join("debug/cdnquota");

    let help = Command::new(&binary).arg("--help").output().expect("the binary runs");
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    let commands: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        commands,
        [
            "run",
            "check",
            "advise",
            "config",
            "order",
            "email-test",
            "reload",
            "backtest",
            "help"
        ],
        "{text}"
    );
    assert!(!text.contains("simulator") && !text.contains("demo"), "{text}");

    let demo = Command::new(&binary).arg("demo").output().expect("the binary runs");
    assert_eq!(demo.status.code(), Some(2), "clap refuses an unknown command");
    assert!(String::from_utf8_lossy(&demo.stderr).contains("unrecognized subcommand 'demo'"));

    // The default build, which these tests run, still has both.
    let full = Command::new(env!("CARGO_BIN_EXE_cdnquota"))
        .arg("--help")
        .output()
        .expect("runs");
    let full = String::from_utf8_lossy(&full.stdout);
    assert!(full.contains("  demo ") && full.contains("  simulator "), "{full}");
}
