/* What the user sees while an experiment runs: a live block on a terminal, plain periodic
 * lines otherwise, JSON lines with --json, nothing but the end with --quiet. */
#ifndef TL_CONSOLE_H
#define TL_CONSOLE_H

#include "engine.h"

void tl_console_start(tl_engine *e);
void tl_console_tick(tl_engine *e);
/* A one-off message (a trial error, a warning), printed above the live block. */
void tl_console_message(tl_engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tl_console_finish(tl_engine *e, const char *status);
void tl_console_free(tl_engine *e);

#endif
