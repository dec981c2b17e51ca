//! The OpenAPI document at `/openapi.json`: valid OpenAPI 3.1 for an independent
//! validator, and true to the server it comes from.

use app::model::webhooks::EventType;
use serde_json::Value;

use crate::helpers::{API_KEY, python_tool, spawn_app, test_python};

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

/// How many requests schemathesis generates per operation and phase: enough to reach every
/// field's edge cases, few enough for a few seconds per run.
const EXAMPLES: &str = "30";

#[tokio::test]
async fn generated_requests_get_no_5xx_and_every_answer_matches_the_document() {
    let app = spawn_app().await;
    let schemathesis = test_python().with_file_name("schemathesis");
    let dir = tempfile::tempdir().unwrap();
    let url = app.url("/openapi.json");
    let api_key = format!("x-api-key: {API_KEY}");
    // Every check but `positive_data_acceptance`, which takes any request the document
    // allows to be one the server must accept: the document states types and required
    // fields, not every rule (trimmed names, phone numbers, known connectors), and those are
    // refused with a 422 saying why, as documented.
    let run = tokio::process::Command::new(schemathesis)
        .current_dir(dir.path())
        .args(["run", &url, "-H", &api_key, "--checks", "all"])
        .args(["--exclude-checks", "positive_data_acceptance", "--max-examples", EXAMPLES])
        .args(["--seed", "1", "--generation-database", "none", "--no-color"])
        .args(["--request-timeout", "10", "--max-failures", "20"])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(300), run)
        .await
        .expect("schemathesis took over 5 minutes")
        .expect("cannot run schemathesis: `make test-tools` installs it");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "schemathesis found problems:\n{said}");
    assert!(said.contains(" passed"), "{said}");
    app.stop().await;
}
