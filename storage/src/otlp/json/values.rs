//! serde's borrowed OTLP JSON values into owned model values (the logs decoder's; the span
//! decoder has its own, in `decode`).

use base64::Engine;

use super::schema::{JAnyValue, JKeyValue};
use crate::model::{KeyValue, Value};
use std::fmt::Display;

fn bad(path: &dyn Display, what: String) -> String {
    format!("{path}: {what}")
}

pub(super) fn conv_attrs(
    attrs: Vec<JKeyValue<'_>>,
    path: &dyn Display,
) -> Result<Vec<KeyValue>, String> {
    attrs
        .into_iter()
        .map(|kv| {
            let value = match kv.value {
                Some(v) => conv_value(v, path)?,
                None => Value::Empty,
            };
            Ok(KeyValue {
                key: kv.key.into_owned(),
                value,
            })
        })
        .collect()
}

pub(super) fn conv_value(v: JAnyValue<'_>, path: &dyn Display) -> Result<Value, String> {
    Ok(if let Some(s) = v.string_value {
        Value::Str(s.into_owned())
    } else if let Some(i) = v.int_value {
        Value::Int(i)
    } else if let Some(b) = v.bool_value {
        Value::Bool(b)
    } else if let Some(d) = v.double_value {
        Value::Double(d)
    } else if let Some(a) = v.array_value {
        Value::Array(
            a.values
                .into_iter()
                .map(|v| conv_value(v, path))
                .collect::<Result<_, _>>()?,
        )
    } else if let Some(kv) = v.kvlist_value {
        Value::KvList(conv_attrs(kv.values, path)?)
    } else if let Some(b) = v.bytes_value {
        Value::Bytes(
            base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .map_err(|e| bad(path, format!("bytesValue is not base64: {e}")))?,
        )
    } else {
        Value::Empty
    })
}
