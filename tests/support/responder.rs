//! A small request/reply service for the message step tests: it listens on a
//! broker channel, records each request it gets, and answers on a reply channel
//! with a message carrying the request's correlation id (in a header where the
//! protocol has them, in the payload otherwise). How it answers is the test's
//! choice: at once, a wrong correlation id first, or not at all.
//!
//! It runs on its own thread and runtime and speaks to the broker through
//! `arazzo::broker`, whose transports have their own tests against independent
//! clients (tests/broker_*.rs).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arazzo::broker::{Bindings, Connection, Endpoint, InMessage, OutMessage};
use serde_json::{json, Value};

/// How the responder answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// One reply with the request's correlation id, at once.
    Confirm,
    /// First a reply with another correlation id (to be ignored), then the right one.
    WrongThenRight,
    /// A reply whose status is `rejected`.
    Reject,
    /// No reply.
    Silent,
}

/// One request the responder got.
#[derive(Debug, Clone)]
pub struct Request {
    pub headers: Vec<(String, String)>,
    pub payload: Value,
    pub address: String,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A running responder.
pub struct Responder {
    requests: Arc<Mutex<Vec<Request>>>,
    _thread: std::thread::JoinHandle<()>,
}

impl Responder {
    /// Subscribes to `request_address` on the broker at `endpoint` and answers on
    /// `reply_address` (`{orderId}` filled from the request payload). Returns once
    /// the subscription is in place. `in_headers`: the correlation id travels in the
    /// `correlationId` header (else in the payload's `correlationId`).
    pub fn start(
        endpoint: Endpoint,
        request_address: &str,
        reply_address: &str,
        in_headers: bool,
        answer: Answer,
    ) -> Responder {
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let (req, rep) = (request_address.to_string(), reply_address.to_string());
        let seen = Arc::clone(&requests);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("responder runtime");
            rt.block_on(serve(
                endpoint, req, rep, in_headers, answer, seen, ready_tx,
            ));
        });
        match ready_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("the responder could not start: {e}"),
            Err(_) => panic!("the responder did not subscribe within 20 s"),
        }
        Responder {
            requests,
            _thread: thread,
        }
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until `n` requests arrived (at most `limit`).
    pub fn wait_requests(&self, n: usize, limit: Duration) -> Vec<Request> {
        let until = Instant::now() + limit;
        loop {
            let got = self.requests();
            if got.len() >= n || Instant::now() > until {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

async fn serve(
    endpoint: Endpoint,
    request_address: String,
    reply_address: String,
    in_headers: bool,
    answer: Answer,
    seen: Arc<Mutex<Vec<Request>>>,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
) {
    let bindings = Bindings::default();
    let connection = match Connection::connect(&endpoint).await {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e.0));
            return;
        }
    };
    let mut sub = match connection.subscribe(&request_address, &bindings).await {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(e.0));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    while let Some(m) = sub.recv().await {
        let request = record(&m);
        seen.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request.clone());
        let cid = if in_headers {
            request
                .header("correlationId")
                .unwrap_or_default()
                .to_string()
        } else {
            request.payload["correlationId"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let order = request.payload["orderId"]
            .as_str()
            .unwrap_or("none")
            .to_string();
        let address = reply_address.replace("{orderId}", &order);
        let reply = |cid: &str, status: &str| {
            let mut payload = json!({"orderId": order, "status": status});
            let mut headers = Vec::new();
            if in_headers {
                headers.push(("correlationId".to_string(), cid.to_string()));
            } else {
                payload["correlationId"] = json!(cid);
            }
            OutMessage {
                headers,
                payload: serde_json::to_vec(&payload).unwrap_or_default(),
                content_type: Some("application/json".into()),
            }
        };
        let replies = match answer {
            Answer::Confirm => vec![reply(&cid, "confirmed")],
            Answer::WrongThenRight => vec![
                reply(&format!("{cid}-other"), "not-yours"),
                reply(&cid, "confirmed"),
            ],
            Answer::Reject => vec![reply(&cid, "rejected")],
            Answer::Silent => Vec::new(),
        };
        for r in replies {
            let _ = connection.publish(&address, &bindings, &r).await;
        }
    }
}

fn record(m: &InMessage) -> Request {
    Request {
        headers: m.headers.clone(),
        payload: serde_json::from_slice(&m.payload).unwrap_or(Value::Null),
        address: m.address.clone(),
    }
}
