"""Function URLs, a second and independent suite (written against the same brief as
test_function_urls.py, by another engineer, before seeing it): the config operations through
boto3 and the AWS CLI (exact messages, 409, qualifiers, pagination, delete cascade through
DeleteAlias and DeleteFunction), and HTTP requests (`requests`, curl) to the URL listener by
Host header and by the `/_url/<id>/` path form: payload format 2.0 events (repeated headers
and query keys, cookies, binary bodies), Lambda's response mapping, 502 on function errors,
403s, CORS preflight and response headers, AWS_IAM with botocore's signer under
`--auth sigv4`."""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from urllib.parse import urlparse

import boto3
import botocore.exceptions
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .invoke_support import (DUMMY_CREDS, REGION, FlintServer, create_function, flint_bin,
                             function_arn, unique)

# Echoes the event it got (as a JSON-only answer, no statusCode).
ECHO = "def handler(event, context):\n    return event\n"

# Answers what the event's body asks for: {"answer": <any JSON>} or {"fail": true}.
SHAPER = (
    "import json, base64\n"
    "def handler(event, context):\n"
    "    body = event.get('body') or '{}'\n"
    "    if event.get('isBase64Encoded'):\n"
    "        body = base64.b64decode(body).decode()\n"
    "    req = json.loads(body)\n"
    "    if req.get('fail'):\n"
    "        raise RuntimeError('asked to fail')\n"
    "    return req['answer']\n"
)

URL_RE = re.compile(r"^http://([a-z0-9]{32})\.lambda-url\.us-east-1\.localhost:(\d+)/$")


def err(e):
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"], \
        e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def allow_public(lam, name, qualifier=None):
    """The statement AWS asks for before a NONE URL answers anyone."""
    lam.add_permission(FunctionName=name, StatementId=unique("public-url"), Principal="*",
                       Action="lambda:InvokeFunctionUrl", FunctionUrlAuthType="NONE",
                       **({"Qualifier": qualifier} if qualifier else {}))


def url_parts(function_url):
    m = URL_RE.match(function_url)
    assert m, function_url
    return m.group(1), int(m.group(2))


def host_call(function_url, path="/", method="GET", **kw):
    """Calls a URL by Host header on loopback (no DNS needed)."""
    url_id, port = url_parts(function_url)
    headers = dict(kw.pop("headers", {}))
    headers["Host"] = urlparse(function_url).netloc
    return requests.request(method, f"http://127.0.0.1:{port}{path}", headers=headers,
                            timeout=60, **kw)


def path_call(function_url, path="/", method="GET", **kw):
    url_id, port = url_parts(function_url)
    return requests.request(method, f"http://127.0.0.1:{port}/_url/{url_id}{path}",
                            timeout=60, **kw)


@pytest.fixture
def echo_url(lam, fn):
    name = fn("url-echo", {"index.py": ECHO})
    cfg = lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    allow_public(lam, name)
    return name, cfg["FunctionUrl"]


@pytest.fixture
def shaper_url(lam, fn):
    name = fn("url-shape", {"index.py": SHAPER})
    cfg = lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    allow_public(lam, name)
    return name, cfg["FunctionUrl"]


# ------------------------------------------------------------ config operations


def test_create_get_update_list_delete(lam, fn):
    name = fn("url-cfg", {"index.py": ECHO})
    created = lam.create_function_url_config(
        FunctionName=name, AuthType="NONE",
        Cors={"AllowOrigins": ["https://a.example"], "MaxAge": 60})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionArn"] == function_arn(name)
    assert created["AuthType"] == "NONE"
    # Created without InvokeMode: AWS's answer has none (its recorded
    # test_url_config_lifecycle); reads show BUFFERED.
    assert "InvokeMode" not in created
    assert created["Cors"] == {"AllowOrigins": ["https://a.example"], "MaxAge": 60}
    assert "LastModifiedTime" not in created
    url_id, _ = url_parts(created["FunctionUrl"])

    got = lam.get_function_url_config(FunctionName=name)
    assert got["FunctionUrl"] == created["FunctionUrl"]
    assert got["CreationTime"] == created["CreationTime"]
    assert got["InvokeMode"] == "BUFFERED"
    # ISO 8601 UTC; the number of fractional digits AWS sends is not pinned down here.
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$", got["LastModifiedTime"])

    updated = lam.update_function_url_config(FunctionName=name, AuthType="AWS_IAM",
                                             InvokeMode="RESPONSE_STREAM")
    assert updated["FunctionUrl"] == created["FunctionUrl"], "the URL never changes"
    assert updated["AuthType"] == "AWS_IAM"
    assert updated["InvokeMode"] == "RESPONSE_STREAM"
    assert updated["Cors"] == created["Cors"], "an update without Cors keeps it"

    listed = lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
    assert [c["FunctionUrl"] for c in listed] == [created["FunctionUrl"]]

    resp = lam.delete_function_url_config(FunctionName=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_function_url_config(FunctionName=name)
    code, msg, status = err(e)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert msg.startswith("The resource you requested does not exist."), msg
    # The URL no longer answers.
    r = path_call(created["FunctionUrl"])
    assert r.status_code == 403 and r.json() == {"Message": None}
    assert lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []


def test_conflict_qualifiers_and_errors(lam, fn):
    name = fn("url-err", {"index.py": ECHO})
    lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert err(e) == (
        "ResourceConflictException",
        f"Failed to create function url config for [functionArn = {function_arn(name)}]. "
        "Error message:  FunctionUrlConfig exists for this Lambda function", 409)

    for q in ("1", "$LATEST"):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            lam.create_function_url_config(FunctionName=name, Qualifier=q, AuthType="NONE")
        code, msg, status = err(e)
        assert (code, status) == ("ValidationException", 400)
        assert msg == (f"1 validation error detected: Value '{q}' at 'qualifier' failed to "
                       "satisfy constraint: Member must satisfy regular expression pattern: "
                       "((?!^\\d+$)^[0-9a-zA-Z-_]+$)")

    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function_url_config(FunctionName=name, Qualifier="nope", AuthType="NONE")
    assert err(e)[::2] == ("ResourceNotFoundException", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function_url_config(FunctionName=name + "-missing", AuthType="NONE")
    assert err(e)[::2] == ("ResourceNotFoundException", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_function_url_config(FunctionName=name, Cors={"MaxAge": 86401})
    code, msg, status = err(e)
    assert (code, status) == ("ValidationException", 400)
    assert "at 'cors.maxAge'" in msg and "less than or equal to 86400" in msg
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_function_url_config(FunctionName=name, Cors={"AllowMethods": ["OPTIONS"]})
    assert err(e)[0] == "ValidationException"
    # Nothing changed by the refused requests.
    assert "Cors" not in lam.get_function_url_config(FunctionName=name)


def test_alias_urls_and_delete_cascade(lam, fn):
    name = fn("url-alias", {"index.py": ECHO})
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.create_alias(FunctionName=name, Name="beta", FunctionVersion="1")
    base = lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    live = lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    beta = lam.create_function_url_config(FunctionName=f"{name}:beta", AuthType="NONE")
    assert live["FunctionArn"] == function_arn(name, "live")
    assert beta["FunctionArn"] == function_arn(name, "beta")
    assert len({base["FunctionUrl"], live["FunctionUrl"], beta["FunctionUrl"]}) == 3
    arns = sorted(c["FunctionArn"] for c in
                  lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"])
    assert arns == sorted([function_arn(name), function_arn(name, "live"),
                           function_arn(name, "beta")])
    page = lam.list_function_url_configs(FunctionName=name, MaxItems=2)
    assert len(page["FunctionUrlConfigs"]) == 2 and page["NextMarker"]
    rest = lam.list_function_url_configs(FunctionName=name, Marker=page["NextMarker"])
    assert len(rest["FunctionUrlConfigs"]) == 1

    # The alias's URL runs the alias (version 1).
    allow_public(lam, name, "live")
    r = path_call(live["FunctionUrl"])
    assert r.status_code == 200 and r.json()["requestContext"]["apiId"] == url_parts(
        live["FunctionUrl"])[0]

    lam.delete_alias(FunctionName=name, Name="live")
    assert path_call(live["FunctionUrl"]).status_code == 403
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_function_url_config(FunctionName=name, Qualifier="live")
    assert err(e)[2] == 404
    lam.delete_function(FunctionName=name)
    for u in (base, beta):
        r = path_call(u["FunctionUrl"])
        assert r.status_code == 403 and r.json() == {"Message": None}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.list_function_url_configs(FunctionName=name)
    assert err(e)[::2] == ("ResourceNotFoundException", 404)


def aws(server, *args):
    env = dict(os.environ)
    env.update(DUMMY_CREDS)
    env["AWS_DEFAULT_REGION"] = REGION
    env.pop("AWS_PROFILE", None)
    env["AWS_CONFIG_FILE"] = os.devnull
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return subprocess.run([sys.executable, "-m", "awscli", "--endpoint-url", server.endpoint,
                           "--output", "json", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_aws_cli_url_config(server, fn):
    name = fn("url-cli", {"index.py": ECHO})
    p = aws(server, "lambda", "create-function-url-config", "--function-name", name,
            "--auth-type", "NONE", "--cors", "AllowOrigins=*,AllowMethods=GET")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    url_parts(out["FunctionUrl"])
    assert out["Cors"] == {"AllowOrigins": ["*"], "AllowMethods": ["GET"]}
    p = aws(server, "lambda", "create-function-url-config", "--function-name", name,
            "--auth-type", "NONE")
    assert p.returncode != 0 and "ResourceConflictException" in p.stderr, p.stderr
    p = aws(server, "lambda", "get-function-url-config", "--function-name", name)
    assert p.returncode == 0 and json.loads(p.stdout)["FunctionUrl"] == out["FunctionUrl"]
    p = aws(server, "lambda", "list-function-url-configs", "--function-name", name)
    assert p.returncode == 0 and len(json.loads(p.stdout)["FunctionUrlConfigs"]) == 1
    p = aws(server, "lambda", "delete-function-url-config", "--function-name", name)
    assert p.returncode == 0, p.stderr
    p = aws(server, "lambda", "get-function-url-config", "--function-name", name)
    assert p.returncode != 0 and "ResourceNotFoundException" in p.stderr


# ------------------------------------------------------------- URL requests


def test_get_by_host_header_has_payload_v2(echo_url):
    name, url = echo_url
    url_id, port = url_parts(url)
    r = host_call(url, "/some/path?a=1&a=2&b=x%20y", headers={
        "X-Custom": "v", "User-Agent": "flint-test/1", "Cookie": "c1=v1; c2=v2"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-amzn-RequestId"]
    e = r.json()
    assert e["version"] == "2.0" and e["routeKey"] == "$default"
    assert e["rawPath"] == "/some/path"
    assert e["rawQueryString"] == "a=1&a=2&b=x%20y"
    assert e["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert e["cookies"] == ["c1=v1", "c2=v2"]
    assert "cookie" not in e["headers"]
    assert e["headers"]["x-custom"] == "v"
    assert e["headers"]["host"] == urlparse(url).netloc
    assert "body" not in e and e["isBase64Encoded"] is False
    c = e["requestContext"]
    assert c["accountId"] == "anonymous"
    assert c["apiId"] == url_id and c["domainPrefix"] == url_id
    assert c["domainName"] == f"{url_id}.lambda-url.us-east-1.localhost"
    assert c["http"] == {"method": "GET", "path": "/some/path", "protocol": "HTTP/1.1",
                         "sourceIp": "127.0.0.1", "userAgent": "flint-test/1"}
    assert c["requestId"] == r.headers["x-amzn-RequestId"]
    assert re.match(r"^\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000$", c["time"])
    assert isinstance(c["timeEpoch"], int)


def test_post_by_path_form_with_repeated_headers_and_binary(echo_url):
    name, url = echo_url
    r = path_call(url, "/p?q=1", method="POST", data=b'{"k": 1}',
                  headers={"Content-Type": "application/json"})
    e = r.json()
    assert e["rawPath"] == "/p" and e["body"] == '{"k": 1}' and e["isBase64Encoded"] is False
    assert e["requestContext"]["http"]["method"] == "POST"

    binary = bytes(range(256))
    r = path_call(url, "/bin", method="PUT", data=binary,
                  headers={"Content-Type": "application/octet-stream"})
    e = r.json()
    assert e["isBase64Encoded"] is True
    assert base64.b64decode(e["body"]) == binary

    # Repeated headers joined with ',' (curl sends them as separate lines).
    curl = shutil.which("curl")
    assert curl, "curl is needed for the repeated-header check"
    url_id, port = url_parts(url)
    out = subprocess.run([curl, "-s", "-H", "X-Rep: one", "-H", "X-Rep: two",
                          f"http://127.0.0.1:{port}/_url/{url_id}/c"],
                         capture_output=True, timeout=60, check=True).stdout
    assert json.loads(out)["headers"]["x-rep"] == "one,two"


def test_response_mapping(shaper_url):
    name, url = shaper_url

    def ask(answer):
        return path_call(url, method="POST", json={"answer": answer})

    r = ask({"statusCode": 201, "headers": {"X-Out": "yes", "Content-Type": "text/plain"},
             "cookies": ["a=1; Path=/", "b=2"], "body": "created"})
    assert r.status_code == 201 and r.text == "created"
    assert r.headers["x-out"] == "yes" and r.headers["content-type"] == "text/plain"
    assert r.raw.headers.getlist("set-cookie") == ["a=1; Path=/", "b=2"]

    r = ask({"statusCode": 200, "body": base64.b64encode(b"\x00\xffbin").decode(),
             "isBase64Encoded": True, "headers": {"content-type": "application/octet-stream"}})
    assert r.status_code == 200 and r.content == b"\x00\xffbin"

    for plain in ([1, 2, 3], 42, {"no": "statusCode"}):
        r = ask(plain)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.json() == plain
    # A string is the body itself, not JSON-quoted (as AWS answers).
    r = ask("just a string")
    assert r.status_code == 200 and r.text == "just a string"

    r = path_call(url, method="POST", json={"fail": True})
    assert r.status_code == 502 and r.text == "Internal Server Error"
    r = ask({"statusCode": 42})
    assert r.status_code == 502


def test_unknown_url_ids(lam, echo_url):
    name, url = echo_url
    url_id, port = url_parts(url)
    r = requests.get(f"http://127.0.0.1:{port}/_url/{'0' * 32}/", timeout=30)
    assert r.status_code == 403 and r.json() == {"Message": None}
    r = requests.get(f"http://127.0.0.1:{port}/nothing", timeout=30)
    assert r.status_code == 403 and r.json() == {"Message": None}


def flint_keys(data_dir, *args):
    proc = subprocess.run([flint_bin(), "keys", *args, "--data-dir", data_dir,
                           "--output", "json"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_aws_iam_urls_need_a_sigv4_signature(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    key = flint_keys(str(data), "create", "--description", "url-test")
    s = FlintServer(str(data), str(tmp_path / "server.log"))
    s.extra_args = ["--auth", "sigv4"]
    s.start()
    try:
        session = boto3.session.Session(aws_access_key_id=key["AccessKeyId"],
                                        aws_secret_access_key=key["SecretAccessKey"],
                                        region_name=REGION)
        lam = session.client("lambda", endpoint_url=s.endpoint)
        name = unique("url-iam")
        create_function(lam, name, {"index.py": ECHO})
        url = lam.create_function_url_config(FunctionName=name,
                                             AuthType="AWS_IAM")["FunctionUrl"]
        url_id, port = url_parts(url)
        target = f"http://127.0.0.1:{port}/_url/{url_id}/signed?x=1"

        def signed(secret, body=b'{"a": 1}'):
            req = AWSRequest(method="POST", url=target, data=body,
                             headers={"Content-Type": "application/json"})
            SigV4Auth(Credentials(key["AccessKeyId"], secret), "lambda", REGION).add_auth(req)
            return requests.post(target, data=body, headers=dict(req.headers), timeout=60)

        r = signed(key["SecretAccessKey"])
        assert r.status_code == 200, r.text
        ctx = r.json()["requestContext"]
        assert ctx["accountId"] == "000000000000"
        assert ctx["authorizer"]["iam"]["accessKey"] == key["AccessKeyId"]
        assert r.json()["body"] == '{"a": 1}'

        r = requests.post(target, data=b"{}", timeout=60)
        assert r.status_code == 403 and r.json() == {"Message": (
            "Forbidden. For troubleshooting Function URL authorization issues, see: "
            "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html")}
        r = signed("not-the-secret")
        assert r.status_code == 403
        # A NONE URL on the same server needs no signature.
        lam.update_function_url_config(FunctionName=name, AuthType="NONE")
        allow_public(lam, name)
        r = requests.get(target, timeout=60)
        assert r.status_code == 200 and r.json()["requestContext"]["accountId"] == "anonymous"
    finally:
        s.stop()
        s.kill()


def test_cors_preflight_and_response_headers(lam, fn):
    name = fn("url-cors", {"index.py": SHAPER})
    allow_public(lam, name)
    url = lam.create_function_url_config(
        FunctionName=name, AuthType="NONE",
        Cors={"AllowOrigins": ["https://a.example"], "AllowMethods": ["GET", "POST"],
              "AllowHeaders": ["x-custom"], "ExposeHeaders": ["x-out"], "MaxAge": 300,
              "AllowCredentials": True})["FunctionUrl"]
    pre = host_call(url, "/", method="OPTIONS", headers={
        "Origin": "https://a.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-custom"})
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == "https://a.example"
    assert pre.headers["access-control-allow-methods"] == "GET,POST"
    assert pre.headers["access-control-allow-headers"] == "x-custom"
    assert pre.headers["access-control-max-age"] == "300"
    assert pre.headers["access-control-allow-credentials"] == "true"
    # A preflight from an origin not allowed gets no CORS headers.
    bad = host_call(url, "/", method="OPTIONS", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in bad.headers

    # The function's own CORS headers are replaced by the configured ones.
    r = host_call(url, "/", method="POST", headers={"Origin": "https://a.example"},
                  json={"answer": {"statusCode": 200, "body": "ok", "headers": {
                      "Access-Control-Allow-Origin": "https://function.example",
                      "X-Out": "1"}}})
    assert r.status_code == 200 and r.text == "ok"
    assert r.headers["access-control-allow-origin"] == "https://a.example"
    assert r.headers["access-control-expose-headers"] == "x-out"
    assert r.headers["access-control-allow-credentials"] == "true"
