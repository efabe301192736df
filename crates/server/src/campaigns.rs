//! Outbound campaigns run inside the server: a supervisor notices campaigns set to running (by
//! `callpilot campaign start`, another instance, the API) and dials them with the `dialer`
//! crate's runner, placing calls through Twilio's REST API. Status callbacks and answering-
//! machine results flow back into the runner, so every attempt ends with a result.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dialer::{CallResult, CampaignSettings, Clock, DialError, PlaceCall, PlaceCallRequest, Runner};
use telephony::rest::{CallEvent, CreateCall, MachineDetection, RestError, TwilioRest};

use crate::AppState;

/// How often the supervisor looks for campaigns to dial.
const SUPERVISE_EVERY: Duration = Duration::from_secs(1);

/// What the server needs to place outbound calls.
#[derive(Clone)]
pub struct DialingConfig {
    /// Twilio's REST API (or the local carrier's, for tests and demos).
    pub rest: TwilioRest,
    /// Caller ID: a Twilio number of the account (E.164).
    pub from: String,
    /// The base URL Twilio reaches us at (voice webhook and status callbacks).
    pub public_url: String,
    /// This instance's name in leases (host:pid), so people reading the database know who dials.
    pub instance: String,
    /// A call still without a final status after this long is looked up with the carrier (its
    /// callback may have been lost, e.g. while this server was down).
    pub reconcile_after: Duration,
    /// What time it is for calling windows and retries (`dialer::SystemClock` in production;
    /// tests shift it to a chosen weekday and hour).
    pub clock: Arc<dyn Clock>,
}

/// The configured clock, as the runner's clock type.
pub(crate) struct DialClock(Arc<dyn Clock>);

impl Clock for DialClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.now()
    }
}

type CampaignRunner = Runner<TwilioPlacer, DialClock>;

/// The campaigns this instance is dialing.
#[derive(Clone, Default)]
pub(crate) struct CampaignRunners(Arc<Mutex<HashMap<i64, Arc<CampaignRunner>>>>);

impl CampaignRunners {
    fn get(&self, id: i64) -> Option<Arc<CampaignRunner>> {
        self.0.lock().ok()?.get(&id).cloned()
    }
    fn claim(&self, id: i64, runner: Arc<CampaignRunner>) -> bool {
        match self.0.lock() {
            Ok(mut m) if !m.contains_key(&id) => {
                m.insert(id, runner);
                true
            }
            _ => false,
        }
    }
    fn release(&self, id: i64) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(&id);
        }
    }
    fn running(&self, id: i64) -> bool {
        self.0.lock().map(|m| m.contains_key(&id)).unwrap_or(false)
    }
}

/// Places a campaign's calls through the REST API.
pub(crate) struct TwilioPlacer {
    dialing: DialingConfig,
    agent: Option<String>,
}

impl PlaceCall for TwilioPlacer {
    async fn place(&self, req: PlaceCallRequest) -> Result<String, DialError> {
        let base = self.dialing.public_url.trim_end_matches('/');
        let mut url = format!(
            "{base}/twilio/voice?campaign={}&attempt={}",
            req.campaign_id, req.attempt_id
        );
        if let Some(agent) = &self.agent {
            url.push_str(&format!("&agent={agent}"));
        }
        let mut call = CreateCall::new(req.to.clone(), self.dialing.from.clone(), url);
        call.status_callback = Some(format!("{base}/twilio/status"));
        call.status_callback_events = vec![
            CallEvent::Initiated,
            CallEvent::Ringing,
            CallEvent::Answered,
            CallEvent::Completed,
        ];
        // Wait for the end of the greeting so a voicemail message starts after the beep.
        call.machine_detection = Some(MachineDetection::DetectMessageEnd);
        call.timeout_secs = Some(25);
        match self.dialing.rest.create_call(&call).await {
            Ok(resource) => Ok(resource.sid),
            Err(RestError::Twilio(e)) if e.status == 429 || e.status >= 500 => {
                Err(DialError::Unavailable(e.to_string()))
            }
            Err(RestError::Twilio(e)) => Err(DialError::Rejected(e.to_string())),
            Err(e @ RestError::Transport { .. }) => Err(DialError::Unavailable(e.to_string())),
            Err(e) => Err(DialError::Rejected(e.to_string())),
        }
    }
}

/// Starts the supervisor (only when outbound dialing is configured).
pub(crate) fn spawn_supervisor(state: AppState, dialing: DialingConfig) {
    let _ = state.dialing_clock.set(dialing.clock.clone());
    tokio::spawn(async move {
        loop {
            if let Err(e) = supervise_once(&state, &dialing).await {
                tracing::warn!(error = %e, "campaign supervisor: could not read campaigns");
            }
            tokio::time::sleep(SUPERVISE_EVERY).await;
        }
    });
}

async fn supervise_once(
    state: &AppState,
    dialing: &DialingConfig,
) -> Result<(), store::StoreError> {
    for c in state.store.list_campaigns().await? {
        if c.state == store::CampaignState::Running {
            reconcile(state, dialing, c.id).await?;
        }
        if c.state != store::CampaignState::Running || state.campaign_runners.running(c.id) {
            continue;
        }
        let agent = c.agent.as_deref().map(agent_key);
        let placer = TwilioPlacer {
            dialing: dialing.clone(),
            agent,
        };
        let runner = match Runner::new(
            state.store.clone(),
            c.id,
            dialing.instance.clone(),
            placer,
            DialClock(dialing.clock.clone()),
        )
        .await
        {
            Ok(r) => Arc::new(r),
            Err(e) => {
                tracing::warn!(campaign = c.id, error = %e, "cannot dial campaign");
                continue;
            }
        };
        if !state.campaign_runners.claim(c.id, runner.clone()) {
            continue;
        }
        tracing::info!(campaign = c.id, name = %c.name, "dialing campaign");
        let runners = state.campaign_runners.clone();
        let id = c.id;
        tokio::spawn(async move {
            match runner.run().await {
                Ok(step) => tracing::info!(campaign = id, ?step, "campaign runner stopped"),
                Err(e) => tracing::warn!(campaign = id, error = %e, "campaign runner failed"),
            }
            runners.release(id);
        });
    }
    Ok(())
}

/// Asks the carrier how calls ended whose final status never reached us (lost callbacks, a
/// crash or restart while they were ringing). Without this, such a contact would stay "dialing"
/// forever; re-dialing it instead could call a person twice.
async fn reconcile(
    state: &AppState,
    dialing: &DialingConfig,
    campaign_id: i64,
) -> Result<(), store::StoreError> {
    let now = chrono::Utc::now().timestamp_millis();
    let stale_before = now - dialing.reconcile_after.as_millis() as i64;
    for a in state.store.campaign_attempts(campaign_id).await? {
        let Some(sid) = a.call_sid.as_deref() else {
            continue;
        };
        if a.state != "dialing" || a.updated_at > stale_before {
            continue;
        }
        match dialing.rest.fetch_call(sid).await {
            Ok(call) if call.status.is_terminal() => {
                tracing::info!(call_sid = %sid, status = %call.status, "reconciled a call whose final status was missed");
                if let Some(by) = &call.answered_by {
                    let _ = state.store.set_answered_by(sid, by).await;
                }
                on_final_status(
                    state,
                    sid,
                    call.status.as_str(),
                    call.answered_by.as_deref(),
                )
                .await;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(call_sid = %sid, error = %e, "could not look up a call with the carrier")
            }
        }
    }
    Ok(())
}

/// An agent named by file (`agents/sales.toml`) or key (`sales`) → its key.
fn agent_key(agent: &str) -> String {
    std::path::Path::new(agent)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(agent)
        .to_owned()
}

/// A final status (or AMD verdict) for a call: if it is a campaign attempt, its result.
pub(crate) async fn on_final_status(
    state: &AppState,
    call_sid: &str,
    call_status: &str,
    answered_by: Option<&str>,
) {
    let Some(result) = CallResult::from_twilio(call_status, answered_by) else {
        return;
    };
    let attempt = match state.store.attempt_by_call_sid(call_sid).await {
        Ok(Some(a)) => a,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, %call_sid, "campaign attempt lookup failed");
            return;
        }
    };
    let recorded = match state.campaign_runners.get(attempt.campaign_id) {
        Some(runner) => runner.on_call_result(call_sid, result).await.map(|_| ()),
        // Dialed by another instance (or before a restart): record it for whoever runs it.
        None => match campaign_settings(state, attempt.campaign_id).await {
            Some(settings) => dialer::record_call_result(
                &state.store,
                &settings,
                call_sid,
                result,
                match state.dialing_clock.get() {
                    Some(c) => c.now(),
                    None => chrono::Utc::now(),
                },
            )
            .await
            .map(|_| ()),
            None => Ok(()),
        },
    };
    if let Err(e) = recorded {
        tracing::warn!(error = %e, %call_sid, "could not record the attempt's result");
    }
}

/// The stored settings of a campaign.
pub(crate) async fn campaign_settings(state: &AppState, id: i64) -> Option<CampaignSettings> {
    let c = state.store.campaign(id).await.ok().flatten()?;
    CampaignSettings::from_json(&c.settings).ok()
}
