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
