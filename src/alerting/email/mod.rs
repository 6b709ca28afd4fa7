//! The mail sink: alerts as mail, kept in a durable outbox until a relay
//! (or sendmail, or a folder) takes them.

pub mod outbox;
pub mod transport;
