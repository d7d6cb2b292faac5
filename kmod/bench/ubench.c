// SPDX-License-Identifier: GPL-2.0
/*
 * ubench.c - what /dev/ummunotify costs the processes that use it.
 *
 *   ubench [full|smoke]      smoke: every measurement once, tiny counts
 *
 * Measurements (every figure is the median of many single-operation samples,
 * so that the noise of a shared, emulated machine hits the tails and not the
 * figure; p10/p90 and the mean are printed too):
 *  - cycle: mmap + touch + munmap of one page, no ummunotify file open: the
 *    baseline the register + unregister target is held against.
 *  - munmap of one page and of 2 MiB (every page touched first) with no file
 *    open, then with a file holding 0, 1000, 10000 and 100000 registrations
 *    that do not overlap it. The levels are visited up and then down again
 *    (registering, then unregistering), and both visits are pooled, so that a
 *    drift of the machine's speed during the run does not read as a trend.
 *    The 2010 driver walked every registration on every invalidation; an
 *    interval tree should keep this flat.
 *  - register + unregister of one range at the same levels (and each alone).
 *  - read() of N pending events (N = 1 ... 10000): N registered pages are
 *    unmapped at once, then read with a 256-event buffer until the LAST
 *    event; the time of the reads, per event.
 *
 * Output: one tab-separated record per measurement, for the report script:
 *   BENCH <name> <size> <regs> <samples> <median_ns> <p10_ns> <p90_ns> <mean_ns>
 * and "#" lines for the reader. Exits non-zero if any step fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/ummunotify.h>

#define DEV		"/dev/ummunotify"
#define MAX_LEVELS	4
#define READ_BUF	256
/* Cookies of the measured single registrations; far above the level cookies. */
#define PROBE_COOKIE	(1ULL << 40)

static long page;

struct cfg {
	int levels[MAX_LEVELS];
	int nlevels;
	int small_samples;	/* munmap of one page, cycles, register pairs */
	int big_samples;	/* munmap of 2 MiB */
	int read_counts[5];
	int nreads;
};

static const struct cfg full = {
	.levels = { 0, 1000, 10000, 100000 }, .nlevels = 4,
	.small_samples = 4000, .big_samples = 150,
	.read_counts = { 1, 10, 100, 1000, 10000 }, .nreads = 5,
};

static const struct cfg smoke = {
	.levels = { 0, 1000 }, .nlevels = 2,
	.small_samples = 20, .big_samples = 3,
	.read_counts = { 1, 100 }, .nreads = 2,
};

static void die(const char *what)
{
	fprintf(stderr, "ubench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts s[0..n) and prints its record. */
static void report(const char *name, long size, int regs, uint64_t *s, int n)
{
	double sum = 0;
	int i;

	qsort(s, n, sizeof(*s), cmp_u64);
	for (i = 0; i < n; i++)
		sum += (double)s[i];
	printf("BENCH\t%s\t%ld\t%d\t%d\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
	       "\t%.0f\n", name, size, regs, n, s[n / 2], s[n / 10],
	       s[n - 1 - n / 10], sum / n);
	fflush(stdout);
}

static void touch(char *p, long size)
{
	long off;

	for (off = 0; off < size; off += page)
		p[off] = 1;
}

static char *map_anon(void *hint, long size, int flags)
{
	char *p = mmap(hint, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

/* Times n munmaps of size bytes, each of a freshly mapped, touched range. */
static void sample_munmap(uint64_t *s, int n, long size)
{
	int i;

	for (i = 0; i < n; i++) {
		char *p = map_anon(NULL, size, 0);
		uint64_t t0;

		touch(p, size);
		t0 = now_ns();
		if (munmap(p, size))
			die("munmap");
		s[i] = now_ns() - t0;
	}
}

static void sample_cycle(uint64_t *s, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		char *p = map_anon(NULL, page, 0);

		p[0] = 1;
		if (munmap(p, page))
			die("munmap");
		s[i] = now_ns() - t0;
	}
}

static int reg(int fd, uint64_t start, uint64_t end, uint64_t cookie)
{
	struct ummunotify_register_ioctl r = {
		.start = start, .end = end, .user_cookie = cookie,
	};

	return ioctl(fd, UMMUNOTIFY_REGISTER_REGION, &r);
}

static int unreg(int fd, uint64_t cookie)
{
	return ioctl(fd, UMMUNOTIFY_UNREGISTER_REGION, &cookie);
}

/*
 * Register + unregister of one range of a page that stays mapped, timed as
 * pairs (s) and each half alone (r, u).
 */
static void sample_pairs(int fd, char *target, uint64_t *s, uint64_t *r,
			 uint64_t *u, int n)
{
	uint64_t a = (uint64_t)(uintptr_t)target;
	int i;

	for (i = 0; i < n; i++) {
		uint64_t t0 = now_ns(), t1, t2;

		if (reg(fd, a, a + page, PROBE_COOKIE + i))
			die("register (pair)");
		t1 = now_ns();
		if (unreg(fd, PROBE_COOKIE + i))
			die("unregister (pair)");
		t2 = now_ns();
		s[i] = t2 - t0;
		r[i] = t1 - t0;
		u[i] = t2 - t1;
	}
}

/* Grows or shrinks the file's level registrations (cookies 1..level). */
static void set_level(int fd, char *area, int *cur, int want)
{
	while (*cur < want) {
		uint64_t a = (uint64_t)(uintptr_t)area + (uint64_t)*cur * page;

		if (reg(fd, a, a + page, (uint64_t)*cur + 1))
			die("register (level)");
		(*cur)++;
	}
	while (*cur > want) {
		if (unreg(fd, (uint64_t)*cur))
			die("unregister (level)");
		(*cur)--;
	}
}

/* n = 2 * samples per level: the up and the down visit pooled. */
struct level_samples {
	uint64_t *small, *big, *pair, *reg, *unreg;
	int nsmall, nbig, npair;
};

static void bench_levels(const struct cfg *c)
{
	struct level_samples ls[MAX_LEVELS];
	int top = c->levels[c->nlevels - 1], cur = 0, pass, i, fd;
	char *area, *target;
	uint64_t *s;

	/*
	 * The registrations cover pages of a reserved, never touched
	 * PROT_NONE area: address space only, and nothing the measured
	 * munmaps can overlap.
	 */
	area = mmap(NULL, (long)(top ? top : 1) * page, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (area == MAP_FAILED)
		die("mmap (reserved area)");
	target = map_anon(NULL, page, 0);
	target[0] = 1;

	s = malloc(c->small_samples * sizeof(*s));
	if (!s)
		die("malloc");
	/* Baselines with no file open: the mm has no notifier at all. */
	sample_cycle(s, c->small_samples);
	report("cycle_nofile", page, -1, s, c->small_samples);
	sample_munmap(s, c->small_samples, page);
	report("munmap_nofile", page, -1, s, c->small_samples);
	sample_munmap(s, c->big_samples, 2L << 20);
	report("munmap_nofile", 2L << 20, -1, s, c->big_samples);
	free(s);

	fd = open(DEV, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open " DEV);

	for (i = 0; i < c->nlevels; i++) {
		ls[i].small = malloc(2 * c->small_samples * sizeof(uint64_t));
		ls[i].big = malloc(2 * c->big_samples * sizeof(uint64_t));
		ls[i].pair = malloc(2 * c->small_samples * sizeof(uint64_t));
		ls[i].reg = malloc(2 * c->small_samples * sizeof(uint64_t));
		ls[i].unreg = malloc(2 * c->small_samples * sizeof(uint64_t));
		if (!ls[i].small || !ls[i].big || !ls[i].pair || !ls[i].reg ||
		    !ls[i].unreg)
			die("malloc");
		ls[i].nsmall = ls[i].nbig = ls[i].npair = 0;
	}

	for (pass = 0; pass < 2; pass++) {
		int k;

		for (k = 0; k < c->nlevels; k++) {
			int li = pass == 0 ? k : c->nlevels - 1 - k;
			struct level_samples *l = &ls[li];
			uint64_t t0 = now_ns();

			if (pass == 1 && li == c->nlevels - 1)
				continue;	/* the top is visited once */
			set_level(fd, area, &cur, c->levels[li]);
			printf("# %s to %d registrations: %.1f ms\n",
			       pass ? "unregistered down" : "registered up",
			       cur, (now_ns() - t0) / 1e6);
			sample_munmap(l->small + l->nsmall, c->small_samples,
				      page);
			l->nsmall += c->small_samples;
			sample_munmap(l->big + l->nbig, c->big_samples,
				      2L << 20);
			l->nbig += c->big_samples;
			if (pass == 0 && li == 0) {
				/* the cycle once more, with the notifier attached */
				sample_cycle(l->pair, c->small_samples);
				report("cycle_file", page, 0, l->pair,
				       c->small_samples);
			}
			sample_pairs(fd, target, l->pair + l->npair,
				     l->reg + l->npair, l->unreg + l->npair,
				     c->small_samples);
			l->npair += c->small_samples;
		}
	}
	set_level(fd, area, &cur, 0);

	for (i = 0; i < c->nlevels; i++) {
		report("munmap", page, c->levels[i], ls[i].small, ls[i].nsmall);
		report("munmap", 2L << 20, c->levels[i], ls[i].big, ls[i].nbig);
		report("regpair", page, c->levels[i], ls[i].pair, ls[i].npair);
		report("register", page, c->levels[i], ls[i].reg, ls[i].npair);
		report("unregister", page, c->levels[i], ls[i].unreg,
		       ls[i].npair);
		free(ls[i].reg);
		free(ls[i].unreg);
		free(ls[i].small);
		free(ls[i].big);
		free(ls[i].pair);
	}
	close(fd);
	munmap(area, (long)(top ? top : 1) * page);
	munmap(target, page);
}

/*
 * read() of n pending events: n registered pages unmapped at once queue n
 * INVAL events; the reads until LAST are timed. The pages are mapped again
 * at the same place for the next repetition (the registrations stay).
 */
static void bench_read(int n, int reps)
{
	struct ummunotify_event ev[READ_BUF];
	uint64_t *s = malloc(reps * sizeof(*s));
	uint64_t *per = malloc(reps * sizeof(*per));
	long size = (long)n * page;
	char *p;
	int fd, i, r;

	if (!s || !per)
		die("malloc");
	fd = open(DEV, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		die("open " DEV);
	p = map_anon(NULL, size, 0);
	for (i = 0; i < n; i++) {
		uint64_t a = (uint64_t)(uintptr_t)p + (uint64_t)i * page;

		if (reg(fd, a, a + page, (uint64_t)i + 1))
			die("register (read)");
	}
	for (r = 0; r < reps; r++) {
		int got = 0, last = 0;
		uint64_t t0;

		if (r)
			p = map_anon(p, size, MAP_FIXED_NOREPLACE);
		touch(p, size);
		if (munmap(p, size))
			die("munmap (read)");
		t0 = now_ns();
		while (!last) {
			ssize_t len = read(fd, ev, sizeof(ev));
			int k;

			if (len < 0)
				die("read");
			for (k = 0; k < len / (ssize_t)sizeof(ev[0]); k++) {
				if (ev[k].type == UMMUNOTIFY_EVENT_TYPE_LAST)
					last = 1;
				else
					got++;
			}
		}
		s[r] = now_ns() - t0;
		per[r] = s[r] / n;
		if (got != n) {
			fprintf(stderr,
				"ubench: read: %d events for %d unmapped registrations\n",
				got, n);
			exit(1);
		}
	}
	report("read_all", n, n, s, reps);
	report("read_per_event", n, n, per, reps);
	close(fd);
	free(s);
	free(per);
}

int main(int argc, char **argv)
{
	const struct cfg *c = &full;
	int i;

	if (argc > 1 && !strcmp(argv[1], "smoke")) {
		c = &smoke;
	} else if (argc > 1 && strcmp(argv[1], "full")) {
		fprintf(stderr, "usage: ubench [full|smoke]\n");
		return 2;
	}
	page = sysconf(_SC_PAGESIZE);
	printf("# ubench %s: page %ld\n", c == &full ? "full" : "smoke", page);
	bench_levels(c);
	for (i = 0; i < c->nreads; i++) {
		int n = c->read_counts[i];
		int reps = c == &smoke ? 2 : (n >= 1000 ? 10 : 200);

		bench_read(n, reps);
	}
	printf("# ubench done\n");
	return 0;
}
