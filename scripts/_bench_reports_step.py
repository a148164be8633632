#!/usr/bin/env python3
"""One measured step of scripts/bench_reports.py, in a fresh process for a clean peak.

``build``: `build_report` over the benchmark's province database, then `render(report,
"json")`; writes the report (as JSON) to ``--report`` for the render steps. ``render``: loads
that report and renders it in ``--fmt`` (after a warm-up render of a two-row copy, so the
lazy imports of openpyxl/reportlab and the font registration are not in the figures).

Each measured call runs twice: first bare, for its wall time and the growth of the process's
VmHWM (/proc/self/status) over what it was before the call; then under tracemalloc, for the
peak of Python allocations during the call (tracemalloc slows the call, so its time is not
the one reported). Prints one JSON object on stdout.

    python scripts/_bench_reports_step.py build --config SITE.toml --report OUT.json
    python scripts/_bench_reports_step.py render --report OUT.json --fmt xlsx
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from controller.app import open_store
from controller.config import load_config
from controller.periods import parse_period
from controller.reports import build_report, render

MIB = 1024.0 * 1024.0
T = TypeVar("T")


def status_kib(field: str) -> int:
    """A ``kB`` field of /proc/self/status (VmHWM, VmRSS)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def measured(call: Callable[[], T]) -> tuple[T, dict[str, float]]:
    """The result of one bare call, its seconds and the VmHWM growth it caused."""
    gc.collect()
    before = status_kib("VmHWM")
    started = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - started
    after = status_kib("VmHWM")
    return result, {"seconds": round(seconds, 3),
                    "vmhwm_growth_mib": round((after - before) / 1024.0, 1),
                    "vmhwm_mib": round(after / 1024.0, 1)}


def traced_peak(call: Callable[[], object]) -> float:
    """MiB: tracemalloc's peak of Python allocations during ``call``, over its start."""
    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return round((peak - base) / MIB, 1)


def step_build(config_path: Path, report_path: Path, period_label: str) -> dict[str, Any]:
    """build_report over the subtree, then the JSON render; the report kept for the others."""
    config = load_config(config_path)
    store = open_store(config)
    period = parse_period(period_label, config.reports.cutoff_day)
    try:
        baseline = status_kib("VmHWM")

        def build() -> dict[str, Any]:
            return build_report(config, store, period, subtree=True, number="BENCH")

        report, build_figures = measured(build)
        body, json_figures = measured(partial(render, report, "json"))
        json_figures["bytes"] = len(body)
        report_path.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
        rows, totals = len(report["rows"]), report["totals"]
        del report, body
        build_figures["tracemalloc_peak_mib"] = traced_peak(build)
        kept = build()
        json_figures["tracemalloc_peak_mib"] = traced_peak(lambda: render(kept, "json"))
    finally:
        store.close()
    return {"baseline_vmhwm_mib": round(baseline / 1024.0, 1), "rows": rows,
            "sessions_invited": totals["sessions_invited"], "incidents": totals["incidents"],
            "build": build_figures, "json": json_figures}


def step_render(report_path: Path, fmt: str) -> dict[str, Any]:
    """One format rendered from the report the build step wrote."""
    report = json.loads(report_path.read_text(encoding="utf-8"))
    render({**report, "rows": report["rows"][:2]}, fmt)  # warm-up: imports, fonts
    baseline = status_kib("VmHWM")
    body, figures = measured(lambda: render(report, fmt))
    figures["bytes"] = len(body)
    del body
    figures["tracemalloc_peak_mib"] = traced_peak(lambda: render(report, fmt))
    return {"baseline_vmhwm_mib": round(baseline / 1024.0, 1), fmt: figures}


def main() -> int:
    """Run one step and print its figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("build", "render"))
    parser.add_argument("--config", type=Path)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--period", default="2026-H2")
    parser.add_argument("--fmt", choices=("json", "csv", "xlsx", "pdf"), default="json")
    args = parser.parse_args()
    if args.step == "build":
        if args.config is None:
            parser.error("build needs --config")
        result = step_build(args.config, args.report, args.period)
    else:
        result = step_render(args.report, args.fmt)
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
