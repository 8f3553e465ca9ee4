//! The commit path: what a commit is, how it is applied, and where it is logged.

pub mod apply;
pub mod log;
pub mod record;

pub use apply::{apply, apply_in_place};
pub use log::{CommitLog, MemoryLog};
pub use record::{Commit, CommitBody, Mutation, Mutations, Prebuilt};
