//! Percent-encoding of request parameters (RFC 3986: everything but
//! unreserved characters is escaped) and its inverse for the simulator.
//!
//! Written here rather than pulled in: the two functions are a few lines and
//! must match the signature rules exactly.

/// Percent-encodes every byte that is not an RFC 3986 unreserved character.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Encodes parameters as `name=value&...` for a query string or a form body.
pub fn encode_pairs(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Decodes `%XX` escapes and `+` (a space in form bodies); `None` when an
/// escape is broken or the result is not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Splits `a=1&b=2` into decoded pairs; `None` when any part is malformed.
pub fn decode_pairs(text: &str) -> Option<Vec<(String, String)>> {
    text.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            Some((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_awkward_values() {
        let params: Vec<(String, String)> = [
            ("plain", "abc-_.~"),
            ("spaces", "a b  c"),
            ("reserved", "=&+%/?#"),
            ("cjk", "流量包 五十"),
            ("under_score", "x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let wire = encode_pairs(&params);
        assert!(!wire.contains(' ') && !wire.contains('+'));
        assert_eq!(decode_pairs(&wire), Some(params));
    }

    #[test]
    fn encodes_exactly_once() {
        assert_eq!(percent_encode("a+b=c"), "a%2Bb%3Dc");
        assert_eq!(percent_encode("%2B"), "%252B");
        assert_eq!(percent_encode("流"), "%E6%B5%81");
    }

    #[test]
    fn rejects_broken_escapes() {
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("abc%2"), None);
        assert_eq!(percent_decode("%FF"), None);
    }
}
