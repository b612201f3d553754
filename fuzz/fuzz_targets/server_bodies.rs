//! Arbitrary bytes as the JSON body of each herald-server route that takes
//! one, through the server's own extractor (`api::extract::Json`, which maps
//! serde's rejections to error answers) and then the checks the route makes
//! before anything is stored or hashed.
//!
//! Input: byte 0 picks the route, the rest is the body (for the events
//! route, a body that starts with `[` is a batch). Invariants: a bad
//! body is a 4xx answer, never a 5xx; the extractor accepts exactly what
//! serde accepts; whatever passes the checks keeps the contract's caps.

#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{Request, header};
use axum::response::IntoResponse;
use herald_proto::api::{
    EmitRequest, LoginRequest, PushSubscription, PushUnsubscribe, ReadRequest, RefreshRequest,
};
use herald_server::ApiError;
use herald_server::api::extract::Json;
use herald_server::api::{
    MAX_BATCH, MAX_EMAIL, MAX_MESSAGE, MAX_TITLE, MAX_URL, login_email, logout_refresh_token,
    parse_event_batch, validate_event,
};
use herald_server::store::event::NewEvent;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;

fuzz_target!(|input: &[u8]| {
    let [route, body @ ..] = input else {
        return;
    };
    match route % 7 {
        0 => {
            if let Some(login) = extract::<LoginRequest>(body) {
                match login_email(&login) {
                    Ok(email) => {
                        assert!(email.len() <= MAX_EMAIL, "email over the cap");
                        assert_eq!(email, email.trim(), "email not trimmed");
                    }
                    Err(e) => refused(e),
                }
            }
        }
        1 => drop(extract::<RefreshRequest>(body)),
        2 => match logout_refresh_token(body) {
            Ok(token) => {
                let plain = serde_json::from_slice::<serde_json::Value>(body);
                let named = plain.ok().and_then(|v| v.get("refreshToken").cloned());
                assert_eq!(
                    token.map(serde_json::Value::String),
                    named.filter(|v| !v.is_null())
                );
            }
            Err(e) => refused(e),
        },
        3 => {
            if let Some(sub) = extract::<PushSubscription>(body)
                && herald_server::push::validate_subscription(&sub).is_ok()
            {
                let url = herald_server::push::parse_endpoint(&sub.endpoint)
                    .expect("a valid subscription's endpoint parses");
                assert!(matches!(url.scheme(), "http" | "https"));
                assert!(url.username().is_empty() && url.password().is_none());
            }
        }
        4 => drop(extract::<PushUnsubscribe>(body)),
        5 => drop(extract::<ReadRequest>(body)),
        _ if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') => {
            // `POST /api/events` with an array: all or nothing.
            match parse_event_batch(body) {
                Ok(events) => {
                    assert!((1..=MAX_BATCH).contains(&events.len()), "batch size");
                    assert!(
                        serde_json::from_slice::<Vec<EmitRequest>>(body).is_ok(),
                        "a batch serde refuses passed"
                    );
                    events.iter().for_each(checked);
                }
                Err(e) => refused(e),
            }
        }
        _ => {
            if let Some(emit) = extract::<EmitRequest>(body) {
                match validate_event(emit) {
                    Ok(event) => checked(&event),
                    Err(e) => refused(e),
                }
            }
        }
    }
});

/// The body through the server's extractor, as a route receives it. Checks
/// that it agrees with plain serde, and that a refusal is a 4xx answer.
fn extract<T: DeserializeOwned + Send + 'static>(body: &[u8]) -> Option<T> {
    let request = Request::post("/")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_vec()))
        .expect("a request");
    let extracted = runtime().block_on(Json::<T>::from_request(request, &()));
    let plain = serde_json::from_slice::<T>(body);
    assert_eq!(
        extracted.is_ok(),
        plain.is_ok(),
        "extractor and serde disagree"
    );
    match extracted {
        Ok(Json(value)) => Some(value),
        Err(e) => {
            refused(e);
            None
        }
    }
}

/// An event that passed the checks keeps the contract's caps.
fn checked(event: &NewEvent) {
    assert!(!event.title.is_empty(), "empty title");
    assert_eq!(event.title, event.title.trim(), "title not trimmed");
    assert!(
        event.title.chars().count() <= MAX_TITLE,
        "title over the cap"
    );
    assert!(event.message.chars().count() <= MAX_MESSAGE, "message over");
    if let Some(url) = &event.url {
        assert!(url.len() <= MAX_URL, "url over the cap");
        assert!(
            url.starts_with("https://") || url.starts_with("http://"),
            "a non-web url passed: {url:?}"
        );
        assert!(!url.chars().any(char::is_control), "control in url");
    }
    assert!(event.data.is_object(), "data is not an object");
    assert!(herald_proto::EventType::parse(&event.kind).is_some());
}

/// A refused body must be the client's fault: a 4xx answer.
fn refused(error: ApiError) {
    let status = error.into_response().status();
    assert!(status.is_client_error(), "a bad body got {status}");
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    })
}
