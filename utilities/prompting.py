"""Render a question the way the model sees it, at inference and in training: one function.

The tokenizer's own chat template (never a hand-written ChatML string) with the system prompt
"You are a helpful online shopping assistant. Your task is {label}." The training-data builders
call :func:`render` with the answer, so a training row and the inference prompt of the same
question are byte-identical up to the answer.

:func:`fit_prompt` shortens a prompt that would not fit the context: it keeps the head (the
instruction) and the end (the options and the answer cue) and cuts the middle.

User text cannot forge chat turns: the chat is encoded by :func:`utilities.special_tokens.encode_chat`,
which reads a special-token string inside the user's text as the plain text it is.
"""
from __future__ import annotations

from dataclasses import dataclass

from utilities.special_tokens import encode_chat, encode_plain
from utilities.tasks import get_task

SYSTEM_PROMPT = "You are a helpful online shopping assistant. Your task is {label}."
CUT_MARKER = "\n...\n"
HEAD_SHARE = 4  # a shortened prompt keeps 1/4 of its budget from the start ...
HEAD_MAX_TOKENS = 256  # ... but no more than this: instructions are < 150 tokens in the dev set


def system_prompt(task_type: str) -> str:
    return SYSTEM_PROMPT.format(label=get_task(task_type).label)


def messages(prompt: str, task_type: str, answer: str | None = None) -> list[dict[str, str]]:
    out = [
        {"role": "system", "content": system_prompt(task_type)},
        {"role": "user", "content": prompt},
    ]
    if answer is not None:
        out.append({"role": "assistant", "content": answer})
    return out


def render(tokenizer, prompt: str, task_type: str, answer: str | None = None) -> str:
    """The chat text; with ``answer`` the full training row, without it the generation prompt."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            f"tokenizer {getattr(tokenizer, 'name_or_path', tokenizer)!r} has no chat template; "
            "use an instruct model's folder (its tokenizer_config.json must hold 'chat_template')"
        )
    return tokenizer.apply_chat_template(
        messages(prompt, task_type, answer), tokenize=False, add_generation_prompt=answer is None
    )


@dataclass(frozen=True)
class FittedPrompt:
    text: str  # the rendered chat text that goes to the engine
    ids: list[int]  # its token ids
    shortened: bool
    prompt_tokens: int | None = None  # tokens of the user prompt, counted when it had to be shortened


def fit_prompt(tokenizer, prompt: str, task_type: str, max_tokens: int) -> FittedPrompt:
    """Render ``prompt``; if the chat text exceeds ``max_tokens``, cut the middle of the prompt."""
    text = render(tokenizer, prompt, task_type)
    ids = encode_chat(tokenizer, messages(prompt, task_type), True, text)
    if len(ids) <= max_tokens:
        return FittedPrompt(text, ids, False)
    content = encode_plain(tokenizer, prompt)  # only a prompt that must be cut is encoded on its own
    overhead = len(ids) - len(content) + len(encode_plain(tokenizer, CUT_MARKER))
    excess = 0
    for _ in range(8):  # re-encoding the joined text can merge tokens at the seams: retry tighter
        room = max_tokens - overhead - excess
        if room < 2:
            raise ValueError(
                f"a context of {max_tokens} tokens cannot hold the chat template of a {task_type} prompt"
            )
        head = min(room // HEAD_SHARE, HEAD_MAX_TOKENS)
        tail = room - head
        short = (
            tokenizer.decode(content[:head]) + CUT_MARKER + tokenizer.decode(content[len(content) - tail:])
        )
        text = render(tokenizer, short, task_type)
        ids = encode_chat(tokenizer, messages(short, task_type), True, text)
        if len(ids) <= max_tokens:
            return FittedPrompt(text, ids, True, len(content))
        excess += len(ids) - max_tokens + 4
    raise ValueError(f"could not shorten a {len(content)}-token prompt to {max_tokens} tokens")
