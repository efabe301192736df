//! Twilio's HTTP side of a call: the signed voice request that fetches TwiML (spec 1.2) and
//! the call status callback (spec 1.3).

use std::time::Duration;

use crate::error::SimError;
use crate::signature::{sign, SIGNATURE_HEADER};
use crate::urls::Target;

/// How long Twilio waits for a webhook (spec 1.1: roughly 15 s).
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);
/// Twilio's webhook user agent.
const USER_AGENT: &str = "TwilioProxy/1.1";

/// The identity of the simulated call, as sent on every request.
#[derive(Debug, Clone)]
pub struct CallParams {
    pub call_sid: String,
    pub account_sid: String,
    pub from: String,
    pub to: String,
    /// `inbound`, or `outbound-api` for calls created through the REST API.
    pub direction: String,
    /// Parameters added to every voice request (`AnsweredBy`, `MachineDetectionDuration` after
    /// synchronous answering machine detection).
    pub extra: Vec<(String, String)>,
}

impl CallParams {
    /// The parameters of a voice request (spec 1.2), in the alphabetical order Twilio posts them. Geo fields are best effort, as on Twilio: the country comes from
    /// the calling code, city/state/zip are empty.
    pub fn voice(&self, call_status: &str) -> Vec<(String, String)> {
        let from_country = country_of(&self.from);
        let to_country = country_of(&self.to);
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        let mut params = vec![
            p("AccountSid", &self.account_sid),
            p("ApiVersion", "2010-04-01"),
            p("CallSid", &self.call_sid),
            p("CallStatus", call_status),
            p("Called", &self.to),
            p("CalledCity", ""),
            p("CalledCountry", to_country),
            p("CalledState", ""),
            p("CalledZip", ""),
            p("Caller", &self.from),
            p("CallerCity", ""),
            p("CallerCountry", from_country),
            p("CallerState", ""),
            p("CallerZip", ""),
            p("Direction", &self.direction),
            p("From", &self.from),
            p("FromCity", ""),
            p("FromCountry", from_country),
            p("FromState", ""),
            p("FromZip", ""),
            p("To", &self.to),
            p("ToCity", ""),
            p("ToCountry", to_country),
            p("ToState", ""),
            p("ToZip", ""),
        ];
        if !self.extra.is_empty() {
            params.extend(self.extra.iter().cloned());
            params.sort_by(|a, b| a.0.cmp(&b.0));
        }
        params
    }

    /// The `completed` call status callback (spec 1.3): the voice parameters plus
    /// `CallbackSource`, `CallDuration`, `SequenceNumber` and an RFC 2822 `Timestamp`.
    pub fn completed(
        &self,
        duration: Duration,
        sequence: u32,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Vec<(String, String)> {
        let mut params = self.voice("completed");
        params.extend([
            (
                "CallDuration".to_string(),
                duration.as_secs_f64().round().to_string(),
            ),
            (
                "CallbackSource".to_string(),
                "call-progress-events".to_string(),
            ),
            ("SequenceNumber".to_string(), sequence.to_string()),
            (
                "Timestamp".to_string(),
                at.format("%a, %d %b %Y %H:%M:%S +0000").to_string(),
            ),
        ]);
        params.sort_by(|a, b| a.0.cmp(&b.0));
        params
    }
}

/// Country of an E.164 number by calling code, for the best-effort geo fields.
fn country_of(number: &str) -> &'static str {
    const CODES: &[(&str, &str)] = &[
        ("+1", "US"),
        ("+44", "GB"),
        ("+49", "DE"),
        ("+33", "FR"),
        ("+34", "ES"),
        ("+39", "IT"),
        ("+31", "NL"),
        ("+61", "AU"),
        ("+81", "JP"),
        ("+91", "IN"),
    ];
    CODES
        .iter()
        .find(|(code, _)| number.starts_with(code))
        .map(|(_, c)| *c)
        .unwrap_or("")
}

/// A response to a webhook.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

/// Sends a signed request as Twilio does: POST form body, or GET with the parameters in the
/// query (then the signature covers the URL with its query and no parameters).
pub async fn request(
    http: &reqwest::Client,
    target: &Target,
    method: &str,
    params: &[(String, String)],
    auth_token: Option<&str>,
) -> Result<Answer, SimError> {
    let encoded = serde_urlencoded::to_string(params).unwrap_or_default();
    let (signed_url, transport_url, body) = if method.eq_ignore_ascii_case("GET") {
        let join = |u: &str| format!("{u}{}{encoded}", if u.contains('?') { '&' } else { '?' });
        (join(&target.signed), join(&target.transport), None)
    } else {
        (
            target.signed.clone(),
            target.transport.clone(),
            Some(encoded),
        )
    };
    let mut req = match body {
        Some(body) => http
            .post(&transport_url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body),
        None => http.get(&transport_url),
    }
    .header("User-Agent", USER_AGENT);
    if let Some(token) = auth_token {
        let signed_params: &[(String, String)] = if method.eq_ignore_ascii_case("GET") {
            &[]
        } else {
            params
        };
        req = req.header(SIGNATURE_HEADER, sign(token, &signed_url, signed_params));
    }
    let http_err = |source| SimError::Http {
        url: transport_url.clone(),
        source,
    };
    let resp = req.send().await.map_err(http_err)?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.text().await.map_err(http_err)?;
    Ok(Answer {
        status,
        content_type,
        body,
    })
}

/// Fetches a TwiML document; non-2xx answers are errors (Twilio's 11200).
pub async fn fetch_twiml(
    http: &reqwest::Client,
    target: &Target,
    method: &str,
    params: &[(String, String)],
    auth_token: Option<&str>,
) -> Result<Answer, SimError> {
    let answer = request(http, target, method, params, auth_token).await?;
    if !(200..300).contains(&answer.status) {
        let body: String = answer.body.chars().take(500).collect();
        return Err(SimError::WebhookStatus {
            url: target.transport.clone(),
            status: answer.status,
            body,
        });
    }
    Ok(answer)
}

/// Whether a Content-Type is one Twilio accepts for TwiML.
pub fn is_xml(content_type: Option<&str>) -> bool {
    content_type
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|c| c == "text/xml" || c == "application/xml")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> CallParams {
        CallParams {
            call_sid: "CA1".into(),
            account_sid: "AC1".into(),
            from: "+14155550100".into(),
            to: "+442071838750".into(),
            direction: "inbound".into(),
            extra: Vec::new(),
        }
    }

    #[test]
    fn voice_params_describe_an_inbound_ringing_call() {
        let p = call().voice("ringing");
        let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("CallStatus"), Some("ringing"));
        assert_eq!(get("Direction"), Some("inbound"));
        assert_eq!(get("ApiVersion"), Some("2010-04-01"));
        assert_eq!(get("Caller"), Some("+14155550100"));
        assert_eq!(get("Called"), Some("+442071838750"));
        assert_eq!(get("FromCountry"), Some("US"));
        assert_eq!(get("ToCountry"), Some("GB"));
        let names: Vec<&str> = p.iter().map(|(n, _)| n.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn completed_callback_carries_duration_sequence_and_rfc2822_timestamp() {
        use chrono::TimeZone;
        let at = chrono::Utc.with_ymd_and_hms(2026, 3, 3, 17, 4, 5).unwrap();
        let p = call().completed(Duration::from_millis(12_600), 0, at);
        let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("CallStatus"), Some("completed"));
        assert_eq!(get("CallDuration"), Some("13"));
        assert_eq!(get("CallbackSource"), Some("call-progress-events"));
        assert_eq!(get("SequenceNumber"), Some("0"));
        assert_eq!(get("Timestamp"), Some("Tue, 03 Mar 2026 17:04:05 +0000"));
    }

    #[test]
    fn xml_content_types_are_recognised() {
        assert!(is_xml(Some("text/xml; charset=utf-8")));
        assert!(is_xml(Some("application/xml")));
        assert!(!is_xml(Some("text/html")));
        assert!(!is_xml(None));
    }
}
