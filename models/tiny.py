"""A tiny random ``Qwen2ForCausalLM`` with the real Qwen2 tokenizer, for tests and smoke runs.

Same architecture family, vocabulary and chat template as the submitted Qwen2-72B checkpoint,
with 2 layers of width 128, so every token id, template and constraint is real while a forward
pass takes milliseconds on a CPU. Its answers are random; the pipeline around it is not.

    shopbench tiny-model OUT_DIR [--seed 0]
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from models.settings import REPO
from utilities.errors import run_command

TOKENIZER_DIR = REPO / "models" / "qwen2-72b-awq-padded"  # the real Qwen2 tokenizer files (no weights)
TOKENIZER_FILES = (
    "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
)
VOCAB_SIZE = 152064  # Qwen2-72B's embedding rows (151,646 tokens, padded to a multiple of 128)
HIDDEN_SIZE = 128  # head_dim 64 = 128 / 2 heads: vLLM's CPU attention has no kernel for head_dim 16
INTERMEDIATE_SIZE = 352  # like Qwen2-72B's 29568, not a multiple of TP 4 x AWQ group 128 = 512: padding has work to do
NUM_LAYERS = 2
NUM_HEADS = 2
NUM_KV_HEADS = 1  # grouped-query attention, as in Qwen2-72B (64 heads, 8 KV heads)
MAX_POSITIONS = 4096  # room for the 3,072-token context of the submission settings
EOS_IDS = (151645, 151643)  # <|im_end|>, <|endoftext|>: the Qwen2 generation_config's eos list
PAD_ID = 151643  # <|endoftext|>


def load_tokenizer(folder: Path = TOKENIZER_DIR):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def tiny_config(**overrides):
    from transformers import Qwen2Config

    values = dict(
        vocab_size=VOCAB_SIZE,
        hidden_size=HIDDEN_SIZE,
        intermediate_size=INTERMEDIATE_SIZE,
        num_hidden_layers=NUM_LAYERS,
        num_attention_heads=NUM_HEADS,
        num_key_value_heads=NUM_KV_HEADS,
        max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=True,  # halves the 152k x 128 embedding on disk
        bos_token_id=PAD_ID,
        eos_token_id=EOS_IDS[0],
        pad_token_id=PAD_ID,
        rms_norm_eps=1e-6,
        rope_theta=1_000_000.0,
    )
    values.update(overrides)
    return Qwen2Config(**values)


def build_tiny_qwen2(out_dir: str | Path, seed: int = 0, **config_overrides) -> Path:
    """Write a random tiny Qwen2 model, the real Qwen2 tokenizer and a generation config to ``out_dir``."""
    import torch
    from transformers import GenerationConfig, Qwen2ForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(tiny_config(**config_overrides)).eval()
    model.save_pretrained(out)
    for name in TOKENIZER_FILES:
        shutil.copyfile(TOKENIZER_DIR / name, out / name)
    GenerationConfig(eos_token_id=list(EOS_IDS), pad_token_id=PAD_ID, bos_token_id=PAD_ID).save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(build_tiny_qwen2(args.out_dir, seed=args.seed))


if __name__ == "__main__":
    run_command(main)
