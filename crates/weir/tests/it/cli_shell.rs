//! The command line in the shell: completion scripts run by a real bash
//! (`weir show <TAB>` lists the project's datasets), man pages, and `--help`
//! listing verbs by group.

use crate::support::{NOW, exec, project};

/// What bash's completion function offers for `words` (the last word being
/// completed), through the script `weir completions bash` prints.
fn bash_completes(dir: &std::path::Path, words: &[&str]) -> Vec<String> {
    let (code, script, err) = exec(dir, NOW, &["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    let script_path = dir.join("weir.bash");
    std::fs::write(&script_path, script).expect("write the script");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let shell = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={cword}\nCOMP_TYPE=9\n_clap_complete_weir weir '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script_path.display(),
        quoted.join(" "),
        words[cword],
        words[cword.saturating_sub(1)],
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(shell)
        .current_dir(dir)
        .env_remove("WEIR_NOW")
        .output()
        .expect("bash");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completes_verbs_flags_and_the_projects_dataset_names() {
    let toml = "[project]\nname = \"p\"\nstart = \"2026-01-01\"\n\n\
                [datasets.plays]\npartition = \"day\"\nsql = \"SELECT 1 AS x\"\n\n\
                [datasets.plays_daily]\npartition = \"day\"\ninputs = [\"plays\"]\nsql = \"SELECT * FROM plays\"\n\n\
                [datasets.users]\npartition = \"day\"\nsql = \"SELECT 2 AS y\"\n\n\
                [selectors.reco]\nvariants = { a = \"users\" }\nsplit = { a = 100 }\nunit = \"user_id\"\n";
    let dir = project(toml, &[]);
    let sub = dir.path().join("sql");
    std::fs::create_dir_all(&sub).expect("a subdirectory");

    let offered = bash_completes(dir.path(), &["weir", "show", "pl"]);
    assert_eq!(offered, ["plays", "plays_daily"], "datasets starting with `pl`");
    // From a subdirectory of the project, and for a verb taking several.
    let offered = bash_completes(&sub, &["weir", "status", "plays", ""]);
    for name in ["plays", "plays_daily", "users"] {
        assert!(offered.iter().any(|o| o == name), "{name} in {offered:?}");
    }
    // An empty word offers the flags too; the values are what matter here.
    let values =
        |offered: Vec<String>| -> Vec<String> { offered.into_iter().filter(|o| !o.starts_with('-')).collect() };
    let offered = bash_completes(dir.path(), &["weir", "selector", "show", ""]);
    assert_eq!(values(offered), ["reco"]);
    let offered = bash_completes(dir.path(), &["weir", "val"]);
    assert_eq!(offered, ["validate"]);
    let offered = bash_completes(dir.path(), &["weir", "invalidate", "plays", "--no"]);
    assert_eq!(offered, ["--no-cascade"]);

    // A weir.toml that does not load still completes what it names.
    let mut broken = toml.to_string();
    broken.push_str("\n[datasets.late]\npartition = \"fortnight\"\nsql = \"SELECT 1\"\n");
    std::fs::write(dir.path().join("weir.toml"), broken).expect("write");
    let offered = bash_completes(dir.path(), &["weir", "show", "la"]);
    assert_eq!(offered, ["late"]);
    // Outside any project there is nothing to offer, and no error.
    let outside = tempfile::tempdir().expect("tempdir");
    assert!(values(bash_completes(outside.path(), &["weir", "show", ""])).is_empty());
}

#[test]
fn every_shell_gets_a_script_and_an_unknown_one_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (shell, marker) in [
        ("bash", "complete -o nospace"),
        ("zsh", "compdef"),
        ("fish", "complete"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let (code, out, err) = exec(tmp.path(), NOW, &["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.contains(marker) && out.contains("COMPLETE"), "{shell}:\n{out}");
    }
    let (code, _, err) = exec(tmp.path(), NOW, &["completions", "tcsh"]);
    assert_eq!(code, 2);
    assert!(err.contains("bash") && err.contains("powershell"), "{err}");
}

#[test]
fn weir_man_prints_roff_and_writes_a_page_per_verb() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (code, page, err) = exec(tmp.path(), NOW, &["man"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq") || page.contains(".TH weir"),
        "{page}"
    );
    assert!(
        page.contains("validate") && page.contains("completions"),
        "every verb is listed"
    );

    let dir = tmp.path().join("man1");
    let (code, _, err) = exec(tmp.path(), NOW, &["man", "--dir", dir.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("man pages"), "{err}");
    let run = std::fs::read_to_string(dir.join("weir-run.1")).expect("weir-run.1");
    assert!(run.contains("\\-\\-parallel") || run.contains("parallel"), "{run}");
    assert!(run.contains(".TH WEIR-RUN"), "{run}");
    assert!(dir.join("weir.1").is_file() && dir.join("weir-serve.1").is_file());
}

#[test]
fn help_lists_verbs_in_groups() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (code, help, err) = exec(tmp.path(), NOW, &["--help"]);
    assert_eq!(code, 0, "{err}");
    let mut at = 0;
    for group in [
        "Build:",
        "Inspect:",
        "Environments:",
        "Repair:",
        "Service:",
        "Tools:",
        "Options:",
    ] {
        let found = help[at..]
            .find(group)
            .unwrap_or_else(|| panic!("{group} after byte {at}:\n{help}"));
        at += found;
    }
    let build = &help[help.find("Build:").unwrap_or(0)..help.find("Inspect:").unwrap_or(0)];
    assert!(build.contains("  run ") && build.contains("  validate "), "{build}");
}
