//! A misbehaving SMTP server on loopback, for the faults a real relay can
//! show: accepting a connection and never speaking, stalling after DATA,
//! answering slowly, echoing the AUTH exchange in its refusal, or refusing
//! the login, the sender, a recipient or the mail itself.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the server misbehaves.
#[derive(Clone, Copy, Debug)]
pub enum Misbehaviour {
    /// Accepts the connection and never sends a greeting.
    Silent,
    /// Speaks SMTP until the end of DATA, then never answers.
    StallAfterData,
    /// Takes this long to accept the mail after DATA, then accepts it.
    SlowAfterData(Duration),
    /// Refuses AUTH with a 535 that quotes what the client sent.
    EchoAuth,
    /// Refuses AUTH: a wrong password.
    RefuseAuth,
    /// Refuses the sender (MAIL FROM) with a 553.
    RefuseSender,
    /// Refuses every recipient with a 550 that names it.
    RefuseRecipient,
    /// Refuses the mail after DATA as too big (552).
    TooBig,
    /// Behaves: takes every mail.
    Accept,
}

/// The server; stops when dropped.
pub struct BadSmtp {
    pub port: u16,
    connections: Arc<AtomicUsize>,
    delivered: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

use std::sync::Mutex;

impl BadSmtp {
    pub fn start(how: Misbehaviour) -> BadSmtp {
        BadSmtp::start_on(0, how)
    }

    /// Starts the server on `port` (0: any free one).
    pub fn start_on(port: u16, how: Misbehaviour) -> BadSmtp {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, d, s) = (connections.clone(), delivered.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            // Bounded: a test that forgets to drop it still ends it.
            let deadline = Instant::now() + Duration::from_secs(300);
            let mut workers = Vec::new();
            while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        c.fetch_add(1, Ordering::SeqCst);
                        let (d, s) = (d.clone(), s.clone());
                        workers.push(std::thread::spawn(move || serve(stream, how, &d, &s)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            s.store(true, Ordering::SeqCst);
            for w in workers {
                let _ = w.join();
            }
        });
        BadSmtp {
            port,
            connections,
            delivered,
            stop,
            thread: Some(thread),
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The Message-ID of every mail it accepted.
    pub fn delivered(&self) -> Vec<String> {
        self.delivered.lock().expect("lock").clone()
    }
}

impl Drop for BadSmtp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sleeps until `stop`, in small steps.
fn hold(stop: &AtomicBool, at_most: Duration) {
    let end = Instant::now() + at_most;
    while !stop.load(Ordering::SeqCst) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn serve(stream: TcpStream, how: Misbehaviour, delivered: &Mutex<Vec<String>>, stop: &AtomicBool) {
    if let Misbehaviour::Silent = how {
        hold(stop, Duration::from_secs(300));
        return;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut out = match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    let mut say = |text: &str| out.write_all(text.as_bytes()).is_ok();
    if !say("220 bad.test ESMTP\r\n") {
        return;
    }
    let mut line = String::new();
    let mut in_data = false;
    let mut message_id = String::new();
    while !stop.load(Ordering::SeqCst) {
        match reader.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) if !line.ends_with('\n') => continue,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
            Err(_) => return,
        }
        let command = std::mem::take(&mut line);
        let command = command.trim_end();
        if in_data {
            if let Some(id) = command.strip_prefix("Message-ID: ") {
                message_id = id.to_string();
            }
            if command != "." {
                continue;
            }
            in_data = false;
            match how {
                Misbehaviour::StallAfterData => {
                    hold(stop, Duration::from_secs(300));
                    return;
                }
                Misbehaviour::SlowAfterData(d) => hold(stop, d),
                Misbehaviour::TooBig => {
                    if !say("552 5.3.4 Message size exceeds fixed limit\r\n") {
                        return;
                    }
                    continue;
                }
                _ => {}
            }
            delivered.lock().expect("lock").push(std::mem::take(&mut message_id));
            if !say("250 2.0.0 queued\r\n") {
                return;
            }
            continue;
        }
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" => "250-bad.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n".to_string(),
            "HELO" => "250 bad.test\r\n".to_string(),
            "AUTH" => match how {
                Misbehaviour::EchoAuth => format!("535 5.7.8 authentication failed for: {command}\r\n"),
                Misbehaviour::RefuseAuth => "535 5.7.8 Error: authentication failed\r\n".to_string(),
                _ => "235 2.7.0 ok\r\n".to_string(),
            },
            "MAIL" if matches!(how, Misbehaviour::RefuseSender) => {
                let sender = command.split_once(':').map_or("", |(_, s)| s.trim());
                format!("553 5.7.1 {sender}: Sender address rejected: not owned by user\r\n")
            }
            "RCPT" if matches!(how, Misbehaviour::RefuseRecipient) => {
                let rcpt = command.split_once(':').map_or("", |(_, s)| s.trim());
                format!("550 5.1.1 {rcpt}: Recipient address rejected: User unknown in virtual mailbox table\r\n")
            }
            "DATA" => {
                in_data = true;
                "354 go ahead\r\n".to_string()
            }
            "QUIT" => {
                say("221 bye\r\n");
                return;
            }
            _ => "250 ok\r\n".to_string(),
        };
        if !say(&reply) {
            return;
        }
    }
}
