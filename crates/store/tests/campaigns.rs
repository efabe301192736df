//! Campaigns: ordering, leases that never hand one contact to two workers, recovery, results.

mod common;

use std::collections::HashSet;

use store::{CampaignState, ContactNext, ContactOrder, NewContact, Store};

const LEASE_MS: i64 = 60_000;

/// Contacts in creation order with these statuses; returns their ids.
async fn contacts(s: &Store, statuses: &[Option<&str>]) -> Vec<i64> {
    let mut ids = Vec::new();
    for (i, status) in statuses.iter().enumerate() {
        let c = NewContact {
            phone: format!("+1415555{:04}", 100 + i),
            first_name: Some(format!("Person{i}")),
            last_name: Some("Test".into()),
            status: status.map(str::to_owned),
            ..Default::default()
        };
        ids.push(s.upsert_contact(&c).await.unwrap());
    }
    ids
}

async fn campaign_with(s: &Store, ids: &[i64]) -> i64 {
    let c = s
        .create_campaign(
            "spring",
            Some("sales"),
            &serde_json::json!({"max_attempts": 3}),
        )
        .await
        .unwrap();
    assert_eq!(
        s.add_campaign_contacts(c, ids).await.unwrap(),
        ids.len() as u64
    );
    c
}

async fn leases_follow_tier_then_creation_order(s: Store) {
    let ids = contacts(
        &s,
        &[Some("Cold"), Some("hot"), None, Some("Warm"), Some("HOT")],
    )
    .await;
    let c = campaign_with(&s, &ids).await;
    let mut order = Vec::new();
    while let Some(l) = s
        .lease_next(c, "w1", 0, LEASE_MS, ContactOrder::OldestFirst)
        .await
        .unwrap()
    {
        assert_eq!(l.attempt_no, 1);
        order.push(l.contact_id);
    }
    assert_eq!(order, [ids[1], ids[4], ids[3], ids[0], ids[2]]);
}

async fn newest_first_reverses_order_within_a_tier(s: Store) {
    let ids = contacts(&s, &[Some("Hot"), Some("Hot"), Some("Cold")]).await;
    let c = campaign_with(&s, &ids).await;
    let first = s
        .lease_next(c, "w1", 0, LEASE_MS, ContactOrder::NewestFirst)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.contact_id, ids[1]);
}

async fn adding_a_contact_twice_keeps_one_entry(s: Store) {
    let ids = contacts(&s, &[Some("Hot")]).await;
    let c = campaign_with(&s, &ids).await;
    assert_eq!(s.add_campaign_contacts(c, &[ids[0], 999]).await.unwrap(), 0);
    assert_eq!(s.campaign_progress(c).await.unwrap().total, 1);
}

async fn do_not_call_numbers_are_skipped_never_leased(s: Store) {
    let ids = contacts(&s, &[Some("Hot"), Some("Warm")]).await;
    let c = campaign_with(&s, &ids).await;
    s.add_do_not_call("+14155550100", Some("asked"), "call", None)
        .await
        .unwrap();
    let l = s
        .lease_next(c, "w1", 0, LEASE_MS, ContactOrder::OldestFirst)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(l.contact_id, ids[1]);
    let p = s.campaign_progress(c).await.unwrap();
    assert_eq!(p.skipped, 1);
    assert_eq!(p.results.get("do_not_call"), Some(&1));
    assert_eq!(s.campaign_attempts(c).await.unwrap().len(), 1);
}

async fn leased_contact_is_not_leased_again_until_recovered(s: Store) {
    let ids = contacts(&s, &[Some("Hot")]).await;
    let c = campaign_with(&s, &ids).await;
    let l = s
        .lease_next(c, "w1", 0, LEASE_MS, ContactOrder::OldestFirst)
        .await
        .unwrap()
        .unwrap();
    assert!(s
        .lease_next(c, "w2", 1, LEASE_MS, ContactOrder::OldestFirst)
        .await
        .unwrap()
        .is_none());
    // Not expired yet: nothing to recover.
    let r = s.recover_expired_leases(c, LEASE_MS - 1).await.unwrap();
    assert_eq!(r.returned, 0);
    // Expired and never dialed: back to pending, and the attempt is not counted.
    let r = s.recover_expired_leases(c, LEASE_MS).await.unwrap();
    assert_eq!(r.returned, 1);
    let again = s
        .lease_next(c, "w2", LEASE_MS, LEASE_MS, ContactOrder::OldestFirst)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.contact_id, l.contact_id);
    assert_eq!(again.attempt_no, 1);
    assert_ne!(again.attempt_id, l.attempt_id);
    assert_eq!(
        s.attempt(l.attempt_id).await.unwrap().unwrap().state,
        "abandoned"
    );
}

async fn dialed_attempt_is_never_recovered_for_redial(s: Store) {
    let ids = contacts(&s, &[Some("Hot")]).await;
    let c = campaign_with(&s, &ids).await;
    let l = s
        .lease_next(c, "w1", 0, LEASE_MS, ContactOrder::OldestFirst)
        .await
        .unwrap()
        .unwrap();
    assert!(s.attach_call_sid(l.attempt_id, "CA1", 10).await.unwrap());
    let r = s.recover_expired_leases(c, 10 * LEASE_MS).await.unwrap();
    assert_eq!((r.returned, r.still_dialing), (0, 1));
    assert!(s
        .lease_next(c, "w2", 10 * LEASE_MS, LEASE_MS, ContactOrder::OldestFirst)
        .await
        .unwrap()
        .is_none());
    let p = s.campaign_progress(c).await.unwrap();
    assert_eq!(p.dialing, 1);
    assert!(!p.is_finished());
}

async fn call_sid_links_call_row_to_campaign_and_attempt(s: Store) {
    let ids = contacts(&s, &[Some("Hot")]).await;
    let c = campaign_with(&s, &ids).await;
    let l = s
        .lease_next(c, "w1", 0, LEASE_MS, ContactOrder::OldestFirst)
        .await
        .unwrap()
        .unwrap();
    s.attach_call_sid(l.attempt_id, "CA1", 10).await.unwrap();
    let a = s.attempt_by_call_sid("CA1").await.unwrap().unwrap();
    assert_eq!((a.id, a.state.as_str()), (l.attempt_id, "dialing"));
    let call = s.get_call("CA1").await.unwrap().unwrap().call;
    assert_eq!(call.contact_id, Some(ids[0]));
    assert_eq!(call.to_number.as_deref(), Some("+14155550100"));
    assert_eq!(call.agent.as_deref(), Some("sales"));
}

async fn retry_returns_contact_to_pending_at_the_given_time(s: Store) {
    let ids = contacts(&s, &[Some("Hot")]).await;
    let c = campaign_with(&s, &ids).await;
    let l = s
        .lease_next(c, "w1", 0, LEASE_MS, ContactOrder::OldestFirst)
        .await
        .unwrap()
        .unwrap();
    s.attach_call_sid(l.attempt_id, "CA1", 1).await.unwrap();
    assert!(s
        .complete_attempt(l.attempt_id, "busy", ContactNext::RetryAt(1_000), 2)
        .await
        .unwrap());
    // A retried status callback changes nothing.
    assert!(!s
        .complete_attempt(l.attempt_id, "busy", ContactNext::RetryAt(5_000), 3)
        .await
        .unwrap());
    let p = s.campaign_progress(c).await.unwrap();
    assert_eq!((p.pending, p.next_attempt_at), (1, Some(1_000)));
    let lease = |now| s.lease_next(c, "w1", now, LEASE_MS, ContactOrder::OldestFirst);
    assert!(lease(999).await.unwrap().is_none());
    let second = lease(1_000).await.unwrap().unwrap();
    assert_eq!(second.attempt_no, 2);
    s.complete_attempt(second.attempt_id, "answered", ContactNext::Done, 1_001)
        .await
        .unwrap();
    let p = s.campaign_progress(c).await.unwrap();
    assert!(p.is_finished());
    assert_eq!(p.done, 1);
}

async fn released_lease_is_due_again_later_without_counting_an_attempt(s: Store) {
    let ids = contacts(&s, &[Some("Hot")]).await;
    let c = campaign_with(&s, &ids).await;
    let l = s
        .lease_next(c, "w1", 0, LEASE_MS, ContactOrder::OldestFirst)
        .await
        .unwrap()
        .unwrap();
    assert!(s
        .release_lease(l.attempt_id, 5_000, "outside_window", 1)
        .await
        .unwrap());
    let p = s.campaign_progress(c).await.unwrap();
    assert_eq!(p.results.get("outside_window"), Some(&1));
    let again = s
        .lease_next(c, "w1", 5_000, LEASE_MS, ContactOrder::OldestFirst)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.attempt_no, 1);
}

async fn report_lists_contacts_with_attempts_and_outcome(s: Store) {
    let ids = contacts(&s, &[Some("Warm"), Some("Hot")]).await;
    let c = campaign_with(&s, &ids).await;
    let l = s
        .lease_next(c, "w1", 0, LEASE_MS, ContactOrder::OldestFirst)
        .await
        .unwrap()
        .unwrap();
    s.attach_call_sid(l.attempt_id, "CA1", 1).await.unwrap();
    s.set_call_outcome("CA1", "meeting_booked", &serde_json::json!({}))
        .await
        .unwrap();
    s.complete_attempt(l.attempt_id, "answered", ContactNext::Done, 2)
        .await
        .unwrap();
    let rows = s.campaign_report(c).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].contact_id, ids[1]);
    assert_eq!(rows[0].name.as_deref(), Some("Person1 Test"));
    assert_eq!(rows[0].attempts, 1);
    assert_eq!(rows[0].last_result.as_deref(), Some("answered"));
    assert_eq!(rows[0].outcome.as_deref(), Some("meeting_booked"));
    assert_eq!((rows[1].attempts, rows[1].outcome.as_deref()), (0, None));
}

async fn campaign_state_changes_are_stored(s: Store) {
    let c = s
        .create_campaign("c", None, &serde_json::json!({"x": 1}))
        .await
        .unwrap();
    assert_eq!(
        s.campaign(c).await.unwrap().unwrap().state,
        CampaignState::Draft
    );
    assert!(s
        .set_campaign_state(c, CampaignState::Running)
        .await
        .unwrap());
    let rec = s.campaign(c).await.unwrap().unwrap();
    assert_eq!(rec.state, CampaignState::Running);
    assert_eq!(rec.settings["x"], 1);
    assert!(!s
        .set_campaign_state(999, CampaignState::Paused)
        .await
        .unwrap());
    assert_eq!(s.list_campaigns().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_never_lease_the_same_contact() {
    let dir = std::env::temp_dir().join(format!("store-lease-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    two_stores_never_lease_the_same_contact(&format!("sqlite://{}/c.db", dir.display())).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_postgres_database_never_lease_the_same_contact() {
    if let Some(url) = common::postgres_url().await {
        two_stores_never_lease_the_same_contact(&url).await;
    }
}

/// Four workers over two connection pools (two processes, in effect) lease 40 contacts.
async fn two_stores_never_lease_the_same_contact(url: &str) {
    let a = Store::connect(url).await.unwrap();
    let b = Store::connect(url).await.unwrap();
    let statuses: Vec<Option<&str>> = (0..40).map(|_| Some("Hot")).collect();
    let ids = contacts(&a, &statuses).await;
    let c = campaign_with(&a, &ids).await;

    let worker = |s: Store, name: &'static str| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(l) = s
                .lease_next(c, name, 0, LEASE_MS, ContactOrder::OldestFirst)
                .await
                .unwrap()
            {
                got.push(l.contact_id);
            }
            got
        })
    };
    let tasks = [
        worker(a.clone(), "a1"),
        worker(a.clone(), "a2"),
        worker(b.clone(), "b1"),
        worker(b.clone(), "b2"),
    ];
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 40, "every contact leased exactly once");
    assert_eq!(unique.len(), 40);
}

on_both!(
    leases_follow_tier_then_creation_order,
    newest_first_reverses_order_within_a_tier,
    adding_a_contact_twice_keeps_one_entry,
    do_not_call_numbers_are_skipped_never_leased,
    leased_contact_is_not_leased_again_until_recovered,
    dialed_attempt_is_never_recovered_for_redial,
    call_sid_links_call_row_to_campaign_and_attempt,
    retry_returns_contact_to_pending_at_the_given_time,
    released_lease_is_due_again_later_without_counting_an_attempt,
    report_lists_contacts_with_attempts_and_outcome,
    campaign_state_changes_are_stored,
);
