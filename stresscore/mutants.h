/*
 * mutants.h - the mutant table: deliberately broken protocol steps
 * (rcutorture's "busted" ops), for testing purposes only.
 *
 * The one source of truth.  MS_MUTANTS(X) calls X(ID, name, bug, breaks,
 * expected, reason) once per mutant, in table order:
 *   ID        the enum name: M_<ID> (ids count from 1; M_NONE is 0)
 *   name      what the command line, Config and Model(...) take
 *   bug       what the broken step does
 *   breaks    the invariant (diag.pxi V_NAMES) that should fire
 *   expected  1 when the checkers are expected to catch it
 *   reason    why not, when not expected ("" otherwise)
 * It expands into the enum (M_*, M_NR) and into ms_mutant_table[], from
 * which stresscore._core.mutant_table(), MUTANT_IDS and stress/mutants.py
 * MUTANTS come.  Each broken branch in the model is marked
 * "# mutant <name>" next to its MUTANT(M_<ID>) test.
 */
#ifndef MS_MUTANTS_H
#define MS_MUTANTS_H

#include <string.h>

#define MS_MUTANTS(X) \
	X(RCU_BUSTED, "rcu-busted",                                               \
	  "synchronize_rcu and call_rcu do not wait for readers",                 \
	  "use-after-free", 1,                                                    \
	  "")                                                                     \
	X(MEMCG_READ_UNPROTECTED, "memcg-read-unprotected",                       \
	  "memcg_uncharge_slab reads cache->memcg outside an RCU read section",   \
	  "rcu-lockdep", 1,                                                       \
	  "")                                                                     \
	X(DYING_FLAG_UNLOCKED, "dying-flag-unlocked",                             \
	  "the root cache's dying flag is tested and set without "                \
	  "memcg_kmem_wq_lock",                                                   \
	  "use-after-free", 1,                                                    \
	  "")                                                                     \
	X(REPARENT_WITHOUT_SLAB_MUTEX, "reparent-without-slab-mutex",             \
	  "the kmem_caches splice and the memcg pointer swap run without "        \
	  "slab_mutex",                                                           \
	  "lockdep", 1,                                                           \
	  "")                                                                     \
	X(NO_PARENT_CSS_GET, "no-parent-css-get",                                 \
	  "reparenting does not take the parent's css references for the caches " \
	  "it moves",                                                             \
	  "references", 1,                                                        \
	  "")                                                                     \
	X(NO_CHILD_CSS_PUT, "no-child-css-put",                                   \
	  "reparenting does not drop the child's css references for the caches "  \
	  "it moves",                                                             \
	  "references", 1,                                                        \
	  "")                                                                     \
	X(ENTRIES_NOT_CLEARED, "entries-not-cleared",                             \
	  "deactivation leaves the cache in memcg_caches",                        \
	  "use-after-free", 1,                                                    \
	  "")                                                                     \
	X(KILL_WITHOUT_GRACE_PERIOD, "kill-without-grace-period",                 \
	  "the child cache is killed at deactivation, without waiting for a "     \
	  "grace period",                                                         \
	  "alloc-from-killed-cache", 1,                                           \
	  "")                                                                     \
	X(ARRAY_FREE_WITHOUT_GRACE_PERIOD, "array-free-without-grace-period",     \
	  "the old memcg_caches array is freed at once when it grows",            \
	  "use-after-free", 1,                                                    \
	  "")                                                                     \
	X(CHARGE_OFFLINE_MEMCG, "charge-offline-memcg",                           \
	  "memcg_charge_slab charges the cache's memcg even when it is offline",  \
	  "charge", 0,                                                            \
	  "a dying memcg is still in its parent's subtree and page counters are " \
	  "hierarchical: the parent's charge and stats stay exact, only the "     \
	  "dying memcg's own counter is off, which the series stops caring "      \
	  "about")                                                                \
	X(CACHE_PUT_BEFORE_UNCHARGE, "cache-put-before-uncharge",                 \
	  "__free_slab drops the page's cache references before the uncharge "    \
	  "reads cache->memcg",                                                   \
	  "use-after-free", 1,                                                    \
	  "")                                                                     \
	X(NO_FLUSH_ON_FREE, "no-flush-on-free",                                   \
	  "a freed memcg's per-cpu stat residues are dropped instead of flushed " \
	  "to its ancestors",                                                     \
	  "stats", 1,                                                             \
	  "")                                                                     \
	X(CREATE_AFTER_OFFLINE, "create-after-offline",                           \
	  "memcg_create_kmem_cache does not check kmem_state and creates caches " \
	  "for offline memcgs",                                                   \
	  "lists", 1,                                                             \
	  "")                                                                     \
	X(DEACT_LOCK_INVERSION, "deact-lock-inversion",                           \
	  "the deactivation work of a SLAB_TYPESAFE_BY_RCU cache takes "          \
	  "cgroup_mutex while holding slab_mutex, the reverse of the offline's "  \
	  "order",                                                                \
	  "lock-order", 1,                                                        \
	  "")                                                                     \
	X(RCU_READ_ACROSS_SLEEP, "rcu-read-across-sleep",                         \
	  "memcg_charge_slab, refused by a limit, waits for reclaim inside an "   \
	  "RCU read section (a blocking wait where sleeping is not allowed)",     \
	  "stall", 1,                                                             \
	  "")                                                                     \
	X(SYSFS_REMOVE_NO_GET, "sysfs-remove-no-get",                             \
	  "sysfs_slab_remove schedules its work without taking a kobject "        \
	  "reference, so the cache can be released before the work runs",         \
	  "use-after-free", 1,                                                    \
	  "")                                                                     \
	X(SYSFS_UNLINK_LATE, "sysfs-unlink-late",                                 \
	  "shutdown_cache drops the kobject's last reference (the cache is "      \
	  "freed) before kobject_del removes its sysfs files and drains their "   \
	  "readers",                                                              \
	  "use-after-free", 1,                                                    \
	  "")                                                                     \
	X(DRAIN_STOCK_WITHOUT_CSS_PUT, "drain-stock-without-css-put",             \
	  "drain_stock returns the precharged pages to the page counter but "     \
	  "keeps their css references",                                           \
	  "references", 1,                                                        \
	  "")                                                                     \
	X(REFILL_STOCK_WITHOUT_DRAIN, "refill-stock-without-drain",               \
	  "refill_stock switches the cpu's stock to another memcg without "       \
	  "draining the old one's precharge",                                     \
	  "references", 1,                                                        \
	  "")

enum {
	M_NONE = 0,
#define MS_MUTANT_ENUM(id, name, bug, breaks, expected, reason) M_##id,
	MS_MUTANTS(MS_MUTANT_ENUM)
#undef MS_MUTANT_ENUM
	M_NR
};

struct ms_mutant {
	int id;
	const char *name;
	const char *bug;
	const char *breaks;
	int expected;
	const char *reason;
};

static const struct ms_mutant ms_mutant_table[] = {
#define MS_MUTANT_ROW(id, name, bug, breaks, expected, reason) \
	{ M_##id, name, bug, breaks, expected, reason },
	MS_MUTANTS(MS_MUTANT_ROW)
#undef MS_MUTANT_ROW
};

#define MS_NR_MUTANTS ((int)(sizeof(ms_mutant_table) / sizeof(ms_mutant_table[0])))

/* The id of a mutant name: M_NONE for NULL or "", -1 for an unknown name. */
static inline int ms_mutant_id(const char *name)
{
	int i;

	if (name == NULL || name[0] == 0)
		return M_NONE;
	for (i = 0; i < MS_NR_MUTANTS; i++)
		if (strcmp(ms_mutant_table[i].name, name) == 0)
			return ms_mutant_table[i].id;
	return -1;
}

#endif /* MS_MUTANTS_H */
