//! The OpenAPI document: served without credentials, generated from the code, and describing
//! every route with its schemas, security and error responses.

use std::collections::BTreeSet;

use http::header::CONTENT_TYPE;
use http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{Auth, TestApp};

const DOC: &str = "/api/v2/openapi.json";

async fn served_doc(app: &TestApp) -> Value {
    let r = app.get(DOC, &Auth::Anonymous).await;
    r.assert_status(StatusCode::OK);
    assert_eq!(r.headers[CONTENT_TYPE], "application/json");
    r.json()
}

/// Every route the router answers, as `METHOD path`.
fn every_route() -> BTreeSet<String> {
    [
        "GET /api/v2/openapi.json",
        "POST /api/v2/oauth/token",
        "GET /api/v2/tailnet/{tailnet}/acl",
        "POST /api/v2/tailnet/{tailnet}/acl",
        "POST /api/v2/tailnet/{tailnet}/acl/validate",
        "GET /api/v2/tailnet/{tailnet}/acl",
        "POST /api/v2/tailnet/{tailnet}/acl",
        "POST /api/v2/tailnet/{tailnet}/acl/validate",
        "GET /api/v2/tailnet/{tailnet}/audit",
        "GET /api/v2/tailnet/{tailnet}/devices",
        "GET /api/v2/device/{deviceId}",
        "DELETE /api/v2/device/{deviceId}",
        "POST /api/v2/device/{deviceId}/authorized",
        "POST /api/v2/device/{deviceId}/tags",
        "POST /api/v2/device/{deviceId}/key",
        "POST /api/v2/device/{deviceId}/expire",
        "GET /api/v2/tailnet/{tailnet}/keys",
        "POST /api/v2/tailnet/{tailnet}/keys",
        "GET /api/v2/tailnet/{tailnet}/keys/{keyId}",
        "DELETE /api/v2/tailnet/{tailnet}/keys/{keyId}",
        "GET /api/v2/tailnet/{tailnet}/oauth/clients",
        "GET /api/v2/tailnet/{tailnet}/settings",
        "PATCH /api/v2/tailnet/{tailnet}/settings",
        "GET /api/v2/tailnet/{tailnet}/tokens",
        "POST /api/v2/tailnet/{tailnet}/tokens",
        "DELETE /api/v2/tailnet/{tailnet}/tokens/{id}",
        "GET /api/v2/tailnet/{tailnet}/users",
        "POST /api/v2/tailnet/{tailnet}/users",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

/// `(METHOD path, operation)` of every operation in `doc`.
fn operations(doc: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            out.push((format!("{} {path}", method.to_uppercase()), op.clone()));
        }
    }
    out
}

#[tokio::test]
async fn the_document_is_served_without_credentials_and_matches_the_code() {
    let app = TestApp::new().await;
    let doc = served_doc(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "keygate API");
    assert_eq!(doc, serde_json::to_value(keygate_api::openapi()).unwrap());
}

/// Routes are registered with `utoipa_axum::routes!`, which documents whatever it routes; this
/// pins the routes known here, so that one registered some other way (plain `.route`) shows.
/// Routes added later by other areas appear in the document without changing this list.
#[tokio::test]
async fn every_route_is_documented() {
    let app = TestApp::new().await;
    let doc = served_doc(&app).await;
    let documented: BTreeSet<String> = operations(&doc).into_iter().map(|(name, _)| name).collect();
    let known = every_route();
    let missing: Vec<&String> = known.iter().filter(|r| !documented.contains(*r)).collect();
    assert!(missing.is_empty(), "undocumented routes: {missing:?}");
    for route in &known {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path
            .replace("{tailnet}", "-")
            .replace("{keyId}", "kAAAAAAAAAAAA")
            .replace("{id}", "tAAAAAAAAAAAA");
        let r = app.call(method.parse().unwrap(), &path, &Auth::Anonymous, None).await;
        assert_ne!(r.status, StatusCode::NOT_FOUND, "{route} is documented but not routed");
    }
}

#[tokio::test]
async fn security_is_basic_or_bearer_except_on_the_public_routes() {
    let app = TestApp::new().await;
    let doc = served_doc(&app).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["basic"]["type"], "http");
    assert_eq!(schemes["basic"]["scheme"], "basic");
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(doc["security"], json!([{ "basic": [] }, { "bearer": [] }]));

    let public = ["GET /api/v2/openapi.json", "POST /api/v2/oauth/token"];
    for (name, op) in operations(&doc) {
        let responses = op["responses"].as_object().expect("responses");
        assert!(responses.contains_key("200"), "{name}");
        if public.contains(&name.as_str()) {
            assert_eq!(op["security"], json!([{}]), "{name} needs no credentials");
            continue;
        }
        assert!(op.get("security").is_none(), "{name} uses the default security");
        for status in ["400", "401", "403", "404"] {
            let body = &responses[status]["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(body, "#/components/schemas/ErrorBody", "{name} {status}");
        }
        if op.get("requestBody").is_some() {
            for status in ["413", "415"] {
                assert!(responses.contains_key(status), "{name} {status}");
            }
        }
    }
}

#[tokio::test]
async fn request_and_response_schemas_are_the_api_types() {
    let app = TestApp::new().await;
    let doc = served_doc(&app).await;
    let op = |path: &str, method: &str| doc["paths"][path][method].clone();
    let schema_ref = |v: &Value| v["content"]["application/json"]["schema"]["$ref"].clone();

    let create = op("/api/v2/tailnet/{tailnet}/keys", "post");
    assert_eq!(schema_ref(&create["requestBody"]), "#/components/schemas/CreateKeyBodyDoc");
    assert_eq!(schema_ref(&create["responses"]["200"]), "#/components/schemas/AnyKey");
    let either = &doc["components"]["schemas"]["AnyKey"]["oneOf"];
    assert_eq!(
        either,
        &json!([{ "$ref": "#/components/schemas/Key" }, { "$ref": "#/components/schemas/OAuthClientKey" }])
    );
    let key = &doc["components"]["schemas"]["Key"];
    let required: BTreeSet<&str> =
        key["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for field in [
        "id",
        "keyType",
        "created",
        "expires",
        "expirySeconds",
        "invalid",
        "capabilities",
        "userId",
    ] {
        assert!(required.contains(field), "Key.{field} is required");
    }
    assert!(!required.contains("key") && !required.contains("revoked"));
    assert_eq!(key["properties"]["expirySeconds"]["type"], "integer");

    let token = op("/api/v2/oauth/token", "post");
    let form = &token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
    assert_eq!(form["$ref"], "#/components/schemas/TokenForm");
    assert_eq!(schema_ref(&token["responses"]["200"]), "#/components/schemas/TokenResponse");
    for status in ["400", "401"] {
        assert_eq!(schema_ref(&token["responses"][status]), "#/components/schemas/OAuthErrorBody");
    }

    let audit = op("/api/v2/tailnet/{tailnet}/audit", "get");
    let params: BTreeSet<&str> = audit["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, BTreeSet::from(["tailnet", "actor", "action", "target", "since", "limit"]));
}

/// Every `$ref` in `value`.
fn refs(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        out.insert(r.clone());
                    }
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_reference_resolves_and_the_tailnet_is_an_enum() {
    let app = TestApp::new().await;
    let doc = served_doc(&app).await;
    let mut all = BTreeSet::new();
    refs(&doc, &mut all);
    assert!(all.contains("#/components/schemas/TokenResponse"), "{all:?}");
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").expect("a schema reference");
        assert!(doc["components"]["schemas"].get(name).is_some(), "{r} does not resolve");
    }
    assert_eq!(doc["components"]["schemas"]["TailnetName"]["enum"], json!(["-", "keygate"]));
}
