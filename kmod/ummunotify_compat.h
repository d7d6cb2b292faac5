/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ummunotify - kernel API differences, isolated here.
 *
 * Kbuild probes the target kernel's headers (see kmod/Kbuild) and defines
 * UMMU_HAVE_* for what it finds; this header turns those into one
 * spelling the driver uses. Probing the headers rather than comparing
 * LINUX_VERSION_CODE keeps distribution backports working.
 */
#ifndef _UMMUNOTIFY_COMPAT_H
#define _UMMUNOTIFY_COMPAT_H

#include <linux/mm.h>
#include <linux/mmu_notifier.h>

/*
 * vm_flags became read-only with accessors in 6.3; before that drivers
 * modified vma->vm_flags directly (the caller holds mmap_lock for write in
 * both cases: we only change flags from f_op->mmap).
 */
#ifdef UMMU_HAVE_VM_FLAGS_MOD
static inline void ummu_vm_flags_mod(struct vm_area_struct *vma,
				     vm_flags_t set, vm_flags_t clear)
{
	vm_flags_mod(vma, set, clear);
}
#else
static inline void ummu_vm_flags_mod(struct vm_area_struct *vma,
				     vm_flags_t set, vm_flags_t clear)
{
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
}
#endif

/*
 * enum mmu_notifier_event has only grown by appending; MMU_NOTIFY_EXCLUSIVE
 * is the newest value we map. Where the header lacks it, the driver's case
 * label becomes a value no event can have (the driver switches on int).
 */
#ifdef UMMU_HAVE_MMU_NOTIFY_EXCLUSIVE
#define UMMU_NOTIFY_EXCLUSIVE	MMU_NOTIFY_EXCLUSIVE
#else
#define UMMU_NOTIFY_EXCLUSIVE	(-1)
#endif

#endif /* _UMMUNOTIFY_COMPAT_H */
