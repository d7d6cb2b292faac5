// SPDX-License-Identifier: Apache-2.0
/*
 * munmap -> "listener" on the userfaultfd backend, taken apart step by step
 * with no JVM: the backend's sources compiled with -DUFFD_LATENCY_TRACE
 * (the reader thread time-stamps each step of the last event it handled)
 * and a waiter thread that does what the Java dispatcher does in native
 * code (epoll_wait on the backend's pollfd, then ops->read).
 *
 *   main:   t0; munmap(watched page); tm                 (the munmap call)
 *   reader: woken from poll(); read(2) returned (the unmapping thread is
 *           let go there); pollfd signalled; batch done
 *   waiter: epoll_wait returned; ops->read returned the record
 *
 * Every figure is "time since t0", CLOCK_MONOTONIC (System.nanoTime's
 * clock). Between samples the main thread maps and watches the next page
 * and sleeps GAP_US, as UnmapLatency's next sample comes ~100-300 us later.
 *
 *   uffd_path [SAMPLES] [GAP_US]       (make -C benchmarks/tools uffd_path)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#include <sched.h>

#include "ummu_backend.h"
#include "uffd_internal.h"

extern int64_t uffd_latency_trace[4];

static const struct ummu_backend_ops *ops = &ummu_userfaultfd_ops;
static struct ummu_backend *b;
static volatile uint64_t want;	/* cookie the waiter looks for */
static volatile int64_t t_woken, t_got;
static int done_fd;	/* the waiter tells main it has the record (untimed) */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *waiter(void *arg)
{
	struct ummunotify_event ev[16];
	struct epoll_event e = { .events = EPOLLIN }, out;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	ssize_t n, i;

	(void)arg;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ops->pollfd(b), &e)) {
		perror("uffd_path: epoll");
		exit(1);
	}
	for (;;) {
		int64_t w;

		if (epoll_wait(ep, &out, 1, -1) < 1)
			continue;
		w = now_ns();
		n = ops->read(b, ev, 16);
		for (i = 0; i < n; i++) {
			if (ev[i].type == UMMUNOTIFY_EVENT_TYPE_INVAL &&
			    ev[i].user_cookie_counter == want) {
				uint64_t one = 1;

				t_woken = w;
				t_got = now_ns();
				if (write(done_fd, &one, sizeof(one)) != sizeof(one))
					exit(1);
			}
		}
	}
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(const int64_t *v, int n, double p)
{
	int r = (int)(p / 100.0 * n + 0.999999) - 1;

	return v[r < 0 ? 0 : r] / 1000.0;
}

#define STEPS 7
static const char *const names[STEPS] = {
	"reader woken (poll returned)",
	"event read (read(2) returned)",
	"pollfd signalled (eventfd write)",
	"reader's batch done",
	"munmap returned",
	"waiter woken (epoll_wait returned)",
	"waiter has the record (ops->read)",
};

int main(int argc, char **argv)
{
	int samples = argc > 1 ? atoi(argv[1]) : 5000, warmup = 300, i, s;
	struct timespec gap = { 0, (argc > 2 ? atol(argv[2]) : 200) * 1000 };
	long pg = sysconf(_SC_PAGESIZE);
	char why[256] = "";
	int64_t *v[STEPS];
	pthread_t t;
	int r;

	if (samples < 1) {
		fprintf(stderr, "usage: uffd_path [SAMPLES] [GAP_US]\n");
		return 2;
	}
	r = ops->probe(why, sizeof(why));
	if (!r)
		r = ops->open(&b, why, sizeof(why));
	if (r) {
		printf("uffd_path: userfaultfd backend unavailable: %s (%s)\n",
		       strerror(-r), why);
		return 0;
	}
	for (s = 0; s < STEPS; s++)
		v[s] = calloc(samples, sizeof(int64_t));
	done_fd = eventfd(0, EFD_CLOEXEC);
	if (done_fd < 0)
		return perror("eventfd"), 1;
	pthread_create(&t, NULL, waiter, NULL);
	for (i = -warmup; i < samples; i++) {
		uint64_t ck = (uint64_t)(i + warmup + 1);
		char *p = mmap(NULL, pg, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int64_t t0, tm, d;

		if (p == MAP_FAILED)
			return perror("mmap"), 1;
		p[0] = 1;
		r = ops->watch(b, (uintptr_t)p, (uintptr_t)p + pg, ck, why,
			       sizeof(why));
		if (r) {
			fprintf(stderr, "watch: %s %s\n", strerror(-r), why);
			return 1;
		}
		nanosleep(&gap, NULL);
		t_got = 0;
		want = ck;
		memset(uffd_latency_trace, 0, sizeof(uffd_latency_trace));
		t0 = now_ns();
		munmap(p, pg);
		tm = now_ns();
		/* Asleep until the waiter has it: no timer wake-ups meanwhile. */
		d = poll(&(struct pollfd){ .fd = done_fd, .events = POLLIN }, 1, 5000);
		if (d != 1 || read(done_fd, &d, sizeof(d)) != sizeof(d) || !t_got) {
			fprintf(stderr, "sample %d: no record in 5 s\n", i);
			return 1;
		}
		/* The reader may not be quite done when the waiter has it. */
		while (!__atomic_load_n(&uffd_latency_trace[3], __ATOMIC_ACQUIRE))
			sched_yield();
		if (i >= 0) {
			for (s = 0; s < 4; s++)
				v[s][i] = uffd_latency_trace[s] - t0;
			v[4][i] = tm - t0;
			v[5][i] = t_woken - t0;
			v[6][i] = t_got - t0;
		}
		ops->unwatch(b, ck);
	}
	{
		struct uffd_stats st;

		uffd_backend_stats(b, &st);
		printf("uffd_path: the reader read %llu events (%llu hit no watch)\n",
		       st.batches, st.idle_batches);
	}
	printf("uffd_path: %d samples, %ld us apart; time since munmap() was called:\n",
	       samples, gap.tv_nsec / 1000);
	for (s = 0; s < STEPS; s++) {
		qsort(v[s], samples, sizeof(int64_t), cmp);
		printf("  %-36s p50 %7.1f  p90 %7.1f  p99 %7.1f  p99.9 %7.1f us\n",
		       names[s], pct(v[s], samples, 50), pct(v[s], samples, 90),
		       pct(v[s], samples, 99), pct(v[s], samples, 99.9));
	}
	return 0;
}
