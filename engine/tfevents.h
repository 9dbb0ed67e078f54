/* TensorBoard event files: trials/<id>/events.out.tfevents.<unix-time>.<hostname>, written
 * by hand: TFRecord framing (length, masked CRC32C of the length, data, masked CRC32C of the
 * data) around Event protobufs (wall_time, step, file_version, Summary of simple_value
 * scalars). No protobuf or TensorFlow library is involved. */
#ifndef TL_TFEVENTS_H
#define TL_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct cJSON;

/* CRC32C (Castagnoli) of n bytes, continuing from crc (0 to start): SSE4.2 where the CPU has
 * it, else slice-by-8 tables. tl_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t tl_crc32c(uint32_t crc, const void *data, size_t n);
/* The same through the tables only, whatever the CPU (for tests). */
uint32_t tl_crc32c_portable(uint32_t crc, const void *data, size_t n);
/* The TFRecord mask: ((crc >> 15) | (crc << 17)) + 0xa282ead8. */
uint32_t tl_crc32c_mask(uint32_t crc);

/* Appends one TFRecord holding an Event with every numeric value of result as a scalar:
 * nested objects flattened to "a/b" tags, booleans as 0/1, strings, nulls and arrays
 * skipped, and the top-level training_iteration and timestamp left out (they are the
 * Event's step and wall_time). Returns the bytes appended; 0 (nothing appended) when the
 * result has no scalar to show. */
size_t tl_tfevents_encode(tl_buf *b, const struct cJSON *result, long step, double wall);
/* Appends the record every event file starts with: file_version "brain.Event:2". */
size_t tl_tfevents_header(tl_buf *b, double wall);

/* The events file of a trial directory for this engine run (malloc'd):
 * events.out.tfevents.<start>.<host>, one file per trial per run, named by the run's first
 * call, so pauses and restarts within a run add to the same file and `tunelua resume` starts
 * a new one beside it (TensorBoard reads every file in the directory). Its opener writes
 * tl_tfevents_header into it when it is new (outbuf.h, tl_out_open_bg). */
char *tl_tfevents_path(const char *dir);

/* Reads back an events file after a crash: the first record whose framing or CRC does not
 * check out, and all after it, are cut off (a torn write); when max_step >= 0, the scalar
 * events with a step above it are dropped too (written out before the journal recorded
 * their result). The file is rewritten only when something goes. Calls step(ud, s) for
 * each scalar event kept. Returns the largest step kept (0: none), -1 when the file cannot
 * be read or rewritten. */
long tl_tfevents_repair(const char *path, long max_step, void (*step)(void *, long), void *ud);

#endif
