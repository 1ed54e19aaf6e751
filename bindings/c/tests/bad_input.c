/* Bad input through the C API: every call must fail with the right status and a message,
 * leave out-parameters untouched, and never crash. */
#include <pthread.h>

#include "common.h"

#define SENTINEL ((void *)0x5a5a)

static const uint8_t TRACE[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void one_span(spandb_span *s) {
  memset(s, 0, sizeof *s);
  memcpy(s->trace_id, TRACE, 16);
  s->span_id[0] = 1;
  s->name = str_of("ok");
}

struct writer_args {
  spandb_db *db;
  int errors;
};

/* Writes from another thread while the main thread closes and frees the handle. */
static void *writer(void *p) {
  struct writer_args *a = p;
  spandb_span s;
  for (int i = 0; i < 200; i++) {
    one_span(&s);
    s.span_id[1] = (uint8_t)i;
    spandb_status st = spandb_write_spans(a->db, &s, 1);
    if (st != SPANDB_OK && st != SPANDB_ERR_CLOSED && st != SPANDB_ERR_INVALID_HANDLE) a->errors++;
  }
  return NULL;
}

int main(void) {
  char *dir = make_temp_dir();
  spandb_db *db = NULL;

  /* NULL arguments. */
  EXPECT_STATUS(spandb_open(NULL, NULL, &db), SPANDB_ERR_NULL_POINTER);
  CHECK(db == NULL);
  EXPECT_STATUS(spandb_open(dir, NULL, NULL), SPANDB_ERR_NULL_POINTER);
  EXPECT_STATUS(spandb_options_new(NULL), SPANDB_ERR_NULL_POINTER);
  EXPECT_STATUS(spandb_write_spans(NULL, NULL, 0), SPANDB_ERR_NULL_POINTER);
  EXPECT_STATUS(spandb_flush(NULL), SPANDB_ERR_NULL_POINTER);
  EXPECT_STATUS(spandb_close(NULL), SPANDB_ERR_NULL_POINTER);
  EXPECT_STATUS(spandb_db_free(NULL), SPANDB_ERR_NULL_POINTER);
  EXPECT_STATUS(spandb_bytes_free(NULL), SPANDB_ERR_NULL_POINTER);
  EXPECT_STATUS(spandb_trace_free(NULL), SPANDB_ERR_NULL_POINTER);
  EXPECT_STATUS(spandb_search_result_free(NULL), SPANDB_ERR_NULL_POINTER);
  EXPECT_STATUS(spandb_metrics_result_free(NULL), SPANDB_ERR_NULL_POINTER);
  EXPECT_STATUS(spandb_options_free(NULL), SPANDB_ERR_NULL_POINTER);

  /* Invalid UTF-8 path; bad options. */
  EXPECT_STATUS(spandb_open("/tmp/\xff\xfe", NULL, &db), SPANDB_ERR_INVALID_UTF8);
  CHECK(db == NULL);
  spandb_options *opts = NULL;
  MUST(spandb_options_new(&opts));
  EXPECT_STATUS(spandb_options_set_durability(opts, 7, 0), SPANDB_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(spandb_options_set_durability(opts, SPANDB_DURABILITY_GROUP_COMMIT, 0), SPANDB_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(spandb_options_set_block_max_spans(opts, 0), SPANDB_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(spandb_options_set_zstd_level(opts, 99), SPANDB_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(spandb_options_set_attributes_zstd_level(opts, 0), SPANDB_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(spandb_options_set_attributes_zstd_level(opts, 9), SPANDB_OK);
  MUST(spandb_options_set_durability(opts, SPANDB_DURABILITY_SYNC, 0));
  MUST(spandb_open(dir, opts, &db));
  MUST(spandb_options_free(opts));
  EXPECT_STATUS(spandb_options_free(opts), SPANDB_ERR_INVALID_HANDLE); /* double free */
  EXPECT_STATUS(spandb_options_set_block_max_spans(opts, 10), SPANDB_ERR_INVALID_HANDLE);

  /* Forged handles. */
  EXPECT_STATUS(spandb_flush((spandb_db *)SENTINEL), SPANDB_ERR_INVALID_HANDLE);
  EXPECT_STATUS(spandb_flush((spandb_db *)opts), SPANDB_ERR_INVALID_HANDLE);
  int on_stack = 0;
  EXPECT_STATUS(spandb_bytes_free((spandb_bytes *)&on_stack), SPANDB_ERR_INVALID_HANDLE);

  /* Bad spans: nothing of a rejected batch is written. */
  spandb_span spans[2];
  one_span(&spans[0]);
  one_span(&spans[1]);
  EXPECT_STATUS(spandb_write_spans(db, NULL, 2), SPANDB_ERR_NULL_POINTER);
  EXPECT_STATUS(spandb_write_spans(db, spans, SIZE_MAX), SPANDB_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(spandb_write_spans(db, spans, SIZE_MAX / sizeof(spandb_span)), SPANDB_ERR_INVALID_ARGUMENT);
  spans[1].name.ptr = "caf\xc3";
  spans[1].name.len = 4;
  EXPECT_STATUS(spandb_write_spans(db, spans, 2), SPANDB_ERR_INVALID_UTF8);
  CHECK(strstr(spandb_last_error_message(), "spans[1]") != NULL);
  spans[1].name = str_of("ok");
  spans[1].name.ptr = NULL;
  EXPECT_STATUS(spandb_write_spans(db, spans, 2), SPANDB_ERR_NULL_POINTER);
  spans[1].name = str_of("ok");
  spans[1].name.len = SIZE_MAX;
  EXPECT_STATUS(spandb_write_spans(db, spans, 2), SPANDB_ERR_INVALID_ARGUMENT);
  spans[1].name = str_of("ok");
  spans[1].kind = 9;
  EXPECT_STATUS(spandb_write_spans(db, spans, 2), SPANDB_ERR_INVALID_ARGUMENT);
  spans[1].kind = 0;
  spans[1].status_code = 3;
  EXPECT_STATUS(spandb_write_spans(db, spans, 2), SPANDB_ERR_INVALID_ARGUMENT);
  spans[1].status_code = 0;
  spandb_key_value kv = {str_of("k"), v_str("v")};
  kv.value.kind = 42;
  spans[1].attributes = &kv;
  spans[1].attributes_len = 1;
  EXPECT_STATUS(spandb_write_spans(db, spans, 2), SPANDB_ERR_INVALID_ARGUMENT);
  kv.value = v_str("v");
  kv.key.ptr = "\xff";
  kv.key.len = 1;
  EXPECT_STATUS(spandb_write_spans(db, spans, 2), SPANDB_ERR_INVALID_UTF8);
  kv.key = str_of("k");
  /* A value that contains itself: rejected by the depth limit, not a stack overflow. */
  spandb_value loop = {0};
  loop.kind = SPANDB_VALUE_ARRAY;
  loop.array = &loop;
  loop.array_len = 1;
  kv.value = loop;
  EXPECT_STATUS(spandb_write_spans(db, spans, 2), SPANDB_ERR_INVALID_ARGUMENT);
  spans[1].attributes = NULL;
  spans[1].attributes_len = 1;
  EXPECT_STATUS(spandb_write_spans(db, spans, 2), SPANDB_ERR_NULL_POINTER);
  spans[1].attributes_len = 0;
  memset(spans[1].trace_id, 0, 16);
  EXPECT_STATUS(spandb_write_spans(db, spans, 2), SPANDB_ERR_INVALID_INPUT);
  spandb_db_stats stats = {0};
  MUST(spandb_stats(db, &stats));
  CHECK(stats.spans == 0);

  /* Bad OTLP payloads. */
  EXPECT_STATUS(spandb_write_otlp_json(db, (const uint8_t *)"{not json", 9), SPANDB_ERR_INVALID_INPUT);
  EXPECT_STATUS(spandb_write_otlp_json(db, (const uint8_t *)"\"\xff\"", 3), SPANDB_ERR_INVALID_UTF8);
  EXPECT_STATUS(spandb_write_otlp_json(db, NULL, 5), SPANDB_ERR_NULL_POINTER);
  const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
  EXPECT_STATUS(spandb_write_otlp_proto(db, junk, sizeof junk), SPANDB_ERR_INVALID_INPUT);
  EXPECT_STATUS(spandb_write_otlp_proto(db, junk, SIZE_MAX), SPANDB_ERR_INVALID_ARGUMENT);
  MUST(spandb_write_otlp_proto(db, NULL, 0)); /* an empty request is valid */

  /* Bad logs: nothing of a rejected request is written. */
  EXPECT_STATUS(spandb_write_logs_otlp_json(db, (const uint8_t *)"{not json", 9), SPANDB_ERR_INVALID_INPUT);
  EXPECT_STATUS(spandb_write_logs_otlp_json(db, (const uint8_t *)"\"\xff\"", 3), SPANDB_ERR_INVALID_UTF8);
  EXPECT_STATUS(spandb_write_logs_otlp_json(db, NULL, 5), SPANDB_ERR_NULL_POINTER);
  EXPECT_STATUS(spandb_write_logs_otlp_json(NULL, (const uint8_t *)"{}", 2), SPANDB_ERR_NULL_POINTER);
  const char *bad_severity =
      "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":{\"stringValue\":\"kept?\"}},"
      "{\"severityNumber\":77}]}]}]}";
  EXPECT_STATUS(spandb_write_logs_otlp_json(db, (const uint8_t *)bad_severity, strlen(bad_severity)),
                SPANDB_ERR_INVALID_INPUT);
  CHECK(strstr(spandb_last_error_message(), "logRecords[1]") != NULL);
  EXPECT_STATUS(spandb_write_logs_otlp_proto(db, junk, sizeof junk), SPANDB_ERR_INVALID_INPUT);
  EXPECT_STATUS(spandb_write_logs_otlp_proto(db, junk, SIZE_MAX), SPANDB_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(spandb_write_logs_otlp_proto(db, NULL, 3), SPANDB_ERR_NULL_POINTER);
  MUST(spandb_write_logs_otlp_proto(db, NULL, 0)); /* an empty request is valid */
  spandb_bytes *lb = SENTINEL;
  EXPECT_STATUS(spandb_logs_json(db, "{ severity = ", 0, 0, 10, &lb), SPANDB_ERR_QUERY_SYNTAX);
  CHECK(strstr(spandb_last_error_message(), "column") != NULL);
  EXPECT_STATUS(spandb_logs_json(db, NULL, 0, 0, 10, &lb), SPANDB_ERR_NULL_POINTER);
  EXPECT_STATUS(spandb_logs_json(db, "|= \"\xff\"", 0, 0, 10, &lb), SPANDB_ERR_INVALID_UTF8);
  EXPECT_STATUS(spandb_logs_json(db, "", 10, 5, 10, &lb), SPANDB_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(spandb_logs_json(NULL, "", 0, 0, 10, &lb), SPANDB_ERR_NULL_POINTER);
  CHECK(lb == SENTINEL);
  EXPECT_STATUS(spandb_logs_json(db, "", 0, 0, 10, NULL), SPANDB_ERR_NULL_POINTER);
  MUST(spandb_logs_json(db, "", 0, 0, 10, &lb));
  static const char no_logs[] = "{\"resourceLogs\":[]}"; /* "kept?" was not stored either */
  CHECK(lb != SENTINEL && lb->len == strlen(no_logs) && memcmp(lb->data, no_logs, lb->len) == 0);
  MUST(spandb_bytes_free(lb));

  /* Reads with bad arguments leave out-params untouched. */
  spandb_trace *t = SENTINEL;
  EXPECT_STATUS(spandb_trace_get(db, NULL, &t), SPANDB_ERR_NULL_POINTER);
  EXPECT_STATUS(spandb_trace_get(db, TRACE, NULL), SPANDB_ERR_NULL_POINTER);
  CHECK(t == SENTINEL);
  uint8_t id[16] = {7};
  EXPECT_STATUS(spandb_trace_id_from_hex("xyz", id), SPANDB_ERR_INVALID_INPUT);
  CHECK(id[0] == 7);
  spandb_search_result *sr = SENTINEL;
  EXPECT_STATUS(spandb_search(db, "{ status = ", 0, 0, 10, &sr), SPANDB_ERR_QUERY_SYNTAX);
  CHECK(strstr(spandb_last_error_message(), "column") != NULL);
  EXPECT_STATUS(spandb_search(db, "{ name = \"\xff\" }", 0, 0, 10, &sr), SPANDB_ERR_INVALID_UTF8);
  EXPECT_STATUS(spandb_search(db, NULL, 0, 0, 10, &sr), SPANDB_ERR_NULL_POINTER);
  EXPECT_STATUS(spandb_search(db, "{ }", 10, 5, 10, &sr), SPANDB_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(spandb_search(db, "{ } | rate()", 0, 0, 10, &sr), SPANDB_ERR_INVALID_INPUT);
  CHECK(sr == SENTINEL);
  spandb_metrics_result *mr = SENTINEL;
  EXPECT_STATUS(spandb_metrics(db, "{ }", 0, 0, 1000, &mr), SPANDB_ERR_INVALID_INPUT);
  EXPECT_STATUS(spandb_metrics(db, "{ } | rate()", 0, 0, 0, &mr), SPANDB_ERR_INVALID_ARGUMENT);
  CHECK(mr == SENTINEL);
  EXPECT_STATUS(spandb_stats(db, NULL), SPANDB_ERR_NULL_POINTER);
  spandb_bytes *gb = SENTINEL;
  EXPECT_STATUS(spandb_service_graph_json(db, "{ status = ", 0, 0, &gb), SPANDB_ERR_QUERY_SYNTAX);
  EXPECT_STATUS(spandb_service_graph_json(db, NULL, 10, 5, &gb), SPANDB_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(spandb_service_graph_json(db, NULL, 0, 0, NULL), SPANDB_ERR_NULL_POINTER);
  CHECK(gb == SENTINEL);
  EXPECT_STATUS(spandb_anomalies_json(db, 10, 5, 0, 0, &gb), SPANDB_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(spandb_anomalies_json(db, 0, 0, 0, 0, NULL), SPANDB_ERR_NULL_POINTER);
  EXPECT_STATUS(spandb_explain_json(db, NULL, &gb), SPANDB_ERR_NULL_POINTER);
  uint8_t unknown[16] = {0x77};
  EXPECT_STATUS(spandb_explain_json(db, unknown, &gb), SPANDB_ERR_INVALID_INPUT);
  EXPECT_STATUS(spandb_critical_path_json(db, NULL, &gb), SPANDB_ERR_NULL_POINTER);
  EXPECT_STATUS(spandb_critical_path_json(db, unknown, &gb), SPANDB_ERR_INVALID_INPUT);
  EXPECT_STATUS(spandb_trace_health_json(db, unknown, &gb), SPANDB_ERR_INVALID_INPUT);
  EXPECT_STATUS(spandb_trace_health_json(NULL, unknown, &gb), SPANDB_ERR_NULL_POINTER);
  EXPECT_STATUS(spandb_time_breakdown_json(db, "{ status = ", 0, 0, 0, &gb), SPANDB_ERR_QUERY_SYNTAX);
  EXPECT_STATUS(spandb_time_breakdown_json(db, NULL, 10, 5, 0, &gb), SPANDB_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(spandb_error_groups_json(db, 10, 5, 0, 0, &gb), SPANDB_ERR_INVALID_ARGUMENT);
  EXPECT_STATUS(spandb_error_groups_json(db, 0, 0, 0, 0, NULL), SPANDB_ERR_NULL_POINTER);
  CHECK(gb == SENTINEL);

  /* Double frees and frees by the wrong function. */
  MUST(spandb_trace_get(db, TRACE, &t));
  EXPECT_STATUS(spandb_bytes_free((spandb_bytes *)t), SPANDB_ERR_INVALID_HANDLE);
  EXPECT_STATUS(spandb_search_result_free((spandb_search_result *)t), SPANDB_ERR_INVALID_HANDLE);
  MUST(spandb_trace_free(t));
  EXPECT_STATUS(spandb_trace_free(t), SPANDB_ERR_INVALID_HANDLE);
  spandb_bytes *b = NULL;
  MUST(spandb_trace_otlp_json(db, TRACE, &b));
  MUST(spandb_bytes_free(b));
  EXPECT_STATUS(spandb_bytes_free(b), SPANDB_ERR_INVALID_HANDLE);
  MUST(spandb_search(db, "{ }", 0, 0, 10, &sr));
  MUST(spandb_search_result_free(sr));
  EXPECT_STATUS(spandb_search_result_free(sr), SPANDB_ERR_INVALID_HANDLE);

  /* Closed handle: every call fails with CLOSED; close again is a no-op; then free. */
  MUST(spandb_close(db));
  MUST(spandb_close(db));
  EXPECT_STATUS(spandb_write_spans(db, spans, 1), SPANDB_ERR_CLOSED);
  EXPECT_STATUS(spandb_write_otlp_json(db, (const uint8_t *)"{}", 2), SPANDB_ERR_CLOSED);
  EXPECT_STATUS(spandb_write_logs_otlp_json(db, (const uint8_t *)"{}", 2), SPANDB_ERR_CLOSED);
  lb = SENTINEL;
  EXPECT_STATUS(spandb_logs_json(db, "", 0, 0, 10, &lb), SPANDB_ERR_CLOSED);
  CHECK(lb == SENTINEL);
  EXPECT_STATUS(spandb_flush(db), SPANDB_ERR_CLOSED);
  t = SENTINEL;
  EXPECT_STATUS(spandb_trace_get(db, TRACE, &t), SPANDB_ERR_CLOSED);
  CHECK(t == SENTINEL);
  EXPECT_STATUS(spandb_search(db, "{ }", 0, 0, 10, &sr), SPANDB_ERR_CLOSED);
  EXPECT_STATUS(spandb_stats(db, &stats), SPANDB_ERR_CLOSED);
  MUST(spandb_db_free(db));
  /* Freed handle: INVALID_HANDLE everywhere, including a second free. */
  EXPECT_STATUS(spandb_db_free(db), SPANDB_ERR_INVALID_HANDLE);
  EXPECT_STATUS(spandb_write_spans(db, spans, 1), SPANDB_ERR_INVALID_HANDLE);
  EXPECT_STATUS(spandb_trace_get(db, TRACE, &t), SPANDB_ERR_INVALID_HANDLE);
  EXPECT_STATUS(spandb_close(db), SPANDB_ERR_INVALID_HANDLE);

  /* Freeing a handle while another thread writes through it. */
  MUST(spandb_open(dir, NULL, &db));
  struct writer_args args = {db, 0};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, writer, &args) == 0);
  for (volatile int spin = 0; spin < 100000; spin++) {
  }
  MUST(spandb_db_free(db));
  pthread_join(th, NULL);
  CHECK(args.errors == 0);

  /* The error message is per thread, and status names are stable. */
  CHECK(strcmp(spandb_status_name(SPANDB_ERR_CLOSED), "SPANDB_ERR_CLOSED") == 0);
  CHECK(strcmp(spandb_status_name(1234), "unknown") == 0);

  remove_dir(dir);
  free(dir);
  if (failures) {
    fprintf(stderr, "bad_input: %d check(s) failed\n", failures);
    return 1;
  }
  printf("bad_input: all checks passed\n");
  return 0;
}
