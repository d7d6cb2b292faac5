// SPDX-License-Identifier: Apache-2.0
/*
 * The /dev/ummunotify backend: a thin layer over the kernel module.
 *
 * The module already speaks the protocol every backend presents to Java
 * (coalesced ummunotify_event records, LAST with the counter, cause bits
 * 0..15, a read-only counter page bumped with release order after the event
 * is queued), so records are passed through untranslated.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ummu_backend.h"
#include "ummu_backend_ummunotify.h"
#include "ummu_util.h"

#define UMMUNOTIFY_DEVICE "/dev/ummunotify"

/* What we ask the kernel for; we keep whatever subset it grants. */
#define WANTED_FEATURES UMMUNOTIFY_FEATURE_EVENT_CAUSE

struct ummu_backend {
	int fd;
	uint32_t features;	/* granted by UMMUNOTIFY_EXCHANGE_FEATURES */
	const volatile uint64_t *counter;
	size_t page_size;
};

/* Names for the owner and group of the device node, for permission advice. */
static void owner_names(const struct stat *st, char *user, size_t ulen,
			char *group, size_t glen)
{
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	char buf[1024];

	if (getpwuid_r(st->st_uid, &pw, buf, sizeof(buf), &pwp) == 0 && pwp)
		snprintf(user, ulen, "%s", pw.pw_name);
	else
		snprintf(user, ulen, "uid %u", (unsigned int)st->st_uid);
	if (getgrgid_r(st->st_gid, &gr, buf, sizeof(buf), &grp) == 0 && grp)
		snprintf(group, glen, "%s", gr.gr_name);
	else
		snprintf(group, glen, "gid %u", (unsigned int)st->st_gid);
}

/*
 * Opens path read-only as the backend needs it, with the reason for a
 * failure spelled out for the person who has to fix it.
 */
static int open_device(const char *path, char *why, size_t len)
{
	struct stat st;
	int fd, e;

	if (stat(path, &st) != 0) {
		e = errno;
		if (e == ENOENT)
			return ummu_why(why, len, -ENOENT,
					"module not loaded: %s missing (load ummunotify.ko, see kmod/README.md)",
					path);
		return ummu_why(why, len, -e, "stat(%s): %s", path,
				UMMU_STRERROR(e));
	}
	if (!S_ISCHR(st.st_mode))
		return ummu_why(why, len, -ENODEV,
				"%s is not a character device (mode %06o): not the ummunotify module's node",
				path, (unsigned int)st.st_mode);

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0)
		return fd;
	e = errno;
	if (e == EACCES || e == EPERM) {
		char user[64], group[64];

		owner_names(&st, user, sizeof(user), group, sizeof(group));
		return ummu_why(why, len, -e,
				"open(%s, O_RDONLY): permission denied: the node is mode %04o owner %s group %s, and this process runs as uid %u gid %u (give it read access, e.g. a udev rule with GROUP/MODE, or add the user to group %s)",
				path, (unsigned int)(st.st_mode & 07777), user, group,
				(unsigned int)geteuid(), (unsigned int)getegid(), group);
	}
	if (e == ENXIO || e == ENODEV)
		return ummu_why(why, len, -e,
				"open(%s, O_RDONLY): %s: the node exists but no driver is bound to it (is ummunotify.ko loaded?)",
				path, UMMU_STRERROR(e));
	return ummu_why(why, len, -e, "open(%s, O_RDONLY): %s", path,
			UMMU_STRERROR(e));
}

/* UMMUNOTIFY_EXCHANGE_FEATURES on a fresh fd; *granted gets the kernel's answer. */
static int exchange_features(int fd, const char *path, uint32_t *granted,
			     char *why, size_t len)
{
	__u32 features = WANTED_FEATURES;
	int e;

	while (ioctl(fd, UMMUNOTIFY_EXCHANGE_FEATURES, &features) != 0) {
		e = errno;
		if (e == EINTR)
			continue;
		if (e == ENOTTY || e == EINVAL)
			return ummu_why(why, len, -e,
					"ioctl(%s, UMMUNOTIFY_EXCHANGE_FEATURES, 0x%x): %s: this is not the ummunotify module of this project (too old or another driver)",
					path, (unsigned int)WANTED_FEATURES, UMMU_STRERROR(e));
		return ummu_why(why, len, -e,
				"ioctl(%s, UMMUNOTIFY_EXCHANGE_FEATURES, 0x%x): %s",
				path, (unsigned int)WANTED_FEATURES, UMMU_STRERROR(e));
	}
	/* The kernel answers with a subset; never trust more than we asked. */
	*granted = features & WANTED_FEATURES;
	return 0;
}

int ummu_ummunotify_probe_path(const char *path, char *why, size_t len)
{
	uint32_t granted;
	int fd, ret;

	fd = open_device(path, why, len);
	if (fd < 0)
		return fd;
	ret = exchange_features(fd, path, &granted, why, len);
	close(fd);
	return ret;
}

int ummu_ummunotify_open_path(const char *path, struct ummu_backend **out,
			      char *why, size_t len)
{
	struct ummu_backend *b;
	long page;
	void *p;
	int ret, e;

	*out = NULL;
	page = sysconf(_SC_PAGESIZE);
	if (page <= 0)
		page = 4096;
	b = calloc(1, sizeof(*b));
	if (!b)
		return ummu_why(why, len, -ENOMEM, "out of memory");
	b->page_size = (size_t)page;

	b->fd = open_device(path, why, len);
	if (b->fd < 0) {
		ret = b->fd;
		goto err_free;
	}
	/* Must come first: the module refuses it once the file was used (mapped). */
	ret = exchange_features(b->fd, path, &b->features, why, len);
	if (ret)
		goto err_close;

	p = mmap(NULL, b->page_size, PROT_READ, MAP_SHARED, b->fd, 0);
	if (p == MAP_FAILED) {
		e = errno;
		ret = ummu_why(why, len, -e,
			       "mmap(%s, %zu bytes, PROT_READ, MAP_SHARED): %s",
			       path, b->page_size, UMMU_STRERROR(e));
		goto err_close;
	}
	b->counter = p;
	*out = b;
	return 0;

err_close:
	close(b->fd);
err_free:
	free(b);
	return ret;
}

static int un_probe(char *why, size_t len)
{
	return ummu_ummunotify_probe_path(UMMUNOTIFY_DEVICE, why, len);
}

static int un_open(struct ummu_backend **out, char *why, size_t len)
{
	return ummu_ummunotify_open_path(UMMUNOTIFY_DEVICE, out, why, len);
}

static uint32_t un_capabilities(const struct ummu_backend *b)
{
	uint32_t caps = UMMU_CAP_KERNEL_INVALIDATIONS | UMMU_CAP_UNMAP |
			UMMU_CAP_REMAP | UMMU_CAP_MADVISE |
			UMMU_CAP_MIGRATION_SWAP | UMMU_CAP_PROTECTION;

	/*
	 * Not FORK_CHILD: the module serves only the opener's address space
	 * (EPERM from a child), and a child's own mm is not watched.
	 */
	if (b->features & UMMUNOTIFY_FEATURE_EVENT_CAUSE)
		caps |= UMMU_CAP_EVENT_CAUSE;
	return caps;
}

#define REGION_LIMIT_PARAM "/sys/module/ummunotify/parameters/max_regions_per_file"

/*
 * The module's current per-file limit, for the ENOSPC message (the person
 * reading it wants the number to raise). -1 when sysfs does not say.
 */
static long region_limit(void)
{
	char buf[32];
	ssize_t n;
	char *end;
	long v;
	int fd;

	fd = open(REGION_LIMIT_PARAM, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	v = strtol(buf, &end, 10);
	if (end == buf || v < 0)
		return -1;
	return v;
}

static int un_watch(struct ummu_backend *b, uint64_t start, uint64_t end,
		    uint64_t cookie, char *why, size_t len)
{
	struct ummunotify_register_ioctl r = {
		.start = start,
		.end = end,
		.user_cookie = cookie,
	};
	int e;

	if (start >= end)
		return ummu_why(why, len, -EINVAL,
				"empty or inverted range [0x%llx, 0x%llx)",
				(unsigned long long)start, (unsigned long long)end);
	while (ioctl(b->fd, UMMUNOTIFY_REGISTER_REGION, &r) != 0) {
		e = errno;
		if (e == EINTR)
			continue;
		switch (e) {
		case EINVAL:
			/* Range and flags were checked: the cookie is the culprit. */
			return ummu_why(why, len, -e,
					"cookie %llu is already watched by this file",
					(unsigned long long)cookie);
		case ENOSPC: {
			long limit = region_limit();

			if (limit >= 0)
				return ummu_why(why, len, -e,
						"per-file registration limit of %ld reached (module parameter max_regions_per_file)",
						limit);
			return ummu_why(why, len, -e,
					"per-file registration limit reached (module parameter max_regions_per_file)");
		}
		case ENOMEM:
			return ummu_why(why, len, -e,
					"kernel out of memory (charged to this process's memory cgroup)");
		case EPERM:
			return ummu_why(why, len, -e,
					"the device file belongs to another address space (opened before fork?)");
		default:
			return ummu_why(why, len, -e,
					"ioctl(UMMUNOTIFY_REGISTER_REGION): %s",
					UMMU_STRERROR(e));
		}
	}
	return 0;
}

static int un_unwatch(struct ummu_backend *b, uint64_t cookie)
{
	__u64 c = cookie;

	while (ioctl(b->fd, UMMUNOTIFY_UNREGISTER_REGION, &c) != 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

static ssize_t un_read(struct ummu_backend *b, struct ummunotify_event *buf,
		       size_t max)
{
	ssize_t n;

	if (max == 0)
		return 0;
	if (max > SSIZE_MAX / UMMU_EVENT_SIZE)
		max = SSIZE_MAX / UMMU_EVENT_SIZE;
	for (;;) {
		n = read(b->fd, buf, max * UMMU_EVENT_SIZE);
		if (n >= 0)
			break;
		if (errno == EAGAIN)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
	/* The module returns whole records only; a partial one would be a kernel bug. */
	if (n % UMMU_EVENT_SIZE)
		return -EIO;
	return n / UMMU_EVENT_SIZE;
}

static const volatile uint64_t *un_counter(const struct ummu_backend *b)
{
	return b->counter;
}

static int un_pollfd(const struct ummu_backend *b)
{
	return b->fd;
}

static void un_close(struct ummu_backend *b)
{
	if (!b)
		return;
	munmap((void *)b->counter, b->page_size);
	close(b->fd);
	free(b);
}

/* Whether any of [addr, addr + len) is mapped: msync() fails with ENOMEM on a hole. */
static bool page_mapped(void *addr, size_t len)
{
	return msync(addr, len, MS_ASYNC) == 0 || errno != ENOMEM;
}

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

static pthread_once_t closed_once = PTHREAD_ONCE_INIT;
static int closed_fd = -1;
static size_t closed_len;

/*
 * The process-wide closed page: a memfd of one page holding
 * UMMU_COUNTER_CLOSED at offset 0 (the counter's offset), made once and
 * open for the life of the process (a forked child shares it: it is only
 * ever mapped read-only). Sealed against shrinking, since a mapping beyond
 * the end of the file would SIGBUS the readers, and against later writes.
 * Never F_SEAL_WRITE: before 6.7 (and 6.1 stable until read-only shared
 * mappings of write-sealed memfds were allowed, is_readonly_sealed() in
 * its mm.h), a MAP_SHARED mapping of an O_RDWR memfd with that seal failed
 * in mapping_map_writable() even read-only, and on 6.1 only after the old
 * mapping is gone. F_SEAL_FUTURE_WRITE never refuses a read-only mapping.
 */
static void make_closed_page(void)
{
	uint64_t marker = UMMU_COUNTER_CLOSED;
	long page = sysconf(_SC_PAGESIZE);
	int fd;

	/* vm.memfd_noexec=2 (6.3 to 6.5) refuses a memfd that may be executable. */
	fd = memfd_create("ummu-closed-counter", MFD_CLOEXEC | MFD_NOEXEC_SEAL);
	if (fd < 0 && errno == EINVAL)	/* before 6.3 */
		fd = memfd_create("ummu-closed-counter",
				  MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return;
	if (page <= 0 || ftruncate(fd, page) != 0 ||
	    pwrite(fd, &marker, sizeof(marker), 0) != (ssize_t)sizeof(marker)) {
		close(fd);
		return;
	}
	/* Best effort: the page is right without the seals. */
	(void)fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
		    F_SEAL_FUTURE_WRITE | F_SEAL_SEAL);
	closed_len = (size_t)page;
	closed_fd = fd;
}

/* The closed page's descriptor, or -1 when it cannot be made (seccomp, say). */
static int closed_page_fd(size_t len)
{
	if (pthread_once(&closed_once, make_closed_page) != 0)
		return -1;
	return closed_len == len ? closed_fd : -1;
}

/*
 * A read-only anonymous page holding UMMU_COUNTER_CLOSED, at addr if that
 * is not NULL (only where nothing is mapped: MAP_FIXED_NOREPLACE), else
 * anywhere. Until the marker is written it reads 0, which a reader takes
 * for a change, not for closed.
 */
static void *marked_anon_page(void *addr, size_t len)
{
	void *p;

	p = mmap(addr, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | (addr ? MAP_FIXED_NOREPLACE : 0),
		 -1, 0);
	if (p == MAP_FAILED)
		return p;
	if (addr && p != addr) {	/* a kernel that took NOREPLACE for a hint */
		munmap(p, len);
		errno = EEXIST;
		return MAP_FAILED;
	}
	*(volatile uint64_t *)p = UMMU_COUNTER_CLOSED;
	/* Whole VMA: no split, nothing to allocate; if it fails it stays writable. */
	(void)mprotect(p, len, PROT_READ);
	return p;
}

/*
 * A replacement failed after the kernel had unmapped old (an allocation
 * failure inside it, under OOM). Java's next load from it would crash the
 * JVM, so put a marked page there. Never MAP_FIXED: another thread may have
 * mapped something at old since (the JVM, malloc), which MAP_FIXED would
 * destroy. Returns 0 when old reads the marker again, err when the page
 * could not be made, -EEXIST when another mapping took the address: then
 * this notifier's fast path reads someone else's memory as its counter.
 */
static int repair_hole(void *old, size_t len, int fd, int err)
{
	void *p = MAP_FAILED;

	if (fd >= 0) {
		p = mmap(old, len, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE,
			 fd, 0);
		if (p != MAP_FAILED && p != old) {
			munmap(p, len);
			errno = EEXIST;
			p = MAP_FAILED;
		}
	}
	if (p == MAP_FAILED && (fd < 0 || errno != EEXIST))
		p = marked_anon_page(old, len);
	if (p != MAP_FAILED)
		return 0;
	return errno == EEXIST ? -EEXIST : err;
}

/*
 * Puts a read-only page holding UMMU_COUNTER_CLOSED at counter, in place of
 * the device's page. The module's page cannot be written, and while it is
 * mapped it holds the file, and with it the kernel's context, open: it has
 * to go, yet Java may be loading from the address right now, so the switch
 * must never leave a hole there.
 *
 * First choice: one mmap(MAP_SHARED | MAP_FIXED) of the closed page over
 * the device's. The kernel swaps the VMAs under the mmap write lock, a
 * fault on the old VMA waits for it, so a load sees one page or the other,
 * and the new one holds the marker from the first instant. It replaces
 * exactly one whole VMA: no split, so unlike mremap (which refuses when
 * map_count + 2 >= vm.max_map_count - 3) it does not fail near the VMA
 * limit. What mmap_region() can still fail on, read in the sources:
 * - 6.1 (mm/mmap.c): do_mmap refuses only map_count > max_map_count
 *   (already over the limit); may_expand_vm counts the pages replaced, so
 *   a one-for-one swap passes; a shared read-only mapping is not charged;
 *   an LSM refusal comes before anything changes. Then the old VMA is
 *   unmapped (do_mas_munmap, no split), and only allocation failures of a
 *   vm_area_struct or maple nodes (GFP_KERNEL, in practice only for an
 *   OOM victim), mapping_map_writable() (fails only with F_SEAL_WRITE,
 *   see make_closed_page) or the memfd's mmap (shmem_mmap refuses only
 *   writable mappings of a sealed file) could fail after that: a hole.
 * - 6.12 (mm/mmap.c __mmap_region, mm/vma.c): the same checks, plus
 *   mseal (EPERM, before anything changes). The old VMA is gathered aside
 *   first; a failure before its page tables are cleared (may_expand_vm,
 *   accounting) puts it back (vms_abort_munmap_vmas), one after
 *   (vm_area_alloc, vma_iter_prealloc, the file's mmap: the same
 *   allocations) still leaves a hole.
 * So a hole is possible on both only under a failing kernel allocation,
 * which repair_hole() then covers.
 *
 * Fallback, when the memfd cannot be made (seccomp refusing memfd_create)
 * or the mmap failed with the device's page still there: an anonymous page
 * is made aside, marked, and moved over the old one by one
 * mremap(MREMAP_FIXED), which unmaps the old page and moves the new one
 * under a single hold of the mmap lock. That one does fail near
 * vm.max_map_count: the page then keeps its last counter value.
 */
static int retire_page(const volatile uint64_t *counter, size_t len)
{
	void *old = (void *)(uintptr_t)counter;
	int fd = closed_page_fd(len);
	void *p;
	int e;

	if (fd >= 0) {
		if (mmap(old, len, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) !=
		    MAP_FAILED)
			return 0;
		e = errno;
		if (!page_mapped(old, len))
			return repair_hole(old, len, fd, -e);
	}
	p = marked_anon_page(NULL, len);
	if (p == MAP_FAILED)
		return -errno;
	if (mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, old) != MAP_FAILED)
		return 0;
	e = errno;
	munmap(p, len);
	/* The kernel checks what can fail before it unmaps the target, but not all. */
	if (!page_mapped(old, len))
		return repair_hole(old, len, fd, -e);
	return -e;
}

/*
 * With the device's page gone (or, if that failed, once Java unmaps it), the
 * file's last reference goes and the module frees the context: its
 * registrations, its queue.
 */
static int un_retire(struct ummu_backend *b)
{
	int ret;

	if (!b)
		return -EINVAL;
	ret = retire_page(b->counter, b->page_size);
	close(b->fd);
	free(b);
	return ret;
}

const struct ummu_backend_ops ummu_ummunotify_ops = {
	.name = "ummunotify",
	.probe = un_probe,
	.open = un_open,
	.capabilities = un_capabilities,
	.watch = un_watch,
	.unwatch = un_unwatch,
	.read = un_read,
	.counter = un_counter,
	.pollfd = un_pollfd,
	.close = un_close,
	.retire = un_retire,
};
