/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Introspection of the userfaultfd backend for its C tests (hidden in
 * libummu.so like everything else but JNI_OnLoad).
 */
#ifndef UFFD_INTERNAL_H
#define UFFD_INTERNAL_H

#include <stddef.h>

#include "ummu_backend.h"

/* Offset in the counter page of the reader batch sequence (odd: in flight). */
#define UFFD_SEQ_OFFSET 8

struct uffd_stats {
	size_t watches;		/* live watches */
	size_t regions;		/* live registered regions */
	size_t queued;		/* watches with a pending record */
	int procmap_query;	/* VMA lookups use PROCMAP_QUERY */
	unsigned long long features;	/* negotiated UFFD_FEATURE_* */
};

void uffd_backend_stats(struct ummu_backend *b, struct uffd_stats *st);

#endif /* UFFD_INTERNAL_H */
