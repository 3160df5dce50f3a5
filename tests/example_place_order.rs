//! The shipped example `workflows/place-order.arazzo.yaml`, mixing HTTP and
//! messages, run as a user would against an order service stand-in on
//! 127.0.0.1 and a real Mosquitto: the service publishes the outcome of an order
//! on MQTT *before* it answers the POST (the hardest timing for the workflow),
//! and an outcome for another order first; the workflow still gets its own.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arazzo::broker::{Bindings, Connection, Credentials, Endpoint, OutMessage, Protocol};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use support::cli::{arazzo, exec};

/// What the stand-in shares between its handlers.
#[derive(Clone)]
struct Service {
    /// Publishes (topic, payload) on MQTT and answers when the broker took it.
    publish: std::sync::mpsc::Sender<(String, Value, std::sync::mpsc::Sender<()>)>,
    orders: Arc<Mutex<Vec<Value>>>,
    bodies: Arc<Mutex<Vec<Value>>>,
}

async fn create(
    State(s): State<Service>,
    Json(body): Json<Value>,
) -> (axum::http::StatusCode, Json<Value>) {
    s.bodies.lock().unwrap().push(body.clone());
    let id = format!("ord-{}", s.orders.lock().unwrap().len() + 1);
    let order = json!({"id": id, "petId": body["petId"], "quantity": body.get("quantity").cloned().unwrap_or(json!(1)), "status": "confirmed"});
    s.orders.lock().unwrap().push(order.clone());
    // Another order's outcome, then this one's, both before the response.
    for event in [
        json!({"orderId": "ord-someone-else", "status": "rejected"}),
        json!({"orderId": id, "status": "confirmed"}),
    ] {
        let (tx, rx) = std::sync::mpsc::channel();
        s.publish
            .send(("orders/outcomes".into(), event, tx))
            .unwrap();
        tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(10)))
            .await
            .unwrap()
            .unwrap();
    }
    let mut pending = order;
    pending["status"] = json!("pending");
    (axum::http::StatusCode::CREATED, Json(pending))
}

async fn read(
    State(s): State<Service>,
    Path(id): Path<String>,
) -> Result<Json<Value>, axum::http::StatusCode> {
    let orders = s.orders.lock().unwrap();
    orders
        .iter()
        .find(|o| o["id"] == id.as_str())
        .cloned()
        .map(Json)
        .ok_or(axum::http::StatusCode::NOT_FOUND)
}

/// A thread with its own runtime and MQTT connection, publishing what it is given.
fn publisher(
    broker: url::Url,
) -> std::sync::mpsc::Sender<(String, Value, std::sync::mpsc::Sender<()>)> {
    let (tx, rx) = std::sync::mpsc::channel::<(String, Value, std::sync::mpsc::Sender<()>)>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let endpoint = Endpoint {
                protocol: Protocol::Mqtt,
                url: broker,
                tls: false,
                protocol_version: Some("3.1.1".into()),
                credentials: Credentials::default(),
                connect_timeout: Duration::from_secs(10),
                client_id: format!("order-service-{}", std::process::id()),
                max_message_bytes: 1 << 20,
            };
            let connection = Connection::connect(&endpoint)
                .await
                .expect("the order service connects to Mosquitto");
            while let Ok((topic, payload, done)) = rx.recv() {
                let message = OutMessage {
                    headers: Vec::new(),
                    payload: serde_json::to_vec(&payload).unwrap(),
                    content_type: None,
                };
                connection
                    .publish(&topic, &Bindings::default(), &message)
                    .await
                    .unwrap();
                let _ = done.send(());
            }
        });
    });
    tx
}

#[test]
fn place_order_gets_its_confirmation_even_when_published_before_the_response() {
    let broker = support::brokers::mosquitto::mosquitto().url();
    let service = Service {
        publish: publisher(broker.clone()),
        orders: Arc::default(),
        bodies: Arc::default(),
    };
    let bodies = Arc::clone(&service.bodies);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = Router::new()
        .route("/orders", post(create))
        .route("/orders/{id}", get(read))
        .with_state(service);
    rt.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        axum::serve(listener, app).await.unwrap();
    });
    let doc = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workflows/place-order.arazzo.yaml"
    );
    let out = exec(
        arazzo()
            .args([
                "run",
                "place-order",
                "-o",
                "json",
                "-f",
                doc,
                "-i",
                "petId=3",
            ])
            .args(["--server", &format!("orders=http://{addr}")])
            .args(["--server", &format!("orderEvents={broker}")]),
    );
    out.assert_code(0);
    let report = out.json();
    assert_eq!(report["outputs"]["orderId"], "ord-1", "{report}");
    assert_eq!(report["outputs"]["status"], "confirmed", "{report}");
    assert_eq!(
        report["outputs"]["order"]["status"], "confirmed",
        "{report}"
    );
    let methods: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["POST", "RECEIVE", "GET"], "{report}");
    assert_eq!(bodies.lock().unwrap().as_slice(), [json!({"petId": 3})]);
    // `validate` and the dry run of the shipped example are clean.
    let out = exec(arazzo().args(["validate", doc]));
    out.assert_code(0);
    assert!(
        out.stderr.contains("0 errors, 0 warnings"),
        "{}",
        out.context()
    );
    rt.shutdown_background();
}
