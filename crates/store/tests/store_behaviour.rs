//! Behaviour of the call store against real SQLite (in memory and on disk) and, when
//! `CALLPILOT_TEST_POSTGRES_URL` is set, PostgreSQL.

mod common;

use std::path::PathBuf;

use serde_json::json;
use store::{NewCall, NewTurn, Speaker, StatusOutcome, StatusUpdate, Store, TurnTimings};

// Ranks as a caller (the server) would assign them; the store only compares them.
const RINGING: i32 = 2;
const IN_PROGRESS: i32 = 3;
const COMPLETED: i32 = 4;

fn status(call_sid: &str, status: &str, rank: i32, seq: Option<i64>) -> StatusUpdate {
    StatusUpdate {
        call_sid: call_sid.into(),
        status: status.into(),
        rank,
        sequence_number: seq,
        event_timestamp: Some("Tue, 03 Mar 2026 17:04:05 +0000".into()),
    }
}

/// A fresh directory under cargo's per-target temp dir, unique per test name.
fn temp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("store-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

async fn duplicate_status_callback_is_a_no_op(store: Store) {
    let u = status("CA1", "ringing", RINGING, Some(1));
    assert_eq!(
        store.record_status(&u).await.unwrap(),
        StatusOutcome::Applied
    );
    assert_eq!(
        store.record_status(&u).await.unwrap(),
        StatusOutcome::Duplicate
    );

    let detail = store.get_call("CA1").await.unwrap().unwrap();
    assert_eq!(detail.status_history.len(), 1);
    assert_eq!(detail.call.status.as_deref(), Some("ringing"));
}

async fn duplicate_without_sequence_number_is_still_detected(store: Store) {
    let u = status("CA1", "ringing", RINGING, None);
    assert_eq!(
        store.record_status(&u).await.unwrap(),
        StatusOutcome::Applied
    );
    assert_eq!(
        store.record_status(&u).await.unwrap(),
        StatusOutcome::Duplicate
    );
    let detail = store.get_call("CA1").await.unwrap().unwrap();
    assert_eq!(detail.status_history.len(), 1);
}

async fn out_of_order_callbacks_never_move_status_backwards(store: Store) {
    // Delivered completed → ringing → in-progress, fired ringing(0) → in-progress(1) → completed(2).
    let completed = status("CA2", "completed", COMPLETED, Some(2));
    assert_eq!(
        store.record_status(&completed).await.unwrap(),
        StatusOutcome::Applied
    );
    let ringing = status("CA2", "ringing", RINGING, Some(0));
    assert_eq!(
        store.record_status(&ringing).await.unwrap(),
        StatusOutcome::Stale
    );
    let answered = status("CA2", "in-progress", IN_PROGRESS, Some(1));
    assert_eq!(
        store.record_status(&answered).await.unwrap(),
        StatusOutcome::Stale
    );

    let detail = store.get_call("CA2").await.unwrap().unwrap();
    assert_eq!(detail.call.status.as_deref(), Some("completed"));
    assert_eq!(detail.call.status_rank, Some(COMPLETED));
    // The history keeps every distinct report, in arrival order.
    let seen: Vec<_> = detail
        .status_history
        .iter()
        .map(|e| e.status.as_str())
        .collect();
    assert_eq!(seen, ["completed", "ringing", "in-progress"]);
    // Late reports still fill the lifecycle timestamps, from Twilio's own Timestamp.
    let fired = 1_772_557_445_000; // Tue, 03 Mar 2026 17:04:05 +0000
    assert_eq!(detail.call.answered_at, Some(fired));
    assert_eq!(detail.call.ended_at, Some(fired));
}

async fn equal_rank_status_is_stale_and_finish_call_respects_rank(store: Store) {
    store
        .record_status(&status("CA3", "completed", COMPLETED, Some(3)))
        .await
        .unwrap();
    let busy = status("CA3", "busy", COMPLETED, Some(4));
    assert_eq!(
        store.record_status(&busy).await.unwrap(),
        StatusOutcome::Stale
    );

    store
        .finish_call("CA3", "in-progress", IN_PROGRESS)
        .await
        .unwrap();
    let call = store.get_call("CA3").await.unwrap().unwrap().call;
    assert_eq!(call.status.as_deref(), Some("completed"));
    assert!(call.ended_at.is_some());
}

async fn finish_call_sets_status_and_end_time(store: Store) {
    store
        .upsert_call(&NewCall {
            call_sid: "CA4".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    store
        .record_status(&status("CA4", "in-progress", IN_PROGRESS, Some(1)))
        .await
        .unwrap();
    store
        .finish_call("CA4", "completed", COMPLETED)
        .await
        .unwrap();
    let call = store.get_call("CA4").await.unwrap().unwrap().call;
    assert_eq!(call.status.as_deref(), Some("completed"));
    assert!(call.ended_at.unwrap() >= call.created_at);
}

async fn status_callback_before_webhook_creates_call_then_webhook_fills_it(store: Store) {
    store
        .record_status(&status("CA5", "ringing", RINGING, Some(0)))
        .await
        .unwrap();
    let bare = store.get_call("CA5").await.unwrap().unwrap().call;
    assert_eq!(bare.from_number, None);

    let id = store
        .upsert_call(&NewCall {
            call_sid: "CA5".into(),
            account_sid: Some("AC1".into()),
            direction: Some("inbound".into()),
            from_number: Some("+15550001111".into()),
            to_number: Some("+15550002222".into()),
            agent: Some("Ava".into()),
        })
        .await
        .unwrap();
    let call = store.get_call("CA5").await.unwrap().unwrap().call;
    assert_eq!(call.id, id);
    assert_eq!(call.id, bare.id);
    assert_eq!(call.from_number.as_deref(), Some("+15550001111"));
    assert_eq!(call.agent.as_deref(), Some("Ava"));
    assert_eq!(call.status.as_deref(), Some("ringing"));
    assert_eq!(store.list_calls(10).await.unwrap().len(), 1);
}

async fn upsert_fills_missing_fields_but_never_clobbers_known_ones(store: Store) {
    let first = NewCall {
        call_sid: "CA6".into(),
        from_number: Some("+15550001111".into()),
        ..Default::default()
    };
    let id1 = store.upsert_call(&first).await.unwrap();
    let second = NewCall {
        call_sid: "CA6".into(),
        from_number: Some("+19999999999".into()),
        to_number: Some("+15550002222".into()),
        ..Default::default()
    };
    let id2 = store.upsert_call(&second).await.unwrap();
    assert_eq!(id1, id2);
    let call = store.get_call("CA6").await.unwrap().unwrap().call;
    assert_eq!(call.from_number.as_deref(), Some("+15550001111"));
    assert_eq!(call.to_number.as_deref(), Some("+15550002222"));

    store.set_stream_sid("CA6", "MZ1").await.unwrap();
    let call = store.get_call("CA6").await.unwrap().unwrap().call;
    assert_eq!(call.stream_sid.as_deref(), Some("MZ1"));
}

async fn turns_round_trip_in_order_with_timings(store: Store) {
    let caller = NewTurn {
        speaker: Speaker::Caller,
        text: "how much is premium".into(),
        interrupted: false,
        at_ms: 1_200,
        timings: TurnTimings {
            end_of_speech_to_transcript_ms: Some(180),
            ..Default::default()
        },
        intent: Some("price_inquiry".into()),
    };
    let agent = NewTurn {
        speaker: Speaker::Agent,
        text: "Premium is forty-nine dollars a month.".into(),
        interrupted: true,
        at_ms: 2_900,
        timings: TurnTimings {
            end_of_speech_to_transcript_ms: Some(180),
            transcript_to_reply_ms: Some(3),
            reply_to_first_audio_ms: Some(95),
            end_of_speech_to_first_audio_ms: Some(278),
        },
        intent: Some("price_inquiry".into()),
    };
    store.add_turn("CA7", &caller).await.unwrap();
    store.add_turn("CA7", &agent).await.unwrap();
    store.add_turn("OTHER", &caller).await.unwrap();

    let turns = store.get_call("CA7").await.unwrap().unwrap().turns;
    assert_eq!(turns.len(), 2);
    assert_eq!(turns[0].idx, 0);
    assert_eq!(turns[0].speaker, Speaker::Caller);
    assert_eq!(turns[0].timings, caller.timings);
    assert_eq!(turns[1].idx, 1);
    assert_eq!(turns[1].speaker, Speaker::Agent);
    assert_eq!(turns[1].text, agent.text);
    assert!(turns[1].interrupted);
    assert_eq!(turns[1].at_ms, 2_900);
    assert_eq!(turns[1].timings, agent.timings);
    assert_eq!(turns[1].intent.as_deref(), Some("price_inquiry"));
    // Another call's turns are numbered independently.
    assert_eq!(
        store.get_call("OTHER").await.unwrap().unwrap().turns[0].idx,
        0
    );
}

async fn events_round_trip_with_json_data(store: Store) {
    store
        .add_event("CA8", "barge_in", &json!({"turn": 3, "heard_ms": 1240}))
        .await
        .unwrap();
    store
        .add_event("CA8", "hangup", &json!(null))
        .await
        .unwrap();
    let events = store.get_call("CA8").await.unwrap().unwrap().events;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].kind, "barge_in");
    assert_eq!(events[0].data["heard_ms"], 1240);
    assert_eq!(events[1].kind, "hangup");
}

async fn unknown_call_is_none_and_list_is_newest_first(store: Store) {
    assert!(store.get_call("nope").await.unwrap().is_none());
    for sid in ["CA_a", "CA_b", "CA_c"] {
        store
            .upsert_call(&NewCall {
                call_sid: sid.into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let sids: Vec<_> = store
        .list_calls(2)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.call_sid)
        .collect();
    assert_eq!(sids, ["CA_c", "CA_b"]);
    assert!(store.list_calls(-1).await.unwrap().is_empty());
}

#[tokio::test]
async fn reconnecting_to_existing_file_keeps_data() {
    let dir = temp_dir("reconnect");
    let file = dir.join("nested").join("callpilot.db");
    let url = format!("sqlite://{}", file.display());
    {
        let store = Store::connect(&url).await.unwrap();
        store
            .record_status(&status("CA9", "ringing", RINGING, Some(0)))
            .await
            .unwrap();
        store
            .add_event("CA9", "start", &json!({"k": "v"}))
            .await
            .unwrap();
    }
    assert!(
        file.exists(),
        "connect creates the parent directory and the file"
    );

    // Migrations run again on connect and must be a no-op on an up-to-date schema.
    let store = Store::connect(&url).await.unwrap();
    let detail = store.get_call("CA9").await.unwrap().unwrap();
    assert_eq!(detail.call.status.as_deref(), Some("ringing"));
    assert_eq!(detail.events.len(), 1);
    let again = status("CA9", "ringing", RINGING, Some(0));
    assert_eq!(
        store.record_status(&again).await.unwrap(),
        StatusOutcome::Duplicate
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn concurrent_writers_on_a_file_database_all_succeed() {
    let dir = temp_dir("concurrent");
    let url = format!("sqlite://{}", dir.join("c.db").display());
    let store = Store::connect(&url).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let turn = NewTurn {
                speaker: Speaker::Caller,
                text: format!("turn {i}"),
                interrupted: false,
                at_ms: i,
                timings: TurnTimings::default(),
                intent: None,
            };
            store.add_turn("CA10", &turn).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let turns = store.get_call("CA10").await.unwrap().unwrap().turns;
    let idx: Vec<_> = turns.iter().map(|t| t.idx).collect();
    assert_eq!(idx, (0..20).collect::<Vec<_>>());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn unknown_database_url_is_rejected_without_creating_a_file() {
    let err = Store::connect("mysql://nope").await.unwrap_err();
    assert!(
        matches!(err, store::StoreError::UnsupportedUrl { .. }),
        "{err}"
    );
    assert!(!std::path::Path::new("mysql:").exists());
}

#[tokio::test]
async fn postgres_connect_error_hides_the_password() {
    // Nothing listens on port 1: the connection is refused at once.
    let err = Store::connect("postgres://u:hunter2@127.0.0.1:1/db")
        .await
        .unwrap_err();
    assert!(matches!(err, store::StoreError::Connect { .. }), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn postgres_reconnect_keeps_data_and_migrations_are_idempotent() {
    let Some(url) = common::postgres_url().await else {
        return;
    };
    {
        let store = Store::connect(&url).await.unwrap();
        assert_eq!(store.backend(), store::Backend::Postgres);
        store
            .record_status(&status("CA9", "ringing", RINGING, Some(0)))
            .await
            .unwrap();
    }
    let store = Store::connect(&url).await.unwrap();
    let again = status("CA9", "ringing", RINGING, Some(0));
    assert_eq!(
        store.record_status(&again).await.unwrap(),
        StatusOutcome::Duplicate
    );
}

#[tokio::test]
async fn unopenable_database_path_is_a_typed_error() {
    let dir = temp_dir("blocked");
    std::fs::create_dir_all(&dir).unwrap();
    // A regular file where the database's parent directory should be.
    let blocker = dir.join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let url = format!("sqlite://{}", blocker.join("db.sqlite").display());
    let err = Store::connect(&url).await.unwrap_err();
    assert!(matches!(err, store::StoreError::CreateDir { .. }), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

on_both!(
    duplicate_status_callback_is_a_no_op,
    duplicate_without_sequence_number_is_still_detected,
    out_of_order_callbacks_never_move_status_backwards,
    equal_rank_status_is_stale_and_finish_call_respects_rank,
    finish_call_sets_status_and_end_time,
    status_callback_before_webhook_creates_call_then_webhook_fills_it,
    upsert_fills_missing_fields_but_never_clobbers_known_ones,
    turns_round_trip_in_order_with_timings,
    events_round_trip_with_json_data,
    unknown_call_is_none_and_list_is_newest_first,
);
