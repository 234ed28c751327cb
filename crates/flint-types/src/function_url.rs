//! Function URL configurations (Create/Get/Update/Delete/ListFunctionUrlConfig(s)): the wire
//! shapes and the model's constraints.

use crate::error::ApiError;
use serde::{Deserialize, Serialize};

pub const AUTH_TYPES: &[&str] = &["NONE", "AWS_IAM"];
pub const INVOKE_MODES: &[&str] = &["BUFFERED", "RESPONSE_STREAM"];
/// The model's pattern for a URL's qualifier: an alias name, never a version number.
pub const QUALIFIER_PATTERN: &str = "((?!^\\d+$)^[0-9a-zA-Z-_]+$)";

/// Cross-origin resource sharing settings of a URL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Cors {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_headers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_methods: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_origins: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expose_headers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
}

/// The body of CreateFunctionUrlConfig and UpdateFunctionUrlConfig.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionUrlConfigRequest {
    pub auth_type: Option<String>,
    pub cors: Option<Cors>,
    pub invoke_mode: Option<String>,
}

/// What the operations answer with.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionUrlConfig {
    pub function_url: String,
    pub function_arn: String,
    pub auth_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
    pub creation_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoke_mode: Option<String>,
}

fn list_limits(
    items: &Option<Vec<String>>,
    field: &str,
    max_items: usize,
    item_len: (usize, usize),
) -> Result<(), ApiError> {
    let Some(items) = items else {
        return Ok(());
    };
    if items.len() > max_items {
        return Err(ApiError::constraint(
            format!("[{}]", items.join(", ")),
            field,
            &format!("Member must have length less than or equal to {max_items}"),
        ));
    }
    for item in items {
        let n = item.chars().count();
        if n < item_len.0 {
            return Err(ApiError::too_short(item, field, item_len.0));
        }
        if n > item_len.1 {
            return Err(ApiError::too_long(item, field, item_len.1));
        }
    }
    Ok(())
}

/// The request's constraints. `AuthType` is required on create, optional on update.
pub fn check_request(req: &FunctionUrlConfigRequest, create: bool) -> Result<(), ApiError> {
    match &req.auth_type {
        None if create => {
            return Err(ApiError::constraint(
                "null",
                "authType",
                "Member must not be null",
            ));
        }
        Some(t) if !AUTH_TYPES.contains(&t.as_str()) => {
            return Err(ApiError::enum_value(t, "authType", AUTH_TYPES));
        }
        _ => {}
    }
    if let Some(c) = &req.cors {
        list_limits(&c.allow_headers, "cors.allowHeaders", 100, (0, 1024))?;
        list_limits(&c.allow_methods, "cors.allowMethods", 6, (0, 6))?;
        list_limits(&c.allow_origins, "cors.allowOrigins", 100, (1, 253))?;
        list_limits(&c.expose_headers, "cors.exposeHeaders", 100, (0, 1024))?;
        if let Some(age) = c.max_age {
            if age < 0 {
                return Err(ApiError::too_small(age, "cors.maxAge", 0));
            }
            if age > 86_400 {
                return Err(ApiError::too_large(age, "cors.maxAge", 86_400));
            }
        }
    }
    if let Some(m) = &req.invoke_mode
        && !INVOKE_MODES.contains(&m.as_str())
    {
        return Err(ApiError::enum_value(m, "invokeMode", INVOKE_MODES));
    }
    Ok(())
}

/// A URL's qualifier must be an alias name: `$LATEST` and version numbers are refused.
pub fn check_qualifier(q: &str) -> Result<(), ApiError> {
    let ok = !q.is_empty()
        && q.len() <= 128
        && q.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !q.bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ApiError::pattern(q, "qualifier", QUALIFIER_PATTERN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints() {
        let ok = FunctionUrlConfigRequest {
            auth_type: Some("NONE".into()),
            ..Default::default()
        };
        assert!(check_request(&ok, true).is_ok());
        assert!(check_request(&FunctionUrlConfigRequest::default(), false).is_ok());
        let e = check_request(&FunctionUrlConfigRequest::default(), true).unwrap_err();
        assert!(
            e.to_string()
                .contains("'authType' failed to satisfy constraint: Member must not be null")
        );
        let bad = FunctionUrlConfigRequest {
            auth_type: Some("IAM".into()),
            ..Default::default()
        };
        assert!(
            check_request(&bad, true)
                .unwrap_err()
                .to_string()
                .contains("[NONE, AWS_IAM]")
        );
        let mode = FunctionUrlConfigRequest {
            invoke_mode: Some("STREAM".into()),
            ..ok.clone()
        };
        assert!(
            check_request(&mode, true)
                .unwrap_err()
                .to_string()
                .contains("invokeMode")
        );
        let cors = FunctionUrlConfigRequest {
            cors: Some(Cors {
                allow_methods: Some(vec!["GET".into(), "OPTIONSX".into()]),
                ..Default::default()
            }),
            ..ok.clone()
        };
        assert!(
            check_request(&cors, true)
                .unwrap_err()
                .to_string()
                .contains("cors.allowMethods")
        );
        let age = FunctionUrlConfigRequest {
            cors: Some(Cors {
                max_age: Some(86_401),
                ..Default::default()
            }),
            ..ok
        };
        assert!(
            check_request(&age, true)
                .unwrap_err()
                .to_string()
                .contains("cors.maxAge")
        );
        assert!(check_qualifier("live").is_ok());
        assert!(check_qualifier("v2").is_ok());
        assert!(check_qualifier("1").is_err());
        assert!(check_qualifier("$LATEST").is_err());
    }
}
