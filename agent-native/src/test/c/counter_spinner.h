/* SPDX-License-Identifier: Apache-2.0 */
/*
 * For the retire() tests of both backends (test_native.c, uffd_backend_test.c):
 * a reader of a counter page racing its switch to the closed page.
 */
#ifndef COUNTER_SPINNER_H
#define COUNTER_SPINNER_H

#include <stdint.h>

#include "ummu_backend.h"

/* A thread loading a counter in a tight loop, as Java's fast path does. */
struct spinner {
	const volatile uint64_t *counter;
	int started, stop;
	uint64_t loads, reopened, last;
};

static inline void *spin(void *arg)
{
	struct spinner *s = arg;
	uint64_t v, prev = 0;
	int done;

	__atomic_store_n(&s->started, 1, __ATOMIC_RELEASE);
	/* The last load follows the stop flag, set after retire(). */
	do {
		done = __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE);
		v = __atomic_load_n(s->counter, __ATOMIC_ACQUIRE);
		if (prev == UMMU_COUNTER_CLOSED && v != UMMU_COUNTER_CLOSED)
			s->reopened++;
		prev = v;
		s->loads++;
	} while (!done);
	s->last = prev;
	return NULL;
}

#endif
