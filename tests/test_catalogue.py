"""The catalogue of issue 27: bad or hostile input, each case run through the command line.

Every row of :data:`CASES` is one finding of the new-user trial. It runs ``verifier ...``
in this process (``verifier.cli.main``; a subprocess where a real process matters) and
checks the contract of the house: the documented exit code, exactly one line on stderr
(``error: ...`` naming the problem), no traceback, and no file left behind (every output
is checked before the work, and written under a temporary name renamed at the end).

The hostile inputs are made in ``tmp_path``: a FIFO, a character device, a symlink loop, a
broken symlink, a gzip bomb (small: the network size cap is lowered for the test), a
property over the disjunct limit (the limit is lowered too), an ONNX model with an int64
input. The tests after the table check what is not an error: batch isolation from a
``verifier/`` folder in the current directory, bad rows becoming ``error`` rows, the wall
time in the batch summary, and the pictures of tiny gaps and of the barrier.
"""

from __future__ import annotations

import csv
import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import REPO_ROOT
from verifier.cli import main

EXIT_OK, EXIT_USAGE, EXIT_FILE, EXIT_NET, EXIT_SPEC = 0, 2, 3, 5, 6
#: network size cap during these tests (the real one is 2 GiB)
TEST_NETWORK_CAP = 1 << 20
#: disjunct limit during these tests (the real one is 100,000)
TEST_DISJUNCTS = 50


# ====================================================================== hostile inputs
def _net_model(n_in: int = 2, n_out: int = 2, input_type=TensorProto.FLOAT) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    W1, W2 = rng.normal(size=(4, n_in)), rng.normal(size=(n_out, 4))
    inits = [numpy_helper.from_array(W1.astype(np.float32), "W1"),
             numpy_helper.from_array(np.zeros(4, np.float32), "b1"),
             numpy_helper.from_array(W2.astype(np.float32), "W2"),
             numpy_helper.from_array(np.zeros(n_out, np.float32), "b2")]
    nodes = [helper.make_node("Gemm", ["x", "W1", "b1"], ["h"], transB=1, name="g1"),
             helper.make_node("Relu", ["h"], ["r"], name="relu1"),
             helper.make_node("Gemm", ["r", "W2", "b2"], ["y"], transB=1, name="g2")]
    graph = helper.make_graph(nodes, "net",
                              [helper.make_tensor_value_info("x", input_type, [1, n_in])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                             [1, n_out])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def _spec_text(n_in: int = 2, n_out: int = 2, disjuncts: int = 1, tail: str = "") -> str:
    lines = [f"(declare-const X_{i} Real)" for i in range(n_in)]
    lines += [f"(declare-const Y_{j} Real)" for j in range(n_out)]
    lines += [f"(assert (>= X_{i} -1.0))\n(assert (<= X_{i} 1.0))" for i in range(n_in)]
    if disjuncts == 1:
        lines.append("(assert (>= Y_0 1000.0))")
    else:
        lines.append("(assert (or")
        lines += [f"  (and (>= Y_0 {1000.0 + k}))" for k in range(disjuncts)]
        lines.append("))")
    return "\n".join(lines) + "\n" + tail


def _gzip_bomb(path: Path, size: int, honest_trailer: bool) -> None:
    """``size`` zero bytes gzipped; with ``honest_trailer=False`` the trailer says 0
    bytes, so only the size counted while decompressing can refuse it."""
    data = bytearray(gzip.compress(bytes(size), compresslevel=9))
    if not honest_trailer:
        data[-4:] = (0).to_bytes(4, "little")
    path.write_bytes(bytes(data))


@pytest.fixture
def hostile(tmp_path):
    """Every input of the catalogue, in ``tmp_path``; the dict fills the argv templates."""
    d = tmp_path
    onnx.save(_net_model(), str(d / "net.onnx"))
    onnx.save(_net_model(n_out=3), str(d / "net3.onnx"))
    onnx.save(_net_model(input_type=TensorProto.INT64), str(d / "int64.onnx"))
    (d / "p.vnnlib").write_text(_spec_text())
    # over the (lowered) limit, then junk that a reader going to the end would report
    (d / "many.vnnlib").write_text(_spec_text(disjuncts=10 * TEST_DISJUNCTS, tail=")))"))
    _gzip_bomb(d / "bomb.onnx.gz", 4 * TEST_NETWORK_CAP, honest_trailer=True)
    _gzip_bomb(d / "liar.onnx.gz", 4 * TEST_NETWORK_CAP, honest_trailer=False)
    os.mkfifo(d / "fifo.onnx")
    os.mkfifo(d / "fifo.vnnlib")
    os.mkfifo(d / "fifo.npy")
    os.symlink(d / "loop_b.onnx", d / "loop_a.onnx")
    os.symlink(d / "loop_a.onnx", d / "loop_b.onnx")
    os.symlink(d / "nowhere.onnx", d / "broken.onnx")
    (d / "folder.onnx").mkdir()
    (d / "outdir").mkdir()
    (d / "blocker").write_text("a file, not a folder")
    np.save(d / "X.npy", np.random.default_rng(0).uniform(0, 1, size=(3, 2)))
    np.save(d / "y.npy", np.array([0, 1, 0]))
    with open(d / "i.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["onnx", "vnnlib", "timeout"], ["net.onnx", "p.vnnlib", "20"]])
    with open(d / "bad_timeouts.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["onnx", "vnnlib", "timeout"], ["net.onnx", "p.vnnlib", "abc"],
                                  ["net3.onnx", "p.vnnlib", "-5"]])
    return {"tmp": str(d), "net": str(d / "net.onnx"), "spec": str(d / "p.vnnlib")}


@pytest.fixture(autouse=True)
def lowered_limits(monkeypatch):
    """The network size cap and the disjunct limit, lowered so the hostile inputs stay
    small; the Dask scheduler gets 1 s to answer."""
    from verifier.methods.branching import workers
    from verifier.network import onnx_import
    from verifier.spec import vnnlib_parser
    monkeypatch.setattr(onnx_import, "MAX_NETWORK_BYTES", TEST_NETWORK_CAP)
    monkeypatch.setattr(vnnlib_parser, "MAX_DISJUNCTS", TEST_DISJUNCTS)
    monkeypatch.setattr(workers, "SCHEDULER_SECONDS", 1.0)


# ====================================================================== the table
# (id, argv with {tmp}/{net}/{spec}, exit code, a piece of the one stderr line)
CASES = [
    # -- 2. batch: bad per-run values
    ("batch-limit-negative", ["batch", "{tmp}/i.csv", "--out", "{tmp}/r.csv", "--limit", "-1"],
     EXIT_USAGE, "--limit"),
    ("batch-limit-zero", ["batch", "{tmp}/i.csv", "--out", "{tmp}/r.csv", "--limit", "0"],
     EXIT_USAGE, "--limit"),
    ("batch-timeout-nan", ["batch", "{tmp}/i.csv", "--out", "{tmp}/r.csv", "--timeout", "nan"],
     EXIT_USAGE, "--timeout"),
    ("batch-scheduler-unreachable", ["batch", "{tmp}/i.csv", "--out", "{tmp}/r.csv",
                                     "--scheduler", "tcp://127.0.0.1:1"],
     EXIT_USAGE, "no Dask scheduler answered"),
    ("batch-scheduler-malformed", ["batch", "{tmp}/i.csv", "--out", "{tmp}/r.csv",
                                   "--scheduler", "tcp://host"], EXIT_USAGE, "--scheduler"),
    ("batch-instances-fifo", ["batch", "{tmp}/fifo.vnnlib", "--out", "{tmp}/r.csv"],
     EXIT_FILE, "FIFO"),
    # -- 3. output paths checked before the work, one policy: the folder must exist
    ("verify-json-missing-folder", ["verify", "{net}", "{spec}", "--json", "{tmp}/bad/x.json"],
     EXIT_FILE, "does not exist"),
    ("verify-json-is-a-folder", ["verify", "{net}", "{spec}", "--json", "{tmp}/outdir"],
     EXIT_FILE, "is a directory"),
    ("verify-result-file-missing-folder", ["verify", "{net}", "{spec}", "--result-file",
                                           "{tmp}/bad/r.txt"], EXIT_FILE, "does not exist"),
    ("export-missing-folder", ["export", "{net}", "{spec}", "-o", "{tmp}/bad/m.lp"],
     EXIT_FILE, "does not exist"),
    ("export-folder-is-a-file", ["export", "{net}", "{spec}", "-o", "{tmp}/blocker/m.lp"],
     EXIT_FILE, "is not a folder"),
    ("batch-out-missing-folder", ["batch", "{tmp}/i.csv", "--out", "{tmp}/bad/r.csv"],
     EXIT_FILE, "does not exist"),
    ("plot-missing-folder", ["plot", "widths", "{net}", "--box=-1,1", "-o", "{tmp}/bad/w.png"],
     EXIT_FILE, "does not exist"),
    ("gap-csv-missing-folder", ["gap", "{net}", "{spec}", "--csv", "{tmp}/bad/g.csv"],
     EXIT_FILE, "does not exist"),
    ("barrier-md-missing-folder", ["barrier", "{net}", "--eps", "0.1", "--data",
                                   "{tmp}/X.npy", "--md", "{tmp}/bad/t.md"],
     EXIT_FILE, "does not exist"),
    ("barrier-out-parent-missing", ["barrier", "{net}", "--eps", "0.1", "--data",
                                    "{tmp}/X.npy", "--out", "{tmp}/bad/journals"],
     EXIT_FILE, "does not exist"),
    ("vnncomp-result-missing-folder", ["--vnncomp", "c", "{net}", "{spec}", "{tmp}/bad/r.txt",
                                       "10"], EXIT_FILE, "does not exist"),
    # -- 3. option values and ranges
    ("bounds-case-99", ["bounds", "{net}", "{spec}", "--case", "99"], EXIT_USAGE, "--case 99"),
    ("bounds-case-negative", ["bounds", "{net}", "{spec}", "--case", "-1"], EXIT_USAGE,
     "--case"),
    ("export-case-99", ["export", "{net}", "{spec}", "-o", "{tmp}/m.lp", "--case", "99"],
     EXIT_USAGE, "--case 99"),
    ("export-disjunct-5", ["export", "{net}", "{spec}", "-o", "{tmp}/m.lp", "--disjunct", "5"],
     EXIT_USAGE, "--disjunct 5"),
    ("plot-hull-neurons-out-of-range", ["plot", "hull", "{net}", "--box=-1,1", "--neurons",
                                        "0,99999", "-o", "{tmp}/h.png"],
     EXIT_USAGE, "--neurons 99999"),
    ("plot-hull-neurons-malformed", ["plot", "hull", "{net}", "--box=-1,1", "--neurons", "3",
                                     "-o", "{tmp}/h.png"], EXIT_USAGE, "--neurons"),
    ("plot-widths-box-reversed", ["plot", "widths", "{net}", "--box", "1,0", "-o",
                                  "{tmp}/w.png"], EXIT_USAGE, "--box"),
    ("plot-widths-box-nan", ["plot", "widths", "{net}", "--box", "nan,1", "-o", "{tmp}/w.png"],
     EXIT_USAGE, "--box"),
    ("plot-eps-nan", ["plot", "widths", "{net}", "--images", "{tmp}/X.npy", "--eps", "nan",
                      "-o", "{tmp}/w.png"], EXIT_USAGE, "--eps"),
    ("plot-timeout-negative", ["plot", "gap", "{net}", "{spec}", "--timeout=-5", "-o",
                               "{tmp}/g.png"], EXIT_USAGE, "--timeout"),
    ("plot-reach-three-outputs", ["plot", "reach", "{tmp}/net3.onnx", "--box=-1,1", "-o",
                                  "{tmp}/r.png"], EXIT_USAGE, "exactly 2 outputs"),
    ("plot-reach-method-it-cannot-draw", ["plot", "reach", "{net}", "--box=-1,1", "--methods",
                                          "bab", "-o", "{tmp}/r.png"], EXIT_USAGE, "reach"),
    ("plot-not-a-picture", ["plot", "neuron", "-o", "{tmp}/n.txt"], EXIT_USAGE, "picture"),
    ("gap-methods-foo", ["gap", "{net}", "{spec}", "--methods", "foo"], EXIT_USAGE, "'foo'"),
    ("gap-methods-empty", ["gap", "{net}", "{spec}", "--methods", ","], EXIT_USAGE,
     "--methods"),
    ("gap-eps-negative", ["gap", "{net}", "--images", "{tmp}/X.npy", "--labels", "{tmp}/y.npy",
                          "--eps=-0.1"], EXIT_USAGE, "--eps"),
    ("demo-methods-foo", ["demo", "--methods", "foo"], EXIT_USAGE, "'foo'"),
    ("demo-eps-abc", ["demo", "--eps", "abc"], EXIT_USAGE, "--eps"),
    ("demo-images-zero", ["demo", "--images", "0"], EXIT_USAGE, "--images"),
    ("barrier-eps-nan", ["barrier", "{net}", "--eps", "nan", "--data", "{tmp}/X.npy"],
     EXIT_USAGE, "--eps"),
    ("verify-refine-share", ["verify", "{net}", "{spec}", "--refine-share", "2"], EXIT_USAGE,
     "--refine-share"),
    ("verify-overlap-negative", ["verify", "{net}", "{spec}", "--s=-1"], EXIT_USAGE, "--s"),
    ("verify-scheduler-malformed", ["verify", "{net}", "{spec}", "--scheduler", "nowhere"],
     EXIT_USAGE, "--scheduler"),
    ("vnncomp-timeout-nan", ["--vnncomp", "c", "{net}", "{spec}", "{tmp}/r.txt", "nan"],
     EXIT_USAGE, "timeout"),
    ("vnncomp-timeout-negative", ["--vnncomp", "c", "{net}", "{spec}", "{tmp}/r.txt", "-5"],
     EXIT_USAGE, "timeout"),
    ("one-timeout-nan", ["--one", "{net}", "{spec}", "--timeout", "nan"], EXIT_USAGE,
     "--timeout"),
    # -- 3. size caps on decompressed input; the disjunct limit while reading
    ("onnx-gz-bomb", ["verify", "{tmp}/bomb.onnx.gz", "{spec}"], EXIT_FILE, "larger than"),
    ("onnx-gz-bomb-lying-trailer", ["verify", "{tmp}/liar.onnx.gz", "{spec}"], EXIT_FILE,
     "larger than"),
    ("too-many-disjuncts", ["verify", "{net}", "{tmp}/many.vnnlib"], EXIT_SPEC,
     f"more than {TEST_DISJUNCTS} disjuncts"),
    ("int64-input", ["verify", "{tmp}/int64.onnx", "{spec}"], EXIT_NET, "INT64"),
    # -- 4. honest file errors: what the path is
    ("network-fifo", ["verify", "{tmp}/fifo.onnx", "{spec}"], EXIT_FILE, "FIFO"),
    ("spec-fifo", ["verify", "{net}", "{tmp}/fifo.vnnlib"], EXIT_FILE, "FIFO"),
    ("images-fifo", ["gap", "{net}", "--images", "{tmp}/fifo.npy", "--labels", "{tmp}/y.npy",
                     "--eps", "0.1"], EXIT_FILE, "FIFO"),
    ("network-device", ["verify", "/dev/urandom", "{spec}"], EXIT_FILE, "character device"),
    ("spec-device", ["verify", "{net}", "/dev/zero"], EXIT_FILE, "character device"),
    ("network-symlink-loop", ["verify", "{tmp}/loop_a.onnx", "{spec}"], EXIT_FILE,
     "symlink loop"),
    ("network-broken-symlink", ["verify", "{tmp}/broken.onnx", "{spec}"], EXIT_FILE,
     "broken symlink"),
    ("network-directory", ["verify", "{tmp}/folder.onnx", "{spec}"], EXIT_FILE,
     "is a directory"),
    ("inspect-fifo", ["inspect", "{tmp}/fifo.onnx"], EXIT_FILE, "FIFO"),
    ("network-missing", ["verify", "{tmp}/missing.onnx", "{spec}"], EXIT_FILE,
     "no such network file"),
    ("network-under-a-file", ["verify", "{tmp}/blocker/net.onnx", "{spec}"], EXIT_FILE,
     "not a folder"),
    ("barrier-data-directory", ["barrier", "{net}", "--eps", "0.1", "--data", "{tmp}/outdir"],
     EXIT_FILE, "is a directory"),
]


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _run_in_process(capsys, argv: list[str]) -> tuple[int, str, str]:
    """``(exit code, stdout, stderr)`` of ``verifier argv`` run in this process."""
    try:
        code = main(argv)
    except SystemExit as exc:             # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, code, needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_catalogue(argv, code, needle, hostile, capsys):
    if "--scheduler" in argv and argv[0] == "batch" and argv[-1].startswith("tcp://127"):
        pytest.importorskip("dask.distributed")
    tmp = Path(hostile["tmp"])
    before = _files(tmp)
    argv = [a.format(**hostile) for a in argv]
    got, _, err = _run_in_process(capsys, argv)
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one stderr line, got {err!r}"
    assert got == code, f"exit code {got}, expected {code}: {lines[0]}"
    assert lines[0].startswith("error: ") and "internal error" not in lines[0], lines[0]
    assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    assert len(lines[0]) < 400
    assert _files(tmp) == before, f"left behind: {_files(tmp) - before}"


@pytest.mark.parametrize("argv, code, needle", [
    (["--vnncomp", "c", "{net}", "{spec}", "{tmp}/r.txt", "nan"], EXIT_USAGE, "timeout"),
    (["verify", "{tmp}/fifo.onnx", "{spec}"], EXIT_FILE, "FIFO"),
], ids=["vnncomp-nan", "fifo"])
def test_catalogue_in_a_real_process(argv, code, needle, hostile):
    """The same contract for ``python -m verifier.cli`` itself (no hang on the FIFO)."""
    argv = [a.format(**hostile) for a in argv]
    proc = subprocess.run([sys.executable, "-m", "verifier.cli", *argv], capture_output=True,
                          text=True, timeout=120, cwd=REPO_ROOT)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == code and len(lines) == 1 and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and not Path(hostile["tmp"], "r.txt").exists()


# ====================================================================== not errors
def test_batch_ignores_a_verifier_folder_in_the_current_directory(hostile, capsys,
                                                                  monkeypatch):
    """Run from a folder holding another ``verifier/`` package, the instance processes
    still import this one (every row used to be ``error``); the summary reports the wall
    time of the instance processes, start-up included."""
    tmp = Path(hostile["tmp"])
    fake = tmp / "checkout" / "verifier"
    (fake / "cli").mkdir(parents=True)
    for init in (fake / "__init__.py", fake / "cli" / "__init__.py"):
        init.write_text("raise ImportError('the checkout in the current folder')\n")
    monkeypatch.chdir(tmp / "checkout")
    monkeypatch.delenv("PYTHONPATH", raising=False)
    code, out, err = _run_in_process(capsys, ["batch", str(tmp / "i.csv"), "--out",
                                              str(tmp / "r.csv")])
    assert code == EXIT_OK, err
    with open(tmp / "r.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["verdict"] for r in rows] == ["unsat"], rows
    assert float(rows[0]["wall_s"]) >= float(rows[0]["time_s"])
    assert "process start-up included" in out


def test_every_row_in_error_is_a_failed_batch(hostile, capsys):
    """Rows whose timeout is ``abc`` or ``-5`` become ``error`` rows (no process started;
    the batch goes on) and a batch whose every row is ``error`` exits 2."""
    tmp = Path(hostile["tmp"])
    code, _, err = _run_in_process(capsys, ["batch", str(tmp / "bad_timeouts.csv"), "--out",
                                            str(tmp / "r.csv")])
    assert code == EXIT_USAGE and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: all 2 instance(s) ended in error")
    with open(tmp / "r.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["verdict"] for r in rows] == ["error", "error"]
    assert "timeout 'abc'" in rows[0]["message"] and "timeout '-5'" in rows[1]["message"]


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    """The writer fails half way: the target keeps its old content, no temporary file
    stays."""
    from verifier.errors import InputFileError
    from verifier.files import output_path, write_text_atomic
    target = tmp_path / "out.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with output_path(target) as temp:
            Path(temp).write_text("half")
            raise RuntimeError("the plot failed")
    assert target.read_text() == "old" and _files(tmp_path) == {"out.json"}
    with pytest.raises(InputFileError):
        write_text_atomic(tmp_path / "no" / "x.txt", "text")
    assert _files(tmp_path) == {"out.json"}


def test_gap_picture_tells_tiny_and_zero_gaps_apart(tmp_path):
    """Gaps of 1e-9 and 3e-7 are drawn at their own heights (no 1e-6 floor); a zero gap is
    labelled 0, a missing bound n/a."""
    pytest.importorskip("matplotlib")
    import math
    from types import SimpleNamespace
    from verifier.plot import plot_gap_bars

    class Objective:
        def __init__(self, label, gaps):
            self.label, self.gaps = label, gaps

        def gap(self, method):
            return self.gaps[method]

    table = SimpleNamespace(name="tiny", methods=["interval", "deeppoly", "triangle", "milp"],
                            objectives=[Objective("y0 - y1", {"interval": (3e-7, 3e-7),
                                                              "deeppoly": (1e-9, 1e-9),
                                                              "triangle": (0.0, 0.0)}),
                                        Objective("y0 - y2", {"interval": (5e-8, 5e-8),
                                                              "deeppoly": (2e-9, 2e-9),
                                                              "triangle": (math.inf,
                                                                           math.inf)})])
    fig = plot_gap_bars(table, path=tmp_path / "g.png")
    ax = fig.axes[0]
    heights = sorted(p.get_y() + p.get_height() for p in ax.patches)
    assert heights[0] == pytest.approx(1e-9) and heights[-1] == pytest.approx(3e-7)
    assert ax.get_ylim()[0] < 1e-9
    labels = [t.get_text() for t in ax.texts]
    assert "0" in labels and "n/a" in labels
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["interval", "deeppoly",
                                                                  "triangle"]
    assert (tmp_path / "g.png").stat().st_size > 10_000
    import matplotlib.pyplot as plt
    plt.close("all")


def test_barrier_picture_keeps_the_paper_marks_inside_and_has_a_legend(tmp_path):
    pytest.importorskip("matplotlib")
    from verifier.plot.barrier import plot_barrier
    from verifier.report.barrier import ImageRecord
    from verifier.report.barrier_table import BarrierRow
    records = [ImageRecord(k, 1, 1, True, exact_certified=True) for k in range(3)]
    row = BarrierRow("r eps=0.1", records, {"published_milp_lb": 0.0,
                                            "published_milp_ub": 5.8,
                                            "published_lp_all": 80.0})
    fig = plot_barrier([row], path=tmp_path / "b.png")
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    marks = [x for line in ax.get_lines() for x in line.get_xdata()]
    assert marks and all(low < x < high for x in marks)
    assert fig.legends and any("paper" in t.get_text() for t in fig.legends[0].get_texts())
    import matplotlib.pyplot as plt
    plt.close("all")
