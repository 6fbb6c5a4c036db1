//! Foreign text in messages (STS answers, file contents, flag values): control characters
//! dropped so nothing can move the cursor, clear the screen or write the clipboard, and capped.
#![forbid(unsafe_code)]

/// At most `max` characters of `text` without control characters; a cut is marked.
pub fn clean(text: &str, max: usize) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    let count = clean.chars().count();
    if count > max + 6 {
        let head: String = clean.chars().take(max).collect();
        format!("{head}… ({count} characters)")
    } else {
        clean
    }
}

/// A value the user typed or a file held, as a message repeats it.
pub fn shown(text: &str) -> String {
    clean(text, 64)
}

/// A URL as messages show it: user-info (`user:password@`) removed, cleaned and capped. The
/// URL is parsed by [`http::Uri`]; text that does not parse is shown only when it holds no
/// `@` (which could introduce a password).
pub fn redact_url(url: &str) -> String {
    let parsed = url.parse::<http::Uri>().ok();
    let redacted = match parsed
        .as_ref()
        .and_then(|u| Some((u.scheme_str()?, u.authority()?)))
    {
        Some((scheme, authority)) => {
            // What follows the authority, as written (`Uri` would show an absent path as "/").
            let after = url
                .find("://")
                .map_or("", |i| &url[i + 3 + authority.as_str().len()..]);
            let host_port = match authority.port() {
                Some(port) => format!("{}:{port}", authority.host()),
                None => authority.host().to_string(),
            };
            format!("{scheme}://{host_port}{after}")
        }
        None if !url.contains('@') => url.to_string(),
        None => "(a URL that does not parse)".to_string(),
    };
    clean(&redacted, 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_dropped_and_length_capped() {
        assert_eq!(
            clean("a\u{1b}]52;c;eA==\u{7}b\u{1b}[2J", 64),
            "a]52;c;eA==b[2J"
        );
        assert_eq!(
            shown(&"x".repeat(500)),
            format!("{}… (500 characters)", "x".repeat(64))
        );
        assert_eq!(clean("short", 3), "short");
    }

    #[test]
    fn urls_lose_their_user_info() {
        assert_eq!(
            redact_url("http://user:pa55@sts.example:8080/x?y"),
            "http://sts.example:8080/x?y"
        );
        assert_eq!(
            redact_url("https://sts.us-east-1.amazonaws.com"),
            "https://sts.us-east-1.amazonaws.com"
        );
        assert_eq!(
            redact_url("HTTP://u@[::1]:5000/p?q"),
            "http://[::1]:5000/p?q"
        );
        assert_eq!(redact_url("http://u:p@h:1/"), "http://h:1/");
        assert_eq!(redact_url("no url@all here"), "(a URL that does not parse)");
        assert_eq!(redact_url("http://h/\u{1b}[2J"), "http://h/[2J");
    }
}
