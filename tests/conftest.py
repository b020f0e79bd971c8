"""Shared test helpers: the location of the shared benchmarks, the ``--runslow`` switch.

Other test files may ``from conftest import shared_benchmarks``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_benchmarks() -> Path:
    """Path of ``../shared/benchmarks`` next to the repository; skips the test when absent."""
    path = REPO_ROOT.parent / "shared" / "benchmarks"
    if not path.is_dir():
        pytest.skip(f"{BENCHMARK_SKIP} at {path}")
    return path


@pytest.fixture
def benchmarks_dir() -> Path:
    """Fixture form of :func:`shared_benchmarks`."""
    return shared_benchmarks()


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run tests marked slow")


#: the skip reason of tests that need ../shared/benchmarks (see shared_benchmarks)
BENCHMARK_SKIP = "shared benchmarks not found"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line saying how many tests were skipped because ``../shared/benchmarks`` is
    absent (they check the tool on the public benchmarks)."""
    skipped = terminalreporter.stats.get("skipped", [])
    count = sum(1 for report in skipped if BENCHMARK_SKIP in str(report.longrepr))
    if count:
        terminalreporter.write_line(
            f"{count} test(s) skipped: the public benchmarks are not at "
            f"{REPO_ROOT.parent / 'shared' / 'benchmarks'} (see the README)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow test: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)
