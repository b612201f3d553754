//! Reading one catch-up page, `{"items": [...], "hasMore": bool}`, from the
//! bytes a server sent.
//!
//! A page holds at most the `limit` Herald asked for. A server that sends
//! more does not get the client's memory for them: the items past the limit
//! are read but never built into values, and the page says
//! `has_more`, so the next page asks for them again after the last id kept;
//! nothing is lost. Only a page of the wrong shape (not an object, no
//! `items` array, malformed JSON) is refused as a whole.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::ApiError;

/// One page of catch-up: raw items (decoded by [`crate::event::decode`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Value>,
    pub has_more: bool,
}

/// Parses a catch-up answer asked for with `limit`: at most `limit` items are
/// kept, and a page that had more says `has_more`.
pub fn parse_page(body: &[u8], limit: u32) -> Result<Page, ApiError> {
    let mut reader = serde_json::Deserializer::from_slice(body);
    let page = PageSeed { limit }
        .deserialize(&mut reader)
        .and_then(|page| reader.end().map(|()| page))
        .map_err(|e| ApiError::BadAnswer(format!("catch-up answer: {e}")))?;
    let Some((items, overflow)) = page.items else {
        return Err(ApiError::BadAnswer(
            "catch-up answer without an items array".into(),
        ));
    };
    if overflow > 0 {
        tracing::warn!(
            limit,
            overflow,
            "the server sent more catch-up items than asked for; the rest is asked for again"
        );
    }
    Ok(Page {
        items,
        has_more: page.has_more || overflow > 0,
    })
}

/// What the page object held: the kept items and how many were skipped.
struct RawPage {
    items: Option<(Vec<Value>, u64)>,
    has_more: bool,
}

struct PageSeed {
    limit: u32,
}

impl<'de> DeserializeSeed<'de> for PageSeed {
    type Value = RawPage;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawPage, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PageSeed {
    type Value = RawPage;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with an items array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawPage, A::Error> {
        let mut page = RawPage {
            items: None,
            has_more: false,
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "items" if page.items.is_some() => {
                    return Err(de::Error::duplicate_field("items"));
                }
                "items" => page.items = Some(map.next_value_seed(ItemsSeed { limit: self.limit })?),
                // Lenient, as before: anything but `true` is "no more".
                "hasMore" => page.has_more = map.next_value::<Skim>()?.0 == Some(true),
                // Unknown keys are read without being built.
                _ => {
                    map.next_value::<Skim>()?;
                }
            }
        }
        Ok(page)
    }
}

/// The items array: the first `limit` as values, the rest counted only.
struct ItemsSeed {
    limit: u32,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed {
    type Value = (Vec<Value>, u64);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed {
    type Value = (Vec<Value>, u64);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let limit = self.limit as usize;
        // The size hint is the server's word: it sizes nothing past the limit.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(limit));
        while items.len() < limit {
            match seq.next_element::<Value>()? {
                Some(item) => items.push(item),
                None => return Ok((items, 0)),
            }
        }
        let mut overflow = 0_u64;
        while seq.next_element::<Skim>()?.is_some() {
            overflow += 1;
        }
        Ok((items, overflow))
    }
}

/// A JSON value read in full but not built: `Some(b)` for a boolean, `None`
/// for anything else. Read, not skipped: serde's `IgnoredAny` passes over a
/// string without checking its UTF-8 or escapes, so a page a plain reading
/// refuses would pass here (found by the `catch_up_page` fuzz target).
struct Skim(Option<bool>);

impl<'de> Deserialize<'de> for Skim {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Skim, D::Error> {
        deserializer.deserialize_any(SkimVisitor)
    }
}

struct SkimVisitor;

impl<'de> Visitor<'de> for SkimVisitor {
    type Value = Skim;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Skim, E> {
        Ok(Skim(Some(v)))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skim, E> {
        Ok(Skim(None))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skim, E> {
        Ok(Skim(None))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skim, E> {
        Ok(Skim(None))
    }
    fn visit_str<E>(self, _: &str) -> Result<Skim, E> {
        Ok(Skim(None))
    }
    fn visit_unit<E>(self) -> Result<Skim, E> {
        Ok(Skim(None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skim, A::Error> {
        while seq.next_element::<Skim>()?.is_some() {}
        Ok(Skim(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skim, A::Error> {
        while map.next_entry::<Skim, Skim>()?.is_some() {}
        Ok(Skim(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(body: &Value, limit: u32) -> Result<Page, ApiError> {
        parse_page(body.to_string().as_bytes(), limit)
    }

    #[test]
    fn a_page_reads_its_items_and_has_more() {
        let body = json!({"items": [{"id": 1}, {"id": 2}], "hasMore": true, "extra": [1]});
        let got = page(&body, 10).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.items, vec![json!({"id": 1}), json!({"id": 2})]);
        assert!(got.has_more);
        // The seed's servers may leave hasMore out, or send it as text.
        for body in [json!({"items": []}), json!({"items": [], "hasMore": "yes"})] {
            let got = page(&body, 10).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!((got.items.len(), got.has_more), (0, false));
        }
    }

    #[test]
    fn items_past_the_limit_are_not_kept_and_the_page_has_more() {
        let items: Vec<Value> = (1..=7).map(|id| json!({"id": id})).collect();
        let got =
            page(&json!({"hasMore": false, "items": items}), 5).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.items, items[..5]);
        assert!(got.has_more, "the skipped items must be asked for again");
        let exact = page(&json!({"items": items[..5]}), 5).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((exact.items.len(), exact.has_more), (5, false));
    }

    #[test]
    fn a_page_of_the_wrong_shape_or_bad_json_is_refused_whole() {
        for body in [
            &b"[]"[..],
            b"{\"items\": {}}",
            b"{\"hasMore\": true}",
            b"{\"items\": [], \"items\": []}",
            b"{\"items\": [1,]}",
            b"{\"items\": []} trailing",
            b"",
            b"\xff",
            // Past the limit and in keys nobody reads, the JSON must still
            // be valid: bad UTF-8 (the fuzzer's find) and a bad escape.
            b"{\"items\": [{}, {\"re\x9bd\": false}]}",
            b"{\"items\": [{}, \"\\ud800\"]}",
            b"{\"items\": [], \"hasMore\": \"\\x\"}",
            b"{\"items\": [], \"other\": [\"\xc3\"]}",
        ] {
            assert!(
                matches!(parse_page(body, 1), Err(ApiError::BadAnswer(_))),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
