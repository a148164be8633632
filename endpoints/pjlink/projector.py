"""The Projector capability over PJLink class 1 and 2."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from endpoints.errors import DeviceRefusedError, RemoteProtocolError
from endpoints.framing import sanitize
from endpoints.interfaces import DeviceSpec, PowerState, Projector, ProjectorErrors
from endpoints.pjlink.client import NotificationListener, PjlinkClient
from endpoints.pjlink.codec import (
    ERROR_PARTS,
    PJLINK_PORT,
    AvMute,
    Command,
    InputMap,
    Notification,
    parse_av_mute,
    parse_class,
    parse_error_status,
    parse_input,
    parse_input_list,
    parse_lamps,
    parse_mac,
    parse_power,
    query,
)

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


class PjlinkProjector(Projector):
    """A projector or display driven over PJLink (TCP 4352, class 2 notifications on UDP)."""

    def __init__(self, spec: DeviceSpec, *, client: PjlinkClient | None = None) -> None:
        super().__init__(spec)
        if not spec.host:
            raise ValueError(f"projector {spec.id}: PJLink needs a host")
        configured = spec.options.get("pjlink_class", "auto")
        if isinstance(configured, bool) or configured not in ("auto", 1, 2, "1", "2"):
            raise ValueError(f"projector {spec.id}: pjlink_class must be 1, 2 or \"auto\"")
        self._class: int | None = None if configured == "auto" else int(configured)
        friendly = spec.options.get("inputs", {})
        if not isinstance(friendly, Mapping):
            raise ValueError(f"projector {spec.id}: inputs must be a table of NAME = \"code\"")
        self._inputs = InputMap(friendly, self._class or 1)
        self._input_names: list[str] | None = None
        self._client = client or PjlinkClient(
            spec.host, spec.port or PJLINK_PORT, password=spec.secrets.get("password") or None,
            timeout=spec.timeout, on_notification=self.handle_notification,
            on_drop=lambda reason: self.count_drop("pjlink", reason))
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def pjlink_class(self) -> int:
        """The class in use: configured, or read from the projector at `open` (1 until then)."""
        return self._class or 1

    @property
    def input_map(self) -> InputMap:
        """Input names and codes of this projector."""
        return self._inputs

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and authenticate; learn the PJLink class unless it is configured."""
        await self._client.connect()
        # A first command also proves the password, which the greeting alone does not.
        reported = min(parse_class(await self._client.request(query("CLSS"))), 2)
        if self._class is None:
            self._class = reported
            self._inputs.pjlink_class = reported
        elif self._class > reported:
            _log.warning("projector %s is configured for PJLink class %s but reports %s",
                         self.id, self._class, reported)
        _log.debug("projector %s speaks PJLink class %s", self.id, reported)

    async def close(self) -> None:
        """Stop taking notifications and close the connection; safe to call twice."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self._client.close()

    async def attach_notifications(self, listener: NotificationListener) -> None:
        """Take class 2 notifications sent from this projector's address via ``listener``."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        assert self.spec.host is not None
        self._unsubscribe = await listener.subscribe(self.spec.host, self.handle_notification)

    async def poll(self) -> Mapping[str, Any]:
        """Power, input, AV mute, lamp hours, error status and name."""
        power = await self.get_power()
        input_name = await self._optional(self.get_input)
        mute = await self._optional(self._get_av_mute)
        lamps = await self._optional(self.lamp_hours)
        errors = await self.error_status()
        name = await self._optional(self.get_name)
        if self._input_names is None:
            # The input list does not change while connected; ask once.
            names = await self._optional(self.inputs)
            self._input_names = list(names) if names is not None else None
        return {
            "power": power.value,
            "input": input_name,
            "av_mute": None if mute is None else (mute.video or mute.audio),
            "lamp_hours": list(lamps or []),
            "errors": dict(vars(errors)),
            "name": name,
            "inputs": self._input_names or [],
        }

    async def _optional(self, read: Callable[[], Awaitable[_T]]) -> _T | None:
        # Off, warming or lampless projectors answer some queries with ERR1..ERR4.
        try:
            return await read()
        except DeviceRefusedError as exc:
            _log.debug("projector %s: %s", self.id, exc.message)
            return None

    # -- Projector ---------------------------------------------------------------------------

    async def set_power(self, on: bool) -> None:
        """Switch on (the projector warms up first) or off (it cools down first)."""
        await self._client.request(Command("POWR", "1" if on else "0"))

    async def get_power(self) -> PowerState:
        """Power status (on, off, warming, cooling)."""
        return parse_power(await self._client.request(query("POWR")))

    async def set_input(self, source: str) -> None:
        """Select an input by name (HDMI1 as configured, DIGITAL1) or code (31)."""
        code = self._inputs.code_for(source)
        await self._client.request(Command("INPT", code, self.pjlink_class))

    async def get_input(self) -> str:
        """The selected input's name."""
        code = parse_input(await self._client.request(query("INPT", self.pjlink_class)))
        return self._inputs.name_for(code)

    async def inputs(self) -> Sequence[str]:
        """The names of the inputs the projector offers."""
        codes = parse_input_list(await self._client.request(query("INST", self.pjlink_class)))
        return self._inputs.names(codes)

    async def set_av_mute(self, on: bool) -> None:
        """Blank picture and sound together (31), or restore both (30)."""
        await self._client.request(Command("AVMT", "31" if on else "30"))

    async def _get_av_mute(self) -> AvMute:
        return parse_av_mute(await self._client.request(query("AVMT")))

    async def lamp_hours(self) -> Sequence[int]:
        """Cumulative hours of each lamp."""
        return [lamp.hours for lamp in parse_lamps(await self._client.request(query("LAMP")))]

    async def error_status(self) -> ProjectorErrors:
        """Error status of fan, lamp, temperature, cover, filter, other."""
        return parse_error_status(await self._client.request(query("ERST")))

    # -- more PJLink -------------------------------------------------------------------------

    async def get_name(self) -> str:
        """The name set in the projector (sanitised)."""
        return sanitize(await self._client.request(query("NAME")))

    async def identify(self) -> dict[str, str]:
        """Manufacturer, product, other information; serial and software version on class 2."""
        out = {key: sanitize(await self._client.request(query(body)), 32)
               for key, body in (("manufacturer", "INF1"), ("product", "INF2"),
                                 ("other", "INFO"))}
        if self.pjlink_class >= 2:
            for key, body in (("serial", "SNUM"), ("software", "SVER")):
                try:
                    out[key] = sanitize(await self._client.request(query(body, 2)), 32)
                except DeviceRefusedError as exc:
                    _log.debug("projector %s: %s", self.id, exc.message)
        return out

    async def filter_hours(self) -> int:
        """Class 2: hours of use of the air filter."""
        value = await self._client.request(query("FILT", 2))
        if not (value.isascii() and value.isdigit()):
            raise RemoteProtocolError(f"projector sent an invalid FILT value {sanitize(value)!r}")
        return int(value)

    async def input_label(self, source: str) -> str:
        """Class 2: the projector's own label for an input (INNM)."""
        code = self._inputs.code_for(source)
        return sanitize(await self._client.request(Command("INNM", "?" + code, 2)))

    async def input_resolution(self) -> str:
        """Class 2: the input signal's resolution, e.g. 1920x1080 ("-" without signal)."""
        return sanitize(await self._client.request(query("IRES", 2)), 16)

    # -- notifications -----------------------------------------------------------------------

    def handle_notification(self, notification: Notification) -> None:
        """Turn a class 2 status notification into a `DeviceEvent`; bad values are counted."""
        try:
            name, data = self._event_for(notification)
        except RemoteProtocolError as exc:
            _log.debug("projector %s: notification dropped: %s", self.id, exc.message)
            self.count_drop("pjlink", "bad_value")
            return
        self.emit(name, **data)

    def _event_for(self, n: Notification) -> tuple[str, dict[str, Any]]:
        if n.body == "POWR":
            return "power", {"state": parse_power(n.value).value}
        if n.body == "INPT":
            code = parse_input(n.value)
            return "input", {"source": self._inputs.name_for(code), "code": code}
        if n.body == "AVMT":
            mute = parse_av_mute(n.value)
            return "av_mute", {"on": mute.video or mute.audio, "video": mute.video,
                               "audio": mute.audio}
        if n.body == "ERST":
            errors = parse_error_status(n.value)
            return "errors", {**{p: getattr(errors, p) for p in ERROR_PARTS},
                              "problems": errors.problems()}
        if n.body == "LKUP":
            return "link_up", {"mac": parse_mac(n.value)}
        raise RemoteProtocolError(f"no PJLink notification {sanitize(n.body)!r}")


def projector_from_spec(spec: DeviceSpec) -> PjlinkProjector:
    """The registry's factory for ``protocol = "pjlink"``."""
    return PjlinkProjector(spec)
