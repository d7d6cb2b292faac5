# Host tests of the userfaultfd backend (TAP), built from the backend sources
# directly (no JVM, no libummu.so):
#   make -f uffd_tests.mk check            # from agent-native/src/test/c
#   make -C agent-native/src/test/c -f uffd_tests.mk check OBJDIR=...
# uffd_backend_test: functional cases; uffd_stress: bounded stress with a
# watchdog, 3 s by default (UFFD_STRESS_SECONDS=n for longer runs). Both print "1..0 # SKIP <reason>" where userfaultfd with
# WP_ASYNC is unavailable.

UFFD_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))../../..)
UFFD_MAIN := $(UFFD_ROOT)/src/main/c
UFFD_TEST := $(UFFD_ROOT)/src/test/c
UFFD_UAPI := $(abspath $(UFFD_ROOT)/../kmod/include/uapi)
OBJDIR ?= $(UFFD_ROOT)/target/native-test

UFFD_CC ?= cc
UFFD_CPPFLAGS := -D_GNU_SOURCE -I$(UFFD_MAIN) -I$(UFFD_UAPI)
UFFD_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -pthread -fno-strict-aliasing
UFFD_SRCS := $(UFFD_MAIN)/backend_userfaultfd.c $(UFFD_MAIN)/uffd_tree.c \
	$(UFFD_TEST)/uffd_wrap.c
# uffd_wrap.c counts calls the reader thread must never make, and fakes
# the probe's UFFDIO_WRITEPROTECT results for the fault-injection cases.
UFFD_LDFLAGS := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free \
	-Wl,--wrap=munmap,--wrap=madvise,--wrap=ioctl
UFFD_HDRS := $(wildcard $(UFFD_MAIN)/uffd_*.h) $(UFFD_MAIN)/ummu_backend.h \
	$(UFFD_TEST)/uffd_tap.h $(UFFD_TEST)/uffd_wrap.h $(UFFD_TEST)/counter_spinner.h \
	$(UFFD_UAPI)/linux/ummunotify.h
UFFD_BINS := $(OBJDIR)/uffd_backend_test $(OBJDIR)/uffd_stress

.PHONY: uffd-build uffd-check
uffd-build: $(UFFD_BINS)

$(OBJDIR)/uffd_%: $(UFFD_TEST)/uffd_%.c $(UFFD_SRCS) $(UFFD_HDRS)
	@mkdir -p $(OBJDIR)
	$(UFFD_CC) $(UFFD_CPPFLAGS) $(UFFD_CFLAGS) -o $@ $< $(UFFD_SRCS) $(UFFD_LDFLAGS)

# As root, the functional cases also run as nobody: the backend must work
# unprivileged (UFFD_USER_MODE_ONLY, whatever vm.unprivileged_userfaultfd says)
# and say why where only root may go (/dev/userfaultfd). A copy of the binary
# in a private directory, so that nobody can run it wherever the tree is.
uffd-check: $(UFFD_BINS)
	$(OBJDIR)/uffd_backend_test
	@if [ "$$(id -u)" = 0 ] && command -v setpriv >/dev/null; then \
		d=$$(mktemp -d) && cp $(OBJDIR)/uffd_backend_test "$$d/" && chmod 755 "$$d" && \
		echo "# uffd_backend_test as nobody (vm.unprivileged_userfaultfd=$$(cat /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null))" && \
		(cd "$$d" && setpriv --reuid=65534 --regid=65534 --clear-groups ./uffd_backend_test); \
		rc=$$?; rm -rf "$$d"; exit $$rc; \
	fi
	$(OBJDIR)/uffd_stress

# Standalone use (make -f uffd_tests.mk check); when included from another
# Makefile, depend on uffd-check instead.
ifeq ($(firstword $(MAKEFILE_LIST)),$(lastword $(MAKEFILE_LIST)))
.PHONY: check build
build: uffd-build
check: uffd-check
endif
