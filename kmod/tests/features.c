// SPDX-License-Identifier: GPL-2.0
/*
 * features.c - UMMUNOTIFY_EXCHANGE_FEATURES and what it turns on: the
 * event cause bits and the per-registration cause filter. Also that a file
 * which never asks behaves as in 2010 (flags are HINT or nothing).
 */
#define _GNU_SOURCE
#include "um.h"

#define C1 0x1111000000000001ULL
#define C2 0x2222000000000002ULL
#define P(i) ((uint64_t)(uintptr_t)(base + (i) * pg()))

#define HINT UMMUNOTIFY_EVENT_FLAG_HINT
#define CAUSE(c) UMMUNOTIFY_EVENT_FLAG_CAUSE(UMMUNOTIFY_CAUSE_##c)
#define IGNORE(c) (1U << UMMUNOTIFY_CAUSE_##c)

static void exchange_returns_supported_subset(void)
{
	static const uint32_t asks[] = {
		0, UMMUNOTIFY_FEATURE_EVENT_CAUSE,
		UMMUNOTIFY_FEATURE_CAUSE_FILTER, UM_ALL_FEATURES,
		UMMUNOTIFY_FEATURE_EVENT_CAUSE | 0x80000000U, 0xffffffffU,
		0xfffffffcU,
	};
	unsigned int i;

	for (i = 0; i < sizeof(asks) / sizeof(asks[0]); i++) {
		uint32_t f = asks[i];
		int fd = um_open(0), r;

		r = um_exchange(fd, &f);
		EXPECT(r == 0, "EXCHANGE_FEATURES(%#x): %s", asks[i],
		       strerror(-r));
		/* Never more than asked; all that this header defines. */
		EXPECT(r || f == (asks[i] & UM_ALL_FEATURES),
		       "EXCHANGE_FEATURES(%#x) answered %#x, want %#x",
		       asks[i], f, asks[i] & UM_ALL_FEATURES);
		close(fd);
	}
}

static void exchange_only_before_use(void)
{
	char *base = map_pages(1);
	uint32_t f;
	int fd;

	/* A second exchange, even of nothing. */
	fd = um_open(0);
	f = 0;
	ASSERT(um_exchange(fd, &f) == 0, "first exchange");
	f = UM_ALL_FEATURES;
	EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_EXCHANGE_FEATURES, &f), EINVAL,
		     "second EXCHANGE_FEATURES");
	/* ... and the first answer (nothing) stays in force. */
	EXPECT(um_register(fd, P(0), P(1), C1, IGNORE(CLEAR)) == -EINVAL,
	       "filter flags accepted after exchanging 0");
	close(fd);

	/* After a registration, even one since removed. */
	fd = um_open(0);
	REG(fd, P(0), P(1), C1, 0);
	UNREG(fd, C1);
	f = UM_ALL_FEATURES;
	EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_EXCHANGE_FEATURES, &f), EINVAL,
		     "EXCHANGE_FEATURES after register/unregister");
	close(fd);

	/* After mapping the counter. */
	fd = um_open(0);
	um_map_counter(fd);
	f = UM_ALL_FEATURES;
	EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_EXCHANGE_FEATURES, &f), EINVAL,
		     "EXCHANGE_FEATURES after mmap");
	close(fd);

	/* After a successful read. */
	fd = um_open(O_NONBLOCK);
	REG(fd, P(0), P(1), C1, 0);
	{
		struct ummunotify_event ev[4];
		int64_t last;

		unmap_ok(base, pg());
		ASSERT(um_drain(fd, ev, 4, &last) == 1, "drain");
	}
	f = UM_ALL_FEATURES;
	EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_EXCHANGE_FEATURES, &f), EINVAL,
		     "EXCHANGE_FEATURES after read");
	close(fd);
}

static void without_feature_flags_are_hint_only(void)
{
	int fd = um_open(O_NONBLOCK);
	char *base = map_pages(4);
	struct ummunotify_event ev[4];
	int64_t last;
	int n;

	touch_pages(base, 4);
	REG(fd, P(0), P(1), C1, 0);
	REG(fd, P(1), P(4), C2, 0);
	ASSERT(madvise(base, pg(), MADV_DONTNEED) == 0, "madvise");
	unmap_ok(base + pg(), pg());
	ASSERT(mprotect(base + 2 * pg(), 2 * pg(), PROT_READ) == 0,
	       "mprotect");
	n = um_drain(fd, ev, 4, &last);
	ASSERT(n == 2, "%d INVAL events, want 2", n);
	EXPECT_INVAL(&ev[0], C1, HINT, P(0), P(1));
	/* munmap then mprotect: coalesced, no cause bits, 2010 style. */
	EXPECT_INVAL(&ev[1], C2, 0, P(1), P(4));
}

static void cause_munmap_is_unmap(void)
{
	int fd = um_open_features(UMMUNOTIFY_FEATURE_EVENT_CAUSE, NULL,
				  O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(2);
	struct ummunotify_event ev[4];
	int64_t last;
	int n;

	REG(fd, P(0), P(2), C1, 0);
	unmap_ok(base, pg());
	EXPECT(um_counter(c) == 1, "counter %" PRIu64, um_counter(c));
	n = um_drain(fd, ev, 4, &last);
	ASSERT(n == 1, "%d INVAL events", n);
	EXPECT_INVAL(&ev[0], C1, HINT | CAUSE(UNMAP), P(0), P(1));
	EXPECT(last == 1, "LAST %" PRId64, last);
}

static void cause_madvise_dontneed_is_clear(void)
{
	int fd = um_open_features(UMMUNOTIFY_FEATURE_EVENT_CAUSE, NULL,
				  O_NONBLOCK);
	char *base = map_pages(2);
	struct ummunotify_event ev[4];
	int64_t last;
	int n;

	touch_pages(base, 2);
	REG(fd, P(0), P(2), C1, 0);
	ASSERT(madvise(base + pg(), pg(), MADV_DONTNEED) == 0, "madvise: %s",
	       strerror(errno));
	n = um_drain(fd, ev, 4, &last);
	ASSERT(n == 1, "%d INVAL events", n);
	EXPECT_INVAL(&ev[0], C1, HINT | CAUSE(CLEAR), P(1), P(2));
}

static void cause_mprotect_is_protection_vma(void)
{
	int fd = um_open_features(UMMUNOTIFY_FEATURE_EVENT_CAUSE, NULL,
				  O_NONBLOCK);
	char *base = map_pages(2);
	struct ummunotify_event ev[4];
	int64_t last;
	int n;

	touch_pages(base, 2);
	REG(fd, P(0), P(2), C1, 0);
	ASSERT(mprotect(base, 2 * pg(), PROT_READ) == 0, "mprotect: %s",
	       strerror(errno));
	n = um_drain(fd, ev, 4, &last);
	ASSERT(n == 1, "%d INVAL events", n);
	EXPECT(ev[0].user_cookie_counter == C1 &&
	       (ev[0].flags & UMMUNOTIFY_EVENT_CAUSE_MASK) ==
	       CAUSE(PROTECTION_VMA), "got %s, want cause PROTECTION_VMA "
	       "(%#x) only", ev_str(&ev[0]), CAUSE(PROTECTION_VMA));
	EXPECT((ev[0].flags & ~(UMMUNOTIFY_EVENT_CAUSE_MASK | HINT)) == 0,
	       "undefined flag bits: %s", ev_str(&ev[0]));
}

static void coalesced_causes_or_together(void)
{
	int fd = um_open_features(UMMUNOTIFY_FEATURE_EVENT_CAUSE, NULL,
				  O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(4);
	struct ummunotify_event ev[4];
	int64_t last;
	int n;

	touch_pages(base, 4);
	REG(fd, P(0), P(4), C1, 0);
	unmap_ok(base, pg());
	ASSERT(madvise(base + 2 * pg(), pg(), MADV_DONTNEED) == 0, "madvise");
	EXPECT(um_counter(c) == 2, "counter %" PRIu64, um_counter(c));
	n = um_drain(fd, ev, 4, &last);
	ASSERT(n == 1, "%d INVAL events", n);
	EXPECT_INVAL(&ev[0], C1, CAUSE(UNMAP) | CAUSE(CLEAR), P(0), P(4));
	EXPECT(last == 2, "LAST %" PRId64, last);

	/* Reading resets the set: the next event has the new cause only. */
	ASSERT(mprotect(base + 3 * pg(), pg(), PROT_READ) == 0, "mprotect");
	unmap_ok(base + pg(), pg());
	n = um_drain(fd, ev, 4, &last);
	ASSERT(n == 1, "%d INVAL events", n);
	EXPECT_INVAL(&ev[0], C1, CAUSE(UNMAP) | CAUSE(PROTECTION_VMA), P(0),
		     P(4));
}

static void cause_of_map_fixed_and_mremap_is_unmap(void)
{
	int fd = um_open_features(UMMUNOTIFY_FEATURE_EVENT_CAUSE, NULL,
				  O_NONBLOCK);
	char *base = map_pages(4);
	char *dst = map_pages(1);
	struct ummunotify_event ev[4];
	int64_t last;
	void *r;
	int n, i;

	touch_pages(base, 4);
	REG(fd, P(0), P(1), C1, 0);
	REG(fd, P(3), P(4), C2, 0);
	r = mmap(base, pg(), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_FIXED, -1, 0);
	ASSERT(r == base, "mmap(MAP_FIXED): %s", strerror(errno));
	r = mremap(base + 3 * pg(), pg(), pg(), MREMAP_MAYMOVE | MREMAP_FIXED,
		   dst);
	ASSERT(r == dst, "mremap(move): %s", strerror(errno));
	n = um_drain(fd, ev, 4, &last);
	ASSERT(n == 2, "%d INVAL events", n);
	for (i = 0; i < n; i++)
		EXPECT((ev[i].flags & UMMUNOTIFY_EVENT_CAUSE_MASK) ==
		       CAUSE(UNMAP), "event %d: %s, want cause UNMAP only", i,
		       ev_str(&ev[i]));
}

static void filter_ignored_cause_neither_queues_nor_counts(void)
{
	uint32_t got;
	int fd = um_open_features(UM_ALL_FEATURES, &got, O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(4);
	struct ummunotify_event ev[4];
	int64_t last;
	int n;

	ASSERT(got == UM_ALL_FEATURES, "features %#x", got);
	touch_pages(base, 4);
	REG(fd, P(0), P(4), C1, IGNORE(CLEAR) | IGNORE(PROTECTION_VMA));
	ASSERT(madvise(base, pg(), MADV_DONTNEED) == 0, "madvise");
	ASSERT(mprotect(base + pg(), pg(), PROT_READ) == 0, "mprotect");
	EXPECT(um_counter(c) == 0, "counter %" PRIu64 " after ignored causes",
	       um_counter(c));
	EXPECT_NOTHING(fd, "ignored causes only");

	/* A cause not ignored still counts, with only that cause. */
	unmap_ok(base + 2 * pg(), pg());
	EXPECT(um_counter(c) == 1, "counter %" PRIu64, um_counter(c));
	n = um_drain(fd, ev, 4, &last);
	ASSERT(n == 1, "%d INVAL events", n);
	EXPECT_INVAL(&ev[0], C1, HINT | CAUSE(UNMAP), P(2), P(3));
	EXPECT(last == 1, "LAST %" PRId64, last);
}

static void filter_is_per_registration(void)
{
	int fd = um_open_features(UM_ALL_FEATURES, NULL, O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(2);
	struct ummunotify_event ev[4];
	int64_t last;
	int n;

	touch_pages(base, 2);
	REG(fd, P(0), P(2), C1, IGNORE(CLEAR));
	REG(fd, P(0), P(2), C2, 0);
	ASSERT(madvise(base, pg(), MADV_DONTNEED) == 0, "madvise");
	/* One invalidation, one registration that cares: one bump. */
	EXPECT(um_counter(c) == 1, "counter %" PRIu64, um_counter(c));
	n = um_drain(fd, ev, 4, &last);
	ASSERT(n == 1, "%d INVAL events", n);
	EXPECT_INVAL(&ev[0], C2, HINT | CAUSE(CLEAR), P(0), P(1));
}

static void filter_without_cause_feature(void)
{
	uint32_t got;
	int fd = um_open_features(UMMUNOTIFY_FEATURE_CAUSE_FILTER, &got,
				  O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(2);
	struct ummunotify_event ev[4];
	int64_t last;
	int n;

	ASSERT(got == UMMUNOTIFY_FEATURE_CAUSE_FILTER, "features %#x", got);
	touch_pages(base, 2);
	REG(fd, P(0), P(2), C1, IGNORE(CLEAR));
	ASSERT(madvise(base, pg(), MADV_DONTNEED) == 0, "madvise");
	EXPECT(um_counter(c) == 0, "counter %" PRIu64, um_counter(c));
	unmap_ok(base + pg(), pg());
	n = um_drain(fd, ev, 4, &last);
	ASSERT(n == 1, "%d INVAL events", n);
	/* The filter works, but no cause bits were asked for. */
	EXPECT_INVAL(&ev[0], C1, HINT, P(1), P(2));
}

static void filter_flags_validated(void)
{
	char *base = map_pages(1);
	int fd, bit;

	/* Flags are only allowed with the filter negotiated... */
	fd = um_open_features(UMMUNOTIFY_FEATURE_EVENT_CAUSE, NULL, 0);
	EXPECT(um_register(fd, P(0), P(1), C1, IGNORE(CLEAR)) == -EINVAL,
	       "flags without CAUSE_FILTER accepted");
	close(fd);

	/* ... and then only the bits of causes the header defines. */
	fd = um_open_features(UM_ALL_FEATURES, NULL, 0);
	for (bit = 0; bit < 32; bit++) {
		uint32_t defined = 0xffU | IGNORE(OTHER);
		int r = um_register(fd, P(0), P(1), C1 + bit, 1U << bit);

		if (defined & (1U << bit)) {
			EXPECT(r == 0, "flags bit %d (a cause): %s", bit,
			       strerror(-r));
			if (!r)
				UNREG(fd, C1 + bit);
		} else {
			EXPECT(r == -EINVAL, "flags bit %d (no cause): %s",
			       bit, r ? strerror(-r) : "accepted");
		}
	}
	EXPECT(um_register(fd, P(0), P(1), C2, 0xffU | IGNORE(OTHER)) == 0,
	       "flags = every cause refused");
	/* reserved stays reserved whatever was negotiated. */
	{
		struct ummunotify_register_ioctl r = {
			.start = P(0), .end = P(1), .user_cookie = 7,
			.reserved = 1,
		};

		EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_REGISTER_REGION, &r), EINVAL,
			     "reserved = 1 with every feature");
	}
}

int main(void)
{
	static const struct tap_case cases[] = {
		CASE(exchange_returns_supported_subset),
		CASE(exchange_only_before_use),
		CASE(without_feature_flags_are_hint_only),
		CASE(cause_munmap_is_unmap),
		CASE(cause_madvise_dontneed_is_clear),
		CASE(cause_mprotect_is_protection_vma),
		CASE(coalesced_causes_or_together),
		CASE(cause_of_map_fixed_and_mremap_is_unmap),
		CASE(filter_ignored_cause_neither_queues_nor_counts),
		CASE(filter_is_per_registration),
		CASE(filter_without_cause_feature),
		CASE(filter_flags_validated),
	};

	return tap_run(cases, N_CASES(cases), um_skip_reason());
}
