"""Fail when more than 5 % of the application's functions reach McCabe complexity 10.

ruff's C901 (max 15, in pyproject.toml) caps every function; this keeps the share of branchy
functions small too. Counts use ruff's own complexity measure; tests, bench and migrations are
left out, as they are for the cap.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("crm", "security", "fieldsync", "connectors", "syncadmin", "occurrences")
THRESHOLD = 10
BUDGET = 0.05


def _functions() -> int:
    count = 0
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            count += sum(
                isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) for n in ast.walk(tree)
            )
    return count


def _branchy() -> list[str]:
    ruff = Path(sys.executable).with_name("ruff")
    out = subprocess.run(
        [
            str(ruff),
            "check",
            "--select",
            "C901",
            "--config",
            f"lint.mccabe.max-complexity={THRESHOLD - 1}",
            "--output-format",
            "concise",
            "--exclude",
            "*/migrations/*",
            *APPS,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return [line for line in out.splitlines() if "C901" in line]


def main() -> int:
    total, branchy = _functions(), _branchy()
    share = len(branchy) / total if total else 0.0
    print(f"{len(branchy)} of {total} functions at complexity {THRESHOLD}+ ({share:.1%})")
    if share > BUDGET:
        print(f"Over the {BUDGET:.0%} budget; split the longest of these:")
        print("\n".join(branchy))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
