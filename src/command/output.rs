//! A command's output on stdout. Rust ignores SIGPIPE, so a reader that
//! stops early (`cdnquota config | head`) turns the next write into EPIPE,
//! on which `println!` panics (exit 101). Here a closed pipe ends the output
//! quietly: the reader has all it wanted.

use std::io::{ErrorKind, Write};

/// Writes `text` to stdout and flushes it; a closed pipe is not an error.
pub fn print(text: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => Err(format!("cannot write to standard output: {e}")),
        _ => Ok(()),
    }
}
