//! The hand-written decoder (`decode`) against the serde decoder it replaced (`reference`):
//! generated OTLP JSON requests, written with random field order, whitespace, escapes,
//! unknown fields, numbers as strings and enums as names, must decode to the same spans and
//! the same dropped counts, or fail in both, strict and lenient; mutated requests must never
//! panic, and decode to the same spans whenever both decoders accept them.

use proptest::prelude::*;
use serde_json::{json, Map, Value as Json};

use super::decode::decode_request;
use super::reference::decode_request_serde;
use super::schema::{KIND_NAMES, STATUS_NAMES};
use crate::otlp::{Dropped, Lenience};

/// Strings with what JSON must escape (quotes, backslashes, control characters) and
/// characters outside the Basic Multilingual Plane (surrogate pairs when escaped).
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::char::range('a', 'z'),
            1 => Just('"'),
            1 => Just('\\'),
            1 => prop::char::range('\u{0}', '\u{1f}'),
            1 => Just('é'),
            1 => Just('😀'),
            1 => any::<char>(),
        ],
        0..8,
    )
    .prop_map(|c| c.into_iter().collect())
}

fn hex(bytes: &[u8], upper: bool) -> String {
    let s: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if upper {
        s.to_uppercase()
    } else {
        s
    }
}

/// A hex id of `n` bytes, now and then invalid (wrong length, not hex, all zeros).
fn id(n: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        40 => (prop::collection::vec(any::<u8>(), n), any::<bool>()).prop_map(|(b, up)| hex(&b, up)),
        1 => Just("0".repeat(n * 2)),
        1 => Just("xyz".to_string()),
        1 => Just(String::new()),
    ]
}

/// A 64-bit (or 32-bit) integer as a JSON number or a decimal string.
fn integer(max: u64) -> impl Strategy<Value = Json> {
    (0..=max, any::<bool>()).prop_map(|(v, as_string)| {
        if as_string {
            json!(v.to_string())
        } else {
            json!(v)
        }
    })
}

/// An enum as its number, its name, or out of range.
fn enumeration(names: &'static [&'static str]) -> impl Strategy<Value = Json> {
    prop_oneof![
        6 => (0..names.len()).prop_map(|i| json!(i)),
        3 => prop::sample::select(names).prop_map(|n| json!(n)),
        1 => Just(json!(9)),
        1 => Just(json!("NOT_A_NAME")),
    ]
}

fn any_value(depth: u32) -> BoxedStrategy<Json> {
    let leaf = prop_oneof![
        text().prop_map(|s| json!({ "stringValue": s })),
        (any::<i64>(), any::<bool>()).prop_map(|(v, s)| if s {
            json!({ "intValue": v.to_string() })
        } else {
            json!({ "intValue": v })
        }),
        any::<bool>().prop_map(|b| json!({ "boolValue": b })),
        prop_oneof![
            any::<f64>()
                .prop_filter("finite", |v| v.is_finite())
                .prop_map(|v| json!(v)),
            Just(json!("NaN")),
            Just(json!("-Infinity")),
            Just(json!("2.5")),
        ]
        .prop_map(|v| json!({ "doubleValue": v })),
        prop::collection::vec(any::<u8>(), 0..6).prop_map(|b| {
            use base64::Engine;
            json!({ "bytesValue": base64::engine::general_purpose::STANDARD.encode(b) })
        }),
        Just(json!({ "bytesValue": "not base64!" })),
        Just(json!({})),
        Just(json!({ "stringValue": "both", "intValue": 3 })),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        4 => leaf,
        1 => prop::collection::vec(any_value(depth - 1), 0..3)
            .prop_map(|v| json!({ "arrayValue": { "values": v } })),
        1 => attributes(depth - 1).prop_map(|v| json!({ "kvlistValue": { "values": v } })),
    ]
    .boxed()
}

fn attributes(depth: u32) -> impl Strategy<Value = Json> {
    prop::collection::vec(
        (text(), prop::option::of(any_value(depth))).prop_map(|(key, value)| match value {
            Some(v) => json!({ "key": key, "value": v }),
            None => json!({ "key": key }),
        }),
        0..3,
    )
    .prop_map(Json::Array)
}

/// Adds the optional fields present in `fields` to `object`.
fn with(mut object: Map<String, Json>, fields: Vec<(&str, Option<Json>)>) -> Json {
    for (name, value) in fields {
        if let Some(v) = value {
            object.insert(name.to_string(), v);
        }
    }
    Json::Object(object)
}

fn opt<T: Strategy<Value = Json>>(s: T) -> impl Strategy<Value = Option<Json>> {
    prop::option::weighted(0.6, s)
}

fn link() -> impl Strategy<Value = Json> {
    (
        id(16),
        id(8),
        opt(text().prop_map(Json::from)),
        opt(integer(u32::MAX as u64)),
        opt(attributes(1)),
    )
        .prop_map(|(t, s, state, flags, attrs)| {
            let mut o = Map::new();
            o.insert("traceId".into(), json!(t));
            o.insert("spanId".into(), json!(s));
            with(
                o,
                vec![
                    ("traceState", state),
                    ("flags", flags),
                    ("attributes", attrs),
                ],
            )
        })
}

fn event() -> impl Strategy<Value = Json> {
    (
        opt(integer(u64::MAX)),
        opt(text().prop_map(Json::from)),
        opt(attributes(1)),
        opt(integer(5)),
    )
        .prop_map(|(time, name, attrs, dropped)| {
            with(
                Map::new(),
                vec![
                    ("timeUnixNano", time),
                    ("name", name),
                    ("attributes", attrs),
                    ("droppedAttributesCount", dropped),
                ],
            )
        })
}

fn span() -> impl Strategy<Value = Json> {
    (
        (
            id(16),
            id(8),
            opt(id(8).prop_map(Json::from)),
            opt(text().prop_map(Json::from)),
        ),
        (
            opt(enumeration(KIND_NAMES)),
            opt(integer(u64::MAX)),
            opt(integer(u64::MAX)),
            opt(integer(u32::MAX as u64)),
        ),
        (
            opt(attributes(2)),
            opt(prop::collection::vec(event(), 0..2).prop_map(Json::Array)),
            opt(prop::collection::vec(link(), 0..2).prop_map(Json::Array)),
            prop::option::weighted(
                0.7,
                (
                    opt(text().prop_map(Json::from)),
                    opt(enumeration(STATUS_NAMES)),
                )
                    .prop_map(|(m, c)| with(Map::new(), vec![("message", m), ("code", c)])),
            ),
        ),
        opt(integer(9)),
    )
        .prop_map(
            |(
                (t, s, parent, name),
                (kind, start, end, flags),
                (attrs, events, links, status),
                dropped,
            )| {
                let mut o = Map::new();
                o.insert("traceId".into(), json!(t));
                o.insert("spanId".into(), json!(s));
                with(
                    o,
                    vec![
                        ("parentSpanId", parent),
                        ("name", name),
                        ("kind", kind),
                        ("startTimeUnixNano", start),
                        ("endTimeUnixNano", end),
                        ("flags", flags),
                        ("attributes", attrs),
                        ("events", events),
                        ("links", links),
                        ("status", status),
                        ("droppedLinksCount", dropped),
                    ],
                )
            },
        )
}

fn request() -> impl Strategy<Value = Json> {
    let scope = (
        opt(text().prop_map(Json::from)),
        opt(attributes(1)),
        prop::collection::vec(span(), 0..4),
        opt(text().prop_map(Json::from)),
    )
        .prop_map(|(name, attrs, spans, url)| {
            let scope = with(Map::new(), vec![("name", name), ("attributes", attrs)]);
            with(
                Map::new(),
                vec![
                    ("scope", Some(scope)),
                    ("spans", Some(Json::Array(spans))),
                    ("schemaUrl", url),
                ],
            )
        });
    let resource = (
        opt(attributes(1)),
        prop::collection::vec(scope, 0..3),
        opt(text().prop_map(Json::from)),
        opt(integer(3)),
    )
        .prop_map(|(attrs, scopes, url, dropped)| {
            let resource = with(
                Map::new(),
                vec![("attributes", attrs), ("droppedAttributesCount", dropped)],
            );
            with(
                Map::new(),
                vec![
                    ("resource", Some(resource)),
                    ("scopeSpans", Some(Json::Array(scopes))),
                    ("schemaUrl", url),
                ],
            )
        });
    prop::collection::vec(resource, 0..3).prop_map(|r| json!({ "resourceSpans": r }))
}

/// Writes JSON text with choices a `seed` makes: field order, unknown fields (with nested
/// values), whitespace, escapes beyond the required ones.
struct Writer {
    seed: u64,
    out: String,
}

impl Writer {
    fn roll(&mut self, below: u64) -> u64 {
        // An LCG is plenty to vary the text.
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.seed >> 33) % below
    }

    fn space(&mut self) {
        let ws = [" ", "\n", "\t", "\r\n  "];
        if self.roll(4) == 0 {
            let i = self.roll(ws.len() as u64) as usize;
            self.out.push_str(ws.get(i).copied().unwrap_or(" "));
        }
    }

    fn string(&mut self, s: &str) {
        self.out.push('"');
        for c in s.chars() {
            let short = match c {
                '"' => Some("\\\""),
                '\\' => Some("\\\\"),
                '\n' => Some("\\n"),
                '\t' => Some("\\t"),
                '/' => Some("\\/"),
                _ => None,
            };
            match (short, self.roll(4)) {
                (Some(esc), 0..=2) => self.out.push_str(esc),
                _ if (c as u32) < 0x20 || self.roll(8) == 0 => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        self.out.push_str(&format!("\\u{unit:04X}"));
                    }
                }
                (Some(_), _) if c == '"' || c == '\\' => {
                    self.out.push_str(&format!("\\u{:04x}", c as u32))
                }
                _ => self.out.push(c),
            }
        }
        self.out.push('"');
    }

    fn value(&mut self, v: &Json) {
        self.space();
        match v {
            Json::Object(o) => {
                let mut fields: Vec<(&String, &Json)> = o.iter().collect();
                // Shuffle the fields (Fisher-Yates).
                for i in (1..fields.len()).rev() {
                    let j = self.roll(i as u64 + 1) as usize;
                    fields.swap(i, j);
                }
                self.out.push('{');
                let unknown = json!({"a": [1, -2.5e3, "x", true, false, null, {}], "b": {"c": []}});
                let mut first = true;
                for (k, v) in fields {
                    if self.roll(10) == 0 {
                        self.field(&mut first, "unknownField", &unknown);
                    }
                    self.field(&mut first, k, v);
                }
                self.space();
                self.out.push('}');
            }
            Json::Array(a) => {
                self.out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.value(v);
                }
                self.space();
                self.out.push(']');
            }
            Json::String(s) => self.string(s),
            other => self.out.push_str(&other.to_string()),
        }
        self.space();
    }

    fn field(&mut self, first: &mut bool, name: &str, value: &Json) {
        if !*first {
            self.out.push(',');
        }
        *first = false;
        self.space();
        self.string(name);
        self.space();
        self.out.push(':');
        self.value(value);
    }
}

fn write(v: &Json, seed: u64) -> String {
    let mut w = Writer {
        seed,
        out: String::new(),
    };
    w.value(v);
    w.out
}

/// A decoder of one request, with its error as a message.
type Decode = fn(&[u8], &mut Vec<crate::model::Span>, &mut Lenience<'_>) -> Result<(), String>;

/// Both decoders on `line`, strict then lenient: `Ok` with what they decoded (as `Debug`
/// text, so NaN doubles compare equal) or `Err`.
fn both(line: &[u8]) -> [(Result<String, String>, Result<String, String>); 2] {
    let run = |f: Decode, lenient: bool| {
        let mut out = Vec::new();
        let mut dropped = Dropped::default();
        let lenience = &mut Lenience(lenient.then_some(&mut dropped));
        let r = f(line, &mut out, lenience);
        r.map(|()| format!("{out:?} {dropped:?}"))
    };
    [false, true].map(|lenient| {
        (
            run(decode_request, lenient),
            run(decode_request_serde, lenient),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decodes_what_the_serde_decoder_decodes(req in request(), seed in any::<u64>()) {
        let line = write(&req, seed);
        for (mine, reference) in both(line.as_bytes()) {
            match (&mine, &reference) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "{}", line),
                (Err(_), Err(_)) => {}
                _ => prop_assert!(false, "{line}\nhand-written: {mine:?}\nserde: {reference:?}"),
            }
        }
    }

    #[test]
    fn mutated_requests_never_panic_and_agree_when_accepted(
        req in request(),
        seed in any::<u64>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..4),
    ) {
        let mut line = write(&req, seed).into_bytes();
        for (at, byte, how) in edits {
            let i = at.index(line.len() + 1);
            match how {
                0 if i < line.len() => line[i] = byte,
                1 if i < line.len() => {
                    line.remove(i);
                }
                _ => line.insert(i, byte),
            }
        }
        for (mine, reference) in both(&line) {
            if let (Ok(a), Ok(b)) = (&mine, &reference) {
                prop_assert_eq!(a, b, "{}", String::from_utf8_lossy(&line));
            }
        }
    }
}
