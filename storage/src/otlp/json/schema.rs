//! The OTLP JSON mapping as serde structs (the logs decoder's, and the span decoder's
//! reference in tests) (borrowing strings from the input where it can),
//! and the lenient number and enum readers proto3 JSON needs.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

#[cfg(test)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JRequest<'a> {
    #[serde(borrow, default)]
    pub(super) resource_spans: Vec<JResourceSpans<'a>>,
}

#[cfg(test)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JResourceSpans<'a> {
    #[serde(borrow, default)]
    pub(super) resource: Option<JResource<'a>>,
    #[serde(borrow, default)]
    pub(super) scope_spans: Vec<JScopeSpans<'a>>,
    #[serde(borrow, default)]
    pub(super) schema_url: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JResource<'a> {
    #[serde(borrow, default)]
    pub(super) attributes: Vec<JKeyValue<'a>>,
    #[serde(default, deserialize_with = "de_u32")]
    pub(super) dropped_attributes_count: u32,
}

#[cfg(test)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JScopeSpans<'a> {
    #[serde(borrow, default)]
    pub(super) scope: Option<JScope<'a>>,
    #[serde(borrow, default)]
    pub(super) spans: Vec<JSpan<'a>>,
    #[serde(borrow, default)]
    pub(super) schema_url: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JScope<'a> {
    #[serde(borrow, default)]
    pub(super) name: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(super) version: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(super) attributes: Vec<JKeyValue<'a>>,
    #[serde(default, deserialize_with = "de_u32")]
    pub(super) dropped_attributes_count: u32,
}

#[cfg(test)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JSpan<'a> {
    #[serde(borrow, default)]
    pub(super) trace_id: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(super) span_id: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(super) trace_state: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(super) parent_span_id: Cow<'a, str>,
    #[serde(default, deserialize_with = "de_u32")]
    pub(super) flags: u32,
    #[serde(borrow, default)]
    pub(super) name: Cow<'a, str>,
    #[serde(default, deserialize_with = "de_kind")]
    pub(super) kind: u8,
    #[serde(default, deserialize_with = "de_u64")]
    pub(super) start_time_unix_nano: u64,
    #[serde(default, deserialize_with = "de_u64")]
    pub(super) end_time_unix_nano: u64,
    #[serde(borrow, default)]
    pub(super) attributes: Vec<JKeyValue<'a>>,
    #[serde(default, deserialize_with = "de_u32")]
    pub(super) dropped_attributes_count: u32,
    #[serde(borrow, default)]
    pub(super) events: Vec<JEvent<'a>>,
    #[serde(default, deserialize_with = "de_u32")]
    pub(super) dropped_events_count: u32,
    #[serde(borrow, default)]
    pub(super) links: Vec<JLink<'a>>,
    #[serde(default, deserialize_with = "de_u32")]
    pub(super) dropped_links_count: u32,
    #[serde(borrow, default)]
    pub(super) status: Option<JStatus<'a>>,
}

#[cfg(test)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JStatus<'a> {
    #[serde(borrow, default)]
    pub(super) message: Cow<'a, str>,
    #[serde(default, deserialize_with = "de_status")]
    pub(super) code: u8,
}

#[cfg(test)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JEvent<'a> {
    #[serde(default, deserialize_with = "de_u64")]
    pub(super) time_unix_nano: u64,
    #[serde(borrow, default)]
    pub(super) name: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(super) attributes: Vec<JKeyValue<'a>>,
    #[serde(default, deserialize_with = "de_u32")]
    pub(super) dropped_attributes_count: u32,
}

#[cfg(test)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JLink<'a> {
    #[serde(borrow, default)]
    pub(super) trace_id: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(super) span_id: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(super) trace_state: Cow<'a, str>,
    #[serde(default, deserialize_with = "de_u32")]
    pub(super) flags: u32,
    #[serde(borrow, default)]
    pub(super) attributes: Vec<JKeyValue<'a>>,
    #[serde(default, deserialize_with = "de_u32")]
    pub(super) dropped_attributes_count: u32,
}

#[derive(Deserialize)]
pub(super) struct JKeyValue<'a> {
    #[serde(borrow)]
    pub(super) key: Cow<'a, str>,
    #[serde(borrow, default)]
    pub(super) value: Option<JAnyValue<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JAnyValue<'a> {
    #[serde(borrow, default)]
    pub(super) string_value: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(super) bool_value: Option<bool>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    pub(super) int_value: Option<i64>,
    #[serde(default, deserialize_with = "de_opt_f64")]
    pub(super) double_value: Option<f64>,
    #[serde(borrow, default)]
    pub(super) array_value: Option<JValues<JAnyValue<'a>>>,
    #[serde(borrow, default)]
    pub(super) kvlist_value: Option<JValues<JKeyValue<'a>>>,
    #[serde(borrow, default)]
    pub(super) bytes_value: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(super) struct JValues<T> {
    #[serde(default = "Vec::new")]
    pub(super) values: Vec<T>,
}

/// A number written as a JSON number or a decimal string (proto3 JSON allows both).
struct NumVisitor<T>(std::marker::PhantomData<T>);

macro_rules! num_visitor {
    ($t:ty, $what:literal) => {
        impl<'de> Visitor<'de> for NumVisitor<$t> {
            type Value = $t;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($what)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<$t, E> {
                <$t>::try_from(v)
                    .map_err(|_| E::custom(format!("{v} is out of range for {}", $what)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<$t, E> {
                <$t>::try_from(v)
                    .map_err(|_| E::custom(format!("{v} is out of range for {}", $what)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<$t, E> {
                v.parse::<$t>()
                    .map_err(|_| E::custom(format!("{v:?} is not {}", $what)))
            }
        }
    };
}
num_visitor!(u64, "an unsigned 64-bit integer");
num_visitor!(u32, "an unsigned 32-bit integer");
num_visitor!(i64, "a signed 64-bit integer");

pub(super) fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(NumVisitor::<u64>(Default::default()))
}
pub(super) fn de_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    d.deserialize_any(NumVisitor::<u32>(Default::default()))
}
fn de_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(NumVisitor::<i64>(Default::default()))
        .map(Some)
}

struct F64Visitor;
impl<'de> Visitor<'de> for F64Visitor {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        match v {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => v
                .parse()
                .map_err(|_| E::custom(format!("{v:?} is not a number"))),
        }
    }
}
fn de_opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    d.deserialize_any(F64Visitor).map(Some)
}

/// An enum as its number or its proto name (the reference decoder's). A number or name out of range becomes
/// [`OUT_OF_RANGE`], which the decoder refuses (strict) or counts and defaults (lenient).
#[cfg(test)]
struct EnumVisitor(&'static [&'static str], &'static str);

/// The value an unknown enum number or name decodes to.
pub(super) const OUT_OF_RANGE: u8 = u8::MAX;

#[cfg(test)]
impl<'de> Visitor<'de> for EnumVisitor {
    type Value = u8;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} number or name", self.1)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u8, E> {
        Ok(if (v as usize) < self.0.len() {
            v as u8
        } else {
            OUT_OF_RANGE
        })
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u8, E> {
        Ok(u64::try_from(v).map_or(OUT_OF_RANGE, |v| {
            self.visit_u64::<E>(v).unwrap_or(OUT_OF_RANGE)
        }))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u8, E> {
        Ok(self
            .0
            .iter()
            .position(|n| *n == v)
            .map_or(OUT_OF_RANGE, |p| p as u8))
    }
}
pub(super) const KIND_NAMES: &[&str] = &[
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];
pub(super) const STATUS_NAMES: &[&str] =
    &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];
#[cfg(test)]
fn de_kind<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    d.deserialize_any(EnumVisitor(KIND_NAMES, "span kind"))
}
#[cfg(test)]
fn de_status<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    d.deserialize_any(EnumVisitor(STATUS_NAMES, "status code"))
}
