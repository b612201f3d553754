//! `herald-bench-engine`: Herald's engine alone in a process, so that its
//! memory, threads and wake-ups are its own. It runs on the runtime the
//! `herald` CLI uses (tokio's multi-threaded default), with a counting
//! notifier, and speaks JSON lines:
//!
//! - `{"ready": true}` once connected;
//! - with `--expect N`: `{"done": N, "first", "last", "inbox"}` when N new
//!   events are in the inbox, then `{"toasts": k}` once the policy's burst
//!   window has passed (a held-back summary is shown at its end);
//! - it signs out of nothing and exits when stdin closes.
// Its stdout is the protocol the bench reads.
#![allow(clippy::print_stdout)]

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use herald_core::engine::InboxUpdate;
use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::clock::now_ns;
use crate::engine;

/// Herald's engine alone: signs in, connects, counts what it stores.
#[derive(Debug, clap::Parser)]
#[command(name = "herald-bench-engine")]
pub struct ChildArgs {
    #[arg(long)]
    url: String,
    #[arg(long)]
    email: String,
    #[arg(long)]
    password: String,
    #[arg(long)]
    dir: PathBuf,
    /// New events to wait for (0: stay idle).
    #[arg(long, default_value_t = 0)]
    expect: u64,
}

pub fn main(args: ChildArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(run(args))
}

async fn run(args: ChildArgs) -> anyhow::Result<()> {
    let expect = args.expect;
    // Room for the whole burst: the default keeps the newest 20,000.
    let limit = usize::try_from(expect)?.saturating_add(1000);
    let herald = engine::start(&args.dir, &args.url, &args.email, &args.password, |s| {
        s.history_limit = s.history_limit.max(limit);
    })
    .await?;
    let mut updates = herald.engine.updates();
    println!("{}", json!({"ready": true}));

    let stdin_closed = async {
        let mut buf = [0u8; 64];
        let mut stdin = tokio::io::stdin();
        while stdin.read(&mut buf).await.is_ok_and(|n| n > 0) {}
    };
    tokio::pin!(stdin_closed);
    if expect > 0 {
        let mut seen = HashSet::new();
        let mut first = None;
        let counted = async {
            loop {
                match updates.recv().await {
                    Ok(InboxUpdate::Added(items)) => {
                        let at = now_ns();
                        first.get_or_insert(at);
                        // The burst's events only: the sign-in's own login
                        // alert is in the inbox too.
                        seen.extend(
                            items
                                .iter()
                                .filter(|i| i.kind == "order_update")
                                .filter_map(|i| i.server_id),
                        );
                        if seen.len() as u64 >= expect {
                            return Some(at);
                        }
                    }
                    Ok(_) => {}
                    // A lagging subscriber missed updates, not events: the
                    // inbox count below is the truth either way.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(n, "updates missed");
                    }
                    Err(_) => return None,
                }
            }
        };
        let last = tokio::select! {
            last = counted => last,
            _ = &mut stdin_closed => None,
        };
        let inbox = herald.engine.inbox();
        let stored = tokio::task::spawn_blocking(move || {
            inbox.lock().unwrap_or_else(|e| e.into_inner()).count()
        })
        .await?
        .context("cannot count the inbox")?;
        println!(
            "{}",
            json!({"done": seen.len(), "first": first.map(|t| t.to_string()),
                   "last": last.map(|t| t.to_string()), "inbox": stored})
        );
        tokio::time::sleep(Duration::from_millis(2500)).await;
        println!(
            "{}",
            json!({"toasts": herald.notifier.shown.load(Ordering::Relaxed),
                   "summaries": *herald.notifier.first.lock().unwrap_or_else(|e| e.into_inner())})
        );
    }
    stdin_closed.await;
    herald.engine.shutdown().await;
    Ok(())
}
