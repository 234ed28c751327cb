//! Request bodies of the small per-function settings: recursion (PutFunctionRecursionConfig),
//! runtime management (PutRuntimeManagementConfig) and scaling (PutFunctionScalingConfig).
//! Every member is optional here so that a missing one gets AWS's validation answer from the
//! control plane rather than a parse error.

use serde::{Deserialize, Serialize};

/// `PutFunctionRecursionConfig`'s body.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutFunctionRecursionConfigRequest {
    pub recursive_loop: Option<String>,
}

/// `PutRuntimeManagementConfig`'s body.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRuntimeManagementConfigRequest {
    pub update_runtime_on: Option<String>,
    pub runtime_version_arn: Option<String>,
}

/// `FunctionScalingConfig`: execution environments a Lambda Managed Instances function keeps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionScalingConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_execution_environments: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_execution_environments: Option<i64>,
}

/// `PutFunctionScalingConfig`'s body.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutFunctionScalingConfigRequest {
    pub function_scaling_config: Option<FunctionScalingConfig>,
}
