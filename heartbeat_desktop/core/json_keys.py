"""One rule for every JSON the app reads from outside (a model's decision, a server's envelope, an API body,
the plaintext key file): an object that gives one key twice is ambiguous. Python keeps the last value, another
parser the first; which one the writer meant is a guess, so the reader refuses it, each in its own words."""

from __future__ import annotations

from typing import Any


class RepeatedKey(ValueError):
    """A JSON object gave `key` twice."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the key {key[:80]!r} is given twice")
        self.key = key


def one_value_per_key(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An `object_pairs_hook` for json: the object as a dict, or RepeatedKey."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise RepeatedKey(key)
        found[key] = value
    return found
