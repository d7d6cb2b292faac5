/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Intrusive treap used by the userfaultfd backend, twice over: as an
 * interval tree (watches by byte range, augmented with the maximum end in a
 * subtree) and as an ordered index (watches by cookie, registered regions
 * by start).
 *
 * Intrusive and allocation-free on purpose: the reader thread updates the
 * trees' users while it must never call malloc/free (a free() can munmap a
 * watched range and then wait for the reader itself), so every node lives
 * inside a structure allocated by a watching thread before it took the lock.
 * A treap needs no rebalancing bookkeeping beyond one random priority, and its
 * expected depth is O(log n), which keeps the recursion below shallow.
 */
#ifndef UFFD_TREE_H
#define UFFD_TREE_H

#include <stdbool.h>
#include <stdint.h>

struct uffd_node {
	struct uffd_node *l, *r;
	uint64_t key;		/* primary order */
	uint64_t key2;		/* tie-break, makes keys unique */
	uint64_t end;		/* interval end (exclusive); 0 when unused */
	uint64_t maxend;	/* max end in this subtree */
	uint32_t prio;
};

struct uffd_node *uffd_tree_insert(struct uffd_node *root, struct uffd_node *n);
struct uffd_node *uffd_tree_erase(struct uffd_node *root,
				  const struct uffd_node *n);
/* The node with exactly (key, key2), or NULL. */
struct uffd_node *uffd_tree_find(struct uffd_node *root, uint64_t key,
				 uint64_t key2);
/* The node with the greatest key <= key, or NULL. */
struct uffd_node *uffd_tree_floor(struct uffd_node *root, uint64_t key);
/* The node with the smallest key > key, or NULL. */
struct uffd_node *uffd_tree_after(struct uffd_node *root, uint64_t key);
/* Does any interval [key, end) overlap [s, e)? O(log n). */
bool uffd_tree_any_overlap(const struct uffd_node *root, uint64_t s,
			   uint64_t e);
/*
 * Calls fn for every interval overlapping [s, e): O(log n + hits). fn must
 * not modify the tree.
 */
void uffd_tree_overlaps(struct uffd_node *root, uint64_t s, uint64_t e,
			void (*fn)(struct uffd_node *n, void *arg), void *arg);
/* Post-order walk; fn may free the node. */
void uffd_tree_destroy(struct uffd_node *root,
		       void (*fn)(struct uffd_node *n, void *arg), void *arg);

#endif /* UFFD_TREE_H */
