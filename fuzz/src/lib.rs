//! What the fuzz targets share: the invariants every decoded event keeps,
//! whatever a server sent.

use herald_core::event::{
    DecodeError, Incoming, MAX_CREATED_AT, MAX_DATA, MAX_KIND, MAX_MESSAGE, MAX_TITLE, MAX_URL,
};

/// Panics (a fuzzer finding) when a decoded event breaks one of its caps.
pub fn check_incoming(item: &Incoming) {
    assert!(
        item.title.chars().count() <= MAX_TITLE,
        "title over the cap"
    );
    assert!(
        item.message.chars().count() <= MAX_MESSAGE,
        "message over the cap"
    );
    assert!(
        !item.title.chars().any(char::is_control),
        "control character in the title: {:?}",
        item.title
    );
    assert!(
        !item.message.chars().any(|c| c.is_control() && c != '\n'),
        "control character in the message: {:?}",
        item.message
    );
    assert!(item.kind.len() <= MAX_KIND, "type over the cap");
    assert!(
        !item.kind.chars().any(char::is_control),
        "control character in the type: {:?}",
        item.kind
    );
    if let Some(url) = &item.url {
        assert!(url.len() <= MAX_URL, "url over the cap");
        assert!(!url.chars().any(char::is_control), "control in the url");
        match url::Url::parse(url) {
            Ok(absolute) => assert!(
                matches!(absolute.scheme(), "http" | "https"),
                "a {} link was kept",
                absolute.scheme()
            ),
            Err(e) => assert_eq!(e, url::ParseError::RelativeUrlWithoutBase, "{url:?}"),
        }
    }
    assert!(
        item.created_at.len() <= MAX_CREATED_AT,
        "createdAt over the cap"
    );
    assert!(
        chrono::DateTime::parse_from_rfc3339(&item.created_at).is_ok(),
        "createdAt is not RFC 3339: {:?}",
        item.created_at
    );
    assert!(item.data.is_object(), "data is not an object");
    let data = serde_json::to_vec(&item.data).unwrap_or_default();
    assert!(
        data.len() <= MAX_DATA,
        "data over the cap: {} bytes",
        data.len()
    );
}

/// Panics when a refusal carries more of the event's name than a type may.
pub fn check_refusal(error: &DecodeError) {
    let (DecodeError::NotAnObject { event } | DecodeError::NoText { event }) = error;
    assert!(
        event.len() <= MAX_KIND,
        "event name in an error over the cap"
    );
}
