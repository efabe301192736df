//! The OpenAPI 3.0 description of `/api/v1`, served at `GET /api/openapi.json` and rendered as
//! HTML at `GET /api/docs` (see `api_docs.rs`). Written by hand next to the route table; a test
//! holds the two together (every `/api/v1` route documented, every documented path routed).

use axum::http::Method;
use axum::routing::get;
use axum::Json;
use serde_json::{json, Map, Value};

use crate::auth::Auth;
use crate::routes::{route, Access, RouteSpec};

/// `/api/openapi.json` and `/api/docs`.
pub(crate) fn routes() -> Vec<RouteSpec> {
    vec![
        route(
            Method::GET,
            "/api/openapi.json",
            Access::User,
            get(openapi_json),
        ),
        route(
            Method::GET,
            "/api/docs",
            Access::User,
            get(crate::api_docs::page),
        ),
    ]
}

async fn openapi_json(_auth: Auth) -> Json<Value> {
    Json(document())
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn query(name: &str, ty: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description,
           "schema": {"type": ty}})
}

fn path_param(name: &str, ty: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description,
           "schema": {"type": ty}})
}

fn page_params() -> Vec<Value> {
    vec![
        query("limit", "integer", "Page size (1 to 200; 50 when absent)."),
        query(
            "cursor",
            "integer",
            "The previous page's `next_cursor`: rows older than it.",
        ),
    ]
}

/// One operation. `role` is the least role that may call it; `body` the request body schema.
struct Op {
    summary: &'static str,
    role: &'static str,
    params: Vec<Value>,
    body: Option<(&'static str, Value)>,
    ok_status: &'static str,
    /// Media type of the success response.
    produces: &'static str,
    ok: Value,
    errors: &'static [&'static str],
    /// Responses without the JSON error body: (status, description).
    plain: Vec<(&'static str, &'static str)>,
}

impl Op {
    fn get(summary: &'static str, ok: Value) -> Op {
        Op {
            summary,
            role: "viewer",
            params: Vec::new(),
            body: None,
            ok_status: "200",
            produces: "application/json",
            ok,
            errors: &["400", "401", "403"],
            plain: Vec::new(),
        }
    }

    fn post(summary: &'static str, ok_status: &'static str, ok: Value) -> Op {
        Op {
            summary,
            role: "supervisor",
            params: Vec::new(),
            body: None,
            ok_status,
            produces: "application/json",
            ok,
            errors: &["400", "401", "403"],
            plain: Vec::new(),
        }
    }

    fn params(mut self, p: Vec<Value>) -> Op {
        self.params.extend(p);
        self
    }

    fn body(mut self, content_type: &'static str, schema: Value) -> Op {
        self.body = Some((content_type, schema));
        self
    }

    fn role(mut self, role: &'static str) -> Op {
        self.role = role;
        self
    }

    fn errors(mut self, e: &'static [&'static str]) -> Op {
        self.errors = e;
        self
    }

    fn produces(mut self, media_type: &'static str) -> Op {
        self.produces = media_type;
        self
    }

    fn plain(mut self, status: &'static str, description: &'static str) -> Op {
        self.plain.push((status, description));
        self
    }

    fn into_json(self) -> Value {
        let mut responses = Map::new();
        responses.insert(
            self.ok_status.into(),
            json!({"description": "Success.",
                   "content": {self.produces: {"schema": self.ok}}}),
        );
        for (code, description) in self.plain {
            responses.insert(code.into(), json!({ "description": description }));
        }
        for code in self.errors.iter().chain(&["500"]) {
            responses.insert(
                (*code).into(),
                json!({"$ref": format!("#/components/responses/E{code}")}),
            );
        }
        let mut op = json!({
            "summary": self.summary,
            "description": format!("Needs the `{}` role or higher.", self.role),
            "x-required-role": self.role,
            "parameters": self.params,
            "responses": responses,
        });
        if let Some((ct, schema)) = self.body {
            op["requestBody"] = json!({"required": true, "content": {ct: {"schema": schema}}});
        }
        op
    }
}

/// Every documented operation: (method, path, operation).
fn operations() -> Vec<(Method, &'static str, Op)> {
    let call_filters = vec![
        query(
            "direction",
            "string",
            "inbound, outbound (any outbound-*), web …",
        ),
        query(
            "status",
            "string",
            "Current Twilio status: completed, in-progress, no-answer …",
        ),
        query("agent", "string", "Agent key."),
        query("campaign", "integer", "Campaign id."),
        query(
            "from",
            "string",
            "Created at or after: YYYY-MM-DD (UTC), RFC 3339 or epoch ms.",
        ),
        query(
            "to",
            "string",
            "Created before; a YYYY-MM-DD date includes that day.",
        ),
        query(
            "q",
            "string",
            "Text said in any turn (case-insensitive substring).",
        ),
    ];
    let sid = || path_param("sid", "string", "Twilio CallSid (or the web call's id).");
    let id = || path_param("id", "integer", "Campaign id.");
    let list_of = |item: &str| {
        json!({"type": "object", "properties": {
            "data": {"type": "array", "items": schema_ref(item)},
            "next_cursor": {"type": "integer", "nullable": true}}})
    };
    let data_of = |item: &str| {
        json!({"type": "object", "properties": {
            "data": {"type": "array", "items": schema_ref(item)}}})
    };
    use Method as M;
    vec![
        (
            M::GET,
            "/api/v1/me",
            Op::get(
                "Who is asking (and the session's CSRF token)",
                schema_ref("Me"),
            ),
        ),
        (
            M::GET,
            "/api/v1/calls",
            Op::get("List calls, newest first", list_of("Call"))
                .params(call_filters)
                .params(page_params()),
        ),
        (
            M::POST,
            "/api/v1/calls",
            Op::post(
                "Place or schedule one outbound call",
                "202",
                schema_ref("ScheduledCall"),
            )
            .body("application/json", schema_ref("NewCall"))
            .errors(&["400", "401", "403", "422"]),
        ),
        (
            M::GET,
            "/api/v1/calls/{sid}",
            Op::get(
                "One call: turns with timings, events, status history",
                schema_ref("CallDetail"),
            )
            .params(vec![sid()])
            .errors(&["401", "403", "404"]),
        ),
        (
            M::GET,
            "/api/v1/calls/{sid}/turns",
            Op::get("A call's transcript", data_of("Turn"))
                .params(vec![sid()])
                .errors(&["401", "403", "404"]),
        ),
        (
            M::GET,
            "/api/v1/calls/{sid}/recording",
            Op::get(
                "The call's recording (mono 8 kHz WAV of both sides)",
                json!({"type": "string", "format": "binary"}),
            )
            .produces("audio/wav")
            .params(vec![sid()])
            .errors(&["401", "403"])
            .plain(
                "404",
                "No recording: recording is off, or none was saved for this call.",
            ),
        ),
        (
            M::GET,
            "/api/v1/contacts",
            Op::get("List contacts, newest first", list_of("Contact"))
                .params(vec![query(
                    "q",
                    "string",
                    "Name, phone, company or email contains.",
                )])
                .params(page_params()),
        ),
        (
            M::POST,
            "/api/v1/contacts/import",
            Op::post(
                "Import contacts from CSV",
                "200",
                schema_ref("ImportReport"),
            )
            .params(vec![
                query("dry_run", "boolean", "Validate only; store nothing."),
                query(
                    "region",
                    "string",
                    "Default region for national numbers (US).",
                ),
            ])
            .body("text/csv", json!({"type": "string"})),
        ),
        (
            M::GET,
            "/api/v1/agents",
            Op::get("The configured agents", data_of("Agent")),
        ),
        (
            M::GET,
            "/api/v1/stats/daily",
            Op::get(
                "Calls, answered calls and median latency per UTC day",
                data_of("DayStats"),
            )
            .params(vec![query(
                "days",
                "integer",
                "How many days up to today (1 to 366; 14).",
            )]),
        ),
        (
            M::GET,
            "/api/v1/audit",
            Op::get("The audit log, newest first", list_of("AuditEntry"))
                .params(page_params())
                .role("admin"),
        ),
        (
            M::GET,
            "/api/v1/campaigns",
            Op::get("List campaigns with progress", data_of("Campaign")),
        ),
        (
            M::POST,
            "/api/v1/campaigns",
            Op::post(
                "Create a draft campaign",
                "201",
                json!({"type": "object", "properties": {
                "id": {"type": "integer"}, "contacts": {"type": "integer"},
                "state": {"type": "string"}}}),
            )
            .body("application/json", schema_ref("NewCampaign")),
        ),
        (
            M::GET,
            "/api/v1/campaigns/{id}",
            Op::get("One campaign with progress", schema_ref("Campaign"))
                .params(vec![id()])
                .errors(&["401", "403", "404"]),
        ),
        (
            M::POST,
            "/api/v1/campaigns/{id}/start",
            Op::post("Start dialing a campaign", "200", schema_ref("Campaign"))
                .params(vec![id()])
                .errors(&["401", "403", "404", "409"]),
        ),
        (
            M::POST,
            "/api/v1/campaigns/{id}/resume",
            Op::post("Resume a paused campaign", "200", schema_ref("Campaign"))
                .params(vec![id()])
                .errors(&["401", "403", "404", "409"]),
        ),
        (
            M::POST,
            "/api/v1/campaigns/{id}/pause",
            Op::post("Pause a campaign", "200", schema_ref("Campaign"))
                .params(vec![id()])
                .errors(&["401", "403", "404", "409"]),
        ),
        (
            M::GET,
            "/api/v1/campaigns/{id}/report",
            Op::get(
                "Per-contact report of a campaign",
                json!({"type": "object", "properties": {
                "campaign": schema_ref("Campaign"),
                "contacts": {"type": "array", "items": schema_ref("CampaignReportRow")}}}),
            )
            .params(vec![id()])
            .errors(&["401", "403", "404"]),
        ),
    ]
}

fn nullable(ty: &str) -> Value {
    json!({"type": ty, "nullable": true})
}

fn object(props: &[(&str, Value)]) -> Value {
    let props: Map<String, Value> = props
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    json!({"type": "object", "properties": props})
}

fn schemas() -> Value {
    let int = || json!({"type": "integer"});
    let s = || json!({"type": "string"});
    let ms = || json!({"type": "integer", "nullable": true, "description": "milliseconds"});
    json!({
        "Error": object(&[("error", object(&[("code", s()), ("message", s())]))]),
        "Me": object(&[("actor", s()), ("role", s()), ("csrf_token", nullable("string"))]),
        "Call": object(&[
            ("id", int()), ("call_sid", s()), ("account_sid", nullable("string")),
            ("stream_sid", nullable("string")), ("direction", nullable("string")),
            ("from_number", nullable("string")), ("to_number", nullable("string")),
            ("status", nullable("string")), ("agent", nullable("string")),
            ("contact_id", nullable("integer")),
            ("created_at", json!({"type": "integer", "description": "epoch ms"})),
            ("answered_at", nullable("integer")), ("ended_at", nullable("integer")),
            ("duration_ms", nullable("integer")), ("outcome", nullable("string")),
            ("outcome_detail", json!({"nullable": true, "description": "JSON recorded by the brain"})),
        ]),
        "TurnTimings": object(&[
            ("end_of_speech_to_transcript_ms", ms()), ("transcript_to_reply_ms", ms()),
            ("reply_to_first_audio_ms", ms()), ("end_of_speech_to_first_audio_ms", ms()),
        ]),
        "Turn": object(&[
            ("idx", int()), ("speaker", json!({"type": "string", "enum": ["caller", "agent"]})),
            ("text", s()), ("interrupted", json!({"type": "boolean"})),
            ("at_ms", json!({"type": "integer", "description": "offset from the call's start"})),
            ("timings", schema_ref("TurnTimings")), ("intent", nullable("string")),
            ("sentiment_label", nullable("string")), ("sentiment_score", nullable("number")),
        ]),
        "CallEvent": object(&[("at", int()), ("kind", s()), ("data", json!({"type": "object"}))]),
        "StatusEvent": object(&[
            ("status", s()), ("sequence_number", nullable("integer")),
            ("event_timestamp", nullable("string")), ("received_at", int()),
        ]),
        "CallDetail": object(&[
            ("call", schema_ref("Call")),
            ("turns", json!({"type": "array", "items": schema_ref("Turn")})),
            ("events", json!({"type": "array", "items": schema_ref("CallEvent")})),
            ("status_history", json!({"type": "array", "items": schema_ref("StatusEvent")})),
            ("recording_url", nullable("string")),
        ]),
        "Contact": object(&[
            ("id", int()), ("phone", s()), ("first_name", nullable("string")),
            ("last_name", nullable("string")), ("company", nullable("string")),
            ("email", nullable("string")), ("status", nullable("string")),
            ("timezone", nullable("string")),
            ("fields", json!({"type": "object", "additionalProperties": {"type": "string"}})),
            ("created_at", int()), ("updated_at", int()),
        ]),
        "Agent": object(&[
            ("key", s()), ("name", s()), ("language", s()), ("greeting", s()),
            ("default", json!({"type": "boolean"})),
        ]),
        "DayStats": object(&[
            ("day", json!({"type": "string", "format": "date"})), ("day_start_ms", int()),
            ("calls", int()), ("answered", int()), ("median_voice_to_voice_ms", nullable("integer")),
        ]),
        "AuditEntry": object(&[
            ("id", int()), ("at", int()), ("actor", s()), ("action", s()),
            ("target", nullable("string")), ("detail", json!({"type": "object"})),
            ("source", nullable("string")),
        ]),
        "Campaign": object(&[
            ("id", int()), ("name", s()), ("agent", nullable("string")),
            ("state", json!({"type": "string", "enum": ["draft", "running", "paused", "done"]})),
            ("settings", json!({"type": "object"})),
            ("progress", object(&[
                ("total", int()), ("pending", int()), ("dialing", int()), ("done", int()),
                ("skipped", int()), ("failed", int()),
                ("results", json!({"type": "object", "additionalProperties": {"type": "integer"}})),
            ])),
        ]),
        "CampaignReportRow": object(&[
            ("contact_id", int()), ("name", nullable("string")), ("phone", s()), ("tier", int()),
            ("state", s()), ("attempts", int()), ("last_result", nullable("string")),
            ("outcome", nullable("string")),
        ]),
        "NewCampaign": object(&[
            ("name", s()), ("agent", nullable("string")),
            ("contact_ids", json!({"type": "array", "items": {"type": "integer"}})),
            ("settings", json!({"type": "object", "description": "Dialer settings (windows, pacing, retries)."})),
        ]),
        "NewCall": object(&[
            ("to", s()), ("agent", nullable("string")),
            ("at", json!({"type": "string", "format": "date-time", "nullable": true})),
            ("region", nullable("string")),
        ]),
        "ScheduledCall": object(&[
            ("campaign_id", int()), ("to", s()),
            ("at", json!({"type": "string", "format": "date-time", "nullable": true})),
        ]),
        "ImportReport": object(&[
            ("imported", json!({"type": "array", "items": {"type": "object"}})),
            ("duplicates", json!({"type": "array", "items": {"type": "object"}})),
            ("rejected", json!({"type": "array", "items": {"type": "object"}})),
            ("contact_ids", json!({"type": "array", "items": {"type": "integer"}})),
        ]),
    })
}

fn error_responses() -> Value {
    let e = |description: &str| {
        json!({"description": description,
               "content": {"application/json": {"schema": schema_ref("Error")}}})
    };
    json!({
        "E400": e("The request is malformed (`invalid_request`)."),
        "E401": e("No or bad credentials (`unauthorized`)."),
        "E403": e("The role is too low (`forbidden`) or a session write lacks its CSRF token (`csrf`)."),
        "E404": e("No such resource (`not_found`)."),
        "E409": e("The resource's state forbids it (`campaign_done`)."),
        "E422": e("The number is on the do-not-call list (`do_not_call`)."),
        "E500": e("The server failed (`internal`); see its log."),
    })
}

/// The whole document.
pub(crate) fn document() -> Value {
    let mut paths = Map::new();
    for (method, path, op) in operations() {
        let entry = paths
            .entry(path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[method.as_str().to_lowercase()] = op.into_json();
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "callpilot API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Calls, turns, contacts, campaigns and agents of a callpilot server. \
                Send an API key as `Authorization: Bearer cpk_…` (created with `callpilot api-keys \
                create`), or use a dashboard session; session writes need the `X-CSRF-Token` header \
                (from `GET /api/v1/me`). Lists are newest first: pass `next_cursor` back as \
                `cursor`. Errors are `{\"error\": {\"code\", \"message\"}}`.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "An API key (`cpk_…`); its role applies."},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE,
                                  "description": "A dashboard session (sign in at /login)."},
            },
            "schemas": schemas(),
            "responses": error_responses(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        for piece in text.split("\"$ref\":\"#/components/").skip(1) {
            let target = piece.split('"').next().unwrap();
            let (kind, name) = target.split_once('/').unwrap();
            assert!(
                doc["components"][kind].get(name).is_some(),
                "dangling $ref {target}"
            );
        }
    }
}
