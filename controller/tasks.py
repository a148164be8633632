"""Long-lived tasks owned by the composition root and stopped cleanly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskSupervisor:
    """Starts named background tasks, logs their crashes once, and stops them all."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def start(self, name: str, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` until it returns or `stop` is called."""
        if self._closed:
            coro.close()
            raise RuntimeError(f"{self.name}: cannot start {name} after stop")
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s stopped with an error", task.get_name(),
                      exc_info=task.exception())

    @property
    def running(self) -> int:
        """How many tasks are alive."""
        return len(self._tasks)

    async def stop(self) -> None:
        """Cancel every task and wait until each has finished."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
