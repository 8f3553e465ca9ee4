//! Corruption sweeps: every outcome must be the one docs/recovery.md gives for it.
//!
//! A database is built on the simulated disk (several sealed segments, a compaction's
//! snapshot and manifest, then a last segment of more than 64 KiB of commits), in three
//! conditions: cleanly closed (a sync marker vouches for every frame), crashed in
//! `"always"` mode (each frame vouches for the one before it), and crashed in `"none"`
//! mode (nothing vouches for the frames after the last flush). Then, on copies:
//! - the last segment is cut at every byte offset of its last 64 KiB: a torn tail,
//!   truncated, and the database opens with exactly the commits whose frames are whole
//!   (rows 2-3);
//! - every bit of the last segment's last 4 KiB is flipped: if a later frame's
//!   watermark proves the damaged frame had been synced, the open is refused naming the
//!   segment and the frame's offset (row 7); otherwise the frame and everything after
//!   it is cut off and the database opens with the commits before it (rows 5, 8, 9);
//! - every bit of every segment header is flipped: refused, naming the segment (rows
//!   12, 13);
//! - every bit of the `MANIFEST` (row 28) and of the snapshot header, and random bits of
//!   the snapshot's blocks (row 25): refused, naming the file.
//!
//! A refused open must change no file. An open database must hold exactly the state the
//! build had at the expected version — never other data, never a silently emptier one.

use std::collections::BTreeMap;

use stratadb::{Durability, ErrorKind, OpenOptions, Session, Value};
use wal_format::{FrameOutcome, RecordType, SegmentDecoder, SegmentOpen, SEGMENT_HEADER_BYTES, SNAPSHOT_HEADER_BYTES};

use super::disk::{CrashPolicy, DiskState, SimDisk};
use super::{catching, fingerprint, References, Tag};
use crate::rng::Rng;

/// One frame of an intact segment.
#[derive(Clone, Copy, Debug)]
struct FrameSpan {
    offset: u64,
    end: u64,
    commit: bool,
    version: u64,
    /// The largest durable watermark of this frame and every frame before it.
    watermark: u64,
}

fn frames_of(bytes: &[u8]) -> Result<Vec<FrameSpan>, String> {
    let Ok(SegmentOpen::Ready(mut decoder)) = SegmentDecoder::open(bytes) else {
        return Err("the segment has no valid header".to_owned());
    };
    let mut out = Vec::new();
    loop {
        match decoder.next_frame() {
            FrameOutcome::Frame(frame) => out.push(FrameSpan {
                offset: frame.offset,
                end: decoder.position(),
                commit: frame.record_type == RecordType::Commit,
                version: frame.version,
                watermark: decoder.resume_encoder().synced_through(),
            }),
            FrameOutcome::CleanEnd => return Ok(out),
            other => return Err(format!("the built segment is damaged: {other:?}")),
        }
    }
}

/// A built database: its files and the state at every version.
pub struct Built {
    pub image: DiskState,
    pub references: References,
    /// The version the last segment starts after.
    pub last_segment_previous: u64,
}

fn options(disk: &SimDisk<Tag>, durability: Durability, segment_bytes: u64) -> OpenOptions {
    OpenOptions { durability: Some(durability), storage: disk.storage(), segment_bytes, ..OpenOptions::default() }
}

/// Builds the database; `closed` chooses a clean close or a crash (every write kept).
pub fn build(durability: Durability, closed: bool, tail_bytes: usize) -> Result<Built, String> {
    let disk = SimDisk::new(DiskState::default(), Tag::default(), 0);
    let path = disk.db_path();
    let mut references = References::default();
    let mut rng = Rng::new(99);
    let fail = |e: stratadb::Error| e.message().to_owned();
    // Small segments first: several sealed segments, then a compaction.
    let session = Session::open(&path, options(&disk, durability, 4096)).map_err(fail)?;
    references.insert(session.engine().snapshot());
    session.vector_create_collection("vec", 3, "cosine").map_err(fail)?;
    references.insert(session.engine().snapshot());
    for i in 0..120u64 {
        match i % 4 {
            0 => drop(session.kv_put(&format!("k{}", i % 7), Value::Int(i as i64)).map_err(fail)?),
            1 => drop(session.event_append("e", Value::Int(i as i64)).map_err(fail)?),
            2 => drop(session.json_set(&format!("d{}", i % 3), "$.n", Value::Int(i as i64)).map_err(fail)?),
            _ => drop(session.vector_upsert("vec", &format!("v{}", i % 5), vec![1.0, i as f32, 0.5], None).map_err(fail)?),
        }
        references.insert(session.engine().snapshot());
        if i == 30 {
            session.compact().map_err(fail)?;
        }
    }
    session.close().map_err(fail)?;
    // Then one large last segment.
    let session = Session::open(&path, options(&disk, durability, 1 << 24)).map_err(fail)?;
    session.flush().map_err(fail)?;
    let last_segment_previous = session.engine().snapshot().last_version;
    let mut written = 0usize;
    while written < tail_bytes {
        let text: String = (0..40 + rng.below(120)).map(|i| char::from(b'a' + ((i + written as u64) % 26) as u8)).collect();
        written += text.len() + 60;
        session.kv_put(&format!("t{}", rng.below(50)), Value::String(text)).map_err(fail)?;
        references.insert(session.engine().snapshot());
    }
    let image = if closed {
        session.close().map_err(fail)?;
        disk.state()
    } else {
        let image = disk.state().crash_image(CrashPolicy::KeepWritten);
        drop(session);
        image
    };
    Ok(Built { image, references, last_segment_previous })
}

/// What an open of a damaged image must do.
#[derive(Debug)]
enum Expect {
    /// Open with exactly this many commits.
    Open(u64),
    /// Refuse with an `IoError` naming this file (and this offset, when given).
    Refuse(String, Option<u64>),
}

fn check(image: DiskState, expect: &Expect, references: &mut References) -> Result<(), String> {
    let before = image.files();
    let disk: SimDisk<Tag> = SimDisk::new(image, Tag::default(), 0);
    let result = Session::open(&disk.db_path(), options(&disk, Durability::Always, 1 << 24));
    match (result, expect) {
        (Ok(session), Expect::Open(version)) => {
            let state = session.engine().snapshot();
            if state.last_version != *version {
                return Err(format!("opened at version {}, expected version {version}", state.last_version));
            }
            if *references.fingerprint(*version)? != fingerprint(&state)? {
                return Err(format!("opened at version {version} with a state the database never had"));
            }
            drop(session);
            Ok(())
        }
        (Ok(session), Expect::Refuse(..)) => {
            Err(format!("opened at version {} where the open must be refused", session.engine().snapshot().last_version))
        }
        (Err(error), Expect::Refuse(file, offset)) => {
            if error.kind() != ErrorKind::Io {
                return Err(format!("refused with a {:?} error instead of an IoError: {}", error.kind(), error.message()));
            }
            if !error.message().contains(file.as_str()) {
                return Err(format!("the refusal does not name {file}: {}", error.message()));
            }
            if let Some(offset) = offset {
                if !error.message().contains(&format!("offset {offset}")) {
                    return Err(format!("the refusal does not name offset {offset}: {}", error.message()));
                }
            }
            let mut after = disk.state().files();
            let mut before = before;
            after.remove("db/LOCK");
            before.remove("db/LOCK");
            if after != before {
                return Err("a refused open changed files".to_owned());
            }
            Ok(())
        }
        (Err(error), Expect::Open(version)) => Err(format!("refused ({}) where it must open at version {version}", error.message())),
    }
}

/// Counts per kind of damage.
pub type Tally = BTreeMap<&'static str, u64>;

fn last_segment(image: &DiskState) -> Result<String, String> {
    let name = image.names("db/wal").into_iter().filter(|n| n.ends_with(".log")).max().ok_or("no segment")?;
    Ok(format!("db/wal/{name}"))
}

/// The expected outcome of damage starting at byte `at` of the last segment.
fn expect_damage(frames: &[FrameSpan], at: u64, previous: u64, segment_name: &str) -> Expect {
    let Some(index) = frames.iter().position(|f| f.offset <= at && at < f.end) else {
        return Expect::Open(frames.iter().filter(|f| f.commit).map(|f| f.version).next_back().unwrap_or(previous));
    };
    let damaged = frames[index];
    let vouched = frames[index + 1..].iter().any(|f| f.watermark > damaged.offset);
    if vouched {
        Expect::Refuse(segment_name.to_owned(), Some(damaged.offset))
    } else {
        Expect::Open(frames[..index].iter().filter(|f| f.commit).map(|f| f.version).next_back().unwrap_or(previous))
    }
}

/// Runs every sweep on one built database; `stride` > 1 samples the offsets (short mode).
pub fn sweep(built: &mut Built, stride: usize, tally: &mut Tally, seed: u64) -> Result<(), String> {
    let segment_path = last_segment(&built.image)?;
    let segment_name = segment_path.rsplit('/').next().unwrap_or_default().to_owned();
    let bytes = built.image.file(&segment_path).ok_or("no last segment")?;
    let frames = frames_of(&bytes)?;
    let previous = built.last_segment_previous;
    let len = bytes.len();
    if len < 64 * 1024 + SEGMENT_HEADER_BYTES {
        return Err(format!("the last segment has only {len} bytes"));
    }
    // Truncation at every offset of the last 64 KiB.
    for cut in (len - 64 * 1024..len).step_by(stride) {
        let mut image = built.image.clone();
        image.set_file(&segment_path, bytes[..cut].to_vec());
        let whole = frames.iter().filter(|f| f.end <= cut as u64 && f.commit).map(|f| f.version).next_back().unwrap_or(previous);
        check(image, &Expect::Open(whole), &mut built.references).map_err(|e| format!("{segment_name} cut to {cut} bytes: {e}"))?;
        *tally.entry("truncations").or_insert(0) += 1;
    }
    // Every bit of the last 4 KiB.
    for bit in ((len - 4096) * 8..len * 8).step_by(stride) {
        let mut damaged = bytes.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        let mut image = built.image.clone();
        image.set_file(&segment_path, damaged);
        let expect = expect_damage(&frames, (bit / 8) as u64, previous, &segment_name);
        check(image, &expect, &mut built.references)
            .map_err(|e| format!("{segment_name} bit {} of byte {} flipped (expected {expect:?}): {e}", bit % 8, bit / 8))?;
        *tally.entry("log_bit_flips").or_insert(0) += 1;
        *tally.entry(if matches!(expect, Expect::Open(_)) { "(log_flips_truncated)" } else { "(log_flips_refused)" }).or_insert(0) += 1;
    }
    // Every bit of every segment header.
    for name in built.image.names("db/wal") {
        let path = format!("db/wal/{name}");
        let Some(segment) = built.image.file(&path) else { continue };
        for bit in 0..SEGMENT_HEADER_BYTES.min(segment.len()) * 8 {
            let mut damaged = segment.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            let mut image = built.image.clone();
            image.set_file(&path, damaged);
            check(image, &Expect::Refuse(name.clone(), None), &mut built.references)
                .map_err(|e| format!("{name} header bit {bit} flipped: {e}"))?;
            *tally.entry("segment_header_bit_flips").or_insert(0) += 1;
        }
    }
    // Every bit of the manifest.
    let manifest = built.image.file("db/MANIFEST").ok_or("no MANIFEST")?;
    for bit in 0..manifest.len() * 8 {
        let mut damaged = manifest.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        let mut image = built.image.clone();
        image.set_file("db/MANIFEST", damaged);
        check(image, &Expect::Refuse("MANIFEST".to_owned(), None), &mut built.references)
            .map_err(|e| format!("MANIFEST bit {bit} flipped: {e}"))?;
        *tally.entry("manifest_bit_flips").or_insert(0) += 1;
    }
    // Every bit of the snapshot header, random bits of its blocks.
    let snapshot_name = built.image.names("db/snapshots").into_iter().find(|n| n.ends_with(".snap")).ok_or("no snapshot")?;
    let snapshot_path = format!("db/snapshots/{snapshot_name}");
    let snapshot = built.image.file(&snapshot_path).ok_or("no snapshot file")?;
    let mut rng = Rng::new(seed);
    let header_bits = SNAPSHOT_HEADER_BYTES * 8;
    let random_bits = if stride > 1 { 64 } else { 2048 };
    let bits: Vec<usize> = (0..header_bits)
        .chain((0..random_bits).map(|_| header_bits + rng.below(((snapshot.len() * 8) - header_bits) as u64) as usize))
        .collect();
    for bit in bits {
        let mut damaged = snapshot.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        let mut image = built.image.clone();
        image.set_file(&snapshot_path, damaged);
        check(image, &Expect::Refuse(snapshot_name.clone(), None), &mut built.references)
            .map_err(|e| format!("{snapshot_name} bit {bit} flipped: {e}"))?;
        *tally.entry(if bit < header_bits { "snapshot_header_bit_flips" } else { "snapshot_block_bit_flips" }).or_insert(0) += 1;
    }
    Ok(())
}

/// The three conditions: cleanly closed, crashed in `"always"` mode, crashed in `"none"` mode.
pub const CONDITIONS: [(&str, Durability, bool); 3] =
    [("closed", Durability::Always, true), ("crashed-always", Durability::Always, false), ("crashed-none", Durability::None, false)];

pub fn run_condition(name: &str, durability: Durability, closed: bool, stride: usize, seed: u64) -> Result<Tally, String> {
    catching(|| {
        let mut built = build(durability, closed, 70 * 1024)?;
        let mut tally = Tally::new();
        sweep(&mut built, stride, &mut tally, seed).map_err(|e| format!("{name}: {e}"))?;
        Ok(tally)
    })
}

pub fn run_cli(seed: u64, short: bool) -> bool {
    let stride = if short { 97 } else { 1 };
    let mut ok = true;
    for (name, durability, closed) in CONDITIONS {
        match run_condition(name, durability, closed, stride, seed) {
            Ok(tally) => {
                let total: u64 = tally.iter().filter(|(k, _)| !k.starts_with('(')).map(|(_, v)| v).sum();
                let detail: Vec<String> = tally.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!(
                    "stress: corruption {name} seed={seed} cases={total} {} wrong_data=0 silently_empty=0 undetected=0 ok",
                    detail.join(" ")
                );
            }
            Err(e) => {
                ok = false;
                eprintln!("stress: corruption FAILED {name} seed={seed}: {e}");
                eprintln!("stress: replay with: cargo run --release -p stress -- --harness corruption --seed {seed}");
            }
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sampled sweep of each condition; the closed log refuses flips in its commit
    /// frames (the sync marker vouches for them), the crashed `"none"` log truncates.
    #[test]
    fn sampled_corruption_sweeps_match_the_recovery_table() {
        for (name, durability, closed) in CONDITIONS {
            let tally = run_condition(name, durability, closed, 997, 3).unwrap_or_else(|e| panic!("{e}"));
            let refused = tally.get("(log_flips_refused)").copied().unwrap_or(0);
            let truncated = tally.get("(log_flips_truncated)").copied().unwrap_or(0);
            match name {
                "closed" | "crashed-always" => assert!(refused > 0, "{name}: {tally:?}"),
                _ => assert!(truncated > 0 && refused == 0, "{name}: {tally:?}"),
            }
        }
    }
}
