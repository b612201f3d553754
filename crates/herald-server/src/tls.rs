//! The listener's TLS identity (`--tls-cert`, `--tls-key`): rustls, with
//! ring as its cryptography, loaded once at start-up.
//!
//! Clients reach a private or self-signed server only if they can trust its
//! certificate; herald-server serves whatever chain it is given and leaves
//! trust to them (Herald's `login --ca-file`).

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why the certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{0} holds no PEM certificate")]
    NoCertificate(String),
    #[error("{0} holds no PEM private key")]
    NoKey(String),
    #[error("the certificate and key cannot be used together: {0}")]
    Mismatch(String),
}

/// A TLS identity, ready for the accept loop.
#[derive(Clone)]
pub struct TlsIdentity(pub(crate) Arc<ServerConfig>);

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key must never reach a log.
        f.write_str("TlsIdentity(<certificate and key>)")
    }
}

impl TlsIdentity {
    /// Reads a PEM certificate chain (leaf first) and its PEM private key.
    pub fn load(cert: &Path, key: &Path) -> Result<TlsIdentity, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| TlsError::Read {
                path: path.display().to_string(),
                reason: e.to_string(),
            })
        };
        TlsIdentity::from_pem(&read(cert)?, &read(key)?).map_err(|e| match e {
            TlsError::NoCertificate(_) => TlsError::NoCertificate(cert.display().to_string()),
            TlsError::NoKey(_) => TlsError::NoKey(key.display().to_string()),
            other => other,
        })
    }

    /// The same from PEM text in memory (tests).
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsIdentity, TlsError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
            .filter_map(Result::ok)
            .collect();
        if chain.is_empty() {
            return Err(TlsError::NoCertificate("the certificate".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|_| TlsError::NoKey("the key".into()))?;
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError::Mismatch(e.to_string()))?
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .map_err(|e| TlsError::Mismatch(e.to_string()))?;
        // HTTP/1.1 only, as the accept loop serves.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsIdentity(Arc::new(config)))
    }
}
