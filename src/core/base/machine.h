/*
 * State machines as data: a table of moves (from a state, on a step, to a
 * state) over states named by strings, as they are stored, and steps that
 * are a caller's enum. A pair the table does not list is refused, so a
 * final state is one no move leaves. The tables live with their domain;
 * this is only the lookup.
 */
#ifndef WEBTOON_BASE_MACHINE_H
#define WEBTOON_BASE_MACHINE_H

#include <stddef.h>

struct machine_move {
    const char *from; /* the state before */
    int step;         /* the caller's enum value */
    const char *to;   /* the state after; NULL: refused (for tables that say so) */
};

/* The state after <step> from <from> in <moves> (<n> of them, borrowed),
 * or NULL when no move applies. */
const char *machine_next(const struct machine_move *moves, size_t n, const char *from, int step);

#endif
