//! `herald listen` beside a running engine: print what it pushes.
//!
//! The engine (the agent, or another `herald listen`) does everything else:
//! the connection, the history, the desktop notifications. When it goes away
//! this listener waits for the next one without taking the lock (whoever
//! starts the agent again should not find a `listen` in its place), and then
//! prints what arrived in between from the history, so that its output has
//! no gap: the new engine caught those items up from the server.
//!
//! The stream is gapless and without repeats by the local id, which the
//! history never reuses and assigns in arrival order: `mark` is the newest id
//! printed (or already there when this listener started), and only items
//! above it are printed.

use std::time::Duration;

use herald_core::inbox::Item;
use herald_ipc::wire::push;
use herald_ipc::{Call, Client, Endpoint, Push, WireError};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::listen::Stop;
use crate::print::{StatusLines, clean, print_item};
use crate::remote::wire;

/// How often a listener whose agent died looks for the next one.
const RETRY: Duration = Duration::from_millis(500);
/// A history page: the most the agent gives at once.
const PAGE: u32 = 1000;

/// What a backfill found: items above the mark, oldest first.
type Backfill = JoinHandle<Result<Vec<Item>, WireError>>;

struct Printer {
    json: bool,
    /// The newest local id printed, or there before this listener started.
    mark: Option<i64>,
}

impl Printer {
    /// Prints the items above the mark, in id order, and moves the mark.
    fn print_new(&mut self, mut items: Vec<Item>) -> anyhow::Result<()> {
        items.sort_by_key(|item| item.id);
        for item in items {
            if self.mark.is_some_and(|mark| item.id <= mark) {
                continue;
            }
            print_item(&item, self.json)?;
            self.mark = Some(item.id);
        }
        Ok(())
    }
}

pub async fn run(
    mut client: Client,
    endpoint: &Endpoint,
    json: bool,
    no_desktop: bool,
    stop: &mut Stop,
) -> anyhow::Result<()> {
    if no_desktop {
        eprintln!(
            "note: --no-desktop has no effect here: Herald's agent is running, and its \
             settings decide the desktop notifications"
        );
    }
    // The newest item there now: everything above it is news to this listener.
    let newest = newest(&client).await;
    let mut printer = Printer {
        json,
        mark: newest.ok().map(|id| id.unwrap_or(0)),
    };
    let mut lines = StatusLines::default();
    let mut again = false;
    loop {
        match client.subscribe(false).await {
            Ok((status, pushes)) => {
                if again {
                    eprintln!("status: attached to Herald's agent again");
                }
                lines.show(&status)?;
                if session(&client, pushes, &mut printer, &mut lines, stop).await? {
                    return Ok(());
                }
            }
            // The agent went away between the connect and the subscribe.
            Err(e) if !again => return Err(wire(e)),
            Err(_) => {}
        }
        eprintln!("status: Herald's agent stopped; waiting for it to come back");
        lines.reset();
        client = loop {
            tokio::select! {
                () = tokio::time::sleep(RETRY) => {}
                () = &mut *stop => return Ok(()),
            }
            if let Ok(client) = Client::connect(endpoint).await {
                break client;
            }
        };
        again = true;
    }
}

/// Prints one connection's pushes until it closes (`Ok(false)`) or a signal
/// arrives (`Ok(true)`). Each subscription starts with a backfill from the
/// history; pushes that arrive meanwhile wait for it, so they print in order.
async fn session(
    client: &Client,
    mut pushes: tokio::sync::mpsc::Receiver<Push>,
    printer: &mut Printer,
    lines: &mut StatusLines,
    stop: &mut Stop,
) -> anyhow::Result<bool> {
    let mut backfill: Option<Backfill> = Some(spawn_backfill(client, printer.mark));
    let mut waiting: Vec<Item> = Vec::new();
    let mut reread = false;
    loop {
        tokio::select! {
            push = pushes.recv() => {
                let Some(Push { name, data }) = push else { return Ok(false) };
                match name.as_str() {
                    push::STATUS => lines.show(&data)?,
                    push::INBOX => match data["kind"].as_str() {
                        Some("added") => {
                            let items = items(&data["items"]);
                            if backfill.is_some() {
                                waiting.extend(items);
                            } else {
                                printer.print_new(items)?;
                            }
                        }
                        // The agent could not keep up with this listener, or
                        // the history changed wholesale: read it instead
                        // (after the read under way, if there is one).
                        Some("reset") if backfill.is_none() => {
                            backfill = Some(spawn_backfill(client, printer.mark));
                        }
                        Some("reset") => reread = true,
                        _ => {}
                    },
                    _ => {}
                }
            }
            done = async {
                match backfill.as_mut() {
                    Some(task) => task.await,
                    None => std::future::pending().await,
                }
            }, if backfill.is_some() => {
                backfill = None;
                match done {
                    Ok(Ok(items)) => printer.print_new(items)?,
                    Ok(Err(e)) if e.kind == "notSignedIn" => {}
                    Ok(Err(e)) => eprintln!("warning: cannot read the history: {}", clean(&e.message)),
                    Err(e) => eprintln!("warning: cannot read the history: {e}"),
                }
                printer.print_new(std::mem::take(&mut waiting))?;
                if std::mem::take(&mut reread) {
                    backfill = Some(spawn_backfill(client, printer.mark));
                }
            }
            () = &mut *stop => return Ok(true),
        }
    }
}

fn items(value: &Value) -> Vec<Item> {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| {
        eprintln!("warning: the agent sent items this herald does not understand: {e}");
        Vec::new()
    })
}

/// The newest local id in the history (`None` when it is empty).
async fn newest(client: &Client) -> Result<Option<i64>, WireError> {
    let page: Vec<Item> = client
        .call(Call::History, json!({ "query": query(None, 1) }))
        .await?;
    Ok(page.first().map(|item| item.id))
}

fn query(before: Option<i64>, limit: u32) -> Value {
    json!({ "beforeId": before, "limit": limit, "unreadFirst": false })
}

/// Reads the history above `mark` on its own task, so that the pushes keep
/// being taken meanwhile (the agent waits for a client that takes none).
fn spawn_backfill(client: &Client, mark: Option<i64>) -> Backfill {
    let client = client.clone();
    tokio::spawn(async move {
        let Some(mark) = mark else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        let mut before = None;
        loop {
            let page: Vec<Item> = client
                .call(Call::History, json!({ "query": query(before, PAGE) }))
                .await?;
            let full = page.len() >= PAGE as usize;
            let Some(oldest) = page.last().map(|item| item.id) else {
                break;
            };
            found.extend(page.into_iter().filter(|item| item.id > mark));
            if oldest <= mark || !full {
                break;
            }
            before = Some(oldest);
        }
        found.reverse();
        Ok(found)
    })
}
