// SPDX-License-Identifier: Apache-2.0
/*
 * The userfaultfd backend: kernel-reported unmaps on stock kernels (>= 6.7)
 * without the ummunotify module.
 *
 * How: one userfaultfd per process, with UFFD_FEATURE_WP_ASYNC and
 * EVENT_UNMAP | EVENT_REMOVE | EVENT_REMAP, shared by every open notifier
 * (struct uffd_core; the kernel lets only one userfaultfd register a VMA, so
 * notifiers with a descriptor each could not watch the same memory). Each
 * notifier (struct ummu_backend) has its own counter page, pollfd, cookies
 * and record queue; the watches of all of them live in one interval tree, so
 * an event reaches exactly the watches, of every notifier, whose bytes it
 * touches, and a registration stays while any of them needs it. Watched
 * memory is registered in write-protect mode only and no page is ever
 * write-protected (the only UFFDIO_WRITEPROTECT we issue has an empty range:
 * events_in_flight()), so no access ever faults into userfaultfd and no
 * thread ever blocks on one. What remains are the non-cooperative events,
 * which the kernel sends for every registered VMA:
 *   UFFD_EVENT_UNMAP  munmap, MAP_FIXED over, mremap shrink, brk shrink
 *                     -> UMMU_CAUSE_UNMAP (UMMUNOTIFY_CAUSE_UNMAP)
 *   UFFD_EVENT_REMAP  mremap moved the range away: the old range is reported
 *                     -> UMMU_CAUSE_REMAP (the kernel follows it with an
 *                     UNMAP of the same range; both go into one record,
 *                     which then carries REMAP | UNMAP and keeps its hint)
 *   UFFD_EVENT_REMOVE madvise(MADV_DONTNEED/MADV_FREE/MADV_REMOVE)
 *                     -> UMMU_CAUSE_REMOVE
 *
 * What it cannot see (hence no KERNEL_INVALIDATIONS, MIGRATION_SWAP,
 * PROTECTION or FORK_CHILD capability): page migration and NUMA balancing,
 * swap-out, reclaim, KSM and THP collapse (none of them is a userfaultfd
 * event); shmdt() (the kernel passes no userfaultfd context on that path);
 * truncation of a mapped file (pages vanish without an event); mprotect();
 * and the forked child: EVENT_FORK is not requested (it would make every
 * fork() wait for our reader and needs CAP_SYS_PTRACE), so the kernel drops
 * the registration in the child and the child is not monitored at all.
 * A notifier inherited by a child is the parent's: its userfaultfd acts on
 * the parent's mm, its stopfd is the parent's open file, its reader does
 * not exist here. So in the child watch/unwatch/read fail with EPERM (the
 * module's errno for a foreign mm) and close frees only the child's copies
 * (eventfd, counter page), never the core (see foreign()).
 *
 * Registration granularity. userfaultfd registers pages and a registration
 * whose bounds fall inside a VMA splits it; one split per watch would run a
 * process with 100 000 watches into vm.max_map_count. So we register whole
 * VMAs (a "region": the VMA containing the watch at the time, clipped against
 * regions we already hold), share a region between every watch that falls in
 * it, and unregister a region only when no watch overlaps it any more. The
 * watch interval tree is the reference count: "does any watch overlap this
 * region" is one O(log n) query, and it also counts watches that belong to a
 * region the reader retired (see below), which a per-region counter would
 * miss. Registering the whole VMA has side effects we accept: another
 * userfaultfd user in the process gets EBUSY for the rest of that VMA, and
 * khugepaged does not collapse registered VMAs.
 *
 * Never split a VMA ourselves: an application's mremap() of its own
 * mapping fails with EFAULT when the range is two VMAs. Registering and
 * unregistering cut a VMA that crosses the range's ends, so
 *   - we unregister whole VMAs only (unregister_range()): one reaching
 *     beyond the range waits in limbo while a watch or live region
 *     overlaps it, and goes whole once nothing does;
 *   - a registration is checked after the fact (uffd_watch()): the VMA
 *     lookup and UFFDIO_REGISTER are two steps, and another thread may
 *     map across the looked-up VMA's edge in between. If the layout at
 *     the edges changed so that something may have been cut, what we
 *     registered there is unregistered again where nothing relies on it
 *     (the kernel merges a cut piece back as it clears the flags:
 *     unregister_inside() says which cuts that cannot repair) and the
 *     lookup is repeated. Until the check passes the region is
 *     tentative: no other watch may rely on it.
 *
 * When an UNMAP or REMAP hits a region, the kernel has dropped those pages'
 * registration; the reader retires the region (conservatively, whole) so
 * that a new mapping at the same address is registered afresh. Surviving
 * parts of a retired region stay registered in the kernel; a watch that
 * needs them re-registers them (a no-op in the kernel, no split), and once
 * no watch overlaps them a watching thread unregisters what no live region
 * covers (reap()). The same goes for the new address of a VMA that mremap
 * moved: the kernel keeps our registration on it. A region an UNMAP took
 * whole has no surviving part and is simply freed.
 *
 * Threads and locks (the kernel blocks an unmapping thread until its event
 * has been read from the userfaultfd, so everything below exists to make
 * sure the reader can always read):
 *   reader    a pthread created by the first open. It poll()s, bumps the counters,
 *             read()s events into a buffer preallocated inside the backend,
 *             and only then takes `lock`. It never calls malloc/free/munmap/madvise, never
 *             touches watched memory through a faulting access that could
 *             wait (nothing is ever write-protected), never calls the JVM.
 *   lock      protects the watch trees, every notifier's queue, the region tree.
 *             Nobody holds it across a system call that can free or unmap
 *             memory, across malloc/free, or across a userfaultfd ioctl: the
 *             only syscalls made under it are eventfd reads and writes.
 *   core_mutex  (global) creates and destroys the core, counts its users
 *             and links notifiers in and out of its list; taken before
 *             reg_lock and lock. The reader never takes it.
 *   reg_lock  serializes the decisions to register/unregister regions with
 *             the ioctls that carry them out, so they reach the kernel in the
 *             order they were decided. It is held across UFFDIO_REGISTER,
 *             UFFDIO_UNREGISTER, the VMA lookup and malloc/free. The reader
 *             never takes it, so a holder that blocks (UFFDIO_REGISTER takes
 *             the mmap write lock and can wait for it; a free() under it can
 *             munmap a watched range and wait for the reader) only ever waits
 *             for things that make progress without it. Order: reg_lock
 *             before lock.
 *   Can UFFDIO_REGISTER block? It takes mmap_write_lock(), so it waits for
 *   any mmap_lock holder. No kernel path waits for our reader while holding
 *   mmap_lock: munmap/mremap queue their event under the lock and wait for
 *   completion only after mmap_write_unlock(), madvise drops mmap_read_lock()
 *   before waiting for a REMOVE, and with EVENT_FORK off fork never waits.
 *   So it blocks only for a bounded time; we still keep `lock` out of it so
 *   the reader is never delayed by it.
 *
 * Ordering of the counter against munmap() returning: the module's
 * guarantee, kept. The kernel (fs/userfaultfd.c, userfaultfd_ctx_read() ->
 * userfaultfd_event_complete()) lets the unmapping thread go when its event
 * is dequeued inside our read(2), before we know what the event is. So the
 * reader bumps the counter (release) *before* read(2), speculatively (the
 * counter of every open notifier: it cannot know whose watches the event
 * hits), and
 * reads one event per read(2), only after poll() has shown it queued: the
 * kernel hands out the oldest event, so the one read was queued before the
 * bump, hence after its thread entered munmap(), and that thread, once
 * munmap() has returned, loads the counter (acquire) and sees it moved (the
 * kernel's wait-queue lock orders our store before its wake-up). A read of
 * several events at once would break this: one queued after the bump could
 * come with them. The record is queued a moment later; a drain cannot miss
 * it, because the reader's sequence (core->seq, in our own memory) is odd
 * from before the bump until the record is queued, ops->read waits for an
 * odd value to change before it looks, and the generation its LAST reports
 * is the counter loaded before that wait (uffd_read() says why). So the
 * counter moves once per event the reader reads. The price: an event that
 * hits no watch (an unmap or madvise in the unwatched part of a registered
 * VMA, the UNMAP that follows an mremap's REMAP) still moved it: a false
 * positive, which costs the caller one drain that finds nothing. Unmaps of
 * memory we never registered send no event and leave the counter alone.
 * uffd_stress checks, for every unmap of a watched range, that the counter
 * had moved when munmap returned.
 *
 * The region tree can lag the kernel: munmap() removes the VMA and drops
 * mmap_lock before it queues its event, so a new mapping at the same address
 * can be watched while the old region still claims it. watch() therefore
 * first waits until no event of ours is in flight (settle(), using the
 * kernel's mmap_changing count, which self_test() checks at open, refusing
 * the backend if it fails; it never proceeds without that barrier: it
 * refuses with EAGAIN instead), and a
 * new region is published before it is checked against the VMA, so that an
 * unmap racing with its registration either retires it or shows.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <linux/userfaultfd.h>

#include "ummu_backend.h"
#include "uffd_internal.h"
#include "uffd_tree.h"

/* The build machine's headers may predate the features we need. */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif
#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

/* PROCMAP_QUERY (Linux 6.11): the VMA containing an address, in O(log n). */
struct uffd_procmap_query {
	uint64_t size;
	uint64_t query_flags;
	uint64_t query_addr;
	uint64_t vma_start;
	uint64_t vma_end;
	uint64_t vma_flags;
	uint64_t vma_page_size;
	uint64_t vma_offset;
	uint64_t inode;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint32_t vma_name_size;
	uint32_t build_id_size;
	uint64_t vma_name_addr;
	uint64_t build_id_addr;
};
#define UFFD_PROCMAP_QUERY _IOWR('f', 17, struct uffd_procmap_query)

/*
 * Required: WP_ASYNC (writes to registered memory never wait) and the three
 * non-cooperative events. WP_UNPOPULATED is implied by WP_ASYNC. We ask for
 * WP_HUGETLBFS_SHMEM when offered: with WP_ASYNC and write-protect-only
 * registration the kernel accepts any memory type (vma_can_userfault()), but
 * kernels that check shmem/hugetlbfs separately want the bit.
 */
#define UFFD_REQUIRED (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_EVENT_UNMAP | \
		       UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_REMAP)
#define UFFD_OPTIONAL (UFFD_FEATURE_WP_HUGETLBFS_SHMEM | \
		       UFFD_FEATURE_WP_UNPOPULATED)


/*
 * watch()'s attempts at registering a VMA whose layout keeps changing. Each
 * attempt ends with settle(), which may wait up to UFFD_SETTLE_LIMIT_NS, all
 * under reg_lock: in the worst case (a process that keeps unmapping or
 * madvising registered memory with barely a pause) one watch() takes about
 * 8 x 5 s = 40 s, and every watch() that needs a registration, unwatch()
 * and close() waits behind it. Watches inside live regions (the fast path)
 * and the reader never wait for reg_lock.
 */
#define UFFD_REG_ATTEMPTS 8
#define UFFD_READER_STACK (256 * 1024)
#define UFFD_ORPHANS 256
#define UFFD_REAP_BUDGET 16
/* settle(): yields, then 50 us naps; refuses after 5 s of events in flight. */
#define UFFD_SETTLE_YIELDS 64
#define UFFD_SETTLE_LIMIT_NS 5000000000LL

struct uffd_core;

/*
 * One open notifier. Everything it shares with the other notifiers of the
 * process (the userfaultfd, the reader, the watch and region trees) is in
 * the core; what is its own is its counter page, its pollfd, its cookies and
 * its queue of records (both under the core's lock).
 */
struct ummu_backend {
	struct uffd_core *core;
	struct ummu_backend *next;	/* core->notifiers; the reader follows it */
	int evfd;		/* pollfd: readable while records are pending */
	volatile uint64_t *counter;	/* its page; [0] the counter */
	/* under core->lock: */
	struct uffd_node *cookies;	/* its watches, by cookie */
	struct uffd_watch *qhead, *qtail;
	bool need_last;		/* an INVAL was read since the last LAST */
	bool signalled;		/* evfd holds a count */
};

struct uffd_watch {
	struct uffd_node range;	/* key = start, key2 = id, end = end */
	struct uffd_node byck;	/* key = cookie, in its owner's tree */
	struct ummu_backend *owner;
	uint64_t start, end, cookie;
	/* Event record, coalesced in place (no allocation in the reader). */
	struct uffd_watch *qnext, *qprev;
	bool queued;
	uint64_t remap_seq;	/* reader event number of the last REMAP hit */
	uint32_t flags;
	uint64_t hint_start, hint_end;
};

struct uffd_region {
	struct uffd_node node;	/* key = start, end = end */
	struct uffd_region *next;	/* retired list / local lists */
	/*
	 * Under lock: registered, but the layout it was registered against
	 * is not yet checked (uffd_watch()); covers nothing for first_gap().
	 */
	bool tentative;
	/*
	 * Set by the reader as it retires the region for an UNMAP that covered
	 * all of it: nothing it registered is left, so nothing relies on it
	 * and limbo_collect() frees it. Never for a REMAP, which leaves the
	 * old range mapped and registered under MREMAP_DONTUNMAP; never for a
	 * tentative region, whose UFFDIO_REGISTER may have come after that
	 * unmap and registered a new mapping (a live one was registered
	 * before any event it meets: settle() ran in between).
	 */
	bool gone;
};

/*
 * The process-wide part: one userfaultfd and one reader for every open
 * notifier (a VMA can be registered with only one userfaultfd, so two
 * descriptors could not both watch memory in one VMA). Created by the first
 * open, torn down by the last close (core_mutex, users).
 */
struct uffd_core {
	int uffd;
	int stopfd;		/* wakes the reader at close */
	int mapsfd;		/* /proc/self/maps, for VMA lookups */
	pid_t pid;		/* the process that created it (fork check) */
	unsigned int users;	/* open notifiers, under core_mutex */
	bool changing_probe;	/* self_test() passed: settle() sees events in flight */
	bool procmap_query;	/* PROCMAP_QUERY works on mapsfd */
	uint64_t features;
	long page;
	uint32_t seq;		/* odd while the reader reads and processes */
	uint32_t seq_waiters;
	/*
	 * Open notifiers, whose counters the reader bumps before each read.
	 * Changed under core_mutex and lock; the reader walks it without a
	 * lock (a removed notifier is freed only after the reader's batch in
	 * progress, if any, is over).
	 */
	struct ummu_backend *notifiers;
	pthread_t reader;
	bool reader_started;
	char *stack;		/* the reader's, between two guard pages */
	size_t stack_len;	/* with the guards */

	pthread_mutex_t reg_lock;
	pthread_mutex_t lock;
	/* under lock: */
	struct uffd_node *watches;	/* every notifier's, by range */
	uint64_t next_id;	/* tie-breaker key of watches with one start */
	struct uffd_node *regions;	/* live registered regions, disjoint */
	struct uffd_region *retired;	/* retired by the reader, to reap */
	/* Where mremap moved registered VMAs to: registered, untracked. */
	struct {
		uint64_t s, e;
	} orphans[UFFD_ORPHANS];
	unsigned int norphans;
	/* under reg_lock: retired regions whose pages may still be registered */
	struct uffd_region *limbo, *limbo_tail;
	uint32_t rng;
	uint64_t batches;	/* events read (counter bumps) */
	uint64_t idle_batches;	/* ... of which hit no watch */
	uint64_t settle_waits;	/* settle() saw events in flight (atomic) */
	uint64_t settle_giveups;	/* settle() timed out (atomic) */
	/*
	 * Attempts undone (reg_lock): the layout changed, an event retired
	 * the tentative region, or settle() gave up.
	 */
	uint64_t layout_changes;
	/*
	 * uffd_backend_gate(): holds the reader before read(2) (1) or
	 * between read(2) and queueing the record (2), for tests
	 */
	pthread_mutex_t gate;
	int gate_closed;

	/* reader only: */
	uint64_t nevents;	/* events handled so far */
	uint64_t remap_s, remap_e;	/* the REMAP that was the last event */
	struct uffd_msg msg;
};

static pthread_mutex_t core_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct uffd_core *the_core;	/* under core_mutex */

/*
 * Called from a process that is not the core's (a fork() child holding the
 * parent's notifier). Everything the core points to acts on the parent:
 * its descriptors are the parent's open files, its userfaultfd the
 * parent's mm, its reader the parent's thread.
 */
static bool foreign(const struct uffd_core *c)
{
	return c->pid != getpid();
}

/*
 * fork(): core_mutex is held across it (so the child's copy of the_core is
 * not half-made), and the child forgets the core and closes its references
 * to the core's descriptors, so that a new open in the child starts afresh
 * and nothing of the child's keeps the parent's userfaultfd alive. The
 * parent's notifiers the child inherited keep their pointer to the copy and
 * only refuse (foreign()).
 */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&core_mutex);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&core_mutex);
}

static void atfork_child(void)
{
	struct uffd_core *c = the_core;

	if (c) {
		close(c->uffd);
		close(c->stopfd);
		close(c->mapsfd);
		the_core = NULL;
	}
	pthread_mutex_unlock(&core_mutex);
}

static void register_atfork(void)
{
	/* Fails only with ENOMEM; the pid checks still hold without it. */
	(void)pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static const char *errname(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ENOMEM: return "ENOMEM";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EINVAL: return "EINVAL";
	case ENOSYS: return "ENOSYS";
	case EACCES: return "EACCES";
	case EMFILE: return "EMFILE";
	case ENFILE: return "ENFILE";
	case EAGAIN: return "EAGAIN";
	case ENOTTY: return "ENOTTY";
	case ENODEV: return "ENODEV";
	default: return "errno";
	}
}

static void say(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* ---- descriptor creation and feature probe ---- */

/*
 * The syscall first (UFFD_USER_MODE_ONLY works with
 * vm.unprivileged_userfaultfd=0), then /dev/userfaultfd, which a container's
 * seccomp profile may leave open while it refuses the syscall.
 */
static int uffd_create(char *why, size_t len)
{
	int flags = O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY;
	int fd, sys_err, dev_err, dev;

	fd = (int)syscall(SYS_userfaultfd, flags);
	if (fd >= 0)
		return fd;
	sys_err = errno;
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
		dev_err = errno;
		close(dev);
		if (fd >= 0)
			return fd;
	} else {
		dev_err = errno;
	}
	if (sys_err == ENOSYS)
		say(why, len,
		    "userfaultfd(2): ENOSYS, the kernel lacks CONFIG_USERFAULTFD or a seccomp filter refuses the call; /dev/userfaultfd: %s (%s)",
		    errname(dev_err), strerror(dev_err));
	else if (sys_err == EPERM)
		say(why, len,
		    "userfaultfd(2): EPERM, refused by a seccomp filter or security module (container runtimes' default profiles do this; UFFD_USER_MODE_ONLY needs no privilege); /dev/userfaultfd: %s (%s)",
		    errname(dev_err), strerror(dev_err));
	else if (sys_err == EACCES)
		say(why, len,
		    "userfaultfd(2): EACCES, refused by a security module (SELinux/AppArmor policy on anonymous inodes); /dev/userfaultfd: %s (%s)",
		    errname(dev_err), strerror(dev_err));
	else if (sys_err == EINVAL)
		say(why, len,
		    "userfaultfd(2): EINVAL, kernel older than 5.11 (no UFFD_USER_MODE_ONLY); /dev/userfaultfd: %s (%s)",
		    errname(dev_err), strerror(dev_err));
	else
		say(why, len, "userfaultfd(2): %s (%s); /dev/userfaultfd: %s (%s)",
		    errname(sys_err), strerror(sys_err), errname(dev_err),
		    strerror(dev_err));
	return -sys_err;
}

static void name_missing(uint64_t missing, char *buf, size_t len)
{
	static const struct {
		uint64_t bit;
		const char *name;
	} names[] = {
		{ UFFD_FEATURE_WP_ASYNC, "WP_ASYNC (Linux 6.7)" },
		{ UFFD_FEATURE_EVENT_UNMAP, "EVENT_UNMAP" },
		{ UFFD_FEATURE_EVENT_REMOVE, "EVENT_REMOVE" },
		{ UFFD_FEATURE_EVENT_REMAP, "EVENT_REMAP" },
	};
	size_t i, off = 0;

	buf[0] = 0;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(missing & names[i].bit))
			continue;
		off += snprintf(buf + off, off < len ? len - off : 0, "%s%s",
				off ? ", " : "", names[i].name);
		if (off >= len)
			break;
	}
}

/*
 * Opens a userfaultfd with our features. The supported set is learnt on a
 * throwaway descriptor (UFFDIO_API may be issued once per descriptor), so
 * that the refusal can name exactly what is missing.
 */
static int uffd_open_fd(uint64_t *features, char *why, size_t len)
{
	struct uffdio_api api;
	struct utsname u;
	uint64_t want;
	char missing[160];
	int fd, e;

	fd = uffd_create(why, len);
	if (fd < 0)
		return fd;
	memset(&api, 0, sizeof(api));
	api.api = UFFD_API;
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		e = errno;
		close(fd);
		say(why, len, "UFFDIO_API(features=0): %s (%s)", errname(e),
		    strerror(e));
		return -e;
	}
	close(fd);
	if ((api.features & UFFD_REQUIRED) != UFFD_REQUIRED) {
		name_missing(UFFD_REQUIRED & ~api.features, missing,
			     sizeof(missing));
		if (uname(&u) < 0)
			strcpy(u.release, "?");
		say(why, len,
		    "userfaultfd lacks %s on kernel %s (needs Linux >= 6.7 with WP_ASYNC)",
		    missing, u.release);
		return -EOPNOTSUPP;
	}
	want = UFFD_REQUIRED | (api.features & UFFD_OPTIONAL);

	fd = uffd_create(why, len);
	if (fd < 0)
		return fd;
	memset(&api, 0, sizeof(api));
	api.api = UFFD_API;
	api.features = want;
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		e = errno;
		close(fd);
		say(why, len, "UFFDIO_API(features=0x%" PRIx64 "): %s (%s)",
		    want, errname(e), strerror(e));
		return -e;
	}
	*features = api.features;
	return fd;
}

static int uffd_open(struct ummu_backend **out, char *why, size_t len);
static void uffd_close(struct ummu_backend *b);

/*
 * A full open (feature probe, self test, reader thread) and close: what
 * makes open fail is exactly what makes the backend unavailable.
 */
static int uffd_probe(char *why, size_t len)
{
	struct ummu_backend *b;
	int ret = uffd_open(&b, why, len);

	if (ret)
		return ret;
	uffd_close(b);
	return 0;
}

/* ---- VMA lookup ---- */

#define UFFD_PROCMAP_QUERY_COVERING_OR_NEXT_VMA 0x10

/* What a VMA lookup tells: bounds, and what decides whether two could merge. */
struct vma_info {
	uint64_t s, e;
	uint64_t off;		/* file offset of s; 0 if anonymous */
	uint64_t ino;		/* 0 for anonymous memory */
	uint32_t dev;
	uint32_t prot;		/* PROCMAP_QUERY_VMA_*: r 1, w 2, x 4, s 8 */
};

/*
 * A neighbour of a looked-up VMA: the VMA right next to it, or none.
 * Taken before UFFDIO_REGISTER and again after it, to tell whether the
 * layout at the range's edges changed meanwhile (uffd_watch()).
 */
struct vma_edge {
	int err;		/* 0: v is the VMA; -ENOENT: none */
	struct vma_info v;
};

/* One line of /proc/self/maps; false if it is not one. */
static bool maps_line(const char *line, struct vma_info *v)
{
	unsigned long long s, e, off = 0, ino = 0;
	unsigned int maj = 0, min = 0;
	char perms[8] = "";

	if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &s, &e, perms, &off,
		   &maj, &min, &ino) < 2)
		return false;
	v->s = s;
	v->e = e;
	v->off = off;
	v->ino = ino;
	v->dev = maj << 20 | min;
	v->prot = (perms[0] == 'r') | (perms[1] == 'w') << 1 |
		  (perms[2] == 'x') << 2 | (perms[3] == 's') << 3;
	return true;
}

static int procmap_query(struct uffd_core *b, uint64_t addr, bool next,
			 struct vma_info *v)
{
	struct uffd_procmap_query q;

	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_addr = addr;
	q.query_flags = next ? UFFD_PROCMAP_QUERY_COVERING_OR_NEXT_VMA : 0;
	if (ioctl(b->mapsfd, UFFD_PROCMAP_QUERY, &q) < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	v->s = q.vma_start;
	v->e = q.vma_end;
	v->off = q.vma_offset;
	v->ino = q.inode;
	v->dev = q.dev_major << 20 | q.dev_minor;
	v->prot = (uint32_t)q.vma_flags & 15;
	return 0;
}

/*
 * *v := the VMA containing addr, or with next, the first VMA that ends
 * above addr. -ENOENT when there is none. With below and above (not with
 * next), also the VMAs that end exactly at v->s and start exactly at v->e
 * (-ENOENT in their err where there is none), from the same read of
 * /proc/self/maps before Linux 6.11: one pass instead of three keeps the
 * time between a lookup and the registration it is for, and so the
 * window for another thread's change, short. Called under reg_lock only
 * (may allocate).
 */
static int vma_lookup(struct uffd_core *b, uint64_t addr, bool next,
		      struct vma_info *v, struct vma_edge *below,
		      struct vma_edge *above)
{
	struct vma_info prev = { 0 }, cur;
	char *buf;
	size_t cap = 1 << 16, have = 0, i;
	ssize_t n;
	bool found = false, have_prev = false;
	int ret = -ENOENT;

	if (below) {
		memset(below, 0, sizeof(*below));
		below->err = -ENOENT;
	}
	if (above) {
		memset(above, 0, sizeof(*above));
		above->err = -ENOENT;
	}
	if (b->procmap_query) {
		ret = procmap_query(b, addr, next, v);
		if (ret)
			return ret;
		if (below && v->s)
			below->err = procmap_query(b, v->s - 1, false,
						   &below->v);
		if (above)
			above->err = procmap_query(b, v->e, false, &above->v);
		return 0;
	}

	/* Before Linux 6.11: scan /proc/self/maps, one line at a time. */
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	if (lseek(b->mapsfd, 0, SEEK_SET) < 0) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		n = read(b->mapsfd, buf + have, cap - have - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto out;
		}
		have += (size_t)n;
		buf[have] = 0;
		i = 0;
		for (;;) {
			char *line = buf + i, *nl = memchr(line, '\n', have - i);

			if (!nl)
				break;
			i = (size_t)(nl - buf) + 1;
			if (!maps_line(line, &cur))
				continue;
			if (found) {
				/* The line after v's. */
				if (cur.s == v->e) {
					above->err = 0;
					above->v = cur;
				}
				goto out;
			}
			if ((next || cur.s <= addr) && addr < cur.e) {
				*v = cur;
				ret = 0;
				if (below && have_prev && prev.e == cur.s) {
					below->err = 0;
					below->v = prev;
				}
				if (!above)
					goto out;
				found = true;
				continue;
			}
			prev = cur;
			have_prev = true;
		}
		memmove(buf, buf + i, have - i);
		have -= i;
		if (n == 0)
			break;
	}
out:
	free(buf);
	return ret;
}

static int vma_find_info(struct uffd_core *b, uint64_t addr, bool next,
			 struct vma_info *v)
{
	return vma_lookup(b, addr, next, v, NULL, NULL);
}

static int vma_find(struct uffd_core *b, uint64_t addr, bool next,
		    uint64_t *vs, uint64_t *ve)
{
	struct vma_info v;
	int ret = vma_find_info(b, addr, next, &v);

	if (!ret) {
		*vs = v.s;
		*ve = v.e;
	}
	return ret;
}

/*
 * Under reg_lock: unregisters [s, e) one VMA at a time. UFFDIO_UNREGISTER
 * refuses a whole range (EINVAL, nothing done) when any VMA in it is of a
 * kind userfaultfd cannot handle, such as a file mapping that now sits where
 * our memory was; per VMA, only that piece fails. Unregistering a VMA that
 * is not registered is a no-op.
 *
 * Never part of a VMA: that would split it, one VMA more, and an mremap()
 * of the whole VMA by the application would fail with EFAULT (a move may
 * not span two VMAs). [s, e) is what we once registered; a VMA reaching
 * beyond it now is a newer one, or one the kernel merged with a registered
 * neighbour. While a watch or a live region overlaps such a VMA it is left
 * alone (a watch elsewhere in it relies on the registered remains of a
 * retired region) and false is returned: the caller keeps the range in
 * limbo until nothing overlaps the VMA. Otherwise nobody relies on any of
 * it and the whole VMA is unregistered.
 */
static bool unregister_range(struct uffd_core *b, uint64_t s, uint64_t e)
{
	struct uffdio_range range;
	uint64_t cur = s, vs, ve;
	bool done = true, busy;

	while (cur < e && vma_find(b, cur, true, &vs, &ve) == 0 && vs < e) {
		if (vs < cur || ve > e) {
			pthread_mutex_lock(&b->lock);
			busy = uffd_tree_any_overlap(b->watches, vs, ve) ||
			       uffd_tree_any_overlap(b->regions, vs, ve);
			pthread_mutex_unlock(&b->lock);
			if (busy) {
				done = false;
				cur = ve;
				continue;
			}
		}
		range.start = vs;
		range.len = ve - vs;
		ioctl(b->uffd, UFFDIO_UNREGISTER, &range);
		cur = ve;
	}
	return done;
}

static bool vma_edge_same(const struct vma_edge *x, const struct vma_edge *y)
{
	/* A lookup that failed otherwise than ENOENT proves nothing. */
	if (x->err != y->err || (x->err && x->err != -ENOENT))
		return false;
	/*
	 * Not only the bounds: a piece cut off a new mapping can have exactly
	 * the bounds of the VMA that was there before (it replaced it and
	 * crossed the edge). What tells them apart is what tells mappings
	 * apart; what remains blind is a new mapping of the same kind in the
	 * same place (anonymous with the same protection, or the same file
	 * at the same offset).
	 */
	return x->v.s == y->v.s && x->v.e == y->v.e &&
	       x->v.prot == y->v.prot && x->v.ino == y->v.ino &&
	       x->v.dev == y->v.dev && x->v.off == y->v.off;
}

/*
 * Could lo and hi, adjacent, be the two pieces of one mapping? Same
 * protection, same file (or both anonymous) at contiguous offsets. (The
 * anonymous VMA a piece shares with its sibling is not shown, so two
 * fresh anonymous mappings side by side look like pieces too.)
 */
static bool vma_pieces(const struct vma_info *lo, const struct vma_info *hi)
{
	return lo->e == hi->s && lo->prot == hi->prot && lo->dev == hi->dev &&
	       lo->ino == hi->ino &&
	       (!lo->ino || lo->off + (lo->e - lo->s) == hi->off);
}

/*
 * Under reg_lock, lock not held: may unregistering [s, e) take a watch's
 * events away? Only if a watch overlaps it and something registered there
 * before may still be: the surviving part of a retired region (retired or
 * limbo, unless an unmap took it whole) or a VMA mremap moved there. Those
 * lists are where every registration we made and no live region tracks is
 * kept (a live region cannot overlap a range watch() is registering; an
 * orphan the full array did not keep was registered for no watch there).
 * A watch over anything else sits on a range whose mapping is gone (its
 * record was queued): a new mapping there was never registered for it.
 * Linear in retired, limbo and orphans: only the undo of a failed
 * registration asks.
 */
static bool relied_on(struct uffd_core *b, uint64_t s, uint64_t e)
{
	const struct uffd_region *r;
	bool busy = false;
	unsigned int i;

	pthread_mutex_lock(&b->lock);
	if (uffd_tree_any_overlap(b->watches, s, e)) {
		for (r = b->retired; r && !busy; r = r->next)
			busy = !r->gone && r->node.key < e && r->node.end > s;
		for (r = b->limbo; r && !busy; r = r->next)
			busy = !r->gone && r->node.key < e && r->node.end > s;
		for (i = 0; i < b->norphans && !busy; i++)
			busy = b->orphans[i].s < e && b->orphans[i].e > s;
	}
	pthread_mutex_unlock(&b->lock);
	return busy;
}

/* Under reg_lock: does a VMA mremap moved, and we noted, cross addr? */
static bool orphan_across(struct uffd_core *b, uint64_t addr)
{
	bool across = false;
	unsigned int i;

	pthread_mutex_lock(&b->lock);
	for (i = 0; i < b->norphans && !across; i++)
		across = b->orphans[i].s < addr && addr < b->orphans[i].e;
	pthread_mutex_unlock(&b->lock);
	return across;
}

/*
 * Under reg_lock, lock not held: UFFDIO_REGISTER of [rs, re) met another
 * layout than the lookup (below0, above0: the VMAs on either side then) it
 * was computed from, and may have split a mapping that now crosses rs or re:
 * the registration stops there, and a registered piece and an unregistered
 * one cannot be one VMA. Unregisters what it registered where nothing relies
 * on it (relied_on()); the kernel merges each VMA it clears with compatible
 * neighbours (userfaultfd_clear_vma() -> vma_modify_flags_uffd()), which
 * makes a split mapping whole again. The caller then looks up afresh.
 *
 * A VMA inside [rs, re) goes whole. A VMA reaching beyond rs or re is our
 * registration merged into a registered neighbour: unregistering all of it
 * would take the neighbour's registration, so only [rs, re) of it goes, and
 * only where the lookup saw a VMA end exactly there (below0 ending at rs,
 * above0 starting at re, and the merged VMA starting or ending where that
 * one did): the split recreates a boundary that was there, and the part of
 * ours merges back into the piece cut off. Where the lookup saw no such
 * boundary, or a VMA mremap moved crosses it, the merge may not be ours
 * alone and the VMA stays as it is. What that leaves: a registered VMA
 * grown in place across rs or re by mremap() between the lookup and the
 * registration (no event tells) while the check failed; we would split it.
 *
 * Returns true when nothing of [rs, re) is left registered.
 */
static bool unregister_inside(struct uffd_core *b, uint64_t rs, uint64_t re,
			      const struct vma_edge *below0,
			      const struct vma_edge *above0)
{
	struct uffdio_range range;
	uint64_t cur = rs, vs, ve, us, ue;
	bool all = true;

	while (cur < re && vma_find(b, cur, true, &vs, &ve) == 0 && vs < re) {
		us = vs;
		ue = ve;
		if (vs < rs && !below0->err && below0->v.e == rs &&
		    below0->v.s == vs && !orphan_across(b, rs))
			us = rs;
		if (ve > re && !above0->err && above0->v.s == re &&
		    above0->v.e == ve && !orphan_across(b, re))
			ue = re;
		if (us >= rs && ue <= re && !relied_on(b, us, ue)) {
			range.start = us;
			range.len = ue - us;
			if (ioctl(b->uffd, UFFDIO_UNREGISTER, &range) < 0)
				all = false;
		} else {
			all = false;
		}
		cur = ve;
	}
	return all;
}

/*
 * Is an UNMAP/REMAP/REMOVE of ours in flight, i.e. prepared by the kernel
 * and not yet read, or read but its thread not yet resumed? 1 yes, 0 no,
 * -1 the probe cannot tell.
 *
 * The kernel counts such events in ctx->mmap_changing from their
 * preparation (munmap: under mmap_lock, before the VMA goes) until the
 * waiting thread resumes after our read, and UFFDIO_WRITEPROTECT checks that
 * count before it even copies its argument in: EAGAIN while events are in
 * flight. After that an empty range fails validation with EINVAL, so the
 * probe touches nothing. self_test() proves at open that the kernel behaves
 * like that before settle() relies on it.
 */
static int events_in_flight(struct uffd_core *b)
{
	struct uffdio_writeprotect wp;

	memset(&wp, 0, sizeof(wp));
	if (ioctl(b->uffd, UFFDIO_WRITEPROTECT, &wp) == 0)
		return -1;
	return errno == EAGAIN ? 1 : errno == EINVAL ? 0 : -1;
}

static void wait_reader_batch(struct uffd_core *b);

/*
 * Returns true once every event the kernel prepared before this call has
 * been read and processed by the reader, so that the region tree is current
 * and no such event can reach a watch inserted afterwards.
 *
 * Why: munmap() removes the VMA, drops mmap_lock and only then queues its
 * event. Until the reader has processed it, a region still claims pages
 * that are gone, and a new mapping at the same address (not registered)
 * looks covered: a watch trusted to it would never see its unmap, and the
 * late event would report the new, live buffer as unmapped (the agent's
 * false DANGLING).
 *
 * The kernel offers no finer barrier: an event prepared before this call
 * may not even be queued yet (its thread was preempted between
 * mmap_write_unlock() and queueing it), and mmap_changing counts all
 * events in flight together. So we wait for a moment when it is zero (every
 * older event read and its thread resumed); the reader's sequence then
 * covers the processing of the last one read. Every event in flight
 * completes without us (its thread waits only for the reader, which waits
 * for nobody), so the wait ends as soon as the process pauses between
 * unmaps and madvises of registered memory. Exact, hence no giving up
 * halfway: after UFFD_SETTLE_LIMIT_NS of uninterrupted events in flight it
 * returns why not and watch() fails with EAGAIN rather than guess (counted
 * in settle_giveups). A probe that cannot tell (-1: self_test() proved at
 * open that it can, so this is not expected) counts as events in flight,
 * never as idle. While the test gate holds the reader it waits forever:
 * tests that close it want the wait. NULL once settled.
 */
static const char settle_busy[] =
	"unmaps or madvise of registered memory kept events in flight for 5 s without a pause: an unmap older than this watch could still be unread, so it cannot be told from the watch's own";
static const char settle_blind[] =
	"the probe for userfaultfd events in flight (an empty UFFDIO_WRITEPROTECT) gave neither EAGAIN nor EINVAL for 5 s: an unmap older than this watch could still be unread";

static const char *settle(struct uffd_core *b)
{
	struct timespec nap = { 0, 50 * 1000 }, t0, t;
	unsigned int i;
	int busy;

	for (i = 0; (busy = events_in_flight(b)) != 0; i++) {
		if (!i) {
			__atomic_add_fetch(&b->settle_waits, 1,
					   __ATOMIC_RELAXED);
			clock_gettime(CLOCK_MONOTONIC, &t0);
		}
		if (i >= UFFD_SETTLE_YIELDS && !(i & 255) &&
		    !__atomic_load_n(&b->gate_closed, __ATOMIC_ACQUIRE)) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if ((t.tv_sec - t0.tv_sec) * 1000000000LL +
			    (t.tv_nsec - t0.tv_nsec) >= UFFD_SETTLE_LIMIT_NS) {
				__atomic_add_fetch(&b->settle_giveups, 1,
						   __ATOMIC_RELAXED);
				return busy == 1 ? settle_busy : settle_blind;
			}
		}
		wait_reader_batch(b);
		if (i < UFFD_SETTLE_YIELDS)
			sched_yield();
		else
			nanosleep(&nap, NULL);
	}
	wait_reader_batch(b);
	return NULL;
}

struct self_test_arg {
	void *page;
	size_t len;
	int done;		/* eventfd */
};

static void *self_test_unmapper(void *arg)
{
	struct self_test_arg *a = arg;
	uint64_t one = 1;

	munmap(a->page, a->len);
	if (write(a->done, &one, sizeof(one)) < 0)
		abort();	/* an eventfd write of 1 cannot fail */
	return NULL;
}

/*
 * Runs at open, before the reader exists (so we read the descriptor here):
 * a helper thread munmaps a registered scratch page. The kernel must send
 * UNMAP for exactly that page and keep the helper waiting until we read it;
 * meanwhile events_in_flight() must say 1, and once the helper is back, 0.
 * Either failing refuses the backend: without UNMAP it sees nothing, and
 * without the probe settle() has no barrier against an old unmap being
 * credited to a new watch at a reused address.
 */
static int self_test(struct uffd_core *b, char *why, size_t len)
{
	struct self_test_arg a = { .len = (size_t)b->page, .done = -1 };
	struct pollfd p[2];
	struct uffdio_register reg;
	struct uffd_msg msg;
	sigset_t all, old;
	pthread_t t;
	bool saw_event = false, in_flight = false, idle_before, idle_after;
	int e, ret = 0;
	ssize_t n;

	a.page = mmap(NULL, a.len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a.page == MAP_FAILED)
		return -errno;
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uint64_t)(uintptr_t)a.page;
	reg.range.len = a.len;
	reg.mode = UFFDIO_REGISTER_MODE_WP;
	if (ioctl(b->uffd, UFFDIO_REGISTER, &reg) < 0) {
		e = errno;
		munmap(a.page, a.len);
		say(why, len, "UFFDIO_REGISTER(write-protect mode) of an anonymous page: %s (%s)",
		    errname(e), strerror(e));
		return -e;
	}
	idle_before = events_in_flight(b) == 0;
	a.done = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a.done < 0) {
		e = errno;
		munmap(a.page, a.len);	/* no reader yet: not registered */
		say(why, len, "eventfd: %s", strerror(e));
		return -e;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&t, NULL, self_test_unmapper, &a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		ioctl(b->uffd, UFFDIO_UNREGISTER, &reg.range);
		munmap(a.page, a.len);
		close(a.done);
		say(why, len, "pthread_create(self test): %s", strerror(e));
		return -e;
	}
	/*
	 * Read whatever comes until the helper's munmap has returned (with or
	 * without an event), so the join below cannot hang.
	 */
	p[0].fd = b->uffd;
	p[0].events = POLLIN;
	p[1].fd = a.done;
	p[1].events = POLLIN;
	for (;;) {
		if (poll(p, 2, -1) < 0)
			continue;	/* EINTR */
		if (p[0].revents & POLLIN) {
			if (!saw_event)
				in_flight = events_in_flight(b) == 1;
			n = read(b->uffd, &msg, sizeof(msg));
			if (n == (ssize_t)sizeof(msg) &&
			    msg.event == UFFD_EVENT_UNMAP &&
			    msg.arg.remove.start == reg.range.start &&
			    msg.arg.remove.end == reg.range.start + a.len)
				saw_event = true;
		}
		if (p[1].revents & POLLIN)
			break;
	}
	pthread_join(t, NULL);
	idle_after = events_in_flight(b) == 0;
	close(a.done);
	if (!saw_event) {
		struct utsname u;

		if (uname(&u) < 0)
			strcpy(u.release, "?");
		say(why, len,
		    "self test: munmap of a page registered with userfaultfd (write-protect mode) sent no UFFD_EVENT_UNMAP on kernel %s",
		    u.release);
		ret = -EOPNOTSUPP;
	} else if (!(idle_before && in_flight && idle_after)) {
		say(why, len,
		    "self test: the probe for userfaultfd events in flight (an empty UFFDIO_WRITEPROTECT: EAGAIN while one is, EINVAL otherwise) did not track a munmap (idle before: %s, in flight: %s, idle after: %s); without it a new watch at a reused address could be credited an older unmap",
		    idle_before ? "yes" : "no", in_flight ? "yes" : "no",
		    idle_after ? "yes" : "no");
		ret = -EOPNOTSUPP;
	}
	b->changing_probe = saw_event && idle_before && in_flight && idle_after;
	return ret;
}

/*
 * Latency tracing, compiled in only for measurements (-DUFFD_LATENCY_TRACE,
 * benchmarks/tools/uffd_path.c and the traced libummu.so of
 * benchmarks/tools/analysis.md): the reader's time stamps (CLOCK_MONOTONIC)
 * of the last event it handled, in uffd_latency_trace[] and in words 1-4 of
 * every notifier's counter page (where a JVM can read them).
 */
#ifdef UFFD_LATENCY_TRACE
int64_t uffd_latency_trace[4];	/* woken, read(2) returned, signalled, done */

static void trace_mark(struct uffd_core *c, int i)
{
	struct ummu_backend *n;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	uffd_latency_trace[i] = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	for (n = __atomic_load_n(&c->notifiers, __ATOMIC_SEQ_CST); n;
	     n = __atomic_load_n(&n->next, __ATOMIC_SEQ_CST))
		n->counter[1 + i] = uffd_latency_trace[i];
}
#else
#define trace_mark(c, i) ((void)0)
#endif

/* ---- the event queue (under lock) ---- */

static bool pending(const struct ummu_backend *b)
{
	return b->qhead || b->need_last;
}

static void signal_pollfd(struct ummu_backend *b)
{
	uint64_t one = 1;

	if (b->signalled || !pending(b))
		return;
	/* An eventfd write cannot block here: the count stays at most 1. */
	if (write(b->evfd, &one, sizeof(one)) == sizeof(one))
		b->signalled = true;
	trace_mark(b->core, 2);
}

static void unsignal_pollfd(struct ummu_backend *b)
{
	uint64_t v;

	if (!b->signalled || pending(b))
		return;
	if (read(b->evfd, &v, sizeof(v)) == sizeof(v) || errno == EAGAIN)
		b->signalled = false;
}

static void enqueue(struct ummu_backend *b, struct uffd_watch *w)
{
	w->queued = true;
	w->qnext = NULL;
	w->qprev = b->qtail;
	if (b->qtail)
		b->qtail->qnext = w;
	else
		b->qhead = w;
	b->qtail = w;
}

static void dequeue(struct ummu_backend *b, struct uffd_watch *w)
{
	if (!w->queued)
		return;
	if (w->qprev)
		w->qprev->qnext = w->qnext;
	else
		b->qhead = w->qnext;
	if (w->qnext)
		w->qnext->qprev = w->qprev;
	else
		b->qtail = w->qprev;
	w->qnext = NULL;
	w->qprev = NULL;
	w->queued = false;
}

/* ---- the reader thread ---- */

struct hit_ctx {
	struct uffd_core *b;
	uint64_t s, e;
	uint32_t cause;
	unsigned int hits;
	bool remap;		/* this event is a REMAP */
	bool echo;		/* this UNMAP repeats the REMAP just before */
};

/* The module's coalescing rule, applied to one watch. */
static void hit_watch(struct uffd_node *n, void *arg)
{
	struct hit_ctx *h = arg;
	struct uffd_watch *w = (struct uffd_watch *)((char *)n -
				offsetof(struct uffd_watch, range));

	if (h->remap)
		w->remap_seq = h->b->nevents;
	if (h->echo && w->remap_seq == h->b->nevents - 1) {
		/*
		 * Same invalidation as the REMAP this watch just got: name the
		 * second cause on the pending record, do not count a second
		 * hit (that would drop the exact hint), no new record if the
		 * first was already read.
		 */
		if (w->queued)
			w->flags |= h->cause;
		return;
	}
	if (!w->queued) {
		w->flags = UMMUNOTIFY_EVENT_FLAG_HINT | h->cause;
		w->hint_start = h->s > w->start ? h->s : w->start;
		w->hint_end = h->e < w->end ? h->e : w->end;
		enqueue(w->owner, w);
		/* The records are queued; the reader published the counters. */
		signal_pollfd(w->owner);
	} else {
		w->flags = (w->flags & ~UMMUNOTIFY_EVENT_FLAG_HINT) | h->cause;
		w->hint_start = w->start;
		w->hint_end = w->end;
	}
	h->hits++;
}

/*
 * The kernel dropped the registration of [s, e): retire every live region
 * overlapping it. Allocation-free: retired regions wait on b->retired for a
 * watching thread to free them. unmapped: [s, e) is no longer mapped.
 */
static void retire_regions(struct uffd_core *b, uint64_t s, uint64_t e,
			   bool unmapped)
{
	struct uffd_node *n = uffd_tree_floor(b->regions, s);

	if (!n || n->end <= s)
		n = uffd_tree_after(b->regions, s);
	while (n && n->key < e) {
		struct uffd_region *r = (struct uffd_region *)n;
		uint64_t key = n->key;

		b->regions = uffd_tree_erase(b->regions, n);
		r->gone = unmapped && !r->tentative && s <= n->key &&
			  n->end <= e;
		r->next = b->retired;
		b->retired = r;
		n = uffd_tree_after(b->regions, key);
	}
}

/*
 * A range the kernel unmapped is no longer a registered orphan (and a later
 * mapping there is not ours to unregister).
 */
static void forget_orphans(struct uffd_core *b, uint64_t s, uint64_t e)
{
	unsigned int i = 0;

	while (i < b->norphans) {
		if (b->orphans[i].s >= s && b->orphans[i].e <= e)
			b->orphans[i] = b->orphans[--b->norphans];
		else
			i++;
	}
}

/* Under lock. Returns 1 when the event hit at least one watch. */
static unsigned int handle_msg(struct uffd_core *b,
			       const struct uffd_msg *m)
{
	struct hit_ctx h = { .b = b };
	bool unmapped = false;

	switch (m->event) {
	case UFFD_EVENT_UNMAP:
		h.s = m->arg.remove.start;
		h.e = m->arg.remove.end;
		h.cause = UMMU_EVENT_FLAG_CAUSE(UMMUNOTIFY_CAUSE_UNMAP);
		unmapped = true;
		break;
	case UFFD_EVENT_REMAP:
		h.s = m->arg.remap.from;
		h.e = m->arg.remap.from + m->arg.remap.len;
		h.cause = UMMU_EVENT_FLAG_CAUSE(UMMU_CAUSE_REMAP);
		h.remap = true;
		unmapped = true;
		break;
	case UFFD_EVENT_REMOVE:
		h.s = m->arg.remove.start;
		h.e = m->arg.remove.end;
		h.cause = UMMU_EVENT_FLAG_CAUSE(UMMU_CAUSE_REMOVE);
		break;
	default:
		/* No page faults (nothing is write-protected), no forks. */
		return 0;
	}
	/*
	 * mremap() moving a range sends REMAP(old range) and then, once that
	 * was read, UNMAP of the same old range (the move unmaps the source).
	 * Both describe one invalidation.
	 */
	b->nevents++;
#ifdef UFFD_DEBUG
	fprintf(stderr, "uffd event %u [%llx, %llx)\n", m->event,
		(unsigned long long)h.s, (unsigned long long)h.e);
#endif
	h.echo = m->event == UFFD_EVENT_UNMAP && b->remap_s == h.s &&
		 b->remap_e == h.e;
	b->remap_s = h.remap ? h.s : 0;
	b->remap_e = h.remap ? h.e : 0;
	if (h.s >= h.e)
		return 0;
	uffd_tree_overlaps(b->watches, h.s, h.e, hit_watch, &h);
	if (unmapped) {
		retire_regions(b, h.s, h.e, !h.remap);
		if (b->norphans)
			forget_orphans(b, h.s, h.e);
	}
	/*
	 * The moved VMA keeps our registration at its new address; note it
	 * so a watching thread can unregister it if nothing is watched there
	 * (no allocation here: a fixed array, and when it is full the range
	 * just stays registered until it is unmapped or the backend closes).
	 */
	if (h.remap && b->norphans < UFFD_ORPHANS) {
		b->orphans[b->norphans].s = m->arg.remap.to;
		b->orphans[b->norphans].e = m->arg.remap.to + m->arg.remap.len;
		b->norphans++;
	}
	return h.hits ? 1 : 0;
}

/*
 * Before each read(2): the event may hit watches of any notifier, so every
 * open notifier's counter moves (a notifier it misses pays one empty drain).
 * Only the reader writes the counters. The list is walked without a lock: a
 * notifier is unlinked before its close waits for the batch in progress.
 */
static void bump_counters(struct uffd_core *b)
{
	struct ummu_backend *n;

	/*
	 * Every link is loaded SEQ_CST, not only the head: uffd_close()
	 * unlinks with a SEQ_CST store and fence, then reads seq, and must not
	 * miss a batch that still sees the notifier. With acquire loads,
	 * ARMv8.3's LDAPR may be satisfied before the earlier store-release of
	 * the seq increment is visible, so close could find seq even and unmap
	 * a counter page we are about to write. SEQ_CST loads (LDAR) cannot
	 * pass it; on x86 they are plain loads, free.
	 */
	for (n = __atomic_load_n(&b->notifiers, __ATOMIC_SEQ_CST); n;
	     n = __atomic_load_n(&n->next, __ATOMIC_SEQ_CST))
		__atomic_store_n(n->counter, *n->counter + 1, __ATOMIC_RELEASE);
}

/* Tests only (uffd_backend_gate): hold here while the gate is closed here. */
static void gate_pass(struct uffd_core *b, int where)
{
	if (__atomic_load_n(&b->gate_closed, __ATOMIC_ACQUIRE) == where) {
		pthread_mutex_lock(&b->gate);
		pthread_mutex_unlock(&b->gate);
	}
}

static void *reader_main(void *arg)
{
	struct uffd_core *b = arg;
	struct pollfd p[2] = {
		{ .fd = b->uffd, .events = POLLIN },
		{ .fd = b->stopfd, .events = POLLIN },
	};
	struct timespec nap = { 0, 1000 * 1000 };
	ssize_t n;

	for (;;) {
		if (poll(p, 2, -1) < 0)
			continue;	/* EINTR; nothing else can fail here */
		trace_mark(b, 0);
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN)) {
			/* Not expected (POLLERR/POLLHUP before close): no spin. */
			if (p[0].revents)
				nanosleep(&nap, NULL);
			continue;
		}
		/*
		 * One event per read(2), and only after poll() has shown one
		 * queued: the kernel hands out the oldest first, so the event
		 * read was queued before the counter was bumped, hence after
		 * its unmapping thread last looked at the counter; the kernel
		 * lets that thread go inside read(2), so once its munmap() has
		 * returned it sees the bump. (A read of several events could
		 * take one queued after the bump.) The sequence is odd from
		 * before the bump until the record is queued. See the ordering
		 * note at the top.
		 */
		do {
			gate_pass(b, 1);
			__atomic_add_fetch(&b->seq, 1, __ATOMIC_SEQ_CST);
			bump_counters(b);
			n = read(b->uffd, &b->msg, sizeof(b->msg));
			trace_mark(b, 1);
			gate_pass(b, 2);
			pthread_mutex_lock(&b->lock);
			b->batches++;
			if (n != (ssize_t)sizeof(b->msg) || !handle_msg(b, &b->msg))
				b->idle_batches++;
			pthread_mutex_unlock(&b->lock);
			__atomic_add_fetch(&b->seq, 1, __ATOMIC_SEQ_CST);
			if (__atomic_load_n(&b->seq_waiters, __ATOMIC_SEQ_CST))
				syscall(SYS_futex, &b->seq, FUTEX_WAKE_PRIVATE,
					INT_MAX, NULL, NULL, 0);
			trace_mark(b, 3);
		} while (n == (ssize_t)sizeof(b->msg) && poll(p, 1, 0) == 1 &&
			 (p[0].revents & POLLIN));
	}
	return NULL;
}

/*
 * Waits until the reader's event in flight, if any, has been processed (see
 * the ordering note). The sequence only grows, so any change from an odd
 * value means that event is done; waiting for an even value instead could
 * starve under a stream of events.
 */
static void wait_reader_batch(struct uffd_core *b)
{
	uint32_t s = __atomic_load_n(&b->seq, __ATOMIC_ACQUIRE);

	if (!(s & 1))
		return;
	__atomic_add_fetch(&b->seq_waiters, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&b->seq, __ATOMIC_SEQ_CST) == s)
		syscall(SYS_futex, &b->seq, FUTEX_WAIT_PRIVATE, s, NULL, NULL, 0);
	__atomic_sub_fetch(&b->seq_waiters, 1, __ATOMIC_SEQ_CST);
}

/* ---- open / close ---- */

static void free_region_node(struct uffd_node *n, void *arg)
{
	(void)arg;
	free(n);
}

static void free_regions(struct uffd_region *r)
{
	while (r) {
		struct uffd_region *next = r->next;

		free(r);
		r = next;
	}
}

static void release_all(struct uffd_core *b);

static void free_watch_range(struct uffd_node *n, void *arg)
{
	(void)arg;
	free((char *)n - offsetof(struct uffd_watch, range));
}

/* The last notifier is gone (or the first open failed): the core goes. */
static void core_destroy(struct uffd_core *b)
{
	uint64_t one = 1;

	if (!b)
		return;
	if (b->reader_started) {
		release_all(b);
		while (write(b->stopfd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
		pthread_join(b->reader, NULL);
	}
	/*
	 * Only now: closing the descriptor while the reader polls it would
	 * keep the file alive. The release unregisters every VMA and frees any
	 * thread still waiting for an event to be read.
	 */
	if (b->uffd >= 0)
		close(b->uffd);
	if (b->stopfd >= 0)
		close(b->stopfd);
	if (b->mapsfd >= 0)
		close(b->mapsfd);
	/* Normally empty: every notifier's close took its watches away. */
	uffd_tree_destroy(b->watches, free_watch_range, NULL);
	uffd_tree_destroy(b->regions, free_region_node, NULL);
	free_regions(b->retired);
	free_regions(b->limbo);
	pthread_mutex_destroy(&b->lock);
	pthread_mutex_destroy(&b->reg_lock);
	pthread_mutex_destroy(&b->gate);
	if (b->stack)
		munmap(b->stack, b->stack_len);
	munmap(b, sizeof(*b));
}

static int core_create(struct uffd_core **out, char *why, size_t len)
{
	struct uffd_core *b;
	struct uffd_procmap_query q;
	pthread_attr_t attr;
	sigset_t all, old;
	int ret, fd;
	uint64_t features = 0;

	*out = NULL;
	fd = uffd_open_fd(&features, why, len);
	if (fd < 0)
		return fd;
	/*
	 * Our own mapping rather than the malloc heap: the reader writes into
	 * this structure, and it should not share a VMA with anything a user
	 * watches.
	 */
	b = mmap(NULL, sizeof(*b), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED) {
		ret = -errno;
		close(fd);
		say(why, len, "mmap(%zu) for the backend state: %s", sizeof(*b),
		    strerror(-ret));
		return ret;
	}
	b->uffd = fd;
	b->stopfd = -1;
	b->mapsfd = -1;
	b->pid = getpid();
	b->features = features;
	b->page = sysconf(_SC_PAGESIZE);
	b->rng = 0x9e3779b9u ^ (uint32_t)(uintptr_t)b;
	pthread_mutex_init(&b->lock, NULL);
	pthread_mutex_init(&b->reg_lock, NULL);
	pthread_mutex_init(&b->gate, NULL);

	b->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->stopfd < 0) {
		ret = -errno;
		say(why, len, "eventfd: %s", strerror(-ret));
		goto fail;
	}
	b->mapsfd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (b->mapsfd < 0) {
		ret = -errno;
		say(why, len, "open(/proc/self/maps): %s (needed to find VMA bounds)",
		    strerror(-ret));
		goto fail;
	}
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_addr = (uint64_t)(uintptr_t)b;
	b->procmap_query = ioctl(b->mapsfd, UFFD_PROCMAP_QUERY, &q) == 0 &&
			   q.vma_start <= q.query_addr &&
			   q.query_addr < q.vma_end;
	ret = self_test(b, why, len);
	if (ret)
		goto fail;

	/*
	 * The reader takes no signals: a JVM's signal handlers (or a
	 * profiler's) must never run on it.
	 */
	/*
	 * Its own stack, between PROT_NONE guard pages, so that it can never
	 * merge into a neighbouring mapping that a watch registers (glibc
	 * also leaves a stack it did not allocate alone when the thread exits).
	 */
	b->stack_len = UFFD_READER_STACK + 2 * (size_t)b->page;
	b->stack = mmap(NULL, b->stack_len, PROT_NONE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (b->stack == MAP_FAILED ||
	    mprotect(b->stack + b->page, UFFD_READER_STACK,
		     PROT_READ | PROT_WRITE)) {
		ret = -errno;
		if (b->stack == MAP_FAILED)
			b->stack = NULL;
		say(why, len, "mmap/mprotect(%zu) for the reader's stack: %s",
		    b->stack_len, strerror(-ret));
		goto fail;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setstack(&attr, b->stack + b->page, UFFD_READER_STACK);
	ret = -pthread_create(&b->reader, &attr, reader_main, b);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		say(why, len, "pthread_create(reader): %s", strerror(-ret));
		goto fail;
	}
	pthread_setname_np(b->reader, "ummu-uffd");
	b->reader_started = true;
	*out = b;
	return 0;
fail:
	core_destroy(b);
	return ret;
}

/* The notifier lives in its counter page, after the counter. */
#define UFFD_NOTIFIER_OFFSET 64

/*
 * A notifier: its own counter page and pollfd, on the process's core
 * (created here by the first open).
 */
static int uffd_open(struct ummu_backend **out, char *why, size_t len)
{
	struct ummu_backend *n;
	struct uffd_core *c;
	long pg = sysconf(_SC_PAGESIZE);
	char *page;
	static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
	int ret;

	*out = NULL;
	pthread_once(&atfork_once, register_atfork);
	/* Our own mapping: the reader writes the counter, never a user's heap. */
	page = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED) {
		ret = -errno;
		say(why, len, "mmap(%ld) for the counter page: %s", pg,
		    strerror(-ret));
		return ret;
	}
	n = (struct ummu_backend *)(page + UFFD_NOTIFIER_OFFSET);
	n->counter = (volatile uint64_t *)page;
	n->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n->evfd < 0) {
		ret = -errno;
		say(why, len, "eventfd: %s", strerror(-ret));
		munmap(page, (size_t)pg);
		return ret;
	}

	pthread_mutex_lock(&core_mutex);
	c = the_core;
	if (c && foreign(c)) {
		/*
		 * Inherited through a fork() that ran no atfork handlers (a raw
		 * clone): its reader lives in the parent and the kernel dropped
		 * its registrations here. Leave it (this copy of it is the
		 * child's own memory, its descriptors only references) and
		 * start afresh.
		 */
		c = NULL;
		the_core = NULL;
	}
	if (!c) {
		ret = core_create(&c, why, len);
		if (ret) {
			pthread_mutex_unlock(&core_mutex);
			close(n->evfd);
			munmap(page, (size_t)pg);
			return ret;
		}
		the_core = c;
	}
	c->users++;
	n->core = c;
	pthread_mutex_lock(&c->lock);
	n->next = c->notifiers;
	__atomic_store_n(&c->notifiers, n, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&c->lock);
	pthread_mutex_unlock(&core_mutex);
	*out = n;
	return 0;
}

static void remove_watch(struct ummu_backend *n, struct uffd_watch *w);
static void collect_unused(struct uffd_core *b, uint64_t ps, uint64_t pe,
			   struct uffd_region **out);
static void drop_regions(struct uffd_core *b, struct uffd_region *r);
static void reap(struct uffd_core *b, unsigned int budget);

/*
 * Its watches go, then whatever no watch of any notifier overlaps is
 * unregistered (the other notifiers keep theirs, and their registrations).
 * The last close also takes the core down.
 */
/*
 * close and retire: everything goes but the counter page, which the caller
 * unmaps (close) or leaves mapped, for Java (retire). Returns the page.
 */
static volatile uint64_t *release(struct ummu_backend *n)
{
	struct uffd_core *b;
	struct uffd_region *unused = NULL;
	struct uffd_watch *w, *dead = NULL;
	struct ummu_backend **pp;
	volatile uint64_t *page = n->counter;
	bool others;

	b = n->core;
	if (foreign(b)) {
		/*
		 * A fork() child closing what it inherited: only its own
		 * copies go. Stopping the core would write the parent's stopfd
		 * (the same open file) and stop the parent's reader, joining
		 * would wait for a thread that is not here, unregistering
		 * would act on the parent's mm, and the locks may have been
		 * held by parent threads at fork().
		 */
		close(n->evfd);
		return page;
	}
	pthread_mutex_lock(&b->reg_lock);
	pthread_mutex_lock(&b->lock);
	while (n->cookies) {
		w = (struct uffd_watch *)((char *)n->cookies -
					  offsetof(struct uffd_watch, byck));
		remove_watch(n, w);
		w->qnext = dead;
		dead = w;
	}
	others = b->watches != NULL;
	pthread_mutex_unlock(&b->lock);
	if (!others)
		(void)settle(b);	/* as the last unwatch does */
	pthread_mutex_lock(&b->lock);
	collect_unused(b, 0, UINT64_MAX, &unused);
	pthread_mutex_unlock(&b->lock);
	drop_regions(b, unused);
	reap(b, 0);
	pthread_mutex_unlock(&b->reg_lock);
	while ((w = dead)) {
		dead = w->qnext;
		free(w);
	}

	pthread_mutex_lock(&core_mutex);
	pthread_mutex_lock(&b->lock);
	for (pp = &b->notifiers; *pp; pp = &(*pp)->next)
		if (*pp == n) {
			__atomic_store_n(pp, n->next, __ATOMIC_SEQ_CST);
			break;
		}
	pthread_mutex_unlock(&b->lock);
	/* The reader may be bumping our counter right now: let it finish. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	wait_reader_batch(b);
	if (--b->users == 0) {
		if (the_core == b)
			the_core = NULL;
		core_destroy(b);
	}
	pthread_mutex_unlock(&core_mutex);
	close(n->evfd);
	return page;
}

static void uffd_close(struct ummu_backend *n)
{
	if (n)
		munmap((void *)release(n), (size_t)sysconf(_SC_PAGESIZE));
}

/*
 * The page is our own anonymous one, so the marker is simply written into
 * it: once release() has returned, the reader no longer bumps this counter
 * (the notifier is off its list and the reader's batch is over). The rest of
 * the page (the notifier, freed) is never read again.
 */
static int uffd_retire(struct ummu_backend *n)
{
	if (!n)
		return -EINVAL;
	__atomic_store_n(release(n), UMMU_COUNTER_CLOSED, __ATOMIC_RELEASE);
	return 0;
}

static uint32_t uffd_capabilities(const struct ummu_backend *b)
{
	(void)b;
	return UMMU_CAP_UNMAP | UMMU_CAP_REMAP | UMMU_CAP_MADVISE |
	       UMMU_CAP_EVENT_CAUSE;
}

/* ---- watch / unwatch ---- */

static uint32_t next_prio(struct uffd_core *b)
{
	/* xorshift32, under lock */
	uint32_t x = b->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	b->rng = x;
	return x;
}

static void insert_watch(struct ummu_backend *n, struct uffd_watch *w)
{
	struct uffd_core *b = n->core;

	w->owner = n;
	w->range.key2 = b->next_id++;
	w->range.prio = next_prio(b);
	w->byck.prio = next_prio(b);
	b->watches = uffd_tree_insert(b->watches, &w->range);
	n->cookies = uffd_tree_insert(n->cookies, &w->byck);
}

/*
 * Under lock: the first page-aligned sub-range of [ps, pe) that no live
 * region covers, with the live neighbours that bound it (lo = end of the
 * region before it or 0, hi = start of the region after it or UINT64_MAX).
 * Returns false when [ps, pe) is covered. A tentative region covers
 * nothing: the fast path must not trust a registration that may yet be
 * undone (the slow path waits for reg_lock, and under reg_lock no other
 * thread's tentative region exists; the holder's own exists only between
 * its insertion and its check, where first_gap() is not called, so the
 * callers that use the bounds never meet one).
 */
static bool first_gap(struct uffd_core *b, uint64_t ps, uint64_t pe,
		      uint64_t *gs, uint64_t *lo, uint64_t *hi)
{
	uint64_t at = ps;
	struct uffd_node *n;

	*lo = 0;
	while (at < pe) {
		n = uffd_tree_floor(b->regions, at);
		if (n && n->end > at && ((struct uffd_region *)n)->tentative) {
			/* A gap no wider than the tentative region. */
			*gs = at;
			*hi = n->end;
			return true;
		}
		if (n && n->end > at) {
			at = n->end;
			*lo = n->end;
			continue;
		}
		if (n && n->end > *lo)
			*lo = n->end;
		*gs = at;
		n = uffd_tree_after(b->regions, at);
		*hi = n ? n->key : UINT64_MAX;
		return true;
	}
	return false;
}

static const char *register_refusal(int e)
{
	switch (e) {
	case EBUSY:
		return "the range belongs to another userfaultfd in this process";
	case EPERM:
		return "userfaultfd refuses this mapping (a shared mapping without write permission to its file, or a sealed memfd)";
	case EINVAL:
		return "userfaultfd cannot register this kind of memory (or it was unmapped meanwhile)";
	case ENOMEM:
		return "out of memory or address space gone";
	default:
		return "UFFDIO_REGISTER failed";
	}
}

static void limbo_append(struct uffd_core *b, struct uffd_region *r);

/* Under reg_lock (not lock): unregisters and frees (or leaves in limbo). */
static void drop_regions(struct uffd_core *b, struct uffd_region *r)
{
	while (r) {
		struct uffd_region *next = r->next;

		/*
		 * The range may have been unmapped since (the reader saw no
		 * event because the region was no longer in the tree, and the
		 * pages are gone anyway): nothing to do there.
		 */
		if (unregister_range(b, r->node.key, r->node.end))
			free(r);
		else
			limbo_append(b, r);	/* part of a VMA in use */
		r = next;
	}
}

/*
 * Under lock: detaches the regions overlapping [ps, pe) that no watch
 * overlaps any more, onto *out. The caller unregisters them after unlocking.
 */
static void collect_unused(struct uffd_core *b, uint64_t ps, uint64_t pe,
			   struct uffd_region **out)
{
	struct uffd_node *n = uffd_tree_floor(b->regions, ps);

	if (!n || n->end <= ps)
		n = uffd_tree_after(b->regions, ps);
	while (n && n->key < pe) {
		uint64_t key = n->key;

		if (!uffd_tree_any_overlap(b->watches, n->key, n->end)) {
			struct uffd_region *r = (struct uffd_region *)n;

			b->regions = uffd_tree_erase(b->regions, n);
			r->next = *out;
			*out = r;
		}
		n = uffd_tree_after(b->regions, key);
	}
}

/*
 * Under reg_lock, lock not held. Unregisters what the kernel may still hold
 * registered for us but no live region tracks: the surviving parts of
 * regions the reader retired (a munmap or mremap took only part of them)
 * and the new homes of VMAs mremap moved. A range is left alone while any
 * watch overlaps it (those watches need it); it is unregistered piecewise
 * around live regions, which carry their own watches. Bounded work per
 * call, so one unwatch never pays for a long backlog.
 */
static bool unregister_untracked(struct uffd_core *b, uint64_t s,
				 uint64_t e)
{
	uint64_t cur = s, gs, lo, hi, ge;
	bool done = true;

	while (cur < e) {
		pthread_mutex_lock(&b->lock);
		if (!first_gap(b, cur, e, &gs, &lo, &hi)) {
			pthread_mutex_unlock(&b->lock);
			break;
		}
		pthread_mutex_unlock(&b->lock);
		ge = hi < e ? hi : e;
		if (!unregister_range(b, gs, ge))
			done = false;
		cur = ge;
	}
	return done;
}

static void limbo_append(struct uffd_core *b, struct uffd_region *r)
{
	r->next = NULL;
	if (b->limbo_tail)
		b->limbo_tail->next = r;
	else
		b->limbo = r;
	b->limbo_tail = r;
}

/*
 * Under reg_lock, lock not held: moves what the reader retired (freeing
 * what an unmap took whole: nothing of it is registered) and the orphans
 * it noted onto the limbo list, then unregisters up to budget limbo
 * entries (0: one pass over all of them) that no watch overlaps any more. A
 * watch may rely on a surviving part of a retired region (the kernel still
 * sends its events), so an entry that any watch overlaps waits at the back
 * of the list.
 */
static void limbo_collect(struct uffd_core *b)
{
	struct uffd_region *r, *next;

	pthread_mutex_lock(&b->lock);
	r = b->retired;
	b->retired = NULL;
	pthread_mutex_unlock(&b->lock);
	for (; r; r = next) {
		next = r->next;
		if (r->gone)
			free(r);
		else
			limbo_append(b, r);
	}
	for (;;) {
		struct uffd_region *o = calloc(1, sizeof(*o));

		if (!o)
			break;	/* they stay noted; next time */
		pthread_mutex_lock(&b->lock);
		if (b->norphans) {
			b->norphans--;
			o->node.key = b->orphans[b->norphans].s;
			o->node.end = b->orphans[b->norphans].e;
		}
		pthread_mutex_unlock(&b->lock);
		if (!o->node.end) {
			free(o);
			break;
		}
		limbo_append(b, o);
	}
}

static void reap(struct uffd_core *b, unsigned int budget)
{
	struct uffd_region *r;
	bool busy;

	limbo_collect(b);
	if (!budget)
		for (r = b->limbo; r; r = r->next)
			budget++;
	/* Round robin: a region still in use goes to the back. */
	for (; budget && (r = b->limbo); budget--) {
		b->limbo = r->next;
		if (!b->limbo)
			b->limbo_tail = NULL;
		pthread_mutex_lock(&b->lock);
		busy = uffd_tree_any_overlap(b->watches, r->node.key,
					     r->node.end);
		pthread_mutex_unlock(&b->lock);
		if (busy || !unregister_untracked(b, r->node.key, r->node.end)) {
			limbo_append(b, r);
			continue;
		}
		free(r);
	}
}

/*
 * At close, before the reader goes: unregisters everything we know to be
 * registered, watched or not. A thread that exits releases memory of its
 * own (glibc madvise()s the unused part of its stack, ASan unmaps per-thread
 * data); were any of it in a registered VMA, the kernel would make the
 * exiting reader wait for an event that only it could read.
 */
static void release_all(struct uffd_core *b)
{
	struct uffd_region *r, *list = NULL;

	pthread_mutex_lock(&b->reg_lock);
	pthread_mutex_lock(&b->lock);
	while (b->regions) {
		r = (struct uffd_region *)b->regions;
		b->regions = uffd_tree_erase(b->regions, &r->node);
		r->next = list;
		list = r;
	}
	pthread_mutex_unlock(&b->lock);
	drop_regions(b, list);
	limbo_collect(b);
	while ((r = b->limbo)) {
		b->limbo = r->next;
		unregister_range(b, r->node.key, r->node.end);
		free(r);
	}
	b->limbo_tail = NULL;
	pthread_mutex_unlock(&b->reg_lock);
}

static void remove_watch(struct ummu_backend *n, struct uffd_watch *w)
{
	struct uffd_core *b = n->core;

	n->cookies = uffd_tree_erase(n->cookies, &w->byck);
	b->watches = uffd_tree_erase(b->watches, &w->range);
	dequeue(n, w);
	unsignal_pollfd(n);
}

static int uffd_watch(struct ummu_backend *n, uint64_t start, uint64_t end,
		      uint64_t cookie, char *why, size_t len)
{
	struct uffd_core *b = n->core;
	uint64_t pmask = (uint64_t)b->page - 1;
	uint64_t ps, pe, gs, lo, hi, vs, ve, rs, re;
	struct vma_edge below0, above0, below, above;
	struct vma_info got;
	struct uffd_watch *w;
	struct uffd_region *r, *unused = NULL;
	struct uffdio_register reg;
	bool made_regions = false, live, same, repaired;
	int retries = 0, ret, e;
	const char *busy;

	if (start >= end) {
		say(why, len, "watch(0x%" PRIx64 ", 0x%" PRIx64 "): EINVAL, start >= end",
		    start, end);
		return -EINVAL;
	}
	if (end > UINT64_MAX - pmask) {
		say(why, len, "watch(0x%" PRIx64 ", 0x%" PRIx64 "): EINVAL, end beyond the address space",
		    start, end);
		return -EINVAL;
	}
	if (foreign(b)) {
		say(why, len, "watch(0x%" PRIx64 ", 0x%" PRIx64 "): EPERM, the notifier belongs to the parent process (inherited through fork()); open a new one",
		    start, end);
		return -EPERM;
	}
	ps = start & ~pmask;
	pe = (end + pmask) & ~pmask;

	/* Make the region tree current (and keep stale events off us). */
	busy = settle(b);
	if (busy) {
		say(why, len, "watch(0x%" PRIx64 ", 0x%" PRIx64 "): EAGAIN, %s",
		    start, end, busy);
		return -EAGAIN;
	}

	w = calloc(1, sizeof(*w));
	if (!w) {
		say(why, len, "watch(0x%" PRIx64 ", 0x%" PRIx64 "): ENOMEM", start, end);
		return -ENOMEM;
	}
	w->start = start;
	w->end = end;
	w->cookie = cookie;
	w->range.key = start;
	w->range.end = end;
	w->byck.key = cookie;

	/* Fast path: every page already lies in a live region. */
	pthread_mutex_lock(&b->lock);
	if (uffd_tree_find(n->cookies, cookie, 0)) {
		pthread_mutex_unlock(&b->lock);
		free(w);
		say(why, len, "watch(0x%" PRIx64 ", 0x%" PRIx64 "): EINVAL, cookie %" PRIu64 " is already watched",
		    start, end, cookie);
		return -EINVAL;
	}
	if (!first_gap(b, ps, pe, &gs, &lo, &hi)) {
		insert_watch(n, w);
		pthread_mutex_unlock(&b->lock);
		return 0;
	}
	pthread_mutex_unlock(&b->lock);

	pthread_mutex_lock(&b->reg_lock);
	ret = -EAGAIN;
	for (;;) {
		pthread_mutex_lock(&b->lock);
		if (uffd_tree_find(n->cookies, cookie, 0)) {
			pthread_mutex_unlock(&b->lock);
			say(why, len, "watch(0x%" PRIx64 ", 0x%" PRIx64 "): EINVAL, cookie %" PRIu64 " is already watched",
			    start, end, cookie);
			ret = -EINVAL;
			break;
		}
		if (!first_gap(b, ps, pe, &gs, &lo, &hi)) {
			/* Covered, under the same lock the reader retires in. */
			insert_watch(n, w);
			w = NULL;
			pthread_mutex_unlock(&b->lock);
			ret = 0;
			break;
		}
		pthread_mutex_unlock(&b->lock);

		/* With what lies on either side, to check against afterwards. */
		ret = vma_lookup(b, gs, false, &got, &below0, &above0);
		if (ret == -ENOENT) {
			say(why, len, "watch(0x%" PRIx64 ", 0x%" PRIx64 "): ENOMEM, address 0x%" PRIx64 " is not mapped",
			    start, end, gs);
			ret = -ENOMEM;
			break;
		} else if (ret) {
			say(why, len, "watch(0x%" PRIx64 ", 0x%" PRIx64 "): looking up the mapping at 0x%" PRIx64 ": %s",
			    start, end, gs, strerror(-ret));
			break;
		}
		/* The whole VMA, without overlapping regions we hold. */
		vs = got.s;
		ve = got.e;
		rs = vs > lo ? vs : lo;
		re = ve < hi ? ve : hi;
		/* Clipped: on that side the VMA itself is the neighbour. */
		if (rs > vs) {
			below0.err = 0;
			below0.v = got;
		}
		if (re < ve) {
			above0.err = 0;
			above0.v = got;
		}

		r = calloc(1, sizeof(*r));
		if (!r) {
			say(why, len, "watch(0x%" PRIx64 ", 0x%" PRIx64 "): ENOMEM", start, end);
			ret = -ENOMEM;
			break;
		}
		/*
		 * Published before the registration: an UNMAP or REMAP the
		 * kernel sends once [rs, re) is registered (another thread
		 * unmaps it right after, maybe maps a new range with the same
		 * bounds, which the layout check cannot tell apart) finds the
		 * region and retires it, and the check below sees that it is
		 * no longer live. A change before the registration sends
		 * nothing but shows in the layout. Either way the region is
		 * dropped and the lookup repeated. An older event still in
		 * flight may retire it too early: one needless retry.
		 * Tentative until checked: no other watch may rely on it.
		 */
		r->node.key = rs;
		r->node.end = re;
		r->tentative = true;
		pthread_mutex_lock(&b->lock);
		r->node.prio = next_prio(b);
		b->regions = uffd_tree_insert(b->regions, &r->node);
		pthread_mutex_unlock(&b->lock);
		memset(&reg, 0, sizeof(reg));
		reg.range.start = rs;
		reg.range.len = re - rs;
		reg.mode = UFFDIO_REGISTER_MODE_WP;
		if (ioctl(b->uffd, UFFDIO_REGISTER, &reg) < 0) {
			e = errno;
			/* Retired meanwhile: reap() has it (nothing registered). */
			pthread_mutex_lock(&b->lock);
			live = uffd_tree_find(b->regions, rs, 0) == &r->node;
			if (live)
				b->regions = uffd_tree_erase(b->regions, &r->node);
			pthread_mutex_unlock(&b->lock);
			if (live)
				free(r);
			say(why, len, "watch(0x%" PRIx64 ", 0x%" PRIx64 "): UFFDIO_REGISTER(0x%" PRIx64 ", 0x%" PRIx64 "): %s, %s",
			    start, end, rs, re, errname(e), register_refusal(e));
			ret = -e;
			break;
		}
		made_regions = true;	/* undone below if the watch fails */
		/*
		 * The check, right after the registration: [rs, re) is one
		 * VMA, and on each side where that VMA ends exactly at the
		 * edge, the layout is what the lookup saw, or what lies there
		 * now could never have been one VMA with ours. The kernel
		 * cuts a VMA that crosses rs or re when it registers, and
		 * between the lookup and the registration
		 * another thread may have made one: a new mapping next to the
		 * looked-up VMA merges into it (neither is registered yet),
		 * or one is made where part of it was unmapped (no event: not
		 * registered) and reaches past the edge. Its owner's mremap()
		 * of it would then fail with EFAULT. Where our VMA reaches
		 * beyond the edge the kernel merged a registered neighbour
		 * into it: registered before, so not cut. A cut piece that
		 * is not part of our VMA now shows as [rs, re) not being one
		 * VMA. (What this cannot see: a cut-off piece with exactly
		 * the bounds of the VMA that was there before.) A new
		 * anonymous mapping merely placed at the edge looks like a
		 * cut piece: one needless retry, hence no later than this (a
		 * mapping made at the edge after the registration cannot
		 * merge into our registered VMA, hence was not cut). Changes
		 * after the registration to what it registered send events:
		 * the region is retired, which settle() below makes sure of.
		 */
		same = vma_lookup(b, rs, false, &got, &below, &above) == 0 &&
		       got.s <= rs && got.e >= re;
		if (same && got.s == rs)
			same = vma_edge_same(&below, &below0) ||
			       below.err == -ENOENT ||
			       (!below.err && !vma_pieces(&below.v, &got));
		if (same && got.e == re)
			same = vma_edge_same(&above, &above0) ||
			       above.err == -ENOENT ||
			       (!above.err && !vma_pieces(&got, &above.v));
		/* Even after a failed check: the next lookup needs it. */
		busy = settle(b);
		same = same && !busy;
		pthread_mutex_lock(&b->lock);
		live = uffd_tree_find(b->regions, rs, 0) == &r->node;
		if (live && same)
			r->tentative = false;
		else if (live)
			b->regions = uffd_tree_erase(b->regions, &r->node);
		pthread_mutex_unlock(&b->lock);
		if (live && same)
			continue;
		/* Undo what the registration may have cut, then look again. */
		repaired = unregister_inside(b, rs, re, &below0, &above0);
		b->layout_changes++;
		/*
		 * What is left of it may still be registered: reap() decides.
		 * (Not live: the reader retired it, it is on its way there.)
		 */
		if (live && repaired)
			free(r);
		else if (live)
			limbo_append(b, r);
		if (busy) {
			say(why, len, "watch(0x%" PRIx64 ", 0x%" PRIx64 "): EAGAIN, %s",
			    start, end, busy);
			ret = -EAGAIN;
			break;
		}
		if (++retries < UFFD_REG_ATTEMPTS)
			continue;
		ret = -EAGAIN;
		say(why, len, "watch(0x%" PRIx64 ", 0x%" PRIx64 "): EAGAIN, the mapping kept changing while it was registered",
		    start, end);
		break;
	}
	if (ret && made_regions) {
		/* Undo the registrations this failed watch made, if unused. */
		pthread_mutex_lock(&b->lock);
		collect_unused(b, ps, pe, &unused);
		pthread_mutex_unlock(&b->lock);
		drop_regions(b, unused);
	}
	reap(b, UFFD_REAP_BUDGET);
	pthread_mutex_unlock(&b->reg_lock);
	free(w);
	return ret;
}

static int uffd_unwatch(struct ummu_backend *nb, uint64_t cookie)
{
	struct uffd_core *b = nb->core;
	uint64_t pmask = (uint64_t)b->page - 1;
	struct uffd_region *unused = NULL;
	struct uffd_node *n;
	struct uffd_watch *w;
	bool last;

	if (foreign(b))
		return -EPERM;	/* see uffd_close() */
	pthread_mutex_lock(&b->reg_lock);
	pthread_mutex_lock(&b->lock);
	n = uffd_tree_find(nb->cookies, cookie, 0);
	if (!n) {
		pthread_mutex_unlock(&b->lock);
		pthread_mutex_unlock(&b->reg_lock);
		return -EINVAL;
	}
	w = (struct uffd_watch *)((char *)n - offsetof(struct uffd_watch, byck));
	remove_watch(nb, w);
	/*
	 * The last watch gone: nothing may stay registered. A closed Java
	 * notifier unwatches everything but keeps the descriptor until a
	 * cleaner runs, and a leftover registration would meanwhile make
	 * other userfaultfd users in the process fail with EBUSY.
	 */
	last = !b->watches;	/* no notifier watches anything */
	if (last) {
		/*
		 * Events in flight (an mremap's REMAP noting an orphan, an
		 * UNMAP retiring a region) must land before the sweep. After
		 * a timeout the sweep goes ahead: at worst it unregisters what
		 * is being unmapped anyway.
		 */
		pthread_mutex_unlock(&b->lock);
		(void)settle(b);
		pthread_mutex_lock(&b->lock);
		collect_unused(b, 0, UINT64_MAX, &unused);
	}
	else
		collect_unused(b, w->start & ~pmask,
			       (w->end + pmask) & ~pmask, &unused);
	pthread_mutex_unlock(&b->lock);
	drop_regions(b, unused);
	reap(b, last ? 0 : UFFD_REAP_BUDGET);
	pthread_mutex_unlock(&b->reg_lock);
	free(w);
	return 0;
}

/* ---- read ---- */

static void (*read_hook)(void *);	/* uffd_backend_read_hook(), tests */
static void *read_hook_arg;

/*
 * The generation that LAST reports is loaded before wait_reader_batch(),
 * not under the lock: the reader bumps the counter before its read(2) and
 * queues the record only after it, so a value loaded here later could
 * include an event whose record is not queued yet. The caller would take
 * that generation as drained while the record is still to come, and since
 * the unmapping thread was let go inside that read(2), its munmap() may
 * already have returned: a false negative. Loaded first, every bump it
 * includes belongs to a batch that is over, or to the one in flight (its
 * bump was stored after the seq increment, so wait_reader_batch() sees an
 * odd seq and waits for it). A bump after the load is reported by the next
 * change of the counter: at worst one more, empty, drain.
 */
static ssize_t uffd_read(struct ummu_backend *b, struct ummunotify_event *buf,
			 size_t max)
{
	struct uffd_watch *w;
	void (*hook)(void *);
	uint64_t gen;
	size_t n = 0;

	if (foreign(b->core))
		return -EPERM;	/* the parent's events, see uffd_close() */
	gen = __atomic_load_n(b->counter, __ATOMIC_ACQUIRE);
	wait_reader_batch(b->core);
	hook = __atomic_load_n(&read_hook, __ATOMIC_ACQUIRE);
	if (hook)
		hook(read_hook_arg);
	pthread_mutex_lock(&b->core->lock);
	while (n < max && (w = b->qhead)) {
		dequeue(b, w);
		buf[n].type = UMMUNOTIFY_EVENT_TYPE_INVAL;
		buf[n].flags = w->flags;
		buf[n].hint_start = w->hint_start;
		buf[n].hint_end = w->hint_end;
		buf[n].user_cookie_counter = w->cookie;
		b->need_last = true;
		n++;
	}
	if (n < max && !b->qhead && b->need_last) {
		buf[n].type = UMMUNOTIFY_EVENT_TYPE_LAST;
		buf[n].flags = 0;
		buf[n].hint_start = 0;
		buf[n].hint_end = 0;
		buf[n].user_cookie_counter = gen;
		b->need_last = false;
		n++;
	}
	unsignal_pollfd(b);
	pthread_mutex_unlock(&b->core->lock);
	return (ssize_t)n;
}

static const volatile uint64_t *uffd_counter(const struct ummu_backend *b)
{
	return b->counter;
}

static int uffd_pollfd(const struct ummu_backend *b)
{
	return b->evfd;
}

static size_t count_nodes(const struct uffd_node *t)
{
	return t ? 1 + count_nodes(t->l) + count_nodes(t->r) : 0;
}

__attribute__((visibility("hidden")))
void uffd_backend_stats(struct ummu_backend *n, struct uffd_stats *st)
{
	struct uffd_core *b = n->core;
	const struct uffd_watch *w;
	const struct uffd_region *r;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&b->lock);
	st->watches = count_nodes(n->cookies);
	st->all_watches = count_nodes(b->watches);
	st->regions = count_nodes(b->regions);
	for (w = n->qhead; w; w = w->qnext)
		st->queued++;
	st->batches = b->batches;
	st->idle_batches = b->idle_batches;
	st->orphans = b->norphans;
	pthread_mutex_unlock(&b->lock);
	/* reg_lock: the limbo list is its. */
	pthread_mutex_lock(&b->reg_lock);
	for (r = b->limbo; r; r = r->next)
		st->limbo++;
	st->layout_changes = b->layout_changes;
	pthread_mutex_unlock(&b->reg_lock);
	st->procmap_query = b->procmap_query;
	st->changing_probe = b->changing_probe;
	st->settle_waits = __atomic_load_n(&b->settle_waits, __ATOMIC_RELAXED);
	st->settle_giveups = __atomic_load_n(&b->settle_giveups, __ATOMIC_RELAXED);
	st->features = b->features;
	st->core = b;
}

struct describe_ctx {
	char *buf;
	size_t len, off;
	const char *what;
};

static void describe_node(struct uffd_node *n, void *arg)
{
	struct describe_ctx *d = arg;
	const char *mark = "";

	if (!strcmp(d->what, "region") && ((struct uffd_region *)n)->tentative)
		mark = " (tentative)";
	if (d->off < d->len)
		d->off += snprintf(d->buf + d->off, d->len - d->off,
				   "%s [0x%" PRIx64 ", 0x%" PRIx64 ")%s\n",
				   d->what, n->key, n->end, mark);
}

__attribute__((visibility("hidden")))
size_t uffd_backend_describe(struct ummu_backend *n, uint64_t s, uint64_t e,
			     char *buf, size_t len)
{
	struct uffd_core *b = n->core;
	struct describe_ctx d = { .buf = buf, .len = len };
	struct uffd_region *r;

	if (len)
		buf[0] = 0;
	pthread_mutex_lock(&b->reg_lock);
	pthread_mutex_lock(&b->lock);
	d.what = "region";
	uffd_tree_overlaps(b->regions, s, e, describe_node, &d);
	d.what = "watch";
	uffd_tree_overlaps(b->watches, s, e, describe_node, &d);
	d.what = "retired";
	for (r = b->retired; r; r = r->next)
		if (r->node.key < e && r->node.end > s)
			describe_node(&r->node, &d);
	pthread_mutex_unlock(&b->lock);
	d.what = "limbo";
	for (r = b->limbo; r; r = r->next)
		if (r->node.key < e && r->node.end > s)
			describe_node(&r->node, &d);
	pthread_mutex_unlock(&b->reg_lock);
	return d.off < len ? d.off : len;
}

__attribute__((visibility("hidden")))
void uffd_backend_gate(struct ummu_backend *n, int closed)
{
	struct uffd_core *b = n->core;

	if (closed) {
		pthread_mutex_lock(&b->gate);
		__atomic_store_n(&b->gate_closed, closed, __ATOMIC_RELEASE);
	} else {
		__atomic_store_n(&b->gate_closed, 0, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&b->gate);
	}
}

__attribute__((visibility("hidden")))
void uffd_backend_read_hook(void (*fn)(void *), void *arg)
{
	read_hook_arg = arg;
	__atomic_store_n(&read_hook, fn, __ATOMIC_RELEASE);
}

__attribute__((visibility("hidden")))
const struct ummu_backend_ops ummu_userfaultfd_ops = {
	.name = "userfaultfd",
	.probe = uffd_probe,
	.open = uffd_open,
	.capabilities = uffd_capabilities,
	.watch = uffd_watch,
	.unwatch = uffd_unwatch,
	.read = uffd_read,
	.counter = uffd_counter,
	.pollfd = uffd_pollfd,
	.close = uffd_close,
	.retire = uffd_retire,
};
