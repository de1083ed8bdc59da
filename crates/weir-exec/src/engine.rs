//! The DataFusion sessions weir plans SQL in. Every job, query, counter and
//! diff session is made by [`session`], so each carries weir's optimizer
//! rules: today [`TwoPhaseDistinct`].

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, Result};
use datafusion::execution::SessionStateBuilder;
use datafusion::functions_aggregate::{average, count, min_max, sum};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{Aggregate, AggregateUDF, Expr, LogicalPlan, Projection, cast, lit};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use datafusion::prelude::{SessionConfig, SessionContext};
use std::sync::Arc;

/// A session with `partitions` target partitions and weir's rules.
pub fn session(partitions: usize) -> SessionContext {
    let mut state = SessionStateBuilder::new()
        .with_config(SessionConfig::new().with_target_partitions(partitions))
        .with_default_features()
        .with_optimizer_rule(Arc::new(TwoPhaseDistinct))
        .build();
    // JSON in strings (a stream's `event` column): json_get_str(event, 'unit'),
    // json_get_int, json_get_float, json_contains, and the `->`/`->>` operators.
    if let Err(e) = datafusion_functions_json::register_all(&mut state) {
        tracing::warn!("the JSON functions are not available: {e}");
    }
    SessionContext::new_with_state(state)
}

/// Plans an aggregate that mixes `DISTINCT` and plain aggregates over one
/// distinct argument as two aggregations, as DuckDB and Spark do:
///
/// ```sql
/// SELECT g, count(*), sum(ms), count(DISTINCT x) FROM t GROUP BY g
/// -- becomes
/// SELECT g, sum(c), sum(s), count(x)
/// FROM (SELECT g, x, count(*) c, sum(ms) s FROM t GROUP BY g, x) GROUP BY g
/// ```
///
/// The inner aggregation deduplicates `x` per group while it computes the
/// plain aggregates' partial states, so the outer one needs no per-group
/// hash set of distinct values (DataFusion's `count(DISTINCT)` over strings
/// keeps one per group, 10-25× slower on millions of rows).
///
/// DataFusion's own `SingleDistinctToGroupBy` does this when the plain
/// aggregates are `sum`, `min` and `max`; it refuses a plain `count`
/// (fixed upstream after DataFusion 55, apache/datafusion#24859). This rule
/// runs after it and takes what it left: plain `count`, `sum`, `min` and
/// `max` beside distinct `count`, `sum`, `min`, `max` and `avg` of one
/// argument, with no `FILTER`, `ORDER BY` or grouping sets. Results and
/// their types are exactly the original's (a `sum` of partial sums is cast
/// back to the original sum's type; a `count` over no rows stays 0).
#[derive(Debug, Default)]
pub struct TwoPhaseDistinct;

/// The aggregate functions the rewrite knows how to split.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Count,
    Sum,
    Min,
    Max,
    Avg,
}

fn kind(func: &AggregateUDF) -> Option<Kind> {
    [
        (count::count_udaf(), Kind::Count),
        (sum::sum_udaf(), Kind::Sum),
        (min_max::min_udaf(), Kind::Min),
        (min_max::max_udaf(), Kind::Max),
        (average::avg_udaf(), Kind::Avg),
    ]
    .into_iter()
    .find(|(f, _)| f.as_ref() == func)
    .map(|(_, k)| k)
}

/// The aggregate function inside an aggregate expression (which the SQL
/// planner may have aliased, as `count(*)`).
fn aggregate_of(e: &Expr) -> Option<&AggregateFunction> {
    match e {
        Expr::AggregateFunction(a) => Some(a),
        Expr::Alias(a) => aggregate_of(&a.expr),
        _ => None,
    }
}

/// The one distinct argument, when every aggregate can be split.
fn splittable(group: &[Expr], aggregates: &[Expr]) -> Option<Expr> {
    if matches!(group.first(), Some(Expr::GroupingSet(_))) {
        return None;
    }
    let mut distinct_arg: Option<&Expr> = None;
    let mut plain = 0;
    for e in aggregates {
        let a = aggregate_of(e)?;
        let p = &a.params;
        if p.filter.is_some() || !p.order_by.is_empty() || p.null_treatment.is_some() || p.args.len() != 1 {
            return None;
        }
        let k = kind(&a.func)?;
        if p.distinct {
            match distinct_arg {
                None => distinct_arg = Some(&p.args[0]),
                Some(d) if d == &p.args[0] => {}
                Some(_) => return None,
            }
        } else if k == Kind::Avg {
            return None;
        } else {
            plain += 1;
        }
    }
    (plain > 0).then_some(distinct_arg.cloned()).flatten()
}

const DISTINCT: &str = "__weir_distinct";

impl OptimizerRule for TwoPhaseDistinct {
    fn name(&self) -> &str {
        "weir_two_phase_distinct"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(agg) = plan else {
            return Ok(Transformed::no(plan));
        };
        let Some(distinct_arg) = splittable(&agg.group_expr, &agg.aggr_expr) else {
            return Ok(Transformed::no(LogicalPlan::Aggregate(agg)));
        };
        let aggregates: Vec<AggregateFunction> = agg.aggr_expr.iter().filter_map(aggregate_of).cloned().collect();
        let Aggregate {
            input,
            group_expr,
            schema,
            ..
        } = agg;
        let global = group_expr.is_empty();
        let groups = group_expr.len();

        // Inner: the original groups (named so the outer one can refer to
        // them), the distinct argument, and the plain aggregates' parts.
        let mut inner_group = Vec::with_capacity(groups + 1);
        let mut outer_group = Vec::with_capacity(groups);
        for (i, g) in group_expr.into_iter().enumerate() {
            if let Expr::Column(c) = &g {
                outer_group.push(Expr::Column(c.clone()));
                inner_group.push(g);
            } else {
                let name = format!("__weir_group_{i}");
                outer_group.push(Expr::Column(Column::from_name(&name)));
                inner_group.push(g.alias(name));
            }
        }
        inner_group.push(distinct_arg.alias(DISTINCT));
        let mut inner_aggr = Vec::new();
        let mut outer_aggr = Vec::with_capacity(aggregates.len());
        let mut counts = Vec::new();
        for (j, a) in aggregates.iter().enumerate() {
            let (func, arg) = if a.params.distinct {
                (Arc::clone(&a.func), Expr::Column(Column::from_name(DISTINCT)))
            } else {
                let part = format!("__weir_part_{j}");
                inner_aggr.push(
                    Expr::AggregateFunction(AggregateFunction::new_udf(
                        Arc::clone(&a.func),
                        a.params.args.clone(),
                        false,
                        None,
                        vec![],
                        None,
                    ))
                    .alias(&part),
                );
                // A count's parts add up; sums, minima and maxima combine as themselves.
                let func = if kind(&a.func) == Some(Kind::Count) {
                    counts.push(j);
                    sum::sum_udaf()
                } else {
                    Arc::clone(&a.func)
                };
                (func, Expr::Column(Column::from_name(part)))
            };
            outer_aggr.push(Expr::AggregateFunction(AggregateFunction::new_udf(
                func,
                vec![arg],
                false,
                None,
                vec![],
                None,
            )));
        }
        let inner = Aggregate::try_new(input, inner_group, inner_aggr)?;
        let outer = Aggregate::try_new(Arc::new(LogicalPlan::Aggregate(inner)), outer_group, outer_aggr)?;

        // The original schema: same names, qualifiers and types.
        let mut project = Vec::with_capacity(schema.fields().len());
        for i in 0..schema.fields().len() {
            let (qualifier, field) = schema.qualified_field(i);
            let (oq, of) = outer.schema.qualified_field(i);
            let mut e = Expr::Column(Column::new(oq.cloned(), of.name()));
            if global && i >= groups && counts.contains(&(i - groups)) {
                // No rows, no parts: the sum of none is NULL, the count 0.
                e = datafusion::functions::expr_fn::coalesce(vec![e, lit(0i64)]);
            }
            if of.data_type() != field.data_type() {
                e = cast(e, field.data_type().clone());
            }
            project.push(e.alias_qualified(qualifier.cloned(), field.name()));
        }
        let projection = Projection::try_new(project, Arc::new(LogicalPlan::Aggregate(outer)))?;
        Ok(Transformed::yes(LogicalPlan::Projection(projection)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Decimal128Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;

    /// `g` with 4 groups, `x` a string with repeats and NULLs, `n` an integer
    /// with NULLs, `d` a decimal.
    fn table(rows: usize) -> Arc<MemTable> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("g", DataType::Int64, true),
            Field::new("x", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            Field::new("d", DataType::Decimal128(12, 2), true),
        ]));
        let g: Int64Array = (0..rows).map(|i| (i % 7 != 6).then_some((i % 4) as i64)).collect();
        let x: StringArray = (0..rows)
            .map(|i| (i % 5 != 0).then(|| format!("x{}", (i * 31) % 13)))
            .collect();
        let n: Int64Array = (0..rows)
            .map(|i| (i % 3 != 0).then_some((i * 17 % 101) as i64 - 50))
            .collect();
        let d = Decimal128Array::from_iter((0..rows).map(|i| Some((i * 1234 % 100_000) as i128)))
            .with_precision_and_scale(12, 2)
            .expect("decimal");
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(g), Arc::new(x), Arc::new(n), Arc::new(d)])
            .expect("batch");
        Arc::new(MemTable::try_new(schema, vec![vec![batch]]).expect("table"))
    }

    async fn run(ctx: &SessionContext, sql: &str) -> (String, String, Arc<arrow::datatypes::Schema>) {
        let df = ctx.sql(sql).await.expect("plan");
        let plan = format!(
            "{}",
            df.clone().into_optimized_plan().expect("optimize").display_indent()
        );
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.expect("run");
        let text = pretty_format_batches(&batches).expect("format").to_string();
        (text, plan, schema)
    }

    /// Every query gives the same rows and schema with the rule as without it,
    /// and the rule fired where it should.
    #[tokio::test]
    async fn two_phase_plans_give_the_same_answers() {
        let cases = [
            (
                "SELECT g, count(*), sum(n), count(DISTINCT x) FROM t GROUP BY g ORDER BY g",
                true,
            ),
            (
                "SELECT g, count(n) AS c, min(n), max(n), sum(d), count(DISTINCT x) AS dx, \
                 sum(DISTINCT n) FROM t GROUP BY g ORDER BY g",
                false,
            ),
            (
                "SELECT g % 2 AS h, count(1), sum(d), sum(DISTINCT n), min(DISTINCT n) FROM t \
                 GROUP BY g % 2 ORDER BY h",
                true,
            ),
            (
                "SELECT g, count(*), max(x), avg(DISTINCT n) FROM t GROUP BY g ORDER BY g",
                true,
            ),
            ("SELECT count(*), sum(n), count(DISTINCT x) FROM t", true),
            ("SELECT count(*), count(DISTINCT x) FROM t WHERE n > 1000", true),
            (
                "SELECT g, count(*), count(DISTINCT x) FROM t WHERE n > 1000 GROUP BY g",
                true,
            ),
            (
                "SELECT g, count(DISTINCT x), count(DISTINCT n) FROM t GROUP BY g ORDER BY g",
                false,
            ),
            (
                "SELECT g, avg(n), count(DISTINCT x) FROM t GROUP BY g ORDER BY g",
                false,
            ),
            (
                "SELECT g, count(*) FILTER (WHERE n > 0), count(DISTINCT x) FROM t GROUP BY g ORDER BY g",
                false,
            ),
        ];
        let ours = session(4);
        let plain = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4));
        for ctx in [&ours, &plain] {
            ctx.register_table("t", table(2_000)).expect("register");
        }
        for (sql, rewritten) in cases {
            let (want, _, want_schema) = run(&plain, sql).await;
            let (got, plan, got_schema) = run(&ours, sql).await;
            assert_eq!(got, want, "{sql}\n{plan}");
            assert_eq!(got_schema, want_schema, "{sql}: the schema is the original's");
            // `sum(DISTINCT n)` beside `count(DISTINCT x)`: two distinct arguments, left alone.
            assert_eq!(plan.contains(DISTINCT), rewritten, "{sql}\n{plan}");
        }
    }

    /// A global count over no rows is 0, not NULL, after the split.
    #[tokio::test]
    async fn a_count_over_no_rows_stays_zero() {
        let ctx = session(2);
        ctx.register_table("t", table(0)).expect("register");
        let batches = ctx
            .sql("SELECT count(*) AS c, count(DISTINCT x) AS dx, sum(n) AS s FROM t")
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        let c = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("int64");
        assert_eq!((c.value(0), c.is_null(0)), (0, false));
        assert!(batches[0].column(2).is_null(0), "a sum of no rows is NULL");
    }
}
