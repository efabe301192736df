//! The campaign runner against a real store, a fake carrier and a manual clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use dialer::{
    import_contacts, CallResult, CampaignSettings, Clock, DialError, ImportOptions, ManualClock,
    PlaceCall, PlaceCallRequest, Runner, RunnerEvent, Step,
};
use store::{CampaignState, Store};
use tokio::sync::Notify;

const CRM: &[u8] = include_bytes!("data/crm_contacts.csv");

/// CSV line of each imported number, to assert dialing order in the file's terms.
const LINES: &[(&str, usize)] = &[
    ("+14155550101", 2),
    ("+12125550102", 3),
    ("+13125550103", 4),
    ("+14155550104", 5),
    ("+442079460105", 6),
    ("+33142680109", 10),
    ("+12065550110", 11),
];

#[derive(Default)]
struct Calls {
    /// Numbers in the order the carrier accepted them.
    dialed: Vec<String>,
    /// (call SID, number) whose result has not been fed back yet.
    unanswered: Vec<(String, String)>,
    next_sid: u32,
}

/// A carrier that accepts every call, except that it never answers for `hang_on`.
#[derive(Clone, Default)]
struct FakeCarrier {
    calls: Arc<Mutex<Calls>>,
    hang_on: Option<String>,
    hung: Arc<Notify>,
}

impl PlaceCall for FakeCarrier {
    async fn place(&self, req: PlaceCallRequest) -> Result<String, DialError> {
        if self.hang_on.as_deref() == Some(req.to.as_str()) {
            self.hung.notify_one();
            std::future::pending::<()>().await;
        }
        let mut c = self.calls.lock().unwrap();
        c.next_sid += 1;
        let sid = format!("CA{:032}", c.next_sid);
        c.dialed.push(req.to.clone());
        c.unanswered.push((sid.clone(), req.to));
        Ok(sid)
    }
}

impl FakeCarrier {
    fn dialed_lines(&self) -> Vec<usize> {
        let lines: HashMap<&str, usize> = LINES.iter().copied().collect();
        let c = self.calls.lock().unwrap();
        c.dialed.iter().map(|p| lines[p.as_str()]).collect()
    }

    fn take_unanswered(&self) -> Vec<(String, String)> {
        std::mem::take(&mut self.calls.lock().unwrap().unanswered)
    }
}

type TestRunner = Runner<FakeCarrier, Arc<ManualClock>>;

/// Wednesday 11 June 2025, 16:30 UTC: inside 09:00–20:00 in every time zone of the sample file.
fn open_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 11, 16, 30, 0).unwrap()
}

async fn campaign(store: &Store, settings: &CampaignSettings) -> i64 {
    let report = import_contacts(store, CRM, &ImportOptions::default(), false)
        .await
        .unwrap();
    let id = store
        .create_campaign("sample", Some("sales"), &settings.to_json())
        .await
        .unwrap();
    store
        .add_campaign_contacts(id, &report.contact_ids())
        .await
        .unwrap();
    store
        .set_campaign_state(id, CampaignState::Running)
        .await
        .unwrap();
    id
}

/// Steps the runner, feeding every new call's result back, and moves the clock to whenever the
/// runner says something becomes due. Stops when the campaign finishes or pauses.
async fn drive(
    runner: &TestRunner,
    clock: &ManualClock,
    carrier: &FakeCarrier,
    result_for: impl Fn(&str) -> CallResult,
) -> Step {
    for _ in 0..1000 {
        let step = runner.step().await.unwrap();
        let answered = carrier.take_unanswered();
        for (sid, phone) in &answered {
            assert!(runner.on_call_result(sid, result_for(phone)).await.unwrap());
        }
        match step {
            Step::Wait { until } if answered.is_empty() => {
                let until = until.expect("runner waits for a result that never comes");
                clock.set(until.max(clock.now()));
            }
            Step::Wait { .. } => {}
            done => return done,
        }
    }
    panic!("campaign did not finish");
}

async fn memory_setup(
    settings: CampaignSettings,
) -> (Store, TestRunner, Arc<ManualClock>, FakeCarrier) {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let id = campaign(&store, &settings).await;
    let clock = Arc::new(ManualClock::new(open_time()));
    let carrier = FakeCarrier::default();
    let runner = Runner::new(store.clone(), id, "test", carrier.clone(), clock.clone())
        .await
        .unwrap();
    (store, runner, clock, carrier)
}

#[tokio::test]
async fn hot_contacts_dialed_first_then_warm_then_cold_on_postgres() {
    let Some(url) = postgres_url().await else {
        return;
    };
    let store = Store::connect(&url).await.unwrap();
    let id = campaign(&store, &CampaignSettings::default()).await;
    let clock = Arc::new(ManualClock::new(open_time()));
    let carrier = FakeCarrier::default();
    let runner = Runner::new(store, id, "pg", carrier.clone(), clock.clone())
        .await
        .unwrap();
    let step = drive(&runner, &clock, &carrier, |_| CallResult::Answered).await;
    assert_eq!(step, Step::Finished);
    assert_eq!(carrier.dialed_lines(), [2, 5, 10, 3, 6, 11, 4]);
}

#[tokio::test]
async fn hot_contacts_dialed_first_then_warm_then_cold() {
    let (_store, runner, clock, carrier) = memory_setup(CampaignSettings::default()).await;
    let step = drive(&runner, &clock, &carrier, |_| CallResult::Answered).await;
    assert_eq!(step, Step::Finished);
    assert_eq!(carrier.dialed_lines(), [2, 5, 10, 3, 6, 11, 4]);
}

#[tokio::test]
async fn calls_are_paced_at_the_configured_rate() {
    let settings = CampaignSettings {
        max_concurrent: 10,
        calls_per_second: 0.5,
        ..CampaignSettings::default()
    };
    let (_store, runner, _clock, carrier) = memory_setup(settings).await;
    let step = runner.step().await.unwrap();
    assert_eq!(carrier.dialed_lines(), [2]);
    assert_eq!(
        step,
        Step::Wait {
            until: Some(open_time() + chrono::Duration::seconds(2))
        }
    );
}

#[tokio::test]
async fn concurrency_limit_waits_for_results() {
    let settings = CampaignSettings {
        max_concurrent: 2,
        calls_per_second: 100.0,
        ..CampaignSettings::default()
    };
    let (_store, runner, clock, carrier) = memory_setup(settings).await;
    runner.step().await.unwrap();
    clock.advance(Duration::from_secs(1));
    let step = runner.step().await.unwrap();
    assert_eq!(carrier.dialed_lines(), [2, 5]);
    assert_eq!(step, Step::Wait { until: None });
}

#[tokio::test]
async fn busy_contact_is_retried_after_the_delay() {
    let mut settings = CampaignSettings::default();
    settings.retry_delay.busy = Some(Duration::from_secs(600));
    let (store, runner, clock, carrier) = memory_setup(settings).await;
    let busy_once = Mutex::new(false);
    let step = drive(&runner, &clock, &carrier, |phone| {
        let mut done = busy_once.lock().unwrap();
        if phone == "+14155550101" && !*done {
            *done = true;
            CallResult::Busy
        } else {
            CallResult::Answered
        }
    })
    .await;
    assert_eq!(step, Step::Finished);
    // Line 2 again at the end: the other six took 6 s, the retry waited 10 min.
    assert_eq!(carrier.dialed_lines(), [2, 5, 10, 3, 6, 11, 4, 2]);
    let attempts = store
        .campaign_attempts(runner_campaign(&store).await)
        .await
        .unwrap();
    let ava: Vec<_> = attempts
        .iter()
        .filter(|a| a.contact_id == attempts[0].contact_id)
        .collect();
    assert_eq!(ava.len(), 2);
    let gap = ava[1].created_at - ava[0].updated_at;
    assert!(gap >= 600_000, "retried after {gap} ms");
}

async fn runner_campaign(store: &Store) -> i64 {
    store.list_campaigns().await.unwrap()[0].id
}

#[tokio::test]
async fn max_attempts_are_respected() {
    let settings = CampaignSettings {
        max_attempts: 2,
        ..CampaignSettings::default()
    };
    let (store, runner, clock, carrier) = memory_setup(settings).await;
    let step = drive(&runner, &clock, &carrier, |phone| {
        if phone == "+12125550102" {
            CallResult::NoAnswer
        } else {
            CallResult::Answered
        }
    })
    .await;
    assert_eq!(step, Step::Finished);
    let tries = carrier.dialed_lines().iter().filter(|&&l| l == 3).count();
    assert_eq!(tries, 2);
    let report = store
        .campaign_report(runner_campaign(&store).await)
        .await
        .unwrap();
    let liam = report.iter().find(|r| r.phone == "+12125550102").unwrap();
    assert_eq!((liam.state.as_str(), liam.attempts), ("failed", 2));
    assert_eq!(liam.last_result.as_deref(), Some("no_answer"));
}

#[tokio::test]
async fn do_not_call_numbers_are_never_dialed() {
    let (store, runner, clock, carrier) = memory_setup(CampaignSettings::default()).await;
    store
        .add_do_not_call("+33142680109", Some("asked"), "call", None)
        .await
        .unwrap();
    drive(&runner, &clock, &carrier, |_| CallResult::Answered).await;
    assert_eq!(carrier.dialed_lines(), [2, 5, 3, 6, 11, 4]);
    let p = store
        .campaign_progress(runner_campaign(&store).await)
        .await
        .unwrap();
    assert_eq!((p.done, p.skipped), (6, 1));
}

#[tokio::test]
async fn contact_outside_its_window_is_dialed_when_it_opens() {
    let (store, runner, clock, carrier) = memory_setup(CampaignSettings {
        max_concurrent: 10,
        calls_per_second: 100.0,
        ..CampaignSettings::default()
    })
    .await;
    let mut events = runner.subscribe();
    // 15:00 UTC: 08:00 in Los Angeles (lines 2, 5, 11), open everywhere else.
    let early = Utc.with_ymd_and_hms(2025, 6, 11, 15, 0, 0).unwrap();
    clock.set(early);
    let mut step = runner.step().await.unwrap();
    while let Step::Wait { until: Some(t) } = step {
        if t >= Utc.with_ymd_and_hms(2025, 6, 11, 16, 0, 0).unwrap() {
            break;
        }
        clock.set(t);
        step = runner.step().await.unwrap();
    }
    assert_eq!(carrier.dialed_lines(), [10, 3, 6, 4]);
    let opens = Utc.with_ymd_and_hms(2025, 6, 11, 16, 0, 0).unwrap();
    assert_eq!(step, Step::Wait { until: Some(opens) });
    let mut deferred = 0;
    while let Ok(e) = events.try_recv() {
        if let RunnerEvent::Deferred { until, reason, .. } = e {
            assert_eq!((until, reason.as_str()), (opens, "outside_window"));
            deferred += 1;
        }
    }
    assert_eq!(deferred, 3);

    clock.set(opens);
    drive(&runner, &clock, &carrier, |_| CallResult::Answered).await;
    assert_eq!(carrier.dialed_lines(), [10, 3, 6, 4, 2, 5, 11]);
    // Being put back for the window is not an attempt.
    let report = store
        .campaign_report(runner_campaign(&store).await)
        .await
        .unwrap();
    assert!(report.iter().all(|r| r.attempts == 1));
}

#[tokio::test]
async fn paused_campaign_stops_the_runner() {
    let (store, runner, _clock, carrier) = memory_setup(CampaignSettings::default()).await;
    store
        .set_campaign_state(runner_campaign(&store).await, CampaignState::Paused)
        .await
        .unwrap();
    assert_eq!(runner.step().await.unwrap(), Step::Paused);
    assert!(carrier.dialed_lines().is_empty());
}

#[tokio::test]
async fn carrier_refusal_counts_as_a_failed_attempt() {
    struct Refuses;
    impl PlaceCall for Refuses {
        async fn place(&self, _: PlaceCallRequest) -> Result<String, DialError> {
            Err(DialError::Rejected("21211 invalid 'To' number".into()))
        }
    }
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let id = campaign(
        &store,
        &CampaignSettings {
            max_attempts: 1,
            ..Default::default()
        },
    )
    .await;
    let clock = Arc::new(ManualClock::new(open_time()));
    let runner = Runner::new(store.clone(), id, "t", Refuses, clock.clone())
        .await
        .unwrap();
    let mut step = runner.step().await.unwrap();
    while let Step::Wait { until: Some(t) } = step {
        clock.set(t);
        step = runner.step().await.unwrap();
    }
    assert_eq!(step, Step::Finished);
    let p = store.campaign_progress(id).await.unwrap();
    assert_eq!((p.failed, p.results.get("failed")), (7, Some(&7)));
}

/// The URL of a new, empty PostgreSQL database, or `None` (with a note) when
/// `CALLPILOT_TEST_POSTGRES_URL` is not set (`scripts/with-postgres.sh` sets it).
async fn postgres_url() -> Option<String> {
    use sqlx::Connection;
    use std::sync::atomic::{AtomicU32, Ordering};
    let Ok(base) = std::env::var("CALLPILOT_TEST_POSTGRES_URL") else {
        eprintln!("PostgreSQL tests skipped: CALLPILOT_TEST_POSTGRES_URL not set");
        return None;
    };
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let name = format!(
        "cp_dialer_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = sqlx::postgres::PgConnection::connect(&base)
        .await
        .expect("connect to CALLPILOT_TEST_POSTGRES_URL");
    // Digits and underscores only: safe to splice.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    let (server, _) = base.rsplit_once('/').expect("URL with a database path");
    Some(format!("{server}/{name}"))
}

fn temp_db(name: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("dialer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let url = format!("sqlite://{}/callpilot.db", dir.display());
    (dir, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_on_one_database_never_dial_a_contact_twice() {
    let (dir, url) = temp_db("two-runners");
    two_runners_never_dial_a_contact_twice(&url).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_on_postgres_never_dial_a_contact_twice() {
    if let Some(url) = postgres_url().await {
        two_runners_never_dial_a_contact_twice(&url).await;
    }
}

async fn two_runners_never_dial_a_contact_twice(url: &str) {
    let settings = CampaignSettings {
        max_concurrent: 3,
        calls_per_second: 10.0,
        ..CampaignSettings::default()
    };
    let store_a = Store::connect(url).await.unwrap();
    let id = campaign(&store_a, &settings).await;
    let store_b = Store::connect(url).await.unwrap();
    let clock = Arc::new(ManualClock::new(open_time()));
    let carrier = FakeCarrier::default();

    let run = |store: Store, owner: &'static str| {
        let (clock, carrier) = (clock.clone(), carrier.clone());
        tokio::spawn(async move {
            let r = Runner::new(store, id, owner, carrier.clone(), clock.clone())
                .await
                .unwrap();
            for _ in 0..1000 {
                let step = r.step().await.unwrap();
                for (sid, phone) in carrier.take_unanswered() {
                    // The other runner may not have recorded this SID yet: try again later.
                    if !r.on_call_result(&sid, CallResult::Answered).await.unwrap() {
                        carrier.calls.lock().unwrap().unanswered.push((sid, phone));
                    }
                }
                if step == Step::Finished {
                    return;
                }
                clock.advance(Duration::from_millis(100));
                tokio::task::yield_now().await;
            }
            panic!("{owner} did not finish");
        })
    };
    let (a, b) = (run(store_a, "a"), run(store_b, "b"));
    a.await.unwrap();
    b.await.unwrap();

    let mut lines = carrier.dialed_lines();
    lines.sort();
    assert_eq!(lines, [2, 3, 4, 5, 6, 10, 11]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_crash_then_new_runner_dials_every_contact_exactly_once() {
    let (dir, url) = temp_db("crash");
    crash_then_new_runner_dials_every_contact_exactly_once(&url).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_crash_on_postgres_then_new_runner_dials_every_contact_exactly_once() {
    if let Some(url) = postgres_url().await {
        crash_then_new_runner_dials_every_contact_exactly_once(&url).await;
    }
}

async fn crash_then_new_runner_dials_every_contact_exactly_once(url: &str) {
    let settings = CampaignSettings {
        max_concurrent: 5,
        calls_per_second: 100.0,
        ..CampaignSettings::default()
    };
    let store = Store::connect(url).await.unwrap();
    let id = campaign(&store, &settings).await;
    let clock = Arc::new(ManualClock::new(open_time()));

    // The first runner dials lines 2 and 5, then hangs placing line 10 and dies there: one
    // lease without a call SID, two calls whose results have not arrived.
    let hanging = FakeCarrier {
        hang_on: Some("+33142680109".into()),
        ..FakeCarrier::default()
    };
    let first = Arc::new(
        Runner::new(store.clone(), id, "first", hanging.clone(), clock.clone())
            .await
            .unwrap()
            .with_lease(Duration::from_secs(60)),
    );
    let task = {
        let (first, clock) = (first.clone(), clock.clone());
        tokio::spawn(async move {
            loop {
                first.step().await.unwrap();
                clock.advance(Duration::from_millis(10));
            }
        })
    };
    hanging.hung.notified().await;
    task.abort();
    let _ = task.await;
    drop(first);
    assert_eq!(hanging.dialed_lines(), [2, 5]);

    // A new process: new connection, new runner, after the dead runner's lease ran out.
    clock.advance(Duration::from_secs(61));
    let store2 = Store::connect(url).await.unwrap();
    let carrier = FakeCarrier {
        calls: hanging.calls.clone(),
        ..FakeCarrier::default()
    };
    let second = Runner::new(store2, id, "second", carrier.clone(), clock.clone())
        .await
        .unwrap();
    let step = drive(&second, &clock, &carrier, |_| CallResult::Answered).await;
    assert_eq!(step, Step::Finished);

    let mut lines = carrier.dialed_lines();
    assert_eq!(&lines[..2], [2, 5]);
    lines.sort();
    assert_eq!(lines, [2, 3, 4, 5, 6, 10, 11]);
}

/// A carrier that reports each new SID, then waits to be let go before "accepting" the call:
/// room for a status callback to arrive before the runner attaches the SID.
#[derive(Clone)]
struct SlowCarrier {
    sids: tokio::sync::mpsc::UnboundedSender<String>,
    release: Arc<Notify>,
    placed: Arc<Mutex<u32>>,
}

impl PlaceCall for SlowCarrier {
    async fn place(&self, _req: PlaceCallRequest) -> Result<String, DialError> {
        let sid = {
            let mut n = self.placed.lock().unwrap();
            *n += 1;
            format!("CAslow{n:026}")
        };
        self.sids.send(sid.clone()).unwrap();
        self.release.notified().await;
        Ok(sid)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_arriving_before_attach_completes_the_attempt() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let settings = CampaignSettings {
        max_concurrent: 1,
        ..CampaignSettings::default()
    };
    let id = campaign(&store, &settings).await;
    let clock = Arc::new(ManualClock::new(open_time()));
    let (tx, mut sids) = tokio::sync::mpsc::unbounded_channel();
    let carrier = SlowCarrier {
        sids: tx,
        release: Arc::new(Notify::new()),
        placed: Arc::default(),
    };
    let runner = Arc::new(
        Runner::new(store.clone(), id, "t", carrier.clone(), clock.clone())
            .await
            .unwrap(),
    );
    let stepping = tokio::spawn({
        let runner = runner.clone();
        async move { runner.step().await.unwrap() }
    });
    let sid = sids.recv().await.unwrap();
    // The callback beats the carrier's answer: the SID is not attached to anything yet.
    assert!(!runner.on_call_result(&sid, CallResult::Busy).await.unwrap());
    carrier.release.notify_one();
    assert_eq!(stepping.await.unwrap(), Step::Wait { until: None });
    let attempt = store.attempt_by_call_sid(&sid).await.unwrap().unwrap();
    assert_eq!(attempt.state, "dialing");

    // The next step applies the kept result; only then is the slot free for the next contact.
    clock.advance(Duration::from_secs(10));
    let stepping = tokio::spawn({
        let runner = runner.clone();
        async move { runner.step().await.unwrap() }
    });
    let next_sid = sids.recv().await.unwrap();
    carrier.release.notify_one();
    stepping.await.unwrap();
    assert_ne!(next_sid, sid);
    let attempt = store.attempt(attempt.id).await.unwrap().unwrap();
    assert_eq!(
        (attempt.state.as_str(), attempt.result.as_deref()),
        ("done", Some("busy"))
    );
}

#[tokio::test]
async fn status_recorded_before_attach_is_reconciled_from_the_calls_table() {
    let (store, runner, _clock, carrier) = memory_setup(CampaignSettings {
        max_concurrent: 1,
        ..CampaignSettings::default()
    })
    .await;
    runner.step().await.unwrap();
    let (sid, _) = carrier.take_unanswered().remove(0);
    // The server recorded the final callback but no runner was told (it came too early).
    store
        .set_answered_by(&sid, "machine_end_beep")
        .await
        .unwrap();
    store
        .record_status(&final_status(&sid, "completed"))
        .await
        .unwrap();
    assert_eq!(runner.reconcile().await.unwrap(), 1);
    let attempt = store.attempt_by_call_sid(&sid).await.unwrap().unwrap();
    assert_eq!(attempt.result.as_deref(), Some("voicemail"));
    // Reconciling again finds nothing left to do.
    assert_eq!(runner.reconcile().await.unwrap(), 0);
}

fn final_status(sid: &str, status: &str) -> store::StatusUpdate {
    store::StatusUpdate {
        call_sid: sid.to_owned(),
        status: status.to_owned(),
        rank: 9,
        sequence_number: Some(3),
        event_timestamp: None,
    }
}

#[tokio::test]
async fn callbacks_recorded_while_no_runner_was_up_complete_attempts_on_restart() {
    let (dir, url) = temp_db("callbacks-while-down");
    callbacks_while_down_complete_attempts_on_restart(&url).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn callbacks_recorded_while_no_runner_was_up_on_postgres_complete_attempts_on_restart() {
    if let Some(url) = postgres_url().await {
        callbacks_while_down_complete_attempts_on_restart(&url).await;
    }
}

async fn callbacks_while_down_complete_attempts_on_restart(url: &str) {
    let settings = CampaignSettings {
        max_concurrent: 2,
        calls_per_second: 100.0,
        // A voicemail is then final, so any second dial of line 5 would be a double dial.
        voicemail: dialer::VoicemailAction::LeaveMessage,
        ..CampaignSettings::default()
    };
    let store = Store::connect(url).await.unwrap();
    let id = campaign(&store, &settings).await;
    let clock = Arc::new(ManualClock::new(open_time()));
    let carrier = FakeCarrier::default();
    let first = Runner::new(store.clone(), id, "first", carrier.clone(), clock.clone())
        .await
        .unwrap();
    first.step().await.unwrap();
    clock.advance(Duration::from_secs(1));
    first.step().await.unwrap();
    drop(first);
    assert_eq!(carrier.dialed_lines(), [2, 5]);

    // The runner is gone; the server keeps recording the calls' final callbacks.
    let calls = carrier.take_unanswered();
    store
        .record_status(&final_status(&calls[0].0, "completed"))
        .await
        .unwrap();
    store
        .set_answered_by(&calls[1].0, "machine_start")
        .await
        .unwrap();
    store
        .record_status(&final_status(&calls[1].0, "completed"))
        .await
        .unwrap();
    drop(store);

    clock.advance(Duration::from_secs(600));
    let store = Store::connect(url).await.unwrap();
    let second = Runner::new(store.clone(), id, "second", carrier.clone(), clock.clone())
        .await
        .unwrap();
    let step = drive(&second, &clock, &carrier, |_| CallResult::Answered).await;
    assert_eq!(step, Step::Finished);
    let mut lines = carrier.dialed_lines();
    assert_eq!(&lines[..2], [2, 5]);
    lines.sort();
    assert_eq!(lines, [2, 3, 4, 5, 6, 10, 11], "a contact was dialed twice");
    let results: Vec<_> = [&calls[0].0, &calls[1].0]
        .into_iter()
        .map(|sid| async {
            let a = store.attempt_by_call_sid(sid).await.unwrap().unwrap();
            a.result
        })
        .collect();
    let mut got = Vec::new();
    for r in results {
        got.push(r.await);
    }
    assert_eq!(
        got,
        [Some("answered".to_owned()), Some("voicemail".to_owned())]
    );
}
