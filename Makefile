# nvc developer entry points. `make test` and `make demo` set up everything from scratch.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo conform bench lint clean train

$(STAMP): pyproject.toml setup.py $(wildcard native/*.cpp native/rans/* native/gemm/* native/motion/*)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the CPU build that lies on these machines; never let pip pick a CUDA build
	$(BIN)/pip install -q torch==2.13.0
	# eval: the BD-rate and RD-plot tests need bjontegaard and matplotlib, so no test is skipped;
	# ray: the --workers and nvc batch tests run on a local Ray (about 10 s to install, 250 MB)
	$(BIN)/pip install -q -e '.[test,eval,ray]'
	touch $(STAMP)

install: $(STAMP)

test: install
	$(BIN)/python -m pytest

# a real encode and decode through the nvc command, on a clip generated with PyAV (outputs in out/)
demo: install
	$(BIN)/python docs/examples/sample_clip.py out/sample.mp4
	$(BIN)/nvc encode out/sample.mp4 out/sample.nvc -y --psnr
	$(BIN)/nvc info out/sample.nvc
	$(BIN)/nvc decode out/sample.nvc out/sample-decoded.mp4 -y
	$(BIN)/python docs/examples/roundtrip.py

conform: install
	$(BIN)/nvc conform tests/fixtures/conformance

bench: install
	$(BIN)/pip install -q 'constriction>=0.4'
	$(BIN)/python bench/bench_rans.py
	$(BIN)/python bench/bench_codec.py --size 1920x1080 --frames 2
	$(BIN)/python bench/bench_reference_conv.py

# Rate-distortion evaluation on the fixed set in bench/eval_set.json (disjoint from training; docs/DATA_SPLIT.md):
# nvc vs x264, x265 and JPEG, BD-rates, fps. Writes $(RD_OUT)/rd.json and rd.png. MODEL: an nvc model spec.
.PHONY: bench-rd
RD_OUT ?= bench/results
bench-rd: install
	$(BIN)/pip install -q -e '.[eval]'
	$(BIN)/python bench/bench_rd.py --data $(or $(DATA),../shared/data) --out $(RD_OUT) $(if $(MODEL),--model $(MODEL),)

# Candidate weights against the shipped ones on training-split clips (bench/dev_set.json): how a
# choice between weights is made without looking at the evaluation set. CANDIDATE: an nvc model file.
.PHONY: bench-dev
bench-dev: install
	$(BIN)/python bench/bench_dev.py --data $(DATA) --candidate $(CANDIDATE) $(if $(MODEL),--anchor $(MODEL),)

# What a user waits for: nvc encode and decode of 30 frames of a 720p training-split clip, whole
# commands, beside libx264 on the same frames (bench/bench_transcode.py). MODEL: an nvc model spec.
.PHONY: bench-transcode
TRANSCODE_CLIP ?= video/compressed/sam2_02_cups_1280x720.mp4
bench-transcode: install
	$(BIN)/python bench/bench_transcode.py --clip $(DATA)/$(TRANSCODE_CLIP) $(if $(MODEL),--model $(MODEL),)

# Chunked encode and decode on a local Ray (--workers) against one process, every output checked byte for
# byte, and what a chunk costs to feed (docs/SCALEOUT.md). WORKERS: Ray workers (default 2).
.PHONY: bench-scaleout
bench-scaleout: install
	$(BIN)/python bench/bench_scaleout.py --clip $(DATA)/$(TRANSCODE_CLIP) --workers $(or $(WORKERS),2) \
		--out $(RD_OUT)/scaleout.json

# Rate control: one and two passes at three targets on development and evaluation clips (60 frames, 720p
# among them) against fixed-qp encodes in the same run (bench/bench_ratecontrol.py).
.PHONY: bench-ratecontrol
bench-ratecontrol: install
	$(BIN)/python bench/bench_ratecontrol.py --data $(DATA) --out $(RD_OUT)/ratecontrol.json $(if $(MODEL),--model $(MODEL),)

# Seconds per training step with each speed option (channels_last, bf16) against plain float32.
.PHONY: bench-train
bench-train: install
	$(BIN)/python bench/bench_train.py

# The recipe behind the shipped weights. Resumes train_runs/default/checkpoint.pt when present,
# else continues from the committed weights (nvcodec/weights/nvc-compact.pt and its .train.json).
# A checkpoint started from other weights than the committed ones is refused (move it aside).
DATA ?= ../shared/data
train: install
	nice -n 10 $(BIN)/nvc train --data-root $(DATA) --out train_runs/default \
		$(if $(wildcard nvcodec/weights/nvc-compact.pt),--init nvcodec/weights/nvc-compact.pt,)

lint: install
	$(BIN)/ruff check nvcodec cli tests bench docs

clean:
	rm -rf build *.egg-info nvcodec/*.so
