//! Validation of asynchronous-invocation settings (`EventInvokeConfig`):
//! the model's constraints (ValidationException) and the semantic checks
//! Lambda makes on destinations (InvalidParameterValueException).

use crate::error::ApiError;
use crate::ident::is_region;
use crate::model::{DestinationConfig, EventDestination, EventInvokeConfigRequest};

pub const MAX_RETRY_ATTEMPTS: i64 = 2;
pub const MIN_EVENT_AGE_SECS: i64 = 60;
pub const MAX_EVENT_AGE_SECS: i64 = 21_600;
/// The model's pattern for `DestinationArn`, quoted in validation errors.
pub const DESTINATION_PATTERN: &str = "$|kafka://([^.]([a-zA-Z0-9\\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)";
const MAX_DESTINATION_LEN: usize = 350;

/// Which destination a rule is about (S3 is valid for failures only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationKind {
    OnSuccess,
    OnFailure,
}

impl DestinationKind {
    fn field(self) -> &'static str {
        match self {
            DestinationKind::OnSuccess => "destinationConfig.onSuccess.destination",
            DestinationKind::OnFailure => "destinationConfig.onFailure.destination",
        }
    }
}

/// Constraint checks of the request, in the model's order.
pub fn request(req: &EventInvokeConfigRequest) -> Result<(), ApiError> {
    if let Some(n) = req.maximum_retry_attempts {
        if n < 0 {
            return Err(ApiError::too_small(n, "maximumRetryAttempts", 0));
        }
        if n > MAX_RETRY_ATTEMPTS {
            return Err(ApiError::too_large(
                n,
                "maximumRetryAttempts",
                MAX_RETRY_ATTEMPTS,
            ));
        }
    }
    if let Some(n) = req.maximum_event_age_in_seconds {
        if n < MIN_EVENT_AGE_SECS {
            return Err(ApiError::too_small(
                n,
                "maximumEventAgeInSeconds",
                MIN_EVENT_AGE_SECS,
            ));
        }
        if n > MAX_EVENT_AGE_SECS {
            return Err(ApiError::too_large(
                n,
                "maximumEventAgeInSeconds",
                MAX_EVENT_AGE_SECS,
            ));
        }
    }
    if let Some(d) = &req.destination_config {
        for (kind, arn) in destinations(d) {
            destination_pattern(arn, kind)?;
        }
    }
    Ok(())
}

/// The non-empty destinations of a config.
pub fn destinations(d: &DestinationConfig) -> Vec<(DestinationKind, &str)> {
    let mut out = Vec::new();
    if let Some(arn) = d.on_success.as_ref().and_then(|s| s.destination.as_deref()) {
        out.push((DestinationKind::OnSuccess, arn));
    }
    if let Some(arn) = d.on_failure.as_ref().and_then(|s| s.destination.as_deref()) {
        out.push((DestinationKind::OnFailure, arn));
    }
    out
}

fn destination_pattern(arn: &str, kind: DestinationKind) -> Result<(), ApiError> {
    if arn.len() > MAX_DESTINATION_LEN {
        return Err(ApiError::too_long(arn, kind.field(), MAX_DESTINATION_LEN));
    }
    if arn.is_empty() || arn_parts(arn).is_some() || is_kafka(arn) {
        Ok(())
    } else {
        Err(ApiError::pattern(arn, kind.field(), DESTINATION_PATTERN))
    }
}

fn is_kafka(s: &str) -> bool {
    s.strip_prefix("kafka://").is_some_and(|rest| {
        !rest.is_empty()
            && !rest.starts_with('.')
            && rest.len() <= 249
            && rest
                .chars()
                .skip(1)
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    })
}

/// `(service, region, account, resource)` of an ARN matching the model's
/// destination pattern.
pub fn arn_parts(arn: &str) -> Option<(&str, &str, &str, &str)> {
    let mut it = arn.splitn(6, ':');
    let (prefix, partition, service, region, account, resource) = (
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
    );
    let partition_ok = partition
        .strip_prefix("aws")
        .is_some_and(|p| p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    let service_ok = !service.is_empty()
        && service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let region_ok = region.is_empty() || is_region(region.strip_prefix("eusc-").unwrap_or(region));
    let account_ok =
        account.is_empty() || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()));
    (prefix == "arn" && partition_ok && service_ok && region_ok && account_ok)
        .then_some((service, region, account, resource))
}

/// `DestinationConfig(onSuccess=OnSuccess(destination=...), onFailure=null)`:
/// how AWS quotes a whole config it rejects (a Java `toString`).
pub fn describe_config(d: &DestinationConfig) -> String {
    let one = |label: &str, e: Option<&EventDestination>| match e {
        None => "null".to_string(),
        Some(e) => format!(
            "{label}(destination={})",
            e.destination.as_deref().unwrap_or("null")
        ),
    };
    format!(
        "DestinationConfig(onSuccess={}, onFailure={})",
        one("OnSuccess", d.on_success.as_ref()),
        one("OnFailure", d.on_failure.as_ref())
    )
}

/// The function name of a Lambda function destination ARN.
pub fn function_destination_name(arn: &str) -> Option<&str> {
    let (service, _, _, resource) = arn_parts(arn)?;
    if service != "lambda" {
        return None;
    }
    resource.strip_prefix("function:")?.split(':').next()
}

/// Lambda's semantic check of a destination (after the constraints held):
/// SQS queues, SNS topics, Lambda functions, EventBridge buses, and S3
/// buckets for failures only; a function is not its own destination. A
/// service that is no destination at all rejects the whole `config`, quoted.
pub fn destination_target(
    arn: &str,
    kind: DestinationKind,
    own_function_arn: &str,
    config: &DestinationConfig,
) -> Result<(), ApiError> {
    let invalid =
        || ApiError::InvalidParameterValue(format!("The destination ARN {arn} is invalid."));
    if arn.is_empty() {
        return Ok(());
    }
    let Some((service, _, _, resource)) = arn_parts(arn) else {
        return Err(invalid());
    };
    match service {
        "sqs" | "sns" | "events" => Ok(()),
        "s3" if kind == DestinationKind::OnFailure => Ok(()),
        "lambda" => {
            let Some(rest) = resource.strip_prefix("function:") else {
                return Err(invalid());
            };
            let name = rest.split(':').next().unwrap_or_default();
            if !crate::ident::is_valid_function_name(name) {
                return Err(invalid());
            }
            let unqualified = match arn.rsplit_once(':') {
                Some((head, _)) if rest.contains(':') => head,
                _ => arn,
            };
            if unqualified == own_function_arn {
                return Err(ApiError::InvalidParameterValue(
                    "You can't specify the function as a destination for itself.".into(),
                ));
            }
            Ok(())
        }
        "s3" => Err(invalid()),
        _ => Err(ApiError::InvalidParameterValue(format!(
            "The provided destination config {} is invalid.",
            describe_config(config)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(kind: DestinationKind, arn: &str) -> DestinationConfig {
        let d = Some(EventDestination {
            destination: Some(arn.into()),
        });
        match kind {
            DestinationKind::OnSuccess => DestinationConfig {
                on_success: d,
                on_failure: None,
            },
            DestinationKind::OnFailure => DestinationConfig {
                on_success: None,
                on_failure: d,
            },
        }
    }

    fn req(retries: Option<i64>, age: Option<i64>, dest: Option<&str>) -> EventInvokeConfigRequest {
        EventInvokeConfigRequest {
            maximum_retry_attempts: retries,
            maximum_event_age_in_seconds: age,
            destination_config: dest.map(|d| DestinationConfig {
                on_failure: Some(EventDestination {
                    destination: Some(d.into()),
                }),
                on_success: None,
            }),
        }
    }

    #[test]
    fn ranges_follow_the_model() {
        assert!(request(&req(Some(0), Some(60), None)).is_ok());
        assert!(request(&req(Some(2), Some(21_600), None)).is_ok());
        let e = request(&req(Some(3), None, None)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 2"
        );
        assert_eq!(e.code(), "ValidationException");
        assert!(request(&req(Some(-1), None, None)).is_err());
        let e = request(&req(None, Some(59), None)).unwrap_err();
        assert!(e.to_string().contains("'maximumEventAgeInSeconds'"), "{e}");
        assert!(request(&req(None, Some(21_601), None)).is_err());
    }

    #[test]
    fn destination_patterns_follow_the_model() {
        assert!(request(&req(None, None, Some(""))).is_ok());
        assert!(
            request(&req(
                None,
                None,
                Some("arn:aws:sqs:us-east-1:000000000000:q")
            ))
            .is_ok()
        );
        assert!(request(&req(None, None, Some("kafka://broker-1"))).is_ok());
        let e = request(&req(None, None, Some("not-an-arn"))).unwrap_err();
        assert_eq!(e.code(), "ValidationException");
        assert!(
            e.to_string()
                .contains("'destinationConfig.onFailure.destination'"),
            "{e}"
        );
        assert!(request(&req(None, None, Some(&"x".repeat(351)))).is_err());
    }

    #[test]
    fn destination_targets_are_checked_like_lambda() {
        let me = "arn:aws:lambda:us-east-1:000000000000:function:me";
        let check = |arn: &str, kind| destination_target(arn, kind, me, &on(kind, arn));
        let ok = |arn: &str, kind| check(arn, kind).is_ok();
        use DestinationKind::*;
        assert!(ok("arn:aws:sqs:us-east-1:000000000000:q", OnSuccess));
        assert!(ok("arn:aws:sns:us-east-1:000000000000:t", OnFailure));
        assert!(ok(
            "arn:aws:events:us-east-1:000000000000:event-bus/b",
            OnSuccess
        ));
        assert!(ok("arn:aws:s3:::bucket", OnFailure));
        assert!(!ok("arn:aws:s3:::bucket", OnSuccess));
        assert!(ok(
            "arn:aws:lambda:us-east-1:000000000000:function:other",
            OnSuccess
        ));
        assert!(ok(
            "arn:aws:lambda:us-east-1:000000000000:function:other:live",
            OnSuccess
        ));
        let e = check("arn:aws:s3:::bucket", OnSuccess).unwrap_err();
        assert_eq!(
            e.to_string(),
            "The destination ARN arn:aws:s3:::bucket is invalid."
        );
        // A service that is no destination: AWS quotes the whole config
        // (test_lambda_eventinvokeconfig_exceptions, put_destination_invalid_service_arn).
        let iam = "arn:aws:iam:us-east-1:000000000000:function:me";
        let e = check(iam, OnSuccess).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "The provided destination config DestinationConfig(onSuccess=OnSuccess(destination={iam}), onFailure=null) is invalid."
            )
        );
        assert_eq!(e.code(), "InvalidParameterValueException");
        let e = check(me, OnFailure).unwrap_err();
        assert_eq!(
            e.to_string(),
            "You can't specify the function as a destination for itself."
        );
        assert!(check(&format!("{me}:1"), OnFailure).is_err());
        assert_eq!(
            function_destination_name("arn:aws:lambda:us-east-1:000000000000:function:f:live"),
            Some("f")
        );
        assert_eq!(
            function_destination_name("arn:aws:sqs:us-east-1:000000000000:q"),
            None
        );
    }
}
