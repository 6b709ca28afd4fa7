//! The simulator's API 3.0 package lists: DescribeTrafficPackages (traffic
//! packages of every billing region, with `Region`) and
//! DescribeHttpsPackages (HTTPS request packages, `Area` global), paged
//! alike and misbehaving alike on demand.

use crate::http::Response;
use crate::state::{SimPackage, SimState};
use crate::v3_answer::{error, success};
use crate::wire::{PAGE_LIMIT, api_time};
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Map, Value, json};

/// Which list is asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum List {
    /// DescribeTrafficPackages.
    Traffic,
    /// DescribeHttpsPackages.
    Https,
}

impl List {
    fn holds(self, p: &SimPackage) -> bool {
        p.https == (self == List::Https)
    }
}

/// The fields both lists share.
fn common_json(p: &SimPackage, now: DateTime<Utc>, offset: FixedOffset) -> Map<String, Value> {
    let fields = json!({
        "Id": p.id,
        "Status": p.v3_status(now),
        "CreateTime": api_time(p.created_at, offset),
        "EnableTime": api_time(p.enabled_at, offset),
        "ExpireTime": api_time(p.expires_at, offset),
        "ContractExtension": false,
        "AutoExtension": p.auto_extension,
        "Channel": "user",
        "LifeTimeMonth": 12,
        "ExtensionAvailable": false,
        // Tencent refunds an unused package within 15 days of purchase.
        "RefundAvailable": p.used_bytes <= 0.0 && now - p.created_at < chrono::TimeDelta::days(15),
        "TrueEnableTime": api_time(p.enabled_at, offset),
        "TrueExpireTime": api_time(p.expires_at, offset),
    });
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn package_json(list: List, p: &SimPackage, now: DateTime<Utc>, offset: FixedOffset) -> Value {
    let mut item = common_json(p, now, offset);
    let used = p.used_bytes.floor() as u64;
    let extra = match list {
        List::Traffic => json!({
            "Type": "日常流量包",
            "Bytes": p.size_bytes,
            "BytesUsed": used,
            "Region": p.region,
            "Area": if p.region == 0 { "mainland" } else { "overseas" },
        }),
        List::Https => json!({
            "Type": "HTTPS请求包",
            "Size": p.size_bytes,
            "SizeUsed": used,
            "Area": "global",
        }),
    };
    if let Value::Object(extra) = extra {
        item.extend(extra);
    }
    Value::Object(item)
}

/// Answers one page of `list`.
pub(crate) fn page(
    list: List,
    state: &mut SimState,
    params: &Map<String, Value>,
    now: DateTime<Utc>,
) -> (String, Response) {
    let number = |name: &str, default: u64| match params.get(name) {
        None => Some(default),
        Some(v) => v.as_u64(),
    };
    let (Some(offset), Some(limit)) = (number("Offset", 0), number("Limit", 100)) else {
        return error("InvalidParameter", "Offset and Limit must be non-negative integers");
    };
    if limit == 0 || limit > PAGE_LIMIT {
        return error("InvalidParameterValue", format!("Limit must be from 1 to {PAGE_LIMIT}"));
    }
    state.advance(now);
    for _ in 0..state.v3_grow_per_page {
        // Expiring with the earliest, and a higher id: listed last, so the
        // pages already read do not shift.
        let last = state
            .packages
            .iter()
            .filter(|p| list.holds(p))
            .map(|p| p.expires_at)
            .min()
            .unwrap_or(now);
        let id = state.next_package_id();
        let mut grown = SimPackage::new(
            id,
            1_000_000_000,
            0,
            now - chrono::TimeDelta::days(1),
            std::time::Duration::ZERO,
        );
        grown.expires_at = last;
        grown.https = list == List::Https;
        state.packages.push(grown);
    }
    let limit = match state.v3_page_cap {
        0 => limit,
        cap => limit.min(cap as u64),
    };
    let zone = state.api_offset;
    let mut listed: Vec<&SimPackage> = state.packages.iter().filter(|p| list.holds(p)).collect();
    // The API's default order: latest expiry first.
    listed.sort_by(|a, b| b.expires_at.cmp(&a.expires_at).then(a.id.cmp(&b.id)));
    let skip = if state.v3_ignore_offset { 0 } else { offset as usize };
    let items: Vec<Value> = listed
        .iter()
        .skip(skip)
        .take(limit as usize)
        .map(|p| package_json(list, p, now, zone))
        .collect();
    let enabled = listed.iter().filter(|p| p.v3_status(now) == "enabled").count();
    let key = match list {
        List::Traffic => "TrafficPackages",
        List::Https => "HttpsPackages",
    };
    success(json!({
        "TotalCount": listed.len() as u64 + state.v3_overstate_total,
        key: items,
        "ExpiringCount": 0,
        "EnabledCount": enabled,
        "PaidCount": listed.len(),
    }))
}
