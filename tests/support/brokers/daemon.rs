//! A broker process started once per test process: found from its Debian package,
//! run under a small `sh` watchdog on free ports of 127.0.0.1, with its log kept.
//!
//! A broker kept in a `static` is never dropped, so it cannot be stopped from Rust
//! when the test process ends. Like `tests/oidc/server.mjs`, which exits when its
//! stdin closes, the watchdog reads its stdin (a pipe held here): the pipe closes
//! when the test process ends, however it ends, and the watchdog then kills the
//! broker and removes its temporary directory.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a broker may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `"$@"` in the background and waits for it; kills it when stdin reaches
/// its end; removes `$ARAZZO_BROKER_DIR` once it has exited. (A background job's
/// stdin is /dev/null, so the watcher reads the pipe as fd 3.)
const WATCHDOG: &str = r#"exec 3<&0
"$@" 3<&- &
broker=$!
{ read _line <&3; kill "$broker" 2>/dev/null; } &
watcher=$!
exec 3<&-
wait "$broker"
status=$?
kill "$watcher" 2>/dev/null
rm -rf "$ARAZZO_BROKER_DIR"
echo "[$1 exited with status $status]" >&2
"#;

/// A running broker (its watchdog shell, to be exact).
pub struct Daemon {
    name: String,
    child: Mutex<Child>,
    /// Never written: held so that it closes only when the test process ends.
    _stdin: Mutex<ChildStdin>,
    log: Arc<Mutex<String>>,
}

impl Daemon {
    /// Starts `program` with `args`; `dir` (its configuration and data) is removed
    /// when it exits.
    pub fn start(name: &str, program: &Path, args: &[String], dir: &Path) -> Daemon {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("arazzo-broker-watchdog")
            .arg(program)
            .args(args)
            .env("ARAZZO_BROKER_DIR", dir)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run sh to start {name}: {e}"));
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
            let sink = Arc::clone(&log);
            std::thread::spawn(move || collect(out, &sink));
        }
        let stdin = child.stdin.take().expect("piped stdin");
        Daemon {
            name: name.to_string(),
            child: Mutex::new(child),
            _stdin: Mutex::new(stdin),
            log,
        }
    }

    /// What the broker has written so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether the broker has exited (its watchdog exits with it).
    pub fn exited(&self) -> bool {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        matches!(child.try_wait(), Ok(Some(_)))
    }

    /// Waits until every one of `ports` on 127.0.0.1 accepts a TCP connection;
    /// `Err` with the broker's log when it exits first or takes too long.
    pub fn wait_for_ports(&self, ports: &[u16]) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        for &port in ports {
            loop {
                if self.exited() {
                    std::thread::sleep(Duration::from_millis(100));
                    return Err(format!(
                        "{} exited before it accepted connections; its log:\n{}",
                        self.name,
                        self.log()
                    ));
                }
                let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "{} did not accept connections on port {port} within {START_TIMEOUT:?}; \
                         its log:\n{}",
                        self.name,
                        self.log()
                    ));
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        Ok(())
    }
}

fn collect(mut from: Box<dyn Read + Send>, sink: &Mutex<String>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&buf[..n]);
        sink.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_str(&text);
    }
}

/// The path of `program` (on `PATH`, or in the sbin directories Debian puts
/// daemons in); panics naming the Debian `package` when it is not installed.
pub fn program(program: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let sbin = ["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from);
    std::env::split_paths(&path)
        .chain(sbin)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{program}` is not installed: the broker tests need Debian's `{package}` \
                 package (`apt-get install {package}`; .ci/run installs it)"
            )
        })
}

/// `n` distinct ports of 127.0.0.1 that were free a moment ago.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free port on 127.0.0.1"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local address").port())
        .collect()
}

/// A new temporary directory, left for the watchdog to remove.
pub fn temp_dir(prefix: &str) -> PathBuf {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("create a temporary directory")
        .keep()
}

/// Runs the test `name` of the current test binary in a child process with the
/// environment `env` added, and fails unless it passes. For what a test must
/// not change in its own process, such as `SSL_CERT_FILE` (the trusted roots are
/// read from it, and setting variables while other tests run is unsound). The
/// child test is `#[ignore]`d, so that it runs only this way.
pub fn run_test_in_child(name: &str, env: &[(&str, String)]) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new(exe)
        .args([
            "--exact",
            name,
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} failed in the child process ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
