# emud's two commands: `make run` and `make test`. Both install what they need on Debian 12 (as root).
SHELL := /bin/bash
SWIFT ?= swift
BUILD := build
EMUD := .build/release/emud
APT_PACKAGES := qemu-system-arm qemu-user gdb-multiarch gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
                libcapstone-dev libsystemd-dev pkg-config systemd bc python3-venv python3-pip \
                libfdt-dev device-tree-compiler zlib1g-dev cpio e2fsprogs
CROSS ?= aarch64-linux-gnu-
export EMUD_BIN := $(CURDIR)/$(EMUD)
export EMUD_GUESTS := $(CURDIR)/$(BUILD)/guests
export EMUD_PLUGINS := $(CURDIR)/$(BUILD)/plugins
export EMUD_ROOT := $(CURDIR)
PYENV := $(CURDIR)/$(BUILD)/pyenv
# Debian's Python (with python3-venv), whatever other Python is first on PATH.
HOST_PYTHON := $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
# QEMU's own QMP client library, which the tests drive the control socket with.
export EMUD_PYTHON := $(PYENV)/bin/python

.PHONY: all deps release guests plugins pyenv linux run test bench install clean fuzz fuzz-ci soak

all: release

# Installs only the Debian packages that are missing, so a second run is quick and offline.
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing; run as root or apt-get install them" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v $(SWIFT) >/dev/null || { echo "swift not found on PATH (expected /opt/swift/usr/bin)" >&2; exit 1; }

release: deps
	$(SWIFT) build -c release --product emud

guests: deps
	@$(MAKE) --no-print-directory -C Tests/Guests OUT=$(EMUD_GUESTS) CROSS=$(CROSS)

plugins: deps
	@$(MAKE) --no-print-directory -C contrib/plugins OUT=$(EMUD_PLUGINS)

DEMO := $(CURDIR)/$(BUILD)/demo
# The main job on its built-in default: the daemon with a demo machine (console here), its gdb endpoint on
# 127.0.0.1:1234 and the insn plugin loaded. Ctrl-C stops it gracefully.
run: release guests plugins
	@mkdir -p $(DEMO)
	@printf '%s\n' '{ "control": "$(DEMO)/emud.sock", "log_target": "stderr", "plugin_dirs": [ "$(EMUD_PLUGINS)" ],' \
	  '  "machines": [ { "id": "demo", "image": "$(EMUD_GUESTS)/demo-forever.elf", "cpus": 1, "memory": "128M",' \
	  '    "gdb": "tcp::1234", "console": "stdout",' \
	  '    "plugins": [ { "path": "$(EMUD_PLUGINS)/libinsn.so", "args": ["inline=on"] } ] } ] }' > $(DEMO)/emud.json
	@echo "== emud demo: daemon with machine 'demo' ($(DEMO)/emud.json). Try, in another terminal:"
	@echo "   gdb-multiarch $(EMUD_GUESTS)/demo-forever.elf -ex 'target remote 127.0.0.1:1234'"
	@echo "   $(EMUD) ctl --control $(DEMO)/emud.sock query-machines"
	@echo "   $(EMUD) ctl --control $(DEMO)/emud.sock plugin-query machine=demo id=1"
	@echo "   $(EMUD) ctl --control $(DEMO)/emud.sock plugin-load machine=demo path=$(EMUD_PLUGINS)/libhotblocks.so"
	@echo "   $(EMUD) run $(EMUD_GUESTS)/demo.elf      # one machine in the foreground"
	@echo "== Ctrl-C stops the daemon =="
	$(EMUD) daemon --config $(DEMO)/emud.json

# A Python environment with qemu.qmp from PyPI (QEMU's own QMP client), made once.
pyenv: deps
	@test -x $(PYENV)/bin/python && $(PYENV)/bin/python -c 'import qemu.qmp' 2>/dev/null || { \
	  $(HOST_PYTHON) -m venv $(PYENV) && $(PYENV)/bin/pip install -q 'qemu.qmp>=0.0.3'; }

# Debian 12's arm64 kernel, busybox and U-Boot for the boot tests, fetched from the Debian archive (never
# committed) with a busybox initramfs built from them; kept in build/linux, so later runs are offline.
linux: deps
	@Tests/Linux/fetch.sh $(CURDIR)/$(BUILD)/linux

# The suites that drive whole machines (in the daemon or in process), for the second pass of `make test`.
ENGINE_SUITES = GDBTests|RealGDB|DifferentialFuzzTests|PluginIntegrationTests|DeterministicClockTests|ExclusiveMonitorTests|MemoryOrderingTests|VirtioTests|BootTests|SemihostingTests|PluginsTests|DebugSeamTests|ExclusiveSectionTests

test: release guests plugins pyenv linux
	$(SWIFT) build --build-tests
	@# One test at a time: several suites block threads while guests run, and Swift concurrency has only as
	@# many threads as cores here; running them side by side starved the NIO-based tests.
	@# First pass: everything on the default engine (the translator on x86-64 hosts, else the interpreter).
	env -u EMUD_ENGINE $(SWIFT) test --skip-build --no-parallel
	@# Second pass: the suites that drive whole machines again with the interpreter, the reference engine, as
	@# every machine's engine (the guest and SMP programs already run under both engines, each against QEMU).
	EMUD_ENGINE=interp $(SWIFT) test --skip-build --no-parallel --filter '$(ENGINE_SUITES)'
	@$(MAKE) --no-print-directory fuzz-ci

FUZZ_SECONDS ?= 60
FUZZ_RUNS ?= 20000
# The libFuzzer harnesses in Tests/Fuzz, each for FUZZ_SECONDS, one after another; each keeps the inputs it
# found in .build/fuzz/NAME/corpus for the next run. A finding stops with the input's path and how to replay it.
fuzz: release
	@FUZZ_SECONDS=$(FUZZ_SECONDS) Tests/Fuzz/fuzz.sh run

# What `make test` runs: each harness over its committed seeds and reproducers, then FUZZ_RUNS inputs from a
# fixed random seed, so that a change that breaks a parser fails here even without a fuzzing campaign.
fuzz-ci: release
	@FUZZ_RUNS=$(FUZZ_RUNS) Tests/Fuzz/fuzz.sh ci

SOAK_CYCLES ?= 1000
# Outside `make test` (about ten minutes): SOAK_CYCLES machine create / plugin load / unload / destroy cycles
# against one daemon, failing if its resident memory or descriptors grow (Tests/Soak/soak.sh has the slack).
soak: release guests plugins
	@SOAK_CYCLES=$(SOAK_CYCLES) Tests/Soak/soak.sh

bench: release guests plugins linux
	@Tests/Bench/run-bench.sh
	@Tests/Bench/smp-bench.sh
	@Tests/Bench/boot-bench.sh
	@Tests/Bench/plugin-bench.sh
	@$(HOST_PYTHON) Tests/Bench/worker-bench.py $(EMUD_BIN) $(EMUD_GUESTS)/demo-forever.elf $(EMUD_PLUGINS)/libinsn.so

PREFIX ?= /usr/local
# Installs the binary, the plugin header, the sample plugins and the systemd units (systemctl daemon-reload
# afterwards; the units expect the binary in /usr/local/bin and a configuration in /etc/emud).
install: release plugins
	install -D -m 0755 $(EMUD) $(DESTDIR)$(PREFIX)/bin/emud
	install -D -m 0644 Sources/CEmudPlugin/include/emud-plugin.h $(DESTDIR)$(PREFIX)/include/emud-plugin.h
	install -d $(DESTDIR)$(PREFIX)/lib/emud/plugins $(DESTDIR)$(PREFIX)/share/doc/emud
	install -m 0755 $(EMUD_PLUGINS)/*.so $(DESTDIR)$(PREFIX)/lib/emud/plugins/
	install -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/emud/README.md
	install -m 0644 contrib/plugins/README.md $(DESTDIR)$(PREFIX)/share/doc/emud/plugins.md
	install -D -m 0644 -t $(DESTDIR)/etc/systemd/system contrib/systemd/emud.service contrib/systemd/emud.socket \
	    contrib/systemd/emud@.service contrib/systemd/emud@.socket

clean:
	rm -rf .build $(BUILD)
