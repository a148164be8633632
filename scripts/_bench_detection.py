#!/usr/bin/env python3
"""Incident detection latency: a commune's link starts losing packets → the province sees it.

Real processes, as in ``tests/controller/test_incidents_netem.py``: a province and a commune
``diemcau run`` inside a network namespace the bench creates, the commune in a call on
Debian's Janus (320x180@10, in the same namespace) with a second in-process publisher, so it
sends and receives. Each run: the commune joins a fresh call, the link stays clean for a few
seconds, then 10 % random UDP loss goes on (``tests.peers.impair``: this kernel has no
netem); the clock runs from the moment the loss is in place until the province's
``GET /api/v1/incidents`` (polled every 50 ms) lists a new ``loss_high``/``mos_low``
incident from the commune. Then the loss is removed, the call left, and its incidents
resolve before the next run.

Settings: the defaults (loss above 5 %, MOS below 3.1, onset 5 s) and the same with
``onset_seconds`` 1 and 0. Also one setting with the call 60 s old when the loss begins:
the samples of a Janus call are loss since the call began (see the report), so the age of
the call changes the figure. The comparison is computed, not measured: a Prometheus alert
scraping every 15 s with ``for: 1m`` fires 60-90 s after the condition begins.

    .venv/bin/python scripts/_bench_detection.py [--quick]

needs root; prints one JSON object on its last line. ``--quick``: one run each of the default
and the zero-onset settings (under a minute). `detection_latency(quick)` returns the same dict.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LOSS_PERCENT: Final = 10.0
POLL_SECONDS: Final = 0.05
CLEAN_SECONDS: Final = 4.0  # clean link after the call carries media, before the loss
AGED_SECONDS: Final = 60.0
DETECT_TIMEOUT: Final = 150.0
SHAPE: Final = {"tinh-a": ("province", None), "xa-mot": ("commune", "tinh-a")}
LINK_KINDS: Final = frozenset({"loss_high", "mos_low"})
# name → ([incidents] overrides, clean seconds before the loss)
SETTINGS: Final[dict[str, tuple[dict[str, float], float]]] = {
    "default_onset_5s": ({}, CLEAN_SECONDS),
    "onset_1s": ({"onset_seconds": 1.0}, CLEAN_SECONDS),
    "onset_0s": ({"onset_seconds": 0.0}, CLEAN_SECONDS),
    "default_onset_5s_call_60s_old": ({}, AGED_SECONDS),
}
QUICK_SETTINGS: Final = ("default_onset_5s", "onset_0s")  # --quick: one run each, < 1 min
PROMETHEUS: Final = {
    "scrape_interval_seconds": 15, "evaluation_interval_seconds": 15, "for_seconds": 60,
    "fires_after_seconds": {"min": 60, "expected": 75, "max": 90},
    "how": "computed, not measured: the first scrape and rule evaluation that see the "
           "condition come 0-15 s and 0-15 s after it begins, then the alert stays pending "
           "for 60 s (a loss rate over a window such as rate(...[1m]) adds more)",
}


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/min/max in milliseconds, rounded."""
    if not values:
        return {}
    cuts = (statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1
            else [values[0]] * 99)
    return {"p50": round(cuts[49] * 1000), "p95": round(cuts[94] * 1000),
            "min": round(min(values) * 1000), "max": round(max(values) * 1000)}


def _commune_extra(janus_url: str, incidents: dict[str, float]) -> str:
    from tests.peers.janus import OPEN_ROOM

    table = "".join(f"{key} = {value}\n" for key, value in incidents.items())
    return ('[media]\nwidth = 320\nheight = 180\nfps = 10\n\n'
            + (f"[incidents]\n{table}\n" if table else "")
            + '[[bridges]]\nid = "tinh"\nname = "Cầu tỉnh"\nkind = "janus-videoroom"\n'
            f'url = "{janus_url}"\nroom = {OPEN_ROOM}\n')


async def _until(check: Callable[[], Awaitable[Any]], seconds: float, what: str,
                 every: float = 0.2) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {seconds} s")
        await asyncio.sleep(every)


async def _link_incidents(console: Any, state: str = "all") -> list[dict[str, Any]]:
    body = await console.get(f"/api/v1/incidents?state={state}")
    return [i for i in body["incidents"] if i["kind"] in LINK_KINDS
            and i["origin"] == "xa-mot" and i["subject"].startswith("link:tinh:")]


async def _receiving(console: Any) -> bool:
    call = (await console.get("/api/v1/bridges/tinh"))["call"]
    return call is not None and call["state"] == "connected" and any(
        s["direction"] == "recv" and s["loss_percent"] is not None for s in call["samples"])


async def _child_online(console: Any) -> bool:
    site = await console.get("/api/v1/site")
    return any(c["id"] == "xa-mot" and c["state"] == "online" for c in site["children"])


async def _one_run(netns: str, upper: Any, officer: Any, clean: float) -> dict[str, Any]:
    """Join, wait ``clean`` s, impair, time until the province lists it; clean up the run."""
    from tests.peers.impair import add_udp_loss, remove_udp_loss

    seen = {i["id"] for i in await _link_incidents(upper)}
    await officer.post("/api/v1/bridges/tinh/join")
    try:
        await _until(lambda: _receiving(officer), 20, "the commune receiving media")
        joined = time.time()
        await asyncio.sleep(clean)
        add_udp_loss(netns, LOSS_PERCENT)
        try:
            started = time.time()

            async def new_at_province() -> list[dict[str, Any]]:
                return [i for i in await _link_incidents(upper) if i["id"] not in seen]

            found = await _until(new_at_province, DETECT_TIMEOUT, "the incident at the province",
                                 every=POLL_SECONDS)
            visible = time.time()
        finally:
            remove_udp_loss(netns)
        first = found[-1]  # newest first: the last is the earliest opened
        detail = await officer.get(f"/api/v1/incidents/{first['id']}")
        opened = float(detail["timeline"][0]["samples"][-1][0])  # the sample that opened it
    finally:
        await officer.post("/api/v1/bridges/tinh/leave")
    # Leaving forgets the call's links: its incidents resolve before the next run.
    await _until(lambda: _no_open(upper), 30, "the run's incidents resolved")
    return {"detection_s": visible - started, "at_commune_s": opened - started,
            "to_province_s": visible - opened, "kind": first["kind"],
            "subject": first["subject"], "call_age_s": round(started - joined, 1)}


async def _no_open(console: Any) -> bool:
    return not await _link_incidents(console, "unresolved")


async def _setting(base: Path, lab: Any, janus: Any, incidents: dict[str, float],
                   clean: float, runs: int) -> dict[str, Any]:
    from media.bridges.base import BridgeSpec, JoinOptions
    from media.bridges.janus import JanusVideoRoomBridge
    from tests.peers.janus import OPEN_ROOM
    from tests.peers.tree import Console, running_tree

    other_bridge = JanusVideoRoomBridge(BridgeSpec(
        id="khac", kind="janus-videoroom", url=janus.url, room=OPEN_ROOM,
        options={"video_width": 320, "video_height": 180, "video_fps": 10}))
    results: list[dict[str, Any]] = []
    # The processes start before the other site publishes: starting them blocks this loop.
    with running_tree(base, SHAPE, extra={"xa-mot": _commune_extra(janus.url, incidents)}) \
            as sites:
        other = await other_bridge.join(JoinOptions(display="Xã khác", subscribe="none"))
        try:
            async with Console(sites["tinh-a"], "quantri") as upper, \
                    Console(sites["xa-mot"], "vanhanh") as officer:
                await _until(lambda: _child_online(upper), 20, "the commune online")
                for _ in range(runs):
                    results.append(await _one_run(lab.name, upper, officer, clean))
                    print(f"  {results[-1]}", file=sys.stderr, flush=True)
        finally:
            await other.leave()
            await other_bridge.close()
    return {
        "incidents_config": incidents or "defaults",
        "runs": len(results),
        "detection_ms": percentiles([r["detection_s"] for r in results]),
        "at_commune_ms": percentiles([r["at_commune_s"] for r in results]),
        "commune_to_province_ms": percentiles([r["to_province_s"] for r in results]),
        "kinds": sorted({f"{r['kind']} {r['subject']}" for r in results}),
        "call_age_s": sorted({r["call_age_s"] for r in results}),
    }


async def _bench(base: Path, lab: Any, janus: Any, quick: bool) -> dict[str, Any]:
    # SIGTERM like Ctrl-C (asyncio.run's own SIGINT handler): cancel, so every finally runs.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    out: dict[str, Any] = {}
    for name, (incidents, clean) in SETTINGS.items():
        aged = clean > CLEAN_SECONDS
        if quick and name not in QUICK_SETTINGS:
            continue
        runs = 1 if quick else (3 if aged else 20)
        print(f"{name}: {runs} runs", file=sys.stderr, flush=True)
        out[name] = await _setting(base / name, lab, janus, incidents, clean, runs)
    return out


def detection_latency(quick: bool) -> dict[str, Any]:
    """Impairment start → incident listed at the parent, p50/p95 per setting (needs root)."""
    from tests.peers.impair import remove_udp_loss
    from tests.peers.janus import JanusLab
    from tests.peers.netns import create_lab_netns, delete_lab_netns, switch_netns

    if os.geteuid() != 0:
        raise SystemExit("the detection bench needs root (network namespace, tc)")
    lab = create_lab_netns(f"diemcau-bench-det-{os.getpid()}")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-detection-") as tmp:
            janus = JanusLab(lab, Path(tmp) / "janus")
            janus.start()
            try:
                # This thread, its event loop and every process it starts run in the lab.
                with switch_netns(lab.name):
                    try:
                        settings = asyncio.run(_bench(Path(tmp), lab, janus, quick))
                    except asyncio.CancelledError:  # SIGTERM: cleaned up, now say so
                        raise KeyboardInterrupt from None
            finally:
                janus.stop()
    finally:
        remove_udp_loss(lab.name)
        delete_lab_netns(lab.name)
    runs = 1 if quick else 20
    return {
        "bench": "incident_detection_latency",
        "quick": quick,
        "runs_per_setting": runs,
        "note": (f"--quick: one run each of {', '.join(QUICK_SETTINGS)}; the full bench does "
                 "20 runs a setting and 3 of the 60-s-old call" if quick
                 else "20 runs a setting; the 60-s-old call: 3 runs"),
        "impairment": f"{LOSS_PERCENT:g} % random UDP loss on the lab namespace's lo "
                      "(both directions of every RTP stream; TCP untouched)",
        "measured": "loss in place → the province's GET /api/v1/incidents lists the "
                    f"commune's loss_high/mos_low incident (polled every "
                    f"{POLL_SECONDS * 1000:.0f} ms); at_commune = the sample that opened it",
        "settings": settings,
        "prometheus_anchor": PROMETHEUS,
    }


def main() -> None:
    """Run the bench and print one JSON object last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="one run of two settings")
    args = parser.parse_args()
    try:
        result = detection_latency(args.quick)
    except KeyboardInterrupt:
        print("interrupted; namespace, Janus and sites cleaned up", file=sys.stderr)
        raise SystemExit(130) from None
    print(json.dumps(result, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
