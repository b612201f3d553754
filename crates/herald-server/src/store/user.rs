//! Users.

use herald_proto::api::{Role, User};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{StoreError, now_unix};

/// A user row, with the password hash that never leaves the server.
#[derive(Clone)]
pub struct UserRecord {
    pub user: User,
    pub password_hash: String,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<(u64, String, String, String, String)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn to_record(
    (id, email, name, role, password_hash): (u64, String, String, String, String),
) -> Result<UserRecord, StoreError> {
    let role = Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?;
    Ok(UserRecord {
        user: User {
            id,
            email,
            name,
            role,
        },
        password_hash,
    })
}

const COLUMNS: &str = "id, email, name, role, password_hash";

pub fn insert(
    conn: &Connection,
    email: &str,
    name: &str,
    role: Role,
    password_hash: &str,
) -> Result<User, StoreError> {
    let inserted = conn.execute(
        "INSERT INTO users (email, name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (email) DO NOTHING",
        params![email, name, role.as_str(), password_hash, now_unix()],
    )?;
    if inserted == 0 {
        return Err(StoreError::DuplicateEmail(email.to_owned()));
    }
    let id = u64::try_from(conn.last_insert_rowid())
        .map_err(|_| StoreError::Corrupt("negative user id".into()))?;
    Ok(User {
        id,
        email: email.to_owned(),
        name: name.to_owned(),
        role,
    })
}

pub fn find_by_email(conn: &Connection, email: &str) -> Result<Option<UserRecord>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM users WHERE email = ?1"),
        [email],
        from_row,
    )
    .optional()?
    .map(to_record)
    .transpose()
}

pub fn find_by_id(conn: &Connection, id: u64) -> Result<Option<UserRecord>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
        [id],
        from_row,
    )
    .optional()?
    .map(to_record)
    .transpose()
}

pub fn set_password(conn: &Connection, id: u64, password_hash: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE users SET password_hash = ?2 WHERE id = ?1",
        params![id, password_hash],
    )? == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteDb as Db;

    #[test]
    fn emails_are_unique_regardless_of_case() -> Result<(), StoreError> {
        let db = Db::open_in_memory()?;
        db.call_blocking(|conn| {
            let alice = insert(conn, "alice@example.com", "Alice", Role::User, "h")?;
            assert!(matches!(
                insert(conn, "ALICE@example.com", "Alice 2", Role::User, "h"),
                Err(StoreError::DuplicateEmail(_))
            ));
            let found = find_by_email(conn, "Alice@Example.com")?;
            assert_eq!(found.map(|r| r.user), Some(alice.clone()));
            assert_eq!(
                find_by_id(conn, alice.id)?.map(|r| r.user.email),
                Some(alice.email)
            );
            assert!(find_by_id(conn, 999)?.is_none());
            Ok(())
        })
    }
}
