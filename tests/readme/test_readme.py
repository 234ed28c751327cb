"""The README, run as a newcomer runs it.

Its first command installs `flint` and starts `flint serve` with no flags in a
fresh directory; every other shell block then runs in order, in one shell, with
the tools it names (the AWS CLI, `flint`, curl), and each `# prints:` comment is
checked against what the command printed. The walkthroughs run again against
servers started from another directory with a relative `--data-dir`,
`FLINT_DATA_DIR`, `--config` file and `./flint.toml`: the state must land where
the relative path says, whatever directory the commands run in.

The README's commands use 127.0.0.1:9000 and :9001 as written, so this suite
needs those ports free, and root (flint sandboxes the functions it invokes).
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from readme_blocks import Block, Command, parse, script, shows

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
LISTENING = "flint listening on http://127.0.0.1:9000"
WALKTHROUGHS = ("A first function with the AWS CLI", "A function URL")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="runs functions through `flint serve`, which sandboxes them as root")


def blocks() -> list[Block]:
    return parse(README.read_text())


def first_command() -> tuple[str, str]:
    """The README's first command split at `&&`: the install, which runs in the
    checkout (its `--path` is relative to it), and `flint serve`, which runs
    in a fresh directory as a newcomer's would."""
    install, _, serve = blocks()[0].commands[0].text.partition(" && ")
    serve = serve.split(" #")[0].strip()
    return install.strip(), serve


def test_the_readme_starts_with_the_two_commands():
    first = blocks()[0]
    assert len(first.commands) == 2, [c.text for c in first.commands]
    install, serve = first_command()
    assert install.startswith("cargo install "), install
    assert serve == "flint serve", serve
    test_command = first.commands[1].text.split(" #")[0].strip()
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert f"exec {test_command}" in ci, f".ci/run must run the README's {test_command!r}"


def test_every_block_is_run_or_says_why_not():
    for b in blocks()[1:]:
        assert b.commands, f"README line {b.line}: an empty shell block"
        if b.not_run is not None:
            assert b.not_run.strip(), f"README line {b.line}: a block not run needs a reason"
    assert any(b.section in WALKTHROUGHS for b in blocks())


@pytest.fixture(scope="session")
def flint_bin_dir(tmp_path_factory) -> Path:
    """`flint` installed by the README's own install command, into a fresh
    install root standing for `~/.cargo/bin` (the developer's stays as it is)."""
    install, _ = first_command()
    root = tmp_path_factory.mktemp("cargo-root")
    env = dict(os.environ, CARGO_INSTALL_ROOT=str(root))
    done = subprocess.run(["bash", "-c", install], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=3600)
    assert done.returncode == 0, f"{install} failed:\n{done.stderr[-4000:]}"
    assert (root / "bin" / "flint").is_file()
    return root / "bin"


def user_env(bin_dir: Path, home: Path) -> dict[str, str]:
    """A newcomer's shell: `flint` and the AWS CLI on PATH, an empty home (no
    ~/.aws), none of the caller's AWS or flint settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FLINT_"))}
    home.mkdir(parents=True, exist_ok=True)
    env["HOME"] = str(home)
    env["PATH"] = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), env["PATH"]])
    return env


def ports_free():
    for port in (9000, 9001):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError as e:
                pytest.fail(f"127.0.0.1:{port} is in use ({e}); the README's commands use it: "
                            "stop whatever listens there")


class Server:
    """`flint serve` started by a command line, as typed into a shell."""

    def __init__(self, command: str, cwd: Path, env: dict[str, str]):
        ports_free()
        self.log_path = cwd.parent / f"{cwd.name}-serve.log"
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env,
                                     stdout=self.log_file, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while LISTENING not in self.log():
            if self.proc.poll() is not None:
                pytest.fail(f"{command!r} exited ({self.proc.returncode}):\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"{command!r} did not print {LISTENING!r}:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log_file.close()


def run_blocks(selected: list[Block], cwd: Path, env: dict[str, str], work: Path,
               server: Server) -> int:
    """Runs the blocks' commands in one shell in `cwd`; fails at the first
    command that fails or does not print what the README says. Returns how
    many outputs were checked."""
    commands: list[Command] = [c for b in selected for c in b.commands]
    out = work / "out"
    out.mkdir()
    path = work / "readme.sh"
    path.write_text(script(commands, str(out)))
    done = subprocess.run(["bash", str(path)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)
    checked = 0
    for n, c in enumerate(commands):
        where = f"README line {c.line}:\n{c.text}"
        rc_file = out / f"{n}.rc"
        if not rc_file.exists():
            pytest.fail(f"{where}\nnot reached (shell exit {done.returncode}):\n{done.stderr}")
        output = (out / f"{n}.out").read_text(errors="replace")
        rc = int(rc_file.read_text())
        context = f"--- output ---\n{output[-3000:]}\n--- server log ---\n{server.log()[-3000:]}"
        assert rc == 0, f"{where}\nexited {rc}\n{context}"
        if c.prints is not None:
            assert shows(output, c.prints), f"{where}\ndid not print {c.prints!r}\n{context}"
            checked += 1
    return checked


def test_the_readme_as_written(flint_bin_dir, tmp_path):
    """`flint serve` with no flags in a fresh directory, then every block."""
    _, serve = first_command()
    here = tmp_path / "newcomer"
    here.mkdir()
    env = user_env(flint_bin_dir, tmp_path / "home")
    runnable = [b for b in blocks()[1:] if b.not_run is None]
    server = Server(serve, here, env)
    try:
        checked = run_blocks(runnable, here, env, tmp_path, server)
    finally:
        server.stop()
    assert checked >= 10, f"only {checked} outputs checked"
    data = here / "flint-data"
    assert (data / "metadata.db").is_file(), sorted(p.name for p in here.iterdir())
    assert (data / "invoke").is_dir()


# Each: what is added to the README's `flint serve`, a settings file to write
# (path, text) relative to the server's directory, and where the data must go.
RELATIVE = {
    "data-dir flag": ("{serve} --data-dir state/flag", None, "state/flag"),
    "FLINT_DATA_DIR": ("FLINT_DATA_DIR=state/env {serve}", None, "state/env"),
    "--config file": ("{serve} --config conf/flint.toml",
                      ("conf/flint.toml", 'data_dir = "../state/toml"\n'), "state/toml"),
    "./flint.toml": ("{serve}", ("flint.toml", 'data_dir = "./toml-data"\n'), "toml-data"),
}


@pytest.mark.parametrize("variant", list(RELATIVE))
def test_walkthroughs_with_a_relative_data_dir(flint_bin_dir, tmp_path, variant):
    """The server starts in one directory with a relative data directory; the
    walkthroughs run in another."""
    command, settings, expected = RELATIVE[variant]
    _, serve = first_command()
    server_dir = tmp_path / "server"
    user_dir = tmp_path / "user"
    server_dir.mkdir()
    user_dir.mkdir()
    if settings:
        file = server_dir / settings[0]
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(settings[1])
    env = user_env(flint_bin_dir, tmp_path / "home")
    walkthroughs = [b for b in blocks() if b.section in WALKTHROUGHS and b.not_run is None]
    server = Server(command.format(serve=serve), server_dir, env)
    try:
        run_blocks(walkthroughs, user_dir, env, tmp_path, server)
    finally:
        server.stop()
    data = server_dir / expected
    assert (data / "metadata.db").is_file(), f"no data at {data}"
    assert (data / "invoke").is_dir()
    assert not (server_dir / "flint-data").exists()
    assert not (user_dir / "flint-data").exists()
