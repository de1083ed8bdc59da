//! Static checks of a SQL job: it parses, it is one query, and every table it
//! reads is one of the job's inputs (or a CTE it defines).
//!
//! Also owns the `{{ partition_start }}`-style placeholders that SQL jobs may
//! use, so validation and execution substitute them the same way.

use crate::diag::{Diagnostic, Source};
use sqlparser::ast::{ObjectName, Query, Statement, Visit, Visitor};
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
        Ok(stmts) => stmts.iter().map(ToString::to_string).collect::<Vec<_>>().join(";\n"),
        Err(_) => sql.to_string(),
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
}
