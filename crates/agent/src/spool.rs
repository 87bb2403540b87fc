//! The on-disk spool: every snapshot is written here before it is pushed, and removed only when
//! the master acknowledged it, so neither an unreachable master nor an agent restart loses one.
//!
//! One file per snapshot, `<seq>-<taken_at_ms>.json.gz` (zero-padded, so names sort by seq),
//! holding the exact gzip body to POST. Writes go to a temporary file that is synced and renamed,
//! so a crash leaves either the whole snapshot or none of it. The spool is bounded by bytes and
//! by age: the oldest snapshots go first, and every drop is counted so the next snapshot can
//! report it. The next sequence number is kept in `next-seq`, so a restarted agent continues
//! where it stopped instead of reusing numbers the master has already seen.
//!
//! [`Spool`] is plain blocking code, tested as such; the agent's async loops reach it only
//! through [`SharedSpool`], which runs every operation on tokio's blocking pool.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("spool {path}: corrupt counter file: {content:?}")]
    CorruptSeq { path: PathBuf, content: String },
    /// The runtime shut down before a [`SharedSpool`] operation could start; nothing was
    /// written or removed.
    #[error("spool {path}: not done, the runtime is shutting down")]
    ShuttingDown { path: PathBuf },
}

/// One spooled snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    pub seq: u64,
    pub taken_at_ms: i64,
    pub path: PathBuf,
    pub bytes: u64,
}

#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    max_age_ms: i64,
    queue: VecDeque<Spooled>,
    total_bytes: u64,
    next_seq: u64,
    dropped: u64,
}

const SEQ_FILE: &str = "next-seq";
/// How many snapshots were ever dropped, so the count the master sees survives a restart.
const DROPPED_FILE: &str = "dropped";
const SUFFIX: &str = ".json.gz";

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, picking up what a previous run left.
    pub fn open(dir: &Path, max_bytes: u64, max_age_ms: i64) -> Result<Self, SpoolError> {
        let io = |source| SpoolError::Io {
            path: dir.to_owned(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        let mut queue = Vec::new();
        for entry in fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") {
                // A write the previous run did not finish: never acknowledged, never complete.
                let _ = fs::remove_file(entry.path());
                continue;
            }
            let Some((seq, taken_at_ms)) = parse_name(&name) else {
                continue;
            };
            let bytes = entry.metadata().map_err(io)?.len();
            queue.push(Spooled {
                seq,
                taken_at_ms,
                path: entry.path(),
                bytes,
            });
        }
        queue.sort_by_key(|s| s.seq);
        let seq_path = dir.join(SEQ_FILE);
        let stored_next = read_counter(&seq_path)?;
        let dropped = read_counter(&dir.join(DROPPED_FILE))?.unwrap_or(0);
        let after_queue = queue.last().map_or(1, |s| s.seq + 1);
        let total_bytes = queue.iter().map(|s| s.bytes).sum();
        Ok(Self {
            dir: dir.to_owned(),
            max_bytes,
            max_age_ms,
            queue: queue.into(),
            total_bytes,
            next_seq: stored_next.unwrap_or(1).max(after_queue),
            dropped,
        })
    }

    /// Reserves the next sequence number, durably: it is never handed out twice.
    pub fn next_seq(&mut self) -> Result<u64, SpoolError> {
        let seq = self.next_seq;
        write_atomically(&self.dir.join(SEQ_FILE), (seq + 1).to_string().as_bytes())?;
        self.next_seq = seq + 1;
        Ok(seq)
    }

    /// Stores a snapshot body, then enforces the bounds (the new snapshot is always kept).
    pub fn push(&mut self, seq: u64, taken_at_ms: i64, body: &[u8]) -> Result<(), SpoolError> {
        let path = self.dir.join(format!("{seq:020}-{taken_at_ms:020}{SUFFIX}"));
        write_atomically(&path, body)?;
        let bytes = body.len() as u64;
        self.queue.push_back(Spooled {
            seq,
            taken_at_ms,
            path,
            bytes,
        });
        self.total_bytes += bytes;
        while self.total_bytes > self.max_bytes && self.queue.len() > 1 {
            self.drop_oldest()?;
        }
        Ok(())
    }

    /// Drops snapshots older than the age bound; returns how many.
    pub fn expire(&mut self, now_ms: i64) -> Result<u64, SpoolError> {
        let mut dropped = 0;
        while self
            .queue
            .front()
            .is_some_and(|s| now_ms - s.taken_at_ms > self.max_age_ms)
        {
            self.drop_oldest()?;
            dropped += 1;
        }
        Ok(dropped)
    }

    fn drop_oldest(&mut self) -> Result<(), SpoolError> {
        if let Some(oldest) = self.queue.pop_front() {
            remove(&oldest.path)?;
            self.total_bytes -= oldest.bytes;
            self.count_drop()?;
        }
        Ok(())
    }

    /// The oldest snapshot still to deliver.
    pub fn oldest(&self) -> Option<&Spooled> {
        self.queue.front()
    }

    pub fn read(&self, spooled: &Spooled) -> Result<Vec<u8>, SpoolError> {
        fs::read(&spooled.path).map_err(|source| SpoolError::Io {
            path: spooled.path.clone(),
            source,
        })
    }

    /// The master acknowledged `seq` (stored or duplicate): forget it.
    pub fn ack(&mut self, seq: u64) -> Result<(), SpoolError> {
        if let Some(done) = self
            .queue
            .iter()
            .position(|s| s.seq == seq)
            .and_then(|i| self.queue.remove(i))
        {
            remove(&done.path)?;
            self.total_bytes -= done.bytes;
        }
        Ok(())
    }

    /// A snapshot the master refused as bad input: it will never be accepted, so it is dropped
    /// (and counted) instead of blocking the ones behind it.
    pub fn reject(&mut self, seq: u64) -> Result<(), SpoolError> {
        self.ack(seq)?;
        self.count_drop()
    }

    fn count_drop(&mut self) -> Result<(), SpoolError> {
        self.dropped += 1;
        write_atomically(&self.dir.join(DROPPED_FILE), self.dropped.to_string().as_bytes())
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Snapshots ever dropped from this spool (kept across restarts).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// The spool shared by the agent's loops, for async code.
///
/// Every operation runs on tokio's blocking pool, never on a runtime worker thread: a spool
/// write is a write, an fsync of the file, a rename and an fsync of the directory, and a drop or
/// an acknowledgement removes files and rewrites the drop counter the same way. On a slow or
/// busy disk one flush takes from milliseconds to seconds, and on a worker it would stall every
/// task scheduled there — delivery, the command poll, the resource watchers, `/metrics` — for
/// as long.
#[derive(Debug, Clone)]
pub struct SharedSpool {
    spool: Arc<Mutex<Spool>>,
    dir: PathBuf,
}

impl SharedSpool {
    pub fn new(spool: Spool) -> Self {
        Self {
            dir: spool.dir.clone(),
            spool: Arc::new(Mutex::new(spool)),
        }
    }

    /// Runs `f` with the spool locked, on the blocking pool. Everything `f` does happens under
    /// one lock, as one step for the other loops: put a whole sequence (expire, next seq,
    /// write) in one call so nothing comes between its parts. CPU-heavy work that must see the
    /// spool's state (encoding a snapshot with the spool's drop count) belongs in `f` too, off
    /// the workers for the same reason. A panic in `f` resumes in the caller.
    pub async fn with<T, E>(
        &self,
        f: impl FnOnce(&mut Spool) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<SpoolError> + Send + 'static,
    {
        let spool = Arc::clone(&self.spool);
        let done = tokio::task::spawn_blocking(move || {
            let mut spool = spool.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut spool)
        })
        .await;
        match done {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(SpoolError::ShuttingDown {
                path: self.dir.clone(),
            }
            .into()),
        }
    }
}

/// A number kept in a file of its own; `None` when the file does not exist yet.
fn read_counter(path: &Path) -> Result<Option<u64>, SpoolError> {
    match fs::read_to_string(path) {
        Ok(text) => text
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| SpoolError::CorruptSeq {
                path: path.to_owned(),
                content: text.clone(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SpoolError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

fn parse_name(name: &str) -> Option<(u64, i64)> {
    let stem = name.strip_suffix(SUFFIX)?;
    let (seq, taken) = stem.split_once('-')?;
    Some((seq.parse().ok()?, taken.parse().ok()?))
}

fn write_atomically(path: &Path, data: &[u8]) -> Result<(), SpoolError> {
    let io = |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).map_err(io)?;
    file.write_all(data).map_err(io)?;
    file.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        // The rename itself must reach the disk too.
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

fn remove(path: &Path) -> Result<(), SpoolError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(SpoolError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_in_order_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 20, 3_600_000).unwrap();
        for _ in 0..3 {
            let seq = spool.next_seq().unwrap();
            spool
                .push(
                    seq,
                    1000 * i64::try_from(seq).unwrap(),
                    format!("body {seq}").as_bytes(),
                )
                .unwrap();
        }
        spool.ack(1).unwrap();
        drop(spool);
        let mut reopened = Spool::open(dir.path(), 1 << 20, 3_600_000).unwrap();
        assert_eq!(reopened.len(), 2);
        let oldest = reopened.oldest().unwrap().clone();
        assert_eq!(
            (oldest.seq, reopened.read(&oldest).unwrap()),
            (2, b"body 2".to_vec())
        );
        assert_eq!(
            reopened.next_seq().unwrap(),
            4,
            "sequence numbers are never reused"
        );
    }

    #[test]
    fn the_seq_survives_an_empty_spool() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 20, 3_600_000).unwrap();
        let seq = spool.next_seq().unwrap();
        spool.push(seq, 0, b"x").unwrap();
        spool.ack(seq).unwrap();
        drop(spool);
        assert_eq!(
            Spool::open(dir.path(), 1 << 20, 3_600_000)
                .unwrap()
                .next_seq()
                .unwrap(),
            2
        );
    }

    #[test]
    fn over_its_bound_it_drops_the_oldest_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 25, 3_600_000).unwrap();
        for seq in 1..=5 {
            spool.push(seq, 0, &[b'x'; 10]).unwrap();
        }
        assert_eq!(spool.len(), 2);
        assert_eq!(spool.dropped(), 3);
        assert_eq!(spool.oldest().unwrap().seq, 4);
        assert!(spool.bytes() <= 25);
        assert_eq!(
            Spool::open(dir.path(), 25, 3_600_000).unwrap().dropped(),
            3,
            "the drop count survives a restart"
        );
        assert_eq!(
            fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    let name = e.as_ref().unwrap().file_name();
                    name != SEQ_FILE && name != DROPPED_FILE
                })
                .count(),
            2
        );
    }

    #[test]
    fn old_snapshots_expire_and_count() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 1 << 20, 60_000).unwrap();
        spool.push(1, 0, b"a").unwrap();
        spool.push(2, 50_000, b"b").unwrap();
        assert_eq!(spool.expire(100_000).unwrap(), 1);
        assert_eq!((spool.oldest().unwrap().seq, spool.dropped()), (2, 1));
    }

    #[test]
    fn unfinished_writes_are_discarded_on_open() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("00000000000000000007-00000000000000000000.tmp"),
            b"half",
        )
        .unwrap();
        let spool = Spool::open(dir.path(), 1 << 20, 60_000).unwrap();
        assert!(spool.is_empty());
        assert!(fs::read_dir(dir.path()).unwrap().next().is_none());
    }

    #[tokio::test]
    async fn the_shared_spool_keeps_the_order_of_its_calls() {
        let dir = tempfile::tempdir().unwrap();
        let shared = SharedSpool::new(Spool::open(dir.path(), 1 << 20, 3_600_000).unwrap());
        for _ in 0..3 {
            let seq = shared
                .with(|spool| {
                    let seq = spool.next_seq()?;
                    spool.push(seq, 0, format!("body {seq}").as_bytes())?;
                    Ok::<_, SpoolError>(seq)
                })
                .await
                .unwrap();
            assert!(seq <= 3);
        }
        shared.with(|spool| spool.ack(1)).await.unwrap();
        let (oldest, body) = shared
            .with(|spool| {
                let oldest = spool.oldest().cloned().unwrap();
                let body = spool.read(&oldest)?;
                Ok::<_, SpoolError>((oldest.seq, body))
            })
            .await
            .unwrap();
        assert_eq!((oldest, body), (2, b"body 2".to_vec()));
        assert_eq!(
            shared
                .with(|spool| Ok::<_, SpoolError>(spool.len()))
                .await
                .unwrap(),
            2
        );
    }

    #[test]
    fn a_corrupt_seq_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(SEQ_FILE), b"seven").unwrap();
        let e = Spool::open(dir.path(), 1, 1).unwrap_err().to_string();
        assert!(e.contains("next-seq") && e.contains("seven"), "{e}");
    }
}
