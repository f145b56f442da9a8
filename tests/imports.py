"""What a fresh interpreter has loaded once it has imported some modules (import-direction
tests: serving code must not pull in training code)."""

from __future__ import annotations

import json
import subprocess
import sys

__all__ = ["modules_loaded_by"]


def modules_loaded_by(*modules: str) -> list[str]:
    """The names in ``sys.modules`` of a new Python process after ``import`` of ``modules``."""
    code = f"import json, sys, {', '.join(modules)}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return list(json.loads(out.stdout.splitlines()[-1]))
