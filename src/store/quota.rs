//! Per-client quotas (`quota = { per_hour, per_day }`): tokens issued to a
//! client in each fixed UTC hour and day, counted in this process (with a
//! store, the store's counts decide and these follow them). A token
//! is taken from both windows at once or from neither: a request past
//! either cap is refused and not counted, so the caps hold exactly however
//! many requests arrive together. Introspection is not counted.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::config::Quota;

pub const HOUR: u64 = 3600;
pub const DAY: u64 = 86_400;

/// One client's counts, in the windows they belong to.
#[derive(Default, Clone, Copy)]
struct Counts {
    hour: u64,
    in_hour: u64,
    day: u64,
    in_day: u64,
}

/// The counts of every client with a quota, kept across reloads.
#[derive(Default)]
pub struct Quotas {
    counts: Mutex<HashMap<String, Counts>>,
}

/// A quota is spent: retry after this many seconds (the window's end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spent {
    pub retry_after: u64,
}

impl Quotas {
    /// Takes one token from `client`'s windows at `now` (Unix seconds).
    pub fn take(&self, client: &str, quota: &Quota, now: u64) -> Result<(), Spent> {
        self.count(client, now, |in_hour, in_day| {
            check(quota, in_hour, in_day, now)
        })
    }

    /// Counts a token the store allowed, whatever the counts here say.
    pub fn record(&self, client: &str, now: u64) {
        let _ = self.count(client, now, |_, _| Ok(()));
    }

    /// One more token in `client`'s windows at `now`, if `allow` says so
    /// given the counts so far.
    fn count(
        &self,
        client: &str,
        now: u64,
        allow: impl FnOnce(u64, u64) -> Result<(), Spent>,
    ) -> Result<(), Spent> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = match counts.get_mut(client) {
            Some(entry) => entry,
            None => counts.entry(client.to_string()).or_default(),
        };
        let (hour, day) = (now / HOUR, now / DAY);
        let in_hour = if entry.hour == hour { entry.in_hour } else { 0 };
        let in_day = if entry.day == day { entry.in_day } else { 0 };
        allow(in_hour, in_day)?;
        *entry = Counts {
            hour,
            in_hour: in_hour + 1,
            day,
            in_day: in_day + 1,
        };
        Ok(())
    }
}

/// Whether one more token fits in both windows; the shorter wait when not.
pub fn check(quota: &Quota, in_hour: u64, in_day: u64, now: u64) -> Result<(), Spent> {
    if quota.per_day > 0 && in_day >= quota.per_day {
        return Err(Spent {
            retry_after: DAY - now % DAY,
        });
    }
    if quota.per_hour > 0 && in_hour >= quota.per_hour {
        return Err(Spent {
            retry_after: HOUR - now % HOUR,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOON: u64 = 1_796_126_400; // 2026-12-01T12:00:00Z

    #[test]
    fn the_hour_cap_refuses_until_the_hour_ends_without_counting_refusals() {
        let quotas = Quotas::default();
        let quota = Quota {
            per_hour: 2,
            per_day: 0,
        };
        assert!(quotas.take("a", &quota, NOON).is_ok());
        assert!(quotas.take("a", &quota, NOON + 10).is_ok());
        assert_eq!(
            quotas.take("a", &quota, NOON + 600),
            Err(Spent { retry_after: 3000 })
        );
        assert!(quotas.take("b", &quota, NOON + 600).is_ok(), "per client");
        assert!(quotas.take("a", &quota, NOON + 3600).is_ok(), "a new hour");
    }

    #[test]
    fn the_day_cap_holds_across_hours_and_says_when_the_day_ends() {
        let quotas = Quotas::default();
        let quota = Quota {
            per_hour: 5,
            per_day: 3,
        };
        for hour in 0..3 {
            assert!(quotas.take("a", &quota, NOON + hour * 3600).is_ok());
        }
        assert_eq!(
            quotas.take("a", &quota, NOON + 3 * 3600),
            Err(Spent {
                retry_after: 12 * 3600 - 3 * 3600
            })
        );
    }
}
