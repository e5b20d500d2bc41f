"""Qt item models over the store: lazy (keyset pages), so a million rows open as fast as ten."""
