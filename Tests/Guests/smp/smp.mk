# SMP guest programs: a fragment of Tests/Guests/Makefile, included at its end (it uses that
# Makefile's OUT, CC, CFLAGS, LDFLAGS, LDLIBS and its runtime objects obj-O0/ and obj-O2/).
# SPDX-License-Identifier: GPL-2.0-or-later
#
#   $(OUT)/smp-NAME-O0.elf, -O2.elf   programs compared with QEMU -smp 4 (SMPTests.swift)
#   $(OUT)/smp-NAME.elf (-O2)         programs driven by the host (ExclusiveSectionTests.swift,
#                                     emud bench-exclusive) and the speed-up benchmark
#
# Secondary CPUs start at smp/secondary.S through PSCI CPU_ON; smp/smp.c has the rest of the
# multi-core support. CPU 0 keeps rt/start.S and the single-core runtime.

# Keep in step with smpPrograms in Tests/IntegrationTests/SMPTests.swift.
SMP_PROGRAMS := smp-psci smp-counter smp-lock smp-message smp-wide smp-mmu
SMP_HOST_PROGRAMS := smp-stress smp-idle smp-parallel smp-monitor smp-litmus

SMP_ELVES := $(foreach p,$(SMP_PROGRAMS),$(OUT)/$(p)-O0.elf $(OUT)/$(p)-O2.elf) \
             $(SMP_HOST_PROGRAMS:%=$(OUT)/%.elf)

.PHONY: smp-guests
all: $(SMP_ELVES)
smp-guests: $(SMP_ELVES)

# Expanded when a recipe runs, so this file may be read before the variables it uses are set.
SMP_CFLAGS = $(CFLAGS) -Ismp -march=armv8.2-a
# Prerequisites are expanded as this file is read: list files, not the including Makefile's variables.
SMP_DEPS := smp/smp.h smp/smp.mk rt/rt.h rt/link.ld
# The runtime objects of one optimisation level (built by the including Makefile) and ours.
smp_objects = $(OUT)/obj-$(1)/start.o $(OUT)/obj-$(1)/rt.o $(OUT)/obj-$(1)/smp.o $(OUT)/obj-$(1)/smp-secondary.o

$(OUT)/obj-%/smp.o: smp/smp.c $(SMP_DEPS)
	@mkdir -p $(@D)
	$(CC) $(SMP_CFLAGS) -$* -c -o $@ $<

$(OUT)/obj-%/smp-secondary.o: smp/secondary.S $(SMP_DEPS)
	@mkdir -p $(@D)
	$(CC) $(SMP_CFLAGS) -c -o $@ $<

$(OUT)/smp-%-O0.elf: smp/smp-%.c $(call smp_objects,O0) $(SMP_DEPS)
	$(CC) $(SMP_CFLAGS) -O0 $(LDFLAGS) -o $@ $(call smp_objects,O0) $< $(LDLIBS)

$(OUT)/smp-%-O2.elf: smp/smp-%.c $(call smp_objects,O2) $(SMP_DEPS)
	$(CC) $(SMP_CFLAGS) -O2 $(LDFLAGS) -o $@ $(call smp_objects,O2) $< $(LDLIBS)

$(OUT)/smp-%.elf: smp/smp-%.c $(call smp_objects,O2) $(SMP_DEPS)
	$(CC) $(SMP_CFLAGS) -O2 $(LDFLAGS) -o $@ $(call smp_objects,O2) $< $(LDLIBS)

# Made by the pattern rules above, but kept: they are not throw-away intermediates.
.SECONDARY: $(foreach o,O0 O2,$(OUT)/obj-$(o)/smp.o $(OUT)/obj-$(o)/smp-secondary.o)
