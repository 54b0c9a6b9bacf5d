# emud's two commands: `make run` and `make test`. Both install what they need on Debian 12 (as root).
SHELL := /bin/bash
SWIFT ?= swift
BUILD := build
EMUD := .build/release/emud
APT_PACKAGES := qemu-system-arm qemu-user gdb-multiarch gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
                libcapstone-dev libsystemd-dev pkg-config systemd
CROSS ?= aarch64-linux-gnu-
export EMUD_BIN := $(CURDIR)/$(EMUD)
export EMUD_GUESTS := $(CURDIR)/$(BUILD)/guests
export EMUD_PLUGINS := $(CURDIR)/$(BUILD)/plugins
export EMUD_ROOT := $(CURDIR)

.PHONY: all deps release guests plugins run test bench install clean

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

run: release guests
	@echo "== emud demo: $(EMUD) run $(BUILD)/guests/demo.elf =="
	$(EMUD) run $(EMUD_GUESTS)/demo.elf

test: release guests plugins
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --parallel --num-workers 2

bench: release guests
	@Tests/Bench/run-bench.sh

install: release plugins
	install -D -m 0755 $(EMUD) $(DESTDIR)/usr/local/bin/emud

clean:
	rm -rf .build $(BUILD)
