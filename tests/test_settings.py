"""Engine settings from the environment: bad values are refused up front, naming their variable."""
from __future__ import annotations

import re

import pytest


@pytest.mark.parametrize("name, value, message", [
    ("SHOPBENCH_TP", "0", "at least 1 GPU"),
    ("SHOPBENCH_GPU_MEMORY_UTILIZATION", "95", "a fraction in (0, 1]"),
    ("SHOPBENCH_GPU_MEMORY_UTILIZATION", "nan", "a fraction in (0, 1]"),
    ("SHOPBENCH_MAX_MODEL_LEN", "-1", "a positive number of tokens"),
    ("SHOPBENCH_DTYPE", "bf17", "half, float16"),
    ("SHOPBENCH_TP", "four", "SHOPBENCH_TP='four'"),
])
def test_engine_settings_out_of_range_are_refused_naming_their_variable(monkeypatch, name, value, message):
    from models.settings import EngineSettings

    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        EngineSettings.from_env()
    assert name in str(err.value)


def test_a_batch_size_that_is_not_a_number_names_its_variable(monkeypatch):
    from models.settings import batch_size

    monkeypatch.setenv("SHOPBENCH_BATCH_SIZE", "abc")
    with pytest.raises(ValueError, match="SHOPBENCH_BATCH_SIZE='abc': not a whole number"):
        batch_size()


# --- the defaults of the machine: the 4 x T4 block with CUDA, the CPU block without ----------------------
GiB = 1 << 30
ENGINE_VARIABLES = ("SHOPBENCH_TP", "SHOPBENCH_DTYPE", "SHOPBENCH_QUANTIZATION", "SHOPBENCH_ENFORCE_EAGER",
                    "SHOPBENCH_MAX_MODEL_LEN", "SHOPBENCH_GPU_MEMORY_UTILIZATION", "SHOPBENCH_MAX_NUM_SEQS",
                    "SHOPBENCH_EXECUTOR", "SHOPBENCH_SEED", "SHOPBENCH_PREFIX_CACHING", "SHOPBENCH_KV_CACHE_GIB",
                    "VLLM_CPU_KVCACHE_SPACE")


@pytest.fixture
def no_engine_variables(monkeypatch):
    for name in ENGINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def free_memory(monkeypatch, total_gib: float, available_gib: float) -> None:
    from models import settings

    monkeypatch.setattr(settings, "meminfo", lambda: (int(total_gib * GiB), int(available_gib * GiB)))


def test_vllm_on_a_cpu_defaults_to_one_process_and_fitting_kv_cache(no_engine_variables):
    from models.settings import EngineSettings

    free_memory(no_engine_variables, 23.5, 23.0)
    s = EngineSettings.from_env(cuda=False)
    assert (s.tensor_parallel_size, s.distributed_executor_backend, s.dtype) == (1, None, "float32")
    assert s.kv_cache_gib == 2.25 and s.kv_cache_bytes() == int(2.25 * GiB)  # 16 x 3,072 SmolLM2 tokens
    assert s.gpu_memory_utilization == 0.45  # half of 23 / 23.5, rounded down: passes vLLM's start-up check
    assert s.kv_cache_statement() == ("KV cache 2.25 GiB (the CPU default, min(2.25 GiB, a quarter of MemAvailable "
                                      "23.0 GiB rounded down = 5.75 GiB), at least 0.25 GiB)")
    # the settings that do not depend on the machine are the submission's
    t4 = EngineSettings()
    assert (s.max_model_len, s.max_num_seqs, s.enforce_eager, s.enable_prefix_caching, s.quantization, s.seed) == (
        t4.max_model_len, t4.max_num_seqs, t4.enforce_eager, t4.enable_prefix_caching, t4.quantization, t4.seed)


@pytest.mark.parametrize("available_gib, kv_gib", [(23.0, 2.25), (9.0, 2.25), (4.0, 1.0), (2.9, 0.5), (0.5, 0.25)])
def test_the_cpu_kv_cache_is_a_quarter_of_the_free_memory_between_a_quarter_gib_and_2_25_gib(
        no_engine_variables, available_gib, kv_gib):
    from models.settings import EngineSettings

    free_memory(no_engine_variables, 32.0, available_gib)
    assert EngineSettings.from_env(cuda=False).kv_cache_gib == kv_gib


def test_cuda_keeps_the_4_x_t4_values_exactly(no_engine_variables):
    from models.settings import EngineSettings

    s = EngineSettings.from_env(cuda=True)
    assert s == EngineSettings()
    assert (s.tensor_parallel_size, s.dtype, s.gpu_memory_utilization, s.distributed_executor_backend) == (
        4, "half", 0.92, "mp")
    assert s.kv_cache_gib is None and s.kv_cache_bytes() is None  # vLLM sizes it from the utilization, as before
    assert EngineSettings.tensor_parallel_size == 4  # the class default the AWQ step shards for


@pytest.mark.parametrize("cuda", [False, True])
@pytest.mark.parametrize("name, value, field, expected", [
    ("SHOPBENCH_TP", "2", "tensor_parallel_size", 2),
    ("SHOPBENCH_DTYPE", "bfloat16", "dtype", "bfloat16"),
    ("SHOPBENCH_GPU_MEMORY_UTILIZATION", "0.3", "gpu_memory_utilization", 0.3),
    ("SHOPBENCH_EXECUTOR", "uni", "distributed_executor_backend", "uni"),
    ("SHOPBENCH_EXECUTOR", "none", "distributed_executor_backend", None),
    ("SHOPBENCH_KV_CACHE_GIB", "1.5", "kv_cache_gib", 1.5),
    ("SHOPBENCH_KV_CACHE_GIB", "auto", "kv_cache_gib", None),
    ("SHOPBENCH_MAX_MODEL_LEN", "2048", "max_model_len", 2048),
])
def test_every_shopbench_variable_wins_over_the_machine_defaults(no_engine_variables, cuda, name, value, field,
                                                                  expected):
    from models.settings import EngineSettings

    no_engine_variables.setenv(name, value)
    s = EngineSettings.from_env(cuda=cuda)
    assert getattr(s, field) == expected
    if field == "kv_cache_gib":
        assert name in s.kv_cache_statement()
    assert getattr(EngineSettings.from_env(cuda=cuda, **{field: 7 if field == "tensor_parallel_size" else expected}),
                   field) == (7 if field == "tensor_parallel_size" else expected)  # and code overrides win over both


def test_vllms_own_kv_cache_variable_is_the_cpu_default_where_it_is_set_and_must_agree_with_ours(
        no_engine_variables):
    """vllm-cpu applies VLLM_CPU_KVCACHE_SPACE over the size it is given: where it is set it is the value
    in use, and a SHOPBENCH_KV_CACHE_GIB that says otherwise is refused before vLLM starts."""
    from models.engines import EngineConfigError, prepare_vllm_cpu
    from models.settings import EngineSettings

    no_engine_variables.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    no_engine_variables.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    s = EngineSettings.from_env(cuda=False)
    assert s.kv_cache_gib == 1.0 and "VLLM_CPU_KVCACHE_SPACE=1" in s.kv_cache_statement()
    prepare_vllm_cpu(s)
    no_engine_variables.setenv("SHOPBENCH_KV_CACHE_GIB", "2")
    with pytest.raises(EngineConfigError) as err:
        prepare_vllm_cpu(EngineSettings.from_env(cuda=False))
    assert str(err.value) == ("SHOPBENCH_KV_CACHE_GIB=2 but VLLM_CPU_KVCACHE_SPACE=1, which vLLM applies over it: "
                              "unset VLLM_CPU_KVCACHE_SPACE (or make the two agree)")
    no_engine_variables.delenv("SHOPBENCH_KV_CACHE_GIB")
    no_engine_variables.setenv("VLLM_CPU_KVCACHE_SPACE", "lots")
    s = EngineSettings.from_env(cuda=False)  # the transformers engine reads these settings too: not its problem
    with pytest.raises(EngineConfigError, match=r"^VLLM_CPU_KVCACHE_SPACE=lots: not a whole number of GiB"):
        prepare_vllm_cpu(s)


def test_vllm_on_a_cpu_keeps_its_engine_core_in_this_process_unless_told_otherwise(no_engine_variables):
    import os

    from models.engines import prepare_vllm_cpu
    from models.settings import EngineSettings

    no_engine_variables.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "1")
    prepare_vllm_cpu(EngineSettings.from_env(cuda=False))
    assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "1"  # the user's value stands
    no_engine_variables.delenv("VLLM_ENABLE_V1_MULTIPROCESSING")
    prepare_vllm_cpu(EngineSettings.from_env(cuda=False))
    assert os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"


def test_without_a_cuda_argument_the_defaults_follow_what_torch_sees(no_engine_variables):
    from models import settings

    no_engine_variables.setattr(settings, "cuda_available", lambda: False)
    assert settings.EngineSettings.from_env().tensor_parallel_size == 1
    no_engine_variables.setattr(settings, "cuda_available", lambda: True)
    assert settings.EngineSettings.from_env().tensor_parallel_size == 4


def test_meminfo_reads_total_and_available_from_proc_meminfo(tmp_path):
    from models.settings import meminfo

    path = tmp_path / "meminfo"
    path.write_text("MemTotal:       24683772 kB\nMemFree:        22419604 kB\nMemAvailable:   24166436 kB\n")
    assert meminfo(path) == (24683772 * 1024, 24166436 * 1024)


# --- every mistake in a setting is one line naming its variable: a SetupError that is a ValueError too ----
@pytest.mark.parametrize("name, value, message", [
    ("SHOPBENCH_TP", "four", "SHOPBENCH_TP='four': not a whole number; fix it or unset it"),
    ("SHOPBENCH_ENFORCE_EAGER", "maybe", "SHOPBENCH_ENFORCE_EAGER='maybe': not a boolean (1/0, true/false"),
    ("SHOPBENCH_KV_CACHE_GIB", "0", "SHOPBENCH_KV_CACHE_GIB=0.0: must be a positive number of GiB, or auto"),
    ("SHOPBENCH_KV_CACHE_GIB", "big", "SHOPBENCH_KV_CACHE_GIB='big': not a number"),
    ("SHOPBENCH_EXECUTOR", "bogus", "SHOPBENCH_EXECUTOR='bogus': must be mp, ray, uni, external_launcher, auto"),
    ("SHOPBENCH_MAX_NUM_SEQS", "0", "SHOPBENCH_MAX_NUM_SEQS=0: must be 1 to 1024; fix it or unset it"),
])
def test_a_bad_engine_setting_is_one_line_naming_its_variable(no_engine_variables, name, value, message):
    from models.settings import EngineSettings
    from utilities.errors import SetupError

    no_engine_variables.setenv(name, value)
    with pytest.raises(SetupError) as err:
        EngineSettings.from_env(cuda=False)
    assert isinstance(err.value, ValueError) and str(err.value).startswith(message) and "\n" not in str(err.value)


@pytest.mark.parametrize("name, value, read, message", [
    ("SHOPBENCH_BATCH_SIZE", "abc", "batch_size", "SHOPBENCH_BATCH_SIZE='abc': not a whole number"),
    ("SHOPBENCH_BATCH_SIZE", "32", "batch_size", "SHOPBENCH_BATCH_SIZE=32: the grader accepts batch sizes 1 to 16; "
                                                 "fix it or unset it for the default (16)"),
    ("SHOPBENCH_BUDGET_SHARE", "2", "budget_share", "SHOPBENCH_BUDGET_SHARE=2.0: must be in (0, 1]"),
])
def test_a_bad_batch_setting_is_a_setup_error_naming_its_variable(monkeypatch, name, value, read, message):
    from models import settings
    from utilities.errors import SetupError

    monkeypatch.setenv(name, value)
    with pytest.raises(SetupError) as err:
        getattr(settings, read)()
    assert isinstance(err.value, ValueError) and str(err.value).startswith(message)


# --- the model folder and the engine, as the environment names them (models/engines.py) ------------------
def model_folder(tmp_path, *files: str):
    folder = tmp_path / "model"
    folder.mkdir()
    for name in files:
        (folder / name).write_text("{}" if name.endswith(".json") else "version https://git-lfs.github.com/spec/v1\n")
    return folder


@pytest.mark.parametrize("case, message", [
    ("missing", "SHOPBENCH_MODEL={path}: no such folder; set SHOPBENCH_MODEL to a Hugging Face model folder, or unset "
                "it for the default"),
    ("file", "SHOPBENCH_MODEL={path}: a file, not a folder; set SHOPBENCH_MODEL to the model's folder"),
    ("no config", "SHOPBENCH_MODEL={path}: a folder without config.json, so not a Hugging Face model folder; set "
                  "SHOPBENCH_MODEL to one"),
    ("no weights", "SHOPBENCH_MODEL={path}: holds a config but no weight files (*.safetensors, *.bin)"),
    ("lfs pointers", "SHOPBENCH_MODEL={path}: model.safetensors are git-lfs pointers, not weights; run "
                     "`git lfs install && git lfs pull`"),
    ("blank", "SHOPBENCH_MODEL='  ': blank; set it to a Hugging Face model folder, or unset it"),
])
def test_missing_model_folder_is_one_line_naming_shopbench_model(monkeypatch, tmp_path, case, message):
    from models.engines import CheckpointError, load_engine
    from utilities.errors import SetupError

    path = {"missing": lambda: tmp_path / "no-such-model",
            "file": lambda: tmp_path / "model.gguf",
            "no config": lambda: model_folder(tmp_path, "tokenizer.json"),
            "no weights": lambda: model_folder(tmp_path, "config.json"),
            "lfs pointers": lambda: model_folder(tmp_path, "config.json", "model.safetensors"),
            "blank": lambda: "  "}[case]()
    if case == "file":
        path.write_bytes(b"GGUF")
    monkeypatch.setenv("SHOPBENCH_MODEL", str(path))
    monkeypatch.setenv("SHOPBENCH_ENGINE", "transformers")
    with pytest.raises(SetupError) as err:
        load_engine()
    assert isinstance(err.value, (CheckpointError, FileNotFoundError))  # old `except FileNotFoundError` still catch it
    assert str(err.value).startswith(message.format(path=path)) and "\n" not in str(err.value)


def test_an_empty_shopbench_model_or_engine_counts_as_unset(monkeypatch):
    from models import engines

    monkeypatch.setattr(engines, "cuda_available", lambda: False)
    monkeypatch.setenv("SHOPBENCH_ENGINE", "")
    assert engines.engine_name() == "transformers"
    monkeypatch.setenv("SHOPBENCH_MODEL", "")
    seen = []
    monkeypatch.setattr("models.default_model.ensure_default_model", lambda: seen.append(1) or _stop())
    with pytest.raises(_Stop):
        engines.load_engine()
    assert seen == [1]  # the empty value fell back to the default model


class _Stop(Exception):
    pass


def _stop():
    raise _Stop


def test_an_unknown_engine_is_one_line_listing_the_choices(monkeypatch):
    from models.engines import EngineChoiceError, engine_name

    monkeypatch.setenv("SHOPBENCH_ENGINE", "tensorrt")
    with pytest.raises(EngineChoiceError) as err:
        engine_name()
    assert isinstance(err.value, ValueError)
    assert str(err.value) == ("SHOPBENCH_ENGINE=tensorrt: no such engine; choose one of vllm, transformers, or unset "
                              "it for the default (vllm where CUDA is present, transformers elsewhere)")


# --- vLLM's refusals, re-said (the messages are vLLM 0.32's; the real ones: tests/test_vllm_engine.py) ----
def refusal(message: str, raised_in: str = "/site-packages/vllm/v1/worker/cpu_worker.py") -> ValueError:
    """A ValueError as vLLM raises it, its traceback passing through ``raised_in``."""
    try:
        exec(compile(f"raise ValueError({message!r})", raised_in, "exec"))
    except ValueError as err:
        return err
    raise AssertionError("not raised")


def pydantic_wrapped(message: str, model: str = "VllmConfig") -> str:
    return (f"1 validation error for {model}\n  Value error, {message} [type=value_error, input_value=ArgsKwargs(("
            "), {{'model_co... 'shutdown_timeout': 0}}), input_type=ArgsKwargs]\n    For further information visit "
            "https://errors.pydantic.dev/2.14/v/value_error")


@pytest.mark.parametrize("env, vllm_says, expected", [
    ({"SHOPBENCH_TP": "4"}, pydantic_wrapped("Total number of attention heads (9) must be divisible by tensor "
                                             "parallel size (4)."),
     "SHOPBENCH_TP=4: vLLM refused to start smollm2: Total number of attention heads (9) must be divisible by tensor "
     "parallel size (4); set SHOPBENCH_TP to a number that divides the model's attention heads (1 always does)"),
    ({}, pydantic_wrapped("User-specified max_model_len (3072) is greater than the derived max_model_len "
                          "(max_position_embeddings=2048.0 or model_max_length=None in model's config.json). To "
                          "allow overriding this maximum, set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1.",
                          "ModelConfig"),
     "SHOPBENCH_MAX_MODEL_LEN=3072 (default): vLLM refused to start smollm2: User-specified max_model_len (3072) is "
     "greater than the derived max_model_len (max_position_embeddings=2048.0 or model_max_length=None in model's "
     "config.json); set SHOPBENCH_MAX_MODEL_LEN to at most 2048"),
    ({"SHOPBENCH_GPU_MEMORY_UTILIZATION": "0.92", "SHOPBENCH_KV_CACHE_GIB": "auto"},
     "Available memory on node 0 (21.6/23.54 GiB) on startup is less than desired CPU memory utilization (0.92, "
     "21.7 GiB). On the CPU backend, the `--gpu-memory-utilization` flag controls the fraction of CPU memory",
     "SHOPBENCH_GPU_MEMORY_UTILIZATION=0.92, SHOPBENCH_KV_CACHE_GIB=auto: vLLM refused to start smollm2: Available "
     "memory on node 0 (21.6/23.54 GiB) on startup is less than desired CPU memory utilization (0.92, 21.7 GiB); "
     "lower SHOPBENCH_GPU_MEMORY_UTILIZATION to a share that is free, give the KV cache a size with "
     "SHOPBENCH_KV_CACHE_GIB (then it is not used on a CPU), or free memory"),
    ({"SHOPBENCH_DTYPE": "bfloat16"},
     "Bfloat16 is only supported on GPUs with compute capability of at least 8.0. Your Tesla T4 GPU has compute "
     "capability 7.5. You can use float16 instead by explicitly setting the `dtype` flag in CLI",
     "SHOPBENCH_DTYPE=bfloat16: vLLM refused to start smollm2: Bfloat16 is only supported on GPUs with compute "
     "capability of at least 8.0; set SHOPBENCH_DTYPE to one this machine and model support (half on a T4, float32 "
     "on a CPU)"),
    ({"SHOPBENCH_QUANTIZATION": "gptq"}, pydantic_wrapped("Quantization method specified in the model config (awq) "
                                                          "does not match the quantization method specified in the "
                                                          "`quantization` argument (gptq)."),
     "SHOPBENCH_QUANTIZATION=gptq: vLLM refused to start smollm2: Quantization method specified in the model config "
     "(awq) does not match the quantization method specified in the `quantization` argument (gptq); unset "
     "SHOPBENCH_QUANTIZATION (vLLM reads the method from config.json) or set it to the method the checkpoint was "
     "quantized with"),
])
def test_a_vllm_refusal_is_one_line_naming_the_variable_its_value_the_reason_and_the_fix(
        no_engine_variables, tmp_path, env, vllm_says, expected):
    from models.engines import EngineConfigError, vllm_setup_error
    from models.settings import EngineSettings

    for name, value in env.items():
        no_engine_variables.setenv(name, value)
    problem = vllm_setup_error(refusal(vllm_says), EngineSettings.from_env(cuda=False), tmp_path / "smollm2")
    assert isinstance(problem, EngineConfigError) and isinstance(problem, ValueError)
    assert str(problem) == expected


def test_an_unknown_refusal_of_vllms_config_names_every_engine_setting_and_other_errors_stay_themselves(
        no_engine_variables, tmp_path):
    from models.engines import vllm_setup_error
    from models.settings import EngineSettings

    settings = EngineSettings.from_env(cuda=False)
    config = refusal(pydantic_wrapped("not enough values to unpack (expected 2, got 1)"),
                     "/site-packages/vllm/engine/arg_utils.py")
    problem = vllm_setup_error(config, settings, tmp_path / "m")
    assert str(problem).startswith("vLLM refused the engine settings for m: not enough values to unpack (expected 2, "
                                   "got 1); the settings in use: SHOPBENCH_TP=1, SHOPBENCH_DTYPE=float32, ")
    assert all(name in str(problem) for name in ENGINE_VARIABLES[:-1])
    assert vllm_setup_error(refusal("some other value", "/site-packages/vllm/model_executor/x.py"), settings,
                            tmp_path) is None  # not from the configuration: the original exception stands
    assert vllm_setup_error(RuntimeError("Engine core initialization failed"), settings, tmp_path) is None


def test_the_heads_that_shopbench_tp_must_divide_are_read_from_config_json(tmp_path, monkeypatch):
    import json

    from models.engines import EngineConfigError, check_tensor_parallel

    folder = tmp_path / "smollm2"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"num_attention_heads": 9}))
    monkeypatch.delenv("SHOPBENCH_TP", raising=False)
    with pytest.raises(EngineConfigError) as err:
        check_tensor_parallel(folder, 4)
    assert str(err.value) == ("SHOPBENCH_TP=4 (default) but smollm2's 9 attention heads are not divisible by it: "
                              "set SHOPBENCH_TP=1 (or 3, 9)")
    check_tensor_parallel(folder, 3)
    check_tensor_parallel(tmp_path, 4)  # no config.json: vLLM decides (its refusal is re-said)
