#!/usr/bin/env python3
"""Start one server and three clients (Alice, Bob, Charlie), each in its own terminal.

* tmux panes when tmux is installed and this runs in a terminal;
* terminal windows on a desktop (x-terminal-emulator, gnome-terminal, konsole, xterm,
  or Terminal.app on macOS);
* otherwise a scripted conversation whose every delivery is printed with the
  client's name as prefix: Alice asks, Bob answers, and Charlie, whose link from
  Alice is slowed down on purpose, holds Bob's answer until Alice's question arrives.

The server delays frames on purpose (``--delay Alice:Charlie:MS`` and a random
jitter), because one server relaying over TCP would otherwise deliver everything in
causal order by itself and the hold-back queue would never hold anything.

``--record DIR`` runs the scripted conversation with every process writing its event
log into DIR, then draws the space-time diagram DIR/diagram.html.

The interactive modes use the full-screen client (prompt_toolkit). On a fresh clone
without it, the demo first makes ``.venv`` and installs the package there (one
``pip install``), then carries on in it; if that cannot be done it falls back to the
line-based client.

Ctrl-C or SIGTERM stops everything it started.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent
NAMES = ("Alice", "Bob", "Charlie")


class DemoError(Exception):
    pass


class _Stop(Exception):
    """SIGTERM: unwind and clean up, like Ctrl-C."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def python_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "stuttgart_chat", *args]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def server_args(args: argparse.Namespace) -> list[str]:
    command = ["server", "--port", str(args.port)]
    if args.record:
        command += ["--event-log", str(args.record / "server.log")]
    if not args.no_reorder:
        command += ["--delay", f"Alice:Charlie:{args.delay_ms}"]
        if args.jitter_ms:
            command += ["--jitter-ms", str(args.jitter_ms), "--seed", str(args.seed)]
    return command


def client_args(name: str, args: argparse.Namespace, *extra: str) -> list[str]:
    if args.record:
        extra = (*extra, "--event-log", str(args.record / f"{name}.log"))
    return ["client", name, "--port", str(args.port), *extra]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise DemoError(f"the server did not start listening on port {port}")


# -- tmux ------------------------------------------------------------------------------


def run_tmux(args: argparse.Namespace) -> int:
    session = f"stuttgart-demo-{os.getpid()}"
    env = child_env()
    quoted = " ".join(f"{k}={shlex.quote(env[k])}" for k in ("PYTHONPATH", "PYTHONUNBUFFERED"))

    def shell(command: list[str]) -> str:
        # `env` first, so the panes find the package however tmux was started.
        return f"env {quoted} " + " ".join(shlex.quote(part) for part in command)

    # A separate tmux server (-L) when asked: tests use one, and must not touch yours.
    tmux = ["tmux", "-L", args.tmux_socket] if args.tmux_socket else ["tmux"]
    inside_tmux = bool(os.environ.get("TMUX")) and not args.tmux_socket
    subprocess.run(
        [
            *tmux,
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "200",
            "-y",
            "50",
            shell(python_command(*server_args(args))),
        ],
        check=True,
    )
    try:
        wait_for_port(args.port)
        for name in NAMES:
            subprocess.run(
                [
                    *tmux,
                    "split-window",
                    "-t",
                    session,
                    shell(python_command(*client_args(name, args))),
                ],
                check=True,
            )
            subprocess.run([*tmux, "select-layout", "-t", session, "tiled"], check=True)
        # Click a pane to type in it.
        subprocess.run([*tmux, "set-option", "-t", session, "mouse", "on"], check=False)
        subprocess.run([*tmux, "select-pane", "-t", f"{session}:0.1"], check=True)
        hint = (
            "Stuttgart Chat demo: type in Alice's pane, answer in Bob's, watch Charlie hold "
            "the answer. Ctrl-C in the server pane (top left) ends it all."
        )
        subprocess.run([*tmux, "display-message", "-t", session, hint], check=False)
        if inside_tmux:
            subprocess.run([*tmux, "switch-client", "-t", session], check=True)
            # The session lives on inside the running tmux; wait for it to end.
            while (
                subprocess.run(
                    [*tmux, "has-session", "-t", session], capture_output=True
                ).returncode
                == 0
            ):
                time.sleep(0.5)
        else:
            attach_env = {k: v for k, v in os.environ.items() if k != "TMUX"}
            subprocess.run([*tmux, "attach-session", "-t", session], check=False, env=attach_env)
    finally:
        subprocess.run([*tmux, "kill-session", "-t", session], capture_output=True)
    return 0


# -- terminal windows -----------------------------------------------------------------


def terminal_launcher() -> Callable[[str, list[str]], subprocess.Popen[bytes]] | None:
    if sys.platform == "darwin" and shutil.which("osascript"):

        def mac(title: str, command: list[str]) -> subprocess.Popen[bytes]:
            line = f"cd {shlex.quote(str(ROOT))} && " + " ".join(map(shlex.quote, command))
            script = f'tell application "Terminal" to do script {line!r}'.replace("'", '"')
            return subprocess.Popen(["osascript", "-e", script])

        return mac
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return None
    for program, flag in (
        ("x-terminal-emulator", "-e"),
        ("gnome-terminal", "--"),
        ("konsole", "-e"),
        ("xterm", "-e"),
    ):
        path = shutil.which(program)
        if path:

            def launch(
                title: str,
                command: list[str],
                path: str = path,
                flag: str = flag,
                program: str = program,
            ) -> subprocess.Popen[bytes]:
                extra = ["-T", title] if program == "xterm" else []
                return subprocess.Popen([path, *extra, flag, *command], env=child_env())

            return launch
    return None


def run_windows(args: argparse.Namespace) -> int:
    launch = terminal_launcher()
    if launch is None:
        raise DemoError("no terminal emulator found")
    server = subprocess.Popen(python_command(*server_args(args)), env=child_env())
    windows: list[subprocess.Popen[bytes]] = []
    try:
        wait_for_port(args.port)
        for name in NAMES:
            windows.append(launch(name, python_command(*client_args(name, args))))
        print(
            f"server on 127.0.0.1:{args.port}; clients in {len(NAMES)} windows. "
            "Ctrl-C here ends the demo."
        )
        server.wait()
    finally:
        # Clients leave by themselves when the server goes away.
        stop_process(server)
        for window in windows:
            stop_process(window)
    return 0


# -- scripted conversation -----------------------------------------------------------


class ScriptedClient:
    """A client process in plain line mode whose output lines we can wait for."""

    def __init__(self, name: str, args: argparse.Namespace, echo: Callable[[str], None]):
        self.name = name
        self.lines: list[str] = []
        self._new = threading.Condition()
        extra = ["--plain"] + (["--show-vc"] if args.show_vc else [])
        self.process = subprocess.Popen(
            python_command(*client_args(name, args, *extra)),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=child_env(),
        )
        self._echo = echo
        self._reader = threading.Thread(target=self._read, name=f"demo-read[{name}]", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            line = line.rstrip("\n")
            self._echo(f"[{self.name:<7}] {line}")
            with self._new:
                self.lines.append(line)
                self._new.notify_all()

    def wait_for(self, pattern: str, timeout: float = 15.0) -> str:
        regex = re.compile(pattern)
        with self._new:
            if not self._new.wait_for(
                lambda: any(regex.search(line) for line in self.lines), timeout
            ):
                raise DemoError(f"{self.name} never printed /{pattern}/")
            return next(line for line in self.lines if regex.search(line))

    def say(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def quit(self) -> None:
        self.say("/quit")
        assert self.process.stdin is not None
        self.process.stdin.close()


def run_script(args: argparse.Namespace) -> int:
    out: queue.SimpleQueue[str] = queue.SimpleQueue()
    print_lock = threading.Lock()

    def echo(line: str) -> None:
        with print_lock:
            print(line, flush=True)

    echo(
        f"[server ] starting on 127.0.0.1:{args.port}"
        + ("" if args.no_reorder else f", frames Alice -> Charlie delayed {args.delay_ms} ms")
    )
    server = subprocess.Popen(
        python_command(*server_args(args), "--log-level", "WARNING"),
        stdout=subprocess.DEVNULL,
        env=child_env(),
    )
    clients: dict[str, ScriptedClient] = {}
    try:
        wait_for_port(args.port)
        for name in NAMES:
            clients[name] = ScriptedClient(name, args, echo)
            clients[name].wait_for(r"^\* joined")
        alice, bob, charlie = (clients[n] for n in NAMES)
        for name in ("Bob", "Charlie"):
            alice.wait_for(rf"\* {name} joined")

        alice.say("Has anyone seen my umbrella?")
        bob.wait_for(r"Alice: Has anyone seen my umbrella\?")
        bob.say("Yes, it is by the door.")
        charlie.wait_for(r"Bob: Yes, it is by the door\.")
        charlie.say("Good, it is raining in Stuttgart.")
        for client in (alice, bob):
            client.wait_for(r"Charlie: Good, it is raining")

        order = [
            line.split("] ", 1)[1].split(":")[0]
            for line in charlie.lines
            if re.match(r"^\[\d\d:\d\d:\d\d\] (Alice|Bob):", line)
        ]
        held = [line for line in charlie.lines if "held:" in line]
        echo("")
        echo(f"Charlie delivered: {' -> '.join(order)}")
        if held:
            echo(f"Charlie's hold-back queue: {held[0].strip()}, released when Alice#1 came.")
        if order[:2] != ["Alice", "Bob"]:
            echo("CAUSAL ORDER VIOLATED")
            return 1
        echo("Causal order held: the answer was never shown before its question.")
        for client in clients.values():
            client.quit()
        for client in clients.values():
            client.process.wait(timeout=10)
        stop_process(server)  # so the server's log is complete
        if args.record:
            return draw_diagram(args.record, echo)
        return 0
    finally:
        for client in clients.values():
            stop_process(client.process)
        stop_process(server)
        while not out.empty():
            out.get()


def draw_diagram(directory: Path, echo: Callable[[str], None]) -> int:
    logs = sorted(directory.glob("*.log"))
    output = directory / "diagram.html"
    result = subprocess.run(
        python_command("diagram", *map(str, logs), "-o", str(output)),
        env=child_env(),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        echo(f"could not draw the diagram: {result.stderr.strip() or result.stdout.strip()}")
        return 1
    echo("")
    echo(f"Event logs (paste into ShiViz): {', '.join(str(p) for p in logs)}")
    echo(f"Space-time diagram: {output}")
    return 0


def stop_process(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- first run ---------------------------------------------------------------------------


def ensure_terminal_ui(argv: Sequence[str] | None) -> None:
    """Make prompt_toolkit importable for the clients: install into .venv and re-run
    there if needed (does not return then). Falls back silently to the line client."""
    try:
        import prompt_toolkit  # noqa: F401
    except ImportError:
        pass
    else:
        return
    venv_python = ROOT / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if Path(sys.executable).resolve() == venv_python.resolve():
        print("run_demo: prompt_toolkit is missing even in .venv; using the line client")
        return
    print("run_demo: first run: installing the terminal UI into .venv (one pip install) ...")
    try:
        if not venv_python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(ROOT / ".venv")], check=True)
        subprocess.run(
            [str(venv_python), "-m", "pip", "install", "--quiet", "-e", str(ROOT)], check=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"run_demo: could not install it ({exc}); using the line client")
        return
    arguments = list(sys.argv[1:] if argv is None else argv)
    os.execv(str(venv_python), [str(venv_python), str(ROOT / "run_demo.py"), *arguments])


# -- main -----------------------------------------------------------------------------


def choose_mode(requested: str, recording: bool) -> str:
    if requested != "auto":
        return requested
    if recording:
        return "script"
    on_terminal = sys.stdin.isatty() and sys.stdout.isatty()
    if on_terminal and shutil.which("tmux"):
        return "tmux"
    if on_terminal and terminal_launcher() is not None:
        return "windows"
    return "script"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("auto", "tmux", "windows", "script"), default="auto")
    parser.add_argument("--port", type=int, default=0, help="server port (0: a free one)")
    parser.add_argument("--no-reorder", action="store_true", help="no injected delay")
    parser.add_argument(
        "--delay-ms",
        type=int,
        default=None,
        help="extra delay of frames from Alice to Charlie (default: 10000 when you type, "
        "long enough to write an answer in Bob's pane; 2000 in the scripted run)",
    )
    parser.add_argument(
        "--jitter-ms", type=int, default=0, help="random delay of every frame, 0..MS (default 0)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the random jitter")
    parser.add_argument("--show-vc", action="store_true", help="script mode: print clocks")
    parser.add_argument(
        "--tmux-socket", metavar="NAME", help="tmux mode: use a separate tmux server (tmux -L NAME)"
    )
    parser.add_argument(
        "--record",
        type=Path,
        metavar="DIR",
        help="write every process's event log and the space-time diagram into DIR "
        "(runs the scripted conversation unless --mode says otherwise)",
    )
    args = parser.parse_args(argv)
    if args.record:
        args.record = args.record.resolve()
        args.record.mkdir(parents=True, exist_ok=True)
    if args.port == 0:
        args.port = free_port()
    signal.signal(signal.SIGTERM, _raise_stop)
    mode = choose_mode(args.mode, bool(args.record))
    if args.delay_ms is None:
        args.delay_ms = 2000 if mode == "script" else 10000
    if mode in ("tmux", "windows"):
        ensure_terminal_ui(argv)
    try:
        return {"tmux": run_tmux, "windows": run_windows, "script": run_script}[mode](args)
    except (KeyboardInterrupt, _Stop):
        return 130
    except DemoError as exc:
        print(f"run_demo: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
