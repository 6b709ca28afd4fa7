//! The v2 client against the simulator over real HTTP: retries, refusals,
//! replay protection, time-outs and limits.

mod common;

use cdnquota::config::values::UtcOffset;
use cdnquota_sim::Simulator;
use cdnquota_sim::state::{Fault, SimPackage, SimState};
use chrono::Utc;
use common::{GB, SECRET_ID, SECRET_KEY, account_toml, state_with};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tencent_cdn_api::RequestObserver;
use tencent_cdn_api::encode::encode_pairs;
use tencent_cdn_api::error::ApiError;
use tencent_cdn_api::v2::V2Client;

async fn sim(state: SimState) -> Simulator {
    tencent_cdn_api::tls::install_crypto_provider();
    Simulator::start(SocketAddr::from(([127, 0, 0, 1], 0)), state)
        .await
        .unwrap()
}

fn client(sim: &Simulator, extra: &str) -> V2Client {
    let text = account_toml("main", &sim.endpoint(), extra);
    let config = cdnquota::config::parse(&text, Path::new("test.toml"), &|_| None)
        .unwrap()
        .config;
    V2Client::new(&config.accounts[0].client_settings(UtcOffset::default().0)).unwrap()
}

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl RequestObserver for Recorder {
    fn observe(&self, _account: &str, action: &str, outcome: &str) {
        self.0.lock().unwrap().push(format!("{action}:{outcome}"));
    }
}

#[tokio::test]
async fn transient_failures_are_retried_with_a_fresh_nonce() {
    let sim = sim(state_with(&[(1000 * GB, 5)])).await;
    for fault in [
        Fault::HttpStatus(500),
        Fault::ApiCode(6000),
        Fault::TruncatedJson,
        Fault::ApiCode(4400),
    ] {
        sim.inject(fault);
    }
    let recorder = Arc::new(Recorder::default());
    let c = client(&sim, "max_attempts = 5\nretry_backoff = \"10ms\"").with_observer(recorder.clone());
    let snapshot = c.get_package().await.expect("the fifth attempt succeeds");
    assert_eq!(snapshot.packages[0].used_bytes, 5);
    assert_eq!(sim.state().count("GetPackage"), 5);
    assert_eq!(
        *recorder.0.lock().unwrap(),
        [
            "GetPackage:http_error",
            "GetPackage:api_error",
            "GetPackage:malformed",
            "GetPackage:api_error",
            "GetPackage:success"
        ]
    );
}

#[tokio::test]
async fn retries_stop_at_max_attempts() {
    let sim = sim(state_with(&[])).await;
    for _ in 0..5 {
        sim.inject(Fault::HttpStatus(502));
    }
    let err = client(&sim, "max_attempts = 3\nretry_backoff = \"10ms\"")
        .get_package()
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::HttpStatus { status: 502, .. }), "{err:?}");
    assert_eq!(sim.state().count("GetPackage"), 3);
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let sim = sim(state_with(&[])).await;
    let c = client(
        &sim,
        "max_attempts = 5\nretry_backoff = \"10ms\"\nsecret_key = \"wrong\"",
    );
    let err = c.get_package().await.unwrap_err();
    let ApiError::Api { code, message, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*code, 4100);
    // The simulator says what it signed, which is what a person debugging needs.
    assert!(message.contains("POST127.0.0.1:"), "{message}");
    assert_eq!(sim.state().count("GetPackage"), 1);
}

#[tokio::test]
async fn a_replayed_nonce_or_stale_timestamp_is_refused() {
    let sim = sim(state_with(&[])).await;
    let c = client(&sim, "http_method = \"GET\"");
    let http = reqwest::Client::new();
    let send = |params: Vec<(String, String)>| {
        let url = format!("{}?{}", sim.endpoint(), encode_pairs(&params));
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let now = Utc::now().timestamp();
    let params = c.signed_params("GetPackage", &[], now, 4242);
    assert!(send(params.clone()).await.contains("\"code\":0"));
    let replay = send(params).await;
    assert!(
        replay.contains("\"code\":4500") && replay.contains("Nonce 4242 was already used"),
        "{replay}"
    );
    let stale = send(c.signed_params("GetPackage", &[], now - 3600, 4343)).await;
    assert!(
        stale.contains("\"code\":4500") && stale.contains("from the server time"),
        "{stale}"
    );
    // Tampering with a signed parameter breaks the signature.
    let mut tampered = c.signed_params("GetPackage", &[], now, 4444);
    tampered[0].1 = "OrderPackage".into();
    assert!(send(tampered).await.contains("\"code\":4100"));
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let sim = sim(state_with(&[])).await;
    sim.inject(Fault::Delay(Duration::from_secs(3)));
    let err = client(&sim, "timeout = \"300ms\"").get_package().await.unwrap_err();
    assert!(matches!(err, ApiError::Transport { timeout: true, .. }), "{err:?}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn an_oversized_answer_is_refused_naming_the_setting_and_the_default_fits_a_large_account() {
    let mut state = state_with(&[]);
    let now = Utc::now();
    for _ in 0..25_000 {
        let id = state.next_package_id();
        state
            .packages
            .push(SimPackage::new(id, GB, 0, now, Duration::from_secs(86_400)));
    }
    let sim = sim(state).await;
    let err = client(&sim, "timeout = \"10s\"\nmax_answer_size = \"1MiB\"")
        .get_package()
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::TooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("larger than max_answer_size (1"), "{err}");
    assert!(err.hint().contains("raise max_answer_size"), "{}", err.hint());
    assert!(!err.is_transient());
    // 25,000 packages are about 6 MB in one v2 answer: the default reads them.
    let listed = client(&sim, "timeout = \"10s\"").get_package().await.unwrap();
    assert_eq!(listed.packages.len(), 25_000);
}

#[tokio::test]
async fn a_refused_connection_is_a_transient_transport_error() {
    let port = common::free_port();
    let text = account_toml("main", &format!("http://127.0.0.1:{port}/v2/index.php"), "");
    let config = cdnquota::config::parse(&text, Path::new("t.toml"), &|_| None)
        .unwrap()
        .config;
    let err = V2Client::new(&config.accounts[0].client_settings(UtcOffset::default().0))
        .unwrap()
        .get_package()
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Transport { connect: true, .. }), "{err:?}");
    assert!(!err.to_string().contains("Signature"), "{err}");
}

#[tokio::test]
async fn orders_return_ids_and_are_never_retried() {
    let sim = sim(SimState::new(SECRET_ID, SECRET_KEY, Utc::now())).await;
    let c = client(&sim, "max_attempts = 5\nretry_backoff = \"10ms\"");
    let ids = c.order_package(100, 2).await.unwrap();
    assert_eq!(ids.len(), 1);
    let order = sim.state().orders[0].clone();
    assert_eq!(
        (order.id.as_str(), order.unit_gb, order.number),
        (ids[0].as_str(), 100, 2)
    );

    let err = c.order_package(100, 6).await.unwrap_err();
    assert!(matches!(err, ApiError::Api { code: 4000, .. }), "{err:?}");
    let err = c.order_package(123, 1).await.unwrap_err();
    assert!(err.to_string().contains("GetPackagePrice"), "{err}");

    // A transient failure of an order is not retried: it may have been placed.
    sim.inject(Fault::ApiCode(6000));
    assert!(c.order_package(100, 1).await.is_err());
    assert_eq!(sim.state().count("OrderPackage"), 4);

    // Paid, the order's packages show up in GetPackage.
    let id = ids[0].clone();
    assert!(sim.state().mark_paid(&id, Utc::now()));
    let snapshot = c.get_package().await.unwrap();
    assert_eq!(snapshot.packages.len(), 2);
    assert!(
        snapshot
            .packages
            .iter()
            .all(|p| p.size_bytes == 100 * GB && p.title == "100GB")
    );
}

#[tokio::test]
async fn api_times_are_read_in_the_configured_offset() {
    let state = state_with(&[(GB, 0)]);
    let expected = state.packages[0].expires_at.timestamp();
    let sim = sim(state).await;
    let snapshot = client(&sim, "").get_package().await.unwrap();
    assert_eq!(snapshot.packages[0].expires_at.timestamp(), expected);
    // Read in UTC instead, the same text lands eight hours later.
    let text = account_toml("main", &sim.endpoint(), "");
    let config = cdnquota::config::parse(
        &format!("api_utc_offset = \"+00:00\"\n{text}"),
        Path::new("t.toml"),
        &|_| None,
    )
    .unwrap()
    .config;
    let utc = V2Client::new(&config.accounts[0].client_settings(config.api_utc_offset.0)).unwrap();
    let shifted = utc.get_package().await.unwrap();
    assert_eq!(shifted.packages[0].expires_at.timestamp(), expected + 8 * 3600);
}
