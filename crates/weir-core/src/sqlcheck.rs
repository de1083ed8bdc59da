//! Static checks of a SQL job: it parses, it is one query, and every table it
//! reads is one of the job's inputs (or a CTE it defines).
//!
//! Also owns the `{{ partition_start }}`-style placeholders that SQL jobs may
//! use, so validation and execution substitute them the same way.

use crate::diag::{Diagnostic, Source};
use sqlparser::ast::{Expr, ObjectName, Query, Statement, Visit, Visitor};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use std::collections::BTreeSet;
use std::ops::ControlFlow;

/// Values substituted for placeholders in SQL text.
#[derive(Clone, Debug)]
pub struct SqlParams {
    /// RFC 3339 start of the partition (inclusive).
    pub partition_start: String,
    /// RFC 3339 end of the partition (exclusive).
    pub partition_end: String,
    /// The partition key, e.g. `date=2026-03-14`.
    pub partition: String,
}

/// Replaces `{{ partition_start }}`, `{{ partition_end }}` (as `TIMESTAMP '…'`
/// literals) and `{{ partition }}` (a string literal).
pub fn substitute(sql: &str, p: &SqlParams) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        match after[..close].trim() {
            "partition_start" => out.push_str(&format!("TIMESTAMP '{}'", p.partition_start)),
            "partition_end" => out.push_str(&format!("TIMESTAMP '{}'", p.partition_end)),
            "partition" => out.push_str(&format!("'{}'", p.partition)),
            _ => out.push_str(&rest[open..open + 2 + close + 2]),
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

fn dummy_params() -> SqlParams {
    SqlParams {
        partition_start: "2026-01-01T00:00:00Z".into(),
        partition_end: "2026-01-02T00:00:00Z".into(),
        partition: "date=2026-01-01".into(),
    }
}

/// The canonical form of a query (whitespace and comments removed), used in
/// fingerprints so that reformatting does not create a new version.
pub fn canonical(sql: &str) -> String {
    let text = substitute(sql, &dummy_params());
    match Parser::parse_sql(&GenericDialect {}, &text) {
        Ok(stmts) if too_deep(&stmts).is_none() => {
            stmts.iter().map(ToString::to_string).collect::<Vec<_>>().join(";\n")
        }
        _ => sql.to_string(),
    }
}

/// Checks `sql` against the input table names. `src` names where the SQL lives;
/// `base` is the (line, column) of the SQL inside `src` when it is inline.
pub fn check(
    sql: &str,
    tables: &BTreeSet<String>,
    src: &Source,
    base: Option<(usize, usize)>,
) -> Result<(), Diagnostic> {
    let text = substitute(sql, &dummy_params());
    let locate = |line: usize, col: usize| match base {
        // Inline SQL: the string starts after its opening quote(s).
        Some((bl, bc)) if line <= 1 => (bl, bc + col),
        Some((bl, _)) => (bl + line - 1, col),
        None => (line, col),
    };
    let stmts = match Parser::parse_sql(&GenericDialect {}, &text) {
        Ok(s) => s,
        Err(e) => {
            let msg = e.to_string();
            let (line, col) = error_position(&msg).unwrap_or((1, 1));
            let (l, c) = locate(line, col);
            let clean = msg
                .split(" at Line:")
                .next()
                .unwrap_or(&msg)
                .trim_start_matches("sql parser error: ");
            return Err(src
                .at_line_col(l, c, format!("SQL does not parse: {clean}"))
                .with_hint("weir runs DataFusion SQL; check the syntax near this point"));
        }
    };
    if let Some(why) = too_deep(&stmts) {
        let (l, c) = locate(1, 1);
        return Err(src
            .at_line_col(l, c, why)
            .with_hint("DataFusion plans deep expressions slowly and recursively"));
    }
    let [stmt] = stmts.as_slice() else {
        let (l, c) = locate(1, 1);
        return Err(src
            .at_line_col(
                l,
                c,
                format!("a SQL job must be exactly one query, found {} statements", stmts.len()),
            )
            .with_hint("remove the extra statements; a job is one SELECT"));
    };
    if !matches!(stmt, Statement::Query(_)) {
        let (l, c) = locate(1, 1);
        return Err(src
            .at_line_col(l, c, "a SQL job must be a query (SELECT or WITH … SELECT)")
            .with_hint("weir writes the result itself; do not use INSERT, CREATE or COPY"));
    }
    let mut v = TableRefs::default();
    let _ = stmt.visit(&mut v);
    for (name, line, col) in v.refs {
        if !tables.contains(&name) && !v.ctes.contains(&name) {
            let (l, c) = locate(line, col);
            let candidates = tables.iter().chain(v.ctes.iter()).map(String::as_str);
            if let Some(close) = crate::diag::did_you_mean(&name, candidates) {
                return Err(src
                    .at_line_col(l, c, format!("SQL reads unknown table `{name}`"))
                    .with_hint(format!("did you mean `{close}`?")));
            }
            let known = if tables.is_empty() {
                "this job has no inputs".to_string()
            } else {
                format!(
                    "its inputs are: {}",
                    tables.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            };
            return Err(src
                .at_line_col(l, c, format!("SQL reads unknown table `{name}`"))
                .with_hint(format!("{known}; add `{name}` to the dataset's `inputs`")));
        }
    }
    Ok(())
}

fn error_position(msg: &str) -> Option<(usize, usize)> {
    let at = msg.rfind("Line: ")?;
    let rest = &msg[at + 6..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let col: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((line.trim().parse().ok()?, col.parse().ok()?))
}

/// How deep expressions may nest in a query. DataFusion's planning time
/// grows steeply with depth (about 2.5 s at 1,000 in a debug build), and deep
/// plans recurse; past this a query is refused with a clear error.
pub const MAX_EXPR_DEPTH: usize = 1_000;

/// The deepest nesting of expressions in `stmt` (`1 + 1 + 1` is 3 deep).
pub fn expr_depth(stmt: &Statement) -> usize {
    #[derive(Default)]
    struct Depth {
        now: usize,
        max: usize,
    }
    impl Visitor for Depth {
        type Break = ();
        fn pre_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
            self.now += 1;
            self.max = self.max.max(self.now);
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
            self.now -= 1;
            ControlFlow::Continue(())
        }
    }
    let mut d = Depth::default();
    let _ = stmt.visit(&mut d);
    d.max
}

/// A query nested deeper than [`MAX_EXPR_DEPTH`] (the user's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TooDeep(pub String);

/// The error for a query nested deeper than [`MAX_EXPR_DEPTH`], if it is.
pub fn too_deep(stmts: &[Statement]) -> Option<String> {
    let depth = stmts.iter().map(expr_depth).max().unwrap_or(0);
    (depth > MAX_EXPR_DEPTH).then(|| {
        format!(
            "the query nests expressions {depth} deep; weir plans at most {MAX_EXPR_DEPTH} (write a long chain of terms as a table, an IN list or an aggregate)"
        )
    })
}

/// Parses `sql` with the grammar DataFusion uses and refuses one nested
/// deeper than [`MAX_EXPR_DEPTH`]; the parse error is left to DataFusion.
pub fn depth_guard(sql: &str) -> Result<(), TooDeep> {
    match Parser::parse_sql(&GenericDialect {}, sql) {
        Ok(stmts) => too_deep(&stmts).map_or(Ok(()), |why| Err(TooDeep(why))),
        Err(_) => Ok(()),
    }
}

#[derive(Default)]
struct TableRefs {
    refs: Vec<(String, usize, usize)>,
    ctes: BTreeSet<String>,
}

impl Visitor for TableRefs {
    type Break = ();

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                self.ctes.insert(cte.alias.name.value.to_lowercase());
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, rel: &ObjectName) -> ControlFlow<()> {
        if let Some(last) = rel.0.last().and_then(|p| p.as_ident()) {
            let name = if last.quote_style.is_some() {
                last.value.clone()
            } else {
                last.value.to_lowercase()
            };
            let start = last.span.start;
            self.refs.push((name, start.line as usize, start.column as usize));
        }
        ControlFlow::Continue(())
    }
}

/// Declared counters of the form `SELECT <aggregates> FROM t [WHERE c]` that
/// read the same table are merged into one scan: each aggregate gets
/// `FILTER (WHERE c)`, so `count(*) … WHERE a` and `count(*) … WHERE b`
/// become `SELECT count(*) FILTER (WHERE a), count(*) FILTER (WHERE b) FROM t`.
/// Returns `(sql, names)` groups in which column `i` answers `names[i]`;
/// counters of any other shape stay alone, their SQL unchanged.
pub fn merge_counters(counters: &[(String, String)]) -> Vec<(String, Vec<String>)> {
    use std::collections::BTreeMap;
    let mut by_table: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut alone = Vec::new();
    for (name, sql) in counters {
        match simple_aggregate(sql) {
            Some((table, expr)) => by_table.entry(table).or_default().push((name.clone(), expr)),
            None => alone.push((sql.clone(), vec![name.clone()])),
        }
    }
    let mut out: Vec<(String, Vec<String>)> = by_table
        .into_iter()
        .map(|(table, items)| {
            let cols: Vec<String> = items
                .iter()
                .enumerate()
                .map(|(i, (_, e))| format!("{e} AS c{i}"))
                .collect();
            let names = items.into_iter().map(|(n, _)| n).collect();
            (format!("SELECT {} FROM {table}", cols.join(", ")), names)
        })
        .collect();
    out.extend(alone);
    out
}

/// The parts of `SELECT <items> FROM <table> [WHERE <cond>]`.
pub struct PlainSelect {
    pub table: ObjectName,
    /// Each item's expression (its alias, if any, dropped).
    pub items: Vec<sqlparser::ast::Expr>,
    pub condition: Option<sqlparser::ast::Expr>,
}

/// `sql`'s parts if it is exactly `SELECT <expressions> FROM <table> [WHERE
/// <cond>]`: one statement, one table without an alias or joins, and nothing
/// else (no grouping, ordering, limit, `DISTINCT`, CTE or wildcard).
pub fn plain_select(sql: &str) -> Option<PlainSelect> {
    use sqlparser::ast::{SelectItem, SetExpr, TableFactor};
    let mut stmts = Parser::parse_sql(&GenericDialect {}, sql).ok()?;
    if stmts.len() != 1 {
        return None;
    }
    let Statement::Query(q) = stmts.pop()? else {
        return None;
    };
    let rendered = q.to_string();
    let SetExpr::Select(select) = *q.body else {
        return None;
    };
    let [from] = select.from.as_slice() else {
        return None;
    };
    let TableFactor::Table { name, alias: None, .. } = &from.relation else {
        return None;
    };
    if !from.joins.is_empty() {
        return None;
    }
    // Nothing else in the query: rebuilt from these parts, it renders the same.
    let items: Vec<String> = select.projection.iter().map(|i| i.to_string()).collect();
    let mut plain = format!("SELECT {} FROM {}", items.join(", "), from.relation);
    if let Some(w) = &select.selection {
        plain.push_str(&format!(" WHERE {w}"));
    }
    if plain != rendered {
        return None;
    }
    let table = name.clone();
    let items = select
        .projection
        .into_iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some(e),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some(PlainSelect {
        table,
        items,
        condition: select.selection,
    })
}

/// `SELECT <expr over aggregates> FROM <table> [WHERE <cond>]` and nothing
/// else: the table, and the expression with the condition moved into each
/// aggregate's `FILTER`.
fn simple_aggregate(sql: &str) -> Option<(String, String)> {
    let PlainSelect {
        table,
        items,
        condition,
    } = plain_select(sql)?;
    let [mut expr] = <[sqlparser::ast::Expr; 1]>::try_from(items).ok()?;
    if !filter_aggregates(&mut expr, condition.as_ref(), false) {
        return None;
    }
    Some((table.to_string(), expr.to_string()))
}

/// Adds `FILTER (WHERE cond)` to every aggregate in `e`; false if `e` has
/// anything but aggregates, literals and arithmetic over them.
fn filter_aggregates(e: &mut sqlparser::ast::Expr, cond: Option<&sqlparser::ast::Expr>, inside: bool) -> bool {
    use sqlparser::ast::Expr;
    match e {
        Expr::Value(_) => true,
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => inside,
        Expr::Nested(x) | Expr::UnaryOp { expr: x, .. } => filter_aggregates(x, cond, inside),
        Expr::BinaryOp { left, right, .. } => {
            filter_aggregates(left, cond, inside) && filter_aggregates(right, cond, inside)
        }
        Expr::Function(f) => {
            let name = f.name.to_string().to_ascii_lowercase();
            let aggregate = matches!(name.as_str(), "count" | "sum" | "min" | "max" | "avg");
            if inside || !aggregate || f.filter.is_some() || f.over.is_some() || !f.within_group.is_empty() {
                return false;
            }
            if let Some(c) = cond {
                f.filter = Some(Box::new(c.clone()));
            }
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn accepts_inputs_and_ctes() {
        let src = Source::new("q.sql", "");
        let sql = "WITH d AS (SELECT * FROM raw WHERE ts >= {{ partition_start }}) SELECT count(*) FROM d";
        assert_eq!(check(sql, &tables(&["raw"]), &src, None), Ok(()));
    }

    #[test]
    fn unknown_table_is_located() {
        let sql = "SELECT *\nFROM   plyas";
        let src = Source::new("sql/x.sql", sql);
        let d = check(sql, &tables(&["plays"]), &src, None).expect_err("unknown table");
        assert_eq!((d.line, d.col), (2, 8));
        assert!(d.message.contains("plyas"), "{}", d.message);
    }

    #[test]
    fn parse_error_is_located() {
        let sql = "SELECT a\nFROM t WHERE )";
        let src = Source::new("sql/x.sql", sql);
        let d = check(sql, &tables(&["t"]), &src, None).expect_err("bad sql");
        assert_eq!(d.line, 2);
        assert!(d.message.starts_with("SQL does not parse"), "{}", d.message);
    }

    #[test]
    fn rejects_non_queries() {
        let src = Source::new("q.sql", "");
        assert!(check("DROP TABLE t", &tables(&["t"]), &src, None).is_err());
        assert!(check("SELECT 1; SELECT 2", &tables(&[]), &src, None).is_err());
    }

    #[test]
    fn canonical_ignores_whitespace_and_comments() {
        assert_eq!(canonical("SELECT  a\nFROM t -- note"), canonical("select a from t"));
        assert_ne!(canonical("SELECT a FROM t"), canonical("SELECT b FROM t"));
    }

    #[test]
    fn same_table_counters_merge_into_one_scan() {
        let c = |n: &str, q: &str| (n.to_string(), q.to_string());
        let merged = merge_counters(&[
            c("a", "SELECT count(*) FROM raw WHERE user_id IS NULL"),
            c(
                "b",
                "select count(*) - count(DISTINCT event_id) from raw where ts >= TIMESTAMP '2026-01-01T00:00:00Z'",
            ),
            c("c", "SELECT sum(ms) FROM other"),
            c("d", "SELECT count(*) FROM raw GROUP BY x"),
            c("e", "SELECT count(*) FROM raw r JOIN other o ON r.id = o.id"),
            c("f", "SELECT coalesce(count(*), 0) FROM raw"),
            c("g", "SELECT count(*) FROM raw LIMIT 1"),
        ]);
        assert_eq!(
            merged[1],
            (
                "SELECT count(*) FILTER (WHERE user_id IS NULL) AS c0, count(*) FILTER (WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z') - count(DISTINCT event_id) FILTER (WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z') AS c1 FROM raw".to_string(),
                vec!["a".to_string(), "b".to_string()]
            )
        );
        assert_eq!(
            merged[0],
            ("SELECT sum(ms) AS c0 FROM other".to_string(), vec!["c".to_string()])
        );
        let alone: Vec<&str> = merged[2..].iter().map(|(_, n)| n[0].as_str()).collect();
        assert_eq!(alone, vec!["d", "e", "f", "g"]);
    }
}
