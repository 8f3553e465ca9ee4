//! The operations of simulated runs, each at most one commit.
//!
//! The exhaustive alphabet is the issue's: a commit, a transaction, a flush, a segment
//! roll (a commit too large for what is left of the segment), a compaction, a fork, a
//! merge and a reopen. Random runs draw from a wider set of single commits (every
//! primitive, both branches) and transactions that sometimes roll back.

use stratadb::{Result, Session, Value};

use crate::rng::Rng;

/// The setup every exhaustive workload starts from: a vector collection, keys, a
/// branch `side` with a change of its own (so merges have something to take).
pub fn setup() -> Vec<SimOp> {
    vec![
        SimOp::Commit(Write::Collection),
        SimOp::Commit(Write::Put),
        SimOp::Commit(Write::Vector),
        SimOp::Fork,
        SimOp::Commit(Write::SideWrite),
        SimOp::Commit(Write::Event),
    ]
}

/// One single-commit write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    Put,
    Delete,
    Event,
    Json,
    JsonDelete,
    Cell,
    Cas,
    Vector,
    VectorDelete,
    /// A put on branch `side` (the handle switches there and back).
    SideWrite,
    /// Creates the `vec` collection (a no-op commit-wise if it exists: it fails).
    Collection,
}

const WRITES: [Write; 10] = [
    Write::Put,
    Write::Delete,
    Write::Event,
    Write::Json,
    Write::JsonDelete,
    Write::Cell,
    Write::Cas,
    Write::Vector,
    Write::VectorDelete,
    Write::SideWrite,
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimOp {
    Commit(Write),
    /// Four writes in one transaction, committed (or rolled back: no commit).
    Transaction { rollback: bool },
    Flush,
    /// A commit of a value larger than what is left of the segment: the log rolls.
    Roll,
    Compact,
    /// Forks the current branch (`side` if none exists yet, else a fresh name).
    Fork,
    /// Merges `side` into the current branch, last writer wins.
    Merge,
    Reopen,
}

/// The alphabet of the exhaustive mode.
pub const EXHAUSTIVE: [SimOp; 8] = [
    SimOp::Commit(Write::Put),
    SimOp::Transaction { rollback: false },
    SimOp::Flush,
    SimOp::Roll,
    SimOp::Compact,
    SimOp::Fork,
    SimOp::Merge,
    SimOp::Reopen,
];

impl SimOp {
    pub fn may_commit(&self) -> bool {
        !matches!(self, SimOp::Flush | SimOp::Compact | SimOp::Reopen | SimOp::Transaction { rollback: true })
    }

    /// Whether a successful return makes every earlier commit durable in every mode.
    pub fn makes_durable(&self) -> bool {
        matches!(self, SimOp::Flush | SimOp::Compact | SimOp::Reopen)
    }

    pub fn name(&self) -> &'static str {
        match self {
            SimOp::Commit(_) => "commit",
            SimOp::Transaction { rollback: false } => "transaction",
            SimOp::Transaction { rollback: true } => "rollback",
            SimOp::Flush => "flush",
            SimOp::Roll => "roll",
            SimOp::Compact => "compact",
            SimOp::Fork => "fork",
            SimOp::Merge => "merge",
            SimOp::Reopen => "reopen",
        }
    }

    pub fn parse(name: &str) -> Option<SimOp> {
        Some(match name {
            "commit" => SimOp::Commit(Write::Put),
            "transaction" => SimOp::Transaction { rollback: false },
            "rollback" => SimOp::Transaction { rollback: true },
            "flush" => SimOp::Flush,
            "roll" => SimOp::Roll,
            "compact" => SimOp::Compact,
            "fork" => SimOp::Fork,
            "merge" => SimOp::Merge,
            "reopen" => SimOp::Reopen,
            _ => return None,
        })
    }
}

/// A random operation: mostly single commits, sometimes the rest.
pub fn random(rng: &mut Rng) -> SimOp {
    match rng.below(100) {
        0..=59 => SimOp::Commit(WRITES[rng.below(WRITES.len() as u64) as usize]),
        60..=69 => SimOp::Transaction { rollback: rng.below(4) == 0 },
        70..=74 => SimOp::Flush,
        75..=79 => SimOp::Roll,
        80..=84 => SimOp::Compact,
        85..=88 => SimOp::Fork,
        89..=94 => SimOp::Merge,
        _ => SimOp::Reopen,
    }
}

fn int(rng: &mut Rng) -> Value {
    Value::Int(rng.below(1000) as i64)
}

/// Runs `op` (not `Reopen`, which the run handles) through the public API.
pub fn run(session: &Session, op: &SimOp, rng: &mut Rng) -> Result<()> {
    match op {
        SimOp::Commit(write) => run_write(session, *write, rng),
        SimOp::Transaction { rollback } => {
            session.begin(false)?;
            let result = (|| {
                session.kv_put(&format!("t{}", rng.below(4)), int(rng))?;
                session.json_set("doc", "$.t", int(rng))?;
                session.event_append("txn", int(rng))?;
                session.state_set("cell", int(rng))?;
                Ok(())
            })();
            if *rollback || result.is_err() {
                session.rollback()?;
                return result;
            }
            session.commit().map(drop)
        }
        SimOp::Flush => session.flush(),
        SimOp::Roll => {
            let size = super::SIM_SEGMENT_BYTES as usize;
            session.kv_put("big", Value::Bytes(vec![rng.below(256) as u8; size])).map(drop)
        }
        SimOp::Compact => session.compact(),
        SimOp::Fork => {
            let name = if session.branch_exists("side")? {
                format!("f{}", session.engine().snapshot().last_version)
            } else {
                "side".to_owned()
            };
            session.fork_branch(&name).map(drop)
        }
        SimOp::Merge => session.merge_branches("side", "lww").map(drop),
        SimOp::Reopen => Ok(()),
    }
}

fn run_write(session: &Session, write: Write, rng: &mut Rng) -> Result<()> {
    let key = format!("k{}", rng.below(6));
    match write {
        Write::Put => session.kv_put(&key, int(rng)).map(drop),
        Write::Delete => session.kv_delete(&key).map(drop),
        Write::Event => session.event_append(&format!("e{}", rng.below(2)), int(rng)).map(drop),
        Write::Json => session.json_set(&format!("d{}", rng.below(3)), "$.n", int(rng)).map(drop),
        Write::JsonDelete => session.json_delete(&format!("d{}", rng.below(3)), "$.n").map(drop),
        Write::Cell => session.state_set(&format!("c{}", rng.below(3)), int(rng)).map(drop),
        Write::Cas => {
            let cell = format!("c{}", rng.below(3));
            let expected = session.state_get(&cell)?.map(|v| v.version());
            session.state_cas(&cell, int(rng), expected).map(drop)
        }
        Write::Vector => {
            let x = rng.below(100) as f32;
            session
                .vector_upsert("vec", &format!("v{}", rng.below(4)), vec![1.0, x, 2.0], Some(Value::Int(x as i64)))
                .map(drop)
        }
        Write::VectorDelete => session.vector_delete("vec", &format!("v{}", rng.below(4))).map(drop),
        Write::SideWrite => {
            if !session.branch_exists("side")? {
                return session.kv_put(&key, int(rng)).map(drop);
            }
            session.set_branch("side")?;
            let result = session.kv_put(&key, int(rng)).map(drop);
            session.set_branch("default")?;
            result
        }
        Write::Collection => session.vector_create_collection("vec", 3, "cosine").map(drop),
    }
}
