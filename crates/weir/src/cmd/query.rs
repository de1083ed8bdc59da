//! `weir sql`: a read-only query over what an environment serves.

use crate::output::Printer;
use crate::project;
use anyhow::Result;
use std::path::Path;
use weir_exec::query::{Render, render};

pub async fn sql(dir: Option<&Path>, env_name: Option<&str>, query: &str, csv: bool, p: Printer) -> Result<()> {
    let (ws, _, env_name) = project::env_ws(dir, env_name).await?;
    let r = weir_ops::serving::sql(&ws, &env_name, query).await?;
    let how = if p.json {
        Render::Json
    } else if csv {
        Render::Csv
    } else {
        Render::Table
    };
    println!("{}", render(&r.batches, how)?.trim_end());
    Ok(())
}
