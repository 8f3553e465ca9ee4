//! The commit path: what a commit is, how it is applied, and where it is logged.

pub mod apply;
pub mod log;
pub mod record;

pub use apply::apply;
pub use log::{CommitLog, MemoryLog};
pub use record::{Commit, CommitBody, Mutation};
