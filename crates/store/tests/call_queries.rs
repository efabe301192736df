//! The dashboard's and API's read queries: filtered, cursor-paginated lists of calls and
//! contacts, per-day statistics, and what the live view polls. Run on SQLite and, when
//! `CALLPILOT_TEST_POSTGRES_URL` is set, PostgreSQL.

mod common;

use std::collections::HashSet;

use sqlx::Connection;
use store::{
    CallFilter, NewCall, NewContact, NewTurn, Speaker, StatusUpdate, Store, TurnTimings, MAX_PAGE,
};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

async fn call(s: &Store, sid: &str, direction: &str, agent: &str, status: Option<&str>) {
    s.upsert_call(&NewCall {
        call_sid: sid.into(),
        direction: Some(direction.into()),
        agent: Some(agent.into()),
        from_number: Some("+15550001111".into()),
        to_number: Some("+15550002222".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    if let Some(status) = status {
        let rank = match status {
            "in-progress" => 3,
            _ => 4,
        };
        s.record_status(&StatusUpdate {
            call_sid: sid.into(),
            status: status.into(),
            rank,
            sequence_number: None,
            event_timestamp: None,
        })
        .await
        .unwrap();
    }
}

async fn turn(s: &Store, sid: &str, speaker: Speaker, text: &str, v2v: Option<i64>) {
    s.add_turn(
        sid,
        &NewTurn {
            speaker,
            text: text.into(),
            interrupted: false,
            at_ms: 0,
            timings: TurnTimings {
                end_of_speech_to_first_audio_ms: v2v,
                ..Default::default()
            },
            intent: None,
        },
    )
    .await
    .unwrap();
}

fn filter(limit: i64) -> CallFilter {
    CallFilter {
        limit,
        ..Default::default()
    }
}

async fn paging_sees_every_call_once_newest_first(s: Store) {
    for i in 0..27 {
        call(
            &s,
            &format!("CA{i:02}"),
            "inbound",
            "demo",
            Some("completed"),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = s
            .list_calls_filtered(&CallFilter {
                before_id: cursor,
                ..filter(10)
            })
            .await
            .unwrap();
        pages += 1;
        assert!(page.data.len() <= 10);
        seen.extend(page.data.iter().map(|c| c.call_sid.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..27).rev().map(|i| format!("CA{i:02}")).collect();
    assert_eq!(seen, expected, "every call once, newest first");
}

async fn a_full_last_page_has_no_next_cursor(s: Store) {
    for i in 0..4 {
        call(&s, &format!("CA{i}"), "inbound", "demo", None).await;
    }
    let first = s.list_calls_filtered(&filter(2)).await.unwrap();
    let second = s
        .list_calls_filtered(&CallFilter {
            before_id: first.next_cursor,
            ..filter(2)
        })
        .await
        .unwrap();
    assert_eq!(second.data.len(), 2);
    assert_eq!(second.next_cursor, None, "nothing is left after it");
    // Page sizes are clamped: zero still returns a row, huge asks get the maximum.
    assert_eq!(
        s.list_calls_filtered(&filter(0)).await.unwrap().data.len(),
        1
    );
    const { assert!(MAX_PAGE >= 4) };
    assert_eq!(
        s.list_calls_filtered(&filter(10_000))
            .await
            .unwrap()
            .data
            .len(),
        4
    );
}

async fn filters_narrow_calls_by_direction_status_agent_text_and_date(s: Store) {
    call(&s, "CA-in", "inbound", "demo", Some("completed")).await;
    call(&s, "CA-out", "outbound-api", "sales", Some("no-answer")).await;
    call(&s, "CA-web", "web", "demo", Some("in-progress")).await;
    turn(
        &s,
        "CA-in",
        Speaker::Caller,
        "I want to Upgrade my plan",
        None,
    )
    .await;
    turn(
        &s,
        "CA-web",
        Speaker::Caller,
        "what are 100% of the prices?",
        None,
    )
    .await;
    let sids = |f: CallFilter| {
        let s = s.clone();
        async move {
            s.list_calls_filtered(&f)
                .await
                .unwrap()
                .data
                .into_iter()
                .map(|c| c.call_sid)
                .collect::<Vec<_>>()
        }
    };
    let f = || filter(50);
    assert_eq!(
        sids(CallFilter {
            direction: Some("outbound".into()),
            ..f()
        })
        .await,
        ["CA-out"],
        "outbound matches Twilio's outbound-api"
    );
    assert_eq!(
        sids(CallFilter {
            status: Some("completed".into()),
            ..f()
        })
        .await,
        ["CA-in"]
    );
    assert_eq!(
        sids(CallFilter {
            agent: Some("demo".into()),
            ..f()
        })
        .await,
        ["CA-web", "CA-in"]
    );
    assert_eq!(
        sids(CallFilter {
            q: Some("upgrade".into()),
            ..f()
        })
        .await,
        ["CA-in"],
        "text search ignores case"
    );
    assert_eq!(
        sids(CallFilter {
            q: Some("100%".into()),
            ..f()
        })
        .await,
        ["CA-web"],
        "a % in the search is literal"
    );
    assert_eq!(
        sids(CallFilter {
            agent: Some("demo".into()),
            direction: Some("inbound".into()),
            ..f()
        })
        .await,
        ["CA-in"],
        "filters combine"
    );
    let now = chrono::Utc::now().timestamp_millis();
    assert_eq!(
        sids(CallFilter {
            from_ms: Some(now + 60_000),
            ..f()
        })
        .await,
        Vec::<String>::new()
    );
    assert_eq!(
        sids(CallFilter {
            from_ms: Some(now - 60_000),
            to_ms: Some(now + 60_000),
            ..f()
        })
        .await
        .len(),
        3
    );
    assert_eq!(
        sids(CallFilter {
            campaign_id: Some(1),
            ..f()
        })
        .await,
        Vec::<String>::new(),
        "no call belongs to a campaign"
    );
}

async fn daily_stats_count_answered_calls_and_median_latency(s: Store) {
    // Answered: completed with a caller turn, and in progress with a caller turn.
    call(&s, "CA1", "inbound", "demo", Some("completed")).await;
    turn(&s, "CA1", Speaker::Caller, "hello", Some(800)).await;
    turn(&s, "CA1", Speaker::Agent, "hi", None).await;
    turn(&s, "CA1", Speaker::Caller, "prices?", Some(1200)).await;
    call(&s, "CA2", "web", "demo", Some("in-progress")).await;
    turn(&s, "CA2", Speaker::Caller, "hey", Some(600)).await;
    // Not answered: no caller turn, or a failed call.
    call(&s, "CA3", "outbound-api", "demo", Some("completed")).await;
    turn(&s, "CA3", Speaker::Agent, "hello?", None).await;
    call(&s, "CA4", "outbound-api", "demo", Some("no-answer")).await;

    let now = chrono::Utc::now().timestamp_millis();
    // Ask as if it were three days later: today's calls land three days before the last bucket.
    let stats = s.daily_call_stats(7, now + 3 * DAY_MS).await.unwrap();
    assert_eq!(stats.len(), 7);
    let today = &stats[3];
    assert_eq!(today.day, chrono::Utc::now().format("%Y-%m-%d").to_string());
    assert_eq!((today.calls, today.answered), (4, 2));
    assert_eq!(today.median_voice_to_voice_ms, Some(800));
    for (i, d) in stats.iter().enumerate().filter(|(i, _)| *i != 3) {
        assert_eq!((d.calls, d.answered), (0, 0), "day {i} is empty");
        assert_eq!(d.median_voice_to_voice_ms, None);
    }
    assert!(stats
        .windows(2)
        .all(|w| w[1].day_start_ms - w[0].day_start_ms == DAY_MS));
}

async fn contacts_page_newest_first_and_search(s: Store) {
    for i in 0..5 {
        s.upsert_contact(&NewContact {
            phone: format!("+1555000000{i}"),
            first_name: Some(format!("Name{i}")),
            last_name: Some("Lovelace".into()),
            company: Some(if i == 2 { "Acme_Corp" } else { "Initech" }.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let first = s.list_contacts(3, None, None).await.unwrap();
    assert_eq!(first.data.len(), 3);
    assert_eq!(first.data[0].phone, "+15550000004");
    let rest = s.list_contacts(3, first.next_cursor, None).await.unwrap();
    assert_eq!(rest.data.len(), 2);
    assert_eq!(rest.next_cursor, None);
    let all: HashSet<_> = first.data.iter().chain(&rest.data).map(|c| c.id).collect();
    assert_eq!(all.len(), 5);

    let acme = s.list_contacts(10, None, Some("acme_")).await.unwrap();
    assert_eq!(acme.data.len(), 1);
    assert_eq!(acme.data[0].phone, "+15550000002");
    let by_name = s.list_contacts(10, None, Some("name3 love")).await.unwrap();
    assert_eq!(by_name.data.len(), 1, "first and last name match together");
    let by_phone = s.list_contacts(10, None, Some("0000001")).await.unwrap();
    assert_eq!(by_phone.data[0].first_name.as_deref(), Some("Name1"));
}

async fn live_polling_sees_new_turns_of_active_calls_only(s: Store) {
    let since = chrono::Utc::now().timestamp_millis() - 60_000;
    call(&s, "CA-live", "web", "demo", Some("in-progress")).await;
    call(&s, "CA-done", "inbound", "demo", Some("in-progress")).await;
    turn(&s, "CA-done", Speaker::Caller, "bye", None).await;
    s.finish_call("CA-done", "completed", 4).await.unwrap();
    let start = s.last_turn_id().await.unwrap();
    assert!(start > 0);

    let active = s.active_calls_since(since).await.unwrap();
    let sids: Vec<_> = active.iter().map(|c| c.call_sid.as_str()).collect();
    assert_eq!(sids, ["CA-live"]);
    assert!(s
        .active_calls_since(since + 120_000)
        .await
        .unwrap()
        .is_empty());

    assert!(s.live_turns_after(start, since).await.unwrap().is_empty());
    turn(&s, "CA-live", Speaker::Caller, "is anyone there", None).await;
    turn(&s, "CA-live", Speaker::Agent, "yes, hello", Some(700)).await;
    turn(&s, "CA-done", Speaker::Caller, "late write", None).await;
    let new = s.live_turns_after(start, since).await.unwrap();
    let texts: Vec<_> = new.iter().map(|t| t.turn.text.as_str()).collect();
    assert_eq!(texts, ["is anyone there", "yes, hello"]);
    assert!(new.iter().all(|t| t.call_sid == "CA-live"));
    assert_eq!(new[1].turn.idx, 1);
    assert_eq!(
        new[1].turn.timings.end_of_speech_to_first_audio_ms,
        Some(700)
    );
    let after = new.last().unwrap().turn_id;
    assert!(s.live_turns_after(after, since).await.unwrap().is_empty());
}

on_both!(
    paging_sees_every_call_once_newest_first,
    a_full_last_page_has_no_next_cursor,
    filters_narrow_calls_by_direction_status_agent_text_and_date,
    daily_stats_count_answered_calls_and_median_latency,
    contacts_page_newest_first_and_search,
    live_polling_sees_new_turns_of_active_calls_only,
);

/// Moves a call's creation time, through a second connection to the same SQLite file (the
/// store stamps `created_at` itself).
async fn backdate(url: &str, sid: &str, created_at: i64) {
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query("UPDATE calls SET created_at = $1 WHERE call_sid = $2")
        .bind(created_at)
        .bind(sid)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_stats_put_each_call_on_its_own_utc_day() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("store-tests")
        .join(format!("call-queries-days-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("calls.db").display());
    let s = Store::connect(&url).await.unwrap();
    // Noon UTC of 2026-03-10, and calls on the 8th (two), 9th (none) and 10th (one).
    let noon = chrono::DateTime::parse_from_rfc3339("2026-03-10T12:00:00Z")
        .unwrap()
        .timestamp_millis();
    for (sid, at, v2v) in [
        ("CA-a", noon - 2 * DAY_MS, 1000),
        ("CA-b", noon - 2 * DAY_MS + 3_600_000, 3000),
        ("CA-c", noon - 11 * 3_600_000, 500), // 01:00 on the 10th
    ] {
        call(&s, sid, "inbound", "demo", Some("completed")).await;
        turn(&s, sid, Speaker::Caller, "hello", Some(v2v)).await;
        backdate(&url, sid, at).await;
    }
    // Older than the window: not counted.
    call(&s, "CA-old", "inbound", "demo", Some("completed")).await;
    backdate(&url, "CA-old", noon - 30 * DAY_MS).await;

    let stats = s.daily_call_stats(3, noon).await.unwrap();
    let got: Vec<_> = stats
        .iter()
        .map(|d| {
            (
                d.day.as_str(),
                d.calls,
                d.answered,
                d.median_voice_to_voice_ms,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("2026-03-08", 2, 2, Some(2000)),
            ("2026-03-09", 0, 0, None),
            ("2026-03-10", 1, 1, Some(500)),
        ]
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
