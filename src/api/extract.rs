//! Extractors that answer bad input with the contract's envelope (422 `Validation error`
//! with FastAPI-shaped `details.errors`) instead of axum's plain-text rejections.

use std::sync::LazyLock;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use regex::Regex;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

static MISSING_FIELD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"missing field `([^`]+)`").expect("regex compiles"));

/// Turns a serde error at `path` inside `place` ("body" or "query") into a 422 whose `loc`
/// names the field (`["body", "password"]`), so a wrong type is never mistaken for an absent
/// body.
fn deserialize_error(place: &str, path: &serde_path_to_error::Path, message: &str) -> ApiError {
    let mut loc: Vec<String> = vec![place.to_string()];
    for segment in path.iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => loc.push(index.to_string()),
            serde_path_to_error::Segment::Map { key } => loc.push(key.clone()),
            serde_path_to_error::Segment::Enum { variant } => loc.push(variant.clone()),
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    if let Some(field) = MISSING_FIELD.captures(message).map(|c| c[1].to_string()) {
        loc.push(field);
        let loc: Vec<&str> = loc.iter().map(String::as_str).collect();
        return ApiError::validation("missing", &loc, "Field required", Value::Null);
    }
    let message = message.split(" at line ").next().unwrap_or(message);
    let loc: Vec<&str> = loc.iter().map(String::as_str).collect();
    ApiError::validation("value_error", &loc, message, Value::Null)
}

/// Reads the body; `None` when it is absent or only whitespace.
async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Option<Bytes>, ApiError> {
    let bytes = Bytes::from_request(req, state)
        .await
        .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    Ok((!bytes.iter().all(u8::is_ascii_whitespace)).then_some(bytes))
}

/// Parses a present body as `T`: invalid JSON and a value of the wrong shape are both 422.
fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::validation(
            "json_invalid",
            &["body", &e.column().to_string()],
            "JSON decode error",
            Value::Null,
        )
    })?;
    serde_path_to_error::deserialize(value)
        .map_err(|e| deserialize_error("body", e.path(), &e.inner().to_string()))
}

/// A JSON body. The body is read as JSON whatever its content type, as FastAPI does.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match body_bytes(req, state).await? {
            None => Err(ApiError::missing(&["body"])),
            Some(bytes) => parse_body(&bytes).map(Json),
        }
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// An optional JSON body: absent or whitespace-only means `T::default()`. A body that is
/// present must parse and match `T` (422 naming the field otherwise): a password sent with a
/// wrong type must never turn into a public link.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match body_bytes(req, state).await? {
            None => Ok(OptionalJson(T::default())),
            Some(bytes) => parse_body(&bytes).map(OptionalJson),
        }
    }
}

/// Query parameters.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or("");
        let pairs = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
        serde_path_to_error::deserialize(pairs)
            .map(Query)
            .map_err(|e| deserialize_error("query", e.path(), &e.inner().to_string()))
    }
}

/// Every query pair, repeats kept (for parameters that may be given more than once).
pub struct QueryPairs(pub Vec<(String, String)>);

impl QueryPairs {
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn last(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// An integer parameter within `min..=max`, or the default when absent.
    pub fn int(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        let Some(raw) = self.last(name) else {
            return Ok(default);
        };
        let loc = ["query", name];
        let n: i64 = raw.trim().parse().map_err(|_| {
            ApiError::validation(
                "int_parsing",
                &loc,
                "Input should be a valid integer",
                Value::from(raw),
            )
        })?;
        if n < min {
            return Err(ApiError::validation(
                "greater_than_equal",
                &loc,
                format!("Input should be greater than or equal to {min}"),
                Value::from(raw),
            ));
        }
        if n > max {
            return Err(ApiError::validation(
                "less_than_equal",
                &loc,
                format!("Input should be less than or equal to {max}"),
                Value::from(raw),
            ));
        }
        Ok(n)
    }

    /// A boolean parameter (`true/false/1/0/yes/no/on/off`), or the default when absent.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.last(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "off") => Ok(false),
            Some(v) => Err(ApiError::validation(
                "bool_parsing",
                &["query", name],
                "Input should be a valid boolean",
                Value::from(v),
            )),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or("");
        Ok(QueryPairs(
            form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .collect(),
        ))
    }
}
