"""Hold-back queue benchmark: the pure ``HoldBackQueue`` under the worst arrival order.

For 10k, 100k and 1M messages from 10 and 100 senders it builds a causally consistent
run in which every message depends on all the messages before it (sender ``i % S``
sends message ``i``; its clock counts everything sent so far), then feeds the run in
reverse: every message arrives before all of its causes. All but the last arrival
are held; the last one (the very first message) releases the whole run in one
cascade. For reference it also feeds the same run in causal order (every arrival
delivered at once).

Figures: messages released per second (N / time of all ``add`` calls), the split
into holding and the release cascade, microseconds per message (time(N)/N, constant
if growth is linear), and the memory a held message costs. Each case runs in a fresh
process so sizes do not share heaps or GC state.

    .venv/bin/python bench/holdback.py            # 10k, 100k, 1M (about 2-4 min)
    .venv/bin/python bench/holdback.py --quick    # skips 1M

Writes bench/results/holdback.json, holdback.md and holdback.png.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import benchlib
from benchlib import fmt_rate, format_table, loud_note, note

from stuttgart_chat.common.holdback import DELIVERED, HELD, HoldBackQueue
from stuttgart_chat.common.protocol import Chat

SIZES = (10_000, 100_000, 1_000_000)
SENDERS = (10, 100)
TARGETS = {10: 500_000.0, 100: 100_000.0}  # messages/s at 1M, worst order
CASE_TIMEOUT = 900.0  # seconds for one case process
# Linear: us/msg grows by at most this factor per tenfold N (quadratic would be 10x).
LINEAR_TOLERANCE = 1.5


def causal_run(messages: int, senders: int) -> list[Chat]:
    """Message i is sent by sender i % S after it has seen messages 0..i-1."""
    names = [f"s{i:03d}" for i in range(senders)]
    counts: dict[str, int] = {}
    run = []
    for i in range(messages):
        sender = names[i % senders]
        counts[sender] = counts.get(sender, 0) + 1
        run.append(Chat(text="", vc=dict(counts), sender=sender))
    return run


def rss_kib(key: str = "VmRSS") -> int:
    return benchlib.status_kib(os.getpid(), key)


def run_case(messages: int, senders: int) -> dict[str, Any]:
    """One size in this process: worst order, then causal order on a fresh queue."""
    built = time.perf_counter()
    run = causal_run(messages, senders)
    build_seconds = time.perf_counter() - built
    gc.collect()
    rss_before = rss_kib()

    queue = HoldBackQueue()
    add = queue.add
    started = time.perf_counter()
    for message in run[:0:-1]:  # every message but the first, last one first
        if add(message).outcome != HELD:
            raise AssertionError("a message arrived before its causes but was not held")
    held_at = time.perf_counter()
    rss_all_held = rss_kib()
    final = add(run[0])
    finished = time.perf_counter()
    if final.outcome != DELIVERED or len(final.delivered) != messages:
        raise AssertionError(f"release delivered {len(final.delivered)} of {messages}")
    if any(a is not b for a, b in zip(final.delivered, run, strict=True)) or len(queue):
        raise AssertionError("the release was not in causal order or left messages held")
    del final, queue

    queue = HoldBackQueue()
    add = queue.add
    in_order_started = time.perf_counter()
    for message in run:
        add(message)
    in_order_seconds = time.perf_counter() - in_order_started
    if queue.clock.to_dict() != run[-1].vc:
        raise AssertionError("causal-order feed did not deliver everything")

    worst = finished - started
    return {
        "messages": messages,
        "senders": senders,
        "clock_entries": min(senders, messages),
        "build_seconds": build_seconds,
        "worst_seconds": worst,
        "hold_seconds": held_at - started,
        "release_seconds": finished - held_at,
        "worst_rate": messages / worst,
        "worst_us_per_msg": worst / messages * 1e6,
        "in_order_seconds": in_order_seconds,
        "in_order_rate": messages / in_order_seconds,
        "held_bytes_per_msg": (rss_all_held - rss_before) * 1024 / messages,
        "peak_rss_mib": rss_kib("VmHWM") / 1024,
        "gc_enabled": gc.isenabled(),
    }


def run_case_process(messages: int, senders: int, no_gc: bool) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--case", str(messages), str(senders)]
    if no_gc:
        argv.append("--no-gc")
    completed = subprocess.run(
        argv, capture_output=True, text=True, timeout=CASE_TIMEOUT, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"case {messages}x{senders} failed ({completed.returncode}): "
            f"{completed.stderr.strip()[-2000:]}"
        )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def memory_estimate(results: Sequence[dict[str, Any]], messages: int, senders: int) -> float:
    """Bytes a case will need, extrapolated from the largest smaller case."""
    smaller = [r for r in results if r["senders"] == senders and r["messages"] < messages]
    if not smaller:
        return 0.0
    largest = max(smaller, key=lambda r: r["messages"])
    per_message = float(largest["peak_rss_mib"]) * 2**20 / int(largest["messages"])
    return per_message * messages * 1.15


def linearity(results: Sequence[dict[str, Any]], senders: int) -> dict[str, Any]:
    """How time(N)/N grows from each size to the next, normalised per tenfold N."""
    rows = sorted((r for r in results if r["senders"] == senders), key=lambda r: r["messages"])
    if len(rows) < 2:
        return {"senders": senders, "steps": [], "linear": None}
    steps = []
    for small, large in zip(rows, rows[1:], strict=False):
        decades = math.log10(large["messages"] / small["messages"])
        growth = large["worst_us_per_msg"] / small["worst_us_per_msg"]
        steps.append(
            {
                "from": small["messages"],
                "to": large["messages"],
                "us_per_msg_ratio": growth,
                "per_decade": growth ** (1 / decades) if decades > 0 else math.nan,
            }
        )
    worst = max(step["per_decade"] for step in steps)
    return {"senders": senders, "steps": steps, "linear": worst <= LINEAR_TOLERANCE}


def results_table(results: Sequence[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        rows.append(
            [
                f"{r['messages']:,}",
                str(r["senders"]),
                f"{r['worst_seconds']:.2f}",
                f"{r['hold_seconds']:.2f} / {r['release_seconds']:.2f}",
                fmt_rate(r["worst_rate"]),
                f"{r['worst_us_per_msg']:.2f}",
                fmt_rate(r["in_order_rate"]),
                f"{r['held_bytes_per_msg'] / 1024:.1f}",
                f"{r['peak_rss_mib']:.0f}",
            ]
        )
    headers = [
        "messages",
        "senders",
        "worst order s",
        "hold / release s",
        "released/s",
        "us/msg = t(N)/N",
        "in order/s",
        "KiB per held msg",
        "peak RSS MiB",
    ]
    return format_table(headers, rows)


def targets_table(
    results: Sequence[dict[str, Any]], skipped: Sequence[str]
) -> tuple[str, list[dict[str, Any]]]:
    targets: list[dict[str, Any]] = []
    for senders, goal in TARGETS.items():
        at_1m = [r for r in results if r["senders"] == senders and r["messages"] == 1_000_000]
        rate = at_1m[0]["worst_rate"] if at_1m else math.nan
        if at_1m:
            detail = f"{fmt_rate(rate)} msg/s"
        else:
            detail = "not run: " + ("; ".join(skipped) if skipped else "--quick or --sizes")
        targets.append(
            {
                "target": f"1M messages worst order, {senders} senders: >= {fmt_rate(goal)} msg/s",
                "met": None if math.isnan(rate) else rate >= goal,
                "detail": detail,
            }
        )
        lin = linearity(results, senders)
        detail = ", ".join(
            f"t/N at {step['to']:,} / at {step['from']:,} = {step['us_per_msg_ratio']:.2f}"
            for step in lin["steps"]
        )
        targets.append(
            {
                "target": f"linear growth, {senders} senders "
                f"(t(N)/N grows <= {LINEAR_TOLERANCE}x per tenfold N)",
                "met": lin["linear"],
                "detail": detail or "-",
            }
        )
    rows = [
        [
            t["target"],
            "n/a" if t["met"] is None else ("met" if t["met"] else "NOT met"),
            t["detail"],
        ]
        for t in targets
    ]
    return format_table(["target", "result", "measured"], rows), targets


def plot(results: Sequence[dict[str, Any]], name: str) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        loud_note("matplotlib is not installed: no plot (pip install matplotlib)")
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for senders, colour in zip(SENDERS, ("tab:blue", "tab:orange"), strict=True):
        rows = sorted((r for r in results if r["senders"] == senders), key=lambda r: r["messages"])
        if not rows:
            continue
        sizes = [r["messages"] for r in rows]
        worst = [r["worst_seconds"] for r in rows]
        in_order = [r["in_order_seconds"] for r in rows]
        per_message = [r["worst_us_per_msg"] for r in rows]
        left.plot(sizes, worst, "o-", color=colour, label=f"{senders} senders, worst order")
        left.plot(sizes, in_order, "o:", color=colour, label=f"{senders} senders, causal order")
        right.plot(sizes, per_message, "o-", color=colour, label=f"{senders} senders")
    left.set(xscale="log", yscale="log", xlabel="messages N", ylabel="seconds")
    left.set_title("Time to feed N messages")
    right.set(xscale="log", xlabel="messages N", ylabel="microseconds per message")
    right.set_title("time(N)/N, worst order (flat = linear)")
    right.set_ylim(bottom=0)
    for axis in (left, right):
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    fig.tight_layout()
    path = benchlib.RESULTS_DIR / f"{name}.png"
    benchlib.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip 1M messages")
    parser.add_argument("--sizes", help="comma-separated message counts")
    parser.add_argument("--senders", help="comma-separated sender counts (default 10,100)")
    parser.add_argument("--no-gc", action="store_true", help="run with the cyclic GC disabled")
    parser.add_argument(
        "--rev", help="measure stuttgart_chat from this git revision (e.g. HEAD), not the work tree"
    )
    parser.add_argument("--tag", help="suffix for the result files (holdback-TAG.json)")
    parser.add_argument("--case", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.no_gc:
        gc.disable()
    if args.case:
        print(json.dumps(run_case(*args.case)))
        return 0

    revision = benchlib.use_snapshot(args.rev)  # the case processes import from it
    clock = benchlib.Stopwatch()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else list(SIZES)
    if args.quick:
        sizes = [s for s in sizes if s < 1_000_000]
    senders_list = [int(s) for s in args.senders.split(",")] if args.senders else list(SENDERS)
    results: list[dict[str, Any]] = []
    skipped: list[str] = []
    for senders in senders_list:
        for messages in sizes:
            need = memory_estimate(results, messages, senders)
            available = benchlib.mem_available_bytes()
            if need and available and need > 0.8 * available:
                reason = (
                    f"{messages:,}x{senders} needs ~{need / 2**30:.1f} GiB, "
                    f"only {available / 2**30:.1f} GiB available"
                )
                loud_note(f"SKIPPING {reason}")
                skipped.append(reason)
                continue
            note(f"holdback: {messages:,} messages from {senders} senders ...")
            result = run_case_process(messages, senders, args.no_gc)
            results.append(result)
            note(
                f"  worst order {result['worst_seconds']:.2f} s = "
                f"{fmt_rate(result['worst_rate'])} msg/s "
                f"({result['worst_us_per_msg']:.2f} us/msg), "
                f"in order {fmt_rate(result['in_order_rate'])} msg/s, "
                f"peak RSS {result['peak_rss_mib']:.0f} MiB"
            )
    table = results_table(results)
    targets_text, targets = targets_table(results, skipped)
    lin = [linearity(results, s) for s in senders_list]
    data = {
        "machine": {**benchlib.machine_info(), "git_revision": revision},
        "gc_enabled": not args.no_gc,
        "results": results,
        "linearity": lin,
        "targets": targets,
        "skipped": skipped,
        "seconds": round(clock.elapsed, 1),
    }
    name = "holdback" + ("-quick" if args.quick else "") + (f"-{args.tag}" if args.tag else "")
    image = plot(results, name)
    if image:
        data["plot"] = image
    benchlib.write_json(f"{name}.json", data)
    markdown = f"{table}\n\nTargets:\n\n{targets_text}\n"
    benchlib.write_text(f"{name}.md", markdown)
    print(markdown)
    print(f"holdback finished in {clock.elapsed:.0f} s; results in {benchlib.RESULTS_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
