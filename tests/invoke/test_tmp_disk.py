"""/tmp is a disk of EphemeralStorage bytes, not memory (issue 13, "/tmp is not memory").

On Lambda a 128 MB function can fill its 512 MB /tmp (ENOSPC at the size, no OOM kill), and
REPORT's Max Memory Used does not count /tmp's files.
"""

import errno

from .invoke_support import invoke, report_fields

MIB = 1 << 20

FILL_TMP = r'''
import errno, os
def handler(event, context):
    chunk = b"\0" * (1 << 20)
    written, err = 0, None
    try:
        with open("/tmp/fill", "wb") as f:
            while written < (2 << 30):
                written += f.write(chunk)
                f.flush()
    except OSError as e:
        err = e.errno
    size = os.path.getsize("/tmp/fill")
    if event.get("remove"):
        os.remove("/tmp/fill")
    return {"size": size, "errno": err}
'''


def max_memory_used_mb(log):
    return int(report_fields(log)["Max Memory Used"].split()[0])


def test_a_128_mb_function_fills_its_512_mb_tmp_to_enospc_and_is_not_oom_killed(lam, fn):
    name = fn("tmp-fill-128", {"index.py": FILL_TMP}, MemorySize=128, Timeout=60)
    r = invoke(lam, name, {}, LogType="Tail")
    assert r.status == 200 and r.function_error is None, r
    out = r.json
    assert out["errno"] == errno.ENOSPC, out
    # The default EphemeralStorage, 512 MB, to within the file's last (partial) write.
    assert 511 * MIB <= out["size"] <= 512 * MIB, out
    used = max_memory_used_mb(r.log)
    assert used < 80, f"Max Memory Used counts /tmp: {used} MB\n{r.log}"
    # The environment survived: the next invocation is warm and still sees the file full.
    r2 = invoke(lam, name, {"remove": True}, LogType="Tail")
    assert r2.function_error is None, r2
    assert "Init Duration" not in r2.log, r2.log
    assert r2.json["errno"] == errno.ENOSPC, r2.json


def test_a_1_gb_function_filling_tmp_reports_max_memory_used_without_tmp(lam, fn):
    name = fn("tmp-fill-1g", {"index.py": FILL_TMP}, MemorySize=1024, Timeout=60,
              EphemeralStorage={"Size": 600})
    for remove in (False, True):
        r = invoke(lam, name, {"remove": remove}, LogType="Tail")
        assert r.status == 200 and r.function_error is None, r
        assert 599 * MIB <= r.json["size"] <= 600 * MIB, r.json
        used = max_memory_used_mb(r.log)
        assert used < 80, f"Max Memory Used counts /tmp: {used} MB\n{r.log}"
