//! The contract for environments: deployments and alias moves.

use weir_catalog::{Alias, AliasMove, Catalog, CatalogError, Deployment};

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
