//! The catalog contract suite. Each function checks one clause of the
//! `Catalog` rustdoc on a fresh, empty catalog; every implementation runs all
//! of them (see `sqlite.rs`; a PostgreSQL implementation runs the same list).

use std::collections::BTreeMap;
use weir_catalog::{Catalog, CatalogError, InstanceKey, InstanceRecord, Outcome, RunFilter, RunRecord, RunState};

mod envs;
mod service;
pub use envs::*;
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

pub async fn failures_clear_when_the_instance_is_built(c: &dyn Catalog) {
    let k = key("a", 1, 7);
    c.commit(&[outcome(&k, "f1", false, vec![], 10)]).await.expect("fail");
    assert_eq!(c.failed("a", 1).await.expect("failed"), vec![7]);
    c.commit(&[outcome(&k, "ok", true, vec![], 20)]).await.expect("ok");
    assert!(c.failed("a", 1).await.expect("failed").is_empty());
    let runs = c
        .runs(&RunFilter {
            dataset: Some("a".into()),
            ..Default::default()
        })
        .await
        .expect("runs");
    assert_eq!(
        runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        vec!["ok", "f1"],
        "newest first"
    );
    let failed = c
        .runs(&RunFilter {
            state: Some(RunState::Failed),
            limit: Some(5),
            ..Default::default()
        })
        .await
        .expect("runs");
    assert_eq!(failed.len(), 1);
    // Pages: the cursor is the last run of the page before.
    for (i, at) in [30, 30, 40].into_iter().enumerate() {
        c.commit(&[outcome(&key("b", 1, i as i64), &format!("p{i}"), true, vec![], at)])
            .await
            .expect("page run");
    }
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = c
            .runs(&RunFilter {
                limit: Some(2),
                after: after.clone(),
                ..Default::default()
            })
            .await
            .expect("page");
        pages.push(page.iter().map(|r| r.run_id.clone()).collect::<Vec<_>>());
        match page.last() {
            Some(r) if page.len() == 2 => after = Some((r.ended_at_ms, r.run_id.clone())),
            _ => break,
        }
    }
    assert_eq!(
        pages,
        vec![vec!["p2", "p1"], vec!["p0", "ok"], vec!["f1"]],
        "newest first, ties by run id, nothing twice or skipped"
    );
}

pub async fn pruning_keeps_the_latest_run_of_every_instance(c: &dyn Catalog) {
    let built = key("a", 1, 1);
    let failing = key("a", 1, 2);
    // Instance 1: two failures, then the run that built it.
    c.commit(&[outcome(&built, "f1", false, vec![], 10)]).await.expect("f1");
    c.commit(&[outcome(&built, "f2", false, vec![], 20)]).await.expect("f2");
    c.commit(&[outcome(&built, "ok", true, vec![], 30)]).await.expect("ok");
    // Instance 2: only failures.
    c.commit(&[outcome(&failing, "g1", false, vec![], 10)])
        .await
        .expect("g1");
    c.commit(&[outcome(&failing, "g2", false, vec![], 40)])
        .await
        .expect("g2");
    assert_eq!(
        c.prune_runs(25).await.expect("prune"),
        3,
        "f1, f2 and g1 are old and superseded"
    );
    let left: Vec<String> = c
        .runs(&RunFilter::default())
        .await
        .expect("runs")
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert_eq!(left, vec!["g2", "ok"], "the builder and the latest failure stay");
    assert_eq!(
        c.failed("a", 1).await.expect("failed"),
        vec![2],
        "failures still read right"
    );
    assert_eq!(
        c.prune_runs(1_000).await.expect("again"),
        0,
        "the latest run of each instance is kept"
    );
    assert!(
        c.run("ok")
            .await
            .expect("run")
            .is_some_and(|r| r.counters["rows_out"] == 42)
    );
    // The change feed is pruned apart, keeping its newest entry.
    c.revoke_token("x", 10).await.expect("change 1");
    c.revoke_token("y", 20).await.expect("change 2");
    let last = c.last_change().await.expect("last");
    c.prune_runs(1_000).await.expect("prune runs");
    assert_eq!(c.changes(0, 10).await.expect("feed").len(), 2, "runs only");
    assert_eq!(c.prune_changes(15).await.expect("prune"), 1);
    let feed = c.changes(0, 10).await.expect("feed");
    assert_eq!(feed.iter().map(|x| x.at_ms).collect::<Vec<_>>(), vec![20]);
    assert_eq!(c.prune_changes(100).await.expect("prune all"), 0);
    assert_eq!(c.last_change().await.expect("last"), last, "the newest entry stays");
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

pub async fn invalidation_is_atomic_and_remembered(c: &dyn Catalog) {
    let raw = key("raw", 1, 0);
    let day = key("day", 1, 0);
    c.commit(&[outcome(&raw, "r-raw", true, vec![], 10)])
        .await
        .expect("raw");
    c.commit(&[outcome(&day, "r-day", true, vec![raw.clone()], 20)])
        .await
        .expect("day");
    let gone = c
        .invalidate(
            &[day.clone(), raw.clone(), key("raw", 1, 99)],
            "t1",
            Some("bad input"),
            30,
        )
        .await
        .expect("invalidate");
    assert_eq!(
        gone.iter().map(|t| t.key.clone()).collect::<Vec<_>>(),
        vec![day.clone(), raw.clone()],
        "missing instances are skipped"
    );
    assert_eq!(c.instance(&day).await.expect("get"), None);
    assert!(c.present("raw", 1).await.expect("present").is_empty());
    assert!(
        c.consumers(&raw).await.expect("consumers").is_empty(),
        "the removed instance's lineage goes with it"
    );
    assert!(c.is_trashed("r-day").await.expect("trashed"));
    assert!(!c.is_trashed("r-other").await.expect("trashed"));
    assert_eq!(c.trash().await.expect("trash").len(), 2);
    assert_eq!(gone[0].reason.as_deref(), Some("bad input"));
    // A rebuild commits again.
    c.commit(&[outcome(&raw, "r-raw2", true, vec![], 40)])
        .await
        .expect("rebuild");
    // A partial restore forgets only what came back.
    c.forget_trashed("t1", std::slice::from_ref(&raw))
        .await
        .expect("forget");
    let left = c.trash().await.expect("trash");
    assert_eq!(left.len(), 1, "{left:?}");
    assert_ne!(left[0].key, raw);
    c.purge_trash("t1").await.expect("purge");
    assert!(c.trash().await.expect("trash").is_empty());
}

pub async fn blocking_is_recorded_and_accept_releases_it(c: &dyn Catalog) {
    use weir_core::check::{CheckResult, Severity, Status};
    let result = |name: &str, severity, status| CheckResult {
        name: name.into(),
        severity,
        status,
        detail: "rows_out = 0".into(),
    };
    let mut batch = Vec::new();
    for p in 1..=4 {
        let mut o = outcome(&key("a", 1, p), &format!("r{p}"), true, vec![], 100 + p);
        o.run.counters.insert("rows_out".into(), p * 10);
        o.run.metrics.insert("share".into(), p as f64 / 8.0);
        // Null (NaN, ±infinity) is recorded as null and read back as NaN.
        o.run
            .metrics
            .insert("nan".into(), if p == 2 { f64::INFINITY } else { f64::NAN });
        o.run.checks = vec![
            result(
                "rows_out > 0",
                Severity::Block,
                if p == 3 { Status::Fail } else { Status::Pass },
            ),
            result("steady", Severity::Warn, Status::Fail),
        ];
        if let Some(i) = o.instance.as_mut() {
            i.blocked = p == 3;
        }
        batch.push(o);
    }
    c.commit(&batch).await.expect("commit");
    assert_eq!(c.blocked("a", 1).await.expect("blocked"), vec![3]);
    let run = c.run("r3").await.expect("run").expect("r3");
    assert_eq!(run.checks.len(), 2);
    assert_eq!(
        (run.checks[0].status, run.checks[1].severity),
        (Status::Fail, Severity::Warn)
    );
    assert_eq!(run.metrics.get("share"), Some(&0.375));
    assert!(run.metrics.get("nan").is_some_and(|v| v.is_nan()), "{:?}", run.metrics);
    let history = c.history("a", 1, 1, 3).await.expect("history");
    assert!(
        history.iter().all(|h| h.values.get("nan").is_some_and(|v| v.is_nan())),
        "{history:?}"
    );
    // A listing gives each run what was recorded with it, and nothing of another's.
    let listed = c
        .runs(&RunFilter {
            dataset: Some("a".into()),
            ..Default::default()
        })
        .await
        .expect("runs");
    assert_eq!(listed.len(), 4);
    for r in &listed {
        let p: i64 = r.run_id.trim_start_matches('r').parse().expect("r<p>");
        assert_eq!(r.counters.get("rows_out"), Some(&(p * 10)), "{}", r.run_id);
        assert_eq!(r.metrics.get("share"), Some(&(p as f64 / 8.0)), "{}", r.run_id);
        let statuses: Vec<Status> = r.checks.iter().map(|c| c.status).collect();
        let first = if p == 3 { Status::Fail } else { Status::Pass };
        assert_eq!(
            statuses,
            vec![first, Status::Fail],
            "{}: in the order recorded",
            r.run_id
        );
    }
    assert!(c.instance(&key("a", 1, 3)).await.expect("get").expect("i").blocked);
    // History skips the blocked instance and carries counters and metrics as numbers.
    let h = c.history("a", 1, 1, 5).await.expect("history");
    assert_eq!(h.iter().map(|p| p.partition).collect::<Vec<_>>(), vec![1, 2, 4]);
    assert_eq!(h[1].values.get("rows_out"), Some(&20.0));
    assert_eq!(h[1].values.get("share"), Some(&0.25));
    // Accept: recorded with who, why and which checks; the instance is released.
    assert_eq!(
        c.accept(&key("a", 1, 2), "not blocked", "me", 200).await.expect("noop"),
        None
    );
    assert_eq!(
        c.accept(&key("a", 1, 9), "missing", "me", 200).await.expect("noop"),
        None
    );
    let acc = c
        .accept(&key("a", 1, 3), "a known replay", "ana", 300)
        .await
        .expect("accept")
        .expect("accepted");
    assert_eq!(
        (acc.run_id.as_str(), acc.checks.clone()),
        ("r3", vec!["rows_out > 0".to_string()])
    );
    assert!(c.blocked("a", 1).await.expect("blocked").is_empty());
    assert!(!c.instance(&key("a", 1, 3)).await.expect("get").expect("i").blocked);
    let all = c.acceptances(Some("a")).await.expect("list");
    assert_eq!(all, vec![acc]);
    assert!(c.acceptances(Some("b")).await.expect("list").is_empty());
    assert_eq!(c.history("a", 1, 1, 5).await.expect("history").len(), 4);
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
        async fn failures_clear_when_the_instance_is_built() {
            let c = $fresh.await;
            $crate::contract::failures_clear_when_the_instance_is_built(&*c).await;
        }
    };
}
