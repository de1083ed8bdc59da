//! The contract for the service layer: tokens, the audit log, pauses, cancel
//! requests and the change feed.

use weir_catalog::{AuditEntry, Catalog, CatalogError, Deployment, Pause, SlaMiss, TokenRecord};

fn token(name: &str, hash: &str, expires: Option<i64>) -> TokenRecord {
    TokenRecord {
        name: name.into(),
        role: "operator".into(),
        hash: hash.into(),
        streams: vec!["plays_raw".into()],
        created_at_ms: 10,
        created_by: "user:test".into(),
        expires_at_ms: expires,
        revoked_at_ms: None,
    }
}

pub async fn tokens_are_stored_by_hash_and_revoked_by_name(c: &dyn Catalog) {
    c.create_token(&token("ci", "h1", None), 10).await.expect("create");
    assert!(
        matches!(c.create_token(&token("ci", "h2", None), 11).await, Err(CatalogError::TokenExists(n)) if n == "ci"),
        "one active token per name"
    );
    let t = c.token("h1").await.expect("read").expect("found by hash");
    assert_eq!((t.name.as_str(), t.role.as_str()), ("ci", "operator"));
    assert_eq!(t.streams, vec!["plays_raw".to_string()]);
    assert!(t.active(20));
    assert_eq!(c.token("nope").await.expect("read"), None);
    assert_eq!(c.revoke_token("ci", 30).await.expect("revoke"), 1);
    let t = c.token("h1").await.expect("read").expect("kept after revocation");
    assert_eq!(t.revoked_at_ms, Some(30));
    assert!(!t.active(31));
    // The name is free again once its token is revoked (rotation).
    c.create_token(&token("ci", "h2", Some(100)), 40).await.expect("rotate");
    assert!(c.token("h2").await.expect("read").expect("new").active(99));
    assert!(!c.token("h2").await.expect("read").expect("new").active(100), "expired");
    // An expired token does not hold its name either.
    c.create_token(&token("ci", "h3", None), 200)
        .await
        .expect("after expiry");
    assert_eq!(c.tokens().await.expect("list").len(), 3);
    assert_eq!(c.revoke_token("ghost", 1).await.expect("revoke none"), 0);
}

pub async fn the_audit_log_is_append_only_and_paged(c: &dyn Catalog) {
    for i in 0..5 {
        let seq = c
            .record_audit(&AuditEntry {
                seq: 0,
                at_ms: i,
                actor: "token:ci".into(),
                via: "api".into(),
                action: format!("act{i}"),
                args: "{}".into(),
                outcome: "ok".into(),
            })
            .await
            .expect("record");
        assert!(seq > 0);
    }
    let page = c.audit(None, 2).await.expect("page 1");
    assert_eq!(
        page.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["act4", "act3"]
    );
    let next = c.audit(Some(page[1].seq), 10).await.expect("page 2");
    assert_eq!(
        next.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["act2", "act1", "act0"]
    );
}

pub async fn pauses_and_changes_are_fed(c: &dyn Catalog) {
    assert_eq!(c.last_change().await.expect("empty"), 0);
    let p = |ds: Option<&str>| Pause {
        env: "prod".into(),
        dataset: ds.map(str::to_string),
        by: "user:test".into(),
        reason: Some("maintenance".into()),
        at_ms: 5,
    };
    assert!(c.pause(&p(Some("plays"))).await.expect("pause"));
    assert!(!c.pause(&p(Some("plays"))).await.expect("again"), "already paused");
    assert!(c.pause(&p(None)).await.expect("pause env"));
    let paused = c.paused(Some("prod")).await.expect("list");
    assert_eq!(paused.len(), 2);
    assert!(paused.iter().any(|x| x.dataset.is_none()), "the whole environment");
    assert!(c.paused(Some("dev")).await.expect("other env").is_empty());
    assert!(c.resume("prod", Some("plays")).await.expect("resume"));
    assert!(!c.resume("prod", Some("plays")).await.expect("again"));
    assert!(c.request_cancel("run-1", "user:test", 6).await.expect("cancel"));
    assert!(!c.request_cancel("run-1", "user:test", 7).await.expect("again"));
    c.deploy(&Deployment {
        env: "prod".into(),
        seq: 0,
        deployed_at_ms: 8,
        message: None,
        window: None,
        files: Default::default(),
        versions: Default::default(),
    })
    .await
    .expect("deploy");
    c.revoke_token("ghost", 9).await.expect("revoke");
    let feed = c.changes(0, 100).await.expect("feed");
    let kinds: Vec<_> = feed.iter().map(|x| x.kind.as_str()).collect();
    assert_eq!(kinds, ["pause", "pause", "resume", "cancel", "deploy", "token"]);
    assert_eq!(feed[0].dataset.as_deref(), Some("plays"));
    assert_eq!(feed[1].dataset, None, "the whole environment");
    assert_eq!(feed[3].detail.as_deref(), Some("run-1"));
    assert_eq!(feed[4].env.as_deref(), Some("prod"));
    let last = c.last_change().await.expect("last");
    assert_eq!(last, feed[5].seq);
    assert!(c.changes(last, 10).await.expect("none newer").is_empty());
    assert_eq!(c.changes(feed[3].seq, 10).await.expect("tail").len(), 2);
}

pub async fn sla_misses_are_recorded_once_and_recover_once(c: &dyn Catalog) {
    let m = SlaMiss {
        env: "prod".into(),
        dataset: "plays".into(),
        partition: 7,
        partition_key: "date=2026-01-08".into(),
        version: 2,
        deadline_ms: 100,
        missed_at_ms: 101,
        recovered_at_ms: None,
    };
    assert!(c.record_sla_miss(&m).await.expect("record"));
    assert!(!c.record_sla_miss(&m).await.expect("again"), "a miss is recorded once");
    let other_env = SlaMiss {
        env: "dev".into(),
        ..m.clone()
    };
    assert!(c.record_sla_miss(&other_env).await.expect("other env"));
    assert_eq!(c.open_sla_misses("prod").await.expect("open"), vec![m.clone()]);
    assert!(c.recover_sla_miss("prod", "plays", 7, 200).await.expect("recover"));
    assert!(
        !c.recover_sla_miss("prod", "plays", 7, 300).await.expect("again"),
        "recovered once"
    );
    assert!(c.open_sla_misses("prod").await.expect("open").is_empty());
    assert!(
        !c.record_sla_miss(&m).await.expect("after recovery"),
        "a recovered miss is not a new one"
    );
    assert_eq!(c.open_sla_misses("dev").await.expect("dev").len(), 1);
}

/// One leader at a time: a lease is taken when free or expired, renewed by
/// its holder, refused to others while it runs, and freed by resigning.
pub async fn one_leader_at_a_time(c: &dyn Catalog) {
    assert_eq!(c.leader("leader", 0).await.expect("leader"), None);
    assert!(c.lead("leader", "a", 1_000, 500).await.expect("a takes it"));
    assert!(!c.lead("leader", "b", 1_200, 500).await.expect("b is refused"));
    assert!(c.lead("leader", "a", 1_400, 500).await.expect("a renews"));
    assert!(!c.lead("leader", "b", 1_800, 500).await.expect("renewed until 1900"));
    assert_eq!(c.leader("leader", 1_800).await.expect("leader").as_deref(), Some("a"));
    assert!(c.lead("leader", "b", 1_900, 500).await.expect("expired: b takes it"));
    assert!(!c.lead("leader", "a", 2_000, 500).await.expect("a lost it"));
    assert!(c.lead("other", "a", 2_000, 500).await.expect("roles are apart"));
    c.resign("leader", "a").await.expect("a resigns nothing it holds");
    assert_eq!(c.leader("leader", 2_000).await.expect("leader").as_deref(), Some("b"));
    c.resign("leader", "b").await.expect("b resigns");
    assert_eq!(c.leader("leader", 2_000).await.expect("leader"), None);
    assert!(c.lead("leader", "a", 2_001, 500).await.expect("free again at once"));
}

/// An SLA miss owes its alert, then its recovery's, until each is recorded
/// as delivered: a new leader sends what the last one did not.
pub async fn sla_alerts_are_owed_until_delivered(c: &dyn Catalog) {
    let m = SlaMiss {
        env: "prod".into(),
        dataset: "plays".into(),
        partition: 7,
        partition_key: "date=2026-01-08".into(),
        version: 2,
        deadline_ms: 100,
        missed_at_ms: 101,
        recovered_at_ms: None,
    };
    assert!(c.sla_alerts_due("prod").await.expect("due").is_empty());
    c.record_sla_miss(&m).await.expect("record");
    assert_eq!(c.sla_alerts_due("prod").await.expect("due"), vec![(m.clone(), false)]);
    assert!(c.sla_alerted("prod", "plays", 7, false, 150).await.expect("sent"));
    assert!(!c.sla_alerted("prod", "plays", 7, false, 160).await.expect("once"));
    assert!(
        c.sla_alerts_due("prod").await.expect("due").is_empty(),
        "a sent alert is not owed"
    );
    c.recover_sla_miss("prod", "plays", 7, 200).await.expect("recover");
    let recovered = SlaMiss {
        recovered_at_ms: Some(200),
        ..m.clone()
    };
    assert_eq!(c.sla_alerts_due("prod").await.expect("due"), vec![(recovered, true)]);
    assert!(c.sla_alerted("prod", "plays", 7, true, 250).await.expect("sent"));
    assert!(c.sla_alerts_due("prod").await.expect("due").is_empty());
    // Missed and recovered before any alert went out: both are owed, in order.
    let m2 = SlaMiss {
        partition: 8,
        partition_key: "date=2026-01-09".into(),
        ..m.clone()
    };
    c.record_sla_miss(&m2).await.expect("record");
    c.recover_sla_miss("prod", "plays", 8, 300).await.expect("recover");
    let due: Vec<bool> = c
        .sla_alerts_due("prod")
        .await
        .expect("due")
        .into_iter()
        .map(|(_, recovery)| recovery)
        .collect();
    assert_eq!(due, vec![false, true]);
    assert!(
        c.sla_alerts_due("dev").await.expect("due").is_empty(),
        "per environment"
    );
}

/// An owed alert is listed (once old enough) until it is marked sent; owing
/// it again changes nothing.
pub async fn owed_alerts_wait_until_sent(c: &dyn Catalog) {
    let owe = |id: &str, event: &str| vec![(id.to_string(), event.to_string())];
    c.commit_owing(&[], &owe("failed:r1", "{\"kind\":\"run_failed\"}"), 100)
        .await
        .expect("owe");
    c.commit_owing(&[], &owe("failed:r1", "{}"), 150)
        .await
        .expect("owing again changes nothing");
    c.commit_owing(&[], &owe("failed:r2", "{}"), 200).await.expect("owe");
    assert!(c.alerts_owed(100).await.expect("owed").is_empty(), "not old enough yet");
    let owed = c.alerts_owed(1_000).await.expect("owed");
    assert_eq!(
        owed,
        vec![
            ("failed:r1".to_string(), "{\"kind\":\"run_failed\"}".to_string()),
            ("failed:r2".to_string(), "{}".to_string())
        ],
        "oldest first, with the first event kept"
    );
    assert!(c.alert_sent("failed:r1", 300).await.expect("sent"));
    assert!(!c.alert_sent("failed:r1", 400).await.expect("again"));
    assert_eq!(c.alerts_owed(1_000).await.expect("owed").len(), 1);
}

/// Alerts owed with a batch are recorded in its transaction: a batch the
/// catalog refuses owes nothing, and a committed one owes each alert once.
pub async fn alerts_owed_with_a_commit_stand_or_fall_with_it(c: &dyn Catalog) {
    let k = super::key("a", 1, 10);
    let first = super::outcome(&k, "r1", true, vec![], 100);
    let alert = ("checks:r1".to_string(), "{\"kind\":\"check_failed\"}".to_string());
    c.commit_owing(std::slice::from_ref(&first), std::slice::from_ref(&alert), 100)
        .await
        .expect("commit");
    assert_eq!(c.alerts_owed(1_000).await.expect("owed"), vec![alert.clone()]);
    // A second build of the same instance is refused, and so is its alert.
    let second = super::outcome(&k, "r2", true, vec![], 200);
    let refused = ("checks:r2".to_string(), "{}".to_string());
    let err = c
        .commit_owing(std::slice::from_ref(&second), std::slice::from_ref(&refused), 200)
        .await
        .expect_err("the instance exists");
    assert!(matches!(err, weir_catalog::CatalogError::InstanceExists(_)), "{err}");
    assert_eq!(
        c.alerts_owed(1_000).await.expect("owed"),
        vec![alert],
        "the refused batch owes nothing"
    );
}
