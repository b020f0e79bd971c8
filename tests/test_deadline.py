"""One hard deadline per command: start-up, the clock from process start, the watchdog.

Contracts tested here (no timings: those are in ``bench/timeouts.py`` and
``bench/startup.py``):

* ``verifier --version`` and every ``--help`` answer without importing numpy, scipy,
  HiGHS, onnx or matplotlib; the public API (``from verifier import verify``) still works;
* a run whose method neither returns nor checks the clock is ended by the watchdog with
  the verdict ``timeout`` on stdout, in ``--json`` and in ``--result-file`` (written
  whole), for ``verify`` and for ``--one`` (what ``verifier batch`` runs), and the
  processes it started die with it;
* ``main([...])`` called from Python arms no watchdog (it must not end its caller);
* ``--workers`` above the stated maximum is refused with exit code 2 before any work;
* ``bounds`` and ``plot widths`` take ``--timeout`` and print progress on stderr.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from verifier.cli import main
from verifier.cli.arguments import MAX_WORKERS
from verifier.cli.watchdog import (NoWatchdog, RunClock, descendants, process_age, watchdog,
                                   write_atomically)

HEAVY = ("numpy", "scipy", "highspy", "onnx", "onnxruntime", "matplotlib", "networkx",
         "dask", "ml_dtypes")

# a method that neither returns nor looks at the clock (a solver that ignores its limit);
# it starts a child process first, which the watchdog must take down with the run
HANGING_RUN = """
import subprocess, sys, time
from verifier.methods import METHODS, Method
PID_FILE = sys.argv.pop(1)

def hang(ctx, A, b):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    open(PID_FILE, "w").write(str(child.pid))
    while True:
        time.sleep(0.01)

def hang_holding_the_gil(ctx, A, b):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    open(PID_FILE, "w").write(str(child.pid))
    import re
    re.match(r"(a+)+$", "a" * 60 + "b")   # one C call that never releases the GIL

METHODS["deeppoly"] = Method(hang, False)
METHODS["interval"] = Method(hang_holding_the_gil, False)
from verifier.cli import main
sys.argv[0] = "verifier"
sys.exit(main())
"""


@pytest.fixture(scope="module")
def instance(tmp_path_factory) -> dict:
    """The bundled digits network and an L-inf robustness property of its first image."""
    from verifier.data import demo_images, demo_network_path
    from verifier.spec import linf_robustness
    from verifier.spec.vnnlib_writer import write_vnnlib
    tmp = tmp_path_factory.mktemp("deadline")
    images, labels = demo_images()
    spec = tmp / "prop.vnnlib"
    spec.write_text(write_vnnlib(linf_robustness(images[0], 0.05, int(labels[0]), 10)))
    return {"net": str(demo_network_path()), "spec": str(spec), "tmp": tmp}


def _modules_after(argv: list[str]) -> set[str]:
    code = ("import json, sys\n"
            f"sys.argv = ['verifier'] + {argv!r}\n"
            "from verifier.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=REPO_ROOT)
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["verify", "--help"],
                                  ["batch", "--help"], ["bounds", "--help"],
                                  ["plot", "--help"], ["gap", "--help"],
                                  ["barrier", "--help"], ["demo", "--help"]])
def test_help_and_version_import_no_heavy_library(argv):
    loaded = {name.split(".")[0] for name in _modules_after(argv)}
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_public_api_survives_the_lazy_package():
    code = ("import verifier.verify.pipeline, verifier.network\n"
            "from verifier import (Network, Property, Result, VerifyOptions, linf_robustness,"
            " load_network, load_vnnlib, verify)\n"
            "import verifier\n"
            "assert callable(verify) and verifier.verify is verify, verifier.verify\n"
            "assert 'verify' in dir(verifier)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr


def test_method_help_covers_every_method():
    from verifier.catalog import METHOD_NAMES, METHOD_SUMMARIES
    from verifier.methods import METHODS
    assert list(METHOD_SUMMARIES) == list(METHODS)
    assert METHOD_NAMES == tuple(METHODS) + ("auto",)


def _hanging(instance, argv: list[str], pid_file: Path) -> subprocess.CompletedProcess:
    """Run the hanging method under the command ``argv``; the safety timeout of the
    subprocess only guards the test run (without the watchdog the process never ends)."""
    return subprocess.run([sys.executable, "-c", HANGING_RUN, str(pid_file)] + argv,
                          capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)


def _assert_dead(pid_file: Path) -> None:
    pid = int(pid_file.read_text())
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return                       # gone (reaped by init)
    assert state == "Z", f"child {pid} outlived the run (state {state})"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_watchdog_answers_timeout_when_a_method_hangs(instance, tmp_path):
    out_json, out_result = tmp_path / "r.json", tmp_path / "r.txt"
    proc = _hanging(instance, ["verify", instance["net"], instance["spec"], "--method",
                               "deeppoly", "--timeout", "3", "--json", str(out_json),
                               "--result-file", str(out_result)], tmp_path / "pid")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "timeout"
    assert "cut short" in proc.stdout
    record = json.loads(out_json.read_text())
    assert record["verdict"] == "timeout" and "witness" not in record
    assert out_result.read_text() == "timeout\n"
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]
    _assert_dead(tmp_path / "pid")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_watchdog_of_one_instance_writes_its_result_line(instance, tmp_path):
    proc = _hanging(instance, ["--one", instance["net"], instance["spec"], "--method",
                               "deeppoly", "--timeout", "3"], tmp_path / "pid")
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@result@@ ")][-1]
    out = json.loads(line[len("@@result@@ "):])
    assert out["verdict"] == "timeout" and out["x"] is None
    _assert_dead(tmp_path / "pid")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_reaper_answers_when_a_call_holds_the_gil_past_the_deadline(instance, tmp_path):
    """The watchdog thread cannot run; the forked reaper writes the plain ``timeout``
    answer and kills the run (exit 137 in a shell) by the deadline + 1 s."""
    out_json = tmp_path / "r.json"
    start = time.monotonic()
    proc = _hanging(instance, ["verify", instance["net"], instance["spec"], "--method",
                               "interval", "--timeout", "3", "--json", str(out_json)],
                    tmp_path / "pid")
    wall = time.monotonic() - start
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert proc.stdout.splitlines()[0] == "timeout"
    assert json.loads(out_json.read_text())["verdict"] == "timeout"
    assert wall < 3.0 + 1.0 + 0.5      # + the test's own spawn of the process
    _assert_dead(tmp_path / "pid")


def test_main_called_from_python_arms_no_watchdog():
    assert isinstance(watchdog(RunClock.of_call(), 0.001, lambda: 0), NoWatchdog)


def test_process_clock_counts_from_process_start():
    age = process_age()
    assert 0.0 <= age <= 60.0
    clock = RunClock.of_process()
    assert clock.owns_process and clock.elapsed() >= 0.0
    if sys.platform.startswith("linux"):
        assert age > 0.0          # this test process started before the test


def test_descendants_lists_children():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        if sys.platform.startswith("linux"):
            assert child.pid in descendants(os.getpid())
    finally:
        child.kill()
        child.wait()


def test_write_atomically_replaces_whole_file(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old")
    write_atomically(str(path), "new text")
    assert path.read_text() == "new text"
    assert os.listdir(tmp_path) == ["out.json"]


@pytest.mark.parametrize("command", ["verify", "batch", "barrier"])
def test_too_many_workers_refused_before_any_work(command, capsys):
    argv = {"verify": ["verify", "missing.onnx", "missing.vnnlib"],
            "batch": ["batch", "missing.csv", "--out", "r.csv"],
            "barrier": ["barrier", "missing.csv", "--data", "missing.npz"]}[command]
    with pytest.raises(SystemExit) as exc:
        main(argv + ["--workers", str(MAX_WORKERS + 1)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"at most {MAX_WORKERS}" in err


def test_bounds_lp_prints_progress_and_keeps_its_time_limit(instance, capsys):
    code = main(["bounds", instance["net"], instance["spec"], "--lp", "--timeout", "60"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "lp width" in out.splitlines()[0]
    assert "lp: layer" in err and "deeppoly: done" in err


def test_bounds_with_a_spent_time_limit_still_prints_interval(instance, capsys):
    code = main(["bounds", instance["net"], instance["spec"], "--lp", "--timeout", "1e-9",
                 "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    head = out.splitlines()[0]
    assert "interval width" in head and "deeppoly width" not in head


def test_plot_widths_takes_a_time_limit(instance, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    target = tmp_path / "w.png"
    code = main(["plot", "widths", instance["net"], instance["spec"], "-o", str(target),
                 "--timeout", "60"])
    assert code == 0 and target.stat().st_size > 0
    assert "deeppoly: done" in capsys.readouterr().err
