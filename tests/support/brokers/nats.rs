//! nats-server (Debian's `nats-server` package), started once per test process as
//! two instances on free ports of 127.0.0.1: `port` lets anyone in, `auth_port`
//! only [`USER`] with [`PASSWORD`], who may publish and subscribe under
//! [`ALLOWED`] and `_INBOX.>` only. Core NATS only (no JetStream). Each runs under
//! the watchdog of [`super::mosquitto::daemon`], so it stops when the test process
//! ends.

use std::sync::OnceLock;

use super::mosquitto::daemon::{self, Daemon};

pub const USER: &str = "nats-tester";
pub const PASSWORD: &str = "nats-secret-91c2";
/// The subjects [`USER`] may use on `auth_port` (besides `_INBOX.>`): `allowed.>`.
pub const ALLOWED: &str = "allowed.";

/// Starting attempts: a free port may be taken between finding and binding it.
const ATTEMPTS: usize = 3;

pub struct NatsServer {
    /// Anonymous instance.
    pub port: u16,
    /// Instance that asks for [`USER`] / [`PASSWORD`].
    pub auth_port: u16,
    open: Daemon,
    auth: Daemon,
}

/// The test process's nats-server instances, started on first use.
pub fn nats() -> &'static NatsServer {
    static SERVER: OnceLock<NatsServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let open = start(None);
        let auth = start(Some(&auth_configuration()));
        NatsServer {
            port: open.0,
            auth_port: auth.0,
            open: open.1,
            auth: auth.1,
        }
    })
}

impl NatsServer {
    /// `nats://127.0.0.1:<port>` (anonymous).
    pub fn url(&self) -> url::Url {
        local_url(self.port)
    }

    /// `nats://127.0.0.1:<auth_port>` (username and password).
    pub fn auth_url(&self) -> url::Url {
        local_url(self.auth_port)
    }

    /// What both instances have logged so far.
    pub fn log(&self) -> String {
        format!(
            "--- open instance ---\n{}--- auth instance ---\n{}",
            self.open.log(),
            self.auth.log()
        )
    }
}

fn local_url(port: u16) -> url::Url {
    url::Url::parse(&format!("nats://127.0.0.1:{port}")).expect("a valid URL")
}

/// The auth instance's users and their permissions.
fn auth_configuration() -> String {
    let subjects = format!("[\"{ALLOWED}>\", \"_INBOX.>\"]");
    format!(
        "authorization {{\n  users = [\n    {{ user: \"{USER}\", password: \"{PASSWORD}\", \
         permissions: {{ publish: {subjects}, subscribe: {subjects} }} }}\n  ]\n}}\n"
    )
}

/// One instance, with a configuration file when `config` is given; its port and
/// process.
fn start(config: Option<&str>) -> (u16, Daemon) {
    let program = daemon::program("nats-server", "nats-server");
    let mut failures = Vec::new();
    for _ in 0..ATTEMPTS {
        let port = daemon::free_ports(1)[0];
        let dir = daemon::temp_dir("arazzo-nats-");
        let mut args: Vec<String> = ["-a", "127.0.0.1", "-p", &port.to_string()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if let Some(text) = config {
            let file = dir.join("nats.conf");
            std::fs::write(&file, text).expect("write nats.conf");
            args.extend(["-c".to_string(), file.display().to_string()]);
        }
        let daemon = Daemon::start("nats-server", &program, &args, &dir);
        match daemon.wait_for_ports(&[port]) {
            Ok(()) => return (port, daemon),
            Err(why) => failures.push(why),
        }
    }
    panic!("nats-server did not start:\n{}", failures.join("\n---\n"))
}
