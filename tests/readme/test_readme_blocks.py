"""How the README's blocks are read (no server needed)."""

import subprocess

from readme_blocks import comment_of, parse, script, shows

SAMPLE = """# Title

```sh
first && second   # run it
```

## A section

```sh
export A=1
alias x='echo'      # not a check

x "a # b" \\
   ${A#1}done   # prints: a # b done
# a comment line
cat f.json          # prints: {"a": [1, 2]}
```

<!-- readme-test: not run (it needs a network) -->
```sh
curl example.com
```
"""


def test_comments_start_at_a_word_outside_quotes():
    assert comment_of("echo '#x' \"#y\" ${v#p}") is None
    assert comment_of("echo a  # prints: b") == "prints: b"
    assert comment_of("# whole line") == "whole line"


def test_blocks_commands_and_expectations():
    blocks = parse(SAMPLE)
    assert [b.section for b in blocks] == ["Title", "A section", "A section"]
    assert [c.text for c in blocks[0].commands] == ["first && second   # run it"]
    cmds = blocks[1].commands
    assert [c.line for c in cmds] == [10, 11, 13, 16]
    assert cmds[2].text.endswith("${A#1}done   # prints: a # b done")
    assert [c.prints for c in cmds] == [None, None, "a # b done", '{"a": [1, 2]}']
    assert blocks[1].not_run is None
    assert blocks[2].not_run == "it needs a network"


def test_outputs_are_matched_folded_or_as_json():
    assert shows("x\n256\t 10\n", "256 10")
    assert not shows("2561", "256 1")
    assert shows('noise\n{"a":[1,2]}\n', '{"a": [1, 2]}')
    assert not shows('{"a": [2, 1]}', '{"a": [1, 2]}')


def test_the_script_keeps_shell_state_and_stops_at_a_failure(tmp_path):
    blocks = parse(SAMPLE)
    cmds = blocks[1].commands
    (tmp_path / "f.json").write_text('{"a": [1, 2]}\n')
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run(["bash", "-c", script(cmds, str(out))], cwd=tmp_path)
    assert done.returncode == 0
    assert (out / "2.out").read_text() == "a # b done\n"
    assert shows((out / "3.out").read_text(), cmds[3].prints)

    failing = parse("```sh\nfalse\necho never\n```\n")[0].commands
    out2 = tmp_path / "out2"
    out2.mkdir()
    done = subprocess.run(["bash", "-c", script(failing, str(out2))], cwd=tmp_path)
    assert done.returncode == 100
    assert (out2 / "0.rc").read_text().strip() == "1"
    assert not (out2 / "1.rc").exists()
