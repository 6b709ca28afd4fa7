//! Where an account's packages come from: API v2 or API 3.0, chosen per
//! account. Both produce the same [`Snapshot`].

use super::RequestObserver;
use super::error::ApiError;
use super::v2::V2Client;
use super::v3::V3Client;
use crate::settings::{ApiVersion, ClientSettings};
use cdnquota_core::model::Snapshot;
use std::sync::Arc;

/// An account's package list source.
pub enum PackageSource {
    /// `GetPackage` on API 2.0.
    V2(V2Client),
    /// `DescribeTrafficPackages` on API 3.0.
    V3(V3Client),
}

impl PackageSource {
    /// The source `account` is set up for. The error is the one line to
    /// show: a client that cannot be built (no CA certificates on the
    /// system) leaves its caller nothing to choose between.
    pub fn new(account: &ClientSettings) -> Result<Self, String> {
        Ok(match account.api {
            ApiVersion::V2 => PackageSource::V2(V2Client::new(account)?),
            ApiVersion::V3 => PackageSource::V3(V3Client::new(account)?),
        })
    }

    /// Reports every request to `observer`.
    pub fn with_observer(self, observer: Arc<dyn RequestObserver>) -> Self {
        match self {
            PackageSource::V2(c) => PackageSource::V2(c.with_observer(observer)),
            PackageSource::V3(c) => PackageSource::V3(c.with_observer(observer)),
        }
    }

    /// The API action that lists packages, for messages.
    pub fn action(&self) -> &'static str {
        match self {
            PackageSource::V2(_) => "GetPackage",
            PackageSource::V3(_) => super::v3::ACTION,
        }
    }

    /// The client that can order packages: API v2 only, as API 3.0 has no
    /// purchase action.
    pub fn ordering_client(&self) -> Option<&V2Client> {
        match self {
            PackageSource::V2(c) => Some(c),
            PackageSource::V3(_) => None,
        }
    }

    /// The client that reads billed traffic: API 3.0 only.
    pub fn billing_client(&self) -> Option<&V3Client> {
        match self {
            PackageSource::V2(_) => None,
            PackageSource::V3(c) => Some(c),
        }
    }

    /// Lists the account's packages.
    pub async fn fetch(&self) -> Result<Snapshot, ApiError> {
        match self {
            PackageSource::V2(c) => c.get_package().await,
            PackageSource::V3(c) => c.get_packages().await,
        }
    }
}
