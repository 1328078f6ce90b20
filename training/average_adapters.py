"""Average LoRA adapters by their deltas, written as one exact PEFT adapter.

    shopbench average ADAPTER_DIR ADAPTER_DIR [...] --out OUT_DIR [--weights 1 1]

(the core environment, ``make eval``, runs it)

The submitted model averaged the adapters of fine-tuning steps 150 and 192 (docs/reference.md section 5).
What is averaged is each adapter's weight update, ``delta_i = s_i * B_i @ A_i`` per targeted module
(``s_i`` = PEFT's scaling, ``lora_alpha / r``, or ``lora_alpha / sqrt(r)`` with rsLoRA), not A and B
separately: ``mean(B) @ mean(A)`` is not ``mean(B @ A)``, and two adapters trained from the same
start differ by more than a common rotation of their rank space, so the factor-wise mean is a
different (and worse) update.

The average ``sum_i w_i * delta_i`` (weights normalized to sum to 1, equal by default) is again
a LoRA update, of rank ``r' = r_1 + ... + r_n``, obtained by stacking the factors along the rank:

    A' = [A_1; A_2; ...]                            (rows: r' x in)
    B' = [c_1 B_1, c_2 B_2, ...] / s'               (columns: out x r'),   c_i = w_i * s_i
    s' * B' @ A' = sum_i c_i * B_i @ A_i = sum_i w_i * delta_i                           (exact)

with ``s' = lora_alpha' / r'`` the output's scaling. When every ``c_i`` is the same (equal weights
and equal r and lora_alpha: the steps-150/192 case, c = 1/2 * 32/64 = 1/4) ``s' = c`` and the B_i
are copied unchanged, bit for bit; otherwise ``s' = c_i`` of largest magnitude and each ``B_i`` is multiplied by
``c_i / s'`` (in float64, stored in at least float32). The output config is input 1's with ``r = r'``,
``lora_alpha = s' * r'`` and ``use_rslora = false``. Merged into a base model, the result equals
the weighted mean of the models each adapter merges into (tests/test_average_wiseft.py).

Non-LoRA tensors an adapter may carry (``modules_to_save`` copies, trained biases) replace the
base's; they are averaged element-wise with the same weights, which is again the mean of the merged
models. The adapters must adapt the same modules (the modules their saved tensors belong to), else a
clear error lists the difference. LoRA variants whose update is not
``s * B @ A`` (DoRA, LoRA bias, QA-LoRA, aLoRA, ...) and per-module rank/alpha patterns are refused.
Works on the state dicts with safetensors directly (the key names PEFT saves), no model needed.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import time
import warnings
from pathlib import Path

from training.cli import PROGS, need_folder
from utilities.artifacts import ADAPTER_FILES, refuse_existing, step_output, write_manifest
from utilities.errors import run_command

PROG = PROGS["training.average_adapters"]

ADAPTER_CONFIG, ADAPTER_WEIGHTS = ADAPTER_FILES
# PEFT's key suffixes for the two factors: Linear / Conv layers keep them in submodules, Embedding
# layers as parameters. A is (r, in...) and B is (out, r, ...): the rank is A's dim 0 and B's dim 1.
LORA_KEY = re.compile(r"^(?P<module>.+)\.(?P<factor>lora_A|lora_B|lora_embedding_A|lora_embedding_B)(?P<suffix>\.weight)?$")
FACTOR_KIND = {"lora_A": "A", "lora_embedding_A": "A", "lora_B": "B", "lora_embedding_B": "B"}
# Config fields that make the update something other than s * B @ A (or apply it selectively):
UNSUPPORTED = ("use_dora", "lora_bias", "use_qalora", "alora_invocation_tokens", "target_parameters",
               "layer_replication", "use_bdlora", "kasa_config", "velora_config", "monteclora_config",
               "arrow_config")


def _lora_variant_fields() -> set[str]:
    """The LoraConfig fields PEFT marks as LoRA variants (so a variant newer than this list is refused too)."""
    try:
        import dataclasses

        from peft import LoraConfig
    except ImportError:  # pragma: no cover - peft is in the environment
        return set()
    return {f.name for f in dataclasses.fields(LoraConfig) if f.metadata.get("is_lora_variant")}


def read_adapter(folder: str | Path) -> tuple[dict, dict]:
    """(adapter_config.json, state dict) of a PEFT LoRA folder."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / ADAPTER_CONFIG).is_file():
        raise FileNotFoundError(f"{folder} has no {ADAPTER_CONFIG}: not a PEFT adapter folder")
    if not (folder / ADAPTER_WEIGHTS).is_file():
        found = ", ".join(sorted(p.name for p in folder.glob("adapter_model*"))) or "nothing"
        raise FileNotFoundError(f"{folder} has no {ADAPTER_WEIGHTS} (found: {found}); save adapters with "
                                "safetensors (PEFT's default)")
    return json.loads((folder / ADAPTER_CONFIG).read_text()), load_file(folder / ADAPTER_WEIGHTS)


def check_plain_lora(config: dict, where: str, allow_patterns: bool = False) -> None:
    """Refuse what is not a plain LoRA (update scaling * B @ A) with uniform rank and alpha (the
    uniformity only where ``allow_patterns`` is false)."""
    if config.get("peft_type") != "LORA":
        raise ValueError(f"{where}: peft_type is {config.get('peft_type')!r}, not LORA")
    for field in sorted(set(UNSUPPORTED) | _lora_variant_fields()):
        if config.get(field):
            raise ValueError(f"{where}: {field}={config[field]!r} is a LoRA variant whose update is not "
                             "scaling * B @ A; only plain LoRA adapters are supported")
    for field in ("rank_pattern", "alpha_pattern"):
        if config.get(field) and not allow_patterns:
            raise ValueError(f"{where}: {field} {config[field]} (per-module {field.split('_')[0]}s) is not supported")


def scaling_of(config: dict) -> float:
    """PEFT's scaling (tuners/lora/layer.py, ``update_layer``): lora_alpha / r, or / sqrt(r) with rsLoRA."""
    r, alpha = config["r"], config["lora_alpha"]
    return alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r


def lora_modules(state: dict, where: str) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Split a PEFT state dict into {module: {"A": key, "B": key}} and the other (non-LoRA) keys."""
    modules: dict[str, dict[str, str]] = {}
    others = []
    for key in state:
        m = LORA_KEY.match(key)
        if m is None:
            if key.endswith("lora_B.bias") or "lora_magnitude_vector" in key:
                raise ValueError(f"{where}: {key} belongs to a LoRA variant (LoRA bias or DoRA); not supported")
            others.append(key)
            continue
        modules.setdefault(m["module"], {})[FACTOR_KIND[m["factor"]]] = key
    for module, keys in modules.items():
        if set(keys) != {"A", "B"}:
            raise ValueError(f"{where}: module {module} has only lora_{''.join(keys)}")
    return modules, others


def _target_modules(config: dict):
    t = config.get("target_modules")
    return sorted(t) if isinstance(t, list) else t


def _describe_difference(a: set, b: set, name_a: str, name_b: str, limit: int = 5) -> str:
    only_a, only_b = sorted(a - b), sorted(b - a)
    parts = []
    for name, only in ((name_a, only_a), (name_b, only_b)):
        if only:
            more = f" and {len(only) - limit} more" if len(only) > limit else ""
            parts.append(f"only in {name}: {', '.join(only[:limit])}{more}")
    return "; ".join(parts)


def normalized_weights(weights: list[float] | None, n: int) -> list[float]:
    if weights is None:
        return [1.0 / n] * n
    if len(weights) != n:
        raise ValueError(f"{len(weights)} weights for {n} adapters")
    if any(not math.isfinite(w) or w <= 0 for w in weights):
        raise ValueError(f"weights must be positive numbers, got {weights}")
    total = math.fsum(weights)
    return [w / total for w in weights]


def average_state_dicts(configs: list[dict], states: list[dict], weights: list[float] | None = None,
                        names: list[str] | None = None) -> tuple[dict, dict]:
    """The averaged adapter's (config, state dict); see the module docstring for the math."""
    import torch

    n = len(states)
    if n < 2:
        raise ValueError("averaging needs at least two adapters")
    names = names or [f"adapter {i + 1}" for i in range(n)]
    w = normalized_weights(weights, n)
    for config, name in zip(configs, names):
        check_plain_lora(config, name)
    split = [lora_modules(state, name) for state, name in zip(states, names)]
    modules0, others0 = split[0]
    for (modules, others), config, name in zip(split[1:], configs[1:], names[1:]):
        if set(modules) != set(modules0):
            raise ValueError("the adapters do not target the same modules: "
                             + _describe_difference(set(modules0), set(modules), names[0], name))
        if _target_modules(config) != _target_modules(configs[0]):  # same weights, other spelling
            warnings.warn(f"target_modules are written differently ({_target_modules(configs[0])} in {names[0]}, "
                          f"{_target_modules(config)} in {name}) but the adapters hold the same modules; "
                          f"keeping {names[0]}'s", stacklevel=2)
        if set(others) != set(others0):
            raise ValueError("the adapters carry different non-LoRA tensors (modules_to_save): "
                             + _describe_difference(set(others0), set(others), names[0], name))
        for field in ("fan_in_fan_out", "task_type"):
            if config.get(field) != configs[0].get(field):
                raise ValueError(f"{field} differs: {configs[0].get(field)!r} ({names[0]}) vs {config.get(field)!r} ({name})")
    bases = {c.get("base_model_name_or_path") for c in configs}
    if len(bases) > 1:
        warnings.warn(f"the adapters name different base models: {sorted(map(str, bases))}", stacklevel=2)

    c = [wi * scaling_of(config) for wi, config in zip(w, configs)]  # the weight of B_i @ A_i in the average
    same = all(ci == c[0] for ci in c)
    s_new = c[0] if same else max(c, key=abs)
    ranks = [config["r"] for config in configs]
    r_new = sum(ranks)
    out: dict = {}
    for module in sorted(modules0):
        a_parts, b_parts = [], []
        for (modules, _), state, ci, r, name in zip(split, states, c, ranks, names):
            a, b = state[modules[module]["A"]], state[modules[module]["B"]]
            if a.shape[0] != r or b.shape[1] != r:
                raise ValueError(f"{name}: {module} has rank {a.shape[0]}/{b.shape[1]} in its tensors, "
                                 f"r={r} in its config")
            if not same:
                wider = torch.promote_types(b.dtype, torch.float32)  # never round c_i/s' * B into 16 bits
                b = (b.double() * (ci / s_new)).to(wider)
            a_parts.append(a)
            b_parts.append(b)
        for kind, parts, dim in (("A", a_parts, 0), ("B", b_parts, 1)):
            shapes = {tuple(p.shape[:dim]) + tuple(p.shape[dim + 1:]) for p in parts}
            if len(shapes) > 1:
                raise ValueError(f"{module}: lora_{kind} shapes differ apart from the rank: {sorted(shapes)}")
            dtype = parts[0].dtype
            for p in parts[1:]:
                dtype = torch.promote_types(dtype, p.dtype)
            out[modules0[module][kind]] = torch.cat([p.to(dtype) for p in parts], dim=dim).contiguous()
    for key in sorted(others0):
        shapes = {tuple(state[key].shape) for state in states}
        if len(shapes) > 1:
            raise ValueError(f"{key}: shapes differ between the adapters: {sorted(shapes)}")
        dtype = states[0][key].dtype
        if dtype.is_floating_point:
            total = sum(wi * state[key].double() for wi, state in zip(w, states))
            out[key] = total.to(dtype).contiguous()
        elif all(torch.equal(state[key], states[0][key]) for state in states):
            out[key] = states[0][key]
        else:
            raise ValueError(f"{key}: a non-float tensor that differs between the adapters")

    config = dict(configs[0])
    config.update(r=r_new, lora_alpha=s_new * r_new, use_rslora=False, rank_pattern={}, alpha_pattern={})
    return config, out


def average_adapters(adapters: list[str | Path], out: str | Path, weights: list[float] | None = None,
                     overwrite: bool = False) -> Path:
    """Average PEFT LoRA folders into the PEFT folder ``out``."""
    from safetensors.torch import save_file

    started = time.time()
    adapters = [Path(a) for a in adapters]
    read = [read_adapter(a) for a in adapters]
    config, state = average_state_dicts([r[0] for r in read], [r[1] for r in read], weights,
                                        names=[str(a) for a in adapters])
    w = normalized_weights(weights, len(adapters))
    with step_output(out, overwrite) as tmp:
        save_file(state, tmp / ADAPTER_WEIGHTS, metadata={"format": "pt"})  # PEFT's own metadata
        (tmp / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        write_manifest(tmp, "average_adapters", {f"adapter_{i + 1}": (a, ADAPTER_FILES) for i, a in enumerate(adapters)},
                       {"weights": w, "r": config["r"], "lora_alpha": config["lora_alpha"],
                        "scaling": config["lora_alpha"] / config["r"]}, started, out)
    print(f"averaged {len(adapters)} adapters (weights {', '.join(f'{x:.4g}' for x in w)}) -> {out} "
          f"(r {config['r']}, lora_alpha {config['lora_alpha']:g})")
    return Path(out)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("adapters", nargs="+", type=Path, help="PEFT LoRA folders (e.g. checkpoint-150 checkpoint-192)")
    parser.add_argument("--out", type=Path, required=True, help="output PEFT folder")
    parser.add_argument("--weights", type=float, nargs="+", default=None,
                        help="one positive weight per adapter, normalized to sum 1 (default: equal)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    args = parser.parse_args(argv)
    if len(args.adapters) < 2:
        parser.error("give at least two adapters")
    for adapter in args.adapters:
        need_folder(adapter, "ADAPTER_DIR", "a PEFT LoRA adapter folder", holds=ADAPTER_FILES,
                    hint="fine-tuning's output_dir or one of its checkpoint-N folders")
    refuse_existing(args.out, args.overwrite)
    return average_adapters(args.adapters, args.out, args.weights, overwrite=args.overwrite)


if __name__ == "__main__":
    run_command(main, prog=PROG)
