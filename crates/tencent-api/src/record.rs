//! Recorded polls, one JSON object per line, as `cdnquota backtest` reads
//! them and `run` writes them (`record_polls`): `{"at": RFC 3339, "data":
//! [...]}` with `data` exactly GetPackage's list (API v2), or `{"at": ...,
//! "TrafficPackages": [...], "HttpsPackages": [...]}` as
//! DescribeTrafficPackages and DescribeHttpsPackages list them (API 3.0;
//! either list may be left out). Times inside the packages are in the API's
//! zone, as the APIs send them. A traffic package without `Region` (a line
//! from before regions were recorded) is mainland.

use crate::settings::ApiVersion;
use crate::v3_response::{PackageList, parse_page_of};
use cdnquota_core::model::{Package, Region, Resource, Snapshot};
use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Map, Value, json};

/// Reads one record line into the snapshot it shows.
pub fn parse_record(line: &str, offset: FixedOffset) -> Result<Snapshot, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(mut object) = value else {
        return Err("expected a JSON object".into());
    };
    let at = object
        .get("at")
        .and_then(Value::as_str)
        .ok_or("`at` is missing: give the poll's time in RFC 3339, e.g. \"2026-05-01T00:10:00Z\"")?;
    let taken_at = DateTime::parse_from_rfc3339(at)
        .map_err(|e| format!("`at` = {at:?} is not an RFC 3339 time ({e}), e.g. \"2026-05-01T00:10:00Z\""))?
        .with_timezone(&Utc);
    let packages = if let Some(data) = object.get("data") {
        super::v2_response::parse_packages(data, offset).map_err(|e| e.to_string())?
    } else {
        let mut packages = Vec::new();
        let mut found = false;
        for list in [PackageList::Traffic, PackageList::Https] {
            if let Some(items) = object.remove(list.key()) {
                found = true;
                packages.extend(parse_list(list, items, offset)?);
            }
        }
        if !found {
            return Err("neither `data` (GetPackage) nor `TrafficPackages` (DescribeTrafficPackages) nor `HttpsPackages` (DescribeHttpsPackages) is there".into());
        }
        packages
    };
    let (packages, _) = super::v2_response::dedupe_packages(packages);
    Ok(Snapshot { taken_at, packages })
}

/// Reads a recorded API 3.0 list as the one page of an answer.
fn parse_list(list: PackageList, items: Value, offset: FixedOffset) -> Result<Vec<Package>, String> {
    let count = items.as_array().map_or(0, Vec::len);
    let mut response = Map::new();
    response.insert("TotalCount".into(), json!(count));
    response.insert(list.key().into(), items);
    parse_page_of(list, &response, offset)
        .map(|page| page.packages)
        .map_err(|e| e.to_string())
}

fn api_time(t: DateTime<Utc>, offset: FixedOffset) -> String {
    t.with_timezone(&offset)
        .format(super::v2_response::API_TIME_FORMAT)
        .to_string()
}

fn v2_package(p: &Package, offset: FixedOffset) -> Value {
    json!({
        "id": p.id,
        "flux_title": p.title,
        "flux_byte": p.size_bytes,
        "flux_used": p.used_bytes,
        "create_time": p.created_at.map(|t| api_time(t, offset)),
        "enable_time": api_time(p.enabled_at, offset),
        "expire_time": api_time(p.expires_at, offset),
        "is_enable": p.enabled,
        "is_expire": p.expired,
    })
}

/// The region's API 3.0 number: its place in [`Region::TRAFFIC`].
fn region_code(region: Region) -> Option<usize> {
    Region::TRAFFIC.iter().position(|r| *r == region)
}

fn v3_package(p: &Package, offset: FixedOffset) -> Value {
    let mut item = v3_common(p, offset);
    item.insert("Bytes".into(), json!(p.size_bytes));
    item.insert("BytesUsed".into(), json!(p.used_bytes));
    item.insert("Region".into(), json!(region_code(p.region)));
    Value::Object(item)
}

fn https_package(p: &Package, offset: FixedOffset) -> Value {
    let mut item = v3_common(p, offset);
    item.insert("Size".into(), json!(p.size_bytes));
    item.insert("SizeUsed".into(), json!(p.used_bytes));
    Value::Object(item)
}

/// The fields both API 3.0 package lists share.
fn v3_common(p: &Package, offset: FixedOffset) -> Map<String, Value> {
    [
        ("Id", json!(p.id)),
        ("Type", json!(p.kind)),
        ("Status", json!(p.status)),
        ("CreateTime", json!(p.created_at.map(|t| api_time(t, offset)))),
        ("EnableTime", json!(api_time(p.enabled_at, offset))),
        ("ExpireTime", json!(api_time(p.expires_at, offset))),
        ("TrueEnableTime", json!(api_time(p.enabled_at, offset))),
        ("TrueExpireTime", json!(api_time(p.expires_at, offset))),
        ("AutoExtension", json!(p.auto_extension)),
        ("ExtensionMode", json!(p.extension_mode.map(|m| m.code()))),
        ("Area", json!(p.area)),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect()
}

/// One record line (without the newline) for `snapshot` of an account read
/// through `api`. Packages that expired more than `keep_expired` before the
/// poll are left out: years of them change nothing a backtest looks at.
/// API 3.0 lines hold `HttpsPackages` only when there are HTTPS packages;
/// API v2 lines hold traffic packages only, as GetPackage lists no others.
pub fn to_record(snapshot: &Snapshot, api: ApiVersion, offset: FixedOffset, keep_expired: chrono::TimeDelta) -> String {
    let cutoff = snapshot.taken_at - keep_expired;
    let listed = |resource: Resource| {
        snapshot
            .packages
            .iter()
            .filter(move |p| p.expires_at >= cutoff && p.resource == resource)
    };
    let at = snapshot.taken_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let record = match api {
        ApiVersion::V2 => {
            json!({"at": at, "data": listed(Resource::Traffic).map(|p| v2_package(p, offset)).collect::<Vec<_>>()})
        }
        ApiVersion::V3 => {
            let traffic: Vec<Value> = listed(Resource::Traffic).map(|p| v3_package(p, offset)).collect();
            let https: Vec<Value> = listed(Resource::HttpsRequests)
                .map(|p| https_package(p, offset))
                .collect();
            let mut record = Map::new();
            record.insert("at".into(), json!(at));
            record.insert(PackageList::Traffic.key().into(), Value::Array(traffic));
            if !https.is_empty() {
                record.insert(PackageList::Https.key().into(), Value::Array(https));
            }
            Value::Object(record)
        }
    };
    record.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::CHINA_STANDARD_TIME;
    use cdnquota_core::testing::{at, package};

    #[test]
    fn records_round_trip_in_both_formats() {
        let mut p = package("7", 100, 40, "2026-01-01 00:00:00", "2027-01-01 00:00:00");
        p.status = Some("enabled".into());
        p.extension_mode = Some(cdnquota_core::model::ExtensionMode::WhenUsedUp);
        let snap = Snapshot {
            taken_at: at("2026-06-01 00:10:00"),
            packages: vec![p],
        };
        let week = chrono::TimeDelta::days(7);
        for api in [ApiVersion::V2, ApiVersion::V3] {
            let line = to_record(&snap, api, CHINA_STANDARD_TIME, week);
            let back = parse_record(&line, CHINA_STANDARD_TIME).unwrap();
            assert_eq!(back.taken_at, snap.taken_at, "{line}");
            assert_eq!(back.packages[0].used_bytes, 40, "{line}");
            assert_eq!(back.packages[0].expires_at, snap.packages[0].expires_at, "{line}");
        }
        let v3 = parse_record(
            &to_record(&snap, ApiVersion::V3, CHINA_STANDARD_TIME, week),
            CHINA_STANDARD_TIME,
        )
        .unwrap();
        assert_eq!(v3.packages[0].extension_mode, snap.packages[0].extension_mode);
    }

    /// A package as API 3.0 lists it: with a status.
    fn listed(id: &str, size: u64, used: u64) -> Package {
        let mut p = package(id, size, used, "2026-01-01 00:00:00", "2027-01-01 00:00:00");
        p.status = Some("enabled".into());
        p
    }

    #[test]
    fn regions_and_https_packages_round_trip_in_v3_records() {
        let mut europe = listed("1", 50, 45);
        europe.region = Region::Europe;
        let mainland = listed("2", 100, 40);
        let mut https = listed("3", 10_000_000, 2_500_000);
        https.region = Region::Global;
        https.resource = Resource::HttpsRequests;
        https.kind = Some("HTTPS请求包".into());
        https.title = "HTTPS请求包".into();
        https.area = Some("global".into());
        let snap = Snapshot {
            taken_at: at("2026-06-01 00:10:00"),
            packages: vec![europe, mainland, https],
        };
        let week = chrono::TimeDelta::days(7);
        let line = to_record(&snap, ApiVersion::V3, CHINA_STANDARD_TIME, week);
        assert!(line.contains("\"HttpsPackages\""), "{line}");
        let back = parse_record(&line, CHINA_STANDARD_TIME).unwrap();
        let pools: Vec<_> = back.packages.iter().map(|p| (p.id.as_str(), p.pool())).collect();
        assert_eq!(
            pools,
            vec![
                ("1", snap.packages[0].pool()),
                ("2", cdnquota_core::model::PoolKey::MAINLAND_TRAFFIC),
                ("3", snap.packages[2].pool()),
            ],
            "{line}"
        );
        assert_eq!(back.packages[0].region, Region::Europe);
        assert_eq!(
            (back.packages[2].size_bytes, back.packages[2].used_bytes),
            (10_000_000, 2_500_000)
        );
        assert_eq!(back.packages[2].title, "HTTPS请求包");

        // A line of HTTPS packages only is read too.
        let only = Snapshot {
            taken_at: snap.taken_at,
            packages: vec![snap.packages[2].clone()],
        };
        let line = to_record(&only, ApiVersion::V3, CHINA_STANDARD_TIME, week);
        let https_only = line.replace("\"TrafficPackages\":[],", "");
        assert!(!https_only.contains("TrafficPackages"), "{https_only}");
        let back = parse_record(&https_only, CHINA_STANDARD_TIME).unwrap();
        assert_eq!(back.packages.len(), 1);
        assert_eq!(back.packages[0].resource, Resource::HttpsRequests);
        // Without HTTPS packages no HttpsPackages list is written, and v2
        // lines never hold them.
        let plain = to_record(
            &Snapshot {
                taken_at: snap.taken_at,
                packages: vec![snap.packages[1].clone()],
            },
            ApiVersion::V3,
            CHINA_STANDARD_TIME,
            week,
        );
        assert!(!plain.contains("HttpsPackages"), "{plain}");
        let v2 = parse_record(
            &to_record(&snap, ApiVersion::V2, CHINA_STANDARD_TIME, week),
            CHINA_STANDARD_TIME,
        )
        .unwrap();
        assert!(v2.packages.iter().all(|p| p.resource == Resource::Traffic), "{v2:?}");
    }

    #[test]
    fn an_older_v3_line_without_region_reads_as_mainland() {
        let line = r#"{"at": "2026-05-01T00:10:00Z", "TrafficPackages": [{"Id": 9, "Bytes": 100, "BytesUsed": 1,
            "Status": "enabled", "EnableTime": "2026-01-01 00:00:00", "ExpireTime": "2027-01-01 00:00:00"}]}"#;
        let back = parse_record(line, CHINA_STANDARD_TIME).unwrap();
        assert_eq!(back.packages[0].region, Region::Mainland);
        let bad = line.replace("\"Id\": 9,", "\"Id\": 9, \"Region\": 12,");
        let e = parse_record(&bad, CHINA_STANDARD_TIME).unwrap_err();
        assert!(e.contains("Region"), "{e}");
        let https_bad = r#"{"at": "2026-05-01T00:10:00Z", "HttpsPackages": [{"Id": 9, "Size": 100, "Status": "enabled",
            "EnableTime": "2026-01-01 00:00:00", "ExpireTime": "2027-01-01 00:00:00"}]}"#;
        let e = parse_record(https_bad, CHINA_STANDARD_TIME).unwrap_err();
        assert!(e.contains("HttpsPackages[0].SizeUsed"), "{e}");
    }

    #[test]
    fn a_bad_record_says_what_is_wrong() {
        let e = parse_record(r#"{"at": "yesterday", "data": []}"#, CHINA_STANDARD_TIME).unwrap_err();
        assert!(e.contains("RFC 3339"), "{e}");
        let e = parse_record(r#"{"at": "2026-05-01T00:10:00Z"}"#, CHINA_STANDARD_TIME).unwrap_err();
        assert!(e.contains("neither"), "{e}");
        let e = parse_record(
            r#"{"at": "2026-05-01T00:10:00Z", "data": [{"id": 1}]}"#,
            CHINA_STANDARD_TIME,
        )
        .unwrap_err();
        assert!(e.contains("data[0]"), "{e}");
    }
}
