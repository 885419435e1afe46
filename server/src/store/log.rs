//! The message log: every stored message of every room, appended as JSON Lines to segment files.
//!
//! Why this shape: the design Minitalk replaces rewrote the whole history for every write, so
//! each write cost more than the last. Here a batch costs one `write` and one `fdatasync` of just
//! its own bytes, whatever the history size and however many rooms it touches. Segments
//! (`messages/00000001.jsonl`, …) roll over at a configured size so no file grows without end.
//!
//! An in-memory index (per room: where each seq's line starts, 16 bytes a message) is rebuilt at
//! start-up by reading the segments once. A history page then reads only its own lines, with
//! positional reads, instead of scanning the history.
//!
//! Promises:
//! - A message exists (has a seq, is indexed, can be read) only after the batch holding it was
//!   written and `fdatasync`ed. Seqs of a room are 1, 2, 3, … without gaps; ids grow across rooms.
//! - A failed write is cut back off the file (so nothing half-written becomes visible) and
//!   assigns no seq. If even that fails the log is poisoned: it refuses writes until a restart,
//!   whose recovery then cuts the torn tail.
//! - Recovery cuts a torn tail of the last segment (a crash mid-write: bad bytes that run to the
//!   end of the file) and says so; any other damage, including a bad line with a valid line
//!   after it, is reported as [`StoreError::Corrupt`] with its offset rather than guessed at.
//! - A failed segment roll leaves the writer on the old segment; the next batch retries the roll
//!   and reuses the empty segment the failed one may have left.

use super::{atomic, create_private_dir, private_file, StoreError};
use crate::fasthash::FastMap;
use app::model::{ChatMessage, RoomId, Username};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How the log is laid out on disk.
#[derive(Debug, Clone, Copy)]
pub struct LogConfig {
    /// A segment at or above this size is closed and a new one started before the next batch.
    pub segment_bytes: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A message to store: everything but the seq and id, which the log assigns.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub room_id: RoomId,
    pub sender: Username,
    pub client_id: String,
    pub content: String,
    pub ts: i64,
}

/// Where one message's line is.
#[derive(Debug, Clone, Copy)]
struct Loc {
    segment: u32,
    offset: u64,
    len: u32,
}

#[derive(Debug, Default)]
struct RoomIndex {
    /// `locs[seq - 1]` is the line of message `seq`.
    locs: Vec<Loc>,
    last_ts: Option<i64>,
}

#[derive(Default)]
struct Index {
    rooms: FastMap<RoomId, RoomIndex>,
    /// Read handles, by segment number − 1.
    segments: Vec<Arc<File>>,
}

struct Writer {
    file: File,
    /// Segment number − 1 of `file`.
    segment: u32,
    len: u64,
    next_id: u64,
    poisoned: Option<String>,
    buf: Vec<u8>,
}

pub struct MessageLog {
    dir: PathBuf,
    config: LogConfig,
    index: Mutex<Index>,
    writer: Mutex<Writer>,
    #[cfg(test)]
    fail_next_writes: std::sync::atomic::AtomicUsize,
    #[cfg(test)]
    fail_next_rolls: std::sync::atomic::AtomicUsize,
}

/// What [`MessageLog::open`] found.
pub struct Recovered {
    pub log: MessageLog,
    /// Messages in the log.
    pub messages: u64,
    /// Bytes of torn tail cut off the last segment (0 after a clean stop).
    pub truncated_bytes: u64,
}

/// Whether a complete, parsable message line starts after the (bad) line at `offset`.
fn has_valid_line_after(bytes: &[u8], offset: usize) -> bool {
    let Some(end) = bytes[offset..].iter().position(|b| *b == b'\n') else {
        return false;
    };
    bytes[offset + end + 1..]
        .split_inclusive(|b| *b == b'\n')
        .any(|line| {
            line.ends_with(b"\n")
                && serde_json::from_slice::<ChatMessage>(&line[..line.len() - 1]).is_ok()
        })
}

fn segment_path(dir: &Path, number: u32) -> PathBuf {
    dir.join(format!("{number:08}.jsonl"))
}

impl MessageLog {
    /// Opens (creating if needed) the log in `dir`, reading every segment to rebuild the index.
    pub fn open(dir: &Path, config: LogConfig) -> Result<Recovered, StoreError> {
        Self::open_visiting(dir, config, i64::MAX, |_| {})
    }

    /// [`open`](Self::open), showing `visit` each message stored at or after `recent_since`, oldest
    /// first (start-up rebuilds the dedupe memory this way). Each message is dropped once
    /// visited: start-up never holds more than one message and one segment's bytes, however
    /// busy the last minutes were (audit M10).
    pub fn open_visiting(
        dir: &Path,
        config: LogConfig,
        recent_since: i64,
        mut visit: impl FnMut(&ChatMessage),
    ) -> Result<Recovered, StoreError> {
        create_private_dir(dir)?;
        let mut numbers: Vec<u32> = fs::read_dir(dir)
            .map_err(|e| StoreError::io(dir, e))?
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".jsonl")?.parse().ok()
            })
            .collect();
        numbers.sort_unstable();
        if numbers.is_empty() {
            private_file()
                .create_new(true)
                .append(true)
                .open(segment_path(dir, 1))
                .map_err(|e| StoreError::io(dir, e))?;
            atomic::sync_dir(dir)?;
            numbers.push(1);
        }
        if numbers
            .iter()
            .enumerate()
            .any(|(i, n)| *n as usize != i + 1)
        {
            return Err(StoreError::Corrupt {
                path: dir.to_owned(),
                offset: 0,
                reason: format!("segment numbers are not 1..N: {numbers:?}"),
            });
        }

        let mut index = Index::default();
        let mut messages = 0u64;
        let mut next_id = 1u64;
        let mut truncated_bytes = 0u64;
        let last = numbers.len() - 1;
        let mut last_len = 0u64;
        for (i, number) in numbers.iter().enumerate() {
            let path = segment_path(dir, *number);
            let bytes = fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
            let mut offset = 0usize;
            while offset < bytes.len() {
                let torn = |reason: String| StoreError::Corrupt {
                    path: path.clone(),
                    offset: offset as u64,
                    reason,
                };
                let line_end = bytes[offset..].iter().position(|b| *b == b'\n');
                let parsed = line_end
                    .ok_or_else(|| "line has no end".to_owned())
                    .and_then(|end| {
                        serde_json::from_slice::<ChatMessage>(&bytes[offset..offset + end])
                            .map_err(|e| e.to_string())
                    });
                let message = match parsed {
                    Ok(message) => message,
                    // Only the tail of the newest segment can be torn by a crash, and a torn
                    // tail runs to the end of the file. A bad line with a valid one after it is
                    // damage, and cutting there would delete acknowledged messages.
                    Err(_) if i == last && !has_valid_line_after(&bytes, offset) => break,
                    Err(reason) => return Err(torn(reason)),
                };
                let len = line_end.expect("parsed lines have an end") + 1;
                let room = index.rooms.entry(message.room_id).or_default();
                if message.seq != room.locs.len() as u64 + 1 {
                    return Err(torn(format!(
                        "room {} jumps from seq {} to {}",
                        message.room_id,
                        room.locs.len(),
                        message.seq
                    )));
                }
                room.locs.push(Loc {
                    segment: i as u32,
                    offset: offset as u64,
                    len: len as u32,
                });
                room.last_ts = Some(message.ts);
                next_id = next_id.max(message.id + 1);
                messages += 1;
                if message.ts >= recent_since {
                    visit(&message);
                }
                offset += len;
            }
            if i == last && offset < bytes.len() {
                truncated_bytes = (bytes.len() - offset) as u64;
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| StoreError::io(&path, e))?;
                file.set_len(offset as u64)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| StoreError::io(&path, e))?;
            }
            if i == last {
                last_len = offset as u64;
            }
            let reader = File::open(&path).map_err(|e| StoreError::io(&path, e))?;
            index.segments.push(Arc::new(reader));
        }

        let last_path = segment_path(dir, numbers[last]);
        let file = OpenOptions::new()
            .append(true)
            .open(&last_path)
            .map_err(|e| StoreError::io(&last_path, e))?;
        let log = MessageLog {
            dir: dir.to_owned(),
            config,
            index: Mutex::new(index),
            writer: Mutex::new(Writer {
                file,
                segment: last as u32,
                len: last_len,
                next_id,
                poisoned: None,
                buf: Vec::new(),
            }),
            #[cfg(test)]
            fail_next_writes: Default::default(),
            #[cfg(test)]
            fail_next_rolls: Default::default(),
        };
        Ok(Recovered {
            log,
            messages,
            truncated_bytes,
        })
    }

    /// Stores a batch with one write and one `fdatasync`, assigning each message its room's next
    /// seq and a new id. Returns the stored messages in batch order. On error nothing of the
    /// batch is stored.
    pub fn append(&self, batch: Vec<NewMessage>) -> Result<Vec<ChatMessage>, StoreError> {
        let mut writer = self.writer.lock().expect("log writer lock poisoned");
        if let Some(reason) = &writer.poisoned {
            return Err(StoreError::Poisoned(reason.clone()));
        }
        if writer.len >= self.config.segment_bytes {
            self.roll(&mut writer)?;
        }

        let mut stored = Vec::with_capacity(batch.len());
        let mut locs = Vec::with_capacity(batch.len());
        // Only `append` (serialized by the writer lock) grows the index, so each room's current
        // length can be read once and the lines serialized without holding the index lock.
        let mut next_seq: FastMap<RoomId, u64> = FastMap::default();
        {
            let index = self.index.lock().expect("log index lock poisoned");
            for new in &batch {
                next_seq.entry(new.room_id).or_insert_with(|| {
                    index
                        .rooms
                        .get(&new.room_id)
                        .map_or(0, |room| room.locs.len() as u64)
                });
            }
        }
        writer.buf.clear();
        for (i, new) in batch.into_iter().enumerate() {
            let seq = next_seq
                .get_mut(&new.room_id)
                .expect("every room of the batch was looked up");
            *seq += 1;
            let message = ChatMessage {
                room_id: new.room_id,
                seq: *seq,
                id: writer.next_id + i as u64,
                sender: new.sender,
                content: new.content,
                ts: new.ts,
                client_id: new.client_id,
            };
            let start = writer.buf.len();
            serde_json::to_writer(&mut writer.buf, &message).expect("messages always serialize");
            writer.buf.push(b'\n');
            locs.push(Loc {
                segment: writer.segment,
                offset: writer.len + start as u64,
                len: (writer.buf.len() - start) as u32,
            });
            stored.push(message);
        }

        let writer = &mut *writer;
        if let Err(source) = self.write_and_sync(&mut writer.file, &writer.buf) {
            let path = segment_path(&self.dir, writer.segment + 1);
            // Cut back whatever part of the batch reached the file, so that no reader and no
            // recovery ever sees it.
            if let Err(cut) = writer
                .file
                .set_len(writer.len)
                .and_then(|()| writer.file.sync_all())
            {
                writer.poisoned = Some(format!(
                    "write failed ({source}) and cutting it back failed ({cut})"
                ));
            }
            return Err(StoreError::io(&path, source));
        }
        writer.len += writer.buf.len() as u64;
        writer.next_id += stored.len() as u64;

        let mut index = self.index.lock().expect("log index lock poisoned");
        for (message, loc) in stored.iter().zip(locs) {
            let room = index.rooms.entry(message.room_id).or_default();
            room.locs.push(loc);
            room.last_ts = Some(message.ts);
        }
        Ok(stored)
    }

    fn write_and_sync(&self, file: &mut File, bytes: &[u8]) -> std::io::Result<()> {
        #[cfg(test)]
        if self
            .fail_next_writes
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok()
        {
            // Reach the file with half the batch, as a full disk would, then fail.
            file.write_all(&bytes[..bytes.len() / 2])?;
            return Err(std::io::Error::other("injected write failure"));
        }
        file.write_all(bytes)?;
        file.sync_data()
    }

    /// Closes the current segment and starts the next one.
    ///
    /// Retryable: the writer switches to the new segment only after every step succeeded, and a
    /// next segment that an earlier, failed roll left behind empty is reused rather than refused
    /// (a `create_new` here once wedged the log: every later batch failed with `AlreadyExists`).
    fn roll(&self, writer: &mut Writer) -> Result<(), StoreError> {
        let number = writer.segment + 2;
        let path = segment_path(&self.dir, number);
        let file = private_file()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        let len = file.metadata().map_err(|e| StoreError::io(&path, e))?.len();
        if len != 0 {
            // Only this writer creates segments, and it never writes to one it has not switched
            // to; bytes here were put by someone else.
            return Err(StoreError::Corrupt {
                path,
                offset: 0,
                reason: format!("the next segment already holds {len} bytes"),
            });
        }
        #[cfg(test)]
        if self
            .fail_next_rolls
            .fetch_update(
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
                |n| n.checked_sub(1),
            )
            .is_ok()
        {
            // Fail after the file exists, as a failed directory sync or open would.
            return Err(StoreError::io(
                &path,
                std::io::Error::other("injected roll failure"),
            ));
        }
        atomic::sync_dir(&self.dir)?;
        let reader = File::open(&path).map_err(|e| StoreError::io(&path, e))?;
        self.index
            .lock()
            .expect("log index lock poisoned")
            .segments
            .push(Arc::new(reader));
        writer.file = file;
        writer.segment = number - 1;
        writer.len = 0;
        Ok(())
    }

    /// The directory holding the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The newest seq of `room` (0 when it has no messages).
    pub fn last_seq(&self, room: RoomId) -> u64 {
        self.room_head(room).0
    }

    /// The newest seq of `room` and when that message was stored.
    pub fn room_head(&self, room: RoomId) -> (u64, Option<i64>) {
        let index = self.index.lock().expect("log index lock poisoned");
        index
            .rooms
            .get(&room)
            .map_or((0, None), |r| (r.locs.len() as u64, r.last_ts))
    }

    /// Messages `from..=to` of `room` (clamped to what exists), in seq order.
    pub fn read_range(
        &self,
        room: RoomId,
        from: u64,
        to: u64,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let (locs, segments) = {
            let index = self.index.lock().expect("log index lock poisoned");
            let Some(room) = index.rooms.get(&room) else {
                return Ok(Vec::new());
            };
            let to = to.min(room.locs.len() as u64);
            let from = from.max(1);
            if from > to {
                return Ok(Vec::new());
            }
            let locs = room.locs[(from - 1) as usize..to as usize].to_vec();
            (locs, index.segments.clone())
        };
        let mut buf = Vec::new();
        locs.iter()
            .map(|loc| {
                let path = || segment_path(&self.dir, loc.segment + 1);
                buf.resize(loc.len as usize, 0);
                segments[loc.segment as usize]
                    .read_exact_at(&mut buf, loc.offset)
                    .map_err(|e| StoreError::io(&path(), e))?;
                serde_json::from_slice(&buf[..buf.len() - 1]).map_err(|e| StoreError::Corrupt {
                    path: path(),
                    offset: loc.offset,
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    /// Makes the next `n` batch writes fail after writing half their bytes.
    #[cfg(test)]
    pub fn fail_next_writes(&self, n: usize) {
        self.fail_next_writes
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// Makes the next `n` segment rolls fail after creating the new (empty) segment file.
    #[cfg(test)]
    pub fn fail_next_rolls(&self, n: usize) {
        self.fail_next_rolls
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(room: u64, text: &str) -> NewMessage {
        NewMessage {
            room_id: RoomId(room),
            sender: Username::parse("ana").unwrap(),
            client_id: format!("c-{text}"),
            content: text.to_owned(),
            ts: 1_000,
        }
    }

    fn open(dir: &Path, segment_bytes: u64) -> Recovered {
        MessageLog::open(dir, LogConfig { segment_bytes }).unwrap()
    }

    fn contents(log: &MessageLog, room: u64) -> Vec<(u64, String)> {
        log.read_range(RoomId(room), 1, u64::MAX)
            .unwrap()
            .into_iter()
            .map(|m| (m.seq, m.content))
            .collect()
    }

    #[test]
    fn seqs_count_per_room_within_and_across_batches() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), 1 << 20).log;
        let first = log
            .append(vec![new(1, "a"), new(2, "b"), new(1, "c")])
            .unwrap();
        assert_eq!(
            first
                .iter()
                .map(|m| (m.room_id.0, m.seq))
                .collect::<Vec<_>>(),
            [(1, 1), (2, 1), (1, 2)]
        );
        let second = log.append(vec![new(1, "d")]).unwrap();
        assert_eq!(second[0].seq, 3);
        assert!(second[0].id > first[2].id);
        assert_eq!(
            contents(&log, 1),
            [(1, "a".into()), (2, "c".into()), (3, "d".into())]
        );
    }

    #[test]
    fn everything_comes_back_after_a_reopen_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), 200).log;
        for i in 0..20 {
            log.append(vec![new(1, &format!("m{i}")), new(2, "x")])
                .unwrap();
        }
        drop(log);
        let segments = fs::read_dir(dir.path()).unwrap().count();
        assert!(segments > 3, "expected several segments, got {segments}");
        let recovered = open(dir.path(), 200);
        assert_eq!(recovered.messages, 40);
        assert_eq!(recovered.truncated_bytes, 0);
        let log = recovered.log;
        assert_eq!(log.last_seq(RoomId(1)), 20);
        assert_eq!(log.read_range(RoomId(1), 5, 6).unwrap()[1].content, "m5");
        assert_eq!(log.append(vec![new(1, "after")]).unwrap()[0].seq, 21);
    }

    #[test]
    fn a_torn_last_line_is_cut_and_everything_before_it_survives() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), 1 << 20).log;
        log.append(vec![new(1, "a"), new(1, "b")]).unwrap();
        drop(log);
        let path = segment_path(dir.path(), 1);
        let whole = fs::read(&path).unwrap();
        for cut in [1usize, 10, 30] {
            let mut bytes = whole.clone();
            bytes.extend_from_slice(&whole[..cut.min(whole.len() - 1)]);
            fs::write(&path, &bytes).unwrap();
            let recovered = open(dir.path(), 1 << 20);
            assert!(recovered.truncated_bytes > 0);
            assert_eq!(
                contents(&recovered.log, 1),
                [(1, "a".into()), (2, "b".into())]
            );
            assert_eq!(fs::read(&path).unwrap(), whole);
        }
    }

    #[test]
    fn a_failed_write_stores_nothing_and_the_log_keeps_working() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), 1 << 20).log;
        log.append(vec![new(1, "a")]).unwrap();
        log.fail_next_writes(1);
        assert!(log.append(vec![new(1, "lost"), new(1, "lost")]).is_err());
        assert_eq!(log.last_seq(RoomId(1)), 1);
        assert_eq!(log.append(vec![new(1, "b")]).unwrap()[0].seq, 2);
        drop(log);
        let recovered = open(dir.path(), 1 << 20);
        assert_eq!(recovered.truncated_bytes, 0);
        assert_eq!(
            contents(&recovered.log, 1),
            [(1, "a".into()), (2, "b".into())]
        );
    }

    #[test]
    fn a_failed_roll_fails_only_its_batch_and_the_next_batch_rolls_and_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), 100).log;
        log.append(vec![new(1, "a"), new(1, "b")]).unwrap();
        log.fail_next_rolls(1);
        assert!(log.append(vec![new(1, "lost")]).is_err());
        assert_eq!(log.last_seq(RoomId(1)), 2);
        assert!(
            segment_path(dir.path(), 2).exists(),
            "the failed roll left its empty segment behind"
        );
        let stored = log.append(vec![new(1, "c"), new(2, "d")]).unwrap();
        assert_eq!(
            stored.iter().map(|m| m.seq).collect::<Vec<_>>(),
            [3, 1],
            "seqs continue as if the failed batch never was"
        );
        drop(log);
        let recovered = open(dir.path(), 100);
        assert_eq!(recovered.truncated_bytes, 0);
        assert_eq!(
            contents(&recovered.log, 1),
            [(1, "a".into()), (2, "b".into()), (3, "c".into())]
        );
        assert_eq!(contents(&recovered.log, 2), [(1, "d".into())]);
    }

    #[test]
    fn a_bad_middle_line_of_the_newest_segment_is_corruption_not_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), 1 << 20).log;
        log.append(vec![new(1, "a"), new(1, "b"), new(1, "c")])
            .unwrap();
        drop(log);
        let path = segment_path(dir.path(), 1);
        let whole = fs::read(&path).unwrap();
        let second = whole.iter().position(|b| *b == b'\n').unwrap() + 1;
        let mut damaged = whole.clone();
        damaged[second] = b'#';
        fs::write(&path, &damaged).unwrap();
        assert!(matches!(
            MessageLog::open(dir.path(), LogConfig::default()),
            Err(StoreError::Corrupt { offset, .. }) if offset == second as u64
        ));
        assert_eq!(fs::read(&path).unwrap(), damaged, "nothing was cut");
    }

    #[test]
    fn damage_before_the_tail_is_reported_not_guessed_at() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), 100).log;
        for _ in 0..4 {
            log.append(vec![new(1, "a")]).unwrap();
        }
        drop(log);
        fs::write(segment_path(dir.path(), 1), b"{not json}\n").unwrap();
        assert!(matches!(
            MessageLog::open(dir.path(), LogConfig { segment_bytes: 100 }),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn recent_messages_are_visited_for_the_dedupe_window_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path(), 1 << 20).log;
        let mut old = new(1, "old");
        old.ts = 10;
        log.append(vec![old, new(1, "fresh"), new(2, "fresher")])
            .unwrap();
        drop(log);
        let mut recent = Vec::new();
        MessageLog::open_visiting(dir.path(), LogConfig::default(), 500, |m| {
            recent.push(m.content.clone())
        })
        .unwrap();
        assert_eq!(recent, ["fresh", "fresher"]);
    }
}
