//! The reference model: what the database must hold after a prefix of operations.

use std::collections::BTreeMap;

use stratadb::{Packed, Session, Value};

use crate::workload::Operation;

#[derive(Default)]
pub struct Model {
    kv: BTreeMap<String, i64>,
    events: Vec<i64>,
    documents: BTreeMap<String, i64>,
    /// Commits applied (the database's version counter).
    version: u64,
    /// Operations applied, committing or not (the child's operation index).
    operations: u64,
}

impl Model {
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn operations_applied(&self) -> u64 {
        self.operations
    }

    pub fn apply(&mut self, operation: &Operation) {
        self.operations += 1;
        if operation.commits() {
            self.version += 1;
        }
        match operation {
            Operation::Put { key, value } => {
                self.kv.insert(key.clone(), *value);
            }
            Operation::Delete { key } => {
                self.kv.remove(key);
            }
            Operation::Transaction { value } => {
                for key in ["tx:a", "tx:b", "tx:c"] {
                    self.kv.insert(key.into(), *value);
                }
            }
            Operation::Event { value } => self.events.push(*value),
            Operation::Document { key, value } => {
                self.documents.insert(key.clone(), *value);
            }
            Operation::Compact | Operation::Flush => {}
        }
    }

    /// Compares every key, event and document with the database.
    pub fn check(&self, session: &Session) -> Result<(), String> {
        let keys = session.kv_list(None).map_err(|e| e.to_string())?;
        let listed: Vec<&str> = keys.iter().map(|k| k.as_ref()).collect();
        let expected: Vec<&str> = self.kv.keys().map(String::as_str).collect();
        if listed != expected {
            return Err(format!("kv keys differ: database {listed:?}, model {expected:?}"));
        }
        for (key, value) in &self.kv {
            let found = session.kv_get(key).map_err(|e| e.to_string())?;
            let found = found.as_ref().and_then(|v| v.value()).map(Packed::to_value);
            if found != Some(Value::Int(*value)) {
                return Err(format!("kv '{key}': database {found:?}, model {value}"));
            }
        }
        let events = session.event_len().map_err(|e| e.to_string())?;
        if events != self.events.len() as u64 {
            return Err(format!("event count: database {events}, model {}", self.events.len()));
        }
        if let Some(last) = self.events.last() {
            let event = session.event_get(events - 1).map_err(|e| e.to_string())?;
            if event.map(|e| e.payload.to_value()) != Some(Value::Int(*last)) {
                return Err(format!("last event payload differs from the model's {last}"));
            }
        }
        for (key, value) in &self.documents {
            let found = session.json_get(key, "$.n").map_err(|e| e.to_string())?.map(|p| p.to_value());
            if found != Some(Value::Int(*value)) {
                return Err(format!("document '{key}': database {found:?}, model {value}"));
            }
        }
        Ok(())
    }
}
