//! Declared counters that DataFusion need not plan. Nearly every counter is a
//! `count` with a condition, and planning such a query (SQL to a logical
//! plan, the optimizer, the physical plan) costs more than running it over a
//! day of data. So a query of the form
//!
//! ```sql
//! SELECT <e>, … FROM t [WHERE c]
//! ```
//!
//! where each `<e>` is integer arithmetic (`+ - *`) over integer literals and
//! `count(*)`, `count(x)` or `count(DISTINCT x)`, each with an optional
//! `FILTER (WHERE …)`, is compiled straight to DataFusion physical
//! expressions (coerced and simplified as SQL would be) and counted in one
//! scan of the columns it names. `count(DISTINCT x)` keeps strings and
//! binaries in an exact set of its own ([`DistinctBytes`]) and other types in
//! DataFusion's accumulator. A query of any other form, or one that fails
//! here, runs as SQL, so what a counter means and its error messages are
//! DataFusion's either way.

use crate::EngineError;
use crate::distinct::DistinctBytes;
use crate::profile::{PRESIZE_ROWS, one_column_accumulator};
use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow::compute::{and, filter, is_not_null, prep_null_mask_filter};
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::{DFSchema, ScalarValue, TableReference};
use datafusion::execution::SessionState;
use datafusion::functions_aggregate::count::Count;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{Accumulator, Expr as LogicalExpr};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{StatisticsArgs, StatisticsContext};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    self, BinaryOperator, DuplicateTreatment, ExprWithAlias, FunctionArg, FunctionArgExpr, FunctionArguments,
    UnaryOperator,
};
use futures::StreamExt;
use std::collections::BTreeSet;
use std::sync::Arc;
use weir_core::sqlcheck::plain_select;

/// A column of the query: integer arithmetic over counts.
#[derive(Debug, PartialEq)]
enum Term {
    Lit(i64),
    /// The count at this index of [`Counting::counts`].
    Count(usize),
    Neg(Box<Term>),
    Add(Box<Term>, Box<Term>),
    Sub(Box<Term>, Box<Term>),
    Mul(Box<Term>, Box<Term>),
}

impl Term {
    fn value(&self, counts: &[i64]) -> Option<i64> {
        match self {
            Term::Lit(v) => Some(*v),
            Term::Count(i) => counts.get(*i).copied(),
            Term::Neg(a) => a.value(counts)?.checked_neg(),
            Term::Add(a, b) => a.value(counts)?.checked_add(b.value(counts)?),
            Term::Sub(a, b) => a.value(counts)?.checked_sub(b.value(counts)?),
            Term::Mul(a, b) => a.value(counts)?.checked_mul(b.value(counts)?),
        }
    }
}

/// One `count(…)` as written: its argument (`None` for `*`), `DISTINCT`, and `FILTER` condition.
struct CountSpec {
    arg: Option<LogicalExpr>,
    distinct: bool,
    filter: Option<LogicalExpr>,
}

/// The index of `e` in `list`, appended if new.
fn index_of<T: PartialEq>(list: &mut Vec<T>, e: T) -> usize {
    match list.iter().position(|x| *x == e) {
        Some(i) => i,
        None => {
            list.push(e);
            list.len() - 1
        }
    }
}

/// One `count(…)`, compiled.
struct CountExec {
    arg: Option<Arc<dyn PhysicalExpr>>,
    /// Index into [`Counting::filters`].
    filter: Option<usize>,
    /// For `count(DISTINCT x)`: the distinct values of the rows that qualify.
    distinct: Option<Distinct>,
    n: i64,
}

/// The distinct values seen so far.
enum Distinct {
    Bytes(DistinctBytes),
    /// DataFusion's accumulator, for every other type.
    Other(Box<dyn Accumulator>),
}

/// A counter query compiled for one scan of its table.
pub(crate) struct Counting {
    table: String,
    /// The table's columns that the query reads.
    projection: Vec<usize>,
    schema: SchemaRef,
    condition: Option<Arc<dyn PhysicalExpr>>,
    /// The counts' `FILTER` conditions, each distinct one once.
    filters: Vec<Arc<dyn PhysicalExpr>>,
    counts: Vec<CountExec>,
    columns: Vec<Term>,
}

/// The table, columns and condition of `SELECT <items> FROM <table> [WHERE
/// <cond>]`, if the query is exactly that (see [`plain_select`]).
fn parts(sql: &str) -> Option<(String, Vec<ast::Expr>, Option<ast::Expr>)> {
    let q = plain_select(sql)?;
    let [part] = q.table.0.as_slice() else {
        return None;
    };
    // Named as SQL resolves it: unquoted names in lower case.
    let ident = part.as_ident()?;
    let table = match ident.quote_style {
        None => ident.value.to_lowercase(),
        Some(_) => ident.value.clone(),
    };
    Some((table, q.items, q.condition))
}

/// An expression of the query as DataFusion's logical expression over `schema`.
fn logical(state: &SessionState, e: &ast::Expr, schema: &DFSchema) -> Option<LogicalExpr> {
    let e = ExprWithAlias {
        expr: e.clone(),
        alias: None,
    };
    state.create_logical_expr_from_sql_expr(e, schema).ok()
}

/// A column of the query as a [`Term`], its counts appended to `counts`.
fn term(state: &SessionState, e: &ast::Expr, schema: &DFSchema, counts: &mut Vec<CountSpec>) -> Option<Term> {
    Some(match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Number(n, false) => Term::Lit(n.parse().ok()?),
            _ => return None,
        },
        ast::Expr::Nested(x) => term(state, x, schema, counts)?,
        ast::Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => Term::Neg(Box::new(term(state, expr, schema, counts)?)),
        ast::Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => term(state, expr, schema, counts)?,
        ast::Expr::BinaryOp { left, op, right } => {
            let (a, b) = (
                Box::new(term(state, left, schema, counts)?),
                Box::new(term(state, right, schema, counts)?),
            );
            match op {
                BinaryOperator::Plus => Term::Add(a, b),
                BinaryOperator::Minus => Term::Sub(a, b),
                BinaryOperator::Multiply => Term::Mul(a, b),
                _ => return None,
            }
        }
        ast::Expr::Function(f) => {
            let plain = f.over.is_none()
                && f.within_group.is_empty()
                && f.null_treatment.is_none()
                && !f.uses_odbc_syntax
                && matches!(f.parameters, FunctionArguments::None);
            let is_count = f.name.0.len() == 1 && f.name.0.first()?.as_ident()?.value.eq_ignore_ascii_case("count");
            let FunctionArguments::List(list) = &f.args else {
                return None;
            };
            let ([FunctionArg::Unnamed(arg)], []) = (list.args.as_slice(), list.clauses.as_slice()) else {
                return None;
            };
            if !plain || !is_count {
                return None;
            }
            let distinct = match list.duplicate_treatment {
                None | Some(DuplicateTreatment::All) => false,
                Some(DuplicateTreatment::Distinct) => true,
            };
            let arg = match arg {
                FunctionArgExpr::Wildcard if !distinct => None,
                FunctionArgExpr::Expr(x) => Some(logical(state, x, schema)?),
                _ => return None,
            };
            let filter = match &f.filter {
                Some(c) => Some(logical(state, c, schema)?),
                None => None,
            };
            counts.push(CountSpec { arg, distinct, filter });
            Term::Count(counts.len() - 1)
        }
        _ => return None,
    })
}

/// Which rows of `batch` satisfy `cond` (null counts as false).
fn mask(cond: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> Result<BooleanArray, EngineError> {
    let v = cond
        .evaluate(batch)
        .and_then(|v| v.into_array(batch.num_rows()))
        .map_err(EngineError::from)?;
    let b = v
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| EngineError::Unexpected("a condition is not boolean".into()))?;
    Ok(if b.null_count() > 0 {
        prep_null_mask_filter(b)
    } else {
        b.clone()
    })
}

fn both(a: Option<&BooleanArray>, b: Option<BooleanArray>) -> Result<Option<BooleanArray>, EngineError> {
    Ok(match (a, b) {
        (Some(a), Some(b)) => Some(and(a, &b).map_err(EngineError::from)?),
        (Some(a), None) => Some(a.clone()),
        (None, b) => b,
    })
}

impl Counting {
    /// Compiles `sql` against the session's tables, or `None` if it is not of
    /// the form this counts (see the module's doc) or does not compile here.
    pub(crate) async fn compile(session: &SessionContext, sql: &str) -> Option<Counting> {
        let (table, items, cond) = parts(sql)?;
        let provider = session
            .table_provider(TableReference::bare(table.as_str()))
            .await
            .ok()?;
        let schema = provider.schema();
        let state = session.state();
        let full = DFSchema::try_from_qualified_schema(TableReference::bare(table.as_str()), &schema).ok()?;
        let mut specs = Vec::new();
        let columns = items
            .iter()
            .map(|e| term(&state, e, &full, &mut specs))
            .collect::<Option<Vec<_>>>()?;
        if specs.is_empty() {
            // Without an aggregate, SQL gives a row per row of the table.
            return None;
        }
        let cond = match &cond {
            Some(c) => Some(logical(&state, c, &full)?),
            None => None,
        };
        // Read only the columns the query names.
        let mut used: BTreeSet<usize> = BTreeSet::new();
        let mut note = |e: &LogicalExpr| -> Option<()> {
            for c in e.column_refs() {
                used.insert(full.index_of_column(c).ok()?);
            }
            Some(())
        };
        for s in &specs {
            s.arg.iter().chain(&s.filter).try_for_each(&mut note)?;
        }
        cond.iter().try_for_each(&mut note)?;
        let projection: Vec<usize> = used.into_iter().collect();
        let projected = Arc::new(schema.project(&projection).ok()?);
        let df = DFSchema::try_from_qualified_schema(TableReference::bare(table.as_str()), &projected).ok()?;
        // Coerced and simplified as SQL's analyzer and optimizer would (some
        // functions, `arrow_cast` for one, exist only until simplified).
        let simplifier = ExprSimplifier::new(
            SimplifyContext::builder()
                .with_schema(Arc::new(df.clone()))
                .with_config_options(Arc::clone(state.config_options()))
                .with_current_time()
                .build(),
        );
        let physical = |e: LogicalExpr, boolean: bool| -> Option<Arc<dyn PhysicalExpr>> {
            let e = simplifier.simplify(simplifier.coerce(e, &df).ok()?).ok()?;
            let p = state.create_physical_expr(e, &df).ok()?;
            let t = p.data_type(&projected).ok()?;
            (!boolean || t == DataType::Boolean).then_some(p)
        };
        let condition = match cond {
            Some(c) => Some(physical(c, true)?),
            None => None,
        };
        let mut counts = Vec::with_capacity(specs.len());
        // Conditions are compared as logical expressions, so each is evaluated once per batch.
        let mut conditions: Vec<LogicalExpr> = Vec::new();
        for s in specs {
            let arg = match s.arg {
                Some(a) => Some(physical(a, false)?),
                None => None,
            };
            let distinct = match (&arg, s.distinct) {
                (Some(a), true) => {
                    let t = a.data_type(&projected).ok()?;
                    Some(if DistinctBytes::takes(&t) {
                        Distinct::Bytes(DistinctBytes::new())
                    } else {
                        Distinct::Other(one_column_accumulator(&Count::new(), &t, DataType::Int64, true)?)
                    })
                }
                _ => None,
            };
            let filter = s.filter.map(|f| index_of(&mut conditions, f));
            counts.push(CountExec {
                arg,
                filter,
                distinct,
                n: 0,
            });
        }
        let filters = conditions
            .into_iter()
            .map(|c| physical(c, true))
            .collect::<Option<Vec<_>>>()?;
        Some(Counting {
            table,
            projection,
            schema: projected,
            condition,
            filters,
            counts,
            columns,
        })
    }

    fn update(&mut self, batch: &RecordBatch) -> Result<(), EngineError> {
        let rows = batch.num_rows();
        let base = match &self.condition {
            Some(c) => Some(mask(c, batch)?),
            None => None,
        };
        let filtered = self
            .filters
            .iter()
            .map(|f| both(base.as_ref(), Some(mask(f, batch)?)))
            .collect::<Result<Vec<_>, EngineError>>()?;
        for c in &mut self.counts {
            let keep = match c.filter {
                Some(i) => filtered.get(i).cloned().flatten(),
                None => base.clone(),
            };
            let Some(arg) = &c.arg else {
                c.n += keep.map_or(rows, |k| k.true_count()) as i64;
                continue;
            };
            let values: ArrayRef = arg
                .evaluate(batch)
                .and_then(|v| v.into_array(rows))
                .map_err(EngineError::from)?;
            match &mut c.distinct {
                Some(Distinct::Bytes(set)) => set.update(&values, keep.as_ref())?,
                Some(Distinct::Other(acc)) => {
                    let values = match &keep {
                        Some(k) => filter(&values, k).map_err(EngineError::from)?,
                        None => values,
                    };
                    acc.update_batch(&[values]).map_err(EngineError::from)?;
                }
                None => {
                    c.n += match &keep {
                        Some(k) => {
                            let present = is_not_null(&values).map_err(EngineError::from)?;
                            and(k, &present).map_err(EngineError::from)?.true_count()
                        }
                        None => rows - values.logical_null_count(),
                    } as i64;
                }
            }
        }
        Ok(())
    }

    /// Scans the table once and returns each column's value.
    pub(crate) async fn run(mut self, session: &SessionContext) -> Result<Vec<i64>, EngineError> {
        let provider = session
            .table_provider(TableReference::bare(self.table.as_str()))
            .await
            .map_err(EngineError::from)?;
        let state = session.state();
        let plan = provider
            .scan(&state, Some(&self.projection), &[], None)
            .await
            .map_err(EngineError::from)?;
        if plan.schema().fields().len() != self.schema.fields().len() {
            return Err(EngineError::Unexpected(
                "the scan returned other columns than asked for".into(),
            ));
        }
        // Distinct sets sized for the table's rows, where it knows them.
        let rows = {
            let stats = StatisticsContext::new().compute(plan.as_ref(), &StatisticsArgs::new());
            stats.ok().and_then(|s| s.num_rows.get_value().copied())
        };
        if let Some(rows) = rows {
            for c in &mut self.counts {
                if let Some(Distinct::Bytes(set)) = &mut c.distinct {
                    set.reserve(rows.min(PRESIZE_ROWS));
                }
            }
        }
        let mut stream =
            datafusion::physical_plan::execute_stream(plan, session.task_ctx()).map_err(EngineError::from)?;
        while let Some(batch) = stream.next().await {
            self.update(&batch.map_err(EngineError::from)?)?;
        }
        let counts = self
            .counts
            .iter_mut()
            .map(|c| match &mut c.distinct {
                None => Ok(c.n),
                Some(Distinct::Bytes(set)) => Ok(set.len()),
                Some(Distinct::Other(acc)) => match acc.evaluate().map_err(EngineError::from)? {
                    ScalarValue::Int64(Some(n)) => Ok(n),
                    other => Err(EngineError::Unexpected(format!("count(DISTINCT …) gave {other}"))),
                },
            })
            .collect::<Result<Vec<i64>, EngineError>>()?;
        self.columns
            .iter()
            .map(|t| {
                t.value(&counts)
                    .ok_or_else(|| EngineError::Unexpected("a counter overflowed 64 bits".into()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
