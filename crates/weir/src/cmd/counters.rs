//! `weir counters`: a counter's time series over a dataset's partitions.

use crate::output::{Printer, table};
use crate::project;
use anyhow::Result;
use std::path::Path;

/// `▁▂▃▄▅▆▇█` for a series, scaled between its min and max.
pub fn sparkline(values: &[i64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let (lo, hi) = (
        values.iter().min().copied().unwrap_or(0),
        values.iter().max().copied().unwrap_or(0),
    );
    values
        .iter()
        .map(|v| {
            if hi == lo {
                BARS[3]
            } else {
                // In i128: the span of i64::MIN..i64::MAX does not fit an i64.
                let share = (i128::from(*v) - i128::from(lo)) as f64 / (i128::from(hi) - i128::from(lo)) as f64;
                BARS[((share * 7.0).round() as usize).min(7)]
            }
        })
        .collect()
}

pub async fn counters(
    dir: Option<&Path>,
    env: Option<&str>,
    dataset: &str,
    name: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    p: Printer,
) -> Result<()> {
    let dir = project::find(dir)?;
    let (ws, _) = project::open_env(&dir, env).await?;
    let sel = project::selection(&[], from, to, &ws.project)?;
    let r = weir_ops::inspect::counters(&ws, dataset, name, &sel).await?;
    print_counters(&r, p);
    Ok(())
}

/// Prints a counter series (read here or from a server).
pub fn print_counters(r: &weir_ops::inspect::CounterSeries, p: Printer) {
    let (dataset, version) = (&r.dataset, r.version);
    let series: Vec<(&String, &std::collections::BTreeMap<String, i64>)> =
        r.points.iter().map(|x| (&x.partition, &x.counters)).collect();
    let json: Vec<serde_json::Value> = series
        .iter()
        .map(|(part, c)| serde_json::json!({ "partition": part, "counters": c }))
        .collect();
    p.data(&json, || {
        if series.is_empty() {
            return format!("no instances of {dataset} v{version} in that range");
        }
        let names: std::collections::BTreeSet<&String> = series.iter().flat_map(|(_, c)| c.keys()).collect();
        let mut t = vec![vec![
            "COUNTER".to_string(),
            format!("{} .. {}", series[0].0, series[series.len() - 1].0),
            "MIN".into(),
            "MAX".into(),
            "LAST".into(),
        ]];
        for n in names {
            let values: Vec<i64> = series.iter().map(|(_, c)| c.get(n).copied().unwrap_or(0)).collect();
            t.push(vec![
                n.clone(),
                sparkline(&values),
                values.iter().min().copied().unwrap_or(0).to_string(),
                values.iter().max().copied().unwrap_or(0).to_string(),
                values.last().copied().unwrap_or(0).to_string(),
            ]);
        }
        format!("{dataset} v{version}, {} partitions\n{}", series.len(), table(&t))
    });
}

#[cfg(test)]
mod tests {
    use super::sparkline;

    #[test]
    fn sparklines_scale_between_min_and_max() {
        assert_eq!(sparkline(&[0, 7, 14]), "▁▅█");
        assert_eq!(sparkline(&[i64::MIN, 0, i64::MAX]), "▁▅█", "extremes do not overflow");
        assert_eq!(sparkline(&[5, 5]), "▄▄");
        assert_eq!(sparkline(&[]), "");
    }
}
