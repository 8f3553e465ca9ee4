//! The seeded workload: operations, how they run through the engine's API, and a
//! one-line text form the child reports to the parent.

use stratadb::{Result, Session, Value};

use crate::rng::Rng;

/// One operation of the workload. Every variant but `Compact` and `Flush` is exactly
/// one commit.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    Put { key: String, value: i64 },
    Delete { key: String },
    /// One transaction writing the same value to three keys (atomicity check).
    Transaction { value: i64 },
    Event { value: i64 },
    Document { key: String, value: i64 },
    Compact,
    Flush,
}

/// The operation number `index` of a workload driven by `rng`.
pub fn next_operation(rng: &mut Rng, index: u64) -> Operation {
    let value = index as i64;
    let key = format!("k{}", rng.below(64));
    match rng.below(100) {
        0..=44 => Operation::Put { key, value },
        45..=54 => Operation::Delete { key },
        55..=69 => Operation::Transaction { value },
        70..=84 => Operation::Event { value },
        85..=96 => Operation::Document { key: format!("d{}", rng.below(8)), value },
        97 => Operation::Compact,
        _ => Operation::Flush,
    }
}

impl Operation {
    /// Whether the operation is one commit.
    pub fn commits(&self) -> bool {
        !matches!(self, Operation::Compact | Operation::Flush)
    }

    pub fn run(&self, session: &Session) -> Result<()> {
        match self {
            Operation::Put { key, value } => session.kv_put(key, Value::Int(*value)).map(drop),
            Operation::Delete { key } => {
                // A delete of a missing key writes nothing; write a tombstone anyway
                // by putting first inside one transaction, so every delete commits.
                session.begin(false)?;
                session.kv_put(key, Value::Null)?;
                session.kv_delete(key)?;
                session.commit().map(drop)
            }
            Operation::Transaction { value } => {
                session.begin(false)?;
                for key in ["tx:a", "tx:b", "tx:c"] {
                    session.kv_put(key, Value::Int(*value))?;
                }
                session.commit().map(drop)
            }
            Operation::Event { value } => session.event_append("tick", Value::Int(*value)).map(drop),
            Operation::Document { key, value } => session.json_set(key, "$.n", Value::Int(*value)).map(drop),
            Operation::Compact => session.compact(),
            Operation::Flush => session.flush(),
        }
    }

    pub fn render(&self) -> String {
        match self {
            Operation::Put { key, value } => format!("put {key} {value}"),
            Operation::Delete { key } => format!("delete {key}"),
            Operation::Transaction { value } => format!("transaction {value}"),
            Operation::Event { value } => format!("event {value}"),
            Operation::Document { key, value } => format!("document {key} {value}"),
            Operation::Compact => "compact".into(),
            Operation::Flush => "flush".into(),
        }
    }

    pub fn parse(text: &str) -> Option<Operation> {
        let words: Vec<&str> = text.split(' ').collect();
        Some(match words.as_slice() {
            ["put", key, value] => Operation::Put { key: (*key).into(), value: value.parse().ok()? },
            ["delete", key] => Operation::Delete { key: (*key).into() },
            ["transaction", value] => Operation::Transaction { value: value.parse().ok()? },
            ["event", value] => Operation::Event { value: value.parse().ok()? },
            ["document", key, value] => Operation::Document { key: (*key).into(), value: value.parse().ok()? },
            ["compact"] => Operation::Compact,
            ["flush"] => Operation::Flush,
            _ => return None,
        })
    }
}
