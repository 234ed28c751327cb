use super::*;
use crate::fake::config;
use flint_types::model::EnvironmentResponse;

fn platform(init_type: InitType) -> Platform<'static> {
    Platform {
        region: "eu-west-1",
        stream: "2024/01/31/[$LATEST]abc",
        init_type,
    }
}

fn function_with(vars: &[(&str, &str)]) -> FunctionConfiguration {
    let mut c = config("f", "$LATEST", "r");
    c.environment = Some(EnvironmentResponse {
        variables: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    });
    c
}

fn get<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    let mut values = env
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str());
    let value = values.next();
    assert_eq!(values.next(), None, "{key} is set once");
    value
}

#[test]
fn the_platforms_variables_override_the_functions() {
    let c = function_with(&[
        ("AWS_REGION", "mars-1"),
        ("_HANDLER", "other.handler"),
        ("AWS_LAMBDA_FUNCTION_NAME", "impostor"),
        ("TZ", "Europe/Paris"),
        ("LAMBDA_TASK_ROOT", "/tmp"),
        ("MY_SETTING", "kept"),
    ]);
    let env = environment_variables(&c, &[], &platform(InitType::OnDemand));
    assert_eq!(get(&env, "AWS_REGION"), Some("eu-west-1"));
    assert_eq!(get(&env, "AWS_DEFAULT_REGION"), Some("eu-west-1"));
    assert_eq!(get(&env, "_HANDLER"), Some("app.handler"));
    assert_eq!(get(&env, "AWS_LAMBDA_FUNCTION_NAME"), Some("f"));
    assert_eq!(get(&env, "TZ"), Some(":UTC"));
    assert_eq!(get(&env, "LAMBDA_TASK_ROOT"), Some("/var/task"));
    assert_eq!(get(&env, "MY_SETTING"), Some("kept"));
}

#[test]
fn the_functions_own_unreserved_variables_win() {
    let mine = [
        ("LANG", "C.UTF-8"),
        ("PATH", "/var/task/bin:/usr/bin"),
        ("LD_LIBRARY_PATH", "/var/task/lib"),
        ("NODE_PATH", "/var/task/node_modules"),
        ("PYTHONPATH", "/var/task/vendor"),
    ];
    let c = function_with(&mine);
    // The runtime's own PYTHONPATH and NODE_PATH lose to the function's too.
    let runtime = [
        ("PYTHONPATH".to_string(), "/var/runtime".to_string()),
        (
            "NODE_PATH".to_string(),
            "/opt/nodejs/node_modules".to_string(),
        ),
        (
            "AWS_EXECUTION_ENV".to_string(),
            "AWS_Lambda_python3.12".to_string(),
        ),
    ];
    let env = environment_variables(&c, &runtime, &platform(InitType::OnDemand));
    for (k, v) in mine {
        assert_eq!(get(&env, k), Some(v), "{k}");
    }
    assert_eq!(
        get(&env, "AWS_EXECUTION_ENV"),
        Some("AWS_Lambda_python3.12")
    );
}

#[test]
fn without_the_functions_values_the_unreserved_variables_are_the_platforms() {
    let c = config("f", "$LATEST", "r");
    let runtime = [("PYTHONPATH".to_string(), "/var/runtime".to_string())];
    let env = environment_variables(&c, &runtime, &platform(InitType::OnDemand));
    let base = flint_sandbox::lambda_base_env();
    for k in ["PATH", "LANG", "LD_LIBRARY_PATH"] {
        let platform_value = base.iter().find(|(b, _)| b == k).map(|(_, v)| v.as_str());
        assert_eq!(get(&env, k), platform_value, "{k}");
    }
    assert_eq!(get(&env, "PYTHONPATH"), Some("/var/runtime"));
    assert_eq!(get(&env, "NODE_PATH"), None);
}

#[test]
fn the_exec_wrapper_and_the_functions_other_variables_reach_the_runtime() {
    let c = function_with(&[("AWS_LAMBDA_EXEC_WRAPPER", "/var/task/wrap.sh")]);
    let env = environment_variables(&c, &[], &platform(InitType::OnDemand));
    assert_eq!(
        get(&env, "AWS_LAMBDA_EXEC_WRAPPER"),
        Some("/var/task/wrap.sh")
    );
}

#[test]
fn lambdas_variables_describe_the_function_and_the_environment() {
    let mut c = config("f", "7", "r");
    c.memory_size = 256;
    let env = environment_variables(&c, &[], &platform(InitType::Provisioned));
    assert_eq!(get(&env, "AWS_LAMBDA_FUNCTION_VERSION"), Some("7"));
    assert_eq!(get(&env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), Some("256"));
    assert_eq!(
        get(&env, "AWS_LAMBDA_INITIALIZATION_TYPE"),
        Some("provisioned-concurrency")
    );
    assert_eq!(
        get(&env, "AWS_LAMBDA_LOG_GROUP_NAME"),
        Some("/aws/lambda/f")
    );
    assert_eq!(
        get(&env, "AWS_LAMBDA_LOG_STREAM_NAME"),
        Some("2024/01/31/[$LATEST]abc")
    );
    assert_eq!(
        get(&env, "AWS_LAMBDA_LOG_FORMAT"),
        None,
        "not set for Text logs"
    );
    assert_eq!(get(&env, "AWS_LAMBDA_LOG_LEVEL"), None);
    assert_eq!(
        get(&env, "AWS_XRAY_DAEMON_ADDRESS"),
        Some("169.254.100.1:2000")
    );
    assert_eq!(get(&env, "_AWS_XRAY_DAEMON_ADDRESS"), Some("169.254.100.1"));
    assert_eq!(get(&env, "_AWS_XRAY_DAEMON_PORT"), Some("2000"));
    assert_eq!(get(&env, "AWS_XRAY_CONTEXT_MISSING"), Some("LOG_ERROR"));

    let on_demand = environment_variables(&c, &[], &platform(InitType::OnDemand));
    assert_eq!(
        get(&on_demand, "AWS_LAMBDA_INITIALIZATION_TYPE"),
        Some("on-demand")
    );
}

#[test]
fn the_logging_config_names_the_group_format_and_level() {
    let mut c = config("f", "$LATEST", "r");
    c.logging_config.log_group = Some("/custom/group".into());
    c.logging_config.log_format = Some("JSON".into());
    c.logging_config.application_log_level = Some("DEBUG".into());
    let env = environment_variables(&c, &[], &platform(InitType::OnDemand));
    assert_eq!(
        get(&env, "AWS_LAMBDA_LOG_GROUP_NAME"),
        Some("/custom/group")
    );
    assert_eq!(get(&env, "AWS_LAMBDA_LOG_FORMAT"), Some("JSON"));
    assert_eq!(get(&env, "AWS_LAMBDA_LOG_LEVEL"), Some("DEBUG"));
}
