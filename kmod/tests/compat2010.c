// SPDX-License-Identifier: GPL-2.0
/*
 * compat2010.c - a program written against the 2010 ummunotify ABI only.
 *
 * It deliberately does not include our uapi header: it carries its own copy
 * of the 2010 definitions (same names and values), so that passing proves
 * binary compatibility, not merely that our header is self-consistent. It
 * never exchanges features, and uses no constant the 2010 header lacked.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/ioctl.h>
#include <linux/types.h>

#include "tap.h"

#ifdef _UAPI_LINUX_UMMUNOTIFY_H
#error "compat2010.c must not see the current ummunotify header"
#endif

/* ---- the 2010 ABI, as its header had it ---- */
enum {
	UMMUNOTIFY_EVENT_TYPE_INVAL	= 0,
	UMMUNOTIFY_EVENT_TYPE_LAST	= 1,
};

enum {
	UMMUNOTIFY_EVENT_FLAG_HINT	= 1 << 0,
};

struct ummunotify_event {
	__u32	type;
	__u32	flags;
	__u64	hint_start;
	__u64	hint_end;
	__u64	user_cookie_counter;
};

struct ummunotify_register_ioctl {
	__u64	start;
	__u64	end;
	__u64	user_cookie;
	__u32	flags;
	__u32	reserved;
};

#define UMMUNOTIFY_MAGIC		'U'

enum {
	UMMUNOTIFY_EXCHANGE_FEATURES	= _IOWR(UMMUNOTIFY_MAGIC, 1, __u32),
	UMMUNOTIFY_REGISTER_REGION	= _IOW(UMMUNOTIFY_MAGIC, 2,
					       struct ummunotify_register_ioctl),
	UMMUNOTIFY_UNREGISTER_REGION	= _IOW(UMMUNOTIFY_MAGIC, 3, __u64),
};
/* ---- end of the 2010 ABI ---- */

/* The numbers a 2010 binary has compiled in. */
_Static_assert(UMMUNOTIFY_EXCHANGE_FEATURES == 0xc0045501, "2010 number");
_Static_assert(UMMUNOTIFY_REGISTER_REGION == 0x40205502, "2010 number");
_Static_assert(UMMUNOTIFY_UNREGISTER_REGION == 0x40085503, "2010 number");
_Static_assert(sizeof(struct ummunotify_event) == 32, "2010 layout");
_Static_assert(sizeof(struct ummunotify_register_ioctl) == 32, "2010 layout");

#define DEV "/dev/ummunotify"
#define COOKIE 0x2010201020102010ULL

static long page;

static int open_dev(void)
{
	int fd = open(DEV, O_RDONLY | O_NONBLOCK);

	ASSERT(fd >= 0, "open(%s): %s", DEV, strerror(errno));
	return fd;
}

static volatile __u64 *map_counter(int fd)
{
	void *p = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);

	ASSERT(p != MAP_FAILED, "mmap(counter): %s", strerror(errno));
	return p;
}

static __u64 counter(volatile __u64 *c)
{
	return __atomic_load_n((__u64 *)c, __ATOMIC_ACQUIRE);
}

static const char *str(const struct ummunotify_event *e)
{
	static char buf[2][160];
	static int i;
	char *b = buf[i++ & 1];

	snprintf(b, sizeof(buf[0]), "{type %u flags %#x hint [%#llx, %#llx) "
		 "cookie/counter %#llx}", e->type, e->flags,
		 (unsigned long long)e->hint_start,
		 (unsigned long long)e->hint_end,
		 (unsigned long long)e->user_cookie_counter);
	return b;
}

static void counter_starts_at_zero(void)
{
	int fd = open_dev();
	volatile __u64 *c = map_counter(fd);

	EXPECT(counter(c) == 0, "counter %llu", (unsigned long long)counter(c));
}

static void middle_page_of_three(void)
{
	int fd = open_dev();
	volatile __u64 *c = map_counter(fd);
	char *p = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct ummunotify_register_ioctl r;
	struct ummunotify_event ev[128];
	__u64 cookie = COOKIE, start, end;
	ssize_t n;

	ASSERT(p != MAP_FAILED, "mmap: %s", strerror(errno));
	start = (__u64)(uintptr_t)p;
	end = start + 3 * page;
	memset(&r, 0, sizeof(r));
	r.start = start;
	r.end = end;
	r.user_cookie = COOKIE;
	ASSERT(ioctl(fd, UMMUNOTIFY_REGISTER_REGION, &r) == 0,
	       "REGISTER_REGION: %s", strerror(errno));
	EXPECT(counter(c) == 0, "counter after register %llu",
	       (unsigned long long)counter(c));

	ASSERT(munmap(p + page, page) == 0, "munmap(middle): %s",
	       strerror(errno));
	EXPECT(counter(c) == 1, "counter after munmap %llu, want 1",
	       (unsigned long long)counter(c));

	/* The 2010 reader: one big read, events up to the LAST. */
	n = read(fd, ev, sizeof(ev));
	ASSERT(n == 2 * (ssize_t)sizeof(ev[0]), "read = %zd (%s), want 2 "
	       "events", n, n < 0 ? strerror(errno) : "bytes");
	EXPECT(ev[0].type == UMMUNOTIFY_EVENT_TYPE_INVAL &&
	       ev[0].flags == UMMUNOTIFY_EVENT_FLAG_HINT &&
	       ev[0].hint_start == start + page &&
	       ev[0].hint_end == start + 2 * page &&
	       ev[0].user_cookie_counter == COOKIE,
	       "event 0: %s, want INVAL HINT [%#llx, %#llx) cookie %#llx",
	       str(&ev[0]), (unsigned long long)(start + page),
	       (unsigned long long)(start + 2 * page), COOKIE);
	/* The 2010 driver handed out a zeroed LAST apart from the counter. */
	EXPECT(ev[1].type == UMMUNOTIFY_EVENT_TYPE_LAST &&
	       ev[1].user_cookie_counter == 1 && ev[1].flags == 0 &&
	       ev[1].hint_start == 0 && ev[1].hint_end == 0,
	       "event 1: %s, want LAST 1", str(&ev[1]));
	n = read(fd, ev, sizeof(ev));
	EXPECT(n == -1 && errno == EAGAIN, "read after LAST = %zd (%s)", n,
	       strerror(errno));

	ASSERT(ioctl(fd, UMMUNOTIFY_UNREGISTER_REGION, &cookie) == 0,
	       "UNREGISTER_REGION: %s", strerror(errno));
	ASSERT(munmap(p, page) == 0 && munmap(p + 2 * page, page) == 0,
	       "munmap(rest): %s", strerror(errno));
	EXPECT(counter(c) == 1, "counter after unregister + munmap %llu, "
	       "want 1", (unsigned long long)counter(c));
	n = read(fd, ev, sizeof(ev));
	EXPECT(n == -1 && errno == EAGAIN, "read after unregister = %zd (%s)",
	       n, n < 0 ? strerror(errno) : str(&ev[0]));
}

/* The fast path a 2010 program runs, over many changes. */
static void fast_path_loop(void)
{
	int fd = open_dev();
	volatile __u64 *c = map_counter(fd);
	__u64 last_seen = 0;
	int round, seen = 0;

	for (round = 0; round < 100; round++) {
		char *p = mmap(NULL, page, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct ummunotify_register_ioctl r = {
			.start = (__u64)(uintptr_t)p,
			.end = (__u64)(uintptr_t)p + page,
			.user_cookie = (__u64)round,
		};
		__u64 ck = (__u64)round;

		ASSERT(p != MAP_FAILED, "mmap");
		ASSERT(ioctl(fd, UMMUNOTIFY_REGISTER_REGION, &r) == 0,
		       "REGISTER_REGION: %s", strerror(errno));
		EXPECT(counter(c) == last_seen, "round %d: moved early", round);
		munmap(p, page);
		if (counter(c) != last_seen) {
			struct ummunotify_event ev[8];
			ssize_t n = read(fd, ev, sizeof(ev));
			int i;

			ASSERT(n > 0, "round %d: counter moved, read: %s",
			       round, strerror(errno));
			for (i = 0; i < n / (int)sizeof(ev[0]); i++) {
				if (ev[i].type == UMMUNOTIFY_EVENT_TYPE_LAST)
					last_seen = ev[i].user_cookie_counter;
				else if (ev[i].user_cookie_counter == ck)
					seen++;
			}
		}
		ASSERT(ioctl(fd, UMMUNOTIFY_UNREGISTER_REGION, &ck) == 0,
		       "UNREGISTER_REGION: %s", strerror(errno));
	}
	EXPECT(seen == 100, "%d of 100 unmaps seen", seen);
	EXPECT(last_seen == 100 && counter(c) == 100,
	       "last_seen %llu counter %llu, want 100",
	       (unsigned long long)last_seen, (unsigned long long)counter(c));
}

int main(void)
{
	static const struct tap_case cases[] = {
		{ "counter_starts_at_zero", counter_starts_at_zero, 0 },
		{ "middle_page_of_three", middle_page_of_three, 0 },
		{ "fast_path_loop", fast_path_loop, 0 },
	};
	static char why[128];
	const char *skip = NULL;
	int fd;

	page = sysconf(_SC_PAGESIZE);
	fd = open(DEV, O_RDONLY);
	if (fd < 0 && (errno == ENOENT || errno == ENXIO || errno == ENODEV)) {
		snprintf(why, sizeof(why), "%s absent (module not loaded): "
			 "open: %s", DEV, strerror(errno));
		skip = why;
	}
	if (fd >= 0)
		close(fd);
	return tap_run(cases, 3, skip);
}
