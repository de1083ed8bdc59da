//! The contract for environments: deployments, alias moves and selectors' splits.

use weir_catalog::{Alias, AliasMove, Catalog, CatalogError, Deployment, SplitChange};

pub async fn deployments_are_append_only_and_numbered_per_env(c: &dyn Catalog) {
    let d = |env: &str, at: i64| Deployment {
        env: env.into(),
        seq: 0,
        deployed_at_ms: at,
        message: Some(format!("{env} at {at}")),
        window: None,
        files: [("weir.toml".to_string(), "[project]".to_string())].into(),
        versions: [("plays".to_string(), 1)].into(),
    };
    assert_eq!(c.deploy(&d("prod", 1)).await.expect("deploy").seq, 1);
    assert_eq!(c.deploy(&d("candidate", 2)).await.expect("deploy").seq, 1);
    let mut again = d("prod", 3);
    again.window = Some("3d".into());
    assert_eq!(c.deploy(&again).await.expect("deploy").seq, 2);
    let prod = c.deployments(Some("prod")).await.expect("list");
    assert_eq!(prod.iter().map(|d| d.seq).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(prod[1].window.as_deref(), Some("3d"));
    assert_eq!(prod[0].files["weir.toml"], "[project]");
    assert_eq!(prod[0].versions["plays"], 1);
    assert_eq!(c.deployments(None).await.expect("all").len(), 3);
}

pub async fn alias_moves_are_recorded(c: &dyn Catalog) {
    let mv = |from: Option<u32>, to: u32, pinned: bool, kind: &str, at: i64| AliasMove {
        env: "prod".into(),
        dataset: "plays".into(),
        seq: 0,
        from_version: from,
        to_version: to,
        pinned,
        kind: weir_catalog::MoveKind::parse(kind).expect("a kind"),
        reason: Some(kind.to_uppercase()),
        at_ms: at,
    };
    assert_eq!(c.alias("prod", "plays").await.expect("get"), None);
    c.move_alias(&mv(None, 1, false, "advance", 10)).await.expect("move");
    c.move_alias(&mv(Some(1), 2, false, "advance", 20)).await.expect("move");
    let a = c.move_alias(&mv(Some(2), 1, true, "revert", 30)).await.expect("move");
    // Compare and swap: a move planned before another landed is refused, and
    // an advance never unpins.
    for stale in [
        mv(Some(2), 3, false, "advance", 31),
        mv(Some(1), 3, false, "advance", 32),
    ] {
        let r = c.move_alias(&stale).await;
        assert!(matches!(r, Err(CatalogError::AliasMoved { .. })), "{r:?}");
    }
    assert_eq!(
        a,
        Alias {
            env: "prod".into(),
            dataset: "plays".into(),
            version: 1,
            pinned: true,
            updated_at_ms: 30
        }
    );
    assert_eq!(c.alias("prod", "plays").await.expect("get"), Some(a));
    assert_eq!(
        c.alias("candidate", "plays").await.expect("get"),
        None,
        "aliases are per environment"
    );
    let h = c.alias_history("prod", "plays").await.expect("history");
    let summary: Vec<(u32, Option<u32>, u32, &str)> = h
        .iter()
        .map(|m| (m.seq, m.from_version, m.to_version, m.kind.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, None, 1, "advance"),
            (2, Some(1), 2, "advance"),
            (3, Some(2), 1, "revert")
        ]
    );
    assert_eq!(h[2].reason.as_deref(), Some("REVERT"));
    assert_eq!(c.aliases("prod").await.expect("list").len(), 1);
}

pub async fn split_changes_are_recorded_per_environment(c: &dyn Catalog) {
    let change = |env: &str, pop: u32, kind: &str, at: i64| SplitChange {
        env: env.into(),
        selector: "reco".into(),
        seq: 0,
        split: [("popularity".to_string(), pop), ("cooc".to_string(), 100 - pop)].into(),
        kind: kind.into(),
        reason: Some(format!("{kind} at {at}")),
        by: "ana".into(),
        at_ms: at,
    };
    assert!(c.splits("prod").await.expect("splits").is_empty());
    let before = c.last_change().await.expect("feed");
    assert_eq!(
        c.set_split(&change("prod", 90, "set", 10), None, &[])
            .await
            .expect("set")
            .seq,
        1
    );
    assert_eq!(
        c.set_split(&change("candidate", 20, "set", 11), None, &[])
            .await
            .expect("set")
            .seq,
        1
    );
    // Compare and swap: a change planned against change 0 (none) lost.
    let owed = [("split:prod/reco/2".to_string(), "{}".to_string())];
    let r = c.set_split(&change("prod", 10, "auto", 12), Some(0), &owed).await;
    assert!(
        matches!(
            r,
            Err(CatalogError::SplitMoved {
                expected: 0,
                found: 1,
                ..
            })
        ),
        "{r:?}"
    );
    assert!(
        c.alerts_owed(i64::MAX).await.expect("owed").is_empty(),
        "a refused change owes nothing"
    );
    let second = c
        .set_split(&change("prod", 10, "auto", 13), Some(1), &owed)
        .await
        .expect("set");
    assert_eq!(
        c.alerts_owed(i64::MAX).await.expect("owed"),
        owed.to_vec(),
        "the alert is owed with the change"
    );
    assert_eq!(second.seq, 2);
    let history = c.split_history("prod", "reco").await.expect("history");
    assert_eq!(
        history
            .iter()
            .map(|h| (h.seq, h.split["popularity"], h.kind.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, 90, "set"), (2, 10, "auto")]
    );
    assert_eq!(history[1], second);
    let latest = c.splits("prod").await.expect("splits");
    assert_eq!(latest, vec![second]);
    assert_eq!(c.splits("candidate").await.expect("splits")[0].split["cooc"], 80);
    let fed = c.changes(before, 100).await.expect("feed");
    let fed: Vec<(&str, Option<&str>, Option<&str>)> = fed
        .iter()
        .map(|f| (f.kind.as_str(), f.env.as_deref(), f.dataset.as_deref()))
        .collect();
    assert_eq!(
        fed,
        vec![
            ("selector", Some("prod"), Some("reco")),
            ("selector", Some("candidate"), Some("reco")),
            ("selector", Some("prod"), Some("reco")),
        ],
        "every change is in the feed, and the refused one is not"
    );
}
