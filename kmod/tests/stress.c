// SPDX-License-Identifier: GPL-2.0
/*
 * stress.c - threads racing mmap/munmap of watched ranges against register,
 * unregister, read and close-and-reopen, for a bounded time.
 *
 *   stress [SECONDS [SEED]]      default 10 s, seed from the clock (printed)
 *
 * Files and what is checked on each:
 *  - W[0], W[1] ("watched"; W[1] with EVENT_CAUSE): mutator threads register
 *    every range they are about to munmap under a fresh cookie in both, and
 *    unregister a cookie only once a consumer has read it from both.
 *      * after every munmap (and MADV_DONTNEED) of such a range returns,
 *        both counters, loaded with acquire order, have already moved;
 *      * no event is lost: every such cookie is read, eventually;
 *      * no event is read for a cookie after its unregister returned;
 *      * counters and LAST values never go backwards, and a LAST never
 *        exceeds the counter loaded after the read that returned it.
 *  - S ("strict"): a few registrations covering the whole user address
 *    space, never unregistered. Every invalidation in the process hits it,
 *    so once its counter moves past the last LAST, the next read must find
 *    an INVAL or a LAST: with nothing unregistered, the queue, the counter
 *    bump and the LAST snapshot change together under the file's lock
 *    (as in the 2010 driver), so there is no false positive to excuse.
 *  - churn files: opened, loaded with thousands of ranges where mutators
 *    map, read now and then, closed (counter page unmapped before or
 *    after), reopened, all the time; only syscall results are checked.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "um.h"

#define NMUT		3	/* mutator threads */
#define NCHURN		2	/* churn threads */
#define NW		2	/* watched files */
#define RING		128	/* outstanding cookies per mutator */
#define MAXPAGES	8
#define RECENT		64

#define MUT_COOKIE(t, s, g) (uint64_t)\
	((1ULL << 63) | ((uint64_t)(t) << 48) | ((uint64_t)(s) << 32) | (g))
#define COOKIE_T(c)	((int)(((c) >> 48) & 0x7fff))
#define COOKIE_S(c)	((int)(((c) >> 32) & 0xffff))
#define COOKIE_G(c)	((uint32_t)(c))

struct wfile {
	int fd;
	const volatile uint64_t *counter;
	uint64_t read_epoch;	/* bumped before every read() */
	uint32_t features;
};

struct slot {
	uint32_t gen;			/* cookie generation, odd = live */
	uint8_t seen[NW];
	uint64_t done_epoch[NW];	/* read_epoch when last unregistered */
};

static struct wfile W[NW], S;
static struct slot slots[NMUT][RING];
static uintptr_t recent[RECENT];
static int stop, stop_consumers;
static long page;

/* Results. */
static uint64_t n_munmaps, n_madvise, n_not_moved, n_backwards, n_lost,
		n_after_unreg, n_empty_strict, n_syscall_err, n_events,
		n_empty_watched, n_churn_files, n_churn_regs, n_regs;
static pthread_mutex_t msg_lock = PTHREAD_MUTEX_INITIALIZER;
static int n_msgs;

#define add(v, n) __atomic_fetch_add(&(v), (n), __ATOMIC_SEQ_CST)
#define ld(v) __atomic_load_n(&(v), __ATOMIC_SEQ_CST)

__attribute__((format(printf, 2, 3)))
static void report(uint64_t *counter, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	add(*counter, 1);
	pthread_mutex_lock(&msg_lock);
	if (n_msgs++ < 30) {
		va_start(ap, fmt);
		vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);
		diag("%s", buf);
	}
	pthread_mutex_unlock(&msg_lock);
}

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64*: private state per thread, reproducible from the seed */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static uint64_t cnt(const volatile uint64_t *c)
{
	return __atomic_load_n((const uint64_t *)c, __ATOMIC_ACQUIRE);
}

static void open_wfile(struct wfile *w, uint32_t features)
{
	w->fd = open(UM_DEV, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ASSERT(w->fd >= 0, "open: %s", strerror(errno));
	if (features) {
		uint32_t f = features;

		ASSERT(um_exchange(w->fd, &f) == 0 && f == features,
		       "EXCHANGE_FEATURES(%#x) = %#x", features, f);
	}
	w->features = features;
	w->counter = um_map_counter(w->fd);
}

/* ---------------------------------------------------------------- mutators */

static void sweep(int t)
{
	int s, f;

	for (s = 0; s < RING; s++) {
		struct slot *sl = &slots[t][s];
		uint64_t cookie;

		if (!(ld(sl->gen) & 1))
			continue;
		for (f = 0; f < NW; f++)
			if (!ld(sl->seen[f]))
				break;
		if (f < NW)
			continue;
		cookie = MUT_COOKIE(t, s, sl->gen);
		for (f = 0; f < NW; f++) {
			int r = um_unregister(W[f].fd, cookie);

			if (r)
				report(&n_syscall_err, "unregister %#" PRIx64
				       " in W%d: %s", cookie, f, strerror(-r));
			/* Reads that start after this may not see it. */
			__atomic_store_n(&sl->done_epoch[f],
					 ld(W[f].read_epoch), __ATOMIC_RELEASE);
		}
		__atomic_store_n(&sl->gen, sl->gen + 1, __ATOMIC_RELEASE);
	}
}

static int free_slot(int t)
{
	int s;

	for (s = 0; s < RING; s++)
		if (!(ld(slots[t][s].gen) & 1))
			return s;
	return -1;
}

/* One watched munmap (or MADV_DONTNEED then munmap) with its checks. */
static void watched_unmap(int t, uint64_t *rs)
{
	int pages = 1 + rnd(rs) % MAXPAGES, s, f, r;
	size_t len = pages * page;
	uint64_t a, b, cookie, c0[NW + 1], c1[NW + 1];
	struct slot *sl;
	int dontneed = rnd(rs) % 4 == 0;
	char *p;

	s = free_slot(t);
	if (s < 0) {
		sweep(t);
		sched_yield();
		return;
	}
	sl = &slots[t][s];
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		report(&n_syscall_err, "mmap(%zu): %s", len, strerror(errno));
		return;
	}
	if (dontneed || rnd(rs) % 2)
		memset(p, 1, len);
	__atomic_store_n(&recent[rnd(rs) % RECENT], (uintptr_t)p,
			 __ATOMIC_RELAXED);
	/* A byte range somewhere inside the mapping. */
	a = rnd(rs) % len;
	b = a + 1 + rnd(rs) % (len - a);
	for (f = 0; f < NW; f++)
		sl->seen[f] = 0;
	/* Odd: live. Published before the cookie can be read anywhere. */
	__atomic_store_n(&sl->gen, sl->gen + 1, __ATOMIC_RELEASE);
	cookie = MUT_COOKIE(t, s, sl->gen);
	for (f = 0; f < NW; f++) {
		r = um_register(W[f].fd, u64p(p) + a, u64p(p) + b, cookie, 0);
		if (r) {
			report(&n_syscall_err, "register %#" PRIx64 " in W%d: %s",
			       cookie, f, strerror(-r));
			/* Half-registered: give up the slot the slow way. */
			for (f = 0; f < NW; f++)
				__atomic_store_n(&sl->seen[f], 1,
						 __ATOMIC_RELAXED);
			munmap(p, len);
			return;
		}
	}
	add(n_regs, 1);

	for (f = 0; f < NW; f++)
		c0[f] = cnt(W[f].counter);
	c0[NW] = cnt(S.counter);
	if (dontneed) {
		if (madvise(p, len, MADV_DONTNEED))
			report(&n_syscall_err, "madvise: %s", strerror(errno));
		add(n_madvise, 1);
	} else {
		if (munmap(p, len))
			report(&n_syscall_err, "munmap: %s", strerror(errno));
		add(n_munmaps, 1);
	}
	for (f = 0; f < NW; f++)
		c1[f] = cnt(W[f].counter);
	c1[NW] = cnt(S.counter);
	for (f = 0; f <= NW; f++) {
		if (c1[f] > c0[f])
			continue;
		report(c1[f] < c0[f] ? &n_backwards : &n_not_moved,
		       "%s of watched [%p+%#" PRIx64 ", +%#" PRIx64 ") "
		       "returned, counter of %s%d %s: %" PRIu64 " -> %" PRIu64,
		       dontneed ? "MADV_DONTNEED" : "munmap", p, a, b,
		       f < NW ? "W" : "S", f,
		       c1[f] < c0[f] ? "went back" : "did not move", c0[f],
		       c1[f]);
	}
	if (dontneed)
		munmap(p, len);
}

/* Register and drop again at once, racing invalidations; never checked. */
static void flicker(int t, uint64_t *rs, uint64_t *seq)
{
	uintptr_t base = ld(recent[rnd(rs) % RECENT]);
	uint64_t cookie = ((uint64_t)t << 48) | (*seq)++;
	int f = rnd(rs) % NW, r;

	if (!base)
		return;
	r = um_register(W[f].fd, base, base + 1 + rnd(rs) % (4 * page),
			cookie, 0);
	if (r) {
		report(&n_syscall_err, "flicker register: %s", strerror(-r));
		return;
	}
	sched_yield();
	r = um_unregister(W[f].fd, cookie);
	if (r)
		report(&n_syscall_err, "flicker unregister: %s", strerror(-r));
}

struct targ {
	int id;
	uint64_t seed;
};

static void *mutator(void *arg)
{
	struct targ *ta = arg;
	uint64_t rs = ta->seed, seq = 1;

	while (!ld(stop)) {
		if (rnd(&rs) % 4)
			watched_unmap(ta->id, &rs);
		else
			flicker(ta->id, &rs, &seq);
		if (rnd(&rs) % 16 == 0)
			sweep(ta->id);
	}
	return NULL;
}

/* ---------------------------------------------------------------- consumers */

static void check_inval(struct wfile *w, int f,
			const struct ummunotify_event *e, uint64_t epoch)
{
	uint64_t c = e->user_cookie_counter;
	uint32_t ok = UMMUNOTIFY_EVENT_FLAG_HINT;
	struct slot *sl;
	uint32_t gen;

	if (w->features & UMMUNOTIFY_FEATURE_EVENT_CAUSE)
		ok |= UMMUNOTIFY_EVENT_CAUSE_MASK;
	if ((e->flags & ~ok) || e->hint_start >= e->hint_end ||
	    ((w->features & UMMUNOTIFY_FEATURE_EVENT_CAUSE) &&
	     !(e->flags & UMMUNOTIFY_EVENT_CAUSE_MASK)))
		report(&n_syscall_err, "W%d: malformed event %s", f, ev_str(e));
	if (!(c >> 63) || f < 0)
		return;		/* a flicker cookie, or the S file */
	if (COOKIE_T(c) >= NMUT || COOKIE_S(c) >= RING) {
		report(&n_syscall_err, "W%d: unknown cookie %s", f, ev_str(e));
		return;
	}
	sl = &slots[COOKIE_T(c)][COOKIE_S(c)];
	gen = ld(sl->gen);
	if (gen == COOKIE_G(c)) {
		__atomic_store_n(&sl->seen[f], 1, __ATOMIC_RELEASE);
		return;
	}
	/* Unregistered: fine only if this read began before that returned. */
	if (epoch > ld(sl->done_epoch[f]))
		report(&n_after_unreg, "W%d: read (epoch %" PRIu64 ") returned "
		       "%s after its unregister (epoch %" PRIu64 ")", f, epoch,
		       ev_str(e), ld(sl->done_epoch[f]));
}

struct cons {
	struct wfile *w;
	int f;		/* watched index, or -1 for S */
	uint64_t seed;
};

/*
 * Reads until a LAST or EAGAIN. Returns the number of events read; updates
 * *last_seen from the LAST.
 */
static int drain(struct cons *co, uint64_t *rs, uint64_t *last_seen,
		 uint64_t *last_last)
{
	struct ummunotify_event ev[64];
	int total = 0;

	for (;;) {
		int k = 1 + rnd(rs) % 64, n, i;
		uint64_t epoch = add(co->w->read_epoch, 1) + 1;
		ssize_t r = read(co->w->fd, ev, k * UM_EV_SIZE);

		if (r < 0) {
			if (errno != EAGAIN)
				report(&n_syscall_err, "read: %s",
				       strerror(errno));
			return total;
		}
		if (r == 0 || r % UM_EV_SIZE) {
			report(&n_syscall_err, "read returned %zd bytes", r);
			return total;
		}
		n = r / UM_EV_SIZE;
		total += n;
		add(n_events, n);
		for (i = 0; i < n; i++) {
			uint64_t now;

			if (ev[i].type == UMMUNOTIFY_EVENT_TYPE_INVAL) {
				check_inval(co->w, co->f, &ev[i], epoch);
				continue;
			}
			if (ev[i].type != UMMUNOTIFY_EVENT_TYPE_LAST) {
				report(&n_syscall_err, "event type %u",
				       ev[i].type);
				continue;
			}
			now = cnt(co->w->counter);
			if (ev[i].user_cookie_counter < *last_last ||
			    ev[i].user_cookie_counter > now)
				report(&n_backwards, "LAST %" PRIu64 " after "
				       "LAST %" PRIu64 ", counter now %" PRIu64,
				       (uint64_t)ev[i].user_cookie_counter,
				       *last_last, now);
			*last_last = ev[i].user_cookie_counter;
			*last_seen = ev[i].user_cookie_counter;
			if (i != n - 1)
				report(&n_syscall_err, "LAST not at the end");
			return total;
		}
	}
}

static void *consumer(void *arg)
{
	struct cons *co = arg;
	uint64_t rs = co->seed, last_seen = 0, last_last = 0, prev = 0;

	for (;;) {
		uint64_t c = cnt(co->w->counter);
		int quit = ld(stop_consumers);

		if (c < prev)
			report(&n_backwards, "%s%d counter %" PRIu64 " -> %"
			       PRIu64, co->f < 0 ? "S" : "W", co->f, prev, c);
		prev = c;
		if (c == last_seen) {
			struct pollfd p = { .fd = co->w->fd, .events = POLLIN };

			if (quit)
				break;
			/* Sometimes poll, sometimes spin on the counter. */
			if (rnd(&rs) % 2)
				poll(&p, 1, 2);
			continue;
		}
		if (drain(co, &rs, &last_seen, &last_last) == 0) {
			if (co->f < 0)
				report(&n_empty_strict, "S: counter %" PRIu64
				       " past LAST %" PRIu64 " but nothing to "
				       "read", c, last_seen);
			else
				add(n_empty_watched, 1);
			/* Resynchronise: what is there now is the truth. */
			last_seen = c;
		}
	}
	return NULL;
}

/* ---------------------------------------------------------------- churn */

static void *churner(void *arg)
{
	struct targ *ta = arg;
	uint64_t rs = ta->seed;

	while (!ld(stop)) {
		int fd = open(UM_DEV, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		const volatile uint64_t *c = NULL;
		int n, i, r;

		if (fd < 0) {
			report(&n_syscall_err, "churn open: %s",
			       strerror(errno));
			return NULL;
		}
		add(n_churn_files, 1);
		if (rnd(&rs) % 2) {
			uint32_t f = (uint32_t)rnd(&rs);

			if (um_exchange(fd, &f))
				report(&n_syscall_err, "churn exchange: %s",
				       strerror(errno));
		}
		if (rnd(&rs) % 2) {
			void *p = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);

			if (p == MAP_FAILED)
				report(&n_syscall_err, "churn mmap: %s",
				       strerror(errno));
			else
				c = p;
		}
		n = rnd(&rs) % 3000;
		for (i = 0; i < n && !ld(stop); i++) {
			uintptr_t base = ld(recent[rnd(&rs) % RECENT]);
			uint64_t s = base + rnd(&rs) % (2 * MAXPAGES * page) -
				     MAXPAGES * page;

			if (!base)
				continue;
			r = um_register(fd, s, s + 1 + rnd(&rs) % (4 * page),
					i, 0);
			if (r)
				report(&n_syscall_err, "churn register: %s",
				       strerror(-r));
			if (rnd(&rs) % 8 == 0 &&
			    (r = um_unregister(fd, rnd(&rs) % (i + 1))) &&
			    r != -EINVAL)
				report(&n_syscall_err, "churn unregister: %s",
				       strerror(-r));
			if (rnd(&rs) % 64 == 0) {
				struct ummunotify_event ev[16];

				if (read(fd, ev, sizeof(ev)) < 0 &&
				    errno != EAGAIN)
					report(&n_syscall_err, "churn read: %s",
					       strerror(errno));
			}
		}
		add(n_churn_regs, n);
		if (c && rnd(&rs) % 2) {
			munmap((void *)c, page);
			c = NULL;
		}
		close(fd);
		if (c)
			munmap((void *)c, page);
	}
	return NULL;
}

/* ---------------------------------------------------------------- main */

static unsigned int seconds = 10;
static uint64_t seed;

static void stress(void)
{
	pthread_t mt[NMUT], ct[NCHURN], wt[NW + 1];
	struct targ ma[NMUT], ca[NCHURN];
	struct cons co[NW + 1];
	struct timespec end, now;
	uint64_t lost = 0;
	int i, t, s, f;

	page = pg();
	open_wfile(&W[0], 0);
	open_wfile(&W[1], UMMUNOTIFY_FEATURE_EVENT_CAUSE);
	open_wfile(&S, 0);
	/* Never unregistered; together they cover every user address. */
	REG(S.fd, 0, 1ULL << 47, 1, 0);
	REG(S.fd, 0, 1ULL << 32, 2, 0);
	REG(S.fd, 1ULL << 32, 1ULL << 47, 3, 0);

	for (f = 0; f <= NW; f++) {
		co[f].w = f < NW ? &W[f] : &S;
		co[f].f = f < NW ? f : -1;
		co[f].seed = seed + 1000 + f;
		ASSERT(pthread_create(&wt[f], NULL, consumer, &co[f]) == 0,
		       "pthread_create");
	}
	for (i = 0; i < NMUT; i++) {
		ma[i].id = i;
		ma[i].seed = seed + 1 + i;
		ASSERT(pthread_create(&mt[i], NULL, mutator, &ma[i]) == 0,
		       "pthread_create");
	}
	for (i = 0; i < NCHURN; i++) {
		ca[i].id = i;
		ca[i].seed = seed + 100 + i;
		ASSERT(pthread_create(&ct[i], NULL, churner, &ca[i]) == 0,
		       "pthread_create");
	}

	/* Bounded by time, but no assertion is about time. */
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += seconds;
	do {
		usleep(100000);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec < end.tv_sec ||
		 (now.tv_sec == end.tv_sec && now.tv_nsec < end.tv_nsec));
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < NMUT; i++)
		pthread_join(mt[i], NULL);
	for (i = 0; i < NCHURN; i++)
		pthread_join(ct[i], NULL);
	/* Quiet now: the consumers read what is left and stop. */
	__atomic_store_n(&stop_consumers, 1, __ATOMIC_RELEASE);
	for (f = 0; f <= NW; f++)
		pthread_join(wt[f], NULL);

	/* Every live cookie was munmapped once: each must have been read. */
	for (t = 0; t < NMUT; t++)
		for (s = 0; s < RING; s++)
			for (f = 0; f < NW; f++)
				if ((slots[t][s].gen & 1) && !slots[t][s].seen[f]) {
					lost++;
					if (lost <= 10)
						diag("lost: W%d cookie %#" PRIx64
						     " never read", f,
						     MUT_COOKIE(t, s,
								slots[t][s].gen));
				}
	n_lost = lost;

	diag("seed %" PRIu64 ", %u s: %" PRIu64 " watched munmaps, %" PRIu64
	     " MADV_DONTNEED, %" PRIu64 " registrations, %" PRIu64
	     " events read", seed, seconds, n_munmaps, n_madvise, n_regs,
	     n_events);
	diag("churn: %" PRIu64 " files, %" PRIu64 " registrations; counters "
	     "W0 %" PRIu64 " W1 %" PRIu64 " S %" PRIu64 "; empty drains on "
	     "W (legitimate after unregister) %" PRIu64, n_churn_files,
	     n_churn_regs, cnt(W[0].counter), cnt(W[1].counter),
	     cnt(S.counter), n_empty_watched);
	EXPECT(n_munmaps + n_madvise > 0, "no watched unmap happened");
	EXPECT(n_not_moved == 0, "%" PRIu64 " watched unmaps returned before "
	       "the counter moved", n_not_moved);
	EXPECT(n_backwards == 0, "%" PRIu64 " counter/LAST regressions",
	       n_backwards);
	EXPECT(n_empty_strict == 0, "%" PRIu64 " moves of S's counter with "
	       "nothing to read", n_empty_strict);
	EXPECT(n_lost == 0, "%" PRIu64 " events lost", n_lost);
	EXPECT(n_after_unreg == 0, "%" PRIu64 " events read after their "
	       "unregister", n_after_unreg);
	EXPECT(n_syscall_err == 0, "%" PRIu64 " unexpected syscall results",
	       n_syscall_err);
	EXPECT(cnt(W[0].counter) >= n_munmaps + n_madvise,
	       "W0 counter %" PRIu64 " below the number of watched unmaps",
	       cnt(W[0].counter));
}

int main(int argc, char **argv)
{
	static char name[64];
	struct tap_case cases[] = { { name, stress, 0 } };
	struct timespec ts;

	if (argc > 1)
		seconds = strtoul(argv[1], NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	seed = argc > 2 ? strtoull(argv[2], NULL, 0) :
	       (uint64_t)ts.tv_sec * 1000003 + ts.tv_nsec;
	if (!seed)
		seed = 1;
	cases[0].timeout = seconds + 120;
	snprintf(name, sizeof(name), "stress_%us_seed_%" PRIu64, seconds,
		 seed);
	printf("# stress: %u s, seed %" PRIu64 " (rerun: stress %u %" PRIu64
	       ")\n", seconds, seed, seconds, seed);
	return tap_run(cases, 1, um_skip_reason());
}
