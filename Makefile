# Oltron generator. `make demo` and `make test` each work alone on a fresh machine.
SHELL := /bin/bash
NODE_STAMP := node_modules/.oltron-stamp
# tsc runs only when a source, the compiler settings or the packages changed.
BUILD_STAMP := dist/.oltron-build
TS_SOURCES := $(shell find src -type f -name '*.ts' 2>/dev/null) tsconfig.json
APT_TOOLS := verilator iverilog yosys chromium procps python3-numpy opensta qflow-tech-osu018 slurm-wlm munge libxml2-utils gtkwave
OLTRON := node bin/oltron.js

.PHONY: deps demo test bench clean lint build tools

deps: tools $(NODE_STAMP) build

# System tools come from Debian's packages; installed only when missing. Chromium is the
# browser the report test drives (playwright-core; Playwright's own download does not work here);
# procps gives `ps`, which the interrupt tests use to look for leftover processes; python3-numpy
# runs the PyTorch-side fake-quantization helper (examples/pytorch) against the export;
# opensta (sta) and qflow-tech-osu018 (the OSU 0.18 um standard-cell liberty) are the PPA flow;
# slurm-wlm and munge give the one-node Slurm cluster the cluster test runs sweeps on (docs/cluster.md);
# libxml2-utils (xmllint) validates the generated IP-XACT against its schema; gtkwave views the
# waveforms `--trace` writes.
tools:
	@missing=""; \
	command -v verilator >/dev/null || missing="$$missing verilator"; \
	command -v iverilog >/dev/null || missing="$$missing iverilog"; \
	command -v yosys >/dev/null || missing="$$missing yosys"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v ps >/dev/null || missing="$$missing procps"; \
	python3 -c "import numpy" 2>/dev/null || missing="$$missing python3-numpy"; \
	command -v sta >/dev/null || missing="$$missing opensta"; \
	[ -f /usr/share/qflow/tech/osu018/osu018_stdcells.lib ] || missing="$$missing qflow-tech-osu018"; \
	{ command -v slurmctld || [ -x /usr/sbin/slurmctld ]; } >/dev/null || missing="$$missing slurm-wlm"; \
	{ command -v munged || [ -x /usr/sbin/munged ]; } >/dev/null || missing="$$missing munge"; \
	command -v xmllint >/dev/null || missing="$$missing libxml2-utils"; \
	command -v gtkwave >/dev/null || missing="$$missing gtkwave"; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing from Debian packages"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $(APT_TOOLS) gcc g++ make; \
	fi

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

build: $(BUILD_STAMP)

$(BUILD_STAMP): $(NODE_STAMP) $(TS_SOURCES)
	npx tsc -p tsconfig.json
	@touch $@

demo: deps
	$(OLTRON) demo

test: deps
	npx vitest run

bench: deps
	$(OLTRON) bench --out bench/results
	$(OLTRON) bench accuracy --out bench/results
	$(OLTRON) report bench/results

# Typecheck plus `verilator --lint-only -Wall` over the configuration sweep.
lint: deps
	npx tsc -p tsconfig.json --noEmit
	npx vitest run test/rtl.test.ts

clean:
	rm -rf dist .cache bench/results
	find rtl-out -mindepth 1 -not -name README.md -exec rm -rf {} +
