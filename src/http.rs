//! The HTTP client every request goes through.

use std::sync::Once;
use std::time::Duration;

/// Settings for the shared client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

static CRYPTO: Once = Once::new();

/// Builds the client. It follows no redirect itself: the engine does, so that it
/// can drop credentials when a redirect leaves the origin.
pub fn client(opts: &ClientOptions) -> Result<reqwest::Client, String> {
    CRYPTO.call_once(|| {
        // Only fails if another provider was installed first, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .user_agent(concat!("arazzo/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(opts.timeout)
        .connect_timeout(opts.connect_timeout)
        .build()
        .map_err(|e| format!("cannot start the HTTP client: {e}"))
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
pub fn fetch_client(opts: &ClientOptions) -> Result<reqwest::Client, String> {
    CRYPTO.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .user_agent(concat!("arazzo/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::limited(10))
        .timeout(opts.timeout)
        .connect_timeout(opts.connect_timeout)
        .build()
        .map_err(|e| format!("cannot start the HTTP client: {e}"))
}
