//! `--server` (DESIGN §8): the wiring between the provider and [`crate::server`], which knows
//! nothing of accounts, caches or STS. The first session is resolved as exec mode resolves it
//! (a prompt is allowed: the command has not started); the same provider then renews, with
//! the served kind's cache entry required to outlast the refresh window, and never prompts.
#![forbid(unsafe_code)]

use super::{Outcome, Prepared};
use crate::accounts::AccountName;
use crate::env::Environment;
use crate::error::{Error, Result};
use crate::exec;
use crate::provider::{CodeSource, MfaCodes, MfaFrom, Provider, Request, Start, Wants};
use crate::report::Reporter;
use crate::secret::MfaCode;
use crate::server::{self, RefreshWindow, Renewer};
use crate::session::Credentials;
use crate::sts::LazySts;
use std::ffi::OsString;
use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// What `--server` cannot serve; `Display` is the sentence.
#[derive(Debug)]
pub enum ServeRefusal {
    /// Long-lived keys need no renewal: exec mode serves them.
    OnlyLongLivedKeys { account: AccountName },
    /// A renewal needs a new MFA session and only the prompt could give a code.
    WouldPrompt { account: AccountName },
}

impl fmt::Display for ServeRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeRefusal::OnlyLongLivedKeys { account } => write!(
                f,
                "--server renews sessions, and account {account} has only its long-lived keys here, which need no renewal; drop --server (exec mode gives the keys to the command) or add --mfa or --role"
            ),
            ServeRefusal::WouldPrompt { account } => write!(
                f,
                "the MFA session of account {account} ends within the refresh window and --server never prompts; run `{}` in another terminal",
                crate::server::refresh_command(account.as_str())
            ),
        }
    }
}

impl std::error::Error for ServeRefusal {}

/// The request of every renewal: the first one's, without a code or `--refresh`. Serving the
/// account's own session (no role), that session is the MFA session (long-lived keys are
/// refused), and renewals can only pick up a new one from the cache or the `mfa_process`.
fn renewal_request(first: Request) -> Request {
    let renewed = |start: Start| match start {
        Start::Keys => Start::Keys,
        Start::Ambient | Start::Mfa(_) => Start::Mfa(MfaFrom::Usual),
    };
    let wants = match first.wants {
        Wants::Session(start) => Wants::Session(renewed(start)),
        Wants::Role {
            role,
            from: Start::Mfa(_),
            assume,
        } => Wants::Role {
            role,
            from: Start::Mfa(MfaFrom::Usual),
            assume,
        },
        wants @ (Wants::Role { .. } | Wants::WebIdentity { .. }) => wants,
    };
    Request {
        wants,
        refresh: false,
        ..first
    }
}

/// Serves the first session and its renewals to the command until it ends.
/// `min_ttl_given`: `STSEXEC_MIN_TTL` when set, which is then the refresh window as given
/// (DESIGN §8).
pub(super) fn serve(
    prepared: Prepared,
    command: Vec<OsString>,
    min_ttl_given: Option<Duration>,
    current: &Environment,
    report: Reporter,
    renewal_report: Reporter,
) -> Result<Outcome> {
    let Prepared {
        mut provider,
        request,
        region,
        accounts: _,
        outbound: _,
    } = prepared;
    let session = provider.resolve(&request)?;
    if !session.credentials.is_session() {
        return Err(ServeRefusal::OnlyLongLivedKeys {
            account: provider.setup.account.clone(),
        }
        .into());
    }
    // Not `child_env`: its debug line names the credential variables, which the command does
    // not get; `server::run` says what it gets.
    let child = super::env_plan(&session, &region.name, &request);
    let window = RefreshWindow::from_min_ttl(min_ttl_given);
    let renewal = Renewal {
        request: renewal_request(request),
        provider: Provider {
            setup: provider.setup,
            sts: provider.sts.without_announcements(),
            codes: NoPrompt {
                command: provider.codes.codes.renewal_copy().map(|codes| MfaCodes {
                    codes,
                    env: provider.codes.env.clone(),
                    report: renewal_report,
                }),
            },
            report: renewal_report,
        },
    };
    let shell = command.is_empty();
    let (program, args) = exec::command_or_shell(command, current);
    report.status(format!(
        "Serving keys for {} AWS account to the command",
        session.label
    ));
    if shell && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        report.status(server::SUBSHELL_HINT);
    }
    let plan = server::ServerPlan {
        session,
        program,
        args,
        current: current.clone(),
        exec_env: child,
        window,
        report,
    };
    Ok(Outcome::Served(server::run(plan, renewal)?))
}

/// The renewal side of a `--server` run: the provider of the first resolve, asked the same
/// request without a code or `--refresh`, for a session that outlasts the refresh window.
struct Renewal {
    provider: Provider<LazySts, NoPrompt>,
    request: Request,
}

impl Renewer for Renewal {
    type Error = Error;

    fn renew(&mut self, valid_for: Duration) -> Result<Credentials> {
        self.provider.setup.min_ttl = valid_for;
        self.provider
            .resolve(&self.request)
            .map(|session| session.credentials)
    }

    fn source_end(&self) -> Option<(SystemTime, String)> {
        // With an mfa_process the server renews the MFA session itself: nothing to remind.
        if !self.request.wants_mfa() || self.provider.codes.command.is_some() {
            return None;
        }
        let end = self.provider.cached_mfa_end()?;
        Some((
            end,
            server::refresh_command(&self.provider.setup.account.to_string()),
        ))
    }
}

/// The code source of renewals: the command owns the terminal, so a renewal never prompts.
/// With an `mfa_process` it runs the command again (a fresh try count each renewal);
/// otherwise a renewal that needs a new MFA session fails with the sentence that names the
/// command to run in another terminal.
struct NoPrompt {
    command: Option<MfaCodes>,
}

impl NoPrompt {
    fn refusal(account: &AccountName) -> Error {
        ServeRefusal::WouldPrompt {
            account: account.clone(),
        }
        .into()
    }
}

impl CodeSource for NoPrompt {
    fn prompts(&self) -> bool {
        false
    }

    fn next(
        &mut self,
        account: &AccountName,
        serial: &str,
        ledger: &Path,
        rejected: bool,
    ) -> Result<Option<MfaCode>> {
        let Some(command) = self.command.as_mut() else {
            return Err(Self::refusal(account));
        };
        if !rejected && let Some(fresh) = command.codes.renewal_copy() {
            command.codes = fresh;
        }
        command.next(account, serial, ledger, rejected)
    }

    fn accepted(
        &mut self,
        account: &AccountName,
        serial: &str,
        ledger: &Path,
        code: &MfaCode,
    ) -> Result<()> {
        match self.command.as_mut() {
            Some(command) => command.accepted(account, serial, ledger, code),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewals_ask_the_same_without_a_code_or_refresh() {
        use crate::provider::durations;
        let code = MfaCode::parse("123456").unwrap();
        let request = |wants| Request {
            wants,
            durations: durations::plan(None, true, false).unwrap(),
            refresh: true,
        };
        // Serving the account's own session: it is the MFA session, renewed from the cache.
        for start in [Start::Ambient, Start::Mfa(MfaFrom::Code(code.clone()))] {
            let renewal = renewal_request(request(Wants::Session(start)));
            assert!(!renewal.refresh);
            assert!(matches!(
                renewal.wants,
                Wants::Session(Start::Mfa(MfaFrom::Usual))
            ));
        }
        let role = crate::accounts::Role {
            arn: "arn:aws:iam::123456789012:role/admin".into(),
            account_id: "123456789012".into(),
            name: "admin".into(),
        };
        let renewal = renewal_request(request(Wants::Role {
            role: role.clone(),
            from: Start::Mfa(MfaFrom::Code(code)),
            assume: crate::provider::AssumeOptions::default(),
        }));
        assert!(renewal.wants_mfa());
        assert!(matches!(
            renewal.wants,
            Wants::Role {
                from: Start::Mfa(MfaFrom::Usual),
                ..
            }
        ));
        // A role from the cached MFA session or the keys stays so: renewals never ask for a code.
        let renewal = renewal_request(request(Wants::Role {
            role,
            from: Start::Ambient,
            assume: crate::provider::AssumeOptions::default(),
        }));
        assert!(!renewal.wants_mfa());
    }

    #[test]
    fn renewals_never_prompt_and_name_the_command_that_renews() {
        let account = AccountName::parse(std::ffi::OsStr::new("work")).unwrap();
        let error = NoPrompt { command: None }
            .next(
                &account,
                "arn:aws:iam::123456789012:mfa/alice",
                Path::new("/nonexistent/ledger"),
                false,
            )
            .unwrap_err();
        assert_eq!(error.exit_code(), crate::error::EXIT_FAILED);
        let sentence = error.to_string();
        assert!(sentence.contains("never prompts"), "{sentence}");
        assert!(
            sentence.contains("run `stsexec work --mfa --refresh -- true` in another terminal"),
            "{sentence}"
        );
    }
}
