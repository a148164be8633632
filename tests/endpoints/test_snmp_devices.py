"""SNMP drivers against real agents: UPS-MIB and IF-MIB records in snmpsim, IF-MIB and
writable vendor-style objects in Debian's snmpd."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest

from endpoints.commands import execute
from endpoints.errors import CommandArgumentError, DeviceRefusedError, UnsupportedCommandError
from endpoints.interfaces import (
    AudioMixer,
    Device,
    DeviceSpec,
    NetworkDevice,
    PowerState,
    PowerSupply,
    Projector,
)
from endpoints.registry import build_device
from endpoints.sim.snmpd_lab import SnmpdLab
from endpoints.snmp.config import SnmpConfigError
from endpoints.snmp.devices import SnmpMixer, SnmpProjector, device_from_spec
from tests.peers.snmp import (  # noqa: F401 - session fixtures used by name
    MIXER_GAIN,
    MIXER_MUTE,
    PROJECTOR_FAN,
    PROJECTOR_INPUT,
    PROJECTOR_LAMP,
    PROJECTOR_MUTE,
    PROJECTOR_POWER,
    Snmpsim,
    snmpd,
    snmpd_spec,
    snmpsim,
)

Build = Callable[[DeviceSpec], Any]


@pytest.fixture
async def build() -> AsyncIterator[Build]:
    """Builds drivers through the registry, opens them, closes them after the test."""
    made: list[Device] = []

    async def make(spec: DeviceSpec) -> Any:
        device = build_device(spec)
        await device.open()
        made.append(device)
        return device

    try:
        yield make
    finally:
        for device in made:
            await device.close()


async def test_ups_on_battery_from_the_ups_mib_record(snmpsim: Snmpsim,  # noqa: F811
                                                      build: Build) -> None:
    ups = await build(snmpsim.spec("ups-on-battery", "power", profile="ups-mib"))
    assert isinstance(ups, PowerSupply)
    status = await ups.status()
    assert status.on_battery
    assert status.output_source == "battery"
    assert (status.charge_percent, status.runtime_minutes, status.load_percent) == (63, 18, 41)
    assert status.battery_status == "normal"
    assert status.input_voltage == 0
    assert status.alarms == 1
    readings = await ups.poll()
    assert json.loads(json.dumps(readings)) == readings
    assert readings["on_battery"] is True
    assert (await execute(ups, "status", {}))["charge_percent"] == 63


async def test_interfaces_of_the_real_host_from_snmpd(snmpd: SnmpdLab,  # noqa: F811
                                                      build: Build) -> None:
    switch = await build(snmpd_spec(snmpd, kind="network", profile="if-mib"))
    assert isinstance(switch, NetworkDevice)
    by_name = {i.name: i for i in await switch.interfaces()}
    lo = by_name["lo"]
    assert lo.up
    assert lo.admin_up
    assert lo.index == 1
    # Our own SNMP traffic crosses lo, so its 64-bit counters are moving.
    assert lo.in_octets > 0
    assert lo.out_octets > 0
    readings = await switch.poll()
    assert json.loads(json.dumps(readings)) == readings
    assert readings["interfaces_up"] >= 1


async def test_interfaces_fall_back_to_the_32_bit_if_table(snmpsim: Snmpsim,  # noqa: F811
                                                           build: Build) -> None:
    switch = await build(snmpsim.spec("switch-legacy", "network"))
    port1, port2 = await switch.interfaces()
    assert (port1.name, port1.up, port1.speed_bps) == ("port 1", True, 100_000_000)
    assert (port1.in_octets, port1.out_octets) == (123456789, 987654321)
    assert (port1.in_errors, port1.out_errors) == (7, 3)
    assert (port2.up, port2.admin_up, port2.speed_bps) == (False, True, None)
    assert (await switch.poll())["interfaces_down"] == 1


async def test_high_speed_and_hc_counters_win_over_saturated_ones(
        snmpsim: Snmpsim, build: Build) -> None:  # noqa: F811
    switch = await build(snmpsim.spec("switch-10g", "network"))
    (uplink,) = await switch.interfaces()
    assert (uplink.index, uplink.name) == (25, "Te1/0/25")
    assert uplink.speed_bps == 10_000_000_000
    assert (uplink.in_octets, uplink.out_octets) == (98765432109876, 12345678901234)


PROJECTOR_OIDS = {
    "power": {"oid": PROJECTOR_POWER, "on": 1, "off": 0},
    "input": {"oid": PROJECTOR_INPUT, "values": {"HDMI1": 1, "HDMI2": 2, "VGA": 3}},
    "av_mute": {"oid": PROJECTOR_MUTE, "on": 1, "off": 0},
    "lamp_hours": PROJECTOR_LAMP,
    "errors": {"fan": PROJECTOR_FAN},
}


async def test_projector_over_an_oid_map(snmpd: SnmpdLab, build: Build) -> None:  # noqa: F811
    projector = await build(snmpd_spec(snmpd, kind="projector", write=True,
                                       oids=PROJECTOR_OIDS))
    assert isinstance(projector, Projector)
    await execute(projector, "power", {"on": True})
    assert await projector.get_power() is PowerState.ON
    await projector.set_input("hdmi2")
    assert await projector.get_input() == "HDMI2"
    await execute(projector, "input", {"source": "3"})
    assert await projector.get_input() == "VGA"
    with pytest.raises(CommandArgumentError, match="HDMI1, HDMI2, VGA"):
        await projector.set_input("DVI")
    assert await projector.inputs() == ("HDMI1", "HDMI2", "VGA")
    await projector.set_av_mute(True)
    assert await projector.lamp_hours() == [1234]
    assert (await projector.error_status()).problems() == {"fan": "warning"}
    readings = await projector.poll()
    assert readings == {"power": "on", "input": "VGA", "av_mute": True, "lamp_hours": [1234],
                        "errors": {"fan": "warning"}}
    await projector.set_power(False)
    assert await projector.get_power() is PowerState.OFF


async def test_projector_refusals_and_unmapped_capabilities(snmpd: SnmpdLab,  # noqa: F811
                                                            build: Build) -> None:
    oids = {"power": {"oid": PROJECTOR_LAMP, "on": 1, "off": 0}}
    projector = await build(snmpd_spec(snmpd, kind="projector", write=True, oids=oids))
    with pytest.raises(DeviceRefusedError) as caught:
        await projector.set_power(True)
    assert caught.value.device_code == "notWritable"
    assert await projector.get_power() is PowerState.UNKNOWN  # 1234 names no state
    for call in (projector.get_input(), projector.set_av_mute(True), projector.lamp_hours(),
                 projector.error_status()):
        with pytest.raises(UnsupportedCommandError):
            await call
    assert await projector.inputs() == ()


async def test_mixer_over_an_oid_map(snmpd: SnmpdLab, build: Build) -> None:  # noqa: F811
    oids = {"channels": [1, 2], "mute": {"oid": MIXER_MUTE, "on": 1, "off": 0},
            "gain": {"oid": MIXER_GAIN, "scale": 10, "min": -60, "max": 12}}
    mixer = await build(snmpd_spec(snmpd, kind="mixer", write=True, oids=oids))
    assert isinstance(mixer, AudioMixer)
    assert mixer.gain_range == (-60.0, 12.0)
    await execute(mixer, "gain", {"channel": 1, "db": -12.5})
    await execute(mixer, "mute", {"channel": 2, "on": True})
    one, two = await mixer.get_channel(1), await mixer.get_channel(2)
    assert (one.gain_db, one.muted, two.muted) == (-12.5, False, True)
    with pytest.raises(CommandArgumentError):
        await execute(mixer, "gain", {"channel": 1, "db": 20})
    with pytest.raises(CommandArgumentError):
        await execute(mixer, "mute", {"channel": 3, "on": True})
    readings = await mixer.poll()
    assert readings["channels"][0] == {"channel": 1, "muted": False, "gain_db": -12.5,
                                       "name": ""}
    await mixer.set_mute(2, False)


async def test_mixer_without_a_gain_object_refuses_gain(snmpd: SnmpdLab,  # noqa: F811
                                                        build: Build) -> None:
    oids = {"channels": 2, "mute": {"oid": MIXER_MUTE, "on": 1, "off": 0}}
    mixer = await build(snmpd_spec(snmpd, kind="mixer", write=True, oids=oids))
    with pytest.raises(UnsupportedCommandError):
        await mixer.set_gain(1, 0.0)
    assert (await mixer.get_channel(1)).gain_db == 0.0


def _spec(kind: str, **options: Any) -> DeviceSpec:
    return DeviceSpec(id="dev", kind=kind, protocol="snmp", host="192.0.2.30",
                      options={"version": "2c", **options}, secrets={"community": "c"})


def test_the_factory_picks_the_profile_by_kind() -> None:
    assert type(device_from_spec(_spec("power"))).__name__ == "SnmpUps"
    assert type(device_from_spec(_spec("network", profile="if-mib"))).__name__ == \
        "SnmpNetworkDevice"
    assert isinstance(device_from_spec(_spec("projector", oids={"lamp_hours": "1.3.6.1.4.1.9.1"})),
                      SnmpProjector)
    assert isinstance(device_from_spec(_spec("mixer", oids={"channels": 4})), SnmpMixer)


@pytest.mark.parametrize(("spec", "needle"), [
    (_spec("camera"), "no SNMP driver"),
    (_spec("power", profile="if-mib"), "ups-mib"),
    (_spec("network", oids={}), "oids does not apply"),
    (_spec("projector"), "needs oids"),
    (_spec("projector", oids={"power": {"oid": "1.3.6.1.4.1.9.1"}, "zoom": 1}), "zoom"),
    (_spec("projector", oids={"power": {"oid": "1.3.6.x"}}), "oids.power.oid"),
    (_spec("projector", oids={"power": {"oid": "1.3.6.1.4.1.9.1", "on": 1, "off": 1}}),
     "same value"),
    (_spec("projector", oids={"input": {"oid": "1.3.6.1.4.1.9.1", "values": {}}}),
     "1 to 64 inputs"),
    (_spec("mixer", oids={"mute": {"oid": "1.3.6.1.4.1.9.{channel}"}}), "oids.channels"),
    (_spec("mixer", oids={"channels": 2, "mute": {"oid": "1.3.6.1.4.1.9.1"}}), "{channel}"),
    (_spec("mixer", oids={"channels": 2, "gain": {"oid": "1.3.6.1.4.1.9.{channel}",
                                                  "scale": 0}}), "scale"),
    (replace(_spec("power"), host=None), "needs host"),
])
def test_bad_device_settings_are_refused(spec: DeviceSpec, needle: str) -> None:
    with pytest.raises(SnmpConfigError) as caught:
        device_from_spec(spec)
    assert needle in caught.value.message
