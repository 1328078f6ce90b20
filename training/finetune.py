"""QLoRA fine-tuning from an axolotl-format YAML: answer tokens and their end-of-turn token only.

    shopbench finetune training/configs/qlora_qwen2_72b.yaml [--set key=value ...] [--overwrite] [--quiet | --progress]
    shopbench finetune training/configs/tiny_cpu.yaml --set base_model=DIR datasets.0.path=FILE

On a CPU (``tiny_cpu.yaml``) the core environment (``make eval``) runs it; the QLoRA configs need
CUDA GPUs and the environment of ``requirements-train.txt`` (bitsandbytes, deepspeed). A config this
machine cannot run, a config file that does not exist or an ``output_dir`` that does without
``--overwrite`` is one line (exit status 2). Progress bars (tokenizing, the Trainer's) are drawn on a
terminal, or anywhere with ``--progress``; off one the Trainer prints its logs as plain lines.

The config is axolotl's own YAML (same keys, no schema of ours), so the same file also runs under
axolotl in its own environment (``axolotl train CONFIG.yaml``). Keys this script does not know are
an error that names them (a typo such as ``lora_alpah`` is never silently ignored); axolotl keys that
cannot change the numbers here (logging back-ends, attention kernels on a CPU, ...) are listed as
ignored. ``--set`` overrides any key, dotted for nesting and list items (``datasets.0.path=...``);
values are read as YAML (``--set load_in_4bit=false max_steps=8``).

What it does:

1. Reads the chat rows (JSON Lines with ``"messages"``, as ``shopbench data build`` writes
   them) of every ``datasets`` entry (``type: chat_template``).
2. Renders each row with the tokenizer's own chat template, exactly as ``utilities.prompting.render``
   does at inference, and tokenizes it piece by piece: the text before the answer is the inference
   prompt and is encoded alone, as inference encodes it, so the training ids of the prompt are the
   inference ids. Labels: the answer tokens and the end-of-turn token that closes the answer
   (``<|im_end|>`` for ChatML, read from the template by rendering a probe conversation, never a
   hard-coded id) are trained; everything else is -100. Without the end-of-turn token the model
   never learns to stop (axolotl: ``roles_to_train: [assistant]``, ``train_on_eos: turn``).
   Rows longer than ``sequence_len`` are dropped and counted, as axolotl does.
3. Loads the base model: 4-bit NF4 with double quantization through bitsandbytes and
   ``peft.prepare_model_for_kbit_training`` when ``load_in_4bit`` (CUDA only; on a CPU it is a clear
   error), else in the config's dtype. ``base_model`` may be a hub id or a folder, e.g. the merged
   round-1 model of iterative fine-tuning; ``lora_model_dir`` continues an existing adapter instead.
4. Adds a LoRA (``r``, ``alpha``, ``dropout``; ``lora_target_linear``: every linear layer of the
   decoder, ``lm_head`` excluded) and trains it with the Hugging Face Trainer: AdamW, cosine schedule
   with linear warm-up, weight decay, micro batch x gradient accumulation, an adapter saved every
   ``save_steps`` as ``output_dir/checkpoint-N`` (a PEFT folder) and at the last step.
5. Writes ``output_dir`` through ``utilities.artifacts.step_output``, as every weights step does:
   training runs in ``output_dir.partial``, renamed at the end, holding the final adapter, the
   checkpoints, ``train_loss.csv`` (step, loss, learning rate, grad norm) and ``manifest.json``
   (``write_manifest``: inputs with sha256, params, outputs, seconds). An existing ``output_dir``
   needs ``--overwrite`` and is replaced only when the new run is complete. A run that fails leaves no
   ``output_dir`` but keeps ``output_dir.partial`` with its checkpoints: ``resume_from_checkpoint: true``
   (or a checkpoint's path) continues in it; a run without it removes the leftover and starts over.

Several GPUs (8 x A100 for Qwen2-72B): the same command under accelerate, DeepSpeed ZeRO-2 named by
the config's ``deepspeed`` key::

    accelerate launch --config_file training/configs/accelerate_deepspeed_zero2.yaml \\
        -m training.finetune training/configs/qlora_qwen2_72b.yaml

FSDP instead of DeepSpeed: put axolotl's ``fsdp_version``/``fsdp_config`` keys in the YAML (4-bit
weights are then stored as bf16, ``bnb_4bit_quant_storage``, so that FSDP can shard them).
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import difflib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import yaml

from training.cli import PROGS, need_file, quiet_library_bars
from utilities.artifacts import checkpoint_steps, folder_record, partial_path, refuse_existing, step_output, write_manifest
from utilities.errors import SetupError, run_command
from utilities.progress import add_flag, apply_flag, bar, enabled
from utilities.special_tokens import content_spans, encode_spans, holds_special

PROG = PROGS["training.finetune"]

IGNORE_INDEX = -100  # the label PyTorch's cross-entropy (and every HF causal LM) skips
PROBE_ANSWER = "\u2063probe-answer\u2063"  # a text no template adds or strips, to find the turn's end
LOSS_LOG = "train_loss.csv"

# ---- the config: axolotl's keys ------------------------------------------------------------------

# Keys this script acts on, with their type where YAML could read them otherwise (PyYAML reads
# "2e-4" as a string: YAML 1.1 floats need a dot).
FLOAT_KEYS = {"learning_rate", "weight_decay", "lora_dropout", "adam_beta1", "adam_beta2", "adam_epsilon",
              "max_grad_norm", "val_set_size", "warmup_ratio"}
INT_KEYS = {"lora_r", "lora_alpha", "micro_batch_size", "gradient_accumulation_steps", "sequence_len", "warmup_steps",
            "save_steps", "save_total_limit", "logging_steps", "max_steps", "seed", "num_epochs",
            "dataloader_num_workers"}
BOOL_KEYS = {"load_in_4bit", "load_in_8bit", "lora_target_linear", "train_on_inputs", "gradient_checkpointing",
             "fp16", "tf32", "sample_packing", "pad_to_sequence_len", "save_only_model", "flash_attention",
             "sdp_attention", "trust_remote_code", "shuffle_merged_datasets", "lora_fan_in_fan_out",
             "group_by_length", "save_safetensors", "auto_resume_from_checkpoints"}
OTHER_KEYS = {"base_model", "tokenizer_config", "model_type", "tokenizer_type", "adapter",
              "lora_model_dir", "lora_target_modules", "lora_modules_to_save", "bnb_config_kwargs", "datasets",
              "chat_template", "output_dir", "optimizer", "lr_scheduler", "lr_scheduler_kwargs", "bf16",
              "save_strategy", "deepspeed", "fsdp", "fsdp_config", "fsdp_version", "resume_from_checkpoint",
              "gradient_checkpointing_kwargs", "special_tokens", "eot_tokens", "ddp_timeout",
              "peft_use_dora", "peft_use_rslora"}
KNOWN_KEYS = FLOAT_KEYS | INT_KEYS | BOOL_KEYS | OTHER_KEYS
# axolotl keys that cannot change what is trained here: accepted and listed as ignored.
NO_EFFECT_KEYS = {"strict", "dataset_prepared_path", "dataset_processes", "local_rank", "debug", "hub_model_id",
                  "hub_strategy", "use_tensorboard", "xformers_attention", "flash_attn_cross_entropy",
                  "flash_attn_rms_norm", "flash_attn_fuse_qkv", "flash_attn_fuse_mlp", "low_cpu_mem_usage",
                  "is_qwen_derived_model", "is_llama_derived_model", "is_mistral_derived_model",
                  "wandb_mode", "wandb_project", "wandb_entity", "wandb_watch", "wandb_name", "wandb_run_id",
                  "wandb_log_model", "mlflow_tracking_uri", "mlflow_experiment_name", "use_comet",
                  "eval_table_size", "eval_max_new_tokens", "include_tokens_per_second", "plugins",
                  "tokenizer_use_fast", "tokenizer_legacy", "loss_watchdog_threshold", "loss_watchdog_patience"}
DATASET_KEYS = {"path", "type", "ds_type", "data_files", "split", "field_messages",
                "message_property_mappings", "message_field_role", "message_field_content", "roles",
                "roles_to_train", "train_on_eos", "chat_template", "drop_system_message"}
TRAIN_ON_EOS = ("turn", "last", "all", "none")

DEFAULTS: dict[str, Any] = {  # axolotl's defaults for the keys a config may leave out
    "adapter": None, "lora_model_dir": None, "load_in_4bit": False, "load_in_8bit": False,
    "lora_target_linear": False, "lora_target_modules": None, "lora_modules_to_save": None,
    "lora_fan_in_fan_out": False, "bnb_config_kwargs": None,
    "chat_template": "tokenizer_default", "train_on_inputs": False, "sequence_len": 2048,
    "sample_packing": False, "pad_to_sequence_len": False, "val_set_size": 0.0,
    "micro_batch_size": 1, "gradient_accumulation_steps": 1, "num_epochs": 1, "max_steps": None,
    "learning_rate": 3e-5, "lr_scheduler": "cosine", "lr_scheduler_kwargs": None, "optimizer": "adamw_torch",
    "weight_decay": 0.0, "warmup_steps": None, "warmup_ratio": None, "adam_beta1": None, "adam_beta2": None,
    "adam_epsilon": None, "max_grad_norm": None, "bf16": False, "fp16": False, "tf32": False,
    "gradient_checkpointing": False, "gradient_checkpointing_kwargs": None, "logging_steps": 1,
    "save_steps": None, "save_strategy": None, "save_total_limit": None, "save_only_model": False,
    "seed": 42, "deepspeed": None, "fsdp": None, "fsdp_config": None, "fsdp_version": None,
    "resume_from_checkpoint": None, "auto_resume_from_checkpoints": False, "flash_attention": False,
    "sdp_attention": False, "trust_remote_code": False, "special_tokens": None, "eot_tokens": None,
    "shuffle_merged_datasets": True, "dataloader_num_workers": 0, "peft_use_dora": False,
    "peft_use_rslora": False,
}


class ConfigError(SetupError, ValueError):
    """A config this script cannot run as written (the message says which key and why; a SetupError:
    the command prints it as one line, exit status 2)."""


class UnknownConfigKeys(ConfigError):
    def __init__(self, keys: Sequence[str], where: str = "top level", known: Iterable[str] = KNOWN_KEYS):
        self.keys = list(keys)
        hints = []
        for key in self.keys:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        super().__init__(
            f"config keys that training.finetune does not know ({where}): {', '.join(hints)}. "
            "Fix the spelling, or, for an axolotl feature this script does not implement, run the config "
            "with axolotl itself (see the README)."
        )


def set_key(cfg: dict, dotted: str, value: Any) -> None:
    """``cfg[a][b][0][c] = value`` for ``a.b.0.c``; list items by index, dicts created as needed."""
    parts = dotted.split(".")
    node: Any = cfg
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"--set {dotted}: {part!r} is not an item index of a {len(node)}-item list")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if not isinstance(node.get(part), (dict, list)):
                    node[part] = {}
                node = node[part]
        else:
            raise ConfigError(f"--set {dotted}: {'.'.join(parts[:i])} is a value, not a mapping or list")


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> dict:
    """The YAML as a dict, ``key=value`` overrides applied (values read as YAML)."""
    with open(path, encoding="utf-8") as f:
        cfg = yaml.safe_load(f) or {}
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: a config is a YAML mapping of axolotl keys")
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        set_key(cfg, key.strip(), yaml.safe_load(raw) if raw.strip() else None)
    return cfg


def _coerce(key: str, value: Any) -> Any:
    if value is None:
        return None
    try:
        if key in FLOAT_KEYS:
            return float(value)
        if key in INT_KEYS:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(float(value)) if isinstance(value, str) else int(value)
        if key in BOOL_KEYS:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ValueError
    except (TypeError, ValueError):
        kind = "a number" if key in FLOAT_KEYS else "an integer" if key in INT_KEYS else "true or false"
        raise ConfigError(f"{key}: {value!r} is not {kind}") from None
    return value


def resolve_config(raw: dict) -> tuple[dict, list[str]]:
    """Check the keys, fill axolotl's defaults, coerce the types; returns (config, notes)."""
    unknown = sorted(k for k in raw if k not in KNOWN_KEYS and k not in NO_EFFECT_KEYS)
    if unknown:
        raise UnknownConfigKeys(unknown, known=KNOWN_KEYS | NO_EFFECT_KEYS)
    notes = [f"ignored (axolotl key with no effect here): {k}" for k in sorted(raw) if k in NO_EFFECT_KEYS]
    cfg = {**DEFAULTS, **{k: v for k, v in raw.items() if k not in NO_EFFECT_KEYS}}
    cfg = {k: _coerce(k, v) for k, v in cfg.items()}
    for key in ("base_model", "output_dir", "datasets"):
        if not cfg.get(key):
            raise ConfigError(f"{key} is required")
    if not isinstance(cfg["datasets"], list):
        raise ConfigError("datasets: a list of dataset entries (path, type: chat_template, ...)")
    cfg["datasets"] = [_resolve_dataset(i, d) for i, d in enumerate(cfg["datasets"])]

    if cfg["adapter"] not in ("lora", "qlora"):
        raise ConfigError(f"adapter: {cfg['adapter']!r}; training.finetune trains a LoRA (adapter: lora or qlora)")
    if cfg["adapter"] == "qlora" and not cfg["load_in_4bit"]:
        raise ConfigError("adapter: qlora needs load_in_4bit: true (for a float base use adapter: lora)")
    if cfg["load_in_8bit"]:
        raise ConfigError("load_in_8bit: not implemented here (QLoRA uses load_in_4bit)")
    if not cfg["lora_target_linear"] and not cfg["lora_target_modules"]:
        raise ConfigError("set lora_target_linear: true or list lora_target_modules")
    for key in ("lora_r", "lora_alpha"):
        if cfg.get(key) is None:
            raise ConfigError(f"{key} is required for a LoRA")
    if cfg["lora_dropout"] is None:
        cfg["lora_dropout"] = 0.0
    if cfg["chat_template"] != "tokenizer_default":
        raise ConfigError(
            f"chat_template: {cfg['chat_template']!r}; rows are rendered with the tokenizer's own template "
            "(utilities.prompting), so only tokenizer_default keeps training and inference identical"
        )
    if cfg["sample_packing"]:
        raise ConfigError("sample_packing: true is not implemented here (run the config with axolotl, or set false)")
    if cfg["val_set_size"]:
        raise ConfigError("val_set_size: only 0 here; the dev questions are the evaluation (local_evaluation.py)")
    if cfg["special_tokens"] or cfg["eot_tokens"]:
        raise ConfigError("special_tokens / eot_tokens: the tokenizer is used as shipped; the end of turn is read "
                          "from its chat template")
    if cfg["lora_fan_in_fan_out"] or cfg["peft_use_dora"]:
        raise ConfigError("lora_fan_in_fan_out / peft_use_dora: not implemented here")
    if cfg.get("group_by_length"):
        raise ConfigError("group_by_length: not implemented here")
    if cfg.get("save_safetensors") is False:
        raise ConfigError("save_safetensors: false; adapters are always written as safetensors here")
    if cfg["deepspeed"] and _uses_fsdp(cfg):
        raise ConfigError("deepspeed and fsdp are both set; choose one")
    if cfg.get("model_type") not in (None, "AutoModelForCausalLM", "Qwen2ForCausalLM"):
        raise ConfigError(f"model_type: {cfg['model_type']!r}; use AutoModelForCausalLM")
    if cfg.get("tokenizer_type") not in (None, "AutoTokenizer", "Qwen2Tokenizer", "Qwen2TokenizerFast"):
        raise ConfigError(f"tokenizer_type: {cfg['tokenizer_type']!r}; use AutoTokenizer")
    if cfg["warmup_steps"] is not None and cfg["warmup_ratio"] is not None:
        raise ConfigError("warmup_steps and warmup_ratio: set one (axolotl allows only one)")
    if cfg["bf16"] not in (True, False, "auto", "full"):
        raise ConfigError(f"bf16: {cfg['bf16']!r}; true, false or auto")
    if cfg["bf16"] and cfg["fp16"]:
        raise ConfigError("bf16 and fp16 are both set")
    if cfg["sequence_len"] < 2:
        raise ConfigError("sequence_len must be at least 2")

    from transformers.trainer_utils import SchedulerType
    from transformers.training_args import OptimizerNames

    schedulers = {s.value for s in SchedulerType}
    if (cfg["lr_scheduler"] or "cosine") not in schedulers:
        raise ConfigError(f"lr_scheduler: {cfg['lr_scheduler']!r}; one of {sorted(schedulers)}")
    optimizers = {o.value for o in OptimizerNames}
    if cfg["optimizer"] not in optimizers:
        raise ConfigError(f"optimizer: {cfg['optimizer']!r}; one of the transformers OptimizerNames")
    return cfg, notes


def _resolve_dataset(i: int, entry: Any) -> dict:
    if not isinstance(entry, dict) or not entry.get("path"):
        raise ConfigError(f"datasets.{i}: a mapping with at least 'path'")
    unknown = sorted(k for k in entry if k not in DATASET_KEYS)
    if unknown:
        raise UnknownConfigKeys(unknown, where=f"datasets.{i}", known=DATASET_KEYS)
    d = {"type": "chat_template", "field_messages": "messages", "roles_to_train": ["assistant"],
         "train_on_eos": "turn", "split": "train", **entry}
    if d["type"] != "chat_template":
        raise ConfigError(f"datasets.{i}.type: {d['type']!r}; the rows are chats (type: chat_template)")
    if d.get("ds_type") not in (None, "json"):
        raise ConfigError(f"datasets.{i}.ds_type: {d['ds_type']!r}; the rows are JSON Lines (ds_type: json)")
    if d.get("split") != "train":
        raise ConfigError(f"datasets.{i}.split: {d['split']!r}; a JSON Lines file has only 'train'")
    if d.get("chat_template") not in (None, "tokenizer_default"):
        raise ConfigError(f"datasets.{i}.chat_template: only tokenizer_default")
    if d.get("drop_system_message"):
        raise ConfigError(f"datasets.{i}.drop_system_message: the system prompt is part of the inference prompt")
    roles = d["roles_to_train"]
    if isinstance(roles, str):
        roles = [roles]
    if list(roles) != ["assistant"]:
        raise ConfigError(f"datasets.{i}.roles_to_train: {roles!r}; the loss is on the assistant's answer only")
    d["roles_to_train"] = ["assistant"]
    if str(d["train_on_eos"]).lower() not in TRAIN_ON_EOS:
        raise ConfigError(f"datasets.{i}.train_on_eos: {d['train_on_eos']!r}; one of {TRAIN_ON_EOS}")
    d["train_on_eos"] = str(d["train_on_eos"]).lower()
    mapping = dict(d.get("message_property_mappings") or {})
    mapping.setdefault("role", d.get("message_field_role", "role"))
    mapping.setdefault("content", d.get("message_field_content", "content"))
    d["message_property_mappings"] = mapping
    return d


# ---- labels: answer tokens and the end-of-turn token ---------------------------------------------

def _render(tokenizer, messages: Sequence[dict], add_generation_prompt: bool) -> str:
    # the call utilities.prompting.render makes: the tokenizer's own template, text out
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=add_generation_prompt)


def end_of_turn(tokenizer) -> tuple[int, str]:
    """The token that closes an assistant turn in the tokenizer's chat template, and its text.

    Rendered from a probe conversation: the text the template puts right after the answer starts with
    the end-of-turn token (``<|im_end|>`` in ChatML). It must be a special token, one id."""
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError(f"tokenizer {getattr(tokenizer, 'name_or_path', '')!r} has no chat template")
    probe = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
             {"role": "assistant", "content": PROBE_ANSWER}]
    text = _render(tokenizer, probe, False)
    at = text.rfind(PROBE_ANSWER)
    if at < 0:
        raise ConfigError("the chat template does not copy the assistant's content verbatim")
    suffix = text[at + len(PROBE_ANSWER):]
    ids = tokenizer.encode(suffix, add_special_tokens=False)
    if not ids:
        raise ConfigError("the chat template closes an assistant turn with nothing: no end-of-turn token to train")
    eot = ids[0]
    token = tokenizer.convert_ids_to_tokens(eot)
    special = set(tokenizer.all_special_ids) | {i for t, i in tokenizer.get_added_vocab().items()}
    if eot not in special or not suffix.startswith(token):
        raise ConfigError(f"the chat template closes an assistant turn with {suffix[:20]!r}, not a special token")
    return eot, token


@dataclass(frozen=True)
class Encoded:
    ids: np.ndarray  # int32 token ids of the whole rendered chat
    trained: np.ndarray  # bool, True where the token is a label (answer tokens, end-of-turn)

    def labels(self) -> list[int]:
        return [int(t) if keep else IGNORE_INDEX for t, keep in zip(self.ids, self.trained)]


class LabelBuilder:
    """Chat messages -> token ids and the positions that carry loss.

    The rendered text is cut at the assistant turns: the text before an answer (the inference prompt,
    for a single-turn row) is encoded alone, as inference encodes it; the answer and the end-of-turn
    token are encoded next and trained; what the template adds after the end-of-turn token ("\\n") is
    encoded last and masked."""

    def __init__(self, tokenizer, train_on_inputs: bool = False, train_on_eos: str = "turn"):
        if train_on_eos not in TRAIN_ON_EOS:
            raise ConfigError(f"train_on_eos: {train_on_eos!r}; one of {TRAIN_ON_EOS}")
        self.tokenizer = tokenizer
        self.train_on_inputs = train_on_inputs
        self.train_on_eos = train_on_eos
        self.eot_id, self.eot_text = end_of_turn(tokenizer)

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False) if text else []

    def pieces(self, messages: Sequence[dict]) -> list[tuple[str, str]]:
        """The rendered chat as (text, kind) with kind in {"context", "answer", "eot"}."""
        full = _render(self.tokenizer, messages, False)
        turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        if not turns:
            raise ValueError("a training row needs an assistant message")
        out: list[tuple[str, str]] = []
        pos = 0
        for i in turns:
            before = _render(self.tokenizer, messages[:i], True)
            upto = full if i == len(messages) - 1 else _render(self.tokenizer, messages[: i + 1], False)
            if not (full.startswith(upto) and upto.startswith(before) and len(before) >= pos):
                raise ValueError("the chat template does not render a conversation as a prefix of its continuation")
            span = upto[len(before):]  # answer + end-of-turn + what the template adds after it
            cut = span.rfind(self.eot_text)
            if cut < 0:
                raise ValueError(f"assistant turn {i} is not closed by {self.eot_text!r}")
            out += [(before[pos:], "context"), (span[:cut], "answer"), (self.eot_text, "eot")]
            pos = len(before) + cut + len(self.eot_text)
        out.append((full[pos:], "context"))
        return [(text, kind) for text, kind in out if text]

    def _plain_spans(self, messages: Sequence[dict]) -> list[tuple[int, int]]:
        """Where the contents that hold special-token strings stand in the rendered chat: those strings
        are the user's text, never turns (``utilities.prompting.encode_chat``, the inference rule)."""
        if not any(holds_special(self.tokenizer, str(m.get("content") or "")) for m in messages):
            return []
        spans = content_spans(self.tokenizer, messages, False, _render(self.tokenizer, messages, False))
        if spans is None:
            raise ValueError("the chat template does not copy message contents verbatim, so special-token "
                             "strings inside them cannot be told from its own")
        return spans

    def encode(self, messages: Sequence[dict]) -> Encoded:
        ids: list[int] = []
        trained: list[bool] = []
        pieces = self.pieces(messages)
        plain = self._plain_spans(messages)
        last_eot = max(i for i, (_, kind) in enumerate(pieces) if kind == "eot")
        offset = 0  # the pieces tile the rendered chat
        for n, (text, kind) in enumerate(pieces):
            start, offset = offset, offset + len(text)
            if kind == "eot":
                piece = [self.eot_id]
                keep = self.train_on_eos in ("turn", "all") or (self.train_on_eos == "last" and n == last_eot)
                marks = [keep or self.train_on_inputs]
            else:
                piece = (encode_spans(self.tokenizer, text, [(a - start, b - start) for a, b in plain
                                                             if a < offset and start < b])
                         if plain else self._encode(text))
                if kind == "answer":
                    marks = [True] * len(piece)
                else:  # context: trained only with train_on_inputs; its end-of-turn tokens with train_on_eos: all
                    marks = [self.train_on_inputs or (self.train_on_eos == "all" and t == self.eot_id) for t in piece]
            ids += piece
            trained += marks
        return Encoded(np.asarray(ids, dtype=np.int32), np.asarray(trained, dtype=bool))


# ---- rows ------------------------------------------------------------------------------------------

def dataset_files(entry: dict) -> list[Path]:
    path = Path(entry["path"])
    if path.is_file():
        return [path]
    if path.is_dir():
        files = entry.get("data_files")
        if files:
            files = [files] if isinstance(files, str) else files
            return [path / f for f in files]
        found = sorted(path.glob("*.jsonl"))
        if found:
            return found
    raise ConfigError(f"dataset {entry['path']!r}: no such file, or a folder without .jsonl files "
                      f"(build one: `{PROGS['training.data']} build --sources DIR --out DIR --blend v8`)")


def read_rows(entry: dict) -> list[list[dict]]:
    """The messages of every row of one dataset entry, roles/contents read through its mappings."""
    field = entry["field_messages"]
    role_key = entry["message_property_mappings"]["role"]
    content_key = entry["message_property_mappings"]["content"]
    role_map = {}
    for target, sources in (entry.get("roles") or {}).items():
        for source in sources if isinstance(sources, list) else [sources]:
            role_map[source] = target
    rows = []
    for path in dataset_files(entry):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        records = json.loads(text) if path.suffix == ".json" and text.lstrip().startswith("[") else \
            [json.loads(line) for line in text.splitlines() if line.strip()]
        for n, rec in enumerate(records, 1):
            msgs = rec.get(field) if isinstance(rec, dict) else None
            if not isinstance(msgs, list):
                raise ConfigError(f"{path}: row {n} has no {field!r} list")
            rows.append([{"role": role_map.get(m[role_key], m[role_key]), "content": m[content_key]} for m in msgs])
    return rows


@dataclass
class TokenStats:
    rows: int = 0
    kept: int = 0
    too_long: int = 0
    nothing_trained: int = 0
    tokens: int = 0
    trained_tokens: int = 0
    longest: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def tokenize_rows(datasets: Sequence[dict], tokenizer, train_on_inputs: bool, sequence_len: int,
                  progress: bool = True) -> tuple[list[Encoded], TokenStats]:
    """``progress``: a bar per dataset where ``utilities.progress.enabled()`` (the summary line is the caller's)."""
    stats = TokenStats()
    out: list[Encoded] = []
    for entry in datasets:
        builder = LabelBuilder(tokenizer, train_on_inputs, entry["train_on_eos"])
        rows = read_rows(entry)
        for messages in bar(rows, desc=f"tokenize {Path(entry['path']).name}",
                            disable=not (progress and enabled()), mininterval=2.0):
            stats.rows += 1
            enc = builder.encode(messages)
            stats.longest = max(stats.longest, len(enc.ids))
            if len(enc.ids) > sequence_len:  # axolotl drops them: a cut row would lose its answer
                stats.too_long += 1
                continue
            if not enc.trained.any():
                stats.nothing_trained += 1
                continue
            out.append(enc)
            stats.kept += 1
            stats.tokens += len(enc.ids)
            stats.trained_tokens += int(enc.trained.sum())
    return out, stats


class ChatDataset:
    """Tokenized rows for the Trainer (a map-style dataset)."""

    def __init__(self, rows: Sequence[Encoded]):
        self.rows = list(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        row = self.rows[i]
        return {"input_ids": row.ids, "trained": row.trained}


class Collator:
    """Right-pads a micro batch: pad id / attention 0 / label -100 on padding."""

    def __init__(self, pad_id: int, pad_to: int | None = None):
        self.pad_id = pad_id
        self.pad_to = pad_to

    def __call__(self, batch: Sequence[dict]) -> dict:
        import torch

        width = self.pad_to or max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            row = torch.as_tensor(b["input_ids"], dtype=torch.long)
            ids[i, :n] = row
            mask[i, :n] = 1
            labels[i, :n] = torch.where(torch.as_tensor(b["trained"]), row, torch.tensor(IGNORE_INDEX))
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


# ---- model -----------------------------------------------------------------------------------------

def _world() -> tuple[int, int]:
    return int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _deepspeed_stage(cfg: dict) -> int | None:
    ds = cfg.get("deepspeed")
    if not ds:
        return None
    conf = ds if isinstance(ds, dict) else json.loads(Path(ds).read_text(encoding="utf-8"))
    return int(conf.get("zero_optimization", {}).get("stage", 0))


def _uses_fsdp(cfg: dict) -> bool:
    return bool(cfg.get("fsdp") or cfg.get("fsdp_config") or cfg.get("fsdp_version"))


def model_dtype(cfg: dict):
    import torch

    bf16 = cfg["bf16"]
    if bf16 == "auto":
        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if bf16:
        return torch.bfloat16
    return torch.float16 if cfg["fp16"] else torch.float32


def check_hardware(cfg: dict) -> None:
    """Fail early, before any weight is read, on a 4-bit config without CUDA or bitsandbytes."""
    import torch

    if not cfg["load_in_4bit"]:
        return
    if not torch.cuda.is_available():
        raise ConfigError(
            "load_in_4bit: true needs a CUDA GPU (bitsandbytes NF4 kernels) and this machine has none. "
            "On a CPU use a config with load_in_4bit: false and adapter: lora, as "
            "training/configs/tiny_cpu.yaml does, or --set load_in_4bit=false adapter=lora."
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        raise ConfigError("load_in_4bit: true needs bitsandbytes: pip install bitsandbytes") from exc


def quantization_config(cfg: dict):
    """NF4 with double quantization, bf16 compute (QLoRA's recipe; axolotl's bnb defaults)."""
    from transformers import BitsAndBytesConfig

    compute = model_dtype(cfg)
    kwargs = dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                  bnb_4bit_compute_dtype=compute)
    if _uses_fsdp(cfg) or _deepspeed_stage(cfg) == 3:
        # FSDP / ZeRO-3 shard parameters as floats: 4-bit weights stored in the compute dtype can be sharded
        kwargs["bnb_4bit_quant_storage"] = compute
    kwargs.update(cfg.get("bnb_config_kwargs") or {})
    return BitsAndBytesConfig(**kwargs)


def linear_target_names(model) -> list[str]:
    """The leaf names of every linear layer of the decoder (4-bit ones included), ``lm_head`` excluded."""
    import torch

    kinds: tuple[type, ...] = (torch.nn.Linear,)
    try:
        import bitsandbytes as bnb

        kinds += (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt)
    except ImportError:
        pass
    output = model.get_output_embeddings()
    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
             if isinstance(module, kinds) and module is not output and not name.endswith("lm_head")}
    return sorted(names)


def load_base(cfg: dict):
    """The base model in the config's dtype, or 4-bit NF4 (CUDA) for QLoRA."""
    import torch
    from transformers import AutoModelForCausalLM

    check_hardware(cfg)
    dtype = model_dtype(cfg)
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": cfg["trust_remote_code"]}
    if cfg["flash_attention"] and torch.cuda.is_available():
        kwargs["attn_implementation"] = "flash_attention_2"
    elif cfg["sdp_attention"]:
        kwargs["attn_implementation"] = "sdpa"
    local_rank, world = _world()
    sharded = _uses_fsdp(cfg) or _deepspeed_stage(cfg) == 3
    if cfg["load_in_4bit"]:
        kwargs["quantization_config"] = quantization_config(cfg)
    if torch.cuda.is_available() and not sharded:
        # one whole model per process (DDP / ZeRO-2); a single process spreads it over its GPUs
        kwargs["device_map"] = {"": local_rank} if world > 1 else "auto"
    model = AutoModelForCausalLM.from_pretrained(cfg["base_model"], **kwargs)
    model.config.use_cache = False  # no KV cache while training (and gradient checkpointing needs it off)
    if cfg["load_in_4bit"]:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=bool(cfg["gradient_checkpointing"]),
            gradient_checkpointing_kwargs=_gc_kwargs(cfg),
        )
    return model


def _gc_kwargs(cfg: dict) -> dict:
    return dict(cfg.get("gradient_checkpointing_kwargs") or {"use_reentrant": False})


def lora_config(cfg: dict, model):
    from peft import LoraConfig

    targets = list(cfg["lora_target_modules"] or [])
    if cfg["lora_target_linear"]:
        targets = sorted(set(targets) | set(linear_target_names(model)))
    return LoraConfig(
        r=cfg["lora_r"], lora_alpha=cfg["lora_alpha"], lora_dropout=cfg["lora_dropout"],
        target_modules=targets, modules_to_save=cfg["lora_modules_to_save"], bias="none",
        use_rslora=bool(cfg["peft_use_rslora"]), task_type="CAUSAL_LM",
    )


def load_model_for_training(cfg: dict):
    """The trainable PEFT model: a new LoRA on ``base_model``, or ``lora_model_dir``'s adapter continued."""
    from peft import PeftModel, get_peft_model

    model = load_base(cfg)
    if cfg["lora_model_dir"]:
        model = PeftModel.from_pretrained(model, cfg["lora_model_dir"], is_trainable=True)
        loaded = model.peft_config["default"]
        if (loaded.r, loaded.lora_alpha) != (cfg["lora_r"], cfg["lora_alpha"]):
            print(f"note: lora_model_dir's adapter has r={loaded.r}, alpha={loaded.lora_alpha}; "
                  f"it is continued as it is (the config says r={cfg['lora_r']}, alpha={cfg['lora_alpha']})",
                  file=sys.stderr)
    else:
        model = get_peft_model(model, lora_config(cfg, model))
    return model


# ---- trainer ---------------------------------------------------------------------------------------

def training_arguments(cfg: dict, output_dir: Path, progress: bool = True):
    import torch
    from transformers import TrainingArguments

    cuda = torch.cuda.is_available()
    bf16 = model_dtype(cfg) == torch.bfloat16
    if cfg["save_strategy"]:
        save_strategy = cfg["save_strategy"]
    else:
        save_strategy = "steps" if cfg["save_steps"] else "epoch"
    warmup: float = 0
    if cfg["warmup_steps"] is not None:
        warmup = int(cfg["warmup_steps"])
    elif cfg["warmup_ratio"] is not None:
        warmup = float(cfg["warmup_ratio"])  # transformers 5: a float below 1 is a ratio of all steps
    kwargs: dict[str, Any] = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=cfg["micro_batch_size"],
        gradient_accumulation_steps=cfg["gradient_accumulation_steps"],
        num_train_epochs=cfg["num_epochs"],
        max_steps=cfg["max_steps"] if cfg["max_steps"] else -1,
        learning_rate=cfg["learning_rate"],
        lr_scheduler_type=cfg["lr_scheduler"] or "cosine",
        lr_scheduler_kwargs=cfg["lr_scheduler_kwargs"] or {},
        warmup_steps=warmup,
        optim=cfg["optimizer"],
        weight_decay=cfg["weight_decay"],
        bf16=bool(bf16 and cuda),
        fp16=bool(cfg["fp16"] and cuda),
        gradient_checkpointing=bool(cfg["gradient_checkpointing"]),
        gradient_checkpointing_kwargs=_gc_kwargs(cfg),
        logging_steps=cfg["logging_steps"],
        logging_first_step=True,
        save_strategy=save_strategy,
        save_steps=cfg["save_steps"] or 500,
        save_total_limit=cfg["save_total_limit"],
        save_only_model=cfg["save_only_model"],
        seed=cfg["seed"],
        report_to="none",
        remove_unused_columns=False,
        # axolotl's shuffle_merged_datasets: false keeps the rows in file order (the blends are shuffled already)
        train_sampling_strategy="random" if cfg["shuffle_merged_datasets"] else "sequential",
        dataloader_num_workers=cfg["dataloader_num_workers"],
        ddp_find_unused_parameters=False,  # every LoRA matrix gets a gradient
        use_cpu=not cuda,
        disable_tqdm=not progress,
    )
    for key, arg in (("adam_beta1", "adam_beta1"), ("adam_beta2", "adam_beta2"), ("adam_epsilon", "adam_epsilon"),
                     ("max_grad_norm", "max_grad_norm"), ("ddp_timeout", "ddp_timeout")):
        if cfg.get(key) is not None:
            kwargs[arg] = cfg[key]
    if cfg["deepspeed"]:
        kwargs["deepspeed"] = cfg["deepspeed"]
    if _uses_fsdp(cfg):
        fsdp_config = dict(cfg["fsdp_config"] or {})
        if cfg["fsdp_version"]:
            fsdp_config.setdefault("version", int(cfg["fsdp_version"]))
        kwargs["fsdp"] = cfg["fsdp"] if cfg["fsdp"] else True
        kwargs["fsdp_config"] = fsdp_config
    if cfg["tf32"] and cuda:
        kwargs["tf32"] = True
    return TrainingArguments(**kwargs)


def _loss_callback(path: Path, is_main):
    from transformers import TrainerCallback

    class LossLog(TrainerCallback):
        """Appends step, loss, learning rate and grad norm of every logged step to a CSV file."""

        def __init__(self):
            self.rows: list[dict] = []

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "loss" not in logs or not is_main():
                return
            row = {"step": state.global_step, "loss": float(logs["loss"]),
                   "learning_rate": float(logs.get("learning_rate", float("nan"))),
                   "grad_norm": float(logs.get("grad_norm", float("nan")))}
            new = not path.exists()
            with open(path, "a", newline="", encoding="utf-8") as f:
                w = csv.DictWriter(f, fieldnames=list(row))
                if new:
                    w.writeheader()
                w.writerow(row)
            self.rows.append(row)

    return LossLog()


def _trim_loss_log(partial: Path, resume: str | bool) -> None:
    path = partial / LOSS_LOG
    steps = list(checkpoint_steps(partial))
    if isinstance(resume, str):
        tail = Path(resume).name.split("-")[-1]
        steps = [int(tail)] if tail.isdigit() else steps
    if not path.exists():
        return
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    keep = [r for r in rows if steps and int(r["step"]) <= max(steps)]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["step", "loss", "learning_rate", "grad_norm"])
        w.writeheader()
        w.writerows(keep)


def _read_losses(path: Path) -> list[float]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


# ---- manifest --------------------------------------------------------------------------------------

def describe_input(path_or_id: str | Path | None) -> dict | None:
    """{"path", "sha256": {file: hash}} of a file or folder; a hub id is looked up in the local cache."""
    if not path_or_id:
        return None
    path = Path(path_or_id)
    if not path.exists():
        try:
            from huggingface_hub import snapshot_download

            path = Path(snapshot_download(str(path_or_id), local_files_only=True))
        except Exception:  # noqa: BLE001 - not on disk: recorded by name only
            return {"path": str(path_or_id), "sha256": None}
    return folder_record(path, path_label=path_or_id)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# ---- main ------------------------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path, help="axolotl-format YAML (training/configs/*.yaml)")
    parser.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="override config keys (dotted for nesting: datasets.0.path=FILE); values read as YAML")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output_dir")
    parser.add_argument("--quiet", action="store_true", help="no progress bars, even on a terminal")
    add_flag(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    """Fine-tune as the config says; returns the manifest (also written to ``output_dir/manifest.json``)."""
    args = parse_args(argv)
    apply_flag(args)
    start = time.time()
    need_file(args.config, "CONFIG", "an axolotl-format YAML", hint="training/configs/*.yaml, e.g. tiny_cpu.yaml on a CPU")
    raw = load_config(args.config, args.overrides)
    cfg, notes = resolve_config(raw)
    for note in notes:
        print(f"training.finetune: {note}", file=sys.stderr)
    check_hardware(cfg)  # before anything heavy: a 4-bit config on a CPU stops here

    out = Path(cfg["output_dir"])
    partial = partial_path(out)
    local_rank, world = _world()
    is_main = local_rank == 0 and int(os.environ.get("RANK", 0)) == 0
    refuse_existing(out, args.overwrite, "output_dir")  # every process, before anything heavy: a finished run stays
    resume = cfg["resume_from_checkpoint"] or (True if cfg["auto_resume_from_checkpoints"] else None)
    progress = not args.quiet and enabled()  # bars: a terminal (or --progress), and not --quiet
    with quiet_library_bars(quiet=not progress):  # transformers' own bars (loading the weights), put back after
        return _train(args, cfg, out, partial, start, progress, local_rank, world, is_main, resume)


def _train(args, cfg: dict, out: Path, partial: Path, start: float, progress: bool, local_rank: int, world: int,
           is_main: bool, resume) -> dict:
    import torch
    from transformers import AutoTokenizer, Trainer

    # the local inputs are fingerprinted before they are read; the base model once it is loaded (a hub id
    # is then in the local cache), by the main process only
    inputs: dict[str, Any] = {}
    if is_main:
        inputs["config"] = describe_input(args.config)
        if cfg["lora_model_dir"]:
            inputs["lora_model_dir"] = describe_input(cfg["lora_model_dir"])
        for i, entry in enumerate(cfg["datasets"]):
            for j, path in enumerate(dataset_files(entry)):
                inputs[f"dataset_{i}_{j}"] = describe_input(path)

    tokenizer = AutoTokenizer.from_pretrained(cfg.get("tokenizer_config") or cfg["base_model"],
                                              trust_remote_code=cfg["trust_remote_code"])
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows, stats = tokenize_rows(cfg["datasets"], tokenizer, cfg["train_on_inputs"], cfg["sequence_len"],
                                progress=progress and is_main)
    if is_main:
        print(f"training.finetune: {stats.kept} of {stats.rows} rows, {stats.trained_tokens:,} of {stats.tokens:,} "
              f"tokens trained; dropped {stats.too_long} longer than sequence_len {cfg['sequence_len']} "
              f"(longest {stats.longest}), {stats.nothing_trained} with nothing to train", file=sys.stderr)
    if not rows:
        raise ConfigError("no training rows left (all longer than sequence_len, or the files are empty)")

    # the arguments before the model: under DeepSpeed ZeRO-3 the weights load inside its context
    targs = training_arguments(cfg, partial, progress=progress)
    model = load_model_for_training(cfg)
    if is_main:
        model.print_trainable_parameters()
        if partial.exists() and not resume:
            print(f"training.finetune: {partial} holds an unfinished run; removing it and starting over "
                  "(resume_from_checkpoint: true continues it instead)", file=sys.stderr)
    # training runs in output_dir.partial (the main process creates and renames it; the others write
    # their shards of each checkpoint into it); a failed run leaves it, with its checkpoints, to resume
    folder = (step_output(out, args.overwrite, resume=bool(resume), keep_failed=True) if is_main
              else contextlib.nullcontext(partial))
    with folder:
        if is_main and resume:
            _trim_loss_log(partial, resume)  # steps after the checkpoint are trained (and logged) again
        loss_log = _loss_callback(partial / LOSS_LOG, lambda: is_main)
        trainer = Trainer(
            model=model, args=targs, train_dataset=ChatDataset(rows),
            data_collator=Collator(pad_id, cfg["sequence_len"] if cfg["pad_to_sequence_len"] else None),
            processing_class=tokenizer, callbacks=[loss_log],
        )
        result = trainer.train(resume_from_checkpoint=resume)
        trainer.save_model(str(partial))  # the final adapter: output_dir is itself a PEFT folder
        if not trainer.is_world_process_zero():
            return {}

        checkpoints = [p for _, p in sorted(checkpoint_steps(partial).items())]
        peft_cfg = model.peft_config["default"]
        params = _jsonable({
            **{k: v for k, v in cfg.items()},
            "lora_target_modules_resolved": sorted(peft_cfg.target_modules),
            "end_of_turn_token": tokenizer.convert_ids_to_tokens(end_of_turn(tokenizer)[0]),
            "overrides": list(args.overrides),
            "world_size": world,
            "torch": torch.__version__,
        })
        manifest = write_manifest(
            partial, "finetune", {"base_model": describe_input(cfg["base_model"]), **inputs}, params, start, out,
            # output_dir itself is the final adapter (a PEFT folder): the adapter files of it and of every
            # checkpoint are hashed, not the optimizer states
            only=[p.relative_to(partial).as_posix()
                  for d in (partial, *checkpoints) for p in sorted(d.glob("adapter_*"))],
            outputs={
                "checkpoints": [p.name for p in checkpoints],
                "loss_log": LOSS_LOG,
                "global_step": int(result.global_step),
                "train_loss": float(result.training_loss),
                "losses": _read_losses(partial / LOSS_LOG),  # every step, a resumed run's earlier steps included
                "rows": stats.as_dict(),
            },
        )
    print(f"training.finetune: {out} ({len(checkpoints)} checkpoints, {result.global_step} steps, "
          f"{manifest['seconds']} s)", file=sys.stderr)
    return manifest


if __name__ == "__main__":
    run_command(main, prog=PROG)  # a ConfigError or an output_dir that exists: one line, exit status 2
