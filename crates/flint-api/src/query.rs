//! The query string, as the handlers read it.

use crate::error::ApiResponseError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use flint_types::ApiError;

/// `Marker` and `MaxItems` of a listing.
pub(crate) struct Page {
    pub marker: Option<String>,
    pub max_items: Option<i64>,
}

/// Query parameters in order; repeated keys (`tagKeys`) appear repeatedly.
#[derive(Debug, Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self, ApiResponseError> {
        serde_urlencoded::from_str::<Vec<(String, String)>>(raw.unwrap_or_default())
            .map(Query)
            .map_err(|e| ApiError::Validation(format!("Malformed query string: {e}")).into())
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Where a listing starts and how long its page is.
    pub(crate) fn page(&self) -> Result<Page, ApiResponseError> {
        Ok(Page {
            marker: self.marker(),
            max_items: self.max_items()?,
        })
    }

    /// `MaxItems`, when given, as a number (ValidationException otherwise).
    fn max_items(&self) -> Result<Option<i64>, ApiResponseError> {
        match self.get("MaxItems") {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| ApiError::constraint(v, "maxItems", "Member must be a number").into()),
        }
    }

    /// `Marker`, when given.
    pub(crate) fn marker(&self) -> Option<String> {
        self.get("Marker").map(str::to_owned)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiResponseError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Query::parse(parts.uri.query())
    }
}
