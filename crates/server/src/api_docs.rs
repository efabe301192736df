//! `GET /api/docs`: the OpenAPI document rendered as one HTML page (operations with their
//! parameters, bodies and responses, then the schemas), drawn on the server from the same
//! `openapi::document()` that `/api/openapi.json` serves, so the two cannot disagree.

use serde_json::Value;

use crate::auth::Auth;
use crate::dashboard::{esc, layout, Nav};

fn ref_name(v: &Value) -> Option<&str> {
    v.get("$ref")?.as_str()?.rsplit('/').next()
}

/// A short type description: `Call`, `array of Turn`, `string?`.
fn type_of(schema: &Value) -> String {
    if let Some(name) = ref_name(schema) {
        return format!("<a href=\"#schema-{0}\">{0}</a>", esc(name));
    }
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or("any");
    let base = if ty == "array" {
        format!("array of {}", type_of(&schema["items"]))
    } else if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let v: Vec<String> = values.iter().map(|v| esc(&v.to_string())).collect();
        format!("{ty} ({})", v.join(" | "))
    } else {
        esc(ty)
    };
    if schema.get("nullable") == Some(&Value::Bool(true)) {
        format!("{base}?")
    } else {
        base
    }
}

fn text(v: &Value) -> String {
    esc(v.as_str().unwrap_or_default())
}

fn operation(method: &str, path: &str, op: &Value) -> String {
    let params: String = op["parameters"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    format!(
                        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        text(&p["name"]),
                        text(&p["in"]),
                        type_of(&p["schema"]),
                        text(&p["description"])
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let params = if params.is_empty() {
        String::new()
    } else {
        format!(
            "<table><thead><tr><th>Parameter</th><th>In</th><th>Type</th><th>Meaning</th></tr></thead>\
             <tbody>{params}</tbody></table>"
        )
    };
    let body = op["requestBody"]["content"]
        .as_object()
        .map(|content| {
            content
                .iter()
                .map(|(ct, c)| {
                    format!(
                        "<p>Body (<code>{}</code>): {}</p>",
                        esc(ct),
                        type_of(&c["schema"])
                    )
                })
                .collect::<String>()
        })
        .unwrap_or_default();
    let responses: String = op["responses"]
        .as_object()
        .map(|rs| {
            rs.iter()
                .map(|(code, r)| {
                    let what = match ref_name(r) {
                        Some(_) => "error: <a href=\"#schema-Error\">Error</a>".to_owned(),
                        None => r["content"]["application/json"]["schema"]
                            .as_object()
                            .map(|_| type_of(&r["content"]["application/json"]["schema"]))
                            .unwrap_or_default(),
                    };
                    format!("<li><code>{}</code> {what}</li>", esc(code))
                })
                .collect()
        })
        .unwrap_or_default();
    let anchor = format!("{method}-{path}").replace(['/', '{', '}'], "-");
    format!(
        "<div class=\"card\" id=\"{anchor}\"><h2 style=\"margin-top:0\"><span class=\"pill\">{}</span> \
         <code>{}</code></h2><p>{} <span class=\"muted\">{}</span></p>{params}{body}\
         <p style=\"margin-bottom:0\">Responses:</p><ul style=\"margin-top:.2rem\">{responses}</ul></div>",
        esc(&method.to_uppercase()),
        esc(path),
        text(&op["summary"]),
        text(&op["description"]),
        anchor = esc(&anchor),
    )
}

fn schema(name: &str, s: &Value) -> String {
    let rows: String = s["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .map(|(k, v)| {
                    format!(
                        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                        esc(k),
                        type_of(v),
                        text(&v["description"])
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "<div class=\"card\" id=\"schema-{0}\"><h2 style=\"margin-top:0\">{0}</h2>\
         <table><thead><tr><th>Field</th><th>Type</th><th>Meaning</th></tr></thead><tbody>{rows}</tbody></table></div>",
        esc(name)
    )
}

/// The page's HTML body for `doc`.
pub(crate) fn render(doc: &Value) -> String {
    let mut ops = String::new();
    let mut index = String::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, methods) in paths {
            for (method, op) in methods.as_object().into_iter().flatten() {
                let anchor = format!("{method}-{path}").replace(['/', '{', '}'], "-");
                index.push_str(&format!(
                    "<li><a href=\"#{}\"><code>{} {}</code></a> {}</li>",
                    esc(&anchor),
                    esc(&method.to_uppercase()),
                    esc(path),
                    text(&op["summary"])
                ));
                ops.push_str(&operation(method, path, op));
            }
        }
    }
    let schemas: String = doc["components"]["schemas"]
        .as_object()
        .map(|s| s.iter().map(|(n, v)| schema(n, v)).collect())
        .unwrap_or_default();
    let security: String = doc["components"]["securitySchemes"]
        .as_object()
        .map(|s| {
            s.iter()
                .map(|(n, v)| {
                    format!(
                        "<li><b>{}</b> ({}): {}</li>",
                        esc(n),
                        text(&v["type"]),
                        text(&v["description"])
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!(
        "<h1>{title} <span class=\"muted\" style=\"font-size:.9rem\">{version} · OpenAPI {oa}</span></h1>\
         <p>{description}</p><p>Machine-readable: <a href=\"/api/openapi.json\">/api/openapi.json</a></p>\
         <h2>Authentication</h2><ul>{security}</ul>\
         <h2>Operations</h2><ul>{index}</ul>{ops}<h2>Schemas</h2>{schemas}",
        title = text(&doc["info"]["title"]),
        version = text(&doc["info"]["version"]),
        oa = text(&doc["openapi"]),
        description = text(&doc["info"]["description"]),
    )
}

/// `GET /api/docs`.
pub(crate) async fn page(auth: Auth) -> axum::response::Html<String> {
    let body = render(&crate::openapi::document());
    layout(&auth, "API docs", Nav::Docs, &body, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_list_every_operation_and_schema() {
        let doc = crate::openapi::document();
        let html = render(&doc);
        for (path, methods) in doc["paths"].as_object().unwrap() {
            for method in methods.as_object().unwrap().keys() {
                assert!(
                    html.contains(&format!(
                        "<code>{} {}</code>",
                        method.to_uppercase(),
                        esc(path)
                    )),
                    "{method} {path} missing from the docs page"
                );
            }
        }
        assert!(html.contains("id=\"schema-CallDetail\""));
        assert!(html.contains("bearerAuth"));
    }
}
