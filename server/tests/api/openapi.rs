//! The OpenAPI document at `/openapi.json`: valid OpenAPI 3.1 for an independent
//! validator, and true to the server it comes from.

use app::model::webhooks::EventType;
use serde_json::Value;

use crate::helpers::{python_tool, spawn_app};

#[tokio::test]
async fn the_document_is_valid_openapi_3_1_and_every_documented_route_is_served() {
    let app = spawn_app().await;
    let r = app.anonymous().get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the document is public");
    let text = r.text().await.unwrap();
    let said = python_tool("validate-openapi", text.clone()).await;
    assert_eq!(said.as_deref(), Ok("valid"), "openapi-spec-validator: {said:?}");

    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    // Every event type has its webhook, its body described.
    let webhooks = doc["webhooks"].as_object().expect("no webhooks section");
    for event in EventType::ALL {
        let body = &webhooks[event.as_str()]["post"]["requestBody"]["content"]["application/json"];
        assert_eq!(body["schema"]["properties"]["type"]["enum"][0], event.as_str());
    }
    assert_eq!(webhooks.len(), EventType::ALL.len());

    // Each documented operation is routed: without credentials a protected one answers 401
    // (not 404 or 405), a public one answers.
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20, "{:?}", paths.keys());
    for (path, item) in paths {
        let url = app.url(&path.replace("{id}", "nosuch").replace("{name}", "nosuch"));
        for (method, operation) in item.as_object().unwrap() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = app.anonymous().request(method.clone(), &url).send().await.unwrap();
            let public = operation.get("security").is_none();
            let status = r.status().as_u16();
            if public {
                assert!(status == 200 || status == 503, "{method} {path}: {status}");
            } else {
                assert_eq!(status, 401, "{method} {path}");
            }
            let documented = operation["responses"].as_object().unwrap();
            assert!(documented.contains_key(&status.to_string()), "{method} {path}: {status}");
        }
    }
    app.stop().await;
}
