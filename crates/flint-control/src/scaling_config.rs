//! PutFunctionScalingConfig and GetFunctionScalingConfig (model 2025-11-30): the execution
//! environments a Lambda Managed Instances function keeps. Such functions run on a capacity
//! provider, which flint does not have, so no flint function has a scaling configuration:
//! the requests are checked as the model says (qualifier, ranges), the function and version
//! must exist, and then they are refused with `InvalidParameterValueException`.

use crate::{ControlPlane, Result};
use flint_types::function_settings::FunctionScalingConfig;
use flint_types::{ApiError, FunctionRef};

const QUALIFIER_PATTERN: &str = r"(\$LATEST\.PUBLISHED|[0-9]+)";
const MAX_ENVIRONMENTS: i64 = 15000;

/// The model's checks of a scaling request: the qualifier (required, a version number or
/// `$LATEST.PUBLISHED`) and each count in 0–15000.
pub fn check_scaling_request(
    qualifier: Option<&str>,
    config: Option<&FunctionScalingConfig>,
) -> std::result::Result<(), ApiError> {
    let mut errors = Vec::new();
    match qualifier {
        None => errors.push(
            "Value null at 'qualifier' failed to satisfy constraint: Member must not be null"
                .to_string(),
        ),
        Some(q)
            if !(q == "$LATEST.PUBLISHED"
                || (!q.is_empty() && q.len() <= 128 && q.bytes().all(|b| b.is_ascii_digit()))) =>
        {
            errors.push(format!("Value '{q}' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: {QUALIFIER_PATTERN}"))
        }
        _ => {}
    }
    if let Some(c) = config {
        for (field, value) in [
            ("minExecutionEnvironments", c.min_execution_environments),
            ("maxExecutionEnvironments", c.max_execution_environments),
        ] {
            match value {
                Some(v) if v < 0 => errors.push(format!("Value '{v}' at 'functionScalingConfig.{field}' failed to satisfy constraint: Member must have value greater than or equal to 0")),
                Some(v) if v > MAX_ENVIRONMENTS => errors.push(format!("Value '{v}' at 'functionScalingConfig.{field}' failed to satisfy constraint: Member must have value less than or equal to {MAX_ENVIRONMENTS}")),
                _ => {}
            }
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let n = errors.len();
    let noun = if n == 1 { "error" } else { "errors" };
    Err(ApiError::Validation(format!(
        "{n} validation {noun} detected: {}",
        errors.join("; ")
    )))
}

impl ControlPlane {
    /// Put/GetFunctionScalingConfig: checks, then the refusal every flint function gets.
    pub fn function_scaling_config(
        &self,
        fref: &FunctionRef,
        qualifier: Option<&str>,
        config: Option<&FunctionScalingConfig>,
    ) -> Result<std::convert::Infallible> {
        self.require_unqualified(fref)?;
        check_scaling_request(qualifier, config)?;
        let mut tx = self.meta.begin()?;
        self.load_function(&mut *tx, fref)?;
        if let Some(n) = qualifier.and_then(|q| q.parse::<u64>().ok()) {
            self.load_version(&mut *tx, fref, n)?;
        }
        Err(ApiError::InvalidParameterValue(format!(
            "The function {} is not a Lambda Managed Instances function (it has no capacity provider): FunctionScalingConfig does not apply to it.",
            self.resources().function_arn(&fref.name)
        ))
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(min: Option<i64>, max: Option<i64>) -> FunctionScalingConfig {
        FunctionScalingConfig {
            min_execution_environments: min,
            max_execution_environments: max,
        }
    }

    #[test]
    fn the_qualifier_and_the_counts_are_checked_as_the_model_says() {
        assert!(check_scaling_request(Some("1"), Some(&cfg(Some(0), Some(15000)))).is_ok());
        assert!(check_scaling_request(Some("$LATEST.PUBLISHED"), None).is_ok());
        for q in ["$LATEST", "live", ""] {
            assert_eq!(
                check_scaling_request(Some(q), None).unwrap_err().code(),
                "ValidationException",
                "{q}"
            );
        }
        assert!(
            check_scaling_request(None, None)
                .unwrap_err()
                .to_string()
                .contains("Value null at 'qualifier'")
        );
        let e = check_scaling_request(Some("1"), Some(&cfg(Some(-1), Some(15001)))).unwrap_err();
        assert!(e.to_string().starts_with("2 validation errors detected: Value '-1' at 'functionScalingConfig.minExecutionEnvironments'"), "{e}");
    }
}
