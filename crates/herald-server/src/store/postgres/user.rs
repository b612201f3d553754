//! Users and their push subscriptions on Postgres, with the rules of
//! [`crate::store::user`] and [`crate::store::subscription`].

use herald_proto::api::{PushKeys, PushSubscription, Role, User};
use tokio_postgres::Row;

use super::{PgDb, to_i64, to_u64};
use crate::store::StoreError;
use crate::store::now_unix;
use crate::store::subscription::Saved;
use crate::store::user::UserRecord;

const COLUMNS: &str = "id, email, name, role, password_hash";

fn record(row: &Row) -> Result<UserRecord, StoreError> {
    let role: String = row.try_get(3)?;
    let role = Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?;
    Ok(UserRecord {
        user: User {
            id: to_u64(row.try_get(0)?, "user id")?,
            email: row.try_get(1)?,
            name: row.try_get(2)?,
            role,
        },
        password_hash: row.try_get(4)?,
    })
}

impl PgDb {
    pub async fn insert_user(
        &self,
        email: &str,
        name: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<User, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "INSERT INTO users (email, name, role, password_hash, created_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT ((lower(email))) DO NOTHING RETURNING id",
                &[&email, &name, &role.as_str(), &password_hash, &now_unix()],
            )
            .await?;
        let Some(row) = row else {
            return Err(StoreError::DuplicateEmail(email.to_owned()));
        };
        Ok(User {
            id: to_u64(row.try_get(0)?, "user id")?,
            email: email.to_owned(),
            name: name.to_owned(),
            role,
        })
    }

    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("SELECT {COLUMNS} FROM users WHERE lower(email) = lower($1)"),
                &[&email],
            )
            .await?;
        row.as_ref().map(record).transpose()
    }

    pub async fn find_user_by_id(&self, id: u64) -> Result<Option<UserRecord>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("SELECT {COLUMNS} FROM users WHERE id = $1"),
                &[&to_i64(id)],
            )
            .await?;
        row.as_ref().map(record).transpose()
    }

    /// Which of `ids` name no user, in one query.
    pub async fn missing_users(&self, ids: &[u64]) -> Result<Vec<u64>, StoreError> {
        // An id past Postgres's bigint range names nobody.
        let wanted: Vec<i64> = ids
            .iter()
            .filter_map(|&id| i64::try_from(id).ok())
            .collect();
        let rows = self
            .client()
            .await?
            .query("SELECT id FROM users WHERE id = ANY($1)", &[&wanted])
            .await?;
        let mut found = std::collections::HashSet::with_capacity(rows.len());
        for row in &rows {
            found.insert(to_u64(row.try_get(0)?, "user id")?);
        }
        Ok(ids
            .iter()
            .copied()
            .filter(|id| !found.contains(id))
            .collect())
    }

    /// Saves a subscription. The user's row is locked first, so two nodes
    /// saving for one user at once cannot both pass the cap.
    pub async fn save_subscription(
        &self,
        user_id: u64,
        sub: &PushSubscription,
        max: usize,
    ) -> Result<Saved, StoreError> {
        let uid = to_i64(user_id);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", &[&uid])
            .await?;
        let owner = tx
            .query_opt(
                "SELECT user_id FROM push_subscriptions WHERE endpoint = $1 FOR UPDATE",
                &[&sub.endpoint],
            )
            .await?
            .map(|r| r.try_get::<_, i64>(0))
            .transpose()?;
        let saved = match owner {
            Some(owner) if owner != uid => Saved::OwnedByAnother,
            Some(_) => {
                tx.execute(
                    "UPDATE push_subscriptions SET p256dh = $2, auth = $3 WHERE endpoint = $1",
                    &[&sub.endpoint, &sub.keys.p256dh, &sub.keys.auth],
                )
                .await?;
                Saved::Refreshed
            }
            None => {
                let count: i64 = tx
                    .query_one(
                        "SELECT COUNT(*) FROM push_subscriptions WHERE user_id = $1",
                        &[&uid],
                    )
                    .await?
                    .try_get(0)?;
                if usize::try_from(count).unwrap_or(usize::MAX) >= max {
                    Saved::LimitReached
                } else {
                    // Another user may have saved the endpoint since the
                    // check: the first one keeps it.
                    let inserted = tx
                        .execute(
                            "INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth, created_at)
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (endpoint) DO NOTHING",
                            &[
                                &sub.endpoint,
                                &uid,
                                &sub.keys.p256dh,
                                &sub.keys.auth,
                                &now_unix(),
                            ],
                        )
                        .await?;
                    if inserted == 1 {
                        Saved::Added
                    } else {
                        Saved::OwnedByAnother
                    }
                }
            }
        };
        tx.commit().await?;
        Ok(saved)
    }

    pub async fn delete_subscription(
        &self,
        user_id: u64,
        endpoint: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .client()
            .await?
            .execute(
                "DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2",
                &[&to_i64(user_id), &endpoint],
            )
            .await?
            > 0)
    }

    pub async fn subscriptions_for(
        &self,
        user_id: u64,
        limit: usize,
    ) -> Result<Vec<PushSubscription>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .client()
            .await?
            .query(
                "SELECT endpoint, p256dh, auth FROM push_subscriptions WHERE user_id = $1
                 ORDER BY created_at DESC, seq DESC LIMIT $2",
                &[&to_i64(user_id), &limit],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PushSubscription {
                    endpoint: r.try_get(0)?,
                    keys: PushKeys {
                        p256dh: r.try_get(1)?,
                        auth: r.try_get(2)?,
                    },
                })
            })
            .collect()
    }
}
