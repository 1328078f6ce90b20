"""Benchmarks of issue #3, item 7: four ratios, each measured in one run on this machine.

Every figure is a ratio of two timings taken in the same process, so the speed of the machine
cancels out; the raw numbers are printed beside it. This is a script that prints measurements,
not a test: nothing fails when a goal is missed, the summary says so.

    (a) pipeline overhead per question: route + decode spec + render/tokenize (fit_prompt) + tidy
        + official parse, real Qwen2 tokenizer, 96 dev questions, against one forward pass of the
        tiny Qwen2 (batch 1, one rendered dev prompt).                   goal: <= 0.5 ms per question
    (b) constrained vs unconstrained decoding of the same 16 dev prompts on the transformers engine,
        both forced to decode the same number of tokens.                goal: <= 1.10x
    (c) questions per second of ShopBenchModel.batch_predict, one batch of 16 vs sixteen batches
        of 1 (tiny Qwen2, CPU transformers engine).                     goal: >= 3x
    (d) scoring 20,000 resampled dev answers with local_evaluation.score.   goal: <= 60 s
    (e) the router alone (analyse + route) on every prompt of the EC-Guide validation suite, written by
        another team (data/ecguide/validation.jsonl), each prompt's best of 3 passes.
                                                                goal: mean <= 100 µs, p99 <= 2 ms

    shopbench bench                          # all five (about 1.5 minutes on 2 cores)
    shopbench bench --only a,d,e             # some of them
    shopbench bench --quick                  # fewer repetitions, 2,000 answers for (d): about 40 s
    shopbench bench --record                 # all five, and the figures kept in git updated

(``.venv/bin/python -m benchmarks.run`` takes the same options.) What it prints, with the date and the machine,
is written to a new run folder, ``runs/<time>-bench-speed/report.md``, and ``runs/latest-bench-speed``
points at the newest; nothing tracked by git changes. ``--record`` also writes the tracked
``benchmarks/latest.md`` (the figures the README quotes), and only for a full run: with ``--quick`` or
``--only`` naming fewer than all five it is refused, before anything runs.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from functools import cached_property
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# hermetic, as the tests: no hub, every cache inside the repo
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HOME", str(REPO / ".cache" / "hf"))

from benchmarks.common import (Report, add_record_flag, check_record, cpu_model,  # noqa: E402
                               load_average, stage, write_report)
from utilities import progress  # noqa: E402
from utilities.grader import DEV_FILE, MAX_BATCH_SIZE, grader_batches, is_multiple_choice  # noqa: E402
from utilities.special_tokens import encode_chat, encode_plain  # noqa: E402

BENCH_DIR = REPO / ".cache" / "bench"  # the tiny model is built in a temporary folder here
LATEST = Path(__file__).resolve().parent / "latest.md"  # tracked: written only with --record
NAME = "speed"  # runs/<time>-bench-speed/, runs/latest-bench-speed
BENCHMARKS = ("a", "b", "c", "d", "e")
ECGUIDE_FILE = REPO / "data" / "ecguide" / "validation.jsonl"

GOAL_A_S = 0.5e-3  # pipeline seconds per question
GOAL_B = 1.10  # constrained / unconstrained
GOAL_C = 3.0  # batch-16 q/s / batch-1 q/s
GOAL_D_S = 60.0  # seconds to score 20,000 answers
D_ANSWERS = 20_000
GOAL_E_MEAN_S = 100e-6  # router: mean seconds per prompt
GOAL_E_P99_S = 2e-3  # router: 99th percentile
E_PASSES = 3  # each prompt's time is its best of this many passes: the machine's noise only ever adds


# ---- output ------------------------------------------------------------------------------------

def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.2f} ms"


def pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "-"


def yes_no(met: bool) -> str:
    return "**yes**" if met else "**NO**"


def machine() -> dict:
    info = {"cpu": cpu_model(), "cores": os.cpu_count()}
    try:
        info["usable cores"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    info["python"] = platform.python_version()
    for name in ("torch", "transformers", "tokenizers", "sentence_transformers"):
        try:
            module = __import__(name)
            info[name] = module.__version__
        except Exception:  # noqa: BLE001
            info[name] = "?"
    try:
        import torch

        info["torch threads"] = torch.get_num_threads()
    except Exception:  # noqa: BLE001
        pass
    return info


# ---- shared resources, built once and only when a benchmark needs them ---------------------------

class Bench:
    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self._tmp: str | None = None

    @cached_property
    def rows(self) -> list[dict]:
        with open(DEV_FILE, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    @cached_property
    def routes(self):
        from utilities.routing import route

        return [route(r["input_field"], r["is_multiple_choice"]) for r in self.rows]

    @cached_property
    def tokenizer(self):
        from models.tiny import load_tokenizer

        return load_tokenizer()

    @cached_property
    def table(self):
        from models.tiny import EOS_IDS
        from utilities.decoding import TokenTable

        table = TokenTable(self.tokenizer)
        table.add_eos_ids(EOS_IDS)  # what the Qwen2 generation_config lists, as the engine adds
        return table

    @cached_property
    def tiny_dir(self) -> Path:
        from models.tiny import build_tiny_qwen2

        BENCH_DIR.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.mkdtemp(prefix="tiny-qwen2-", dir=BENCH_DIR)
        return build_tiny_qwen2(self._tmp)

    @cached_property
    def engine(self):
        from models.engines import TransformersEngine

        return TransformersEngine(self.tiny_dir)

    @cached_property
    def model(self):
        from models.shopbench_model import ShopBenchModel

        model = ShopBenchModel(engine=self.engine)
        model.batch_size = MAX_BATCH_SIZE  # the grader's largest batch, whatever SHOPBENCH_BATCH_SIZE says
        return model

    def close(self) -> None:
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


# ---- realistic answers: a perturbed truth, as a model might write it -----------------------------

def raw_answer(row: dict, info, rng: random.Random) -> str:
    """A raw model reply to ``row``: its truth, sometimes right, sometimes wrong, in a model's words
    (each task's ``simulated_reply``)."""
    from utilities.tasks import get_task

    return get_task(row["task_type"]).simulated_reply(row["output_field"], info, rng, row.get("metric", ""))


# ---- (a) pipeline overhead ------------------------------------------------------------------------

def bench_a(b: Bench, out: Report) -> dict:
    import torch

    from models.settings import EngineSettings
    from utilities import prompting
    from utilities.parsers import parse
    from utilities.routing import route
    from utilities.tasks import ROUTING_ORDER, analyse

    out("## (a) pipeline overhead per question vs one forward pass of the tiny model")
    out()
    reps = 5 if b.quick else 25
    rows, tok, table = b.rows, b.tokenizer, b.table
    max_len = EngineSettings.from_env().max_model_len  # what the engine's context is (3072)
    rng = random.Random(0)
    raws = [raw_answer(r, rt.info, rng) for r, rt in zip(rows, b.routes)]
    stages = ("route", "decode spec", "render + tokenize (fit_prompt)", "tidy", "parse")
    n = len(rows)
    times = [[[] for _ in stages] for _ in range(n)]  # [question][stage] -> seconds per repetition
    totals: list[list[float]] = [[] for _ in range(n)]
    fitted_ids: list[list[int]] = [[] for _ in range(n)]
    misrouted = shortened = 0

    def one_pass(record: bool) -> None:
        nonlocal misrouted, shortened
        pc = time.perf_counter
        for i, (row, raw) in enumerate(zip(rows, raws)):
            prompt = row["input_field"]
            t0 = pc()
            r = route(prompt, row["is_multiple_choice"])
            t1 = pc()
            spec = r.task.decode_spec(r.info, table)
            t2 = pc()
            fitted = prompting.fit_prompt(tok, prompt, r.task_type, max_len - spec.max_new_tokens)
            t3 = pc()
            answer = r.task.tidy(raw, r.info)
            t4 = pc()
            parse(r.task_type, answer)
            t5 = pc()
            if record:
                for s, v in enumerate((t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
                    times[i][s].append(v)
                totals[i].append(t5 - t0)
            else:
                fitted_ids[i] = fitted.ids
                misrouted += r.task_type != row["task_type"]
                shortened += fitted.shortened

    t_warm = time.perf_counter()
    one_pass(False)  # warm-up: the TokenTable's id sets, the compiled chat template
    t_warm = time.perf_counter() - t_warm
    stage(f"(a) pipeline: {reps} passes over {n} questions")
    for _ in progress.bar(range(reps), desc="(a) pipeline", unit="pass", leave=False):
        one_pass(True)

    per_q = [statistics.median(t) for t in totals]  # each question's median over the repetitions
    stage_q = [[statistics.median(times[i][s]) for s in range(len(stages))] for i in range(n)]
    mean_q = statistics.fmean(per_q)
    stage_mean = [statistics.fmean(stage_q[i][s] for i in range(n)) for s in range(len(stages))]
    tokens = [len(ids) for ids in fitted_ids]

    out(f"{n} dev questions x {reps} repetitions (after one warm-up pass of {t_warm:.2f} s, which fills "
        f"the TokenTable's id sets); each question's time is its median over the repetitions. Real Qwen2 "
        f"tokenizer; chat texts of {statistics.fmean(tokens):.0f} tokens on average "
        f"(median {statistics.median(tokens):.0f}, max {max(tokens)}); {misrouted} misrouted, "
        f"{shortened} shortened.")
    out()
    srt = sorted(per_q)
    out(f"per question: mean {us(mean_q)}, median {us(statistics.median(per_q))}, "
        f"p90 {us(srt[int(0.9 * (n - 1))])}, max {us(srt[-1])}")
    out()
    out("### by stage (mean over the 96 questions of each question's median)")
    out()
    out.table(["stage", "per question", "share"],
              [[s, us(v), pct(v, sum(stage_mean))] for s, v in zip(stages, stage_mean)]
              + [["**total**", f"**{us(mean_q)}**", "100 %"]])

    by_type: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_type[row["task_type"]].append(i)
    out("### by task type (µs per question)")
    out()
    out.table(["task type", "n", "tokens", *stages, "total"],
              [[t, len(ix), f"{statistics.fmean(tokens[i] for i in ix):.0f}",
                *(f"{1e6 * statistics.fmean(stage_q[i][s] for i in ix):.1f}" for s in range(len(stages))),
                f"{1e6 * statistics.fmean(per_q[i] for i in ix):.1f}"] for t, ix in by_type.items()])

    # where the time goes inside route and fit_prompt: the functions they call, timed one by one
    sub_names = ["route: analyse (read the prompt)",
                 *(f"route: {t.name}.asks_for (not for multiple choice)" for t in ROUTING_ORDER),
                 "fit_prompt: render (chat template)",
                 "fit_prompt: encode the chat text",
                 "fit_prompt: encode the user prompt alone"]
    sub = [[0.0] * len(sub_names) for _ in range(n)]
    sub_reps = max(3, reps // 2)
    pc = time.perf_counter
    for i, row in enumerate(rows):
        prompt, r = row["input_field"], b.routes[i]
        calls = [lambda p=prompt: analyse(p)]
        calls += [(lambda t=t, info=r.info: t.asks_for(info)) if not row["is_multiple_choice"] else None
                  for t in ROUTING_ORDER]
        text = prompting.render(tok, prompt, r.task_type)
        calls += [lambda p=prompt, tt=r.task_type: prompting.render(tok, p, tt),
                  lambda p=prompt, tt=r.task_type, x=text: encode_chat(tok, prompting.messages(p, tt), True, x),
                  lambda p=prompt: encode_plain(tok, p)]
        for k, call in enumerate(calls):
            if call is None:
                continue
            samples = []
            for _ in range(sub_reps):
                t0 = pc()
                call()
                samples.append(pc() - t0)
            sub[i][k] = statistics.median(samples)
    out("### inside route and fit_prompt (mean per question; the functions they call, timed alone)")
    out()
    out.table(["function", "per question", "share of the pipeline"],
              [[name, us(v), pct(v, mean_q)] for name, v in
               ((name, statistics.fmean(sub[i][k] for i in range(n))) for k, name in enumerate(sub_names))])

    # the reference: one forward pass of the tiny Qwen2, batch 1, on a rendered dev prompt
    model = b.engine.model
    mid = sorted(range(n), key=lambda i: tokens[i])[n // 2]  # the median-length rendered prompt
    x = torch.tensor([fitted_ids[mid]], dtype=torch.long)
    f_reps = 10 if b.quick else 30

    def forward_time(**kwargs) -> float:
        samples = []
        with torch.inference_mode():
            for _ in range(3):
                model(input_ids=x, **kwargs)
            for _ in range(f_reps):
                t0 = pc()
                model(input_ids=x, **kwargs)
                samples.append(pc() - t0)
        return statistics.median(samples)

    fwd = forward_time(logits_to_keep=1)  # as generate's prefill: logits of the last position only
    fwd_full = forward_time()
    ratio = mean_q / fwd
    out(f"reference: one forward pass of the tiny Qwen2 (2 layers, width 128, vocabulary 152,064; "
        f"{torch.get_num_threads()} torch threads), batch 1, the median-length rendered dev prompt "
        f"({len(fitted_ids[mid])} tokens), median of {f_reps}: **{ms(fwd)}** with the logits of the last "
        f"position only (as the prefill of `generate`); {ms(fwd_full)} with the logits of every position.")
    out()
    out(f"**ratio: pipeline / forward = {us(mean_q)} / {ms(fwd)} = {ratio:.3f}**; goal: pipeline <= "
        f"{GOAL_A_S * 1e3:.1f} ms per question: {yes_no(mean_q <= GOAL_A_S)} "
        f"({mean_q / GOAL_A_S:.2f} x the goal)")
    out()
    return {"pipeline_s": mean_q, "forward_s": fwd, "ratio": ratio, "met": mean_q <= GOAL_A_S}


# ---- (b) constrained vs unconstrained decoding ----------------------------------------------------

def pick(rows: list[dict], counts: dict[str, int]) -> list[dict]:
    out = []
    for task_type, k in counts.items():
        out += [r for r in rows if r["task_type"] == task_type][:k]
    return out


MIXED_16 = {"multiple-choice": 4, "ranking": 3, "retrieval": 3, "named_entity_recognition": 3, "generation": 3}


def bench_b(b: Bench, out: Report) -> dict:
    from models import engines
    from utilities.decoding import DecodeSpec

    out("## (b) constrained vs unconstrained decoding, same batch, transformers engine")
    out()
    engine, model = b.engine, b.model
    chosen = pick(b.rows, MIXED_16)
    prepared = [model.prepare(r["input_field"], r["is_multiple_choice"]) for r in chosen]
    ids = [p.ids for p in prepared]
    no_end = {i: float("-inf") for i in engine.eos_ids}
    variants = {
        # each row's real task spec, end of text made impossible
        "constrained": [dataclasses.replace(p.spec, logit_bias={**p.spec.logit_bias, **no_end}) for p in prepared],
        # no allowed ids, no bias: the same max_new_tokens, end of text made impossible
        "unconstrained": [DecodeSpec(max_new_tokens=p.spec.max_new_tokens, logit_bias=no_end) for p in prepared],
        # the engine with its logits processor replaced by the identity: the cost of HF greedy alone
        "no processor": [DecodeSpec(max_new_tokens=p.spec.max_new_tokens) for p in prepared],
    }
    reps = 2 if b.quick else 7
    steps = {"n": 0}
    hook = engine.model.register_forward_pre_hook(lambda module, args: steps.__setitem__("n", steps["n"] + 1))
    original_call = engines.SpecLogitsProcessor.__call__
    proc = {"s": 0.0, "calls": 0}

    def timed_call(self, input_ids, scores):
        t0 = time.perf_counter()
        result = original_call(self, input_ids, scores)
        proc["s"] += time.perf_counter() - t0
        proc["calls"] += 1
        return result

    results: dict[str, dict[str, list]] = {v: defaultdict(list) for v in variants}
    try:
        stage(f"(b) decoding: {reps + 1} rounds of {len(variants)} variants")
        bar = progress.bar(total=(reps + 1) * len(variants), desc="(b) decoding", unit="run", leave=False)
        for rep in range(reps + 1):  # the first round warms up
            for name, specs in variants.items():
                engines.SpecLogitsProcessor.__call__ = (
                    (lambda self, input_ids, scores: scores) if name == "no processor" else timed_call)
                steps["n"], proc["s"], proc["calls"] = 0, 0.0, 0
                t0 = time.perf_counter()
                texts = engine.generate(ids, specs)
                elapsed = time.perf_counter() - t0
                if rep:
                    r = results[name]
                    r["s"].append(elapsed)
                    r["steps"].append(steps["n"])
                    r["proc_s"].append(proc["s"])
                    r["proc_calls"].append(proc["calls"])
                    r["texts"] = texts
                bar.update()
        bar.close()
    finally:
        engines.SpecLogitsProcessor.__call__ = original_call
        hook.remove()

    limits = [s.max_new_tokens for s in variants["constrained"]]
    out(f"{len(chosen)} dev prompts in one batch ({', '.join(f'{k} {v}' for k, v in MIXED_16.items())}; "
        f"{min(len(i) for i in ids)}-{max(len(i) for i in ids)} prompt tokens, left-padded), each with its "
        f"real spec's max_new_tokens ({', '.join(map(str, limits))}).")
    out()
    out("Method: a greedy batch runs until every row has ended, so a constrained batch may decode fewer "
        "or more steps than an unconstrained one, and its time would say nothing about the logits processor. "
        "Both runs therefore get end of text at -inf (one extra logit-bias entry per end-of-text id), so every "
        "row decodes exactly its own max_new_tokens (the engine forces end of text after it) and the batch "
        "runs the same number of steps in both; the step count is checked by counting the model's forward "
        "calls. The only difference left is the spec (allowed ids, bias). A third run replaces the engine's "
        "logits processor by the identity (the specs still give max_new_tokens), for the cost of the "
        "processor itself. Runs are interleaved, after one warm-up round; medians of "
        f"{reps}.")
    out()
    summary = {}
    rows_out = []
    for name, r in results.items():
        s = statistics.median(r["s"])
        n_steps = statistics.median(r["steps"])
        calls = statistics.median(r["proc_calls"]) if name != "no processor" else 0
        proc_s = statistics.median(r["proc_s"]) if name != "no processor" else 0.0
        summary[name] = {"s": s, "steps": n_steps}
        rows_out.append([name, f"{s:.3f} s ({min(r['s']):.3f}-{max(r['s']):.3f})", f"{n_steps:.0f}", ms(s / n_steps),
                         ms(proc_s / calls) if calls else "-", pct(proc_s, s) if calls else "-"])
    out.table(["run", "batch time (min-max)", "forward calls", "per step", "logits processor per step", "processor share"],
              rows_out)
    same_steps = summary["constrained"]["steps"] == summary["unconstrained"]["steps"]
    ratio = summary["constrained"]["s"] / summary["unconstrained"]["s"]
    per_step = (summary["constrained"]["s"] / summary["constrained"]["steps"]) / (
        summary["unconstrained"]["s"] / summary["unconstrained"]["steps"])
    vs_none = summary["constrained"]["s"] / summary["no processor"]["s"]
    digits_ok = all(t.strip().isdigit() for t, r in zip(results["constrained"]["texts"], chosen)
                    if r["task_type"] == "multiple-choice")
    out(f"same number of steps: {'yes' if same_steps else 'NO (compare per step)'}; multiple-choice rows of the "
        f"constrained run answered a digit: {'yes' if digits_ok else 'NO'}.")
    out()
    out(f"**ratio: constrained / unconstrained = {summary['constrained']['s']:.3f} s / "
        f"{summary['unconstrained']['s']:.3f} s = {ratio:.3f}** (per step {per_step:.3f}); goal <= {GOAL_B}: "
        f"{yes_no(ratio <= GOAL_B)}. For information: constrained / no processor at all = {vs_none:.3f}.")
    out()
    return {"constrained_s": summary["constrained"]["s"], "unconstrained_s": summary["unconstrained"]["s"],
            "ratio": ratio, "vs_none": vs_none, "steps": summary["constrained"]["steps"],
            "met": ratio <= GOAL_B}


# ---- (c) batch 16 vs batch 1 -------------------------------------------------------------------

class Instrument:
    """Where batch_predict's time goes: prepare, model forward, logits processor, the rest of generate.

    Installed on the live objects for the duration of (c) only (instance attributes, hooks and a
    class attribute, all removed afterwards); no file of the pipeline is changed.
    """

    PARTS = ("prepare", "model forward", "logits processor", "rest of engine.generate", "rest of batch_predict")

    def __init__(self, model) -> None:
        from models import engines

        self.model, self.engine, self.engines = model, model.engine, engines
        self.s: dict[str, float] = defaultdict(float)
        self.tokens = {"real": 0, "padded": 0, "calls": 0}
        self._t0 = 0.0

    def reset(self) -> None:
        self.s.clear()
        self.tokens.update(real=0, padded=0, calls=0)

    def __enter__(self) -> "Instrument":
        model, engine, s = self.model, self.engine, self.s
        prepare, generate = model.prepare, engine.generate
        cls = self.engines.SpecLogitsProcessor
        self._init, self._call = cls.__init__, cls.__call__

        def timed_prepare(*args, **kwargs):
            t = time.perf_counter()
            try:
                return prepare(*args, **kwargs)
            finally:
                s["prepare"] += time.perf_counter() - t

        def timed_generate(prompt_ids, specs):
            self.tokens["real"] += sum(len(i) for i in prompt_ids)
            self.tokens["padded"] += len(prompt_ids) * max(len(i) for i in prompt_ids)
            self.tokens["calls"] += 1
            t = time.perf_counter()
            try:
                return generate(prompt_ids, specs)
            finally:
                s["engine.generate"] += time.perf_counter() - t

        def timed(key, fn):
            def wrapper(*args, **kwargs):
                t = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    s[key] += time.perf_counter() - t
            return wrapper

        model.prepare, engine.generate = timed_prepare, timed_generate
        cls.__init__ = timed("logits processor", self._init)
        cls.__call__ = timed("logits processor", self._call)

        def pre(module, args):
            self._t0 = time.perf_counter()

        def post(module, args, output):
            s["model forward"] += time.perf_counter() - self._t0

        self._hooks = [engine.model.register_forward_pre_hook(pre), engine.model.register_forward_hook(post)]
        return self

    def __exit__(self, *exc) -> None:
        for name, obj in (("prepare", self.model), ("generate", self.engine)):
            obj.__dict__.pop(name, None)
        cls = self.engines.SpecLogitsProcessor
        cls.__init__, cls.__call__ = self._init, self._call
        for h in self._hooks:
            h.remove()

    def parts(self, total: float) -> dict[str, float]:
        s = self.s
        return {
            "prepare": s["prepare"],
            "model forward": s["model forward"],
            "logits processor": s["logits processor"],
            "rest of engine.generate": s["engine.generate"] - s["model forward"] - s["logits processor"],
            "rest of batch_predict": total - s["engine.generate"] - s["prepare"],
        }


def bench_c(b: Bench, out: Report) -> dict:
    out("## (c) batch of 16 vs sixteen batches of 1: questions per second of batch_predict")
    out()
    model = b.model
    cases = {
        "multiple-choice": ("1 new token", pick(b.rows, {"multiple-choice": 16}), True),
        "generation": ("up to 50 new tokens", pick(b.rows, {"generation": 16}), False),
        "mixed non-MC": ("4 ranking, 4 retrieval, 4 NER, 4 generation; information only: batch_predict "
                         "splits it into four engine calls of 4",
                         pick(b.rows, {"ranking": 4, "retrieval": 4, "named_entity_recognition": 4,
                                       "generation": 4}), False),
    }
    reps = 1 if b.quick else 5
    out(f"`ShopBenchModel(engine=TransformersEngine(tiny Qwen2)).batch_predict` on the CPU: the same 16 dev "
        f"questions as one call of 16 and as sixteen calls of 1 (routing, rendering, decoding and tidying "
        f"included). Calls alternate (16, then 16 x 1), one warm-up round, then the median of {reps} "
        f"(min-max beside it). The goal applies to batches of one task type, as the grader sends them.")
    out()
    rows_out, breakdown, results = [], [], {}
    stage(f"(c) batching: {len(cases)} cases x {reps + 1} rounds")
    bar = progress.bar(total=len(cases) * (reps + 1), desc="(c) batching", unit="round", leave=False)
    with Instrument(model) as inst:
        for name, (what, chosen, is_mc) in cases.items():
            prompts = [r["input_field"] for r in chosen]
            runs: dict[str, list] = {"16": [], "1": []}
            answers = {}
            for rep in range(reps + 1):
                for mode in ("16", "1"):
                    inst.reset()
                    t0 = time.perf_counter()
                    if mode == "16":
                        answers[mode] = model.batch_predict({"prompt": prompts}, is_mc)
                    else:
                        answers[mode] = [model.batch_predict({"prompt": [p]}, is_mc)[0] for p in prompts]
                    elapsed = time.perf_counter() - t0
                    if rep:
                        runs[mode].append((elapsed, inst.parts(elapsed), dict(inst.tokens)))
                bar.update()
            med = {m: statistics.median(r[0] for r in runs[m]) for m in runs}
            q16, q1 = len(prompts) / med["16"], len(prompts) / med["1"]
            ratio = q16 / q1
            info_only = name == "mixed non-MC"
            same = sum(x == y for x, y in zip(answers["16"], answers["1"]))
            results[name] = {"qps16": q16, "qps1": q1, "ratio": ratio, "met": ratio >= GOAL_C,
                             "info_only": info_only}
            spread = {m: f"{min(r[0] for r in runs[m]):.3f}-{max(r[0] for r in runs[m]):.3f}" for m in runs}
            rows_out.append([f"{name} ({what})", f"{med['16']:.3f} s ({spread['16']})", f"{q16:.1f}",
                             f"{med['1']:.3f} s ({spread['1']})", f"{q1:.1f}", f"**{ratio:.2f}**",
                             "(information)" if info_only else yes_no(ratio >= GOAL_C), f"{same}/16"])
            for mode in ("16", "1"):
                parts = {k: statistics.median(r[1][k] for r in runs[mode]) for k in Instrument.PARTS}
                tokens = runs[mode][0][2]
                breakdown.append([name, "1 x 16" if mode == "16" else "16 x 1", f"{med[mode] * 1e3:.1f}",
                                  *(f"{v * 1e3:.1f}" for v in parts.values()),
                                  f"{tokens['calls']}", f"{tokens['real']:,} / {tokens['padded']:,}"])
    bar.close()
    out.table(["16 questions", "1 x 16: time (min-max)", "q/s", "16 x 1: time (min-max)", "q/s", "ratio",
               f"goal >= {GOAL_C:g}x", "same answers"], rows_out)
    results["96 dev questions"] = dev_set_as_the_grader_sends_it(b, out, reps=1 if b.quick else 3)
    out("### where the time goes (ms, medians; prompt tokens real / as padded into the engine's batches)")
    out()
    out.table(["case", "calls", "total", *Instrument.PARTS, "engine calls", "prompt tokens"], breakdown)
    return results


def dev_set_as_the_grader_sends_it(b: Bench, out: Report, reps: int) -> dict:
    """All 96 dev questions in the grader's batches (one task type, up to 16) vs one at a time."""
    model = b.model
    batches = [([b.rows[i] for i in ix], is_multiple_choice(t))
               for t, ix in grader_batches([row["task_type"] for row in b.rows], MAX_BATCH_SIZE)]

    def batched() -> list[str]:
        return [a for rows, mc in batches for a in model.batch_predict({"prompt": [r["input_field"] for r in rows]}, mc)]

    def one_at_a_time() -> list[str]:
        return [model.batch_predict({"prompt": [r["input_field"]]}, mc)[0] for rows, mc in batches for r in rows]

    runs: dict[str, list[float]] = {"batched": [], "single": []}
    answers = {}
    for rep in range(reps + 1):  # the first round warms up
        for mode, fn in (("batched", batched), ("single", one_at_a_time)):
            t0 = time.perf_counter()
            answers[mode] = fn()
            if rep:
                runs[mode].append(time.perf_counter() - t0)
    n = len(b.rows)
    med = {m: statistics.median(v) for m, v in runs.items()}
    ratio = med["single"] / med["batched"]
    same = sum(x == y for x, y in zip(answers["batched"], answers["single"]))
    out(f"### the 96 dev questions as the grader sends them ({len(batches)} batches of one task type, up to 16) "
        f"vs one at a time; median of {reps}")
    out()
    out.table(["", "batched", "q/s", "one at a time", "q/s", "ratio", f"goal >= {GOAL_C:g}x", "same answers"],
              [["96 dev questions", f"{med['batched']:.2f} s", f"{n / med['batched']:.1f}", f"{med['single']:.2f} s",
                f"{n / med['single']:.1f}", f"**{ratio:.2f}**", yes_no(ratio >= GOAL_C), f"{same}/{n}"]])
    return {"qps16": n / med["batched"], "qps1": n / med["single"], "ratio": ratio, "met": ratio >= GOAL_C,
            "info_only": False}


# ---- (d) scoring 20,000 answers -----------------------------------------------------------------

def bench_d(b: Bench, out: Report) -> dict:
    import local_evaluation
    from utilities import metrics
    from utilities.parsers import parse_generation

    out(f"## (d) scoring {D_ANSWERS:,} answers with local_evaluation.score")
    out()
    n = 2_000 if b.quick else D_ANSWERS
    rows, routes = b.rows, b.routes
    rng = random.Random(1)
    picks = rng.choices(range(len(rows)), k=n)
    sample, outputs = [], []
    stage(f"(d) answers: writing {n:,}")
    for i in progress.bar(picks, desc="(d) answers", unit="row", leave=False):
        sample.append(rows[i])
        outputs.append(routes[i].task.tidy(raw_answer(rows[i], routes[i].info, rng), routes[i].info))

    skipped = [r["metric"] for r in sample if r["metric"] == "multilingual-sent-transformer"]
    if skipped:  # not in the dev rows; kept out in case the data file changes
        keep = [k for k, r in enumerate(sample) if r["metric"] != "multilingual-sent-transformer"]
        sample, outputs = [sample[k] for k in keep], [outputs[k] for k in keep]

    stage(f"(d) scoring {len(sample):,} answers")
    t0 = time.perf_counter()
    metrics._load_sentence_model(metrics.minilm_folder())  # all-MiniLM-L6-v2, loaded once per process
    load_s = time.perf_counter() - t0

    spent: dict[str, float] = defaultdict(float)
    rows_of: dict[str, int] = defaultdict(int)

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t
        return wrapper

    original_metrics = dict(metrics.METRICS)
    original_parse = local_evaluation.parse
    for name, m in original_metrics.items():
        metrics.METRICS[name] = dataclasses.replace(
            m, rows=timed(name, m.rows), pooled=timed(name, m.pooled) if m.pooled else None)
    local_evaluation.parse = timed("parse (official parsers)", original_parse)
    try:
        t0 = time.perf_counter()
        result = local_evaluation.score(sample, outputs)
        score_s = time.perf_counter() - t0
    finally:
        metrics.METRICS.clear()
        metrics.METRICS.update(original_metrics)
        local_evaluation.parse = original_parse
    for r in sample:
        rows_of[r["metric"]] += 1

    # Resampled rows repeat answers and the embedding metric encodes each distinct text once, so the
    # call above is a best case for it. Worst case: the same rows with every answer distinct.
    st = [(r, o) for r, o in zip(sample, outputs) if r["metric"] == "sent-transformer"]
    distinct = len({o.strip() for _, o in st} | {str(r["output_field"]) for r, _ in st})
    st_unique_s = 0.0
    if st:
        answers = [f"{parse_generation(o)} ({k})" for k, (_, o) in enumerate(st)]
        t0 = time.perf_counter()
        metrics.score_task("sent-transformer", answers, [r["output_field"] for r, _ in st])
        st_unique_s = time.perf_counter() - t0
    worst = score_s - spent.get("sent-transformer", 0.0) + st_unique_s

    total = load_s + worst
    scale = D_ANSWERS / len(sample)
    est = total * scale
    mean_score: dict[str, list[float]] = defaultdict(list)
    for record in result["records"]:
        mean_score[record["metric"]].append(record["score"])
    out(f"{len(sample):,} records resampled from the 96 dev rows (seed 1); each answer is the task's tidy of a "
        f"perturbed truth: the true option or another one, a ranking with a swap / shuffled / cut short / "
        f"with a repeat, three picks with 0-3 true ones, a partly right entity list, a reference cut to "
        f"50-100 % of its words. One `local_evaluation.score(rows, outputs)` call (parse, then score_task per "
        f"task and metric), each metric's and the parser's time measured inside that call. "
        f"Multilingual: not in the dev rows{f' ({len(skipped)} rows dropped)' if skipped else ''}.")
    out()
    parts = [[name, f"{rows_of[name]:,}", f"{spent[name]:.3f} s",
              f"{1e6 * spent[name] / rows_of[name]:.1f}" if rows_of[name] else "-",
              f"{statistics.fmean(mean_score[name]):.3f}" if mean_score[name] else "-"]
             for name in sorted(spent, key=lambda k: -spent[k]) if name in rows_of]
    parse_s = spent.get("parse (official parsers)", 0.0)
    parts.append(["parse (official parsers)", f"{len(sample):,}", f"{parse_s:.3f} s",
                  f"{1e6 * parse_s / len(sample):.1f}", "-"])
    rest = score_s - sum(spent.values())
    parts.append(["the rest of score() (records, grouping, means)", "", f"{rest:.3f} s", "", ""])
    parts.append(["**score() in all**", f"{len(sample):,}", f"**{score_s:.3f} s**", "", ""])
    parts.append(["all-MiniLM-L6-v2 load (once per process)", "", f"{load_s:.3f} s", "", ""])
    out.table(["part", "rows", "seconds", "µs per row", "mean score"], parts)
    if st:
        out(f"The {len(st):,} sent-transformer rows hold only {distinct:,} distinct texts (answers and references; "
            f"resampling repeats them and the metric embeds each distinct text once). With every answer made "
            f"distinct (its row number appended) the metric takes {st_unique_s:.3f} s "
            f"({1e6 * st_unique_s / len(st):.0f} µs per row) instead of {spent.get('sent-transformer', 0.0):.3f} s: "
            f"score() in the worst case {worst:.3f} s. The figure below is that worst case plus the model load.")
        out()
    label = f"{total:.1f} s" if scale == 1 else f"{est:.1f} s (extrapolated x{scale:.0f} from {len(sample):,})"
    out(f"**{D_ANSWERS:,} answers: {label} including the model load; ratio to the {GOAL_D_S:.0f} s goal: "
        f"{est / GOAL_D_S:.3f}**; goal <= {GOAL_D_S:.0f} s: {yes_no(est <= GOAL_D_S)}. Overall score of these "
        f"answers: {100 * result['overall']:.1f}.")
    out()
    return {"seconds": est, "measured_s": total, "n": len(sample), "load_s": load_s, "ratio": est / GOAL_D_S,
            "score_s": score_s, "met": est <= GOAL_D_S}


def bench_e(b: Bench, out: Report) -> dict:
    from utilities.routing import route

    out("## (e) the router on prompts written by another team (EC-Guide validation suite)")
    out()
    with open(ECGUIDE_FILE, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    passes = 1 if b.quick else E_PASSES
    best = [float("inf")] * len(rows)
    pc = time.perf_counter_ns
    stage(f"(e) router: {passes} pass(es) over {len(rows):,} prompts")
    for _ in progress.bar(range(passes), desc="(e) passes", leave=False):
        for i, row in enumerate(rows):
            t0 = pc()
            route(row["input_field"], row["is_multiple_choice"]).task_type
            best[i] = min(best[i], (pc() - t0) / 1e9)
    ordered = sorted(best)
    mean, p50 = statistics.fmean(best), ordered[len(ordered) // 2]
    p99, worst = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], ordered[-1]
    by_task: dict[str, list[float]] = defaultdict(list)
    for row, t in zip(rows, best):
        by_task[row["task_name"]].append(t)
    out(f"{len(rows):,} prompts ({len(by_task)} subtasks), `route(prompt, is_multiple_choice)` as the grader's "
        f"flag gives it; each prompt's best of {passes} pass(es). Multiple-choice prompts are routed by the flag "
        f"and only have their list read.")
    out()
    out.table(["subtask", "prompts", "mean", "max"],
              [[name, len(ts), us(statistics.fmean(ts)), us(max(ts))] for name, ts in sorted(by_task.items())])
    met = mean <= GOAL_E_MEAN_S and p99 <= GOAL_E_P99_S
    out(f"**mean {us(mean)}, p50 {us(p50)}, p99 {us(p99)}, max {us(worst)}**; goal mean <= "
        f"{us(GOAL_E_MEAN_S)} and p99 <= {ms(GOAL_E_P99_S)}: {yes_no(met)}")
    out()
    return {"mean_s": mean, "p50_s": p50, "p99_s": p99, "max_s": worst, "n": len(rows), "met": met}


# ---- main ---------------------------------------------------------------------------------------

def summary_table(out: Report, res: dict) -> None:
    out("## Summary")
    out()
    rows = []
    if "a" in res:
        r = res["a"]
        rows.append(["(a) route + spec + render/tokenize + tidy + parse, per question (Qwen2 tokenizer)",
                     us(r["pipeline_s"]), f"tiny-Qwen2 forward, batch 1: {ms(r['forward_s'])}",
                     f"{r['ratio']:.3f}", f"<= {GOAL_A_S * 1e3:.1f} ms", yes_no(r["met"])])
    if "b" in res:
        r = res["b"]
        rows.append([f"(b) constrained decoding, 16 mixed prompts, {r['steps']:.0f} steps",
                     f"{r['constrained_s']:.3f} s", f"unconstrained: {r['unconstrained_s']:.3f} s",
                     f"{r['ratio']:.3f}", f"<= {GOAL_B:.2f}", yes_no(r["met"])])
    if "c" in res:
        for name, r in res["c"].items():
            rows.append([f"(c) batch 16 vs 16 x batch 1, {name}", f"{r['qps16']:.1f} q/s",
                         f"batch 1: {r['qps1']:.1f} q/s", f"{r['ratio']:.2f}", f">= {GOAL_C:g}",
                         "(information)" if r["info_only"] else yes_no(r["met"])])
    if "d" in res:
        r = res["d"]
        note = "" if r["n"] == D_ANSWERS else f" (extrapolated from {r['n']:,})"
        rows.append([f"(d) scoring {D_ANSWERS:,} answers, every answer distinct, model load included{note}",
                     f"{r['seconds']:.1f} s",
                     f"goal: {GOAL_D_S:.0f} s", f"{r['ratio']:.3f}", f"<= {GOAL_D_S:.0f} s", yes_no(r["met"])])
    if "e" in res:
        r = res["e"]
        rows.append([f"(e) router per prompt, {r['n']:,} EC-Guide prompts: mean (p99)",
                     f"{us(r['mean_s'])} ({us(r['p99_s'])})", f"max {us(r['max_s'])}",
                     f"{r['mean_s'] / GOAL_E_MEAN_S:.2f}", f"mean <= {us(GOAL_E_MEAN_S)}, p99 <= {ms(GOAL_E_P99_S)}",
                     yes_no(r["met"])])
    out.table(["benchmark", "measured", "reference", "ratio", "goal", "met"], rows)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help="comma-separated subset of a,b,c,d,e (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions; 2,000 answers for (d)")
    add_record_flag(parser, NAME, LATEST, "only for a full run: refused with --quick or with --only naming fewer "
                                     "than all five")
    progress.add_flag(parser)
    args = parser.parse_args(argv)
    only = [x.strip().lower() for x in args.only.split(",") if x.strip()]
    unknown = sorted(set(only) - set(BENCHMARKS))
    if unknown or not only:
        parser.error(f"--only takes a comma-separated subset of {','.join(BENCHMARKS)}; got {args.only!r}")
    partial = (["--quick"] if args.quick else []) + (
        [f"--only {','.join(k for k in BENCHMARKS if k in only)}"] if set(only) != set(BENCHMARKS) else [])
    check_record(parser, args, LATEST, partial)
    progress.apply_flag(args)

    out = Report()
    started = time.perf_counter()
    info = machine()
    out("# ShopBench benchmarks")
    out()
    out(f"{datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}; "
        + "; ".join(f"{k}: {v}" for k, v in info.items()))
    out(f"load average at the start: {load_average()}")
    out(f"`shopbench bench{' --quick' if args.quick else ''}"
        f"{'' if set(only) == set(BENCHMARKS) else ' --only ' + ','.join(k for k in BENCHMARKS if k in only)}`")
    out()
    bench = Bench(args.quick)
    res: dict = {}
    runners = {"a": bench_a, "b": bench_b, "c": bench_c, "d": bench_d, "e": bench_e}
    try:
        for key in BENCHMARKS:
            if key in only:
                t0 = time.perf_counter()
                res[key] = runners[key](bench, out)
                out(f"({key}) took {time.perf_counter() - t0:.1f} s")
                out()
    finally:
        bench.close()
    summary_table(out, res)
    out(f"whole run: {time.perf_counter() - started:.0f} s; load average at the end: {load_average()}")
    write_report(out, NAME, LATEST, args.record)
    return res


if __name__ == "__main__":
    from utilities.errors import run_command

    run_command(main)
