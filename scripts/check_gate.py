"""Exit non-zero when the regression gate failed: the CI-retraining workflow's last step.

``kedro run --pipeline=finetune`` finishes normally when the gate fails (the candidate is simply not
promoted, and the gate report is still written for people to read). A scheduled retraining job must go red
instead, so `.github/workflows/retrain.yml` runs this after the pipeline::

    .venv/bin/python scripts/check_gate.py data/08_reporting/finetune/gate.json

Exit codes: 0 the gate passed; 1 the gate failed (each failed check printed with its value and limit);
2 the report is missing or malformed (file and field named), so a run that wrote no gate cannot pass.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def check(path: Path) -> int:
    """Print the gate's checks and return the exit code (see module doc)."""
    try:
        gate = json.loads(path.read_text())
        passed, checks = gate["passed"], gate["checks"]
        if not isinstance(passed, bool) or not isinstance(checks, dict):
            raise TypeError("'passed' must be a bool and 'checks' a mapping")
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"{path}: no usable gate report ({type(e).__name__}: {e})", file=sys.stderr)
        return 2
    for name, c in checks.items():
        ok = c.get("passed") if isinstance(c, dict) else None
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {c.get('value') if isinstance(c, dict) else c} "
              f"(limit {c.get('limit') if isinstance(c, dict) else '?'})")
    promo = gate.get("promotion", {})
    print(f"gate {'passed' if passed else 'FAILED'}; promoted: {promo.get('promoted')}")
    return 0 if passed else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gate_json", nargs="?", type=Path, default=Path("data/08_reporting/finetune/gate.json"))
    return check(ap.parse_args(argv).gate_json)


if __name__ == "__main__":
    sys.exit(main())
