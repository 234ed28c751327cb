//! Lambda layers: the wire shapes of the nine layer operations (2018-10-31), layer names and
//! ARNs, and the validation AWS applies to them (messages as recorded from AWS,
//! `TestLambdaLayer::*`).

use crate::error::ApiError;
use serde::{Deserialize, Serialize};

/// The model's `LayerVersionArn` pattern, as AWS quotes it.
pub const LAYER_VERSION_ARN_PATTERN: &str = "(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)";
/// The model's `LayerNameOrArn` pattern.
pub const LAYER_NAME_PATTERN: &str = "(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:layer:[a-zA-Z0-9-_]{1,140}|[a-zA-Z0-9-_]{1,140})";
/// `AddLayerVersionPermission`'s only action.
pub const LAYER_ACTION: &str = "lambda:GetLayerVersion";
/// At most this many layers per function.
pub const MAX_FUNCTION_LAYERS: usize = 5;

/// Every value of the model's `Runtime` enum in the order AWS lists them when ListLayers'
/// `CompatibleRuntime` is none of them (recorded `list_layers_exc_compatibleruntime_invalid`).
pub const LISTABLE_RUNTIMES: &[&str] = &[
    "ruby3.5",
    "ruby2.6",
    "dotnetcore1.0",
    "python3.7",
    "nodejs8.10",
    "nasa",
    "ruby2.7",
    "python2.7-greengrass",
    "dotnetcore2.0",
    "python3.8",
    "java21",
    "dotnet6",
    "dotnetcore2.1",
    "python3.9",
    "java11",
    "nodejs6.10",
    "provided",
    "dotnetcore3.1",
    "dotnet8",
    "java25",
    "java17",
    "nodejs",
    "nodejs4.3",
    "java8.al2",
    "go1.x",
    "dotnet10",
    "nodejs20.x",
    "go1.9",
    "byol",
    "nodejs10.x",
    "provided.al2023",
    "nodejs22.x",
    "python3.10",
    "java8",
    "nodejs12.x",
    "python3.11",
    "nodejs24.x",
    "nodejs8.x",
    "python3.12",
    "nodejs14.x",
    "nodejs8.9",
    "nodejs26.x",
    "python3.13",
    "python3.14",
    "nodejs16.x",
    "python3.15",
    "provided.al2",
    "nodejs4.3-edge",
    "nodejs18.x",
    "ruby3.2",
    "python3.4",
    "ruby3.3",
    "ruby3.4",
    "ruby2.5",
    "python3.6",
    "python2.7",
];

/// The runtimes PublishLayerVersion's refusal lists, in AWS's order (recorded
/// `publish_layer_version_exc_invalid_runtime_arch`). AWS accepts older ids too (the
/// recorded `test_layer_compatibilities` publishes `go1.x`, `java8`, `nodejs12.x`), so what
/// is accepted is [`LISTABLE_RUNTIMES`] and this list is only the message's: the same
/// order as CreateFunction's refusal of an unknown runtime.
pub const PUBLISH_MESSAGE_RUNTIMES: &[&str] = crate::validate::AWS_RUNTIME_ORDER;

pub const ARCHITECTURES: &[&str] = &["x86_64", "arm64"];

/// `Content` of PublishLayerVersion.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LayerContentInput {
    #[serde(rename = "S3Bucket")]
    pub s3_bucket: Option<String>,
    #[serde(rename = "S3Key")]
    pub s3_key: Option<String>,
    #[serde(rename = "S3ObjectVersion")]
    pub s3_object_version: Option<String>,
    /// Base64 of the zip, decoded by the control plane (as `FunctionCode.ZipFile`).
    pub zip_file: Option<String>,
}

/// The body of PublishLayerVersion.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublishLayerVersionRequest {
    pub description: Option<String>,
    pub content: Option<LayerContentInput>,
    pub compatible_runtimes: Option<Vec<String>>,
    pub license_info: Option<String>,
    pub compatible_architectures: Option<Vec<String>>,
}

/// The body of AddLayerVersionPermission.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddLayerVersionPermissionRequest {
    pub statement_id: Option<String>,
    pub action: Option<String>,
    pub principal: Option<String>,
    pub organization_id: Option<String>,
}

/// `Content` of a layer version as GetLayerVersion shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LayerVersionContentOutput {
    pub location: String,
    pub code_sha256: String,
    pub code_size: u64,
}

/// A layer version's own fields (what PublishLayerVersion stored), in the shape of
/// `LayerVersionsListItem`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LayerVersionsListItem {
    pub layer_version_arn: String,
    pub version: u64,
    pub description: String,
    pub created_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatible_runtimes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_info: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatible_architectures: Option<Vec<String>>,
}

/// PublishLayerVersion's and GetLayerVersion's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetLayerVersionResponse {
    pub content: LayerVersionContentOutput,
    pub layer_arn: String,
    #[serde(flatten)]
    pub item: LayerVersionsListItem,
}

/// One layer of ListLayers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LayersListItem {
    pub layer_name: String,
    pub layer_arn: String,
    pub latest_matching_version: LayerVersionsListItem,
}

/// A layer named by a request: `{LayerName}` (a name, or the layer's ARN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerName {
    pub name: String,
    /// The region and account of an ARN, when one was given.
    pub region: Option<String>,
    pub account: Option<String>,
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 140
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_partition(s: &str) -> bool {
    s.strip_prefix("aws")
        .is_some_and(|r| r.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-'))
}

impl LayerName {
    /// `{LayerName}`: a name or `arn:aws:lambda:<region>:<account>:layer:<name>`.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let bad = || ApiError::pattern(raw, "layerName", LAYER_NAME_PATTERN);
        if raw.len() > 2048 {
            return Err(ApiError::too_long(raw, "layerName", 2048));
        }
        if is_name(raw) {
            return Ok(Self {
                name: raw.to_string(),
                region: None,
                account: None,
            });
        }
        match raw.split(':').collect::<Vec<_>>().as_slice() {
            ["arn", partition, "lambda", region, account, "layer", name]
                if (partition.is_empty() || is_partition(partition))
                    && crate::ident::is_region(region)
                    && is_account(account)
                    && is_name(name) =>
            {
                Ok(Self {
                    name: name.to_string(),
                    region: Some(region.to_string()),
                    account: Some(account.to_string()),
                })
            }
            _ => Err(bad()),
        }
    }
}

/// A layer version ARN split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerVersionArn {
    pub region: String,
    pub account: String,
    pub name: String,
    pub version: u64,
}

impl LayerVersionArn {
    /// A value of the model's `LayerVersionArn` pattern (AWS's own `awslayer` ARNs are not
    /// parsed: flint has none). `None` when the value breaks the pattern.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.is_empty() || raw.len() > 2048 {
            return None;
        }
        match raw.split(':').collect::<Vec<_>>().as_slice() {
            [
                "arn",
                partition,
                "lambda",
                region,
                account,
                "layer",
                name,
                version,
            ] if (partition.is_empty() || is_partition(partition))
                && crate::ident::is_region(region)
                && is_account(account)
                && !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !version.is_empty()
                && version.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(Self {
                    region: region.to_string(),
                    account: account.to_string(),
                    name: name.to_string(),
                    version: version.parse().ok()?,
                })
            }
            _ => None,
        }
    }
}

/// `arn:<partition>:lambda:::awslayer:<name>`: one of AWS's own layers (the second form of
/// the model's `LayerVersionArn` pattern).
pub fn is_aws_layer_arn(raw: &str) -> bool {
    match raw.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", partition, "lambda", "", "", "awslayer", name] => {
            !partition.is_empty()
                && partition
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && is_name(name)
        }
        _ => false,
    }
}

/// `arn:aws:lambda:<region>:<account>:layer:<name>`.
pub fn layer_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{account}:layer:{name}")
}

/// `{VersionNumber}`: a number of at least 1 (`Layer Version Cannot be less than 1`).
pub fn version_number(raw: &str) -> Result<u64, ApiError> {
    let n: i64 = raw
        .parse()
        .map_err(|_| ApiError::constraint(raw, "versionNumber", "Member must be a number"))?;
    if n < 1 {
        return Err(ApiError::InvalidParameterValue(
            "Layer Version Cannot be less than 1".into(),
        ));
    }
    Ok(n as u64)
}

/// ListLayers' / ListLayerVersions' `CompatibleRuntime`.
pub fn compatible_runtime_filter(value: &str) -> Result<(), ApiError> {
    if LISTABLE_RUNTIMES.contains(&value) {
        Ok(())
    } else {
        Err(ApiError::enum_value(
            value,
            "compatibleRuntime",
            LISTABLE_RUNTIMES,
        ))
    }
}

/// ListLayers' / ListLayerVersions' `CompatibleArchitecture`.
pub fn compatible_architecture_filter(value: &str) -> Result<(), ApiError> {
    if ARCHITECTURES.contains(&value) {
        Ok(())
    } else {
        Err(ApiError::enum_value(
            value,
            "compatibleArchitecture",
            ARCHITECTURES,
        ))
    }
}

/// PublishLayerVersion's fields, every broken constraint listed in one message as AWS does
/// (`2 validation errors detected: ...; ...`).
pub fn publish_request(req: &PublishLayerVersionRequest) -> Result<(), ApiError> {
    let mut errors: Vec<String> = Vec::new();
    let value = |v: &str, field: &str, constraint: &str| {
        format!("Value '{v}' at '{field}' failed to satisfy constraint: {constraint}")
    };
    if let Some(d) = &req.description
        && d.chars().count() > 256
    {
        errors.push(value(
            d,
            "description",
            "Member must have length less than or equal to 256",
        ));
    }
    if let Some(r) = &req.compatible_runtimes {
        let shown = format!("[{}]", r.join(", "));
        if r.iter().any(|x| !LISTABLE_RUNTIMES.contains(&x.as_str())) {
            errors.push(value(
                &shown,
                "compatibleRuntimes",
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    PUBLISH_MESSAGE_RUNTIMES.join(", ")
                ),
            ));
        } else if r.len() > 15 {
            errors.push(value(
                &shown,
                "compatibleRuntimes",
                "Member must have length less than or equal to 15",
            ));
        }
    }
    if let Some(l) = &req.license_info
        && l.chars().count() > 512
    {
        errors.push(value(
            l,
            "licenseInfo",
            "Member must have length less than or equal to 512",
        ));
    }
    if let Some(a) = &req.compatible_architectures {
        let shown = format!("[{}]", a.join(", "));
        if a.iter().any(|x| !ARCHITECTURES.contains(&x.as_str())) {
            errors.push(value(
                &shown,
                "compatibleArchitectures",
                "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]",
            ));
        } else if a.len() > 2 {
            errors.push(value(
                &shown,
                "compatibleArchitectures",
                "Member must have length less than or equal to 2",
            ));
        }
    }
    if req.content.is_none() {
        errors.push(value("null", "content", "Member must not be null"));
    }
    match errors.len() {
        0 => Ok(()),
        1 => Err(ApiError::Validation(format!(
            "1 validation error detected: {}",
            errors[0]
        ))),
        n => Err(ApiError::Validation(format!(
            "{n} validation errors detected: {}",
            errors.join("; ")
        ))),
    }
}

/// AddLayerVersionPermission's fields, in the model's order.
pub fn permission_request(req: &AddLayerVersionPermissionRequest) -> Result<(), ApiError> {
    let sid = req
        .statement_id
        .as_deref()
        .ok_or_else(|| ApiError::constraint("null", "statementId", "Member must not be null"))?;
    if sid.is_empty() || sid.len() > 100 {
        return Err(if sid.is_empty() {
            ApiError::too_short(sid, "statementId", 1)
        } else {
            ApiError::too_long(sid, "statementId", 100)
        });
    }
    if !sid
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::pattern(sid, "statementId", "([a-zA-Z0-9-_]+)"));
    }
    let action = req
        .action
        .as_deref()
        .ok_or_else(|| ApiError::constraint("null", "action", "Member must not be null"))?;
    if action != LAYER_ACTION {
        return Err(ApiError::pattern(action, "action", LAYER_ACTION));
    }
    let principal = req
        .principal
        .as_deref()
        .ok_or_else(|| ApiError::constraint("null", "principal", "Member must not be null"))?;
    let root_arn = principal
        .strip_suffix(":root")
        .and_then(|p| p.strip_prefix("arn:"))
        .and_then(|p| p.split_once(":iam::"))
        .is_some_and(|(partition, account)| is_partition(partition) && is_account(account));
    if !(principal == "*" || is_account(principal) || root_arn) {
        return Err(ApiError::pattern(
            principal,
            "principal",
            "\\d{12}|\\*|arn:(aws[a-zA-Z-]*):iam::\\d{12}:root",
        ));
    }
    if let Some(org) = &req.organization_id {
        let ok = org.strip_prefix("o-").is_some_and(|r| {
            (10..=32).contains(&r.len())
                && r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
        if !ok {
            return Err(ApiError::pattern(
                org,
                "organizationId",
                "o-[a-z0-9]{10,32}",
            ));
        }
    }
    Ok(())
}

/// The statement AddLayerVersionPermission writes, in GetLayerVersionPolicy's shape: the
/// principal as given (`*`, an account id, or an account's root ARN), an organisation as a
/// `StringEquals` condition on `aws:PrincipalOrgID`.
pub fn permission_statement(
    req: &AddLayerVersionPermissionRequest,
    resource: &str,
) -> serde_json::Value {
    let principal = req.principal.clone().unwrap_or_default();
    let principal = if is_account(&principal) {
        serde_json::json!({ "AWS": format!("arn:aws:iam::{principal}:root") })
    } else if principal == "*" {
        serde_json::json!("*")
    } else {
        serde_json::json!({ "AWS": principal })
    };
    let mut s = serde_json::json!({
        "Sid": req.statement_id.clone().unwrap_or_default(),
        "Effect": "Allow",
        "Principal": principal,
        "Action": LAYER_ACTION,
        "Resource": resource,
    });
    if let Some(org) = &req.organization_id {
        s["Condition"] = serde_json::json!({ "StringEquals": { "aws:PrincipalOrgID": org } });
    }
    s
}

/// A function's `Layers`: layer version ARNs of the model's pattern, parsed (`None`: one of
/// AWS's own `awslayer` ARNs, which flint never has).
pub fn function_layers(layers: &[String]) -> Result<Vec<Option<LayerVersionArn>>, ApiError> {
    let mut parsed = Vec::with_capacity(layers.len());
    for l in layers {
        match LayerVersionArn::parse(l) {
            Some(arn) => parsed.push(Some(arn)),
            None if is_aws_layer_arn(l) => parsed.push(None),
            None => {
                return Err(ApiError::constraint(
                    format!("[{}]", layers.join(", ")),
                    "layers",
                    &format!(
                        "Member must satisfy constraint: [Member must have length less than or equal to 2048, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: {LAYER_VERSION_ARN_PATTERN}, Member must not be null]"
                    ),
                ));
            }
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_names_are_names_or_layer_arns() {
        assert_eq!(LayerName::parse("my-layer_1").unwrap().name, "my-layer_1");
        let arn = LayerName::parse("arn:aws:lambda:us-east-1:123456789012:layer:l").unwrap();
        assert_eq!(
            (arn.name.as_str(), arn.region.as_deref()),
            ("l", Some("us-east-1"))
        );
        assert!(LayerName::parse("a.b").is_err());
        assert!(LayerName::parse("").is_err());
        assert!(LayerName::parse(&"x".repeat(141)).is_err());
        assert!(LayerName::parse("arn:aws:lambda:us-east-1:123456789012:layer:l:1").is_err());
    }

    #[test]
    fn layer_version_arns_need_a_version() {
        let a = LayerVersionArn::parse("arn:aws:lambda:eu-west-1:123456789012:layer:x:12").unwrap();
        assert_eq!((a.name.as_str(), a.version), ("x", 12));
        assert!(LayerVersionArn::parse("arn:aws:lambda:eu-west-1:123456789012:layer:x").is_none());
        assert!(LayerVersionArn::parse("arn:aws:lambda:eu-west-1:1234:layer:x:1").is_none());
        assert!(is_aws_layer_arn(
            "arn:aws:lambda:::awslayer:AWSLambda-Python"
        ));
        assert!(!is_aws_layer_arn("arn:aws:lambda:us-east-1::awslayer:x"));
        let e =
            function_layers(&["arn:aws:lambda:us-east-1:123456789012:layer:x".into()]).unwrap_err();
        assert!(e.to_string().starts_with("1 validation error detected: Value '[arn:aws:lambda:us-east-1:123456789012:layer:x]' at 'layers' failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or equal to 2048"), "{e}");
    }

    #[test]
    fn version_numbers_start_at_one() {
        assert_eq!(version_number("3").unwrap(), 3);
        for bad in ["0", "-1"] {
            assert_eq!(
                version_number(bad).unwrap_err().to_string(),
                "Layer Version Cannot be less than 1"
            );
        }
    }

    #[test]
    fn publish_lists_every_broken_constraint() {
        let req = PublishLayerVersionRequest {
            content: Some(LayerContentInput::default()),
            compatible_runtimes: Some(vec!["invalidruntime".into(), "nodejs20.x".into()]),
            compatible_architectures: Some(vec!["invalidarch".into(), "x86_64".into()]),
            ..Default::default()
        };
        let e = publish_request(&req).unwrap_err().to_string();
        assert!(e.starts_with("2 validation errors detected: Value '[invalidruntime, nodejs20.x]' at 'compatibleRuntimes' failed to satisfy constraint: Member must satisfy enum value set: [nodejs20.x, python3.14,"), "{e}");
        assert!(e.ends_with("Value '[invalidarch, x86_64]' at 'compatibleArchitectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]"), "{e}");
        // Older runtime ids are accepted (recorded test_layer_compatibilities).
        let ok = PublishLayerVersionRequest {
            content: Some(LayerContentInput::default()),
            compatible_runtimes: Some(vec!["go1.x".into(), "java8".into()]),
            ..Default::default()
        };
        assert!(publish_request(&ok).is_ok());
        let too_many = PublishLayerVersionRequest {
            content: Some(LayerContentInput::default()),
            compatible_runtimes: Some(vec!["python3.12".into(); 16]),
            license_info: Some("x".repeat(513)),
            ..Default::default()
        };
        let e = publish_request(&too_many).unwrap_err().to_string();
        assert!(e.starts_with("2 validation errors detected"), "{e}");
    }

    #[test]
    fn permissions_take_one_action_and_three_principal_forms() {
        let mut req = AddLayerVersionPermissionRequest {
            statement_id: Some("s1".into()),
            action: Some("*".into()),
            principal: Some("*".into()),
            organization_id: None,
        };
        assert_eq!(
            permission_request(&req).unwrap_err().to_string(),
            "1 validation error detected: Value '*' at 'action' failed to satisfy constraint: Member must satisfy regular expression pattern: lambda:GetLayerVersion"
        );
        req.action = Some(LAYER_ACTION.into());
        for p in ["*", "123456789012", "arn:aws:iam::123456789012:root"] {
            req.principal = Some(p.into());
            assert!(permission_request(&req).is_ok(), "{p}");
        }
        req.principal = Some("someone".into());
        assert!(permission_request(&req).is_err());
        req.principal = Some("123456789012".into());
        req.organization_id = Some("o-abcdefghij".into());
        let s = permission_statement(&req, "arn:r");
        assert_eq!(s["Principal"]["AWS"], "arn:aws:iam::123456789012:root");
        assert_eq!(
            s["Condition"]["StringEquals"]["aws:PrincipalOrgID"],
            "o-abcdefghij"
        );
        req.organization_id = Some("o-short".into());
        assert!(permission_request(&req).is_err());
    }
}
