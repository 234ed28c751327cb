#!/usr/bin/env python3
"""Writes the seed inputs of the zip_intake target into seeds/zip_intake/.

Seeds give libFuzzer valid structure to mutate from; each covers one shape real or hostile
packages have. Re-run after changing, commit the output (all files are tiny).
"""
import io
import os
import stat
import zipfile

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zip_intake")


def entry(name, mode, method=zipfile.ZIP_DEFLATED):
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.create_system = 3  # unix
    info.external_attr = mode << 16
    info.compress_type = method
    return info


def build(entries, method=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, mode, data in entries:
            z.writestr(entry(name, mode, method), data)
    return buf.getvalue()


def dos():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("README.TXT", date_time=(2024, 1, 1, 0, 0, 0))
        info.create_system = 0
        info.external_attr = 0x20
        z.writestr(info, b"hello from dos")
    return buf.getvalue()


F = stat.S_IFREG
D = stat.S_IFDIR
L = stat.S_IFLNK

SEEDS = {
    "empty.zip": build([]),
    "bootstrap.zip": build([("bootstrap", F | 0o755, b"#!/bin/sh\nexec ./handler\n")]),
    "python.zip": build(
        [
            ("lambda_function.py", F | 0o644, b"def lambda_handler(event, context):\n    return event\n"),
            ("pkg/", D | 0o755, b""),
            ("pkg/__init__.py", F | 0o644, b""),
            ("pkg/mod.py", F | 0o644, b"X = 1\n" * 20),
        ]
    ),
    "node_links.zip": build(
        [
            ("index.js", F | 0o644, b"exports.handler = async (e) => e;\n"),
            ("node_modules/typescript/bin/tsc", F | 0o755, b"#!/usr/bin/env node\n"),
            ("node_modules/.bin/tsc", L | 0o777, b"../typescript/bin/tsc"),
            ("node_modules/.bin/self", L | 0o777, b"."),
            ("lib", L | 0o777, b"node_modules/typescript"),
        ]
    ),
    "stored.zip": build(
        [("a.txt", F | 0o644, b"stored data"), ("d/", D | 0o700, b""), ("d/b", F | 0o600, b"x")],
        method=zipfile.ZIP_STORED,
    ),
    "link_chain.zip": build(
        [
            ("d/up", L | 0o777, b".."),
            ("d/file", F | 0o644, b"f"),
            ("e", L | 0o777, b"d/up/d/file"),
        ]
    ),
    "dos_attrs.zip": dos(),
    "escape_name.zip": build([("../evil", F | 0o644, b"x")]),
    "escape_link.zip": build([("l", L | 0o777, b"../../etc/passwd")]),
    "write_through_link.zip": build([("a", L | 0o777, b"/etc"), ("a/passwd", F | 0o644, b"x")]),
    "fifo.zip": build([("p", stat.S_IFIFO | 0o644, b"")]),
}


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {OUT}")
