use chrono::{DateTime, Utc};
use std::sync::Mutex;

/// The time, as a port: flows decide on "now", and tests and `aftersale tick` choose it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Real time moved by a fixed offset: `serve --now` lives through a chosen day at real speed,
/// so the links it answers are checked on the same clock `tick --now` signed them with.
#[derive(Debug, Clone, Copy)]
pub struct OffsetClock {
    offset: chrono::TimeDelta,
}

impl OffsetClock {
    /// A clock that reads `at` now and moves on from there.
    pub fn starting_at(at: DateTime<Utc>) -> Self {
        Self {
            offset: at - Utc::now(),
        }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }
}

/// A clock that only moves when told to: simulations and tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn an_offset_clock_starts_at_its_instant_and_runs_at_real_speed() {
        let start = Utc.with_ymd_and_hms(2022, 1, 1, 0, 0, 0).unwrap();
        let clock = OffsetClock::starting_at(start);
        let first = clock.now();
        assert!(
            first >= start && first - start < chrono::TimeDelta::seconds(5),
            "{first}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        let later = clock.now();
        assert!(
            later - first >= chrono::TimeDelta::milliseconds(20),
            "{first} → {later}"
        );
    }
}
