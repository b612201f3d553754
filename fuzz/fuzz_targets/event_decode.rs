//! Arbitrary bytes as a Socket.IO event: a name and a JSON payload, through
//! `herald_core::event::decode`. Every event kept must keep every cap.
//!
//! Input: byte 0 is the name's length, byte 1 a repeat count, then the name,
//! then the JSON. Each string in the payload (and one level into `data`) is
//! repeated, so a short input can still go past the 64 KiB and 2 KiB caps.

#![no_main]

use herald_core::event::decode;
use herald_fuzz::{check_incoming, check_refusal};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|input: &[u8]| {
    let [name_len, repeat, rest @ ..] = input else {
        return;
    };
    let (name, json) = rest.split_at((*name_len as usize).min(rest.len()));
    let name = String::from_utf8_lossy(name);
    let Ok(mut payload) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    // 1 to 4081 copies: a 20-byte string becomes up to 80 KB.
    grow(&mut payload, 1 + *repeat as usize * 16, 2);
    for event in [name.as_ref(), "notification"] {
        match decode(event, &payload) {
            Ok(item) => check_incoming(&item),
            Err(e) => check_refusal(&e),
        }
    }
});

/// Repeats every string `times` times, `depth` levels into objects.
fn grow(value: &mut Value, times: usize, depth: u8) {
    match value {
        Value::String(s) if times > 1 => *s = s.repeat(times),
        Value::Object(map) if depth > 0 => {
            for v in map.values_mut() {
                grow(v, times, depth - 1);
            }
        }
        _ => {}
    }
}
