//! The token lifecycle: when a token expires and when to refresh it.
//!
//! Claims are decoded for `exp` only, without checking the signature: the
//! server is the judge of a token, Herald only needs to know when to renew it.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

/// Refresh when this share of the token's life has passed.
pub const REFRESH_AT: f64 = 0.8;

/// The `exp` claim of a JWT, if it has one.
pub fn token_expiry(token: &str) -> Option<DateTime<Utc>> {
    claim_time(token, "exp")
}

/// The `iat` claim of a JWT, if it has one.
pub fn token_issued_at(token: &str) -> Option<DateTime<Utc>> {
    claim_time(token, "iat")
}

fn claim_time(token: &str, claim: &str) -> Option<DateTime<Utc>> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    DateTime::from_timestamp(claims.get(claim)?.as_i64()?, 0)
}

/// How long after `obtained` (when the token arrived) to refresh a token that
/// expires at `expires`: 80% of its life, and at least one second from now so
/// a token that is nearly dead does not cause a refresh storm.
pub fn refresh_delay(
    obtained: DateTime<Utc>,
    expires: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Duration {
    let life = (expires - obtained).num_milliseconds().max(0) as f64;
    let due = obtained + chrono::Duration::milliseconds((life * REFRESH_AT) as i64);
    (due - now)
        .to_std()
        .unwrap_or(Duration::ZERO)
        .max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: serde_json::Value) -> String {
        let part = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.sig",
            part(&serde_json::json!({"alg": "HS256"})),
            part(&claims)
        )
    }

    #[test]
    fn expiry_is_read_from_the_claims_only() {
        let token = jwt(serde_json::json!({"sub": "1", "exp": 1_900_000_000}));
        assert_eq!(
            token_expiry(&token).map(|t| t.timestamp()),
            Some(1_900_000_000)
        );
        assert_eq!(token_expiry(&jwt(serde_json::json!({"sub": "1"}))), None);
        assert_eq!(token_expiry("opaque-token"), None);
    }

    #[test]
    fn refresh_happens_at_80_percent_of_the_life() {
        let t0 = DateTime::from_timestamp(1_000_000, 0).unwrap_or_default();
        let fifteen_min = t0 + chrono::Duration::minutes(15);
        assert_eq!(
            refresh_delay(t0, fifteen_min, t0),
            Duration::from_secs(12 * 60)
        );
        let later = t0 + chrono::Duration::minutes(10);
        assert_eq!(
            refresh_delay(t0, fifteen_min, later),
            Duration::from_secs(2 * 60)
        );
        // Past due, or an already expired token: soon, not in a tight loop.
        assert_eq!(
            refresh_delay(t0, fifteen_min, fifteen_min),
            Duration::from_secs(1)
        );
        assert_eq!(refresh_delay(t0, t0, t0), Duration::from_secs(1));
    }
}
