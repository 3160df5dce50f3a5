use super::*;

fn api(yaml: &str) -> AsyncApi {
    AsyncApi::new(
        Url::parse("file:///t/api.yaml").unwrap(),
        serde_yaml_ng::from_str(yaml).unwrap(),
    )
}

const V3: &str = r##"
asyncapi: 3.0.0
info: {title: t, version: "1"}
defaultContentType: application/json
servers:
  local: {host: "localhost:{port}", protocol: mqtt, protocolVersion: "5", variables: {port: {default: "1883"}}, security: [{$ref: "#/components/securitySchemes/creds"}]}
  other: {host: "broker:5672", protocol: amqp}
channels:
  orders:
    address: "orders/{orderId}"
    parameters: {orderId: {description: id}}
    servers: [{$ref: "#/servers/local"}]
    messages:
      placed: {$ref: "#/components/messages/Placed"}
      confirmed:
        payload: {type: object}
        correlationId: {location: "$message.payload#/cid"}
operations:
  placeOrder:
    action: receive
    channel: {$ref: "#/channels/orders"}
    messages: [{$ref: "#/channels/orders/messages/placed"}]
    bindings: {mqtt: {qos: 2}}
components:
  securitySchemes: {creds: {type: userPassword}}
  messages:
    Placed:
      headers: {type: object}
      payload: {schemaFormat: "application/vnd.aai.asyncapi+json;version=3.0.0", schema: {type: object, required: [petId]}}
      correlationId: {$ref: "#/components/correlationIds/byHeader"}
  correlationIds:
    byHeader: {location: "$message.header#/orderRequestId"}
"##;

#[test]
fn v3_operation_channel_messages_servers() {
    let a = api(V3);
    let op = a.operation("placeOrder").unwrap().unwrap();
    assert_eq!(op.channel.address.as_deref(), Some("orders/{orderId}"));
    assert_eq!(op.channel.parameters, vec!["orderId"]);
    assert_eq!(op.messages.len(), 1);
    let m = &op.messages[0];
    assert_eq!(m.name, "placed");
    assert_eq!(m.content_type.as_deref(), Some("application/json"));
    assert_eq!(m.payload.as_ref().unwrap()["required"][0], "petId");
    let c = m.correlation.as_ref().unwrap();
    assert!(c.in_header);
    assert_eq!(c.pointer, "/orderRequestId");
    assert_eq!(op.servers.len(), 1);
    assert_eq!(
        op.servers[0].url.as_deref().unwrap(),
        "mqtt://localhost:1883"
    );
    assert_eq!(op.servers[0].security, vec!["creds"]);
    assert_eq!(op.operation_bindings.as_ref().unwrap()["mqtt"]["qos"], 2);
    assert!(a.operation("nope").unwrap().is_none());
    let ch = a.at_pointer("#/channels/orders").unwrap();
    assert_eq!(ch.messages.len(), 2);
    assert!(!ch.messages[1].correlation.as_ref().unwrap().in_header);
}

#[test]
fn v2_operations_by_id_and_pointer() {
    let a = api(r##"
asyncapi: 2.6.0
info: {title: t, version: "1"}
servers:
  prod: {url: "{host}:4222", protocol: nats, variables: {host: {default: "127.0.0.1"}}, security: [{userPass: []}]}
channels:
  orders/{id}:
    parameters: {id: {schema: {type: string}}}
    publish:
      operationId: sendOrder
      message:
        oneOf:
          - {name: A, payload: {type: object}}
          - {$ref: "#/components/messages/B"}
    subscribe:
      operationId: onOrder
      message: {$ref: "#/components/messages/B"}
components:
  messages:
    B: {contentType: text/plain, payload: {type: string}}
"##);
    assert_eq!(a.operation_ids(), vec!["sendOrder", "onOrder"]);
    let op = a.operation("sendOrder").unwrap().unwrap();
    assert_eq!(op.channel.address.as_deref(), Some("orders/{id}"));
    assert_eq!(op.messages.len(), 2);
    assert_eq!(op.messages[1].name, "B");
    assert_eq!(
        op.servers[0].url.as_deref().unwrap(),
        "nats://127.0.0.1:4222"
    );
    assert_eq!(op.servers[0].security, vec!["userPass"]);
    let by_ptr = a.at_pointer("#/channels/orders~1{id}/subscribe").unwrap();
    assert_eq!(by_ptr.described_action.as_deref(), Some("subscribe"));
    assert!(a.at_pointer("#/info").is_err());
}

#[test]
fn correlation_locations() {
    assert!(Correlation::parse("$message.header#/x").unwrap().in_header);
    assert_eq!(
        Correlation::parse("$message.payload#/a/b").unwrap().pointer,
        "/a/b"
    );
    assert!(Correlation::parse("$message.header").is_err());
    assert!(Correlation::parse("$request.header#/x").is_err());
}
