//! Twilio's side of `<Gather input="speech dtmf">` (spec 1.6, 3.1): it says the nested
//! `<Say>`s, takes the caller's next line or keys from the script, and posts them to the
//! `action` as `SpeechResult` (+ `Confidence`) or `Digits`, or posts nothing-heard when the
//! caller stays silent past `timeout` (with `actionOnEmptyResult`).
//!
//! Twilio only posts once the caller has finished, so there is no socket and no interrupt
//! message: a line spoken during the `<Say>` barges in (`bargeIn`) and is simply posted.

use std::time::Duration;

use tokio::time::Instant;

use crate::script::Step;
use crate::text_log::TextLog;
use crate::text_mode::{Caller, Request, TextCall};
use crate::text_twiml::{GatherVerb, TextVerb};
use crate::urls::Target;

/// `Confidence` Twilio reports for the scripted speech: the sim's "recognizer" is exact.
const CONFIDENCE: &str = "0.93";

/// What the call does after a `<Gather>`.
pub(crate) enum GatherEnd {
    /// Request the action; its TwiML continues the call.
    Post(Request),
    /// Nothing heard and no `actionOnEmptyResult`: continue after `</Gather>`.
    NoInput,
    CallerHungUp,
    Timeout,
}

/// What the caller gave the gather.
enum Input {
    Speech(String),
    Digits(String),
    Nothing,
}

/// Plays one `<Gather>`: its prompts, then script steps until the caller gives input, stays
/// silent past the timeout, or hangs up.
pub(crate) async fn run_gather(
    ctx: &TextCall<'_>,
    log: &mut TextLog,
    caller: &mut Caller<'_>,
    gather: &GatherVerb,
    doc: &Target,
) -> GatherEnd {
    for prompt in &gather.prompts {
        match prompt {
            TextVerb::Say(text) => log.agent_says(text),
            TextVerb::Play { url, digits } => log.twilio(match digits {
                Some(d) => format!("<Play digits={d:?}>"),
                None => format!("<Play> {url}"),
            }),
            TextVerb::Pause(s) => log.twilio(format!("<Pause length={s}>")),
            // The parser only nests the three above.
            _ => {}
        }
    }
    let input = match listen_for_input(ctx, log, caller, gather).await {
        Ok(input) => input,
        Err(end) => return end,
    };
    let mut params = ctx.call.voice("in-progress");
    match input {
        Input::Speech(text) => {
            params.push(("SpeechResult".into(), text));
            params.push(("Confidence".into(), CONFIDENCE.into()));
        }
        Input::Digits(digits) => params.push(("Digits".into(), digits)),
        Input::Nothing if gather.action_on_empty_result => {}
        Input::Nothing => return GatherEnd::NoInput,
    }
    let action = match &gather.action {
        Some(a) => a.clone(),
        None => {
            log.error(format!(
                "<Gather> has no action: Twilio posts the result back to the document URL {}",
                doc.signed
            ));
            doc.signed.clone()
        }
    };
    GatherEnd::Post(Request {
        target: ctx.endpoints.resolve_http(&action, &doc.signed),
        method: gather.method.clone(),
        params,
    })
}

/// Sleeps `d`, bounded by the call timeout; `false` if the call timed out.
async fn sleep(ctx: &TextCall<'_>, d: Duration) -> bool {
    let until = Instant::now() + d;
    tokio::time::sleep_until(until.min(ctx.deadline)).await;
    until < ctx.deadline
}

async fn listen_for_input(
    ctx: &TextCall<'_>,
    log: &mut TextLog,
    caller: &mut Caller<'_>,
    gather: &GatherVerb,
) -> Result<Input, GatherEnd> {
    let time_out = |log: &mut TextLog| {
        log.warn("the call timeout was reached; the caller hangs up".into());
        GatherEnd::Timeout
    };
    // Caller silence so far, against the gather's timeout.
    let mut silent = Duration::ZERO;
    loop {
        let Some(step) = caller.next_step() else {
            // The script is done: the caller waits a while for the agent to end the call.
            let wait = ctx
                .cfg
                .hangup_grace
                .min(gather.timeout.saturating_sub(silent));
            if !sleep(ctx, wait).await {
                return Err(time_out(log));
            }
            if silent + wait >= gather.timeout && ctx.cfg.hangup_grace > wait {
                return Ok(Input::Nothing);
            }
            return Err(GatherEnd::CallerHungUp);
        };
        match step {
            Step::Listen(_) => {
                match log.unheard_since() {
                    // Hear the `<Say>` out before answering.
                    Some(end) => {
                        let until = log.instant(end);
                        tokio::time::sleep_until(until.min(ctx.deadline)).await;
                        if until >= ctx.deadline {
                            return Err(time_out(log));
                        }
                    }
                    None => log.warn(
                        "listen: the agent has nothing more to say until the caller answers the <Gather>"
                            .into(),
                    ),
                }
                log.listened();
            }
            Step::Say(text) | Step::Interrupt(crate::script::Interrupt { say: text, .. }) => {
                let interrupt = matches!(step, Step::Interrupt(_));
                if !gather.speech {
                    log.warn(format!(
                        "the <Gather> does not take speech: Twilio ignores the caller's {text:?}"
                    ));
                    continue;
                }
                if gather.barge_in {
                    log.barge_in();
                } else if let Some(end) = log.unheard_since() {
                    // Without bargeIn, Twilio only listens once the prompt is over.
                    let until = log.instant(end);
                    tokio::time::sleep_until(until.min(ctx.deadline)).await;
                }
                log.listened();
                log.caller(text, interrupt);
                return Ok(Input::Speech(text.clone()));
            }
            Step::Dtmf(digits) => {
                if !gather.dtmf {
                    log.warn(format!(
                        "the <Gather> does not take dtmf: Twilio ignores the keys {digits:?}"
                    ));
                    continue;
                }
                if gather.barge_in {
                    log.barge_in();
                }
                log.listened();
                let mut taken = String::new();
                for d in digits.chars() {
                    log.dtmf(d);
                    if Some(d) == gather.finish_on_key {
                        break;
                    }
                    taken.push(d);
                    if gather
                        .num_digits
                        .is_some_and(|n| taken.chars().count() >= n)
                    {
                        break;
                    }
                }
                if taken.len() < digits.len() && !digits.ends_with(['#']) {
                    log.warn(format!(
                        "dtmf {digits:?}: the <Gather> stops at {taken:?} (numDigits/finishOnKey)"
                    ));
                }
                return Ok(Input::Digits(taken));
            }
            Step::Pause(d) => {
                let left = gather.timeout.saturating_sub(silent);
                if !sleep(ctx, (*d).min(left)).await {
                    return Err(time_out(log));
                }
                silent += *d;
                if silent >= gather.timeout {
                    return Ok(Input::Nothing);
                }
            }
            Step::Hangup => return Err(GatherEnd::CallerHungUp),
        }
    }
}
