//! Resource-based policies (AddPermission / RemovePermission / GetPolicy): the request's
//! constraints (ValidationException, in the model's order), the statement Lambda writes for
//! it, and the evaluation of a policy for one request.
//!
//! A statement is kept in exactly the JSON shape GetPolicy shows, so the stored policy is the
//! answer: `{"Sid","Effect":"Allow","Principal","Action","Resource","Condition"?}`.

use crate::error::ApiError;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Largest policy document (bytes of its JSON).
pub const MAX_POLICY_BYTES: usize = 20_480;

pub const STATEMENT_ID_PATTERN: &str = "([a-zA-Z0-9-_]+)";
pub const ACTION_PATTERN: &str = "(lambda:[*]|lambda:[a-zA-Z]+|[*])";
pub const PRINCIPAL_PATTERN: &str = "[^\\s]+";
pub const SOURCE_ACCOUNT_PATTERN: &str = "\\d{12}";
pub const EVENT_SOURCE_TOKEN_PATTERN: &str = "[a-zA-Z0-9._\\-]+";
pub const PRINCIPAL_ORG_PATTERN: &str = "o-[a-z0-9]{10,32}";
pub const SOURCE_ARN_PATTERN: &str = "arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)";

/// The body of AddPermission.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddPermissionRequest {
    pub statement_id: Option<String>,
    pub action: Option<String>,
    pub principal: Option<String>,
    pub source_arn: Option<String>,
    pub source_account: Option<String>,
    pub event_source_token: Option<String>,
    pub revision_id: Option<String>,
    #[serde(rename = "PrincipalOrgID")]
    pub principal_org_id: Option<String>,
    pub function_url_auth_type: Option<String>,
    pub invoked_via_function_url: Option<bool>,
}

fn required<'a>(v: &'a Option<String>, field: &str) -> Result<&'a str, ApiError> {
    v.as_deref()
        .ok_or_else(|| ApiError::constraint("null", field, "Member must not be null"))
}

fn is_statement_id(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_action(s: &str) -> bool {
    s == "*"
        || s.strip_prefix("lambda:").is_some_and(|rest| {
            rest == "*" || (!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphabetic()))
        })
}

fn is_org_id(s: &str) -> bool {
    s.strip_prefix("o-").is_some_and(|rest| {
        (10..=32).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// `arn:aws…:<service>:<region?>:<account?>:<rest>`, the model's `Arn` pattern.
pub fn is_source_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return false;
    }
    let partition_ok = parts[1]
        .strip_prefix("aws")
        .is_some_and(|r| r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    let service_ok = !parts[2].is_empty()
        && parts[2]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let region_ok = parts[3].is_empty() || crate::ident::is_region(parts[3]);
    let account_ok = parts[4].is_empty()
        || (parts[4].len() == 12 && parts[4].bytes().all(|b| b.is_ascii_digit()));
    partition_ok && service_ok && region_ok && account_ok
}

/// The request's constraints, as the model states them, in its member order.
pub fn check_add_permission(req: &AddPermissionRequest) -> Result<(), ApiError> {
    let sid = required(&req.statement_id, "statementId")?;
    if sid.is_empty() {
        return Err(ApiError::too_short(sid, "statementId", 1));
    }
    if sid.chars().count() > 100 {
        return Err(ApiError::too_long(sid, "statementId", 100));
    }
    if !is_statement_id(sid) {
        return Err(ApiError::pattern(sid, "statementId", STATEMENT_ID_PATTERN));
    }
    let action = required(&req.action, "action")?;
    if !is_action(action) {
        return Err(ApiError::pattern(action, "action", ACTION_PATTERN));
    }
    let principal = required(&req.principal, "principal")?;
    if principal.chars().count() > 2048 {
        return Err(ApiError::too_long(principal, "principal", 2048));
    }
    if principal.is_empty() || principal.chars().any(char::is_whitespace) {
        return Err(ApiError::pattern(principal, "principal", PRINCIPAL_PATTERN));
    }
    if let Some(arn) = &req.source_arn
        && !is_source_arn(arn)
    {
        return Err(ApiError::pattern(arn, "sourceArn", SOURCE_ARN_PATTERN));
    }
    if let Some(t) = &req.function_url_auth_type
        && t != "NONE"
        && t != "AWS_IAM"
    {
        return Err(ApiError::enum_value(
            t,
            "functionUrlAuthType",
            &["NONE", "AWS_IAM"],
        ));
    }
    if let Some(a) = &req.source_account {
        if a.len() > 12 {
            return Err(ApiError::too_long(a, "sourceAccount", 12));
        }
        if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::pattern(
                a,
                "sourceAccount",
                SOURCE_ACCOUNT_PATTERN,
            ));
        }
    }
    if let Some(t) = &req.event_source_token {
        if t.len() > 256 {
            return Err(ApiError::too_long(t, "eventSourceToken", 256));
        }
        if t.is_empty()
            || !t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(ApiError::pattern(
                t,
                "eventSourceToken",
                EVENT_SOURCE_TOKEN_PATTERN,
            ));
        }
    }
    if let Some(o) = &req.principal_org_id {
        if o.len() < 12 {
            return Err(ApiError::too_short(o, "principalOrgID", 12));
        }
        if o.len() > 34 {
            return Err(ApiError::too_long(o, "principalOrgID", 34));
        }
        if !is_org_id(o) {
            return Err(ApiError::pattern(
                o,
                "principalOrgID",
                PRINCIPAL_ORG_PATTERN,
            ));
        }
    }
    if !is_known_principal_form(principal) {
        return Err(ApiError::InvalidParameterValue(
            "The provided principal was invalid. Please check the principal and try again.".into(),
        ));
    }
    Ok(())
}

/// Lambda's semantic check of a principal (after the model's pattern held):
/// `*`, an account id, an ARN, or an AWS service principal. A name outside
/// AWS's service domains (`invalid.nonaws.com`) is refused, as recorded in
/// `test_permission_exceptions` (add_permission_principal_invalid).
pub fn is_known_principal_form(principal: &str) -> bool {
    const SERVICE_DOMAINS: [&str; 3] = [".amazonaws.com", ".amazonaws.com.cn", ".amazon.com"];
    let service = SERVICE_DOMAINS.iter().any(|d| {
        principal.strip_suffix(d).is_some_and(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b))
        })
    });
    principal == "*"
        || (principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()))
        || principal.starts_with("arn:")
        || service
}

/// RemovePermission's statement id (the path member allows `.` too).
pub fn check_remove_statement_id(sid: &str) -> Result<(), ApiError> {
    if sid.chars().count() > 100 {
        return Err(ApiError::too_long(sid, "statementId", 100));
    }
    if sid.is_empty()
        || !sid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(ApiError::pattern(sid, "statementId", "([a-zA-Z0-9-_.]+)"));
    }
    Ok(())
}

/// How Lambda writes a principal: `*`, an account (`{"AWS": "arn:aws:iam::<id>:root"}`), an
/// ARN (`{"AWS": arn}`) or a service (`{"Service": name}`).
pub fn principal_json(principal: &str) -> Value {
    if principal == "*" {
        Value::from("*")
    } else if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        json!({ "AWS": format!("arn:aws:iam::{principal}:root") })
    } else if principal.starts_with("arn:") {
        json!({ "AWS": principal })
    } else {
        json!({ "Service": principal })
    }
}

/// The statement AddPermission adds for `req` on `resource` (the function's ARN, qualified
/// when the request named a qualifier). `req` must have passed [`check_add_permission`].
pub fn statement(req: &AddPermissionRequest, resource: &str) -> Value {
    let mut condition = Map::new();
    let mut string_equals = Map::new();
    if let Some(a) = &req.source_account {
        string_equals.insert("AWS:SourceAccount".into(), a.clone().into());
    }
    if let Some(o) = &req.principal_org_id {
        string_equals.insert("aws:PrincipalOrgID".into(), o.clone().into());
    }
    if let Some(t) = &req.event_source_token {
        string_equals.insert("lambda:EventSourceToken".into(), t.clone().into());
    }
    if let Some(t) = &req.function_url_auth_type {
        string_equals.insert("lambda:FunctionUrlAuthType".into(), t.clone().into());
    }
    if !string_equals.is_empty() {
        condition.insert("StringEquals".into(), Value::Object(string_equals));
    }
    if let Some(arn) = &req.source_arn {
        condition.insert("ArnLike".into(), json!({ "AWS:SourceArn": arn }));
    }
    if let Some(via) = req.invoked_via_function_url {
        condition.insert(
            "Bool".into(),
            json!({ "lambda:InvokedViaFunctionUrl": via.to_string() }),
        );
    }
    let mut s = json!({
        "Sid": req.statement_id.clone().unwrap_or_default(),
        "Effect": "Allow",
        "Principal": principal_json(req.principal.as_deref().unwrap_or_default()),
        "Action": req.action.clone().unwrap_or_default(),
        "Resource": resource,
    });
    if !condition.is_empty() {
        s["Condition"] = Value::Object(condition);
    }
    s
}

/// The whole policy document GetPolicy shows for `statements`.
pub fn document(statements: &[Value]) -> Value {
    json!({ "Version": "2012-10-17", "Id": "default", "Statement": statements })
}

/// Who is asking, and in which context, for [`policy_allows`].
#[derive(Debug, Clone, Default)]
pub struct AccessRequest<'a> {
    /// `*` for an anonymous caller (a function URL with `AuthType: NONE`); else the caller's
    /// account id.
    pub caller_account: Option<&'a str>,
    /// The caller's ARN (a user or role), when known.
    pub caller_arn: Option<&'a str>,
    /// A service principal calling on behalf of a resource (`s3.amazonaws.com`).
    pub service: Option<&'a str>,
    /// `lambda:InvokeFunction`, `lambda:InvokeFunctionUrl`, ...
    pub action: &'a str,
    pub source_arn: Option<&'a str>,
    pub source_account: Option<&'a str>,
    /// `NONE` or `AWS_IAM` for a request through a function URL.
    pub function_url_auth_type: Option<&'a str>,
    /// Whether the request came through a function URL.
    pub via_function_url: bool,
}

fn principal_matches(principal: &Value, req: &AccessRequest<'_>) -> bool {
    match principal {
        Value::String(s) => s == "*",
        Value::Object(m) => {
            if let Some(aws) = m.get("AWS").and_then(Value::as_str) {
                return aws == "*"
                    || req.caller_arn == Some(aws)
                    || req
                        .caller_account
                        .is_some_and(|a| aws == format!("arn:aws:iam::{a}:root"));
            }
            if let Some(service) = m.get("Service").and_then(Value::as_str) {
                return req.service == Some(service);
            }
            false
        }
        _ => false,
    }
}

/// `lambda:*` and `*` cover every action; otherwise the names must match (IAM action names
/// are case-insensitive).
fn action_matches(action: &str, wanted: &str) -> bool {
    action == "*" || action == "lambda:*" || action.eq_ignore_ascii_case(wanted)
}

/// IAM's `ArnLike`: `*` matches any run of characters, `?` one character, per whole string.
fn arn_like(pattern: &str, value: &str) -> bool {
    fn go(p: &[u8], v: &[u8]) -> bool {
        match (p.first(), v.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], v) || (!v.is_empty() && go(p, &v[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &v[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &v[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), value.as_bytes())
}

fn condition_holds(condition: Option<&Value>, req: &AccessRequest<'_>) -> bool {
    let Some(Value::Object(ops)) = condition else {
        return true;
    };
    ops.iter().all(|(op, keys)| {
        let Value::Object(keys) = keys else {
            return false;
        };
        keys.iter().all(|(key, want)| {
            let want = want.as_str().unwrap_or_default();
            let have = match key.to_ascii_lowercase().as_str() {
                "aws:sourcearn" => req.source_arn,
                "aws:sourceaccount" => req.source_account,
                "lambda:functionurlauthtype" => req.function_url_auth_type,
                "lambda:invokedviafunctionurl" => Some(if req.via_function_url {
                    "true"
                } else {
                    "false"
                }),
                // PrincipalOrgID and EventSourceToken: flint knows no organisations and
                // no event-source tokens, so such a statement never matches.
                _ => None,
            };
            let Some(have) = have else {
                return false;
            };
            match op.as_str() {
                "StringEquals" | "Bool" => have == want,
                "ArnLike" => arn_like(want, have),
                _ => false,
            }
        })
    })
}

/// Whether `statements` (a function's or qualifier's policy) allow `req`. Statements are all
/// `Allow` (Lambda's AddPermission writes no other kind); one matching statement is enough.
pub fn policy_allows(statements: &[Value], req: &AccessRequest<'_>) -> bool {
    statements.iter().any(|s| {
        s.get("Effect").and_then(Value::as_str) == Some("Allow")
            && s.get("Principal")
                .is_some_and(|p| principal_matches(p, req))
            && s.get("Action")
                .and_then(Value::as_str)
                .is_some_and(|a| action_matches(a, req.action))
            && condition_holds(s.get("Condition"), req)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(sid: &str, action: &str, principal: &str) -> AddPermissionRequest {
        AddPermissionRequest {
            statement_id: Some(sid.into()),
            action: Some(action.into()),
            principal: Some(principal.into()),
            ..Default::default()
        }
    }

    #[test]
    fn principals_outside_aws_are_invalid_parameters() {
        let check = |p: &str| check_add_permission(&req("s", "lambda:InvokeFunction", p));
        for ok in [
            "*",
            "123456789012",
            "arn:aws:iam::123456789012:user/u",
            "s3.amazonaws.com",
            "alexa-appkit.amazon.com",
            "events.amazonaws.com.cn",
        ] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "invalid.nonaws.com",
            ".amazonaws.com",
            "amazonaws.com",
            "12345",
        ] {
            let e = check(bad).unwrap_err();
            assert_eq!(e.code(), "InvalidParameterValueException", "{bad}");
            assert_eq!(
                e.to_string(),
                "The provided principal was invalid. Please check the principal and try again."
            );
        }
    }

    #[test]
    fn constraints_follow_the_model() {
        assert!(
            check_add_permission(&req("s-1_a", "lambda:InvokeFunction", "s3.amazonaws.com"))
                .is_ok()
        );
        assert!(check_add_permission(&req("s", "*", "*")).is_ok());
        assert!(check_add_permission(&req("s", "lambda:*", "123456789012")).is_ok());
        let e = check_add_permission(&req("bad sid", "lambda:InvokeFunction", "*")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "1 validation error detected: Value 'bad sid' at 'statementId' failed to satisfy constraint: Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)"
        );
        let e = check_add_permission(&req("s", "s3:GetObject", "*")).unwrap_err();
        assert!(e.to_string().contains("at 'action'"), "{e}");
        let e = check_add_permission(&req("s", "lambda:Invoke1", "*")).unwrap_err();
        assert!(e.to_string().contains("at 'action'"), "{e}");
        let e = check_add_permission(&req("s", "lambda:InvokeFunction", "a b")).unwrap_err();
        assert!(e.to_string().contains("at 'principal'"), "{e}");
        let mut r = req("s", "lambda:InvokeFunction", "*");
        r.source_account = Some("12345".into());
        assert!(
            check_add_permission(&r)
                .unwrap_err()
                .to_string()
                .contains("sourceAccount")
        );
        r.source_account = None;
        r.source_arn = Some("not-an-arn".into());
        assert!(
            check_add_permission(&r)
                .unwrap_err()
                .to_string()
                .contains("sourceArn")
        );
        r.source_arn = Some("arn:aws:s3:::my-bucket".into());
        assert!(check_add_permission(&r).is_ok());
        r.function_url_auth_type = Some("BASIC".into());
        assert!(
            check_add_permission(&r)
                .unwrap_err()
                .to_string()
                .contains("enum value set: [NONE, AWS_IAM]")
        );
        r.function_url_auth_type = None;
        r.principal_org_id = Some("o-abc".into());
        assert!(
            check_add_permission(&r)
                .unwrap_err()
                .to_string()
                .contains("principalOrgID")
        );
        r.principal_org_id = Some("o-abcdefghij".into());
        assert!(check_add_permission(&r).is_ok());
        let e = check_add_permission(&AddPermissionRequest::default()).unwrap_err();
        assert!(
            e.to_string()
                .contains("'statementId' failed to satisfy constraint: Member must not be null"),
            "{e}"
        );
        assert!(check_remove_statement_id("a.b-c_d").is_ok());
        assert!(check_remove_statement_id("a b").is_err());
    }

    #[test]
    fn statements_are_written_as_lambda_writes_them() {
        let mut r = req("sid1", "lambda:InvokeFunction", "s3.amazonaws.com");
        r.source_arn = Some("arn:aws:s3:::bucket".into());
        r.source_account = Some("123456789012".into());
        let s = statement(&r, "arn:aws:lambda:us-east-1:000000000000:function:f");
        assert_eq!(
            s,
            json!({
                "Sid": "sid1", "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "lambda:InvokeFunction",
                "Resource": "arn:aws:lambda:us-east-1:000000000000:function:f",
                "Condition": {
                    "StringEquals": {"AWS:SourceAccount": "123456789012"},
                    "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"}
                }
            })
        );
        assert_eq!(principal_json("*"), json!("*"));
        assert_eq!(
            principal_json("111122223333"),
            json!({"AWS": "arn:aws:iam::111122223333:root"})
        );
        assert_eq!(
            principal_json("arn:aws:iam::111122223333:role/r"),
            json!({"AWS": "arn:aws:iam::111122223333:role/r"})
        );
        let mut u = req("url", "lambda:InvokeFunctionUrl", "*");
        u.function_url_auth_type = Some("NONE".into());
        let s = statement(&u, "arn:f");
        assert_eq!(
            s["Condition"],
            json!({"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}})
        );
        assert!(
            statement(&req("a", "*", "*"), "arn:f")
                .get("Condition")
                .is_none()
        );
    }

    #[test]
    fn evaluation_needs_a_matching_principal_action_and_condition() {
        let mut public_url = req("url", "lambda:InvokeFunctionUrl", "*");
        public_url.function_url_auth_type = Some("NONE".into());
        let policy = vec![statement(&public_url, "arn:f")];
        let anonymous = AccessRequest {
            caller_account: Some("*"),
            action: "lambda:InvokeFunctionUrl",
            function_url_auth_type: Some("NONE"),
            via_function_url: true,
            ..Default::default()
        };
        assert!(policy_allows(&policy, &anonymous));
        // Wrong auth type, wrong action, no policy: refused.
        let iam = AccessRequest {
            function_url_auth_type: Some("AWS_IAM"),
            ..anonymous.clone()
        };
        assert!(!policy_allows(&policy, &iam));
        let invoke = AccessRequest {
            action: "lambda:InvokeFunction",
            ..anonymous.clone()
        };
        assert!(!policy_allows(&policy, &invoke));
        assert!(!policy_allows(&[], &anonymous));

        let mut s3 = req("s3", "lambda:InvokeFunction", "s3.amazonaws.com");
        s3.source_arn = Some("arn:aws:s3:::bucket-*".into());
        let policy = vec![statement(&s3, "arn:f")];
        let from = |arn| AccessRequest {
            service: Some("s3.amazonaws.com"),
            action: "lambda:InvokeFunction",
            source_arn: Some(arn),
            ..Default::default()
        };
        assert!(policy_allows(&policy, &from("arn:aws:s3:::bucket-a")));
        assert!(!policy_allows(&policy, &from("arn:aws:s3:::other")));

        let account = vec![statement(&req("acct", "lambda:*", "111122223333"), "arn:f")];
        let caller = AccessRequest {
            caller_account: Some("111122223333"),
            action: "lambda:GetFunction",
            ..Default::default()
        };
        assert!(policy_allows(&account, &caller));
        let stranger = AccessRequest {
            caller_account: Some("999999999999"),
            ..caller.clone()
        };
        assert!(!policy_allows(&account, &stranger));
    }

    #[test]
    fn arn_like_wildcards() {
        assert!(arn_like("arn:aws:s3:::*", "arn:aws:s3:::b"));
        assert!(arn_like("arn:aws:s3:::b?", "arn:aws:s3:::b1"));
        assert!(!arn_like("arn:aws:s3:::b?", "arn:aws:s3:::b"));
        assert!(arn_like("*", ""));
        assert!(!arn_like("a", "ab"));
    }
}
