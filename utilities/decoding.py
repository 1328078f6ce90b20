"""Decoding constraints as plain data.

A :class:`DecodeSpec` says how one request may be decoded: how many new tokens, which token ids
are allowed (or ``None`` for all), which ids get an additive logit bias, and which strings stop
the answer. Task modules build specs from a :class:`TokenTable` (the tokenizer's vocabulary,
decoded once), so no token id is ever hard-coded; each engine maps the same spec onto what it
has (a batched logits processor in transformers, ``SamplingParams`` in vLLM).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable, Mapping

from utilities.special_tokens import encode_plain

# vLLM's V1 model runner keeps at most 1024 allowed ids and 1024 logit-bias entries per request
# (vllm/v1/worker/gpu/sample/logit_bias.py: MAX_NUM_ALLOWED_TOKEN_IDS, MAX_NUM_LOGIT_BIAS_TOKENS).
MAX_ALLOWED_TOKEN_IDS = 1024
MAX_LOGIT_BIAS_ENTRIES = 1024

NONE_PENALTY = -100.0  # the winners' -100 on "None"/"none": an unanswerable-looking reply scores 0


@dataclass(frozen=True)
class DecodeSpec:
    """How one request may be decoded (greedy; temperature 0 everywhere)."""

    max_new_tokens: int
    allowed_token_ids: tuple[int, ...] | None = None
    logit_bias: Mapping[int, float] = field(default_factory=dict)
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.allowed_token_ids is not None:
            if not self.allowed_token_ids:
                raise ValueError("allowed_token_ids must not be empty (use None to allow all)")
            if len(self.allowed_token_ids) > MAX_ALLOWED_TOKEN_IDS:
                raise ValueError(
                    f"{len(self.allowed_token_ids)} allowed ids exceed vLLM's limit of "
                    f"{MAX_ALLOWED_TOKEN_IDS} per request"
                )
        if len(self.logit_bias) > MAX_LOGIT_BIAS_ENTRIES:
            raise ValueError(
                f"{len(self.logit_bias)} logit-bias entries exceed vLLM's limit of "
                f"{MAX_LOGIT_BIAS_ENTRIES} per request"
            )


_NUMERIC_PIECE = re.compile(r" ?(?:[0-9]+|,) ?| ")  # "12", " 3", ",", ", ", " ": ASCII, never a newline


class TokenTable:
    """The tokenizer's vocabulary decoded once, with the id sets the task modules need.

    Building it decodes every id (about 0.6 s for Qwen2's 151,646 tokens); engines build one
    and keep it.
    """

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        size = max(tokenizer.get_vocab().values()) + 1  # ids need not start at 0 or be contiguous
        self.texts: list[str] = tokenizer.batch_decode([[i] for i in range(size)])
        self.special_ids: frozenset[int] = frozenset(tokenizer.all_special_ids)
        eos = _as_list(getattr(tokenizer, "eos_token_id", None))
        self.eos_ids: tuple[int, ...] = tuple(dict.fromkeys(eos))

    def add_eos_ids(self, ids: Iterable[int]) -> None:
        """Add end-of-text ids that a model's generation config names besides the tokenizer's."""
        self.eos_ids = tuple(dict.fromkeys([*self.eos_ids, *ids]))
        self.__dict__.pop("numeric_ids", None)

    def ids_whose_text(self, predicate) -> tuple[int, ...]:
        return tuple(
            i for i, s in enumerate(self.texts) if i not in self.special_ids and predicate(s)
        )

    @cached_property
    def digit_ids(self) -> dict[str, tuple[int, ...]]:
        """For each digit 0-9, the ids that read as exactly that digit (with or without a leading space)."""
        table: dict[str, list[int]] = {str(d): [] for d in range(10)}
        for i, s in enumerate(self.texts):
            if i in self.special_ids:
                continue
            t = s.lstrip(" ")
            if len(t) == 1 and t in table and len(s) <= 2:
                table[t].append(i)
        return {d: tuple(ids) for d, ids in table.items()}

    @cached_property
    def numeric_ids(self) -> tuple[int, ...]:
        """Ids of number pieces, commas and single spaces: what a list of indices is made of."""
        return self.ids_whose_text(lambda s: bool(s) and _NUMERIC_PIECE.fullmatch(s) is not None)

    @cached_property
    def comma_ids(self) -> tuple[int, ...]:
        return self.ids_whose_text(lambda s: s.strip() == "," and len(s) <= 2)

    @cached_property
    def none_ids(self) -> tuple[int, ...]:
        """Ids that read as "None"/"none" (any case, optional leading whitespace)."""
        return self.ids_whose_text(lambda s: s.strip().lower() == "none")

    def encode(self, text: str) -> list[int]:
        """``text`` as plain text: a special-token string in it ("<|im_end|>") is read as characters."""
        return encode_plain(self.tokenizer, text)


def _as_list(value) -> list[int]:
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    return [int(v) for v in value]


def none_penalty(table: TokenTable) -> dict[int, float]:
    """The bias every task gets: "None"/"none" is never an answer that scores."""
    return {i: NONE_PENALTY for i in table.none_ids}
