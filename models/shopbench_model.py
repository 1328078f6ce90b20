"""ShopBenchModel: route -> render -> constrain -> engine -> tidy, behind the grader's contract.

Each prompt is routed to a task type (:mod:`utilities.routing`), rendered with that type's
system prompt through the tokenizer's chat template and shortened to fit the context
(:mod:`utilities.prompting`), given the type's decode spec, answered by the engine in sub-batches
of one task type, and tidied so that the official parser accepts the answer.

Nothing a caller sends sinks a batch. Inputs are read by one rule each, every odd case logged:

- prompts: ``batch["prompt"]`` may be any iterable (one that raises partway keeps what it gave);
  a non-string prompt is read as text (``None`` as empty, bytes as UTF-8, an object whose ``str()``
  raises by its ``repr()``, else empty); lone surrogates become U+FFFD, which every tokenizer reads;
- ``is_multiple_choice`` (:func:`read_flags`): a bool, a numpy or pandas scalar, a number (0 or
  1) or a string ("True"/"False", "1"/"0", "yes"/"no", any case), or one flag per prompt as a
  list, tuple, numpy array or pandas Series. A container of the wrong length is read as one flag
  when all its flags agree and as "not multiple choice" otherwise; anything unreadable is read as
  "not multiple choice" (the router then reads the prompt's own words).

Every batch keeps to its time budget (``models.settings.batch_budget_s``: the grader's 10 s per
question x the batch size x ``BUDGET_SHARE`` 0.8). Its deadline is shared among the engine calls
in proportion to their prompts; each call passes its deadline to the engine, which stops decoding
there and returns what each request has (``Engine.last_cut``), and runs on a watchdog thread that
gives up on a call ``DEADLINE_SLACK_S`` after its deadline (a hung request, an engine that ignores
deadlines): its prompts get their fallbacks and later calls wait their turn within their own
deadlines. A retry after an engine error is made only while time is left. Every cut is logged and
noted (``Note.cut``).

An overlong prompt is shortened, an engine error (or a wrong number of replies) on a sub-batch
falls back to one call per prompt, and a prompt that still fails, or could not be prepared, or
whose reply holds nothing usable (blank, only labels or punctuation, no listed number), or whose
tidy step raised, gets its task's fallback answer (``Task.fallback``: drawn from the prompt,
non-empty, and it parses). Every such step is logged on the ``shopbench`` logger, and
``ShopBenchModel.last_notes`` says per prompt what happened.
"""
from __future__ import annotations

import inspect
import logging
import queue
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

from models.base_model import ShopBenchBaseModel
from models.engines import load_engine
from models.settings import DEADLINE_SLACK_S, batch_budget_s, batch_size
from utilities.decoding import DecodeSpec
from utilities.prompting import fit_prompt
from utilities.routing import Route, route
from utilities.tasks.base import BLANK_PROMPT_ANSWER, analyse

log = logging.getLogger("shopbench")

@dataclass(frozen=True)
class Note:
    """What happened to one prompt of the last ``batch_predict`` (``ShopBenchModel.last_notes``)."""

    task_type: str  # the routed task type
    shortened: bool = False  # the prompt was cut to fit the context
    raw_empty: bool = False  # the engine's reply was None (an error), empty or whitespace
    fallback: bool = False  # the task's fallback gave the answer, not the model's reply
    cut: bool = False  # the batch's deadline cut the reply short (or left no time to decode it)


@dataclass(frozen=True)
class Prepared:
    """One prompt ready for the engine."""

    route: Route
    spec: DecodeSpec
    ids: list[int]
    shortened: bool


class DeadlineExceeded(Exception):
    """An engine call had no time left, or ran past its deadline and was given up."""


class _Job:
    def __init__(self, fn) -> None:
        self.fn, self.done, self.abandoned = fn, threading.Event(), False
        self.result = self.error = None


class Watchdog:
    """Engine calls on one daemon thread, waited for until a deadline.

    A call that overruns is abandoned: the caller goes on (its prompts get fallbacks) while the call
    finishes, or hangs, on the thread; calls queued behind it wait within their own deadlines, and
    one abandoned before it started is skipped. One thread, so the engine is never used twice at once.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job.abandoned:
                continue
            try:
                job.result = job.fn()
            except BaseException as err:  # noqa: BLE001 - handed to the caller
                job.error = err
            job.done.set()

    def run(self, fn, timeout: float):
        """``fn()``, or ``DeadlineExceeded`` once ``timeout`` seconds pass."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="shopbench-engine", daemon=True)
            self._thread.start()
        job = _Job(fn)
        self._jobs.put(job)
        if not job.done.wait(max(0.0, timeout)):
            job.abandoned = True
            raise DeadlineExceeded(f"the engine call did not return within {timeout:.1f} s")
        if job.error is not None:
            raise job.error
        return job.result


def _share(deadline: float, part: int, whole: int) -> float:
    """The deadline of ``part`` of ``whole`` prompts left: the time left, shared in proportion."""
    now = time.monotonic()
    return now + max(0.0, deadline - now) * part / max(1, whole)


class ShopBenchModel(ShopBenchBaseModel):
    def __init__(self, engine=None) -> None:
        super().__init__()
        self.engine = engine if engine is not None else load_engine()
        self.batch_size = batch_size()
        self.last_notes: list[Note] = []  # one per prompt of the last batch_predict, in order
        self.watchdog = Watchdog()
        try:  # an engine of ours takes a deadline; another one (a caller's) is still watched
            self._takes_deadline = "deadline" in inspect.signature(self.engine.generate).parameters
        except (TypeError, ValueError):
            self._takes_deadline = False

    def get_batch_size(self) -> int:
        return self.batch_size

    # --- one prompt ---------------------------------------------------------------------------
    def prepare(self, prompt: str, is_multiple_choice: bool) -> Prepared:
        r = route(prompt, is_multiple_choice)
        spec = r.task.decode_spec(r.info, self.engine.table)
        budget = self.engine.max_model_len - spec.max_new_tokens
        fitted = fit_prompt(self.engine.tokenizer, prompt, r.task_type, budget)
        return Prepared(r, spec, fitted.ids, fitted.shortened)

    # --- the grader's call --------------------------------------------------------------------
    def batch_predict(self, batch: dict[str, Any], is_multiple_choice: bool) -> list[str]:
        started = time.monotonic()
        self.last_notes = []
        self._cut: set[int] = set()  # ids of Prepared items whose reply the deadline cut
        prompts = _prompts_of(batch)
        deadline = started + batch_budget_s(len(prompts))
        flags = read_flags(is_multiple_choice, len(prompts))
        answers: list[str | None] = [None] * len(prompts)
        notes: list[Note | None] = [None] * len(prompts)
        prepared: list[Prepared | None] = []
        for i, prompt in enumerate(prompts):
            try:
                prepared.append(self.prepare(prompt, flags[i]))
            except Exception:  # noqa: BLE001 - one bad prompt must not sink the batch
                log.exception("prompt %d could not be prepared; it gets its task's fallback answer", i)
                prepared.append(None)
        groups: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(prepared):
            if p is not None:
                groups[p.route.task_type].append(i)
        shortened = sum(1 for p in prepared if p is not None and p.shortened)
        log.info(
            "batch of %d (is_multiple_choice=%s): %s%s",
            len(prompts), _flag_summary(flags), dict(Counter({t: len(ix) for t, ix in groups.items()})),
            f", {shortened} shortened to fit the context" if shortened else "",
        )
        left = sum(len(ix) for ix in groups.values())
        for task_type, indices in groups.items():
            raw = self._generate([prepared[i] for i in indices], _share(deadline, len(indices), left))
            left -= len(indices)
            for i, text in zip(indices, raw):
                p = prepared[i]
                answers[i], used = _answer(p, text)
                notes[i] = Note(task_type, p.shortened, not isinstance(text, str) or not text.strip(), used,
                                id(p) in self._cut)
        for i, p in enumerate(prepared):
            if p is None:
                task_type, answers[i] = _fallback(prompts[i], flags[i])
                notes[i] = Note(task_type, raw_empty=True, fallback=True)
        self.last_notes = [n for n in notes if n is not None]  # every prompt has its note by now
        cut = sum(n.cut for n in self.last_notes)
        if cut:
            log.warning("deadline: %d of %d replies cut short; the batch took %.1f s of its %.1f s budget",
                        cut, len(prompts), time.monotonic() - started, deadline - started)
        fallbacks = [i for i, n in enumerate(self.last_notes) if n.fallback]
        if fallbacks:
            log.warning(
                "%d of %d answers are their task's fallback (%d empty or failed replies): %s",
                len(fallbacks), len(prompts), sum(self.last_notes[i].raw_empty for i in fallbacks),
                ", ".join(f"{i} {self.last_notes[i].task_type} {answers[i][:40]!r}" for i in fallbacks),
            )
        return [a if isinstance(a, str) else "" for a in answers]

    def _generate(self, items: Sequence[Prepared], deadline: float) -> list[str | None]:
        """Raw texts for prompts of one task type by ``deadline``; on an engine error, one call per
        prompt while time is left; ``None`` for a prompt that gets no reply."""
        out: list[str | None] = []
        for start in range(0, len(items), self.batch_size):
            chunk = items[start:start + self.batch_size]
            try:
                out.extend(self._call(chunk, _share(deadline, len(chunk), len(items) - start)))
                continue
            except DeadlineExceeded as err:  # no time is left for retries either
                log.warning("deadline: %d %s prompts get their fallback answers (%s)", len(chunk),
                            chunk[0].route.task_type, err)
                self._cut.update(id(p) for p in chunk)
                out.extend([None] * len(chunk))
                continue
            except Exception as err:  # noqa: BLE001
                log.exception("engine failed on a sub-batch of %d (%s: %s); retrying one prompt at a time",
                              len(chunk), type(err).__name__, err)
            for k, p in enumerate(chunk):
                if time.monotonic() >= deadline:
                    log.warning("deadline: the budget is spent; %d %s prompts get their fallback answers without "
                                "a retry", len(chunk) - k, p.route.task_type)
                    self._cut.update(id(q) for q in chunk[k:])
                    out.extend([None] * (len(chunk) - k))
                    break
                try:
                    out.extend(self._call([p], _share(deadline, 1, len(items) - start - k)))
                except DeadlineExceeded as err:
                    log.warning("deadline: one %s prompt gets its fallback answer (%s)", p.route.task_type, err)
                    self._cut.add(id(p))
                    out.append(None)
                except Exception as err:  # noqa: BLE001
                    log.exception("engine failed on one %s prompt (%s: %s); it gets the fallback answer",
                                  p.route.task_type, type(err).__name__, err)
                    out.append(None)
        return out

    def _call(self, chunk: Sequence[Prepared], deadline: float) -> list[str | None]:
        """One engine call, on the watchdog, by ``deadline`` (plus ``DEADLINE_SLACK_S``)."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded("no time left in the batch's budget")
        ids, specs = [p.ids for p in chunk], [p.spec for p in chunk]
        kwargs = {"deadline": deadline} if self._takes_deadline else {}
        texts = self.watchdog.run(lambda: self.engine.generate(ids, specs, **kwargs), left + DEADLINE_SLACK_S)
        texts = list(texts)
        if len(texts) != len(chunk):  # a reply per prompt, or none is trusted: which one is missing is unknown
            raise RuntimeError(f"engine returned {len(texts)} texts for {len(chunk)} prompts")
        cut = getattr(self.engine, "last_cut", None) if self._takes_deadline else None
        if isinstance(cut, list) and len(cut) == len(chunk):
            self._cut.update(id(p) for p, c in zip(chunk, cut) if c)
        return texts


def _prompts_of(batch: Any) -> list[str]:
    """The batch's prompts as strings; whatever cannot be read is logged and read as text."""
    if not isinstance(batch, dict) or "prompt" not in batch:
        log.error("batch is not a dict with a 'prompt' list (got %s); answering nothing", type(batch).__name__)
        return []
    prompts = batch["prompt"]
    if isinstance(prompts, (str, bytes)):
        log.warning("batch['prompt'] is one string, not a list; answering it as one prompt")
        prompts = [prompts]
    try:
        iterator = iter(prompts)
    except TypeError:
        log.error("batch['prompt'] is not a list (got %s); answering nothing", type(prompts).__name__)
        return []
    out = []
    while True:
        try:
            p = next(iterator)
        except StopIteration:
            break
        except Exception:  # noqa: BLE001 - a generator that fails partway: answer what it gave
            log.exception("reading batch['prompt'] failed after %d prompts; answering those", len(out))
            break
        out.append(as_text(p, len(out)))
    return out


def as_text(p: Any, i: int = 0) -> str:
    """Prompt ``i`` as a string any tokenizer reads (see the module's rules); odd cases logged."""
    if not isinstance(p, str):
        log.warning("prompt %d is %s, not a string; reading it as text", i, type(p).__name__)
        if p is None:
            p = ""
        elif isinstance(p, (bytes, bytearray)):
            p = bytes(p).decode("utf-8", errors="replace")
        else:
            p = _str_of(p, i)
    try:
        p.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates ("\ud800"): a pair becomes its character, a lone one U+FFFD
        log.warning("prompt %d holds lone surrogates; they are read as U+FFFD", i)
        p = p.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return p


def _str_of(p: Any, i: int) -> str:
    for convert in (str, repr):
        try:
            text = convert(p)
            if isinstance(text, str):
                return text
        except Exception:  # noqa: BLE001 - an object whose __str__ raises
            log.warning("%s() of prompt %d raised", convert.__name__, i, exc_info=True)
    return ""


_TRUE = frozenset(("true", "1", "yes", "y", "t"))
_FALSE = frozenset(("false", "0", "no", "n", "f", "", "none"))


def _flag(value: Any) -> bool | None:
    """One flag by the module's rule; ``None`` when it cannot be read."""
    if isinstance(value, str):
        word = value.strip().lower()
        return True if word in _TRUE else False if word in _FALSE else None
    if value is None:
        return None
    try:
        number = float(value)  # bool, int, numpy and pandas scalars, 0-d arrays
    except (TypeError, ValueError):
        return None
    return True if number == 1 else False if number == 0 else None


def read_flags(flag: Any, n: int) -> list[bool]:
    """``is_multiple_choice`` as one bool per prompt, by the rule in the module docstring."""
    if flag is None or isinstance(flag, (str, bytes, bool, int, float)) or getattr(flag, "ndim", None) == 0:
        one = _flag(flag.decode("utf-8", "replace") if isinstance(flag, bytes) else flag)
        if one is None:
            log.warning("is_multiple_choice=%r is not a flag; read as False", flag)
        elif not isinstance(flag, bool):
            log.info("is_multiple_choice=%r (%s) read as %s", flag, type(flag).__name__, one)
        return [bool(one)] * n
    try:
        items = list(flag.tolist() if hasattr(flag, "tolist") else flag)
    except Exception:  # noqa: BLE001 - neither a flag nor a container of flags
        log.warning("is_multiple_choice of type %s is not a flag; read as False", type(flag).__name__)
        return [False] * n
    read = [_flag(v) for v in items]
    if any(v is None for v in read):
        log.warning("is_multiple_choice holds values that are no flags (%s); they are read as False",
                    ", ".join(repr(v) for v, r in zip(items, read) if r is None)[:200])
    read = [bool(v) for v in read]
    if len(read) == n:
        return read
    agreed = len(set(read)) == 1
    log.warning("is_multiple_choice has %d flags for %d prompts; read as %s for all", len(read), n,
                read[0] if agreed else "False (they disagree)")
    return [read[0] if agreed else False] * n


def _flag_summary(flags: list[bool]) -> str:
    return str(flags[0]) if len(set(flags)) <= 1 and flags else f"{sum(flags)} of {len(flags)} True"


def _answer(p: Prepared, text: str | None) -> tuple[str, bool]:
    """(answer, whether the fallback gave it) for one reply; a tidy step that fails falls back too."""
    try:
        return p.route.task.answer(text, p.route.info)
    except Exception as err:  # noqa: BLE001 - one odd reply must not sink the batch
        log.exception("tidying a %s reply failed (%s: %s); it gets the fallback answer",
                      p.route.task_type, type(err).__name__, err)
    for info in (p.route.info, analyse("")):  # the prompt's fallback, else a blank prompt's (the defaults)
        try:
            return p.route.task.fallback(info), True
        except Exception as err:  # noqa: BLE001
            log.exception("the %s fallback failed (%s: %s)", p.route.task_type, type(err).__name__, err)
    return LAST_RESORT.get(p.route.task_type, BLANK_PROMPT_ANSWER), True


# When even a task's fallback fails: an answer of the task's shape that the official parser accepts.
LAST_RESORT = {"multiple-choice": "0", "ranking": "1, 2, 3, 4, 5", "retrieval": "1, 2, 3",
               "named_entity_recognition": BLANK_PROMPT_ANSWER, "generation": BLANK_PROMPT_ANSWER}


def _fallback(prompt: str, is_multiple_choice: bool) -> tuple[str, str]:
    """(task type, its fallback answer) for a prompt that could not be prepared; the answer parses."""
    try:
        r = route(prompt, bool(is_multiple_choice))
        return r.task_type, r.task.fallback(r.info)
    except Exception:  # noqa: BLE001
        log.exception("fallback routing failed")
        task_type = "multiple-choice" if is_multiple_choice else "generation"
        return task_type, LAST_RESORT[task_type]
