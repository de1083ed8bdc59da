//! The contract for invalidation (the trash) and blocked instances with
//! their acceptances.

use super::{key, outcome};
use weir_catalog::{Catalog, RunFilter};

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
