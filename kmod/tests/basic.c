// SPDX-License-Identifier: GPL-2.0
/*
 * basic.c - the event semantics of DESIGN.md "The kernel ABI", with exact
 * hint ranges, flags and counter values: what munmap, partial munmap,
 * mremap, madvise, MAP_FIXED and mprotect report, coalescing, FIFO order,
 * overlapping registrations, unregister.
 *
 * No feature is exchanged here, so flags must be exactly HINT or 0 (2010).
 */
#define _GNU_SOURCE
#include "um.h"

#define C1 0x1111000000000001ULL
#define C2 0x2222000000000002ULL
#define C3 0x3333000000000003ULL
#define P(i) ((uint64_t)(uintptr_t)(base + (i) * pg()))

static const struct ummunotify_event *find_cookie(
	const struct ummunotify_event *ev, int n, uint64_t cookie)
{
	int i, found = -1;

	for (i = 0; i < n; i++) {
		if (ev[i].user_cookie_counter != cookie)
			continue;
		EXPECT(found < 0, "cookie %#" PRIx64 " reported twice: %s, %s",
		       cookie, ev_str(&ev[found]), ev_str(&ev[i]));
		found = i;
	}
	return found < 0 ? NULL : &ev[found];
}

static void counter_starts_at_zero(void)
{
	int fd = um_open(O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);

	EXPECT(um_counter(c) == 0, "fresh counter = %" PRIu64, um_counter(c));
	/* The rest of the page is not promised, but it must be readable. */
	(void)((const volatile char *)c)[pg() - 1];
	EXPECT_NOTHING(fd, "fresh file");
}

static void munmap_one_event_then_last(void)
{
	int fd = um_open(O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(4);
	struct ummunotify_event ev[2];
	int n;

	REG(fd, P(0), P(4), C1, 0);
	EXPECT(um_counter(c) == 0, "counter after register = %" PRIu64,
	       um_counter(c));
	EXPECT_NOTHING(fd, "registered, nothing unmapped");
	unmap_ok(base, 4 * pg());
	EXPECT(um_counter(c) == 1, "counter after munmap = %" PRIu64 ", want 1",
	       um_counter(c));

	/* One event at a time: the INVAL, then the LAST. */
	n = um_read(fd, ev, 1);
	ASSERT(n == 1, "first read(1 event) = %d (%s)", n,
	       n < 0 ? strerror(-n) : "events");
	EXPECT_INVAL(&ev[0], C1, UMMUNOTIFY_EVENT_FLAG_HINT, P(0), P(4));
	n = um_read(fd, ev, 1);
	ASSERT(n == 1, "second read(1 event) = %d (%s)", n,
	       n < 0 ? strerror(-n) : "events");
	EXPECT_LAST(&ev[0], 1);
	EXPECT_NOTHING(fd, "after LAST");
	EXPECT(um_counter(c) == 1, "counter after reading = %" PRIu64,
	       um_counter(c));
	/* The registration outlives the mapping; it is still there. */
	UNREG(fd, C1);
}

static void inval_and_last_in_one_read(void)
{
	int fd = um_open(O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(2);
	struct ummunotify_event ev[8];
	int n;

	REG(fd, P(0), P(2), C1, 0);
	unmap_ok(base, 2 * pg());
	n = um_read(fd, ev, 8);
	ASSERT(n == 2, "read(8 events) = %d (%s), want INVAL + LAST", n,
	       n < 0 ? strerror(-n) : "events");
	EXPECT_INVAL(&ev[0], C1, UMMUNOTIFY_EVENT_FLAG_HINT, P(0), P(2));
	EXPECT_LAST(&ev[1], 1);
	EXPECT(um_counter(c) == 1, "counter = %" PRIu64, um_counter(c));
	EXPECT_NOTHING(fd, "after INVAL + LAST");
}

static void partial_unmap_reports_overlap(void)
{
	int fd = um_open(O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(8);
	struct ummunotify_event ev[8];
	int64_t last;
	int n;

	REG(fd, P(0), P(8), C1, 0);
	unmap_ok(base + 2 * pg(), 3 * pg());
	EXPECT(um_counter(c) == 1, "counter = %" PRIu64 ", want 1",
	       um_counter(c));
	n = um_drain(fd, ev, 8, &last);
	ASSERT(n == 1, "%d INVAL events, want 1", n);
	EXPECT_INVAL(&ev[0], C1, UMMUNOTIFY_EVENT_FLAG_HINT, P(2), P(5));
	EXPECT(last == 1, "LAST counter %" PRId64 ", want 1", last);

	/* Reported, so the next hit is a first hit again, with its hint. */
	unmap_ok(base + 6 * pg(), pg());
	EXPECT(um_counter(c) == 2, "counter = %" PRIu64 ", want 2",
	       um_counter(c));
	n = um_drain(fd, ev, 8, &last);
	ASSERT(n == 1, "%d INVAL events, want 1", n);
	EXPECT_INVAL(&ev[0], C1, UMMUNOTIFY_EVENT_FLAG_HINT, P(6), P(7));
	EXPECT(last == 2, "LAST counter %" PRId64 ", want 2", last);
	unmap_ok(base, 8 * pg());
}

static void two_hits_before_read_report_whole_range(void)
{
	int fd = um_open(O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(8);
	struct ummunotify_event ev[8];
	int64_t last;
	int n;

	REG(fd, P(0), P(8), C1, 0);
	unmap_ok(base + pg(), pg());
	unmap_ok(base + 5 * pg(), pg());
	/* Every invalidation that hits moves the counter, queued or not. */
	EXPECT(um_counter(c) == 2, "counter = %" PRIu64 ", want 2",
	       um_counter(c));
	n = um_drain(fd, ev, 8, &last);
	ASSERT(n == 1, "%d INVAL events, want 1 (coalesced)", n);
	EXPECT_INVAL(&ev[0], C1, 0, P(0), P(8));
	EXPECT(last == 2, "LAST counter %" PRId64 ", want 2", last);
	unmap_ok(base, 8 * pg());
}

static void overlapping_and_identical_ranges(void)
{
	int fd = um_open(O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(8);
	struct ummunotify_event ev[8];
	const struct ummunotify_event *e;
	int64_t last;
	int n;

	REG(fd, P(0), P(4), C1, 0);
	REG(fd, P(2), P(6), C2, 0);
	REG(fd, P(0), P(4), C3, 0);	/* identical to C1 */
	unmap_ok(base + 3 * pg(), pg());
	EXPECT(um_counter(c) == 1,
	       "counter = %" PRIu64 ", want 1 (one invalidation, 3 hits)",
	       um_counter(c));
	n = um_drain(fd, ev, 8, &last);
	EXPECT(n == 3, "%d INVAL events, want 3", n);
	e = find_cookie(ev, n, C1);
	EXPECT(e, "no event for C1");
	if (e)
		EXPECT_INVAL(e, C1, UMMUNOTIFY_EVENT_FLAG_HINT, P(3), P(4));
	e = find_cookie(ev, n, C2);
	EXPECT(e, "no event for C2");
	if (e)
		EXPECT_INVAL(e, C2, UMMUNOTIFY_EVENT_FLAG_HINT, P(3), P(4));
	e = find_cookie(ev, n, C3);
	EXPECT(e, "no event for C3");
	if (e)
		EXPECT_INVAL(e, C3, UMMUNOTIFY_EVENT_FLAG_HINT, P(3), P(4));
	EXPECT(last == 1, "LAST counter %" PRId64 ", want 1", last);

	/* Only C2 covers page 5. */
	unmap_ok(base + 5 * pg(), pg());
	EXPECT(um_counter(c) == 2, "counter = %" PRIu64 ", want 2",
	       um_counter(c));
	n = um_drain(fd, ev, 8, &last);
	ASSERT(n == 1, "%d INVAL events, want 1 (C2)", n);
	EXPECT_INVAL(&ev[0], C2, UMMUNOTIFY_EVENT_FLAG_HINT, P(5), P(6));
	EXPECT(last == 2, "LAST counter %" PRId64 ", want 2", last);
	unmap_ok(base, 8 * pg());
}

static void unregister_drops_pending_event(void)
{
	int fd = um_open(O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(4);
	struct ummunotify_event ev[8];
	int64_t last;
	int n;

	/* The only pending event goes: nothing at all to read, not a LAST. */
	REG(fd, P(0), P(1), C1, 0);
	unmap_ok(base, pg());
	EXPECT(um_counter(c) == 1, "counter = %" PRIu64, um_counter(c));
	UNREG(fd, C1);
	EXPECT_NOTHING(fd, "pending event of an unregistered cookie");
	EXPECT(um_counter(c) == 1, "counter went back to %" PRIu64,
	       um_counter(c));

	/* One of two pending events goes; the other one stays. */
	REG(fd, P(1), P(2), C2, 0);
	REG(fd, P(2), P(3), C3, 0);
	unmap_ok(base + pg(), 2 * pg());
	EXPECT(um_counter(c) == 2, "counter = %" PRIu64 ", want 2",
	       um_counter(c));
	UNREG(fd, C2);
	n = um_drain(fd, ev, 8, &last);
	ASSERT(n == 1, "%d INVAL events, want 1 (C3 only)", n);
	EXPECT_INVAL(&ev[0], C3, UMMUNOTIFY_EVENT_FLAG_HINT, P(2), P(3));
	EXPECT(last == 2, "LAST counter %" PRId64 ", want 2", last);

	/* An unregistered range is not watched any more. */
	unmap_ok(base + 3 * pg(), pg());
	REG(fd, P(0), P(4), C1, 0);	/* the cookie is free again */
	UNREG(fd, C1);
	EXPECT(um_counter(c) == 2, "counter = %" PRIu64 ", want 2",
	       um_counter(c));
	EXPECT_NOTHING(fd, "after unregistering everything");
}

static void unrelated_unmaps_leave_counter(void)
{
	int fd = um_open(O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(3);
	char *other = map_pages(4);

	/* [page 1, page 2): the neighbours touch it but do not overlap. */
	REG(fd, P(1), P(2), C1, 0);
	unmap_ok(base, pg());
	unmap_ok(base + 2 * pg(), pg());
	unmap_ok(other, 4 * pg());
	EXPECT(um_counter(c) == 0,
	       "counter = %" PRIu64 " after unmaps next to the range",
	       um_counter(c));
	EXPECT_NOTHING(fd, "unrelated unmaps");
	/* ... and the range itself still counts. */
	unmap_ok(base + pg(), pg());
	EXPECT(um_counter(c) == 1, "counter = %" PRIu64 ", want 1",
	       um_counter(c));
}

static void events_come_in_fifo_order(void)
{
	int fd = um_open(O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(3);
	struct ummunotify_event ev[8];
	int64_t last;
	int n;

	REG(fd, P(0), P(1), C1, 0);
	REG(fd, P(1), P(2), C2, 0);
	REG(fd, P(2), P(3), C3, 0);
	unmap_ok(base + 2 * pg(), pg());
	unmap_ok(base, pg());
	unmap_ok(base + pg(), pg());
	EXPECT(um_counter(c) == 3, "counter = %" PRIu64, um_counter(c));
	n = um_drain(fd, ev, 8, &last);
	ASSERT(n == 3, "%d INVAL events, want 3", n);
	EXPECT_INVAL(&ev[0], C3, UMMUNOTIFY_EVENT_FLAG_HINT, P(2), P(3));
	EXPECT_INVAL(&ev[1], C1, UMMUNOTIFY_EVENT_FLAG_HINT, P(0), P(1));
	EXPECT_INVAL(&ev[2], C2, UMMUNOTIFY_EVENT_FLAG_HINT, P(1), P(2));
	EXPECT(last == 3, "LAST counter %" PRId64, last);
}

#define MANY 300
static void many_events_over_small_reads(void)
{
	int fd = um_open(O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(MANY);
	static unsigned char seen[MANY];
	struct ummunotify_event ev[8];
	int i, n, total = 0, lasts = 0;

	for (i = 0; i < MANY; i++)
		REG(fd, P(i), P(i + 1), 1000 + i, 0);
	unmap_ok(base, MANY * pg());
	EXPECT(um_counter(c) == 1, "counter = %" PRIu64 ", want 1",
	       um_counter(c));
	/* 301 events by 8: the LAST lands mid-buffer. */
	while ((n = um_read(fd, ev, 8)) > 0) {
		for (i = 0; i < n; i++) {
			uint64_t k;

			if (ev[i].type == UMMUNOTIFY_EVENT_TYPE_LAST) {
				EXPECT_LAST(&ev[i], 1);
				EXPECT(i == n - 1, "LAST not last in read");
				EXPECT(total == MANY, "LAST after %d INVALs",
				       total);
				lasts++;
				continue;
			}
			k = ev[i].user_cookie_counter - 1000;
			ASSERT(k < MANY, "unknown cookie: %s", ev_str(&ev[i]));
			EXPECT(!seen[k], "cookie %" PRIu64 " twice", k + 1000);
			seen[k] = 1;
			total++;
			EXPECT_INVAL(&ev[i], k + 1000,
				     UMMUNOTIFY_EVENT_FLAG_HINT, P(k), P(k + 1));
		}
	}
	EXPECT(n == -EAGAIN, "read ended with %s", strerror(-n));
	EXPECT(total == MANY, "%d INVAL events, want %d", total, MANY);
	EXPECT(lasts == 1, "%d LAST events, want 1", lasts);
}

static void byte_granular_ranges(void)
{
	int fd = um_open(O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(2);
	struct ummunotify_event ev[8];
	const struct ummunotify_event *e;
	int64_t last;
	int n;

	REG(fd, P(0) + 100, P(0) + 200, C1, 0);
	REG(fd, P(1) - 1, P(1) + 1, C2, 0);	/* straddles the pages */
	unmap_ok(base + pg(), pg());
	EXPECT(um_counter(c) == 1, "counter = %" PRIu64, um_counter(c));
	n = um_drain(fd, ev, 8, &last);
	ASSERT(n == 1, "%d INVAL events, want 1 (C2)", n);
	EXPECT_INVAL(&ev[0], C2, UMMUNOTIFY_EVENT_FLAG_HINT, P(1), P(1) + 1);

	unmap_ok(base, pg());
	EXPECT(um_counter(c) == 2, "counter = %" PRIu64, um_counter(c));
	n = um_drain(fd, ev, 8, &last);
	ASSERT(n == 2, "%d INVAL events, want 2", n);
	e = find_cookie(ev, n, C1);
	EXPECT(e, "no event for C1");
	if (e)
		EXPECT_INVAL(e, C1, UMMUNOTIFY_EVENT_FLAG_HINT, P(0) + 100,
			     P(0) + 200);
	e = find_cookie(ev, n, C2);
	EXPECT(e, "no event for C2");
	if (e)
		EXPECT_INVAL(e, C2, UMMUNOTIFY_EVENT_FLAG_HINT, P(1) - 1, P(1));
	EXPECT(last == 2, "LAST counter %" PRId64, last);
}

static void read_returns_whole_events_only(void)
{
	int fd = um_open(O_NONBLOCK);
	char *base = map_pages(3);
	char buf[4 * 32 + 64];
	ssize_t r;

	REG(fd, P(0), P(1), C1, 0);
	REG(fd, P(1), P(2), C2, 0);
	REG(fd, P(2), P(3), C3, 0);
	unmap_ok(base, pg());
	unmap_ok(base + pg(), pg());
	unmap_ok(base + 2 * pg(), pg());
	/* 40 bytes: room for one event and a bit. */
	r = read(fd, buf, 40);
	EXPECT(r == 32, "read(40 bytes) = %zd (%s), want 32", r,
	       r < 0 ? strerror(errno) : "bytes");
	/* 95 bytes: room for two events (C2, C3) but not the LAST. */
	r = read(fd, buf, 95);
	EXPECT(r == 64, "read(95 bytes) = %zd (%s), want 64", r,
	       r < 0 ? strerror(errno) : "bytes");
	/* Misaligned buffer: the kernel copies bytes, alignment is ours. */
	r = read(fd, buf + 3, 64);
	EXPECT(r == 32, "read(64 bytes, misaligned) = %zd (%s), want 32 "
	       "(LAST)", r, r < 0 ? strerror(errno) : "bytes");
	if (r == 32) {
		struct ummunotify_event e;

		memcpy(&e, buf + 3, sizeof(e));
		EXPECT_LAST(&e, 3);
	}
}

static void mremap_shrink_reports_tail(void)
{
	int fd = um_open(O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(4);
	struct ummunotify_event ev[8];
	int64_t last;
	void *r;
	int n;

	REG(fd, P(0), P(4), C1, 0);
	r = mremap(base, 4 * pg(), 2 * pg(), 0);
	ASSERT(r == base, "mremap(shrink 4 -> 2 pages) = %p: %s", r,
	       strerror(errno));
	EXPECT(um_counter(c) == 1, "counter = %" PRIu64 ", want 1",
	       um_counter(c));
	n = um_drain(fd, ev, 8, &last);
	ASSERT(n == 1, "%d INVAL events, want 1", n);
	EXPECT_INVAL(&ev[0], C1, UMMUNOTIFY_EVENT_FLAG_HINT, P(2), P(4));
	EXPECT(last == 1, "LAST counter %" PRId64, last);
}

static void mremap_move_reports_both_ends(void)
{
	int fd = um_open(O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(2);
	char *dst = map_pages(2);
	struct ummunotify_event ev[8];
	const struct ummunotify_event *e;
	uint64_t cnt;
	int64_t last;
	void *r;
	int n;

	touch_pages(base, 2);
	REG(fd, P(0), P(2), C1, 0);
	REG(fd, u64p(dst), u64p(dst) + 2 * pg(), C2, 0);
	r = mremap(base, 2 * pg(), 2 * pg(), MREMAP_MAYMOVE | MREMAP_FIXED,
		   dst);
	ASSERT(r == dst, "mremap(move to %p) = %p: %s", dst, r,
	       strerror(errno));
	EXPECT(dst[0] == 1 && dst[pg()] == 2, "data did not move");
	/*
	 * The kernel may invalidate the old range twice (moving the page
	 * tables, then unmapping the old VMA): at least one, coalesced.
	 */
	cnt = um_counter(c);
	EXPECT(cnt >= 1, "counter = %" PRIu64 ", want >= 1", cnt);
	n = um_drain(fd, ev, 8, &last);
	EXPECT(n == 2, "%d INVAL events, want 2 (old and new range)", n);
	e = find_cookie(ev, n, C1);
	EXPECT(e, "no event for the old range");
	if (e)
		EXPECT(e->flags == UMMUNOTIFY_EVENT_FLAG_HINT ||
		       e->flags == 0,
		       "old range: flags %#x", e->flags);
	if (e)
		EXPECT(e->hint_start == P(0) && e->hint_end == P(2),
		       "old range: %s", ev_str(e));
	e = find_cookie(ev, n, C2);
	EXPECT(e, "no event for the destination (mapped over)");
	if (e)
		EXPECT(e->hint_start == u64p(dst) &&
		       e->hint_end == u64p(dst) + 2 * pg() &&
		       (e->flags & ~UMMUNOTIFY_EVENT_FLAG_HINT) == 0,
		       "destination: %s", ev_str(e));
	EXPECT(last == (int64_t)cnt, "LAST counter %" PRId64 ", counter %"
	       PRIu64, last, cnt);
}

static void madvise_dontneed_reports_range(void)
{
	int fd = um_open(O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(4);
	struct ummunotify_event ev[8];
	int64_t last;
	int n;

	touch_pages(base, 4);
	REG(fd, P(0), P(4), C1, 0);
	ASSERT(madvise(base + pg(), 2 * pg(), MADV_DONTNEED) == 0,
	       "madvise(MADV_DONTNEED): %s", strerror(errno));
	EXPECT(base[pg()] == 0, "page not zeroed by MADV_DONTNEED");
	EXPECT(um_counter(c) == 1, "counter = %" PRIu64 ", want 1",
	       um_counter(c));
	n = um_drain(fd, ev, 8, &last);
	ASSERT(n == 1, "%d INVAL events, want 1", n);
	EXPECT_INVAL(&ev[0], C1, UMMUNOTIFY_EVENT_FLAG_HINT, P(1), P(3));
	EXPECT(last == 1, "LAST counter %" PRId64, last);
}

static void map_fixed_over_watched_range(void)
{
	int fd = um_open(O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(4);
	struct ummunotify_event ev[8];
	uint64_t cnt;
	int64_t last;
	void *r;
	int n;

	touch_pages(base, 4);
	REG(fd, P(1), P(3), C1, 0);
	r = mmap(base + pg(), 2 * pg(), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ASSERT(r == base + pg(), "mmap(MAP_FIXED over the range) = %p: %s",
	       r, strerror(errno));
	cnt = um_counter(c);
	EXPECT(cnt >= 1, "counter = %" PRIu64 ", want >= 1", cnt);
	n = um_drain(fd, ev, 8, &last);
	ASSERT(n == 1, "%d INVAL events, want 1", n);
	/* Hinted or coalesced, the range is the registration here. */
	EXPECT(ev[0].type == UMMUNOTIFY_EVENT_TYPE_INVAL &&
	       ev[0].user_cookie_counter == C1 &&
	       (ev[0].flags & ~UMMUNOTIFY_EVENT_FLAG_HINT) == 0 &&
	       ev[0].hint_start == P(1) && ev[0].hint_end == P(3),
	       "got %s", ev_str(&ev[0]));
	EXPECT(last == (int64_t)cnt, "LAST %" PRId64 ", counter %" PRIu64,
	       last, cnt);
}

static void mprotect_is_an_invalidation(void)
{
	int fd = um_open(O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(4);
	struct ummunotify_event ev[8];
	int64_t last;
	int n;

	/* The kernel only notifies for populated page tables. */
	touch_pages(base, 4);
	REG(fd, P(0), P(4), C1, 0);
	ASSERT(mprotect(base, 4 * pg(), PROT_READ) == 0, "mprotect: %s",
	       strerror(errno));
	EXPECT(um_counter(c) >= 1, "counter = %" PRIu64 ", want >= 1",
	       um_counter(c));
	n = um_drain(fd, ev, 8, &last);
	ASSERT(n == 1, "%d INVAL events, want 1", n);
	EXPECT(ev[0].user_cookie_counter == C1 &&
	       (ev[0].flags & ~UMMUNOTIFY_EVENT_FLAG_HINT) == 0 &&
	       ev[0].hint_start >= P(0) && ev[0].hint_end <= P(4) &&
	       ev[0].hint_start < ev[0].hint_end,
	       "got %s", ev_str(&ev[0]));
}

static void registration_outlives_mapping(void)
{
	int fd = um_open(O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(1);
	struct ummunotify_event ev[8];
	int64_t last;
	void *r;
	int n;

	REG(fd, P(0), P(1), C1, 0);
	unmap_ok(base, pg());
	n = um_drain(fd, ev, 8, &last);
	ASSERT(n == 1, "%d INVAL events, want 1", n);
	/* A new mapping at the same address is watched by the same cookie. */
	r = mmap(base, pg(), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (r == MAP_FAILED)
		SKIP("mmap(MAP_FIXED_NOREPLACE at %p): %s", base,
		     strerror(errno));
	unmap_ok(base, pg());
	EXPECT(um_counter(c) == 2, "counter = %" PRIu64 ", want 2",
	       um_counter(c));
	n = um_drain(fd, ev, 8, &last);
	ASSERT(n == 1, "%d INVAL events, want 1", n);
	EXPECT_INVAL(&ev[0], C1, UMMUNOTIFY_EVENT_FLAG_HINT, P(0), P(1));
	EXPECT(last == 2, "LAST %" PRId64, last);
}

static void files_are_independent(void)
{
	int a = um_open(O_NONBLOCK), b = um_open(O_NONBLOCK);
	const volatile uint64_t *ca = um_map_counter(a);
	const volatile uint64_t *cb = um_map_counter(b);
	char *base = map_pages(2);
	struct ummunotify_event ev[8];
	int64_t last;
	int n;

	/* The same cookie in two files is no duplicate. */
	REG(a, P(0), P(1), C1, 0);
	REG(b, P(1), P(2), C1, 0);
	unmap_ok(base, pg());
	EXPECT(um_counter(ca) == 1 && um_counter(cb) == 0,
	       "counters %" PRIu64 ", %" PRIu64 ", want 1, 0", um_counter(ca),
	       um_counter(cb));
	EXPECT_NOTHING(b, "file b after a hit in file a");
	n = um_drain(a, ev, 8, &last);
	ASSERT(n == 1, "file a: %d INVAL events", n);
	EXPECT_INVAL(&ev[0], C1, UMMUNOTIFY_EVENT_FLAG_HINT, P(0), P(1));
	close(a);
	unmap_ok(base + pg(), pg());
	EXPECT(um_counter(cb) == 1, "file b counter %" PRIu64, um_counter(cb));
	n = um_drain(b, ev, 8, &last);
	ASSERT(n == 1, "file b: %d INVAL events", n);
	EXPECT_INVAL(&ev[0], C1, UMMUNOTIFY_EVENT_FLAG_HINT, P(1), P(2));
}

static void counter_page_outlives_close(void)
{
	int fd = um_open(O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(1);

	REG(fd, P(0), P(1), C1, 0);
	unmap_ok(base, pg());
	close(fd);
	/* The mapping holds the file: the page is still there to read. */
	EXPECT(um_counter(c) == 1, "counter after close = %" PRIu64,
	       um_counter(c));
	unmap_ok((void *)c, pg());
}

int main(void)
{
	static const struct tap_case cases[] = {
		CASE(counter_starts_at_zero),
		CASE(munmap_one_event_then_last),
		CASE(inval_and_last_in_one_read),
		CASE(partial_unmap_reports_overlap),
		CASE(two_hits_before_read_report_whole_range),
		CASE(overlapping_and_identical_ranges),
		CASE(unregister_drops_pending_event),
		CASE(unrelated_unmaps_leave_counter),
		CASE(events_come_in_fifo_order),
		CASE(many_events_over_small_reads),
		CASE(byte_granular_ranges),
		CASE(read_returns_whole_events_only),
		CASE(mremap_shrink_reports_tail),
		CASE(mremap_move_reports_both_ends),
		CASE(madvise_dontneed_reports_range),
		CASE(map_fixed_over_watched_range),
		CASE(mprotect_is_an_invalidation),
		CASE(registration_outlives_mapping),
		CASE(files_are_independent),
		CASE(counter_page_outlives_close),
	};

	return tap_run(cases, N_CASES(cases), um_skip_reason());
}
