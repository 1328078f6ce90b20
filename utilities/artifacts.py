"""Step folders of the weights pipeline: atomic outputs, manifests with file hashes, tokenizer files.

Every step (finetune, average_adapters, wise_ft, merge, pad_mlp, quantize_awq, and the CPU default
model's conversion, models/default_model.py) writes its output folder through :func:`step_output`
(into ``OUT.partial``, renamed when complete) with a ``manifest.json`` from :func:`write_manifest`:
``{"step", "inputs": {name: {"path", "sha256": {file: hash}}}, "params", "outputs", "seconds"}``.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Iterator, Sequence

from utilities.errors import SetupError
from utilities.progress import bar, enabled as progress_enabled

MANIFEST = "manifest.json"
TOKENIZER_FILES = (  # what a Hugging Face model folder's tokenizer and generation settings live in
    "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json",
    "added_tokens.json", "tokenizer.model", "chat_template.jinja", "chat_template.json",
    "generation_config.json", "LICENSE",
)
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")  # a PEFT LoRA folder's content
HASH_CHUNK = 16 * 2**20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def folder_record(folder: str | Path, path_label: str | Path | None = None,
                  only: Sequence[str] | None = None) -> dict:
    """``{"path", "sha256": {relative name: sha256}}`` of every file in a folder (its own
    manifest.json excepted), of the files named in ``only`` (an adapter's two files, not the
    optimizer state a checkpoint-N folder also holds), or of one file."""
    folder = Path(folder)
    if folder.is_file():
        folder, only = folder.parent, [folder.name]
    if only is not None:
        files = sorted(folder / name for name in only)
    else:
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    total = sum(p.stat().st_size for p in files)
    hashes = {}
    progress = bar(total=total, unit="B", unit_scale=True, desc=f"sha256 {folder.name}",  # only where hashing
                   disable=total < 2**30 or not progress_enabled())  # takes a while (> 1 GB), on a terminal
    for p in files:
        hashes[p.relative_to(folder).as_posix()] = sha256_file(p)
        progress.update(p.stat().st_size)
    progress.close()
    return {"path": str(path_label if path_label is not None else folder), "sha256": hashes}


def partial_path(out: str | Path) -> Path:
    """``OUT.partial``: where a step writes ``OUT`` until it is complete."""
    out = Path(out)
    return out.with_name(out.name + ".partial")


class OutputExists(SetupError, FileExistsError):
    """An output that exists (or is not empty) and may not be replaced without ``--overwrite``: one line
    naming the flag (a FileExistsError too, for the callers that catch that)."""


def refuse_existing(out: str | Path, overwrite: bool = False, flag: str | None = "--out") -> None:
    """:class:`OutputExists` if ``out`` exists and ``overwrite`` is not set (a finished step is never
    replaced silently), naming ``flag`` where the path came from one: the commands call it before any
    work, :func:`step_output` (``flag`` None) again when the step starts writing."""
    if Path(out).exists() and not overwrite:
        where = f"{flag} {out}" if flag else str(out)
        raise OutputExists(f"{where}: exists; pass --overwrite to replace it, or choose another folder")


@contextlib.contextmanager
def step_output(out: str | Path, overwrite: bool = False, *, resume: bool = False,
                keep_failed: bool = False) -> Iterator[Path]:
    """Yield ``OUT.partial`` to write into; rename it to ``OUT`` when the block ends without error, so
    ``OUT`` exists only complete (an existing ``OUT`` needs ``overwrite``, and is replaced only then).

    A leftover ``OUT.partial`` (a run that died midway) is removed first, unless ``resume``: then it
    is kept and written into (fine-tuning continues from its ``checkpoint-N`` folders). A failed step
    leaves no ``OUT`` and, by default, no ``OUT.partial``; with ``keep_failed`` its ``OUT.partial`` stays
    unless empty (the checkpoints a later ``resume`` continues from).
    """
    out = Path(out)
    refuse_existing(out, overwrite, flag=None)
    partial = partial_path(out)
    if partial.exists() and not resume:
        shutil.rmtree(partial)
    partial.mkdir(parents=True, exist_ok=resume)
    try:
        yield partial
    except BaseException:
        if not keep_failed or not any(partial.iterdir()):
            shutil.rmtree(partial, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)


@contextlib.contextmanager
def output_lock(out: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` (the file ``OUT.lock`` beside it) for the block: for an output
    several processes may want at once, such as a folder converted once into a cache. The second
    process waits, then finds ``OUT`` complete instead of writing it again. The operating system
    releases the lock of a process that dies; the lock file stays (removing it would race)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock (one process at a time is then the caller's affair)
        yield
        return
    with open(out.with_name(out.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_manifest(folder: Path, step: str, inputs: dict[str, str | Path | tuple[str | Path, Sequence[str]] | dict],
                   params: dict, started: float, final_path: str | Path, *, only: Sequence[str] | None = None,
                   outputs: dict | None = None) -> dict:
    """Write ``folder/manifest.json``: {"step", "inputs": {name: folder record}, "params",
    "outputs": folder record of ``folder`` under its final path, "seconds"}. An input is a folder, a
    file, (folder, the file names that matter), or a record already made (a dict, e.g. of inputs
    fingerprinted before the step read them). ``only``: the output files to hash (names relative
    to ``folder``; default every file); ``outputs``: more facts for the outputs record (steps, losses)."""
    records = {}
    for name, p in inputs.items():
        if isinstance(p, dict):
            records[name] = p
            continue
        path, names = p if isinstance(p, tuple) else (p, None)
        records[name] = folder_record(path, only=names)
    manifest = {
        "step": step,
        "inputs": records,
        "params": params,
        "outputs": {**folder_record(folder, path_label=final_path, only=only), **(outputs or {})},
        "seconds": round(time.time() - started, 3),
    }
    (Path(folder) / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def copy_tokenizer_files(src: str | Path, dst: str | Path) -> list[str]:
    """Copy the tokenizer files and generation_config.json of ``src`` byte for byte; return their names."""
    copied = []
    for name in TOKENIZER_FILES:
        if (Path(src) / name).is_file():
            shutil.copyfile(Path(src) / name, Path(dst) / name)
            copied.append(name)
    return copied


def checkpoint_steps(run_dir: str | Path) -> dict[int, Path]:
    """The ``checkpoint-N`` folders a Trainer run saved, by step."""
    found = {}
    for p in Path(run_dir).glob("checkpoint-*"):
        step = p.name.split("-", 1)[1]
        if p.is_dir() and step.isdigit():
            found[int(step)] = p
    return found


def model_folder(name: str | Path, cache_dir: str | Path | None = None) -> Path:
    """A model folder for ``name``: the folder itself, or a Hugging Face hub id already in the cache.

    The fine-tuning configs name their base as a hub id (``Qwen/Qwen2-72B-Instruct``), which the
    trainer downloads into the Hugging Face cache; the steps after it (merge) find it there without
    network (``local_files_only``). Anything else is a clear error saying how to get the folder.
    """
    path = Path(name)
    if (path / "config.json").is_file():
        return path
    text = str(name)
    looks_like_hub_id = text.count("/") == 1 and not text.startswith((".", "/", "~")) and not path.exists()
    if looks_like_hub_id:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            snapshot = Path(snapshot_download(text, local_files_only=True, cache_dir=cache_dir))
        except LocalEntryNotFoundError:
            snapshot = None
        if snapshot is not None and (snapshot / "config.json").is_file():
            return snapshot
        raise FileNotFoundError(
            f"{text} is a Hugging Face hub id that is not in the local cache; download it first "
            f"(`hf download {text}`, as fine-tuning does) or pass the model folder itself"
        )
    raise FileNotFoundError(f"{path} has no config.json: not a model folder")
