//! The value model: what a stored value can be.
//!
//! Invariants: an `Object` keeps its keys in insertion order; nesting is never deeper
//! than `limits::VALUE_DEPTH_MAX` (checked by [`Value::check`] at every entry point);
//! floats may be NaN or infinite and compare equal bit for bit, so that a diff or merge
//! never sees a value as changed merely because it holds a NaN. Objects compare equal
//! regardless of member order, as Python dicts do.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::limits::{VALUE_BYTES_MAX, VALUE_DEPTH_MAX};

/// An ordered map from member name to value, as stored in an object.
pub type Object = IndexMap<String, Value>;

/// A stored value.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
