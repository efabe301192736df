//! `POST /twilio/voice` (answer a call with a Media Stream) and `POST /twilio/status`
//! (call status callbacks, recorded idempotently).

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use telephony::twiml::{Connect, Dial, Hangup, Number, Response as Twiml, Say, Sip, Stream};
use telephony::webhook::{StatusCallback, VoiceWebhook};

use crate::signature_check::{check_webhook, public_base, public_ws_base};
use crate::AppState;

#[derive(Debug, Deserialize)]
pub(crate) struct VoiceQuery {
    /// Which agent answers (file stem); the default agent when absent.
    pub(crate) agent: Option<String>,
    /// The campaign an outbound call belongs to.
    pub(crate) campaign: Option<i64>,
}

fn form_pairs(body: &[u8]) -> Result<Vec<(String, String)>, StatusCode> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).map_err(|e| {
        tracing::warn!(error = %e, "webhook body is not form-encoded");
        StatusCode::BAD_REQUEST
    })
}

/// The decoded form of a webhook whose signature holds (400 if not a form, 403 if forged).
pub(crate) fn signed_form(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
) -> Result<Vec<(String, String)>, StatusCode> {
    let params = form_pairs(body)?;
    check_webhook(state, headers, uri, &params)?;
    Ok(params)
}

pub(crate) fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// A call being answered: its webhook, the agent that answers and the agent's key.
pub(crate) struct Answering {
    pub(crate) hook: VoiceWebhook,
    /// Twilio's answering-machine verdict (`human`, `machine_end_beep`, ...), when AMD ran.
    pub(crate) answered_by: Option<String>,
    pub(crate) agent: std::sync::Arc<crate::agents::LoadedAgent>,
    pub(crate) agent_key: String,
}

/// Checks and records a voice webhook (any mode). `Err` is the response to send instead: 400 /
/// 403 for bad requests, or TwiML telling the caller the line is not configured.
pub(crate) async fn answering(
    state: &AppState,
    agent: Option<&str>,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
) -> Result<Answering, Response> {
    let params = signed_form(state, headers, uri, body).map_err(IntoResponse::into_response)?;
    let hook = VoiceWebhook::from_pairs(&params).map_err(|e| {
        tracing::warn!(error = %e, "voice webhook is missing fields");
        (StatusCode::BAD_REQUEST, e.to_string()).into_response()
    })?;
    let loaded = state.agents.get(agent).map_err(|e| {
        tracing::warn!(error = %e, call_sid = %hook.call_sid, "voice webhook asked for an unknown agent");
        // Tell the caller rather than failing the webhook (Twilio would play an error).
        let doc = Twiml::new()
            .push(Say::new("Sorry, this line is not configured. Goodbye."))
            .push(Hangup::new())
            .to_xml();
        xml(doc)
    })?;
    let agent_key = agent
        .map(str::to_owned)
        .unwrap_or_else(|| state.agents.default_name().to_string());
    let new_call = store::NewCall {
        call_sid: hook.call_sid.clone(),
        account_sid: Some(hook.account_sid.clone()),
        direction: Some(hook.direction.as_str().to_string()),
        from_number: Some(hook.from.clone()),
        to_number: Some(hook.to.clone()),
        agent: Some(loaded.config.name.clone()),
    };
    let status_update = store::StatusUpdate {
        call_sid: hook.call_sid.clone(),
        status: hook.call_status.as_str().to_string(),
        rank: i32::from(hook.call_status.rank()),
        sequence_number: None,
        event_timestamp: None,
    };
    let recorded = match state.store.upsert_call(&new_call).await {
        Ok(_) => state.store.record_status(&status_update).await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = recorded {
        // Answer the call anyway: losing the phone call is worse than a late record (the stream's
        // `start` creates the record again).
        tracing::error!(error = %e, call_sid = %hook.call_sid, "could not record call");
    }
    let answered_by = params
        .iter()
        .find(|(k, _)| k == "AnsweredBy")
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty());
    if let Some(a) = &answered_by {
        record_answered_by(state, &hook.call_sid, a).await;
    }
    tracing::info!(call_sid = %hook.call_sid, from = %hook.from, to = %hook.to, agent = %agent_key, answered_by = ?answered_by, "call answered");
    Ok(Answering {
        answered_by,
        hook,
        agent: loaded,
        agent_key,
    })
}

/// Answers an incoming (or outbound-api) call: records it and connects a bidirectional stream.
pub(crate) async fn voice(
    State(state): State<AppState>,
    Query(q): Query<VoiceQuery>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let Answering {
        hook,
        agent,
        agent_key,
        answered_by,
    } = match answering(&state, q.agent.as_deref(), &headers, &uri, &body).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let stream_url = format!("{}/twilio/media", public_ws_base(&state, &headers));
    let mut stream = Stream::new(stream_url)
        .parameter("call_sid", hook.call_sid.as_str())
        .parameter("agent", agent_key.as_str());
    if answered_by
        .as_deref()
        .is_some_and(|a| a.starts_with("machine") || a == "fax")
    {
        // An answering machine (detected after its greeting ended): leave the agent's message
        // if the campaign asks for it, else hang up and let the dialer retry later.
        let leave = match q.campaign {
            Some(id) => crate::campaigns::campaign_settings(&state, id)
                .await
                .is_some_and(|s| s.voicemail == dialer::VoicemailAction::LeaveMessage),
            None => true,
        };
        if !leave || agent.config.voicemail.is_none() {
            tracing::info!(call_sid = %hook.call_sid, "answering machine: hanging up");
            return xml(Twiml::new().push(Hangup::new()).to_xml());
        }
        stream = stream.parameter("voicemail", "1");
    }
    // When our side closes the stream, Twilio asks the action URL what next: a transfer
    // (`<Dial>`) if the agent arranged one, else hang up.
    let action = format!("{}/twilio/stream-ended", public_base(&state, &headers));
    let doc = Twiml::new()
        .push(Connect::new().action(action).stream(stream))
        .push(Hangup::new())
        .to_xml();
    xml(doc)
}

/// Records a call status callback. Duplicates and out-of-order deliveries are normal.
pub(crate) async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let params = match signed_form(&state, &headers, &uri, &body) {
        Ok(p) => p,
        Err(code) => return code.into_response(),
    };
    let cb = match StatusCallback::from_pairs(&params) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "status callback is missing fields");
            return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
        }
    };
    let update = store::StatusUpdate {
        call_sid: cb.call_sid.clone(),
        status: cb.call_status.as_str().to_string(),
        rank: i32::from(cb.call_status.rank()),
        sequence_number: cb.sequence_number.map(|n| n as i64),
        event_timestamp: cb.timestamp.clone(),
    };
    if cb.call_status.is_terminal() {
        crate::gather::call_ended(&state, &cb.call_sid).await;
    }
    let answered_by = params
        .iter()
        .find(|(k, _)| k == "AnsweredBy")
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty());
    if let Some(a) = &answered_by {
        record_answered_by(&state, &cb.call_sid, a).await;
    }
    match state.store.record_status(&update).await {
        Ok(outcome) => {
            if cb.call_status.is_terminal() {
                crate::campaigns::on_final_status(
                    &state,
                    &cb.call_sid,
                    cb.call_status.as_str(),
                    answered_by.as_deref(),
                )
                .await;
            }
            tracing::info!(call_sid = %cb.call_sid, status = %cb.call_status, ?outcome, "status callback");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, call_sid = %cb.call_sid, "could not record status callback");
            // 5xx makes Twilio log the failure; the callback is lost only if Twilio doesn't retry.
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `POST /twilio/stream-ended`: the `<Connect action>` of a media stream. Connects the caller to
/// the number the agent chose (transfer or handoff), else hangs up.
pub(crate) async fn stream_ended(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let params = match signed_form(&state, &headers, &uri, &body) {
        Ok(p) => p,
        Err(code) => return code.into_response(),
    };
    let call_sid = params
        .iter()
        .find(|(k, _)| k == "CallSid")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let doc = match state.take_transfer(&call_sid) {
        Some(number) => {
            tracing::info!(%call_sid, %number, "stream ended: transferring the call");
            Twiml::new()
                .push(dial_to(number))
                .push(Hangup::new())
                .to_xml()
        }
        None => Twiml::new().push(Hangup::new()).to_xml(),
    };
    xml(doc)
}

/// `<Dial>` to a phone number (E.164) or a `sip:` address.
pub(crate) fn dial_to(number: String) -> Dial {
    if number.starts_with("sip:") {
        Dial::new().sip(Sip::new(number))
    } else {
        Dial::new().number(Number::new(number))
    }
}

/// Keeps Twilio's answering-machine verdict with the call (the dialer reads it).
async fn record_answered_by(state: &AppState, call_sid: &str, answered_by: &str) {
    if let Err(e) = state.store.set_answered_by(call_sid, answered_by).await {
        tracing::warn!(error = %e, %call_sid, "could not record AnsweredBy");
    }
}
