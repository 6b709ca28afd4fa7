//! Talking to systemd: readiness, reloading, stopping and watchdog pings
//! over `$NOTIFY_SOCKET` (the sd_notify protocol: one datagram per message).
//! Outside systemd there is no socket and every call does nothing.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Sends `message` (e.g. `READY=1`) to systemd; false when not under
/// systemd or the socket refused it.
pub fn notify(message: &str) -> bool {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let Ok(socket) = UnixDatagram::unbound() else {
        return false;
    };
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
    let sent = match bytes.split_first() {
        // A leading '@' names a socket in the abstract namespace.
        Some((b'@', name)) => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name)
                .and_then(|addr| socket.send_to_addr(message.as_bytes(), &addr))
        }
        _ => socket.send_to(message.as_bytes(), &path),
    };
    sent.is_ok()
}

/// How often to ping the watchdog: half of `WATCHDOG_USEC`, when systemd
/// set one for this process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec) / 2)
}
