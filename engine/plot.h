/* The HTML report (`tunelua plot`) and the data behind it, which the live dashboard serves
 * too. Everything here reads the experiment directory only (summary.json, journal.jsonl),
 * never the engine's memory, so the dashboard can run it on a worker thread. */
#ifndef TL_PLOT_H
#define TL_PLOT_H

#include <stddef.h>

typedef struct tl_plot tl_plot;

/* State kept between updates: the journal is read from where the last update stopped. */
tl_plot *tl_plot_new(const char *dir);
void tl_plot_free(tl_plot *p);
/* Reads what was appended to journal.jsonl since the last call, and summary.json.
 * Returns 0, or -1 with *err (static text) when DIR is not an experiment directory. */
int tl_plot_update(tl_plot *p, const char **err);
/* The page's data as JSON (owned); live marks a page served by a running engine. */
char *tl_plot_json(tl_plot *p, int live);
/* The whole self-contained page with data (JSON text) embedded (owned, *len its length). */
char *tl_plot_page(const char *data, size_t *len);
/* `tunelua plot DIR [-o FILE.html]`; returns the exit code. */
int tl_plot_main(int argc, char **argv);

#endif
