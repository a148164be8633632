"""Errors of room hardware, rooted at `EndpointError`.

`endpoints` imports nothing of the rest of diemcau, so its tree has its own root;
the controller translates these at its boundary (a table, not scattered checks).
Which errors are worth retrying is data too: `RETRYABLE`.
"""

from __future__ import annotations


class EndpointError(Exception):
    """Root of every error a device driver raises on purpose."""

    code = "device_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EndpointTransportError(EndpointError):
    """Bytes could not be moved: port gone, connection refused or dropped."""

    code = "device_unreachable"


class EndpointProtocolError(EndpointError):
    """Something on the wire broke the protocol."""

    code = "device_protocol_error"


class RemoteProtocolError(EndpointProtocolError):
    """The device sent something the protocol does not allow."""

    code = "device_protocol_error"


class LocalProtocolError(EndpointProtocolError):
    """We were asked to send something the protocol does not allow."""

    code = "device_bad_command"


class DeviceRefusedError(EndpointError):
    """The device answered with an error of its own (``device_code`` is its code)."""

    code = "device_refused"

    def __init__(self, message: str, *, device_code: str) -> None:
        super().__init__(message)
        self.device_code = device_code


class DeviceBusyError(DeviceRefusedError):
    """The device cannot take the command now (buffer full, no free socket, warming up)."""

    code = "device_busy"


class AuthenticationFailedError(EndpointError):
    """The device refused our credentials (PJLink password, SNMPv3 keys)."""

    code = "device_auth_failed"


class EndpointTimeoutError(EndpointError, TimeoutError):
    """The device did not answer in time (also a builtin `TimeoutError`)."""

    code = "device_timeout"


class UnsupportedCommandError(EndpointError):
    """This device, or its kind, has no such command."""

    code = "unsupported_command"


class CommandArgumentError(EndpointError):
    """A command's arguments are missing or out of range."""

    code = "bad_command_args"


RETRYABLE: dict[type[EndpointError], bool] = {
    EndpointTransportError: True,
    EndpointTimeoutError: True,
    DeviceBusyError: True,
    RemoteProtocolError: True,
    LocalProtocolError: False,
    DeviceRefusedError: False,
    AuthenticationFailedError: False,
    UnsupportedCommandError: False,
    CommandArgumentError: False,
}


def is_retryable(exc: BaseException) -> bool:
    """Whether repeating the failed operation may succeed, by the `RETRYABLE` table."""
    for cls in type(exc).__mro__:
        if cls in RETRYABLE:
            return RETRYABLE[cls]
    return False
