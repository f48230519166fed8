"""Run every bench/bench_*.py and print one table: figure | value | unit | target.

Each module exposes rows() -> list[(figure, value, unit, target)]. A module that fails is
reported as a row, so one broken benchmark does not hide the others.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncadmin.settings")


def _load(path: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"
    return str(value)


def main(argv: list[str]) -> int:
    selected = [a for a in argv if not a.startswith("-")]
    rows: list[tuple[str, str, str, str]] = []
    failed = 0
    for path in sorted(HERE.glob("bench_*.py")):
        if (
            selected
            and path.stem not in selected
            and path.stem.removeprefix("bench_") not in selected
        ):
            continue
        started = time.monotonic()
        try:
            for figure, value, unit, target in _load(path).rows():
                rows.append((figure, _fmt(value), unit, target))
        except Exception as exc:
            failed += 1
            traceback.print_exc()
            rows.append((f"{path.stem}: FAILED", type(exc).__name__, "", str(exc)[:60]))
        print(f"# {path.stem} took {time.monotonic() - started:.1f} s", file=sys.stderr)
    widths = [
        max(len(r[i]) for r in [("figure", "value", "unit", "target"), *rows]) for i in range(4)
    ]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    print(line(("figure", "value", "unit", "target")))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
