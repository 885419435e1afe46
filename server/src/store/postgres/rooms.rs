//! [`PgRooms`]: rooms and standings as rows (`rooms`, `standings`).
//!
//! The promises are the trait's (`store::rooms`), checked by the same contract suite as the file
//! store. Where the file store decides under its writer's lock, this store decides in one
//! transaction: a creator's room count under a per-user advisory lock (so two nodes cannot both
//! create the room past the quota), a direct conversation's uniqueness by the `direct_key`
//! unique index (two nodes opening the same conversation at once answer the same room).
//!
//! Standings are words in the rows (`member`, `invited`, `banned`; roles and notification levels
//! as their protocol names), so a row reads the same in `psql` as on the wire.
//!
//! Longer than 400 lines on purpose: the whole [`RoomStore`] on PostgreSQL, a query and its row
//! mapping per method; read by method, each is short.

use super::{big, small};
use crate::store::rooms::document::{direct_key, DIRECTORY_SCAN, DIRECT_NAME};
use crate::store::rooms::{
    DirectoryRows, MemberRow, RoomAccess, RoomError, RoomStore, RoomView, Standing, StandingUpdate,
};
use crate::store::{RoomSettings, StoreError};
use app::model::{
    NotifyLevel, Role, RoomId, RoomName, Topic, UserId, UserInfo, Username, Visibility,
};
use futures::future::{BoxFuture, FutureExt};
use serde::{de::DeserializeOwned, Serialize};
use sqlx::{PgPool, Postgres, Transaction};

pub struct PgRooms {
    pool: PgPool,
}

impl PgRooms {
    pub(super) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// A unit enum's protocol name (`"owner"`, `"private"`), as stored.
fn word<T: Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(word)) => word,
        other => unreachable!("a unit variant serializes as a string: {other:?}"),
    }
}

/// A stored word back as its enum.
fn from_word<T: DeserializeOwned>(word: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(word.to_owned()))
        .map_err(|_| StoreError::Database(format!("bad stored word {word:?}")))
}

fn parsed<T, E>(raw: &str, parse: impl FnOnce(&str) -> Result<T, E>) -> Result<T, StoreError> {
    parse(raw).map_err(|_| StoreError::Database(format!("bad stored value {raw:?}")))
}

/// A viewer's standing from their row's `standing` and `role` (no row: gone).
fn standing_of(standing: Option<&str>, role: Option<&str>) -> Result<Standing, StoreError> {
    Ok(match standing {
        Some("member") => Standing::Member(from_word(role.unwrap_or("member"))?),
        Some("invited") => Standing::Invited,
        Some("banned") => Standing::Banned,
        Some(other) => return Err(StoreError::Database(format!("bad standing {other:?}"))),
        None => Standing::Gone,
    })
}

/// The columns [`view`] reads, for the viewer `$1`, from `rooms r` joined with the viewer's
/// standing `v`.
const VIEW_COLUMNS: &str = r#"
    r.id, r.name, r.topic, r.visibility,
    (SELECT count(*) FROM standings m WHERE m.room_id = r.id AND m.standing = 'member'),
    v.standing, v.role, v.last_read, v.notify,
    CASE WHEN r.visibility = 'direct' THEN
        ARRAY(SELECT m.username FROM standings m
              WHERE m.room_id = r.id AND m.standing = 'member' AND m.user_id <> $1
              ORDER BY m.user_id)
    END
"#;

type ViewRow = (
    i64,
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<Vec<String>>,
);

fn view(row: ViewRow) -> Result<RoomView, StoreError> {
    let (id, name, topic, visibility, members, standing, role, last_read, notify, direct) = row;
    let visibility: Visibility = from_word(&visibility)?;
    let viewer = standing_of(standing.as_deref(), role.as_deref())?;
    let member = matches!(viewer, Standing::Member(_));
    Ok(RoomView {
        id: RoomId(small(id)),
        name: parsed(&name, RoomName::parse)?,
        topic: parsed(&topic, Topic::parse)?,
        member_count: members as usize,
        viewer_last_read: last_read.filter(|_| member).map(small),
        viewer_notify: match notify.filter(|_| member) {
            Some(level) => from_word(&level)?,
            None => NotifyLevel::default_for(visibility),
        },
        visibility,
        viewer,
        direct_with: direct
            .unwrap_or_default()
            .iter()
            .map(|name| parsed(name, Username::parse))
            .collect::<Result<_, _>>()?,
    })
}

/// Whether `viewer` may see a room of `visibility` standing as `standing`: public rooms
/// everyone, private ones members and invitees, direct ones members.
fn visible(visibility: Visibility, standing: Standing) -> bool {
    match visibility {
        Visibility::Public => true,
        Visibility::Private => matches!(standing, Standing::Member(_) | Standing::Invited),
        Visibility::Direct => matches!(standing, Standing::Member(_)),
    }
}

/// Sets `user`'s standing in `room` (nothing when the room is not there), in the transaction:
/// for the room store's own writes and for the timeline's member entries, which an append
/// projects in its own transaction (`store::postgres::messages`).
pub(super) async fn put_standing(
    tx: &mut Transaction<'_, Postgres>,
    room: RoomId,
    user: &UserInfo,
    standing: Standing,
) -> Result<(), StoreError> {
    let (room, id) = (big(room.0), big(user.id.0));
    let (standing, role) = match standing {
        Standing::Gone => {
            sqlx::query("DELETE FROM standings WHERE room_id = $1 AND user_id = $2")
                .bind(room)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            return Ok(());
        }
        Standing::Member(role) => ("member", Some(word(role))),
        Standing::Invited => ("invited", None),
        Standing::Banned => ("banned", None),
    };
    // A member made a member again keeps their name as joined, read mark and notification
    // level; anyone else starts afresh.
    sqlx::query(
        "INSERT INTO standings (room_id, user_id, username, standing, role)
         SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM rooms WHERE id = $1)
         ON CONFLICT (room_id, user_id) DO UPDATE SET
            standing = $4,
            role = $5,
            username = CASE WHEN standings.standing = 'member' AND $4 = 'member'
                       THEN standings.username ELSE $3 END,
            last_read = CASE WHEN standings.standing = 'member' AND $4 = 'member'
                        THEN standings.last_read ELSE 0 END,
            notify = CASE WHEN standings.standing = 'member' AND $4 = 'member'
                     THEN standings.notify END",
    )
    .bind(room)
    .bind(id)
    .bind(user.username.as_str())
    .bind(standing)
    .bind(role)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Sets `room`'s name and topic (nothing when it is not there), in the transaction.
pub(super) async fn put_settings(
    tx: &mut Transaction<'_, Postgres>,
    room: RoomId,
    settings: &RoomSettings,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE rooms SET name = $2, topic = $3 WHERE id = $1")
        .bind(big(room.0))
        .bind(settings.name.as_str())
        .bind(settings.topic.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Deletes `rooms` and their standings, in the transaction.
pub(super) async fn delete_rooms_in(
    tx: &mut Transaction<'_, Postgres>,
    rooms: &[RoomId],
) -> Result<(), StoreError> {
    let ids: Vec<i64> = rooms.iter().map(|r| big(r.0)).collect();
    // The standings go with their room (ON DELETE CASCADE).
    sqlx::query("DELETE FROM rooms WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Takes the per-user lock that serializes `user`'s room creations on every node.
async fn lock_creator(tx: &mut Transaction<'_, Postgres>, user: UserId) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('rooms:' || $1::bigint, 0))")
        .bind(big(user.0))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Makes `user` a member of `room` with `role`, in the transaction.
async fn insert_member(
    tx: &mut Transaction<'_, Postgres>,
    room: i64,
    user: &UserInfo,
    role: Role,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO standings (room_id, user_id, username, standing, role)
         VALUES ($1, $2, $3, 'member', $4) ON CONFLICT DO NOTHING",
    )
    .bind(room)
    .bind(big(user.id.0))
    .bind(user.username.as_str())
    .bind(word(role))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl PgRooms {
    /// Fails with [`RoomError::NoSuchRoom`] unless `room` exists, else [`RoomError::NotMember`]:
    /// why a member's write found no row.
    async fn not_member(&self, room: RoomId) -> RoomError {
        let exists = sqlx::query_scalar::<_, i64>("SELECT id FROM rooms WHERE id = $1")
            .bind(big(room.0))
            .fetch_optional(&self.pool)
            .await;
        match exists {
            Ok(Some(_)) => RoomError::NotMember,
            Ok(None) => RoomError::NoSuchRoom,
            Err(e) => RoomError::Store(e.into()),
        }
    }

    /// The views of the rooms `filter` selects (SQL over `r` and `v`, `$1` the viewer, `$2` a
    /// bigint array), by id.
    async fn views(
        &self,
        viewer: UserId,
        filter: &str,
        ids: &[i64],
    ) -> Result<Vec<RoomView>, StoreError> {
        let sql = format!(
            "SELECT {VIEW_COLUMNS} FROM rooms r
             LEFT JOIN standings v ON v.room_id = r.id AND v.user_id = $1
             WHERE {filter} ORDER BY r.id"
        );
        let rows: Vec<ViewRow> = sqlx::query_as(&sql)
            .bind(big(viewer.0))
            .bind(ids)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(view).collect()
    }
}

impl RoomStore for PgRooms {
    fn create(
        &self,
        by: UserInfo,
        name: RoomName,
        visibility: Visibility,
        created: i64,
        quota: usize,
    ) -> BoxFuture<'_, Result<RoomId, RoomError>> {
        async move {
            let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
            lock_creator(&mut tx, by.id).await?;
            let made: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM rooms WHERE created_by = $1 AND direct_key IS NULL",
            )
            .bind(big(by.id.0))
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from)?;
            if made as usize >= quota {
                return Err(RoomError::QuotaReached {
                    created: made as usize,
                });
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO rooms (name, visibility, created_by, created)
                 VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(name.as_str())
            .bind(word(visibility))
            .bind(big(by.id.0))
            .bind(created)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from)?;
            insert_member(&mut tx, id, &by, Role::Owner).await?;
            tx.commit().await.map_err(StoreError::from)?;
            Ok(RoomId(small(id)))
        }
        .boxed()
    }

    fn open_direct(
        &self,
        by: UserInfo,
        with: Vec<UserInfo>,
        created: i64,
        quota: usize,
    ) -> BoxFuture<'_, Result<(RoomId, bool), RoomError>> {
        async move {
            let people: Vec<UserId> = with.iter().map(|u| u.id).chain([by.id]).collect();
            let key = direct_key(&people);
            let find = || {
                sqlx::query_scalar::<_, i64>("SELECT id FROM rooms WHERE direct_key = $1")
                    .bind(&key)
                    .fetch_optional(&self.pool)
            };
            if let Some(id) = find().await.map_err(StoreError::from)? {
                return Ok((RoomId(small(id)), false));
            }
            let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
            lock_creator(&mut tx, by.id).await?;
            let opened: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM rooms WHERE created_by = $1 AND direct_key IS NOT NULL",
            )
            .bind(big(by.id.0))
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from)?;
            if opened as usize >= quota {
                return Err(RoomError::DirectQuotaReached {
                    opened: opened as usize,
                });
            }
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO rooms (name, visibility, created_by, created, direct_key)
                 VALUES ($1, 'direct', $2, $3, $4)
                 ON CONFLICT (direct_key) DO NOTHING RETURNING id",
            )
            .bind(DIRECT_NAME)
            .bind(big(by.id.0))
            .bind(created)
            .bind(&key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from)?;
            let Some(id) = id else {
                // Another node opened it a moment ago.
                drop(tx);
                let id = find().await.map_err(StoreError::from)?;
                return id
                    .map(|id| (RoomId(small(id)), false))
                    .ok_or(RoomError::NoSuchRoom);
            };
            for user in with.iter().chain([&by]) {
                insert_member(&mut tx, id, user, Role::Member).await?;
            }
            tx.commit().await.map_err(StoreError::from)?;
            Ok((RoomId(small(id)), true))
        }
        .boxed()
    }

    fn set_standings(&self, updates: Vec<StandingUpdate>) -> BoxFuture<'_, Result<(), RoomError>> {
        async move {
            let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
            let mut rooms: Vec<i64> = updates.iter().map(|u| big(u.room.0)).collect();
            rooms.sort_unstable();
            rooms.dedup();
            let found: i64 = sqlx::query_scalar("SELECT count(*) FROM rooms WHERE id = ANY($1)")
                .bind(&rooms)
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            if found as usize != rooms.len() {
                return Err(RoomError::NoSuchRoom);
            }
            for update in updates {
                put_standing(&mut tx, update.room, &update.user, update.standing).await?;
            }
            tx.commit().await.map_err(StoreError::from)?;
            Ok(())
        }
        .boxed()
    }

    fn set_settings(
        &self,
        changes: Vec<(RoomId, RoomSettings)>,
    ) -> BoxFuture<'_, Result<(), RoomError>> {
        async move {
            // In order: a later change of the same room wins, as it would applied one by one.
            let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
            for (room, settings) in &changes {
                put_settings(&mut tx, *room, settings).await?;
            }
            tx.commit().await.map_err(StoreError::from)?;
            Ok(())
        }
        .boxed()
    }

    fn delete_rooms(&self, rooms: Vec<RoomId>) -> BoxFuture<'_, Result<(), RoomError>> {
        async move {
            let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
            delete_rooms_in(&mut tx, &rooms).await?;
            tx.commit().await.map_err(StoreError::from)?;
            Ok(())
        }
        .boxed()
    }

    fn mark_read(
        &self,
        room: RoomId,
        user: UserId,
        seq: u64,
    ) -> BoxFuture<'_, Result<(), RoomError>> {
        async move {
            let marked = sqlx::query(
                "UPDATE standings SET last_read = GREATEST(last_read, $3)
                 WHERE room_id = $1 AND user_id = $2 AND standing = 'member'",
            )
            .bind(big(room.0))
            .bind(big(user.0))
            .bind(big(seq))
            .execute(&self.pool)
            .await
            .map_err(StoreError::from)?;
            if marked.rows_affected() == 0 {
                return Err(self.not_member(room).await);
            }
            Ok(())
        }
        .boxed()
    }

    fn set_notify(
        &self,
        room: RoomId,
        user: UserId,
        level: NotifyLevel,
    ) -> BoxFuture<'_, Result<(), RoomError>> {
        async move {
            let set = sqlx::query(
                "UPDATE standings SET notify = $3
                 WHERE room_id = $1 AND user_id = $2 AND standing = 'member'",
            )
            .bind(big(room.0))
            .bind(big(user.0))
            .bind(word(level))
            .execute(&self.pool)
            .await
            .map_err(StoreError::from)?;
            if set.rows_affected() == 0 {
                return Err(self.not_member(room).await);
            }
            Ok(())
        }
        .boxed()
    }

    fn room(&self, room: RoomId, viewer: UserId) -> BoxFuture<'_, Result<RoomView, RoomError>> {
        async move {
            let found = self
                .views(viewer, "r.id = ANY($2)", &[big(room.0)])
                .await?
                .pop()
                .filter(|v| visible(v.visibility, v.viewer));
            found.ok_or(RoomError::NoSuchRoom)
        }
        .boxed()
    }

    fn rooms_of(&self, user: UserId) -> BoxFuture<'_, Result<Vec<RoomView>, StoreError>> {
        async move {
            self.views(user, "v.standing IN ('member', 'invited')", &[])
                .await
        }
        .boxed()
    }

    fn directory(
        &self,
        viewer: UserId,
        query: String,
        before: Option<RoomId>,
        limit: usize,
    ) -> BoxFuture<'_, Result<DirectoryRows, StoreError>> {
        async move {
            if limit == 0 {
                return Ok(DirectoryRows {
                    rooms: Vec::new(),
                    next: None,
                });
            }
            let query = query.trim().to_lowercase();
            let before = before.map_or(i64::MAX, |b| big(b.0));
            // At most DIRECTORY_SCAN rooms looked at a call, newest first, as the file store
            // does: a search that matches little answers a short page and where to go on.
            let (hits, scanned, oldest): (Vec<i64>, i64, Option<i64>) = sqlx::query_as(
                r#"WITH looked AS (
                       SELECT r.id, r.name, r.visibility, v.standing
                       FROM rooms r
                       LEFT JOIN standings v ON v.room_id = r.id AND v.user_id = $1
                       WHERE r.id < $2 ORDER BY r.id DESC LIMIT $3)
                   SELECT
                       ARRAY(SELECT id FROM looked
                             WHERE (visibility = 'public'
                                    OR (visibility = 'private'
                                        AND standing IN ('member', 'invited')))
                               AND strpos(lower(name), $4) > 0
                             ORDER BY id DESC LIMIT $5),
                       (SELECT count(*) FROM looked),
                       (SELECT min(id) FROM looked)"#,
            )
            .bind(big(viewer.0))
            .bind(before)
            .bind(DIRECTORY_SCAN as i64)
            .bind(&query)
            .bind(limit as i64 + 1)
            .fetch_one(&self.pool)
            .await?;
            let next = if hits.len() > limit {
                Some(RoomId(small(hits[limit - 1])))
            } else if scanned as usize == DIRECTORY_SCAN {
                oldest.map(|id| RoomId(small(id)))
            } else {
                None
            };
            let page = &hits[..hits.len().min(limit)];
            let mut rooms = self.views(viewer, "r.id = ANY($2)", page).await?;
            rooms.reverse();
            Ok(DirectoryRows { rooms, next })
        }
        .boxed()
    }

    fn members(&self, room: RoomId) -> BoxFuture<'_, Result<Vec<MemberRow>, RoomError>> {
        async move {
            let rows: Vec<(i64, String, Option<String>)> = sqlx::query_as(
                "SELECT user_id, username, role FROM standings
                 WHERE room_id = $1 AND standing = 'member' ORDER BY user_id",
            )
            .bind(big(room.0))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
            if rows.is_empty() {
                // A room has at least its creator until it is deleted; none: is it there?
                if let RoomError::NoSuchRoom = self.not_member(room).await {
                    return Err(RoomError::NoSuchRoom);
                }
            }
            rows.into_iter()
                .map(|(id, name, role)| {
                    Ok((
                        UserId(small(id)),
                        parsed(&name, Username::parse)?,
                        from_word(role.as_deref().unwrap_or("member"))?,
                    ))
                })
                .collect::<Result<_, StoreError>>()
                .map_err(RoomError::from)
        }
        .boxed()
    }

    fn access(&self) -> BoxFuture<'_, Result<Vec<(RoomId, RoomAccess)>, StoreError>> {
        self.access_where("true", Vec::new()).boxed()
    }

    fn access_of(
        &self,
        rooms: Vec<RoomId>,
    ) -> BoxFuture<'_, Result<Vec<(RoomId, RoomAccess)>, StoreError>> {
        let ids = rooms.iter().map(|r| big(r.0)).collect();
        self.access_where("id = ANY($1)", ids).boxed()
    }
}

impl PgRooms {
    /// The access state of the rooms `filter` selects (SQL over `rooms`, `$1` a bigint
    /// array), read in one snapshot.
    async fn access_where(
        &self,
        filter: &str,
        ids: Vec<i64>,
    ) -> Result<Vec<(RoomId, RoomAccess)>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut *tx)
            .await?;
        // With the seq of the newest entry that changed each (see `RoomAccess::version`).
        let rooms: Vec<(i64, String, i64)> = sqlx::query_as(&format!(
            "SELECT id, visibility,
                    COALESCE((SELECT access_seq FROM room_heads h WHERE h.room_id = rooms.id), 0)
             FROM rooms WHERE {filter} ORDER BY id"
        ))
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        let standings: Vec<(i64, i64, String, Option<String>)> = sqlx::query_as(&format!(
            "SELECT room_id, user_id, standing, role FROM standings
             WHERE room_id IN (SELECT id FROM rooms WHERE {filter}) ORDER BY room_id"
        ))
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut access = Vec::with_capacity(rooms.len());
        let mut standings = standings.into_iter().peekable();
        for (id, visibility, version) in rooms {
            let mut room = RoomAccess::new(from_word(&visibility)?);
            room.version = small(version);
            while let Some((_, user, standing, role)) =
                standings.next_if(|(room_id, ..)| *room_id <= id)
            {
                let standing = standing_of(Some(&standing), role.as_deref())?;
                room.set(UserId(small(user)), standing);
            }
            access.push((RoomId(small(id)), room));
        }
        Ok(access)
    }
}
