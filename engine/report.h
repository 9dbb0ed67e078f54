/* The shell trainer client: `tunelua report KEY=VALUE ...`, `params [PATH]`, `restore`,
 * `checkpoint-dir`, `checkpoint DIR`, `shared NAME` (docs/protocol.md, docs/trainers.md). */
#ifndef TL_REPORT_H
#define TL_REPORT_H

int tl_report_main(int argc, char **argv);
/* Runs the client command cmd with its arguments; returns the exit status. */
int tl_client_main(const char *cmd, int argc, char **argv);

#endif
