"""Where the benchmarks write: a new run folder under runs/ (``runs/latest-bench-<name>`` pointing at it),
never a file tracked by git unless ``--record``, which a partial or quick run refuses before any work."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import common
from benchmarks import evaluator_memory as em
from benchmarks import gpu_check as gpu
from benchmarks import keyphrase_decoding as kd
from benchmarks import run as bench_run
from benchmarks import training_data as td
from tests.conftest import REPO

TRACKED = sorted((REPO / "benchmarks").glob("*.md"))  # latest.md and every *_latest.md


def snapshot() -> dict[Path, tuple[bytes, int]]:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in TRACKED}


@pytest.fixture
def runs(tmp_path, monkeypatch):
    """Run folders go to a temporary folder; progress and environment settings do not leak."""
    monkeypatch.setattr(os, "environ", os.environ.copy())
    monkeypatch.setattr(sys, "path", list(sys.path))
    for key in ("OUT", "SHOPBENCH_PROGRESS"):
        os.environ.pop(key, None)
    os.environ["SHOPBENCH_RUNS"] = str(tmp_path / "runs")
    return tmp_path / "runs"


@pytest.fixture
def no_machine_probe(monkeypatch):
    """benchmarks.run's header without importing torch, transformers and sentence_transformers (~14 s)."""
    monkeypatch.setattr(bench_run, "machine", lambda: {"cpu": "test", "cores": 1})


def test_benchmark_leaves_tracked_files_untouched_without_record(runs, no_machine_probe, capsys):
    before = snapshot()
    res = bench_run.main(["--only", "e", "--quick"])  # the router over the EC-Guide suite, one pass
    assert set(res) == {"e"}
    assert snapshot() == before  # not one byte nor mtime of a tracked report changed
    report = runs / "latest-bench-speed" / "report.md"
    assert (runs / "latest-bench-speed").is_symlink() and report.is_file()
    folder = (runs / "latest-bench-speed").resolve()
    assert folder.parent == runs.resolve() and folder.name.endswith("-bench-speed")
    text = report.read_text()
    assert "## (e) the router" in text and "`shopbench bench --quick --only e`" in text
    captured = capsys.readouterr()
    assert f"report: {common._shown(folder / 'report.md')}" in captured.out and "recorded:" not in captured.out
    # off a terminal: no bar redraws in the log, one plain line for the stage instead
    assert "\r" not in captured.err and "(e) router: 1 pass(es) over 2,541 prompts" in captured.err


def test_evaluator_memory_writes_its_table_to_a_run_folder(runs):
    before = snapshot()
    table = em.main(["--rows", "40"])
    assert [row[1] for row in table] == list(em.CASES)
    assert snapshot() == before
    text = (runs / "latest-bench-evaluator-memory" / "report.md").read_text()
    assert "| import only |" in text and "| bad last line |" in text and "refused: " in text


def test_gpu_check_writes_a_new_run_folder_by_default(runs, monkeypatch, capsys):
    monkeypatch.setattr(gpu, "CHECK_FUNCS", {name: (lambda ctx: ("fine", {})) for name in gpu.CHECKS})
    monkeypatch.setattr(gpu, "environment", lambda: {"python": "test"})
    monkeypatch.setitem(sys.modules, "torch", None)  # main's precision setting: no 5 s torch import here
    before = snapshot()
    assert gpu.main(["--device", "cpu", "--wheels-dir", str(runs.parent / "no-wheels")]) == 0
    assert snapshot() == before
    folder = runs / "latest-bench-gpu-check"
    assert folder.resolve().name.endswith("-bench-gpu-check")
    assert sorted(p.name for p in folder.iterdir()) == ["gpu_check.json", "gpu_check.log", "gpu_check.md"]
    assert "recorded:" not in capsys.readouterr().out


def test_two_runs_keep_two_folders_and_latest_points_at_the_second(runs):
    first = common.write_report("# one\n", "demo")
    second = common.write_report("# two\n", "demo")
    assert first.parent != second.parent and first.read_text() == "# one\n"
    assert (runs / "latest-bench-demo" / "report.md").read_text() == "# two\n"


PARTIAL = [
    (bench_run.main, ["--only", "d", "--record"], "benchmarks/latest.md", "(--only d)"),
    (bench_run.main, ["--only", "e,a", "--record"], "benchmarks/latest.md", "(--only a,e)"),
    (bench_run.main, ["--quick", "--record"], "benchmarks/latest.md", "(--quick)"),
    (kd.main, ["--per-task", "2", "--record"], "benchmarks/keyphrase_decoding_latest.md", "(--per-task 2 < 40)"),
    (td.main, ["--scale", "0.05", "--record"], "benchmarks/training_data_latest.md", "(--scale 0.05 < 1)"),
    (td.main, ["--no-breakdown", "--record"], "benchmarks/training_data_latest.md", "(--no-breakdown)"),
    (td.main, ["--only-generate", "--record"], "benchmarks/training_data_latest.md", "(--only-generate"),
    (gpu.main, ["--device", "cpu", "--only", "engine", "--record"], "benchmarks/gpu_check_latest.md",
     "(--only engine)"),
    (gpu.main, ["--device", "cpu", "--steps", "3", "--record"], "benchmarks/gpu_check_latest.md", "(--steps 3)"),
    (gpu.main, ["--wheels", "x", "--record"], "benchmarks/gpu_check_latest.md", "(--wheels"),
]


@pytest.mark.parametrize("main, argv, tracked, why", PARTIAL,
                         ids=[f"{m.__module__.split('.')[-1]} {' '.join(a)}" for m, a, _, _ in PARTIAL])
def test_partial_benchmark_refuses_record(runs, capsys, main, argv, tracked, why):
    before = snapshot()
    with pytest.raises(SystemExit) as exit_:
        main(argv)  # an argparse error before any work: nothing generated, loaded or measured
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"error: --record replaces the recorded figures in {tracked} and needs a full run" in error, error
    assert why in error and error.endswith("drop --record (without it nothing tracked is written)")
    assert snapshot() == before and not runs.exists()


def test_the_former_out_flag_says_where_reports_go_now(runs, capsys):
    with pytest.raises(SystemExit):
        bench_run.main(["--only", "e", "--out", "benchmarks/latest.md"])
    assert "error: --out is gone: the report goes to a new folder under runs/" in capsys.readouterr().err


def test_the_command_line_refuses_record_in_one_line(runs):
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--only", "d", "--record"], cwd=REPO,
                          env=os.environ, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("run.py: error: --record replaces")


def test_record_writes_the_tracked_file(runs, no_machine_probe, monkeypatch, tmp_path, capsys):
    tracked = tmp_path / "latest.md"
    monkeypatch.setattr(bench_run, "LATEST", tracked)  # the repository's file is never touched

    def fake(key):
        def bench(b, out):
            out(f"## ({key}) measured")
            return {}
        return bench

    for key in bench_run.BENCHMARKS:  # a full run (every part, no --quick), each part stubbed
        monkeypatch.setattr(bench_run, f"bench_{key}", fake(key))
    monkeypatch.setattr(bench_run, "summary_table", lambda out, res: out("## Summary"))
    before = snapshot()
    bench_run.main(["--record"])
    assert snapshot() == before
    text = tracked.read_text()
    assert text == (runs / "latest-bench-speed" / "report.md").read_text()  # the same report in both places
    assert "`shopbench bench`" in text and all(f"## ({k}) measured" in text for k in bench_run.BENCHMARKS)
    assert f"recorded: {common._shown(tracked)}" in capsys.readouterr().out


def test_gpu_check_record_writes_the_tracked_file_and_a_cpu_run_keeps_a_gpu_record(runs, monkeypatch, tmp_path,
                                                                                  capsys):
    tracked = tmp_path / "gpu_check_latest.md"
    monkeypatch.setattr(gpu, "LATEST", tracked)
    monkeypatch.setattr(gpu, "CHECK_FUNCS", {name: (lambda ctx: ("fine", {})) for name in gpu.CHECKS})
    monkeypatch.setattr(gpu, "environment", lambda: {"python": "test"})
    monkeypatch.setitem(sys.modules, "torch", None)
    out = tmp_path / "out"
    assert gpu.main(["--device", "cpu", "--out", str(out), "--wheels-dir", str(tmp_path / "none"), "--record"]) == 0
    first, rest = tracked.read_text().split("\n", 1)
    assert first.startswith("<!-- written by: shopbench bench gpu-check --device cpu") and "a CPU run" in first
    assert rest == (out / "gpu_check.md").read_text() and rest.startswith("# GPU check (the CPU run: --device cpu)")
    tracked.write_text("# GPU check (NVIDIA H100 80GB HBM3)\n")  # what a run on a GPU recorded
    capsys.readouterr()
    with pytest.raises(SystemExit):
        gpu.main(["--device", "cpu", "--out", str(out), "--record"])
    assert "holds a run on a GPU, which a --device cpu run does not replace" in capsys.readouterr().err
    assert tracked.read_text() == "# GPU check (NVIDIA H100 80GB HBM3)\n"


def test_every_part_of_the_speed_benchmark_runs_in_its_quick_form(runs):
    """All five parts of `shopbench bench --quick`, for real (a renamed helper once broke part (a)
    unnoticed): each writes its section and its summary row, and no tracked file changes."""
    before = snapshot()
    res = bench_run.main(["--quick"])
    assert set(res) == {"a", "b", "c", "d", "e"}
    assert snapshot() == before
    text = (runs / "latest-bench-speed" / "report.md").read_text()
    for part in ("(a)", "(b)", "(c)", "(d)", "(e)"):
        assert f"| {part} " in text, part
    assert "### inside route and fit_prompt" in text
