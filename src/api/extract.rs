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

/// Turns a serde message into a 422 located at `place` ("body" or "query").
fn deserialize_error(place: &str, message: &str, input: Value) -> ApiError {
    if let Some(field) = MISSING_FIELD.captures(message).map(|c| c[1].to_string()) {
        return ApiError::validation("missing", &[place, &field], "Field required", input);
    }
    let message = message.split(" at line ").next().unwrap_or(message);
    ApiError::validation("value_error", &[place], message, input)
}

/// A JSON body. The body is read as JSON whatever its content type, as FastAPI does.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::missing(&["body"]));
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::validation(
                "json_invalid",
                &["body", &e.column().to_string()],
                "JSON decode error",
                Value::Null,
            )
        })?;
        serde_json::from_value::<T>(value.clone())
            .map(Json)
            .map_err(|e| deserialize_error("body", &e.to_string(), value))
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// An optional JSON body: absent or empty means `T::default()`.
pub struct OptionalJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(OptionalJson(value)),
            Err(err)
                if err.status == 422
                    && err.details["errors"][0]["loc"] == serde_json::json!(["body"]) =>
            {
                Ok(OptionalJson(T::default()))
            }
            Err(err) => Err(err),
        }
    }
}

/// Query parameters.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str::<T>(raw)
            .map(Query)
            .map_err(|e| deserialize_error("query", &e.to_string(), Value::Null))
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
