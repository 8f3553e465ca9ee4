//! Values kept in their encoded form.
//!
//! A [`Packed`] holds the bytes of one [`Value`] exactly as the log and snapshots store
//! it (the postcard encoding of `Value`, FORMAT.md "Engine payloads"): inside the handle
//! when they fit in 22 bytes (a number, a short string), else in one shared allocation.
//! Records of the KV store, state cells and documents, and event payloads, are kept
//! this way: a put encodes once (the binding writes the bytes straight from Python
//! objects), the log record and the state share the encoding, and a read decodes
//! straight into the caller's objects. Replaying a log or loading a snapshot copies each value's bytes
//! instead of building a tree of allocations.
//!
//! Invariants: the bytes are always one well-formed value (every string valid UTF-8,
//! every bool 0 or 1, every varint in range, nothing after the value), nested at most
//! [`VALUE_DEPTH_MAX`] levels and at most [`VALUE_BYTES_MAX`] bytes long. Only the
//! constructors here make a `Packed`, and each one checks or guarantees this. An object
//! may name a member twice only if a hostile file said so; reading it then behaves as a
//! Python dict built from the members in order would (the later value wins, at the first
//! place), both in [`Packed::to_value`] and in the binding.
//!
//! Encoding summary (the derived postcard encoding of `Value`): one tag byte (0 null,
//! 1 bool, 2 int, 3 float, 4 string, 5 bytes, 6 array, 7 object), then: a bool byte; a
//! zigzag varint; 8 bytes little-endian; a varint length and UTF-8 bytes; a varint
//! length and raw bytes; a varint count and the items; a varint count and
//! (varint-length name, value) pairs.

use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde::ser::{self, SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::limits::{VALUE_BYTES_MAX, VALUE_DEPTH_MAX};
use crate::value::{Object, Tag, Value, VARIANTS};

const NULL: u8 = 0;
const BOOL: u8 = 1;
const INT: u8 = 2;
const FLOAT: u8 = 3;
const STRING: u8 = 4;
const BYTES: u8 = 5;
const ARRAY: u8 = 6;
const OBJECT: u8 = 7;

/// One value in its encoded form (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct Packed(Repr);

/// Most bytes a value may have to be kept inline, inside the `Packed` itself.
const INLINE_MAX: usize = 22;

/// Small values (a number, a short string: most state cells and many KV values) live
/// inside the handle, saving an allocation per version; larger ones are shared.
#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE_MAX] },
    Shared(Arc<[u8]>),
}

impl Packed {
    fn from_bytes(bytes: &[u8]) -> Packed {
        if bytes.len() <= INLINE_MAX {
            let mut inline = [0u8; INLINE_MAX];
            inline[..bytes.len()].copy_from_slice(bytes);
            Packed(Repr::Inline { len: bytes.len() as u8, bytes: inline })
        } else {
            Packed(Repr::Shared(Arc::from(bytes)))
        }
    }

    fn bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Shared(shared) => shared,
        }
    }
}

impl Packed {
    /// Encodes a value. The caller has checked it ([`Value::check`]).
    pub fn from_value(value: &Value) -> Packed {
        let mut writer = PackedWriter::new();
        writer.value(value);
        Packed::from_bytes(&writer.buf)
    }

    /// Checks a value's limits and encodes it; `what` names it in the error.
    pub fn checked(value: &Value, what: &str) -> Result<Packed> {
        value.check(what)?;
        Ok(Packed::from_value(value))
    }

    /// Decodes into a value tree.
    pub fn to_value(&self) -> Value {
        read_value(&mut PackedReader::new(self)).unwrap_or_default()
    }

    /// The encoded bytes (what the log stores for this value).
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes()
    }

    /// A reader positioned at the value.
    pub fn reader(&self) -> PackedReader<'_> {
        PackedReader::new(self)
    }

    /// A reader positioned at `position` (where a reader of this value stood before an
    /// item, [`PackedReader::position`]).
    pub fn reader_at(&self, position: usize) -> PackedReader<'_> {
        PackedReader { bytes: self.bytes(), pos: position }
    }

    /// The value nested in this one that starts at `position` (where a reader of this
    /// value stood before the value's first item), copied out.
    pub fn nested(&self, position: usize) -> Packed {
        if position == 0 {
            return self.clone();
        }
        let mut reader = self.reader_at(position);
        let whole = reader.skip().and_then(|()| self.bytes().get(position..reader.pos));
        Packed::from_bytes(whole.unwrap_or(&[NULL]))
    }
}

/// What a write accepts: a value tree (checked and encoded on the way in) or a value a
/// binding has already packed (checked as it was written).
pub trait IntoPacked {
    /// `what` names the value in a limit error.
    fn into_packed(self, what: &str) -> Result<Packed>;
}

impl IntoPacked for Value {
    fn into_packed(self, what: &str) -> Result<Packed> {
        Packed::checked(&self, what)
    }
}

impl IntoPacked for Packed {
    fn into_packed(self, _what: &str) -> Result<Packed> {
        Ok(self)
    }
}

/// Equal when the values are equal by [`Value`]'s rules (bit-equal floats, member order
/// ignored): the same bytes always are; different bytes are compared decoded.
impl PartialEq for Packed {
    fn eq(&self, other: &Packed) -> bool {
        self.bytes() == other.bytes() || self.to_value() == other.to_value()
    }
}

impl std::fmt::Debug for Packed {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_value().fmt(formatter)
    }
}

// ----- writing -------------------------------------------------------------------------

/// Builds a [`Packed`] item by item, for a binding converting its own objects. The
/// caller writes exactly one value (an array or object announces its count and is
/// followed by that many items, or names and items) and keeps to the depth limit;
/// [`PackedWriter::finish`] checks the size limit.
pub struct PackedWriter {
    buf: Vec<u8>,
    too_large: bool,
}

impl Default for PackedWriter {
    fn default() -> Self {
        PackedWriter::new()
    }
}

impl PackedWriter {
    pub fn new() -> PackedWriter {
        PackedWriter { buf: Vec::with_capacity(128), too_large: false }
    }

    pub fn null(&mut self) {
        self.buf.push(NULL);
    }
    pub fn bool(&mut self, flag: bool) {
        self.buf.extend_from_slice(&[BOOL, u8::from(flag)]);
    }
    pub fn int(&mut self, int: i64) {
        self.buf.push(INT);
        self.varint(((int << 1) ^ (int >> 63)) as u64);
    }
    pub fn float(&mut self, float: f64) {
        self.buf.push(FLOAT);
        self.buf.extend_from_slice(&float.to_le_bytes());
    }
    pub fn str(&mut self, text: &str) {
        self.buf.push(STRING);
        self.blob(text.as_bytes());
    }
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.buf.push(BYTES);
        self.blob(bytes);
    }
    /// Starts an array of `count` items.
    pub fn array(&mut self, count: usize) {
        self.buf.push(ARRAY);
        self.varint(count as u64);
    }
    /// Starts an object of `count` members: then `key`, value, `key`, value, ...
    pub fn object(&mut self, count: usize) {
        self.buf.push(OBJECT);
        self.varint(count as u64);
    }
    /// A member name inside an object.
    pub fn key(&mut self, name: &str) {
        self.blob(name.as_bytes());
    }

    /// Writes a whole value tree.
    pub fn value(&mut self, value: &Value) {
        match value {
            Value::Null => self.null(),
            Value::Bool(flag) => self.bool(*flag),
            Value::Int(int) => self.int(*int),
            Value::Float(float) => self.float(*float),
            Value::String(text) => self.str(text),
            Value::Bytes(bytes) => self.bytes(bytes),
            Value::Array(items) => {
                self.array(items.len());
                items.iter().for_each(|item| self.value(item));
            }
            Value::Object(members) => {
                self.object(members.len());
                for (name, item) in members {
                    self.key(name);
                    self.value(item);
                }
            }
        }
    }

    /// The finished value, or a `ValidationError` naming `what` when it is larger than
    /// [`VALUE_BYTES_MAX`] encoded.
    pub fn finish(self, what: &str) -> Result<Packed> {
        if self.too_large || self.buf.len() > VALUE_BYTES_MAX {
            return Err(Error::validation(format!(
                "{what} is larger than the limit of {VALUE_BYTES_MAX} bytes encoded"
            )));
        }
        Ok(Packed::from_bytes(&self.buf))
    }

    fn blob(&mut self, bytes: &[u8]) {
        self.varint(bytes.len() as u64);
        if self.buf.len() + bytes.len() > VALUE_BYTES_MAX {
            // Remember instead of copying: `finish` refuses the value.
            self.too_large = true;
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }

    fn varint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.buf.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.buf.push(n as u8);
    }
}

// ----- reading -------------------------------------------------------------------------

/// One step of reading a packed value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Item<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
    Bytes(&'a [u8]),
    /// An array of this many items follows.
    Array(usize),
    /// An object of this many members follows: each a [`PackedReader::key`] and a value.
    Object(usize),
}

/// Reads a packed value item by item. On a [`Packed`] every read succeeds; the
/// `Option`s are for bytes that break the format, which only a decoder of untrusted
/// input (the transcoding `Deserialize` below) can meet.
pub struct PackedReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> PackedReader<'a> {
    pub fn new(packed: &'a Packed) -> PackedReader<'a> {
        PackedReader { bytes: packed.bytes(), pos: 0 }
    }

    /// How far into the value the reader is.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next item.
    pub fn item(&mut self) -> Option<Item<'a>> {
        let tag = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(match tag {
            NULL => Item::Null,
            BOOL => Item::Bool(match self.byte()? {
                0 => false,
                1 => true,
                _ => return None,
            }),
            INT => {
                let n = self.varint()?;
                Item::Int(((n >> 1) as i64) ^ -((n & 1) as i64))
            }
            FLOAT => {
                let raw = self.take(8)?;
                Item::Float(f64::from_le_bytes(raw.try_into().ok()?))
            }
            STRING => Item::Str(self.key()?),
            BYTES => {
                let len = self.length()?;
                Item::Bytes(self.take(len)?)
            }
            ARRAY => Item::Array(self.length()?),
            OBJECT => Item::Object(self.length()?),
            _ => return None,
        })
    }

    /// A member name (inside an object, before each member's value).
    pub fn key(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.key_bytes()?).ok()
    }

    /// A member name as bytes: for comparing names, which needs no UTF-8 check.
    pub fn key_bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.length()?;
        self.take(len)
    }

    /// Passes over one whole value. Text is not checked for UTF-8 on the way: nothing
    /// of it is returned.
    pub fn skip(&mut self) -> Option<()> {
        if self.bytes.get(self.pos) == Some(&STRING) {
            self.pos += 1;
            return self.key_bytes().map(|_| ());
        }
        match self.item()? {
            Item::Array(count) => (0..count).try_for_each(|_| self.skip()),
            Item::Object(count) => (0..count).try_for_each(|_| {
                self.key_bytes()?;
                self.skip()
            }),
            _ => Some(()),
        }
    }

    fn byte(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(len)?;
        let slice = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    /// A count or length: never more than the bytes left could hold (each item takes at
    /// least one byte), so no caller reserves memory the input does not justify.
    fn length(&mut self) -> Option<usize> {
        let n = usize::try_from(self.varint()?).ok()?;
        (n <= self.bytes.len() - self.pos).then_some(n)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            // The tenth byte may carry only the top bit of a u64.
            if shift == 63 && byte > 1 {
                return None;
            }
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }
}

fn read_value(reader: &mut PackedReader<'_>) -> Option<Value> {
    Some(match reader.item()? {
        Item::Null => Value::Null,
        Item::Bool(flag) => Value::Bool(flag),
        Item::Int(int) => Value::Int(int),
        Item::Float(float) => Value::Float(float),
        Item::Str(text) => Value::String(text.to_owned()),
        Item::Bytes(bytes) => Value::Bytes(bytes.to_vec()),
        Item::Array(count) => Value::Array((0..count).map(|_| read_value(reader)).collect::<Option<_>>()?),
        Item::Object(count) => {
            let mut members = Object::with_capacity(count);
            for _ in 0..count {
                let name = reader.key()?.to_owned();
                members.insert(name, read_value(reader)?);
            }
            Value::Object(members)
        }
    })
}

// ----- serde: the same bytes as `Value`'s own encoding ---------------------------------

// Serializing emits the bytes as they are, as a tuple of `u8`: postcard writes a tuple
// with no length and each `u8` as one byte, so a record holding a `Packed` encodes byte
// for byte as one holding the `Value` (the log format does not change) without a walk
// over the value. That holds for postcard, the only format the engine stores with; a
// human-readable format gets an error rather than a wrong encoding.

impl Serialize for Packed {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            return Err(ser::Error::custom("a packed value serializes only to postcard"));
        }
        let bytes = self.bytes();
        let mut tuple = serializer.serialize_tuple(bytes.len())?;
        bytes.iter().try_for_each(|byte| tuple.serialize_element(byte))?;
        tuple.end()
    }
}

// Decoding transcodes: it reads `Value`'s encoding from any serde format and writes the
// packed bytes, with the depth limit applied while decoding (a hostile file claiming a
// value nested a million levels gets an error, never a stack overflow) and the size
// limit at the end. Counts come from the format's size hint, which postcard gives.

impl<'de> Deserialize<'de> for Packed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Packed, D::Error> {
        let mut writer = PackedWriter::new();
        PackSeed { writer: &mut writer, depth: 0 }.deserialize(deserializer)?;
        writer.finish("a stored value").map_err(|error| de::Error::custom(error.message()))
    }
}


struct PackSeed<'w> {
    writer: &'w mut PackedWriter,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for PackSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> std::result::Result<(), D::Error> {
        if self.depth > VALUE_DEPTH_MAX {
            return Err(de::Error::custom(format!("a value is nested more than {VALUE_DEPTH_MAX} levels deep")));
        }
        deserializer.deserialize_enum("Value", VARIANTS, self)
    }
}

impl<'de> Visitor<'de> for PackSeed<'_> {
    type Value = ();
    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a stored value")
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> std::result::Result<(), A::Error> {
        let (tag, variant) = data.variant::<Tag>()?;
        let writer = self.writer;
        let depth = self.depth + 1;
        match tag {
            Tag::Null => {
                variant.unit_variant()?;
                writer.null();
            }
            Tag::Bool => writer.bool(variant.newtype_variant()?),
            Tag::Int => writer.int(variant.newtype_variant()?),
            Tag::Float => writer.float(variant.newtype_variant()?),
            Tag::String => {
                writer.buf.push(STRING);
                variant.newtype_variant_seed(StrSeed(writer))?;
            }
            Tag::Bytes => writer.bytes(&variant.newtype_variant::<Vec<u8>>()?),
            Tag::Array => variant.newtype_variant_seed(ItemsSeed { writer, depth })?,
            Tag::Object => variant.newtype_variant_seed(MembersSeed { writer, depth })?,
        }
        Ok(())
    }
}

/// A string (a value's or a member name), written as length and bytes.
struct StrSeed<'w>(&'w mut PackedWriter);

impl<'de> DeserializeSeed<'de> for StrSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> std::result::Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for StrSeed<'_> {
    type Value = ();
    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, text: &str) -> std::result::Result<(), E> {
        self.0.key(text);
        Ok(())
    }
}

fn counted<E: de::Error>(hint: Option<usize>) -> std::result::Result<usize, E> {
    hint.ok_or_else(|| E::custom("a packed value needs the length of each array and object up front"))
}

struct ItemsSeed<'w> {
    writer: &'w mut PackedWriter,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> std::result::Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = ();
    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("an array of values")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        let count = counted(seq.size_hint())?;
        self.writer.array(count);
        for _ in 0..count {
            let seed = PackSeed { writer: &mut *self.writer, depth: self.depth };
            seq.next_element_seed(seed)?.ok_or_else(|| de::Error::custom("an array ended early"))?;
        }
        Ok(())
    }
}

struct MembersSeed<'w> {
    writer: &'w mut PackedWriter,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for MembersSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> std::result::Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MembersSeed<'_> {
    type Value = ();
    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("an object of values")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let count = counted(map.size_hint())?;
        self.writer.object(count);
        for _ in 0..count {
            map.next_key_seed(StrSeed(&mut *self.writer))?.ok_or_else(|| de::Error::custom("an object ended early"))?;
            map.next_value_seed(PackSeed { writer: &mut *self.writer, depth: self.depth })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        let mut object = Object::new();
        object.insert("b".into(), Value::Bytes(vec![0, 255]));
        object.insert(
            "a".into(),
            Value::Array(vec![Value::Null, Value::Bool(true), Value::Int(-3), Value::Int(i64::MIN), Value::Float(f64::NAN)]),
        );
        object.insert("s".into(), Value::String("é".repeat(300)));
        object.insert("o".into(), Value::Object(Object::new()));
        Value::Object(object)
    }

    #[test]
    fn packed_bytes_are_the_values_own_encoding_both_ways() {
        let value = sample();
        let packed = Packed::from_value(&value);
        let encoded = postcard::to_allocvec(&value).unwrap();
        assert_eq!(packed.as_bytes(), &encoded[..]);
        assert_eq!(postcard::to_allocvec(&packed).unwrap(), encoded);
        let back: Packed = postcard::from_bytes(&encoded).unwrap();
        assert_eq!(back.as_bytes(), packed.as_bytes());
        assert_eq!(back.to_value(), value);
    }

    #[test]
    fn small_values_live_inline_and_every_size_round_trips() {
        // A chain node (two counts, version, timestamp, value, link) stays 64 bytes.
        assert_eq!(std::mem::size_of::<Option<Packed>>(), 24);
        for len in [0, 19, 20, 21, 40] {
            let value = Value::String("x".repeat(len));
            let packed = Packed::from_value(&value);
            assert_eq!(matches!(packed.0, Repr::Inline { .. }), packed.as_bytes().len() <= INLINE_MAX, "{len}");
            assert_eq!(packed.as_bytes(), &postcard::to_allocvec(&value).unwrap()[..]);
            let back: Packed = postcard::from_bytes(packed.as_bytes()).unwrap();
            assert_eq!((back.as_bytes(), back.to_value()), (packed.as_bytes(), value));
        }
    }

    #[test]
    fn decoding_refuses_excess_nesting_and_broken_bytes() {
        let mut deep = [ARRAY, 1].repeat(1_000_000);
        deep.push(NULL);
        assert!(postcard::from_bytes::<Packed>(&deep).is_err());
        let mut at_limit = [ARRAY, 1].repeat(VALUE_DEPTH_MAX);
        at_limit.push(NULL);
        assert!(postcard::from_bytes::<Packed>(&at_limit).is_ok());
        // A bool that is neither 0 nor 1, a string that is not UTF-8, an unknown tag, a
        // count larger than the input.
        for bad in [&[BOOL, 2][..], &[STRING, 1, 0xff], &[9], &[ARRAY, 100, NULL]] {
            assert!(postcard::from_bytes::<Packed>(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn equality_follows_value_rules() {
        let mut ab = Object::new();
        ab.insert("a".into(), Value::Int(1));
        ab.insert("b".into(), Value::Int(2));
        let mut ba = Object::new();
        ba.insert("b".into(), Value::Int(2));
        ba.insert("a".into(), Value::Int(1));
        assert_eq!(Packed::from_value(&Value::Object(ab)), Packed::from_value(&Value::Object(ba)));
        assert_ne!(Packed::from_value(&Value::Int(1)), Packed::from_value(&Value::Float(1.0)));
        assert_eq!(Packed::from_value(&Value::Float(f64::NAN)), Packed::from_value(&Value::Float(f64::NAN)));
    }

    #[test]
    fn a_repeated_member_name_reads_as_a_python_dict_would() {
        let mut writer = PackedWriter::new();
        writer.object(3);
        writer.key("x");
        writer.int(1);
        writer.key("y");
        writer.int(2);
        writer.key("x");
        writer.int(3);
        let value = writer.finish("value").unwrap().to_value();
        let Value::Object(members) = value else { panic!("not an object") };
        let pairs: Vec<_> = members.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        assert_eq!(pairs, [("x", Value::Int(3)), ("y", Value::Int(2))]);
    }

    #[test]
    fn the_writer_refuses_values_over_the_size_limit() {
        let mut writer = PackedWriter::new();
        writer.bytes(&vec![0u8; VALUE_BYTES_MAX + 1]);
        let error = writer.finish("value").unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Validation);
    }

    #[test]
    fn skip_passes_over_whole_values() {
        let packed = Packed::from_value(&Value::Array(vec![sample(), Value::Int(7)]));
        let mut reader = packed.reader();
        assert_eq!(reader.item(), Some(Item::Array(2)));
        reader.skip().unwrap();
        assert_eq!(reader.item(), Some(Item::Int(7)));
        assert_eq!(reader.item(), None);
    }
}
