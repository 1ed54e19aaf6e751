/* Full round trip through the C API: open, write (C structs, OTLP JSON, OTLP protobuf), flush,
 * close, reopen, trace (view, protobuf, JSON), search, metrics, stats. Every result is checked. */
#include "common.h"

static const uint8_t TRACE_A[16] = {0xa1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t TRACE_B[16] = {0xb2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42};
static const uint64_t T0 = 1700000000000000000ull; /* 2023-11-14, ns */

/* Trace B as the OpenTelemetry Collector's file exporter writes it. */
static const char *TRACE_B_JSON =
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
    "{\"stringValue\":\"inventory\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"otel-go\"},"
    "\"spans\":[{\"traceId\":\"b2000000000000000000000000000042\",\"spanId\":\"00000000000000b1\","
    "\"name\":\"SELECT stock\",\"kind\":3,\"startTimeUnixNano\":\"1700000000500000000\","
    "\"endTimeUnixNano\":\"1700000000900000000\",\"attributes\":[{\"key\":\"db.system\","
    "\"value\":{\"stringValue\":\"postgresql\"}}],\"status\":{}}]}]}]}";

/* Three spans of trace A: a server root, a client child with every attribute type, an error. */
static void write_trace_a(spandb_db *db) {
  spandb_key_value res_attrs[] = {{str_of("service.name"), v_str("checkout")},
                                  {str_of("host.name"), v_str("web-1")}};
  spandb_resource resource = {res_attrs, 2, 0, str_of("https://opentelemetry.io/schemas/1.21.0")};
  spandb_scope scope = {str_of("otel-c"), str_of("1.2.3"), NULL, 0, 0, {NULL, 0}};

  spandb_value items[] = {v_int(1), v_str("two")};
  spandb_key_value nested[] = {{str_of("inner"), v_int(7)}};
  spandb_value v_double = {0}, v_bool = {0}, v_bytes = {0}, v_array = {0}, v_kvlist = {0};
  v_double.kind = SPANDB_VALUE_DOUBLE;
  v_double.double_value = 0.25;
  v_bool.kind = SPANDB_VALUE_BOOL;
  v_bool.bool_value = 1;
  v_bytes.kind = SPANDB_VALUE_BYTES;
  v_bytes.string_value.ptr = "\x00\x01\xff";
  v_bytes.string_value.len = 3;
  v_array.kind = SPANDB_VALUE_ARRAY;
  v_array.array = items;
  v_array.array_len = 2;
  v_kvlist.kind = SPANDB_VALUE_KVLIST;
  v_kvlist.kvlist = nested;
  v_kvlist.kvlist_len = 1;
  spandb_key_value child_attrs[] = {
      {str_of("http.url"), v_str("http://payments/charge")},
      {str_of("http.response.status_code"), v_int(200)},
      {str_of("sample.ratio"), v_double},
      {str_of("retry"), v_bool},
      {str_of("blob"), v_bytes},
      {str_of("list"), v_array},
      {str_of("map"), v_kvlist},
  };
  spandb_key_value exc_attrs[] = {{str_of("exception.type"), v_str("TimeoutError")}};
  spandb_event events[] = {{T0 + 150000000, str_of("exception"), exc_attrs, 1, 0}};
  spandb_link links[] = {{{0}, {0}, str_of("k=v"), 1, NULL, 0, 0}};
  memcpy(links[0].trace_id, TRACE_B, 16);
  links[0].span_id[7] = 0xb1;

  spandb_span spans[3];
  memset(spans, 0, sizeof spans);
  for (int i = 0; i < 3; i++) {
    memcpy(spans[i].trace_id, TRACE_A, 16);
    spans[i].span_id[7] = (uint8_t)(0xa0 + i);
    spans[i].resource = &resource;
    spans[i].scope = &scope;
  }
  spans[0].name = str_of("GET /checkout");
  spans[0].kind = 2;
  spans[0].start_ns = T0;
  spans[0].end_ns = T0 + 300000000;
  spans[0].status_code = 1;

  spans[1].parent_span_id[7] = 0xa0;
  spans[1].name = str_of("POST /charge");
  spans[1].kind = 3;
  spans[1].start_ns = T0 + 10000000;
  spans[1].end_ns = T0 + 110000000;
  spans[1].attributes = child_attrs;
  spans[1].attributes_len = sizeof child_attrs / sizeof child_attrs[0];
  spans[1].links = links;
  spans[1].links_len = 1;
  spans[1].dropped_attributes_count = 3;

  spans[2].parent_span_id[7] = 0xa0;
  spans[2].name = str_of("reserve");
  spans[2].kind = 1;
  spans[2].start_ns = T0 + 120000000;
  spans[2].end_ns = T0 + 290000000;
  spans[2].status_code = 2;
  spans[2].status_message = str_of("deadline exceeded");
  spans[2].events = events;
  spans[2].events_len = 1;

  MUST(spandb_write_spans(db, spans, 3));
}

static void check_trace_a(const spandb_trace *t) {
  CHECK(t->span_count == 3);
  if (t->span_count != 3) return;
  const spandb_span *root = &t->spans[0], *child = &t->spans[1], *err = &t->spans[2];
  CHECK(memcmp(root->trace_id, TRACE_A, 16) == 0);
  CHECK(str_eq(root->name, "GET /checkout") && root->kind == 2 && root->status_code == 1);
  CHECK(root->start_ns == T0 && root->end_ns == T0 + 300000000);
  CHECK(t->parent_indices[0] == SPANDB_NO_PARENT);
  CHECK(t->parent_indices[1] == 0 && t->parent_indices[2] == 0);
  CHECK(root->resource != NULL && root->resource == child->resource);
  const spandb_value *svc = find_attr(root->resource->attributes, root->resource->attributes_len, "service.name");
  CHECK(svc != NULL && svc->kind == SPANDB_VALUE_STRING && str_eq(svc->string_value, "checkout"));
  CHECK(str_eq(root->resource->schema_url, "https://opentelemetry.io/schemas/1.21.0"));
  CHECK(root->scope != NULL && str_eq(root->scope->name, "otel-c") && str_eq(root->scope->version, "1.2.3"));

  CHECK(str_eq(child->name, "POST /charge") && child->kind == 3);
  CHECK(child->parent_span_id[7] == 0xa0 && child->dropped_attributes_count == 3);
  const spandb_key_value *a = child->attributes;
  size_t n = child->attributes_len;
  CHECK(n == 7);
  const spandb_value *v = find_attr(a, n, "http.response.status_code");
  CHECK(v != NULL && v->kind == SPANDB_VALUE_INT && v->int_value == 200);
  v = find_attr(a, n, "sample.ratio");
  CHECK(v != NULL && v->kind == SPANDB_VALUE_DOUBLE && v->double_value == 0.25);
  v = find_attr(a, n, "retry");
  CHECK(v != NULL && v->kind == SPANDB_VALUE_BOOL && v->bool_value == 1);
  v = find_attr(a, n, "blob");
  CHECK(v != NULL && v->kind == SPANDB_VALUE_BYTES && v->string_value.len == 3 &&
        memcmp(v->string_value.ptr, "\x00\x01\xff", 3) == 0);
  v = find_attr(a, n, "list");
  CHECK(v != NULL && v->kind == SPANDB_VALUE_ARRAY && v->array_len == 2 && v->array[0].int_value == 1 &&
        str_eq(v->array[1].string_value, "two"));
  v = find_attr(a, n, "map");
  CHECK(v != NULL && v->kind == SPANDB_VALUE_KVLIST && v->kvlist_len == 1 &&
        str_eq(v->kvlist[0].key, "inner") && v->kvlist[0].value.int_value == 7);
  CHECK(child->links_len == 1 && memcmp(child->links[0].trace_id, TRACE_B, 16) == 0 &&
        child->links[0].span_id[7] == 0xb1 && str_eq(child->links[0].trace_state, "k=v") &&
        child->links[0].flags == 1);

  CHECK(str_eq(err->name, "reserve") && err->status_code == 2 && str_eq(err->status_message, "deadline exceeded"));
  CHECK(err->events_len == 1 && str_eq(err->events[0].name, "exception") && err->events[0].time_ns == T0 + 150000000);
  if (err->events_len == 1) {
    v = find_attr(err->events[0].attributes, err->events[0].attributes_len, "exception.type");
    CHECK(v != NULL && str_eq(v->string_value, "TimeoutError"));
  }
}

/* A log record of trace B's span as the Collector's file exporter writes logs. */
static const char *LOGS_JSON =
    "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
    "{\"stringValue\":\"inventory\"}}]},\"scopeLogs\":[{\"scope\":{\"name\":\"otel-go\"},"
    "\"logRecords\":[{\"timeUnixNano\":\"1700000000600000000\",\"severityNumber\":17,"
    "\"severityText\":\"ERROR\",\"body\":{\"stringValue\":\"stock query declined\"},"
    "\"attributes\":[{\"key\":\"db.rows\",\"value\":{\"intValue\":\"3\"}}],"
    "\"traceId\":\"b2000000000000000000000000000042\",\"spanId\":\"00000000000000b1\"}]}]}]}";

/* One ExportLogsServiceRequest in protobuf, encoded by hand: resource_logs { scope_logs {
 * log_records { time_unix_nano: T0 + 5 (fixed64), severity_number: 9, body { string_value:
 * "hello" } } } }. */
static const uint8_t LOGS_PROTO[] = {
    0x0a, 0x18,                                           /* resource_logs, 24 bytes */
    0x12, 0x16,                                           /* scope_logs, 22 bytes */
    0x12, 0x14,                                           /* log_records, 20 bytes */
    0x09, 5, 0, 42, 54, 254, 156, 151, 23,                /* time_unix_nano */
    0x10, 9,                                              /* severity_number: INFO */
    0x2a, 0x07, 0x0a, 0x05, 'h', 'e', 'l', 'l', 'o'};     /* body */

static int bytes_contain(const spandb_bytes *b, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= b->len; i++) {
    if (memcmp(b->data + i, needle, n) == 0) return 1;
  }
  return 0;
}

int main(void) {
  CHECK(spandb_abi_version() == SPANDB_ABI_VERSION);
  CHECK(strlen(spandb_version()) > 0);
  char *dir = make_temp_dir();
  char *dir2 = make_temp_dir();

  spandb_options *opts = NULL;
  MUST(spandb_options_new(&opts));
  MUST(spandb_options_set_durability(opts, SPANDB_DURABILITY_SYNC, 0));
  MUST(spandb_options_set_block_max_spans(opts, 1000));
  spandb_db *db = NULL;
  MUST(spandb_open(dir, opts, &db));

  write_trace_a(db);
  MUST(spandb_write_otlp_json(db, (const uint8_t *)TRACE_B_JSON, strlen(TRACE_B_JSON)));

  /* Visible before flush (unsealed). */
  spandb_trace *t = NULL;
  MUST(spandb_trace_get(db, TRACE_A, &t));
  check_trace_a(t);
  MUST(spandb_trace_free(t));

  MUST(spandb_flush(db));
  spandb_db_stats stats;
  MUST(spandb_stats(db, &stats));
  CHECK(stats.spans == 4 && stats.traces == 2 && stats.blocks == 1 && stats.services == 2);
  CHECK(stats.sealed_spans == 4 && stats.unsealed_spans == 0);
  CHECK(stats.has_time_range && stats.min_start_ns == T0 && stats.max_end_ns == T0 + 900000000);
  MUST(spandb_close(db));
  MUST(spandb_db_free(db));

  /* Reopen: everything is still there. */
  MUST(spandb_open(dir, opts, &db));
  MUST(spandb_options_free(opts));
  t = NULL;
  MUST(spandb_trace_get(db, TRACE_A, &t));
  check_trace_a(t);
  MUST(spandb_trace_free(t));

  MUST(spandb_trace_get(db, TRACE_B, &t));
  CHECK(t->span_count == 1 && str_eq(t->spans[0].name, "SELECT stock") && t->spans[0].kind == 3);
  MUST(spandb_trace_free(t));

  uint8_t missing[16] = {9};
  MUST(spandb_trace_get(db, missing, &t));
  CHECK(t->span_count == 0 && t->spans == NULL);
  MUST(spandb_trace_free(t));

  uint8_t parsed[16];
  MUST(spandb_trace_id_from_hex("a10102030405060708090a0b0c0d0e0f", parsed));
  CHECK(memcmp(parsed, TRACE_A, 16) == 0);

  /* OTLP JSON out. */
  spandb_bytes *json = NULL;
  MUST(spandb_trace_otlp_json(db, TRACE_A, &json));
  CHECK(json->len > 0 && bytes_contain(json, "\"GET /checkout\"") && bytes_contain(json, "\"checkout\""));
  MUST(spandb_bytes_free(json));

  /* OTLP protobuf out, written into a second database, reads back the same. */
  spandb_bytes *proto = NULL;
  MUST(spandb_trace_otlp_proto(db, TRACE_A, &proto));
  CHECK(proto->len > 100);
  spandb_db *db2 = NULL;
  MUST(spandb_open(dir2, NULL, &db2));
  MUST(spandb_write_otlp_proto(db2, proto->data, proto->len));
  MUST(spandb_bytes_free(proto));
  MUST(spandb_trace_get(db2, TRACE_A, &t));
  check_trace_a(t);
  MUST(spandb_trace_free(t));
  MUST(spandb_db_free(db2));

  /* Search. */
  spandb_search_result *found = NULL;
  MUST(spandb_search(db, "{ resource.service.name = \"checkout\" && status = error }", 0, 0, 10, &found));
  CHECK(found->traces_len == 1);
  if (found->traces_len == 1) {
    const spandb_trace_summary *s = &found->traces[0];
    CHECK(memcmp(s->trace_id, TRACE_A, 16) == 0);
    CHECK(s->has_root && str_eq(s->root_service, "checkout") && str_eq(s->root_name, "GET /checkout"));
    CHECK(s->start_ns == T0 && s->duration_ns == 300000000 && s->span_count == 3);
    CHECK(s->matched_len == 1 && str_eq(s->matched[0].name, "reserve") && s->matched[0].status_code == 2);
  }
  MUST(spandb_search_result_free(found));

  MUST(spandb_search(db, "{ duration > 350ms }", 0, 0, 10, &found));
  CHECK(found->traces_len == 1 && found->traces[0].trace_id[0] == 0xb2);
  MUST(spandb_search_result_free(found));

  MUST(spandb_search(db, "{ name = \"nothing\" }", 0, 0, 10, &found));
  CHECK(found->traces_len == 0);
  MUST(spandb_search_result_free(found));

  spandb_bytes *sj = NULL;
  MUST(spandb_search_json(db, "{ kind = server }", 0, 0, 10, &sj));
  CHECK(bytes_contain(sj, "\"traces\"") && bytes_contain(sj, "a1010203040506070809"));
  MUST(spandb_bytes_free(sj));

  /* Logs: JSON and protobuf in, queries out as OTLP JSON. */
  MUST(spandb_write_logs_otlp_json(db, (const uint8_t *)LOGS_JSON, strlen(LOGS_JSON)));
  MUST(spandb_write_logs_otlp_proto(db, LOGS_PROTO, sizeof LOGS_PROTO));
  spandb_bytes *logs = NULL;
  MUST(spandb_logs_json(db, "", 0, 0, 10, &logs));
  CHECK(bytes_contain(logs, "\"resourceLogs\"") && bytes_contain(logs, "stock query declined") &&
        bytes_contain(logs, "\"hello\"") && bytes_contain(logs, "\"timeUnixNano\":\"1700000000000000005\""));
  MUST(spandb_bytes_free(logs));
  MUST(spandb_logs_json(db, "{ severity >= error && log.db.rows = 3 } |= \"declined\"", 0, 0, 10, &logs));
  CHECK(bytes_contain(logs, "\"traceId\":\"b2000000000000000000000000000042\"") &&
        bytes_contain(logs, "\"spanId\":\"00000000000000b1\"") && bytes_contain(logs, "\"severityText\":\"ERROR\"") &&
        bytes_contain(logs, "\"service.name\"") && !bytes_contain(logs, "hello"));
  MUST(spandb_bytes_free(logs));
  MUST(spandb_logs_json(db, "|= \"hello\"", T0 + 10, 0, 10, &logs)); /* outside the range */
  CHECK(!bytes_contain(logs, "hello"));
  MUST(spandb_bytes_free(logs));

  /* Service graph: trace B's client span calls a PostgreSQL database; a filter that keeps only
   * trace A (no call between nodes) leaves no edge. */
  spandb_bytes *graph = NULL;
  MUST(spandb_service_graph_json(db, NULL, 0, 0, &graph));
  CHECK(bytes_contain(graph, "\"client\":\"inventory\"") && bytes_contain(graph, "\"server\":\"postgresql\"") &&
        bytes_contain(graph, "\"kind\":\"database\"") && bytes_contain(graph, "\"calls\":1"));
  MUST(spandb_bytes_free(graph));
  MUST(spandb_service_graph_json(db, "{ resource.service.name = \"checkout\" }", 0, 0, &graph));
  CHECK(!bytes_contain(graph, "postgresql") && bytes_contain(graph, "\"edges\":[]"));
  MUST(spandb_bytes_free(graph));

  /* Anomalies over two spans: nothing to call an incident. Explain trace A: its error span. */
  spandb_bytes *doc = NULL;
  MUST(spandb_anomalies_json(db, 0, 0, 0, 0, &doc));
  CHECK(bytes_contain(doc, "\"incidents\":[]"));
  MUST(spandb_bytes_free(doc));
  MUST(spandb_explain_json(db, TRACE_A, &doc));
  CHECK(bytes_contain(doc, "\"root_service\":\"checkout\"") && bytes_contain(doc, "\"summary\"") &&
        bytes_contain(doc, "\"operation\":\"reserve\""));
  MUST(spandb_bytes_free(doc));

  /* Critical path and health of trace A; breakdown over every trace; error groups: the
   * reserve failure is its own origin. */
  MUST(spandb_critical_path_json(db, TRACE_A, &doc));
  CHECK(bytes_contain(doc, "\"sections\":[{") && bytes_contain(doc, "\"critical_ns\"") &&
        bytes_contain(doc, "\"trace_id\":\"a1010203040506070809"));
  MUST(spandb_bytes_free(doc));
  MUST(spandb_trace_health_json(db, TRACE_A, &doc));
  CHECK(bytes_contain(doc, "\"missing_root\":false") && bytes_contain(doc, "\"orphans\":[]"));
  MUST(spandb_bytes_free(doc));
  MUST(spandb_time_breakdown_json(db, NULL, 0, 0, 0, &doc));
  CHECK(bytes_contain(doc, "\"traces\":2") && bytes_contain(doc, "\"operation\":\"GET /checkout\""));
  MUST(spandb_bytes_free(doc));
  MUST(spandb_time_breakdown_json(db, "{ resource.service.name = \"inventory\" }", 0, 0, 10, &doc));
  CHECK(bytes_contain(doc, "\"traces\":1"));
  MUST(spandb_bytes_free(doc));
  MUST(spandb_error_groups_json(db, 0, 0, 0, 0, &doc));
  CHECK(bytes_contain(doc, "\"error_spans\":1") && bytes_contain(doc, "\"operations\":[{\"name\":\"reserve\""));
  MUST(spandb_bytes_free(doc));

  /* Metrics: spans per service over the data's time range, one 60 s step. */
  spandb_metrics_result *m = NULL;
  MUST(spandb_metrics(db, "{ } | count_over_time() by (resource.service.name)", 0, 0, 60000000000ull, &m));
  CHECK(m->series_len == 2);
  double checkout = 0, inventory = 0;
  for (size_t i = 0; i < m->series_len; i++) {
    const spandb_series *s = &m->series[i];
    double sum = 0;
    for (size_t j = 0; j < s->samples_len; j++) sum += s->samples[j].value;
    CHECK(s->labels_len == 1 && s->labels[0].value.kind == SPANDB_VALUE_STRING);
    if (s->labels_len == 1 && str_eq(s->labels[0].value.string_value, "checkout")) checkout = sum;
    if (s->labels_len == 1 && str_eq(s->labels[0].value.string_value, "inventory")) inventory = sum;
  }
  CHECK(checkout == 3 && inventory == 1);
  MUST(spandb_metrics_result_free(m));

  MUST(spandb_metrics(db, "{ status = error } | count_over_time()", T0, T0 + 60000000000ull, 60000000000ull, &m));
  CHECK(m->series_len == 1 && m->series[0].samples_len >= 1 && m->series[0].samples[0].value == 1);
  MUST(spandb_metrics_result_free(m));

  spandb_bytes *mj = NULL;
  MUST(spandb_metrics_json(db, "{ } | rate()", 0, 0, 60000000000ull, &mj));
  CHECK(mj->len > 2);
  MUST(spandb_bytes_free(mj));

  /* Threads: results outlive the handle. */
  MUST(spandb_trace_get(db, TRACE_A, &t));
  MUST(spandb_close(db));
  MUST(spandb_db_free(db));
  check_trace_a(t);
  MUST(spandb_trace_free(t));

  remove_dir(dir);
  remove_dir(dir2);
  free(dir);
  free(dir2);
  if (failures) {
    fprintf(stderr, "roundtrip: %d check(s) failed\n", failures);
    return 1;
  }
  printf("roundtrip: all checks passed (spandb %s)\n", spandb_version());
  return 0;
}
