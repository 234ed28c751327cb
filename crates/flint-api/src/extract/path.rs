//! Path parameters (`{function}`, `{alias}`, `{resource}`, `{statement}`, ...), percent-decoded
//! as axum's own `Path` does but never refused by the router: a segment that is not UTF-8
//! once decoded (`%FF%FE`) is decoded lossily (U+FFFD), so the operation's own validation
//! answers it in AWS's shape (a `ValidationException` naming the field), as it answers any
//! other name that breaks its pattern, instead of axum's `text/plain` 400.

use crate::error::ApiResponseError;
use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use flint_types::ApiError;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The path parameters of the matched route, by name, decoded: a drop-in for axum's `Path`
/// (a single parameter deserializes into a `String` or a struct, several into a struct).
pub(crate) struct Path<T>(pub T);

/// Each `{name}` of the matched route's template with the request path's segment in its
/// place, percent-decoded (lossily). Route parameters here always span exactly one segment.
pub(crate) fn path_params(parts: &Parts) -> Vec<(String, String)> {
    let Some(template) = parts.extensions.get::<MatchedPath>() else {
        return Vec::new();
    };
    template
        .as_str()
        .split('/')
        .zip(parts.uri.path().split('/'))
        .filter_map(|(pattern, raw)| {
            let name = pattern.strip_prefix('{')?.strip_suffix('}')?;
            Some((name.to_string(), percent_decode_lossy(raw)))
        })
        .collect()
}

/// `%XY` as a byte (a malformed escape stays as it is; `+` is a plus in a path), the bytes
/// then read as UTF-8 with U+FFFD for what is not.
fn percent_decode_lossy(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiResponseError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let params = path_params(parts);
        if let [(_, only)] = params.as_slice()
            && let Ok(value) = serde_json::from_value(Value::String(only.clone()))
        {
            return Ok(Self(value));
        }
        let map: Map<String, Value> = params
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        serde_json::from_value(Value::Object(map))
            .map(Self)
            .map_err(|e| {
                // A handler that asks for a parameter its route does not have: flint's bug.
                tracing::error!(path = parts.uri.path(), "path parameters: {e}");
                ApiError::Service("An internal error occurred in flint. See the server log.".into())
                    .into()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::percent_decode_lossy;

    #[test]
    fn segments_decode_as_axum_does_and_never_fail() {
        assert_eq!(percent_decode_lossy("my-function"), "my-function");
        assert_eq!(percent_decode_lossy("arn%3Aaws%3Alambda"), "arn:aws:lambda");
        assert_eq!(percent_decode_lossy("a+b%20c"), "a+b c");
        assert_eq!(percent_decode_lossy("%FF%FE"), "\u{fffd}\u{fffd}");
        assert_eq!(percent_decode_lossy("caf%C3%A9"), "café");
        assert_eq!(percent_decode_lossy("100%"), "100%");
        assert_eq!(percent_decode_lossy("%4"), "%4");
        assert_eq!(percent_decode_lossy("%zz%41"), "%zzA");
    }
}
