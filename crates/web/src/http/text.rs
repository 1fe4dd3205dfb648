//! [`Text`]: a JSON string field that must be a string.
//!
//! poem-openapi's `String` also takes a JSON number or boolean (`{"name": false}` becomes
//! `"false"`), which the OpenAPI document (and every client reading it) says is invalid. Request
//! bodies use `Text` instead, so what the document calls invalid is refused with 400.

use std::borrow::Cow;

use poem_openapi::registry::MetaSchemaRef;
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

/// A string from a JSON body that was a JSON string.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Text(pub String);

impl std::ops::Deref for Text {
    type Target = String;
    fn deref(&self) -> &String {
        &self.0
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Type for Text {
    const IS_REQUIRED: bool = true;

    type RawValueType = String;

    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(s)) => Ok(Text(s)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_strings_are_text() {
        assert_eq!(Text::parse_from_json(Some(Value::String("ok".into()))).unwrap().0, "ok");
        for bad in [
            Value::Bool(false),
            serde_json::json!(12),
            Value::Null,
            serde_json::json!([]),
        ] {
            assert!(Text::parse_from_json(Some(bad.clone())).is_err(), "{bad}");
        }
        assert!(Text::parse_from_json(None).is_err());
        assert!(<Option<Text>>::parse_from_json(Some(Value::Null)).unwrap().is_none());
    }
}
