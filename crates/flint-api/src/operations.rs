//! The operations that take a request body: each one's name (in its 413 answer), the
//! largest body it accepts and, for JSON bodies, the shape it parses into.

use flint_types::function_settings::{
    PutFunctionRecursionConfigRequest, PutFunctionScalingConfigRequest,
    PutRuntimeManagementConfigRequest,
};
use flint_types::function_url::FunctionUrlConfigRequest;
use flint_types::model::{
    CreateAliasRequest, CreateFunctionRequest, EventInvokeConfigRequest, PublishVersionRequest,
    PutFunctionConcurrencyRequest, PutProvisionedConcurrencyConfigRequest, TagResourceRequest,
    UpdateAliasRequest, UpdateFunctionCodeRequest, UpdateFunctionConfigurationRequest,
};
use flint_types::policy::AddPermissionRequest;
use serde::de::DeserializeOwned;

/// Largest CreateFunction / UpdateFunctionCode request Lambda accepts
/// (a 50 MB zip, base64-encoded, plus the rest of the JSON).
pub(crate) const MAX_CODE_REQUEST: usize = 70_167_211;
/// Largest body of any other control-plane request.
pub(crate) const MAX_CONTROL_REQUEST: usize = 6_291_456;
/// Largest synchronous request payload.
pub(crate) const MAX_INVOKE_REQUEST: usize = 6_291_456;
/// Largest asynchronous (`Event`) payload: 1 MB in Lambda's current model.
pub(crate) const MAX_EVENT_PAYLOAD: usize = 1_048_576;
/// Largest `InvokeAsync` (2014-11-13) payload: 256 KB, that API's historical limit.
pub(crate) const MAX_INVOKE_ASYNC_ARGS: usize = 262_144;

/// An operation with a bounded request body.
pub(crate) trait Operation {
    /// The name AWS gives it in a 413 answer.
    const NAME: &'static str;
    /// The largest body it accepts, in bytes.
    const MAX_BODY: usize;
}

/// An operation whose body is a JSON document.
pub(crate) trait JsonOperation: Operation {
    /// What the body parses into (`Default` for an empty body).
    type Input: DeserializeOwned + Default;
}

/// `X-Amz-Invocation-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InvocationType {
    RequestResponse,
    Event,
    DryRun,
}

impl InvocationType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            InvocationType::RequestResponse => "RequestResponse",
            InvocationType::Event => "Event",
            InvocationType::DryRun => "DryRun",
        }
    }
}

/// An operation that invokes a function: its body is the event.
pub(crate) trait InvokeOperation: Operation {
    /// The invocation types it accepts, in the order its error message lists them.
    const INVOCATION_TYPES: &'static [InvocationType];
}

/// Declares operations: a marker type named as the operation, its body limit and, for JSON
/// bodies, what the body parses into.
macro_rules! operations {
    ($($name:ident: $limit:expr $(=> $input:ty)?;)*) => {$(
        pub(crate) struct $name;

        impl Operation for $name {
            const NAME: &'static str = stringify!($name);
            const MAX_BODY: usize = $limit;
        }

        $(impl JsonOperation for $name {
            type Input = $input;
        })?
    )*};
}

operations! {
    CreateFunction: MAX_CODE_REQUEST => CreateFunctionRequest;
    UpdateFunctionCode: MAX_CODE_REQUEST => UpdateFunctionCodeRequest;
    UpdateFunctionConfiguration: MAX_CONTROL_REQUEST => UpdateFunctionConfigurationRequest;
    PublishVersion: MAX_CONTROL_REQUEST => PublishVersionRequest;
    CreateAlias: MAX_CONTROL_REQUEST => CreateAliasRequest;
    UpdateAlias: MAX_CONTROL_REQUEST => UpdateAliasRequest;
    TagResource: MAX_CONTROL_REQUEST => TagResourceRequest;
    PutFunctionConcurrency: MAX_CONTROL_REQUEST => PutFunctionConcurrencyRequest;
    PutProvisionedConcurrencyConfig: MAX_CONTROL_REQUEST => PutProvisionedConcurrencyConfigRequest;
    AddPermission: MAX_CONTROL_REQUEST => AddPermissionRequest;
    PutFunctionEventInvokeConfig: MAX_CONTROL_REQUEST => EventInvokeConfigRequest;
    UpdateFunctionEventInvokeConfig: MAX_CONTROL_REQUEST => EventInvokeConfigRequest;
    CreateFunctionUrlConfig: MAX_CONTROL_REQUEST => FunctionUrlConfigRequest;
    UpdateFunctionUrlConfig: MAX_CONTROL_REQUEST => FunctionUrlConfigRequest;
    PutFunctionRecursionConfig: MAX_CONTROL_REQUEST => PutFunctionRecursionConfigRequest;
    PutRuntimeManagementConfig: MAX_CONTROL_REQUEST => PutRuntimeManagementConfigRequest;
    PutFunctionScalingConfig: MAX_CONTROL_REQUEST => PutFunctionScalingConfigRequest;
    PublishLayerVersion: MAX_CODE_REQUEST => flint_types::layers::PublishLayerVersionRequest;
    AddLayerVersionPermission: MAX_CONTROL_REQUEST => flint_types::layers::AddLayerVersionPermissionRequest;
    // flint's own `POST /_flint/clock`.
    AdvanceClock: 4096 => serde_json::Value;
    InvokeFunction: MAX_INVOKE_REQUEST;
    InvokeWithResponseStream: MAX_INVOKE_REQUEST;
    InvokeAsync: MAX_INVOKE_ASYNC_ARGS;
}

impl InvokeOperation for InvokeFunction {
    const INVOCATION_TYPES: &'static [InvocationType] = &[
        InvocationType::Event,
        InvocationType::RequestResponse,
        InvocationType::DryRun,
    ];
}

impl InvokeOperation for InvokeWithResponseStream {
    const INVOCATION_TYPES: &'static [InvocationType] =
        &[InvocationType::RequestResponse, InvocationType::DryRun];
}
