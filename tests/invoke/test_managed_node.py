"""Managed Node.js runtime (`nodejs20.x`, flint's own client on the host's Node) through boto3."""

import re

from .invoke_support import function_arn, invoke, report_fields

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

CJS = r'''
let count = 0;
const KEYS = ["AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
  "AWS_LAMBDA_FUNCTION_VERSION", "AWS_REGION", "LAMBDA_TASK_ROOT", "_HANDLER",
  "AWS_EXECUTION_ENV", "GREETING"];
exports.handler = async (event, context) => {
  count += 1;
  console.log("hello from node", count);
  const env = {};
  for (const k of KEYS) env[k] = process.env[k] ?? null;
  return {
    event, count, pid: process.pid, cwd: process.cwd(), node: process.version,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    memoryLimitInMB: context.memoryLimitInMB,
    invokedFunctionArn: context.invokedFunctionArn,
    awsRequestId: context.awsRequestId,
    logGroupName: context.logGroupName,
    remaining: context.getRemainingTimeInMillis(),
    clientContext: context.clientContext ?? null,
    env,
  };
};
'''

ESM = r'''
import { readFileSync } from "node:fs";
export const handler = async (event, context) => {
  return { esm: true, event, name: context.functionName, meta: typeof import.meta.url };
};
'''

CALLBACK = r'''
exports.handler = (event, context, callback) => {
  setTimeout(() => callback(null, { viaCallback: true, event }), 10);
};
'''


def test_commonjs_echo_context_env(lam, fn):
    name = fn("node-cjs", {"index.js": CJS}, runtime="nodejs20.x", MemorySize=384, Timeout=9,
              Environment={"Variables": {"GREETING": "hallo"}})
    event = {"k": "v", "list": [1, 2, 3]}
    r = invoke(lam, name, event, LogType="Tail")
    assert r.status == 200 and r.function_error is None, r
    assert r.executed_version == "$LATEST"
    out = r.json
    assert out["event"] == event
    assert out["node"].startswith("v"), out
    assert out["functionName"] == name
    assert out["functionVersion"] == "$LATEST"
    assert str(out["memoryLimitInMB"]) == "384"
    assert out["invokedFunctionArn"] == function_arn(name)
    assert UUID.match(out["awsRequestId"])
    assert out["logGroupName"] == f"/aws/lambda/{name}"
    assert 7000 < out["remaining"] <= 9000, out
    assert out["cwd"] == "/var/task"
    env = out["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "384"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["_HANDLER"] == "index.handler"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_nodejs20.x"
    assert env["GREETING"] == "hallo"
    # Node's console.log line format: <ISO time>\t<request id>\tINFO\t<message>
    assert re.search(
        rf"^\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t{out['awsRequestId']}\tINFO\thello from node 1$",
        r.log, re.M), r.log
    f = report_fields(r.log)
    assert "Init Duration" in f and f["Memory Size"] == "384 MB", f
    # Warm reuse.
    r2 = invoke(lam, name, {"again": True}, LogType="Tail")
    assert r2.json["count"] == 2 and r2.json["pid"] == out["pid"], r2
    assert "Init Duration" not in report_fields(r2.log)


def test_esm_mjs_handler(lam, fn):
    name = fn("node-esm", {"app.mjs": ESM}, runtime="nodejs20.x", handler="app.handler")
    r = invoke(lam, name, {"x": 1})
    assert r.function_error is None, r
    assert r.json == {"esm": True, "event": {"x": 1}, "name": name, "meta": "string"}


def test_callback_handler(lam, fn):
    name = fn("node-cb", {"index.js": CALLBACK}, runtime="nodejs20.x")
    r = invoke(lam, name, {"y": 2})
    assert r.function_error is None, r
    assert r.json == {"viaCallback": True, "event": {"y": 2}}


def test_nested_handler_path(lam, fn):
    name = fn("node-nested", {"src/lib/fn.js": "exports.run = async (e) => ({nested: e});\n"},
              runtime="nodejs20.x", handler="src/lib/fn.run")
    r = invoke(lam, name, {"z": 3})
    assert r.json == {"nested": {"z": 3}}, r


def test_thrown_error_body(lam, fn):
    code = ("class CustomError extends Error { constructor(m) { super(m); this.name = 'CustomError'; } }\n"
            "exports.handler = async (event) => { throw new CustomError('node broke: ' + event.why); };\n")
    name = fn("node-throw", {"index.js": code}, runtime="nodejs20.x")
    r = invoke(lam, name, {"why": "testing"})
    assert r.status == 200 and r.function_error == "Unhandled", r
    body = r.json
    assert set(body) == {"errorType", "errorMessage", "trace"}, body
    assert body["errorType"] == "CustomError"
    assert body["errorMessage"] == "node broke: testing"
    assert isinstance(body["trace"], list) and body["trace"][0] == "CustomError: node broke: testing", body
    assert any("/var/task/index.js" in t for t in body["trace"]), body


def test_callback_error_string(lam, fn):
    name = fn("node-cberr", {"index.js": "exports.handler = (e, c, cb) => cb('plain failure');\n"},
              runtime="nodejs20.x")
    r = invoke(lam, name)
    assert r.function_error == "Unhandled", r
    assert r.json == {"errorType": "string", "errorMessage": "plain failure", "trace": []}, r


def test_import_error(lam, fn):
    name = fn("node-import", {"index.js": "require('no-such-package-xyz');\nexports.handler = async () => 1;\n"},
              runtime="nodejs20.x")
    r = invoke(lam, name)
    assert r.status == 200 and r.function_error == "Unhandled", r
    body = r.json
    assert body["errorType"] == "Runtime.ImportModuleError", body
    assert "no-such-package-xyz" in body["errorMessage"], body
    assert body["errorMessage"].startswith("Error: Cannot find module 'no-such-package-xyz'"), body
    assert isinstance(body.get("trace"), list), body


def test_missing_handler(lam, fn):
    name = fn("node-nohandler", {"index.js": "exports.other = async () => 1;\n"}, runtime="nodejs20.x")
    r = invoke(lam, name)
    assert r.function_error == "Unhandled", r
    body = r.json
    assert body["errorType"] == "Runtime.HandlerNotFound", body
    assert body["errorMessage"] == "index.handler is undefined or not exported", body


def test_missing_module(lam, fn):
    name = fn("node-nomod", {"other.js": "exports.handler = async () => 1;\n"}, runtime="nodejs20.x")
    r = invoke(lam, name)
    assert r.function_error == "Unhandled", r
    assert r.json["errorType"] == "Runtime.ImportModuleError", r
    assert "Cannot find module 'index'" in r.json["errorMessage"], r
