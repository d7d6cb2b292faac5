// SPDX-License-Identifier: GPL-2.0
/*
 * errors.c - every documented error: bad pointers (EFAULT), bad arguments
 * (EINVAL), unknown ioctls (ENOTTY), short reads, writable opens, refused
 * mappings, the per-file limit (ENOSPC), and a forked child's use of its
 * parent's file (EPERM). After each error the file must still work and no
 * event may have been lost.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "um.h"

#define C1 0x1111000000000001ULL
#define C2 0x2222000000000002ULL
#define P(i) ((uint64_t)(uintptr_t)(base + (i) * pg()))

/*
 * Holes are made last, after every other mapping of the case, so that no
 * later mmap() can fill them; mincore() confirms they are still holes.
 */
static void make_hole(char *p)
{
	unsigned char v;

	unmap_ok(p, pg());
	ASSERT(mincore(p, pg(), &v) == -1 && errno == ENOMEM,
	       "test bug: %p is not a hole", p);
}
static char *readonly_page(void)
{
	char *p = map_pages(1);

	ASSERT(mprotect(p, pg(), PROT_READ) == 0, "mprotect");
	return p;
}

static void ioctl_bad_pointers_efault(void)
{
	int fd = um_open(O_NONBLOCK);
	char *base = map_pages(1), *hole = map_pages(1), *edge = map_pages(2);
	char *ro = readonly_page(), *none = map_pages(1);
	struct ummunotify_register_ioctl *straddle;
	uint64_t *cookie_straddle;
	uint32_t f;

	ASSERT(mprotect(none, pg(), PROT_NONE) == 0, "mprotect(PROT_NONE)");
	/* The struct's last 16 bytes fall into the hole. */
	straddle = (void *)(edge + pg() - 16);
	memset(edge + pg() - 16, 0, 16);
	cookie_straddle = (void *)(edge + pg() - 4);
	make_hole(hole);
	make_hole(edge + pg());

	EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_REGISTER_REGION, NULL), EFAULT,
		     "REGISTER_REGION(NULL)");
	EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_REGISTER_REGION, hole), EFAULT,
		     "REGISTER_REGION(unmapped)");
	EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_REGISTER_REGION, none), EFAULT,
		     "REGISTER_REGION(PROT_NONE)");
	EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_REGISTER_REGION, straddle), EFAULT,
		     "REGISTER_REGION(struct straddling a hole)");
	EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_REGISTER_REGION, (void *)-4096L),
		     EFAULT, "REGISTER_REGION(kernel address)");
	EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_UNREGISTER_REGION, NULL), EFAULT,
		     "UNREGISTER_REGION(NULL)");
	EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_UNREGISTER_REGION, hole), EFAULT,
		     "UNREGISTER_REGION(unmapped)");
	EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_UNREGISTER_REGION, cookie_straddle),
		     EFAULT, "UNREGISTER_REGION(cookie straddling a hole)");
	EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_EXCHANGE_FEATURES, NULL), EFAULT,
		     "EXCHANGE_FEATURES(NULL)");
	EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_EXCHANGE_FEATURES, hole), EFAULT,
		     "EXCHANGE_FEATURES(unmapped)");
	/* Readable request, unwritable answer. */
	EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_EXCHANGE_FEATURES, ro), EFAULT,
		     "EXCHANGE_FEATURES(read-only)");

	/* None of that broke the file. */
	{
		struct ummunotify_event ev[2];
		int64_t last;

		f = 0;
		(void)um_exchange(fd, &f);	/* may or may not be allowed */
		REG(fd, P(0), P(1), C1, 0);
		unmap_ok(base, pg());
		ASSERT(um_drain(fd, ev, 2, &last) == 1, "drain after EFAULTs");
		EXPECT_INVAL(&ev[0], C1, UMMUNOTIFY_EVENT_FLAG_HINT, P(0),
			     P(1));
	}
}

static void read_bad_buffer_efault_keeps_events(void)
{
	int fd = um_open(O_NONBLOCK);
	char *base = map_pages(2), *hole = map_pages(1);
	char *ro = readonly_page(), *edge = map_pages(2);
	struct ummunotify_event ev[4], e;
	int64_t last;
	ssize_t r;
	int n;

	REG(fd, P(0), P(1), C1, 0);
	REG(fd, P(1), P(2), C2, 0);
	unmap_ok(base, pg());
	unmap_ok(base + pg(), pg());
	make_hole(hole);
	make_hole(edge + pg());

	EXPECT_ERRNO(syscall(SYS_read, fd, NULL, 32), EFAULT, "read(NULL)");
	EXPECT_ERRNO(read(fd, hole, 32), EFAULT, "read(unmapped)");
	EXPECT_ERRNO(read(fd, ro, 64), EFAULT, "read(read-only)");
	EXPECT_ERRNO(read(fd, (void *)-4096L, 32), EFAULT,
		     "read(kernel address)");
	/* The first event fits before the hole, the rest does not. */
	r = read(fd, edge + pg() - 32, 3 * 32);
	EXPECT(r == 32 || (r == -1 && errno == EFAULT),
	       "read(32 bytes before a hole, 96) = %zd (%s)", r,
	       r < 0 ? strerror(errno) : "bytes");
	if (r == 32) {
		memcpy(&e, edge + pg() - 32, sizeof(e));
		EXPECT_INVAL(&e, C1, UMMUNOTIFY_EVENT_FLAG_HINT, P(0), P(1));
	}

	/* No event was lost to the faults, and none is repeated. */
	n = um_drain(fd, ev, 4, &last);
	if (r == 32) {
		ASSERT(n == 1, "%d INVAL events left, want 1 (C2)", n);
		EXPECT_INVAL(&ev[0], C2, UMMUNOTIFY_EVENT_FLAG_HINT, P(1),
			     P(2));
	} else {
		ASSERT(n == 2, "%d INVAL events left, want 2", n);
		EXPECT_INVAL(&ev[0], C1, UMMUNOTIFY_EVENT_FLAG_HINT, P(0),
			     P(1));
		EXPECT_INVAL(&ev[1], C2, UMMUNOTIFY_EVENT_FLAG_HINT, P(1),
			     P(2));
	}
	EXPECT(last == 2, "LAST %" PRId64 ", want 2", last);
}

static void duplicate_cookie_einval(void)
{
	int fd = um_open(O_NONBLOCK);
	char *base = map_pages(2);
	struct ummunotify_event ev[4];
	int64_t last;
	int r;

	REG(fd, P(0), P(1), C1, 0);
	r = um_register(fd, P(0), P(1), C1, 0);
	EXPECT(r == -EINVAL, "same cookie, same range: %s",
	       r ? strerror(-r) : "accepted");
	r = um_register(fd, P(1), P(2), C1, 0);
	EXPECT(r == -EINVAL, "same cookie, other range: %s",
	       r ? strerror(-r) : "accepted");
	/* The original registration is untouched, the refused one absent. */
	unmap_ok(base + pg(), pg());
	EXPECT_NOTHING(fd, "unmap of the refused range");
	unmap_ok(base, pg());
	ASSERT(um_drain(fd, ev, 4, &last) == 1, "drain");
	EXPECT_INVAL(&ev[0], C1, UMMUNOTIFY_EVENT_FLAG_HINT, P(0), P(1));
	/* Cookie 0 and ~0 are cookies like any other. */
	REG(fd, P(0), P(1), 0, 0);
	REG(fd, P(0), P(1), ~0ULL, 0);
	EXPECT(um_register(fd, P(0), P(1), 0, 0) == -EINVAL, "cookie 0 twice");
}

static void unknown_cookie_einval(void)
{
	int fd = um_open(0);
	char *base = map_pages(1);
	int r;

	r = um_unregister(fd, C1);
	EXPECT(r == -EINVAL, "unregister on an empty file: %s",
	       r ? strerror(-r) : "accepted");
	REG(fd, P(0), P(1), C1, 0);
	r = um_unregister(fd, C2);
	EXPECT(r == -EINVAL, "unregister of an unknown cookie: %s",
	       r ? strerror(-r) : "accepted");
	UNREG(fd, C1);
	r = um_unregister(fd, C1);
	EXPECT(r == -EINVAL, "second unregister: %s",
	       r ? strerror(-r) : "accepted");
}

static void empty_or_inverted_range_einval(void)
{
	int fd = um_open(0);
	char *base = map_pages(1);
	static const struct { uint64_t s, e; } bad[] = {
		{ 0x10000, 0x10000 }, { 0x10001, 0x10000 }, { 0, 0 },
		{ ~0ULL, ~0ULL }, { ~0ULL, 0 }, { 0x7f0000001000ULL, 1 },
	};
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = um_register(fd, bad[i].s, bad[i].e, C1 + i, 0);

		EXPECT(r == -EINVAL, "[%#" PRIx64 ", %#" PRIx64 "): %s",
		       bad[i].s, bad[i].e, r ? strerror(-r) : "accepted");
	}
	/* The smallest valid range is one byte. */
	REG(fd, P(0), P(0) + 1, C1, 0);
}

static void reserved_or_flags_without_feature_einval(void)
{
	int fd = um_open(0);
	char *base = map_pages(1);
	struct ummunotify_register_ioctl r = {
		.start = P(0), .end = P(1), .user_cookie = C1,
	};
	int bit;

	for (bit = 0; bit < 32; bit++) {
		r.reserved = 1U << bit;
		EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_REGISTER_REGION, &r), EINVAL,
			     "reserved bit");
		if (tap_case_failed) {
			diag("  reserved = %#x", r.reserved);
			break;
		}
	}
	r.reserved = 0;
	for (bit = 0; bit < 32; bit++) {
		r.flags = 1U << bit;
		EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_REGISTER_REGION, &r), EINVAL,
			     "flags bit without a feature");
		if (tap_case_failed) {
			diag("  flags = %#x", r.flags);
			break;
		}
	}
	/* None of the refused ones was registered: the cookie is free. */
	REG(fd, P(0), P(1), C1, 0);
}

static void unknown_ioctl_enotty(void)
{
	int fd = um_open(0);
	char buf[256] = { 0 };
	static const unsigned long cmds[] = {
		_IO('U', 0), _IO('U', 1), _IO('U', 2), _IO('U', 3),
		_IOR('U', 1, uint32_t),		/* wrong direction */
		_IOW('U', 1, uint32_t),
		_IOWR('U', 2, struct ummunotify_register_ioctl),
		_IOW('U', 2, uint64_t),		/* wrong size */
		_IOW('U', 3, uint32_t),
		_IOWR('U', 4, uint64_t), _IOW('U', 0xff, uint64_t),
		_IOW('V', 2, struct ummunotify_register_ioctl),
		_IO('X', 1), 0, 0xffffffffUL,
		0x5401,				/* TCGETS */
	};
	unsigned int i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		errno = 0;
		EXPECT(ioctl(fd, cmds[i], buf) == -1 && errno == ENOTTY,
		       "ioctl(%#lx): %s, want ENOTTY", cmds[i],
		       strerrorname_np_(errno));
	}
}

static void short_read_einval(void)
{
	int fd = um_open(0);	/* blocking: a short read must not wait */
	char *base = map_pages(1);
	struct ummunotify_event ev[4];
	char buf[64];
	int64_t last;
	size_t len;

	for (len = 0; len < 32; len += (len < 2 || len > 29) ? 1 : 14)
		EXPECT_ERRNO(read(fd, buf, len), EINVAL,
			     "short read, nothing pending");
	REG(fd, P(0), P(1), C1, 0);
	unmap_ok(base, pg());
	EXPECT_ERRNO(read(fd, buf, 0), EINVAL, "read(0 bytes)");
	EXPECT_ERRNO(read(fd, buf, 1), EINVAL, "read(1 byte)");
	EXPECT_ERRNO(read(fd, buf, 31), EINVAL, "read(31 bytes)");
	/* The event is still there, whole. */
	fcntl(fd, F_SETFL, O_NONBLOCK);
	ASSERT(um_drain(fd, ev, 4, &last) == 1, "drain after short reads");
	EXPECT_INVAL(&ev[0], C1, UMMUNOTIFY_EVENT_FLAG_HINT, P(0), P(1));
	EXPECT(last == 1, "LAST %" PRId64, last);
}

static void writable_open_einval(void)
{
	static const int modes[] = {
		O_WRONLY, O_RDWR, O_RDWR | O_NONBLOCK, O_WRONLY | O_CLOEXEC,
	};
	unsigned int i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		int fd;

		errno = 0;
		fd = open(UM_DEV, modes[i]);
		EXPECT(fd < 0 && errno == EINVAL, "open(flags %#x) = %d (%s), "
		       "want EINVAL", modes[i], fd, strerrorname_np_(errno));
		if (fd >= 0)
			close(fd);
	}
}

static void bad_mmap_refused(void)
{
	int fd = um_open(0);
	void *p;

	p = mmap(NULL, pg(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	EXPECT(p == MAP_FAILED && errno == EACCES,
	       "mmap(PROT_WRITE, MAP_SHARED) = %p (%s), want EACCES", p,
	       strerrorname_np_(errno));
	p = mmap(NULL, 2 * pg(), PROT_READ, MAP_SHARED, fd, 0);
	EXPECT(p == MAP_FAILED && errno == EINVAL,
	       "mmap(2 pages) = %p (%s), want EINVAL", p,
	       strerrorname_np_(errno));
	p = mmap(NULL, pg(), PROT_READ, MAP_SHARED, fd, pg());
	EXPECT(p == MAP_FAILED && errno == EINVAL,
	       "mmap(offset 1 page) = %p (%s), want EINVAL", p,
	       strerrorname_np_(errno));
	/* Private: could become writable and copy the counter away. */
	p = mmap(NULL, pg(), PROT_READ, MAP_PRIVATE, fd, 0);
	EXPECT(p == MAP_FAILED && errno == EINVAL,
	       "mmap(MAP_PRIVATE) = %p (%s), want EINVAL", p,
	       strerrorname_np_(errno));
	p = mmap(NULL, pg(), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	EXPECT(p == MAP_FAILED, "mmap(PROT_WRITE, MAP_PRIVATE) = %p", p);
	/* After all the refusals the right mapping works, twice. */
	{
		const volatile uint64_t *a = um_map_counter(fd);
		const volatile uint64_t *b = um_map_counter(fd);

		EXPECT(um_counter(a) == 0 && um_counter(b) == 0,
		       "counters %" PRIu64 ", %" PRIu64, um_counter(a),
		       um_counter(b));
	}
}

static sigjmp_buf segv_jmp;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(segv_jmp, 1);
}

static void mprotect_counter_writable_fails(void)
{
	int fd = um_open(0);
	const volatile uint64_t *c = um_map_counter(fd);
	void *p = (void *)c;

	EXPECT_ERRNO(mprotect(p, pg(), PROT_READ | PROT_WRITE), EACCES,
		     "mprotect(counter, PROT_READ|PROT_WRITE)");
	EXPECT_ERRNO(mprotect(p, pg(), PROT_WRITE), EACCES,
		     "mprotect(counter, PROT_WRITE)");
	/* Still read-only: a write here must fault. */
	{
		struct sigaction sa = { .sa_handler = on_segv };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGSEGV, &sa, NULL);
		if (!sigsetjmp(segv_jmp, 1)) {
			*(volatile uint64_t *)p = 42;
			EXPECT(0, "write to the counter page did not fault");
		}
		signal(SIGSEGV, SIG_DFL);
	}
	EXPECT(um_counter(c) == 0, "counter %" PRIu64 " after a write attempt",
	       um_counter(c));
}

static void limit_body(long lim)
{
	char *base = map_pages(1);
	long v;
	int fd, i, r;

	ASSERT(um_param_read(UM_PARAM_MAX_REGIONS, &v) == 0 && v == lim,
	       "parameter reads back %ld, want %ld", v, lim);
	fd = um_open(0);
	for (i = 0; i < lim; i++) {
		r = um_register(fd, P(0), P(1), 100 + i, 0);
		ASSERT(r == 0, "registration %d of %ld: %s", i + 1, lim,
		       strerror(-r));
	}
	r = um_register(fd, P(0), P(1), 99, 0);
	EXPECT(r == -ENOSPC, "registration %ld + 1: %s, want ENOSPC", lim,
	       r ? strerror(-r) : "accepted");
	/* Room again after an unregister. */
	UNREG(fd, 100);
	r = um_register(fd, P(0), P(1), 99, 0);
	EXPECT(r == 0, "register after freeing one slot: %s", strerror(-r));
	r = um_register(fd, P(0), P(1), 98, 0);
	EXPECT(r == -ENOSPC, "full again: %s, want ENOSPC",
	       r ? strerror(-r) : "accepted");
	/* The limit is per file. */
	{
		int fd2 = um_open(0);

		r = um_register(fd2, P(0), P(1), 99, 0);
		EXPECT(r == 0, "other file at the limit of this one: %s",
		       strerror(-r));
		close(fd2);
	}
}

static void limit_reached_enospc(void)
{
	long old, lim = 8;
	pid_t pid;
	int r, w, st;

	r = um_param_read(UM_PARAM_MAX_REGIONS, &old);
	ASSERT(r == 0, "read %s: %s", UM_PARAM_MAX_REGIONS, strerror(-r));
	w = um_param_write(UM_PARAM_MAX_REGIONS, lim);
	if (w) {
		/* Not writable here: test the limit as it is, if it is small. */
		if (old > 200000)
			SKIP("%s is %ld and not writable (%s)",
			     UM_PARAM_MAX_REGIONS, old, strerror(-w));
		lim = old;
	}
	/* In a child, so that the parameter is restored whatever happens. */
	fflush(stdout);
	pid = fork();
	ASSERT(pid >= 0, "fork");
	if (pid == 0) {
		limit_body(lim);
		tap_case_exit();
	}
	waitpid(pid, &st, 0);
	if (!w) {
		w = um_param_write(UM_PARAM_MAX_REGIONS, old);
		EXPECT(w == 0, "restoring %s to %ld: %s", UM_PARAM_MAX_REGIONS,
		       old, strerror(-w));
	}
	EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "limit checks failed (status %#x)", st);
}

static void foreign_mm_after_fork_eperm(void)
{
	int fd = um_open(O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(2);
	struct ummunotify_event ev[4];
	int pfd[2], st;
	int64_t last;
	pid_t pid;

	REG(fd, P(0), P(1), C1, 0);
	unmap_ok(base, pg());	/* an event is pending */
	ASSERT(pipe(pfd) == 0, "pipe");
	pid = fork();
	ASSERT(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		struct ummunotify_register_ioctl r = {
			.start = P(1), .end = P(2), .user_cookie = C2,
		};
		uint64_t ck = C1;
		uint32_t f = 0;
		char msg[512] = "";
		size_t l = 0;
		struct pollfd p = { .fd = fd, .events = POLLIN };

#define CHILD_EXPECT(call, what)					\
		do {							\
			errno = 0;					\
			if ((call) != -1 || errno != EPERM)		\
				l += snprintf(msg + l, sizeof(msg) - l,	\
					      "%s: %s, want EPERM; ",	\
					      what,			\
					      strerrorname_np_(errno));	\
		} while (0)
		CHILD_EXPECT(ioctl(fd, UMMUNOTIFY_REGISTER_REGION, &r),
			     "child REGISTER_REGION");
		CHILD_EXPECT(ioctl(fd, UMMUNOTIFY_UNREGISTER_REGION, &ck),
			     "child UNREGISTER_REGION");
		CHILD_EXPECT(ioctl(fd, UMMUNOTIFY_EXCHANGE_FEATURES, &f),
			     "child EXCHANGE_FEATURES");
		CHILD_EXPECT(read(fd, ev, sizeof(ev)), "child read");
		/* Not documented; reported for the record. */
		poll(&p, 1, 0);
		l += snprintf(msg + l, sizeof(msg) - l, "|child poll revents "
			      "%#x", p.revents);
		if (write(pfd[1], msg, strlen(msg)) < 0)
			_exit(2);
		_exit(0);
	}
	close(pfd[1]);
	{
		char msg[512];
		ssize_t n = read(pfd[0], msg, sizeof(msg) - 1);
		char *bar;

		msg[n > 0 ? n : 0] = '\0';
		bar = strchr(msg, '|');
		if (bar) {
			diag("%s", bar + 1);
			*bar = '\0';
		}
		EXPECT(msg[0] == '\0', "%s", msg);
	}
	waitpid(pid, &st, 0);
	EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);

	/* The child neither consumed the event nor registered anything. */
	EXPECT(um_counter(c) == 1, "counter %" PRIu64, um_counter(c));
	ASSERT(um_drain(fd, ev, 4, &last) == 1, "parent's event gone");
	EXPECT_INVAL(&ev[0], C1, UMMUNOTIFY_EVENT_FLAG_HINT, P(0), P(1));
	unmap_ok(base + pg(), pg());
	EXPECT_NOTHING(fd, "range the child tried to register");
	UNREG(fd, C1);
}

int main(void)
{
	static const struct tap_case cases[] = {
		CASE(ioctl_bad_pointers_efault),
		CASE(read_bad_buffer_efault_keeps_events),
		CASE(duplicate_cookie_einval),
		CASE(unknown_cookie_einval),
		CASE(empty_or_inverted_range_einval),
		CASE(reserved_or_flags_without_feature_einval),
		CASE(unknown_ioctl_enotty),
		CASE_T(short_read_einval, 20),
		CASE(writable_open_einval),
		CASE(bad_mmap_refused),
		CASE(mprotect_counter_writable_fails),
		CASE(limit_reached_enospc),
		CASE(foreign_mm_after_fork_eperm),
	};

	return tap_run(cases, N_CASES(cases), um_skip_reason());
}
