//! `cdnquota_build_info`: which version is running, from which commit, built
//! by which compiler.

use prometheus::Registry;

pub(super) fn register(registry: &Registry) -> prometheus::Result<()> {
    let info = super::gauge_vec(
        registry,
        "build_info",
        "Always 1; the labels say which cdnquota is running: version, git revision (or unknown) and rustc version.",
        &["version", "revision", "rustc"],
    )?;
    info.with_label_values(&[
        env!("CARGO_PKG_VERSION"),
        env!("CDNQUOTA_REVISION"),
        env!("CDNQUOTA_RUSTC"),
    ])
    .set(1.0);
    Ok(())
}
