//! Evaluation of check expressions over facts (this partition's, and earlier ones').

use super::{CheckResult, Expr, Func, Op, Severity, Status};
use std::collections::BTreeMap;

/// What is known about one instance: counters and metrics (as numbers), and
/// its profile if one was taken.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub values: BTreeMap<String, f64>,
    /// `{"rows": n, "columns": {col: {"null_fraction", "min", "max", "distinct"}}}`.
    pub profile: Option<serde_json::Value>,
}

/// A value during evaluation. `Unknown` carries why.
#[derive(Clone, Debug, PartialEq)]
enum V {
    Num(f64),
    Bool(bool),
    Unknown(String),
}

type R = Result<V, String>;

/// Glob match with `*` (any run of characters, dots included) and `?`.
fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn fmt_num(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else if x.is_finite() {
        let s = format!("{x:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        x.to_string()
    }
}

struct Cx<'a> {
    now: &'a Facts,
    /// `history[k - 1]`: the partition `k` before this one, if it exists and is usable.
    history: &'a [Option<Facts>],
    /// Values read, for the detail line (`rows_out = 12`).
    seen: Vec<(String, String)>,
}

impl Cx<'_> {
    fn note(&mut self, what: String, v: &V) {
        let shown = match v {
            V::Num(x) => fmt_num(*x),
            V::Bool(b) => b.to_string(),
            V::Unknown(why) => format!("unknown ({why})"),
        };
        if !self.seen.iter().any(|(w, _)| *w == what) {
            self.seen.push((what, shown));
        }
    }

    fn name(&self, facts: &Facts, name: &str) -> R {
        let null = |n: &str| Err(format!("`{n}` is null: the job measured NaN or ±infinity"));
        if let Some(v) = facts.values.get(name) {
            return if v.is_finite() { Ok(V::Num(*v)) } else { null(name) };
        }
        // `dropped` sums every `dropped.*`; `rows_in` every input.
        let prefix = format!("{name}.");
        let mut found = false;
        let mut sum = 0.0;
        for (k, v) in facts.values.range(prefix.clone()..) {
            if !k.starts_with(&prefix) {
                break;
            }
            if !v.is_finite() {
                return null(k);
            }
            found = true;
            sum += v;
        }
        if found {
            return Ok(V::Num(sum));
        }
        let known: Vec<&str> = facts.values.keys().map(String::as_str).collect();
        Err(format!(
            "counter `{name}` was not recorded (recorded: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
    }

    fn profile_col(&self, facts: &Facts, col: &str, field: &str) -> R {
        let Some(p) = &facts.profile else {
            return Ok(V::Unknown("no profile was taken".into()));
        };
        let Some(c) = p.get("columns").and_then(|c| c.get(col)) else {
            let cols: Vec<String> = p
                .get("columns")
                .and_then(|c| c.as_object())
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            return Err(format!(
                "the output has no column `{col}` (columns: {})",
                cols.join(", ")
            ));
        };
        Ok(c.get(field)
            .and_then(|v| v.as_f64())
            .map_or_else(|| V::Unknown(format!("no {field} for `{col}`")), V::Num))
    }

    /// Evaluates `e` against `facts` (`now` or an earlier partition).
    fn eval(&mut self, e: &Expr, facts: &Facts, top: bool) -> R {
        Ok(match e {
            Expr::Num(n) => V::Num(*n),
            Expr::Bool(b) => V::Bool(*b),
            Expr::Str(s) => return Err(format!("a string (`{s}`) is not a value")),
            Expr::Name(n) => {
                let v = self.name(facts, n)?;
                if top {
                    self.note(n.clone(), &v);
                }
                v
            }
            Expr::Neg(x) => match self.eval(x, facts, top)? {
                V::Num(n) => V::Num(-n),
                other => other,
            },
            Expr::Not(x) => match self.eval(x, facts, top)? {
                V::Bool(b) => V::Bool(!b),
                other => other,
            },
            Expr::Bin(op @ (Op::And | Op::Or), a, b) => {
                let (x, y) = (self.eval(a, facts, top)?, self.eval(b, facts, top)?);
                let decisive = *op == Op::Or; // the value that decides alone
                match (x, y) {
                    (V::Bool(p), _) if p == decisive => V::Bool(decisive),
                    (_, V::Bool(q)) if q == decisive => V::Bool(decisive),
                    (V::Bool(_), V::Bool(_)) => V::Bool(!decisive),
                    (V::Unknown(w), _) | (_, V::Unknown(w)) => V::Unknown(w),
                    _ => return Err("and/or over numbers".into()),
                }
            }
            Expr::Bin(op, a, b) => {
                let (x, y) = (self.eval(a, facts, top)?, self.eval(b, facts, top)?);
                let (x, y) = match (x, y) {
                    (V::Num(x), V::Num(y)) => (x, y),
                    (V::Unknown(w), _) | (_, V::Unknown(w)) => return Ok(V::Unknown(w)),
                    _ => return Err(format!("`{}` over booleans", op.symbol())),
                };
                match op {
                    Op::Add => V::Num(x + y),
                    Op::Sub => V::Num(x - y),
                    Op::Mul => V::Num(x * y),
                    Op::Div if y == 0.0 => V::Unknown("division by zero".into()),
                    Op::Div => V::Num(x / y),
                    Op::Lt => V::Bool(x < y),
                    Op::Le => V::Bool(x <= y),
                    Op::Gt => V::Bool(x > y),
                    Op::Ge => V::Bool(x >= y),
                    Op::Eq => V::Bool(x == y),
                    Op::Ne => V::Bool(x != y),
                    Op::And | Op::Or => unreachable_bool(),
                }
            }
            Expr::Call(f, args) => {
                let v = self.call(*f, args, facts, top)?;
                if top && *f != Func::Abs {
                    self.note(render_call(*f, args), &v);
                }
                v
            }
        })
    }

    fn call(&mut self, f: Func, args: &[Expr], facts: &Facts, top: bool) -> R {
        let str_arg = || match args.first() {
            Some(Expr::Str(s)) => Ok(s.as_str()),
            _ => Err(format!("{}() needs a name", f.name())),
        };
        match f {
            Func::Counter => {
                let pat = str_arg()?;
                let matched: Vec<(&String, &f64)> = facts.values.iter().filter(|(k, _)| glob(pat, k)).collect();
                if let Some((k, _)) = matched.iter().find(|(_, v)| !v.is_finite()) {
                    return Err(format!("`{k}` is null: the job measured NaN or ±infinity"));
                }
                Ok(V::Num(matched.iter().map(|(_, v)| **v).sum()))
            }
            Func::NullFraction => self.profile_col(facts, str_arg()?, "null_fraction"),
            Func::Distinct => self.profile_col(facts, str_arg()?, "distinct"),
            Func::Abs => match self.eval(args.first().ok_or("abs() needs a value")?, facts, top)? {
                V::Num(n) => Ok(V::Num(n.abs())),
                other => Ok(other),
            },
            _ => {
                let (Some(x), Some(Expr::Num(n))) = (args.first(), args.get(1)) else {
                    return Err(format!("{}() takes a value and a number of partitions", f.name()));
                };
                let n = *n as usize;
                if matches!(f, Func::Lag | Func::PctChange) {
                    let Some(Some(then)) = n.checked_sub(1).and_then(|i| self.history.get(i)) else {
                        return Ok(V::Unknown(format!("no partition {n} back")));
                    };
                    let past = match self.eval(x, then, false) {
                        Ok(V::Num(p)) => p,
                        Ok(other) => return Ok(other),
                        Err(e) => return Ok(V::Unknown(format!("{n} back: {e}"))),
                    };
                    if f == Func::Lag {
                        return Ok(V::Num(past));
                    }
                    let cur = match self.eval(x, facts, false)? {
                        V::Num(c) => c,
                        other => return Ok(other),
                    };
                    if past == 0.0 {
                        return Ok(if cur == 0.0 {
                            V::Num(0.0)
                        } else {
                            V::Unknown(format!("the value {n} back was 0"))
                        });
                    }
                    return Ok(V::Num((cur - past) / past.abs()));
                }
                let mut vals = Vec::with_capacity(n);
                for then in self.history.iter().take(n).flatten() {
                    if let Ok(V::Num(v)) = self.eval(x, then, false) {
                        vals.push(v);
                    }
                }
                if vals.is_empty() {
                    return Ok(V::Unknown(format!("no history in the {n} partitions before")));
                }
                Ok(V::Num(stat(f, &mut vals)))
            }
        }
    }
}

fn unreachable_bool() -> V {
    V::Unknown("internal: logic operator".into())
}

/// A statistic over at least one value.
fn stat(f: Func, vals: &mut [f64]) -> f64 {
    let k = vals.len() as f64;
    match f {
        Func::Mean => vals.iter().sum::<f64>() / k,
        Func::Min => vals.iter().copied().fold(f64::INFINITY, f64::min),
        Func::Max => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Func::Stddev => {
            let mean = vals.iter().sum::<f64>() / k;
            (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / k).sqrt()
        }
        _ => {
            vals.sort_by(f64::total_cmp);
            let m = vals.len() / 2;
            if vals.len() % 2 == 1 {
                vals[m]
            } else {
                (vals[m - 1] + vals[m]) / 2.0
            }
        }
    }
}

fn render_call(f: Func, args: &[Expr]) -> String {
    let parts: Vec<String> = args
        .iter()
        .map(|a| match a {
            Expr::Str(s) if f == Func::Counter => format!("\"{s}\""),
            Expr::Str(s) | Expr::Name(s) => s.clone(),
            Expr::Num(n) => fmt_num(*n),
            _ => "…".into(),
        })
        .collect();
    format!("{}({})", f.name(), parts.join(", "))
}

/// Evaluates a check expression. `history[k - 1]` holds the facts of the
/// partition `k` before this one (`None` where it does not exist or is blocked).
pub fn evaluate(name: &str, severity: Severity, expr: &Expr, now: &Facts, history: &[Option<Facts>]) -> CheckResult {
    let mut cx = Cx {
        now,
        history,
        seen: Vec::new(),
    };
    let now = cx.now;
    let (status, why) = match cx.eval(expr, now, true) {
        Ok(V::Bool(true)) => (Status::Pass, None),
        Ok(V::Bool(false)) => (Status::Fail, None),
        Ok(V::Unknown(why)) => (Status::Skipped, Some(why)),
        Ok(V::Num(_)) => (Status::Error, Some("the check is a number, not a comparison".into())),
        Err(e) => (Status::Error, Some(e)),
    };
    let mut detail: Vec<String> = cx.seen.iter().map(|(w, v)| format!("{w} = {v}")).collect();
    if let Some(w) = why
        && !detail.iter().any(|d| d.contains(&w))
    {
        detail.push(w);
    }
    CheckResult {
        name: name.to_string(),
        severity,
        status,
        detail: detail.join("; "),
    }
}

/// The value of a derived counter's expression over this run's recorded
/// counters: `Ok(None)` when it cannot be known (a division by zero), an
/// error when it reads a counter that was not recorded or is not a number.
pub fn value(expr: &Expr, now: &Facts) -> Result<Option<f64>, String> {
    let mut cx = Cx {
        now,
        history: &[],
        seen: Vec::new(),
    };
    match cx.eval(expr, now, false)? {
        V::Num(x) => Ok(Some(x)),
        V::Unknown(_) => Ok(None),
        V::Bool(_) => Err("it is a comparison, not a number".into()),
    }
}

#[cfg(test)]
pub(super) fn glob_for_tests(p: &str, n: &str) -> bool {
    glob(p, n)
}
