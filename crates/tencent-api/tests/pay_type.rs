//! `DescribePayType` over real HTTP against the simulator: how traffic is
//! billed in each area and HTTPS requests worldwide, asked once, and a
//! refusal that says the key is not permitted.

mod common;

use cdnquota_core::model::{BillingArea, BillingCycle, PayType, Resource};
use cdnquota_sim::state::{Fault, SimPayType};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_area_reports_its_own_pay_type() {
    let mut state = empty_state();
    state.pay_types.insert(
        ("overseas".into(), "flux".into()),
        SimPayType::new("bandwidth", "month"),
    );
    state.pay_types.insert(
        ("global".into(), "https".into()),
        SimPayType {
            pay_type: "request".into(),
            billing_cycle: Some("fortnight".into()),
        },
    );
    let sim = start(state).await;
    let api = client(&sim);

    let mainland = api
        .pay_type(BillingArea::Mainland, Resource::Traffic)
        .await
        .expect("mainland");
    assert_eq!(
        mainland,
        PayType {
            area: BillingArea::Mainland,
            resource: Resource::Traffic,
            pay_type: "flux".into(),
            billing_cycle: Some(BillingCycle::Hour),
        }
    );
    assert!(mainland.deducts());
    let overseas = api
        .pay_type(BillingArea::Overseas, Resource::Traffic)
        .await
        .expect("overseas");
    assert_eq!(
        (overseas.pay_type.as_str(), overseas.billing_cycle),
        ("bandwidth", Some(BillingCycle::Month))
    );
    assert!(!overseas.deducts(), "packages deduct nothing under bandwidth billing");
    let https = api
        .pay_type(BillingArea::Global, Resource::HttpsRequests)
        .await
        .expect("https");
    assert_eq!((https.pay_type.as_str(), https.billing_cycle), ("request", None));
    assert!(https.deducts());
    assert_eq!(sim.state().count("DescribePayType"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pay_type_is_asked_once_and_a_refusal_is_not_permitted() {
    let sim = start(empty_state()).await;
    sim.inject(Fault::HttpStatus(502));
    let err = client(&sim)
        .pay_type(BillingArea::Mainland, Resource::Traffic)
        .await
        .expect_err("the injected 502");
    assert!(err.is_transient() && !err.is_not_permitted(), "{err}");
    assert_eq!(sim.state().count("DescribePayType"), 1, "not retried");

    sim.state().pay_type_refused = Some("UnauthorizedOperation.CdnCamUnauthorized".into());
    let err = client(&sim)
        .pay_type(BillingArea::Mainland, Resource::Traffic)
        .await
        .expect_err("refused");
    assert!(err.is_not_permitted(), "{err}");
    assert!(
        err.to_string().contains("UnauthorizedOperation.CdnCamUnauthorized"),
        "{err}"
    );
}
