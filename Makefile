# SPDX-License-Identifier: GPL-2.0
#
# coretakeover: build the module out of tree, and run the demo and the tests.
#
#   make                 build coretakeover.ko (against the cached test kernel)
#   make KDIR=<tree>     build it against your own Rust-enabled 6.12 tree
#   make demo            boot the two-node cluster and show what it does
#   make check           host tests and every QEMU scenario
#   make bench           takeover and dump figures (bench/report.md)
#   make check-debug     the QEMU scenarios on a lockdep/KASAN/UBSAN kernel
#   make install         the command, module, unit, udev rule on a node (DESTDIR=)
#
# `demo`, `check`, `bench` and `check-debug` install what is missing first
# (scripts/setup.sh), then run the rest in a sub-make: the test kernel's
# directory is named after the installed linux-source-6.12 package, so it can
# only be computed once set-up has run (on a fresh machine it is not there
# when this file is first read).
# Everything outside the repository lives under $(CT_CACHE).

SHELL := /bin/bash
CT_KDIR := $(shell scripts/build-kernel.sh --print-kdir)
CT_DEBUG_KDIR := $(shell CT_KERNEL_FLAVOR=debug scripts/build-kernel.sh --print-kdir)
KDIR ?= $(CT_KDIR)
# The compiler flags the tree was built with (CC=clang for the debug kernel).
KMAKE_ARGS = $(shell cat $(KDIR)/.coretakeover-make-args 2>/dev/null)
# The kernel needs a rustc with rust-src: Debian's.
RUSTC ?= /usr/bin/rustc
CARGO ?= cargo
TRIPLE := x86_64-unknown-linux-gnu
CLI_BIN := target/$(TRIPLE)/release/coretakeover
HARNESS := target/release/ct-cluster
TEST_MODULE := qemu-test/panic-trigger/ct_panic_trigger.ko
CT_CACHE := $(shell . scripts/common.sh && echo $$CT_CACHE)
harness_args = --kernel $(1)/arch/x86/boot/bzImage --vmlinux $(1)/vmlinux \
	--module coretakeover.ko --test-module $(TEST_MODULE) --cli $(CLI_BIN) \
	--python $(CT_CACHE)/venv/bin/python --crash-root $(CT_CACHE)/crash-trixie
HARNESS_ARGS = $(call harness_args,$(CT_KDIR))

.PHONY: all module test-module setup kernel debug-kernel cli harness host-test fuzz check check-debug bench demo clean clean-cache install \
	run-check run-check-debug run-bench run-demo

all: module

setup:
	@scripts/setup.sh

kernel:
	@scripts/build-kernel.sh >/dev/null

debug-kernel:
	@CT_KERNEL_FLAVOR=debug scripts/build-kernel.sh >/dev/null

# With the default KDIR the test kernel is built first; a KDIR of your own is
# used as it is.
module: $(if $(filter $(CT_KDIR),$(KDIR)),kernel)
	@echo "==> module: building coretakeover.ko against $(KDIR)"
	@$(MAKE) -s -C $(KDIR) M=$(CURDIR) RUSTC=$(RUSTC) $(KMAKE_ARGS) W=1 modules

# Test only: panics from a timer callback (qemu-test/panic-trigger/).
test-module: $(if $(filter $(CT_KDIR),$(KDIR)),kernel)
	@echo "==> test module: building ct_panic_trigger.ko"
	@$(MAKE) -s -C $(KDIR) M=$(CURDIR)/qemu-test/panic-trigger RUSTC=$(RUSTC) $(KMAKE_ARGS) modules

# The CLI runs in the guests' initramfs: link it statically.
cli:
	@echo "==> cli: building the static coretakeover command (and the test client's ct-nfs-load)"
	@CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static" \
		$(CARGO) build -q --locked --release -p coretakeover-cli -p coretakeover-nfs-load --target $(TRIPLE)

harness:
	@echo "==> harness: building ct-cluster"
	@$(CARGO) build -q --locked --release -p coretakeover-cluster

host-test:
	@$(CARGO) test --locked --workspace

# The parsers of the functional core under libFuzzer (FUZZ_RUNS per target).
FUZZ_RUNS ?= 1000000
fuzz:
	@scripts/fuzz.sh $(FUZZ_RUNS)

check: setup
	@$(MAKE) -s run-check

run-check:
	@$(MAKE) -s KDIR=$(CT_KDIR) module test-module cli harness
	@scripts/check.sh $(HARNESS) $(HARNESS_ARGS)

# The QEMU scenarios on the debug kernel (lockdep, KASAN, UBSAN, atomic-sleep
# and list checks); fails on any WARNING, BUG or checker report in a console
# log. The module is rebuilt against that kernel, and again for the default
# kernel by the next `make check`. pci=noacpi: under TCG the checkers slow
# ACPI's AML interpreter so much that evaluating the PCI routing table hits
# its 30 s loop timeout, three times per boot.
check-debug: setup
	@$(MAKE) -s run-check-debug

run-check-debug: debug-kernel
	@$(MAKE) -s KDIR=$(CT_DEBUG_KDIR) module test-module
	@$(MAKE) -s cli harness
	@scripts/check-debug.sh $(HARNESS) $(call harness_args,$(CT_DEBUG_KDIR)) --kernel-args pci=noacpi

# Takeover and dump figures side by side (not part of `make check`).
bench: setup
	@$(MAKE) -s run-bench

run-bench:
	@$(MAKE) -s KDIR=$(CT_KDIR) module test-module cli harness
	@scripts/bench.sh bench $(HARNESS) $(HARNESS_ARGS); rc=$$?; scripts/disk-use.sh; exit $$rc

demo: setup
	@$(MAKE) -s run-demo

run-demo:
	@$(MAKE) -s KDIR=$(CT_KDIR) module test-module cli harness
	@$(HARNESS) $(HARNESS_ARGS) demo --out demo-out; rc=$$?; scripts/disk-use.sh; exit $$rc

# Installs what a node runs (DESTDIR for a staging root): the command, the
# module for the kernel it was built against, the systemd unit, the udev
# rule, the modprobe options, the example configuration and the admin guide.
# Then: depmod, edit /etc/coretakeover.conf, systemctl enable coretakeover.
KERNELRELEASE = $(shell cat $(KDIR)/include/config/kernel.release 2>/dev/null)
install: module cli
	@test -n "$(KERNELRELEASE)" || { echo "error: no kernel release in $(KDIR)"; exit 1; }
	install -D -m 0755 $(CLI_BIN) $(DESTDIR)/usr/sbin/coretakeover
	install -D -m 0644 coretakeover.ko $(DESTDIR)/lib/modules/$(KERNELRELEASE)/extra/coretakeover.ko
	install -D -m 0644 scripts/deploy/coretakeover.service $(DESTDIR)/usr/lib/systemd/system/coretakeover.service
	install -D -m 0644 scripts/deploy/coretakeover-agent.service $(DESTDIR)/usr/lib/systemd/system/coretakeover-agent.service
	install -D -m 0755 scripts/deploy/hooks/nfs $(DESTDIR)/usr/lib/coretakeover/hooks/nfs
	install -D -m 0755 scripts/deploy/fence_coretakeover $(DESTDIR)/usr/sbin/fence_coretakeover
	install -D -m 0755 scripts/deploy/ocf/coretakeover $(DESTDIR)/usr/lib/ocf/resource.d/coretakeover/coretakeover
	install -D -m 0644 scripts/deploy/60-coretakeover.rules $(DESTDIR)/usr/lib/udev/rules.d/60-coretakeover.rules
	install -D -m 0644 scripts/deploy/coretakeover-modprobe.conf $(DESTDIR)/etc/modprobe.d/coretakeover.conf
	install -D -m 0644 scripts/deploy/coretakeover.conf.example $(DESTDIR)/usr/share/doc/coretakeover/coretakeover.conf.example
	install -D -m 0644 scripts/deploy/nfs-service.conf.example $(DESTDIR)/usr/share/doc/coretakeover/nfs-service.conf.example
	install -D -m 0644 Documentation/coretakeover/admin-guide.rst $(DESTDIR)/usr/share/doc/coretakeover/admin-guide.rst
	@echo "==> installed; next: depmod -a $(KERNELRELEASE), /etc/coretakeover.conf (see the example), systemctl enable coretakeover"

# Everything outside the repository: the cached kernels and the test venv.
clean-cache:
	@echo "==> removing $(CT_CACHE) ($$(du -sh $(CT_CACHE) 2>/dev/null | cut -f1))"
	@rm -rf $(CT_CACHE)

clean:
	@$(MAKE) -s -C $(KDIR) M=$(CURDIR) clean 2>/dev/null || true
	@$(MAKE) -s -C $(KDIR) M=$(CURDIR)/qemu-test/panic-trigger clean 2>/dev/null || true
	@$(CARGO) clean
	rm -rf results demo-out
