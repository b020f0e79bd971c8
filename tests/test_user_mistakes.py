"""A catalogue of user mistakes: each goes through the CLI and gets its documented exit
code and one line ``error: ...`` that names it (never a traceback, never exit 1), or is
accepted where it is not a mistake. One entry per finding of the "every limit honoured,
every mistake named" issue.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO_ROOT
from test_cli import (_box_vnnlib, _gemm_relu_model, _mid_spec, _save, _unsat_spec,  # noqa: F401
                      _weights, _write, assert_one_line_error, run_cli, small)

EXIT_USAGE, EXIT_FILE, EXIT_OP, EXIT_SPEC = 2, 3, 4, 6


def _usage(capsys, argv, *needles):
    """argparse mistakes: exit 2 and one line naming the argument."""
    with pytest.raises(SystemExit) as info:
        run_cli(capsys, argv)
    err = capsys.readouterr().err
    assert_one_line_error(info.value.code, err, EXIT_USAGE, *needles)


# ------------------------------------------------------------------ 2. limit values
@pytest.mark.parametrize("value", ["nan", "-5", "0", "inf", "abc"])
def test_bad_timeouts_are_usage_errors(value, capsys, small):
    _usage(capsys, ["verify", small["net"], _unsat_spec(small), "--timeout", value],
           "--timeout")


@pytest.mark.parametrize("argv_tail, needle", [
    (["--workers", "-1"], "--workers"), (["--k", "0"], "--k"), (["--ns", "0"], "--ns")])
def test_bad_counts_are_usage_errors(argv_tail, needle, capsys, small):
    _usage(capsys, ["verify", small["net"], _unsat_spec(small)] + argv_tail, needle)


def test_batch_timeout_nan_is_a_usage_error(tmp_path, capsys):
    _usage(capsys, ["batch", str(tmp_path / "i.csv"), "--out", str(tmp_path / "o.csv"),
                    "--timeout", "nan"], "--timeout")


def test_demo_asks_for_more_images_than_it_ships(capsys):
    code, _, err = run_cli(capsys, ["demo", "--images", "50"])
    assert_one_line_error(code, err, EXIT_USAGE, "--images 50", "10")


# ------------------------------------------------------------------ 3. junk input
def test_binary_junk_as_vnnlib_is_rejected_early(tmp_path, capsys, small):
    junk = tmp_path / "zeros.vnnlib"
    junk.write_bytes(b"\x00" * (8 << 20))
    code, _, err = run_cli(capsys, ["verify", small["net"], str(junk)])
    line = assert_one_line_error(code, err, EXIT_FILE, "binary")
    assert len(line) < 300


def test_a_huge_token_gives_a_short_message(tmp_path, capsys, small):
    junk = tmp_path / "aaa.vnnlib"
    junk.write_text("(assert " + "a" * (4 << 20) + ")")
    code, _, err = run_cli(capsys, ["verify", small["net"], str(junk)])
    line = assert_one_line_error(code, err, EXIT_SPEC, "longer than")
    assert len(line) < 300


def test_oversize_property_file_is_refused_without_reading_it_all(tmp_path, capsys, small,
                                                                  monkeypatch):
    from verifier.spec import vnnlib
    monkeypatch.setattr(vnnlib, "MAX_VNNLIB_BYTES", 1000)
    big = tmp_path / "big.vnnlib"
    big.write_text(" " * 5000)
    code, _, err = run_cli(capsys, ["verify", small["net"], str(big)])
    assert_one_line_error(code, err, EXIT_FILE, "larger than")


def test_junk_memory_stays_bounded(tmp_path, small):
    """A 256 MiB file of zero bytes: refused after its first chunk, with the
    process's peak memory far below the file size (it is never read whole)."""
    junk = tmp_path / "big_zeros.vnnlib"
    with open(junk, "wb") as fh:
        fh.truncate(256 << 20)                 # sparse: no disk used
    # VmHWM is this process's own peak: ru_maxrss would also count the parent's (the
    # test runner's) memory at the fork, which Linux carries across exec
    code = ("import resource, sys; from verifier.cli import main; "
            f"rc = main(['verify', {small['net']!r}, {str(junk)!r}]); "
            "status = open('/proc/self/status').read().split('VmHWM:') "
            "if sys.platform.startswith('linux') else None; "
            "peak = int(status[1].split()[0]) if status and len(status) > 1 else "
            "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
            "print(peak, file=sys.stderr); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=REPO_ROOT)
    assert proc.returncode == EXIT_FILE, proc.stderr
    peak_kib = int(proc.stderr.strip().splitlines()[-1])
    assert peak_kib < 350 * 1024, peak_kib      # the file alone is 256 MiB: never read whole


# ------------------------------------------------------------------ 4. export
@pytest.mark.parametrize("target", ["missing_dir/m.lp", "m.txt"])
def test_export_refuses_what_it_cannot_write(target, tmp_path, capsys, small):
    out = tmp_path / target
    code, out_text, err = run_cli(capsys, ["export", small["net"], _mid_spec(small),
                                           "-o", str(out)])
    assert_one_line_error(code, err, EXIT_FILE, target.split("/")[-1])
    assert "wrote" not in out_text and not out.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_export_into_a_read_only_folder(tmp_path, capsys, small):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    code, _, err = run_cli(capsys, ["export", small["net"], _mid_spec(small),
                                    "-o", str(folder / "m.lp")])
    assert_one_line_error(code, err, EXIT_FILE, "m.lp")


@pytest.mark.parametrize("suffix", [".lp", ".mps"])
@pytest.mark.parametrize("method", ["triangle", "milp"])
def test_exported_names_survive_a_highs_round_trip(suffix, method, tmp_path, capsys, small):
    from solvers.highs import HighsBackend
    from solvers.io import read_model
    from verifier.network import load_network
    from verifier.spec import load_vnnlib
    from verifier.verify.export import build_disjunct_model
    target = tmp_path / f"m{suffix}"
    code, _, err = run_cli(capsys, ["export", small["net"], _mid_spec(small), "--method",
                                    method, "-o", str(target)])
    assert code == 0, err
    back = read_model(str(target))
    net = load_network(small["net"])
    prop = load_vnnlib(_mid_spec(small), n_inputs=net.n_inputs, n_outputs=net.n_outputs)
    built = build_disjunct_model(net, prop, method=method)
    assert set(back.col_names) == set(built.col_names)        # no c0/r0 renaming
    assert set(back.row_names) == set(built.row_names)
    assert "relu0(0)" in back.col_names and any(n.startswith("def(") for n in back.row_names)
    optima = []
    for model in (back, built):
        backend = HighsBackend()
        backend.load(model)
        optima.append(backend.solve().objective)
    assert optima[0] == pytest.approx(optima[1], rel=1e-6, abs=1e-6)


# ------------------------------------------------------------------ 5. user mistakes
@pytest.mark.parametrize("flag", ["--json", "--result-file"])
def test_unwritable_outputs_of_verify(flag, tmp_path, capsys, small):
    target = str(tmp_path / "no" / "such" / "dir" / "out")
    code, _, err = run_cli(capsys, ["verify", small["net"], _unsat_spec(small), "--quiet",
                                    flag, target])
    assert_one_line_error(code, err, EXIT_FILE, "out")


def test_unwritable_batch_output(tmp_path, capsys, small):
    csv_path = _write(tmp_path / "i.csv", f"onnx,vnnlib,timeout\n{small['net']},"
                                          f"{_unsat_spec(small)},10\n")
    (tmp_path / "blocker").write_text("a file, not a folder")
    code, _, err = run_cli(capsys, ["batch", csv_path, "--out",
                                    str(tmp_path / "blocker" / "r.csv")])
    assert_one_line_error(code, err, EXIT_FILE, "r.csv")


@pytest.mark.parametrize("flag", ["--csv", "--md", "--json"])
def test_unwritable_gap_outputs(flag, tmp_path, capsys, small):
    code, _, err = run_cli(capsys, ["gap", small["net"], _unsat_spec(small), "--quiet",
                                    "--methods", "interval", flag,
                                    str(tmp_path / "none" / "g.out")])
    assert_one_line_error(code, err, EXIT_FILE, "g.out")


def _images(tmp_path, n_inputs: int = 2, labels=(0, 1, 0)):
    X = np.random.default_rng(0).uniform(-1, 1, size=(len(labels), n_inputs))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", np.asarray(labels))
    return str(tmp_path / "X.npy"), str(tmp_path / "y.npy")


@pytest.mark.parametrize("index, needle", [("50", "outside"), ("abc", "--index")])
def test_gap_index_mistakes(index, needle, tmp_path, capsys, small):
    X, y = _images(tmp_path)
    code, _, err = run_cli(capsys, ["gap", small["net"], "--images", X, "--labels", y,
                                    "--eps", "0.1", "--index", index, "--quiet"])
    assert_one_line_error(code, err, EXIT_USAGE, needle)


def test_gap_labels_outside_the_outputs(tmp_path, capsys, small):
    X, y = _images(tmp_path, labels=(0, 7, 1))
    code, out, err = run_cli(capsys, ["gap", small["net"], "--images", X, "--labels", y,
                                      "--eps", "0.1", "--quiet"])
    assert_one_line_error(code, err, EXIT_SPEC, "label 7")
    assert "nan" not in out


@pytest.mark.parametrize("argv, needle", [
    (["plot", "neuron", "--l", "2", "--u", "1", "-o", "{tmp}/n.png"], "--l"),
    (["plot", "neuron", "-o", "{tmp}/x.xyz"], "picture"),
    (["plot", "hull", "{net}", "--box=-1,1", "--layer", "99", "-o", "{tmp}/h.png"],
     "--layer 99"),
])
def test_plot_mistakes(argv, needle, tmp_path, capsys, small):
    argv = [a.format(tmp=tmp_path, net=small["net"]) for a in argv]
    code, _, err = run_cli(capsys, argv)
    assert_one_line_error(code, err, EXIT_USAGE, needle)


def test_inspect_into_a_closed_pipe(small):
    proc = subprocess.run(f"{sys.executable} -m verifier.cli inspect {small['net']} | head -1",
                          shell=True, capture_output=True, text=True, cwd=REPO_ROOT,
                          timeout=60)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
    assert proc.stdout.startswith("model:")


# ------------------------------------------------------------------ 6. silently wrong
def test_batch_csv_with_other_column_names(tmp_path, capsys, small):
    csv_path = _write(tmp_path / "i.csv", f"network,property,limit\n{small['net']},"
                                          f"{_unsat_spec(small)},10\n")
    code, _, err = run_cli(capsys, ["batch", csv_path, "--out", str(tmp_path / "o.csv")])
    assert_one_line_error(code, err, EXIT_FILE, "header", "onnx")


def test_batch_csv_with_an_unknown_verdict(tmp_path, capsys, small):
    csv_path = _write(tmp_path / "i.csv", f"onnx,vnnlib,timeout,verdict\n{small['net']},"
                                          f"{_unsat_spec(small)},10,maybe\n")
    code, _, err = run_cli(capsys, ["batch", csv_path, "--out", str(tmp_path / "o.csv")])
    assert_one_line_error(code, err, EXIT_FILE, "maybe")


def test_vnnlib_without_output_constraint(tmp_path, capsys, small):
    text = "\n".join(_box_vnnlib([-1, -1], [1, 1], 2, "").splitlines()) + "\n"
    spec = _write(tmp_path / "noout.vnnlib", text)
    code, out, err = run_cli(capsys, ["verify", small["net"], spec])
    assert_one_line_error(code, err, EXIT_SPEC, "constrains no output")
    assert "sat" not in out


def test_inspect_fails_on_a_network_it_cannot_import(tmp_path, capsys):
    path = _save(_gemm_relu_model(_weights(), hidden_op="Sigmoid"), tmp_path / "sig.onnx")
    code, out, _ = run_cli(capsys, ["inspect", str(path)])
    assert code == EXIT_OP
    assert "not importable" in out and "Sigmoid" in out


# ------------------------------------------------------------------ 7. messages
def test_a_directory_as_the_network(tmp_path, capsys, small):
    code, _, err = run_cli(capsys, ["verify", str(tmp_path), _unsat_spec(small)])
    assert_one_line_error(code, err, EXIT_FILE, "is a directory")


def test_vnnlib_2_is_named(tmp_path, capsys, small):
    spec = _write(tmp_path / "v2.vnnlib", "(vnnlib-version <2.0>)\n(declare-network N\n"
                  "  (declare-input X Real [2])\n  (declare-output Y Real [2]))\n")
    code, _, err = run_cli(capsys, ["verify", small["net"], spec])
    assert_one_line_error(code, err, EXIT_SPEC, "VNN-LIB 2.0")


def test_a_non_utf8_byte_inside_a_comment_is_fine(tmp_path, capsys, small):
    text = _box_vnnlib([-1, -1], [1, 1], 2, "(assert (>= Y_0 1000.0))").encode()
    spec = tmp_path / "latin1.vnnlib"
    spec.write_bytes(b"; caf\xe9 au lait\n" + text)
    code, out, err = run_cli(capsys, ["verify", small["net"], str(spec), "--quiet"])
    assert code == 0, err
    assert out.splitlines()[0] in ("unsat", "unknown")


def test_a_non_utf8_byte_outside_a_comment_names_the_line(tmp_path, capsys, small):
    spec = tmp_path / "bad.vnnlib"
    spec.write_bytes(b"(declare-const X_0 Real)\n(declare-const X\xe9 Real)\n")
    code, _, err = run_cli(capsys, ["verify", small["net"], str(spec)])
    assert_one_line_error(code, err, EXIT_SPEC, "UTF-8", ":2")


def test_gzipped_vnnlib_still_reads(tmp_path, capsys, small):
    spec = tmp_path / "p.vnnlib.gz"
    spec.write_bytes(gzip.compress(open(_unsat_spec(small), "rb").read()))
    code, out, err = run_cli(capsys, ["verify", small["net"], str(spec), "--quiet"])
    assert code == 0, err and out.splitlines()[0] == "unsat"


# ------------------------------------------------------------------ 9. help
def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        run_cli(capsys, ["--version"])
    assert info.value.code == 0
    from verifier import __version__
    assert capsys.readouterr().out == __version__ + "\n"      # the VNN-LIB 2.0 standard's form


def test_help_lists_every_exit_code(capsys):
    with pytest.raises(SystemExit):
        run_cli(capsys, ["--help"])
    text = capsys.readouterr().out
    for code in ("0 ran", "1 internal", "2 usage", "3 unreadable", "4 unsupported",
                 "5 malformed network", "6 malformed", "7 solver", "8 soundness", "130"):
        assert code in text, code


def test_readme_exit_code_table_matches_the_help():
    readme = (REPO_ROOT / "README.md").read_text()
    table = readme.split("## Exit codes", 1)[1].split("##", 1)[0]
    for code in (0, 1, 2, 3, 4, 5, 6, 7, 8, 130):
        assert f"| {code} |" in table, code


def test_inspect_and_bounds_name_layers_alike(capsys, small):
    code, inspected, err = run_cli(capsys, ["inspect", small["net"]])
    assert code == 0, err
    code, bounds, err = run_cli(capsys, ["bounds", small["net"], _unsat_spec(small)])
    assert code == 0, err
    layers = [line.split()[0] for line in bounds.splitlines()[1:] if line.strip()]
    assert layers and all(name in inspected for name in layers)


def test_long_searches_report_a_live_line(monkeypatch):
    """A branch and bound reports domains, bound and time left while it runs (the CLI
    shows it on a terminal only)."""
    from helpers import random_box, random_network
    from verifier.methods.branching import protocol
    from verifier.spec import halfspace_property
    from verifier.verify import verify
    monkeypatch.setattr(protocol, "LIVE_EVERY", 0.0)
    rng = np.random.default_rng(0)
    net = random_network(rng, 3, [20, 20], 2)
    lo, hi = random_box(rng, 3)
    outputs = net.forward(rng.uniform(lo, hi, size=(4000, 3))) @ np.array([1.0, -1.0])
    b = np.array([outputs.min() - 0.01 * (outputs.max() - outputs.min())])
    prop = halfspace_property(lo, hi, [(np.array([[1.0, -1.0]]), b)], 2)
    lines: list[str] = []
    verify(net, prop, method="split", timeout=30, live=lines.append)
    assert lines and all("domains" in m and "left" in m for m in lines)
