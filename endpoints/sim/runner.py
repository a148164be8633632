"""Running one simulator from the command line until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any


async def serve_until_signalled(address: str, stop: Callable[[], Awaitable[None]]) -> None:
    """Print where a started simulator is, wait for SIGINT or SIGTERM, then `stop` it.

    The address line comes first on stdout and ends ``HOST:PORT`` (or a tty path): whoever
    started the process reads the port from it.
    """
    signalled = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, signalled.set)
    try:
        print(address, flush=True)
        await signalled.wait()
    finally:
        await stop()


def run_simulator(serve: Coroutine[Any, Any, None], name: str) -> int:
    """Run a simulator's `serve` coroutine; the exit status, 1 if it could not start."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        asyncio.run(serve)
    except KeyboardInterrupt:  # before the signal handlers are in place
        pass
    except OSError as exc:  # the port is taken, the tty is gone
        print(f"{name}: {os.strerror(exc.errno or errno.EIO)}", file=sys.stderr)
        return 1
    return 0
