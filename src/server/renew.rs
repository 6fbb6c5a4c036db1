//! The renewal thread: sleeps until the served session enters its refresh window (or a
//! reminder is due), renews it through the [`Renewer`], swaps it in, and retries failures with
//! backoff while the current session is still served. It never prompts.
#![forbid(unsafe_code)]

use super::Renewer;
use super::http::Served;
use super::schedule::{self, RefreshWindow, Reminders};
use crate::report::Reporter;
use crate::session::mask_key_id;
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// The longest single sleep. Expirations are wall-clock times but sleeps are measured on the
/// monotonic clock, which stands still while a laptop is suspended; waking once a minute at
/// most puts a resumed machine back on schedule within a minute, at no measurable cost.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Tells the thread to end; it may be inside a renewal, so nobody waits for it.
#[derive(Default)]
pub struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    pub fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.wake.notify_all();
    }

    /// Sleeps until `until` (wall clock) or until stopped; true when stopped.
    fn sleep_until(&self, until: SystemTime) -> bool {
        let mut stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if *stopped {
                return true;
            }
            let Ok(left) = until.duration_since(SystemTime::now()) else {
                return false;
            };
            if left.is_zero() {
                return false;
            }
            stopped = self
                .wake
                .wait_timeout(stopped, left.min(MAX_SLEEP))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

pub fn spawn(
    mut renewer: impl Renewer,
    served: Arc<RwLock<Served>>,
    window: RefreshWindow,
    report: Reporter,
    stop: Arc<Stop>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("stsexec-renew".into())
        .spawn(move || {
            let read = || {
                served
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
            };
            let first = read();
            let label = first.label.clone();
            let lifetime_of = |expiration: Option<SystemTime>| {
                expiration
                    .and_then(|e| e.duration_since(SystemTime::now()).ok())
                    .unwrap_or_default()
            };
            let mut current_window = window.for_lifetime(lifetime_of(first.credentials.expiration));
            let mut last_renewal: Option<SystemTime> = None;
            let mut failures = 0u32;
            let mut last_failure = SystemTime::now();
            let mut warned = false;
            let mut reminders = Reminders::default();
            loop {
                let expiration = read().credentials.expiration;
                let Some(expiration) = expiration else {
                    return; // Long-lived keys: nothing to renew (refused before, kept safe).
                };
                let renew_at = if failures > 0 {
                    last_failure + schedule::backoff(failures)
                } else {
                    schedule::renew_at(expiration, current_window, last_renewal)
                };
                let source = renewer.source_end();
                let remind_at = source.as_ref().and_then(|(end, _)| reminders.next(*end));
                let wake = remind_at.map_or(renew_at, |r| r.min(renew_at));
                if stop.sleep_until(wake) {
                    return;
                }
                let now = SystemTime::now();
                if let Some((end, command)) = &source
                    && let Some(left) = reminders.due(*end, now)
                {
                    let source_name = renewer.source_name();
                    report.warn(format!(
                        "the {source_name} that renews {label} ends in {}; run `{command}` in another terminal and this server picks up the new one",
                        humantime::format_duration(Duration::from_secs(left.as_secs()))
                    ));
                }
                if now < renew_at {
                    continue;
                }
                match renewer.renew(current_window) {
                    Ok(credentials) => {
                        report.debug(format!(
                            "renewed the served session of {label}: {} until {}",
                            mask_key_id(&credentials.access_key_id),
                            credentials
                                .expiration
                                .map(crate::session::rfc3339)
                                .unwrap_or_default()
                        ));
                        if warned {
                            report.status(format!("Renewed the session of {label}"));
                        }
                        current_window = window.for_lifetime(lifetime_of(credentials.expiration));
                        served
                            .write()
                            .unwrap_or_else(PoisonError::into_inner)
                            .credentials = credentials;
                        last_renewal = Some(now);
                        failures = 0;
                        warned = false;
                    }
                    Err(why) => {
                        failures = failures.saturating_add(1);
                        last_failure = SystemTime::now();
                        if !warned {
                            warned = true;
                            report.warn(format!(
                                "renewing the session of {label} failed: {why}; the current session is served until {} and renewal is retried",
                                crate::session::rfc3339(expiration)
                            ));
                        }
                    }
                }
            }
        })
}
