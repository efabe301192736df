//! The operator dashboard: server-rendered pages (overview with charts, the call list, one
//! call, live calls, campaigns) sharing one layout and nav bar. Pages read the store directly;
//! writes (campaign start/pause, sign out) go through the JSON API from the browser with the
//! session's CSRF token, so they are checked and audited in one place.

mod call_page;
mod charts;
mod live;

use axum::extract::{RawQuery, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use store::{CallRecord, CampaignState};

use crate::api_v1::{call_json, parse_query, CallQuery};
use crate::auth::{Auth, AuthError, Role};
use crate::routes::{route, Access, RouteSpec};
use crate::AppState;
use charts::{bar_chart, Bar};

const LAYOUT: &str = include_str!("../web/dashboard/layout.html");
const SCRIPT: &str = include_str!("../web/dashboard/dashboard.js");
/// Calls older than this with no end reported are not shown as live (their process died).
pub(crate) const LIVE_WINDOW_MS: i64 = 6 * 60 * 60 * 1000;

/// The dashboard's routes.
pub(crate) fn routes() -> Vec<RouteSpec> {
    use Access::User;
    vec![
        route(Method::GET, "/dashboard", User, get(overview)),
        route(Method::GET, "/dashboard/calls", User, get(calls)),
        route(
            Method::GET,
            "/dashboard/calls/{sid}",
            User,
            get(call_page::page),
        ),
        route(Method::GET, "/dashboard/live", User, get(live::page)),
        route(
            Method::GET,
            "/dashboard/live/events",
            User,
            get(live::events),
        ),
        route(Method::GET, "/dashboard/campaigns", User, get(campaigns)),
        route(
            Method::GET,
            "/dashboard/assets/dashboard.js",
            User,
            get(script),
        ),
        route(
            Method::GET,
            "/dashboard/assets/live.js",
            User,
            get(live::script),
        ),
    ]
}

/// Which nav entry is the current page.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Dashboard,
    Calls,
    Live,
    Campaigns,
    Docs,
}

const NAV: &[(Option<Nav>, &str, &str)] = &[
    (Some(Nav::Dashboard), "/dashboard", "Dashboard"),
    (Some(Nav::Calls), "/dashboard/calls", "Calls"),
    (Some(Nav::Live), "/dashboard/live", "Live"),
    (Some(Nav::Campaigns), "/dashboard/campaigns", "Campaigns"),
    (None, "/web/talk", "Talk"),
    (Some(Nav::Docs), "/api/docs", "API docs"),
];

/// A whole page: the layout with the nav bar, `body`, and extra `scripts` (HTML).
pub(crate) fn layout(
    auth: &Auth,
    title: &str,
    active: Nav,
    body: &str,
    scripts: &str,
) -> Html<String> {
    let nav: String = NAV
        .iter()
        .map(|(which, href, label)| {
            let class = if *which == Some(active) {
                " class=\"active\" aria-current=\"page\""
            } else {
                ""
            };
            format!("<a href=\"{href}\"{class}>{label}</a>")
        })
        .collect();
    let who = format!("{} ({})", auth.0.actor, auth.0.role);
    // Placeholders are replaced body-last so text inside the body is never re-substituted.
    Html(
        LAYOUT
            .replace("{{TITLE}}", &esc(title))
            .replace("{{CSRF}}", &esc(auth.0.csrf.as_deref().unwrap_or_default()))
            .replace("{{NAV}}", &nav)
            .replace("{{WHO}}", &esc(&who))
            .replace("{{SCRIPTS}}", scripts)
            .replace("{{BODY}}", body),
    )
}

/// A page that could not be shown: the login redirect, 403, or a short HTML error.
pub(crate) struct PageError(Response);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.0
    }
}

impl From<AuthError> for PageError {
    fn from(e: AuthError) -> Self {
        PageError(e.into_response())
    }
}

impl PageError {
    pub(crate) fn store(e: store::StoreError) -> PageError {
        tracing::error!(error = %e, "dashboard page failed");
        PageError::status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The page could not be loaded; see the server log.",
        )
    }

    pub(crate) fn status(status: StatusCode, message: &str) -> PageError {
        PageError(
            (
                status,
                Html(format!(
                    "<!doctype html><title>callpilot</title><p>{}</p><p><a href=\"/dashboard\">Back to the dashboard</a></p>",
                    esc(message)
                )),
            )
                .into_response(),
        )
    }
}

pub(crate) type PageResult = Result<Html<String>, PageError>;

/// HTML-escapes text for element content and quoted attributes.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query value.
pub(crate) fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Epoch ms as `YYYY-MM-DD HH:MM:SS` UTC.
pub(crate) fn fmt_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// A duration in ms as `1m 05s` / `42s`.
pub(crate) fn fmt_duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

pub(crate) fn status_pill(status: Option<&str>) -> String {
    let s = status.unwrap_or("unknown");
    format!("<span class=\"pill {0}\">{0}</span>", esc(s))
}

/// One row of a call table.
fn call_row(c: &CallRecord) -> String {
    let j = call_json(c);
    let duration = j["duration_ms"]
        .as_i64()
        .map(fmt_duration)
        .unwrap_or_default();
    format!(
        "<tr><td><a href=\"/dashboard/calls/{sid_url}\">{time}</a></td><td>{dir}</td><td>{from}</td>\
         <td>{to}</td><td>{agent}</td><td>{status}</td><td>{duration}</td><td>{outcome}</td></tr>",
        sid_url = url_encode(&c.call_sid),
        time = fmt_time(c.created_at),
        dir = esc(c.direction.as_deref().unwrap_or("")),
        from = esc(c.from_number.as_deref().unwrap_or("")),
        to = esc(c.to_number.as_deref().unwrap_or("")),
        agent = esc(c.agent.as_deref().unwrap_or("")),
        status = status_pill(c.status.as_deref()),
        outcome = esc(c.outcome.as_deref().unwrap_or("")),
    )
}

fn call_table(calls: &[CallRecord]) -> String {
    if calls.is_empty() {
        return "<p class=\"card muted\">No calls.</p>".into();
    }
    let rows: String = calls.iter().map(call_row).collect();
    format!(
        "<table><thead><tr><th>Started (UTC)</th><th>Direction</th><th>From</th><th>To</th>\
         <th>Agent</th><th>Status</th><th>Duration</th><th>Outcome</th></tr></thead><tbody>{rows}</tbody></table>"
    )
}

/// `GET /dashboard`: the last 14 days at a glance.
async fn overview(State(state): State<AppState>, auth: Auth) -> PageResult {
    auth.require(Role::Viewer)?;
    let now = chrono::Utc::now().timestamp_millis();
    let stats = state
        .store
        .daily_call_stats(14, now)
        .await
        .map_err(PageError::store)?;
    let active = state
        .store
        .active_calls_since(now - LIVE_WINDOW_MS)
        .await
        .map_err(PageError::store)?;
    let recent = state
        .store
        .list_calls_filtered(&store::CallFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .map_err(PageError::store)?;

    let total: i64 = stats.iter().map(|d| d.calls).sum();
    let answered: i64 = stats.iter().map(|d| d.answered).sum();
    let rate = if total > 0 {
        format!("{:.0}%", answered as f64 * 100.0 / total as f64)
    } else {
        "—".into()
    };
    let latest_latency = stats
        .iter()
        .rev()
        .find_map(|d| d.median_voice_to_voice_ms)
        .map(|ms| format!("{ms} ms"))
        .unwrap_or_else(|| "—".into());
    let label = |d: &store::DayStats| d.day.get(5..).unwrap_or(&d.day).to_owned();
    let calls_chart = bar_chart(
        "Calls per day",
        &stats
            .iter()
            .map(|d| Bar {
                label: label(d),
                value: Some(d.calls as f64),
            })
            .collect::<Vec<_>>(),
        " calls",
        None,
        "#1f5fa8",
    );
    let rate_chart = bar_chart(
        "Answer rate per day",
        &stats
            .iter()
            .map(|d| Bar {
                label: label(d),
                value: (d.calls > 0).then(|| d.answered as f64 * 100.0 / d.calls as f64),
            })
            .collect::<Vec<_>>(),
        "%",
        Some(100.0),
        "#1f7a4d",
    );
    let latency_chart = bar_chart(
        "Median voice-to-voice latency per day (ms)",
        &stats
            .iter()
            .map(|d| Bar {
                label: label(d),
                value: d.median_voice_to_voice_ms.map(|v| v as f64),
            })
            .collect::<Vec<_>>(),
        " ms",
        None,
        "#8a5a00",
    );
    let body = format!(
        "<h1>Dashboard</h1>\
         <div class=\"stats\">\
           <div class=\"stat\"><b>{total}</b><span>calls, last 14 days</span></div>\
           <div class=\"stat\"><b>{rate}</b><span>answered</span></div>\
           <div class=\"stat\"><b>{latest_latency}</b><span>latest daily median voice-to-voice</span></div>\
           <div class=\"stat\"><b><a href=\"/dashboard/live\">{live}</a></b><span>calls live now</span></div>\
         </div>\
         <h2>Last 14 days</h2>\
         <div class=\"grid\">{calls_chart}{rate_chart}{latency_chart}</div>\
         <h2>Recent calls <a href=\"/dashboard/calls\" style=\"font-size:.85rem;font-weight:400\">all calls →</a></h2>{table}\
         <p class=\"muted\">The same data as JSON: <a href=\"/api/v1/stats/daily?days=14\">/api/v1/stats/daily</a>, \
         <a href=\"/api/v1/calls\">/api/v1/calls</a> (<a href=\"/api/docs\">API docs</a>).</p>",
        live = active.len(),
        table = call_table(&recent.data),
    );
    Ok(layout(&auth, "Dashboard", Nav::Dashboard, &body, ""))
}

fn options(values: &[(String, String)], selected: Option<&str>) -> String {
    values
        .iter()
        .map(|(value, label)| {
            let sel = if Some(value.as_str()) == selected {
                " selected"
            } else {
                ""
            };
            format!(
                "<option value=\"{}\"{sel}>{}</option>",
                esc(value),
                esc(label)
            )
        })
        .collect()
}

fn pairs(items: &[&str]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|s| {
            (
                (*s).to_owned(),
                if s.is_empty() { "any" } else { s }.to_owned(),
            )
        })
        .collect()
}

/// `GET /dashboard/calls`: the filterable call list, newest first, 50 a page.
async fn calls(State(state): State<AppState>, auth: Auth, RawQuery(raw): RawQuery) -> PageResult {
    auth.require(Role::Viewer)?;
    let q: CallQuery = parse_query(raw.as_deref())
        .map_err(|e| PageError::status(StatusCode::BAD_REQUEST, &e.2))?;
    let filter = q
        .to_filter()
        .map_err(|e| PageError::status(StatusCode::BAD_REQUEST, &e))?;
    let page = state
        .store
        .list_calls_filtered(&filter)
        .await
        .map_err(PageError::store)?;
    let campaigns = state
        .store
        .list_campaigns()
        .await
        .map_err(PageError::store)?;

    let value = |v: &Option<String>| v.as_deref().map(str::trim).unwrap_or("").to_owned();
    let directions = options(
        &pairs(&["", "inbound", "outbound", "web"]),
        q.direction.as_deref(),
    );
    let statuses = options(
        &pairs(&[
            "",
            "queued",
            "ringing",
            "in-progress",
            "completed",
            "busy",
            "no-answer",
            "failed",
            "canceled",
        ]),
        q.status.as_deref(),
    );
    let mut agent_list = vec![(String::new(), "any".to_owned())];
    agent_list.extend(state.agents.names().into_iter().map(|n| (n.clone(), n)));
    let agents = options(&agent_list, q.agent.as_deref());
    let mut campaign_list = vec![(String::new(), "any".to_owned())];
    campaign_list.extend(
        campaigns
            .iter()
            .map(|c| (c.id.to_string(), format!("{} (#{})", c.name, c.id))),
    );
    let campaign_opts = options(&campaign_list, q.campaign.as_deref());

    // The next page keeps every filter and adds the cursor.
    let mut keep: Vec<String> = [
        ("direction", &q.direction),
        ("status", &q.status),
        ("agent", &q.agent),
        ("campaign", &q.campaign),
        ("from", &q.from),
        ("to", &q.to),
        ("q", &q.q),
    ]
    .iter()
    .filter_map(|(k, v)| {
        let v = value(v);
        (!v.is_empty()).then(|| format!("{k}={}", url_encode(&v)))
    })
    .collect();
    let first_page = format!("/dashboard/calls?{}", keep.join("&"));
    let pager = match page.next_cursor {
        Some(cursor) => {
            keep.push(format!("cursor={cursor}"));
            format!(
                "<p class=\"pager\"><a href=\"{first_page}\">Newest</a> · <a rel=\"next\" href=\"/dashboard/calls?{}\">Older calls →</a></p>",
                esc(&keep.join("&"))
            )
        }
        None if q.cursor.is_some() => {
            format!("<p class=\"pager\"><a href=\"{first_page}\">Newest</a></p>")
        }
        None => String::new(),
    };
    let body = format!(
        "<h1>Calls</h1>\
         <form class=\"filters\" method=\"get\" action=\"/dashboard/calls\">\
           <label>Direction<select name=\"direction\">{directions}</select></label>\
           <label>Status<select name=\"status\">{statuses}</select></label>\
           <label>Agent<select name=\"agent\">{agents}</select></label>\
           <label>Campaign<select name=\"campaign\">{campaign_opts}</select></label>\
           <label>From<input type=\"date\" name=\"from\" value=\"{from}\"></label>\
           <label>To<input type=\"date\" name=\"to\" value=\"{to}\"></label>\
           <label>Said<input type=\"search\" name=\"q\" value=\"{text}\" placeholder=\"words in the transcript\"></label>\
           <button class=\"action\" type=\"submit\">Filter</button> <a href=\"/dashboard/calls\">clear</a>\
         </form>{table}{pager}",
        from = esc(&value(&q.from)),
        to = esc(&value(&q.to)),
        text = esc(&value(&q.q)),
        table = call_table(&page.data),
    );
    Ok(layout(&auth, "Calls", Nav::Calls, &body, ""))
}

/// `GET /dashboard/campaigns`: each campaign's progress, with start and pause buttons.
async fn campaigns(State(state): State<AppState>, auth: Auth) -> PageResult {
    auth.require(Role::Viewer)?;
    let list = state
        .store
        .list_campaigns()
        .await
        .map_err(PageError::store)?;
    let can_write = auth.0.role >= Role::Supervisor;
    let mut cards = String::new();
    for c in &list {
        let p = state
            .store
            .campaign_progress(c.id)
            .await
            .map_err(PageError::store)?;
        let total = p.total.max(1) as f64;
        let segments = [
            ("done", p.done, "#1f7a4d"),
            ("dialing", p.dialing + p.leased, "#1f5fa8"),
            ("skipped", p.skipped, "#8a8f99"),
            ("failed", p.failed, "#b3261e"),
            ("pending", p.pending, "#d5d9e0"),
        ];
        let bar: String = segments
            .iter()
            .filter(|(_, n, _)| *n > 0)
            .map(|(name, n, color)| {
                format!(
                    "<span style=\"width:{:.2}%;background:{color}\" title=\"{name}: {n}\"></span>",
                    *n as f64 * 100.0 / total
                )
            })
            .collect();
        let legend: String = segments
            .iter()
            .map(|(name, n, color)| {
                format!("<span><i style=\"background:{color}\"></i>{name} {n}</span>")
            })
            .collect();
        let results: String = p
            .results
            .iter()
            .map(|(r, n)| format!("{}: {n}", esc(r)))
            .collect::<Vec<_>>()
            .join(", ");
        let button = match (can_write, c.state) {
            (false, _) | (_, CampaignState::Done) => String::new(),
            (true, CampaignState::Running) => format!(
                "<button class=\"action pause\" type=\"button\" data-campaign=\"{}\" data-action=\"pause\">Pause</button>",
                c.id
            ),
            (true, _) => format!(
                "<button class=\"action\" type=\"button\" data-campaign=\"{}\" data-action=\"start\">Start</button>",
                c.id
            ),
        };
        let state_name = c.state.as_str();
        cards.push_str(&format!(
            "<div class=\"card\"><div style=\"display:flex;justify-content:space-between;align-items:center;gap:1rem\">\
               <div><b>{name}</b> <span class=\"muted\">#{id} · agent {agent}</span> <span class=\"pill {state_name}\">{state_name}</span></div>\
               <div>{button} <span id=\"campaign-msg-{id}\" class=\"muted\" role=\"status\"></span></div></div>\
             <p class=\"muted\" style=\"margin:.4rem 0\">{done} of {total_n} contacts finished</p>\
             <div class=\"bar\" role=\"progressbar\" aria-valuemin=\"0\" aria-valuemax=\"{total_n}\" aria-valuenow=\"{done}\">{bar}</div>\
             <p class=\"legend\">{legend}</p>{results}\
             <p><a href=\"/dashboard/calls?campaign={id}\">Calls of this campaign</a> · \
                <a href=\"/api/v1/campaigns/{id}/report\">report (JSON)</a></p></div>",
            name = esc(&c.name),
            id = c.id,
            agent = esc(c.agent.as_deref().unwrap_or("default")),
            done = p.done + p.skipped + p.failed,
            total_n = p.total,
            results = if results.is_empty() {
                String::new()
            } else {
                format!("<p class=\"muted\">Results: {results}</p>")
            },
        ));
    }
    if list.is_empty() {
        cards = "<p class=\"card\">No campaigns yet. Import contacts and create one with \
                 <code>callpilot campaign</code> or <code>POST /api/v1/campaigns</code> \
                 (see the <a href=\"/api/docs\">API docs</a>).</p>"
            .into();
    }
    let body = format!("<h1>Campaigns</h1>{cards}");
    Ok(layout(&auth, "Campaigns", Nav::Campaigns, &body, ""))
}

async fn script(_auth: Auth) -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(url_encode("a b&c"), "a%20b%26c");
    }

    #[test]
    fn durations_read_as_minutes_and_seconds() {
        assert_eq!(fmt_duration(65_400), "1m 05s");
        assert_eq!(fmt_duration(42_000), "42s");
        assert_eq!(fmt_time(0), "1970-01-01 00:00:00");
    }
}
