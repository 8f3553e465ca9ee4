//! The data model: version chains and the immutable state that readers see.

pub mod chain;
pub mod state;

pub use chain::{Chain, ChainNode, Versioned};
pub use state::{
    BranchInfo, BranchState, Collection, DbState, Event, EventLog, EventOrigin, Name, SpaceState, VectorValue, DEFAULT,
};
