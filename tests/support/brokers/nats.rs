//! nats-server (Debian's `nats-server` package), started once per test process as
//! three instances on free ports of 127.0.0.1: `port` lets anyone in, `auth_port`
//! only [`USER`] with [`PASSWORD`], who may publish and subscribe under
//! [`ALLOWED`] and `_INBOX.>` only, and `tls_port` requires TLS, with a
//! certificate of a throwaway test CA (which nothing trusts unless told). Core
//! NATS only (no JetStream). Each runs under
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
    /// Instance that requires TLS.
    pub tls_port: u16,
    /// The PEM file of the CA that signed the TLS instance's certificate.
    pub ca: std::path::PathBuf,
    open: Daemon,
    auth: Daemon,
    tls: Daemon,
}

/// The test process's nats-server instances, started on first use.
pub fn nats() -> &'static NatsServer {
    static SERVER: OnceLock<NatsServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let open = start(&[], None);
        let auth = start(&[], Some(&auth_configuration()));
        let tls = start(
            &[
                "--tls",
                "--tlscert",
                "server.pem",
                "--tlskey",
                "server-key.pem",
            ],
            None,
        );
        NatsServer {
            port: open.0,
            auth_port: auth.0,
            tls_port: tls.0,
            ca: tls.2,
            open: open.1,
            auth: auth.1,
            tls: tls.1,
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

    /// `tls://127.0.0.1:<tls_port>`.
    pub fn tls_url(&self) -> url::Url {
        url::Url::parse(&format!("tls://127.0.0.1:{}", self.tls_port)).expect("a valid URL")
    }

    /// What the instances have logged so far.
    pub fn log(&self) -> String {
        format!(
            "--- open instance ---\n{}--- auth instance ---\n{}--- TLS instance ---\n{}",
            self.open.log(),
            self.auth.log(),
            self.tls.log()
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

/// One instance with `extra` arguments (run in its directory, which holds a test
/// CA's `server.pem` and `server-key.pem`), and a configuration file when
/// `config` is given; its port, process and CA certificate.
fn start(extra: &[&str], config: Option<&str>) -> (u16, Daemon, std::path::PathBuf) {
    let program = daemon::program("nats-server", "nats-server");
    let mut failures = Vec::new();
    for _ in 0..ATTEMPTS {
        let port = daemon::free_ports(1)[0];
        let dir = daemon::temp_dir("arazzo-nats-");
        let mut args: Vec<String> = ["-a", "127.0.0.1", "-p", &port.to_string()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        super::super::test_ca::TestCa::generate(&dir);
        args.extend(extra.iter().map(|s| s.to_string()));
        if let Some(text) = config {
            let file = dir.join("nats.conf");
            std::fs::write(&file, text).expect("write nats.conf");
            args.extend(["-c".to_string(), file.display().to_string()]);
        }
        let daemon = Daemon::start("nats-server", &program, &args, &dir);
        match daemon.wait_for_ports(&[port]) {
            Ok(()) => return (port, daemon, dir.join("ca.pem")),
            Err(why) => failures.push(why),
        }
    }
    panic!("nats-server did not start:\n{}", failures.join("\n---\n"))
}
