//! Validation of keys and names.
//!
//! Keys (KV keys, cell names, document keys, vector keys, event types) are non-empty
//! UTF-8 strings of at most `KEY_BYTES_MAX` bytes with no NUL. Names (branches,
//! spaces, collections) are additionally restricted to `[A-Za-z0-9_.:-]` and
//! `NAME_BYTES_MAX` bytes, so they are safe in file names and diff keys.

use crate::error::{Error, Result};
use crate::limits::{KEY_BYTES_MAX, NAME_BYTES_MAX};

/// Checks a key. `what` names the kind of key in the message ("key", "cell", ...).
pub fn check_key(what: &str, key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::validation(format!("{what} must not be empty")));
    }
    if key.len() > KEY_BYTES_MAX {
        return Err(Error::validation(format!(
            "{what} '{}...' is {} bytes long; the limit is {KEY_BYTES_MAX} bytes",
            preview(key),
            key.len()
        )));
    }
    if let Some(position) = key.find('\0') {
        return Err(Error::validation(format!(
            "{what} {key:?} contains a NUL character at byte {position}"
        )));
    }
    Ok(())
}

/// Checks a branch, space or collection name.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::validation(format!("{what} name must not be empty")));
    }
    if name.len() > NAME_BYTES_MAX {
        return Err(Error::validation(format!(
            "{what} name '{}...' is {} bytes long; the limit is {NAME_BYTES_MAX} bytes",
            preview(name),
            name.len()
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')))
    {
        return Err(Error::validation(format!(
            "{what} name {name:?} contains {bad:?}; names may only use letters, digits and _ . : -"
        )));
    }
    Ok(())
}

/// The first few characters of a long string, for messages.
fn preview(text: &str) -> &str {
    let mut end = text.len().min(32);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn keys_accept_exactly_the_limit_and_reject_one_more_byte() {
        assert!(check_key("key", &"k".repeat(KEY_BYTES_MAX)).is_ok());
        let err = check_key("key", &"k".repeat(KEY_BYTES_MAX + 1)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Validation);
        assert!(err.message().contains("1025"), "{}", err.message());
    }

    #[test]
    fn keys_reject_empty_and_nul() {
        assert_eq!(check_key("key", "").unwrap_err().kind(), ErrorKind::Validation);
        assert!(check_key("key", "a\0b").unwrap_err().message().contains("NUL"));
        assert!(check_key("key", "any unicode é ✓ / [] $").is_ok());
    }

    #[test]
    fn names_allow_only_the_safe_alphabet() {
        assert!(check_name("branch", "feature-1.2:x_y").is_ok());
        let err = check_name("branch", "a/b").unwrap_err();
        assert!(err.message().contains("'/'"), "{}", err.message());
        assert!(check_name("space", &"s".repeat(NAME_BYTES_MAX)).is_ok());
        assert!(check_name("space", &"s".repeat(NAME_BYTES_MAX + 1)).is_err());
        assert!(check_name("space", "").is_err());
    }
}
