// SPDX-License-Identifier: GPL-2.0
/*
 * ummunotify - user-space notification of MMU invalidations.
 *
 * A revival of the 2010 ummunotify driver for current kernels, binary
 * compatible with it (see include/uapi/linux/ummunotify.h and README.md).
 *
 * Each open file watches the address space (mm) of the process that opened
 * it through its own mmu_notifier. User space registers byte ranges under
 * 64-bit cookies; an invalidation overlapping a registration queues that
 * registration once (coalescing later hits until it is read), and bumps a
 * 64-bit generation counter that user space maps read-only.
 *
 * Locking:
 *  - file->lock (spinlock) protects both trees, the event queue, need_last
 *    and the counter. It is the only lock the MMU notifier callbacks take.
 *    Those callbacks may run in non-blockable context and inside reclaim,
 *    so nothing under file->lock sleeps, allocates or touches user memory.
 *  - file->mutex serialises readers against register, unregister and
 *    EXCHANGE_FEATURES. read() holds it across copy_to_user(), which may
 *    fault and take mmap_lock: the order is mutex -> mmap_lock, so
 *    f_op->mmap (called with mmap_lock held) never takes the mutex.
 *  - Nothing takes mmap_lock while holding file->lock.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/interval_tree_generic.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/rbtree.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include <linux/ummunotify.h>

#include "ummunotify_compat.h"

static unsigned int max_regions_per_file = 65536;
module_param(max_regions_per_file, uint, 0644);
MODULE_PARM_DESC(max_regions_per_file,
		 "Registrations one open file may hold; more fail with ENOSPC (default 65536)");

/* Events staged per pass of read(); bounds the kernel buffer per file. */
#define UMMU_READ_BATCH		64

/* Features this driver implements. */
#define UMMU_FEATURES		(UMMUNOTIFY_FEATURE_EVENT_CAUSE | \
				 UMMUNOTIFY_FEATURE_CAUSE_FILTER)

#define UMMU_CAUSE_BIT(cause)	(1U << (cause))

/* Cause bits register flags may name under UMMUNOTIFY_FEATURE_CAUSE_FILTER. */
#define UMMU_KNOWN_CAUSES	(UMMU_CAUSE_BIT(UMMUNOTIFY_CAUSE_UNMAP) |	\
				 UMMU_CAUSE_BIT(UMMUNOTIFY_CAUSE_CLEAR) |	\
				 UMMU_CAUSE_BIT(UMMUNOTIFY_CAUSE_PROTECTION_VMA) | \
				 UMMU_CAUSE_BIT(UMMUNOTIFY_CAUSE_PROTECTION_PAGE) | \
				 UMMU_CAUSE_BIT(UMMUNOTIFY_CAUSE_SOFT_DIRTY) |	\
				 UMMU_CAUSE_BIT(UMMUNOTIFY_CAUSE_RELEASE) |	\
				 UMMU_CAUSE_BIT(UMMUNOTIFY_CAUSE_MIGRATE) |	\
				 UMMU_CAUSE_BIT(UMMUNOTIFY_CAUSE_EXCLUSIVE) |	\
				 UMMU_CAUSE_BIT(UMMUNOTIFY_CAUSE_OTHER))

/* Bits of ummunotify_file.state */
#define UMMU_STATE_USED		0	/* registered, read, mapped or exchanged */

struct ummunotify_reg {
	/* interval tree node, keyed by [start, last] */
	struct rb_node		it_node;
	u64			start;
	u64			last;		/* end - 1: the tree is inclusive */
	u64			subtree_last;

	struct rb_node		cookie_node;
	u64			user_cookie;

	/* FIFO of invalidated registrations; empty while not queued */
	struct list_head	queue;
	u64			hint_start;
	u64			hint_end;
	u32			ignore;		/* cause bits to ignore */
	u32			causes;		/* cause bits since last read */
	bool			queued;
	bool			hint;
};

/* One staged event of read(), kept so a failed copy can be undone. */
struct ummu_staged {
	struct ummunotify_reg	*reg;		/* NULL for the LAST event */
	u32			causes;
};

struct ummunotify_file {
	struct mmu_notifier	mn;
	struct mm_struct	*mm;		/* mmgrab()ed for our lifetime */

	spinlock_t		lock;		/* see "Locking" above */
	struct rb_root_cached	itree;
	struct rb_root		cookies;
	struct list_head	queue;
	unsigned int		nregions;
	bool			need_last;	/* an INVAL was read since LAST */
	bool			closing;	/* release() is ours: ignore */
	u64			*counter;	/* first word of counter_page */

	struct mutex		mutex;		/* see "Locking" above */
	u32			features;
	struct ummunotify_event	evbuf[UMMU_READ_BATCH];
	struct ummu_staged	staged[UMMU_READ_BATCH];

	struct page		*counter_page;
	wait_queue_head_t	wait;
	struct fasync_struct	*fasync;
	unsigned long		state;
};

#define UMMU_REG_START(reg)	((reg)->start)
#define UMMU_REG_LAST(reg)	((reg)->last)

INTERVAL_TREE_DEFINE(struct ummunotify_reg, it_node, u64, subtree_last,
		     UMMU_REG_START, UMMU_REG_LAST, static, ummu_it);

static struct ummunotify_reg *ummu_cookie_find(struct ummunotify_file *file,
					       u64 cookie)
{
	struct rb_node *node = file->cookies.rb_node;

	while (node) {
		struct ummunotify_reg *reg =
			rb_entry(node, struct ummunotify_reg, cookie_node);

		if (cookie < reg->user_cookie)
			node = node->rb_left;
		else if (cookie > reg->user_cookie)
			node = node->rb_right;
		else
			return reg;
	}
	return NULL;
}

/* Returns false, inserting nothing, if the cookie is already in use. */
static bool ummu_cookie_insert(struct ummunotify_file *file,
			       struct ummunotify_reg *new)
{
	struct rb_node **link = &file->cookies.rb_node, *parent = NULL;

	while (*link) {
		struct ummunotify_reg *reg =
			rb_entry(*link, struct ummunotify_reg, cookie_node);

		parent = *link;
		if (new->user_cookie < reg->user_cookie)
			link = &parent->rb_left;
		else if (new->user_cookie > reg->user_cookie)
			link = &parent->rb_right;
		else
			return false;
	}
	rb_link_node(&new->cookie_node, parent, link);
	rb_insert_color(&new->cookie_node, &file->cookies);
	return true;
}

/*
 * The kernel's event numbers are not ABI; ours are. Map each one we know
 * explicitly so a renumbering upstream cannot silently change what user
 * space sees.
 */
static u32 ummu_cause(enum mmu_notifier_event event)
{
	switch ((int)event) {
	case MMU_NOTIFY_UNMAP:
		return UMMUNOTIFY_CAUSE_UNMAP;
	case MMU_NOTIFY_CLEAR:
		return UMMUNOTIFY_CAUSE_CLEAR;
	case MMU_NOTIFY_PROTECTION_VMA:
		return UMMUNOTIFY_CAUSE_PROTECTION_VMA;
	case MMU_NOTIFY_PROTECTION_PAGE:
		return UMMUNOTIFY_CAUSE_PROTECTION_PAGE;
	case MMU_NOTIFY_SOFT_DIRTY:
		return UMMUNOTIFY_CAUSE_SOFT_DIRTY;
	case MMU_NOTIFY_RELEASE:
		return UMMUNOTIFY_CAUSE_RELEASE;
	case MMU_NOTIFY_MIGRATE:
		return UMMUNOTIFY_CAUSE_MIGRATE;
	case UMMU_NOTIFY_EXCLUSIVE:
		return UMMUNOTIFY_CAUSE_EXCLUSIVE;
	default:
		return UMMUNOTIFY_CAUSE_OTHER;
	}
}

/*
 * Record that [start, last] of @reg was invalidated for @cause. Called
 * with file->lock held. The first hit since the registration was last read
 * queues it with the exact overlap as hint; a further hit before it is read
 * leaves it in place and widens the report to the whole registration.
 */
static void ummu_hit(struct ummunotify_file *file, struct ummunotify_reg *reg,
		     u64 start, u64 last, u32 cause)
{
	if (!reg->queued) {
		reg->queued = true;
		reg->hint = true;
		reg->hint_start = max(start, reg->start);
		reg->hint_end = min(last, reg->last) + 1;
		list_add_tail(&reg->queue, &file->queue);
	} else {
		reg->hint = false;
	}
	reg->causes |= UMMU_CAUSE_BIT(cause);
}

/*
 * Called with file->lock held, after the events are queued: a reader that
 * loads the counter with acquire order and sees the new value finds the
 * events with read(). A plain load suffices for the old value because all
 * writers hold file->lock.
 */
static void ummu_bump_counter(struct ummunotify_file *file)
{
	/* Pairs with the user's acquire load of the mapped counter. */
	smp_store_release(file->counter, *file->counter + 1);
}

static void ummu_wake(struct ummunotify_file *file)
{
	wake_up_interruptible(&file->wait);
	kill_fasync(&file->fasync, SIGIO, POLL_IN);
}

/*
 * Reporting from invalidate_range_start() rather than _end() means the
 * counter has moved before the unmapping system call returns. We never
 * need to block, so this returns 0 even in non-blockable context.
 */
static int ummu_invalidate_range_start(struct mmu_notifier *mn,
				       const struct mmu_notifier_range *range)
{
	struct ummunotify_file *file =
		container_of(mn, struct ummunotify_file, mn);
	u32 cause = ummu_cause(range->event);
	struct ummunotify_reg *reg;
	u64 start = range->start, last;
	bool hit = false;

	if (range->end <= range->start)
		return 0;
	last = range->end - 1;

	spin_lock(&file->lock);
	for (reg = ummu_it_iter_first(&file->itree, start, last); reg;
	     reg = ummu_it_iter_next(reg, start, last)) {
		if (reg->ignore & UMMU_CAUSE_BIT(cause))
			continue;
		ummu_hit(file, reg, start, last, cause);
		hit = true;
	}
	if (hit)
		ummu_bump_counter(file);
	spin_unlock(&file->lock);

	if (hit)
		ummu_wake(file);
	return 0;
}

/*
 * The address space is going away (exit_mmap) and no further invalidation
 * will be reported for it: every registration is invalid as a whole.
 * Queue each one (cause RELEASE, filterable) and bump the counter once, so
 * anything still watching the counter page or the queue sees the truth.
 * mmu_notifier_unregister() from our own close also calls this; then the
 * file is being freed and there is nobody to tell.
 */
static void ummu_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct ummunotify_file *file =
		container_of(mn, struct ummunotify_file, mn);
	struct ummunotify_reg *reg;
	bool hit = false;

	spin_lock(&file->lock);
	if (file->closing) {
		spin_unlock(&file->lock);
		return;
	}
	for (reg = ummu_it_iter_first(&file->itree, 0, U64_MAX); reg;
	     reg = ummu_it_iter_next(reg, 0, U64_MAX)) {
		if (reg->ignore & UMMU_CAUSE_BIT(UMMUNOTIFY_CAUSE_RELEASE))
			continue;
		ummu_hit(file, reg, reg->start, reg->last,
			 UMMUNOTIFY_CAUSE_RELEASE);
		hit = true;
	}
	if (hit)
		ummu_bump_counter(file);
	spin_unlock(&file->lock);

	if (hit)
		ummu_wake(file);
}

static const struct mmu_notifier_ops ummu_mn_ops = {
	.release		= ummu_release,
	.invalidate_range_start	= ummu_invalidate_range_start,
};

/*
 * A file watches exactly one mm. Another process holding the file (a
 * forked child, or one that received it over a socket) would otherwise
 * register ranges in, and consume the events of, an address space that is
 * not its own.
 */
static bool ummu_foreign(struct ummunotify_file *file)
{
	return current->mm != file->mm;
}

static int ummunotify_open(struct inode *inode, struct file *filp)
{
	struct ummunotify_file *file;
	int ret;

	/* 2010 ABI: the device is read-only; a writable open is refused. */
	if ((filp->f_flags & O_ACCMODE) != O_RDONLY)
		return -EINVAL;
	if (!current->mm)
		return -EINVAL;

	file = kzalloc(sizeof(*file), GFP_KERNEL_ACCOUNT);
	if (!file)
		return -ENOMEM;
	file->counter_page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	if (!file->counter_page) {
		ret = -ENOMEM;
		goto err_free_file;
	}
	file->counter = page_address(file->counter_page);

	spin_lock_init(&file->lock);
	file->itree = RB_ROOT_CACHED;
	file->cookies = RB_ROOT;
	INIT_LIST_HEAD(&file->queue);
	mutex_init(&file->mutex);
	init_waitqueue_head(&file->wait);

	file->mm = current->mm;
	mmgrab(file->mm);
	file->mn.ops = &ummu_mn_ops;
	ret = mmu_notifier_register(&file->mn, file->mm);
	if (ret)
		goto err_mmdrop;

	filp->private_data = file;
	return stream_open(inode, filp);

err_mmdrop:
	mmdrop(file->mm);
	__free_page(file->counter_page);
err_free_file:
	kfree(file);
	return ret;
}

static int ummunotify_release(struct inode *inode, struct file *filp)
{
	struct ummunotify_file *file = filp->private_data;
	struct ummunotify_reg *reg, *next;

	spin_lock(&file->lock);
	file->closing = true;
	spin_unlock(&file->lock);

	/*
	 * After this returns no callback is running or will run (it waits
	 * for SRCU), whether or not the mm already went through exit_mmap.
	 */
	mmu_notifier_unregister(&file->mn, file->mm);
	mmdrop(file->mm);

	/*
	 * Post-order traversal never looks at a node after handing it to
	 * kfree() (the 2010 driver called rb_next() on freed nodes here).
	 */
	rbtree_postorder_for_each_entry_safe(reg, next, &file->cookies,
					     cookie_node) {
		kfree(reg);
		/* max_regions_per_file may have been raised a long way */
		cond_resched();
	}

	/* Every mapping of the page held a file reference: none is left. */
	__free_page(file->counter_page);
	kfree(file);
	return 0;
}

static bool ummu_readable(struct ummunotify_file *file)
{
	bool readable;

	spin_lock(&file->lock);
	readable = !list_empty(&file->queue) || file->need_last;
	spin_unlock(&file->lock);
	return readable;
}

/*
 * Move up to @max events from the queue to file->evbuf, appending LAST once
 * the queue has been emptied after at least one INVAL was taken. Called
 * with file->mutex held. Sets *last if the batch ends with LAST.
 */
static unsigned int ummu_stage(struct ummunotify_file *file, unsigned int max,
			       bool *last)
{
	struct ummunotify_event *ev;
	struct ummunotify_reg *reg;
	unsigned int n = 0;

	*last = false;
	spin_lock(&file->lock);
	while (n < max && !list_empty(&file->queue)) {
		reg = list_first_entry(&file->queue, struct ummunotify_reg,
				       queue);
		list_del_init(&reg->queue);
		reg->queued = false;

		ev = &file->evbuf[n];
		ev->type = UMMUNOTIFY_EVENT_TYPE_INVAL;
		ev->flags = 0;
		if (reg->hint) {
			ev->flags |= UMMUNOTIFY_EVENT_FLAG_HINT;
			ev->hint_start = reg->hint_start;
			ev->hint_end = reg->hint_end;
		} else {
			ev->hint_start = reg->start;
			ev->hint_end = reg->last + 1;
		}
		if (file->features & UMMUNOTIFY_FEATURE_EVENT_CAUSE)
			ev->flags |= (reg->causes << UMMUNOTIFY_EVENT_CAUSE_SHIFT) &
				     UMMUNOTIFY_EVENT_CAUSE_MASK;
		ev->user_cookie_counter = reg->user_cookie;

		file->staged[n].reg = reg;
		file->staged[n].causes = reg->causes;
		reg->causes = 0;
		file->need_last = true;
		n++;
	}
	if (n < max && file->need_last && list_empty(&file->queue)) {
		ev = &file->evbuf[n];
		ev->type = UMMUNOTIFY_EVENT_TYPE_LAST;
		ev->flags = 0;
		ev->hint_start = 0;
		ev->hint_end = 0;
		ev->user_cookie_counter = *file->counter;
		file->staged[n].reg = NULL;
		file->staged[n].causes = 0;
		file->need_last = false;
		*last = true;
		n++;
	}
	spin_unlock(&file->lock);
	return n;
}

/*
 * Put staged events [from, n) that were not copied out back at the head of
 * the queue, in their order, so a fault in the user buffer loses nothing.
 * A registration invalidated again meanwhile is already queued: merge (the
 * report widens to the whole range) and move it back to its old place.
 * Called with file->mutex held, so no registration was freed meanwhile.
 */
static void ummu_unstage(struct ummunotify_file *file, unsigned int from,
			 unsigned int n)
{
	unsigned int i;

	spin_lock(&file->lock);
	for (i = n; i-- > from; ) {
		struct ummunotify_reg *reg = file->staged[i].reg;
		struct ummunotify_event *ev = &file->evbuf[i];

		file->need_last = true;
		if (!reg)
			continue;
		if (reg->queued) {
			reg->hint = false;
			list_move(&reg->queue, &file->queue);
		} else {
			reg->queued = true;
			reg->hint = ev->flags & UMMUNOTIFY_EVENT_FLAG_HINT;
			reg->hint_start = ev->hint_start;
			reg->hint_end = ev->hint_end;
			list_add(&reg->queue, &file->queue);
		}
		reg->causes |= file->staged[i].causes;
	}
	spin_unlock(&file->lock);
}

static ssize_t ummunotify_read(struct file *filp, char __user *buf,
			       size_t count, loff_t *pos)
{
	struct ummunotify_file *file = filp->private_data;
	const size_t evsize = sizeof(struct ummunotify_event);
	size_t max = count / evsize, done = 0;
	unsigned int n, copied;
	unsigned long left;
	bool last;
	int ret;

	if (ummu_foreign(file))
		return -EPERM;
	/* Whole events only; the 2010 driver returned 0 here. */
	if (!max)
		return -EINVAL;
	set_bit(UMMU_STATE_USED, &file->state);

	while (done < max) {
		ret = mutex_lock_interruptible(&file->mutex);
		if (ret)
			return done ? done * evsize : ret;
		n = ummu_stage(file, min_t(size_t, max - done, UMMU_READ_BATCH),
			       &last);
		if (!n) {
			mutex_unlock(&file->mutex);
			if (done)
				break;
			if (filp->f_flags & O_NONBLOCK)
				return -EAGAIN;
			/* Never sleep holding the mutex: register must go on. */
			ret = wait_event_interruptible(file->wait,
						       ummu_readable(file));
			if (ret)
				return ret;
			continue;
		}

		left = copy_to_user(buf + done * evsize, file->evbuf,
				    n * evsize);
		copied = n - DIV_ROUND_UP(left, evsize);
		if (copied < n)
			ummu_unstage(file, copied, n);
		mutex_unlock(&file->mutex);

		done += copied;
		if (copied < n) {
			if (!done)
				return -EFAULT;
			break;
		}
		/* LAST closes a read: whatever follows is a newer generation. */
		if (last)
			break;
	}
	return done * evsize;
}

static __poll_t ummunotify_poll(struct file *filp, poll_table *wait)
{
	struct ummunotify_file *file = filp->private_data;

	/* read() would fail with EPERM: say so rather than spin the poller. */
	if (ummu_foreign(file))
		return EPOLLERR;
	poll_wait(filp, &file->wait, wait);
	return ummu_readable(file) ? EPOLLIN | EPOLLRDNORM : 0;
}

static int ummunotify_fasync(int fd, struct file *filp, int on)
{
	struct ummunotify_file *file = filp->private_data;

	return fasync_helper(fd, filp, on, &file->fasync);
}

static long ummu_exchange_features(struct ummunotify_file *file,
				   u32 __user *arg)
{
	u32 requested, granted;
	long ret = 0;

	if (get_user(requested, arg))
		return -EFAULT;
	granted = requested & UMMU_FEATURES;

	mutex_lock(&file->mutex);
	if (test_bit(UMMU_STATE_USED, &file->state)) {
		ret = -EINVAL;
		goto out;
	}
	/* Nothing is in force unless the caller learnt what is. */
	if (put_user(granted, arg)) {
		ret = -EFAULT;
		goto out;
	}
	file->features = granted;
	set_bit(UMMU_STATE_USED, &file->state);
out:
	mutex_unlock(&file->mutex);
	return ret;
}

static long ummu_register(struct ummunotify_file *file,
			  struct ummunotify_register_ioctl __user *arg)
{
	struct ummunotify_register_ioctl r;
	struct ummunotify_reg *reg;
	u32 allowed = 0;
	long ret = 0;

	if (copy_from_user(&r, arg, sizeof(r)))
		return -EFAULT;
	if (r.start >= r.end || r.reserved)
		return -EINVAL;

	/* Allocate before taking the spinlock; charged to the caller. */
	reg = kzalloc(sizeof(*reg), GFP_KERNEL_ACCOUNT);
	if (!reg)
		return -ENOMEM;
	reg->start = r.start;
	reg->last = r.end - 1;
	reg->user_cookie = r.user_cookie;
	reg->ignore = r.flags;
	INIT_LIST_HEAD(&reg->queue);

	mutex_lock(&file->mutex);
	set_bit(UMMU_STATE_USED, &file->state);
	if (file->features & UMMUNOTIFY_FEATURE_CAUSE_FILTER)
		allowed = UMMU_KNOWN_CAUSES;
	if (r.flags & ~allowed) {
		ret = -EINVAL;
		goto out;
	}

	spin_lock(&file->lock);
	if (file->nregions >= READ_ONCE(max_regions_per_file))
		ret = -ENOSPC;
	else if (!ummu_cookie_insert(file, reg))
		ret = -EINVAL;
	if (!ret) {
		ummu_it_insert(reg, &file->itree);
		file->nregions++;
	}
	spin_unlock(&file->lock);
out:
	mutex_unlock(&file->mutex);
	if (ret)
		kfree(reg);
	return ret;
}

static long ummu_unregister(struct ummunotify_file *file, u64 __user *arg)
{
	struct ummunotify_reg *reg;
	u64 cookie;

	if (get_user(cookie, arg))
		return -EFAULT;

	/* The mutex keeps a read() from holding this one staged. */
	mutex_lock(&file->mutex);
	set_bit(UMMU_STATE_USED, &file->state);
	spin_lock(&file->lock);
	reg = ummu_cookie_find(file, cookie);
	if (reg) {
		rb_erase(&reg->cookie_node, &file->cookies);
		ummu_it_remove(reg, &file->itree);
		/* Dropping a queued event is the documented contract. */
		if (reg->queued)
			list_del(&reg->queue);
		file->nregions--;
	}
	spin_unlock(&file->lock);
	mutex_unlock(&file->mutex);

	if (!reg)
		return -EINVAL;
	kfree(reg);
	return 0;
}

static long ummunotify_ioctl(struct file *filp, unsigned int cmd,
			     unsigned long arg)
{
	struct ummunotify_file *file = filp->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case UMMUNOTIFY_EXCHANGE_FEATURES:
	case UMMUNOTIFY_REGISTER_REGION:
	case UMMUNOTIFY_UNREGISTER_REGION:
		break;
	default:
		return -ENOTTY;
	}
	if (ummu_foreign(file))
		return -EPERM;

	switch (cmd) {
	case UMMUNOTIFY_EXCHANGE_FEATURES:
		return ummu_exchange_features(file, uarg);
	case UMMUNOTIFY_REGISTER_REGION:
		return ummu_register(file, uarg);
	default:
		return ummu_unregister(file, uarg);
	}
}

/*
 * One read-only page, shared, at offset 0. The device only opens
 * read-only, so the VFS already refuses PROT_WRITE on MAP_SHARED and drops
 * VM_MAYWRITE; we check and clear again so the contract does not hang on
 * that. Runs under mmap_lock: must not take file->mutex.
 */
static int ummunotify_mmap(struct file *filp, struct vm_area_struct *vma)
{
	struct ummunotify_file *file = filp->private_data;

	if (vma->vm_mm != file->mm)
		return -EPERM;
	if (vma->vm_end - vma->vm_start != PAGE_SIZE || vma->vm_pgoff)
		return -EINVAL;
	/* A private mapping could be made writable and COW the counter away. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_flags & (VM_WRITE | VM_EXEC))
		return -EACCES;
	set_bit(UMMU_STATE_USED, &file->state);

	/*
	 * VM_DONTCOPY: a forked child cannot use the file (EPERM), so it gets
	 * no view of the parent's counter either.
	 */
	ummu_vm_flags_mod(vma, VM_DONTCOPY | VM_DONTEXPAND | VM_DONTDUMP,
			  VM_MAYWRITE | VM_MAYEXEC);
	/*
	 * A PFN mapping takes no page reference and no rmap, which suits a
	 * memcg-charged kernel page; it stays valid because every mapping
	 * holds a reference on the file, and release() frees the page.
	 */
	return remap_pfn_range(vma, vma->vm_start,
			       page_to_pfn(file->counter_page), PAGE_SIZE,
			       vma->vm_page_prot);
}

#ifdef CONFIG_PROC_FS
/* /proc/<pid>/fdinfo/<fd>: what a file holds, for whoever debugs a user. */
static void ummunotify_show_fdinfo(struct seq_file *m, struct file *filp)
{
	struct ummunotify_file *file = filp->private_data;
	unsigned int nregions;
	bool pending;
	u64 counter;

	spin_lock(&file->lock);
	nregions = file->nregions;
	pending = !list_empty(&file->queue) || file->need_last;
	counter = *file->counter;
	spin_unlock(&file->lock);

	seq_printf(m, "ummunotify-features:\t%#x\n", READ_ONCE(file->features));
	seq_printf(m, "ummunotify-regions:\t%u\n", nregions);
	seq_printf(m, "ummunotify-counter:\t%llu\n", counter);
	seq_printf(m, "ummunotify-readable:\t%d\n", pending);
}
#endif

static const struct file_operations ummunotify_fops = {
	.owner		= THIS_MODULE,
	.open		= ummunotify_open,
	.release	= ummunotify_release,
	.read		= ummunotify_read,
	.poll		= ummunotify_poll,
	.fasync		= ummunotify_fasync,
	.unlocked_ioctl	= ummunotify_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.mmap		= ummunotify_mmap,
#ifdef CONFIG_PROC_FS
	.show_fdinfo	= ummunotify_show_fdinfo,
#endif
};

static struct miscdevice ummunotify_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "ummunotify",
	.fops	= &ummunotify_fops,
	/* A file only ever watches its opener's own address space. */
	.mode	= 0666,
};

static int __init ummunotify_init(void)
{
	BUILD_BUG_ON(sizeof(struct ummunotify_event) != 32);
	BUILD_BUG_ON(sizeof(struct ummunotify_register_ioctl) != 32);
	BUILD_BUG_ON(UMMU_KNOWN_CAUSES >> UMMUNOTIFY_CAUSE_COUNT);

	return misc_register(&ummunotify_misc);
}

static void __exit ummunotify_exit(void)
{
	misc_deregister(&ummunotify_misc);
}

module_init(ummunotify_init);
module_exit(ummunotify_exit);

MODULE_DESCRIPTION("User-space notification of MMU invalidations");
MODULE_LICENSE("GPL");
