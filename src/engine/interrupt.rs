//! SIGINT and SIGTERM turned into a stop request that runs can honour.
//!
//! A provisioning run creates real resources, so being killed half-way is the
//! worst way to stop: the ids of what was created would be lost. Instead, the
//! first signal asks every run to stop starting requests, lets a request in
//! flight finish within a grace period, and lets the command write its reports
//! as for a finished run. A second signal exits at once.
//!
//! The signals are watched on a thread of their own, so a second signal is
//! honoured even while the main thread is busy (reading a file, writing a
//! report). Before anything has been sent ([`Stop::arm`] not called yet),
//! there is nothing to save and the first signal exits at once.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// Default grace period for a request in flight when a stop is requested.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// The signals that stop a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    /// The exit code of a process stopped by this signal (128 + its number),
    /// as shells report it.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }
}

struct Inner {
    requested: watch::Sender<Option<Signal>>,
    /// Set once requests may be in flight: from then on a first signal asks
    /// for a graceful stop instead of exiting.
    armed: AtomicBool,
    grace: Duration,
}

/// A shared stop request. Cloning shares it.
#[derive(Clone)]
pub struct Stop {
    inner: Arc<Inner>,
}

impl Default for Stop {
    fn default() -> Self {
        Stop::new(DEFAULT_GRACE)
    }
}

impl std::fmt::Debug for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stop")
            .field("requested", &self.requested())
            .field("grace", &self.inner.grace)
            .finish()
    }
}

impl Stop {
    /// A stop request that only [`Stop::request`] can set (no signals watched).
    pub fn new(grace: Duration) -> Stop {
        Stop {
            inner: Arc::new(Inner {
                requested: watch::channel(None).0,
                armed: AtomicBool::new(false),
                grace,
            }),
        }
    }

    /// Watches SIGINT and SIGTERM for the rest of the process. Falls back to a
    /// stop that no signal sets (and the default signal behaviour) when the
    /// handlers cannot be installed.
    pub fn listen(grace: Duration) -> Stop {
        let stop = Stop::new(grace);
        if let Err(e) = watch_signals(stop.clone()) {
            tracing::warn!("cannot watch SIGINT/SIGTERM ({e}); a signal will stop arazzo at once");
        }
        stop
    }

    /// How long a request in flight may take to finish once a stop is requested.
    pub fn grace(&self) -> Duration {
        self.inner.grace
    }

    /// From now on requests may be in flight: a first signal asks for a
    /// graceful stop rather than exiting.
    pub fn arm(&self) {
        self.inner.armed.store(true, Ordering::SeqCst);
    }

    /// The signal that asked for a stop, if one did.
    pub fn requested(&self) -> Option<Signal> {
        *self.inner.requested.borrow()
    }

    /// Asks for a stop (the first request wins).
    pub fn request(&self, signal: Signal) {
        self.inner.requested.send_if_modified(|s| {
            if s.is_none() {
                *s = Some(signal);
                true
            } else {
                false
            }
        });
    }

    /// Resolves once a stop has been requested.
    pub async fn wait(&self) -> Signal {
        let mut rx = self.inner.requested.subscribe();
        let signal = match rx.wait_for(Option::is_some).await {
            Ok(s) => *s,
            Err(_) => None,
        };
        match signal {
            Some(s) => s,
            // The sender lives as long as `self`, so this cannot happen; never
            // resolve rather than invent a stop.
            None => std::future::pending().await,
        }
    }

    /// What a signal does: the first asks for a stop (or exits when nothing
    /// can be in flight yet), the second exits at once.
    fn on_signal(&self, signal: Signal) {
        if self.requested().is_some() {
            say(&format!(
                "arazzo: {} again: exiting at once (reports not written)",
                signal.name()
            ));
            std::process::exit(signal.exit_code().into());
        }
        if !self.inner.armed.load(Ordering::SeqCst) {
            say(&format!(
                "arazzo: {}: stopped before any request was sent",
                signal.name()
            ));
            std::process::exit(signal.exit_code().into());
        }
        say(&format!(
            "arazzo: {}: no new requests; a request in flight has {} to finish, then the reports are written (signal again to exit at once)",
            signal.name(),
            describe(self.inner.grace)
        ));
        self.request(signal);
    }
}

/// "5 s", "500 ms".
pub fn describe(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// A line on stderr, on a line of its own when stderr is a terminal (a
/// progress line may be showing).
fn say(text: &str) {
    let mut err = std::io::stderr().lock();
    let clear = if std::io::stderr().is_terminal() {
        "\r\x1b[2K"
    } else {
        ""
    };
    let _ = writeln!(err, "{clear}{text}");
    let _ = err.flush();
}

/// Installs the handlers now (so no signal is missed once this returns) and
/// waits for signals on a thread of its own.
#[cfg(unix)]
fn watch_signals(stop: Stop) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let (mut int, mut term) = {
        let _guard = rt.enter();
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        )
    };
    std::thread::Builder::new()
        .name("arazzo-signals".into())
        .spawn(move || {
            rt.block_on(async move {
                loop {
                    let signal = tokio::select! {
                        _ = int.recv() => Signal::Interrupt,
                        _ = term.recv() => Signal::Terminate,
                    };
                    stop.on_signal(signal);
                }
            })
        })?;
    Ok(())
}

#[cfg(not(unix))]
fn watch_signals(stop: Stop) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("arazzo-signals".into())
        .spawn(move || {
            rt.block_on(async move {
                while tokio::signal::ctrl_c().await.is_ok() {
                    stop.on_signal(Signal::Interrupt);
                }
            })
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_request_wins_and_wakes_waiters() {
        let stop = Stop::new(Duration::from_millis(10));
        assert_eq!(stop.requested(), None);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let waiter = stop.clone();
        let got = rt.block_on(async move {
            let wait = tokio::spawn(async move { waiter.wait().await });
            tokio::task::yield_now().await;
            stop.request(Signal::Terminate);
            stop.request(Signal::Interrupt);
            let got = wait.await.unwrap();
            assert_eq!(stop.requested(), Some(Signal::Terminate));
            // A wait that starts after the request resolves at once.
            (got, stop.wait().await)
        });
        assert_eq!(got, (Signal::Terminate, Signal::Terminate));
    }

    #[test]
    fn exit_codes_are_128_plus_the_signal() {
        assert_eq!(Signal::Interrupt.exit_code(), 130);
        assert_eq!(Signal::Terminate.exit_code(), 143);
        assert_eq!(describe(Duration::from_millis(250)), "250 ms");
        assert_eq!(describe(Duration::from_secs(5)), "5 s");
    }
}
