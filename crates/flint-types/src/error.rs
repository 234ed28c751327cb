//! The AWS error envelope.
//!
//! Every rejection flint sends goes through [`ApiError`], so the code, the
//! HTTP status and the body casing are decided in exactly one place. AWS's
//! model spells the message field `Message` for some shapes and `message` for
//! others; SDKs read the one their model names, so the casing is part of the
//! contract (see `lambda-facts.md` §1.3).

use serde_json::{Value, json};

/// A request rejected with one of Lambda's error codes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// Constraint violations (length, pattern, range, enum): unmodelled
    /// `ValidationException`, 400.
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    /// `InvalidParameterValueException` whose body AWS sends without `Type`
    /// (recorded: the account concurrency limits).
    #[error("{0}")]
    InvalidParameterValueUntyped(String),
    #[error("{0}")]
    InvalidRequestContent(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("{0}")]
    ResourceConflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    /// A resource policy would grow past its size limit (400).
    #[error("{0}")]
    PolicyLengthExceeded(String),
    /// No provisioned concurrency configuration on that version or alias (404).
    #[error("No Provisioned Concurrency Config found for this function")]
    ProvisionedConcurrencyConfigNotFound,
    /// Oversized request bodies: AWS sends the unmodelled
    /// `RequestEntityTooLargeException`, not the modelled `RequestTooLargeException`.
    #[error("{0}")]
    RequestEntityTooLarge(String),
    #[error("{message}")]
    TooManyRequests {
        reason: &'static str,
        message: String,
    },
    /// The function's runtime cannot run here (502, as Lambda's environment
    /// set-up failures).
    #[error("{0}")]
    InvalidRuntime(String),
    /// A path that matches no Lambda operation.
    #[error("{0}")]
    UnknownOperation(String),
    /// A function stopped in a recursive loop (400, `Message`).
    #[error("{0}")]
    RecursiveInvocation(String),
    #[error("{0}")]
    Service(String),
}

/// How the message field of an error body is spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MessageCase {
    Upper,
    Lower,
}

impl ApiError {
    /// The error code sent in `x-amzn-ErrorType`.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "ValidationException",
            ApiError::InvalidParameterValue(_) | ApiError::InvalidParameterValueUntyped(_) => {
                "InvalidParameterValueException"
            }
            ApiError::InvalidRequestContent(_) => "InvalidRequestContentException",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaTypeException",
            ApiError::ResourceNotFound(_) => "ResourceNotFoundException",
            ApiError::ResourceConflict(_) => "ResourceConflictException",
            ApiError::PreconditionFailed(_) => "PreconditionFailedException",
            ApiError::PolicyLengthExceeded(_) => "PolicyLengthExceededException",
            ApiError::ProvisionedConcurrencyConfigNotFound => {
                "ProvisionedConcurrencyConfigNotFoundException"
            }
            ApiError::RequestEntityTooLarge(_) => "RequestEntityTooLargeException",
            ApiError::TooManyRequests { .. } => "TooManyRequestsException",
            ApiError::InvalidRuntime(_) => "InvalidRuntimeException",
            ApiError::UnknownOperation(_) => "UnknownOperationException",
            ApiError::RecursiveInvocation(_) => "RecursiveInvocationException",
            ApiError::Service(_) => "ServiceException",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Validation(_)
            | ApiError::InvalidParameterValue(_)
            | ApiError::InvalidParameterValueUntyped(_)
            | ApiError::InvalidRequestContent(_)
            | ApiError::PolicyLengthExceeded(_)
            | ApiError::RecursiveInvocation(_) => 400,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::ResourceNotFound(_)
            | ApiError::UnknownOperation(_)
            | ApiError::ProvisionedConcurrencyConfigNotFound => 404,
            ApiError::ResourceConflict(_) => 409,
            ApiError::PreconditionFailed(_) => 412,
            ApiError::RequestEntityTooLarge(_) => 413,
            ApiError::TooManyRequests { .. } => 429,
            ApiError::Service(_) => 500,
            ApiError::InvalidRuntime(_) => 502,
        }
    }

    fn message_case(&self) -> MessageCase {
        match self {
            ApiError::ResourceNotFound(_)
            | ApiError::Service(_)
            | ApiError::InvalidRuntime(_)
            | ApiError::UnknownOperation(_)
            | ApiError::RecursiveInvocation(_) => MessageCase::Upper,
            _ => MessageCase::Lower,
        }
    }

    /// The JSON body, with the field casing of the error's model shape.
    pub fn body(&self) -> Value {
        let message = self.to_string();
        if let ApiError::Validation(_) | ApiError::InvalidParameterValueUntyped(_) = self {
            // ValidationException is not in the model; AWS sends only a message
            // (and so for some InvalidParameterValueExceptions).
            return json!({ "message": message });
        }
        let kind = if self.status() >= 500 {
            "Service"
        } else {
            "User"
        };
        let mut body = match self.message_case() {
            MessageCase::Upper => json!({ "Type": kind, "Message": message }),
            MessageCase::Lower => json!({ "Type": kind, "message": message }),
        };
        if let ApiError::TooManyRequests { reason, .. } = self {
            body["Reason"] = Value::from(*reason);
        }
        body
    }

    /// `1 validation error detected: Value 'v' at 'field' failed to satisfy constraint: ...`
    pub fn constraint(value: impl std::fmt::Display, field: &str, constraint: &str) -> Self {
        ApiError::Validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
        ))
    }

    /// Several failed constraints in AWS's one message: `N validation errors
    /// detected: a; b` (recorded, e.g. a too-long qualifier and a bad function
    /// name together). Non-validation errors are not merged: the first wins.
    pub fn merged(first: ApiError, rest: impl IntoIterator<Item = ApiError>) -> Self {
        let mut parts: Vec<String> = Vec::new();
        let mut count = 0usize;
        for e in std::iter::once(first).chain(rest) {
            let ApiError::Validation(m) = e else {
                return e;
            };
            let (n, rest) = m
                .split_once(" detected: ")
                .and_then(|(head, rest)| {
                    head.split(' ')
                        .next()?
                        .parse::<usize>()
                        .ok()
                        .map(|n| (n, rest))
                })
                .unwrap_or((1, m.as_str()));
            count += n;
            parts.push(rest.to_string());
        }
        if count == 1 {
            ApiError::Validation(format!("1 validation error detected: {}", parts[0]))
        } else {
            ApiError::Validation(format!(
                "{count} validation errors detected: {}",
                parts.join("; ")
            ))
        }
    }

    /// The message AWS uses for a value below a numeric minimum.
    pub fn too_small(value: impl std::fmt::Display, field: &str, min: i64) -> Self {
        Self::constraint(
            value,
            field,
            &format!("Member must have value greater than or equal to {min}"),
        )
    }

    /// The message AWS uses for a value above a numeric maximum.
    pub fn too_large(value: impl std::fmt::Display, field: &str, max: i64) -> Self {
        Self::constraint(
            value,
            field,
            &format!("Member must have value less than or equal to {max}"),
        )
    }

    pub fn too_long(value: impl std::fmt::Display, field: &str, max: usize) -> Self {
        Self::constraint(
            value,
            field,
            &format!("Member must have length less than or equal to {max}"),
        )
    }

    pub fn too_short(value: impl std::fmt::Display, field: &str, min: usize) -> Self {
        Self::constraint(
            value,
            field,
            &format!("Member must have length greater than or equal to {min}"),
        )
    }

    pub fn pattern(value: impl std::fmt::Display, field: &str, pattern: &str) -> Self {
        Self::constraint(
            value,
            field,
            &format!("Member must satisfy regular expression pattern: {pattern}"),
        )
    }

    pub fn enum_value(value: impl std::fmt::Display, field: &str, allowed: &[&str]) -> Self {
        Self::constraint(
            value,
            field,
            &format!(
                "Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ),
        )
    }

    /// The precondition failure AWS returns for a stale `RevisionId`.
    pub fn revision_mismatch() -> Self {
        ApiError::PreconditionFailed(
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id".into(),
        )
    }

    pub fn function_not_found(arn: &str) -> Self {
        ApiError::ResourceNotFound(format!("Function not found: {arn}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_casing_follows_the_model_shape() {
        let nf = ApiError::function_not_found("arn:aws:lambda:us-east-1:000000000000:function:f");
        assert_eq!(nf.status(), 404);
        assert_eq!(
            nf.body()["Message"],
            "Function not found: arn:aws:lambda:us-east-1:000000000000:function:f"
        );
        assert_eq!(nf.body()["Type"], "User");

        let ipv = ApiError::InvalidParameterValue("bad".into());
        assert_eq!(ipv.body(), json!({"Type": "User", "message": "bad"}));
        assert_eq!(ipv.code(), "InvalidParameterValueException");
    }

    #[test]
    fn merged_validation_errors_count_and_join() {
        let e = ApiError::merged(
            ApiError::too_long("q", "qualifier", 128),
            [ApiError::pattern("n", "functionName", "p")],
        );
        assert_eq!(
            e.to_string(),
            "2 validation errors detected: Value 'q' at 'qualifier' failed to satisfy constraint: Member must have length less than or equal to 128; Value 'n' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: p"
        );
        let one = ApiError::merged(ApiError::too_long("q", "qualifier", 128), []);
        assert!(
            one.to_string()
                .starts_with("1 validation error detected: Value 'q'")
        );
    }

    #[test]
    fn validation_exception_has_only_a_message() {
        let e = ApiError::too_large(20000, "memorySize", 10240);
        assert_eq!(e.status(), 400);
        assert_eq!(
            e.body(),
            json!({"message": "1 validation error detected: Value '20000' at 'memorySize' failed to satisfy constraint: Member must have value less than or equal to 10240"})
        );
    }

    #[test]
    fn throttle_carries_its_reason() {
        let e = ApiError::TooManyRequests {
            reason: "ReservedFunctionConcurrentInvocationLimitExceeded",
            message: "Rate Exceeded.".into(),
        };
        assert_eq!(e.status(), 429);
        assert_eq!(
            e.body()["Reason"],
            "ReservedFunctionConcurrentInvocationLimitExceeded"
        );
        assert_eq!(e.body()["message"], "Rate Exceeded.");
    }

    #[test]
    fn server_errors_are_typed_service() {
        assert_eq!(ApiError::Service("x".into()).body()["Type"], "Service");
    }
}
