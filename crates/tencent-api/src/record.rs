//! Recorded polls, one JSON object per line, as `cdnquota backtest` reads
//! them and `run` writes them (`record_polls`): `{"at": RFC 3339, "data":
//! [...]}` with `data` exactly GetPackage's list (API v2), or `{"at": ...,
//! "TrafficPackages": [...]}` as DescribeTrafficPackages lists them (API
//! 3.0). Times inside the packages are in the API's zone, as the APIs send
//! them.

use crate::settings::ApiVersion;
use cdnquota_core::model::{Package, Snapshot};
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
    } else if let Some(list) = object.remove("TrafficPackages") {
        let count = list.as_array().map_or(0, Vec::len);
        let mut response = Map::new();
        response.insert("TotalCount".into(), json!(count));
        response.insert("TrafficPackages".into(), list);
        super::v3_response::parse_page(&response, offset)
            .map_err(|e| e.to_string())?
            .packages
    } else {
        return Err("neither `data` (GetPackage) nor `TrafficPackages` (DescribeTrafficPackages) is there".into());
    };
    let (packages, _) = super::v2_response::dedupe_packages(packages);
    Ok(Snapshot { taken_at, packages })
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

fn v3_package(p: &Package, offset: FixedOffset) -> Value {
    json!({
        "Id": p.id,
        "Type": p.kind,
        "Bytes": p.size_bytes,
        "BytesUsed": p.used_bytes,
        "Status": p.status,
        "CreateTime": p.created_at.map(|t| api_time(t, offset)),
        "EnableTime": api_time(p.enabled_at, offset),
        "ExpireTime": api_time(p.expires_at, offset),
        "TrueEnableTime": api_time(p.enabled_at, offset),
        "TrueExpireTime": api_time(p.expires_at, offset),
        "AutoExtension": p.auto_extension,
        "ExtensionMode": p.extension_mode.map(|m| m.code()),
        "Area": p.area,
    })
}

/// One record line (without the newline) for `snapshot` of an account read
/// through `api`. Packages that expired more than `keep_expired` before the
/// poll are left out: years of them change nothing a backtest looks at.
pub fn to_record(snapshot: &Snapshot, api: ApiVersion, offset: FixedOffset, keep_expired: chrono::TimeDelta) -> String {
    let cutoff = snapshot.taken_at - keep_expired;
    let listed = snapshot.packages.iter().filter(|p| p.expires_at >= cutoff);
    let at = snapshot.taken_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let record = match api {
        ApiVersion::V2 => json!({"at": at, "data": listed.map(|p| v2_package(p, offset)).collect::<Vec<_>>()}),
        ApiVersion::V3 => {
            json!({"at": at, "TrafficPackages": listed.map(|p| v3_package(p, offset)).collect::<Vec<_>>()})
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
