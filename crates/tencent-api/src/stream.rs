//! Reading a long list inside a JSON answer one element at a time: each
//! element becomes a small JSON tree, is turned into a package, and is
//! dropped before the next, so a list of thousands never exists as a tree
//! (which takes several times the answer's own size).

use super::error::ApiError;
use cdnquota_core::model::Package;
use serde::de;
use serde_json::Value;
use std::fmt;

/// What a list field held.
pub(crate) enum Listed {
    /// A list: its packages, or the first element's error.
    Items(Result<Vec<Package>, ApiError>),
    /// `null`.
    Null,
    /// Something else, kept to say what it was.
    Other(Value),
}

/// Reads a list field with `parse` applied to each element and its index.
pub(crate) struct ListSeed<F>(pub F);

impl<'de, F: FnMut(usize, &Value) -> Result<Package, ApiError>> de::DeserializeSeed<'de> for ListSeed<F> {
    type Value = Listed;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Listed, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, F: FnMut(usize, &Value) -> Result<Package, ApiError>> de::Visitor<'de> for ListSeed<F> {
    type Value = Listed;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of packages")
    }

    fn visit_seq<A: de::SeqAccess<'de>>(mut self, mut seq: A) -> Result<Listed, A::Error> {
        let mut packages = Vec::new();
        let mut failed = None;
        let mut i = 0;
        while let Some(item) = seq.next_element::<Value>()? {
            if failed.is_none() {
                match (self.0)(i, &item) {
                    Ok(p) => packages.push(p),
                    Err(e) => failed = Some(e),
                }
            }
            i += 1;
        }
        packages.shrink_to_fit();
        Ok(Listed::Items(failed.map_or(Ok(packages), Err)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Listed, E> {
        Ok(Listed::Null)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Listed, A::Error> {
        let value: Value = de::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Listed::Other(value))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Listed, E> {
        Ok(Listed::Other(Value::from(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Listed, E> {
        Ok(Listed::Other(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Listed, E> {
        Ok(Listed::Other(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Listed, E> {
        Ok(Listed::Other(Value::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Listed, E> {
        Ok(Listed::Other(Value::from(v)))
    }
}

/// A serde_json error as the API error it stands for: a cut answer is
/// transient, anything else malformed.
pub(crate) fn json_error(e: serde_json::Error) -> ApiError {
    match e.classify() {
        serde_json::error::Category::Data => super::json_fields::malformed(e.to_string()),
        category => ApiError::Malformed {
            truncated: category == serde_json::error::Category::Eof,
            detail: format!("not JSON: {e}"),
        },
    }
}
