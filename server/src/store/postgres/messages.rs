//! [`PgMessageStore`]: the timeline as rows of `entries`, each room numbered by its
//! `room_heads` row.
//!
//! An append is one transaction (the batch's group commit):
//!
//! 1. read what the batch could be a resend of (the dedupe index) and what its edits,
//!    deletions, replies and reactions act on;
//! 2. lock the batch's rooms' heads `FOR UPDATE` in room id order (two nodes appending to the
//!    same rooms wait for each other instead of deadlocking);
//! 3. decide every entry in batch order with the same [`Dedupe`] rules and [`check_target`] as
//!    the other stores, numbering each room's entries from its locked head;
//! 4. insert the entries, apply edits, reactions and erasures to the rows they change, move the
//!    heads, and COMMIT. Only then is anything acked.
//!
//! A resend stored by another node between steps 1 and 4 makes the insert collide on the
//! dedupe index; the transaction rolls back (no seq used) and the batch is decided again, and
//! finds the original. A deadlock PostgreSQL breaks is retried the same way.
//!
//! Erasure is an UPDATE that clears the row's text; PostgreSQL reclaims the old row version at
//! its next vacuum of the table (autovacuum; `docs/storage.md` says how soon).
//!
//! Longer than 400 lines on purpose: an append is one transaction (known resends, the heads locked,
//! the targets read, the decision, the writes, the notice) written top to bottom in the order it
//! runs; spread over files, that order would be the first thing lost. Its tests are in
//! `postgres/tests.rs` and the contract suite.

use super::rooms::{delete_rooms_in, put_settings, put_standing};
use super::{big, is_code, small, NodeId, DEADLOCK, STORED_CHANNEL, UNIQUE_VIOLATION};
use crate::access::standing_after;
use crate::fasthash::{FastMap, FastSet};
use crate::store::dedupe::{Dedupe, DedupeKey};
use crate::store::rooms::Standing;
use crate::store::{
    check_target, Ack, Appended, Durability, EntryFrame, MessageStore, NewEntry, RoomHead,
    RoomSettings, StoreError, StoredEntry, TargetRefusal, TimelineFacts,
};
use app::model::{mention_keys, Edited, RoomId, UserInfo, Username};
use app::reactions::Reactions;
use app::timeline::{Entry, ErasedEntry};
use futures::future::{BoxFuture, FutureExt};
use sqlx::{PgPool, Postgres, Transaction};

/// How many times a batch is decided again after a collision with another node's commit.
const ATTEMPTS: usize = 4;

pub struct PgMessageStore {
    pool: PgPool,
    node: NodeId,
    /// Tests: the next this many appends fail before their COMMIT (see `Subject`).
    #[cfg(test)]
    pub(crate) fail_next_writes: std::sync::atomic::AtomicUsize,
}

impl PgMessageStore {
    pub(super) fn new(pool: PgPool, node: NodeId) -> Self {
        Self {
            pool,
            node,
            #[cfg(test)]
            fail_next_writes: Default::default(),
        }
    }
}

/// The kinds of entries, as stored in `entries.kind`.
fn kind(entry: &Entry) -> i16 {
    match entry {
        Entry::Message(_) => 0,
        Entry::Member(_) => 1,
        Entry::Room(_) => 2,
        Entry::RoomDeleted(_) => 3,
        Entry::Edit(_) => 4,
        Entry::MessageDeleted(_) => 5,
        Entry::Reaction(_) => 6,
        Entry::Erased(_) => unreachable!("nothing is stored erased"),
    }
}
const MESSAGE: i16 = 0;

/// What an append found at a target (an edit's, a deletion's, a reply's or a reaction's).
struct Target {
    /// The entry, when it is a message not erased.
    message: Option<Entry>,
    reactions: Option<Reactions>,
}

/// The rows and row changes one batch makes, decided in memory under the room locks.
#[derive(Default)]
struct Changes {
    inserts: Inserts,
    /// (room, target) → the newest edit's (seq, ts, content).
    edits: FastMap<(u64, u64), (u64, i64, String)>,
    /// (room, target) → the message's reactions after the batch.
    reactions: FastMap<(u64, u64), Reactions>,
    /// Messages deleted: (room, target).
    deletions: Vec<(u64, u64)>,
    /// Rooms deleted, and the seq of their deletion (everything before it is erased).
    room_deletions: Vec<(u64, u64)>,
    /// Each room's new head: (last seq, last ts, revisions added).
    heads: FastMap<u64, (u64, i64, i64)>,
    /// Each room's newest member entry's seq, when the batch has one (`room_heads.access_seq`).
    access: FastMap<u64, u64>,
    /// Standings the member entries leave, projected to `standings` in the same transaction,
    /// so that another node reading a room's access finds it as new as its `access_seq`.
    standings: Vec<(RoomId, UserInfo, Standing)>,
    /// Rooms' new names and topics, projected to `rooms` likewise.
    settings: Vec<(RoomId, RoomSettings)>,
}

/// Column arrays for one `INSERT … SELECT FROM unnest(…)`.
#[derive(Default)]
struct Inserts {
    room: Vec<i64>,
    seq: Vec<i64>,
    id: Vec<i64>,
    ts: Vec<i64>,
    kind: Vec<i16>,
    sender: Vec<String>,
    sender_key: Vec<String>,
    client_id: Vec<String>,
    fingerprint: Vec<i64>,
    target: Vec<Option<i64>>,
    frame: Vec<String>,
    mentions: Vec<Option<String>>,
}

impl Inserts {
    fn push(&mut self, new: &NewEntry, entry: &Entry, frame: &[u8]) {
        self.room.push(big(entry.room_id().0));
        self.seq.push(big(entry.seq()));
        self.id.push(big(entry.id()));
        self.ts.push(entry.ts());
        self.kind.push(kind(entry));
        self.sender.push(new.sender.as_str().to_owned());
        self.sender_key.push(new.sender.key());
        self.client_id.push(new.client_id.as_str().to_owned());
        // The hash's bits as a bigint: only ever compared for equality.
        self.fingerprint.push(new.fingerprint() as i64);
        self.target.push(new.body.target_seq().map(big));
        self.frame
            .push(String::from_utf8(frame.to_vec()).expect("frames are UTF-8"));
        self.mentions.push(match entry {
            // Names cannot hold a space, so one string of them, split when counted.
            Entry::Message(m) => Some(mention_keys(&m.content).join(" ")),
            _ => None,
        });
    }
}

/// Why one attempt at an append did not commit.
enum Failed {
    /// Collided with another node's commit: decide the batch again.
    Retry(sqlx::Error),
    Store(StoreError),
}

impl From<sqlx::Error> for Failed {
    fn from(err: sqlx::Error) -> Self {
        if is_code(&err, UNIQUE_VIOLATION) || is_code(&err, DEADLOCK) {
            Failed::Retry(err)
        } else {
            Failed::Store(err.into())
        }
    }
}

impl PgMessageStore {
    /// Appends, deciding the batch again after a collision with another node's commit (at
    /// most [`ATTEMPTS`] times); with `versions`, see [`MessageStore::append_checked`].
    async fn append_with(
        &self,
        batch: Vec<NewEntry>,
        versions: Option<&[(RoomId, u64)]>,
    ) -> Result<Vec<Appended>, StoreError> {
        let mut attempt = 1;
        loop {
            match self.append_once(batch.clone(), versions).await {
                Ok(appended) => return Ok(appended),
                Err(Failed::Store(err)) => return Err(err),
                Err(Failed::Retry(err)) if attempt == ATTEMPTS => return Err(err.into()),
                Err(Failed::Retry(err)) => {
                    tracing::debug!(attempt, "append collided with another commit: {err}");
                    attempt += 1;
                }
            }
        }
    }

    /// One attempt at an append; with `versions`, refused when a room's access is newer.
    async fn append_once(
        &self,
        batch: Vec<NewEntry>,
        versions: Option<&[(RoomId, u64)]>,
    ) -> Result<Vec<Appended>, Failed> {
        let mut tx = self.pool.begin().await?;
        let mut dedupe = known(&mut tx, &batch).await?;
        let (heads, access) = lock_heads(&mut tx, &batch).await?;
        if let Some(versions) = versions {
            let changed: Vec<RoomId> = versions
                .iter()
                .filter(|(room, seen)| access.get(&room.0).is_some_and(|now| now > seen))
                .map(|(room, _)| *room)
                .collect();
            if !changed.is_empty() {
                return Err(Failed::Store(StoreError::AccessChanged(changed)));
            }
        }
        let targets = targets(&mut tx, &batch).await?;
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT nextval('entry_ids') FROM generate_series(1, $1)")
                .bind(batch.len() as i64)
                .fetch_all(&mut *tx)
                .await?;
        let mut changes = Changes::default();
        let appended = dedupe
            .append_with(batch, |fresh| {
                Ok(decide(fresh, &heads, targets, ids, &mut changes))
            })
            .map_err(Failed::Store)?;
        announce(&mut tx, &self.node, &heads, &changes.heads).await?;
        write(&mut tx, changes).await?;
        #[cfg(test)]
        self.fail_if_asked(&mut tx).await?;
        tx.commit().await?;
        Ok(appended)
    }

    /// Fails the transaction after everything was written, before its commit, when a test
    /// asked: what is rolled back must leave no trace.
    #[cfg(test)]
    async fn fail_if_asked(&self, tx: &mut Transaction<'_, Postgres>) -> Result<(), Failed> {
        use std::sync::atomic::Ordering;
        let fail = self
            .fail_next_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            sqlx::query("SELECT 1 / 0").execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// The dedupe memory of this batch: every stored entry with one of its (sender, client_id)s.
async fn known(
    tx: &mut Transaction<'_, Postgres>,
    batch: &[NewEntry],
) -> Result<Dedupe, sqlx::Error> {
    let keys: Vec<String> = batch.iter().map(|n| n.sender.key()).collect();
    let clients: Vec<&str> = batch.iter().map(|n| n.client_id.as_str()).collect();
    let rows: Vec<(String, String, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT e.sender, e.client_id, e.fingerprint, e.room_id, e.seq, e.id, e.ts
         FROM entries e
         JOIN unnest($1::text[], $2::text[]) AS k(sender_key, client_id)
           ON e.sender_key = k.sender_key AND e.client_id = k.client_id",
    )
    .bind(&keys)
    .bind(&clients)
    .fetch_all(&mut **tx)
    .await?;
    // Found rows and this batch's own: nothing is forgotten for its age.
    let mut dedupe = Dedupe::new(i64::MAX / 4, rows.len() + batch.len() + 1);
    for (sender, client_id, fingerprint, room, seq, id, ts) in rows {
        let Ok(sender) = Username::parse(&sender) else {
            continue;
        };
        let ack = Ack {
            client_id: client_id.clone(),
            room_id: RoomId(small(room)),
            id: small(id),
            seq: small(seq),
            ts,
        };
        dedupe.insert(
            DedupeKey::new(&sender, &client_id),
            fingerprint as u64,
            &ack,
        );
    }
    Ok(dedupe)
}

/// Each room's newest seq, and the seq of its newest member entry.
type Heads = (FastMap<u64, u64>, FastMap<u64, u64>);

/// Locks the heads of the batch's rooms, in room id order, creating those never written to;
/// answers each room's newest seq and its access's (see [`RoomAccess::version`]).
///
/// [`RoomAccess::version`]: crate::store::rooms::RoomAccess::version
async fn lock_heads(
    tx: &mut Transaction<'_, Postgres>,
    batch: &[NewEntry],
) -> Result<Heads, sqlx::Error> {
    let mut rooms: Vec<i64> = batch.iter().map(|n| big(n.room_id.0)).collect();
    rooms.sort_unstable();
    rooms.dedup();
    sqlx::query(
        "INSERT INTO room_heads (room_id) SELECT unnest($1::bigint[]) ON CONFLICT DO NOTHING",
    )
    .bind(&rooms)
    .execute(&mut **tx)
    .await?;
    let heads: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT room_id, last_seq, access_seq FROM room_heads WHERE room_id = ANY($1)
         ORDER BY room_id FOR UPDATE",
    )
    .bind(&rooms)
    .fetch_all(&mut **tx)
    .await?;
    Ok(heads
        .into_iter()
        .map(|(room, seq, access)| ((small(room), small(seq)), (small(room), small(access))))
        .unzip())
}

/// What the batch's edits, deletions, replies and reactions act on, by (room, seq).
async fn targets(
    tx: &mut Transaction<'_, Postgres>,
    batch: &[NewEntry],
) -> Result<FastMap<(u64, u64), Target>, sqlx::Error> {
    let (rooms, seqs): (Vec<i64>, Vec<i64>) = batch
        .iter()
        .filter_map(|n| Some((big(n.room_id.0), big(n.body.target_seq()?))))
        .unzip();
    if rooms.is_empty() {
        return Ok(FastMap::default());
    }
    let rows: Vec<(i64, i64, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT DISTINCT e.room_id, e.seq, e.frame, e.reactions::text
         FROM entries e
         JOIN unnest($1::bigint[], $2::bigint[]) AS t(room_id, seq)
           ON e.room_id = t.room_id AND e.seq = t.seq
         WHERE e.kind = 0 AND NOT e.erased",
    )
    .bind(&rooms)
    .bind(&seqs)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(room, seq, frame, reactions)| {
            let target = Target {
                message: frame.and_then(|f| serde_json::from_str(&f).ok()),
                reactions: reactions.and_then(|r| serde_json::from_str(&r).ok()),
            };
            ((small(room), small(seq)), target)
        })
        .collect())
}

impl PgMessageStore {
    /// What the timeline says at start (see [`TimelineFacts`]). Each query reads one kind of
    /// entry through `entries_by_kind`; the newest message per sender reads every message's
    /// index entry, once per node start.
    pub async fn facts(&self) -> Result<TimelineFacts, StoreError> {
        let deleted: Vec<i64> =
            sqlx::query_scalar("SELECT DISTINCT room_id FROM entries WHERE kind = 3")
                .fetch_all(&self.pool)
                .await?;
        let newest = |kind: i16, per: &'static str| {
            let sql = format!(
                "SELECT DISTINCT ON (room_id, {per}) frame FROM entries
                 WHERE kind = $1 AND frame IS NOT NULL
                   AND room_id NOT IN (SELECT room_id FROM entries WHERE kind = 3)
                 ORDER BY room_id, {per}, seq DESC"
            );
            async move {
                let frames: Vec<String> = sqlx::query_scalar(&sql)
                    .bind(kind)
                    .fetch_all(&self.pool)
                    .await?;
                frames
                    .iter()
                    .map(|f| serde_json::from_str::<Entry>(f))
                    .collect::<Result<Vec<Entry>, _>>()
                    .map_err(|e| StoreError::Database(format!("bad stored entry: {e}")))
            }
        };
        let memberships = newest(1, "(frame::jsonb -> 'user_id')")
            .await?
            .into_iter()
            .filter_map(|e| match e {
                Entry::Member(m) => Some(m),
                _ => None,
            })
            .collect();
        let settings = newest(2, "room_id")
            .await?
            .into_iter()
            .filter_map(|e| match e {
                Entry::Room(r) => Some((
                    r.room_id,
                    RoomSettings {
                        name: r.name,
                        topic: r.topic,
                    },
                )),
                _ => None,
            })
            .collect();
        // A deleted message still counts as its sender's newest, as in the file store.
        let last_sent: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT DISTINCT ON (room_id, sender_key) room_id, sender, seq FROM entries
             WHERE kind = 0 AND sender IS NOT NULL
             ORDER BY room_id, sender_key, seq DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(TimelineFacts {
            memberships,
            settings,
            deleted: deleted.into_iter().map(|r| RoomId(small(r))).collect(),
            last_sent: last_sent
                .into_iter()
                .filter_map(|(room, sender, seq)| {
                    Some((
                        RoomId(small(room)),
                        Username::parse(&sender).ok()?,
                        small(seq),
                    ))
                })
                .collect(),
        })
    }
}

/// Decides the fresh entries of a batch in order, over the locked heads: each room's next
/// seqs, what each edit, deletion, reply and reaction finds at its target, and the row changes
/// (into `changes`).
fn decide(
    fresh: Vec<NewEntry>,
    heads: &FastMap<u64, u64>,
    mut targets: FastMap<(u64, u64), Target>,
    ids: Vec<i64>,
    changes: &mut Changes,
) -> Vec<Result<StoredEntry, TargetRefusal>> {
    let mut ids = ids.into_iter();
    let mut deleted: FastSet<(u64, u64)> = FastSet::default();
    fresh
        .into_iter()
        .map(|new| {
            let room = new.room_id.0;
            if let Some(target) = new.body.target_seq() {
                let found = targets
                    .get(&(room, target))
                    .and_then(|t| t.message.as_ref());
                check_target(&new, found, deleted.contains(&(room, target)))?;
            }
            let head =
                changes
                    .heads
                    .entry(room)
                    .or_insert((heads.get(&room).copied().unwrap_or(0), 0, 0));
            head.0 += 1;
            head.1 = new.ts;
            let id = ids.next().expect("an id for every entry");
            let entry = new.clone().into_entry(head.0, small(id));
            let stored = StoredEntry::of(&entry);
            changes.inserts.push(&new, &entry, stored.frame.bytes());
            let revised = match &entry {
                Entry::Edit(e) => {
                    let edit = (e.seq, e.ts, e.content.clone());
                    changes.edits.insert((room, e.target_seq), edit);
                    true
                }
                Entry::Reaction(r) => {
                    let target = targets.get_mut(&(room, r.target_seq));
                    let reactions = changes
                        .reactions
                        .entry((room, r.target_seq))
                        .or_insert_with(|| {
                            target.and_then(|t| t.reactions.take()).unwrap_or_default()
                        });
                    reactions.apply(r.seq, &r.emoji, &r.sender, r.on);
                    true
                }
                Entry::MessageDeleted(d) => {
                    deleted.insert((room, d.target_seq));
                    changes.edits.remove(&(room, d.target_seq));
                    changes.reactions.remove(&(room, d.target_seq));
                    changes.deletions.push((room, d.target_seq));
                    true
                }
                Entry::RoomDeleted(d) => {
                    changes.room_deletions.push((room, d.seq));
                    changes.access.insert(room, d.seq);
                    false
                }
                Entry::Member(m) => {
                    let user = UserInfo {
                        id: m.user_id,
                        username: m.user.clone(),
                    };
                    let standing = standing_after(m.membership, m.role);
                    changes.standings.push((m.room_id, user, standing));
                    changes.access.insert(room, m.seq);
                    false
                }
                Entry::Room(r) => {
                    let settings = RoomSettings {
                        name: r.name.clone(),
                        topic: r.topic.clone(),
                    };
                    changes.settings.push((r.room_id, settings));
                    false
                }
                _ => false,
            };
            if revised {
                changes.heads.get_mut(&room).expect("inserted above").2 += 1;
            }
            Ok(stored)
        })
        .collect()
}

/// Most bytes of one notification's payload (PostgreSQL refuses more than 8000).
const PAYLOAD_BYTES: usize = 7900;

/// Tells every listening node which seqs this transaction stored, `NODE ROOM:FROM:TO ...`, in
/// as many notifications as it takes. Sent inside the transaction: PostgreSQL delivers them
/// only if it commits, after it commits, and in commit order.
async fn announce(
    tx: &mut Transaction<'_, Postgres>,
    node: &NodeId,
    before: &FastMap<u64, u64>,
    after: &FastMap<u64, (u64, i64, i64)>,
) -> Result<(), sqlx::Error> {
    let mut payloads = Vec::new();
    let mut payload = node.0.clone();
    for (room, (last, ..)) in after {
        let from = before.get(room).copied().unwrap_or(0) + 1;
        let range = format!(" {room}:{from}:{last}");
        if payload.len() + range.len() > PAYLOAD_BYTES {
            payloads.push(std::mem::replace(&mut payload, node.0.clone()));
        }
        payload.push_str(&range);
    }
    if payload.len() > node.0.len() {
        payloads.push(payload);
    }
    if !payloads.is_empty() {
        sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
            .bind(STORED_CHANNEL)
            .bind(&payloads)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Writes what [`decide`] decided, in the transaction.
async fn write(tx: &mut Transaction<'_, Postgres>, changes: Changes) -> Result<(), Failed> {
    let Changes {
        inserts: i,
        edits,
        reactions,
        deletions,
        room_deletions,
        heads,
        access,
        standings,
        settings,
    } = changes;
    if !i.room.is_empty() {
        sqlx::query(
            "INSERT INTO entries (room_id, seq, id, ts, kind, sender, sender_key, client_id,
                                  fingerprint, target_seq, frame, mentions)
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[],
                                  $5::smallint[], $6::text[], $7::text[], $8::text[],
                                  $9::bigint[], $10::bigint[], $11::text[], $12::text[])",
        )
        .bind(&i.room)
        .bind(&i.seq)
        .bind(&i.id)
        .bind(&i.ts)
        .bind(&i.kind)
        .bind(&i.sender)
        .bind(&i.sender_key)
        .bind(&i.client_id)
        .bind(&i.fingerprint)
        .bind(&i.target)
        .bind(&i.frame)
        .bind(&i.mentions)
        .execute(&mut **tx)
        .await?;
    }
    if !edits.is_empty() {
        let (mut rooms, mut targets, mut seqs, mut tss, mut contents) =
            (vec![], vec![], vec![], vec![], vec![]);
        for ((room, target), (seq, ts, content)) in edits {
            rooms.push(big(room));
            targets.push(big(target));
            seqs.push(big(seq));
            tss.push(ts);
            contents.push(content);
        }
        sqlx::query(
            "UPDATE entries e SET edit_seq = u.seq, edit_ts = u.ts, edit_content = u.content
             FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[])
               AS u(room_id, target, seq, ts, content)
             WHERE e.room_id = u.room_id AND e.seq = u.target",
        )
        .bind(&rooms)
        .bind(&targets)
        .bind(&seqs)
        .bind(&tss)
        .bind(&contents)
        .execute(&mut **tx)
        .await?;
    }
    if !reactions.is_empty() {
        let (mut rooms, mut targets, mut states) = (vec![], vec![], vec![]);
        for ((room, target), state) in reactions {
            rooms.push(big(room));
            targets.push(big(target));
            states.push(serde_json::to_string(&state).expect("reactions serialize"));
        }
        sqlx::query(
            "UPDATE entries e SET reactions = u.state::jsonb
             FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS u(room_id, target, state)
             WHERE e.room_id = u.room_id AND e.seq = u.target",
        )
        .bind(&rooms)
        .bind(&targets)
        .bind(&states)
        .execute(&mut **tx)
        .await?;
    }
    if !deletions.is_empty() {
        let (rooms, targets): (Vec<i64>, Vec<i64>) =
            deletions.iter().map(|(r, t)| (big(*r), big(*t))).unzip();
        // The message keeps who sent it and its client_id (it is still that message, and a
        // resend of it is still a resend); its edits keep nothing.
        sqlx::query(
            "UPDATE entries e SET
                frame = NULL, erased = true, mentions = NULL, reactions = NULL,
                edit_seq = NULL, edit_ts = NULL, edit_content = NULL,
                sender = CASE WHEN e.kind = 0 THEN e.sender END,
                sender_key = CASE WHEN e.kind = 0 THEN e.sender_key END,
                client_id = CASE WHEN e.kind = 0 THEN e.client_id END
             FROM unnest($1::bigint[], $2::bigint[]) AS d(room_id, target)
             WHERE e.room_id = d.room_id
               AND ((e.kind = 0 AND e.seq = d.target) OR (e.kind = 4 AND e.target_seq = d.target))",
        )
        .bind(&rooms)
        .bind(&targets)
        .execute(&mut **tx)
        .await?;
    }
    for (room, seq) in &room_deletions {
        sqlx::query(
            "UPDATE entries SET
                frame = NULL, erased = true, mentions = NULL, reactions = NULL,
                edit_seq = NULL, edit_ts = NULL, edit_content = NULL,
                sender = NULL, sender_key = NULL, client_id = NULL, fingerprint = NULL
             WHERE room_id = $1 AND seq < $2 AND (frame IS NOT NULL OR sender IS NOT NULL)",
        )
        .bind(big(*room))
        .bind(big(*seq))
        .execute(&mut **tx)
        .await?;
    }
    if !heads.is_empty() {
        let (mut rooms, mut seqs, mut tss, mut revisions, mut accesses) =
            (vec![], vec![], vec![], vec![], vec![]);
        for (room, (seq, ts, revised)) in heads {
            rooms.push(big(room));
            seqs.push(big(seq));
            tss.push(ts);
            revisions.push(revised);
            accesses.push(access.get(&room).map(|seq| big(*seq)));
        }
        sqlx::query(
            "UPDATE room_heads h SET last_seq = u.seq, last_ts = u.ts,
                                     revision = h.revision + u.revised,
                                     access_seq = COALESCE(u.access, h.access_seq)
             FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
               AS u(room_id, seq, ts, revised, access)
             WHERE h.room_id = u.room_id",
        )
        .bind(&rooms)
        .bind(&seqs)
        .bind(&tss)
        .bind(&revisions)
        .bind(&accesses)
        .execute(&mut **tx)
        .await?;
    }
    for (room, user, standing) in standings {
        put_standing(tx, room, &user, standing)
            .await
            .map_err(Failed::Store)?;
    }
    for (room, settings) in &settings {
        put_settings(tx, *room, settings)
            .await
            .map_err(Failed::Store)?;
    }
    let deleted: Vec<RoomId> = room_deletions.iter().map(|(r, _)| RoomId(*r)).collect();
    delete_rooms_in(tx, &deleted).await.map_err(Failed::Store)?;
    Ok(())
}

/// One row of `entries` as [`MessageStore::read_range`] reads it.
#[derive(sqlx::FromRow)]
struct EntryRow {
    seq: i64,
    id: i64,
    ts: i64,
    sender: Option<String>,
    client_id: Option<String>,
    frame: Option<String>,
    edit_seq: Option<i64>,
    edit_ts: Option<i64>,
    edit_content: Option<String>,
    /// The `jsonb` as text.
    reactions: Option<String>,
}

/// The columns of an [`EntryRow`] in `entries e`.
const ENTRY_COLUMNS: &str = "e.seq, e.id, e.ts, e.sender, e.client_id, e.frame, e.edit_seq, \
                             e.edit_ts, e.edit_content, e.reactions::text AS reactions";

/// An [`EntryRow`] with its room ([`MessageStore::read_stored`]).
#[derive(sqlx::FromRow)]
struct StoredRow {
    room_id: i64,
    #[sqlx(flatten)]
    entry: EntryRow,
}

/// The entries of several rooms' ranges in one query, ranges in the order asked, each in seq
/// order (see [`MessageStore::read_ranges`]), each row made into a `T` by `of` ([`entry_of`],
/// or [`stored_of`] for frames ready to send).
async fn ranges_read<T>(
    pool: &PgPool,
    ranges: &[(RoomId, u64, u64)],
    of: fn(RoomId, EntryRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let rooms: Vec<i64> = ranges.iter().map(|(room, ..)| big(room.0)).collect();
    let froms: Vec<i64> = ranges
        .iter()
        .map(|(_, from, _)| big((*from).max(1)))
        .collect();
    let tos: Vec<i64> = ranges.iter().map(|(.., to)| big(*to)).collect();
    let rows: Vec<StoredRow> = sqlx::query_as(&format!(
        "SELECT e.room_id, {ENTRY_COLUMNS}
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])
                WITH ORDINALITY AS r(room_id, first, last, n)
         JOIN entries e
           ON e.room_id = r.room_id AND e.seq BETWEEN r.first AND r.last
         ORDER BY r.n, e.seq"
    ))
    .bind(&rooms)
    .bind(&froms)
    .bind(&tos)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| of(RoomId(small(row.room_id)), row.entry))
        .collect()
}

/// A row as a [`StoredEntry`]: an entry unchanged since it was stored (no edit, no reaction,
/// not erased) goes out as the frame text stored for it, without parsing it again.
fn stored_of(room: RoomId, row: EntryRow) -> Result<StoredEntry, StoreError> {
    match row {
        EntryRow {
            frame: Some(frame),
            client_id: Some(client_id),
            edit_seq: None,
            reactions: None,
            seq,
            id,
            ts,
            ..
        } => Ok(StoredEntry {
            ack: Ack {
                client_id,
                room_id: room,
                id: small(id),
                seq: small(seq),
                ts,
            },
            // The row's text moves into the frame: no copy.
            frame: EntryFrame::from_written(bytes::Bytes::from(frame.into_bytes())),
        }),
        row => entry_of(room, row).map(|entry| StoredEntry::of(&entry)),
    }
}

fn entry_of(room: RoomId, row: EntryRow) -> Result<Entry, StoreError> {
    let EntryRow {
        seq,
        id,
        ts,
        sender,
        client_id,
        frame,
        edit_seq,
        edit_ts,
        edit_content,
        reactions,
    } = row;
    let Some(frame) = frame else {
        return Ok(Entry::Erased(ErasedEntry {
            room_id: room,
            seq: small(seq),
            id: small(id),
            ts,
            sender: sender.and_then(|s| Username::parse(&s).ok()),
            client_id,
        }));
    };
    let mut entry: Entry = serde_json::from_str(&frame)
        .map_err(|e| StoreError::Database(format!("bad stored entry {room:?}/{seq}: {e}")))?;
    if let Entry::Message(m) = &mut entry {
        if let (Some(seq), Some(ts), Some(content)) = (edit_seq, edit_ts, edit_content) {
            m.content = content;
            m.edited = Some(Edited {
                seq: small(seq),
                ts,
            });
        }
        m.reactions = reactions
            .map(|r| serde_json::from_str(&r))
            .transpose()
            .map_err(|e| StoreError::Database(format!("bad stored reactions: {e}")))?;
    }
    Ok(entry)
}

impl MessageStore for PgMessageStore {
    fn append(&self, batch: Vec<NewEntry>) -> BoxFuture<'_, Result<Vec<Appended>, StoreError>> {
        self.append_with(batch, None).boxed()
    }

    fn append_checked(
        &self,
        batch: Vec<NewEntry>,
        versions: Vec<(RoomId, u64)>,
    ) -> BoxFuture<'_, Result<Vec<Appended>, StoreError>> {
        async move { self.append_with(batch, Some(&versions)).await }.boxed()
    }

    fn head(&self, room: RoomId) -> BoxFuture<'_, Result<RoomHead, StoreError>> {
        async move {
            let head: Option<(i64, Option<i64>, i64)> = sqlx::query_as(
                "SELECT last_seq, last_ts, revision FROM room_heads WHERE room_id = $1",
            )
            .bind(big(room.0))
            .fetch_optional(&self.pool)
            .await?;
            Ok(
                head.map_or(RoomHead::default(), |(seq, ts, revision)| RoomHead {
                    last_seq: small(seq),
                    last_ts: ts,
                    revision: small(revision),
                }),
            )
        }
        .boxed()
    }

    fn last_seqs(&self, rooms: Vec<RoomId>) -> BoxFuture<'_, Result<Vec<u64>, StoreError>> {
        async move {
            let ids: Vec<i64> = rooms.iter().map(|r| big(r.0)).collect();
            let found: Vec<Option<i64>> = sqlx::query_scalar(
                "SELECT h.last_seq FROM unnest($1::bigint[]) WITH ORDINALITY AS r(id, n)
                 LEFT JOIN room_heads h ON h.room_id = r.id ORDER BY r.n",
            )
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
            Ok(found.into_iter().map(|seq| seq.map_or(0, small)).collect())
        }
        .boxed()
    }

    fn messages_after(&self, room: RoomId, seq: u64) -> BoxFuture<'_, Result<u64, StoreError>> {
        async move {
            let count: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM entries
                 WHERE room_id = $1 AND seq > $2 AND kind = $3 AND NOT erased",
            )
            .bind(big(room.0))
            .bind(big(seq))
            .bind(MESSAGE)
            .fetch_one(&self.pool)
            .await?;
            Ok(small(count))
        }
        .boxed()
    }

    fn mentions_after<'a>(
        &'a self,
        room: RoomId,
        user: &'a Username,
        seq: u64,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        async move {
            let count: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM entries
                 WHERE room_id = $1 AND seq > $2 AND kind = $3 AND NOT erased
                   AND $4 = ANY(string_to_array(mentions, ' '))",
            )
            .bind(big(room.0))
            .bind(big(seq))
            .bind(MESSAGE)
            .bind(user.key())
            .fetch_one(&self.pool)
            .await?;
            Ok(small(count))
        }
        .boxed()
    }

    fn read_range(
        &self,
        room: RoomId,
        from: u64,
        to: u64,
    ) -> BoxFuture<'_, Result<Vec<Entry>, StoreError>> {
        async move {
            let rows: Vec<EntryRow> = sqlx::query_as(&format!(
                "SELECT {ENTRY_COLUMNS} FROM entries e
                 WHERE e.room_id = $1 AND e.seq BETWEEN $2 AND $3 ORDER BY e.seq"
            ))
            .bind(big(room.0))
            .bind(big(from.max(1)))
            .bind(big(to))
            .fetch_all(&self.pool)
            .await?;
            rows.into_iter().map(|row| entry_of(room, row)).collect()
        }
        .boxed()
    }

    fn read_ranges(
        &self,
        ranges: Vec<(RoomId, u64, u64)>,
    ) -> BoxFuture<'_, Result<Vec<Entry>, StoreError>> {
        async move { ranges_read(&self.pool, &ranges, entry_of).await }.boxed()
    }

    fn read_stored(
        &self,
        ranges: Vec<(RoomId, u64, u64)>,
    ) -> BoxFuture<'_, Result<Vec<StoredEntry>, StoreError>> {
        async move { ranges_read(&self.pool, &ranges, stored_of).await }.boxed()
    }

    fn durability(&self) -> Durability {
        Durability::Commit
    }

    /// How full PostgreSQL's notification queue is (0..1): a listener that stops reading fills
    /// it, and a full queue fails every append's commit (see `bus::postgres`).
    fn gauges(&self) -> BoxFuture<'_, Vec<(&'static str, f64)>> {
        async move {
            let usage = sqlx::query_scalar::<_, f64>("SELECT pg_notification_queue_usage()")
                .fetch_one(&self.pool)
                .await;
            match usage {
                Ok(usage) => vec![("minitalk_notification_queue_usage", usage)],
                Err(e) => {
                    tracing::warn!("could not read the notification queue's usage: {e}");
                    Vec::new()
                }
            }
        }
        .boxed()
    }
}
