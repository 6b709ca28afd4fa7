//! `cdnquota_build_info`: which version is running.

use prometheus::Registry;

pub(super) fn register(registry: &Registry) -> prometheus::Result<()> {
    let info = super::gauge_vec(
        registry,
        "build_info",
        "Always 1; the version label says which cdnquota is running.",
        &["version"],
    )?;
    info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1.0);
    Ok(())
}
