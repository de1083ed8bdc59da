//! Repairing bad data: `invalidate` (with the lineage cascade and a trash),
//! `restore` and `gc`; `doctor` and `catalog rebuild`. The rules live in
//! `weir_ops::invalidate`; the rebuild is just `weir run`.

use crate::UserError;
use crate::output::{Printer, table};
use crate::project;
use anyhow::Result;
use std::path::Path;
use weir_core::Span;

/// What to invalidate, as the command line says it.
pub struct Target<'a> {
    pub dataset: &'a str,
    pub version: Option<u32>,
    pub partition: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub cascade: bool,
    pub dry_run: bool,
    pub reason: Option<String>,
}

pub async fn invalidate(dir: Option<&Path>, t: Target<'_>, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let ws = project::open(&dir).await?;
    let (from, to) = match t.partition {
        Some(part) => (Some(part), Some(part)),
        None => (t.from, t.to),
    };
    let args = weir_ops::invalidate::InvalidateArgs {
        dataset: t.dataset.to_string(),
        version: t.version,
        selection: project::selection(&[], from, to, &ws.project)?,
        cascade: t.cascade,
        dry_run: t.dry_run,
        reason: t.reason,
    };
    let r = weir_ops::invalidate::invalidate(&ws, &args, project::now()?).await?;
    print_invalidate(&r, p);
    Ok(())
}

/// Prints an invalidation (made here or by a server).
pub fn print_invalidate(r: &weir_ops::invalidate::InvalidateReport, p: Printer) {
    crate::cmd::envs::notes(&r.exports, p);
    let render = |verb: &str| {
        let mut rows = vec![vec![
            "DATASET".to_string(),
            "VERSION".into(),
            "INSTANCES".into(),
            "PARTITIONS".into(),
        ]];
        for x in &r.removed {
            let parts = if x.partitions.len() <= 3 {
                x.partitions.join(", ")
            } else {
                format!("{} … {}", x.partitions[0], x.partitions[x.partitions.len() - 1])
            };
            rows.push(vec![
                x.dataset.clone(),
                format!("v{}", x.version),
                x.partitions.len().to_string(),
                parts,
            ]);
        }
        format!("{verb} {} instance(s):\n{}", r.instances, table(&rows))
    };
    p.data(r, || match &r.trash_id {
        None => format!("{}nothing was changed (--dry-run)", render("would invalidate")),
        Some(id) => format!(
            "{}moved to the trash as {id} (`weir gc` deletes it); `weir run` rebuilds them",
            render("invalidated")
        ),
    });
}

pub async fn gc(dir: Option<&Path>, older_than: &str, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let span =
        Span::parse(older_than).map_err(|e| UserError::new(format!("--older-than: {e}"), "e.g. --older-than 7d"))?;
    let ws = project::open(&dir).await?;
    let now = project::now()?;
    let r = weir_ops::retention::gc(&ws, span.sub_from(now), now).await?;
    p.data(&r, || {
        let n = r.deleted.len();
        let mut s = String::new();
        if r.runs_pruned > 0 {
            s.push_str(&format!("pruned {} run(s) past [retention] runs\n", r.runs_pruned));
        }
        for v in &r.versions {
            s.push_str(&format!(
                "moved {} v{} ({} instance(s)) to the trash: [retention] versions\n",
                v.dataset, v.version, v.instances
            ));
        }
        s.push_str(&format!(
            "deleted {n} trash entr{} older than {older_than}\n",
            if n == 1 { "y" } else { "ies" }
        ));
        s
    });
    Ok(())
}

/// Exit status 1 if an invariant is broken (after `--repair`, if asked);
/// pending items and notices are reported only.
pub async fn doctor(dir: Option<&Path>, deep: bool, repair: bool, p: Printer) -> Result<u8> {
    use weir_sched::doctor::{self, Severity};
    let dir = project::find(dir)?;
    let ws = project::open(&dir).await?;
    let mut findings = doctor::doctor(&ws, deep).await?;
    let repairs = if repair {
        let done = doctor::repair(&ws, &findings).await?;
        findings = doctor::doctor(&ws, deep).await?;
        done
    } else {
        Vec::new()
    };
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let errors = count(Severity::Error);
    p.data(
        &serde_json::json!({ "errors": errors, "findings": findings, "repairs": repairs }),
        || {
            let mut s = String::new();
            for r in &repairs {
                s.push_str(&format!("repaired {}: {}\n", r.path, r.action));
            }
            if findings.is_empty() {
                s.push_str("ok: the catalog and the lakes agree");
                return s;
            }
            let mut rows = vec![vec![
                "SEVERITY".to_string(),
                "WHAT".into(),
                "WHERE".into(),
                "DETAIL".into(),
            ]];
            rows.extend(findings.iter().map(|f| {
                vec![
                    f.severity.to_string(),
                    f.kind.to_string(),
                    f.path.clone(),
                    f.detail.clone(),
                ]
            }));
            s.push_str(&format!(
                "{}{errors} error(s), {} pending (reconciled by the next `weir run`), {} notice(s){}",
                table(&rows),
                count(Severity::Pending),
                count(Severity::Notice),
                if repair || count(Severity::Notice) == 0 {
                    ""
                } else {
                    "; `weir doctor --repair` fixes what is safe to fix"
                }
            ));
            s
        },
    );
    Ok(if errors > 0 { 1 } else { 0 })
}

/// `weir catalog migrate --from URL --to URL`.
pub async fn migrate_catalog(dir: Option<&Path>, from: &str, to: &str, p: Printer) -> Result<()> {
    // Relative SQLite paths are the project's, or the current directory's.
    let base = match project::find(dir) {
        Ok(d) => d,
        Err(_) => std::env::current_dir()?,
    };
    let open = |url: String, flag: &'static str| async move {
        let shown = weir_exec::secret::redact(&url);
        weir_catalog::SqlCatalog::open(&url)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.to_string().replace(&url, &shown)).context(format!("{flag} {shown}")))
    };
    let source = open(
        project::resolve_catalog_url(&base, from, "--from")?,
        "cannot open --from",
    )
    .await?;
    let target = open(project::resolve_catalog_url(&base, to, "--to")?, "cannot open --to").await?;
    let r = source.copy_into(&target).await?;
    p.data(&r, || {
        let mut t = vec![vec![
            "table".to_string(),
            "rows".into(),
            "added".into(),
            "in the target".into(),
        ]];
        for c in &r.tables {
            t.push(vec![
                c.table.clone(),
                c.source.to_string(),
                c.added.to_string(),
                c.target.to_string(),
            ]);
        }
        let added: u64 = r.tables.iter().map(|c| c.added).sum();
        format!(
            "{}copied {added} rows; every table has as many rows in the target as here (claims are not copied)",
            crate::output::table(&t)
        )
    });
    Ok(())
}

pub async fn rebuild(dir: Option<&Path>, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let ws = project::open(&dir).await?;
    let r = weir_sched::rebuild::rebuild(&ws, project::now()?.timestamp_millis()).await?;
    p.data(&r, || {
        let mut s = format!(
            "read {} manifests: imported {} instances and {} versions ({} were already in the catalog)",
            r.manifests, r.instances_imported, r.versions_imported, r.already_known
        );
        if !r.trashed.is_empty() {
            s.push_str(&format!(
                "\ninvalidated, not brought back (the next `weir run` moves them to the trash): {}",
                r.trashed.join(", ")
            ));
        }
        if !r.unreadable.is_empty() {
            s.push_str(&format!(
                "\nunreadable manifests (left alone): {}",
                r.unreadable.join(", ")
            ));
        }
        s
    });
    Ok(())
}

/// Lists the trash, or restores one invalidation (what was not rebuilt since).
pub async fn restore(dir: Option<&Path>, trash_id: Option<&str>, p: Printer) -> Result<()> {
    let dir = project::find(dir)?;
    let ws = project::open(&dir).await?;
    let Some(id) = trash_id else {
        let entries = weir_ops::invalidate::trash(&ws).await?;
        print_trash(&entries, p);
        return Ok(());
    };
    let r = weir_ops::invalidate::restore(&ws, id, project::now()?).await?;
    print_restore(&r, p);
    Ok(())
}

/// Prints the trash (read here or from a server).
pub fn print_trash(entries: &[weir_ops::invalidate::TrashEntry], p: Printer) {
    p.data(&entries, || {
        if entries.is_empty() {
            return "the trash is empty".to_string();
        }
        let mut t = vec![vec!["TRASH".to_string(), "INSTANCES".into(), "WHY".into()]];
        t.extend(entries.iter().map(|e| {
            vec![
                e.trash_id.clone(),
                e.instances.to_string(),
                e.reason.clone().unwrap_or_default(),
            ]
        }));
        format!("{}restore one with `weir restore TRASH`", table(&t))
    });
}

/// Prints a restore (made here or by a server).
pub fn print_restore(r: &weir_ops::invalidate::RestoreReport, p: Printer) {
    crate::cmd::envs::notes(&r.exports, p);
    p.data(r, || {
        let mut s = format!("restored {} instance(s)\n", r.restored.len());
        for k in &r.skipped {
            s.push_str(&format!("  skipped {k}\n"));
        }
        s
    });
}
