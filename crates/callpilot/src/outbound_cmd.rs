//! `callpilot contacts …`, `callpilot campaign …` and `callpilot call …`: the outbound side.
//!
//! These commands work on the database; `callpilot serve` (with Twilio's REST credentials)
//! dials every campaign set to running, so a campaign survives this terminal closing and
//! several servers can share one campaign.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{bail, Context};
use dialer::{CampaignSettings, ImportOptions, ImportReport, VoicemailAction};
use store::{CampaignState, Store};

use crate::cli::{
    CallArgs, CampaignAction, CampaignArgs, ContactsAction, ContactsArgs, SettingsArgs,
};

async fn open(url: &str) -> anyhow::Result<Store> {
    Store::connect(url)
        .await
        .with_context(|| format!("opening database {url}"))
}

fn print_import(report: &ImportReport, json: bool, dry_run: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
        return Ok(());
    }
    let verb = if dry_run { "would import" } else { "imported" };
    println!(
        "{verb} {} contact(s); {} duplicate(s) skipped; {} row(s) rejected",
        report.imported.len(),
        report.duplicates.len(),
        report.rejected.len()
    );
    for d in &report.duplicates {
        match d.of_line {
            Some(of) => println!("  line {}: duplicate of line {of} ({})", d.line, d.phone),
            None => println!("  line {}: {} is already a contact", d.line, d.phone),
        }
    }
    for r in &report.rejected {
        println!("  line {}: rejected: {}", r.line, r.reason);
    }
    for c in &report.imported {
        for w in &c.warnings {
            println!("  line {}: warning: {w}", c.line);
        }
    }
    Ok(())
}

async fn import_file(
    store: &Store,
    file: &std::path::Path,
    region: &str,
    dry_run: bool,
) -> anyhow::Result<ImportReport> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let opts = ImportOptions {
        default_region: region.to_owned(),
        ..ImportOptions::default()
    };
    dialer::import_contacts(store, &bytes, &opts, dry_run)
        .await
        .with_context(|| format!("importing {}", file.display()))
}

pub async fn contacts(args: ContactsArgs) -> anyhow::Result<()> {
    let store = open(&args.database_url).await?;
    match args.action {
        ContactsAction::Import {
            file,
            dry_run,
            json,
            region,
        } => {
            let report = import_file(&store, &file, &region, dry_run).await?;
            print_import(&report, json, dry_run)
        }
        ContactsAction::DoNotCall { phone, reason } => {
            let phone = dialer::phone::normalize_phone(&phone, "US")
                .map_err(|e| anyhow::anyhow!("{phone}: {e}"))?;
            store
                .add_do_not_call(&phone, reason.as_deref(), "api", None)
                .await?;
            println!("{phone} will never be dialed");
            Ok(())
        }
    }
}

fn settings_from(args: &SettingsArgs) -> anyhow::Result<CampaignSettings> {
    let mut s = match &args.settings {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let value: toml::Value =
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            CampaignSettings::from_json(&serde_json::to_value(value)?)
                .with_context(|| format!("campaign settings in {}", path.display()))?
        }
        None => CampaignSettings::default(),
    };
    if let Some(n) = args.max_concurrent {
        s.max_concurrent = n;
    }
    if let Some(c) = args.calls_per_second {
        s.calls_per_second = c;
    }
    if let Some(n) = args.max_attempts {
        s.max_attempts = n;
    }
    if let Some(secs) = args.retry_delay_s {
        s.retry_delay.default = Duration::from_secs(secs);
    }
    if let Some(v) = &args.voicemail {
        s.voicemail = match v.as_str() {
            "leave" | "leave_message" => VoicemailAction::LeaveMessage,
            "hangup" => VoicemailAction::Hangup,
            other => bail!("--voicemail {other}: expected leave or hangup"),
        };
    }
    if let Some(w) = &args.window {
        let (start, end) = w
            .split_once('-')
            .with_context(|| format!("--window {w}: expected HH:MM-HH:MM"))?;
        let parse = |t: &str| {
            chrono::NaiveTime::parse_from_str(t.trim(), "%H:%M")
                .with_context(|| format!("--window {w}: {t} is not HH:MM"))
        };
        s.window.start = parse(start)?;
        s.window.end = parse(end)?;
    }
    if args.every_day {
        s.window.days = vec![
            chrono::Weekday::Mon,
            chrono::Weekday::Tue,
            chrono::Weekday::Wed,
            chrono::Weekday::Thu,
            chrono::Weekday::Fri,
            chrono::Weekday::Sat,
            chrono::Weekday::Sun,
        ];
    }
    if let Some(tz) = &args.timezone {
        s.default_timezone = tz.clone();
    }
    s.validate().context("campaign settings")?;
    Ok(s)
}

pub async fn campaign(args: CampaignArgs) -> anyhow::Result<()> {
    let store = open(&args.database_url).await?;
    match args.action {
        CampaignAction::Create {
            name,
            agent,
            contacts,
            region,
            settings,
        } => {
            let settings = settings_from(&settings)?;
            let report = import_file(&store, &contacts, &region, false).await?;
            print_import(&report, false, false)?;
            let agent_key = agent
                .file_stem()
                .and_then(|s| s.to_str())
                .map(str::to_owned);
            let id = store
                .create_campaign(&name, agent_key.as_deref(), &settings.to_json())
                .await?;
            let added = store
                .add_campaign_contacts(id, &report.contact_ids())
                .await?;
            println!("campaign {id} \"{name}\" created with {added} contact(s); start it with `callpilot campaign start {id}`");
            Ok(())
        }
        CampaignAction::Start { id, detach } | CampaignAction::Resume { id, detach } => {
            require(&store, id).await?;
            store.set_campaign_state(id, CampaignState::Running).await?;
            println!("campaign {id} is running: `callpilot serve` dials it (with TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, CALLPILOT_TWILIO_FROM and CALLPILOT_PUBLIC_URL set)");
            if detach {
                return Ok(());
            }
            watch(&store, id).await?;
            report(&store, id, false).await
        }
        CampaignAction::Pause { id } => {
            require(&store, id).await?;
            store.set_campaign_state(id, CampaignState::Paused).await?;
            println!("campaign {id} paused: calls in progress finish, no new ones start");
            Ok(())
        }
        CampaignAction::Status { id } => {
            let campaigns = match id {
                Some(id) => vec![require(&store, id).await?],
                None => store.list_campaigns().await?,
            };
            println!(
                "{:>4}  {:24}  {:8}  {:>6}  {:>7}  {:>7}  {:>6}  results",
                "id", "name", "state", "total", "pending", "dialing", "done"
            );
            for c in campaigns {
                let p = store.campaign_progress(c.id).await?;
                println!(
                    "{:>4}  {:24}  {:8}  {:>6}  {:>7}  {:>7}  {:>6}  {}",
                    c.id,
                    c.name,
                    format!("{:?}", c.state).to_lowercase(),
                    p.total,
                    p.pending,
                    p.dialing + p.leased,
                    p.done + p.skipped + p.failed,
                    results_line(&p.results),
                );
            }
            Ok(())
        }
        CampaignAction::Report { id, json } => {
            require(&store, id).await?;
            report(&store, id, json).await
        }
    }
}

async fn require(store: &Store, id: i64) -> anyhow::Result<store::CampaignRecord> {
    store
        .campaign(id)
        .await?
        .with_context(|| format!("no campaign {id} (see `callpilot campaign status`)"))
}

fn results_line(results: &std::collections::BTreeMap<String, i64>) -> String {
    results
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A live progress bar until the campaign is done or paused.
async fn watch(store: &Store, id: i64) -> anyhow::Result<()> {
    let p = store.campaign_progress(id).await?;
    let bar = indicatif::ProgressBar::new(p.total.max(0) as u64);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} campaign {prefix} [{bar:30}] {pos}/{len} contacts done  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(id.to_string());
    let mut last_change = std::time::Instant::now();
    let mut last_done = -1;
    loop {
        let c = require(store, id).await?;
        let p = store.campaign_progress(id).await?;
        let done = p.done + p.skipped + p.failed;
        bar.set_position(done.max(0) as u64);
        bar.set_message(format!(
            "dialing {}  {}",
            p.dialing + p.leased,
            results_line(&p.results)
        ));
        if done != last_done {
            last_done = done;
            last_change = std::time::Instant::now();
        }
        match c.state {
            CampaignState::Done => break,
            CampaignState::Paused | CampaignState::Draft => {
                bar.abandon_with_message("paused");
                return Ok(());
            }
            CampaignState::Running => {}
        }
        if last_change.elapsed() > Duration::from_secs(30) && p.dialing + p.leased == 0 && done == 0
        {
            bar.println("nothing dialed yet: is `callpilot serve` running with the Twilio settings? (Ctrl-C stops watching; the campaign keeps its state)");
            last_change = std::time::Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bar.finish_with_message("done");
    Ok(())
}

/// The final table: per result, then per contact.
async fn report(store: &Store, id: i64, json: bool) -> anyhow::Result<()> {
    let p = store.campaign_progress(id).await?;
    let rows = store.campaign_report(id).await?;
    if json {
        let rows: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "contact_id": r.contact_id, "name": r.name, "phone": r.phone, "tier": r.tier,
                    "state": r.state, "attempts": r.attempts, "last_result": r.last_result,
                    "outcome": r.outcome,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"campaign": id, "results": p.results, "contacts": rows})
        );
        return Ok(());
    }
    println!("campaign {id}: {} contact(s)", p.total);
    println!("  {:12} {:>5}", "result", "calls");
    for key in [
        "answered",
        "voicemail",
        "busy",
        "no_answer",
        "failed",
        "canceled",
    ] {
        println!(
            "  {:12} {:>5}",
            key,
            p.results.get(key).copied().unwrap_or(0)
        );
    }
    println!();
    println!(
        "  {:24} {:16} {:5} {:9} {:>8}  {:11} outcome",
        "name", "phone", "tier", "state", "attempts", "last result"
    );
    for r in rows {
        let tier = ["Hot", "Warm", "Cold"]
            .get(r.tier as usize)
            .copied()
            .unwrap_or("?");
        println!(
            "  {:24} {:16} {:5} {:9} {:>8}  {:11} {}",
            r.name.as_deref().unwrap_or("-"),
            r.phone,
            tier,
            r.state,
            r.attempts,
            r.last_result.as_deref().unwrap_or("-"),
            r.outcome.as_deref().unwrap_or("-"),
        );
    }
    Ok(())
}

/// One call, now or at a given time (a campaign of one contact).
pub async fn call(args: CallArgs) -> anyhow::Result<()> {
    let store = open(&args.database_url).await?;
    let at = match &args.at {
        Some(at) => {
            let tz: chrono_tz::Tz = args
                .tz
                .parse()
                .map_err(|e| anyhow::anyhow!("--tz {}: {e}", args.tz))?;
            let local = chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%dT%H:%M")
                .with_context(|| format!("--at {at}: expected YYYY-MM-DDTHH:MM"))?;
            Some(
                local
                    .and_local_timezone(tz)
                    .earliest()
                    .with_context(|| format!("--at {at} does not exist in {tz}"))?
                    .with_timezone(&chrono::Utc),
            )
        }
        None => None,
    };
    let agent_key = args
        .agent
        .file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_owned);
    let id =
        dialer::schedule_call(&store, &args.number, &args.region, agent_key.as_deref(), at).await?;
    match at {
        Some(when) => println!(
            "call to {} scheduled for {when} (campaign {id})",
            args.number
        ),
        None => {
            println!(
                "calling {} (campaign {id}); `callpilot serve` places the call",
                args.number
            );
            if !args.detach {
                watch(&store, id).await?;
                report(&store, id, false).await?;
            }
        }
    }
    Ok(())
}
