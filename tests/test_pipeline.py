"""The weights pipeline: every stage on a tiny model on the CPU, resumable, and the recipe's stages."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from training import pipeline


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("pipeline")
    return out, pipeline.main(["tiny", "--out", str(out)])


STAGES = ["data-round1", "finetune-round1", "wise-ft-round1", "merge-round1", "data-round2", "finetune-round2",
          "average", "wise-ft-round2", "merge-round2", "pad", "quantize"]


def test_the_tiny_pipeline_runs_every_stage_with_a_manifest(tiny_run):
    out, report = tiny_run
    assert list(report["stages"]) == STAGES and all(s["status"] == "ran" for s in report["stages"].values())
    for name in STAGES:
        output = Path(report["stages"][name]["output"])
        if output.is_dir():
            manifest = json.loads((output / "manifest.json").read_text())
            assert manifest["inputs"] and manifest["outputs"]
    averaged = json.loads((out / "round2" / "average" / "adapter_config.json").read_text())
    assert averaged["r"] == 2 * 64  # checkpoints 2 and 4 stacked along the rank
    awq = json.loads((out / "round2" / "awq" / "config.json").read_text())["quantization_config"]
    assert (awq["quant_method"], awq["bits"], awq["group_size"], awq["zero_point"]) == ("awq", 4, 128, True)


def test_the_second_round_trains_on_other_rows_than_the_first(tiny_run):
    out, _ = tiny_run
    rounds = [{line for line in (out / "data" / blend / f"blend-{blend}.jsonl").read_text().splitlines()}
              for blend in ("v8", "v9b")]  # Track 3: v8 in round 1, v9b in round 2
    assert rounds[0] and rounds[1]
    shared = rounds[0] & rounds[1]
    assert len(shared) < len(rounds[1]) / 2, f"{len(shared)} of {len(rounds[1])} round-2 rows repeat round 1"


def test_the_padded_tiny_model_reloaded_independently_gives_the_unpadded_logits(tiny_run, dev_rows):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    out, _ = tiny_run
    merged, padded = out / "round2" / "merged", out / "round2" / "padded"
    assert AutoConfig.from_pretrained(merged).intermediate_size == 352
    assert AutoConfig.from_pretrained(padded).intermediate_size % (4 * 128) == 0  # TP 4 x AWQ group 128
    tokenizer = AutoTokenizer.from_pretrained(padded)
    ids = tokenizer(dev_rows[40]["input_field"], return_tensors="pt").input_ids
    logits = [AutoModelForCausalLM.from_pretrained(f, dtype=torch.float32).eval()(ids).logits.detach()
              for f in (merged, padded)]
    assert torch.allclose(logits[0], logits[1], atol=1e-5, rtol=0)


def test_the_quantized_tiny_model_answers_every_dev_question_so_that_it_parses(tiny_run):
    _, report = tiny_run
    answers = report["answers"]
    assert answers["questions"] == 96 and answers["unparseable"] == 0
    assert report["checks"]["divides_by_tp_x_group"]


def test_a_rerun_skips_finished_stages_and_redoes_those_whose_inputs_changed(tmp_path):
    calls = []
    source = tmp_path / "source.txt"
    source.write_text("v1")

    def make(name, inp, out):
        def run(overwrite):
            calls.append(name)
            out.write_text(inp.read_text() + f"+{name}")
        return pipeline.Stage(name, out, [inp], run)

    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    stages = [make("a", source, a), make("b", a, b)]
    pipeline.run_stages(stages, tmp_path)
    pipeline.run_stages(stages, tmp_path)
    assert calls == ["a", "b"]
    source.write_text("v2")  # a new input: stage a redoes, and b, whose input a rewrote, too
    pipeline.run_stages(stages, tmp_path)
    assert calls == ["a", "b", "a", "b"] and b.read_text() == "v2+a+b"


def test_a_track_runs_the_recipes_stages_in_order(tmp_path, capsys):
    pipeline.main(["--track", "1", "--sources", str(tmp_path), "--work", str(tmp_path / "w"), "--dry-run"])
    printed = capsys.readouterr().out  # the listing is the dry run's output: stdout
    # "stage 3/12 wise-ft-round1: would write DIR from DIR"
    stages = [line.split(":")[0].split()[-1] for line in printed.splitlines() if "would write" in line]
    assert stages == [*STAGES, "install"]
    assert [line.split()[1] for line in printed.splitlines() if "would write" in line] == [
        f"{n}/{len(STAGES) + 1}" for n in range(1, len(STAGES) + 2)]
    assert "blend-v8.jsonl" in printed and "blend-v9b.jsonl" in printed  # Track 1: v8, then v9b
    assert "qwen2-72b-awq-padded-alpha0.75" in printed  # Track 1's checkpoint: alpha 0.75
    finetunes = [line for line in printed.splitlines() if "-m training.finetune" in line]
    assert len(finetunes) == 2 and all(line.strip().startswith("accelerate launch --config_file") for line in finetunes)


def _trainer_run(folder: Path, steps) -> Path:
    for s in steps:
        (folder / f"checkpoint-{s}").mkdir(parents=True)
    (folder / "checkpoint-notes").mkdir()  # not a step: ignored
    return folder


def test_the_default_average_of_a_192_step_run_takes_steps_150_and_192(tmp_path):
    run = _trainer_run(tmp_path / "adapter", [50, 100, 150, 192])  # save_steps 50, and the last step
    assert [p.name for p in pipeline.pick_checkpoints(run, None)] == ["checkpoint-150", "checkpoint-192"]


def test_the_default_average_of_a_longer_run_takes_the_same_point_of_it(tmp_path):
    run = _trainer_run(tmp_path / "adapter", [*range(50, 4244, 50), 4244])  # v9b without packing: 4,244 steps
    # 4244 x 150 / 192 = 3315.6: the saved checkpoint nearest it is 3300
    assert [p.name for p in pipeline.pick_checkpoints(run, None)] == ["checkpoint-3300", "checkpoint-4244"]


def test_averaging_steps_that_were_not_saved_is_a_clear_error(tmp_path):
    run = _trainer_run(tmp_path / "adapter", [50, 100, 4244])
    with pytest.raises(FileNotFoundError, match=r"no checkpoint for steps \[150, 192\] \(saved: 50, 100, 4244\)"):
        pipeline.pick_checkpoints(run, [150, 192])
    with pytest.raises(FileNotFoundError, match="needs two checkpoints"):
        pipeline.pick_checkpoints(_trainer_run(tmp_path / "one", [7]), None)
