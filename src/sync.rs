//! The synchronization the commit path is built on, behind one API, so that the real
//! code can be model-checked with loom (`tests/loom.rs`, docs/testing.md "Loom").
//!
//! A normal build re-exports what the engine always used: `parking_lot`'s `Mutex`,
//! `MutexGuard` and `Condvar`, `std`'s atomics and thread `Builder`, and `arc_swap`'s
//! `ArcSwapOption`; it adds nothing at run time. A `--cfg loom` build puts the same API
//! over loom's types, which loom schedules in every interleaving it explores:
//!
//! - `Mutex::lock` returns the guard (no poisoning), `Mutex::try_lock` an `Option` of
//!   it, `MutexGuard::unlocked` releases the lock around a closure, and `Condvar::wait`
//!   takes the guard by `&mut`, as in `parking_lot`.
//! - loom has no clock. A timed wait (`Condvar::wait_for`, `Condvar::wait_until`) is
//!   modelled as a timeout that may fire at any moment: it releases the lock, lets every
//!   other thread run (`yield_now`), takes the lock again, and reports "timed out" unless
//!   the condition variable was notified meanwhile. Code must therefore be correct
//!   whether a timed wait ends early, late or spuriously (only latency may depend on
//!   it), which is what loom then checks; untimed waits stay real waits, so a lost
//!   wakeup on one is reported as a deadlock.
//! - `ArcSwapOption` is a stand-in: a loom `Mutex<Option<Arc<T>>>` with `new`,
//!   `load_full` and `store`. `arc_swap`'s loads and stores are linearizable, as the
//!   stand-in's are, so the models check the publish protocol, not `arc_swap` itself.
//!
//! Only the primitives of protocols that have a loom model go through here (the log
//! writer's group commit, poisoning and flusher; the engine's writer lock, published
//! state and closed flag). Counters that only report (`fsyncs`, `log_bytes`) stay plain
//! `std` atomics, which loom does not schedule.

#[cfg(not(loom))]
pub use arc_swap::ArcSwapOption;
#[cfg(not(loom))]
pub use parking_lot::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub use std::sync::atomic::{AtomicBool, AtomicUsize};
#[cfg(not(loom))]
pub use std::thread::{Builder as ThreadBuilder, JoinHandle};

#[cfg(loom)]
pub use loom::sync::atomic::{AtomicBool, AtomicUsize};
#[cfg(loom)]
pub use loom::thread::{Builder as ThreadBuilder, JoinHandle};
#[cfg(loom)]
pub use loom_impl::{ArcSwapOption, Condvar, Mutex, MutexGuard};

#[cfg(loom)]
mod loom_impl {
    use std::ops::{Deref, DerefMut};
    use std::sync::{Arc, PoisonError};
    use std::time::{Duration, Instant};

    use loom::sync::atomic::{AtomicUsize, Ordering};

    /// A loom mutex with `parking_lot`'s API.
    #[derive(Debug, Default)]
    pub struct Mutex<T> {
        inner: loom::sync::Mutex<T>,
    }

    impl<T> Mutex<T> {
        pub fn new(value: T) -> Mutex<T> {
            Mutex { inner: loom::sync::Mutex::new(value) }
        }

        pub fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard { mutex: &self.inner, guard: Some(self.inner.lock().unwrap_or_else(PoisonError::into_inner)) }
        }

        pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            let guard = match self.inner.try_lock() {
                Ok(guard) => guard,
                Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return None,
            };
            Some(MutexGuard { mutex: &self.inner, guard: Some(guard) })
        }
    }

    /// Holds the lock except while [`MutexGuard::unlocked`] or a condition-variable
    /// wait runs (then `guard` is `None` and nobody can reach the guard).
    pub struct MutexGuard<'a, T> {
        mutex: &'a loom::sync::Mutex<T>,
        guard: Option<loom::sync::MutexGuard<'a, T>>,
    }

    impl<'a, T> MutexGuard<'a, T> {
        /// Runs `f` with the lock released, then takes it again.
        pub fn unlocked<U>(this: &mut MutexGuard<'a, T>, f: impl FnOnce() -> U) -> U {
            this.guard = None;
            let result = f();
            this.guard = Some(this.mutex.lock().unwrap_or_else(PoisonError::into_inner));
            result
        }

        fn take(&mut self) -> loom::sync::MutexGuard<'a, T> {
            self.guard.take().expect("a MutexGuard is only empty inside unlocked() or a wait")
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.guard.as_deref().expect("a MutexGuard is only empty inside unlocked() or a wait")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.guard.as_deref_mut().expect("a MutexGuard is only empty inside unlocked() or a wait")
        }
    }

    /// Whether a timed wait ended without a notification.
    #[derive(Debug, Clone, Copy)]
    pub struct WaitTimeoutResult(bool);

    impl WaitTimeoutResult {
        pub fn timed_out(self) -> bool {
            self.0
        }
    }

    /// A loom condition variable with `parking_lot`'s API; timed waits as described in
    /// the module documentation.
    #[derive(Debug, Default)]
    pub struct Condvar {
        inner: loom::sync::Condvar,
        /// Notifications so far: a timed wait that saw none "timed out".
        notifications: AtomicUsize,
    }

    impl Condvar {
        pub fn new() -> Condvar {
            Condvar::default()
        }

        pub fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let inner = guard.take();
            guard.guard = Some(self.inner.wait(inner).unwrap_or_else(PoisonError::into_inner));
        }

        pub fn wait_for<T>(&self, guard: &mut MutexGuard<'_, T>, _timeout: Duration) -> WaitTimeoutResult {
            self.timed_wait(guard)
        }

        pub fn wait_until<T>(&self, guard: &mut MutexGuard<'_, T>, _deadline: Instant) -> WaitTimeoutResult {
            self.timed_wait(guard)
        }

        fn timed_wait<T>(&self, guard: &mut MutexGuard<'_, T>) -> WaitTimeoutResult {
            let seen = self.notifications.load(Ordering::SeqCst);
            MutexGuard::unlocked(guard, loom::thread::yield_now);
            WaitTimeoutResult(self.notifications.load(Ordering::SeqCst) == seen)
        }

        pub fn notify_one(&self) -> bool {
            self.notifications.fetch_add(1, Ordering::SeqCst);
            self.inner.notify_one();
            true
        }

        pub fn notify_all(&self) -> usize {
            self.notifications.fetch_add(1, Ordering::SeqCst);
            self.inner.notify_all();
            0
        }
    }

    /// The stand-in for `arc_swap::ArcSwapOption`: the published value behind a loom mutex.
    #[derive(Debug)]
    pub struct ArcSwapOption<T> {
        current: Mutex<Option<Arc<T>>>,
    }

    impl<T> ArcSwapOption<T> {
        pub fn new(value: Option<Arc<T>>) -> ArcSwapOption<T> {
            ArcSwapOption { current: Mutex::new(value) }
        }

        pub fn load_full(&self) -> Option<Arc<T>> {
            self.current.lock().clone()
        }

        pub fn store(&self, value: Option<Arc<T>>) {
            *self.current.lock() = value;
        }
    }
}
