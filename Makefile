# CAPF: every target sets up .venv first (idempotent; a stamp file skips work already done).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CAPF := $(VENV)/bin/capf
STAMP := $(VENV)/.capf-setup-v1

TORCH_PINS := torch==2.14.1 torchvision==0.29.1
MMCV_VERSION := 2.1.0
# mmcv's compiled ops are built once per torch version and kept outside the repo.
WHEEL_DIR := $(HOME)/.cache/capf/wheels/torch-2.14.1
# Runtime dependencies of mmpose/mmdet that their (partly broken) metadata would otherwise pull in.
MM_RUNTIME_DEPS := json-tricks munkres pillow scipy six pycocotools shapely terminaltables matplotlib \
                   opencv-python-headless rich termcolor addict yapf

# User-facing variables (see README).
CONFIG ?= configs/extract/h36m_hrnet_w32.py
DATA_ROOT ?= ../shared/data/h36m
CHECKPOINT ?=
CACHE_DIR ?=
RANDOM_INIT ?=
FLIP ?=
WORK_DIR ?=
CKPT ?=
ARGS ?=
NPROC ?= 1
# NPROC>1: one process per GPU (or CPU worker) under torchrun; ranks write disjoint shards of one store.
LAUNCH = $(if $(filter-out 1,$(NPROC)),$(VENV)/bin/torchrun --standalone --nproc-per-node $(NPROC) -m pipeline,$(CAPF))

extract_flags = --config $(CONFIG) --data-root $(DATA_ROOT) \
    $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT)) $(if $(CACHE_DIR),--cache-dir $(CACHE_DIR)) \
    $(if $(filter 1 yes true,$(RANDOM_INIT)),--random-init) $(if $(filter 1 yes true,$(FLIP)),--flip)

.PHONY: help setup test test-fast demo extract train eval infer live ablate cache-ls bench clean-venv check-parity

help:
	@echo "make demo     end to end on the bundled data"
	@echo "make test     the test suite (slow end-to-end tests included)"
	@echo "make extract  CONFIG=… DATA_ROOT=… CHECKPOINT=… [CACHE_DIR=…] [RANDOM_INIT=1] [FLIP=1] [NPROC=N]"
	@echo "make train    CONFIG=configs/capf/… [CACHE_DIR=…] [WORK_DIR=…] [ARGS=\"--max-iters 20\"]"
	@echo "make eval     CONFIG=configs/capf/… CKPT=work_dirs/…/best.pth"
	@echo "make infer    [INPUT=video|folder|image] [LIFT_CONFIG=… CKPT=… CHECKPOINT=…] (none: the demo's clip)"
	@echo "make live     SOURCE=0|/dev/video0|rtsp://…|clip.mp4 [CKPT=… CHECKPOINT=…] [OUT=x.jsonl] (JSON lines, latency)"
	@echo "make ablate   Table 3 steps + Table 4 level subsets on the demo's cache, one markdown table"
	@echo "              (ARGS='--study temporal --seeds 3': Table 6, PoseFormer and CA-PF-S over 1-81 frames)"
	@echo "make check-parity [FIXTURE=…]  CAPF vs the authors' CA-PF code, number for number (docs/authors_weights.md)"
	@echo "make bench    throughput ratios -> bench/results.json (ARGS=--quick for a smoke run)"
	@echo "make setup    create .venv and install everything (called by every target)"

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade "pip>=24" wheel
	$(PIP) install -q $(TORCH_PINS)
	$(PIP) install -q "setuptools<70"  # only while mmcv's setup.py builds; see mmcv-wheel
	$(MAKE) --no-print-directory mmcv-wheel
	$(PIP) install -q "setuptools>=77,<81"  # torch needs >=77; mmengine imports pkg_resources, gone in 81
	$(PIP) install -q --no-deps $(WHEEL_DIR)/mmcv-$(MMCV_VERSION)-*.whl
	$(PIP) install -q --no-deps mmpose==1.3.2 mmdet==3.3.0
	$(PIP) install -q cython "numpy>=1.26,<2.3"  # xtcocotools' setup.py imports both, undeclared
	$(PIP) install -q --no-build-isolation --no-binary xtcocotools xtcocotools
	$(PIP) install -q $(MM_RUNTIME_DEPS)
	# Blender as a module, for the test that opens CAPF's BVH in Blender's own importer: --no-deps because
	# bpy 5.0.1 pins numpy<2 yet runs its importer on the numpy 2 the rest needs (tests/stages/export)
	$(PIP) install -q --no-deps bpy==5.0.1 zstandard requests
	$(PIP) install -q -e .
	$(PY) -c "import mmcv.ops, mmpose.models, zarr, tensorstore; print('capf setup ok: torch', __import__('torch').__version__)"
	touch $(STAMP)

# mmcv 2.1.0 (the newest mmdet 3.3.0 accepts) ships no wheel for torch 2.14; build its ops from the
# sdist. torch 2.14's headers need C++20, mmcv's setup.py asks for C++14/17, hence the sed.
# CUDA_VISIBLE_DEVICES= keeps the build CPU-only: CAPF uses no compiled op, mmpose only imports them.
.PHONY: mmcv-wheel
mmcv-wheel:
	@if ls $(WHEEL_DIR)/mmcv-$(MMCV_VERSION)-*.whl >/dev/null 2>&1; then echo "mmcv wheel cached in $(WHEEL_DIR)"; else \
	  set -e; tmp=$$(mktemp -d); mkdir -p $(WHEEL_DIR); \
	  echo "building mmcv $(MMCV_VERSION) with ops (about 10 min on 2 cores, once per machine)"; \
	  $(PIP) download -q --no-deps --no-build-isolation --no-binary :all: mmcv==$(MMCV_VERSION) -d $$tmp; \
	  tar xzf $$tmp/mmcv-$(MMCV_VERSION).tar.gz -C $$tmp; \
	  sed -i 's/-std=c++1[47]/-std=c++20/g' $$tmp/mmcv-$(MMCV_VERSION)/setup.py; \
	  (cd $$tmp/mmcv-$(MMCV_VERSION) && CUDA_VISIBLE_DEVICES= MMCV_WITH_OPS=1 MAX_JOBS=$$(nproc) \
	    $(abspath $(PY)) -m pip wheel -q . --no-deps --no-build-isolation --no-cache-dir -w $(WHEEL_DIR)); \
	  rm -rf $$tmp; fi

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

extract: setup
	$(LAUNCH) extract $(extract_flags) $(ARGS)

cache-ls: setup
	$(CAPF) cache ls $(if $(CACHE_DIR),--cache-dir $(CACHE_DIR))

store_flags = $(if $(CACHE_DIR),--cache-dir $(CACHE_DIR)) $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT)) \
    $(if $(filter 1 yes true,$(RANDOM_INIT)),--random-init)
LIFT_CONFIG ?= configs/capf/capf_hrnet32_h36m.py

# make train CONFIG=configs/capf/… : finds the config's store in CACHE_DIR (extracting it on a miss).
train: setup
	$(LAUNCH) train --config $(if $(filter configs/extract/%,$(CONFIG)),$(LIFT_CONFIG),$(CONFIG)) \
	  --data-root $(DATA_ROOT) $(store_flags) $(if $(WORK_DIR),--work-dir $(WORK_DIR)) $(ARGS)

eval: setup
	$(CAPF) eval --config $(if $(filter configs/extract/%,$(CONFIG)),$(LIFT_CONFIG),$(CONFIG)) --ckpt $(CKPT) \
	  $(if $(DATA_ROOT),--data-root $(DATA_ROOT)) $(store_flags) $(ARGS)

# make infer: no INPUT = the demo's synthetic clip; no CKPT = the demo's models (made if missing).
# LIFT_CONFIG only when given here (its default above serves train/eval): else the run dir's config.py.
INPUT ?=
OUT ?=
infer: setup
	$(CAPF) infer $(INPUT) $(if $(CKPT),--ckpt $(CKPT)) $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT)) \
	  $(if $(filter command line environment,$(origin LIFT_CONFIG)),--lift-config $(LIFT_CONFIG)) \
	  $(if $(OUT),--out $(OUT)) $(if $(CACHE_DIR),--cache-dir $(CACHE_DIR)) \
	  $(if $(filter 1 yes true,$(RANDOM_INIT)),--random-init) $(ARGS)

# The authors' model's outputs (../shared/parity) against CAPF's import, detector and lifter.
FIXTURE ?= ../shared/parity/authors_ca_pf
check-parity: setup
	$(CAPF) check-parity $(FIXTURE) $(ARGS)
# make live SOURCE=0 (a camera), a device, a stream URL or a video file (none: the demo's clip); no CKPT = the demo's models.
SOURCE ?=
live: setup
	$(CAPF) live $(SOURCE) $(if $(CKPT),--ckpt $(CKPT)) $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT)) \
	  $(if $(filter command line environment,$(origin LIFT_CONFIG)),--lift-config $(LIFT_CONFIG)) \
	  $(if $(OUT),--out $(OUT)) $(if $(filter 1 yes true,$(RANDOM_INIT)),--random-init) $(ARGS)

bench: setup
	$(CAPF) bench $(ARGS)

demo: setup
	$(CAPF) demo $(ARGS)

ablate: setup
	$(CAPF) ablate $(ARGS)

clean-venv:
	rm -rf $(VENV)
