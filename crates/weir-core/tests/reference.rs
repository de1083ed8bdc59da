//! The files that must agree with `weir_core::keys`: the shipped JSON
//! Schema and `docs/reference.md`. These read files, so they live here and
//! not in weir-core's pure source.

use weir_core::keys::{Key, schema_text, tables};

#[test]
fn the_shipped_schema_file_is_the_generated_one() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schema/weir.schema.json");
    let shipped = std::fs::read_to_string(path).unwrap_or_default();
    if shipped != schema_text() {
        if std::env::var_os("WEIR_BLESS").is_some() {
            std::fs::write(path, schema_text()).expect("write schema/weir.schema.json");
            return;
        }
        panic!(
            "schema/weir.schema.json is stale: regenerate it with `weir schema > schema/weir.schema.json` (or WEIR_BLESS=1 cargo test -p weir-core --test reference)"
        );
    }
}

/// What the reference's row for `k` says in its Type and Default columns.
fn reference_cells(k: &Key) -> (String, String) {
    let default = match (k.required, k.default) {
        (true, _) => "required".to_string(),
        (false, Some(d)) => d.replace('|', "\\|"),
        (false, None) => "—".to_string(),
    };
    (k.ty.describe(), default)
}

/// The reference's tables: heading (`### TITLE`) → rows (key, type, default, example, text).
fn reference_tables(doc: &str) -> Vec<(String, Vec<[String; 5]>)> {
    let mut out: Vec<(String, Vec<[String; 5]>)> = Vec::new();
    let mut in_keys = false;
    for line in doc.lines() {
        if let Some(h) = line.strip_prefix("### ") {
            out.push((h.trim().to_string(), Vec::new()));
            in_keys = false;
        } else if line.starts_with("| Key |") {
            in_keys = true;
        } else if in_keys && line.starts_with('|') && !line.starts_with("|---") {
            // Split on unescaped pipes.
            let mut cells = Vec::new();
            let mut cur = String::new();
            let mut prev = ' ';
            for c in line.trim().trim_matches('|').chars() {
                if c == '|' && prev != '\\' {
                    cells.push(cur.trim().to_string());
                    cur.clear();
                } else {
                    cur.push(c);
                }
                prev = c;
            }
            cells.push(cur.trim().to_string());
            let row: [String; 5] = cells
                .try_into()
                .unwrap_or_else(|c: Vec<String>| panic!("a row of 5 cells: {c:?}"));
            if let Some((_, rows)) = out.last_mut() {
                rows.push(row);
            }
        } else if !line.starts_with('|') {
            in_keys = false;
        }
    }
    out
}

#[test]
fn the_reference_lists_every_key_and_only_keys_the_loader_accepts() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/reference.md");
    let doc = std::fs::read_to_string(path).expect("docs/reference.md");
    let documented = reference_tables(&doc);
    for t in tables() {
        let Some((_, rows)) = documented.iter().find(|(h, _)| h == t.title) else {
            panic!("docs/reference.md has no `### {}` section", t.title);
        };
        for k in t.keys {
            let Some(row) = rows.iter().find(|r| r[0] == format!("`{}`", k.name)) else {
                panic!(
                    "docs/reference.md: `{}` in {} is accepted but not documented",
                    k.name, t.title
                );
            };
            let (ty, default) = reference_cells(k);
            assert_eq!(row[1], ty, "docs/reference.md: the type of `{}` in {}", k.name, t.title);
            assert_eq!(
                row[2], default,
                "docs/reference.md: the default of `{}` in {}",
                k.name, t.title
            );
            assert!(
                !row[3].is_empty() && !row[4].is_empty(),
                "docs/reference.md: `{}` needs an example and a description",
                k.name
            );
        }
        for row in rows {
            let name = row[0].trim_matches('`');
            assert!(
                t.key(name).is_some(),
                "docs/reference.md documents `{name}` in {}, which the loader refuses",
                t.title
            );
        }
    }
    for (h, rows) in &documented {
        assert!(
            rows.is_empty() || tables().iter().any(|t| t.title == h),
            "docs/reference.md: `### {h}` lists keys but is no table of weir.toml"
        );
    }
}

/// `WEIR_DUMP_REFERENCE=1 cargo test -p weir-core --test reference dump -- --nocapture`
/// prints the rows a new key needs (its example and text are written by hand).
#[test]
fn dump_reference_rows() {
    if std::env::var_os("WEIR_DUMP_REFERENCE").is_none() {
        return;
    }
    for t in tables() {
        println!(
            "\n### {}\n\n{}\n\n| Key | Type | Default | Example | What it does |\n|---|---|---|---|---|",
            t.title, t.doc
        );
        for k in t.keys {
            let (ty, default) = reference_cells(k);
            println!("| `{}` | {ty} | {default} | | {} |", k.name, k.doc.replace('|', "\\|"));
        }
    }
}

/// Every `WEIR_*` variable a crate's source names (outside tests and
/// benches) is in the reference's tables.
#[test]
fn the_reference_names_every_weir_variable_the_code_reads() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let doc = std::fs::read_to_string(root.join("docs/reference.md")).expect("docs/reference.md");
    let mut stack = vec![root.join("crates")];
    let mut missing = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read crates").flatten() {
            let path = entry.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if !matches!(name, "tests" | "benches" | "bench") {
                    stack.push(path);
                }
                continue;
            }
            if !name.ends_with(".rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for (i, _) in code.match_indices("\"WEIR_") {
                let var: String = code[i + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                let var = var.trim_end_matches('_');
                let internal = ["WEIR_TEST", "WEIR_BLESS", "WEIR_DUMP", "WEIR_BENCH", "WEIR_INPUT"];
                if internal.iter().any(|p| var.starts_with(p)) || var.len() <= "WEIR_".len() {
                    continue;
                }
                if !doc.contains(&format!("`{var}`")) {
                    missing.push(format!("{var} ({})", path.display()));
                }
            }
        }
    }
    assert!(missing.is_empty(), "docs/reference.md does not name: {missing:?}");
}
