//! Web Push: message encryption (RFC 8291, `aes128gcm` of RFC 8188) by the
//! `web-push-native` crate, the server's identity in [`vapid`] (RFC 8292);
//! [`sender`] posts the messages, and [`guard`] decides which addresses it
//! may post to. What is left here is checking what browsers send.

pub mod guard;
mod sender;
mod vapid;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, NO_PAD};
use herald_proto::api::PushSubscription;
use web_push_native::p256::PublicKey;

pub use guard::{EndpointGuard, EndpointRefused, PushResolver, SystemResolver};
pub use sender::{PushSender, SendOutcome};
pub use vapid::{VAPID_KEY_FILE, Vapid};

/// What push services promise to accept as a body (RFC 8030 §7.2).
const PUSH_BODY_LIMIT: usize = 4096;
/// The `aes128gcm` header (salt 16, rs 4, idlen 1, keyid 65), the AES-GCM
/// tag (16) and the last record's delimiter (1), around a single record.
const OVERHEAD: usize = 16 + 4 + 1 + 65 + 16 + 1;
/// The most plaintext a push message can carry: 4096 octets of body less
/// the 103 that the encoding adds (RFC 8291 §4). FCM and Mozilla answer a
/// larger body with 413.
pub const MAX_PAYLOAD: usize = PUSH_BODY_LIMIT - OVERHEAD;
/// How long a push service may hold a message for an offline browser.
const TTL_SECONDS: u32 = 24 * 60 * 60;
const MAX_ENDPOINT_LEN: usize = 2048;

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

/// A subscription's keys, checked.
struct UaKeys {
    public: PublicKey,
    auth: web_push_native::Auth,
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
    Ok(UaKeys {
        public,
        auth: web_push_native::Auth::from(auth),
    })
}

/// Checks a subscription as a browser would send it: an http(s) endpoint, a
/// P-256 `p256dh` and a 16-byte `auth`.
pub fn validate_subscription(sub: &PushSubscription) -> Result<(), PushError> {
    parse_endpoint(&sub.endpoint)?;
    parse_keys(sub).map(|_| ())
}

/// Encrypts `payload` for `sub` (RFC 8291): the whole `aes128gcm` body, with
/// a fresh ephemeral key and salt, as one record whose size is the payload's
/// own (`rs` = length + 17) rather than a padded 4096.
pub fn encrypt(payload: &[u8], sub: &PushSubscription) -> Result<Vec<u8>, PushError> {
    let keys = parse_keys(sub)?;
    if payload.len() > MAX_PAYLOAD {
        return Err(PushError::PayloadTooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD,
        });
    }
    web_push_native::encrypt(payload.to_vec(), &keys.public, &keys.auth)
        .map_err(|e| PushError::Crypto(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use herald_proto::api::PushKeys;
    use web_push_native::p256::SecretKey;
    use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint;

    // RFC 8291 Appendix A.
    const UA_PUBLIC: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const UA_PRIVATE: &str = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
    const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
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

    /// The RFC's user agent, who can read what is encrypted for [`UA_PUBLIC`].
    fn ua_decrypt(body: Vec<u8>) -> Option<Vec<u8>> {
        let secret = SecretKey::from_slice(&b64(UA_PRIVATE)).ok()?;
        let auth: [u8; 16] = b64(AUTH).try_into().ok()?;
        let auth = web_push_native::Auth::from(auth);
        web_push_native::decrypt(body, &secret, &auth).ok()
    }

    #[test]
    fn the_rfc_8291_user_agent_reads_our_messages() -> Result<(), PushError> {
        // The example's keys are the ones the test uses.
        let ua = SecretKey::from_slice(&b64(UA_PRIVATE))
            .map_err(|e| PushError::Crypto(e.to_string()))?;
        assert_eq!(
            URL_SAFE_NO_PAD.encode(ua.public_key().to_encoded_point(false).as_bytes()),
            UA_PUBLIC
        );
        // And the crate reads the RFC's own message, sent by another party.
        assert_eq!(ua_decrypt(b64(BODY)).as_deref(), Some(PLAINTEXT));
        let body = encrypt(PLAINTEXT, &sub(UA_PUBLIC, AUTH))?;
        assert_eq!(ua_decrypt(body).as_deref(), Some(PLAINTEXT));
        Ok(())
    }

    #[test]
    fn random_encryptions_differ_and_have_the_rfc_layout() -> Result<(), PushError> {
        let s = sub(UA_PUBLIC, AUTH);
        let (a, b) = (encrypt(b"hello", &s)?, encrypt(b"hello", &s)?);
        assert_ne!(a, b, "salt and ephemeral key must be fresh each time");
        assert_ne!(a[..16], b[..16], "a fresh salt");
        assert_eq!(a.len(), OVERHEAD + 5);
        // One record of exactly the payload, delimiter and tag.
        assert_eq!(&a[16..20], &(5u32 + 17).to_be_bytes());
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
    fn oversized_payloads_are_refused() -> Result<(), PushError> {
        let s = sub(UA_PUBLIC, AUTH);
        let largest = encrypt(&vec![b'x'; MAX_PAYLOAD], &s)?;
        assert_eq!(largest.len(), PUSH_BODY_LIMIT, "fills the promised body");
        assert!(matches!(
            encrypt(&vec![b'x'; MAX_PAYLOAD + 1], &s),
            Err(PushError::PayloadTooLarge { len, max: MAX_PAYLOAD }) if len == MAX_PAYLOAD + 1
        ));
        assert_eq!(MAX_PAYLOAD, 3993);
        Ok(())
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
