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
    use crate::store::{Db, user};
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
