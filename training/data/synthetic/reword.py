"""Method 3, re-word instructions: per instruction template of a registered builder, N paraphrases
that keep every ``{field}`` exactly once; accepted ones are saved to ``rewordings.json`` and read
back by :func:`load_rewordings`.
"""
from __future__ import annotations

import json
import os
import string
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from training.data.registry import Builder
from training.data.rows import one_line
from training.data.synthetic.extract import Invalid, norm, parse_json
from training.data.synthetic.jobs import Request, SyntheticJob, teacher_request
from training.data.synthetic.prompts import MAX_NEW_TOKENS, REWORD_PROMPT
from training.data.synthetic.results import MethodReport
from utilities.tasks import get_task


_FORMATTER = string.Formatter()


def _field(name: str, spec: str | None, conversion: str | None) -> str:
    return "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"


def placeholders(template: str) -> list[str]:
    """The replacement fields of a format string, in order, with their conversion and spec
    (``{name}``, ``{name!r}``, ``{name:>5}``); ValueError for a malformed one."""
    return [_field(name, spec, conv) for _, name, spec, conv in _FORMATTER.parse(template) if name is not None]


def _alone_on_line(template: str) -> set[str]:
    """Placeholders that fill a whole line of the template (nothing else on that line)."""
    parts = list(_FORMATTER.parse(template))
    out = set()
    for i, (before, name, spec, conv) in enumerate(parts):
        if name is None:
            continue
        starts = before.endswith("\n") or (i == 0 and before == "")
        if i + 1 == len(parts):
            ends = True
        else:
            after, next_name = parts[i + 1][0], parts[i + 1][1]
            ends = after.startswith("\n") or (after == "" and next_name is None)
        if starts and ends:
            out.add(_field(name, spec, conv))
    return out


def check_rewording(candidate, original: str, taken: Iterable[str]) -> str:
    """The candidate, or Invalid: not a string, empty, malformed braces, other placeholders than the
    original's (each exactly once), a whole-line placeholder no longer alone on its line, equal to
    an original or to another accepted wording (``taken``)."""
    if not isinstance(candidate, str):
        raise Invalid("not a string")
    if not candidate.strip():
        raise Invalid("empty")
    try:
        fields = placeholders(candidate)
    except ValueError:
        raise Invalid("malformed braces") from None
    want = placeholders(original)
    if Counter(fields) != Counter(want):
        missing = set(want) - set(fields)
        extra = set(fields) - set(want)
        if missing:
            raise Invalid("a placeholder is missing")
        if extra:
            raise Invalid("a new placeholder")
        raise Invalid("a placeholder is repeated")
    if not _alone_on_line(original) <= _alone_on_line(candidate):
        raise Invalid("a placeholder is no longer alone on its line")
    if norm(candidate) in {norm(t) for t in taken}:
        raise Invalid("same as an original or another rewording")
    return candidate


def reword_request(builder: type[Builder], index: int, n: int,
                   max_new_tokens: int = MAX_NEW_TOKENS["reword"]) -> Request:
    template = builder.instructions[index]
    fields = list(dict.fromkeys(placeholders(template)))
    doc = (builder.__doc__ or "").strip().splitlines()
    user = REWORD_PROMPT.format(
        task=one_line(doc[0]).rstrip(".") if doc else builder.name,
        answer_format=get_task(builder.task_type).answer_format,
        example=fields[0] if fields else "{query}",
        template=json.dumps(template, ensure_ascii=False),
        n=n,
        placeholders=", ".join(fields) if fields else "(none: add none)",
    )
    return teacher_request(f"reword:{builder.name}:{index}", user, max_new_tokens,
                           {"dataset": builder.name, "template": index})


def parse_rewordings(text: str, original: str, taken: Iterable[str], n: int) -> tuple[list[str], Counter]:
    """The accepted wordings of a JSON list (at most ``n``) and the reasons of the rejected ones;
    Invalid when the output is not a JSON list."""
    values = parse_json(text, list)
    accepted: list[str] = []
    rejected: Counter = Counter()
    taken = list(taken)
    for value in values:
        if len(accepted) == n:
            break
        try:
            accepted.append(check_rewording(value, original, [*taken, *accepted]))
        except Invalid as why:
            rejected[str(why)] += 1
    return accepted, rejected


def run_reword(job: SyntheticJob, builders: Sequence[type[Builder]], n: int = 3,
               out_dir: str | os.PathLike | None = None, limit: int | None = None,
               max_new_tokens: int = MAX_NEW_TOKENS["reword"]) -> tuple[dict[str, list[list[str]]], MethodReport]:
    """``n`` rewordings asked per instruction template; accepted ones per dataset and template,
    written to ``out_dir/rewordings.json``."""
    report = MethodReport("reword")
    plan = [(b, i) for b in builders for i in range(len(b.instructions))][:limit]
    requests = [reword_request(b, i, n, max_new_tokens) for b, i in plan]
    result = job.run(requests)
    report.add_job(result.report)
    accepted: dict[str, list[list[str]]] = {b.name: [[] for _ in b.instructions] for b, _ in plan}
    for (b, i), text in zip(plan, result.outputs):
        if text is None:
            report.invalid["prompt too long for the context"] += 1
            continue
        taken = [*b.instructions, *(w for ws in accepted[b.name] for w in ws)]
        try:
            good, rejected = parse_rewordings(text, b.instructions[i], taken, n)
        except Invalid as why:
            report.invalid[str(why)] += 1
            continue
        accepted[b.name][i] = good
        report.accepted += len(good)
        report.invalid.update(rejected)
    for name, per in accepted.items():
        report.counts[name] = sum(map(len, per))
    if out_dir is not None:
        path = Path(out_dir) / "rewordings.json"
        by_name = {b.name: b for b, _ in plan}
        # datasets reworded by earlier runs into the same folder stay; this run's replace their entries
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        data.update({name: {"instructions": list(by_name[name].instructions), "reworded": per}
                     for name, per in accepted.items()})
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        report.outputs[str(path)] = f"{report.accepted} wordings for {len(data)} datasets"
    return accepted, report


def load_rewordings(path: str | os.PathLike) -> dict[str, tuple[str, ...]]:
    """dataset name -> its accepted new wordings (all templates, in order)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {name: tuple(w for ws in entry["reworded"] for w in ws) for name, entry in data.items()}
