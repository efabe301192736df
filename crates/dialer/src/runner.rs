//! The campaign runner: leases contacts from the store, checks their calling window, paces and
//! places calls through a [`PlaceCall`] it knows nothing else about, and turns call results into
//! retries or finished contacts.
//!
//! All dialing state lives in the store, so any number of runners (tasks or processes) can work
//! one campaign, and a runner that dies leaves nothing a new one cannot pick up: its undialed
//! leases expire back to pending, its dialed calls wait for their results.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use store::{CampaignProgress, CampaignState, ContactNext, EndedCall, Lease, Store};
use tokio::sync::{broadcast, Notify};

use crate::error::{DialError, RunError};
use crate::pacer::Pacer;
use crate::policy::{next_step, within_window, CallResult, CampaignSettings, NextOpen};

/// How long a lease lasts by default. Placing a call takes one REST request, so this only has to
/// outlast a slow carrier answer; after it, another runner may take the contact.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);
/// Longest [`Runner::run`] sleeps before looking again (a pause, another runner's expired lease).
const MAX_IDLE: Duration = Duration::from_secs(5);
/// Most early results (SID not attached yet) a runner keeps; beyond that they are left to the
/// reconciliation from the `calls` table, so a flood of foreign SIDs cannot grow memory.
const MAX_EARLY_RESULTS: usize = 1024;

/// One call for a [`PlaceCall`] implementation to place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlaceCallRequest {
    /// E.164 number to dial.
    pub to: String,
    pub contact_id: i64,
    pub campaign_id: i64,
    pub attempt_id: i64,
}

/// Places outbound calls (the carrier's REST API, the local simulator, a test fake).
pub trait PlaceCall: Send + Sync {
    /// Asks the carrier to place the call and returns its call SID once the carrier accepted it.
    fn place(
        &self,
        req: PlaceCallRequest,
    ) -> impl Future<Output = Result<String, DialError>> + Send;
}

/// Where the runner reads the time; tests use [`ManualClock`].
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock(Mutex::new(start))
    }

    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }

    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::zero());
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

/// What a runner did, for progress bars and logs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunnerEvent {
    Dialed {
        contact_id: i64,
        attempt_id: i64,
        call_sid: String,
    },
    /// Not dialed now; due again at `until` (outside the calling window, carrier unavailable).
    Deferred {
        contact_id: i64,
        until: DateTime<Utc>,
        reason: String,
    },
    /// The carrier refused the call.
    DialFailed {
        contact_id: i64,
        attempt_id: i64,
        error: String,
    },
    Completed {
        contact_id: i64,
        attempt_id: i64,
        result: CallResult,
    },
    Progress(CampaignProgress),
    Finished,
    Paused,
}

/// Where a [`Runner::step`] left the campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing more to do now. Call `step` again at `until`, or when a call result arrives
    /// (`None`: only a result can unblock it).
    Wait { until: Option<DateTime<Utc>> },
    /// The campaign is paused (or still a draft).
    Paused,
    /// Every contact is done, failed or skipped; the campaign is marked done.
    Finished,
}

/// Dials one campaign. Share it (`Arc`) between the loop ([`Runner::run`]) and whatever feeds
/// call results ([`Runner::on_call_result`]).
pub struct Runner<P, C = SystemClock> {
    store: Store,
    campaign_id: i64,
    owner: String,
    settings: CampaignSettings,
    placer: P,
    clock: C,
    lease_for: Duration,
    pacer: Mutex<Pacer>,
    events: broadcast::Sender<RunnerEvent>,
    wake: Notify,
    /// Results whose SID was not attached to an attempt yet, with when they arrived.
    early: Mutex<HashMap<String, (CallResult, DateTime<Utc>)>>,
}

impl<P: PlaceCall, C: Clock> Runner<P, C> {
    /// A runner for campaign `campaign_id` with the settings stored with it. `owner` names this
    /// runner in leases (host and process, say) for people reading the database.
    pub async fn new(
        store: Store,
        campaign_id: i64,
        owner: impl Into<String>,
        placer: P,
        clock: C,
    ) -> Result<Self, RunError> {
        let campaign = store
            .campaign(campaign_id)
            .await?
            .ok_or(RunError::NoCampaign(campaign_id))?;
        let settings = CampaignSettings::from_json(&campaign.settings)?;
        let pacer = Pacer::new(
            settings.calls_per_second,
            settings.delay_between_calls,
            clock.now(),
        );
        Ok(Runner {
            store,
            campaign_id,
            owner: owner.into(),
            settings,
            placer,
            clock,
            lease_for: DEFAULT_LEASE,
            pacer: Mutex::new(pacer),
            events: broadcast::channel(256).0,
            wake: Notify::new(),
            early: Mutex::new(HashMap::new()),
        })
    }

    /// Changes how long a lease lasts (and so how long [`PlaceCall::place`] may take).
    pub fn with_lease(mut self, lease_for: Duration) -> Self {
        self.lease_for = lease_for;
        self
    }

    /// The settings in force.
    pub fn settings(&self) -> &CampaignSettings {
        &self.settings
    }

    /// Events from now on. A slow receiver misses old events rather than slowing dialing.
    pub fn subscribe(&self) -> broadcast::Receiver<RunnerEvent> {
        self.events.subscribe()
    }

    /// Dials until the campaign is finished or paused, sleeping on the real clock in between.
    pub async fn run(&self) -> Result<Step, RunError> {
        loop {
            match self.step().await? {
                Step::Wait { until } => {
                    let sleep = until
                        .and_then(|t| (t - self.clock.now()).to_std().ok())
                        .unwrap_or(MAX_IDLE)
                        .min(MAX_IDLE);
                    tokio::select! {
                        _ = tokio::time::sleep(sleep) => {}
                        _ = self.wake.notified() => {}
                    }
                }
                done => return Ok(done),
            }
        }
    }

    /// Does everything possible at the clock's current time: recovers expired leases, then
    /// leases, window-checks and dials contacts while concurrency and pacing allow.
    pub async fn step(&self) -> Result<Step, RunError> {
        let campaign = self
            .store
            .campaign(self.campaign_id)
            .await?
            .ok_or(RunError::NoCampaign(self.campaign_id))?;
        match campaign.state {
            CampaignState::Running => {}
            CampaignState::Done => return Ok(Step::Finished),
            CampaignState::Draft | CampaignState::Paused => {
                // Calls placed before the pause still end; record how.
                self.reconcile().await?;
                self.emit(RunnerEvent::Paused);
                return Ok(Step::Paused);
            }
        }
        let now_ms = self.clock.now().timestamp_millis();
        let recovered = self
            .store
            .recover_expired_leases(self.campaign_id, now_ms)
            .await?;
        if recovered.returned > 0 {
            tracing::info!(
                campaign = self.campaign_id,
                ?recovered,
                "recovered expired leases"
            );
        }
        // Before dialing: a completed attempt frees a concurrency slot.
        self.reconcile().await?;

        let blocked_until = self.dial_what_is_due().await?;
        let progress = self.store.campaign_progress(self.campaign_id).await?;
        self.emit(RunnerEvent::Progress(progress.clone()));
        if progress.is_finished() {
            self.store
                .set_campaign_state(self.campaign_id, CampaignState::Done)
                .await?;
            self.emit(RunnerEvent::Finished);
            return Ok(Step::Finished);
        }
        let until = match blocked_until {
            Blocked::Until(t) => Some(t),
            Blocked::ByCalls => None,
            Blocked::NothingDue => progress
                .next_attempt_at
                .and_then(DateTime::from_timestamp_millis),
        };
        Ok(Step::Wait { until })
    }

    /// Records a call's final result (from a status callback or answering-machine detection).
    /// False when the result is already known (retried callbacks), the SID belongs to another
    /// campaign, or the SID is not attached to an attempt yet: a status callback can beat
    /// [`Store::attach_call_sid`]. Such an early result is kept and applied by the next
    /// [`Runner::step`] once the SID is attached (for up to one lease period).
    pub async fn on_call_result(
        &self,
        call_sid: &str,
        result: CallResult,
    ) -> Result<bool, RunError> {
        let Some(attempt) = self.store.attempt_by_call_sid(call_sid).await? else {
            let mut early = self.lock_early();
            if early.len() < MAX_EARLY_RESULTS || early.contains_key(call_sid) {
                early.insert(call_sid.to_owned(), (result, self.clock.now()));
            }
            return Ok(false);
        };
        if attempt.campaign_id != self.campaign_id {
            return Ok(false);
        }
        let done = record_call_result(
            &self.store,
            &self.settings,
            call_sid,
            result,
            self.clock.now(),
        )
        .await?;
        if done {
            self.emit(RunnerEvent::Completed {
                contact_id: attempt.contact_id,
                attempt_id: attempt.id,
                result,
            });
            self.wake.notify_one();
        }
        Ok(done)
    }

    /// Completes attempts whose result never reached [`Runner::on_call_result`]: early results
    /// whose SID is now attached, and dialed attempts whose call already has a final status in
    /// the `calls` table (a callback that came while no runner was up, or before the SID was
    /// attached). [`Runner::step`] calls this each time; returns how many attempts it completed.
    pub async fn reconcile(&self) -> Result<u64, RunError> {
        let mut completed = 0;
        let now = self.clock.now();
        let early: Vec<(String, CallResult, DateTime<Utc>)> = self
            .lock_early()
            .iter()
            .map(|(sid, (r, at))| (sid.clone(), *r, *at))
            .collect();
        for (sid, result, arrived) in early {
            let attempt = self.store.attempt_by_call_sid(&sid).await?;
            let stale = (now - arrived).to_std().unwrap_or_default() > self.lease_for;
            match attempt {
                Some(a) => {
                    self.lock_early().remove(&sid);
                    if a.campaign_id == self.campaign_id
                        && self.on_call_result(&sid, result).await?
                    {
                        completed += 1;
                    }
                }
                // The SID is attached within a lease or never: not one of our calls.
                None if stale => {
                    self.lock_early().remove(&sid);
                }
                None => {}
            }
        }
        for ended in self
            .store
            .ended_calls_awaiting_result(self.campaign_id)
            .await?
        {
            if self.complete_ended(&ended, now).await? {
                completed += 1;
            }
        }
        if completed > 0 {
            tracing::info!(
                campaign = self.campaign_id,
                completed,
                "reconciled call results"
            );
        }
        Ok(completed)
    }

    async fn complete_ended(
        &self,
        ended: &EndedCall,
        now: DateTime<Utc>,
    ) -> Result<bool, RunError> {
        let Some(result) = CallResult::from_twilio(&ended.status, ended.answered_by.as_deref())
        else {
            return Ok(false);
        };
        let attempt_no = u32::try_from(ended.attempt_no).unwrap_or(u32::MAX);
        let next = next_step(result, attempt_no, &self.settings, now);
        let done = self
            .store
            .complete_attempt(
                ended.attempt_id,
                result.as_str(),
                next,
                now.timestamp_millis(),
            )
            .await?;
        if done {
            self.emit(RunnerEvent::Completed {
                contact_id: ended.contact_id,
                attempt_id: ended.attempt_id,
                result,
            });
        }
        Ok(done)
    }

    async fn dial_what_is_due(&self) -> Result<Blocked, RunError> {
        loop {
            let now = self.clock.now();
            let active = self.store.active_attempts(self.campaign_id).await?;
            if active >= i64::from(self.settings.max_concurrent) {
                return Ok(Blocked::ByCalls);
            }
            let ready = self.lock_pacer().ready_at(now);
            if ready > now {
                return Ok(Blocked::Until(ready));
            }
            let lease_ms = i64::try_from(self.lease_for.as_millis()).unwrap_or(i64::MAX / 2);
            let Some(lease) = self
                .store
                .lease_next(
                    self.campaign_id,
                    &self.owner,
                    now.timestamp_millis(),
                    lease_ms,
                    self.settings.order,
                )
                .await?
            else {
                return Ok(Blocked::NothingDue);
            };
            if let Err(NextOpen(at)) = within_window(&self.settings, lease.timezone.as_deref(), now)
            {
                self.defer(&lease, at, "outside_window").await?;
                continue;
            }
            // Taken only now, so a contact put back for its window costs no pacing slot.
            let _ = self.lock_pacer().try_acquire(now);
            if let Some(retry_at) = self.dial(&lease).await? {
                // The carrier is unreachable: stop this round instead of failing every contact.
                return Ok(Blocked::Until(retry_at));
            }
        }
    }

    /// Places one leased call. Returns when to try again if the carrier was unavailable.
    async fn dial(&self, lease: &Lease) -> Result<Option<DateTime<Utc>>, RunError> {
        let req = PlaceCallRequest {
            to: lease.phone.clone(),
            contact_id: lease.contact_id,
            campaign_id: lease.campaign_id,
            attempt_id: lease.attempt_id,
        };
        // Half the lease: a call SID must be recorded before the lease can expire and the
        // contact be handed to someone else.
        let placed = tokio::time::timeout(self.lease_for / 2, self.placer.place(req)).await;
        let now = self.clock.now();
        let error = match placed {
            Ok(Ok(call_sid)) => {
                let held = self
                    .store
                    .attach_call_sid(lease.attempt_id, &call_sid, now.timestamp_millis())
                    .await?;
                if !held {
                    tracing::warn!(attempt = lease.attempt_id, %call_sid,
                        "call placed after its lease expired; it may be dialed twice");
                }
                self.emit(RunnerEvent::Dialed {
                    contact_id: lease.contact_id,
                    attempt_id: lease.attempt_id,
                    call_sid,
                });
                return Ok(None);
            }
            Ok(Err(DialError::Unavailable(e))) => {
                let retry = self.settings.retry_delay.failed;
                let wait = retry.unwrap_or(self.settings.retry_delay.default);
                let at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                self.defer(lease, at, "carrier_unavailable").await?;
                tracing::warn!(error = %e, "carrier unavailable; contact put back");
                return Ok(Some(at));
            }
            Ok(Err(DialError::Rejected(e))) => e,
            // We cannot know whether the carrier placed it, so count it as a failed attempt
            // rather than putting it back to be dialed again at once.
            Err(_) => "placing the call timed out".to_owned(),
        };
        let attempt_no = u32::try_from(lease.attempt_no).unwrap_or(u32::MAX);
        let next = next_step(CallResult::Failed, attempt_no, &self.settings, now);
        self.store
            .complete_attempt(lease.attempt_id, "failed", next, now.timestamp_millis())
            .await?;
        self.emit(RunnerEvent::DialFailed {
            contact_id: lease.contact_id,
            attempt_id: lease.attempt_id,
            error,
        });
        Ok(None)
    }

    async fn defer(
        &self,
        lease: &Lease,
        until: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), RunError> {
        self.store
            .release_lease(
                lease.attempt_id,
                until.timestamp_millis(),
                reason,
                self.clock.now().timestamp_millis(),
            )
            .await?;
        self.emit(RunnerEvent::Deferred {
            contact_id: lease.contact_id,
            until,
            reason: reason.to_owned(),
        });
        Ok(())
    }

    fn lock_early(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (CallResult, DateTime<Utc>)>> {
        self.early.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_pacer(&self) -> std::sync::MutexGuard<'_, Pacer> {
        self.pacer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, event: RunnerEvent) {
        // No subscriber is fine: events are for whoever watches.
        let _ = self.events.send(event);
    }
}

/// Why dialing stopped for now.
enum Blocked {
    /// Pacing or the carrier: not before this time.
    Until(DateTime<Utc>),
    /// As many calls in flight as allowed.
    ByCalls,
    /// No pending contact is due.
    NothingDue,
}

/// Records a call's final result without a runner (e.g. in the process that receives status
/// callbacks): completes its attempt and schedules a retry per `settings`. False when the SID
/// belongs to no campaign attempt or its result is already recorded.
pub async fn record_call_result(
    store: &Store,
    settings: &CampaignSettings,
    call_sid: &str,
    result: CallResult,
    now: DateTime<Utc>,
) -> Result<bool, RunError> {
    let Some(attempt) = store.attempt_by_call_sid(call_sid).await? else {
        return Ok(false);
    };
    let attempt_no = u32::try_from(attempt.attempt_no).unwrap_or(u32::MAX);
    let next: ContactNext = next_step(result, attempt_no, settings, now);
    Ok(store
        .complete_attempt(attempt.id, result.as_str(), next, now.timestamp_millis())
        .await?)
}
