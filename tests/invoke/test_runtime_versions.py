"""Each runtime id runs only on an interpreter of its own version (issue 13, "Each runtime id
runs on its own version"): flint says at start which ids this host can run and on what, every
id it claims runs on exactly that version, and every other one is refused with Lambda's
InvalidRuntimeException naming the missing interpreter, never run on a substitute."""

import re

import pytest
from botocore.exceptions import ClientError

from .invoke_support import host_has, invoke

PY_VERSION = "import sys\ndef handler(e, c):\n    return '%d.%d' % sys.version_info[:2]\n"
NODE_VERSION = "exports.handler = async () => process.versions.node.split('.')[0];\n"
PYTHON_IDS = [f"python3.{m}" for m in range(9, 15)]
NODE_IDS = [f"nodejs{m}.x" for m in (18, 20, 22, 24)]


def startup_line(server):
    lines = [x for x in server.log().splitlines() if "managed runtimes" in x]
    assert lines, server.log()[-3000:]
    return lines[0]


def claimed(server):
    """The ids flint says it can run, with the version it names, and those it says it cannot."""
    line = startup_line(server)
    can = dict(re.findall(r"(python3\.\d+|nodejs\d+\.x) on (?:Python|Node\.js) (\d+(?:\.\d+)?)", line))
    cannot = set(re.findall(r"(python3\.\d+|nodejs\d+\.x) \(no ", line))
    return line, can, cannot


def test_startup_line_names_every_runtime_id_and_tells_the_truth(server):
    line, can, cannot = claimed(server)
    assert set(can) | cannot == set(PYTHON_IDS + NODE_IDS), line
    assert not set(can) & cannot, line
    for runtime in PYTHON_IDS + NODE_IDS:
        assert (runtime in can) == host_has(runtime), (runtime, line)
    assert "provided" in line, line


@pytest.mark.parametrize("runtime", PYTHON_IDS + NODE_IDS)
def test_runtime_id_runs_on_its_version_or_is_refused(lam, fn, server, runtime):
    line, can, cannot = claimed(server)
    python = runtime.startswith("python")
    files = {"index.py": PY_VERSION} if python else {"index.js": NODE_VERSION}
    name = fn("rtver", files, runtime=runtime)
    want = runtime.removeprefix("python") if python else runtime.removeprefix("nodejs").removesuffix(".x")
    if runtime in can:
        r = invoke(lam, name, {})
        assert r.status == 200 and r.function_error is None, r
        assert r.json == want, (runtime, r.json)
        return
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=name, Payload=b"{}")
    err = e.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 502, err
    assert err["Error"]["Code"] == "InvalidRuntimeException", err
    language = "Python" if python else "Node.js"
    assert f"{runtime} requested, but this host has no {language} {want}" in err["Error"]["Message"], err
