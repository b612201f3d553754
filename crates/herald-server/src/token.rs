//! Access tokens (HS256 JWTs), opaque random tokens, and the signing secret.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use herald_proto::api::{Role, User};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a decimal string (RFC 7519 wants a string).
    pub sub: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// The session (login) the token was issued under; revoking it revokes the token.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
}

impl Claims {
    pub fn user_id(&self) -> Result<u64, TokenError> {
        self.sub
            .parse()
            .map_err(|_| TokenError::Invalid("subject is not a user id".into()))
    }

    pub fn user(&self) -> Result<User, TokenError> {
        Ok(User {
            id: self.user_id()?,
            email: self.email.clone(),
            name: self.name.clone(),
            role: self.role,
        })
    }
}

/// What a caller is told of any token that is not valid: one fixed
/// sentence, never the parser's words (they describe our internals).
pub const INVALID_TOKEN: &str = "the access token is not valid";

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is invalid: {0}")]
    Invalid(String),
}

/// Signs and checks access tokens with one HMAC secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// The same checks but expiry: for signing a session out.
    ignoring_expiry: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys { <redacted> }")
    }
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> TokenKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        // The server both issues and judges its tokens, so no clock skew to allow for.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let mut ignoring_expiry = validation.clone();
        ignoring_expiry.validate_exp = false;
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ignoring_expiry,
        }
    }

    /// Issues an access token for `user` in session `sid`; returns it and its expiry.
    pub fn issue(
        &self,
        user: &User,
        sid: &str,
        ttl: Duration,
    ) -> Result<(String, i64), TokenError> {
        let iat = chrono::Utc::now().timestamp();
        let exp = iat + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            sub: user.id.to_string(),
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role,
            sid: sid.to_owned(),
            iat,
            exp,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Invalid(format!("cannot sign: {e}")))?;
        Ok((token, exp))
    }

    /// Checks signature, algorithm and expiry. Whether the session is still
    /// active is the caller's question (it needs the database).
    /// The reason in [`TokenError::Invalid`] is a fixed phrase; the
    /// decoder's own words go to the debug log only.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        self.decode(token, &self.validation)
    }

    /// Like [`TokenKeys::verify`], but an expired token passes: it still
    /// proves which session it was issued under, which is all signing out
    /// needs.
    pub fn verify_ignoring_expiry(&self, token: &str) -> Result<Claims, TokenError> {
        self.decode(token, &self.ignoring_expiry)
    }

    fn decode(&self, token: &str, validation: &Validation) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, validation)
            .map(|data| data.claims)
            .map_err(|e| {
                let why = match e.kind() {
                    ErrorKind::ExpiredSignature => return TokenError::Expired,
                    ErrorKind::InvalidSignature => "bad signature",
                    ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                        "algorithm not allowed"
                    }
                    _ => "malformed",
                };
                tracing::debug!(error = %e, "an access token was refused");
                TokenError::Invalid(why.into())
            })
    }
}

/// A fresh random token: `bytes` bytes from the OS, base64url.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Why the signing secret could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read or write the JWT secret at {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the JWT secret at {0} is shorter than 32 bytes; delete it to have a new one made")]
    TooShort(String),
    #[error("HERALD_JWT_SECRET is shorter than 32 bytes")]
    EnvTooShort,
}

/// The HMAC secret: `HERALD_JWT_SECRET` when given, else the `jwt-secret` file
/// in `data_dir`, made on first use with mode 0600.
pub fn load_or_create_secret(
    data_dir: &Path,
    from_env: Option<&str>,
) -> Result<Vec<u8>, SecretError> {
    if let Some(secret) = from_env {
        if secret.len() < 32 {
            return Err(SecretError::EnvTooShort);
        }
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join("jwt-secret");
    let io = |source| SecretError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read(&path) {
        Ok(secret) if secret.len() >= 32 => Ok(secret),
        Ok(_) => Err(SecretError::TooShort(path.display().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = random_token(48).into_bytes();
            crate::fsutil::write_private(&path, &secret).map_err(io)?;
            Ok(secret)
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> User {
        User {
            id: 7,
            email: "alice@example.com".into(),
            name: "Alice".into(),
            role: Role::User,
        }
    }

    #[test]
    fn a_token_round_trips() -> Result<(), TokenError> {
        let keys = TokenKeys::new(&[1; 32]);
        let (token, exp) = keys.issue(&alice(), "s1", Duration::from_secs(60))?;
        let claims = keys.verify(&token)?;
        assert_eq!(claims.user()?, alice());
        assert_eq!(claims.sid, "s1");
        assert_eq!(claims.exp, exp);
        Ok(())
    }

    #[test]
    fn wrong_key_expired_and_alg_none_are_refused() -> Result<(), TokenError> {
        let keys = TokenKeys::new(&[1; 32]);
        let other = TokenKeys::new(&[2; 32]);
        let (token, _) = other.issue(&alice(), "s1", Duration::from_secs(60))?;
        assert!(matches!(keys.verify(&token), Err(TokenError::Invalid(_))));

        let now = chrono::Utc::now().timestamp();
        let stale = Claims {
            sub: "7".into(),
            email: "alice@example.com".into(),
            name: "Alice".into(),
            role: Role::User,
            sid: "s1".into(),
            iat: now - 120,
            exp: now - 60,
        };
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &stale,
            &EncodingKey::from_secret(&[1; 32]),
        )
        .map_err(|e| TokenError::Invalid(e.to_string()))?;
        assert!(matches!(keys.verify(&expired), Err(TokenError::Expired)));

        // An unsigned token claiming alg "none", with the signature stripped.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = token.split('.').nth(1).unwrap_or_default();
        assert!(matches!(
            keys.verify(&format!("{header}.{body}.")),
            Err(TokenError::Invalid(_))
        ));
        Ok(())
    }

    #[test]
    fn the_secret_is_made_once_and_kept() -> Result<(), SecretError> {
        let dir = std::env::temp_dir().join(format!("herald-secret-{}", random_token(6)));
        std::fs::create_dir_all(&dir).map_err(|source| SecretError::Io {
            path: "tmp".into(),
            source,
        })?;
        let first = load_or_create_secret(&dir, None)?;
        let second = load_or_create_secret(&dir, None)?;
        assert_eq!(first, second);
        assert!(matches!(
            load_or_create_secret(&dir, Some("short")),
            Err(SecretError::EnvTooShort)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
