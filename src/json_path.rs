//! JSON paths: parsing, canonical printing, and get / set / delete inside a document.
//!
//! Grammar (a strict subset of JSONPath that names exactly one location):
//!
//! ```text
//! path     = "$" segment*  |  name segment*        ; "a.b" is short for "$.a.b"
//! segment  = "." name  |  "[" quoted "]"  |  "[" index "]"
//! name     = one or more characters other than . [ ] ' " * and whitespace
//! quoted   = "'" ... "'"  |  '"' ... '"'           ; escapes: \' \" \\ only
//! index    = "-"? digits                          ; no leading zeros, no "-0", fits i64
//! ```
//!
//! Invariants:
//! - Parsing is one left-to-right pass with no recursion, over at most
//!   [`JSON_PATH_BYTES_MAX`] bytes, so no input can make it panic, loop or allocate
//!   without bound. Whitespace anywhere outside a quoted name is rejected.
//! - [`JsonPath`]'s `Display` is canonical and round-trips:
//!   `JsonPath::parse(&path.to_string()) == Ok(path)` for every path, including paths
//!   built with [`JsonPath::from_segments`] from arbitrary names and indexes.
//! - Every parse error is `Error::validation`, quotes the path and names the offending
//!   character by its offset counted in characters (as Python indexes a `str`), with a
//!   caret line under it when the path has no control characters to misalign it.
//! - [`set_in_place`] (and so [`set`]) leaves the document untouched when it fails: every
//!   check happens before the first change.
//! - Arrays are never created implicitly: an index segment needs an existing array.
//!   Missing intermediate objects are created.
//! - The walkers ([`get`], [`set`], [`delete`]) are loops, not recursion. A `set` may make
//!   the document deeper or larger, so the caller re-checks it with `Value::check`.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::limits::JSON_PATH_BYTES_MAX;
use crate::packed::{Item, Packed};
use crate::value::{Object, Value};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// An object member, by name.
    Member(String),
    /// An array element. Negative indexes count from the end: -1 is the last element.
    Index(i64),
}

/// A parsed JSON path: a sequence of segments from the document root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct JsonPath {
    segments: Vec<Segment>,
}

impl JsonPath {
    /// Parses a path such as `$`, `$.a.b`, `$['a b'][2]`, `$.a[-1]` or `a.b`.
    pub fn parse(text: &str) -> Result<JsonPath> {
        Parser::new(text)?.parse()
    }

    /// The path of the whole document, `$`.
    pub fn root() -> JsonPath {
        JsonPath {
            segments: Vec::new(),
        }
    }

    /// Builds a path from segments. Every sequence of segments is a valid path.
    pub fn from_segments(segments: Vec<Segment>) -> JsonPath {
        JsonPath { segments }
    }

    /// Whether this is `$`, the whole document.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// The segments, from the root down.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_segments(formatter, &self.segments)
    }
}

impl FromStr for JsonPath {
    type Err = Error;

    fn from_str(text: &str) -> Result<JsonPath> {
        JsonPath::parse(text)
    }
}

/// Writes the canonical form of a path made of `segments`.
fn write_segments(out: &mut impl fmt::Write, segments: &[Segment]) -> fmt::Result {
    out.write_char('$')?;
    for segment in segments {
        match segment {
            Segment::Member(name) if is_plain_name(name) => {
                out.write_char('.')?;
                out.write_str(name)?;
            }
            Segment::Member(name) => {
                out.write_str("['")?;
                for character in name.chars() {
                    if character == '\'' || character == '\\' {
                        out.write_char('\\')?;
                    }
                    out.write_char(character)?;
                }
                out.write_str("']")?;
            }
            Segment::Index(index) => write!(out, "[{index}]")?,
        }
    }
    Ok(())
}

/// The canonical text of the path made of the first segments, for error messages.
fn display_prefix(segments: &[Segment]) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = write_segments(&mut text, segments);
    text
}

/// Whether `character` may appear in a name written after a dot.
fn is_name_character(character: char) -> bool {
    !matches!(character, '.' | '[' | ']' | '\'' | '"' | '*') && !character.is_whitespace()
}

/// Whether `name` is printed after a dot rather than quoted. Such a name must read back
/// unchanged; a backslash would too, but it reads like an escape, so it is quoted.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|character| is_name_character(character) && character != '\\')
}

// ---------------------------------------------------------------------------------------
// Parsing

/// A single forward pass over the path text. Positions are byte offsets that always
/// fall on character boundaries; they become character offsets only in error messages.
struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Result<Parser<'a>> {
        if text.len() > JSON_PATH_BYTES_MAX {
            // Quoting a path of megabytes would drown the message, so quote its start.
            let start: String = text.chars().take(32).collect();
            return Err(Error::validation(format!(
                "invalid JSON path '{start}...': the path is {} bytes long, more than the \
                 limit of {JSON_PATH_BYTES_MAX} bytes",
                text.len()
            )));
        }
        Ok(Parser {
            text,
            bytes: text.as_bytes(),
            position: 0,
        })
    }

    fn parse(mut self) -> Result<JsonPath> {
        // `$` alone is by far the most common path; it needs no allocation at all.
        // The empty path also means the whole document, as in the published package,
        // so code written against it keeps working.
        if self.text == "$" || self.text.is_empty() {
            return Ok(JsonPath::root());
        }
        // Every segment begins with `.` or `[` (quoted names may inflate the count, which
        // only over-reserves), so this sizes the vector once.
        let mut capacity = 1;
        for &byte in self.bytes {
            if byte == b'.' || byte == b'[' {
                capacity += 1;
            }
        }
        let mut segments = Vec::with_capacity(capacity);

        if self.peek_byte() == Some(b'$') {
            self.position = 1;
        } else {
            // Without `$` the path must start with a member name: `a.b` means `$.a.b`.
            let end = self.scan_name(0);
            if end == 0 {
                return Err(self.unexpected(0, "expected '$' or a member name"));
            }
            segments.push(Segment::Member(self.slice(0, end).to_owned()));
            self.position = end;
        }

        while let Some(byte) = self.peek_byte() {
            match byte {
                b'.' => segments.push(self.parse_dotted_name()?),
                b'[' => segments.push(self.parse_bracket()?),
                b']' => {
                    return Err(
                        self.error_at(self.position, "unexpected ']' without a matching '['")
                    )
                }
                _ => return Err(self.unexpected(self.position, "expected '.' or '['")),
            }
        }
        Ok(JsonPath { segments })
    }

    /// Parses `.name`; the cursor is on the dot.
    fn parse_dotted_name(&mut self) -> Result<Segment> {
        let start = self.position + 1;
        let end = self.scan_name(start);
        if end == start {
            let reason = match self.character_at(start) {
                None => "expected a member name after '.'",
                Some('.') => "recursive descent ('..') is not supported",
                Some('\'' | '"') => "a quoted member name must be written in brackets, as ['name']",
                Some(_) => return Err(self.unexpected(start, "expected a member name after '.'")),
            };
            return Err(self.error_at(start, reason));
        }
        self.position = end;
        Ok(Segment::Member(self.slice(start, end).to_owned()))
    }

    /// Parses `['name']`, `["name"]` or `[index]`; the cursor is on the bracket.
    fn parse_bracket(&mut self) -> Result<Segment> {
        let bracket = self.position;
        let start = bracket + 1;
        let (segment, end) = match self.character_at(start) {
            None => return Err(self.error_at(bracket, "unclosed '['")),
            Some(quote @ ('\'' | '"')) => self.parse_quoted_name(start, quote)?,
            Some('-' | '0'..='9') => self.parse_index(bracket, start)?,
            Some(character) => {
                let reason = match character {
                    '?' => "filter expressions are not supported",
                    ':' => "slices are not supported",
                    '(' => "script expressions are not supported",
                    _ => {
                        return Err(
                            self.unexpected(start, "expected an integer index or a quoted name")
                        )
                    }
                };
                return Err(self.error_at(start, reason));
            }
        };
        match self.character_at(end) {
            Some(']') => {
                self.position = end + 1;
                Ok(segment)
            }
            None => Err(self.error_at(bracket, "unclosed '['")),
            Some(',') => Err(self.error_at(end, "unions are not supported")),
            Some(':') if matches!(segment, Segment::Index(_)) => {
                Err(self.error_at(end, "slices are not supported"))
            }
            Some(_) => Err(self.unexpected(end, "expected ']'")),
        }
    }

    /// Parses a quoted name whose opening quote is at `start`. Returns the segment and the
    /// position just after the closing quote.
    fn parse_quoted_name(&self, start: usize, quote: char) -> Result<(Segment, usize)> {
        let mut name = String::new();
        let body = self.text.get(start + 1..).unwrap_or_default();
        let mut characters = body.char_indices();
        while let Some((offset, character)) = characters.next() {
            let position = start + 1 + offset;
            if character == quote {
                return Ok((Segment::Member(name), position + character.len_utf8()));
            }
            if character == '\\' {
                match characters.next() {
                    Some((_, escaped @ ('\'' | '"' | '\\'))) => name.push(escaped),
                    Some(_) => {
                        return Err(self.error_at(
                            position,
                            "invalid escape: only \\', \\\" and \\\\ are allowed in a quoted name",
                        ))
                    }
                    None => break,
                }
            } else {
                name.push(character);
            }
        }
        // The name runs to the end of the text: point at the quote that was never closed.
        Err(self.error_at(start, "unclosed quoted name"))
    }

    /// Parses an integer index starting at `start`. Returns the segment and the position
    /// just after the last digit.
    fn parse_index(&self, bracket: usize, start: usize) -> Result<(Segment, usize)> {
        let negative = self.byte_at(start) == Some(b'-');
        let digits_start = if negative { start + 1 } else { start };
        let mut end = digits_start;
        while self.byte_at(end).is_some_and(|byte| byte.is_ascii_digit()) {
            end += 1;
        }
        let digits = self.slice(digits_start, end);
        if digits.is_empty() {
            if self.byte_at(digits_start).is_none() {
                return Err(self.error_at(bracket, "unclosed '['"));
            }
            return Err(self.unexpected(digits_start, "expected a digit after '-'"));
        }
        // Leading zeros and `-0` are refused so that each index has exactly one spelling,
        // as in RFC 9535.
        if digits.len() > 1 && digits.starts_with('0') {
            return Err(self.error_at(digits_start, "an index must not have leading zeros"));
        }
        if negative && digits == "0" {
            return Err(self.error_at(start, "'-0' is not a valid index"));
        }
        match self.slice(start, end).parse::<i64>() {
            Ok(index) => Ok((Segment::Index(index), end)),
            Err(_) => Err(self.error_at(start, "the index does not fit in a 64-bit integer")),
        }
    }

    /// The position just past the longest run of name characters from `start`.
    fn scan_name(&self, start: usize) -> usize {
        let mut position = start;
        while let Some(byte) = self.byte_at(position) {
            // ASCII is decided on the byte; other characters need decoding first.
            if byte.is_ascii() {
                if !is_name_character(char::from(byte)) {
                    break;
                }
                position += 1;
            } else {
                match self.character_at(position) {
                    Some(character) if is_name_character(character) => {
                        position += character.len_utf8()
                    }
                    _ => break,
                }
            }
        }
        position
    }

    fn peek_byte(&self) -> Option<u8> {
        self.byte_at(self.position)
    }

    fn byte_at(&self, position: usize) -> Option<u8> {
        self.bytes.get(position).copied()
    }

    fn character_at(&self, position: usize) -> Option<char> {
        self.text
            .get(position..)
            .and_then(|rest| rest.chars().next())
    }

    /// Positions come from scanning, so they are character boundaries; an empty slice
    /// stands in for the impossible case rather than a panic.
    fn slice(&self, start: usize, end: usize) -> &'a str {
        self.text.get(start..end).unwrap_or_default()
    }

    /// An error for the character at `position`, with specific wording for whitespace
    /// and wildcards, which are the usual mistakes, and `expected` otherwise.
    fn unexpected(&self, position: usize, expected: &str) -> Error {
        let reason = match self.character_at(position) {
            Some(character) if character.is_whitespace() => "unexpected whitespace",
            Some('*') => "wildcards ('*') are not supported",
            _ => expected,
        };
        self.error_at(position, reason)
    }

    fn error_at(&self, position: usize, reason: &str) -> Error {
        let text = self.text;
        let prefix = text.get(..position).unwrap_or(text);
        let offset = prefix.chars().count();
        let mut message = format!("invalid JSON path '{text}': {reason} at offset {offset}");
        // A tab or newline in the path would shift the caret away from the character.
        if !text.chars().any(char::is_control) {
            message.push_str("\n    ");
            message.push_str(text);
            message.push_str("\n    ");
            message.push_str(&" ".repeat(offset));
            message.push('^');
        }
        Error::validation(message)
    }
}

// ---------------------------------------------------------------------------------------
// Walking documents

/// Maps a possibly negative index onto `0..length`, or `None` when it falls outside.
fn resolve_index(index: i64, length: usize) -> Option<usize> {
    if index >= 0 {
        usize::try_from(index)
            .ok()
            .filter(|&position| position < length)
    } else {
        let from_end = usize::try_from(index.unsigned_abs()).ok()?;
        length.checked_sub(from_end)
    }
}

/// `"an int"`, `"a dict"`, `"null"`: the value's type as a noun phrase for messages.
fn describe_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Int(_) => "an int",
        Value::Float(_) => "a float",
        Value::String(_) => "a str",
        Value::Bytes(_) => "bytes",
        Value::Array(_) => "a list",
        Value::Object(_) => "a dict",
    }
}

/// The value at `path`, or `None` if any member is missing, any index is out of range,
/// or any step meets a value of the wrong type.
pub fn get<'a>(document: &'a Value, path: &JsonPath) -> Option<&'a Value> {
    let mut cursor = document;
    for segment in &path.segments {
        cursor = match (segment, cursor) {
            (Segment::Member(name), Value::Object(members)) => members.get(name)?,
            (Segment::Index(index), Value::Array(items)) => {
                items.get(resolve_index(*index, items.len())?)?
            }
            _ => return None,
        };
    }
    Some(cursor)
}

/// Like [`get`], on a document kept packed: walks the encoded bytes and copies out only
/// the value found. A member named twice (only a hostile file can say so) resolves to
/// the later one, as decoding the document would.
pub fn get_packed(document: &Packed, path: &JsonPath) -> Option<Packed> {
    let mut start = 0;
    for segment in &path.segments {
        let mut reader = document.reader_at(start);
        start = match (segment, reader.item()?) {
            (Segment::Member(name), Item::Object(count)) => {
                let mut found = None;
                for _ in 0..count {
                    if reader.key_bytes()? == name.as_bytes() {
                        found = Some(reader.position());
                    }
                    reader.skip()?;
                }
                found?
            }
            (Segment::Index(index), Item::Array(count)) => {
                for _ in 0..resolve_index(*index, count)? {
                    reader.skip()?;
                }
                reader.position()
            }
            _ => return None,
        };
    }
    Some(document.nested(start))
}

/// Like [`get`], but mutable.
pub fn get_mut<'a>(document: &'a mut Value, path: &JsonPath) -> Option<&'a mut Value> {
    walk_mut(document, &path.segments)
}

/// Follows `segments` down from `document`; `None` as soon as a step does not exist.
fn walk_mut<'a>(document: &'a mut Value, segments: &[Segment]) -> Option<&'a mut Value> {
    let mut cursor = document;
    for segment in segments {
        cursor = match (segment, cursor) {
            (Segment::Member(name), Value::Object(members)) => members.get_mut(name)?,
            (Segment::Index(index), Value::Array(items)) => {
                let position = resolve_index(*index, items.len())?;
                items.get_mut(position)?
            }
            _ => return None,
        };
    }
    Some(cursor)
}

/// Sets `value` at `path` and returns the new document. `document` is `None` when the
/// document does not exist yet. See [`set_in_place`] for the rules.
pub fn set(document: Option<Value>, path: &JsonPath, value: Value) -> Result<Value> {
    match document {
        Some(mut document) => {
            set_in_place(&mut document, path, value)?;
            Ok(document)
        }
        None => wrap_in_new_objects(path, 0, value),
    }
}

/// Sets `value` at `path` inside `document`.
///
/// - `$` replaces the whole document.
/// - A missing member is created, and so are missing intermediate objects.
/// - An index replaces the element it resolves to (-1 is the last); an index equal to
///   the length appends, but only as the last segment.
/// - Anything else is `Error::constraint`: a member of a non-object, an index into a
///   non-array or a missing array, an index out of range.
///
/// On error the document is unchanged.
pub fn set_in_place(document: &mut Value, path: &JsonPath, value: Value) -> Result<()> {
    let segments = path.segments();
    let Some((last, parents)) = segments.split_last() else {
        *document = value;
        return Ok(());
    };
    let mut cursor = document;
    for (depth, segment) in parents.iter().enumerate() {
        cursor = match (segment, cursor) {
            (Segment::Member(name), Value::Object(members)) => {
                // Looking the position up first, rather than matching on `get_mut`, lets
                // the missing branch insert while the borrow checker sees no live borrow.
                match members.get_index_of(name) {
                    // The position was just found, so indexing cannot go out of bounds.
                    Some(position) => &mut members[position],
                    None => {
                        // Everything below a missing member is new, so build it whole
                        // (which also checks it holds no index) and insert it once.
                        let subtree = wrap_in_new_objects(path, depth + 1, value)?;
                        members.insert(name.clone(), subtree);
                        return Ok(());
                    }
                }
            }
            (Segment::Index(index), Value::Array(items)) => {
                let length = items.len();
                match resolve_index(*index, length).and_then(|position| items.get_mut(position)) {
                    Some(child) => child,
                    None => return Err(out_of_range(path, depth, *index, length)),
                }
            }
            (segment, other) => return Err(wrong_type(path, depth, segment, other)),
        };
    }
    match (last, cursor) {
        (Segment::Member(name), Value::Object(members)) => {
            // `insert` keeps an existing member in its place, so order is preserved.
            members.insert(name.clone(), value);
            Ok(())
        }
        (Segment::Index(index), Value::Array(items)) => {
            let length = items.len();
            if let Some(position) = resolve_index(*index, length) {
                if let Some(slot) = items.get_mut(position) {
                    *slot = value;
                    return Ok(());
                }
            }
            if usize::try_from(*index).ok() == Some(length) {
                items.push(value);
                return Ok(());
            }
            Err(out_of_range(path, parents.len(), *index, length))
        }
        (segment, other) => Err(wrong_type(path, parents.len(), segment, other)),
    }
}

/// Builds the value that `path[from..]` names inside objects that do not exist yet:
/// `value` wrapped in one new object per remaining member segment. Fails if any
/// remaining segment is an index, since arrays are never created implicitly.
fn wrap_in_new_objects(path: &JsonPath, from: usize, value: Value) -> Result<Value> {
    let segments = path.segments();
    let remaining = segments.get(from..).unwrap_or_default();
    if let Some(offset) = remaining
        .iter()
        .position(|segment| matches!(segment, Segment::Index(_)))
    {
        let depth = from + offset;
        let missing = if depth == 0 {
            "the document does not exist".to_owned()
        } else {
            format!(
                "'{}' does not exist",
                display_prefix(segments.get(..depth).unwrap_or_default())
            )
        };
        return Err(Error::constraint(format!(
            "cannot set '{path}': {missing}, and arrays are not created implicitly"
        )));
    }
    let mut subtree = value;
    for segment in remaining.iter().rev() {
        if let Segment::Member(name) = segment {
            let mut members = Object::with_capacity(1);
            members.insert(name.clone(), subtree);
            subtree = Value::Object(members);
        }
    }
    Ok(subtree)
}

fn out_of_range(path: &JsonPath, depth: usize, index: i64, length: usize) -> Error {
    let container = display_prefix(path.segments().get(..depth).unwrap_or_default());
    Error::constraint(format!(
        "cannot set '{path}': index {index} is out of range for '{container}' of length {length}"
    ))
}

fn wrong_type(path: &JsonPath, depth: usize, segment: &Segment, found: &Value) -> Error {
    let container = display_prefix(path.segments().get(..depth).unwrap_or_default());
    let wanted = match segment {
        Segment::Member(_) => "an object",
        Segment::Index(_) => "an array",
    };
    Error::constraint(format!(
        "cannot set '{path}': '{container}' is {}, not {wanted}",
        describe_type(found)
    ))
}

/// Removes the member or element at `path`, keeping the order of the other members and
/// shifting later elements down. Returns `Ok(false)` when the path does not exist
/// (including when a step meets the wrong type). `$` is refused: deleting the whole
/// document is the caller's job.
pub fn delete(document: &mut Value, path: &JsonPath) -> Result<bool> {
    let Some((last, parents)) = path.segments().split_last() else {
        return Err(Error::validation(
            "cannot delete '$' inside a document: delete the document itself instead",
        ));
    };
    let Some(parent) = walk_mut(document, parents) else {
        return Ok(false);
    };
    Ok(match (last, parent) {
        (Segment::Member(name), Value::Object(members)) => members.shift_remove(name).is_some(),
        (Segment::Index(index), Value::Array(items)) => match resolve_index(*index, items.len()) {
            Some(position) => {
                items.remove(position);
                true
            }
            None => false,
        },
        _ => false,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use proptest::prelude::*;

    fn path(text: &str) -> JsonPath {
        JsonPath::parse(text).unwrap()
    }

    fn member(name: &str) -> Segment {
        Segment::Member(name.to_owned())
    }

    fn object(members: &[(&str, Value)]) -> Value {
        Value::Object(
            members
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone()))
                .collect(),
        )
    }

    fn array(items: &[i64]) -> Value {
        Value::Array(items.iter().map(|&item| Value::Int(item)).collect())
    }

    fn keys(value: &Value) -> Vec<String> {
        match value {
            Value::Object(members) => members.keys().cloned().collect(),
            other => panic!("expected an object, got {other:?}"),
        }
    }

    /// Asserts that `text` fails to parse with a validation error that quotes the path,
    /// names `offset`, and contains `reason`.
    fn assert_parse_error(text: &str, offset: usize, reason: &str) {
        let error = JsonPath::parse(text).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Validation, "{text:?}: {error}");
        let message = error.message();
        assert!(
            message.starts_with(&format!("invalid JSON path '{text}': ")),
            "{text:?}: {message}"
        );
        assert!(
            message.contains(&format!(" at offset {offset}")),
            "{text:?}: {message}"
        );
        assert!(
            message.contains(reason),
            "{text:?}: expected {reason:?} in {message}"
        );
    }

    // --- Syntax ------------------------------------------------------------------------

    #[test]
    fn json_path_dollar_alone_is_the_root() {
        let root = path("$");
        assert!(root.is_root());
        assert!(root.segments().is_empty());
        assert_eq!(root, JsonPath::root());
        assert_eq!(root.to_string(), "$");
    }

    #[test]
    fn json_path_parses_dotted_members() {
        assert_eq!(path("$.a").segments(), &[member("a")]);
        assert_eq!(
            path("$.a.b.c").segments(),
            &[member("a"), member("b"), member("c")]
        );
        assert_eq!(
            path("$.snake_case-and$dollar:1").segments(),
            &[member("snake_case-and$dollar:1")]
        );
        assert_eq!(path("$.0").segments(), &[member("0")]);
        assert_eq!(path("$.-1").segments(), &[member("-1")]);
        // A backslash is an ordinary character outside quotes (printed quoted, though).
        assert_eq!(path(r"$.a\b").segments(), &[member(r"a\b")]);
    }

    #[test]
    fn json_path_accepts_unicode_letters_in_dotted_members() {
        assert_eq!(
            path("$.café.名前").segments(),
            &[member("café"), member("名前")]
        );
        assert_eq!(path("$.😀").segments(), &[member("😀")]);
    }

    #[test]
    fn json_path_parses_quoted_members_with_either_quote() {
        assert_eq!(path("$['a b']").segments(), &[member("a b")]);
        assert_eq!(path("$[\"a b\"]").segments(), &[member("a b")]);
        assert_eq!(path("$['']").segments(), &[member("")]);
        assert_eq!(path("$['a.b[0]*']").segments(), &[member("a.b[0]*")]);
        assert_eq!(path("$[\"it's\"]").segments(), &[member("it's")]);
        assert_eq!(path("$['say \"hi\"']").segments(), &[member("say \"hi\"")]);
    }

    #[test]
    fn json_path_unescapes_quotes_and_backslashes_in_quoted_members() {
        assert_eq!(path(r"$['it\'s']").segments(), &[member("it's")]);
        assert_eq!(
            path(r#"$["say \"hi\""]"#).segments(),
            &[member("say \"hi\"")]
        );
        assert_eq!(path(r#"$['\"']"#).segments(), &[member("\"")]);
        assert_eq!(
            path(r"$['back\\slash']").segments(),
            &[member(r"back\slash")]
        );
    }

    #[test]
    fn json_path_parses_positive_and_negative_indexes() {
        assert_eq!(path("$[0]").segments(), &[Segment::Index(0)]);
        assert_eq!(path("$.a[2]").segments(), &[member("a"), Segment::Index(2)]);
        assert_eq!(
            path("$.a[-1]").segments(),
            &[member("a"), Segment::Index(-1)]
        );
        assert_eq!(
            path("$[9223372036854775807][-9223372036854775808]").segments(),
            &[Segment::Index(i64::MAX), Segment::Index(i64::MIN)]
        );
    }

    #[test]
    fn json_path_mixes_every_segment_form() {
        assert_eq!(
            path("$.a['b c'][2].d[\"e\"][-1]").segments(),
            &[
                member("a"),
                member("b c"),
                Segment::Index(2),
                member("d"),
                member("e"),
                Segment::Index(-1)
            ]
        );
    }

    #[test]
    fn json_path_without_dollar_starts_with_a_member_name() {
        assert_eq!(path("a"), path("$.a"));
        assert_eq!(path("a.b"), path("$.a.b"));
        assert_eq!(path("a[0]['x y']"), path("$.a[0]['x y']"));
        assert_eq!(path("名前.b"), path("$.名前.b"));
    }

    #[test]
    fn json_path_from_str_matches_parse() {
        let parsed: JsonPath = "$.a[1]".parse().unwrap();
        assert_eq!(parsed, path("$.a[1]"));
    }

    // --- Canonical form ------------------------------------------------------------------

    #[test]
    fn json_path_display_is_canonical() {
        assert_eq!(path("a.b").to_string(), "$.a.b");
        assert_eq!(path("$[\"b c\"]").to_string(), "$['b c']");
        assert_eq!(path("$.a['b c'][2]").to_string(), "$.a['b c'][2]");
        assert_eq!(path("$['plain']").to_string(), "$.plain");
        assert_eq!(path("$['']").to_string(), "$['']");
        assert_eq!(path(r"$['it\'s']").to_string(), r"$['it\'s']");
        assert_eq!(path(r#"$["a\\b"]"#).to_string(), r"$['a\\b']");
        assert_eq!(path("$['*']").to_string(), "$['*']");
        assert_eq!(path("$['a.b']").to_string(), "$['a.b']");
        assert_eq!(path("$.a[-1]").to_string(), "$.a[-1]");
    }

    #[test]
    fn json_path_display_round_trips_through_parse() {
        let paths = [
            "$",
            "$.a",
            "$.a.b[0][-3]",
            "$['a b']['']['it\\'s']",
            "$[\"x\\\"y\"]",
            "$.café['名 前']",
            "$['\\\\'][\"\\\\\\\"\"]",
            "$['tab\tand\nnewline']",
            "$['\u{0}']",
        ];
        for text in paths {
            let parsed = path(text);
            assert_eq!(
                JsonPath::parse(&parsed.to_string()).unwrap(),
                parsed,
                "{text:?}"
            );
        }
    }

    // --- Syntax errors ---------------------------------------------------------------------

    #[test]
    fn json_path_error_message_matches_the_documented_shape() {
        let error = JsonPath::parse("$.a[x]").unwrap_err();
        assert_eq!(
            error.message(),
            "invalid JSON path '$.a[x]': expected an integer index or a quoted name at offset 4\n    $.a[x]\n        ^"
        );
    }

    #[test]
    fn json_path_reads_the_empty_path_as_the_whole_document() {
        assert!(path("").is_root());
    }

    #[test]
    fn json_path_rejects_whitespace() {
        assert_parse_error(" $", 0, "unexpected whitespace");
        assert_parse_error("$ ", 1, "unexpected whitespace");
        assert_parse_error("$.a ", 3, "unexpected whitespace");
        assert_parse_error("$. a", 2, "unexpected whitespace");
        assert_parse_error("$.a b", 3, "unexpected whitespace");
        assert_parse_error("$[ 0]", 2, "unexpected whitespace");
        assert_parse_error("$[0 ]", 3, "unexpected whitespace");
        assert_parse_error("$.a\n", 3, "unexpected whitespace");
        assert_parse_error("$.a\u{a0}", 3, "unexpected whitespace");
    }

    #[test]
    fn json_path_rejects_wildcards_descent_filters_slices_and_unions() {
        assert_parse_error("$.*", 2, "wildcards");
        assert_parse_error("$[*]", 2, "wildcards");
        assert_parse_error("$.a*", 3, "wildcards");
        assert_parse_error("*", 0, "wildcards");
        assert_parse_error("$..a", 2, "recursive descent");
        assert_parse_error("$.a..b", 4, "recursive descent");
        assert_parse_error("$[?(@.a)]", 2, "filter expressions are not supported");
        assert_parse_error("$[(@.length-1)]", 2, "script expressions are not supported");
        assert_parse_error("$[1:2]", 3, "slices are not supported");
        assert_parse_error("$[:2]", 2, "slices are not supported");
        assert_parse_error("$[1,2]", 3, "unions are not supported");
        assert_parse_error("$['a','b']", 5, "unions are not supported");
    }

    #[test]
    fn json_path_rejects_trailing_dots_and_bad_starts() {
        assert_parse_error("$.", 2, "expected a member name after '.'");
        assert_parse_error("$.a.", 4, "expected a member name after '.'");
        assert_parse_error("$.[0]", 2, "expected a member name after '.'");
        assert_parse_error("$.'a'", 2, "must be written in brackets");
        assert_parse_error(".a", 0, "expected '$' or a member name");
        assert_parse_error("[0]", 0, "expected '$' or a member name");
        assert_parse_error("'a'", 0, "expected '$' or a member name");
        assert_parse_error("$a", 1, "expected '.' or '['");
        assert_parse_error("$$", 1, "expected '.' or '['");
        assert_parse_error("$.a'b'", 3, "expected '.' or '['");
        assert_parse_error("$]", 1, "unexpected ']'");
        assert_parse_error("$.a]", 3, "unexpected ']'");
    }

    #[test]
    fn json_path_rejects_unclosed_brackets_and_quotes() {
        assert_parse_error("$[", 1, "unclosed '['");
        assert_parse_error("$.a[", 3, "unclosed '['");
        assert_parse_error("$.a[0", 3, "unclosed '['");
        assert_parse_error("$.a[-", 3, "unclosed '['");
        assert_parse_error("$['a'", 1, "unclosed '['");
        assert_parse_error("$['a", 2, "unclosed quoted name");
        assert_parse_error("$[\"a'", 2, "unclosed quoted name");
        assert_parse_error(r"$['a\']", 2, "unclosed quoted name");
        assert_parse_error(r"$['a\", 2, "unclosed quoted name");
        assert_parse_error("$['a'x]", 5, "expected ']'");
    }

    #[test]
    fn json_path_rejects_unknown_escapes() {
        assert_parse_error(r"$['a\nb']", 4, "invalid escape");
        assert_parse_error(r"$['\u0041']", 3, "invalid escape");
    }

    #[test]
    fn json_path_rejects_malformed_indexes() {
        assert_parse_error("$.a[x]", 4, "expected an integer index or a quoted name");
        assert_parse_error("$[]", 2, "expected an integer index or a quoted name");
        assert_parse_error("$[-]", 3, "expected a digit after '-'");
        assert_parse_error("$[-x]", 3, "expected a digit after '-'");
        assert_parse_error("$[1.5]", 3, "expected ']'");
        assert_parse_error("$[1e3]", 3, "expected ']'");
        assert_parse_error("$[+1]", 2, "expected an integer index or a quoted name");
        assert_parse_error("$[01]", 2, "leading zeros");
        assert_parse_error("$[-01]", 3, "leading zeros");
        assert_parse_error("$[-0]", 2, "'-0' is not a valid index");
        assert_parse_error(
            "$[9223372036854775808]",
            2,
            "does not fit in a 64-bit integer",
        );
        assert_parse_error(
            "$[-9223372036854775809]",
            2,
            "does not fit in a 64-bit integer",
        );
        assert_parse_error(
            "$[99999999999999999999999999]",
            2,
            "does not fit in a 64-bit integer",
        );
    }

    #[test]
    fn json_path_error_offsets_count_characters_not_bytes() {
        // "é" is two bytes in UTF-8 but one character, as Python counts it.
        assert_parse_error("$.é[x]", 4, "expected an integer index");
        let message = JsonPath::parse("$.é[x]").unwrap_err().message().to_owned();
        assert!(message.ends_with("\n    $.é[x]\n        ^"), "{message}");
    }

    #[test]
    fn json_path_error_omits_the_caret_line_when_control_characters_would_misalign_it() {
        let message = JsonPath::parse("$.a\t").unwrap_err().message().to_owned();
        assert!(!message.contains('^'), "{message}");
        assert!(message.contains("at offset 3"), "{message}");
    }

    #[test]
    fn json_path_rejects_paths_longer_than_the_limit() {
        let longest = format!("$.{}", "a".repeat(JSON_PATH_BYTES_MAX - 2));
        assert_eq!(longest.len(), JSON_PATH_BYTES_MAX);
        assert!(JsonPath::parse(&longest).is_ok());

        let too_long = format!("$.{}", "a".repeat(JSON_PATH_BYTES_MAX - 1));
        let error = JsonPath::parse(&too_long).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Validation);
        assert!(
            error.message().starts_with("invalid JSON path '$.aaa"),
            "{}",
            error.message()
        );
        assert!(error.message().contains(&JSON_PATH_BYTES_MAX.to_string()));
        assert!(
            error.message().len() < 200,
            "the message must not quote the whole path"
        );
    }

    #[test]
    fn json_path_parses_the_longest_chain_of_indexes_without_recursion() {
        let text = format!("${}", "[0]".repeat((JSON_PATH_BYTES_MAX - 1) / 3));
        assert_eq!(path(&text).segments().len(), (JSON_PATH_BYTES_MAX - 1) / 3);
    }

    // --- get -------------------------------------------------------------------------------

    fn sample() -> Value {
        object(&[
            (
                "a",
                object(&[("b", Value::Int(1)), ("list", array(&[10, 20, 30]))]),
            ),
            ("b c", Value::from("spaced")),
            ("n", Value::Int(5)),
        ])
    }

    #[test]
    fn json_path_get_finds_members_and_elements() {
        let document = sample();
        assert_eq!(get(&document, &path("$")), Some(&document));
        assert_eq!(get(&document, &path("$.a.b")), Some(&Value::Int(1)));
        assert_eq!(
            get(&document, &path("$['b c']")),
            Some(&Value::from("spaced"))
        );
        assert_eq!(get(&document, &path("$.a.list[0]")), Some(&Value::Int(10)));
        assert_eq!(get(&document, &path("$.a.list[2]")), Some(&Value::Int(30)));
        assert_eq!(get(&document, &path("$.a.list[-1]")), Some(&Value::Int(30)));
        assert_eq!(get(&document, &path("$.a.list[-3]")), Some(&Value::Int(10)));
    }

    #[test]
    fn json_path_get_returns_none_for_anything_missing() {
        let document = sample();
        for text in [
            "$.missing",
            "$.a.missing.deeper",
            "$.a.list[3]",
            "$.a.list[-4]",
            "$.a.list[9223372036854775807]",
            "$.a.list[-9223372036854775808]",
            "$.n.x",
            "$.n[0]",
            "$[0]",
            "$.a.list.x",
            "$['b c'][0]",
        ] {
            assert_eq!(get(&document, &path(text)), None, "{text}");
        }
    }

    #[test]
    fn json_path_get_mut_changes_the_value_in_place() {
        let mut document = sample();
        *get_mut(&mut document, &path("$.a.list[-1]")).unwrap() = Value::Int(99);
        assert_eq!(get(&document, &path("$.a.list[2]")), Some(&Value::Int(99)));
        assert!(get_mut(&mut document, &path("$.a.nothing")).is_none());
    }

    // --- set -------------------------------------------------------------------------------

    fn set_error(document: Option<Value>, text: &str) -> Error {
        let error = set(document, &path(text), Value::Int(0)).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Constraint, "{text}: {error}");
        assert!(
            error
                .message()
                .starts_with(&format!("cannot set '{}': ", path(text))),
            "{error}"
        );
        error
    }

    #[test]
    fn json_path_set_at_root_replaces_the_document() {
        assert_eq!(
            set(None, &JsonPath::root(), Value::Int(7)).unwrap(),
            Value::Int(7)
        );
        assert_eq!(
            set(Some(sample()), &path("$"), array(&[1])).unwrap(),
            array(&[1])
        );
    }

    #[test]
    fn json_path_set_creates_missing_intermediate_objects() {
        let document = set(None, &path("$.a.b"), Value::Int(1)).unwrap();
        assert_eq!(document, object(&[("a", object(&[("b", Value::Int(1))]))]));

        let document = set(Some(document), &path("$.a.c.d"), Value::Int(2)).unwrap();
        assert_eq!(get(&document, &path("$.a.c.d")), Some(&Value::Int(2)));
        assert_eq!(get(&document, &path("$.a.b")), Some(&Value::Int(1)));
    }

    #[test]
    fn json_path_set_replaces_a_member_keeping_its_position() {
        let document = object(&[
            ("x", Value::Int(1)),
            ("y", Value::Int(2)),
            ("z", Value::Int(3)),
        ]);
        let document = set(Some(document), &path("$.y"), Value::from("new")).unwrap();
        assert_eq!(keys(&document), ["x", "y", "z"]);
        assert_eq!(get(&document, &path("$.y")), Some(&Value::from("new")));
        let document = set(Some(document), &path("$.w"), Value::Null).unwrap();
        assert_eq!(keys(&document), ["x", "y", "z", "w"]);
    }

    #[test]
    fn json_path_set_replaces_elements_by_positive_and_negative_index() {
        let document = object(&[("a", array(&[1, 2, 3]))]);
        let document = set(Some(document), &path("$.a[0]"), Value::Int(10)).unwrap();
        let document = set(Some(document), &path("$.a[-1]"), Value::Int(30)).unwrap();
        let document = set(Some(document), &path("$.a[-2]"), Value::Int(20)).unwrap();
        assert_eq!(get(&document, &path("$.a")), Some(&array(&[10, 20, 30])));
    }

    #[test]
    fn json_path_set_at_the_length_appends() {
        let document = object(&[("a", array(&[1, 2, 3]))]);
        let document = set(Some(document), &path("$.a[3]"), Value::Int(4)).unwrap();
        assert_eq!(get(&document, &path("$.a")), Some(&array(&[1, 2, 3, 4])));
        let document = set(Some(Value::Array(Vec::new())), &path("$[0]"), Value::Int(1)).unwrap();
        assert_eq!(document, array(&[1]));
    }

    #[test]
    fn json_path_set_walks_through_array_elements() {
        let document = object(&[("items", Value::Array(vec![object(&[]), object(&[])]))]);
        let document = set(Some(document), &path("$.items[-1].name"), Value::from("x")).unwrap();
        let document = set(Some(document), &path("$.items[0].deep.er"), Value::Int(1)).unwrap();
        assert_eq!(
            get(&document, &path("$.items[1].name")),
            Some(&Value::from("x"))
        );
        assert_eq!(
            get(&document, &path("$.items[0].deep.er")),
            Some(&Value::Int(1))
        );
    }

    #[test]
    fn json_path_set_refuses_out_of_range_indexes() {
        let document = object(&[("a", array(&[1, 2, 3]))]);
        let error = set_error(Some(document.clone()), "$.a[5]");
        assert!(
            error
                .message()
                .contains("index 5 is out of range for '$.a' of length 3"),
            "{error}"
        );
        let error = set_error(Some(document.clone()), "$.a[-4]");
        assert!(
            error
                .message()
                .contains("index -4 is out of range for '$.a' of length 3"),
            "{error}"
        );
        let error = set_error(Some(document.clone()), "$.a[-9223372036854775808]");
        assert!(error.message().contains("out of range"), "{error}");
        // Appending is only for the last segment: an intermediate index must exist.
        let error = set_error(Some(document), "$.a[3].b");
        assert!(
            error
                .message()
                .contains("index 3 is out of range for '$.a' of length 3"),
            "{error}"
        );
    }

    #[test]
    fn json_path_set_refuses_members_of_non_objects() {
        let document = object(&[("a", Value::Int(5)), ("l", array(&[1]))]);
        let error = set_error(Some(document.clone()), "$.a.b");
        assert!(
            error.message().ends_with("'$.a' is an int, not an object"),
            "{error}"
        );
        let error = set_error(Some(document.clone()), "$.a.b.c");
        assert!(
            error.message().ends_with("'$.a' is an int, not an object"),
            "{error}"
        );
        let error = set_error(Some(document), "$.l.x");
        assert!(
            error.message().ends_with("'$.l' is a list, not an object"),
            "{error}"
        );
        let error = set_error(Some(Value::Null), "$.x");
        assert!(
            error.message().ends_with("'$' is null, not an object"),
            "{error}"
        );
    }

    #[test]
    fn json_path_set_refuses_indexes_into_non_arrays() {
        let document = object(&[("a", object(&[])), ("s", Value::from("text"))]);
        let error = set_error(Some(document.clone()), "$.a[0]");
        assert!(
            error.message().ends_with("'$.a' is a dict, not an array"),
            "{error}"
        );
        let error = set_error(Some(document.clone()), "$.s[0].x");
        assert!(
            error.message().ends_with("'$.s' is a str, not an array"),
            "{error}"
        );
        let error = set_error(Some(document), "$[0]");
        assert!(
            error.message().ends_with("'$' is a dict, not an array"),
            "{error}"
        );
    }

    #[test]
    fn json_path_set_never_creates_arrays_implicitly() {
        let error = set_error(Some(object(&[])), "$.a[0]");
        assert!(
            error
                .message()
                .contains("'$.a' does not exist, and arrays are not created implicitly"),
            "{error}"
        );
        let error = set_error(Some(object(&[])), "$.a.b[0].c");
        assert!(
            error.message().contains("'$.a.b' does not exist"),
            "{error}"
        );
        let error = set_error(None, "$[0]");
        assert!(
            error
                .message()
                .contains("the document does not exist, and arrays"),
            "{error}"
        );
        let error = set_error(None, "$.a[-1]");
        assert!(error.message().contains("'$.a' does not exist"), "{error}");
    }

    #[test]
    fn json_path_set_in_place_leaves_the_document_unchanged_on_error() {
        let original = object(&[("a", object(&[("n", Value::Int(1))]))]);
        for text in ["$.a.b.c[0]", "$.a.n.x", "$.a[0]", "$.x.y[1].z"] {
            let mut document = original.clone();
            assert!(
                set_in_place(&mut document, &path(text), Value::Int(2)).is_err(),
                "{text}"
            );
            assert_eq!(document, original, "{text}");
            assert_eq!(keys(&document), ["a"], "{text}");
        }
    }

    // --- delete ----------------------------------------------------------------------------

    #[test]
    fn json_path_delete_removes_a_member_keeping_the_order_of_the_others() {
        let mut document = object(&[
            ("x", Value::Int(1)),
            ("y", Value::Int(2)),
            ("z", Value::Int(3)),
        ]);
        assert!(delete(&mut document, &path("$.y")).unwrap());
        assert_eq!(keys(&document), ["x", "z"]);
        assert!(!delete(&mut document, &path("$.y")).unwrap());
    }

    #[test]
    fn json_path_delete_removes_an_element_and_shifts_the_rest() {
        let mut document = object(&[("a", array(&[1, 2, 3, 4]))]);
        assert!(delete(&mut document, &path("$.a[1]")).unwrap());
        assert_eq!(get(&document, &path("$.a")), Some(&array(&[1, 3, 4])));
        assert!(delete(&mut document, &path("$.a[-1]")).unwrap());
        assert_eq!(get(&document, &path("$.a")), Some(&array(&[1, 3])));
        assert!(!delete(&mut document, &path("$.a[2]")).unwrap());
        assert!(!delete(&mut document, &path("$.a[-3]")).unwrap());
        assert_eq!(get(&document, &path("$.a")), Some(&array(&[1, 3])));
    }

    #[test]
    fn json_path_delete_of_a_missing_path_returns_false() {
        let mut document = sample();
        for text in [
            "$.missing",
            "$.a.missing.x",
            "$.n.x",
            "$.n[0]",
            "$.a[0]",
            "$.a.list.x",
            "$[0]",
        ] {
            assert!(!delete(&mut document, &path(text)).unwrap(), "{text}");
        }
        assert_eq!(document, sample());
    }

    #[test]
    fn json_path_delete_removes_nested_values() {
        let mut document = sample();
        assert!(delete(&mut document, &path("$.a.b")).unwrap());
        assert_eq!(keys(get(&document, &path("$.a")).unwrap()), ["list"]);
        assert!(delete(&mut document, &path("$['b c']")).unwrap());
        assert_eq!(keys(&document), ["a", "n"]);
    }

    #[test]
    fn json_path_delete_of_the_root_is_a_validation_error() {
        let mut document = sample();
        let error = delete(&mut document, &JsonPath::root()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Validation);
        assert_eq!(document, sample());
    }

    // --- Properties ------------------------------------------------------------------------

    fn any_segment() -> impl Strategy<Value = Segment> {
        prop_oneof![
            "[a-z]{1,4}".prop_map(Segment::Member),
            "\\PC{0,6}".prop_map(Segment::Member),
            "[ .\\[\\]'\"\\\\*$a]{0,5}".prop_map(Segment::Member),
            any::<i64>().prop_map(Segment::Index),
            (-3i64..4).prop_map(Segment::Index),
        ]
    }

    proptest! {
        #[test]
        fn json_path_display_then_parse_is_the_identity(segments in prop::collection::vec(any_segment(), 0..6)) {
            let original = JsonPath::from_segments(segments);
            let text = original.to_string();
            prop_assert_eq!(JsonPath::parse(&text), Ok(original), "{}", text);
        }

        #[test]
        fn json_path_parse_never_panics_and_valid_paths_are_stable(text in "[$.\\[\\]'\"\\\\*?:,0-9a-z é-]{0,16}") {
            if let Ok(parsed) = JsonPath::parse(&text) {
                prop_assert_eq!(JsonPath::parse(&parsed.to_string()), Ok(parsed));
            }
        }

        #[test]
        fn json_path_parse_never_panics_on_arbitrary_text(text in "\\PC{0,24}") {
            let _ = JsonPath::parse(&text);
        }

        #[test]
        fn json_path_get_after_a_successful_set_returns_the_value(
            segments in prop::collection::vec(any_segment(), 0..5),
            start_with_sample in any::<bool>(),
        ) {
            let path = JsonPath::from_segments(segments);
            let document = start_with_sample.then(sample);
            if let Ok(document) = set(document, &path, Value::from("marker")) {
                prop_assert_eq!(get(&document, &path), Some(&Value::from("marker")));
            }
        }
    }
}
