# Every target installs what it needs into its own virtualenv (.venv), pinned by constraints.txt.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster
empty :=
space := $(empty) $(empty)
# Data files of the shipped fictitious sample, ':'-separated (its README is not an input).
SAMPLE := $(subst $(space),:,$(wildcard pipelines/sample_data/*.json pipelines/sample_data/*.xml))

.PHONY: install run run-live test dev validate-defs status clean lock evaluate model

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# The main job: the whole pipeline into published/ (offline: the shipped fictitious sample, see pipelines/sample_data).
run: install
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/python deploy/select_instance.py
	ACHATS_INPUT_PATHS=$${ACHATS_INPUT_PATHS:-$(SAMPLE)} $(BIN)/dagster job execute -m pipelines.definitions -j publier_decp
	$(BIN)/frictionless validate $${ACHATS_OUT_DIR:-published}/datapackage.json

# Live: crawl the last complete month of DECP, BOAMP and TED into data/raw, then publish (network needed).
run-live: install
	$(BIN)/achats-innovants run --out published

test: install
	$(BIN)/python -m pytest -n auto --dist loadfile

# The classifier measured on the team's labelled set (real samples in ../shared/data/real or ACHATS_REAL_DATA).
evaluate: install
	$(BIN)/achats-innovants evaluate

# Retrain the shipped text model and rewrite its card (pipelines/classify/model/); deterministic.
model: install
	$(BIN)/achats-innovants train

dev: install
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/python deploy/select_instance.py
	$(BIN)/dagster dev

validate-defs: install
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/dagster definitions validate

# Per source: last partition collected, its rows, failures since (the instance in DAGSTER_HOME).
status: install
	$(BIN)/achats-innovants status

clean:
	rm -rf $(VENV) .dagster .pytest_cache

# Re-pin after a dependency change: fresh resolution, then freeze what the tests ran with.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet -e '.[dev]'
	{ echo "# Exact versions tested in CI (pip freeze of .venv). Installed with: pip install -c constraints.txt -e '.[dev]'"; \
	  echo "# Regenerate after changing dependencies: make lock"; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^achats-innovants'; } > constraints.txt
	rm -rf .venv-lock
