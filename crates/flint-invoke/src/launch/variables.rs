//! The environment variables a function runs with, and their precedence.

use flint_types::model::FunctionConfiguration;

/// How an environment was started (`AWS_LAMBDA_INITIALIZATION_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InitType {
    OnDemand,
    Provisioned,
}

impl InitType {
    fn as_str(self) -> &'static str {
        match self {
            InitType::OnDemand => "on-demand",
            InitType::Provisioned => "provisioned-concurrency",
        }
    }
}

/// Variables Lambda sets that a function may set itself ("not reserved and can be extended
/// in your function configuration", AWS's docs): the function's value wins.
const UNRESERVED: [&str; 5] = ["LANG", "PATH", "LD_LIBRARY_PATH", "NODE_PATH", "PYTHONPATH"];

/// Where an environment runs: what the platform's variables say about it.
pub(crate) struct Platform<'a> {
    pub region: &'a str,
    /// The environment's log stream (`AWS_LAMBDA_LOG_STREAM_NAME`).
    pub stream: &'a str,
    pub init_type: InitType,
}

/// The function's variables first; the sandbox's base variables, the runtime's
/// (`runtime_env`) and Lambda's over them, except the unreserved ones ([`UNRESERVED`]),
/// where the function's own value wins.
pub(crate) fn environment_variables(
    config: &FunctionConfiguration,
    runtime_env: &[(String, String)],
    platform: &Platform<'_>,
) -> Vec<(String, String)> {
    let customer = config.environment.as_ref().map(|e| &e.variables);
    let mut env: Vec<(String, String)> = customer
        .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    for (k, v) in flint_sandbox::lambda_base_env()
        .into_iter()
        .chain(runtime_env.iter().cloned())
    {
        if !(UNRESERVED.contains(&k.as_str()) && customer.is_some_and(|c| c.contains_key(&k))) {
            set_var(&mut env, &k, v);
        }
    }
    let mut set = |k: &str, v: String| set_var(&mut env, k, v);
    let log_group = config
        .logging_config
        .log_group
        .clone()
        .unwrap_or_else(|| format!("/aws/lambda/{}", config.function_name));
    set("_HANDLER", config.handler.clone().unwrap_or_default());
    set("AWS_REGION", platform.region.to_string());
    set("AWS_DEFAULT_REGION", platform.region.to_string());
    set("AWS_LAMBDA_FUNCTION_NAME", config.function_name.clone());
    set(
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        config.memory_size.to_string(),
    );
    set("AWS_LAMBDA_FUNCTION_VERSION", config.version.clone());
    set(
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        platform.init_type.as_str().into(),
    );
    set("AWS_LAMBDA_LOG_GROUP_NAME", log_group);
    set("AWS_LAMBDA_LOG_STREAM_NAME", platform.stream.to_string());
    // Lambda sets it only for JSON logs: a Text function's environment has no such variable
    // (recorded from AWS), and the runtimes default to Text.
    if let Some(format) = config
        .logging_config
        .log_format
        .as_ref()
        .filter(|f| *f != "Text")
    {
        set("AWS_LAMBDA_LOG_FORMAT", format.clone());
    }
    if let Some(level) = &config.logging_config.application_log_level {
        set("AWS_LAMBDA_LOG_LEVEL", level.clone());
    }
    for (k, v) in XRAY {
        set(k, v.to_string());
    }
    env
}

/// The X-Ray daemon's address and the SDKs' context-missing strategy, set whatever the
/// tracing mode, with the values AWS reported (`aws-recorded/test_lambda_common`).
const XRAY: [(&str, &str); 4] = [
    ("AWS_XRAY_DAEMON_ADDRESS", "169.254.100.1:2000"),
    ("_AWS_XRAY_DAEMON_ADDRESS", "169.254.100.1"),
    ("_AWS_XRAY_DAEMON_PORT", "2000"),
    ("AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR"),
];

/// Sets `k` to `v` in `env`, replacing an earlier value.
fn set_var(env: &mut Vec<(String, String)>, k: &str, v: String) {
    env.retain(|(key, _)| key != k);
    env.push((k.to_string(), v));
}

#[cfg(test)]
mod tests;
