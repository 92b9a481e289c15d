"""The real thing as a user runs it: run_demo.py, the server and the client as
processes, and the interactive client in a real terminal (tmux)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stuttgart_chat import Client, Server
from stuttgart_chat.client import Disconnected
from stuttgart_chat.client.events import ClientEvent
from stuttgart_chat.viz import compute_layout, load_logs

from .conftest import WAIT, wait_events

ROOT = Path(__file__).resolve().parent.parent
MakeClient = Callable[..., Client]


def env() -> dict[str, str]:
    variables = dict(os.environ)
    variables["PYTHONPATH"] = str(ROOT)
    variables["PYTHONUNBUFFERED"] = "1"
    return variables


def children_of(pid: int) -> set[int]:
    """Every descendant process of ``pid`` (from /proc)."""
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                kids = {int(k) for k in task.read_text().split()}
            except OSError:
                continue
            frontier.extend(kids - found)
            found |= kids
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def read_until(process: subprocess.Popen[str], pattern: str, timeout: float = WAIT) -> list[str]:
    """Lines of the process's stdout up to and including one matching ``pattern``."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    regex = re.compile(pattern)
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if regex.search(line):
            return lines
    raise AssertionError(f"no line matching /{pattern}/ in {lines}")


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in the repository, no input, output captured."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


# -- run_demo.py ---------------------------------------------------------------------


def test_scripted_demo_shows_a_held_reply() -> None:
    result = run_python("run_demo.py", "--mode", "script", "--delay-ms", "300")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "[Charlie]   ⏸ held: Bob#1 waits for Alice#1" in out
    assert "[Charlie]   ▶ released Bob#1" in out
    assert "Charlie delivered: Alice -> Bob" in out
    assert "Causal order held" in out
    # Every client prints with its prefix.
    for name in ("Alice", "Bob", "Charlie"):
        assert re.search(rf"^\[{name}\s*\] ", out, re.MULTILINE)


def test_recorded_demo_writes_logs_and_diagram(tmp_path: Path) -> None:
    record = tmp_path / "run"
    result = run_python("run_demo.py", "--record", str(record), "--delay-ms", "300")
    assert result.returncode == 0, result.stdout + result.stderr
    logs = sorted(record.glob("*.log"))
    assert [p.name for p in logs] == ["Alice.log", "Bob.log", "Charlie.log", "server.log"]
    assert f"Space-time diagram: {record / 'diagram.html'}" in result.stdout
    layout = compute_layout(load_logs(logs))
    assert set(layout.hosts) == {"Alice", "Bob", "Charlie", "@server"}
    # The story: Charlie held Bob's answer until Alice's question came.
    assert [(bar.host, bar.message, bar.waits) for bar in layout.held] == [
        ("Charlie", "Bob#1", ("Alice#1",))
    ]
    page = (record / "diagram.html").read_text(encoding="utf-8")
    assert "Bob#1 waits for Alice#1" in page and "http" not in page.replace(
        "http://www.w3.org/2000/svg", ""
    )


def test_demo_stops_everything_on_sigterm() -> None:
    demo = subprocess.Popen(
        # A long delay keeps the demo waiting with everything running.
        [sys.executable, "run_demo.py", "--mode", "script", "--delay-ms", "60000"],
        cwd=ROOT,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        read_until(demo, r"held: Bob#1 waits for Alice#1")
        started = children_of(demo.pid)
        assert len(started) >= 4, "server and three clients"
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=WAIT)
        deadline = time.monotonic() + WAIT
        while any(alive(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in started if alive(pid)], "stray processes"
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()


# -- the command line ------------------------------------------------------------------


@pytest.fixture
def server_process() -> Iterator[tuple[subprocess.Popen[str], int]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "stuttgart_chat", "server", "--port", "0"],
        cwd=ROOT,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = read_until(process, r"listening on")[-1]
        port = int(line.rsplit(":", 1)[1])
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_server_process_stops_cleanly_on_sigterm(
    server_process: tuple[subprocess.Popen[str], int], make_client: MakeClient
) -> None:
    process, port = server_process
    events: list[ClientEvent] = []

    class Address:
        address = ("127.0.0.1", port)

    alice = make_client(Address, "Alice", on_event=events.append)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=WAIT) == 0
    assert alice.wait_until(lambda: not alice.connected, WAIT)
    assert [e.code for e in wait_events(alice, events, Disconnected)] == ["server_closing"]


def plain_client_process(server: Server, name: str) -> subprocess.Popen[str]:
    host, port = server.address
    command = ["client", name, "--plain", "--host", host, "--port", str(port)]
    return subprocess.Popen(
        [sys.executable, "-m", "stuttgart_chat", *command],
        cwd=ROOT,
        env=env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_client_process_in_line_mode(server: Server, make_client: MakeClient) -> None:
    alice = make_client(server, "Alice")
    bob = plain_client_process(server, "Bob")
    assert bob.stdin is not None
    try:
        read_until(bob, r"^\* joined .* as Bob; members: Alice, Bob")
        alice.send("Hi Bob \x1b[2J")  # an escape sequence must not reach Bob's screen
        line = read_until(bob, r"Alice: Hi Bob")[-1]
        assert "\x1b" not in line
        bob.stdin.write("Hi Alice\n/who\n")
        bob.stdin.flush()
        read_until(bob, r"members: Alice, Bob")
        assert alice.wait_for(2, WAIT)
        assert alice.messages[1].text == "Hi Alice"
        assert alice.messages[1].vc == {"Alice": 1, "Bob": 1}
        bob.stdin.close()  # end of input = leave
        assert bob.wait(timeout=WAIT) == 0
        assert alice.wait_until(lambda: "Bob" not in alice.members, WAIT)
    finally:
        if bob.poll() is None:
            bob.kill()
        bob.wait()


def test_client_process_exits_when_the_server_goes(server: Server) -> None:
    bob = plain_client_process(server, "Bob")
    try:
        read_until(bob, r"^\* joined")
        server.close()
        read_until(bob, r"server_closing")
        assert bob.wait(timeout=WAIT) == 1
    finally:
        if bob.poll() is None:
            bob.kill()
        bob.wait()


def test_client_process_reports_a_taken_name(server: Server, make_client: MakeClient) -> None:
    make_client(server, "Alice")
    host, port = server.address
    result = run_python(
        "-m", "stuttgart_chat", "client", "Alice", "--plain", "--host", host, "--port", str(port)
    )
    assert result.returncode == 2
    assert "name_taken" in result.stdout


# -- a real terminal ---------------------------------------------------------------------


class Tmux:
    """A private tmux server (its own socket), so tests never touch the user's."""

    def __init__(self) -> None:
        self.socket = f"stuttgart-test-{uuid.uuid4().hex[:8]}"

    def run(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        if result.returncode != 0:
            raise AssertionError(f"tmux {args}: {result.stderr}")
        return result.stdout

    def screen(self) -> list[str]:
        return self.run("capture-pane", "-p", "-t", "demo").splitlines()

    def wait_screen(self, predicate: Callable[[list[str]], bool], what: str) -> list[str]:
        # A terminal has no event to wait on; poll its screen, bounded.
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.05)
        raise AssertionError(f"never saw {what}; screen:\n" + "\n".join(self.screen()))

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
        # tmux leaves the socket file behind: /tmp/tmux-UID/NAME.
        Path(f"/tmp/tmux-{os.getuid()}/{self.socket}").unlink(missing_ok=True)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.skip(
            "tmux is not installed: the real-terminal test cannot run (.ci/run installs it)"
        )
    terminal = Tmux()
    yield terminal
    terminal.kill()


def test_typed_line_survives_arriving_messages(
    tmux: Tmux, server: Server, make_client: MakeClient
) -> None:
    alice = make_client(server, "Alice")
    host, port = server.address
    command = " ".join(
        [
            f"env PYTHONPATH={ROOT}",
            sys.executable,
            "-m",
            "stuttgart_chat",
            "client",
            "Bob",
            "--host",
            host,
            "--port",
            str(port),
        ]
    )
    tmux.run("new-session", "-d", "-s", "demo", "-x", "100", "-y", "20", command)
    tmux.wait_screen(
        lambda s: any(line.startswith("Bob> ") or line == "Bob>" for line in s), "Bob's prompt"
    )
    tmux.run("send-keys", "-t", "demo", "-l", "half a thought")
    tmux.wait_screen(lambda s: any("Bob> half a thought" in line for line in s), "typed text")
    for i in range(5):
        alice.send(f"interruption {i}")
    screen = tmux.wait_screen(
        lambda s: any("interruption 4" in line for line in s), "Alice's messages"
    )
    text = "\n".join(screen)
    for i in range(5):
        assert f"Alice: interruption {i}" in text
    # The line being typed is whole, on the last non-empty line, after the messages.
    last = [line for line in screen if line.strip()][-1]
    assert last.rstrip() == "Bob> half a thought", screen
    tmux.run("send-keys", "-t", "demo", "-l", ", finished")
    tmux.run("send-keys", "-t", "demo", "Enter")
    assert alice.wait_for(6, WAIT)
    assert alice.messages[-1].text == "half a thought, finished"
    # /vc shows Bob's clock: he has seen Alice's five and sent one.
    tmux.run("send-keys", "-t", "demo", "-l", "/vc")
    tmux.run("send-keys", "-t", "demo", "Enter")
    tmux.wait_screen(lambda s: any("my clock: {Alice:5, Bob:1}" in line for line in s), "/vc")
    # Ctrl-C leaves cleanly.
    tmux.run("send-keys", "-t", "demo", "C-c")
    assert alice.wait_until(lambda: "Bob" not in alice.members, WAIT)


def test_tmux_demo_runs_and_stops_on_sigterm(tmux: Tmux) -> None:
    """run_demo.py in tmux mode, driven through its panes, then SIGTERM: nothing stays."""
    inner = Tmux()
    command = (
        f"cd {ROOT} && env -u TMUX {sys.executable} run_demo.py --mode tmux "
        f"--tmux-socket {inner.socket} --delay-ms 300"
    )
    tmux.run("new-session", "-d", "-s", "demo", "-x", "160", "-y", "48", command)
    try:
        deadline = time.monotonic() + WAIT
        panes: list[str] = []
        while time.monotonic() < deadline:
            result = subprocess.run(
                ["tmux", "-L", inner.socket, "list-panes", "-a", "-F", "#{pane_index} #{pane_pid}"],
                capture_output=True,
                text=True,
            )
            panes = result.stdout.split("\n")[:-1] if result.returncode == 0 else []
            if len(panes) == 4:
                break
            time.sleep(0.05)
        assert len(panes) == 4, "server and three clients"
        pids = [int(line.split()[1]) for line in panes]
        session = inner.run("list-sessions", "-F", "#{session_name}").split()[0]

        def pane_text(index: int) -> str:
            return inner.run("capture-pane", "-p", "-t", f"{session}:0.{index}")

        def wait_pane(index: int, text: str) -> None:
            limit = time.monotonic() + WAIT
            while text not in pane_text(index):
                assert time.monotonic() < limit, f"pane {index} never showed {text!r}"
                time.sleep(0.05)

        for index in (1, 2, 3):
            wait_pane(index, "Charlie")  # every client has seen Charlie join
        inner.run("send-keys", "-t", f"{session}:0.1", "-l", "Where is my umbrella?")
        inner.run("send-keys", "-t", f"{session}:0.1", "Enter")
        wait_pane(2, "Where is my umbrella?")
        wait_pane(3, "Where is my umbrella?")

        demo_pid = int(tmux.run("list-panes", "-t", "demo", "-F", "#{pane_pid}").split()[0])
        os.kill(demo_pid, signal.SIGTERM)
        limit = time.monotonic() + WAIT
        while any(alive(pid) for pid in [demo_pid, *pids]):
            assert time.monotonic() < limit, "processes left after SIGTERM"
            time.sleep(0.05)
        gone = subprocess.run(["tmux", "-L", inner.socket, "has-session"], capture_output=True)
        assert gone.returncode != 0, "the demo's tmux session is still there"
    finally:
        inner.kill()


@pytest.mark.parametrize("command", ["server", "client Alice"])
def test_cli_refuses_a_port_out_of_range(command: str) -> None:
    result = run_python("-m", "stuttgart_chat", *command.split(), "--port", "99999")
    assert result.returncode == 2
    assert "port must be 0-65535, not 99999" in result.stderr
