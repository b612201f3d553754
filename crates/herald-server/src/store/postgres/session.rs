//! Sessions and rotating refresh tokens on Postgres, with the rules of
//! [`crate::store::session`]. Where SQLite relies on its one connection to
//! serialise a check and a write, these lock the row they check, so two
//! nodes redeeming one token at once still see it used once.

use super::{PgDb, to_i64, to_u64};
use crate::store::StoreError;
use crate::store::now_unix;
use crate::store::session::{Pruned, Redeemed, token_hash};

impl PgDb {
    pub async fn create_session(
        &self,
        session_id: &str,
        user_id: u64,
        login_id: &str,
    ) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO sessions (id, user_id, login_id, created_at) VALUES ($1, $2, $3, $4)",
                &[&session_id, &to_i64(user_id), &login_id, &now_unix()],
            )
            .await?;
        Ok(())
    }

    pub async fn add_refresh_token(
        &self,
        session_id: &str,
        token: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO refresh_tokens (hash, session_id, expires_at) VALUES ($1, $2, $3)",
                &[&token_hash(token), &session_id, &expires_at],
            )
            .await?;
        Ok(())
    }

    pub async fn session_is_active(&self, session_id: &str) -> Result<bool, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT revoked_at IS NULL FROM sessions WHERE id = $1",
                &[&session_id],
            )
            .await?;
        Ok(match row {
            Some(row) => row.try_get(0)?,
            None => false,
        })
    }

    pub async fn revoke_session(&self, session_id: &str) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                &[&session_id, &now_unix()],
            )
            .await?;
        Ok(())
    }

    /// Spends a refresh token in one transaction, its row locked.
    pub async fn redeem_refresh_token(&self, token: &str) -> Result<Redeemed, StoreError> {
        let hash = token_hash(token);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "SELECT t.session_id, t.expires_at, t.used_at, s.user_id, s.revoked_at
                 FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
                 WHERE t.hash = $1 FOR UPDATE OF t",
                &[&hash],
            )
            .await?;
        let now = now_unix();
        let outcome = match row {
            None => Redeemed::Invalid,
            Some(row) => {
                let session_id: String = row.try_get(0)?;
                let expires_at: i64 = row.try_get(1)?;
                let used_at: Option<i64> = row.try_get(2)?;
                let user_id = to_u64(row.try_get(3)?, "user id")?;
                let revoked_at: Option<i64> = row.try_get(4)?;
                match (revoked_at, used_at) {
                    (Some(_), _) => Redeemed::Invalid,
                    (None, Some(_)) => {
                        tx.execute(
                            "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                            &[&session_id, &now],
                        )
                        .await?;
                        Redeemed::Reused { session_id }
                    }
                    (None, None) if expires_at <= now => Redeemed::Invalid,
                    (None, None) => {
                        tx.execute(
                            "UPDATE refresh_tokens SET used_at = $2 WHERE hash = $1",
                            &[&hash, &now],
                        )
                        .await?;
                        Redeemed::Ok {
                            session_id,
                            user_id,
                        }
                    }
                }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    pub async fn session_of(&self, token: &str) -> Result<Option<String>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT session_id FROM refresh_tokens WHERE hash = $1",
                &[&token_hash(token)],
            )
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Deletes ended sessions and expired refresh tokens, by the rules of
    /// [`crate::store::session::prune`]. The doomed sessions are picked and
    /// locked first, so the counts are exact whatever commits meanwhile.
    pub async fn prune_sessions(&self, now: i64, grace: i64) -> Result<Pruned, StoreError> {
        let cutoff = now.saturating_sub(grace);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let doomed: Vec<String> = tx
            .query(
                "SELECT id FROM sessions WHERE revoked_at IS NOT NULL
                    OR (created_at <= $1
                        AND NOT EXISTS (SELECT 1 FROM refresh_tokens t
                                        WHERE t.session_id = sessions.id AND t.expires_at > $1))
                 FOR UPDATE",
                &[&cutoff],
            )
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        let refresh_tokens = tx
            .execute(
                "DELETE FROM refresh_tokens WHERE session_id = ANY($1) OR expires_at <= $2",
                &[&doomed, &cutoff],
            )
            .await?;
        let sessions = tx
            .execute("DELETE FROM sessions WHERE id = ANY($1)", &[&doomed])
            .await?;
        tx.commit().await?;
        Ok(Pruned {
            sessions,
            refresh_tokens,
        })
    }
}
