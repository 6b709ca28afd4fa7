//! Lists an account's CDN traffic packages through API 3.0, with the key in
//! TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY, as Tencent's own
//! tools take it.
//!
//! `cargo run -p tencent-cdn-api --example list_packages [ENDPOINT]`; the
//! endpoint defaults to `https://cdn.tencentcloudapi.com/`.

use tencent_cdn_api::secret::{KeyId, Secret};
use tencent_cdn_api::settings::{ApiVersion, ClientSettings, Endpoint};
use tencent_cdn_api::source::PackageSource;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let env = |name: &str| std::env::var(name).map_err(|_| format!("set {name} to the account's API key"));
    let id = KeyId::new(env("TENCENTCLOUD_SECRET_ID")?);
    let key = Secret::new(env("TENCENTCLOUD_SECRET_KEY")?);
    let mut settings = ClientSettings::new("example", ApiVersion::V3, id, key);
    if let Some(url) = std::env::args().nth(1) {
        settings.endpoint = Endpoint::parse(&url)?;
    }
    let snapshot = PackageSource::new(&settings)?
        .fetch()
        .await
        .map_err(|e| e.to_string())?;
    for p in &snapshot.packages {
        let left = p.size_bytes.saturating_sub(p.used_bytes);
        let status = p.status.as_deref().unwrap_or("-");
        println!(
            "{:<12} {:<10} {:>20} bytes left, expires {}",
            p.id, status, left, p.expires_at
        );
    }
    println!("{} packages", snapshot.packages.len());
    Ok(())
}
