//! The catalog contract suite. Each function checks one clause of the
//! `Catalog` rustdoc on a fresh, empty catalog; every implementation runs all
//! of them (see `sqlite.rs`; a PostgreSQL implementation runs the same list).

use std::collections::BTreeMap;
use weir_catalog::{Catalog, CatalogError, InstanceKey, InstanceRecord, Outcome, RunRecord, RunState};

mod envs;
mod quality;
mod runs;
mod service;
pub use envs::*;
pub use quality::*;
pub use runs::*;
pub use service::*;

pub fn key(ds: &str, v: u32, p: i64) -> InstanceKey {
    InstanceKey {
        dataset: ds.into(),
        version: v,
        partition: p,
    }
}

fn outcome(k: &InstanceKey, run: &str, ok: bool, inputs: Vec<InstanceKey>, at: i64) -> Outcome {
    let mut counters = BTreeMap::new();
    counters.insert("rows_out".to_string(), 42);
    Outcome {
        run: RunRecord {
            run_id: run.into(),
            key: k.clone(),
            state: if ok { RunState::Succeeded } else { RunState::Failed },
            started_at_ms: at - 5,
            ended_at_ms: at,
            error: (!ok).then(|| "boom".to_string()),
            log: "log line".into(),
            counters,
            metrics: BTreeMap::new(),
            checks: Vec::new(),
        },
        instance: ok.then(|| InstanceRecord {
            key: k.clone(),
            partition_key: format!("date={}", k.partition),
            run_id: run.into(),
            location: format!("lake/{}/v{}/{}", k.dataset, k.version, k.partition),
            rows: Some(42),
            bytes: 1000,
            files: 1,
            committed_at_ms: at,
            inputs,
            blocked: false,
        }),
    }
}

pub async fn versions_are_numbered_once(c: &dyn Catalog) {
    assert_eq!(c.register_version("a", "f1", "{}", 1).await.expect("v1"), 1);
    assert_eq!(c.register_version("a", "f2", "{}", 2).await.expect("v2"), 2);
    assert_eq!(c.register_version("a", "f1", "{}", 3).await.expect("again"), 1);
    assert_eq!(c.register_version("b", "f1", "{}", 4).await.expect("other dataset"), 1);
    assert_eq!(c.version_number("a", "f2").await.expect("lookup"), Some(2));
    assert_eq!(c.version_number("a", "nope").await.expect("lookup"), None);
    assert!(
        c.import_version("z", 7, "fz", "{}", 5).await.expect("import"),
        "an imported version keeps its number"
    );
    assert!(
        !c.import_version("z", 7, "other", "{}", 5).await.expect("import"),
        "a taken number is refused"
    );
    assert_eq!(c.version_number("z", "fz").await.expect("lookup"), Some(7));
    assert_eq!(
        c.register_version("z", "fz2", "{}", 6).await.expect("next"),
        8,
        "numbering continues after imports"
    );
    let vs = c.versions("a").await.expect("list");
    assert_eq!(
        vs.iter()
            .map(|v| (v.number, v.fingerprint.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "f1"), (2, "f2")]
    );
}

pub async fn instances_exist_once_committed_and_are_never_overwritten(c: &dyn Catalog) {
    let k = key("a", 1, 10);
    assert_eq!(c.instance(&k).await.expect("get"), None);
    c.commit(&[outcome(&k, "r1", true, vec![], 100)]).await.expect("commit");
    let got = c.instance(&k).await.expect("get").expect("exists");
    assert_eq!((got.run_id.as_str(), got.rows), ("r1", Some(42)));
    assert_eq!(c.present("a", 1).await.expect("present"), vec![10]);
    let again = c.commit(&[outcome(&k, "r2", true, vec![], 200)]).await;
    assert!(matches!(again, Err(CatalogError::InstanceExists(_))), "{again:?}");
    assert_eq!(c.instance(&k).await.expect("get").expect("exists").run_id, "r1");
    assert_eq!(
        c.run("r2").await.expect("run"),
        None,
        "a failed batch leaves no run behind"
    );
}

pub async fn batches_are_atomic(c: &dyn Catalog) {
    let existing = key("a", 1, 1);
    c.commit(&[outcome(&existing, "r0", true, vec![], 10)])
        .await
        .expect("seed");
    let fresh = key("a", 1, 2);
    let batch = [
        outcome(&fresh, "r1", true, vec![], 20),
        outcome(&existing, "r2", true, vec![], 20),
    ];
    assert!(c.commit(&batch).await.is_err());
    assert_eq!(
        c.instance(&fresh).await.expect("get"),
        None,
        "nothing of a failed batch is kept"
    );
    assert_eq!(c.run("r1").await.expect("get"), None);
    let batch = [
        outcome(&fresh, "r3", true, vec![], 30),
        outcome(&key("a", 1, 3), "r4", false, vec![], 30),
    ];
    c.commit(&batch).await.expect("commit");
    assert_eq!(c.present("a", 1).await.expect("present"), vec![1, 2]);
    assert_eq!(c.failed("a", 1).await.expect("failed"), vec![3]);
    let run = c.run("r4").await.expect("get").expect("exists");
    assert_eq!(
        (run.state, run.error.as_deref(), run.counters.get("rows_out")),
        (RunState::Failed, Some("boom"), Some(&42))
    );
}

pub async fn one_claim_per_instance(c: &dyn Catalog) {
    let k = key("a", 1, 5);
    assert!(c.claim(&k, "r1", "w1", 1000, 100).await.expect("claim"));
    assert!(
        !c.claim(&k, "r2", "w2", 1050, 100).await.expect("claim"),
        "the lease holds"
    );
    assert_eq!(c.claimed("a", 1, 1050).await.expect("claimed"), vec![5]);
    assert_eq!(c.live_runs(1050).await.expect("live"), vec!["r1".to_string()]);
    let running = c.running(1050).await.expect("running");
    assert_eq!(running.len(), 1);
    assert_eq!(
        (&running[0].key, running[0].run_id.as_str(), running[0].owner.as_str()),
        (&k, "r1", "w1")
    );
    assert!(
        c.running(1100).await.expect("expired").is_empty(),
        "an expired claim is not running"
    );
    c.renew("w1", 1090, 100).await.expect("renew");
    assert!(
        !c.claim(&k, "r2", "w2", 1150, 100).await.expect("claim"),
        "renewed lease holds"
    );
    assert!(
        c.holds(&k, "r1", 1189).await.expect("holds"),
        "an expired lease no one took over still holds"
    );
    assert!(
        c.claim(&k, "r2", "w2", 1190, 100).await.expect("claim"),
        "an expired lease is taken over"
    );
    // The fence: r1 lost its claim to r2; it may neither seal nor commit.
    assert!(!c.holds(&k, "r1", 1195).await.expect("holds"));
    assert!(c.holds(&k, "r2", 1195).await.expect("holds"));
    let late = c.commit(&[outcome(&k, "r1", true, vec![], 1195)]).await;
    assert!(matches!(late, Err(CatalogError::LostClaim { .. })), "{late:?}");
    assert!(
        c.instance(&k).await.expect("instance").is_none(),
        "the refused commit changed nothing"
    );
    c.commit(&[outcome(&k, "r2", true, vec![], 1200)])
        .await
        .expect("commit");
    assert!(
        c.claimed("a", 1, 1200).await.expect("claimed").is_empty(),
        "commit releases the claim"
    );
    assert!(
        !c.claim(&k, "r3", "w3", 5000, 100).await.expect("claim"),
        "no claim on an existing instance"
    );
    assert!(c.claim(&key("a", 1, 6), "r4", "w3", 5000, 100).await.expect("claim"));
    c.unclaim("r4").await.expect("unclaim");
    assert!(
        c.claim(&key("a", 1, 6), "r5", "w3", 5001, 100).await.expect("claim"),
        "an unclaimed instance can be claimed again"
    );
    c.release("w3").await.expect("release");
    assert!(c.claimed("a", 1, 5000).await.expect("claimed").is_empty());
}

pub async fn lineage_is_exact(c: &dyn Catalog) {
    let raw: Vec<InstanceKey> = (0..3).map(|p| key("raw", 1, p)).collect();
    for (i, k) in raw.iter().enumerate() {
        c.commit(&[outcome(k, &format!("raw{i}"), true, vec![], 10)])
            .await
            .expect("raw");
    }
    let day = key("day", 2, 0);
    c.commit(&[outcome(&day, "d", true, raw.clone(), 20)])
        .await
        .expect("day");
    assert_eq!(c.instance(&day).await.expect("get").expect("exists").inputs, raw);
    assert_eq!(c.consumers(&raw[1]).await.expect("consumers"), vec![day]);
    assert!(c.consumers(&key("raw", 1, 9)).await.expect("consumers").is_empty());
}

pub async fn states_answer_like_the_single_queries(c: &dyn Catalog) {
    let a1 = key("a", 1, 1);
    let a2 = key("a", 1, 2);
    let b = key("b", 2, 7);
    c.commit(&[outcome(&a1, "r1", true, vec![], 10)]).await.expect("a1");
    c.commit(&[outcome(&a2, "r2", false, vec![], 10)])
        .await
        .expect("a2 fails");
    for p in [3, 4, 6] {
        c.commit(&[outcome(&key("a", 1, p), &format!("a{p}"), true, vec![], 10)])
            .await
            .expect("more of a");
    }
    let mut blocked = outcome(&b, "r3", true, vec![], 10);
    if let Some(i) = blocked.instance.as_mut() {
        i.blocked = true;
    }
    c.commit(&[blocked]).await.expect("b");
    assert!(c.claim(&key("b", 2, 8), "r4", "w", 100, 1000).await.expect("claim"));
    let wanted = vec![("b".to_string(), 2), ("a".to_string(), 1), ("none".to_string(), 1)];
    let states = c.states(&wanted, 200, true).await.expect("states");
    assert_eq!(states.len(), 3);
    assert_eq!(
        (states[0].dataset.as_str(), states[0].version),
        ("b", 2),
        "in the order asked"
    );
    assert_eq!(states[0].present, vec![7]);
    assert_eq!(states[0].blocked, vec![7]);
    assert_eq!(states[0].claimed, vec![8]);
    assert_eq!(states[1].present, vec![1, 3, 4, 6], "runs with gaps");
    assert_eq!(states[1].failed, vec![2]);
    assert!(states[1].blocked.is_empty() && states[1].claimed.is_empty());
    assert_eq!(
        states[2],
        weir_catalog::VersionState {
            dataset: "none".into(),
            version: 1,
            ..Default::default()
        }
    );
    let no_failed = c.states(&wanted, 200, false).await.expect("states");
    assert!(no_failed[1].failed.is_empty(), "failed only when asked");
    assert!(
        c.states(&wanted, 5_000, true).await.expect("later")[0]
            .claimed
            .is_empty(),
        "expired claims are not running"
    );
}

/// Runs every clause on catalogs from `fresh`.
#[macro_export]
macro_rules! contract_suite {
    ($fresh:expr) => {
        #[tokio::test]
        async fn states_answer_like_the_single_queries() {
            let c = $fresh.await;
            $crate::contract::states_answer_like_the_single_queries(&*c).await;
        }
        #[tokio::test]
        async fn pruning_keeps_the_latest_run_of_every_instance() {
            let c = $fresh.await;
            $crate::contract::pruning_keeps_the_latest_run_of_every_instance(&*c).await;
        }
        #[tokio::test]
        async fn sla_misses_are_recorded_once_and_recover_once() {
            let c = $fresh.await;
            $crate::contract::sla_misses_are_recorded_once_and_recover_once(&*c).await;
        }
        #[tokio::test]
        async fn tokens_are_stored_by_hash_and_revoked_by_name() {
            let c = $fresh.await;
            $crate::contract::tokens_are_stored_by_hash_and_revoked_by_name(&*c).await;
        }
        #[tokio::test]
        async fn the_audit_log_is_append_only_and_paged() {
            let c = $fresh.await;
            $crate::contract::the_audit_log_is_append_only_and_paged(&*c).await;
        }
        #[tokio::test]
        async fn pauses_and_changes_are_fed() {
            let c = $fresh.await;
            $crate::contract::pauses_and_changes_are_fed(&*c).await;
        }
        #[tokio::test]
        async fn versions_are_numbered_once() {
            let c = $fresh.await;
            $crate::contract::versions_are_numbered_once(&*c).await;
        }
        #[tokio::test]
        async fn instances_exist_once_committed_and_are_never_overwritten() {
            let c = $fresh.await;
            $crate::contract::instances_exist_once_committed_and_are_never_overwritten(&*c).await;
        }
        #[tokio::test]
        async fn batches_are_atomic() {
            let c = $fresh.await;
            $crate::contract::batches_are_atomic(&*c).await;
        }
        #[tokio::test]
        async fn one_claim_per_instance() {
            let c = $fresh.await;
            $crate::contract::one_claim_per_instance(&*c).await;
        }
        #[tokio::test]
        async fn lineage_is_exact() {
            let c = $fresh.await;
            $crate::contract::lineage_is_exact(&*c).await;
        }
        #[tokio::test]
        async fn deployments_are_append_only_and_numbered_per_env() {
            let c = $fresh.await;
            $crate::contract::deployments_are_append_only_and_numbered_per_env(&*c).await;
        }
        #[tokio::test]
        async fn split_changes_are_recorded_per_environment() {
            let c = $fresh.await;
            $crate::contract::split_changes_are_recorded_per_environment(&*c).await;
        }
        #[tokio::test]
        async fn alias_moves_are_recorded() {
            let c = $fresh.await;
            $crate::contract::alias_moves_are_recorded(&*c).await;
        }
        #[tokio::test]
        async fn invalidation_is_atomic_and_remembered() {
            let c = $fresh.await;
            $crate::contract::invalidation_is_atomic_and_remembered(&*c).await;
        }
        #[tokio::test]
        async fn blocking_is_recorded_and_accept_releases_it() {
            let c = $fresh.await;
            $crate::contract::blocking_is_recorded_and_accept_releases_it(&*c).await;
        }
        #[tokio::test]
        async fn sla_alerts_are_owed_until_delivered() {
            let c = $fresh.await;
            $crate::contract::sla_alerts_are_owed_until_delivered(&*c).await;
        }
        #[tokio::test]
        async fn owed_alerts_wait_until_sent() {
            let c = $fresh.await;
            $crate::contract::owed_alerts_wait_until_sent(&*c).await;
        }
        #[tokio::test]
        async fn alerts_owed_with_a_commit_stand_or_fall_with_it() {
            let c = $fresh.await;
            $crate::contract::alerts_owed_with_a_commit_stand_or_fall_with_it(&*c).await;
        }
        #[tokio::test]
        async fn one_leader_at_a_time() {
            let c = $fresh.await;
            $crate::contract::one_leader_at_a_time(&*c).await;
        }
        #[tokio::test]
        async fn measurements_come_back_exactly() {
            let c = $fresh.await;
            $crate::contract::measurements_come_back_exactly(&*c).await;
        }
        #[tokio::test]
        async fn failures_clear_when_the_instance_is_built() {
            let c = $fresh.await;
            $crate::contract::failures_clear_when_the_instance_is_built(&*c).await;
        }
    };
}
