/* The experiment's append-only event log (journal.jsonl): one JSON object per line. */
#ifndef TL_JOURNAL_H
#define TL_JOURNAL_H

#include "util.h"

typedef struct tl_journal {
  int fd;
  long lines;
  int failed;     /* a write failed; the experiment must stop */
  char *error;    /* static text or owned, see journal.c */
  tl_buf line;    /* reused line builder */
} tl_journal;

int tl_journal_open(tl_journal *j, const char *path, const char **err);
void tl_journal_close(tl_journal *j);
/* Starts a line {"ev":EV,"t":WALL[,"trial":ID] ... ; add fields with tl_buf_* on j->line,
 * each beginning with a comma, then tl_journal_end writes it. */
tl_buf *tl_journal_begin(tl_journal *j, const char *ev, const char *trial);
int tl_journal_end(tl_journal *j);

#endif
