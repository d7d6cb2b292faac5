/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Introspection of the userfaultfd backend for its C tests (hidden in
 * libummu.so like everything else but JNI_OnLoad).
 */
#ifndef UFFD_INTERNAL_H
#define UFFD_INTERNAL_H

#include <stddef.h>

#include "ummu_backend.h"

/*
 * Every open notifier of the process shares one userfaultfd, reader and set
 * of registrations (the "core"); each has its own counter page, watches and
 * queue. Per notifier: watches, queued. Process-wide: the rest.
 */
struct uffd_stats {
	size_t watches;		/* this notifier's live watches */
	size_t all_watches;	/* every notifier's */
	size_t regions;		/* live registered regions */
	size_t queued;		/* its watches with a pending record */
	size_t limbo;		/* retired ranges not yet unregistered */
	size_t orphans;		/* mremap destinations not yet taken up */
	int procmap_query;	/* VMA lookups use PROCMAP_QUERY */
	int changing_probe;	/* watch() waits out events in flight (open requires it) */
	unsigned long long features;	/* negotiated UFFD_FEATURE_* */
	unsigned long long batches;	/* events read = counter bumps */
	unsigned long long idle_batches;	/* ... that hit no watch */
	unsigned long long settle_waits;	/* watch() saw events in flight */
	unsigned long long settle_giveups;	/* watch() refused: 5 s of events in flight */
	/*
	 * watch() undid a registration and looked again: the layout changed
	 * under it, an event retired it meanwhile, or settle() gave up
	 */
	unsigned long long layout_changes;
	const void *core;	/* identifies the shared core */
};

void uffd_backend_stats(struct ummu_backend *b, struct uffd_stats *st);

/*
 * Tests only, for diagnostics: one line per live region (marked while
 * tentative), watch, retired region and limbo entry overlapping [s, e),
 * into buf (NUL-terminated, truncated to len). Takes the backend's locks.
 */
size_t uffd_backend_describe(struct ummu_backend *b, uint64_t s, uint64_t e,
			     char *buf, size_t len);

/*
 * Tests only: closed 1 holds the reader thread after poll() says an event
 * is there and before it bumps the counters and reads it, so that a test
 * can act while an event is in flight; closed 2 holds it after read(2) (the
 * unmapping thread is let go, the counters have moved) and before the
 * record is queued; 0 lets it go. Called from one thread, closed/open in
 * pairs.
 */
void uffd_backend_gate(struct ummu_backend *b, int closed);

/*
 * Tests only: ops->read calls fn(arg) after it has waited for the reader's
 * batch in flight and before it takes the lock to drain, for every notifier
 * of the process; NULL removes it.
 */
void uffd_backend_read_hook(void (*fn)(void *), void *arg);

#endif /* UFFD_INTERNAL_H */
