//! Typed attribute values and attribute lists.
//!
//! Keys are always references into the block's string dictionary. String values are either
//! dictionary references (keys with few distinct values) or inline (high-cardinality keys),
//! as the writer's `StringPolicy` decides.

use super::buf::{DecodeError, DecodeResult, Decoder, Encoder};
use crate::model::{KeyValue, Value};

/// Value tags. Never reuse a number: they are part of the on-disk format.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueTag {
    Empty = 0,
    StrRef = 1,
    StrInline = 2,
    Int = 3,
    Double = 4,
    False = 5,
    True = 6,
    Bytes = 7,
    Array = 8,
    KvList = 9,
}

impl TryFrom<u8> for ValueTag {
    type Error = DecodeError;
    fn try_from(v: u8) -> DecodeResult<Self> {
        Ok(match v {
            0 => Self::Empty,
            1 => Self::StrRef,
            2 => Self::StrInline,
            3 => Self::Int,
            4 => Self::Double,
            5 => Self::False,
            6 => Self::True,
            7 => Self::Bytes,
            8 => Self::Array,
            9 => Self::KvList,
            _ => return Err(DecodeError::new(format!("unknown value tag {v}"))),
        })
    }
}

/// How the writer stores strings: keys always in the dictionary, values by key cardinality.
/// Calls `f` on every string of `attrs` in a fixed order: each key, then the strings of its
/// value (array items and nested lists, depth first). The block writer and the log record
/// encoder build their dictionaries with it.
pub fn for_each_string<'a>(attrs: &'a [KeyValue], f: &mut impl FnMut(&'a str)) {
    for kv in attrs {
        f(&kv.key);
        for_each_value_string(&kv.value, f);
    }
}

pub fn for_each_value_string<'a>(v: &'a Value, f: &mut impl FnMut(&'a str)) {
    match v {
        Value::Str(s) => f(s),
        Value::Array(items) => items.iter().for_each(|i| for_each_value_string(i, f)),
        Value::KvList(kvs) => for_each_string(kvs, f),
        _ => {}
    }
}

pub trait StringPolicy {
    /// The dictionary id of an attribute key (or any always-interned string).
    fn intern(&mut self, s: &str) -> u32;
    /// The dictionary id for a string value of `key`, or `None` to store it inline.
    fn value_ref(&mut self, key: &str, s: &str) -> Option<u32>;
}

pub fn put_value(enc: &mut Encoder, key: &str, v: &Value, strings: &mut impl StringPolicy) {
    match v {
        Value::Empty => enc.put_u8(ValueTag::Empty as u8),
        Value::Str(s) => match strings.value_ref(key, s) {
            Some(id) => {
                enc.put_u8(ValueTag::StrRef as u8);
                enc.put_varint(u64::from(id));
            }
            None => {
                enc.put_u8(ValueTag::StrInline as u8);
                enc.put_str(s);
            }
        },
        Value::Int(i) => {
            enc.put_u8(ValueTag::Int as u8);
            enc.put_zigzag(*i);
        }
        Value::Double(d) => {
            enc.put_u8(ValueTag::Double as u8);
            enc.put_f64(*d);
        }
        Value::Bool(b) => enc.put_u8(if *b { ValueTag::True } else { ValueTag::False } as u8),
        Value::Bytes(b) => {
            enc.put_u8(ValueTag::Bytes as u8);
            enc.put_bytes(b);
        }
        Value::Array(items) => {
            enc.put_u8(ValueTag::Array as u8);
            enc.put_varint(items.len() as u64);
            for item in items {
                put_value(enc, key, item, strings);
            }
        }
        Value::KvList(kvs) => {
            enc.put_u8(ValueTag::KvList as u8);
            put_attrs(enc, kvs, strings);
        }
    }
}

pub fn put_attrs(enc: &mut Encoder, attrs: &[KeyValue], strings: &mut impl StringPolicy) {
    enc.put_varint(attrs.len() as u64);
    for kv in attrs {
        enc.put_varint(u64::from(strings.intern(&kv.key)));
        put_value(enc, &kv.key, &kv.value, strings);
    }
}

/// Looks up a dictionary string, as an error when the id is out of range.
pub fn dict_str(dict: &[String], id: u64) -> DecodeResult<&str> {
    usize::try_from(id)
        .ok()
        .and_then(|i| dict.get(i))
        .map(String::as_str)
        .ok_or_else(|| {
            DecodeError::new(format!(
                "string id {id} outside a dictionary of {}",
                dict.len()
            ))
        })
}

/// Nesting limit for arrays/kvlists, so corrupt bytes cannot overflow the stack.
const MAX_DEPTH: u32 = 32;

pub fn get_value(dec: &mut Decoder<'_>, dict: &[String]) -> DecodeResult<Value> {
    get_value_at(dec, dict, 0)
}

fn get_value_at(dec: &mut Decoder<'_>, dict: &[String], depth: u32) -> DecodeResult<Value> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::new("attribute values nested too deeply"));
    }
    Ok(match ValueTag::try_from(dec.get_u8()?)? {
        ValueTag::Empty => Value::Empty,
        ValueTag::StrRef => Value::Str(dict_str(dict, dec.get_varint()?)?.to_owned()),
        ValueTag::StrInline => Value::Str(dec.get_str()?.to_owned()),
        ValueTag::Int => Value::Int(dec.get_zigzag()?),
        ValueTag::Double => Value::Double(dec.get_f64()?),
        ValueTag::False => Value::Bool(false),
        ValueTag::True => Value::Bool(true),
        ValueTag::Bytes => Value::Bytes(dec.get_bytes()?.to_vec()),
        ValueTag::Array => {
            let n = dec.get_count()?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(get_value_at(dec, dict, depth + 1)?);
            }
            Value::Array(items)
        }
        ValueTag::KvList => Value::KvList(get_attrs_at(dec, dict, depth + 1)?),
    })
}

pub fn get_attrs(dec: &mut Decoder<'_>, dict: &[String]) -> DecodeResult<Vec<KeyValue>> {
    get_attrs_at(dec, dict, 0)
}

fn get_attrs_at(dec: &mut Decoder<'_>, dict: &[String], depth: u32) -> DecodeResult<Vec<KeyValue>> {
    let n = dec.get_count()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let key = dict_str(dict, dec.get_varint()?)?.to_owned();
        let value = get_value_at(dec, dict, depth)?;
        out.push(KeyValue { key, value });
    }
    Ok(out)
}

/// A borrowed scalar attribute value: what a query compares without building a [`Value`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScalarRef<'a> {
    Str(&'a str),
    Int(i64),
    Double(f64),
    Bool(bool),
    /// Empty, bytes, arrays and maps: never compared.
    Other,
}

/// Reads one value without allocating: scalars borrowed (dictionary strings from `dict`),
/// anything else skipped and reported as [`ScalarRef::Other`].
pub fn get_scalar_ref<'a>(
    dec: &mut Decoder<'a>,
    dict: &'a [String],
) -> DecodeResult<ScalarRef<'a>> {
    let tag = ValueTag::try_from(dec.get_u8()?)?;
    Ok(match tag {
        ValueTag::StrRef => ScalarRef::Str(dict_str(dict, dec.get_varint()?)?),
        ValueTag::StrInline => ScalarRef::Str(dec.get_str()?),
        ValueTag::Int => ScalarRef::Int(dec.get_zigzag()?),
        ValueTag::Double => ScalarRef::Double(dec.get_f64()?),
        ValueTag::False => ScalarRef::Bool(false),
        ValueTag::True => ScalarRef::Bool(true),
        ValueTag::Empty | ValueTag::Bytes | ValueTag::Array | ValueTag::KvList => {
            skip_body(dec, tag, 0)?;
            ScalarRef::Other
        }
    })
}

/// Skips one encoded value without allocating (trace lookups skip rows they do not return).
pub fn skip_value(dec: &mut Decoder<'_>) -> DecodeResult<()> {
    skip_value_at(dec, 0)
}

fn skip_value_at(dec: &mut Decoder<'_>, depth: u32) -> DecodeResult<()> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::new("attribute values nested too deeply"));
    }
    let tag = ValueTag::try_from(dec.get_u8()?)?;
    skip_body(dec, tag, depth)
}

/// Skips the payload of a value whose tag was just read.
fn skip_body(dec: &mut Decoder<'_>, tag: ValueTag, depth: u32) -> DecodeResult<()> {
    match tag {
        ValueTag::Empty | ValueTag::False | ValueTag::True => {}
        ValueTag::StrRef | ValueTag::Int => {
            dec.get_varint()?;
        }
        ValueTag::StrInline | ValueTag::Bytes => {
            dec.get_bytes()?;
        }
        ValueTag::Double => {
            dec.get_raw(8)?;
        }
        ValueTag::Array => {
            for _ in 0..dec.get_count()? {
                skip_value_at(dec, depth + 1)?;
            }
        }
        ValueTag::KvList => skip_attrs_at(dec, depth + 1)?,
    }
    Ok(())
}

pub fn skip_attrs(dec: &mut Decoder<'_>) -> DecodeResult<()> {
    skip_attrs_at(dec, 0)
}

fn skip_attrs_at(dec: &mut Decoder<'_>, depth: u32) -> DecodeResult<()> {
    for _ in 0..dec.get_count()? {
        dec.get_varint()?;
        skip_value_at(dec, depth)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct AllInterned(HashMap<String, u32>, Vec<String>);
    impl StringPolicy for AllInterned {
        fn intern(&mut self, s: &str) -> u32 {
            if let Some(id) = self.0.get(s) {
                return *id;
            }
            self.1.push(s.to_owned());
            self.0.insert(s.to_owned(), self.1.len() as u32 - 1);
            self.1.len() as u32 - 1
        }
        fn value_ref(&mut self, key: &str, s: &str) -> Option<u32> {
            (key != "inline").then(|| self.intern(s))
        }
    }

    #[test]
    fn attributes_round_trip_and_skip() {
        let attrs = vec![
            KeyValue::new("a", Value::Str("x".into())),
            KeyValue::new("inline", Value::Str("y".into())),
            KeyValue::new(
                "n",
                Value::Array(vec![Value::Int(-3), Value::Double(1.5), Value::Bool(true)]),
            ),
            KeyValue::new(
                "kv",
                Value::KvList(vec![KeyValue::new("b", Value::Bytes(vec![1, 2]))]),
            ),
            KeyValue::new("e", Value::Empty),
        ];
        let mut policy = AllInterned(HashMap::new(), Vec::new());
        let mut enc = Encoder::new();
        put_attrs(&mut enc, &attrs, &mut policy);
        enc.put_u8(0xEE);
        let bytes = enc.finish();
        let mut dec = Decoder::new(&bytes);
        assert_eq!(get_attrs(&mut dec, &policy.1).unwrap(), attrs);
        let mut dec = Decoder::new(&bytes);
        skip_attrs(&mut dec).unwrap();
        assert_eq!(dec.get_u8().unwrap(), 0xEE);
    }
}
