"""The training commands as a new user meets them: a missing layer or a mistaken flag is one line
naming what to do, found before anything runs; progress is plain lines off a terminal, bars on one
(or with --progress); every command runs through run_command and is shown as a `shopbench` command."""
from __future__ import annotations

import ast
import os
import re
import sys
import time
from pathlib import Path

import pytest

from training import pipeline
from training.cli import PROGS
from utilities import progress
from utilities.errors import SetupError, run_command

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "data" / "sources"
COMMANDS = ["training/data/__main__.py", "training/pipeline.py", "training/finetune.py", "training/average_adapters.py",
            "training/wise_ft.py", "training/merge.py", "training/pad_mlp.py", "training/quantize_awq.py",
            "training/data/synthetic/__main__.py"]


@pytest.fixture(autouse=True)
def off_a_terminal(monkeypatch):
    """Bars as off a terminal (capsys is not one), and whatever a --progress flag sets is undone after."""
    monkeypatch.setenv(progress.PROGRESS_ENV, "")  # recorded, so that teardown puts back what was there
    monkeypatch.delenv(progress.PROGRESS_ENV)


def one_line_error(capsys, main, argv, prog) -> str:
    """Run ``main(argv)`` as its command does; the one line it printed (exit status 2, no traceback)."""
    with pytest.raises(SystemExit) as exit_:
        run_command(main, argv, prog=prog)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{prog}: error: ") and "Traceback" not in err, err
    return err


def fake_stages(tmp_path: Path, n: int = 3) -> list[pipeline.Stage]:
    source = tmp_path / "source.txt"
    source.write_text("rows")

    def write(out: Path, inp: Path):
        return lambda overwrite: out.write_text(inp.read_text() + "+")

    stages, previous = [], source
    for i in range(n):
        out = tmp_path / f"out{i}.txt"
        stages.append(pipeline.Stage(f"step{i}", out, [previous], write(out, previous)))
        previous = out
    return stages


# ---- a missing layer: one line naming its make target, before anything runs ----------------------------

def test_tiny_pipeline_without_awq_fails_first_with_one_line_naming_make_awq(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "awq", None)  # `import awq` fails as if AutoAWQ were not installed
    ran = []
    monkeypatch.setattr(pipeline, "run_stages", lambda *a, **k: ran.append(a))
    out = tmp_path / "tiny"
    started = time.monotonic()
    err = one_line_error(capsys, pipeline.main, ["tiny", "--out", str(out)], PROGS["training.pipeline"])
    assert time.monotonic() - started < 1.0
    assert "the pipeline's quantize stage needs AutoAWQ, which is not installed" in err
    assert "`make awq`" in err and "`make test` builds it too" in err
    assert not ran and not out.exists()  # nothing run, nothing written (not even the tiny base model)


def test_the_quantize_step_without_awq_is_one_line_naming_make_awq(tmp_path, monkeypatch, capsys):
    from training import quantize_awq

    model = tmp_path / "padded"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "qwen2"}')
    monkeypatch.setitem(sys.modules, "awq", None)
    monkeypatch.setitem(sys.modules, "awq.models.auto", None)
    err = one_line_error(capsys, quantize_awq.main, [str(model), "--out", str(tmp_path / "q"), "--tp", "1"],
                         PROGS["training.quantize_awq"])
    assert "the AWQ step (shopbench quantize, training.quantize_awq) needs AutoAWQ" in err and "`make awq`" in err
    assert not (tmp_path / "q").exists()


def test_vllm_missing_is_reported_as_skipped_not_as_an_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    note = pipeline.vllm_note()
    assert "vLLM is not installed: skipped" in note and "`make vllm`" in note and "transformers engine" in note


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the CPU-only preflight")
def test_a_track_on_a_machine_without_cuda_stops_before_the_first_stage_with_one_line(tmp_path):
    stages = pipeline.weights_stages(tmp_path / "w", tmp_path, 1, round1_config=pipeline.CONFIGS / "qlora_qwen2_72b.yaml",
                                     round2_config=pipeline.CONFIGS / "qlora_round2.yaml")
    finetunes = [s for s in stages if s.check is not None]
    assert [s.name for s in finetunes] == ["finetune-round1", "finetune-round2"]
    with pytest.raises(SetupError, match=r"^stage finetune-round1 \(qlora_qwen2_72b.yaml\): load_in_4bit: true "
                                         "needs a CUDA GPU"):
        pipeline.preflight(finetunes)
    assert not (tmp_path / "w").exists()


# ---- mistakes in the arguments: one line naming the flag, what was found, what to do --------------------

def test_data_build_with_a_missing_sources_folder_is_one_line_naming_sources(tmp_path, capsys):
    from training.data.__main__ import EXIT_REFUSED, main, run

    missing = tmp_path / "no-such-sources"
    argv = ["build", "--sources", str(missing), "--out", str(tmp_path / "out")]
    err = one_line_error(capsys, main, argv, PROGS["training.data"])
    assert f"--sources {missing}: no such folder; pass the folder that holds one subfolder per source" in err
    assert "tests/data/sources" in err
    assert run(argv) == EXIT_REFUSED  # `python -m training.data`: the same line, status 2
    assert capsys.readouterr().err == err
    assert not (tmp_path / "out").exists()


def test_pipeline_with_a_missing_sources_folder_is_one_line_naming_sources(tmp_path, capsys):
    missing = tmp_path / "nope"
    err = one_line_error(capsys, pipeline.main, ["--track", "3", "--sources", str(missing), "--work", str(tmp_path / "w")],
                         PROGS["training.pipeline"])
    assert f"--sources {missing}: no such folder" in err and not (tmp_path / "w").exists()


def test_synthetic_with_a_missing_sources_folder_is_one_line_naming_sources(tmp_path, capsys):
    from training.data.synthetic.cli import main

    teacher = tmp_path / "teacher"  # never loaded: the arguments are checked first
    teacher.mkdir()
    (teacher / "config.json").write_text("{}")
    missing = tmp_path / "nope"
    err = one_line_error(capsys, main, ["enrich", "--model", str(teacher), "--sources", str(missing),
                                        "--out", str(tmp_path / "out")], PROGS["training.data.synthetic"])
    assert f"--sources {missing}: no such folder" in err and not (tmp_path / "out").exists()
    err = one_line_error(capsys, main, ["build-task", "--model", str(teacher), "--out", str(tmp_path / "out")],
                         PROGS["training.data.synthetic"])
    assert "--sources: not given; build-task reads seed data from the sources" in err


def test_data_build_with_an_unknown_dataset_is_one_line_naming_only(tmp_path, capsys):
    from training.data.__main__ import main

    err = one_line_error(capsys, main, ["build", "--sources", str(FIXTURES), "--out", str(tmp_path / "o"),
                                        "--only", "mmlu_general_knowledge", "no_such_set"], PROGS["training.data"])
    assert "--only no_such_set: no such dataset; `shopbench data list --all` shows them" in err


def test_a_step_whose_out_exists_is_one_line_naming_out_and_overwrite(tmp_path, capsys):
    from training import wise_ft

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        (adapter / name).write_text("{}")
    out = tmp_path / "w"
    out.mkdir()
    err = one_line_error(capsys, wise_ft.main, ["--adapter", str(adapter), "--out", str(out), "--alpha", "0.5"],
                         PROGS["training.wise_ft"])
    assert f"--out {out}: exists; pass --overwrite to replace it" in err


@pytest.mark.parametrize("module, argv, expected", [
    ("training.wise_ft", ["--adapter", "{tmp}/none", "--out", "{tmp}/o", "--alpha", "1"],
     "--adapter {tmp}/none: no such folder; pass a PEFT LoRA adapter folder"),
    ("training.average_adapters", ["{tmp}", "{tmp}/none", "--out", "{tmp}/o"],
     "ADAPTER_DIR {tmp}: holds no adapter_config.json or adapter_model.safetensors"),
    ("training.merge", ["--base", "{tmp}", "--adapter", "{tmp}/none", "--out", "{tmp}/o"], "--adapter {tmp}/none: no such folder"),
    ("training.pad_mlp", ["{tmp}/none", "--out", "{tmp}/o"], "MODEL_DIR {tmp}/none: no such folder"),
    ("training.finetune", ["{tmp}/none.yaml"], "CONFIG {tmp}/none.yaml: no such file; pass an axolotl-format YAML"),
    ("training.data.synthetic.cli", ["reword", "--model", "{tmp}/none", "--out", "{tmp}/o"],
     "--model {tmp}/none: no such folder; pass the teacher model's folder"),
])
def test_a_missing_input_of_a_step_is_one_line_naming_its_flag(module, argv, expected, tmp_path, capsys):
    import importlib

    main = importlib.import_module(module).main
    prog = PROGS[module.removesuffix(".cli")]
    err = one_line_error(capsys, main, [a.format(tmp=tmp_path) for a in argv], prog)
    assert expected.format(tmp=tmp_path) in err
    assert not (tmp_path / "o").exists()


# ---- progress: plain lines off a terminal, bars on one or with --progress --------------------------------

def test_pipeline_prints_one_plain_line_per_stage_off_a_terminal(tmp_path, capsys):
    stages = fake_stages(tmp_path)
    pipeline.run_stages(stages, tmp_path)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "\r" not in text and "%|" not in text
    lines = captured.err.splitlines()
    assert [line.split(":")[0] for line in lines] == [f"stage {i}/3 step{i - 1}" for i in (1, 1, 2, 2, 3, 3)]
    assert all(re.fullmatch(r"stage \d/3 step\d: (-> .*|done in \d+\.\d s)", line) for line in lines), lines
    pipeline.run_stages(stages, tmp_path)  # a rerun: one "up to date" line per stage
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and all(": up to date: " in line for line in lines)


def test_pipeline_dry_run_lists_the_stages_without_a_bar(tmp_path, capsys):
    pipeline.main(["--track", "3", "--sources", str(tmp_path), "--work", str(tmp_path / "w"), "--dry-run"])
    captured = capsys.readouterr()
    assert "%|" not in captured.out + captured.err and "\r" not in captured.out + captured.err
    assert captured.out.splitlines()[0].startswith("stage 1/12 data-round1: would write ")
    assert not (tmp_path / "w").exists()


def test_data_build_prints_one_plain_line_per_dataset_off_a_terminal(tmp_path, capsys):
    from training.data.__main__ import main

    main(["build", "--sources", str(FIXTURES), "--out", str(tmp_path / "out"), "--limit", "3",
          "--only", "mmlu_general_knowledge", "alpaca_instruction_following"])
    err = capsys.readouterr().err
    assert "\r" not in err and "%|" not in err
    assert re.search(r"^dataset 1/2 mmlu_general_knowledge: 3 rows in \d+\.\d s$", err, re.M), err
    assert re.search(r"^dataset 2/2 alpaca_instruction_following: 3 rows in \d+\.\d s$", err, re.M), err


def test_progress_flag_draws_bars_off_a_terminal(tmp_path, capsys):
    from training.data.__main__ import main

    main(["build", "--sources", str(FIXTURES), "--out", str(tmp_path / "out"), "--limit", "3",
          "--only", "mmlu_general_knowledge", "--progress"])
    err = capsys.readouterr().err
    assert "mmlu_general_knowledge:" in err and "%|" in err and progress.enabled()  # the flag set it
    del os.environ[progress.PROGRESS_ENV]
    pipeline.main(["--track", "3", "--sources", str(tmp_path), "--work", str(tmp_path / "w"), "--dry-run", "--progress"])
    assert os.environ.get(progress.PROGRESS_ENV) == "1"
    capsys.readouterr()
    pipeline.run_stages(fake_stages(tmp_path), tmp_path / "state")
    err = capsys.readouterr().err
    assert "pipeline: 100%|" in err and "\r" in err  # the bar over the stages
    assert "stage 3/3 step2: done in" in err


# ---- how the commands are run and shown --------------------------------------------------------------------

def test_every_training_command_runs_its_main_through_run_command():
    for path in COMMANDS:
        tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
        blocks = [node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)]
        assert len(blocks) == 1, path
        assert "run_command(" in ast.unparse(blocks[0]), f"{path}: {ast.unparse(blocks[0])}"


def test_training_help_and_docs_show_shopbench_commands_never_bare_python():
    bare = re.compile(r"(?<![\w/.])python3? -m ")
    files = [*sorted((REPO / "training").rglob("*.py")), *sorted((REPO / "training" / "configs").glob("*.yaml")),
             REPO / "docs" / "training.md"]
    found = [f"{p.relative_to(REPO)}:{n}: {line.strip()}" for p in files
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if bare.search(line)]
    assert not found, found
    for module, prog in PROGS.items():
        assert prog.startswith("shopbench "), module
