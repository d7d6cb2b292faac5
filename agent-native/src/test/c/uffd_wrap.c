// SPDX-License-Identifier: Apache-2.0
/*
 * Checks the reader thread's rules (DESIGN.md): it never calls malloc,
 * calloc, realloc, free, munmap or madvise, because a free() or munmap() can
 * unmap a watched range and then wait for the reader, i.e. for itself. The
 * userfaultfd test binaries are linked with -Wl,--wrap for these functions
 * (uffd_tests.mk), so every call the backend (compiled into them) makes
 * passes here first; a call on the thread named "ummu-uffd" is counted.
 *
 * ioctl is wrapped too, for fault injection: uffd_wp_probe_fault makes
 * UFFDIO_WRITEPROTECT (only the backend's probe for events in flight issues
 * it) succeed (-1) or fail with that errno (> 0) instead of reaching the
 * kernel; 0 passes it through. uffd_before_register, when set, runs once
 * just before the next UFFDIO_REGISTER reaches the kernel (and is cleared),
 * so a test can change the address space between the backend's VMA lookup
 * and its registration, as another thread may; uffd_after_register runs
 * once right after the kernel returned from it (whatever it returned), so a
 * test can act between the registration and whatever the backend does next.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/userfaultfd.h>
#include <string.h>
#include <sys/prctl.h>

#include "uffd_wrap.h"

atomic_int uffd_reader_calls;
atomic_int uffd_wp_probe_fault;
void (*_Atomic uffd_before_register)(uint64_t start, uint64_t len);
void (*_Atomic uffd_after_register)(uint64_t start, uint64_t len);

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
int __real_munmap(void *p, size_t n);
int __real_madvise(void *p, size_t n, int advice);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
int __wrap_munmap(void *p, size_t n);
int __wrap_madvise(void *p, size_t n, int advice);
int __real_ioctl(int fd, unsigned long req, ...);
int __wrap_ioctl(int fd, unsigned long req, ...);

static void check(void)
{
	char name[16] = "";

	if (prctl(PR_GET_NAME, name, 0, 0, 0) == 0 && !strcmp(name, "ummu-uffd"))
		atomic_fetch_add(&uffd_reader_calls, 1);
}

void *__wrap_malloc(size_t n)
{
	check();
	return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	check();
	return __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
	check();
	return __real_realloc(p, n);
}

void __wrap_free(void *p)
{
	check();
	__real_free(p);
}

int __wrap_munmap(void *p, size_t n)
{
	check();
	return __real_munmap(p, n);
}

int __wrap_madvise(void *p, size_t n, int advice)
{
	check();
	return __real_madvise(p, n, advice);
}

int __wrap_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	void (*after)(uint64_t, uint64_t);
	int f, ret, e;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == UFFDIO_REGISTER) {
		void (*hook)(uint64_t, uint64_t) =
			atomic_exchange(&uffd_before_register, NULL);
		const struct uffdio_register *reg = arg;

		if (hook)
			hook(reg->range.start, reg->range.len);
	}
	f = atomic_load(&uffd_wp_probe_fault);
	if (req == UFFDIO_WRITEPROTECT && f) {
		if (f < 0)
			return 0;
		errno = f;
		return -1;
	}
	if (req != UFFDIO_REGISTER)
		return __real_ioctl(fd, req, arg);
	ret = __real_ioctl(fd, req, arg);
	e = errno;
	after = atomic_exchange(&uffd_after_register, NULL);
	if (after) {
		const struct uffdio_register *reg = arg;

		after(reg->range.start, reg->range.len);
	}
	errno = e;	/* the hook's calls must not change what the caller sees */
	return ret;
}
