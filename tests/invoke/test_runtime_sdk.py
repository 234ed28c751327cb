"""The AWS SDK in the managed runtimes (issue 13, "The AWS SDK is in the managed runtimes"):
boto3/botocore in every python3.* runtime and the AWS SDK for JavaScript v3 in nodejs*.x,
installed by `flint runtime-sdk install` (conftest.py) at flint's pinned versions, below the
function's own package on the module path; flint says at start what it has, and without them
the runtimes still work and flint says so."""

import re

import pytest

from .invoke_support import invoke, unique, create_function

PY_SDK = r'''
import boto3, botocore

def handler(event, context):
    s3 = boto3.client("s3", region_name="us-east-1")
    return {"boto3": boto3.__version__, "botocore": botocore.__version__,
            "file": boto3.__file__, "client": type(s3).__name__,
            "operation": s3.meta.service_model.operation_model("GetObject").name}
'''

NODE_SDK = r'''
const { LambdaClient, ListFunctionsCommand } = require("@aws-sdk/client-lambda");
const { S3Client } = require("@aws-sdk/client-s3");
const { DynamoDBClient } = require("@aws-sdk/client-dynamodb");
exports.handler = async () => {
  const client = new LambdaClient({ region: "us-east-1" });
  return {
    resolved: require.resolve("@aws-sdk/client-lambda"),
    command: new ListFunctionsCommand({}).constructor.name,
    clients: [client, new S3Client({}), new DynamoDBClient({})].map((c) => c.constructor.name),
  };
};
'''


def pinned_versions(status_line):
    """{package: version} from `flint runtime-sdk install`'s status line."""
    return dict(re.findall(r"((?:boto3|botocore|@aws-sdk/client-[a-z0-9-]+)) (\d+\.\d+\.\d+)",
                           status_line))


def test_flint_reports_the_sdk_versions_at_start(server, runtime_sdk):
    versions = pinned_versions(runtime_sdk)
    assert {"boto3", "botocore", "@aws-sdk/client-lambda", "@aws-sdk/client-s3",
            "@aws-sdk/client-dynamodb"} <= set(versions), runtime_sdk
    lines = [x for x in server.log().splitlines() if "AWS SDKs of the managed runtimes" in x]
    assert lines, server.log()[-3000:]
    for package, version in versions.items():
        assert f"{package} {version}" in lines[0], (package, lines[0])


@pytest.mark.parametrize("runtime", ["python3.12", "python3.11"])
def test_a_plain_python_function_imports_boto3(lam, fn, runtime_sdk, runtime):
    name = fn("sdkpy", {"index.py": PY_SDK}, runtime=runtime)
    r = invoke(lam, name, {})
    assert r.function_error is None, r
    versions = pinned_versions(runtime_sdk)
    assert r.json["boto3"] == versions["boto3"], r.json
    assert r.json["botocore"] == versions["botocore"], r.json
    assert r.json["file"] == "/var/runtime/sdk/python/boto3/__init__.py", r.json
    assert r.json["client"] == "S3" and r.json["operation"] == "GetObject", r.json


def test_a_plain_node_function_imports_the_js_sdk(lam, fn, runtime_sdk):
    name = fn("sdknode", {"index.js": NODE_SDK}, runtime="nodejs20.x")
    r = invoke(lam, name, {})
    assert r.function_error is None, r
    assert r.json["resolved"].startswith("/var/runtime/node_modules/@aws-sdk/client-lambda/"), r.json
    assert r.json["command"] == "ListFunctionsCommand", r.json
    assert r.json["clients"] == ["LambdaClient", "S3Client", "DynamoDBClient"], r.json


def test_an_es_module_handler_imports_the_js_sdk(lam, fn, runtime_sdk):
    # index.mjs, as Lambda's own examples write it: `import` ignores NODE_PATH.
    code = ("import { LambdaClient } from '@aws-sdk/client-lambda';\n"
            "import { S3Client } from '@aws-sdk/client-s3';\n"
            "export const handler = async () =>\n"
            "  [new LambdaClient({ region: 'us-east-1' }), new S3Client({})].map((c) => c.constructor.name);\n")
    name = fn("sdkesm", {"index.mjs": code}, runtime="nodejs20.x")
    r = invoke(lam, name, {})
    assert r.function_error is None, r
    assert r.json == ["LambdaClient", "S3Client"], r.json


def test_a_function_that_ships_its_own_sdk_gets_its_own(lam, fn, runtime_sdk):
    py = fn("ownpy", {
        "index.py": "import boto3\ndef handler(e, c):\n    return [boto3.__version__, boto3.__file__]\n",
        "boto3/__init__.py": "__version__ = '0.0.0-mine'\n",
    }, runtime="python3.12")
    assert invoke(lam, py, {}).json == ["0.0.0-mine", "/var/task/boto3/__init__.py"]
    node = fn("ownnode", {
        "index.js": "exports.handler = async () => require('@aws-sdk/client-lambda').mine;\n",
        "node_modules/@aws-sdk/client-lambda/package.json":
            '{"name": "@aws-sdk/client-lambda", "version": "0.0.0", "main": "index.js"}',
        "node_modules/@aws-sdk/client-lambda/index.js": "exports.mine = 'mine';\n",
    }, runtime="nodejs20.x")
    assert invoke(lam, node, {}).json == "mine"
    esm = fn("ownesm", {
        "index.mjs": "import { mine } from '@aws-sdk/client-lambda';\nexport const handler = async () => mine;\n",
        "node_modules/@aws-sdk/client-lambda/package.json":
            '{"name": "@aws-sdk/client-lambda", "version": "0.0.0", "main": "index.js"}',
        "node_modules/@aws-sdk/client-lambda/index.js": "exports.mine = 'mine too';\n",
    }, runtime="nodejs20.x")
    assert invoke(lam, esm, {}).json == "mine too"


def test_without_the_sdks_the_runtimes_work_and_flint_says_so(make_server, tmp_path):
    s = make_server(extra_env={"FLINT_RUNTIME_SDK_DIR": str(tmp_path / "no-sdk")})
    lines = [x for x in s.log().splitlines() if "AWS SDKs of the managed runtimes" in x]
    assert lines and "without boto3" in lines[0] and "without the AWS SDK for JavaScript" in lines[0], \
        s.log()[-3000:]
    lam = s.client()
    plain = unique("nosdk")
    create_function(lam, plain, {"index.py": "def handler(e, c):\n    return 'fine'\n"})
    assert invoke(lam, plain, {}).json == "fine"
    needs = unique("nosdk")
    create_function(lam, needs, {"index.py": PY_SDK})
    r = invoke(lam, needs, {})
    assert r.function_error == "Unhandled", r
    assert r.json["errorType"] == "Runtime.ImportModuleError", r.json
    assert "No module named 'boto3'" in r.json["errorMessage"], r.json
