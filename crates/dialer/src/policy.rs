//! Campaign rules as pure functions: when a contact may be called (in their own time zone),
//! what a call's result means for the contact, and how long to wait before trying again. No IO
//! and no clock: the time is always passed in.

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use store::{ContactNext, ContactOrder};

use crate::error::SettingsError;

/// How a campaign dials. Serialized as JSON (stored with the campaign) or TOML; every field has
/// a default, durations are whole seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CampaignSettings {
    /// Calls of this campaign in flight at once (leased or ringing or talking).
    pub max_concurrent: u32,
    /// Sustained rate at which new calls start.
    pub calls_per_second: f64,
    /// Minimum gap between two call starts, on top of the rate.
    #[serde(with = "secs")]
    pub delay_between_calls: Duration,
    /// When contacts may be called, in their own time zone.
    pub window: CallingWindow,
    /// Time zone for contacts without one (IANA name).
    pub default_timezone: String,
    /// Dials per contact, the first one included.
    pub max_attempts: u32,
    /// Wait before the next attempt, per result.
    pub retry_delay: RetryDelays,
    /// What to do when an answering machine picks up.
    pub voicemail: VoicemailAction,
    /// Within a lead tier, which contacts go first.
    pub order: ContactOrder,
}

impl Default for CampaignSettings {
    fn default() -> Self {
        CampaignSettings {
            max_concurrent: 1,
            calls_per_second: 1.0,
            delay_between_calls: Duration::ZERO,
            window: CallingWindow::default(),
            default_timezone: "America/New_York".into(),
            max_attempts: 3,
            retry_delay: RetryDelays::default(),
            voicemail: VoicemailAction::Hangup,
            order: ContactOrder::OldestFirst,
        }
    }
}

impl CampaignSettings {
    /// Reads the settings stored with a campaign (`null` or `{}` give the defaults) and checks
    /// them.
    pub fn from_json(value: &serde_json::Value) -> Result<CampaignSettings, SettingsError> {
        let settings: CampaignSettings = if value.is_null() {
            CampaignSettings::default()
        } else {
            serde_json::from_value(value.clone()).map_err(SettingsError::Json)?
        };
        settings.validate()?;
        Ok(settings)
    }

    /// The settings as the JSON stored with a campaign.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Rejects settings the dialer cannot honour (they would dial nobody, or too fast).
    pub fn validate(&self) -> Result<(), SettingsError> {
        let bad = |m: &str| Err(SettingsError::Invalid(m.to_owned()));
        if self.max_concurrent == 0 {
            return bad("max_concurrent must be at least 1");
        }
        if !(self.calls_per_second > 0.0 && self.calls_per_second.is_finite()) {
            return bad("calls_per_second must be a positive number");
        }
        if self.max_attempts == 0 {
            return bad("max_attempts must be at least 1");
        }
        if self.window.start >= self.window.end {
            return bad("window.start must be before window.end");
        }
        if self.window.days.is_empty() {
            return bad("window.days must name at least one day");
        }
        if self.default_timezone.parse::<Tz>().is_err() {
            return Err(SettingsError::Invalid(format!(
                "default_timezone {:?} is not an IANA time zone",
                self.default_timezone
            )));
        }
        Ok(())
    }
}

/// Local hours and days when calls may start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallingWindow {
    /// First minute calls may start ("09:00").
    #[serde(with = "hhmm")]
    pub start: NaiveTime,
    /// Calls start strictly before this ("20:00").
    #[serde(with = "hhmm")]
    pub end: NaiveTime,
    /// Days calls may start ("Mon" … "Sun").
    pub days: Vec<Weekday>,
    /// Dates (in the contact's time zone) with no calls.
    pub holidays: Vec<NaiveDate>,
}

impl Default for CallingWindow {
    fn default() -> Self {
        CallingWindow {
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
            end: NaiveTime::from_hms_opt(20, 0, 0).unwrap_or_default(),
            days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            holidays: Vec::new(),
        }
    }
}

/// Waits before another attempt; a result without its own delay uses `default`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryDelays {
    #[serde(with = "secs")]
    pub default: Duration,
    #[serde(with = "opt_secs", skip_serializing_if = "Option::is_none")]
    pub busy: Option<Duration>,
    #[serde(with = "opt_secs", skip_serializing_if = "Option::is_none")]
    pub no_answer: Option<Duration>,
    #[serde(with = "opt_secs", skip_serializing_if = "Option::is_none")]
    pub failed: Option<Duration>,
}

impl Default for RetryDelays {
    fn default() -> Self {
        RetryDelays {
            default: Duration::from_secs(30 * 60),
            busy: None,
            no_answer: None,
            failed: None,
        }
    }
}

/// What to do when a machine answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoicemailAction {
    /// Hang up and try again later (counts as an attempt).
    Hangup,
    /// The agent leaves a message; the contact is done.
    LeaveMessage,
}

/// How one call attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallResult {
    /// A person answered.
    Answered,
    /// An answering machine answered.
    Voicemail,
    Busy,
    NoAnswer,
    /// The carrier could not connect the call (or refused to place it).
    Failed,
    /// The call was cancelled before it was answered.
    Canceled,
}

impl CallResult {
    /// The name stored as the attempt's result.
    pub fn as_str(self) -> &'static str {
        match self {
            CallResult::Answered => "answered",
            CallResult::Voicemail => "voicemail",
            CallResult::Busy => "busy",
            CallResult::NoAnswer => "no_answer",
            CallResult::Failed => "failed",
            CallResult::Canceled => "canceled",
        }
    }

    /// Reads a final Twilio `CallStatus` and the answering-machine verdict (`AnsweredBy`).
    /// `None` for statuses that are not final ("ringing", "in-progress" …).
    pub fn from_twilio(call_status: &str, answered_by: Option<&str>) -> Option<CallResult> {
        match call_status {
            "completed" => Some(match answered_by {
                Some(a) if a.starts_with("machine") || a == "fax" => CallResult::Voicemail,
                _ => CallResult::Answered,
            }),
            "busy" => Some(CallResult::Busy),
            "no-answer" => Some(CallResult::NoAnswer),
            "failed" => Some(CallResult::Failed),
            "canceled" => Some(CallResult::Canceled),
            _ => None,
        }
    }
}

/// How long to wait before dialing a contact again after attempt number `attempt_no` (1-based)
/// ended with `result`; `None` when there is no next attempt.
pub fn retry_after(
    result: CallResult,
    attempt_no: u32,
    settings: &CampaignSettings,
) -> Option<Duration> {
    if attempt_no >= settings.max_attempts {
        return None;
    }
    let d = &settings.retry_delay;
    match result {
        CallResult::Answered | CallResult::Canceled => None,
        CallResult::Voicemail => match settings.voicemail {
            VoicemailAction::LeaveMessage => None,
            VoicemailAction::Hangup => Some(d.default),
        },
        CallResult::Busy => Some(d.busy.unwrap_or(d.default)),
        CallResult::NoAnswer => Some(d.no_answer.unwrap_or(d.default)),
        CallResult::Failed => Some(d.failed.unwrap_or(d.default)),
    }
}

/// What becomes of the contact after attempt `attempt_no` ended with `result` at `now`.
pub fn next_step(
    result: CallResult,
    attempt_no: u32,
    settings: &CampaignSettings,
    now: DateTime<Utc>,
) -> ContactNext {
    if let Some(wait) = retry_after(result, attempt_no, settings) {
        let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
        return ContactNext::RetryAt(
            now.checked_add_signed(wait)
                .unwrap_or(now)
                .timestamp_millis(),
        );
    }
    match (result, settings.voicemail) {
        (CallResult::Answered, _) | (CallResult::Voicemail, VoicemailAction::LeaveMessage) => {
            ContactNext::Done
        }
        _ => ContactNext::Failed,
    }
}

/// The next time the window opens, when a call may not start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextOpen(pub DateTime<Utc>);

/// Whether a call to a contact in `contact_tz` (IANA; unknown or missing → the campaign's
/// default) may start at `now`. Otherwise, when the window next opens. If holidays close a whole
/// year ahead, the answer is "a year from now": look again then.
pub fn within_window(
    settings: &CampaignSettings,
    contact_tz: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), NextOpen> {
    let tz = contact_tz
        .and_then(|t| t.parse::<Tz>().ok())
        .or_else(|| settings.default_timezone.parse::<Tz>().ok())
        .unwrap_or(Tz::UTC);
    let w = &settings.window;
    let local = now.with_timezone(&tz);
    let open_day = |d: NaiveDate| w.days.contains(&d.weekday()) && !w.holidays.contains(&d);
    let today = local.date_naive();
    let time = local.time();
    if open_day(today) && time >= w.start && time < w.end {
        return Ok(());
    }
    for ahead in 0..=366 {
        let Some(day) = today.checked_add_days(chrono::Days::new(ahead)) else {
            break;
        };
        if !open_day(day) || (ahead == 0 && time >= w.start) {
            continue;
        }
        if let Some(at) = local_to_utc(&tz, day, w.start) {
            if at > now {
                return Err(NextOpen(at));
            }
        }
    }
    Err(NextOpen(now + chrono::Duration::days(366)))
}

/// A local wall-clock time as UTC. In a spring-forward gap the time does not exist; the window
/// then opens at the first instant after the gap.
fn local_to_utc(tz: &Tz, day: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    let naive = day.and_time(time);
    (0..=4)
        .map(|q| naive + chrono::Duration::minutes(15 * q))
        .find_map(|n| tz.from_local_datetime(&n).earliest())
        .map(|t| t.with_timezone(&Utc))
}

/// Durations as whole seconds.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// Optional durations as whole seconds.
mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(d).map(|o| o.map(Duration::from_secs))
    }
}

/// Times of day as "HH:MM" (seconds accepted on input).
mod hhmm {
    use chrono::NaiveTime;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.format("%H:%M").to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let s = String::deserialize(d)?;
        NaiveTime::parse_from_str(&s, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(&s, "%H:%M:%S"))
            .map_err(|_| D::Error::custom(format!("expected a time like \"09:00\", got {s:?}")))
    }
}
