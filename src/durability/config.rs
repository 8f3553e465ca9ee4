//! `strata.toml`: the per-directory configuration.
//!
//! A new database directory gets a commented default file. An existing file is read
//! and never rewritten. Unknown keys are ignored (as the published package does), so a
//! file written for a newer version still opens; a known key with a bad value is a
//! `ValidationError` naming the file, the key and the allowed values.

use std::path::Path;

use serde::Deserialize;

use crate::engine::Durability;
use crate::error::{Error, Result};
use crate::retention::Retention;
use crate::storage::{self, Storage};

/// The file name inside the database directory.
pub const CONFIG_FILE: &str = "strata.toml";

/// Log size past which a compaction starts by itself, by default.
pub const AUTO_COMPACT_LOG_BYTES_DEFAULT: u64 = 4 * 1024 * 1024;

/// The text written into a new directory.
pub const DEFAULT_CONFIG_TEXT: &str = r#"# StrataDB configuration for this database directory.
#
# durability: how far a write gets before the call returns.
#   "always"   - fsync before every write returns; nothing acknowledged is ever lost
#   "standard" - written to the OS before returning, fsync at least every 100 ms and
#                on flush()/close(); a power loss may lose the last ~100 ms
#   "none"     - fsync only on flush()/close()
durability = "standard"

# Compact (snapshot the state and drop the covered log) in the background once the
# log holds this many bytes and more than the last snapshot's size, so that reopening
# after a crash replays little. Closing the database compacts too when the log holds
# 256 KiB or more (compact_on_close = false turns that off).
# auto_compact_log_bytes = 4194304
# compact_on_close = true

# How much history to keep (time travel reads and history calls see what is kept).
# By default every version is kept. retention_apply() and compact() trim the rest;
# events are never trimmed.
# [retention]
# keep_versions = 100     # the newest N versions of every key, cell, document, vector
# keep_seconds = 604800   # every version that was current within the last S seconds
"#;

/// Settings read from `strata.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub durability: Durability,
    pub auto_compact_log_bytes: u64,
    /// Compact when the last handle closes (when the log is large enough).
    pub compact_on_close: bool,
    pub retention: Retention,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            durability: Durability::Standard,
            auto_compact_log_bytes: AUTO_COMPACT_LOG_BYTES_DEFAULT,
            compact_on_close: true,
            retention: Retention::default(),
        }
    }
}

#[derive(Deserialize)]
struct RawConfig {
    durability: Option<String>,
    auto_compact_log_bytes: Option<u64>,
    compact_on_close: Option<bool>,
    retention: Option<RawRetention>,
}

#[derive(Deserialize)]
struct RawRetention {
    keep_versions: Option<u64>,
    keep_seconds: Option<u64>,
}

impl Config {
    /// Parses the text of a config file; `source` names it in messages.
    pub fn parse(text: &str, source: &str) -> Result<Config> {
        let raw: RawConfig = toml::from_str(text)
            .map_err(|error| Error::validation(format!("cannot parse {source}: {}", error.message())))?;
        let mut config = Config::default();
        if let Some(durability) = raw.durability {
            config.durability = Durability::parse(&durability)
                .map_err(|error| Error::validation(format!("{source}: {}", error.message())))?;
        }
        if let Some(bytes) = raw.auto_compact_log_bytes {
            if bytes < 4096 {
                return Err(Error::validation(format!(
                    "{source}: auto_compact_log_bytes = {bytes} is below the minimum of 4096"
                )));
            }
            config.auto_compact_log_bytes = bytes;
        }
        if let Some(compact_on_close) = raw.compact_on_close {
            config.compact_on_close = compact_on_close;
        }
        if let Some(retention) = raw.retention {
            config.retention =
                Retention::new(retention.keep_versions, retention.keep_seconds, &format!("{source} [retention]"))?;
        }
        Ok(config)
    }

    /// Reads the directory's config file, writing the default one first if there is
    /// none (unless `read_only`).
    pub fn load_or_create(storage: &dyn Storage, directory: &Path, read_only: bool) -> Result<Config> {
        let path = directory.join(CONFIG_FILE);
        if !storage.exists(&path) {
            if !read_only {
                storage::write_atomically(storage, &path, DEFAULT_CONFIG_TEXT.as_bytes())
                    .map_err(|error| Error::io(format!("cannot write {}: {error}", path.display())))?;
            }
            return Ok(Config::default());
        }
        let bytes = storage.read(&path).map_err(|error| Error::io(format!("cannot read {}: {error}", path.display())))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::validation(format!("{} is not valid UTF-8", path.display())))?;
        Config::parse(&text, &path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_default_text_parses_to_the_defaults() {
        assert_eq!(Config::parse(DEFAULT_CONFIG_TEXT, "strata.toml").unwrap(), Config::default());
    }

    #[test]
    fn config_reads_each_durability_and_ignores_unknown_keys() {
        let config = Config::parse("durability = \"always\"\nfuture_key = 3\n[section]\nx = 1\n", "t").unwrap();
        assert_eq!(config.durability, Durability::Always);
        assert_eq!(Config::parse("", "t").unwrap(), Config::default());
        assert_eq!(Config::parse("durability = \"none\"", "t").unwrap().durability, Durability::None);
    }

    #[test]
    fn config_rejects_bad_values_naming_the_file() {
        let error = Config::parse("durability = \"bogus\"", "/db/strata.toml").unwrap_err();
        assert!(error.message().contains("/db/strata.toml") && error.message().contains("bogus"), "{}", error.message());
        assert!(Config::parse("durability = 5", "t").is_err());
        assert!(Config::parse("durability = ", "t").is_err());
        assert!(Config::parse("auto_compact_log_bytes = 1", "t").is_err());
        let error = Config::parse("[retention]\nkeep_versions = 0", "/db/strata.toml").unwrap_err();
        assert!(error.message().contains("keep_versions = 0"), "{}", error.message());
        assert!(Config::parse("[retention]\nkeep_seconds = -1", "t").is_err());
    }

    #[test]
    fn config_reads_the_retention_table() {
        let config = Config::parse("[retention]\nkeep_versions = 3\nkeep_seconds = 60\n", "t").unwrap();
        assert_eq!(config.retention, Retention { keep_versions: Some(3), keep_seconds: Some(60) });
        let config = Config::parse("[retention]\nkeep_seconds = 60\n", "t").unwrap();
        assert_eq!(config.retention, Retention { keep_versions: None, keep_seconds: Some(60) });
        assert!(Config::default().compact_on_close);
        assert!(!Config::parse("compact_on_close = false", "t").unwrap().compact_on_close);
        assert!(Config::parse("compact_on_close = 3", "t").is_err());
    }
}
