//! A certificate error, in words: which server, why, and what to do.
//!
//! native-tls (OpenSSL, SChannel, Secure Transport) reports a failed check
//! only as text, so the reason is read from the error's text, where every
//! backend names it; this module is the one place those words are written.

use std::error::Error;

/// Why a server's certificate was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CertProblem {
    /// Signed by an authority this machine does not trust (a private CA, or
    /// self-signed).
    UnknownIssuer,
    /// Expired, or not valid yet.
    Expired,
    /// Made out for another name.
    WrongName,
    /// Any other failed check.
    Other,
}

/// What to do about a certificate Herald does not trust.
pub const WHAT_TO_DO: &str = "if the server uses a private CA, sign in again with its CA certificate: `herald login --ca-file CA.pem` (in the window, the \"CA certificate\" field)";

/// Backends' words for each problem (lowercased), in the order checked.
/// Windows' schannel reports an HRESULT, which `std::io::Error` shows as
/// "(os error N)" whether or not the system has a message for it: those
/// codes come first, as signed decimals.
const TELLING: &[(&str, CertProblem)] = &[
    // CERT_E_UNTRUSTEDROOT, SEC_E_UNTRUSTED_ROOT, CERT_E_CHAINING.
    ("os error -2146762487", CertProblem::UnknownIssuer),
    ("os error -2146893019", CertProblem::UnknownIssuer),
    ("os error -2146762486", CertProblem::UnknownIssuer),
    // CERT_E_EXPIRED, SEC_E_CERT_EXPIRED.
    ("os error -2146762495", CertProblem::Expired),
    ("os error -2146893016", CertProblem::Expired),
    // CERT_E_CN_NO_MATCH, SEC_E_WRONG_PRINCIPAL.
    ("os error -2146762481", CertProblem::WrongName),
    ("os error -2146893022", CertProblem::WrongName),
    // CERT_E_REVOCATION_FAILURE, CRYPT_E_NO_REVOCATION_CHECK,
    // CRYPT_E_REVOCATION_OFFLINE: a private CA that publishes no CRL.
    ("os error -2146762482", CertProblem::Other),
    ("os error -2146885614", CertProblem::Other),
    ("os error -2146885613", CertProblem::Other),
    ("unable to get local issuer", CertProblem::UnknownIssuer),
    ("unable to get issuer", CertProblem::UnknownIssuer),
    ("self-signed", CertProblem::UnknownIssuer),
    ("self signed", CertProblem::UnknownIssuer),
    ("unknown issuer", CertProblem::UnknownIssuer),
    ("untrusted root", CertProblem::UnknownIssuer),
    // A trusted CA's name, but not its signature: another authority.
    ("certificate signature failure", CertProblem::UnknownIssuer),
    ("not trusted", CertProblem::UnknownIssuer),
    ("has expired", CertProblem::Expired),
    ("not yet valid", CertProblem::Expired),
    ("expired", CertProblem::Expired),
    ("hostname mismatch", CertProblem::WrongName),
    ("ip address mismatch", CertProblem::WrongName),
    ("name mismatch", CertProblem::WrongName),
    ("does not match", CertProblem::WrongName),
    ("certificate verify failed", CertProblem::Other),
    ("certificate", CertProblem::Other),
];

impl CertProblem {
    /// The reason, as the end of "the certificate of X is not accepted: …".
    pub fn reason(self) -> &'static str {
        match self {
            CertProblem::UnknownIssuer => "it is signed by an unknown authority",
            CertProblem::Expired => "it has expired or is not valid yet",
            CertProblem::WrongName => "it was made out for another name",
            CertProblem::Other => "it did not pass the checks",
        }
    }

    /// The problem as the end of a status sentence ("Offline: …, because …"):
    /// [`crate::status`] shows it as it is.
    pub fn sentence(self) -> &'static str {
        match self {
            CertProblem::UnknownIssuer => {
                "the server's certificate is signed by an unknown authority (sign in again with its CA: `herald login --ca-file`, or the \"CA certificate\" field)"
            }
            CertProblem::Expired => "the server's certificate has expired or is not valid yet",
            CertProblem::WrongName => "the server's certificate was made out for another name",
            CertProblem::Other => "the server's certificate did not pass the checks",
        }
    }

    /// The problem named by an error or any of its sources; `None` when
    /// the error is not about a certificate.
    pub fn of_error(error: &(dyn Error + 'static)) -> Option<CertProblem> {
        let mut text = String::new();
        let mut next = Some(error);
        while let Some(e) = next {
            text.push_str(&e.to_string().to_lowercase());
            text.push(' ');
            next = e.source();
        }
        CertProblem::of_text(&text)
    }

    /// The problem named in an error's text (rust_socketio reports strings).
    pub fn of_text(text: &str) -> Option<CertProblem> {
        let text = text.to_lowercase();
        TELLING
            .iter()
            .find(|(telling, _)| text.contains(telling))
            .map(|(_, problem)| *problem)
    }
}

/// A server's certificate was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("certificate error: the certificate of {server} is not accepted: {}; {WHAT_TO_DO}", .problem.reason())]
pub struct CertError {
    /// The server's origin.
    pub server: String,
    pub problem: CertProblem,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_reasons_are_named() {
        let openssl = |reason: &str| {
            format!(
                "error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed:../ssl/statem/statem_clnt.c:2091: ({reason})"
            )
        };
        let cases = [
            (
                "unable to get local issuer certificate",
                CertProblem::UnknownIssuer,
            ),
            (
                "self-signed certificate in certificate chain",
                CertProblem::UnknownIssuer,
            ),
            ("certificate has expired", CertProblem::Expired),
            ("hostname mismatch", CertProblem::WrongName),
            ("IP address mismatch", CertProblem::WrongName),
            ("certificate revoked", CertProblem::Other),
        ];
        for (reason, problem) in cases {
            assert_eq!(
                CertProblem::of_text(&openssl(reason)),
                Some(problem),
                "{reason}"
            );
        }
        assert_eq!(CertProblem::of_text("connection refused"), None);
    }

    #[test]
    fn schannel_codes_are_named_with_or_without_the_system_message() {
        let cases = [
            (
                "The certificate chain was processed, but terminated in a root certificate which is not trusted by the trust provider. (os error -2146762487)",
                CertProblem::UnknownIssuer,
            ),
            (
                "OS Error -2146893016 (FormatMessageW() returned error 317)",
                CertProblem::Expired,
            ),
            (
                "The target principal name is incorrect. (os error -2146893022)",
                CertProblem::WrongName,
            ),
            (
                "OS Error -2146762482 (FormatMessageW() returned error 317)",
                CertProblem::Other,
            ),
        ];
        for (text, problem) in cases {
            assert_eq!(CertProblem::of_text(text), Some(problem), "{text}");
        }
        assert_eq!(
            CertProblem::of_text("No connection could be made (os error 10061)"),
            None
        );
    }

    #[test]
    fn the_message_names_the_server_the_reason_and_what_to_do() {
        let e = CertError {
            server: "https://hub.example:8443".into(),
            problem: CertProblem::UnknownIssuer,
        };
        let text = e.to_string();
        assert!(text.starts_with("certificate error: the certificate of https://hub.example:8443 is not accepted: it is signed by an unknown authority;"), "{text}");
        assert!(text.contains("herald login --ca-file"), "{text}");
        assert!(text.contains("\"CA certificate\" field"), "{text}");
        let expired = CertError {
            problem: CertProblem::Expired,
            ..e.clone()
        };
        assert!(expired.to_string().contains("it has expired"));
        let wrong = CertError {
            problem: CertProblem::WrongName,
            ..e
        };
        assert!(wrong.to_string().contains("made out for another name"));
    }
}
