//! What a commit says: the unit the log stores and recovery replays.
//!
//! A commit is one version. Its body is a write set (a list of mutations on one branch)
//! or one branch operation. Commits are applied whole or not at all. These types are
//! persisted (postcard): only ever append enum variants, never reorder them.

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::model::{AsOf, BranchState, EventOrigin, Name};
use crate::packed::Packed;
use crate::value::Value;
use crate::vector_index::Metric;

/// The mutations of one commit. Most commits (a single `put`) hold one, which then
/// lives inline: decoding or building such a commit allocates nothing for the list.
/// Encoded exactly like a `Vec` (a length, then the items); decoded by
/// [`decode_mutations`].
pub type Mutations = SmallVec<[Mutation; 1]>;

/// Decodes [`Mutations`] without trusting the stored length for its allocation (as
/// `smallvec`'s own decoder does): room for at most 64 mutations up front, more only as
/// they actually decode.
fn decode_mutations<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Mutations, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Mutations;
        fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
            formatter.write_str("a list of mutations")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<Mutations, A::Error> {
            let mut mutations = Mutations::with_capacity(items.size_hint().unwrap_or(0).min(64));
            while let Some(mutation) = items.next_element()? {
                mutations.push(mutation);
            }
            Ok(mutations)
        }
    }
    deserializer.deserialize_seq(Visitor)
}

/// One change inside a write set. Every mutation names its space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Mutation {
    KvPut { space: Name, key: Name, value: Packed },
    KvDelete { space: Name, key: Name },
    CellPut { space: Name, cell: Name, value: Packed },
    CellDelete { space: Name, cell: Name },
    EventAppend { space: Name, event_type: Name, payload: Packed },
    /// The whole document after the change (paths are resolved before commit).
    DocumentPut { space: Name, key: Name, document: Packed },
    DocumentDelete { space: Name, key: Name },
    CollectionCreate { space: Name, collection: Name, dimension: u32, metric: Metric },
    CollectionDelete { space: Name, collection: Name },
    /// The metadata is boxed to keep every mutation small (it is moved on each commit).
    VectorPut { space: Name, collection: Name, key: Name, embedding: Vec<f32>, metadata: Option<Box<Value>> },
    VectorDelete { space: Name, collection: Name, key: Name },
    SpaceCreate { space: Name },
    /// Removes the space and everything in it, history included.
    SpaceDelete { space: Name },
    /// An event a merge brings over from another branch, keeping its origin.
    EventCopy { space: Name, event_type: Name, payload: Packed, origin: EventOrigin },
}

impl Mutation {
    pub fn space(&self) -> &str {
        match self {
            Mutation::KvPut { space, .. }
            | Mutation::KvDelete { space, .. }
            | Mutation::CellPut { space, .. }
            | Mutation::CellDelete { space, .. }
            | Mutation::EventAppend { space, .. }
            | Mutation::DocumentPut { space, .. }
            | Mutation::DocumentDelete { space, .. }
            | Mutation::CollectionCreate { space, .. }
            | Mutation::CollectionDelete { space, .. }
            | Mutation::VectorPut { space, .. }
            | Mutation::VectorDelete { space, .. }
            | Mutation::SpaceCreate { space }
            | Mutation::SpaceDelete { space }
            | Mutation::EventCopy { space, .. } => space,
        }
    }
}

/// What one commit does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CommitBody {
    /// A write set on one branch (a single write, a transaction, an import).
    Write {
        branch: Name,
        #[serde(deserialize_with = "decode_mutations")]
        mutations: Mutations,
    },
    /// A new empty branch.
    BranchCreate { branch: Name },
    /// A copy of `source` as it is at this commit, named `destination`.
    BranchFork { source: Name, destination: Name },
    BranchDelete { branch: Name },
    /// A merge of `source` into `target`: the mutations it applies to `target`, and the
    /// fact that `target` has now taken in `source` up to this commit.
    Merge {
        source: Name,
        target: Name,
        #[serde(deserialize_with = "decode_mutations")]
        mutations: Mutations,
    },
    /// A copy of `source` as it was at `at` (its later changes left out), named
    /// `destination`.
    BranchForkAt { source: Name, destination: Name, at: AsOf },
    /// A new branch `branch` built from a bundle file's bytes (kept whole, so replay
    /// rebuilds exactly what the import built). Its history keeps the exporting
    /// database's versions, all older than this commit's.
    BranchImport {
        branch: Name,
        #[serde(with = "serde_bytes")]
        bundle: Vec<u8>,
        /// The branch already rebuilt from `bundle` by the live import path (which has
        /// checked it), so that applying does not decode it twice. Never persisted;
        /// replay rebuilds from the bytes.
        #[serde(skip)]
        prebuilt: Prebuilt,
    },
}

/// A branch built ahead of its commit (see [`CommitBody::BranchImport`]). Compares
/// equal to any other: it is a cache of what the bytes say, not part of the commit.
#[derive(Clone, Default)]
pub struct Prebuilt(pub Option<std::sync::Arc<BranchState>>);

impl PartialEq for Prebuilt {
    fn eq(&self, _other: &Prebuilt) -> bool {
        true
    }
}

impl std::fmt::Debug for Prebuilt {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(if self.0.is_some() { "Prebuilt(Some(..))" } else { "Prebuilt(None)" })
    }
}

impl CommitBody {
    /// The lowest version this commit may take: an import must be newer than every
    /// version in the history it brings.
    pub fn minimum_version(&self) -> u64 {
        match self {
            CommitBody::BranchImport { bundle, .. } => crate::bundle::newest_version(bundle).map_or(0, |v| v + 1),
            _ => 0,
        }
    }
}

/// One commit: a version, its time, and what it does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Commit {
    pub version: u64,
    /// Microseconds since the Unix epoch.
    pub timestamp: u64,
    pub body: CommitBody,
}

impl Commit {
    /// About how many bytes the commit encodes to (at least that many for its values
    /// and embeddings), so the encoder can reserve its buffer once.
    pub fn encoded_size_hint(&self) -> usize {
        const FIXED: usize = 64;
        let mutation = |m: &Mutation| {
            FIXED
                + match m {
                    Mutation::KvPut { value, .. } | Mutation::CellPut { value, .. } => value.as_bytes().len(),
                    Mutation::DocumentPut { document, .. } => document.as_bytes().len(),
                    Mutation::VectorPut { embedding, .. } => 4 * embedding.len() + FIXED,
                    _ => 0,
                }
        };
        FIXED
            + match &self.body {
                CommitBody::Write { mutations, .. } | CommitBody::Merge { mutations, .. } => {
                    mutations.iter().map(mutation).sum()
                }
                CommitBody::BranchImport { bundle, .. } => bundle.len(),
                _ => 0,
            }
    }
}
