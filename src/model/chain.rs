//! Version chains: the history of one record, newest first.
//!
//! A chain is a persistent singly linked list of `Arc` nodes. Prepending a version is
//! O(1) and shares the older nodes with every snapshot that still holds them, so a
//! reader's snapshot never changes under it. Invariants: versions strictly decrease
//! from head to tail; a `None` value is a tombstone (a delete), which stays in the
//! history. Dropping a long chain is iterative, never recursive, so a cell updated a
//! million times cannot overflow the stack when it is freed.

use std::sync::Arc;

use crate::model::as_of::AsOf;

/// One version of a record.
#[derive(Debug)]
pub struct ChainNode<T> {
    version: u64,
    timestamp: u64,
    value: Option<T>,
    older: Option<Arc<ChainNode<T>>>,
}

impl<T> ChainNode<T> {
    pub fn version(&self) -> u64 {
        self.version
    }
    /// Microseconds since the Unix epoch, taken at commit.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }
    /// The value, or `None` for a delete.
    pub fn value(&self) -> Option<&T> {
        self.value.as_ref()
    }
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }
    pub fn older(&self) -> Option<&Arc<ChainNode<T>>> {
        self.older.as_ref()
    }
}

impl<T> Drop for ChainNode<T> {
    fn drop(&mut self) {
        // Unlink iteratively: take each older node we own outright and drop it with
        // its link already removed, so the drop never recurses down the chain.
        let mut next = self.older.take();
        while let Some(node) = next {
            match Arc::try_unwrap(node) {
                Ok(mut owned) => next = owned.older.take(),
                Err(_) => break,
            }
        }
    }
}

/// A handle on the newest version of a record (cheap to clone).
pub type Versioned<T> = Arc<ChainNode<T>>;

/// The history of one record; `head` is the newest version.
#[derive(Debug)]
pub struct Chain<T> {
    head: Arc<ChainNode<T>>,
}

/// Identity, not value: two chains are equal when they are the same history (the same
/// head node, shared by a fork or a snapshot). This is what lets a structural diff of
/// two maps (`imbl::OrdMap::diff`) skip everything two branches still share; callers
/// compare values where identities differ.
impl<T> PartialEq for Chain<T> {
    fn eq(&self, other: &Chain<T>) -> bool {
        Arc::ptr_eq(&self.head, &other.head)
    }
}

impl<T> Clone for Chain<T> {
    fn clone(&self) -> Self {
        Chain { head: Arc::clone(&self.head) }
    }
}

impl<T> Chain<T> {
    /// A chain with one version.
    pub fn new(version: u64, timestamp: u64, value: Option<T>) -> Self {
        Chain { head: Arc::new(ChainNode { version, timestamp, value, older: None }) }
    }

    /// Returns a chain whose head is a new version on top of `previous` (if any).
    pub fn push(previous: Option<&Chain<T>>, version: u64, timestamp: u64, value: Option<T>) -> Self {
        let older = previous.map(|chain| Arc::clone(&chain.head));
        debug_assert!(older.as_ref().is_none_or(|node| node.version < version));
        Chain { head: Arc::new(ChainNode { version, timestamp, value, older }) }
    }

    /// Like [`Chain::push`], but if the head already has `version` (a second write in
    /// the same commit), the new value takes its place instead of stacking on it.
    pub fn replace_or_push(previous: &Chain<T>, version: u64, timestamp: u64, value: Option<T>) -> Self {
        if previous.head.version == version {
            let older = previous.head.older.clone();
            return Chain { head: Arc::new(ChainNode { version, timestamp, value, older }) };
        }
        Chain::push(Some(previous), version, timestamp, value)
    }

    pub fn head(&self) -> &Versioned<T> {
        &self.head
    }

    /// The newest live value, or `None` if the newest version is a delete.
    pub fn live(&self) -> Option<&T> {
        self.head.value()
    }

    /// The newest version whose number is at most `version`.
    pub fn as_of(&self, version: u64) -> Option<&Versioned<T>> {
        self.iter().find(|node| node.version <= version)
    }

    /// The version visible at `point`: the newest one written at or before it.
    pub fn visible(&self, point: AsOf) -> Option<&Versioned<T>> {
        self.iter().find(|node| point.includes(node.version, node.timestamp))
    }

    /// The chain as it was when `node` (one of its versions) was the newest. O(1): the
    /// older versions are shared.
    pub fn from_head(node: &Versioned<T>) -> Chain<T> {
        Chain { head: Arc::clone(node) }
    }

    /// The chain with only its newest `keep` versions (at least one), or `None` when it
    /// has no more than that. The kept versions are copied; the dropped ones are freed
    /// once no snapshot holds them.
    pub fn truncated(&self, keep: usize) -> Option<Chain<T>>
    where
        T: Clone,
    {
        let keep = keep.max(1);
        let kept: Vec<&Versioned<T>> = self.iter().take(keep + 1).collect();
        if kept.len() <= keep {
            return None;
        }
        let mut rebuilt: Option<Chain<T>> = None;
        for node in kept.iter().take(keep).rev() {
            rebuilt = Some(Chain::push(rebuilt.as_ref(), node.version, node.timestamp, node.value.clone()));
        }
        rebuilt
    }

    /// Every version, newest first.
    pub fn iter(&self) -> ChainIter<'_, T> {
        ChainIter { next: Some(&self.head) }
    }

    /// Number of versions (walks the chain).
    pub fn depth(&self) -> usize {
        self.iter().count()
    }
}

/// Iterator over a chain, newest first.
pub struct ChainIter<'a, T> {
    next: Option<&'a Versioned<T>>,
}

impl<'a, T> Iterator for ChainIter<'a, T> {
    type Item = &'a Versioned<T>;
    fn next(&mut self) -> Option<Self::Item> {
        let node = self.next?;
        self.next = node.older.as_ref();
        Some(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_lists_versions_newest_first_and_keeps_tombstones() {
        let a = Chain::new(1, 10, Some("a"));
        let b = Chain::push(Some(&a), 3, 30, None);
        let c = Chain::push(Some(&b), 7, 70, Some("c"));
        let versions: Vec<u64> = c.iter().map(|n| n.version()).collect();
        assert_eq!(versions, vec![7, 3, 1]);
        assert_eq!(c.live(), Some(&"c"));
        assert_eq!(b.live(), None);
        assert_eq!(c.as_of(5).map(|n| n.version()), Some(3));
        assert!(c.as_of(0).is_none());
        // The older chain is untouched by pushes on top of it.
        assert_eq!(a.depth(), 1);
    }

    #[test]
    fn chain_visible_at_a_time_and_truncation_keep_the_newest_versions() {
        let a = Chain::new(1, 10, Some("a"));
        let b = Chain::push(Some(&a), 3, 30, Some("b"));
        let c = Chain::push(Some(&b), 7, 70, Some("c"));
        assert_eq!(c.visible(AsOf::Time(69)).map(|n| n.version()), Some(3));
        assert_eq!(c.visible(AsOf::Version(7)).map(|n| n.version()), Some(7));
        assert!(c.visible(AsOf::Time(9)).is_none());
        let past = Chain::from_head(c.visible(AsOf::Version(4)).unwrap());
        assert_eq!(past.live(), Some(&"b"));
        assert_eq!(past.depth(), 2);
        let short = c.truncated(2).unwrap();
        let versions: Vec<u64> = short.iter().map(|n| n.version()).collect();
        assert_eq!(versions, vec![7, 3]);
        assert!(c.truncated(3).is_none());
        assert_eq!(c.truncated(0).unwrap().depth(), 1);
        // The original is untouched.
        assert_eq!(c.depth(), 3);
    }

    #[test]
    fn chain_second_write_in_one_commit_replaces_the_head() {
        let a = Chain::new(1, 10, Some("a"));
        let b = Chain::replace_or_push(&a, 2, 20, Some("b"));
        let c = Chain::replace_or_push(&b, 2, 20, None);
        let versions: Vec<u64> = c.iter().map(|n| n.version()).collect();
        assert_eq!(versions, vec![2, 1]);
        assert_eq!(c.live(), None);
    }

    #[test]
    fn chain_drop_of_a_million_versions_does_not_overflow_the_stack() {
        let mut chain = Chain::new(1, 0, Some(0u64));
        for version in 2..1_000_000u64 {
            chain = Chain::push(Some(&chain), version, 0, Some(version));
        }
        assert_eq!(chain.head().version(), 999_999);
        drop(chain);
    }
}
