//! Normalizes a git remote to the repository path, lowercased, the way the `sfs` client does,
//! so every URL form of one repository names the same project:
//! `git@github.com:Acme/App.git`, `https://github.com/acme/app` → `acme/app`.
//! Remotes whose path means nothing without the host (home directories, absolute paths on a
//! personal server) keep the whole remote.

use std::sync::LazyLock;

use regex::Regex;

static URL_FORM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(https?|ssh|git|git\+ssh|ssh\+git)://(?:([^@/]*)@)?[^/]+/(.+)$")
        .expect("regex compiles")
});
static SCP_FORM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:([^@/:]+)@)?([^/:]{2,}):(.+)$").expect("regex compiles"));

pub fn normalize(remote: &str) -> String {
    let url = remote.trim();
    if url.is_empty() {
        return String::new();
    }
    let path = if let Some(c) = URL_FORM.captures(url) {
        let scheme = c[1].to_ascii_lowercase();
        let user = c.get(2).map(|m| m.as_str());
        let path = &c[3];
        if path.starts_with('~') && user != Some("git") && !scheme.starts_with("http") {
            url
        } else {
            c.get(3).map_or(url, |m| m.as_str())
        }
    } else if let Some(c) = SCP_FORM.captures(url).filter(|c| !c[3].starts_with("//")) {
        let user = c.get(1).map(|m| m.as_str());
        let path = c.get(3).map_or(url, |m| m.as_str());
        if user != Some("git") && path.starts_with(['/', '~']) {
            url
        } else {
            path
        }
    } else {
        url
    };
    let path = path.trim_end_matches('/');
    let path = if path.to_ascii_lowercase().ends_with(".git") {
        &path[..path.len() - 4]
    } else {
        path
    };
    path.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn forms_of_one_repository_agree() {
        for remote in [
            "git@github.com:Acme/App.git",
            "https://github.com/acme/app.git",
            "HTTPS://GitHub.com/Acme/App/",
            "ssh://git@github.com:2222/acme/app.git",
            "acme/app.git",
        ] {
            assert_eq!(normalize(remote), "acme/app", "{remote}");
        }
        assert_eq!(normalize("alice@box:~/app"), "alice@box:~/app");
        assert_eq!(normalize("box:/srv/app"), "box:/srv/app");
        assert_eq!(normalize(""), "");
    }
}
