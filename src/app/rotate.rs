//! `--rotate` (DESIGN §10): the signer (the account's MFA session, cached or new with one code,
//! or the long-lived keys with `--no-session`), then the journaled steps of [`crate::rotate`]
//! under the account's lock. The provider takes the lock itself while it fetches a session,
//! so the session is resolved first and the lock taken after (a second `flock` on the same
//! file in one process would wait for ever).
#![forbid(unsafe_code)]

use super::{Outcome, Places, Prepared, Ready, prepare};
use crate::accounts::AccountName;
use crate::cache::Cache;
use crate::env::Environment;
use crate::error::Result;
use crate::iam::{self, LazyIam};
use crate::invocation::SessionAsk;
use crate::keys::CredsDir;
use crate::private_file::Holder;
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
    let cache = Cache::new(&creds_dir.path, account);
    let on_wait = |holder: Option<Holder>| {
        let who = holder
            .map(|h| format!(" (pid {}, {})", h.pid, h.activity))
            .unwrap_or_default();
        report.status(format!(
            "Waiting for another stsexec{who} to finish with account {account}…"
        ));
    };
    // A crash between the two renames of step 4 leaves the new secret beside the old id:
    // finish that first, so the keys read below are a pair.
    if rotate::unfinished(&cache) {
        let lock = cache.lock(on_wait)?;
        rotate::repair_torn_files(&lock, account, creds_dir, &cache, report)?;
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
    // The MFA session signs IAM calls (DESIGN §10): the invocation asks for it unless
    // --no-session.
    let (signer, signer_kind) = if let Wants::Session(Start::Keys) = request.wants {
        // Rotation always has key files (it conflicts with --web-identity).
        let keys = match provider.setup.keys.clone() {
            Some(keys) => keys,
            None => creds_dir.load_keys(account)?,
        };
        (keys, SignerKind::LongLivedKeys)
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
    let lock = cache.lock(on_wait)?;
    let mut rotation = Rotation {
        account,
        creds_dir,
        cache: &cache,
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
    let cache = Cache::new(&creds_dir.path, account);
    if rotate::unfinished(&cache) {
        report.warn(rotate::unfinished_warning(account, &cache));
    }
}
