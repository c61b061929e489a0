/* Column readers for result rows: see row.h. */
#include "core/row/row.h"

#include <stdio.h>

void row_text(char *dst, size_t len, const struct store_val *v)
{
    snprintf(dst, len, "%s", v->type == STORE_T_TEXT ? v->s : "");
}

int64_t row_int(const struct store_val *v, int64_t if_null)
{
    return v->type == STORE_T_INT ? v->i : if_null;
}
