// SPDX-License-Identifier: GPL-2.0
/*
 * notify.c - how a reader learns that events are ready: poll, select,
 * epoll (level and edge triggered), O_NONBLOCK, a blocking read woken by an
 * unmap in another thread, signals interrupting it, and SIGIO via fasync.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>

#include "um.h"

#define C1 0x1111000000000001ULL
#define C2 0x2222000000000002ULL
#define P(i) ((uint64_t)(uintptr_t)(base + (i) * pg()))

static int poll_now(int fd, short events, short *revents)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r = poll(&p, 1, 0);

	*revents = p.revents;
	return r;
}

static void poll_reports_readable_until_drained(void)
{
	int fd = um_open(O_NONBLOCK);
	char *base = map_pages(2);
	struct ummunotify_event ev[1];
	short want = POLLIN | POLLRDNORM, re;
	short ask = POLLIN | POLLRDNORM | POLLOUT | POLLPRI;
	int r;

	REG(fd, P(0), P(2), C1, 0);
	r = poll_now(fd, ask, &re);
	EXPECT(r == 0, "poll before any hit = %d revents %#x", r, re);
	unmap_ok(base, pg());
	r = poll_now(fd, ask, &re);
	EXPECT(r == 1 && re == want, "poll after a hit = %d revents %#x, "
	       "want 1 POLLIN|POLLRDNORM (%#x)", r, re, want);
	ASSERT(um_read(fd, ev, 1) == 1, "read(INVAL)");
	/* The LAST is still to come: still readable. */
	r = poll_now(fd, ask, &re);
	EXPECT(r == 1 && re == want, "poll with the LAST pending = %d "
	       "revents %#x", r, re);
	ASSERT(um_read(fd, ev, 1) == 1, "read(LAST)");
	EXPECT(ev[0].type == UMMUNOTIFY_EVENT_TYPE_LAST, "got %s",
	       ev_str(&ev[0]));
	r = poll_now(fd, ask, &re);
	EXPECT(r == 0, "poll after the LAST = %d revents %#x", r, re);
}

static void select_reports_readable(void)
{
	int fd = um_open(O_NONBLOCK);
	char *base = map_pages(1);
	struct timeval tv = { 0, 0 };
	fd_set rd, wr;
	int r;

	REG(fd, P(0), P(1), C1, 0);
	FD_ZERO(&rd);
	FD_SET(fd, &rd);
	r = select(fd + 1, &rd, NULL, NULL, &tv);
	EXPECT(r == 0, "select before a hit = %d", r);
	unmap_ok(base, pg());
	FD_ZERO(&rd);
	FD_SET(fd, &rd);
	FD_ZERO(&wr);
	FD_SET(fd, &wr);
	tv.tv_sec = 0;
	r = select(fd + 1, &rd, &wr, NULL, &tv);
	EXPECT(r == 1 && FD_ISSET(fd, &rd) && !FD_ISSET(fd, &wr),
	       "select after a hit = %d (readable %d, writable %d)", r,
	       FD_ISSET(fd, &rd), FD_ISSET(fd, &wr));
}

static void epoll_level_and_edge(void)
{
	int fd = um_open(O_NONBLOCK);
	int lt = epoll_create1(EPOLL_CLOEXEC), et = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event e = { .events = EPOLLIN }, out[2];
	struct ummunotify_event ev[8];
	char *base = map_pages(2);
	int64_t last;
	int r;

	ASSERT(lt >= 0 && et >= 0, "epoll_create1: %s", strerror(errno));
	ASSERT(epoll_ctl(lt, EPOLL_CTL_ADD, fd, &e) == 0, "EPOLL_CTL_ADD: %s",
	       strerror(errno));
	e.events = EPOLLIN | EPOLLET;
	ASSERT(epoll_ctl(et, EPOLL_CTL_ADD, fd, &e) == 0,
	       "EPOLL_CTL_ADD(EPOLLET): %s", strerror(errno));
	REG(fd, P(0), P(1), C1, 0);
	REG(fd, P(1), P(2), C2, 0);
	EXPECT(epoll_wait(lt, out, 2, 0) == 0, "level: ready before a hit");
	EXPECT(epoll_wait(et, out, 2, 0) == 0, "edge: ready before a hit");

	unmap_ok(base, pg());
	r = epoll_wait(lt, out, 2, 0);
	EXPECT(r == 1 && (out[0].events & EPOLLIN), "level after a hit: %d "
	       "events %#x", r, r > 0 ? out[0].events : 0);
	r = epoll_wait(lt, out, 2, 0);
	EXPECT(r == 1, "level, asked again: %d (still readable)", r);
	r = epoll_wait(et, out, 2, 0);
	EXPECT(r == 1 && (out[0].events & EPOLLIN), "edge after a hit: %d",
	       r);
	EXPECT(epoll_wait(et, out, 2, 0) == 0, "edge reported twice");

	ASSERT(um_drain(fd, ev, 8, &last) == 1, "drain");
	EXPECT(epoll_wait(lt, out, 2, 0) == 0, "level: ready after drain");

	/* Drained to EAGAIN: the next hit must be a new edge. */
	unmap_ok(base + pg(), pg());
	r = epoll_wait(et, out, 2, 0);
	EXPECT(r == 1 && (out[0].events & EPOLLIN),
	       "edge after a hit on a drained file: %d", r);
}

static void nonblocking_read_says_eagain(void)
{
	int fd = um_open(0);
	struct ummunotify_event ev;
	int fl;

	fl = fcntl(fd, F_GETFL);
	ASSERT(fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0, "F_SETFL: %s",
	       strerror(errno));
	EXPECT_ERRNO(read(fd, &ev, sizeof(ev)), EAGAIN,
		     "read(fresh file, O_NONBLOCK by fcntl)");
	close(fd);
	fd = um_open(O_NONBLOCK);
	EXPECT_ERRNO(read(fd, &ev, sizeof(ev)), EAGAIN,
		     "read(fresh file opened O_NONBLOCK)");
	{
		char *base = map_pages(1);

		REG(fd, P(0), P(1), C1, 0);
		EXPECT_ERRNO(read(fd, &ev, sizeof(ev)), EAGAIN,
			     "read(registered, no hit)");
		UNREG(fd, C1);
	}
}

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* Waits (boundedly) until the thread sleeps in the kernel; best effort. */
static void wait_until_sleeping(pid_t tid)
{
	char path[64], buf[256];
	int i;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	for (i = 0; i < 2000; i++) {
		FILE *f = fopen(path, "r");
		char *p;
		size_t n;

		if (!f) {
			/* No /proc: give the thread time to get there. */
			usleep(200000);
			return;
		}
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2] == 'S')
			return;
		usleep(1000);
	}
	diag("thread %d never seen sleeping; testing anyway", tid);
}

struct reader {
	int fd;
	pid_t tid;
	volatile int started;
	int n, err;
	struct ummunotify_event ev[4];
};

static void *blocking_reader(void *arg)
{
	struct reader *r = arg;
	ssize_t n;

	r->tid = gettid_();
	__atomic_store_n(&r->started, 1, __ATOMIC_RELEASE);
	n = read(r->fd, r->ev, sizeof(r->ev));
	r->err = n < 0 ? errno : 0;
	r->n = n < 0 ? -1 : (int)(n / UM_EV_SIZE);
	return NULL;
}

static void start_reader(pthread_t *t, struct reader *r)
{
	int e = pthread_create(t, NULL, blocking_reader, r);

	ASSERT(e == 0, "pthread_create: %s", strerror(e));
	while (!__atomic_load_n(&r->started, __ATOMIC_ACQUIRE))
		usleep(1000);
	wait_until_sleeping(r->tid);
}

static void blocking_read_woken_by_unmap_in_other_thread(void)
{
	int fd = um_open(0);	/* blocking */
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(2);
	struct reader r = { .fd = fd };
	pthread_t t;

	REG(fd, P(0), P(2), C1, 0);
	start_reader(&t, &r);
	/* The reader sleeps in read(); this thread's munmap must wake it. */
	unmap_ok(base, 2 * pg());
	pthread_join(t, NULL);
	ASSERT(r.n == 2, "blocked read returned %d events (%s), want INVAL + "
	       "LAST", r.n, r.n < 0 ? strerror(r.err) : "ok");
	EXPECT_INVAL(&r.ev[0], C1, UMMUNOTIFY_EVENT_FLAG_HINT, P(0), P(2));
	EXPECT_LAST(&r.ev[1], 1);
	EXPECT(um_counter(c) == 1, "counter %" PRIu64, um_counter(c));
}

static void on_usr1(int sig)
{
	(void)sig;
}

static void blocking_read_interrupted_by_signal(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 };	/* no SA_RESTART */
	int fd = um_open(0);
	struct reader r = { .fd = fd };
	pthread_t t;

	sigemptyset(&sa.sa_mask);
	ASSERT(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
	start_reader(&t, &r);
	pthread_kill(t, SIGUSR1);
	pthread_join(t, NULL);
	EXPECT(r.n == -1 && r.err == EINTR,
	       "interrupted read: %d events, errno %s; want EINTR", r.n,
	       strerrorname_np_(r.err));
}

struct unmapper {
	void *p;
	size_t len;
	pid_t waiter;
};

static void *unmap_when_waiter_sleeps(void *arg)
{
	struct unmapper *u = arg;

	wait_until_sleeping(u->waiter);
	if (munmap(u->p, u->len))
		diag("munmap(%p) in the unmapper thread: %s", u->p,
		     strerror(errno));
	return NULL;
}

/* poll(-1) and epoll_wait(-1) sleep until another thread's unmap. */
static void blocking_poll_and_epoll_woken_by_unmap(void)
{
	int fd = um_open(O_NONBLOCK);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event e = { .events = EPOLLIN };
	struct ummunotify_event ev[4];
	char *base = map_pages(2);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct unmapper u = { base, pg(), gettid_() };
	int64_t last;
	pthread_t t;
	int r;

	ASSERT(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) == 0,
	       "epoll setup: %s", strerror(errno));
	REG(fd, P(0), P(1), C1, 0);
	REG(fd, P(1), P(2), C2, 0);

	ASSERT(pthread_create(&t, NULL, unmap_when_waiter_sleeps, &u) == 0,
	       "pthread_create");
	r = poll(&p, 1, -1);	/* a hang is caught by the case's alarm */
	pthread_join(t, NULL);
	EXPECT(r == 1 && (p.revents & POLLIN), "poll = %d revents %#x", r,
	       p.revents);
	ASSERT(um_drain(fd, ev, 4, &last) == 1, "drain after poll");

	u.p = base + pg();
	ASSERT(pthread_create(&t, NULL, unmap_when_waiter_sleeps, &u) == 0,
	       "pthread_create");
	r = epoll_wait(ep, &e, 1, -1);
	pthread_join(t, NULL);
	EXPECT(r == 1 && (e.events & EPOLLIN), "epoll_wait = %d events %#x",
	       r, e.events);
	ASSERT(um_drain(fd, ev, 4, &last) == 1, "drain after epoll_wait");
	EXPECT_INVAL(&ev[0], C2, UMMUNOTIFY_EVENT_FLAG_HINT, P(1), P(2));
}

static void sigio_via_fasync(void)
{
	int fd = um_open(O_NONBLOCK);
	char *base = map_pages(3);
	struct timespec ts = { 10, 0 };
	siginfo_t si;
	sigset_t set;
	int fl, sig;

	/* Blocked so that it can be waited for, not lost to a handler. */
	sigemptyset(&set);
	sigaddset(&set, SIGIO);
	sigaddset(&set, SIGRTMIN);
	ASSERT(sigprocmask(SIG_BLOCK, &set, NULL) == 0, "sigprocmask");

	REG(fd, P(0), P(1), C1, 0);
	REG(fd, P(1), P(2), C2, 0);
	ASSERT(fcntl(fd, F_SETOWN, getpid()) == 0, "F_SETOWN: %s",
	       strerror(errno));
	fl = fcntl(fd, F_GETFL);
	ASSERT(fcntl(fd, F_SETFL, fl | O_ASYNC) == 0, "F_SETFL(O_ASYNC): %s",
	       strerror(errno));

	/* Plain SIGIO. */
	unmap_ok(base, pg());
	sig = sigtimedwait(&set, &si, &ts);
	EXPECT(sig == SIGIO, "after a hit: sigtimedwait = %d (%s), want SIGIO",
	       sig, sig < 0 ? strerror(errno) : "signal");

	/* With F_SETSIG the siginfo says which fd and why. */
	{
		struct ummunotify_event ev[4];
		int64_t last;

		um_drain(fd, ev, 4, &last);
	}
	ASSERT(fcntl(fd, F_SETSIG, SIGRTMIN) == 0, "F_SETSIG: %s",
	       strerror(errno));
	unmap_ok(base + pg(), pg());
	memset(&si, 0, sizeof(si));
	sig = sigtimedwait(&set, &si, &ts);
	EXPECT(sig == SIGRTMIN, "F_SETSIG: got signal %d, want SIGRTMIN", sig);
	if (sig == SIGRTMIN)
		EXPECT(si.si_fd == fd && si.si_code == POLL_IN &&
		       (si.si_band & POLLIN),
		       "siginfo: fd %d code %d band %#lx, want fd %d POLL_IN",
		       si.si_fd, si.si_code, (long)si.si_band, fd);

	/* O_ASYNC off: no signal any more. */
	ASSERT(fcntl(fd, F_SETFL, fl) == 0, "F_SETFL(~O_ASYNC)");
	REG(fd, P(2), P(3), 3, 0);
	unmap_ok(base + 2 * pg(), pg());
	ts.tv_sec = 0;
	ts.tv_nsec = 0;
	sig = sigtimedwait(&set, &si, &ts);
	EXPECT(sig < 0 && errno == EAGAIN,
	       "signal %d delivered with O_ASYNC off", sig);
}

int main(void)
{
	static const struct tap_case cases[] = {
		CASE(poll_reports_readable_until_drained),
		CASE(select_reports_readable),
		CASE(epoll_level_and_edge),
		CASE(nonblocking_read_says_eagain),
		CASE_T(blocking_read_woken_by_unmap_in_other_thread, 30),
		CASE_T(blocking_read_interrupted_by_signal, 30),
		CASE_T(blocking_poll_and_epoll_woken_by_unmap, 30),
		CASE_T(sigio_via_fasync, 30),
	};

	return tap_run(cases, N_CASES(cases), um_skip_reason());
}
