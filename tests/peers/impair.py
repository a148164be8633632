"""Random UDP packet loss inside the lab namespace, for link-impairment tests and benches.

Where the media goes: Janus and every client of the lab share 198.18.0.1, a local address of
the namespace, so their RTP runs over ``lo`` (``ip route get 198.18.0.1`` says
``local ... dev lo``), never over the veth. Loss is therefore put on ``lo``, UDP only, so the
sites' HTTP and uplink (TCP on 127.0.0.1) stay clean while every RTP/RTCP packet between the
sites and Janus (both directions: a site's send and its receive) risks being dropped.

How: this kernel has no ``sch_netem`` (nor prio, gact, matchall), so the loss is built from
what it has: an HTB root whose default class passes everything, a second class whose leaf is
``pfifo limit 0`` (drops every packet it is given), and a classic-BPF classifier sending a
random ``percent`` of UDP packets to that class (``ld rand``: the kernel's prandom, as netem's
own loss uses). ``qdisc_drops`` reads how many it dropped.

API: ``add_udp_loss(netns, percent)``, ``remove_udp_loss(netns)`` (idempotent),
``udp_loss(netns, percent)`` (context manager, always removes), ``qdisc_drops(netns)``.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

DEVICE: Final = "lo"
_SKF_NET_OFF: Final = 0xFFF00000  # classic BPF: offsets relative to the network header
_SKF_AD_RANDOM: Final = 0xFFFFF000 + 56  # classic BPF ancillary load: prandom_u32()
_IPPROTO_UDP: Final = 17
_MATCH: Final = 0xFFFFFFFF  # cls_bpf: -1 = "use the filter's classid"


def _tc(netns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tc", "-n", netns, *args], capture_output=True, text=True,
                          timeout=10, check=check)


def _bytecode(percent: float) -> str:
    """cBPF: UDP and a random draw under ``percent`` → match; anything else → no match."""
    cut = min(2**32 - 1, round(2**32 * percent / 100.0))
    program = [
        (0x30, 0, 0, _SKF_NET_OFF + 9),   # ldb [net + 9]     (IPv4 protocol)
        (0x15, 0, 3, _IPPROTO_UDP),       # jeq #17, else → no match
        (0x20, 0, 0, _SKF_AD_RANDOM),     # ld rand
        (0x35, 1, 0, cut),                # jge #cut → no match
        (0x06, 0, 0, _MATCH),             # ret -1            (drop class)
        (0x06, 0, 0, 0),                  # ret 0             (not classified here)
    ]
    return ",".join([str(len(program))] + [" ".join(map(str, op)) for op in program])


def add_udp_loss(netns: str, percent: float, *, device: str = DEVICE) -> None:
    """Drop ``percent`` % of UDP packets leaving ``device`` inside ``netns``, at random."""
    if not 0 < percent <= 100:
        raise ValueError("percent must be in (0, 100]")
    remove_udp_loss(netns, device=device)
    try:
        _tc(netns, "qdisc", "add", "dev", device, "root", "handle", "1:", "htb", "default", "1")
        for minor in ("1", "2"):
            _tc(netns, "class", "add", "dev", device, "parent", "1:", "classid", f"1:{minor}",
                "htb", "rate", "10gbit")
        _tc(netns, "qdisc", "add", "dev", device, "parent", "1:2", "handle", "20:",
            "pfifo", "limit", "0")
        _tc(netns, "filter", "add", "dev", device, "parent", "1:", "protocol", "ip", "prio",
            "1", "bpf", "bytecode", _bytecode(percent), "classid", "1:2")
    except BaseException:
        remove_udp_loss(netns, device=device)
        raise


def remove_udp_loss(netns: str, *, device: str = DEVICE) -> None:
    """Back to no qdisc on ``device`` (nothing happens if there was none)."""
    _tc(netns, "qdisc", "del", "dev", device, "root", check=False)


def qdisc_drops(netns: str, *, device: str = DEVICE) -> int:
    """Packets dropped by the root qdisc of ``device`` so far (0 without one)."""
    shown = _tc(netns, "-s", "qdisc", "show", "dev", device, check=False).stdout
    found = re.search(r"qdisc htb 1: root.*?dropped (\d+)", shown, re.S)
    return int(found.group(1)) if found else 0


@contextmanager
def udp_loss(netns: str, percent: float, *, device: str = DEVICE) -> Iterator[None]:
    """``percent`` % random UDP loss for the block; removed however the block ends."""
    add_udp_loss(netns, percent, device=device)
    try:
        yield
    finally:
        remove_udp_loss(netns, device=device)
