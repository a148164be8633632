#!/usr/bin/env python3
"""``diemcau run`` under a sampling profiler, for ``scripts/bench_tree.py --profile``.

A thread samples the main thread's stack every few milliseconds: samples outside the event
loop's ``select`` are busy time, summed by stack; a busy run longer than ``STALL_SECONDS`` is
a stall of the event loop, recorded with its commonest stack. ``gc.callbacks`` time every
garbage collection by generation (``--gc-off`` disables the collector, to see what it
costs). Writes a JSON report to ``--report`` at exit; ``--window-file`` (if given) limits the
figures to the window the bench opens and closes by creating and deleting that file.

The sampler needs the GIL to take a sample, so stacks that release it (socket writes) are
over-represented among the busy samples; stall durations and GC times are wall-clock true.

    python scripts/_bench_tree_profile.py --report OUT.json --window-file W -- run --config F
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any, Final

INTERVAL: Final = 0.002
STALL_SECONDS: Final = 0.05
DEPTH: Final = 8


def _idle(frame: FrameType) -> bool:
    """Whether the main thread is waiting in the event loop's selector."""
    return frame.f_code.co_name in ("select", "poll") and "selectors" in frame.f_code.co_filename


def _where(frame: FrameType | None) -> str:
    parts: list[str] = []
    while frame is not None and len(parts) < DEPTH:
        code = frame.f_code
        name = code.co_filename.rsplit("/site-packages/", 1)[-1].rsplit("/work/main/", 1)[-1]
        parts.append(f"{name}:{frame.f_lineno}:{code.co_name}")
        frame = frame.f_back
    return " < ".join(parts)


class Profiler:
    """The sampler and GC timer; `report` is what gets written."""

    def __init__(self, window_file: Path | None) -> None:
        self.window_file = window_file
        self.busy: Counter[str] = Counter()
        self.samples = 0
        self.busy_samples = 0
        self.stalls: list[dict[str, Any]] = []
        self.gc_times: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._gc_started = 0.0
        self._stop = threading.Event()
        self._main = threading.main_thread().ident or 0

    def in_window(self) -> bool:
        return self.window_file is None or self.window_file.exists()

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self.in_window():
            self.gc_times[int(info["generation"])].append(time.perf_counter() - self._gc_started)

    def sample(self) -> None:
        stall_start: float | None = None
        stall_stacks: Counter[str] = Counter()
        last = time.perf_counter()
        while not self._stop.wait(INTERVAL):
            now = time.perf_counter()
            frame = sys._current_frames().get(self._main)
            if frame is None:
                continue
            window = self.in_window()
            busy = not _idle(frame)
            if window:
                self.samples += 1
            if busy:
                where = _where(frame)
                if window:
                    self.busy_samples += 1
                    self.busy[where] += 1
                if stall_start is None:
                    stall_start = last  # busy since just after the previous (idle) sample
                stall_stacks[where] += 1
            else:
                if stall_start is not None and now - stall_start > STALL_SECONDS and window:
                    self.stalls.append({"ms": round((now - stall_start) * 1e3, 1),
                                        "at": round(time.monotonic(), 3),
                                        "stacks": stall_stacks.most_common(3)})
                stall_start = None
                stall_stacks.clear()
            last = now

    def start(self) -> None:
        gc.callbacks.append(self.on_gc)
        threading.Thread(target=self.sample, name="bench-sampler", daemon=True).start()

    def report(self) -> dict[str, Any]:
        self._stop.set()
        total = max(1, self.busy_samples)
        return {
            "samples": self.samples, "busy_samples": self.busy_samples,
            "busy_share": round(self.busy_samples / max(1, self.samples), 3),
            "top_busy_stacks": [{"share_of_busy": round(n / total, 3), "stack": s}
                                for s, n in self.busy.most_common(25)],
            "stalls_over_50ms": len(self.stalls),
            "longest_stalls": sorted(self.stalls, key=lambda s: -float(s["ms"]))[:10],
            "gc": {str(g): {"count": len(t), "total_ms": round(sum(t) * 1e3, 1),
                            "max_ms": round(max(t, default=0.0) * 1e3, 1)}
                   for g, t in self.gc_times.items()},
            "gc_objects_tracked": len(gc.get_objects()),
        }


def main() -> int:
    """Run the controller's CLI with the profiler attached."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--report", required=True)
    parser.add_argument("--window-file")
    parser.add_argument("--gc-off", action="store_true",
                        help="gc.disable() before the controller starts (an experiment)")
    parser.add_argument("cli", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    cli = [a for a in args.cli if a != "--"]
    profiler = Profiler(Path(args.window_file) if args.window_file else None)

    def write() -> None:
        Path(args.report).write_text(json.dumps(profiler.report()), encoding="utf-8")
    atexit.register(write)
    profiler.start()
    if args.gc_off:
        gc.disable()
    from controller.cli import main as diemcau

    return diemcau(cli)


if __name__ == "__main__":
    sys.exit(main())
