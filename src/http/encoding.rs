//! Content negotiation for `Accept-Encoding` (RFC 9110, section 12.5.3):
//! only what the daemon can send, gzip or the body as is.

/// Whether a client sending `accept_encoding` should get gzip: it accepts
/// gzip (or `x-gzip`, or `*`) with a non-zero weight, and does not weigh
/// `identity` higher.
pub fn prefers_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(header) = accept_encoding else {
        return false;
    };
    let mut gzip = None;
    let mut any = None;
    let mut identity = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let mut weight = 1.0f64;
        for param in parts {
            if let Some((name, value)) = param.split_once('=')
                && name.trim().eq_ignore_ascii_case("q")
            {
                // A weight that does not parse is no weight: refused.
                weight = value.trim().parse().unwrap_or(0.0);
            }
        }
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(weight),
            "*" => any = Some(weight),
            "identity" => identity = Some(weight),
            _ => {}
        }
    }
    let gzip = gzip.or(any).unwrap_or(0.0);
    gzip > 0.0 && identity.is_none_or(|identity| gzip >= identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_when_accepted_and_not_outweighed() {
        for yes in [
            "gzip",
            "GZIP",
            "gzip, deflate, br",
            "deflate, gzip;q=0.5",
            "x-gzip",
            "*",
            "identity;q=0.5, gzip",
            "gzip;q=1.0, identity; q=0.5, *;q=0",
        ] {
            assert!(prefers_gzip(Some(yes)), "{yes}");
        }
        for no in [
            "",
            "identity",
            "deflate, br",
            "gzip;q=0",
            "gzip;q=0.000",
            "gzip;q=x",
            "*;q=0",
            "gzip;q=0.5, identity",
            "*, gzip;q=0",
        ] {
            assert!(!prefers_gzip(Some(no)), "{no}");
        }
        assert!(!prefers_gzip(None));
    }
}
