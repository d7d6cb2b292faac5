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
 * Offset in the counter page of the reader's sequence (odd while the reader
 * reads and processes an event); read() and watch() wait for it.
 */
#define UFFD_SEQ_OFFSET 8

struct uffd_stats {
	size_t watches;		/* live watches */
	size_t regions;		/* live registered regions */
	size_t queued;		/* watches with a pending record */
	size_t limbo;		/* retired ranges not yet unregistered */
	size_t orphans;		/* mremap destinations not yet taken up */
	int procmap_query;	/* VMA lookups use PROCMAP_QUERY */
	int changing_probe;	/* watch() waits out events in flight */
	unsigned long long features;	/* negotiated UFFD_FEATURE_* */
	unsigned long long batches;	/* events read = counter bumps */
	unsigned long long idle_batches;	/* ... that hit no watch */
	unsigned long long settle_waits;	/* watch() saw events in flight */
	unsigned long long settle_giveups;	/* watch() refused: 5 s of events in flight */
};

void uffd_backend_stats(struct ummu_backend *b, struct uffd_stats *st);

/*
 * Tests only: closed (1) holds the reader thread after poll() says an event
 * is there and before it reads it, so that a test can act while an event is
 * in flight; 0 lets it go. Called from one thread, closed/open in pairs.
 */
void uffd_backend_gate(struct ummu_backend *b, int closed);

#endif /* UFFD_INTERNAL_H */
