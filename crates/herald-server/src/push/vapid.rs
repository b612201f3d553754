//! The application server's identity (VAPID, RFC 8292): a P-256 key pair
//! kept in the data directory, and the ES256 token each push carries.
//!
//! The token is signed by `jsonwebtoken`, the JWT library the server already
//! uses for its own tokens. web-push-native's `VapidSignature` is not used:
//! it builds `aud` from the endpoint's scheme and host alone, dropping the
//! port, whereas RFC 8292 §2 asks for the origin, port included (a push
//! gateway on a private network often listens on one).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::SecretKey;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use rand_core::OsRng;
use serde::Serialize;

use super::{B64URL_LENIENT, PushError, parse_endpoint};

/// Lifetime of a VAPID token; RFC 8292 §2 allows at most 24 hours.
const JWT_LIFETIME_SECONDS: i64 = 12 * 60 * 60;
/// The file in the data directory holding the private key: the base64url
/// P-256 scalar, the same form `web-push` tools print, so a key can be moved.
pub const VAPID_KEY_FILE: &str = "vapid-private-key";

/// The application server's VAPID key pair (RFC 8292).
#[derive(Clone)]
pub struct Vapid {
    /// Zeroed on drop by p256; turned into a signing key per token.
    secret: SecretKey,
    /// The uncompressed public point, cached because every request sends it.
    public_b64: String,
}

impl std::fmt::Debug for Vapid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vapid")
            .field("public_key", &self.public_b64)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

/// RFC 8292 §2's claims: the push service's origin, an expiry, a contact.
#[derive(Serialize)]
struct Claims<'a> {
    aud: String,
    exp: i64,
    sub: &'a str,
}

impl Vapid {
    /// Loads the key from `data_dir`, or makes one and stores it (mode 0600 on
    /// Unix). The key must outlive restarts: browsers bind their subscriptions
    /// to the public key they were given.
    pub fn load_or_create(data_dir: &Path) -> Result<Vapid, PushError> {
        let path = data_dir.join(VAPID_KEY_FILE);
        let shown = path.display().to_string();
        let io = |source| PushError::KeyFileIo {
            path: shown.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                warn_if_exposed(&path);
                Vapid::from_private_key_b64(text.trim()).map_err(|reason| {
                    PushError::KeyFileCorrupt {
                        path: shown.clone(),
                        reason,
                    }
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let vapid = Vapid::generate();
                let encoded = URL_SAFE_NO_PAD.encode(vapid.secret.to_bytes());
                crate::fsutil::write_private(&path, format!("{encoded}\n").as_bytes())
                    .map_err(io)?;
                tracing::info!(path = %shown, "generated a new VAPID key pair");
                Ok(vapid)
            }
            Err(source) => Err(io(source)),
        }
    }

    /// A fresh random key pair.
    pub fn generate() -> Vapid {
        Vapid::from_secret(SecretKey::random(&mut OsRng))
    }

    /// A key pair from the base64url private scalar (32 bytes).
    pub(super) fn from_private_key_b64(encoded: &str) -> Result<Vapid, String> {
        let bytes = B64URL_LENIENT
            .decode(encoded)
            .map_err(|e| format!("not base64url: {e}"))?;
        if bytes.len() != 32 {
            return Err(format!("{} bytes instead of 32", bytes.len()));
        }
        let secret =
            SecretKey::from_slice(&bytes).map_err(|_| "not a P-256 private key".to_string())?;
        Ok(Vapid::from_secret(secret))
    }

    fn from_secret(secret: SecretKey) -> Vapid {
        let public = secret.public_key().to_encoded_point(false);
        Vapid {
            public_b64: URL_SAFE_NO_PAD.encode(public.as_bytes()),
            secret,
        }
    }

    /// Base64url (unpadded) of the 65-byte uncompressed public point: the
    /// browser's `applicationServerKey`.
    pub fn public_key_b64(&self) -> String {
        self.public_b64.clone()
    }

    /// The `Authorization` header for a push to `endpoint`:
    /// `vapid t=<ES256 JWT>, k=<public key>`, the JWT valid for 12 hours.
    pub fn authorization(&self, endpoint: &str, subject: &str) -> Result<String, PushError> {
        self.authorization_for(&parse_endpoint(endpoint)?, subject)
    }

    pub(super) fn authorization_for(
        &self,
        url: &reqwest::Url,
        subject: &str,
    ) -> Result<String, PushError> {
        // RFC 8292 §2: the audience is the push service's origin, not the
        // endpoint, so one token is good for every subscription it holds.
        let claims = Claims {
            aud: url.origin().ascii_serialization(),
            exp: chrono::Utc::now().timestamp() + JWT_LIFETIME_SECONDS,
            sub: subject,
        };
        let crypto = |e: &dyn std::fmt::Display| PushError::Crypto(e.to_string());
        // jsonwebtoken takes EC keys as PKCS#8; the document is zeroed on drop.
        let der = self.secret.to_pkcs8_der().map_err(|e| crypto(&e))?;
        let key = EncodingKey::from_ec_der(der.as_bytes());
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &key)
            .map_err(|e| crypto(&e))?;
        Ok(format!("vapid t={token}, k={}", self.public_b64))
    }
}

/// A key file others can read is worth a warning, not a refusal: the operator
/// may have a reason, and refusing would take push down.
fn warn_if_exposed(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "the VAPID private key is readable by other users");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
