//! Retrying an idempotent call on transient errors, waiting as
//! [`RetryPolicy`] says between attempts.

use super::error::ApiError;
use crate::nonce;
use cdnquota_core::backoff::RetryPolicy;
use std::future::Future;

/// Runs `attempt` until it succeeds, fails permanently, or has been tried
/// `policy.max_attempts` times. Only for idempotent calls.
pub async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    account: &str,
    action: &str,
    mut attempt: F,
) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let mut tried = 1;
    loop {
        match attempt().await {
            Err(e) if e.is_transient() && tried < policy.max_attempts => {
                let wait = policy.delay(tried, nonce::jitter());
                tracing::warn!(account = %account, action, attempt = tried, "{e}; retrying in {:.1}s", wait.as_secs_f64());
                tokio::time::sleep(wait).await;
                tried += 1;
            }
            other => return other,
        }
    }
}
