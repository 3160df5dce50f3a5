//! The HTTP client every request goes through.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Largest document read by default (`--max-document-size`): the Arazzo
/// document, each source description, each file an external `$ref` names, and
/// an inputs file. Public OpenAPI descriptions reach a few MB.
pub const DEFAULT_MAX_DOCUMENT_SIZE: usize = 64 << 20;

/// Settings for the shared clients.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Largest document the fetch client reads, in bytes.
    pub max_document_size: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_document_size: DEFAULT_MAX_DOCUMENT_SIZE,
        }
    }
}

/// What reads documents (files, and http(s) URLs with its client), with the
/// largest document it accepts.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    pub max_document_size: usize,
}

impl Fetcher {
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

/// The TLS settings both clients share. The system's root certificates are
/// read at the first TLS handshake, not when a client is built: a run against
/// `http://` hosts and local files never pays for reading them (about 4 ms).
fn tls_config() -> rustls::ClientConfig {
    static CONFIG: OnceLock<rustls::ClientConfig> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut config = tls_builder().with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            config
        })
        .clone()
}

/// The settings every TLS config shares, before the client's own
/// certificate (none, or a `mutualTLS` one) is chosen.
fn tls_builder() -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert> {
    let provider = Arc::new(ring_provider());
    // Installing the process default only fails if one was installed
    // first, which is fine: this config names its provider itself.
    let _ = CryptoProvider::install_default(ring_provider());
    let verifier = Arc::new(LazyRoots {
        provider: provider.clone(),
        inner: OnceLock::new(),
    });
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
}

/// A request client that presents a client certificate (mutual TLS): the
/// certificate chain and private key are PEM files. `Err` names the file
/// and what is wrong with it.
pub fn client_with_identity(
    opts: &ClientOptions,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<reqwest::Client, String> {
    let config = tls_client_config(Some((cert, key)), &[b"http/1.1".to_vec()])?;
    request_client(config, opts)
}

/// The TLS settings of a client: the platform's roots, the client certificate
/// (PEM files of the chain and its private key) when one is given, and the
/// ALPN protocols. Shared by HTTP requests and broker connections. `Err` names
/// the file and what is wrong with it.
pub fn tls_client_config(
    identity: Option<(&std::path::Path, &std::path::Path)>,
    alpn: &[Vec<u8>],
) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::PrivateKeyDer;
    let Some((cert, key)) = identity else {
        let mut config = tls_builder().with_no_client_auth();
        config.alpn_protocols = alpn.to_vec();
        return Ok(config);
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| {
            format!(
                "the client certificate `{}` cannot be read: {e}",
                cert.display()
            )
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| {
            format!(
                "the client certificate `{}` is not PEM: {e}",
                cert.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "the client certificate `{}` holds no `BEGIN CERTIFICATE` block",
            cert.display()
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        format!(
            "the client key `{}` cannot be read as a PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
            key.display()
        )
    })?;
    let mut config = tls_builder()
        .with_client_auth_cert(certs, private)
        .map_err(|e| {
            format!(
                "the client certificate `{}` and key `{}` cannot be used together: {e}",
                cert.display(),
                key.display()
            )
        })?;
    config.alpn_protocols = alpn.to_vec();
    Ok(config)
}

/// The *ring* crypto provider. rustls 0.23.48 deprecated it because *ring*
/// has no post-quantum key exchange; the alternative, aws-lc-rs, builds a large
/// C library (and wants cmake or a prebuilt object on some targets), which
/// would break `cargo install` on a plain machine. Classical X25519/P-256/P-384
/// key exchange is what every server `arazzo` talks to offers, so *ring* stays,
/// and the README says so.
#[allow(deprecated)]
fn ring_provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Verifies server certificates against the platform's roots (the same
/// verifier reqwest would build), loading them once, on first use.
#[derive(Debug)]
struct LazyRoots {
    provider: Arc<CryptoProvider>,
    inner: OnceLock<Result<Arc<rustls_platform_verifier::Verifier>, rustls::Error>>,
}

impl LazyRoots {
    fn verifier(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
        match self.inner.get_or_init(|| {
            rustls_platform_verifier::Verifier::new(self.provider.clone()).map(Arc::new)
        }) {
            Ok(v) => Ok(v),
            Err(e) => Err(e.clone()),
        }
    }
}

impl ServerCertVerifier for LazyRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Builds the client. It follows no redirect itself: the engine does, so that it
/// can drop credentials when a redirect leaves the origin.
pub fn client(opts: &ClientOptions) -> Result<reqwest::Client, String> {
    request_client(tls_config(), opts)
}

/// A request client with `config` for TLS.
fn request_client(
    config: rustls::ClientConfig,
    opts: &ClientOptions,
) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .user_agent(concat!("arazzo/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(opts.timeout)
        .connect_timeout(opts.connect_timeout)
        .build()
        .map_err(|e| format!("cannot start the HTTP client: {e}"))
}

/// What to check after a TLS failure, when the message is one: an untrusted
/// issuer, no roots at all, or an `SSL_CERT_FILE` that cannot be used.
pub fn tls_hint(message: &str) -> Option<String> {
    let m = message.to_ascii_lowercase();
    let cert_file = std::env::var("SSL_CERT_FILE")
        .ok()
        .filter(|f| !f.is_empty());
    if m.contains("unknownissuer") || m.contains("no ca certificates") {
        if let Some(f) = &cert_file {
            if std::fs::read_to_string(f)
                .map_or(true, |t| !t.contains("-----BEGIN CERTIFICATE-----"))
            {
                return Some(format!(
                    "SSL_CERT_FILE is `{f}`, which is not a readable PEM file of certificates: fix or unset it"
                ));
            }
        }
    }
    // An alert the server sent about this side's certificate (mutual TLS);
    // the server's own certificate is fine, so no hint sends the user there.
    if m.contains("received fatal alert: certificaterequired") {
        return Some("the server asks for a client certificate (mutual TLS) and none was presented: give the source one with clientCert and clientKey (ARAZZO_AUTH_<SOURCE>_<SCHEME>_CLIENT_CERT and _CLIENT_KEY, or --auth-file)".into());
    }
    const REFUSED: [&str; 7] = [
        "unknownca",
        "badcertificate",
        "certificateunknown",
        "unsupportedcertificate",
        "certificaterevoked",
        "certificateexpired",
        "accessdenied",
    ];
    if m.contains("received fatal alert") && REFUSED.iter().any(|a| m.contains(a)) {
        return Some("the server refused the client certificate presented (mutual TLS): check that it is signed by a CA the server trusts, valid now, and meant for client authentication".into());
    }
    if m.contains("unknownissuer") {
        Some("the certificate's issuer is not among the trusted roots: for a private CA, point SSL_CERT_FILE at its PEM file".into())
    } else if m.contains("no ca certificates") {
        Some("no trusted root certificates were found: install the system's CA bundle (ca-certificates) or point SSL_CERT_FILE at one".into())
    } else {
        None
    }
}

/// A short description of a transport error that says what went wrong, without
/// the request URL (the caller names the host).
pub fn describe_error(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut deepest = String::new();
    let mut cur: Option<&dyn std::error::Error> = e.source();
    while let Some(err) = cur {
        deepest = err.to_string();
        cur = err.source();
    }
    if e.is_connect() {
        if deepest.is_empty() {
            return "could not connect".into();
        }
        return format!("could not connect: {deepest}");
    }
    if deepest.is_empty() {
        e.to_string()
    } else {
        deepest
    }
}

/// The client for fetching documents (Arazzo documents and OpenAPI descriptions
/// given by URL): it sends no credentials, so it follows redirects (up to 10).
pub fn fetch_client(opts: &ClientOptions) -> Result<Fetcher, String> {
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config())
        .user_agent(concat!("arazzo/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let downgrade = attempt.url().scheme() == "http"
                && attempt.previous().iter().any(|u| u.scheme() == "https");
            if downgrade {
                attempt.error("the server redirected from https to http; arazzo refuses to downgrade a secure download")
            } else if attempt.previous().len() > 10 {
                attempt.error("more than 10 redirects")
            } else {
                attempt.follow()
            }
        }))
        .timeout(opts.timeout)
        .connect_timeout(opts.connect_timeout)
        .build()
        .map_err(|e| format!("cannot start the HTTP client: {e}"))?;
    Ok(Fetcher {
        client,
        max_document_size: opts.max_document_size,
    })
}
