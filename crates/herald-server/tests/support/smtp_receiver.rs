//! A real SMTP server on loopback (mailin-embedded) that keeps every message
//! it is given: envelope and raw data, handed to the test through a channel.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use mailin_embedded::{Handler, Response, Server, response};
use tokio::sync::mpsc;

/// One message as the server took it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The envelope (`MAIL FROM`, `RCPT TO`), which decides delivery
    /// whatever the headers say.
    pub from: String,
    pub to: Vec<String>,
    /// The message, headers and body, as sent after `DATA`.
    pub data: Vec<u8>,
}

impl ReceivedMail {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// The header block: everything before the first empty line.
    pub fn headers(&self) -> String {
        let text = self.text();
        text.split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .to_string()
    }

    /// The value of the first header called `name` (unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let headers = self.headers().replace("\r\n ", " ").replace("\r\n\t", " ");
        headers.split("\r\n").find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }

    pub fn body(&self) -> String {
        let text = self.text();
        text.split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default()
    }
}

/// Collects a session's message; mailin clones one per connection.
#[derive(Clone)]
struct Collector {
    tx: mpsc::UnboundedSender<ReceivedMail>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Collector {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.from = from.to_string();
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mail = ReceivedMail {
            from: std::mem::take(&mut self.from),
            to: std::mem::take(&mut self.to),
            data: std::mem::take(&mut self.data),
        };
        // The test may be gone already; the server still accepted the mail.
        let _ = self.tx.send(mail);
        response::OK
    }
}

/// The server runs on its own thread until the test process ends: mailin
/// has no way to stop it, and an idle listener costs nothing.
pub struct SmtpReceiver {
    pub addr: SocketAddr,
    /// `smtp://127.0.0.1:PORT`, for `Mailer::from_url`.
    pub url: String,
    rx: mpsc::UnboundedReceiver<ReceivedMail>,
}

impl std::fmt::Debug for SmtpReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpReceiver")
            .field("addr", &self.addr)
            .finish()
    }
}

impl SmtpReceiver {
    pub fn start() -> SmtpReceiver {
        // Binding here, not in mailin, gives a free port known before serving.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the SMTP receiver");
        let addr = listener.local_addr().expect("the SMTP receiver's address");
        let (tx, rx) = mpsc::unbounded_channel();
        let mut server = Server::new(Collector {
            tx,
            from: String::new(),
            to: Vec::new(),
            data: Vec::new(),
        });
        server
            .with_name("smtp.test")
            .with_num_threads(2)
            .with_tcp_listener(listener);
        std::thread::Builder::new()
            .name(format!("smtp-receiver-{}", addr.port()))
            .spawn(move || {
                if let Err(e) = server.serve() {
                    tracing::error!(error = %e, "the SMTP receiver stopped");
                }
            })
            .expect("start the SMTP receiver thread");
        SmtpReceiver {
            addr,
            url: format!("smtp://{addr}"),
            rx,
        }
    }

    /// The next message, or `None` after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<ReceivedMail> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// A message already received, without waiting.
    pub fn try_next(&mut self) -> Option<ReceivedMail> {
        self.rx.try_recv().ok()
    }
}

/// A port that accepts TCP connections (the kernel completes them into the
/// backlog) but never says a word: a hung SMTP server.
pub fn silent_server() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a silent listener");
    let url = format!(
        "smtp://{}",
        listener
            .local_addr()
            .expect("the silent listener's address")
    );
    (listener, url)
}

/// A loopback URL nothing listens on (the port was free a moment ago).
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind to find a free port");
    let url = format!("smtp://{}", listener.local_addr().expect("the free port"));
    drop(listener);
    url
}
