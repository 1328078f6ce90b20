"""AWQ int4 quantization of the merged, MLP-padded model, calibrated on the 96 dev questions.

The submitted checkpoint is AutoAWQ's GEMM format: 4-bit weights, groups of 128 input channels,
a zero point per group (``models/qwen2-72b-awq-padded/config.json``). Calibration texts are the dev
questions exactly as the model sees them: each prompt routed (``utilities.routing.route_task``)
and rendered with the model's own chat template and system prompt (``utilities.prompting.render``)
followed by the true answer written as the model should write it ("2", "1, 4, 3, 2, 5",
"3, 8, 9", "cadbury", the reference text) and its end-of-turn token. Nothing is downloaded: AutoAWQ's
default calibration set (pile-val, fetched from the Hub) is never used.

    shopbench quantize MODEL_DIR --out DIR [--calibration data/development.json]
        [--group-size 128] [--bits 4] [--max-seq-len N] [--samples N] [--tensor-parallel-size 4] [--overwrite]
        [--progress]

It needs AutoAWQ (``make awq``; ``make test`` builds it too): without it the command is one line
naming that target. Off a terminal AutoAWQ's own bars (``AWQ: 40%|``) are switched off; ``--progress``
draws them anyway.

The model folder must hold safetensors weights whose linear layers split into whole groups: every
input width a multiple of the group size, and the input width of each row-parallel layer
(o_proj, down_proj) a multiple of tensor-parallel size x group size, so that every GPU's shard is
whole groups (Qwen2-72B's MLP 29568 -> 29696 = 4 x 7424 = 4 x 58 x 128: ``training/pad_mlp.py``).
The output is a Hugging Face folder (config with ``quantization_config``, safetensors, tokenizer
files, the input's generation config) and ``manifest.json``, written through
``utilities.artifacts.step_output`` (into ``OUT.partial``, renamed when complete: a failure leaves no
``OUT``, and an existing one needs ``--overwrite``). On GPUs AutoAWQ moves one decoder layer at a time to a GPU (the fp16 model stays in CPU
RAM: ~145 GB for 72B); on a CPU it runs the same code, which takes seconds for the tiny test model
(its 128-wide o_proj cannot give 4 GPUs whole groups: pass --tensor-parallel-size 1). AutoAWQ 0.2.9 corrupts
weights when it searches scales on a CPU; :func:`_cpu_safe_quantizer` fixes that (GPUs unaffected).

:func:`load_dequantized` reads an AWQ folder back into a plain float model (W = (q - z) * s with
AutoAWQ's own unpacking), to compare outputs on a CPU without AWQ kernels.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from models.settings import EngineSettings
from training.cli import PROGS, quiet_library_bars
from utilities.artifacts import refuse_existing, step_output, write_manifest
from utilities.errors import SetupError, require, run_command
from utilities.grader import AWQ_GROUP_SIZE, DEV_FILE
from utilities.progress import add_flag, apply_flag, enabled

log = logging.getLogger("shopbench.training.quantize_awq")

BITS = 4  # AutoAWQ's GEMM kernel packs only 4-bit weights (8 per int32)
QUANT_CONFIG = {"zero_point": True, "q_group_size": AWQ_GROUP_SIZE, "w_bit": BITS, "version": "GEMM"}
TENSOR_PARALLEL_SIZE = EngineSettings.tensor_parallel_size  # 4 x T4: the shards must be whole groups
CLIP_OUT_MULTIPLE = 64  # AutoAWQ's clipping search walks output channels in batches of 64 (or 256)
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json",
    "added_tokens.json", "chat_template.jinja", "chat_template.json", "tokenizer.model",
)
ROW_PARALLEL = ("o_proj", "down_proj")  # vLLM splits these layers' inputs across the GPUs
PROG = PROGS["training.quantize_awq"]
AWQ_PURPOSE = f"the AWQ step ({PROG}, training.quantize_awq)"
PAD_HINT = (
    f"Pad the MLP first with training/pad_mlp.py (`{PROGS['training.pad_mlp']} MODEL_DIR --out OUT_DIR "
    "--tp N --group-size 128`: zero rows in gate/up, zero columns in down, interleaved, to a multiple of "
    "tensor-parallel size x group size; the model's outputs do not change)"
)


class QuantizeError(SetupError, ValueError):
    """A model folder or option that cannot be quantized as asked; the message says why and what to do
    (a SetupError: the command prints it as one line, exit status 2)."""


# ---- calibration texts ---------------------------------------------------------------------------

def answer_text(value: Any, task_type: str) -> str:
    """The official answer ``value`` (a dev row's ``output_field``) written as the model should write it:
    its task's ``answer_of`` (multiple-choice 2 -> "2"; ranking relevance [1, 0.01, 0.1, 1, 0] ->
    "1, 4, 3, 2, 5"; retrieval [3, 8, 9] -> "3, 8, 9"; NER ["cadbury"] -> "cadbury"; generation: the text).
    """
    from utilities.tasks import get_task

    try:
        task = get_task(task_type)
    except KeyError as err:
        raise QuantizeError(str(err).strip('"')) from None
    return task.answer_of(value)


def load_rows(path: str | os.PathLike, samples: int | None = None) -> list[dict]:
    """Dev rows (JSON Lines with input_field, output_field, is_multiple_choice), the first ``samples``."""
    path = Path(path)
    if not path.is_file():
        raise QuantizeError(f"calibration file {path} does not exist (the dev questions: {DEV_FILE})")
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            missing = {"input_field", "output_field", "is_multiple_choice"} - set(row)
            if missing:
                raise QuantizeError(f"{path}:{number}: a calibration row needs {sorted(missing)}")
            rows.append(row)
    if samples is not None:
        if samples < 1:
            raise QuantizeError(f"--samples {samples}: at least one calibration question is needed")
        rows = rows[:samples]
    if not rows:
        raise QuantizeError(f"{path} holds no calibration questions")
    return rows


def calibration_texts(tokenizer, rows: Sequence[dict]) -> list[str]:
    """One chat text per row: the inference prompt (routed, chat template) + the true answer + end of turn."""
    from utilities.prompting import render
    from utilities.routing import route
    from utilities.tasks import get_task

    texts = []
    for row in rows:
        prompt = row["input_field"]
        r = route(prompt, bool(row["is_multiple_choice"]))  # the system prompt inference gives it
        answer_type = row.get("task_type", r.task_type)  # the official answer's type
        answer = answer_text(row["output_field"], answer_type)
        why = get_task(answer_type).problem(answer, r.info)
        if why:
            raise QuantizeError(f"calibration answer {answer!r} (from {row['output_field']!r}): {why}")
        texts.append(render(tokenizer, prompt, r.task_type, answer=answer))
    return texts


def token_lengths(tokenizer, texts: Iterable[str]) -> list[int]:
    """Token counts as AutoAWQ makes them (``tokenizer.encode(text.strip())``)."""
    return [len(tokenizer.encode(text.strip())) for text in texts]


def block_length(lengths: Sequence[int]) -> int:
    """AutoAWQ drops every text longer than the block, concatenates the rest and cuts the stream into
    blocks, dropping the tail. The block: at least the longest text, at most twice that, and the one
    that leaves the fewest tokens out (the shortest among equals)."""
    longest, total = max(lengths), sum(lengths)
    if total < longest * 2:
        return total  # a single block holds everything
    return min(range(longest, 2 * longest + 1), key=lambda n: (total % n, n))


# ---- checks --------------------------------------------------------------------------------------

def _weight_files(model_dir: Path) -> list[Path]:
    index = model_dir / "model.safetensors.index.json"
    files = sorted(model_dir.glob("*.safetensors"))
    if index.is_file():
        named = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        absent = [n for n in named if not (model_dir / n).is_file()]
        if absent:
            raise QuantizeError(f"{model_dir}: the index names {absent[:3]} but they are not there")
    if not files:
        other = sorted(p.name for p in model_dir.glob("*.bin"))
        raise QuantizeError(
            f"{model_dir} holds no weights (*.safetensors)"
            + (f"; {other[:3]} are PyTorch pickles: save the merged model with safetensors" if other else "")
            + ". Quantize the merged, MLP-padded model folder (training/merge.py, training/pad_mlp.py)."
        )
    for path in files:
        if path.stat().st_size < 1024 and path.read_bytes().startswith(b"version https://git-lfs"):
            raise QuantizeError(f"{path} is a git-lfs pointer, not weights: run `git lfs pull`")
    return files


def linear_shapes(model_dir: Path) -> dict[str, tuple[int, int]]:
    """(out_features, in_features) of every decoder-layer linear, read from the safetensors headers."""
    from safetensors import safe_open

    shapes = {}
    for path in _weight_files(model_dir):
        with safe_open(str(path), framework="pt") as f:
            for name in f.keys():
                if ".layers." in name and name.endswith("_proj.weight"):
                    shape = f.get_slice(name).get_shape()
                    if len(shape) == 2:
                        shapes[name[: -len(".weight")]] = (int(shape[0]), int(shape[1]))
    return shapes


def shape_problems(shapes: dict[str, tuple[int, int]], group_size: int = AWQ_GROUP_SIZE, bits: int = BITS,
                   tensor_parallel_size: int = TENSOR_PARALLEL_SIZE) -> list[str]:
    """Why linears of these (out_features, in_features) cannot be AWQ-quantized and served on
    ``tensor_parallel_size`` GPUs (empty if they can). vLLM gives each GPU a slice of the outputs of a
    column-parallel layer (q/k/v/gate/up) and of the inputs of a row-parallel one (o_proj, down_proj);
    every slice must be whole groups of inputs and whole int32s of 32 / ``bits`` outputs."""
    pack = 32 // bits
    problems = []
    for name, (out_features, in_features) in sorted(shapes.items()):
        short = name.rsplit(".", 1)[-1]
        shards_in, shards_out = (tensor_parallel_size, 1) if short in ROW_PARALLEL else (1, tensor_parallel_size)
        if in_features % (shards_in * group_size):
            per = f" / {shards_in} GPUs = {in_features / shards_in:g} per GPU" if shards_in > 1 else ""
            problems.append(f"{name}: {in_features} input features{per}, not a multiple of group size {group_size}")
        if out_features % (shards_out * pack):
            problems.append(f"{name}: {out_features} output features cannot be packed {pack} per int32 on {shards_out} GPU(s)")
        if not short.startswith(("q_", "k_")) and out_features % CLIP_OUT_MULTIPLE:
            problems.append(f"{name}: {out_features} output features, not a multiple of {CLIP_OUT_MULTIPLE} (AutoAWQ's clipping search)")
    return problems


def check_quantizable(model_dir: str | os.PathLike, group_size: int = AWQ_GROUP_SIZE, bits: int = BITS,
                      tensor_parallel_size: int = TENSOR_PARALLEL_SIZE) -> dict:
    """The folder's config, or a :class:`QuantizeError` that says what is wrong and what to do."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise QuantizeError(f"{model_dir} is not a folder (a local Hugging Face model folder is needed; nothing is downloaded)")
    if not (model_dir / "config.json").is_file():
        raise QuantizeError(f"{model_dir} has no config.json: not a Hugging Face model folder")
    config = json.loads((model_dir / "config.json").read_text())
    if config.get("quantization_config"):
        raise QuantizeError(
            f"{model_dir} is already quantized ({config['quantization_config'].get('quant_method')}); "
            "quantize the merged fp16 model"
        )
    if bits != BITS:
        raise QuantizeError(f"--bits {bits}: AutoAWQ's GEMM format packs only {BITS}-bit weights")
    if group_size < 1 or group_size % (32 // bits):
        raise QuantizeError(f"--group-size {group_size}: must be a positive multiple of {32 // bits}")
    if tensor_parallel_size < 1:
        raise QuantizeError(f"--tensor-parallel-size {tensor_parallel_size}: must be at least 1")
    AWQ_CAUSAL_LM_MODEL_MAP = _awq_module("awq.models.auto").AWQ_CAUSAL_LM_MODEL_MAP

    if config.get("model_type") not in AWQ_CAUSAL_LM_MODEL_MAP:
        raise QuantizeError(f"{model_dir}: AutoAWQ cannot quantize model_type {config.get('model_type')!r}")
    shapes = linear_shapes(model_dir)
    if not shapes:
        raise QuantizeError(f"{model_dir}: the weights hold no decoder-layer linear layers (*_proj.weight)")
    problems = shape_problems(shapes, group_size, bits, tensor_parallel_size)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        mlp = any(".mlp." in p or p.startswith("mlp.") for p in problems)
        advice = f"{PAD_HINT}." if mlp else (
            "Padding the MLP cannot fix the attention layers: this model cannot be split across "
            f"{tensor_parallel_size} GPUs with AWQ groups of {group_size}."
        )
        raise QuantizeError(
            f"{model_dir} cannot be AWQ-quantized with group size {group_size} for tensor parallel "
            f"{tensor_parallel_size}: " + "; ".join(problems[:3]) + more + f". {advice} A model that will "
            "run on fewer GPUs can pass a smaller --tensor-parallel-size (the tiny test models: 1)."
        )
    return config


def check_quantized_config(out_dir: str | os.PathLike, group_size: int = AWQ_GROUP_SIZE, bits: int = BITS) -> dict:
    """The saved config's quantization_config, checked: awq, gemm, ``bits``, ``group_size``, zero point."""
    config = json.loads((Path(out_dir) / "config.json").read_text())
    q = config.get("quantization_config") or {}
    want = {"quant_method": "awq", "version": "gemm", "bits": bits, "group_size": group_size, "zero_point": True}
    got = {k: q.get(k) for k in want}
    if got != want:
        raise QuantizeError(f"{out_dir}/config.json: quantization_config is {got}, expected {want}")
    return q


# ---- quantization --------------------------------------------------------------------------------

def _awq_module(name: str = "awq"):
    """An AutoAWQ module, or a MissingLayer (a SetupError) naming ``make awq``."""
    # AutoAWQ prints a deprecation notice on import, after turning DeprecationWarnings on for good
    # (warnings.simplefilter in its __init__): recorded here, not shown, and the filters put back
    with warnings.catch_warnings(record=True):
        return require(name, AWQ_PURPOSE)


def _import_awq():
    return _awq_module("awq").AutoAWQForCausalLM


@contextlib.contextmanager
def _awq_bars() -> Iterator[None]:
    """AutoAWQ draws its bars with tqdm imported into its own modules; off a terminal (and without
    --progress) they are switched off for the block, then put back."""
    if enabled():
        yield
        return
    import functools

    modules = [_awq_module(name) for name in ("awq.quantize.quantizer", "awq.models.base")]
    saved = [m.tqdm for m in modules]
    for m, tqdm in zip(modules, saved):
        m.tqdm = functools.partial(tqdm, disable=True)
    try:
        yield
    finally:
        for m, tqdm in zip(modules, saved):
            m.tqdm = tqdm


def _cpu_safe_quantizer():
    """AutoAWQ's quantizer with its scale search fixed for weights in CPU memory.

    ``AwqQuantizer._compute_best_scale`` keeps the weights to restore after each trial scale as
    ``{k: v.cpu() for k, v in module.state_dict().items()}``: a copy when the layer is on a GPU, but
    on a CPU ``.cpu()`` returns the tensor itself, so the first trial's in-place ``weight.mul_(s)``
    also changes the "saved" weights, and every later trial and the final weights start from W * s0.
    The result is a model that no longer computes what the original did (on the tiny model the
    logits moved twice as far as int4 rounding alone explains). Here the saved state is a real copy
    where it lives in CPU memory; on a GPU nothing changes.
    """
    AwqQuantizer = _awq_module("awq.quantize.quantizer").AwqQuantizer

    class CpuSafeAwqQuantizer(AwqQuantizer):
        def _compute_best_scale(self, x, w_mean, x_mean, module2inspect, linears2scale, fp16_output, kwargs={}):  # noqa: B006 - AutoAWQ's signature
            state_dict = module2inspect.state_dict

            def copied(*args, **kw):
                return {k: v.clone() if v.device.type == "cpu" else v for k, v in state_dict(*args, **kw).items()}

            module2inspect.state_dict = copied  # an instance attribute shadows the method for this call
            try:
                return super()._compute_best_scale(x, w_mean, x_mean, module2inspect, linears2scale, fp16_output, kwargs)
            finally:
                del module2inspect.state_dict

    return CpuSafeAwqQuantizer


def quantize(
    model_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    calibration: str | os.PathLike = DEV_FILE,
    group_size: int = AWQ_GROUP_SIZE,
    bits: int = BITS,
    max_seq_len: int | None = None,
    samples: int | None = None,
    tensor_parallel_size: int = TENSOR_PARALLEL_SIZE,
    overwrite: bool = False,
) -> Path:
    """Quantize ``model_dir`` into ``out_dir`` (AWQ GEMM, zero point) calibrated on ``calibration``."""
    started = time.time()
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    config = check_quantizable(model_dir, group_size, bits, tensor_parallel_size)  # AutoAWQ too: before the rest
    import torch
    from transformers import AutoTokenizer

    with step_output(out_dir, overwrite) as partial:  # a failure from here on leaves no out_dir
        rows = load_rows(calibration, samples)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)  # the model's own chat template
        texts = calibration_texts(tokenizer, rows)
        lengths = token_lengths(tokenizer, texts)
        block = max_seq_len or block_length(lengths)
        too_long = sum(n > block for n in lengths)
        if too_long:
            raise QuantizeError(
                f"--max-seq-len {block}: {too_long} calibration texts are longer (up to {max(lengths)} "
                "tokens) and AutoAWQ would silently drop them; raise it or leave it out (automatic)"
            )
        context = config.get("max_position_embeddings")
        if context and block > context:
            raise QuantizeError(f"calibration blocks of {block} tokens exceed the model's context of {context}")
        total = sum(lengths)
        blocks, left_out = divmod(total, block)
        if blocks == 0:
            raise QuantizeError(f"--max-seq-len {block} exceeds the {total} calibration tokens: no block is filled")
        log.info("calibration: %d texts, %d tokens in %d blocks of %d (%d tokens left out)",
                 len(texts), total, blocks, block, left_out)

        AutoAWQForCausalLM = _import_awq()
        with quiet_library_bars(), _awq_bars():
            awq_model = _quantized(AutoAWQForCausalLM, model_dir, tokenizer, texts, block, group_size, bits)
            awq_model.save_quantized(str(partial))
        quant_config = {**QUANT_CONFIG, "q_group_size": group_size, "w_bit": bits}
        for name in TOKENIZER_FILES:
            if (model_dir / name).is_file():
                shutil.copyfile(model_dir / name, partial / name)
        if (model_dir / "generation_config.json").is_file():  # AutoAWQ saves one with do_sample=True
            shutil.copyfile(model_dir / "generation_config.json", partial / "generation_config.json")
        else:
            (partial / "generation_config.json").unlink(missing_ok=True)
        check_quantized_config(partial, group_size, bits)
        manifest = write_manifest(
            partial, "quantize_awq", {"model": model_dir, "calibration": calibration},
            {
                "quant_config": quant_config,
                "samples": len(texts), "max_seq_len": block, "tensor_parallel_size": tensor_parallel_size,
                "calibration_tokens": total, "calibration_blocks": blocks, "tokens_left_out": left_out,
                "autoawq": _version("autoawq"), "torch": torch.__version__, "transformers": _version("transformers"),
            },
            started, out_dir,
        )
    log.info("wrote %s in %.1f s", out_dir, manifest["seconds"])
    return out_dir


def _quantized(AutoAWQForCausalLM, model_dir: Path, tokenizer, texts: list[str], block: int, group_size: int,
               bits: int):
    """The model of ``model_dir`` loaded by AutoAWQ and quantized, calibrated on ``texts``."""
    import torch

    awq_model = AutoAWQForCausalLM.from_pretrained(
        str(model_dir),
        torch_dtype=torch.float16,  # AWQ's scales and kernels are fp16 (T4 has no bfloat16)
        trust_remote_code=False,
        safetensors=True,
        device_map=None,  # in CPU RAM; the quantizer moves one layer at a time to a GPU where there is one
        low_cpu_mem_usage=True,
        use_cache=False,
    )
    awq_model.quantize(
        tokenizer,
        quant_config={**QUANT_CONFIG, "q_group_size": group_size, "w_bit": bits},
        calib_data=texts,  # never the default "pileval", which downloads
        max_calib_samples=len(texts),
        max_calib_seq_len=block,
        quantizer_cls=_cpu_safe_quantizer(),
    )
    return awq_model


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


# ---- reading an AWQ folder back as a float model -------------------------------------------------

def dequantize_gemm_linear(qweight, qzeros, scales, group_size: int, bits: int = BITS):
    """The (out_features, in_features) float32 weight of one AutoAWQ GEMM linear: W = (q - z) * s.

    ``qweight`` is (in, out / 8) int32 and ``qzeros`` (in / group, out / 8) int32, each int32 holding
    8 nibbles in AutoAWQ's order [0, 2, 4, 6, 1, 3, 5, 7]; ``scales`` is (in / group, out). Unpacked
    with AutoAWQ's own ``awq.utils.packing_utils``.
    """
    import torch

    dequantize_gemm = _awq_module("awq.utils.packing_utils").dequantize_gemm
    if qweight.dtype != torch.int32 or qzeros.dtype != torch.int32:
        raise QuantizeError("qweight and qzeros must be int32 (AutoAWQ GEMM packing)")
    # (q - z) is exact in int8; multiplying by float32 scales keeps the product exact to float32
    return dequantize_gemm(qweight, qzeros, scales.float(), bits, group_size).t().contiguous()


def dequantized_state_dict(folder: str | os.PathLike) -> dict:
    """Every tensor of an AWQ GEMM folder, each quantized linear's (qweight, qzeros, scales) as a float32 weight."""
    from safetensors.torch import load_file

    folder = Path(folder)
    q = check_quantized_config(folder, **_bits_and_group(folder))
    tensors = {}
    for path in _weight_files(folder):
        tensors.update(load_file(str(path)))
    out = {}
    for name, tensor in tensors.items():
        if name.endswith(".qweight"):
            prefix = name[: -len(".qweight")]
            out[prefix + ".weight"] = dequantize_gemm_linear(
                tensor, tensors[prefix + ".qzeros"], tensors[prefix + ".scales"], q["group_size"], q["bits"]
            )
        elif not name.endswith((".qzeros", ".scales")):
            out[name] = tensor.float() if tensor.is_floating_point() else tensor
    return out


def _bits_and_group(folder: Path) -> dict:
    q = json.loads((folder / "config.json").read_text()).get("quantization_config") or {}
    return {"group_size": q.get("group_size", AWQ_GROUP_SIZE), "bits": q.get("bits", BITS)}


def load_dequantized(folder: str | os.PathLike, dtype=None):
    """An AWQ GEMM folder as a plain ``AutoModelForCausalLM`` with float weights (float32 by default)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    folder = Path(folder)
    state = dequantized_state_dict(folder)
    config = AutoConfig.from_pretrained(folder)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    dtype = dtype or torch.float32
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise QuantizeError(f"{folder}: weights do not fit the config (missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.tie_weights()
    return model.to(dtype).eval()


# ---- command line ---------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, help="the merged, MLP-padded Hugging Face model folder")
    parser.add_argument("--out", type=Path, required=True, help="the AWQ model folder to write")
    parser.add_argument("--calibration", type=Path, default=DEV_FILE, help="dev questions, JSON Lines (default: %(default)s)")
    parser.add_argument("--group-size", type=int, default=AWQ_GROUP_SIZE)
    parser.add_argument("--bits", type=int, default=BITS)
    parser.add_argument("--max-seq-len", type=int, default=None,
                        help="calibration block length in tokens (default: chosen from the texts, at least the longest)")
    parser.add_argument("--samples", type=int, default=None, help="use the first N questions (default: all)")
    parser.add_argument("--tensor-parallel-size", "--tp", type=int, default=TENSOR_PARALLEL_SIZE,
                        help="GPUs the model will be split across; each shard must be whole groups (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    add_flag(parser)
    args = parser.parse_args(argv)
    apply_flag(args)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    refuse_existing(args.out, args.overwrite)
    # a QuantizeError, an --out that exists or a missing AutoAWQ: SetupErrors, one line from run_command
    return quantize(args.model_dir, args.out, args.calibration, args.group_size, args.bits,
                    args.max_seq_len, args.samples, args.tensor_parallel_size, args.overwrite)


if __name__ == "__main__":
    run_command(main, prog=PROG)
