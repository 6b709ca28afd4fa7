//! Helpers for the core's unit tests: a fixed clock and package builders.

use crate::model::Package;
use chrono::{DateTime, NaiveDateTime, Utc};

/// A UTC instant written `YYYY-MM-DD HH:MM:SS`.
pub fn at(text: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .expect("test times are well formed")
        .and_utc()
}

/// An enabled, unexpired package with the given window (UTC).
pub fn package(id: &str, size: u64, used: u64, from: &str, to: &str) -> Package {
    Package {
        id: id.to_string(),
        title: format!("{size}B"),
        size_bytes: size,
        used_bytes: used,
        created_at: Some(at(from)),
        enabled_at: at(from),
        expires_at: at(to),
        enabled: true,
        expired: false,
        kind: None,
        status: None,
        auto_extension: None,
        area: None,
        extension_mode: None,
        refund_available: None,
        region: crate::model::Region::Mainland,
        resource: crate::model::Resource::Traffic,
    }
}
