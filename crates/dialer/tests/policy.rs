//! Calling windows, retries and settings.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use dialer::{
    retry_after, within_window, CallResult, CampaignSettings, NextOpen, SettingsError,
    VoicemailAction,
};

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

#[test]
fn window_is_checked_in_the_contacts_own_time_zone() {
    let s = CampaignSettings::default();
    // Wednesday 15:00 UTC: 11:00 in New York, 08:00 in Los Angeles (PDT).
    let now = utc(2025, 6, 11, 15, 0);
    assert_eq!(within_window(&s, Some("America/New_York"), now), Ok(()));
    assert_eq!(
        within_window(&s, Some("America/Los_Angeles"), now),
        Err(NextOpen(utc(2025, 6, 11, 16, 0)))
    );
}

#[test]
fn friday_evening_waits_for_monday_morning() {
    let s = CampaignSettings::default();
    // Friday 20:30 in New York (EDT = UTC-4).
    let now = utc(2025, 6, 14, 0, 30);
    assert_eq!(
        within_window(&s, Some("America/New_York"), now),
        Err(NextOpen(utc(2025, 6, 16, 13, 0)))
    );
}

#[test]
fn holidays_are_skipped() {
    let mut s = CampaignSettings::default();
    s.window.holidays = vec![NaiveDate::from_ymd_opt(2025, 12, 25).unwrap()];
    // Thursday 25 December, noon in London.
    let now = utc(2025, 12, 25, 12, 0);
    assert_eq!(
        within_window(&s, Some("Europe/London"), now),
        Err(NextOpen(utc(2025, 12, 26, 9, 0)))
    );
}

#[test]
fn contact_without_time_zone_uses_the_campaign_default() {
    let s = CampaignSettings {
        default_timezone: "Europe/Paris".into(),
        ..CampaignSettings::default()
    };
    // 19:30 UTC is 21:30 in Paris (closed) but 15:30 in New York (open).
    let now = utc(2025, 6, 11, 19, 30);
    assert!(within_window(&s, None, now).is_err());
    assert!(within_window(&s, Some("Not/AZone"), now).is_err());
    assert!(within_window(&s, Some("America/New_York"), now).is_ok());
}

#[test]
fn window_end_is_exclusive() {
    let s = CampaignSettings::default();
    // 20:00 New York.
    assert!(within_window(&s, Some("America/New_York"), utc(2025, 6, 12, 0, 0)).is_err());
    assert!(within_window(&s, Some("America/New_York"), utc(2025, 6, 11, 23, 59)).is_ok());
}

#[test]
fn retry_delay_depends_on_result_and_stops_at_max_attempts() {
    let mut s = CampaignSettings::default();
    s.retry_delay.busy = Some(Duration::from_secs(300));
    assert_eq!(
        retry_after(CallResult::Busy, 1, &s),
        Some(Duration::from_secs(300))
    );
    assert_eq!(
        retry_after(CallResult::NoAnswer, 2, &s),
        Some(Duration::from_secs(1800))
    );
    assert_eq!(retry_after(CallResult::Busy, 3, &s), None);
    assert_eq!(retry_after(CallResult::Answered, 1, &s), None);
    assert_eq!(
        retry_after(CallResult::Voicemail, 1, &s),
        Some(Duration::from_secs(1800))
    );
    s.voicemail = VoicemailAction::LeaveMessage;
    assert_eq!(retry_after(CallResult::Voicemail, 1, &s), None);
}

#[test]
fn twilio_final_statuses_map_to_results() {
    assert_eq!(
        CallResult::from_twilio("completed", Some("machine_end_beep")),
        Some(CallResult::Voicemail)
    );
    assert_eq!(
        CallResult::from_twilio("completed", Some("human")),
        Some(CallResult::Answered)
    );
    assert_eq!(
        CallResult::from_twilio("no-answer", None),
        Some(CallResult::NoAnswer)
    );
    assert_eq!(CallResult::from_twilio("ringing", None), None);
}

#[test]
fn settings_read_from_toml_with_defaults_for_missing_fields() {
    let s: CampaignSettings = toml::from_str(
        r#"
        max_concurrent = 4
        calls_per_second = 0.5
        delay_between_calls = 10
        voicemail = "leave_message"
        order = "newest_first"
        [window]
        start = "10:30"
        end = "18:00"
        days = ["Mon", "Saturday"]
        holidays = ["2025-12-25"]
        [retry_delay]
        default = 600
        busy = 120
        "#,
    )
    .unwrap();
    s.validate().unwrap();
    assert_eq!(s.max_attempts, 3);
    assert_eq!(s.delay_between_calls, Duration::from_secs(10));
    assert_eq!(s.retry_delay.busy, Some(Duration::from_secs(120)));
    assert_eq!(s.window.days.len(), 2);
    let json = s.to_json();
    assert_eq!(json["window"]["start"], "10:30");
    assert_eq!(CampaignSettings::from_json(&json).unwrap(), s);
}

#[test]
fn unusable_settings_are_rejected() {
    let bad = serde_json::json!({"max_concurrent": 0});
    assert!(matches!(
        CampaignSettings::from_json(&bad),
        Err(SettingsError::Invalid(_))
    ));
    let bad = serde_json::json!({"window": {"start": "20:00", "end": "09:00"}});
    assert!(CampaignSettings::from_json(&bad).is_err());
    let bad = serde_json::json!({"default_timezone": "Mars/Base"});
    assert!(CampaignSettings::from_json(&bad).is_err());
    let bad = serde_json::json!({"max_atempts": 2});
    assert!(matches!(
        CampaignSettings::from_json(&bad),
        Err(SettingsError::Json(_))
    ));
    assert_eq!(
        CampaignSettings::from_json(&serde_json::Value::Null).unwrap(),
        CampaignSettings::default()
    );
}
