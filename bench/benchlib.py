"""Shared helpers for the benchmark commands in bench/.

Process management (every process we start is stopped in a ``finally``), /proc readers
for the system under test, machine facts, percentiles, tables and result files.
Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import math
import os
import platform
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
LOOPBACK = "127.0.0.1"
PYTHON = sys.executable

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_HAS_TAR_FILTER = hasattr(tarfile, "data_filter")


# -- machine facts -------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_DIR), "status", "--porcelain", "--", "stuttgart_chat"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


_SNAPSHOTS: list[Path] = []
_ACTIVE_SNAPSHOT: Path | None = None  # servers run from here when set


def snapshot_package(rev: str) -> tuple[Path, str]:
    """Extract ``stuttgart_chat`` as of git revision ``rev`` into a temporary directory,
    so a run measures one fixed revision even while the working tree changes. Returns
    the directory (for PYTHONPATH) and the full commit id."""
    sha = subprocess.run(
        ["git", "-C", str(REPO_DIR), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout.strip()
    target = Path(tempfile.mkdtemp(prefix=f"stuttgart-{sha[:9]}-"))
    _SNAPSHOTS.append(target)
    archive = subprocess.run(
        ["git", "-C", str(REPO_DIR), "archive", "--format=tar", sha, "stuttgart_chat"],
        capture_output=True,
        timeout=30,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        if _HAS_TAR_FILTER:
            tar.extractall(target, filter="data")
        else:
            tar.extractall(target)  # noqa: S202 - our own repository's archive
    return target, sha


def use_snapshot(rev: str | None) -> str:
    """With ``rev``: run every server (and import stuttgart_chat) from that revision.
    Returns the revision label to record."""
    if not rev:
        return git_revision()
    global _ACTIVE_SNAPSHOT
    path, sha = snapshot_package(rev)
    _ACTIVE_SNAPSHOT = path
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(path), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    sys.path.insert(0, str(path))
    return sha[:9]


@atexit.register
def _remove_snapshots() -> None:
    for path in _SNAPSHOTS:
        shutil.rmtree(path, ignore_errors=True)


def machine_info() -> dict[str, Any]:
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "git_revision": git_revision(),
    }


def mem_available_bytes() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def raise_nofile_limit(wanted: int) -> int:
    """Raise RLIMIT_NOFILE towards ``wanted`` (up to the hard limit); returns the soft
    limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


# -- /proc of a process ----------------------------------------------------------------


def proc_status(pid: int) -> dict[str, str]:
    """/proc/<pid>/status as a dict (empty if the process is gone)."""
    fields: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def status_kib(pid: int, key: str) -> int:
    """A ``kB`` field of /proc/<pid>/status (VmRSS, VmHWM, ...), in KiB; 0 if absent."""
    value = proc_status(pid).get(key, "0 kB").split()
    return int(value[0]) if value else 0


def thread_count(pid: int) -> int:
    return int(proc_status(pid).get("Threads", "0"))


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process; (0, 0) if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return (0.0, 0.0)
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) / _CLOCK_TICKS, int(fields[12]) / _CLOCK_TICKS)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads); 0.0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name may contain spaces; fields after it are space-separated.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def machine_cpu_ticks() -> dict[str, int]:
    """Machine-wide CPU time from /proc/stat, in clock ticks, by kind."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields] + [0] * 10
    user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
    return {
        "user": user + nice,
        "system": system,
        "softirq": irq + softirq,
        "steal": steal,
        "idle": idle + iowait,
    }


def machine_cpu_share(before: dict[str, int], after: dict[str, int]) -> dict[str, float]:
    """Percent of the whole machine (all cores) per kind between two readings."""
    deltas = {k: after[k] - before[k] for k in before}
    total = sum(deltas.values()) or 1
    return {k: round(100 * v / total, 1) for k, v in deltas.items()}


# -- statistics and output ---------------------------------------------------------------


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (nan if empty)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def median(values: Sequence[float]) -> float:
    clean = sorted(v for v in values if not (isinstance(v, float) and math.isnan(v)))
    if not clean:
        return math.nan
    middle = len(clean) // 2
    if len(clean) % 2:
        return float(clean[middle])
    return (clean[middle - 1] + clean[middle]) / 2


def fmt_rate(value: float) -> str:
    if math.isnan(value):
        return "-"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def fmt_ms(value: float) -> str:
    if math.isnan(value):
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_ratio(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}x"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table, also readable on a terminal."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), separator, *(line(r) for r in rows)])


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / name
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_json_safe(data), indent=2) + "\n")
    tmp.replace(path)
    return path


def write_text(name: str, text: str) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / name
    path.write_text(text)
    return path


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def loud_note(message: str) -> None:
    bar = "!" * min(100, max(20, len(message) + 8))
    print(f"\n{bar}\n!!! {message}\n{bar}\n", file=sys.stderr, flush=True)


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start


# -- processes we start ------------------------------------------------------------------


@dataclass
class ManagedProcess:
    """A child process we started; ``stop()`` always ends it (TERM, then KILL)."""

    name: str
    popen: subprocess.Popen[bytes]
    host: str = LOOPBACK
    port: int = 0
    log_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.popen.poll() is None:
            with contextlib.suppress(OSError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                note(f"{self.name} (pid {self.pid}) did not stop in {timeout:g}s; killing it")
                with contextlib.suppress(OSError):
                    self.popen.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.popen.wait(5)
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return self.popen.returncode


def _log_file(name: str) -> tuple[Path, IO[bytes]]:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.log.tmp"
    return path, path.open("wb")


def _wait_for_line(
    proc: subprocess.Popen[bytes], pattern: re.Pattern[bytes], timeout: float
) -> re.Match[bytes]:
    """Read the child's stdout until a line matches; bounded by ``timeout``."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while (remaining := deadline - time.monotonic()) > 0:
            if not selector.select(remaining):
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
            for line in seen.splitlines():
                match = pattern.search(line)
                if match:
                    return match
    raise RuntimeError(
        f"process {proc.args!r} did not print a line matching {pattern.pattern!r} "
        f"within {timeout:g}s; it printed {seen[-500:]!r}"
    )


_LISTENING = re.compile(rb"listening on ([0-9.]+):(\d+)")


def start_listening_process(
    name: str, argv: Sequence[str], timeout: float = 20.0
) -> ManagedProcess:
    """Start a server that prints ``... listening on HOST:PORT`` on stdout."""
    log_path, log_file = _log_file(name)
    popen = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log_file,
        # "python -m" puts the working directory first on sys.path: run from the
        # snapshot (if any), so the server is the pinned revision.
        cwd=_ACTIVE_SNAPSHOT or REPO_DIR,
    )
    log_file.close()
    process = ManagedProcess(name, popen, log_path=log_path)
    try:
        match = _wait_for_line(popen, _LISTENING, timeout)
    except BaseException:
        process.stop()
        raise
    process.host = match.group(1).decode()
    process.port = int(match.group(2))
    if process.host != LOOPBACK:
        process.stop()
        raise RuntimeError(f"{name} listens on {process.host}, not {LOOPBACK}")
    return process


def start_stuttgart_server(extra_args: Sequence[str] = ()) -> ManagedProcess:
    """The real server in its own process, on a free loopback port."""
    argv = [
        PYTHON,
        "-m",
        "stuttgart_chat",
        "server",
        "--host",
        LOOPBACK,
        "--port",
        "0",
        "--log-level",
        "WARNING",
        *extra_args,
    ]
    return start_listening_process("stuttgart", argv)


def start_naive_relay() -> ManagedProcess:
    argv = [PYTHON, str(BENCH_DIR / "baselines" / "naive_relay.py"), "--port", "0"]
    return start_listening_process("naive", argv)


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def redis_binary() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )


def start_redis(timeout: float = 15.0) -> ManagedProcess:
    """Debian's redis-server on a free loopback port: no persistence, no output buffer
    limit for pub/sub clients (the generator keeps its own bound on in-flight data)."""
    binary = redis_binary()
    if binary is None:
        raise FileNotFoundError("redis-server is not installed (apt-get install -y redis-server)")
    last_error: Exception | None = None
    for _ in range(3):  # the free port can be taken between probe and bind: retry
        port = free_loopback_port()
        log_path, log_file = _log_file("redis")
        argv = [
            binary,
            "--bind",
            LOOPBACK,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
            "--daemonize",
            "no",
            "--maxclients",
            "4096",
            "--client-output-buffer-limit",
            "pubsub 0 0 0",
            "--loglevel",
            "warning",
            "--dir",
            str(RESULTS_DIR),
            "--dbfilename",
            "redis-bench.rdb.tmp",
        ]
        popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT
        )
        log_file.close()
        process = ManagedProcess("redis", popen, LOOPBACK, port, log_path)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and process.alive:
                try:
                    with socket.create_connection((LOOPBACK, port), timeout=1.0) as probe:
                        probe.sendall(b"PING\r\n")
                        if probe.recv(64).startswith(b"+PONG"):
                            return process
                except OSError as exc:
                    last_error = exc
                time.sleep(0.05)
        except BaseException:
            process.stop()
            raise
        process.stop()
    raise RuntimeError(f"redis-server did not start: {last_error}")


@contextlib.contextmanager
def managed(process: ManagedProcess) -> Iterator[ManagedProcess]:
    try:
        yield process
    finally:
        process.stop()


# -- profiles -----------------------------------------------------------------------------


def parse_py_spy_raw(text: str) -> dict[str, Any]:
    """Collapsed stacks ("frame;frame;... count") -> total samples, and samples per
    function (self and inclusive, ``name (file)``) and per source line (self)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        raw_frames = [f.strip() for f in stack.split(";") if f.strip()]
        raw_frames = [f for f in raw_frames if not f.startswith(("process ", "thread "))]
        if not raw_frames:
            continue
        frames = [_function_of(f) for f in raw_frames]
        own[frames[-1]] += count
        lines[raw_frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    return {"samples": total, "self": own, "inclusive": inclusive, "lines": lines}


def _function_of(frame: str) -> str:
    name, _, location = frame.partition(" (")
    file = location.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({file})" if file else name


def py_spy_binary() -> str:
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if not found:
        raise FileNotFoundError("py-spy is not installed (.venv/bin/pip install py-spy)")
    return found


def run_py_spy(args: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run py-spy to completion (killed after ``timeout`` seconds)."""
    command = [py_spy_binary(), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
