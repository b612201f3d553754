//! Web Push: message encryption (RFC 8291, `aes128gcm` of RFC 8188) and
//! application server identification (VAPID, RFC 8292); [`sender`] posts
//! the messages, and [`guard`] decides which addresses it may post to.

pub mod guard;
mod sender;

use std::path::Path;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, KeyInit, Nonce};
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, NO_PAD, URL_SAFE_NO_PAD};
use herald_proto::api::PushSubscription;
use hkdf::Hkdf;
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use rand_core::{OsRng, RngCore};
use sha2::Sha256;

pub use guard::{EndpointGuard, EndpointRefused, PushResolver, SystemResolver};
pub use sender::{PushSender, SendOutcome};

/// The record size written in the header. One record always suffices,
/// because the payload is capped by [`MAX_PAYLOAD`].
const RECORD_SIZE: u32 = 4096;
/// salt (16) + rs (4) + idlen (1) + keyid (65).
const HEADER_LEN: usize = 16 + 4 + 1 + 65;
const TAG_LEN: usize = 16;
/// The most plaintext a push message can carry. Push services only promise
/// 4096 octets of body (RFC 8030 §7.2), and the header, tag and padding
/// delimiter take 103 of them (RFC 8291 §4). A larger payload would still fit
/// one 4096-octet record, but FCM and Mozilla answer it with 413.
pub const MAX_PAYLOAD: usize = RECORD_SIZE as usize - HEADER_LEN - TAG_LEN - 1;
/// How long a push service may hold a message for an offline browser.
const TTL_SECONDS: u32 = 24 * 60 * 60;
/// Lifetime of a VAPID token; RFC 8292 §2 allows at most 24 hours.
const JWT_LIFETIME_SECONDS: i64 = 12 * 60 * 60;
const MAX_ENDPOINT_LEN: usize = 2048;
/// The file in the data directory holding the private key: the base64url
/// P-256 scalar, the same form `web-push` tools print, so a key can be moved.
pub const VAPID_KEY_FILE: &str = "vapid-private-key";

/// Browsers give keys unpadded, but some libraries pad them; accept both.
const B64URL_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    NO_PAD.with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a push could not be prepared or sent.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("invalid push endpoint: {0}")]
    BadEndpoint(String),
    #[error("invalid subscription key `{field}`: {reason}")]
    BadKey { field: &'static str, reason: String },
    #[error("the push payload is {len} bytes; at most {max} fit in a push message")]
    PayloadTooLarge { len: usize, max: usize },
    #[error("cannot read or write the VAPID key at {path}: {source}")]
    KeyFileIo {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the VAPID key at {path} is corrupt ({reason}); delete it to have a new one made (browsers will then have to subscribe again)"
    )]
    KeyFileCorrupt { path: String, reason: String },
    #[error("push cryptography failed: {0}")]
    Crypto(String),
    /// The endpoint's host is not a public address, or does not resolve.
    #[error(transparent)]
    Destination(#[from] EndpointRefused),
    #[error("cannot reach the push service: {0}")]
    Http(#[source] reqwest::Error),
    #[error("the push service refused the message with status {status}: {body}")]
    Refused { status: u16, body: String },
}

/// The application server's VAPID key pair (RFC 8292).
#[derive(Clone)]
pub struct Vapid {
    signing: SigningKey,
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
                let encoded = URL_SAFE_NO_PAD.encode(vapid.signing.to_bytes());
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
        Vapid::from_secret(&SecretKey::random(&mut OsRng))
    }

    /// A key pair from the base64url private scalar (32 bytes).
    fn from_private_key_b64(encoded: &str) -> Result<Vapid, String> {
        let bytes = B64URL_LENIENT
            .decode(encoded)
            .map_err(|e| format!("not base64url: {e}"))?;
        if bytes.len() != 32 {
            return Err(format!("{} bytes instead of 32", bytes.len()));
        }
        let secret =
            SecretKey::from_slice(&bytes).map_err(|_| "not a P-256 private key".to_string())?;
        Ok(Vapid::from_secret(&secret))
    }

    fn from_secret(secret: &SecretKey) -> Vapid {
        let public = secret.public_key().to_encoded_point(false);
        Vapid {
            signing: SigningKey::from(secret),
            public_b64: URL_SAFE_NO_PAD.encode(public.as_bytes()),
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

    fn authorization_for(&self, url: &reqwest::Url, subject: &str) -> Result<String, PushError> {
        let exp = chrono::Utc::now().timestamp() + JWT_LIFETIME_SECONDS;
        Ok(format!(
            "vapid t={}, k={}",
            self.jwt(url, subject, exp)?,
            self.public_b64
        ))
    }

    fn jwt(&self, url: &reqwest::Url, subject: &str, exp: i64) -> Result<String, PushError> {
        // RFC 8292 §2: the audience is the push service's origin, not the
        // endpoint, so one token is good for every subscription it holds.
        let claims = serde_json::json!({
            "aud": url.origin().ascii_serialization(),
            "exp": exp,
            "sub": subject,
        });
        let claims = serde_json::to_vec(&claims).map_err(|e| PushError::Crypto(e.to_string()))?;
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims));
        // ES256 wants the raw r || s form, not DER (RFC 7518 §3.4).
        let signature: p256::ecdsa::Signature = self.signing.sign(signing_input.as_bytes());
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        ))
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

/// A subscription's keys, checked.
struct UaKeys {
    public: PublicKey,
    auth: [u8; 16],
}

/// The endpoint as a URL, if it is one a push may go to: http(s), a host,
/// no credentials, at most 2048 characters.
pub fn parse_endpoint(endpoint: &str) -> Result<reqwest::Url, PushError> {
    if endpoint.len() > MAX_ENDPOINT_LEN {
        return Err(PushError::BadEndpoint(format!(
            "longer than {MAX_ENDPOINT_LEN} characters"
        )));
    }
    let url = reqwest::Url::parse(endpoint).map_err(|e| PushError::BadEndpoint(e.to_string()))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(PushError::BadEndpoint(format!(
            "scheme {:?} is not http or https",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(PushError::BadEndpoint("no host".into()));
    }
    // reqwest would turn URL credentials into a Basic Authorization header,
    // clashing with VAPID's; no push service hands them out.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(PushError::BadEndpoint("credentials in the URL".into()));
    }
    Ok(url)
}

fn parse_keys(sub: &PushSubscription) -> Result<UaKeys, PushError> {
    let bad = |field, reason: String| PushError::BadKey { field, reason };
    let p256dh = B64URL_LENIENT
        .decode(sub.keys.p256dh.as_bytes())
        .map_err(|e| bad("p256dh", format!("not base64url: {e}")))?;
    // The IKM info string hashes the uncompressed form, which is also all
    // that `PushSubscription.getKey("p256dh")` ever gives.
    if p256dh.len() != 65 || p256dh[0] != 0x04 {
        return Err(bad(
            "p256dh",
            format!(
                "{} bytes, not a 65-byte uncompressed P-256 point",
                p256dh.len()
            ),
        ));
    }
    let public = PublicKey::from_sec1_bytes(&p256dh)
        .map_err(|_| bad("p256dh", "not a point on P-256".into()))?;
    let auth = B64URL_LENIENT
        .decode(sub.keys.auth.as_bytes())
        .map_err(|e| bad("auth", format!("not base64url: {e}")))?;
    let auth: [u8; 16] = auth
        .try_into()
        .map_err(|v: Vec<u8>| bad("auth", format!("{} bytes instead of 16", v.len())))?;
    Ok(UaKeys { public, auth })
}

/// Checks a subscription as a browser would send it: an http(s) endpoint, a
/// P-256 `p256dh` and a 16-byte `auth`.
pub fn validate_subscription(sub: &PushSubscription) -> Result<(), PushError> {
    parse_endpoint(&sub.endpoint)?;
    parse_keys(sub).map(|_| ())
}

/// Encrypts `payload` for `sub` (RFC 8291): the whole `aes128gcm` body, with
/// a fresh ephemeral key and salt.
pub fn encrypt(payload: &[u8], sub: &PushSubscription) -> Result<Vec<u8>, PushError> {
    let keys = parse_keys(sub)?;
    let ephemeral = SecretKey::random(&mut OsRng);
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    encrypt_with(payload, &keys, &ephemeral, &salt)
}

/// The deterministic core of [`encrypt`], so a test can fix the ephemeral key
/// and salt the way RFC 8291 Appendix A does.
fn encrypt_with(
    payload: &[u8],
    ua: &UaKeys,
    ephemeral: &SecretKey,
    salt: &[u8; 16],
) -> Result<Vec<u8>, PushError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(PushError::PayloadTooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD,
        });
    }
    let crypto = |what: &str| PushError::Crypto(what.to_string());
    let as_public = ephemeral.public_key().to_encoded_point(false);
    let ua_public = ua.public.to_encoded_point(false);
    let shared = p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), ua.public.as_affine());

    // RFC 8291 §3.3: mix the ECDH secret with the auth secret, binding both keys.
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(&ua.auth), shared.raw_secret_bytes())
        .expand_multi_info(
            &[
                b"WebPush: info\0",
                ua_public.as_bytes(),
                as_public.as_bytes(),
            ],
            &mut ikm,
        )
        .map_err(|_| crypto("IKM derivation"))?;
    // RFC 8188 §2.2-2.3: content key and nonce from the salt.
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .map_err(|_| crypto("CEK derivation"))?;
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .map_err(|_| crypto("nonce derivation"))?;

    // A single, hence last, record: plaintext then the 0x02 delimiter, no padding.
    // Its sequence number is 0, so the nonce is used as derived.
    let mut record = Vec::with_capacity(payload.len() + 1 + TAG_LEN);
    record.extend_from_slice(payload);
    record.push(0x02);
    Aes128Gcm::new_from_slice(&cek)
        .map_err(|_| crypto("AES key"))?
        .encrypt_in_place(&Nonce::from(nonce), b"", &mut record)
        .map_err(|_| crypto("AES-GCM"))?;

    let mut body = Vec::with_capacity(HEADER_LEN + record.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(as_public.as_bytes());
    body.extend_from_slice(&record);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_proto::api::PushKeys;

    // RFC 8291 Appendix A.
    const UA_PUBLIC: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
    const PLAINTEXT: &[u8] = b"When I grow up, I want to be a watermelon";
    const BODY: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

    fn sub(p256dh: &str, auth: &str) -> PushSubscription {
        PushSubscription {
            endpoint: "https://push.example.net/push/abc".into(),
            keys: PushKeys {
                p256dh: p256dh.into(),
                auth: auth.into(),
            },
        }
    }

    fn b64(text: &str) -> Vec<u8> {
        B64URL_LENIENT.decode(text).unwrap_or_default()
    }

    #[test]
    fn reproduces_the_rfc_8291_example() -> Result<(), PushError> {
        let keys = parse_keys(&sub(UA_PUBLIC, AUTH))?;
        let ephemeral = SecretKey::from_slice(&b64(AS_PRIVATE))
            .map_err(|e| PushError::Crypto(e.to_string()))?;
        let salt: [u8; 16] = b64(SALT).try_into().unwrap_or_default();
        let body = encrypt_with(PLAINTEXT, &keys, &ephemeral, &salt)?;
        assert_eq!(URL_SAFE_NO_PAD.encode(&body), BODY);
        Ok(())
    }

    #[test]
    fn random_encryptions_differ_and_have_the_rfc_layout() -> Result<(), PushError> {
        let s = sub(UA_PUBLIC, AUTH);
        let (a, b) = (encrypt(b"hello", &s)?, encrypt(b"hello", &s)?);
        assert_ne!(a, b, "salt and ephemeral key must be fresh each time");
        assert_eq!(a.len(), HEADER_LEN + 5 + 1 + TAG_LEN);
        assert_eq!(&a[16..20], &4096u32.to_be_bytes());
        assert_eq!(a[20], 65);
        assert_eq!(a[21], 0x04);
        Ok(())
    }

    #[test]
    fn bad_keys_are_named() {
        let field = |s: &PushSubscription| match validate_subscription(s) {
            Err(PushError::BadKey { field, .. }) => Some(field),
            _ => None,
        };
        assert_eq!(field(&sub("not base64!", AUTH)), Some("p256dh"));
        assert_eq!(field(&sub(&UA_PUBLIC[..40], AUTH)), Some("p256dh"));
        // 65 bytes with the right prefix, but not on the curve.
        let off_curve = URL_SAFE_NO_PAD.encode([[4u8].as_slice(), &[1u8; 64]].concat());
        assert_eq!(field(&sub(&off_curve, AUTH)), Some("p256dh"));
        assert_eq!(field(&sub(UA_PUBLIC, "c2hvcnQ")), Some("auth"));
        assert_eq!(field(&sub(UA_PUBLIC, "a+b/")), Some("auth"));
        // Padding is tolerated.
        assert!(validate_subscription(&sub(UA_PUBLIC, "BTBZMqHH6r4Tts7J_aSIgg==")).is_ok());
    }

    #[test]
    fn oversized_payloads_are_refused() {
        let s = sub(UA_PUBLIC, AUTH);
        assert!(encrypt(&vec![b'x'; MAX_PAYLOAD], &s).is_ok());
        assert!(matches!(
            encrypt(&vec![b'x'; MAX_PAYLOAD + 1], &s),
            Err(PushError::PayloadTooLarge { len, max: MAX_PAYLOAD }) if len == MAX_PAYLOAD + 1
        ));
        assert_eq!(MAX_PAYLOAD, 3993);
    }

    #[test]
    fn debug_hides_the_private_key() {
        let vapid = Vapid::from_private_key_b64(AS_PRIVATE).unwrap_or_else(|_| Vapid::generate());
        let shown = format!("{vapid:?}");
        assert!(shown.contains(&vapid.public_key_b64()));
        assert!(!shown.contains(AS_PRIVATE));
        assert!(Vapid::from_private_key_b64("AAAA").is_err());
    }
}
