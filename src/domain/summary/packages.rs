//! Package names in install commands (`pip install`, `npm i`, `cargo add`, `yarn add`, `pnpm add`),
//! read with a small shell tokenizer so quoting, flags with values and redirects are understood.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

use super::{insert_bounded, MAX_LISTED};

#[derive(Clone, Copy, PartialEq)]
enum Manager {
    Pip,
    Npm,
    Yarn,
    Pnpm,
    Cargo,
}

const PIP_VALUE_FLAGS: &[&str] = &[
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-e",
    "--editable",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-t",
    "--target",
    "--prefix",
    "--root",
    "--src",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--upgrade-strategy",
    "--log",
    "--cache-dir",
    "--trusted-host",
    "--proxy",
    "--timeout",
    "--retries",
    "--no-binary",
    "--only-binary",
    "-C",
    "--config-settings",
    "--progress-bar",
    "--report",
    "--python",
];
const JS_VALUE_FLAGS: &[&str] = &[
    "--registry",
    "--prefix",
    "--tag",
    "--workspace",
    "--omit",
    "--include",
    "--cache",
    "--filter",
    "--cwd",
];
const CARGO_VALUE_FLAGS: &[&str] = &[
    "-F",
    "--features",
    "-p",
    "--package",
    "--path",
    "--git",
    "--branch",
    "--tag",
    "--rev",
    "--rename",
    "--registry",
    "--target",
    "--manifest-path",
    "--lockfile-path",
    "--color",
    "--config",
    "-Z",
];

impl Manager {
    /// The manager whose install verb is `tokens[0] tokens[1]`.
    fn at(tokens: &[Token]) -> Option<Manager> {
        let (tool, verb) = (tokens.first()?, tokens.get(1)?);
        let tool = tool.text.rsplit('/').next().unwrap_or("");
        match (tool, verb.text.as_str()) {
            ("pip" | "pip3", "install") => Some(Manager::Pip),
            ("npm", "install" | "i" | "add") => Some(Manager::Npm),
            ("yarn", "add") => Some(Manager::Yarn),
            ("pnpm", "add") => Some(Manager::Pnpm),
            ("cargo", "add") => Some(Manager::Cargo),
            _ => None,
        }
    }

    fn takes_value(self, flag: &str) -> bool {
        match self {
            Manager::Pip => PIP_VALUE_FLAGS.contains(&flag),
            Manager::Npm => flag == "-w" || JS_VALUE_FLAGS.contains(&flag),
            Manager::Yarn | Manager::Pnpm => JS_VALUE_FLAGS.contains(&flag),
            Manager::Cargo => CARGO_VALUE_FLAGS.contains(&flag),
        }
    }

    /// The package name of an argument, without version or extras; `None` for paths, URLs,
    /// archives and anything that is not a plain (or npm-scoped) name.
    fn name_of(self, arg: &str) -> Option<String> {
        let local = arg.starts_with(['.', '/', '~', '$'])
            || arg.contains("://")
            || arg.starts_with("git+")
            || [".whl", ".tar.gz", ".tgz", ".zip", ".txt"]
                .iter()
                .any(|ext| arg.ends_with(ext));
        if local {
            return None;
        }
        let name = match self {
            Manager::Pip => arg
                .split(|c: char| "=<>!~;[@( ".contains(c))
                .next()
                .unwrap_or(""),
            Manager::Npm | Manager::Yarn | Manager::Pnpm => match arg.strip_prefix('@') {
                Some(rest) => &arg[..rest.find('@').map_or(arg.len(), |i| i + 1)],
                None => arg.split('@').next().unwrap_or(""),
            },
            Manager::Cargo => arg.split('@').next().unwrap_or(""),
        };
        PACKAGE_NAME.is_match(name).then(|| name.to_string())
    }
}

static PACKAGE_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:@[A-Za-z0-9._-]+/)?[A-Za-z0-9][A-Za-z0-9._-]{0,213}$").expect("regex compiles")
});
static REDIRECT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d*[<>]").expect("regex compiles"));

struct Token {
    text: String,
    /// The raw token began with a quote: `">=1"` is an argument, `>` a redirection.
    quoted: bool,
}

/// Splits a shell command into simple commands (at `;`, `&`, `|` and newlines outside
/// quotes) of whitespace-separated words, honouring quotes and backslashes (a backslash
/// before a newline continues the line). Good enough for install commands; not a shell.
fn shell_words(command: &str) -> Vec<Vec<Token>> {
    let mut segments = vec![Vec::new()];
    let mut word: Option<Token> = None;
    let mut quote: Option<char> = None;
    let mut chars = command.chars();
    fn end_word(segments: &mut [Vec<Token>], word: &mut Option<Token>) {
        if let (Some(w), Some(segment)) = (word.take(), segments.last_mut()) {
            segment.push(w);
        }
    }
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            } else if c == '\\' && q == '"' {
                if let Some(next) = chars.next() {
                    word.get_or_insert_with(|| Token {
                        text: String::new(),
                        quoted: true,
                    })
                    .text
                    .push(next);
                }
            } else {
                word.get_or_insert_with(|| Token {
                    text: String::new(),
                    quoted: true,
                })
                .text
                .push(c);
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                word.get_or_insert_with(|| Token {
                    text: String::new(),
                    quoted: true,
                });
            }
            '\\' => match chars.next() {
                Some('\n') | None => {}
                Some(next) => word
                    .get_or_insert_with(|| Token {
                        text: String::new(),
                        quoted: false,
                    })
                    .text
                    .push(next),
            },
            ';' | '&' | '|' | '\n' => {
                end_word(&mut segments, &mut word);
                if segments.last().is_some_and(|s| !s.is_empty()) {
                    segments.push(Vec::new());
                }
            }
            c if c.is_whitespace() => end_word(&mut segments, &mut word),
            c => word
                .get_or_insert_with(|| Token {
                    text: String::new(),
                    quoted: false,
                })
                .text
                .push(c),
        }
    }
    end_word(&mut segments, &mut word);
    segments
}

/// Adds the packages that `pip install`, `npm install`/`npm i`, `cargo add`, `yarn add` and
/// `pnpm add` name in `command` (also after `sudo`, `python -m`, `uv`, a path to pip, …).
pub(super) fn packages_in(command: &str, packages: &mut BTreeSet<String>) {
    for segment in shell_words(command) {
        let Some(start) = (0..segment.len()).find(|&i| Manager::at(&segment[i..]).is_some()) else {
            continue;
        };
        let Some(manager) = Manager::at(&segment[start..]) else {
            continue;
        };
        let mut args = segment[start + 2..].iter();
        while let Some(arg) = args.next() {
            if !arg.quoted && REDIRECT.is_match(&arg.text) {
                break;
            }
            if arg.text.starts_with('-') {
                if !arg.text.contains('=') && manager.takes_value(&arg.text) {
                    args.next();
                }
                continue;
            }
            if let Some(name) = manager.name_of(&arg.text) {
                insert_bounded(packages, name, MAX_LISTED);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::summary::tests::{bash, summary_of};

    #[test]
    fn packages_from_install_commands() {
        let mut found = BTreeSet::new();
        for command in [
            "pip install -r requirements.txt requests==2.31 'flask[async]>=2' . -e ./lib",
            "cd app && npm i -D @types/node@20 lodash && npm install",
            "cargo add serde@1 --features derive tokio -F full",
            "yarn add react@^18 > /dev/null 2>&1; pnpm add zod --filter web",
            "sudo pip3 install --index-url https://example.org/simple numpy \\\n  Pandas~=2.0",
            "python -m pip install --upgrade pip https://x.org/a.whl ./dist/b.tar.gz $PKG",
            "npm install github:user/repo user/repo @scope/pkg",
            "git commit -m 'npm i not-a-package'",
        ] {
            packages_in(command, &mut found);
        }
        let found: Vec<_> = found.into_iter().collect();
        assert_eq!(
            found,
            vec![
                "@scope/pkg",
                "@types/node",
                "Pandas",
                "flask",
                "lodash",
                "numpy",
                "pip",
                "react",
                "requests",
                "serde",
                "tokio",
                "zod"
            ]
        );

        let s = summary_of(&[bash("x", "pip install httpx==0.27 && npm i left-pad")]);
        assert_eq!(s.packages_installed, vec!["httpx", "left-pad"]);
    }
}
