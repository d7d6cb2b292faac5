// SPDX-License-Identifier: Apache-2.0
/*
 * Bounded stress of the userfaultfd backend (TAP), the shape a JVM gives it:
 * threads malloc/watch/free (glibc munmaps: M_MMAP_THRESHOLD is forced down),
 * mmap/watch/munmap, madvise and mremap watched memory, churn watches, open
 * and close other notifiers on the shared userfaultfd, while a consumer
 * polls and drains; then address reuse under madvise storms (reuser()). A watchdog (alarm) fails the run on a hang
 * and prints every thread's progress.
 *
 * What it asserts, per munmap (free(), mremap) of a watched range:
 *   - the counter, read right after munmap() returned, has moved (the
 *     reader bumps it before the read(2) that lets munmap return, one
 *     event per read);
 *   - a drain then yields the cookie's record, with a cause;
 *   - no record arrives for such a watch before its owner unmapped it: a
 *     stale event of an earlier mapping at a reused address would (watch()
 *     waits out events in flight, see settle() in the backend).
 * And overall: counter and LAST values monotonic, every record's hint
 * inside its watch and its causes among UNMAP/REMAP/REMOVE, every thread
 * made progress, no watch, region or registered VMA left after unwatching
 * everything, none after close. UFFD_STRESS_SECONDS sets the duration
 * (default 3).
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ummu_backend.h"
#include "uffd_internal.h"
#include "uffd_tap.h"
#include "uffd_wrap.h"

#define CAUSES (UMMU_EVENT_FLAG_CAUSE(UMMUNOTIFY_CAUSE_UNMAP) | \
		UMMU_EVENT_FLAG_CAUSE(UMMU_CAUSE_REMAP) | \
		UMMU_EVENT_FLAG_CAUSE(UMMU_CAUSE_REMOVE))
#define NSLOTS (1u << 20)	/* cookie -> range table, by cookie % NSLOTS */
#define LONG_PAGES 1024
#define LONG_WATCHES 512

static const struct ummu_backend_ops *ops = &ummu_userfaultfd_ops;
static struct ummu_backend *b;
static long pg;
static atomic_int stop;
static atomic_uint_fast64_t next_cookie = 1;
static pthread_mutex_t drain_lock = PTHREAD_MUTEX_INITIALIZER;

struct slot {
	_Atomic uint64_t cookie;
	uint64_t start, end;
	atomic_int seen;
	atomic_int armed;	/* 1: its owner is about to unmap it */
	int check_stale;	/* records before armed are a failure */
};
static struct slot *slots;

/* Failures and progress, printed by the watchdog and at the end. */
static atomic_long heap_frees, fails, unmaps, fast_missed, strict_ok,
	records, remaps, madvises, churns, drains, stale, missed;
static atomic_long progress[8];
/* What each thread is doing, for the watchdog's dump. */
static const char *_Atomic doing[8];
static char fail_msg[512];

static void fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&fails, 1) == 0) {
		va_start(ap, fmt);
		vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
		va_end(ap);
	}
}

static uint64_t counter(void)
{
	return __atomic_load_n(ops->counter(b), __ATOMIC_ACQUIRE);
}

static uint64_t new_watch(uint64_t s, uint64_t e, int check_stale)
{
	uint64_t c = atomic_fetch_add(&next_cookie, 1);
	struct slot *sl = &slots[c % NSLOTS];
	char why[256];
	int r;

	sl->start = s;
	sl->end = e;
	sl->check_stale = check_stale;
	atomic_store(&sl->seen, 0);
	atomic_store(&sl->armed, 0);
	atomic_store(&sl->cookie, c);
	r = ops->watch(b, s, e, c, why, sizeof(why));
	if (r) {
		fail("watch(0x%" PRIx64 ", 0x%" PRIx64 "): %d %s", s, e, r, why);
		return 0;
	}
	return c;
}

static void unwatch(uint64_t c)
{
	int r = ops->unwatch(b, c);

	if (r)
		fail("unwatch(%" PRIu64 "): %d", c, r);
}

static uint64_t last_counter_seen;

/* Under drain_lock. */
static void drain_locked(void)
{
	struct ummunotify_event ev[128];
	ssize_t n, i;
	uint64_t c;

	for (;;) {
		n = ops->read(b, ev, 128);
		if (n <= 0)
			break;
		atomic_fetch_add(&drains, 1);
		for (i = 0; i < n; i++) {
			if (ev[i].type == UMMUNOTIFY_EVENT_TYPE_LAST) {
				c = ev[i].user_cookie_counter;
				if (c < last_counter_seen)
					fail("LAST went backwards: %" PRIu64 " < %" PRIu64,
					     c, last_counter_seen);
				last_counter_seen = c;
				continue;
			}
			struct slot *sl = &slots[ev[i].user_cookie_counter % NSLOTS];

			atomic_fetch_add(&records, 1);
			if (atomic_load(&sl->cookie) != ev[i].user_cookie_counter)
				continue;	/* slot reused: cannot check */
			if (ev[i].hint_start < sl->start || ev[i].hint_end > sl->end ||
			    ev[i].hint_start >= ev[i].hint_end)
				fail("record for %" PRIu64 " hint [0x%" PRIx64 ", 0x%" PRIx64 ") outside [0x%" PRIx64 ", 0x%" PRIx64 ")",
				     (uint64_t)ev[i].user_cookie_counter,
				     (uint64_t)ev[i].hint_start,
				     (uint64_t)ev[i].hint_end, sl->start, sl->end);
			if (!(ev[i].flags & CAUSES) ||
			    (ev[i].flags & ~(CAUSES | UMMUNOTIFY_EVENT_FLAG_HINT)))
				fail("record for %" PRIu64 ": flags 0x%x, want HINT and causes among UNMAP, REMAP, REMOVE",
				     (uint64_t)ev[i].user_cookie_counter, ev[i].flags);
			if (sl->check_stale && !atomic_load(&sl->armed)) {
				atomic_fetch_add(&stale, 1);
				fail("record for %" PRIu64 " [0x%" PRIx64 ", 0x%" PRIx64 ") flags 0x%x before its owner unmapped it: a stale event",
				     (uint64_t)ev[i].user_cookie_counter, sl->start,
				     sl->end, ev[i].flags);
			}
			atomic_store(&sl->seen, 1);
		}
	}
}

static void drain(void)
{
	pthread_mutex_lock(&drain_lock);
	drain_locked();
	pthread_mutex_unlock(&drain_lock);
}

static unsigned int rnd(unsigned int *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* Just before the unmap: records from now on are expected. */
static void arm(uint64_t c)
{
	atomic_store(&slots[c % NSLOTS].armed, 1);
}

/* free() or munmap() of a watched range returned: the checks. */
static void after_unmap(int id, uint64_t c, uint64_t before)
{
	if (counter() == before) {
		atomic_fetch_add(&fast_missed, 1);
		atomic_fetch_add(&missed, 1);
		fail("cookie %" PRIu64 ": counter still %" PRIu64 " when munmap returned",
		     c, before);
	}
	doing[id] = "drain after unmap";
	pthread_mutex_lock(&drain_lock);
	drain_locked();
	if (!atomic_load(&slots[c % NSLOTS].seen)) {
		atomic_fetch_add(&missed, 1);
		fail("cookie %" PRIu64 ": no record after munmap returned", c);
	} else
		atomic_fetch_add(&strict_ok, 1);
	pthread_mutex_unlock(&drain_lock);
	atomic_fetch_add(&unmaps, 1);
}

static void *unmapper(void *arg)
{
	int id = (int)(intptr_t)arg;
	unsigned int r = 12345u + (unsigned int)id;
	uint64_t c, before;
	size_t len;
	char *p;
	bool mapped;

	while (!atomic_load(&stop)) {
		len = (size_t)(64 + rnd(&r) % 960) * 1024;
		if (rnd(&r) & 1) {
			p = malloc(len);	/* >= M_MMAP_THRESHOLD: mmap'd */
			if (!p)
				continue;
			p[0] = 1;
			/*
			 * glibc still serves a request from its bins when a
			 * free chunk fits (IS_MMAPPED, bit 1 of the chunk's
			 * size word, says it did not): then free() unmaps
			 * nothing and there is nothing to check.
			 */
			mapped = *(volatile size_t *)(uintptr_t)
				  ((uintptr_t)p - sizeof(size_t)) & 2;
			doing[id] = "watch (malloc)";
			c = new_watch((uint64_t)(uintptr_t)p + 16,
				      (uint64_t)(uintptr_t)p + len, mapped);
			if (c)
				arm(c);
			before = counter();
			doing[id] = "free";
			free(p);
			if (!mapped) {
				atomic_fetch_add(&heap_frees, 1);
				if (c)
					unwatch(c);
				continue;
			}
		} else {
			p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED)
				continue;
			p[len - 1] = 1;
			doing[id] = "watch (mmap)";
			c = new_watch((uint64_t)(uintptr_t)p + 100,
				      (uint64_t)(uintptr_t)p + len - 100, 1);
			if (c)
				arm(c);
			before = counter();
			doing[id] = "munmap";
			munmap(p, len);
		}
		if (c) {
			after_unmap(id, c, before);
			doing[id] = "unwatch";
			unwatch(c);
		}
		atomic_fetch_add(&progress[id], 1);
	}
	return NULL;
}

static char *long_map;
static uint64_t long_cookies[LONG_WATCHES];
static pthread_mutex_t long_lock = PTHREAD_MUTEX_INITIALIZER;

static void long_watch(int i, unsigned int *r)
{
	uint64_t off = (uint64_t)(rnd(r) % (LONG_PAGES * (unsigned long)pg - 8192));
	uint64_t s = (uint64_t)(uintptr_t)long_map + off;

	long_cookies[i] = new_watch(s, s + 1 + rnd(r) % 8000, 0);
}

static void *churner(void *arg)
{
	int id = (int)(intptr_t)arg, i;
	unsigned int r = 777u;

	while (!atomic_load(&stop)) {
		i = (int)(rnd(&r) % LONG_WATCHES);
		pthread_mutex_lock(&long_lock);
		doing[id] = "unwatch";
		if (long_cookies[i])
			unwatch(long_cookies[i]);
		doing[id] = "watch";
		long_watch(i, &r);
		pthread_mutex_unlock(&long_lock);
		atomic_fetch_add(&churns, 1);
		atomic_fetch_add(&progress[id], 1);
	}
	return NULL;
}

/*
 * mremap() of a range the test mapped itself failed: print what would tell
 * why (EFAULT means [p, p + len) is no longer one VMA, i.e. something split
 * it): the VMAs around it and what the backend holds there.
 */
static void remap_failed(const char *p, size_t len, const char *t, int err,
			 uint64_t before)
{
	uint64_t lo = (uint64_t)(uintptr_t)p - 64 * (uint64_t)pg;
	uint64_t hi = (uint64_t)(uintptr_t)p + len + 64 * (uint64_t)pg;
	unsigned long long s, e;
	char line[512], *buf, *l, *save;
	FILE *f;

	flockfile(stdout);
	diag("mremap(%p, %zu pages -> %p): %s; counter %s since before it",
	     (void *)p, len / (size_t)pg, (void *)t, strerror(err),
	     counter() == before ? "unchanged" : "moved");
	f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx-%llx", &s, &e) == 2 && e > lo && s < hi)
			printf("#   maps: %s", line);
	if (f)
		fclose(f);
	buf = malloc(1 << 16);
	if (buf) {
		uffd_backend_describe(b, lo, hi, buf, 1 << 16);
		for (l = strtok_r(buf, "\n", &save); l;
		     l = strtok_r(NULL, "\n", &save))
			printf("#   backend: %s\n", l);
		free(buf);
	}
	fflush(stdout);
	funlockfile(stdout);
}

static void *madviser(void *arg)
{
	int id = (int)(intptr_t)arg;
	unsigned int r = 999u;
	char *p, *t, *q;
	uint64_t c, before;
	size_t off;

	while (!atomic_load(&stop)) {
		off = (size_t)(rnd(&r) % (LONG_PAGES - 4)) * (size_t)pg;
		long_map[off] = 1;
		doing[id] = "madvise";
		madvise(long_map + off, 4 * (size_t)pg, MADV_DONTNEED);
		atomic_fetch_add(&madvises, 1);

		/* mremap move of a watched range: REMAP of the old range. */
		p = mmap(NULL, 16 * (size_t)pg, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		t = mmap(NULL, 16 * (size_t)pg, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED || t == MAP_FAILED)
			continue;
		doing[id] = "watch (for mremap)";
		c = new_watch((uint64_t)(uintptr_t)p + 1, (uint64_t)(uintptr_t)p + 4 * pg, 1);
		if (c)
			arm(c);
		before = counter();
		doing[id] = "mremap";
		q = mremap(p, 16 * (size_t)pg, 16 * (size_t)pg,
			   MREMAP_MAYMOVE | MREMAP_FIXED, t);
		if (q != t) {
			/* Nothing was unmapped: no unmap to check, p stays. */
			int err = errno;

			fail("mremap: %s", strerror(err));
			remap_failed(p, 16 * (size_t)pg, t, err, before);
			if (c)
				unwatch(c);
			munmap(p, 16 * (size_t)pg);
		} else if (c) {
			after_unmap(id, c, before);
			doing[id] = "unwatch";
			unwatch(c);
		}
		doing[id] = "munmap";
		munmap(t, 16 * (size_t)pg);
		atomic_fetch_add(&remaps, 1);
		atomic_fetch_add(&progress[id], 1);
	}
	return NULL;
}

static atomic_long second_records;

/*
 * Other notifiers of the process come and go on the shared userfaultfd while
 * the others work: each watches a page of the long-lived mapping (shared
 * with the churner's watches) and one mapping of its own, which it unmaps:
 * its own record must arrive, in its own queue.
 */
static void *notifiers(void *arg)
{
	int id = (int)(intptr_t)arg;
	unsigned int r = 4711u;
	struct ummunotify_event e[16];
	struct ummu_backend *n;
	char why[256], *p;
	uint64_t off, c0;
	ssize_t k, i;
	int got, rc;

	while (!atomic_load(&stop)) {
		doing[id] = "open";
		rc = ops->open(&n, why, sizeof(why));
		if (rc) {
			fail("second notifier: open: %d %s", rc, why);
			break;
		}
		off = (uint64_t)(rnd(&r) % LONG_PAGES) * (uint64_t)pg;
		doing[id] = "watch";
		rc = ops->watch(n, (uint64_t)(uintptr_t)long_map + off,
				(uint64_t)(uintptr_t)long_map + off + 64, 1, why,
				sizeof(why));
		p = mmap(NULL, 4 * (size_t)pg, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (rc || p == MAP_FAILED ||
		    (rc = ops->watch(n, (uint64_t)(uintptr_t)p,
				     (uint64_t)(uintptr_t)p + 4 * pg, 2, why,
				     sizeof(why)))) {
			fail("second notifier: watch: %d %s", rc, why);
			break;
		}
		c0 = __atomic_load_n(ops->counter(n), __ATOMIC_ACQUIRE);
		doing[id] = "munmap";
		munmap(p, 4 * (size_t)pg);
		if (__atomic_load_n(ops->counter(n), __ATOMIC_ACQUIRE) == c0)
			fail("second notifier: counter still %" PRIu64 " when munmap returned", c0);
		doing[id] = "read";
		got = 0;
		while ((k = ops->read(n, e, 16)) > 0)
			for (i = 0; i < k; i++)
				if (e[i].type == UMMUNOTIFY_EVENT_TYPE_INVAL &&
				    e[i].user_cookie_counter == 2)
					got = 1;
		if (!got)
			fail("second notifier: no record for its unmapped range");
		else
			atomic_fetch_add(&second_records, 1);
		doing[id] = "close";
		if (rnd(&r) & 1)
			ops->unwatch(n, 1);	/* else close takes it */
		ops->unwatch(n, 2);
		ops->close(n);
		atomic_fetch_add(&progress[id], 1);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	int id = (int)(intptr_t)arg;
	struct pollfd p = { .fd = ops->pollfd(b), .events = POLLIN };
	uint64_t prev = 0, c;

	while (!atomic_load(&stop)) {
		doing[id] = "poll";
		poll(&p, 1, 50);
		c = counter();
		if (c < prev)
			fail("counter went backwards: %" PRIu64 " < %" PRIu64, c, prev);
		prev = c;
		doing[id] = "drain";
		drain();
		atomic_fetch_add(&progress[id], 1);
	}
	return NULL;
}

/*
 * Address reuse under a storm of events. munmap() removes the mapping and
 * drops mmap_lock before its UNMAP is queued and read; meanwhile another
 * thread's mmap() of the same size gets the same address and watches it. The
 * old event must not reach the new watch (a stale record, or "DANGLING" in
 * the agent), and the new mapping must be registered (else its own munmap
 * goes unseen). Stormers keep REMOVE events in flight for 150 ms bursts,
 * which is what makes a watch wait a long time for the old event (see
 * stormer() for why their pauses coincide).
 */
#define REUSE_PAGES 16

static atomic_int reuse_stop;

static void *reuser(void *arg)
{
	int id = (int)(intptr_t)arg;
	size_t len = REUSE_PAGES * (size_t)pg;
	uint64_t c, before;
	char *p;

	while (!atomic_load(&reuse_stop)) {
		doing[id] = "mmap";
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			continue;
		p[0] = 1;
		doing[id] = "watch (reuse)";
		c = new_watch((uint64_t)(uintptr_t)p, (uint64_t)(uintptr_t)p + len, 1);
		if (c)
			arm(c);
		before = counter();
		doing[id] = "munmap";
		munmap(p, len);
		if (c) {
			after_unmap(id, c, before);
			doing[id] = "unwatch";
			unwatch(c);
		}
		atomic_fetch_add(&progress[id], 1);
	}
	return NULL;
}

/*
 * Bursts of STORM_BURST_NS in every STORM_PERIOD_NS of the monotonic clock,
 * the same for every stormer: they pause together. watch() waits for a
 * moment with no event in flight and gives up after 5 s (settle()); four
 * stormers pausing each on its own schedule almost never pause at the same
 * moment, so in runs longer than 5 s a watch would wait out that limit and
 * fail with EAGAIN, as documented, which is not what this phase tests.
 */
#define STORM_PERIOD_NS 155000000L
#define STORM_BURST_NS 150000000L

static void *stormer(void *arg)
{
	int id = (int)(intptr_t)arg;
	unsigned int r = 31337u + (unsigned int)id;
	struct timespec t, pause;
	long phase;
	size_t off;
	int i;

	while (!atomic_load(&reuse_stop)) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		phase = (long)(((uint64_t)t.tv_sec * 1000000000u +
				(uint64_t)t.tv_nsec) % STORM_PERIOD_NS);
		if (phase < STORM_BURST_NS) {
			doing[id] = "madvise storm";
			/* Few per clock check: each waits for the reader. */
			for (i = 0; i < 8; i++) {
				off = (size_t)(rnd(&r) % LONG_PAGES) * (size_t)pg;
				madvise(long_map + off, (size_t)pg, MADV_DONTNEED);
			}
			atomic_fetch_add(&madvises, 8);
			continue;
		}
		doing[id] = "pause";
		pause.tv_sec = 0;
		pause.tv_nsec = STORM_PERIOD_NS - phase;
		nanosleep(&pause, NULL);
		atomic_fetch_add(&progress[id], 1);
	}
	return NULL;
}

static void *reuse_consumer(void *arg)
{
	int id = (int)(intptr_t)arg;
	struct pollfd p = { .fd = ops->pollfd(b), .events = POLLIN };

	while (!atomic_load(&reuse_stop)) {
		doing[id] = "poll";
		poll(&p, 1, 50);
		doing[id] = "drain";
		drain();
		atomic_fetch_add(&progress[id], 1);
	}
	return NULL;
}

static void report(void)
{
	struct uffd_stats st;

	uffd_backend_stats(b, &st);
	diag("unmaps of watched ranges %ld: counter moved when munmap returned %ld, not yet %ld; record drained %ld",
	     atomic_load(&unmaps), atomic_load(&unmaps) - atomic_load(&fast_missed),
	     atomic_load(&fast_missed), atomic_load(&strict_ok));
	diag("frees that unmapped nothing (chunk from glibc's bins): %ld", atomic_load(&heap_frees));
	diag("records %ld, drains %ld, madvise %ld, mremap %ld, watch churn %ld",
	     atomic_load(&records), atomic_load(&drains),
	     atomic_load(&madvises), atomic_load(&remaps), atomic_load(&churns));
	diag("events read (= counter bumps) %llu, of which hit no watch %llu; watch() waited out events in flight %llu times, gave up %llu; undid a registration and looked again %llu times (layout changed, region retired meanwhile, or gave up)",
	     st.batches, st.idle_batches, st.settle_waits, st.settle_giveups,
	     st.layout_changes);
}

static const char *names[8] = { "unmapper 0", "unmapper 1", "unmapper 2",
				"churner", "madviser", "consumer", "notifiers" };

/* A C program's thread dump: what each thread was doing, how far it got. */
static void watchdog(int sig)
{
	char buf[1024];
	int i, n;

	(void)sig;
	n = snprintf(buf, sizeof(buf), "not ok %d - watchdog: no completion in time\n", tap_n + 1);
	for (i = 0; i < 8 && names[i] && n < (int)sizeof(buf) - 100; i++)
		n += snprintf(buf + n, sizeof(buf) - n, "#   %s: %ld rounds, in %s\n",
			      names[i], atomic_load(&progress[i]),
			      doing[i] ? doing[i] : "(loop)");
	if (write(1, buf, (size_t)n) < 0)
		_exit(2);
	_exit(1);
}

static int uw_vmas(void)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmFlags:", 8) && strstr(line, " uw"))
			n++;
	fclose(f);
	return n;
}

/* The second phase: see reuser(). Same checks, counted separately. */
static void reuse_phase(int seconds)
{
	void *(*fns[8])(void *) = { reuser, reuser, reuser, stormer, stormer,
				     stormer, stormer, reuse_consumer };
	static const char *const reuse_names[8] = { "reuser 0", "reuser 1",
		"reuser 2", "stormer 0", "stormer 1", "stormer 2", "stormer 3",
		"consumer" };
	long unmaps0 = atomic_load(&unmaps), prog[8];
	struct uffd_stats st;
	struct timespec ts = { seconds, 0 };
	pthread_t th[8];
	int i;

	for (i = 0; i < 8; i++) {
		names[i] = reuse_names[i];
		atomic_store(&progress[i], 0);
		doing[i] = NULL;
	}
	atomic_store(&fails, 0);
	fail_msg[0] = 0;	/* phase 1's first failure is not this phase's */
	atomic_store(&stale, 0);
	atomic_store(&missed, 0);
	alarm((unsigned int)seconds + 60);
	for (i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, fns[i], (void *)(intptr_t)i);
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	atomic_store(&reuse_stop, 1);
	for (i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 8; i++)
		prog[i] = atomic_load(&progress[i]);
	drain();
	uffd_backend_stats(b, &st);
	diag("reuse: unmaps of watched ranges %ld, REMOVE storm madvises %ld, events read %llu; watch() waited out events in flight %llu times, gave up %llu",
	     atomic_load(&unmaps) - unmaps0, atomic_load(&madvises),
	     st.batches, st.settle_waits, st.settle_giveups);
	ok(atomic_load(&stale) == 0,
	   "address reuse: no record reached a watch before its mapping was unmapped (%ld stale records)",
	   atomic_load(&stale));
	ok(atomic_load(&missed) == 0,
	   "address reuse: every unmap of a watched range was seen when munmap returned (%ld missed)",
	   atomic_load(&missed));
	ok(atomic_load(&fails) == 0, "address reuse: no failure during %d s%s%s",
	   seconds, atomic_load(&fails) ? ": " : "",
	   atomic_load(&fails) ? fail_msg : "");
	ok(prog[0] > 0 && prog[1] > 0 && prog[2] > 0 && prog[3] > 0 &&
	   prog[4] > 0 && prog[5] > 0 && prog[6] > 0 && prog[7] > 0,
	   "address reuse: every thread made progress (%ld %ld %ld %ld %ld %ld %ld %ld)",
	   prog[0], prog[1], prog[2], prog[3], prog[4], prog[5], prog[6],
	   prog[7]);
}

int main(void)
{
	void *(*fns[7])(void *) = { unmapper, unmapper, unmapper, churner,
				     madviser, consumer, notifiers };
	const char *secs = getenv("UFFD_STRESS_SECONDS");
	int seconds = secs ? atoi(secs) : 3, i, r;
	pthread_t th[7];
	struct uffd_stats st;
	struct timespec ts;
	char why[256];
	unsigned int rs = 4242u;
	long prog[7];

	pg = sysconf(_SC_PAGESIZE);
	/* Forces free() to munmap chunks >= 64 KiB (and stops the adaptive threshold). */
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	signal(SIGALRM, watchdog);
	alarm((unsigned int)seconds + 60);

	r = ops->probe(why, sizeof(why));
	if (r) {
		printf("1..0 # SKIP userfaultfd backend unavailable: %s\n", why);
		return 0;
	}
	r = ops->open(&b, why, sizeof(why));
	if (!ok(r == 0, "open: %s", r == 0 ? "the backend opened" : why))
		return tap_done();
	slots = calloc(NSLOTS, sizeof(*slots));
	long_map = mmap(NULL, LONG_PAGES * (size_t)pg, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (i = 0; i < LONG_WATCHES; i++)
		long_watch(i, &rs);
	ok(atomic_load(&fails) == 0, "%d watches on a long-lived mapping", LONG_WATCHES);

	for (i = 0; i < 7; i++)
		pthread_create(&th[i], NULL, fns[i], (void *)(intptr_t)i);
	ts.tv_sec = seconds;
	ts.tv_nsec = 0;
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	atomic_store(&stop, 1);
	for (i = 0; i < 7; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 7; i++)
		prog[i] = atomic_load(&progress[i]);
	report();

	ok(atomic_load(&fails) == 0, "no failure during %d s%s%s", seconds,
	   atomic_load(&fails) ? ": " : "",
	   atomic_load(&fails) ? fail_msg : "");
	ok(prog[0] > 0 && prog[1] > 0 && prog[2] > 0 && prog[3] > 0 &&
	   prog[4] > 0 && prog[5] > 0 && prog[6] > 0,
	   "every thread made progress (%ld %ld %ld %ld %ld %ld %ld)", prog[0],
	   prog[1], prog[2], prog[3], prog[4], prog[5], prog[6]);
	ok(atomic_load(&second_records) == prog[6] && prog[6] > 0,
	   "%ld other notifiers opened, watched, saw their own unmap and closed on the shared userfaultfd meanwhile",
	   prog[6]);
	ok(atomic_load(&strict_ok) == atomic_load(&unmaps) &&
	   !atomic_load(&fast_missed) && atomic_load(&unmaps) > 0,
	   "every unmap of a watched range (%ld) had moved the counter when munmap returned and was drained",
	   atomic_load(&unmaps));
	reuse_phase(seconds);

	for (i = 0; i < LONG_WATCHES; i++)
		if (long_cookies[i])
			unwatch(long_cookies[i]);
	drain();
	uffd_backend_stats(b, &st);
	ok(st.watches == 0 && st.regions == 0 && st.queued == 0 &&
	   st.limbo == 0 && st.orphans == 0,
	   "everything unwatched: %zu watches, %zu regions, %zu queued, %zu in limbo, %zu orphans",
	   st.watches, st.regions, st.queued, st.limbo, st.orphans);
	ok(uw_vmas() == 0, "no VMA left registered with userfaultfd (%d)", uw_vmas());
	ops->close(b);
	ok(uw_vmas() == 0, "closed");
	munmap(long_map, LONG_PAGES * (size_t)pg);
	ok(atomic_load(&uffd_reader_calls) == 0,
	   "the reader thread called no malloc, calloc, realloc, free, munmap or madvise (%d calls)",
	   atomic_load(&uffd_reader_calls));
	return tap_done();
}
