/* `tunelua report KEY=VALUE ...`: a one-shot trainer client for shell scripts. */
#ifndef TL_REPORT_H
#define TL_REPORT_H

int tl_report_main(int argc, char **argv);

#endif
