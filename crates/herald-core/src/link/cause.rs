//! Why the link is down, in words a person understands.
//!
//! rust_socketio's errors are for programmers ("EngineIO Error" hides the
//! real one in its sources), so the supervisor classifies each failure here,
//! where the typed error still exists, and only the [`Cause`] reaches a label.

use std::error::Error;
use std::io::ErrorKind;

use herald_proto::socket::ConnectErrorCode;

use crate::net::CertProblem;

/// Why the last connection attempt failed or the connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Cause {
    /// Nothing listens at the address, or the server turned the connection down.
    Refused,
    /// The server did not answer in time: a connect, its confirmation, or a probe.
    NoAnswer,
    /// An open connection broke or was closed.
    Dropped,
    /// This machine has no route to the server (no network).
    Unreachable,
    /// The server's name does not resolve.
    UnknownHost,
    /// The TLS handshake failed for another reason than the certificate.
    Tls,
    /// The server's certificate was not accepted, and why.
    Certificate(CertProblem),
    /// The server holds as many connections for this account (or this
    /// sign-in) as it allows; one will close, or time out, and free a place.
    TooManySockets,
    /// None of the above.
    Other,
}

/// Text of an error (lowercased) that names its cause, for errors whose
/// type we cannot see: rust_socketio reports transport errors as strings,
/// and name-resolution errors are io errors without a telling kind.
const TELLING_TEXT: &[(&str, Cause)] = &[
    ("failed to lookup address", Cause::UnknownHost),
    ("name or service not known", Cause::UnknownHost),
    ("nodename nor servname", Cause::UnknownHost),
    ("no such host", Cause::UnknownHost),
    ("temporary failure in name resolution", Cause::UnknownHost),
    ("dns error", Cause::UnknownHost),
    ("connection refused", Cause::Refused),
    // The server answered the upgrade with an error status (tungstenite,
    // rust_engineio): it is there, but it does not take the connection.
    ("http error", Cause::Refused),
    ("status code", Cause::Refused),
    ("network is unreachable", Cause::Unreachable),
    ("host is unreachable", Cause::Unreachable),
    ("no route to host", Cause::Unreachable),
    ("timed out", Cause::NoAnswer),
    ("tls error", Cause::Tls),
    ("ssl", Cause::Tls),
    ("connection reset", Cause::Dropped),
    ("broken pipe", Cause::Dropped),
    ("connection closed", Cause::Dropped),
    ("closed connection", Cause::Dropped),
    ("has closed", Cause::Dropped),
];

impl Cause {
    /// The cause as the end of a sentence, e.g. "Offline: …, because {sentence}".
    pub fn sentence(self) -> &'static str {
        match self {
            Cause::Refused => "the server refused the connection",
            Cause::NoAnswer => "no answer from the server",
            Cause::Dropped => "the connection dropped",
            Cause::Unreachable => "the network is unreachable",
            Cause::UnknownHost => "the server's address cannot be found",
            Cause::Tls => "a secure connection to the server could not be set up",
            Cause::Certificate(problem) => problem.sentence(),
            Cause::TooManySockets => "the server has too many connections open for this account",
            Cause::Other => "the connection failed",
        }
    }

    /// A refusal that is not about the token, by its code.
    pub(crate) fn of_refusal(code: Option<ConnectErrorCode>) -> Cause {
        match code {
            Some(ConnectErrorCode::TooManySockets) => Cause::TooManySockets,
            _ => Cause::Refused,
        }
    }

    /// A failed connect, from the client's typed error and its sources.
    pub(crate) fn of_error(error: &(dyn Error + 'static)) -> Cause {
        // A certificate's reason is often only in a deeper source than the
        // "certificate verify failed" above it: read the whole chain.
        if let Some(problem) = CertProblem::of_error(error) {
            return Cause::Certificate(problem);
        }
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(cause) = e
                .downcast_ref::<std::io::Error>()
                .and_then(|io| Cause::of_io(io.kind()))
                .or_else(|| Cause::of_text(&e.to_string()))
            {
                return cause;
            }
            next = e.source();
        }
        Cause::Other
    }

    /// An error the client reported as text while a transport was open:
    /// whatever it says ("EngineIO Error" says nothing), the connection ended.
    pub(crate) fn of_reported(text: &str) -> Cause {
        Cause::of_text(text).unwrap_or(Cause::Dropped)
    }

    fn of_io(kind: ErrorKind) -> Option<Cause> {
        match kind {
            ErrorKind::ConnectionRefused => Some(Cause::Refused),
            ErrorKind::TimedOut => Some(Cause::NoAnswer),
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
            | ErrorKind::NotConnected => Some(Cause::Dropped),
            ErrorKind::NetworkUnreachable
            | ErrorKind::HostUnreachable
            | ErrorKind::NetworkDown
            | ErrorKind::AddrNotAvailable => Some(Cause::Unreachable),
            _ => None,
        }
    }

    fn of_text(text: &str) -> Option<Cause> {
        if let Some(problem) = CertProblem::of_text(text) {
            return Some(Cause::Certificate(problem));
        }
        let text = text.to_lowercase();
        TELLING_TEXT
            .iter()
            .find(|(telling, _)| text.contains(telling))
            .map(|(_, cause)| *cause)
    }
}

/// An error and its sources as one line, each said once (wrappers often
/// repeat their source): the detail for logs, never for a label.
pub(crate) fn describe(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_socketio::TransportType;
    use rust_socketio::asynchronous::ClientBuilder;

    fn io(kind: ErrorKind) -> rust_socketio::Error {
        rust_socketio::Error::IncompleteIo(std::io::Error::from(kind))
    }

    #[tokio::test]
    async fn a_real_refused_connect_is_refused_not_engineio_error() {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("{e}"));
        let error = ClientBuilder::new(format!("http://127.0.0.1:{port}"))
            .transport_type(TransportType::Websocket)
            .reconnect(false)
            .connect()
            .await
            .err()
            .unwrap_or_else(|| panic!("connected to nothing"));
        assert_eq!(error.to_string(), "EngineIO Error", "the library hides it");
        assert_eq!(Cause::of_error(&error), Cause::Refused);
        let detail = describe(&error);
        assert!(detail.to_lowercase().contains("refused"), "{detail}");
    }

    #[test]
    fn io_errors_are_classified_by_kind() {
        assert_eq!(
            Cause::of_error(&io(ErrorKind::ConnectionRefused)),
            Cause::Refused
        );
        assert_eq!(Cause::of_error(&io(ErrorKind::TimedOut)), Cause::NoAnswer);
        assert_eq!(
            Cause::of_error(&io(ErrorKind::ConnectionReset)),
            Cause::Dropped
        );
        assert_eq!(
            Cause::of_error(&io(ErrorKind::NetworkUnreachable)),
            Cause::Unreachable
        );
        assert_eq!(
            Cause::of_error(&io(ErrorKind::PermissionDenied)),
            Cause::Other
        );
    }

    #[test]
    fn a_failed_name_lookup_is_an_unknown_host() {
        let lookup = rust_socketio::Error::IncompleteIo(std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        ));
        assert_eq!(Cause::of_error(&lookup), Cause::UnknownHost);
    }

    #[test]
    fn reported_errors_of_an_open_transport_are_a_dropped_connection() {
        assert_eq!(Cause::of_reported("EngineIO Error"), Cause::Dropped);
        assert_eq!(
            Cause::of_reported("Underlying Engine.IO connection has closed"),
            Cause::Dropped
        );
        assert_eq!(
            Cause::of_reported("IO error: Connection refused (os error 111)"),
            Cause::Refused
        );
    }

    #[test]
    fn a_refusal_for_too_many_sockets_says_so() {
        assert_eq!(
            Cause::of_refusal(Some(ConnectErrorCode::TooManySockets)),
            Cause::TooManySockets
        );
        assert_eq!(Cause::of_refusal(None), Cause::Refused);
    }

    #[test]
    fn sentences_are_plain_words() {
        for cause in [
            Cause::Refused,
            Cause::NoAnswer,
            Cause::Dropped,
            Cause::Unreachable,
            Cause::UnknownHost,
            Cause::Tls,
            Cause::Certificate(CertProblem::UnknownIssuer),
            Cause::Certificate(CertProblem::Expired),
            Cause::Certificate(CertProblem::WrongName),
            Cause::Certificate(CertProblem::Other),
            Cause::TooManySockets,
            Cause::Other,
        ] {
            let sentence = cause.sentence();
            assert!(sentence.starts_with(char::is_lowercase), "{sentence}");
            assert!(!sentence.contains("Error"), "{sentence}");
        }
    }
}
