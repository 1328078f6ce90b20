"""The front door (`shopbench`), one-line setup errors, optional layers by name, kept run folders and
progress bars only on a terminal (shopbench/cli.py, utilities/errors.py, utilities/runs.py,
utilities/progress.py)."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shopbench import cli
from utilities import errors, progress, runs

REPO = Path(__file__).resolve().parent.parent


def test_every_command_runs_a_modules_own_main():
    for name, command in [*cli.COMMANDS.items(), *cli.BENCHMARKS.items()]:
        module = importlib.import_module(command.module)
        assert callable(getattr(module, "main", None)), f"{name}: {command.module} has no main(argv)"


def test_help_lists_every_command_with_the_make_target_it_needs(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for name, command in cli.COMMANDS.items():
        line = next(line for line in out.splitlines() if line.strip().startswith(name + " "))
        assert f"[{command.layer}]" in line
    assert "[make awq]" in out


def test_unknown_command_is_one_line_with_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["evl"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown command 'evl'" in err and "did you mean eval" in err


def test_no_command_prints_usage_and_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([])
    assert exit_.value.code == 2 and "usage: shopbench COMMAND" in capsys.readouterr().out


def test_a_commands_own_errors_name_it_as_shopbench_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["eval", "--track", "9"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "usage: shopbench eval" in err and "shopbench eval: error:" in err
    assert sys.argv[0] != "shopbench eval"  # restored afterwards


def test_arguments_reach_the_command_verbatim(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["data", "list"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    from training.data.registry import load_builders

    seeds = list(load_builders())
    assert len(seeds) == 38 and all(name in out for name in seeds)


def test_bench_name_chooses_the_benchmark_and_keeps_the_rest():
    prog, command, rest = cli.resolve(["bench", "keyphrase", "--limit", "3"])
    assert (prog, command.module, rest) == ("shopbench bench keyphrase", "benchmarks.keyphrase_decoding",
                                            ["--limit", "3"])
    prog, command, rest = cli.resolve(["bench", "--only", "d"])
    assert (prog, command.module, rest) == ("shopbench bench", "benchmarks.run", ["--only", "d"])


def test_a_command_that_returns_a_status_exits_with_it(monkeypatch):
    module = type(sys)("fake_command")
    module.main = lambda argv: 3
    monkeypatch.setitem(sys.modules, "fake_command", module)
    monkeypatch.setitem(cli.COMMANDS, "fake", cli.Command("fake_command", "a test command"))
    with pytest.raises(SystemExit) as exit_:
        cli.main(["fake"])
    assert exit_.value.code == 3


def test_setup_error_is_one_line_and_exit_2_without_traceback(monkeypatch, capsys):
    def main(argv):
        raise errors.SetupError("SHOPBENCH_X='y': not a thing\nset SHOPBENCH_X to z")

    with pytest.raises(SystemExit) as exit_:
        errors.run_command(main, [], prog="shopbench eval")
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err == "shopbench eval: error: SHOPBENCH_X='y': not a thing set SHOPBENCH_X to z\n"


def test_other_errors_keep_their_traceback():
    def main(argv):
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        errors.run_command(main, [])


def test_missing_layer_names_the_make_target_that_installs_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "awq", None)  # import awq now fails as if it were not installed
    with pytest.raises(errors.MissingLayer) as caught:
        errors.require("awq", "the AWQ step")
    message = str(caught.value)
    assert "\n" not in message and "the AWQ step needs AutoAWQ" in message and "`make awq`" in message
    assert isinstance(caught.value, ImportError)  # callers that catch ImportError still do


def test_a_layer_that_is_installed_but_broken_is_not_called_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm.fake_part", None)
    with pytest.raises(errors.MissingLayer) as caught:
        errors.require("vllm.fake_part", "SHOPBENCH_ENGINE=vllm")
    assert "not installed" not in str(caught.value) and "`make vllm`" in str(caught.value)


def test_two_runs_in_the_same_second_get_two_folders(tmp_path):
    first = runs.new_run_dir("smollm2", "dev", root=tmp_path, now=1_800_000_000)
    second = runs.new_run_dir("smollm2", "dev", root=tmp_path, now=1_800_000_000)
    assert first != second and first.is_dir() and second.is_dir()
    assert second.name == first.name + "-2"


def test_run_folder_labels_are_safe_folder_names(tmp_path):
    run = runs.new_run_dir("my model/v2 (fp16)", "", "dev", root=tmp_path, now=0)
    assert "/" not in run.name.split("-", 2)[-1] and " " not in run.name and run.parent == tmp_path


def test_latest_points_at_the_newest_run_and_keeps_an_old_latest_folder(tmp_path):
    old = tmp_path / "latest"
    old.mkdir()
    (old / "report.json").write_text("{}")
    a = runs.new_run_dir("a", root=tmp_path, now=0)
    link = runs.point_latest(a)
    assert link.is_symlink() and link.resolve() == a.resolve() and os.readlink(link) == a.name
    kept = [p for p in tmp_path.iterdir() if p.name.endswith("-earlier-latest")]
    assert len(kept) == 1 and (kept[0] / "report.json").read_text() == "{}"
    b = runs.new_run_dir("b", root=tmp_path, now=1)
    runs.point_latest(b)
    assert link.resolve() == b.resolve() and a.is_dir()


def test_runs_root_follows_shopbench_runs(monkeypatch, tmp_path):
    monkeypatch.setenv(runs.RUNS_ENV, str(tmp_path / "elsewhere"))
    assert runs.new_run_dir("x").parent == tmp_path / "elsewhere"


@pytest.mark.parametrize("value, expected", [("1", True), ("always", True), ("0", False), ("never", False)])
def test_progress_variable_forces_bars_on_or_off(monkeypatch, value, expected):
    monkeypatch.setenv(progress.PROGRESS_ENV, value)
    assert progress.enabled() is expected


def test_progress_bars_are_off_when_stderr_is_not_a_terminal(monkeypatch, capsys):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    assert not sys.stderr.isatty() and progress.enabled() is False
    for _ in progress.bar(range(3), desc="work"):
        pass
    assert capsys.readouterr().err == ""


def test_progress_flag_sets_the_variable(monkeypatch):
    import argparse

    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    parser = argparse.ArgumentParser()
    progress.add_flag(parser)
    progress.apply_flag(parser.parse_args(["--progress"]))
    assert os.environ[progress.PROGRESS_ENV] == "1" and progress.enabled()


def test_the_installed_command_is_the_front_door():
    script = Path(sys.executable).parent / "shopbench"
    if not script.exists():
        pytest.skip(f"{script} is not installed (make installs it: pip install -e .)")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, cwd="/", timeout=120)
    assert done.returncode == 0 and "eval" in done.stdout and "pipeline" in done.stdout


def test_a_command_whose_module_reads_its_result_exits_with_that_status(monkeypatch):
    module = type(sys)("fake_build")
    module.main = lambda argv: {"complete": False}  # a data build that lost files returns its manifest
    module.exit_status = lambda result: 0 if result["complete"] else 3
    monkeypatch.setitem(sys.modules, "fake_build", module)
    monkeypatch.setitem(cli.COMMANDS, "fake", cli.Command("fake_build", "a test command"))
    with pytest.raises(SystemExit) as exit_:
        cli.main(["fake"])
    assert exit_.value.code == 3
