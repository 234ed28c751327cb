//! The function an operation acts on: the `{function}` path segment (a name, a partial or
//! full ARN, optionally `:qualifier`), within the operation's length limit.

use super::path::path_params;
use crate::error::ApiResponseError;
use crate::query::Query;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use flint_types::{ApiError, FunctionRef, Qualifier};

/// The function of the path, at most `MAX_LEN` characters (Lambda's model: 140 for most
/// operations, 170 or 256 for those that take a namespaced name). A qualifier can only come
/// with the name (`name:qualifier`); the query is not read.
pub(crate) struct Function<const MAX_LEN: usize>(pub FunctionRef);

/// As [`Function`], for operations that also take a `?Qualifier=` (which must agree with a
/// qualifier in the name).
pub(crate) struct QualifiedFunction<const MAX_LEN: usize>(pub FunctionRef);

/// The raw `{function}` path segment (percent-decoded; lossily, so that a name that is not
/// UTF-8 is refused by the name's own validation, in AWS's shape).
pub(crate) async fn function_segment(
    parts: &mut Parts,
    _state: &AppState,
) -> Result<String, Response> {
    path_params(parts)
        .into_iter()
        .find_map(|(name, value)| (name == "function").then_some(value))
        .ok_or_else(|| {
            ApiResponseError::from(flint_types::ApiError::Service(
                "An internal error occurred in flint. See the server log.".into(),
            ))
            .into_response()
        })
}

/// Parses `raw` with the operation's length limit, then merges the query's qualifier.
pub(crate) fn function_ref(
    state: &AppState,
    raw: &str,
    max_len: usize,
    query_qualifier: Option<&str>,
) -> Result<FunctionRef, ApiResponseError> {
    let parsed = FunctionRef::parse(raw, max_len, state.control.resources());
    // A bad `?Qualifier=` and a bad name are reported together, the qualifier
    // first, as AWS does (recorded: test_function_name_and_qualifier_validation
    // [full_arn_and_qualifier_too_long_and_invalid_region-*]).
    match (parsed, query_qualifier.map(Qualifier::parse)) {
        (Err(name), Some(Err(q))) => Err(ApiError::merged(q, [name]).into()),
        (Err(name), _) => Err(name.into()),
        (Ok(fref), _) => Ok(fref.with_query_qualifier(query_qualifier)?),
    }
}

impl<const MAX_LEN: usize> FromRequestParts<AppState> for Function<MAX_LEN> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let raw = function_segment(parts, state).await?;
        function_ref(state, &raw, MAX_LEN, None)
            .map(Self)
            .map_err(IntoResponse::into_response)
    }
}

impl<const MAX_LEN: usize> FromRequestParts<AppState> for QualifiedFunction<MAX_LEN> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let raw = function_segment(parts, state).await?;
        let query = Query::parse(parts.uri.query()).map_err(IntoResponse::into_response)?;
        function_ref(state, &raw, MAX_LEN, query.get("Qualifier"))
            .map(Self)
            .map_err(IntoResponse::into_response)
    }
}
