//! Opening an arbitrary directory image, for the `open_directory` fuzz target and its
//! corpus replay test: the input is a list of files, each `[name selector: u8][length:
//! u16 LE][bytes]`, the names chosen from those a database directory holds. The engine
//! opens it on the simulated disk (writable, so repairs run too); it must never panic,
//! and a database it opens must show the same state when opened again.

use std::collections::BTreeMap;

use stratadb::{Durability, OpenOptions, Session};

use super::disk::{DiskState, SimDisk};
use super::{fingerprint, Tag};

/// The file names an input can use.
pub const NAMES: [&str; 10] = [
    "db/MANIFEST",
    "db/wal/00000000000000000001.log",
    "db/wal/00000000000000000002.log",
    "db/wal/00000000000000000003.log",
    "db/snapshots/00000000000000000001.snap",
    "db/snapshots/00000000000000000002.snap",
    "db/strata.toml",
    "db/MANIFEST.tmp",
    "db/snapshots/00000000000000000003.snap.tmp",
    "db/wal/00000000000000000009.log",
];

/// Decodes an input into files (later entries for a name replace earlier ones).
pub fn files_of(data: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut rest = data;
    while let [selector, low, high, tail @ ..] = rest {
        let length = usize::from(u16::from_le_bytes([*low, *high])).min(tail.len());
        files.insert(NAMES[usize::from(*selector) % NAMES.len()].to_owned(), tail[..length].to_vec());
        rest = &tail[length..];
    }
    files
}

/// Encodes files as an input (the inverse of [`files_of`] for names in [`NAMES`]).
pub fn input_of(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, bytes) in files {
        let Some(selector) = NAMES.iter().position(|n| n == name) else { continue };
        let chunk = bytes.get(..usize::from(u16::MAX)).unwrap_or(bytes);
        out.push(selector as u8);
        out.extend_from_slice(&(chunk.len() as u16).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// Opens the image an input describes. Panics only on a finding.
pub fn open_directory(data: &[u8]) {
    let mut files = files_of(data);
    // Every image has the database directory (an empty one is a new database).
    files.entry("db/strata.toml".to_owned()).or_insert_with(|| b"durability = \"always\"\n".to_vec());
    let disk: SimDisk<Tag> = SimDisk::new(DiskState::from_files(&files), Tag::default(), 0);
    let options = || OpenOptions { durability: Some(Durability::Always), storage: disk.storage(), ..OpenOptions::default() };
    let Ok(session) = Session::open(&disk.db_path(), options()) else { return };
    let first_state = session.engine().snapshot();
    let first = fingerprint(&first_state).expect("an opened state encodes");
    session.close().expect("closing an opened database on a healthy disk succeeds");
    let again = Session::open(&disk.db_path(), options()).expect("a database that opened opens again");
    let second_state = again.engine().snapshot();
    assert_eq!(first_state.last_version, second_state.last_version, "a second open shows another version");
    // Without a MANIFEST (and so without a snapshot) the default branch's creation time
    // is recorded nowhere and each open gives it a new one (docs/recovery.md row 34, a
    // known gap): compare the rest only when a manifest exists.
    if disk.state().file("db/MANIFEST").is_some() {
        let second = fingerprint(&second_state).expect("an opened state encodes");
        assert!(first == second, "a second open shows another state");
    }
    again.close().expect("closing again succeeds");
}

/// Writes seed inputs for every fuzz target into `directory/<target>/`: the files of a
/// small database built on the simulated disk (cleanly closed and crashed), and a torn
/// copy of its last segment.
pub fn write_corpus(directory: &std::path::Path) -> Result<usize, String> {
    let mut written = 0;
    let mut put = |target: &str, name: &str, bytes: &[u8]| -> Result<(), String> {
        let folder = directory.join(target);
        std::fs::create_dir_all(&folder).map_err(|e| e.to_string())?;
        std::fs::write(folder.join(name), bytes).map_err(|e| e.to_string())?;
        written += 1;
        Ok(())
    };
    for (condition, durability, closed) in super::corruption::CONDITIONS {
        let built = super::corruption::build(durability, closed, 1500)?;
        let files = built.image.files();
        for (path, bytes) in &files {
            let name = path.rsplit('/').next().unwrap_or(path);
            if path.ends_with(".log") {
                put("segment", &format!("{condition}-{name}"), bytes)?;
                put("segment", &format!("{condition}-torn-{name}"), &bytes[..bytes.len() - bytes.len() / 7])?;
            } else if path.ends_with(".snap") {
                put("snapshot", &format!("{condition}-{name}"), bytes)?;
            } else if name == "MANIFEST" {
                put("manifest", &format!("{condition}-{name}"), bytes)?;
            }
        }
        put("open_directory", condition, &input_of(&files))?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays the `open_directory` corpus of the fuzz targets (fuzz/corpus/).
    #[test]
    fn every_open_directory_corpus_input_opens_or_is_refused_without_a_panic() {
        let folder = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/open_directory");
        let mut count = 0;
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            open_directory(&std::fs::read(&path).unwrap());
            count += 1;
        }
        assert!(count > 0, "the open_directory corpus is empty");
    }

    /// The seeds describe real databases: a cleanly closed one opens with its commits.
    #[test]
    fn the_closed_seed_is_a_database_that_opens_with_its_commits() {
        let folder = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/open_directory");
        let files = files_of(&std::fs::read(folder.join("closed")).unwrap());
        let disk: SimDisk<Tag> = SimDisk::new(DiskState::from_files(&files), Tag::default(), 0);
        let session = Session::open(&disk.db_path(), OpenOptions { storage: disk.storage(), ..OpenOptions::default() }).unwrap();
        assert!(session.engine().snapshot().last_version > 100);
        session.close().unwrap();
    }
}
