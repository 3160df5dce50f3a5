//! Mosquitto (Debian's `mosquitto` package, which also has `mosquitto_passwd`),
//! started once per test process with three listeners on free ports of 127.0.0.1:
//! `port` lets anyone in, `auth_port` only [`USER`] with [`PASSWORD`], who may
//! use the topics under [`ALLOWED`] and no others (an ACL), and `tls_port` lets
//! anyone in over TLS with a certificate of a throwaway test CA (which nothing
//! trusts unless told). All speak MQTT 5 and 3.1.1. No persistence; the
//! configuration and certificates live in a temporary
//! directory removed when the broker stops (when the test process ends, see
//! [`daemon`]).

#[path = "daemon.rs"]
pub mod daemon;

use std::sync::OnceLock;

use daemon::Daemon;

pub const USER: &str = "mqtt-tester";
pub const PASSWORD: &str = "mqtt-secret-7f3a";
/// The topics [`USER`] may publish and subscribe to on `auth_port`: `allowed/#`.
pub const ALLOWED: &str = "allowed/";
/// The topics explicitly denied to [`USER`]: `denied/#`.
pub const DENIED: &str = "denied/";

/// Starting attempts: a free port may be taken between finding and binding it.
const ATTEMPTS: usize = 3;

pub struct Mosquitto {
    /// Anonymous listener.
    pub port: u16,
    /// Listener that asks for [`USER`] / [`PASSWORD`].
    pub auth_port: u16,
    /// TLS listener (`server.pem` of a `test_ca::TestCa`, for 127.0.0.1).
    pub tls_port: u16,
    /// The PEM file of the CA that signed the TLS listener's certificate.
    pub ca: std::path::PathBuf,
    daemon: Daemon,
}

/// The test process's Mosquitto, started on first use.
pub fn mosquitto() -> &'static Mosquitto {
    static BROKER: OnceLock<Mosquitto> = OnceLock::new();
    BROKER.get_or_init(start)
}

impl Mosquitto {
    /// `mqtt://127.0.0.1:<port>` (anonymous).
    pub fn url(&self) -> url::Url {
        local_url(self.port)
    }

    /// `mqtt://127.0.0.1:<auth_port>` (username and password).
    pub fn auth_url(&self) -> url::Url {
        local_url(self.auth_port)
    }

    /// `mqtts://127.0.0.1:<tls_port>`.
    pub fn tls_url(&self) -> url::Url {
        url::Url::parse(&format!("mqtts://127.0.0.1:{}", self.tls_port)).expect("a valid URL")
    }

    /// What Mosquitto has logged so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }
}

fn local_url(port: u16) -> url::Url {
    url::Url::parse(&format!("mqtt://127.0.0.1:{port}")).expect("a valid URL")
}

fn start() -> Mosquitto {
    let program = daemon::program("mosquitto", "mosquitto");
    let passwd = daemon::program("mosquitto_passwd", "mosquitto");
    let mut failures = Vec::new();
    for _ in 0..ATTEMPTS {
        let ports = daemon::free_ports(3);
        let dir = daemon::temp_dir("arazzo-mosquitto-");
        let password_file = dir.join("passwd");
        let made = std::process::Command::new(&passwd)
            .arg("-c")
            .arg("-b")
            .arg(&password_file)
            .args([USER, PASSWORD])
            .output()
            .expect("run mosquitto_passwd");
        assert!(
            made.status.success(),
            "mosquitto_passwd failed: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let acl_file = dir.join("acl");
        let acl = format!("user {USER}\ntopic readwrite {ALLOWED}#\ntopic deny {DENIED}#\n");
        std::fs::write(&acl_file, acl).expect("write the ACL file");
        super::super::test_ca::TestCa::generate(&dir);
        let config = dir.join("mosquitto.conf");
        std::fs::write(&config, configuration(&ports, &dir)).expect("write mosquitto.conf");
        let args = vec!["-c".to_string(), config.display().to_string()];
        let daemon = Daemon::start("mosquitto", &program, &args, &dir);
        match daemon.wait_for_ports(&ports) {
            Ok(()) => {
                return Mosquitto {
                    port: ports[0],
                    auth_port: ports[1],
                    tls_port: ports[2],
                    ca: dir.join("ca.pem"),
                    daemon,
                }
            }
            Err(why) => failures.push(why),
        }
    }
    panic!("Mosquitto did not start:\n{}", failures.join("\n---\n"))
}

/// Three listeners with their own settings; `user root` keeps Mosquitto, when
/// started as root, from switching to the `mosquitto` user, who could not read the
/// temporary directory (it is ignored when not root).
fn configuration(ports: &[u16], dir: &std::path::Path) -> String {
    format!(
        "per_listener_settings true\n\
         persistence false\n\
         set_tcp_nodelay true\n\
         user root\n\
         log_dest stderr\n\
         log_type error\n\
         log_type warning\n\
         log_type notice\n\
         log_type information\n\
         connection_messages true\n\
         \n\
         listener {} 127.0.0.1\n\
         allow_anonymous true\n\
         \n\
         listener {} 127.0.0.1\n\
         allow_anonymous false\n\
         password_file {dir}/passwd\n\
         acl_file {dir}/acl\n\
         \n\
         listener {} 127.0.0.1\n\
         allow_anonymous true\n\
         certfile {dir}/server.pem\n\
         keyfile {dir}/server-key.pem\n",
        ports[0],
        ports[1],
        ports[2],
        dir = dir.display()
    )
}
