// SPDX-License-Identifier: Apache-2.0
/*
 * Intrusive treap; see uffd_tree.h for why it looks like this.
 */
#include <stddef.h>

#include "uffd_tree.h"

static bool less(const struct uffd_node *a, const struct uffd_node *b)
{
	return a->key < b->key || (a->key == b->key && a->key2 < b->key2);
}

static void update(struct uffd_node *t)
{
	uint64_t m = t->end;

	if (t->l && t->l->maxend > m)
		m = t->l->maxend;
	if (t->r && t->r->maxend > m)
		m = t->r->maxend;
	t->maxend = m;
}

/* Split t into nodes less than k (*l) and the rest (*r). */
static void split(struct uffd_node *t, const struct uffd_node *k,
		  struct uffd_node **l, struct uffd_node **r)
{
	if (!t) {
		*l = NULL;
		*r = NULL;
		return;
	}
	if (less(t, k)) {
		split(t->r, k, &t->r, r);
		*l = t;
	} else {
		split(t->l, k, l, &t->l);
		*r = t;
	}
	update(t);
}

/* Every node of a is less than every node of b. */
static struct uffd_node *merge(struct uffd_node *a, struct uffd_node *b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	if (a->prio > b->prio) {
		a->r = merge(a->r, b);
		update(a);
		return a;
	}
	b->l = merge(a, b->l);
	update(b);
	return b;
}

struct uffd_node *uffd_tree_insert(struct uffd_node *t, struct uffd_node *n)
{
	if (!t) {
		n->l = NULL;
		n->r = NULL;
		update(n);
		return n;
	}
	if (n->prio > t->prio) {
		split(t, n, &n->l, &n->r);
		update(n);
		return n;
	}
	if (less(n, t))
		t->l = uffd_tree_insert(t->l, n);
	else
		t->r = uffd_tree_insert(t->r, n);
	update(t);
	return t;
}

struct uffd_node *uffd_tree_erase(struct uffd_node *t,
				  const struct uffd_node *n)
{
	if (!t)
		return NULL;
	if (t == n)
		return merge(t->l, t->r);
	if (less(n, t))
		t->l = uffd_tree_erase(t->l, n);
	else
		t->r = uffd_tree_erase(t->r, n);
	update(t);
	return t;
}

struct uffd_node *uffd_tree_find(struct uffd_node *t, uint64_t key,
				 uint64_t key2)
{
	while (t) {
		if (key == t->key && key2 == t->key2)
			return t;
		if (key < t->key || (key == t->key && key2 < t->key2))
			t = t->l;
		else
			t = t->r;
	}
	return NULL;
}

struct uffd_node *uffd_tree_floor(struct uffd_node *t, uint64_t key)
{
	struct uffd_node *best = NULL;

	while (t) {
		if (t->key <= key) {
			best = t;
			t = t->r;
		} else {
			t = t->l;
		}
	}
	return best;
}

struct uffd_node *uffd_tree_after(struct uffd_node *t, uint64_t key)
{
	struct uffd_node *best = NULL;

	while (t) {
		if (t->key > key) {
			best = t;
			t = t->l;
		} else {
			t = t->r;
		}
	}
	return best;
}

bool uffd_tree_any_overlap(const struct uffd_node *t, uint64_t s, uint64_t e)
{
	/*
	 * The classic interval search: when the left subtree reaches past s
	 * but holds no overlap, its interval ending past s starts at or after
	 * e, and so does everything to the right; one path suffices.
	 */
	while (t) {
		if (t->key < e && t->end > s)
			return true;
		if (t->l && t->l->maxend > s)
			t = t->l;
		else
			t = t->r;
	}
	return false;
}

void uffd_tree_overlaps(struct uffd_node *t, uint64_t s, uint64_t e,
			void (*fn)(struct uffd_node *n, void *arg), void *arg)
{
	while (t && t->maxend > s) {
		uffd_tree_overlaps(t->l, s, e, fn, arg);
		if (t->key >= e)
			return;
		if (t->end > s)
			fn(t, arg);
		t = t->r;
	}
}

void uffd_tree_destroy(struct uffd_node *t,
		       void (*fn)(struct uffd_node *n, void *arg), void *arg)
{
	struct uffd_node *l, *r;

	if (!t)
		return;
	l = t->l;
	r = t->r;
	uffd_tree_destroy(l, fn, arg);
	uffd_tree_destroy(r, fn, arg);
	fn(t, arg);
}
