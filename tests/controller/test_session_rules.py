"""Sessions as data: states, the record from the link, the tree below a site, and who may command.

The permission matrix at the end restates the rule from the issue on its own ("the target
executes only if the origin is the chair or a delegate of a live session that includes the
target, and the target's operator has not switched on local control only"; ``readiness.run``
is also allowed in readiness) and compares it with `refusal` for every combination.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.session_rules import (
    REFUSALS,
    REMOTE_ACTIONS,
    STATES,
    Delegation,
    RecordError,
    SessionRecord,
    next_deadline,
    readiness_due,
    record_from_dict,
    refusal,
    subtree,
    transition,
)

START = 1_790_000_000.0
LEAD = 900.0


def make_record(**changes: Any) -> SessionRecord:
    """A province session with two districts' worth of sites, each district a delegate."""
    record = SessionRecord(
        id="s-1", title="Họp giao ban tháng 11", kind="regular", chair="tinh-a",
        participants=("huyen-b", "xa-b1", "xa-b2", "huyen-c", "xa-c1"),
        starts_at=START, ends_at=START + 7200, bridge="tinh", approved=True,
        approved_by="chutri", created_by="chutri", created_at=START - 86400 * 5,
        delegations=(Delegation("huyen-b", "huyen-b", ("huyen-b", "xa-b1", "xa-b2")),
                     Delegation("huyen-c", "huyen-c", ("huyen-c", "xa-c1"))),
        floor={"queue": ["xa-b1"], "speaker": None, "since": None},
        notice={"ok": True, "required": "3 working days", "given": "4 working days",
                "message": ""})
    return replace(record, **changes)


# -- the state machine ---------------------------------------------------------------------

# (state, action) → next state; every pair not listed is refused.
EXPECTED_TRANSITIONS = {
    ("scheduled", "readiness"): "readiness",
    ("scheduled", "start"): "live",
    ("readiness", "start"): "live",
    ("live", "end"): "ended",
    ("scheduled", "cancel"): "cancelled",
    ("readiness", "cancel"): "cancelled",
}
CHAIR_ACTIONS = ("readiness", "start", "end", "cancel", "approve", "delete", "")


def test_the_states_are_the_documented_ones() -> None:
    assert set(STATES) == {"scheduled", "readiness", "live", "ended", "cancelled"}


@pytest.mark.parametrize(("state", "action"), list(itertools.product(STATES, CHAIR_ACTIONS)))
def test_every_state_and_action(state: str, action: str) -> None:
    before = make_record(state=state, version=4, rollcall_open=True)
    now = START + 60
    after = transition(before, action, now)
    expected = EXPECTED_TRANSITIONS.get((state, action))
    if expected is None:
        assert after is None, f"{action!r} from {state!r} must be refused"
        return
    assert after is not None, f"{action!r} from {state!r} must give {expected!r}"
    assert after.state == expected
    assert after.version == 5
    assert before.state == state
    assert before.version == 4
    assert after.started_at == (now if expected == "live" else None)
    assert after.ended_at == (now if expected in ("ended", "cancelled") else None)
    # Roll call closes with the session; it stays open while the session goes on.
    assert after.rollcall_open is (expected not in ("ended", "cancelled"))
    # Nothing else about the session changes.
    keep = {"state", "version", "started_at", "ended_at", "rollcall_open"}
    assert {k: v for k, v in after.to_dict().items() if k not in keep} == \
        {k: v for k, v in before.to_dict().items() if k not in keep}


def test_a_whole_session_keeps_its_start_and_end_times() -> None:
    record = make_record()
    ready = transition(record, "readiness", START - LEAD)
    assert ready is not None
    live = transition(ready, "start", START)
    assert live is not None
    ended = transition(live, "end", START + 3600)
    assert ended is not None
    assert (ended.state, ended.started_at, ended.ended_at, ended.version) == \
        ("ended", START, START + 3600, record.version + 3)
    assert transition(ended, "start", START + 4000) is None
    assert transition(ended, "cancel", START + 4000) is None
    assert transition(live, "cancel", START + 10) is None  # too late to cancel


def test_readiness_is_due_at_the_lead_time_for_approved_sessions_only() -> None:
    record = make_record()
    assert not readiness_due(record, LEAD, START - LEAD - 1)
    assert readiness_due(record, LEAD, START - LEAD)
    assert readiness_due(record, LEAD, START + 60)  # a late timer still moves it
    assert not readiness_due(replace(record, approved=False), LEAD, START)
    for state in ("readiness", "live", "ended", "cancelled"):
        assert not readiness_due(replace(record, state=state), LEAD, START)


def test_the_next_deadline_is_the_earliest_approved_scheduled_session() -> None:
    assert next_deadline([], LEAD) is None
    records = [
        make_record(id="later", starts_at=START + 7200),
        make_record(id="sooner", starts_at=START + 3600),
        make_record(id="unapproved", starts_at=START, approved=False),
        make_record(id="already-ready", starts_at=START, state="readiness"),
        make_record(id="cancelled", starts_at=START, state="cancelled"),
    ]
    assert next_deadline(records, LEAD) == START + 3600 - LEAD
    assert next_deadline(records[2:], LEAD) is None


# -- the record from the link --------------------------------------------------------------

def test_a_record_survives_its_own_json() -> None:
    for record in (make_record(),
                   make_record(state="ended", started_at=START, ended_at=START + 10,
                               secret=True, locked=True, rollcall_open=True, version=9,
                               bridge=None, approved_by=None, delegations=(), floor={},
                               notice={})):
        assert record_from_dict(record.to_dict()) == record


def test_a_record_tolerates_missing_optional_fields() -> None:
    data = make_record().to_dict()
    for key in ("bridge", "secret", "approved", "approved_by", "locked", "delegations",
                "floor", "rollcall_open", "notice", "created_by", "created_at",
                "started_at", "ended_at"):
        del data[key]
    record = record_from_dict(data)
    assert (record.approved, record.delegations, record.bridge, record.secret) == \
        (False, (), None, False)


@pytest.mark.parametrize(("key", "value"), [
    ("id", ""), ("id", "   "), ("id", 5), ("id", "x" * 65), ("title", None),
    ("title", "t" * 201), ("kind", "urgent"), ("kind", None), ("state", "paused"),
    ("state", ["live"]), ("version", 0), ("version", True), ("version", 1.0),
    ("version", "2"), ("participants", "xa-b1"), ("participants", ["Xa B1"]),
    ("participants", ["xa-b1", 3]), ("participants", ["xa-1"] * 5001), ("starts_at", "soon"),
    ("starts_at", True), ("starts_at", math.nan), ("ends_at", math.inf),
    ("starts_at", 10**400), ("created_at", -(10**400)), ("started_at", "x"),
    ("bridge", 7), ("approved_by", ""), ("delegations", {"site": "huyen-b"}),
    ("delegations", ["huyen-b"]), ("delegations", [{"site": "huyen-b", "root": "huyen-b"}]),
    ("delegations", [{"site": "huyen-b", "root": 1, "sites": []}]), ("floor", []),
    ("notice", "ok"), ("chair", None),
], ids=lambda v: repr(v)[:24])
def test_a_bad_field_is_a_record_error(key: str, value: Any) -> None:
    data = make_record().to_dict()
    data[key] = value
    with pytest.raises(RecordError):
        record_from_dict(data)


def test_a_record_must_be_an_object() -> None:
    for value in (None, [], "s-1", 5, [make_record().to_dict()]):
        with pytest.raises(RecordError):
            record_from_dict(value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from([10**400, -(10**400)])
    | st.floats() | st.text(max_size=80) | st.sampled_from([*list(STATES), "regular"]),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=5),
    max_leaves=15,
)
VALID = make_record().to_dict()


@st.composite
def damaged_records(draw: st.DrawFn) -> dict[str, Any]:
    """A good record with some fields replaced by anything, or removed."""
    data = dict(VALID)
    for key in draw(st.lists(st.sampled_from(sorted(VALID)), min_size=1, max_size=4)):
        if draw(st.booleans()):
            data[key] = draw(json_values)
        else:
            data.pop(key, None)
    if draw(st.booleans()):
        data["delegations"] = [draw(st.dictionaries(
            st.sampled_from(["site", "root", "sites"]), json_values, max_size=3))]
    return data


@settings(max_examples=400, deadline=None)
@given(data=json_values | damaged_records())
def test_garbage_only_ever_raises_record_error(data: Any) -> None:
    try:
        record = record_from_dict(data)
    except RecordError:
        return
    # What is accepted is a usable record: it survives its own JSON.
    assert record.state in STATES
    assert record_from_dict(record.to_dict()) == record


# -- the tree below a site -----------------------------------------------------------------

PARENTS: dict[str, str | None] = {
    "trung-uong": None, "tinh-a": "trung-uong", "tinh-b": "trung-uong",
    "xa-a1": "tinh-a", "xa-a2": "tinh-a", "xa-b1": "tinh-b",
}


def test_subtree_of_a_three_level_tree() -> None:
    everything = subtree("trung-uong", PARENTS)
    assert everything[0] == "trung-uong"
    assert sorted(everything) == sorted(PARENTS)
    assert len(everything) == len(set(everything))
    tinh_a = subtree("tinh-a", PARENTS)
    assert tinh_a[0] == "tinh-a"
    assert set(tinh_a) == {"tinh-a", "xa-a1", "xa-a2"}
    assert subtree("xa-b1", PARENTS) == ("xa-b1",)
    assert subtree("xa-khong-co", PARENTS) == ("xa-khong-co",)


@pytest.mark.parametrize("parents", [
    {"a": "b", "b": "a"},
    {"a": "a"},
    {"a": "c", "b": "a", "c": "b", "d": "c"},
], ids=["two-cycle", "self-parent", "three-cycle-with-tail"])
def test_subtree_with_a_cycle_terminates(parents: dict[str, str | None]) -> None:
    out = subtree("a", parents)
    assert out[0] == "a"
    assert len(out) == len(set(out))
    assert set(out) <= set(parents) | {"a"}


# -- the permission matrix -----------------------------------------------------------------

# The actions a target runs for the chair, and when: stated here again on purpose.
ACTION_STATES = {
    "floor.grant": {"live"}, "floor.revoke": {"live"}, "hand.lower": {"live"},
    "mic.mute": {"live"},
    "camera": {"live"}, "projector": {"live"}, "readiness.run": {"readiness", "live"},
}
CHAIR = "tinh-a"
ORIGINS = {
    "chair": CHAIR,
    "delegate of the target's subtree": "huyen-b",
    "delegate of another subtree": "huyen-c",
    "another participant": "xa-b2",
    "a site not in the session": "xa-z",
}
TARGETS = {"participant": "xa-b1", "not a participant": "xa-b3"}


def expected_violations(state: str, origin: str, local_only: bool, action: str,
                        target: str) -> set[str]:
    """Every rule that ``action`` from ``origin`` at ``target`` breaks; empty → execute."""
    broken = set()
    if action not in ACTION_STATES:
        broken.add("unknown_action")
    elif state not in ACTION_STATES[action]:
        broken.add("session_not_live")
    if target != "participant":
        broken.add("not_participant")
    if origin != "chair" and not (origin == "delegate of the target's subtree"
                                  and target == "participant"):
        broken.add("not_chair")
    if local_only:
        broken.add("local_control_only")
    return broken


def test_the_matrix_covers_every_remote_action() -> None:
    assert set(REMOTE_ACTIONS) == set(ACTION_STATES)
    assert set(REFUSALS) >= {"unknown_action", "unknown_session", "session_not_live",
                             "not_participant", "not_chair", "local_control_only"}


@pytest.mark.parametrize("state", STATES)
def test_permission_matrix(state: str) -> None:
    record = make_record(state=state)
    mismatches = []
    combos = itertools.product(ORIGINS, (False, True), [*REMOTE_ACTIONS, "self.destruct"],
                               TARGETS)
    count = 0
    for origin, local_only, action, target in combos:
        count += 1
        got = refusal(record, target=TARGETS[target], origin_site=ORIGINS[origin],
                      action=action, local_control_only=local_only)
        broken = expected_violations(state, origin, local_only, action, target)
        case = (f"{action} from {origin} at a {target}, session {state}, "
                f"local control only {'on' if local_only else 'off'}")
        if not broken and got is not None:
            mismatches.append(f"{case}: refused with {got!r}, expected to execute")
        elif broken and got not in broken:
            mismatches.append(f"{case}: got {got!r}, expected one of {sorted(broken)}")
        elif got is not None and got not in REFUSALS:
            mismatches.append(f"{case}: {got!r} has no message for the chair")
    assert count == 5 * 2 * (len(ACTION_STATES) + 1) * 2
    assert not mismatches, "\n".join(mismatches)


def test_the_single_broken_rule_is_the_reason_given() -> None:
    live = make_record(state="live")
    base: dict[str, Any] = {"target": "xa-b1", "origin_site": CHAIR, "action": "camera",
                            "local_control_only": False}
    assert refusal(live, **base) is None
    assert refusal(live, **{**base, "origin_site": "huyen-b"}) is None
    assert refusal(live, **{**base, "origin_site": "huyen-c"}) == "not_chair"
    assert refusal(live, **{**base, "local_control_only": True}) == "local_control_only"
    assert refusal(live, **{**base, "target": "xa-b3"}) == "not_participant"
    assert refusal(live, **{**base, "action": "format"}) == "unknown_action"
    assert refusal(make_record(state="ended"), **base) == "session_not_live"
    assert refusal(None, **base) == "unknown_session"
    # After undelegation the district no longer commands its communes.
    assert refusal(replace(live, delegations=()), **{**base, "origin_site": "huyen-b"}) == \
        "not_chair"
