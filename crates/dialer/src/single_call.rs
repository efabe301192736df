//! One call, now or at a given time, as a campaign of one contact: the same leases, pacing,
//! exactly-once dialing, status tracking and report as any campaign, with no calling window
//! (a call asked for by hand is placed when asked) and a single attempt.

use chrono::{DateTime, Utc, Weekday};
use store::{CampaignState, NewContact, Store};

use crate::phone::normalize_phone;
use crate::policy::CampaignSettings;

/// Why a single call could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SingleCallError {
    #[error("{number}: {reason}")]
    InvalidNumber { number: String, reason: String },
    #[error("{0} is on the do-not-call list")]
    DoNotCall(String),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// Schedules a call to `number` (normalised with `region`) by `agent` at `at` (now when `None`).
/// Returns the campaign's id; the campaign is running, so a dialing server places the call
/// once it is due.
pub async fn schedule_call(
    store: &Store,
    number: &str,
    region: &str,
    agent: Option<&str>,
    at: Option<DateTime<Utc>>,
) -> Result<i64, SingleCallError> {
    let phone = normalize_phone(number, region).map_err(|e| SingleCallError::InvalidNumber {
        number: number.to_owned(),
        reason: e.to_string(),
    })?;
    if store.is_do_not_call(&phone).await? {
        return Err(SingleCallError::DoNotCall(phone));
    }
    let contact_id = match store.contact_by_phone(&phone).await? {
        Some(c) => c.id,
        None => {
            store
                .upsert_contact(&NewContact {
                    phone: phone.clone(),
                    ..Default::default()
                })
                .await?
        }
    };
    let mut settings = CampaignSettings {
        max_attempts: 1,
        ..CampaignSettings::default()
    };
    settings.window.start = chrono::NaiveTime::MIN;
    settings.window.end = chrono::NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default();
    settings.window.days = vec![
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
    let id = store
        .create_campaign(&format!("call {phone}"), agent, &settings.to_json())
        .await?;
    store.add_campaign_contacts(id, &[contact_id]).await?;
    if let Some(at) = at {
        store
            .schedule_campaign_contact(id, contact_id, at.timestamp_millis())
            .await?;
    }
    store.set_campaign_state(id, CampaignState::Running).await?;
    Ok(id)
}
