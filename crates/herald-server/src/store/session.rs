//! Sessions and their rotating refresh tokens.
//!
//! A session is one login. Each refresh token can be used once: using it
//! marks it used and issues the next one in the same session. Presenting a
//! used token again means it was copied, so the whole session is revoked.

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::{StoreError, now_unix};

/// The stored form of a refresh token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn create(
    conn: &Connection,
    session_id: &str,
    user_id: u64,
    login_id: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sessions (id, user_id, login_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![session_id, user_id, login_id, now_unix()],
    )?;
    Ok(())
}

pub fn add_refresh_token(
    conn: &Connection,
    session_id: &str,
    token: &str,
    expires_at: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO refresh_tokens (hash, session_id, expires_at) VALUES (?1, ?2, ?3)",
        params![token_hash(token), session_id, expires_at],
    )?;
    Ok(())
}

/// Whether a session exists and has not been revoked.
pub fn is_active(conn: &Connection, session_id: &str) -> Result<bool, StoreError> {
    let revoked: Option<Option<i64>> = conn
        .query_row(
            "SELECT revoked_at FROM sessions WHERE id = ?1",
            [session_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(matches!(revoked, Some(None)))
}

pub fn revoke(conn: &Connection, session_id: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![session_id, now_unix()],
    )?;
    Ok(())
}

/// What presenting a refresh token found.
#[derive(Debug, PartialEq, Eq)]
pub enum Redeemed {
    /// Valid: the token is now used; issue the next one in this session.
    Ok { session_id: String, user_id: u64 },
    /// Unknown, expired, or its session is revoked.
    Invalid,
    /// Already used: the session has just been revoked.
    Reused { session_id: String },
}

/// Marks a refresh token used, in one transaction.
pub fn redeem(conn: &mut Connection, token: &str) -> Result<Redeemed, StoreError> {
    let tx = conn.transaction()?;
    // (session id, expires at, used at, user id, session revoked at)
    type Row = (String, i64, Option<i64>, u64, Option<i64>);
    let row: Option<Row> = tx
        .query_row(
            "SELECT t.session_id, t.expires_at, t.used_at, s.user_id, s.revoked_at
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.hash = ?1",
            [token_hash(token)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let now = now_unix();
    let outcome = match row {
        None => Redeemed::Invalid,
        Some((_, _, _, _, Some(_))) => Redeemed::Invalid,
        Some((session_id, _, Some(_), _, None)) => {
            revoke(&tx, &session_id)?;
            Redeemed::Reused { session_id }
        }
        Some((_, expires_at, None, _, None)) if expires_at <= now => Redeemed::Invalid,
        Some((session_id, _, None, user_id, None)) => {
            tx.execute(
                "UPDATE refresh_tokens SET used_at = ?2 WHERE hash = ?1",
                params![token_hash(token), now],
            )?;
            Redeemed::Ok {
                session_id,
                user_id,
            }
        }
    };
    tx.commit()?;
    Ok(outcome)
}

/// What [`prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub sessions: u64,
    pub refresh_tokens: u64,
}

/// Deletes ended sessions and expired refresh tokens, as of `now` (Unix s).
///
/// - A signed-out (revoked) session goes at once, with its tokens: every
///   token of it is refused already, deleted or not.
/// - A session whose every refresh token expired `grace` ago or more goes,
///   with them: nothing can renew it any more.
/// - A refresh token, used or not, goes `grace` after its expiry. A used
///   one is kept until then, because presenting it again must still sign
///   its session out for as long as it could have been valid.
///
/// The grace also covers `/api/auth/refresh`, which spends a token and adds
/// its successor in two steps: the session is never found without a live
/// token in between. And a session younger than the grace is never taken
/// for lack of a token: login creates the session before its first token,
/// and a session may be made with access tokens only (the benchmark's), whose
/// sockets must not be refused as "signed out" within the hour.
pub fn prune(conn: &mut Connection, now: i64, grace: i64) -> Result<Pruned, StoreError> {
    let cutoff = now.saturating_sub(grace);
    let tx = conn.transaction()?;
    let before: u64 = tx.query_row("SELECT COUNT(*) FROM refresh_tokens", [], |r| r.get(0))?;
    let sessions = tx.execute(
        "DELETE FROM sessions WHERE revoked_at IS NOT NULL
            OR (created_at <= ?1
                AND NOT EXISTS (SELECT 1 FROM refresh_tokens t
                                WHERE t.session_id = sessions.id AND t.expires_at > ?1))",
        [cutoff],
    )? as u64;
    // Tokens of the sessions just deleted went with them (ON DELETE CASCADE).
    tx.execute(
        "DELETE FROM refresh_tokens WHERE expires_at <= ?1",
        [cutoff],
    )?;
    let after: u64 = tx.query_row("SELECT COUNT(*) FROM refresh_tokens", [], |r| r.get(0))?;
    tx.commit()?;
    Ok(Pruned {
        sessions,
        refresh_tokens: before.saturating_sub(after),
    })
}

/// The session a refresh token belongs to, used or not.
pub fn session_of(conn: &Connection, token: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT session_id FROM refresh_tokens WHERE hash = ?1",
            [token_hash(token)],
            |r| r.get(0),
        )
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteDb as Db;
    use crate::store::user;
    use herald_proto::api::Role;

    #[test]
    fn a_refresh_token_works_once_and_reuse_revokes_the_session() -> Result<(), StoreError> {
        let db = Db::open_in_memory()?;
        db.call_blocking(|conn| {
            let u = user::insert(conn, "a@example.com", "A", Role::User, "h")?;
            create(conn, "s1", u.id, "l1")?;
            add_refresh_token(conn, "s1", "r1", now_unix() + 60)?;
            assert_eq!(
                redeem(conn, "r1")?,
                Redeemed::Ok {
                    session_id: "s1".into(),
                    user_id: u.id
                }
            );
            add_refresh_token(conn, "s1", "r2", now_unix() + 60)?;
            assert!(is_active(conn, "s1")?);
            assert_eq!(
                redeem(conn, "r1")?,
                Redeemed::Reused {
                    session_id: "s1".into()
                }
            );
            assert!(!is_active(conn, "s1")?);
            // The successor dies with the session.
            assert_eq!(redeem(conn, "r2")?, Redeemed::Invalid);
            assert_eq!(redeem(conn, "never-issued")?, Redeemed::Invalid);
            Ok(())
        })
    }

    #[test]
    fn pruning_keeps_what_can_still_be_used_or_reused() -> Result<(), StoreError> {
        let db = Db::open_in_memory()?;
        db.call_blocking(|conn| {
            let u = user::insert(conn, "a@example.com", "A", Role::User, "h")?;
            let now = now_unix();
            // Live, with a spent token that has not expired: reuse must
            // still be caught after the prune.
            create(conn, "live", u.id, "l1")?;
            add_refresh_token(conn, "live", "spent", now + 60)?;
            assert!(matches!(redeem(conn, "spent")?, Redeemed::Ok { .. }));
            add_refresh_token(conn, "live", "next", now + 120)?;
            // Live, with an old spent token long expired.
            create(conn, "rotated", u.id, "l2")?;
            add_refresh_token(conn, "rotated", "ancient", now - 7200)?;
            add_refresh_token(conn, "rotated", "current", now + 60)?;
            // Every token expired, the last one within the grace.
            create(conn, "just-expired", u.id, "l3")?;
            add_refresh_token(conn, "just-expired", "recent", now - 60)?;
            // Every token expired long ago, and a signed-out session.
            create(conn, "expired", u.id, "l4")?;
            add_refresh_token(conn, "expired", "old", now - 7200)?;
            conn.execute(
                "UPDATE sessions SET created_at = ?1 WHERE id = 'expired'",
                [now - 3 * 3600],
            )?;
            // Just made, no refresh token yet (or ever: access tokens only).
            create(conn, "young", u.id, "l6")?;
            create(conn, "signed-out", u.id, "l5")?;
            add_refresh_token(conn, "signed-out", "unused", now + 60)?;
            revoke(conn, "signed-out")?;

            let pruned = prune(conn, now, 3600)?;
            assert_eq!(
                pruned,
                Pruned {
                    sessions: 2,
                    refresh_tokens: 3
                }
            );
            for kept in ["spent", "next", "current", "recent"] {
                assert!(session_of(conn, kept)?.is_some(), "{kept} kept");
            }
            for gone in ["ancient", "old", "unused"] {
                assert!(session_of(conn, gone)?.is_none(), "{gone} deleted");
            }
            assert!(is_active(conn, "just-expired")?);
            assert!(
                is_active(conn, "young")?,
                "a session younger than the grace was pruned"
            );
            assert!(!is_active(conn, "expired")?);
            assert_eq!(
                redeem(conn, "spent")?,
                Redeemed::Reused {
                    session_id: "live".into()
                }
            );
            // A second run finds nothing more but the session it revoked.
            assert_eq!(prune(conn, now, 3600)?.sessions, 1);
            Ok(())
        })
    }

    #[test]
    fn an_expired_refresh_token_is_invalid() -> Result<(), StoreError> {
        let db = Db::open_in_memory()?;
        db.call_blocking(|conn| {
            let u = user::insert(conn, "a@example.com", "A", Role::User, "h")?;
            create(conn, "s1", u.id, "l1")?;
            add_refresh_token(conn, "s1", "old", now_unix() - 1)?;
            assert_eq!(redeem(conn, "old")?, Redeemed::Invalid);
            Ok(())
        })
    }
}
