"""Logging set-up: JSON lines off a terminal, readable text on one; secrets masked."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import Any, Final

_STANDARD_ATTRS: Final = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
_SECRET_KEYS = re.compile(
    r"(password|passwd|pwd|passphrase|secret|token|credential|community|cookie|authorization"
    r"|api_?key)", re.I)
MASK: Final = "***"
_TRACEBACKS: Final = logging.Formatter()
_CORE_FIELDS: Final = frozenset({"ts", "level", "logger", "msg", "exc"})


class SecretFilter(logging.Filter):
    """Masks known secret values, and values of secret-looking extra fields."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, values: Iterable[str]) -> None:
        """Never let these strings reach a log line."""
        self._secrets.update(v for v in values if len(v) >= 4)

    def _mask(self, text: str) -> str:
        # Longest first: a secret that begins another must not leave the other's tail.
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # Arguments that do not fit the format: keep the line rather than raise from
            # the caller's log call (the handler would print the raw arguments instead).
            message = f"{record.msg} {record.args!r}"
        masked = self._mask(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        for key, value in list(vars(record).items()):
            if key in _STANDARD_ATTRS:
                continue
            if _SECRET_KEYS.search(key):
                setattr(record, key, MASK)
            elif isinstance(value, str):
                setattr(record, key, self._mask(value))
            elif not isinstance(value, int | float | bool | None):
                text = str(value)  # how a formatter would write it
                masked_text = self._mask(text)
                if masked_text != text:
                    setattr(record, key, masked_text)
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._mask(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                plain = isinstance(value, str | int | float | bool | None)
                # An extra named like a core field (a UPS "level") must not replace it.
                out[f"extra_{key}" if key in _CORE_FIELDS else key] = (
                    value if plain else str(value))
        if record.exc_text:  # already formatted (and masked) by the secret filter
            out["exc"] = record.exc_text
        elif record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure_logging(level: str = "info", fmt: str = "auto") -> SecretFilter:
    """Set up the root logger once for the process; returns its secret filter."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else logging.Formatter(
        "%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    secret_filter = SecretFilter()
    handler.addFilter(secret_filter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    return secret_filter
