//! Which program opens the local redirect: `$BROWSER`, else `xdg-open`.
//!
//! `$BROWSER` is read as Python's `webbrowser` module (which the AWS CLI uses) and xdg-utils
//! read it: a `:`-separated list of commands, tried in order; each is split into words as a
//! shell would split it (quotes and backslashes, no expansion, no shell run); a word holding
//! `%s` gets the URL in its place, else the URL is the last argument. The URL is always the
//! local redirect's, never the sign-in URL.
#![forbid(unsafe_code)]

use crate::env::Environment;
use std::ffi::OsString;

/// One command that may open the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The words, `%s` still in place (the URL is put in by [`Candidate::argv`]).
    words: Vec<String>,
    /// Where it came from, for messages: `BROWSER` or `xdg-open`.
    pub from_browser_variable: bool,
}

impl Candidate {
    /// One command as a `$BROWSER` entry gives it; `None` when it has no words.
    pub fn from_command(command: &str) -> Option<Candidate> {
        split_words(command).map(|words| Candidate {
            words,
            from_browser_variable: true,
        })
    }

    /// The program as messages name it (its first word).
    pub fn program(&self) -> &str {
        &self.words[0]
    }

    /// The command line with `url` in place.
    pub fn argv(&self, url: &str) -> Vec<OsString> {
        let placeholder = self.words.iter().any(|w| w.contains("%s"));
        let mut argv: Vec<OsString> = self
            .words
            .iter()
            .map(|w| OsString::from(w.replace("%s", url)))
            .collect();
        if !placeholder {
            argv.push(url.into());
        }
        argv
    }
}

/// The commands to try, in order: each of `$BROWSER`'s, then `xdg-open`.
pub fn candidates(current: &Environment) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = current
        .get("BROWSER")
        .unwrap_or("")
        .split(':')
        .filter_map(Candidate::from_command)
        .collect();
    out.push(Candidate {
        words: vec!["xdg-open".to_string()],
        from_browser_variable: false,
    });
    out
}

/// Shell-like word splitting: blanks separate words; single quotes keep everything, double
/// quotes keep all but `\"` and `\\`, a backslash outside quotes keeps the next character.
/// `None` for an empty command or an unclosed quote.
fn split_words(command: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            c @ ('"' | '\\' | '$' | '`') => word.push(c),
                            c => {
                                word.push('\\');
                                word.push(c);
                            }
                        },
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.push(chars.next()?);
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    (!words.is_empty()).then_some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(browser: Option<&str>) -> Environment {
        Environment::from_pairs(browser.map(|b| ("BROWSER", b)))
    }

    fn argvs(browser: Option<&str>) -> Vec<Vec<String>> {
        candidates(&env(browser))
            .iter()
            .map(|c| {
                c.argv("http://127.0.0.1:1/p")
                    .into_iter()
                    .map(|a| a.into_string().unwrap())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn browser_is_a_list_of_commands_then_xdg_open() {
        assert_eq!(argvs(None), [["xdg-open", "http://127.0.0.1:1/p"]]);
        assert_eq!(argvs(Some("")), [["xdg-open", "http://127.0.0.1:1/p"]]);
        assert_eq!(
            argvs(Some("firefox --new-tab::w3m")),
            vec![
                vec!["firefox", "--new-tab", "http://127.0.0.1:1/p"],
                vec!["w3m", "http://127.0.0.1:1/p"],
                vec!["xdg-open", "http://127.0.0.1:1/p"],
            ]
        );
        assert_eq!(
            argvs(Some("'/opt/My Browser/run' --url=%s --x"))[0],
            ["/opt/My Browser/run", "--url=http://127.0.0.1:1/p", "--x"]
        );
        assert_eq!(
            argvs(Some(r#"sh -c "echo \"\$1\" > /tmp/x" a\ b"#))[0],
            [
                "sh",
                "-c",
                "echo \"$1\" > /tmp/x",
                "a b",
                "http://127.0.0.1:1/p"
            ]
        );
        let candidates = candidates(&env(Some("open 'unclosed")));
        assert_eq!(candidates.len(), 1, "an unclosed quote is skipped");
        assert!(!candidates[0].from_browser_variable);
        assert_eq!(candidates[0].program(), "xdg-open");
    }
}
