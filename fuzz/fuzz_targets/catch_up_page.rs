//! Arbitrary bytes as a catch-up answer, through
//! `herald_core::api::parse_page`, then every item through `decode` the way
//! the engine does.
//!
//! Input: byte 0 is the `limit` asked for (0 to 15, so pages over the limit
//! are common), the rest is the body. The page must agree with a plain
//! `serde_json` reading of the same body: the first `limit` items, and
//! `has_more` when the server said so or sent more than asked.

#![no_main]

use herald_core::api::parse_page;
use herald_core::event::decode;
use herald_fuzz::{check_incoming, check_refusal};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|input: &[u8]| {
    let [limit, body @ ..] = input else {
        return;
    };
    let limit = u32::from(*limit % 16);
    let Ok(page) = parse_page(body, limit) else {
        return;
    };
    assert!(
        page.items.len() <= limit as usize,
        "more items than asked for"
    );
    let plain: Value = serde_json::from_slice(body).expect("a page serde_json cannot read");
    let all = plain["items"].as_array().expect("a page without items");
    assert_eq!(
        page.items,
        all[..all.len().min(limit as usize)],
        "items differ"
    );
    let said = plain["hasMore"].as_bool().unwrap_or(false);
    assert_eq!(page.has_more, said || all.len() > limit as usize, "hasMore");
    for raw in &page.items {
        let name = raw["type"].as_str().unwrap_or("notification");
        match decode(name, raw) {
            Ok(item) => check_incoming(&item),
            Err(e) => check_refusal(&e),
        }
    }
});
