"""Shared fixtures: the real Qwen2 tokenizer, a tiny random Qwen2 model, the dev questions.

Tests are hermetic: hubs are switched off and every cache lives inside the repo.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HOME", str(REPO / ".cache" / "hf"))
os.environ.setdefault("VLLM_CACHE_ROOT", str(REPO / ".cache" / "vllm"))
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from utilities.decoding import TokenTable  # noqa: E402

DEV_FILE = REPO / "data" / "development.json"


@pytest.fixture(scope="session")
def dev_rows() -> list[dict]:
    with open(DEV_FILE, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="session")
def qwen_tokenizer():
    from models.tiny import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def qwen_table(qwen_tokenizer) -> TokenTable:
    table = TokenTable(qwen_tokenizer)
    table.add_eos_ids([151645, 151643])  # what the Qwen2 generation_config lists
    return table


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from models.tiny import build_tiny_qwen2

    return build_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir):
    from models.engines import TransformersEngine

    return TransformersEngine(tiny_model_dir)
