//! PutFunctionRecursionConfig and GetFunctionRecursionConfig: whether Lambda may run a
//! function caught in a recursive loop (`Allow`) or stops it (`Terminate`, the default). The
//! invocation path reads it through [`ControlPlane::recursive_loops_allowed`] only when a
//! chain has reached the loop limit, so the warm path never touches it.
//!
//! Stored in the `recursion` namespace under the function's name (only `Allow` is stored:
//! no record means `Terminate`), deleted with the function.

use crate::records::{load, save};
use crate::{ControlPlane, Result};
use flint_store::Transaction;
use flint_types::{ApiError, FunctionRef};
use serde::{Deserialize, Serialize};

/// Namespace of the per-function recursion settings.
pub const RECURSION: &str = "recursion";

/// `RecursiveLoop` values, in the order AWS lists them in its validation message.
pub const RECURSIVE_LOOP_VALUES: [&str; 2] = ["Terminate", "Allow"];

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RecursionRecord {
    recursive_loop: String,
}

/// The `RecursiveLoop` of a request, checked as Lambda checks it.
pub fn parse_recursive_loop(value: Option<&str>) -> std::result::Result<&str, ApiError> {
    match value {
        None => Err(ApiError::Validation(
            "1 validation error detected: Value null at 'recursiveLoop' failed to satisfy constraint: Member must not be null"
                .into(),
        )),
        Some(v) if RECURSIVE_LOOP_VALUES.contains(&v) => Ok(v),
        Some(v) => Err(ApiError::enum_value(v, "recursiveLoop", &RECURSIVE_LOOP_VALUES)),
    }
}

impl ControlPlane {
    /// PutFunctionRecursionConfig: returns the setting now in force.
    pub fn put_function_recursion_config(
        &self,
        fref: &FunctionRef,
        recursive_loop: Option<&str>,
    ) -> Result<String> {
        self.require_unqualified(fref)?;
        let value = parse_recursive_loop(recursive_loop)?;
        let mut tx = self.meta.begin()?;
        self.load_function(&mut *tx, fref)?;
        if value == "Allow" {
            let record = RecursionRecord {
                recursive_loop: value.to_string(),
            };
            save(&mut *tx, RECURSION, &fref.name, &record)?;
        } else {
            tx.delete(RECURSION, &fref.name)?;
        }
        self.commit(tx)?;
        Ok(value.to_string())
    }

    /// GetFunctionRecursionConfig.
    pub fn get_function_recursion_config(&self, fref: &FunctionRef) -> Result<String> {
        self.require_unqualified(fref)?;
        let mut tx = self.meta.begin()?;
        self.load_function(&mut *tx, fref)?;
        Ok(if self.allowed_in(&mut *tx, &fref.name)? {
            "Allow"
        } else {
            "Terminate"
        }
        .to_string())
    }

    /// Whether the function named `name` may keep running in a recursive loop.
    pub fn recursive_loops_allowed(&self, name: &str) -> Result<bool> {
        let mut tx = self.meta.begin()?;
        self.allowed_in(&mut *tx, name)
    }

    fn allowed_in(&self, tx: &mut dyn Transaction, name: &str) -> Result<bool> {
        Ok(load::<RecursionRecord>(tx, RECURSION, name)?
            .is_some_and(|r| r.recursive_loop == "Allow"))
    }

    /// Drops the per-function settings of this module and its siblings when a function is
    /// deleted (a function created again under the name starts from the defaults).
    pub(crate) fn delete_function_settings(
        &self,
        tx: &mut dyn Transaction,
        name: &str,
    ) -> Result<()> {
        tx.delete(RECURSION, name)?;
        tx.delete_namespace(&crate::runtime_management::runtime_ns(name))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recursive_loop_is_required_and_one_of_two_values() {
        assert_eq!(parse_recursive_loop(Some("Allow")).unwrap(), "Allow");
        assert_eq!(
            parse_recursive_loop(Some("Terminate")).unwrap(),
            "Terminate"
        );
        // As recorded (test_put_function_recursion_config_invalid_value).
        assert_eq!(
            parse_recursive_loop(Some("InvalidValue"))
                .unwrap_err()
                .to_string(),
            "1 validation error detected: Value 'InvalidValue' at 'recursiveLoop' failed to satisfy constraint: Member must satisfy enum value set: [Terminate, Allow]"
        );
        for bad in ["allow", "", "TERMINATE"] {
            assert_eq!(
                parse_recursive_loop(Some(bad)).unwrap_err().code(),
                "ValidationException"
            );
        }
        assert!(
            parse_recursive_loop(None)
                .unwrap_err()
                .to_string()
                .contains("Value null at 'recursiveLoop' failed to satisfy constraint: Member must not be null")
        );
    }
}
