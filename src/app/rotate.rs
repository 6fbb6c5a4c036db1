//! `--rotate` (DESIGN §10): the signer (the account's MFA session, cached or new with one code,
//! or the long-lived keys with `--no-session`), then the journaled steps of [`crate::rotate`]
//! under the account's lock. The provider takes the lock itself while it fetches a session,
//! so the session is resolved first and the lock taken after (a second `flock` on the same
//! file in one process would wait for ever).
#![forbid(unsafe_code)]

use super::{Outcome, Prepared, home_dir, load_accounts, prepare};
use crate::accounts::AccountName;
use crate::cache::{AccountState, Waiting};
use crate::cli::{Cli, UsageError};
use crate::env::Environment;
use crate::error::Result;
use crate::iam::{self, LazyIam};
use crate::keys::{CredsDir, ReadContext};
use crate::report::Reporter;
use crate::rotate::{self, Aws, DEFAULT_PROOF_WAIT, Rotation, SignerKind};
use crate::sts;
use std::time::Duration;

/// The pause between tries while the new key becomes valid (doubling, at most 8 s).
const RETRY_PAUSE: Duration = Duration::from_millis(500);

pub(super) fn rotate(
    cli: &mut Cli,
    account: &AccountName,
    creds_dir: &CredsDir,
    current: &Environment,
    report: Reporter,
) -> Result<Outcome> {
    let proof_wait = proof_wait(current.get("STSEXEC_ROTATE_WAIT"))?;
    let home = home_dir(current).ok();
    creds_dir.check(home.as_deref())?;
    let state = AccountState::new(&creds_dir.path, account);
    // A crash between the two renames of step 4 leaves the new secret beside the old id:
    // finish that first, so the keys read below are a pair.
    if rotate::unfinished(&state) {
        let lock = state.lock(Waiting::ToFinish, report)?;
        let keys = creds_dir.keys(account)?;
        rotate::repair_torn_files(&lock, account, &keys, &state, report)?;
    }
    let no_session = cli.session.no_session;
    // The MFA session signs IAM calls (DESIGN §10): --rotate implies --mfa.
    cli.session.mfa = !no_session;
    let partition = load_accounts(cli, creds_dir)?
        .and_then(|f| f.accounts.get(account).map(|a| a.partition.clone()));
    let Prepared {
        mut provider,
        mut request,
        ..
    } = prepare(cli, account, creds_dir, home.as_deref(), current, report)?;
    // Rotation always has key files (it conflicts with --web-identity).
    let keys = match provider.setup.keys.clone() {
        Some(keys) => keys,
        None => creds_dir.keys(account)?,
    };
    let (signer, signer_kind) = if no_session {
        let pair = keys.read(&ReadContext { report, lock: None })?;
        (pair, SignerKind::LongLivedKeys)
    } else {
        request.mfa = true;
        let session = provider.resolve(&request)?;
        (session.credentials, SignerKind::MfaSession)
    };
    let sts_timeout = sts::operation_timeout(current.get("STSEXEC_STS_TIMEOUT"))
        .map_err(UsageError::StsTimeout)?;
    let (iam_endpoint, iam_region) = iam::endpoint(current, partition.as_deref());
    if iam_endpoint.is_cleartext_remote() {
        report.warn(format!(
            "the IAM endpoint {} is plain http on another host: the new secret key crosses the network unencrypted; use https",
            iam_endpoint.shown
        ));
    }
    report.debug(format!(
        "account {account}: rotating the access key, signed with {}; IAM endpoint {}",
        match signer_kind {
            SignerKind::MfaSession => "the MFA session",
            SignerKind::LongLivedKeys => "the long-lived keys",
        },
        iam_endpoint.shown
    ));
    let service = Aws {
        sts: provider.sts,
        iam: LazyIam::new(iam_endpoint, iam_region, sts_timeout),
    };
    let lock = state.lock(Waiting::ToFinish, report)?;
    let mut rotation = Rotation {
        account,
        keys: &keys,
        state: &state,
        service,
        signer,
        signer_kind,
        proof_wait,
        retry_pause: RETRY_PAUSE,
        report,
    };
    let rotated = rotation.run(&lock)?;
    drop(lock);
    report.status(format!(
        "Rotated the access key of account {account}: {rotated}"
    ));
    Ok(Outcome::Exit(0))
}

/// `STSEXEC_ROTATE_WAIT`: how long the new key may take to become valid.
fn proof_wait(value: Option<&str>) -> std::result::Result<Duration, UsageError> {
    match value {
        None => Ok(DEFAULT_PROOF_WAIT),
        Some(text) => match humantime::parse_duration(text) {
            Ok(d) if d >= Duration::from_secs(1) && d <= Duration::from_secs(600) => Ok(d),
            _ => Err(UsageError::StsTimeout(format!(
                "STSEXEC_ROTATE_WAIT={:?} is not a duration from 1s to 10m; write it like 60s",
                crate::text::clean(text, 64)
            ))),
        },
    }
}

/// The warning of every other run while the account's rotation is unfinished: one `stat`.
pub(super) fn warn_if_unfinished(creds_dir: &CredsDir, account: &AccountName, report: Reporter) {
    let state = AccountState::new(&creds_dir.path, account);
    if rotate::unfinished(&state) {
        report.warn(rotate::unfinished_warning(account, &state));
    }
}
