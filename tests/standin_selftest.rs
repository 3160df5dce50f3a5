//! Exercises the Composio stand-in directly over raw HTTP.

mod support;

use serde_json::{json, Value};
use support::composio::{Snapshot, StandIn};
use support::{http, json};

const KEY: &str = "test-key-123";

struct Client {
    base: String,
}

impl Client {
    fn new(s: &StandIn) -> Client {
        Client { base: s.base_url() }
    }

    fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let (status, text) = http(
            method,
            &format!("{}{}", self.base, path),
            &[("x-api-key", KEY)],
            body,
        );
        let v = if text.is_empty() {
            Value::Null
        } else {
            json(&text)
        };
        (status, v)
    }

    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call("POST", path, Some(&body.to_string()))
    }

    fn auth_config(&self, slug: &str) -> String {
        let (st, v) = self.post("/api/v3/auth_configs", &json!({"toolkit": {"slug": slug}}));
        assert_eq!(st, 201, "{v}");
        v["auth_config"]["id"].as_str().unwrap().to_string()
    }

    fn server(&self, name: &str, acs: &[&str]) -> (u16, Value) {
        self.post(
            "/api/v3/mcp/servers",
            &json!({"name": name, "auth_config_ids": acs}),
        )
    }
}

fn assert_envelope(v: &Value, status: u16) {
    let e = &v["error"];
    assert!(e["message"].is_string(), "{v}");
    assert!(e["code"].is_number(), "{v}");
    assert_eq!(e["status"], json!(status), "{v}");
    assert!(e["request_id"].as_str().unwrap().starts_with("req_"), "{v}");
    assert!(e["suggested_fix"].is_string(), "{v}");
}

#[test]
fn rejects_missing_or_wrong_api_key() {
    let s = StandIn::start(KEY);
    let url = format!("{}/api/v3/auth_configs", s.base_url());
    let body = r#"{"toolkit":{"slug":"github"}}"#;

    let (st, text) = http("POST", &url, &[], Some(body));
    assert_eq!(st, 401);
    assert_envelope(&json(&text), 401);

    let (st, text) = http("POST", &url, &[("x-api-key", "nope")], Some(body));
    assert_eq!(st, 401);
    assert_envelope(&json(&text), 401);

    let (st, _) = http(
        "GET",
        &format!("{}/api/v3/mcp/whatever", s.base_url()),
        &[],
        None,
    );
    assert_eq!(st, 401);

    assert_eq!(s.state(), Snapshot::default());
    let reqs = s.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/api/v3/auth_configs");
    assert_eq!(reqs[0].header("x-api-key"), None);
    assert_eq!(reqs[1].header("X-Api-Key"), Some("nope"));
    assert_eq!(reqs[1].body, Some(json!({"toolkit": {"slug": "github"}})));
    assert_eq!(reqs[1].raw_body, body);
}

#[test]
fn full_lifecycle() {
    let s = StandIn::start(KEY);
    let c = Client::new(&s);

    // Auth config.
    let (st, ac) = c.post(
        "/api/v3/auth_configs",
        &json!({"toolkit": {"slug": "github"}, "auth_config": {"type": "use_composio_managed_auth"}}),
    );
    assert_eq!(st, 201, "{ac}");
    assert_eq!(ac["toolkit"]["slug"], "github");
    assert_eq!(ac["auth_config"]["id"], "ac_1");
    assert_eq!(ac["auth_config"]["auth_scheme"], "OAUTH2");
    assert_eq!(ac["auth_config"]["is_composio_managed"], true);
    assert_eq!(ac["auth_config"]["restrict_to_following_tools"], json!([]));

    // Server.
    let (st, srv) = c.server("My Server-1", &["ac_1"]);
    assert_eq!(st, 201, "{srv}");
    let sid = srv["id"].as_str().unwrap().to_string();
    assert_eq!(sid, "00000000-0000-4000-8000-000000000001");
    assert_eq!(srv["name"], "My Server-1");
    assert_eq!(srv["auth_config_ids"], json!(["ac_1"]));
    assert_eq!(srv["allowed_tools"], json!([]));
    assert_eq!(srv["toolkits"], json!(["github"]));
    assert_eq!(srv["toolkit_icons"], json!({}));
    assert_eq!(srv["server_instance_count"], 0);
    assert!(srv["managed_auth_via_composio"].is_boolean());
    assert!(srv.get("deleted").is_none());
    let mcp_url = srv["mcp_url"].as_str().unwrap();
    assert!(mcp_url.ends_with(&format!("/v3/mcp/{sid}")), "{mcp_url}");
    assert_eq!(
        srv["commands"]["cursor"],
        format!("npx @composio/mcp@latest setup \"{mcp_url}\" --client cursor")
    );
    assert!(srv["commands"]["claude"]
        .as_str()
        .unwrap()
        .ends_with("--client claude"));
    assert!(srv["commands"]["windsurf"]
        .as_str()
        .unwrap()
        .ends_with("--client windsurf"));
    assert!(srv["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(srv["updated_at"].is_string());

    // Get.
    let (st, got) = c.call("GET", &format!("/api/v3/mcp/{sid}"), None);
    assert_eq!(st, 200);
    assert_eq!(got["deleted"], false);
    assert_eq!(got["id"], sid);
    assert_eq!(got["name"], "My Server-1");

    // Instances.
    let inst_path = format!("/api/v3/mcp/servers/{sid}/instances");
    let (st, inst) = c.post(&inst_path, &json!({"user_id": "alice"}));
    assert_eq!(st, 201, "{inst}");
    assert_eq!(inst["instance_id"], "alice");
    assert_eq!(inst["mcp_server_id"], sid);
    assert!(inst["id"].as_str().unwrap().len() == 36);
    assert!(inst["created_at"].is_string() && inst["updated_at"].is_string());

    let (st, dup) = c.post(&inst_path, &json!({"user_id": "alice"}));
    assert_eq!(st, 409);
    assert_envelope(&dup, 409);

    for bad in [json!({}), json!({"user_id": ""}), json!({"user_id": 5})] {
        let (st, v) = c.post(&inst_path, &bad);
        assert_eq!(st, 400, "{bad} -> {v}");
        assert_envelope(&v, 400);
    }
    let (st, _) = c.post(
        "/api/v3/mcp/servers/nope/instances",
        &json!({"user_id": "x"}),
    );
    assert_eq!(st, 404);

    for u in ["bob", "carol", "alice2"] {
        let (st, _) = c.post(&inst_path, &json!({"user_id": u}));
        assert_eq!(st, 201);
    }
    let (_, got) = c.call("GET", &format!("/api/v3/mcp/{sid}"), None);
    assert_eq!(got["server_instance_count"], 4);
    assert_eq!(
        s.state().instances,
        ["alice", "bob", "carol", "alice2"]
            .iter()
            .map(|u| (sid.clone(), u.to_string()))
            .collect::<Vec<_>>()
    );

    // Listing: default order is updated_at desc.
    let ids = |v: &Value| -> Vec<String> {
        v["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["instance_id"].as_str().unwrap().to_string())
            .collect()
    };
    let (st, list) = c.call("GET", &inst_path, None);
    assert_eq!(st, 200, "{list}");
    assert_eq!(ids(&list), ["alice2", "carol", "bob", "alice"]);
    assert_eq!(list["server_id"], sid);
    assert_eq!(list["server_name"], "My Server-1");
    assert_eq!(list["total_pages"], 1);
    assert_eq!(list["current_page"], 1);

    let (_, list) = c.call(
        "GET",
        &format!("{inst_path}?order_by=created_at&order_direction=asc&limit=3&page_no=1"),
        None,
    );
    assert_eq!(ids(&list), ["alice", "bob", "carol"]);
    assert_eq!(list["total_pages"], 2);
    let (_, list) = c.call(
        "GET",
        &format!("{inst_path}?order_by=created_at&order_direction=asc&limit=3&page_no=2"),
        None,
    );
    assert_eq!(ids(&list), ["alice2"]);
    assert_eq!(list["current_page"], 2);
    let (_, list) = c.call("GET", &format!("{inst_path}?page_no=9&limit=3"), None);
    assert_eq!(ids(&list), Vec::<String>::new());

    let (_, list) = c.call("GET", &format!("{inst_path}?search=alice"), None);
    assert_eq!(ids(&list), ["alice2", "alice"]);
    let (_, list) = c.call("GET", &format!("{inst_path}?search=carol"), None);
    assert_eq!(ids(&list), ["carol"]);
    let (_, list) = c.call("GET", &format!("{inst_path}?search=zed"), None);
    assert_eq!(ids(&list), Vec::<String>::new());
    assert_eq!(list["total_pages"], 0);

    for q in [
        "order_by=name",
        "order_direction=up",
        "page_no=0",
        "limit=abc",
        "limit=-1",
    ] {
        let (st, v) = c.call("GET", &format!("{inst_path}?{q}"), None);
        assert_eq!(st, 400, "{q} -> {v}");
        assert_envelope(&v, 400);
    }
    let (st, _) = c.call("GET", "/api/v3/mcp/servers/nope/instances", None);
    assert_eq!(st, 404);

    // Instance deletes.
    let (st, v) = c.call("DELETE", &format!("{inst_path}/alice"), None);
    assert_eq!(st, 200, "{v}");
    assert!(v["message"].is_string());
    assert_eq!(v["deleted_connected_accounts"], 0);
    let (st, v) = c.call("DELETE", &format!("{inst_path}/alice"), None);
    assert_eq!(st, 404);
    assert_envelope(&v, 404);
    let (st, _) = c.call("DELETE", "/api/v3/mcp/servers/nope/instances/bob", None);
    assert_eq!(st, 404);
    for u in ["bob", "carol", "alice2"] {
        let (st, _) = c.call("DELETE", &format!("{inst_path}/{u}"), None);
        assert_eq!(st, 200);
    }
    assert!(s.state().instances.is_empty());

    // Server delete.
    let (st, v) = c.call("DELETE", &format!("/api/v3/mcp/{sid}"), None);
    assert_eq!(st, 200);
    assert_eq!(v, json!({"id": sid, "deleted": true}));
    let (st, v) = c.call("DELETE", &format!("/api/v3/mcp/{sid}"), None);
    assert_eq!(st, 404);
    assert_eq!(v, json!({}));
    let (st, v) = c.call("GET", &format!("/api/v3/mcp/{sid}"), None);
    assert_eq!(st, 404);
    assert_envelope(&v, 404);
    let (st, _) = c.post(&inst_path, &json!({"user_id": "dave"}));
    assert_eq!(st, 404);

    // Auth config delete.
    let (st, v) = c.call("DELETE", "/api/v3/auth_configs/ac_1", None);
    assert_eq!(st, 200);
    assert_eq!(v, json!({}));
    let (st, v) = c.call("DELETE", "/api/v3/auth_configs/ac_1", None);
    assert_eq!(st, 404);
    assert_eq!(v, json!({}));

    assert!(s.state().is_empty(), "{:?}", s.state());
}

#[test]
fn server_name_and_field_validation() {
    let s = StandIn::start(KEY);
    let c = Client::new(&s);
    let ac = c.auth_config("slack");

    let (st, v) = c.server("abcd", &[&ac]);
    assert_eq!(st, 201, "4-char name must be accepted: {v}");
    let thirty = "a".repeat(30);
    let (st, v) = c.server(&thirty, &[&ac]);
    assert_eq!(st, 201, "30-char name must be accepted: {v}");

    let thirty_one = "a".repeat(31);
    for bad in ["abc", "has_underscore", "dot.name", "", thirty_one.as_str()] {
        let (st, v) = c.server(bad, &[&ac]);
        assert_eq!(st, 400, "name {bad:?} must be rejected: {v}");
        assert_envelope(&v, 400);
    }

    let bad_bodies = [
        json!({"auth_config_ids": [ac]}),
        json!({"name": 1234, "auth_config_ids": [ac]}),
        json!({"name": "good name"}),
        json!({"name": "good name", "auth_config_ids": "ac_1"}),
        json!({"name": "good name", "auth_config_ids": [1]}),
        json!({"name": "good name", "auth_config_ids": [ac], "allowed_tools": null}),
        json!({"name": "good name", "auth_config_ids": [ac], "allowed_tools": "x"}),
        json!({"name": "good name", "auth_config_ids": [ac], "managed_auth_via_composio": "yes"}),
        json!(["not", "an", "object"]),
    ];
    for b in bad_bodies {
        let (st, v) = c.post("/api/v3/mcp/servers", &b);
        assert_eq!(st, 400, "{b} -> {v}");
        assert_envelope(&v, 400);
    }

    let (st, v) = c.server("good name", &["ac_999"]);
    assert_eq!(st, 404);
    assert_envelope(&v, 404);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("does not exist"));

    let (st, v) = c.post(
        "/api/v3/mcp/servers",
        &json!({"name": "with tools", "auth_config_ids": [ac],
                "allowed_tools": ["SLACK_SEND"], "managed_auth_via_composio": true}),
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["allowed_tools"], json!(["SLACK_SEND"]));
    assert_eq!(v["managed_auth_via_composio"], true);

    assert_eq!(s.state().servers.len(), 3);
    assert_eq!(s.state().auth_configs, [ac]);
}

#[test]
fn auth_config_validation_bad_json_and_unknown_routes() {
    let s = StandIn::start(KEY);
    let c = Client::new(&s);

    for b in [
        json!({}),
        json!({"toolkit": {}}),
        json!({"toolkit": {"slug": 3}}),
        json!({"toolkit": {"slug": "github"}, "auth_config": {"type": "bogus"}}),
        json!({"toolkit": {"slug": "github"}, "auth_config": {}}),
        json!({"toolkit": {"slug": "github"}, "auth_config": null}),
    ] {
        let (st, v) = c.post("/api/v3/auth_configs", &b);
        assert_eq!(st, 400, "{b} -> {v}");
        assert_envelope(&v, 400);
    }

    let (st, v) = c.post(
        "/api/v3/auth_configs",
        &json!({"toolkit": {"slug": "github"},
                "auth_config": {"type": "use_custom_auth", "authScheme": "API_KEY"}}),
    );
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["auth_config"]["auth_scheme"], "API_KEY");
    assert_eq!(v["auth_config"]["is_composio_managed"], false);

    let (st, v) = c.call("POST", "/api/v3/auth_configs", Some("{not json"));
    assert_eq!(st, 400);
    assert_envelope(&v, 400);
    let (st, _) = c.call("POST", "/api/v3/mcp/servers", Some("[1,"));
    assert_eq!(st, 400);
    assert_eq!(s.requests().last().unwrap().body, None);
    assert_eq!(s.requests().last().unwrap().raw_body, "[1,");

    for (m, p) in [
        ("GET", "/api/v3/nothing"),
        ("GET", "/"),
        ("PUT", "/api/v3/auth_configs"),
        ("POST", "/api/v3/mcp/servers/"),
        ("GET", "/api/v2/mcp/x"),
    ] {
        let (st, v) = c.call(m, p, None);
        assert_eq!(st, 404, "{m} {p}");
        assert_envelope(&v, 404);
    }

    // Request ids increase.
    let first = s.requests().len();
    let (_, v) = c.call("GET", "/api/v3/nothing", None);
    assert_eq!(v["error"]["request_id"], format!("req_{}", first + 1));
}

#[test]
fn fault_injection_and_recording() {
    let s = StandIn::start(KEY);
    let c = Client::new(&s);

    s.fail_next("/api/v3/auth_configs", 503, json!({"message": "down"}));
    s.fail_next("/api/v3/auth_configs", 429, json!({"message": "slow down"}));
    let body = json!({"toolkit": {"slug": "github"}});
    let (st, v) = c.post("/api/v3/auth_configs", &body);
    assert_eq!((st, v), (503, json!({"message": "down"})));
    let (st, v) = c.post("/api/v3/auth_configs", &body);
    assert_eq!((st, v), (429, json!({"message": "slow down"})));
    assert!(s.state().auth_configs.is_empty());
    let (st, _) = c.post("/api/v3/auth_configs", &body);
    assert_eq!(st, 201);
    assert_eq!(s.state().auth_configs, ["ac_1"]);

    // A fault for another prefix does not affect unrelated paths.
    s.fail_next("/api/v3/mcp", 500, json!({}));
    let (st, _) = c.post("/api/v3/auth_configs", &body);
    assert_eq!(st, 201);
    let (st, v) = c.call("GET", "/api/v3/mcp/x", None);
    assert_eq!((st, v), (500, json!({})));
    let (st, _) = c.call("GET", "/api/v3/mcp/x", None);
    assert_eq!(st, 404);

    let reqs = s.requests();
    assert_eq!(reqs.len(), 6);
    assert!(reqs.iter().all(|r| r.header("x-api-key") == Some(KEY)));
    assert_eq!(reqs[0].header("content-type"), Some("application/json"));
    assert_eq!(reqs[0].body, Some(body.clone()));

    let url = format!(
        "{}/api/v3/mcp/servers/abc/instances?search=a%20b&limit=5",
        s.base_url()
    );
    http("GET", &url, &[("x-api-key", KEY)], None);
    let last = s.requests().pop().unwrap();
    assert_eq!(last.path, "/api/v3/mcp/servers/abc/instances");
    assert_eq!(last.query.as_deref(), Some("search=a%20b&limit=5"));
    assert_eq!(last.body, None);
    assert_eq!(last.raw_body, "");
}

#[test]
fn percent_encoded_instance_ids_and_independent_servers() {
    let s = StandIn::start(KEY);
    let c = Client::new(&s);
    let ac = c.auth_config("github");
    let (_, a) = c.server("server a", &[&ac]);
    let (_, b) = c.server("server b", &[&ac]);
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    assert_ne!(a, b);

    // Same user on two servers is fine.
    for sid in [a, b] {
        let (st, _) = c.post(
            &format!("/api/v3/mcp/servers/{sid}/instances"),
            &json!({"user_id": "user@example.com x"}),
        );
        assert_eq!(st, 201);
    }
    let (_, list) = c.call(
        "GET",
        &format!("/api/v3/mcp/servers/{a}/instances?search=user%40example.com+x"),
        None,
    );
    assert_eq!(list["instances"].as_array().unwrap().len(), 1);

    let (st, _) = c.call(
        "DELETE",
        &format!("/api/v3/mcp/servers/{a}/instances/user%40example.com%20x"),
        None,
    );
    assert_eq!(st, 200);
    assert_eq!(
        s.state().instances,
        [(b.to_string(), "user@example.com x".to_string())]
    );

    // Deleting a server hides its instances from the snapshot.
    let (st, _) = c.call("DELETE", &format!("/api/v3/mcp/{b}"), None);
    assert_eq!(st, 200);
    assert!(s.state().instances.is_empty());
    assert_eq!(s.state().servers, [a.to_string()]);
}

#[test]
fn drop_stops_the_server() {
    let s = StandIn::start(KEY);
    let base = s.base_url();
    let (st, _) = http("GET", &format!("{base}/api/v3/mcp/x"), &[], None);
    assert_eq!(st, 401);
    drop(s);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let addr = base.trim_start_matches("http://");
    assert!(std::net::TcpStream::connect(addr).is_err());
}
