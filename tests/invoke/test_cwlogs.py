"""The CloudWatch Logs API on flint's endpoint (docs/logs.md): boto3's `logs` client and the
AWS CLI v1 read the logs of functions that really ran — log groups `/aws/lambda/<fn>`, a stream
per execution environment named as Lambda names them, START/printed/END/REPORT in order,
FilterLogEvents with each filter-pattern kind, paging, retention and deletes, CloudWatch's
errors."""

import concurrent.futures
import json
import os
import re
import subprocess
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .invoke_support import DUMMY_CREDS, PY_ECHO, REGION, create_function, flint_bin, invoke, unique

STREAM = re.compile(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$")

PY = """
import json, time
def handler(event, context):
    print("plain line", event.get("n"))
    print(json.dumps({"level": event.get("level", "INFO"), "latency": event.get("latency", 0),
                      "n": event.get("n")}))
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return event.get("n")
"""


def logs_client(server):
    return boto3.client(
        "logs",
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=DUMMY_CREDS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDS["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


@pytest.fixture
def logs(server):
    return logs_client(server)


def run(lam, name, events):
    ids = []
    for e in events:
        r = invoke(lam, name, e)
        assert r.function_error is None, r
        ids.append(r.raw["ResponseMetadata"]["RequestId"])
    return ids


def two_environments(lam, name):
    """Two concurrent invocations: two execution environments, two streams."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda n: invoke(lam, name, {"n": n, "sleep": 1.5}), [100, 101]))


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response


def test_groups_streams_and_events_in_order(lam, fn, logs):
    name = fn("cwl", {"index.py": PY})
    ids = run(lam, name, [{"n": i} for i in range(3)])
    group = f"/aws/lambda/{name}"

    groups = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [group]
    assert groups[0]["arn"].endswith(f":log-group:{group}:*")
    assert isinstance(groups[0]["creationTime"], int)
    assert "retentionInDays" not in groups[0]

    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert len(streams) == 1, streams
    s = streams[0]
    assert STREAM.match(s["logStreamName"]), s
    assert s["firstEventTimestamp"] <= s["lastEventTimestamp"]

    out = logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"],
                              startFromHead=True)
    msgs = [e["message"] for e in out["events"]]
    for e in out["events"]:
        assert e["message"].endswith("\n")
        assert abs(e["timestamp"] - time.time() * 1000) < 120_000
        assert e["ingestionTime"] >= e["timestamp"]
    stamps = [e["timestamp"] for e in out["events"]]
    assert stamps == sorted(stamps)
    # Each invocation: START, its two printed lines, END, REPORT, in that order.
    for i, rid in enumerate(ids):
        start = msgs.index(f"START RequestId: {rid} Version: $LATEST\n")
        assert msgs[start + 1] == f"plain line {i}\n"
        assert json.loads(msgs[start + 2])["n"] == i
        assert msgs[start + 3] == f"END RequestId: {rid}\n"
        assert msgs[start + 4].startswith(f"REPORT RequestId: {rid}\tDuration: ")
    # At the end the forward token comes back unchanged: no more events.
    again = logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"],
                                nextToken=out["nextForwardToken"])
    assert again["events"] == []
    assert again["nextForwardToken"] == out["nextForwardToken"]


def test_get_log_events_pages_both_ways(lam, fn, logs):
    name = fn("cwlpage", {"index.py": PY})
    run(lam, name, [{"n": i} for i in range(4)])
    group = f"/aws/lambda/{name}"
    stream = logs.describe_log_streams(logGroupName=group)["logStreams"][0]["logStreamName"]
    whole = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    total = [e["message"] for e in whole["events"]]
    assert len(total) >= 20
    # Without startFromHead: the newest events; backwards from there the earlier ones.
    last = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=3)
    assert [e["message"] for e in last["events"]] == total[-3:]
    before = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=3,
                                 nextToken=last["nextBackwardToken"])
    assert [e["message"] for e in before["events"]] == total[-6:-3]
    # Forwards from the head, page by page, gives every event once.
    seen, token = [], None
    while True:
        kw = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=7, **kw)
        seen += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == token:
            break
        token = page["nextForwardToken"]
    assert seen == total
    # startTime/endTime select by timestamp (endTime exclusive).
    t0 = whole["events"][0]["timestamp"]
    none = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True,
                               endTime=t0)
    assert none["events"] == []


def test_filter_patterns(lam, fn, logs):
    name = fn("cwlfilter", {"index.py": PY})
    run(lam, name, [{"n": 1, "level": "ERROR", "latency": 150},
                    {"n": 2, "level": "INFO", "latency": 50},
                    {"n": 3, "level": "WARN", "latency": 300}])
    group = f"/aws/lambda/{name}"

    def msgs(pattern, **kw):
        r = logs.filter_log_events(logGroupName=group, filterPattern=pattern, **kw)
        for e in r["events"]:
            assert STREAM.match(e["logStreamName"]) and e["eventId"] and e["ingestionTime"]
        return [e["message"] for e in r["events"]]

    assert len(msgs("START")) == 3
    assert msgs("plain 2") == ["plain line 2\n"]  # every term occurs, anywhere
    assert msgs("plain 7") == []
    assert msgs("\"plain line 2\"") == ["plain line 2\n"]
    assert len(msgs("?START ?END")) == 6
    assert len(msgs("RequestId -REPORT")) == 6
    assert len(msgs("start")) == 0  # case-sensitive
    assert [json.loads(m)["n"] for m in msgs('{ $.level = "ERROR" }')] == [1]
    assert [json.loads(m)["n"] for m in msgs("{ $.latency > 100 }")] == [1, 3]
    assert [json.loads(m)["n"] for m in msgs('{ $.latency > 100 && $.level = "W*" }')] == [3]
    assert [json.loads(m)["n"] for m in msgs('{ $.level = "INFO" || $.latency >= 300 }')] == [2, 3]
    assert msgs("[w1, w2, n>=2]") == ["plain line 2\n", "plain line 3\n"]
    assert msgs("[first=END, ...]") == msgs("END")
    everything = msgs("")
    assert len(everything) == 15

    err = error_of(lambda: logs.filter_log_events(logGroupName=group, filterPattern="{ $.a = "))
    assert err["Error"]["Code"] == "InvalidParameterException"
    assert err["Error"]["Message"] == "Invalid filter pattern"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_filter_paging_and_streams(lam, fn, logs):
    name = fn("cwlstreams", {"index.py": PY})
    two_environments(lam, name)
    group = f"/aws/lambda/{name}"
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    names = [s["logStreamName"] for s in streams]
    assert len(names) == 2 and names == sorted(names)
    desc = logs.describe_log_streams(logGroupName=group, descending=True)["logStreams"]
    assert [s["logStreamName"] for s in desc] == names[::-1]
    by_time = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime")["logStreams"]
    assert sorted(s["logStreamName"] for s in by_time) == names
    one = logs.describe_log_streams(logGroupName=group, limit=1)
    assert [s["logStreamName"] for s in one["logStreams"]] == names[:1]
    rest = logs.describe_log_streams(logGroupName=group, limit=1, nextToken=one["nextToken"])
    assert [s["logStreamName"] for s in rest["logStreams"]] == names[1:]
    assert "nextToken" not in rest
    err = error_of(lambda: logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime",
                                                     logStreamNamePrefix="2"))
    assert err["Error"]["Code"] == "InvalidParameterException"

    only = logs.filter_log_events(logGroupName=group, logStreamNames=[names[0]])["events"]
    assert only and {e["logStreamName"] for e in only} == {names[0]}
    both = logs.filter_log_events(logGroupName=group, logStreamNamePrefix=names[0][:11])["events"]
    assert {e["logStreamName"] for e in both} == set(names)

    # The paginator follows nextToken: pages of 3 give every event exactly once.
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, PaginationConfig={"PageSize": 3})
    paged = [e["eventId"] for p in pages for e in p["events"]]
    assert len(paged) == len(both) == len(set(paged))


def test_retention_and_deletes(lam, fn, logs):
    name = fn("cwlret", {"index.py": PY})
    two_environments(lam, name)
    group = f"/aws/lambda/{name}"
    logs.put_retention_policy(logGroupName=group, retentionInDays=7)
    g = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    assert g["retentionInDays"] == 7
    err = error_of(lambda: logs.put_retention_policy(logGroupName=group, retentionInDays=2))
    assert err["Error"]["Code"] == "InvalidParameterException"
    logs.delete_retention_policy(logGroupName=group)
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]

    streams = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]]
    logs.delete_log_stream(logGroupName=group, logStreamName=streams[0])
    left = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]]
    assert left == streams[1:]
    err = error_of(lambda: logs.get_log_events(logGroupName=group, logStreamName=streams[0]))
    assert err["Error"]["Code"] == "ResourceNotFoundException"
    assert err["Error"]["Message"] == "The specified log stream does not exist."

    logs.delete_log_group(logGroupName=group)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    err = error_of(lambda: logs.filter_log_events(logGroupName=group))
    assert err["Error"]["Code"] == "ResourceNotFoundException"
    assert err["Error"]["Message"] == "The specified log group does not exist."
    # The function keeps running and logging into a new group.
    run(lam, name, [{"n": 9}])
    assert any(m["message"] == "plain line 9\n"
               for m in logs.filter_log_events(logGroupName=group)["events"])


def test_unknown_groups_and_streams(lam, fn, logs):
    for call in (lambda: logs.describe_log_streams(logGroupName="/aws/lambda/no-such-fn"),
                 lambda: logs.filter_log_events(logGroupName="/not/lambda"),
                 lambda: logs.delete_log_group(logGroupName="/aws/lambda/no-such-fn")):
        err = error_of(call)
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert err["Error"] == {"Code": "ResourceNotFoundException",
                                "Message": "The specified log group does not exist."}
    name = fn("cwlnostream", {"index.py": PY})
    run(lam, name, [{"n": 1}])
    err = error_of(lambda: logs.get_log_events(logGroupName=f"/aws/lambda/{name}",
                                               logStreamName="2026/01/01/[$LATEST]nope"))
    assert err["Error"]["Code"] == "ResourceNotFoundException"


def test_aws_cli_v1(lam, fn, server):
    name = fn("cwlcli", {"index.py": PY})
    ids = run(lam, name, [{"n": 1, "level": "ERROR"}, {"n": 2}])
    group = f"/aws/lambda/{name}"
    env = dict(os.environ, **DUMMY_CREDS, AWS_DEFAULT_REGION=REGION)

    def aws(*args):
        out = subprocess.run(["aws", "logs", *args, "--endpoint-url", server.endpoint,
                              "--output", "json"], env=env, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    hits = aws("filter-log-events", "--log-group-name", group,
               "--filter-pattern", '{ $.level = "ERROR" }')["events"]
    assert [json.loads(e["message"])["n"] for e in hits] == [1]
    stream = aws("describe-log-streams", "--log-group-name", group)["logStreams"][0]["logStreamName"]
    events = aws("get-log-events", "--log-group-name", group, "--log-stream-name", stream,
                 "--start-from-head")["events"]
    assert events[0]["message"] == f"START RequestId: {ids[0]} Version: $LATEST\n"
    assert events[-1]["message"].startswith(f"REPORT RequestId: {ids[1]}\t")


def test_sigv4_logs_scope(make_server):
    """With --auth sigv4 the SDK signs CloudWatch Logs calls for the service `logs`: they pass
    with one of flint's keys and are refused without a valid one."""
    server = make_server(extra_args=["--auth", "sigv4"])
    out = subprocess.run([flint_bin(), "keys", "create", "--data-dir", server.data_dir,
                          "--output", "json"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    key = json.loads(out.stdout)

    def client(service, secret):
        return boto3.client(service, endpoint_url=server.endpoint, region_name=REGION,
                            aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=secret,
                            config=Config(retries={"max_attempts": 1, "mode": "standard"}))

    lam = client("lambda", key["SecretAccessKey"])
    name = unique("cwlsig")
    create_function(lam, name, {"index.py": PY_ECHO})
    invoke(lam, name, {"x": 1})
    logs = client("logs", key["SecretAccessKey"])
    groups = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{name}")["logGroups"]
    assert [g["logGroupName"] for g in groups] == [f"/aws/lambda/{name}"]
    err = error_of(lambda: client("logs", "wrong" * 8).describe_log_groups())
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err["Error"]["Code"] == "InvalidSignatureException"


def test_logging_config_log_group(lam, fn, logs):
    """A function's `LoggingConfig.LogGroup` is its log group (several functions may share
    one); it then has no `/aws/lambda/<fn>` group."""
    group = f"/flint-test/{unique('shared')}"
    a = fn("cwlga", {"index.py": PY}, LoggingConfig={"LogFormat": "Text", "LogGroup": group})
    b = fn("cwlgb", {"index.py": PY}, LoggingConfig={"LogFormat": "Text", "LogGroup": group})
    ids = run(lam, a, [{"n": 1}]) + run(lam, b, [{"n": 2}])
    groups = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [group]
    starts = logs.filter_log_events(logGroupName=group, filterPattern="START")["events"]
    assert [e["message"] for e in starts] == [
        f"START RequestId: {rid} Version: $LATEST\n" for rid in ids]
    assert len({e["logStreamName"] for e in starts}) == 2
    err = error_of(lambda: logs.describe_log_streams(logGroupName=f"/aws/lambda/{a}"))
    assert err["Error"]["Code"] == "ResourceNotFoundException"


def test_start_live_tail(lam, fn, server):
    """StartLiveTail's event stream: sessionStart, then the lines stored after it began,
    filtered by the pattern (boto3 reads the stream). The SDKs put `stream-` before the
    endpoint's host for this operation; a loopback address has no such name, so the client
    is told not to (`inject_host_prefix=False`)."""
    logs = boto3.client(
        "logs", endpoint_url=server.endpoint, region_name=REGION,
        aws_access_key_id=DUMMY_CREDS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDS["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, inject_host_prefix=False))
    name = fn("cwltail", {"index.py": PY})
    run(lam, name, [{"n": 1}])  # before the session: never shown
    group = f"/aws/lambda/{name}"
    resp = logs.start_live_tail(logGroupIdentifiers=[group], logEventFilterPattern="plain")
    stream = iter(resp["responseStream"])
    first = next(stream)
    assert first["sessionStart"]["logGroupIdentifiers"] == [group]
    assert first["sessionStart"]["logEventFilterPattern"] == "plain"
    run(lam, name, [{"n": 2}, {"n": 3}])
    seen = []
    deadline = time.time() + 20
    for ev in stream:
        for r in ev["sessionUpdate"]["sessionResults"]:
            assert r["logGroupIdentifier"] == group and STREAM.match(r["logStreamName"])
            seen.append(r["message"])
        if len(seen) >= 2 or time.time() > deadline:
            break
    resp["responseStream"].close()
    assert seen == ["plain line 2\n", "plain line 3\n"]
    err = error_of(lambda: logs.start_live_tail(logGroupIdentifiers=["/aws/lambda/nope-x"]))
    assert err["Error"]["Code"] == "ResourceNotFoundException"
