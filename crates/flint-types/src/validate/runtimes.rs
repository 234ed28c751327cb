//! Runtime ids: which ones Lambda accepts today, which it no longer does, and what an unknown
//! one is told.

use crate::error::ApiError;

/// Runtime ids Lambda still accepts for new functions and updates.
pub const SUPPORTED_RUNTIMES: &[&str] = &[
    "nodejs18.x",
    "nodejs20.x",
    "nodejs22.x",
    "nodejs24.x",
    "python3.9",
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "python3.14",
    "java8.al2",
    "java11",
    "java17",
    "java21",
    "java25",
    "dotnet8",
    "dotnet10",
    "ruby3.2",
    "ruby3.3",
    "ruby3.4",
    "ruby4.0",
    "provided.al2",
    "provided.al2023",
];

/// Runtime ids in the model's enum that Lambda no longer accepts.
pub const DEPRECATED_RUNTIMES: &[&str] = &[
    "nodejs",
    "nodejs4.3",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "nodejs16.x",
    "java8",
    "python2.7",
    "python3.6",
    "python3.7",
    "python3.8",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "dotnet6",
    "nodejs4.3-edge",
    "go1.x",
    "ruby2.5",
    "ruby2.7",
    // Amazon Linux 1's custom runtime: refused for new functions and updates
    // (recorded 2026-01: test_create_deprecated_function_runtime_with_validation_enabled[provided]).
    "provided",
];

/// The order AWS lists creatable runtimes in when it refuses an unknown one
/// (test_create_lambda_exceptions, recorded 2026-01).
pub(crate) const AWS_RUNTIME_ORDER: &[&str] = &[
    "nodejs20.x",
    "python3.14",
    "provided.al2023",
    "python3.12",
    "python3.13",
    "nodejs24.x",
    "nodejs22.x",
    "java25",
    "python3.10",
    "python3.11",
    "java21",
    "ruby3.3",
    "ruby3.4",
    "ruby3.2",
    "python3.8",
    "python3.9",
    "java17",
    "nodejs16.x",
    "dotnet10",
    "dotnet8",
    "java11",
    "dotnet6",
    "nodejs18.x",
    "provided.al2",
    "java8.al2",
];

/// The runtimes a function can be created with today, in AWS's order
/// (ids AWS added after the recording go last).
fn creatable_runtimes() -> Vec<&'static str> {
    let mut v: Vec<&str> = AWS_RUNTIME_ORDER
        .iter()
        .copied()
        .filter(|r| SUPPORTED_RUNTIMES.contains(r))
        .collect();
    v.extend(
        SUPPORTED_RUNTIMES
            .iter()
            .copied()
            .filter(|r| !AWS_RUNTIME_ORDER.contains(r)),
    );
    v
}

/// Checks a runtime id: unknown ids fail the model's enum, deprecated ones
/// get Lambda's "no longer supported" answer.
pub fn runtime(value: &str) -> Result<(), ApiError> {
    if SUPPORTED_RUNTIMES.contains(&value) {
        return Ok(());
    }
    if DEPRECATED_RUNTIMES.contains(&value) {
        return Err(ApiError::InvalidParameterValue(format!(
            "The runtime parameter of {value} is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions."
        )));
    }
    // Not a runtime id at all: Lambda's own check (not the model's enum)
    // answers, listing what can be created today.
    Err(ApiError::InvalidParameterValue(format!(
        "Value {value} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [{}] or be a valid ARN",
        creatable_runtimes().join(", ")
    )))
}
