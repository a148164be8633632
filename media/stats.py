"""Link health: one `LinkSample` per call, direction and media kind, every second.

`estimate_mos` is a documented simplification of the ITU-T G.107 E-model: the
transmission rating R starts from 93.2, loses the delay impairment Id (one-way
delay = RTT/2 plus the jitter buffer, taken as 2 × jitter, plus 20 ms of
packetisation) and the effective equipment impairment Ie-eff for packet loss
(Ie = 0 and Bpl = 10 for Opus-like codecs with concealment), then maps R to MOS
with the standard cubic. Loss is treated as random (BurstR = 1).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LinkSample:
    """How one direction of one media stream of a call did over the last interval."""

    call_id: str
    bridge_id: str
    direction: str  # "send" or "recv"
    kind: str  # "audio" or "video"
    at: float
    loss_percent: float | None = None
    jitter_ms: float | None = None
    rtt_ms: float | None = None
    bitrate_kbps: float | None = None
    fps: float | None = None
    freeze_ms: float | None = None
    mos: float | None = None


def r_factor(loss_percent: float, jitter_ms: float, rtt_ms: float, *, ie: float = 0.0,
             bpl: float = 10.0) -> float:
    """The E-model transmission rating R (G.107, simplified as the module says)."""
    delay = rtt_ms / 2 + 2 * jitter_ms + 20.0
    # G.107 delay impairment: a knee at 177.3 ms one-way.
    idd = 0.024 * delay + (0.11 * (delay - 177.3) if delay > 177.3 else 0.0)
    ppl = max(0.0, min(loss_percent, 100.0))
    ie_eff = ie + (95.0 - ie) * ppl / (ppl + bpl)
    return 93.2 - idd - ie_eff


def mos_from_r(r: float) -> float:
    """G.107 Annex B: R to estimated MOS (1.0 .. 4.5)."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return max(1.0, 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6)


def estimate_mos(loss_percent: float, jitter_ms: float, rtt_ms: float) -> float:
    """A MOS estimate from loss, jitter and round-trip time, rounded to 0.01."""
    return round(mos_from_r(r_factor(loss_percent, jitter_ms, rtt_ms)), 2)
