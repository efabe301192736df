//! Contacts, do-not-call entries and call outcomes.

mod common;

use store::{NewCall, NewContact, Store};

async fn contact_upsert_by_phone_keeps_known_fields(s: Store) {
    let mut c = NewContact {
        phone: "+14155550101".into(),
        first_name: Some("Ada".into()),
        company: Some("Analytical".into()),
        ..Default::default()
    };
    c.fields.insert("plan".into(), "basic".into());
    let id = s.upsert_contact(&c).await.unwrap();
    let again = NewContact {
        phone: "+14155550101".into(),
        last_name: Some("Lovelace".into()),
        ..Default::default()
    };
    assert_eq!(s.upsert_contact(&again).await.unwrap(), id);
    let got = s.contact_by_phone("+14155550101").await.unwrap().unwrap();
    assert_eq!(got.first_name.as_deref(), Some("Ada"));
    assert_eq!(got.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(got.fields.get("plan").map(String::as_str), Some("basic"));
    assert_eq!(s.contact(id).await.unwrap().unwrap().phone, "+14155550101");
    assert!(s.contact_by_phone("+10000000000").await.unwrap().is_none());
}

async fn do_not_call_is_idempotent_and_first_reason_wins(s: Store) {
    assert!(!s.is_do_not_call("+14155550102").await.unwrap());
    s.add_do_not_call("+14155550102", Some("asked on call"), "call", Some("CA1"))
        .await
        .unwrap();
    s.add_do_not_call("+14155550102", Some("import"), "import", None)
        .await
        .unwrap();
    assert!(s.is_do_not_call("+14155550102").await.unwrap());
    let list = s.do_not_call_list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].source, "call");
    assert_eq!(list[0].call_sid.as_deref(), Some("CA1"));
}

async fn call_outcome_and_contact_are_stored_on_the_call(s: Store) {
    s.upsert_call(&NewCall {
        call_sid: "CA2".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let cid = s
        .upsert_contact(&NewContact {
            phone: "+14155550103".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    s.set_call_contact("CA2", cid).await.unwrap();
    s.set_call_outcome(
        "CA2",
        "interested",
        &serde_json::json!({"follow_ups": ["send pricing"]}),
    )
    .await
    .unwrap();
    let d = s.get_call("CA2").await.unwrap().unwrap();
    assert_eq!(d.call.contact_id, Some(cid));
    assert_eq!(d.call.outcome.as_deref(), Some("interested"));
    assert!(d.call.outcome_detail.unwrap().contains("send pricing"));
}

async fn caller_turns_carry_intent_and_sentiment(s: Store) {
    for (speaker, text) in [
        (store::Speaker::Caller, "how much is it"),
        (store::Speaker::Agent, "Nineteen dollars."),
        (store::Speaker::Caller, "that's ridiculous"),
    ] {
        s.add_turn(
            "CA3",
            &store::NewTurn {
                speaker,
                text: text.into(),
                interrupted: false,
                at_ms: 0,
                timings: Default::default(),
                intent: None,
            },
        )
        .await
        .unwrap();
    }
    s.annotate_last_caller_turn("CA3", Some("complaint"), "negative", -0.7)
        .await
        .unwrap();
    let d = s.get_call("CA3").await.unwrap().unwrap();
    assert_eq!(d.turns[0].sentiment_label, None);
    assert_eq!(d.turns[2].intent.as_deref(), Some("complaint"));
    assert_eq!(d.turns[2].sentiment_label.as_deref(), Some("negative"));
    assert_eq!(d.turns[2].sentiment_score, Some(-0.7));
}

on_both!(
    contact_upsert_by_phone_keeps_known_fields,
    do_not_call_is_idempotent_and_first_reason_wins,
    call_outcome_and_contact_are_stored_on_the_call,
    caller_turns_carry_intent_and_sentiment,
);
