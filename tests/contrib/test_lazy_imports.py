"""``import sidequest`` never imports a web framework: each integration is opt-in."""

from __future__ import annotations

import json
import subprocess
import sys


def test_importing_sidequest_imports_no_framework() -> None:
    # given a fresh interpreter that imports sidequest and uses its client API
    code = (
        "import sys, json, sidequest, sidequest.testing\n"
        "from sidequest import job\n"
        "@job\n"
        "def noop(): pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('django', 'django_tasks', 'flask', 'fastapi', 'starlette', 'werkzeug'))))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    # then none of the frameworks was imported
    assert json.loads(output) == []
