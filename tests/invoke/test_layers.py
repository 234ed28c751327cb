"""Functions that use layers (issue 15): `/opt` is the function's layers merged in order,
read-only, and the runtimes find what the layers put there (Python's `/opt/python`, Node's
`/opt/nodejs/node_modules`, a custom runtime's `/opt/bootstrap`, an exec wrapper in `/opt`,
`/opt/bin` on PATH, `/opt/lib` on LD_LIBRARY_PATH)."""

import pytest

from .invoke_support import (ROLE, invoke, make_zip, report_fields, rust_bootstrap_zip,
                             unique, wait_active)

PY_LAYER_USER = """
import layer_module

def handler(event, context):
    return {"value": layer_module.VALUE, "file": layer_module.__file__}
"""


@pytest.fixture
def layer(lam):
    """Publishes layers for one test (`layer(files) -> version ARN`), deleted afterwards."""
    made = []

    def publish(files, name=None, **kw):
        name = name or unique("layer")
        out = lam.publish_layer_version(LayerName=name, Content={"ZipFile": make_zip(files)},
                                        **kw)
        made.append((name, out["Version"]))
        return out["LayerVersionArn"]

    yield publish
    for name, version in made:
        try:
            lam.delete_layer_version(LayerName=name, VersionNumber=version)
        except Exception:
            pass


def test_python_imports_a_module_only_its_layer_has(lam, fn, layer):
    arn = layer({"python/layer_module.py": "VALUE = 'from the layer'\n"})
    name = fn("py-layer", {"index.py": PY_LAYER_USER}, Layers=[arn])
    r = invoke(lam, name, {}, LogType="Tail")
    assert r.function_error is None, r
    assert r.json == {"value": "from the layer", "file": "/opt/python/layer_module.py"}
    # The site-packages form of the layer is on sys.path too.
    arn2 = layer({"python/lib/python3.11/site-packages/layer_module.py": "VALUE = 'site'\n"})
    name2 = fn("py-layer-site", {"index.py": PY_LAYER_USER}, Layers=[arn2])
    r = invoke(lam, name2, {})
    assert r.json["value"] == "site", r


def test_node_requires_a_package_from_the_layer(lam, fn, layer):
    arn = layer({
        "nodejs/node_modules/layered-pkg/package.json":
            '{"name": "layered-pkg", "version": "1.0.0", "main": "index.js"}',
        "nodejs/node_modules/layered-pkg/index.js": "exports.hello = () => 'hi from /opt';\n",
    })
    code = ("const pkg = require('layered-pkg');\n"
            "exports.handler = async () => ({ hello: pkg.hello(),"
            " path: require.resolve('layered-pkg') });\n")
    name = fn("node-layer", {"index.js": code}, runtime="nodejs20.x", Layers=[arn])
    r = invoke(lam, name, {})
    assert r.function_error is None, r
    assert r.json == {"hello": "hi from /opt",
                      "path": "/opt/nodejs/node_modules/layered-pkg/index.js"}


def test_a_custom_runtime_published_as_a_layer_runs_from_opt_bootstrap(lam, fn, layer):
    runtime = layer({"bootstrap": (rust_zip_bytes("echo"), 0o755)},
                    CompatibleRuntimes=["provided.al2023"])
    name = fn("opt-bootstrap", {"handler.txt": "the function's own files"},
              runtime="provided.al2023", handler="x", Layers=[runtime])
    r = invoke(lam, name, {"via": "layer"})
    assert r.function_error is None, r
    assert r.json["event"] == {"via": "layer"}


def rust_zip_bytes(binary):
    """The stripped Rust test function `binary` (its `bootstrap` from the zip the custom
    runtime tests use)."""
    import io
    import zipfile
    with zipfile.ZipFile(io.BytesIO(rust_bootstrap_zip(binary))) as z:
        return z.read("bootstrap")


def test_an_exec_wrapper_in_a_layer_wraps_the_runtime(lam, fn, layer):
    wrapper = "#!/bin/sh\nexport WRAPPED_BY=opt-wrapper\nexec \"$@\"\n"
    arn = layer({"wrapper.sh": (wrapper, 0o755)})
    code = ("import os\n"
            "def handler(event, context):\n"
            "    return {'wrapped': os.environ.get('WRAPPED_BY')}\n")
    name = fn("opt-wrapper", {"index.py": code}, Layers=[arn],
              Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/wrapper.sh"}})
    r = invoke(lam, name, {})
    assert r.function_error is None, r
    assert r.json == {"wrapped": "opt-wrapper"}


OPT_PROBE = """
import os, subprocess

def handler(event, context):
    def read(path):
        try:
            with open(path) as f:
                return f.read()
        except OSError as e:
            return type(e).__name__
    try:
        with open("/opt/python/shared.py", "a") as f:
            f.write("x")
        writable = True
    except OSError:
        writable = False
    try:
        tool = subprocess.run(["layer-tool"], capture_output=True, text=True).stdout
    except FileNotFoundError:
        tool = "not on PATH"
    return {
        "shared": read("/opt/python/shared.py"),
        "first": read("/opt/python/first.py"),
        "second": read("/opt/python/second.py"),
        "writable": writable,
        "tool": tool,
        "path": os.environ["PATH"],
        "ld": os.environ["LD_LIBRARY_PATH"],
    }
"""


def test_later_layers_win_and_opt_is_read_only(lam, fn, layer):
    first = layer({"python/shared.py": "first", "python/first.py": "1",
                   "bin/layer-tool": ("#!/bin/sh\necho first-tool\n", 0o755)})
    second = layer({"python/shared.py": "second", "python/second.py": "2",
                    "bin/layer-tool": ("#!/bin/sh\necho second-tool\n", 0o755)})
    name = fn("layer-order", {"index.py": OPT_PROBE}, Layers=[first, second])
    out = invoke(lam, name, {}).json
    assert (out["shared"], out["first"], out["second"]) == ("second", "1", "2"), out
    assert out["tool"] == "second-tool\n", out
    assert out["writable"] is False
    assert "/opt/bin" in out["path"].split(":"), out
    assert "/opt/lib" in out["ld"].split(":"), out
    # The other order, set wholesale: the other layer wins.
    lam.update_function_configuration(FunctionName=name, Layers=[second, first])
    wait_active(lam, name)
    out = invoke(lam, name, {}).json
    assert (out["shared"], out["tool"]) == ("first", "first-tool\n"), out
    # No layers: /opt is empty.
    lam.update_function_configuration(FunctionName=name, Layers=[])
    wait_active(lam, name)
    out = invoke(lam, name, {}).json
    assert out["shared"] == "FileNotFoundError" and out["tool"] == "not on PATH", out


def test_a_deleted_layer_version_keeps_running_in_its_functions(lam, fn, make_server):
    # A private server: its data dir shows the cold start really starts from the blobs.
    s = make_server()
    c = s.client()
    lname = unique("layer")
    c.publish_layer_version(LayerName=lname, Content={"ZipFile": make_zip(
        {"python/layer_module.py": "VALUE = 'kept'\n"})})
    arn = c.get_layer_version(LayerName=lname, VersionNumber=1)["LayerVersionArn"]
    name = unique("deleted-layer")
    c.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE,
                      Handler="index.handler",
                      Code={"ZipFile": make_zip({"index.py": PY_LAYER_USER})}, Layers=[arn])
    wait_active(c, name)
    assert invoke(c, name, {}).json["value"] == "kept"
    c.delete_layer_version(LayerName=lname, VersionNumber=1)
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_layer_version(LayerName=lname, VersionNumber=1)
    # Warm, then cold: a new revision drains the warm environment, and a restart drops the
    # extraction caches' in-memory state too.
    assert invoke(c, name, {}).json["value"] == "kept"
    c.update_function_configuration(FunctionName=name, MemorySize=192)
    wait_active(c, name)
    r = invoke(c, name, {}, LogType="Tail")
    assert r.json["value"] == "kept", r
    assert "Init Duration" in report_fields(r.log)
    s.stop()
    s.start()
    c = s.client()
    r = invoke(c, name, {}, LogType="Tail")
    assert r.json["value"] == "kept", r
    assert c.get_function_configuration(FunctionName=name)["Layers"][0]["Arn"] == arn


def test_published_versions_keep_their_layers(lam, fn, layer):
    old = layer({"python/layer_module.py": "VALUE = 'old'\n"})
    new = layer({"python/layer_module.py": "VALUE = 'new'\n"})
    name = fn("pinned", {"index.py": PY_LAYER_USER}, Layers=[old])
    lam.publish_version(FunctionName=name)
    lam.update_function_configuration(FunctionName=name, Layers=[new])
    wait_active(lam, name)
    assert invoke(lam, name, {}, Qualifier="1").json["value"] == "old"
    assert invoke(lam, name, {}).json["value"] == "new"



PRESTART_PROBE = """
import layer_module

def handler(event, context):
    with open("/proc/self/environ", "rb") as f:
        prestarted = f.read().endswith(b"\\0\\0")
    return {"value": layer_module.VALUE, "prestarted": prestarted}
"""


def test_pre_started_runtimes_get_the_layers_at_their_claim(make_server):
    from .test_prestart import await_prespawned
    from .invoke_support import PY_ECHO, create_function
    s = make_server()
    c = s.client()
    # A first Python cold start teaches flint the shape; its refill pre-starts a runtime.
    teacher = unique("teacher")
    create_function(c, teacher, {"index.py": PY_ECHO})
    assert invoke(c, teacher, {"a": 1}).json == {"a": 1}
    await_prespawned(s)
    lname = unique("layer")
    arn = c.publish_layer_version(LayerName=lname, Content={"ZipFile": make_zip(
        {"python/layer_module.py": "VALUE = 'claimed'\n"})})["LayerVersionArn"]
    name = unique("prestarted-layer")
    create_function(c, name, {"index.py": PRESTART_PROBE}, Layers=[arn])
    r = invoke(c, name, {})
    assert r.function_error is None, r
    assert r.json == {"value": "claimed", "prestarted": True}, r


NODE_PROBE = """
const fs = require('fs');
exports.handler = async () => ({
    hello: require('layered-pkg').hello(),
    prestarted: fs.readFileSync('/proc/self/environ').subarray(-2).equals(Buffer.from([0, 0])),
});
"""


def test_pre_started_node_runtimes_get_the_layers_at_their_claim(make_server):
    from .test_prestart import await_prespawned
    from .invoke_support import create_function
    s = make_server()
    c = s.client()
    teacher = unique("teacher")
    create_function(c, teacher, {"index.js": "exports.handler = async (e) => e;\n"},
                    runtime="nodejs20.x")
    assert invoke(c, teacher, {"a": 1}).json == {"a": 1}
    await_prespawned(s)
    arn = c.publish_layer_version(LayerName=unique("layer"), Content={"ZipFile": make_zip({
        "nodejs/node_modules/layered-pkg/index.js": "exports.hello = () => 'claimed';\n",
    })})["LayerVersionArn"]
    name = unique("prestarted-node-layer")
    create_function(c, name, {"index.js": NODE_PROBE}, runtime="nodejs20.x", Layers=[arn])
    r = invoke(c, name, {})
    assert r.function_error is None, r
    assert r.json == {"hello": "claimed", "prestarted": True}, r


def test_one_merged_opt_per_layer_set_shared_by_every_function(make_server):
    import os
    s = make_server()
    c = s.client()
    arns = []
    for i in range(3):
        out = c.publish_layer_version(LayerName=unique("layer"), Content={"ZipFile": make_zip(
            {f"python/m{i}.py": f"N = {i}\n"})})
        arns.append(out["LayerVersionArn"])
    code = ("import m0, m1, m2\n"
            "def handler(event, context):\n"
            "    return [m0.N, m1.N, m2.N]\n")
    names = []
    for _ in range(2):
        name = unique("shared-opt")
        c.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE,
                          Handler="index.handler",
                          Code={"ZipFile": make_zip({"index.py": code})}, Layers=arns)
        wait_active(c, name)
        names.append(name)
    for name in names:
        assert invoke(c, name, {}).json == [0, 1, 2]
    # One tree for the set, built at the first cold start and used by both functions.
    merged = os.listdir(os.path.join(s.data_dir, "invoke", "layers"))
    assert len(merged) == 1 and not merged[0].startswith("."), merged


def test_the_unisolated_mode_gives_functions_their_layers_too(make_server):
    s = make_server(extra_args=["--unisolated"], extra_env={"FLINT_TEST_NO_ISOLATION": "1"})
    c = s.client()
    arn = c.publish_layer_version(LayerName=unique("layer"), Content={"ZipFile": make_zip({
        "python/layer_module.py": "VALUE = 'host layer'\n",
        "nodejs/node_modules/layered-pkg/index.js": "exports.hello = () => 'host layer';\n",
    })})["LayerVersionArn"]
    from .invoke_support import create_function
    py = unique("plain-py-layer")
    code = PY_LAYER_USER + "\nimport os\nFLINT_VAR = os.environ.get('_FLINT_OPT_DIR')\n"
    code = code.replace('"file": layer_module.__file__}',
                        '"file": layer_module.__file__, "var": FLINT_VAR}')
    create_function(c, py, {"index.py": code}, Layers=[arn])
    r = invoke(c, py, {})
    assert r.function_error is None, r
    out = r.json
    assert out["value"] == "host layer", out
    # The layers' host directory, and the variable that said so is not the function's.
    assert out["file"].startswith(s.data_dir) and out["var"] is None, out
    node = unique("plain-node-layer")
    create_function(c, node, {"index.js": "exports.handler = async () => "
                                          "require('layered-pkg').hello();\n"},
                    runtime="nodejs20.x", Layers=[arn])
    assert invoke(c, node, {}).json == "host layer"
