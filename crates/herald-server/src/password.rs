//! Password hashing with Argon2id (19 MiB and a core per hash: the server
//! runs them through [`crate::hash_gate::HashGate`]).
//!
//! The 19 MiB of each hash are the calling thread's, allocated once and
//! reused: argon2's own `hash_password_into` allocates them per call with a
//! 64-byte alignment, and glibc could not fit a new aligned block into the
//! hole the last one left, so every login kept another 19 MiB resident
//! (24 sequential logins: 22 → 489 MiB).

use std::cell::RefCell;
use std::sync::OnceLock;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand_core::OsRng;

/// The most memory a stored hash may ask for: 64 MiB (ours use 19 MiB).
/// A hash that needs more is refused rather than allocated.
pub const MAX_HASH_MEMORY_KIB: u32 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(String);

thread_local! {
    /// This thread's Argon2 memory, kept between hashes.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `argon2` over `password` and `salt` into `out`, in this thread's
/// reusable memory.
fn hash_into(
    argon2: &Argon2<'_>,
    params: &Params,
    password: &str,
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    if params.m_cost() > MAX_HASH_MEMORY_KIB {
        return Err(argon2::Error::MemoryTooMuch);
    }
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < params.block_count() {
            *memory = vec![Block::default(); params.block_count()];
        }
        argon2.hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..])
    })
}

/// A PHC-format Argon2id hash of `password`. CPU-heavy: call it off the runtime.
pub fn hash(password: &str) -> Result<String, HashError> {
    let fail = |e: &dyn std::fmt::Display| HashError(e.to_string());
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| fail(&e))?;
    let params = Params::default();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        hash_into(&argon2, &params, password, salt_bytes, out)
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(|e| fail(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| fail(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches `stored`, in constant time. A corrupt hash,
/// or one that asks for more than [`MAX_HASH_MEMORY_KIB`], never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
        parsed.salt,
        parsed.hash,
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params.clone());
    Output::init_with(expected.len(), |out| {
        hash_into(&argon2, &params, password, salt_bytes, out)
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .is_ok_and(|computed| computed == expected)
}

/// Spends the same work as [`verify`] for an email that has no account, so
/// the answer's timing does not reveal which emails exist.
pub fn verify_nobody(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("not a real password").unwrap_or_default());
    let _ = verify(password, dummy);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_only_its_password() -> Result<(), HashError> {
        let stored = hash("correct horse")?;
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse", &stored));
        assert!(!verify("wrong horse", &stored));
        assert!(!verify("correct horse", "not a hash"));
        // Hashes made by the argon2 crate's own path verify, and ours verify there.
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"correct horse", &salt)
            .map_err(|e| HashError(e.to_string()))?
            .to_string();
        assert!(verify("correct horse", &theirs));
        assert!(!verify("wrong horse", &theirs));
        let ours = PasswordHash::new(&stored).map_err(|e| HashError(e.to_string()))?;
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &ours)
                .is_ok()
        );
        // A hash asking for 1 GiB is refused, not allocated.
        let greedy = theirs.replace("m=19456", "m=1048576");
        assert!(!verify("correct horse", &greedy));
        Ok(())
    }
}
