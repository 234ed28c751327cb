//! Lambda API request parsing: function identifiers, query qualifiers and
//! JSON bodies of every control-plane operation, then validation.
//!
//! Input layout: first byte picks what the rest is (an identifier, a
//! qualifier, or the body of one of the operations).
//! Invariants: nothing panics; every rejection renders as an AWS error with
//! a 4xx status and a non-empty message; an accepted identifier has a valid
//! function name and its ARN parses back to the same reference.

use flint_types::model::{
    CreateAliasRequest, CreateFunctionRequest, PublishVersionRequest,
    PutFunctionConcurrencyRequest, TagResourceRequest, UpdateAliasRequest,
    UpdateFunctionCodeRequest, UpdateFunctionConfigurationRequest,
};
use flint_types::{ApiError, FunctionRef, Qualifier, ResourceContext, ident, validate};

fn check_rejection(e: &ApiError) {
    assert!(
        (400..500).contains(&e.status()),
        "client input gave {}",
        e.status()
    );
    let body = e.body();
    let message = body
        .get("message")
        .or_else(|| body.get("Message"))
        .and_then(|m| m.as_str())
        .unwrap_or_default();
    assert!(!message.is_empty(), "empty error message for {e:?}");
    assert!(!e.code().is_empty());
}

fn identifier(raw: &str) {
    let ctx = ResourceContext::default();
    match FunctionRef::parse(raw, 256, &ctx) {
        Ok(r) => {
            assert!(
                ident::is_valid_function_name(&r.name),
                "accepted name {:?}",
                r.name
            );
            let again = FunctionRef::parse(&r.arn(&ctx), 256, &ctx).expect("own ARN parses");
            assert_eq!(again, r);
        }
        Err(e) => check_rejection(&e),
    }
}

fn body<T: serde::de::DeserializeOwned>(data: &[u8]) -> Option<T> {
    serde_json::from_slice(data).ok()
}

pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match selector % 10 {
        0 => identifier(&text),
        1 => match Qualifier::parse(&text) {
            Ok(q) => assert_eq!(Qualifier::parse(&q.to_string()).ok(), Some(q)),
            Err(e) => check_rejection(&e),
        },
        2 => {
            if let Some(req) = body::<CreateFunctionRequest>(rest) {
                if let Err(e) = validate::config_fields(&req.config) {
                    check_rejection(&e);
                }
                if let Some(t) = &req.tags
                    && let Err(e) = validate::tags(t)
                {
                    check_rejection(&e);
                }
                if let Some(a) = &req.architectures
                    && let Err(e) = validate::architectures(a)
                {
                    check_rejection(&e);
                }
                if let Some(name) = &req.function_name {
                    identifier(name);
                }
            }
        }
        3 => {
            if let Some(req) = body::<UpdateFunctionConfigurationRequest>(rest)
                && let Err(e) = validate::config_fields(&req.config)
            {
                check_rejection(&e);
            }
        }
        4 => {
            let _ = body::<UpdateFunctionCodeRequest>(rest);
        }
        5 => {
            let _ = body::<PublishVersionRequest>(rest);
        }
        6 => {
            let _ = body::<CreateAliasRequest>(rest);
            let _ = body::<UpdateAliasRequest>(rest);
        }
        7 => {
            if let Some(req) = body::<TagResourceRequest>(rest)
                && let Some(t) = &req.tags
                && let Err(e) = validate::tags(t)
            {
                check_rejection(&e);
            }
        }
        8 => {
            let _ = body::<PutFunctionConcurrencyRequest>(rest);
            // Resource policies and function URL configs: validation rejects with AWS's
            // shapes, and an accepted statement renders as JSON with the request's Sid.
            if let Some(req) = body::<flint_types::policy::AddPermissionRequest>(rest) {
                match flint_types::policy::check_add_permission(&req) {
                    Ok(()) => {
                        let s = flint_types::policy::statement(
                            &req,
                            "arn:aws:lambda:us-east-1:000000000000:function:f",
                        );
                        assert_eq!(s["Sid"].as_str(), req.statement_id.as_deref());
                        assert_eq!(s["Effect"], "Allow");
                    }
                    Err(e) => check_rejection(&e),
                }
            }
            if let Some(req) = body::<flint_types::function_url::FunctionUrlConfigRequest>(rest) {
                for create in [true, false] {
                    if let Err(e) = flint_types::function_url::check_request(&req, create) {
                        check_rejection(&e);
                    }
                }
            }
        }
        _ => {
            if let Err(e) = validate::role(&text) {
                check_rejection(&e);
            }
            if let Err(e) = validate::runtime(&text) {
                check_rejection(&e);
            }
            if let Err(e) = validate::handler(&text) {
                check_rejection(&e);
            }
        }
    }
}
