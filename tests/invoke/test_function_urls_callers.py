"""Function URLs as AWS answers them, what callers send and get back: a handler's return value
without `statusCode` becomes the body as AWS sends it (a string's own text, anything else
re-serialised compactly: the recorded test_lambda.py::TestLambdaURL::test_lambda_url_invocation
cases, bytes and Content-Length), a `statusCode` given as a string of digits
(test_lambda_url_headers_and_status), hop-by-hop headers kept out of the event and the
`x-forwarded-*` headers put in (test_lambda_url_echo_http_fixture_default), and the 403s of an
unknown URL (test_lambda_url_non_existing_url) and of a deleted alias's URL
(test_lambda_url_persists_after_alias_delete)."""

import http.client
import json
import urllib.parse

import pytest
import requests

from .invoke_support import REGION

FORBIDDEN = ("Forbidden. For troubleshooting Function URL authorization issues, see: "
             "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html")

# Returns what the recorded scenario's handler returned for each case, by path.
RETURNS = """
import json

CASES = {
    "/dict": lambda: {"hello": "world"},
    "/http-response": lambda: {"statusCode": 200, "body": "body123"},
    "/http-response-json": lambda: {"statusCode": 200, "body": "{\\"hello\\": \\"world\\"}"},
    "/list-mixed": lambda: ["hello", 3, True],
    "/string": lambda: "hello",
    "/integer": lambda: 3,
    "/float": lambda: 3.1,
    "/boolean": lambda: True,
    "/teapot": lambda: {"statusCode": "418", "body": "i'm a teapot", "isBase64Encoded": False},
    "/created": lambda: {"statusCode": 201, "headers": {"Content-Type": "application/json",
                         "My-Custom-Header": "Custom Value"},
                         "body": json.dumps({"message": "hello-world"})},
}

def handler(event, context):
    if event["rawPath"] == "/event":
        return {"statusCode": 200, "body": json.dumps(event)}
    return CASES[event["rawPath"]]()
"""


def url_parts(function_url):
    u = urllib.parse.urlparse(function_url)
    return u.hostname, u.port


@pytest.fixture
def public_url(lam, fn):
    def make(qualifier=None):
        name = fn("url-callers", {"index.py": RETURNS})
        q = {"Qualifier": qualifier} if qualifier else {}
        if qualifier:
            lam.publish_version(FunctionName=name)
            lam.create_alias(FunctionName=name, Name=qualifier, FunctionVersion="1")
        cfg = lam.create_function_url_config(FunctionName=name, AuthType="NONE", **q)
        lam.add_permission(FunctionName=name, StatementId="public-url", Principal="*",
                           Action="lambda:InvokeFunctionUrl", FunctionUrlAuthType="NONE", **q)
        return name, cfg["FunctionUrl"]
    return make


def post(function_url, path, **kw):
    host, port = url_parts(function_url)
    return requests.post(f"http://127.0.0.1:{port}{path}", data=b"{'key':'value'}",
                         headers={"Host": f"{host}:{port}", **kw.pop("headers", {})},
                         timeout=60, **kw)


@pytest.mark.parametrize("path,body", [
    ("/dict", b'{"hello":"world"}'),
    ("/http-response", b"body123"),
    ("/http-response-json", b'{"hello": "world"}'),
    ("/list-mixed", b'["hello",3,true]'),
    ("/string", b"hello"),
    ("/integer", b"3"),
    ("/float", b"3.1"),
    ("/boolean", b"true"),
])
def test_return_values_become_the_body_aws_sends(public_url, path, body):
    _, url = public_url()
    r = post(url, path)
    assert r.status_code == 200, r.text
    assert r.content == body
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Content-Length"] == str(len(body))


def test_status_codes_given_as_strings_and_custom_headers(public_url):
    _, url = public_url()
    r = post(url, "/teapot")
    assert (r.status_code, r.text) == (418, "i'm a teapot")
    r = post(url, "/created")
    assert r.status_code == 201 and r.json() == {"message": "hello-world"}
    assert r.headers["my-custom-header"] == "Custom Value"


def raw_event(function_url, headers):
    """The event of a request sent with exactly these headers (http.client adds nothing
    but what is given here and Content-Length)."""
    host, port = url_parts(function_url)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest("POST", "/event", skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", f"{host}:{port}")
        for k, v in headers:
            conn.putheader(k, v)
        conn.putheader("Content-Length", "2")
        conn.endheaders(b"{}")
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()
        return json.loads(resp.read())["headers"]
    finally:
        conn.close()


def test_hop_by_hop_headers_are_not_forwarded_and_forwarding_headers_are(public_url):
    _, url = public_url()
    _, port = url_parts(url)
    headers = raw_event(url, [
        ("Connection", "keep-alive, X-Per-Hop"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Connection", "keep-alive"),
        ("TE", "trailers"),
        ("Trailer", "X-Checksum"),
        ("Upgrade", "websocket"),
        ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
        ("X-Per-Hop", "named by Connection"),
        ("X-Forwarded-Proto", "gopher"),
        ("X-Forwarded-Port", "1"),
        ("ExTrA-HeadErs", "With WeiRd CapS"),
        ("User-Agent", "test/echo"),
    ])
    for gone in ("connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
                 "proxy-authorization", "x-per-hop"):
        assert gone not in headers, (gone, headers)
    assert headers["extra-headers"] == "With WeiRd CapS"
    assert headers["user-agent"] == "test/echo" and headers["content-length"] == "2"
    # The front end's own view of the connection, not what the caller claimed.
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-port"] == str(port)
    # What requests sends by default (Connection: keep-alive) never shows either.
    r = post(url, "/event")
    event = json.loads(r.text)
    assert "connection" not in event["headers"]
    assert {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-port"} <= set(event["headers"])


def test_deleted_alias_and_unknown_urls_answer_403_as_aws(lam, public_url):
    name, url = public_url("live")
    assert post(url, "/string").status_code == 200
    assert lam.delete_alias(FunctionName=name, Name="live")[
        "ResponseMetadata"]["HTTPStatusCode"] == 204
    r = post(url, "/string")
    assert r.status_code == 403
    assert r.json() == {"Message": FORBIDDEN}
    assert r.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert r.headers["Content-Type"] == "application/json"
    # An alias of the same name made again gets a URL of its own; the old one stays refused.
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    fresh = lam.create_function_url_config(FunctionName=name, Qualifier="live",
                                           AuthType="NONE")["FunctionUrl"]
    assert fresh != url and post(url, "/string").status_code == 403
    # No URL has this id at all.
    _, port = url_parts(url)
    r = requests.get(f"http://127.0.0.1:{port}/",
                     headers={"Host": f"{'0' * 32}.lambda-url.{REGION}.localhost:{port}"},
                     timeout=30)
    assert r.status_code == 403 and r.text == '{"Message":null}'
    assert r.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert r.headers["Content-Type"] == "application/json"
