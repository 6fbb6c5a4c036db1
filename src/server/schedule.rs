//! When to renew, retry and remind (DESIGN §8), as pure functions of times, so the renewal
//! thread only sleeps until the instant these name.
#![forbid(unsafe_code)]

use std::time::{Duration, SystemTime};

/// botocore's advisory refresh window: SDKs start refreshing 15 minutes before expiry.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Two renewals are at least this far apart, whatever the window says.
pub const MIN_SPACING: Duration = Duration::from_secs(2);
/// Failed renewals are retried after 2 s, 4 s, 8 s … up to this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long before the MFA session ends the reminders are printed.
pub const REMINDERS: [Duration; 2] = [Duration::from_secs(30 * 60), Duration::from_secs(5 * 60)];

/// How long before its expiration a served session is renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshWindow {
    /// `STSEXEC_MIN_TTL`, as given.
    Fixed(Duration),
    /// 15 minutes, at most half the session's lifetime.
    Default,
}

impl RefreshWindow {
    /// `STSEXEC_MIN_TTL` when set (already parsed), else the default.
    pub fn from_min_ttl(min_ttl: Option<Duration>) -> Self {
        min_ttl.map_or(RefreshWindow::Default, RefreshWindow::Fixed)
    }

    /// The window for a session that had `lifetime` left when it was received.
    pub fn for_lifetime(self, lifetime: Duration) -> Duration {
        match self {
            RefreshWindow::Fixed(window) => window,
            RefreshWindow::Default => DEFAULT_WINDOW.min(lifetime / 2),
        }
    }
}

/// When to renew a session expiring at `expiration`: once less than `window` remains, but not
/// sooner than `MIN_SPACING` after the previous renewal.
pub fn renew_at(
    expiration: SystemTime,
    window: Duration,
    last_renewal: Option<SystemTime>,
) -> SystemTime {
    let due = expiration
        .checked_sub(window)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    match last_renewal {
        Some(last) => due.max(last + MIN_SPACING),
        None => due,
    }
}

/// The wait before retry number `failures` (1 after the first failure).
pub fn backoff(failures: u32) -> Duration {
    let doubled = MIN_SPACING.saturating_mul(1 << failures.saturating_sub(1).min(10));
    doubled.min(MAX_BACKOFF)
}

/// Which of the two reminders are already printed, for one source end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reminders {
    end: Option<SystemTime>,
    sent: [bool; 2],
}

impl Reminders {
    /// The reminder due at `now` for a source ending at `end`: the time left to say, once per
    /// reminder. A new `end` (the user renewed the MFA session) starts over. When both are due
    /// (stsexec started 4 minutes before the end), only the later one is said.
    pub fn due(&mut self, end: SystemTime, now: SystemTime) -> Option<Duration> {
        if self.end != Some(end) {
            *self = Reminders {
                end: Some(end),
                sent: [false; 2],
            };
        }
        let left = end.duration_since(now).ok()?;
        let mut due = None;
        for (i, before) in REMINDERS.iter().enumerate() {
            if left <= *before && !self.sent[i] {
                self.sent[i] = true;
                due = Some(left);
            }
        }
        due
    }

    /// The next instant a reminder falls due, if any remains for `end`.
    pub fn next(&self, end: SystemTime) -> Option<SystemTime> {
        let sent = if self.end == Some(end) {
            self.sent
        } else {
            [false; 2]
        };
        REMINDERS
            .iter()
            .zip(sent)
            .filter(|(_, sent)| !sent)
            .map(|(before, _)| end.checked_sub(*before).unwrap_or(SystemTime::UNIX_EPOCH))
            .next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + secs)
    }
    fn mins(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    #[test]
    fn default_window_is_fifteen_minutes_at_most_half_the_lifetime() {
        assert_eq!(RefreshWindow::Default.for_lifetime(mins(60)), mins(15));
        assert_eq!(RefreshWindow::Default.for_lifetime(mins(20)), mins(10));
        assert_eq!(
            RefreshWindow::Fixed(Duration::from_secs(5)).for_lifetime(mins(60)),
            Duration::from_secs(5)
        );
        assert_eq!(
            RefreshWindow::from_min_ttl(Some(mins(3))),
            RefreshWindow::Fixed(mins(3))
        );
        assert_eq!(RefreshWindow::from_min_ttl(None), RefreshWindow::Default);
    }

    #[test]
    fn renewal_is_due_at_the_window_and_spaced() {
        assert_eq!(renew_at(at(3600), mins(15), None), at(2700));
        // A window longer than the session: due at once, but 2 s after the last renewal.
        assert_eq!(renew_at(at(10), mins(15), Some(at(100))), at(102));
        assert_eq!(renew_at(at(3600), mins(15), Some(at(100))), at(2700));
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let waits: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn reminders_come_once_each_and_restart_for_a_new_end() {
        let end = at(3600);
        let mut r = Reminders::default();
        assert_eq!(r.next(end), Some(at(1800)));
        assert_eq!(r.due(end, at(0)), None);
        assert_eq!(r.due(end, at(1800)), Some(mins(30)));
        assert_eq!(r.due(end, at(1900)), None);
        assert_eq!(r.next(end), Some(at(3300)));
        assert_eq!(r.due(end, at(3400)), Some(Duration::from_secs(200)));
        assert_eq!(r.next(end), None);
        assert_eq!(r.due(end, at(3500)), None);
        // Past the end: nothing to say (the renewal failure says it).
        let mut late = Reminders::default();
        assert_eq!(late.due(end, at(4000)), None);
        // Both due at once: one line, with the time left.
        let mut both = Reminders::default();
        assert_eq!(both.due(end, at(3360)), Some(mins(4)));
        assert_eq!(both.due(end, at(3370)), None);
        // A renewed MFA session: the reminders start over.
        assert_eq!(r.due(at(9000), at(7200)), Some(mins(30)));
    }
}
