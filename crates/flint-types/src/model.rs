//! JSON shapes of the Lambda control-plane API (`rest-json`, PascalCase).
//!
//! Field names follow botocore's `service-2.json`. Optional response fields
//! are skipped when absent, because SDKs treat a present `null` differently
//! from a missing member in some shapes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `Environment` on requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<BTreeMap<String, String>>,
}

/// `Environment` on responses (`EnvironmentResponse`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnvironmentResponse {
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TracingConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EphemeralStorage {
    pub size: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_log_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_log_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_arn: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpcConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_group_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_allowed_for_dual_stack: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VpcConfigResponse {
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub vpc_id: String,
    #[serde(default)]
    pub ipv6_allowed_for_dual_stack: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnapStart {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_on: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnapStartResponse {
    pub apply_on: String,
    pub optimization_status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FileSystemConfig {
    pub arn: String,
    pub local_mount_path: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LayerReference {
    pub arn: String,
    pub code_size: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuntimeVersionConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_version_arn: Option<String>,
}

/// `FunctionCode` on CreateFunction.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionCode {
    /// Base64 in JSON; decoded by the control layer so that a bad encoding
    /// gets AWS's answer instead of a serde message.
    pub zip_file: Option<String>,
    #[serde(rename = "S3Bucket")]
    pub s3_bucket: Option<String>,
    #[serde(rename = "S3Key")]
    pub s3_key: Option<String>,
    #[serde(rename = "S3ObjectVersion")]
    pub s3_object_version: Option<String>,
    pub image_uri: Option<String>,
}

/// The configuration a zip function has, as accepted by CreateFunction and
/// UpdateFunctionConfiguration (every field optional: absent means "keep"
/// on update and "default" on create).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigFields {
    pub runtime: Option<String>,
    pub role: Option<String>,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    pub environment: Option<Environment>,
    pub tracing_config: Option<TracingConfig>,
    pub ephemeral_storage: Option<EphemeralStorage>,
    pub logging_config: Option<LoggingConfig>,
    pub dead_letter_config: Option<DeadLetterConfig>,
    #[serde(rename = "KMSKeyArn")]
    pub kms_key_arn: Option<String>,
    pub vpc_config: Option<VpcConfig>,
    pub layers: Option<Vec<String>>,
    pub file_system_configs: Option<Vec<FileSystemConfig>>,
    pub image_config: Option<ImageConfig>,
    pub snap_start: Option<SnapStart>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateFunctionRequest {
    pub function_name: Option<String>,
    pub code: Option<FunctionCode>,
    pub package_type: Option<String>,
    #[serde(default)]
    pub publish: bool,
    pub tags: Option<BTreeMap<String, String>>,
    pub architectures: Option<Vec<String>>,
    pub code_signing_config_arn: Option<String>,
    #[serde(flatten)]
    pub config: ConfigFields,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateFunctionConfigurationRequest {
    pub revision_id: Option<String>,
    #[serde(flatten)]
    pub config: ConfigFields,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateFunctionCodeRequest {
    pub zip_file: Option<String>,
    #[serde(rename = "S3Bucket")]
    pub s3_bucket: Option<String>,
    #[serde(rename = "S3Key")]
    pub s3_key: Option<String>,
    #[serde(rename = "S3ObjectVersion")]
    pub s3_object_version: Option<String>,
    pub image_uri: Option<String>,
    #[serde(default)]
    pub publish: bool,
    #[serde(default)]
    pub dry_run: bool,
    pub revision_id: Option<String>,
    pub architectures: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublishVersionRequest {
    pub code_sha256: Option<String>,
    pub description: Option<String>,
    pub revision_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasRoutingConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_version_weights: Option<BTreeMap<String, f64>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateAliasRequest {
    pub name: Option<String>,
    pub function_version: Option<String>,
    pub description: Option<String>,
    pub routing_config: Option<AliasRoutingConfiguration>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateAliasRequest {
    pub function_version: Option<String>,
    pub description: Option<String>,
    pub routing_config: Option<AliasRoutingConfiguration>,
    pub revision_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasConfiguration {
    pub alias_arn: String,
    pub name: String,
    pub function_version: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_config: Option<AliasRoutingConfiguration>,
    pub revision_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceRequest {
    pub tags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutFunctionConcurrencyRequest {
    pub reserved_concurrent_executions: Option<i64>,
}

/// PutProvisionedConcurrencyConfig's body.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutProvisionedConcurrencyConfigRequest {
    pub provisioned_concurrent_executions: Option<i64>,
}

/// One provisioned concurrency configuration as Get/Put answer it; `List`
/// entries add `FunctionArn`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProvisionedConcurrencyConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_arn: Option<String>,
    pub requested_provisioned_concurrent_executions: u32,
    pub available_provisioned_concurrent_executions: u32,
    pub allocated_provisioned_concurrent_executions: u32,
    /// `IN_PROGRESS`, `READY` or `FAILED`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    pub last_modified: String,
}

/// The `FunctionConfiguration` response object. Stored per version as the
/// source of truth for that version's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionConfiguration {
    pub function_name: String,
    pub function_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    pub code_size: u64,
    pub description: String,
    pub timeout: i64,
    pub memory_size: i64,
    pub last_modified: String,
    pub code_sha256: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_config: Option<VpcConfigResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_config: Option<DeadLetterConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<EnvironmentResponse>,
    #[serde(rename = "KMSKeyArn", default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    pub tracing_config: TracingConfig,
    pub revision_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<LayerReference>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_status_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_status_reason_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_system_configs: Option<Vec<FileSystemConfig>>,
    pub package_type: String,
    pub architectures: Vec<String>,
    pub ephemeral_storage: EphemeralStorage,
    pub snap_start: SnapStartResponse,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_version_config: Option<RuntimeVersionConfig>,
    pub logging_config: LoggingConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionCodeLocation {
    pub repository_type: String,
    pub location: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Concurrency {
    pub reserved_concurrent_executions: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetFunctionResponse {
    pub configuration: FunctionConfiguration,
    pub code: FunctionCodeLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Concurrency>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountLimit {
    pub total_code_size: u64,
    pub code_size_unzipped: u64,
    pub code_size_zipped: u64,
    pub concurrent_executions: i64,
    pub unreserved_concurrent_executions: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountUsage {
    pub total_code_size: u64,
    pub function_count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountSettings {
    pub account_limit: AccountLimit,
    pub account_usage: AccountUsage,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_request_reads_flattened_config() {
        let req: CreateFunctionRequest = serde_json::from_str(
            r#"{"FunctionName":"f","Role":"arn:aws:iam::000000000000:role/r","Runtime":"python3.12",
                "Handler":"app.handler","Code":{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="},
                "MemorySize":256,"KMSKeyArn":"","Environment":{"Variables":{"A":"b"}},"Publish":true}"#,
        )
        .unwrap();
        assert_eq!(req.function_name.as_deref(), Some("f"));
        assert_eq!(req.config.memory_size, Some(256));
        assert_eq!(req.config.kms_key_arn.as_deref(), Some(""));
        assert!(req.publish);
        assert!(req.code.unwrap().zip_file.is_some());
    }
}

/// One destination of `DestinationConfig` (`OnSuccess` / `OnFailure`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventDestination {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

/// Where the invocation record of an asynchronous invocation goes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<EventDestination>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<EventDestination>,
}

/// The body of PutFunctionEventInvokeConfig and UpdateFunctionEventInvokeConfig.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventInvokeConfigRequest {
    #[serde(default)]
    pub maximum_retry_attempts: Option<i64>,
    #[serde(default)]
    pub maximum_event_age_in_seconds: Option<i64>,
    #[serde(default)]
    pub destination_config: Option<DestinationConfig>,
}

/// `FunctionEventInvokeConfig`. Unlike every other Lambda timestamp,
/// `LastModified` is a JSON number (epoch seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionEventInvokeConfig {
    pub last_modified: f64,
    pub function_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_retry_attempts: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_event_age_in_seconds: Option<i64>,
    pub destination_config: DestinationConfig,
}
