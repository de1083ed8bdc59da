//! The dataset graph: topological order and cycle detection.

use crate::model::Dataset;
use std::collections::BTreeMap;

/// Dataset names, inputs first, by layer (a dataset's layer is one more than
/// its deepest input's) and then by name, so listings read top-down. On a
/// cycle, returns its members in order, with the first repeated at the end
/// (`a → b → a`: a reads b, b reads a).
pub fn topo_order(datasets: &BTreeMap<String, Dataset>) -> Result<Vec<String>, Vec<String>> {
    let order = dfs_order(datasets)?;
    let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
    for name in &order {
        let d = deps(datasets, name)
            .filter_map(|i| depth.get(i))
            .max()
            .map_or(0, |m| m + 1);
        depth.insert(name.as_str(), d);
    }
    // An export follows its `from` dataset, so it is listed after it.
    for name in &order {
        if let crate::model::Job::Export { from, .. } = &datasets[name].job {
            let d = depth.get(from.as_str()).map_or(0, |m| m + 1);
            depth.insert(name.as_str(), d);
        }
    }
    let mut layered = order.clone();
    layered.sort_by_key(|n| (depth.get(n.as_str()).copied().unwrap_or(0), n.clone()));
    Ok(layered)
}

/// What `name` waits for: its inputs, and the metrics datasets with blocking
/// checks that gate them (a consumer of `plays` waits for `plays_quality`),
/// except where `name` is itself a metrics dataset of that input.
fn deps<'a>(datasets: &'a BTreeMap<String, Dataset>, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let ds = datasets.get(name);
    let inputs = ds.into_iter().flat_map(|d| d.inputs.iter());
    inputs.flat_map(move |i| {
        let measures = ds.and_then(|d| d.metrics_of.as_deref()) == Some(i.dataset.as_str());
        let gates = datasets
            .values()
            .filter(move |m| {
                !measures && m.metrics_of.as_deref() == Some(i.dataset.as_str()) && m.has_blocking_checks()
            })
            .map(|m| m.name.as_str());
        std::iter::once(i.dataset.as_str()).chain(gates)
    })
}

fn dfs_order(datasets: &BTreeMap<String, Dataset>) -> Result<Vec<String>, Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let names: Vec<&String> = datasets.keys().collect();
    let mut mark: BTreeMap<&str, Mark> = names.iter().map(|n| (n.as_str(), Mark::New)).collect();
    let mut order = Vec::with_capacity(names.len());
    for root in names {
        if mark.get(root.as_str()) != Some(&Mark::New) {
            continue;
        }
        // Iterative DFS: (node, next input index); `path` is the active chain.
        let mut stack: Vec<(&str, usize)> = vec![(root.as_str(), 0)];
        mark.insert(root.as_str(), Mark::Active);
        while let Some((node, i)) = stack.last_mut() {
            if let Some(next) = deps(datasets, node).nth(*i) {
                *i += 1;
                match mark.get(next) {
                    Some(Mark::New) => {
                        mark.insert(next, Mark::Active);
                        stack.push((next, 0));
                    }
                    Some(Mark::Active) => {
                        let from = stack.iter().position(|(n, _)| *n == next).unwrap_or(0);
                        // Each entry reads the next: `a → b` means a reads b.
                        let mut cycle: Vec<String> = stack[from..].iter().map(|(n, _)| n.to_string()).collect();
                        cycle.push(next.to_string());
                        return Err(cycle);
                    }
                    _ => {}
                }
            } else {
                let done = *node;
                mark.insert(done, Mark::Done);
                order.push(done.to_string());
                stack.pop();
            }
        }
    }
    Ok(order)
}
