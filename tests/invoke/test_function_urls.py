"""Function URLs: the configuration operations through boto3 and the AWS CLI, and HTTP requests
to the URL listener with `requests` (by host name and by the path form): Lambda's payload
format 2.0 event, the response mapping, CORS, and both auth types (AWS_IAM signed with
botocore's SigV4 signer and a key from `flint keys`)."""

import base64
import json
import os
import subprocess
import sys
import urllib.parse

import botocore.exceptions
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .invoke_support import REGION, create_function, flint_bin, function_arn, unique

# AWS's 403 for a caller the URL's auth refuses (recorded: test_lambda_permission_url_invocation).
FORBIDDEN = ("Forbidden. For troubleshooting Function URL authorization issues, see: "
             "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html")

# Echoes the event it got, or answers with what the event's body asks for.
PY_URL = """
import base64, json

def handler(event, context):
    body = event.get("body")
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("latin-1")
    path = event["rawPath"]
    if path == "/event":
        return event
    if path == "/plain":
        return {"just": "json"}
    if path == "/made":
        return {"statusCode": 201, "headers": {"Content-Type": "text/plain", "X-Made": "yes"},
                "cookies": ["a=1", "b=2; Path=/"], "body": "made it"}
    if path == "/binary":
        return {"statusCode": 200, "headers": {"Content-Type": "application/octet-stream"},
                "body": base64.b64encode(bytes(range(256))).decode(), "isBase64Encoded": True}
    if path == "/fail":
        raise RuntimeError("boom")
    if path == "/bad":
        return {"statusCode": "not a number"}
    return {"statusCode": 404, "body": "no " + path}
"""


def url_parts(function_url):
    u = urllib.parse.urlparse(function_url)
    return u.hostname, u.port


def call(function_url, path="/", method="GET", by="host", **kw):
    """Calls the URL on 127.0.0.1 with its host name in Host, or by the path form."""
    host, port = url_parts(function_url)
    url_id = host.split(".")[0]
    headers = dict(kw.pop("headers", {}))
    if by == "host":
        headers["Host"] = f"{host}:{port}"
        target = f"http://127.0.0.1:{port}{path}"
    else:
        target = f"http://127.0.0.1:{port}/_url/{url_id}{path}"
    return requests.request(method, target, headers=headers, timeout=60, **kw)


def public_url(lam, name, **kw):
    cfg = lam.create_function_url_config(FunctionName=name, AuthType="NONE", **kw)
    lam.add_permission(FunctionName=name, StatementId="public-url", Principal="*",
                       Action="lambda:InvokeFunctionUrl", FunctionUrlAuthType="NONE",
                       **({"Qualifier": kw["Qualifier"]} if "Qualifier" in kw else {}))
    return cfg


def test_config_operations(lam, fn):
    name = fn("url-cfg", {"index.py": PY_URL})
    cfg = lam.create_function_url_config(FunctionName=name, AuthType="NONE",
                                         Cors={"AllowOrigins": ["https://a.example"]})
    assert cfg["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert cfg["FunctionArn"] == function_arn(name)
    # Created without InvokeMode: AWS's answer has none (its recorded
    # test_url_config_lifecycle); reads show BUFFERED.
    assert cfg["AuthType"] == "NONE" and "InvokeMode" not in cfg
    assert cfg["Cors"] == {"AllowOrigins": ["https://a.example"]}
    host, port = url_parts(cfg["FunctionUrl"])
    url_id = host.split(".")[0]
    assert len(url_id) == 32 and url_id.isalnum() and url_id == url_id.lower()
    assert host == f"{url_id}.lambda-url.{REGION}.localhost" and port
    assert cfg["FunctionUrl"].endswith("/")

    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"

    got = lam.get_function_url_config(FunctionName=name)
    assert got["FunctionUrl"] == cfg["FunctionUrl"] and "LastModifiedTime" in got
    assert got["InvokeMode"] == "BUFFERED"
    up = lam.update_function_url_config(FunctionName=name, AuthType="AWS_IAM",
                                         InvokeMode="RESPONSE_STREAM")
    assert up["FunctionUrl"] == cfg["FunctionUrl"], "a URL never changes"
    assert up["AuthType"] == "AWS_IAM" and up["InvokeMode"] == "RESPONSE_STREAM"
    assert up["Cors"] == {"AllowOrigins": ["https://a.example"]}

    # Aliases get URLs of their own; versions and $LATEST by name do not.
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    live = lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    assert live["FunctionArn"] == function_arn(name, "live")
    assert live["FunctionUrl"] != cfg["FunctionUrl"]
    for q in ("1", "$LATEST"):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            lam.create_function_url_config(FunctionName=name, Qualifier=q, AuthType="NONE")
        assert e.value.response["Error"]["Code"] == "ValidationException", q
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function_url_config(FunctionName=name, Qualifier="nope", AuthType="NONE")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    listed = lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
    assert sorted(c["FunctionArn"] for c in listed) == sorted(
        [function_arn(name), function_arn(name, "live")])

    # Deleting the alias deletes its URL; its address answers 403 Forbidden from then on, as
    # AWS's does (test_lambda_url_persists_after_alias_delete), not as an unknown URL.
    lam.delete_alias(FunctionName=name, Name="live")
    assert len(lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]) == 1
    r = call(live["FunctionUrl"], "/event")
    assert r.status_code == 403 and r.json() == {"Message": FORBIDDEN}
    assert r.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    lam.delete_function_url_config(FunctionName=name)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_function_url_config(FunctionName=name)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_requests_become_payload_2_events(lam, fn):
    name = fn("url-event", {"index.py": PY_URL})
    url = public_url(lam, name)["FunctionUrl"]
    for by in ("host", "path"):
        r = call(url, "/event", method="POST", by=by, params=[("a", "1"), ("a", "2"), ("b", "x y")],
                 headers={"X-Multi": "one", "Cookie": "c1=v1; c2=v2",
                          "Content-Type": "application/json", "User-Agent": "flint-test"},
                 data=b'{"k": 1}')
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        e = r.json()
        assert e["version"] == "2.0" and e["routeKey"] == "$default"
        assert e["rawPath"] == "/event"
        assert e["rawQueryString"] == "a=1&a=2&b=x+y"
        assert e["queryStringParameters"] == {"a": "1,2", "b": "x y"}
        assert e["cookies"] == ["c1=v1", "c2=v2"]
        assert e["headers"]["x-multi"] == "one" and "cookie" not in e["headers"]
        assert e["body"] == '{"k": 1}' and e["isBase64Encoded"] is False
        rc = e["requestContext"]
        url_id = url_parts(url)[0].split(".")[0]
        assert rc["apiId"] == url_id and rc["domainPrefix"] == url_id
        assert rc["domainName"] == f"{url_id}.lambda-url.{REGION}.localhost"
        assert rc["accountId"] == "anonymous"
        assert rc["http"] == {"method": "POST", "path": "/event", "protocol": "HTTP/1.1",
                              "sourceIp": "127.0.0.1", "userAgent": "flint-test"}
        assert rc["requestId"] == r.headers["x-amzn-RequestId"]
    # A binary body arrives base64-encoded.
    r = call(url, "/event", method="PUT", data=bytes([0, 1, 2, 255]),
             headers={"Content-Type": "application/octet-stream"})
    e = r.json()
    assert e["isBase64Encoded"] is True
    assert base64.b64decode(e["body"]) == bytes([0, 1, 2, 255])


def test_answers_map_back_to_http(lam, fn):
    name = fn("url-answer", {"index.py": PY_URL})
    url = public_url(lam, name)["FunctionUrl"]
    r = call(url, "/plain")
    assert r.status_code == 200 and r.json() == {"just": "json"}
    r = call(url, "/made")
    assert r.status_code == 201 and r.text == "made it"
    assert r.headers["content-type"] == "text/plain" and r.headers["x-made"] == "yes"
    assert r.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2; Path=/"]
    r = call(url, "/binary")
    assert r.status_code == 200 and r.content == bytes(range(256))
    for path in ("/fail", "/bad"):
        r = call(url, path)
        assert r.status_code == 502, (path, r.status_code, r.text)
        assert r.text == "Internal Server Error"
    r = call(url, "/elsewhere")
    assert r.status_code == 404 and r.text == "no /elsewhere"


def test_cors_preflight_and_headers(lam, fn):
    name = fn("url-cors", {"index.py": PY_URL})
    url = public_url(lam, name, Cors={
        "AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"],
        "AllowHeaders": ["x-custom"], "ExposeHeaders": ["x-made"], "MaxAge": 300})["FunctionUrl"]
    r = call(url, "/made", method="OPTIONS", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert r.headers["access-control-allow-methods"] == "GET,POST"
    assert r.headers["access-control-allow-headers"] == "x-custom"
    assert r.headers["access-control-max-age"] == "300"
    r = call(url, "/made", method="OPTIONS", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers
    r = call(url, "/made", headers={"Origin": "https://app.example"})
    assert r.status_code == 201
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert r.headers["access-control-expose-headers"] == "x-made"
    r = call(url, "/made", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_auth_type_none_needs_the_public_permission(lam, fn):
    name = fn("url-noperm", {"index.py": PY_URL})
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    r = call(url, "/plain")
    assert r.status_code == 403 and r.json() == {"Message": FORBIDDEN}
    assert r.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    # A permission for the other auth type does not open it.
    lam.add_permission(FunctionName=name, StatementId="iam-only", Principal="*",
                       Action="lambda:InvokeFunctionUrl", FunctionUrlAuthType="AWS_IAM")
    assert call(url, "/plain").status_code == 403
    lam.add_permission(FunctionName=name, StatementId="public", Principal="*",
                       Action="lambda:InvokeFunctionUrl", FunctionUrlAuthType="NONE")
    assert call(url, "/plain").status_code == 200
    lam.remove_permission(FunctionName=name, StatementId="public")
    assert call(url, "/plain").status_code == 403
    # An unknown url id.
    host, port = url_parts(url)
    r = requests.get(f"http://127.0.0.1:{port}/x",
                     headers={"Host": f"{'0' * 32}.lambda-url.{REGION}.localhost:{port}"})
    assert r.status_code == 403 and r.json() == {"Message": None}
    assert r.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert r.headers["content-type"] == "application/json"


def signed(url, path, creds, tamper=False):
    host, port = url_parts(url)
    full = f"http://{host}:{port}{path}"
    req = AWSRequest(method="GET", url=full, headers={"Host": f"{host}:{port}"})
    SigV4Auth(creds, "lambda", REGION).add_auth(req)
    headers = dict(req.headers)
    if tamper:
        # Another second of the same minute (so the same day, within the clock skew): only
        # the signed time changes, and it always changes.
        signed_at = headers["X-Amz-Date"]
        second = (int(signed_at[-3:-1]) + 1) % 60
        headers["X-Amz-Date"] = f"{signed_at[:-3]}{second:02d}Z"
        assert headers["X-Amz-Date"] != signed_at
    return requests.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=60)


def test_aws_iam_urls_need_a_valid_signature(make_server):
    s = make_server()
    out = subprocess.run([flint_bin(), "keys", "create", "--data-dir", s.data_dir,
                          "--output", "json"], capture_output=True, text=True, check=True)
    key = json.loads(out.stdout)
    s.stop()
    s.start()  # keys.db exists now: the URL listener checks AWS_IAM signatures against it
    lam = s.client()
    name = unique("url-iam")
    create_function(lam, name, {"index.py": PY_URL})
    url = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
    assert call(url, "/plain").status_code == 403, "unsigned"
    good = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    r = signed(url, "/event", good)
    assert r.status_code == 200, r.text
    iam = r.json()["requestContext"]["authorizer"]["iam"]
    assert iam["accessKey"] == key["AccessKeyId"]
    assert signed(url, "/event", Credentials(key["AccessKeyId"], "wrong")).status_code == 403
    assert signed(url, "/event", Credentials("AKIAUNKNOWN000000000", "x")).status_code == 403
    assert signed(url, "/event", good, tamper=True).status_code == 403
    subprocess.run([flint_bin(), "keys", "revoke", "--data-dir", s.data_dir,
                    key["AccessKeyId"]], capture_output=True, check=True)
    assert signed(url, "/event", good).status_code == 403, "a revoked key"


def test_aws_cli_creates_a_url(server, fn):
    name = fn("url-cli", {"index.py": PY_URL})
    env = dict(os.environ, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x",
               AWS_DEFAULT_REGION=REGION)
    out = subprocess.run([sys.executable, "-m", "awscli", "--endpoint-url", server.endpoint,
                          "lambda", "create-function-url-config", "--function-name", name,
                          "--auth-type", "NONE", "--output", "json"],
                         capture_output=True, text=True, env=env, check=True)
    cfg = json.loads(out.stdout)
    assert cfg["AuthType"] == "NONE" and ".lambda-url." in cfg["FunctionUrl"]


NODE_STREAM_URL = """
export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  if (event.rawPath === "/raw") {
    responseStream.setContentType("text/plain");
    responseStream.write("raw ");
    await new Promise((r) => setTimeout(r, 1200));
    responseStream.end("stream");
    return;
  }
  const http = awslambda.HttpResponseStream.from(responseStream, {
    statusCode: 207,
    headers: { "Content-Type": "text/event-stream", "X-Streamed": "yes" },
    cookies: ["s=1"],
  });
  http.write("data: one\\n\\n");
  await new Promise((r) => setTimeout(r, 1200));
  http.write("data: two\\n\\n");
  http.end();
});
"""


def test_response_stream_urls_send_bytes_as_the_function_writes(lam, fn):
    import time
    name = fn("url-stream", {"index.mjs": NODE_STREAM_URL}, runtime="nodejs20.x",
              handler="index.handler", Timeout=10)
    url = public_url(lam, name, InvokeMode="RESPONSE_STREAM")["FunctionUrl"]
    started = time.monotonic()
    r = call(url, "/sse", stream=True)
    assert r.status_code == 207, r.text
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers["x-streamed"] == "yes"
    assert r.raw.headers.getlist("Set-Cookie") == ["s=1"]
    pieces = []
    for piece in r.iter_content(chunk_size=None):
        pieces.append((time.monotonic() - started, piece))
    body = b"".join(p for _, p in pieces)
    assert body == b"data: one\n\ndata: two\n\n", pieces
    assert pieces[-1][0] - pieces[0][0] >= 1.0, pieces
    # Without the HTTP prelude: 200 with the runtime's content type.
    r = call(url, "/raw")
    assert r.status_code == 200 and r.text == "raw stream"
    assert r.headers["content-type"] == "text/plain"
    # Through a BUFFERED URL the same function's whole answer ("raw stream") goes through
    # the JSON response mapping, which it does not satisfy: a 502, as for any non-JSON answer.
    lam.update_function_url_config(FunctionName=name, InvokeMode="BUFFERED")
    r = call(url, "/raw")
    assert r.status_code == 502 and r.text == "Internal Server Error"
