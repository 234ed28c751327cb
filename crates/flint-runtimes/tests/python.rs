//! The Python bootstrap, run on the host's Python against a mock Runtime API.

mod common;

use common::*;
use serde_json::json;

const ECHO: &str = "\
import os
COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    return {'event': event, 'count': COUNT, 'pid': os.getpid()}
";

#[test]
fn echo_and_warm_reuse_on_one_connection() {
    require_python();
    let p = Proc::start(
        "python3.12",
        task("py-echo", &[("lambda_function.py", ECHO)]),
        "lambda_function.handler",
    );
    let first = p.invoke(r#"{"hello":"wörld","n":[1,2.5,null]}"#);
    assert_eq!(first.kind(), "response", "{}", p.output());
    assert_eq!(first.header("content-type"), Some("application/json"));
    let v = first.json();
    assert_eq!(v["event"], json!({"hello": "wörld", "n": [1, 2.5, null]}));
    assert_eq!(v["count"], 1);
    // python3.12 sends raw UTF-8 (ensure_ascii=False), like awslambdaric.
    assert!(first.text().contains("wörld"), "{}", first.text());

    let second = p.invoke(r#""again""#);
    let v2 = second.json();
    assert_eq!(v2["count"], 2, "globals survive between invokes");
    assert_eq!(v2["pid"], v["pid"], "same process");
    assert_eq!(v2["event"], "again");
    assert_eq!(
        p.api.connections(),
        1,
        "one keep-alive connection for everything"
    );
}

#[test]
fn older_runtime_ids_escape_non_ascii() {
    require_python();
    let p = Proc::start(
        "python3.11",
        task("py-ascii", &[("lambda_function.py", ECHO)]),
        "lambda_function.handler",
    );
    let r = p.invoke(r#""wörld""#);
    assert!(r.text().contains(r"w\u00f6rld"), "{}", r.text());
}

#[test]
fn nested_handler_paths() {
    require_python();
    let files = [
        ("pkg/__init__.py", ""),
        ("pkg/sub/__init__.py", ""),
        (
            "pkg/sub/mod.py",
            "def handle(e, c):\n    return {'nested': e}\n",
        ),
    ];
    for handler in ["pkg/sub/mod.handle", "pkg.sub.mod.handle"] {
        let p = Proc::start("python3.12", task("py-nested", &files), handler);
        assert_eq!(p.invoke("7").json(), json!({"nested": 7}), "{handler}");
    }
}

#[test]
fn handler_exception_has_awslambdaric_shape() {
    require_python();
    let code = "\
def handler(event, context):
    helper()

def helper():
    raise ValueError('Handler fails')
";
    let p = Proc::start(
        "python3.12",
        task("py-raise", &[("app.py", code)]),
        "app.handler",
    );
    let inv = Invocation::new("{}");
    let id = inv.id.clone();
    let r = p.api.invoke(inv);
    assert_eq!(r.kind(), "error");
    // awslambdaric sends no error-type header on invoke errors.
    assert_eq!(r.header("Lambda-Runtime-Function-Error-Type"), None);
    assert!(
        r.header("Lambda-Runtime-Function-XRay-Error-Cause")
            .is_some()
    );
    let root = p.task_root.join("app.py");
    let root = root.display();
    // Exact body, key order and separators included (json.dumps style).
    let frame1 = format!("  File \"{root}\", line 2, in handler\n    helper()\n");
    let frame2 =
        format!("  File \"{root}\", line 5, in helper\n    raise ValueError('Handler fails')\n");
    assert_eq!(
        r.text(),
        format!(
            r#"{{"errorMessage": "Handler fails", "errorType": "ValueError", "requestId": "{id}", "stackTrace": [{}, {}]}}"#,
            serde_json::to_string(&frame1).unwrap(),
            serde_json::to_string(&frame2).unwrap()
        )
    );
    // Logged as one record: lines joined by \r, indentation as U+00A0.
    let out = p.wait_output("[ERROR] ValueError: Handler fails");
    let line = lines_with(&out, "[ERROR] ValueError")[0];
    assert!(
        line.starts_with("[ERROR] ValueError: Handler fails\rTraceback (most recent call last):\r\u{a0}\u{a0}File"),
        "{line:?}"
    );
    // The runtime keeps serving after a handler error.
    assert_eq!(p.invoke("{}").kind(), "error");
}

#[test]
fn import_error_is_reported_through_init_error() {
    require_python();
    let mut p = Proc::start(
        "python3.12",
        task("py-import", &[("other.py", "")]),
        "lambda_function.handler",
    );
    let e = p.api.wait_init_error();
    assert_eq!(
        e.header("Lambda-Runtime-Function-Error-Type"),
        Some("Runtime.ImportModuleError")
    );
    assert_eq!(
        e.json(),
        json!({
            "errorMessage": "Unable to import module 'lambda_function': No module named 'lambda_function'",
            "errorType": "Runtime.ImportModuleError",
            "requestId": "",
            "stackTrace": []
        })
    );
    assert_eq!(p.wait_exit(), Some(1));
    let out = p.output();
    assert!(
        out.contains("LAMBDA_WARNING: Unhandled exception."),
        "{out}"
    );
    assert!(
        out.contains("[ERROR] Runtime.ImportModuleError: Unable to import module 'lambda_function': No module named 'lambda_function'\rTraceback (most recent call last):\n"),
        "{out:?}"
    );
}

#[test]
fn missing_dependency_is_an_import_error() {
    require_python();
    let p = Proc::start(
        "python3.12",
        task("py-dep", &[("app.py", "import requests_not_installed\n")]),
        "app.handler",
    );
    let e = p.api.wait_init_error();
    assert_eq!(
        e.json()["errorMessage"],
        "Unable to import module 'app': No module named 'requests_not_installed'"
    );
}

#[test]
fn missing_handler_and_malformed_name() {
    require_python();
    let p = Proc::start(
        "python3.12",
        task("py-missing", &[("app.py", "x = 1\n")]),
        "app.handler",
    );
    let e = p.api.wait_init_error();
    assert_eq!(
        e.header("Lambda-Runtime-Function-Error-Type"),
        Some("Runtime.HandlerNotFound")
    );
    assert_eq!(
        e.json(),
        json!({
            "errorMessage": "Handler 'handler' missing on module 'app'",
            "errorType": "Runtime.HandlerNotFound",
            "requestId": "",
            "stackTrace": []
        })
    );

    let p = Proc::start(
        "python3.12",
        task("py-malformed", &[("app.py", "")]),
        "nodot",
    );
    let e = p.api.wait_init_error();
    assert_eq!(e.json()["errorType"], "Runtime.MalformedHandlerName");
    assert_eq!(
        e.json()["errorMessage"],
        "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)"
    );
}

#[test]
fn syntax_error_and_init_exception() {
    require_python();
    let p = Proc::start(
        "python3.12",
        task(
            "py-syntax",
            &[("app.py", "def handler(e, c)\n    return 1\n")],
        ),
        "app.handler",
    );
    let e = p.api.wait_init_error();
    let v = e.json();
    assert_eq!(v["errorType"], "Runtime.UserCodeSyntaxError");
    assert!(
        v["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("Syntax error in module 'app': "),
        "{v}"
    );
    assert!(
        v["stackTrace"][0].as_str().unwrap().contains(" Line 1\n"),
        "{v}"
    );

    let p = Proc::start(
        "python3.12",
        task("py-initexc", &[("app.py", "raise KeyError('boom')\n")]),
        "app.handler",
    );
    let v = p.api.wait_init_error().json();
    assert_eq!(v["errorType"], "KeyError");
    assert_eq!(v["errorMessage"], "'boom'");
    assert_eq!(v["requestId"], "");
}

#[test]
fn non_serializable_result_is_a_marshal_error() {
    require_python();
    let code = "\
import decimal
def handler(event, context):
    if event == 'set':
        return {1, 2}
    if event == 'bytes':
        return b'raw\\x00bytes'
    return {'price': decimal.Decimal('12.3456789012345678901234567890'), 'n': None}
";
    let p = Proc::start(
        "python3.12",
        task("py-marshal", &[("app.py", code)]),
        "app.handler",
    );
    let inv = Invocation::new(r#""set""#);
    let id = inv.id.clone();
    let r = p.api.invoke(inv);
    assert_eq!(r.kind(), "error");
    assert_eq!(
        r.json(),
        json!({
            "errorMessage": "Unable to marshal response: Object of type set is not JSON serializable",
            "errorType": "Runtime.MarshalError",
            "requestId": id,
            "stackTrace": []
        })
    );
    // Decimals are written exactly (DynamoDB values through boto3).
    let r = p.invoke(r#""decimal""#);
    assert_eq!(
        r.text(),
        r#"{"price": 12.3456789012345678901234567890, "n": null}"#
    );
    let r = p.invoke(r#""bytes""#);
    assert_eq!(r.body, b"raw\x00bytes");
    assert_eq!(r.header("content-type"), Some("application/unknown"));
}

#[test]
fn context_fields_and_remaining_time() {
    require_python();
    let code = "\
import os
def handler(event, context):
    cc = context.client_context
    return {
        'function_name': context.function_name,
        'function_version': context.function_version,
        'invoked_function_arn': context.invoked_function_arn,
        'memory_limit_in_mb': context.memory_limit_in_mb,
        'aws_request_id': context.aws_request_id,
        'log_group_name': context.log_group_name,
        'log_stream_name': context.log_stream_name,
        'identity': [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
        'client_context': None if cc is None else [cc.custom, cc.env, cc.client.app_title, cc.client.installation_id],
        'tenant_id': context.tenant_id,
        'remaining': context.get_remaining_time_in_millis(),
        'trace': os.environ.get('_X_AMZN_TRACE_ID'),
        'w3c': context.w3c(),
    }
";
    let p = Proc::start(
        "python3.12",
        task("py-ctx", &[("app.py", code)]),
        "app.handler",
    );
    let inv = Invocation::new("{}")
        .deadline_in(5_000)
        .header(
            "Lambda-Runtime-Cognito-Identity",
            r#"{"cognitoIdentityId":"id-1","cognitoIdentityPoolId":"pool-1"}"#,
        )
        .header(
            "Lambda-Runtime-Client-Context",
            r#"{"custom":{"k":"v"},"env":{"platform":"x"},"client":{"app_title":"App","installation_id":"i-1"},"w3c":{"traceparent":"00-abc-def-01","other":"x"}}"#,
        )
        .header("Lambda-Runtime-Aws-Tenant-Id", "tenant-42");
    let id = inv.id.clone();
    let trace = inv.headers[1].1.clone();
    let v = p.api.invoke(inv).json();
    assert_eq!(v["function_name"], "fn");
    assert_eq!(v["function_version"], "$LATEST");
    assert_eq!(
        v["invoked_function_arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:fn"
    );
    assert_eq!(v["memory_limit_in_mb"], "256", "a string, as on Lambda");
    assert_eq!(v["aws_request_id"], id.as_str());
    assert_eq!(v["log_group_name"], "/aws/lambda/fn");
    assert!(v["log_stream_name"].as_str().unwrap().contains("[$LATEST]"));
    assert_eq!(v["identity"], json!(["id-1", "pool-1"]));
    assert_eq!(
        v["client_context"],
        json!([{"k": "v"}, {"platform": "x"}, "App", "i-1"])
    );
    assert_eq!(v["tenant_id"], "tenant-42");
    assert_eq!(v["trace"], trace.as_str());
    assert_eq!(v["w3c"], json!({"traceparent": "00-abc-def-01"}));
    let remaining = v["remaining"].as_i64().unwrap();
    assert!((3_000..=5_000).contains(&remaining), "{remaining}");

    // Without the optional headers: identity object with None fields, no client context.
    let v = p.invoke("{}").json();
    assert_eq!(v["identity"], json!([null, null]));
    assert_eq!(v["client_context"], json!(null));
    assert_eq!(v["tenant_id"], json!(null));

    // Past deadline clamps to 0.
    let mut inv = Invocation::new("{}");
    inv.deadline_ms = now_ms() - 1_000;
    assert_eq!(p.api.invoke(inv).json()["remaining"], 0);
}

#[test]
fn logging_formats() {
    require_python();
    let code = "\
import logging
logger = logging.getLogger()
print('init print')

def handler(event, context):
    print('plain print')
    logger.info('info dropped at default level')
    logger.warning('warn %s', 'line')
    logging.getLogger('child').error('child error')
    logger.setLevel(logging.INFO)
    logger.info('info after setLevel')
    logger.setLevel(logging.WARNING)
    return 1
";
    let p = Proc::start(
        "python3.12",
        task("py-log", &[("app.py", code)]),
        "app.handler",
    );
    let inv = Invocation::new("{}");
    let id = inv.id.clone();
    p.api.invoke(inv);
    let out = p.wait_output("info after setLevel");
    assert!(out.contains("init print\n"));
    assert!(out.contains("plain print\n"), "print() goes out as-is");
    assert!(
        !out.contains("info dropped"),
        "root logger stays at WARNING like Lambda"
    );
    let warn = lines_with(&out, "warn line")[0];
    let fields: Vec<&str> = warn.split('\t').collect();
    assert_eq!(fields[0], "[WARNING]");
    assert_eq!(fields[2], id);
    assert_eq!(fields[3], "warn line");
    // 2026-11-22T17:44:26.123Z
    let ts = fields[1];
    assert_eq!(ts.len(), 24, "{ts}");
    assert!(
        ts.ends_with('Z') && &ts[10..11] == "T" && &ts[19..20] == ".",
        "{ts}"
    );
    assert!(lines_with(&out, "child error")[0].starts_with("[ERROR]\t"));
    assert!(lines_with(&out, "info after setLevel")[0].starts_with("[INFO]\t"));
}

#[test]
fn log_level_and_json_format_from_env() {
    require_python();
    let code = "\
import logging
def handler(event, context):
    logging.getLogger().debug('dbg')
    logging.getLogger('x').info('hello', extra={'k': 1})
    return 1
";
    let p = Proc::start_with(
        "python3.12",
        task("py-json", &[("app.py", code)]),
        "app.handler",
        host(),
        &[
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
        ],
    );
    let inv = Invocation::new("{}");
    let id = inv.id.clone();
    p.api.invoke(inv);
    let out = p.wait_output("hello");
    assert!(!out.contains("dbg"));
    let line = lines_with(&out, "hello")[0];
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["level"], "INFO");
    assert_eq!(v["message"], "hello");
    assert_eq!(v["logger"], "x");
    assert_eq!(v["requestId"], id.as_str());
    assert_eq!(v["k"], 1);
    // Second resolution, like awslambdaric 4.2: "2026-11-22T17:44:26Z".
    let ts = v["timestamp"].as_str().unwrap();
    assert!(
        ts.len() == 20 && ts.ends_with('Z') && &ts[10..11] == "T",
        "{ts}"
    );
}

#[test]
fn runs_on_every_installed_python() {
    // The bootstrap must work on Python 3.9 .. 3.13; exercise the ones this
    // machine has (pyenv installs, system python).
    let mut candidates: Vec<std::path::PathBuf> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/root/.pyenv/versions") {
        for e in rd.flatten() {
            candidates.push(e.path().join("bin/python3"));
        }
    }
    candidates.push("/usr/bin/python3".into());
    let mut tested = Vec::new();
    for exe in candidates {
        let Some(py) = flint_runtimes::probe_python(&exe) else {
            continue;
        };
        let (maj, min, _) = py.version_tuple();
        if (maj, min) < (3, 9) {
            continue;
        }
        let host = flint_runtimes::HostRuntimes {
            python: Some(py.clone()),
            other_pythons: vec![],
            node: None,
        };
        let code = "def handler(e, c):\n    if e == 'raise':\n        raise RuntimeError('x')\n    return {'e': e, 'r': c.get_remaining_time_in_millis() > 0}\n";
        let p = Proc::start_with(
            &format!("python3.{min}"),
            task("py-matrix", &[("app.py", code)]),
            "app.handler",
            &host,
            &[],
        );
        assert_eq!(
            p.invoke("[1]").json(),
            json!({"e": [1], "r": true}),
            "{}",
            py.version
        );
        let err = p.invoke(r#""raise""#).json();
        assert_eq!(err["errorType"], "RuntimeError", "{}", py.version);
        let trace = err["stackTrace"].as_array().unwrap();
        assert_eq!(trace.len(), 1, "{} {err}", py.version);
        assert!(
            !trace[0].as_str().unwrap().contains('^'),
            "no caret lines: {err}"
        );
        tested.push(py.version.clone());
    }
    eprintln!("tested on Python {tested:?}");
}

#[test]
fn telemetry_fd_framing() {
    require_python();
    let code = "\
import logging, os
def handler(event, context):
    print('plain print')
    logging.getLogger().warning('warned')
    if event == 'raise':
        raise Exception('framed failure')
    return os.environ.get('_LAMBDA_TELEMETRY_LOG_FD')
";
    let p = Proc::start_with(
        "python3.12",
        task("py-telemetry", &[("app.py", code)]),
        "app.handler",
        host(),
        &[("_LAMBDA_TELEMETRY_LOG_FD", "2")],
    );
    let r = p.invoke(r#""ok""#);
    assert_eq!(
        r.json(),
        json!(null),
        "fd variable removed from the environment"
    );
    let err = p.invoke(r#""raise""#);
    assert_eq!(err.kind(), "error");
    let frames = p.wait_frame("framed failure");
    let warn = frames.iter().find(|f| f.2.contains("warned")).unwrap();
    // Without a log level or JSON, records use the plain text frame type
    // (like awslambdaric); only the error report has the ERROR type.
    assert_eq!(warn.0, 0xA55A_0003, "text frame");
    assert!(warn.2.starts_with("[WARNING]\t") && warn.2.ends_with("\twarned\n"));
    let now_us = now_ms() * 1000;
    assert!(
        warn.1 <= now_us && warn.1 > now_us - 60_000_000,
        "µs timestamp"
    );
    let error = frames
        .iter()
        .find(|f| f.2.contains("framed failure"))
        .unwrap();
    assert_eq!(error.0, 0xA55A_0017, "text ERROR frame");
    // In a frame the traceback keeps real newlines (no \r joining).
    assert!(
        error
            .2
            .starts_with("[ERROR] Exception: framed failure\nTraceback (most recent call last):\n"),
        "{:?}",
        error.2
    );
    // print() still goes to stdout.
    p.wait_output("plain print");
}

#[test]
fn invalid_json_event_is_an_unmarshal_error() {
    require_python();
    let p = Proc::start(
        "python3.12",
        task(
            "py-unmarshal",
            &[("app.py", "def handler(e, c):\n    return e\n")],
        ),
        "app.handler",
    );
    let v = p.invoke("{not json").json();
    assert_eq!(v["errorType"], "Runtime.UnmarshalError");
    assert!(
        v["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("Unable to unmarshal input: Expecting property name"),
        "{v}"
    );
    assert_eq!(v["stackTrace"], json!([]));
    assert_eq!(p.invoke("1").json(), json!(1), "keeps serving");
}

#[test]
fn reconnects_when_the_server_drops_the_connection() {
    require_python();
    let p = Proc::start(
        "python3.12",
        task(
            "python-reconnect",
            &[("app.py", "def handler(e, c):\n    return e\n")],
        ),
        "app.handler",
    );
    p.api.drop_connections_after_posts();
    for i in 0..3 {
        assert_eq!(p.invoke(&i.to_string()).json(), json!(i));
    }
    assert!(p.api.connections() >= 3, "{}", p.api.connections());
}

#[test]
fn odd_exception_names_do_not_break_the_protocol() {
    require_python();
    let code = "class Fehlerß(Exception):\n    pass\nraise Fehlerß('init\\r\\nX-Injected: 1')\n";
    let p = Proc::start(
        "python3.12",
        task("py-oddname", &[("app.py", code)]),
        "app.handler",
    );
    let e = p.api.wait_init_error();
    assert_eq!(
        e.header("Lambda-Runtime-Function-Error-Type"),
        Some("Fehler")
    );
    assert_eq!(
        e.json()["errorType"],
        "Fehlerß",
        "the body keeps the real name"
    );
    assert!(e.header("X-Injected").is_none());
}
