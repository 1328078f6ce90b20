"""Fine-tuning (training/finetune.py): labels, the end-of-turn token, real steps, round two, configs.

Real pieces throughout: the real Qwen2 tokenizer and chat template, rows built from the repo's source
fixtures by ``training.data``, the tiny random Qwen2 model, the Hugging Face Trainer and PEFT.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import REPO
from training import finetune as ft
from utilities.artifacts import sha256_file
from utilities.prompting import render

CONFIGS = REPO / "training" / "configs"
TINY = CONFIGS / "tiny_cpu.yaml"
ROUND1 = CONFIGS / "qlora_qwen2_72b.yaml"
ROUND2 = CONFIGS / "qlora_round2.yaml"
IM_END = "<|im_end|>"


# ---- fixtures ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rows_file(tmp_path_factory) -> Path:
    """16 real chat rows built from tests/data/sources: multiple choice, ratings, MMLU and free text."""
    from training.data.__main__ import main as data_main

    out = tmp_path_factory.mktemp("built")
    data_main(["build", "--sources", str(REPO / "tests" / "data" / "sources"), "--out", str(out), "--only",
               "ecinstruct_sentiment", "reviews_rating", "mmlu_general_knowledge", "alpaca_instruction_following",
               "--limit", "4"])
    lines = []
    for name in ("ecinstruct_sentiment", "reviews_rating", "mmlu_general_knowledge", "alpaca_instruction_following"):
        lines += [ln for ln in (out / f"{name}.jsonl").read_text(encoding="utf-8").splitlines() if ln.strip()]
    assert len(lines) == 16
    path = out / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def rows(rows_file) -> list[dict]:
    return [json.loads(line) for line in rows_file.read_text(encoding="utf-8").splitlines()]


def tiny_args(config: Path, model_dir: Path, rows_file: Path, out: Path, *extra: str) -> list[str]:
    return [str(config), "--quiet", "--set", f"base_model={model_dir}", f"datasets.0.path={rows_file}",
            f"output_dir={out}", *extra]


@pytest.fixture(scope="module")
def round_one(tmp_path_factory, tiny_model_dir, rows_file) -> tuple[Path, dict]:
    """tiny_cpu.yaml as it is (8 steps, a checkpoint every 4) on the tiny model and the 16 rows."""
    out = tmp_path_factory.mktemp("round1") / "adapter"
    manifest = ft.main(tiny_args(TINY, tiny_model_dir, rows_file, out))
    return out, manifest


def masked_loss(model, encoded: list[ft.Encoded]) -> tuple[float, float]:
    """Mean cross-entropy over every trained token of the rows, and over their end-of-turn tokens alone."""
    total = eot_total = 0.0
    count = eot_count = 0
    model.eval()
    with torch.no_grad():
        for enc in encoded:
            ids = torch.as_tensor(enc.ids, dtype=torch.long)[None]
            logits = model(input_ids=ids).logits[0, :-1].float()
            target = ids[0, 1:]
            keep = torch.as_tensor(enc.trained[1:])
            losses = torch.nn.functional.cross_entropy(logits, target, reduction="none")
            total += losses[keep].sum().item()
            count += int(keep.sum())
            last = int(torch.nonzero(keep).max())  # the last trained token closes the answer
            eot_total += losses[last].item()
            eot_count += 1
    return total / count, eot_total / eot_count


# ---- (1) labels --------------------------------------------------------------------------------------

def test_masked_positions_carry_no_loss(qwen_tokenizer, tiny_model_dir, rows):
    from transformers import AutoModelForCausalLM

    row = next(r for r in rows if r["task_type"] == "generation")  # a multi-token answer
    system, user, answer = row["messages"]
    builder = ft.LabelBuilder(qwen_tokenizer)
    enc = builder.encode(row["messages"])
    ids = enc.ids.tolist()

    # the trained tokens decode to exactly the answer and the <|im_end|> that closes it
    trained = [t for t, keep in zip(ids, enc.trained) if keep]
    assert qwen_tokenizer.decode(trained) == answer["content"] + IM_END
    # the untrained head is the inference prompt, id for id (rendered and encoded as inference does)
    prompt_ids = qwen_tokenizer.encode(render(qwen_tokenizer, user["content"], row["task_type"]),
                                       add_special_tokens=False)
    first = int(enc.trained.argmax())
    assert ids[:first] == prompt_ids and not enc.trained[:first].any()
    # after the end-of-turn token only the template's newline remains, untrained
    last = len(ids) - 1 - int(enc.trained[::-1].argmax())
    assert qwen_tokenizer.decode(ids[last + 1:]) == "\n" and not enc.trained[last + 1:].any()
    assert enc.trained[first:last + 1].all()  # one contiguous trained span

    # the collator's labels are these ids where trained and -100 elsewhere
    batch = ft.Collator(pad_id=151643)([ft.ChatDataset([enc])[0]])
    labels = batch["labels"][0]
    assert labels.tolist() == enc.labels()
    assert (labels == -100).sum().item() == len(ids) - len(trained)

    # the model's loss with these labels = cross-entropy by hand over the trained positions only
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    input_ids = batch["input_ids"]
    with torch.no_grad():
        out = model(input_ids=input_ids, labels=batch["labels"])
    logits = out.logits[0].float()
    positions = [p for p in range(1, len(ids)) if enc.trained[p]]  # token p is predicted at p - 1
    by_hand = sum(-torch.log_softmax(logits[p - 1], -1)[ids[p]].item() for p in positions) / len(positions)
    assert len(positions) == len(trained)
    assert out.loss.item() == pytest.approx(by_hand, abs=1e-5)

    # perturbing the logits wherever the next label is masked leaves the loss unchanged, exactly
    loss_fn = model.loss_function
    vocab = model.config.vocab_size
    base = loss_fn(out.logits, batch["labels"], vocab_size=vocab).item()
    noisy = out.logits.clone()
    masked_next = [q for q in range(len(ids) - 1) if not enc.trained[q + 1]] + [len(ids) - 1]
    gen = torch.Generator().manual_seed(0)
    noisy[0, masked_next] += 50.0 * torch.randn(len(masked_next), vocab, generator=gen)
    assert loss_fn(noisy, batch["labels"], vocab_size=vocab).item() == pytest.approx(base, abs=1e-6)
    assert len(masked_next) == len(ids) - len(trained)
    # ... while perturbing a single trained position moves it
    moved = out.logits.clone()
    moved[0, positions[0] - 1] += 50.0 * torch.randn(vocab, generator=gen)
    assert abs(loss_fn(moved, batch["labels"], vocab_size=vocab).item() - base) > 1e-3


# ---- (2) the end-of-turn token ------------------------------------------------------------------------

def test_end_of_turn_token_is_trained(qwen_tokenizer, tiny_model_dir, rows):
    from transformers import GenerationConfig

    im_end = qwen_tokenizer.convert_tokens_to_ids(IM_END)
    # read from the template, and it is the token generation stops on
    assert ft.end_of_turn(qwen_tokenizer) == (im_end, IM_END)
    assert im_end in GenerationConfig.from_pretrained(tiny_model_dir).eos_token_id

    row = next(r for r in rows if r["task_type"] == "multiple-choice")
    answer = row["messages"][-1]["content"]
    answer_ids = qwen_tokenizer.encode(answer, add_special_tokens=False)
    counts = {}
    for mode in ft.TRAIN_ON_EOS:
        enc = ft.LabelBuilder(qwen_tokenizer, train_on_eos=mode).encode(row["messages"])
        ids = enc.ids.tolist()
        assert ids.count(im_end) == 3  # system, user and assistant turns each end with it
        ends = [i for i, t in enumerate(ids) if t == im_end]
        counts[mode] = [bool(enc.trained[i]) for i in ends]
        trained = [t for t, keep in zip(ids, enc.trained) if keep]
        if mode in ("turn", "last"):  # the axolotl setting (train_on_eos: turn) and its single-turn equal
            assert trained == answer_ids + [im_end]
            assert ids[ends[-1] - len(answer_ids):ends[-1]] == answer_ids  # right after the answer
    assert counts == {"turn": [False, False, True], "last": [False, False, True],
                      "all": [True, True, True], "none": [False, False, False]}

    # the shipped configs train it
    for config in (ROUND1, ROUND2, TINY):
        cfg, _ = ft.resolve_config(ft.load_config(config))
        assert [d["train_on_eos"] for d in cfg["datasets"]] == ["turn"]
        assert [d["roles_to_train"] for d in cfg["datasets"]] == [["assistant"]]


# ---- (3) real steps ------------------------------------------------------------------------------------

def test_a_few_real_steps_on_the_tiny_model_lower_the_loss_and_save_adapters(
        round_one, tiny_model_dir, qwen_tokenizer, rows):
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    out, manifest = round_one
    assert out.is_dir() and not out.with_name(out.name + ".partial").exists()
    expected_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    for folder in (out / "checkpoint-4", out / "checkpoint-8", out):  # save_steps 4, max_steps 8, final
        config = json.loads((folder / "adapter_config.json").read_text())
        assert (config["peft_type"], config["r"], config["lora_alpha"]) == ("LORA", 64, 32)
        assert config["lora_dropout"] == pytest.approx(0.05)
        assert set(config["target_modules"]) == expected_modules
        tensors = load_file(folder / "adapter_model.safetensors")
        assert len(tensors) == 2 * len(expected_modules) * 2  # lora_A and lora_B, 7 modules, 2 layers
        q_b = next(v for k, v in tensors.items() if "layers.0.self_attn.q_proj.lora_B" in k)
        assert q_b.shape == (128, 64) and q_b.abs().max() > 0  # B starts at zero: it was trained
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-8"]
    assert manifest["outputs"]["checkpoints"] == ["checkpoint-4", "checkpoint-8"]
    assert manifest["outputs"]["global_step"] == 8

    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["step"] == "finetune" and on_disk["params"]["learning_rate"] == pytest.approx(0.002)
    assert on_disk["params"]["end_of_turn_token"] == IM_END
    assert on_disk["inputs"]["base_model"]["sha256"]["model.safetensors"] == \
        sha256_file(Path(tiny_model_dir) / "model.safetensors")
    assert on_disk["outputs"]["rows"]["kept"] == 16
    assert on_disk["outputs"]["sha256"]["checkpoint-4/adapter_model.safetensors"] == \
        sha256_file(out / "checkpoint-4" / "adapter_model.safetensors")
    assert sorted(on_disk["outputs"]["sha256"]) == sorted(
        f"{d}adapter_{n}" for d in ("", "checkpoint-4/", "checkpoint-8/") for n in ("config.json", "model.safetensors"))
    with open(out / "train_loss.csv", newline="") as f:
        logged = list(csv.DictReader(f))
    assert [int(r["step"]) for r in logged] == list(range(1, 9))
    assert all(math.isfinite(float(r["loss"])) for r in logged)
    assert float(logged[0]["loss"]) == pytest.approx(math.log(152064), abs=0.5)  # a random model: ~ln(vocab)

    # on the training rows, the trained adapter has a lower loss than the base model, end of turn included
    encoded = [ft.LabelBuilder(qwen_tokenizer).encode(r["messages"]) for r in rows]
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    before, eot_before = masked_loss(base, encoded)
    tuned = PeftModel.from_pretrained(base, out / "checkpoint-8")
    after, eot_after = masked_loss(tuned, encoded)
    # (measured: 11.94 -> 11.73 over all answer tokens; <|im_end|>, in every row, 11.88 -> ~10.6)
    assert after < before - 0.1, (before, after)
    assert eot_after < eot_before - 0.5, (eot_before, eot_after)


def test_a_run_that_fails_midway_leaves_no_output_dir_and_resumes_from_its_checkpoint(
        tiny_model_dir, rows_file, tmp_path, monkeypatch):
    """A failure at step 3 (checkpoint-2 saved): no output_dir, output_dir.partial kept with its
    checkpoint; the same command with resume_from_checkpoint: true continues at step 3 and finishes."""
    out = tmp_path / "adapter"
    partial = tmp_path / "adapter.partial"
    args = tiny_args(TINY, tiny_model_dir, rows_file, out, "max_steps=4", "save_steps=2")
    make_loss_log = ft._loss_callback

    def failing_at_step_3(path, is_main):
        callback = make_loss_log(path, is_main)
        on_log = callback.on_log

        def fail(targs, state, control, logs=None, **kwargs):
            on_log(targs, state, control, logs=logs, **kwargs)
            if state.global_step == 3:
                raise RuntimeError("CUDA out of memory (simulated)")

        callback.on_log = fail
        return callback

    with monkeypatch.context() as mp:
        mp.setattr(ft, "_loss_callback", failing_at_step_3)
        with pytest.raises(RuntimeError, match="simulated"):
            ft.main(args)
    assert not out.exists()
    assert sorted(p.name for p in partial.glob("checkpoint-*")) == ["checkpoint-2"]
    assert not (partial / "manifest.json").exists()
    with open(partial / "train_loss.csv", newline="") as f:
        failed = {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f)}
    assert sorted(failed) == [1, 2, 3]

    manifest = ft.main(args + ["resume_from_checkpoint=true"])
    assert out.is_dir() and not partial.exists()
    assert manifest["outputs"]["checkpoints"] == ["checkpoint-2", "checkpoint-4"]
    assert manifest["outputs"]["global_step"] == 4 and len(manifest["outputs"]["losses"]) == 4
    with open(out / "train_loss.csv", newline="") as f:
        logged = {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f)}
    assert sorted(logged) == [1, 2, 3, 4]  # step 3 trained (and logged) again from checkpoint-2
    assert logged[1] == failed[1] and logged[2] == failed[2]
    assert logged[3] == pytest.approx(failed[3], rel=1e-5)  # the same weights, optimizer and data order
    hashes = json.loads((out / "manifest.json").read_text())["outputs"]["sha256"]
    assert hashes["checkpoint-2/adapter_model.safetensors"] == sha256_file(out / "checkpoint-2" / "adapter_model.safetensors")


# ---- (4) iterative fine-tuning -------------------------------------------------------------------------

def _logits(model, qwen_tokenizer, row) -> torch.Tensor:
    enc = ft.LabelBuilder(qwen_tokenizer).encode(row["messages"])
    model.eval()
    with torch.no_grad():
        ids = torch.as_tensor(enc.ids, dtype=torch.long, device=model.device)[None]  # the model may sit on a GPU
        return model(input_ids=ids).logits.float().cpu()


def test_round_two_starts_from_round_one_weights(round_one, tiny_model_dir, rows_file, rows, qwen_tokenizer,
                                                 tmp_path):
    import shutil

    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    round1, _ = round_one
    adapter1 = round1 / "checkpoint-8"
    row = rows[0]
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    expected = _logits(PeftModel.from_pretrained(base, adapter1), qwen_tokenizer, row)  # round 1's model

    # mode 1: base_model = round 1 merged into a plain model folder; a new adapter on top of it
    merged_dir = tmp_path / "round1-merged"
    merged = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32), adapter1).merge_and_unload()
    merged.save_pretrained(merged_dir)
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "generation_config.json"):
        shutil.copyfile(Path(tiny_model_dir) / name, merged_dir / name)
    args = tiny_args(TINY, merged_dir, rows_file, tmp_path / "round2-merged", "max_steps=2", "save_steps=2",
                     "gradient_accumulation_steps=1")
    cfg, _ = ft.resolve_config(ft.load_config(args[0], args[3:]))
    start = ft.load_model_for_training(cfg)
    torch.testing.assert_close(_logits(start, qwen_tokenizer, row), expected, atol=1e-4, rtol=0)
    lora_b = [p for n, p in start.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.abs().max() == 0 for p in lora_b)  # a fresh adapter: starts exactly at round 1
    manifest = ft.main(args)
    assert manifest["outputs"]["global_step"] == 2
    assert manifest["inputs"]["base_model"]["sha256"]["model.safetensors"] == \
        sha256_file(merged_dir / "model.safetensors")
    adapter_cfg = json.loads((tmp_path / "round2-merged" / "adapter_config.json").read_text())
    assert adapter_cfg["base_model_name_or_path"] == str(merged_dir)

    # mode 2: lora_model_dir = round 1's adapter, continued on the original base
    args = tiny_args(TINY, tiny_model_dir, rows_file, tmp_path / "round2-continued", "max_steps=2",
                     "save_steps=2", "gradient_accumulation_steps=1", f"lora_model_dir={adapter1}")
    cfg, _ = ft.resolve_config(ft.load_config(args[0], args[3:]))
    start = ft.load_model_for_training(cfg)
    torch.testing.assert_close(_logits(start, qwen_tokenizer, row), expected, atol=1e-4, rtol=0)
    round1_tensors = load_file(adapter1 / "adapter_model.safetensors")
    trainable = {n: p for n, p in start.named_parameters() if p.requires_grad}
    assert len(trainable) == len(round1_tensors) == 28
    for name, value in round1_tensors.items():  # every round-1 matrix, loaded as a trainable parameter
        key = name.replace(".weight", ".default.weight")
        torch.testing.assert_close(trainable[key].detach(), value, atol=0, rtol=0)
    manifest = ft.main(args)
    assert manifest["outputs"]["global_step"] == 2
    assert manifest["inputs"]["lora_model_dir"]["sha256"]["adapter_model.safetensors"] == \
        sha256_file(adapter1 / "adapter_model.safetensors")
    round2_tensors = load_file(tmp_path / "round2-continued" / "adapter_model.safetensors")
    assert set(round2_tensors) == set(round1_tensors)
    moved = [(round2_tensors[k] - v).abs().max().item() for k, v in round1_tensors.items()]
    assert max(moved) > 0  # trained further ...
    assert max(moved) < max(v.abs().max().item() for v in round1_tensors.values())  # ... from round 1's values


# ---- (5)-(6) config errors -----------------------------------------------------------------------------

def test_unknown_config_keys_are_reported(tmp_path, capsys):
    raw = yaml.safe_load(TINY.read_text())
    raw["lora_alpah"] = raw.pop("lora_alpha")
    raw["wandb_project"] = "shopbench"  # an axolotl key with no effect here: accepted, reported as ignored
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ft.UnknownConfigKeys) as err:
        ft.main([str(path), "--set", f"output_dir={tmp_path / 'out'}"])
    assert err.value.keys == ["lora_alpah"]
    assert "'lora_alpah' (did you mean 'lora_alpha'?)" in str(err.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()

    with pytest.raises(ft.UnknownConfigKeys, match="datasets.0.*'feild_messages'.*'field_messages'"):
        ft.resolve_config(ft.load_config(TINY, ["datasets.0.feild_messages=messages"]))
    with pytest.raises(ft.UnknownConfigKeys, match="'micro_batch'"):
        ft.resolve_config(ft.load_config(TINY, ["micro_batch=2"]))

    cfg, notes = ft.resolve_config({**yaml.safe_load(TINY.read_text()), "wandb_project": "x", "strict": False})
    assert notes == ["ignored (axolotl key with no effect here): strict",
                     "ignored (axolotl key with no effect here): wandb_project"]
    assert "wandb_project" not in cfg
    with pytest.raises(ft.ConfigError, match="learning_rate: 'fast' is not a number"):
        ft.resolve_config(ft.load_config(TINY, ["learning_rate=fast"]))
    with pytest.raises(ft.ConfigError, match="roles_to_train"):
        ft.resolve_config(ft.load_config(TINY, ["datasets.0.roles_to_train=[user, assistant]"]))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error; this machine has CUDA")
def test_4bit_without_cuda_is_a_clear_error(tiny_model_dir, rows_file, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ft.ConfigError) as err:
        ft.main(tiny_args(TINY, tiny_model_dir, rows_file, out, "load_in_4bit=true", "adapter=qlora"))
    message = str(err.value)
    assert "load_in_4bit: true needs a CUDA GPU" in message and "tiny_cpu.yaml" in message
    assert not out.exists() and not out.with_name("out.partial").exists()  # stopped before anything was written
    # the round-1 recipe itself, on this CPU: the same error, before any download is tried
    with pytest.raises(ft.ConfigError, match="needs a CUDA GPU"):
        ft.main([str(ROUND1), "--set", f"output_dir={out}"])
    # a qlora adapter without a 4-bit base is a config error, not a silent float LoRA
    with pytest.raises(ft.ConfigError, match="adapter: qlora needs load_in_4bit: true"):
        ft.resolve_config(ft.load_config(TINY, ["adapter=qlora"]))


# ---- (7) the configs -----------------------------------------------------------------------------------

SEED = {  # docs/reference.md section 5: the winners' QLoRA recipe
    "optimizer": "adamw_torch", "lr_scheduler": "cosine", "learning_rate": 2e-4, "weight_decay": 0.01,
    "warmup_steps": 10, "micro_batch_size": 1, "gradient_accumulation_steps": 4, "lora_r": 64, "lora_alpha": 32,
    "lora_dropout": 0.05, "lora_target_linear": True, "load_in_4bit": True, "adapter": "qlora",
    "train_on_inputs": False,
}


def test_axolotl_configs_parse_and_hold_the_seed_hyperparameters():
    from accelerate.commands.config.config_args import load_config_from_file
    from transformers import TrainingArguments

    from training.data.blends import blends

    for path in (ROUND1, ROUND2):
        cfg, notes = ft.resolve_config(ft.load_config(path))
        for key, value in SEED.items():
            assert cfg[key] == (pytest.approx(value) if isinstance(value, float) else value), (path.name, key)
        assert isinstance(cfg["learning_rate"], float)  # 0.0002, not the string PyYAML makes of "2e-4"
        assert cfg["sequence_len"] == 3072  # the submission's max_model_len
        assert cfg["bf16"] is True and cfg["gradient_checkpointing"] is True and cfg["sample_packing"] is False
        assert cfg["chat_template"] == "tokenizer_default" and cfg["save_steps"] == 50 and 150 % 50 == 0
        assert cfg["deepspeed"] == "training/configs/deepspeed_zero2.json"
        assert notes == ["ignored (axolotl key with no effect here): strict"]
        (dataset,) = cfg["datasets"]
        assert (dataset["type"], dataset["ds_type"], dataset["field_messages"]) == ("chat_template", "json", "messages")
        blend = Path(dataset["path"]).stem.removeprefix("blend-")
        assert blend in blends()
    r1, _ = ft.resolve_config(ft.load_config(ROUND1))
    r2, _ = ft.resolve_config(ft.load_config(ROUND2))
    assert r1["base_model"] == "Qwen/Qwen2-72B-Instruct" and r1["lora_model_dir"] is None
    assert Path(r1["datasets"][0]["path"]).name == "blend-v8.jsonl"
    # round 2: from round 1's merged weights (a folder), a new adapter, another blend, one shorter epoch
    assert r2["base_model"] == "runs/weights/round1-v8/merged" and r2["lora_model_dir"] is None
    assert Path(r2["datasets"][0]["path"]).name == "blend-v9b.jsonl" and r2["num_epochs"] == 1
    assert r2["output_dir"] != r1["output_dir"]

    tiny, _ = ft.resolve_config(ft.load_config(TINY))
    assert (tiny["load_in_4bit"], tiny["adapter"], tiny["bf16"], tiny["fp16"]) == (False, "lora", False, False)
    assert ft.model_dtype(tiny) == torch.float32 and tiny["max_steps"] == 8 and tiny["save_steps"] == 4
    same = ("lora_r", "lora_alpha", "lora_dropout", "lora_target_linear", "optimizer", "lr_scheduler",
            "weight_decay", "micro_batch_size", "gradient_accumulation_steps", "train_on_inputs", "sequence_len")
    assert {k: tiny[k] for k in same} == {k: r1[k] for k in same}

    # the HF Trainer gets the recipe as the YAML states it
    targs = ft.training_arguments({**r1, "deepspeed": None, "bf16": False, "tf32": False}, Path("unused"))
    assert isinstance(targs, TrainingArguments)
    assert (targs.optim, targs.lr_scheduler_type, targs.learning_rate, targs.weight_decay, targs.warmup_steps) == \
        ("adamw_torch", "cosine", pytest.approx(2e-4), pytest.approx(0.01), 10)
    assert (targs.per_device_train_batch_size, targs.gradient_accumulation_steps, targs.save_steps) == (1, 4, 50)

    # the multi-GPU files: ZeRO-2 with values the Trainer fills in, and accelerate reads its launcher config
    ds = json.loads((CONFIGS / "deepspeed_zero2.json").read_text())
    assert ds["zero_optimization"]["stage"] == 2 and ds["train_micro_batch_size_per_gpu"] == "auto"
    launcher = load_config_from_file(str(CONFIGS / "accelerate_deepspeed_zero2.yaml"))
    assert launcher.num_processes == 8 and launcher.distributed_type.value == "DEEPSPEED"
    assert (REPO / launcher.deepspeed_config["deepspeed_config_file"]).is_file()


# --- the GPU training environment ----------------------------------------------------------------

def _pins(path: Path) -> dict[str, str]:
    from tools.submission import _logical_lines

    pins = {}
    for _, line in _logical_lines(path):
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def test_the_gpu_training_env_is_pinned_and_holds_what_qlora_needs():
    from tools.submission import check_requirements

    path = REPO / "requirements-train.txt"
    assert check_requirements(path) == len(_pins(path))  # every line name==version
    assert {"bitsandbytes", "deepspeed", "peft", "accelerate", "transformers", "torch"} <= set(_pins(path))


def test_the_gpu_training_env_pins_the_versions_the_cpu_tests_ran():
    train, cpu = _pins(REPO / "requirements-train.txt"), _pins(REPO / "requirements-cpu.txt")
    shared = set(train) & set(cpu)
    assert {"transformers", "peft", "accelerate", "torch"} <= shared
    assert {name: (train[name], cpu[name]) for name in shared if train[name] != cpu[name]} == {}
