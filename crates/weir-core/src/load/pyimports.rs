//! The project's own Python modules a command's script imports: part of the
//! job's code, so part of its version, like the script itself. A script run as
//! `python3 scripts/train.py` finds `import helpers` or `import weir_job` in
//! `scripts/` (Python puts the script's directory first on its path), so
//! editing `scripts/weir_job/__init__.py` makes a new version of every job
//! whose script imports it.
//!
//! The reading is lexical and generous: an `import` in a docstring reads one
//! file more into the fingerprint, which costs nothing but a new version when
//! that file changes. Modules that are not project files (the standard
//! library, installed packages) are simply not found.

use super::{ReadFile, safe_relative};
use std::collections::BTreeMap;

/// At most this many modules are followed from one script.
const MAX_MODULES: usize = 256;

/// Adds to `files` (path → content) the modules that the Python scripts
/// already in it import from the project, transitively.
pub(super) fn add_local_imports(files: &mut BTreeMap<String, String>, read: ReadFile<'_>) {
    let scripts: Vec<(String, String)> = files
        .iter()
        .filter(|(p, _)| p.ends_with(".py"))
        .map(|(p, b)| (normalise(p).unwrap_or_default(), b.clone()))
        .collect();
    for (script, body) in scripts {
        // sys.path[0]: the script's directory.
        let root = parent(&script);
        let mut todo = vec![(script, body)];
        let mut seen = 0;
        while let Some((path, body)) = todo.pop() {
            for candidate in imports(&path, &root, &body) {
                if seen >= MAX_MODULES || files.contains_key(&candidate) || !safe_relative(&candidate) {
                    continue;
                }
                if let Ok(text) = read(&candidate) {
                    seen += 1;
                    files.insert(candidate.clone(), text.clone());
                    todo.push((candidate, text));
                }
            }
        }
    }
}

/// The project files that `body` (the module at `path`) may import: for each
/// dotted name, each prefix as a module file and as a package's `__init__.py`.
fn imports(path: &str, root: &str, body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut module = |base: &str, dotted: &str| {
        let mut dir = base.to_string();
        for part in dotted.split('.').filter(|p| !p.is_empty()) {
            if !part.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return;
            }
            out.push(join(&dir, &format!("{part}.py")));
            dir = join(&dir, part);
            out.push(join(&dir, "__init__.py"));
        }
    };
    for line in body.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(rest) = line.strip_prefix("import ") {
            for name in rest.split(',') {
                let name = name.split_whitespace().next().unwrap_or("");
                module(root, name);
            }
        } else if let Some(rest) = line.strip_prefix("from ") {
            let mut words = rest.split_whitespace();
            let (Some(from), Some("import")) = (words.next(), words.next()) else {
                continue;
            };
            let names: Vec<String> = words
                .flat_map(|w| w.split(','))
                .map(|w| w.trim_matches(|c| c == '(' || c == ')').to_string())
                .filter(|w| !w.is_empty() && w != "as")
                .collect();
            let dots = from.chars().take_while(|c| *c == '.').count();
            let base = if dots == 0 {
                root.to_string()
            } else {
                // `.` is the module's own package, each further dot one up.
                let mut base = parent(path);
                for _ in 1..dots {
                    if base.is_empty() {
                        break;
                    }
                    base = parent(&base);
                }
                base
            };
            let from = &from[dots..];
            module(&base, from);
            // `from pkg import sub` may name a submodule.
            let pkg = if from.is_empty() {
                base.clone()
            } else {
                join(&base, &from.replace('.', "/"))
            };
            for name in names {
                module(&pkg, &name);
            }
        }
    }
    out
}

/// `a/b` of `a/b/c.py`; `""` at the top.
fn parent(path: &str) -> String {
    path.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default()
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// `./scripts//x.py` → `scripts/x.py`; `None` if it leaves the project.
fn normalise(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follow(script: &str, project: &[(&str, &str)]) -> Vec<String> {
        let project: BTreeMap<String, String> = project.iter().map(|(p, b)| (p.to_string(), b.to_string())).collect();
        let read = |p: &str| project.get(p).cloned().ok_or_else(|| "no such file".to_string());
        let mut files = BTreeMap::from([(script.to_string(), project[script].clone())]);
        add_local_imports(&mut files, &read);
        files.into_keys().collect()
    }

    #[test]
    fn a_script_s_own_modules_are_followed_and_the_rest_is_not() {
        let project = [
            (
                "scripts/train.py",
                "import json, os\nimport weir_job\nfrom helpers.text import clean  # ours\nfrom collections import defaultdict\n",
            ),
            ("scripts/weir_job/__init__.py", "import json\nfrom . import arrow\n"),
            ("scripts/weir_job/arrow.py", "from .. import shared\n"),
            ("scripts/shared.py", "X = 1\n"),
            ("scripts/helpers/__init__.py", ""),
            ("scripts/helpers/text.py", "from .util import f\n"),
            ("scripts/helpers/util.py", "def f(): pass\n"),
            ("scripts/unused.py", "print('never imported')\n"),
            ("json.py", "# not in scripts/, so not on the script's path\n"),
        ];
        assert_eq!(
            follow("scripts/train.py", &project),
            [
                "scripts/helpers/__init__.py",
                "scripts/helpers/text.py",
                "scripts/helpers/util.py",
                "scripts/shared.py",
                "scripts/train.py",
                "scripts/weir_job/__init__.py",
                "scripts/weir_job/arrow.py",
            ]
        );
    }

    #[test]
    fn imports_cannot_leave_the_project_or_loop_forever() {
        let project = [
            ("a.py", "import b\nfrom ... import secret\nfrom .. import up\n"),
            ("b.py", "import a\nimport b\n"),
        ];
        assert_eq!(follow("a.py", &project), ["a.py", "b.py"]);
        assert_eq!(normalise("./scripts//x.py").as_deref(), Some("scripts/x.py"));
        assert_eq!(normalise("../x.py"), None);
    }
}
