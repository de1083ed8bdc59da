//! Checks: rules that decide whether an instance may be consumed.
//!
//! A check is either an **expression** over the instance's counters, metrics
//! and profile and over the same values in earlier partitions
//! (`rows_out >= 0.7 * median(rows_out, 7)`), or a **data check** that runs as
//! SQL over the instance's output (`unique(track_id)`, `not_null(user_id)`, or
//! any `SELECT` returning a boolean).
//!
//! Expressions are parsed here ([`parse`]) and evaluated here ([`evaluate`]);
//! data checks are compiled to SQL here ([`DataCheck::sql`]) and run by the
//! executor, whose answer is judged here ([`DataCheck::judge`]). Everything is
//! pure: the caller supplies the facts.
//!
//! **Unknown is not failure.** A value that cannot be known (no history yet,
//! a division by zero, a profile that was not taken) makes the check
//! *skipped*, which never blocks; `and`/`or` still decide when one side does.
//! A counter that was never recorded is an *error*, which blocks like a failure:
//! a check that cannot see what it measures must not wave data through.

mod eval;
mod parse;
#[cfg(test)]
mod tests;

pub use eval::{Facts, evaluate, value};
pub use parse::{ParseError, parse, parse_number};

use serde::{Deserialize, Serialize};

/// How much a failing check matters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The instance is blocked: not consumed downstream, not served.
    #[default]
    Block,
    /// Only reported (and alerted).
    Warn,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "block" | "error" => Some(Self::Block),
            "warn" | "warning" => Some(Self::Warn),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Warn => "warn",
        }
    }
}

/// One declared check of a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// A stable name: the one given, or the text itself.
    pub name: String,
    pub severity: Severity,
    pub rule: Rule,
}

/// What a check tests.
#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    Expr(Expr),
    Data(DataCheck),
}

/// A check over the output rows, run as SQL by the executor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataCheck {
    /// No two rows share these columns' values.
    Unique(Vec<String>),
    /// None of these columns is ever null.
    NotNull(Vec<String>),
    /// A `SELECT` over `output` (and the inputs) whose first value is true when all is well.
    Query(String),
}

fn quote(col: &str) -> String {
    format!("\"{}\"", col.replace('"', "\"\""))
}

impl DataCheck {
    /// The query to run, over table `output`; its first row's first value is judged.
    pub fn sql(&self) -> String {
        match self {
            DataCheck::Unique(cols) => {
                let cols: Vec<String> = cols.iter().map(|c| quote(c)).collect();
                format!(
                    "SELECT count(*) FROM (SELECT 1 FROM output GROUP BY {} HAVING count(*) > 1)",
                    cols.join(", ")
                )
            }
            DataCheck::NotNull(cols) => {
                let cond: Vec<String> = cols.iter().map(|c| format!("{} IS NULL", quote(c))).collect();
                format!("SELECT count(*) FROM output WHERE {}", cond.join(" OR "))
            }
            DataCheck::Query(q) => q.clone(),
        }
    }

    /// Judges the first value the query returned (as text; `None` for no row or null).
    pub fn judge(&self, value: Option<&str>) -> (Status, String) {
        match self {
            DataCheck::Unique(_) | DataCheck::NotNull(_) => {
                let n = value.and_then(|v| v.trim().parse::<i64>().ok()).unwrap_or(0);
                let what = if matches!(self, DataCheck::Unique(_)) {
                    "duplicated keys"
                } else {
                    "rows with nulls"
                };
                if n == 0 {
                    (Status::Pass, format!("0 {what}"))
                } else {
                    (Status::Fail, format!("{n} {what}"))
                }
            }
            DataCheck::Query(_) => match value.map(str::trim) {
                Some("true") | Some("1") => (Status::Pass, "the query returned true".into()),
                Some("false") | Some("0") => (Status::Fail, "the query returned false".into()),
                None => (Status::Fail, "the query returned no value (null or no row)".into()),
                Some(other) => (
                    Status::Error,
                    format!("the query must return a boolean, but returned `{other}`"),
                ),
            },
        }
    }
}

/// An expression over counters, metrics, profile and history.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Num(f64),
    Bool(bool),
    /// A counter or metric (`rows_out`, `rows_in.raw`, `dropped` = all `dropped.*`).
    Name(String),
    /// A string argument (a glob, a column name).
    Str(String),
    Call(Func, Vec<Expr>),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
}

/// Built-in functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    /// `counter("dropped.*")`: the sum of the counters matching a glob (0 if none).
    Counter,
    Abs,
    /// `median(x, n)` and friends: over the `n` partitions before this one.
    Median,
    Mean,
    Min,
    Max,
    Stddev,
    /// `lag(x, n)`: `x` in the partition `n` before this one.
    Lag,
    /// `pct_change(x, n)`: `(x - lag(x, n)) / lag(x, n)`.
    PctChange,
    /// Profile: the fraction of null values in a column.
    NullFraction,
    /// Profile: the approximate number of distinct values in a column.
    Distinct,
}

impl Func {
    pub const ALL: &[(&'static str, Func)] = &[
        ("counter", Func::Counter),
        ("abs", Func::Abs),
        ("median", Func::Median),
        ("mean", Func::Mean),
        ("min", Func::Min),
        ("max", Func::Max),
        ("stddev", Func::Stddev),
        ("lag", Func::Lag),
        ("pct_change", Func::PctChange),
        ("null_fraction", Func::NullFraction),
        ("distinct", Func::Distinct),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, f)| *f == self).map_or("?", |(n, _)| n)
    }

    /// Functions over earlier partitions: `(value, n)`.
    pub fn is_history(self) -> bool {
        matches!(
            self,
            Func::Median | Func::Mean | Func::Min | Func::Max | Func::Stddev | Func::Lag | Func::PctChange
        )
    }
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "/",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::And => "and",
            Op::Or => "or",
        }
    }
}

impl Expr {
    /// How many earlier partitions this expression reads (0 if none).
    pub fn lookback(&self) -> u32 {
        match self {
            Expr::Call(f, args) => {
                let own = if f.is_history() {
                    match args.get(1) {
                        Some(Expr::Num(n)) => *n as u32,
                        _ => 0,
                    }
                } else {
                    0
                };
                args.iter().map(Expr::lookback).fold(own, u32::max)
            }
            Expr::Neg(e) | Expr::Not(e) => e.lookback(),
            Expr::Bin(_, a, b) => a.lookback().max(b.lookback()),
            _ => 0,
        }
    }

    /// Whether it reads the profile (`null_fraction`, `distinct`).
    pub fn reads_profile(&self) -> bool {
        match self {
            Expr::Call(Func::NullFraction | Func::Distinct, _) => true,
            Expr::Call(_, args) => args.iter().any(Expr::reads_profile),
            Expr::Neg(e) | Expr::Not(e) => e.reads_profile(),
            Expr::Bin(_, a, b) => a.reads_profile() || b.reads_profile(),
            _ => false,
        }
    }

    /// Every counter or metric name the expression reads (not globs or columns).
    pub fn names(&self, out: &mut Vec<String>) {
        match self {
            Expr::Name(n) => out.push(n.clone()),
            Expr::Call(f, args) if !matches!(f, Func::Counter | Func::NullFraction | Func::Distinct) => {
                args.iter().for_each(|a| a.names(out))
            }
            Expr::Neg(e) | Expr::Not(e) => e.names(out),
            Expr::Bin(_, a, b) => {
                a.names(out);
                b.names(out);
            }
            _ => {}
        }
    }
}

impl Check {
    /// How many earlier partitions the check reads.
    pub fn lookback(&self) -> u32 {
        match &self.rule {
            Rule::Expr(e) => e.lookback(),
            Rule::Data(_) => 0,
        }
    }
}

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = CheckStatus))]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// Not decidable (no history yet, division by zero): never blocks.
    Skipped,
    /// The check could not be evaluated (a counter was never recorded, a data
    /// check's query failed): blocks like a failure.
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Skipped => "skipped",
            Status::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "pass" => Status::Pass,
            "fail" => Status::Fail,
            "skipped" => Status::Skipped,
            _ => Status::Error,
        }
    }
}

/// One check's result for one instance, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckResult {
    pub name: String,
    pub severity: Severity,
    pub status: Status,
    /// The values behind the verdict (`rows_out = 0; 0 > 0 is false`).
    pub detail: String,
}

impl CheckResult {
    /// Whether this result blocks the instance.
    pub fn blocks(&self) -> bool {
        self.severity == Severity::Block && matches!(self.status, Status::Fail | Status::Error)
    }
}

/// Whether any result blocks the instance.
pub fn blocks(results: &[CheckResult]) -> bool {
    results.iter().any(CheckResult::blocks)
}

/// Recognises the data-check forms: `unique(a, b)`, `not_null(a)`, or a `SELECT`.
pub fn parse_data(text: &str) -> Option<DataCheck> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    if lower.starts_with("select ") || lower.starts_with("with ") || lower.starts_with("select\n") {
        return Some(DataCheck::Query(t.to_string()));
    }
    for (prefix, unique) in [("unique(", true), ("not_null(", false)] {
        if lower.starts_with(prefix) && t.ends_with(')') {
            let inner = &t[prefix.len()..t.len() - 1];
            let cols: Vec<String> = inner
                .split(',')
                .map(|c| c.trim().trim_matches('"').to_string())
                .collect();
            if cols.iter().any(String::is_empty) {
                return None;
            }
            return Some(if unique {
                DataCheck::Unique(cols)
            } else {
                DataCheck::NotNull(cols)
            });
        }
    }
    None
}
