// SPDX-License-Identifier: Apache-2.0
/*
 * Host tests of libummu's C side, TAP output.
 *
 *   test_native <path to libummu.so>
 *
 * - the built library exports JNI_OnLoad and nothing else;
 * - the ummunotify backend's probe/open give the precise reason for each way
 *   the device can be unusable (missing node, not a device, another driver,
 *   no permission), without leaking descriptors;
 * - with /dev/ummunotify present (inside the VM harness), the backend itself:
 *   features, counter page, watch/unwatch errors, an unmap seen as INVAL with
 *   the exact hint followed by LAST carrying the counter.
 * The JNI surface is tested from Java (agent-java).
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ummu_backend.h"
#include "ummu_backend_ummunotify.h"
#include "counter_spinner.h"

static int test_no, failures, skips;

static void ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++test_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		failures++;
	fflush(stdout);
}

static void skip(const char *what, const char *reason)
{
	printf("ok %d - %s # SKIP %s\n", ++test_no, what, reason);
	skips++;
	fflush(stdout);
}

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static int open_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void test_exports(const char *lib)
{
	char cmd[4200], line[512];
	int others = 0, onload = 0;
	void *h;
	FILE *p;

	h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	ok(h != NULL, "dlopen(%s): %s", lib, h ? "loaded" : dlerror());
	if (!h)
		return;
	ok(dlsym(h, "JNI_OnLoad") != NULL, "JNI_OnLoad is exported");
	ok(dlsym(h, "ummu_ummunotify_ops") == NULL &&
	   dlsym(h, "ummu_userfaultfd_ops") == NULL &&
	   dlsym(h, "ummu_ummunotify_probe_path") == NULL,
	   "backend symbols are hidden");
	dlclose(h);

	snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s' 2>&1", lib);
	p = popen(cmd, "r");
	if (!p) {
		skip("nm -D lists only JNI_OnLoad", "popen(nm) failed");
		return;
	}
	while (fgets(line, sizeof(line), p)) {
		if (strstr(line, " JNI_OnLoad\n")) {
			onload++;
		} else {
			others++;
			diag("unexpected export: %s", line);
		}
	}
	if (pclose(p) != 0)
		skip("nm -D lists only JNI_OnLoad", "nm failed (binutils missing?)");
	else
		ok(onload == 1 && others == 0,
		   "nm -D --defined-only lists only JNI_OnLoad (%d others)", others);
}

static void test_ops_table(void)
{
	const struct ummu_backend_ops *o = &ummu_ummunotify_ops;

	ok(o->name && strcmp(o->name, "ummunotify") == 0 && o->probe &&
	   o->open && o->capabilities && o->watch && o->unwatch && o->read &&
	   o->counter && o->pollfd && o->close && o->retire,
	   "ummunotify ops table is complete");
}

static void test_probe_missing(void)
{
	char why[512] = "";
	int ret;

	ret = ummu_ummunotify_probe_path("/nonexistent/ummunotify", why, sizeof(why));
	ok(ret == -ENOENT, "probe(missing node) = -ENOENT (got %d)", ret);
	ok(strstr(why, "module not loaded: /nonexistent/ummunotify missing") &&
	   strstr(why, "kmod/README.md"),
	   "probe(missing node) says the module is not loaded: \"%s\"", why);
}

static void test_probe_not_device(void)
{
	char path[] = "/tmp/ummu-test-XXXXXX", why[512] = "";
	int fd, ret;

	fd = mkstemp(path);
	if (fd < 0) {
		skip("probe(regular file)", "mkstemp failed");
		return;
	}
	close(fd);
	ret = ummu_ummunotify_probe_path(path, why, sizeof(why));
	unlink(path);
	ok(ret == -ENODEV && strstr(why, "is not a character device"),
	   "probe(regular file) = -ENODEV, \"%s\"", why);
}

static void test_probe_other_driver(void)
{
	struct ummu_backend *b = (struct ummu_backend *)1;
	char why[512] = "";
	int before, ret;

	ret = ummu_ummunotify_probe_path("/dev/null", why, sizeof(why));
	ok(ret == -ENOTTY && strstr(why, "UMMUNOTIFY_EXCHANGE_FEATURES") &&
	   strstr(why, "not the ummunotify module"),
	   "probe(/dev/null) = -ENOTTY, \"%s\"", why);

	before = open_fd_count();
	why[0] = '\0';
	ret = ummu_ummunotify_open_path("/dev/null", &b, why, sizeof(why));
	ok(ret == -ENOTTY && b == NULL, "open(/dev/null) fails with -ENOTTY and no backend (got %d)", ret);
	ok(open_fd_count() == before, "failed open leaks no descriptor (%d before, %d after)",
	   before, open_fd_count());
}

/* A root-only character device, to be probed by an unprivileged child. */
static int find_private_chardev(char *out, size_t len)
{
	static const char *const candidates[] = {
		"/dev/btrfs-control", "/dev/hwrng", "/dev/cpu_dma_latency",
		"/dev/mem", "/dev/console", "/dev/tty1", NULL,
	};
	struct stat st;
	int i;

	for (i = 0; candidates[i]; i++) {
		if (stat(candidates[i], &st) == 0 && S_ISCHR(st.st_mode) &&
		    st.st_uid == 0 && (st.st_mode & 0077) == 0) {
			snprintf(out, len, "%s", candidates[i]);
			return 1;
		}
	}
	return 0;
}

static void test_probe_permission(void)
{
	char dev[64], why[512] = "";
	int pipefd[2], status, ret = 0;
	ssize_t n;
	pid_t pid;

	if (geteuid() != 0) {
		skip("probe(no permission)", "needs root to drop to uid 65534");
		return;
	}
	if (!find_private_chardev(dev, sizeof(dev))) {
		skip("probe(no permission)", "no root-only character device found");
		return;
	}
	if (pipe(pipefd) != 0) {
		skip("probe(no permission)", "pipe failed");
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(2);
		ret = ummu_ummunotify_probe_path(dev, why, sizeof(why));
		if (write(pipefd[1], &ret, sizeof(ret)) != sizeof(ret) ||
		    write(pipefd[1], why, strlen(why) + 1) < 0)
			_exit(3);
		_exit(0);
	}
	close(pipefd[1]);
	n = read(pipefd[0], &ret, sizeof(ret));
	if (n == sizeof(ret))
		n = read(pipefd[0], why, sizeof(why) - 1);
	why[sizeof(why) - 1] = '\0';
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 2) {
		skip("probe(no permission)", "cannot drop privileges here");
		return;
	}
	ok(ret == -EACCES && strstr(why, "permission denied") &&
	   strstr(why, "mode 0600") && strstr(why, "owner root") &&
	   strstr(why, "uid 65534"),
	   "probe(%s as uid 65534) = -EACCES naming mode, owner and uid: \"%s\"",
	   dev, why);
}

static void test_device(void)
{
	const struct ummu_backend_ops *o = &ummu_ummunotify_ops;
	struct ummunotify_event ev[8];
	const volatile uint64_t *counter;
	struct ummu_backend *b = NULL;
	char why[512] = "";
	long page = sysconf(_SC_PAGESIZE);
	uint64_t gen0, gen1, start;
	uint32_t caps;
	ssize_t n;
	char *mem;
	int ret;

	ret = o->probe(why, sizeof(why));
	if (ret == -ENOENT) {
		ok(strstr(why, "module not loaded: /dev/ummunotify missing") != NULL,
		   "probe() on this host: \"%s\"", why);
		skip("device tests", "/dev/ummunotify missing (they run inside the VM harness)");
		return;
	}
	ok(ret == 0, "probe() = 0 with /dev/ummunotify present (\"%s\")", why);
	if (ret)
		return;

	ret = o->open(&b, why, sizeof(why));
	ok(ret == 0 && b, "open() = 0 (\"%s\")", why);
	if (ret || !b)
		return;
	caps = o->capabilities(b);
	ok((caps & UMMU_CAP_KERNEL_INVALIDATIONS) && (caps & UMMU_CAP_UNMAP) &&
	   !(caps & UMMU_CAP_FORK_CHILD),
	   "capabilities 0x%x: kernel invalidations, unmap, not fork child", caps);
	ok(o->pollfd(b) >= 0 && (fcntl(o->pollfd(b), F_GETFL) & O_NONBLOCK) &&
	   (fcntl(o->pollfd(b), F_GETFD) & FD_CLOEXEC),
	   "pollfd is the non-blocking, close-on-exec device fd");

	counter = o->counter(b);
	ok(counter != NULL, "counter page mapped");
	gen0 = __atomic_load_n(counter, __ATOMIC_ACQUIRE);
	ok(o->read(b, ev, 8) == 0, "read() with nothing pending = 0");

	mem = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		skip("watch/unmap", "mmap failed");
		o->close(b);
		return;
	}
	start = (uint64_t)(uintptr_t)mem;
	memset(mem, 1, 4 * page);
	ret = o->watch(b, start, start + 4 * page, 7, why, sizeof(why));
	ok(ret == 0, "watch(4 pages, cookie 7) = 0 (%d, \"%s\")", ret, why);
	why[0] = '\0';
	ret = o->watch(b, start, start + page, 7, why, sizeof(why));
	ok(ret == -EINVAL && strstr(why, "cookie 7"),
	   "watch(duplicate cookie) = -EINVAL, \"%s\"", why);
	ret = o->watch(b, start + page, start, 8, why, sizeof(why));
	ok(ret == -EINVAL, "watch(inverted range) = -EINVAL, \"%s\"", why);

	munmap(mem + page, page);
	gen1 = __atomic_load_n(counter, __ATOMIC_ACQUIRE);
	ok(gen1 == gen0 + 1, "munmap of a watched page bumps the counter (%llu -> %llu)",
	   (unsigned long long)gen0, (unsigned long long)gen1);
	n = o->read(b, ev, 8);
	ok(n == 2, "read() = 2 records after one unmap (got %zd)", n);
	if (n == 2) {
		ok(ev[0].type == UMMUNOTIFY_EVENT_TYPE_INVAL &&
		   ev[0].user_cookie_counter == 7 &&
		   (ev[0].flags & UMMUNOTIFY_EVENT_FLAG_HINT) &&
		   ev[0].hint_start == start + page &&
		   ev[0].hint_end == start + 2 * page,
		   "INVAL for cookie 7 with the exact unmapped page as hint");
		if (caps & UMMU_CAP_EVENT_CAUSE)
			ok(ev[0].flags & UMMUNOTIFY_EVENT_FLAG_CAUSE(UMMUNOTIFY_CAUSE_UNMAP),
			   "INVAL carries the UNMAP cause (flags 0x%x)", ev[0].flags);
		else
			skip("INVAL carries the UNMAP cause", "EVENT_CAUSE not granted");
		ok(ev[1].type == UMMUNOTIFY_EVENT_TYPE_LAST &&
		   ev[1].user_cookie_counter == gen1,
		   "LAST carries the counter %llu", (unsigned long long)gen1);
	}
	ok(o->read(b, ev, 8) == 0, "queue empty afterwards");
	ok(o->unwatch(b, 7) == 0, "unwatch(7) = 0");
	ok(o->unwatch(b, 7) == -EINVAL, "unwatch(7) again = -EINVAL");
	munmap(mem, 4 * page);
	ok(o->read(b, ev, 8) == 0, "no event for an unwatched range");
	o->close(b);
}

/* Whether the line of /proc/self/maps covering addr contains what. */
static int mapped_at(const void *addr, const char *what)
{
	char line[512];
	unsigned long s, e;
	int found = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &s, &e) == 2 &&
		    s <= (unsigned long)addr && (unsigned long)addr < e &&
		    strstr(line, what))
			found = 1;
	fclose(f);
	return found;
}

/* Whether /proc/self/maps has a mapping of /dev/ummunotify at addr. */
static int device_mapped_at(const void *addr)
{
	return mapped_at(addr, "/dev/ummunotify");
}

/* The backend's process-wide closed page, as /proc/self/maps names it. */
#define CLOSED_PAGE_NAME "/memfd:ummu-closed-counter"

/*
 * The backend is linked with -Wl,--wrap=memfd_create (Makefile): a test
 * can make memfd_create fail as a seccomp filter refusing it would, to
 * drive retire() onto its mremap fallback. Test binary only.
 */
static int refuse_memfd;
int __real_memfd_create(const char *name, unsigned int flags);
int __wrap_memfd_create(const char *name, unsigned int flags);
int __wrap_memfd_create(const char *name, unsigned int flags)
{
	if (refuse_memfd) {
		errno = ENOSYS;
		return -1;
	}
	return __real_memfd_create(name, flags);
}

/*
 * retire() on the module's page, while another thread loads from it: the
 * device's page is replaced in one step by a read-only page holding
 * UMMU_COUNTER_CLOSED (the thread never faults, and sees the marker last),
 * the device is no longer mapped nor open, so the module's context is gone
 * now rather than when Java unmaps the page.
 */
static void test_device_retire(void)
{
	const struct ummu_backend_ops *o = &ummu_ummunotify_ops;
	long page = sysconf(_SC_PAGESIZE);
	struct spinner s = { 0 };
	struct ummu_backend *b = NULL;
	char why[512] = "";
	pthread_t t;
	int ret, fd, i;

	if (access("/dev/ummunotify", F_OK) != 0) {
		skip("retire() of the device's page", "/dev/ummunotify missing (runs inside the VM harness)");
		return;
	}
	for (i = 0; i < 20; i++) {
		memset(&s, 0, sizeof(s));
		ret = o->open(&b, why, sizeof(why));
		if (ret || !b) {
			ok(0, "retire: open() = %d (\"%s\")", ret, why);
			return;
		}
		s.counter = o->counter(b);
		fd = o->pollfd(b);
		if (pthread_create(&t, NULL, spin, &s)) {
			ok(0, "retire: pthread_create");
			o->close(b);
			return;
		}
		while (!__atomic_load_n(&s.started, __ATOMIC_ACQUIRE))
			sched_yield();
		if (i == 0)
			ok(device_mapped_at((const void *)s.counter) == 1,
			   "before retire() the counter page is the device's");
		ret = o->retire(b);
		usleep(200);
		__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
		pthread_join(t, NULL);
		if (ret || s.last != UMMU_COUNTER_CLOSED || s.reopened ||
		    *s.counter != UMMU_COUNTER_CLOSED || i == 19) {
			ok(ret == 0 && s.last == UMMU_COUNTER_CLOSED &&
			   s.reopened == 0 && *s.counter == UMMU_COUNTER_CLOSED,
			   "retire() = %d with a thread loading the counter, %d rounds: it never faulted, saw the marker last (0x%llx after %llu loads in the last round) and never a generation after it (%llu times)",
			   ret, i + 1, (unsigned long long)s.last,
			   (unsigned long long)s.loads, (unsigned long long)s.reopened);
			errno = 0;
			ok(fcntl(fd, F_GETFD) == -1 && errno == EBADF,
			   "retire() closed the device's descriptor");
			ok(device_mapped_at((const void *)s.counter) == 0 &&
			   msync((void *)s.counter, page, MS_ASYNC) == 0,
			   "the page at the counter's address is mapped, and no longer the device's");
			ok(mapped_at((const void *)s.counter, CLOSED_PAGE_NAME) == 1,
			   "the page at the counter's address is the shared closed page (%s)",
			   CLOSED_PAGE_NAME);
			munmap((void *)s.counter, page);
			return;
		}
		munmap((void *)s.counter, page);
	}
}

/*
 * A device case whose body runs in a forked child (process-wide state it
 * changes must not reach this process): body returns 0 when it holds, else
 * the code its message explains.
 */
static void device_case_in_child(const char *what, int (*body)(void), const char *message)
{
	int status = 0;
	pid_t pid;

	if (access("/dev/ummunotify", F_OK) != 0) {
		skip(what, "/dev/ummunotify missing (runs inside the VM harness)");
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(body());
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		ok(0, "%s: fork/waitpid", what);
		return;
	}
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s (child status 0x%x: %s)", message, status,
	   "10 open, 11 retire, 12 marker, 13 fd, 14 mapping, 16 could not fill");
}

/*
 * retire() when memfd_create is refused (seccomp, say): the closed page
 * cannot be made, and the device's page is replaced by a marked anonymous
 * page moved over it (mremap). In a child, because the closed page is
 * made once per process: the child's refusal must not reach the parent.
 */
static int retire_without_memfd(void)
{
	const struct ummu_backend_ops *o = &ummu_ummunotify_ops;
	long page = sysconf(_SC_PAGESIZE);
	struct ummu_backend *b = NULL;
	const volatile uint64_t *c;
	char why[512] = "";
	int fd;

	refuse_memfd = 1;
	if (o->open(&b, why, sizeof(why)) || !b)
		return 10;
	c = o->counter(b);
	fd = o->pollfd(b);
	if (o->retire(b))
		return 11;
	if (*c != UMMU_COUNTER_CLOSED)
		return 12;
	if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
		return 13;
	if (device_mapped_at((const void *)c) != 0 ||
	    mapped_at((const void *)c, CLOSED_PAGE_NAME) != 0 ||
	    msync((void *)c, page, MS_ASYNC) != 0)
		return 14;
	return 0;
}

/*
 * retire() with the process at vm.max_map_count (mmap-heavy processes
 * live there): mremap refuses up front there (map_count + 2 >= max - 3),
 * the one-VMA mmap of the closed page does not. In a child, which fills
 * its address space with single pages until mmap fails.
 */
static int retire_at_map_limit(void)
{
	const struct ummu_backend_ops *o = &ummu_ummunotify_ops;
	long page = sysconf(_SC_PAGESIZE);
	struct ummu_backend *b = NULL;
	const volatile uint64_t *c;
	char why[512] = "";
	void *p, *last = NULL;
	int n = 0;

	if (o->open(&b, why, sizeof(why)) || !b)
		return 10;
	c = o->counter(b);
	/* Alternating protections: neighbours never merge. */
	for (;;) {
		p = mmap(NULL, page, n & 1 ? PROT_READ : PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			break;
		last = p;
		n++;
	}
	if (errno != ENOMEM || n < 1000)
		return 16;
	munmap(last, page);	/* room for exactly one more */
	if (o->retire(b))
		return 11;
	if (*c != UMMU_COUNTER_CLOSED)
		return 12;
	if (mapped_at((const void *)c, CLOSED_PAGE_NAME) != 1)
		return 14;
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 2) {
		fprintf(stderr, "usage: %s <libummu.so>\n", argv[0]);
		return 2;
	}
	printf("TAP version 13\n");
	test_exports(argv[1]);
	test_ops_table();
	test_probe_missing();
	test_probe_not_device();
	test_probe_other_driver();
	test_probe_permission();
	test_device();
	device_case_in_child("retire() without memfd_create", retire_without_memfd,
			     "retire() with memfd_create refused falls back to mremap: returns 0, the page reads the marker, is mapped, neither the device's nor the closed page, the device's descriptor is closed");
	test_device_retire();
	device_case_in_child("retire() at vm.max_map_count", retire_at_map_limit,
			     "retire() with the process one mapping short of vm.max_map_count: returns 0, the closed page at the counter reads the marker");
	printf("1..%d\n", test_no);
	printf("libummu: %d passed, %d failed, %d skipped\n",
	       test_no - failures - skips, failures, skips);
	return failures ? 1 : 0;
}
