# ArbSR: arbitrary-scale super-resolution for QGIS.
# `make demo` and `make test` work on a fresh Debian bookworm machine as root: they install what
# is missing first (Debian packages, .venv, Python dependencies) and do nothing more on a re-run.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.deps-installed
APT_PKGS  := python3-qgis qgis qgis-providers python3-gdal gdal-bin python3-pyqt5 python3-venv \
             python3-yaml xvfb zip unzip git pyqt5-dev-tools qttools5-dev-tools g++
BUILD     := build
PLUGIN    := arbsr_qgis
VERSION   := $(shell sed -n 's/^version=//p' metadata.txt)
# Headless Qt/QGIS: no display, and a throw-away profile/config so nothing is written to $HOME.
HEADLESS  := QT_QPA_PLATFORM=offscreen \
             XDG_RUNTIME_DIR=$$(mktemp -d) XDG_CONFIG_HOME=$$(mktemp -d) XDG_CACHE_HOME=$$(mktemp -d)
PROFILE   ?= $(HOME)/.local/share/QGIS/QGIS3/profiles/default
# The plugin folder exactly as installed (what `make zip` zips; pb_tool works on it).
STAGE     := $(abspath $(BUILD))/pkg/$(PLUGIN)
PB_TOOL   := $(abspath $(VENV))/bin/pb_tool
PB_CFG    := --config_file $(CURDIR)/pb_tool.cfg
PYTEST_ARGS ?=
# Translations (Plugin Builder 3 layout): arbsr_qgis/i18n/arbsr_qgis_<locale>.ts -> .qm
LOCALES   := fr
I18N      := $(PLUGIN)/i18n
TS_FILES  := $(foreach l,$(LOCALES),$(I18N)/$(PLUGIN)_$(l).ts)

.PHONY: help setup apt venv compiled test test-engine test-plugin demo bench stage zip deploy \
        clean pb-validate pb-deploy pb-zip repo-zip transup transcompile

help:
	@echo "make demo    super-resolve the bundled sample through QGIS Processing (qgis_process)"
	@echo "make test    run the whole test suite in a real headless QGIS"
	@echo "make bench   speed / memory / quality benchmarks, JSON in $(BUILD)/bench/"
	@echo "make zip     installable plugin zip in $(BUILD)/"
	@echo "make deploy  install the plugin into PROFILE=$(PROFILE)"
	@echo "make pb-zip / pb-deploy / pb-validate   the same through pb_tool (pb_tool.cfg)"
	@echo "make transup / transcompile   update the .ts files from the code / compile them to .qm"
	@echo "make repo-zip  zip for the QGIS plugin repository (qgis-plugin-ci) + its checks"

setup: apt $(STAMP) compiled

# Debian packages: installed only when one is missing (dpkg-query is instant when all are there).
apt:
	@missing=$$(for p in $(APT_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	    | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages: $$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends $$missing; \
	fi

$(PY):
	/usr/bin/python3 -m venv --system-site-packages $(VENV)

$(STAMP): requirements.txt constraints.txt | $(PY)
	$(PY) -m pip install -q -c constraints.txt -r requirements.txt
	@touch $@

test: setup
	$(HEADLESS) $(PY) -m pytest $(PYTEST_ARGS)

test-engine: setup
	$(PY) -m pytest tests/engine $(PYTEST_ARGS)

test-plugin: setup
	$(HEADLESS) $(PY) -m pytest tests/plugin $(PYTEST_ARGS)

demo: setup
	$(HEADLESS) $(PY) tools/demo.py --out $(BUILD)/demo

# The default model's decoder compiled for this CPU in the user's cache (same pixels, faster;
# engine/models/lmlte/compiled.py): a few seconds once, 2 s when up to date.
# The tests build their own in a temporary cache.
compiled: apt $(STAMP)
	$(PY) -m engine compile lmlte-default

bench: setup
	$(PY) -m engine bench --out $(BUILD)/bench
	$(PY) -m engine.bench.throughput $(BUILD)/bench/throughput.json
	$(PY) -m engine.bench.flops $(BUILD)/bench/flops.json

zip: $(BUILD)/$(PLUGIN).zip

# The installable plugin: one top folder arbsr_qgis/ with metadata.txt, the engine and the weights.
# The checkout keeps metadata.txt, engine/ and resources/ at the top level (design card); staging
# copies the tracked files into the layout QGIS installs. The benchmarks (engine/bench/ and the
# `bench` command) are for the checkout only: users never run them, and the CLI leaves out a
# command whose module is absent.
define stage-plugin
	rm -rf $(BUILD)/pkg && mkdir -p $(BUILD)/pkg
	git ls-files -z $(PLUGIN) | xargs -0 -I{} cp --parents {} $(BUILD)/pkg/
	git ls-files -z engine resources \
	  | grep -zv -e '^resources/screenshots/' -e '^engine/bench/' -e '^engine/commands/bench\.py$$' \
	  | xargs -0 -I{} cp --parents {} $(BUILD)/pkg/$(PLUGIN)/
	cp metadata.txt LICENSE $(BUILD)/pkg/$(PLUGIN)/
endef

stage:
	$(stage-plugin)

$(BUILD)/$(PLUGIN).zip: $(shell git ls-files $(PLUGIN) engine resources metadata.txt LICENSE 2>/dev/null)
	$(stage-plugin)
	rm -f $@ && cd $(BUILD)/pkg && zip -q -r ../$(PLUGIN).zip $(PLUGIN) -x '*__pycache__*'
	@echo "Plugin zip: $@"

deploy: zip
	mkdir -p "$(PROFILE)/python/plugins"
	rm -rf "$(PROFILE)/python/plugins/$(PLUGIN)"
	unzip -q -o $(BUILD)/$(PLUGIN).zip -d "$(PROFILE)/python/plugins"
	@echo "Installed into $(PROFILE)/python/plugins/$(PLUGIN); enable it in Plugins > Manage."

# pb_tool (Plugin Builder 3's companion) copies paths as they are, so it runs in the staged folder.
pb-validate: stage
	cd $(STAGE) && $(PB_TOOL) validate $(PB_CFG)

pb-deploy: stage
	mkdir -p "$(PROFILE)/python/plugins"
	cd $(STAGE) && $(PB_TOOL) deploy $(PB_CFG) -y -n -p "$(PROFILE)/python/plugins"

# pb_tool zip deploys into a folder first, then zips it: both stay under $(BUILD)/pb/.
pb-zip: stage
	rm -rf $(BUILD)/pb && mkdir -p $(BUILD)/pb/deploy
	cd $(STAGE) && yes | $(PB_TOOL) zip $(PB_CFG) -n -p $(abspath $(BUILD))/pb/deploy \
	  > $(abspath $(BUILD))/pb/pb_tool.log 2>&1 || { cat $(abspath $(BUILD))/pb/pb_tool.log; exit 1; }
	mv $(STAGE)/$(PLUGIN).zip $(BUILD)/pb/$(PLUGIN).zip
	@echo "pb_tool zip: $(BUILD)/pb/$(PLUGIN).zip"

# The QGIS plugin repository's zip: qgis-plugin-ci packages the staged plugin (in a throw-away git
# repository, as it archives from git), then the repository's upload checks run on it.
repo-zip: stage
	$(PY) tools/repo_package.py $(STAGE) --out $(BUILD)

# Translations: pylupdate5 collects self.tr()/translate() strings of every module into the .ts
# files (keeping existing translations, dropping vanished strings); lrelease compiles them.
transup:
	pylupdate5 -noobsolete $$(find $(PLUGIN) -name '*.py' -not -path '*__pycache__*' | sort) \
	  -ts $(TS_FILES)

transcompile:
	for ts in $(TS_FILES); do lrelease -silent $$ts -qm $${ts%.ts}.qm || exit 1; done

clean:
	rm -rf $(BUILD) .pytest_cache
