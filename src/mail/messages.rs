//! The messages: plain text whose only links point at the server's own `--public-url`, with
//! user-supplied text flattened to one line before it reaches a subject.

use super::SUBJECT_PART_CHARS;

fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let words: Vec<&str> = flat.split_whitespace().collect();
    let joined = words.join(" ");
    if joined.chars().count() <= max {
        joined
    } else {
        let mut cut: String = joined.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// User text quoted in a body: each line prefixed with `> `, control characters other than the
/// line break dropped (no terminal escapes in a mail read in a terminal).
fn quoted(text: &str) -> String {
    text.lines()
        .map(|line| {
            let clean: String = line.chars().filter(|c| !c.is_control()).collect();
            format!("> {}", clean.trim_end())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn base(public_url: &str) -> &str {
    public_url.trim_end_matches('/')
}

const FOOTER: &str = "If you did not expect this email, you can ignore it.";

/// The email-address verification mail: `(subject, body)`. The link is
/// `{public_url}/api/v1/auth/verify?token=…`.
pub fn verification_message(public_url: &str, token: &str) -> (String, String) {
    let base = base(public_url);
    let token: String = form_urlencoded::byte_serialize(token.as_bytes()).collect();
    let subject = "Verify your email address for SessionFS".to_string();
    let body = format!(
        "Welcome to SessionFS.\n\
         \n\
         Open this link to verify your email address and turn on cloud sync:\n\
         \n\
         {base}/api/v1/auth/verify?token={token}\n\
         \n\
         The account is on the SessionFS server at:\n\
         {base}\n\
         \n\
         If you did not create it, ignore this email: the account stays unverified.\n"
    );
    (subject, body)
}

/// The org invite mail: `(subject, body)`. It gives the invite id and the accept route,
/// `POST {public_url}/api/v1/org/invite/{invite_id}/accept`, as a command to run: the `sfs`
/// client (0.26) has `sfs org invite` but no command to accept one.
pub fn invite_message(
    public_url: &str,
    org_name: &str,
    inviter_email: &str,
    invite_id: &str,
    role: &str,
) -> (String, String) {
    let base = base(public_url);
    let org = one_line(org_name, SUBJECT_PART_CHARS);
    let inviter = one_line(inviter_email, SUBJECT_PART_CHARS);
    let role = one_line(role, 20);
    let id = one_line(invite_id, 64);
    let subject = format!("{inviter} invited you to {org} on SessionFS");
    let body = format!(
        "You are invited to join an organization on the SessionFS server at:\n\
         {base}\n\
         \n\
         Organization: {org}\n\
         Role:         {role}\n\
         Invited by:   {inviter}\n\
         \n\
         To accept:\n\
         \n\
         1. If you have no account on this server yet, create one with the\n\
         \x20  address this email was sent to:\n\
         \n\
         \x20    sfs auth signup --url {base}\n\
         \n\
         2. Accept the invite with your API key (the one sfs auth signup printed):\n\
         \n\
         \x20    curl -X POST -H \"Authorization: Bearer YOUR_API_KEY\" \\\n\
         \x20         {base}/api/v1/org/invite/{id}/accept\n\
         \n\
         \x20  That is POST {base}/api/v1/org/invite/{id}/accept\n\
         \x20  with your key, from any HTTP client.\n\
         \n\
         Invite ID: {id}\n\
         The invite expires 7 days after it was sent.\n\
         \n\
         {FOOTER}\n"
    );
    (subject, body)
}

/// The handoff notice: `(subject, body)`. It tells the recipient to run
/// `sfs pull-handoff <handoff_id>`, and quotes the sender's message if there is one.
pub fn handoff_message(
    public_url: &str,
    sender_email: &str,
    session_title: &str,
    handoff_id: &str,
    message: Option<&str>,
) -> (String, String) {
    let base = base(public_url);
    let sender = one_line(sender_email, SUBJECT_PART_CHARS);
    let title = match one_line(session_title, SUBJECT_PART_CHARS) {
        t if t.is_empty() => "Untitled session".to_string(),
        t => t,
    };
    let id = one_line(handoff_id, 64);
    let subject = format!("{sender} handed off a session to you: {title}");
    let note = match message.map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => format!("Message from {sender}:\n\n{}\n\n", quoted(m)),
        None => String::new(),
    };
    let body = format!(
        "A session was handed off to you on the SessionFS server at:\n\
         {base}\n\
         \n\
         Session: {title}\n\
         From:    {sender}\n\
         \n\
         {note}\
         To pull it into your tools, run:\n\
         \n\
         \x20    sfs pull-handoff {id}\n\
         \n\
         The sfs client must be signed in to this server:\n\
         \n\
         \x20    sfs auth login --url {base}\n\
         \n\
         Summary:    {base}/api/v1/handoffs/{id}/summary\n\
         Handoff ID: {id}\n\
         \n\
         {FOOTER}\n"
    );
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::has_line_break;

    #[test]
    fn user_text_cannot_break_a_subject() {
        let (subject, body) = invite_message(
            "https://sfs.example.org/",
            "Evil\r\nBcc: victim@example.org",
            "admin@example.org",
            "inv_0123456789abcdef",
            "member",
        );
        assert!(!has_line_break(&subject), "{subject:?}");
        assert!(subject.contains("Evil Bcc: victim@example.org"));
        assert!(
            body.contains("https://sfs.example.org/api/v1/org/invite/inv_0123456789abcdef/accept")
        );
        assert!(!body.contains("org//"));

        let long = "x".repeat(500);
        let (subject, _) = handoff_message("http://h", "a@b.c", &long, "hnd_1", None);
        assert!(subject.chars().count() < 160, "{subject}");
    }

    #[test]
    fn messages_link_only_to_the_public_url() {
        let base = "https://sfs.internal.example";
        let (_, verify) = verification_message(base, "abc+/=def");
        let (_, invite) = invite_message(base, "Acme", "boss@acme.test", "inv_1", "admin");
        let (_, handoff) = handoff_message(
            base,
            "alice@acme.test",
            "Fix the parser",
            "hnd_abc",
            Some("see line 3\n\u{1b}[31mred"),
        );
        assert!(verify.contains(&format!("{base}/api/v1/auth/verify?token=abc%2B%2F%3Ddef")));
        assert!(handoff.contains("sfs pull-handoff hnd_abc"));
        assert!(handoff.contains("> see line 3\n> [31mred"));
        for body in [&verify, &invite, &handoff] {
            for word in body.split_whitespace() {
                if word.contains("://") {
                    let link = word.trim_start_matches(['"', '(']);
                    assert!(link.starts_with(base), "foreign link {word} in {body}");
                }
            }
            assert!(!body.contains("sessionfs.dev"));
        }
    }
}
