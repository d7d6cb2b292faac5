/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tap.h - a tiny TAP producer for the ummunotify tests.
 *
 * Every case runs in its own forked child so that a crash, a fatal assertion
 * or a hang (alarm) in one case still produces a "not ok" line for it and the
 * run goes on with the next case. The parent alone prints the "ok"/"not ok"
 * lines, so numbering stays right whatever the child does.
 *
 * Inside a case:
 *	EXPECT(cond, fmt, ...)	record a failure, carry on
 *	ASSERT(cond, fmt, ...)	record a failure, end the case now
 *	SKIP(fmt, ...)		end the case as "ok ... # SKIP reason"
 *	diag(fmt, ...)		a "# ..." diagnostic line
 */
#ifndef UMMU_TAP_H
#define UMMU_TAP_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define TAP_EXIT_PASS	0
#define TAP_EXIT_FAIL	1
#define TAP_EXIT_SKIP	77

#define TAP_DEFAULT_TIMEOUT 60

struct tap_case {
	const char *name;
	void (*fn)(void);
	unsigned int timeout;	/* seconds; 0 means TAP_DEFAULT_TIMEOUT */
};

/* State of the case running in this (child) process. */
static int tap_case_failed;
static int tap_skip_fd = -1;

static inline void tap_vprint(const char *prefix, const char *fmt, va_list ap)
{
	char buf[2048];
	char *line, *save = NULL;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	/* Keep every physical line a TAP comment. */
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		printf("%s%s\n", prefix, line);
	fflush(stdout);
}

__attribute__((format(printf, 1, 2)))
static inline void diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vprint("# ", fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 3, 4)))
static inline void tap_fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	char head[256];

	snprintf(head, sizeof(head), "# FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	tap_vprint(head, fmt, ap);
	va_end(ap);
	tap_case_failed = 1;
}

static inline void __attribute__((noreturn)) tap_case_exit(void)
{
	fflush(stdout);
	fflush(stderr);
	_exit(tap_case_failed ? TAP_EXIT_FAIL : TAP_EXIT_PASS);
}

__attribute__((format(printf, 1, 2), noreturn))
static inline void tap_case_skip(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (tap_skip_fd >= 0) {
		ssize_t r = write(tap_skip_fd, buf, strlen(buf));

		(void)r;
	}
	fflush(stdout);
	_exit(TAP_EXIT_SKIP);
}

#define EXPECT(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			int tap_saved_errno_ = errno;			\
			tap_fail_at(__FILE__, __LINE__, __VA_ARGS__);	\
			diag("  (failed: %s; errno now %d %s)", #cond,	\
			     tap_saved_errno_,				\
			     strerror(tap_saved_errno_));		\
		}							\
	} while (0)

#define ASSERT(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			EXPECT(cond, __VA_ARGS__);			\
			tap_case_exit();				\
		}							\
	} while (0)

#define FAIL(...)	ASSERT(0, __VA_ARGS__)
#define SKIP(...)	tap_case_skip(__VA_ARGS__)

/*
 * The result of a syscall that should fail: "ret == -1 and errno == want".
 * ret_ is a long so that ssize_t and pointer results (as -1) both fit.
 */
#define EXPECT_ERRNO(expr, want, what)					\
	do {								\
		long ret_;						\
		int err_;						\
		errno = 0;						\
		ret_ = (long)(expr);					\
		err_ = errno;						\
		if (ret_ != -1 || err_ != (want))			\
			tap_fail_at(__FILE__, __LINE__,			\
				    "%s: want -1 %s, got %ld errno %d %s",\
				    (what), strerrorname_np_(want), ret_,\
				    err_, strerrorname_np_(err_));	\
	} while (0)

static inline const char *strerrorname_np_(int e)
{
	switch (e) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EINTR: return "EINTR";
	case ENXIO: return "ENXIO";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case ENOSPC: return "ENOSPC";
	case ENOTTY: return "ENOTTY";
	case ENOSYS: return "ENOSYS";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	default: return strerror(e);
	}
}

/*
 * Runs the cases, one forked child each, and prints the TAP stream.
 * If skip_all is not NULL every case is reported as skipped with it as
 * the reason (the device is absent, typically). Returns the exit status
 * for main(): 0 when nothing failed.
 */
static inline int tap_run(const struct tap_case *cases, int n,
			  const char *skip_all)
{
	int i, failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("1..%d\n", n);
	for (i = 0; i < n; i++) {
		const struct tap_case *c = &cases[i];
		unsigned int timeout = c->timeout ? c->timeout :
				       TAP_DEFAULT_TIMEOUT;
		char reason[512];
		ssize_t rl, got = 0;
		int pfd[2], status;
		pid_t pid, w;

		if (skip_all) {
			printf("ok %d - %s # SKIP %s\n", i + 1, c->name,
			       skip_all);
			continue;
		}
		if (pipe(pfd)) {
			printf("not ok %d - %s # pipe: %s\n", i + 1, c->name,
			       strerror(errno));
			failed++;
			continue;
		}
		fflush(stdout);
		fflush(stderr);
		pid = fork();
		if (pid < 0) {
			printf("not ok %d - %s # fork: %s\n", i + 1, c->name,
			       strerror(errno));
			failed++;
			close(pfd[0]);
			close(pfd[1]);
			continue;
		}
		if (pid == 0) {
			/* Own group, so a timeout can take grandchildren too. */
			setpgid(0, 0);
			close(pfd[0]);
			tap_skip_fd = pfd[1];
			tap_case_failed = 0;
			alarm(timeout);
			c->fn();
			tap_case_exit();
		}
		setpgid(pid, pid);
		close(pfd[1]);
		do {
			w = waitpid(pid, &status, 0);
		} while (w < 0 && errno == EINTR);
		/* Whatever the case left behind in its group goes now. */
		kill(-pid, SIGKILL);
		/*
		 * Read the reason only now, without blocking: a grandchild
		 * may still hold the pipe open for a moment.
		 */
		fcntl(pfd[0], F_SETFL, O_NONBLOCK);
		while (got < (ssize_t)sizeof(reason) - 1 &&
		       (rl = read(pfd[0], reason + got,
				  sizeof(reason) - 1 - got)) > 0)
			got += rl;
		reason[got] = '\0';
		close(pfd[0]);
		if (w < 0) {
			printf("not ok %d - %s # waitpid: %s\n", i + 1,
			       c->name, strerror(errno));
			failed++;
		} else if (WIFEXITED(status) &&
			   WEXITSTATUS(status) == TAP_EXIT_PASS) {
			printf("ok %d - %s\n", i + 1, c->name);
		} else if (WIFEXITED(status) &&
			   WEXITSTATUS(status) == TAP_EXIT_SKIP) {
			printf("ok %d - %s # SKIP %s\n", i + 1, c->name,
			       reason);
		} else if (WIFEXITED(status)) {
			printf("not ok %d - %s\n", i + 1, c->name);
			failed++;
		} else {
			int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;

			printf("not ok %d - %s # %s (signal %d%s)\n", i + 1,
			       c->name, "case crashed", sig,
			       sig == SIGALRM ? ", timed out" : "");
			failed++;
		}
		fflush(stdout);
	}
	return failed ? 1 : 0;
}

/* For failures outside any case: still one "not ok", then stop. */
__attribute__((format(printf, 2, 3), noreturn))
static inline void tap_bail(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("1..1\nnot ok 1 - %s\n", name);
	va_start(ap, fmt);
	tap_vprint("# ", fmt, ap);
	va_end(ap);
	printf("Bail out! %s\n", name);
	fflush(stdout);
	exit(1);
}

#endif /* UMMU_TAP_H */
