"""Adapter averaging (by deltas, as one exact PEFT adapter) and wise-ft (PEFT's rescale semantics),
on the tiny random Qwen2 with real PEFT LoRA adapters made here (random non-zero lora_B)."""
from __future__ import annotations

import json
import math

import pytest
import torch

from training import average_adapters as avg
from training import merge as merge_step
from utilities.artifacts import sha256_file
from training import wise_ft

PROMPT = ("<|im_start|>system\nYou are a helpful online shopping assistant. Your task is ranking.<|im_end|>\n"
          "<|im_start|>user\nRank the products for the query 'tent': 1. sofa 2. dome tent 3. stove<|im_end|>\n"
          "<|im_start|>assistant\n")


def make_adapter(base_dir, out, seed, r=4, lora_alpha=8, target_modules="all-linear", **config):
    """A PEFT LoRA folder on ``base_dir`` with random non-zero lora_B (PEFT starts B at zero, a zero update)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=r, lora_alpha=lora_alpha, target_modules=target_modules,
                                             lora_dropout=0.0, task_type="CAUSAL_LM", **config))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.05)
    model.save_pretrained(out)
    return out


def load(folder, adapter=None):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    return PeftModel.from_pretrained(model, adapter).eval() if adapter is not None else model


def merged_state(base_dir, adapter) -> dict:
    """Weights of base + adapter merged in memory by PEFT (float32)."""
    return {k: v.clone() for k, v in load(base_dir, adapter).merge_and_unload().state_dict().items()}


def logits_of(model, ids) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits[0].float()


def max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


@pytest.fixture(scope="module")
def ids(qwen_tokenizer):
    return torch.tensor([qwen_tokenizer(PROMPT)["input_ids"]])


@pytest.fixture(scope="module")
def adapters(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    return {
        # different r and lora_alpha: scalings 8/4 = 2 and 4/8 = 0.5, so the average rescales B
        "a": make_adapter(tiny_model_dir, root / "a", seed=1, r=4, lora_alpha=8),
        "b": make_adapter(tiny_model_dir, root / "b", seed=2, r=8, lora_alpha=4),
        # the steps-150/192 case: same r and alpha (as the seed config r 64, alpha 32, here r 4, alpha 2)
        "step150": make_adapter(tiny_model_dir, root / "s150", seed=3, r=4, lora_alpha=2),
        "step192": make_adapter(tiny_model_dir, root / "s192", seed=4, r=4, lora_alpha=2),
        "qv": make_adapter(tiny_model_dir, root / "qv", seed=5, target_modules=["q_proj", "v_proj"]),
    }


@pytest.fixture(scope="module")
def base_state(tiny_model_dir):
    return {k: v.clone() for k, v in load(tiny_model_dir).state_dict().items()}


def delta64(state: dict, config: dict, module: str) -> torch.Tensor:
    """s * B @ A of one module, in float64."""
    a = state[f"{module}.lora_A.weight"].double()
    b = state[f"{module}.lora_B.weight"].double()
    return avg.scaling_of(config) * (b @ a)


def test_averaged_adapter_equals_the_mean_of_the_two_merged_models(tiny_model_dir, adapters, base_state, ids, tmp_path):
    out = avg.main([str(adapters["a"]), str(adapters["b"]), "--out", str(tmp_path / "avg")])
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 4 + 8
    assert config["lora_alpha"] / config["r"] == pytest.approx(max(0.5 * 2, 0.5 * 0.5))  # s' = max c_i = 1
    merged = {}
    for name, adapter in (("a", adapters["a"]), ("b", adapters["b"]), ("avg", out)):
        folder = merge_step.main(["--base", str(tiny_model_dir), "--adapter", str(adapter),
                                  "--out", str(tmp_path / f"merged-{name}"), "--dtype", "float32"])
        merged[name] = {k: v.clone() for k, v in load(folder).state_dict().items()}
    mean = {k: (merged["a"][k] + merged["b"][k]) / 2 for k in merged["a"]}
    # the fine-tunes really moved the weights (else the comparison proves nothing)
    assert max_diff(merged["a"], base_state) > 1e-2 and max_diff(merged["b"], base_state) > 1e-2
    assert max_diff(merged["a"], merged["b"]) > 1e-2
    assert max_diff(merged["avg"], mean) < 1e-6
    # ... and the factor-wise average (mean A, mean B) is a different update: it would fail this test
    model = load(tiny_model_dir)
    model.load_state_dict(mean)
    expected = logits_of(model, ids)
    got = logits_of(load(tmp_path / "merged-avg"), ids)
    assert float(expected.abs().max()) > 0.1
    assert float((got - expected).abs().max()) < 1e-5
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["step"] == "average_adapters" and manifest["params"]["weights"] == [0.5, 0.5]
    # an adapter input is its two files (PEFT's README.md here, a checkpoint's optimizer state there, are not)
    assert (adapters["a"] / "README.md").is_file()
    assert sorted(manifest["inputs"]["adapter_1"]["sha256"]) == ["adapter_config.json", "adapter_model.safetensors"]
    assert manifest["inputs"]["adapter_1"]["sha256"]["adapter_model.safetensors"] == sha256_file(
        adapters["a"] / "adapter_model.safetensors")
    assert not (tmp_path / "avg.partial").exists()


def test_factor_wise_average_is_not_the_delta_average(adapters):
    (ca, sa), (cb, sb) = avg.read_adapter(adapters["step150"]), avg.read_adapter(adapters["step192"])
    module = "base_model.model.model.layers.0.mlp.down_proj"
    true = (delta64(sa, ca, module) + delta64(sb, cb, module)) / 2
    naive = {k: (sa[k].double() + sb[k].double()) / 2 for k in sa}
    wrong = delta64(naive, ca, module)
    assert float((wrong - true).abs().max()) > 0.3 * float(true.abs().max())


def test_equal_adapters_keep_their_b_factors_bit_for_bit(adapters):
    """Steps 150 and 192: same r and alpha, equal weights -> s' = 1/2 * s, B_i copied unchanged."""
    (c1, s1), (c2, s2) = avg.read_adapter(adapters["step150"]), avg.read_adapter(adapters["step192"])
    config, state = avg.average_state_dicts([c1, c2], [s1, s2])
    assert config["r"] == 8 and config["lora_alpha"] / config["r"] == 0.5 * (2 / 4)
    modules, _ = avg.lora_modules(state, "average")
    assert len(modules) == 2 * 7  # 2 layers x (q, k, v, o, gate, up, down)
    for module in modules:
        a, b = state[f"{module}.lora_A.weight"], state[f"{module}.lora_B.weight"]
        assert torch.equal(a, torch.cat([s1[f"{module}.lora_A.weight"], s2[f"{module}.lora_A.weight"]]))
        assert torch.equal(b, torch.cat([s1[f"{module}.lora_B.weight"], s2[f"{module}.lora_B.weight"]], dim=1))
        want = (delta64(s1, c1, module) + delta64(s2, c2, module)) / 2
        assert float((delta64(state, config, module) - want).abs().max()) < 1e-15


def test_weighted_average_delta_is_exact(adapters):
    (c1, s1), (c2, s2) = avg.read_adapter(adapters["a"]), avg.read_adapter(adapters["b"])
    config, state = avg.average_state_dicts([c1, c2], [s1, s2], weights=[3, 1])
    for module in avg.lora_modules(state, "average")[0]:
        want = 0.75 * delta64(s1, c1, module) + 0.25 * delta64(s2, c2, module)
        got = delta64(state, config, module)
        # one float32 rounding of c_i / s' * B: relative 2**-24 of each term
        assert float((got - want).abs().max()) <= 1e-7 * float(want.abs().max())


def test_mismatched_target_modules_are_a_clear_error(adapters, tmp_path):
    with pytest.raises(ValueError, match=r"do not target the same modules: only in .*mlp\.down_proj"):
        avg.main([str(adapters["a"]), str(adapters["qv"]), "--out", str(tmp_path / "x")])
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()


def test_lora_variants_and_bad_weights_are_refused(adapters):
    (c1, s1), (c2, s2) = avg.read_adapter(adapters["step150"]), avg.read_adapter(adapters["step192"])
    with pytest.raises(ValueError, match="use_dora"):
        avg.average_state_dicts([{**c1, "use_dora": True}, c2], [s1, s2])
    with pytest.raises(ValueError, match="rank_pattern"):
        avg.average_state_dicts([c1, {**c2, "rank_pattern": {"q_proj": 8}}], [s1, s2])
    with pytest.raises(ValueError, match="positive"):
        avg.average_state_dicts([c1, c2], [s1, s2], weights=[1, -1])
    with pytest.raises(ValueError, match="at least two"):
        avg.average_state_dicts([c1], [s1])


def test_wise_ft_alpha_0_gives_the_base_models_logits(tiny_model_dir, adapters, base_state, ids, tmp_path):
    out = wise_ft.main(["--adapter", str(adapters["a"]), "--out", str(tmp_path / "w0"), "--alpha", "0"])
    base = logits_of(load(tiny_model_dir), ids)
    assert torch.equal(logits_of(load(tiny_model_dir, out), ids), base)  # scaling 0: exactly the base
    assert max_diff(merged_state(tiny_model_dir, out), base_state) == 0.0
    assert float((logits_of(load(tiny_model_dir, adapters["a"]), ids) - base).abs().max()) > 0.05


def test_wise_ft_alpha_1_gives_the_merged_fine_tunes_logits(tiny_model_dir, adapters, ids, tmp_path):
    out = wise_ft.main(["--adapter", str(adapters["a"]), "--out", str(tmp_path / "w1"), "--alpha", "1"])
    fine_tune = merged_state(tiny_model_dir, adapters["a"])
    assert max_diff(merged_state(tiny_model_dir, out), fine_tune) == 0.0
    merged_model = load(tiny_model_dir)
    merged_model.load_state_dict(fine_tune)
    got = logits_of(load(tiny_model_dir, out), ids)  # the adapter applied on the fly
    assert float((got - logits_of(merged_model, ids)).abs().max()) < 1e-5


def test_wise_ft_alpha_half_gives_the_midpoint_of_the_weights(tiny_model_dir, adapters, base_state, tmp_path):
    out = wise_ft.main(["--adapter", str(adapters["b"]), "--out", str(tmp_path / "w05"), "--alpha", "0.5"])
    fine_tune = merged_state(tiny_model_dir, adapters["b"])
    midpoint = {k: (base_state[k] + fine_tune[k]) / 2 for k in base_state}
    assert max_diff(fine_tune, base_state) > 1e-2
    assert max_diff(merged_state(tiny_model_dir, out), midpoint) < 1e-6


@pytest.mark.parametrize("alpha", [0.75, 0.56])
def test_wise_ft_equals_peft_rescale_adapter_scale(tiny_model_dir, adapters, ids, tmp_path, alpha):
    from peft.helpers import rescale_adapter_scale

    out = wise_ft.wise_ft(adapters["a"], tmp_path / "w", alpha)
    reference_model = load(tiny_model_dir, adapters["a"])
    with rescale_adapter_scale(reference_model, alpha):
        reference = logits_of(reference_model, ids)
    got = logits_of(load(tiny_model_dir, out), ids)
    assert float((got - reference).abs().max()) <= 1e-6
    layer = load(tiny_model_dir, out).base_model.model.model.layers[0].mlp.down_proj
    assert layer.scaling["default"] == pytest.approx(alpha * 8 / 4, rel=1e-15)
    # the weights are copied byte for byte; only lora_alpha changed
    assert (out / "adapter_model.safetensors").read_bytes() == (adapters["a"] / "adapter_model.safetensors").read_bytes()


def test_track_option_reads_the_alpha_from_the_tracks_table(adapters, tmp_path):
    from utilities.tracks import TRACKS

    for track, round_, expected in ((3, 2, 0.25), (1, 2, 0.75), (1, 1, 0.56), (2, 1, 1.0)):
        assert wise_ft.track_alpha(track, round_) == expected
    out = wise_ft.main(["--adapter", str(adapters["a"]), "--out", str(tmp_path / "t3"), "--track", "3"])
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["lora_alpha"] == TRACKS[3].wise_ft_alpha * 8 == 2.0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["params"] == {"alpha": 0.25, "lora_alpha": [8, 2.0], "track": 3, "round": 2}


def test_alpha_outside_0_1_is_allowed_with_a_warning(adapters, tmp_path):
    with pytest.warns(UserWarning, match=r"outside \[0, 1\]"):
        out = wise_ft.wise_ft(adapters["a"], tmp_path / "w15", 1.5)
    assert json.loads((out / "adapter_config.json").read_text())["lora_alpha"] == 12.0
    with pytest.raises(ValueError, match="finite"):
        wise_ft.wise_ft(adapters["a"], tmp_path / "nan", math.nan)


def test_existing_output_is_not_overwritten_without_the_flag(adapters, tmp_path):
    wise_ft.wise_ft(adapters["a"], tmp_path / "w", 0.5)
    with pytest.raises(FileExistsError, match="--overwrite"):
        wise_ft.wise_ft(adapters["a"], tmp_path / "w", 0.25)
    wise_ft.wise_ft(adapters["a"], tmp_path / "w", 0.25, overwrite=True)
    assert json.loads((tmp_path / "w" / "adapter_config.json").read_text())["lora_alpha"] == 2.0
