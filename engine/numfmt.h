/* Numbers as text without printf: the engine writes several per result (journal,
 * result.jsonl, progress.csv), and printf's exact decimal conversion was a tenth of its time.
 * tl_fmt_num writes exactly what tl_fmt_num_printf (the printf way) writes: an integer below
 * 1e15 as "%.0f", else "%.15g" when that reads back to the same double, else "%.17g"; values
 * outside its fast range (tiny, huge, subnormal) take the printf way itself. */
#ifndef TL_NUMFMT_H
#define TL_NUMFMT_H

#include <stddef.h>

#define TL_NUM_MAX 40 /* room for any output, NUL included */

/* Writes v (finite) at out (TL_NUM_MAX bytes) NUL-terminated; returns the length. */
size_t tl_fmt_num(char *out, double v);
size_t tl_fmt_num_printf(char *out, double v);

#endif
