/* list.h: intrusive doubly linked lists, after the kernel's <linux/list.h>.
 *
 * Each node carries an `owner` pointer to the structure that embeds it, so
 * Cython code (which has no container_of) can get from a node to its object.
 * Lists are not thread-safe: every list in the model names the lock that
 * protects it.
 */
#ifndef MS_LIST_H
#define MS_LIST_H

struct ms_list {
	struct ms_list *next, *prev;
	void *owner;
};

static inline void INIT_LIST_HEAD(struct ms_list *h)
{
	h->next = h;
	h->prev = h;
}

static inline void __list_add(struct ms_list *n, struct ms_list *prev,
			      struct ms_list *next)
{
	next->prev = n;
	n->next = next;
	n->prev = prev;
	prev->next = n;
}

/* list_add: insert n after head h (stack order). */
static inline void list_add(struct ms_list *n, struct ms_list *h)
{
	__list_add(n, h, h->next);
}

/* list_add_tail: insert n before head h (queue order). */
static inline void list_add_tail(struct ms_list *n, struct ms_list *h)
{
	__list_add(n, h->prev, h);
}

/* list_del_init: unlink n and leave it pointing at itself (list_empty true). */
static inline void list_del_init(struct ms_list *n)
{
	n->next->prev = n->prev;
	n->prev->next = n->next;
	n->next = n;
	n->prev = n;
}

static inline int list_empty(const struct ms_list *h)
{
	return h->next == h;
}

/* list_splice_init: move every node of `from` to the front of `to`; `from`
 * is left empty. */
static inline void list_splice_init(struct ms_list *from, struct ms_list *to)
{
	if (!list_empty(from)) {
		struct ms_list *first = from->next, *last = from->prev;
		struct ms_list *at = to->next;

		first->prev = to;
		to->next = first;
		last->next = at;
		at->prev = last;
		INIT_LIST_HEAD(from);
	}
}

static inline long list_count(const struct ms_list *h)
{
	long n = 0;
	const struct ms_list *p;

	for (p = h->next; p != h; p = p->next)
		n++;
	return n;
}

#endif /* MS_LIST_H */
