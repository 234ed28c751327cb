//! PutRuntimeManagementConfig and GetRuntimeManagementConfig: how a version's runtime is
//! updated (`Auto`, the default; `FunctionUpdate`; `Manual`, pinned to a runtime version
//! ARN). flint has one build of each runtime (its embedded runtime client on the host's
//! interpreter), named by the same `arn:aws:lambda:<region>::runtime:<hex>` that
//! GetFunction's `RuntimeVersionConfig` reports, so `Manual` accepts exactly that ARN.
//!
//! Stored in `runtime:<name>` under the qualifier (`$LATEST` or the version number);
//! `Auto` is not stored. Deleted with the function.

use crate::configuration::runtime_version_arn;
use crate::{ControlPlane, Result};
use flint_types::{ApiError, FunctionRef, Qualifier};
use serde::{Deserialize, Serialize};

use crate::records::{load, save};

/// `UpdateRuntimeOn` values, in the model's order.
pub const UPDATE_RUNTIME_ON_VALUES: [&str; 3] = ["Auto", "Manual", "FunctionUpdate"];

/// The `RuntimeVersionArn` pattern of the model.
const RUNTIME_VERSION_ARN_PATTERN: &str =
    r"arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso(b?)))?-[a-z]+-\d{1}::runtime:.+";

pub(crate) fn runtime_ns(function: &str) -> String {
    format!("runtime:{function}")
}

/// A version's runtime management configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeManagement {
    pub update_runtime_on: String,
    /// Set for `Manual` only.
    pub runtime_version_arn: Option<String>,
    /// The ARN of the version it applies to (unqualified for `$LATEST`).
    #[serde(skip)]
    pub function_arn: String,
}

/// Whether `arn` has the model's shape (26–2048 characters, the pattern).
fn valid_runtime_version_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:aws") else {
        return false;
    };
    let Some((partition_rest, after)) = rest.split_once(":lambda:") else {
        return false;
    };
    if !partition_rest
        .bytes()
        .all(|b| b.is_ascii_alphabetic() || b == b'-')
    {
        return false;
    }
    let Some((region, id)) = after.split_once("::runtime:") else {
        return false;
    };
    let region_ok = {
        let parts: Vec<&str> = region.split('-').collect();
        parts.len() >= 3
            && parts[0].len() == 2
            && parts[0].bytes().all(|b| b.is_ascii_lowercase())
            && parts
                .last()
                .is_some_and(|d| d.len() == 1 && d.bytes().all(|b| b.is_ascii_digit()))
            && parts[1..parts.len() - 1]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
    };
    region_ok && !id.is_empty()
}

/// Checks a request's members as Lambda does (the model's constraints first).
pub fn check_request(
    update_runtime_on: Option<&str>,
    runtime_version_arn: Option<&str>,
) -> std::result::Result<(), ApiError> {
    let mut errors = Vec::new();
    match update_runtime_on {
        None => errors.push(
            "Value null at 'updateRuntimeOn' failed to satisfy constraint: Member must not be null"
                .to_string(),
        ),
        Some(v) if !UPDATE_RUNTIME_ON_VALUES.contains(&v) => errors.push(format!(
            "Value '{v}' at 'updateRuntimeOn' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            UPDATE_RUNTIME_ON_VALUES.join(", ")
        )),
        _ => {}
    }
    if let Some(arn) = runtime_version_arn {
        if arn.len() < 26 {
            errors.push(format!("Value '{arn}' at 'runtimeVersionArn' failed to satisfy constraint: Member must have length greater than or equal to 26"));
        } else if arn.len() > 2048 {
            errors.push(format!("Value '{arn}' at 'runtimeVersionArn' failed to satisfy constraint: Member must have length less than or equal to 2048"));
        }
        if !valid_runtime_version_arn(arn) {
            errors.push(format!("Value '{arn}' at 'runtimeVersionArn' failed to satisfy constraint: Member must satisfy regular expression pattern: {RUNTIME_VERSION_ARN_PATTERN}"));
        }
    }
    if !errors.is_empty() {
        let n = errors.len();
        let noun = if n == 1 { "error" } else { "errors" };
        return Err(ApiError::Validation(format!(
            "{n} validation {noun} detected: {}",
            errors.join("; ")
        )));
    }
    match (update_runtime_on, runtime_version_arn) {
        (Some("Manual"), None) => Err(ApiError::InvalidParameterValue(
            "RuntimeVersionArn must be specified when UpdateRuntimeOn is Manual.".into(),
        )),
        (Some(mode), Some(_)) if mode != "Manual" => Err(ApiError::InvalidParameterValue(format!(
            "RuntimeVersionArn can be specified only when UpdateRuntimeOn is Manual, not {mode}."
        ))),
        _ => Ok(()),
    }
}

impl ControlPlane {
    /// The runtime id and ARN of the version a qualifier names (`$LATEST` when none).
    fn runtime_of(
        &self,
        tx: &mut dyn flint_store::Transaction,
        fref: &FunctionRef,
    ) -> Result<(String, Option<String>, String)> {
        let rec = self.load_function(tx, fref)?;
        let (key, config, arn) = match &fref.qualifier {
            None | Some(Qualifier::Latest) => (
                "$LATEST".to_string(),
                rec.latest,
                self.resources().function_arn(&fref.name),
            ),
            Some(Qualifier::Version(n)) => (
                n.to_string(),
                self.load_version(tx, fref, *n)?.config,
                self.resources().qualified_arn(&fref.name, &n.to_string()),
            ),
            Some(Qualifier::Alias(a)) => {
                return Err(ApiError::InvalidParameterValue(format!(
                    "The runtime management configuration applies to $LATEST or a published version, not to alias {a}."
                ))
                .into());
            }
        };
        Ok((key, config.runtime, arn))
    }

    /// PutRuntimeManagementConfig.
    pub fn put_runtime_management_config(
        &self,
        fref: &FunctionRef,
        update_runtime_on: Option<&str>,
        runtime_version_arn: Option<&str>,
    ) -> Result<RuntimeManagement> {
        check_request(update_runtime_on, runtime_version_arn)?;
        let mode = update_runtime_on.expect("checked").to_string();
        let mut tx = self.meta.begin()?;
        let (key, runtime, function_arn) = self.runtime_of(&mut *tx, fref)?;
        if let Some(arn) = runtime_version_arn {
            let ours = runtime
                .as_deref()
                .map(|r| runtime_version_arn_of(&self.resources().region, r));
            if ours.as_deref() != Some(arn) {
                return Err(ApiError::InvalidParameterValue(format!(
                    "Runtime version {arn} is not a version of the function's runtime{}.",
                    runtime.map(|r| format!(" {r}")).unwrap_or_default()
                ))
                .into());
            }
        }
        let record = RuntimeManagement {
            update_runtime_on: mode,
            runtime_version_arn: runtime_version_arn.map(str::to_string),
            function_arn,
        };
        if record.update_runtime_on == "Auto" {
            tx.delete(&runtime_ns(&fref.name), &key)?;
        } else {
            save(&mut *tx, &runtime_ns(&fref.name), &key, &record)?;
        }
        self.commit(tx)?;
        Ok(record)
    }

    /// GetRuntimeManagementConfig: `Auto` unless set otherwise.
    pub fn get_runtime_management_config(&self, fref: &FunctionRef) -> Result<RuntimeManagement> {
        let mut tx = self.meta.begin()?;
        let (key, _, function_arn) = self.runtime_of(&mut *tx, fref)?;
        let stored: Option<RuntimeManagement> = load(&mut *tx, &runtime_ns(&fref.name), &key)?;
        Ok(match stored {
            Some(r) => RuntimeManagement { function_arn, ..r },
            None => RuntimeManagement {
                update_runtime_on: "Auto".into(),
                runtime_version_arn: None,
                function_arn,
            },
        })
    }
}

fn runtime_version_arn_of(region: &str, runtime: &str) -> String {
    runtime_version_arn(region, runtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:lambda:us-east-1::runtime:0123abcd";

    #[test]
    fn the_modes_and_the_arn_are_checked_as_the_model_says() {
        for mode in UPDATE_RUNTIME_ON_VALUES {
            let arn = (mode == "Manual").then_some(ARN);
            assert!(check_request(Some(mode), arn).is_ok(), "{mode}");
        }
        let e = check_request(Some("Sometimes"), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "1 validation error detected: Value 'Sometimes' at 'updateRuntimeOn' failed to satisfy constraint: Member must satisfy enum value set: [Auto, Manual, FunctionUpdate]"
        );
        assert!(
            check_request(None, None)
                .unwrap_err()
                .to_string()
                .contains("Value null at 'updateRuntimeOn'")
        );
        let e = check_request(Some("Manual"), Some("arn:aws:lambda")).unwrap_err();
        assert!(
            e.to_string().starts_with("2 validation errors detected: "),
            "{e}"
        );
        for bad in [
            "arn:aws:lambda:us-east-1:000000000000:runtime:ab",
            "arn:aws:s3:us-east-1::runtime:abcdef",
            "arn:aws:lambda:useast1::runtime:abcdef0123",
        ] {
            assert_eq!(
                check_request(Some("Manual"), Some(bad)).unwrap_err().code(),
                "ValidationException",
                "{bad}"
            );
        }
        assert!(valid_runtime_version_arn(
            "arn:aws-us-gov:lambda:us-gov-west-1::runtime:x"
        ));
        assert_eq!(
            check_request(Some("Manual"), None).unwrap_err().code(),
            "InvalidParameterValueException"
        );
        assert_eq!(
            check_request(Some("Auto"), Some(ARN)).unwrap_err().code(),
            "InvalidParameterValueException"
        );
    }
}
