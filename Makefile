# The two commands of the README: `make demo` (the main job) and `make test` (the test suite).
# Both install first; scripts/install.sh is idempotent and takes seconds once done.
VENV ?= $(CURDIR)/.venv
DEMO_DIR ?= $(CURDIR)/out/demo
DANCEMOSAIC := $(VENV)/bin/dancemosaic

.PHONY: install test demo live model clean

install:
	VENV=$(VENV) bash scripts/install.sh

test: install
	$(VENV)/bin/pytest -q

# The main job: Frozen Bubble's theme (Debian frozen-bubble-data) through the ROS 2 pipeline
# (audio file -> generator -> retarget, Fast DDS on loopback) into MuJoCo with the G1:
# out/demo.mp4 and out/demo_report.md. The trained model ships in dancemosaic_core/weights/default.
demo: install
	ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST $(DANCEMOSAIC) demo --out out

# The same from the default microphone (60 s).
live: install
	ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST $(DANCEMOSAIC) demo --live --out out/live

# Retrain the shipped model from scratch on the bootstrap corpus (about an hour on 2 cores).
model: install
	$(DANCEMOSAIC) data bootstrap --out $(DEMO_DIR)/corpus
	$(DANCEMOSAIC) data prepare --joints $(DEMO_DIR)/corpus --out $(DEMO_DIR)/cache
	bash scripts/train_default.sh $(DEMO_DIR)/cache runs/default

# Build outputs only; the venv stays (rm -rf .venv to reinstall from scratch).
clean:
	rm -rf build install log out .pytest_cache $(VENV)/.dancemosaic-msg-build $(VENV)/.dancemosaic-msg-build.log
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
