/* Helpers shared by the C test programs. */
#ifndef SPANDB_TEST_COMMON_H
#define SPANDB_TEST_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spandb.h"

static int failures = 0; /* checks that failed */

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
      failures++;                                                                    \
    }                                                                                \
  } while (0)

/* Aborts the program: a later step cannot run without this one. */
#define MUST(call)                                                                   \
  do {                                                                               \
    spandb_status must_st = (call);                                                  \
    if (must_st != SPANDB_OK) {                                                      \
      fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, __LINE__, #call,       \
              spandb_status_name(must_st), spandb_last_error_message());             \
      exit(1);                                                                       \
    }                                                                                \
  } while (0)

/* Expects `call` to fail with `want` and a non-empty message. */
#define EXPECT_STATUS(call, want)                                                    \
  do {                                                                               \
    spandb_status got_st = (call);                                                   \
    if (got_st != (want)) {                                                          \
      fprintf(stderr, "%s:%d: %s returned %s, want %s (%s)\n", __FILE__, __LINE__,   \
              #call, spandb_status_name(got_st), spandb_status_name(want),           \
              spandb_last_error_message());                                          \
      failures++;                                                                    \
    } else if ((want) != SPANDB_OK && spandb_last_error_message()[0] == '\0') {      \
      fprintf(stderr, "%s:%d: %s: empty error message\n", __FILE__, __LINE__, #call);\
      failures++;                                                                    \
    }                                                                                \
  } while (0)

static inline spandb_str str_of(const char *s) {
  spandb_str out = {s, strlen(s)};
  return out;
}

static inline int str_eq(spandb_str s, const char *want) {
  return s.len == strlen(want) && (s.len == 0 || memcmp(s.ptr, want, s.len) == 0);
}

static inline const spandb_value *find_attr(const spandb_key_value *kvs, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++) {
    if (str_eq(kvs[i].key, key)) return &kvs[i].value;
  }
  return NULL;
}

static inline spandb_value v_str(const char *s) {
  spandb_value v = {0};
  v.kind = SPANDB_VALUE_STRING;
  v.string_value = str_of(s);
  return v;
}

static inline spandb_value v_int(int64_t i) {
  spandb_value v = {0};
  v.kind = SPANDB_VALUE_INT;
  v.int_value = i;
  return v;
}

static inline char *make_temp_dir(void) {
  char tmpl[] = "/tmp/spandb-c-test-XXXXXX";
  char *dir = mkdtemp(tmpl);
  if (dir == NULL) {
    perror("mkdtemp");
    exit(1);
  }
  return strdup(dir);
}

static inline void remove_dir(const char *dir) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

#endif
