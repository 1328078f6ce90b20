"""Merging an adapter into fp16 weights, and padding the MLP with interleaved zero units, on tiny
random models (the Qwen2 fixture, intermediate 352, and a tiny Llama saved in shards)."""
from __future__ import annotations

import json

import pytest
import torch

from tests.test_average_wiseft import PROMPT, load, logits_of, make_adapter, max_diff
from training import merge as merge_step
from utilities.artifacts import sha256_file
from training import pad_mlp


@pytest.fixture(scope="module")
def ids(qwen_tokenizer):
    return torch.tensor([qwen_tokenizer(PROMPT)["input_ids"]])


@pytest.fixture(scope="module")
def adapter(tiny_model_dir, tmp_path_factory):
    return make_adapter(tiny_model_dir, tmp_path_factory.mktemp("lora") / "a", seed=1, r=4, lora_alpha=8)


@pytest.fixture(scope="module")
def padded_dir(tiny_model_dir, tmp_path_factory):
    return pad_mlp.main([str(tiny_model_dir), "--out", str(tmp_path_factory.mktemp("pad") / "padded"),
                         "--tp", "4", "--group-size", "128"])


def safetensors_of(folder) -> dict:
    from safetensors.torch import load_file

    tensors = {}
    for path in sorted(folder.glob("*.safetensors")):
        tensors.update(load_file(path))
    return tensors


# ---------------------------------------------------------------------------------------------
# merge
# ---------------------------------------------------------------------------------------------

def test_merged_fp16_folder_loads_and_matches_peft_logits(tiny_model_dir, adapter, ids, tmp_path):
    from transformers import AutoModelForCausalLM

    out = merge_step.main(["--base", str(tiny_model_dir), "--adapter", str(adapter), "--out", str(tmp_path / "m16")])
    config = json.loads((out / "config.json").read_text())
    assert config["torch_dtype"] == "float16" and config["dtype"] == "float16"
    assert {t.dtype for t in safetensors_of(out).values()} == {torch.float16}
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "generation_config.json"):
        assert (out / name).read_bytes() == (tiny_model_dir / name).read_bytes(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["step"] == "merge" and manifest["params"]["dtype"] == "float16"
    assert set(manifest["inputs"]) == {"base", "adapter"}
    assert manifest["outputs"]["sha256"]["model.safetensors"] == sha256_file(out / "model.safetensors")

    model16 = AutoModelForCausalLM.from_pretrained(out).eval()  # the folder alone: dtype from its config
    assert model16.dtype == torch.float16 and "lora" not in " ".join(n for n, _ in model16.named_parameters())
    reference = logits_of(load(tiny_model_dir, adapter), ids)  # float32 base + the adapter applied by PEFT
    got32 = logits_of(model16.float(), ids)  # the fp16 weights, computed in float32
    got16 = logits_of(model16.half(), ids)  # and computed in float16 on the CPU
    scale = float(reference.abs().max())
    assert scale > 0.5
    # fp16 weights hold 11 significant bits (relative 2**-11 = 4.9e-4 per weight)
    assert float((got32 - reference).abs().max()) < 5e-3 * scale
    assert float((got16 - reference).abs().max()) < 5e-3 * scale
    assert int((got32.argmax(-1) != reference.argmax(-1)).sum()) == 0


def test_fp16_merge_rounds_the_float32_merge_once(tiny_model_dir, adapter, tmp_path):
    m16 = safetensors_of(merge_step.merge_adapter(tiny_model_dir, adapter, tmp_path / "m16"))
    m32 = safetensors_of(merge_step.merge_adapter(tiny_model_dir, adapter, tmp_path / "m32", dtype="float32"))
    base = safetensors_of(tiny_model_dir)
    assert m16.keys() == m32.keys() == base.keys()
    for key in m32:
        # the base rounded to fp16 on loading (a float32 test base; Qwen2's bf16 weights convert exactly),
        # then base + float32 delta rounded once: half an fp16 ulp (2**-11 relative) of each, 2**-25 subnormal
        err = (m16[key].double() - m32[key].double()).abs()
        bound = 2**-11 * (base[key].double().abs() + m32[key].double().abs()) + 2 * 2**-25
        assert bool((err <= bound).all()), key
    # deterministic: a second merge is bit for bit the same (the pipeline compares output hashes)
    again = safetensors_of(merge_step.merge_adapter(tiny_model_dir, adapter, tmp_path / "again", dtype="float32"))
    assert max_diff(again, m32) == 0.0


def test_merge_refuses_a_folder_that_is_not_an_adapter(tiny_model_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        merge_step.main(["--base", str(tiny_model_dir), "--adapter", str(tiny_model_dir), "--out", str(tmp_path / "x")])
    assert not (tmp_path / "x").exists()


def test_a_hub_id_base_is_found_in_the_local_cache_without_network(tiny_model_dir, tmp_path):
    from utilities.artifacts import model_folder

    cache = tmp_path / "hub"  # the layout huggingface_hub writes: models--ORG--NAME/{refs/main, snapshots/REV}
    snapshot = cache / "models--Qwen--Qwen2-72B-Instruct" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    for f in tiny_model_dir.iterdir():
        (snapshot / f.name).symlink_to(f)
    (cache / "models--Qwen--Qwen2-72B-Instruct" / "refs").mkdir()
    (cache / "models--Qwen--Qwen2-72B-Instruct" / "refs" / "main").write_text("a" * 40)
    assert model_folder("Qwen/Qwen2-72B-Instruct", cache_dir=cache) == snapshot
    assert model_folder(tiny_model_dir) == tiny_model_dir
    with pytest.raises(FileNotFoundError, match="not in the local cache; download it first"):
        model_folder("Qwen/Qwen2-0.5B-Instruct", cache_dir=cache)
    with pytest.raises(FileNotFoundError, match="not a model folder"):
        model_folder(tmp_path)


# ---------------------------------------------------------------------------------------------
# pad
# ---------------------------------------------------------------------------------------------

def test_29568_pads_to_29696_for_4_gpus_and_group_128():
    assert pad_mlp.padded_size(29568, tp=4, group=128) == 29696
    assert 29696 // 4 == 7424 == 58 * 128 and 29568 % (4 * 128) == 384
    assert pad_mlp.padded_size(352, 4, 128) == 512 and pad_mlp.padded_size(512, 4, 128) == 512
    assert pad_mlp.padded_size(513, 4, 128) == 1024
    plan = pad_mlp.plan(29568, 4, 128)
    assert len(plan.zero_positions) == 128
    assert plan.zero_positions[:3] == (231, 463, 695) and plan.zero_positions[-1] == 29695  # one after every 231 real
    counts = pad_mlp.zero_unit_counts(plan.is_zero, 4, 128)
    assert counts["per_shard"] == [32, 32, 32, 32]
    assert len(counts["per_group"]) == 232 and max(counts["per_group"]) == 1 and sum(counts["per_group"]) == 128
    assert counts["all_zero_groups"] == [] and counts["all_zero_shards"] == []
    assert len(plan.real_positions) == 29568


def test_appended_padding_would_make_an_all_zero_group():
    """Why interleave: the same 160 zero units appended after the tiny model's 352 real ones."""
    appended = [False] * 352 + [True] * 160
    counts = pad_mlp.zero_unit_counts(appended, 4, 128)
    assert counts["all_zero_groups"] == [3] and counts["all_zero_shards"] == [3]
    with pytest.raises(ValueError, match="all-zero group"):
        pad_mlp.plan(3, 4, 128)  # 3 real units cannot cover 4 groups


def test_padded_model_gives_the_same_logits(tiny_model_dir, padded_dir, ids):
    from transformers import AutoModelForCausalLM

    original = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    padded = AutoModelForCausalLM.from_pretrained(padded_dir, dtype=torch.float32).eval()  # reloaded on its own
    assert padded.config.intermediate_size == 512 and original.config.intermediate_size == 352
    assert tuple(padded.model.layers[0].mlp.down_proj.weight.shape) == (128, 512)
    a, b = logits_of(original, ids), logits_of(padded, ids)
    assert float(a.abs().max()) > 0.5
    assert float((a - b).abs().max()) < 5e-6  # same sums, another float32 summation order (measured 6e-7)
    # the padded weights hold the original ones bit for bit at the real positions
    real = torch.tensor(pad_mlp.plan(352).real_positions)
    src, dst = safetensors_of(tiny_model_dir), safetensors_of(padded_dir)
    for layer in range(2):
        p = f"model.layers.{layer}.mlp."
        assert torch.equal(dst[p + "gate_proj.weight"][real], src[p + "gate_proj.weight"])
        assert torch.equal(dst[p + "up_proj.weight"][real], src[p + "up_proj.weight"])
        assert torch.equal(dst[p + "down_proj.weight"][:, real], src[p + "down_proj.weight"])
    assert all(torch.equal(dst[k], v) for k, v in src.items() if ".mlp." not in k)


def test_padded_intermediate_size_divides_by_tp_times_group(padded_dir, tiny_model_dir):
    config = json.loads((padded_dir / "config.json").read_text())
    assert config["intermediate_size"] == 512 and config["intermediate_size"] % (4 * 128) == 0
    assert (config["intermediate_size"] // 4) % 128 == 0  # each GPU's slice is whole AWQ groups
    before = json.loads((tiny_model_dir / "config.json").read_text())
    assert {k: v for k, v in config.items() if k != "intermediate_size"} == \
           {k: v for k, v in before.items() if k != "intermediate_size"}
    manifest = json.loads((padded_dir / "manifest.json").read_text())
    assert manifest["step"] == "pad_mlp" and manifest["params"]["intermediate_size"] == [352, 512]


def test_no_awq_group_and_no_shard_is_all_zero_padding(tiny_model_dir, padded_dir):
    # counted from the written weights: a unit is zero when its gate row, up row and down column are
    report = pad_mlp.main([str(padded_dir), "--report", "--tp", "4", "--group-size", "128"])
    expected = set(pad_mlp.plan(352).zero_positions)
    assert sorted(report) == [0, 1]
    for layer, counts in report.items():
        assert counts["zero_units"] == 512 - 352 == 160
        assert counts["per_shard"] == [40, 40, 40, 40]  # 160 / 4, i.e. 88 real units per GPU
        assert counts["per_group"] == [40, 40, 40, 40]  # 128-groups: here one group per shard
        assert counts["all_zero_groups"] == [] and counts["all_zero_shards"] == []
    masks = pad_mlp.zero_units_in_folder(padded_dir)
    assert {i for i, z in enumerate(masks[0]) if z} == expected
    assert not any(any(m) for m in pad_mlp.zero_units_in_folder(tiny_model_dir).values())  # none before


def test_already_divisible_size_is_a_no_op(tmp_path, capsys):
    from models.tiny import build_tiny_qwen2

    src = build_tiny_qwen2(tmp_path / "tiny512", intermediate_size=512)
    out = pad_mlp.pad_folder(src, tmp_path / "out")
    assert "already divides" in capsys.readouterr().out
    assert (out / "model.safetensors").read_bytes() == (src / "model.safetensors").read_bytes()
    assert json.loads((out / "config.json").read_text())["intermediate_size"] == 512
    assert json.loads((out / "manifest.json").read_text())["params"]["padded"] is False


def test_sharded_llama_style_model_pads_too(tmp_path):
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=200, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=False)
    LlamaForCausalLM(config).save_pretrained(tmp_path / "llama", max_shard_size="200KB")
    assert (tmp_path / "llama" / "model.safetensors.index.json").is_file()
    out = pad_mlp.pad_folder(tmp_path / "llama", tmp_path / "padded", tp=2, group=32)  # 200 -> 256 = 4 x 64
    index = json.loads((out / "model.safetensors.index.json").read_text())
    tensors = safetensors_of(out)
    assert index["metadata"]["total_size"] == sum(t.numel() * t.element_size() for t in tensors.values())
    assert tensors["model.layers.1.mlp.down_proj.weight"].shape == (64, 256)
    ids = torch.tensor([[1, 5, 9, 200, 77, 3]])
    a = logits_of(AutoModelForCausalLM.from_pretrained(tmp_path / "llama").eval(), ids)
    b = logits_of(AutoModelForCausalLM.from_pretrained(out).eval(), ids)
    assert float((a - b).abs().max()) < 1e-5
    for counts in pad_mlp.report_folder(out, tp=2, group=32).values():
        assert counts["per_shard"] == [28, 28] and max(counts["per_group"]) < 32 and not counts["all_zero_groups"]


def test_quantized_or_odd_folders_are_refused(tmp_path):
    from models.tiny import TOKENIZER_DIR

    with pytest.raises(ValueError, match="already quantized"):
        pad_mlp.pad_folder(TOKENIZER_DIR, tmp_path / "x")  # the submitted AWQ config
    (tmp_path / "fused").mkdir()
    (tmp_path / "fused" / "config.json").write_text(json.dumps({"intermediate_size": 100, "num_hidden_layers": 1}))
    from safetensors.torch import save_file

    save_file({"model.layers.0.mlp.gate_up_proj.weight": torch.zeros(200, 8),
               "model.layers.0.mlp.down_proj.weight": torch.zeros(8, 100)}, tmp_path / "fused" / "model.safetensors")
    with pytest.raises(ValueError, match="fused gate_up_proj"):
        pad_mlp.pad_folder(tmp_path / "fused", tmp_path / "y")
    assert not (tmp_path / "y").exists()
