"""Pad the MLP intermediate size for tensor parallelism x AWQ groups, with interleaved zero units.

    shopbench pad MODEL_DIR --out OUT_DIR [--tp 4] [--group-size 128] [--progress]
    shopbench pad MODEL_DIR --report [--tp 4] [--group-size 128]   # count zero units per shard / group

(the core environment, ``make eval``, runs it; its bar is drawn on a terminal, or with --progress)

Why: vLLM splits an MLP over ``tp`` GPUs along the intermediate dimension (gate_proj and up_proj
by output rows, down_proj by input columns), and AWQ quantizes down_proj's input columns in groups
of ``group`` (128) consecutive units, so each GPU's slice must be a whole number of groups: the
intermediate size must divide by ``tp x group``. Qwen2-72B's 29568 does not divide by
4 x 128 = 512 (29568 / 512 = 57.75); the smallest multiple above it is 58 x 512 = 29696, i.e.
29696 / 4 = 7424 = 58 x 128 per GPU (docs/reference.md section 5; the submitted config.json says 29696).

What: 29696 - 29568 = 128 new "zero units", each a zero row in gate_proj and up_proj and a zero
column in down_proj. A zero unit contributes ``down[:, u] * (act(gate[u] x) * up[u] x) = 0`` to the
MLP output (the zero down column alone suffices; zero gate/up rows make its activation 0 too), so
the padded model computes the same function: its logits equal the original's up to the summation
order of float matmuls (tests/test_merge_pad.py).

Where: interleaved, not appended. Appended, the 128 zero units would form down_proj's last input
group entirely of zeros (an all-zero AWQ group: zero range, degenerate scales, NaN in the
group-normalized weight statistics), and the last GPU's slice would carry all the padding. Spread
evenly instead: with ``P = padded - size`` zero units, zero unit j (0..P-1) goes to padded position
``floor((j + 1) * padded / P) - 1``, the last slot of the j-th of P equal segments. For Qwen2-72B,
``padded / P = 29696 / 128 = 232`` exactly: one zero unit after every 231 real ones (positions 231,
463, ..., 29695). Consecutive zero units are then 232 apart, more than a 128-wide group, so every
group holds at most one zero unit (>= 127 real units: 128 of the 232 groups have one zero, 104
have none), and each GPU's 7424 = 32 x 232 units hold exactly 32 zero units and 7392 real ones.
In general the spacing is floor or ceil of ``padded / P``, which is >= 2 whenever size >= padded / 2
(true for any size >= tp x group, since padding adds less than tp x group), so no two zero units
touch and no group or shard is all zeros; the tiny test model, 352 -> 512, has spacing 3.2 (40 zero
units in each 128-unit shard/group, 88 real). ``zero_unit_counts`` reports the counts per shard and
per group (from a plan or, with ``zero_units_in_folder``, from the written weights) and ``plan``
refuses a placement that would leave a group all zeros.

gate_proj and up_proj are quantized along their input, the hidden dimension, so each padded row is
all-zero groups wherever it sits; AutoAWQ 0.2.9 tolerates those (it clamps a group's range to
>= 1e-5 and adds 1e-6 to the group maximum it divides by). The placement decides down_proj's groups
and each GPU's share.

Works on any Qwen2 / Llama-style folder of safetensors (``layers.N.mlp.{gate,up,down}_proj``),
shard by shard (one shard in memory at a time), tensors other than the MLP's copied unchanged;
config.json's ``intermediate_size`` is updated and the safetensors index's total size recomputed.
A size that already divides is left alone (the output folder then links the input's files).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from training.cli import PROGS, need_folder
from utilities.artifacts import refuse_existing, step_output, write_manifest
from utilities.errors import run_command
from utilities.grader import AWQ_GROUP_SIZE, GPUS
from utilities.progress import add_flag, apply_flag, bar as progress_bar

PROG = PROGS["training.pad_mlp"]

TP = GPUS  # tensor-parallel shards: one per T4 of the grader's machine
INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"
MLP_KEY = re.compile(r"^(?P<mlp>(?:.*\.)?layers\.(?P<layer>\d+)\.mlp)\.(?P<proj>gate_proj|up_proj|down_proj)\.(?P<param>weight|bias)$")


# ------------------------------------------------------------------------------------------
# Arithmetic (pure)
# ------------------------------------------------------------------------------------------

def padded_size(size: int, tp: int = TP, group: int = AWQ_GROUP_SIZE) -> int:
    """The smallest multiple of ``tp x group`` that is >= ``size`` (29568 -> 29696 for 4 x 128)."""
    if size <= 0 or tp <= 0 or group <= 0:
        raise ValueError(f"size, tp and group must be positive, got {size}, {tp}, {group}")
    unit = tp * group
    return -(-size // unit) * unit


def pad_positions(size: int, padded: int) -> list[int]:
    """Padded positions of the ``padded - size`` zero units, spread evenly: zero unit j sits at
    ``floor((j + 1) * padded / P) - 1`` (the last slot of the j-th of P equal segments)."""
    p = padded - size
    if p < 0:
        raise ValueError(f"cannot pad {size} down to {padded}")
    return [(j + 1) * padded // p - 1 for j in range(p)]


@dataclass(frozen=True)
class PadPlan:
    size: int  # intermediate size before
    padded: int  # after
    tp: int
    group: int
    zero_positions: tuple[int, ...]  # padded positions of the zero units, increasing

    @property
    def is_zero(self) -> list[bool]:
        mask = [False] * self.padded
        for p in self.zero_positions:
            mask[p] = True
        return mask

    @property
    def real_positions(self) -> list[int]:
        """Padded position of original unit u, for u = 0..size-1 (the real units keep their order)."""
        zeros = set(self.zero_positions)
        return [p for p in range(self.padded) if p not in zeros]

    def describe(self) -> str:
        if self.padded == self.size:
            return f"intermediate size {self.size} already divides by tp {self.tp} x group {self.group} = {self.tp * self.group}"
        counts = zero_unit_counts(self.is_zero, self.tp, self.group)
        spacing = self.padded / len(self.zero_positions)
        return (f"intermediate size {self.size} -> {self.padded} (+{self.padded - self.size} zero units; "
                f"{self.padded} / {self.tp} GPUs = {self.padded // self.tp} = {self.padded // self.tp // self.group} x {self.group}); "
                f"one zero unit every {spacing:g} positions; zero units per shard {counts['per_shard']}; "
                f"per {self.group}-group {min(counts['per_group'])}-{max(counts['per_group'])} "
                f"(>= {self.group - max(counts['per_group'])} real units in every group)")


def plan(size: int, tp: int = TP, group: int = AWQ_GROUP_SIZE) -> PadPlan:
    """Where the zero units go; a ValueError if some shard or group would be all zeros."""
    padded = padded_size(size, tp, group)
    result = PadPlan(size, padded, tp, group, tuple(pad_positions(size, padded)))
    counts = zero_unit_counts(result.is_zero, tp, group)
    if counts["all_zero_groups"] or counts["all_zero_shards"]:
        raise ValueError(f"{size} units cannot fill {padded // group} groups of {group} without an all-zero group "
                         f"(all-zero groups {counts['all_zero_groups']}, shards {counts['all_zero_shards']})")
    return result


def zero_unit_counts(is_zero: Sequence[bool], tp: int = TP, group: int = AWQ_GROUP_SIZE) -> dict:
    """Count zero units per tensor-parallel shard and per AWQ group of a padded intermediate
    dimension (``is_zero[u]``: unit u is padding). Shards are ``len / tp`` consecutive units (vLLM's
    split), groups ``group`` consecutive units (AWQ's grouping of down_proj's input)."""
    n = len(is_zero)
    if n % (tp * group):
        raise ValueError(f"{n} units do not split into {tp} shards of whole {group}-groups")
    flags = [bool(z) for z in is_zero]
    shard = n // tp
    per_shard = [sum(flags[i * shard:(i + 1) * shard]) for i in range(tp)]
    per_group = [sum(flags[i * group:(i + 1) * group]) for i in range(n // group)]
    return {
        "units": n, "zero_units": sum(flags), "shard_size": shard, "group_size": group,
        "per_shard": per_shard,
        "per_group": per_group,
        "all_zero_shards": [i for i, c in enumerate(per_shard) if c == shard],
        "all_zero_groups": [i for i, c in enumerate(per_group) if c == group],
    }


# ------------------------------------------------------------------------------------------
# Tensors and folders
# ------------------------------------------------------------------------------------------

def pad_tensor(tensor, proj: str, param: str, real_index, padded: int):
    """gate/up weight (I, H) and bias (I,): zero rows; down weight (H, I): zero columns."""
    if proj == "down_proj":
        if param == "bias":  # (H,): not along the intermediate dimension
            return tensor
        out = tensor.new_zeros((tensor.shape[0], padded))
        out[:, real_index] = tensor
        return out
    out = tensor.new_zeros((padded,) + tuple(tensor.shape[1:]))
    out[real_index] = tensor
    return out


def weight_files(folder: Path) -> tuple[list[str], dict | None]:
    """(safetensors file names, index json or None)."""
    if (folder / INDEX).is_file():
        index = json.loads((folder / INDEX).read_text())
        return sorted(set(index["weight_map"].values())), index
    if (folder / SINGLE).is_file():
        return [SINGLE], None
    found = ", ".join(sorted(p.name for p in folder.iterdir())) or "nothing"
    raise FileNotFoundError(f"{folder} has no {INDEX} or {SINGLE} (found: {found}); safetensors weights are needed")


def _mlp_keys(folder: Path, files: list[str]) -> dict[str, list[tuple[str, re.Match]]]:
    from safetensors import safe_open

    keys = {}
    for name in files:
        with safe_open(folder / name, framework="pt") as f:
            keys[name] = [(k, m) for k in f.keys() if (m := MLP_KEY.match(k))]
    return keys


def _check_structure(keys: dict, size: int, n_layers: int, folder: Path) -> None:
    found: dict[int, set[str]] = {}
    for matches in keys.values():
        for _, m in matches:
            if m["param"] == "weight":
                found.setdefault(int(m["layer"]), set()).add(m["proj"])
    complete = {layer for layer, projs in found.items() if projs == {"gate_proj", "up_proj", "down_proj"}}
    if len(complete) != n_layers or complete != set(found):
        raise ValueError(f"{folder}: expected layers[0..{n_layers - 1}].mlp.{{gate,up,down}}_proj weights, found them "
                         f"complete in {len(complete)} layers (a fused gate_up_proj or MoE MLP is not supported)")


def pad_folder(src: str | Path, out: str | Path, tp: int = TP, group: int = AWQ_GROUP_SIZE,
               overwrite: bool = False) -> Path:
    """Write ``out``: the model folder ``src`` with its MLP padded for ``tp`` GPUs and AWQ groups of ``group``."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    started = time.time()
    src, out = Path(src), Path(out)
    config = json.loads((src / "config.json").read_text())
    if config.get("quantization_config"):
        raise ValueError(f"{src} is already quantized ({config['quantization_config'].get('quant_method')}); "
                         "pad the fp16 model before quantizing")
    size = int(config["intermediate_size"])
    the_plan = plan(size, tp, group)
    files, index = weight_files(src)
    params = {"tp": tp, "group": group, "intermediate_size": [size, the_plan.padded]}
    print(the_plan.describe())
    if the_plan.padded == size:
        print("nothing to pad: the output folder links the input's files unchanged")
        with step_output(out, overwrite) as tmp:
            for p in sorted(src.iterdir()):
                if p.is_file() and p.name != "manifest.json":
                    _link_or_copy(p, tmp / p.name)
            write_manifest(tmp, "pad_mlp", {"model": src}, {**params, "padded": False}, started, out)
        return out

    keys = _mlp_keys(src, files)
    _check_structure(keys, size, int(config["num_hidden_layers"]), src)
    real_index = torch.tensor(the_plan.real_positions, dtype=torch.long)
    total_bytes = 0
    with step_output(out, overwrite) as tmp:
        bar = progress_bar(total=sum(len(v) for v in keys.values()), desc="pad MLP", unit="tensor")
        for name in files:
            tensors = {}
            with safe_open(src / name, framework="pt") as f:
                metadata = f.metadata() or {"format": "pt"}
                for key in f.keys():
                    tensor = f.get_tensor(key)
                    m = MLP_KEY.match(key)
                    if m:
                        if m["proj"] != "down_proj" or m["param"] == "weight":  # down's bias is (hidden,)
                            along = tensor.shape[1] if m["proj"] == "down_proj" else tensor.shape[0]
                            if along != size:
                                raise ValueError(f"{key} has shape {tuple(tensor.shape)}, not intermediate_size "
                                                 f"{size} along the {'columns' if m['proj'] == 'down_proj' else 'rows'}")
                        tensor = pad_tensor(tensor, m["proj"], m["param"], real_index, the_plan.padded)
                        bar.update(1)
                    tensors[key] = tensor.contiguous()
                    total_bytes += tensor.numel() * tensor.element_size()
            save_file(tensors, tmp / name, metadata=metadata)
            del tensors
        bar.close()
        if index is not None:
            index = dict(index)
            index["metadata"] = {**index.get("metadata", {}), "total_size": total_bytes}
            (tmp / INDEX).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
        for p in sorted(src.iterdir()):  # tokenizer, generation config, license ...
            if p.is_file() and p.name not in {"config.json", INDEX, "manifest.json"} and p.suffix != ".safetensors":
                shutil.copyfile(p, tmp / p.name)
        config["intermediate_size"] = the_plan.padded
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        write_manifest(tmp, "pad_mlp", {"model": src},
                       {**params, "padded": True, "zero_positions_first": list(the_plan.zero_positions[:4])},
                       started, out)
    print(f"padded -> {out} ({time.time() - started:.1f} s)")
    return out


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def zero_units_in_folder(folder: str | Path) -> dict[int, list[bool]]:
    """Per layer, which intermediate units are zero in the written weights: gate row, up row (and
    their biases, if any) and down column all zero. Reads one layer's tensors at a time."""
    import torch
    from safetensors import safe_open

    folder = Path(folder)
    files, _ = weight_files(folder)
    keys = _mlp_keys(folder, files)
    per_layer: dict[int, dict] = {}
    for name, matches in keys.items():
        with safe_open(folder / name, framework="pt") as f:
            for key, m in matches:
                if m["proj"] == "down_proj" and m["param"] == "bias":
                    continue
                t = f.get_tensor(key)
                nonzero = (t != 0).any(dim=0) if m["proj"] == "down_proj" else (t != 0).reshape(t.shape[0], -1).any(dim=1)
                layer = per_layer.setdefault(int(m["layer"]), {})
                layer[key] = nonzero
    result = {}
    for layer, parts in sorted(per_layer.items()):
        nonzero = torch.stack(list(parts.values())).any(dim=0)
        result[layer] = (~nonzero).tolist()
    return result


def report_folder(folder: str | Path, tp: int = TP, group: int = AWQ_GROUP_SIZE) -> dict[int, dict]:
    """``zero_unit_counts`` of every layer of a model folder, from its weights."""
    return {layer: zero_unit_counts(mask, tp, group) for layer, mask in zero_units_in_folder(folder).items()}


def main(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="model folder (Hugging Face, safetensors, unquantized)")
    parser.add_argument("--out", type=Path, help="output model folder")
    parser.add_argument("--report", action="store_true",
                        help="count zero units per shard and per group in MODEL's weights instead of padding")
    parser.add_argument("--tp", type=int, default=TP, help=f"tensor-parallel size (default {TP})")
    parser.add_argument("--group-size", type=int, default=AWQ_GROUP_SIZE, help=f"AWQ group size (default {AWQ_GROUP_SIZE})")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    add_flag(parser)
    args = parser.parse_args(argv)
    apply_flag(args)
    need_folder(args.model, "MODEL_DIR", "a Hugging Face model folder (safetensors, unquantized)",
                holds=("config.json",), hint=f"the merged model: `{PROGS['training.merge']}` writes it")
    if args.report:
        report = report_folder(args.model, args.tp, args.group_size)
        for layer, c in report.items():
            print(f"layer {layer}: {c['zero_units']} zero units of {c['units']}; per shard {c['per_shard']}; "
                  f"per group min {min(c['per_group'])} max {max(c['per_group'])}; "
                  f"all-zero groups {c['all_zero_groups']}, shards {c['all_zero_shards']}")
        return report
    if args.out is None:
        parser.error("--out is required (or pass --report)")
    refuse_existing(args.out, args.overwrite)
    return pad_folder(args.model, args.out, args.tp, args.group_size, overwrite=args.overwrite)


if __name__ == "__main__":
    run_command(main, prog=PROG)
