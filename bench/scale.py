"""Scale benchmark: 1,000 concurrent clients on one Stuttgart Chat server, and what
the vector clock costs on the wire as the group grows.

1. 1,000 raw-socket clients (from a few generator processes, bench/loadgen.py) join
   one server started in its own process: time until the last WELCOME, the server's
   peak RSS (``VmHWM``) and thread count (``/proc/<pid>/status``).
2. One chat is sent and must reach all 999 other members: time to the last delivery.
3. Clock size: for 3, 100 and 1,000 members, every member speaks once (each delivered
   to everyone), then one member that has delivered all of them speaks again with its
   whole clock, as a real client would. The size of the CHAT frame the others actually
   receive is measured, and compared with what more compact clock encodings would
   take (measured on the same clock; nothing in the protocol is changed).

    .venv/bin/python bench/scale.py            # about 1-2 minutes
    .venv/bin/python bench/scale.py --quick    # 3 and 100 members for the clock size

Writes bench/results/scale.json and scale.md. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
import timeit
from collections.abc import Sequence
from typing import Any

import benchlib
from benchlib import fmt_rate, format_table, median, note
from loadgen import Generator, RunResult, RunSpec, Wire, make_specs, now_us

CLIENTS = 1_000
CLOCK_SIZES = (3, 100, 1_000)
JOIN_TARGET_SECONDS = 10.0
RSS_TARGET_MIB = 200.0
GENERATOR_WORKERS = 4
ONE_CHAT_REPEATS = 5  # the same single chat, one after the other
HANDSHAKES_IN_FLIGHT = 60  # the server refuses more than 64 unjoined connections
TEXT = "x" * 100


def _spec(
    run_id: int,
    fanout: int,
    *,
    active: int,
    window_msgs: int,
    full_clock: bool = False,
    deadline: float = 120.0,
) -> RunSpec:
    start = now_us() + 100_000
    end = start + int(deadline * 1e6)
    return RunSpec(
        run_id=run_id,
        t_start_us=start,
        window_start_us=start,
        window_end_us=end,
        t_stop_us=end,
        drain_deadline_us=end,
        rate_per_publisher=0.0,
        window_msgs=window_msgs,
        guard_msgs=window_msgs,
        count_per_publisher=1,
        fanout=fanout,
        latency_stride=1,
        full_clock=full_clock,
        active_publishers=active,
    )


def _check(result: RunResult, what: str) -> None:
    if not result.drained or result.lost or result.order_errors or result.disconnected:
        raise RuntimeError(
            f"{what}: drained={result.drained} lost={result.lost} "
            f"order_errors={result.order_errors} disconnected={result.disconnected} "
            f"errors={result.server_errors[:3]}"
        )


def _delivery_seconds(result: RunResult) -> float:
    return (result.last_chat_us - result.first_send_us) / 1e6


def server_snapshot(pid: int) -> dict[str, Any]:
    return {
        "rss_mib": benchlib.status_kib(pid, "VmRSS") / 1024,
        "peak_rss_mib": benchlib.status_kib(pid, "VmHWM") / 1024,
        "threads": benchlib.thread_count(pid),
    }


def clock_encodings(vc: dict[str, int], sender: str, previous: dict[str, int]) -> dict[str, Any]:
    """Bytes of the same clock in the current and in more compact encodings."""
    as_json = json.dumps(vc, separators=(",", ":"))
    counts = list(vc.values())
    varint = sum(1 if c < 0x80 else 2 if c < 0x4000 else 3 for c in counts)
    changed = {k: v for k, v in vc.items() if previous.get(k, 0) != v}
    return {
        "entries": len(vc),
        "json_names": len(as_json.encode()),
        "json_array_by_join_index": len(json.dumps(counts, separators=(",", ":")).encode()),
        "binary_varint_by_index": 2 + varint,
        "delta_entries_since_senders_previous": len(changed),
        "delta_json_bytes": len(json.dumps(changed, separators=(",", ":")).encode()),
        "sender": sender,
    }


def codec_costs(vc: dict[str, int], sender: str) -> dict[str, float]:
    """What the current encoding costs in CPU: the server's decode + validation of the
    client's frame, its one encode for relaying, and each receiver's decode."""
    # Imported here, after --rev may have put a pinned revision first on sys.path.
    from stuttgart_chat.common.protocol import FROM_CLIENT, Chat, parse_message
    from stuttgart_chat.network.messenger import decode_body, encode_frame

    client_body = json.dumps({"type": "CHAT", "text": TEXT, "vc": vc}, separators=(",", ":"))
    client_bytes = client_body.encode()
    relayed = Chat(text=TEXT, vc=vc, sender=sender)
    relayed_frame = encode_frame(relayed.to_wire())

    def server_decode() -> None:
        parse_message(decode_body(client_bytes), FROM_CLIENT)

    def server_encode() -> None:
        encode_frame(relayed.to_wire())

    def client_decode() -> None:
        parse_message(decode_body(relayed_frame[4:]))

    costs = {}
    for name, function in (
        ("server_decode_validate_us", server_decode),
        ("server_encode_us", server_encode),
        ("receiver_decode_us", client_decode),
    ):
        runs, seconds = timeit.Timer(function).autorange()
        costs[name] = seconds / runs * 1e6
    return costs


def clock_size_case(members: int, workers: int, run_ids: list[int]) -> dict[str, Any]:
    """Everyone speaks once; then member 0 speaks with the clock of all it delivered."""
    server = benchlib.start_stuttgart_server()
    try:
        specs, fanout = make_specs(Wire.CHAT, members, members)
        with Generator(Wire.CHAT, (server.host, server.port), specs, workers) as generator:
            generator.start(120.0, HANDSHAKES_IN_FLIGHT)
            run_ids[0] += 1
            # Each member receives at most members - 1 frames here, far below the
            # server's outbox limit, so every chat may be in flight at once.
            everyone = _spec(run_ids[0], fanout, active=0, window_msgs=members)
            round_one = generator.run(everyone, 180.0)
            _check(round_one, f"{members} members, everyone speaks")
            run_ids[0] += 1
            full = _spec(run_ids[0], fanout, active=1, window_msgs=1, full_clock=True)
            last = generator.run(full, 60.0)
            _check(last, f"{members} members, full-clock chat")
            sent = list(generator.shared.sent)
    finally:
        server.stop()
    sender = specs[0].name
    # The clock member 0 sent: everything it delivered, and its own count.
    vc = {spec.name: sent[spec.publisher] for spec in specs}
    previous = {sender: sent[0] - 1}  # its first chat claimed only itself
    relayed = {"type": "CHAT", "sender": sender, "text": _text_like(), "vc": vc}
    expected = 4 + len(json.dumps(relayed, separators=(",", ":")).encode())
    encodings = clock_encodings(vc, sender, previous)
    frame = last.max_chat_frame
    return {
        "members": members,
        "frame_bytes_received": frame,
        "frame_bytes_expected": expected,
        "text_bytes": 100,
        "clock_share": encodings["json_names"] / frame if frame else math.nan,
        "egress_bytes_per_chat": frame * (members - 1),
        "everyone_speaks_seconds": _delivery_seconds(round_one),
        "everyone_speaks_deliveries": round_one.run_deliveries,
        "everyone_speaks_rate": round_one.run_deliveries / max(1e-9, _delivery_seconds(round_one)),
        "encodings": encodings,
        "codec_costs": codec_costs(vc, sender),
    }


def _text_like() -> str:
    # Same length and shape as the generator's texts (digits, spaces and padding).
    return "0" * 34 + "x" * 66


def thousand_clients(workers: int, run_ids: list[int], profile: bool) -> dict[str, Any]:
    server = benchlib.start_stuttgart_server()
    report: dict[str, Any] = {"clients": CLIENTS}
    spy: subprocess.Popen[bytes] | None = None
    try:
        report["idle_server"] = server_snapshot(server.pid)
        specs, fanout = make_specs(Wire.CHAT, CLIENTS, CLIENTS)
        with Generator(Wire.CHAT, (server.host, server.port), specs, workers) as generator:
            if profile:
                spy = _start_join_profile(server.pid)
            cpu_before = benchlib.cpu_times(server.pid)
            joins = generator.start(120.0, HANDSHAKES_IN_FLIGHT)
            cpu_after = benchlib.cpu_times(server.pid)
            report["join_seconds"] = max(j["finished"] for j in joins) - min(
                j["started"] for j in joins
            )
            report["join_server_cpu"] = {
                "user_seconds": cpu_after[0] - cpu_before[0],
                "system_seconds": cpu_after[1] - cpu_before[1],
            }
            report["join_retries"] = sum(j["retries"] for j in joins)
            joined = sorted(t for j in joins for t in j["joined_at"])
            first = min(j["started"] for j in joins)
            report["join_seconds_per_100"] = [
                joined[min(i + 99, len(joined) - 1)] - (joined[i - 1] if i else first)
                for i in range(0, len(joined), 100)
            ]
            if spy is not None:
                report["join_profile"] = _finish_join_profile(spy)
                spy = None
            time.sleep(1.0)  # let the JOINED broadcasts settle before measuring
            report["after_join"] = server_snapshot(server.pid)
            times = []
            for _ in range(ONE_CHAT_REPEATS):
                run_ids[0] += 1
                one = generator.run(_spec(run_ids[0], fanout, active=1, window_msgs=1), 60.0)
                _check(one, "one chat to 1,000 members")
                times.append(_delivery_seconds(one))
                report["one_chat_recipients"] = one.run_deliveries
            # The first chat after the joins is the cold one; the rest show steady state.
            report["one_chat_seconds_first"] = times[0]
            report["one_chat_seconds"] = median(times[1:])
            report["one_chat_seconds_all"] = times
            report["after_one_chat"] = server_snapshot(server.pid)
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
            spy.wait(5)
        server.stop()
    return report


PROFILE_RATE = 20  # Hz: py-spy reads all ~2,000 thread stacks on every sample
PROFILE_SECONDS = 20


def _start_join_profile(pid: int) -> subprocess.Popen[bytes]:
    out = benchlib.RESULTS_DIR / "profile-join-gil.txt"
    command = [benchlib.py_spy_binary(), "record", "--pid", str(pid), "--gil", "--nonblocking"]
    command += ["--rate", str(PROFILE_RATE), "--duration", str(PROFILE_SECONDS)]
    command += ["--format", "raw", "-o", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _finish_join_profile(spy: subprocess.Popen[bytes]) -> dict[str, Any]:
    try:
        spy.wait(PROFILE_SECONDS * 4 + 30)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait(5)
        raise RuntimeError("py-spy did not finish") from None
    parsed = benchlib.parse_py_spy_raw((benchlib.RESULTS_DIR / "profile-join-gil.txt").read_text())
    total = max(1, parsed["samples"])

    def top(counter: Any, n: int) -> list[tuple[str, float]]:
        return [(k, round(100 * c / total, 1)) for k, c in counter.most_common(n)]

    return {
        "samples": parsed["samples"],
        "rate": PROFILE_RATE,
        "seconds": PROFILE_SECONDS,
        "gil_held_fraction": parsed["samples"] / (PROFILE_RATE * PROFILE_SECONDS),
        "self": top(parsed["self"], 20),
        "lines": top(parsed["lines"], 20),
        "inclusive": top(parsed["inclusive"], 30),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="clock sizes for 3 and 100 only")
    parser.add_argument("--workers", type=int, default=GENERATOR_WORKERS)
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the server while 1,000 clients join"
    )
    parser.add_argument(
        "--rev", help="run the server from this git revision (e.g. HEAD), not the work tree"
    )
    parser.add_argument("--tag", help="suffix for the result files (scale-TAG.json)")
    args = parser.parse_args(argv)

    revision = benchlib.use_snapshot(args.rev)
    clock = benchlib.Stopwatch()
    limit = benchlib.raise_nofile_limit(4 * CLIENTS + 512)
    if limit < 2 * CLIENTS + 64:
        raise SystemExit(f"RLIMIT_NOFILE is {limit}; need at least {2 * CLIENTS + 64}")
    run_ids = [0]
    note(f"scale: {CLIENTS} clients join ...")
    scale = thousand_clients(args.workers, run_ids, args.profile)
    note(
        f"  joined in {scale['join_seconds']:.2f} s; server RSS peak "
        f"{scale['after_one_chat']['peak_rss_mib']:.0f} MiB, "
        f"{scale['after_join']['threads']} threads; one chat reached "
        f"{scale['one_chat_recipients']} members in {scale['one_chat_seconds'] * 1000:.0f} ms "
        f"(first {scale['one_chat_seconds_first'] * 1000:.0f} ms)"
    )
    sizes = [s for s in CLOCK_SIZES if not (args.quick and s > 100)]
    clocks = []
    for members in sizes:
        note(f"scale: clock size with {members} members ...")
        case = clock_size_case(members, min(args.workers, members), run_ids)
        clocks.append(case)
        note(
            f"  CHAT frame received: {case['frame_bytes_received']} bytes "
            f"(everyone speaking once took {case['everyone_speaks_seconds']:.1f} s)"
        )

    peak = scale["after_one_chat"]["peak_rss_mib"]
    targets = [
        {
            "target": f"{CLIENTS:,} clients joined in < {JOIN_TARGET_SECONDS:g} s",
            "met": scale["join_seconds"] < JOIN_TARGET_SECONDS,
            "detail": f"{scale['join_seconds']:.2f} s",
        },
        {
            "target": f"server RSS < {RSS_TARGET_MIB:g} MB with {CLIENTS:,} clients",
            "met": peak < RSS_TARGET_MIB,
            "detail": f"peak {peak:.0f} MiB (VmHWM), {scale['after_join']['threads']} threads",
        },
        {
            "target": f"one chat delivered to all {CLIENTS:,}",
            "met": scale["one_chat_recipients"] == CLIENTS - 1,
            "detail": f"{scale['one_chat_recipients']} other members in "
            f"{scale['one_chat_seconds'] * 1000:.0f} ms",
        },
    ]
    scale_rows = [
        ["join time (last WELCOME)", f"{scale['join_seconds']:.2f} s"],
        ["server RSS idle / after join / peak", _rss_cell(scale)],
        ["server threads after join", str(scale["after_join"]["threads"])],
        [
            "one chat to all 999 others (first / median of next)",
            f"{scale['one_chat_seconds_first'] * 1000:.1f} / "
            f"{scale['one_chat_seconds'] * 1000:.1f} ms",
        ],
    ]
    clock_rows = []
    for case in clocks:
        enc = case["encodings"]
        costs = case["codec_costs"]
        clock_rows.append(
            [
                str(case["members"]),
                str(case["frame_bytes_received"]),
                f"{case['clock_share'] * 100:.0f}%",
                _bytes(case["egress_bytes_per_chat"]),
                str(enc["json_array_by_join_index"]),
                str(enc["binary_varint_by_index"]),
                f"{costs['server_decode_validate_us']:.0f} / {costs['server_encode_us']:.0f}",
                f"{costs['receiver_decode_us']:.0f}",
                f"{case['everyone_speaks_seconds']:.2f} s"
                + (
                    f" ({fmt_rate(case['everyone_speaks_rate'])}/s)"
                    if case["everyone_speaks_deliveries"] >= 10_000
                    else ""
                ),
            ]
        )
    clock_headers = [
        "members",
        "CHAT frame bytes",
        "clock share",
        "egress per chat",
        "clock as JSON array",
        "clock as varints",
        "server decode / encode us",
        "receiver decode us",
        "everyone speaks once (deliveries/s)",
    ]
    target_rows = [[t["target"], "met" if t["met"] else "NOT met", t["detail"]] for t in targets]
    markdown = "\n\n".join(
        [
            format_table(["1,000 clients", "measured"], scale_rows),
            "Clock size (frame a member receives when every member has spoken):\n\n"
            + format_table(clock_headers, clock_rows),
            "Targets:\n\n" + format_table(["target", "result", "measured"], target_rows),
        ]
    )
    data = {
        "machine": {**benchlib.machine_info(), "git_revision": revision},
        "scale": scale,
        "clock_sizes": clocks,
        "targets": targets,
        "seconds": round(clock.elapsed, 1),
    }
    if "join_profile" in scale and scale["join_profile"]["samples"] < 50:
        markdown += (
            f"\n\nProfile while {CLIENTS:,} clients join: only "
            f"{scale['join_profile']['samples']} GIL samples (the join was too short to "
            "profile; nothing to see)."
        )
    elif "join_profile" in scale:
        prof = scale["join_profile"]
        rows = [[f, f"{pct:.1f}%"] for f, pct in prof["self"][:12]]
        lines = [[f, f"{pct:.1f}%"] for f, pct in prof["lines"][:12]]
        markdown += (
            f"\n\nProfile while {CLIENTS:,} clients join (py-spy --gil, {prof['rate']} Hz, "
            f"{prof['seconds']} s; some thread held the GIL in "
            f"{prof['gil_held_fraction'] * 100:.0f}% of the ticks):\n\n"
            + format_table(["function (file)", "self"], rows)
            + "\n\n"
            + format_table(["line", "self"], lines)
        )
    name = "scale" + ("-quick" if args.quick else "") + (f"-{args.tag}" if args.tag else "")
    benchlib.write_json(f"{name}.json", data)
    benchlib.write_text(f"{name}.md", markdown + "\n")
    print(markdown)
    print(f"\nscale finished in {clock.elapsed:.0f} s; results in {benchlib.RESULTS_DIR}")
    return 0


def _rss_cell(scale: dict[str, Any]) -> str:
    idle = scale["idle_server"]["rss_mib"]
    joined = scale["after_join"]["rss_mib"]
    peak = scale["after_one_chat"]["peak_rss_mib"]
    return f"{idle:.0f} / {joined:.0f} / {peak:.0f} MiB"


def _bytes(count: float) -> str:
    if count >= 2**20:
        return f"{count / 2**20:.1f} MiB"
    if count >= 2**10:
        return f"{count / 2**10:.1f} KiB"
    return f"{count:.0f} B"


if __name__ == "__main__":
    sys.exit(main())
