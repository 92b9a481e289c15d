"""Fan-out benchmark: Stuttgart Chat vs Redis pub/sub vs a naive Python relay.

N connected clients, P publishers, 100-byte texts. Each system runs in its own
process; the load generator (bench/loadgen.py) is a few other processes speaking the
wire protocol (or RESP for Redis) over raw sockets. For every system and every
(N, P) it measures, with the same generator:

* at fixed offered loads (50k and 150k deliveries/s; publishers paced): delivered
  rate, end-to-end latency p50/p99/max, and whether the system kept up;
* at saturation (closed loop: a bounded number of deliveries in flight): deliveries per
  second (messages received by all clients / wall time) and latency;
* every run checks that no message was lost and each sender's order was kept
  (sequence numbers in the text).

    .venv/bin/python bench/fanout.py              # full run (< 10 min on 2 cores)
    .venv/bin/python bench/fanout.py --quick      # ~1 min smoke run
    .venv/bin/python bench/fanout.py --repeat 3   # medians of 3 runs per figure
    .venv/bin/python bench/fanout.py --profile-only   # py-spy on the server under load

Writes bench/results/fanout.json, fanout.md, fanout.png (and profile.* with
--profile). Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import benchlib
from benchlib import (
    ManagedProcess,
    fmt_ms,
    fmt_rate,
    fmt_ratio,
    format_table,
    loud_note,
    median,
    note,
    percentile,
)
from loadgen import Generator, RunResult, RunSpec, Wire, make_specs, now_us

SYSTEMS = ("stuttgart", "redis", "naive")
SYSTEM_LABELS = {"stuttgart": "Stuttgart Chat", "redis": "Redis pub/sub", "naive": "naive relay"}
FULL_CONFIGS = ((3, 1), (3, 2), (10, 1), (100, 1), (100, 10), (500, 1), (500, 50))
QUICK_CONFIGS = ((3, 2), (10, 1), (100, 10), (500, 50))
FIXED_LOADS = (("50k", 50_000), ("150k", 150_000))
SATURATION = "sat"
KEEP_UP_FRACTION = 0.97  # delivered/offered at or above this (and drained) = kept up
MAX_LATENCY_SAMPLES = 600_000  # per run, over all workers
SATURATION_RATE_GUESS = 2_000_000  # deliveries/s, an upper bound for the sample stride
OUTBOX_SAFE_MSGS = 9_000  # below the server's default max_outbox_frames (10 000)
GUARD_SECONDS = 0.25  # fixed loads: a backlog this long means "did not keep up"


@dataclass
class Settings:
    measure: float
    warmup: float
    drain: float
    workers: int
    window_deliveries: int
    repeat: int
    setup_timeout: float
    verifiers: int


@dataclass
class Measurement:
    system: str
    members: int
    publishers: int
    load: str
    target_rate: float
    offered_rate: float
    delivered_rate: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    kept_up: bool
    why_not: str
    drained: bool
    drain_ms: float
    lost: int
    order_errors: int
    disconnected: int
    guard_tripped: bool
    server_errors: list[str]
    sut_cpu_pct: float
    generator_cpu_pct: float
    machine_idle_pct: float
    machine_softirq_pct: float
    machine_steal_pct: float
    latency_samples: int
    runs: int = 1
    kept_up_runs: int = 0
    raw: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, int, int, str]:
        return (self.system, self.members, self.publishers, self.load)


# -- the system under test -------------------------------------------------------------------


def start_system(system: str) -> tuple[ManagedProcess, Wire]:
    if system == "stuttgart":
        return benchlib.start_stuttgart_server(), Wire.CHAT
    if system == "naive":
        return benchlib.start_naive_relay(), Wire.CHAT
    if system == "redis":
        return benchlib.start_redis(), Wire.RESP
    raise ValueError(f"unknown system {system!r}")


class Session:
    """One system process plus one connected generator; restarted when a run leaves
    messages in flight (a later run must not see them)."""

    def __init__(self, system: str, members: int, publishers: int, settings: Settings) -> None:
        self.system = system
        self.members = members
        self.publishers = publishers
        self.settings = settings
        self.process: ManagedProcess | None = None
        self.generator: Generator | None = None
        self.fanout = 0
        self.verified_fraction = 1.0
        self.join_seconds = math.nan

    def ensure(self) -> tuple[ManagedProcess, Generator]:
        if self.process is not None and self.generator is not None:
            return self.process, self.generator
        self.close()
        process, wire = start_system(self.system)
        self.process = process
        specs, self.fanout = make_specs(
            wire, self.members, self.publishers, self.settings.verifiers
        )
        self.verified_fraction = sum(s.verify and s.subscribes for s in specs) / sum(
            s.subscribes for s in specs
        )
        self.generator = Generator(wire, (process.host, process.port), specs, self.settings.workers)
        started = time.monotonic()
        self.generator.start(self.settings.setup_timeout)
        self.join_seconds = time.monotonic() - started
        return process, self.generator

    def close(self) -> None:
        if self.generator is not None:
            self.generator.stop()
            self.generator = None
        if self.process is not None:
            code = self.process.stop()
            if code not in (0, None, -15):
                note(f"{self.system} exited with {code}; log: {self.process.log_path}")
            self.process = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_once(session: Session, load: str, target_rate: float, run_id: int) -> dict[str, Any]:
    """One measured run; returns its figures (a dict, so repeats can be combined)."""
    settings = session.settings
    process, generator = session.ensure()
    fanout = session.fanout
    publishers = session.publishers
    verified = session.verified_fraction
    if target_rate > 0:
        rate_per_publisher = target_rate / fanout / publishers
        samples = target_rate * settings.measure * verified
    else:
        rate_per_publisher = 0.0
        samples = SATURATION_RATE_GUESS * settings.measure * verified
    stride = max(1, math.ceil(samples / MAX_LATENCY_SAMPLES))
    # In flight = messages the slowest client has not received yet, so every client's
    # backlog (and the server's per-member outbox, dropped at 10 000 frames) stays
    # below OUTBOX_SAFE_MSGS. Saturation: a fixed window; fixed loads: a guard of
    # GUARD_SECONDS of backlog, beyond which the system did not keep up.
    window_msgs = min(OUTBOX_SAFE_MSGS, max(2, settings.window_deliveries // fanout))
    message_rate = target_rate / fanout
    guard_msgs = min(OUTBOX_SAFE_MSGS, max(window_msgs, int(message_rate * GUARD_SECONDS)))
    t_start = now_us() + 200_000
    window_start = t_start + int(settings.warmup * 1e6)
    window_end = window_start + int(settings.measure * 1e6)
    spec = RunSpec(
        run_id=run_id,
        t_start_us=t_start,
        window_start_us=window_start,
        window_end_us=window_end,
        t_stop_us=window_end,
        drain_deadline_us=window_end + int(settings.drain * 1e6),
        rate_per_publisher=rate_per_publisher,
        window_msgs=window_msgs,
        guard_msgs=guard_msgs,
        count_per_publisher=0,
        fanout=fanout,
        latency_stride=stride,
    )
    pids = generator.pids
    generator.begin_run(spec)
    while now_us() < window_start:
        time.sleep(0.001)
    cpu_window = (benchlib.cpu_seconds(process.pid), sum(map(benchlib.cpu_seconds, pids)))
    machine_before = benchlib.machine_cpu_ticks()
    timeout = (spec.drain_deadline_us - now_us()) / 1e6 + 30.0
    result: RunResult = generator.finish_run(spec, timeout)
    cpu_after = (benchlib.cpu_seconds(process.pid), sum(map(benchlib.cpu_seconds, pids)))
    machine = benchlib.machine_cpu_share(machine_before, benchlib.machine_cpu_ticks())
    # CPU over the window (approximation: from window start to the end of the run).
    run_seconds = max(1e-6, (result.last_chat_us or window_end) / 1e6 - window_start / 1e6)
    sut_cpu = (cpu_after[0] - cpu_window[0]) / run_seconds * 100
    gen_cpu = (cpu_after[1] - cpu_window[1]) / run_seconds * 100
    latencies = sorted(result.latencies_us)
    offered = result.offered_rate(fanout)
    delivered = result.delivered_rate
    drain_ms = (result.last_chat_us - window_end) / 1000 if result.last_chat_us else math.nan
    healthy = result.drained and result.lost == 0 and result.disconnected == 0
    reasons = []
    if not result.drained:
        reasons.append(f"not drained {settings.drain:g}s after")
    if result.lost or result.disconnected:
        reasons.append(f"lost {result.lost}, {result.disconnected} disconnected")
    if target_rate > 0:
        if result.guard_tripped:
            reasons.append(f"backlog > {GUARD_SECONDS * 1000:.0f} ms")
        if offered < KEEP_UP_FRACTION * target_rate:
            reasons.append(f"could send only {offered / target_rate:.0%}")
        elif delivered < KEEP_UP_FRACTION * target_rate:
            reasons.append(f"delivered {delivered / target_rate:.0%}")
    kept_up = not reasons
    if not healthy or result.order_errors:
        session.close()  # messages may still be in flight: start afresh for the next run
    return {
        "offered_rate": offered,
        "delivered_rate": delivered,
        "p50_ms": percentile(latencies, 0.50) / 1000,
        "p99_ms": percentile(latencies, 0.99) / 1000,
        "max_ms": result.latency_max_us / 1000 if latencies else math.nan,
        "kept_up": kept_up,
        "why_not": "; ".join(reasons),
        "drained": result.drained,
        "drain_ms": drain_ms,
        "lost": result.lost,
        "order_errors": result.order_errors,
        "disconnected": result.disconnected,
        "guard_tripped": result.guard_tripped,
        "server_errors": result.server_errors,
        "sut_cpu_pct": sut_cpu,
        "generator_cpu_pct": gen_cpu,
        "machine_idle_pct": machine["idle"],
        "machine_softirq_pct": machine["softirq"],
        "machine_steal_pct": machine["steal"],
        "latency_samples": len(latencies),
        "window_msgs": window_msgs,
        "guard_msgs": guard_msgs,
        "target_rate": target_rate,
        "join_seconds": session.join_seconds,
    }


def combine(
    system: str, members: int, publishers: int, load: str, runs: list[dict[str, Any]]
) -> Measurement:
    def med(key: str) -> float:
        return median([float(r[key]) for r in runs])

    kept = sum(1 for r in runs if r["kept_up"])
    return Measurement(
        system=system,
        members=members,
        publishers=publishers,
        load=load,
        target_rate=float(runs[0]["target_rate"]),
        offered_rate=med("offered_rate"),
        delivered_rate=med("delivered_rate"),
        p50_ms=med("p50_ms"),
        p99_ms=med("p99_ms"),
        max_ms=med("max_ms"),
        kept_up=kept == len(runs),
        why_not=" / ".join(sorted({r["why_not"] for r in runs if r["why_not"]})),
        drained=all(r["drained"] for r in runs),
        drain_ms=med("drain_ms"),
        lost=sum(int(r["lost"]) for r in runs),
        order_errors=sum(int(r["order_errors"]) for r in runs),
        disconnected=sum(int(r["disconnected"]) for r in runs),
        guard_tripped=any(r["guard_tripped"] for r in runs),
        server_errors=[e for r in runs for e in r["server_errors"]][:10],
        sut_cpu_pct=med("sut_cpu_pct"),
        generator_cpu_pct=med("generator_cpu_pct"),
        machine_idle_pct=med("machine_idle_pct"),
        machine_softirq_pct=med("machine_softirq_pct"),
        machine_steal_pct=med("machine_steal_pct"),
        latency_samples=int(med("latency_samples")),
        runs=len(runs),
        kept_up_runs=kept,
        raw=runs,
    )


def loads_for(members: int, publishers: int, quick: bool) -> list[tuple[str, float]]:
    loads: list[tuple[str, float]] = [(name, float(rate)) for name, rate in FIXED_LOADS]
    if quick and (members, publishers) not in ((3, 2), (10, 1)):
        loads = [loads[0]]
    return [*loads, (SATURATION, 0.0)]


def measure_all(
    systems: Sequence[str], configs: Sequence[tuple[int, int]], settings: Settings, quick: bool
) -> tuple[list[Measurement], dict[str, str]]:
    measurements: list[Measurement] = []
    skipped: dict[str, str] = {}
    run_id = 0
    for members, publishers in configs:
        for system in systems:
            if system in skipped:
                continue
            label = f"{system} N={members} P={publishers}"
            try:
                with Session(system, members, publishers, settings) as session:
                    for load, rate in loads_for(members, publishers, quick):
                        runs = []
                        for _ in range(settings.repeat):
                            run_id += 1
                            runs.append(run_once(session, load, rate, run_id))
                        m = combine(system, members, publishers, load, runs)
                        measurements.append(m)
                        flag = "" if m.kept_up else f"  NOT KEPT UP ({m.why_not})"
                        if m.lost or m.order_errors or m.disconnected:
                            flag += f"  LOST {m.lost} ORDER {m.order_errors} GONE {m.disconnected}"
                        note(
                            f"{label:28} {load:>5}: delivered {fmt_rate(m.delivered_rate):>7}/s "
                            f"offered {fmt_rate(m.offered_rate):>7}/s p50 {fmt_ms(m.p50_ms)} ms "
                            f"p99 {fmt_ms(m.p99_ms)} ms max {fmt_ms(m.max_ms)} ms "
                            f"cpu sut {m.sut_cpu_pct:.0f}% gen {m.generator_cpu_pct:.0f}% "
                            f"machine idle {m.machine_idle_pct:.0f}% "
                            f"softirq {m.machine_softirq_pct:.0f}%{flag}"
                        )
            except FileNotFoundError as exc:
                skipped[system] = str(exc)
                loud_note(f"SKIPPING {SYSTEM_LABELS[system]}: {exc}")
    return measurements, skipped


# -- reports ----------------------------------------------------------------------------


def _index(measurements: Sequence[Measurement]) -> dict[tuple[str, int, int, str], Measurement]:
    return {m.key: m for m in measurements}


def _ratio(a: Measurement | None, b: Measurement | None, attr: str) -> float:
    if a is None or b is None:
        return math.nan
    x, y = getattr(a, attr), getattr(b, attr)
    if not y or math.isnan(x) or math.isnan(y):
        return math.nan
    return float(x / y)


def results_table(measurements: Sequence[Measurement]) -> str:
    rows = []
    for m in measurements:
        status = "yes" if m.kept_up else f"NO: {m.why_not}"
        if m.runs > 1 and 0 < m.kept_up_runs < m.runs:
            status = f"{m.kept_up_runs}/{m.runs} runs; {m.why_not}"
        if m.order_errors:
            status += f"; ORDER ERRORS {m.order_errors}"
        rows.append(
            [
                SYSTEM_LABELS[m.system],
                str(m.members),
                str(m.publishers),
                m.load,
                fmt_rate(m.offered_rate),
                fmt_rate(m.delivered_rate),
                fmt_ms(m.p50_ms),
                fmt_ms(m.p99_ms),
                fmt_ms(m.max_ms),
                status,
                f"{m.sut_cpu_pct:.0f}%",
                f"{m.generator_cpu_pct:.0f}%",
                f"{m.machine_idle_pct:.0f}%",
            ]
        )
    headers = [
        "system",
        "N",
        "P",
        "load",
        "offered/s",
        "delivered/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "kept up",
        "server CPU",
        "gen CPU",
        "idle",
    ]
    return format_table(headers, rows)


def ratio_table(measurements: Sequence[Measurement]) -> str:
    index = _index(measurements)
    rows = []
    configs = sorted({(m.members, m.publishers) for m in measurements})
    for members, publishers in configs:
        ours = index.get(("stuttgart", members, publishers, SATURATION))
        redis = index.get(("redis", members, publishers, SATURATION))
        naive = index.get(("naive", members, publishers, SATURATION))
        ours50 = index.get(("stuttgart", members, publishers, "50k"))
        redis50 = index.get(("redis", members, publishers, "50k"))
        rows.append(
            [
                str(members),
                str(publishers),
                fmt_rate(ours.delivered_rate) if ours else "-",
                fmt_rate(redis.delivered_rate) if redis else "-",
                fmt_rate(naive.delivered_rate) if naive else "-",
                fmt_ratio(_ratio(ours, redis, "delivered_rate")),
                fmt_ratio(_ratio(ours, naive, "delivered_rate")),
                fmt_ratio(_ratio(ours50, redis50, "p99_ms")),
            ]
        )
    headers = [
        "N",
        "P",
        "ours sat/s",
        "Redis sat/s",
        "naive sat/s",
        "ours/Redis",
        "ours/naive",
        "p99@50k ours/Redis",
    ]
    return format_table(headers, rows)


def evaluate_targets(measurements: Sequence[Measurement]) -> list[dict[str, Any]]:
    index = _index(measurements)
    targets: list[dict[str, Any]] = []

    def add(name: str, met: bool | None, detail: str) -> None:
        targets.append({"target": name, "met": met, "detail": detail})

    for members in (100, 500):
        for publishers in sorted({m.publishers for m in measurements if m.members == members}):
            ours = index.get(("stuttgart", members, publishers, SATURATION))
            redis = index.get(("redis", members, publishers, SATURATION))
            naive = index.get(("naive", members, publishers, SATURATION))
            vs_redis = _ratio(ours, redis, "delivered_rate")
            vs_naive = _ratio(ours, naive, "delivered_rate")
            add(
                f"fan-out N={members} P={publishers}: >= 0.5x Redis",
                None if math.isnan(vs_redis) else vs_redis >= 0.5,
                "-" if math.isnan(vs_redis) else f"{vs_redis:.3f}x of Redis",
            )
            add(
                f"fan-out N={members} P={publishers}: >= 3x naive relay",
                None if math.isnan(vs_naive) else vs_naive >= 3.0,
                "-" if math.isnan(vs_naive) else f"{vs_naive:.2f}x of naive",
            )
    ours = index.get(("stuttgart", 10, 1, "50k"))
    redis = index.get(("redis", 10, 1, "50k"))
    p99 = _ratio(ours, redis, "p99_ms")
    add(
        "p99 at 50k deliveries/s offered, N=10: within 2x Redis",
        None if math.isnan(p99) else p99 <= 2.0,
        f"ours {fmt_ms(ours.p99_ms) if ours else '-'} ms vs Redis "
        f"{fmt_ms(redis.p99_ms) if redis else '-'} ms ({fmt_ratio(p99)})",
    )
    ours = index.get(("stuttgart", 3, 2, "150k"))
    add(
        "150k deliveries/s offered, N=3, P=2: keeps up",
        None if ours is None else ours.kept_up,
        "-"
        if ours is None
        else f"delivered {fmt_rate(ours.delivered_rate)}/s of {fmt_rate(ours.target_rate)}/s "
        f"offered, p99 {fmt_ms(ours.p99_ms)} ms",
    )
    integrity = [
        m
        for m in measurements
        if m.load == SATURATION and (m.lost or m.order_errors or m.disconnected)
    ]
    saturation_runs = [m for m in measurements if m.load == SATURATION]
    add(
        "no message lost, per-sender order kept at saturation (all systems)",
        None if not saturation_runs else not integrity,
        "all runs complete and in order"
        if not integrity
        else "; ".join(
            f"{m.system} N={m.members} P={m.publishers}: lost {m.lost}" for m in integrity
        ),
    )
    return targets


def targets_table(targets: Sequence[dict[str, Any]]) -> str:
    def verdict(met: bool | None) -> str:
        return "n/a" if met is None else ("met" if met else "NOT met")

    rows = [[t["target"], verdict(t["met"]), t["detail"]] for t in targets]
    return format_table(["target", "result", "measured"], rows)


def plot(measurements: Sequence[Measurement], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        loud_note("matplotlib is not installed: no plot (pip install matplotlib)")
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 6))
    colours = {"stuttgart": "tab:blue", "redis": "tab:red", "naive": "tab:gray"}
    for system in SYSTEMS:
        for single in (True, False):
            points = sorted(
                (m.members, m.delivered_rate)
                for m in measurements
                if m.system == system
                and m.load == SATURATION
                and (m.publishers == 1) == single
                and not (m.members < 10 and not single and m.publishers != 2)
            )
            if points:
                left.plot(
                    [p[0] for p in points],
                    [p[1] for p in points],
                    marker="o",
                    linestyle="-" if single else "--",
                    color=colours[system],
                    label=f"{SYSTEM_LABELS[system]}, P={'1' if single else 'N/10 (2 at N=3)'}",
                )
        for load, style in (("50k", "-"), ("150k", ":"), (SATURATION, "--")):
            points = sorted(
                (m.members, m.p99_ms)
                for m in measurements
                if m.system == system and m.load == load and m.publishers == 1
            )
            if points:
                right.plot(
                    [p[0] for p in points],
                    [p[1] for p in points],
                    marker="o",
                    linestyle=style,
                    color=colours[system],
                    label=f"{SYSTEM_LABELS[system]} @ {load}",
                )
    left.set(xscale="log", yscale="log", xlabel="clients N", ylabel="deliveries/s")
    left.set_title("Throughput at saturation")
    right.set(xscale="log", yscale="log", xlabel="clients N", ylabel="p99 latency (ms)")
    right.set_title("p99 end-to-end latency, P=1")
    for axis in (left, right):
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -- profiling ------------------------------------------------------------------------------


def profile_server(
    settings: Settings, members: int, publishers: int, seconds: float
) -> dict[str, Any]:
    """Saturate the real server and sample it with py-spy: a flame graph, then all
    non-idle threads, then only the thread holding the GIL (where the CPU goes in a
    GIL-bound process). The sampling rate drops with the thread count, because py-spy
    reads every thread's stack on each sample."""
    benchlib.py_spy_binary()  # raises FileNotFoundError if it is missing
    long_settings = Settings(**{**asdict(settings), "measure": seconds + 6.0, "warmup": 1.0})
    report: dict[str, Any] = {"members": members, "publishers": publishers, "seconds": seconds}
    prefix = f"profile-{members}x{publishers}"
    with Session("stuttgart", members, publishers, long_settings) as session:
        process, _ = session.ensure()
        threads = benchlib.thread_count(process.pid)
        rate = max(5, min(200, 20_000 // max(1, threads)))
        # At least ~400 sampling ticks per pass, however slow the sampling has to be.
        duration = max(int(seconds), math.ceil(400 / rate))
        long_settings.measure = duration + 6.0
        report.update(server_threads=threads, rate=rate, seconds=duration)
        passes: tuple[tuple[str, str, list[str]], ...] = (
            ("flamegraph", f"{prefix}.svg", []),
            ("raw", f"{prefix}-busy.txt", []),
            ("raw", f"{prefix}-gil.txt", ["--gil"]),
        )
        for fmt, filename, extra in passes:
            run = _BackgroundRun(session, long_settings)
            try:
                time.sleep(long_settings.warmup + 0.5)
                out = benchlib.RESULTS_DIR / filename
                command = ["record", "--pid", str(process.pid), "--duration", str(duration)]
                command += ["--rate", str(rate), "--format", fmt, "--nonblocking", "-o", str(out)]
                completed = benchlib.run_py_spy([*command, *extra], timeout=duration * 4 + 30)
                if completed.returncode != 0:
                    raise RuntimeError(f"py-spy failed: {completed.stderr.strip()[-500:]}")
            finally:
                figures = run.finish()
            keys = ("delivered_rate", "p99_ms", "sut_cpu_pct")
            report.setdefault("load_during_profile", []).append(
                {"pass": filename, **{k: figures[k] for k in keys}}
            )
        for name in ("busy", "gil"):
            parsed = benchlib.parse_py_spy_raw(
                (benchlib.RESULTS_DIR / f"{prefix}-{name}.txt").read_text()
            )
            total = max(1, parsed["samples"])

            def top(counter: Counter[str], n: int, total: int = total) -> list[tuple[str, float]]:
                return [(k, round(100 * c / total, 1)) for k, c in counter.most_common(n)]

            report[name] = {
                "samples": parsed["samples"],
                "self": top(parsed["self"], 25),
                "inclusive": top(parsed["inclusive"], 40),
                "lines": top(parsed["lines"], 30),
            }
        # Samples in which some thread held the GIL, out of all sampling ticks.
        report["gil_held_fraction"] = report["gil"]["samples"] / (rate * duration)
    return report


class _BackgroundRun:
    """A saturation run on a thread, so py-spy can sample while it goes."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.figures: dict[str, Any] = {}
        self.error: BaseException | None = None

        def target() -> None:
            try:
                self.figures = run_once(session, SATURATION, 0.0, int(time.monotonic() * 1000))
            except BaseException as exc:  # noqa: BLE001 - re-raised by finish()
                self.error = exc

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()
        self.timeout = settings.warmup + settings.measure + settings.drain + 60

    def finish(self) -> dict[str, Any]:
        self.thread.join(self.timeout)
        if self.thread.is_alive():
            raise TimeoutError("the profiled run did not finish")
        if self.error is not None:
            raise self.error
        return self.figures


def profile_tables(report: dict[str, Any]) -> str:
    parts = [
        f"Server threads: {report['server_threads']}, sampled at {report['rate']} Hz for "
        f"{report['seconds']:g} s per pass. Some thread held the GIL in "
        f"{report['gil_held_fraction'] * 100:.0f}% of the sampling ticks.\n\n"
    ]
    load = report.get("load_during_profile", [])
    if load:
        rows = [
            [
                x["pass"],
                fmt_rate(x["delivered_rate"]),
                fmt_ms(x["p99_ms"]),
                f"{x['sut_cpu_pct']:.0f}%",
            ]
            for x in load
        ]
        parts.append(format_table(["pass", "delivered/s", "p99 ms", "server CPU"], rows) + "\n\n")
    for name, title in (("gil", "holding the GIL"), ("busy", "all non-idle threads")):
        data = report.get(name)
        if not data:
            continue
        parts.append(f"Self time, {title} ({data['samples']} samples):\n\n")
        rows = [[f, f"{pct:.1f}%"] for f, pct in data["self"][:15]]
        parts.append(format_table(["function (file)", "self"], rows) + "\n\n")
        parts.append(f"Hottest lines, {title}:\n\n")
        rows = [[f, f"{pct:.1f}%"] for f, pct in data["lines"][:15]]
        parts.append(format_table(["line", "self"], rows) + "\n\n")
        parts.append(f"Inclusive time, {title}:\n\n")
        rows = [[f, f"{pct:.1f}%"] for f, pct in data["inclusive"][:20]]
        parts.append(format_table(["function (file)", "inclusive"], rows) + "\n\n")
    return "".join(parts)


# -- main --------------------------------------------------------------------------------------


def parse_configs(text: str) -> list[tuple[int, int]]:
    configs = []
    for item in text.split(","):
        members, _, publishers = item.strip().partition("x")
        configs.append((int(members), int(publishers)))
    return configs


def default_configs(quick: bool) -> list[tuple[int, int]]:
    return list(QUICK_CONFIGS if quick else FULL_CONFIGS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~1 minute smoke run")
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure (median)")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="stuttgart,redis,naive")
    parser.add_argument("--configs", help="NxP list, e.g. 3x1,100x10 (default: all)")
    parser.add_argument("--measure", type=float, help="seconds measured per run (3; quick 1)")
    parser.add_argument("--workers", type=int, default=2, help="generator processes")
    parser.add_argument(
        "--window",
        type=int,
        default=100_000,
        help="saturation: deliveries in flight (closed loop; at most 9000 per client)",
    )
    parser.add_argument(
        "--verifiers",
        type=int,
        default=8,
        help="clients per run that decode every chat (order check, latency); the others "
        "count chats at C speed; 0 = all decode (default 8)",
    )
    parser.add_argument("--profile", action="store_true", help="also profile the server")
    parser.add_argument("--profile-only", action="store_true", help="only profile the server")
    parser.add_argument(
        "--profile-config", default="3x1,100x10,500x50", help="NxP list to profile under"
    )
    parser.add_argument("--profile-seconds", type=float, default=8.0)
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument(
        "--rev", help="run the server from this git revision (e.g. HEAD), not the work tree"
    )
    parser.add_argument("--tag", help="suffix for the result files (fanout-TAG.json)")
    parser.add_argument("--replot", metavar="JSON", help="only redraw the plot of a result file")
    args = parser.parse_args(argv)
    if args.replot:
        source = Path(args.replot)
        saved = json.loads(source.read_text())
        measurements = [Measurement(**m) for m in saved["measurements"]]
        image = plot(measurements, source.with_suffix(".png"))
        print(f"wrote {image}")
        return 0
    revision = benchlib.use_snapshot(args.rev)

    benchlib.raise_nofile_limit(16_384)
    measure = args.measure or (1.0 if args.quick else 3.0)
    settings = Settings(
        measure=measure,
        warmup=0.3 if args.quick else 0.5,
        drain=5.0 if args.quick else 8.0,
        workers=args.workers,
        window_deliveries=args.window,
        repeat=max(1, args.repeat),
        setup_timeout=60.0,
        verifiers=args.verifiers,
    )
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    configs = parse_configs(args.configs) if args.configs else default_configs(args.quick)
    clock = benchlib.Stopwatch()
    machine = benchlib.machine_info()
    machine["git_revision"] = revision
    note(
        f"machine: {machine['nproc']} x {machine['cpu_model']}, Python {machine['python']}, "
        f"server at {revision}"
    )
    data: dict[str, Any] = {"machine": machine, "settings": asdict(settings), "quick": args.quick}
    if "redis" in systems and benchlib.redis_binary() is None:
        loud_note(
            "redis-server is not installed: the Redis baseline is SKIPPED "
            "(apt-get install -y redis-server)"
        )
        systems.remove("redis")
        data["skipped"] = {"redis": "redis-server not installed"}
    markdown: list[str] = []
    name = "fanout" + ("-quick" if args.quick else "")
    name += f"-repeat{settings.repeat}" if settings.repeat > 1 else ""
    name += f"-{args.tag}" if args.tag else ""
    if not args.profile_only:
        measurements, skipped = measure_all(systems, configs, settings, args.quick)
        data.setdefault("skipped", {}).update(skipped)
        targets = evaluate_targets(measurements)
        data["measurements"] = [asdict(m) for m in measurements]
        data["targets"] = targets
        markdown += [
            "All runs:\n\n" + results_table(measurements),
            "Saturation throughput and ratios:\n\n" + ratio_table(measurements),
            "Targets:\n\n" + targets_table(targets),
        ]
        if not args.no_plot and plot(measurements, benchlib.RESULTS_DIR / f"{name}.png"):
            data["plot"] = f"{name}.png"
    if args.profile or args.profile_only:
        data["profiles"] = []
        for members, publishers in parse_configs(args.profile_config):
            report = profile_server(settings, members, publishers, args.profile_seconds)
            data["profiles"].append(report)
            benchlib.write_json(f"profile-{members}x{publishers}.json", report)
            markdown.append(
                f"Profile of the server, N={members} P={publishers} at saturation:\n\n"
                + profile_tables(report)
            )
    data["seconds"] = round(clock.elapsed, 1)
    if not args.profile_only:
        benchlib.write_json(f"{name}.json", data)
        benchlib.write_text(f"{name}.md", "\n\n".join(markdown) + "\n")
    else:
        benchlib.write_text("profile.md", "\n\n".join(markdown) + "\n")
    print("\n\n".join(markdown))
    print(f"\nfanout finished in {clock.elapsed:.0f} s; results in {benchlib.RESULTS_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
