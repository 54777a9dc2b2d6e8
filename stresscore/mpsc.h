/*
 * mpsc.h - intrusive lock-free multi-producer single-consumer FIFO
 * (Dmitry Vyukov's "intrusive MPSC node-based queue").
 *
 * Embed struct mpsc_node as the FIRST field of the user struct so that a
 * popped node can be cast back.  Push is wait-free (one xchg).  Pop must only
 * be called by one consumer at a time (the caller serializes consumers).
 *
 * FIFO: nodes come out in the order of their producers' xchg on head.
 *
 * mpsc_pop() returns NULL both when the queue is empty AND when a producer is
 * between its xchg on head and its link store (prev->next = node): the nodes
 * behind that link are not reachable yet.  mpsc_empty() tells the two apart:
 * it is 0 in the second case, and the consumer simply retries later.
 */
#ifndef MS_MPSC_H
#define MS_MPSC_H

#include <stddef.h>
#include "atomics.h"

struct mpsc_node {
	struct mpsc_node *next; /* lock-free: written once by the pushing producer (link), read by the consumer */
};

struct mpsc_queue {
	struct mpsc_node *head MS_ALIGNED; /* lock-free: producers' end, only changed by xchg */
	struct mpsc_node *tail MS_ALIGNED; /* consumer-private: next node to return */
	struct mpsc_node stub;             /* placeholder keeping the list non-empty */
};

static inline void mpsc_init(struct mpsc_queue *q)
{
	q->stub.next = NULL;
	q->head = &q->stub;
	q->tail = &q->stub;
}

static inline void mpsc_push(struct mpsc_queue *q, struct mpsc_node *n)
{
	struct mpsc_node *prev;

	WRITE_ONCE_P((void **)&n->next, NULL);
	/* Fully ordered: the node's contents before it becomes head. */
	prev = (struct mpsc_node *)xchg_P((void **)&q->head, n);
	/* Publish to the consumer; pairs with smp_load_acquire_P() of ->next in mpsc_pop(). */
	smp_store_release_P((void **)&prev->next, n);
}

/* Consumer only.  NULL: empty, or a producer is mid-push (see above). */
static inline struct mpsc_node *mpsc_pop(struct mpsc_queue *q)
{
	struct mpsc_node *tail = q->tail;
	/* Pairs with the release link store in mpsc_push(). */
	struct mpsc_node *next = (struct mpsc_node *)smp_load_acquire_P((void **)&tail->next);
	struct mpsc_node *head;

	if (tail == &q->stub) {
		if (!next)
			return NULL;
		q->tail = next;
		tail = next;
		next = (struct mpsc_node *)smp_load_acquire_P((void **)&next->next); /* pairs with push's link */
	}
	if (next) {
		q->tail = next;
		return tail;
	}
	/* Pairs with the xchg in mpsc_push(): has someone pushed after tail? */
	head = (struct mpsc_node *)smp_load_acquire_P((void **)&q->head);
	if (tail != head)
		return NULL; /* a producer is between its xchg and its link */
	mpsc_push(q, &q->stub);
	next = (struct mpsc_node *)smp_load_acquire_P((void **)&tail->next); /* pairs with push's link */
	if (next) {
		q->tail = next;
		return tail;
	}
	return NULL;
}

/* 1 when nothing is queued or being pushed.  Exact for the consumer; from any
 * other thread an approximation (it reads the consumer's tail racily). */
static inline int mpsc_empty(struct mpsc_queue *q)
{
	/* tail is the stub or the next node to return, so "everything returned"
	 * is tail == stub; head == stub then says no push started since.
	 * Acquire pairs with the producers' xchg on head. */
	return smp_load_acquire_P((void **)&q->head) == (void *)&q->stub &&
	       READ_ONCE_P((void **)&q->tail) == (void *)&q->stub;
}

#endif /* MS_MPSC_H */
