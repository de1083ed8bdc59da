//! `weir bench`: the planner on a synthetic DAG, and the run loop's overhead
//! per task on trivial command jobs. Figures go to docs/benchmarks.md.

use crate::output::Printer;
use anyhow::Result;
pub fn plan(_d: usize, _p: usize, _i: usize, _pr: Printer) -> Result<()> {
    anyhow::bail!("not yet")
}
pub async fn run(_t: usize, _p: usize, _pr: Printer) -> Result<()> {
    anyhow::bail!("not yet")
}
