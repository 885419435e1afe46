use super::*;
use crate::store::contract::{contract_tests, new, Subject};
use std::ops::Deref;

/// A file store in a temporary directory that lives as long as it.
struct Opened {
    store: FileMessageStore,
    dir: tempfile::TempDir,
}

impl Deref for Opened {
    type Target = FileMessageStore;
    fn deref(&self) -> &FileMessageStore {
        &self.store
    }
}

fn config() -> FileMessageStoreConfig {
    FileMessageStoreConfig {
        min_free_disk_bytes: 0,
        ..Default::default()
    }
}

fn open() -> Opened {
    let dir = tempfile::tempdir().unwrap();
    Opened {
        store: FileMessageStore::open(dir.path(), config(), 0).unwrap(),
        dir,
    }
}

impl Opened {
    /// Closes the store and opens it again from the same directory, at `now_ms`.
    fn reopen(self, now_ms: i64) -> Self {
        let Self { store, dir } = self;
        drop(store);
        Self {
            store: FileMessageStore::open(dir.path(), config(), now_ms).unwrap(),
            dir,
        }
    }
}

impl MessageStore for Opened {
    fn append(&self, batch: Vec<NewEntry>) -> BoxFuture<'_, Result<Vec<Appended>, StoreError>> {
        self.store.append(batch)
    }
    fn head(&self, room: RoomId) -> BoxFuture<'_, Result<RoomHead, StoreError>> {
        self.store.head(room)
    }
    fn messages_after(&self, room: RoomId, seq: u64) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.store.messages_after(room, seq)
    }
    fn mentions_after<'a>(
        &'a self,
        room: RoomId,
        user: &'a app::model::Username,
        seq: u64,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        self.store.mentions_after(room, user, seq)
    }
    fn read_range(
        &self,
        room: RoomId,
        from: u64,
        to: u64,
    ) -> BoxFuture<'_, Result<Vec<Entry>, StoreError>> {
        self.store.read_range(room, from, to)
    }
    fn durability(&self) -> Durability {
        self.store.durability()
    }
}

impl Subject for Opened {
    fn fail_next_writes(&self, n: usize) {
        self.store.fail_next_writes(n);
    }
}

contract_tests!(open());

#[tokio::test]
async fn reopening_keeps_everything_and_still_knows_resends() {
    let store = open();
    let first = store
        .append(vec![new(1, "a", "a", 1_000), new(2, "b", "b", 1_000)])
        .await
        .unwrap();
    let Appended::Stored(original) = &first[0] else {
        panic!("stored: {first:?}")
    };
    let original = original.clone();
    let store = store.reopen(1_000);
    assert_eq!(store.head(RoomId(1)).await.unwrap().last_seq, 1);
    assert_eq!(
        store.read_range(RoomId(2), 1, 9).await.unwrap()[0]
            .clone()
            .into_message()
            .map(|m| m.content),
        Some("b".into())
    );
    let resent = store
        .append(vec![new(1, "a", "a", 5_000), new(1, "c", "c", 5_000)])
        .await
        .unwrap();
    assert_eq!(
        resent[0],
        Appended::Duplicate(original.ack.clone()),
        "the dedupe memory was rebuilt from the log"
    );
    let Appended::Stored(next) = &resent[1] else {
        panic!("stored: {resent:?}")
    };
    assert_eq!((next.ack.seq, next.ack.id > original.ack.id), (2, true));
}

#[tokio::test]
async fn after_a_restart_resends_older_than_the_window_are_forgotten() {
    let store = open();
    store.append(vec![new(1, "a", "a", 1_000)]).await.unwrap();
    let window = config().dedupe_window.as_millis() as i64;
    let store = store.reopen(1_000 + window + 1);
    let again = store.append(vec![new(1, "a", "a", 2_000)]).await.unwrap();
    assert!(matches!(&again[..], [Appended::Stored(m)] if m.ack.seq == 2));
}

#[tokio::test]
async fn below_the_disk_watermark_a_batch_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileMessageStore::open(
        dir.path(),
        FileMessageStoreConfig {
            min_free_disk_bytes: u64::MAX,
            ..config()
        },
        0,
    )
    .unwrap();
    assert!(matches!(
        store.append(vec![new(1, "a", "a", 1)]).await,
        Err(StoreError::LowDisk)
    ));
    assert_eq!(store.head(RoomId(1)).await.unwrap().last_seq, 0);
}

#[tokio::test]
async fn a_poisoned_log_stays_poisoned_through_the_store() {
    let store = open();
    store.log.poison("a failed cut, as if");
    for _ in 0..2 {
        assert!(matches!(
            store.append(vec![new(1, "a", "a", 1)]).await,
            Err(StoreError::Poisoned(_))
        ));
    }
}

#[tokio::test]
async fn dropping_the_store_ends_its_writer_and_eraser_threads() {
    let store = open();
    store.append(vec![new(1, "a", "a", 1)]).await.unwrap();
    let log = Arc::downgrade(&store.log);
    assert_eq!(
        log.strong_count(),
        3,
        "the writer and eraser threads hold the log"
    );
    drop(store);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while log.strong_count() > 0 {
        assert!(std::time::Instant::now() < deadline, "the thread ended");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether any segment of the store's log holds `text`.
fn on_disk(store: &Opened, text: &str) -> bool {
    std::fs::read_dir(store.dir.path())
        .unwrap()
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap_or_default())
        .any(|bytes| bytes.windows(text.len()).any(|w| w == text.as_bytes()))
}

/// A deleted message's text and its edits' leave the data directory (the eraser thread, within
/// seconds), and after a restart it still reads as deleted, is still no message to act on,
/// and a resend of it is still answered with its ack.
#[tokio::test]
async fn a_deleted_message_leaves_the_disk_and_stays_deleted_after_a_restart() {
    use crate::store::contract::{delete, edit, said};
    let store = open();
    store
        .append(vec![
            said("ana", "a", "whisper-one"),
            said("bob", "b", "kept"),
        ])
        .await
        .unwrap();
    store
        .append(vec![edit("ana", "e", 1, "whisper-two")])
        .await
        .unwrap();
    assert!(on_disk(&store, "whisper-one") && on_disk(&store, "whisper-two"));
    store
        .append(vec![delete("ana", "d", 1, false)])
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while on_disk(&store, "whisper-") {
        assert!(std::time::Instant::now() < deadline, "not erased in 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(on_disk(&store, "kept"));
    let before = store.read_range(RoomId(1), 1, 9).await.unwrap();

    let store = store.reopen(2_000);
    assert_eq!(store.read_range(RoomId(1), 1, 9).await.unwrap(), before);
    assert!(matches!(before[0], Entry::Erased(_)));
    assert_eq!(store.messages_after(RoomId(1), 0).await.unwrap(), 1);
    let again = store
        .append(vec![
            said("ana", "a", "whisper-one"),
            edit("ana", "e2", 1, "again"),
            delete("ana", "d2", 1, false),
        ])
        .await
        .unwrap();
    assert!(matches!(&again[0], Appended::Duplicate(ack) if ack.seq == 1));
    // Its key in another room, or for an edit, is a reused client_id, not a resend of it.
    let elsewhere = store
        .append(vec![
            NewEntry {
                room_id: RoomId(2),
                ..said("ana", "a", "whisper-one")
            },
            edit("ana", "a", 2, "kept?"),
        ])
        .await
        .unwrap();
    assert_eq!(
        elsewhere,
        [Appended::ClientIdReused, Appended::ClientIdReused]
    );
    assert_eq!(
        again[1..],
        [
            Appended::Refused(crate::store::TargetRefusal::NoSuchMessage),
            Appended::Refused(crate::store::TargetRefusal::NoSuchMessage)
        ]
    );
}

#[tokio::test]
async fn replies_and_reactions_are_the_same_after_a_restart() {
    use crate::store::contract::messages::{react, reactions_shown, reply, said};
    let store = open();
    store
        .append(vec![said("ana", "a", "one"), said("bob", "b", "two")])
        .await
        .unwrap();
    store
        .append(vec![
            reply("bob", "r", 1, "re: one"),
            react("bob", "x1", 1, "👍", true),
            react("cyd", "x2", 1, "👍", true),
            react("bob", "x3", 1, "👍", false),
            react("ana", "x4", 2, "😂", true),
        ])
        .await
        .unwrap();
    let before = store.read_range(RoomId(1), 1, 20).await.unwrap();
    assert_eq!(
        reactions_shown(&before),
        ["1: 👍 by cyd", "2: 😂 by ana", "3: "]
    );
    let store = store.reopen(1_000);
    let after = store.read_range(RoomId(1), 1, 20).await.unwrap();
    assert_eq!(after, before, "the index was rebuilt from the log");
    assert_eq!(
        after[2].clone().into_message().and_then(|m| m.reply_to),
        Some(1)
    );
    let resent = store
        .append(vec![react("cyd", "x2", 1, "👍", true)])
        .await
        .unwrap();
    assert_eq!(
        resent[0],
        Appended::Duplicate(crate::store::ack_of(&after[4]))
    );
}
