/*
 * Reading result rows (struct store_row) into a service's plain structs:
 * columns that may be NULL (or of another type than the field) become a
 * stated default, so a row reader is one line per field.
 */
#ifndef WEBTOON_ROW_H
#define WEBTOON_ROW_H

#include <stddef.h>
#include <stdint.h>

#include "core/store/store.h"

/* Copies the text of <v> into <dst> (<len> bytes, truncated, always
 * terminated); "" when <v> is not text. */
void row_text(char *dst, size_t len, const struct store_val *v);
/* The integer of <v>, or <if_null> when <v> is not an integer. */
int64_t row_int(const struct store_val *v, int64_t if_null);

#endif
