"""The controller's exception tree, rooted at `DiemcauError`.

Each error carries a stable machine ``code`` (used in API error bodies) and an
HTTP status for when it reaches the console. Which errors a caller may retry is
data, in `RETRYABLE`, not scattered checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class DiemcauError(Exception):
    """Root of every error diemcau raises on purpose."""

    code = "error"
    status = 400
    detail: str | None = None  # technical detail for engineers, shown beside the message

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config file, at a dotted key path."""

    key_path: str
    message: str


class ConfigError(DiemcauError):
    """A site config file that cannot be used; lists every problem found."""

    code = "config_invalid"

    def __init__(self, path: str, problems: Sequence[ConfigProblem]) -> None:
        self.path = path
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{p.key_path}: {p.message}" for p in self.problems))

    def lines(self) -> list[str]:
        """The problems in ``FILE: key.path: message`` form."""
        return [f"{self.path}: {p.key_path}: {p.message}" for p in self.problems]


class StorageError(DiemcauError):
    """The local database could not do what was asked."""

    code = "storage_error"
    status = 503


class MigrationError(StorageError):
    """A schema migration is missing, out of order or failed."""

    code = "migration_failed"


class InputError(DiemcauError):
    """A request or argument that does not have the expected shape."""

    code = "bad_request"
    status = 400


class NotFoundError(DiemcauError):
    """The named thing does not exist."""

    code = "not_found"
    status = 404


class ConflictError(DiemcauError):
    """The request clashes with the current state (for example a duplicate name)."""

    code = "conflict"
    status = 409


class AuthenticationError(DiemcauError):
    """The caller is not (or no longer) logged in, or gave wrong credentials."""

    code = "not_authenticated"
    status = 401


class AccountLockedError(AuthenticationError):
    """Too many failed logins; the account waits until ``locked_until``."""

    code = "account_locked"
    status = 423

    def __init__(self, message: str, locked_until: float) -> None:
        super().__init__(message)
        self.locked_until = locked_until


class PermissionDeniedError(DiemcauError):
    """The caller is known but may not do this."""

    code = "forbidden"
    status = 403


class DiemcauTimeoutError(DiemcauError, TimeoutError):
    """An operation ran out of time (also a builtin `TimeoutError`)."""

    code = "timeout"
    status = 424


class TransportError(DiemcauError):
    """Bytes could not be moved: a link, socket or port failed."""

    code = "transport_error"
    status = 424


class ProtocolError(DiemcauError):
    """A peer sent something the protocol does not allow."""

    code = "protocol_error"
    status = 424


class RemoteProtocolError(ProtocolError):
    """The remote side broke the protocol."""

    code = "remote_protocol_error"


class LocalProtocolError(ProtocolError):
    """We were asked to send something the protocol does not allow."""

    code = "local_protocol_error"


class SiteUnreachableError(DiemcauError):
    """A command's route to another site is down: it was not sent."""

    code = "site_offline"
    status = 409


class RemoteRefusedError(DiemcauError):
    """The target site refused or failed a command; ``code`` is the target's."""

    status = 409

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, code=code)


class DeviceError(DiemcauError):
    """A device refused or failed a command; ``device_code`` is its own error code."""

    code = "device_error"
    status = 409

    def __init__(self, message: str, *, device_code: str | None = None) -> None:
        super().__init__(message)
        self.device_code = device_code


class DependencyFailedError(DiemcauError):
    """A device or bridge failed: ``message`` for the officer, the driver's ``detail`` for
    engineers, the status chosen by the boundary's translation table."""

    def __init__(self, message: str, *, code: str, status: int, detail: str) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.detail = detail


RETRYABLE: dict[type[DiemcauError], bool] = {
    TransportError: True,
    DiemcauTimeoutError: True,
    StorageError: True,
    MigrationError: False,
    RemoteProtocolError: True,
    LocalProtocolError: False,
    DeviceError: False,
    ConfigError: False,
    InputError: False,
    NotFoundError: False,
    ConflictError: False,
    AuthenticationError: False,
    PermissionDeniedError: False,
    SiteUnreachableError: True,
    RemoteRefusedError: False,
}


def is_retryable(exc: BaseException) -> bool:
    """Whether repeating the failed operation may succeed, by the `RETRYABLE` table."""
    for cls in type(exc).__mro__:
        if cls in RETRYABLE:
            return RETRYABLE[cls]
    return False
