"""The 4 x T4 cost model (tools/cost_model.py): batch costs, vLLM's prefix cache block for block,
decode budgets from measured answer lengths, the levers, the refit and the command's output."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tools import cost_model
from tools.cost_model import Constants, PrefixCache, QuestionCost, Scenario
from utilities.tracks import TRACKS


@pytest.fixture(scope="module")
def dev_costs(dev_rows, qwen_tokenizer):
    lengths = cost_model.measure_answer_lengths(dev_rows, qwen_tokenizer, ["dev"])
    return cost_model.question_costs(dev_rows, qwen_tokenizer, lengths=lengths)


def q(prompt=100, cap=10, task_type="generation", track=1, ids=(), cached=0, answers=()):
    return QuestionCost(task_type, track, prompt, cap, ids=tuple(ids), cached_tokens=cached, answer_tokens=answers)


# --- a batch's cost ------------------------------------------------------------------------------

def test_batch_cost_is_overhead_plus_prefill_plus_decode_steps():
    c = Constants(prefill_tokens_per_s=1000, decode_step_s=0.05, batch_overhead_s=0.2)
    batch = [QuestionCost("ranking", 3, 300, 14), QuestionCost("ranking", 3, 500, 10)]
    # 0.2 + (300 + 500) / 1000 + (max(14, 10) - 1) * 0.05: the first new token comes out of the prefill
    assert cost_model.batch_seconds(batch, c) == pytest.approx(0.2 + 0.8 + 13 * 0.05)
    cached = [replace(batch[0], cached_tokens=160), batch[1]]  # the cache spares 160 prompt tokens
    assert cost_model.batch_seconds(cached, c) == pytest.approx(0.2 + 0.64 + 13 * 0.05)
    assert cost_model.batch_seconds(cached, c, Scenario(prefix_cache=False)) == pytest.approx(1.65)


def test_a_one_token_batch_pays_its_prefill_and_no_decode_step():
    c = Constants(prefill_tokens_per_s=1000, decode_step_s=0.05, batch_overhead_s=0.2)
    mc = [QuestionCost("multiple-choice", 2, 100, 1)] * 16
    assert cost_model.batch_features(mc, c) == (1.0, 1600.0, 0.0)
    assert cost_model.batch_seconds(mc, c) == pytest.approx(0.2 + 1.6)


def test_a_batch_decodes_until_its_expected_longest_answer():
    # each row writes 0 or 2 tokens + end of text (1 or 3 new tokens) with even odds: the longer of
    # two rows is 3 unless both are short (1/4): 0.25 x 1 + 0.75 x 3 = 2.5 new tokens
    rows = [q(cap=50, answers=(0, 2))] * 2
    assert cost_model.expected_new_tokens(rows) == pytest.approx(2.5)
    assert cost_model.expected_new_tokens(rows, "cap") == 50  # the old upper bound
    capped = [q(cap=2, answers=(0, 2))] * 2  # the cap stops the long answer at 2: 0.25 x 1 + 0.75 x 2
    assert cost_model.expected_new_tokens(capped) == pytest.approx(1.75)
    many = [q(cap=50, answers=(0, 2))] * 16
    assert 2.99 < cost_model.expected_new_tokens(many) < 3  # sixteen rows almost surely hold a long one
    assert cost_model.expected_new_tokens([q(cap=7)]) == 7  # nothing measured: the cap


def test_question_costs_are_real_qwen2_token_counts(dev_rows, qwen_tokenizer):
    from utilities.prompting import render

    row = next(r for r in dev_rows if r["task_type"] == "ranking")
    (cost,) = cost_model.question_costs([row], qwen_tokenizer)
    rendered = render(qwen_tokenizer, row["input_field"], "ranking")
    assert cost.prompt_tokens == len(qwen_tokenizer.encode(rendered, add_special_tokens=False)) == len(cost.ids)
    assert (cost.task_type, cost.track, cost.decode_tokens) == ("ranking", 3, 14)  # "1, 2, 3, 4, 5" + end


# --- measured answer lengths ------------------------------------------------------------------------

def test_truths_are_counted_as_the_model_writes_them(qwen_tokenizer):
    def count(task_type, truth):
        return len(qwen_tokenizer.encode(cost_model.answer_text(task_type, truth), add_special_tokens=False))

    assert cost_model.answer_text("ranking", [1, 0.01, 0.1, 1, 0]) == "1, 4, 3, 2, 5"  # the true order, all 5
    assert count("ranking", [1, 0.01, 0.1, 1, 0]) == 13  # the ranking spec's cap is this + end of text
    assert count("multiple-choice", 3) == 1
    assert cost_model.answer_text("retrieval", [6, 9, 15]) == "6, 9, 15"
    assert cost_model.answer_text("named_entity_recognition", ["nike", "air  max"]) == "nike, air max"
    assert cost_model.answer_text("generation", " two\nlines ") == "two lines"


def test_answer_lengths_pool_the_tracks_of_a_type_where_a_track_has_few(dev_rows, qwen_tokenizer):
    lengths = cost_model.measure_answer_lengths(dev_rows, qwen_tokenizer)
    assert lengths.count() == len(dev_rows)
    assert lengths.for_question(2, "multiple-choice") == (1,) * 52  # 16 of Track 2 < 30: all 52 dev MC truths
    assert lengths.for_question(3, "ranking") == (13,) * 4  # fewer than 30 even pooled: the track's own
    assert len(lengths.for_question(1, "generation")) == 12  # pooled 17 < 30 too: Track 1's own 12
    assert lengths.for_question(2, "ranking") == (13,) * 4  # no Track 2 ranking truth: the pooled ones
    assert lengths.for_question(1, "no such type") == ()  # the cap


def test_measured_decode_never_exceeds_the_spec_caps(dev_costs):
    c = Constants()
    for batch in cost_model.grader_batches(dev_costs, c.batch_size):
        assert 0 <= cost_model.expected_new_tokens(batch) <= cost_model.expected_new_tokens(batch, "cap")


# --- vLLM's prefix cache ---------------------------------------------------------------------------

def test_prefix_cache_reuses_only_whole_blocks_of_a_shared_prefix():
    a = list(range(40))
    b = a[:37] + [900, 901, 902]  # shares 37 tokens with a: two whole 16-token blocks
    c = list(range(48))  # a's 40 tokens and 8 more: a's third block was never full, so never cached
    hits = cost_model.prefix_cache_hits([a, b, c], [[0], [1], [2]], block_size=16)
    assert hits == [0, 32, 32]
    # the same prompt again reuses every whole block but the one holding its last token
    assert cost_model.prefix_cache_hits([a, a], [[0, 1]], 16) == [0, 32]  # (40 - 1) // 16 = 2 blocks
    assert cost_model.prefix_cache_hits([c, c], [[0], [1]], 16) == [0, 32]  # 48 tokens: not 48, the last is computed
    assert cost_model.prefix_cache_hits([a[:16], a[:16]], [[0], [1]], 16) == [0, 0]


def test_a_block_matches_only_with_everything_before_it():
    a = list(range(48))
    b = [999] + a[1:]  # the same tokens from the second on: every block hash differs (the chain)
    assert cost_model.prefix_cache_hits([a, b], [[0], [1]], 16) == [0, 0]


def test_first_prompt_of_a_run_reuses_nothing(dev_costs):
    c = Constants()
    pool = [x for x in dev_costs if x.track == 2]  # 16 multiple-choice questions: one batch
    prepared = cost_model.prepare(pool, c)
    first, *rest = prepared
    assert first.cached_tokens == 0
    assert all(x.cached_tokens >= 16 and x.cached_tokens % 16 == 0 for x in rest)  # the system prompt at least
    assert all(x.cached_tokens <= (x.prompt_tokens - 1) // 16 * 16 for x in prepared)
    assert cost_model.prepare(pool, c, Scenario(prefix_cache=False)) == [replace(x, cached_tokens=0) for x in pool]


def test_a_later_batch_reuses_what_an_earlier_one_computed():
    shared = list(range(64))
    prompts = [shared + [1000 + i] * 20 for i in range(20)]  # 20 prompts: batches of 16 and 4
    hits = cost_model.prefix_cache_hits(prompts, [list(range(16)), list(range(16, 20))], 16)
    assert hits[0] == 0 and all(h == 64 for h in hits[1:])


def test_the_cache_evicts_the_least_recently_used_blocks_never_those_running():
    a, b, c = ([k] * 64 for k in (1, 2, 3))  # 4 blocks each, nothing shared
    cache = PrefixCache(16, capacity_blocks=8)
    cache.run_batch([a]), cache.run_batch([b])  # a's and b's blocks fill the cache
    assert cache.run_batch([a]) == [48]  # a is still there (touched: now the most recent)
    cache.run_batch([c])  # needs 4 blocks: b's go, the least recently used
    assert cache.run_batch([a]) == [48] and cache.run_batch([b]) == [0]
    big = PrefixCache(16, capacity_blocks=4)
    assert big.run_batch([a, [7] * 64]) == [0, 0] and big.overflow_blocks == 4  # a batch is never evicted from


def test_the_lru_of_the_t4_kv_cache_keeps_what_the_runs_reuse(dev_costs):
    """2.5 GiB of KV cache per T4 (32,768 tokens) holds everything the dev runs reuse: the reused
    blocks are the leading ones, touched again by every batch of their task."""
    c = Constants()
    for number in TRACKS:
        pool = cost_model.pool_of(dev_costs, number)
        lru = [x.cached_tokens for x in cost_model.prepare(pool, c)]
        unbounded = cost_model.prefix_cache_hits([x.ids for x in pool], cost_model.grader_order(pool, 16), 16)
        assert lru == unbounded


# --- runs, levers, goal ----------------------------------------------------------------------------

def test_the_cache_and_measured_decode_never_cost_more_than_the_old_upper_bound(dev_costs):
    c = Constants()
    for number in TRACKS:
        pool = cost_model.pool_of(dev_costs, number)
        now = cost_model.track_seconds(pool, 2000, c)
        old = cost_model.track_seconds(pool, 2000, c, Scenario(prefix_cache=False, decode="cap"))
        assert now <= old


def test_questions_that_fit_is_the_largest_count_within_the_limit(dev_costs):
    c = Constants()
    pool = [x for x in dev_costs if x.track == 3]
    limit = TRACKS[3].time_limit_s
    n = cost_model.questions_that_fit(pool, limit, c)
    assert n > 0
    assert cost_model.track_seconds(pool, n, c) <= limit < cost_model.track_seconds(pool, n + 1, c)
    assert cost_model.questions_that_fit(pool, c.startup_s, c) == 0  # start-up alone fills the limit


def test_the_prefill_rate_needed_makes_the_estimate_meet_the_limit(dev_costs):
    c = Constants()
    pool = [x for x in dev_costs if x.track == 1]
    run = cost_model.TrackRun(pool, c)
    limit = TRACKS[1].time_limit_s
    rate = run.prefill_needed(5000, limit)
    assert cost_model.track_seconds(pool, 5000, replace(c, prefill_tokens_per_s=rate)) == pytest.approx(limit)
    assert run.prefill_needed(5000, c.startup_s) == float("inf")  # no rate can help
    batches = cost_model.grader_batches(cost_model.scaled(cost_model.prepare(pool, c), 5000), c.batch_size)
    assert cost_model.prefill_needed(batches, limit, c) == pytest.approx(rate)


def test_cuda_graphs_are_priced_by_their_stated_factor_start_up_and_memory(dev_costs):
    c = Constants()
    pool = [x for x in dev_costs if x.track == 1]
    eager, graphs = cost_model.TrackRun(pool, c), cost_model.TrackRun(pool, c, Scenario(cuda_graphs=True))
    _, _, steps = eager.totals(3000)
    assert eager.totals(3000) == graphs.totals(3000)  # the smaller KV cache still holds what is reused
    saved = steps * c.decode_step_s * (1 - cost_model.CUDA_GRAPH_DECODE_FACTOR) - cost_model.CUDA_GRAPH_STARTUP_S
    assert eager.seconds(3000) - graphs.seconds(3000) == pytest.approx(saved)
    assert cost_model.kv_capacity_blocks(c, Scenario(cuda_graphs=True)) < cost_model.kv_capacity_blocks(c, Scenario())


def test_a_shorter_generation_cap_touches_only_generation(dev_costs):
    c = Constants()
    capped = cost_model.prepare(dev_costs, c, Scenario(generation_cap=32))
    for before, after in zip(dev_costs, capped):
        expected = min(before.decode_tokens, 32) if before.task_type == "generation" else before.decode_tokens
        assert after.decode_tokens == expected


def test_chunked_prefill_saves_at_most_one_step_per_extra_chunk():
    c = Constants(max_num_batched_tokens=1000)
    batch = [q(prompt=600, cap=20)] * 4  # 2,400 tokens: three chunks
    _, _, plain = cost_model.batch_features(batch, c)
    _, _, overlapped = cost_model.batch_features(batch, c, Scenario(chunked_overlap=True))
    assert (plain, overlapped) == (19.0, 17.0)


def test_the_cut_share_counts_tidied_generation_truths_that_a_cap_would_cut():
    lengths = cost_model.AnswerLengths({}, {1: (5, 10, 31, 40), 4: (60,)})
    assert cost_model.cut_share(lengths, 1, 32) == 0.25  # 40 + end of text > 32; 31 + 1 fits
    assert cost_model.cut_share(lengths, 5, 32) == 0.4  # Track 5: every track's
    assert cost_model.cut_share(lengths, 2, 32) is None  # nothing measured


def test_cost_model_prints_the_cache_share_and_each_lever(capsys):
    result = cost_model.main(["--questions", "1=160,2=32,3=48,4=16"])
    printed = capsys.readouterr().out
    assert set(result) == {1, 2, 3, 4, 5} and result[5]["questions"] == 256
    assert "| track | questions | batches | estimate min | limit min |" in printed
    assert "prefill saved by cache" in printed and "spec caps min" in printed
    for number in (1, 2, 3, 4, 5):
        r = result[number]
        assert f"| {number} {TRACKS[number].name} |" in printed
        assert r["limit_s"] == TRACKS[number].time_limit_s
        assert 0 < r["prefix_cache_share"] < 1
        assert r["estimate_s"] <= r["estimate_cap_s"]
        assert set(r["levers_min"]) == {"prefix cache", "chunked prefill", "generation cap 32", "CUDA graphs"}
        assert r["levers_min"]["prefix cache"] > 0
        assert f"- Track {number}: " in printed  # its verdict against 80 % of the limit
    for lever in ("prefix cache", "chunked prefill", "generation cap 32", "CUDA graphs"):
        assert lever in printed
    assert "| development.json (96) |" in printed and "| validation.jsonl (2,541) |" in printed


def test_the_cap_mode_prints_the_old_upper_bound_and_a_track_out_of_reach_names_its_gpu_measurement(capsys):
    result = cost_model.main(["--decode", "cap", "--measure", str(cost_model.DEV_FILE), "--questions", "3=20000"])
    printed = capsys.readouterr().out
    assert "measured answers min" in printed and result[3]["estimate_s"] >= result[3]["estimate_measured_s"]
    assert "NOT reachable" in printed and "--refit runs/gpu/report.json" in printed
    assert result[3]["all_levers_share"] > cost_model.TARGET_SHARE


# --- refit -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix_cache", [True, False])
def test_refit_recovers_the_constants_of_a_measured_run(dev_rows, qwen_tokenizer, tmp_path, prefix_cache):
    true = Constants(prefill_tokens_per_s=800.0, decode_step_s=0.09, batch_overhead_s=0.3)
    rows = [dict(r, is_multiple_choice=r["task_type"] == "multiple-choice") for r in dev_rows]
    costs = cost_model.question_costs(rows, qwen_tokenizer, own_truths=True)
    plan = cost_model.grader_order(costs, 16)
    if prefix_cache:  # what the run's engine reused, batch after batch
        hits = cost_model.prefix_cache_hits([x.ids for x in costs], plan, 16, 2048, [x.decode_tokens for x in costs])
        costs = [replace(x, cached_tokens=h) for x, h in zip(costs, hits)]
    s = Scenario(prefix_cache=prefix_cache)
    batches = [{"questions": b, "size": len(b), "seconds": cost_model.batch_seconds([costs[i] for i in b], true, s)}
               for b in plan]
    records = [{"input_field": r["input_field"], "task_type": r["task_type"], "track": r["track"],
                "truth": r["output_field"]} for r in dev_rows]
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"records": records, "timing": {"batches": batches, "model_load_s": 42.0}}))
    fitted = cost_model.refit(path, qwen_tokenizer, prefix_cache=prefix_cache)
    assert fitted.prefill_tokens_per_s == pytest.approx(800.0, rel=1e-6)
    assert fitted.decode_step_s == pytest.approx(0.09, rel=1e-6)
    assert fitted.batch_overhead_s == pytest.approx(0.3, rel=1e-6)
    assert fitted.startup_s == 42.0


def test_the_t4_block_size_is_vllms_default_and_one_its_turing_attention_backend_takes():
    """The cache's granularity on the T4s: vLLM's default block, kept by TRITON_ATTN (the backend it
    picks on compute capability 7.5), which FlashAttention would not be (it needs 8.0)."""
    pytest.importorskip("vllm")
    from vllm.config.cache import CacheConfig
    from vllm.platforms.interface import DeviceCapability
    from vllm.v1.attention.backends.flash_attn import FlashAttentionBackend
    from vllm.v1.attention.backends.triton_attn import TritonAttentionBackend

    assert Constants().block_size == CacheConfig.DEFAULT_BLOCK_SIZE
    assert TritonAttentionBackend.supports_block_size(Constants().block_size)
    assert TritonAttentionBackend.supports_compute_capability(DeviceCapability(7, 5))
    assert not FlashAttentionBackend.supports_compute_capability(DeviceCapability(7, 5))


def test_the_smallest_supported_cap_cuts_at_most_the_stated_share():
    lengths = cost_model.AnswerLengths({}, {1: tuple(range(100))})  # tidied answers of 0..99 tokens
    cap = cost_model.supported_cap(lengths, 1)
    assert cost_model.cut_share(lengths, 1, cap) <= cost_model.CAP_CUT_SUPPORTED
    assert cost_model.cut_share(lengths, 1, cap - 1) > cost_model.CAP_CUT_SUPPORTED
