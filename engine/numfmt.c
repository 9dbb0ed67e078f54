#include "numfmt.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes the digits of u (no sign) at o; returns their count. */
static size_t put_u64(char *o, uint64_t u) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  for (size_t i = 0; i < n; i++) o[i] = tmp[n - 1 - i];
  return n;
}

static const double p10d[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

typedef unsigned __int128 u128;

static const uint64_t p10u[20] = {1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull,
                                  10000000ull, 100000000ull, 1000000000ull, 10000000000ull,
                                  100000000000ull, 1000000000000ull, 10000000000000ull,
                                  100000000000000ull, 1000000000000000ull, 10000000000000000ull,
                                  100000000000000000ull, 1000000000000000000ull,
                                  10000000000000000000ull};

/* The first `digits` significant decimal digits of a (finite, > 0, normal), correctly
 * rounded (half to even on the exact binary value), as the integer *n in
 * [10^(digits-1), 10^digits), and the decimal exponent *e of the first digit: what printf's
 * "%.{digits}e" computes, in 128-bit integer arithmetic. Returns 0 when a is out of the range
 * this handles (then the caller asks printf). */
static int digits_of(double a, int digits, uint64_t *n, int *e) {
  uint64_t bits;
  memcpy(&bits, &a, sizeof bits);
  int ef = (int)((bits >> 52) & 0x7ff);
  if (ef == 0 || ef == 0x7ff) return 0; /* subnormal, inf, nan */
  uint64_t m = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1) << 52);
  int sh = 1075 - ef; /* a = m / 2^sh */
  if (sh <= 0) return 0; /* an integer >= 2^52 */
  uint64_t lo = p10u[digits - 1], hi = p10u[digits];
  int E = (int)floor(log10(a));
  for (int tries = 0; tries < 3; tries++) {
    int k = digits - 1 - E; /* a * 10^k has `digits` digits before the point */
    if (k < 0 || k > 22 || sh > 120) return 0;
    u128 x = (u128)m * p10u[k < 19 ? k : 19]; /* < 2^53 * 10^22 < 2^127 */
    for (int i = 19; i < k; i++) x *= 10;
    u128 q = x >> sh, rem = x - (q << sh), half = (u128)1 << (sh - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    if (q >= hi) {
      E++;
    } else if (q < lo) {
      E--;
    } else {
      *n = (uint64_t)q;
      *e = E;
      return 1;
    }
  }
  return 0;
}

/* "%.{P}g" of a positive value from its P digits n and exponent e. */
static size_t put_g(char *o, uint64_t n, int e, int P) {
  char d[24];
  size_t len = put_u64(d, n);
  while (len > 1 && d[len - 1] == '0') len--; /* %g drops trailing zeros */
  size_t k = 0;
  if (e < -4 || e >= P) {
    o[k++] = d[0];
    if (len > 1) {
      o[k++] = '.';
      memcpy(o + k, d + 1, len - 1), k += len - 1;
    }
    o[k++] = 'e';
    o[k++] = e < 0 ? '-' : '+';
    int ae = e < 0 ? -e : e;
    if (ae < 10) o[k++] = '0';
    k += put_u64(o + k, (uint64_t)ae);
  } else if (e >= 0) {
    size_t ip = (size_t)e + 1;
    for (size_t i = 0; i < ip; i++) o[k++] = i < len ? d[i] : '0';
    if (len > ip) {
      o[k++] = '.';
      memcpy(o + k, d + ip, len - ip), k += len - ip;
    }
  } else {
    o[k++] = '0';
    o[k++] = '.';
    for (int i = -1; i > e; i--) o[k++] = '0';
    memcpy(o + k, d, len), k += len;
  }
  return k;
}

/* The reference: what the engine always wrote, through printf and strtod. */
size_t tl_fmt_num_printf(char *out, double v) {
  if (v == floor(v) && fabs(v) < 1e15) return (size_t)snprintf(out, TL_NUM_MAX, "%.0f", v);
  snprintf(out, TL_NUM_MAX, "%.15g", v);
  if (strtod(out, NULL) != v) snprintf(out, TL_NUM_MAX, "%.17g", v);
  return strlen(out);
}

size_t tl_fmt_num(char *out, double v) {
  size_t k = 0;
  double a = fabs(v);
  if (v == floor(v) && a < 1e15) { /* an integer: "%.0f" */
    if (signbit(v)) out[k++] = '-';
    k += put_u64(out + k, (uint64_t)a);
    out[k] = 0;
    return k;
  }
  uint64_t n;
  int e;
  /* "%.15g" when it reads back exactly: n < 2^53 and 10^k exact, so n / 10^k is correctly
   * rounded by the division itself, as strtod would */
  if (!digits_of(a, 15, &n, &e) || 14 - e > 22) return tl_fmt_num_printf(out, v);
  if (signbit(v)) out[k++] = '-';
  if ((double)n / p10d[14 - e] == a) {
    k += put_g(out + k, n, e, 15);
  } else {
    if (!digits_of(a, 17, &n, &e)) return tl_fmt_num_printf(out, v);
    k += put_g(out + k, n, e, 17);
  }
  out[k] = 0;
  return k;
}
