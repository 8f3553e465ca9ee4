//! The one seam through which the engine touches files.
//!
//! Every read, write, fsync, rename, removal, listing and lock goes through
//! [`Storage`], so that tests can put the engine on a simulated disk that loses unsynced
//! writes, tears them, or fails (the power-loss simulator of the stress harness). The
//! real implementation, [`FsStorage`], is a thin layer over `std::fs`.
//!
//! Fault model the engine assumes (see wal-format/FORMAT.md, "Assumptions about the
//! disk"): data written but not fsynced may be lost, torn, or zero-filled after a
//! crash; a file's creation, rename or removal is durable only after an fsync of its
//! directory; fsync either succeeds or the data's fate is unknown.

mod fs;

use std::io;
use std::path::{Path, PathBuf};

pub use fs::FsStorage;

/// An open file written by appending.
pub trait StorageFile: Send + Sync {
    /// Appends all of `data` at the end of the file.
    fn append(&self, data: &[u8]) -> io::Result<()>;
    /// Makes the file's data durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
    /// Truncates or extends the file to `length` bytes.
    fn set_len(&self, length: u64) -> io::Result<()>;
    /// Overwrites bytes already in the file, from `offset`, with `data` (which must not
    /// reach past the end). Recovery rewrites a log tail with its own bytes so that the
    /// next fsync carries them even if the kernel had dropped them after a failed fsync.
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()>;
}

/// An exclusive lock on a database directory, released on drop.
pub trait DirectoryLock: Send + Sync {}

/// The file-system operations the engine uses.
pub trait Storage: Send + Sync {
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Names of the entries of a directory (not paths), in no particular order.
    fn list(&self, directory: &Path) -> io::Result<Vec<String>>;
    fn exists(&self, path: &Path) -> bool;
    fn is_directory(&self, path: &Path) -> bool;
    /// Reads a whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Creates (or truncates) a file for appending.
    fn create(&self, path: &Path) -> io::Result<Box<dyn StorageFile>>;
    /// Opens an existing file for appending at its end.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn StorageFile>>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_directory(&self, directory: &Path) -> io::Result<()>;
    /// Takes the exclusive lock at `path` (a lock file), writing our pid into it. Fails
    /// at once with an error naming the holder's pid if another process holds it.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn DirectoryLock>>;
}

/// Writes `data` to `path` atomically: a temporary file, fsynced, renamed over `path`,
/// then the directory fsynced. After a crash, `path` holds either the old or the new
/// content, never a mix.
pub fn write_atomically(storage: &dyn Storage, path: &Path, data: &[u8]) -> io::Result<()> {
    let temporary = temporary_path(path);
    let file = storage.create(&temporary)?;
    file.append(data)?;
    file.sync_data()?;
    drop(file);
    storage.rename(&temporary, path)?;
    storage.sync_directory(parent(path))
}

/// The temporary name used while writing `path` (cleaned up on open).
pub fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// The directory holding `path`.
pub fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or_else(|| Path::new("."))
}
