//! The value model: what a stored value can be.
//!
//! Invariants: an `Object` keeps its keys in insertion order; nesting is never deeper
//! than `limits::VALUE_DEPTH_MAX` (checked by [`Value::check`] at every entry point);
//! floats may be NaN or infinite and compare equal bit for bit, so that a diff or merge
//! never sees a value as changed merely because it holds a NaN. Objects compare equal
//! regardless of member order, as Python dicts do.

use indexmap::IndexMap;
use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::limits::{VALUE_BYTES_MAX, VALUE_DEPTH_MAX};

/// An ordered map from member name to value, as stored in an object.
pub type Object = IndexMap<String, Value>;

/// A stored value.
#[derive(Debug, Clone, Default, Serialize)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    Object(Object),
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            // Like Python dicts: member order does not affect equality.
            (Value::Object(a), Value::Object(b)) => a == b,
            _ => false,
        }
    }
}

impl Value {
    /// The name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::String(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "list",
            Value::Object(_) => "dict",
        }
    }

    /// Checks the depth and size limits. `what` names the value in the message.
    pub fn check(&self, what: &str) -> Result<()> {
        let mut bytes = 0usize;
        self.check_at(what, 0, &mut bytes)
    }

    fn check_at(&self, what: &str, depth: usize, bytes: &mut usize) -> Result<()> {
        if depth > VALUE_DEPTH_MAX {
            return Err(Error::validation(format!(
                "{what} is nested more than {VALUE_DEPTH_MAX} levels deep"
            )));
        }
        *bytes += match self {
            Value::String(s) => s.len(),
            Value::Bytes(b) => b.len(),
            _ => 8,
        };
        if *bytes > VALUE_BYTES_MAX {
            return Err(Error::validation(format!(
                "{what} is larger than the limit of {VALUE_BYTES_MAX} bytes"
            )));
        }
        match self {
            Value::Array(items) => {
                for item in items {
                    item.check_at(what, depth + 1, bytes)?;
                }
            }
            Value::Object(members) => {
                for (name, item) in members {
                    *bytes += name.len();
                    item.check_at(what, depth + 1, bytes)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Approximate heap footprint plus inline size, used for `info()` and stats.
    pub fn approximate_size(&self) -> usize {
        std::mem::size_of::<Value>()
            + match self {
                Value::String(s) => s.len(),
                Value::Bytes(b) => b.len(),
                Value::Array(items) => items.iter().map(Value::approximate_size).sum(),
                Value::Object(members) => {
                    members.iter().map(|(k, v)| k.len() + v.approximate_size()).sum()
                }
                _ => 0,
            }
    }

    /// Orders two values for metadata filters: numbers against numbers, strings against
    /// strings. Returns `None` when the two are not comparable.
    pub fn compare(&self, other: &Value) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
            (Value::Int(a), Value::Float(b)) => (*a as f64).partial_cmp(b),
            (Value::Float(a), Value::Int(b)) => a.partial_cmp(&(*b as f64)),
            (Value::Float(a), Value::Float(b)) => a.partial_cmp(b),
            (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// Equality for filters: like `==`, but `1 == 1.0`.
    pub fn loosely_equals(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Int(_), Value::Float(_)) | (Value::Float(_), Value::Int(_)) => {
                self.compare(other) == Some(std::cmp::Ordering::Equal)
            }
            _ => self == other,
        }
    }
}

// Decoding is written by hand (the encoding is the derived one) so that nesting is
// bounded while decoding: a hostile file claiming a value nested a million levels deep
// gets an error, never a stack overflow.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Value, D::Error> {
        ValueSeed { depth: 0 }.deserialize(deserializer)
    }
}

/// The variant names, in the derived encoding's order (also read by `packed`).
pub(crate) const VARIANTS: &[&str] = &["Null", "Bool", "Int", "Float", "String", "Bytes", "Array", "Object"];

/// A value's variant, as decoded from its tag (also by `packed`).
#[derive(Deserialize)]
pub(crate) enum Tag {
    Null,
    Bool,
    Int,
    Float,
    String,
    Bytes,
    Array,
    Object,
}

/// Most elements reserved ahead of a decoded array or object (a length field never
/// turns into a large allocation by itself).
const PREALLOCATE_MAX: usize = 1024;

#[derive(Clone, Copy)]
struct ValueSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> std::result::Result<Value, D::Error> {
        if self.depth > VALUE_DEPTH_MAX {
            return Err(de::Error::custom(format!("a value is nested more than {VALUE_DEPTH_MAX} levels deep")));
        }
        deserializer.deserialize_enum("Value", VARIANTS, self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value;
    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a stored value")
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> std::result::Result<Value, A::Error> {
        let (tag, variant) = data.variant::<Tag>()?;
        let inner = ValueSeed { depth: self.depth + 1 };
        Ok(match tag {
            Tag::Null => {
                variant.unit_variant()?;
                Value::Null
            }
            Tag::Bool => Value::Bool(variant.newtype_variant()?),
            Tag::Int => Value::Int(variant.newtype_variant()?),
            Tag::Float => Value::Float(variant.newtype_variant()?),
            Tag::String => Value::String(variant.newtype_variant()?),
            Tag::Bytes => Value::Bytes(variant.newtype_variant()?),
            Tag::Array => Value::Array(variant.newtype_variant_seed(ArraySeed(inner))?),
            Tag::Object => Value::Object(variant.newtype_variant_seed(ObjectSeed(inner))?),
        })
    }
}

struct ArraySeed(ValueSeed);

impl<'de> DeserializeSeed<'de> for ArraySeed {
    type Value = Vec<Value>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> std::result::Result<Vec<Value>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ArraySeed {
    type Value = Vec<Value>;
    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("an array of values")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Vec<Value>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(PREALLOCATE_MAX));
        while let Some(item) = seq.next_element_seed(self.0)? {
            items.push(item);
        }
        Ok(items)
    }
}

struct ObjectSeed(ValueSeed);

impl<'de> DeserializeSeed<'de> for ObjectSeed {
    type Value = Object;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> std::result::Result<Object, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed {
    type Value = Object;
    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("an object of values")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Object, A::Error> {
        let mut members = Object::with_capacity(map.size_hint().unwrap_or(0).min(PREALLOCATE_MAX));
        while let Some(name) = map.next_key::<String>()? {
            let item = map.next_value_seed(self.0)?;
            members.insert(name, item);
        }
        Ok(members)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> Value {
        let mut v = Value::Int(1);
        for _ in 0..depth {
            v = Value::Array(vec![v]);
        }
        v
    }

    #[test]
    fn value_decoding_round_trips_every_type_and_refuses_excess_nesting() {
        let mut object = Object::new();
        object.insert("b".into(), Value::Bytes(vec![0, 255]));
        object.insert("a".into(), Value::Array(vec![Value::Null, Value::Bool(true), Value::Int(-3), Value::Float(f64::NAN)]));
        object.insert("s".into(), Value::String("é".into()));
        let value = Value::Object(object);
        let bytes = postcard::to_allocvec(&value).unwrap();
        let back: Value = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, value);
        let keys: Vec<&String> = match &back {
            Value::Object(members) => members.keys().collect(),
            _ => unreachable!(),
        };
        assert_eq!(keys, ["b", "a", "s"]);
        let at_limit = postcard::to_allocvec(&nested(VALUE_DEPTH_MAX)).unwrap();
        assert!(postcard::from_bytes::<Value>(&at_limit).is_ok());
        // Far deeper than any stack could take recursively: refused, not a crash.
        let mut deep = [6u8, 1].repeat(1_000_000);
        deep.push(0);
        assert!(postcard::from_bytes::<Value>(&deep).is_err());
        let beyond = postcard::to_allocvec(&nested(VALUE_DEPTH_MAX + 1)).unwrap();
        assert!(postcard::from_bytes::<Value>(&beyond).is_err());
    }

    #[test]
    fn value_check_accepts_depth_at_limit_and_rejects_beyond() {
        assert!(nested(VALUE_DEPTH_MAX).check("value").is_ok());
        let err = nested(VALUE_DEPTH_MAX + 1).check("value").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Validation);
        assert!(err.message().contains("128"), "{}", err.message());
    }

    #[test]
    fn value_equality_treats_nan_as_equal_to_itself() {
        assert_eq!(Value::Float(f64::NAN), Value::Float(f64::NAN));
        assert_ne!(Value::Float(0.0), Value::Float(-0.0));
        assert_ne!(Value::Int(1), Value::Float(1.0));
        assert!(Value::Int(1).loosely_equals(&Value::Float(1.0)));
    }

    #[test]
    fn value_object_equality_ignores_member_order_like_python_dicts() {
        let mut a = Object::new();
        a.insert("x".into(), Value::Int(1));
        a.insert("y".into(), Value::Int(2));
        let mut b = Object::new();
        b.insert("y".into(), Value::Int(2));
        b.insert("x".into(), Value::Int(1));
        assert_eq!(Value::Object(a.clone()), Value::Object(b));
        let mut c = a.clone();
        c.insert("z".into(), Value::Null);
        assert_ne!(Value::Object(a), Value::Object(c));
    }
}
