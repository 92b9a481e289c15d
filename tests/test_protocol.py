"""Unit and property tests for stuttgart_chat.common.protocol."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stuttgart_chat.common.errors import ChatError, ProtocolError
from stuttgart_chat.common.protocol import (
    MESSAGE_TYPES,
    PROTOCOL_VERSION,
    Chat,
    Error,
    ErrorCode,
    Join,
    Joined,
    Leave,
    Left,
    Limits,
    Message,
    Welcome,
    parse_message,
)

LONE_SURROGATE = "\ud800"

# Valid text: any Unicode scalar value (no lone surrogates, which UTF-8 cannot carry).
text_st = st.text(st.characters(codec="utf-8"), max_size=40)
name_st = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
clock_st = st.dictionaries(name_st, st.integers(min_value=1, max_value=2**40), max_size=5)
json_scalar_st = st.none() | st.booleans() | st.integers() | text_st
json_st = st.recursive(
    json_scalar_st | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text_st, inner, max_size=4),
    max_leaves=10,
)

messages_st: st.SearchStrategy[Message] = st.one_of(
    st.builds(Join, username=name_st, version=st.integers(min_value=0, max_value=2**31)),
    st.builds(
        Welcome,
        username=name_st,
        members=st.lists(name_st, max_size=5).map(tuple),
        vc=clock_st,
        limits=st.dictionaries(text_st, json_st, max_size=3),
        version=st.integers(min_value=0, max_value=10),
    ),
    st.builds(Chat, text=text_st, vc=clock_st, sender=st.none() | name_st),
    st.just(Leave()),
    st.builds(Joined, username=name_st),
    st.builds(Left, username=name_st, reason=text_st),
    st.builds(Error, code=text_st, message=text_st),
)


def valid_wire() -> dict[str, dict[str, Any]]:
    """One valid wire object per type (fresh copies each call)."""
    return {
        "JOIN": {"type": "JOIN", "version": 1, "username": "Alice"},
        "WELCOME": {
            "type": "WELCOME",
            "version": 1,
            "username": "Alice",
            "members": ["Bob", "Alice"],
            "vc": {"Bob": 2},
            "limits": {"max_text_bytes": 100},
        },
        "CHAT": {"type": "CHAT", "sender": "Bob", "text": "hi", "vc": {"Bob": 1}},
        "LEAVE": {"type": "LEAVE"},
        "JOINED": {"type": "JOINED", "username": "Bob"},
        "LEFT": {"type": "LEFT", "username": "Bob", "reason": "leave"},
        "ERROR": {"type": "ERROR", "code": "bad_field", "message": "oops"},
    }


def assert_protocol_error(obj: dict[str, Any], code: str) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_message(obj)
    assert info.value.code == code, info.value
    return info.value


# -- round trips -------------------------------------------------------------------------


def test_every_type_has_a_parser() -> None:
    assert set(MESSAGE_TYPES) == {"JOIN", "WELCOME", "CHAT", "LEAVE", "JOINED", "LEFT", "ERROR"}
    assert set(MESSAGE_TYPES) == set(valid_wire())


@pytest.mark.parametrize("kind", sorted(valid_wire()))
def test_valid_examples_parse_and_round_trip(kind: str) -> None:
    obj = valid_wire()[kind]
    message = parse_message(obj)
    assert message.TYPE == kind
    assert message.to_wire() == obj
    assert parse_message(message.to_wire()) == message


@given(messages_st)
@settings(max_examples=300, deadline=None)
def test_to_wire_parse_round_trip(message: Message) -> None:
    wire = message.to_wire()
    assert wire["type"] == message.TYPE
    assert parse_message(wire) == message
    # ...and through actual JSON text, as on the wire.
    assert parse_message(json.loads(json.dumps(wire))) == message


def test_defaults() -> None:
    assert Join("Alice").version == PROTOCOL_VERSION
    assert Left("Bob").reason == "leave"
    assert Chat("hi", {}).sender is None


def test_welcome_limits_are_optional() -> None:
    obj = valid_wire()["WELCOME"]
    del obj["limits"]
    message = parse_message(obj)
    assert isinstance(message, Welcome)
    assert message.limits == {}
    assert message.members == ("Bob", "Alice")


def test_chat_sender_is_optional_and_null_means_none() -> None:
    obj = valid_wire()["CHAT"]
    del obj["sender"]
    assert parse_message(obj) == Chat(text="hi", vc={"Bob": 1})
    obj["sender"] = None
    assert parse_message(obj) == Chat(text="hi", vc={"Bob": 1})
    assert "sender" not in Chat(text="hi", vc={}).to_wire()


def test_zero_clock_entries_are_dropped() -> None:
    obj = {"type": "CHAT", "sender": "Bob", "text": "", "vc": {"Bob": 1, "Alice": 0}}
    message = parse_message(obj)
    assert isinstance(message, Chat)
    assert message.vc == {"Bob": 1}


def test_extra_fields_are_ignored() -> None:
    obj = valid_wire()["JOINED"]
    obj["colour"] = "blue"
    assert parse_message(obj) == Joined("Bob")


def test_chat_seq_label_and_stamped() -> None:
    message = Chat(text="hi", vc={"Alice": 3, "Bob": 1})
    assert message.seq == 0
    stamped = message.stamped("Alice")
    assert stamped == Chat(text="hi", vc={"Alice": 3, "Bob": 1}, sender="Alice")
    assert stamped.seq == 3
    assert stamped.label == "Alice#3"
    assert Chat(text="", vc={}, sender="Bob").seq == 0


def test_to_wire_copies_mutable_fields() -> None:
    message = Welcome(username="A", members=("A",), vc={"A": 1}, limits={"x": 1})
    wire = message.to_wire()
    wire["vc"]["A"] = 99
    wire["members"].append("B")
    wire["limits"]["x"] = 2
    assert message == Welcome(username="A", members=("A",), vc={"A": 1}, limits={"x": 1})


# -- unknown type ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [
        {},
        {"username": "Alice"},
        {"type": None},
        {"type": 1},
        {"type": True},
        {"type": ["CHAT"]},
        {"type": {"CHAT": 1}},
        {"type": "chat"},
        {"type": "PING"},
        {"type": ""},
        {"type": "CHAT "},
        {"type": LONE_SURROGATE},
    ],
)
def test_unknown_or_missing_type(obj: dict[str, Any]) -> None:
    assert_protocol_error(obj, ErrorCode.UNKNOWN_TYPE)


def test_protocol_error_carries_code_and_message() -> None:
    error = assert_protocol_error({"type": "NOPE"}, ErrorCode.UNKNOWN_TYPE)
    assert isinstance(error, ChatError)
    assert "NOPE" in error.message
    assert str(error).startswith("unknown_type: ")


# -- field errors ------------------------------------------------------------------------

REQUIRED_FIELDS = [
    (kind, name)
    for kind, obj in valid_wire().items()
    for name in obj
    if name != "type" and (kind, name) not in {("WELCOME", "limits"), ("CHAT", "sender")}
]


@pytest.mark.parametrize(("kind", "name"), REQUIRED_FIELDS)
def test_missing_field(kind: str, name: str) -> None:
    obj = valid_wire()[kind]
    del obj[name]
    error = assert_protocol_error(obj, ErrorCode.BAD_FIELD)
    assert name in error.message


STRING_FIELDS = [
    ("JOIN", "username"),
    ("WELCOME", "username"),
    ("CHAT", "text"),
    ("CHAT", "sender"),
    ("JOINED", "username"),
    ("LEFT", "username"),
    ("LEFT", "reason"),
    ("ERROR", "code"),
    ("ERROR", "message"),
]
INT_FIELDS = [("JOIN", "version"), ("WELCOME", "version")]
CLOCK_FIELDS = [("WELCOME", "vc"), ("CHAT", "vc")]

NOT_STRINGS: list[Any] = [1, 1.5, True, False, [], ["Alice"], {}, {"a": "b"}]
NOT_INTS: list[Any] = [None, "1", 1.0, 1.5, True, False, [], [1], {}]
NOT_CLOCKS: list[Any] = [None, "Bob", 1, True, [], [["Bob", 1]]]
BAD_CLOCK_ENTRIES: list[Any] = [-1, -(2**70), True, False, 1.0, 1.5, "1", None, [1], {}]


def _wrong_type_cases() -> list[tuple[str, str, Any]]:
    cases: list[tuple[str, str, Any]] = []
    for kind, name in STRING_FIELDS:
        values = NOT_STRINGS if (kind, name) == ("CHAT", "sender") else [None, *NOT_STRINGS]
        cases += [(kind, name, value) for value in values]
    for kind, name in INT_FIELDS:
        cases += [(kind, name, value) for value in NOT_INTS]
    for kind, name in CLOCK_FIELDS:
        cases += [(kind, name, value) for value in NOT_CLOCKS]
    bad_members: list[Any] = [None, "Bob", 1, {}, {"Bob": 1}, [1], ["Bob", None], [["Bob"]], [True]]
    bad_limits: list[Any] = [None, [], "x", 1, True]
    cases += [("WELCOME", "members", value) for value in bad_members]
    cases += [("WELCOME", "limits", value) for value in bad_limits]
    return cases


@pytest.mark.parametrize(("kind", "name", "value"), _wrong_type_cases())
def test_wrong_json_type(kind: str, name: str, value: Any) -> None:
    obj = valid_wire()[kind]
    obj[name] = value
    assert_protocol_error(obj, ErrorCode.BAD_FIELD)


@pytest.mark.parametrize(("kind", "name"), CLOCK_FIELDS)
@pytest.mark.parametrize("entry", BAD_CLOCK_ENTRIES, ids=repr)
def test_bad_clock_entry(kind: str, name: str, entry: Any) -> None:
    obj = valid_wire()[kind]
    obj[name] = {"Bob": 1, "Alice": entry}
    error = assert_protocol_error(obj, ErrorCode.BAD_FIELD)
    assert "Alice" in error.message


@pytest.mark.parametrize(("kind", "name"), STRING_FIELDS)
@pytest.mark.parametrize(
    "bad", [LONE_SURROGATE, "\udfff", "ok" + LONE_SURROGATE, "\ud83d"], ids=repr
)
def test_lone_surrogate_in_string_field(kind: str, name: str, bad: str) -> None:
    obj = valid_wire()[kind]
    obj[name] = bad
    assert_protocol_error(obj, ErrorCode.BAD_FIELD)


@pytest.mark.parametrize(("kind", "name"), CLOCK_FIELDS)
def test_lone_surrogate_in_clock_key(kind: str, name: str) -> None:
    obj = valid_wire()[kind]
    obj[name] = {LONE_SURROGATE: 1}
    assert_protocol_error(obj, ErrorCode.BAD_FIELD)
    # Even a zero entry (which is dropped) must not smuggle one in.
    obj[name] = {LONE_SURROGATE: 0}
    assert_protocol_error(obj, ErrorCode.BAD_FIELD)


def test_lone_surrogate_in_member_list() -> None:
    obj = valid_wire()["WELCOME"]
    obj["members"] = ["Bob", LONE_SURROGATE]
    assert_protocol_error(obj, ErrorCode.BAD_FIELD)


def test_lone_surrogate_from_json_escape() -> None:
    # JSON text may spell a lone surrogate as an escape; json.loads lets it through.
    obj = json.loads('{"type": "CHAT", "text": "\\ud800", "vc": {}}')
    assert obj["text"] == LONE_SURROGATE
    assert_protocol_error(obj, ErrorCode.BAD_FIELD)


def test_surrogate_pair_escape_is_fine() -> None:
    obj = json.loads('{"type": "CHAT", "text": "\\ud83d\\ude00", "vc": {}}')
    assert parse_message(obj) == Chat(text="\U0001f600", vc={})


@given(
    st.sampled_from(sorted(MESSAGE_TYPES)),
    st.dictionaries(st.sampled_from(["username", "version", "members", "vc", "limits",
                                     "text", "sender", "reason", "code", "message"]),
                    json_st, max_size=8),
)  # fmt: skip
@settings(max_examples=300, deadline=None)
def test_parse_message_only_raises_protocol_error(kind: str, fields: dict[str, Any]) -> None:
    obj = {**fields, "type": kind}
    try:
        message = parse_message(obj)
    except ProtocolError as error:
        assert error.code in (ErrorCode.BAD_FIELD, ErrorCode.UNKNOWN_TYPE)
    else:
        assert message.TYPE == kind


# -- Limits --------------------------------------------------------------------------------


def test_default_limits() -> None:
    limits = Limits()
    assert limits.max_frame_bytes == 1024 * 1024
    assert limits.max_text_bytes == 32 * 1024
    assert limits.max_username_length == 32
    assert limits.to_wire() == {
        "max_frame_bytes": 1024 * 1024,
        "max_text_bytes": 32 * 1024,
        "max_username_length": 32,
    }


@pytest.mark.parametrize(
    "name", ["max_frame_bytes", "max_text_bytes", "max_username_length", "max_members"]
)
@pytest.mark.parametrize("value", [0, -1, -(2**40)])
def test_limits_reject_values_below_one(name: str, value: int) -> None:
    with pytest.raises(ValueError, match=name):
        Limits(**{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["max_frame_bytes", "max_text_bytes", "max_username_length", "max_members"]
)
def test_limits_accept_one(name: str) -> None:
    assert getattr(Limits(**{name: 1}), name) == 1  # type: ignore[arg-type]


def test_limits_reject_a_bad_pattern() -> None:
    with pytest.raises(re.error):
        Limits(username_pattern="[a-")


@pytest.mark.parametrize(
    "username",
    ["Alice", "a", "bob_1", "j.doe", "x-y", "Jürgen", "Łukasz", "東京", "Ελένη", "Ölçü", "42", "_"],
)
def test_username_accepted(username: str) -> None:
    Limits().check_username(username)


@pytest.mark.parametrize(
    "username",
    [
        "a b",
        " Alice",
        "Alice ",
        "Alice\n",
        "\nAlice",
        "a\tb",
        "a'b",
        'a"b',
        "a;b",
        "a/b",
        "a@b",
        "a:b",
        "a\x00b",
        "a\u200bb",  # zero-width space
        "😀",
    ],
)
def test_username_bad_characters(username: str) -> None:
    with pytest.raises(ProtocolError) as info:
        Limits().check_username(username)
    assert info.value.code == ErrorCode.BAD_USERNAME


def test_username_empty() -> None:
    with pytest.raises(ProtocolError) as info:
        Limits().check_username("")
    assert info.value.code == ErrorCode.BAD_USERNAME
    assert "empty" in info.value.message


def test_username_length_counts_characters() -> None:
    limits = Limits(max_username_length=5)
    limits.check_username("abcde")
    limits.check_username("üüüüü")  # 10 bytes of UTF-8, 5 characters
    with pytest.raises(ProtocolError) as info:
        limits.check_username("abcdef")
    assert info.value.code == ErrorCode.BAD_USERNAME
    with pytest.raises(ProtocolError):
        limits.check_username("üüüüüü")


def test_default_username_limit_boundary() -> None:
    Limits().check_username("x" * 32)
    with pytest.raises(ProtocolError):
        Limits().check_username("x" * 33)


def test_custom_username_pattern() -> None:
    limits = Limits(username_pattern=r"[a-z]+")
    limits.check_username("alice")
    with pytest.raises(ProtocolError):
        limits.check_username("Alice")


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("", True),
        ("abcd", True),
        ("abcde", False),
        ("a€", True),  # 1 + 3 bytes
        ("aa€", False),  # 2 + 3 bytes, only 3 characters
        ("ü€", False),  # 2 + 3
        ("üü", True),  # 2 + 2
        ("\U0001f600", True),  # 4 bytes, one character
        ("a\U0001f600", False),
        ("\U0001f600\U0001f600", False),
    ],
)
def test_check_text_counts_utf8_bytes(text: str, ok: bool) -> None:
    limits = Limits(max_text_bytes=4)
    if ok:
        limits.check_text(text)
    else:
        with pytest.raises(ProtocolError) as info:
            limits.check_text(text)
        assert info.value.code == ErrorCode.TEXT_TOO_LONG


def test_check_text_never_raises_on_surrogates() -> None:
    limits = Limits(max_text_bytes=3)
    limits.check_text(LONE_SURROGATE)  # 3 bytes with surrogatepass
    with pytest.raises(ProtocolError) as info:
        limits.check_text("a" + LONE_SURROGATE)
    assert info.value.code == ErrorCode.TEXT_TOO_LONG


@given(text_st, st.integers(min_value=1, max_value=60))
@settings(max_examples=200, deadline=None)
def test_check_text_matches_utf8_length(text: str, limit: int) -> None:
    limits = Limits(max_text_bytes=limit)
    if len(text.encode("utf-8")) <= limit:
        limits.check_text(text)
    else:
        with pytest.raises(ProtocolError):
            limits.check_text(text)


def test_default_text_limit_boundary() -> None:
    Limits().check_text("x" * (32 * 1024))
    Limits().check_text("€" * (32 * 1024 // 3))
    with pytest.raises(ProtocolError):
        Limits().check_text("x" * (32 * 1024 + 1))
    with pytest.raises(ProtocolError):
        Limits().check_text("€" * (32 * 1024 // 3 + 1))
