//! Message steps (Arazzo 1.1): an attempt that publishes a message on a channel,
//! or waits for one. The broker connections of a run, and the subscriptions it opens
//! ahead of the receive steps that will read them, live here.
//!
//! When a receive subscribes: before each step of a workflow starts (the first one
//! included), every receive step of that workflow not subscribed yet whose channel
//! address and broker can be worked out from what is known at that moment is
//! subscribed. So a receive whose address uses only inputs is listening before the
//! workflow's first step, and one whose address uses a step's output from the moment
//! the step after that one starts. Messages arriving from then on are kept (up to
//! [`Subscription::CAPACITY`]) until a receive takes them. A subscription stays open
//! for the rest of the run, so a receive that runs again (a retry, a loop) reads
//! what arrived in between.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::ops::ControlFlow;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Attempt, Frame, Runner, StepOutputs};
use crate::broker::{
    self, Bindings, Connection, Credentials, Endpoint, InMessage, OutMessage, Protocol,
    Subscription,
};
use crate::compile::{CompiledStep, MessageAction, MessageCall, StepTarget};
use crate::engine::outcome::{ErrorKind, RunError};
use crate::expr::{stringify, Resolve};

/// Most messages a receive sets aside because their correlation id was not the one
/// awaited (a later receive on the channel may want them).
const MAX_SET_ASIDE: usize = 1024;

/// A message a step sent or received, as expressions read it (`$message.…`) and
/// reports show it.
#[derive(Debug, Clone)]
pub struct Message {
    pub action: MessageAction,
    /// The broker and channel: `mqtt://host:1883/orders/42`.
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// The payload as JSON when it is JSON, else as text.
    pub payload: Value,
    /// Why the payload could not be read (not UTF-8).
    pub payload_error: Option<String>,
    /// The payload's size in bytes.
    pub size: usize,
}

/// Where a message step's channel is: the broker endpoint and the address.
struct Channel {
    endpoint: Endpoint,
    bindings: Bindings,
    address: String,
    /// Identifies the subscription: source, broker URL and address.
    key: String,
}

/// A subscription opened ahead of its receive step, with the messages it set aside.
struct Waiting {
    key: String,
    subscription: Subscription,
    set_aside: VecDeque<InMessage>,
}

/// The broker connections and early subscriptions of one run.
#[derive(Default)]
pub(super) struct Messaging {
    connections: RefCell<HashMap<String, Rc<Connection>>>,
    /// By (workflow index, step index).
    waiting: RefCell<HashMap<(usize, usize), Waiting>>,
    /// Receive steps whose early subscription failed: tried again only by the step.
    failed_early: RefCell<Vec<(usize, usize)>>,
    /// Why a connection failed while subscribing ahead, by connection key: the next
    /// use fails with it at once.
    failed_connections: RefCell<HashMap<String, (ErrorKind, String)>>,
    clients: Cell<u32>,
}

impl Messaging {
    /// Closes every connection (at the end of the run).
    pub(super) async fn close(&self) {
        self.waiting.borrow_mut().clear();
        let all: Vec<Rc<Connection>> = self
            .connections
            .borrow_mut()
            .drain()
            .map(|(_, c)| c)
            .collect();
        for c in all {
            c.close().await;
        }
    }
}

impl<'a, 'e> Runner<'a, 'e> {
    /// Subscribes the receive steps of the frame's workflow that can be subscribed
    /// now (see the module's doc). Failures are left for the step to report.
    pub(super) async fn subscribe_ahead(&self, frame: Frame<'_>, step_outputs: &StepOutputs) {
        let wf = &self.program.workflows[frame.index];
        for (i, step) in wf.steps.iter().enumerate() {
            let StepTarget::Message(call) = &step.target else {
                continue;
            };
            let key = (frame.index, i);
            if call.action != MessageAction::Receive
                || self.messaging.waiting.borrow().contains_key(&key)
                || self.messaging.failed_early.borrow().contains(&key)
            {
                continue;
            }
            let Ok(channel) = self.channel(frame, call, step_outputs) else {
                continue;
            };
            if self.opts.stop.requested().is_some() {
                return;
            }
            match self.open_subscription(&channel).await {
                Ok(subscription) => {
                    tracing::debug!(step = %step.step_id, address = %channel.address, "subscribed ahead of the step");
                    self.messaging.waiting.borrow_mut().insert(
                        key,
                        Waiting {
                            key: channel.key,
                            subscription,
                            set_aside: VecDeque::new(),
                        },
                    );
                }
                Err((kind, m)) => {
                    self.messaging.failed_early.borrow_mut().push(key);
                    if kind != ErrorKind::Interrupted {
                        let conn = connection_key(&channel);
                        if !self.messaging.connections.borrow().contains_key(&conn) {
                            self.messaging
                                .failed_connections
                                .borrow_mut()
                                .insert(conn, (kind, m));
                        }
                    }
                }
            }
        }
    }

    /// An attempt at a message step: publish, or wait for the awaited message.
    pub(super) async fn call_message(
        &self,
        frame: Frame<'_>,
        step: &CompiledStep,
        call: &MessageCall,
        step_outputs: &StepOutputs,
        attempt: &mut Attempt,
    ) -> ControlFlow<()> {
        let channel = match self.channel(frame, call, step_outputs) {
            Ok(c) => c,
            Err(m) => {
                attempt.error = Some(step_error(step, ErrorKind::Request, m));
                return ControlFlow::Continue(());
            }
        };
        attempt.report.url = channel_url(&channel);
        let started = Instant::now();
        let result = match call.action {
            MessageAction::Send => self.send_message(frame, call, &channel, step_outputs).await,
            MessageAction::Receive => {
                self.receive_message(frame, step, call, &channel, step_outputs)
                    .await
            }
        };
        let flow = match result {
            Ok(message) => {
                attempt.message = Some(message);
                ControlFlow::Continue(())
            }
            Err((kind, m)) => {
                let interrupted = kind == ErrorKind::Interrupted;
                if interrupted && call.action == MessageAction::Send {
                    attempt.report.status = crate::engine::outcome::Status::Uncertain;
                }
                attempt.error = Some(match self.opts.stop.requested() {
                    Some(signal) if interrupted => {
                        self.interrupted_error(&step.step_id, signal, &m)
                    }
                    _ => step_error(step, kind, m),
                });
                if interrupted {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            }
        };
        self.report_message(frame.index, attempt, &channel, started);
        flow
    }

    /// Publishes the step's message.
    async fn send_message(
        &self,
        frame: Frame<'_>,
        call: &MessageCall,
        channel: &Channel,
        step_outputs: &StepOutputs,
    ) -> Result<Message, (ErrorKind, String)> {
        let (out, message) = {
            let ctx = self.ctx(frame.inputs, step_outputs, frame.index, None);
            build_message(call, &ctx, channel).map_err(|m| (ErrorKind::Request, m))?
        };
        let connection = self.connection(channel).await?;
        let limit = self.wait_limit(frame);
        let publish = connection.publish(&channel.address, &channel.bindings, &out);
        tokio::pin!(publish);
        let waited = match self.until(limit, &mut publish).await {
            // A stop while the broker is taking the message: it has the grace period
            // to finish, like an HTTP request in flight.
            Waited::Stopped(s) => {
                match tokio::time::timeout(self.opts.stop.grace(), &mut publish).await {
                    Ok(r) => Waited::Done(r),
                    Err(_) => Waited::Stopped(s),
                }
            }
            other => other,
        };
        match waited {
            Waited::Done(Ok(())) => Ok(message),
            Waited::Done(Err(e)) => Err((ErrorKind::Transport, e.0)),
            Waited::TimedOut => Err((
                ErrorKind::Timeout,
                format!(
                    "{} did not take the message within {:.1} s ({})",
                    broker::shown(&channel.endpoint.url),
                    limit.0.as_secs_f64(),
                    limit.1
                ),
            )),
            Waited::Stopped(_) => Err((
                ErrorKind::Interrupted,
                format!(
                    "while the broker was taking the message (the grace period of {} passed); it may have been published",
                    crate::engine::interrupt::describe(self.opts.stop.grace())
                ),
            )),
        }
    }

    /// Waits for the first message on the channel whose correlation id is the awaited
    /// one (any message when the step gives none), within the step's `timeout` (else
    /// `--timeout`).
    async fn receive_message(
        &self,
        frame: Frame<'_>,
        step: &CompiledStep,
        call: &MessageCall,
        channel: &Channel,
        step_outputs: &StepOutputs,
    ) -> Result<Message, (ErrorKind, String)> {
        let expected = match &call.correlation_id {
            None => None,
            Some(v) => {
                let ctx = self.ctx(frame.inputs, step_outputs, frame.index, None);
                let value = v.eval_required(&ctx).map_err(|why| {
                    (
                        ErrorKind::Request,
                        format!("the correlationId cannot be worked out: {why}"),
                    )
                })?;
                Some(stringify(value.as_ref()))
            }
        };
        let key = (frame.index, frame_step_index(frame, step, self.program));
        // Taken out of its cell first: no borrow may be held across the await below.
        let kept = self.messaging.waiting.borrow_mut().remove(&key);
        let mut waiting = match kept {
            Some(w) if w.key == channel.key => w,
            _ => Waiting {
                key: channel.key.clone(),
                subscription: self.open_subscription(channel).await?,
                set_aside: VecDeque::new(),
            },
        };
        let limit = self.wait_limit(frame);
        let found = self
            .await_match(&mut waiting, call, expected.as_deref(), limit)
            .await;
        let dropped = waiting.subscription.dropped();
        if let Waited::Done(None) = found {
            // The connection is gone: the next attempt connects again.
            self.forget_connection(channel);
            return Err((
                ErrorKind::Transport,
                format!(
                    "the connection to {} was lost while waiting for a message on `{}`",
                    broker::shown(&channel.endpoint.url),
                    channel.address
                ),
            ));
        }
        self.messaging.waiting.borrow_mut().insert(key, waiting);
        match found {
            Waited::Done(m) => Ok(received(m.unwrap_or_default(), channel)),
            Waited::TimedOut => {
                let what = match &expected {
                    Some(id) => format!("no message with correlation id `{id}`"),
                    None => "no message".to_string(),
                };
                let lost = if dropped > 0 {
                    format!(" ({dropped} messages were dropped: the buffer was full or they were over --max-response-size)")
                } else {
                    String::new()
                };
                Err((
                    ErrorKind::Timeout,
                    format!(
                        "{what} arrived on `{}` at {} within {:.1} s ({}){lost}",
                        channel.address,
                        broker::shown(&channel.endpoint.url),
                        limit.0.as_secs_f64(),
                        limit.1
                    ),
                ))
            }
            Waited::Stopped(_) => Err((
                ErrorKind::Interrupted,
                format!("while waiting for a message on `{}`", channel.address),
            )),
        }
    }

    /// The first message that matches, from those set aside earlier, then from the
    /// subscription as they arrive.
    async fn await_match(
        &self,
        waiting: &mut Waiting,
        call: &MessageCall,
        expected: Option<&str>,
        limit: (Duration, &'static str),
    ) -> Waited<Option<InMessage>> {
        if let Some(i) = waiting
            .set_aside
            .iter()
            .position(|m| matches(m, call, expected))
        {
            if let Some(m) = waiting.set_aside.remove(i) {
                return Waited::Done(Some(m));
            }
        }
        let set_aside = &mut waiting.set_aside;
        let subscription = &mut waiting.subscription;
        let next = async {
            loop {
                // `None`: the delivery ended (the connection closed): nothing more comes.
                let m = subscription.recv().await?;
                if matches(&m, call, expected) {
                    return Some(m);
                }
                tracing::debug!(address = %m.address, "a message with another correlation id was set aside");
                set_aside.push_back(m);
                let mut bytes: usize = set_aside.iter().map(|m| m.payload.len()).sum();
                while set_aside.len() > MAX_SET_ASIDE || bytes > Subscription::MAX_BYTES {
                    let Some(old) = set_aside.pop_front() else {
                        break;
                    };
                    bytes -= old.payload.len();
                }
            }
        };
        match self.until(limit, next).await {
            Waited::Done(Some(m)) => Waited::Done(Some(m)),
            Waited::Done(None) => Waited::Done(None),
            Waited::TimedOut => Waited::TimedOut,
            Waited::Stopped(s) => Waited::Stopped(s),
        }
    }

    /// Runs `fut` until it ends, `limit` passes, or a stop is requested.
    async fn until<T>(
        &self,
        limit: (Duration, &'static str),
        fut: impl std::future::Future<Output = T>,
    ) -> Waited<T> {
        tokio::select! {
            biased;
            r = fut => Waited::Done(r),
            _ = tokio::time::sleep(limit.0) => Waited::TimedOut,
            s = self.opts.stop.wait() => Waited::Stopped(s),
        }
    }

    /// How long a message step may wait, and which limit that is: the step's
    /// `timeout`, `--max-duration`, or `--timeout`, whichever ends first.
    fn wait_limit(&self, frame: Frame<'_>) -> (Duration, &'static str) {
        let mut limit = match frame.limit {
            Some(l) => (l.left(), "the step's timeout"),
            None => (self.opts.message_timeout, "--timeout"),
        };
        if let Some(left) = self.remaining().filter(|r| *r < limit.0) {
            limit = (left, "--max-duration");
        }
        limit
    }

    /// The connection to the channel's broker, made on first use, within the
    /// channel's connection limit, and given up at once on a stop. A connection that
    /// failed while subscribing ahead fails the next use at once (with that failure)
    /// rather than waiting for a silent broker twice; the use after that tries again.
    async fn connection(&self, channel: &Channel) -> Result<Rc<Connection>, (ErrorKind, String)> {
        let key = connection_key(channel);
        if let Some(c) = self.messaging.connections.borrow().get(&key) {
            return Ok(Rc::clone(c));
        }
        let failed = self.messaging.failed_connections.borrow_mut().remove(&key);
        if let Some(failure) = failed {
            return Err(failure);
        }
        let connecting = Connection::connect(&channel.endpoint);
        let made = tokio::select! {
            biased;
            r = connecting => Rc::new(r.map_err(|e| self.connect_error(channel, e.0))?),
            _ = self.opts.stop.wait() => {
                return Err((
                    ErrorKind::Interrupted,
                    format!("while connecting to {}", broker::shown(&channel.endpoint.url)),
                ))
            }
        };
        let mut all = self.messaging.connections.borrow_mut();
        Ok(Rc::clone(all.entry(key).or_insert(made)))
    }

    /// A failed connection as the step reports it: `kind: timeout` when it was
    /// `--max-duration` that cut the wait short.
    fn connect_error(&self, channel: &Channel, message: String) -> (ErrorKind, String) {
        if self
            .remaining()
            .is_some_and(|r| r < Duration::from_millis(100))
        {
            let max = self.opts.max_duration.unwrap_or_default().as_secs_f64();
            return (
                ErrorKind::Timeout,
                format!(
                    "the run reached --max-duration ({max:.1} s) while connecting to {}",
                    broker::shown(&channel.endpoint.url)
                ),
            );
        }
        (ErrorKind::Transport, message)
    }

    /// Forgets a connection that closed, and the subscriptions it fed.
    fn forget_connection(&self, channel: &Channel) {
        let key = connection_key(channel);
        self.messaging.connections.borrow_mut().remove(&key);
        self.messaging
            .waiting
            .borrow_mut()
            .retain(|_, w| !w.key.starts_with(&format!("{key}|")));
    }

    async fn open_subscription(
        &self,
        channel: &Channel,
    ) -> Result<Subscription, (ErrorKind, String)> {
        let connection = self.connection(channel).await?;
        let subscribing = connection.subscribe(&channel.address, &channel.bindings);
        let limit = (channel.endpoint.connect_timeout, "--timeout");
        match self.until(limit, subscribing).await {
            Waited::Done(r) => r.map_err(|e| (ErrorKind::Transport, e.0)),
            Waited::TimedOut => Err((
                ErrorKind::Timeout,
                format!(
                    "{} did not confirm the subscription to `{}` within {:.1} s",
                    broker::shown(&channel.endpoint.url),
                    channel.address,
                    limit.0.as_secs_f64()
                ),
            )),
            Waited::Stopped(_) => Err((
                ErrorKind::Interrupted,
                format!("while subscribing to `{}`", channel.address),
            )),
        }
    }

    /// The broker and address of a message step, from what is known now.
    fn channel(
        &self,
        frame: Frame<'_>,
        call: &MessageCall,
        step_outputs: &StepOutputs,
    ) -> Result<Channel, String> {
        let ctx = self.ctx(frame.inputs, step_outputs, frame.index, None);
        let mut endpoint = self.endpoint(call)?;
        let address = fill_address(call, &ctx, Some(endpoint.protocol))?;
        // Connecting is bounded like the step's wait: its timeout, --max-duration,
        // --timeout, whichever ends first.
        endpoint.connect_timeout = self.wait_limit(frame).0;
        let bindings = bindings_for(call, endpoint.protocol);
        let key = format!("{}|{}|{address}", call.source, endpoint.url);
        Ok(Channel {
            endpoint,
            bindings,
            address,
            key,
        })
    }

    /// The broker of the step's source (see [`select_server`]), with its credentials.
    fn endpoint(&self, call: &MessageCall) -> Result<Endpoint, String> {
        let (url, version, security) = select_server(call, self.opts)?;
        let (protocol, tls) = Protocol::from_name(url.scheme()).ok_or_else(|| {
            format!(
                "source `{}`: `{}` is not a protocol message steps speak ({}); pass --server {}=URL",
                call.source,
                url.scheme(),
                broker::SUPPORTED,
                call.source
            )
        })?;
        let mut url = url;
        if url.port().is_none() {
            let _ = url.set_port(Some(protocol.default_port(tls)));
        }
        let credentials = self.broker_credentials(call, &url, &security);
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let n = self.messaging.clients.get() + 1;
        self.messaging.clients.set(n);
        Ok(Endpoint {
            protocol,
            url,
            tls,
            protocol_version: version,
            credentials,
            connect_timeout: self.opts.message_timeout,
            client_id: format!("arazzo-{}-{n}", std::process::id()),
            max_message_bytes: self.opts.max_response_bytes,
        })
    }

    /// The credentials for the broker: a user and password in the `--server` URL, or
    /// those supplied for one of the server's security schemes (any scheme of the
    /// source when the server names none).
    fn broker_credentials(
        &self,
        call: &MessageCall,
        url: &url::Url,
        security: &[String],
    ) -> Credentials {
        let mut creds = Credentials::default();
        if !url.username().is_empty() {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            creds.username = Some(decode(url.username()));
            creds.password = url.password().map(decode);
            return creds;
        }
        let supplied = &self.opts.auth.credentials;
        let schemes: Vec<String> = if security.is_empty() {
            call.api.security_scheme_names()
        } else {
            security.to_vec()
        };
        for name in schemes {
            let Some(fields) = supplied.fields(&call.source, &name) else {
                continue;
            };
            let get = |f: &str| fields.get(f).map(|s| s.value.clone());
            creds.username = creds.username.or(get("username"));
            creds.password = creds.password.or(get("password"));
            creds.client_cert = creds.client_cert.or(get("clientCert").map(Into::into));
            creds.client_key = creds.client_key.or(get("clientKey").map(Into::into));
            if creds.sasl_mechanism.is_none() {
                creds.sasl_mechanism = call
                    .api
                    .security_scheme(&name)
                    .and_then(|s| s.get("type"))
                    .and_then(Value::as_str)
                    .and_then(sasl_mechanism);
            }
        }
        creds
    }

    /// Tells the live displays and traces about the message sent or received.
    fn report_message(
        &self,
        wf_index: usize,
        attempt: &Attempt,
        channel: &Channel,
        started: Instant,
    ) {
        (self.on_event.borrow_mut())(super::Event::Message {
            workflow_id: &self.program.workflows[wf_index].workflow_id,
            step_id: &attempt.report.step_id,
            attempt: attempt.report.attempts,
            url: &channel_url(channel),
            message: attempt.message.as_ref(),
            error: attempt.error.as_ref().map(|e| e.message.as_str()),
            started_ms: started.duration_since(self.started).as_millis() as u64,
            duration_ms: started.elapsed().as_millis() as u64,
        });
    }
}

/// The broker of a message step's source: `--server SOURCE=URL` when given (with the
/// `protocolVersion` of a server of the same protocol), else the first of the
/// channel's servers in a protocol message steps speak. The URL, the protocol version
/// and the names of the security schemes the server asks for.
pub(crate) fn select_server(
    call: &MessageCall,
    opts: &super::RunOptions,
) -> Result<(url::Url, Option<String>, Vec<String>), String> {
    if let Some(u) = opts.servers.get(&call.source) {
        let same = |p: &str| Protocol::from_name(p).map(|p| p.0);
        let version = call
            .op
            .servers
            .iter()
            .find(|s| same(&s.protocol).is_some() && same(&s.protocol) == same(u.scheme()))
            .and_then(|s| s.protocol_version.clone());
        return Ok((u.clone(), version, Vec::new()));
    }
    let server = call
        .op
        .servers
        .iter()
        .find(|s| Protocol::from_name(&s.protocol).is_some() && s.url.is_ok())
        .ok_or_else(|| no_server(call))?;
    let text = server.url.clone().map_err(|e| e.0)?;
    let url = url::Url::parse(&text).map_err(|e| {
        format!(
            "the server `{}` of source `{}` has the URL `{text}`, which does not parse ({e}); pass --server {}=URL",
            server.name, call.source, call.source
        )
    })?;
    Ok((
        url,
        server.protocol_version.clone(),
        server.security.clone(),
    ))
}

/// The broker and channel of a message step as reports show it, from the broker URL
/// and the filled address.
pub(crate) fn shown_channel(url: &url::Url, address: &str) -> String {
    let base = broker::shown(url);
    if Protocol::from_name(url.scheme()).map(|p| p.0) == Some(Protocol::Ws) {
        return broker::socket_url(url, address)
            .map(|u| broker::shown(&u))
            .unwrap_or(base);
    }
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        address.trim_start_matches('/')
    )
}

enum Waited<T> {
    Done(T),
    TimedOut,
    Stopped(crate::engine::interrupt::Signal),
}

/// The connections of a run are one per source and broker URL.
fn connection_key(channel: &Channel) -> String {
    format!(
        "{}|{}",
        channel.key.split('|').next().unwrap_or(""),
        channel.endpoint.url
    )
}

/// The index of `step` in the frame's workflow.
fn frame_step_index(
    frame: Frame<'_>,
    step: &CompiledStep,
    program: &crate::compile::Program,
) -> usize {
    program.workflows[frame.index]
        .steps
        .iter()
        .position(|s| std::ptr::eq(s, step))
        .unwrap_or(usize::MAX)
}

fn step_error(step: &CompiledStep, kind: ErrorKind, message: String) -> RunError {
    RunError {
        step_id: Some(step.step_id.clone()),
        kind,
        message,
    }
}

fn no_server(call: &MessageCall) -> String {
    let listed: Vec<String> = call
        .op
        .servers
        .iter()
        .map(|s| format!("`{}` ({})", s.name, s.protocol))
        .collect();
    let why = match (
        listed.is_empty(),
        call.op.servers.iter().find_map(|s| s.url.as_ref().err()),
    ) {
        (true, _) => "declares no servers".to_string(),
        (false, Some(e)) => format!("has no usable server: {}", e.0),
        (false, None) => format!(
            "has no server in a protocol message steps speak ({}; they speak {})",
            listed.join(", "),
            broker::SUPPORTED
        ),
    };
    format!(
        "the channel of source `{}` {why}; pass --server {}=<scheme>://host:port",
        call.source, call.source
    )
}

/// The AsyncAPI security scheme types that name a SASL mechanism (Kafka).
fn sasl_mechanism(kind: &str) -> Option<String> {
    Some(
        match kind {
            "plain" => "PLAIN",
            "scramSha256" => "SCRAM-SHA-256",
            "scramSha512" => "SCRAM-SHA-512",
            _ => return None,
        }
        .to_string(),
    )
}

/// The channel address with its placeholders filled from the step's `in: path`
/// parameters. A value is one value: where the protocol would read a wildcard or a
/// level separator in it (`+`/`#` in MQTT, `*`/`>` or a space in NATS), it is
/// refused rather than made into a filter that takes other channels' messages.
pub(crate) fn fill_address(
    call: &MessageCall,
    ctx: &dyn Resolve,
    protocol: Option<Protocol>,
) -> Result<String, String> {
    let mut address = call.op.channel.address.clone().unwrap_or_default();
    for (name, value) in &call.address_params {
        let v = value
            .eval_required(ctx)
            .map_err(|why| format!("channel parameter `{name}` cannot be built: {why}"))?
            .ok_or_else(|| format!("channel parameter `{name}` has no value"))?;
        let text = stringify(Some(&v));
        let special: &[char] = match protocol {
            Some(Protocol::Mqtt) => &['+', '#', '\0'],
            Some(Protocol::Nats) => &['*', '>', ' ', '\t', '\r', '\n'],
            _ => &[],
        };
        if let Some(c) = text.chars().find(|c| special.contains(c)) {
            return Err(format!(
                "channel parameter `{name}` is `{}`, which holds `{}`: in this protocol's channel addresses that is a wildcard or a separator, so the value would name other channels too",
                text.escape_debug(),
                c.escape_debug()
            ));
        }
        address = address.replace(&format!("{{{name}}}"), &text);
    }
    Ok(address)
}

/// The protocol's bindings of the channel, operation and (first) message.
fn bindings_for(call: &MessageCall, protocol: Protocol) -> Bindings {
    let key = protocol.binding_key();
    let pick = |b: &Option<Value>| b.as_ref().and_then(|b| b.get(key)).cloned();
    Bindings {
        channel: pick(&call.op.channel.bindings),
        operation: pick(&call.op.operation_bindings),
        message: call.op.messages.iter().find_map(|m| pick(&m.bindings)),
    }
}

/// `mqtt://host:1883/orders/42`: the broker and the channel address, for reports.
fn channel_url(channel: &Channel) -> String {
    shown_channel(&channel.endpoint.url, &channel.address)
}

/// What a send step publishes: headers from its `in: header` parameters, and the
/// payload from its `requestBody` (as a value, as bytes, and its content type).
pub(crate) type Parts = (Vec<(String, String)>, Value, Vec<u8>, Option<String>);

/// The parts of the message a send step publishes, from what `ctx` knows.
pub(crate) fn message_parts(call: &MessageCall, ctx: &dyn Resolve) -> Result<Parts, String> {
    let mut headers = Vec::new();
    for p in &call.headers {
        let v = p
            .value
            .eval_required(ctx)
            .map_err(|why| format!("header `{}` cannot be built: {why}", p.name))?;
        if let Some(v) = v {
            headers.push((p.name.clone(), stringify(Some(&v))));
        }
    }
    Ok(match &call.body {
        Some(b) => {
            let (value, bytes, ct) = super::request::encode_body(b, ctx).map_err(|e| e.0)?;
            (
                headers,
                value.unwrap_or(Value::Null),
                bytes.unwrap_or_default(),
                Some(ct),
            )
        }
        None => (headers, Value::Null, Vec::new(), None),
    })
}

fn build_message(
    call: &MessageCall,
    ctx: &dyn Resolve,
    channel: &Channel,
) -> Result<(OutMessage, Message), String> {
    let (headers, payload, bytes, content_type) = message_parts(call, ctx)?;
    let message = Message {
        action: MessageAction::Send,
        url: channel_url(channel),
        headers: headers.clone(),
        payload,
        payload_error: None,
        size: bytes.len(),
    };
    Ok((
        OutMessage {
            headers,
            payload: bytes,
            content_type,
        },
        message,
    ))
}

/// A received message as expressions read it.
fn received(m: InMessage, channel: &Channel) -> Message {
    let (payload, payload_error) = decode_payload(&m.payload);
    Message {
        action: MessageAction::Receive,
        url: channel_url(channel),
        size: m.payload.len(),
        headers: m.headers,
        payload,
        payload_error,
    }
}

/// JSON when the bytes are JSON, else the text; bytes that are not UTF-8 cannot be
/// read by expressions.
fn decode_payload(bytes: &[u8]) -> (Value, Option<String>) {
    if bytes.is_empty() {
        return (Value::Null, None);
    }
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        return (v, None);
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => (Value::String(s.to_string()), None),
        Err(_) => (
            Value::Null,
            Some(format!(
                "the payload ({} bytes) is neither JSON nor UTF-8 text",
                bytes.len()
            )),
        ),
    }
}

/// Whether `m` is the awaited message: any, when no correlation id is awaited; else
/// one whose correlation id (where one of the channel's messages says it is) is
/// `expected`.
fn matches(m: &InMessage, call: &MessageCall, expected: Option<&str>) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    call.correlations
        .iter()
        .any(|c| correlation_of(m, c).as_deref() == Some(expected))
}

/// The correlation id of a received message at location `c`.
fn correlation_of(m: &InMessage, c: &crate::asyncapi::Correlation) -> Option<String> {
    if c.in_header {
        let name = c
            .pointer
            .trim_start_matches('/')
            .replace("~1", "/")
            .replace("~0", "~");
        return m
            .headers
            .iter()
            .find(|(k, _)| *k == name)
            .or_else(|| {
                m.headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&name))
            })
            .map(|(_, v)| v.clone());
    }
    let (payload, _) = decode_payload(&m.payload);
    let v = payload.pointer(&c.pointer)?;
    Some(stringify(Some(v)))
}
