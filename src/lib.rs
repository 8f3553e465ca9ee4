//! StrataDB engine: an embedded, branchable, versioned store for AI agents.
//!
//! This crate knows nothing of Python. The binding crate in `python/` converts values
//! and maps errors; everything else lives here. A newcomer's map:
//!
//! - [`session`]: the API every binding calls (one handle: current branch, space, transaction).
//! - [`engine`]: the shared engine behind the handles: published state and the writer path.
//! - [`commit`]: what a commit is, how it is applied, and the seam to the log.
//! - [`model`]: version chains and the immutable state readers see.
//! - [`branch_ops`]: diff and three-way merge; [`bundle`]: branch export and import.
//! - [`time_travel`]: reads as of a past version; [`retention`]: how much history is kept.
//! - [`json_path`], [`vector_index`]: the document path language and vector search.
//! - [`value`], [`packed`] (values kept encoded), [`keys`], [`limits`], [`error`]: values, key rules, limits, errors.

pub mod blocking;
pub mod branch_ops;
pub mod bundle;
pub mod commit;
pub mod durability;
pub mod engine;
pub mod error;
pub mod json_path;
pub mod keys;
pub mod limits;
pub mod model;
pub mod packed;
pub mod retention;
pub mod session;
pub mod storage;
pub(crate) mod sync;
pub mod time_travel;
pub mod value;
pub mod vector_index;

pub use durability::OpenOptions;
pub use engine::{Durability, Engine};
pub use error::{Error, ErrorKind, Result};
pub use session::Session;
pub use packed::Packed;
pub use value::{Object, Value};
