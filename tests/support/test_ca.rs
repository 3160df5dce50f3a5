//! A throwaway certificate authority for TLS and mutual-TLS tests, made with
//! `rcgen`. Every key is ECDSA P-256, written as PKCS#8 PEM.
//!
//! `TestCa::generate(dir)` writes into `dir`:
//! - `ca.pem`: the CA certificate (point `SSL_CERT_FILE` at it so the CLI
//!   trusts the servers, and hand it to servers as the client-certificate CA);
//! - `server.pem` / `server-key.pem`: a server certificate for `127.0.0.1`
//!   and `localhost` (serverAuth);
//! - `untrusted-ca.pem`: a second CA that nothing trusts.
//!
//! `client(cn)` and `untrusted_client(cn)` add client certificates
//! (clientAuth) signed by the trusted and the untrusted CA.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use super::oidc::MtlsFiles;

pub struct TestCa {
    /// The folder holding every file written.
    pub dir: PathBuf,
    /// `ca.pem`.
    pub ca_cert: PathBuf,
    /// `server.pem`: SANs `127.0.0.1` and `localhost`.
    pub server_cert: PathBuf,
    /// `server-key.pem`.
    pub server_key: PathBuf,
    /// `untrusted-ca.pem`.
    pub untrusted_ca_cert: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    untrusted: Issuer<'static, KeyPair>,
}

impl TestCa {
    /// Makes a CA, a server certificate signed by it and an untrusted second
    /// CA, writing their PEM files into `dir` (which must exist).
    pub fn generate(dir: &Path) -> TestCa {
        let (ca_pem, issuer) = make_ca("arazzo test CA");
        let (untrusted_pem, untrusted) = make_ca("arazzo untrusted test CA");

        let mut params = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("server certificate parameters");
        leaf_common(&mut params, "arazzo test server");
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &issuer).expect("sign server cert");

        let ca = TestCa {
            dir: dir.to_path_buf(),
            ca_cert: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
            untrusted_ca_cert: dir.join("untrusted-ca.pem"),
            issuer,
            untrusted,
        };
        write(&ca.ca_cert, &ca_pem);
        write(&ca.untrusted_ca_cert, &untrusted_pem);
        write(&ca.server_cert, &cert.pem());
        write(&ca.server_key, &key.serialize_pem());
        ca
    }

    /// Issues a client certificate with subject CN `cn` (clientAuth), signed
    /// by this CA; returns the paths of `client-<cn>.pem` and
    /// `client-<cn>-key.pem`.
    pub fn client(&self, cn: &str) -> (PathBuf, PathBuf) {
        self.issue_client(&self.issuer, "client", cn)
    }

    /// Like [`TestCa::client`], but signed by the untrusted CA:
    /// `untrusted-<cn>.pem` and `untrusted-<cn>-key.pem`.
    pub fn untrusted_client(&self, cn: &str) -> (PathBuf, PathBuf) {
        self.issue_client(&self.untrusted, "untrusted", cn)
    }

    /// The private key and certificate of a trusted client certificate in one
    /// PEM file (`client-<cn>-identity.pem`, key first), for clients that take
    /// a single identity file.
    pub fn client_identity(&self, cn: &str) -> PathBuf {
        let (cert, key) = self.client(cn);
        let path = self
            .dir
            .join(format!("client-{}-identity.pem", file_part(cn)));
        let text = format!("{}{}", read(&key), read(&cert));
        write(&path, &text);
        path
    }

    /// The files the mTLS resource server of `AuthServer` needs: this CA's
    /// server certificate and key, and this CA for client certificates.
    pub fn mtls_files(&self) -> MtlsFiles {
        MtlsFiles {
            cert: self.server_cert.clone(),
            key: self.server_key.clone(),
            ca: self.ca_cert.clone(),
        }
    }

    fn issue_client(
        &self,
        issuer: &Issuer<'static, KeyPair>,
        prefix: &str,
        cn: &str,
    ) -> (PathBuf, PathBuf) {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client parameters");
        leaf_common(&mut params, cn);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().expect("client key");
        let cert = params.signed_by(&key, issuer).expect("sign client cert");

        let stem = format!("{prefix}-{}", file_part(cn));
        let cert_path = self.dir.join(format!("{stem}.pem"));
        let key_path = self.dir.join(format!("{stem}-key.pem"));
        write(&cert_path, &cert.pem());
        write(&key_path, &key.serialize_pem());
        (cert_path, key_path)
    }
}

/// A self-signed CA: its certificate PEM and an issuer that signs with it.
fn make_ca(cn: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    set_validity(&mut params);
    params.distinguished_name.remove(DnType::CommonName);
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("self-sign CA");
    (cert.pem(), Issuer::new(params, key))
}

fn leaf_common(params: &mut CertificateParams, cn: &str) {
    set_validity(params);
    params.distinguished_name.remove(DnType::CommonName);
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
}

/// Valid from the start of last year to the start of the year after next.
fn set_validity(params: &mut CertificateParams) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let year = 1970 + (secs / 31_556_952) as i32;
    params.not_before = date_time_ymd(year - 1, 1, 1);
    params.not_after = date_time_ymd(year + 2, 1, 1);
}

/// `cn` reduced to characters safe in a file name.
fn file_part(cn: &str) -> String {
    cn.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}
