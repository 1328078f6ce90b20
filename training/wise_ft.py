"""wise-ft: scale a LoRA adapter's weight update by alpha, written as a new PEFT adapter.

    shopbench wise-ft --adapter ADAPTER_DIR --out OUT_DIR --alpha 0.25
    shopbench wise-ft --adapter ADAPTER_DIR --out OUT_DIR --track 3 [--round 2]

(the core environment, ``make eval``, runs it)

wise-ft interpolates between the base and the fine-tuned weights: ``W = W_base + alpha * delta``
with ``delta = scaling * B @ A`` the adapter's update, so alpha 0 is the base model, 1 the fine-tune,
0.5 the midpoint of the two. The 1st-place checkpoints used alpha 0.75 / 0.5 / 0.25 / 0.5 / 0.25 for
tracks 1-5 (iteration 2; iteration 1: 0.56 / 1 / 0.56 / 1 / 0.56), docs/reference.md section 5; the table
is ``utilities/tracks.py`` (``--track N`` reads it, ``--round 1`` the first iteration's alpha).

Semantics are those of ``peft.helpers.rescale_adapter_scale(model, alpha)``, which multiplies
every LoRA layer's ``scaling`` (``lora_alpha / r``, or ``lora_alpha / sqrt(r)`` with rsLoRA; PEFT
``tuners/lora/layer.py``) by alpha while the context is open. This step makes it permanent by
writing ``lora_alpha' = alpha * lora_alpha`` (and every ``alpha_pattern`` value times alpha) into
adapter_config.json, so PEFT computes ``scaling' = alpha * lora_alpha / r = alpha * scaling``; the
tensors are copied byte for byte. Scaling lora_B instead would give the same update in exact
arithmetic but rounds ``alpha * B`` into the adapter's storage dtype (8 significant bits for a
bfloat16 adapter) and changes the weights file; changing one config number is exact up to the
float64 rounding of ``alpha * lora_alpha / r`` (relative 1e-16) and keeps the weights' hashes.
tests/test_average_wiseft.py checks it against ``rescale_adapter_scale`` itself.

Alpha outside [0, 1] extrapolates (allowed, with a warning). LoRA variants whose update is not
``scaling * B @ A`` (DoRA, ...) are refused: scaling their ``scaling`` is not wise-ft.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import time
import warnings
from pathlib import Path

from training.average_adapters import ADAPTER_CONFIG, ADAPTER_WEIGHTS, check_plain_lora
from training.cli import PROGS, need_folder
from utilities.artifacts import ADAPTER_FILES, refuse_existing, step_output, write_manifest
from utilities.errors import run_command

PROG = PROGS["training.wise_ft"]


def track_alpha(track: int, round_: int = 2) -> float:
    """The wise-ft alpha of a track in the 1st-place recipe: iteration 2 (submitted) or 1."""
    from utilities.tracks import get_track

    t = get_track(track)
    if round_ == 2:
        return t.wise_ft_alpha
    if round_ == 1:
        return t.round1_alpha
    raise ValueError(f"round is 1 or 2, got {round_}")


def scaled_config(config: dict, alpha: float) -> dict:
    """adapter_config.json with the update scaled by ``alpha`` (lora_alpha and alpha_pattern)."""
    if not math.isfinite(alpha):
        raise ValueError(f"alpha must be a finite number, got {alpha}")
    if not 0.0 <= alpha <= 1.0:
        warnings.warn(f"wise-ft alpha {alpha} lies outside [0, 1]: this extrapolates "
                      f"{'past the fine-tune' if alpha > 1 else 'away from it, beyond the base model'}",
                      stacklevel=2)
    check_plain_lora(config, "adapter", allow_patterns=True)
    out = dict(config)
    out["lora_alpha"] = alpha * config["lora_alpha"]
    out["alpha_pattern"] = {k: alpha * v for k, v in (config.get("alpha_pattern") or {}).items()}
    return out


def wise_ft(adapter: str | Path, out: str | Path, alpha: float, overwrite: bool = False,
            params: dict | None = None) -> Path:
    """Write ``out``: the PEFT adapter ``adapter`` with its update scaled by ``alpha``."""
    started = time.time()
    adapter = Path(adapter)
    if not (adapter / ADAPTER_CONFIG).is_file() or not (adapter / ADAPTER_WEIGHTS).is_file():
        raise FileNotFoundError(f"{adapter} is not a PEFT adapter folder ({ADAPTER_CONFIG} + {ADAPTER_WEIGHTS})")
    config = json.loads((adapter / ADAPTER_CONFIG).read_text())
    new = scaled_config(config, float(alpha))
    with step_output(out, overwrite) as tmp:
        shutil.copyfile(adapter / ADAPTER_WEIGHTS, tmp / ADAPTER_WEIGHTS)
        (tmp / ADAPTER_CONFIG).write_text(json.dumps(new, indent=2, sort_keys=True) + "\n")
        write_manifest(tmp, "wise_ft", {"adapter": (adapter, ADAPTER_FILES)},
                       {"alpha": alpha, "lora_alpha": [config["lora_alpha"], new["lora_alpha"]], **(params or {})},
                       started, out)
    print(f"wise-ft alpha {alpha:g}: {adapter} -> {out} (lora_alpha {config['lora_alpha']:g} -> {new['lora_alpha']:g})")
    return Path(out)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--adapter", type=Path, required=True, help="PEFT LoRA folder")
    parser.add_argument("--out", type=Path, required=True, help="output PEFT folder")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--alpha", type=float, help="scale of the update (0 = base model, 1 = fine-tune)")
    which.add_argument("--track", type=int, choices=range(1, 6), metavar="N",
                       help="take alpha from utilities/tracks.py for track N (1-5)")
    parser.add_argument("--round", type=int, choices=(1, 2), default=2,
                        help="with --track: the fine-tuning iteration whose alpha to use (default 2, as submitted)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    args = parser.parse_args(argv)
    need_folder(args.adapter, "--adapter", "a PEFT LoRA adapter folder", holds=(ADAPTER_CONFIG, ADAPTER_WEIGHTS),
                hint="fine-tuning's output_dir or one of its checkpoint-N folders")
    refuse_existing(args.out, args.overwrite)
    if args.track is not None:
        alpha, params = track_alpha(args.track, args.round), {"track": args.track, "round": args.round}
    else:
        alpha, params = args.alpha, {}
    return wise_ft(args.adapter, args.out, alpha, overwrite=args.overwrite, params=params)


if __name__ == "__main__":
    run_command(main, prog=PROG)
