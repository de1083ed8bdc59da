//! The command line as the shell and `--help` see it: verbs in groups,
//! completions whose dataset and selector names come from the project at hand,
//! and the man pages.

use super::Cli;
use clap::CommandFactory;
use clap_complete::engine::CompletionCandidate;
use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;

/// The verbs of `weir --help`, in groups. A test holds it to the real verbs:
/// each visible one is here exactly once, and nothing else is.
pub const GROUPS: &[(&str, &[&str])] = &[
    ("Build", &["init", "demo", "generate", "validate", "plan", "run", "dev"]),
    (
        "Inspect",
        &[
            "status", "show", "runs", "logs", "counters", "versions", "alias", "path", "sql", "diff", "audit",
        ],
    ),
    ("Environments", &["deploy", "envs", "promote", "revert", "pin", "unpin"]),
    (
        "Repair",
        &["invalidate", "accept", "restore", "gc", "doctor", "catalog"],
    ),
    (
        "Service",
        &["serve", "token", "select", "selector", "pause", "resume", "cancel"],
    ),
    ("Tools", &["schema", "completions", "man", "bench"]),
];

/// The environment variable that asks `weir` for completions (the scripts
/// `weir completions SHELL` prints set it).
pub const COMPLETE_VAR: &str = "COMPLETE";

/// The `clap` command with `--help` listing verbs by group.
pub fn command() -> clap::Command {
    let cmd = Cli::command();
    let width = GROUPS
        .iter()
        .flat_map(|(_, v)| v.iter())
        .map(|v| v.len())
        .max()
        .unwrap_or(0);
    let mut groups = String::new();
    for (group, verbs) in GROUPS {
        groups.push_str(&format!("{group}:\n"));
        for verb in *verbs {
            let about = cmd
                .find_subcommand(verb)
                .and_then(|s| s.get_about())
                .map(|a| a.to_string())
                .unwrap_or_default();
            groups.push_str(&format!("  {verb:<width$}  {about}\n"));
        }
        groups.push('\n');
    }
    cmd.help_template(format!(
        "{{before-help}}{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\n{groups}Options:\n{{options}}\n\n\
         `weir VERB --help` says more; docs/reference.md has every key of weir.toml.{{after-help}}"
    ))
}

/// Answers a shell's completion request (when `COMPLETE` is set), then exits;
/// otherwise returns at once.
pub fn complete_if_asked() {
    clap_complete::CompleteEnv::with_factory(command)
        .var(COMPLETE_VAR)
        .complete();
}

/// The script that registers weir's completions with `shell`.
pub fn write_completions(shell: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    let shells = clap_complete::env::Shells::builtins();
    let Some(completer) = shells.completer(shell) else {
        anyhow::bail!(crate::UserError::new(
            format!("no completions for `{shell}`"),
            "use bash, zsh, fish, powershell or elvish",
        ));
    };
    // The script calls this very binary back, so completion works off PATH too.
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(str::to_string))
        .unwrap_or_else(|| "weir".to_string());
    completer.write_registration(COMPLETE_VAR, "weir", "weir", &exe, out)?;
    Ok(())
}

/// Man pages: `weir.1`, and `weir-VERB.1` for each verb when `dir` is given.
pub fn write_man(dir: Option<&Path>, out: &mut dyn Write) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let cmd = command();
    let Some(dir) = dir else {
        clap_mangen::Man::new(cmd).render(out)?;
        return Ok(Vec::new());
    };
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut page = |name: String, cmd: clap::Command| -> anyhow::Result<()> {
        let path = dir.join(format!("{name}.1"));
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd).title(name.to_uppercase()).render(&mut buf)?;
        std::fs::write(&path, buf)?;
        written.push(path);
        Ok(())
    };
    page("weir".into(), cmd.clone())?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let full = format!("weir {}", sub.get_name());
        page(
            format!("weir-{}", sub.get_name()),
            sub.clone().bin_name(&full).display_name(&full),
        )?;
    }
    Ok(written)
}

/// The project's `weir.toml` as a TOML table, for completion: the nearest one
/// up from the current directory. Invalid definitions still complete.
fn project_toml() -> Option<toml::Table> {
    let cwd = std::env::current_dir().ok()?;
    let dir = cwd
        .ancestors()
        .find(|d| d.join(weir_core::load::PROJECT_FILE).is_file())?;
    let text = std::fs::read_to_string(dir.join(weir_core::load::PROJECT_FILE)).ok()?;
    text.parse::<toml::Table>().ok()
}

fn names_in(table: &str, current: &OsStr) -> Vec<CompletionCandidate> {
    let prefix = current.to_string_lossy();
    let Some(doc) = project_toml() else {
        return Vec::new();
    };
    let Some(entries) = doc.get(table).and_then(|t| t.as_table()) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter(|(name, _)| name.starts_with(prefix.as_ref()))
        .map(|(name, def)| {
            let help = def
                .get("description")
                .and_then(|d| d.as_str())
                .map(|d| d.to_string().into());
            CompletionCandidate::new(name.clone()).help(help)
        })
        .collect()
}

/// Completes a dataset name from the project's `[datasets.*]`.
pub fn datasets(current: &OsStr) -> Vec<CompletionCandidate> {
    names_in("datasets", current)
}

/// Completes a selector name from the project's `[selectors.*]`.
pub fn selectors(current: &OsStr) -> Vec<CompletionCandidate> {
    names_in("selectors", current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_groups_name_every_verb_once_and_nothing_else() {
        let cmd = Cli::command();
        let real: Vec<&str> = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| s.get_name())
            .collect();
        let mut grouped: Vec<&str> = GROUPS.iter().flat_map(|(_, v)| v.iter().copied()).collect();
        for verb in &real {
            let n = grouped.iter().filter(|g| *g == verb).count();
            assert_eq!(n, 1, "`weir {verb}` must be in exactly one group of cli::shell::GROUPS");
        }
        grouped.retain(|g| !real.contains(g));
        assert!(grouped.is_empty(), "GROUPS names verbs that do not exist: {grouped:?}");
        let groups: Vec<&str> = GROUPS.iter().map(|(g, _)| *g).collect();
        assert_eq!(
            groups,
            ["Build", "Inspect", "Environments", "Repair", "Service", "Tools"]
        );
    }

    #[test]
    fn the_help_lists_verbs_by_group_with_their_about() {
        let help = command().render_help().to_string();
        let build = help.find("Build:").expect("a Build group");
        let tools = help.find("Tools:").expect("a Tools group");
        assert!(build < tools);
        assert!(help.contains("  validate "), "{help}");
        assert!(
            !help.contains("Commands:"),
            "verbs appear only in their groups:\n{help}"
        );
        command().debug_assert();
    }
}
