//! amqp: TO BE WRITTEN (placeholder so the interface compiles; replaced by the protocol's implementation).

use super::{Bindings, BrokerError, Endpoint, OutMessage, Subscription};

pub struct Connection;

impl Connection {
    pub async fn connect(endpoint: &Endpoint) -> Result<Connection, BrokerError> {
        Err(BrokerError(format!("{} is not written yet", endpoint.url)))
    }

    pub async fn publish(
        &self,
        _address: &str,
        _bindings: &Bindings,
        _message: &OutMessage,
    ) -> Result<(), BrokerError> {
        Err(BrokerError("not written yet".into()))
    }

    pub async fn subscribe(
        &self,
        _address: &str,
        _bindings: &Bindings,
    ) -> Result<Subscription, BrokerError> {
        Err(BrokerError("not written yet".into()))
    }

    pub async fn close(&self) {}
}
