/*
 * Table-driven checks of a state machine whose states are strings and whose
 * inputs (commands, events) are an enum 0..<steps>-1: the test's table
 * names, for every state and every input, the next state or NULL (refused),
 * and test_machine_check proves the table covers each pair exactly once
 * before comparing every cell with the machine.
 */
#ifndef WEBTOON_TEST_MACHINE_H
#define WEBTOON_TEST_MACHINE_H

#include "support/test_support.h"

#include "core/base/machine.h"

/* The machine under test, with its step as an int. */
typedef const char *(*test_next_cb)(const char *status, int step);

static inline bool test_is_state(const char *const *states, const char *s)
{
    for (size_t i = 0; states[i]; i++)
        if (!strcmp(states[i], s))
            return true;
    return false;
}

/*
 * Checks <table> (<n> moves) against <next>: every (state of the
 * NULL-terminated <states>, step below <steps>) pair appears exactly once,
 * every target is a state, and <next> answers each cell as the table says.
 * <step_names> (<steps> of them) name the cells in failure messages. A
 * state no table knows is refused every step.
 */
static inline void test_machine_check(const char *const *states, int steps,
                                      const char *const *step_names,
                                      const struct machine_move *table, size_t n, test_next_cb next)
{
    size_t nstates = 0;
    while (states[nstates])
        nstates++;
    assert_int_equal(n, nstates * (size_t)steps);
    for (size_t s = 0; s < nstates; s++)
        for (int step = 0; step < steps; step++) {
            int seen = 0;
            for (size_t i = 0; i < n; i++)
                seen += !strcmp(table[i].from, states[s]) && table[i].step == step;
            if (seen != 1)
                fail_msg("the table has %s --%s--> %d times, not once", states[s], step_names[step],
                         seen);
        }
    for (size_t i = 0; i < n; i++) {
        const struct machine_move *m = &table[i];
        if (m->to && !test_is_state(states, m->to))
            fail_msg("%s --%s--> %s: not a state", m->from, step_names[m->step], m->to);
        const char *got = next(m->from, m->step);
        if (!m->to != !got || (got && strcmp(got, m->to) != 0))
            fail_msg("%s --%s--> %s, expected %s", m->from, step_names[m->step],
                     got ? got : "refused", m->to ? m->to : "refused");
    }
    for (int step = 0; step < steps; step++)
        assert_null(next("no-such-status", step));
}

/* The cell row <i> of a test's table is about, as two enum values. */
typedef void (*test_cell_cb)(size_t i, int *a, int *b);

/* Fails unless each of the <na> × <nb> cells is named by exactly one of
 * the <n> rows of a test's table (<cell> tells which), so that a table
 * indexed by two enums covers all of them. */
static inline void test_cells_once(size_t n, int na, int nb, test_cell_cb cell)
{
    assert_int_equal(n, (size_t)na * (size_t)nb);
    for (int a = 0; a < na; a++)
        for (int b = 0; b < nb; b++) {
            int seen = 0;
            for (size_t i = 0; i < n; i++) {
                int ra, rb;
                cell(i, &ra, &rb);
                seen += ra == a && rb == b;
            }
            if (seen != 1)
                fail_msg("cell (%d, %d) is in the table %d times, not once", a, b, seen);
        }
}

#endif
