//! Telling the embedding when the engine is about to wait.
//!
//! An embedding that holds a lock of its own around engine calls (the Python binding
//! holds the GIL) can release it only where the engine really waits: for the writer
//! lock when another writer has it, for an fsync, for a group commit. A quick write
//! then runs with the GIL held start to end, which costs less than releasing and
//! re-taking it and does not hand the interpreter to another thread in between.
//!
//! Invariants: the hook is per thread and set only for the duration of
//! [`with_blocking_hook`]; it is cleared while it runs, so a wait inside a wait never
//! calls it twice; code run through [`blocking`] must not need what the hook releases.

use std::cell::Cell;

/// Runs a wait on behalf of the engine; must call its argument exactly once. The wait is
/// `Send` so that an embedding may hand it to an API that asks for that (PyO3's
/// `Python::detach`); it still runs on the calling thread.
pub type BlockingHook = fn(&mut (dyn FnMut() + Send));

thread_local! {
    static HOOK: Cell<Option<BlockingHook>> = const { Cell::new(None) };
}

/// Runs `call` with `hook` around every wait the engine does inside it on this thread.
pub fn with_blocking_hook<R>(hook: BlockingHook, call: impl FnOnce() -> R) -> R {
    let _restore = Restore(HOOK.with(|current| current.replace(Some(hook))));
    call()
}

/// Whether a hook is set on this thread.
pub fn hooked() -> bool {
    HOOK.with(|current| current.get().is_some())
}

/// Runs `wait`, which may block, through the current thread's hook if one is set.
pub fn blocking<R: Send>(wait: impl FnOnce() -> R + Send) -> R {
    let Some(hook) = HOOK.with(|current| current.take()) else {
        return wait();
    };
    let _restore = Restore(Some(hook));
    let mut wait = Some(wait);
    let mut result = None;
    hook(&mut || {
        if let Some(wait) = wait.take() {
            result = Some(wait());
        }
    });
    // A hook that did not run its argument is a bug in the embedding; run it here.
    match result {
        Some(result) => result,
        None => match wait.take() {
            Some(wait) => wait(),
            None => unreachable!("the wait ran but left no result"),
        },
    }
}

/// Puts the previous hook back when a scope ends, unwinding included.
struct Restore(Option<BlockingHook>);

impl Drop for Restore {
    fn drop(&mut self) {
        HOOK.with(|current| current.set(self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    fn counting(wait: &mut (dyn FnMut() + Send)) {
        CALLS.fetch_add(1, Ordering::SeqCst);
        wait();
    }

    #[test]
    fn waits_run_through_the_hook_only_inside_its_scope_and_never_nested() {
        assert_eq!(blocking(|| 1), 1);
        assert_eq!(CALLS.load(Ordering::SeqCst), 0);
        assert!(!hooked());
        let value = with_blocking_hook(counting, || {
            assert!(hooked());
            blocking(|| blocking(|| 7))
        });
        assert_eq!(value, 7);
        assert_eq!(CALLS.load(Ordering::SeqCst), 1, "a wait inside a wait called the hook again");
        assert_eq!(blocking(|| 2), 2);
        assert_eq!(CALLS.load(Ordering::SeqCst), 1, "the hook outlived its scope");
    }
}
