"""`bench/run.py --from-batch`: the exact-mode table from `verifier batch` result files."""

import csv
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["onnx", "vnnlib", "verdict", "expected", "time_s", "wall_s", "best_time_s",
           "timeout", "certified_margin", "method", "message"]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module      # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _write(path, rows):
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for onnx, vnnlib, verdict, expected, seconds, best in rows:
            writer.writerow({"onnx": onnx, "vnnlib": vnnlib, "verdict": verdict,
                             "expected": expected, "time_s": seconds, "wall_s": seconds,
                             "best_time_s": best, "timeout": 120, "method": "auto"})


def _table(bench, out, *files):
    code = bench.main(["--suite", "exact", "--from-batch", *map(str, files),
                       "--out", str(out)])
    with open(out / "exact.csv", newline="") as fh:
        rows = {r["group"]: r for r in csv.DictReader(fh)}
    return code, rows


def test_later_file_overrides_and_counts(bench, tmp_path):
    net4 = "/b/mnistfc/onnx/mnist-net_256x4.onnx"
    _write(tmp_path / "capped.csv", [
        ("onnx/ACASXU_run2a_1_1_batch_2000.onnx", "vnnlib/prop_1.vnnlib", "unsat", "unsat",
         1.0, 0.2),
        (net4, "/b/mnistfc/vnnlib/p0.vnnlib", "timeout", "unsat", 120, 2.0),
        (net4, "/b/mnistfc/vnnlib/p1.vnnlib", "timeout", "unknown", 120, ""),
        (net4, "/b/mnistfc/vnnlib/p2.vnnlib", "sat", "sat", 3.0, 0.1)])
    _write(tmp_path / "rerun.csv", [(net4, "/b/mnistfc/vnnlib/p0.vnnlib", "unsat", "unsat",
                                     200.0, 2.0)])
    code, rows = _table(bench, tmp_path, tmp_path / "capped.csv", tmp_path / "rerun.csv")
    assert code == 0
    assert set(rows) == {"acasxu", "mnistfc 256x4"}
    m = rows["mnistfc 256x4"]
    assert (m["instances"], m["unsat"], m["sat"], m["timeout"], m["wrong"]) == \
        ("3", "1", "1", "1", "0")
    assert (m["solved"], m["known verdict"], m["solved of known"]) == ("2", "2", "2")
    assert float(m["our total s (solved)"]) == pytest.approx(203.0)
    assert float(m["best total s (solved)"]) == pytest.approx(2.1)


def test_wrong_verdict_gives_exit_code_1(bench, tmp_path):
    _write(tmp_path / "r.csv", [("onnx/ACASXU_run2a_1_1_batch_2000.onnx",
                                 "vnnlib/prop_1.vnnlib", "sat", "unsat", 1.0, 0.2)])
    code, rows = _table(bench, tmp_path, tmp_path / "r.csv")
    assert code == 1 and rows["acasxu"]["wrong"] == "1"


def test_journal_resume_reuses_finished_runs(bench, tmp_path, monkeypatch):
    """Every finished run is journaled at once; a resumed run re-runs nothing that is
    there, and a torn last line (a kill mid-write) is ignored."""
    import numpy as np
    from verifier.spec import linf_robustness
    onnx = ROOT / "verifier" / "data" / "digits_64_32_32_10.onnx"
    data = np.load(ROOT / "verifier" / "data" / "digits_test_images.npz")
    insts = []
    for i in range(2):
        x0, label = data["images"][i].ravel().astype(float), int(data["labels"][i])
        insts.append(bench.Instance("digits", f"img{i}", onnx,
                                    lambda net, x0=x0, label=label: linf_robustness(
                                        x0, 0.01, label, net.n_outputs), timeout=20.0))
    journal = tmp_path / "j.csv"
    first = bench.run_suite(insts, ["interval", "deeppoly"], bench.Networks(),
                            journal=journal)
    with open(journal, "a") as fh:
        fh.write("digits,img9,deeppoly,uns")          # torn line
    done = bench.read_journal(journal)
    assert set(done) == {("digits", f"img{i}", m) for i in range(2)
                         for m in ("interval", "deeppoly")}

    def must_not_run(*args, **kwargs):
        raise AssertionError("a journaled run was run again")

    monkeypatch.setattr(bench, "run_one", must_not_run)
    again = bench.run_suite(insts, ["interval", "deeppoly"], bench.Networks(),
                            journal=journal, done=done)
    assert [(r.instance.name, r.method, r.verdict) for r in again] == \
        [(r.instance.name, r.method, r.verdict) for r in first]


def test_shards_split_the_suite_and_their_journals_merge(bench, tmp_path):
    """``--shard I/N`` parsing, and a resumed unsharded run sees every shard's journal."""
    assert bench.parse_shard("1/3") == (1, 3) and bench.parse_shard(None) is None
    for bad in ("3/3", "x/2", "1"):
        with pytest.raises(SystemExit):
            bench.parse_shard(bad)
    header = ",".join(bench.JOURNAL_COLUMNS) + "\n"
    (tmp_path / "s_journal_shard0of2.csv").write_text(header + "g,img0,deeppoly,unsat,1,0,\n")
    (tmp_path / "s_journal_shard1of2.csv").write_text(header + "g,img1,deeppoly,sat,2,0,\n")
    (tmp_path / "other_journal.csv").write_text(header + "g,img2,deeppoly,sat,2,0,\n")
    done = bench.read_journals(tmp_path, "s")
    assert set(done) == {("g", "img0", "deeppoly"), ("g", "img1", "deeppoly")}


def test_search_throughput_is_journaled_and_tabled(bench, tmp_path):
    """A branch-and-bound run records its sub-domains and search seconds; they survive the
    journal, a row of an older journal (no such columns) reads back as 0, and the table's
    ``domains/s`` is their ratio (``-`` for a group that never searched)."""
    inst = bench.Instance("g", "img0", Path("n.onnx"), make_property=lambda net: None)
    runs = [bench.Run(inst, "bab", "unsat", 3.0, 0.0, "", domains=120, search_seconds=2.0),
            bench.Run(inst, "deeppoly", "unknown", 0.1)]
    journal = tmp_path / "j.csv"
    for run in runs:
        bench.append_journal(journal, run)
    done = bench.read_journal(journal)
    back = bench.run_from_row(inst, "bab", done[("g", "img0", "bab")])
    assert (back.domains, back.search_seconds) == (120, 2.0)
    old = {"verdict": "unsat", "seconds": "1", "highs_seconds": "0", "message": ""}
    assert bench.run_from_row(inst, "bab", old).domains == 0
    header, rows = bench.summarise(runs, "lp-core")
    column = header.index("domains/s")
    assert {r[1]: r[column] for r in rows} == {"bab": "60", "deeppoly": "-"}
