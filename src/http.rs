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

/// Builds the client. Redirects are followed only within the same origin (scheme,
/// host and port), so credentials never travel to a host the user did not name.
pub fn client(opts: &ClientOptions) -> Result<reqwest::Client, String> {
    CRYPTO.call_once(|| {
        // Only fails if another provider was installed first, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .last()
            .is_some_and(|prev| prev.origin() == attempt.url().origin());
        if attempt.previous().len() > 10 || !same_origin {
            attempt.stop()
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .user_agent(concat!("arazzo/", env!("CARGO_PKG_VERSION")))
        .redirect(policy)
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
