//! `GET /api`: the API reference for people, rendered on the server from the same OpenAPI
//! document as `/openapi.json`, so it cannot disagree with it. Plain HTML and one stylesheet
//! of its own: nothing runs, nothing is fetched from elsewhere.

use std::{fmt::Write, sync::LazyLock};

use axum::{
    http::{HeaderValue, header},
    response::{Html, IntoResponse},
};
use serde_json::{Map, Value};

use super::openapi::DOCUMENT;

/// Where the page's stylesheet is served.
pub const STYLESHEET: &str = "/api/reference.css";

/// The page allows its own stylesheet and nothing else.
const POLICY: &str = "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Rendered once, like the document.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    let doc = serde_json::to_value(&*DOCUMENT).unwrap_or_default();
    render(&doc)
});

/// `GET /api`.
pub async fn page() -> impl IntoResponse {
    ([(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY))], Html(PAGE.as_str()))
}

/// `GET /api/reference.css`.
pub async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("reference.css"))
}

/// `text` escaped for HTML, with `code spans` as `<code>`: the descriptions are the doc
/// comments of the Rust types, written with backticks.
fn prose(text: &str) -> String {
    let escaped = html_escape::encode_text(text);
    let mut out = String::with_capacity(escaped.len());
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn attr(text: &str) -> String {
    html_escape::encode_double_quoted_attribute(text).into_owned()
}

/// The name a `$ref` points to.
fn ref_name(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

/// A schema as a short phrase: a link for a named schema, the type otherwise.
fn type_of(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = ref_name(reference);
        return format!(r##"<a href="#schema-{}">{}</a>"##, attr(name), prose(name));
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let parts: Vec<String> = options.iter().map(type_of).collect();
            return parts.join(if key == "allOf" { " and " } else { " or " });
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let values: Vec<String> =
            values.iter().map(|v| format!("<code>{}</code>", prose(&v.to_string()))).collect();
        return format!("one of {}", values.join(", "));
    }
    let types: Vec<String> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => vec!["any".into()],
    };
    let phrases: Vec<String> = types
        .iter()
        .map(|t| match t.as_str() {
            "array" => format!("array of {}", schema.get("items").map_or("any".into(), type_of)),
            "string" => match schema.get("format").and_then(Value::as_str) {
                Some(format) => format!("string ({})", prose(format)),
                None => "string".into(),
            },
            other => prose(other),
        })
        .collect();
    phrases.join(" or ")
}

fn description(value: &Value) -> String {
    value.get("description").and_then(Value::as_str).map(prose).unwrap_or_default()
}

/// An operation's or a webhook's article: what it does, who may, what it takes and answers.
fn operation(out: &mut String, anchor: &str, method: &str, target: &str, op: &Value) {
    let _ = write!(
        out,
        r#"<article id="{}"><h3><span class="method">{}</span> <code>{}</code></h3>"#,
        attr(anchor),
        method.to_uppercase(),
        prose(target)
    );
    if let Some(summary) = op.get("summary").and_then(Value::as_str) {
        let _ = write!(out, "<p>{}</p>", prose(summary));
    }
    if let Some(text) = op.get("description").and_then(Value::as_str) {
        let _ = write!(out, "<p>{}</p>", prose(text));
    }
    if let Some(security) = op.get("security").and_then(Value::as_array) {
        let scopes: Vec<&str> = security
            .iter()
            .filter_map(|s| s.get("api_key")?.as_array()?.first()?.as_str())
            .collect();
        let _ = write!(
            out,
            "<p class=\"needs\">Needs a dashboard login or an API key with the <code>{}</code> scope.</p>",
            prose(&scopes.join(", "))
        );
    } else if !target.contains('.') {
        out.push_str("<p class=\"needs\">Public: no credentials.</p>");
    }
    if let Some(params) = op.get("parameters").and_then(Value::as_array) {
        out.push_str("<table><thead><tr><th>Parameter</th><th>In</th><th>Type</th><th>Description</th></tr></thead><tbody>");
        for p in params {
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                prose(p["name"].as_str().unwrap_or_default()),
                prose(p["in"].as_str().unwrap_or_default()),
                p.get("schema").map(type_of).unwrap_or_default(),
                description(p)
            );
        }
        out.push_str("</tbody></table>");
    }
    if let Some(body) = op.pointer("/requestBody/content/application~1json/schema") {
        let _ = write!(out, "<p>Body (JSON): {}</p>", type_of(body));
        if let Some(properties) = body.get("properties").and_then(Value::as_object) {
            properties_table(out, properties, body.get("required"));
        }
    }
    if let Some(responses) = op.get("responses").and_then(Value::as_object) {
        // The refusals every protected route shares are listed once, under Errors.
        let (errors, answers): (Vec<_>, Vec<_>) =
            responses.iter().partition(|(_, response)| response_schema(response) == Some(ERROR));
        out.push_str(
            "<table><thead><tr><th>Answer</th><th>Body</th><th>Meaning</th></tr></thead><tbody>",
        );
        for (code, response) in answers {
            let body = response_body(response).map(type_of).unwrap_or_default();
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{body}</td><td>{}</td></tr>",
                prose(code),
                description(response)
            );
        }
        out.push_str("</tbody></table>");
        if !errors.is_empty() {
            let codes: Vec<&str> = errors.iter().map(|(code, _)| code.as_str()).collect();
            let _ = write!(
                out,
                r##"<p class="needs">Or an <a href="#errors">error</a>: {}.</p>"##,
                prose(&codes.join(", "))
            );
        }
    }
    out.push_str("</article>");
}

/// The schema every error answer has.
const ERROR: &str = "AppError";

/// A response's JSON body schema, if it has one.
fn response_body(response: &Value) -> Option<&Value> {
    response.get("content")?.as_object()?.values().next()?.get("schema")
}

/// The name of the schema a response's body refers to.
fn response_schema(response: &Value) -> Option<&str> {
    response_body(response)?.get("$ref")?.as_str().map(ref_name)
}

/// What each error status means, as the operation that lists the most of them says it.
fn errors(out: &mut String, paths: &Map<String, Value>) {
    let responses = paths
        .values()
        .filter_map(Value::as_object)
        .flat_map(|item| item.values())
        .filter_map(|op| op.get("responses").and_then(Value::as_object))
        .max_by_key(|r| r.values().filter(|r| response_schema(r) == Some(ERROR)).count());
    let _ = write!(
        out,
        r##"<section id="errors"><h2>Errors</h2><p>Every error is JSON, an <a href="#schema-{ERROR}">{ERROR}</a>: <code>{{"error": "&lt;code&gt;", "message": "…"}}</code>, the code stable for machines, the message for people.</p><table><thead><tr><th>Status</th><th>Meaning</th></tr></thead><tbody>"##
    );
    for (code, response) in responses.into_iter().flatten() {
        if response_schema(response) == Some(ERROR) {
            let _ =
                write!(out, "<tr><td>{}</td><td>{}</td></tr>", prose(code), description(response));
        }
    }
    out.push_str("</tbody></table></section>");
}

fn properties_table(out: &mut String, properties: &Map<String, Value>, required: Option<&Value>) {
    let required: Vec<&str> = required
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    out.push_str(
        "<table><thead><tr><th>Field</th><th>Type</th><th>Description</th></tr></thead><tbody>",
    );
    for (name, schema) in properties {
        let optional =
            if required.contains(&name.as_str()) { "" } else { " <small>(optional)</small>" };
        let _ = write!(
            out,
            "<tr><td><code>{}</code>{optional}</td><td>{}</td><td>{}</td></tr>",
            prose(name),
            type_of(schema),
            description(schema)
        );
    }
    out.push_str("</tbody></table>");
}

/// The whole page.
fn render(doc: &Value) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = doc.pointer("/info/title").and_then(Value::as_str).unwrap_or("Lifeline");
    let _ = write!(
        out,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{} API</title><link rel="stylesheet" href="{STYLESHEET}"></head><body><main><h1>{} API</h1><p>{}</p><p>The same, machine-readable: <a href="/openapi.json"><code>/openapi.json</code></a> (OpenAPI 3.1).</p>"#,
        prose(title),
        prose(title),
        description(&doc["info"])
    );
    let tags: Vec<(&str, String)> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| (t["name"].as_str().unwrap_or_default(), description(t)))
        .collect();
    out.push_str("<nav aria-label=\"Contents\"><ul>");
    for (tag, _) in &tags {
        let _ = write!(out, r##"<li><a href="#tag-{}">{}</a></li>"##, attr(tag), prose(tag));
    }
    out.push_str(r##"<li><a href="#errors">Errors</a></li><li><a href="#webhooks">Webhook events</a></li><li><a href="#schemas">Schemas</a></li></ul></nav>"##);
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    errors(&mut out, &paths);
    for (tag, text) in &tags {
        let _ =
            write!(out, r#"<section id="tag-{}"><h2>{}</h2><p>{text}</p>"#, attr(tag), prose(tag));
        for (path, item) in &paths {
            for (method, op) in item.as_object().into_iter().flatten() {
                let tagged = op["tags"].as_array().is_some_and(|t| t.iter().any(|x| x == tag));
                if tagged {
                    let id = op["operationId"].as_str().unwrap_or_default();
                    operation(&mut out, &format!("op-{id}"), method, path, op);
                }
            }
        }
        out.push_str("</section>");
    }
    out.push_str("<section id=\"webhooks\"><h2>Webhook events</h2><p>What Lifeline POSTs to each webhook endpoint, by event type.</p>");
    for (event, item) in doc["webhooks"].as_object().into_iter().flatten() {
        operation(&mut out, &format!("webhook-{event}"), "post", event, &item["post"]);
    }
    out.push_str("</section><section id=\"schemas\"><h2>Schemas</h2>");
    for (name, schema) in
        doc.pointer("/components/schemas").and_then(Value::as_object).into_iter().flatten()
    {
        let _ = write!(
            out,
            r#"<article id="schema-{}"><h3>{}</h3><p>{}</p>"#,
            attr(name),
            prose(name),
            description(schema)
        );
        match schema.get("properties").and_then(Value::as_object) {
            Some(properties) => properties_table(&mut out, properties, schema.get("required")),
            None => {
                let _ = write!(out, "<p>{}</p>", type_of(schema));
            }
        }
        out.push_str("</article>");
    }
    out.push_str("</section></main></body></html>");
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn descriptions_are_escaped_and_code_spans_kept() {
        assert_eq!(prose("a `<b>` & c"), "a <code>&lt;b&gt;</code> &amp; c");
    }

    #[test]
    fn types_read_as_phrases_with_links_to_schemas() {
        assert_eq!(
            type_of(&json!({"$ref": "#/components/schemas/SessionView"})),
            r##"<a href="#schema-SessionView">SessionView</a>"##
        );
        assert_eq!(type_of(&json!({"type": ["string", "null"]})), "string or null");
        let list = json!({"type": "array", "items": {"type": "string", "format": "date-time"}});
        assert_eq!(type_of(&list), "array of string (date-time)");
        assert_eq!(
            type_of(&json!({"enum": ["a", "b"]})),
            "one of <code>\"a\"</code>, <code>\"b\"</code>"
        );
    }

    #[test]
    fn every_operation_webhook_and_schema_has_its_anchor() {
        let doc = serde_json::to_value(&*DOCUMENT).unwrap();
        let page = render(&doc);
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                let id = op["operationId"].as_str().unwrap();
                assert!(page.contains(&format!("id=\"op-{id}\"")), "{id}");
            }
        }
        for event in doc["webhooks"].as_object().unwrap().keys() {
            assert!(page.contains(&format!("id=\"webhook-{event}\"")), "{event}");
        }
        for (name, _) in doc["components"]["schemas"].as_object().unwrap() {
            assert!(page.contains(&format!("id=\"schema-{name}\"")), "{name}");
        }
        // Every link inside the page lands on an anchor of the page.
        for link in page.split("href=\"#").skip(1) {
            let target = &link[..link.find('"').unwrap()];
            assert!(page.contains(&format!("id=\"{target}\"")), "dangling link #{target}");
        }
    }
}
