//! `--rotate` (DESIGN §10): the signer (the account's MFA session, cached or new with one code,
//! or the long-lived keys with `--no-session`), then the journaled steps of [`crate::rotate`]
//! under the account's lock. The provider takes the lock itself while it fetches a session,
//! so the session is resolved first and the lock taken after (a second `flock` on the same
//! file in one process would wait for ever).
#![forbid(unsafe_code)]

use super::{Outcome, Places, Prepared, Ready, prepare, store_config};
use crate::accounts::AccountName;
use crate::cache::{AccountState, Waiting};
use crate::env::Environment;
use crate::error::Result;
use crate::iam::{self, LazyIam};
use crate::invocation::SessionAsk;
use crate::keys::{CredsDir, ReadContext};
use crate::provider::{Start, Wants};
use crate::report::Reporter;
use crate::rotate::{self, Aws, Rotation, SignerKind};
use std::time::Duration;

/// The pause between tries while the new key becomes valid (doubling, at most 8 s).
const RETRY_PAUSE: Duration = Duration::from_millis(500);

pub(super) fn rotate(
    ask: &SessionAsk,
    places: &Places,
    current: &Environment,
    report: Reporter,
) -> Result<Outcome> {
    let account = &ask.account;
    let creds_dir = places.creds_dir;
    creds_dir.check(places.home)?;
    let state = AccountState::new(&creds_dir.path, account);
    // A crash between the two renames of step 4 leaves the new secret beside the old id:
    // finish that first, so the keys read below are a pair.
    if rotate::unfinished(&state) {
        let lock = state.lock(Waiting::ToFinish, report)?;
        let config = store_config(places, account, current, ask.knobs.mfa)?;
        let keys = creds_dir.keys_with(account, &config)?;
        rotate::repair_torn_files(&lock, account, &keys, &state, report)?;
    }
    let Prepared {
        mut provider,
        request,
        accounts,
        ..
    } = match prepare(ask, places, current, report)? {
        Ready::Sts(prepared) => *prepared,
        Ready::Sso(_) => {
            return Err(super::sso::SsoRefusal::Rotate {
                account: account.clone(),
            }
            .into());
        }
    };
    let partition = accounts.get(account).map(|a| a.partition.as_str());
    // Rotation always has key files (it conflicts with --web-identity).
    let keys = match provider.setup.keys.clone() {
        Some(keys) => keys,
        None => creds_dir.keys_with(
            account,
            &store_config(places, account, current, ask.knobs.mfa)?,
        )?,
    };
    // The MFA session signs IAM calls (DESIGN §10): the invocation asks for it unless
    // --no-session.
    let (signer, signer_kind) = if let Wants::Session(Start::Keys) = request.wants {
        let pair = keys.read(&ReadContext { report, lock: None })?;
        (pair, SignerKind::LongLivedKeys)
    } else {
        let session = provider.resolve(&request)?;
        (session.credentials, SignerKind::MfaSession)
    };
    let (iam_endpoint, iam_region) = iam::endpoint(current, partition);
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
        iam: LazyIam::new(iam_endpoint, iam_region, provider.sts.outbound().clone()),
        sts: provider.sts,
    };
    let lock = state.lock(Waiting::ToFinish, report)?;
    let mut rotation = Rotation {
        account,
        keys: &keys,
        state: &state,
        service,
        signer,
        signer_kind,
        proof_wait: ask.knobs.rotate_wait,
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

/// The warning of every other run while the account's rotation is unfinished: one `stat`.
pub(super) fn warn_if_unfinished(creds_dir: &CredsDir, account: &AccountName, report: Reporter) {
    let state = AccountState::new(&creds_dir.path, account);
    if rotate::unfinished(&state) {
        report.warn(rotate::unfinished_warning(account, &state));
    }
}
