//! `cdnquota reload --pid PID`: asks a running daemon to re-read its config
//! by sending it SIGHUP. The unit's `ExecReload=` runs it, so that
//! `systemctl reload` needs neither a shell nor a `kill` program (Debian's
//! `/bin/kill` comes with procps, which a minimal system lacks). systemd 253
//! has `Type=notify-reload` for this, but 252 (Debian 12) does not.

use std::process::ExitCode;

/// Sends SIGHUP to `pid` after checking that it runs this same program.
pub fn reload(pid: u32) -> ExitCode {
    // A PID of 0 or below would signal a whole process group (or every
    // process), and 1 is init: never a daemon to reload.
    let Some(target) = libc::pid_t::try_from(pid).ok().filter(|p| *p > 1) else {
        eprintln!("cdnquota: {pid} is not the process id of a running daemon");
        return ExitCode::from(2);
    };
    // SIGHUP ends a process that does not handle it: make sure a mistyped
    // PID does not stop some other program. Under the unit's sandbox the
    // daemon's /proc entry is hidden from this process (ProtectProc=invisible
    // together with PrivateUsers=), and the PID is systemd's $MAINPID: then
    // kill(2) alone decides.
    if let (Some(ours), Some(theirs)) = (program_name("self"), program_name(&pid.to_string()))
        && ours != theirs
    {
        eprintln!("cdnquota: process {pid} is `{theirs}`, not cdnquota; nothing sent");
        return ExitCode::from(1);
    }
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    if unsafe { libc::kill(target, libc::SIGHUP) } != 0 {
        let error = std::io::Error::last_os_error();
        eprintln!("cdnquota: cannot send SIGHUP to process {pid}: {error}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// The program name the kernel keeps for `/proc/<which>` (the executable's
/// file name, at most 15 bytes).
fn program_name(which: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{which}/comm"))
        .ok()
        .map(|name| name.trim_end().to_string())
}
