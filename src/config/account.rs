//! One `[[accounts]]` table: what it may say, and how it becomes an
//! [`Account`] with its secrets resolved, its thresholds and order rules
//! merged over the defaults, and the API's settings checked.

use super::order::RawOrder;
use super::thresholds::ThresholdOverrides;
use super::units::{ByteSize, PositiveDuration};
use super::values::AccountName;
use super::{ConfigError, ENV_SECRET_ID, ENV_SECRET_KEY, ENV_SESSION_TOKEN, SecretResolver};
use cdnquota_core::settings::{OrderMode, OrderRules, PoolThresholds};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;
use tencent_cdn_api::secret::{KeyId, Secret};
use tencent_cdn_api::settings::{ApiVersion, ClientSettings, Endpoint, HttpMethod, SignatureMethod};
use toml::Spanned;

/// One Tencent Cloud account to watch.
#[derive(Clone, Debug, Serialize)]
pub struct Account {
    /// The account's label value.
    pub name: AccountName,
    /// Which API it is read through.
    pub api: ApiVersion,
    /// The API endpoint.
    pub endpoint: Endpoint,
    /// The key id (not secret, but shown shortened).
    pub secret_id: KeyId,
    /// The key.
    pub secret_key: Secret,
    /// Where the key came from, for `cdnquota config`.
    pub secret_key_source: String,
    /// API 3.0 only: the token of a temporary credential (`X-TC-Token`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<Secret>,
    /// Signature method for v2 requests.
    pub signature_method: SignatureMethod,
    /// GET or POST.
    pub http_method: HttpMethod,
    /// Per-request timeout.
    #[serde(serialize_with = "super::serialize_duration")]
    pub timeout: Duration,
    /// Attempts for one poll, the first included.
    pub max_attempts: u32,
    /// Wait before the first retry (doubles each retry, capped at 30 s).
    #[serde(serialize_with = "super::serialize_duration")]
    pub retry_backoff: Duration,
    /// The largest API answer accepted, in bytes.
    #[serde(rename = "max_answer_size", serialize_with = "super::serialize_bytes")]
    pub max_answer_bytes: u64,
    /// The thresholds of each of its pools (defaults merged with its
    /// overrides).
    pub thresholds: PoolThresholds,
    /// Ordering rules for this account (defaults merged with its overrides).
    pub order: OrderRules,
}

impl Account {
    /// What the API client needs of this account, reading times in `offset`.
    pub fn client_settings(&self, offset: chrono::FixedOffset) -> ClientSettings {
        ClientSettings {
            account: self.name.to_string(),
            api: self.api,
            endpoint: self.endpoint.clone(),
            secret_id: self.secret_id.clone(),
            secret_key: self.secret_key.clone(),
            session_token: self.session_token.clone(),
            signature_method: self.signature_method,
            http_method: self.http_method,
            timeout: self.timeout,
            max_attempts: self.max_attempts,
            retry_backoff: self.retry_backoff,
            max_answer_bytes: self.max_answer_bytes,
            utc_offset: offset,
        }
    }
}

/// The `[[accounts]]` array. Its own type so that `[accounts]`, one table
/// where an array of tables is meant, is told how to write it rather than
/// getting serde's "invalid type: map, expected a sequence".
pub(super) struct AccountList(pub(super) Vec<RawAccount>);

impl<'de> Deserialize<'de> for AccountList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Tables;
        impl<'de> serde::de::Visitor<'de> for Tables {
            type Value = AccountList;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("one [[accounts]] table per account")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<AccountList, A::Error> {
                let mut accounts = Vec::new();
                while let Some(account) = seq.next_element()? {
                    accounts.push(account);
                }
                Ok(AccountList(accounts))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, _map: A) -> Result<AccountList, A::Error> {
                Err(serde::de::Error::custom(
                    "[accounts] is a single table: write [[accounts]], with two brackets, above each account",
                ))
            }
        }
        d.deserialize_seq(Tables)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccount {
    pub(super) name: Spanned<AccountName>,
    #[serde(default)]
    api: ApiVersion,
    endpoint: Option<Endpoint>,
    secret_id: Option<String>,
    secret_id_file: Option<PathBuf>,
    secret_key: Option<Secret>,
    secret_key_file: Option<PathBuf>,
    session_token: Option<Secret>,
    session_token_file: Option<PathBuf>,
    signature_method: Option<Spanned<SignatureMethod>>,
    http_method: Option<Spanned<HttpMethod>>,
    timeout: Option<PositiveDuration>,
    max_attempts: Option<Spanned<u32>>,
    retry_backoff: Option<PositiveDuration>,
    max_answer_size: Option<ByteSize>,
    #[serde(default)]
    thresholds: ThresholdOverrides,
    #[serde(default)]
    order: Option<Spanned<RawOrder>>,
}

/// What every account starts from: `[thresholds]` and `[order]`.
pub(super) struct Defaults<'a> {
    pub(super) thresholds: PoolThresholds,
    /// `[thresholds]` as written, for its region tables.
    pub(super) threshold_tables: &'a ThresholdOverrides,
    pub(super) order: &'a OrderRules,
    /// Where `[order]` is, to point at when it turns ordering on.
    pub(super) order_span: &'a Range<usize>,
    /// `[pricing]`, for the sizes of `unit_gb = "auto"`.
    pub(super) prices: &'a cdnquota_core::pricing::PriceTable,
}

/// The checked account of `ra`; errors are placed by `located`.
pub(super) fn resolve(
    ra: RawAccount,
    defaults: &Defaults,
    resolver: &SecretResolver,
    located: &dyn Fn(Option<Range<usize>>, String) -> ConfigError,
) -> Result<Account, ConfigError> {
    let name_span = ra.name.span();
    let name = ra.name.into_inner();
    let at = |message: String| located(Some(name_span.clone()), message);
    let secret_id = resolver
        .resolve(
            "secret_id",
            ra.secret_id.map(Secret::new),
            ra.secret_id_file.as_deref(),
            ENV_SECRET_ID,
        )
        .map_err(at)?
        .ok_or_else(|| {
            at(format!(
                "account `{name}` has no secret_id: set secret_id, secret_id_file or {ENV_SECRET_ID}"
            ))
        })?;
    let (secret_key, secret_key_source) = resolver
        .resolve(
            "secret_key",
            ra.secret_key,
            ra.secret_key_file.as_deref(),
            ENV_SECRET_KEY,
        )
        .map_err(at)?
        .ok_or_else(|| {
            at(format!(
                "account `{name}` has no secret_key: set secret_key_file, {ENV_SECRET_KEY} or secret_key"
            ))
        })?;
    let session_token = match ra.api {
        ApiVersion::V3 => resolver
            .resolve(
                "session_token",
                ra.session_token,
                ra.session_token_file.as_deref(),
                ENV_SESSION_TOKEN,
            )
            .map_err(at)?
            .map(|(token, _)| token),
        ApiVersion::V2 if ra.session_token.is_some() || ra.session_token_file.is_some() => {
            return Err(at("session_token applies to api = \"v3\" only".into()));
        }
        ApiVersion::V2 => None,
    };
    if ra.api == ApiVersion::V3 {
        // v3 has one way to sign and send; a v2 setting here is a mistake
        // the operator should hear about, not a silent no-op.
        for (key, span) in [
            ("signature_method", ra.signature_method.as_ref().map(Spanned::span)),
            ("http_method", ra.http_method.as_ref().map(Spanned::span)),
        ] {
            if let Some(span) = span {
                return Err(located(
                    Some(span),
                    format!(
                        "{key} applies to api = \"v2\" only: API 3.0 always signs with TC3-HMAC-SHA256 and sends POST"
                    ),
                ));
            }
        }
    }
    let order = match &ra.order {
        Some(o) => o
            .get_ref()
            .apply(defaults.order, defaults.prices)
            .map_err(|(span, m)| located(Some(span), m))?,
        None => defaults.order.clone(),
    };
    if let Some(r) = ra.order.as_ref().and_then(|o| o.get_ref().ordering_replica()) {
        return Err(located(
            Some(r.span()),
            "ordering_replica is set once, in [order]: one replica orders for every account".into(),
        ));
    }
    if ra.api == ApiVersion::V3 && order.mode != OrderMode::Off {
        // Point at whichever table turned ordering on for this account.
        let span = match &ra.order {
            Some(o) if o.get_ref().turns_on() => o.span(),
            _ => defaults.order_span.clone(),
        };
        return Err(located(
            Some(if span.is_empty() { name_span.clone() } else { span }),
            format!(
                "account `{name}` uses api = \"v3\", which has no purchase action: set mode = \"off\" for it and place orders in the Tencent Cloud console"
            ),
        ));
    }
    let thresholds = ra
        .thresholds
        .resolve(&defaults.thresholds, defaults.threshold_tables)
        .map_err(|(span, m)| located(Some(span), m))?;
    let max_attempts = match ra.max_attempts {
        Some(n) if !(1..=10).contains(n.get_ref()) => {
            return Err(located(
                Some(n.span()),
                format!("max_attempts = {} is out of range: use 1 to 10", n.get_ref()),
            ));
        }
        Some(n) => n.into_inner(),
        None => 4,
    };
    Ok(Account {
        name,
        api: ra.api,
        endpoint: match ra.endpoint {
            Some(e) => e,
            None => ra.api.default_endpoint(),
        },
        secret_id: KeyId::new(secret_id.0.expose()),
        secret_key,
        secret_key_source,
        signature_method: ra.signature_method.map(Spanned::into_inner).unwrap_or_default(),
        http_method: ra.http_method.map(Spanned::into_inner).unwrap_or_default(),
        session_token,
        timeout: ra.timeout.map_or(Duration::from_secs(15), |d| d.0),
        max_attempts,
        retry_backoff: ra.retry_backoff.map_or(Duration::from_secs(1), |d| d.0),
        max_answer_bytes: ra.max_answer_size.map_or(ra.api.default_max_answer(), |b| b.0),
        thresholds,
        order,
    })
}
