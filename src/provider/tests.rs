//! The decision table of DESIGN §3 against a fake STS that counts calls and can refuse, and a
//! fake code source: every row, `--refresh`, `--no-session`, chaining and reuse rules, in
//! milliseconds and without a server.
use super::*;
use crate::accounts::AccountsError;
use crate::provider::durations::Typed;
use crate::sts::Endpoint;
use std::collections::VecDeque;
use std::path::Path;

const SERIAL: &str = "arn:aws:iam::012123456789:mfa/jb";
const ADMIN: &str = "arn:aws:iam::012123456789:role/admin";

/// What the fake STS was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    GetSessionToken {
        signer: String,
        code: String,
        secs: u64,
    },
    AssumeRole {
        signer: String,
        session_name: String,
        secs: u64,
    },
    WebIdentity {
        role_arn: String,
        token: String,
        session_name: String,
        secs: u64,
    },
}

#[derive(Default)]
struct FakeSts {
    calls: Vec<Call>,
    /// Failures to answer with, in order, before answering normally.
    refusals: VecDeque<StsFailure>,
    issued: u32,
    endpoint: Option<Endpoint>,
    /// How long sessions last, instead of what was asked.
    lifetime: Option<Duration>,
}

impl FakeSts {
    fn session(&mut self, prefix: &str, duration: Duration) -> Credentials {
        self.issued += 1;
        let duration = self.lifetime.unwrap_or(duration);
        Credentials {
            access_key_id: format!("{prefix}{:016}", self.issued),
            secret_access_key: Secret::new("SECRETMARKER-secret"),
            session_token: Some(Secret::new("SECRETMARKER-token")),
            expiration: Some(session::whole_seconds(SystemTime::now() + duration)),
        }
    }
}

impl StsApi for FakeSts {
    fn get_session_token(
        &mut self,
        keys: &Credentials,
        _serial: &str,
        code: &MfaCode,
        duration: Duration,
    ) -> std::result::Result<Credentials, StsFailure> {
        self.calls.push(Call::GetSessionToken {
            signer: keys.access_key_id.clone(),
            code: code.expose().to_string(),
            secs: duration.as_secs(),
        });
        match self.refusals.pop_front() {
            Some(failure) => Err(failure),
            None => Ok(self.session("ASIAMFA", duration)),
        }
    }

    fn assume_role(
        &mut self,
        source: &Credentials,
        request: &AssumeRoleRequest<'_>,
    ) -> std::result::Result<Credentials, StsFailure> {
        self.calls.push(Call::AssumeRole {
            signer: source.access_key_id.clone(),
            session_name: request.session_name.to_string(),
            secs: request.duration.as_secs(),
        });
        match self.refusals.pop_front() {
            Some(failure) => Err(failure),
            None => Ok(self.session("ASIAROLE", request.duration)),
        }
    }

    fn assume_role_with_web_identity(
        &mut self,
        request: &WebIdentityRequest<'_>,
    ) -> std::result::Result<Credentials, StsFailure> {
        self.calls.push(Call::WebIdentity {
            role_arn: request.role_arn.to_string(),
            token: request.token.expose().to_string(),
            session_name: request.session_name.to_string(),
            secs: request.duration.as_secs(),
        });
        match self.refusals.pop_front() {
            Some(failure) => Err(failure),
            None => Ok(self.session("ASIAWEBID", request.duration)),
        }
    }

    fn endpoint(&self) -> &Endpoint {
        self.endpoint.as_ref().unwrap_or(&DEFAULT_ENDPOINT)
    }
}

static DEFAULT_ENDPOINT: Endpoint = Endpoint {
    url_override: None,
    shown: String::new(),
};

/// Codes "typed" one after another; counts how often it was asked and records what it was
/// told was accepted.
struct FakeCodes {
    asked: usize,
    given: Option<MfaCode>,
    /// Codes it offers after STS rejected one (a prompt asks again; a command runs once more;
    /// `-t` has none).
    retries: usize,
    rejections: usize,
    prompts: bool,
    accepted: Vec<String>,
}

impl CodeSource for FakeCodes {
    fn prompts(&self) -> bool {
        self.prompts
    }

    fn next(
        &mut self,
        _account: &AccountName,
        _serial: &str,
        ledger: &Path,
        rejected: bool,
    ) -> Result<Option<MfaCode>> {
        // The device's ledger, shared by every account configured with it.
        let expected = crate::cache::names::device_name(SERIAL, "codes.json");
        assert!(ledger.ends_with(&expected), "{ledger:?}");
        if rejected {
            self.rejections += 1;
            if self.rejections > self.retries {
                return Ok(None);
            }
        }
        self.asked += 1;
        if let Some(code) = self.given.take() {
            return Ok(Some(code));
        }
        Ok(Some(
            MfaCode::parse(&format!("{:06}", 100_000 + self.asked)).unwrap(),
        ))
    }

    fn accepted(
        &mut self,
        _account: &AccountName,
        _serial: &str,
        _ledger: &Path,
        code: &MfaCode,
    ) -> Result<()> {
        self.accepted.push(code.expose().to_string());
        Ok(())
    }
}

/// The long-lived key's files in `dir` (the provider reads them through [`crate::keys`]).
fn keys(dir: &Path, account: &AccountName) -> AccountKeys {
    use std::os::unix::fs::PermissionsExt;
    for (suffix, text) in [
        ("access_key", "AKIAIOSFODNN7EXAMPLE\n"),
        ("secret_key", "SECRETMARKER-long-lived\n"),
    ] {
        let path = dir.join(format!("{account}.{suffix}"));
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    crate::keys::CredsDir::new(dir.to_path_buf())
        .keys(account)
        .unwrap()
}

fn provider(dir: &Path) -> Provider<FakeSts, FakeCodes> {
    let account = AccountName::parse_str("work").unwrap();
    Provider {
        setup: AccountSetup {
            state: AccountState::new(dir, &account),
            cache: true,
            keys: Some(keys(dir, &account)),
            account,
            mfa_serial: Ok(SERIAL.into()),
            default_session_name: Ok("jb-stsexec".into()),
            key_files: crate::keys::KeyPlaces::plain_files(
                "/h/aws-creds/work.access_key".into(),
                std::path::Path::new("/h/aws-creds/work.secret_key"),
            ),
            account_id: Some("012123456789".into()),
            min_ttl: durations::DEFAULT_MIN_TTL,
        },
        sts: FakeSts::default(),
        codes: FakeCodes {
            asked: 0,
            given: None,
            retries: 0,
            rejections: 0,
            prompts: true,
            accepted: Vec::new(),
        },
        report: Reporter::new(true, false),
    }
}

fn role() -> Role {
    Role {
        arn: ADMIN.into(),
        account_id: "012123456789".into(),
        name: "admin".into(),
    }
}

/// One row of the table: the flags of a run.
#[allow(clippy::struct_excessive_bools)]
#[derive(Default, Clone, Copy)]
struct Ask<'a> {
    mfa: bool,
    role: bool,
    refresh: bool,
    no_session: bool,
    duration: Option<&'a str>,
    session_name: Option<&'a str>,
    external_id: Option<&'a str>,
    token: Option<&'a str>,
}

fn request(ask: Ask<'_>) -> Request {
    let typed = ask.duration.map(|text| Typed {
        text: text.into(),
        value: humantime::parse_duration(text).unwrap(),
    });
    let mfa = ask.mfa || ask.token.is_some();
    let start = match ask.token {
        Some(code) => Start::Mfa(MfaFrom::Code(MfaCode::parse(code).unwrap())),
        None if ask.mfa => Start::Mfa(MfaFrom::Usual),
        None if ask.no_session => Start::Keys,
        None => Start::Ambient,
    };
    Request {
        wants: if ask.role {
            Wants::Role {
                role: role(),
                from: start,
                assume: AssumeOptions {
                    session_name: ask.session_name.map(str::to_string),
                    external_id: ask.external_id.map(Secret::new),
                },
            }
        } else {
            Wants::Session(start)
        },
        durations: durations::plan(typed.as_ref(), mfa, ask.role).unwrap(),
        refresh: ask.refresh,
    }
}

/// The `-t` code of a request, which the fake code source then hands out first.
fn given_code(request: &Request) -> Option<MfaCode> {
    match &request.wants {
        Wants::Session(Start::Mfa(MfaFrom::Code(code)))
        | Wants::Role {
            from: Start::Mfa(MfaFrom::Code(code)),
            ..
        } => Some(code.clone()),
        _ => None,
    }
}

fn run(dir: &Path, ask: Ask<'_>) -> (Session, Vec<Call>, usize) {
    let mut p = provider(dir);
    let request = request(ask);
    p.codes.given = given_code(&request);
    let session = p.resolve(&request).unwrap();
    (session, p.sts.calls, p.codes.asked)
}

fn gst(signer: &str, code: &str, hours: u64) -> Call {
    Call::GetSessionToken {
        signer: signer.into(),
        code: code.into(),
        secs: hours * 3600,
    }
}

fn assume(signer: &str, secs: u64) -> Call {
    Call::AssumeRole {
        signer: signer.into(),
        session_name: "jb-stsexec".into(),
        secs,
    }
}

const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const MFA1: &str = "ASIAMFA0000000000000001";

#[test]
fn plain_run_uses_the_long_lived_keys_without_any_call() {
    let dir = tempfile::tempdir().unwrap();
    let (session, calls, asked) = run(dir.path(), Ask::default());
    assert_eq!(
        (
            session.label.as_str(),
            session.credentials.access_key_id.as_str()
        ),
        ("work", KEY)
    );
    assert_eq!((calls, asked), (vec![], 0));
    assert_eq!(session.account_id.as_deref(), Some("012123456789"));
}

#[test]
fn mfa_fetches_once_then_every_row_reuses_the_cached_session() {
    let dir = tempfile::tempdir().unwrap();
    let (session, calls, asked) = run(
        dir.path(),
        Ask {
            mfa: true,
            ..Ask::default()
        },
    );
    assert_eq!(calls, [gst(KEY, "100001", 12)]);
    assert_eq!((session.label.as_str(), asked), ("work-MFA-STS", 1));
    let mfa_key = session.credentials.access_key_id.clone();
    // --mfa again, and a plain run (ec2switch): the cached MFA session, no call, no code.
    for ask in [
        Ask {
            mfa: true,
            ..Ask::default()
        },
        Ask::default(),
    ] {
        let (again, calls, asked) = run(dir.path(), ask);
        assert_eq!((calls, asked), (vec![], 0));
        assert_eq!(again.label, "work-MFA-STS");
        assert_eq!(again.credentials.access_key_id, mfa_key);
    }
    // --no-session: the long-lived keys even so.
    let (keys_session, calls, _) = run(
        dir.path(),
        Ask {
            no_session: true,
            ..Ask::default()
        },
    );
    assert_eq!((keys_session.label.as_str(), calls), ("work", vec![]));
}

#[test]
fn refresh_fetches_anew_and_the_provider_can_be_called_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = provider(dir.path());
    let first = p
        .resolve(&request(Ask {
            mfa: true,
            ..Ask::default()
        }))
        .unwrap();
    let again = p
        .resolve(&request(Ask {
            mfa: true,
            refresh: true,
            ..Ask::default()
        }))
        .unwrap();
    assert_eq!(p.sts.calls.len(), 2);
    assert_ne!(
        first.credentials.access_key_id,
        again.credentials.access_key_id
    );
    let (cached, calls, _) = run(
        dir.path(),
        Ask {
            mfa: true,
            ..Ask::default()
        },
    );
    assert_eq!(calls, []);
    assert_eq!(
        cached.credentials.access_key_id,
        again.credentials.access_key_id
    );
}

#[test]
fn a_role_from_the_keys_then_from_the_cached_mfa_session_capped_at_an_hour() {
    let dir = tempfile::tempdir().unwrap();
    let (session, calls, _) = run(
        dir.path(),
        Ask {
            role: true,
            duration: Some("4h"),
            ..Ask::default()
        },
    );
    assert_eq!(calls, [assume(KEY, 4 * 3600)]);
    assert_eq!(session.label, "work-role-admin-STS");
    assert_eq!(session.account_id.as_deref(), Some("012123456789"));
    // Cached: the same request makes no call.
    let (_, calls, _) = run(
        dir.path(),
        Ask {
            role: true,
            duration: Some("4h"),
            ..Ask::default()
        },
    );
    assert_eq!(calls, []);
    // --mfa --role: the cached role session was made without MFA, so it does not fit.
    let (_, calls, asked) = run(
        dir.path(),
        Ask {
            mfa: true,
            role: true,
            ..Ask::default()
        },
    );
    assert_eq!(calls, [gst(KEY, "100001", 12), assume(MFA1, 3600)]);
    assert_eq!(asked, 1);
    // Now a plain --role reuses the MFA-backed role session; with --refresh it assumes the
    // role again from the cached MFA session (chaining: at most 1h, whatever -d says).
    let (_, calls, _) = run(
        dir.path(),
        Ask {
            role: true,
            ..Ask::default()
        },
    );
    assert_eq!(calls, []);
    let (_, calls, asked) = run(
        dir.path(),
        Ask {
            role: true,
            refresh: true,
            duration: Some("4h"),
            ..Ask::default()
        },
    );
    assert_eq!((calls, asked), (vec![assume(MFA1, 3600)], 0));
}

#[test]
fn mfa_and_role_cold_make_one_of_each_call_then_none() {
    let dir = tempfile::tempdir().unwrap();
    let (_, calls, asked) = run(
        dir.path(),
        Ask {
            mfa: true,
            role: true,
            ..Ask::default()
        },
    );
    assert_eq!(
        (calls, asked),
        (vec![gst(KEY, "100001", 12), assume(MFA1, 3600)], 1)
    );
    let (_, calls, asked) = run(
        dir.path(),
        Ask {
            mfa: true,
            role: true,
            ..Ask::default()
        },
    );
    assert_eq!((calls, asked), (vec![], 0));
    // --no-session --role: the keys sign, ignoring the cached MFA session.
    let (_, calls, _) = run(
        dir.path(),
        Ask {
            role: true,
            no_session: true,
            refresh: true,
            ..Ask::default()
        },
    );
    assert_eq!(calls, [assume(KEY, 3600)]);
}

#[test]
fn a_cached_session_is_reused_only_when_it_fits_the_request() {
    let dir = tempfile::tempdir().unwrap();
    run(
        dir.path(),
        Ask {
            mfa: true,
            duration: Some("36h"),
            ..Ask::default()
        },
    );
    // -d 15m asks for a shorter session than the cached 36h one: fetch anew.
    let (_, calls, _) = run(
        dir.path(),
        Ask {
            mfa: true,
            duration: Some("15m"),
            ..Ask::default()
        },
    );
    assert_eq!(
        calls,
        [Call::GetSessionToken {
            signer: KEY.into(),
            code: "100001".into(),
            secs: 900
        }]
    );
    // The role session remembers its session name and external id.
    run(
        dir.path(),
        Ask {
            role: true,
            external_id: Some("tenantA"),
            session_name: Some("alice-audit"),
            ..Ask::default()
        },
    );
    for (name, id, calls_expected) in [
        ("alice-audit", "tenantA", 0),
        ("bob-audit", "tenantA", 1),
        ("bob-audit", "tenantB", 1),
        ("bob-audit", "tenantB", 0),
    ] {
        let (_, calls, _) = run(
            dir.path(),
            Ask {
                role: true,
                external_id: Some(id),
                session_name: Some(name),
                ..Ask::default()
            },
        );
        assert_eq!(calls.len(), calls_expected, "{name} {id}");
    }
}

#[test]
fn a_session_within_the_window_is_fetched_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = provider(dir.path());
    p.sts.lifetime = Some(Duration::from_secs(5 * 60 + 2));
    p.resolve(&request(Ask {
        mfa: true,
        ..Ask::default()
    }))
    .unwrap();
    let mut p = provider(dir.path());
    p.setup.min_ttl = Duration::from_secs(5 * 60 + 30);
    p.resolve(&request(Ask {
        mfa: true,
        ..Ask::default()
    }))
    .unwrap();
    assert_eq!(
        p.sts.calls.len(),
        1,
        "the cached session was inside the window"
    );
}

#[test]
fn a_given_code_is_not_used_while_a_session_is_cached() {
    let dir = tempfile::tempdir().unwrap();
    let (_, calls, _) = run(
        dir.path(),
        Ask {
            token: Some("654321"),
            ..Ask::default()
        },
    );
    assert_eq!(calls, [gst(KEY, "654321", 12)]);
    let (_, calls, asked) = run(
        dir.path(),
        Ask {
            token: Some("111111"),
            ..Ask::default()
        },
    );
    assert_eq!((calls, asked), (vec![], 0));
}

#[test]
fn a_refused_cached_mfa_session_is_removed_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    run(
        dir.path(),
        Ask {
            mfa: true,
            ..Ask::default()
        },
    );
    let mut p = provider(dir.path());
    p.sts.refusals.push_back(StsFailure::ExpiredSession);
    p.resolve(&request(Ask {
        mfa: true,
        role: true,
        ..Ask::default()
    }))
    .unwrap();
    // Each fake STS numbers its sessions from 1: the new MFA session is again …0001.
    assert_eq!(
        p.sts.calls,
        [
            assume(MFA1, 3600),
            gst(KEY, "100001", 12),
            assume(MFA1, 3600)
        ]
    );
    assert_eq!(p.codes.asked, 1);
    // Without --mfa the role falls back to the long-lived keys; no code is asked.
    let dir = tempfile::tempdir().unwrap();
    run(
        dir.path(),
        Ask {
            mfa: true,
            ..Ask::default()
        },
    );
    let mut p = provider(dir.path());
    p.sts.refusals.push_back(StsFailure::UnknownKey {
        key_id: MFA1.into(),
    });
    p.resolve(&request(Ask {
        role: true,
        ..Ask::default()
    }))
    .unwrap();
    assert_eq!(p.sts.calls, [assume(MFA1, 3600), assume(KEY, 3600)]);
    assert_eq!(p.codes.asked, 0);
    let (plain, _, _) = run(dir.path(), Ask::default());
    assert_eq!(plain.label, "work", "the refused session was removed");
}

#[test]
fn sts_refusals_are_sentences_and_cache_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = provider(dir.path());
    p.sts.refusals.push_back(StsFailure::MfaRejected);
    let err = p
        .resolve(&request(Ask {
            mfa: true,
            ..Ask::default()
        }))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "STS rejected the MFA code for account work (device {SERIAL}): wait for the next code and try again"
        )
    );
    let mut p = provider(dir.path());
    p.sts
        .refusals
        .push_back(StsFailure::UnknownKey { key_id: KEY.into() });
    let err = p
        .resolve(&request(Ask {
            role: true,
            ..Ask::default()
        }))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "STS does not know access key AKIA…MPLE (role {ADMIN} from account work), or it is inactive: check /h/aws-creds/work.access_key and /h/aws-creds/work.secret_key"
        )
    );
    let (plain, _, _) = run(dir.path(), Ask::default());
    assert_eq!(plain.label, "work");
}

#[test]
fn sessions_longer_than_asked_or_already_stale_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = provider(dir.path());
    p.sts.lifetime = Some(Duration::from_secs(9000 * 24 * 3600));
    let err = p
        .resolve(&request(Ask {
            mfa: true,
            ..Ask::default()
        }))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("longer than the 12h asked; refused"),
        "{err}"
    );
    let mut p = provider(dir.path());
    p.sts.lifetime = Some(Duration::from_secs(2));
    let err = p
        .resolve(&request(Ask {
            role: true,
            ..Ask::default()
        }))
        .unwrap_err();
    assert!(
        err.to_string().contains("within the 5m window; refused"),
        "{err}"
    );
    let (plain, _, _) = run(dir.path(), Ask::default());
    assert_eq!(plain.label, "work", "nothing was cached");
}

#[test]
fn the_iam_user_is_needed_only_where_it_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let no_user = || {
        Arc::new(Error::Accounts(AccountsError::NoUser {
            account: AccountName::parse_str("work").unwrap(),
            user_file: "/h/aws-creds/work.user".into(),
        }))
    };
    let mut p = provider(dir.path());
    p.setup.mfa_serial = Err(no_user());
    p.setup.default_session_name = Err(no_user());
    assert_eq!(p.resolve(&request(Ask::default())).unwrap().label, "work");
    let with_name = Ask {
        role: true,
        session_name: Some("ci-run"),
        ..Ask::default()
    };
    assert_eq!(
        p.resolve(&request(with_name)).unwrap().label,
        "work-role-admin-STS"
    );
    let err = p
        .resolve(&request(Ask {
            role: true,
            refresh: true,
            ..Ask::default()
        }))
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot tell the IAM user of account work"),
        "{err}"
    );
    let err = p
        .resolve(&request(Ask {
            mfa: true,
            ..Ask::default()
        }))
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot tell the IAM user of account work"),
        "{err}"
    );
}

#[test]
fn a_rejected_code_is_asked_again_then_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = provider(dir.path());
    p.codes.retries = 2;
    p.sts.refusals.push_back(StsFailure::MfaRejected);
    let session = p
        .resolve(&request(Ask {
            mfa: true,
            ..Ask::default()
        }))
        .unwrap();
    assert_eq!(session.label, "work-MFA-STS");
    assert_eq!(
        p.sts.calls,
        [gst(KEY, "100001", 12), gst(KEY, "100002", 12)]
    );
    assert_eq!(p.codes.asked, 2);
    assert_eq!(
        p.codes.accepted,
        ["100002"],
        "only the accepted code is recorded"
    );
    // The session was cached: the next run asks for nothing.
    let (_, calls, asked) = run(
        dir.path(),
        Ask {
            mfa: true,
            ..Ask::default()
        },
    );
    assert_eq!((calls, asked), (vec![], 0));
}

#[test]
fn a_code_from_a_command_is_retried_once_after_a_rejection() {
    let command = |p: &mut Provider<FakeSts, FakeCodes>| {
        p.codes.retries = 1;
        p.codes.prompts = false;
    };
    let ask = Ask {
        mfa: true,
        ..Ask::default()
    };
    // One rejection: the command's next code is accepted.
    let dir = tempfile::tempdir().unwrap();
    let mut p = provider(dir.path());
    command(&mut p);
    p.sts.refusals.push_back(StsFailure::MfaRejected);
    p.resolve(&request(ask)).unwrap();
    assert_eq!(
        p.sts.calls,
        [gst(KEY, "100001", 12), gst(KEY, "100002", 12)]
    );
    assert_eq!(p.codes.accepted, ["100002"]);
    // Two rejections: no third try, STS's refusal is the error and nothing is cached.
    let dir = tempfile::tempdir().unwrap();
    let mut p = provider(dir.path());
    command(&mut p);
    p.sts.refusals.push_back(StsFailure::MfaRejected);
    p.sts.refusals.push_back(StsFailure::MfaRejected);
    let err = p.resolve(&request(ask)).unwrap_err();
    assert!(
        err.to_string().starts_with("STS rejected the MFA code"),
        "{err}"
    );
    assert_eq!(p.sts.calls.len(), 2);
    assert_eq!((p.codes.asked, p.codes.accepted.len()), (2, 0));
    let (plain, _, _) = run(dir.path(), Ask::default());
    assert_eq!(plain.label, "work", "nothing was cached");
}

// --- `--role R --web-identity` (DESIGN §11) ---

/// A provider as `--web-identity` builds it: no keys, no MFA device, the CI's session name.
fn web_provider(dir: &Path) -> Provider<FakeSts, FakeCodes> {
    let mut p = provider(dir);
    p.setup.keys = None;
    p.setup.mfa_serial = Err(Arc::new(Error::WebIdentity(WebIdentityError::NoRole)));
    p.setup.default_session_name = Ok("4242-1".into());
    p
}

fn web_request(token_file: &Path, ask: Ask<'_>) -> Request {
    let request = request(Ask { role: true, ..ask });
    Request {
        wants: Wants::WebIdentity {
            role: role(),
            tokens: TokenSource::File {
                path: token_file.to_path_buf(),
                origin: crate::web_identity::FileOrigin::Flag,
            },
            session_name: ask.session_name.map(str::to_string),
        },
        ..request
    }
}

fn token_file(dir: &Path, token: &str) -> std::path::PathBuf {
    let path = dir.join("jwt");
    std::fs::write(&path, format!("{token}\n")).unwrap();
    path
}

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const MAIN: &str = "repo:acme/app:ref:refs/heads/main";

/// A token of `sub`'s identity (GitHub's issuer, STS's audience); `marker` makes it unique.
fn jwt_of(sub: &str, marker: &str) -> String {
    crate::web_identity::test_jwt(ISSUER, sub, r#""sts.amazonaws.com""#, marker)
}

/// The cache file of the role admin's session for tokens of `sub`'s identity.
fn webid_file(dir: &Path, sub: &str) -> std::path::PathBuf {
    let id = crate::web_identity::identity(&Secret::new(jwt_of(sub, "x"))).unwrap();
    dir.join(format!(".stsexec~work~webid~{id}~012123456789~admin.json"))
}

#[test]
fn web_identity_assumes_the_role_with_the_token_and_no_keys_then_reuses_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let first = jwt_of(MAIN, "SECRETMARKER-one");
    let jwt = token_file(dir.path(), &first);
    let mut p = web_provider(dir.path());
    let session = p.resolve(&web_request(&jwt, Ask::default())).unwrap();
    assert_eq!(session.label, "work-role-admin-STS");
    assert_eq!(session.account_id.as_deref(), Some("012123456789"));
    assert!(session.credentials.access_key_id.starts_with("ASIAWEBID"));
    assert_eq!(
        p.sts.calls,
        [Call::WebIdentity {
            role_arn: ADMIN.into(),
            token: first.clone(),
            session_name: "4242-1".into(),
            secs: 3600,
        }]
    );
    assert!(webid_file(dir.path(), MAIN).is_file());
    // Cached, for a later token of the same identity (another job of the same repository
    // and branch): no call.
    token_file(dir.path(), &jwt_of(MAIN, "two"));
    let mut again = web_provider(dir.path());
    let hit = again.resolve(&web_request(&jwt, Ask::default())).unwrap();
    assert!(again.sts.calls.is_empty());
    assert_eq!(
        hit.credentials.access_key_id,
        session.credentials.access_key_id
    );
    // Issue 20: the token is read on every run. No token, no session (the cached one stays
    // for its own identity).
    std::fs::remove_file(&jwt).unwrap();
    let mut tokenless = web_provider(dir.path());
    let err = tokenless
        .resolve(&web_request(&jwt, Ask::default()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
    assert!(tokenless.sts.calls.is_empty());
    // A fork's token: another identity, so STS decides (here: a session of its own, cached
    // apart); it is never given the first job's session.
    let fork = jwt_of("repo:fork/app:ref:refs/heads/main", "SECRETMARKER-fork");
    token_file(dir.path(), &fork);
    let mut forked = web_provider(dir.path());
    forked.resolve(&web_request(&jwt, Ask::default())).unwrap();
    assert!(matches!(&forked.sts.calls[..], [Call::WebIdentity { token, .. }] if *token == fork));
    assert!(webid_file(dir.path(), "repo:fork/app:ref:refs/heads/main").is_file());
    // A token whose claims cannot be read gets no cached session and leaves none.
    token_file(dir.path(), "eyJ.SECRETMARKER-opaque.sig");
    let mut opaque = web_provider(dir.path());
    opaque.resolve(&web_request(&jwt, Ask::default())).unwrap();
    opaque.resolve(&web_request(&jwt, Ask::default())).unwrap();
    assert_eq!(opaque.sts.calls.len(), 2);
    let webid_files = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .contains("~webid~")
        })
        .count();
    assert_eq!(webid_files, 2);
    // The key-based role session is another slot: assumed with the keys, not the token's.
    let (keyed, calls, _) = run(
        dir.path(),
        Ask {
            role: true,
            ..Ask::default()
        },
    );
    assert!(matches!(&calls[..], [Call::AssumeRole { signer, .. }] if signer == KEY));
    assert_ne!(
        keyed.credentials.access_key_id,
        session.credentials.access_key_id
    );
}

#[test]
fn every_web_identity_call_reads_a_fresh_token() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (jwt_of(MAIN, "first"), jwt_of(MAIN, "second"));
    let jwt = token_file(dir.path(), &first);
    let mut p = web_provider(dir.path());
    let request = web_request(&jwt, Ask::default());
    p.sts.lifetime = Some(Duration::from_secs(20 * 60));
    p.resolve(&request).unwrap();
    // A renewal (as --server makes it): the cached session is within the window asked.
    token_file(dir.path(), &second);
    p.sts.lifetime = None;
    p.setup.min_ttl = Duration::from_secs(30 * 60);
    p.resolve(&request).unwrap();
    let tokens: Vec<&str> = p
        .sts
        .calls
        .iter()
        .map(|c| match c {
            Call::WebIdentity { token, .. } => token.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(tokens, [first.as_str(), second.as_str()]);
    // --session-name and -d apply; a cached session of another name is not reused.
    p.setup.min_ttl = durations::DEFAULT_MIN_TTL;
    let named = web_request(
        &jwt,
        Ask {
            session_name: Some("deploy-7"),
            duration: Some("2h"),
            ..Ask::default()
        },
    );
    p.resolve(&named).unwrap();
    assert!(matches!(
        p.sts.calls.last(),
        Some(Call::WebIdentity { session_name, secs: 7200, .. }) if session_name == "deploy-7"
    ));
}

#[test]
fn web_identity_failures_are_sentences_without_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let jwt = token_file(dir.path(), &jwt_of(MAIN, "SECRETMARKER"));
    let mut p = web_provider(dir.path());
    p.sts.refusals.push_back(StsFailure::TokenRejected {
        code: "InvalidIdentityToken".into(),
        message: "No OpenIDConnect provider found in your account for https://token.actions.githubusercontent.com".into(),
    });
    let err = p
        .resolve(&web_request(&jwt, Ask::default()))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "STS refused the OIDC token from the token file {} (--web-identity) for role {ADMIN} from account work: InvalidIdentityToken: No OpenIDConnect provider found in your account for https://token.actions.githubusercontent.com; check that the IAM OIDC provider of its issuer exists and lists its audience, and that the token has not expired",
            jwt.display()
        )
    );
    p.sts.refusals.push_back(StsFailure::RoleDenied {
        key_id: String::new(),
        message: "Not authorized to perform sts:AssumeRoleWithWebIdentity".into(),
    });
    let denied = p
        .resolve(&web_request(&jwt, Ask::default()))
        .unwrap_err()
        .to_string();
    assert!(
        denied.contains("the role's trust policy must allow sts:AssumeRoleWithWebIdentity"),
        "{denied}"
    );
    assert!(!err.contains("SECRETMARKER") && !denied.contains("SECRETMARKER"));
    assert!(
        !webid_file(dir.path(), MAIN).exists(),
        "a refusal caches nothing"
    );
    // No token file: the file is named, STS is not called.
    let calls = p.sts.calls.len();
    let missing = p
        .resolve(&web_request(&dir.path().join("none"), Ask::default()))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("does not exist"), "{missing}");
    assert_eq!(p.sts.calls.len(), calls);
    // Without a role there is no request to make: `Wants::WebIdentity` carries its role, and
    // `Cli::into_invocation` names the fix (its tests).
}

#[test]
fn a_cache_hit_reads_no_secret_and_each_call_reads_the_keys_of_its_moment() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mut p = provider(dir.path());
    let ask = Ask {
        role: true,
        ..Ask::default()
    };
    p.resolve(&request(ask)).unwrap();
    assert_eq!(p.sts.calls, [assume(KEY, 3600)]);
    // A FIFO where the secret was: reading it would fail at once. A cache hit never opens it.
    let secret = dir.path().join("work.secret_key");
    std::fs::remove_file(&secret).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &secret,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    p.resolve(&request(ask)).unwrap();
    assert_eq!(p.sts.calls.len(), 1);
    // A miss needs the secret, and says why it cannot have it.
    let err = p
        .resolve(&request(Ask {
            refresh: true,
            ..ask
        }))
        .unwrap_err()
        .to_string();
    assert!(err.contains("work.secret_key is a FIFO"), "{err}");
    // Keys replaced on disk (a --rotate elsewhere): the same provider (a --server renewal)
    // binds to the new id and signs with the new pair.
    std::fs::remove_file(&secret).unwrap();
    for (suffix, text) in [
        ("secret_key", "SECRETMARKER-new"),
        ("access_key", "AKIANEWNEWNEWNEW0001"),
    ] {
        let path = dir.path().join(format!("work.{suffix}"));
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    p.resolve(&request(ask)).unwrap();
    assert_eq!(p.sts.calls[1..], [assume("AKIANEWNEWNEWNEW0001", 3600)]);
}
