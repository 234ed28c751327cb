"""Lambda extensions (Extensions API 2020-01-01) through boto3.

Internal extensions: a thread of the function's own process registers at
AWS_LAMBDA_RUNTIME_API during init, as OpenTelemetry-style agents do. External extensions
need /opt/extensions from layers (not on this branch yet).
"""

from .invoke_support import invoke, report_fields

INTERNAL_EXT_FN = r'''
import json, os, threading, time, urllib.request

BASE = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
POST_WORK_S = float(os.environ.get("POST_WORK_S", "0"))

def call(method, path, ext_id=None, body=None, headers=None):
    h = dict(headers or {})
    if ext_id:
        h["Lambda-Extension-Identifier"] = ext_id
    req = urllib.request.Request(BASE + path, data=body, headers=h, method=method)
    with urllib.request.urlopen(req) as r:
        return r.headers, json.loads(r.read() or b"null")

hdrs, info = call("POST", "/register", body=b'{"events":["INVOKE"]}',
                  headers={"Lambda-Extension-Name": "py-agent"})
EXT_ID = hdrs["Lambda-Extension-Identifier"]
print("registered", json.dumps(info), flush=True)

def loop():
    while True:
        _, ev = call("GET", "/event/next", EXT_ID)
        print("agent got", ev["eventType"], ev["requestId"], flush=True)
        time.sleep(POST_WORK_S)
        print("agent done", ev["requestId"], flush=True)

threading.Thread(target=loop, daemon=True).start()

def handler(event, context):
    return {"request_id": context.aws_request_id}
'''


def test_internal_extension_gets_every_invoke_and_is_logged(lam, fn):
    name = fn("ext-internal", {"index.py": INTERNAL_EXT_FN}, Timeout=10)
    r = invoke(lam, name, {}, LogType="Tail")
    assert r.status == 200 and r.function_error is None, r
    rid = r.json["request_id"]
    lines = r.log.splitlines()
    assert "EXTENSION\tName: py-agent\tState: Ready\tEvents: [INVOKE]" in lines, r.log
    registered = [l for l in lines if l.startswith("registered ")]
    assert registered and '"functionName": "%s"' % name in registered[0], r.log
    assert f"agent got INVOKE {rid}" in r.log, r.log
    r2 = invoke(lam, name, {}, LogType="Tail")
    assert r2.status == 200, r2
    assert f"agent got INVOKE {r2.json['request_id']}" in r2.log, r2.log
    assert "EXTENSION\t" not in r2.log, "EXTENSION lines belong to init only"


def test_post_response_extension_work_counts_in_duration(lam, fn):
    name = fn("ext-postwork", {"index.py": INTERNAL_EXT_FN}, Timeout=10,
              Environment={"Variables": {"POST_WORK_S": "0.5"}})
    for _ in range(2):
        r = invoke(lam, name, {}, LogType="Tail")
        assert r.status == 200 and r.function_error is None, r
        rid = r.json["request_id"]
        # the environment is reused only after the extension finished (called next again)
        assert f"agent done {rid}" in r.log, r.log
        assert float(report_fields(r.log)["Duration"].removesuffix(" ms")) >= 500, r.log


AGENT = r'''
import json, os, sys, urllib.request

BASE = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
req = urllib.request.Request(BASE + "/register", data=b'{"events":["INVOKE"]}', method="POST",
                             headers={"Lambda-Extension-Name": "wrapper-agent"})
with urllib.request.urlopen(req) as r:
    ext_id = r.headers["Lambda-Extension-Identifier"]
open(sys.argv[1], "w").close()  # tells the wrapper to start the runtime
while True:
    req = urllib.request.Request(BASE + "/event/next", headers={"Lambda-Extension-Identifier": ext_id})
    with urllib.request.urlopen(req) as r:
        print("wrapper-agent saw", json.loads(r.read())["requestId"], flush=True)
'''

# The pattern of agents shipped as wrapper scripts: start the agent, wait until it
# registered, then exec the runtime.
AGENT_WRAPPER = r'''#!/bin/sh
flag=/tmp/agent-registered.$$
python3 /var/task/agent.py "$flag" &
while [ ! -e "$flag" ]; do sleep 0.01; done
exec "$@"
'''


def test_internal_extension_started_by_an_exec_wrapper(lam, fn):
    files = {"index.py": "def handler(e, c):\n    return c.aws_request_id\n",
             "agent.py": AGENT, "wrapper.sh": AGENT_WRAPPER}
    name = fn("ext-wrapper", files, Timeout=10,
              Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/wrapper.sh"}})
    r = invoke(lam, name, {}, LogType="Tail")
    assert r.status == 200 and r.function_error is None, r
    assert "EXTENSION\tName: wrapper-agent\tState: Ready\tEvents: [INVOKE]" in r.log.splitlines(), r.log
    assert f"wrapper-agent saw {r.json}" in r.log, r.log


def test_extension_work_past_the_deadline_times_the_invocation_out(lam, fn):
    # The function timeout covers the runtime and the extensions (lambda-facts §4.1).
    name = fn("ext-late", {"index.py": INTERNAL_EXT_FN}, Timeout=1,
              Environment={"Variables": {"POST_WORK_S": "3"}})
    r = invoke(lam, name, {}, LogType="Tail")
    assert r.function_error == "Unhandled", r
    assert report_fields(r.log).get("Status") == "timeout", r.log
    # a fresh environment serves the next call (and times out the same way)
    r = invoke(lam, name, {}, LogType="Tail")
    assert report_fields(r.log).get("Status") == "timeout", r.log
