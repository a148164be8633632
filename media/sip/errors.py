"""Errors of the SIP stack; the bridge adapter translates them into MediaError."""

from __future__ import annotations


class SipError(Exception):
    """Root of the SIP stack's errors."""


class SipTransportError(SipError):
    """The connection to the next hop failed or closed."""


class SipTimeoutError(SipError, TimeoutError):
    """A transaction timed out (timer B, F or H)."""
