//! A real RabbitMQ (Debian's `rabbitmq-server`, with `erlang-base`'s epmd),
//! started once per test process on free ports of 127.0.0.1 with its config,
//! database and logs in a temporary directory, and one user, [`USER`] /
//! [`PASSWORD`], on the default virtual host `/`.
//!
//! It runs under a small `sh` supervisor that holds the broker (and the epmd it
//! uses, started first on a private port so that Erlang does not start a daemon
//! of its own that would outlive us) in a process group of their own, and kills
//! that group and removes the directory when its stdin reaches end of file, that
//! is when this test process exits, however it exits.
//!
//! Startup takes several seconds (9 to 14 s measured on 2 busy shared cores, most
//! of it RabbitMQ collecting its boot steps); [`RabbitMq::startup`] says how long
//! it took, and it is printed to the test's stderr.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use arazzo::broker::{Credentials, Endpoint, Protocol};

pub const USER: &str = "arazzo-test";
pub const PASSWORD: &str = "s3cret-rabbit-pass";

const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
const EPMD: &str = "/usr/bin/epmd";
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// The running broker.
pub struct RabbitMq {
    pub port: u16,
    /// `amqp://127.0.0.1:PORT/` (the default virtual host `/`).
    pub url: String,
    /// How long the broker took to accept its first AMQP connection.
    pub startup: Duration,
    dir: PathBuf,
    /// The supervisor; its stdin is never written, only closed (at exit).
    _supervisor: Mutex<(Child, ChildStdin)>,
}

/// The broker of this test process, started on first use.
pub fn rabbitmq() -> &'static RabbitMq {
    static BROKER: OnceLock<RabbitMq> = OnceLock::new();
    BROKER.get_or_init(start)
}

impl RabbitMq {
    /// An endpoint for the broker with the test user's credentials.
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint_as(USER, PASSWORD)
    }

    /// An endpoint for the broker with the given credentials.
    pub fn endpoint_as(&self, user: &str, password: &str) -> Endpoint {
        endpoint(&self.url, Some((user, password)))
    }

    /// What the broker logged so far (its log file and its stdout).
    pub fn log(&self) -> String {
        read_logs(&self.dir)
    }
}

/// An AMQP endpoint for `url` (5 s connect timeout, 64 KiB message limit).
pub fn endpoint(url: &str, credentials: Option<(&str, &str)>) -> Endpoint {
    let url = url::Url::parse(url).unwrap_or_else(|e| panic!("bad URL {url}: {e}"));
    Endpoint {
        protocol: Protocol::Amqp,
        tls: url.scheme() == "amqps",
        url,
        protocol_version: None,
        credentials: Credentials {
            username: credentials.map(|c| c.0.to_string()),
            password: credentials.map(|c| c.1.to_string()),
            ..Credentials::default()
        },
        connect_timeout: Duration::from_secs(5),
        client_id: format!("arazzo-test-{}", std::process::id()),
        max_message_bytes: 64 * 1024,
    }
}

fn start() -> RabbitMq {
    for (path, package) in [(SERVER, "rabbitmq-server"), (EPMD, "erlang-base")] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: the AMQP tests need Debian's `{package}` package \
             (apt-get install rabbitmq-server; .ci/run installs it)"
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("arazzo-rabbitmq-")
        .tempdir()
        .expect("temp dir for RabbitMQ")
        .keep();
    let [port, dist, epmd] = free_ports();
    write_config(&dir, port);
    let started = Instant::now();
    let (child, stdin) = spawn(&dir, port, dist, epmd);
    let mut supervisor = Some((child, stdin));
    if let Err(why) = wait_until_ready(port, &mut supervisor) {
        let log = read_logs(&dir);
        // Closing the supervisor's stdin stops the broker and removes the directory.
        drop(supervisor);
        panic!("RabbitMQ did not start: {why}; its log:\n{log}");
    }
    let supervisor = supervisor
        .take()
        .expect("the supervisor is kept while it runs");
    let startup = started.elapsed();
    eprintln!("RabbitMQ on 127.0.0.1:{port} accepted AMQP after {startup:.1?}");
    RabbitMq {
        port,
        url: format!("amqp://127.0.0.1:{port}/"),
        startup,
        dir,
        _supervisor: Mutex::new(supervisor),
    }
}

/// Three distinct free ports of 127.0.0.1 (AMQP, Erlang distribution, epmd).
fn free_ports() -> [u16; 3] {
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port"))
        .collect();
    let port = |i: usize| listeners[i].local_addr().expect("local addr").port();
    [port(0), port(1), port(2)]
}

fn write_config(dir: &Path, port: u16) {
    let conf = format!(
        "loopback_users = none\n\
         default_user = {USER}\n\
         default_pass = {PASSWORD}\n\
         default_vhost = /\n\
         listeners.tcp.default = 127.0.0.1:{port}\n\
         log.file.level = info\n\
         log.console = true\n"
    );
    std::fs::write(dir.join("rabbitmq.conf"), conf).expect("write rabbitmq.conf");
    std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("write enabled_plugins");
    std::fs::write(dir.join("rabbitmq-env.conf"), "").expect("write rabbitmq-env.conf");
}

/// The supervisor script: a new process group (`setsid`, whose leader is the
/// inner `sh`) runs epmd and the broker and waits for stdin to close, then kills
/// the whole group (`kill 0`: dash's `kill` takes no negative process ids); the
/// outer `sh` then removes the directory.
const SUPERVISOR: &str = r#"
setsid -w sh -c '
  epmd -port "$ERL_EPMD_PORT" -address 127.0.0.1 </dev/null &
  "$RABBITMQ_SERVER" </dev/null &
  cat >/dev/null
  kill -s KILL 0
' >>"$DIR/stdout.log" 2>&1
rm -rf "$DIR"
"#;

fn spawn(dir: &Path, port: u16, dist: u16, epmd: u16) -> (Child, ChildStdin) {
    let node = format!("arazzo-test-{}@localhost", std::process::id());
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(SUPERVISOR)
        .env("DIR", dir)
        .env("RABBITMQ_SERVER", SERVER)
        .env(
            "PATH",
            format!(
                "/usr/bin:/bin:{}",
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("HOME", dir)
        .env("RABBITMQ_NODENAME", node)
        .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
        .env("RABBITMQ_NODE_PORT", port.to_string())
        .env("RABBITMQ_DIST_PORT", dist.to_string())
        .env("ERL_EPMD_PORT", epmd.to_string())
        .env("ERL_EPMD_ADDRESS", "127.0.0.1")
        .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
        .env("RABBITMQ_LOG_BASE", dir.join("log"))
        .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
        .env("RABBITMQ_ADVANCED_CONFIG_FILE", dir.join("advanced.config"))
        .env("RABBITMQ_CONF_ENV_FILE", dir.join("rabbitmq-env.conf"))
        .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
        .env("RABBITMQ_PID_FILE", dir.join("rabbitmq.pid"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run sh to start RabbitMQ: {e}"));
    let stdin = child.stdin.take().expect("piped stdin");
    (child, stdin)
}

/// Waits until the broker answers an AMQP protocol header with `connection.start`
/// (a method frame on channel 0), or fails when the supervisor ended or the time
/// is up.
fn wait_until_ready(port: u16, supervisor: &mut Option<(Child, ChildStdin)>) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if answers_amqp(port) {
            return Ok(());
        }
        if let Some((child, _)) = supervisor.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("its supervisor exited ({status})"));
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no AMQP answer on port {port} within {START_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn answers_amqp(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(500),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"AMQP\x00\x00\x09\x01").is_err() {
        return false;
    }
    let mut head = [0u8; 3];
    // Frame type 1 (method) on channel 0: connection.start.
    s.read_exact(&mut head).is_ok() && head == [1, 0, 0]
}

fn read_logs(dir: &Path) -> String {
    let mut out = String::new();
    if let Ok(text) = std::fs::read_to_string(dir.join("stdout.log")) {
        out.push_str(&format!("--- stdout ---\n{text}\n"));
    }
    if let Ok(entries) = std::fs::read_dir(dir.join("log")) {
        for e in entries.flatten() {
            if let Ok(text) = std::fs::read_to_string(e.path()) {
                out.push_str(&format!("--- {} ---\n{text}\n", e.path().display()));
            }
        }
    }
    out
}
