//! Lambda's validation rules for function configuration.
//!
//! Two kinds of rejection exist and SDK users see the difference: constraint
//! violations the model can express (length, range, pattern, enum) are
//! `ValidationException`; semantic rules (reserved variables, deprecated
//! runtimes, sizes measured across fields) are
//! `InvalidParameterValueException`. See `lambda-facts.md` §1.6 and §3.6.

use crate::error::ApiError;
use crate::model::{ConfigFields, Environment};
use std::collections::BTreeMap;

mod runtimes;
pub(crate) use runtimes::AWS_RUNTIME_ORDER;
pub use runtimes::{DEPRECATED_RUNTIMES, SUPPORTED_RUNTIMES, runtime};

pub const MEMORY_MIN: i64 = 128;
pub const MEMORY_MAX: i64 = 10_240;
pub const TIMEOUT_MIN: i64 = 1;
pub const TIMEOUT_MAX: i64 = 900;
pub const EPHEMERAL_MIN: i64 = 512;
pub const EPHEMERAL_MAX: i64 = 10_240;
pub const ENV_MAX_BYTES: usize = 4096;
pub const MAX_TAGS: usize = 50;

/// Environment variable names Lambda reserves for itself.
pub const RESERVED_ENV_KEYS: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "TZ",
];

/// `arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`
pub fn role(value: &str) -> Result<(), ApiError> {
    const PATTERN: &str = "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+";
    let bad = || ApiError::pattern(value, "role", PATTERN);
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let [arn, partition, iam, empty, account, resource] = parts.as_slice() else {
        return Err(bad());
    };
    let partition_ok = partition.is_empty()
        || (partition.starts_with("aws")
            && partition[3..]
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || b == b'-'));
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let Some(path) = resource.strip_prefix("role") else {
        return Err(bad());
    };
    let path = path.strip_prefix('/').unwrap_or(path);
    let path_ok = !path.is_empty()
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@-_/".contains(&b));
    if *arn == "arn" && partition_ok && *iam == "iam" && empty.is_empty() && account_ok && path_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

pub fn handler(value: &str) -> Result<(), ApiError> {
    // Model lengths count characters, not UTF-8 bytes.
    if value.chars().count() > 128 {
        return Err(ApiError::too_long(value, "handler", 128));
    }
    if value.is_empty() || value.chars().any(char::is_whitespace) {
        return Err(ApiError::pattern(value, "handler", "[^\\s]+"));
    }
    Ok(())
}

pub fn description(value: &str) -> Result<(), ApiError> {
    if value.chars().count() > 256 {
        return Err(ApiError::too_long(value, "description", 256));
    }
    Ok(())
}

pub fn memory_size(value: i64) -> Result<(), ApiError> {
    if value < MEMORY_MIN {
        return Err(ApiError::too_small(value, "memorySize", MEMORY_MIN));
    }
    if value > MEMORY_MAX {
        return Err(ApiError::too_large(value, "memorySize", MEMORY_MAX));
    }
    Ok(())
}

pub fn timeout(value: i64) -> Result<(), ApiError> {
    if value < TIMEOUT_MIN {
        return Err(ApiError::too_small(value, "timeout", TIMEOUT_MIN));
    }
    if value > TIMEOUT_MAX {
        return Err(ApiError::too_large(value, "timeout", TIMEOUT_MAX));
    }
    Ok(())
}

pub fn ephemeral_storage(value: i64) -> Result<(), ApiError> {
    if value < EPHEMERAL_MIN {
        return Err(ApiError::too_small(
            value,
            "ephemeralStorage.size",
            EPHEMERAL_MIN,
        ));
    }
    if value > EPHEMERAL_MAX {
        return Err(ApiError::too_large(
            value,
            "ephemeralStorage.size",
            EPHEMERAL_MAX,
        ));
    }
    Ok(())
}

fn is_env_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && key.len() >= 2
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Environment variables: key pattern, reserved keys, and the 4 KB limit
/// measured as the compact JSON encoding of the whole map.
pub fn environment(env: &Environment) -> Result<(), ApiError> {
    let Some(vars) = &env.variables else {
        return Ok(());
    };
    for key in vars.keys() {
        if !is_env_key(key) {
            // The model marks names sensitive, so AWS masks the value.
            return Err(ApiError::constraint(
                "[sensitive]",
                "environment.variables",
                "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]",
            ));
        }
    }
    let reserved: Vec<&str> = vars
        .keys()
        .map(String::as_str)
        .filter(|k| RESERVED_ENV_KEYS.contains(k))
        .collect();
    if !reserved.is_empty() {
        return Err(ApiError::InvalidParameterValue(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {}",
            reserved.join(", ")
        )));
    }
    let size = serde_json::to_vec(vars)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > ENV_MAX_BYTES {
        return Err(ApiError::InvalidParameterValue(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {}",
            serde_json::to_string(vars).unwrap_or_default()
        )));
    }
    Ok(())
}

/// `(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()`: the model's pattern for
/// `KMSKeyArn` and `DeadLetterConfig.TargetArn`.
pub fn optional_arn(value: &str, field: &str) -> Result<(), ApiError> {
    const PATTERN: &str = "(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()";
    if value.is_empty() {
        return Ok(());
    }
    let ok = value.strip_prefix("arn:").is_some_and(|rest| {
        let mut parts = rest.splitn(3, ':');
        let partition = parts.next().unwrap_or_default();
        let service = parts.next().unwrap_or_default();
        let partition_ok = partition.is_empty()
            || (partition.starts_with("aws")
                && partition[3..]
                    .bytes()
                    .all(|b| b.is_ascii_alphabetic() || b == b'-'));
        let service_ok = !service.is_empty()
            && service
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        partition_ok && service_ok && parts.next().is_some()
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::pattern(value, field, PATTERN))
    }
}

fn one_of(value: &str, field: &str, allowed: &[&str]) -> Result<(), ApiError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ApiError::enum_value(value, field, allowed))
    }
}

/// Subnet / security-group ids: each member must match its pattern (0-1024
/// characters); AWS quotes the whole list and the member's constraints, as
/// recorded in test_invalid_vpc_config_subnet / _security_group.
fn vpc_ids(
    ids: &[String],
    field: &str,
    prefix: &str,
    pattern: &str,
    allowed: fn(u8) -> bool,
) -> Result<(), ApiError> {
    let ok = |id: &String| {
        id.len() <= 1024
            && id
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.bytes().all(allowed))
    };
    if ids.iter().all(ok) {
        return Ok(());
    }
    Err(ApiError::constraint(
        format!("[{}]", ids.join(", ")),
        field,
        &format!(
            "Member must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 0, Member must satisfy regular expression pattern: {pattern}]"
        ),
    ))
}

pub fn architectures(values: &[String]) -> Result<(), ApiError> {
    if values.len() != 1 {
        let shown = format!("[{}]", values.join(", "));
        return Err(if values.is_empty() {
            ApiError::too_short(shown, "architectures", 1)
        } else {
            ApiError::too_long(shown, "architectures", 1)
        });
    }
    let allowed = ["x86_64", "arm64"];
    if allowed.contains(&values[0].as_str()) {
        return Ok(());
    }
    // A list member's enum: AWS quotes the list and the member's constraints
    // (recorded in test_create_lambda_exceptions, uppercase_architecture).
    Err(ApiError::constraint(
        format!("[{}]", values.join(", ")),
        "architectures",
        "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]",
    ))
}

/// Tags: at most 50, key 1–128 and value ≤256 characters, `aws:` reserved.
pub fn tags(tags: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if tags.len() > MAX_TAGS {
        return Err(ApiError::InvalidParameterValue(
            "Number of tags exceeds resource tag limit.".into(),
        ));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(ApiError::InvalidParameterValue(format!(
                "Tag key must be between 1 and 128 characters: {k}"
            )));
        }
        if v.chars().count() > 256 {
            return Err(ApiError::InvalidParameterValue(format!(
                "Tag value must be no more than 256 characters: {v}"
            )));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(ApiError::InvalidParameterValue(format!(
                "Tag keys starting with 'aws:' are reserved for system use: {k}"
            )));
        }
    }
    Ok(())
}

/// Validates every configuration field that is present.
pub fn config_fields(c: &ConfigFields) -> Result<(), ApiError> {
    if let Some(v) = &c.runtime {
        runtime(v)?;
    }
    if let Some(v) = &c.role {
        role(v)?;
    }
    if let Some(v) = &c.handler {
        handler(v)?;
    }
    if let Some(v) = &c.description {
        description(v)?;
    }
    if let Some(v) = c.timeout {
        timeout(v)?;
    }
    if let Some(v) = c.memory_size {
        memory_size(v)?;
    }
    if let Some(v) = &c.environment {
        environment(v)?;
    }
    if let Some(v) = &c.ephemeral_storage {
        ephemeral_storage(v.size)?;
    }
    if let Some(mode) = c.tracing_config.as_ref().and_then(|t| t.mode.as_deref()) {
        one_of(mode, "tracingConfig.mode", &["Active", "PassThrough"])?;
    }
    if let Some(l) = &c.logging_config {
        if let Some(f) = &l.log_format {
            one_of(f, "loggingConfig.logFormat", &["JSON", "Text"])?;
        }
        if let Some(lvl) = &l.application_log_level {
            one_of(
                lvl,
                "loggingConfig.applicationLogLevel",
                &["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"],
            )?;
        }
        if let Some(lvl) = &l.system_log_level {
            one_of(
                lvl,
                "loggingConfig.systemLogLevel",
                &["DEBUG", "INFO", "WARN"],
            )?;
        }
        if let Some(g) = &l.log_group {
            let ok = !g.is_empty()
                && g.len() <= 512
                && g.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-_/#".contains(&b));
            if !ok {
                return Err(ApiError::pattern(
                    g,
                    "loggingConfig.logGroup",
                    "[\\.\\-_/#A-Za-z0-9]+",
                ));
            }
        }
        let json_only = l.application_log_level.is_some() || l.system_log_level.is_some();
        if json_only && l.log_format.as_deref() != Some("JSON") {
            return Err(ApiError::InvalidParameterValue(
                "To use ApplicationLogLevel or SystemLogLevel, LogFormat must be set to JSON."
                    .into(),
            ));
        }
    }
    if let Some(k) = &c.kms_key_arn {
        optional_arn(k, "kMSKeyArn")?;
    }
    if let Some(t) = c
        .dead_letter_config
        .as_ref()
        .and_then(|d| d.target_arn.as_deref())
    {
        optional_arn(t, "deadLetterConfig.targetArn")?;
    }
    if let Some(v) = &c.vpc_config {
        if let Some(subnets) = &v.subnet_ids
            && subnets.len() > 16
        {
            return Err(ApiError::too_long(
                format!("[{}]", subnets.join(", ")),
                "vpcConfig.subnetIds",
                16,
            ));
        }
        if let Some(groups) = &v.security_group_ids
            && groups.len() > 5
        {
            return Err(ApiError::too_long(
                format!("[{}]", groups.join(", ")),
                "vpcConfig.securityGroupIds",
                5,
            ));
        }
        if let Some(subnets) = &v.subnet_ids {
            vpc_ids(
                subnets,
                "vpcConfig.subnetIds",
                "subnet-",
                "subnet-[0-9a-z]*",
                |b| b.is_ascii_lowercase() || b.is_ascii_digit(),
            )?;
        }
        if let Some(groups) = &v.security_group_ids {
            vpc_ids(
                groups,
                "vpcConfig.securityGroupIds",
                "sg-",
                "sg-[0-9a-zA-Z]*",
                |b| b.is_ascii_alphanumeric(),
            )?;
        }
    }
    if let Some(layers) = &c.layers {
        crate::layers::function_layers(layers)?;
    }
    if let Some(layers) = &c.layers
        && layers.len() > 5
    {
        return Err(ApiError::InvalidParameterValue(
            "Cannot reference more than 5 layers.".into(),
        ));
    }
    if let Some(fs) = &c.file_system_configs
        && fs.len() > 1
    {
        return Err(ApiError::too_long(
            format!("{} items", fs.len()),
            "fileSystemConfigs",
            1,
        ));
    }
    if let Some(s) = c.snap_start.as_ref().and_then(|s| s.apply_on.as_deref()) {
        one_of(s, "snapStart.applyOn", &["PublishedVersions", "None"])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_and_timeout_ranges() {
        assert!(memory_size(128).is_ok());
        assert!(memory_size(10240).is_ok());
        assert_eq!(memory_size(127).unwrap_err().code(), "ValidationException");
        assert_eq!(
            memory_size(10241).unwrap_err().code(),
            "ValidationException"
        );
        assert!(timeout(900).is_ok());
        assert!(timeout(0).is_err());
        assert!(timeout(901).is_err());
        assert!(ephemeral_storage(511).is_err());
        assert!(ephemeral_storage(10240).is_ok());
    }

    #[test]
    fn runtimes_distinguish_unknown_from_deprecated() {
        assert!(runtime("python3.12").is_ok());
        assert!(runtime("provided.al2023").is_ok());
        assert_eq!(
            runtime("python2.7").unwrap_err().code(),
            "InvalidParameterValueException"
        );
        let e = runtime("cobol").unwrap_err();
        assert_eq!(e.code(), "InvalidParameterValueException");
        let msg = e.to_string();
        assert!(msg.starts_with("Value cobol at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [nodejs20.x, python3.14, "), "{msg}");
        assert!(msg.ends_with("] or be a valid ARN"), "{msg}");
        // Only runtimes that can be created are listed.
        assert!(
            !msg.contains("python2.7") && msg.contains("python3.12"),
            "{msg}"
        );
        let e = architectures(&["X86_64".into()]).unwrap_err();
        assert_eq!(e.code(), "ValidationException");
        assert!(
            e.to_string()
                .contains("Value '[X86_64]' at 'architectures'")
        );
    }

    #[test]
    fn vpc_ids_follow_their_patterns() {
        let subnet = |ids: &[&str]| {
            vpc_ids(
                &ids.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "vpcConfig.subnetIds",
                "subnet-",
                "subnet-[0-9a-z]*",
                |b| b.is_ascii_lowercase() || b.is_ascii_digit(),
            )
        };
        assert!(subnet(&["subnet-0123abcd", "subnet-"]).is_ok());
        let e = subnet(&["subnet-0123abcd", "subnet-ABC"]).unwrap_err();
        assert_eq!(e.code(), "ValidationException");
        assert_eq!(
            e.to_string(),
            "1 validation error detected: Value '[subnet-0123abcd, subnet-ABC]' at 'vpcConfig.subnetIds' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 0, Member must satisfy regular expression pattern: subnet-[0-9a-z]*]"
        );
        assert!(subnet(&["sg-123"]).is_err());
    }

    #[test]
    fn roles_follow_the_iam_pattern() {
        assert!(role("arn:aws:iam::123456789012:role/lambda-role").is_ok());
        assert!(role("arn:aws:iam::123456789012:role/path/to/r").is_ok());
        assert!(role("arn:aws:iam::12345:role/r").is_err());
        assert!(role("not-an-arn").is_err());
        assert!(role("arn:aws:iam::123456789012:user/u").is_err());
    }

    #[test]
    fn environment_rules() {
        let env = |pairs: &[(&str, &str)]| Environment {
            variables: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        };
        assert!(environment(&env(&[("FOO", "bar"), ("PATH", "/x")])).is_ok());
        let e = environment(&env(&[("AWS_REGION", "x")])).unwrap_err();
        assert_eq!(e.code(), "InvalidParameterValueException");
        assert!(
            e.to_string()
                .ends_with("Reserved keys used in this request: AWS_REGION")
        );
        assert_eq!(
            environment(&env(&[("A", "x")])).unwrap_err().code(),
            "ValidationException"
        );
        assert_eq!(
            environment(&env(&[("1A", "x")])).unwrap_err().code(),
            "ValidationException"
        );
        let big = "x".repeat(4100);
        assert_eq!(
            environment(&env(&[("BIG", &big)])).unwrap_err().code(),
            "InvalidParameterValueException"
        );
        // Exactly 4096 bytes of JSON is allowed: {"AB":"<v>"} has 9 bytes of framing.
        let exact = "x".repeat(4096 - 9);
        assert!(environment(&env(&[("AB", &exact)])).is_ok());
        let over = "x".repeat(4096 - 8);
        assert!(environment(&env(&[("AB", &over)])).is_err());
    }

    #[test]
    fn tag_rules() {
        let mut t = BTreeMap::new();
        t.insert("team".to_string(), "core".to_string());
        assert!(tags(&t).is_ok());
        t.insert("aws:x".to_string(), "y".to_string());
        assert!(tags(&t).is_err());
        let many: BTreeMap<String, String> =
            (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
        assert_eq!(
            tags(&many).unwrap_err().to_string(),
            "Number of tags exceeds resource tag limit."
        );
    }

    #[test]
    fn architectures_are_exactly_one() {
        assert!(architectures(&["x86_64".into()]).is_ok());
        assert!(architectures(&["arm64".into()]).is_ok());
        assert!(architectures(&["x86_64".into(), "arm64".into()]).is_err());
        assert!(architectures(&["mips".into()]).is_err());
        assert!(architectures(&[]).is_err());
    }

    #[test]
    fn arn_shaped_fields_follow_the_model() {
        assert!(optional_arn("", "kMSKeyArn").is_ok());
        assert!(optional_arn("arn:aws:kms:us-east-1:000000000000:key/abc", "kMSKeyArn").is_ok());
        assert!(optional_arn("arn:aws:sqs:us-east-1:000000000000:dlq", "x").is_ok());
        assert_eq!(
            optional_arn("not an arn", "kMSKeyArn").unwrap_err().code(),
            "ValidationException"
        );
        assert!(
            crate::layers::function_layers(&[
                "arn:aws:lambda:us-east-1:000000000000:layer:deps:3".into()
            ])
            .is_ok()
        );
        assert!(crate::layers::function_layers(&["not-a-layer-arn".into()]).is_err());
        assert!(handler(&"é".repeat(128)).is_ok());
        assert!(handler(&"é".repeat(129)).is_err());
    }

    #[test]
    fn log_levels_need_json() {
        let c = ConfigFields {
            logging_config: Some(crate::model::LoggingConfig {
                application_log_level: Some("DEBUG".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            config_fields(&c).unwrap_err().code(),
            "InvalidParameterValueException"
        );
    }
}
