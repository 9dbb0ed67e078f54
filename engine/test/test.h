/* A tiny test harness: TEST(name) { ... } registers a test; CHECK fails it with file:line.
 * Each test binary prints "N passed, N failed" and exits non-zero on any failure. */
#ifndef TL_TEST_H
#define TL_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*tl_test_fn)(int *failed);
typedef struct {
  const char *name;
  tl_test_fn fn;
} tl_test_case;

static tl_test_case tl_tests[64];
static int tl_ntests;

#define TEST(name)                                                                   \
  static void test_##name(int *failed);                                              \
  __attribute__((constructor)) static void register_##name(void) {                   \
    tl_tests[tl_ntests++] = (tl_test_case){#name, test_##name};                      \
  }                                                                                  \
  static void test_##name(int *failed)

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);     \
      *failed = 1;                                                                   \
      return;                                                                        \
    }                                                                                \
  } while (0)

#define CHECK_STR(a, b)                                                              \
  do {                                                                               \
    const char *a_ = (a), *b_ = (b);                                                 \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                         \
      fprintf(stderr, "  %s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,             \
              a_ ? a_ : "(null)", b_ ? b_ : "(null)");                               \
      *failed = 1;                                                                   \
      return;                                                                        \
    }                                                                                \
  } while (0)

int main(void) {
  int passed = 0, failed = 0;
  for (int i = 0; i < tl_ntests; i++) {
    int f = 0;
    tl_tests[i].fn(&f);
    printf("%s %s\n", f ? "FAIL" : "ok  ", tl_tests[i].name);
    f ? failed++ : passed++;
  }
  printf("%s: %d passed, %d failed\n", __BASE_FILE__, passed, failed);
  return failed ? 1 : 0;
}

#endif
