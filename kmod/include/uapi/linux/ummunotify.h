/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-2-Clause) */
/*
 * ummunotify - user-space notification of MMU invalidations.
 *
 * Binary compatible with the 2010 ummunotify driver: a program written against
 * the 2010 header builds against this one and behaves the same, as long as it
 * never asks for a feature through UMMUNOTIFY_EXCHANGE_FEATURES.
 *
 * Usage:
 *
 *	int fd = open("/dev/ummunotify", O_RDONLY | O_CLOEXEC);
 *	volatile __u64 *counter = mmap(NULL, page_size, PROT_READ,
 *				       MAP_SHARED, fd, 0);
 *	struct ummunotify_register_ioctl r = {
 *		.start = (__u64)buf, .end = (__u64)buf + len, .user_cookie = 1,
 *	};
 *	ioctl(fd, UMMUNOTIFY_REGISTER_REGION, &r);
 *	...
 *	if (__atomic_load_n(counter, __ATOMIC_ACQUIRE) != last_seen) {
 *		struct ummunotify_event ev[64];
 *		ssize_t n;
 *		// read until the LAST event; its user_cookie_counter is the
 *		// generation at the time the queue was emptied.
 *		n = read(fd, ev, sizeof(ev));
 *		...
 *	}
 *
 * Ordering contract: the kernel queues an event *before* it increments the
 * generation counter, and the increment is a release store. A reader that
 * loads the counter with acquire order and sees a new value is guaranteed to
 * find the corresponding event(s) with read(). A false positive costs one
 * extra read(); a false negative cannot happen.
 */
#ifndef _UAPI_LINUX_UMMUNOTIFY_H
#define _UAPI_LINUX_UMMUNOTIFY_H

#include <linux/types.h>
#include <linux/ioctl.h>

/*
 * Event types returned by read().
 *
 * UMMUNOTIFY_EVENT_TYPE_INVAL: the registration whose cookie is in
 *	user_cookie_counter was invalidated. With UMMUNOTIFY_EVENT_FLAG_HINT
 *	set, [hint_start, hint_end) is the exact part that was invalidated
 *	(the first and only hit since the registration was last reported);
 *	without it, the whole registered range must be assumed invalid.
 * UMMUNOTIFY_EVENT_TYPE_LAST: the queue is empty; user_cookie_counter holds
 *	the generation counter at the moment the queue was emptied.
 */
#define UMMUNOTIFY_EVENT_TYPE_INVAL	0
#define UMMUNOTIFY_EVENT_TYPE_LAST	1

#define UMMUNOTIFY_EVENT_FLAG_HINT	(1 << 0)

/*
 * With UMMUNOTIFY_FEATURE_EVENT_CAUSE negotiated, bits 8..23 of an INVAL
 * event's flags hold the set of causes of every invalidation coalesced into
 * that event: bit (UMMUNOTIFY_EVENT_CAUSE_SHIFT + UMMUNOTIFY_CAUSE_x).
 */
#define UMMUNOTIFY_EVENT_CAUSE_SHIFT	8
#define UMMUNOTIFY_EVENT_CAUSE_MASK	0x00ffff00U
#define UMMUNOTIFY_EVENT_FLAG_CAUSE(cause) \
	(1U << (UMMUNOTIFY_EVENT_CAUSE_SHIFT + (cause)))

/* Causes, from the kernel's enum mmu_notifier_event (values are ours). */
#define UMMUNOTIFY_CAUSE_UNMAP		0  /* munmap, mremap away, MAP_FIXED over */
/* PTEs cleared: MADV_DONTNEED, reclaim, KSM, migration... */
#define UMMUNOTIFY_CAUSE_CLEAR		1
#define UMMUNOTIFY_CAUSE_PROTECTION_VMA	2  /* mprotect() */
#define UMMUNOTIFY_CAUSE_PROTECTION_PAGE 3 /* per-page write protection */
#define UMMUNOTIFY_CAUSE_SOFT_DIRTY	4  /* soft-dirty tracking reset */
#define UMMUNOTIFY_CAUSE_RELEASE	5  /* the address space is going away */
#define UMMUNOTIFY_CAUSE_MIGRATE	6  /* device-driven migration */
#define UMMUNOTIFY_CAUSE_EXCLUSIVE	7  /* device exclusive access */
#define UMMUNOTIFY_CAUSE_OTHER		15 /* a kernel event this header predates */
#define UMMUNOTIFY_CAUSE_COUNT		16

struct ummunotify_event {
	__u32	type;
	__u32	flags;
	__u64	hint_start;
	__u64	hint_end;
	__u64	user_cookie_counter;
};

struct ummunotify_register_ioctl {
	__u64	start;		/* in: first byte of the range */
	__u64	end;		/* in: one past the last byte */
	__u64	user_cookie;	/* in: unique per file */
	__u32	flags;		/* in: 0 unless a negotiated feature defines bits */
	__u32	reserved;	/* in: must be 0 */
};

/*
 * Feature bits for UMMUNOTIFY_EXCHANGE_FEATURES. A file that never exchanges
 * features behaves exactly like the 2010 driver.
 *
 * UMMUNOTIFY_FEATURE_EVENT_CAUSE: INVAL events carry cause bits (above).
 * UMMUNOTIFY_FEATURE_CAUSE_FILTER: ummunotify_register_ioctl.flags is a mask
 *	of causes (bit n = UMMUNOTIFY_CAUSE n) to ignore for that registration:
 *	an invalidation whose cause is ignored neither queues the registration
 *	nor moves the counter on its account.
 */
#define UMMUNOTIFY_FEATURE_EVENT_CAUSE	(1U << 0)
#define UMMUNOTIFY_FEATURE_CAUSE_FILTER	(1U << 1)

#define UMMUNOTIFY_MAGIC		'U'

/*
 * UMMUNOTIFY_EXCHANGE_FEATURES: in, the requested feature bits; out, the
 * subset this kernel supports, which is then in force for the file.
 *	EINVAL	the file was already used (registered, read, mapped, or
 *		features already exchanged)
 *	EFAULT	bad pointer
 *	EPERM	called from a process other than the opener's address space
 */
#define UMMUNOTIFY_EXCHANGE_FEATURES	_IOWR(UMMUNOTIFY_MAGIC, 1, __u32)

/*
 * UMMUNOTIFY_REGISTER_REGION: watch [start, end) under user_cookie.
 *	EINVAL	start >= end, duplicate cookie, flags or reserved bits that
 *		no negotiated feature defines
 *	ENOSPC	the per-file registration limit (module parameter
 *		max_regions_per_file) is reached
 *	ENOMEM	out of memory (charged to the caller's memory cgroup)
 *	EFAULT	bad pointer
 *	EPERM	called from a process other than the opener's address space
 */
#define UMMUNOTIFY_REGISTER_REGION	_IOW(UMMUNOTIFY_MAGIC, 2, struct ummunotify_register_ioctl)

/*
 * UMMUNOTIFY_UNREGISTER_REGION: stop watching the cookie. After it returns
 * no event for the cookie is read, including one already queued.
 *	EINVAL	unknown cookie
 *	EFAULT	bad pointer
 *	EPERM	called from a process other than the opener's address space
 */
#define UMMUNOTIFY_UNREGISTER_REGION	_IOW(UMMUNOTIFY_MAGIC, 3, __u64)

#endif /* _UAPI_LINUX_UMMUNOTIFY_H */
