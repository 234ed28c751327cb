"""The README's shell blocks as commands a test can run and check.

A block is a fenced ```sh block. Its commands are its lines, a line ending in
`\\` continuing on the next. A command's trailing comment `# prints: TEXT`
says what its output shows: the test checks that the output contains TEXT
(white space folded), or, when TEXT is JSON, that a line of the output is
that JSON value. A block right after `<!-- readme-test: not run (REASON) -->`
is not run; the reason is reported.
"""

import json
import re
from dataclasses import dataclass, field

NOT_RUN = re.compile(r"<!--\s*readme-test:\s*not run\s*\((?P<reason>.+)\)\s*-->")


@dataclass
class Command:
    text: str  # as written, continuation lines included
    line: int  # README line of its first physical line (1-based)
    prints: str | None = None


@dataclass
class Block:
    line: int
    section: str
    commands: list[Command] = field(default_factory=list)
    not_run: str | None = None  # the reason, when marked


def comment_of(line: str) -> str | None:
    """The comment of one shell line: from a `#` that starts a word outside
    quotes (`${x#y}` and `'#'` are not comments)."""
    quote = None
    prev = " "
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and prev.isspace():
            return line[i + 1:].strip()
        prev = ch
    return None


def expected_output(comment: str | None) -> str | None:
    if comment and comment.startswith("prints:"):
        return comment[len("prints:"):].strip()
    return None


def parse(readme: str) -> list[Block]:
    blocks: list[Block] = []
    section = ""
    lines = readme.splitlines()
    i = 0
    pending_not_run = None
    while i < len(lines):
        text = lines[i]
        if text.startswith("#"):
            section = text.lstrip("#").strip()
        marker = NOT_RUN.search(text)
        if marker:
            pending_not_run = marker.group("reason")
        if text.strip() == "```sh":
            block = Block(line=i + 1, section=section, not_run=pending_not_run)
            pending_not_run = None
            i += 1
            current: list[str] = []
            start = 0
            while i < len(lines) and lines[i].strip() != "```":
                physical = lines[i]
                if not current:
                    start = i + 1
                    if not physical.strip() or physical.lstrip().startswith("#"):
                        i += 1
                        continue
                current.append(physical)
                if not physical.rstrip().endswith("\\"):
                    block.commands.append(Command(
                        text="\n".join(current), line=start,
                        prints=expected_output(comment_of(physical))))
                    current = []
                i += 1
            if current:
                raise ValueError(f"README line {start}: a continued line ends the block")
            blocks.append(block)
        elif text.strip() and not marker:
            pending_not_run = None
        i += 1
    return blocks


def fold(text: str) -> str:
    return " ".join(text.split())


def shows(output: str, expected: str) -> bool:
    """Whether a command's output shows what its `prints:` comment says."""
    try:
        value = json.loads(expected)
    except ValueError:
        value = None
    if isinstance(value, (dict, list)):
        for line in output.splitlines():
            try:
                if json.loads(line) == value:
                    return True
            except ValueError:
                continue
        return False
    return fold(expected) in fold(output)


def script(commands: list[Command], out_dir: str) -> str:
    """A bash script that runs the commands in one shell (so `export`, `alias`
    and `cd` carry over, as in a terminal), each command's output and exit
    status kept in `out_dir/<n>.out` and `<n>.rc`; it stops at the first
    failure."""
    parts = [
        "set -uo pipefail",
        "shopt -s expand_aliases",
        "__run() {",
        # Locals with names no README command uses: the commands' own
        # assignments must stay global, as typed into a terminal.
        "  local __n=$1 __cmd __rc",
        "  __cmd=$(cat)",
        f"  eval \"$__cmd\" >'{out_dir}'/$__n.out 2>&1 </dev/null",
        "  __rc=$?",
        f"  echo $__rc >'{out_dir}'/$__n.rc",
        "  [ $__rc = 0 ] || exit 100",
        "}",
    ]
    for n, c in enumerate(commands):
        delimiter = f"__FLINT_README_{n}__"
        assert delimiter not in c.text
        parts += [f"__run {n} <<'{delimiter}'", c.text, delimiter]
    return "\n".join(parts) + "\n"
