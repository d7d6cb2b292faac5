// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz.c - random ioctls, arguments, reads and address-space changes
 * against a few open files, checked against an exact model.
 *
 *   fuzz [ITERATIONS [SEED]]     default 200000, seed from the clock (printed)
 *
 * Single-threaded, so the model is exact: it knows every registration of
 * every file, which features each file has, and whether it was used. Every
 * syscall must succeed or fail with an errno from the documented set, and
 * the answer must be the one the model predicts where the ABI pins it down
 * (duplicate and unknown cookies, empty ranges, reserved bits, short reads,
 * exchange after use, unknown ioctls). Every event read must name a live
 * registration, with a hint inside it and only defined flags; counters never
 * go back and move on every unmap that hits a registration. Kernel splats
 * are the harness's to catch.
 */
#define _GNU_SOURCE
#include <sys/wait.h>
#include <time.h>

#include "um.h"

#define NFILES		4
#define MAXREGS		512
#define ARENA_PAGES	64
#define NCOOKIES	256	/* small cookie space: duplicates happen */

struct reg {
	uint64_t cookie, start, end;
	uint32_t ignore;
};

struct mfile {
	int fd;			/* -1: closed */
	const volatile uint64_t *counter;
	uint32_t features;
	int used;		/* certainly used: exchange must say EINVAL */
	int tried;		/* anything attempted: exchange may say EINVAL */
	int nregs;
	struct reg regs[MAXREGS];
	uint64_t last_counter, last_last;
};

static struct mfile files[NFILES];
static uint64_t rs, seed;
static long iterations = 200000, page;
static char *arena, *argbuf, *ro_page, *none_page, *edge;
static void *hole;
static long max_regions = 65536;
static long n_fail, n_ops[16], n_events, n_registered;

enum { OP_IOCTL, OP_READ, OP_MMAP, OP_ARENA, OP_REOPEN, OP_FORK, OP_COUNT };

static uint64_t rnd(void)
{
	rs ^= rs >> 12;
	rs ^= rs << 25;
	rs ^= rs >> 27;
	return rs * 2685821657736338717ULL;
}

#define PICK(n) ((int)(rnd() % (uint64_t)(n)))

__attribute__((format(printf, 1, 2)))
static void bad(const char *fmt, ...)
{
	char buf[600];
	va_list ap;

	if (n_fail++ >= 30)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	diag("%s", buf);
}

static void open_file(struct mfile *f)
{
	memset(f, 0, sizeof(*f));
	f->fd = open(UM_DEV, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (f->fd < 0)
		bad("open: %s", strerror(errno));
}

static void close_file(struct mfile *f)
{
	if (f->fd >= 0 && close(f->fd))
		bad("close: %s", strerror(errno));
	if (f->counter)
		munmap((void *)f->counter, page);
	f->fd = -1;
	f->counter = NULL;
	f->nregs = 0;
}

static struct reg *find(struct mfile *f, uint64_t cookie)
{
	int i;

	for (i = 0; i < f->nregs; i++)
		if (f->regs[i].cookie == cookie)
			return &f->regs[i];
	return NULL;
}

static void check_counter(struct mfile *f, const char *after)
{
	uint64_t c;

	if (!f->counter)
		return;
	c = um_counter(f->counter);
	if (c < f->last_counter)
		bad("counter went back %" PRIu64 " -> %" PRIu64 " after %s",
		    f->last_counter, c, after);
	f->last_counter = c;
}

/* ------------------------------------------------------------ arguments */

enum argkind { A_GOOD, A_RANDOM, A_NULL, A_HOLE, A_NONE, A_RO, A_EDGE,
	       A_KERNEL, A_WILD, A_KINDS };

static int readable(enum argkind k)
{
	return k == A_GOOD || k == A_RANDOM || k == A_RO;
}

static uint64_t rnd_addr(void)
{
	switch (PICK(6)) {
	case 0:
		return rnd();
	case 1:
		return rnd() & 0xffff;
	case 2:
		return ~0ULL - (rnd() & 0xffff);
	default:	/* in or near the arena, where things happen */
		return u64p(arena) - 2 * page +
		       rnd() % ((ARENA_PAGES + 4) * page);
	}
}

static uint64_t rnd_cookie(void)
{
	switch (PICK(8)) {
	case 0:
		return rnd();
	case 1:
		return ~0ULL;
	default:
		return rnd() % NCOOKIES;
	}
}

static void fill_register(struct ummunotify_register_ioctl *r)
{
	r->start = rnd_addr();
	switch (PICK(4)) {
	case 0:
		r->end = rnd_addr();
		break;
	case 1:
		r->end = r->start;
		break;
	default:
		r->end = r->start + 1 + rnd() % (8 * page);
		break;
	}
	r->user_cookie = rnd_cookie();
	r->flags = PICK(3) ? 0 : (PICK(2) ? (uint32_t)rnd() :
				  1U << PICK(16));
	r->reserved = PICK(8) ? 0 : (uint32_t)rnd();
}

/* Returns the pointer for an argument of kind k; fills good content. */
static void *make_arg(enum argkind k, unsigned int cmd)
{
	size_t i;

	switch (k) {
	case A_GOOD:
		if (cmd == UMMUNOTIFY_REGISTER_REGION) {
			fill_register((void *)argbuf);
		} else if (cmd == UMMUNOTIFY_UNREGISTER_REGION) {
			*(uint64_t *)argbuf = rnd_cookie();
		} else {
			uint32_t v = PICK(2) ? (uint32_t)rnd() : (uint32_t)PICK(4);

			memcpy(argbuf, &v, sizeof(v));
		}
		return argbuf;
	case A_RANDOM:
		for (i = 0; i < 64; i += 8) {
			uint64_t v = rnd();

			memcpy(argbuf + 1 + i, &v, 8);
		}
		return argbuf + 1;	/* misaligned too */
	case A_NULL:
		return NULL;
	case A_HOLE:
		return hole;
	case A_NONE:
		return none_page;
	case A_RO:
		return ro_page + (PICK(2) ? 0 : PICK(64));
	case A_EDGE: {
		/* Straddles the hole: 1 to size-1 bytes before it. */
		int sz = cmd == UMMUNOTIFY_EXCHANGE_FEATURES ? 4 :
			 cmd == UMMUNOTIFY_UNREGISTER_REGION ? 8 : 32;

		return edge + page - sz + 1 + PICK(sz - 1);
	}
	case A_KERNEL:
		return (void *)(uintptr_t)(0xffff800000000000ULL + rnd() % (1ULL << 40));
	default:
		return (void *)(uintptr_t)rnd();
	}
}

/* ------------------------------------------------------------ ioctl */

static int vfs_generic(unsigned int cmd)
{
	unsigned int type = _IOC_TYPE(cmd);

	/* Handled by the VFS for every file, before the driver sees them. */
	if (type == 'X' || type == 'f' || type == 0x94 || type == 0x15 ||
	    type == 0)
		return 1;
	switch (cmd) {
	case FIOCLEX: case FIONCLEX: case FIONBIO: case FIOASYNC:
	case FIOQSIZE: case FIONREAD:
		return 1;
	}
	return 0;
}

static unsigned int rnd_cmd(void)
{
	static const unsigned int real[] = {
		UMMUNOTIFY_EXCHANGE_FEATURES, UMMUNOTIFY_REGISTER_REGION,
		UMMUNOTIFY_UNREGISTER_REGION,
	};
	static const unsigned int magics[] = { 'U', 'T', 'V', 'u', 'W' };
	static const unsigned int dirs[] = {
		_IOC_NONE, _IOC_READ, _IOC_WRITE, _IOC_READ | _IOC_WRITE,
	};
	unsigned int cmd;

	do {
		switch (PICK(10)) {
		case 0: case 1: case 2: case 3: case 4: case 5:
			cmd = real[PICK(3)];
			break;
		case 6: case 7:
			cmd = _IOC(dirs[PICK(4)], magics[PICK(5)], PICK(16),
				   PICK(2) ? PICK(65) : PICK(1 << 14));
			break;
		case 8:	/* a real one with one bit flipped */
			cmd = real[PICK(3)] ^ (1U << PICK(32));
			break;
		default:
			cmd = (unsigned int)rnd();
			break;
		}
	} while (vfs_generic(cmd));
	return cmd;
}

static void op_ioctl(struct mfile *f)
{
	unsigned int cmd = rnd_cmd();
	enum argkind k = PICK(10) < 6 ? A_GOOD : PICK(A_KINDS);
	void *arg;
	struct ummunotify_register_ioctl r;
	uint64_t cookie = 0;
	uint32_t req = 0, ans;
	int ret, err;

	/* The model holds MAXREGS per file: make room instead. */
	if (cmd == UMMUNOTIFY_REGISTER_REGION && f->nregs >= MAXREGS - 1)
		cmd = UMMUNOTIFY_UNREGISTER_REGION;
	arg = make_arg(k, cmd);
	/* What the kernel will read, if it can read it. */
	if (readable(k)) {
		memcpy(&r, arg, sizeof(r));
		memcpy(&cookie, arg, sizeof(cookie));
		memcpy(&req, arg, sizeof(req));
	}
	errno = 0;
	ret = ioctl(f->fd, cmd, arg);
	err = errno;

	if (cmd != UMMUNOTIFY_EXCHANGE_FEATURES &&
	    cmd != UMMUNOTIFY_REGISTER_REGION &&
	    cmd != UMMUNOTIFY_UNREGISTER_REGION) {
		if (ret != -1 || err != ENOTTY)
			bad("ioctl(%#x) = %d %s, want ENOTTY", cmd, ret,
			    strerrorname_np_(err));
		return;
	}
	if (ret == -1 && err != EINVAL && err != EFAULT && err != ENOSPC &&
	    err != ENOMEM) {
		bad("ioctl(%#x, arg kind %d) = %s: not a documented errno",
		    cmd, k, strerrorname_np_(err));
		return;
	}
	if (ret != 0 && ret != -1) {
		bad("ioctl(%#x) returned %d", cmd, ret);
		return;
	}
	if (!readable(k)) {
		/* Reading the argument must fail (A_EDGE: it straddles). */
		if (ret == 0 || err != EFAULT)
			bad("ioctl(%#x, unreadable arg kind %d %p) = %d %s, "
			    "want EFAULT", cmd, k, arg, ret,
			    strerrorname_np_(err));
		if (cmd != UMMUNOTIFY_EXCHANGE_FEATURES)
			f->tried = 1;
		return;
	}

	if (cmd == UMMUNOTIFY_EXCHANGE_FEATURES) {
		if (k == A_RO) {
			if (ret == 0 || (err != EFAULT && err != EINVAL))
				bad("EXCHANGE into read-only memory: %d %s",
				    ret, strerrorname_np_(err));
			return;
		}
		if (f->used) {
			if (ret == 0 || err != EINVAL)
				bad("EXCHANGE on a used file: %d %s, want "
				    "EINVAL", ret, strerrorname_np_(err));
			return;
		}
		if (ret == 0) {
			memcpy(&ans, arg, sizeof(ans));
			if (ans != (req & UM_ALL_FEATURES))
				bad("EXCHANGE(%#x) answered %#x", req, ans);
			f->features = ans;
			f->used = f->tried = 1;
		} else if (err != EINVAL || !f->tried) {
			bad("EXCHANGE(%#x) on a %s file: %s", req,
			    f->tried ? "tried" : "fresh",
			    strerrorname_np_(err));
		}
		return;
	}

	f->tried = 1;
	if (cmd == UMMUNOTIFY_UNREGISTER_REGION) {
		struct reg *g = find(f, cookie);

		if (g && ret == 0) {
			*g = f->regs[--f->nregs];
			f->used = 1;
		} else if (g || ret == 0 || err != EINVAL) {
			bad("UNREGISTER(%#" PRIx64 ") of a%s cookie: %d %s",
			    cookie, g ? " live" : "n unknown", ret,
			    strerrorname_np_(err));
		}
		return;
	}

	/* REGISTER_REGION: the model predicts the answer. */
	{
		uint32_t allowed = 0;
		int want_einval, want_enospc;

		if (f->features & UMMUNOTIFY_FEATURE_CAUSE_FILTER)
			allowed = 0xffU | (1U << UMMUNOTIFY_CAUSE_OTHER);
		want_einval = r.start >= r.end || r.reserved ||
			      (r.flags & ~allowed) || find(f, r.user_cookie);
		want_enospc = !want_einval && f->nregs >= max_regions;
		if (want_einval && !(ret == -1 && err == EINVAL))
			bad("REGISTER{%#" PRIx64 ", %#" PRIx64 ", cookie %#"
			    PRIx64 ", flags %#x, reserved %#x} = %d %s, want "
			    "EINVAL", (uint64_t)r.start, (uint64_t)r.end,
			    (uint64_t)r.user_cookie, r.flags, r.reserved, ret,
			    strerrorname_np_(err));
		else if (want_enospc && !(ret == -1 && err == ENOSPC))
			bad("REGISTER past the limit: %d %s", ret,
			    strerrorname_np_(err));
		else if (!want_einval && !want_enospc && ret != 0 &&
			 err != ENOMEM)
			bad("REGISTER{%#" PRIx64 ", %#" PRIx64 ", cookie %#"
			    PRIx64 ", flags %#x} refused: %s",
			    (uint64_t)r.start, (uint64_t)r.end,
			    (uint64_t)r.user_cookie, r.flags,
			    strerrorname_np_(err));
		if (ret == 0) {
			f->used = 1;
			n_registered++;
			if (f->nregs < MAXREGS) {
				struct reg *g = &f->regs[f->nregs++];

				g->cookie = r.user_cookie;
				g->start = r.start;
				g->end = r.end;
				g->ignore = r.flags;
			} else {
				bad("model full");
			}
		}
	}
}

/* ------------------------------------------------------------ read */

static void check_event(struct mfile *f, const struct ummunotify_event *e)
{
	uint32_t ok = UMMUNOTIFY_EVENT_FLAG_HINT;
	struct reg *g;

	if (e->type == UMMUNOTIFY_EVENT_TYPE_LAST) {
		uint64_t now = f->counter ? um_counter(f->counter) : ~0ULL;

		if (e->user_cookie_counter < f->last_last ||
		    e->user_cookie_counter > now)
			bad("LAST %" PRIu64 " after LAST %" PRIu64
			    ", counter %" PRIu64,
			    (uint64_t)e->user_cookie_counter, f->last_last,
			    now);
		f->last_last = e->user_cookie_counter;
		return;
	}
	if (e->type != UMMUNOTIFY_EVENT_TYPE_INVAL) {
		bad("event of type %u", e->type);
		return;
	}
	g = find(f, e->user_cookie_counter);
	if (!g) {
		bad("event for a cookie not registered: %s", ev_str(e));
		return;
	}
	if (f->features & UMMUNOTIFY_FEATURE_EVENT_CAUSE)
		ok |= UMMUNOTIFY_EVENT_CAUSE_MASK;
	if (e->flags & ~ok)
		bad("undefined flags: %s", ev_str(e));
	if (e->hint_start >= e->hint_end || e->hint_start < g->start ||
	    e->hint_end > g->end)
		bad("hint outside [%#" PRIx64 ", %#" PRIx64 "): %s", g->start,
		    g->end, ev_str(e));
	if (!(e->flags & UMMUNOTIFY_EVENT_FLAG_HINT) &&
	    (e->hint_start != g->start || e->hint_end != g->end))
		bad("no HINT but not the whole range: %s", ev_str(e));
}

static void op_read(struct mfile *f)
{
	static char buf[4096 + 64] __attribute__((aligned(64)));
	size_t len = PICK(4) ? PICK(4097) : PICK(64);
	enum argkind k = PICK(4) ? A_GOOD : PICK(A_KINDS);
	char *p;
	ssize_t n;
	int err, i;

	switch (k) {
	case A_GOOD:
	case A_RANDOM:
		p = buf + PICK(33);
		break;
	case A_EDGE:	/* room for a few events before the hole */
		p = edge + page - 32 * PICK(4) - PICK(2) * PICK(32);
		break;
	default:
		p = make_arg(k, 0);
		break;
	}
	errno = 0;
	n = read(f->fd, p, len);
	err = errno;
	if (len < 32) {
		/* The VFS refuses a non-user buffer before the driver. */
		if (n == -1 && err == EFAULT && (k == A_KERNEL || k == A_WILD))
			return;
		if (n != -1 || err != EINVAL)
			bad("read(%zu bytes) = %zd %s, want EINVAL", len, n,
			    strerrorname_np_(err));
		return;
	}
	f->tried = 1;
	if (n < 0) {
		if (err != EAGAIN && err != EFAULT)
			bad("read(%zu bytes, buffer kind %d) = %s", len, k,
			    strerrorname_np_(err));
		if (err == EFAULT && (k == A_GOOD || k == A_RANDOM))
			bad("read into a good buffer: EFAULT");
		return;
	}
	if (n == 0 || n % 32 || (size_t)n > len) {
		bad("read(%zu) returned %zd bytes", len, n);
		return;
	}
	if (k != A_GOOD && k != A_RANDOM && k != A_EDGE)
		bad("read into bad buffer kind %d %p returned %zd", k, p, n);
	f->used = 1;
	for (i = 0; i < n / 32; i++) {
		struct ummunotify_event e;

		memcpy(&e, p + 32 * i, sizeof(e));
		n_events++;
		check_event(f, &e);
		if (e.type == UMMUNOTIFY_EVENT_TYPE_LAST && i != n / 32 - 1)
			bad("LAST is not the last event of the read");
	}
}

/* ------------------------------------------------------------ mmap */

static void op_mmap(struct mfile *f)
{
	static const struct { int prot, flags, pages, off, ok; } v[] = {
		{ PROT_READ, MAP_SHARED, 1, 0, 1 },
		{ PROT_READ, MAP_SHARED, 1, 0, 1 },
		{ PROT_READ | PROT_WRITE, MAP_SHARED, 1, 0, 0 },
		{ PROT_READ, MAP_SHARED, 2, 0, 0 },
		{ PROT_READ, MAP_SHARED, 1, 1, 0 },
		{ PROT_READ, MAP_PRIVATE, 1, 0, 0 },
	};
	int i = PICK(6);
	void *p = mmap(NULL, v[i].pages * page, v[i].prot, v[i].flags, f->fd,
		       v[i].off * page);

	f->tried = 1;
	if (v[i].ok != (p != MAP_FAILED)) {
		bad("mmap variant %d: %s", i,
		    p == MAP_FAILED ? strerror(errno) : "accepted");
		if (p != MAP_FAILED)
			munmap(p, v[i].pages * page);
		return;
	}
	if (p == MAP_FAILED) {
		if (errno != EINVAL && errno != EACCES)
			bad("mmap variant %d refused with %s", i,
			    strerrorname_np_(errno));
		return;
	}
	f->used = 1;
	if (um_counter(p) < f->last_counter)
		bad("new mapping shows an older counter");
	if (f->counter)
		munmap((void *)f->counter, page);
	f->counter = p;
	check_counter(f, "mmap");
}

/* ------------------------------------------------------------ arena */

/* Registrations (not ignoring cause) that [s, e) hits, per file. */
static int hits(struct mfile *f, uint64_t s, uint64_t e, unsigned int cause)
{
	int i;

	for (i = 0; i < f->nregs; i++)
		if (f->regs[i].start < e && s < f->regs[i].end &&
		    !(f->regs[i].ignore & (1U << cause)))
			return 1;
	return 0;
}

static void op_arena(void)
{
	int first = PICK(ARENA_PAGES), n = 1 + PICK(ARENA_PAGES - first);
	char *p = arena + first * page;
	size_t len = n * page;
	uint64_t before[NFILES];
	int i, what = PICK(5), must[NFILES];

	for (i = 0; i < NFILES; i++) {
		before[i] = files[i].counter ? um_counter(files[i].counter) : 0;
		must[i] = files[i].fd >= 0 && files[i].counter &&
			  what == 0 &&
			  hits(&files[i], u64p(p), u64p(p) + len,
			       UMMUNOTIFY_CAUSE_UNMAP);
	}
	switch (what) {
	case 0:	/* munmap, then take the hole back at once */
		if (munmap(p, len))
			bad("munmap(arena): %s", strerror(errno));
		if (mmap(p, len, PROT_READ | PROT_WRITE, MAP_PRIVATE |
			 MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != p)
			bad("re-mmap(arena): %s", strerror(errno));
		break;
	case 1:	/* populate, so that later changes have pages to clear */
		mprotect(p, len, PROT_READ | PROT_WRITE);
		memset(p, 0x5a, len);
		break;
	case 2:
		madvise(p, len, MADV_DONTNEED);
		break;
	case 3:
		mprotect(p, len, PICK(2) ? PROT_READ : PROT_READ | PROT_WRITE);
		break;
	default:
		if (mmap(p, len, PROT_READ | PROT_WRITE, MAP_PRIVATE |
			 MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p)
			bad("mmap(MAP_FIXED, arena): %s", strerror(errno));
		break;
	}
	for (i = 0; i < NFILES; i++) {
		if (files[i].fd < 0)
			continue;
		if (must[i] && um_counter(files[i].counter) == before[i])
			bad("file %d: munmap [%p, +%zu) hit a registration, "
			    "counter stayed %" PRIu64, i, p, len, before[i]);
		check_counter(&files[i], "arena op");
	}
}

/* ------------------------------------------------------------ fork */

static void op_fork(struct mfile *f)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		bad("fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		struct ummunotify_event e;
		int bad_child = 0;

		fill_register((void *)argbuf);
		if (ioctl(f->fd, UMMUNOTIFY_REGISTER_REGION, argbuf) != -1 ||
		    errno != EPERM)
			bad_child |= 1;
		if (read(f->fd, &e, sizeof(e)) != -1 || errno != EPERM)
			bad_child |= 2;
		_exit(bad_child);
	}
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		bad("forked child: ioctl/read not EPERM (status %#x)", st);
}

/* ------------------------------------------------------------ main */

static void setup(void)
{
	int i;

	page = pg();
	if (um_param_read(UM_PARAM_MAX_REGIONS, &max_regions))
		max_regions = 65536;
	/* Arena: where registrations and unmaps meet. */
	arena = map_pages(ARENA_PAGES);
	argbuf = map_pages(1);
	ro_page = map_pages(1);
	memset(ro_page, 0x11, page);
	ASSERT(mprotect(ro_page, page, PROT_READ) == 0, "mprotect");
	none_page = map_pages(1);
	ASSERT(mprotect(none_page, page, PROT_NONE) == 0, "mprotect");
	/*
	 * The hole and the page before it sit far below where mmap(NULL)
	 * places anything (top-down from below the stack), so that no
	 * mapping made later lands in the hole.
	 */
	hole = (void *)(uintptr_t)0x200000000ULL;
	edge = mmap((char *)hole - page, page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ASSERT(edge == (char *)hole - page, "mmap(edge page at %p): %s",
	       (char *)hole - page, strerror(errno));
	{
		unsigned char v;

		ASSERT(mincore(hole, page, &v) == -1 && errno == ENOMEM,
		       "%p is mapped: no hole to fuzz with", hole);
	}
	for (i = 0; i < NFILES; i++)
		open_file(&files[i]);
	signal(SIGIO, SIG_IGN);
}

static void fuzz(void)
{
	long it;

	setup();
	for (it = 0; it < iterations; it++) {
		struct mfile *f = &files[PICK(NFILES)];
		int op = PICK(100);

		if (f->fd < 0) {
			open_file(f);
			continue;
		}
		if (op < 45)
			op = OP_IOCTL;
		else if (op < 75)
			op = OP_READ;
		else if (op < 78)
			op = OP_MMAP;
		else if (op < 98)
			op = OP_ARENA;
		else if (op < 99 || PICK(50))
			op = OP_REOPEN;
		else
			op = OP_FORK;
		n_ops[op]++;
		switch (op) {
		case OP_IOCTL:
			op_ioctl(f);
			break;
		case OP_READ:
			op_read(f);
			break;
		case OP_MMAP:
			op_mmap(f);
			break;
		case OP_ARENA:
			op_arena();
			break;
		case OP_REOPEN:
			/* Only now and then: files should fill up first. */
			if (PICK(20) == 0) {
				close_file(f);
				open_file(f);
			}
			break;
		default:
			op_fork(f);
			break;
		}
		check_counter(f, "op");
		if (n_fail > 100)
			break;
	}
	diag("seed %" PRIu64 ": %ld iterations: %ld ioctl, %ld read, %ld mmap, "
	     "%ld arena, %ld reopen, %ld fork", seed, it, n_ops[OP_IOCTL],
	     n_ops[OP_READ], n_ops[OP_MMAP], n_ops[OP_ARENA],
	     n_ops[OP_REOPEN], n_ops[OP_FORK]);
	diag("%ld registrations accepted, %ld events read", n_registered,
	     n_events);
	EXPECT(n_fail == 0, "%ld unexpected results (first 30 above)", n_fail);
}

int main(int argc, char **argv)
{
	static char name[80];
	struct tap_case cases[] = { { name, fuzz, 900 } };
	struct timespec ts;

	if (argc > 1)
		iterations = strtol(argv[1], NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	seed = argc > 2 ? strtoull(argv[2], NULL, 0) :
	       (uint64_t)ts.tv_sec * 1000003 + ts.tv_nsec;
	rs = seed ? seed : 1;
	snprintf(name, sizeof(name), "fuzz_%ld_iterations_seed_%" PRIu64,
		 iterations, seed);
	printf("# fuzz: %ld iterations, seed %" PRIu64 " (rerun: fuzz %ld %"
	       PRIu64 ")\n", iterations, seed, iterations, seed);
	return tap_run(cases, 1, um_skip_reason());
}
