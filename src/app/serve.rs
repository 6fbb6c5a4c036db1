//! `--server` (DESIGN §8): the wiring between the provider and [`crate::server`], which knows
//! nothing of accounts, caches or STS. The first session is resolved as exec mode resolves it
//! (a prompt is allowed: the command has not started); the same provider then renews, with
//! the served kind's cache entry required to outlast the refresh window, and never prompts.
#![forbid(unsafe_code)]

use super::{Outcome, Prepared};
use crate::accounts::AccountName;
use crate::cli::Cli;
use crate::env::Environment;
use crate::error::{Error, Result};
use crate::exec;
use crate::provider::{CodeSource, MfaCodes, Provider, Request, parse_min_ttl};
use crate::report::Reporter;
use crate::secret::MfaCode;
use crate::server::{self, RefreshWindow, Renewer, ServerError};
use crate::session::Credentials;
use crate::sts::LazySts;
use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// `--server` with an output mode: one sentence (clap's conflict error is several lines).
pub(super) fn refuse_output(cli: &Cli) -> Result<()> {
    if cli.output.json || cli.output.credential_process || cli.output.export.is_some() {
        return Err(ServerError::WithOutputMode.into());
    }
    Ok(())
}

/// Serves the first session and its renewals to the command until it ends.
pub(super) fn serve(
    prepared: Prepared,
    command: Vec<OsString>,
    current: &Environment,
    report: Reporter,
    renewal_report: Reporter,
) -> Result<Outcome> {
    let Prepared {
        mut provider,
        request,
        region,
        inherited_region: _,
    } = prepared;
    let session = provider.resolve(&request)?;
    if !session.credentials.is_session() {
        return Err(ServerError::LongLivedKeys {
            account: provider.setup.account.to_string(),
        }
        .into());
    }
    // Not `child_env`: its debug line names the credential variables, which the command does
    // not get; `server::run` says what it gets.
    let child = super::env_plan(&session, &region, &request);
    let window = RefreshWindow::from_min_ttl(
        current
            .get_os("STSEXEC_MIN_TTL")
            .map(|value| parse_min_ttl(Some(value)))
            .transpose()?,
    );
    let renewal = Renewal {
        request: Request {
            token: None,
            refresh: false,
            // Serving the MFA session itself: renewals can only pick up a new one from the cache.
            mfa: request.mfa || request.role.is_none(),
            ..request
        },
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
        if !self.request.mfa || self.provider.codes.command.is_some() {
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
        ServerError::NeverPrompts {
            account: account.to_string(),
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
