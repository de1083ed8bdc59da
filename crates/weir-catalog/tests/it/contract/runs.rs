//! The contract for runs: failures, listing and paging, pruning.

use super::{key, outcome};
use weir_catalog::{Catalog, RunFilter, RunState};

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
    let of_partition = |p: i64| RunFilter {
        dataset: Some("a".into()),
        partition: Some(p),
        ..Default::default()
    };
    assert_eq!(c.runs(&of_partition(7)).await.expect("runs").len(), 2);
    assert!(c.runs(&of_partition(8)).await.expect("runs").is_empty());
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

/// Counters and metrics come back exactly: a count past a 32-bit float's
/// exact range, a metric, and a metric the job measured as NaN (null).
pub async fn measurements_come_back_exactly(c: &dyn Catalog) {
    let k = key("m", 1, 3);
    let mut o = outcome(&k, "big", true, vec![], 10);
    o.run.counters.insert("rows_in".into(), 20_000_001);
    o.run.metrics.insert("auc".into(), 0.812_345_678_9);
    o.run.metrics.insert("nan".into(), f64::NAN);
    c.commit(&[o]).await.expect("commit");
    let run = c.run("big").await.expect("run").expect("exists");
    assert_eq!(run.counters["rows_in"], 20_000_001);
    assert_eq!(run.metrics["auc"], 0.812_345_678_9);
    assert!(run.metrics["nan"].is_nan(), "null reads back as NaN");
    let history = c.history("m", 1, 0, 10).await.expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].values["rows_in"], 20_000_001.0, "exact through the history");
    assert_eq!(history[0].values["auc"], 0.812_345_678_9);
    assert!(history[0].values["nan"].is_nan());
}
