//! The call modes of the local carrier, and the TwiML runner shared by the two text modes.
//!
//! In ConversationRelay and Gather mode Twilio does the speech itself, so the caller's lines and
//! the agent's replies travel as text: no TTS or STT runs in the sim. Both modes play the same
//! caller script as a Media Streams call and fill the same [`SimReport`] (see `text_log.rs`
//! for the fields that stay empty). A call is a sequence of TwiML documents; this runner plays
//! their verbs and hands `<Connect><ConversationRelay>` to `relay_call.rs` and `<Gather>` to
//! `gather_call.rs`, whose answers (the `<Connect action>` or the `<Gather action>`) bring the
//! next document.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use speech::{Stt, Tts};
use tokio::time::Instant;

use crate::call::{http_client, post_status, run_call, SimConfig};
use crate::error::SimError;
use crate::gather_call::{run_gather, GatherEnd};
use crate::ids::new_sid;
use crate::relay_call::{run_relay, SessionEnd};
use crate::report::{EndReason, SimReport};
use crate::script::{CallerScript, Step};
use crate::text_log::TextLog;
use crate::text_twiml::{self, RelayVerb, TextVerb};
use crate::urls::{Endpoints, Target};
use crate::webhook::{self, CallParams};

/// Most TwiML documents one text-mode call may fetch. Every Gather turn is a document, so this
/// is far above the Media Streams bound; it only stops runaway `<Redirect>` loops.
const MAX_DOCUMENTS: usize = 200;
/// The voice path a number has when none was configured.
const DEFAULT_VOICE_PATH: &str = "/twilio/voice";

/// How the server answers the call: the Twilio product the sim plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallMode {
    /// `<Connect><Stream>`: audio both ways over a Media Stream (the sim runs TTS and STT).
    MediaStream,
    /// `<Connect><ConversationRelay>`: Twilio does the speech, text over a WebSocket.
    Relay,
    /// `<Gather input="speech dtmf">` and `<Say>`: form posts only.
    Gather,
}

impl FromStr for CallMode {
    type Err = SimError;

    /// `stream` or `media`, `relay`, `gather`.
    fn from_str(s: &str) -> Result<Self, SimError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "stream" | "media" => Ok(CallMode::MediaStream),
            "relay" => Ok(CallMode::Relay),
            "gather" => Ok(CallMode::Gather),
            other => Err(SimError::Config(format!(
                "unknown call mode {other:?}: expected stream, media, relay or gather"
            ))),
        }
    }
}

impl CallMode {
    /// The answer URL path for this mode: `cfg.voice_path`, except that the default
    /// `/twilio/voice` becomes `/twilio/relay` or `/twilio/gather` in the text modes.
    pub fn voice_path(self, cfg: &SimConfig) -> String {
        match self {
            CallMode::Relay if cfg.voice_path == DEFAULT_VOICE_PATH => "/twilio/relay".into(),
            CallMode::Gather if cfg.voice_path == DEFAULT_VOICE_PATH => "/twilio/gather".into(),
            _ => cfg.voice_path.clone(),
        }
    }
}

/// Places one call in `mode` with the scripted caller. `MediaStream` is [`run_call`]; the text
/// modes ignore `tts` and `stt` (Twilio does the speech there).
///
/// Errors are reserved for calls that could not happen (bad config, answer webhook refused or
/// unusable, relay handshake refused); everything else goes into the report.
pub async fn run_call_in_mode(
    cfg: &SimConfig,
    mode: CallMode,
    script: &CallerScript,
    tts: Arc<dyn Tts>,
    stt: Arc<dyn Stt>,
) -> Result<SimReport, SimError> {
    if mode == CallMode::MediaStream {
        return run_call(cfg, script, tts, stt).await;
    }
    let endpoints = Endpoints::new(&cfg.server, cfg.public_url.as_deref())?;
    let http = http_client(&cfg.server)?;
    let call = CallParams {
        call_sid: new_sid("CA"),
        account_sid: cfg.account_sid.clone().unwrap_or_else(|| new_sid("AC")),
        from: script.from.clone(),
        to: script.to.clone(),
        direction: "inbound".into(),
        extra: Vec::new(),
    };
    let t0 = Instant::now();
    let ctx = TextCall {
        cfg,
        endpoints,
        http,
        call,
        deadline: t0 + cfg.call_timeout,
    };
    let mut log = TextLog::new(t0);
    let mut caller = Caller {
        steps: &script.steps,
        next: 0,
    };
    let ended_by = ctx.converse(mode, &mut log, &mut caller).await?;
    let duration = t0.elapsed();
    let status_callback = match &cfg.status_path {
        Some(path) => Some(
            post_status(
                &ctx.http,
                &ctx.endpoints.webhook(path),
                &ctx.call,
                duration,
                ctx.token(),
            )
            .await,
        ),
        None => None,
    };
    Ok(log.into_report(ctx.call, duration, ended_by, status_callback))
}

/// A TwiML request the call continues with (an action, a redirect).
pub(crate) struct Request {
    pub target: Target,
    pub method: String,
    pub params: Vec<(String, String)>,
}

/// The caller's place in the script.
pub(crate) struct Caller<'s> {
    steps: &'s [Step],
    next: usize,
}

impl<'s> Caller<'s> {
    /// The next step to perform, if any is left.
    pub fn next_step(&mut self) -> Option<&'s Step> {
        let step = self.steps.get(self.next)?;
        self.next += 1;
        Some(step)
    }
}

/// One text-mode call: where to send requests and as whom.
pub(crate) struct TextCall<'a> {
    pub cfg: &'a SimConfig,
    pub endpoints: Endpoints,
    pub http: reqwest::Client,
    pub call: CallParams,
    /// The call timeout: the caller hangs up here whatever happens.
    pub deadline: Instant,
}

impl TextCall<'_> {
    pub fn token(&self) -> Option<&str> {
        self.cfg.auth_token.as_deref()
    }

    /// Requests a TwiML document, signed, and reads it. A TwiML served with the wrong content
    /// type is noted but read, as Twilio tolerates it.
    pub async fn fetch(
        &self,
        log: &mut TextLog,
        target: &Target,
        method: &str,
        params: &[(String, String)],
    ) -> Result<Vec<TextVerb>, SimError> {
        let answer = webhook::fetch_twiml(&self.http, target, method, params, self.token()).await?;
        if !webhook::is_xml(answer.content_type.as_deref()) {
            log.error(format!(
                "TwiML from {} served as {:?}; Twilio expects text/xml or application/xml",
                target.signed, answer.content_type
            ));
        }
        text_twiml::parse(&answer.body).map_err(|reason| SimError::Twiml {
            url: target.signed.clone(),
            reason,
        })
    }

    /// After a relay session: the `<Connect action>` request to continue with (`None`: go on
    /// with the next verb), or why the call is over (the caller left; Twilio still posts the
    /// action, but nobody is on the line to follow its TwiML).
    async fn after_relay(
        &self,
        log: &mut TextLog,
        relay: &RelayVerb,
        doc: &Target,
        end: SessionEnd,
    ) -> Result<Option<Request>, EndReason> {
        let (call_status, session_status) = if end.caller_left.is_some() {
            ("completed", "completed")
        } else {
            ("in-progress", "ended")
        };
        let action = relay.action.as_ref().map(|a| {
            let mut params = self.call.voice(call_status);
            params.extend(end.action_params(session_status));
            Request {
                target: self.endpoints.resolve_http(a, &doc.signed),
                method: relay.method.clone(),
                params,
            }
        });
        let Some(reason) = end.caller_left else {
            return Ok(action);
        };
        if let Some(r) = action {
            let sent = webhook::request(&self.http, &r.target, &r.method, &r.params, self.token());
            if let Err(e) = sent.await {
                log.error(format!("<Connect action> after the caller left: {e}"));
            }
        }
        Err(reason)
    }

    /// Plays the call's TwiML from the answer on, until someone hangs up.
    async fn converse(
        &self,
        mode: CallMode,
        log: &mut TextLog,
        caller: &mut Caller<'_>,
    ) -> Result<EndReason, SimError> {
        let mut doc = self.endpoints.webhook(&mode.voice_path(self.cfg));
        let mut verbs = self
            .fetch(log, &doc, "POST", &self.call.voice("ringing"))
            .await?;
        let expected = verbs.iter().any(|v| match mode {
            CallMode::Relay => matches!(v, TextVerb::Relay(_)),
            _ => matches!(v, TextVerb::Gather(_)),
        });
        if !expected {
            let wanted = match mode {
                CallMode::Relay => "<Connect><ConversationRelay>",
                _ => "<Gather>",
            };
            return Err(SimError::Twiml {
                url: doc.signed,
                reason: format!("no {wanted} in the answer to the call"),
            });
        }
        let mut documents = 1;
        let mut first_relay = true;
        loop {
            let mut next: Option<Request> = None;
            for verb in std::mem::take(&mut verbs) {
                if Instant::now() >= self.deadline {
                    log.warn("the call timeout was reached; the caller hangs up".into());
                    return Ok(EndReason::Timeout);
                }
                match verb {
                    TextVerb::Say(text) => log.agent_says(&text),
                    TextVerb::Play { url, digits } => log.twilio(match digits {
                        Some(d) => format!("<Play digits={d:?}>"),
                        None => format!("<Play> {url}"),
                    }),
                    TextVerb::Pause(seconds) => {
                        let until = Instant::now() + Duration::from_secs_f64(seconds.min(3600.0));
                        tokio::time::sleep_until(until.min(self.deadline)).await;
                    }
                    TextVerb::Hangup => return Ok(EndReason::TwimlHangup),
                    TextVerb::Reject => {
                        log.twilio("<Reject>".into());
                        return Ok(EndReason::TwimlHangup);
                    }
                    TextVerb::Redirect { url, method } => {
                        next = Some(Request {
                            target: self.endpoints.resolve_http(&url, &doc.signed),
                            method,
                            params: self.call.voice("in-progress"),
                        });
                        break;
                    }
                    TextVerb::Dial { to, has_action } => {
                        // The sim has no second party to ring: the dial is the outcome.
                        log.twilio(format!("<Dial> {to}"));
                        if has_action {
                            log.warn("<Dial action> is not followed: the sim rings nobody".into());
                        }
                    }
                    TextVerb::Relay(relay) => {
                        let end = match run_relay(self, log, caller, &relay, &doc).await {
                            Ok(end) => end,
                            Err(e) if first_relay => return Err(e),
                            Err(e) => {
                                log.error(e.to_string());
                                return Ok(EndReason::TwimlError);
                            }
                        };
                        first_relay = false;
                        match self.after_relay(log, &relay, &doc, end).await {
                            Ok(Some(request)) => {
                                next = Some(request);
                                break;
                            }
                            Ok(None) => {}
                            Err(reason) => return Ok(reason),
                        }
                    }
                    TextVerb::Gather(gather) => {
                        match run_gather(self, log, caller, &gather, &doc).await {
                            GatherEnd::Post(request) => {
                                next = Some(request);
                                break;
                            }
                            GatherEnd::NoInput => {}
                            GatherEnd::CallerHungUp => return Ok(EndReason::CallerHungUp),
                            GatherEnd::Timeout => return Ok(EndReason::Timeout),
                        }
                    }
                }
            }
            let Some(Request {
                target,
                method,
                params,
            }) = next
            else {
                return Ok(EndReason::TwimlEnded);
            };
            documents += 1;
            if documents > MAX_DOCUMENTS {
                log.error(format!(
                    "more than {MAX_DOCUMENTS} TwiML documents: redirect loop?"
                ));
                return Ok(EndReason::TwimlError);
            }
            match self.fetch(log, &target, &method, &params).await {
                Ok(v) => {
                    verbs = v;
                    doc = target;
                }
                Err(e) => {
                    log.error(e.to_string());
                    return Ok(EndReason::TwimlError);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_from_their_names() {
        assert_eq!("stream".parse::<CallMode>().unwrap(), CallMode::MediaStream);
        assert_eq!("media".parse::<CallMode>().unwrap(), CallMode::MediaStream);
        assert_eq!("Relay".parse::<CallMode>().unwrap(), CallMode::Relay);
        assert_eq!("gather".parse::<CallMode>().unwrap(), CallMode::Gather);
        let e = "sms".parse::<CallMode>().unwrap_err().to_string();
        assert!(e.contains("unknown call mode \"sms\""), "{e}");
    }

    #[test]
    fn text_modes_answer_on_their_own_path_unless_one_is_configured() {
        let default = SimConfig::default();
        assert_eq!(CallMode::Relay.voice_path(&default), "/twilio/relay");
        assert_eq!(CallMode::Gather.voice_path(&default), "/twilio/gather");
        assert_eq!(CallMode::MediaStream.voice_path(&default), "/twilio/voice");
        let custom = SimConfig {
            voice_path: "/hooks/answer?agent=ava".into(),
            ..SimConfig::default()
        };
        assert_eq!(
            CallMode::Relay.voice_path(&custom),
            "/hooks/answer?agent=ava"
        );
    }
}
