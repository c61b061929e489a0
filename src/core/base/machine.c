/* The move-table lookup of machine.h. */
#include "core/base/machine.h"

#include <string.h>

const char *machine_next(const struct machine_move *moves, size_t n, const char *from, int step)
{
    for (size_t i = 0; i < n; i++)
        if (moves[i].step == step && !strcmp(moves[i].from, from))
            return moves[i].to;
    return NULL;
}
