"""The README's usage lines run as written (from a copy of the bundled data, so that every
file they write lands in a temporary folder)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _block(section: str, language: str) -> str:
    """The first fenced ``language`` block after the heading ``section``."""
    text = (REPO_ROOT / "README.md").read_text()
    start = text.index(section)
    match = re.search(rf"```{language}\n(.*?)```", text[start:], re.S)
    assert match, f"no {language} block after {section!r}"
    return match.group(1)


def _workspace(tmp_path: Path) -> Path:
    shutil.copytree(REPO_ROOT / "verifier" / "data", tmp_path / "verifier" / "data")
    return tmp_path


def test_the_usage_lines_run_as_written(tmp_path):
    script = "set -euo pipefail\n" + _block("## Use", "bash")
    bin_dir = Path(sys.executable).parent
    done = subprocess.run(["bash", "-c", f'export PATH="{bin_dir}:$PATH"\n' + script],
                          cwd=_workspace(tmp_path), capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    for written in ("result.json", "out.txt", "model.lp"):
        assert (tmp_path / written).is_file(), written
    assert "Traceback" not in done.stderr


def test_the_python_example_runs():
    """(From this folder, where ``verifier`` is the package itself: the example writes
    nothing.)"""
    code = _block("From Python:", "python")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[0] in ("unsat", "sat", "unknown")
