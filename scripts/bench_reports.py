#!/usr/bin/env python3
"""Usage-report benchmark; prints its figures as one JSON object on its last line.

A province report over 3,321 communes × the six months of 2026-H2 of synthetic records, about
200 sessions per commune (≈ 664,000 ``usage.attendance`` rows), as the province keeps them:
a province site config in a temporary folder (its children are not listed: the report's rows
come from the records' origins), its database opened through `controller.app.open_store`
(migrations run), and the rows bulk-inserted in one transaction. Distributions: 185 sessions
shared by every commune (155 hosted by the province, 30 by the centre; each commune invited to
each with p = 0.97, 2 % cancelled) and 15–25 of the commune's own; 95 % attended, 10 % of
those late, 97 % ready at the check (1 % not checked), 1–3 h planned, connected 85–100 % of
it. 0–6 incidents per commune (device, uplink, call, UPS; 98 % resolved, a restore time of
about 40 min), and the province's own ``child:`` incidents for half the uplink ones.

Then, each in a fresh child process (``scripts/_bench_reports_step.py``) so each peak is its
own: `build_report(config, store, 2026-H2, subtree=True)` followed by `render(report,
"json")`, and `render` in csv, xlsx and pdf from that report. For each: wall seconds, the
growth of the process's VmHWM over its value before the call, and tracemalloc's peak of
Python allocations (a second run of the call, not the timed one). The goal: build + JSON
under 2 s. Calls only the public API, so it measures whichever `controller.reports` is there.

    .venv/bin/python scripts/bench_reports.py [--quick] [--keep DIR]

``--quick``: 332 communes (a tenth), under a minute.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from controller.app import open_store
from controller.config import load_config
from controller.periods import parse_period
from controller.usage import INSERT_USAGE, usage_row

ROOT: Final = Path(__file__).resolve().parent.parent
STEP_SCRIPT: Final = Path(__file__).with_name("_bench_reports_step.py")
PROVINCE: Final = "tinh-bench"
COMMUNES_TOTAL: Final = 3321
PERIOD: Final = "2026-H2"
PROVINCE_SESSIONS: Final = 155
CENTRAL_SESSIONS: Final = 30
INVITED: Final = 0.97  # a commune's chance to be invited to a shared session
CANCELLED: Final = 0.02
ATTENDED: Final = 0.95
LATE: Final = 0.10
READY: Final = 0.97
UNCHECKED: Final = 0.01
GOAL_SECONDS: Final = 2.0
FORMATS: Final = ("csv", "xlsx", "pdf")
INCIDENT_KINDS: Final = (("device_offline", 0.40), ("uplink_down", 0.25),
                         ("call_dropped", 0.15), ("ups_on_battery", 0.15), ("manual", 0.05))
SLOTS: Final = (7.5, 8.0, 9.0, 14.0, 15.0)  # planned start hours of day


def progress(message: str, *args: object) -> None:
    """A progress line on stderr."""
    print(f"[bench_reports {time.strftime('%H:%M:%S')}] " + message % args, file=sys.stderr,
          flush=True)


@dataclass(frozen=True)
class Session:
    """One planned session: who hosts it and when."""

    id: str
    title: str
    chair: str
    host_level: str
    start: float
    end: float
    cancelled: bool


def commune_id(n: int) -> str:
    """The n-th synthetic commune."""
    return f"xa-{n:04d}"


def write_config(directory: Path) -> Path:
    """A province site config without children or uplink; its data folder beside it.

    Nothing listens: the config is only parsed, so the console port is a placeholder.
    """
    path = directory / f"{PROVINCE}.toml"
    path.write_text(
        f'[site]\nid = "{PROVINCE}"\nname = "UBND tỉnh Bench"\nlevel = "province"\n\n'
        '[console]\nlisten = "127.0.0.1:9"\n\n[storage]\ndata_dir = "data"\n',
        encoding="utf-8")
    return path


def plan(rng: random.Random, start: float, end: float, chair: str, host_level: str,
         prefix: str, count: int) -> list[Session]:
    """``count`` sessions at day slots spread over [start, end)."""
    days = int((end - start) // 86400)
    sessions = []
    for n in range(count):
        at = start + rng.randrange(days) * 86400 + rng.choice(SLOTS) * 3600
        length = rng.choice((1.0, 1.5, 2.0, 2.5, 3.0)) * 3600
        title = ("Giao ban trực tuyến" if host_level != "commune" else "Họp xã") + f" số {n + 1}"
        sessions.append(Session(f"{prefix}{n + 1}", title, chair, host_level, at,
                                min(at + length, end - 1), rng.random() < CANCELLED))
    return sessions


def attendance_row(rng: random.Random, site: str, level: str,
                   session: Session) -> tuple[Any, ...]:
    """One ``usage.attendance`` row in the shape `UsageService.attendance_body` writes."""
    planned = session.end - session.start
    state = "cancelled" if session.cancelled else "ended"
    attended = not session.cancelled and rng.random() < ATTENDED
    late = attended and rng.random() < LATE
    unchecked = session.cancelled or rng.random() < UNCHECKED
    ready = None if unchecked else rng.random() < READY
    joins: list[list[float]] = []
    hours = 0.0
    if attended:
        joined = session.start + (rng.uniform(301, 1800) if late else rng.uniform(-600, 120))
        left = min(session.end, joined + planned * rng.uniform(0.85, 1.0))
        joins = [[round(joined, 1), round(left, 1)]]
        hours = round(max(0.0, left - joined) / 3600.0, 3)
    key = f"attendance:{session.id}:{site}"
    body = {
        "id": key, "session": session.id, "site": site,
        "site_name": f"UBND {site}", "site_level": level, "title": session.title,
        "kind": "meeting", "host_level": session.host_level, "chair": session.chair,
        "state": state, "planned_start": session.start, "planned_end": session.end,
        "actual_start": None if session.cancelled else session.start,
        "actual_end": None if session.cancelled else session.end, "invited": True,
        "ready": ready,
        "readiness_failed": ["camera"] if ready is False else [],
        "joins": joins, "attended": attended, "late": late, "hours_connected": hours,
        "attendees": rng.randint(5, 30) if attended else None,
    }
    return usage_row(key, site, "usage.attendance", session.start, body)


def session_row(session: Session, chair_level: str,
                invited: int) -> tuple[Any, ...]:
    """One ``usage.session`` row at its chair."""
    key = f"session:{session.id}"
    body = {
        "id": key, "session": session.id, "title": session.title,
        "kind": "meeting", "host_level": chair_level, "chair": session.chair,
        "chair_name": f"UBND {session.chair}", "planned_start": session.start,
        "planned_end": session.end, "actual_start": None if session.cancelled else session.start,
        "actual_end": None if session.cancelled else session.end, "secret": False,
        "state": "cancelled" if session.cancelled else "ended", "participants": invited,
        "notice_ok": True,
    }
    return usage_row(key, session.chair, "usage.session", session.start, body)


def usage_rows(rng: random.Random, communes: int, start: float,
               end: float) -> Iterator[tuple[Any, ...]]:
    """Every usage row of the subtree: the shared sessions, then each commune's."""
    shared = (plan(rng, start, end, PROVINCE, "province", "p-", PROVINCE_SESSIONS)
              + plan(rng, start, end, "trung-uong", "central", "tw-", CENTRAL_SESSIONS))
    for session in shared:
        if session.chair == PROVINCE:
            yield session_row(session, "province", communes)
        yield attendance_row(rng, PROVINCE, "province", session)
    for n in range(1, communes + 1):
        site = commune_id(n)
        own = plan(rng, start, end, site, "commune", f"{site}-l", rng.randint(15, 25))
        for session in own:
            yield session_row(session, "commune", 1)
        for session in shared:
            if rng.random() < INVITED:
                yield attendance_row(rng, site, "commune", session)
        for session in own:
            yield attendance_row(rng, site, "commune", session)


def incident_rows(rng: random.Random, communes: int, start: float,
                  end: float) -> Iterator[tuple[Any, ...]]:
    """0–6 incidents per commune, and the province's ``child:`` record of half the uplinks."""
    kinds = [k for k, _ in INCIDENT_KINDS]
    weights = [w for _, w in INCIDENT_KINDS]
    serial = 0
    for n in range(1, communes + 1):
        site = commune_id(n)
        for _ in range(rng.choice((0, 1, 2, 3, 3, 4, 5, 6))):
            serial += 1
            kind = rng.choices(kinds, weights)[0]
            subject = {"device_offline": "device:cam1", "uplink_down": "uplink",
                       "call_dropped": f"call:s{serial}", "ups_on_battery": "device:ups1",
                       "manual": "site"}[kind]
            opened = rng.uniform(start, end - 86400)
            resolved = None if rng.random() < 0.02 else opened + rng.expovariate(1 / 2400)
            state = "open" if resolved is None else "resolved"
            body = json.dumps({"title": kind, "notes": [{"at": opened, "type": "opened",
                                                        "text": "bench"}]})
            yield (f"{site}:inc-{serial}", site, 2, state, kind, "major", subject, opened,
                   resolved, None, body, resolved or opened)
            if kind == "uplink_down" and rng.random() < 0.5:
                yield (f"{PROVINCE}:inc-{serial}", PROVINCE, 2, state, "child_offline",
                       "major", f"child:{site}", opened + 60, resolved, None, body,
                       resolved or opened)


def populate(config_path: Path, communes: int, seed: int) -> dict[str, Any]:
    """Insert the synthetic records in one transaction; counts and seconds."""
    config = load_config(config_path)
    period = parse_period(PERIOD, config.reports.cutoff_day)
    rng = random.Random(seed)
    store = open_store(config)
    try:
        started = time.perf_counter()
        usage = list(usage_rows(rng, communes, period.start, period.end))
        incidents = list(incident_rows(rng, communes, period.start, period.end))
        generated = time.perf_counter() - started
        started = time.perf_counter()
        with store.transaction() as conn:
            conn.executemany(INSERT_USAGE, usage)
            conn.executemany(
                "INSERT INTO incidents(id, origin, version, state, kind, severity, subject,"
                " opened_at, resolved_at, cause, body, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", incidents)
        inserted = time.perf_counter() - started
        counts = {str(r["kind"]): int(r["n"]) for r in store.query(
            "SELECT kind, count(*) AS n FROM usage GROUP BY kind")}
    finally:
        store.close()
    database = config.storage.database
    return {"attendance_rows": counts.get("usage.attendance", 0),
            "session_rows": counts.get("usage.session", 0), "incident_rows": len(incidents),
            "generate_seconds": round(generated, 2), "insert_seconds": round(inserted, 2),
            "database_mib": round(database.stat().st_size / 1048576.0, 1),
            "attendance_per_commune": round(counts.get("usage.attendance", 0) / communes, 1)}


def run_step(*args: str) -> dict[str, Any]:
    """One ``_bench_reports_step.py`` run in a fresh process; its JSON."""
    done = subprocess.run([sys.executable, str(STEP_SCRIPT), *args], cwd=ROOT,
                          stdout=subprocess.PIPE, text=True, check=True, timeout=1800)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    """Build the data, run each step in its own process, print the JSON object last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="332 communes (a tenth of 3,321), under a minute")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", type=Path, default=None,
                        help="build the data in this (new or empty) folder and keep it")
    args = parser.parse_args()
    communes = COMMUNES_TOTAL // 10 if args.quick else COMMUNES_TOTAL
    results: dict[str, Any] = {
        "quick": args.quick, "communes": communes, "period": PERIOD,
        "scale": f"{communes} communes" + (" (quick: a tenth of 3,321)" if args.quick else ""),
        "goal": f"build_report + render json under {GOAL_SECONDS:g} s"}
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as tmp:
        base = args.keep if args.keep is not None else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        config_path = write_config(base)
        progress("inserting %s communes × ~200 sessions of %s", communes, PERIOD)
        results["data"] = populate(config_path, communes, args.seed)
        progress("data: %s", results["data"])
        report_path = base / "report.json"
        progress("build_report + render json (fresh process)")
        built = run_step("build", "--config", str(config_path), "--report", str(report_path),
                         "--period", PERIOD)
        progress("build: %s", built)
        steps: dict[str, Any] = {"build": built["build"], "json": built["json"]}
        for fmt in FORMATS:
            progress("render %s (fresh process)", fmt)
            rendered = run_step("render", "--report", str(report_path), "--fmt", fmt)
            steps[fmt] = rendered[fmt] | {"baseline_vmhwm_mib": rendered["baseline_vmhwm_mib"]}
            progress("%s: %s", fmt, steps[fmt])
    steps["build"]["baseline_vmhwm_mib"] = built["baseline_vmhwm_mib"]
    results["report_rows"] = built["rows"]
    results["sessions_invited"] = built["sessions_invited"]
    results["incidents_in_report"] = built["incidents"]
    results["steps"] = steps
    json_seconds = round(steps["build"]["seconds"] + steps["json"]["seconds"], 3)
    results["build_plus_json_seconds"] = json_seconds
    results["json_goal_met"] = json_seconds < GOAL_SECONDS
    for name, step in steps.items():
        progress("%-5s %8.3f s  VmHWM +%7.1f MiB  tracemalloc peak %7.1f MiB", name,
                 step["seconds"], step["vmhwm_growth_mib"], step["tracemalloc_peak_mib"])
    progress("build + json = %.3f s: goal (< %g s) %s", json_seconds, GOAL_SECONDS,
             "met" if results["json_goal_met"] else "NOT met")
    print(json.dumps(results, sort_keys=True, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
