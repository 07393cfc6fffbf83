# The two commands of the README: `make demo` (the main job) and `make test` (the test suite).
# Both install first; scripts/install.sh is idempotent and takes seconds once done.
VENV ?= $(CURDIR)/.venv
DEMO_DIR ?= $(CURDIR)/out/demo
DANCEMOSAIC := $(VENV)/bin/dancemosaic

.PHONY: install test demo clean

install:
	VENV=$(VENV) bash scripts/install.sh

test: install
	$(VENV)/bin/pytest -q

# The most complete real pipeline so far: the bootstrap corpus (real music, procedural
# choreography; a joints dataset in HumanML3D's layout) and the training cache built from it.
# Later stages (train, generate, retarget, sim) join here as they land.
demo: install
	$(DANCEMOSAIC) data bootstrap --out $(DEMO_DIR)/corpus
	$(DANCEMOSAIC) data prepare --humanml3d $(DEMO_DIR)/corpus --out $(DEMO_DIR)/cache

# Build outputs only; the venv stays (rm -rf .venv to reinstall from scratch).
clean:
	rm -rf build install log out .pytest_cache $(VENV)/.dancemosaic-msg-build $(VENV)/.dancemosaic-msg-build.log
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
