//! Why a sink could not deliver, in one type for both sinks: what the
//! caller acts on is whether the receiver refused this very delivery.

use std::fmt;

/// Why a delivery (a mail, a push to an Alertmanager) did not go through.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryError {
    /// Worth another attempt: the connection, a time-out, the receiver's own
    /// trouble, or settings a person can fix and reload.
    Failed(String),
    /// The receiver refused this delivery itself: a mail it will never take
    /// is dropped; a push Alertmanager refused is retried, but a person
    /// must look.
    Refused(String),
}

impl DeliveryError {
    /// What went wrong, in one line.
    pub fn message(&self) -> &str {
        match self {
            DeliveryError::Failed(m) | DeliveryError::Refused(m) => m,
        }
    }

    /// Whether the receiver refused the delivery itself.
    pub fn is_refused(&self) -> bool {
        matches!(self, DeliveryError::Refused(_))
    }

    /// The same kind of error with another message.
    pub fn map_message(self, f: impl FnOnce(String) -> String) -> DeliveryError {
        match self {
            DeliveryError::Failed(m) => DeliveryError::Failed(f(m)),
            DeliveryError::Refused(m) => DeliveryError::Refused(f(m)),
        }
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}
