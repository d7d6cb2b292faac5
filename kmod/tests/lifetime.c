// SPDX-License-Identifier: GPL-2.0
/*
 * lifetime.c - files and address spaces ending in every order: exit with
 * events pending, close with thousands of registrations, a file that
 * outlives its mm (exec, or passed to another process over a socket), many
 * files at once. The kernel side of "nothing broke" is the harness's check
 * of the kernel log; here, every process must end normally and the device
 * must still work afterwards.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "um.h"

#define C1 0x1111000000000001ULL
#define P(i) ((uint64_t)(uintptr_t)(base + (i) * pg()))

/* The device still does the basic thing, exactly. */
static void device_still_works(void)
{
	int fd = um_open(O_NONBLOCK);
	const volatile uint64_t *c = um_map_counter(fd);
	char *base = map_pages(1);
	struct ummunotify_event ev[2];
	int64_t last;

	REG(fd, P(0), P(1), C1, 0);
	unmap_ok(base, pg());
	EXPECT(um_counter(c) == 1, "counter %" PRIu64, um_counter(c));
	ASSERT(um_drain(fd, ev, 2, &last) == 1, "drain");
	EXPECT_INVAL(&ev[0], C1, UMMUNOTIFY_EVENT_FLAG_HINT, P(0), P(1));
	EXPECT(last == 1, "LAST %" PRId64, last);
	close(fd);
}

static void expect_child_ok(pid_t pid, const char *what)
{
	int st;

	ASSERT(waitpid(pid, &st, 0) == pid, "waitpid(%s): %s", what,
	       strerror(errno));
	EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	       "%s: status %#x (exit %d, signal %d)", what, st,
	       WIFEXITED(st) ? WEXITSTATUS(st) : -1,
	       WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* Registers n pages' worth of ranges, unmaps every other page. */
static void load_file(int fd, int n, int features_ok)
{
	char *base = map_pages(n);
	int i;

	(void)features_ok;
	for (i = 0; i < n; i++) {
		REG(fd, P(i), P(i + 1), 1000 + i, 0);
		/* Overlapping ones too, so the tree has depth. */
		REG(fd, P(i), P(i) + 1, 1000000 + i, 0);
	}
	for (i = 0; i < n; i += 2)
		unmap_ok(base + i * pg(), pg());
}

enum exit_mode { EXIT_FD_OPEN, EXIT_MAPPED, EXIT_CLOSED_MAPPED,
		 EXIT_THREAD_READING, EXIT_FEATURES };

static void *reader_forever(void *arg)
{
	struct ummunotify_event ev[4];
	int fd = *(int *)arg;

	for (;;)
		if (read(fd, ev, sizeof(ev)) < 0 && errno != EINTR)
			return NULL;
}

static void exit_child(enum exit_mode mode)
{
	int fd;

	if (mode == EXIT_FEATURES)
		fd = um_open_features(UM_ALL_FEATURES, NULL, 0);
	else
		fd = um_open(mode == EXIT_THREAD_READING ? 0 : O_NONBLOCK);
	if (mode != EXIT_FD_OPEN)
		um_map_counter(fd);
	load_file(fd, 500, mode == EXIT_FEATURES);
	if (mode == EXIT_THREAD_READING) {
		static int sfd;
		pthread_t t;

		sfd = fd;
		/* Drains a little, then sleeps in read() as we exit. */
		ASSERT(pthread_create(&t, NULL, reader_forever, &sfd) == 0,
		       "pthread_create");
		usleep(20000);
	}
	if (mode == EXIT_CLOSED_MAPPED)
		close(fd);
	/* exit without reading, unregistering or closing */
	_exit(0);
}

static void exit_with_pending_events(void)
{
	static const char *const names[] = {
		"fd open", "counter mapped", "fd closed, counter mapped",
		"thread blocked in read", "features negotiated",
	};
	int mode;

	for (mode = EXIT_FD_OPEN; mode <= EXIT_FEATURES; mode++) {
		pid_t pid;

		fflush(stdout);
		pid = fork();
		ASSERT(pid >= 0, "fork");
		if (pid == 0)
			exit_child(mode);
		expect_child_ok(pid, names[mode]);
	}
	device_still_works();
}

static void close_with_live_registrations(void)
{
	int round;

	for (round = 0; round < 3; round++) {
		int fd = round == 1 ?
			 um_open_features(UM_ALL_FEATURES, NULL, O_NONBLOCK) :
			 um_open(O_NONBLOCK);
		const volatile uint64_t *c = NULL;
		uint64_t v;

		if (round != 2)
			c = um_map_counter(fd);
		/* 2500 pages, 5000 registrations, 1250 events pending. */
		load_file(fd, 2500, round == 1);
		if (c) {
			v = um_counter(c);
			/*
			 * At least: splitting a VMA of 2 MiB or more makes
			 * the kernel send a CLEAR over the huge-page-sized
			 * block around the split point (THP bookkeeping),
			 * even with no page populated.
			 */
			EXPECT(v >= 1250, "round %d: counter %" PRIu64
			       ", want >= 1250", round, v);
		}
		EXPECT(close(fd) == 0, "close: %s", strerror(errno));
		/* With the counter mapped the file lives on until munmap. */
		if (c)
			unmap_ok((void *)c, pg());
	}
	device_still_works();
}

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte = 'f';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -errno;
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* What a process that does not own the file's mm may do with it. */
static void expect_foreign(int fd, const char *who)
{
	struct ummunotify_register_ioctl r = {
		.start = 0x10000, .end = 0x20000, .user_cookie = 5,
	};
	struct ummunotify_event ev[4];
	uint64_t ck = C1;
	uint32_t f = 0;
	void *p;

	EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_REGISTER_REGION, &r), EPERM, who);
	EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_UNREGISTER_REGION, &ck), EPERM, who);
	EXPECT_ERRNO(ioctl(fd, UMMUNOTIFY_EXCHANGE_FEATURES, &f), EPERM, who);
	EXPECT_ERRNO(read(fd, ev, sizeof(ev)), EPERM, who);
	/* Not in the documented set: only it must not work or crash. */
	p = mmap(NULL, pg(), PROT_READ, MAP_SHARED, fd, 0);
	EXPECT(p == MAP_FAILED, "%s: mmap of a foreign file's counter worked",
	       who);
}

static void fd_passed_to_other_process(void)
{
	int sv[2], fd, i;
	pid_t pid;

	ASSERT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	/* Twice: the owner still alive, and the owner gone (mm released). */
	for (i = 0; i < 2; i++) {
		char go;

		fflush(stdout);
		pid = fork();
		ASSERT(pid >= 0, "fork");
		if (pid == 0) {
			int cfd = um_open(O_NONBLOCK);

			um_map_counter(cfd);
			load_file(cfd, 64, 0);
			if (send_fd(sv[1], cfd))
				_exit(3);
			/* Wait for the parent when it is to test us alive. */
			if (i == 0 && read(sv[1], &go, 1) != 1)
				_exit(4);
			_exit(0);
		}
		fd = recv_fd(sv[0]);
		ASSERT(fd >= 0, "recvmsg(SCM_RIGHTS) failed");
		if (i == 1)
			expect_child_ok(pid, "owner, before the receiver");
		expect_foreign(fd, i ? "receiver, owner gone"
				     : "receiver, owner alive");
		{
			struct pollfd p = { .fd = fd, .events = POLLIN };

			poll(&p, 1, 0);
			diag("round %d: receiver's poll revents %#x", i,
			     p.revents);
		}
		if (i == 0) {
			ASSERT(write(sv[0], "g", 1) == 1, "write");
			expect_child_ok(pid, "owner, after the receiver");
		}
		EXPECT(close(fd) == 0, "close: %s", strerror(errno));
	}
	device_still_works();
}

static const char *self_exe;

/* The file survives exec; the mm it watched does not. */
static void file_outlives_mm_through_exec(void)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	ASSERT(pid >= 0, "fork");
	if (pid == 0) {
		int fd = open(UM_DEV, O_RDONLY);	/* no O_CLOEXEC */
		char arg[32];

		ASSERT(fd >= 0, "open: %s", strerror(errno));
		um_map_counter(fd);
		load_file(fd, 64, 0);
		snprintf(arg, sizeof(arg), "%d", fd);
		execl(self_exe, self_exe, "--exec-probe", arg, (char *)NULL);
		FAIL("execl(%s): %s", self_exe, strerror(errno));
	}
	expect_child_ok(pid, "exec'd probe");
	device_still_works();
}

/* After exec: the old mm is gone, the file is foreign to the new one. */
static int exec_probe(int fd)
{
	tap_case_failed = 0;
	expect_foreign(fd, "after exec");
	if (close(fd))
		tap_case_failed = 1;
	fflush(stdout);
	return tap_case_failed ? 1 : 0;
}

static void many_files_one_invalidation(void)
{
	enum { NF = 200 };
	int fds[NF], i;
	const volatile uint64_t *c[NF];
	char *base = map_pages(2);

	for (i = 0; i < NF; i++) {
		fds[i] = um_open(O_NONBLOCK);
		c[i] = um_map_counter(fds[i]);
		REG(fds[i], P(0), P(1), C1, 0);
	}
	unmap_ok(base, pg());
	for (i = 0; i < NF; i++) {
		uint64_t v = um_counter(c[i]);

		EXPECT(v == 1, "file %d: counter %" PRIu64, i, v);
		if (v != 1)
			break;
	}
	/* Close in an order unlike the open order; some with events read. */
	for (i = 0; i < NF; i++) {
		int k = (i * 7) % NF;

		if (k % 3 == 0) {
			struct ummunotify_event ev[2];
			int64_t last;

			EXPECT(um_drain(fds[k], ev, 2, &last) == 1,
			       "file %d: drain", k);
		}
		close(fds[k]);
		unmap_ok((void *)c[k], pg());
	}
	device_still_works();
}

int main(int argc, char **argv)
{
	static const struct tap_case cases[] = {
		CASE_T(exit_with_pending_events, 120),
		CASE_T(close_with_live_registrations, 120),
		CASE(fd_passed_to_other_process),
		CASE(file_outlives_mm_through_exec),
		CASE(many_files_one_invalidation),
	};

	if (argc == 3 && !strcmp(argv[1], "--exec-probe"))
		return exec_probe(atoi(argv[2]));
	self_exe = strchr(argv[0], '/') ? argv[0] : "/proc/self/exe";
	return tap_run(cases, N_CASES(cases), um_skip_reason());
}
