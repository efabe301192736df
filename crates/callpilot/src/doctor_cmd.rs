//! `callpilot doctor`: checks the configuration with cheap real requests and prints what works
//! and what to fix. Exits non-zero when anything configured is broken.

use std::time::Duration;

use crate::cli::DoctorArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Fail,
    Skipped,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Fail => "FAIL",
            Status::Skipped => "skipped",
        }
    }
}

struct Check {
    name: &'static str,
    status: Status,
    detail: String,
}

fn ok(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        status: Status::Ok,
        detail: detail.into(),
    }
}
fn fail(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        status: Status::Fail,
        detail: detail.into(),
    }
}
fn skipped(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        status: Status::Skipped,
        detail: detail.into(),
    }
}

pub async fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.providers.speech_timeout_s.max(1)))
        .build()?;
    let mut checks = vec![
        database(&args.database_url).await,
        models(&args.models_dir),
        agents(&args.agent),
        provider_choice(&args),
    ];
    checks.push(deepgram(&args).await);
    checks.push(openai_speech(&args, &http).await);
    checks.push(llm(&http).await);
    checks.extend(twilio(&args, &http).await);
    checks.push(public_url(&args, &http).await);

    if args.json {
        let rows: Vec<_> = checks
            .iter()
            .map(|c| serde_json::json!({"check": c.name, "status": c.status.label(), "detail": c.detail}))
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else {
        let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(5);
        println!("{:width$}  {:7}  detail", "check", "status");
        for c in &checks {
            println!("{:width$}  {:7}  {}", c.name, c.status.label(), c.detail);
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed");
    }
    Ok(())
}

async fn database(url: &str) -> Check {
    match store::Store::connect(url).await {
        Ok(s) => match s.list_calls(1).await {
            Ok(_) => ok("database", format!("{url} opens, schema up to date")),
            Err(e) => fail("database", format!("{url}: {e}")),
        },
        Err(e) => fail(
            "database",
            format!(
                "{url}: {e} (set CALLPILOT_DATABASE_URL; the folder must exist and be writable)"
            ),
        ),
    }
}

fn models(dir: &std::path::Path) -> Check {
    let missing: Vec<String> = speech::models::check(&speech::models::ModelDir::new(dir))
        .into_iter()
        .filter(|(_, _, present)| !present)
        .map(|(name, _, _)| name.to_owned())
        .collect();
    if missing.is_empty() {
        ok("local models", format!("all present in {}", dir.display()))
    } else {
        fail(
            "local models",
            format!(
                "missing in {}: {} (run `callpilot models install`)",
                dir.display(),
                missing.join(", ")
            ),
        )
    }
}

fn agents(default_agent: &std::path::Path) -> Check {
    match server::AgentRegistry::load(default_agent, &brain::BrainResources::default()) {
        Ok(r) => ok("agents", format!("loaded: {}", r.names().join(", "))),
        Err(e) => fail("agents", format!("{}: {e}", default_agent.display())),
    }
}

fn provider_choice(args: &DoctorArgs) -> Check {
    let p = &args.providers;
    let deepgram = crate::speech_setup::deepgram_config(p).is_some();
    let openai = crate::speech_setup::openai_config(p).is_some();
    let stt_ok = match p.stt.as_str() {
        "local" => true,
        "deepgram" => deepgram,
        "openai" => openai,
        _ => false,
    };
    let tts_ok = match p.tts.as_str() {
        "piper" | "espeak" => true,
        "deepgram" => deepgram,
        "openai" => openai,
        _ => false,
    };
    let chosen = format!("CALLPILOT_STT={} CALLPILOT_TTS={}", p.stt, p.tts);
    if stt_ok && tts_ok {
        ok("speech engines", chosen)
    } else {
        fail(
            "speech engines",
            format!("{chosen}: STT is local|deepgram|openai, TTS piper|espeak|deepgram|openai; deepgram needs DEEPGRAM_API_KEY, openai needs OPENAI_API_KEY or CALLPILOT_OPENAI_SPEECH_URL"),
        )
    }
}

/// Opens a live transcription stream and closes it at once: proves key and reachability
/// without sending (or paying for) any audio.
async fn deepgram(args: &DoctorArgs) -> Check {
    let Some(cfg) = crate::speech_setup::deepgram_config(&args.providers) else {
        return skipped("deepgram", "DEEPGRAM_API_KEY not set");
    };
    let opened = speech::DeepgramLive::connect(&cfg, &speech::LiveOptions::default()).await;
    match opened {
        Ok((mut tx, mut rx)) => {
            let _ = tx.close_stream().await;
            let _ = tokio::time::timeout(Duration::from_secs(3), async {
                while let Some(Ok(_)) = rx.next().await {}
            })
            .await;
            ok("deepgram", format!("{} accepts the key", cfg.base_url))
        }
        Err(e) => fail(
            "deepgram",
            format!(
                "{}: {e} (check DEEPGRAM_API_KEY and CALLPILOT_DEEPGRAM_URL)",
                cfg.base_url
            ),
        ),
    }
}

async fn get_json(
    http: &reqwest::Client,
    url: &str,
    auth: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> Result<serde_json::Value, String> {
    let resp = auth(http.get(url))
        .send()
        .await
        .map_err(|e| format!("{url} unreachable: {e}"))?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        let snippet: String = body.chars().take(200).collect();
        return Err(format!("{url} answered HTTP {status}: {snippet}"));
    }
    Ok(serde_json::from_str(&body).unwrap_or(serde_json::Value::Null))
}

async fn openai_speech(args: &DoctorArgs, http: &reqwest::Client) -> Check {
    let Some(cfg) = crate::speech_setup::openai_config(&args.providers) else {
        return skipped(
            "openai speech",
            "neither OPENAI_API_KEY nor CALLPILOT_OPENAI_SPEECH_URL set",
        );
    };
    let url = format!("{}/models", cfg.base_url);
    match get_json(http, &url, |r| r.bearer_auth(&cfg.api_key)).await {
        Ok(_) => ok("openai speech", format!("{} accepts the key", cfg.base_url)),
        Err(e) => fail("openai speech", format!("{e} (check OPENAI_API_KEY)")),
    }
}

async fn llm(http: &reqwest::Client) -> Check {
    let base = std::env::var("CALLPILOT_LLM_BASE_URL").ok();
    let key = std::env::var("CALLPILOT_LLM_API_KEY")
        .or_else(|_| std::env::var("OPENAI_API_KEY"))
        .ok();
    if base.is_none() && key.is_none() {
        return skipped(
            "language model",
            "no CALLPILOT_LLM_BASE_URL / API key: intents and knowledge only (or --llm local)",
        );
    }
    let base = base.unwrap_or_else(|| "https://api.openai.com/v1".into());
    let url = format!("{}/models", base.trim_end_matches('/'));
    match get_json(http, &url, |r| match &key {
        Some(k) => r.bearer_auth(k),
        None => r,
    })
    .await
    {
        Ok(_) => ok("language model", format!("{base} answers")),
        Err(e) => fail("language model", e),
    }
}

async fn twilio(args: &DoctorArgs, http: &reqwest::Client) -> Vec<Check> {
    let (Some(sid), Some(token)) = (
        args.twilio_account_sid.as_deref().filter(|s| !s.is_empty()),
        args.twilio_auth_token.as_deref().filter(|s| !s.is_empty()),
    ) else {
        return vec![skipped(
            "twilio account",
            "TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN not set (needed for phone calls)",
        )];
    };
    let api = args.twilio_api_url.trim_end_matches('/');
    let url = format!("{api}/Accounts/{sid}.json");
    let mut out = Vec::new();
    match get_json(http, &url, |r| r.basic_auth(sid, Some(token))).await {
        Ok(v) => out.push(ok(
            "twilio account",
            format!("{sid} is {}", v["status"].as_str().unwrap_or("reachable")),
        )),
        Err(e) => {
            out.push(fail(
                "twilio account",
                format!("{e} (check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)"),
            ));
            return out;
        }
    }
    let Some(number) = args.twilio_number.as_deref() else {
        out.push(skipped("twilio number", "CALLPILOT_TWILIO_NUMBER not set"));
        return out;
    };
    let url = format!(
        "{api}/Accounts/{sid}/IncomingPhoneNumbers.json?PhoneNumber={}",
        number.replace('+', "%2B")
    );
    match get_json(http, &url, |r| r.basic_auth(sid, Some(token))).await {
        Ok(v) => {
            let found = v["incoming_phone_numbers"]
                .as_array()
                .and_then(|a| a.first())
                .cloned();
            match found {
                None => out.push(fail(
                    "twilio number",
                    format!("{number} is not a number of account {sid}"),
                )),
                Some(n) => {
                    let voice_url = n["voice_url"].as_str().unwrap_or_default().to_owned();
                    match &args.public_url {
                        Some(p) if !voice_url.starts_with(p.trim_end_matches('/')) => {
                            out.push(fail(
                                "twilio number",
                                format!("{number} sends calls to {voice_url:?}, not to {p}/twilio/voice (or /twilio/relay, /twilio/gather)"),
                            ))
                        }
                        _ => out.push(ok(
                            "twilio number",
                            format!("{number} → {voice_url}"),
                        )),
                    }
                }
            }
        }
        Err(e) => out.push(fail("twilio number", e)),
    }
    out
}

async fn public_url(args: &DoctorArgs, http: &reqwest::Client) -> Check {
    let Some(base) = &args.public_url else {
        return skipped(
            "public url",
            "CALLPILOT_PUBLIC_URL not set: fine locally; Twilio needs a public https URL",
        );
    };
    let url = format!("{}/health", base.trim_end_matches('/'));
    match get_json(http, &url, |r| r).await {
        Ok(v) if v["status"] == "ok" => ok("public url", format!("{url} reaches callpilot")),
        Ok(_) => fail(
            "public url",
            format!(
                "{url} answers, but not as callpilot (is the tunnel pointing at another service?)"
            ),
        ),
        Err(e) => fail(
            "public url",
            format!("{e} (is `callpilot serve` running and the tunnel/proxy up?)"),
        ),
    }
}
