//! A certificate authority made on the spot, for tests of TLS (feature
//! `test-ca`): the herald-server tests, herald-core's and the system tests
//! all make their CA and server certificates here, with rcgen.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// A fresh CA and one server certificate it signed.
#[derive(Debug, Clone)]
pub struct TestCa {
    /// The CA's certificate, PEM: what a client is told to trust.
    pub ca_pem: String,
    /// The server's certificate, PEM.
    pub cert_pem: String,
    /// The server's private key, PEM.
    pub key_pem: String,
}

/// How the server certificate is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    /// Valid now, for `localhost` and 127.0.0.1.
    Good,
    /// Expired in 2001.
    Expired,
    /// Valid, but for `other.example` only.
    WrongName,
}

impl TestCa {
    /// A CA and a server certificate of kind `leaf`.
    pub fn new(leaf: Leaf) -> TestCa {
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // A name of its own: OpenSSL finds an issuer by name.
        let serial: u32 = rand_core::RngCore::next_u32(&mut rand_core::OsRng);
        ca.distinguished_name
            .push(DnType::CommonName, format!("Herald Test CA {serial:08x}"));
        let ca_cert = ca.self_signed(&ca_key).expect("the CA certificate");
        let names: Vec<String> = match leaf {
            Leaf::WrongName => vec!["other.example".into()],
            Leaf::Good | Leaf::Expired => vec!["localhost".into(), "127.0.0.1".into()],
        };
        let mut params = CertificateParams::new(names).expect("server parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, "herald-server test");
        if leaf == Leaf::Expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let key = KeyPair::generate().expect("a server key");
        let cert = params
            .signed_by(&key, &ca_cert, &ca_key)
            .expect("the server certificate");
        TestCa {
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// The server side, ready for `Config::tls`.
    pub fn identity(&self) -> crate::TlsIdentity {
        crate::TlsIdentity::from_pem(self.cert_pem.as_bytes(), self.key_pem.as_bytes())
            .expect("the test certificate loads")
    }
}
