import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heartbeat_desktop.core.config import ConfigError, HeartbeatConfig, parse_cli_value


def test_defaults_match_the_web_heartbeat() -> None:
    c = HeartbeatConfig()
    assert (c.enabled, c.every_seconds, c.target, c.model, c.max_tokens, c.temperature, c.dry_run) == (
        True,
        1800,
        "none",
        None,
        500,
        0.7,
        False,
    )
    assert c.active_hours_start is None and c.active_hours_end is None and c.timezone is None


def test_round_trip() -> None:
    c = HeartbeatConfig(
        every_seconds=900,
        model="claude-3-haiku-20240307",
        max_tokens=300,
        temperature=0.5,
        target="last",
        active_hours_start=22,
        active_hours_end=6,
        timezone="Europe/Berlin",
    )
    assert HeartbeatConfig.from_dict(c.to_dict()) == c
    assert HeartbeatConfig.from_dict(json.loads(c.to_json())) == c


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("every_seconds", 59),
        ("every_seconds", 86401),
        ("max_tokens", 9),
        ("max_tokens", 4001),
        ("temperature", 1.5),
        ("temperature", -0.1),
        ("target", "everyone"),
        ("timezone", "Mars/Olympus"),
        ("active_hours_start", 24),
        ("enabled", "maybe"),
    ],
)
def test_bad_field_falls_back_to_its_default_only(key: str, bad: object) -> None:
    data = {"every_seconds": 600, "max_tokens": 200, key: bad}
    if key.startswith("active_hours"):
        data["active_hours_end"] = 6
    config, warnings = HeartbeatConfig.load(data)
    assert getattr(config, key) == HeartbeatConfig.model_fields[key].default
    assert any(key in w for w in warnings)
    # the other fields survive
    if key != "every_seconds":
        assert config.every_seconds == 600
    if key != "max_tokens":
        assert config.max_tokens == 200


def test_malformed_json_gives_defaults_and_keeps_the_text_in_the_warning() -> None:
    config, warnings = HeartbeatConfig.load('{"every_seconds": 600,,,')
    assert config == HeartbeatConfig()
    assert "not valid JSON" in warnings[0] and '{"every_seconds": 600,,,' in warnings[0]


def test_half_an_active_hours_pair_is_dropped_with_a_warning() -> None:
    config, warnings = HeartbeatConfig.load({"active_hours_start": 9})
    assert config.active_hours_start is None
    assert warnings


def test_the_web_heartbeats_alias_every() -> None:
    assert HeartbeatConfig.from_dict({"every": 120}).every_seconds == 120
    assert HeartbeatConfig().with_updates(every=300).every_seconds == 300


def test_strict_update_names_the_range() -> None:
    with pytest.raises(ConfigError, match="from 60 to 86400"):
        HeartbeatConfig().with_updates(every_seconds=30)
    with pytest.raises(ConfigError, match="unknown setting"):
        HeartbeatConfig().with_updates(colour="red")


def test_cli_values() -> None:
    assert parse_cli_value("enabled", "off") is False
    assert parse_cli_value("temperature", "0.2") == 0.2
    assert parse_cli_value("model", "null") is None
    with pytest.raises(ConfigError):
        parse_cli_value("max_tokens", "lots")


@settings(max_examples=2000, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=20), st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
    )
)
def test_load_never_raises(data: dict) -> None:
    config, _ = HeartbeatConfig.load(data)
    assert 60 <= config.every_seconds <= 86400
    assert 0.0 <= config.temperature <= 1.0


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=200))
def test_load_of_any_text_never_raises(text: str) -> None:
    assert isinstance(HeartbeatConfig.load(text)[0], HeartbeatConfig)


def test_allowed_actions_from_the_cli() -> None:
    config = HeartbeatConfig()
    assert config.with_updates(allowed_actions=parse_cli_value("allowed_actions", "post, vote")).allowed_actions == (
        "post",
        "vote",
    )
    assert config.with_updates(allowed_actions=parse_cli_value("allowed_actions", "none")).allowed_actions == ()
    with pytest.raises(ConfigError, match="comma-separated list of post, comment, vote"):
        config.with_updates(allowed_actions=parse_cli_value("allowed_actions", "delete"))
