// SPDX-License-Identifier: Apache-2.0
/*
 * This machine's floor for the munmap -> listener path: the same chain of
 * thread wake-ups with no ummu in it.
 *
 * ummu's userfaultfd path is: the unmapping thread queues an event and blocks;
 * the reader thread is woken, reads (which lets the unmapping thread go) and
 * signals an eventfd; the dispatcher thread is woken and calls the listener.
 * Here three plain threads do the same with eventfds (or futexes):
 *
 *   U: t0 = now; write(go); read(ack)   -> tU = now        (the "munmap call")
 *   R: read(go) -> t1 = now; write(ack); write(relay)
 *   D: read(relay) -> t2 = now                              (the "listener")
 *
 * and it prints p50/p99/p99.9 of t1 - t0 (one wake-up), t2 - t0 (two
 * wake-ups in a row) and tU - t0 (a wake-up there and back). Between
 * samples U sleeps GAP_US (UnmapLatency maps and watches the next page in
 * between, ~100-300 us), so R and D are asleep, their CPUs possibly idle,
 * as they are when a real unmap comes.
 *
 *   wakeup_floor [eventfd|futex|parallel] [SAMPLES] [GAP_US]
 *
 * parallel (eventfds): D also polls U's eventfd, so U's post wakes R and D
 * together (as a dispatcher that polled the userfaultfd beside the reader
 * would be); D then still waits for R's relay. "D woken by U" is when it
 * woke, "two wake-ups" when it had R's relay.
 *
 * CLOCK_MONOTONIC is the clock System.nanoTime() reads on Linux, so the
 * figures compare with UnmapLatency's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int use_futex, parallel;
static int go_fd, ack_fd, relay_fd, done_fd;
static uint32_t go_w, ack_w, relay_w;	/* futex words: sample numbers */
static volatile int64_t t1, t2, t2w;
static int samples, warmup = 200;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void post(int fd, uint32_t *w, uint32_t v)
{
	uint64_t one = 1;

	if (use_futex && w) {
		__atomic_store_n(w, v, __ATOMIC_RELEASE);
		syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	} else if (write(fd, &one, sizeof(one)) != sizeof(one)) {
		perror("write");
		exit(1);
	}
}

/* Waits for post(v); a futex waiter sleeps while the word is still v - 1. */
static void take(int fd, uint32_t *w, uint32_t v)
{
	uint64_t x;

	if (use_futex && w) {
		while (__atomic_load_n(w, __ATOMIC_ACQUIRE) != v)
			syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, v - 1, NULL,
				NULL, 0);
	} else if (read(fd, &x, sizeof(x)) != sizeof(x)) {
		perror("read");
		exit(1);
	}
}

static void *reader(void *arg)
{
	uint32_t i;

	(void)arg;
	for (i = 1; i <= (uint32_t)(samples + warmup); i++) {
		take(go_fd, &go_w, i);
		t1 = now_ns();
		post(ack_fd, &ack_w, i);
		post(relay_fd, &relay_w, i);
	}
	return NULL;
}

static void *dispatcher(void *arg)
{
	uint32_t i;

	(void)arg;
	for (i = 1; i <= (uint32_t)(samples + warmup); i++) {
		if (parallel) {
			struct pollfd p[2] = {
				{ .fd = go_fd, .events = POLLIN },
				{ .fd = relay_fd, .events = POLLIN },
			};

			/*
			 * Woken by U's post together with R, not by R; if R
			 * took the count before this thread looked, poll()
			 * sleeps on until R's relay (one wake-up after another).
			 */
			while (poll(p, 2, -1) < 1)
				;
			t2w = now_ns();
		}
		take(relay_fd, &relay_w, i);
		t2 = now_ns();
		post(done_fd, NULL, 0);	/* U waits for it, untimed */
	}
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void show(const char *what, int64_t *v, int n)
{
	qsort(v, n, sizeof(*v), cmp);
#define PCT(p) (v[(int)((p) / 100.0 * n + 0.999999) - 1 < 0 ? 0 : \
		  (int)((p) / 100.0 * n + 0.999999) - 1] / 1000.0)
	printf("%-34s p50 %7.1f us  p90 %7.1f us  p99 %7.1f us  p99.9 %7.1f us  max %7.1f us\n",
	       what, PCT(50), PCT(90), PCT(99), PCT(99.9), v[n - 1] / 1000.0);
}

int main(int argc, char **argv)
{
	struct timespec gap = { 0, 200 * 1000 };
	pthread_t r, d;
	int64_t *one, *two, *back, *woke;
	int i;

	use_futex = argc > 1 && !strcmp(argv[1], "futex");
	parallel = argc > 1 && !strcmp(argv[1], "parallel");
	if (argc > 1 && !use_futex && !parallel && strcmp(argv[1], "eventfd")) {
		fprintf(stderr, "usage: wakeup_floor [eventfd|futex|parallel] [SAMPLES] [GAP_US]\n");
		return 2;
	}
	samples = argc > 2 ? atoi(argv[2]) : 10000;
	if (argc > 3)
		gap.tv_nsec = atol(argv[3]) * 1000;
	if (samples < 1 || gap.tv_nsec < 0 || gap.tv_nsec >= 1000000000) {
		fprintf(stderr, "wakeup_floor: bad SAMPLES or GAP_US\n");
		return 2;
	}
	go_fd = eventfd(0, EFD_CLOEXEC);
	ack_fd = eventfd(0, EFD_CLOEXEC);
	relay_fd = eventfd(0, EFD_CLOEXEC);
	done_fd = eventfd(0, EFD_CLOEXEC);
	one = calloc(samples, sizeof(*one));
	two = calloc(samples, sizeof(*two));
	back = calloc(samples, sizeof(*back));
	woke = calloc(samples, sizeof(*woke));
	if (go_fd < 0 || ack_fd < 0 || relay_fd < 0 || done_fd < 0 || !one || !two || !back) {
		perror("wakeup_floor: setup");
		return 1;
	}
	pthread_create(&r, NULL, reader, NULL);
	pthread_create(&d, NULL, dispatcher, NULL);
	for (i = -warmup; i < samples; i++) {
		uint32_t k = (uint32_t)(i + warmup + 1);
		int64_t t0, tu;

		nanosleep(&gap, NULL);
		t1 = 0;
		t2 = 0;
		t0 = now_ns();
		post(go_fd, &go_w, k);
		take(ack_fd, &ack_w, k);
		tu = now_ns();
		/* Wait (untimed, asleep: no timer wake-ups) for D. */
		take(done_fd, NULL, 0);
		if (i >= 0) {
			one[i] = t1 - t0;
			two[i] = t2 - t0;
			back[i] = tu - t0;
			woke[i] = t2w - t0;
		}
	}
	pthread_join(r, NULL);
	pthread_join(d, NULL);
	printf("wakeup_floor %s, %d samples, %ld us apart, 2 helper threads:\n",
	       use_futex ? "futex" : parallel ? "parallel" : "eventfd",
	       samples, gap.tv_nsec / 1000);
	show("one wake-up (U -> R)", one, samples);
	show("two wake-ups (U -> R -> D)", two, samples);
	show("there and back (U -> R -> U)", back, samples);
	if (parallel)
		show("D woken by U (beside R)", woke, samples);
	return 0;
}
