//! The Node.js bootstrap, run on the host's Node against a mock Runtime API.

mod common;

use common::*;
use serde_json::json;

fn start(tag: &str, files: &[(&str, &str)], handler: &str) -> Proc {
    Proc::start("nodejs20.x", task(tag, files), handler)
}

/// Starts the client as `nodejs<major>.x` on the host's Node, relabelled as that major: the
/// client's behaviour per runtime id (callback handlers refused from 24 on) is what is
/// tested, and flint runs a runtime id only on a Node of its major.
fn start_as(major: u32, tag: &str, files: &[(&str, &str)], handler: &str) -> Proc {
    let mut host = host().clone();
    if let Some(node) = host.node.as_mut() {
        node.version = format!("{major}.0.0");
    }
    Proc::start_with(
        &format!("nodejs{major}.x"),
        task(tag, files),
        handler,
        &host,
        &[],
    )
}

#[test]
fn async_echo_and_warm_reuse_on_one_connection() {
    require_node();
    let code = "\
let count = 0;
exports.handler = async (event, context) => {
  count += 1;
  return { event, count, pid: process.pid };
};
";
    let p = start("node-echo", &[("index.js", code)], "index.handler");
    let first = p.invoke(r#"{"hello":"wörld"}"#);
    assert_eq!(first.kind(), "response", "{}", p.output());
    let v = first.json();
    assert_eq!(v["event"], json!({"hello": "wörld"}));
    assert_eq!(v["count"], 1);
    let v2 = p.invoke("[1,2]").json();
    assert_eq!(v2["count"], 2, "module state survives between invokes");
    assert_eq!(v2["pid"], v["pid"]);
    assert_eq!(v2["event"], json!([1, 2]));
    let v3 = p.invoke("3").json();
    assert_eq!(v3["count"], 3);
    assert_eq!(p.api.connections(), 1, "keep-alive agent reuses one socket");
}

#[test]
fn nested_path_and_nested_export() {
    require_node();
    let code = "module.exports.api = { v1: { handle: async (e) => ({ nested: e }) } };\n";
    let p = start(
        "node-nested",
        &[("src/handlers/app.js", code)],
        "src/handlers/app.api.v1.handle",
    );
    assert_eq!(p.invoke("5").json(), json!({"nested": 5}));
}

#[test]
fn directory_module_loads_its_index() {
    require_node();
    let p = start(
        "node-dir",
        &[(
            "lib/index.js",
            "exports.handler = async () => 'from lib/index.js';\n",
        )],
        "lib.handler",
    );
    assert_eq!(p.invoke("{}").json(), json!("from lib/index.js"));
}

#[test]
fn callback_handler_waits_for_empty_event_loop() {
    require_node();
    // The result is sent only after the timer fired (callbackWaitsForEmptyEventLoop).
    let code = "\
let flag = 'unset';
exports.handler = (event, context, callback) => {
  if (event.noWait) {
    context.callbackWaitsForEmptyEventLoop = false;
    setTimeout(() => { flag = 'late'; }, 300);
    callback(null, { flag, waits: context.callbackWaitsForEmptyEventLoop });
    return;
  }
  setTimeout(() => { flag = 'timer ran'; console.log('timer done'); }, 400);
  callback(null, { before: flag });
  flag = 'after callback';
};
exports.read = (event, context, callback) => callback(null, flag);
";
    let p = start("node-cb", &[("index.js", code)], "index.handler");
    let started = std::time::Instant::now();
    let r = p.invoke("{}");
    assert_eq!(r.json(), json!({"before": "unset"}));
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(350),
        "response must wait for the pending timer"
    );
    // (stdout is read asynchronously, so wait for the line rather than peek.)
    p.wait_output("timer done");

    let r = p.invoke(r#"{"noWait":true}"#);
    assert_eq!(r.json(), json!({"flag": "timer ran", "waits": false}));
}

#[test]
fn callback_error_and_string_errors() {
    require_node();
    let code = "\
exports.handler = (event, context, callback) => {
  if (event === 'string') return callback('plain failure');
  if (event === 'fail') return context.fail();
  if (event === 'succeed') return context.succeed({ ok: true });
  if (event === 'sync') return 'ignored';
  callback(new TypeError('bad input'));
};
";
    let p = start("node-cberr", &[("index.js", code)], "index.handler");
    let r = p.invoke(r#""string""#);
    assert_eq!(r.kind(), "error");
    assert_eq!(
        r.json(),
        json!({"errorType": "string", "errorMessage": "plain failure", "trace": []})
    );
    let r = p.invoke(r#""fail""#);
    assert_eq!(r.json()["errorMessage"], "handled");
    let r = p.invoke(r#""succeed""#);
    assert_eq!(r.json(), json!({"ok": true}));
    // A sync handler that never calls back: null once the loop drains.
    let r = p.invoke(r#""sync""#);
    assert_eq!(r.kind(), "response");
    assert_eq!(r.text(), "null");
    let r = p.invoke("{}");
    let v = r.json();
    assert_eq!(v["errorType"], "TypeError");
    assert_eq!(v["errorMessage"], "bad input");
    assert_eq!(v["trace"][0], "TypeError: bad input");
}

#[test]
fn esm_mjs_handler_and_promise_handler() {
    require_node();
    let code = "\
import { sep } from 'node:path';
let n = 0;
export const handler = async (event) => ({ esm: true, sep, n: ++n, event });
export function promised(event) { return new Promise((res) => setTimeout(() => res({ promised: event }), 20)); }
";
    let p = start("node-esm", &[("index.mjs", code)], "index.handler");
    assert_eq!(
        p.invoke(r#""x""#).json(),
        json!({"esm": true, "sep": "/", "n": 1, "event": "x"})
    );
    assert_eq!(p.invoke(r#""y""#).json()["n"], 2);

    let p = start("node-esm2", &[("index.mjs", code)], "index.promised");
    assert_eq!(p.invoke("1").json(), json!({"promised": 1}));
}

#[test]
fn package_json_type_module_and_cjs() {
    require_node();
    let p = start(
        "node-typemodule",
        &[
            ("package.json", r#"{"type":"module"}"#),
            (
                "app.js",
                "export const handler = async () => typeof require;\n",
            ),
        ],
        "app.handler",
    );
    assert_eq!(p.invoke("{}").json(), json!("undefined"), "loaded as ESM");

    let p = start(
        "node-cjs",
        &[
            ("package.json", r#"{"type":"module"}"#),
            ("app.cjs", "exports.handler = async () => typeof require;\n"),
        ],
        "app.handler",
    );
    assert_eq!(
        p.invoke("{}").json(),
        json!("function"),
        "loaded as CommonJS"
    );

    let p = start(
        "node-plain",
        &[("app.js", "exports.handler = async () => typeof require;\n")],
        "app.handler",
    );
    assert_eq!(p.invoke("{}").json(), json!("function"));
}

#[test]
fn thrown_error_has_node_ric_shape() {
    require_node();
    let code = "\
exports.handler = async (event) => {
  const e = new Error('Something broke');
  e.extra = 'x';
  throw e;
};
";
    let p = start("node-throw", &[("index.js", code)], "index.handler");
    let inv = Invocation::new("{}");
    let id = inv.id.clone();
    let r = p.api.invoke(inv);
    assert_eq!(r.kind(), "error");
    // No error-type header on invoke errors, like the official client.
    assert_eq!(r.header("Lambda-Runtime-Function-Error-Type"), None);
    assert!(
        r.header("Lambda-Runtime-Function-XRay-Error-Cause")
            .is_some()
    );
    let v = r.json();
    // Key order as the Node RIC writes it.
    assert!(
        r.text()
            .starts_with(r#"{"errorType":"Error","errorMessage":"Something broke","trace":["Error: Something broke","    at "#),
        "{}",
        r.text()
    );
    assert_eq!(v["errorType"], "Error");
    assert_eq!(v["errorMessage"], "Something broke");
    let trace: Vec<&str> = v["trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(trace[0], "Error: Something broke");
    assert!(trace[1].starts_with("    at "), "{trace:?}");
    assert!(trace[1].contains("index.js:2"), "{trace:?}");
    // Logged as "Invoke Error \t{json}" with the request id.
    let out = p.wait_output("Invoke Error");
    let line = lines_with(&out, "Invoke Error")[0];
    let fields: Vec<&str> = line.splitn(4, '\t').collect();
    assert_eq!(fields[1], id);
    assert_eq!(fields[2], "ERROR");
    assert!(fields[3].starts_with("Invoke Error \t{\"errorType\":\"Error\",\"errorMessage\":\"Something broke\",\"extra\":\"x\",\"stack\":[\"Error: Something broke\""), "{line}");
    // Keeps serving.
    assert_eq!(p.invoke("{}").kind(), "error");
}

#[test]
fn init_errors() {
    require_node();
    // Missing module.
    let mut p = start("node-nomod", &[("other.js", "")], "index.handler");
    let e = p.api.wait_init_error();
    assert_eq!(
        e.header("Lambda-Runtime-Function-Error-Type"),
        Some("Runtime.ImportModuleError")
    );
    let v = e.json();
    assert_eq!(v["errorType"], "Runtime.ImportModuleError");
    assert!(
        v["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("Error: Cannot find module 'index'\nRequire stack:"),
        "{v}"
    );
    assert!(
        v["trace"][0]
            .as_str()
            .unwrap()
            .starts_with("Runtime.ImportModuleError: Error: Cannot find module 'index'")
    );
    assert_eq!(p.wait_exit(), Some(129));
    let out = p.output();
    let line = lines_with(&out, "Uncaught Exception")[0];
    assert!(
        line.contains(
            "\tundefined\tERROR\tUncaught Exception \t{\"errorType\":\"Runtime.ImportModuleError\""
        ),
        "{line}"
    );

    // Handler not exported.
    let p = start(
        "node-nohandler",
        &[("index.js", "exports.other = () => 1;\n")],
        "index.handler",
    );
    let e = p.api.wait_init_error();
    assert_eq!(
        e.header("Lambda-Runtime-Function-Error-Type"),
        Some("Runtime.HandlerNotFound")
    );
    assert_eq!(
        e.json()["errorMessage"],
        "index.handler is undefined or not exported"
    );

    // Not a function.
    let p = start(
        "node-notfn",
        &[("index.js", "exports.handler = 42;\n")],
        "index.handler",
    );
    assert_eq!(
        p.api.wait_init_error().json()["errorMessage"],
        "index.handler is not a function"
    );

    // Malformed.
    let p = start("node-malformed", &[("index.js", "")], "index");
    let v = p.api.wait_init_error().json();
    assert_eq!(v["errorType"], "Runtime.MalformedHandlerName");
    assert_eq!(v["errorMessage"], "Bad handler");

    // Syntax error.
    let p = start(
        "node-syntax",
        &[("index.js", "exports.handler = ) => 1;\n")],
        "index.handler",
    );
    let v = p.api.wait_init_error().json();
    assert_eq!(v["errorType"], "Runtime.UserCodeSyntaxError");
    assert!(
        v["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("SyntaxError: "),
        "{v}"
    );

    // Exception thrown while loading.
    let p = start(
        "node-initthrow",
        &[("index.js", "throw new RangeError('at init');\n")],
        "index.handler",
    );
    let v = p.api.wait_init_error().json();
    assert_eq!(v["errorType"], "RangeError");
    assert_eq!(v["errorMessage"], "at init");
}

#[test]
fn context_fields_and_remaining_time() {
    require_node();
    let code = "\
exports.handler = async (event, context) => ({
  functionName: context.functionName,
  functionVersion: context.functionVersion,
  invokedFunctionArn: context.invokedFunctionArn,
  memoryLimitInMB: context.memoryLimitInMB,
  awsRequestId: context.awsRequestId,
  logGroupName: context.logGroupName,
  logStreamName: context.logStreamName,
  identity: context.identity,
  clientContext: context.clientContext,
  tenantId: context.tenantId,
  waits: context.callbackWaitsForEmptyEventLoop,
  remaining: context.getRemainingTimeInMillis(),
  trace: process.env._X_AMZN_TRACE_ID,
  fns: [typeof context.succeed, typeof context.fail, typeof context.done],
});
";
    let p = start("node-ctx", &[("index.js", code)], "index.handler");
    let inv = Invocation::new("{}")
        .deadline_in(5_000)
        .header(
            "Lambda-Runtime-Cognito-Identity",
            r#"{"cognitoIdentityId":"id-1","cognitoIdentityPoolId":"pool-1"}"#,
        )
        .header("Lambda-Runtime-Client-Context", r#"{"custom":{"k":"v"}}"#)
        .header("Lambda-Runtime-Aws-Tenant-Id", "tenant-42");
    let id = inv.id.clone();
    let trace = inv.headers[1].1.clone();
    let v = p.api.invoke(inv).json();
    assert_eq!(v["functionName"], "fn");
    assert_eq!(v["functionVersion"], "$LATEST");
    assert_eq!(
        v["invokedFunctionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:fn"
    );
    assert_eq!(v["memoryLimitInMB"], "256");
    assert_eq!(v["awsRequestId"], id.as_str());
    assert_eq!(v["logGroupName"], "/aws/lambda/fn");
    assert!(v["logStreamName"].as_str().unwrap().contains("[$LATEST]"));
    assert_eq!(
        v["identity"],
        json!({"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"})
    );
    assert_eq!(v["clientContext"], json!({"custom": {"k": "v"}}));
    assert_eq!(v["tenantId"], "tenant-42");
    assert_eq!(v["waits"], true);
    assert_eq!(v["trace"], trace.as_str());
    assert_eq!(v["fns"], json!(["function", "function", "function"]));
    let remaining = v["remaining"].as_i64().unwrap();
    assert!((3_000..=5_000).contains(&remaining), "{remaining}");
}

#[test]
fn console_line_format() {
    require_node();
    let code = "\
console.log('at init');
exports.handler = async () => {
  console.log('hello %s', 'world', { a: 1 });
  console.info('info');
  console.warn('warn');
  console.error('multi\\nline');
  console.debug('debug');
  return 1;
};
";
    let p = start("node-log", &[("index.js", code)], "index.handler");
    let inv = Invocation::new("{}");
    let id = inv.id.clone();
    p.api.invoke(inv);
    let out = p.wait_output("debug");
    let init = lines_with(&out, "at init")[0];
    assert!(init.ends_with("\tundefined\tINFO\tat init"), "{init}");
    let check = |needle: &str, level: &str, msg: &str| {
        let line = lines_with(&out, needle)[0];
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 4, "{line:?}");
        assert_eq!(f[0].len(), 24, "ISO timestamp: {line:?}");
        assert!(f[0].ends_with('Z'));
        assert_eq!(f[1], id);
        assert_eq!(f[2], level);
        assert_eq!(f[3], msg);
    };
    check("hello", "INFO", "hello world { a: 1 }");
    check("\tinfo", "INFO", "info");
    check("warn", "WARN", "warn");
    check("multi", "ERROR", "multi\rline");
    check("\tdebug", "DEBUG", "debug");
}

#[test]
fn async_handler_that_never_settles() {
    require_node();
    let code = "exports.handler = async () => new Promise(() => {});\n";
    let p = start("node-never", &[("index.js", code)], "index.handler");
    let r = p.invoke("{}");
    assert_eq!(r.kind(), "error");
    assert_eq!(r.json()["errorType"], "Runtime.NodeJsExit");
    // And the runtime continues.
    assert_eq!(p.invoke("{}").kind(), "error");
}

#[test]
fn unserializable_result() {
    require_node();
    let code = "exports.handler = async () => { const o = {}; o.self = o; return o; };\n";
    let p = start("node-circ", &[("index.js", code)], "index.handler");
    let v = p.invoke("{}").json();
    assert_eq!(v["errorType"], "Error");
    assert_eq!(v["errorMessage"], "Unable to stringify response body");
}

#[test]
fn uncaught_exception_during_invoke_fails_it_and_exits() {
    require_node();
    let code = "exports.handler = (e, c, cb) => { setTimeout(() => { throw new Error('async boom'); }, 10); };\n";
    let mut p = start("node-uncaught", &[("index.js", code)], "index.handler");
    let r = p.invoke("{}");
    assert_eq!(r.kind(), "error");
    assert_eq!(r.json()["errorMessage"], "async boom");
    assert_eq!(p.wait_exit(), Some(129));
}

#[test]
fn streaming_handler_seam() {
    require_node();
    let code = "\
exports.handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  const s = awslambda.HttpResponseStream.from(responseStream, { statusCode: 201, headers: { 'x-a': 'b' } });
  s.write('hello ');
  s.end('world');
});
";
    let p = start("node-stream", &[("index.js", code)], "index.handler");
    let r = p.invoke("{}");
    assert_eq!(r.kind(), "response");
    assert_eq!(
        r.header("Lambda-Runtime-Function-Response-Mode"),
        Some("streaming")
    );
    assert_eq!(
        r.header("Content-Type"),
        Some("application/vnd.awslambda.http-integration-response")
    );
    let mut expected = br#"{"statusCode":201,"headers":{"x-a":"b"}}"#.to_vec();
    expected.extend_from_slice(&[0u8; 8]);
    expected.extend_from_slice(b"hello world");
    assert_eq!(r.body, expected);
    // Warm reuse after a stream.
    assert_eq!(p.invoke("{}").kind(), "response");
}

#[test]
fn nodejs24_rejects_callback_handlers() {
    require_node();
    let files = [(
        "index.js",
        "exports.cb = (e, c, callback) => callback(null, 1);\nexports.asyncOk = async (e, c) => 2;\n",
    )];
    let p = start_as(24, "node24-cb", &files, "index.cb");
    let e = p.api.wait_init_error();
    assert_eq!(
        e.header("Lambda-Runtime-Function-Error-Type"),
        Some("Runtime.CallbackHandlerDeprecated")
    );
    assert!(
        e.json()["errorMessage"].as_str().unwrap().contains(
            "removed support for callback-based function handlers starting with Node.js 24"
        )
    );
    let p = start_as(24, "node24-ok", &files, "index.asyncOk");
    assert_eq!(p.invoke("{}").json(), json!(2));
    // nodejs22.x still accepts them.
    let p = start_as(22, "node22-cb", &files, "index.cb");
    assert_eq!(p.invoke("{}").json(), json!(1));
}

#[test]
fn telemetry_fd_framing() {
    require_node();
    let code = "exports.handler = async () => { console.warn('warned'); console.error('bad'); return process.env._LAMBDA_TELEMETRY_LOG_FD ?? null; };\n";
    let p = Proc::start_with(
        "nodejs20.x",
        task("node-telemetry", &[("index.js", code)]),
        "index.handler",
        host(),
        &[("_LAMBDA_TELEMETRY_LOG_FD", "2")],
    );
    let inv = Invocation::new("{}");
    let id = inv.id.clone();
    assert_eq!(p.api.invoke(inv).json(), json!(null), "fd variable removed");
    let frames = p.wait_frame("bad");
    let warn = frames.iter().find(|f| f.2.contains("warned")).unwrap();
    assert_eq!(warn.0, 0xA55A_0013);
    assert!(
        warn.2.ends_with(&format!("\t{id}\tWARN\twarned\n")),
        "{:?}",
        warn.2
    );
    let error = frames.iter().find(|f| f.2.contains("bad")).unwrap();
    assert_eq!(error.0, 0xA55A_0017);
}

#[test]
fn streaming_handler_error_mid_stream_uses_trailers() {
    require_node();
    let code = "\
exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.write('partial');
  await new Promise((r) => setTimeout(r, 10));
  throw new Error('mid-stream');
});
";
    let p = start("node-stream-err", &[("index.js", code)], "index.handler");
    let r = p.invoke("{}");
    assert_eq!(r.kind(), "response");
    assert_eq!(r.body, b"partial");
    assert_eq!(
        r.header("Lambda-Runtime-Function-Error-Type"),
        Some("Error")
    );
    let body = r.header("Lambda-Runtime-Function-Error-Body").unwrap();
    let decoded = base64_decode(body);
    let v: serde_json::Value = serde_json::from_slice(&decoded).unwrap();
    assert_eq!(v["errorType"], "Error");
    assert_eq!(v["errorMessage"], "mid-stream");
    assert_eq!(p.invoke("{}").kind(), "response", "serves the next invoke");
}

fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[test]
fn reconnects_when_the_server_drops_the_connection() {
    require_node();
    let p = Proc::start(
        "nodejs20.x",
        task(
            "node-reconnect",
            &[("index.js", "exports.handler = async (e) => e;\n")],
        ),
        "index.handler",
    );
    p.api.drop_connections_after_posts();
    for i in 0..3 {
        assert_eq!(p.invoke(&i.to_string()).json(), json!(i));
    }
    assert!(p.api.connections() >= 3, "{}", p.api.connections());
}

#[test]
fn odd_error_names_do_not_break_the_protocol() {
    require_node();
    let code = "const e = new Error('x'); e.name = 'Bad\\r\\nX-Injected: 1ß'; throw e;\n";
    let p = start("node-oddname", &[("index.js", code)], "index.handler");
    let e = p.api.wait_init_error();
    assert_eq!(
        e.header("Lambda-Runtime-Function-Error-Type"),
        Some("BadX-Injected: 1")
    );
    assert!(e.header("X-Injected").is_none());
    assert_eq!(e.json()["errorType"], "Bad\r\nX-Injected: 1ß");
}

#[test]
fn unhandled_rejection_fails_the_invoke_and_exits() {
    require_node();
    let code = "exports.handler = async () => { Promise.reject(new Error('rejected')); await new Promise((r) => setTimeout(r, 200)); return 1; };\n";
    let mut p = start("node-rejection", &[("index.js", code)], "index.handler");
    let r = p.invoke("{}");
    assert_eq!(r.kind(), "error");
    let v = r.json();
    assert_eq!(v["errorType"], "Runtime.UnhandledPromiseRejection");
    assert_eq!(v["errorMessage"], "Error: rejected");
    assert_eq!(p.wait_exit(), Some(128));
}

#[test]
fn global_gc_is_exposed() {
    require_node();
    let p = start(
        "node-gc",
        &[(
            "index.js",
            "exports.handler = async () => typeof global.gc;\n",
        )],
        "index.handler",
    );
    assert_eq!(p.invoke("{}").json(), json!("function"));
}

#[test]
fn json_log_format_and_level() {
    require_node();
    let code = "\
exports.handler = async () => {
  console.debug('dropped');
  console.log('hello', { a: 1 });
  console.error(new TypeError('bad thing'));
  return 1;
};
";
    let p = Proc::start_with(
        "nodejs20.x",
        task("node-json", &[("index.js", code)]),
        "index.handler",
        host(),
        &[
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
        ],
    );
    let inv = Invocation::new("{}");
    let id = inv.id.clone();
    p.api.invoke(inv);
    let out = p.wait_output("bad thing");
    assert!(!out.contains("dropped"));
    let hello: serde_json::Value = serde_json::from_str(lines_with(&out, "hello")[0]).unwrap();
    assert_eq!(hello["level"], "INFO");
    assert_eq!(hello["message"], "hello { a: 1 }");
    assert_eq!(hello["requestId"], id.as_str());
    assert!(hello["timestamp"].as_str().unwrap().ends_with('Z'));
    let err: serde_json::Value = serde_json::from_str(lines_with(&out, "bad thing")[0]).unwrap();
    assert_eq!(err["level"], "ERROR");
    assert_eq!(err["message"]["errorType"], "TypeError");
    assert_eq!(err["message"]["errorMessage"], "bad thing");
    assert!(err["message"]["stackTrace"].is_array());
}
