//! `--console` wiring (DESIGN §16): the role session exactly as exec mode resolves it (the
//! cache, the lock, one prompt, the used-code record; a web-identity role too), then the
//! sign-in URL from the partition's federation endpoint, opened through the one-shot local
//! redirect or printed.
#![forbid(unsafe_code)]

use super::{Outcome, Places, Prepared, Ready, prepare, print};
use crate::accounts::Arn;
use crate::console::{self, ConsoleMode, Federation, RoleOrigin};
use crate::env::Environment;
use crate::error::Result;
use crate::invocation::{ConsoleAsk, SessionAsk};
use crate::provider::Wants;
use crate::report::Reporter;
use std::io::IsTerminal;
use std::time::SystemTime;

pub(super) fn console(
    ask: &SessionAsk,
    how: &ConsoleAsk,
    places: &Places,
    current: &Environment,
    report: Reporter,
) -> Result<Outcome> {
    let Prepared {
        mut provider,
        request,
        region,
        outbound,
        ..
    } = match prepare(ask, places, current, report)? {
        Ready::Sts(prepared) => *prepared,
        Ready::Sso(_) => {
            return Err(super::sso::SsoRefusal::Flag {
                account: ask.account.clone(),
                flag: "--console",
            }
            .into());
        }
    };
    let Some(role) = request.wants.role() else {
        // Refused when the command line was read; kept here so no path skips the rule.
        return Err(console::ConsoleError::NoRole {
            account: ask.account.to_string(),
        }
        .into());
    };
    let partition = Arn::parse(&role.arn).map_or("aws", |arn| arn.partition);
    // The endpoint is checked before any code is asked or STS called.
    let federation = Federation::choose(partition, current)?;
    let destination = how
        .destination
        .clone()
        .unwrap_or_else(|| console::default_destination(partition, &region.name));
    let session = provider.resolve(&request)?;
    let origin = match &request.wants {
        Wants::WebIdentity { .. } => RoleOrigin::WebIdentity,
        // Unknown (not cached: a store that failed) counts as chained, which asks nothing.
        _ => match provider.role_assumed_with_mfa(role) {
            Some(false) => RoleOrigin::LongLivedKeys,
            Some(true) | None => RoleOrigin::Chained,
        },
    };
    drop(provider);
    report.debug(format!(
        "account {}: sign-in token for {} from {}{}",
        ask.account,
        session.label,
        federation.shown(),
        match origin {
            RoleOrigin::LongLivedKeys => ", console session as long as the role session",
            RoleOrigin::Chained =>
                " (role chaining: the endpoint's default console session length)",
            RoleOrigin::WebIdentity =>
                " (web identity: the endpoint's default console session length)",
        }
    ));
    let url = console::sign_in_url(
        &federation,
        &outbound,
        &session.credentials,
        origin,
        &destination,
        SystemTime::now(),
    )?;
    match how.mode {
        ConsoleMode::Print => {
            if std::io::stdout().is_terminal() {
                report.warn(console::PRINT_WARNING);
            }
            print(&zeroize::Zeroizing::new(format!("{}\n", url.expose())))?;
        }
        ConsoleMode::Open => {
            let program = console::open(&url, current, report)?;
            report.status(format!(
                "Opened the AWS console as {} with {program}",
                session.label
            ));
        }
    }
    Ok(Outcome::Exit(0))
}
