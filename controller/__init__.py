"""The diemcau site controller: configuration, storage, accounts, audit, console and CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("diemcau")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
