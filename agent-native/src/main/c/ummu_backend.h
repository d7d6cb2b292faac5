/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one internal interface every libummu backend implements.
 *
 * Both kernel-backed backends (the ummunotify module, userfaultfd) present
 * the same protocol to Java:
 *   - a page whose first 8 bytes are a 64-bit generation counter, bumped with
 *     release order *after* the event that caused the bump is queued;
 *   - coalesced per-watch events in the ummunotify_event layout: the first hit
 *     since a watch was last reported keeps the exact hint (FLAG_HINT set),
 *     later hits before it is read widen it to the whole watched range;
 *   - a LAST record carrying the counter when the queue ran empty;
 *   - cause bits (UMMU_EVENT_FLAG_CAUSE) when the backend knows the cause.
 *
 * All functions return 0 (or a count) on success and a negative errno on
 * failure; where a message can say more than the errno, it goes to `why`.
 * Thread-safety: watch/unwatch/read may be called concurrently from any
 * thread; close must not race any other call on the same backend (the Java
 * side guarantees it).
 */
#ifndef UMMU_BACKEND_H
#define UMMU_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/ummunotify.h>

#define UMMU_EVENT_SIZE 32

/*
 * What a retired notifier's counter page reads (see retire below): negative
 * as a Java long, a value no generation takes (generations count
 * invalidations up from 0), so that Java's fast path tells "closed" from the
 * one load it makes anyway.
 */
#define UMMU_COUNTER_CLOSED ((uint64_t)INT64_MIN)
_Static_assert(sizeof(struct ummunotify_event) == UMMU_EVENT_SIZE,
	       "event record layout is ABI");

/*
 * Causes: 0..15 are the kernel module's UMMUNOTIFY_CAUSE_* values; the
 * userfaultfd backend adds its own after them. Java's Cause enum mirrors this
 * list (bit n of (flags >> UMMUNOTIFY_EVENT_CAUSE_SHIFT) = cause n).
 */
#define UMMU_CAUSE_REMAP	16 /* userfaultfd EVENT_REMAP: moved away by mremap */
#define UMMU_CAUSE_REMOVE	17 /* userfaultfd EVENT_REMOVE: madvise(DONTNEED/REMOVE/FREE) */
#define UMMU_EVENT_FLAG_CAUSE(c) (1U << (UMMUNOTIFY_EVENT_CAUSE_SHIFT + (c)))

/* Backend ids shared with Java (io.ummu.Backend ordinal order). */
enum ummu_backend_id {
	UMMU_BACKEND_UMMUNOTIFY = 0,
	UMMU_BACKEND_USERFAULTFD = 1,
	UMMU_BACKEND_COUNT
};

/* Capability bits shared with Java (io.ummu.Capability). */
#define UMMU_CAP_KERNEL_INVALIDATIONS	(1U << 0) /* every MMU-notifier invalidation */
#define UMMU_CAP_UNMAP			(1U << 1) /* munmap / MAP_FIXED over */
#define UMMU_CAP_REMAP			(1U << 2) /* mremap away */
#define UMMU_CAP_MADVISE		(1U << 3) /* madvise(DONTNEED/REMOVE) */
#define UMMU_CAP_MIGRATION_SWAP		(1U << 4) /* page migration, swap, reclaim, KSM */
#define UMMU_CAP_PROTECTION		(1U << 5) /* mprotect */
#define UMMU_CAP_EVENT_CAUSE		(1U << 6) /* events carry cause bits */
#define UMMU_CAP_FORK_CHILD		(1U << 7) /* a forked child keeps being watched */

struct ummu_backend;

struct ummu_backend_ops {
	const char *name;
	/* 0 when usable here, else -errno and the reason in why. */
	int (*probe)(char *why, size_t len);
	int (*open)(struct ummu_backend **out, char *why, size_t len);
	uint32_t (*capabilities)(const struct ummu_backend *b);
	/* Watch [start, end) under cookie; cookies are unique per backend. */
	int (*watch)(struct ummu_backend *b, uint64_t start, uint64_t end,
		     uint64_t cookie, char *why, size_t len);
	/* After return, no event for cookie is ever read, even a queued one. */
	int (*unwatch)(struct ummu_backend *b, uint64_t cookie);
	/*
	 * Copy up to max whole records (INVAL..., then LAST when the queue
	 * ran empty after at least one INVAL). Returns the number of records,
	 * 0 when nothing is pending (never blocks).
	 */
	ssize_t (*read)(struct ummu_backend *b, struct ummunotify_event *buf,
			size_t max);
	/* The read-only page holding the counter; valid until close. */
	const volatile uint64_t *(*counter)(const struct ummu_backend *b);
	/* A descriptor that polls readable while events are pending. */
	int (*pollfd)(const struct ummu_backend *b);
	void (*close)(struct ummu_backend *b);
	/*
	 * close, except that the counter page stays mapped, read-only, at the
	 * same address, and from now on reads UMMU_COUNTER_CLOSED, until the
	 * caller munmap()s it (the system page size). Java reads the page
	 * without any lock or count, so it may be loading from it right now:
	 * the switch never leaves the address unmapped. Everything else (the
	 * descriptors, the kernel's context, memory) is released here. Returns
	 * 0, or -errno when the page could not be switched: it then keeps its
	 * last counter value (still mapped; see the backend for the details),
	 * or, with -EEXIST from the ummunotify backend, another mapping took
	 * the address after a failed switch left a hole there, and the fast
	 * path reads that memory.
	 */
	int (*retire)(struct ummu_backend *b);
};

extern const struct ummu_backend_ops ummu_ummunotify_ops;
extern const struct ummu_backend_ops ummu_userfaultfd_ops;

#endif /* UMMU_BACKEND_H */
