//! [`PgAccounts`]: users and sessions as rows (`users`, `sessions`).
//!
//! The rules are the trait's (`store::accounts`): a name is unique by its key, which the
//! `users.name_key` unique index decides for every node at once; a user's sessions are counted
//! and trimmed under a per-user advisory lock, so two sign-ins of one user on two nodes cannot
//! both keep the one session too many. Sessions are stored under the token's hash only.

use super::{big, small};
use crate::hub::SessionKey;
use crate::store::accounts::{AccountError, AccountStore, StoredSession, UserRecord};
use crate::store::StoreError;
use app::model::{UserId, UserInfo, Username};
use futures::future::{BoxFuture, FutureExt};
use sqlx::PgPool;

pub struct PgAccounts {
    pool: PgPool,
}

impl PgAccounts {
    pub(super) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// A stored name back as a [`Username`] (it was one when stored).
fn username(raw: String) -> Result<Username, StoreError> {
    Username::parse(&raw).map_err(|_| StoreError::Database(format!("bad stored name {raw:?}")))
}

/// Who these users are, as stored (ids not found are left out): what a node's relay, which
/// holds the pool and not the account store, names people with when it announces their
/// presence (`bus::postgres`).
pub async fn users_by_id(pool: &PgPool, ids: &[UserId]) -> Result<Vec<UserInfo>, StoreError> {
    let ids: Vec<i64> = ids.iter().map(|id| big(id.0)).collect();
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, username FROM users WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(pool)
            .await?;
    rows.into_iter()
        .map(|(id, name)| {
            Ok(UserInfo {
                id: UserId(small(id)),
                username: username(name)?,
            })
        })
        .collect()
}

impl AccountStore for PgAccounts {
    fn create_user(
        &self,
        name: Username,
        password_hash: String,
        created: i64,
    ) -> BoxFuture<'_, Result<UserInfo, AccountError>> {
        async move {
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO users (username, name_key, password_hash, created)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name_key) DO NOTHING
                 RETURNING id",
            )
            .bind(name.as_str())
            .bind(name.key())
            .bind(password_hash)
            .bind(created)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)?;
            let id = id.ok_or(AccountError::UsernameTaken)?;
            Ok(UserInfo {
                id: UserId(small(id)),
                username: name,
            })
        }
        .boxed()
    }

    fn user_by_name(
        &self,
        name: &Username,
    ) -> BoxFuture<'_, Result<Option<UserRecord>, StoreError>> {
        let key = name.key();
        async move {
            let row: Option<(i64, String, String, i64)> = sqlx::query_as(
                "SELECT id, username, password_hash, created FROM users WHERE name_key = $1",
            )
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
            row.map(|(id, name, password_hash, created)| {
                Ok(UserRecord {
                    user: UserInfo {
                        id: UserId(small(id)),
                        username: username(name)?,
                    },
                    password_hash,
                    created,
                })
            })
            .transpose()
        }
        .boxed()
    }

    fn begin_session(
        &self,
        key: SessionKey,
        session: StoredSession,
        max_per_user: usize,
    ) -> BoxFuture<'_, Result<Vec<SessionKey>, StoreError>> {
        async move {
            let user = big(session.user.id.0);
            let mut tx = self.pool.begin().await?;
            // One sign-in of this user at a time, on any node: the count below stays true
            // until the commit.
            sqlx::query(
                "SELECT pg_advisory_xact_lock(hashtextextended('session:' || $1::bigint, 0))",
            )
            .bind(user)
            .execute(&mut *tx)
            .await?;
            // The oldest (soonest to expire) go first, as in `store::accounts::document`.
            let own: Vec<String> = sqlx::query_scalar(
                r#"SELECT key FROM sessions WHERE user_id = $1 ORDER BY expires, key COLLATE "C""#,
            )
            .bind(user)
            .fetch_all(&mut *tx)
            .await?;
            let excess = (own.len() + 1).saturating_sub(max_per_user);
            let evict = &own[..excess.min(own.len())];
            sqlx::query("DELETE FROM sessions WHERE key = ANY($1)")
                .bind(evict)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO sessions (key, user_id, username, expires) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (key) DO UPDATE
                 SET user_id = $2, username = $3, expires = $4",
            )
            .bind(&*key.0)
            .bind(user)
            .bind(session.user.username.as_str())
            .bind(session.expires)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(evict
                .iter()
                .map(|k| SessionKey(k.as_str().into()))
                .collect())
        }
        .boxed()
    }

    fn session(
        &self,
        key: &SessionKey,
        now: i64,
    ) -> BoxFuture<'_, Result<Option<StoredSession>, StoreError>> {
        let key = key.clone();
        async move {
            let row: Option<(i64, String, i64)> = sqlx::query_as(
                "SELECT user_id, username, expires FROM sessions WHERE key = $1 AND expires > $2",
            )
            .bind(&*key.0)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            row.map(|(id, name, expires)| {
                Ok(StoredSession {
                    user: UserInfo {
                        id: UserId(small(id)),
                        username: username(name)?,
                    },
                    expires,
                })
            })
            .transpose()
        }
        .boxed()
    }

    fn end_session(&self, key: &SessionKey) -> BoxFuture<'_, Result<bool, StoreError>> {
        let key = key.clone();
        async move {
            let ended = sqlx::query("DELETE FROM sessions WHERE key = $1")
                .bind(&*key.0)
                .execute(&self.pool)
                .await?;
            Ok(ended.rows_affected() > 0)
        }
        .boxed()
    }

    fn end_sessions_of(&self, user: UserId) -> BoxFuture<'_, Result<usize, StoreError>> {
        async move {
            let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(big(user.0))
                .execute(&self.pool)
                .await?;
            Ok(ended.rows_affected() as usize)
        }
        .boxed()
    }
}
