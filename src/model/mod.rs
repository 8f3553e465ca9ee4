//! The data model: version chains and the immutable state that readers see.

pub mod as_of;
pub mod chain;
pub mod state;

pub use as_of::AsOf;
pub use chain::{Chain, ChainNode, Versioned};
pub use state::{
    BranchInfo, BranchState, Collection, DbState, Event, EventLog, EventOrigin, HistoryFloor, Name, SpaceState, VectorValue, DEFAULT,
};
