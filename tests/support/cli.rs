//! Running the `arazzo` binary the way a user does, and what it printed.

use assert_cmd::Command;
use serde_json::Value;

/// `arazzo` in the crate root, with none of the caller's `ARAZZO_*`,
/// `NO_COLOR`, `RUST_LOG` or `SSL_CERT_*` variables inherited.
pub fn arazzo() -> Command {
    Command::from_std(arazzo_std())
}

/// The same as [`arazzo`], as a `std::process::Command` (for a process that
/// runs in the background, see [`Running`]).
pub fn arazzo_std() -> std::process::Command {
    use assert_cmd::cargo::CommandCargoExt;
    let mut cmd = std::process::Command::cargo_bin("arazzo").expect("the arazzo binary is built");
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (name, _) in std::env::vars() {
        if name.starts_with("ARAZZO_")
            || name.starts_with("SSL_CERT")
            || name == "NO_COLOR"
            || name == "RUST_LOG"
        {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// `arazzo` running in the background, its output collected, so that a test
/// can signal it half-way. Killed if the test drops it.
pub struct Running {
    child: Option<std::process::Child>,
    out: Option<std::thread::JoinHandle<Vec<u8>>>,
    err: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Running {
    pub fn start(mut cmd: std::process::Command) -> Running {
        use std::process::Stdio;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start arazzo");
        let drain = |mut r: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = r.read_to_end(&mut buf);
                buf
            })
        };
        let out = drain(Box::new(child.stdout.take().unwrap()));
        let err = drain(Box::new(child.stderr.take().unwrap()));
        Running {
            child: Some(child),
            out: Some(out),
            err: Some(err),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends `signal` (`INT`, `TERM`, `KILL`).
    pub fn signal(&self, signal: &str) {
        super::send_signal(self.pid(), signal);
    }

    /// Waits for the exit (at most `limit`, then kills it and fails the test).
    pub fn finish(mut self, limit: std::time::Duration) -> Out {
        let mut child = self.child.take().unwrap();
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for arazzo") {
                break status;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("arazzo did not exit within {limit:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let text = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
            String::from_utf8_lossy(&h.unwrap().join().unwrap()).into_owned()
        };
        use std::os::unix::process::ExitStatusExt;
        Out {
            code: status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
            stdout: text(self.out.take()),
            stderr: text(self.err.take()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `ready` every 10 ms for up to 30 s; fails the test naming `what`.
pub fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "timed out waiting until {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// `arazzo run provision-mcp-server` as a user types it, against the Composio
/// stand-in at `base`, with `key` in `ARAZZO_INPUT_API_KEY`, then `extra`.
pub fn provision(base: &str, key: &str, extra: &[&str]) -> Command {
    Command::from_std(provision_std(base, key, extra))
}

/// The inputs of `provision-mcp-server` besides the key, as a user types them.
#[allow(dead_code)] // Not every test binary that includes `support` uses it.
pub const PROVISION_INPUTS: [&str; 8] = [
    "-i",
    "toolkitSlug=linear",
    "-i",
    "authType=use_composio_managed_auth",
    "-i",
    "serverName=Linear Bot",
    "-i",
    "userId=alice",
];

/// [`provision`] as a `std::process::Command`.
pub fn provision_std(base: &str, key: &str, extra: &[&str]) -> std::process::Command {
    let mut cmd = arazzo_std();
    cmd.env("ARAZZO_INPUT_API_KEY", key)
        .args(["run", "provision-mcp-server"])
        .args(PROVISION_INPUTS)
        .args(["--server", &format!("composioApi={base}")]);
    cmd.args(extra);
    cmd
}

/// Runs the command to the end.
pub fn exec(cmd: &mut Command) -> Out {
    let o = cmd.output().expect("run arazzo");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// The exit code and what went to stdout and stderr.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// stdout as JSON (a report).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n--- stderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// stdout and stderr together.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Everything, for assertion messages.
    pub fn context(&self) -> String {
        format!(
            "exit {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    pub fn assert_code(&self, code: i32) {
        assert_eq!(self.code, code, "exit code\n{}", self.context());
    }

    /// `secret` is on neither stream.
    pub fn assert_no(&self, secret: &str) {
        assert!(
            !self.stdout.contains(secret),
            "`{secret}` on stdout:\n{}",
            self.stdout
        );
        assert!(
            !self.stderr.contains(secret),
            "`{secret}` on stderr:\n{}",
            self.stderr
        );
    }

    pub fn assert_stderr_has(&self, text: &str) {
        assert!(
            self.stderr.contains(text),
            "stderr lacks `{text}`:\n{}",
            self.stderr
        );
    }
}
