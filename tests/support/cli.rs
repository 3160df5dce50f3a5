//! Running the `arazzo` binary the way a user does, and what it printed.

use assert_cmd::Command;
use serde_json::Value;

/// `arazzo` in the crate root, with none of the caller's `ARAZZO_*`,
/// `NO_COLOR`, `RUST_LOG` or `SSL_CERT_*` variables inherited.
pub fn arazzo() -> Command {
    let mut cmd = Command::cargo_bin("arazzo").expect("the arazzo binary is built");
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

/// `arazzo run provision-mcp-server` as a user types it, against the Composio
/// stand-in at `base`, with `key` in `ARAZZO_INPUT_API_KEY`, then `extra`.
pub fn provision(base: &str, key: &str, extra: &[&str]) -> Command {
    let mut cmd = arazzo();
    cmd.env("ARAZZO_INPUT_API_KEY", key).args([
        "run",
        "provision-mcp-server",
        "-i",
        "toolkitSlug=linear",
        "-i",
        "authType=use_composio_managed_auth",
        "-i",
        "serverName=Linear Bot",
        "-i",
        "userId=alice",
        "--server",
        &format!("composioApi={base}"),
    ]);
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
