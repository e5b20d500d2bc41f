"""App settings are declared once (core/app_settings.py): the CLI, the runner and the dialog read them."""

from __future__ import annotations

import pytest

from heartbeat_desktop.core.app_settings import AppSettings


def test_bad_stored_values_fall_back_to_their_defaults_and_say_so() -> None:
    settings, warnings = AppSettings.load(
        {"llm_timeout": "abc", "context_tokens": "12", "hold_during_dnd": "off", "api_port": "99999", "junk": "x"}
    )
    assert (settings.llm_timeout, settings.context_tokens, settings.api_port) == (120.0, 4096, 8787)
    assert settings.hold_during_dnd is False  # the good one is kept
    assert sorted(w.split(" is ")[0] for w in warnings) == ["api_port", "context_tokens", "llm_timeout"]


@pytest.mark.parametrize(
    ("key", "text", "stored"),
    [
        ("llm_timeout", "90", "90"),
        ("llm_timeout", "2.5", "2.5"),
        ("hold_during_dnd", "No", "0"),
        ("ollama_host", "gpu-box:11434/", "gpu-box:11434"),
        ("context_tokens", "8192", "8192"),
        ("model_keep_alive", "5M", "5m"),
        ("model_keep_alive", "-1", "-1"),
    ],
)
def test_a_typed_value_is_checked_and_stored_as_text(key: str, text: str, stored: str) -> None:
    assert AppSettings.check(key, text) == stored


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("llm_timeout", "0", "llm_timeout must be a number from 1 to 3600, not 0"),
        ("context_tokens", "1.5", "context_tokens must be a whole number from 1024 to 1048576, not '1.5'"),
        ("keep_run_details_days", "-1", "keep_run_details_days must be a whole number from 0 to 36500, not -1"),
        ("hold_during_dnd", "maybe", "hold_during_dnd: must be on or off"),
        ("ollama_host", "notaurl", "did you mean http://notaurl:11434?"),
        ("nope", "1", "unknown setting 'nope'"),
        ("model_keep_alive", "forever", "a duration such as 0, 30s, 5m, 1h"),
    ],
)
def test_a_bad_typed_value_says_why(key: str, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=None) as caught:
        AppSettings.check(key, text)
    assert message in str(caught.value)


def test_the_cli_lists_the_declared_settings_with_their_defaults() -> None:
    keys = AppSettings.cli_keys()
    assert list(keys) == [
        "ollama_host",
        "default_model",
        "llm_timeout",
        "context_tokens",
        "model_keep_alive",
        "hold_during_dnd",
        "keep_run_details_days",
    ]
    assert keys["llm_timeout"].endswith("(default: 120)") and keys["hold_during_dnd"].endswith("(default: on)")
    assert AppSettings().bounds("context_tokens") == (1024, 1_048_576)


@pytest.mark.parametrize(
    ("key", "text", "said"),
    [
        ("llm_timeout", "99999", "llm_timeout is '99999', but it must be a number from 1 to 3600: the default (120)"),
        ("hold_during_dnd", "perhaps", "hold_during_dnd is 'perhaps', but it must be on or off: the default (on)"),
        ("model_keep_alive", "forever", "it must be a duration such as 0, 30s, 5m, 1h, or -1 to keep the model"),
        ("ollama_host", "ftp://x", "ollama_host is 'ftp://x', but it is not accepted ('ftp://x': the model server"),
    ],
)
def test_a_replaced_app_setting_is_said_in_plain_words(key: str, text: str, said: str) -> None:
    _settings, [warning] = AppSettings.load({key: text})
    assert said in warning and warning.endswith("is used instead"), warning
    assert "Input should" not in warning and "Value error" not in warning
