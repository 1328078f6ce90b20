"""Merge a LoRA adapter into its base model's weights; save a plain fp16 Hugging Face model folder.

    shopbench merge --base BASE_DIR --adapter ADAPTER_DIR --out OUT_DIR [--dtype float16] [--progress]

(the core environment, ``make eval``, runs it; PEFT's merge bar is drawn on a terminal, or with --progress)

The base is loaded in ``--dtype`` (float16 by default: the T4 has no bfloat16; float32 for the
exactness tests), the adapter through PEFT (``PeftModel.from_pretrained``, which keeps the LoRA
factors in float32 when the base is 16-bit) and merged with ``merge_and_unload``: each targeted
weight becomes ``W + scaling * B @ A``, the delta computed in float32 and added to W in one
rounding to ``--dtype``. Qwen2-72B-Instruct ships bfloat16 weights; bfloat16 -> float16 is exact
for every value in float16's normal range (8 significant bits fit in 11), so loading the base
straight in float16 loses nothing there, and a weight that does not fit (|w| > 65504) or a broken
adapter shows up as a non-finite value, which stops the merge with its tensor's name.

The output folder holds ``config.json`` (``torch_dtype`` and ``dtype`` set to ``--dtype``),
``model*.safetensors`` (5 GB shards, as git-lfs likes them), the base's tokenizer files and
``generation_config.json`` copied byte for byte, and ``manifest.json``. A QLoRA adapter is merged
into the unquantized base (the 4-bit base it was trained against is a storage format of the same
weights), as the 1st-place recipe did before MLP padding and AWQ (docs/reference.md section 5).

Memory: the whole model is held once in ``--dtype`` (Qwen2-72B: 72.7e9 parameters x 2 bytes =
145 GB of RAM in float16); ``--device-map auto`` spreads it over the GPUs and the CPU instead.

The step-folder helpers every weights step uses live in ``utilities/artifacts.py`` (``step_output``:
write to ``OUT.partial``, rename when complete; ``write_manifest``: inputs with the sha256 of their
files, params, outputs, seconds).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from training.cli import PROGS, MissingInput, need_folder, quiet_library_bars
from utilities.artifacts import ADAPTER_FILES, copy_tokenizer_files, model_folder, refuse_existing, step_output, write_manifest
from utilities.errors import run_command
from utilities.progress import add_flag, apply_flag, enabled

PROG = PROGS["training.merge"]

DTYPES = ("float16", "bfloat16", "float32")
SHARD_SIZE = "5GB"  # 41.6 GB of AWQ weights went into 9 shards in the submission; git-lfs handles 5 GB files


def set_config_dtype(folder: str | Path, dtype: str) -> None:
    """Set config.json's dtype under both names: ``torch_dtype`` (transformers 4.x, vLLM, AutoAWQ)
    and ``dtype`` (transformers 5)."""
    path = Path(folder) / "config.json"
    config = json.loads(path.read_text())
    config["torch_dtype"] = dtype
    config["dtype"] = dtype
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")



# ---------------------------------------------------------------------------------------------
# The merge
# ---------------------------------------------------------------------------------------------

def torch_dtype(name: str):
    import torch

    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; choose one of {', '.join(DTYPES)}")
    return getattr(torch, name)


def merge_adapter(base: str | Path, adapter: str | Path, out: str | Path, dtype: str = "float16",
                  device_map: str | None = None, max_shard_size: str = SHARD_SIZE,
                  overwrite: bool = False) -> Path:
    """Merge ``adapter`` (a PEFT LoRA folder) into ``base`` (a model folder); write ``out``."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    started = time.time()
    base, adapter, out = model_folder(base), Path(adapter), Path(out)  # base: a folder or a cached hub id
    if not (adapter / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{adapter} has no adapter_config.json: not a PEFT adapter folder")
    with step_output(out, overwrite) as tmp:
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch_dtype(dtype), device_map=device_map)
        model = PeftModel.from_pretrained(model, adapter, is_trainable=False)
        # Not safe_merge: it rounds the delta to the weight's dtype before adding (two roundings);
        # the plain merge adds the float32 delta in one. Finiteness is checked right after.
        model = model.merge_and_unload(progressbar=enabled())
        broken = [name for name, p in model.state_dict().items() if p.is_floating_point() and not torch.isfinite(p).all()]
        if broken:
            raise ValueError(f"the merged weights are not finite in {len(broken)} tensors (first: {broken[0]}); "
                             f"the adapter is broken or a weight overflows {dtype}")
        model.save_pretrained(tmp, max_shard_size=max_shard_size)
        del model
        copy_tokenizer_files(base, tmp)
        set_config_dtype(tmp, dtype)
        write_manifest(tmp, "merge", {"base": base, "adapter": (adapter, ADAPTER_FILES)},
                       {"dtype": dtype, "device_map": device_map, "max_shard_size": max_shard_size},
                       started, out)
    print(f"merged {adapter} into {base} -> {out} ({dtype}, {time.time() - started:.1f} s)")
    return out


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True,
                        help="base model folder, or a Hugging Face hub id already in the local cache")
    parser.add_argument("--adapter", type=Path, required=True, help="LoRA adapter folder (PEFT)")
    parser.add_argument("--out", type=Path, required=True, help="output model folder")
    parser.add_argument("--dtype", choices=DTYPES, default="float16",
                        help="load, merge and save in this dtype (default float16, the T4's dtype)")
    parser.add_argument("--device-map", default=None, help='e.g. "auto" to load over the GPUs (default: CPU)')
    parser.add_argument("--max-shard-size", default=SHARD_SIZE)
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    add_flag(parser)
    args = parser.parse_args(argv)
    apply_flag(args)
    need_folder(args.adapter, "--adapter", "a PEFT LoRA adapter folder", holds=(ADAPTER_FILES[0],),
                hint="fine-tuning's output_dir or one of its checkpoint-N folders, or a wise-ft or averaged one")
    try:
        model_folder(args.base)
    except FileNotFoundError as err:  # not a model folder, or a hub id that is not in the local cache
        raise MissingInput(f"--base {args.base}: {err}") from err
    refuse_existing(args.out, args.overwrite)
    with quiet_library_bars():
        return merge_adapter(args.base, args.adapter, args.out, dtype=args.dtype, device_map=args.device_map,
                             max_shard_size=args.max_shard_size, overwrite=args.overwrite)


if __name__ == "__main__":
    run_command(main, prog=PROG)
