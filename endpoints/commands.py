"""The contract's device commands: names, argument checks, and the capability each calls.

``{"command": "preset.recall", "args": {"preset": 2}}`` is checked here, then run on
the device's capability. Unknown names and bad arguments raise typed errors with
plain messages; nothing here knows a protocol.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

from endpoints.errors import CommandArgumentError, UnsupportedCommandError
from endpoints.interfaces import AudioMixer, Camera, Device, PowerSupply, Projector

Args = Mapping[str, Any]
Result = dict[str, Any]


@dataclass(frozen=True)
class CommandSpec:
    """One command of one device kind."""

    name: str
    kind: str
    run: Callable[[Any, Args], Awaitable[Result]]
    args: Mapping[str, str]  # name → short description, for the API document
    changes_device: bool = True


def _only(args: Args, allowed: set[str]) -> None:
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise CommandArgumentError(f"unknown argument(s): {', '.join(unknown)}")


def _number(args: Args, name: str, low: float, high: float, default: float | None = None,
            ) -> float:
    value = args.get(name, default)
    if value is None:
        raise CommandArgumentError(f"argument '{name}' is required")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CommandArgumentError(f"argument '{name}' must be a number")
    if not low <= value <= high:
        raise CommandArgumentError(f"argument '{name}' must be between {low:g} and {high:g}")
    return float(value)


def _int(args: Args, name: str, low: int, high: int) -> int:
    value = args.get(name)
    if value is None:
        raise CommandArgumentError(f"argument '{name}' is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise CommandArgumentError(f"argument '{name}' must be a whole number")
    if not low <= value <= high:
        raise CommandArgumentError(f"argument '{name}' must be between {low} and {high}")
    return value


def _bool(args: Args, name: str) -> bool:
    value = args.get(name)
    if not isinstance(value, bool):
        raise CommandArgumentError(f"argument '{name}' must be true or false")
    return value


def _str(args: Args, name: str, max_len: int = 64, required: bool = True) -> str | None:
    value = args.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise CommandArgumentError(f"argument '{name}' must be text of 1 to {max_len} characters")
    return value.strip()


# -- camera ----------------------------------------------------------------------------------

async def _cam_power(cam: Camera, args: Args) -> Result:
    _only(args, {"on"})
    await cam.set_power(_bool(args, "on"))
    return {}


async def _cam_move(cam: Camera, args: Args) -> Result:
    _only(args, {"pan", "tilt", "speed"})
    pan = _number(args, "pan", -1, 1, 0.0)
    tilt = _number(args, "tilt", -1, 1, 0.0)
    speed = _number(args, "speed", 0, 1, 0.5)
    if pan == 0 and tilt == 0:
        await cam.stop()
    else:
        await cam.move(pan, tilt, speed)
    return {}


async def _cam_stop(cam: Camera, args: Args) -> Result:
    _only(args, set())
    await cam.stop()
    return {}


async def _cam_absolute(cam: Camera, args: Args) -> Result:
    _only(args, {"pan", "tilt", "speed"})
    await cam.move_absolute(_number(args, "pan", -1, 1), _number(args, "tilt", -1, 1),
                            _number(args, "speed", 0, 1, 1.0))
    return {}


async def _cam_relative(cam: Camera, args: Args) -> Result:
    _only(args, {"pan", "tilt", "speed"})
    await cam.move_relative(_number(args, "pan", -2, 2, 0.0), _number(args, "tilt", -2, 2, 0.0),
                            _number(args, "speed", 0, 1, 1.0))
    return {}


async def _cam_zoom(cam: Camera, args: Args) -> Result:
    if "position" in args:
        _only(args, {"position"})
        await cam.zoom_to(_number(args, "position", 0, 1))
        return {}
    _only(args, {"direction", "speed"})
    direction = args.get("direction")
    steps = {"in": 1, "tele": 1, "out": -1, "wide": -1, "stop": 0}
    if direction not in steps:
        raise CommandArgumentError(
            "zoom needs 'position' (0..1) or 'direction' (in, out or stop)")
    await cam.zoom_drive(steps[str(direction)], _number(args, "speed", 0, 1, 0.5))
    return {}


async def _cam_focus(cam: Camera, args: Args) -> Result:
    _only(args, {"mode", "direction"})
    mode = args.get("mode", "manual")
    if mode not in ("auto", "manual"):
        raise CommandArgumentError("argument 'mode' must be auto or manual")
    steps = {"near": -1, "far": 1, "stop": 0, None: 0}
    direction = args.get("direction")
    if direction not in steps:
        raise CommandArgumentError("argument 'direction' must be near, far or stop")
    await cam.focus(str(mode), steps[direction])
    return {}


async def _cam_home(cam: Camera, args: Args) -> Result:
    _only(args, set())
    await cam.home()
    return {}


def _preset(cam: Camera, args: Args) -> int:
    return _int(args, "preset", 0, cam.max_preset)


async def _cam_recall(cam: Camera, args: Args) -> Result:
    _only(args, {"preset"})
    await cam.preset_recall(_preset(cam, args))
    return {}


async def _cam_store(cam: Camera, args: Args) -> Result:
    _only(args, {"preset", "name"})
    preset = _preset(cam, args)
    name = _str(args, "name", required=False)
    await cam.preset_store(preset)
    return {"preset": preset, "name": name} if name else {"preset": preset}


async def _cam_reset(cam: Camera, args: Args) -> Result:
    _only(args, {"preset"})
    await cam.preset_reset(_preset(cam, args))
    return {}


async def _cam_position(cam: Camera, args: Args) -> Result:
    _only(args, set())
    return asdict(await cam.get_position())


# -- projector -------------------------------------------------------------------------------

async def _proj_power(proj: Projector, args: Args) -> Result:
    _only(args, {"on"})
    await proj.set_power(_bool(args, "on"))
    return {}


async def _proj_input(proj: Projector, args: Args) -> Result:
    _only(args, {"source"})
    await proj.set_input(_str(args, "source", 16) or "")
    return {}


async def _proj_mute(proj: Projector, args: Args) -> Result:
    _only(args, {"on"})
    await proj.set_av_mute(_bool(args, "on"))
    return {}


# -- mixer -----------------------------------------------------------------------------------

def _channel(mixer: AudioMixer, args: Args) -> int:
    channel = _int(args, "channel", 0, 9999)
    if channel not in mixer.channels:
        raise CommandArgumentError(
            f"channel {channel} does not exist (channels: "
            f"{', '.join(str(c) for c in mixer.channels)})")
    return channel


async def _mix_mute(mixer: AudioMixer, args: Args) -> Result:
    _only(args, {"channel", "on"})
    await mixer.set_mute(_channel(mixer, args), _bool(args, "on"))
    return {}


async def _mix_gain(mixer: AudioMixer, args: Args) -> Result:
    _only(args, {"channel", "db"})
    low, high = mixer.gain_range
    await mixer.set_gain(_channel(mixer, args), _number(args, "db", low, high))
    return {}


# -- power -----------------------------------------------------------------------------------

async def _ups_status(ups: PowerSupply, args: Args) -> Result:
    _only(args, set())
    return asdict(await ups.status())


_TABLE: Final[tuple[CommandSpec, ...]] = (
    CommandSpec("power", "camera", _cam_power, {"on": "true: on, false: standby"}),
    CommandSpec("ptz.move", "camera", _cam_move,
                {"pan": "-1..1", "tilt": "-1..1", "speed": "0..1"}),
    CommandSpec("ptz.stop", "camera", _cam_stop, {}),
    CommandSpec("ptz.absolute", "camera", _cam_absolute,
                {"pan": "-1..1", "tilt": "-1..1", "speed": "0..1 (optional)"}),
    CommandSpec("ptz.relative", "camera", _cam_relative,
                {"pan": "-2..2", "tilt": "-2..2", "speed": "0..1 (optional)"}),
    CommandSpec("zoom", "camera", _cam_zoom,
                {"position": "0..1", "direction": "in|out|stop", "speed": "0..1"}),
    CommandSpec("focus", "camera", _cam_focus, {"mode": "auto|manual",
                                                "direction": "near|far|stop"}),
    CommandSpec("home", "camera", _cam_home, {}),
    CommandSpec("preset.recall", "camera", _cam_recall, {"preset": "0..max"}),
    CommandSpec("preset.store", "camera", _cam_store, {"preset": "0..max", "name": "text"}),
    CommandSpec("preset.reset", "camera", _cam_reset, {"preset": "0..max"}),
    CommandSpec("position", "camera", _cam_position, {}, changes_device=False),
    CommandSpec("power", "projector", _proj_power, {"on": "true|false"}),
    CommandSpec("input", "projector", _proj_input, {"source": "e.g. HDMI1 or 31"}),
    CommandSpec("av_mute", "projector", _proj_mute, {"on": "true|false"}),
    CommandSpec("mute", "mixer", _mix_mute, {"channel": "number", "on": "true|false"}),
    CommandSpec("gain", "mixer", _mix_gain, {"channel": "number", "db": "dB"}),
    CommandSpec("status", "power", _ups_status, {}, changes_device=False),
)
COMMANDS: Final[dict[tuple[str, str], CommandSpec]] = {(c.kind, c.name): c for c in _TABLE}
_CAPABILITY: Final[dict[str, type[object]]] = {
    "camera": Camera, "projector": Projector, "mixer": AudioMixer, "power": PowerSupply,
}


def commands_for(kind: str) -> list[CommandSpec]:
    """The commands a device kind accepts."""
    return [c for c in _TABLE if c.kind == kind]


def find_command(device: Device, name: str) -> CommandSpec:
    """The command spec, or `UnsupportedCommandError` naming what is available."""
    spec = COMMANDS.get((device.kind, name))
    if spec is None or not isinstance(device, _CAPABILITY.get(device.kind, object)):
        names = ", ".join(c.name for c in commands_for(device.kind)) or "none"
        raise UnsupportedCommandError(
            f"a {device.kind} has no command '{name}' (available: {names})")
    return spec


async def execute(device: Device, name: str, args: Args) -> Result:
    """Check and run one command on a device; returns its JSON-able result."""
    if not isinstance(args, Mapping):
        raise CommandArgumentError("'args' must be an object")
    spec = find_command(device, name)
    return await spec.run(device, args)
