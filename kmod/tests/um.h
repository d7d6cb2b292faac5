/* SPDX-License-Identifier: GPL-2.0 */
/*
 * um.h - helpers shared by the ummunotify tests (not by compat2010.c, which
 * must only know the 2010 ABI).
 *
 * The helpers assert (end the case) when a *setup* step fails; the checks a
 * test is about are written out in the test itself.
 */
#ifndef UMMU_UM_H
#define UMMU_UM_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/ummunotify.h>

#include "tap.h"

#define UM_DEV "/dev/ummunotify"
#define UM_PARAM_MAX_REGIONS \
	"/sys/module/ummunotify/parameters/max_regions_per_file"
#define UM_EV_SIZE ((int)sizeof(struct ummunotify_event))
#define UM_ALL_FEATURES \
	(UMMUNOTIFY_FEATURE_EVENT_CAUSE | UMMUNOTIFY_FEATURE_CAUSE_FILTER)

_Static_assert(sizeof(struct ummunotify_event) == 32, "event is 32 bytes");
_Static_assert(sizeof(struct ummunotify_register_ioctl) == 32,
	       "register arg is 32 bytes");

static inline long pg(void)
{
	static long page;

	if (!page)
		page = sysconf(_SC_PAGESIZE);
	return page;
}

static inline uint64_t u64p(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/*
 * NULL when the device can be used, else why every case is skipped. Only
 * "no such device" skips: a device that exists but fails to open is a
 * failure for the cases to report.
 */
static inline const char *um_skip_reason(void)
{
	static char buf[256];
	int fd = open(UM_DEV, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		return NULL;
	}
	if (errno == ENOENT || errno == ENXIO || errno == ENODEV) {
		snprintf(buf, sizeof(buf),
			 "%s absent (module not loaded): open: %s", UM_DEV,
			 strerror(errno));
		return buf;
	}
	return NULL;
}

/* O_RDONLY | O_CLOEXEC | extra; ends the case if it fails. */
static inline int um_open(int extra)
{
	int fd = open(UM_DEV, O_RDONLY | O_CLOEXEC | extra);

	ASSERT(fd >= 0, "open(%s, O_RDONLY|%#x): %s", UM_DEV, extra,
	       strerror(errno));
	return fd;
}

static inline const volatile uint64_t *um_map_counter(int fd)
{
	void *p = mmap(NULL, pg(), PROT_READ, MAP_SHARED, fd, 0);

	ASSERT(p != MAP_FAILED, "mmap(counter page, fd %d): %s", fd,
	       strerror(errno));
	return p;
}

/* The fast-path load that the ordering contract is written for. */
static inline uint64_t um_counter(const volatile uint64_t *c)
{
	return __atomic_load_n((const uint64_t *)c, __ATOMIC_ACQUIRE);
}

/* 0 or -errno. */
static inline int um_register(int fd, uint64_t start, uint64_t end,
			      uint64_t cookie, uint32_t flags)
{
	struct ummunotify_register_ioctl r = {
		.start = start, .end = end, .user_cookie = cookie,
		.flags = flags,
	};

	return ioctl(fd, UMMUNOTIFY_REGISTER_REGION, &r) ? -errno : 0;
}

static inline int um_unregister(int fd, uint64_t cookie)
{
	return ioctl(fd, UMMUNOTIFY_UNREGISTER_REGION, &cookie) ? -errno : 0;
}

static inline int um_exchange(int fd, uint32_t *features)
{
	return ioctl(fd, UMMUNOTIFY_EXCHANGE_FEATURES, features) ? -errno : 0;
}

/* Registration that must work; ends the case otherwise. */
#define REG(fd, start, end, cookie, flags)				\
	do {								\
		uint64_t s_ = (uint64_t)(start), e_ = (uint64_t)(end);	\
		int r_ = um_register((fd), s_, e_, (cookie), (flags));	\
		ASSERT(r_ == 0, "REGISTER_REGION [%#" PRIx64 ", %#"	\
		       PRIx64 ") cookie %#" PRIx64 " flags %#x: %s",	\
		       s_, e_, (uint64_t)(cookie), (unsigned)(flags),	\
		       strerror(-r_));					\
	} while (0)

#define UNREG(fd, cookie)						\
	do {								\
		int r_ = um_unregister((fd), (cookie));			\
		ASSERT(r_ == 0, "UNREGISTER_REGION cookie %#" PRIx64	\
		       ": %s", (uint64_t)(cookie), strerror(-r_));	\
	} while (0)

/* Opens with features exchanged first; *got receives the answer. */
static inline int um_open_features(uint32_t want, uint32_t *got, int extra)
{
	int fd = um_open(extra);
	uint32_t f = want;
	int r = um_exchange(fd, &f);

	ASSERT(r == 0, "EXCHANGE_FEATURES(%#x) on a fresh file: %s", want,
	       strerror(-r));
	if (got)
		*got = f;
	return fd;
}

/* Anonymous private pages, THP off so that no huge page split adds events. */
static inline char *map_pages(int n)
{
	char *p = mmap(NULL, n * pg(), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT(p != MAP_FAILED, "mmap(%d anonymous pages): %s", n,
	       strerror(errno));
	madvise(p, n * pg(), MADV_NOHUGEPAGE);
	return p;
}

static inline void touch_pages(char *p, int n)
{
	int i;

	for (i = 0; i < n; i++)
		((volatile char *)p)[i * pg()] = (char)(i + 1);
}

static inline void unmap_ok(void *p, size_t len)
{
	ASSERT(munmap(p, len) == 0, "munmap(%p, %zu): %s", p, len,
	       strerror(errno));
}

/* read() of up to max events; number of events, or -errno. */
static inline int um_read(int fd, struct ummunotify_event *ev, int max)
{
	ssize_t n = read(fd, ev, (size_t)max * UM_EV_SIZE);

	if (n < 0)
		return -errno;
	ASSERT(n > 0 && n % UM_EV_SIZE == 0,
	       "read(%d events) returned %zd bytes: not whole events", max,
	       n);
	return (int)(n / UM_EV_SIZE);
}

static inline const char *ev_str(const struct ummunotify_event *e)
{
	static char buf[4][160];
	static int slot;
	char *b = buf[slot++ & 3];

	snprintf(b, sizeof(buf[0]),
		 "{type %u flags %#x hint [%#" PRIx64 ", %#" PRIx64
		 ") cookie/counter %#" PRIx64 "}",
		 e->type, e->flags, (uint64_t)e->hint_start,
		 (uint64_t)e->hint_end, (uint64_t)e->user_cookie_counter);
	return b;
}

/*
 * Reads everything that is ready, up to and including the LAST event.
 * Returns the number of INVAL events stored in inval (at most max); *last is
 * the LAST counter, or -1 if no LAST came. The file must be non-blocking,
 * or known to be readable.
 */
static inline int um_drain(int fd, struct ummunotify_event *inval, int max,
			   int64_t *last)
{
	struct ummunotify_event ev[64];
	int n, i, got = 0;

	*last = -1;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 0) == 0)
			return got;
		n = um_read(fd, ev, 64);
		if (n == -EAGAIN)
			return got;
		ASSERT(n > 0, "read(events) while draining: %s",
		       strerror(-n));
		for (i = 0; i < n; i++) {
			if (ev[i].type == UMMUNOTIFY_EVENT_TYPE_LAST) {
				*last = (int64_t)ev[i].user_cookie_counter;
				EXPECT(i == n - 1,
				       "LAST at %d of %d events in one read",
				       i, n);
				return got;
			}
			ASSERT(ev[i].type == UMMUNOTIFY_EVENT_TYPE_INVAL,
			       "unknown event type: %s", ev_str(&ev[i]));
			ASSERT(got < max, "more than %d INVAL events", max);
			inval[got++] = ev[i];
		}
	}
}

/* Nothing is readable: poll says so and a non-blocking read says EAGAIN. */
#define EXPECT_NOTHING(fd_, what)					\
	do {								\
		struct ummunotify_event e_;				\
		struct pollfd p_ = { .fd = (fd_), .events = POLLIN };	\
		int fl_ = fcntl((fd_), F_GETFL);				\
		int pr_, n_;						\
		pr_ = poll(&p_, 1, 0);					\
		EXPECT(pr_ == 0, "%s: poll() = %d revents %#x, want "	\
		       "nothing readable", (what), pr_, p_.revents);	\
		fcntl((fd_), F_SETFL, fl_ | O_NONBLOCK);			\
		n_ = um_read((fd_), &e_, 1);				\
		fcntl((fd_), F_SETFL, fl_);				\
		EXPECT(n_ == -EAGAIN, "%s: read() = %d (%s), want "	\
		       "EAGAIN", (what), n_,				\
		       n_ > 0 ? ev_str(&e_) : strerror(-n_));		\
	} while (0)

/* Checks one INVAL event field by field. */
#define EXPECT_INVAL(ev, cookie, flags_, start, end)			\
	do {								\
		const struct ummunotify_event *e_ = (ev);		\
		EXPECT(e_->type == UMMUNOTIFY_EVENT_TYPE_INVAL &&	\
		       e_->user_cookie_counter == (uint64_t)(cookie) &&	\
		       e_->flags == (uint32_t)(flags_) &&		\
		       e_->hint_start == (uint64_t)(start) &&		\
		       e_->hint_end == (uint64_t)(end),			\
		       "got %s, want INVAL cookie %#" PRIx64		\
		       " flags %#x hint [%#" PRIx64 ", %#" PRIx64 ")",	\
		       ev_str(e_), (uint64_t)(cookie),			\
		       (unsigned)(flags_), (uint64_t)(start),		\
		       (uint64_t)(end));				\
	} while (0)

#define EXPECT_LAST(ev, counter)					\
	do {								\
		const struct ummunotify_event *e_ = (ev);		\
		EXPECT(e_->type == UMMUNOTIFY_EVENT_TYPE_LAST &&	\
		       e_->user_cookie_counter == (uint64_t)(counter),	\
		       "got %s, want LAST counter %" PRIu64,		\
		       ev_str(e_), (uint64_t)(counter));		\
	} while (0)

static inline int um_param_read(const char *path, long *val)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return -errno;
	ok = fscanf(f, "%ld", val) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

static inline int um_param_write(const char *path, long val)
{
	char buf[32];
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int len, r = 0;

	if (fd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%ld\n", val);
	if (write(fd, buf, len) != len)
		r = -errno;
	close(fd);
	return r;
}

#define CASE(fn) { #fn, fn, 0 }
#define CASE_T(fn, t) { #fn, fn, t }
#define N_CASES(a) ((int)(sizeof(a) / sizeof((a)[0])))

#endif /* UMMU_UM_H */
