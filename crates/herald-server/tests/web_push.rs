//! Web Push end to end: `PushSender` against a stand-in push service that
//! verifies the VAPID token and decrypts with an independent implementation.

#[path = "support/push_receiver.rs"]
mod push_receiver;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use herald_server::push::{
    EndpointGuard, MAX_PAYLOAD, PushError, PushSender, SendOutcome, SystemResolver, VAPID_KEY_FILE,
    Vapid, validate_subscription,
};
use push_receiver::PushReceiver;

const WAIT: Duration = Duration::from_secs(10);
const SUBJECT: &str = "mailto:ops@example.com";

/// A sender allowed to reach the stand-in push service on loopback: the
/// operator's opt-in for a push gateway on a private network.
fn sender() -> (Arc<Vapid>, PushSender) {
    let vapid = Arc::new(Vapid::generate());
    let guard = EndpointGuard::new(Arc::new(SystemResolver), true);
    let sender = PushSender::with_guard(vapid.clone(), SUBJECT, guard).expect("a push client");
    (vapid, sender)
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("herald-web-push-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn a_push_arrives_decrypted_with_a_valid_vapid_token() -> Result<(), PushError> {
    let mut receiver = PushReceiver::start().await;
    let (vapid, sender) = sender();
    let sub = receiver.subscription_bound_to("alice", &vapid.public_key_b64());

    let payload =
        br#"{"type":"login_notification","title":"New sign-in","message":"Firefox 128 on Linux"}"#;
    assert_eq!(sender.send(&sub, payload).await?, SendOutcome::Delivered);
    let got = receiver.next(WAIT).await.expect("the push should arrive");
    assert_eq!(got.id, "alice");
    assert_eq!(got.plaintext, payload);
    assert_eq!(got.aud, receiver.origin);
    assert_eq!(got.sub_claim, SUBJECT);
    assert_eq!(got.vapid_key, vapid.public_key_b64());
    let lifetime = got.exp - chrono::Utc::now().timestamp();
    assert!(
        (11 * 3600..=12 * 3600).contains(&lifetime),
        "token lives {lifetime} s"
    );
    assert_eq!(got.urgency.as_deref(), Some("high"));
    assert!(
        got.ttl
            .as_deref()
            .and_then(|t| t.parse::<u32>().ok())
            .is_some_and(|t| t > 0)
    );

    // Binary data and the largest payload survive too.
    let big: Vec<u8> = (0..MAX_PAYLOAD).map(|i| (i % 251) as u8).collect();
    assert_eq!(sender.send(&sub, &big).await?, SendOutcome::Delivered);
    let got = receiver
        .next(WAIT)
        .await
        .expect("the large push should arrive");
    assert_eq!(got.plaintext, big);

    assert!(receiver.rejections().is_empty());
    Ok(())
}

#[tokio::test]
async fn gone_subscriptions_are_reported_for_404_and_410() -> Result<(), PushError> {
    let mut receiver = PushReceiver::start().await;
    let (_, sender) = sender();
    let unsubscribed = receiver.subscription("unsubscribed");
    receiver.mark_gone("unsubscribed");
    let expired = receiver.subscription("expired");
    receiver.respond_with("expired", 404);
    let flaky = receiver.subscription("flaky");
    receiver.respond_with("flaky", 503);

    assert_eq!(sender.send(&unsubscribed, b"hi").await?, SendOutcome::Gone);
    assert_eq!(sender.send(&expired, b"hi").await?, SendOutcome::Gone);
    // Anything else is an error, and not a reason to drop the subscription.
    match sender.send(&flaky, b"hi").await {
        Err(PushError::Refused { status: 503, .. }) => {}
        other => panic!("expected a 503 refusal, got {other:?}"),
    }
    assert_eq!(receiver.request_count(), 3);
    assert!(receiver.rejections().is_empty());
    Ok(())
}

#[tokio::test]
async fn a_push_signed_by_another_key_is_refused() {
    let mut receiver = PushReceiver::start().await;
    let (_, sender) = sender();
    let other = Vapid::generate();
    let sub = receiver.subscription_bound_to("bob", &other.public_key_b64());

    match sender.send(&sub, b"hi").await {
        Err(PushError::Refused { status: 403, .. }) => {}
        other => panic!("expected 403, got {other:?}"),
    }
    let rejection = receiver
        .next_rejection(WAIT)
        .await
        .expect("the receiver should report the refusal");
    assert_eq!((rejection.id.as_str(), rejection.status), ("bob", 403));
}

#[tokio::test]
async fn bad_subscription_keys_fail_before_any_request() {
    let receiver = PushReceiver::start().await;
    let (_, sender) = sender();

    let mut bad_p256dh = receiver.subscription("carol");
    bad_p256dh.keys.p256dh = "BAAA".into();
    match sender.send(&bad_p256dh, b"hi").await {
        Err(
            e @ PushError::BadKey {
                field: "p256dh", ..
            },
        ) => assert!(e.to_string().contains("p256dh"), "{e}"),
        other => panic!("expected a p256dh error, got {other:?}"),
    }

    let mut bad_auth = receiver.subscription("dave");
    bad_auth.keys.auth = URL_SAFE_NO_PAD.encode([7u8; 15]);
    match sender.send(&bad_auth, b"hi").await {
        Err(e @ PushError::BadKey { field: "auth", .. }) => {
            assert!(e.to_string().contains("auth"), "{e}")
        }
        other => panic!("expected an auth error, got {other:?}"),
    }

    let mut not_base64 = receiver.subscription("erin");
    not_base64.keys.auth = "%%%".into();
    assert!(matches!(
        sender.send(&not_base64, b"hi").await,
        Err(PushError::BadKey { field: "auth", .. })
    ));

    let mut bad_endpoint = receiver.subscription("frank");
    bad_endpoint.endpoint = "file:///etc/passwd".into();
    assert!(matches!(
        sender.send(&bad_endpoint, b"hi").await,
        Err(PushError::BadEndpoint(_))
    ));

    assert_eq!(receiver.request_count(), 0);
}

#[test]
fn the_vapid_key_is_made_once_and_kept_private() -> Result<(), PushError> {
    let dir = TempDir::new("keep");
    let first = Vapid::load_or_create(&dir.0)?;
    let second = Vapid::load_or_create(&dir.0)?;
    assert_eq!(first.public_key_b64(), second.public_key_b64());
    assert_eq!(
        first.public_key_b64().len(),
        87,
        "65 bytes in unpadded base64url"
    );
    assert_ne!(first.public_key_b64(), Vapid::generate().public_key_b64());

    let path = dir.0.join(VAPID_KEY_FILE);
    let stored = std::fs::read_to_string(&path).expect("read the key file");
    assert!(
        !format!("{first:?}").contains(stored.trim()),
        "Debug must not show the private key"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .expect("stat the key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    Ok(())
}

#[test]
fn a_corrupt_key_file_is_an_error_naming_it() {
    let dir = TempDir::new("corrupt");
    let path = dir.0.join(VAPID_KEY_FILE);
    for junk in ["not a key at all", "AAAA", ""] {
        std::fs::write(&path, junk).expect("write a corrupt key");
        match Vapid::load_or_create(&dir.0) {
            Err(e @ PushError::KeyFileCorrupt { .. }) => {
                assert!(e.to_string().contains(&path.display().to_string()), "{e}");
            }
            other => panic!("expected a corrupt-key error for {junk:?}, got {other:?}"),
        }
    }
    // And the corrupt file was left for the operator, not replaced.
    assert_eq!(
        std::fs::read_to_string(&path).expect("read the key file"),
        ""
    );
}

/// The stand-in service must catch what a real one would, or the tests above
/// prove nothing: a token for another audience, a forged signature, a body
/// that does not decrypt.
#[tokio::test]
async fn the_receiver_refuses_bad_tokens_and_bodies() -> Result<(), PushError> {
    let mut receiver = PushReceiver::start().await;
    let vapid = Vapid::generate();
    let sub = receiver.subscription("grace");
    let body = herald_server::push::encrypt(b"secret", &sub)?;
    let good = vapid.authorization(&sub.endpoint, SUBJECT)?;
    let elsewhere = vapid.authorization("https://push.example.net/push/grace", SUBJECT)?;
    // Change one character inside the signature, the token's last part (not
    // its final character, whose low bits are padding).
    let (token, key) = good.split_once(", k=").expect("t= and k=");
    let at = token.len() - 10;
    let swapped = if &token[at..=at] == "A" { "B" } else { "A" };
    let forged = format!("{}{swapped}{}, k={key}", &token[..at], &token[at + 1..]);
    let mut corrupt = body.clone();
    let end = corrupt.len() - 1;
    corrupt[end] ^= 1;

    let client = reqwest::Client::new();
    let post = |authorization: &str, encoding: &str, body: Vec<u8>| {
        client
            .post(&sub.endpoint)
            .header("Authorization", authorization)
            .header("Content-Encoding", encoding)
            .header("TTL", "60")
            .body(body)
            .send()
    };
    let cases = [
        (
            post(&elsewhere, "aes128gcm", body.clone()).await,
            401,
            "aud",
        ),
        (
            post(&forged, "aes128gcm", body.clone()).await,
            401,
            "signature",
        ),
        (post(&good, "aes128gcm", corrupt).await, 400, "decrypt"),
        (
            post(&good, "aesgcm", body.clone()).await,
            400,
            "Content-Encoding",
        ),
    ];
    for (response, status, reason) in cases {
        assert_eq!(
            response.map(|r| r.status().as_u16()).ok(),
            Some(status),
            "{reason}"
        );
        let rejection = receiver
            .next_rejection(WAIT)
            .await
            .expect("a reported refusal");
        assert!(rejection.reason.contains(reason), "{reason}: {rejection:?}");
    }

    // The same token and body, unharmed, are accepted.
    let response = post(&good, "aes128gcm", body)
        .await
        .map(|r| r.status().as_u16())
        .ok();
    assert_eq!(response, Some(201));
    assert_eq!(
        receiver.next(WAIT).await.map(|r| r.plaintext),
        Some(b"secret".to_vec())
    );
    Ok(())
}

#[test]
fn the_token_audience_is_the_endpoint_origin() -> Result<(), PushError> {
    let vapid = Vapid::generate();
    let header = vapid.authorization("https://push.example.net:8443/push/abc?x=1", SUBJECT)?;
    let claims = header
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split('.').nth(1))
        .and_then(|claims| URL_SAFE_NO_PAD.decode(claims).ok())
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .expect("a JWT in the header");
    assert_eq!(claims["aud"], "https://push.example.net:8443");
    assert_eq!(claims["sub"], SUBJECT);
    assert!(header.ends_with(&format!(", k={}", vapid.public_key_b64())));
    Ok(())
}

#[test]
fn endpoints_must_be_plain_http_urls() {
    let check = |endpoint: &str| {
        // Any P-256 point will do as the browser key.
        validate_subscription(&herald_proto::api::PushSubscription {
            endpoint: endpoint.to_string(),
            keys: herald_proto::api::PushKeys {
                p256dh: Vapid::generate().public_key_b64(),
                auth: URL_SAFE_NO_PAD.encode([1u8; 16]),
            },
        })
    };
    assert!(check("https://push.example.net/push/abc").is_ok());
    for endpoint in [
        "ftp://push.example.net/x",
        "not a url",
        "https://user:pw@push.example.net/x",
        "mailto:a@b.c",
    ] {
        assert!(
            matches!(check(endpoint), Err(PushError::BadEndpoint(_))),
            "{endpoint}"
        );
    }
}
